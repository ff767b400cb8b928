"""Converting Python arguments to the C ABI's: durations, integers, strings, PEM, messages.

Every function raises ``TypeError`` for a wrong Python type and
:class:`~wsbeat.InvalidArgumentError` (a ``ValueError``) for a value out of range.
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Union

from . import _lib
from .errors import InvalidArgumentError, InvalidUtf8Error

PathOrPem = Union[str, bytes, "os.PathLike[str]"]
Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]

_MSG_TEXT = _lib.MSG_TEXT
_MSG_BINARY = _lib.MSG_BINARY


def ms(name: str, seconds: Optional[float], *, allow_zero: bool = False) -> Optional[int]:
    """Seconds (int or float) as whole milliseconds for a ``uint64_t *_ms`` parameter."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds):
        raise InvalidArgumentError(f"{name} must be a finite number of seconds, not {seconds}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise InvalidArgumentError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds")
    n = int(round(seconds * 1000))
    if n > _lib.WS_MAX_DURATION_MS:
        raise InvalidArgumentError(f"{name} must be at most 7 days")
    if n == 0 and not allow_zero:
        n = 1
    return n


def integer(name: str, value: Optional[int], *, minimum: int = 0) -> Optional[int]:
    """An int for a ``size_t``/``uint*_t`` parameter (bool refused)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum or value >= 2**63:
        raise InvalidArgumentError(f"{name} must be >= {minimum}")
    return value


Sendable = Union[str, bytes, bytearray, memoryview, Any]
"""``str`` (a text message) or any bytes-like object (binary): bytes, bytearray, memoryview,
array.array, ... (anything with the buffer protocol)."""


def encode(message: Sendable) -> Tuple[bytes, int]:
    """A message as (payload, ws_message_kind): str is text, bytes-like is binary."""
    if isinstance(message, str):
        try:
            return message.encode("utf-8"), _MSG_TEXT
        except UnicodeEncodeError as e:
            raise InvalidUtf8Error(f"text message is not valid Unicode: {e}") from None
    if isinstance(message, bytes):
        return message, _MSG_BINARY
    return binary(message), _MSG_BINARY


def binary(message: Any) -> bytes:
    """Any bytes-like object's bytes, in order (non-contiguous memoryviews too)."""
    if isinstance(message, (bytes, bytearray)):
        return bytes(message)
    try:
        view = memoryview(message)
    except TypeError:
        raise TypeError(
            f"message must be str or bytes-like, not {type(message).__name__}"
        ) from None
    with view:
        return view.tobytes()


def cstr(name: str, value: Any) -> bytes:
    """A str as a NUL-terminated UTF-8 C string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if "\0" in value:
        raise InvalidArgumentError(f"{name} must not contain NUL characters")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidUtf8Error(f"{name} is not valid Unicode: {e}") from None


def pem(name: str, value: PathOrPem) -> bytes:
    """PEM text (str/bytes) or the contents of a path."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, os.PathLike):
        with open(value, "rb") as f:
            return f.read()
    raise TypeError(f"{name} must be PEM text (str or bytes) or a path (os.PathLike)")


def header_pairs(headers: Headers) -> List[Tuple[bytes, bytes]]:
    """Headers (a mapping or (name, value) pairs) as C string pairs."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for pair in items:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError("headers must be a mapping or an iterable of (name, value)") from None
        out.append((cstr("header name", name), cstr("header value", value)))
    return out
