//! The open connection's loop: each turn takes commands, writes what is queued, reads a
//! batch of frames, runs the heartbeat rule (`crate::heartbeat`) and the delivery rule
//! (`crate::outbox::Unconfirmed`), then sleeps until I/O, a wake-up or the next deadline.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tungstenite::Message as WsMessage;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use super::IoLoop;
use super::commands::{Outcome, Phase};
use super::decide::{End, Failure};
use super::incoming::Incoming;
use super::sink::Sink;
use crate::conn::{Conn, Wrote, Ws, closed, would_block};
use crate::error::ErrorKind;
use crate::event::Event;
use crate::heartbeat::{Due, HeartbeatState, Outgoing};
use crate::message::Message;
use crate::outbox::Unconfirmed;
use crate::shared::{Command, State};
use crate::tls::classify_io;

/// Messages read per wake-up before commands and timers get a turn.
pub(super) const READ_BATCH: usize = 256;

/// Messages written between two releases of the outbox gauge (see `write_and_flush`).
const RELEASE_BATCH: usize = 64;
/// The unconfirmed window holds this many times the outbox's message bound (and its byte
/// bound). A flood of small messages fills a window of the outbox's size before a heartbeat
/// answer can come back and then stalls on every answer (pinned 64 B flood: 1.4-1.8 M/s); at
/// 4x it runs at the rate it has without tracking (2.1 M/s). The bytes bound what is held.
const WINDOW_MESSAGES_PER_OUTBOX: usize = 4;

/// What the open loop does after a turn.
enum Next {
    /// Read on: frames are still buffered.
    Again,
    /// Sleep until I/O, a wake-up, or this deadline.
    Sleep(Option<Instant>),
}

