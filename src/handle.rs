//! [`Handle`]: the cheap, cloneable control of a client from any thread (send, close,
//! reconnect now, state, stats), and the checks its calls make.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::io_loop::send_direct;
use crate::message::Message;
use crate::outbox::{Refused, to_public};
use crate::shared::{Command, Shared, State};
use crate::stats::Stats;

/// A cheap, cloneable, `Send + Sync` handle that sends and controls a client from any thread,
/// including from inside the event callback. Unlike [`Client`](crate::Client), dropping handles never closes
/// the connection.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("state", &self.state())
            .finish()
    }
}

impl Handle {
    /// Queue a text message. It goes out at once when open; while connecting or reconnecting it
    /// waits in the outbox and is sent, in order, after the next open. Returns
    /// [`Error::OutboxFull`] when the outbox bound is reached (nothing is queued then; the
    /// error hands the message back, [`Error::into_message`]),
    /// [`Error::MessageTooLarge`] above the message size limit, and [`Error::Closed`] after the
    /// client stopped.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), Error> {
        let text: String = text.into();
        self.send_raw(tungstenite::Message::Text(text.into()), None)
    }

    /// Queue a binary message (same rules as [`Handle::send_text`]).
    pub fn send_binary(&self, data: impl Into<Vec<u8>>) -> Result<(), Error> {
        let data: Vec<u8> = data.into();
        self.send_raw(tungstenite::Message::Binary(data.into()), None)
    }

    /// Queue a [`Message`].
    pub fn send(&self, msg: Message) -> Result<(), Error> {
        match msg {
            Message::Text(t) => self.send_text(t),
            Message::Binary(b) => self.send_binary(b),
        }
    }

    /// Queue a text message like [`Handle::send_text`], but when the outbox is full, wait for
    /// room (at most `timeout`) instead of refusing at once. Returns `Ok` once the message is
    /// queued (not once it is written).
    ///
    /// The caller sleeps (no polling) until the I/O thread has written enough of the outbox
    /// to bring it down to its low-water mark, at most half of each bound of
    /// [`ClientBuilder::outbox_limit`](crate::ClientBuilder::outbox_limit), then tries again; if other senders took the room
    /// first it sleeps again, all within `timeout`. While the client is connecting or waiting
    /// to reconnect nothing is written, so it waits for the next open (or the timeout).
    ///
    /// Errors: [`Error::OutboxFull`] when there is still no room after `timeout` (nothing is
    /// queued), [`Error::Closed`] when the client is closed or stops, also while waiting
    /// (`close()` from another thread wakes it at once), [`Error::MessageTooLarge`] at once.
    ///
    /// - `Duration::ZERO` behaves exactly like `send_text`; `Duration::MAX` waits without limit.
    /// - Inside the event callback (on the I/O thread) it never waits, since the I/O thread is
    ///   what empties the outbox: it behaves like `send_text` there.
    /// - A message larger than the byte bound fits only an empty outbox (as with `send_text`),
    ///   so it waits until everything queued before it has been written.
    pub fn send_text_wait(&self, text: impl Into<String>, timeout: Duration) -> Result<(), Error> {
        let text: String = text.into();
        self.send_raw(tungstenite::Message::Text(text.into()), Some(timeout))
    }

    /// Queue a binary message, waiting for outbox room (same rules as
    /// [`Handle::send_text_wait`]).
    pub fn send_binary_wait(
        &self,
        data: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(), Error> {
        let data: Vec<u8> = data.into();
        self.send_raw(tungstenite::Message::Binary(data.into()), Some(timeout))
    }

    /// Queue a [`Message`], waiting for outbox room (same rules as
    /// [`Handle::send_text_wait`]).
    pub fn send_wait(&self, msg: Message, timeout: Duration) -> Result<(), Error> {
        match msg {
            Message::Text(t) => self.send_text_wait(t, timeout),
            Message::Binary(b) => self.send_binary_wait(b, timeout),
        }
    }

    /// Reserve outbox room for `len` bytes: at once (`wait` None, or `on_io_thread`, where
    /// waiting would deadlock), or waiting at most `wait` for room.
    fn reserve(
        &self,
        len: usize,
        wait: Option<Duration>,
        on_io_thread: bool,
    ) -> Result<(), Refused> {
        let shared = &self.shared;
        match wait {
            Some(timeout) if !on_io_thread => {
                // Room is the common case: no clock read for it.
                if shared.gauge.reserve(len).is_ok() {
                    return Ok(());
                }
                let deadline = Instant::now().checked_add(timeout);
                shared.gauge.reserve_until(len, deadline, || {
                    matches!(shared.state(), State::Stopped | State::Closing)
                })
            }
            _ => shared.gauge.reserve(len),
        }
    }

    fn send_raw(&self, msg: tungstenite::Message, wait: Option<Duration>) -> Result<(), Error> {
        let shared = &self.shared;
        let len = msg.len();
        if len > shared.max_message_size {
            return Err(Error::MessageTooLarge {
                size: len,
                limit: shared.max_message_size,
            });
        }
        if matches!(shared.state(), State::Stopped | State::Closing) {
            return Err(Error::Closed);
        }
        let priority = shared.on_io_thread();
        let msg = if priority {
            msg
        } else {
            match send_direct(shared, msg) {
                Ok(()) => return Ok(()),
                Err(msg) => msg,
            }
        };
        match self.reserve(len, wait, priority || shared.would_deadlock()) {
            Ok(()) => {}
            Err(Refused::Closed) => return Err(Error::Closed),
            Err(Refused::Full {
                queued_messages,
                queued_bytes,
            }) => {
                // Handed back: the caller may retry it later.
                let message = to_public(msg).unwrap_or(Message::Binary(Vec::new()));
                return Err(Error::OutboxFull {
                    queued_messages,
                    queued_bytes,
                    message: Box::new(message),
                });
            }
        }
        // Refused only once the I/O thread has stopped; a push before that is taken by its
        // stop and reported unsent in `Stopped` (`Inbox::close`): nothing is lost between.
        if shared.inbox.push(Command::Send(msg, priority)).is_err() {
            shared.gauge.release(len);
            return Err(Error::Closed);
        }
        // Queued (not written directly): the I/O thread must look.
        shared.wake();
        Ok(())
    }

    /// Close gracefully: send a close frame with `code` and `reason`, wait for the server's
    /// (at most the close timeout), stop for good. Never reconnects, also when called during
    /// a handshake or a backoff wait. Blocks until the I/O thread has stopped (bounded by
    /// the close timeout plus 500 ms), except when called from the event callback.
    ///
    /// `code` must be 1000 or within 3000..=4999; `reason` at most 123 bytes.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        check_close(code, reason)?;
        self.request_close(code, reason);
        if !self.shared.would_deadlock() {
            self.shared.wait_done(self.shared.close_wait);
        }
        Ok(())
    }

    /// Wait until everything queued so far has been written and the peer has confirmed
    /// receiving it, at most `timeout` (`Duration::MAX`: no limit). Meant for "send, then
    /// close" programs (the CLI at EOF): a peer that stops delivering once it sees our close
    /// frame would otherwise miss what was written just before it.
    ///
    /// Confirmed means what [`Event::Closed`](crate::Event::Closed)'s `unconfirmed` means: with a
    /// heartbeat, a heartbeat written after the messages was answered (while a caller waits,
    /// that heartbeat is sent at once rather than an interval after the write); without one,
    /// the messages reached the socket, which is all that can be known. Messages a lost
    /// connection handed back in `Closed.unconfirmed` are not waited for again (they are not
    /// resent). While the client is connecting or waiting to reconnect it waits for the next
    /// open.
    ///
    /// Returns `Ok(true)` once confirmed, `Ok(false)` at the timeout and at once inside the
    /// event callback (the I/O thread is what confirms), [`Error::Closed`] when the client is
    /// closing or stopped, also while waiting.
    pub fn wait_confirmed(&self, timeout: Duration) -> Result<bool, Error> {
        use crate::confirm::Waited;
        let shared = &self.shared;
        if shared.would_deadlock() {
            return Ok(false);
        }
        let closed = || matches!(shared.state(), State::Closing | State::Stopped);
        if closed() {
            return Err(Error::Closed);
        }
        // The I/O thread may be asleep until its next heartbeat: make it look now.
        let woken = || shared.wake_always();
        match shared.confirm.wait(timeout, woken, closed) {
            Waited::Confirmed => Ok(true),
            Waited::TimedOut => Ok(false),
            Waited::Closed => Err(Error::Closed),
        }
    }

    /// Start closing like [`Handle::close`] and return at once, without waiting for the I/O
    /// thread to stop (watch for [`Event::Stopped`](crate::Event::Stopped)). Meant for hosts
    /// that must keep draining events while the client closes (the C ABI's pull mode).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a code or reason [`Handle::close`] refuses.
    pub fn begin_close(&self, code: u16, reason: &str) -> Result<(), Error> {
        check_close(code, reason)?;
        self.request_close(code, reason);
        Ok(())
    }

    pub(crate) fn request_close(&self, code: u16, reason: &str) {
        self.send_control(Command::Close(code, reason.to_owned()));
    }

    /// The longest [`Handle::close`] (and the last [`Client`](crate::Client) drop) waits for the I/O thread:
    /// the close timeout plus 500 ms.
    pub fn close_bound(&self) -> Duration {
        self.shared.close_wait
    }

    /// Whether the calling thread is this client's I/O thread, i.e. the caller is inside one
    /// of its callbacks (where blocking on the client, such as joining it, would deadlock).
    pub fn on_io_thread(&self) -> bool {
        self.shared.on_io_thread()
    }

    /// Send a close or reconnect request; senders queue behind it until it is taken.
    fn send_control(&self, cmd: Command) -> bool {
        let pending = &self.shared.control_pending;
        pending.fetch_add(1, Ordering::SeqCst);
        if self.shared.inbox.push(cmd).is_err() {
            pending.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        self.shared.wake();
        true
    }

    /// Drop the current connection (or cut a backoff wait short) and connect again at once.
    pub fn reconnect_now(&self) -> Result<(), Error> {
        if self.state() == State::Stopped {
            return Err(Error::Closed);
        }
        if self.send_control(Command::ReconnectNow) {
            Ok(())
        } else {
            Err(Error::Closed)
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let slow = self.shared.lock_slow();
        Stats {
            connects: c.connects.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            missed_heartbeats: c.missed_heartbeats.load(Ordering::Relaxed),
            messages_in: c.messages_in.load(Ordering::Relaxed),
            messages_out: c.messages_out.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
            last_rtt: slow.last_rtt,
            smoothed_rtt: slow.smoothed_rtt,
            outbox_len: self.shared.gauge.messages(),
            uptime: slow.open_since.map(|t| t.elapsed()),
            compression: slow.compression,
            last_close_code: slow.last_close.as_ref().map(|c| c.0),
            last_close_reason: slow.last_close.as_ref().map(|c| c.1.clone()),
        }
    }
}

/// The close codes and reasons a client may send (RFC 6455 7.4: 1000, or 3000..=4999 for
/// applications; a reason fits a control frame).
fn check_close(code: u16, reason: &str) -> Result<(), Error> {
    if !(code == 1000 || (3000..=4999).contains(&code)) {
        return Err(Error::InvalidArgument(format!(
            "close code {code} is not allowed (use 1000 or 3000..=4999)"
        )));
    }
    if reason.len() > 123 {
        return Err(Error::InvalidArgument(
            "close reason longer than 123 bytes".into(),
        ));
    }
    Ok(())
}
