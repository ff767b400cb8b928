//! The I/O thread: connect, run the open connection, back off, repeat; one place decides what
//! follows a failure and one place changes state. See ARCHITECTURE.md for the picture.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender, TrySendError};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::client::Request;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{WebSocketConfig, frame::coding::CloseCode};
use tungstenite::{ClientHandshake, Message as WsMessage, WebSocket};

use crate::backoff::{Backoff, Hint};
use crate::client::{EventCallback, Handle, Shared, State};
use crate::config::{Config, ConnectRequest, check_header, check_url};
use crate::error::{Error, ErrorKind};
use crate::event::{CloseInitiator, Event, Message, StopReason};
use crate::heartbeat::{Answer, Due, HeartbeatState, Outgoing, Reply};
use crate::log_util::redact_parsed;
use crate::outbox::{Outbox, Unconfirmed, to_public};
use crate::tls::{Stream, TlsConnector, classify_io};

/// The poller token of the cross-thread waker.
pub(crate) const WAKE: Token = Token(0);
const CONN: Token = Token(1);
/// Messages read per wake-up before commands and timers get a turn.
const READ_BATCH: usize = 256;
/// Direct writes by senders between two turns of the I/O loop. Each costs the sender a
/// `write` syscall; past this many the sender queues and wakes the I/O thread, which writes
/// the rest of a flood in batches (one syscall for many messages).
const DIRECT_STREAK: u32 = 16;
/// The unconfirmed window holds this many times the outbox's message bound (and its byte
/// bound). A flood of small messages fills a window of the outbox's size before a heartbeat
/// answer can come back and then stalls on every answer (pinned 64 B flood: 1.4-1.8 M/s); at
/// 4x it runs at the rate it has without tracking (2.1 M/s). The bytes bound what is held.
const WINDOW_MESSAGES_PER_OUTBOX: usize = 4;

/// What other threads ask of the I/O thread.
pub(crate) enum Command {
    /// A message; `true` when sent from the I/O thread itself (a callback): it goes ahead of
    /// the backlog.
    Send(WsMessage, bool),
    Close(u16, String),
    ReconnectNow,
}

/// Where events go.
pub(crate) enum Sink {
    Callback(EventCallback),
    Channel(Sender<Event>),
}

/// How a connection (or an attempt) ended, and what the policy needs to know about it.
struct Failure {
    /// Whether a connection had opened (then a `Closed` event is due).
    opened: bool,
    code: u16,
    reason: String,
    initiator: CloseInitiator,
    retry: bool,
    hint: Hint,
    immediate: bool,
    unconfirmed: Vec<WsMessage>,
}

impl Failure {
    fn attempt(retry: bool, hint: Hint) -> Self {
        Failure {
            opened: false,
            code: 1006,
            reason: String::new(),
            initiator: CloseInitiator::Abnormal,
            retry,
            hint,
            immediate: false,
            unconfirmed: Vec::new(),
        }
    }
}

enum Abort {
    Close,
    Failed(Failure),
}

enum End {
    UserClosed,
    Lost(Failure),
}

/// What the open loop does after a turn.
enum Next {
    /// Read on: frames are still buffered.
    Again,
    /// Sleep until I/O, a wake-up, or this deadline.
    Sleep(Option<Instant>),
}

/// An open connection. It lives in `Shared::conn` so that a sender can write to it directly
/// (see [`send_direct`]); the I/O thread holds that lock for each turn of its loop and
/// releases it only to sleep.
pub(crate) struct Conn {
    ws: WebSocket<Stream>,
    hb: HeartbeatState,
    /// Data messages written whose receipt the peer has not confirmed.
    inflight: Unconfirmed,
    /// Set once our close frame is queued: when to give up waiting for the server's.
    closing: Option<Instant>,
    /// Direct writes since the I/O loop's last turn (see [`DIRECT_STREAK`]).
    direct_streak: u32,
}

/// What became of one message handed to the WebSocket.
enum Wrote {
    /// Written (or buffered by tungstenite): now tracked as unconfirmed.
    Yes,
    /// tungstenite's write buffer or the unconfirmed window is full: not written.
    Full(WsMessage),
    /// The connection failed: not written.
    Failed(WsMessage, tungstenite::Error),
}

