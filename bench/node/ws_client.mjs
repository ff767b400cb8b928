// Benchmark client on the Node.js `ws` package, the library users would pick instead.
//
// Speaks the harness's measure command line (see BENCHMARKS.md):
//   node ws_client.mjs --url ws://127.0.0.1:PORT --mode latency|throughput --n N --size BYTES
//                      [--warmup N]
// and prints one JSON object (same fields as bench/python/ws_client.py).
import WebSocket from 'ws';

function parseArgs(argv) {
  const a = { size: 64, warmup: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    a[k] = k === 'url' || k === 'mode' ? v : Number(v);
  }
  return a;
}

function percentile(sorted, p) {
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function latency(a) {
  const ws = await open(a.url + '/echo');
  const payload = 'x'.repeat(a.size);
  const total = a.warmup + a.n;
  const samples = new Float64Array(a.n);
  let i = 0;
  let t0 = 0n;
  await new Promise((resolve) => {
    // The next message is sent from the message handler, as a Node user would.
    ws.on('message', () => {
      const t1 = process.hrtime.bigint();
      if (i >= a.warmup) samples[i - a.warmup] = Number(t1 - t0);
      i += 1;
      if (i === total) return resolve();
      t0 = process.hrtime.bigint();
      ws.send(payload);
    });
    t0 = process.hrtime.bigint();
    ws.send(payload);
  });
  ws.close();
  const sorted = Array.from(samples).sort((x, y) => x - y);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return {
    n: sorted.length,
    p50_us: percentile(sorted, 0.5) / 1e3,
    p99_us: percentile(sorted, 0.99) / 1e3,
    mean_us: Math.round(mean / 100) / 10,
  };
}

async function throughput(a) {
  const ws = await open(a.url + '/sink');
  const text = a.size <= 1024;
  const payload = text ? 'x'.repeat(a.size) : Buffer.alloc(a.size, 'x');
  const t0 = process.hrtime.bigint();
  const reply = await new Promise((resolve) => {
    ws.once('message', (data) => resolve(JSON.parse(data.toString())));
    // ws queues in user space: send() never refuses, the buffer just grows.
    for (let i = 0; i < a.n; i++) ws.send(payload, { binary: !text });
    ws.send('?ack');
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  ws.close();
  if (reply.count !== a.n || reply.bytes !== a.n * a.size) {
    throw new Error(`sink counted ${JSON.stringify(reply)}, expected ${a.n}`);
  }
  return {
    n: a.n,
    size: a.size,
    secs,
    msgs_per_s: a.n / secs,
    mb_per_s: (a.n * a.size) / secs / 1e6,
  };
}

const a = parseArgs(process.argv.slice(2));
const result = a.mode === 'latency' ? await latency(a) : await throughput(a);
console.log(JSON.stringify(result));
process.exit(0);
