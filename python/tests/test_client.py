"""The Python package against real `websockets` servers (see conftest.py)."""

from __future__ import annotations

import json
import logging
import queue
import signal
import threading
import time
from typing import Any, Callable, List, Type, Union

import pytest

import wsbeat
from wsbeat import (
    BinaryMessage,
    Client,
    Closed,
    Connecting,
    HeartbeatTimeout,
    Initiator,
    Opened,
    Pong,
    State,
    Stopped,
    StopReason,
    TextMessage,
)

from conftest import TIMEOUT, run_script

# Scaled down, with room for a Python server on a loaded 2-core machine (a 60 ms timeout
# flaked: a websockets pong took over 60 ms under load).
FAST_HB = dict(interval=0.2, timeout=0.15)
FAST_BACKOFF = dict(backoff_initial=0.05, backoff_max=0.2, backoff_jitter=0.0)

Pred = Union[Type[wsbeat.Event], Callable[[wsbeat.Event], bool]]


class Recorder:
    """Collects events from `on_event` into a queue; `wait_for` waits for a matching one."""

    def __init__(self) -> None:
        self.q: "queue.Queue[wsbeat.Event]" = queue.Queue()
        self.seen: List[wsbeat.Event] = []

    def __call__(self, _client: Client, ev: wsbeat.Event) -> None:
        self.q.put(ev)

    def wait_for(self, pred: Pred, timeout: float = TIMEOUT) -> Any:
        test = (lambda e: isinstance(e, pred)) if isinstance(pred, type) else pred
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event within {timeout}s; seen: {self.seen}")
            try:
                ev = self.q.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(ev)
            if test(ev):
                return ev

    def none_within(self, pred: Pred, timeout: float) -> None:
        with pytest.raises(AssertionError):
            self.wait_for(pred, timeout)


def pull_until(client: Client, pred: Pred, timeout: float = TIMEOUT) -> Any:
    test = (lambda e: isinstance(e, pred)) if isinstance(pred, type) else pred
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ev = client.next_event(timeout=max(0.0, deadline - time.monotonic()))
        if ev is None:
            break
        seen.append(ev)
        if test(ev):
            return ev
    raise AssertionError(f"no matching event within {timeout}s; seen: {seen}")


# ---------------------------------------------------------------------------------------------


def test_text_and_bytes_echo(echo_server):
    rec = Recorder()
    got: "queue.Queue[Any]" = queue.Queue()
    with Client(echo_server.url, on_event=rec, on_message=lambda c, m: got.put(m)) as c:
        rec.wait_for(Opened)
        c.send("hello")
        c.send(b"\x00\x01\xff")
        c.send(bytearray(b"ba"))
        c.send("")
        assert got.get(timeout=TIMEOUT) == "hello"
        assert got.get(timeout=TIMEOUT) == b"\x00\x01\xff"
        assert got.get(timeout=TIMEOUT) == b"ba"
        assert got.get(timeout=TIMEOUT) == ""
        assert echo_server.received.get(timeout=TIMEOUT) == "hello"
        assert echo_server.received.get(timeout=TIMEOUT) == b"\x00\x01\xff"
        st = c.stats
        assert st.connects == 1 and st.messages_out == 4 and st.messages_in == 4
        assert c.state is State.OPEN
    assert c.state is State.STOPPED
    assert c.stats.messages_in == 4  # the last snapshot survives close


def test_pull_api_and_iteration(echo_server):
    with Client(echo_server.url) as c:
        assert isinstance(c.next_event(TIMEOUT), Connecting)
        opened = pull_until(c, Opened)
        assert not opened.reconnect
        c.send("ping me")
        assert pull_until(c, TextMessage).data == "ping me"
        c.send(b"bin")
        assert pull_until(c, BinaryMessage).data == b"bin"
        assert c.next_event(0) is None  # nothing pending: do not wait
        c.close()
        # The remaining events stay available after close, then the iterator ends.
        rest = list(c)
        assert isinstance(rest[-1], Stopped) and rest[-1].reason is StopReason.CLOSED
        closed = [e for e in rest if isinstance(e, Closed)]
        assert closed and closed[0].code == 1000 and closed[0].initiator is Initiator.LOCAL
        assert not closed[0].will_reconnect
        with pytest.raises(wsbeat.ClosedError):
            c.next_event(0.1)
        assert list(c) == []
    assert echo_server.closes.get(timeout=TIMEOUT)[0] == 1000


