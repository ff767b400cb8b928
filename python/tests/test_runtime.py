"""``wsbeat.Runtime``: many clients on a few shared I/O threads (``Client(url, runtime=rt)``).

Threads are counted by name from ``/proc/self/task/*/comm``: the runtime's are
``wsbeat-rt-N``, a client's own I/O thread is ``wsbeat-io``.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
import weakref
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import wsbeat
from wsbeat import Client, Closed, Opened, Stopped

from conftest import TIMEOUT

CLIENTS = 50


def thread_names() -> List[str]:
    names = []
    for comm in Path("/proc/self/task").glob("*/comm"):
        try:
            names.append(comm.read_text().strip())
        except OSError:
            pass  # the thread has just exited
    return names


def count(prefix: str) -> int:
    return sum(1 for n in thread_names() if n.startswith(prefix))


def settle(prefix: str, want: int) -> int:
    """A thread names itself a moment after it starts, and leaves /proc a moment after it is
    joined: no event tells when, so look again every 10 ms, at most TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    n = count(prefix)
    while n != want and time.monotonic() < deadline:
        time.sleep(0.01)
        n = count(prefix)
    return n


def current_thread_name() -> str:
    return Path("/proc/thread-self/comm").read_text().strip()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"ws://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("bad", [0, -1, wsbeat.runtime.MAX_THREADS + 1, 2**40])
def test_bad_thread_counts_raise_a_clear_error(bad):
    with pytest.raises(wsbeat.InvalidArgumentError, match=r"runtime threads = .* \(1\.\.=256\)"):
        wsbeat.Runtime(bad)


def test_thread_count_must_be_an_int():
    for bad in ["2", 2.0, True, None]:
        with pytest.raises(TypeError, match="threads must be an int"):
            wsbeat.Runtime(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="runtime must be a wsbeat.Runtime"):
        Client("ws://127.0.0.1:1", runtime=2)


def test_fifty_clients_echo_on_two_threads(echo_server):
    assert settle("wsbeat-rt-", 0) == 0
    io_before = count("wsbeat-io")
    lock = threading.Lock()
    got: Dict[int, List[str]] = {i: [] for i in range(CLIENTS)}
    where: Dict[int, set] = {i: set() for i in range(CLIENTS)}
    arrived = threading.Condition(lock)

    def on_message(i: int):
        def cb(client: Client, data: object) -> None:
            name = current_thread_name()
            with arrived:
                got[i].append(str(data))
                where[i].add(name)
                arrived.notify_all()

        return cb

    def wait_all(n: int) -> None:
        with arrived:
            assert arrived.wait_for(lambda: all(len(v) >= n for v in got.values()), TIMEOUT * 3)

    with wsbeat.Runtime(threads=2) as rt:
        assert (rt.threads, rt.clients) == (2, 0)
        assert settle("wsbeat-rt-", 2) == 2
        clients = [
            Client(echo_server.url, runtime=rt, on_message=on_message(i), interval=1.0)
            for i in range(CLIENTS)
        ]
        for i, c in enumerate(clients):
            c.send(f"client-{i}")
        wait_all(1)
        assert rt.clients == CLIENTS
        # Two threads serve all 50: no thread of their own.
        assert count("wsbeat-rt-") == 2
        assert count("wsbeat-io") == io_before
    # The runtime is closed: its clients keep it, and keep working.
    assert rt.closed
    with pytest.raises(wsbeat.ClosedError):
        rt.clients
    for c in clients:
        c.send("after-runtime-close")
    wait_all(2)
    with arrived:
        for i in range(CLIENTS):
            assert got[i] == [f"client-{i}", "after-runtime-close"]  # its own echoes only
            assert where[i] and all(n.startswith("wsbeat-rt-") for n in where[i]), where[i]
    assert count("wsbeat-rt-") == 2
    with pytest.raises(wsbeat.ClosedError, match="runtime is closed"):
        Client(echo_server.url, runtime=rt)
    for c in clients:
        c.close()
    # The last client closed: the threads are gone.
    assert settle("wsbeat-rt-", 0) == 0


def test_pull_mode_on_a_runtime(echo_server):
    with wsbeat.Runtime(1) as rt:
        clients = [Client(echo_server.url, runtime=rt) for _ in range(10)]
        for i, c in enumerate(clients):
            c.send(f"pulled-{i}")
        for i, c in enumerate(clients):
            assert c.recv(timeout=TIMEOUT) == f"pulled-{i}"
        assert count("wsbeat-rt-") == 1
        for c in clients:
            c.close()
            events = list(c)
            assert isinstance(events[-1], Stopped)
            assert any(isinstance(e, Closed) for e in events)


