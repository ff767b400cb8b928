//! Interop with real peers written by others: the Node.js `ws` package (plain echo, and the
//! seed article's JSON heartbeat protocol as its `server.js` speaks it) and the Python
//! `websockets` package. Echo, heartbeat, restart-reconnect.
//!
//! The peers are installed by `scripts/tests.d/60-interop.sh` (npm into
//! `tests/interop/node_modules`, pip into `.venv-interop/`), which runs this file with
//! `WSBEAT_INTEROP_REQUIRED=1`. Without them (a plain `cargo test` on a developer's machine),
//! each test prints that it was SKIPPED and why; with the variable set, or in CI (`CI=true`),
//! a missing peer fails the test.
//!
//! Servers listen on 127.0.0.1, ephemeral ports; they are killed by PID (`Child::kill`) and
//! exit on their own when their stdin closes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wsbeat::{Client, Event, Heartbeat};
use wsbeat_testkit::{Events, Ledger, fast_reconnect, ms, serial};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    NodeEcho,
    NodeSeed,
    Python,
}

impl Peer {
    /// The program and arguments before the port, or why the peer is unavailable.
    fn command(self) -> Result<(PathBuf, Vec<String>), String> {
        let dir = root().join("tests/interop");
        match self {
            Peer::NodeEcho | Peer::NodeSeed => {
                if !dir.join("node_modules/ws/package.json").exists() {
                    return Err(
                        "Node `ws` not installed (run scripts/tests.d/60-interop.sh)".into(),
                    );
                }
                let node = which("node").ok_or("node not found on PATH")?;
                Ok((node, vec![dir.join("ws_server.js").display().to_string()]))
            }
            Peer::Python => {
                let py = root().join(".venv-interop/bin/python");
                if !py.exists() {
                    return Err(
                        "Python venv with `websockets` missing (run scripts/tests.d/60-interop.sh)"
                            .into(),
                    );
                }
                Ok((py, vec![dir.join("py_server.py").display().to_string()]))
            }
        }
    }

    fn mode(self) -> Option<&'static str> {
        match self {
            Peer::NodeEcho => Some("echo"),
            Peer::NodeSeed => Some("seed"),
            Peer::Python => None,
        }
    }
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(prog))
            .find(|p| p.is_file())
    })
}

/// Whether a missing peer must fail instead of skipping, and what says so: in CI (`CI=true`,
/// as CI and `.ci/run` set it) or with `WSBEAT_INTEROP_REQUIRED=1` (the test step sets it).
fn required() -> Option<&'static str> {
    required_by(
        std::env::var("CI").ok().as_deref(),
        std::env::var("WSBEAT_INTEROP_REQUIRED").ok().as_deref(),
    )
}

fn required_by(ci: Option<&str>, required: Option<&str>) -> Option<&'static str> {
    let on = |v: Option<&str>| v.is_some_and(|v| !matches!(v.trim(), "" | "0" | "false"));
    if on(required) {
        Some("WSBEAT_INTEROP_REQUIRED is set")
    } else if on(ci) {
        Some("CI is set")
    } else {
        None
    }
}

#[test]
fn a_missing_peer_fails_in_ci_or_when_required() {
    assert_eq!(required_by(None, None), None);
    assert_eq!(required_by(Some("false"), Some("0")), None);
    assert_eq!(required_by(Some(""), None), None);
    assert!(required_by(Some("true"), None).is_some());
    assert!(required_by(Some("1"), None).is_some());
    assert!(required_by(None, Some("1")).is_some());
    assert!(required_by(Some("false"), Some("1")).is_some());
}

