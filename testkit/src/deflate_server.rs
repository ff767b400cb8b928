//! An echo server that speaks permessage-deflate (RFC 7692), over plain TCP or (feature `tls`)
//! rustls, on 127.0.0.1: for the tests of every layer that need a compressing peer without a
//! Python or Node.js install.
//!
//! tungstenite has no compression (and refuses RSV1 frames), so this server frames by hand: it
//! reads the upgrade request, accepts the client's permessage-deflate offer (granting
//! `server_no_context_takeover`, `client_no_context_takeover` and `server_max_window_bits`
//! when they are asked for), inflates each compressed message (`00 00 ff ff` appended, the
//! context kept across messages unless the client was told not to keep it) and sends it back
//! compressed (RSV1, the tail dropped). A client that offers nothing gets plain frames. Pings
//! are answered, a close is echoed. It records each connection's offer and counts the
//! messages that arrived compressed, so a test can tell that compression really happened.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The largest message this server inflates (a bound, not a feature).
const MAX_MESSAGE: usize = 64 << 20;

#[derive(Default)]
struct Control {
    stopping: AtomicBool,
    conns: Mutex<Vec<TcpStream>>,
    offers: Mutex<Vec<String>>,
    compressed_in: AtomicU64,
    plain_in: AtomicU64,
    wire_in: AtomicU64,
    wire_out: AtomicU64,
}

/// A running permessage-deflate echo server; stops (cutting its connections) on drop.
pub struct DeflateEchoServer {
    addr: SocketAddr,
    tls: bool,
    control: Arc<Control>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DeflateEchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeflateEchoServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

type Wrap = dyn Fn(TcpStream) -> Box<dyn Io> + Send + Sync;

impl DeflateEchoServer {
    /// A `ws://` server on an ephemeral port of 127.0.0.1.
    pub fn start() -> DeflateEchoServer {
        DeflateEchoServer::spawn(false, Arc::new(|s| Box::new(s) as Box<dyn Io>))
    }

    /// A `wss://` server on an ephemeral port of 127.0.0.1 with this rustls configuration
    /// (see `tls_server::server_config`; its certificate must name 127.0.0.1).
    #[cfg(feature = "tls")]
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> DeflateEchoServer {
        DeflateEchoServer::spawn(
            true,
            Arc::new(
                move |s| match rustls::ServerConnection::new(config.clone()) {
                    Ok(c) => Box::new(rustls::StreamOwned::new(c, s)) as Box<dyn Io>,
                    Err(e) => panic!("rustls server connection: {e}"),
                },
            ),
        )
    }

