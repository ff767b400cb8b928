"""Interop peer: an echo server on the Python `websockets` package (asyncio API).

    python py_server.py PORT

Listens on 127.0.0.1 only (PORT 0: ephemeral), echoes text and binary, answers pings (the
library does), prints "LISTENING <port>" once listening, exits when stdin closes.
"""
import asyncio
import sys
import threading
import os

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    async with serve(echo, "127.0.0.1", port, ping_interval=None) as server:
        sock = server.sockets[0]
        print(f"LISTENING {sock.getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
