//! The outbox: messages accepted by `send_*` and not yet handed to the socket. Bounded by count
//! and bytes; the bound is checked by the sending thread, so a full outbox is an error returned
//! to the caller, never a silent drop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tungstenite::Message as WsMessage;

use crate::error::Error;
use crate::event::Message;

/// Counts what is queued, shared between senders and the I/O thread.
#[derive(Debug)]
pub(crate) struct Gauge {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    max_messages: usize,
    max_bytes: usize,
}

impl Gauge {
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> Self {
        Gauge {
            messages: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_messages,
            max_bytes,
        }
    }

    /// Reserve room for one message of `len` bytes, or refuse without side effects.
    pub(crate) fn reserve(&self, len: usize) -> Result<(), Error> {
        let msgs = self.messages.fetch_add(1, Ordering::AcqRel);
        let bytes = self.bytes.fetch_add(len, Ordering::AcqRel);
        // An empty outbox always takes one message (its size is bounded by max_message_size).
        if msgs > 0 && (msgs + 1 > self.max_messages || bytes + len > self.max_bytes) {
            self.release(len);
            return Err(Error::OutboxFull {
                queued_messages: msgs,
                queued_bytes: bytes,
            });
        }
        Ok(())
    }

    /// One message of `len` bytes left the outbox.
    pub(crate) fn release(&self, len: usize) {
        self.messages.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(len, Ordering::AcqRel);
    }

    /// Messages currently queued.
    pub(crate) fn messages(&self) -> usize {
        self.messages.load(Ordering::Acquire)
    }
}

/// The I/O thread's queue. Messages sent from the I/O thread itself (inside a callback) go
/// ahead of the backlog, in their own order; everything else keeps send order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<WsMessage>,
    /// How many messages at the front are "priority" ones.
    front: usize,
}

impl Outbox {
    pub(crate) fn push_back(&mut self, m: WsMessage) {
        self.queue.push_back(m);
    }
    /// Queue ahead of the backlog, after earlier priority messages.
    pub(crate) fn push_priority(&mut self, m: WsMessage) {
        self.queue.insert(self.front, m);
        self.front += 1;
    }
    /// Put back a message that could not be written (it stays first).
    pub(crate) fn push_front(&mut self, m: WsMessage) {
        self.queue.push_front(m);
        self.front += 1;
    }
    pub(crate) fn pop_front(&mut self) -> Option<WsMessage> {
        let m = self.queue.pop_front()?;
        self.front = self.front.saturating_sub(1);
        Some(m)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
    pub(crate) fn drain_all(&mut self) -> Vec<WsMessage> {
        self.front = 0;
        self.queue.drain(..).collect()
    }
}

/// Messages written to the current connection whose receipt the peer has not confirmed.
///
/// With a heartbeat, a message written before heartbeat `n` is confirmed when heartbeat `n`
/// is answered (the peer answers in order, after reading everything before it) or when our
/// close handshake completes. If the connection dies first, the unconfirmed messages are
/// handed back in `Event::Closed.unconfirmed`: they may or may not have arrived. Without a
/// heartbeat only unflushed writes are tracked (nothing else can confirm). Bounded like the
/// outbox: beyond the bound the oldest stop being tracked.
#[derive(Debug)]
pub(crate) struct Unconfirmed {
    items: VecDeque<(u64, Instant, WsMessage)>,
    bytes: usize,
    track: bool,
    max_messages: usize,
    max_bytes: usize,
    overflowed: bool,
}

impl Unconfirmed {
    pub(crate) fn new(track: bool, max_messages: usize, max_bytes: usize) -> Self {
        Unconfirmed {
            items: VecDeque::new(),
            bytes: 0,
            track,
            max_messages,
            max_bytes,
            overflowed: false,
        }
    }

    /// `m` was written after heartbeat `seq` (the last one sent).
    pub(crate) fn written(&mut self, seq: u64, now: Instant, m: WsMessage) {
        self.bytes += m.len();
        self.items.push_back((seq, now, m));
        while self.items.len() > self.max_messages || self.bytes > self.max_bytes {
            let Some((_, _, old)) = self.items.pop_front() else {
                break;
            };
            self.bytes -= old.len();
            if !self.overflowed {
                self.overflowed = true;
                log::debug!("unconfirmed-message window full: no longer tracking the oldest");
            }
        }
    }

    /// Everything written so far reached the kernel.
    pub(crate) fn flushed(&mut self) {
        if !self.track {
            self.clear();
        }
    }

