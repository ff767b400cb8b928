//! permessage-deflate (RFC 7692) end to end.
//!
//! - Against a raw in-test server (no peer needed): the RFC's compressed "Hello" sent in the
//!   same TCP write as the 101 answer, bad or unsolicited answers refused, the offer header.
//! - Interop with Python `websockets` (compression on by default) and Node `ws`
//!   (`perMessageDeflate`): echo of text and binary, small and 1 MiB, with and without context
//!   takeover (both directions at once and each on its own: `server_no_context_takeover`,
//!   `client_no_context_takeover`), smaller windows; a server sending a compressed message that inflates past
//!   `max_message_size` is refused (1009) without the memory growing.
//!
//! Peers as in `tests/interop.rs` (installed by `scripts/tests.d/05-peers.sh`; a missing peer
//! is SKIPPED on a developer's machine, a failure in CI or with `WSBEAT_INTEROP_REQUIRED=1`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wsbeat::{Client, Compression, ErrorKind, Event, Heartbeat, Reconnect};
use wsbeat_testkit::{Events, fast_reconnect, ms, rss_kib, serial};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- raw in-test server

/// Accept one connection, read the request, answer 101 with `extensions` (if any) followed,
/// in the same write, by `frames`; returns the request and keeps the socket open until
/// `hold` elapses.
fn raw_server(
    extensions: Option<&'static str>,
    frames: &'static [u8],
) -> (u16, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = Vec::new();
        let mut b = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).unwrap(), 1, "request cut short");
            req.push(b[0]);
        }
        let req = String::from_utf8(req).unwrap();
        let key = req
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim())
            })
            .unwrap();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n"
        );
        if let Some(e) = extensions {
            resp.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
        }
        resp.push_str("\r\n");
        let mut out = resp.into_bytes();
        out.extend_from_slice(frames);
        s.write_all(&out).unwrap();
        // Hold the connection until the client goes.
        let _ = s.read(&mut [0u8; 64]);
        req
    });
    (port, t)
}

fn raw_client(url: String, c: Compression) -> (Client, Events) {
    let client = Client::builder(url)
        .heartbeat(Heartbeat::off())
        .reconnect(Reconnect::disabled())
        .compression(c)
        .connect()
        .unwrap();
    let ev = Events::new(client.events().unwrap());
    (client, ev)
}

/// RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello", then "Hello" again referring back to the first,
/// written together with the 101 answer (the layer must not let tungstenite see them raw).
#[test]
fn rfc_vectors_right_after_the_handshake() {
    static FRAMES: [u8; 16] = [
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // Hello
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00, // Hello, with context takeover
    ];
    let (port, t) = raw_server(Some("permessage-deflate"), &FRAMES);
    let (client, mut ev) = raw_client(format!("ws://127.0.0.1:{port}"), Compression::deflate());
    let (_, opened) = ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    assert!(
        matches!(
            opened,
            Event::Opened {
                compression: true,
                ..
            }
        ),
        "{opened:?}"
    );
    assert!(client.stats().compression);
    ev.wait(ms(5000), |e| matches!(e, Event::Text(_)));
    ev.wait(ms(5000), |e| matches!(e, Event::Text(_)));
    assert_eq!(ev.texts(), ["Hello", "Hello"]);
    drop(client);
    let req = t.join().unwrap().to_ascii_lowercase();
    assert!(
        req.contains("sec-websocket-extensions: permessage-deflate; client_max_window_bits\r\n"),
        "{req}"
    );
}

#[test]
fn no_offer_when_off_and_a_plain_answer_means_plain() {
    static FRAMES: [u8; 7] = [0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
    let (port, t) = raw_server(None, &FRAMES);
    let (client, mut ev) = raw_client(format!("ws://127.0.0.1:{port}"), Compression::deflate());
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if t == "Hello"));
    assert!(!client.stats().compression, "offered, not accepted");
    let plain_open = |e: &Event| {
        matches!(
            e,
            Event::Opened {
                compression: false,
                ..
            }
        )
    };
    assert_eq!(ev.count(plain_open), 1, "Opened says not negotiated");
    drop(client);
    t.join().unwrap();
    let (port, t) = raw_server(None, &FRAMES);
    let (client, mut ev) = raw_client(format!("ws://127.0.0.1:{port}"), Compression::off());
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if t == "Hello"));
    assert!(!client.stats().compression);
    assert_eq!(ev.count(plain_open), 1, "Opened says not negotiated");
    drop(client);
    let req = t.join().unwrap().to_ascii_lowercase();
    assert!(!req.contains("sec-websocket-extensions"), "{req}");
}

