//! A small WebSocket server speaking the seed article's protocol, for demos, tests and
//! benchmarks (it is what `examples/echo_server.rs` and `wsbeat --serve` run).
//!
//! Every text message that is JSON with `ModeCode` `"message"` or `"heart_beat"` is echoed
//! unchanged; so is any other text (non-JSON does not crash it, unlike the seed's `server.js`)
//! and every binary message. Pings are answered. Switches make it misbehave on purpose:
//! stop answering anything while keeping connections open, delay replies, close every
//! connection with a given code, stop abruptly, restart on the same port. Per-connection
//! schedules ([`EchoServer::set_close_after`], [`EchoServer::set_silent_after`]) make every new
//! connection misbehave a fixed time after its handshake, so a reconnecting client meets the
//! same fault again and again.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// How often a connection with a per-connection schedule wakes from a blocked read to check it.
const TICK: Duration = Duration::from_millis(20);
/// How long a scheduled close waits for the client's close frame before dropping the socket.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Misbehaviour applied to each connection, timed from its handshake.
#[derive(Clone, Default)]
struct Schedule {
    close_after: Option<(Duration, u16, String)>,
    silent_after: Option<Duration>,
}

#[derive(Default)]
struct Control {
    stopping: AtomicBool,
    /// While set, connections stop reading and answering (a half-open peer).
    silent: Mutex<bool>,
    silent_cv: Condvar,
    delay_ms: AtomicU64,
    conns: Mutex<Vec<(u64, TcpStream)>>,
    next_id: AtomicU64,
    accepted: AtomicUsize,
    echoed: AtomicU64,
    /// Copied into each connection when it is accepted.
    schedule: Mutex<Schedule>,
    /// A request header (name, value) a handshake must carry, else it is answered 401.
    required_header: Mutex<Option<(String, String)>>,
    /// Handshakes answered 401 for a missing or wrong required header.
    rejected: AtomicUsize,
}

