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

The machinery lives beside it, one concern per module: ``config`` (the settings, one setter
per ``ws_config_*``), ``_handle`` (owning the ``ws_client *``, the ``atexit`` close),
``_dispatch`` (the event trampoline and the I/O thread's thread state), ``_log`` (the
logging bridge), ``_convert`` (argument conversion), ``_lib``/``_abi`` (loading, and the
declarations generated from ``include/wsbeat.h``).
"""

from __future__ import annotations

import collections
import ctypes
import math
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterator, Optional, Tuple, Union

from . import _dispatch, _hooks, _lib
from ._convert import Sendable, cstr, encode
from ._handle import PULL_SLICE, Handle, _live, _live_lock, run_interruptibly
from ._log import log, refresh_logging
from .config import Config
from .errors import (
    ClosedError,
    ConnectError,
    InCallbackError,
    InvalidArgumentError,
    InvalidUtf8Error,
    error_for,
)
from .events import (
    BinaryMessage,
    Closed,
    Error,
    ErrorKind,
    Event,
    Opened,
    Pong,
    Reconnecting,
    State,
    Stats,
    Stopped,
    TextMessage,
    from_c,
    stats_from_c,
)

OnEvent = Callable[["Client", Event], Any]
OnMessage = Callable[["Client", Union[str, bytes]], Any]

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


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds or None")
    if not timeout >= 0:
        raise InvalidArgumentError("timeout must be >= 0 or None")
    return float(timeout)


def _check(rc: int) -> None:
    if rc != _lib.WS_OK:
        raise error_for(rc, _lib.last_error() or _lib.result_str(rc))


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
        config: a :class:`~wsbeat.Config` (chainable setters, one per ``ws_config_*``);
            alternatively pass the settings below as keyword options (not both), which
            build one with :meth:`Config.from_options`.
        heartbeat: ``"ping"`` (WebSocket pings), ``"seed-json"`` (the seed protocol's
            ``{"ModeCode":"heart_beat","msg":<ms>}`` echoed by the server), ``"custom"``
            (``heartbeat_payload`` and ``heartbeat_is_reply``) or ``"off"``.
        heartbeat_payload: ``heartbeat="custom"``: the message sent (``str``: text,
            bytes-like: binary).
        heartbeat_is_reply: ``heartbeat="custom"``: ``fn(message) -> bool``, True for the
            server's answer (not delivered as a message). Default: a message equal to the
            payload.
        before_connect: ``fn(request)`` before every connection attempt, on the library's
            I/O thread; may change ``request.url`` and ``request.headers`` (a
            :class:`Request`), e.g. to send a fresh token. An exception fails that attempt
            (an :class:`Error` event of kind ``ErrorKind.CALLBACK``) and is logged.
        reconnect_on_close: ``fn(code) -> bool``: whether to reconnect after the server
            closed with ``code`` (replaces the default: all but 1002, 1003, 1007, 1008,
            1010).
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
        proxy: the proxy URL (``http://``, ``https://`` (TLS to the proxy, verified with the
            same TLS options as the server), ``socks5://``, ``socks5h://``, with optional
            ``user:password@``); ``""`` for none; default None: from the environment
            (``no_proxy``, ``wss_proxy``/``ws_proxy``, ``https_proxy``, ``http_proxy``,
            ``all_proxy``), read at each attempt.
        runtime: a :class:`Runtime` whose shared threads run this client's connection
            (default None: an I/O thread of its own). Callbacks then run on the runtime's
            thread, shared with the other clients there. The client keeps the runtime alive.
        endpoints: further ``ws://``/``wss://`` URLs after ``url`` (endpoint 0), in order
            (default none). After every failure (a failed connect, a lost or closed
            connection, :meth:`reconnect_now`) the next attempt goes to the next endpoint,
            round-robin; the backoff schedule is the client's, growing across endpoints.
            :class:`Connecting` and :class:`Opened` carry the ``endpoint`` index; the
            ``before_connect`` request's ``url`` starts as that endpoint's.
        max_message_size: largest message in either direction, in bytes (default 16 MiB).
        compression: ``"deflate"`` offers permessage-deflate (used if the server accepts);
            ``None`` (the default) does not. :meth:`Config.compression` has the knobs.
        outbox_max_messages, outbox_max_bytes: bounds of the outbox (default 4096 / 64 MiB).
        event_capacity: pull mode only: events that may wait for :meth:`next_event`.
        pong_events: pull mode only: return heartbeat answers as :class:`Pong` (default
            True); False keeps an idle connection's heartbeat from waking :meth:`next_event`.
        headers: extra request headers, a mapping or (name, value) pairs.
        subprotocols: subprotocols to offer, in order of preference.
        ca_file: ``wss://``: also trust the CAs in this PEM file.
        ca_pem: ``wss://``: also trust these PEM CAs (str/bytes, or a path).
        client_cert, client_key: mutual TLS certificate chain and key (PEM str/bytes or paths).
        insecure: DANGEROUS: accept any server certificate (self-signed test servers only).
        bundled_roots: trust the bundled Mozilla roots (default True). Turn off only together
            with ``ca_file``/``ca_pem``: a configuration that trusts nothing raises TlsError.
        native_roots: ``wss://``: also trust the platform's root store (needs a libwsbeat
            built with the ``native-roots`` feature; the wheel is not: TlsError).
        native_tls: ``wss://``: use the platform's TLS library instead of rustls (needs the
            ``native-tls`` feature; the wheel is not: TlsError).
        on_open, on_message, on_close, on_error, on_reconnecting, on_pong: callbacks for
            :class:`Opened`, text/binary messages (passed as ``str``/``bytes``),
            :class:`Closed`, :class:`Error`, :class:`Reconnecting`, :class:`Pong`.
        on_event: called for every event (before the specific callback).

    Raises:
        InvalidUrlError, InvalidArgumentError, InvalidHeaderError, TlsError, TypeError: bad
            arguments (an unknown keyword option is a TypeError). LibraryNotFoundError: libwsbeat could not be loaded.
    """

    def __init__(
        self,
        url: str,
        config: Optional[Config] = None,
        *,
        on_open: Optional[OnEvent] = None,
        on_message: Optional[OnMessage] = None,
        on_close: Optional[OnEvent] = None,
        on_error: Optional[OnEvent] = None,
        on_reconnecting: Optional[OnEvent] = None,
        on_pong: Optional[OnEvent] = None,
        on_event: Optional[OnEvent] = None,
        **options: Any,
    ) -> None:
        self._h = Handle()
        self._key = 0
        self._hooks_key = 0
        self.url = url
        url_b = cstr("url", url)
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
        if config is not None:
            if not isinstance(config, Config):
                raise TypeError(f"config must be a wsbeat.Config, not {type(config).__name__}")
            if options:
                raise TypeError(
                    "pass either config= or keyword options, not both "
                    f"(got {', '.join(sorted(options))})"
                )
        else:
            config = Config.from_options(**options)
        self._h.close_timeout = config.close_timeout_seconds
        # The runtime (if any) stays alive at least as long as this client (the library
        # holds its threads for the client anyway; this keeps the Python object too).
        self._runtime = config.runtime_object
        self._h.runtime = self._runtime
        if config._hooks.any():
            # Registered until ws_free has returned: no hook runs after that.
            hooks = config._hooks.copy()
            hooks.runtime = self._runtime
            self._hooks_key = _hooks.register(hooks)
        try:
            cfg = config._new(lib, self._hooks_key)
        except BaseException:
            self._unregister()
            raise
        try:
            out = ctypes.c_void_p()
            if self._callback_mode:
                self._key = _dispatch.register(self)
                rc = lib.ws_connect(
                    url_b, cfg, _dispatch.EVENT_TRAMPOLINE, self._key, ctypes.byref(out)
                )
            else:
                rc = lib.ws_connect(url_b, cfg, _dispatch.NULL_CALLBACK, None, ctypes.byref(out))
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
            lib.ws_config_free(cfg)

    # ----------------------------------------------------------------------------------------
    # Callback dispatch (on the I/O thread).

    def _deliver(self, ev: Event) -> None:
        self._h.io_thread = _get_ident()
        stopped = type(ev) is Stopped
        if stopped:
            self._stop_event = ev  # type: ignore[assignment]
        try:
            if self._on_event is not None:
                self._call("on_event", self._on_event, ev)
            route = self._routes.get(type(ev))
            if route is not None:
                name, cb, pass_data = route
                self._call(name, cb, ev.data if pass_data else ev)  # type: ignore[attr-defined]
        finally:
            if stopped:
                self._stopped.set()

    def _call(self, name: str, cb: Optional[Callable[..., Any]], arg: Any) -> None:
        if cb is None:
            return
        try:
            cb(self, arg)
        except BaseException:  # noqa: BLE001 - SystemExit too: nothing can propagate it
            log.exception("wsbeat: exception in %s callback (ignored)", name)

    def _unregister(self) -> None:
        _dispatch.unregister(self._key)
        _hooks.unregister(self._hooks_key)

    # ----------------------------------------------------------------------------------------
    # Public API.

    def send(self, message: Sendable) -> None:
        """Queue a message: ``str`` is sent as a text message, any bytes-like object (bytes,
        bytearray, memoryview, array.array, ...) as binary.

        It goes out at once when open; while (re)connecting it waits in the outbox and is
        sent in order after the next open. Safe from any thread and from inside callbacks.

        Raises:
            TypeError: not str or bytes-like.
            ClosedError: the client was closed or has stopped.
            OutboxFullError: the outbox is full (nothing queued); :meth:`send_wait` waits for
                room instead.
            MessageTooLargeError: larger than ``max_message_size``.
        """
        # The same conversion as encode(), inlined for str and bytes: this is the hot path.
        if type(message) is str:
            try:
                data = message.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InvalidUtf8Error(f"text message is not valid Unicode: {e}") from None
            kind = _MSG_TEXT
        elif type(message) is bytes:
            data = message
            kind = _MSG_BINARY
        else:
            data, kind = encode(message)
        h = self._h
        p = h.borrow()
        try:
            rc = self._ws_send(p, data, len(data), kind)
        finally:
            h.give_back()
        if rc != _WS_OK:
            raise error_for(rc, _lib.last_error() or _lib.result_str(rc))

    def send_wait(
        self, message: Sendable, timeout: Optional[float] = None
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
        empties the outbox): it behaves like :meth:`send` there; on a :class:`Runtime`, so
        it does inside a callback of any client of the same runtime.

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
        data, kind = encode(message)
        deadline = None if timeout is None else _monotonic() + timeout
        h = self._h
        while True:
            if h.on_io_thread():
                slice_ms = 0  # the thread that would make room: never wait there
            elif deadline is None:
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
        Ctrl-C (KeyboardInterrupt) interrupts the wait at once; the close then completes in
        the background.

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
        reason_b = cstr("reason", reason)

        def close_now() -> None:
            try:
                with self._h.use() as p:
                    _check(_lib.lib().ws_close(p, code, reason_b))
            except ClosedError:
                pass  # already closed or being freed

        if self._h.on_io_thread():
            close_now()  # returns at once there
        else:
            # Blocks up to the close timeout; Ctrl-C interrupts the wait (the close goes on
            # in the background and the atexit hook waits for it).
            run_interruptibly(close_now)
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
                    # ws_close has returned: the events up to Stopped are queued, unless the
                    # close was started on a runtime thread (it returned at once there):
                    # then they follow within the close bound.
                    deadline = _monotonic() + self._h.close_timeout + 1.0
                    for _ in range(100_000):
                        left = deadline - _monotonic()
                        wait_ms = int(min(max(0.0, left), PULL_SLICE) * 1000)
                        rc = lib.ws_next_event(p, wait_ms, ctypes.byref(ev))
                        if rc == _WS_ERR_TIMEOUT and left > 0:
                            continue
                        if rc != _lib.WS_OK:
                            break
                        got = from_c(ev)
                        self._pending.append(got)
                        if type(got) is Stopped:
                            break
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
        """Block until the client has stopped for good (after :meth:`close`, or when
        reconnecting gives up); return the :class:`Stopped` event, or None after ``timeout``
        seconds (None: no limit).

        Callback mode: the I/O thread delivers Stopped. Pull mode: it waits until
        :meth:`next_event` (from another thread) has returned the :class:`Stopped` event.
        Interruptible with Ctrl-C.

        Raises:
            InCallbackError: called from inside one of this client's callbacks (the I/O
                thread running the callback is the one that would deliver Stopped: it would
                wait forever), or, on a runtime, of a client of the same runtime.
        """
        if self._h.on_io_thread():
            raise InCallbackError(
                "wait() inside a callback of the same client (or, on a runtime, of a client "
                "of the same runtime) would never return; call close() there, and wait() "
                "from another thread",
                _lib.WS_ERR_IN_CALLBACK,
            )
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
            InCallbackError: a timeout other than 0 inside a callback of a client on the
                same :class:`Runtime` (that thread may be the one serving this client).
        """
        if self._callback_mode:
            raise error_for(_lib.WS_ERR_WRONG_MODE, "next_event on a client created with callbacks")
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError("timeout must be a number of seconds or None")
            if timeout < 0:
                raise InvalidArgumentError("timeout must be >= 0 or None")
        h = self._h
        if timeout != 0 and h.runtime is not None and h.on_io_thread():
            raise InCallbackError(
                "next_event() with a timeout inside a callback of a client on the same "
                "runtime could wait for the very thread that serves this client; use "
                "timeout=0 there",
                _lib.WS_ERR_IN_CALLBACK,
            )
        deadline = None if timeout is None else _monotonic() + timeout
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
                    raise ClosedError("the client has stopped and every event was delivered", _WS_ERR_CLOSED)
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
                raise ClosedError("the client has stopped and every event was delivered", _WS_ERR_CLOSED)
            if rc != _WS_ERR_TIMEOUT:
                raise error_for(rc, err or _lib.result_str(rc))
            if deadline is not None and _monotonic() >= deadline:
                return None

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """Pull mode: the next message, ``str`` for text and ``bytes`` for binary, waiting up
        to ``timeout`` seconds (None: no limit; 0: do not wait). The blocking call of
        websocket-client scripts.

        The other events that arrive meanwhile (:class:`Opened`, :class:`Closed`,
        :class:`Pong`, ...) are consumed and not returned: use :meth:`next_event` or
        iteration to see them. Reconnections happen underneath: a message sent by the server
        after a reconnect is returned like any other. Ctrl-C is raised promptly.

        Raises:
            TimeoutError: no message within ``timeout``.
            ClosedError: the client has stopped (closed, or reconnecting gave up).
            WrongModeError: the client was created with callbacks.
        """
        deadline = None if timeout is None else _monotonic() + _check_timeout(timeout)
        while True:
            remaining = None if deadline is None else max(0.0, deadline - _monotonic())
            ev = self.next_event(remaining)
            t = type(ev)
            if t is TextMessage or t is BinaryMessage:
                return ev.data  # type: ignore[union-attr, no-any-return]
            if ev is None:
                raise TimeoutError(f"no message within {timeout} s")
            if t is Stopped:
                raise ClosedError(f"the client has stopped ({ev})", _WS_ERR_CLOSED)

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


def connect(url: str, *, timeout: Optional[float] = None, **options: Any) -> Client:
    """Connect and return once the connection is open: a pull-mode :class:`Client` (read it
    with :meth:`Client.recv`, :meth:`Client.next_event` or iteration), for the
    ``websocket.create_connection`` habit.

    ``options`` are :class:`Client`'s (``config=`` or keyword settings; no callbacks: a
    client with callbacks is created with :class:`Client` itself). The first attempt's
    failure is raised; once open, the client reconnects as configured. ``timeout`` bounds the
    whole wait (None: each attempt is bounded by ``connect_timeout``, 10 s by default).

    Raises:
        ConnectError: the first attempt failed (``kind``: DNS, CONNECT, TLS, HTTP_STATUS,
            ...; ``detail``: the library's description).
        TimeoutError: not open within ``timeout``.
        InvalidUrlError, InvalidArgumentError, TypeError, ...: as :class:`Client`.
    """
    for name in options:
        if name.startswith("on_"):
            raise TypeError(f"connect() returns a pull-mode client: {name} is not accepted")
    deadline = None if timeout is None else _monotonic() + _check_timeout(timeout)
    client = Client(url, **options)
    try:
        while True:
            remaining = None if deadline is None else max(0.0, deadline - _monotonic())
            ev = client.next_event(remaining)
            if ev is None:
                raise TimeoutError(f"{url}: not open within {timeout} s")
            if isinstance(ev, Opened):
                return client
            if isinstance(ev, Error):
                raise ConnectError(f"cannot connect to {url}: {ev.message}", ev.kind)
            if isinstance(ev, Stopped):
                raise ConnectError(f"cannot connect to {url}: {ev}", ErrorKind.NONE)
    except BaseException:
        client.close()
        raise
