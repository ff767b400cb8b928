"""The owner of one ``ws_client *``: guarded against use after ``ws_free``, and the set of
live handles that an ``atexit`` hook closes so that the library never calls into a
finalizing interpreter.
"""

from __future__ import annotations

import atexit
import ctypes
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

from . import _lib
from ._log import clear_logging
from .errors import ClosedError
from .events import Stats, stats_from_c

PULL_SLICE = 0.1
"""Blocking waits run in slices of at most this many seconds so that signals (Ctrl-C) are
handled promptly by the Python main thread."""

_live: Set["Handle"] = set()
_live_lock = threading.Lock()

in_callback_of: Dict[int, Any] = {}
"""Thread ident -> the :class:`~wsbeat.Runtime` of the client whose callback runs on that
thread now (set by ``_dispatch`` for clients on a runtime only). A client of the same runtime
used from there may be served by that very thread, so nothing may wait for it there."""


def mark_callback(runtime: Any) -> Optional[int]:
    """Record that a callback or hook of a client on ``runtime`` runs on this thread (no-op
    for None); pass the result to :func:`unmark_callback` when it returns."""
    if runtime is None:
        return None
    ident = threading.get_ident()
    in_callback_of[ident] = runtime
    return ident


def unmark_callback(ident: Optional[int]) -> None:
    if ident is not None:
        in_callback_of.pop(ident, None)


class Handle:
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
        self.gil_pin: Optional[int] = None  # see _dispatch.unpin_thread_state
        self.final_stats: Optional[Stats] = None
        self.close_timeout = 2.0  # seconds; the client's configured close timeout
        self.runtime: Any = None  # the client's wsbeat.Runtime, if it is on one

    def on_io_thread(self) -> bool:
        """Whether waiting here for the client's I/O could wait for the calling thread: on
        its I/O thread (inside its callbacks), or, on a runtime, inside a callback of any
        client of the same runtime (whose thread may be this client's too)."""
        ident = threading.get_ident()
        if self.io_thread is not None and ident == self.io_thread:
            return True
        rt = self.runtime
        return rt is not None and in_callback_of.get(ident) is rt

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
        raise ClosedError("the client is closed", _lib.WS_ERR_CLOSED)

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

        def free_now() -> None:
            try:
                if ptr is not None:
                    lib = _lib.lib()
                    st = _lib.ws_client_stats()
                    if lib.ws_stats(ptr, ctypes.byref(st)) == _lib.WS_OK:
                        self.final_stats = stats_from_c(st)
                    # Releases the GIL: the I/O thread may still run callbacks (Closed,
                    # Stopped). Blocks at most the close timeout plus 0.5 s.
                    lib.ws_free(ptr)
            finally:
                with self.lock:
                    self.ptr = None
                self.freed.set()
                with _live_lock:
                    _live.discard(self)

        # Ctrl-C ends the wait; the free completes in the background (and the atexit hook
        # waits for it, bounded).
        run_interruptibly(free_now)


def run_interruptibly(fn: Callable[[], None]) -> None:
    """Run a blocking library call (``ws_close``, ``ws_free``) so that Ctrl-C interrupts the
    *wait* for it.

    A signal handler runs only on the main thread and only between bytecodes, never while a
    C call blocks. On the main thread the call therefore runs on a helper thread while the
    main thread waits on an event (an interruptible wait); KeyboardInterrupt then propagates
    at once and the call finishes in the background. Elsewhere it runs directly. Exceptions
    of ``fn`` are re-raised in the caller.
    """
    if threading.current_thread() is not threading.main_thread():
        fn()
        return
    errors: List[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            errors.append(e)
        finally:
            done.set()

    threading.Thread(target=run, name="wsbeat-blocking-call", daemon=True).start()
    done.wait()
    if errors:
        raise errors[0]


def _close_and_free(h: Handle, bound: float) -> None:
    try:
        if h.ptr is not None and not h.freeing:
            with h.use() as p:
                _lib.lib().ws_close(p, 1000, None)
        h.free(wait=bound)
    except BaseException:  # noqa: BLE001
        pass


def _shutdown() -> None:
    """At interpreter exit: stop every client and the logger so that the library never calls
    into a finalizing interpreter.

    The clients are closed concurrently, one thread each, so that the whole takes one close
    timeout (the longest of them, plus the library's 0.5 s), not one per client.
    """
    with _live_lock:
        handles = list(_live)
    if handles:
        bound = max(h.close_timeout for h in handles) + 1.0
        deadline = time.monotonic() + bound
        threads = [
            threading.Thread(target=_close_and_free, args=(h, bound), daemon=True)
            for h in handles
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
    clear_logging()


atexit.register(_shutdown)
