//! Commands from handles (send, close, reconnect now), taken from the inbox
//! (`crate::inbox`) a batch at a time and carried out by one function given the phase the
//! I/O thread is in, and the I/O thread's ways of waiting for them: its poller (or, on a
//! runtime, parked), woken by senders.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use super::IoLoop;
use super::Reactor;
use super::decide::{End, Failure};
use crate::conn::Conn;
use crate::runtime::{WorkerShared, park, take_io_event};
use crate::shared::{Command, State};

/// A connection attempt slot of a runtime thread, given back when dropped (the attempt
/// ended, whichever way).
pub(super) struct ConnectSlot(Arc<WorkerShared>);

impl Drop for ConnectSlot {
    fn drop(&mut self) {
        self.0.end_connecting();
    }
}

/// Where the I/O thread is when it takes a command.
pub(super) enum Phase<'c> {
    /// Resolving, connecting or in a handshake.
    Connecting,
    /// Waiting out a backoff delay.
    Backoff,
    /// The connection is open.
    Open(&'c mut Conn),
    /// Stopping for good: messages still arriving are collected as unsent.
    Stopped,
}

/// What the phase that took a command does next.
pub(super) enum Outcome {
    /// Carry on (also after a send was queued, or a command the phase ignores).
    Continue,
    /// The user closed: stop connecting or waiting, the client stops.
    Closed,
    /// Cut the backoff wait short and connect now.
    ConnectNow,
    /// The open connection ends.
    Ended(End),
}

