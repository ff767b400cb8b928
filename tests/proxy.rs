//! Proxies, DNS and addresses in the connect path, against scripted proxies (the testkit's
//! `Hostile`): HTTP CONNECT and SOCKS5 handshakes and their faults (early close, garbage,
//! oversized reply, refused credentials, unreachable proxy, black hole), which of `socks5://`
//! and `socks5h://` resolves locally, a resolver that never answers, Happy Eyeballs.
//! The same through real proxy servers (tinyproxy, microsocks): `tests/real_proxies.rs`.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wsbeat_testkit::builder;

use crossbeam_channel::Receiver;
use wsbeat::{Client, ClientBuilder, ErrorKind, Event, Proxy, Reconnect, StopReason};
use wsbeat_testkit::hostile::{Hostile, Peer};
use wsbeat_testkit::{Events, MARGIN, fast_reconnect, heartbeat, ms, serial};

fn start(url: &str, f: impl FnOnce(ClientBuilder) -> ClientBuilder) -> (Client, Events) {
    let b = builder(url)
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .connect_timeout(ms(1000))
        .close_timeout(ms(500));
    let client = f(b).connect().unwrap();
    let ev = Events::new(client.events().unwrap());
    (client, ev)
}

fn finish(client: Client, ev: &mut Events) {
    client.close(1000, "done").unwrap();
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
}

fn error_of(kind: ErrorKind) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Error { kind: k, .. } if *k == kind)
}

fn message(e: &Event) -> String {
    match e {
        Event::Error { message, .. } => message.clone(),
        other => format!("{other:?}"),
    }
}

/// After the tunnel: play the WebSocket server, say hello, then hold the connection.
fn serve_ws(mut p: Peer) {
    if p.accept_ws().is_ok() {
        let _ = p.text("hello through the tunnel");
        // Answer pings so the heartbeat runs: hold reads and discards; pongs are not needed
        // for these short tests (the heartbeat timeout is not reached before they end).
        p.hold(ms(5000));
    }
}

/// An HTTP CONNECT proxy script: records the request, answers `status`, then (2xx) serves
/// the WebSocket itself.
fn http_proxy(status: &'static str, seen: Arc<Mutex<Vec<String>>>) -> Hostile {
    Hostile::start(move |mut p| {
        let Ok(req) = p.read_request() else { return };
        seen.lock().unwrap().push(req);
        let _ = p.raw(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        if status.starts_with('2') {
            serve_ws(p);
        }
    })
}

fn read_n(p: &mut Peer, n: usize) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    p.stream.set_read_timeout(Some(ms(5000)))?;
    p.stream.read_exact(&mut b)?;
    Ok(b)
}

/// What a scripted SOCKS5 server saw: the auth it got and the CONNECT request's address.
#[derive(Debug, Clone, Default)]
struct SocksSeen {
    methods: Vec<u8>,
    auth: Option<(String, String)>,
    atyp: u8,
    addr: Vec<u8>,
    port: u16,
}

