//! The user-facing handle: [`ClientBuilder`] validates and starts, [`Client`] owns the I/O
//! thread, [`Handle`] sends and controls from any thread (including callbacks).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::config::{Config, ConnectRequest, Heartbeat, Limits, Reconnect, parse_url};
use crate::error::Error;
use crate::event::Event;
use crate::events::{Events, Overflow};
use crate::io_loop::{IoLoop, Sink, send_direct};
use crate::message::Message;
use crate::outbox::{Refused, to_public};
use crate::shared::{Command, Shared, State, WAKE};
use crate::stats::Stats;
use crate::tls::TlsOptions;

/// A cheap, cloneable, `Send + Sync` handle that sends and controls a client from any thread,
/// including from inside the event callback. Unlike [`Client`], dropping handles never closes
/// the connection.
#[derive(Clone)]
pub struct Handle {
    pub(crate) tx: Sender<Command>,
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
    /// [`ClientBuilder::outbox_limit`], then tries again; if other senders took the room
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
        shared.in_send.fetch_add(1, Ordering::SeqCst);
        let result = (|| {
            if matches!(shared.state(), State::Stopped | State::Closing) {
                return Err(Error::Closed);
            }
            let priority = shared.on_io_thread();
            let msg = if priority {
                msg
            } else {
                match send_direct(shared, msg) {
                    Ok(()) => return Ok(false),
                    Err(msg) => msg,
                }
            };
            match self.reserve(len, wait, priority) {
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
            if self.tx.send(Command::Send(msg, priority)).is_err() {
                shared.gauge.release(len);
                return Err(Error::Closed);
            }
            Ok(true)
        })();
        shared.in_send.fetch_sub(1, Ordering::SeqCst);
        // Queued (not written directly): the I/O thread must look.
        if result? {
            shared.wake();
        }
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
        if !self.shared.on_io_thread() {
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
        if shared.on_io_thread() {
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

    /// The longest [`Handle::close`] (and the last [`Client`] drop) waits for the I/O thread:
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
        if self.tx.send(cmd).is_err() {
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
            last_close_code: slow.last_close.as_ref().map(|c| c.0),
            last_close_reason: slow.last_close.as_ref().map(|c| c.1.clone()),
        }
    }
}

struct Owner {
    handle: Handle,
    thread: Mutex<Option<JoinHandle<()>>>,
    events: Option<Events>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        if shared.state() != State::Stopped {
            self.handle.request_close(1000, "");
        }
        if shared.on_io_thread() {
            return; // dropped by a callback's captures on the I/O thread: it is exiting anyway
        }
        // Our receiver must not keep a full event channel alive: if no one else holds a clone,
        // nobody can read it any more, and the I/O thread must not wait for a reader.
        drop(self.events.take());
        let joined = shared.wait_done(shared.close_wait);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (joined, thread) {
            (true, Some(t)) => {
                let _ = t.join();
            }
            (false, Some(_)) => log::warn!("I/O thread did not stop in time; detached"),
            _ => {}
        }
    }
}

/// A WebSocket client whose connection lives on its own I/O thread.
///
/// Cloning is cheap and shares the connection; dropping the last clone closes it (close code
/// 1000) and joins the thread within the close timeout plus 500 ms. All sending and control
/// methods come from [`Handle`] (through `Deref`).
///
/// ```no_run
/// use std::time::Duration;
/// use wsbeat::{Client, Event, Heartbeat};
///
/// let client = Client::builder("ws://127.0.0.1:8002")
///     .heartbeat(Heartbeat::ping(Duration::from_secs(4), Duration::from_secs(2)))
///     .connect()?;
/// client.send_text("hello")?;
/// for event in client.events().unwrap() {
///     match event {
///         Event::Text(t) => println!("got {t}"),
///         Event::Stopped { .. } => break,
///         _ => {}
///     }
/// }
/// # Ok::<(), wsbeat::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .finish()
    }
}

impl std::ops::Deref for Client {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.owner.handle
    }
}

impl Client {
    /// Start configuring a client for `url` (`ws://` or `wss://`). The URL is checked by
    /// [`ClientBuilder::connect`].
    pub fn builder(url: impl AsRef<str>) -> ClientBuilder {
        ClientBuilder::new(url.as_ref())
    }

    /// The event receiver (channel mode, the default); `None` when an event callback was set.
    /// Every clone of the receiver takes events from the same queue.
    pub fn events(&self) -> Option<Events> {
        self.owner.events.clone()
    }

    /// A handle that does not keep the connection open (for callbacks and other owners).
    pub fn handle(&self) -> Handle {
        self.owner.handle.clone()
    }
}

/// The type of the event callback: runs on the I/O thread, in event order.
pub type EventCallback = Box<dyn FnMut(&Handle, Event) + Send + 'static>;

