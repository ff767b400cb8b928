"""The :class:`Client`: one WebSocket connection kept alive by libwsbeat's I/O thread.

Threading model (see ``docs/PYTHON.md``):

* With callbacks (any ``on_*`` argument), events are delivered on the library's I/O thread,
  one at a time, in order. Callbacks must not block for long. ``send``, ``send_wait`` (it
  does not wait there), ``close``, ``reconnect_now``, ``state`` and ``stats`` may be called
  from inside them.
* Without callbacks the client is in pull mode: call :meth:`Client.next_event` or iterate the
  client; no Python code ever runs on a foreign thread. Consume the events: when the queue is
  full the library stops reading from the socket.

The C handle is guarded so that it is never used after ``ws_free`` (calls in flight are
counted; freeing waits for them), and ``ws_free`` is never called from the I/O thread.
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import itertools
import logging
import math
import os
import threading
import time
from contextlib import contextmanager
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from . import _lib
from .errors import ClosedError, InvalidArgumentError, InvalidUtf8Error, error_for
from .events import (
    BinaryMessage,
    Closed,
    Error,
    Event,
    Opened,
    Pong,
    Reconnecting,
    State,
    Stats,
    Stopped,
    TextMessage,
    _payload,
    from_c,
    stats_from_c,
)

log = logging.getLogger("wsbeat")
"""The logger that receives the library's log records and callback exceptions."""

TRACE = 5
"""The Python logging level used for the library's ``trace`` records (below DEBUG)."""

PULL_SLICE = 0.1
"""Pull mode and :meth:`Client.send_wait` wait in slices of at most this many seconds so that
signals (Ctrl-C) are handled promptly by the Python main thread."""

PathOrPem = Union[str, bytes, "os.PathLike[str]"]

OnEvent = Callable[["Client", Event], Any]
OnMessage = Callable[["Client", Union[str, bytes]], Any]

_HEARTBEATS = {
    "off": _lib.HEARTBEAT_OFF,
    "ping": _lib.HEARTBEAT_PING,
    "seed-json": _lib.HEARTBEAT_SEED_JSON,
}


# --------------------------------------------------------------------------------------------
# Logging bridge: one module-level trampoline, installed process-wide.

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
        if rc == _lib.WS_OK:
            _logger_level = want
        else:
            # Another Rust logger owns the process, or we are inside a logger callback.
            _logger_level = want
            log.debug("ws_set_logger failed: %s", _lib.last_error())


# --------------------------------------------------------------------------------------------
# The event trampoline and the registry of callback-mode clients.

_registry: Dict[int, "Client"] = {}
_registry_lock = threading.Lock()
_keys = itertools.count(1)
_live: Set["_Handle"] = set()
_live_lock = threading.Lock()


def _event_callback(userdata: Optional[int], event_ptr: Any) -> None:
    try:
        client = _registry.get(userdata or 0)
        if client is None:
            return
        h = client._h
        if h.gil_pin is None:
            # First callback on this client's I/O thread: keep its Python thread state
            # alive between callbacks (see _pin_thread_state).
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
                except Exception:
                    log.exception("wsbeat: exception in on_message callback (ignored)")
                return
        if k == _EV_STOPPED:
            try:
                client._deliver(from_c(ev))
            finally:
                _unpin_thread_state(h)
            return
        client._deliver(from_c(ev))
    except BaseException:  # noqa: BLE001 - nothing may escape into the library's thread
        try:
            log.exception("wsbeat: error while dispatching an event")
        except BaseException:  # noqa: BLE001
            pass


# Keeping the I/O thread's Python thread state between callbacks. A ctypes callback on a
# thread Python did not create runs between PyGILState_Ensure and PyGILState_Release; when
# no thread state exists, Ensure creates one and Release destroys it again, on every call
# (measured: about 20 us of a 55 us round trip on the benchmark VM). One extra Ensure on
# the first callback keeps the I/O thread's thread state (the GIL is still released between
# callbacks); the matching Release runs after the Stopped event, the last callback of the
# client, so the thread state is destroyed normally when ctypes releases it.
_gil_ensure = ctypes.pythonapi.PyGILState_Ensure
_gil_ensure.argtypes = []
_gil_ensure.restype = ctypes.c_int
_gil_release = ctypes.pythonapi.PyGILState_Release
_gil_release.argtypes = [ctypes.c_int]
_gil_release.restype = None


def _unpin_thread_state(h: "_Handle") -> None:
    pin = h.gil_pin
    if pin is not None and h.io_thread == _get_ident():
        h.gil_pin = None
        _gil_release(pin)