/// `Some(peer)` if it can run; otherwise prints SKIPPED (or panics when required).
fn available(peer: Peer) -> bool {
    match peer.command() {
        Ok(_) => true,
        Err(why) => {
            if let Some(by) = required() {
                panic!("interop peer {peer:?} unavailable ({by}): {why}");
            }
            eprintln!("SKIPPED interop with {peer:?}: {why}");
            println!("SKIPPED interop with {peer:?}: {why}");
            false
        }
    }
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn spawn(peer: Peer, port: u16) -> Server {
        let (prog, mut args) = peer.command().unwrap();
        args.push(port.to_string());
        if let Some(m) = peer.mode() {
            args.push(m.into());
        }
        let mut child = Command::new(prog)
            .args(&args)
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn interop server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(p) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(p.trim().parse::<u16>().unwrap());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(port) => Server { child, port },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{peer:?} server did not start");
            }
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Kill by PID (SIGKILL) and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn echo(peer: Peer) {
    if !available(peer) {
        return;
    }
    let _g = serial();
    let server = Server::spawn(peer, 0);
    let client = Client::builder(server.url())
        .pong_events(true)
        .heartbeat(Heartbeat::ping(ms(200), ms(150)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    let mut ledger = Ledger::new("interop");
    for _ in 0..50 {
        ledger.send(&client);
    }
    client.send_binary(vec![0u8, 1, 2, 255]).unwrap();
    let big = "é".repeat(40_000); // multi-frame-sized, multi-byte UTF-8
    client.send_text(big.clone()).unwrap();
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if *t == big));
    let got: Vec<String> = ev.texts().into_iter().filter(|t| t != &big).collect();
    assert_eq!(got, ledger.sent(), "echoed once, in order");
    assert_eq!(
        ev.count(|e| matches!(e, Event::Binary(b) if b == &[0u8, 1, 2, 255])),
        1
    );
    // Pings are answered by the peer's library.
    ev.wait(ms(3000), |e| matches!(e, Event::Pong { .. }));
    client.close(1000, "bye").unwrap();
    ev.wait(ms(2000), |e| matches!(e, Event::Stopped { .. }));
    assert_eq!(client.stats().last_close_code, Some(1000));
}

fn restart_reconnect(peer: Peer) {
    if !available(peer) {
        return;
    }
    let _g = serial();
    let mut server = Server::spawn(peer, 0);
    let port = server.port;
    let hb = match peer {
        Peer::NodeSeed => Heartbeat::seed_json(ms(200), ms(150)),
        _ => Heartbeat::ping(ms(200), ms(150)),
    };
    let client = Client::builder(server.url())
        .heartbeat(hb)
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    let msg = |i: usize| format!(r#"{{"ModeCode":"message","msg":"r{i}"}}"#);
    client.send_text(msg(0)).unwrap();
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if *t == msg(0)));
    let t0 = Instant::now();
    server.kill();
    ev.wait(ms(3000), |e| {
        matches!(
            e,
            Event::Closed {
                code: 1006,
                will_reconnect: true,
                ..
            }
        )
    });
    let detected = t0.elapsed();
    for i in 1..=10 {
        client.send_text(msg(i)).unwrap();
    }
    let server2 = Server::spawn(peer, port);
    let t1 = Instant::now();
    ev.wait(ms(5000), |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    let reopened = t1.elapsed();
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if *t == msg(10)));
    let want: Vec<String> = (0..=10).map(msg).collect();
    assert_eq!(ev.texts(), want, "outbox delivered once, in order");
    eprintln!("{peer:?}: kill detected in {detected:?}, reopened {reopened:?} after restart");
    client.close(1000, "bye").unwrap();
    drop(server2);
}

/// The seed protocol against a `ws` server that speaks it like `server.js`: JSON heartbeats are
/// answered by the application echo, matched, reported as Pong (not as messages); an
/// application message is delivered.
#[test]
fn node_seed_protocol_heartbeat() {
    let peer = Peer::NodeSeed;
    if !available(peer) {
        return;
    }
    let _g = serial();
    let server = Server::spawn(peer, 0);
    let client = Client::builder(server.url())
        .pong_events(true)
        .heartbeat(Heartbeat::seed_json(ms(100), ms(80)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    for _ in 0..5 {
        ev.wait(ms(2000), |e| matches!(e, Event::Pong { .. }));
    }
    let hello = r#"{"ModeCode":"message","msg":"hello world"}"#;
    client.send_text(hello).unwrap();
    ev.wait(ms(2000), |e| matches!(e, Event::Text(t) if t == hello));
    assert_eq!(ev.texts(), [hello], "heartbeat replies are not messages");
    assert_eq!(ev.count(|e| matches!(e, Event::HeartbeatTimeout { .. })), 0);
    assert!(client.stats().last_rtt.is_some());
    client.close(1000, "bye").unwrap();
}

#[test]
fn node_ws_echo() {
    echo(Peer::NodeEcho);
}

#[test]
fn node_ws_restart_reconnect() {
    restart_reconnect(Peer::NodeEcho);
}

#[test]
fn node_seed_restart_reconnect() {
    restart_reconnect(Peer::NodeSeed);
}

#[test]
fn python_websockets_echo() {
    echo(Peer::Python);
}

#[test]
fn python_websockets_restart_reconnect() {
    restart_reconnect(Peer::Python);
}
