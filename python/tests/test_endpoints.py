"""Several endpoints (``Client(url, endpoints=[...])``): round-robin after each failure,
one backoff schedule per client, ``Connecting``/``Opened`` name the endpoint, the
``before_connect`` request sees it."""

from __future__ import annotations

import socket
from typing import List, Tuple

import pytest

import wsbeat
from wsbeat import Client, Closed, Connecting, Opened, Reconnecting, Stopped, StopReason

from conftest import TIMEOUT, Server
from test_client import FAST_BACKOFF, Recorder


def dead_url() -> str:
    """A URL where nothing listens (a port bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"ws://127.0.0.1:{s.getsockname()[1]}"


def test_first_endpoint_down_opens_on_the_second(echo_server):
    rec = Recorder()
    with Client(dead_url(), endpoints=[echo_server.url], on_event=rec, **FAST_BACKOFF) as c:
        opened = rec.wait_for(Opened)
        assert (opened.endpoint, opened.attempt, opened.reconnect) == (1, 1, False)
        assert [(e.attempt, e.endpoint) for e in rec.seen if isinstance(e, Connecting)] == [
            (0, 0),
            (1, 1),
        ]
        assert "endpoint 1" in str(opened)
        c.send("on the second")
        assert echo_server.received.get(timeout=TIMEOUT) == "on the second"


def test_first_endpoint_dies_mid_connection_reconnects_to_the_second(echo_server):
    second = Server("echo").start()
    try:
        rec = Recorder()
        with Client(echo_server.url, endpoints=[second.url], on_event=rec, **FAST_BACKOFF) as c:
            assert rec.wait_for(Opened).endpoint == 0
            echo_server.stop()
            assert rec.wait_for(Closed).will_reconnect
            opened = rec.wait_for(Opened)
            assert (opened.endpoint, opened.reconnect) == (1, True)
            assert [e.endpoint for e in rec.seen if isinstance(e, Connecting)] == [0, 1]
            c.send("two")
            assert second.received.get(timeout=TIMEOUT) == "two"
    finally:
        second.stop()


def test_backoff_grows_per_client_across_endpoints():
    urls = [dead_url(), dead_url(), dead_url()]
    rec = Recorder()
    with Client(
        urls[0],
        endpoints=urls[1:],
        on_event=rec,
        heartbeat="off",
        backoff_initial=0.02,
        backoff_max=10.0,
        backoff_factor=2.0,
        backoff_jitter=0.0,
        max_attempts=5,
    ):
        stopped = rec.wait_for(Stopped)
        assert stopped.reason is StopReason.MAX_ATTEMPTS
        delays = [e.delay_ms for e in rec.seen if isinstance(e, Reconnecting)]
        # One schedule for the client (a per-endpoint one restarts at 20 ms).
        assert delays == [20, 40, 80, 160, 320]
        assert [e.endpoint for e in rec.seen if isinstance(e, Connecting)] == [0, 1, 2, 0, 1, 2]


def test_before_connect_sees_each_endpoint_in_turn_and_may_change_it(echo_server):
    dead = [dead_url(), dead_url()]
    seen: List[Tuple[int, int, str]] = []

    def hook(req: wsbeat.Request) -> None:
        seen.append((req.endpoint, req.attempt, req.url))
        if req.attempt == 3:
            req.url = echo_server.url

    rec = Recorder()
    with Client(dead[0], endpoints=[dead[1]], before_connect=hook, on_event=rec, **FAST_BACKOFF):
        opened = rec.wait_for(Opened)
        assert (opened.endpoint, opened.attempt) == (1, 3)
    strip = [(e, a, u.rstrip("/")) for e, a, u in seen]
    assert strip == [(0, 0, dead[0]), (1, 1, dead[1]), (0, 2, dead[0]), (1, 3, dead[1])]


def test_config_add_endpoint_and_bad_endpoints(echo_server):
    rec = Recorder()
    cfg = wsbeat.Config().add_endpoint(echo_server.url)
    with Client(dead_url(), cfg, on_event=rec):
        assert rec.wait_for(Opened, timeout=TIMEOUT).endpoint == 1
    with pytest.raises(wsbeat.InvalidUrlError):
        Client(echo_server.url, endpoints=["http://127.0.0.1:1/"])
    with pytest.raises(TypeError):
        Client(echo_server.url, endpoints=echo_server.url)  # a str, not a list