_EV_TEXT = _lib.EV_TEXT
_EV_BINARY = _lib.EV_BINARY
_EV_STOPPED = _lib.EV_STOPPED
_WS_OK = _lib.WS_OK
_WS_ERR_TIMEOUT = _lib.WS_ERR_TIMEOUT
_WS_ERR_CLOSED = _lib.WS_ERR_CLOSED
_WS_ERR_OUTBOX_FULL = _lib.WS_ERR_OUTBOX_FULL
_PULL_SLICE_MS = int(PULL_SLICE * 1000)
_RELEASE_ABOVE = 64 << 10  # pull mode: release a copied payload larger than this at once
_MSG_TEXT = _lib.MSG_TEXT
_MSG_BINARY = _lib.MSG_BINARY
_get_ident = threading.get_ident
_monotonic = time.monotonic

_EVENT_TRAMPOLINE = _lib.EVENT_CALLBACK(_event_callback)  # lives as long as the module
_NULL_CALLBACK = _lib.EVENT_CALLBACK()  # NULL: pull mode


def _check(rc: int) -> None:
    if rc != _lib.WS_OK:
        raise error_for(rc, _lib.last_error() or _lib.result_str(rc))


class _Handle:
    """Owns one ``ws_client *`` and guards it against use after ``ws_free``.

    Every call into the library borrows the pointer with :meth:`borrow` and gives it back
    with :meth:`give_back` (in a ``finally``). Both take one plain ``threading.Lock`` for a
    few bytecodes (the in-flight counter must not be a bare ``+=``: that is not atomic
    across threads); nothing else is paid per call. :meth:`free` sets ``freeing`` under the
    same lock, so no new borrow succeeds afterwards, then waits until the counter drops to
    zero (the last borrower to give back sets ``drained``) before ``ws_free``.
    """

    def __init__(self) -> None:
        self.ptr: Optional[int] = None
        self.lock = threading.Lock()
        self.inflight = 0
        self.freeing = False
        self.drained = threading.Event()  # set by the last give_back while freeing
        self.ready = threading.Event()  # set once ws_connect has returned
        self.freed = threading.Event()
        self.io_thread: Optional[int] = None
        self.gil_pin: Optional[int] = None  # see _unpin_thread_state
        self.final_stats: Optional[Stats] = None

    def on_io_thread(self) -> bool:
        return self.io_thread is not None and threading.get_ident() == self.io_thread

    def borrow(self) -> int:
        """Borrow the pointer for one call (pair with :meth:`give_back`); raises
        :class:`ClosedError` once freeing."""
        with self.lock:
            ptr = self.ptr
            if ptr is not None and not self.freeing:
                self.inflight += 1
                return ptr
        if ptr is None and not self.ready.is_set():
            # A callback can run before ws_connect has returned the pointer.
            self.ready.wait(10.0)
            with self.lock:
                ptr = self.ptr
                if ptr is not None and not self.freeing:
                    self.inflight += 1
                    return ptr
        raise ClosedError("the client is closed", 10)

    def give_back(self) -> None:
        with self.lock:
            n = self.inflight - 1
            self.inflight = n
            if n == 0 and self.freeing:
                self.drained.set()

    @contextmanager
    def use(self) -> Iterator[int]:
        """``borrow``/``give_back`` as a context manager, for the calls that are not hot."""
        ptr = self.borrow()
        try:
            yield ptr
        finally:
            self.give_back()

    def free(self, wait: float = 30.0) -> None:
        """``ws_free`` once no call is in flight. Never call it on the I/O thread."""
        ptr: Optional[int] = None
        with self.lock:
            other = self.freeing
            if not other:
                self.drained.clear()
                self.freeing = True
                ptr = self.ptr
        if other:
            self.freed.wait(wait)
            return
        try:
            while True:
                with self.lock:
                    if not self.inflight:
                        break
                # The timeout only bounds a lost wake-up; normally give_back sets it.
                self.drained.wait(PULL_SLICE)
        except BaseException:
            with self.lock:
                self.freeing = False  # interrupted (Ctrl-C): leave it usable and freeable
            raise
        try:
            if ptr is not None:
                lib = _lib.lib()
                st = _lib.ws_client_stats()
                if lib.ws_stats(ptr, ctypes.byref(st)) == _lib.WS_OK:
                    self.final_stats = stats_from_c(st)
                # Releases the GIL: the I/O thread may still run callbacks (Closed, Stopped).
                lib.ws_free(ptr)
        finally:
            with self.lock:
                self.ptr = None
            self.freed.set()
            with _live_lock:
                _live.discard(self)