impl IoLoop {
    /// Carry out one command in `phase`: the one place that knows what each command means
    /// in each phase.
    pub(super) fn on_command(&mut self, cmd: Command, phase: Phase<'_>) -> Outcome {
        match (cmd, phase) {
            // After the stop nothing is written: keep send order for the `Stopped` event.
            (Command::Send(m, _), Phase::Stopped) => self.outbox.push_back(m),
            (Command::Send(m, true), _) => self.outbox.push_priority(m),
            (Command::Send(m, false), _) => self.outbox.push_back(m),
            (Command::Close(code, reason), Phase::Open(c)) => {
                if c.closing.is_none() {
                    self.begin_close(c, code, reason);
                }
            }
            (Command::Close(code, reason), Phase::Connecting | Phase::Backoff) => {
                self.close_req = Some((code, reason));
                return Outcome::Closed;
            }
            (Command::ReconnectNow, Phase::Open(c)) => {
                if c.closing.is_none() {
                    let _ = c.ws.close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "reconnecting".into(),
                    }));
                    let _ = c.ws.flush();
                    let f = Failure::reconnect_requested(c.inflight.take());
                    return Outcome::Ended(End::Lost(f));
                }
            }
            (Command::ReconnectNow, Phase::Backoff) => return Outcome::ConnectNow,
            // Already connecting; or stopped for good.
            (Command::ReconnectNow, Phase::Connecting) => {}
            (Command::Close(..) | Command::ReconnectNow, Phase::Stopped) => {}
        }
        Outcome::Continue
    }

    /// Carry out every waiting command (without blocking) until one ends the phase.
    pub(super) fn take_commands(&mut self, mut phase: Phase<'_>) -> Outcome {
        while let Some(cmd) = self.next_command() {
            let phase = match &mut phase {
                Phase::Connecting => Phase::Connecting,
                Phase::Backoff => Phase::Backoff,
                Phase::Open(c) => Phase::Open(c),
                Phase::Stopped => Phase::Stopped,
            };
            match self.on_command(cmd, phase) {
                Outcome::Continue => {}
                other => return other,
            }
        }
        Outcome::Continue
    }

    /// Start our close handshake: what was sent before `close()` goes out first, then the
    /// close frame; the server's answer is awaited within one budget.
    fn begin_close(&mut self, c: &mut Conn, code: u16, reason: String) {
        self.shared.set_state(State::Closing);
        log::info!("closing with code {code}");
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.as_str().into(),
        };
        // Data sent before close() goes out before the close frame.
        let _ = self.write_and_flush(c);
        let _ = c.ws.close(Some(frame));
        let _ = c.ws.flush();
        // One budget for the whole close, started when the request was taken (`taken`), or
        // earlier if it waited behind a full event channel.
        c.closing = Some(
            self.events_give_up
                .unwrap_or_else(|| Instant::now() + self.cfg.limits.close_timeout),
        );
        self.close_req = Some((code, reason));
    }

    pub(super) fn next_command(&mut self) -> Option<Command> {
        let cmd = self.pop_command();
        if let Some(c) = &cmd {
            self.taken(c);
        }
        cmd
    }

    /// The oldest command not yet carried out: from `pending`, which takes the whole inbox
    /// (one lock for every command queued meanwhile) when it runs empty.
    pub(super) fn pop_command(&mut self) -> Option<Command> {
        if self.pending.is_empty() {
            self.shared.inbox.take_into(&mut self.pending);
        }
        self.pending.pop_front()
    }

    /// While blocked on the event channel: take everything in the inbox into `pending`, to be
    /// carried out later; true if a close request waits among `pending` (which starts the
    /// close budget). Also one taken before, with others, that waits behind a reconnect
    /// request whose `Closed` event is what blocks now.
    pub(super) fn stash_inbox(&mut self) -> bool {
        self.shared.inbox.take_into(&mut self.pending);
        // Counted from before its push until carried out: no scan without one.
        let close = self.shared.control_pending.load(Ordering::SeqCst) != 0
            && self.pending.iter().any(|c| matches!(c, Command::Close(..)));
        if close {
            self.start_close_budget();
        }
        close
    }

    /// A command is about to be carried out: a close or reconnect request no longer holds
    /// senders off the direct path (the request itself now does). From a close request on,
    /// every event waits for channel room at most until the close budget runs out, wherever
    /// the request was taken: the user is closing and may not be draining the channel.
    fn taken(&mut self, cmd: &Command) {
        if !matches!(cmd, Command::Send(..)) {
            self.shared.control_pending.fetch_sub(1, Ordering::SeqCst);
        }
        if matches!(cmd, Command::Close(..)) {
            self.start_close_budget();
        }
    }

    /// A close request was seen: from now on no event waits for channel room longer than the
    /// close budget (the user is closing and may be the very thread that should be reading).
    /// One budget for the whole close, started by the first sight of the request.
    pub(super) fn start_close_budget(&mut self) {
        if self.events_give_up.is_none() {
            self.events_give_up = Some(Instant::now() + self.cfg.limits.close_timeout);
        }
    }

    /// Wait out a backoff delay; false if the user closed meanwhile.
    pub(super) async fn wait_backoff(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            while let Some(cmd) = self.next_command() {
                match self.on_command(cmd, Phase::Backoff) {
                    Outcome::Continue => {}
                    Outcome::Closed => return false,
                    Outcome::ConnectNow | Outcome::Ended(_) => return true,
                }
            }
            if Instant::now() >= deadline {
                return true;
            }
            self.sleep(Some(deadline)).await;
        }
    }

    /// Sleep until I/O, a sender's wake-up, or `deadline`: in the own thread's poller, or
    /// parked on the runtime worker. On a runtime, events waiting for channel room are
    /// delivered first (`wait_for_room`), and that wait is the sleep.
    pub(super) async fn sleep(&mut self, deadline: Option<Instant>) {
        if !self.backlog.is_empty() {
            return self.wait_for_room().await;
        }
        // Just handed the consumer events, with nothing queued: it often answers at once.
        let yield_first = std::mem::take(&mut self.delivered)
            && self.pending.is_empty()
            && self.shared.inbox.is_empty()
            && !self.reactor.is_task();
        self.shared.sleeping.store(true, Ordering::SeqCst);
        // A consumer that found us awake waits for this to borrow the socket
        // (`direct_read.rs`).
        self.shared.wake_parked_reader();
        if yield_first {
            // Where the consumer shares this CPU, let it run first, with `sleeping` already
            // set: its answer finds the connection free and is written directly, and its next
            // receive borrows the socket before the reply exists (a server on the same CPU
            // runs only once both of us wait). Pinned round trip in channel mode: 1.48x raw
            // without this yield, 1.25x with it (7 repeats each). Elsewhere it returns at once.
            thread::yield_now();
        }
        // A sender that pushed before seeing the flag did not wake us: look before sleeping.
        if self.pending.is_empty() && self.shared.inbox.is_empty() {
            match &mut self.reactor {
                Reactor::Own(poll, events) => {
                    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if let Err(e) = poll.poll(events, timeout)
                        && e.kind() != io::ErrorKind::Interrupted
                    {
                        log::error!("poller failed: {e}");
                        thread::sleep(Duration::from_millis(10));
                    }
                    let token = self.reactor.token();
                    if let Reactor::Own(_, events) = &self.reactor {
                        self.socket_event |= events.iter().any(|e| e.token() == token);
                    }
                }
                Reactor::Task(..) => self.park(deadline).await,
            }
        }
        self.shared.sleeping.store(false, Ordering::SeqCst);
    }

    /// On a runtime: wait for one of the thread's connection attempt slots
    /// (`runtime::CONNECTING_PER_THREAD`). `Ok(None)` on a thread of its own (no limit);
    /// `Err` if the user closed meanwhile.
    pub(super) async fn wait_connect_slot(&mut self) -> Result<Option<ConnectSlot>, ()> {
        let Reactor::Task(worker, token) = &self.reactor else {
            return Ok(None);
        };
        let (worker, key) = (worker.clone(), token.0);
        loop {
            if worker.try_begin_connecting(key) {
                return Ok(Some(ConnectSlot(worker)));
            }
            self.sleep(None).await;
            if let Outcome::Closed = self.take_commands(Phase::Connecting) {
                worker.stop_waiting(key);
                return Err(());
            }
        }
    }

    /// On a runtime: deliver the events that found the channel full, parked until the
    /// consumer makes room (as a client on its own thread blocks in `emit_blocking`:
    /// meanwhile nothing is read and only a close request is looked at; it ends the wait and
    /// the rest is kept aside). Returns at once with nothing waiting.
    pub(super) async fn wait_for_room(&mut self) {
        loop {
            self.move_backlog();
            if self.backlog.is_empty() {
                return;
            }
            self.stash_inbox();
            if self.events_give_up.is_some() {
                self.spill_backlog();
                return;
            }
            if !self.want_room() {
                continue; // room appeared meanwhile
            }
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if self.shared.inbox.is_empty() {
                self.park(None).await;
            }
            self.shared.sleeping.store(false, Ordering::SeqCst);
        }
    }

    /// On a runtime: park until the worker polls the task again, noting whether its poller
    /// had an event for the socket meanwhile.
    pub(super) async fn park(&mut self, deadline: Option<Instant>) {
        park(deadline).await;
        self.socket_event |= take_io_event();
    }
}
