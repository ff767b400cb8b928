//! The outbox: messages accepted by `send_*` and not yet handed to the socket. Bounded by count
//! and bytes; the bound is checked by the sending thread, so a full outbox is an error returned
//! to the caller (or, for the `send_*_wait` calls, a wait for room), never a silent drop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tungstenite::Message as WsMessage;

use crate::message::Message;

/// Why the gauge refused room; the sender turns it into its `Error` (handing the message
/// back with `OutboxFull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No room: the counts at the refusal.
    Full {
        queued_messages: usize,
        queued_bytes: usize,
    },
    /// The client is closing or stopped (waiting sends only).
    Closed,
}

/// Counts what is queued, shared between senders and the I/O thread.
///
/// Senders that wait for room ([`Gauge::reserve_until`]) sleep on a condition variable and are
/// woken by [`Gauge::release`] once the outbox has drained to its low-water mark (at most half
/// of each bound), by the refusal of a concurrent reservation, or by [`Gauge::wake_waiters`]
/// (the client is stopping). No polling: a sleeping sender costs nothing until then, and
/// while nobody sleeps a release costs one atomic load more than the counting itself.
///
/// # Why no wake-up is lost
///
/// A sender goes to sleep in three steps: it registers in `sleepers`, then looks (is there
/// room? is the client stopping?), then sleeps; a waker first changes what the sender looks at
/// (the counts, or the client's state), then reads `sleepers`. All four accesses are `SeqCst`,
/// so they fall in one total order (the "store, then load the other's flag" pattern), and one
/// of two things holds:
///
/// - the waker read `sleepers` before the sender registered: then the sender's look comes
///   after the waker's change, sees it, and the sender does not sleep;
/// - the waker saw the sender registered: it then takes the `sleep` lock, which the sender
///   holds from registering until `Condvar::wait` releases it, so the notification reaches
///   a sender that is already waiting.
///
/// `wake_all` unregisters every sleeper and bumps the generation under the lock, so the
/// releases that follow cost one load again (not one notification each) until someone
/// sleeps anew; a sender that sees the generation change registers again before it looks
/// again. A sender that wakes by timeout (generation unchanged) is still registered and
/// unregisters itself.
///
/// One more trap: a refused reservation raises the counts for a moment before undoing them,
/// so a release in that moment may see too high a count and skip the wake-up (and a sleeper
/// may have looked in that moment). The undo therefore wakes the sleepers itself when there
/// are any. Refusals are the slow path, and a waiting sender attempts a reservation only on
/// entry, after seeing room, and once at its deadline (a woken sender that sees no room goes
/// back to sleep without attempting), so sleepers never keep waking each other.
#[derive(Debug)]
pub(crate) struct Gauge {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    max_messages: usize,
    max_bytes: usize,
    /// Senders registered to sleep in `reserve_until`. Changed only under `sleep`; read
    /// without it by wakers.
    sleepers: AtomicUsize,
    /// The generation of wake-ups: `wake_all` bumps it.
    sleep: Mutex<u64>,
    room: Condvar,
}

impl Gauge {
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> Self {
        Gauge {
            messages: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_messages,
            max_bytes,
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(0),
            room: Condvar::new(),
        }
    }

    /// Reserve room for one message of `len` bytes, or refuse without side effects.
    pub(crate) fn reserve(&self, len: usize) -> Result<(), Refused> {
        let msgs = self.messages.fetch_add(1, Ordering::SeqCst);
        let bytes = self.bytes.fetch_add(len, Ordering::SeqCst);
        // An empty outbox always takes one message (its size is bounded by max_message_size).
        if msgs > 0 && (msgs + 1 > self.max_messages || bytes + len > self.max_bytes) {
            self.messages.fetch_sub(1, Ordering::SeqCst);
            self.bytes.fetch_sub(len, Ordering::SeqCst);
            // The counts looked higher than they are for a moment (see the type's doc).
            if self.sleepers.load(Ordering::SeqCst) != 0 {
                self.wake_all();
            }
            return Err(Refused::Full {
                queued_messages: msgs,
                queued_bytes: bytes,
            });
        }
        Ok(())
    }