def test_heartbeat_keeps_idle_connection(echo_server):
    rec = Recorder()
    with Client(echo_server.url, on_event=rec, **FAST_HB) as c:
        rec.wait_for(Opened)
        for _ in range(6):  # 6 heartbeats of 200 ms: well beyond the 150 ms timeout
            pong = rec.wait_for(Pong)
            assert pong.rtt_us > 0
        assert not any(isinstance(e, (Closed, HeartbeatTimeout)) for e in rec.seen)
        st = c.stats
        assert st.connects == 1 and st.missed_heartbeats == 0
        assert st.last_rtt_us is not None and st.smoothed_rtt_us is not None
        assert c.state is State.OPEN


def test_pull_mode_pongs_are_reported_unless_turned_off(echo_server):
    # Default: each answered heartbeat comes out of next_event as a Pong.
    with Client(echo_server.url, **FAST_HB) as c:
        deadline = time.monotonic() + TIMEOUT
        seen = []
        while not any(isinstance(e, Pong) for e in seen):
            assert time.monotonic() < deadline, f"no Pong: {seen}"
            ev = c.next_event(0.5)
            if ev is not None:
                seen.append(ev)
    # pong_events=False: heartbeats run (the RTT is in stats) but never wake next_event.
    with Client(echo_server.url, pong_events=False, **FAST_HB) as c:
        seen = []
        until = time.monotonic() + 1.2  # 6 heartbeats of 200 ms
        while time.monotonic() < until:
            ev = c.next_event(0.1)
            if ev is not None:
                seen.append(ev)
        assert not any(isinstance(e, Pong) for e in seen), seen
        assert any(isinstance(e, Opened) for e in seen)
        st = c.stats
        assert st.last_rtt_us is not None and st.missed_heartbeats == 0
    with pytest.raises(TypeError):
        Client(echo_server.url, pong_events="no")


def test_reconnect_delivers_queued_messages_in_order(echo_server):
    rec = Recorder()
    got: "queue.Queue[Any]" = queue.Queue()
    with Client(
        echo_server.url, on_event=rec, on_message=lambda c, m: got.put(m), **FAST_BACKOFF
    ) as c:
        rec.wait_for(Opened)
        echo_server.stop()
        closed = rec.wait_for(Closed)
        assert closed.will_reconnect
        assert c.state is not State.OPEN
        sent = [f"queued-{i}" for i in range(20)]
        for m in sent:
            c.send(m)
        rec.wait_for(wsbeat.Reconnecting)
        echo_server.restart()
        opened = rec.wait_for(Opened)
        assert opened.reconnect
        echoed = [got.get(timeout=TIMEOUT) for _ in sent]
        assert echoed == sent
        assert [echo_server.received.get(timeout=TIMEOUT) for _ in sent] == sent
        st = c.stats
        assert st.reconnects >= 1 and st.outbox_len == 0


def test_dead_peer_detected(silent_server):
    rec = Recorder()
    with Client(silent_server.url, on_event=rec, reconnect=False, **FAST_HB) as c:
        rec.wait_for(Opened)
        timeout = rec.wait_for(HeartbeatTimeout)
        assert timeout.silent_ms >= 150
        closed = rec.wait_for(Closed)
        assert closed.code == 1006 and closed.initiator is Initiator.ABNORMAL
        assert not closed.will_reconnect
        stopped = rec.wait_for(Stopped)
        assert stopped.reason is StopReason.RECONNECT_DISABLED
        assert c.stats.missed_heartbeats == 1
        assert c.wait(TIMEOUT) == stopped


def test_dead_peer_triggers_reconnect(silent_server):
    rec = Recorder()
    with Client(silent_server.url, on_event=rec, **FAST_HB, **FAST_BACKOFF):
        rec.wait_for(HeartbeatTimeout)
        assert rec.wait_for(Closed).will_reconnect
        assert rec.wait_for(Opened).reconnect


