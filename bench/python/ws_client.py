"""Benchmark client on Python's websocket-client, the library users would pick instead.

Speaks the harness's measure command line (see BENCHMARKS.md):
    ws_client.py --url ws://127.0.0.1:PORT --mode latency|throughput --n N --size BYTES
                 [--warmup N]
and prints one JSON object: {"p50_us", "p99_us", "mean_us", "n"} for latency,
{"n", "size", "secs", "msgs_per_s", "mb_per_s"} for throughput (to the server's /sink).
"""

import argparse
import json
import math
import sys
import time

import websocket


def percentile(sorted_ns, p):
    rank = max(1, math.ceil(p * len(sorted_ns)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1]


def latency(args):
    ws = websocket.create_connection(args.url + "/echo")  # TCP_NODELAY is on by default
    payload = "x" * args.size
    samples = []
    clock = time.perf_counter_ns
    for i in range(args.warmup + args.n):
        t0 = clock()
        ws.send(payload)
        ws.recv()
        t1 = clock()
        if i >= args.warmup:
            samples.append(t1 - t0)
    ws.close()
    samples.sort()
    return {
        "n": len(samples),
        "p50_us": percentile(samples, 0.50) / 1e3,
        "p99_us": percentile(samples, 0.99) / 1e3,
        "mean_us": round(sum(samples) / len(samples) / 1e3, 1),
    }


def throughput(args):
    ws = websocket.create_connection(args.url + "/sink")
    text = args.size <= 1024
    payload = "x" * args.size if text else b"x" * args.size
    send = ws.send if text else ws.send_binary
    t0 = time.perf_counter()
    for _ in range(args.n):
        send(payload)
    ws.send("?ack")
    reply = json.loads(ws.recv())
    secs = time.perf_counter() - t0
    ws.close()
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
    args = p.parse_args()
    result = latency(args) if args.mode == "latency" else throughput(args)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
