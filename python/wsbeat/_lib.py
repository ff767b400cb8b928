"""Loading ``libwsbeat`` and declaring its C ABI (``include/wsbeat.h``) for ctypes.

This is the only module that touches ``ctypes.CDLL``. Every function of the header gets its
``argtypes`` and ``restype`` here, from the generated ``_abi`` module (a missing ``restype`` would truncate pointers to
``int``). ``CDLL`` releases the GIL for the duration of every call, so a blocking call such as
``ws_close`` lets the library's I/O thread run Python callbacks meanwhile.

Library lookup, first match wins:

1. the ``WSBEAT_LIBRARY`` environment variable (a path to the shared library): an override;
2. the library bundled in the package (``wsbeat/libwsbeat.so``; the wheel built by
   ``pip install ./python`` carries it);
3. when the package is imported from a wsbeat checkout (``python/wsbeat`` beside the
   workspace's ``Cargo.toml``, e.g. ``PYTHONPATH=python``), the
   workspace's ``target/release`` then ``target/debug``.

Nothing else: not the current directory, not paths derived from ``site-packages``.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import List, Optional

from . import _abi
from ._abi import ws_client_stats, ws_event, ws_message

ENV_VAR = "WSBEAT_LIBRARY"
"""The environment variable naming the shared library to load."""

# Every number below comes from include/wsbeat.h through the generated _abi module; these are
# short aliases for the ones the package uses.
WS_CLOSE_REASON_MAX = _abi.WS_CLOSE_REASON_MAX
WS_MAX_DURATION_MS = _abi.WS_MAX_DURATION_MS
WS_MAX_RUNTIME_THREADS = _abi.WS_MAX_RUNTIME_THREADS

# ws_result
WS_OK = _abi.WS_OK
WS_ERR_INVALID_ARGUMENT = _abi.WS_ERR_INVALID_ARGUMENT
WS_ERR_TIMEOUT = _abi.WS_ERR_TIMEOUT
WS_ERR_CLOSED = _abi.WS_ERR_CLOSED
WS_ERR_OUTBOX_FULL = _abi.WS_ERR_OUTBOX_FULL
WS_ERR_IN_CALLBACK = _abi.WS_ERR_IN_CALLBACK
WS_ERR_WRONG_MODE = _abi.WS_ERR_WRONG_MODE

# ws_event_kind
EV_CONNECTING = _abi.WS_EVENT_CONNECTING
EV_OPENED = _abi.WS_EVENT_OPENED
EV_TEXT = _abi.WS_EVENT_TEXT
EV_BINARY = _abi.WS_EVENT_BINARY
EV_PONG = _abi.WS_EVENT_PONG
EV_HEARTBEAT_TIMEOUT = _abi.WS_EVENT_HEARTBEAT_TIMEOUT
EV_CLOSED = _abi.WS_EVENT_CLOSED
EV_RECONNECTING = _abi.WS_EVENT_RECONNECTING
EV_ERROR = _abi.WS_EVENT_ERROR
EV_STOPPED = _abi.WS_EVENT_STOPPED

# ws_message_kind
MSG_TEXT = _abi.WS_MESSAGE_TEXT
MSG_BINARY = _abi.WS_MESSAGE_BINARY

# ws_heartbeat_mode
HEARTBEAT_OFF = _abi.WS_HEARTBEAT_OFF
HEARTBEAT_PING = _abi.WS_HEARTBEAT_PING
HEARTBEAT_SEED_JSON = _abi.WS_HEARTBEAT_SEED_JSON

# ws_log_level
LOG_OFF = _abi.WS_LOG_OFF
LOG_ERROR = _abi.WS_LOG_ERROR
LOG_WARN = _abi.WS_LOG_WARN
LOG_INFO = _abi.WS_LOG_INFO
LOG_DEBUG = _abi.WS_LOG_DEBUG
LOG_TRACE = _abi.WS_LOG_TRACE

__all__ = ["ws_message", "ws_event", "ws_client_stats", "ENV_VAR", "LibraryNotFoundError"]

WS_EVENT_DATA_OFFSET: int = ws_event.data.offset

EVENT_CALLBACK = _abi.WS_EVENT_CALLBACK
"""``ws_event_callback``: ``(userdata, const ws_event *)``."""

LOG_CALLBACK = _abi.WS_LOG_CALLBACK
"""``ws_log_callback``: ``(userdata, level, target, message)``."""


class LibraryNotFoundError(OSError):
    """The shared library ``libwsbeat`` could not be found or loaded."""


def _lib_names() -> List[str]:
    if sys.platform == "win32":
        return ["wsbeat.dll"]
    if sys.platform == "darwin":
        return ["libwsbeat.dylib"]
    return ["libwsbeat.so"]


def _workspace_root() -> Optional[Path]:
    """The wsbeat checkout this package is imported from, if any: ``<root>/python/wsbeat``
    with the workspace ``Cargo.toml`` and the ``ffi`` crate at ``<root>``."""
    here = Path(__file__).resolve().parent
    root = here.parent.parent
    if here.parent.name == "python" and (root / "Cargo.toml").is_file() and (
        root / "ffi" / "Cargo.toml"
    ).is_file():
        return root
    return None


def _candidates() -> List[Path]:
    here = Path(__file__).resolve().parent
    found = [here / name for name in _lib_names()]
    root = _workspace_root()
    if root is not None:
        for profile in ("release", "debug"):
            found += [root / "target" / profile / name for name in _lib_names()]
    return found


def find_library() -> Path:
    """Return the path of the shared library that :func:`load` would use.

    Raises :class:`LibraryNotFoundError`, naming every place it looked, when there is none.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_file():
            raise LibraryNotFoundError(
                f"{ENV_VAR}={env!r} does not name an existing file; point it at "
                "libwsbeat.so, or unset it to use the library bundled with the package"
            )
        return p
    tried = _candidates()
    for p in tried:
        if p.is_file():
            return p
    listing = "\n  ".join(str(p) for p in tried)
    how = (
        "build it with `cargo build --release -p wsbeat-ffi` in this checkout"
        if _workspace_root() is not None
        else "reinstall the package with `pip install ./python` from a wsbeat checkout "
        "(it builds and bundles the library)"
    )
    raise LibraryNotFoundError(
        f"libwsbeat shared library not found: {how}, or set {ENV_VAR} to its path. "
        f"Looked in:\n  {listing}"
    )


def _declare(lib: ctypes.CDLL) -> None:
    """Give every function of the header its ``argtypes``/``restype`` (from ``_abi``)."""
    for name, (args, res) in _abi.FUNCTIONS.items():
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
    p: Optional[bytes] = lib().ws_last_error()
    return p.decode("utf-8", "replace") if p else ""


def result_str(code: int) -> str:
    """``ws_result_str(code)``."""
    s = lib().ws_result_str(code)
    return s.decode("utf-8", "replace") if s else "unknown result code"
