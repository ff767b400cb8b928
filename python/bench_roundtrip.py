#!/usr/bin/env python3
"""Round-trip latency of the Python binding: sequential echo of a 64-byte text message.

Usage: python bench_roundtrip.py URL N

URL must be an echo server (e.g. `cargo run --release --example echo_server`). Sends N messages
one at a time (each waits for its echo), first through the pull API, then through callbacks,
after a short warm-up, and prints one JSON object:

    {"url": ..., "n": N, "size": 64,
     "pull": {"p50_us": ..., "p99_us": ..., "mean_us": ..., "min_us": ..., "max_us": ...},
     "callback": {...}}

The library is found like the package finds it (WSBEAT_LIBRARY, then target/release, ...).
Heartbeats are off so they do not interleave with the measurement.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wsbeat  # noqa: E402

PAYLOAD = "x" * 64
WARMUP = 50
TIMEOUT = 10.0


def _summary(samples_ns: List[int]) -> Dict[str, float]:
    s = sorted(samples_ns)
    n = len(s)

    def pct(p: float) -> float:
        return round(s[min(n - 1, max(0, int(round(p * (n - 1)))))] / 1000.0, 1)

    return {
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "mean_us": round(sum(s) / n / 1000.0, 1),
        "min_us": round(s[0] / 1000.0, 1),
        "max_us": round(s[-1] / 1000.0, 1),
    }


def bench_pull(url: str, n: int) -> Dict[str, float]:
    with wsbeat.Client(url, heartbeat="off") as c:
        while not isinstance(c.next_event(TIMEOUT), wsbeat.Opened):
            pass
        samples = []
        for i in range(WARMUP + n):
            t0 = time.perf_counter_ns()
            c.send(PAYLOAD)
            while True:
                ev = c.next_event(TIMEOUT)
                if isinstance(ev, wsbeat.TextMessage):
                    break
                if ev is None or isinstance(ev, (wsbeat.Closed, wsbeat.Stopped)):
                    raise SystemExit(f"pull: no echo ({ev!r})")
            if i >= WARMUP:
                samples.append(time.perf_counter_ns() - t0)
    return _summary(samples)


def bench_callback(url: str, n: int) -> Dict[str, float]:
    echoes: "queue.Queue[object]" = queue.Queue()
    opened: "queue.Queue[object]" = queue.Queue()
    with wsbeat.Client(
        url,
        heartbeat="off",
        on_open=lambda c, e: opened.put(e),
        on_message=lambda c, m: echoes.put(m),
    ) as c:
        opened.get(timeout=TIMEOUT)
        samples = []
        for i in range(WARMUP + n):
            t0 = time.perf_counter_ns()
            c.send(PAYLOAD)
            echoes.get(timeout=TIMEOUT)
            if i >= WARMUP:
                samples.append(time.perf_counter_ns() - t0)
    return _summary(samples)


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    url, n = argv[1], int(argv[2])
    if n <= 0:
        print("N must be > 0", file=sys.stderr)
        return 2
    result = {
        "url": url,
        "n": n,
        "size": len(PAYLOAD),
        "python": sys.version.split()[0],
        "pull": bench_pull(url, n),
        "callback": bench_callback(url, n),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
