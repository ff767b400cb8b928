"""The configuration hooks that the library's I/O thread calls: ``before_connect`` (with the
:class:`Request` it may change), ``reconnect_on_close`` and the custom heartbeat's
``heartbeat_is_reply``. One module-level trampoline per hook type (they live as long as the
module); ``userdata`` is an integer key into the registry here, never a Python pointer.

The rules are those of the event callbacks: every exception (``SystemExit`` too) is caught
and logged on the ``wsbeat`` logger, ctypes takes the GIL for the call, and the library calls
no hook of a client after ``ws_free`` returns (the key is unregistered only then).
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    MutableMapping,
    Optional,
    Tuple,
    Union,
)
from urllib.parse import urlsplit, urlunsplit

from . import _abi, _lib
from ._handle import mark_callback, unmark_callback
from ._log import log

BeforeConnect = Callable[["Request"], Any]
CloseCodePolicy = Callable[[int], bool]
ReplyMatcher = Callable[[Union[str, bytes]], bool]

_DEFAULT_DECLINED = (1002, 1003, 1007, 1008, 1010)


class Hooks:
    """The hooks of one config (copied into every client connected with it)."""

    def __init__(self) -> None:
        self.before_connect: Optional[BeforeConnect] = None
        self.reconnect_on_close: Optional[CloseCodePolicy] = None
        self.is_reply: Optional[ReplyMatcher] = None
        # The client's wsbeat.Runtime (set on the client's copy): the hooks then run on a
        # shared runtime thread (see _handle.in_callback_of).
        self.runtime: Any = None

    def copy(self) -> "Hooks":
        h = Hooks()
        h.before_connect = self.before_connect
        h.reconnect_on_close = self.reconnect_on_close
        h.is_reply = self.is_reply
        return h

    def any(self) -> bool:
        return any(f is not None for f in (self.before_connect, self.reconnect_on_close, self.is_reply))


_registry: Dict[int, Hooks] = {}
_registry_lock = threading.Lock()
_keys = itertools.count(1)


def register(hooks: Hooks) -> int:
    """Register a client's hooks; returns the key passed as their ``userdata``."""
    key = next(_keys)
    with _registry_lock:
        _registry[key] = hooks
    return key


def unregister(key: int) -> None:
    """Forget a client's hooks (call once ``ws_free`` has returned)."""
    if key:
        with _registry_lock:
            _registry.pop(key, None)


class RequestHeaders(MutableMapping[str, str]):
    """The request headers of one connection attempt: a mapping with case-insensitive names,
    in order. ``headers[name] = value`` replaces every header of that name (or adds it),
    ``del headers[name]`` removes them all, :meth:`add` appends one more of the same name,
    :meth:`get_all` and :meth:`pairs` see repeated headers. Its ``repr`` shows names only:
    values may be secrets."""

    def __init__(self, pairs: Iterable[Tuple[str, str]] = ()) -> None:
        self._pairs: List[Tuple[str, str]] = []
        for name, value in pairs:
            self.add(name, value)

    @staticmethod
    def _check(name: Any, value: Any) -> None:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("header names and values must be str")

    def __getitem__(self, name: str) -> str:
        low = name.lower()
        for k, v in self._pairs:
            if k.lower() == low:
                return v
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        self._check(name, value)
        low = name.lower()
        out: List[Tuple[str, str]] = []
        placed = False
        for k, v in self._pairs:
            if k.lower() == low:
                if not placed:
                    out.append((name, value))
                    placed = True
            else:
                out.append((k, v))
        if not placed:
            out.append((name, value))
        self._pairs = out

    def __delitem__(self, name: str) -> None:
        low = name.lower()
        kept = [(k, v) for k, v in self._pairs if k.lower() != low]
        if len(kept) == len(self._pairs):
            raise KeyError(name)
        self._pairs = kept

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for k, _ in self._pairs:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._pairs})

    def add(self, name: str, value: str) -> None:
        """Append a header, even if one of that name is there (for headers that repeat)."""
        self._check(name, value)
        self._pairs.append((name, value))

    def get_all(self, name: str) -> List[str]:
        """Every value of ``name``, in order."""
        low = name.lower()
        return [v for k, v in self._pairs if k.lower() == low]

    def pairs(self) -> List[Tuple[str, str]]:
        """Every (name, value), in the order they are sent."""
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"RequestHeaders({[k for k, _ in self._pairs]!r})"


