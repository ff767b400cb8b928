// Interop peer for permessage-deflate: an echo server on the Node.js `ws` package.
//   node deflate_server.js PORT MODE
// MODE: `takeover` (perMessageDeflate with context takeover, threshold 0: every message
// compressed), `no_takeover` (serverNoContextTakeover and clientNoContextTakeover),
// `server_no_takeover` / `client_no_takeover` (only that direction without context takeover),
// `bits10` (serverMaxWindowBits 10, clientMaxWindowBits 10), `bomb` (sends, once open, one
// compressed 8 MiB message of zeros). Echoes text and binary; the text `?ext` is answered
// with the extension header ws answered and the client's offer, and `?read` with the bytes read from the
// socket so far (what the client's compression saved shows there). 127.0.0.1 only; PORT 0
// is ephemeral; prints "LISTENING <port>", exits when its stdin closes.
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const mode = process.argv[3] || 'takeover';
const perMessageDeflate = { threshold: 0 };
if (mode === 'no_takeover') {
  perMessageDeflate.serverNoContextTakeover = true;
  perMessageDeflate.clientNoContextTakeover = true;
}
if (mode === 'server_no_takeover') perMessageDeflate.serverNoContextTakeover = true;
if (mode === 'client_no_takeover') perMessageDeflate.clientNoContextTakeover = true;
if (mode === 'bits10') {
  perMessageDeflate.serverMaxWindowBits = 10;
  perMessageDeflate.clientMaxWindowBits = 10;
}
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate, maxPayload: 0 });

wss.on('listening', () => {
  process.stdout.write(`LISTENING ${wss.address().port}\n`);
});

// The response's extension header, as sent (ws.extensions only names the extension).
let answered = '';
wss.on('headers', (headers) => {
  answered = headers.find((h) => /^sec-websocket-extensions:/i.test(h)) || '';
});

wss.on('connection', (ws, req) => {
  const answer = answered;
  if (mode === 'bomb') ws.send(Buffer.alloc(8 << 20), { binary: true, compress: true });
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === '?ext') {
      ws.send(JSON.stringify({ answer, offer: req.headers['sec-websocket-extensions'] || '' }));
      return;
    }
    if (!isBinary && data.toString() === '?read') {
      ws.send(String(req.socket.bytesRead));
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', (e) => console.error(`error ${e}`));
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