def _shutdown() -> None:
    """At interpreter exit: stop every client and the logger so that the library never calls
    into a finalizing interpreter."""
    with _live_lock:
        handles = list(_live)
    for h in handles:
        try:
            if h.ptr is not None and not h.freeing:
                with h.use() as p:
                    _lib.lib().ws_close(p, 1000, None)
            h.free(wait=5.0)
        except BaseException:  # noqa: BLE001
            pass
    if _lib._lib is not None:
        try:
            _lib._lib.ws_clear_logger()
        except BaseException:  # noqa: BLE001
            pass


atexit.register(_shutdown)


# --------------------------------------------------------------------------------------------
# Argument conversion.


def _ms(name: str, seconds: Optional[float], *, allow_zero: bool = False) -> Optional[int]:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    if seconds != seconds or seconds < 0 or (seconds == 0 and not allow_zero):
        raise InvalidArgumentError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds")
    ms = int(round(seconds * 1000))
    if ms > _lib.WS_MAX_DURATION_MS:
        raise InvalidArgumentError(f"{name} must be at most 7 days")
    if ms == 0 and not allow_zero:
        ms = 1
    return ms


def _int(name: str, value: Optional[int], *, minimum: int = 0) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum or value >= 2**63:
        raise InvalidArgumentError(f"{name} must be >= {minimum}")
    return value


def _encode(message: Union[str, bytes, bytearray, memoryview]) -> Tuple[bytes, int]:
    """A message as (payload, ws_message_kind): str is text, bytes-like is binary."""
    if isinstance(message, str):
        try:
            return message.encode("utf-8"), _MSG_TEXT
        except UnicodeEncodeError as e:
            raise InvalidUtf8Error(f"text message is not valid Unicode: {e}") from None
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message), _MSG_BINARY
    raise TypeError(f"message must be str or bytes, not {type(message).__name__}")


def _cstr(name: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if "\0" in value:
        raise InvalidArgumentError(f"{name} must not contain NUL characters")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidUtf8Error(f"{name} is not valid Unicode: {e}") from None


def _pem(name: str, value: PathOrPem) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, os.PathLike):
        with open(value, "rb") as f:
            return f.read()
    raise TypeError(f"{name} must be PEM text (str or bytes) or a path (os.PathLike)")


