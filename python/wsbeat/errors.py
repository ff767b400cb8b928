"""The exception hierarchy: one class per ``ws_result`` failure code.

Every exception raised for a failed library call is a :class:`WsbeatError` carrying the
numeric ``code`` and the library's own description (``ws_last_error()``) in ``detail``.
Argument errors also derive from :class:`ValueError`, so ``except ValueError`` keeps working
for code written against other clients. Wrong Python types raise plain :class:`TypeError`.
"""

from __future__ import annotations

from typing import Any, Dict, Type

from . import _abi
from ._lib import LibraryNotFoundError


class WsbeatError(Exception):
    """Base class of every error reported by libwsbeat.

    Attributes:
        code: the ``ws_result`` value (0 for errors raised by the Python layer itself).
        detail: the library's description of this failure (``ws_last_error()``).
    """

    code: int = 0

    def __init__(self, detail: str, code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvalidArgumentError(WsbeatError, ValueError):
    """An argument is NULL/None or out of range (``WS_ERR_NULL_ARGUMENT``,
    ``WS_ERR_INVALID_ARGUMENT``): close code, duration, factor, ..."""

    code = _abi.WS_ERR_INVALID_ARGUMENT


class InvalidUtf8Error(InvalidArgumentError):
    """A string or text message is not valid UTF-8 (``WS_ERR_INVALID_UTF8``)."""

    code = _abi.WS_ERR_INVALID_UTF8


class InvalidUrlError(InvalidArgumentError):
    """The URL cannot be parsed, has no host, or is not ``ws://``/``wss://``
    (``WS_ERR_INVALID_URL``)."""

    code = _abi.WS_ERR_INVALID_URL


class InvalidConfigError(InvalidArgumentError):
    """The configuration as a whole is inconsistent (``WS_ERR_INVALID_CONFIG``)."""

    code = _abi.WS_ERR_INVALID_CONFIG


class InvalidHeaderError(InvalidArgumentError):
    """A header name/value or subprotocol is not valid HTTP (``WS_ERR_INVALID_HEADER``)."""

    code = _abi.WS_ERR_INVALID_HEADER


class TlsError(WsbeatError):
    """Invalid TLS options: unreadable CA file, bad PEM, key not matching (``WS_ERR_TLS``)."""

    code = _abi.WS_ERR_TLS


class OutboxFullError(WsbeatError):
    """The outbox is full; the message was not queued (``WS_ERR_OUTBOX_FULL``)."""

    code = _abi.WS_ERR_OUTBOX_FULL


class MessageTooLargeError(WsbeatError, ValueError):
    """The message exceeds the maximum message size (``WS_ERR_MESSAGE_TOO_LARGE``)."""

    code = _abi.WS_ERR_MESSAGE_TOO_LARGE


class ClosedError(WsbeatError):
    """The client was closed or has stopped (``WS_ERR_CLOSED``)."""

    code = _abi.WS_ERR_CLOSED


class SpawnError(WsbeatError):
    """The I/O thread could not be started (``WS_ERR_SPAWN``)."""

    code = _abi.WS_ERR_SPAWN


class WrongModeError(WsbeatError):
    """The call does not fit the client's mode, e.g. :meth:`Client.next_event` on a client
    created with callbacks (``WS_ERR_WRONG_MODE``)."""

    code = _abi.WS_ERR_WRONG_MODE


class InCallbackError(WsbeatError):
    """The call is not allowed from inside one of the client's callbacks
    (``WS_ERR_IN_CALLBACK``)."""

    code = _abi.WS_ERR_IN_CALLBACK


class LoggerTakenError(WsbeatError):
    """Another Rust ``log`` logger already owns this process (``WS_ERR_LOGGER_TAKEN``)."""

    code = _abi.WS_ERR_LOGGER_TAKEN


class ConnectError(WsbeatError):
    """:func:`wsbeat.connect` could not open the connection.

    Attributes:
        kind: what failed (:class:`~wsbeat.ErrorKind`: DNS, CONNECT, TLS, HTTP_STATUS, ...).
    """

    def __init__(self, detail: str, kind: Any) -> None:
        super().__init__(detail)
        self.kind = kind


class InternalError(WsbeatError):
    """A bug in libwsbeat: it panicked, the panic was caught (``WS_ERR_PANIC``)."""

    code = _abi.WS_ERR_PANIC


_BY_CODE: Dict[int, Type[WsbeatError]] = {
    _abi.WS_ERR_NULL_ARGUMENT: InvalidArgumentError,
    _abi.WS_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    _abi.WS_ERR_INVALID_UTF8: InvalidUtf8Error,
    _abi.WS_ERR_INVALID_URL: InvalidUrlError,
    _abi.WS_ERR_INVALID_CONFIG: InvalidConfigError,
    _abi.WS_ERR_INVALID_HEADER: InvalidHeaderError,
    _abi.WS_ERR_TLS: TlsError,
    _abi.WS_ERR_OUTBOX_FULL: OutboxFullError,
    _abi.WS_ERR_MESSAGE_TOO_LARGE: MessageTooLargeError,
    _abi.WS_ERR_CLOSED: ClosedError,
    _abi.WS_ERR_SPAWN: SpawnError,
    _abi.WS_ERR_WRONG_MODE: WrongModeError,
    _abi.WS_ERR_IN_CALLBACK: InCallbackError,
    _abi.WS_ERR_LOGGER_TAKEN: LoggerTakenError,
    _abi.WS_ERR_PANIC: InternalError,
}


def error_for(code: int, detail: str) -> WsbeatError:
    """The exception for a ``ws_result`` failure ``code`` with the library's ``detail``."""
    cls = _BY_CODE.get(code, WsbeatError)
    return cls(detail, code)


__all__ = [
    "WsbeatError",
    "LibraryNotFoundError",
    "InvalidArgumentError",
    "InvalidUtf8Error",
    "InvalidUrlError",
    "InvalidConfigError",
    "InvalidHeaderError",
    "TlsError",
    "OutboxFullError",
    "MessageTooLargeError",
    "ClosedError",
    "SpawnError",
    "WrongModeError",
    "InCallbackError",
    "LoggerTakenError",
    "InternalError",
    "ConnectError",
]
