//! The one event struct for every kind of event, and the enums it uses.

use std::ffi::c_char;
use std::time::Duration;

use wsbeat::ErrorKind;

use crate::error::abi_enum_strings;
use wsbeat::{CloseInitiator, Event, Message, StopReason};

/// What happened (`ws_event.kind`). Values are part of the ABI and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_event_kind {
    /// A connection attempt starts. `attempt`: 0 for the first connect, then the reconnect
    /// attempt number; `endpoint`: the endpoint it goes to (`ws_config_add_endpoint`).
    WS_EVENT_CONNECTING = 0,
    /// The WebSocket is open. `reconnect`: whether this is a reconnect; `attempt`: attempts it
    /// took; `text`: the subprotocol the server selected (`""` if none); `endpoint`: which
    /// endpoint opened (0: `ws_connect`'s URL, then each `ws_config_add_endpoint`);
    /// `compression`: whether permessage-deflate was negotiated.
    WS_EVENT_OPENED = 1,
    /// A text message arrived: `data`/`len` (UTF-8). Seed-JSON heartbeat replies are not
    /// reported.
    WS_EVENT_TEXT = 2,
    /// A binary message arrived: `data`/`len`.
    WS_EVENT_BINARY = 3,
    /// A heartbeat was answered: `rtt_us` is the round trip in microseconds.
    WS_EVENT_PONG = 4,
    /// Nothing was heard within the heartbeat timeout; the connection is dropped (a
    /// `WS_EVENT_CLOSED` with code 1006 follows). `silent_ms`: how long the peer was silent.
    WS_EVENT_HEARTBEAT_TIMEOUT = 5,
    /// The connection ended: `close_code`, `text` (the reason), `initiator`,
    /// `will_reconnect`, and in `messages` the messages whose write was not confirmed before
    /// the connection died (usually none; they are not resent).
    WS_EVENT_CLOSED = 6,
    /// A reconnect is scheduled: `attempt` (1 for the first), `delay_ms`.
    WS_EVENT_RECONNECTING = 7,
    /// Something failed: `error_kind` (a `ws_error_kind`) and `text` (a description). The
    /// events that follow say how the client reacts.
    WS_EVENT_ERROR = 8,
    /// The client stopped for good; no event follows. `stop_reason`, `attempt` (for
    /// `WS_STOP_MAX_ATTEMPTS`), `text` (details for `WS_STOP_INTERNAL`), and in `messages` the
    /// messages accepted by `ws_send` but never written, in order.
    WS_EVENT_STOPPED = 9,
}

/// Who ended a connection (`ws_event.initiator`, for `WS_EVENT_CLOSED`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_close_initiator {
    /// Not a `WS_EVENT_CLOSED` event.
    WS_INITIATOR_NONE = 0,
    /// The server sent a close frame.
    WS_INITIATOR_REMOTE = 1,
    /// This client closed (`ws_close`, `ws_reconnect_now`, `ws_free`).
    WS_INITIATOR_LOCAL = 2,
    /// Nobody closed cleanly: an I/O or protocol error or a heartbeat timeout dropped it.
    WS_INITIATOR_ABNORMAL = 3,
}

/// Why the client stopped (`ws_event.stop_reason`, for `WS_EVENT_STOPPED`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_stop_reason {
    /// Not a `WS_EVENT_STOPPED` event.
    WS_STOP_NONE = 0,
    /// `ws_close` or `ws_free` was called.
    WS_STOP_CLOSED = 1,
    /// Reconnecting is disabled and the connection ended (or the first connect failed).
    WS_STOP_RECONNECT_DISABLED = 2,
    /// The attempt limit was reached (`attempt` holds it).
    WS_STOP_MAX_ATTEMPTS = 3,
    /// The reconnect policy declined to retry this failure (e.g. close code 1008, or a
    /// certificate error).
    WS_STOP_POLICY_DECLINED = 4,
    /// An internal error; `text` says what.
    WS_STOP_INTERNAL = 5,
}