impl IoLoop {
    /// Run an open connection until it ends; returns how it ended.
    pub(super) async fn run_open(
        &mut self,
        ws: Ws,
        attempt: u32,
        protocol: Option<String>,
    ) -> Failure {
        let opened_at = Instant::now();
        let reconnect = self.ever_opened;
        self.ever_opened = true;
        let c = &self.shared.counters;
        let serial = c.connects.fetch_add(1, Ordering::Relaxed) + 1;
        if reconnect {
            c.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        {
            let mut slow = self.shared.lock_slow();
            slow.open_since = Some(opened_at);
            slow.compression = ws.get_ref().compressing();
        }
        self.shared.set_state(State::Open);
        log::info!(
            "open (reconnect: {reconnect}, attempt {attempt}, permessage-deflate: {})",
            ws.get_ref().compressing()
        );
        let hb = HeartbeatState::new(self.cfg.heartbeat.clone(), opened_at);
        let limits = &self.cfg.limits;
        let inflight = Unconfirmed::new(
            hb.is_enabled(),
            limits
                .outbox_max_messages
                .saturating_mul(WINDOW_MESSAGES_PER_OUTBOX),
            limits.outbox_max_bytes,
        );
        let mut ws = ws;
        ws.get_mut().get_mut().trust_edges();
        *self.shared.lock_conn() = Some(Conn::new(ws, hb, inflight, serial));
        self.emit(Event::Opened {
            reconnect,
            attempt,
            protocol,
            endpoint: self.endpoint,
            compression: self.shared.compression(),
        });
        let (end, mut conn) = self.open_loop().await;
        conn.ws
            .get_mut()
            .get_mut()
            .shutdown(self.reactor.registry());
        let failure = match end {
            End::Lost(f) => f,
            End::UserClosed => {
                let (code, reason) = self.close_req.clone().unwrap_or((1000, String::new()));
                Failure::user_closed(code, reason, conn.inflight.take())
            }
        };
        {
            let mut slow = self.shared.lock_slow();
            slow.open_since = None;
            slow.last_close = Some(failure.close());
        }
        self.backoff.connection_lasted(opened_at.elapsed());
        failure
    }

    /// Run the open connection until it ends; returns how, and the connection, taken out of
    /// its slot in the same turn (no sender can write into a connection that has ended).
    async fn open_loop(&mut self) -> (End, Conn) {
        let shared = Arc::clone(&self.shared);
        loop {
            let next = {
                // Held for the whole turn: senders write directly only while we sleep.
                let mut slot = shared.lock_conn();
                let Some(c) = slot.as_mut() else {
                    unreachable!("run_open fills the slot before the loop")
                };
                c.direct_streak = 0;
                if c.lent {
                    self.take_back(c);
                }
                if std::mem::take(&mut self.socket_event) {
                    c.ws.get_mut().get_mut().poller_event();
                }
                match self.turn(c) {
                    Ok(next) => next,
                    Err(end) => return (end, slot.take().expect("checked above")),
                }
            };
            match next {
                // Unread frames are buffered: no sleeping. On a shared thread, let the other
                // clients have their turn first (a deadline of now: polled again next round).
                Next::Again if self.reactor.is_task() => self.park(Some(Instant::now())).await,
                Next::Again => {}
                Next::Sleep(deadline) => self.sleep(deadline).await,
            }
        }
    }

    /// A consumer reads the socket directly (`direct_read.rs`): the loop takes it back for
    /// this turn (into its poller again) and sends the consumer back to the channel.
    fn take_back(&mut self, c: &mut Conn) {
        let stream = c.ws.get_mut().get_mut();
        if let Err(e) = stream.unlend(self.reactor.registry(), self.reactor.token()) {
            // Not watched: read on every turn until the connection ends (never seen).
            log::error!("poller: the socket could not be watched again: {e}");
        }
        c.lent = false;
        self.shared.wake_reader();
    }

    /// Carry out waiting commands on the open connection; `Err` when one ended it.
    fn open_commands(&mut self, c: &mut Conn) -> Result<(), End> {
        match self.take_commands(Phase::Open(c)) {
            Outcome::Ended(end) => Err(end),
            _ => Ok(()),
        }
    }

    /// One turn: commands, writes, reads, heartbeat.
    fn turn(&mut self, c: &mut Conn) -> Result<Next, End> {
        self.open_commands(c)?;
        self.write_and_flush(c)?;
        let more = self.read_batch(c)?;
        // What the callback sent in answer to what was read goes out in this turn, with the
        // pongs to server pings and our close reply that reads queued.
        self.open_commands(c)?;
        // Having just answered, read again before sleeping: a fast peer's reply (loopback,
        // or a server sharing our CPU) is often there already, and no poller call is needed.
        // Only what was written counts: messages left queued behind a full socket or a full
        // unconfirmed window wait for a writable socket or a heartbeat answer, asleep.
        let answered = self.write_and_flush(c)?;
        // A `wait_confirmed` caller wants the acknowledgement now, not an interval later.
        let confirm_wanted = self.shared.confirm.wanted();
        let ack_after = match confirm_wanted {
            true => Duration::ZERO,
            false => self.cfg.heartbeat.interval(),
        };
        let ack_at = c.inflight.ack_wanted_at(ack_after);
        let now = Instant::now();
        // The liveness rule (`tcp.rs`): any byte read, or our backed-up output draining, since
        // the last turn proves the peer alive, complete messages or not.
        if c.ws.get_mut().get_mut().take_progress().any() {
            c.hb.heard(now);
        }
        match c.closing {
            Some(at) if now >= at => {
                log::info!("close handshake timed out; dropping the connection");
                return Err(End::UserClosed);
            }
            Some(_) if self.overflowed => {
                log::info!("closing with nobody reading events: dropping the connection");
                return Err(End::UserClosed);
            }
            Some(_) => {}
            None => self.heartbeat(c, now, ack_at)?,
        }
        if confirm_wanted
            && c.closing.is_none()
            && self.outbox.is_empty()
            && self.shared.gauge.messages() == 0
            && c.inflight.is_empty()
        {
            self.shared.confirm.confirmed();
        }
        if more || answered {
            return Ok(Next::Again);
        }
        let deadline = match (c.closing, c.hb.next_deadline(ack_at)) {
            (Some(at), _) => Some(at),
            (None, hb) => hb,
        };
        let stream = c.ws.get_mut().get_mut();
        if let Err(e) = stream.sync_interest(self.reactor.registry(), self.reactor.token()) {
            log::error!("poller: {e}");
        }
        Ok(Next::Sleep(deadline))
    }

    /// The heartbeat rule's turn: send a due heartbeat, or end a connection whose peer went
    /// silent past the timeout.
    fn heartbeat(
        &mut self,
        c: &mut Conn,
        now: Instant,
        ack_at: Option<Instant>,
    ) -> Result<(), End> {
        match c.hb.poll(now, ack_at) {
            Due::Nothing => Ok(()),
            Due::Send(out) => {
                c.inflight.trim();
                let msg = match out {
                    Outgoing::Ping(p) => WsMessage::Ping(p.into()),
                    Outgoing::Message(Message::Text(t)) => WsMessage::Text(t.into()),
                    Outgoing::Message(Message::Binary(b)) => WsMessage::Binary(b.into()),
                };
                log::trace!("heartbeat sent");
                // A full write buffer means the peer is not reading: the heartbeat timeout,
                // not this write, decides about it.
                match c.ws.write(msg).and_then(|_| c.ws.flush()) {
                    Err(e)
                        if !would_block(&e)
                            && !matches!(e, tungstenite::Error::WriteBufferFull(_)) =>
                    {
                        Err(self.lost_by_error(c, e))
                    }
                    _ => Ok(()),
                }
            }
            Due::TimedOut(silent_for) => {
                self.shared
                    .counters
                    .missed_heartbeats
                    .fetch_add(1, Ordering::Relaxed);
                log::warn!("no heartbeat reply: peer silent for {silent_for:?}; dropping");
                // Reported as its own event, not as `Error { kind: HeartbeatTimeout }` (that
                // kind is reserved, see `ErrorKind::HeartbeatTimeout`).
                self.emit(Event::HeartbeatTimeout { silent_for });
                // Abort, do not close: with a plain close the kernel keeps retransmitting
                // what we wrote into the dead path, and once the path heals the server gets
                // it late, after what the next connection already delivered (out of order).
                // SO_LINGER 0 discards it and resets.
                c.ws.get_mut().get_mut().reset_on_close();
                let f = Failure::abnormal("heartbeat timeout", c.inflight.take());
                Err(End::Lost(f))
            }
        }
    }

    /// Write queued messages and flush. `Ok(true)`: at least one message was written (a full
    /// socket or unconfirmed window may leave the rest queued). Err ends the connection.
    pub(super) fn write_and_flush(&mut self, c: &mut Conn) -> Result<bool, End> {
        if c.closing.is_some() {
            return match c.ws.flush() {
                Err(e) if !would_block(&e) && !closed(&e) => Err(End::UserClosed),
                _ => Ok(false),
            };
        }
        let now = Instant::now(); // one timestamp per burst, not per message
        let mut any = false;
        loop {
            let mut wrote = false;
            // The burst leaves the gauge at once: it only ever counts too many meanwhile, so
            // senders queue behind it (they could not write directly anyway: we hold the
            // connection) and a waiting sender is woken at the end of the burst.
            let (mut n, mut bytes) = (0, 0);
            while let Some(m) = self.outbox.pop_front() {
                let len = m.len();
                match c.write_message(&self.shared.counters, m, now) {
                    Wrote::Yes => {}
                    Wrote::Full(m) => {
                        self.outbox.push_front(m);
                        break;
                    }
                    Wrote::Failed(m, e) => {
                        self.outbox.push_front(m);
                        self.shared.gauge.release_many(n, bytes);
                        return Err(self.lost_by_error(c, e));
                    }
                }
                wrote = true;
                n += 1;
                bytes += len;
                if n == RELEASE_BATCH {
                    // A long burst: let waiting senders refill meanwhile (another CPU).
                    self.shared.gauge.release_many(n, bytes);
                    (n, bytes) = (0, 0);
                }
            }
            self.shared.gauge.release_many(n, bytes);
            any |= wrote;
            match c.ws.flush() {
                Ok(()) => {
                    c.inflight.flushed();
                    if self.outbox.is_empty() || !wrote {
                        return Ok(any);
                    }
                }
                Err(e) if would_block(&e) => return Ok(any), // woken when writable
                Err(e) => return Err(self.lost_by_error(c, e)),
            }
        }
    }

    /// Before a close we send because of the peer's error: take the sends already queued
    /// (stopping at the first close or reconnect request, which stays pending) and write
    /// them after the outbox, best effort. Written messages are tracked as unconfirmed (the
    /// `Closed` event returns them); the rest stays in the outbox for the next connection.
    fn write_queued_before_close(&mut self, c: &mut Conn) {
        while let Some(cmd) = self.pop_command() {
            if !matches!(cmd, Command::Send(..)) {
                self.pending.push_front(cmd);
                break;
            }
            self.on_command(cmd, Phase::Open(c));
        }
        let now = Instant::now();
        while let Some(m) = self.outbox.pop_front() {
            let len = m.len();
            match c.write_message(&self.shared.counters, m, now) {
                Wrote::Yes => self.shared.gauge.release(len),
                Wrote::Full(m) | Wrote::Failed(m, _) => {
                    self.outbox.push_front(m);
                    break;
                }
            }
        }
        if c.ws.flush().is_ok() {
            c.inflight.flushed();
        }
    }

    /// Read up to a batch of frames. Ok(true): more may be buffered.
    fn read_batch(&mut self, c: &mut Conn) -> Result<bool, End> {
        for _ in 0..READ_BATCH {
            if !self.backlog.is_empty() {
                // On a runtime the event channel is full: read on once the consumer made room
                // (the sleep that follows waits for it).
                return Ok(false);
            }
            // A direct read may have left the loop a message, a close frame or an error.
            let read = match c.stash.take() {
                Some(r) => r,
                None => c.ws.read(),
            };
            let msg = match read {
                Ok(m) => m,
                Err(e) if would_block(&e) => return Ok(false),
                Err(e) if closed(&e) => {
                    if c.closing.is_some() {
                        return Err(End::UserClosed);
                    }
                    self.emit(Event::Error {
                        kind: ErrorKind::ConnectionLost,
                        message: "connection closed by the peer without a close frame".into(),
                    });
                    let f = Failure::abnormal("connection lost", c.inflight.take());
                    return Err(End::Lost(f));
                }
                Err(e) => return Err(self.lost_by_error(c, e)),
            };
            match c.on_incoming(&self.shared, msg, Instant::now(), self.pong_events()) {
                Incoming::Event(ev) => self.emit(ev),
                Incoming::Nothing => {}
                Incoming::Close(frame) => return Err(self.on_close_frame(c, frame)),
            }
        }
        Ok(true)
    }

    /// The server's close frame: the answer to ours, or the server closing.
    fn on_close_frame(&mut self, c: &mut Conn, frame: Option<CloseFrame>) -> End {
        if c.closing.is_some() {
            // The server answered our close: it read everything before it.
            c.inflight.clear();
            return End::UserClosed;
        }
        let (code, reason) = frame
            .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
            .unwrap_or((1005, String::new()));
        log::info!("server closed with code {code}");
        let _ = c.ws.flush(); // our close reply
        let retry = self.cfg.reconnect.retries_close_code(code);
        End::Lost(Failure::remote_close(
            code,
            reason,
            retry,
            c.inflight.take(),
        ))
    }

    /// Whether an answered heartbeat becomes a `Pong` event: always for a callback; in
    /// channel mode only when asked for (it would wake the consumer for nothing else).
    pub(super) fn pong_events(&self) -> bool {
        self.cfg.pong_events || matches!(self.sink, Sink::Callback(_))
    }

    /// Report a read/write error and end the connection.
    fn lost_by_error(&mut self, c: &mut Conn, e: tungstenite::Error) -> End {
        let (kind, message, code) = match e {
            // End of stream without a close frame (server crashed, path cut with FIN): the
            // peer broke no protocol rule we could tell it about; it is a lost connection.
            tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ) => (
                ErrorKind::ConnectionLost,
                "connection closed by the peer without a close frame".to_string(),
                1006,
            ),
            tungstenite::Error::Capacity(e) => (ErrorKind::MessageTooLarge, e.to_string(), 1009),
            tungstenite::Error::Protocol(e) => (ErrorKind::Protocol, e.to_string(), 1002),
            tungstenite::Error::Utf8(e) => {
                (ErrorKind::Protocol, format!("invalid UTF-8: {e}"), 1007)
            }
            tungstenite::Error::Io(e) => {
                let (k, m) = classify_io(&e);
                (k, m, 1006)
            }
            other => (ErrorKind::Io, other.to_string(), 1006),
        };
        // A refusal by the permessage-deflate layer reaches tungstenite as a frame it fails
        // on (the code is right); the layer knows the reason.
        let message = match c.ws.get_ref().inbound_error() {
            Some(e) => e.to_string(),
            None => message,
        };
        if code != 1006 {
            // What is already queued (typically the callback's replies to the messages read
            // just before the bad frame) still goes out, before our close: the protocol
            // allows data frames until we send a close frame.
            if c.closing.is_none() {
                self.write_queued_before_close(c);
            }
            // Tell the server why, best effort: it is not waited for.
            let _ = c.ws.close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "".into(),
            }));
            let _ = c.ws.flush();
        }
        if c.closing.is_some() {
            return End::UserClosed;
        }
        log::warn!("connection failed: {message}");
        self.emit(Event::Error {
            kind,
            message: message.clone(),
        });
        End::Lost(Failure::error(code, &message, c.inflight.take()))
    }
}
