"""wsbeat: a WebSocket client that keeps connections alive (heartbeats, dead-peer detection,
automatic reconnection with backoff, an outbox), over the Rust library libwsbeat via ctypes.

Quick start::

    import wsbeat

    with wsbeat.Client("ws://127.0.0.1:8002") as client:   # pull mode: no callbacks
        client.send("hello")
        for event in client:
            if isinstance(event, wsbeat.TextMessage):
                print(event.data)
                break

The shared library is found through the ``WSBEAT_LIBRARY`` environment variable, next to this
package, or in the repository's ``target/release``/``target/debug`` (``cargo build --release``).
Log records of the library go to the ``wsbeat`` logger. See ``docs/PYTHON.md``.
"""

from __future__ import annotations

from . import _lib
from ._lib import ENV_VAR, LibraryNotFoundError, find_library
from .client import Client, connect
from .config import Config
from .runtime import Runtime
from ._hooks import Request, RequestHeaders
from ._log import refresh_logging
# The exception classes: errors.__all__ is their one list (re-exported below).
from . import errors as _errors
from .errors import *  # noqa: F401,F403
from .events import (
    BinaryMessage,
    Closed,
    Connecting,
    Error,
    ErrorKind,
    Event,
    HeartbeatTimeout,
    Initiator,
    Message,
    Opened,
    Pong,
    Reconnecting,
    State,
    Stats,
    StopReason,
    Stopped,
    TextMessage,
)

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the loaded libwsbeat (``ws_version()``)."""
    return str(_lib.lib().ws_version().decode())


__all__ = [
    "Client",
    "connect",
    "Config",
    "Runtime",
    "Request",
    "RequestHeaders",
    "refresh_logging",
    "library_version",
    "find_library",
    "ENV_VAR",
    # events
    "Event",
    "Connecting",
    "Opened",
    "TextMessage",
    "BinaryMessage",
    "Pong",
    "HeartbeatTimeout",
    "Closed",
    "Reconnecting",
    "Error",
    "Stopped",
    "Message",
    "State",
    "Stats",
    "Initiator",
    "ErrorKind",
    "StopReason",
]
__all__ += _errors.__all__
