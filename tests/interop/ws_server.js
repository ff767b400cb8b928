// Interop peer: a WebSocket server on the Node.js `ws` package.
//   node ws_server.js PORT echo   plain echo of text and binary (pings answered by ws)
//   node ws_server.js PORT seed   the seed article's server.js protocol: every text message
//                                 is JSON.parse'd; ModeCode "message" and "heart_beat" are
//                                 echoed back unchanged (like server.js, non-JSON throws)
// Listens on 127.0.0.1 only; PORT 0 picks an ephemeral port. Prints "LISTENING <port>" once
// listening and exits when its stdin closes (the test that started it is gone).
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const mode = process.argv[3] || 'echo';
const wss = new WebSocketServer({ host: '127.0.0.1', port });

wss.on('listening', () => {
  process.stdout.write(`LISTENING ${wss.address().port}\n`);
});

wss.on('connection', (ws) => {
  console.error('connect');
  ws.on('message', (data, isBinary) => {
    if (mode === 'seed') {
      const msg = JSON.parse(data.toString());
      if (msg.ModeCode === 'message' || msg.ModeCode === 'heart_beat') {
        ws.send(JSON.stringify(msg));
      }
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code) => console.error(`close ${code}`));
  ws.on('error', (e) => console.error(`error ${e}`));
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
