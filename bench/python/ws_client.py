"""Benchmark client on Python's websocket-client, the library users would pick instead.

Speaks the harness's measure command line (see BENCHMARKS.md):
    ws_client.py --url ws://127.0.0.1:PORT --mode latency|throughput --n N --size BYTES
                 [--warmup N]
and prints one JSON object: {"p50_us", "p99_us", "mean_us", "n"} for latency,
{"n", "size", "secs", "msgs_per_s", "mb_per_s"} for throughput (to the server's /sink).
"""

import json
import time

import websocket

from bench_common import emit, latency_result, parse_args, throughput_result


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
    return latency_result(samples)


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
    return throughput_result(args, reply, secs)


def main():
    args = parse_args()
    emit(latency(args) if args.mode == "latency" else throughput(args))


if __name__ == "__main__":
    main()
