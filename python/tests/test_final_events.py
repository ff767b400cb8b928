"""Issue 12 #3 and #5 from Python: the last events always arrive, and out-of-range numbers
are a clear error (they used to abort the interpreter)."""

from __future__ import annotations

import time

import pytest

import wsbeat
from wsbeat import Client, Closed, Stopped, TextMessage


def test_huge_numbers_are_refused_not_fatal(free_port: int) -> None:
    url = f"ws://127.0.0.1:{free_port}/"
    # 1 << 40 event slots were allocated up front: "Fatal Python error: Aborted".
    with pytest.raises(wsbeat.InvalidArgumentError, match="event capacity"):
        Client(url, event_capacity=1 << 40)
    with pytest.raises(wsbeat.InvalidArgumentError, match="outbox message limit"):
        Client(url, outbox_max_messages=2**62, outbox_max_bytes=1 << 20)
    with pytest.raises(wsbeat.InvalidArgumentError, match="max message size"):
        Client(url, max_message_size=2**63 - 1)


def test_stopped_with_unsent_arrives_after_close_with_a_full_queue(free_port: int) -> None:
    url = f"ws://127.0.0.1:{free_port}/"  # refused: the client keeps reconnecting
    c = Client(url, heartbeat="off", event_capacity=4, backoff_initial=0.01, backoff_max=0.02,
               backoff_jitter=0.0, close_timeout=2.0)
    for i in range(10):
        c.send(f"m{i}")
    time.sleep(0.3)  # the scenario: nobody reads while the queue fills
    t0 = time.monotonic()
    c.close()
    took = time.monotonic() - t0
    assert took < 2.5, f"close took {took:.2f} s"
    events = list(c)
    assert isinstance(events[-1], Stopped), events[-5:]
    assert [m for m in events[-1].unsent] == [f"m{i}" for i in range(10)]


def test_the_readme_pattern_breaking_out_of_the_loop_closes_at_once(echo_server) -> None:
    # `with Client(url) as c: for ev in c: ... break` with many events waiting used to take
    # the whole close timeout (2 s) and lose Stopped.
    with Client(echo_server.url, heartbeat="off", event_capacity=8, close_timeout=2.0) as c:
        for i in range(300):
            c.send(f"n{i}")
        for ev in c:
            if isinstance(ev, TextMessage):
                break
        t0 = time.monotonic()
    took = time.monotonic() - t0
    assert took < 1.5, f"leaving the with block took {took:.2f} s"
    rest = list(c)
    assert isinstance(rest[-1], Stopped), rest[-3:]
    assert any(isinstance(e, Closed) for e in rest)
