//! The numbers: every numeric option's range (public, documented on the setters, checked by
//! `connect()` before anything is allocated) and the client's bounds on memory and time.

use std::time::Duration;

use crate::error::Error;

/// The longest duration any option takes (7 days, the C ABI's `WS_MAX_DURATION_MS`): every
/// deadline computed from it stays far from `Instant`'s limits.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest `max_message_size`: 1 GiB.
pub const MAX_MESSAGE_SIZE: usize = 1 << 30;
/// The largest outbox message bound: 2^24 messages (the unconfirmed window, 4x this, stays
/// far from overflowing).
pub const MAX_OUTBOX_MESSAGES: usize = 1 << 24;
/// The largest outbox byte bound: 16 GiB on 64-bit targets, 1 GiB on 32-bit ones.
pub const MAX_OUTBOX_BYTES: usize = if usize::BITS >= 64 {
    (1u64 << 34) as usize
} else {
    1 << 30
};
/// The largest event channel capacity: 65,536 events (its slots are allocated up front, ~70 B
/// each: ~4.5 MiB at this bound).
pub const MAX_EVENT_CAPACITY: usize = 1 << 16;
/// The most I/O threads a [`crate::Runtime`] may have.
pub const MAX_RUNTIME_THREADS: usize = 256;
/// The largest reconnect backoff factor.
pub const MAX_BACKOFF_FACTOR: f64 = 1000.0;

/// `value` must be within `lo..=hi`; the error names the option and the range.
pub(crate) fn in_range<T: PartialOrd + std::fmt::Debug>(
    what: &str,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), Error> {
    if value < lo || value > hi {
        return Err(Error::InvalidConfig(format!(
            "{what} = {value:?} is out of range ({lo:?}..={hi:?})"
        )));
    }
    Ok(())
}

pub(crate) const MS: Duration = Duration::from_millis(1);

/// Bounds on memory and time.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_message_size: usize,
    pub(crate) outbox_max_messages: usize,
    pub(crate) outbox_max_bytes: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) event_capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 << 20,
            outbox_max_messages: 4096,
            outbox_max_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            event_capacity: 256,
        }
    }
}

impl Limits {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        in_range(
            "max_message_size",
            self.max_message_size,
            1,
            MAX_MESSAGE_SIZE,
        )?;
        in_range(
            "outbox message limit",
            self.outbox_max_messages,
            1,
            MAX_OUTBOX_MESSAGES,
        )?;
        in_range(
            "outbox byte limit",
            self.outbox_max_bytes,
            1,
            MAX_OUTBOX_BYTES,
        )?;
        in_range("connect_timeout", self.connect_timeout, MS, MAX_DURATION)?;
        in_range("close_timeout", self.close_timeout, MS, MAX_DURATION)?;
        in_range("event_capacity", self.event_capacity, 1, MAX_EVENT_CAPACITY)?;
        Ok(())
    }
}
