"""The logging bridge: the library's log records go to the ``wsbeat`` Python logger.

One module-level trampoline (``ws_set_logger``) is installed process-wide; records are
filtered in the library at the logger's effective level, so levels that are off cost nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from . import _lib

log = logging.getLogger("wsbeat")
"""The logger that receives the library's log records and callback exceptions."""

TRACE = 5
"""The Python logging level used for the library's ``trace`` records (below DEBUG)."""

_LEVELS = {
    _lib.LOG_ERROR: logging.ERROR,
    _lib.LOG_WARN: logging.WARNING,
    _lib.LOG_INFO: logging.INFO,
    _lib.LOG_DEBUG: logging.DEBUG,
    _lib.LOG_TRACE: TRACE,
}


def _log_callback(_userdata: Optional[int], level: int, target: bytes, message: bytes) -> None:
    try:
        log.log(
            _LEVELS.get(level, logging.INFO),
            "%s",
            message.decode("utf-8", "replace") if message else "",
            extra={"rust_target": target.decode("utf-8", "replace") if target else ""},
        )
    except BaseException:  # noqa: BLE001 - nothing may escape into the library's thread
        pass


_LOG_TRAMPOLINE = _lib.LOG_CALLBACK(_log_callback)  # lives as long as the module
_logger_level: Optional[int] = None
_logger_lock = threading.Lock()


def _max_level_for(py_level: int) -> int:
    if py_level <= TRACE:
        return _lib.LOG_TRACE
    if py_level <= logging.DEBUG:
        return _lib.LOG_DEBUG
    if py_level <= logging.INFO:
        return _lib.LOG_INFO
    if py_level <= logging.WARNING:
        return _lib.LOG_WARN
    return _lib.LOG_ERROR


def refresh_logging() -> None:
    """Route the library's log records to the ``wsbeat`` Python logger, up to its current
    effective level.

    Called automatically whenever a :class:`Client` is created; call it yourself after
    lowering the ``wsbeat`` logger's level (e.g. to ``DEBUG``) while clients already run.
    Records are filtered in the library, so levels that are off cost nothing.
    """
    global _logger_level
    want = _max_level_for(log.getEffectiveLevel())
    with _logger_lock:
        if want == _logger_level:
            return
        rc = _lib.lib().ws_set_logger(_LOG_TRAMPOLINE, None, want)
        # On failure another Rust logger owns the process, or we are inside a logger
        # callback: do not retry on every Client.
        _logger_level = want
        if rc != _lib.WS_OK:
            log.debug("ws_set_logger failed: %s", _lib.last_error())


def clear_logging() -> None:
    """Remove the bridge (at interpreter exit, so no record reaches a finalizing Python)."""
    if _lib._lib is not None:
        try:
            _lib._lib.ws_clear_logger()
        except BaseException:  # noqa: BLE001
            pass