impl Conn {
    /// Hand `m` to the WebSocket, count it and track it until a heartbeat confirms it. A full
    /// unconfirmed window refuses it: past it, a write into a dead connection could not be
    /// handed back (writing resumes once a heartbeat answer confirms some of the window).
    fn write_message(&mut self, shared: &Shared, m: WsMessage, now: Instant) -> Wrote {
        if self.inflight.is_full() {
            return Wrote::Full(m);
        }
        let len = m.len();
        match self.ws.write(m.clone()) {
            Ok(()) => {}
            Err(e) if would_block(&e) => {} // buffered: never resend
            Err(tungstenite::Error::WriteBufferFull(_)) => return Wrote::Full(m),
            Err(e) => return Wrote::Failed(m, e),
        }
        let k = &shared.counters;
        k.messages_out.fetch_add(1, Ordering::Relaxed);
        k.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
        log::trace!("sent {len} bytes");
        // With a heartbeat the window keeps a copy and the sender's buffer is freed here
        // (see `Unconfirmed`).
        self.inflight.written(self.hb.seq(), now, m);
        Wrote::Yes
    }
}

/// The sender's fast path: write `m` to the socket from the calling thread, when the I/O
/// thread is not using the connection (it sleeps, or sits between turns), nothing is queued
/// ahead of `m`, no close or reconnect request is pending, and fewer than [`DIRECT_STREAK`]
/// messages were written directly since the I/O loop's last turn. Saves the hand-off to the
/// I/O thread (a wake-up and a context switch) for a message sent to an idle connection.
/// `Err(m)` gives the message back for the queue.
pub(crate) fn send_direct(shared: &Shared, m: WsMessage) -> Result<(), WsMessage> {
    // Cheap looks first: in a flood something is queued, and the lock is not even tried.
    if shared.gauge.messages() != 0 || shared.control_pending.load(Ordering::SeqCst) != 0 {
        return Err(m);
    }
    // Never wait for the lock: its holder may be blocked handing an event to this thread.
    let Ok(mut slot) = shared.conn.try_lock() else {
        return Err(m);
    };
    let Some(c) = slot.as_mut() else {
        return Err(m);
    };
    // The gauge counts every message queued and not yet written (channel, pending, outbox);
    // the I/O thread writes them with this lock held, so 0 here means nothing is ahead of `m`.
    if c.direct_streak >= DIRECT_STREAK || c.closing.is_some() || shared.gauge.messages() != 0 {
        return Err(m);
    }
    c.direct_streak += 1;
    match c.write_message(shared, m, Instant::now()) {
        Wrote::Yes => {}
        // The I/O thread meets the error on its next write and ends the connection.
        Wrote::Full(m) | Wrote::Failed(m, _) => return Err(m),
    }
    let wake = match c.ws.flush() {
        Ok(()) => {
            c.inflight.flushed();
            // A half-full window wants a heartbeat at once to confirm it.
            c.inflight.half_full()
        }
        // Would block: the I/O thread flushes the rest when the socket is writable. Any other
        // error: it ends the connection (the message is tracked as unconfirmed).
        Err(_) => true,
    };
    drop(slot);
    if wake {
        shared.wake();
    }
    Ok(())
}

pub(crate) struct IoLoop {
    cfg: Config,
    handle: Handle,
    shared: Arc<Shared>,
    rx: Receiver<Command>,
    sink: Sink,
    poll: Poll,
    events: Events,
    outbox: Outbox,
    /// Commands taken off the channel while blocked delivering an event.
    pending: VecDeque<Command>,
    backoff: Backoff,
    tls: Option<TlsConnector>,
    ws_config: WebSocketConfig,
    ever_opened: bool,
    close_req: Option<(u16, String)>,
    /// An event went into the channel since the I/O thread last slept.
    delivered: bool,
    /// Set once a close arrived while the event channel was full: the latest time to keep
    /// waiting for room.
    events_give_up: Option<Instant>,
}

type Ws = WebSocket<Stream>;

impl IoLoop {
    pub(crate) fn new(
        cfg: Config,
        handle: Handle,
        rx: Receiver<Command>,
        sink: Sink,
        poll: Poll,
    ) -> Result<Self, Error> {
        let tls = if cfg.url.scheme() == "wss" {
            Some(TlsConnector::new(&cfg.tls)?)
        } else {
            None
        };
        let max = cfg.limits.max_message_size;
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(64 * 1024)
            .max_write_buffer_size(64 * 1024 + max + 1024)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        Ok(IoLoop {
            backoff: Backoff::new(cfg.reconnect.clone()),
            shared: handle.shared.clone(),
            cfg,
            handle,
            rx,
            sink,
            poll,
            events: Events::with_capacity(8),
            outbox: Outbox::default(),
            pending: VecDeque::new(),
            tls,
            ws_config,
            ever_opened: false,
            close_req: None,
            delivered: false,
            events_give_up: None,
        })
    }