#[test]
fn bad_or_unsolicited_answers_are_refused() {
    let cases: [(&'static str, Compression, &str); 4] = [
        ("permessage-deflate", Compression::off(), "not offered"),
        (
            "permessage-deflate; bogus",
            Compression::deflate(),
            "unknown",
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            Compression::deflate(),
            "invalid value",
        ),
        (
            "permessage-deflate",
            Compression::deflate().no_context_takeover(true),
            "server_no_context_takeover",
        ),
    ];
    for (answer, c, what) in cases {
        let (port, t) = raw_server(Some(answer), &[]);
        let (client, mut ev) = raw_client(format!("ws://127.0.0.1:{port}"), c);
        let (_, e) = ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
        let Event::Error { kind, message } = e else {
            unreachable!()
        };
        assert_eq!(kind, ErrorKind::Handshake, "{answer}: {message}");
        assert!(message.contains("Sec-WebSocket-Extensions"), "{message}");
        assert!(message.contains(what), "{answer}: {message}");
        assert_eq!(ev.opens(), 0, "{answer}: never opened");
        drop(client);
        t.join().unwrap();
    }
}

#[test]
fn invalid_settings_are_refused_at_build_time() {
    for c in [
        Compression::deflate().window_bits(8),
        Compression::deflate().window_bits(16),
        Compression::deflate().level(10),
    ] {
        let r = Client::builder("ws://127.0.0.1:9").compression(c).connect();
        assert!(matches!(r, Err(wsbeat::Error::InvalidConfig(_))));
    }
}

// ---------------------------------------------------------------- interop peers

fn required() -> bool {
    let on = |k: &str| {
        std::env::var(k)
            .ok()
            .is_some_and(|v| !matches!(v.trim(), "" | "0" | "false"))
    };
    on("WSBEAT_INTEROP_REQUIRED") || on("CI")
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    Python,
    Node,
}

impl Peer {
    fn command(self) -> Result<(PathBuf, PathBuf), String> {
        let dir = root().join("tests/interop");
        match self {
            Peer::Python => {
                let py = root().join(".venv-interop/bin/python");
                if !py.exists() {
                    return Err("no .venv-interop (run scripts/tests.d/05-peers.sh)".into());
                }
                Ok((py, dir.join("deflate_server.py")))
            }
            Peer::Node => {
                if !dir.join("node_modules/ws/package.json").exists() {
                    return Err("Node `ws` not installed (run scripts/tests.d/05-peers.sh)".into());
                }
                Ok((PathBuf::from("node"), dir.join("deflate_server.js")))
            }
        }
    }

    fn available(self) -> bool {
        match self.command() {
            Ok(_) => true,
            Err(why) if required() => panic!("interop peer {self:?} unavailable: {why}"),
            Err(why) => {
                println!("SKIPPED deflate interop with {self:?}: {why}");
                false
            }
        }
    }
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn spawn(peer: Peer, mode: &str) -> Server {
        let (prog, script) = peer.command().unwrap();
        let mut child = Command::new(prog)
            .arg(script)
            .arg("0")
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
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
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{peer:?} {mode} server did not start")
            });
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 1 MiB of JSON-like text (the seed's messages).
fn json_text(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            r#"{{"ModeCode":"message","msg":"hello world {i}","seq":{}}},"#,
            i * 7
        ));
        i += 1;
    }
    s.truncate(n);
    s
}

