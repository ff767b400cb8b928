"""The exception hierarchy: one class per ``ws_result`` failure code.

Every exception raised for a failed library call is a :class:`WsbeatError` carrying the
numeric ``code`` and the library's own description (``ws_last_error()``) in ``detail``.
Argument errors also derive from :class:`ValueError`, so ``except ValueError`` keeps working
for code written against other clients. Wrong Python types raise plain :class:`TypeError`.
"""

from __future__ import annotations

from typing import Dict, Type

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

    code = 2


class InvalidUtf8Error(InvalidArgumentError):
    """A string or text message is not valid UTF-8 (``WS_ERR_INVALID_UTF8``)."""

    code = 3


class InvalidUrlError(InvalidArgumentError):
    """The URL cannot be parsed, has no host, or is not ``ws://``/``wss://``
    (``WS_ERR_INVALID_URL``)."""

    code = 4


class InvalidConfigError(InvalidArgumentError):
    """The configuration as a whole is inconsistent (``WS_ERR_INVALID_CONFIG``)."""

    code = 5


class InvalidHeaderError(InvalidArgumentError):
    """A header name/value or subprotocol is not valid HTTP (``WS_ERR_INVALID_HEADER``)."""

    code = 6


class TlsError(WsbeatError):
    """Invalid TLS options: unreadable CA file, bad PEM, key not matching (``WS_ERR_TLS``)."""

    code = 7


class OutboxFullError(WsbeatError):
    """The outbox is full; the message was not queued (``WS_ERR_OUTBOX_FULL``)."""

    code = 8


class MessageTooLargeError(WsbeatError, ValueError):
    """The message exceeds the maximum message size (``WS_ERR_MESSAGE_TOO_LARGE``)."""

    code = 9


class ClosedError(WsbeatError):
    """The client was closed or has stopped (``WS_ERR_CLOSED``)."""

    code = 10


class SpawnError(WsbeatError):
    """The I/O thread could not be started (``WS_ERR_SPAWN``)."""

    code = 11


class WrongModeError(WsbeatError):
    """The call does not fit the client's mode, e.g. :meth:`Client.next_event` on a client
    created with callbacks (``WS_ERR_WRONG_MODE``)."""

    code = 13


class InCallbackError(WsbeatError):
    """The call is not allowed from inside one of the client's callbacks
    (``WS_ERR_IN_CALLBACK``)."""

    code = 14


class LoggerTakenError(WsbeatError):
    """Another Rust ``log`` logger already owns this process (``WS_ERR_LOGGER_TAKEN``)."""

    code = 15


class InternalError(WsbeatError):
    """A bug in libwsbeat: it panicked, the panic was caught (``WS_ERR_PANIC``)."""

    code = 16


_BY_CODE: Dict[int, Type[WsbeatError]] = {
    1: InvalidArgumentError,
    2: InvalidArgumentError,
    3: InvalidUtf8Error,
    4: InvalidUrlError,
    5: InvalidConfigError,
    6: InvalidHeaderError,
    7: TlsError,
    8: OutboxFullError,
    9: MessageTooLargeError,
    10: ClosedError,
    11: SpawnError,
    13: WrongModeError,
    14: InCallbackError,
    15: LoggerTakenError,
    16: InternalError,
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
]
