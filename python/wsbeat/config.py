"""A :class:`Config`: the settings of a :class:`~wsbeat.Client`, one setter per ``ws_config_*``.

Each setter checks its arguments at once (``TypeError`` for a wrong type,
:class:`~wsbeat.InvalidArgumentError` for a value out of range), records the C call, and
returns the config, so calls chain::

    cfg = wsbeat.Config().heartbeat("ping", interval=5, timeout=2).max_attempts(3)
    client = wsbeat.Client(url, config=cfg)

The library checks the combination (e.g. ``timeout < interval``) when a client is created
from it. A config can be reused for any number of clients. ``Client(url, **options)`` builds
one with :meth:`Config.from_options`, whose keyword arguments are the same settings.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, List, Optional, Sequence, Tuple, Union

from . import _hooks, _lib
from ._convert import Headers, PathOrPem, cstr, encode, header_pairs, integer, ms, pem
from .errors import InvalidArgumentError, error_for
from .runtime import Runtime

_HEARTBEATS = {
    "off": _lib.HEARTBEAT_OFF,
    "ping": _lib.HEARTBEAT_PING,
    "seed-json": _lib.HEARTBEAT_SEED_JSON,
}
_MODES = "'ping', 'seed-json', 'custom' or 'off'"
_HEARTBEAT_CALLS = ("ws_config_set_heartbeat", "ws_config_set_custom_heartbeat")


class _Key:
    """Placeholder in a recorded call for the client's hooks key (its ``userdata``)."""


_KEY = _Key()

Call = Tuple[str, Tuple[Any, ...]]


def _check(rc: int) -> None:
    if rc != _lib.WS_OK:
        raise error_for(rc, _lib.last_error() or _lib.result_str(rc))


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool")
    return value