def test_config_runtime_and_back(echo_server):
    with wsbeat.Runtime(1) as rt:
        cfg = wsbeat.Config().runtime(rt)
        assert cfg.runtime_object is rt
        with Client(echo_server.url, cfg) as c:
            c.send("via config")
            assert c.recv(timeout=TIMEOUT) == "via config"
            assert rt.clients == 1
        cfg.runtime(None)
        assert cfg.runtime_object is None
        io_before = count("wsbeat-io")
        with Client(echo_server.url, cfg) as c:
            assert settle("wsbeat-io", io_before + 1) == io_before + 1  # its own thread again
            assert rt.clients == 0


def test_a_client_keeps_its_runtime_object_alive(echo_server):
    rt = wsbeat.Runtime(1)
    ref = weakref.ref(rt)
    c = Client(echo_server.url, runtime=rt)
    del rt
    gc.collect()
    assert ref() is not None  # the client holds it
    c.send("still served")
    assert c.recv(timeout=TIMEOUT) == "still served"
    c.close()
    del c
    gc.collect()
    assert ref() is None
    assert settle("wsbeat-rt-", 0) == 0


def test_other_clients_of_the_runtime_from_a_callback(echo_server):
    """Inside a callback on a runtime thread, nothing may wait for a client of the same
    runtime (the thread may be the one serving it): wait() and next_event() with a timeout
    refuse, send_wait() does not wait, close() returns at once and the events up to Stopped
    still reach next_event."""
    with wsbeat.Runtime(1) as rt:
        other = Client(echo_server.url, runtime=rt)
        assert isinstance(other.next_event(TIMEOUT), wsbeat.Connecting)
        assert isinstance(other.next_event(TIMEOUT), Opened)
        # Never connects (nothing listens): its one-message outbox stays full.
        full = Client(dead_url(), runtime=rt, outbox_max_messages=1, backoff_initial=5.0)
        full.send("fills the outbox")
        outcome: Dict[str, object] = {}
        done = threading.Event()

        def on_message(client: Client, data: object) -> None:
            for name, call in [
                ("wait", lambda: other.wait(1.0)),
                ("next_event", lambda: other.next_event(1.0)),
                ("next_event_0", lambda: other.next_event(0)),
                ("send_wait", lambda: full.send_wait("no room", timeout=None)),
            ]:
                t0 = time.monotonic()
                try:
                    outcome[name] = call()
                except Exception as e:  # noqa: BLE001 - recorded for the asserts
                    outcome[name] = e
                outcome[name + "_s"] = time.monotonic() - t0
            t0 = time.monotonic()
            other.close()
            outcome["close_s"] = time.monotonic() - t0
            done.set()

        trigger = Client(echo_server.url, runtime=rt, on_message=on_message)
        trigger.send("go")
        assert done.wait(TIMEOUT)
        assert isinstance(outcome["wait"], wsbeat.InCallbackError), outcome
        assert isinstance(outcome["next_event"], wsbeat.InCallbackError), outcome
        assert outcome["next_event_0"] is None, outcome
        assert isinstance(outcome["send_wait"], wsbeat.OutboxFullError), outcome
        for name in ["wait_s", "next_event_s", "next_event_0_s", "send_wait_s", "close_s"]:
            assert outcome[name] < 1.0, outcome  # type: ignore[operator]
        # The close went on without the callback; its last events are kept for next_event.
        events = []
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                ev: Optional[wsbeat.Event] = other.next_event(TIMEOUT)
            except wsbeat.ClosedError:
                break
            events.append(ev)
            if isinstance(ev, Stopped):
                break
        assert any(isinstance(e, Closed) for e in events), events
        assert isinstance(events[-1], Stopped), events
        trigger.close()
        full.close()
    assert settle("wsbeat-rt-", 0) == 0


def test_hooks_on_a_runtime_thread_count_as_callbacks(echo_server):
    """A hook (before_connect here) of a client on a runtime runs on the runtime's thread:
    the same rule as for event callbacks applies to the other clients of the runtime."""
    with wsbeat.Runtime(1) as rt:
        other = Client(echo_server.url, runtime=rt)
        seen: Dict[str, object] = {}

        def hook(request: wsbeat.Request) -> None:
            seen["thread"] = current_thread_name()
            try:
                seen["wait"] = other.wait(1.0)
            except Exception as e:  # noqa: BLE001 - recorded for the asserts
                seen["wait"] = e

        with Client(echo_server.url, runtime=rt, before_connect=hook) as c:
            c.send("hooked")
            assert c.recv(timeout=TIMEOUT) == "hooked"
        assert str(seen["thread"]).startswith("wsbeat-rt-"), seen
        assert isinstance(seen["wait"], wsbeat.InCallbackError), seen
        other.close()