/// The kind of failure in a `WS_EVENT_ERROR` (`ws_event.error_kind`). Values are part of the
/// ABI, equal to the Rust `ErrorKind`'s, and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_error_kind {
    /// Not a `WS_EVENT_ERROR` event.
    WS_ERROR_NONE = 0,
    /// The host name could not be resolved.
    WS_ERROR_DNS = 1,
    /// The TCP connection was refused or could not be made.
    WS_ERROR_CONNECT = 2,
    /// Connecting took longer than the connect timeout.
    WS_ERROR_CONNECT_TIMEOUT = 3,
    /// The TLS handshake failed.
    WS_ERROR_TLS = 4,
    /// The server answered the handshake with a non-101 HTTP status.
    WS_ERROR_HTTP_STATUS = 5,
    /// The handshake response was not valid HTTP/WebSocket.
    WS_ERROR_HANDSHAKE = 6,
    /// The peer violated the WebSocket protocol.
    WS_ERROR_PROTOCOL = 7,
    /// An incoming message exceeded the maximum message size.
    WS_ERROR_MESSAGE_TOO_LARGE = 8,
    /// Reading from or writing to the socket failed.
    WS_ERROR_IO = 9,
    /// No frame was received within the heartbeat timeout.
    WS_ERROR_HEARTBEAT_TIMEOUT = 10,
    /// A callback panicked (Rust callbacks only; a C callback cannot).
    WS_ERROR_CALLBACK = 11,
    /// The peer closed the connection without a close handshake.
    WS_ERROR_CONNECTION_LOST = 12,
    /// The server's TLS certificate was rejected.
    WS_ERROR_CERTIFICATE = 13,
    /// An internal error of the library (a bug).
    WS_ERROR_INTERNAL = 14,
    /// The proxy failed: unreachable, not speaking HTTP/SOCKS5, a reply too large, a refused
    /// tunnel, or an invalid proxy URL in the environment.
    WS_ERROR_PROXY = 15,
    /// The proxy refused our credentials or wants some (HTTP 407, SOCKS5 authentication).
    /// Not retried.
    WS_ERROR_PROXY_AUTH = 16,
}

impl From<ErrorKind> for ws_error_kind {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::Dns => ws_error_kind::WS_ERROR_DNS,
            ErrorKind::Connect => ws_error_kind::WS_ERROR_CONNECT,
            ErrorKind::ConnectTimeout => ws_error_kind::WS_ERROR_CONNECT_TIMEOUT,
            ErrorKind::Tls => ws_error_kind::WS_ERROR_TLS,
            ErrorKind::HttpStatus => ws_error_kind::WS_ERROR_HTTP_STATUS,
            ErrorKind::Handshake => ws_error_kind::WS_ERROR_HANDSHAKE,
            ErrorKind::Protocol => ws_error_kind::WS_ERROR_PROTOCOL,
            ErrorKind::MessageTooLarge => ws_error_kind::WS_ERROR_MESSAGE_TOO_LARGE,
            ErrorKind::Io => ws_error_kind::WS_ERROR_IO,
            ErrorKind::HeartbeatTimeout => ws_error_kind::WS_ERROR_HEARTBEAT_TIMEOUT,
            ErrorKind::Callback => ws_error_kind::WS_ERROR_CALLBACK,
            ErrorKind::ConnectionLost => ws_error_kind::WS_ERROR_CONNECTION_LOST,
            ErrorKind::Certificate => ws_error_kind::WS_ERROR_CERTIFICATE,
            ErrorKind::Internal => ws_error_kind::WS_ERROR_INTERNAL,
            ErrorKind::Proxy => ws_error_kind::WS_ERROR_PROXY,
            ErrorKind::ProxyAuth => ws_error_kind::WS_ERROR_PROXY_AUTH,
            // Non-exhaustive upstream; this crate builds against the workspace's own wsbeat,
            // whose every kind is listed above.
            _ => ws_error_kind::WS_ERROR_INTERNAL,
        }
    }
}

/// The kind of a message (`ws_send`'s `kind`, `ws_message.kind`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ws_message_kind {
    /// A text message: the bytes must be valid UTF-8.
    WS_MESSAGE_TEXT = 1,
    /// A binary message.
    WS_MESSAGE_BINARY = 2,
}

/// A message carried by an event (`ws_event.messages`): unsent messages of
/// `WS_EVENT_STOPPED`, unconfirmed ones of `WS_EVENT_CLOSED`.
///
/// `data` points to `len` bytes followed by a NUL byte (not counted in `len`); it is never
/// NULL. It is valid exactly as long as the event that carries it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ws_message {
    /// `WS_MESSAGE_TEXT` or `WS_MESSAGE_BINARY`.
    pub kind: ws_message_kind,
    /// The payload (borrowed, see above).
    pub data: *const u8,
    /// The payload length in bytes.
    pub len: usize,
}