fn socks_exchange(p: &mut Peer, want: Option<(&str, &str)>) -> io::Result<SocksSeen> {
    let mut seen = SocksSeen::default();
    let head = read_n(p, 2)?;
    assert_eq!(head[0], 5);
    seen.methods = read_n(p, head[1] as usize)?;
    if let Some((u, pw)) = want {
        p.raw(&[5, 2])?;
        let v = read_n(p, 2)?;
        assert_eq!(v[0], 1);
        let user = String::from_utf8(read_n(p, v[1] as usize)?).unwrap();
        let plen = read_n(p, 1)?[0] as usize;
        let pass = String::from_utf8(read_n(p, plen)?).unwrap();
        let ok = user == u && pass == pw;
        seen.auth = Some((user, pass));
        p.raw(&[1, if ok { 0 } else { 1 }])?;
        if !ok {
            return Ok(seen);
        }
    } else {
        p.raw(&[5, 0])?;
    }
    let req = read_n(p, 4)?;
    assert_eq!(&req[..3], &[5, 1, 0]);
    seen.atyp = req[3];
    seen.addr = match req[3] {
        1 => read_n(p, 4)?,
        4 => read_n(p, 16)?,
        3 => {
            let n = read_n(p, 1)?[0] as usize;
            read_n(p, n)?
        }
        other => panic!("address type {other}"),
    };
    let port = read_n(p, 2)?;
    seen.port = u16::from_be_bytes([port[0], port[1]]);
    p.raw(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    Ok(seen)
}

fn socks_proxy(
    want: Option<(&'static str, &'static str)>,
    seen: Arc<Mutex<Vec<SocksSeen>>>,
) -> Hostile {
    Hostile::start(move |mut p| {
        let Ok(s) = socks_exchange(&mut p, want) else {
            return;
        };
        let refused = s
            .auth
            .as_ref()
            .is_some_and(|(u, pw)| Some((u.as_str(), pw.as_str())) != want);
        seen.lock().unwrap().push(s);
        if !refused {
            serve_ws(p);
        }
    })
}

fn wait_text(ev: &mut Events) {
    ev.wait(
        ms(5000),
        |e| matches!(e, Event::Text(t) if t == "hello through the tunnel"),
    );
}

#[test]
fn http_connect_with_basic_auth_opens_the_tunnel() {
    let _s = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = http_proxy("200 Connection established", seen.clone());
    let proxy_url = format!("http://alice:s%40cret@{}", proxy.addr());
    let (client, mut ev) = start("ws://target.example:8080/chat", |b| {
        b.proxy(Proxy::url(&proxy_url).unwrap())
    });
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    wait_text(&mut ev);
    finish(client, &mut ev);
    let req = seen.lock().unwrap()[0].clone();
    assert!(
        req.starts_with("CONNECT target.example:8080 HTTP/1.1\r\n"),
        "{req}"
    );
    // alice:s@cret
    assert!(
        req.contains("Proxy-Authorization: Basic YWxpY2U6c0BjcmV0\r\n"),
        "{req}"
    );
    // The proxy's credentials appear in no event.
    assert!(
        ev.seen
            .iter()
            .all(|(_, e)| !format!("{e:?}").contains("cret"))
    );
}

#[test]
fn status_407_is_a_proxy_auth_error_and_is_not_retried() {
    let _s = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = http_proxy("407 Proxy Authentication Required", seen.clone());
    let (client, mut ev) = start("ws://t.example/", |b| {
        b.proxy(Proxy::url(&format!("http://u:wrong@{}", proxy.addr())).unwrap())
    });
    let (_, e) = ev.wait(ms(5000), error_of(ErrorKind::ProxyAuth));
    assert!(message(&e).contains("proxy authentication"), "{e:?}");
    assert!(!message(&e).contains("wrong"), "{e:?}");
    let (_, stop) = ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
    assert!(
        matches!(
            stop,
            Event::Stopped {
                reason: StopReason::PolicyDeclined,
                ..
            }
        ),
        "{stop:?}"
    );
    assert_eq!(proxy.accepted(), 1, "a refused credential is not retried");
    drop(client);
}

#[test]
fn a_refused_connect_is_a_proxy_error_and_is_retried() {
    let _s = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = http_proxy("403 Forbidden", seen);
    let (client, mut ev) = start("ws://t.example/", |b| {
        b.proxy(Proxy::url(&format!("http://{}", proxy.addr())).unwrap())
    });
    let (_, e) = ev.wait(ms(5000), error_of(ErrorKind::Proxy));
    assert!(message(&e).contains("403"), "{e:?}");
    ev.wait(ms(5000), |e| {
        matches!(e, Event::Reconnecting { attempt: 2, .. })
    });
    finish(client, &mut ev);
}

/// Close the connection (the `Hostile` server keeps a handle on every accepted socket, so
/// dropping the peer alone does not).
fn hang_up(p: &Peer) {
    let _ = p.stream.shutdown(std::net::Shutdown::Both);
}

fn scripted_failure(script: impl Fn(Peer) + Send + Sync + 'static, scheme: &str, want: &str) {
    let proxy = Hostile::start(script);
    let url = format!("{scheme}://{}", proxy.addr());
    let (client, mut ev) = start("ws://t.example/", |b| b.proxy(Proxy::url(&url).unwrap()));
    let Some((_, e)) = ev.try_wait(ms(5000), error_of(ErrorKind::Proxy)) else {
        panic!("{scheme}: no proxy error; saw {:#?}", ev.seen);
    };
    assert!(
        message(&e).contains(want),
        "{scheme}: want {want:?} in {e:?}"
    );
    ev.wait(ms(5000), |e| matches!(e, Event::Reconnecting { .. }));
    finish(client, &mut ev);
}

#[test]
fn a_proxy_that_closes_early_sends_garbage_or_too_much_is_a_proxy_error() {
    let _s = serial();
    scripted_failure(
        |mut p| {
            let _ = p.read_request();
            hang_up(&p);
        },
        "http",
        "closed the connection",
    );
    scripted_failure(
        |mut p| {
            let _ = p.read_request();
            let _ = p.raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
        },
        "http",
        "not HTTP",
    );
    scripted_failure(
        |mut p| {
            let _ = p.read_request();
            let _ = p.raw(b"HTTP/1.1 200 OK\r\n");
            let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
            for _ in 0..64 {
                if p.raw(line.as_bytes()).is_err() {
                    break;
                }
            }
        },
        "http",
        "exceeds",
    );
    scripted_failure(
        |mut p| {
            let _ = read_n(&mut p, 3);
            hang_up(&p);
        },
        "socks5h",
        "closed the connection",
    );
    scripted_failure(
        |mut p| {
            let _ = read_n(&mut p, 3);
            let _ = p.raw(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        },
        "socks5h",
        "not SOCKS5",
    );
}

#[test]
fn an_unreachable_proxy_is_a_proxy_error_naming_it() {
    let _s = serial();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://bob:hunter2@127.0.0.1:{port}");
    let (client, mut ev) = start("ws://t.example/", |b| b.proxy(Proxy::url(&url).unwrap()));
    let (_, e) = ev.wait(ms(5000), error_of(ErrorKind::Proxy));
    let m = message(&e);
    assert!(
        m.contains(&format!("127.0.0.1:{port}")) && m.contains("proxy"),
        "{m}"
    );
    assert!(!m.contains("hunter2") && !m.contains("bob"), "{m}");
    finish(client, &mut ev);
}

#[test]
fn a_black_holed_proxy_times_out_and_close_interrupts_it() {
    let _s = serial();
    let proxy = Hostile::start(|mut p| {
        p.hold(ms(10_000));
    });
    let url = format!("http://{}", proxy.addr());
    let (client, mut ev) = start("ws://t.example/", |b| {
        b.proxy(Proxy::url(&url).unwrap()).connect_timeout(ms(300))
    });
    let t0 = Instant::now();
    let (t, e) = ev.wait(ms(5000), error_of(ErrorKind::ConnectTimeout));
    assert!(message(&e).contains("proxy handshake"), "{e:?}");
    assert!(t - t0 < ms(300) + MARGIN, "timed out after {:?}", t - t0);
    // Next attempt: close() while it waits on the proxy.
    ev.wait(ms(3000), |e| {
        matches!(e, Event::Connecting { attempt: 1, .. })
    });
    let t0 = Instant::now();
    client.close(1000, "bye").unwrap();
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
    assert!(t0.elapsed() < MARGIN, "close took {:?}", t0.elapsed());
}

#[test]
fn socks5_with_and_without_auth() {
    let _s = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = socks_proxy(None, seen.clone());
    let (client, mut ev) = start("ws://t.example:81/", |b| {
        b.proxy(Proxy::url(&format!("socks5h://{}", proxy.addr())).unwrap())
    });
    wait_text(&mut ev);
    finish(client, &mut ev);
    assert_eq!(seen.lock().unwrap()[0].methods, [0]);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = socks_proxy(Some(("carol", "pa55")), seen.clone());
    let (client, mut ev) = start("ws://t.example:81/", |b| {
        b.proxy(Proxy::url(&format!("socks5h://carol:pa55@{}", proxy.addr())).unwrap())
    });
    wait_text(&mut ev);
    finish(client, &mut ev);
    let s = seen.lock().unwrap()[0].clone();
    assert_eq!(s.methods, [0, 2]);
    assert_eq!(s.auth, Some(("carol".into(), "pa55".into())));

    // Refused credentials: ProxyAuth, not retried.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = socks_proxy(Some(("carol", "pa55")), seen);
    let (client, mut ev) = start("ws://t.example:81/", |b| {
        b.proxy(Proxy::url(&format!("socks5h://carol:nope@{}", proxy.addr())).unwrap())
    });
    ev.wait(ms(5000), error_of(ErrorKind::ProxyAuth));
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
    assert_eq!(proxy.accepted(), 1);
    drop(client);
}

#[test]
fn socks5_resolves_locally_and_socks5h_lets_the_proxy_resolve() {
    let _s = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = socks_proxy(None, seen.clone());
    for scheme in ["socks5", "socks5h"] {
        let url = format!("{scheme}://{}", proxy.addr());
        let (client, mut ev) = start("ws://localhost:4242/", |b| {
            b.proxy(Proxy::url(&url).unwrap())
        });
        wait_text(&mut ev);
        finish(client, &mut ev);
    }
    let seen = seen.lock().unwrap();
    // socks5://: an address (IPv4 127.0.0.1 or IPv6 ::1), resolved here.
    assert!(matches!(seen[0].atyp, 1 | 4), "{:?}", seen[0]);
    assert!(
        seen[0].addr == [127, 0, 0, 1] || seen[0].addr.len() == 16,
        "{:?}",
        seen[0]
    );
    // socks5h://: the name, for the proxy to resolve.
    assert_eq!(
        (seen[1].atyp, seen[1].addr.as_slice()),
        (3, &b"localhost"[..])
    );
    assert_eq!((seen[0].port, seen[1].port), (4242, 4242));
}

#[test]
fn an_invalid_proxy_url_is_refused_up_front() {
    for bad in [
        "ftp://p:1",
        "https://p:3128/path",
        "http://p:1/path",
        "socks5://only-user@p:1",
    ] {
        let e = Proxy::url(bad).unwrap_err();
        assert!(matches!(e, wsbeat::Error::InvalidUrl(_)), "{bad}: {e:?}");
    }
}

// ---- https:// proxies: TLS to the proxy first ----------------------------------------------
// (End to end through stunnel and tinyproxy: tests/real_proxies.rs.)

fn first_error(ev: &mut Events) -> (ErrorKind, String) {
    let (_, e) = ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
    match e {
        Event::Error { kind, message } => (kind, message),
        _ => unreachable!(),
    }
}

#[test]
fn an_https_proxy_gets_tls_first_and_an_untrusted_certificate_is_a_certificate_error() {
    let _s = serial();
    // The "proxy" is a TLS server with a self-signed certificate nobody trusts.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = wsbeat_testkit::tls_server::server_config(
        &cert.cert.pem(),
        &cert.signing_key.serialize_pem(),
        None,
    );
    let proxy = wsbeat_testkit::tls_server::TlsEchoServer::start(config);
    let url = format!("https://alice:hunter2@localhost:{}", proxy.port());
    let (client, mut ev) = start("ws://target.example:80/", |b| {
        b.proxy(Proxy::url(&url).unwrap())
    });
    let (kind, msg) = first_error(&mut ev);
    assert_eq!(kind, ErrorKind::Certificate, "{msg}");
    let shown = format!("TLS to the proxy https://localhost:{}/", proxy.port());
    assert!(msg.contains(&shown), "{msg}");
    assert!(msg.contains("unknown issuer"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    // The proxy saw a TLS handshake (and the client abort it); certificate errors are not
    // retried.
    assert!(!proxy.wait_tls_failures(1, ms(3000)).is_empty());
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
    assert_eq!(ev.count(|e| matches!(e, Event::Connecting { .. })), 1);
    drop(client);
}

#[test]
fn a_plain_http_proxy_addressed_as_https_is_a_tls_error_naming_it() {
    let _s = serial();
    let proxy = Hostile::start(|mut p| {
        let _ = p.raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        p.hold(ms(2000));
    });
    let url = format!("https://{}", proxy.addr());
    let (client, mut ev) = start("ws://target.example:80/", |b| {
        b.proxy(Proxy::url(&url).unwrap())
    });
    let (kind, msg) = first_error(&mut ev);
    assert_eq!(kind, ErrorKind::Tls, "{msg}");
    assert!(
        msg.contains(&format!("TLS to the proxy https://{}/", proxy.addr())),
        "{msg}"
    );
    finish(client, &mut ev);
}

#[test]
fn an_https_proxy_that_never_finishes_tls_times_out_naming_the_tls_handshake() {
    let _s = serial();
    let proxy = Hostile::start(|mut p| {
        p.hold(ms(5000));
    });
    let url = format!("https://{}", proxy.addr());
    let (client, mut ev) = start("ws://target.example:80/", |b| {
        b.proxy(Proxy::url(&url).unwrap()).connect_timeout(ms(400))
    });
    let t0 = Instant::now();
    let (kind, msg) = first_error(&mut ev);
    assert_eq!(kind, ErrorKind::ConnectTimeout, "{msg}");
    assert!(
        msg.contains("during the TLS handshake with the proxy"),
        "{msg}"
    );
    assert!(t0.elapsed() < ms(400) + MARGIN, "{:?}", t0.elapsed());
    finish(client, &mut ev);
}

#[test]
fn proxy_none_connects_directly() {
    let _s = serial();
    let server = Hostile::start(serve_ws);
    let (client, mut ev) = start(&server.url(), |b| b.proxy(Proxy::none()));
    wait_text(&mut ev);
    finish(client, &mut ev);
}

// ---- DNS -----------------------------------------------------------------------------------

/// A resolver that never answers until the test lets it go (then reports failure): the
/// lookups it has been asked for, and the switch that lets them return.
struct Stuck {
    release: crossbeam_channel::Sender<()>,
    gate: Receiver<()>,
    called_tx: crossbeam_channel::Sender<()>,
    /// One message per lookup started.
    called: Receiver<()>,
}

impl Stuck {
    fn new() -> Stuck {
        let (release, gate) = crossbeam_channel::unbounded();
        let (called_tx, called) = crossbeam_channel::unbounded();
        Stuck {
            release,
            gate,
            called_tx,
            called,
        }
    }

    fn resolver(
        &self,
    ) -> impl Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static {
        let (gate, called) = (self.gate.clone(), self.called_tx.clone());
        move |_: &str, _: u16| {
            let _ = called.send(());
            let _ = gate.recv_timeout(ms(20_000));
            Err(io::Error::other("released"))
        }
    }
}

#[test]
fn a_resolver_that_never_answers_is_bounded_by_connect_timeout_and_close() {
    let _s = serial();
    let stuck = Stuck::new();
    let (client, mut ev) = start("ws://never.example/", |b| {
        b.connect_timeout(ms(300)).resolver(stuck.resolver())
    });
    let t0 = Instant::now();
    let (t, e) = ev.wait(ms(5000), error_of(ErrorKind::ConnectTimeout));
    assert!(message(&e).contains("DNS"), "{e:?}");
    assert!(
        t - t0 < ms(300) + MARGIN,
        "DNS timed out after {:?}",
        t - t0
    );
    stuck
        .called
        .recv_timeout(ms(100))
        .expect("the first lookup");
    // close() during the second lookup returns at once.
    stuck
        .called
        .recv_timeout(ms(3000))
        .expect("a second lookup");
    let t0 = Instant::now();
    client.close(1000, "bye").unwrap();
    ev.wait(ms(3000), |e| matches!(e, Event::Stopped { .. }));
    assert!(t0.elapsed() < MARGIN, "close took {:?}", t0.elapsed());
    drop(client);
    drop(stuck.release); // the stuck lookups return and their threads end
}

#[test]
fn resolution_failures_are_dns_errors() {
    let _s = serial();
    let (client, mut ev) = start("ws://x.example/", |b| {
        b.resolver(|h: &str, _| Err(io::Error::other(format!("no such host {h}"))))
    });
    let (_, e) = ev.wait(ms(5000), error_of(ErrorKind::Dns));
    assert!(message(&e).contains("x.example"), "{e:?}");
    finish(client, &mut ev);
    let (client, mut ev) = start("ws://x.example/", |b| {
        b.resolver(|_: &str, _| Ok(Vec::new()))
    });
    let (_, e) = ev.wait(ms(5000), error_of(ErrorKind::Dns));
    assert!(message(&e).contains("no address"), "{e:?}");
    finish(client, &mut ev);
}

// ---- Happy Eyeballs ------------------------------------------------------------------------

/// A loopback address whose connects hang: a listener with a backlog of 0 whose one queue slot
/// is taken (Linux drops further SYNs while the accept queue is full). Checked, not assumed.
fn black_hole() -> (socket2::Socket, std::net::TcpStream, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let filler = std::net::TcpStream::connect(addr).unwrap();
    let mut probes = Vec::new();
    // The queue of a backlog-0 listener holds one connection; one more may complete.
    for _ in 0..3 {
        match std::net::TcpStream::connect_timeout(&addr, ms(200)) {
            Ok(s) => probes.push(s),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut, "black hole: {e}");
                return (l, filler, addr);
            }
        }
    }
    panic!("a full backlog-0 listener still completed connects: no loopback black hole here");
}

#[test]
fn happy_eyeballs_moves_on_after_the_stagger_not_the_connect_timeout() {
    let _s = serial();
    let (_hole, _filler, hole) = black_hole();
    let server = Hostile::start(serve_ws);
    let good = server.addr();
    let (client, mut ev) = start("ws://dual.example/", |b| {
        b.connect_timeout(ms(5000))
            .reconnect(Reconnect::disabled())
            .resolver(move |_: &str, _| Ok(vec![hole, good]))
    });
    let t0 = Instant::now();
    let (t, _) = ev.wait(ms(4000), |e| matches!(e, Event::Opened { .. }));
    // 250 ms stagger, then the second address connects at once.
    assert!(t - t0 >= ms(200), "opened before the stagger: {:?}", t - t0);
    assert!(t - t0 < ms(250) + MARGIN, "opened after {:?}", t - t0);
    wait_text(&mut ev);
    finish(client, &mut ev);
    assert_eq!(
        server.accepted(),
        1,
        "the losing attempt is closed, only one connection"
    );
}

#[test]
fn happy_eyeballs_starts_the_next_address_at_once_when_one_is_refused() {
    let _s = serial();
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let server = Hostile::start(serve_ws);
    let good = server.addr();
    let (client, mut ev) = start("ws://dual.example/", |b| {
        b.resolver(move |_: &str, _| Ok(vec![refused, good]))
    });
    let t0 = Instant::now();
    ev.wait(ms(4000), |e| matches!(e, Event::Opened { .. }));
    let accepted = server.accept_times()[0] - t0;
    assert!(
        accepted < ms(230),
        "a refused address must not cost the stagger: {accepted:?}"
    );
    finish(client, &mut ev);
}

// ---- logs ----------------------------------------------------------------------------------

#[test]
fn logs_never_contain_proxy_credentials() {
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            // What the C/Python bridge drops (tungstenite's raw handshake dump).
            if !wsbeat::may_carry_secrets(r.target(), r.level()) {
                let line = format!("{} {}", r.target(), r.args());
                self.0.lock().unwrap().push(line);
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));
    // The only test in this binary that installs a logger.
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let _s = serial();
    // A tunnel that opens, one that is refused (407), one to a proxy that is not there.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ok = http_proxy("200 Connection established", seen.clone());
    let refused = http_proxy("407 Proxy Authentication Required", seen);
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let socks = socks_proxy(
        Some(("dave", "s0cksPass")),
        Arc::new(Mutex::new(Vec::new())),
    );
    for (proxy, want) in [
        (format!("http://alice:Pr0xyPass@{}", ok.addr()), "open"),
        (format!("http://alice:Pr0xyPass@{}", refused.addr()), "auth"),
        (format!("http://alice:Pr0xyPass@{gone}"), "gone"),
        (format!("socks5h://dave:s0cksPass@{}", socks.addr()), "open"),
    ] {
        let (client, mut ev) = start("ws://t.example/", |b| {
            b.proxy(Proxy::url(&proxy).unwrap())
                .reconnect(Reconnect::disabled())
        });
        match want {
            "open" => wait_text(&mut ev),
            _ => {
                ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
            }
        }
        finish(client, &mut ev);
        for (_, e) in &ev.seen {
            let e = format!("{e:?}");
            assert!(!e.contains("Pr0xyPass") && !e.contains("s0cksPass"), "{e}");
        }
    }
    let logs = CAPTURE.0.lock().unwrap().clone();
    assert!(
        logs.iter()
            .any(|l| l.contains("through the proxy http://127.0.0.1:")),
        "proxied connects are logged: {logs:#?}"
    );
    for l in &logs {
        assert!(
            !l.contains("Pr0xyPass")
                && !l.contains("s0cksPass")
                && !l.contains("alice:")
                && !l.contains("dave:"),
            "secret in log: {l}"
        );
    }
}
