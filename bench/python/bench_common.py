"""What the Python benchmark clients share: the harness's measure command line and the JSON
they print (see BENCHMARKS.md, "Adding a client")."""

import argparse
import json
import math
import sys


def parse_args(with_api=False):
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--mode", choices=["latency", "throughput"], required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--warmup", type=int, default=0)
    if with_api:
        p.add_argument("--api", choices=["pull", "callback"], default="pull")
    return p.parse_args()


def percentile(sorted_ns, p):
    rank = max(1, math.ceil(p * len(sorted_ns)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1]


def latency_result(samples):
    """The latency JSON from round-trip times in nanoseconds."""
    samples.sort()
    return {
        "n": len(samples),
        "p50_us": percentile(samples, 0.50) / 1e3,
        "p99_us": percentile(samples, 0.99) / 1e3,
        "mean_us": round(sum(samples) / len(samples) / 1e3, 1),
    }


def throughput_result(args, reply, secs):
    """The throughput JSON, after checking the sink's count (`reply`, its parsed answer)."""
    if reply["count"] != args.n or reply["bytes"] != args.n * args.size:
        raise SystemExit(f"sink counted {reply}, expected {args.n} messages")
    return {
        "n": args.n,
        "size": args.size,
        "secs": secs,
        "msgs_per_s": args.n / secs,
        "mb_per_s": args.n * args.size / secs / 1e6,
    }


def emit(result):
    print(json.dumps(result))
    sys.stdout.flush()
