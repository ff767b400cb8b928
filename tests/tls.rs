//! wss:// end to end: a rustls echo server on 127.0.0.1 with certificates generated at test
//! time by rcgen; scaled-down intervals; every wait is bounded and synchronized on events.
#![cfg(any(feature = "rustls", feature = "native-tls"))]

use wsbeat_testkit::tls_server;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tls_server::{TlsEchoServer, server_config};
use wsbeat::{
    Client, CloseInitiator, ErrorKind, Event, Heartbeat, Reconnect, State, StopReason, TlsOptions,
};
use wsbeat_testkit::wait::wait_for;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fast_reconnect() -> Reconnect {
    Reconnect::exponential()
        .initial(ms(50))
        .max(ms(200))
        .jitter(0.0)
}

// ---- a test PKI -------------------------------------------------------------------------

/// A certificate authority generated for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = p.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(p, key),
            pem,
        }
    }

    /// A leaf certificate (PEM chain, PEM key) for these names (DNS names or IP addresses).
    fn leaf(&self, names: &[&str], client: bool, expired: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, "wsbeat test");
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server(&self, names: &[&str]) -> TlsEchoServer {
        let (chain, key) = self.leaf(names, false, false);
        TlsEchoServer::start(server_config(&chain, &key, None))
    }
}

/// The TLS backends under test: rustls always, native-tls with its feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    #[allow(dead_code)] // without the rustls feature
    Rustls,
    #[allow(dead_code)] // without the native-tls feature
    NativeTls,
}

/// Default options on backend `b`.
fn base(b: Backend) -> TlsOptions {
    TlsOptions::default().use_native_tls(b == Backend::NativeTls)
}

/// Trust only the test CA (not the default roots).
fn trusting(ca: &Ca, b: Backend) -> TlsOptions {
    base(b).add_ca_pem(ca.pem.clone()).without_bundled_roots()
}

fn open(rx: &wsbeat::Events, seen: &mut Vec<Event>) {
    wait_for(rx, ms(10_000), seen, |e| {
        matches!(e, Event::Opened { .. } | Event::Stopped { .. })
    });
    assert!(
        matches!(seen.last(), Some(Event::Opened { .. })),
        "did not open: {seen:#?}"
    );
}

/// The first connection attempt fails with a certificate error carrying `what`, and the
/// client stops without retrying (the default policy).
fn refused_for_certificate(client: &Client, what: &str) -> Vec<Event> {
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    let stopped = wait_for(&rx, ms(10_000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    assert_eq!(
        stopped,
        Event::Stopped {
            reason: StopReason::PolicyDeclined,
            unsent: vec![]
        },
        "{seen:#?}"
    );
    let errors: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Error { kind, message } => Some((*kind, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{seen:#?}");
    assert_eq!(errors[0].0, ErrorKind::Certificate, "{seen:#?}");
    assert!(
        errors[0].1.contains(what),
        "{:?} lacks {what:?}",
        errors[0].1
    );
    assert!(
        seen.iter()
            .all(|e| !matches!(e, Event::Opened { .. } | Event::Reconnecting { .. })),
        "{seen:#?}"
    );
    seen
}

// ---- verification -----------------------------------------------------------------------

fn accepted_with_the_test_ca_echoes_and_keeps_heartbeating(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["localhost"]);
    let client = Client::builder(server.url("localhost"))
        .pong_events(true)
        .tls(trusting(&ca, b))
        .heartbeat(Heartbeat::ping(ms(100), ms(80)))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    // SNI follows the URL host.
    assert_eq!(server.last_sni().as_deref(), Some("localhost"));
    client.send_text("hello over tls").unwrap();
    client.send_binary(vec![7u8; 3]).unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text("hello over tls".into())
    });
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Binary(vec![7; 3])
    });
    let mut pongs = 0;
    while pongs < 5 {
        match wait_for(&rx, ms(5000), &mut seen, |e| {
            matches!(e, Event::Pong { .. } | Event::Closed { .. })
        }) {
            Event::Pong { .. } => pongs += 1,
            other => panic!("connection dropped while idle: {other:?}"),
        }
    }
    assert_eq!(client.state(), State::Open);
    client.close(1000, "bye").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Stopped {
                reason: StopReason::Closed,
                ..
            }
        )
    });
    assert_eq!(client.stats().last_close_code, Some(1000));
}