    /// Heartbeat `seq` was answered: everything written before it arrived.
    pub(crate) fn confirmed(&mut self, seq: u64) {
        while self.items.front().is_some_and(|(s, _, _)| *s < seq) {
            if let Some((_, _, m)) = self.items.pop_front() {
                self.bytes -= m.len();
            }
        }
    }

    /// When an acknowledgement is wanted: `after` past the oldest unconfirmed write, or at once
    /// when the window is half full (so a busy sender's window rarely overflows).
    pub(crate) fn ack_wanted_at(&self, after: Duration) -> Option<Instant> {
        if !self.track {
            return None;
        }
        let (_, oldest, _) = self.items.front()?;
        Some(if self.half_full() {
            *oldest
        } else {
            *oldest + after
        })
    }

    /// Whether the window is at least half full (an acknowledgement is wanted at once).
    pub(crate) fn half_full(&self) -> bool {
        self.track
            && (self.items.len() * 2 >= self.max_messages || self.bytes * 2 >= self.max_bytes)
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    pub(crate) fn take(&mut self) -> Vec<WsMessage> {
        self.bytes = 0;
        self.items.drain(..).map(|(_, _, m)| m).collect()
    }
}

/// Convert a queued data message back to the public type (heartbeats and control frames
/// never enter the outbox).
pub(crate) fn to_public(m: WsMessage) -> Option<Message> {
    match m {
        WsMessage::Text(t) => Some(Message::Text(t.as_str().to_owned())),
        WsMessage::Binary(b) => Some(Message::Binary(b.to_vec())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_bounds_count_and_bytes() {
        let g = Gauge::new(2, 10);
        g.reserve(4).unwrap();
        g.reserve(4).unwrap();
        assert!(matches!(
            g.reserve(1),
            Err(Error::OutboxFull {
                queued_messages: 2,
                ..
            })
        ));
        g.release(4);
        assert!(
            matches!(g.reserve(7), Err(Error::OutboxFull { .. })),
            "bytes bound"
        );
        g.reserve(6).unwrap();
        assert_eq!(g.messages(), 2);
    }

    #[test]
    fn empty_outbox_takes_one_big_message() {
        let g = Gauge::new(1, 10);
        g.reserve(100).unwrap();
        assert!(g.reserve(1).is_err());
    }

    #[test]
    fn unconfirmed_messages_leave_when_a_later_heartbeat_is_answered() {
        let t0 = Instant::now();
        let mut u = Unconfirmed::new(true, 8, 1 << 20);
        u.written(0, t0, WsMessage::text("a"));
        u.written(0, t0, WsMessage::text("b"));
        u.written(1, t0, WsMessage::text("c")); // after heartbeat 1 was sent
        u.flushed();
        assert_eq!(
            u.ack_wanted_at(Duration::from_secs(1)),
            Some(t0 + Duration::from_secs(1))
        );
        u.confirmed(1);
        let left: Vec<_> = u
            .take()
            .into_iter()
            .map(|m| m.into_text().unwrap().to_string())
            .collect();
        assert_eq!(left, ["c"]);
        let mut bounded = Unconfirmed::new(true, 2, 1 << 20);
        for m in ["a", "b", "c"] {
            bounded.written(0, t0, WsMessage::text(m));
        }
        assert_eq!(
            bounded.ack_wanted_at(Duration::from_secs(1)),
            Some(t0),
            "half full: wanted at once"
        );
        assert_eq!(bounded.take().len(), 2, "the oldest stop being tracked");
        let mut off = Unconfirmed::new(false, 8, 1 << 20);
        off.written(0, t0, WsMessage::text("x"));
        assert_eq!(off.ack_wanted_at(Duration::from_secs(1)), None);
        off.flushed();
        assert!(
            off.take().is_empty(),
            "without heartbeats a flush is all we can know"
        );
    }

    #[test]
    fn priority_goes_before_backlog_in_order() {
        let mut o = Outbox::default();
        o.push_back(WsMessage::text("old1"));
        o.push_back(WsMessage::text("old2"));
        o.push_priority(WsMessage::text("p1"));
        o.push_priority(WsMessage::text("p2"));
        let first = o.pop_front().unwrap();
        o.push_front(first);
        let all: Vec<_> = o
            .drain_all()
            .into_iter()
            .map(|m| to_public(m).unwrap().as_text().unwrap().to_owned())
            .collect();
        assert_eq!(all, ["p1", "p2", "old1", "old2"]);
    }
}