def _redacted(url: str) -> str:
    """The URL without credentials or query string (tokens often live there)."""
    try:
        p = urlsplit(url)
        host = p.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{p.port}" if p.port else "")
        return urlunsplit((p.scheme, netloc, p.path, "…" if p.query else "", ""))
    except ValueError:
        return "<url>"


class Request:
    """What one connection attempt uses, given to the ``before_connect`` hook, which may
    change it for this attempt.

    Attributes:
        url: the URL (``ws://`` or ``wss://``); assign a new one, e.g. with a fresh token in
            the query string.
        headers: the extra request headers (a :class:`RequestHeaders`, a case-insensitive
            mapping; assigning a dict or (name, value) pairs replaces them all), e.g.
            ``request.headers["Authorization"] = f"Bearer {token}"``.
        attempt: 0 for the first connect, then the reconnect attempt number.
        endpoint: which configured endpoint the attempt is for (0: the client's ``url``,
            1..: each of ``endpoints`` in order); ``url`` starts as that endpoint's.
            Read-only in effect: assigning ``url`` redirects this attempt, not the rotation.

    Every attempt starts again from its endpoint's URL and ``headers``: changes do not carry
    over to the next attempt. The library checks the changes when the hook returns; an
    invalid URL or header fails the attempt like an exception does.
    """

    __slots__ = ("url", "_headers", "attempt", "endpoint")

    def __init__(
        self, url: str, headers: Iterable[Tuple[str, str]], attempt: int, endpoint: int = 0
    ) -> None:
        self.url = url
        self._headers = RequestHeaders(headers)
        self.attempt = attempt
        self.endpoint = endpoint

    @property
    def headers(self) -> RequestHeaders:
        return self._headers

    @headers.setter
    def headers(self, value: Union[Mapping[str, str], Iterable[Tuple[str, str]]]) -> None:
        items = value.items() if isinstance(value, Mapping) else value
        self._headers = RequestHeaders(items)

    def __repr__(self) -> str:
        return (
            f"<wsbeat.Request attempt={self.attempt} url={_redacted(self.url)!r} "
            f"headers={[k for k, _ in self._headers.pairs()]!r}>"
        )


def _text(p: Optional[bytes]) -> str:
    return (p or b"").decode("utf-8", "replace")


def _apply(lib: Any, req_ptr: int, original: Request, req: Request) -> int:
    """Write the hook's changes back through the ``ws_request`` handle."""
    if not isinstance(req.url, str):
        log.error("wsbeat: before_connect set request.url to a %s, not a str "
                  "(this connection attempt fails)", type(req.url).__name__)
        return _abi.WS_ERR_INVALID_URL
    if req.url != original.url:
        try:
            url_b = req.url.encode("utf-8")
        except UnicodeEncodeError:
            return _abi.WS_ERR_INVALID_UTF8
        rc: int = lib.ws_request_set_url(req_ptr, url_b)
        if rc != _abi.WS_OK:
            log.error("wsbeat: before_connect set an invalid request.url: %s "
                      "(this connection attempt fails)", _lib.last_error())
            return rc
    new = req.headers.pairs()
    old = original.headers.pairs()
    if new != old:
        for name in {k.lower() for k, _ in old}:
            lib.ws_request_remove_header(req_ptr, name.encode("utf-8"))
        for name, value in new:
            try:
                rc = lib.ws_request_add_header(req_ptr, name.encode("utf-8"), value.encode("utf-8"))
            except UnicodeEncodeError:
                rc = _abi.WS_ERR_INVALID_UTF8
            if rc != _abi.WS_OK:
                log.error("wsbeat: before_connect set an invalid header %r "
                          "(this connection attempt fails)", name)
                return rc
    return _abi.WS_OK


