//! The consumer's fast path, the mirror of `direct.rs`: in channel mode, a consumer waiting
//! in [`crate::Events::recv`] while the I/O thread sleeps reads the socket itself. Unlike the
//! rest of `io_loop`, this runs on the *consumer's* thread.
//!
//! Without it every message read crosses threads: the I/O thread wakes for the socket, reads,
//! hands the event over the channel and wakes the consumer: two wake-ups per message where a
//! blocking read with raw tungstenite has one. Here the consumer borrows the socket from the
//! sleeping loop: it takes it out of the loop's poller ([`crate::tcp::Tcp::lend`]), waits on
//! it in a poller of its own, and reads and accounts for each message under the connection
//! slot's lock with the loop's own code ([`Conn::on_incoming`]: heartbeat answers, pings,
//! counters), as the loop would have.
//!
//! What keeps it equivalent to the loop reading:
//! - It starts only while the loop sleeps, the connection is open and not closing, no close
//!   or reconnect request is pending, nothing is stashed and the channel is empty: no event
//!   can be ahead of what it reads (the loop emits only while it holds the slot). Nor while
//!   output waits (queued messages, or a write the socket refused): the loop's watch for
//!   writability would leave the poller with the socket.
//! - The loop takes the socket back at the start of its every turn (a timer, a command, a
//!   wake-up): back into its poller, and the consumer is woken and waits on the channel. The
//!   loop's heartbeats and commands are never delayed by a consumer.
//! - The consumer never waits for the slot's lock (its holder may be the loop, blocked handing
//!   it an event): finding the slot busy, it wakes the loop, which takes the socket back.
//! - A close frame, an error, and a message read behind the one returned are stashed for the
//!   loop ([`Conn::stash`]), which is woken for them: they arrive through the channel, in order.
//! - Before returning, the consumer puts the socket back in the loop's poller (edge-triggered,
//!   the poller reports readiness already there at once: nothing is left unwatched).
//!
//! Own-thread clients only: a runtime's shared poller and tasks are not borrowed.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::Receiver;
use mio::unix::SourceFd;
use mio::{Interest, Poll, Registry, Token};

use super::incoming::Incoming;
use super::open::READ_BATCH;
use crate::conn::{Conn, would_block};
use crate::event::Event;
use crate::shared::{Shared, State};

/// The consumer's poller tokens.
const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

/// The consumer's own poller: the lent socket, and the waker the loop takes it back with.
/// Made on the first direct read (two descriptors a listen-only consumer never pays for).
struct ReaderPoll {
    poll: Poll,
    events: mio::Events,
    /// The socket registered here (descriptor, connection serial), once per connection.
    watching: Option<(RawFd, u64)>,
    /// The socket's readiness was reported while it was not lent to us. The loop's copy of
    /// that edge may be taken out of its poller with the socket when it is lent next: the
    /// first read of that lend must then look at the socket itself.
    missed: bool,
}

impl ReaderPoll {
    /// A poller, and the waker that interrupts a consumer waiting in it (it goes to
    /// [`Shared`], for the loop).
    fn new() -> io::Result<(ReaderPoll, mio::Waker)> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let rp = ReaderPoll {
            poll,
            events: mio::Events::with_capacity(4),
            watching: None,
            missed: false,
        };
        Ok((rp, waker))
    }
}

/// Reads a channel-mode client's socket from the consumer's thread (see the module doc).
pub(crate) struct DirectReader {
    shared: Arc<Shared>,
    /// The loop's poller (a clone of its registry), which the socket is lent from.
    registry: Registry,
    /// The socket's token in the loop's poller.
    token: Token,
    /// `ClientBuilder::pong_events`.
    pongs: bool,
    /// `None` until the first direct read, and after it failed to be made.
    poll: Mutex<Option<ReaderPoll>>,
    /// Making the poller failed (out of descriptors): direct reads are off for this client.
    no_poll: std::sync::atomic::AtomicBool,
    /// `messages_out` when a receive last began: the socket is borrowed only once more
    /// were sent since, i.e. while a reply is awaited.
    sent_before: AtomicU64,
}

impl std::fmt::Debug for DirectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectReader").finish_non_exhaustive()
    }
}

/// What a direct read gave.
pub(crate) enum Direct {
    /// The next event.
    Event(Event),
    /// Nothing arrived before the deadline.
    TimedOut,
    /// Not possible now (the loop is awake, took the socket back, or has something for the
    /// channel): wait on the channel.
    NotNow,
}

/// Whether the socket can be borrowed.
enum Lend {
    Lent,
    /// Not now: the loop is awake (it delivers an event or goes to sleep soon).
    Later,
    /// Not for this connection state: wait on the channel.
    No,
}

/// What reading what the socket has gave.
enum Step {
    Got(Event),
    /// No complete message: wait for the socket.
    Wait,
    /// Left to the loop (stashed, or a whole batch without an event for the user).
    ToLoop,
}

