"""Callback mode: the event trampoline that the library's I/O thread calls, the registry that
maps its ``userdata`` to a :class:`~wsbeat.Client`, and the pinning of the I/O thread's
Python thread state between callbacks.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from typing import TYPE_CHECKING, Any, Dict, Optional

from . import _lib
from ._handle import Handle, mark_callback, unmark_callback
from ._log import log
from .events import _payload, from_c

if TYPE_CHECKING:
    from .client import Client

_registry: Dict[int, "Client"] = {}
_registry_lock = threading.Lock()
_keys = itertools.count(1)

_EV_TEXT = _lib.EV_TEXT
_EV_BINARY = _lib.EV_BINARY
_EV_STOPPED = _lib.EV_STOPPED
_get_ident = threading.get_ident


def register(client: "Client") -> int:
    """Register a callback-mode client; returns the key passed as ``userdata``."""
    key = next(_keys)
    with _registry_lock:
        _registry[key] = client
    return key


def unregister(key: int) -> None:
    """Forget a client (no callback reaches it afterwards)."""
    if key:
        with _registry_lock:
            _registry.pop(key, None)


def _event_callback(userdata: Optional[int], event_ptr: Any) -> None:
    try:
        client = _registry.get(userdata or 0)
        if client is None:
            return
        rt = client._h.runtime
        if rt is None:
            _dispatch(client, event_ptr)
            return
        # On a runtime thread, shared with other clients: mark whose runtime's callback runs
        # here, for Handle.on_io_thread (nothing may wait there for a client of this runtime).
        marked = mark_callback(rt)
        try:
            _dispatch(client, event_ptr)
        finally:
            unmark_callback(marked)
    except BaseException:  # noqa: BLE001 - nothing may escape into the library's thread
        try:
            log.exception("wsbeat: error while dispatching an event")
        except BaseException:  # noqa: BLE001
            pass


def _dispatch(client: "Client", event_ptr: Any) -> None:
    h = client._h
    if h.gil_pin is None:
        # First callback on this client's I/O thread: keep its Python thread state
        # alive between callbacks (see below).
        h.io_thread = _get_ident()
        h.gil_pin = _gil_ensure()
    ev = event_ptr.contents
    k = ev.kind
    if k == _EV_TEXT or k == _EV_BINARY:
        cb = client._on_data
        if cb is not None:
            # Fast path (on_message without on_event): no event object is built.
            data = _payload(ev)
            try:
                cb(client, data.decode("utf-8", "replace") if k == _EV_TEXT else data)
            except BaseException:  # noqa: BLE001 - SystemExit too: it cannot propagate
                log.exception("wsbeat: exception in on_message callback (ignored)")
            return
    if k == _EV_STOPPED:
        try:
            client._deliver(from_c(ev))
        finally:
            unpin_thread_state(h)
        return
    client._deliver(from_c(ev))


# Keeping the I/O thread's Python thread state between callbacks. A ctypes callback on a
# thread Python did not create runs between PyGILState_Ensure and PyGILState_Release; when
# no thread state exists, Ensure creates one and Release destroys it again, on every call
# (measured: about 20 us of a 55 us round trip on the benchmark VM). One extra Ensure on
# the first callback keeps the I/O thread's thread state (the GIL is still released between
# callbacks); the matching Release runs after the Stopped event, the last callback of the
# client, so the thread state is destroyed normally when ctypes releases it. On a runtime
# thread each of its clients takes one such reference (PyGILState_Ensure nests: a counter
# on the thread's state) and gives it back after its own Stopped, in any order; the thread
# state lives while any client of that thread does.
_gil_ensure = ctypes.pythonapi.PyGILState_Ensure
_gil_ensure.argtypes = []
_gil_ensure.restype = ctypes.c_int
_gil_release = ctypes.pythonapi.PyGILState_Release
_gil_release.argtypes = [ctypes.c_int]
_gil_release.restype = None


def unpin_thread_state(h: Handle) -> None:
    """Release the extra thread-state reference taken on the I/O thread's first callback."""
    pin = h.gil_pin
    if pin is not None and h.io_thread == _get_ident():
        h.gil_pin = None
        _gil_release(pin)


EVENT_TRAMPOLINE = _lib.EVENT_CALLBACK(_event_callback)  # lives as long as the module
"""The ``ws_event_callback`` every callback-mode client is created with."""
NULL_CALLBACK = _lib.EVENT_CALLBACK()
"""NULL: pull mode."""
