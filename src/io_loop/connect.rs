//! One connection attempt: the `before_connect` hook, DNS, a non-blocking TCP connect, TLS
//! and the WebSocket handshake, all within the connect timeout and interruptible by
//! `close()` (every wait sleeps in the poller, which a command wakes).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Token};
use tungstenite::handshake::HandshakeError;
use tungstenite::{ClientHandshake, WebSocket};

use super::IoLoop;
use super::commands::{Outcome, Phase};
use super::decide::{Abort, Failure};
use super::request::build_request;
use crate::backoff::Hint;
use crate::config::{ConnectRequest, check_header, check_parsed_url};
use crate::error::ErrorKind;
use crate::event::Event;
use crate::redact::redact_parsed;
use crate::tcp::Tcp;
use crate::tls::{Stream, classify_io};

/// The poller token of the connection's socket.
pub(super) const CONN: Token = Token(1);

/// A connection that completed its handshake, and the subprotocol the server chose.
pub(super) type Connected = (WebSocket<Stream>, Option<String>);

impl IoLoop {
    /// Report a failed attempt (an `Error` event) and build its failure.
    fn fail_attempt(&mut self, kind: ErrorKind, message: String, retry: bool, hint: Hint) -> Abort {
        log::warn!("connect failed: {message}");
        self.emit(Event::Error { kind, message });
        Abort::Failed(Failure::attempt(retry, hint))
    }

    /// Make one connection attempt, up to an open WebSocket.
    pub(super) fn connect(&mut self, attempt: u32) -> Result<Connected, Abort> {
        let deadline = Instant::now() + self.cfg.limits.connect_timeout;
        let req = self.connect_request(attempt)?;
        log::info!(
            "connecting to {} (attempt {attempt})",
            redact_parsed(&req.url)
        );
        let port = req.url.port_or_known_default().unwrap_or(80);
        let addrs = self.resolve(&req, port)?;
        let tcp = self.open_tcp(addrs, deadline)?;
        let tcp = Tcp::new(tcp);
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
        self.handshake(stream, &req, deadline)
    }

    /// This attempt's URL and headers, after the `before_connect` hook, checked.
    fn connect_request(&mut self, attempt: u32) -> Result<ConnectRequest, Abort> {
        let mut req = ConnectRequest {
            url: self.cfg.url.clone(),
            headers: self.cfg.headers.clone(),
            attempt,
        };
        if let Some(hook) = self.cfg.before_connect.clone()
            && let Err(payload) = catch_unwind(AssertUnwindSafe(|| hook(&mut req)))
        {
            // The payload says why (a Rust panic message, or the C/Python layer's report of
            // a hook that returned an error or raised).
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            let msg = match why {
                Some(why) => format!("before_connect hook failed: {why}"),
                None => "before_connect hook panicked".into(),
            };
            return Err(self.fail_attempt(ErrorKind::Callback, msg, true, Hint::None));
        }
        let checked = check_parsed_url(&req.url)
            .and_then(|_| req.headers.iter().try_for_each(|(k, v)| check_header(k, v)));
        if let Err(e) = checked {
            return Err(self.fail_attempt(ErrorKind::Handshake, e.to_string(), false, Hint::None));
        }
        Ok(req)
    }

    /// The addresses of the request's host (a literal IP needs no DNS).
    fn resolve(&mut self, req: &ConnectRequest, port: u16) -> Result<Vec<SocketAddr>, Abort> {
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
            None => unreachable!("check_parsed_url ensures a host"),
        };
        if addrs.is_empty() {
            let msg = "host resolved to no address".to_string();
            return Err(self.fail_attempt(ErrorKind::Dns, msg, true, Hint::None));
        }
        Ok(addrs)
    }

    /// Connect to the first address that accepts, in order.
    fn open_tcp(&mut self, addrs: Vec<SocketAddr>, deadline: Instant) -> Result<TcpStream, Abort> {
        let mut last_err = None;
        for addr in addrs {
            match self.tcp_connect(addr, deadline)? {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        let (kind, msg) = last_err.unwrap_or((ErrorKind::Connect, "no address".into()));
        Err(self.fail_attempt(kind, msg, true, Hint::None))
    }

    /// The TLS (inside `stream`) and WebSocket handshakes, resumed whenever the socket is ready.
    fn handshake(
        &mut self,
        stream: Stream,
        req: &ConnectRequest,
        deadline: Instant,
    ) -> Result<Connected, Abort> {
        let request = match build_request(req, &self.cfg.subprotocols) {
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
        match self.take_commands(Phase::Connecting) {
            Outcome::Closed => Err(Abort::Close),
            _ => Ok(()),
        }
    }

    fn handshake_error(&mut self, e: tungstenite::Error) -> Abort {
        let (kind, msg, retry, hint) = match e {
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
                (ErrorKind::HttpStatus, msg, true, hint)
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
                (kind, format!("handshake: {msg}"), retry, Hint::None)
            }
            tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::HandshakeIncomplete,
            ) => (
                ErrorKind::Handshake,
                "the server closed the connection during the handshake".into(),
                true,
                Hint::None,
            ),
            other => (
                ErrorKind::Handshake,
                format!("handshake: {other}"),
                true,
                Hint::None,
            ),
        };
        self.fail_attempt(kind, msg, retry, hint)
    }
}