/// Bytes that do not compress (a xorshift stream).
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Echo of text and binary, small and 1 MiB, twice (so context takeover is exercised);
/// returns the server's `?ext` answer.
fn echo_suite(peer: Peer, mode: &str, c: Compression) -> (String, Client, Events, Server) {
    let server = Server::spawn(peer, mode);
    let client = Client::builder(server.url())
        .pong_events(true) // a heartbeat answer shows the context survived the suite
        .heartbeat(Heartbeat::ping(ms(1000), ms(900)))
        .reconnect(fast_reconnect())
        .compression(c)
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, opened) = ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    assert!(
        matches!(
            opened,
            Event::Opened {
                compression: true,
                ..
            }
        ),
        "{peer:?} {mode}: {opened:?}"
    );
    assert!(client.stats().compression, "{peer:?} {mode}: negotiated");
    let big_text = json_text(1 << 20);
    let big_bin = noise(1 << 20);
    let mut big_json_bin = json_text(1 << 20).into_bytes();
    big_json_bin[0] = 0xff;
    for round in 0..2 {
        let small = format!(r#"{{"ModeCode":"message","msg":"hi {round}"}}"#);
        client.send_text(small.clone()).unwrap();
        ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if *t == small));
        client.send_text("x").unwrap(); // below min_size: sent plain
        ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if t == "x"));
        client.send_binary(vec![1u8, 2, 3]).unwrap();
        ev.wait(
            ms(5000),
            |e| matches!(e, Event::Binary(b) if b == &[1u8, 2, 3]),
        );
        client.send_text(big_text.clone()).unwrap();
        ev.wait(ms(10000), |e| matches!(e, Event::Text(t) if *t == big_text));
        client.send_binary(big_bin.clone()).unwrap();
        ev.wait(
            ms(10000),
            |e| matches!(e, Event::Binary(b) if *b == big_bin),
        );
        client.send_binary(big_json_bin.clone()).unwrap();
        ev.wait(
            ms(10000),
            |e| matches!(e, Event::Binary(b) if *b == big_json_bin),
        );
    }
    client.send_text("?ext").unwrap();
    let (_, e) = ev.wait(
        ms(5000),
        |e| matches!(e, Event::Text(t) if t.contains("deflate")),
    );
    let Event::Text(ext) = e else { unreachable!() };
    ev.wait(ms(3000), |e| matches!(e, Event::Pong { .. }));
    assert_eq!(ev.count(|e| matches!(e, Event::Error { .. })), 0);
    assert_eq!(ev.opens(), 1);
    (ext, client, ev, server)
}

fn finish(client: Client, mut ev: Events, _server: Server) {
    client.close(1000, "bye").unwrap();
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
    assert_eq!(client.stats().last_close_code, Some(1000));
}

#[test]
fn python_websockets_defaults() {
    if !Peer::Python.available() {
        return;
    }
    let _g = serial();
    let (ext, client, ev, server) = echo_suite(Peer::Python, "default", Compression::deflate());
    // websockets' server asks for 12-bit windows both ways when the client allows it.
    assert!(ext.contains("server_max_window_bits=12"), "{ext}");
    assert!(ext.contains("client_max_window_bits=12"), "{ext}");
    finish(client, ev, server);
}

#[test]
fn python_websockets_no_context_takeover() {
    if !Peer::Python.available() {
        return;
    }
    let _g = serial();
    let (ext, client, ev, server) = echo_suite(Peer::Python, "no_takeover", Compression::deflate());
    assert!(ext.contains("server_no_context_takeover"), "{ext}");
    assert!(ext.contains("client_no_context_takeover"), "{ext}");
    finish(client, ev, server);
    // And asked for by us.
    let c = Compression::deflate()
        .no_context_takeover(true)
        .window_bits(11);
    let (ext, client, ev, server) = echo_suite(Peer::Python, "default", c);
    assert!(ext.contains("server_no_context_takeover"), "{ext}");
    assert!(ext.contains("server_max_window_bits=11"), "{ext}");
    finish(client, ev, server);
}

/// One direction at a time without context takeover (the other keeps it): `server_` means the
/// server resets its compressor per message (our inflater must not rely on the window),
/// `client_` that we must reset ours (the server's inflater does not keep our window, so a
/// back-reference across messages would corrupt the echo).
#[test]
fn python_websockets_one_direction_without_context_takeover() {
    if !Peer::Python.available() {
        return;
    }
    let _g = serial();
    for (mode, on, off) in [
        (
            "server_no_takeover",
            "server_no_context_takeover",
            "client_no_context_takeover",
        ),
        (
            "client_no_takeover",
            "client_no_context_takeover",
            "server_no_context_takeover",
        ),
    ] {
        let (ext, client, ev, server) = echo_suite(Peer::Python, mode, Compression::deflate());
        assert!(ext.contains(on), "{mode}: {ext}");
        assert!(!ext.contains(off), "{mode}: {ext}");
        finish(client, ev, server);
    }
}

