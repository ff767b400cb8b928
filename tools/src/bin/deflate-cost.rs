//! What permessage-deflate costs per connection and per message, to choose wsbeat's default.
//!
//! Uses the zlib states exactly as `wsbeat`'s codec builds them (flate2 over zlib-rs, raw
//! deflate, sync flush per message, the `00 00 ff ff` tail dropped):
//!
//! - memory: the resident size of N compressor + inflater pairs after one message each (zlib
//!   allocates lazily), divided by N, for several window sizes and levels;
//! - CPU and bytes: compress and inflate a stream of messages with context takeover, on
//!   JSON-like text (the seed's messages) and on random (incompressible) binary;
//! - end to end, compressed against uncompressed: a wsbeat client echoes messages through the
//!   testkit's `DeflateEchoServer` (in this process, on 127.0.0.1) with `Compression::off()`
//!   and `Compression::deflate()`; bytes on the wire per message each way (counted by the
//!   server: frame headers, masks and payloads) and the client's CPU per round trip (the
//!   `wsbeat-io` thread and the main thread that sends and receives, from
//!   `/proc/self/task/*/schedstat`; the server's threads are not counted).
//!
//! Every measure runs `--repeat N` times (default 5) and prints min / median / max.
//!
//! `cargo run --release -p wsbeat-tools --bin deflate-cost [-- --repeat N]` (Markdown tables).

use std::time::Instant;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use wsbeat::{Client, Event, Heartbeat, Reconnect};
use wsbeat_testkit::deflate_server::DeflateEchoServer;

/// min / median / max of `v`, formatted with `prec` decimals.
fn spread(v: &mut [f64], prec: usize) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    let (min, med, max) = (v[0], v[v.len() / 2], v[v.len() - 1]);
    format!("{min:.prec$} / {med:.prec$} / {max:.prec$}")
}