fn ip_address_url_with_an_ip_san_is_accepted(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["127.0.0.1"]);
    let client = Client::builder(server.url("127.0.0.1"))
        .tls(trusting(&ca, b))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    // No SNI for an IP address.
    assert_eq!(server.last_sni(), None);
}

fn ipv6_literal_url_is_verified_against_an_ip_san(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let (chain, key) = ca.leaf(&["::1"], false, false);
    let Ok(server) = TlsEchoServer::start_on("[::1]:0", server_config(&chain, &key, None)) else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    let client = Client::builder(server.url("[::1]"))
        .tls(trusting(&ca, b))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    client.send_text("v6").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| *e == Event::Text("v6".into()));
}

fn bulk_traffic_both_ways_arrives_whole_and_in_order(b: Backend) {
    // Enough bytes in flight at once that TLS writes block while the echo keeps arriving:
    // reads that need writes and writes that need reads, on one non-blocking socket.
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["localhost"]);
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&ca, b))
        .heartbeat(Heartbeat::ping(ms(100), ms(90)))
        .max_message_size(4 << 20)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    // 200 x ~128 KiB each way: enough that, without the would-block mapping of rustls's
    // Ok(0) write in src/tls.rs, this failed with "Connection reset while sending".
    let n = 200;
    for i in 0..n {
        let mut payload = vec![(i % 251) as u8; 128 * 1024 + i];
        payload[0] = i as u8;
        client.send_binary(payload).unwrap();
    }
    for i in 0..n {
        match wait_for(&rx, ms(20_000), &mut seen, |e| {
            matches!(e, Event::Binary(_) | Event::Closed { .. })
        }) {
            Event::Binary(b) => {
                assert_eq!(b.len(), 128 * 1024 + i, "message {i}");
                assert_eq!(b[0], i as u8, "message {i}");
                assert!(b[1..].iter().all(|x| *x == (i % 251) as u8), "message {i}");
            }
            Event::Closed { code, reason, .. } => {
                panic!("connection dropped during bulk traffic: {code} {reason}")
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(client.stats().connects, 1);
    assert_eq!(client.stats().missed_heartbeats, 0);
}

fn unknown_issuer_is_refused_and_not_retried_by_default(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["localhost"]);
    // Default options: the bundled Mozilla roots only.
    let client = Client::builder(server.url("localhost"))
        .tls(base(b))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    refused_for_certificate(&client, "unknown issuer");
    assert_eq!(server.opened(), 0);
    assert_eq!(server.accepted(), 1, "retried a certificate failure");
    // A CA that signed nothing here does not help either.
    let other = Ca::new("another CA");
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&other, b))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    refused_for_certificate(&client, "unknown issuer");
}

fn certificate_errors_are_retried_when_the_policy_says_so(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["localhost"]);
    let client = Client::builder(server.url("localhost"))
        .tls(base(b))
        .reconnect(
            fast_reconnect()
                .retry_certificate_errors(true)
                .max_attempts(Some(2)),
        )
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    let stopped = wait_for(&rx, ms(10_000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    assert!(
        matches!(
            stopped,
            Event::Stopped {
                reason: StopReason::MaxAttempts(_),
                ..
            }
        ),
        "{seen:#?}"
    );
    let cert_errors = seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Error {
                    kind: ErrorKind::Certificate,
                    ..
                }
            )
        })
        .count();
    assert_eq!(cert_errors, 3, "{seen:#?}"); // the first attempt and two retries
    assert_eq!(server.accepted(), 3);
}

