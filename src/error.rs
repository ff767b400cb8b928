//! The one error type returned by the Rust API, and the kinds of failure reported in events.

use std::fmt;

use crate::message::Message;

/// An error returned by a call on the Rust API ([`crate::ClientBuilder::connect`],
/// [`crate::Handle::send_text`], ...).
///
/// Failures of the connection itself (refused, TLS, heartbeat timeout, ...) are not returned
/// from calls: the I/O thread reports them as [`crate::Event::Error`] with an [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed, has no host, or has a scheme other than `ws`/`wss`.
    InvalidUrl(String),
    /// A configuration value is out of range or inconsistent; the text names the option.
    InvalidConfig(String),
    /// A header name or value, or a subprotocol, is not valid in an HTTP request.
    InvalidHeader(String),
    /// `wss://` was requested but this build has no TLS backend, or the TLS options are invalid
    /// (unreadable CA file, bad PEM, key not matching the certificate).
    Tls(String),
    /// The outbox is full (by count or bytes): the message was not queued, and is handed
    /// back in `message` ([`Error::into_message`]) to retry later or drop. The waiting sends
    /// ([`crate::Handle::send_text_wait`], ...) return it when there is still no room at the
    /// end of their timeout (nothing queued either).
    OutboxFull {
        /// Messages queued when the send was refused.
        queued_messages: usize,
        /// Bytes queued when the send was refused.
        queued_bytes: usize,
        /// The refused message, handed back (boxed to keep `Error` small).
        message: Box<Message>,
    },
    /// The message is larger than the configured maximum outgoing message size.
    MessageTooLarge {
        /// Size of the refused message in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// An argument is out of range (a close code outside the allowed ranges, a close reason
    /// over 123 bytes, ...).
    InvalidArgument(String),
    /// The client was closed or stopped for good: nothing more can be sent.
    Closed,
    /// The I/O thread could not be started (the OS refused a thread or a poller).
    Spawn(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            Error::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            Error::InvalidHeader(m) => write!(f, "invalid header: {m}"),
            Error::Tls(m) => write!(f, "TLS configuration: {m}"),
            Error::OutboxFull {
                queued_messages,
                queued_bytes,
                ..
            } => write!(
                f,
                "outbox full ({queued_messages} messages, {queued_bytes} bytes queued): message not sent"
            ),
            Error::MessageTooLarge { size, limit } => {
                write!(
                    f,
                    "message of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Closed => write!(f, "client is closed"),
            Error::Spawn(m) => write!(f, "could not start the I/O thread: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The message a send handed back: `Some` for [`Error::OutboxFull`] (the message that
    /// was refused), `None` for every other error.
    pub fn into_message(self) -> Option<Message> {
        match self {
            Error::OutboxFull { message, .. } => Some(*message),
            _ => None,
        }
    }
}

/// What kind of failure an [`crate::Event::Error`] reports.
///
/// The numeric values are part of the C ABI and are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum ErrorKind {
    /// The host name could not be resolved.
    Dns = 1,
    /// The TCP connection was refused or could not be made.
    Connect = 2,
    /// Connecting (TCP, TLS and WebSocket handshake) took longer than the connect timeout.
    ConnectTimeout = 3,
    /// TLS failed for a reason other than a rejected certificate (no common protocol or
    /// cipher, a corrupt record, the server hanging up during the TLS handshake, ...).
    Tls = 4,
    /// The server answered the WebSocket handshake with a non-101 HTTP status.
    HttpStatus = 5,
    /// The handshake response was not valid HTTP/WebSocket.
    Handshake = 6,
    /// The peer violated the WebSocket protocol (bad frame, invalid UTF-8 in text, ...).
    Protocol = 7,
    /// An incoming message exceeded the configured maximum message size.
    MessageTooLarge = 8,
    /// Reading from or writing to the socket failed (reset, broken pipe, ...).
    Io = 9,
    /// Reserved, never reported: a heartbeat timeout is reported as its own event,
    /// [`crate::Event::HeartbeatTimeout`] (then `Closed` with code 1006), not as an `Error`.
    /// The value stays reserved in the C ABI.
    HeartbeatTimeout = 10,
    /// A user callback panicked; the panic was caught and the client kept running. Reported
    /// for the `before_connect` hook (that attempt fails, and is retried like a failed
    /// connect) and for the event callback (delivered to the callback right after the event
    /// it panicked on, except after `Stopped` and for a panic on this report itself).
    Callback = 11,
    /// The connection was closed by the peer without a close handshake.
    ConnectionLost = 12,
    /// A TLS certificate was rejected: the server's (unknown issuer, expired, wrong host name)
    /// or, in mutual TLS, ours by the server. Not retried unless
    /// [`crate::Reconnect::retry_certificate_errors`].
    Certificate = 13,
    /// An internal error of the library (a bug: the I/O thread panicked). Reported just
    /// before [`crate::Event::Stopped`] with [`crate::StopReason::Internal`]: the client stops.
    Internal = 14,
    /// The proxy failed: unreachable (see the message), not speaking HTTP or SOCKS5, a reply
    /// too large, a refused tunnel (an HTTP status other than 2xx and 407, a SOCKS5 reply
    /// code), or a proxy URL in the environment that is not valid (that one not retried).
    Proxy = 15,
    /// The proxy refused our credentials or wants some (HTTP 407, or 401 as tinyproxy sends
    /// for wrong ones; SOCKS5 authentication refused or required). Not retried: the same
    /// credentials would be refused again.
    ProxyAuth = 16,
}

impl ErrorKind {
    /// A short stable name, as used in logs and the CLI's JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Handshake => "handshake",
            ErrorKind::Protocol => "protocol",
            ErrorKind::MessageTooLarge => "message_too_large",
            ErrorKind::Io => "io",
            ErrorKind::HeartbeatTimeout => "heartbeat_timeout",
            ErrorKind::Callback => "callback",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::Certificate => "certificate",
            ErrorKind::Internal => "internal",
            ErrorKind::Proxy => "proxy",
            ErrorKind::ProxyAuth => "proxy_auth",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 32);
    }

    #[test]
    fn display_names_the_problem() {
        let e = Error::OutboxFull {
            queued_messages: 3,
            queued_bytes: 10,
            message: Box::new(Message::Text("m".into())),
        };
        assert!(e.to_string().contains("outbox full"));
        assert_eq!(e.into_message(), Some(Message::Text("m".into())));
        assert_eq!(Error::Closed.into_message(), None);
        assert_eq!(ErrorKind::HeartbeatTimeout.to_string(), "heartbeat_timeout");
    }
}
