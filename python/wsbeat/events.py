"""Events, states and statistics as small immutable Python values.

Every event the library reports (``ws_event``) is copied into one of the dataclasses below
before user code sees it, so events stay valid forever (the C pointers do not).
"""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple, Union

from . import _lib


class _OpenEnum(enum.IntEnum):
    """An IntEnum that keeps values added by a newer library as ``UNKNOWN_<n>`` members.

    ``str()`` and f-strings give the lower-case name (``closed``, ``max_attempts``), as the
    library's own ``*_str`` functions do; ``repr()`` gives ``StopReason.CLOSED``. The members
    are still ints equal to the C values.
    """

    def __str__(self) -> str:
        return self.name.lower()

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    @classmethod
    def _missing_(cls, value: Any) -> Any:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member


class State(_OpenEnum):
    """Where a client is in its life (``ws_client_state``)."""

    CONNECTING = 0
    """Resolving, connecting, TLS or WebSocket handshake."""
    OPEN = 1
    """The WebSocket is open."""
    RECONNECTING = 2
    """Waiting out a backoff delay before the next attempt."""
    CLOSING = 3
    """Close handshake under way after :meth:`Client.close`."""
    STOPPED = 4
    """Stopped for good."""


class Initiator(_OpenEnum):
    """Who ended a connection (:attr:`Closed.initiator`)."""

    NONE = 0
    REMOTE = 1
    """The server sent a close frame."""
    LOCAL = 2
    """This client closed (``close()``, ``reconnect_now()``)."""
    ABNORMAL = 3
    """No clean close: an I/O or protocol error or a heartbeat timeout dropped it."""


class ErrorKind(_OpenEnum):
    """What failed (:attr:`Error.kind`, ``ws_error_kind``)."""

    NONE = 0
    DNS = 1
    CONNECT = 2
    CONNECT_TIMEOUT = 3
    TLS = 4
    HTTP_STATUS = 5
    HANDSHAKE = 6
    PROTOCOL = 7
    MESSAGE_TOO_LARGE = 8
    IO = 9
    HEARTBEAT_TIMEOUT = 10
    CALLBACK = 11
    CONNECTION_LOST = 12
    CERTIFICATE = 13
    INTERNAL = 14
    PROXY = 15
    """The proxy failed (unreachable, not HTTP/SOCKS5, refused the tunnel)."""
    PROXY_AUTH = 16
    """The proxy refused the credentials or wants some; not retried."""


class StopReason(_OpenEnum):
    """Why a client stopped (:attr:`Stopped.reason`, ``ws_stop_reason``)."""

    NONE = 0
    CLOSED = 1
    """``close()`` was called."""
    RECONNECT_DISABLED = 2
    """Reconnecting is off and the connection ended (or the first connect failed)."""
    MAX_ATTEMPTS = 3
    """The reconnect attempt limit was reached."""
    POLICY_DECLINED = 4
    """The reconnect policy declined to retry (e.g. close code 1008, a certificate error)."""
    INTERNAL = 5
    """An internal error; see :attr:`Stopped.detail`."""


Message = Union[str, bytes]
"""A message: ``str`` for a text message, ``bytes`` for a binary one."""


@dataclass(frozen=True)
class Event:
    """Base class of every event.

    ``repr()`` is the dataclass's (``Stopped(reason=StopReason.CLOSED, ...)``); ``str()`` a
    readable line (``Stopped: closed``).
    """

    def _detail(self) -> str:
        return ", ".join(str(v) for v in vars(self).values())

    def __str__(self) -> str:
        d = self._detail()
        return f"{type(self).__name__}: {d}" if d else type(self).__name__


@dataclass(frozen=True)
class Connecting(Event):
    """A connection attempt starts; ``attempt`` is 0 for the first connect, ``endpoint`` the
    configured endpoint it goes to (0: the client's ``url``, 1..: each of ``endpoints``)."""

    attempt: int
    endpoint: int = 0

    def _detail(self) -> str:
        return f"attempt {self.attempt}" + (f", endpoint {self.endpoint}" if self.endpoint else "")


