#!/usr/bin/env python3
"""The seed's story in a terminal, like the Rust demo (examples/demo.rs): wsbeat keeping a
connection alive through an outage, over the seed's JSON protocol.

Usage:
    python examples/python/seed_demo.py [URL]      (default ws://127.0.0.1:8002)

Run a seed-protocol server first, e.g. `cargo run -p wsbeat-cli -- --serve` (the seed's
server.js in Rust, on 127.0.0.1:8002). The demo talks to it through a small TCP relay of its
own, so that it can stage the outage against any server:

1. connect with the seed's JSON heartbeat (scaled down to 500 ms / 300 ms), send
   "hello world", watch the echo and a few heartbeats;
2. the link goes silent (a half-open connection: only the heartbeat can notice): the
   heartbeat times out, the connection is dropped (1006) and reconnecting starts;
3. connections are refused for a while (the backoff grows); three messages sent meanwhile
   wait in the outbox;
4. the link comes back: the client reconnects and the queued messages arrive, in order;
5. Close: code 1000, no reconnect.

Every event is printed with its time. Ctrl-C at any point closes cleanly.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import sys
import threading
import time
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import wsbeat  # noqa: E402

T0 = time.monotonic()


def say(what: str) -> None:
    print(f"[{time.monotonic() - T0:7.3f}s] {what}", flush=True)


class Relay:
    """A TCP relay in front of the server: "pass", "silent" (keeps the sockets, forwards
    nothing: a half-open link) or "refuse" (drops every connection, accepts none)."""

    def __init__(self, upstream: Tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.lock = threading.Lock()
        self.conns: List[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
            if mode == "refuse":
                for s in self.conns:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()
                self.conns.clear()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                refuse = self.mode != "pass"
            if refuse:
                down.close()  # refused (a closed connection before the handshake)
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                down.close()
                continue
            with self.lock:
                self.conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    silent = self.mode == "silent"
                if not silent:
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass


def seed(msg: str) -> str:
    return json.dumps({"ModeCode": "message", "msg": msg})


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8002"
    u = urlsplit(url)
    if u.scheme != "ws" or not u.hostname:
        say("the demo relays plain ws:// only (the relay cannot stage an outage inside TLS)")
        return 2
    relay = Relay((u.hostname, u.port or 80))
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    events: "queue.Queue[wsbeat.Event]" = queue.Queue()

    def on_event(client: wsbeat.Client, ev: wsbeat.Event) -> None:
        if isinstance(ev, wsbeat.Connecting):
            say(f"state: connecting (attempt {ev.attempt})")
        elif isinstance(ev, wsbeat.Opened):
            say("state: open" + (" (reconnect)" if ev.reconnect else ""))
        elif isinstance(ev, wsbeat.Pong):
            say(f"heartbeat answered in {ev.rtt_us / 1000:.1f} ms")
        elif isinstance(ev, wsbeat.HeartbeatTimeout):
            say(f"heartbeat timeout: silent for {ev.silent_ms} ms")
        elif isinstance(ev, wsbeat.Closed):
            say(f"state: close -> code {ev.code} {ev.reason!r} ({ev.initiator})"
                + (", will reconnect" if ev.will_reconnect else ""))
        elif isinstance(ev, wsbeat.Reconnecting):
            say(f"reconnect attempt {ev.attempt} in {ev.delay_ms} ms")
        elif isinstance(ev, wsbeat.Error):
            say(f"error ({ev.kind}): {ev.message}")
        elif isinstance(ev, wsbeat.TextMessage):
            try:
                obj = json.loads(ev.data)
            except ValueError:
                obj = {}
            if obj.get("ModeCode") == "message":
                say(f"message: {obj.get('msg')!r}")
        elif isinstance(ev, wsbeat.Stopped):
            say(f"stopped: {ev.reason}")
        events.put(ev)

    def wait_for(pred, within: float, what: str) -> Optional[wsbeat.Event]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} within {within} s")
            try:
                ev = events.get(timeout=left)
            except queue.Empty:
                continue
            if pred(ev):
                return ev

    say(f"[Connect] {url} (through the demo's relay on 127.0.0.1:{relay.port})")
    client = wsbeat.Client(
        f"ws://127.0.0.1:{relay.port}{path}",
        heartbeat="seed-json", interval=0.5, timeout=0.3,   # the seed's 4 s / 2 s, scaled down
        backoff_initial=0.25, backoff_max=2.0, backoff_jitter=0.2,
        on_event=on_event,
    )
    try:
        with client:
            wait_for(lambda e: isinstance(e, wsbeat.Opened), 15, "open (is the server running?)")
            say('[Send] {"ModeCode":"message","msg":"hello world"}')
            client.send(seed("hello world"))
            wait_for(lambda e: isinstance(e, wsbeat.TextMessage), 5, "echo")
            for _ in range(2):
                wait_for(lambda e: isinstance(e, wsbeat.Pong), 5, "heartbeat")

            say("outage: the link goes silent (half-open: nothing arrives, nothing errors)")
            relay.set_mode("silent")
            wait_for(lambda e: isinstance(e, wsbeat.Closed), 5, "dead-peer detection")
            say("outage: connections refused")
            relay.set_mode("refuse")
            for i in (1, 2, 3):
                client.send(seed(f"queued {i}"))
                say(f"queued while down: 'queued {i}' (outbox: {client.stats.outbox_len})")
            wait_for(lambda e: isinstance(e, wsbeat.Reconnecting) and e.attempt >= 3, 10,
                     "a few reconnect attempts")
            say("outage over: the link is back")
            relay.set_mode("pass")
            wait_for(lambda e: isinstance(e, wsbeat.Opened), 10, "the reconnect")
            got = 0
            while got < 3:
                ev = wait_for(lambda e: isinstance(e, wsbeat.TextMessage), 5, "queued echoes")
                got += 1
            wait_for(lambda e: isinstance(e, wsbeat.Pong), 5, "heartbeat")
            say("[Close]")
        # `with` closed the client: code 1000, no reconnect.
        st = client.stats
        say(f"done: {st.messages_out} sent, {st.messages_in} received, {st.connects} "
            f"connects ({st.reconnects} reconnect), {st.missed_heartbeats} missed heartbeat, "
            f"state {client.state}")
        return 0
    except TimeoutError as e:
        say(f"demo failed: {e}")
        return 1
    except KeyboardInterrupt:
        client.close()
        say("interrupted: closed cleanly")
        return 130


if __name__ == "__main__":
    sys.exit(main())