/// One event; `kind` says which fields are meaningful (see `ws_event_kind`). Fields that do
/// not apply to a kind are 0, false, NULL or `""`.
///
/// Lifetime of the pointers (`data`, `text`, `messages` and the messages' `data`): they are
/// borrowed from the library.
/// - Callback mode: valid only until the callback returns. Copy what you keep.
/// - Pull mode (`ws_next_event`): valid until the next `ws_next_event` or
///   `ws_event_release` call on the same client, or `ws_free`, whichever comes first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ws_event {
    /// What happened.
    pub kind: ws_event_kind,
    /// `WS_EVENT_TEXT`/`WS_EVENT_BINARY`: the payload, followed by a NUL byte not counted in
    /// `len` (so a text without NULs can be printed as a C string). NULL for other kinds.
    pub data: *const u8,
    /// Length of `data` in bytes.
    pub len: usize,
    /// NUL-terminated UTF-8 text, never NULL: the close reason (`WS_EVENT_CLOSED`), the error
    /// description (`WS_EVENT_ERROR`), the selected subprotocol (`WS_EVENT_OPENED`), details
    /// (`WS_EVENT_STOPPED` with `WS_STOP_INTERNAL`); `""` otherwise.
    pub text: *const c_char,
    /// Length of `text` in bytes (without the NUL).
    pub text_len: usize,
    /// `WS_EVENT_CLOSED`: the close code (the peer's, ours, or 1006 when no close frame was
    /// exchanged).
    pub close_code: u16,
    /// `WS_EVENT_CLOSED`: who ended the connection.
    pub initiator: ws_close_initiator,
    /// `WS_EVENT_CLOSED`: whether a reconnect follows.
    pub will_reconnect: bool,
    /// `WS_EVENT_OPENED`: whether this open is a reconnect.
    pub reconnect: bool,
    /// `WS_EVENT_CONNECTING`/`WS_EVENT_OPENED`/`WS_EVENT_RECONNECTING`: the attempt number;
    /// `WS_EVENT_STOPPED` with `WS_STOP_MAX_ATTEMPTS`: the limit reached.
    pub attempt: u32,
    /// `WS_EVENT_RECONNECTING`: the wait before the attempt, in milliseconds.
    pub delay_ms: u64,
    /// `WS_EVENT_PONG`: the heartbeat round trip, in microseconds.
    pub rtt_us: u64,
    /// `WS_EVENT_HEARTBEAT_TIMEOUT`: how long the peer had been silent, in milliseconds.
    pub silent_ms: u64,
    /// `WS_EVENT_ERROR`: what failed.
    pub error_kind: ws_error_kind,
    /// `WS_EVENT_STOPPED`: why.
    pub stop_reason: ws_stop_reason,
    /// `WS_EVENT_STOPPED`: the unsent messages; `WS_EVENT_CLOSED`: the unconfirmed ones. An
    /// array of `message_count` entries (NULL when the count is 0).
    pub messages: *const ws_message,
    /// Number of entries in `messages`.
    pub message_count: usize,
    /// `WS_EVENT_CONNECTING`: the endpoint this attempt goes to; `WS_EVENT_OPENED`: the one
    /// that opened. 0 for the URL given to `ws_connect`, 1.. for each `ws_config_add_endpoint`
    /// in the order added. (Added at the end of the struct.)
    pub endpoint: u32,
    /// `WS_EVENT_OPENED`: whether this connection negotiated permessage-deflate (offered with
    /// `ws_config_set_compression` and accepted by the server). (Added at the end of the
    /// struct.)
    pub compression: bool,
}

impl ws_event {
    fn empty(kind: ws_event_kind) -> ws_event {
        ws_event {
            kind,
            data: std::ptr::null(),
            len: 0,
            text: c"".as_ptr(),
            text_len: 0,
            close_code: 0,
            initiator: ws_close_initiator::WS_INITIATOR_NONE,
            will_reconnect: false,
            reconnect: false,
            attempt: 0,
            delay_ms: 0,
            rtt_us: 0,
            silent_ms: 0,
            error_kind: ws_error_kind::WS_ERROR_NONE,
            stop_reason: ws_stop_reason::WS_STOP_NONE,
            messages: std::ptr::null(),
            message_count: 0,
            endpoint: 0,
            compression: false,
        }
    }
}