    fn spawn(tls: bool, wrap: Arc<Wrap>) -> DeflateEchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a deflate echo server");
        let addr = listener.local_addr().expect("local address");
        let control = Arc::new(Control::default());
        let c = control.clone();
        let acceptor = thread::Builder::new()
            .name("deflate-echo-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if c.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    if let Ok(clone) = stream.try_clone() {
                        c.conns.lock().unwrap().push(clone);
                    }
                    let (c, wrap) = (c.clone(), wrap.clone());
                    let _ = thread::Builder::new()
                        .name("deflate-echo-conn".into())
                        .spawn(move || {
                            let mut io = wrap(stream);
                            if let Err(e) = serve(&mut *io, &c) {
                                log::debug!("deflate echo connection ended: {e}");
                            }
                        });
                }
            })
            .expect("spawn the acceptor");
        DeflateEchoServer {
            addr,
            tls,
            control,
            acceptor: Some(acceptor),
        }
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `ws://127.0.0.1:PORT`, or `wss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    /// The `Sec-WebSocket-Extensions` header of each upgrade request so far (`""` when the
    /// client offered nothing), in order.
    pub fn offers(&self) -> Vec<String> {
        self.control.offers.lock().unwrap().clone()
    }

    /// Data messages that arrived compressed (RSV1 set on their first frame).
    pub fn compressed_in(&self) -> u64 {
        self.control.compressed_in.load(Ordering::SeqCst)
    }

    /// Data messages that arrived uncompressed.
    pub fn plain_in(&self) -> u64 {
        self.control.plain_in.load(Ordering::SeqCst)
    }

    /// WebSocket frame bytes (headers, masks, payloads) read from clients after the
    /// handshakes: what the clients put on the wire, below TLS.
    pub fn wire_in(&self) -> u64 {
        self.control.wire_in.load(Ordering::SeqCst)
    }

    /// WebSocket frame bytes written to clients after the handshakes.
    pub fn wire_out(&self) -> u64 {
        self.control.wire_out.load(Ordering::SeqCst)
    }
}

impl Drop for DeflateEchoServer {
    fn drop(&mut self) {
        self.control.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for s in std::mem::take(&mut *self.control.conns.lock().unwrap()) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// What the handshake agreed.
struct Agreed {
    deflate: bool,
    /// We reset our compressor after every message.
    server_no_takeover: bool,
    /// The client resets its compressor; so do we our inflater (either way works).
    client_no_takeover: bool,
    server_bits: u8,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn handshake(s: &mut dyn Io, c: &Control) -> io::Result<Agreed> {
    let mut req = Vec::new();
    let mut b = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 || req.len() > 16 << 10 {
            return Err(bad("upgrade request cut short or too long"));
        }
        req.push(b[0]);
    }
    let req = String::from_utf8_lossy(&req).into_owned();
    let header = |name: &str| {
        req.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let key = header("sec-websocket-key").ok_or_else(|| bad("no Sec-WebSocket-Key"))?;
    let offer = header("sec-websocket-extensions").unwrap_or_default();
    c.offers.lock().unwrap().push(offer.clone());
    let mut agreed = Agreed {
        deflate: false,
        server_no_takeover: false,
        client_no_takeover: false,
        server_bits: 15,
    };
    let mut answer = String::new();
    // The first permessage-deflate offer (offers are comma-separated, parameters `;`).
    if let Some(o) = offer
        .split(',')
        .map(str::trim)
        .find(|o| o.split(';').next().map(str::trim) == Some("permessage-deflate"))
    {
        agreed.deflate = true;
        answer.push_str("permessage-deflate");
        for p in o.split(';').skip(1).map(str::trim) {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            match name.trim() {
                "server_no_context_takeover" => {
                    agreed.server_no_takeover = true;
                    answer.push_str("; server_no_context_takeover");
                }
                "client_no_context_takeover" => {
                    agreed.client_no_takeover = true;
                    answer.push_str("; client_no_context_takeover");
                }
                "server_max_window_bits" => {
                    let bits: u8 = value.trim().trim_matches('"').parse().unwrap_or(15);
                    agreed.server_bits = bits.clamp(9, 15);
                    answer.push_str(&format!("; server_max_window_bits={}", agreed.server_bits));
                }
                _ => {} // client_max_window_bits: we need not limit the client's window
            }
        }
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n"
    );
    if agreed.deflate {
        resp.push_str(&format!("Sec-WebSocket-Extensions: {answer}\r\n"));
    }
    resp.push_str("\r\n");
    s.write_all(resp.as_bytes())?;
    s.flush()?;
    Ok(agreed)
}

/// One frame: (fin, rsv1, opcode, unmasked payload).
fn read_frame(s: &mut dyn Io) -> io::Result<(bool, bool, u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    let (fin, rsv1, op) = (h[0] & 0x80 != 0, h[0] & 0x40 != 0, h[0] & 0x0f);
    let masked = h[1] & 0x80 != 0;
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l)?;
            u64::from(u16::from_be_bytes(l))
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l)?;
            u64::from_be_bytes(l)
        }
        n => u64::from(n),
    };
    if len > MAX_MESSAGE as u64 {
        return Err(bad(format!("frame of {len} bytes")));
    }
    let mut mask = [0u8; 4];
    if masked {
        s.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload)?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((fin, rsv1, op, payload))
}

/// The size of a frame with this payload (and a mask of `mask` bytes: 4 from clients).
fn frame_len(payload: usize, mask: u64) -> u64 {
    let header = match payload {
        n if n < 126 => 2,
        n if n <= 0xffff => 4,
        _ => 10,
    };
    header + mask + payload as u64
}

fn write_frame(s: &mut dyn Io, rsv1: bool, op: u8, payload: &[u8]) -> io::Result<()> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x80 | if rsv1 { 0x40 } else { 0 } | op);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    s.write_all(&f)?;
    s.flush()
}

/// Raw deflate with a sync flush, the `00 00 ff ff` tail dropped (RFC 7692 §7.2.1).
fn deflate(z: &mut Compress, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let before = z.total_in();
        z.compress_vec(input, &mut out, FlushCompress::Sync)
            .map_err(|e| bad(format!("deflate: {e}")))?;
        input = &input[(z.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    if !out.ends_with(&[0, 0, 0xff, 0xff]) {
        return Err(bad("deflate output without the sync-flush tail"));
    }
    out.truncate(out.len() - 4);
    Ok(out)
}

/// Inflate one message (the tail appended), bounded by [`MAX_MESSAGE`].
fn inflate(d: &mut Decompress, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in [data, &[0, 0, 0xff, 0xff][..]] {
        let mut input = part;
        loop {
            out.reserve(32 << 10);
            let (before_in, before_out) = (d.total_in(), d.total_out());
            d.decompress_vec(input, &mut out, FlushDecompress::None)
                .map_err(|e| bad(format!("inflate: {e}")))?;
            input = &input[(d.total_in() - before_in) as usize..];
            if out.len() > MAX_MESSAGE {
                return Err(bad("inflated message too large"));
            }
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            if d.total_in() == before_in && d.total_out() == before_out {
                return Err(bad("inflate made no progress"));
            }
        }
    }
    Ok(out)
}

fn serve(s: &mut dyn Io, c: &Control) -> io::Result<()> {
    let agreed = handshake(s, c)?;
    let mut z = Compress::new_with_window_bits(Compression::new(6), false, agreed.server_bits);
    let mut d = Decompress::new_with_window_bits(false, 15);
    let (mut msg_op, mut msg_rsv1, mut buf) = (0u8, false, Vec::new());
    loop {
        let (fin, rsv1, op, payload) = read_frame(s)?;
        c.wire_in
            .fetch_add(frame_len(payload.len(), 4), Ordering::SeqCst);
        match op {
            0x8 => {
                let _ = write_frame(s, false, 0x8, &payload[..payload.len().min(2)]);
                return Ok(());
            }
            0x9 => write_frame(s, false, 0xA, &payload)?,
            0xA => {}
            0x0..=0x2 => {
                if op != 0 {
                    (msg_op, msg_rsv1) = (op, rsv1);
                    buf.clear();
                }
                buf.extend_from_slice(&payload);
                if buf.len() > MAX_MESSAGE {
                    return Err(bad("message too large"));
                }
                if !fin {
                    continue;
                }
                let data = if msg_rsv1 {
                    if !agreed.deflate {
                        return Err(bad("RSV1 without permessage-deflate"));
                    }
                    c.compressed_in.fetch_add(1, Ordering::SeqCst);
                    let data = inflate(&mut d, &buf)?;
                    if agreed.client_no_takeover {
                        d.reset(false);
                    }
                    data
                } else {
                    c.plain_in.fetch_add(1, Ordering::SeqCst);
                    std::mem::take(&mut buf)
                };
                if agreed.deflate {
                    let packed = deflate(&mut z, &data)?;
                    if agreed.server_no_takeover {
                        z.reset();
                    }
                    write_frame(s, true, msg_op, &packed)?;
                    c.wire_out
                        .fetch_add(frame_len(packed.len(), 0), Ordering::SeqCst);
                } else {
                    write_frame(s, false, msg_op, &data)?;
                    c.wire_out
                        .fetch_add(frame_len(data.len(), 0), Ordering::SeqCst);
                }
            }
            _ => return Err(bad(format!("opcode {op}"))),
        }
    }
}