#[test]
fn node_ws_one_direction_without_context_takeover() {
    if !Peer::Node.available() {
        return;
    }
    let _g = serial();
    for (mode, on, off) in [
        (
            "server_no_takeover",
            "server_no_context_takeover",
            "client_no_context_takeover",
        ),
        (
            "client_no_takeover",
            "client_no_context_takeover",
            "server_no_context_takeover",
        ),
    ] {
        let ext = node(mode, Compression::deflate());
        let answer: serde_json::Value = serde_json::from_str(&ext).unwrap();
        let answer = answer["answer"].as_str().unwrap().to_string();
        assert!(answer.contains(on), "{mode}: {answer}");
        assert!(!answer.contains(off), "{mode}: {answer}");
    }
}

fn node(mode: &str, c: Compression) -> String {
    let (ext, client, mut ev, server) = echo_suite(Peer::Node, mode, c);
    // What our compression saved, as the server's socket counted it: 2 x (1 MiB JSON text +
    // 1 MiB noise + 1 MiB JSON binary) and the small ones were sent.
    client.send_text("?read").unwrap();
    let (_, e) = ev.wait(
        ms(5000),
        |e| matches!(e, Event::Text(t) if t.bytes().all(|b| b.is_ascii_digit())),
    );
    let Event::Text(read) = e else { unreachable!() };
    let read: u64 = read.parse().unwrap();
    let raw = 6u64 << 20;
    eprintln!("node {mode}: the server read {read} bytes for {raw} of payload");
    assert!(
        read < raw * 6 / 10,
        "compressed on the wire: {read} of {raw}"
    );
    assert!(read > 2 << 20, "the noise does not compress: {read}");
    finish(client, ev, server);
    ext
}

#[test]
fn node_ws_context_takeover() {
    if !Peer::Node.available() {
        return;
    }
    let _g = serial();
    let ext = node("takeover", Compression::deflate());
    assert!(ext.contains("permessage-deflate"), "{ext}");
    assert!(!ext.contains("no_context_takeover"), "{ext}");
}

#[test]
fn node_ws_no_context_takeover_and_small_windows() {
    if !Peer::Node.available() {
        return;
    }
    let _g = serial();
    let ext = node("no_takeover", Compression::deflate());
    assert!(ext.contains("server_no_context_takeover"), "{ext}");
    assert!(ext.contains("client_no_context_takeover"), "{ext}");
    let ext = node("bits10", Compression::deflate());
    assert!(ext.contains("server_max_window_bits=10"), "{ext}");
    assert!(ext.contains("client_max_window_bits=10"), "{ext}");
    let ext = node("takeover", Compression::deflate().no_context_takeover(true));
    assert!(ext.contains("server_no_context_takeover"), "{ext}");
}

fn bomb(peer: Peer) {
    let _g = serial();
    let server = Server::spawn(peer, "bomb");
    let rss0 = rss_kib();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .reconnect(Reconnect::disabled())
        .compression(Compression::deflate())
        .max_message_size(1 << 20)
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, e) = ev.wait(ms(10000), |e| matches!(e, Event::Error { .. }));
    let Event::Error { kind, message } = e else {
        unreachable!()
    };
    assert_eq!(kind, ErrorKind::MessageTooLarge, "{message}");
    assert!(message.contains("permessage-deflate"), "{message}");
    let (_, closed) = ev.wait(ms(5000), |e| matches!(e, Event::Closed { .. }));
    assert!(
        matches!(closed, Event::Closed { code: 1009, .. }),
        "{closed:?}"
    );
    assert_eq!(
        ev.count(|e| matches!(e, Event::Binary(_))),
        0,
        "nothing delivered"
    );
    let grew = rss_kib().saturating_sub(rss0);
    assert!(grew < 6 << 10, "RSS grew by {grew} KiB for an 8 MiB bomb");
}

#[test]
fn python_websockets_bomb_is_refused() {
    if Peer::Python.available() {
        bomb(Peer::Python);
    }
}

#[test]
fn node_ws_bomb_is_refused() {
    if Peer::Node.available() {
        bomb(Peer::Node);
    }
}
