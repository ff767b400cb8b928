//! A recording echo server: echoes text and binary, answers pings, and logs every data message
//! it received (in order) so a test can check "delivered once, in order" on the server side.
//! It counts accepted and open connections (duplicate-connection checks), closes every
//! connection with a chosen code through a real close handshake, and restarts on its port.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

#[derive(Default)]
struct Ctl {
    stop: AtomicBool,
    accepted: AtomicUsize,
    open: AtomicUsize,
    /// Bumped by `close_all`; each connection closes once per bump.
    close_gen: AtomicU32,
    close_code: AtomicU32,
    log: Mutex<Vec<String>>,
    print: AtomicBool,
    conns: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

/// See the module docs.
pub struct RecordingServer {
    addr: SocketAddr,
    ctl: Arc<Ctl>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RecordingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingServer").finish_non_exhaustive()
    }
}

impl RecordingServer {
    /// Listen on `addr` (port 0 for an ephemeral one).
    pub fn start(addr: &str) -> io::Result<RecordingServer> {
        Self::start_with(addr, Arc::new(Ctl::default()))
    }

    fn start_with(addr: &str, ctl: Arc<Ctl>) -> io::Result<RecordingServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        ctl.stop.store(false, Ordering::SeqCst);
        let c = ctl.clone();
        let acceptor = thread::Builder::new()
            .name("rec-accept".into())
            .spawn(move || accept_loop(listener, c))?;
        Ok(RecordingServer {
            addr,
            ctl,
            acceptor: Some(acceptor),
        })
    }

    /// Print `RECV <text>` on stdout for every text message (the server-process helper).
    pub fn print_received(&self) {
        self.ctl.print.store(true, Ordering::SeqCst);
    }

    /// `ws://` URL.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far (across restarts).
    pub fn accepted(&self) -> usize {
        self.ctl.accepted.load(Ordering::SeqCst)
    }

    /// WebSocket connections open now.
    pub fn open(&self) -> usize {
        self.ctl.open.load(Ordering::SeqCst)
    }

    /// Text messages received so far, in arrival order (across connections and restarts).
    pub fn received(&self) -> Vec<String> {
        self.ctl.log.lock().unwrap().clone()
    }

    /// Close every open connection with `code` (a real close handshake).
    pub fn close_all(&self, code: u16) {
        self.ctl.close_code.store(u32::from(code), Ordering::SeqCst);
        self.ctl.close_gen.fetch_add(1, Ordering::SeqCst);
    }

    /// Stop: close the listener and cut every connection (no close frame).
    pub fn stop(&mut self) {
        self.ctl.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let conns = std::mem::take(&mut *self.ctl.conns.lock().unwrap());
        for (s, t) in conns {
            let _ = s.shutdown(Shutdown::Both);
            let _ = t.join();
        }
    }

    /// Stop, then listen again on the same port (retrying briefly).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let mut last = None;
        for _ in 0..100 {
            match Self::start_with(&self.addr.to_string(), self.ctl.clone()) {
                Ok(mut new) => {
                    self.acceptor = new.acceptor.take();
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Err(last.unwrap())
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.stop();
        }
    }
}

fn accept_loop(listener: TcpListener, ctl: Arc<Ctl>) {
    while !ctl.stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                thread::sleep(Duration::from_millis(2));
                continue;
            }
        };
        ctl.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let c = ctl.clone();
        // A close_all() after this point (even during the handshake) applies to this one.
        let seen_gen = ctl.close_gen.load(Ordering::SeqCst);
        let t = thread::Builder::new()
            .name("rec-conn".into())
            .spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                if let Ok(ws) = tungstenite::accept(stream) {
                    c.open.fetch_add(1, Ordering::SeqCst);
                    serve(ws, &c, seen_gen);
                    c.open.fetch_sub(1, Ordering::SeqCst);
                }
            })
            .unwrap();
        let mut conns = ctl.conns.lock().unwrap();
        conns.retain(|(_, t)| !t.is_finished());
        conns.push((clone, t));
    }
}

fn serve(mut ws: WebSocket<TcpStream>, ctl: &Ctl, mut seen_gen: u32) {
    let _ = ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)));
    loop {
        if ctl.stop.load(Ordering::SeqCst) {
            return;
        }
        let generation = ctl.close_gen.load(Ordering::SeqCst);
        if generation != seen_gen {
            seen_gen = generation;
            let code = ctl.close_code.load(Ordering::SeqCst) as u16;
            let _ = ws.close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "test".into(),
            }));
            let _ = ws.flush();
        }
        match ws.read() {
            Ok(Message::Text(t)) => {
                if ctl.print.load(Ordering::SeqCst) {
                    println!("RECV {}", t.as_str());
                }
                ctl.log.lock().unwrap().push(t.as_str().to_owned());
                if ws.send(Message::Text(t)).is_err() {
                    return;
                }
            }
            Ok(Message::Binary(b)) => {
                if ws.send(Message::Binary(b)).is_err() {
                    return;
                }
            }
            Ok(_) => {
                let _ = ws.flush();
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let _ = ws.flush();
            }
            Err(_) => return,
        }
    }
}