def test_close_is_clean_and_never_reconnects(echo_server):
    rec = Recorder()
    c = Client(echo_server.url, on_event=rec, **FAST_BACKOFF)
    rec.wait_for(Opened)
    c.close(4000, "bye")
    closed = rec.wait_for(Closed)
    assert (closed.code, closed.reason, closed.initiator) == (4000, "bye", Initiator.LOCAL)
    assert not closed.will_reconnect
    assert rec.wait_for(Stopped).reason is StopReason.CLOSED
    assert echo_server.closes.get(timeout=TIMEOUT) == (4000, "bye")
    rec.none_within(lambda e: True, 0.5)  # nothing after Stopped: no reconnect
    assert echo_server.connections.qsize() == 1
    assert c.state is State.STOPPED and c.closed
    c.close()  # idempotent


def test_reconnect_now(echo_server):
    rec = Recorder()
    with Client(echo_server.url, on_event=rec, **FAST_BACKOFF) as c:
        rec.wait_for(Opened)
        c.reconnect_now()
        closed = rec.wait_for(Closed)
        assert closed.initiator is Initiator.LOCAL and closed.will_reconnect
        assert rec.wait_for(Opened).reconnect


def test_seed_json_heartbeat(seed_server):
    rec = Recorder()
    texts: "queue.Queue[str]" = queue.Queue()
    with Client(
        seed_server.url,
        heartbeat="seed-json",
        on_event=rec,
        on_message=lambda c, m: texts.put(m),
        **FAST_HB,
    ) as c:
        rec.wait_for(Opened)
        for _ in range(3):
            rec.wait_for(Pong)
        hello = json.dumps({"ModeCode": "message", "msg": "hello world"})
        c.send(hello)
        assert json.loads(texts.get(timeout=TIMEOUT)) == json.loads(hello)
        assert seed_server.heartbeats >= 3
        assert texts.empty()  # heartbeat echoes are not reported as messages
        assert c.stats.missed_heartbeats == 0


def test_callbacks_send_and_close_from_inside(echo_server):
    seen: "queue.Queue[Any]" = queue.Queue()

    def on_open(c: Client, ev: Opened) -> None:
        c.send("from on_open")

    def on_message(c: Client, m: Any) -> None:
        seen.put(m)
        c.close(1000, "done in callback")
        seen.put(c.state)  # no deadlock, no error

    c = Client(echo_server.url, on_open=on_open, on_message=on_message)
    assert seen.get(timeout=TIMEOUT) == "from on_open"
    assert seen.get(timeout=TIMEOUT) in (State.CLOSING, State.STOPPED, State.OPEN)
    stopped = c.wait(TIMEOUT)
    assert stopped is not None and stopped.reason is StopReason.CLOSED
    assert echo_server.closes.get(timeout=TIMEOUT) == (1000, "done in callback")
    c.close()  # from the main thread afterwards: fine, idempotent
    with pytest.raises(wsbeat.ClosedError):
        c.send("too late")


def test_close_from_main_while_callback_runs(echo_server):
    in_cb = threading.Event()
    done = threading.Event()
    results: List[Any] = []

    def on_message(c: Client, m: Any) -> None:
        in_cb.set()
        done.wait(0.5)  # a slow callback: still running while the main thread closes
        try:
            c.send("during close")
            results.append("sent")
        except wsbeat.ClosedError:
            results.append("closed")
        results.append(c.state)

    c = Client(echo_server.url, on_message=on_message)
    c.send("go")
    assert in_cb.wait(TIMEOUT)
    t0 = time.monotonic()
    c.close()
    assert time.monotonic() - t0 < 5.0
    assert len(results) == 2  # the callback finished before close returned


def test_raising_callback_is_logged_and_harmless(echo_server, caplog):
    caplog.set_level(logging.ERROR, logger="wsbeat")
    got: "queue.Queue[Any]" = queue.Queue()
    calls = []

    def bad(c: Client, m: Any) -> None:
        calls.append(m)
        if m == "boom":
            raise RuntimeError("user bug")
        got.put(m)

    with Client(echo_server.url, on_message=bad) as c:
        c.send("boom")
        c.send("after")
        assert got.get(timeout=TIMEOUT) == "after"  # the I/O thread survived
        assert c.state is State.OPEN
    assert calls == ["boom", "after"]
    errs = [r for r in caplog.records if r.name == "wsbeat" and "on_message" in r.getMessage()]
    assert errs and errs[0].exc_info and "user bug" in str(errs[0].exc_info[1])