fn hostname_mismatch_is_refused(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["other.example"]);
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&ca, b))
        .connect()
        .unwrap();
    refused_for_certificate(&client, "not valid for this host name");
    // A certificate for `localhost` does not cover the address 127.0.0.1 either.
    let server = ca.server(&["localhost"]);
    let client = Client::builder(server.url("127.0.0.1"))
        .tls(trusting(&ca, b))
        .connect()
        .unwrap();
    refused_for_certificate(&client, "not valid for this host name");
}

fn expired_certificate_is_refused(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let (chain, key) = ca.leaf(&["localhost"], false, true);
    let server = TlsEchoServer::start(server_config(&chain, &key, None));
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&ca, b))
        .connect()
        .unwrap();
    refused_for_certificate(&client, "certificate expired");
}

fn mutual_tls_accepted_with_the_client_certificate(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let client_ca = Ca::new("wsbeat client CA");
    let (chain, key) = ca.leaf(&["localhost"], false, false);
    let server = TlsEchoServer::start(server_config(&chain, &key, Some(&client_ca.pem)));
    let (cert, ckey) = client_ca.leaf(&["wsbeat-client"], true, false);
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&ca, b).client_cert_pem(cert, ckey))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    client.send_text("mutual").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text("mutual".into())
    });
    assert!(
        server.tls_failures().is_empty(),
        "{:?}",
        server.tls_failures()
    );
}

fn mutual_tls_refused_without_a_client_certificate(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let client_ca = Ca::new("wsbeat client CA");
    let (chain, key) = ca.leaf(&["localhost"], false, false);
    let server = TlsEchoServer::start(server_config(&chain, &key, Some(&client_ca.pem)));
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&ca, b))
        .connect()
        .unwrap();
    refused_for_certificate(&client, "server rejected the client certificate");
    assert_eq!(server.opened(), 0);
    assert_eq!(server.wait_tls_failures(1, ms(5000)).len(), 1);
    // A certificate from an issuer the server does not trust is refused too.
    let stranger = Ca::new("stranger CA");
    let (cert, ckey) = stranger.leaf(&["wsbeat-client"], true, false);
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&ca, b).client_cert_pem(cert, ckey))
        .connect()
        .unwrap();
    refused_for_certificate(&client, "server rejected the client certificate");
    assert_eq!(server.opened(), 0);
}

fn dangerous_mode_connects_to_a_self_signed_server_and_warns_at_every_connect(b: Backend) {
    capture_warnings();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let mut server = TlsEchoServer::start(server_config(&cert.pem(), &key.serialize_pem(), None));
    let client = Client::builder(server.url("localhost"))
        .tls(base(b).dangerous_disable_verification(true))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    client.send_text("insecure").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text("insecure".into())
    });
    server.restart();
    wait_for(&rx, ms(10_000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    let this_server = format!("localhost:{}", server.port());
    let warnings = WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains("verification is DISABLED") && w.ends_with(&this_server))
        .count();
    let count = |pred: fn(&Event) -> bool| seen.iter().filter(|e| pred(e)).count();
    let opened = count(|e| matches!(e, Event::Opened { .. }));
    let attempts = count(|e| matches!(e, Event::Connecting { .. }));
    // One warning per attempt that got a TCP connection: every open, maybe a refused attempt.
    assert_eq!(opened, 2, "{seen:#?}");
    assert!(
        (opened..=attempts).contains(&warnings),
        "{warnings} warnings for {opened} opens and {attempts} attempts"
    );
}

/// Warnings logged by the library (all tests of this binary share the logger).
static WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct CaptureWarnings;

impl log::Log for CaptureWarnings {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            WARNINGS.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn capture_warnings() {
    static LOGGER: CaptureWarnings = CaptureWarnings;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    });
}

// ---- timeouts, dead peers, reconnects ---------------------------------------------------