/// An event converted for C, with the buffers its pointers point into. Moving it does not
/// move the buffers (they are heap allocations), so `raw` stays valid while this lives.
pub(crate) struct OwnedEvent {
    pub(crate) raw: ws_event,
    _payload: Vec<u8>,
    _text: Vec<u8>,
    _messages: Vec<ws_message>,
    _buffers: Vec<Vec<u8>>,
}

fn nul_terminated(mut v: Vec<u8>) -> Vec<u8> {
    v.push(0);
    v
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl OwnedEvent {
    pub(crate) fn new(ev: Event) -> OwnedEvent {
        use ws_event_kind::*;
        let mut payload: Option<Vec<u8>> = None;
        let mut text: Option<String> = None;
        let mut messages: Vec<Message> = Vec::new();
        let mut raw = match ev {
            Event::Connecting { attempt, endpoint } => ws_event {
                attempt,
                endpoint: u32::try_from(endpoint).unwrap_or(u32::MAX),
                ..ws_event::empty(WS_EVENT_CONNECTING)
            },
            Event::Opened {
                reconnect,
                attempt,
                protocol,
                endpoint,
                compression,
            } => {
                text = protocol;
                ws_event {
                    reconnect,
                    attempt,
                    compression,
                    endpoint: u32::try_from(endpoint).unwrap_or(u32::MAX),
                    ..ws_event::empty(WS_EVENT_OPENED)
                }
            }
            Event::Text(t) => {
                payload = Some(t.into_bytes());
                ws_event::empty(WS_EVENT_TEXT)
            }
            Event::Binary(b) => {
                payload = Some(b);
                ws_event::empty(WS_EVENT_BINARY)
            }
            Event::Pong { rtt } => ws_event {
                rtt_us: u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX),
                ..ws_event::empty(WS_EVENT_PONG)
            },
            Event::HeartbeatTimeout { silent_for } => ws_event {
                silent_ms: millis(silent_for),
                ..ws_event::empty(WS_EVENT_HEARTBEAT_TIMEOUT)
            },
            Event::Closed {
                code,
                reason,
                initiator,
                will_reconnect,
                unconfirmed,
            } => {
                text = Some(reason);
                messages = unconfirmed;
                ws_event {
                    close_code: code,
                    initiator: match initiator {
                        CloseInitiator::Remote => ws_close_initiator::WS_INITIATOR_REMOTE,
                        CloseInitiator::Local => ws_close_initiator::WS_INITIATOR_LOCAL,
                        // `CloseInitiator` is non-exhaustive: a later one gets its own
                        // constant in the same change; until then, "nobody closed cleanly".
                        CloseInitiator::Abnormal => ws_close_initiator::WS_INITIATOR_ABNORMAL,
                        _ => ws_close_initiator::WS_INITIATOR_ABNORMAL,
                    },
                    will_reconnect,
                    ..ws_event::empty(WS_EVENT_CLOSED)
                }
            }
            Event::Reconnecting { attempt, delay } => ws_event {
                attempt,
                delay_ms: millis(delay),
                ..ws_event::empty(WS_EVENT_RECONNECTING)
            },
            Event::Error { kind, message } => {
                text = Some(message);
                ws_event {
                    error_kind: kind.into(),
                    ..ws_event::empty(WS_EVENT_ERROR)
                }
            }
            Event::Stopped { reason, unsent } => {
                messages = unsent;
                let (stop_reason, attempt) = match reason {
                    StopReason::Closed => (ws_stop_reason::WS_STOP_CLOSED, 0),
                    StopReason::ReconnectDisabled => {
                        (ws_stop_reason::WS_STOP_RECONNECT_DISABLED, 0)
                    }
                    StopReason::MaxAttempts(n) => (ws_stop_reason::WS_STOP_MAX_ATTEMPTS, n),
                    StopReason::PolicyDeclined => (ws_stop_reason::WS_STOP_POLICY_DECLINED, 0),
                    StopReason::Internal(what) => {
                        text = Some(what);
                        (ws_stop_reason::WS_STOP_INTERNAL, 0)
                    }
                    // Non-exhaustive upstream (see `ws_error_kind`'s conversion).
                    other => {
                        text = Some(format!("{other:?}"));
                        (ws_stop_reason::WS_STOP_INTERNAL, 0)
                    }
                };
                ws_event {
                    stop_reason,
                    attempt,
                    ..ws_event::empty(WS_EVENT_STOPPED)
                }
            }
            // Non-exhaustive upstream (see `ws_error_kind`'s conversion): reported, not lost.
            other => {
                text = Some(format!("unsupported event {other:?}"));
                ws_event {
                    error_kind: ws_error_kind::WS_ERROR_INTERNAL,
                    ..ws_event::empty(WS_EVENT_ERROR)
                }
            }
        };
        let payload = payload.map(nul_terminated).unwrap_or_default();
        if raw.kind == WS_EVENT_TEXT || raw.kind == WS_EVENT_BINARY {
            raw.data = payload.as_ptr();
            raw.len = payload.len() - 1;
        }
        let text = text
            .map(|t| nul_terminated(t.into_bytes()))
            .unwrap_or_default();
        if !text.is_empty() {
            raw.text = text.as_ptr().cast();
            raw.text_len = text.len() - 1;
        }
        let buffers: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| nul_terminated(m.as_bytes().to_vec()))
            .collect();
        let c_messages: Vec<ws_message> = messages
            .iter()
            .zip(&buffers)
            .map(|(m, b)| ws_message {
                kind: match m {
                    Message::Text(_) => ws_message_kind::WS_MESSAGE_TEXT,
                    Message::Binary(_) => ws_message_kind::WS_MESSAGE_BINARY,
                },
                data: b.as_ptr(),
                len: b.len() - 1,
            })
            .collect();
        if !c_messages.is_empty() {
            raw.messages = c_messages.as_ptr();
            raw.message_count = c_messages.len();
        }
        OwnedEvent {
            raw,
            _payload: payload,
            _text: text,
            _messages: c_messages,
            _buffers: buffers,
        }
    }
}

