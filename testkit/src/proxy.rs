//! A TCP fault proxy for tests: sits between the client and a server on 127.0.0.1 and breaks
//! the path on command.
//!
//! Modes apply to every connection through the proxy, existing and new:
//! - pass through (the default);
//! - black hole: nothing is forwarded in either direction, both sockets stay open (a
//!   half-open path: the kernel still ACKs what the client writes, nothing comes back, and
//!   what was written is dropped). A connection that lost bytes this way is reset when the
//!   path heals (its stream has a gap); new connections then pass;
//! - delay: every chunk waits before it is forwarded;
//! - throttle: at most N bytes per 10 ms tick in each direction, or a rate per direction
//!   ([`FaultProxy::throttle_up`], [`FaultProxy::throttle_down`]): a slow link;
//! - stall: nothing is read in either direction, nothing is lost: once the kernel buffers are
//!   full the sender sees no progress at all (a black hole that ACKs nothing);
//! - cut with FIN (orderly shutdown of both sides) or RST (SO_LINGER 0, then close);
//! - refuse: the listening socket is closed, so new connections get ECONNREFUSED; `accept`
//!   again re-binds the same port.
//!
//! Every loop is bounded by short socket timeouts so a stopped proxy exits within ~50 ms;
//! dropping the proxy stops it and cuts every connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(10);

const CUT_NONE: u8 = 0;
const CUT_FIN: u8 = 1;
const CUT_RST: u8 = 2;

struct Link {
    cut: AtomicU8,
    done: AtomicUsize,
    /// Bytes were dropped by a black hole: the stream is broken for good.
    dropped: AtomicBool,
}

#[derive(Default)]
struct Ctl {
    stopping: AtomicBool,
    blackhole: AtomicBool,
    delay_ms: AtomicU64,
    /// Bytes per tick per direction; 0 = unlimited.
    throttle: AtomicUsize,
    /// Bytes per tick client → server and server → client (0: `throttle` applies).
    throttle_up: AtomicUsize,
    throttle_down: AtomicUsize,
    /// While set, the pumps read nothing (see the module docs).
    stalled: AtomicBool,
    /// SO_RCVBUF/SO_SNDBUF of the proxy's sockets of new connections (0: the kernel's).
    socket_buffers: AtomicUsize,
    accepted: AtomicUsize,
    forwarded: AtomicU64,
    links: Mutex<Vec<Arc<Link>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The fault proxy. See the module docs.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    ctl: Arc<Ctl>,
    acceptor: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Listen on an ephemeral port of 127.0.0.1 and forward to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        Self::start_listener(upstream, TcpListener::bind("127.0.0.1:0")?)
    }

    /// Like [`FaultProxy::start`], with receive and send buffers of `bytes` on the proxy's
    /// sockets, set before the handshake so that the advertised TCP window is small too: a
    /// slow link then pushes back on the client after about `bytes`, instead of after
    /// hundreds of KB of loopback buffering.
    pub fn start_with_buffers(upstream: SocketAddr, bytes: usize) -> io::Result<FaultProxy> {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.set_recv_buffer_size(bytes)?;
        s.set_send_buffer_size(bytes)?;
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        s.listen(64)?;
        let p = Self::start_listener(upstream, s.into())?;
        p.ctl.socket_buffers.store(bytes, Ordering::SeqCst);
        Ok(p)
    }

    fn start_listener(upstream: SocketAddr, listener: TcpListener) -> io::Result<FaultProxy> {
        let addr = listener.local_addr()?;
        let mut p = FaultProxy {
            addr,
            upstream,
            ctl: Arc::new(Ctl::default()),
            acceptor: None,
        };
        p.spawn_acceptor(listener)?;
        Ok(p)
    }

    fn spawn_acceptor(&mut self, listener: TcpListener) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ctl, s, upstream) = (self.ctl.clone(), stop.clone(), self.upstream);
        let t = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(listener, upstream, ctl, s))?;
        self.acceptor = Some((stop, t));
        Ok(())
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://` URL of the proxy.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Black-hole (true) or heal (false) the path.
    pub fn blackhole(&self, on: bool) {
        self.ctl.blackhole.store(on, Ordering::SeqCst);
    }

    /// Delay each chunk by `d` in both directions (zero: none).
    pub fn delay(&self, d: Duration) {
        self.ctl
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Forward at most `bytes_per_tick` bytes per 10 ms in each direction (0: unlimited).
    pub fn throttle(&self, bytes_per_tick: usize) {
        self.ctl.throttle.store(bytes_per_tick, Ordering::SeqCst);
    }

    /// Forward client → server at about `bytes_per_sec` (0: no limit of its own). Applies to
    /// existing and new connections.
    pub fn throttle_up(&self, bytes_per_sec: usize) {
        self.ctl
            .throttle_up
            .store(per_tick(bytes_per_sec), Ordering::SeqCst);
    }

    /// Forward server → client at about `bytes_per_sec` (0: no limit of its own).
    pub fn throttle_down(&self, bytes_per_sec: usize) {
        self.ctl
            .throttle_down
            .store(per_tick(bytes_per_sec), Ordering::SeqCst);
    }

    /// Stop (true) or resume (false) reading in both directions. Nothing is dropped.
    pub fn stall(&self, on: bool) {
        self.ctl.stalled.store(on, Ordering::SeqCst);
    }

    /// Cut every current connection with FIN (both sides see an orderly end of stream).
    pub fn cut_fin(&self) {
        self.cut(CUT_FIN);
    }

    /// Cut every current connection with RST (both sides see "connection reset").
    pub fn cut_rst(&self) {
        self.cut(CUT_RST);
    }

    fn cut(&self, how: u8) {
        let links = std::mem::take(&mut *self.ctl.links.lock().unwrap());
        for l in &links {
            l.cut.store(how, Ordering::SeqCst);
        }
        // Wait (bounded) until the pumps have acted, so the cut is real when this returns.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && links.iter().any(|l| l.done.load(Ordering::SeqCst) < 2) {
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Refuse new connections (close the listening socket). Existing ones are untouched.
    pub fn refuse(&mut self) {
        if let Some((stop, t)) = self.acceptor.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = t.join();
        }
    }

    /// Accept again on the same port after [`FaultProxy::refuse`] (retries briefly).
    pub fn accept(&mut self) -> io::Result<()> {
        if self.acceptor.is_some() {
            return Ok(());
        }
        let mut last = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr) {
                Ok(l) => return self.spawn_acceptor(l),
                Err(e) => {
                    last = Some(e);
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Err(last.unwrap())
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.ctl.accepted.load(Ordering::SeqCst)
    }

    /// Connections whose both pumps are still running.
    pub fn open_links(&self) -> usize {
        let links = self.ctl.links.lock().unwrap();
        links
            .iter()
            .filter(|l| l.done.load(Ordering::SeqCst) == 0)
            .count()
    }

    /// Bytes forwarded so far (both directions).
    pub fn forwarded(&self) -> u64 {
        self.ctl.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.refuse();
        self.ctl.stopping.store(true, Ordering::SeqCst);
        self.cut(CUT_FIN);
        let threads = std::mem::take(&mut *self.ctl.threads.lock().unwrap());
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, ctl: Arc<Ctl>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) && !ctl.stopping.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
                continue;
            }
            Err(_) => continue,
        };
        ctl.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nonblocking(false);
        let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else {
            rst_close(&client);
            continue;
        };
        let buffers = ctl.socket_buffers.load(Ordering::SeqCst);
        set_buffers(&client, buffers);
        set_buffers(&server, buffers);
        let link = Arc::new(Link {
            cut: AtomicU8::new(CUT_NONE),
            done: AtomicUsize::new(0),
            dropped: AtomicBool::new(false),
        });
        {
            let mut links = ctl.links.lock().unwrap();
            links.retain(|l| l.done.load(Ordering::SeqCst) < 2);
            links.push(link.clone());
        }
        let mut threads = ctl.threads.lock().unwrap();
        threads.retain(|t| !t.is_finished());
        for (from, to, up) in [(&client, &server, true), (&server, &client, false)] {
            let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                continue;
            };
            let (ctl, link) = (ctl.clone(), link.clone());
            if let Ok(t) = thread::Builder::new()
                .name("proxy-pump".into())
                .stack_size(64 * 1024)
                .spawn(move || pump(from, to, up, &ctl, &link))
            {
                threads.push(t);
            }
        }
    }
}

