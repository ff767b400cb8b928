"""A :class:`Runtime`: a few I/O threads shared by many clients (``ws_runtime``)."""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Optional

from . import _lib
from .errors import ClosedError, InvalidArgumentError, error_for

MAX_THREADS = _lib.WS_MAX_RUNTIME_THREADS
"""The largest thread count a :class:`Runtime` accepts (``WS_MAX_RUNTIME_THREADS``)."""


class Runtime:
    """A pool of I/O threads that many clients share (``ws_runtime_new``), instead of one I/O
    thread per client: ``Client(url, runtime=rt)``.

    Without a runtime every client has an I/O thread of its own, which fits a few
    connections. Hundreds or thousands (a gateway, a device fleet, a load tester) go on a
    runtime: its threads are named ``wsbeat-rt-0``, ``wsbeat-rt-1``, ...; each client is
    placed on the one with the fewest clients. Every guarantee of a client holds on a
    runtime, per client. What is shared is the thread: the callbacks of the clients on one
    runtime thread run on it one after the other, so a slow callback delays the others.

    Lifetime: a client (and a :class:`Config` set to the runtime) keeps it alive, so
    :meth:`close` (or leaving the ``with`` block) may come before the clients are closed:
    the threads end once the runtime is closed and the last client on it is closed.

    Args:
        threads: the number of I/O threads, 1 to :data:`MAX_THREADS` (default 2).

    Raises:
        InvalidArgumentError: ``threads`` out of range. TypeError: not an int.
        SpawnError: a thread could not be started.
    """

    def __init__(self, threads: int = 2) -> None:
        self._lock = threading.Lock()
        self._ptr: Optional[int] = None
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int, not {type(threads).__name__}")
        if not 1 <= threads <= MAX_THREADS:
            raise InvalidArgumentError(
                f"runtime threads = {threads} is out of range (1..={MAX_THREADS})",
                _lib.WS_ERR_INVALID_ARGUMENT,
            )
        lib = _lib.lib()
        out = ctypes.c_void_p()
        rc = lib.ws_runtime_new(threads, ctypes.byref(out))
        if rc != _lib.WS_OK:
            raise error_for(rc, _lib.last_error() or _lib.result_str(rc))
        self._ptr = out.value
        self._threads = int(lib.ws_runtime_threads(self._ptr))

    @property
    def threads(self) -> int:
        """The number of I/O threads."""
        return self._threads

    @property
    def clients(self) -> int:
        """The number of clients running on it now (a client counts until it has stopped).

        Raises:
            ClosedError: after :meth:`close`.
        """
        with self._lock:
            if self._ptr is None:
                raise ClosedError("the runtime is closed", _lib.WS_ERR_CLOSED)
            return int(_lib.lib().ws_runtime_clients(self._ptr))

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._ptr is None

    def close(self) -> None:
        """Release the runtime (``ws_runtime_free``); idempotent. Clients on it keep running
        on its threads until they are closed; no new client can be put on it."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            _lib.lib().ws_runtime_free(ptr)

    def _set_on(self, lib: ctypes.CDLL, config: int) -> int:
        """``ws_config_set_runtime(config, this)``: the config keeps the threads from here on.

        Raises:
            ClosedError: the runtime was closed.
        """
        with self._lock:
            if self._ptr is None:
                raise ClosedError("the runtime is closed: create a new one", _lib.WS_ERR_CLOSED)
            return int(lib.ws_config_set_runtime(config, self._ptr))

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else f"{self.clients} clients"
        return f"<wsbeat.Runtime {self._threads} threads, {state}>"

    def __del__(self) -> None:
        try:
            self.close()
        except BaseException:  # noqa: BLE001 - best effort (interpreter shutdown)
            pass