    /// The thread's body.
    pub(crate) fn run(mut self) {
        self.shared.mark_io_thread();
        let reason = match catch_unwind(AssertUnwindSafe(|| self.lifecycle())) {
            Ok(r) => r,
            Err(p) => {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                log::error!("wsbeat I/O thread panicked: {what}");
                StopReason::Internal(what)
            }
        };
        self.finish(reason);
        let shared = self.shared.clone();
        drop(self); // drops the callback and its captures before anyone is told we are done
        let (lock, cv) = &shared.done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    fn lifecycle(&mut self) -> StopReason {
        let mut attempt = 0;
        loop {
            if self.close_req.is_some() {
                return StopReason::Closed;
            }
            self.shared.set_state(State::Connecting);
            self.emit(Event::Connecting { attempt });
            let failure = match self.connect(attempt) {
                Err(Abort::Close) => return StopReason::Closed,
                Err(Abort::Failed(f)) => f,
                Ok((ws, protocol)) => match self.run_open(ws, attempt, protocol) {
                    End::UserClosed => return StopReason::Closed,
                    End::Lost(f) => f,
                },
            };
            let decision = self.decide(&failure);
            if failure.opened {
                self.emit(Event::Closed {
                    code: failure.code,
                    reason: failure.reason,
                    initiator: failure.initiator,
                    will_reconnect: decision.is_ok(),
                    unconfirmed: failure
                        .unconfirmed
                        .into_iter()
                        .filter_map(to_public)
                        .collect(),
                });
            }
            let (n, delay) = match decision {
                Ok(d) => d,
                Err(reason) => return reason,
            };
            log::info!("reconnecting in {delay:?} (attempt {n})");
            self.shared.set_state(State::Reconnecting);
            self.emit(Event::Reconnecting { attempt: n, delay });
            attempt = n;
            if !self.wait_backoff(delay) {
                return StopReason::Closed;
            }
        }
    }

    /// The one place that decides what follows a failure.
    fn decide(&mut self, f: &Failure) -> Result<(u32, Duration), StopReason> {
        if f.immediate {
            self.backoff.connection_lasted(Duration::MAX);
            let (n, _) = self
                .backoff
                .next_delay(Hint::None)
                .unwrap_or((1, Duration::ZERO));
            return Ok((n, Duration::ZERO));
        }
        if !self.cfg.reconnect.enabled {
            return Err(StopReason::ReconnectDisabled);
        }
        if !f.retry {
            return Err(StopReason::PolicyDeclined);
        }
        let attempts = self.backoff.attempt();
        self.backoff
            .next_delay(f.hint)
            .ok_or(StopReason::MaxAttempts(attempts))
    }

    /// Wait out a backoff delay; false if the user closed meanwhile.
    fn wait_backoff(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            let cmd = match self.pending.pop_front() {
                Some(c) => c,
                None => match self.rx.recv_deadline(deadline) {
                    Ok(c) => c,
                    Err(_) => return true,
                },
            };
            self.taken(&cmd);
            match cmd {
                Command::Send(m, prio) => self.queue(m, prio),
                Command::Close(code, reason) => {
                    self.close_req = Some((code, reason));
                    return false;
                }
                Command::ReconnectNow => return true,
            }
        }
    }

    fn queue(&mut self, m: WsMessage, priority: bool) {
        if priority {
            self.outbox.push_priority(m)
        } else {
            self.outbox.push_back(m)
        }
    }

    // ---- connecting -------------------------------------------------------------------

    fn fail_attempt(&mut self, kind: ErrorKind, message: String, retry: bool, hint: Hint) -> Abort {
        log::warn!("connect failed: {message}");
        self.emit(Event::Error { kind, message });
        Abort::Failed(Failure::attempt(retry, hint))
    }

