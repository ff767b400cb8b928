#!/usr/bin/env python3
"""The seed's demo page as a terminal program: connect, send "hello world", close, printing
every state change, over the seed's JSON protocol with the seed's timings.

Usage:
    python examples/python/seed_demo.py [URL]      (default ws://127.0.0.1:8002)

Run a seed-protocol server first, e.g. `cargo run --example echo_server` (the seed's server.js
in Rust). The page's three buttons become three steps; the page's event bus
(`changeBtnState`) becomes the printed state changes. Unlike the seed, a manual close never
reconnects, and the reconnect delay backs off instead of retrying every 3 s forever.
Ctrl-C at any point closes cleanly.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import wsbeat  # noqa: E402

T0 = time.monotonic()


def say(what: str) -> None:
    print(f"[{time.monotonic() - T0:7.3f}s] {what}", flush=True)


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8002"
    opened = threading.Event()
    echoed = threading.Event()

    def on_event(client: wsbeat.Client, ev: wsbeat.Event) -> None:
        if isinstance(ev, wsbeat.Connecting):
            say(f"state: connecting (attempt {ev.attempt})")
        elif isinstance(ev, wsbeat.Opened):
            say("state: open  -> Send and Close enabled, Connect disabled")
            opened.set()
        elif isinstance(ev, wsbeat.Pong):
            say(f"heartbeat answered in {ev.rtt_us / 1000:.1f} ms")
        elif isinstance(ev, wsbeat.Closed):
            say(f"state: close -> code {ev.code} {ev.reason!r} ({ev.initiator.name.lower()})"
                + (", will reconnect" if ev.will_reconnect else ""))
        elif isinstance(ev, wsbeat.Reconnecting):
            say(f"reconnect attempt {ev.attempt} in {ev.delay_ms} ms")
        elif isinstance(ev, wsbeat.Error):
            say(f"error ({ev.kind.name.lower()}): {ev.message}")
        elif isinstance(ev, wsbeat.Stopped):
            say(f"stopped: {ev.reason.name.lower()}  -> Connect enabled")

    def on_message(client: wsbeat.Client, msg: wsbeat.Message) -> None:
        try:
            obj = json.loads(msg)
        except (TypeError, ValueError):
            say(f"message (not seed JSON): {msg!r}")
            return
        if obj.get("ModeCode") == "message":
            say(f"message: {obj.get('msg')!r}")
            echoed.set()

    say(f"[Connect] {url}")
    client = wsbeat.Client(
        url,
        heartbeat="seed-json",
        interval=4.0,  # the seed's `time`
        timeout=2.0,  # the seed's `timeout`
        backoff_initial=3.0,  # the seed's `reconnect` delay, as the first backoff step
        on_event=on_event,
        on_message=on_message,
    )
    try:
        with client:
            if not opened.wait(15):
                say("could not connect within 15 s (is the server running?)")
                return 1
            say('[Send] {"ModeCode":"message","msg":"hello world"}')
            client.send(json.dumps({"ModeCode": "message", "msg": "hello world"}))
            if not echoed.wait(5):
                say("no echo within 5 s")
            say("[Close]")
        # `with` closed the client: code 1000, no reconnect.
        st = client.stats
        say(f"done: {st.messages_out} sent, {st.messages_in} received, "
            f"{st.connects} connect(s), state {client.state.name.lower()}")
        return 0
    except KeyboardInterrupt:
        client.close()
        say("interrupted: closed cleanly")
        return 130


if __name__ == "__main__":
    sys.exit(main())