    /// Reserve room for one message of `len` bytes, sleeping until there is room, until
    /// `deadline` (`None`: no limit) or until `closed()` says the client is stopping.
    ///
    /// Errors: `Full` when there is still no room at the deadline (nothing reserved),
    /// `Closed` when `closed()` turned true. A message larger than the byte bound fits only
    /// an empty outbox, as with `reserve`.
    pub(crate) fn reserve_until(
        &self,
        len: usize,
        deadline: Option<Instant>,
        closed: impl Fn() -> bool,
    ) -> Result<(), Refused> {
        loop {
            let refused = match self.reserve(len) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(refused);
            }
            let mut generation = self.lock_sleep();
            let mut mine = self.register(&generation);
            loop {
                // Registered, and the lock held: look, then sleep (see the type's doc).
                if closed() {
                    self.unregister();
                    return Err(Refused::Closed);
                }
                if self.fits(len) || deadline.is_some_and(|d| Instant::now() >= d) {
                    self.unregister();
                    break; // try again (at the deadline: one last time) without the lock
                }
                generation = match deadline {
                    None => self
                        .room
                        .wait(generation)
                        .unwrap_or_else(|p| p.into_inner()),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        let woken = self.room.wait_timeout(generation, left);
                        woken.unwrap_or_else(|p| p.into_inner()).0
                    }
                };
                if *generation != mine {
                    // Woken by `wake_all`, which unregistered us: register before looking.
                    mine = self.register(&generation);
                }
            }
        }
    }

    /// One message of `len` bytes left the outbox. Wakes the waiting senders once the outbox
    /// is down to its low-water mark: at most half of each bound.
    pub(crate) fn release(&self, len: usize) {
        self.release_many(1, len);
    }

    /// `n` messages of `len` bytes in all left the outbox: [`Self::release`] once for a
    /// burst (the I/O thread writes many per turn; two atomics per burst, not per message).
    pub(crate) fn release_many(&self, n: usize, len: usize) {
        if n == 0 {
            return;
        }
        self.messages.fetch_sub(n, Ordering::SeqCst);
        self.bytes.fetch_sub(len, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0
            && self.messages.load(Ordering::SeqCst) <= self.max_messages / 2
            && self.bytes.load(Ordering::SeqCst) <= self.max_bytes / 2
        {
            self.wake_all();
        }
    }

    /// Wake every sender waiting for room, so that it looks again (the caller has just
    /// changed what `closed()` returns). One atomic load when nobody waits.
    pub(crate) fn wake_waiters(&self) {
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            self.wake_all();
        }
    }

    /// Messages currently queued.
    pub(crate) fn messages(&self) -> usize {
        self.messages.load(Ordering::Acquire)
    }

    /// Senders registered to sleep for room.
    #[cfg(test)]
    pub(crate) fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::SeqCst)
    }

    /// How many times sleepers were woken.
    #[cfg(test)]
    fn generation(&self) -> u64 {
        *self.lock_sleep()
    }

    /// Whether `reserve(len)` would succeed now (the negation of its refusal test).
    fn fits(&self, len: usize) -> bool {
        let msgs = self.messages.load(Ordering::SeqCst);
        msgs == 0
            || (msgs < self.max_messages
                && self.bytes.load(Ordering::SeqCst) + len <= self.max_bytes)
    }

    fn lock_sleep(&self) -> MutexGuard<'_, u64> {
        self.sleep.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Count the caller as a sleeper (it holds the lock); returns the generation it sleeps in.
    fn register(&self, generation: &MutexGuard<'_, u64>) -> u64 {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        **generation
    }

    /// Stop counting the caller, who holds the lock in the generation it registered in.
    fn unregister(&self) {
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn wake_all(&self) {
        let mut generation = self.lock_sleep();
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            self.sleepers.store(0, Ordering::SeqCst);
            *generation = generation.wrapping_add(1);
            self.room.notify_all();
        }
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
/// outbox: once the window is full the I/O thread writes nothing more until a heartbeat
/// answer confirms some of it (flow control, see [`Unconfirmed::is_full`]), so no written
/// message ever goes untracked; the outbox then fills and pushes back on the senders.
///
/// With a heartbeat the window keeps a copy of each payload in one ring of bytes that it
/// owns ([`Ring`]), and the sender's buffer is freed as soon as the message is written. Keeping
/// the senders' buffers until a heartbeat answer instead made glibc's heap wander and shrink:
/// a 1 MiB flood faulted most of its pages in afresh (50,000–66,000 page faults per 256 MiB
/// against 1,500) and ran at 0.4x raw tungstenite (BENCHMARKS.md). The ring grows to what
/// the window holds and is freed when a heartbeat finds the window empty ([`Self::trim`]).
/// Without a heartbeat a message is only kept until the next successful flush, so the
/// message itself is kept: nothing to copy.
#[derive(Debug)]
pub(crate) struct Unconfirmed {
    /// With a heartbeat: one record per message, oldest first; the payloads lie back to back
    /// in `ring` (so `ring.len()` is the window's size in bytes).
    records: VecDeque<Record>,
    ring: Ring,
    /// Without a heartbeat: the messages written since the last successful flush.
    unflushed: VecDeque<WsMessage>,
    track: bool,
    max_messages: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct Record {
    /// The last heartbeat sent before the message was written.
    seq: u64,
    at: Instant,
    text: bool,
    len: usize,
}

impl Unconfirmed {
    pub(crate) fn new(track: bool, max_messages: usize, max_bytes: usize) -> Self {
        Unconfirmed {
            records: VecDeque::new(),
            ring: Ring::default(),
            unflushed: VecDeque::new(),
            track,
            max_messages,
            max_bytes,
        }
    }

    /// With a heartbeat: `m` is about to be written after heartbeat `seq` (the last one
    /// sent): keep a copy of its payload until it is confirmed, and return true. Without a
    /// heartbeat (nothing copied): false, and the caller hands the message itself to
    /// [`Self::written`] once written.
    pub(crate) fn copy(&mut self, seq: u64, now: Instant, m: &WsMessage) -> bool {
        if !self.track {
            return false;
        }
        let (text, payload): (bool, &[u8]) = match m {
            WsMessage::Text(t) => (true, t.as_bytes()),
            WsMessage::Binary(b) => (false, b),
            // Heartbeats and control frames never come here (see `Conn::write_message`).
            _ => return true,
        };
        self.ring.extend(payload);
        self.records.push_back(Record {
            seq,
            at: now,
            text,
            len: payload.len(),
        });
        true
    }

    /// The last [`Self::copy`] was not written after all: forget it.
    pub(crate) fn drop_copy(&mut self) {
        if let Some(r) = self.records.pop_back() {
            self.ring.truncate(self.ring.len() - r.len);
        }
    }

    /// The last [`Self::copy`] was not written after all: the message rebuilt from it.
    pub(crate) fn pop_copy(&mut self) -> WsMessage {
        let Some(r) = self.records.pop_back() else {
            return WsMessage::binary(Vec::new()); // never: a copy was made
        };
        let payload = self.ring.copy_out(self.ring.len() - r.len, r.len);
        self.ring.truncate(self.ring.len() - r.len);
        rebuild(r.text, payload)
    }

    /// Without a heartbeat: `m` was written; keep it until the next successful flush.
    pub(crate) fn keep_unflushed(&mut self, m: WsMessage) {
        self.unflushed.push_back(m);
    }

    /// `m` was written after heartbeat `seq`: [`Self::copy`], or [`Self::keep_unflushed`].
    #[cfg(test)]
    pub(crate) fn written(&mut self, seq: u64, now: Instant, m: WsMessage) {
        if !self.copy(seq, now, &m) {
            self.keep_unflushed(m);
        }
    }

    /// Whether no more may be written until a heartbeat answer confirms some of the window.
    /// An empty window takes one message whatever its size (as the outbox does).
    pub(crate) fn is_full(&self) -> bool {
        self.track
            && !self.records.is_empty()
            && (self.records.len() >= self.max_messages || self.ring.len() >= self.max_bytes)
    }

    /// Everything written so far reached the kernel.
    pub(crate) fn flushed(&mut self) {
        if !self.track {
            self.clear();
        }
    }

    /// Heartbeat `seq` was answered: everything written before it arrived.
    pub(crate) fn confirmed(&mut self, seq: u64) {
        let mut n = 0;
        while let Some(r) = self.records.front().filter(|r| r.seq < seq) {
            n += r.len;
            self.records.pop_front();
        }
        self.ring.drain_front(n);
    }

    /// A heartbeat is going out: if nothing is unconfirmed, give the ring's memory back (a
    /// bulk transfer is over; the next one grows it again).
    pub(crate) fn trim(&mut self) {
        if self.records.is_empty() && self.ring.capacity() > 0 {
            self.ring = Ring::default();
        }
    }

    /// When an acknowledgement is wanted: `after` past the oldest unconfirmed write, or at once
    /// when the window is half full (so a busy sender's window rarely fills and pauses writing).
    pub(crate) fn ack_wanted_at(&self, after: Duration) -> Option<Instant> {
        if !self.track {
            return None;
        }
        let oldest = self.records.front()?.at;
        Some(if self.half_full() {
            oldest
        } else {
            oldest + after
        })
    }

    /// Whether the window is at least half full (an acknowledgement is wanted at once).
    pub(crate) fn half_full(&self) -> bool {
        self.track
            && (self.records.len() * 2 >= self.max_messages
                || self.ring.len() * 2 >= self.max_bytes)
    }

    /// Nothing written is waiting for confirmation.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty() && self.unflushed.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.ring.clear();
        self.unflushed.clear();
    }

    /// The unconfirmed messages, oldest first, rebuilt from their copies; the window is empty
    /// afterwards.
    pub(crate) fn take(&mut self) -> Vec<WsMessage> {
        let mut out: Vec<WsMessage> = self.unflushed.drain(..).collect();
        let mut at = 0;
        for r in self.records.drain(..) {
            let payload = self.ring.copy_out(at, r.len);
            at += r.len;
            out.push(rebuild(r.text, payload));
        }
        self.clear();
        out
    }
}

/// The unconfirmed window's bytes: a queue of fixed-size chunks, appended at the back and
/// consumed from the front, with the chunks emptied kept for reuse until the window is trimmed.
///
/// One `VecDeque<u8>` did the same job, but it doubles as it grows (each step a new buffer,
/// the old one's contents copied, the old memory given back to the allocator and the new
/// faulted in) and fills its whole capacity before it wraps, so a window of 33 MiB touched
/// 64 MiB. Chunks touch only what the window holds at its fullest, and never move: a pinned
/// 1 MiB flood (256 MiB) took 10,700–14,200 page faults in 13 runs of 15 against
/// 11,000–42,000 (median 23,000) with the `VecDeque`.
#[derive(Debug, Default)]
struct Ring {
    /// Oldest first; every chunk but the last is full (`RING_CHUNK` bytes).
    chunks: VecDeque<Vec<u8>>,
    /// Bytes already consumed at the front of the first chunk.
    head: usize,
    /// Bytes held.
    len: usize,
    /// Emptied chunks (cleared, capacity kept), reused before new ones are allocated.
    spare: Vec<Vec<u8>>,
}

/// The size of one chunk of the [`Ring`]: four per MiB copied (the bookkeeping is nothing
/// against the copy), and little slack in the last one.
const RING_CHUNK: usize = 256 << 10;

impl Ring {
    fn len(&self) -> usize {
        self.len
    }

    /// The memory allocated, in use or spare.
    fn capacity(&self) -> usize {
        (self.chunks.len() + self.spare.len()) * RING_CHUNK
    }

    fn extend(&mut self, mut data: &[u8]) {
        self.len += data.len();
        while !data.is_empty() {
            let room = self.chunks.back().map_or(0, |c| RING_CHUNK - c.len());
            if room == 0 {
                let chunk = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(RING_CHUNK));
                self.chunks.push_back(chunk);
                continue;
            }
            let (now, rest) = data.split_at(room.min(data.len()));
            if let Some(c) = self.chunks.back_mut() {
                c.extend_from_slice(now);
            }
            data = rest;
        }
    }

    /// The `len` bytes from offset `at` (from the front), copied out.
    fn copy_out(&self, at: usize, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        // Every chunk but the last is full, so the offset names its chunk.
        let at = self.head + at;
        let (mut i, mut pos) = (at / RING_CHUNK, at % RING_CHUNK);
        while out.len() < len {
            let Some(c) = self.chunks.get(i) else {
                break; // never: `at + len` is within the ring
            };
            let take = (c.len() - pos).min(len - out.len());
            out.extend_from_slice(&c[pos..pos + take]);
            (i, pos) = (i + 1, 0);
        }
        out
    }

    /// Forget the first `n` bytes.
    fn drain_front(&mut self, n: usize) {
        self.len -= n;
        self.head += n;
        while let Some(c) = self.chunks.front() {
            if self.head < c.len() {
                break;
            }
            // Consumed whole (the last chunk too: the next byte starts a fresh one).
            self.head -= c.len();
            self.recycle_front();
        }
    }

    /// Keep the first `len` bytes.
    fn truncate(&mut self, len: usize) {
        let mut cut = self.len - len;
        self.len = len;
        while cut > 0 {
            let start = if self.chunks.len() == 1 { self.head } else { 0 };
            let Some(c) = self.chunks.back_mut() else {
                break;
            };
            let here = (c.len() - start).min(cut);
            c.truncate(c.len() - here);
            cut -= here;
            if c.len() == start {
                if let Some(mut c) = self.chunks.pop_back() {
                    c.clear();
                    self.spare.push(c);
                }
                if self.chunks.is_empty() {
                    self.head = 0;
                }
            }
        }
    }

    fn clear(&mut self) {
        while !self.chunks.is_empty() {
            self.recycle_front();
        }
        self.head = 0;
        self.len = 0;
    }

    fn recycle_front(&mut self) {
        if let Some(mut c) = self.chunks.pop_front() {
            c.clear();
            self.spare.push(c);
        }
    }
}

/// A message from its copied payload.
fn rebuild(text: bool, payload: Vec<u8>) -> WsMessage {
    if text {
        // Copied from a `Utf8Bytes`: valid UTF-8 (the lossy path never runs).
        let text = String::from_utf8(payload)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        WsMessage::text(text)
    } else {
        WsMessage::binary(payload)
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
mod tests;
