//! A TLS WebSocket echo server for the tests: a rustls `ServerConnection` with tungstenite's
//! server handshake over it, one thread per connection, on 127.0.0.1.
//!
//! Like `crate::server::EchoServer` it echoes text and binary messages, answers pings, can go
//! silent (a dead peer behind a half-open connection), stop abruptly and restart on the same
//! port. It also records what the TLS layer saw: the SNI of the last handshake and the TLS
//! handshakes that failed (with the server-side error).

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use tungstenite::{Message, WebSocket};

type TlsStream = StreamOwned<ServerConnection, TcpStream>;

/// A rustls server configuration with this certificate chain and key (PEM); with `client_ca`,
/// clients must present a certificate issued by that CA (mutual TLS).
pub fn server_config(chain_pem: &str, key_pem: &str, client_ca: Option<&str>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("server chain PEM");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("server key PEM");
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.expect("client CA PEM")).expect("client CA");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(
        builder
            .with_single_cert(chain, key)
            .expect("server certificate and key"),
    )
}

#[derive(Default)]
struct Control {
    stopping: AtomicBool,
    silent: Mutex<bool>,
    silent_cv: Condvar,
    conns: Mutex<Vec<(u64, TcpStream)>>,
    next_id: AtomicU64,
    accepted: AtomicUsize,
    opened: AtomicUsize,
    echoed: AtomicU64,
    last_sni: Mutex<Option<String>>,
    tls_failures: Mutex<Vec<String>>,
    failed_cv: Condvar,
}

/// A running TLS echo server; stops (cutting every connection abruptly) on `stop` or drop.
pub struct TlsEchoServer {
    addr: SocketAddr,
    config: Arc<ServerConfig>,
    control: Arc<Control>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TlsEchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsEchoServer").finish_non_exhaustive()
    }
}

impl TlsEchoServer {
    /// Listen on an ephemeral port of 127.0.0.1.
    pub fn start(config: Arc<ServerConfig>) -> TlsEchoServer {
        TlsEchoServer::start_on("127.0.0.1:0", config).expect("bind a TLS echo server")
    }

    /// Listen on `addr` (port 0 for an ephemeral port).
    pub fn start_on(addr: &str, config: Arc<ServerConfig>) -> io::Result<TlsEchoServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Control::default());
        let (c, cfg) = (control.clone(), config.clone());
        let acceptor = thread::Builder::new()
            .name("tls-echo-accept".into())
            .spawn(move || accept_loop(listener, cfg, c))?;
        Ok(TlsEchoServer {
            addr,
            config,
            control,
            acceptor: Some(acceptor),
        })
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `wss://HOST:PORT` for this server (`host` is what the client verifies and sends as SNI;
    /// an IPv6 address goes in brackets).
    pub fn url(&self, host: &str) -> String {
        format!("wss://{host}:{}", self.addr.port())
    }

    /// Stop answering: connections stay open but nothing is read or sent. `false` resumes.
    pub fn set_silent(&self, silent: bool) {
        *self.control.silent.lock().unwrap() = silent;
        self.control.silent_cv.notify_all();
    }

    /// TCP connections accepted.
    pub fn accepted(&self) -> usize {
        self.control.accepted.load(Ordering::SeqCst)
    }

    /// WebSocket connections that completed both handshakes.
    pub fn opened(&self) -> usize {
        self.control.opened.load(Ordering::SeqCst)
    }

    /// The server name (SNI) the last successful TLS handshake carried.
    pub fn last_sni(&self) -> Option<String> {
        self.control.last_sni.lock().unwrap().clone()
    }

    /// Server-side errors of the TLS handshakes that failed.
    pub fn tls_failures(&self) -> Vec<String> {
        self.control.tls_failures.lock().unwrap().clone()
    }

    /// Wait (at most `within`) until `n` TLS handshakes have failed on the server side, then
    /// return the failures. With TLS 1.3 the client can see the server's alert before the
    /// server's thread has recorded its own error.
    pub fn wait_tls_failures(&self, n: usize, within: Duration) -> Vec<String> {
        let guard = self.control.tls_failures.lock().unwrap();
        let (guard, _) = self
            .control
            .failed_cv
            .wait_timeout_while(guard, within, |f| f.len() < n)
            .unwrap();
        guard.clone()
    }

    /// Stop listening and cut every connection abruptly (no close frame, no close_notify).
    pub fn stop(&mut self) {
        self.control.stopping.store(true, Ordering::SeqCst);
        self.set_silent(false);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500)); // unblock accept
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for (_, s) in std::mem::take(&mut *self.control.conns.lock().unwrap()) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Start again on the same port (with fresh counters) after `stop`.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match TlsEchoServer::start_on(&self.addr.to_string(), self.config.clone()) {
                Ok(new) => {
                    *self = new;
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("restart on {}: {e}", self.addr),
            }
        }
    }
}

impl Drop for TlsEchoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, config: Arc<ServerConfig>, c: Arc<Control>) {
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
        c.conns.lock().unwrap().push((id, clone));
        let (c2, cfg) = (c.clone(), config.clone());
        thread::Builder::new()
            .name("tls-echo-conn".into())
            .spawn(move || {
                serve_connection(stream, cfg, &c2);
                c2.conns.lock().unwrap().retain(|(i, _)| *i != id);
            })
            .expect("spawn a connection thread");
    }
}

fn serve_connection(stream: TcpStream, config: Arc<ServerConfig>, c: &Control) {
    let _ = stream.set_nodelay(true);
    // Bounded handshakes: a client that stalls must not pin a thread forever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let conn = ServerConnection::new(config).expect("server connection");
    let mut tls = StreamOwned::new(conn, stream);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            c.tls_failures.lock().unwrap().push(e.to_string());
            c.failed_cv.notify_all();
            linger(tls.sock);
            return;
        }
    }
    *c.last_sni.lock().unwrap() = tls.conn.server_name().map(str::to_owned);
    let Ok(ws) = tungstenite::accept(tls) else {
        return;
    };
    let _ = ws.get_ref().sock.set_read_timeout(None);
    c.opened.fetch_add(1, Ordering::SeqCst);
    serve(ws, c);
}

/// After a failed handshake (the alert is already written): half-close and wait for the
/// client to hang up, so that it reads the alert instead of a reset.
fn linger(mut sock: TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4096];
    while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
}

fn serve(mut ws: WebSocket<TlsStream>, c: &Control) {
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(_) => return,
        };
        if *c.silent.lock().unwrap() {
            // Half-open: stop reading and answering until told otherwise.
            let mut silent = c.silent.lock().unwrap();
            while *silent && !c.stopping.load(Ordering::SeqCst) {
                silent = c.silent_cv.wait(silent).unwrap();
            }
            continue;
        }
        let reply = match msg {
            Message::Text(t) => Some(Message::Text(t)),
            Message::Binary(b) => Some(Message::Binary(b)),
            _ => None, // pings are answered by tungstenite; close is handled by read()
        };
        let sent = match reply {
            Some(r) => {
                c.echoed.fetch_add(1, Ordering::Relaxed);
                ws.send(r)
            }
            None => ws.flush(),
        };
        if sent.is_err() {
            return;
        }
    }
}
