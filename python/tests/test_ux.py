"""Python the way websocket-client users expect (issue 16): recv(), connect(), readable events,
a safe wait(), and the bugs found by using the package as a user would."""

from __future__ import annotations

import array
import json
import math
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

import wsbeat
from wsbeat import Client, StopReason, Stopped

from conftest import REPO, TIMEOUT, run_script

FAST = dict(backoff_initial=0.05, backoff_max=0.2, backoff_jitter=0.0)


# --- recv() and connect() ---------------------------------------------------------------------


def test_recv_returns_the_next_message(echo_server):
    with Client(echo_server.url) as c:
        c.send("text")
        c.send(b"\x00bytes")
        assert c.recv(timeout=TIMEOUT) == "text"
        assert c.recv(timeout=TIMEOUT) == b"\x00bytes"
        with pytest.raises(TimeoutError):
            c.recv(timeout=0.05)
        c.send("after a timeout")
        assert c.recv() == "after a timeout"  # timeout=None: no limit


def test_recv_after_close_raises_closed(echo_server):
    c = Client(echo_server.url)
    c.close()
    with pytest.raises(wsbeat.ClosedError):
        c.recv(timeout=TIMEOUT)


def test_recv_on_a_callback_client_is_wrong_mode(echo_server):
    with Client(echo_server.url, on_event=lambda c, e: None) as c:
        with pytest.raises(wsbeat.WrongModeError):
            c.recv(timeout=0)


def test_connect_returns_once_open(echo_server):
    with wsbeat.connect(echo_server.url, heartbeat="ping", interval=1) as c:
        assert c.state is wsbeat.State.OPEN
        c.send("hi")
        assert c.recv(timeout=TIMEOUT) == "hi"


def test_connect_raises_the_connect_error(free_port):
    t0 = time.monotonic()
    with pytest.raises(wsbeat.ConnectError) as e:
        wsbeat.connect(f"ws://127.0.0.1:{free_port}", **FAST)
    assert e.value.kind is wsbeat.ErrorKind.CONNECT
    assert "127.0.0.1" in str(e.value) or e.value.detail
    assert time.monotonic() - t0 < TIMEOUT


def test_connect_timeout_bounds_the_wait(silent_server):
    # A server that accepts TCP but never answers the handshake is bounded by timeout=.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises((wsbeat.ConnectError, TimeoutError)):
            wsbeat.connect(f"ws://127.0.0.1:{port}", timeout=0.3)
        assert time.monotonic() - t0 < 3


# --- readable events --------------------------------------------------------------------------


def test_events_and_reasons_read_as_names():
    st = Stopped(StopReason.CLOSED, 0, "")
    assert str(StopReason.CLOSED) == "closed"
    assert f"{StopReason.MAX_ATTEMPTS}" == "max_attempts"
    assert "stopped: closed" == f"stopped: {st.reason}"
    assert str(st) == "Stopped: closed"
    assert repr(st) == "Stopped(reason=StopReason.CLOSED, attempt=0, detail='', unsent=())"
    closed = wsbeat.Closed(1000, "bye", wsbeat.Initiator.REMOTE, True)
    assert str(closed) == "Closed: 1000 'bye' by remote, will reconnect"
    assert "Initiator.REMOTE" in repr(closed)
    err = wsbeat.Error(wsbeat.ErrorKind.CONNECT, "refused")
    assert str(err) == "Error: connect: refused"
    assert str(wsbeat.TextMessage("hi")) == "TextMessage: 'hi'"
    assert str(wsbeat.Pong(1500)) == "Pong: 1.5 ms"
    assert str(wsbeat.State.OPEN) == "open"
    # Still ints, comparable with the C values.
    assert StopReason.CLOSED == 1
    # A value from a newer library keeps a name.
    assert str(StopReason(42)) == "unknown_42"


# --- wait() -----------------------------------------------------------------------------------


def test_wait_inside_a_callback_raises_instead_of_hanging(echo_server):
    seen: List[BaseException] = []
    done = threading.Event()

    def on_open(c: Client, ev: Any) -> None:
        t0 = time.monotonic()
        try:
            c.wait(timeout=2)
        except BaseException as e:  # noqa: BLE001
            seen.append(e)
        seen.append(time.monotonic() - t0)  # type: ignore[arg-type]
        done.set()

    with Client(echo_server.url, on_open=on_open) as c:
        assert done.wait(TIMEOUT)
    assert isinstance(seen[0], wsbeat.InCallbackError), seen
    assert seen[1] < 0.5  # raised at once, not after the timeout


def test_system_exit_in_on_event_does_not_block_wait(echo_server):
    def on_event(c: Client, ev: Any) -> None:
        if isinstance(ev, Stopped):
            raise SystemExit(3)

    c = Client(echo_server.url, on_event=on_event)
    c.close()
    stopped = c.wait(timeout=TIMEOUT)
    assert isinstance(stopped, Stopped) and stopped.reason is StopReason.CLOSED


# --- argument bugs ----------------------------------------------------------------------------


