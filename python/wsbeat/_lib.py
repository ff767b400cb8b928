"""Loading ``libwsbeat`` and declaring its C ABI (``include/wsbeat.h``) for ctypes.

This is the only module that touches ``ctypes.CDLL``. Every function used by the package gets
its ``argtypes`` and ``restype`` here (a missing ``restype`` would truncate pointers to
``int``). ``CDLL`` releases the GIL for the duration of every call, so a blocking call such as
``ws_close`` lets the library's I/O thread run Python callbacks meanwhile.

Library lookup, first match wins:

1. the ``WSBEAT_LIBRARY`` environment variable (a path to the shared library);
2. next to this package (``wsbeat/libwsbeat.so`` etc., for wheels that bundle it);
3. the repository's ``target/release`` then ``target/debug`` (a source checkout, after
   ``cargo build --release``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_int64,
    c_size_t,
    c_uint16,
    c_uint32,
    c_uint64,
    c_uint8,
    c_void_p,
)
from pathlib import Path
from typing import List, Optional

ENV_VAR = "WSBEAT_LIBRARY"
"""The environment variable naming the shared library to load."""

WS_CLOSE_REASON_MAX = 124
WS_MAX_DURATION_MS = 7 * 24 * 3600 * 1000

# ws_result
WS_OK = 0
WS_ERR_TIMEOUT = 12
WS_ERR_CLOSED = 10
WS_ERR_OUTBOX_FULL = 8
WS_ERR_IN_CALLBACK = 14

# ws_event_kind
EV_CONNECTING = 0
EV_OPENED = 1
EV_TEXT = 2
EV_BINARY = 3
EV_PONG = 4
EV_HEARTBEAT_TIMEOUT = 5
EV_CLOSED = 6
EV_RECONNECTING = 7
EV_ERROR = 8
EV_STOPPED = 9

# ws_message_kind
MSG_TEXT = 1
MSG_BINARY = 2

# ws_heartbeat_mode
HEARTBEAT_OFF = 0
HEARTBEAT_PING = 1
HEARTBEAT_SEED_JSON = 2

# ws_log_level
LOG_OFF = 0
LOG_ERROR = 1
LOG_WARN = 2
LOG_INFO = 3
LOG_DEBUG = 4
LOG_TRACE = 5


class ws_message(Structure):
    _fields_ = [
        ("kind", c_uint32),
        ("data", POINTER(c_uint8)),
        ("len", c_size_t),
    ]


class ws_event(Structure):
    # ``data`` is declared ``c_char_p`` (the C type is ``const uint8_t *``; same layout): the
    # library NUL-terminates message payloads, so reading the field copies the payload to
    # ``bytes`` in C, several times cheaper than ``ctypes.string_at``. A payload containing
    # NUL bytes comes back shorter than ``len``: ``events.from_c`` then falls back to
    # ``string_at`` on the raw pointer (``WS_EVENT_DATA_OFFSET``).
    _fields_ = [
        ("kind", c_uint32),
        ("data", c_char_p),
        ("len", c_size_t),
        ("text", c_void_p),
        ("text_len", c_size_t),
        ("close_code", c_uint16),
        ("initiator", c_uint32),
        ("will_reconnect", c_bool),
        ("reconnect", c_bool),
        ("attempt", c_uint32),
        ("delay_ms", c_uint64),
        ("rtt_us", c_uint64),
        ("silent_ms", c_uint64),
        ("error_kind", c_uint32),
        ("stop_reason", c_uint32),
        ("messages", POINTER(ws_message)),
        ("message_count", c_size_t),
    ]


WS_EVENT_DATA_OFFSET: int = ws_event.data.offset


class ws_client_stats(Structure):
    _fields_ = [
        ("connects", c_uint64),
        ("reconnects", c_uint64),
        ("missed_heartbeats", c_uint64),
        ("messages_in", c_uint64),
        ("messages_out", c_uint64),
        ("bytes_in", c_uint64),
        ("bytes_out", c_uint64),
        ("last_rtt_us", c_int64),
        ("smoothed_rtt_us", c_int64),
        ("outbox_len", c_uint64),
        ("uptime_ms", c_int64),
        ("last_close_code", c_uint16),
        ("last_close_reason", c_char * WS_CLOSE_REASON_MAX),
    ]


EVENT_CALLBACK = CFUNCTYPE(None, c_void_p, POINTER(ws_event))
"""``ws_event_callback``: ``(userdata, const ws_event *)``."""

LOG_CALLBACK = CFUNCTYPE(None, c_void_p, c_uint32, c_char_p, c_char_p)
"""``ws_log_callback``: ``(userdata, level, target, message)``."""


class LibraryNotFoundError(OSError):
    """The shared library ``libwsbeat`` could not be found or loaded."""


def _lib_names() -> List[str]:
    if sys.platform == "win32":
        return ["wsbeat.dll"]
    if sys.platform == "darwin":
        return ["libwsbeat.dylib"]
    return ["libwsbeat.so"]


def _candidates() -> List[Path]:
    here = Path(__file__).resolve().parent
    found: List[Path] = []
    for name in _lib_names():
        found.append(here / name)
    # python/wsbeat/_lib.py -> the repository root is two levels above the package.
    for root in (here.parent.parent, Path.cwd()):
        for profile in ("release", "debug"):
            for name in _lib_names():
                found.append(root / "target" / profile / name)
    return found


def find_library() -> Path:
    """Return the path of the shared library that :func:`load` would use.

    Raises :class:`LibraryNotFoundError` with instructions when there is none.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_file():
            raise LibraryNotFoundError(
                f"{ENV_VAR}={env!r} does not name an existing file; point it at "
                f"libwsbeat (built by `cargo build --release` in target/release/)"
            )
        return p
    tried = _candidates()
    for p in tried:
        if p.is_file():
            return p
    listing = "\n  ".join(str(p) for p in tried)
    raise LibraryNotFoundError(
        "libwsbeat shared library not found. Build it with `cargo build --release` in the "
        f"wsbeat repository, or set {ENV_VAR} to its path. Looked in:\n  {listing}"
    )


