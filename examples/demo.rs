//! The main job: a timeline of wsbeat keeping a connection alive through an outage.
//!
//! ```text
//! cargo run --example demo              # against an embedded seed-protocol echo server
//! cargo run --example demo -- ws://HOST:PORT/PATH   # against your server (through a local relay)
//! ```
//! It connects with the seed's JSON heartbeat (scaled down to 500 ms / 300 ms), sends
//! "hello world", lets heartbeats flow, then takes the server away: first it goes silent
//! (a half-open connection: only the heartbeat can notice), then it refuses connections for
//! a few seconds (backoff grows), then it comes back. Messages sent during the outage wait in
//! the outbox and arrive, in order, after the reconnect. Every event is printed with its time.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wsbeat::{Client, Event, Heartbeat, Reconnect};
use wsbeat_testkit::server::EchoServer;

fn main() {
    let arg = std::env::args().nth(1);
    if matches!(arg.as_deref(), Some("-h" | "--help")) {
        eprintln!("usage: demo [ws://HOST:PORT/PATH]");
        std::process::exit(2);
    }
    let started = Instant::now();
    let say = move |what: &str| println!("{:>8.3}s  {what}", started.elapsed().as_secs_f64());

    // The server side of the story: an embedded echo server, or the user's, behind a relay we
    // can cut (so the outage can be staged against any server).
    let (embedded, upstream, path) = match &arg {
        None => {
            let server = EchoServer::start("127.0.0.1:0").expect("start the echo server");
            say(&format!(
                "embedded seed-protocol echo server on {}",
                server.url()
            ));
            let addr = server.local_addr();
            (Some(server), addr, "/".to_string())
        }
        Some(url) => {
            wsbeat::check_url(url).unwrap_or_else(|e| fail(&e.to_string()));
            let u = url::Url::parse(url).unwrap_or_else(|e| fail(&e.to_string()));
            if u.scheme() != "ws" {
                fail(
                    "the demo relays plain ws:// only (the relay cannot stage an outage inside TLS)",
                );
            }
            let host = u.host_str().unwrap_or_default();
            let port = u.port_or_known_default().unwrap_or(80);
            let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                .ok()
                .and_then(|mut a| a.next())
                .unwrap_or_else(|| fail(&format!("cannot resolve {host}")));
            let mut path = u.path().to_string();
            if let Some(q) = u.query() {
                path = format!("{path}?{q}");
            }
            (None, addr, path)
        }
    };
    let relay = Relay::start(upstream).expect("start the relay");
    let url = format!("ws://{}{}", relay.addr, path);

    // The demo prints heartbeat answers as they come.
    let client = Client::builder(&url)
        .pong_events(true)
        .heartbeat(Heartbeat::seed_json(
            Duration::from_millis(500),
            Duration::from_millis(300),
        ))
        .reconnect(
            Reconnect::exponential()
                .initial(Duration::from_millis(250))
                .max(Duration::from_secs(2))
                .jitter(0.2),
        )
        .connect()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let events = client.events().expect("channel mode");
    let show = |ev: &Event| say(&describe(ev));
    let wait = |what: &str, within: Duration, pred: &dyn Fn(&Event) -> bool| {
        wait_for(&events, within, &show, pred)
            .unwrap_or_else(|| fail(&format!("no {what} within {within:?}")))
    };

    wait("open", Duration::from_secs(10), &|e| {
        matches!(e, Event::Opened { .. })
    });
    say(r#"send {"ModeCode":"message","msg":"hello world"}"#);
    client
        .send_text(r#"{"ModeCode":"message","msg":"hello world"}"#)
        .unwrap();
    wait("echo", Duration::from_secs(5), &|e| {
        matches!(e, Event::Text(_))
    });
    say("idle for 1.6 s: the heartbeat keeps the connection proven alive");
    drain_for(&events, Duration::from_millis(1600), &show);

    say("OUTAGE: the server goes silent (connection stays open, nothing comes back)");
    relay.set_mode(Mode::BlackHole);
    wait("heartbeat timeout", Duration::from_secs(5), &|e| {
        matches!(e, Event::HeartbeatTimeout { .. })
    });
    say("the server stays away: new connections are refused");
    relay.set_mode(Mode::Refuse);
    for i in 1..=3 {
        let m = format!(r#"{{"ModeCode":"message","msg":"queued during outage #{i}"}}"#);
        client.send_text(&m).unwrap();
        say(&format!(
            "send while down -> outbox ({} queued)",
            client.stats().outbox_len
        ));
    }
    drain_for(&events, Duration::from_secs(3), &show);
    say("the server is back");
    relay.set_mode(Mode::Pass);
    wait("reconnect", Duration::from_secs(10), &|e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    let mut delivered = 0;
    while delivered < 3 {
        if let Event::Text(_) = wait("queued echo", Duration::from_secs(5), &|e| {
            matches!(e, Event::Text(_))
        }) {
            delivered += 1;
        }
    }
    say("all queued messages delivered, in order");
    let s = client.stats();
    say(&format!(
        "stats: connects {}, reconnects {}, missed heartbeats {}, out {} / in {} messages, smoothed RTT {:?}",
        s.connects,
        s.reconnects,
        s.missed_heartbeats,
        s.messages_out,
        s.messages_in,
        s.smoothed_rtt
    ));
    client.close(1000, "demo done").unwrap();
    wait("stop", Duration::from_secs(5), &|e| {
        matches!(e, Event::Stopped { .. })
    });
    drop(embedded);
}

fn fail(msg: &str) -> ! {
    eprintln!("demo: {msg}");
    std::process::exit(1)
}

fn describe(ev: &Event) -> String {
    match ev {
        Event::Connecting { attempt, .. } => format!("connecting (attempt {attempt})"),
        Event::Opened {
            reconnect, attempt, ..
        } => {
            format!("OPEN (reconnect: {reconnect}, after {attempt} attempts)")
        }
        Event::Text(t) => format!("message: {t}"),
        Event::Binary(b) => format!("binary message: {} bytes", b.len()),
        Event::Pong { rtt } => format!("heartbeat answered, RTT {rtt:?}"),
        Event::HeartbeatTimeout { silent_for } => {
            format!("HEARTBEAT TIMEOUT: peer silent for {silent_for:?} -> dropping the connection")
        }
        Event::Closed {
            code,
            initiator,
            will_reconnect,
            ..
        } => {
            format!("closed (code {code}, {initiator:?}, reconnect follows: {will_reconnect})")
        }
        Event::Reconnecting { attempt, delay } => {
            format!("backoff: attempt {attempt} in {delay:?}")
        }
        Event::Error { kind, message } => format!("error [{kind}]: {message}"),
        Event::Stopped { reason, unsent } => {
            format!("stopped ({}), {} unsent", reason.as_str(), unsent.len())
        }
        other => format!("{other:?}"),
    }
}

fn wait_for(
    rx: &wsbeat::Events,
    within: Duration,
    show: &dyn Fn(&Event),
    pred: &dyn Fn(&Event) -> bool,
) -> Option<Event> {
    let deadline = Instant::now() + within;
    while let Ok(ev) = rx.recv_deadline(deadline) {
        show(&ev);
        if pred(&ev) {
            return Some(ev);
        }
    }
    None
}

fn drain_for(rx: &wsbeat::Events, d: Duration, show: &dyn Fn(&Event)) {
    let deadline = Instant::now() + d;
    while let Ok(ev) = rx.recv_deadline(deadline) {
        show(&ev);
    }
}

/// What the relay does with traffic.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    /// Keep connections open but forward nothing (a half-open path).
    BlackHole,
    /// Cut existing connections and refuse new ones.
    Refuse,
}

/// A TCP relay between the client and the server that can stage an outage.
struct Relay {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(upstream: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (m, c) = (mode.clone(), conns.clone());
        thread::spawn(move || {
            for down in listener.incoming().flatten() {
                if *m.lock().unwrap() != Mode::Pass {
                    let _ = down.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(up) = TcpStream::connect(upstream) else {
                    continue;
                };
                let open = Arc::new(AtomicBool::new(true));
                for (from, to) in [(&down, &up), (&up, &down)] {
                    let (from, to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    let (m, open) = (m.clone(), open.clone());
                    thread::spawn(move || pump(from, to, &m, &open));
                }
                let mut all = c.lock().unwrap();
                all.push(down);
                all.push(up);
            }
        });
        Ok(Relay { addr, mode, conns })
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        if mode == Mode::Refuse {
            for s in self.conns.lock().unwrap().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, mode: &Mutex<Mode>, open: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    while open.load(Ordering::SeqCst) {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if *mode.lock().unwrap() == Mode::BlackHole {
            continue; // swallowed: the peer never hears of it
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    open.store(false, Ordering::SeqCst);
    let _ = to.shutdown(Shutdown::Both);
}
