"""``python -m wsbeat URL``: a small command-line client mirroring the Rust CLI's main options.

Lines read from stdin are sent as text messages; received messages are written to stdout;
a status line per event goes to stderr (``--json``: one JSON object per event on stdout
instead). EOF on stdin closes the connection gracefully.

Exit status: 0 after a normal close (EOF on stdin, or the server closed with 1000 under
``--no-reconnect``); 1 when the client stopped for good otherwise (max attempts reached,
reconnect declined or disabled, ...); 2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import base64
import enum
import json
import re
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from . import (
    BinaryMessage,
    Client,
    Closed,
    Event,
    Initiator,
    Opened,
    Stopped,
    StopReason,
    TextMessage,
    WsbeatError,
)

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """``250ms``, ``4s``, ``1.5s``, ``1m``, ``1h``, ``1m30s`` or a bare number of seconds."""
    t = text.strip()
    try:
        value = float(t)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise argparse.ArgumentTypeError(
                f"invalid duration {text!r} (use e.g. 250ms, 4s, 1.5s, 1m30s)"
            ) from None
        value = sum(float(n) * _UNITS[u] for n, u in parts)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"duration {text!r} must be > 0")
    return value


def header(text: str) -> tuple:  # type: ignore[type-arg]
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"invalid header {text!r} (use 'NAME: VALUE')")
    return (name.strip(), value.strip())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wsbeat",
        description="Connect to URL and keep the connection alive (heartbeats, dead-peer "
        "detection, reconnection). Lines from stdin are sent as text messages; received "
        "messages are written to stdout; EOF on stdin closes gracefully.",
        epilog="Exit status: 0 after a normal close, 1 when the client stopped for good "
        "otherwise, 2 for invalid arguments.",
    )
    p.add_argument("url", help="ws:// or wss:// URL")
    p.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    p.add_argument("--seed-json", action="store_true",
                   help='wrap each stdin line as {"ModeCode":"message","msg":LINE}')
    p.add_argument("--no-stdin", action="store_true", help="do not read stdin")
    p.add_argument("--heartbeat", choices=["ping", "seed-json", "off"], default="ping")
    p.add_argument("--interval", type=duration, help="idle time before a heartbeat (20s)")
    p.add_argument("--timeout", type=duration, help="wait after a heartbeat (interval/2, <= 10s)")
    p.add_argument("--no-reconnect", action="store_true",
                   help="stop when the connection ends (or the first connect fails)")
    p.add_argument("--backoff-initial", type=duration, help="first reconnect delay (500ms)")
    p.add_argument("--backoff-max", type=duration, help="largest reconnect delay (30s)")
    p.add_argument("--max-attempts", type=int, help="give up after N failed attempts")
    p.add_argument("--header", type=header, action="append", default=[],
                   metavar="'NAME: VALUE'", help="add a request header (repeatable)")
    p.add_argument("--subprotocol", action="append", default=[], help="offer a subprotocol")
    p.add_argument("--connect-timeout", type=duration, help="bound on one attempt (10s)")
    p.add_argument("--ca-file", help="also trust the CA certificates in this PEM file")
    p.add_argument("--insecure", action="store_true",
                   help="DANGEROUS: do not verify the server certificate")
    return p


def _name(ev: Event) -> str:
    if isinstance(ev, TextMessage):
        return "text"
    if isinstance(ev, BinaryMessage):
        return "binary"
    return re.sub(r"(?<!^)([A-Z])", r"_\1", type(ev).__name__).lower()


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"base64": base64.b64encode(v).decode()}
    if isinstance(v, tuple):
        return [_jsonable(x) if isinstance(x, bytes) else {"text": x} for x in v]
    if isinstance(v, enum.Enum):
        return v.name.lower()
    return v


def event_json(ev: Event) -> Dict[str, Any]:
    """An event as one JSON object: ``event`` (its name), its fields, ``ts`` (Unix ms)."""
    out: Dict[str, Any] = {"event": _name(ev)}
    for k, v in vars(ev).items():
        out[k] = _jsonable(v)
    out["ts"] = int(time.time() * 1000)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = parser().parse_args(argv)
    options: Dict[str, Any] = dict(
        heartbeat=a.heartbeat, interval=a.interval, timeout=a.timeout,
        reconnect=not a.no_reconnect, backoff_initial=a.backoff_initial,
        backoff_max=a.backoff_max, max_attempts=a.max_attempts, headers=a.header,
        subprotocols=a.subprotocol, connect_timeout=a.connect_timeout, ca_file=a.ca_file,
        insecure=a.insecure,
    )
    try:
        client = Client(a.url, **{k: v for k, v in options.items() if v is not None})
    except (WsbeatError, ValueError, TypeError) as e:
        print(f"python -m wsbeat: error: {e}", file=sys.stderr)
        return 2

    opened = threading.Event()
    done = threading.Event()

    def pump_stdin() -> None:
        # The first line waits for the first open, so that `echo hi | python -m wsbeat URL`
        # sends before EOF closes (later lines are queued across reconnects as usual).
        while not opened.wait(0.1):
            if done.is_set():
                return
        try:
            for line in sys.stdin:
                line = line.rstrip("\r\n")
                msg = json.dumps({"ModeCode": "message", "msg": line}) if a.seed_json else line
                client.send_wait(msg)
        except WsbeatError:
            return  # closed meanwhile
        except (OSError, ValueError):
            pass
        client.close()

    if not a.no_stdin:
        threading.Thread(target=pump_stdin, name="wsbeat-stdin", daemon=True).start()
    last_close: Optional[Closed] = None
    stopped: Optional[Stopped] = None
    t0 = time.monotonic()
    try:
        for ev in client:
            if a.json:
                print(json.dumps(event_json(ev)), flush=True)
            elif isinstance(ev, (TextMessage, BinaryMessage)):
                data = ev.data
                if isinstance(data, bytes):
                    sys.stdout.buffer.write(data + b"\n")
                    sys.stdout.flush()
                else:
                    print(data, flush=True)
            else:
                print(f"[{time.monotonic() - t0:8.3f}s] {ev}", file=sys.stderr, flush=True)
            if isinstance(ev, Opened):
                opened.set()
            if isinstance(ev, Closed):
                last_close = ev
            if isinstance(ev, Stopped):
                stopped = ev
    except KeyboardInterrupt:
        client.close()
        return 130
    finally:
        done.set()
        client.close()
    if stopped is None or stopped.reason is StopReason.CLOSED:
        return 0
    if (
        stopped.reason is StopReason.RECONNECT_DISABLED
        and last_close is not None
        and last_close.code == 1000
        and last_close.initiator is Initiator.REMOTE
    ):
        return 0
    if not a.json:
        print(f"python -m wsbeat: stopped: {stopped}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