fn tls_handshake_timeout_is_a_connect_timeout(b: Backend) {
    // The kernel completes the TCP handshake for a listener that never accepts: the
    // ClientHello is never answered.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t0 = Instant::now();
    let client = Client::builder(format!("wss://localhost:{port}"))
        .tls(base(b))
        .connect_timeout(ms(300))
        .reconnect(Reconnect::disabled())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    let stopped = wait_for(&rx, ms(10_000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    let took = t0.elapsed();
    assert_eq!(
        stopped,
        Event::Stopped {
            reason: StopReason::ReconnectDisabled,
            unsent: vec![]
        }
    );
    let err = seen
        .iter()
        .find_map(|e| match e {
            Event::Error { kind, message } => Some((*kind, message.clone())),
            _ => None,
        })
        .expect("an error event");
    assert_eq!(err.0, ErrorKind::ConnectTimeout, "{seen:#?}");
    assert!(err.1.contains("TLS handshake"), "{}", err.1);
    assert!(took >= ms(290), "gave up after {took:?}");
    assert!(took < ms(5000), "gave up after {took:?}");
    drop(listener);
}

fn silent_server_is_detected_and_reconnected_over_tls(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["localhost"]);
    let client = Client::builder(server.url("localhost"))
        .pong_events(true)
        .tls(trusting(&ca, b))
        .heartbeat(Heartbeat::ping(ms(100), ms(50)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Pong { .. })
    });
    server.set_silent(true);
    let t0 = Instant::now();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::HeartbeatTimeout { .. })
    });
    let detected = t0.elapsed();
    assert!(detected < ms(150 + 850), "detection took {detected:?}");
    match wait_for(&rx, ms(2000), &mut seen, |e| {
        matches!(e, Event::Closed { .. })
    }) {
        Event::Closed {
            code,
            initiator,
            will_reconnect,
            ..
        } => {
            assert_eq!(code, 1006);
            assert_eq!(initiator, CloseInitiator::Abnormal);
            assert!(will_reconnect);
        }
        _ => unreachable!(),
    }
    server.set_silent(false);
    wait_for(&rx, ms(10_000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    client.send_text("back").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text("back".into())
    });
    assert_eq!(client.stats().missed_heartbeats, 1);
}

fn restart_delivers_outage_messages_in_order_over_tls(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let mut server = ca.server(&["localhost"]);
    let client = Client::builder(server.url("localhost"))
        .tls(trusting(&ca, b))
        .heartbeat(Heartbeat::ping(ms(100), ms(80)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
    server.stop();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Closed {
                will_reconnect: true,
                ..
            }
        )
    });
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    for i in 0..20 {
        client.send_text(format!("m{i}")).unwrap();
    }
    server.restart();
    wait_for(&rx, ms(10_000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    let mut got = Vec::new();
    while got.len() < 20 {
        if let Event::Text(t) = wait_for(&rx, ms(5000), &mut seen, |e| matches!(e, Event::Text(_)))
        {
            got.push(t);
        }
    }
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    // Exactly once: nothing more arrives.
    let deadline = Instant::now() + ms(300);
    while let Ok(e) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        assert!(!matches!(e, Event::Text(_)), "duplicate: {e:?}");
    }
    // The cut was seen as a lost connection, not a certificate problem.
    assert!(
        seen.iter().all(|e| !matches!(
            e,
            Event::Error {
                kind: ErrorKind::Certificate | ErrorKind::Tls,
                ..
            }
        )),
        "{seen:#?}"
    );
}

