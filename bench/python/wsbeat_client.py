"""Benchmark client on wsbeat's Python layer (ctypes over libwsbeat).

Speaks the harness's measure command line (see BENCHMARKS.md), like ws_client.py:
    wsbeat_client.py --url URL --mode latency|throughput --n N --size BYTES [--warmup N]
                     [--api pull|callback]
and prints one JSON object with the same fields.

--api pull (default): the main thread sends, then takes the echo with next_event().
--api callback: the next message is sent from inside on_message (on the library's I/O thread,
    as a Node.js user would write it); the main thread only waits for the end.
Throughput always uses pull mode for the final acknowledgement; send_wait sleeps while the
outbox is full (at most TIMEOUT * 4 per message: a timeout ends the measure).
Every client uses the library's default configuration (a 20 s ping heartbeat), like the
Rust and C clients.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import wsbeat  # noqa: E402
from bench_common import emit, latency_result, parse_args, throughput_result  # noqa: E402

TIMEOUT = 30.0


def wait_open(c):
    while True:
        ev = c.next_event(TIMEOUT)
        if isinstance(ev, wsbeat.Opened):
            return
        if ev is None or isinstance(ev, (wsbeat.Stopped, wsbeat.Error)):
            raise SystemExit(f"not opened: {ev!r}")


def latency_pull(args):
    payload = "x" * args.size
    clock = time.perf_counter_ns
    samples = []
    with wsbeat.Client(args.url + "/echo") as c:
        wait_open(c)
        for i in range(args.warmup + args.n):
            t0 = clock()
            c.send(payload)
            while True:
                ev = c.next_event(TIMEOUT)
                if isinstance(ev, wsbeat.TextMessage):
                    break
                if ev is None or isinstance(ev, (wsbeat.Closed, wsbeat.Stopped)):
                    raise SystemExit(f"no echo: {ev!r}")
            if i >= args.warmup:
                samples.append(clock() - t0)
    return latency_result(samples)


def latency_callback(args):
    payload = "x" * args.size
    clock = time.perf_counter_ns
    total = args.warmup + args.n
    samples = []
    state = {"i": 0, "t0": 0}
    done = threading.Event()

    def on_open(c, _ev):
        state["t0"] = clock()
        c.send(payload)

    def on_message(c, _data):
        now = clock()
        if state["i"] >= args.warmup:
            samples.append(now - state["t0"])
        state["i"] += 1
        if state["i"] == total:
            done.set()
            return
        state["t0"] = clock()
        c.send(payload)

    with wsbeat.Client(
        args.url + "/echo", on_open=on_open, on_message=on_message
    ):
        if not done.wait(600):
            raise SystemExit("callback round trips did not finish")
    return latency_result(samples)


def throughput(args):
    text = args.size <= 1024
    payload = "x" * args.size if text else b"x" * args.size
    with wsbeat.Client(args.url + "/sink") as c:
        wait_open(c)
        send_wait = c.send_wait
        t0 = time.perf_counter()
        for msg in [payload] * args.n + ["?ack"]:
            send_wait(msg, TIMEOUT * 4)
        while True:
            ev = c.next_event(TIMEOUT * 4)
            if isinstance(ev, wsbeat.TextMessage):
                reply = json.loads(ev.data)
                break
            if ev is None or isinstance(ev, (wsbeat.Closed, wsbeat.Stopped)):
                raise SystemExit(f"no ack: {ev!r}")
        secs = time.perf_counter() - t0
    return throughput_result(args, reply, secs)


def main():
    args = parse_args(with_api=True)
    if args.mode == "throughput":
        result = throughput(args)
    elif args.api == "callback":
        result = latency_callback(args)
    else:
        result = latency_pull(args)
    emit(result)


if __name__ == "__main__":
    main()
