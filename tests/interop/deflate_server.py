"""Interop peer for permessage-deflate: an echo server on Python `websockets`.

    python deflate_server.py PORT MODE

MODE: `default` (websockets' own defaults: compression on, its server_max_window_bits=12 and
client_max_window_bits=12 when offered), `no_takeover` (server_ and client_no_context_takeover,
15-bit windows), `server_no_takeover` / `client_no_takeover` (only that direction), `bomb` (sends, once open, one compressed 8 MiB message of zeros: about 8 KiB
on the wire). Echoes text and binary; the text `?ext` is answered with the
Sec-WebSocket-Extensions header the server sent. Listens on 127.0.0.1 only (PORT 0:
ephemeral), prints "LISTENING <port>", exits when stdin closes.
"""
import asyncio
import os
import sys
import threading

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


async def main():
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "default"

    async def handler(ws):
        if mode == "bomb":
            await ws.send(bytes(8 << 20))
        async for message in ws:
            if message == "?ext":
                await ws.send(ws.response.headers.get("Sec-WebSocket-Extensions", ""))
            else:
                await ws.send(message)

    kwargs = {}
    no_takeover = {
        "no_takeover": (True, True),
        "server_no_takeover": (True, False),
        "client_no_takeover": (False, True),
    }
    if mode in no_takeover:
        server, client = no_takeover[mode]
        kwargs = dict(
            compression=None,
            extensions=[
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=server, client_no_context_takeover=client
                )
            ],
        )
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    async with serve(
        handler, "127.0.0.1", port, ping_interval=None, max_size=None, **kwargs
    ) as server:
        print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