impl DirectReader {
    pub(crate) fn new(shared: Arc<Shared>, registry: Registry, token: Token, pongs: bool) -> Self {
        DirectReader {
            shared,
            registry,
            token,
            pongs,
            poll: Mutex::new(None),
            no_poll: std::sync::atomic::AtomicBool::new(false),
            sent_before: AtomicU64::new(0),
        }
    }

    /// The next event, read directly from the socket or taken from the channel, waiting until
    /// `deadline` (None: no limit) in this consumer's poller. `NotNow`: wait on the channel
    /// instead (another consumer has the poller, the connection is not open, the client
    /// stopped, or the deadline passed).
    pub(crate) fn recv(&self, rx: &Receiver<Event>, deadline: Option<Instant>) -> Direct {
        // Only while a reply is awaited (something was sent since the last receive began): that is
        // where a round trip pays two wake-ups. A consumer that only listens waits on the
        // channel, so that an idle connection's heartbeat turns do not wake it as well.
        let sent = self.shared.counters.messages_out.load(Ordering::Relaxed);
        if self.sent_before.swap(sent, Ordering::Relaxed) == sent {
            return Direct::NotNow;
        }
        if self.no_poll.load(Ordering::Relaxed) {
            return Direct::NotNow;
        }
        // Another consumer (a clone of `Events`) has the poller: this one uses the channel.
        let Ok(mut guard) = self.poll.try_lock() else {
            return Direct::NotNow;
        };
        if guard.is_none() {
            match ReaderPoll::new() {
                Ok((rp, waker)) => {
                    // Set once, before the poller is first waited in: the loop wakes through it.
                    let _ = self.shared.reader_waker.set(waker);
                    *guard = Some(rp);
                }
                Err(e) => {
                    log::warn!("direct reads off for this client (no poller: {e})");
                    self.no_poll.store(true, Ordering::Relaxed);
                    return Direct::NotNow;
                }
            }
        }
        let Some(rp) = guard.as_mut() else {
            return Direct::NotNow;
        };
        // Bounded: each round ends in a wait in the poller (for the socket, a wake-up from
        // the loop, or the deadline) or returns; stale wake-ups are taken once each.
        loop {
            match rx.try_recv() {
                Ok(ev) => return Direct::Event(ev),
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Direct::NotNow,
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Direct::NotNow; // the channel's own look says Timeout
            }
            match self.lend(rp, rx) {
                Lend::Lent => {
                    if let Some(d) = self.read_lent(rp, deadline) {
                        return d;
                    }
                    // Taken back: the loop delivers or sleeps again; wait for that.
                }
                Lend::Later => self.park(rp, rx, deadline),
                Lend::No => return Direct::NotNow,
            }
        }
    }

    /// Wait in the poller until the loop delivers an event or goes to sleep (it wakes a
    /// parked consumer for both), or the deadline.
    fn park(&self, rp: &mut ReaderPoll, rx: &Receiver<Event>, deadline: Option<Instant>) {
        let shared = &*self.shared;
        shared.reader_parked.store(true, Ordering::SeqCst);
        // Looked at after the flag is up (the loop sets `sleeping` or sends, then looks at
        // the flag): one side sees the other.
        if rx.is_empty() && !shared.sleeping.load(Ordering::SeqCst) {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            // Socket readiness while the socket is not lent is the loop's, but remembered.
            match rp.poll.poll(&mut rp.events, timeout) {
                Ok(()) => rp.missed |= rp.events.iter().any(|e| e.token() == SOCKET),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => log::error!("poller failed: {e}"),
            }
        }
        shared.reader_parked.store(false, Ordering::SeqCst);
    }

