//! A scripted raw-TCP "hostile server": every accepted connection runs a test-supplied script
//! on its own thread with a [`Peer`] that can answer the handshake (or not), write raw
//! WebSocket frames (including broken ones), drip bytes, flood, or hang.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One accepted connection, as seen by a script.
pub struct Peer {
    pub stream: TcpStream,
    /// 0 for the first connection, then 1, 2, ...
    pub index: usize,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").finish_non_exhaustive()
    }
}

impl Peer {
    /// Read the HTTP upgrade request (up to the blank line). Returns it as text.
    pub fn read_request(&mut self) -> io::Result<String> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        let until = Instant::now() + Duration::from_secs(5);
        self.stream
            .set_read_timeout(Some(Duration::from_millis(50)))?;
        while !buf.ends_with(b"\r\n\r\n") {
            if Instant::now() > until || self.stopping() || buf.len() > 64 * 1024 {
                return Err(io::Error::other("no request"));
            }
            match self.stream.read(&mut byte) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => buf.push(byte[0]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Read the request and answer `101 Switching Protocols`.
    pub fn accept_ws(&mut self) -> io::Result<()> {
        let req = self.read_request()?;
        let key = req
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_owned())
            })
            .ok_or_else(|| io::Error::other("no key"))?;
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        write!(
            self.stream,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )?;
        self.stream.flush()
    }

    /// Read the request and answer with a plain HTTP response.
    pub fn respond_http(&mut self, status: &str, headers: &[(&str, &str)]) -> io::Result<()> {
        self.read_request()?;
        let mut r = format!("HTTP/1.1 {status}\r\n");
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
        self.stream.write_all(r.as_bytes())
    }

    /// Write raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Write one unmasked frame with explicit FIN/RSV bits and opcode.
    pub fn frame(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.raw(&frame_bytes(fin, rsv, opcode, payload))
    }

    /// A text frame.
    pub fn text(&mut self, t: &str) -> io::Result<()> {
        self.frame(true, 0, 0x1, t.as_bytes())
    }

    /// A close frame with `code` and `reason`.
    pub fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.frame(true, 0, 0x8, &p)
    }

    /// Read one (masked) client frame: `(opcode, unmasked payload)`, within `within`.
    pub fn read_frame(&mut self, within: Duration) -> io::Result<(u8, Vec<u8>)> {
        let until = Instant::now() + within;
        let mut head = [0u8; 2];
        self.read_exact_until(&mut head, until)?;
        let opcode = head[0] & 0xF;
        let mut len = u64::from(head[1] & 0x7F);
        if len == 126 {
            let mut b = [0u8; 2];
            self.read_exact_until(&mut b, until)?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            self.read_exact_until(&mut b, until)?;
            len = u64::from_be_bytes(b);
        }
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            self.read_exact_until(&mut mask, until)?;
        }
        let mut payload = vec![0u8; len.min(1 << 20) as usize];
        self.read_exact_until(&mut payload, until)?;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        Ok((opcode, payload))
    }

    /// Read frames until a close frame; returns its code (`None`: no close frame came).
    pub fn read_close_code(&mut self, within: Duration) -> Option<u16> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Ok((0x8, p)) if p.len() >= 2 => return Some(u16::from_be_bytes([p[0], p[1]])),
                Ok((0x8, _)) => return Some(1005),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    fn read_exact_until(&mut self, buf: &mut [u8], until: Instant) -> io::Result<()> {
        self.stream
            .set_read_timeout(Some(Duration::from_millis(20)))?;
        let mut at = 0;
        while at < buf.len() {
            if Instant::now() > until || self.stopping() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self.stream.read(&mut buf[at..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => at += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the server is being stopped.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Keep the connection open for up to `d`, reading and discarding what arrives, until the
    /// peer closes or the server stops. Returns the bytes read.
    pub fn hold(&mut self, d: Duration) -> usize {
        let until = Instant::now() + d;
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(20)));
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while Instant::now() < until && !self.stopping() {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        total
    }

    /// Sleep up to `d`, returning early when the server stops.
    pub fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until && !self.stopping() {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Encode an unmasked (server → client) frame.
pub fn frame_bytes(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | ((rsv & 0x7) << 4) | (opcode & 0xF)];
    let n = payload.len();
    if n < 126 {
        f.push(n as u8);
    } else if n <= 0xFFFF {
        f.push(126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}

type Script = dyn Fn(Peer) + Send + Sync + 'static;
type Conns = Arc<Mutex<Vec<(TcpStream, JoinHandle<()>)>>>;

/// The server. Stops on drop (scripts see [`Peer::stopping`] and their sockets are shut down).
pub struct Hostile {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    times: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    conns: Conns,
}

impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostile").finish_non_exhaustive()
    }
}

impl Hostile {
    /// Listen on an ephemeral port of 127.0.0.1; run `script` for every connection.
    pub fn start(script: impl Fn(Peer) + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let times = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Conns = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let (a, s, c, tm) = (accepted.clone(), stop.clone(), conns.clone(), times.clone());
        let acceptor = thread::Builder::new()
            .name("hostile-accept".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    let stream = match listener.accept() {
                        Ok((st, _)) => st,
                        Err(_) => {
                            thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                    };
                    tm.lock().unwrap().push(Instant::now());
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_nodelay(true);
                    let index = a.fetch_add(1, Ordering::SeqCst);
                    let Ok(clone) = stream.try_clone() else {
                        continue;
                    };
                    let peer = Peer {
                        stream,
                        index,
                        stop: s.clone(),
                    };
                    let script = script.clone();
                    let t = thread::Builder::new()
                        .name("hostile-conn".into())
                        .spawn(move || script(peer))
                        .unwrap();
                    let mut conns = c.lock().unwrap();
                    conns.push((clone, t));
                }
            })
            .unwrap();
        Hostile {
            addr,
            accepted,
            times,
            stop,
            acceptor: Some(acceptor),
            conns,
        }
    }

    /// `ws://` URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// When each connection was accepted.
    pub fn accept_times(&self) -> Vec<Instant> {
        self.times.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let conns = std::mem::take(&mut *self.conns.lock().unwrap());
        for (s, t) in conns {
            let _ = s.shutdown(Shutdown::Both);
            let _ = t.join();
        }
    }
}