def test_heartbeat_off_without_interval_turns_the_heartbeat_off():
    # Before: no ws_config_set_heartbeat call at all, so the library default (a ping every
    # 20 s) stayed on. Observing that on the wire takes 20 s; the C call is checked instead.
    cfg = wsbeat.Config.from_options(heartbeat="off")
    calls = dict(cfg._calls)
    assert calls["ws_config_set_heartbeat"][0] == wsbeat._abi.WS_HEARTBEAT_OFF
    # The same through Config's setter.
    calls = dict(wsbeat.Config().heartbeat("off")._calls)
    assert calls["ws_config_set_heartbeat"][0] == wsbeat._abi.WS_HEARTBEAT_OFF


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e300])
def test_non_finite_or_huge_durations_are_value_errors(bad, echo_server):
    with pytest.raises(ValueError):
        Client(echo_server.url, interval=bad)
    with pytest.raises(ValueError):
        Client(echo_server.url, close_timeout=bad)


def test_bytes_like_messages_are_accepted(echo_server):
    with Client(echo_server.url) as c:
        c.send(array.array("B", b"abc"))
        assert c.recv(timeout=TIMEOUT) == b"abc"
        c.send(memoryview(b"hello")[1:3])
        assert c.recv(timeout=TIMEOUT) == b"el"
        c.send(array.array("i", [1]))
        assert c.recv(timeout=TIMEOUT) == array.array("i", [1]).tobytes()
        c.send(memoryview(b"abcdef")[::2])  # not contiguous: copied in order
        assert c.recv(timeout=TIMEOUT) == b"ace"
        c.send_wait(bytearray(b"xy"), timeout=TIMEOUT)
        assert c.recv(timeout=TIMEOUT) == b"xy"
        with pytest.raises(TypeError):
            c.send(123)  # type: ignore[arg-type]


# --- exit and Ctrl-C --------------------------------------------------------------------------


def test_exit_closes_live_clients_concurrently(silent_server):
    code = """
import sys, time, wsbeat
clients = [wsbeat.Client(sys.argv[1], close_timeout=1.0) for _ in range(5)]
for c in clients:
    while c.next_event(5) is not None and c.state is not wsbeat.State.OPEN:
        pass
print("open", flush=True)
"""
    p = run_script(code, silent_server.url)
    line = p.stdout.readline()
    assert line.strip() == "open", p.stderr.read() if p.poll() is not None else line
    t0 = time.monotonic()
    p.wait(TIMEOUT * 2)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr.read()
    # One close timeout (1 s) plus the free margin, not five of them (serial: > 5 s).
    assert elapsed < 3.0, elapsed


def test_ctrl_c_interrupts_a_blocking_close(silent_server):
    code = """
import os, signal, sys, threading, time, wsbeat
c = wsbeat.Client(sys.argv[1], close_timeout=5.0)
while c.state is not wsbeat.State.OPEN:
    c.next_event(1)
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t0 = time.monotonic()
try:
    c.close()
    print("closed", time.monotonic() - t0, flush=True)
except KeyboardInterrupt:
    print("interrupted", time.monotonic() - t0, flush=True)
"""
    p = run_script(code, silent_server.url)
    out, err = p.communicate(timeout=TIMEOUT * 2)
    assert out.startswith("interrupted"), (out, err)
    assert float(out.split()[1]) < 2.0, out


# --- the docs and the demo --------------------------------------------------------------------


def _doc_blocks() -> List[str]:
    text = (REPO / "docs" / "PYTHON.md").read_text()
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", text, re.S)]


def test_every_python_recipe_in_the_docs_runs_against_the_seed_server(strict_seed_server):
    blocks = _doc_blocks()
    assert len(blocks) >= 4
    for i, code in enumerate(blocks):
        code = code.replace("ws://127.0.0.1:8002", strict_seed_server.url)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=TIMEOUT * 3)
        assert p.returncode == 0, (i, code, p.stdout, p.stderr)
    # Everything the recipes sent was seed JSON (the seed's server.js crashes otherwise).
    assert strict_seed_server.not_json == [], strict_seed_server.not_json


def test_the_cli_recipes_in_the_docs_run_against_the_seed_server(strict_seed_server):
    text = (REPO / "docs" / "PYTHON.md").read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("echo ") and "python -m wsbeat" in ln]
    assert lines
    for line in lines:
        cmd = line.replace("ws://127.0.0.1:8002", strict_seed_server.url).replace(
            "python -m wsbeat", f"{sys.executable} -m wsbeat")
        p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True,
                           timeout=TIMEOUT * 2)
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
        sent = json.loads(line.split("'", 2)[1])
        assert json.loads(strict_seed_server.received.get(timeout=TIMEOUT)) == sent
    assert strict_seed_server.not_json == []


def test_seed_demo_shows_the_whole_story(seed_server):
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "seed_demo.py"), seed_server.url],
        capture_output=True, text=True, timeout=TIMEOUT * 4,
    )
    assert out.returncode == 0, out
    text = out.stdout
    steps = [
        "state: open",
        "message: 'hello world'",
        "heartbeat answered",
        "outage: the link goes silent",
        "heartbeat timeout",
        "state: close -> code 1006",
        "outage: connections refused",
        "queued while down: 'queued 1'",
        "queued while down: 'queued 3'",
        "error (",
        "reconnect attempt 3",
        "outage over",
        "state: open (reconnect)",
        "message: 'queued 1'",
        "message: 'queued 2'",
        "message: 'queued 3'",
        "[Close]",
        "stopped: closed",
    ]
    pos = 0
    for s in steps:
        i = text.find(s, pos)
        assert i >= 0, f"{s!r} missing (in order) from:\n{text}"
        pos = i
    assert text.count("heartbeat answered") >= 2
    assert "reconnect attempt 1 in" in text
