//! Events the I/O thread reports, in the order they happen.

use std::time::Duration;

use crate::error::ErrorKind;
use crate::message::Message;

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseInitiator {
    /// The server sent a close frame.
    Remote,
    /// This client closed: [`crate::Handle::close`], [`crate::Handle::reconnect_now`] or drop.
    Local,
    /// Nobody closed cleanly: an I/O error, a protocol error or a heartbeat timeout dropped it.
    Abnormal,
}

impl CloseInitiator {
    /// A short stable name, as used in logs and the CLI's JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseInitiator::Remote => "remote",
            CloseInitiator::Local => "local",
            CloseInitiator::Abnormal => "abnormal",
        }
    }
}

/// Why the client stopped for good ([`Event::Stopped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The user called [`crate::Handle::close`] or dropped the last [`crate::Client`].
    Closed,
    /// Reconnecting is disabled and the connection ended (or the first connect failed).
    ReconnectDisabled,
    /// The reconnect policy's attempt limit was reached.
    MaxAttempts(u32),
    /// The reconnect predicate (or the default policy) declined to retry this failure.
    PolicyDeclined,
    /// An internal error; the text says what.
    Internal(String),
}

impl StopReason {
    /// A short stable name, as used in logs and the CLI's JSON output.
    pub fn as_str(&self) -> &'static str {
        match self {
            StopReason::Closed => "closed",
            StopReason::ReconnectDisabled => "reconnect_disabled",
            StopReason::MaxAttempts(_) => "max_attempts",
            StopReason::PolicyDeclined => "policy_declined",
            StopReason::Internal(_) => "internal",
        }
    }
}

/// Something that happened on the connection. Events arrive in order on one thread.
///
/// A connection's life reads: [`Connecting`](Event::Connecting) → [`Opened`](Event::Opened) →
/// messages, [`Pong`](Event::Pong)s → ([`HeartbeatTimeout`](Event::HeartbeatTimeout) |
/// [`Error`](Event::Error))? → [`Closed`](Event::Closed) → [`Reconnecting`](Event::Reconnecting)
/// → [`Connecting`](Event::Connecting) ... and finally exactly one [`Stopped`](Event::Stopped).
/// A failed connect attempt reports [`Error`](Event::Error) then
/// [`Reconnecting`](Event::Reconnecting) (no `Closed`: nothing was open).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A connection attempt starts (`attempt` is 0 for the first connect, then 1, 2, ...).
    Connecting {
        /// 0 for the first connect; the reconnect attempt number after that.
        attempt: u32,
        /// The configured endpoint this attempt goes to (0: the URL given to
        /// [`crate::Client::builder`], then each [`crate::ClientBuilder::endpoint`]).
        endpoint: usize,
    },
    /// The WebSocket handshake succeeded.
    Opened {
        /// Whether this is a reconnect (not the client's first open).
        reconnect: bool,
        /// Reconnect attempts it took (0 for a first-try connect).
        attempt: u32,
        /// The subprotocol the server selected, if any.
        protocol: Option<String>,
        /// Which configured endpoint opened: 0 for the URL given to
        /// [`crate::Client::builder`], 1.. for each [`crate::ClientBuilder::endpoint`] in the
        /// order added (the index, also when `before_connect` changed the attempt's URL).
        endpoint: usize,
        /// Whether this connection negotiated permessage-deflate: offered
        /// ([`crate::ClientBuilder::compression`]) and accepted by the server. Also in
        /// [`crate::Stats::compression`].
        compression: bool,
    },
    /// A text message arrived (heartbeat replies of the JSON mode are not reported as messages).
    Text(String),
    /// A binary message arrived.
    Binary(Vec<u8>),
    /// A heartbeat was answered; `rtt` is the measured round trip. Always in callback mode; in
    /// channel mode only with [`ClientBuilder::pong_events`](crate::ClientBuilder::pong_events).
    Pong {
        /// Time from sending the heartbeat to receiving its reply.
        rtt: Duration,
    },
    /// Nothing was heard from the peer within the heartbeat timeout; the connection is dropped
    /// at once (a `Closed` with code 1006 follows).
    HeartbeatTimeout {
        /// How long the peer had been silent.
        silent_for: Duration,
    },
    /// The connection ended.
    Closed {
        /// The close code: the peer's, ours, or 1006 when no close frame was exchanged.
        code: u16,
        /// The close reason (may be empty).
        reason: String,
        /// Who ended it.
        initiator: CloseInitiator,
        /// Whether a reconnect follows.
        will_reconnect: bool,
        /// Messages written to the socket whose receipt the server had not confirmed when the
        /// connection ended (confirmation: the answer to a heartbeat sent after them, or the
        /// completed close handshake; without a heartbeat, only a completed flush). They may
        /// or may not have arrived; wsbeat does not resend them, so nothing is duplicated: the
        /// application decides.
        unconfirmed: Vec<Message>,
    },
    /// A reconnect is scheduled after `delay`.
    Reconnecting {
        /// The attempt number (1 for the first reconnect after a failure).
        attempt: u32,
        /// The wait before the attempt.
        delay: Duration,
    },
    /// Something failed; the client reacts per its policy (the events that follow say how).
    Error {
        /// What failed.
        kind: ErrorKind,
        /// A human-readable description (never contains header values or URL credentials).
        message: String,
    },
    /// The client stopped for good; no event follows.
    Stopped {
        /// Why.
        reason: StopReason,
        /// Messages that were accepted by `send_*` but never written to a socket, in order.
        unsent: Vec<Message>,
    },
}

impl Event {
    /// A short stable name for the event kind ("opened", "text", ...).
    pub fn name(&self) -> &'static str {
        match self {
            Event::Connecting { .. } => "connecting",
            Event::Opened { .. } => "opened",
            Event::Text(_) => "text",
            Event::Binary(_) => "binary",
            Event::Pong { .. } => "pong",
            Event::HeartbeatTimeout { .. } => "heartbeat_timeout",
            Event::Closed { .. } => "closed",
            Event::Reconnecting { .. } => "reconnecting",
            Event::Error { .. } => "error",
            Event::Stopped { .. } => "stopped",
        }
    }
}