    fn connect(&mut self, attempt: u32) -> Result<(Ws, Option<String>), Abort> {
        let deadline = Instant::now() + self.cfg.limits.connect_timeout;
        let mut req = ConnectRequest {
            url: self.cfg.url.clone(),
            headers: self.cfg.headers.clone(),
            attempt,
        };
        if let Some(hook) = self.cfg.before_connect.clone()
            && catch_unwind(AssertUnwindSafe(|| hook(&mut req))).is_err()
        {
            return Err(self.fail_attempt(
                ErrorKind::Callback,
                "before_connect hook panicked".into(),
                true,
                Hint::None,
            ));
        }
        let checked = check_url(&req.url)
            .and_then(|_| req.headers.iter().try_for_each(|(k, v)| check_header(k, v)));
        if let Err(e) = checked {
            return Err(self.fail_attempt(ErrorKind::Handshake, e.to_string(), false, Hint::None));
        }
        log::info!(
            "connecting to {} (attempt {attempt})",
            redact_parsed(&req.url)
        );
        let port = req.url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match req.url.host() {
            Some(url::Host::Ipv4(a)) => vec![SocketAddr::new(a.into(), port)],
            Some(url::Host::Ipv6(a)) => vec![SocketAddr::new(a.into(), port)],
            Some(url::Host::Domain(d)) => match (d, port).to_socket_addrs() {
                Ok(a) => a.collect(),
                Err(e) => {
                    let msg = format!("cannot resolve {d}: {e}");
                    return Err(self.fail_attempt(ErrorKind::Dns, msg, true, Hint::None));
                }
            },
            None => unreachable!("check_url ensures a host"),
        };
        if addrs.is_empty() {
            let msg = "host resolved to no address".to_string();
            return Err(self.fail_attempt(ErrorKind::Dns, msg, true, Hint::None));
        }
        let mut last_err = None;
        let mut tcp = None;
        for addr in addrs {
            match self.tcp_connect(addr, deadline)? {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let Some(tcp) = tcp else {
            let (kind, msg) = last_err.unwrap_or((ErrorKind::Connect, "no address".into()));
            return Err(self.fail_attempt(kind, msg, true, Hint::None));
        };
        let _ = tcp.set_nodelay(true);
        let host = req
            .url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let tls = self.tls.as_ref().map(|c| (c, host.as_str()));
        if self.cfg.tls.dangerous_no_verify && tls.is_some() {
            log::warn!(
                "TLS certificate verification is DISABLED (dangerous_disable_verification) \
                 for this connection to {host}:{port}"
            );
        }
        let stream = match Stream::new(tcp, tls) {
            Ok(s) => s,
            Err((kind, msg)) => return Err(self.fail_attempt(kind, msg, false, Hint::None)),
        };
        let request = match self.build_request(&req) {
            Ok(r) => r,
            Err(msg) => {
                return Err(self.fail_attempt(ErrorKind::Handshake, msg, false, Hint::None));
            }
        };
        let mut round = match ClientHandshake::start(stream, request, Some(self.ws_config)) {
            Ok(mid) => mid.handshake(),
            Err(e) => return Err(self.handshake_error(e)),
        };
        loop {
            match round {
                Ok((ws, response)) => {
                    let protocol = response
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    return Ok((ws, protocol));
                }
                Err(HandshakeError::Interrupted(mid)) => {
                    let phase = if mid.get_ref().get_ref().tls_handshaking() {
                        "the TLS handshake"
                    } else {
                        "the WebSocket handshake"
                    };
                    self.wait_connecting(deadline, phase)?;
                    round = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => return Err(self.handshake_error(e)),
            }
        }
    }

    fn build_request(&self, req: &ConnectRequest) -> Result<Request, String> {
        use tungstenite::client::IntoClientRequest;
        use tungstenite::http::{HeaderName, HeaderValue};
        let mut url = req.url.clone();
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let user_pass = format!(
                "{}:{}",
                decode(url.username()),
                decode(url.password().unwrap_or(""))
            );
            let _ = url.set_username("");
            let _ = url.set_password(None);
            format!("Basic {}", crate::log_util::base64(user_pass.as_bytes()))
        });
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        let has_auth = req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if let (Some(basic), false) = (credentials, has_auth) {
            // URL credentials become Basic auth (and never reach the logs).
            let value = HeaderValue::from_str(&basic).map_err(|e| e.to_string())?;
            headers.insert("authorization", value);
        }

        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_str(v).map_err(|e| e.to_string())?;
            headers.append(name, value);
        }
        if !self.cfg.subprotocols.is_empty() {
            let v = HeaderValue::from_str(&self.cfg.subprotocols.join(", "))
                .map_err(|e| e.to_string())?;
            headers.insert("sec-websocket-protocol", v);
        }
        Ok(request)
    }

