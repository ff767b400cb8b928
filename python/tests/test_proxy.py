"""The ``proxy=`` option: a tunnel through an HTTP CONNECT proxy (a small one in this file,
in front of a real `websockets` server), an unreachable proxy reported as ``ErrorKind.PROXY``
without its password, ``""`` for no proxy, and a bad proxy URL refused up front."""

from __future__ import annotations

import socket
import threading
from typing import List

import pytest

import wsbeat
from wsbeat import Client, ErrorKind, Opened, TextMessage

from conftest import TIMEOUT
from test_client import FAST_BACKOFF, Recorder


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1: records each request, then pipes both ways."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: List[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(1)
            if not chunk:
                return
            head += chunk
        text = head.decode("latin-1")
        self.requests.append(text)
        host, port = text.split(" ")[1].rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a: socket.socket, b: socket.socket) -> None:
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self.listener.close()


def test_through_an_http_connect_proxy_with_basic_auth(echo_server):
    proxy = ConnectProxy()
    rec = Recorder()
    try:
        with Client(echo_server.url, proxy=f"http://alice:s3cret@127.0.0.1:{proxy.port}",
                    on_event=rec, **FAST_BACKOFF) as c:
            rec.wait_for(Opened)
            c.send("through the tunnel")
            rec.wait_for(lambda e: isinstance(e, TextMessage) and e.data == "through the tunnel")
    finally:
        proxy.close()
    req = proxy.requests[0]
    assert req.startswith(f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1\r\n"), req
    assert "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n" in req, req  # alice:s3cret


def test_an_unreachable_proxy_is_a_proxy_error_without_its_password(echo_server):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed below: connects are refused
    rec = Recorder()
    with Client(echo_server.url, proxy=f"http://bob:hunter2@127.0.0.1:{port}",
                on_event=rec, **FAST_BACKOFF):
        err = rec.wait_for(lambda e: isinstance(e, wsbeat.Error))
    assert err.kind == ErrorKind.PROXY, err
    assert f"127.0.0.1:{port}" in err.message and "hunter2" not in err.message, err


def test_an_https_proxy_gets_tls_first_and_a_plain_one_is_a_tls_error_naming_it(echo_server):
    # The plain echo server addressed as an https:// proxy: the TLS handshake to it fails.
    proxy = f"https://u:hunter2@127.0.0.1:{echo_server.port}"
    rec = Recorder()
    with Client(echo_server.url, proxy=proxy, on_event=rec, **FAST_BACKOFF):
        err = rec.wait_for(lambda e: isinstance(e, wsbeat.Error))
    assert err.kind == ErrorKind.TLS, err
    assert f"TLS to the proxy https://127.0.0.1:{echo_server.port}/" in err.message, err
    assert "hunter2" not in err.message, err


def test_empty_proxy_connects_directly_and_a_bad_url_is_refused(echo_server):
    rec = Recorder()
    with Client(echo_server.url, proxy="", on_event=rec):
        rec.wait_for(Opened)
    for bad in ("ftp://proxy:21", "https://proxy:3128/path", "http://proxy:1/path"):
        with pytest.raises(wsbeat.InvalidUrlError):
            Client(echo_server.url, proxy=bad)
    with pytest.raises(TypeError):
        Client(echo_server.url, proxy=3128)  # type: ignore[arg-type]
    assert TIMEOUT > 0