abi_enum_strings!(ws_event_kind {
    WS_EVENT_CONNECTING => c"connecting",
    WS_EVENT_OPENED => c"opened",
    WS_EVENT_TEXT => c"text",
    WS_EVENT_BINARY => c"binary",
    WS_EVENT_PONG => c"pong",
    WS_EVENT_HEARTBEAT_TIMEOUT => c"heartbeat_timeout",
    WS_EVENT_CLOSED => c"closed",
    WS_EVENT_RECONNECTING => c"reconnecting",
    WS_EVENT_ERROR => c"error",
    WS_EVENT_STOPPED => c"stopped",
});

abi_enum_strings!(ws_error_kind {
    WS_ERROR_NONE => c"none",
    WS_ERROR_DNS => c"dns",
    WS_ERROR_CONNECT => c"connect",
    WS_ERROR_CONNECT_TIMEOUT => c"connect_timeout",
    WS_ERROR_TLS => c"tls",
    WS_ERROR_HTTP_STATUS => c"http_status",
    WS_ERROR_HANDSHAKE => c"handshake",
    WS_ERROR_PROTOCOL => c"protocol",
    WS_ERROR_MESSAGE_TOO_LARGE => c"message_too_large",
    WS_ERROR_IO => c"io",
    WS_ERROR_HEARTBEAT_TIMEOUT => c"heartbeat_timeout",
    WS_ERROR_CALLBACK => c"callback",
    WS_ERROR_CONNECTION_LOST => c"connection_lost",
    WS_ERROR_CERTIFICATE => c"certificate",
    WS_ERROR_INTERNAL => c"internal",
    WS_ERROR_PROXY => c"proxy",
    WS_ERROR_PROXY_AUTH => c"proxy_auth",
});

/// A short stable name for an event kind (`"opened"`, `"text"`, ...); `"unknown"` for other
/// values. Static: never free it. Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_event_kind_str(kind: u32) -> *const c_char {
    ffi_guard!(c"unknown".as_ptr(), {
        ws_event_kind::from_u32(kind)
            .map_or(c"unknown", ws_event_kind::name)
            .as_ptr()
    })
}