fn per_tick(bytes_per_sec: usize) -> usize {
    let ticks_per_sec = (Duration::from_secs(1).as_nanos() / TICK.as_nanos()) as usize;
    match bytes_per_sec {
        0 => 0,
        n => n.div_ceil(ticks_per_sec).max(1),
    }
}

fn set_buffers(s: &TcpStream, bytes: usize) {
    if bytes > 0 {
        let sock = socket2::SockRef::from(s);
        let _ = sock.set_recv_buffer_size(bytes);
        let _ = sock.set_send_buffer_size(bytes);
    }
}

fn rst_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Copy `from` → `to` (client → server when `up`) until end of stream, an error or a cut.
fn pump(mut from: TcpStream, mut to: TcpStream, up: bool, ctl: &Ctl, link: &Link) {
    let _ = from.set_read_timeout(Some(TICK));
    let _ = to.set_write_timeout(Some(Duration::from_secs(5)));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match link.cut.load(Ordering::SeqCst) {
            CUT_FIN => {
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
                break;
            }
            CUT_RST => {
                rst_close(&from);
                rst_close(&to);
                break;
            }
            _ => {}
        }
        let holed = ctl.blackhole.load(Ordering::SeqCst);
        if !holed && link.dropped.load(Ordering::SeqCst) {
            // The path healed, but segments were lost for good: like TCP giving up, reset.
            rst_close(&from);
            rst_close(&to);
            break;
        }
        if ctl.stalled.load(Ordering::SeqCst) {
            thread::sleep(TICK);
            continue;
        }
        let own = if up {
            ctl.throttle_up.load(Ordering::SeqCst)
        } else {
            ctl.throttle_down.load(Ordering::SeqCst)
        };
        let limit = match (own, ctl.throttle.load(Ordering::SeqCst)) {
            (0, 0) => buf.len(),
            (0, n) | (n, _) => n.min(buf.len()),
        };
        let n = match from.read(&mut buf[..limit]) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                break;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => {
                // Reset by one side: pass the reset on.
                rst_close(&to);
                break;
            }
        };
        let delay = ctl.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            thread::sleep(Duration::from_millis(delay));
        }
        if holed || ctl.blackhole.load(Ordering::SeqCst) {
            // Black hole: the bytes were accepted by our kernel (ACKed) and vanish here.
            link.dropped.store(true, Ordering::SeqCst);
            continue;
        }
        if link.cut.load(Ordering::SeqCst) != CUT_NONE {
            continue; // handled at the top
        }
        if to.write_all(&buf[..n]).is_err() {
            rst_close(&from);
            break;
        }
        ctl.forwarded.fetch_add(n as u64, Ordering::Relaxed);
        if limit < buf.len() {
            thread::sleep(TICK);
        }
    }
    link.done.fetch_add(1, Ordering::SeqCst);
}