    /// Non-blocking TCP connect, waiting for writability until `deadline`.
    fn tcp_connect(
        &mut self,
        addr: SocketAddr,
        deadline: Instant,
    ) -> Result<Result<TcpStream, (ErrorKind, String)>, Abort> {
        let mut s = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => return Ok(Err((ErrorKind::Connect, format!("connect to {addr}: {e}")))),
        };
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut s, CONN, Interest::READABLE | Interest::WRITABLE)
        {
            return Ok(Err((ErrorKind::Io, format!("poller: {e}"))));
        }
        loop {
            // Connected once writable with no pending error and a peer address.
            match s.take_error() {
                Ok(Some(e)) | Err(e) => {
                    let _ = self.poll.registry().deregister(&mut s);
                    return Ok(Err((ErrorKind::Connect, format!("connect to {addr}: {e}"))));
                }
                Ok(None) => {}
            }
            match s.peer_addr() {
                Ok(_) => return Ok(Ok(s)),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => {
                    let _ = self.poll.registry().deregister(&mut s);
                    return Ok(Err((ErrorKind::Connect, format!("connect to {addr}: {e}"))));
                }
            }
            if let Err(a) = self.wait_connecting(deadline, "TCP connect") {
                let _ = self.poll.registry().deregister(&mut s);
                return Err(a);
            }
        }
    }

    /// Sleep until the socket is ready, a command arrives, or the connect deadline passes
    /// (`phase` names the step that was waiting, for the timeout message).
    fn wait_connecting(&mut self, deadline: Instant, phase: &str) -> Result<(), Abort> {
        if Instant::now() >= deadline {
            let msg = format!(
                "connect timed out after {:?} (during {phase})",
                self.cfg.limits.connect_timeout
            );
            return Err(self.fail_attempt(ErrorKind::ConnectTimeout, msg, true, Hint::None));
        }
        self.sleep(Some(deadline));
        while let Some(cmd) = self.next_command() {
            match cmd {
                Command::Send(m, prio) => self.queue(m, prio),
                Command::Close(code, reason) => {
                    self.close_req = Some((code, reason));
                    return Err(Abort::Close);
                }
                Command::ReconnectNow => {} // already connecting
            }
        }
        Ok(())
    }

    fn handshake_error(&mut self, e: tungstenite::Error) -> Abort {
        match e {
            tungstenite::Error::Http(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let hint = match (status, retry_after) {
                    (429 | 503, Some(d)) => Hint::RetryAfter(d),
                    _ => Hint::None,
                };
                let msg = format!("server answered the handshake with HTTP {status}");
                self.fail_attempt(ErrorKind::HttpStatus, msg, true, hint)
            }
            tungstenite::Error::Io(e) => {
                let (kind, msg) = classify_io(&e);
                let kind = if kind == ErrorKind::Io || kind == ErrorKind::ConnectionLost {
                    ErrorKind::Handshake
                } else {
                    kind
                };
                let retry =
                    kind != ErrorKind::Certificate || self.cfg.reconnect.retry_certificate_errors;
                self.fail_attempt(kind, format!("handshake: {msg}"), retry, Hint::None)
            }
            tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::HandshakeIncomplete,
            ) => self.fail_attempt(
                ErrorKind::Handshake,
                "the server closed the connection during the handshake".into(),
                true,
                Hint::None,
            ),
            other => self.fail_attempt(
                ErrorKind::Handshake,
                format!("handshake: {other}"),
                true,
                Hint::None,
            ),
        }
    }

    // ---- open ---------------------------------------------------------------------------

    fn run_open(&mut self, ws: Ws, attempt: u32, protocol: Option<String>) -> End {
        let opened_at = Instant::now();
        let reconnect = self.ever_opened;
        self.ever_opened = true;
        let c = &self.shared.counters;
        c.connects.fetch_add(1, Ordering::Relaxed);
        if reconnect {
            c.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.lock_slow().open_since = Some(opened_at);
        self.shared.set_state(State::Open);
        log::info!("open (reconnect: {reconnect}, attempt {attempt})");
        let hb = HeartbeatState::new(self.cfg.heartbeat.clone(), opened_at);
        let limits = &self.cfg.limits;
        let inflight = Unconfirmed::new(
            hb.is_enabled(),
            limits.outbox_max_messages * WINDOW_MESSAGES_PER_OUTBOX,
            limits.outbox_max_bytes,
        );
        *self.shared.lock_conn() = Some(Conn {
            ws,
            hb,
            inflight,
            closing: None,
            direct_streak: 0,
        });
        self.emit(Event::Opened {
            reconnect,
            attempt,
            protocol,
        });
        let (end, mut conn) = self.open_loop();
        conn.ws.get_mut().shutdown(self.poll.registry());
        {
            let mut slow = self.shared.lock_slow();
            slow.open_since = None;
            slow.last_close = match &end {
                End::Lost(f) => Some((f.code, f.reason.clone())),
                End::UserClosed => self.close_req.clone(),
            };
        }
        self.backoff.connection_lasted(opened_at.elapsed());
        if matches!(end, End::UserClosed) {
            let (code, reason) = self.close_req.clone().unwrap_or((1000, String::new()));
            self.emit(Event::Closed {
                code,
                reason,
                initiator: CloseInitiator::Local,
                will_reconnect: false,
                unconfirmed: conn
                    .inflight
                    .take()
                    .into_iter()
                    .filter_map(to_public)
                    .collect(),
            });
        }
        end
    }

    /// Run the open connection until it ends; returns how, and the connection, taken out of
    /// its slot in the same turn (no sender can write into a connection that has ended).
    fn open_loop(&mut self) -> (End, Conn) {
        let shared = Arc::clone(&self.shared);
        loop {
            // Held for the whole turn: senders write directly only while we sleep.
            let mut slot = shared.lock_conn();
            let Some(c) = slot.as_mut() else {
                unreachable!("run_open fills the slot before the loop")
            };
            c.direct_streak = 0;
            match self.turn(c) {
                Ok(Next::Again) => {} // unread frames are buffered: no sleeping
                Ok(Next::Sleep(deadline)) => {
                    drop(slot);
                    self.sleep(deadline);
                }
                Err(end) => return (end, slot.take().expect("checked above")),
            }
        }
    }

    /// One turn: commands, writes, reads, heartbeat.
    fn turn(&mut self, c: &mut Conn) -> Result<Next, End> {
        if let Some(end) = self.take_commands(c) {
            return Err(end);
        }
        self.write_and_flush(c)?;
        let more = self.read_batch(c)?;
        // What the callback sent in answer to what was read goes out in this turn, with the
        // pongs to server pings and our close reply that reads queued.
        if let Some(end) = self.take_commands(c) {
            return Err(end);
        }
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
        if let Some(at) = c.closing {
            if now >= at {
                log::info!("close handshake timed out; dropping the connection");
                return Err(End::UserClosed);
            }
        } else {
            match c.hb.poll(now, ack_at) {
                Due::Nothing => {}
                Due::Send(out) => {
                    c.inflight.trim();
                    let msg = match out {
                        Outgoing::Ping(p) => WsMessage::Ping(p.into()),
                        Outgoing::Message(Message::Text(t)) => WsMessage::Text(t.into()),
                        Outgoing::Message(Message::Binary(b)) => WsMessage::Binary(b.into()),
                    };
                    log::trace!("heartbeat sent");
                    // A full write buffer means the peer is not reading: the heartbeat
                    // timeout, not this write, decides about it.
                    if let Err(e) = c.ws.write(msg).and_then(|_| c.ws.flush())
                        && !would_block(&e)
                        && !matches!(e, tungstenite::Error::WriteBufferFull(_))
                    {
                        return Err(self.lost_by_error(c, e));
                    }
                }
                Due::TimedOut(silent_for) => {
                    self.shared
                        .counters
                        .missed_heartbeats
                        .fetch_add(1, Ordering::Relaxed);
                    log::warn!("no heartbeat reply: peer silent for {silent_for:?}; dropping");
                    self.emit(Event::HeartbeatTimeout { silent_for });
                    // Abort, do not close: with a plain close the kernel keeps
                    // retransmitting what we wrote into the dead path, and once the path
                    // heals the server gets it late, after what the next connection already
                    // delivered (out of order). SO_LINGER 0 discards it and resets.
                    c.ws.get_ref().reset_on_close();
                    return Err(End::Lost(self.abnormal(c, "heartbeat timeout", true)));
                }
            }
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
        Ok(Next::Sleep(deadline))
    }

    /// A connection that ended without a close handshake.
    fn abnormal(&self, c: &mut Conn, reason: &str, retry: bool) -> Failure {
        Failure {
            opened: true,
            code: 1006,
            reason: reason.into(),
            initiator: CloseInitiator::Abnormal,
            retry,
            hint: Hint::None,
            immediate: false,
            unconfirmed: c.inflight.take(),
        }
    }

    fn take_commands(&mut self, c: &mut Conn) -> Option<End> {
        while let Some(cmd) = self.next_command() {
            match cmd {
                Command::Send(m, prio) => self.queue(m, prio),
                Command::Close(code, reason) => {
                    if c.closing.is_none() {
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
                        // One budget for the whole close, started when the request was
                        // taken (`taken`), or earlier if it waited behind a full event channel.
                        c.closing = Some(
                            self.events_give_up
                                .unwrap_or_else(|| Instant::now() + self.cfg.limits.close_timeout),
                        );
                        self.close_req = Some((code, reason));
                    }
                }
                Command::ReconnectNow => {
                    if c.closing.is_none() {
                        let _ = c.ws.close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "reconnecting".into(),
                        }));
                        let _ = c.ws.flush();
                        let mut f = self.abnormal(c, "reconnect requested", true);
                        f.code = 1000;
                        f.initiator = CloseInitiator::Local;
                        f.immediate = true;
                        return Some(End::Lost(f));
                    }
                }
            }
        }
        None
    }

    /// Write queued messages and flush. `Ok(true)`: at least one message was written (a full
    /// socket or unconfirmed window may leave the rest queued). Err ends the connection.
    fn write_and_flush(&mut self, c: &mut Conn) -> Result<bool, End> {
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
            while let Some(m) = self.outbox.pop_front() {
                let len = m.len();
                match c.write_message(&self.shared, m, now) {
                    Wrote::Yes => {}
                    Wrote::Full(m) => {
                        self.outbox.push_front(m);
                        break;
                    }
                    Wrote::Failed(m, e) => {
                        self.outbox.push_front(m);
                        return Err(self.lost_by_error(c, e));
                    }
                }
                wrote = true;
                self.shared.gauge.release(len);
            }
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

    /// Read up to a batch of frames. Ok(true): more may be buffered.
    fn read_batch(&mut self, c: &mut Conn) -> Result<bool, End> {
        for _ in 0..READ_BATCH {
            let msg = match c.ws.read() {
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
                    return Err(End::Lost(self.abnormal(c, "connection lost", true)));
                }
                Err(e) => return Err(self.lost_by_error(c, e)),
            };
            let now = Instant::now();
            c.hb.heard(now);
            match msg {
                WsMessage::Text(t) => {
                    let text = Message::Text(t.as_str().to_owned());
                    self.on_data(c, text, now);
                }
                WsMessage::Binary(b) => self.on_data(c, Message::Binary(Vec::from(b)), now),
                WsMessage::Ping(_) => log::trace!("ping received"),
                WsMessage::Pong(p) => {
                    if let Some(answer) = c.hb.on_pong(&p, now) {
                        self.on_answer(c, answer);
                    }
                }
                WsMessage::Close(frame) => {
                    if c.closing.is_some() {
                        // The server answered our close: it read everything before it.
                        c.inflight.clear();
                        return Err(End::UserClosed);
                    }
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                        .unwrap_or((1005, String::new()));
                    log::info!("server closed with code {code}");
                    let _ = c.ws.flush(); // our close reply
                    let hint = match code {
                        1012 => Hint::Restart,
                        1013 => Hint::TryLater,
                        _ => Hint::None,
                    };
                    return Err(End::Lost(Failure {
                        opened: true,
                        code,
                        reason,
                        initiator: CloseInitiator::Remote,
                        retry: self.cfg.reconnect.retries_close_code(code),
                        hint,
                        immediate: false,
                        unconfirmed: c.inflight.take(),
                    }));
                }
                WsMessage::Frame(_) => {}
            }
        }
        Ok(true)
    }

    fn on_data(&mut self, c: &mut Conn, msg: Message, now: Instant) {
        match c.hb.on_message(&msg, now) {
            Reply::Reply(answer) => {
                if let Some(answer) = answer {
                    self.on_answer(c, answer);
                }
            }
            Reply::NotReply => {
                let k = &self.shared.counters;
                k.messages_in.fetch_add(1, Ordering::Relaxed);
                k.bytes_in.fetch_add(msg.len() as u64, Ordering::Relaxed);
                log::trace!("received {} bytes", msg.len());
                self.emit(match msg {
                    Message::Text(t) => Event::Text(t),
                    Message::Binary(b) => Event::Binary(b),
                });
            }
        }
    }

    /// A heartbeat was answered: what was written before it has arrived.
    fn on_answer(&mut self, c: &mut Conn, answer: Answer) {
        c.inflight.confirmed(answer.seq);
        self.on_rtt(answer.rtt);
    }

    fn on_rtt(&mut self, rtt: Duration) {
        {
            let mut slow = self.shared.lock_slow();
            slow.last_rtt = Some(rtt);
            slow.smoothed_rtt = Some(match slow.smoothed_rtt {
                None => rtt,
                Some(s) => (s * 7 + rtt) / 8,
            });
        }
        log::debug!("heartbeat answered in {rtt:?}");
        self.emit(Event::Pong { rtt });
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
        if code != 1006 {
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
        let mut f = self.abnormal(c, &message, true);
        f.code = code;
        End::Lost(f)
    }

    // ---- waiting and commands ---------------------------------------------------------

    fn next_command(&mut self) -> Option<Command> {
        let cmd = self.pending.pop_front().or_else(|| self.rx.try_recv().ok());
        if let Some(c) = &cmd {
            self.taken(c);
        }
        cmd
    }

    /// A command is about to be carried out: a close or reconnect request no longer holds
    /// senders off the direct path (the request itself now does). From a close request on,
    /// every event waits for channel room at most until the close budget runs out, wherever
    /// the request was taken: the user is closing and may not be draining the channel.
    fn taken(&mut self, cmd: &Command) {
        if !matches!(cmd, Command::Send(..)) {
            self.shared.control_pending.fetch_sub(1, Ordering::SeqCst);
        }
        if matches!(cmd, Command::Close(..)) && self.events_give_up.is_none() {
            self.events_give_up = Some(Instant::now() + self.cfg.limits.close_timeout);
        }
    }

    /// Block in the poller until I/O, a sender's wake-up, or `deadline`.
    fn sleep(&mut self, deadline: Option<Instant>) {
        if std::mem::take(&mut self.delivered) && self.pending.is_empty() && self.rx.is_empty() {
            // The consumer was just handed events and often answers at once. Where it shares
            // this CPU, let it run first: its send then finds the connection free and writes
            // it directly (or finds us awake: no waker syscall). Elsewhere this returns at once.
            thread::yield_now();
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.shared.sleeping.store(true, Ordering::SeqCst);
        // A sender that pushed before seeing the flag did not wake us: look before sleeping.
        if self.pending.is_empty()
            && self.rx.is_empty()
            && let Err(e) = self.poll.poll(&mut self.events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            log::error!("poller failed: {e}");
            thread::sleep(Duration::from_millis(10));
        }
        self.shared.sleeping.store(false, Ordering::SeqCst);
    }

    /// Deliver an event. A slow channel consumer blocks the I/O thread (bounded memory);
    /// commands are still taken meanwhile so `close()` is noticed.
    fn emit(&mut self, ev: Event) {
        match &mut self.sink {
            Sink::Callback(cb) => {
                let handle = &self.handle;
                if catch_unwind(AssertUnwindSafe(|| cb(handle, ev))).is_err() {
                    log::error!("the event callback panicked; the client continues");
                }
            }
            Sink::Channel(tx) => match tx.try_send(ev) {
                Ok(()) => self.delivered = true,
                Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(ev)) => {
                    let tx = tx.clone();
                    self.emit_blocking(&tx, ev);
                }
            },
        }
    }

    fn emit_blocking(&mut self, tx: &Sender<Event>, ev: Event) {
        let mut give_up = self.events_give_up;
        loop {
            let mut sel = Select::new();
            let s = sel.send(tx);
            let r = sel.recv(&self.rx);
            let op = match give_up {
                Some(at) => match sel.select_deadline(at) {
                    Ok(op) => op,
                    Err(_) => {
                        log::warn!(
                            "event channel full after close(): dropping a {} event",
                            ev.name()
                        );
                        return;
                    }
                },
                None => sel.select(),
            };
            if op.index() == s {
                let _ = op.send(tx, ev);
                return;
            }
            debug_assert_eq!(op.index(), r);
            if let Ok(cmd) = op.recv(&self.rx) {
                if matches!(cmd, Command::Close(..)) {
                    let at = Instant::now() + self.cfg.limits.close_timeout;
                    give_up = Some(at);
                    // Later events wait no longer than this one: the user is closing and not
                    // draining the channel.
                    self.events_give_up = Some(at);
                }
                self.pending.push_back(cmd);
            }
        }
    }

    /// The client stops for good: report what was never sent.
    fn finish(&mut self, reason: StopReason) {
        self.shared.set_state(State::Stopped);
        // Normally empty already; after a panic in the open loop the socket closes here.
        drop(self.shared.lock_conn().take());
        // Senders that passed their state check before this point are finishing their push.
        let spin_until = Instant::now() + Duration::from_secs(1);
        while self.shared.in_send.load(Ordering::SeqCst) != 0 && Instant::now() < spin_until {
            thread::yield_now();
        }
        let mut unsent = self.outbox.drain_all();
        while let Some(cmd) = self.next_command() {
            if let Command::Send(m, _) = cmd {
                unsent.push(m);
            }
        }
        for m in &unsent {
            self.shared.gauge.release(m.len());
        }
        let unsent: Vec<Message> = unsent.into_iter().filter_map(to_public).collect();
        if !unsent.is_empty() {
            log::warn!(
                "stopped with {} unsent messages (returned in the Stopped event)",
                unsent.len()
            );
        }
        log::info!("stopped: {}", reason.as_str());
        self.emit(Event::Stopped { reason, unsent });
    }
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

fn closed(e: &tungstenite::Error) -> bool {
    matches!(
        e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed
    )
}
