//! One connection attempt: the `before_connect` hook, the proxy choice, DNS (on a resolver
//! thread), a non-blocking TCP connect (Happy Eyeballs over the addresses), the proxy's
//! tunnel handshake, TLS and the WebSocket handshake, all within the connect timeout and
//! interruptible by `close()` (every wait sleeps in the poller, or parks on a runtime, and a
//! command pushed into the inbox wakes it).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use mio::net::TcpStream;
use tungstenite::ClientHandshake;
use tungstenite::handshake::HandshakeError;

use super::IoLoop;
use super::commands::{Outcome, Phase};
use super::decide::{Abort, Failure};
use super::request::build_request;
use crate::backoff::Hint;
use crate::config::{ConnectRequest, check_header, check_parsed_url};
use crate::conn::Ws;
use crate::deflate::negotiate;
use crate::deflate::stream::DeflateStream;
use crate::dial::{STAGGER, race};
use crate::error::ErrorKind;
use crate::event::Event;
use crate::proxy::drive::drive;
use crate::proxy::{ProxyScheme, ProxyUrl, TargetAddr, Tunnel, TunnelError};
use crate::redact::redact_parsed;
use crate::resolve::{Answer, interleave};
use crate::tcp::Tcp;
use crate::tls::{Link, Stream, TlsConnector, classify_io};

/// A connection that completed its handshake, and the subprotocol the server chose.
pub(super) type Connected = (Ws, Option<String>);

impl IoLoop {
    /// Report a failed attempt (an `Error` event) and build its failure.
    pub(super) fn fail_attempt(
        &mut self,
        kind: ErrorKind,
        message: String,
        retry: bool,
        hint: Hint,
    ) -> Abort {
        log::warn!("connect failed: {message}");
        self.emit(Event::Error { kind, message });
        Abort::Failed(Failure::attempt(retry, hint))
    }

    /// Make one connection attempt, up to an open WebSocket.
    pub(super) async fn connect(&mut self, attempt: u32) -> Result<Connected, Abort> {
        let deadline = Instant::now() + self.cfg.limits.connect_timeout;
        let req = self.connect_request(attempt)?;
        let proxy = match self
            .cfg
            .proxy
            .for_target(&req.url, &|k| std::env::var(k).ok())
        {
            Ok(p) => p,
            Err(e) => {
                return Err(self.fail_attempt(ErrorKind::Proxy, e.to_string(), false, Hint::None));
            }
        };
        log::info!(
            "connecting to {} (attempt {attempt}, endpoint {}){}",
            redact_parsed(&req.url),
            req.endpoint,
            proxy
                .as_ref()
                .map(|p| format!(" through the proxy {}", p.redacted()))
                .unwrap_or_default()
        );
        let port = req.url.port_or_known_default().unwrap_or(80);
        let Some(url_host) = req.url.host() else {
            unreachable!("check_parsed_url ensures a host")
        };
        let tcp = match &proxy {
            None => {
                let addrs = self
                    .lookup(&url_host.to_string(), port, deadline, None)
                    .await?;
                Link::Tcp(Tcp::new(self.dial(&addrs, deadline, None).await?))
            }
            Some(p) => {
                let target = match (&url_host, p.scheme) {
                    (url::Host::Ipv4(a), _) => TargetAddr::Ip(SocketAddr::new((*a).into(), port)),
                    (url::Host::Ipv6(a), _) => TargetAddr::Ip(SocketAddr::new((*a).into(), port)),
                    // socks5://: the name is resolved here, the proxy gets an address.
                    (url::Host::Domain(d), ProxyScheme::Socks5) => {
                        TargetAddr::Ip(self.lookup(d, port, deadline, None).await?[0])
                    }
                    (url::Host::Domain(d), _) => TargetAddr::Name((*d).to_owned(), port),
                };
                let addrs = self.lookup(&p.host, p.port, deadline, Some(p)).await?;
                let tcp = self.dial(&addrs, deadline, Some(p)).await?;
                self.tunnel(tcp, p, target, deadline).await?
            }
        };
        let host = req
            .url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        // TLS for wss:// only (endpoints may mix schemes; the hook may change one).
        if req.url.scheme() == "wss" && self.tls.is_none() {
            match TlsConnector::new(&self.cfg.tls) {
                Ok(c) => self.tls = Some(c),
                Err(e) => {
                    let msg = format!("TLS setup: {e}");
                    return Err(self.fail_attempt(ErrorKind::Tls, msg, false, Hint::None));
                }
            }
        }
        let tls = (req.url.scheme() == "wss")
            .then_some(self.tls.as_ref())
            .flatten()
            .map(|c| (c, host.as_str()));
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
        self.handshake(stream, &req, deadline).await
    }