def _header_pairs(
    headers: Union[Mapping[str, str], Iterable[Tuple[str, str]], None],
) -> List[Tuple[bytes, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for pair in items:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError("headers must be a mapping or an iterable of (name, value)") from None
        out.append((_cstr("header name", name), _cstr("header value", value)))
    return out


class Client:
    """A WebSocket client that keeps its connection alive: heartbeats, dead-peer detection,
    automatic reconnection with backoff, and an outbox for messages sent while disconnected.

    Connecting starts at once, in the background; events report what happens. Use it as a
    context manager (or call :meth:`close`) so that the connection is closed cleanly.

    Callback mode (any ``on_*`` given): callbacks run on the library's I/O thread, one at a
    time, in order, and receive the client first. Pull mode (no callback): read events with
    :meth:`next_event` or by iterating the client.

    Args:
        url: ``ws://`` or ``wss://`` URL. Credentials in it become a Basic Authorization header.
        heartbeat: ``"ping"`` (WebSocket pings), ``"seed-json"`` (the seed protocol's
            ``{"ModeCode":"heart_beat","msg":<ms>}`` echoed by the server) or ``"off"``.
        interval: seconds of silence before a heartbeat is sent (default 20).
        timeout: seconds to wait for the heartbeat's answer before the peer is declared dead
            (must be below ``interval``; default 10 s, or half the interval if that is less).
        reconnect: reconnect automatically when the connection ends (default True).
        backoff_initial, backoff_max, backoff_factor, backoff_jitter: the delay before reconnect
            attempt n is ``min(max, initial * factor**(n-1))`` minus a random fraction of up to
            ``jitter`` (defaults 0.5 s, 30 s, 2.0, 0.5).
        max_attempts: stop after this many consecutive failed attempts (0 = no limit).
        min_uptime: seconds a connection must stay open to reset the backoff (default 5).
        retry_after_cap: the longest server ``Retry-After`` (HTTP 429/503) honoured, in
            seconds (default 300).
        retry_certificate_errors: retry a rejected server certificate like other failures
            (default False: the client stops with ``StopReason.POLICY_DECLINED``).
        connect_timeout: bound on one connection attempt in seconds (default 10).
        close_timeout: bound on the close handshake in seconds (default 2).
        max_message_size: largest message in either direction, in bytes (default 16 MiB).
        outbox_max_messages, outbox_max_bytes: bounds of the outbox (default 4096 / 64 MiB).
        event_capacity: pull mode only: events that may wait for :meth:`next_event`.
        headers: extra request headers, a mapping or (name, value) pairs.
        subprotocols: subprotocols to offer, in order of preference.
        ca_file: ``wss://``: also trust the CAs in this PEM file.
        ca_pem: ``wss://``: also trust these PEM CAs (str/bytes, or a path).
        client_cert, client_key: mutual TLS certificate chain and key (PEM str/bytes or paths).
        insecure: DANGEROUS: accept any server certificate (self-signed test servers only).
        bundled_roots: trust the bundled Mozilla roots (default True). Turn off only together
            with ``ca_file``/``ca_pem``: a configuration that trusts nothing raises TlsError.
        on_open, on_message, on_close, on_error, on_reconnecting, on_pong: callbacks for
            :class:`Opened`, text/binary messages (passed as ``str``/``bytes``),
            :class:`Closed`, :class:`Error`, :class:`Reconnecting`, :class:`Pong`.
        on_event: called for every event (before the specific callback).

    Raises:
        InvalidUrlError, InvalidArgumentError, InvalidHeaderError, TlsError, TypeError: bad
            arguments. LibraryNotFoundError: libwsbeat could not be loaded.
    """

    def __init__(
        self,
        url: str,
        *,
        heartbeat: str = "ping",
        interval: Optional[float] = None,
        timeout: Optional[float] = None,
        reconnect: bool = True,
        backoff_initial: Optional[float] = None,
        backoff_max: Optional[float] = None,
        backoff_factor: Optional[float] = None,
        backoff_jitter: Optional[float] = None,
        max_attempts: Optional[int] = None,
        min_uptime: Optional[float] = None,
        retry_after_cap: Optional[float] = None,
        retry_certificate_errors: bool = False,
        connect_timeout: Optional[float] = None,
        close_timeout: Optional[float] = None,
        max_message_size: Optional[int] = None,
        outbox_max_messages: Optional[int] = None,
        outbox_max_bytes: Optional[int] = None,
        event_capacity: Optional[int] = None,
        headers: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None,
        subprotocols: Optional[Sequence[str]] = None,
        ca_file: Union[str, "os.PathLike[str]", None] = None,
        ca_pem: Optional[PathOrPem] = None,
        client_cert: Optional[PathOrPem] = None,
        client_key: Optional[PathOrPem] = None,
        insecure: bool = False,
        bundled_roots: bool = True,
        on_open: Optional[OnEvent] = None,
        on_message: Optional[OnMessage] = None,
        on_close: Optional[OnEvent] = None,
        on_error: Optional[OnEvent] = None,
        on_reconnecting: Optional[OnEvent] = None,
        on_pong: Optional[OnEvent] = None,
        on_event: Optional[OnEvent] = None,
    ) -> None:
        self._h = _Handle()
        self._key = 0
        self.url = url
        url_b = _cstr("url", url)
        callbacks = {
            "on_open": on_open,
            "on_message": on_message,
            "on_close": on_close,
            "on_error": on_error,
            "on_reconnecting": on_reconnecting,
            "on_pong": on_pong,
            "on_event": on_event,
        }
        for name, cb in callbacks.items():
            if cb is not None and not callable(cb):
                raise TypeError(f"{name} must be callable")
        self._on_open = on_open
        self._on_message = on_message
        self._on_close = on_close
        self._on_error = on_error
        self._on_reconnecting = on_reconnecting
        self._on_pong = on_pong
        self._on_event = on_event
        self._callback_mode = any(cb is not None for cb in callbacks.values())
        # Callback dispatch by event type (no isinstance chain per event). on_message gets
        # the payload; the others the event.
        self._routes: Dict[type, Tuple[str, Callable[..., Any], bool]] = {}
        for typ, name, cb, pass_data in (
            (TextMessage, "on_message", on_message, True),
            (BinaryMessage, "on_message", on_message, True),
            (Opened, "on_open", on_open, False),
            (Closed, "on_close", on_close, False),
            (Error, "on_error", on_error, False),
            (Reconnecting, "on_reconnecting", on_reconnecting, False),
            (Pong, "on_pong", on_pong, False),
        ):
            if cb is not None:
                self._routes[typ] = (name, cb, pass_data)
        # The trampoline's fast path for messages: only when no on_event must see them first.
        self._on_data: Optional[OnMessage] = on_message if on_event is None else None
        self._pull_lock = threading.Lock()
        self._pending: Deque[Event] = collections.deque()
        self._stopped = threading.Event()
        self._stop_event: Optional[Stopped] = None
        self._reaper: Optional[threading.Thread] = None

        lib = _lib.lib()
        # Pre-bound for the hot paths; one reusable out-struct for next_event (used only
        # under _pull_lock; the data is copied out before next_event returns).
        self._ws_send = lib.ws_send
        self._ws_send_wait = lib.ws_send_wait
        self._ws_next_event = lib.ws_next_event
        self._ws_event_release = lib.ws_event_release
        self._ev = _lib.ws_event()
        self._ev_ref = ctypes.byref(self._ev)
        refresh_logging()
        config = lib.ws_config_new()
        try:
            self._configure(
                lib,
                config,
                heartbeat=heartbeat,
                interval=interval,
                timeout=timeout,
                reconnect=reconnect,
                backoff=(backoff_initial, backoff_max, backoff_factor, backoff_jitter),
                max_attempts=max_attempts,
                min_uptime=min_uptime,
                retry_after_cap=retry_after_cap,
                retry_certificate_errors=retry_certificate_errors,
                connect_timeout=connect_timeout,
                close_timeout=close_timeout,
                max_message_size=max_message_size,
                outbox=(outbox_max_messages, outbox_max_bytes),
                event_capacity=event_capacity,
                headers=headers,
                subprotocols=subprotocols,
                ca_file=ca_file,
                ca_pem=ca_pem,
                client_cert=client_cert,
                client_key=client_key,
                insecure=insecure,
                bundled_roots=bundled_roots,
            )
            out = ctypes.c_void_p()
            if self._callback_mode:
                self._key = next(_keys)
                with _registry_lock:
                    _registry[self._key] = self
                rc = lib.ws_connect(url_b, config, _EVENT_TRAMPOLINE, self._key, ctypes.byref(out))
            else:
                rc = lib.ws_connect(url_b, config, _NULL_CALLBACK, None, ctypes.byref(out))
            if rc != _lib.WS_OK:
                self._unregister()
                self._h.freed.set()
                _check(rc)
            with _live_lock:
                _live.add(self._h)
            with self._h.lock:
                self._h.ptr = out.value
        finally:
            self._h.ready.set()
            lib.ws_config_free(config)

    @staticmethod
    def _configure(lib: ctypes.CDLL, config: int, **o: Any) -> None:
        hb = o["heartbeat"]
        if not isinstance(hb, str):
            raise TypeError("heartbeat must be a str: 'ping', 'seed-json' or 'off'")
        if hb not in _HEARTBEATS:
            raise InvalidArgumentError(
                f"heartbeat must be 'ping', 'seed-json' or 'off', not {hb!r}"
            )
        interval = _ms("interval", o["interval"])
        timeout = _ms("timeout", o["timeout"])
        if hb != "off" or interval is not None or timeout is not None:
            if interval is None:
                interval = 20_000
            if timeout is None:
                timeout = min(10_000, max(1, interval // 2))
            _check(lib.ws_config_set_heartbeat(config, _HEARTBEATS[hb], interval, timeout))
        if not isinstance(o["reconnect"], bool):
            raise TypeError("reconnect must be a bool")
        _check(lib.ws_config_set_reconnect(config, o["reconnect"]))
        initial, maximum, factor, jitter = o["backoff"]
        if any(v is not None for v in o["backoff"]):
            initial_ms = _ms("backoff_initial", initial) or 500
            max_ms = _ms("backoff_max", maximum) or max(30_000, initial_ms)
            for name, v in (("backoff_factor", factor), ("backoff_jitter", jitter)):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    raise TypeError(f"{name} must be a number")
            _check(
                lib.ws_config_set_backoff(
                    config,
                    initial_ms,
                    max_ms,
                    float(2.0 if factor is None else factor),
                    float(0.5 if jitter is None else jitter),
                )
            )
        if o["max_attempts"] is not None:
            n = _int("max_attempts", o["max_attempts"])
            if n is not None and n > 0xFFFFFFFF:
                raise InvalidArgumentError("max_attempts is too large")
            _check(lib.ws_config_set_max_attempts(config, n))
        if o["min_uptime"] is not None:
            _check(lib.ws_config_set_min_uptime(config, _ms("min_uptime", o["min_uptime"], allow_zero=True)))
        if o["retry_after_cap"] is not None:
            cap = _ms("retry_after_cap", o["retry_after_cap"], allow_zero=True)
            _check(lib.ws_config_set_retry_after_cap(config, cap))
        if not isinstance(o["retry_certificate_errors"], bool):
            raise TypeError("retry_certificate_errors must be a bool")
        if o["retry_certificate_errors"]:
            _check(lib.ws_config_set_retry_certificate_errors(config, True))
        if o["connect_timeout"] is not None:
            _check(lib.ws_config_set_connect_timeout(config, _ms("connect_timeout", o["connect_timeout"])))
        if o["close_timeout"] is not None:
            _check(lib.ws_config_set_close_timeout(config, _ms("close_timeout", o["close_timeout"])))
        if o["max_message_size"] is not None:
            _check(lib.ws_config_set_max_message_size(config, _int("max_message_size", o["max_message_size"])))
        msgs, nbytes = o["outbox"]
        if msgs is not None or nbytes is not None:
            _check(
                lib.ws_config_set_outbox_limits(
                    config,
                    _int("outbox_max_messages", msgs) if msgs is not None else 4096,
                    _int("outbox_max_bytes", nbytes) if nbytes is not None else 64 << 20,
                )
            )
        if o["event_capacity"] is not None:
            _check(lib.ws_config_set_event_capacity(config, _int("event_capacity", o["event_capacity"])))
        for h_name, h_value in _header_pairs(o["headers"]):
            _check(lib.ws_config_add_header(config, h_name, h_value))
        subs = o["subprotocols"]
        if subs is not None:
            if isinstance(subs, (str, bytes)):
                raise TypeError("subprotocols must be a sequence of str, not a single string")
            for s in subs:
                _check(lib.ws_config_add_subprotocol(config, _cstr("subprotocol", s)))
        if o["ca_file"] is not None:
            path = os.fspath(o["ca_file"])
            if not isinstance(path, str):
                raise TypeError("ca_file must be a str or os.PathLike path")
            _check(lib.ws_config_tls_add_ca_file(config, _cstr("ca_file", path)))
        if o["ca_pem"] is not None:
            pem = _pem("ca_pem", o["ca_pem"])
            _check(lib.ws_config_tls_add_ca_pem(config, pem, len(pem)))
        cert, key = o["client_cert"], o["client_key"]
        if (cert is None) != (key is None):
            raise InvalidArgumentError("client_cert and client_key go together")
        if cert is not None:
            c, k = _pem("client_cert", cert), _pem("client_key", key)
            _check(lib.ws_config_tls_set_client_cert_pem(config, c, len(c), k, len(k)))
        if not isinstance(o["insecure"], bool) or not isinstance(o["bundled_roots"], bool):
            raise TypeError("insecure and bundled_roots must be bool")
        if o["insecure"]:
            _check(lib.ws_config_tls_dangerous_disable_verification(config, True))
        if not o["bundled_roots"]:
            _check(lib.ws_config_tls_set_bundled_roots(config, False))

    # ----------------------------------------------------------------------------------------
    # Callback dispatch (on the I/O thread).

    def _deliver(self, ev: Event) -> None:
        self._h.io_thread = _get_ident()
        stopped = type(ev) is Stopped
        if stopped:
            self._stop_event = ev  # type: ignore[assignment]
        if self._on_event is not None:
            self._call("on_event", self._on_event, ev)
        route = self._routes.get(type(ev))
        if route is not None:
            name, cb, pass_data = route
            self._call(name, cb, ev.data if pass_data else ev)  # type: ignore[attr-defined]
        if stopped:
            self._stopped.set()

    def _call(self, name: str, cb: Optional[Callable[..., Any]], arg: Any) -> None:
        if cb is None:
            return
        try:
            cb(self, arg)
        except Exception:
            log.exception("wsbeat: exception in %s callback (ignored)", name)

    def _unregister(self) -> None:
        if self._key:
            with _registry_lock:
                _registry.pop(self._key, None)

    # ----------------------------------------------------------------------------------------
    # Public API.

    def send(self, message: Union[str, bytes, bytearray, memoryview]) -> None:
        """Queue a message: ``str`` is sent as a text message, bytes-like as binary.

        It goes out at once when open; while (re)connecting it waits in the outbox and is
        sent in order after the next open. Safe from any thread and from inside callbacks.

        Raises:
            TypeError: not str or bytes-like.
            ClosedError: the client was closed or has stopped.
            OutboxFullError: the outbox is full (nothing queued); :meth:`send_wait` waits for
                room instead.
            MessageTooLargeError: larger than ``max_message_size``.
        """
        # The same conversion as _encode, inlined: this is the hot path.
        if isinstance(message, str):
            try:
                data = message.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InvalidUtf8Error(f"text message is not valid Unicode: {e}") from None
            kind = _MSG_TEXT
        elif isinstance(message, (bytes, bytearray, memoryview)):
            data = bytes(message)
            kind = _MSG_BINARY
        else:
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
        h = self._h
        p = h.borrow()
        try:
            rc = self._ws_send(p, data, len(data), kind)
        finally:
            h.give_back()
        if rc != _WS_OK:
            raise error_for(rc, _lib.last_error() or _lib.result_str(rc))

    def send_wait(
        self, message: Union[str, bytes, bytearray, memoryview], timeout: Optional[float] = None
    ) -> None:
        """Queue a message like :meth:`send`, but when the outbox is full, wait for room (at
        most ``timeout`` seconds; None: no limit; 0: do not wait, like :meth:`send`) instead
        of raising :class:`OutboxFullError` at once.

        The calling thread sleeps, without the GIL and without polling, until the library's
        I/O thread has written the outbox down to its low-water mark (at most half of each of
        ``outbox_max_messages`` and ``outbox_max_bytes``), then the message is queued. While
        (re)connecting nothing is written, so it waits for the next open or the timeout. The
        wait runs in slices of :data:`PULL_SLICE` seconds, so Ctrl-C is raised promptly.
        Inside a callback it does not wait (the I/O thread running the callback is what
        empties the outbox): it behaves like :meth:`send` there.

        Raises:
            TypeError: not str or bytes-like, or a timeout that is not a number.
            InvalidArgumentError: a negative timeout.
            ClosedError: the client was closed or has stopped, also while waiting
                (:meth:`close` from another thread ends the wait at once).
            OutboxFullError: the outbox was still full when the timeout ended (nothing
                queued).
            MessageTooLargeError: larger than ``max_message_size``.
        """
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError("timeout must be a number of seconds or None")
            if not timeout >= 0:
                raise InvalidArgumentError("timeout must be >= 0 or None")
        data, kind = _encode(message)
        deadline = None if timeout is None else _monotonic() + timeout
        h = self._h
        while True:
            if deadline is None:
                slice_ms = _PULL_SLICE_MS
            else:
                remaining = min(max(0.0, deadline - _monotonic()), PULL_SLICE)
                slice_ms = math.ceil(remaining * 1000)  # never wake before the deadline
            p = h.borrow()
            try:
                # Releases the GIL while it waits.
                rc = self._ws_send_wait(p, data, len(data), kind, slice_ms)
            finally:
                h.give_back()
            if rc == _WS_OK:
                return
            if (
                rc != _WS_ERR_OUTBOX_FULL
                or h.on_io_thread()  # it did not wait: neither do we
                or (deadline is not None and _monotonic() >= deadline)
            ):
                raise error_for(rc, _lib.last_error() or _lib.result_str(rc))
            # A slice ended with the outbox still full (nothing was queued): wait again.

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close gracefully and stop for good (never reconnects); idempotent.

        Sends a close frame with ``code`` (1000 or 3000..4999) and ``reason`` (at most 123
        UTF-8 bytes), waits for the server's (bounded by ``close_timeout``), then frees the
        library's resources. From another thread it blocks until the I/O thread has stopped;
        from inside a callback it returns at once and the client is freed in the background.

        In pull mode the remaining events (:class:`Closed`, :class:`Stopped`) stay available
        to :meth:`next_event` and iteration.

        Raises:
            InvalidArgumentError: a code that is not allowed or a reason that is too long.
            TypeError: wrong argument types.
        """
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"code must be an int, not {type(code).__name__}")
        if not 0 <= code <= 0xFFFF:
            raise InvalidArgumentError(f"close code {code} is not allowed (1000 or 3000..4999)")
        reason_b = _cstr("reason", reason)
        try:
            with self._h.use() as p:
                _check(_lib.lib().ws_close(p, code, reason_b))
        except ClosedError:
            pass  # already closed or being freed
        if self._h.on_io_thread():
            # ws_free is refused on the I/O thread: free from a helper thread once the
            # callback has returned.
            if self._reaper is None and not self._h.freeing:
                self._reaper = threading.Thread(
                    target=self._free, name="wsbeat-free", daemon=True
                )
                self._reaper.start()
            return
        self._free()

    def _free(self) -> None:
        if not self._callback_mode and not self._h.freeing:
            self._drain()
        self._h.free()
        self._unregister()

    def _drain(self) -> None:
        """Pull mode, after ws_close: keep the remaining events before freeing."""
        with self._pull_lock:
            try:
                with self._h.use() as p:
                    lib = _lib.lib()
                    ev = _lib.ws_event()
                    for _ in range(100_000):
                        if lib.ws_next_event(p, 0, ctypes.byref(ev)) != _lib.WS_OK:
                            break
                        self._pending.append(from_c(ev))
                    lib.ws_event_release(p)
            except ClosedError:
                pass

    def reconnect_now(self) -> None:
        """Drop the current connection (or cut a backoff wait short) and connect again now.

        Raises:
            ClosedError: the client has stopped.
        """
        with self._h.use() as p:
            _check(_lib.lib().ws_reconnect_now(p))

    @property
    def state(self) -> State:
        """The client's current :class:`State` (``STOPPED`` once closed)."""
        try:
            with self._h.use() as p:
                out = ctypes.c_uint32()
                _check(_lib.lib().ws_state(p, ctypes.byref(out)))
                return State(out.value)
        except ClosedError:
            return State.STOPPED

    @property
    def stats(self) -> Stats:
        """A :class:`Stats` snapshot (after :meth:`close`: the last one taken)."""
        try:
            with self._h.use() as p:
                st = _lib.ws_client_stats()
                _check(_lib.lib().ws_stats(p, ctypes.byref(st)))
                return stats_from_c(st)
        except ClosedError:
            if self._h.final_stats is None:
                raise
            return self._h.final_stats

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the client could not be used any more)."""
        return self._h.freeing or self._h.ptr is None

    def wait(self, timeout: Optional[float] = None) -> Optional[Stopped]:
        """Callback mode: block until the client has stopped for good (after :meth:`close`,
        or when reconnecting gives up); return the :class:`Stopped` event, or None on timeout.

        Interruptible with Ctrl-C. In pull mode it waits until :meth:`next_event` has
        returned the :class:`Stopped` event.
        """
        if timeout is None:
            while not self._stopped.wait(PULL_SLICE * 10):
                pass
        elif not self._stopped.wait(timeout):
            return None
        return self._stop_event

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """Pull mode: the next event, waiting up to ``timeout`` seconds (None: no limit;
        0: do not wait). Returns None on timeout.

        The wait happens in short slices, so Ctrl-C (KeyboardInterrupt) is raised promptly.
        Call it from one thread at a time.

        Raises:
            WrongModeError: the client was created with callbacks.
            ClosedError: the :class:`Stopped` event was already returned (no more events).
        """
        if self._callback_mode:
            raise error_for(13, "next_event on a client created with callbacks")
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError("timeout must be a number of seconds or None")
            if timeout < 0:
                raise InvalidArgumentError("timeout must be >= 0 or None")
        deadline = None if timeout is None else _monotonic() + timeout
        h = self._h
        ev = self._ev
        ev_ref = self._ev_ref
        ws_next_event = self._ws_next_event
        pending = self._pending
        err = ""
        while True:
            with self._pull_lock:
                if pending:
                    return self._note(pending.popleft())
                if self._stop_event is not None:
                    raise ClosedError("the client has stopped and every event was delivered", 10)
                if deadline is None:
                    slice_ms = _PULL_SLICE_MS
                else:
                    remaining = max(0.0, deadline - _monotonic())
                    slice_ms = int(min(remaining, PULL_SLICE) * 1000)
                try:
                    p = h.borrow()
                except ClosedError:
                    if pending:
                        continue
                    raise
                try:
                    # Releases the GIL while it waits (at most PULL_SLICE): Ctrl-C is
                    # handled between slices.
                    rc = ws_next_event(p, slice_ms, ev_ref)
                    if rc == _WS_OK:
                        got = from_c(ev)
                        # The next ws_next_event releases this event; a large payload is
                        # released now rather than kept until then.
                        if ev.len > _RELEASE_ABOVE:
                            self._ws_event_release(p)
                    elif rc != _WS_ERR_TIMEOUT and rc != _WS_ERR_CLOSED:
                        err = _lib.last_error()
                finally:
                    h.give_back()
                if rc == _WS_OK:
                    if type(got) is Stopped:
                        return self._note(got)
                    return got
            if rc == _WS_ERR_CLOSED:
                raise ClosedError("the client has stopped and every event was delivered", 10)
            if rc != _WS_ERR_TIMEOUT:
                raise error_for(rc, err or _lib.result_str(rc))
            if deadline is not None and _monotonic() >= deadline:
                return None

    def _note(self, ev: Event) -> Event:
        if isinstance(ev, Stopped):
            self._stop_event = ev
            self._stopped.set()
        return ev

    def __iter__(self) -> Iterator[Event]:
        """Pull mode: yield events until (and including) :class:`Stopped`."""
        while True:
            try:
                ev = self.next_event()
            except ClosedError:
                return
            if ev is None:
                continue
            yield ev
            if isinstance(ev, Stopped):
                return

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<wsbeat.Client {self.url!r} {self.state.name}>"

    def __del__(self) -> None:
        # Best effort only (the documented way is close() or `with`); atexit covers exit.
        try:
            if not self._callback_mode and self._h.ptr is not None and not self._h.freeing:
                if not self._h.on_io_thread():
                    self._h.free(wait=5.0)
        except BaseException:  # noqa: BLE001
            pass