/// A running seed-protocol echo server. Stops (closing every connection abruptly) on
/// [`EchoServer::stop`] or drop.
pub struct EchoServer {
    addr: SocketAddr,
    control: Arc<Control>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EchoServer {
    /// Listen on `addr` (use port 0 for an ephemeral port, e.g. `"127.0.0.1:0"`).
    pub fn start(addr: &str) -> io::Result<EchoServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Control::default());
        let c = control.clone();
        let acceptor = thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || accept_loop(listener, c))?;
        Ok(EchoServer {
            addr,
            control,
            acceptor: Some(acceptor),
        })
    }

    /// Start again on the same address after [`EchoServer::stop`] (retries briefly while the
    /// port is still held by the old listener). The reply delay and per-connection schedules
    /// carry over.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let mut last = None;
        for _ in 0..50 {
            match EchoServer::start(&self.addr.to_string()) {
                Ok(new) => {
                    // The per-connection schedules survive a restart (they model the server).
                    let schedule = self
                        .control
                        .schedule
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    *new.control
                        .schedule
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = schedule;
                    let delay = self.control.delay_ms.load(Ordering::SeqCst);
                    new.control.delay_ms.store(delay, Ordering::SeqCst);
                    let required = self
                        .control
                        .required_header
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    *new.control
                        .required_header
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = required;
                    let rejected = self.control.rejected.load(Ordering::SeqCst);
                    new.control.rejected.store(rejected, Ordering::SeqCst);
                    *self = new;
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("restart failed")))
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://` URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stop answering: connections stay open but nothing is read or sent (a dead peer
    /// behind a half-open connection). `false` resumes.
    pub fn set_silent(&self, silent: bool) {
        *self
            .control
            .silent
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = silent;
        self.control.silent_cv.notify_all();
    }

    /// Delay every reply by `d`.
    pub fn set_reply_delay(&self, d: Duration) {
        self.control
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Close every connection accepted from now on with a clean close handshake (`code`,
    /// `reason`) `after` its WebSocket handshake; `None` turns this off for new connections
    /// (open ones keep their schedule). `code` should be one a server may send (1000..=1003,
    /// 1007..=1014, 3000..=4999); `reason` is cut to 123 bytes. Kept across
    /// [`EchoServer::restart`]. Defaults to off.
    pub fn set_close_after(&self, after: Option<Duration>, code: u16, reason: &str) {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.control
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .close_after = after.map(|d| (d, code, reason[..end].to_owned()));
    }

    /// Make every connection accepted from now on go half-open `after` its WebSocket
    /// handshake: from then on nothing is answered (no echo, no pong, no close reply) and what
    /// the client sends is read and discarded until it drops the connection. Unlike
    /// [`EchoServer::set_silent`] this does not end; the next connection is served normally
    /// until its own deadline. `None` turns this off for new connections. Kept across
    /// [`EchoServer::restart`]. Defaults to off.
    pub fn set_silent_after(&self, after: Option<Duration>) {
        self.control
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .silent_after = after;
    }

    /// Send a close frame with `code` to every connection and drop them.
    pub fn close_all(&self, code: u16, reason: &str) {
        let conns =
            std::mem::take(&mut *self.control.conns.lock().unwrap_or_else(|p| p.into_inner()));
        let reason = &reason.as_bytes()[..reason.len().min(123)];
        let mut frame = vec![0x88, (2 + reason.len()) as u8];
        frame.extend_from_slice(&code.to_be_bytes());
        frame.extend_from_slice(reason);
        for (_, mut s) in conns {
            let _ = s.write_all(&frame);
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Answer `401 Unauthorized` to every handshake from now on whose `name` header is not
    /// exactly `value` (e.g. an expired token); `None` accepts every handshake again. Carries
    /// over a [`EchoServer::restart`] (a server that only accepts the newest token).
    pub fn require_header(&self, required: Option<(&str, &str)>) {
        *self
            .control
            .required_header
            .lock()
            .unwrap_or_else(|p| p.into_inner()) =
            required.map(|(n, v)| (n.to_owned(), v.to_owned()));
    }

    /// Handshakes answered 401 by [`EchoServer::require_header`] so far (across restarts).
    pub fn rejected(&self) -> usize {
        self.control.rejected.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.control.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.control
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Messages echoed so far (heartbeats included).
    pub fn echoed(&self) -> u64 {
        self.control.echoed.load(Ordering::SeqCst)
    }

    /// Stop listening and cut every connection abruptly (no close frame), like a crash.
    pub fn stop(&mut self) {
        self.control.stopping.store(true, Ordering::SeqCst);
        self.set_silent(false);
        // Unblock accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let conns =
            std::mem::take(&mut *self.control.conns.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, s) in conns {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

// The handshake callback's type is tungstenite's (its Err is a whole HTTP response).
#[allow(clippy::result_large_err)]
fn accept_loop(listener: TcpListener, c: Arc<Control>) {
    for stream in listener.incoming() {
        if c.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let id = c.next_id.fetch_add(1, Ordering::SeqCst);
        c.accepted.fetch_add(1, Ordering::SeqCst);
        c.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, clone));
        let c2 = c.clone();
        let schedule = c.schedule.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let spawned = thread::Builder::new()
            .name("echo-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let _ = stream.set_nodelay(true);
                let required = c2
                    .required_header
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let check =
                    |req: &tungstenite::handshake::server::Request,
                     resp: tungstenite::handshake::server::Response| {
                        let Some((name, value)) = &required else {
                            return Ok(resp);
                        };
                        let got = req.headers().get(name.as_str()).map(|v| v.as_bytes());
                        if got == Some(value.as_bytes()) {
                            return Ok(resp);
                        }
                        c2.rejected.fetch_add(1, Ordering::SeqCst);
                        let mut refused = tungstenite::handshake::server::ErrorResponse::new(Some(
                            format!("missing or stale {name}"),
                        ));
                        *refused.status_mut() = tungstenite::http::StatusCode::UNAUTHORIZED;
                        Err(refused)
                    };
                if let Ok(ws) = tungstenite::accept_hdr(stream, check) {
                    serve(ws, &c2, schedule);
                }
                c2.conns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|(i, _)| *i != id);
            });
        if spawned.is_err() {
            log::error!("echo server: cannot spawn a connection thread");
        }
    }
}

/// Park a connection thread while the server is silent (no reading, no answering).
fn wait_while_silent(c: &Control) {
    let mut silent = c.silent.lock().unwrap_or_else(|p| p.into_inner());
    while *silent && !c.stopping.load(Ordering::SeqCst) {
        silent = c.silent_cv.wait(silent).unwrap_or_else(|p| p.into_inner());
    }
}

fn serve(mut ws: WebSocket<TcpStream>, c: &Control, schedule: Schedule) {
    let opened = Instant::now();
    let close_at = schedule
        .close_after
        .map(|(d, code, reason)| (opened + d, code, reason));
    let silent_at = schedule.silent_after.map(|d| opened + d);
    let timed = close_at.is_some() || silent_at.is_some();
    if timed && ws.get_ref().set_read_timeout(Some(TICK)).is_err() {
        return;
    }
    let mut close_sent: Option<Instant> = None;
    loop {
        if timed {
            let now = Instant::now();
            if close_sent.is_none() && silent_at.is_some_and(|at| now >= at) {
                discard_until_dropped(ws.get_mut(), c);
                return;
            }
            if let Some((at, code, reason)) = &close_at
                && close_sent.is_none()
                && now >= *at
            {
                let frame = CloseFrame {
                    code: CloseCode::from(*code),
                    reason: reason.as_str().into(),
                };
                if ws.close(Some(frame)).and_then(|_| ws.flush()).is_err() {
                    return;
                }
                close_sent = Some(now);
            }
            if close_sent.is_some_and(|at| now >= at + CLOSE_WAIT) {
                return;
            }
        }
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if timed
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        if close_sent.is_some() {
            continue; // waiting for the client's close frame: no more echoes
        }
        if *c.silent.lock().unwrap_or_else(|p| p.into_inner()) {
            // Half-open: stop reading and answering until told otherwise.
            wait_while_silent(c);
            continue;
        }
        let delay = c.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            thread::sleep(Duration::from_millis(delay));
        }
        let reply = match msg {
            Message::Text(t) => Some(Message::Text(t)),
            Message::Binary(b) => Some(Message::Binary(b)),
            _ => None, // pings are answered by tungstenite; close is handled by read()
        };
        if let Some(r) = reply {
            c.echoed.fetch_add(1, Ordering::Relaxed);
            if ws.send(r).is_err() {
                return;
            }
        } else if ws.flush().is_err() {
            return;
        }
    }
}

/// A half-open peer: read and drop bytes (so the client's writes never block) without
/// answering anything, until the client drops the connection or the server stops.
fn discard_until_dropped(stream: &mut TcpStream, c: &Control) {
    let mut buf = [0u8; 4096];
    while !c.stopping.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}