def _declare(lib: ctypes.CDLL) -> None:
    cfg = c_void_p
    cli = c_void_p
    sigs = {
        "ws_version": ([], c_char_p),
        "ws_result_str": ([c_uint32], c_char_p),
        "ws_last_error": ([], c_void_p),
        "ws_event_kind_str": ([c_uint32], c_char_p),
        "ws_error_kind_str": ([c_uint32], c_char_p),
        "ws_config_new": ([], c_void_p),
        "ws_config_free": ([cfg], None),
        "ws_config_set_heartbeat": ([cfg, c_uint32, c_uint64, c_uint64], c_uint32),
        "ws_config_set_reconnect": ([cfg, c_bool], c_uint32),
        "ws_config_set_backoff": ([cfg, c_uint64, c_uint64, c_double, c_double], c_uint32),
        "ws_config_set_max_attempts": ([cfg, c_uint32], c_uint32),
        "ws_config_set_min_uptime": ([cfg, c_uint64], c_uint32),
        "ws_config_set_retry_after_cap": ([cfg, c_uint64], c_uint32),
        "ws_config_set_retry_certificate_errors": ([cfg, c_bool], c_uint32),
        "ws_config_set_outbox_limits": ([cfg, c_size_t, c_size_t], c_uint32),
        "ws_config_set_max_message_size": ([cfg, c_size_t], c_uint32),
        "ws_config_set_connect_timeout": ([cfg, c_uint64], c_uint32),
        "ws_config_set_close_timeout": ([cfg, c_uint64], c_uint32),
        "ws_config_set_event_capacity": ([cfg, c_size_t], c_uint32),
        "ws_config_add_header": ([cfg, c_char_p, c_char_p], c_uint32),
        "ws_config_add_subprotocol": ([cfg, c_char_p], c_uint32),
        "ws_config_tls_add_ca_pem": ([cfg, c_char_p, c_size_t], c_uint32),
        "ws_config_tls_add_ca_file": ([cfg, c_char_p], c_uint32),
        "ws_config_tls_set_client_cert_pem": (
            [cfg, c_char_p, c_size_t, c_char_p, c_size_t],
            c_uint32,
        ),
        "ws_config_tls_set_bundled_roots": ([cfg, c_bool], c_uint32),
        "ws_config_tls_set_native_roots": ([cfg, c_bool], c_uint32),
        "ws_config_tls_dangerous_disable_verification": ([cfg, c_bool], c_uint32),
        "ws_connect": (
            [c_char_p, cfg, EVENT_CALLBACK, c_void_p, POINTER(c_void_p)],
            c_uint32,
        ),
        "ws_send": ([cli, c_char_p, c_size_t, c_uint32], c_uint32),
        "ws_send_wait": ([cli, c_char_p, c_size_t, c_uint32, c_int64], c_uint32),
        "ws_close": ([cli, c_uint16, c_char_p], c_uint32),
        "ws_reconnect_now": ([cli], c_uint32),
        "ws_free": ([cli], c_uint32),
        "ws_state": ([cli, POINTER(c_uint32)], c_uint32),
        "ws_stats": ([cli, POINTER(ws_client_stats)], c_uint32),
        "ws_next_event": ([cli, c_int64, POINTER(ws_event)], c_uint32),
        "ws_event_release": ([cli], c_uint32),
        "ws_set_logger": ([LOG_CALLBACK, c_void_p, c_uint32], c_uint32),
        "ws_clear_logger": ([], c_uint32),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res


def load() -> ctypes.CDLL:
    """Find, load and declare the library. Raises :class:`LibraryNotFoundError`."""
    path = find_library()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise LibraryNotFoundError(f"cannot load {path}: {e}") from e
    try:
        _declare(lib)
    except AttributeError as e:
        raise LibraryNotFoundError(
            f"{path} is not a compatible libwsbeat (missing symbol: {e}); rebuild it with "
            "`cargo build --release`"
        ) from e
    return lib


_lib: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use)."""
    global _lib
    if _lib is None:
        _lib = load()
    return _lib


def last_error() -> str:
    """``ws_last_error()`` of the calling thread, copied into a ``str``."""
    p = lib().ws_last_error()
    if not p:
        return ""
    return ctypes.string_at(p).decode("utf-8", "replace")


def result_str(code: int) -> str:
    """``ws_result_str(code)``."""
    s = lib().ws_result_str(code)
    return s.decode("utf-8", "replace") if s else "unknown result code"