def test_library_logs_reach_python_logging(echo_server, caplog):
    caplog.set_level(logging.DEBUG, logger="wsbeat")
    rec = Recorder()
    with Client(echo_server.url, on_event=rec):
        rec.wait_for(Opened)
    lib_records = [r for r in caplog.records if r.name == "wsbeat" and hasattr(r, "rust_target")]
    assert lib_records, "no library log record reached the wsbeat logger"
    assert all(r.rust_target for r in lib_records)


# --- misuse -----------------------------------------------------------------------------------


def test_send_after_close(echo_server):
    c = Client(echo_server.url)
    c.close()
    with pytest.raises(wsbeat.ClosedError) as e:
        c.send("x")
    assert e.value.code == 10
    with pytest.raises(wsbeat.ClosedError):
        c.reconnect_now()


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "not a url", "ws://", ""])
def test_bad_url(url):
    with pytest.raises(wsbeat.InvalidUrlError) as e:
        Client(url)
    assert e.value.detail  # the library's description
    assert isinstance(e.value, ValueError)


def test_bad_arguments(echo_server):
    with pytest.raises(TypeError):
        Client(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Client(echo_server.url, interval="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Client(echo_server.url, on_message="nope")  # type: ignore[arg-type]
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client(echo_server.url, heartbeat="bogus")
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client(echo_server.url, interval=1, timeout=2)  # timeout must be below interval
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client(echo_server.url, backoff_factor=0.5)
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client(echo_server.url, interval=-1)
    with pytest.raises(wsbeat.InvalidHeaderError):
        Client(echo_server.url, headers={"Bad Name": "x"})
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client("ws://127.0.0.1:1/\0")
    with pytest.raises(wsbeat.TlsError):
        Client("wss://127.0.0.1:1", ca_file="/nonexistent/ca.pem")
    with Client(echo_server.url) as c:
        with pytest.raises(TypeError):
            c.send(123)  # type: ignore[arg-type]
        with pytest.raises(wsbeat.InvalidArgumentError):
            c.close(999)
        with pytest.raises(wsbeat.InvalidArgumentError):
            c.close(1000, "x" * 200)
        with pytest.raises(TypeError):
            c.close("1000")  # type: ignore[arg-type]
        with pytest.raises(wsbeat.InvalidUtf8Error):
            c.send("\ud800")
        assert c.state in (State.CONNECTING, State.OPEN)  # still usable
        c.send("still fine")
        assert pull_until(c, TextMessage).data == "still fine"


def test_pull_call_on_callback_client(echo_server):
    with Client(echo_server.url, on_event=lambda c, e: None) as c:
        with pytest.raises(wsbeat.WrongModeError):
            c.next_event(0)


def test_headers_and_subprotocols(echo_server):
    rec = Recorder()
    with Client(
        echo_server.url,
        on_event=rec,
        headers={"X-Test": "yes"},
        subprotocols=["chat"],
    ):
        opened = rec.wait_for(Opened)
    assert opened.subprotocol == "chat"
    hdrs = echo_server.headers[0]
    assert hdrs["X-Test"] == "yes" and hdrs["Sec-WebSocket-Protocol"] == "chat"


def test_max_attempts(free_port):
    rec = Recorder()
    with Client(
        f"ws://127.0.0.1:{free_port}", on_event=rec, max_attempts=2, **FAST_BACKOFF
    ) as c:
        assert rec.wait_for(wsbeat.Error).kind is wsbeat.ErrorKind.CONNECT
        stopped = rec.wait_for(Stopped)
        assert stopped.reason is StopReason.MAX_ATTEMPTS and stopped.attempt == 2
        assert c.state is State.STOPPED
        with pytest.raises(wsbeat.ClosedError):
            c.send("x")


def test_stopped_carries_unsent_messages(free_port):
    with Client(
        f"ws://127.0.0.1:{free_port}", max_attempts=1, backoff_initial=0.3, backoff_jitter=0.0
    ) as c:
        pull_until(c, wsbeat.Reconnecting)  # the first connect failed; one retry is left
        c.send("never delivered")
        c.send(b"nor this")
        stopped = pull_until(c, Stopped)
    assert stopped.reason is StopReason.MAX_ATTEMPTS
    assert stopped.unsent == ("never delivered", b"nor this")


# --- processes: Ctrl-C, interpreter exit, library lookup --------------------------------------

CTRL_C_PULL = """
import sys, wsbeat
with wsbeat.Client(sys.argv[1]) as c:
    try:
        for ev in c:
            if isinstance(ev, wsbeat.Opened):
                print("ready", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
print("exit", c.state.name, flush=True)
"""

CTRL_C_CALLBACKS = """
import sys, wsbeat
c = wsbeat.Client(sys.argv[1], on_open=lambda c, e: print("ready", flush=True))
try:
    c.wait()
except KeyboardInterrupt:
    print("interrupted", flush=True)
c.close()
print("exit", c.state.name, flush=True)
"""


@pytest.mark.parametrize("script", [CTRL_C_PULL, CTRL_C_CALLBACKS], ids=["pull", "callbacks"])
def test_ctrl_c_exits_cleanly(echo_server, script):
    p = run_script(script, echo_server.url)
    try:
        line = p.stdout.readline()
        assert line.strip() == "ready", (line, p.stderr.read() if p.poll() is not None else "")
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=TIMEOUT)
        assert time.monotonic() - t0 < 5.0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "interrupted" in out and "exit STOPPED" in out, (out, err)
    assert echo_server.closes.get(timeout=TIMEOUT)[0] == 1000  # a clean close


def test_interpreter_exit_without_close(echo_server):
    code = """
import sys, threading, wsbeat
opened = threading.Event()
c = wsbeat.Client(sys.argv[1], on_open=lambda c, e: opened.set(), on_message=lambda c, m: None)
assert opened.wait(10)
p = wsbeat.Client(sys.argv[1])
while not isinstance(p.next_event(10), wsbeat.Opened):
    pass
print("leaving", flush=True)  # neither client is closed: the atexit hook must do it
"""
    p = run_script(code, echo_server.url)
    out, err = p.communicate(timeout=TIMEOUT * 2)
    assert p.returncode == 0, err
    assert "leaving" in out
    codes = {echo_server.closes.get(timeout=TIMEOUT)[0] for _ in range(2)}
    assert codes == {1000}  # both closed cleanly by the atexit hook


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_senders(echo_server):
    got: "queue.Queue[Any]" = queue.Queue()
    per_thread, threads = 50, 4
    with Client(echo_server.url, on_message=lambda c, m: got.put(m)) as c:

        def worker(t: int) -> None:
            for i in range(per_thread):
                c.send(f"{t}:{i}")

        ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(TIMEOUT)
        echoed = [got.get(timeout=TIMEOUT) for _ in range(per_thread * threads)]
    for t in range(threads):  # each thread's messages arrive in its order
        mine = [int(m.split(":")[1]) for m in echoed if m.startswith(f"{t}:")]
        assert mine == list(range(per_thread))


def test_close_from_another_thread_while_iterating(echo_server):
    c = Client(echo_server.url)
    events: List[Any] = []
    opened = threading.Event()

    def consume() -> None:
        for ev in c:
            events.append(ev)
            if isinstance(ev, Opened):
                opened.set()

    t = threading.Thread(target=consume)
    t.start()
    assert opened.wait(TIMEOUT)
    c.close()
    t.join(TIMEOUT)
    assert not t.is_alive()
    assert isinstance(events[-1], Stopped) and events[-1].reason is StopReason.CLOSED


# --- scripts ----------------------------------------------------------------------------------


def test_seed_demo(seed_server):
    import subprocess
    import sys

    from conftest import REPO

    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "seed_demo.py"), seed_server.url],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
    )
    assert out.returncode == 0, out
    lines = out.stdout
    for expected in (
        "state: connecting",
        "state: open",
        "message: 'hello world'",
        "state: close -> code 1000",
        "stopped: closed",
    ):
        assert expected in lines, lines
    assert lines.index("state: open") < lines.index("hello world") < lines.index("code 1000")
    assert seed_server.received.get(timeout=TIMEOUT) == json.dumps(
        {"ModeCode": "message", "msg": "hello world"}
    )