class Config:
    """The settings of a client. Every setter maps to the ``ws_config_*`` function named in
    its doc, and returns ``self``. Settings not set keep the library's defaults."""

    def __init__(self) -> None:
        # The C calls in the order they were made; a setter called again replaces its
        # earlier call, the ``add`` ones accumulate.
        self._calls: List[Call] = []
        # The Python hooks, registered per client (see _hooks) when one is created.
        self._hooks = _hooks.Hooks()

    def _put(self, name: str, args: Tuple[Any, ...]) -> None:
        self._calls = [c for c in self._calls if c[0] != name]
        self._calls.append((name, args))

    def __repr__(self) -> str:
        names = [k.replace("ws_config_", "") for k, _ in self._calls]
        return f"<wsbeat.Config {', '.join(names) or 'defaults'}>"

    def copy(self) -> "Config":
        """An independent copy."""
        c = Config()
        c._calls = list(self._calls)
        c._hooks = self._hooks.copy()
        return c

    # ---- connection life -------------------------------------------------------------------

    def heartbeat(
        self,
        mode: str = "ping",
        interval: Optional[float] = None,
        timeout: Optional[float] = None,
        payload: Any = None,
        is_reply: Optional[_hooks.ReplyMatcher] = None,
    ) -> "Config":
        """``ws_config_set_heartbeat``: ``"ping"`` (WebSocket pings), ``"seed-json"`` (the seed
        protocol's ``{"ModeCode":"heart_beat","msg":<ms>}`` echoed by the server),
        ``"custom"`` (see below) or ``"off"``; a heartbeat after ``interval`` seconds of
        silence (default 20), the peer declared dead when nothing is heard ``timeout`` seconds
        after it (default 10, or half the interval if that is less; must be below
        ``interval``).

        ``"custom"`` (``ws_config_set_custom_heartbeat``): an application heartbeat.
        ``payload`` is the message sent (``str``: text, bytes-like: binary; required);
        ``is_reply(message)`` (``str`` or ``bytes``) returns True for the server's answer,
        which is then not delivered as a message. Without ``is_reply``, a message equal to
        the payload is the answer (for servers that echo). It runs on the library's I/O
        thread for every message received; an exception is logged and counts as False."""
        if not isinstance(mode, str):
            raise TypeError(f"heartbeat must be a str: {_MODES}")
        if mode not in _HEARTBEATS and mode != "custom":
            raise InvalidArgumentError(f"heartbeat must be {_MODES}, not {mode!r}")
        if mode != "custom" and (payload is not None or is_reply is not None):
            raise InvalidArgumentError(
                "heartbeat_payload and heartbeat_is_reply go with heartbeat='custom'"
            )
        if is_reply is not None and not callable(is_reply):
            raise TypeError("heartbeat_is_reply must be callable")
        interval_ms = ms("interval", interval)
        timeout_ms = ms("timeout", timeout)
        self._calls = [c for c in self._calls if c[0] not in _HEARTBEAT_CALLS]
        self._hooks.is_reply = None
        if mode == "off":
            # Always set: leaving it out kept the library's default (a ping every 20 s).
            self._calls.append(("ws_config_set_heartbeat", (_HEARTBEATS["off"], 0, 0)))
            return self
        if interval_ms is None:
            interval_ms = 20_000
        if timeout_ms is None:
            timeout_ms = min(10_000, max(1, interval_ms // 2))
        if mode != "custom":
            self._calls.append(
                ("ws_config_set_heartbeat", (_HEARTBEATS[mode], interval_ms, timeout_ms))
            )
            return self
        if payload is None:
            raise InvalidArgumentError("heartbeat='custom' needs heartbeat_payload (str or bytes)")
        data, kind = encode(payload)
        self._hooks.is_reply = is_reply
        matcher = _hooks.NULL_MATCHER if is_reply is None else _hooks.MATCHER_TRAMPOLINE
        self._calls.append(("ws_config_set_custom_heartbeat", (
            interval_ms, timeout_ms, data, len(data), kind, matcher, _KEY,
        )))
        return self

    def before_connect(self, fn: Optional[_hooks.BeforeConnect]) -> "Config":
        """``ws_config_set_before_connect``: ``fn(request)`` runs on the library's I/O thread
        before every connection attempt and may change ``request.url`` and
        ``request.headers`` for it (see :class:`~wsbeat.Request`), e.g. to send a fresh
        token. An exception is logged and fails that attempt (an :class:`~wsbeat.Error`
        event of kind ``ErrorKind.CALLBACK``; the reconnect policy decides what follows).
        None removes it."""
        if fn is not None and not callable(fn):
            raise TypeError("before_connect must be callable")
        self._hooks.before_connect = fn
        self._calls = [c for c in self._calls if c[0] != "ws_config_set_before_connect"]
        if fn is not None:
            self._calls.append(
                ("ws_config_set_before_connect", (_hooks.BEFORE_CONNECT_TRAMPOLINE, _KEY))
            )
        return self

    def reconnect_on_close(self, fn: Optional[_hooks.CloseCodePolicy]) -> "Config":
        """``ws_config_set_reconnect_on_close``: ``fn(code) -> bool`` decides, when the
        server closes the connection with ``code``, whether to reconnect (False: the client
        stops with ``StopReason.POLICY_DECLINED``). It replaces the default policy
        (reconnect unless 1002, 1003, 1007, 1008 or 1010). Runs on the library's I/O thread;
        an exception is logged and the default policy decides. None restores the default."""
        if fn is not None and not callable(fn):
            raise TypeError("reconnect_on_close must be callable")
        self._hooks.reconnect_on_close = fn
        self._calls = [c for c in self._calls if c[0] != "ws_config_set_reconnect_on_close"]
        if fn is not None:
            self._calls.append(
                ("ws_config_set_reconnect_on_close", (_hooks.CLOSE_CODE_TRAMPOLINE, _KEY))
            )
        return self

    def reconnect(self, enabled: bool = True) -> "Config":
        """``ws_config_set_reconnect``: reconnect automatically when a connection ends.
        Defaults to True."""
        self._put("ws_config_set_reconnect", (_bool("reconnect", enabled),))
        return self

    def backoff(
        self,
        initial: Optional[float] = None,
        maximum: Optional[float] = None,
        factor: Optional[float] = None,
        jitter: Optional[float] = None,
    ) -> "Config":
        """``ws_config_set_backoff``: the delay before reconnect attempt n is ``min(max,
        initial * factor**(n-1))`` minus a random fraction of up to ``jitter`` of it.
        Defaults to 0.5 s, 30 s, 2.0, 0.5."""
        initial_ms = ms("backoff_initial", initial) or 500
        max_ms = ms("backoff_max", maximum) or max(30_000, initial_ms)
        for name, v in (("backoff_factor", factor), ("backoff_jitter", jitter)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise TypeError(f"{name} must be a number")
        self._put("ws_config_set_backoff", (
            initial_ms,
            max_ms,
            float(2.0 if factor is None else factor),
            float(0.5 if jitter is None else jitter),
        ))
        return self

    def max_attempts(self, n: int) -> "Config":
        """``ws_config_set_max_attempts``: stop after this many consecutive failed attempts
        (0: no limit). Defaults to 0."""
        value = integer("max_attempts", n)
        if value is not None and value > 0xFFFFFFFF:
            raise InvalidArgumentError("max_attempts is too large")
        self._put("ws_config_set_max_attempts", (value,))
        return self

    def min_uptime(self, seconds: float) -> "Config":
        """``ws_config_set_min_uptime``: how long a connection must stay open to reset the
        backoff. Defaults to 5 s."""
        self._put("ws_config_set_min_uptime", (ms("min_uptime", seconds, allow_zero=True),))
        return self

    def retry_after_cap(self, seconds: float) -> "Config":
        """``ws_config_set_retry_after_cap``: the longest server ``Retry-After`` (HTTP
        429/503) honoured. Defaults to 300 s."""
        cap = ms("retry_after_cap", seconds, allow_zero=True)
        self._put("ws_config_set_retry_after_cap", (cap,))
        return self

    def retry_certificate_errors(self, retry: bool = True) -> "Config":
        """``ws_config_set_retry_certificate_errors``: retry a rejected server certificate
        like other failures. Defaults to False (the client stops with
        ``StopReason.POLICY_DECLINED``)."""
        self._put("ws_config_set_retry_certificate_errors", (
            _bool("retry_certificate_errors", retry),
        ))
        return self

    def connect_timeout(self, seconds: float) -> "Config":
        """``ws_config_set_connect_timeout``: bound on one connection attempt. Defaults to
        10 s."""
        self._put("ws_config_set_connect_timeout", (ms("connect_timeout", seconds),))
        return self

    def proxy(self, url: Optional[str]) -> "Config":
        """``ws_config_set_proxy``: the proxy to connect through. ``None`` (the default) reads
        the proxy environment variables at each attempt (``no_proxy``, ``wss_proxy`` /
        ``ws_proxy``, ``https_proxy``, ``http_proxy`` for ws:// only, ``all_proxy``); ``""``
        connects directly; otherwise ``http://[user:password@]host[:port]`` (HTTP CONNECT),
        ``https://...`` (HTTP CONNECT inside TLS to the proxy, verified with the client's TLS
        options), ``socks5://...`` (the server's name resolved here) or ``socks5h://...`` (by
        the proxy). Raises ``InvalidUrlError`` for another scheme or a path."""
        if url is not None and not isinstance(url, str):
            raise TypeError("proxy must be a str or None")
        self._put("ws_config_set_proxy", (None if url is None else cstr("proxy", url),))
        return self

    def close_timeout(self, seconds: float) -> "Config":
        """``ws_config_set_close_timeout``: bound on the close handshake. Defaults to 2 s."""
        self._put("ws_config_set_close_timeout", (ms("close_timeout", seconds),))
        return self

    # ---- sizes -----------------------------------------------------------------------------

    def max_message_size(self, nbytes: int) -> "Config":
        """``ws_config_set_max_message_size``: the largest message in either direction.
        Defaults to 16 MiB."""
        self._put("ws_config_set_max_message_size", (integer("max_message_size", nbytes),))
        return self

    def compression(
        self,
        mode: Optional[str] = "deflate",
        window_bits: int = 15,
        no_context_takeover: bool = False,
        min_size: int = 64,
    ) -> "Config":
        """``ws_config_set_compression``: ``"deflate"`` offers permessage-deflate (RFC 7692),
        used if the server accepts; ``None`` does not offer it (the default, unlike the
        ``websockets`` package: the zlib state costs about 330 KiB per connection).
        ``window_bits`` 9..15; ``no_context_takeover`` compresses each message on its own;
        messages below ``min_size`` bytes are sent uncompressed."""
        if mode is not None and mode != "deflate":
            raise InvalidArgumentError(f'compression must be "deflate" or None, not {mode!r}')
        self._put("ws_config_set_compression", (
            mode is not None,
            integer("window_bits", window_bits),
            _bool("no_context_takeover", no_context_takeover),
            integer("min_size", min_size),
        ))
        return self

    def outbox_limits(
        self, max_messages: Optional[int] = None, max_bytes: Optional[int] = None
    ) -> "Config":
        """``ws_config_set_outbox_limits``: bounds of the outbox. Defaults to 4096 messages,
        64 MiB."""
        self._put("ws_config_set_outbox_limits", (
            integer("outbox_max_messages", max_messages) if max_messages is not None else 4096,
            integer("outbox_max_bytes", max_bytes) if max_bytes is not None else 64 << 20,
        ))
        return self

    def event_capacity(self, capacity: int) -> "Config":
        """``ws_config_set_event_capacity``: pull mode only: events that may wait for
        ``next_event``. Defaults to 256."""
        self._put("ws_config_set_event_capacity", (integer("event_capacity", capacity),))
        return self

    def pong_events(self, on: bool = True) -> "Config":
        """``ws_config_set_pong_events``: pull mode only: whether heartbeat answers are
        returned as :class:`Pong` events. Defaults to True; False keeps an idle connection's
        heartbeat from waking the thread in :meth:`Client.next_event` (``stats`` still has
        the round-trip time). Callback mode always gets them."""
        self._put("ws_config_set_pong_events", (_bool("pong_events", on),))
        return self

    # ---- the request -----------------------------------------------------------------------

    def runtime(self, runtime: Optional[Runtime]) -> "Config":
        """``ws_config_set_runtime``: run the clients' connections on a shared
        :class:`Runtime`'s threads instead of an I/O thread each; None (the default): an I/O
        thread per client. The config and every client made with it keep a reference to the
        runtime."""
        if runtime is not None and not isinstance(runtime, Runtime):
            raise TypeError(f"runtime must be a wsbeat.Runtime, not {type(runtime).__name__}")
        self._put("ws_config_set_runtime", (runtime,))
        return self

    @property
    def runtime_object(self) -> Optional[Runtime]:
        """The :class:`Runtime` this config puts its clients on, or None."""
        for name, args in self._calls:
            if name == "ws_config_set_runtime":
                return args[0]  # type: ignore[no-any-return]
        return None

    def add_endpoint(self, url: str) -> "Config":
        """``ws_config_add_endpoint``: a further endpoint (``ws://`` or ``wss://``; checked
        when the client is created: ``InvalidUrlError``). The client's ``url`` is endpoint 0, each call adds the
        next; after every failure (or ``reconnect_now``) the next attempt goes to the next
        endpoint, round-robin, on the client's one backoff schedule."""
        self._calls.append(("ws_config_add_endpoint", (cstr("endpoint", url),)))
        return self

    def endpoints(self, urls: Sequence[str]) -> "Config":
        """``ws_config_add_endpoint`` for each, in order."""
        if isinstance(urls, (str, bytes)):
            raise TypeError("endpoints must be a sequence of str, not a single string")
        for u in urls:
            self.add_endpoint(u)
        return self

    def add_header(self, name: str, value: str) -> "Config":
        """``ws_config_add_header``: an extra request header."""
        self._calls.append(
            ("ws_config_add_header", (cstr("header name", name), cstr("header value", value)))
        )
        return self

    def headers(self, headers: Headers) -> "Config":
        """``ws_config_add_header`` for each of a mapping or (name, value) pairs."""
        for n, v in header_pairs(headers):
            self._calls.append(("ws_config_add_header", (n, v)))
        return self

    def add_subprotocol(self, protocol: str) -> "Config":
        """``ws_config_add_subprotocol``: offer a subprotocol (in order of preference)."""
        self._calls.append(("ws_config_add_subprotocol", (cstr("subprotocol", protocol),)))
        return self

    def subprotocols(self, protocols: Sequence[str]) -> "Config":
        """``ws_config_add_subprotocol`` for each, in order of preference."""
        if isinstance(protocols, (str, bytes)):
            raise TypeError("subprotocols must be a sequence of str, not a single string")
        for p in protocols:
            self.add_subprotocol(p)
        return self

    # ---- TLS -------------------------------------------------------------------------------

    def tls_add_ca_file(self, path: Union[str, "os.PathLike[str]"]) -> "Config":
        """``ws_config_tls_add_ca_file``: also trust the CAs in this PEM file."""
        p = os.fspath(path)
        if not isinstance(p, str):
            raise TypeError("ca_file must be a str or os.PathLike path")
        self._calls.append(("ws_config_tls_add_ca_file", (cstr("ca_file", p),)))
        return self

    def tls_add_ca_pem(self, ca: PathOrPem) -> "Config":
        """``ws_config_tls_add_ca_pem``: also trust these PEM CAs (str/bytes, or a path)."""
        data = pem("ca_pem", ca)
        self._calls.append(("ws_config_tls_add_ca_pem", (data, len(data))))
        return self

    def tls_client_cert(self, cert: PathOrPem, key: PathOrPem) -> "Config":
        """``ws_config_tls_set_client_cert_pem``: a mutual-TLS certificate chain and key (PEM
        str/bytes or paths)."""
        c, k = pem("client_cert", cert), pem("client_key", key)
        self._put("ws_config_tls_set_client_cert_pem", (c, len(c), k, len(k)))
        return self

    def tls_bundled_roots(self, use_them: bool = True) -> "Config":
        """``ws_config_tls_set_bundled_roots``: trust the bundled Mozilla roots. Defaults to
        True; turn off only together with a CA of your own (trusting nothing is a TlsError)."""
        self._put("ws_config_tls_set_bundled_roots", (_bool("bundled_roots", use_them),))
        return self

    def tls_native_roots(self, enabled: bool = True) -> "Config":
        """``ws_config_tls_set_native_roots``: also trust the platform's root store. Needs a
        libwsbeat built with the ``native-roots`` feature (the wheel is not: creating a client
        then raises TlsError). Defaults to False."""
        self._put("ws_config_tls_set_native_roots", (_bool("native_roots", enabled),))
        return self

    def tls_use_native_tls(self, enabled: bool = True) -> "Config":
        """``ws_config_tls_use_native_tls``: use the platform's TLS library (OpenSSL on
        Linux) instead of rustls. Needs a libwsbeat built with the ``native-tls`` feature
        (the wheel is not: creating a client then raises TlsError). Defaults to False."""
        self._put("ws_config_tls_use_native_tls", (_bool("native_tls", enabled),))
        return self

    def tls_dangerous_disable_verification(self, disable: bool = True) -> "Config":
        """``ws_config_tls_dangerous_disable_verification``: DANGEROUS: accept any server
        certificate (self-signed test servers only). Defaults to False."""
        self._put("ws_config_tls_dangerous_disable_verification", (_bool("insecure", disable),))
        return self

    @property
    def close_timeout_seconds(self) -> float:
        """The close timeout this config sets (the library's default, 2 s, if not set)."""
        for name, args in self._calls:
            if name == "ws_config_set_close_timeout":
                return float(args[0]) / 1000.0
        return 2.0

    # ---- building --------------------------------------------------------------------------

    @classmethod
    def from_options(
        cls,
        *,
        heartbeat: str = "ping",
        interval: Optional[float] = None,
        timeout: Optional[float] = None,
        heartbeat_payload: Any = None,
        heartbeat_is_reply: Optional[_hooks.ReplyMatcher] = None,
        before_connect: Optional[_hooks.BeforeConnect] = None,
        reconnect_on_close: Optional[_hooks.CloseCodePolicy] = None,
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
        proxy: Optional[str] = None,
        endpoints: Optional[Sequence[str]] = None,
        runtime: Optional[Runtime] = None,
        max_message_size: Optional[int] = None,
        compression: Optional[str] = None,
        outbox_max_messages: Optional[int] = None,
        outbox_max_bytes: Optional[int] = None,
        event_capacity: Optional[int] = None,
        pong_events: bool = True,
        headers: Headers = None,
        subprotocols: Optional[Sequence[str]] = None,
        ca_file: Union[str, "os.PathLike[str]", None] = None,
        ca_pem: Optional[PathOrPem] = None,
        client_cert: Optional[PathOrPem] = None,
        client_key: Optional[PathOrPem] = None,
        insecure: bool = False,
        bundled_roots: bool = True,
        native_roots: bool = False,
        native_tls: bool = False,
    ) -> "Config":
        """A config from ``Client``'s keyword options (see :class:`~wsbeat.Client`)."""
        c = cls().heartbeat(heartbeat, interval, timeout, heartbeat_payload, heartbeat_is_reply)
        c.reconnect(reconnect)
        if before_connect is not None:
            c.before_connect(before_connect)
        if reconnect_on_close is not None:
            c.reconnect_on_close(reconnect_on_close)
        if any(v is not None for v in (backoff_initial, backoff_max, backoff_factor, backoff_jitter)):
            c.backoff(backoff_initial, backoff_max, backoff_factor, backoff_jitter)
        if max_attempts is not None:
            c.max_attempts(max_attempts)
        if min_uptime is not None:
            c.min_uptime(min_uptime)
        if retry_after_cap is not None:
            c.retry_after_cap(retry_after_cap)
        if _bool("retry_certificate_errors", retry_certificate_errors):
            c.retry_certificate_errors(True)
        if connect_timeout is not None:
            c.connect_timeout(connect_timeout)
        if close_timeout is not None:
            c.close_timeout(close_timeout)
        if proxy is not None:
            c.proxy(proxy)
        if endpoints is not None:
            c.endpoints(endpoints)
        if runtime is not None:
            c.runtime(runtime)
        if max_message_size is not None:
            c.max_message_size(max_message_size)
        if compression is not None:
            c.compression(compression)
        if outbox_max_messages is not None or outbox_max_bytes is not None:
            c.outbox_limits(outbox_max_messages, outbox_max_bytes)
        if event_capacity is not None:
            c.event_capacity(event_capacity)
        if pong_events is not True:
            c.pong_events(pong_events)
        c.headers(headers)
        if subprotocols is not None:
            c.subprotocols(subprotocols)
        if ca_file is not None:
            c.tls_add_ca_file(ca_file)
        if ca_pem is not None:
            c.tls_add_ca_pem(ca_pem)
        if (client_cert is None) != (client_key is None):
            raise InvalidArgumentError("client_cert and client_key go together")
        if client_cert is not None and client_key is not None:
            c.tls_client_cert(client_cert, client_key)
        if not isinstance(insecure, bool) or not isinstance(bundled_roots, bool):
            raise TypeError("insecure and bundled_roots must be bool")
        if insecure:
            c.tls_dangerous_disable_verification(True)
        if not bundled_roots:
            c.tls_bundled_roots(False)
        if _bool("native_roots", native_roots):
            c.tls_native_roots(True)
        if _bool("native_tls", native_tls):
            c.tls_use_native_tls(True)
        return c

    def _new(self, lib: ctypes.CDLL, hooks_key: int = 0) -> int:
        """A new ``ws_config *`` with every recorded call applied (the caller frees it with
        ``ws_config_free``), the hooks' ``userdata`` being ``hooks_key`` (from
        ``_hooks.register``). Raises the library's error for a call it refuses."""
        config: int = lib.ws_config_new()
        try:
            for name, args in self._calls:
                if name == "ws_config_set_runtime":
                    rt = args[0]
                    _check(lib.ws_config_set_runtime(config, None) if rt is None else rt._set_on(lib, config))
                    continue
                args = tuple(hooks_key if a is _KEY else a for a in args)
                _check(getattr(lib, name)(config, *args))
        except BaseException:
            lib.ws_config_free(config)
            raise
        return config