@dataclass(frozen=True)
class Opened(Event):
    """The WebSocket is open.

    Attributes:
        reconnect: whether this open is a reconnect.
        attempt: the attempts it took.
        subprotocol: the subprotocol the server selected (``""`` if none).
        endpoint: which configured endpoint opened (0: the client's ``url``, 1..: each of
            ``endpoints`` in order).
        compression: whether permessage-deflate was negotiated (offered with
            ``compression="deflate"`` and accepted by the server).
    """

    reconnect: bool
    attempt: int
    subprotocol: str
    endpoint: int = 0
    compression: bool = False

    def _detail(self) -> str:
        d = f"reconnect, attempt {self.attempt}" if self.reconnect else "first connect"
        d += f", endpoint {self.endpoint}" if self.endpoint else ""
        d += f", subprotocol {self.subprotocol!r}" if self.subprotocol else ""
        return d + (", permessage-deflate" if self.compression else "")


@dataclass(frozen=True)
class TextMessage(Event):
    """A text message arrived (seed-JSON heartbeat replies are not reported)."""

    data: str

    def _detail(self) -> str:
        return repr(self.data if len(self.data) <= 200 else self.data[:200] + "...")


@dataclass(frozen=True)
class BinaryMessage(Event):
    """A binary message arrived."""

    data: bytes

    def _detail(self) -> str:
        return f"{len(self.data)} bytes"


@dataclass(frozen=True)
class Pong(Event):
    """A heartbeat was answered; ``rtt_us`` is the round trip in microseconds."""

    rtt_us: int

    def _detail(self) -> str:
        return f"{self.rtt_us / 1000:g} ms"


@dataclass(frozen=True)
class HeartbeatTimeout(Event):
    """Nothing was heard within the heartbeat timeout: the connection is dropped and a
    :class:`Closed` with code 1006 follows. ``silent_ms``: how long the peer was silent."""

    silent_ms: int

    def _detail(self) -> str:
        return f"silent for {self.silent_ms} ms"


@dataclass(frozen=True)
class Closed(Event):
    """A connection ended.

    Attributes:
        code: the close code (1006 when no close frame was exchanged).
        reason: the close reason.
        initiator: who ended it.
        will_reconnect: whether a reconnect follows.
        unconfirmed: messages whose write was not confirmed before the connection died
            (usually empty; they are not resent).
    """

    code: int
    reason: str
    initiator: Initiator
    will_reconnect: bool
    unconfirmed: Tuple[Message, ...] = field(default=())

    def _detail(self) -> str:
        d = f"{self.code} {self.reason!r} by {self.initiator}"
        if self.will_reconnect:
            d += ", will reconnect"
        if self.unconfirmed:
            d += f", {len(self.unconfirmed)} unconfirmed"
        return d


@dataclass(frozen=True)
class Reconnecting(Event):
    """A reconnect is scheduled: ``attempt`` (1 for the first) after ``delay_ms``."""

    attempt: int
    delay_ms: int

    def _detail(self) -> str:
        return f"attempt {self.attempt} in {self.delay_ms} ms"


