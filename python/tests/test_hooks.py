"""Parity with the Rust client's hooks: before_connect (token refresh), reconnect_on_close
and the custom heartbeat, against real `websockets` servers (see conftest.py)."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, List, Union

import pytest

import wsbeat
from wsbeat import (
    BinaryMessage,
    Client,
    Error,
    ErrorKind,
    Opened,
    Request,
    RequestHeaders,
    Stopped,
    StopReason,
    TextMessage,
)

from conftest import TIMEOUT
from test_client import FAST_BACKOFF, Recorder


def test_before_connect_token_refresh_across_a_restart(echo_server):
    """A server that accepts only the newest token, restarted with a new one mid-test: after
    its 401 the host refreshes the token, the hook sends it, the client is back."""
    srv = echo_server
    srv.required_token = "t1"
    token = {"current": "t1", "fresh": "t1"}
    seen: List[Request] = []

    def refresh(request: Request) -> None:
        seen.append(request)
        assert request.headers["x-static"] == "s"  # the client's headers, case-insensitive
        request.headers["Authorization"] = f"Bearer {token['current']}"
        del request.headers["X-Remove-Me"]
        request.url = f"{request.url.rstrip('/')}/?token={token['current']}"

    rec = Recorder()

    def on_event(c: Client, ev: wsbeat.Event) -> None:
        if isinstance(ev, Error) and ev.kind is ErrorKind.HTTP_STATUS:
            token["current"] = token["fresh"]  # 401: the token expired, refresh it
        rec(c, ev)

    with Client(
        srv.url,
        before_connect=refresh,
        on_event=on_event,
        headers={"X-Static": "s", "X-Remove-Me": "gone"},
        **FAST_BACKOFF,
    ) as c:
        rec.wait_for(Opened)
        assert seen[0].attempt == 0
        assert srv.paths == ["/?token=t1"]
        h = srv.connections.get(timeout=TIMEOUT).request.headers
        assert h["Authorization"] == "Bearer t1" and "X-Remove-Me" not in h
        assert h.get_all("Authorization") == ["Bearer t1"]  # replaced, not added

        token["fresh"] = "t2"
        srv.required_token = "t2"
        srv.restart()
        err = rec.wait_for(lambda e: isinstance(e, Error) and e.kind is ErrorKind.HTTP_STATUS)
        assert "401" in err.message
        rec.wait_for(lambda e: isinstance(e, Opened) and e.reconnect)
        assert srv.refused and srv.refused[0] == "Bearer t1"  # the stale token was refused
        assert srv.accepted_tokens == ["Bearer t1", "Bearer t2"]  # ...and the fresh one accepted
        assert srv.paths[-1] == "/?token=t2"
        assert seen[-1].attempt >= 1
        c.send("after refresh")
        assert srv.received.get(timeout=TIMEOUT) == "after refresh"


def test_before_connect_exception_fails_the_attempt(echo_server, caplog):
    caplog.set_level(logging.ERROR, logger="wsbeat")
    calls: List[int] = []

    def flaky(request: Request) -> None:
        calls.append(request.attempt)
        if request.attempt == 0:
            raise RuntimeError("token service down")

    rec = Recorder()
    with Client(echo_server.url, before_connect=flaky, on_event=rec, **FAST_BACKOFF):
        err = rec.wait_for(Error)
        assert err.kind is ErrorKind.CALLBACK
        rec.wait_for(Opened)  # the retry's hook succeeded
    assert calls[:2] == [0, 1]
    logged = [r for r in caplog.records if "before_connect" in r.getMessage()]
    assert logged and logged[0].exc_info and "token service down" in str(logged[0].exc_info[1])


def test_before_connect_invalid_change_fails_the_attempt(echo_server, caplog):
    caplog.set_level(logging.ERROR, logger="wsbeat")

    def bad(request: Request) -> None:
        if request.attempt == 0:
            request.url = "http://not-a-websocket/"

    rec = Recorder()
    with Client(echo_server.url, before_connect=bad, on_event=rec, **FAST_BACKOFF):
        assert rec.wait_for(Error).kind is ErrorKind.CALLBACK
        rec.wait_for(Opened)
    assert any("request.url" in r.getMessage() for r in caplog.records)


def test_before_connect_in_pull_mode(echo_server):
    """Hooks run on the I/O thread in pull mode too (no event callback there)."""
    threads: List[int] = []

    def hook(request: Request) -> None:
        threads.append(threading.get_ident())
        request.headers = [("X-Token", "a"), ("X-Token", "b")]  # pairs replace them all

    with Client(echo_server.url, before_connect=hook) as c:
        ev = c.next_event(timeout=TIMEOUT)
        while not isinstance(ev, Opened):
            ev = c.next_event(timeout=TIMEOUT)
        ws = echo_server.connections.get(timeout=TIMEOUT)
    assert threads and threads[0] != threading.get_ident()
    assert ws.request.headers.get_all("X-Token") == ["a", "b"]


def test_request_headers_mapping():
    h = RequestHeaders([("Authorization", "old"), ("X-A", "1"), ("authorization", "dup")])
    assert h["AUTHORIZATION"] == "old" and len(h) == 2 and list(h) == ["Authorization", "X-A"]
    h["authorization"] = "new"
    assert h.pairs() == [("authorization", "new"), ("X-A", "1")]
    h.add("X-A", "2")
    assert h.get_all("x-a") == ["1", "2"]
    del h["x-a"]
    assert h.pairs() == [("authorization", "new")]
    with pytest.raises(KeyError):
        del h["missing"]
    with pytest.raises(TypeError):
        h["X"] = 1  # type: ignore[assignment]
    assert "new" not in repr(h)  # values may be secrets
    r = Request("ws://u:pw@h:1/p?token=secret", h.pairs(), 3)
    assert "secret" not in repr(r) and "pw" not in repr(r) and "new" not in repr(r)


def test_reconnect_on_close_predicate(echo_server):
    asked: List[int] = []

    def policy(code: int) -> bool:
        asked.append(code)
        return code != 4001  # 4001 is retried by default: declining it proves the hook ran

    rec = Recorder()
    with Client(echo_server.url, reconnect_on_close=policy, on_event=rec, **FAST_BACKOFF):
        rec.wait_for(Opened)
        ws = echo_server.connections.get(timeout=TIMEOUT)
        echo_server.run(lambda: ws.close(4002, "again"))
        rec.wait_for(lambda e: isinstance(e, Opened) and e.reconnect)
        ws = echo_server.connections.get(timeout=TIMEOUT)
        echo_server.run(lambda: ws.close(4001, "go away"))
        stopped = rec.wait_for(Stopped)
    assert stopped.reason is StopReason.POLICY_DECLINED
    assert asked == [4002, 4001]


def test_reconnect_on_close_exception_uses_the_default(echo_server, caplog):
    caplog.set_level(logging.ERROR, logger="wsbeat")

    def broken(code: int) -> bool:
        raise ValueError("policy bug")

    rec = Recorder()
    with Client(echo_server.url, reconnect_on_close=broken, on_event=rec, **FAST_BACKOFF):
        rec.wait_for(Opened)
        ws = echo_server.connections.get(timeout=TIMEOUT)
        echo_server.run(lambda: ws.close(1008, "policy"))  # the default declines 1008
        assert rec.wait_for(Stopped).reason is StopReason.POLICY_DECLINED
    assert any("reconnect_on_close" in r.getMessage() for r in caplog.records)


def test_custom_heartbeat_with_matcher(echo_server):
    offered: "queue.Queue[Union[str, bytes]]" = queue.Queue()

    def is_reply(message: Union[str, bytes]) -> bool:
        offered.put(message)
        return message == "hb?"

    rec = Recorder()
    with Client(
        echo_server.url,
        heartbeat="custom",
        heartbeat_payload="hb?",
        heartbeat_is_reply=is_reply,
        interval=0.1,
        timeout=0.06,
        on_event=rec,
    ) as c:
        rec.wait_for(Opened)
        for _ in range(3):  # three heartbeats sent and matched
            assert offered.get(timeout=TIMEOUT) == "hb?"
        c.send("data")
        msg = rec.wait_for(TextMessage)
        assert msg.data == "data"  # offered to the matcher, declined, delivered
        assert c.stats.last_rtt_us is not None
    assert echo_server.received.qsize() >= 3
    assert not any(isinstance(e, TextMessage) and e.data == "hb?" for e in rec.seen)


def test_custom_binary_heartbeat_default_matcher(echo_server):
    """Without heartbeat_is_reply, the echoed payload is the reply (and no message)."""
    rec = Recorder()
    with Client(
        echo_server.url,
        heartbeat="custom",
        heartbeat_payload=b"\x00beat\x00",  # NUL bytes survive
        interval=0.1,
        timeout=0.06,
        on_event=rec,
    ) as c:
        rec.wait_for(Opened)
        assert echo_server.received.get(timeout=TIMEOUT) == b"\x00beat\x00"
        rec.none_within(lambda e: isinstance(e, BinaryMessage), 0.4)
        assert c.stats.last_rtt_us is not None


def test_custom_heartbeat_binary_matcher_sees_nul_bytes(echo_server):
    got: "queue.Queue[Any]" = queue.Queue()

    def is_reply(message: Union[str, bytes]) -> bool:
        got.put(message)
        return True

    with Client(
        echo_server.url,
        heartbeat="custom",
        heartbeat_payload=b"a\x00b",
        heartbeat_is_reply=is_reply,
        interval=0.1,
        timeout=0.06,
    ):
        assert got.get(timeout=TIMEOUT) == b"a\x00b"


def test_hook_argument_errors():
    with pytest.raises(TypeError):
        Client("ws://127.0.0.1:1", before_connect="not callable")
    with pytest.raises(TypeError):
        Client("ws://127.0.0.1:1", reconnect_on_close=42)
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client("ws://127.0.0.1:1", heartbeat="custom")  # no payload
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client("ws://127.0.0.1:1", heartbeat_payload="x")  # not heartbeat="custom"
    with pytest.raises(TypeError):
        Client("ws://127.0.0.1:1", heartbeat="custom", heartbeat_payload=3)
    with pytest.raises(TypeError):
        Client("ws://127.0.0.1:1", heartbeat="custom", heartbeat_payload="x",
               heartbeat_is_reply="no")


def test_config_hooks_and_copy(echo_server):
    seen: List[int] = []
    cfg = wsbeat.Config().before_connect(lambda r: seen.append(r.attempt))
    cfg2 = cfg.copy()
    cfg.before_connect(None)  # the copy keeps its hook
    rec = Recorder()
    with Client(echo_server.url, config=cfg2, on_event=rec):
        rec.wait_for(Opened)
    with Client(echo_server.url, config=cfg, on_event=rec):
        rec.wait_for(Opened)
    assert seen == [0]


def test_remaining_options_reach_the_library(echo_server):
    """The options no other test sets: accepted and used (the client opens), and each one's
    bad value refused by its ws_config_* setter (so the option did reach the library)."""
    rec = Recorder()
    with Client(echo_server.url, min_uptime=0.5, connect_timeout=2, outbox_max_bytes=1 << 20,
                insecure=True, on_event=rec):
        rec.wait_for(Opened)
    with Client(echo_server.url, event_capacity=4) as c:  # pull mode
        ev = c.next_event(timeout=TIMEOUT)
        while not isinstance(ev, Opened):
            ev = c.next_event(timeout=TIMEOUT)
    for bad in (dict(event_capacity=0), dict(outbox_max_bytes=0), dict(connect_timeout=8 * 86400)):
        with pytest.raises(wsbeat.InvalidArgumentError):
            Client(echo_server.url, **bad)


@pytest.mark.parametrize("option", ["native_roots", "native_tls"])
def test_native_tls_options_need_their_feature(echo_server, option):
    """The wheel's libwsbeat is built with rustls and the bundled roots only: asking for the
    platform's roots or TLS library is a clear TlsError, not silently ignored."""
    with pytest.raises(wsbeat.TlsError, match="native"):
        Client(echo_server.url.replace("ws://", "wss://"), **{option: True})