/// A short stable name for a `ws_error_kind` (`"connect"`, `"tls"`, ...), as used in logs;
/// `"none"` for 0, `"unknown"` for other values. Static: never free it. Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ws_error_kind_str(kind: u32) -> *const c_char {
    ffi_guard!(c"unknown".as_ptr(), {
        ws_error_kind::from_u32(kind)
            .map_or(c"unknown", ws_error_kind::name)
            .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::abi_check;

    #[test]
    fn pointers_point_into_the_owned_buffers() {
        let ev = OwnedEvent::new(Event::Text("héllo".into()));
        assert_eq!(ev.raw.len, 6);
        // SAFETY: data points to len + 1 bytes owned by `ev`.
        let bytes = unsafe { std::slice::from_raw_parts(ev.raw.data, ev.raw.len + 1) };
        assert_eq!(bytes, b"h\xc3\xa9llo\0");
        let ev = OwnedEvent::new(Event::Stopped {
            reason: StopReason::MaxAttempts(3),
            unsent: vec![Message::Text("a".into()), Message::Binary(vec![1, 2])],
        });
        assert_eq!(ev.raw.attempt, 3);
        assert_eq!(ev.raw.message_count, 2);
        // SAFETY: messages points to message_count entries owned by `ev`.
        let msgs = unsafe { std::slice::from_raw_parts(ev.raw.messages, 2) };
        assert_eq!(msgs[1].len, 2);
        assert_eq!(msgs[1].kind, ws_message_kind::WS_MESSAGE_BINARY);
        assert!(ev.raw.data.is_null());
        // SAFETY: text is a static or owned NUL-terminated string.
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(ev.raw.text) }, c"");
    }

    #[test]
    fn every_event_kind_matches_the_header_and_has_its_own_name() {
        abi_check::check(
            "ws_event_kind",
            ws_event_kind::ALL,
            |k| k as u32,
            ws_event_kind::name,
            ws_event_kind_str,
            c"unknown",
        );
    }

    #[test]
    fn every_error_kind_matches_the_header_and_has_its_own_name() {
        abi_check::check(
            "ws_error_kind",
            ws_error_kind::ALL,
            |k| k as u32,
            ws_error_kind::name,
            ws_error_kind_str,
            c"unknown",
        );
    }

    /// Every Rust `ErrorKind` maps to the C kind of the same number, and every C kind but
    /// `WS_ERROR_NONE` is some Rust kind's (`ErrorKind` is non-exhaustive: this list is the
    /// one place that names them all; the conversion's match is checked by its `_` arm below).
    #[test]
    fn error_kinds_keep_their_rust_values() {
        const RUST: [ErrorKind; 16] = [
            ErrorKind::Dns,
            ErrorKind::Connect,
            ErrorKind::ConnectTimeout,
            ErrorKind::Tls,
            ErrorKind::HttpStatus,
            ErrorKind::Handshake,
            ErrorKind::Protocol,
            ErrorKind::MessageTooLarge,
            ErrorKind::Io,
            ErrorKind::HeartbeatTimeout,
            ErrorKind::Callback,
            ErrorKind::ConnectionLost,
            ErrorKind::Certificate,
            ErrorKind::Internal,
            ErrorKind::Proxy,
            ErrorKind::ProxyAuth,
        ];
        let mut mapped: Vec<u32> = RUST
            .iter()
            .map(|k| {
                let c = ws_error_kind::from(*k);
                assert_eq!(c as u32, *k as u32, "{k:?} -> {c:?}");
                // The names agree too (CamelCase vs snake_case).
                let snake: String = format!("{k:?}")
                    .chars()
                    .enumerate()
                    .flat_map(|(i, ch)| {
                        let sep = (i > 0 && ch.is_uppercase()).then_some('_');
                        sep.into_iter().chain(ch.to_lowercase())
                    })
                    .collect();
                assert_eq!(c.name().to_str().unwrap(), snake, "{k:?}");
                c as u32
            })
            .collect();
        mapped.sort_unstable();
        mapped.dedup();
        let c_kinds: Vec<u32> = ws_error_kind::ALL
            .iter()
            .filter(|k| **k != ws_error_kind::WS_ERROR_NONE)
            .map(|k| *k as u32)
            .collect();
        assert_eq!(
            mapped, c_kinds,
            "a C error kind no Rust kind maps to, or two that share one"
        );
    }
}