/// CPU time (ns) of one thread of this process.
fn task_cpu_ns(tid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (ns) of the client's threads: the main thread and every `wsbeat-io` thread.
fn client_cpu_ns() -> u64 {
    let main = std::process::id().to_string();
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let tid = e.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if tid == main || comm.trim() == "wsbeat-io" {
            total += task_cpu_ns(&tid);
        }
    }
    total
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn compress(z: &mut Compress, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(data.len() + data.len() / 64 + 64); // one call: the bound on deflate output
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let before = z.total_in();
        z.compress_vec(input, out, FlushCompress::Sync).unwrap();
        input = &input[(z.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    out.truncate(out.len() - 4);
}

fn inflate(d: &mut Decompress, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for part in [data, &[0, 0, 0xff, 0xff][..]] {
        let mut input = part;
        loop {
            out.reserve(32 << 10);
            let before = d.total_in();
            d.decompress_vec(input, out, FlushDecompress::None).unwrap();
            input = &input[(d.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
    }
}

fn seed_text(n: usize, i: usize) -> Vec<u8> {
    let mut s = String::new();
    let mut k = 0;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"ModeCode\":\"message\",\"msg\":\"hello world {}\",\"seq\":{},\"ts\":{}}}",
            i + k,
            i * 7 + k,
            1_764_590_000_000u64 + (i * 13 + k) as u64
        ));
        k += 1;
    }
    s.truncate(n);
    s.into_bytes()
}

fn random(n: usize) -> Vec<u8> {
    let mut r = fastrand::Rng::with_seed(n as u64);
    (0..n).map(|_| r.u8(..)).collect()
}

fn memory(bits: u8, level: u32) -> (u64, u64) {
    const N: usize = 300;
    let msg = seed_text(4096, 0);
    let mut tmp = Vec::new();
    let mut back = Vec::new();
    let base = rss_kib();
    let mut compressors = Vec::with_capacity(N);
    for _ in 0..N {
        let mut z = Compress::new_with_window_bits(Compression::new(level), false, bits);
        compress(&mut z, &msg, &mut tmp);
        compressors.push(z);
    }
    let mid = rss_kib();
    let mut inflaters = Vec::with_capacity(N);
    for _ in 0..N {
        let mut d = Decompress::new_with_window_bits(false, bits);
        inflate(&mut d, &tmp, &mut back);
        assert_eq!(back, msg);
        inflaters.push(d);
    }
    let end = rss_kib();
    drop((compressors, inflaters));
    ((mid - base) / N as u64, (end - mid) / N as u64)
}

/// One codec run: (bytes per message, wire/raw, compress µs/msg, inflate µs/msg, MB/s).
fn throughput(make: &dyn Fn(usize) -> Vec<u8>, level: u32) -> [f64; 5] {
    let msgs: Vec<Vec<u8>> = (0..400).map(make).collect();
    let raw: usize = msgs.iter().map(Vec::len).sum();
    let mut z = Compress::new_with_window_bits(Compression::new(level), false, 15);
    let mut d = Decompress::new_with_window_bits(false, 15);
    let (mut packed, mut back) = (Vec::new(), Vec::new());
    let mut wire = 0;
    let (mut tc, mut td) = (0f64, 0f64);
    for m in &msgs {
        let t = Instant::now();
        compress(&mut z, m, &mut packed);
        tc += t.elapsed().as_secs_f64();
        wire += packed.len();
        let t = Instant::now();
        inflate(&mut d, &packed, &mut back);
        td += t.elapsed().as_secs_f64();
        assert_eq!(&back, m);
    }
    let n = msgs.len() as f64;
    [
        raw as f64 / n,
        wire as f64 / raw as f64,
        tc / n * 1e6,
        td / n * 1e6,
        raw as f64 / tc / 1e6,
    ]
}

/// One end-to-end run of `n` sequential round trips: (client-to-server wire bytes per message,
/// server-to-client wire bytes per message, client CPU µs per round trip).
fn end_to_end(make: &dyn Fn(usize) -> Vec<u8>, text: bool, deflate: bool, n: usize) -> [f64; 3] {
    let server = DeflateEchoServer::start();
    let c = if deflate {
        wsbeat::Compression::deflate()
    } else {
        wsbeat::Compression::off()
    };
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .reconnect(Reconnect::disabled())
        .compression(c)
        .connect()
        .expect("connect to the deflate echo server");
    let rx = client.events().expect("channel mode");
    let wait = |pred: &dyn Fn(&Event) -> bool| loop {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(e) if pred(&e) => return e,
            Ok(Event::Error { message, .. }) => panic!("error: {message}"),
            Ok(_) => {}
            Err(e) => panic!("no event: {e}"),
        }
    };
    let opened = wait(&|e| matches!(e, Event::Opened { .. }));
    assert!(
        matches!(opened, Event::Opened { compression, .. } if compression == deflate),
        "{opened:?}"
    );
    let msgs: Vec<Vec<u8>> = (0..n).map(make).collect();
    let (in0, out0) = (server.wire_in(), server.wire_out());
    let cpu0 = client_cpu_ns();
    for m in &msgs {
        if text {
            client
                .send_text(String::from_utf8(m.clone()).expect("text"))
                .unwrap();
            wait(&|e| matches!(e, Event::Text(t) if t.len() == m.len()));
        } else {
            client.send_binary(m.clone()).unwrap();
            wait(&|e| matches!(e, Event::Binary(b) if b.len() == m.len()));
        }
    }
    let cpu = client_cpu_ns() - cpu0;
    let up = (server.wire_in() - in0) as f64 / n as f64;
    let down = (server.wire_out() - out0) as f64 / n as f64;
    drop(client);
    [up, down, cpu as f64 / n as f64 / 1e3]
}

fn main() {
    let mut repeat = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| {
                        eprintln!("--repeat needs a positive number");
                        std::process::exit(2)
                    })
            }
            _ => {
                eprintln!("usage: deflate-cost [--repeat N]");
                std::process::exit(2)
            }
        }
    }
    println!("{repeat} repeats of every measure; cells are min / median / max.\n");
    println!("## Memory per connection (zlib state, resident KiB, after one 4 KiB message)\n");
    println!("| window bits | level | compressor KiB | inflater KiB |");
    println!("|---|---|---|---|");
    for (bits, level) in [(15, 6), (15, 1), (12, 6), (10, 6), (9, 6)] {
        let (mut c, mut d) = (Vec::new(), Vec::new());
        for _ in 0..repeat {
            let (ci, di) = memory(bits, level);
            c.push(ci as f64);
            d.push(di as f64);
        }
        println!(
            "| {bits} | {level} | {} | {} |",
            spread(&mut c, 0),
            spread(&mut d, 0)
        );
    }
    type Make = fn(usize) -> Vec<u8>;
    let kinds: [(&str, Make, bool, usize); 5] = [
        ("seed JSON, 100 B", |i| seed_text(100, i), true, 2000),
        ("seed JSON, 1 KiB", |i| seed_text(1024, i), true, 2000),
        ("seed JSON, 64 KiB", |i| seed_text(64 << 10, i), true, 200),
        (
            "random binary, 1 KiB",
            |i| random(1024 + i % 64),
            false,
            2000,
        ),
        (
            "random binary, 64 KiB",
            |i| random((64 << 10) + i % 64),
            false,
            200,
        ),
    ];
    println!("\n## Codec per message, 15-bit window, context takeover\n");
    println!(
        "| messages | level | bytes/msg | wire/raw | compress µs/msg | inflate µs/msg | compress MB/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for level in [1, 6] {
        for (name, make, _, _) in kinds {
            let mut runs: [Vec<f64>; 5] = Default::default();
            for _ in 0..repeat {
                for (v, x) in runs.iter_mut().zip(throughput(&make, level)) {
                    v.push(x);
                }
            }
            let [b, r, c, d, mb] = &mut runs;
            println!(
                "| {name} | {level} | {} | {} | {} | {} | {} |",
                spread(b, 0),
                spread(r, 3),
                spread(c, 1),
                spread(d, 1),
                spread(mb, 0)
            );
        }
    }
    println!(
        "\n## End to end: wsbeat echo round trips through DeflateEchoServer, off vs deflate (level 6, 15 bits)\n"
    );
    println!(
        "| messages | round trips | compression | wire bytes/msg up | wire bytes/msg down | client CPU µs/round trip |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, make, text, n) in kinds {
        for deflate in [false, true] {
            let mut runs: [Vec<f64>; 3] = Default::default();
            for _ in 0..repeat {
                for (v, x) in runs.iter_mut().zip(end_to_end(&make, text, deflate, n)) {
                    v.push(x);
                }
            }
            let [up, down, cpu] = &mut runs;
            println!(
                "| {name} | {n} | {} | {} | {} | {} |",
                if deflate { "deflate" } else { "off" },
                spread(up, 0),
                spread(down, 0),
                spread(cpu, 1)
            );
        }
    }
}