/// Configures and starts a [`Client`]. Every setter's doc gives its default.
///
/// [`connect`](ClientBuilder::connect) checks the whole configuration, then returns at once;
/// the I/O thread connects (and reconnects) in the background.
///
/// ```
/// use std::time::Duration;
/// use wsbeat::{Client, Event, Heartbeat, Reconnect};
///
/// # let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
/// # let url = server.url();
/// let client = Client::builder(&url) // e.g. "wss://example.com/socket"
///     .heartbeat(Heartbeat::ping(Duration::from_secs(15), Duration::from_secs(5)))
///     .reconnect(Reconnect::exponential().max(Duration::from_secs(10)))
///     .header("Authorization", "Bearer initial-token") // never logged
///     .before_connect(|request| {
///         // On the I/O thread before every attempt: a fresh token for each reconnect.
///         if request.attempt > 0 {
///             request.headers.retain(|(name, _)| name != "Authorization");
///             request.headers.push(("Authorization".into(), "Bearer refreshed".into()));
///         }
///     })
///     .outbox_limit(1000, 8 << 20) // 1000 messages or 8 MiB waiting at most
///     .connect_timeout(Duration::from_secs(5))
///     .connect()?;
/// let events = client.events().unwrap();
/// client.send_text("hello")?;
/// let echo = events
///     .iter()
///     .take(10) // Connecting, Opened, the echo
///     .find(|event| matches!(event, Event::Text(_)))
///     .unwrap();
/// assert_eq!(echo, Event::Text("hello".into()));
/// # Ok::<(), wsbeat::Error>(())
/// ```
pub struct ClientBuilder {
    url: Result<url::Url, Error>,
    /// Further endpoints (`endpoint`), checked by `connect`.
    endpoints: Vec<Result<url::Url, Error>>,
    heartbeat: Heartbeat,
    reconnect: Reconnect,
    limits: Limits,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    tls: TlsOptions,
    proxy: crate::Proxy,
    resolver: crate::resolve::Resolver,
    before_connect: Option<crate::config::BeforeConnectFn>,
    callback: Option<EventCallback>,
    pong_events: bool,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder").finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn new(url: &str) -> Self {
        ClientBuilder {
            url: parse_url(url),
            endpoints: Vec::new(),
            heartbeat: Heartbeat::default(),
            reconnect: Reconnect::default(),
            limits: Limits::default(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            tls: TlsOptions::default(),
            proxy: crate::Proxy::default(),
            resolver: crate::resolve::Resolver::default(),
            before_connect: None,
            callback: None,
            pong_events: true,
        }
    }

    /// Add a further endpoint (`ws://` or `wss://`, checked by [`connect`](Self::connect)
    /// like the main URL); call once per endpoint. Defaults to none: only the URL given to
    /// [`Client::builder`] is used.
    ///
    /// The endpoints form a ring: endpoint 0 is the builder's URL, then each `endpoint` in the
    /// order added. The first attempt goes to endpoint 0; every attempt after it (a failed
    /// connect, a lost or closed connection, [`Handle::reconnect_now`]) goes to the next one,
    /// wrapping round. The reconnect schedule is the client's, not the endpoint's: one failure,
    /// one decision, one delay, growing across endpoints and reset only by a connection that
    /// stayed up for `min_uptime` ([`Reconnect`]). [`Event::Opened`]'s `endpoint` says which
    /// one opened, and [`ConnectRequest::endpoint`] which one an attempt is for
    /// ([`before_connect`](Self::before_connect) may still change its URL).
    ///
    /// The README's "Several endpoints" section has an example; `tests/endpoints.rs` the cases.
    pub fn endpoint(mut self, url: impl AsRef<str>) -> Self {
        self.endpoints.push(parse_url(url.as_ref()));
        self
    }

    /// Heartbeat mode, interval and timeout. Defaults to ping every 20 s, timeout 10 s.
    pub fn heartbeat(mut self, hb: Heartbeat) -> Self {
        self.heartbeat = hb;
        self
    }

    /// Reconnect policy. Defaults to [`Reconnect::exponential`].
    pub fn reconnect(mut self, r: Reconnect) -> Self {
        self.reconnect = r;
        self
    }

    /// Add a request header (sent on every connect). Values never appear in logs.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offer a subprotocol (`Sec-WebSocket-Protocol`). Defaults to none.
    pub fn subprotocol(mut self, p: impl Into<String>) -> Self {
        self.subprotocols.push(p.into());
        self
    }

    /// TLS options for `wss://`. Defaults to verified TLS with the bundled Mozilla roots.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// The proxy to connect through ([`crate::Proxy`]). Defaults to [`crate::Proxy::from_env`]
    /// (the proxy environment variables, read at each attempt; none set: direct).
    pub fn proxy(mut self, proxy: crate::Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// Tests only: resolve host names with `f` instead of the system resolver (a resolver
    /// that never answers, a name with several addresses). Not part of the API.
    #[doc(hidden)]
    pub fn resolver(
        mut self,
        f: impl Fn(&str, u16) -> std::io::Result<Vec<std::net::SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.resolver = crate::resolve::Resolver(std::sync::Arc::new(f));
        self
    }

    /// Largest message accepted in either direction, in bytes: 1..=[`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE)
    /// (checked by [`connect`](Self::connect)). Defaults to 16 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits.max_message_size = bytes;
        self
    }