    /// This attempt's URL and headers, after the `before_connect` hook, checked.
    fn connect_request(&mut self, attempt: u32) -> Result<ConnectRequest, Abort> {
        let mut req = ConnectRequest {
            url: self.cfg.endpoints[self.endpoint].clone(),
            headers: self.cfg.headers.clone(),
            attempt,
            endpoint: self.endpoint,
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

    /// The addresses of `host` (an IP address needs no lookup), in Happy Eyeballs order:
    /// looked up on a thread of its own, waited for until `deadline`, interruptible by
    /// `close()`. `proxy`: the host is that proxy's (for the messages).
    async fn lookup(
        &mut self,
        host: &str,
        port: u16,
        deadline: Instant,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Vec<SocketAddr>, Abort> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let what = match proxy {
            Some(p) => format!("the proxy {}", p.redacted()),
            None => host.to_owned(),
        };
        let shared = self.shared.clone();
        let answer = match self
            .cfg
            .resolver
            .spawn(host, port, move || shared.wake_always())
        {
            Ok(rx) => self.wait_lookup(&rx, deadline, &what).await?,
            Err(e) => {
                let msg = format!("cannot start a resolver thread: {e}");
                return Err(self.fail_attempt(ErrorKind::Dns, msg, true, Hint::None));
            }
        };
        match answer {
            Ok(a) if !a.is_empty() => Ok(interleave(a)),
            Ok(_) => {
                let msg = format!("{what} resolved to no address");
                Err(self.fail_attempt(ErrorKind::Dns, msg, true, Hint::None))
            }
            Err(e) => {
                let msg = format!("cannot resolve {what}: {e}");
                Err(self.fail_attempt(ErrorKind::Dns, msg, true, Hint::None))
            }
        }
    }

    /// Wait for a lookup's answer (the resolver thread wakes the loop), taking commands
    /// meanwhile.
    async fn wait_lookup(
        &mut self,
        rx: &Receiver<Answer>,
        deadline: Instant,
        what: &str,
    ) -> Result<Answer, Abort> {
        loop {
            match rx.try_recv() {
                Ok(a) => return Ok(a),
                Err(TryRecvError::Disconnected) => {
                    let e = io::Error::other("the resolver thread ended without an answer");
                    return Ok(Err(e));
                }
                Err(TryRecvError::Empty) => {}
            }
            if Instant::now() >= deadline {
                let msg = format!(
                    "connect timed out after {:?} (during DNS resolution of {what})",
                    self.cfg.limits.connect_timeout
                );
                return Err(self.fail_attempt(ErrorKind::ConnectTimeout, msg, true, Hint::None));
            }
            self.sleep(Some(deadline)).await;
            if let Outcome::Closed = self.take_commands(Phase::Connecting) {
                return Err(Abort::Close);
            }
        }
    }

    /// TCP connect to the first of `addrs` that accepts (Happy Eyeballs: `crate::dial`).
    async fn dial(
        &mut self,
        addrs: &[SocketAddr],
        deadline: Instant,
        proxy: Option<&ProxyUrl>,
    ) -> Result<TcpStream, Abort> {
        let registry = match self.reactor.registry_handle() {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("poller: {e}");
                return Err(self.fail_attempt(ErrorKind::Io, msg, true, Hint::None));
            }
        };
        let phase = if proxy.is_some() {
            "TCP connect to the proxy"
        } else {
            "TCP connect"
        };
        let token = self.reactor.token();
        let raced = race(&registry, token, addrs, STAGGER, async |wake_at| {
            self.wait_connecting_until(deadline, wake_at, phase).await
        })
        .await?;
        match (raced, proxy) {
            (Ok(s), _) => Ok(s),
            (Err((kind, msg)), None) => Err(self.fail_attempt(kind, msg, true, Hint::None)),
            (Err((_, msg)), Some(p)) => {
                let msg = format!("cannot reach the proxy {}: {msg}", p.redacted());
                Err(self.fail_attempt(ErrorKind::Proxy, msg, true, Hint::None))
            }
        }
    }

    /// The proxy's handshake (HTTP CONNECT or SOCKS5) over the connected socket (for an
    /// `https://` proxy, inside TLS to it: `proxy_tls.rs`), under the same deadline and
    /// command handling as the other steps.
    async fn tunnel(
        &mut self,
        tcp: TcpStream,
        proxy: &ProxyUrl,
        target: TargetAddr,
        deadline: Instant,
    ) -> Result<Link, Abort> {
        let mut link = self.proxy_link(tcp, proxy, deadline).await?;
        let shown = proxy.redacted();
        let failed = |e: TunnelError| (e.kind, format!("{} (proxy {shown})", e.message), e.retry);
        let (tunnel, out) = match Tunnel::start(proxy, target) {
            Ok(t) => t,
            Err(e) => {
                let (kind, msg, retry) = failed(e);
                return Err(self.fail_attempt(kind, msg, retry, Hint::None));
            }
        };
        let driven = drive(&mut link, tunnel, out, async || {
            self.wait_connecting(deadline, "the proxy handshake").await
        })
        .await?;
        match driven {
            Ok(()) => Ok(link),
            Err(e) => {
                let (kind, msg, retry) = failed(e);
                Err(self.fail_attempt(kind, msg, retry, Hint::None))
            }
        }
    }

    /// The TLS (inside `stream`) and WebSocket handshakes, resumed whenever the socket is ready.
    async fn handshake(
        &mut self,
        stream: Stream,
        req: &ConnectRequest,
        deadline: Instant,
    ) -> Result<Connected, Abort> {
        let offer = negotiate::offer(&self.cfg.compression);
        let request = match build_request(req, &self.cfg.subprotocols, offer.as_deref()) {
            Ok(r) => r,
            Err(msg) => {
                return Err(self.fail_attempt(ErrorKind::Handshake, msg, false, Hint::None));
            }
        };
        let stream = DeflateStream::new(stream);
        let mut round = match ClientHandshake::start(stream, request, Some(self.ws_config)) {
            Ok(mid) => mid.handshake(),
            Err(e) => return Err(self.handshake_error(e)),
        };
        loop {
            match round {
                Ok((mut ws, response)) => {
                    let answer = response
                        .headers()
                        .get_all("sec-websocket-extensions")
                        .iter()
                        .map(|v| v.to_str().unwrap_or("\u{0}"));
                    let params = match negotiate::accept(&self.cfg.compression, answer) {
                        Ok(p) => p,
                        Err(e) => {
                            // The server's answer, not the network: retrying meets it again,
                            // but a redeployed server may answer better (as for HTTP 4xx).
                            let msg = format!("handshake: {e}");
                            return Err(self.fail_attempt(
                                ErrorKind::Handshake,
                                msg,
                                true,
                                Hint::None,
                            ));
                        }
                    };
                    let limit = self.cfg.limits.max_message_size;
                    ws.get_mut()
                        .start(params.as_ref(), &self.cfg.compression, limit);
                    let protocol = response
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    return Ok((ws, protocol));
                }
                Err(HandshakeError::Interrupted(mid)) => {
                    let phase = if mid.get_ref().get_ref().get_ref().tls_handshaking() {
                        "the TLS handshake"
                    } else {
                        "the WebSocket handshake"
                    };
                    self.wait_connecting(deadline, phase).await?;
                    round = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => return Err(self.handshake_error(e)),
            }
        }
    }

    /// Sleep until the socket is ready, a command arrives, or the connect deadline passes
    /// (`phase` names the step that was waiting, for the timeout message).
    pub(super) async fn wait_connecting(
        &mut self,
        deadline: Instant,
        phase: &str,
    ) -> Result<(), Abort> {
        self.wait_connecting_until(deadline, None, phase).await
    }

    /// [`Self::wait_connecting`], also woken at `wake_at` (the next Happy Eyeballs attempt).
    async fn wait_connecting_until(
        &mut self,
        deadline: Instant,
        wake_at: Option<Instant>,
        phase: &str,
    ) -> Result<(), Abort> {
        if Instant::now() >= deadline {
            let msg = format!(
                "connect timed out after {:?} (during {phase})",
                self.cfg.limits.connect_timeout
            );
            return Err(self.fail_attempt(ErrorKind::ConnectTimeout, msg, true, Hint::None));
        }
        self.sleep(Some(wake_at.map_or(deadline, |w| w.min(deadline))))
            .await;
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
