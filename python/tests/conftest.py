"""Fixtures: real `websockets` servers on an ephemeral 127.0.0.1 port, run on an asyncio loop
in a background thread, stoppable and restartable on the same port."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
import subprocess
import sys
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from websockets.asyncio.server import ServerConnection, serve

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0  # generous bound for anything that should take milliseconds


class Server:
    """A websockets server in its own thread.

    mode: "echo" (echo every message), "seed" (the seed's server.js: JSON with ModeCode,
    echoed), "silent" (handshake, then stop reading the socket: no pongs, no echoes).
    """

    def __init__(
        self, mode: str = "echo", ssl_context: Any = None, compression: Optional[str] = "deflate"
    ) -> None:
        self.mode = mode
        self.ssl_context = ssl_context
        self.compression = compression  # websockets' own default: permessage-deflate
        self.port = 0
        self.received: "queue.Queue[Any]" = queue.Queue()  # data messages seen by the server
        self.closes: "queue.Queue[Tuple[Optional[int], str]]" = queue.Queue()  # (code, reason)
        self.connections: "queue.Queue[ServerConnection]" = queue.Queue()
        self.heartbeats = 0
        self.not_json: List[Any] = []  # seed mode: messages the seed's server.js would crash on
        self.headers: List[Any] = []
        # When set, a handshake without `Authorization: Bearer <required_token>` is answered
        # 401 (a server that accepts only the newest token); kept across restarts.
        self.required_token: Optional[str] = None
        self.refused: List[Optional[str]] = []  # the Authorization values answered 401
        # Accepted handshakes (recorded before the 101 answer, so before the client's
        # Opened): request path with query, and the Authorization value.
        self.paths: List[str] = []
        self.accepted_tokens: List[Optional[str]] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Any = None
        self._stop: Optional[asyncio.Event] = None
        self._live: set = set()

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.required_token is None:
            return None
        got = request.headers.get("Authorization")
        if got != f"Bearer {self.required_token}":
            self.refused.append(got)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "stale or missing token\n")
        self.paths.append(request.path)
        self.accepted_tokens.append(got)
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self._live.add(ws)
        self.headers.append(ws.request.headers if ws.request else None)
        self.connections.put(ws)
        try:
            if self.mode == "silent":
                ws.transport.pause_reading()
                await ws.wait_closed()
                return
            async for msg in ws:
                if self.mode == "seed":
                    if isinstance(msg, bytes):
                        self.not_json.append(msg)
                        continue
                    try:
                        obj = json.loads(msg)
                    except ValueError:
                        self.not_json.append(msg)
                        continue  # the seed server would crash; this one records it
                    if obj.get("ModeCode") == "heart_beat":
                        self.heartbeats += 1
                    else:
                        self.received.put(msg)
                    await ws.send(json.dumps(obj))
                else:
                    self.received.put(msg)
                    await ws.send(msg)
        except Exception:
            pass
        finally:
            self._live.discard(ws)
            self.closes.put((ws.close_code, ws.close_reason or ""))

    def start(self) -> "Server":
        ready = threading.Event()
        errors: List[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def main() -> None:
                try:
                    self._server = await serve(
                        self._handler, "127.0.0.1", self.port, ping_interval=None,
                        ssl=self.ssl_context,
                        compression=self.compression,
                        process_request=self._process_request,
                        select_subprotocol=lambda _c, offered: "chat" if "chat" in offered else None,
                    )
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)
                    ready.set()
                    return
                self.port = self._server.sockets[0].getsockname()[1]
                self._stop = asyncio.Event()
                ready.set()
                await self._stop.wait()
                for ws in list(self._live):
                    if self.mode == "silent":
                        ws.transport.abort()
                self._server.close()
                await asyncio.wait_for(self._server.wait_closed(), TIMEOUT)

            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"ws-server-{self.mode}", daemon=True)
        self._thread.start()
        assert ready.wait(TIMEOUT), "server did not start"
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (abruptly for silent ones)."""
        if self._loop is None or self._server is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(TIMEOUT)
        self._loop = None
        self._server = None

    def restart(self) -> None:
        """Start again on the same port."""
        self.stop()
        self.start()

    def run(self, coro_fn) -> Any:  # type: ignore[no-untyped-def]
        """Run a coroutine function on the server's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(TIMEOUT)


@pytest.fixture
def echo_server():
    s = Server("echo").start()
    yield s
    s.stop()


@pytest.fixture
def plain_echo_server():
    """An echo server that does not negotiate permessage-deflate (``compression=None``)."""
    s = Server("echo", compression=None).start()
    yield s
    s.stop()


@pytest.fixture
def seed_server():
    s = Server("seed").start()
    yield s
    s.stop()


@pytest.fixture
def strict_seed_server():
    """A seed server whose `not_json` lists what the seed's own server.js would crash on."""
    s = Server("seed").start()
    yield s
    s.stop()


@pytest.fixture
def silent_server():
    s = Server("silent").start()
    yield s
    s.stop()


@pytest.fixture
def free_port() -> int:
    """A port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_script(code: str, *args: str, **kw: Any) -> "subprocess.Popen[str]":
    """Start a Python subprocess running `code` with the same interpreter and library."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1/localhost signed by it (openssl CLI)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")

    def sh(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    sh("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=wsbeat test CA",
       "-keyout", "ca.key", "-out", "ca.pem")
    sh("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
       "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n"
    )
    sh("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    return d


@pytest.fixture
def tls_server(tls_files):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files / "server.pem", tls_files / "server.key")
    s = Server("echo", ssl_context=ctx).start()
    yield s
    s.stop()