    /// Outbox bound: messages and bytes queued but not yet written:
    /// 1..=[`MAX_OUTBOX_MESSAGES`](crate::MAX_OUTBOX_MESSAGES) and 1..=[`MAX_OUTBOX_BYTES`](crate::MAX_OUTBOX_BYTES).
    /// Defaults to 4096 and 64 MiB.
    pub fn outbox_limit(mut self, messages: usize, bytes: usize) -> Self {
        self.limits.outbox_max_messages = messages;
        self.limits.outbox_max_bytes = bytes;
        self
    }

    /// Bound on DNS + TCP + TLS + WebSocket handshake of one attempt: 1 ms..=[`MAX_DURATION`](crate::MAX_DURATION).
    /// Defaults to 10 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.limits.connect_timeout = d;
        self
    }

    /// Bound on the close handshake: 1 ms..=[`MAX_DURATION`](crate::MAX_DURATION). Defaults to 2 s.
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.limits.close_timeout = d;
        self
    }

    /// Capacity of the event channel (channel mode). When it is full the I/O thread stops
    /// reading from the socket until the consumer catches up (TCP flow control pushes back on
    /// the server): memory stays bounded, nothing is dropped. 1..=[`MAX_EVENT_CAPACITY`](crate::MAX_EVENT_CAPACITY);
    /// defaults to 256 (the slots are allocated up front, after the range is checked).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.limits.event_capacity = n;
        self
    }

    /// Whether heartbeat answers are reported as [`Event::Pong`] in channel mode. Defaults to
    /// true. With `false` an answered heartbeat does not wake the thread blocked in
    /// [`Events::recv`](crate::Events::recv): an idle connection then costs 2 wake-ups per
    /// heartbeat interval in all (the I/O thread's: send the ping, read the answer) instead of
    /// 3, and [`Stats::last_rtt`](crate::Stats::last_rtt) still carries the round-trip time.
    /// Dead-peer detection, confirmations and every other event are unchanged. Callback mode
    /// always gets `Pong` (no thread is woken for it).
    pub fn pong_events(mut self, on: bool) -> Self {
        self.pong_events = on;
        self
    }

    /// Called on the I/O thread before every connection attempt; it may change the URL and
    /// headers (e.g. refresh a token). The request's URL is the chosen endpoint's
    /// ([`ConnectRequest::endpoint`], see [`endpoint`](Self::endpoint)).
    pub fn before_connect(
        mut self,
        f: impl Fn(&mut ConnectRequest) + Send + Sync + 'static,
    ) -> Self {
        self.before_connect = Some(Arc::new(f));
        self
    }

    /// Deliver events to `f` on the I/O thread instead of the channel. `f` must not block for
    /// long: while it runs, the connection is not serviced. It may call any [`Handle`] method;
    /// messages it sends from the `Opened` event go out before the queued outbox.
    pub fn on_event(mut self, f: impl FnMut(&Handle, Event) + Send + 'static) -> Self {
        self.callback = Some(Box::new(f));
        self
    }

    /// Validate the whole configuration and start the I/O thread. Returns at once; connecting
    /// happens on the I/O thread and is reported by events.
    pub fn connect(self) -> Result<Client, Error> {
        let mut endpoints = vec![self.url?];
        for (i, url) in self.endpoints.into_iter().enumerate() {
            endpoints.push(url.map_err(|e| match e {
                Error::InvalidUrl(why) => Error::InvalidUrl(format!("endpoint {}: {why}", i + 1)),
                other => other,
            })?);
        }
        let config = Config {
            endpoints,
            heartbeat: self.heartbeat,
            reconnect: self.reconnect,
            limits: self.limits,
            headers: self.headers,
            subprotocols: self.subprotocols,
            tls: self.tls,
            proxy: self.proxy,
            resolver: self.resolver,
            before_connect: self.before_connect,
            pong_events: self.pong_events,
        };
        config.validate()?;
        let poll = mio::Poll::new().map_err(|e| Error::Spawn(e.to_string()))?;
        let waker =
            mio::Waker::new(poll.registry(), WAKE).map_err(|e| Error::Spawn(e.to_string()))?;
        let shared = Arc::new(Shared::new(&config.limits, waker));
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = Handle {
            tx: tx.clone(),
            shared: shared.clone(),
        };
        let (sink, events) = match self.callback {
            Some(mut cb) => {
                let h = handle.clone();
                (Sink::Callback(Box::new(move |ev| cb(&h, ev))), None)
            }
            None => {
                let (etx, erx) = crossbeam_channel::bounded(config.limits.event_capacity);
                let overflow = Arc::new(Overflow::default());
                (
                    Sink::Channel(etx, overflow.clone()),
                    Some(Events::new(erx, overflow)),
                )
            }
        };
        let io = IoLoop::new(config, shared, (tx, rx), sink, poll)?;
        let thread = thread::Builder::new()
            .name("wsbeat-io".into())
            .stack_size(256 * 1024)
            .spawn(move || io.run())
            .map_err(|e| Error::Spawn(e.to_string()))?;
        Ok(Client {
            owner: Arc::new(Owner {
                handle,
                thread: Mutex::new(Some(thread)),
                events,
            }),
        })
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

#[cfg(test)]
mod tests;