@dataclass(frozen=True)
class Error(Event):
    """Something failed; the events that follow say how the client reacts.

    Attributes:
        kind: what failed.
        message: a description.
    """

    kind: ErrorKind
    message: str

    def _detail(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class Stopped(Event):
    """The client stopped for good; no event follows.

    Attributes:
        reason: why.
        attempt: the attempt limit reached (for :attr:`StopReason.MAX_ATTEMPTS`).
        detail: details (for :attr:`StopReason.INTERNAL`).
        unsent: messages accepted by ``send`` but never written, in order.
    """

    reason: StopReason
    attempt: int
    detail: str
    unsent: Tuple[Message, ...] = field(default=())

    def _detail(self) -> str:
        d = str(self.reason)
        if self.reason is StopReason.MAX_ATTEMPTS:
            d += f" ({self.attempt} attempts)"
        if self.detail:
            d += f": {self.detail}"
        if self.unsent:
            d += f", {len(self.unsent)} unsent"
        return d


@dataclass(frozen=True)
class Stats:
    """A snapshot of a client's counters (:attr:`Client.stats`)."""

    connects: int
    """Successful opens (first connect and reconnects)."""
    reconnects: int
    """Successful opens after the first."""
    missed_heartbeats: int
    """Heartbeats that went unanswered (each dropped a connection)."""
    messages_in: int
    """Data messages received (heartbeat replies excluded)."""
    messages_out: int
    """Data messages written to a socket (heartbeats excluded)."""
    bytes_in: int
    """Payload bytes received."""
    bytes_out: int
    """Payload bytes written."""
    last_rtt_us: Optional[int]
    """The last heartbeat round trip in microseconds (None before the first)."""
    smoothed_rtt_us: Optional[int]
    """The smoothed heartbeat round trip in microseconds (None before the first)."""
    outbox_len: int
    """Messages accepted by ``send`` but not yet written."""
    uptime_ms: Optional[int]
    """How long the current connection has been open (None when not open)."""
    last_close_code: Optional[int]
    """The close code of the last connection that ended (None if none ended yet)."""
    last_close_reason: str
    """The close reason of the last connection that ended (``""`` if none)."""
    compression: bool = False
    """Whether the current (when not open: the last) connection negotiated permessage-deflate."""


def _messages(ev: _lib.ws_event) -> Tuple[Message, ...]:
    out = []
    for i in range(ev.message_count):
        m = ev.messages[i]
        raw = ctypes.string_at(m.data, m.len) if m.len else b""
        out.append(raw.decode("utf-8", "replace") if m.kind == _lib.MSG_TEXT else raw)
    return tuple(out)


def _payload(ev: _lib.ws_event) -> bytes:
    """The message payload of a text/binary event, copied."""
    n = ev.len
    if not n:
        return b""
    # Fast path: the library NUL-terminates payloads, so the c_char_p field reads the whole
    # payload unless it contains a NUL byte itself.
    raw: Optional[bytes] = ev.data
    if raw is not None and len(raw) == n:
        return raw
    addr = ctypes.c_void_p.from_address(ctypes.addressof(ev) + _lib.WS_EVENT_DATA_OFFSET).value
    return ctypes.string_at(addr, n) if addr else b""


def from_c(ev: _lib.ws_event) -> Event:
    """Copy a borrowed ``ws_event`` into a Python event (call before the pointers expire)."""
    k = ev.kind
    if k == _EV_TEXT:
        return TextMessage(_payload(ev).decode("utf-8", "replace"))
    if k == _EV_BINARY:
        return BinaryMessage(_payload(ev))
    return _from_c_other(ev, k)


_EV_TEXT = _lib.EV_TEXT
_EV_BINARY = _lib.EV_BINARY


def _from_c_other(ev: _lib.ws_event, k: int) -> Event:
    text = (
        ctypes.string_at(ev.text, ev.text_len).decode("utf-8", "replace")
        if ev.text and ev.text_len
        else ""
    )
    if k == _lib.EV_PONG:
        return Pong(ev.rtt_us)
    if k == _lib.EV_CONNECTING:
        return Connecting(ev.attempt, ev.endpoint)
    if k == _lib.EV_OPENED:
        return Opened(bool(ev.reconnect), ev.attempt, text, ev.endpoint, bool(ev.compression))
    if k == _lib.EV_HEARTBEAT_TIMEOUT:
        return HeartbeatTimeout(ev.silent_ms)
    if k == _lib.EV_CLOSED:
        return Closed(
            ev.close_code,
            text,
            Initiator(ev.initiator),
            bool(ev.will_reconnect),
            _messages(ev),
        )
    if k == _lib.EV_RECONNECTING:
        return Reconnecting(ev.attempt, ev.delay_ms)
    if k == _lib.EV_ERROR:
        return Error(ErrorKind(ev.error_kind), text)
    if k == _lib.EV_STOPPED:
        return Stopped(StopReason(ev.stop_reason), ev.attempt, text, _messages(ev))
    return Error(ErrorKind.INTERNAL, f"unknown event kind {k}")


def stats_from_c(s: _lib.ws_client_stats) -> Stats:
    """Copy a ``ws_client_stats``."""
    return Stats(
        connects=s.connects,
        reconnects=s.reconnects,
        missed_heartbeats=s.missed_heartbeats,
        messages_in=s.messages_in,
        messages_out=s.messages_out,
        bytes_in=s.bytes_in,
        bytes_out=s.bytes_out,
        last_rtt_us=None if s.last_rtt_us < 0 else s.last_rtt_us,
        smoothed_rtt_us=None if s.smoothed_rtt_us < 0 else s.smoothed_rtt_us,
        outbox_len=s.outbox_len,
        uptime_ms=None if s.uptime_ms < 0 else s.uptime_ms,
        last_close_code=s.last_close_code or None,
        last_close_reason=s.last_close_reason.decode("utf-8", "replace"),
        compression=bool(s.compression),
    )