fn wss_to_a_plain_ws_server_is_a_tls_error(b: Backend) {
    let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
    let port = server.local_addr().port();
    let client = Client::builder(format!("wss://localhost:{port}"))
        .tls(base(b))
        .reconnect(Reconnect::disabled())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(10_000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    let errors: Vec<(ErrorKind, String)> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Error { kind, message } => Some((*kind, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{seen:#?}");
    assert_eq!(errors[0].0, ErrorKind::Tls, "{seen:#?}");
    assert!(
        errors[0].1.contains("during the TLS handshake"),
        "{}",
        errors[0].1
    );
}

// ---- options ----------------------------------------------------------------------------

#[cfg(feature = "native-roots")]
#[test]
fn native_roots_are_loaded_and_do_not_include_the_test_ca() {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["localhost"]);
    let client = Client::builder(server.url("localhost"))
        .tls(
            TlsOptions::default()
                .without_bundled_roots()
                .native_roots(true),
        )
        .connect()
        .unwrap();
    refused_for_certificate(&client, "unknown issuer");
}

#[cfg(all(feature = "rustls", not(feature = "native-roots")))]
#[test]
fn native_roots_without_their_feature_are_a_configuration_error() {
    let e = Client::builder("wss://localhost:1")
        .tls(TlsOptions::default().native_roots(true))
        .connect()
        .unwrap_err();
    assert!(e.to_string().contains("`native-roots` feature"), "{e}");
}

fn bad_tls_options_are_refused_at_connect(b: Backend) {
    let e = Client::builder("wss://localhost:1")
        .tls(base(b).add_ca_pem("not a certificate"))
        .connect()
        .unwrap_err();
    assert!(matches!(e, wsbeat::Error::Tls(_)), "{e}");
    let e = base(b)
        .add_ca_file("/nonexistent/wsbeat-ca.pem")
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/wsbeat-ca.pem"), "{e}");
    let ca = Ca::new("wsbeat test CA");
    let (cert, _) = ca.leaf(&["c"], true, false);
    let (_, other_key) = ca.leaf(&["c"], true, false);
    for key in ["garbage".to_string(), other_key] {
        let e = Client::builder("wss://localhost:1")
            .tls(base(b).client_cert_pem(cert.clone(), key))
            .connect()
            .unwrap_err();
        assert!(matches!(e, wsbeat::Error::Tls(_)), "{e}");
    }
    // Trusting nothing at all is a configuration error, not a certificate failure later.
    let e = Client::builder("wss://localhost:1")
        .tls(base(b).without_bundled_roots())
        .connect()
        .unwrap_err();
    assert!(e.to_string().contains("trusts nothing"), "{e}");
    // ws:// ignores the TLS options.
    assert!(
        Client::builder("ws://localhost:1")
            .tls(base(b).without_bundled_roots())
            .reconnect(Reconnect::disabled())
            .connect()
            .is_ok()
    );
}

#[cfg(not(feature = "native-tls"))]
#[test]
fn native_tls_without_its_feature_is_a_configuration_error() {
    let e = Client::builder("wss://localhost:1")
        .tls(TlsOptions::default().use_native_tls(true))
        .connect()
        .unwrap_err();
    assert!(e.to_string().contains("`native-tls` feature"), "{e}");
}

fn ca_file_is_read(b: Backend) {
    let ca = Ca::new("wsbeat test CA");
    let server = ca.server(&["localhost"]);
    let dir = std::env::temp_dir().join(format!("wsbeat-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    let opts = base(b).without_bundled_roots().add_ca_file(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let client = Client::builder(server.url("localhost"))
        .tls(opts)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    open(&rx, &mut seen);
}

// ---- permessage-deflate over TLS ----------------------------------------------------------

/// permessage-deflate end to end over TLS: the testkit's deflate echo server behind rustls
/// negotiates it, Opened and stats say so, text and binary (small, 1 MiB, compressible and
/// not) echo whole in both context-takeover settings, and the server saw them compressed.
fn permessage_deflate_over_tls(b: Backend) {
    use wsbeat::Compression;
    use wsbeat_testkit::deflate_server::DeflateEchoServer;
    let ca = Ca::new("wsbeat deflate CA");
    let (chain, key) = ca.leaf(&["127.0.0.1"], false, false);
    let server = DeflateEchoServer::start_tls(server_config(&chain, &key, None));
    assert!(server.url().starts_with("wss://127.0.0.1:"));
    let mut json = String::new();
    let mut i = 0;
    while json.len() < 1 << 20 {
        json.push_str(&format!(
            r#"{{"ModeCode":"message","msg":"hello world {i}"}},"#
        ));
        i += 1;
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for (n, takeover) in [true, false].into_iter().enumerate() {
        let client = Client::builder(server.url())
            .tls(trusting(&ca, b))
            .heartbeat(Heartbeat::ping(ms(500), ms(400)))
            .compression(Compression::deflate().no_context_takeover(!takeover))
            .connect()
            .unwrap();
        let rx = client.events().unwrap();
        let mut seen = Vec::new();
        open(&rx, &mut seen);
        assert!(
            matches!(
                seen.last(),
                Some(Event::Opened {
                    compression: true,
                    ..
                })
            ),
            "{seen:#?}"
        );
        assert!(client.stats().compression);
        let offer = &server.offers()[n];
        assert!(offer.starts_with("permessage-deflate"), "{offer}");
        assert_eq!(offer.contains("no_context_takeover"), !takeover, "{offer}");
        let (before, plain_before) = (server.compressed_in(), server.plain_in());
        for _ in 0..2 {
            let small = r#"{"ModeCode":"message","msg":"hello world"}"#;
            client.send_text(small).unwrap();
            wait_for(&rx, ms(5000), &mut seen, |e| {
                *e == Event::Text(small.into())
            });
            client
                .send_binary(
                    b"small binary message, repeated: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
                )
                .unwrap();
            wait_for(
                &rx,
                ms(5000),
                &mut seen,
                |e| matches!(e, Event::Binary(d) if d.starts_with(b"small binary")),
            );
            client.send_text(json.clone()).unwrap();
            wait_for(
                &rx,
                ms(10_000),
                &mut seen,
                |e| matches!(e, Event::Text(t) if *t == json),
            );
            client.send_binary(noise.clone()).unwrap();
            wait_for(
                &rx,
                ms(10_000),
                &mut seen,
                |e| matches!(e, Event::Binary(d) if *d == noise),
            );
        }
        // The small text (42 bytes) is below min_size (64): sent plain; the rest compressed.
        assert_eq!(server.compressed_in() - before, 6, "compressed messages");
        assert_eq!(
            server.plain_in() - plain_before,
            2,
            "plain (short) messages"
        );
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, Event::Error { .. } | Event::Closed { .. })),
            "{seen:#?}"
        );
        client.close(1000, "done").unwrap();
        wait_for(&rx, ms(5000), &mut seen, |e| {
            matches!(e, Event::Stopped { .. })
        });
        assert_eq!(client.stats().last_close_code, Some(1000));
    }
}

// ---- every scenario on every backend ------------------------------------------------------

macro_rules! on_backend {
    ($module:ident, $backend:expr, $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $name() {
                    super::$name($backend)
                }
            )*
        }
    };
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "rustls")]
        on_backend!(rustls, super::Backend::Rustls, $($name),*);
        #[cfg(feature = "native-tls")]
        on_backend!(native_tls, super::Backend::NativeTls, $($name),*);
    };
}

scenarios!(
    accepted_with_the_test_ca_echoes_and_keeps_heartbeating,
    ip_address_url_with_an_ip_san_is_accepted,
    ipv6_literal_url_is_verified_against_an_ip_san,
    bulk_traffic_both_ways_arrives_whole_and_in_order,
    unknown_issuer_is_refused_and_not_retried_by_default,
    certificate_errors_are_retried_when_the_policy_says_so,
    hostname_mismatch_is_refused,
    expired_certificate_is_refused,
    mutual_tls_accepted_with_the_client_certificate,
    mutual_tls_refused_without_a_client_certificate,
    dangerous_mode_connects_to_a_self_signed_server_and_warns_at_every_connect,
    tls_handshake_timeout_is_a_connect_timeout,
    silent_server_is_detected_and_reconnected_over_tls,
    restart_delivers_outage_messages_in_order_over_tls,
    wss_to_a_plain_ws_server_is_a_tls_error,
    bad_tls_options_are_refused_at_connect,
    ca_file_is_read,
    permessage_deflate_over_tls,
);