def test_bench_roundtrip_script(echo_server):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench_roundtrip.py"
    out = subprocess.run(
        [sys.executable, str(script), echo_server.url, "20"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
    )
    assert out.returncode == 0, out
    result = json.loads(out.stdout)
    for api in ("pull", "callback"):
        assert 0 < result[api]["p50_us"] <= result[api]["p99_us"]


# --- TLS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["ca_file", "ca_pem_bytes", "ca_pem_path", "insecure"])
def test_wss_echo(tls_server, tls_files, how):
    opts: Any = {
        "ca_file": {"ca_file": str(tls_files / "ca.pem")},
        "ca_pem_bytes": {"ca_pem": (tls_files / "ca.pem").read_bytes()},
        "ca_pem_path": {"ca_pem": tls_files / "ca.pem"},
        "insecure": {"insecure": True},
    }[how]
    with Client(tls_server.url, **opts) as c:
        pull_until(c, Opened)
        c.send("over tls")
        assert pull_until(c, TextMessage).data == "over tls"


def test_wss_untrusted_certificate_stops(tls_server):
    rec = Recorder()
    with Client(tls_server.url, on_event=rec, **FAST_BACKOFF):  # the Mozilla roots only
        err = rec.wait_for(wsbeat.Error)
        assert err.kind is wsbeat.ErrorKind.CERTIFICATE, err
        assert rec.wait_for(Stopped).reason is StopReason.POLICY_DECLINED


def test_wss_untrusted_certificate_retried_when_asked(tls_server):
    rec = Recorder()
    with Client(
        tls_server.url,
        on_event=rec,
        retry_certificate_errors=True,
        retry_after_cap=1.0,
        **FAST_BACKOFF,
    ):
        assert rec.wait_for(wsbeat.Error).kind is wsbeat.ErrorKind.CERTIFICATE
        assert rec.wait_for(wsbeat.Reconnecting).attempt == 1


def test_wss_bad_pem(tls_server):
    with pytest.raises(wsbeat.TlsError):
        Client(tls_server.url, ca_pem=b"not a certificate")
    with pytest.raises(wsbeat.TlsError):
        Client(tls_server.url, bundled_roots=False)  # would trust nothing
    with pytest.raises(wsbeat.InvalidArgumentError):
        Client(tls_server.url, client_cert=b"x")  # client_key missing


def test_outbox_full_and_message_too_large(free_port):
    with Client(
        f"ws://127.0.0.1:{free_port}",
        outbox_max_messages=2,
        max_message_size=10,
        backoff_initial=5,
    ) as c:
        c.send("one")
        c.send("two")
        with pytest.raises(wsbeat.OutboxFullError):
            c.send("three")
        with pytest.raises(wsbeat.MessageTooLargeError):
            c.send(b"x" * 11)
        assert c.stats.outbox_len == 2
    stopped = pull_until(c, Stopped)
    assert stopped.unsent == ("one", "two")


# --- send_wait: waiting for outbox room -------------------------------------------------------


def test_send_wait_floods_a_tiny_outbox_in_order(echo_server):
    got: "queue.Queue[Any]" = queue.Queue()
    n = 5000
    with Client(
        echo_server.url, outbox_max_messages=8, on_message=lambda c, m: got.put(m)
    ) as c:
        # 8 messages of room: plain send() would raise OutboxFullError here again and again.
        for i in range(n):
            c.send_wait(str(i), timeout=TIMEOUT)
        echoed = [got.get(timeout=TIMEOUT) for _ in range(n)]
    assert echoed == [str(i) for i in range(n)]


def test_send_wait_times_out_and_queues_nothing(free_port):
    with Client(f"ws://127.0.0.1:{free_port}", outbox_max_messages=2, backoff_initial=5) as c:
        c.send("one")
        c.send_wait(b"two", timeout=1)  # room: queued at once
        t0, cpu0 = time.monotonic(), time.thread_time()
        with pytest.raises(wsbeat.OutboxFullError):
            c.send_wait("three", timeout=1.0)  # nothing drains while the server refuses
        took, cpu = time.monotonic() - t0, time.thread_time() - cpu0
        assert 1.0 <= took < 4.0, took
        assert cpu < 0.2, f"{cpu:.3f} s of CPU in {took:.3f} s: it polled instead of sleeping"
        t0 = time.monotonic()
        with pytest.raises(wsbeat.OutboxFullError):
            c.send_wait("four", timeout=0)
        assert time.monotonic() - t0 < 0.25
        assert c.stats.outbox_len == 2
        with pytest.raises(TypeError):
            c.send_wait(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            c.send_wait("x", timeout="1")  # type: ignore[arg-type]
        with pytest.raises(wsbeat.InvalidArgumentError):
            c.send_wait("x", timeout=-1)
        with pytest.raises(wsbeat.InvalidArgumentError):
            c.send_wait("x", timeout=float("nan"))
    stopped = pull_until(c, Stopped)
    assert stopped.unsent == ("one", b"two")
    with pytest.raises(wsbeat.ClosedError):
        c.send_wait("late", timeout=1)


def test_send_wait_ends_with_closed_error_when_closed_from_another_thread(free_port):
    c = Client(f"ws://127.0.0.1:{free_port}", outbox_max_messages=1, backoff_initial=5)
    c.send("fills the outbox")
    result: "queue.Queue[Any]" = queue.Queue()
    started = threading.Event()

    def waiter() -> None:
        started.set()
        try:
            c.send_wait("waits for room", timeout=30)
            result.put("queued")
        except Exception as e:  # noqa: BLE001 - handed to the test
            result.put(e)

    t = threading.Thread(target=waiter)
    t.start()
    assert started.wait(TIMEOUT)
    # If close() runs before the wait begins, send_wait fails at its start with the same
    # error; either way it must not wait out its 30 s (the Rust tests prove the wake-up).
    t0 = time.monotonic()
    c.close()
    outcome = result.get(timeout=TIMEOUT)
    assert isinstance(outcome, wsbeat.ClosedError), outcome
    assert time.monotonic() - t0 < 5.0
    t.join(TIMEOUT)


def test_send_wait_in_a_callback_does_not_wait(echo_server):
    results: "queue.Queue[Any]" = queue.Queue()

    def on_open(c: Client, _ev: Any) -> None:
        # Nothing is written while this callback runs, so the third message finds the
        # outbox full; waiting would wait for this very thread.
        for m in ("p1", "p2", "p3"):
            t0 = time.monotonic()
            try:
                c.send_wait(m, timeout=10)
                results.put((m, "queued", time.monotonic() - t0))
            except wsbeat.OutboxFullError:
                results.put((m, "full", time.monotonic() - t0))

    got: "queue.Queue[Any]" = queue.Queue()
    with Client(
        echo_server.url,
        outbox_max_messages=2,
        on_open=on_open,
        on_message=lambda c, m: got.put(m),
    ):
        outcomes = [results.get(timeout=TIMEOUT) for _ in range(3)]
        assert [(m, r) for m, r, _ in outcomes] == [
            ("p1", "queued"),
            ("p2", "queued"),
            ("p3", "full"),
        ]
        assert outcomes[2][2] < 2.0, outcomes
        assert [got.get(timeout=TIMEOUT) for _ in range(2)] == ["p1", "p2"]


CTRL_C_SEND_WAIT = """
import sys, wsbeat
with wsbeat.Client(sys.argv[1], outbox_max_messages=1, backoff_initial=5) as c:
    c.send("fills the outbox")
    try:
        print("ready", flush=True)
        c.send_wait("waits without limit")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
print("exit", c.state.name, flush=True)
"""


def test_ctrl_c_interrupts_send_wait(free_port):
    p = run_script(CTRL_C_SEND_WAIT, f"ws://127.0.0.1:{free_port}")
    try:
        line = p.stdout.readline()
        assert line.strip() == "ready", (line, p.stderr.read() if p.poll() is not None else "")
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=TIMEOUT)
        assert time.monotonic() - t0 < 5.0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "interrupted" in out and "exit STOPPED" in out, (out, err)
