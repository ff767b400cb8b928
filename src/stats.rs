//! What a client counts and measures: the public [`Stats`] snapshot and the I/O thread's
//! counters behind it.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Counters and measurements of a client, from [`crate::Handle::stats`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Successful opens (first connect and reconnects).
    pub connects: u64,
    /// Successful opens after the first.
    pub reconnects: u64,
    /// Heartbeats that went unanswered (each dropped a connection).
    pub missed_heartbeats: u64,
    /// Data messages received (heartbeat replies excluded).
    pub messages_in: u64,
    /// Data messages written to a socket (heartbeats excluded).
    pub messages_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes written.
    pub bytes_out: u64,
    /// The last heartbeat round trip.
    pub last_rtt: Option<Duration>,
    /// Exponentially smoothed round trip (RFC 6298 style, alpha 1/8).
    pub smoothed_rtt: Option<Duration>,
    /// Messages accepted but not yet written to a socket.
    pub outbox_len: usize,
    /// How long the current connection has been open (`None` when not open).
    pub uptime: Option<Duration>,
    /// The close code of the last connection that ended.
    pub last_close_code: Option<u16>,
    /// The close reason of the last connection that ended.
    pub last_close_reason: Option<String>,
    /// Whether the current (or, when not open, the last) connection negotiated
    /// permessage-deflate (see [`crate::ClientBuilder::compression`]).
    pub compression: bool,
}

/// The counters, updated without a lock by whichever thread writes or reads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) missed_heartbeats: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

/// The measurements that change rarely (once per heartbeat or connection), under a lock.
#[derive(Debug, Default)]
pub(crate) struct Slow {
    pub(crate) last_rtt: Option<Duration>,
    pub(crate) smoothed_rtt: Option<Duration>,
    pub(crate) open_since: Option<Instant>,
    pub(crate) last_close: Option<(u16, String)>,
    pub(crate) compression: bool,
}
