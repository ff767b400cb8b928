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

import argparse
import json
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import wsbeat  # noqa: E402

TIMEOUT = 30.0


def percentile(sorted_ns, p):
    rank = max(1, math.ceil(p * len(sorted_ns)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1]


def summary(samples):
    samples.sort()
    return {
        "n": len(samples),
        "p50_us": percentile(samples, 0.50) / 1e3,
        "p99_us": percentile(samples, 0.99) / 1e3,
        "mean_us": round(sum(samples) / len(samples) / 1e3, 1),
    }


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
    return summary(samples)


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
    return summary(samples)


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
    if reply["count"] != args.n or reply["bytes"] != args.n * args.size:
        raise SystemExit(f"sink counted {reply}, expected {args.n} messages")
    return {
        "n": args.n,
        "size": args.size,
        "secs": secs,
        "msgs_per_s": args.n / secs,
        "mb_per_s": args.n * args.size / secs / 1e6,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--mode", choices=["latency", "throughput"], required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--api", choices=["pull", "callback"], default="pull")
    args = p.parse_args()
    if args.mode == "throughput":
        result = throughput(args)
    elif args.api == "callback":
        result = latency_callback(args)
    else:
        result = latency_pull(args)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