    /// Read the lent socket, waiting on it, until an event, the deadline, or the loop takes it
    /// back (`None`).
    fn read_lent(&self, rp: &mut ReaderPoll, deadline: Option<Instant>) -> Option<Direct> {
        let shared = &*self.shared;
        let mut ready = std::mem::take(&mut rp.missed);
        loop {
            {
                let Some(mut slot) = shared.try_lock_conn() else {
                    // The loop's turn (or a sender) holds it: the loop takes the socket back.
                    shared.wake_always();
                    rp.missed = ready;
                    return None;
                };
                let Some(c) = slot.as_mut().filter(|c| c.lent) else {
                    rp.missed = ready;
                    return None; // taken back
                };
                if std::mem::take(&mut ready) {
                    c.ws.get_mut().get_mut().poller_event();
                }
                let step = self.read(c);
                let expired = deadline.is_some_and(|d| Instant::now() >= d);
                if !matches!(step, Step::Wait) || expired {
                    let wake = self.give_back(c);
                    drop(slot);
                    if wake {
                        shared.wake_always();
                    }
                    return match step {
                        Step::Got(ev) => Some(Direct::Event(ev)),
                        Step::ToLoop => None, // the loop delivers it
                        Step::Wait => Some(Direct::TimedOut),
                    };
                }
            }
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            // Any event the loop delivers meanwhile wakes us too (as when parked).
            shared.reader_parked.store(true, Ordering::SeqCst);
            let polled = rp.poll.poll(&mut rp.events, timeout);
            shared.reader_parked.store(false, Ordering::SeqCst);
            match polled {
                Ok(()) => ready = rp.events.iter().any(|e| e.token() == SOCKET),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("poller failed: {e}");
                    // The loop takes the socket back and delivers through the channel.
                    shared.wake_always();
                    return Some(Direct::NotNow);
                }
            }
        }
    }

    /// Borrow the socket from the sleeping loop, if the rules allow (see the module doc).
    fn lend(&self, rp: &mut ReaderPoll, rx: &Receiver<Event>) -> Lend {
        let shared = &*self.shared;
        if !shared.sleeping.load(Ordering::SeqCst) {
            return Lend::Later; // awake: it delivers or sleeps soon
        }
        let Some(mut slot) = shared.try_lock_conn() else {
            // A sender writes (the loop sleeps): wait on the channel this time (parking would
            // not wait while the loop sleeps, and the sender may hold it for a while).
            return Lend::No;
        };
        let Some(c) = slot.as_mut() else {
            return Lend::No;
        };
        if !shared.sleeping.load(Ordering::SeqCst) || !rx.is_empty() {
            return Lend::Later;
        }
        // Under the lock: the loop emits only while holding it, so nothing can be delivered
        // ahead of what is read here.
        let stream = c.ws.get_mut().get_mut();
        // Output waiting (queued messages, or a write the socket refused: the loop sleeps
        // until it is writable): taking the socket out of the loop's poller would take that
        // watch with it, and the upload would stall until a timer.
        if c.lent
            || c.closing.is_some()
            || c.stash.is_some()
            || shared.control_pending.load(Ordering::SeqCst) != 0
            || shared.gauge.messages() != 0
            || stream.write_refused()
            || shared.state() != State::Open
        {
            return Lend::No;
        }
        let Some(fd) = stream.raw_fd() else {
            return Lend::No;
        };
        if rp.watching != Some((fd, c.serial)) {
            // A closed socket left the poller with its descriptor; this one is new.
            rp.watching = None;
            if let Err(e) =
                rp.poll
                    .registry()
                    .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)
            {
                log::debug!("direct reads off for this connection: {e}");
                return Lend::No;
            }
            rp.watching = Some((fd, c.serial));
        }
        if !stream.lend(&self.registry) {
            return Lend::No;
        }
        c.lent = true;
        Lend::Lent
    }

    /// Read what the socket has, as the loop would, until a message for the user.
    fn read(&self, c: &mut Conn) -> Step {
        let step = self.read_messages(c);
        // The liveness rule (`tcp.rs`): a byte read proves the peer alive, now, also when it
        // completed no message (a frame arriving slowly). The loop would look at its next
        // turn, which may be an interval away.
        if c.ws.get_mut().get_mut().take_progress().any() {
            c.hb.heard(Instant::now());
        }
        step
    }

    fn read_messages(&self, c: &mut Conn) -> Step {
        for _ in 0..READ_BATCH {
            let msg = match c.ws.read() {
                Ok(m) => m,
                Err(e) if would_block(&e) => return Step::Wait,
                Err(e) => {
                    c.stash = Some(Err(e));
                    return Step::ToLoop;
                }
            };
            match c.on_incoming(&self.shared, msg, Instant::now(), self.pongs) {
                Incoming::Event(ev) => {
                    // A message behind it is the loop's, which reads on from there.
                    match c.ws.read() {
                        Err(e) if would_block(&e) => {}
                        next => c.stash = Some(next),
                    }
                    return Step::Got(ev);
                }
                Incoming::Nothing => {}
                Incoming::Close(frame) => {
                    c.stash = Some(Ok(tungstenite::Message::Close(frame)));
                    return Step::ToLoop;
                }
            }
        }
        Step::ToLoop
    }

    /// The socket back in the loop's poller. True if the loop must look now: something is
    /// stashed for it, a write (a pong tungstenite queued) waits for a writable socket, a
    /// `wait_confirmed` caller waits for what a heartbeat answer read here confirmed, or
    /// messages are queued (a sender found the slot taken).
    fn give_back(&self, c: &mut Conn) -> bool {
        let stream = c.ws.get_mut().get_mut();
        if let Err(e) = stream.unlend(&self.registry, self.token) {
            log::error!("poller: {e}; the loop takes the socket back");
            return true; // still lent: the loop's turn tries again
        }
        c.lent = false;
        // Queued messages: a heartbeat answer read here may have made room in the window.
        c.stash.is_some()
            || stream.write_refused()
            || self.shared.confirm.wanted()
            || self.shared.gauge.messages() != 0
    }
}