def _before_connect(userdata: Optional[int], attempt: int, req_ptr: Optional[int]) -> int:
    try:
        hooks = _registry.get(userdata or 0)
        fn = hooks.before_connect if hooks is not None else None
        if fn is None or req_ptr is None:
            return _abi.WS_OK
        lib = _lib.lib()
        url = _text(lib.ws_request_url(req_ptr))
        pairs = [
            (_text(lib.ws_request_header_name(req_ptr, i)), _text(lib.ws_request_header_value(req_ptr, i)))
            for i in range(lib.ws_request_header_count(req_ptr))
        ]
        endpoint = int(lib.ws_request_endpoint(req_ptr))
        original = Request(url, pairs, attempt, endpoint)
        req = Request(url, pairs, attempt, endpoint)
        marked = mark_callback(hooks.runtime) if hooks is not None else None
        try:
            fn(req)
        except BaseException:  # noqa: BLE001 - SystemExit too: it cannot propagate
            log.exception("wsbeat: exception in before_connect (this connection attempt fails; "
                          "the next one follows the reconnect policy)")
            return _abi.WS_ERR_CALLBACK
        finally:
            unmark_callback(marked)
        return _apply(lib, req_ptr, original, req)
    except BaseException:  # noqa: BLE001 - nothing may escape into the library's thread
        try:
            log.exception("wsbeat: error while running before_connect")
        except BaseException:  # noqa: BLE001
            pass
        return _abi.WS_ERR_CALLBACK


def _reconnect_on_close(userdata: Optional[int], code: int) -> bool:
    try:
        hooks = _registry.get(userdata or 0)
        fn = hooks.reconnect_on_close if hooks is not None else None
        if fn is not None:
            marked = mark_callback(hooks.runtime) if hooks is not None else None
            try:
                return bool(fn(code))
            except BaseException:  # noqa: BLE001
                log.exception("wsbeat: exception in reconnect_on_close(%d) (the default "
                              "policy decides)", code)
            finally:
                unmark_callback(marked)
    except BaseException:  # noqa: BLE001
        pass
    return code not in _DEFAULT_DECLINED


def _is_reply(userdata: Optional[int], data: Optional[int], length: int, kind: int) -> bool:
    try:
        hooks = _registry.get(userdata or 0)
        fn = hooks.is_reply if hooks is not None else None
        if fn is None:
            return False
        payload = ctypes.string_at(data, length) if data and length else b""
        msg: Union[str, bytes] = (
            payload.decode("utf-8", "replace") if kind == _abi.WS_MESSAGE_TEXT else payload
        )
        marked = mark_callback(hooks.runtime) if hooks is not None else None
        try:
            return bool(fn(msg))
        except BaseException:  # noqa: BLE001
            log.exception("wsbeat: exception in heartbeat_is_reply (taken as not a reply)")
        finally:
            unmark_callback(marked)
    except BaseException:  # noqa: BLE001
        pass
    return False


BEFORE_CONNECT_TRAMPOLINE = _abi.WS_BEFORE_CONNECT_CALLBACK(_before_connect)
CLOSE_CODE_TRAMPOLINE = _abi.WS_CLOSE_CODE_CALLBACK(_reconnect_on_close)
MATCHER_TRAMPOLINE = _abi.WS_HEARTBEAT_MATCHER_CALLBACK(_is_reply)
NULL_MATCHER = _abi.WS_HEARTBEAT_MATCHER_CALLBACK()
"""NULL: a message equal to the heartbeat payload is the reply."""
