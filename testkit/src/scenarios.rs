//! The fault scenarios. Each one breaks something on purpose, asserts the event sequence and
//! timing bounds (panicking on failure) and returns a [`Row`] of measurements for the fault
//! matrix. `tests/faults.rs` runs each as a test; `examples/fault_matrix.rs` runs them all and
//! prints RELIABILITY.md's table.
//!
//! Timings: heartbeat interval 100 ms, timeout 60 ms, backoff from 50 ms (see `super`).

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wsbeat::{
    Client, ClientBuilder, CloseInitiator, ErrorKind, Event, Heartbeat, Reconnect, State,
    StopReason,
};

use crate::hostile::Hostile;
use crate::process::ServerProcess;
use crate::proxy::FaultProxy;
use crate::recorder::RecordingServer;
use crate::{
    Accounting, Events, INTERVAL, Leaks, Ledger, MARGIN, TIMEOUT, fast_reconnect, heartbeat, ms,
    serial,
};

/// One line of the fault matrix.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub promise: &'static str,
    /// From the fault to the client noticing it.
    pub detect: Option<Duration>,
    /// From the repair (or the fault, when nothing is repaired) to the next open.
    pub recover: Option<Duration>,
    pub acc: Option<Accounting>,
    pub note: String,
}

impl Row {
    fn new(scenario: &'static str, promise: &'static str) -> Row {
        Row {
            scenario,
            promise,
            detect: None,
            recover: None,
            acc: None,
            note: String::new(),
        }
    }
}

/// Run a scenario alone, checking that it leaves no client thread and no descriptor behind.
pub fn run(f: fn() -> Row) -> Row {
    let _guard = serial();
    let leaks = Leaks::snapshot();
    let row = f();
    leaks.assert_none();
    row
}

fn start(url: &str, f: impl FnOnce(ClientBuilder) -> ClientBuilder) -> (Client, Events) {
    // The scenarios read heartbeat answers as evidence of a live path.
    let b = crate::builder(url)
        .pong_events(true)
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .connect_timeout(ms(1000))
        .close_timeout(ms(500));
    let client = f(b).connect().unwrap();
    let ev = Events::new(client.events().unwrap());
    (client, ev)
}

fn is_open(e: &Event) -> bool {
    matches!(e, Event::Opened { .. })
}

fn is_closed(e: &Event) -> bool {
    matches!(e, Event::Closed { .. })
}

fn is_stopped(e: &Event) -> bool {
    matches!(e, Event::Stopped { .. })
}

/// Send `n` ledger messages and wait for their echoes.
fn round_trip(client: &Client, ev: &mut Events, ledger: &mut Ledger, n: usize) {
    for _ in 0..n {
        ledger.send(client);
    }
    let last = ledger.sent().last().unwrap().clone();
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if *t == last));
}

/// Close the client, wait for `Stopped`, and return the events' reported messages.
fn finish(client: Client, ev: &mut Events) {
    client.close(1000, "done").unwrap();
    ev.wait(ms(3000), is_stopped);
    drop(client);
}

/// A duration for the table's notes: "52 ms", "1.50 s".
pub fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    }
}

fn assert_within(what: &str, d: Duration, bound: Duration) {
    assert!(d <= bound, "{what} took {d:?}, bound {bound:?}");
}

// ---- half-open and cut paths ----------------------------------------------------------------

/// Black-holed path: detected by the heartbeat within interval + timeout, reconnected once
/// healed.
pub fn blackhole() -> Row {
    let mut row = Row::new(
        "black-holed path (half-open)",
        "HeartbeatTimeout within interval+timeout; reconnect after heal",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (client, mut ev) = start(&proxy.url(), |b| b.connect_timeout(ms(300)));
    let mut ledger = Ledger::new("bh");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 5);
    // Quiet for a moment so the heartbeat clock starts from a known point.
    ev.wait(ms(2000), |e| matches!(e, Event::Pong { .. }));
    proxy.blackhole(true);
    let t0 = Instant::now();
    // Written into the dead path before anyone can know: the kernel accepts them.
    for _ in 0..3 {
        ledger.send(&client);
    }
    let (t, _) = ev.wait(ms(3000), |e| matches!(e, Event::HeartbeatTimeout { .. }));
    row.detect = Some(t - t0);
    assert_within("detection", t - t0, INTERVAL + TIMEOUT + MARGIN);
    match ev.wait(ms(2000), is_closed).1 {
        Event::Closed {
            code,
            initiator,
            will_reconnect,
            ..
        } => {
            assert_eq!(
                (code, initiator, will_reconnect),
                (1006, CloseInitiator::Abnormal, true)
            );
        }
        _ => unreachable!(),
    }
    // Attempts into the black hole hang and time out (no handshake answer).
    ev.wait(ms(3000), |e| {
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::ConnectTimeout,
                ..
            }
        )
    });
    // Messages sent while the client knows it is down wait in the outbox.
    for _ in 0..3 {
        ledger.send(&client);
    }
    proxy.blackhole(false);
    let t1 = Instant::now();
    let (t, _) = ev.wait(ms(5000), is_open);
    row.recover = Some(t - t1);
    assert_within("reconnect", t - t1, ms(300 + 400) + MARGIN);
    round_trip(&client, &mut ev, &mut ledger, 5);
    finish(client, &mut ev);
    let acc = ledger.account(&server.received(), &ev.reported());
    assert!(
        acc.duplicated.is_empty() && acc.out_of_order.is_empty(),
        "{acc:#?}"
    );
    // What was written into the undetected hole is handed back in Closed.unconfirmed.
    acc.assert_clean();
    row.note = format!(
        "0 lost: {} of the messages written into the undetected hole handed back as unconfirmed",
        acc.reported
    );
    row.acc = Some(acc);
    row
}

/// Path cut with RST while open: detected at once by the read error, reconnected.
pub fn cut_rst() -> Row {
    let mut row = Row::new(
        "path cut with RST",
        "Error(connection_lost) at once; reconnect",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (client, mut ev) = start(&proxy.url(), |b| b);
    let mut ledger = Ledger::new("rst");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 5);
    let t0 = Instant::now();
    proxy.cut_rst();
    let (t, e) = ev.wait(ms(3000), |e| matches!(e, Event::Error { .. }));
    assert!(
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::ConnectionLost | ErrorKind::Io,
                ..
            }
        ),
        "{e:?}"
    );
    row.detect = Some(t - t0);
    assert_within("detection", t - t0, MARGIN);
    let (t, _) = ev.wait(ms(5000), is_open);
    row.recover = Some(t - t0);
    round_trip(&client, &mut ev, &mut ledger, 5);
    finish(client, &mut ev);
    assert_eq!(proxy.accepted(), 2, "exactly one reconnect");
    let acc = ledger.account(&server.received(), &ev.reported());
    acc.assert_clean();
    row.acc = Some(acc);
    row
}

/// Path cut with FIN, then new connections refused for a while: backoff grows, then connects.
pub fn refused_then_accepts() -> Row {
    let mut row = Row::new(
        "cut with FIN, then connection refused",
        "backoff grows (50,100,200,400 ms); connects when accepted; outbox delivered",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let mut proxy = FaultProxy::start(server.addr()).unwrap();
    let (client, mut ev) = start(&proxy.url(), |b| b);
    let mut ledger = Ledger::new("ref");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 3);
    proxy.refuse();
    let t0 = Instant::now();
    proxy.cut_fin();
    let (t, _) = ev.wait(ms(3000), is_closed);
    row.detect = Some(t - t0);
    assert_within("detection", t - t0, MARGIN);
    let mut delays = Vec::new();
    while delays.len() < 5 {
        if let (_, Event::Reconnecting { delay, .. }) =
            ev.wait(ms(5000), |e| matches!(e, Event::Reconnecting { .. }))
        {
            delays.push(delay);
        }
        ledger.send(&client);
    }
    assert_eq!(delays, [ms(50), ms(100), ms(200), ms(400), ms(400)]);
    let refused = ev.count(|e| {
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::Connect,
                ..
            }
        )
    });
    assert!(refused >= 4, "{:?}", ev.names());
    proxy.accept().unwrap();
    let t1 = Instant::now();
    let (t, _) = ev.wait(ms(5000), is_open);
    row.recover = Some(t - t1);
    assert_within("reconnect", t - t1, ms(400) + MARGIN);
    round_trip(&client, &mut ev, &mut ledger, 3);
    finish(client, &mut ev);
    assert_eq!(proxy.accepted(), 2, "one connection per open");
    let acc = ledger.account(&server.received(), &ev.reported());
    acc.assert_clean();
    row.acc = Some(acc);
    row
}

/// Slow path: 20 ms added each way; heartbeats still answered, nothing dropped.
pub fn delayed_path() -> Row {
    let mut row = Row::new(
        "slow path (+20 ms each way)",
        "no false dead-peer detection while RTT < timeout",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (client, mut ev) = start(&proxy.url(), |b| {
        b.heartbeat(Heartbeat::ping(ms(100), ms(80)))
    });
    let mut ledger = Ledger::new("slow");
    ev.wait(ms(5000), is_open);
    proxy.delay(ms(20));
    let mut rtts = Vec::new();
    while rtts.len() < 5 {
        if let (_, Event::Pong { rtt }) = ev.wait(ms(3000), |e| matches!(e, Event::Pong { .. })) {
            rtts.push(rtt);
        }
        ledger.send(&client);
    }
    assert!(rtts.iter().all(|r| *r >= ms(40)), "{rtts:?}");
    round_trip(&client, &mut ev, &mut ledger, 3);
    assert_eq!(ev.count(|e| matches!(e, Event::HeartbeatTimeout { .. })), 0);
    finish(client, &mut ev);
    let acc = ledger.account(&server.received(), &ev.reported());
    acc.assert_clean();
    row.note = format!(
        "ping RTT {}..{}",
        human(*rtts.iter().min().unwrap()),
        human(*rtts.iter().max().unwrap())
    );
    row.acc = Some(acc);
    row
}

/// Throttled path: a 32 KiB message through 1 KiB per 10 ms arrives intact.
pub fn throttled_path() -> Row {
    let mut row = Row::new(
        "throttled path (100 KiB/s)",
        "large messages arrive intact; connection kept",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    // Interval above the transfer time: the heartbeat queues behind the data upstream.
    let (client, mut ev) = start(&proxy.url(), |b| {
        b.heartbeat(Heartbeat::ping(ms(1000), ms(800)))
    });
    ev.wait(ms(5000), is_open);
    proxy.throttle(1024);
    let big = "x".repeat(32 * 1024);
    let t0 = Instant::now();
    client.send_text(big.clone()).unwrap();
    ev.wait(ms(10_000), |e| matches!(e, Event::Text(t) if *t == big));
    row.recover = None;
    row.note = format!("32 KiB echoed in {}", human(t0.elapsed()));
    assert_eq!(ev.count(is_closed), 0);
    finish(client, &mut ev);
    assert_eq!(server.received().len(), 1);
    row
}

/// A documented limit, measured: a heartbeat queued behind an upload that takes longer than
/// interval + timeout on a slow uplink is not answered in time, so a healthy connection is
/// declared dead. The client recovers once the path is fast again.
pub fn heartbeat_behind_slow_upload() -> Row {
    let mut row = Row::new(
        "heartbeat behind a 32 KiB upload at 25 KiB/s (limit)",
        "limit: dropped as dead when an upload outlasts interval+timeout; recovers",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (client, mut ev) = start(&proxy.url(), |b| b);
    let mut ledger = Ledger::new("up");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 2);
    proxy.throttle(256);
    let t0 = Instant::now();
    client
        .send_text(format!("up-big-{}", "x".repeat(32 * 1024)))
        .unwrap();
    let (t, _) = ev.wait(ms(3000), |e| matches!(e, Event::HeartbeatTimeout { .. }));
    row.detect = Some(t - t0);
    proxy.throttle(0);
    let (t, _) = ev.wait(ms(5000), is_open);
    row.recover = Some(t - t0);
    round_trip(&client, &mut ev, &mut ledger, 2);
    finish(client, &mut ev);
    let reported = ev.reported();
    let delivered = server.received();
    let big_fate = if delivered.iter().any(|m| m.starts_with("up-big-")) {
        "delivered"
    } else if reported.iter().any(|m| m.starts_with("up-big-")) {
        "reported unconfirmed"
    } else {
        "lost unreported (the kernel had accepted it)"
    };
    let acc = ledger.account(&delivered, &reported);
    acc.assert_clean();
    row.note = format!("false dead-peer detection; the 32 KiB message was {big_fate}");
    row.acc = Some(acc);
    row
}

/// Flapping path: cut and refused / accepted every 150-300 ms for 2.5 s with steady traffic.
pub fn flapping() -> Row {
    let mut row = Row::new(
        "flapping path (down/up every 150-300 ms, 2.5 s)",
        "one connection per open; no duplicates; order kept; settles when stable",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let mut proxy = FaultProxy::start(server.addr()).unwrap();
    let (client, mut ev) = start(&proxy.url(), |b| {
        b.reconnect(
            Reconnect::exponential()
                .initial(ms(20))
                .max(ms(100))
                .jitter(0.5),
        )
    });
    let mut ledger = Ledger::new("flap");
    ev.wait(ms(5000), is_open);
    let mut rng = fastrand::Rng::with_seed(7);
    let end = Instant::now() + ms(2500);
    let mut up = true;
    let mut flips = 0;
    while Instant::now() < end {
        let phase = Instant::now() + ms(rng.u64(150..300));
        while Instant::now() < phase {
            ledger.send(&client);
            ev.drain_for(ms(15));
        }
        if up {
            proxy.refuse();
            proxy.cut_fin();
        } else {
            proxy.accept().unwrap();
        }
        up = !up;
        flips += 1;
    }
    proxy.accept().unwrap();
    let t1 = Instant::now();
    // Settles: an open, then everything queued drains.
    if client.state() != State::Open {
        ev.wait(ms(5000), is_open);
    }
    row.recover = Some(t1.elapsed());
    round_trip(&client, &mut ev, &mut ledger, 3);
    let opens = ev.opens();
    finish(client, &mut ev);
    assert_eq!(proxy.accepted(), opens, "one TCP connection per open");
    let acc = ledger.account(&server.received(), &ev.reported());
    acc.assert_clean();
    row.note = format!(
        "{flips} flips, {opens} opens; 0 of {} lost ({} handed back unconfirmed or unsent)",
        acc.sent, acc.reported
    );
    row.acc = Some(acc);
    row
}

// ---- the server goes away -------------------------------------------------------------------

/// The server process is SIGKILLed and started again on the same port.
pub fn server_killed() -> Row {
    let mut row = Row::new(
        "server process SIGKILLed, restarted on same port",
        "Closed(1006) at once; outbox delivered after restart",
    );
    let mut p1 = ServerProcess::spawn("127.0.0.1:0");
    let addr = p1.addr;
    let (client, mut ev) = start(&p1.url(), |b| b);
    let mut ledger = Ledger::new("kill");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 5);
    let t0 = Instant::now();
    p1.kill();
    let (t, e) = ev.wait(ms(3000), is_closed);
    assert!(
        matches!(
            e,
            Event::Closed {
                code: 1006,
                will_reconnect: true,
                ..
            }
        ),
        "{e:?}"
    );
    row.detect = Some(t - t0);
    assert_within("detection", t - t0, MARGIN);
    for _ in 0..5 {
        ledger.send(&client);
    }
    ev.wait(ms(3000), |e| {
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::Connect,
                ..
            }
        )
    });
    let p2 = ServerProcess::spawn(&addr.to_string());
    let t1 = Instant::now();
    let (t, _) = ev.wait(ms(5000), is_open);
    row.recover = Some(t - t1);
    round_trip(&client, &mut ev, &mut ledger, 5);
    finish(client, &mut ev);
    let mut delivered = p1.received();
    delivered.extend(p2.received());
    let acc = ledger.account(&delivered, &ev.reported());
    acc.assert_clean();
    assert_eq!(ev.opens(), 2);
    row.acc = Some(acc);
    row
}

/// In-process server stopped (connections dropped) and restarted on the same port.
pub fn server_restart_same_port() -> Row {
    let mut row = Row::new(
        "server restart on the same port",
        "Closed(1006), backoff, one reconnect; outbox delivered once in order",
    );
    let mut server = RecordingServer::start("127.0.0.1:0").unwrap();
    let (client, mut ev) = start(&server.url(), |b| b);
    let mut ledger = Ledger::new("restart");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 5);
    let t0 = Instant::now();
    server.stop();
    let (t, e) = ev.wait(ms(3000), is_closed);
    assert!(
        matches!(
            e,
            Event::Closed {
                code: 1006,
                initiator: CloseInitiator::Abnormal,
                will_reconnect: true,
                ..
            }
        ),
        "{e:?}"
    );
    row.detect = Some(t - t0);
    for _ in 0..10 {
        ledger.send(&client);
    }
    thread::sleep(ms(200));
    server.restart().unwrap();
    let t1 = Instant::now();
    let (t, _) = ev.wait(ms(5000), is_open);
    row.recover = Some(t - t1);
    round_trip(&client, &mut ev, &mut ledger, 5);
    finish(client, &mut ev);
    assert_eq!(server.accepted(), 2);
    let acc = ledger.account(&server.received(), &ev.reported());
    acc.assert_clean();
    row.acc = Some(acc);
    row
}

// ---- the handshake fails --------------------------------------------------------------------

fn http_status(status: &'static str, headers: &'static [(&'static str, &'static str)]) -> Row {
    let server = Hostile::start(move |mut p| {
        let _ = p.respond_http(status, headers);
        p.hold(ms(200));
    });
    let (client, mut ev) = start(&server.url(), |b| b);
    let (_, e) = ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
    let code = status.split(' ').next().unwrap();
    assert!(
        matches!(&e, Event::Error { kind: ErrorKind::HttpStatus, message } if message.contains(code)),
        "{e:?}"
    );
    let (_, r) = ev.wait(ms(2000), |e| matches!(e, Event::Reconnecting { .. }));
    let Event::Reconnecting { delay, .. } = r else {
        unreachable!()
    };
    ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
    // Measured on the server: the client's timer starts after it read the answer, later
    // than the first accept, so this gap is never shorter than the client's real wait.
    let times = server.accept_times();
    let gap = times[1] - times[0];
    finish(client, &mut ev);
    assert_eq!(ev.opens(), 0);
    assert!(server.accepted() >= 2, "retried per the default policy");
    let mut row = Row::new("", "");
    row.note = format!(
        "next attempt {} after the first (scheduled delay {})",
        human(gap),
        human(delay)
    );
    row.recover = None;
    row.detect = None;
    RETRY_GAP.with(|g| g.set(Some(gap)));
    row
}

thread_local! {
    /// The last `http_status` scenario's gap between attempts (for the Retry-After checks).
    static RETRY_GAP: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
}

/// Handshake answered 401: reported as http_status, retried with backoff.
pub fn http_401() -> Row {
    Row {
        scenario: "handshake answered HTTP 401",
        promise: "Error(http_status), retried with backoff (policy: HTTP statuses retried)",
        ..http_status("401 Unauthorized", &[])
    }
}

/// Handshake answered 404.
pub fn http_404() -> Row {
    Row {
        scenario: "handshake answered HTTP 404",
        promise: "Error(http_status), retried with backoff",
        ..http_status("404 Not Found", &[])
    }
}

/// Handshake answered 503 with Retry-After: 1: the next attempt waits at least 1 s.
pub fn http_503_retry_after() -> Row {
    let row = http_status("503 Service Unavailable", &[("Retry-After", "1")]);
    let gap = RETRY_GAP.with(|g| g.get()).unwrap();
    assert!(gap >= ms(1000), "Retry-After: 1 not honoured: {gap:?}");
    Row {
        scenario: "handshake answered HTTP 503 + Retry-After: 1",
        promise: "next attempt waits >= Retry-After",
        ..row
    }
}

/// Handshake answered 429 with Retry-After: 1.
pub fn http_429_retry_after() -> Row {
    let row = http_status("429 Too Many Requests", &[("Retry-After", "1")]);
    let gap = RETRY_GAP.with(|g| g.get()).unwrap();
    assert!(gap >= ms(1000), "Retry-After: 1 not honoured: {gap:?}");
    Row {
        scenario: "handshake answered HTTP 429 + Retry-After: 1",
        promise: "next attempt waits >= Retry-After",
        ..row
    }
}

/// Handshake answered with garbage.
pub fn handshake_garbage() -> Row {
    let mut row = Row::new(
        "handshake answered with garbage",
        "Error(handshake), retried",
    );
    let server = Hostile::start(|mut p| {
        let _ = p.read_request();
        let _ = p.raw(b"\x00\xffSSH-2.0-nope\r\n\r\n\x16\x03\x01garbage garbage\r\n\r\n");
        p.hold(ms(200));
    });
    let (client, mut ev) = start(&server.url(), |b| b);
    let t0 = Instant::now();
    let (t, e) = ev.wait(ms(5000), |e| matches!(e, Event::Error { .. }));
    assert!(
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::Handshake,
                ..
            }
        ),
        "{e:?}"
    );
    row.detect = Some(t - t0);
    ev.wait(ms(2000), |e| matches!(e, Event::Reconnecting { .. }));
    ev.wait(ms(3000), |e| matches!(e, Event::Error { .. }));
    finish(client, &mut ev);
    assert_eq!(ev.opens(), 0);
    row
}

/// Handshake never answered: the connect timeout ends the attempt.
pub fn handshake_hangs() -> Row {
    let mut row = Row::new(
        "handshake never answered",
        "Error(connect_timeout) after connect_timeout (300 ms), retried",
    );
    let server = Hostile::start(|mut p| {
        p.hold(ms(5000));
    });
    let (client, mut ev) = start(&server.url(), |b| b.connect_timeout(ms(300)));
    let (t0, _) = ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
    let (t, _) = ev.wait(ms(3000), |e| {
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::ConnectTimeout,
                ..
            }
        )
    });
    row.detect = Some(t - t0);
    // Event receipt times carry scheduling noise: only check that the wait was real.
    assert!(t - t0 >= ms(200), "{:?}", t - t0);
    assert_within("connect timeout", t - t0, ms(300) + MARGIN);
    ev.wait(ms(3000), |e| {
        matches!(e, Event::Connecting { attempt: 1, .. })
    });
    let until = Instant::now() + ms(2000);
    while server.accepted() < 2 && Instant::now() < until {
        thread::sleep(ms(10));
    }
    finish(client, &mut ev);
    assert_eq!(server.accepted(), 2, "one connection per attempt");
    row
}

/// Unresolvable host (`.invalid`): Error(dns), retried.
pub fn unresolvable_host() -> Row {
    let mut row = Row::new(
        "unresolvable host (*.invalid)",
        "Error(dns), retried with backoff",
    );
    let (client, mut ev) = start("ws://wsbeat-no-such-host.invalid:9/", |b| b);
    let t0 = Instant::now();
    let (t, _) = ev.wait(ms(10_000), |e| {
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::Dns,
                ..
            }
        )
    });
    row.detect = Some(t - t0);
    ev.wait(ms(3000), |e| {
        matches!(e, Event::Reconnecting { attempt: 1, .. })
    });
    ev.wait(ms(10_000), |e| {
        matches!(e, Event::Reconnecting { attempt: 2, .. })
    });
    finish(client, &mut ev);
    row
}

// ---- the server closes ----------------------------------------------------------------------

fn close_code(code: u16) -> Row {
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let (client, mut ev) = start(&server.url(), |b| {
        b.reconnect(
            Reconnect::exponential()
                .initial(ms(50))
                .max(ms(600))
                .jitter(0.0),
        )
    });
    let mut ledger = Ledger::new("cc");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 2);
    let t0 = Instant::now();
    server.close_all(code);
    let (t, e) = ev.wait(ms(3000), is_closed);
    let Event::Closed {
        code: got,
        initiator,
        will_reconnect,
        ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!((got, initiator), (code, CloseInitiator::Remote));
    let expect_retry = wsbeat::default_reconnect_on_close(code);
    assert_eq!(will_reconnect, expect_retry, "close {code}");
    let mut row = Row::new("", "");
    row.detect = Some(t - t0);
    if expect_retry {
        let (_, r) = ev.wait(ms(2000), |e| matches!(e, Event::Reconnecting { .. }));
        let Event::Reconnecting { delay, .. } = r else {
            unreachable!()
        };
        let want = if code == 1013 { ms(600) } else { ms(50) };
        assert_eq!(delay, want, "close {code}");
        let (t, _) = ev.wait(ms(5000), is_open);
        row.recover = Some(t - t0);
        assert!(t - t0 >= want);
        round_trip(&client, &mut ev, &mut ledger, 2);
        finish(client, &mut ev);
        assert_eq!(server.accepted(), 2);
        row.note = format!("reconnect delay {}", human(delay));
    } else {
        let (_, s) = ev.wait(ms(2000), is_stopped);
        assert!(
            matches!(
                s,
                Event::Stopped {
                    reason: StopReason::PolicyDeclined,
                    ..
                }
            ),
            "{s:?}"
        );
        assert_eq!(client.state(), State::Stopped);
        drop(client);
        thread::sleep(ms(200));
        assert_eq!(server.accepted(), 1, "no reconnect after {code}");
        row.note = "stopped: policy_declined".into();
    }
    let acc = ledger.account(&server.received(), &ev.reported());
    acc.assert_clean();
    row.acc = Some(acc);
    row
}

pub fn close_1000() -> Row {
    Row {
        scenario: "server closes 1000 (normal)",
        promise: "Closed(1000, remote), reconnect after initial delay",
        ..close_code(1000)
    }
}
pub fn close_1001() -> Row {
    Row {
        scenario: "server closes 1001 (going away)",
        promise: "Closed(1001, remote), reconnect",
        ..close_code(1001)
    }
}
pub fn close_1008() -> Row {
    Row {
        scenario: "server closes 1008 (policy violation)",
        promise: "Closed(1008), Stopped(policy_declined), no reconnect",
        ..close_code(1008)
    }
}
pub fn close_1011() -> Row {
    Row {
        scenario: "server closes 1011 (internal error)",
        promise: "Closed(1011), reconnect",
        ..close_code(1011)
    }
}
pub fn close_1013() -> Row {
    Row {
        scenario: "server closes 1013 (try again later)",
        promise: "reconnect waits the max delay (600 ms here)",
        ..close_code(1013)
    }
}
pub fn close_4000() -> Row {
    Row {
        scenario: "server closes 4000 (application code)",
        promise: "Closed(4000), reconnect",
        ..close_code(4000)
    }
}

/// 1012 restarts the schedule: after two quick closes (attempts 1, 2), 1012 is attempt 1 again.
pub fn close_1012_restarts_schedule() -> Row {
    let mut row = Row::new(
        "server closes 1012 (service restart)",
        "schedule restarts at the initial delay",
    );
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let (client, mut ev) = start(&server.url(), |b| b);
    ev.wait(ms(5000), is_open);
    let mut got = Vec::new();
    for code in [1000, 1000, 1012] {
        server.close_all(code);
        if let (_, Event::Reconnecting { attempt, delay }) =
            ev.wait(ms(3000), |e| matches!(e, Event::Reconnecting { .. }))
        {
            got.push((attempt, delay));
        }
        ev.wait(ms(5000), is_open);
    }
    finish(client, &mut ev);
    assert_eq!(got, [(1, ms(50)), (2, ms(100)), (1, ms(50))]);
    assert_eq!(server.accepted(), 4);
    let got_s: Vec<String> = got
        .iter()
        .map(|(a, d)| format!("#{a} {}", human(*d)))
        .collect();
    row.note = format!("attempt/delay after 1000, 1000, 1012: {}", got_s.join(", "));
    row
}

// ---- hostile frames -------------------------------------------------------------------------

fn bad_frame(
    bytes: Vec<u8>,
    kind: ErrorKind,
    close: u16,
    f: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Row {
    let (tx, rx) = crossbeam_channel::unbounded();
    let server = Hostile::start(move |mut p| {
        if p.accept_ws().is_err() {
            return;
        }
        if p.index == 0 {
            let _ = p.raw(&bytes);
            let _ = tx.send(p.read_close_code(ms(2000)));
        }
        p.hold(ms(3000));
    });
    let (client, mut ev) = start(&server.url(), |b| {
        f(b.heartbeat(Heartbeat::ping(ms(1000), ms(500))))
    });
    let (t0, _) = ev.wait(ms(5000), is_open);
    let (t, e) = ev.wait(ms(3000), |e| matches!(e, Event::Error { .. }));
    assert!(
        matches!(&e, Event::Error { kind: k, .. } if *k == kind),
        "{e:?}"
    );
    let (_, c) = ev.wait(ms(3000), is_closed);
    assert!(
        matches!(c, Event::Closed { code, will_reconnect: true, .. } if code == close),
        "{c:?}"
    );
    let told = rx.recv_timeout(ms(3000)).ok().flatten();
    assert_eq!(told, Some(close), "the server is told why");
    ev.wait(ms(5000), is_open);
    finish(client, &mut ev);
    let mut row = Row::new("", "");
    row.detect = Some(t - t0);
    row.note = format!("close {close} sent to the server; reconnected");
    row
}

pub fn oversized_message() -> Row {
    let payload = vec![b'a'; 4096];
    Row {
        scenario: "message over max_message_size (4 KiB > 1 KiB)",
        promise: "Error(message_too_large), close 1009, reconnect",
        ..bad_frame(
            crate::hostile::frame_bytes(true, 0, 0x1, &payload),
            ErrorKind::MessageTooLarge,
            1009,
            |b| b.max_message_size(1024),
        )
    }
}

pub fn invalid_utf8() -> Row {
    Row {
        scenario: "invalid UTF-8 in a text frame",
        promise: "Error(protocol), close 1007, reconnect",
        ..bad_frame(
            crate::hostile::frame_bytes(true, 0, 0x1, &[b'o', b'k', 0xff, 0xfe]),
            ErrorKind::Protocol,
            1007,
            |b| b,
        )
    }
}

pub fn reserved_bits() -> Row {
    Row {
        scenario: "frame with RSV1 set (no extension negotiated)",
        promise: "Error(protocol), close 1002, reconnect",
        ..bad_frame(
            crate::hostile::frame_bytes(true, 0b100, 0x1, b"rsv"),
            ErrorKind::Protocol,
            1002,
            |b| b,
        )
    }
}

pub fn bad_opcode() -> Row {
    Row {
        scenario: "frame with reserved opcode 0x3",
        promise: "Error(protocol), close 1002, reconnect",
        ..bad_frame(
            crate::hostile::frame_bytes(true, 0, 0x3, b"op"),
            ErrorKind::Protocol,
            1002,
            |b| b,
        )
    }
}

pub fn masked_server_frame() -> Row {
    // A masked frame from a server is forbidden (RFC 6455 5.1).
    let mut f = vec![0x81, 0x80 | 2, 1, 2, 3, 4];
    f.extend_from_slice(&[b'h' ^ 1, b'i' ^ 2]);
    Row {
        scenario: "masked frame from the server",
        promise: "Error(protocol), close 1002, reconnect",
        ..bad_frame(f, ErrorKind::Protocol, 1002, |b| b)
    }
}

/// A frame dripped one byte at a time: any byte proves the peer alive, so it is delivered
/// intact however long the whole frame takes, as long as bytes keep coming within the
/// heartbeat budget; a drip that stops mid-frame is a dead peer within interval + timeout of
/// its last byte.
pub fn drip() -> Row {
    let mut row = Row::new(
        "frame dripped one byte at a time",
        "delivered intact (bytes prove liveness, even when the frame outlasts the heartbeat budget); a drip that stops = HeartbeatTimeout within interval + timeout",
    );
    let text = "dripped message, one byte at a time";
    let frame = crate::hostile::frame_bytes(true, 0, 0x1, text.as_bytes());
    let slow_frame = frame.clone();
    let last_byte: Arc<Mutex<Option<Instant>>> = Arc::default();
    let last = last_byte.clone();
    let server = Hostile::start(move |mut p| {
        if p.accept_ws().is_err() {
            return;
        }
        // 1st connection: 10 ms per byte (~0.4 s); 2nd: 100 ms per byte (~3.7 s, longer
        // than the 1.5 s heartbeat budget); 3rd: half the frame, then nothing.
        let (gap, bytes) = match p.index {
            0 => (ms(10), slow_frame.len()),
            1 => (ms(100), slow_frame.len()),
            _ => (ms(10), slow_frame.len() / 2),
        };
        for b in &slow_frame[..bytes] {
            if p.raw(&[*b]).is_err() {
                return;
            }
            *last.lock().unwrap() = Some(Instant::now());
            p.pause(gap);
        }
        p.hold(ms(5000));
    });
    let (client, mut ev) = start(&server.url(), |b| {
        b.heartbeat(Heartbeat::ping(ms(1000), ms(500)))
    });
    let is_text = |e: &Event| matches!(e, Event::Text(t) if t == text);
    let (t0, _) = ev.wait(ms(5000), is_open);
    let (t, _) = ev.wait(ms(5000), is_text);
    row.note = format!("{} bytes in {};", frame.len(), human(t - t0));
    client.reconnect_now().unwrap();
    let (t1, _) = ev.wait(ms(5000), is_open);
    let timeouts = |ev: &Events| ev.count(|e| matches!(e, Event::HeartbeatTimeout { .. }));
    let (t, _) = ev.wait(ms(10_000), |e| {
        is_text(e) || matches!(e, Event::HeartbeatTimeout { .. })
    });
    assert_eq!(
        timeouts(&ev),
        0,
        "a frame still arriving byte by byte is a live peer"
    );
    row.note
        .push_str(&format!(" at 100 ms/byte in {};", human(t - t1)));
    client.reconnect_now().unwrap();
    ev.wait(ms(5000), is_open);
    let (t, _) = ev.wait(ms(5000), |e| matches!(e, Event::HeartbeatTimeout { .. }));
    let stopped = last_byte
        .lock()
        .unwrap()
        .expect("the third drip sent bytes");
    row.detect = Some(t - stopped);
    assert_within("a drip that stopped", t - stopped, ms(1500) + MARGIN);
    finish(client, &mut ev);
    row.note
        .push_str(" a drip that stops mid-frame is dropped by the heartbeat");
    row
}

/// The server floods faster than the consumer reads: the bounded event channel stops the I/O
/// thread reading, TCP pushes back on the server, memory stays bounded, nothing is dropped.
pub fn flood() -> Row {
    let mut row = Row::new(
        "server floods, consumer stalls 1 s",
        "memory bounded (reading stops); all delivered in order afterwards",
    );
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w = written.clone();
    let server = Hostile::start(move |mut p| {
        if p.accept_ws().is_err() {
            return;
        }
        let payload = "f".repeat(1000);
        let until = Instant::now() + ms(1500);
        let mut i = 0usize;
        while Instant::now() < until && !p.stopping() {
            let f =
                crate::hostile::frame_bytes(true, 0, 0x1, format!("{i:08}{payload}").as_bytes());
            match p.raw(&f) {
                Ok(()) => {
                    i += 1;
                    w.store(i, std::sync::atomic::Ordering::SeqCst);
                }
                Err(_) => break,
            }
        }
        p.hold(ms(5000));
    });
    let rss0 = crate::rss_kib();
    let (client, mut ev) = start(&server.url(), |b| {
        b.event_capacity(16)
            .heartbeat(Heartbeat::ping(ms(3000), ms(2000)))
    });
    ev.wait(ms(5000), is_open);
    thread::sleep(ms(1000)); // the consumer stalls
    let at_stall = written.load(std::sync::atomic::Ordering::SeqCst);
    let rss1 = crate::rss_kib();
    thread::sleep(ms(300));
    let later = written.load(std::sync::atomic::Ordering::SeqCst);
    // Bounded: the server is blocked by TCP flow control, not still writing.
    assert_eq!(
        at_stall, later,
        "server kept writing while the consumer stalled"
    );
    assert!(at_stall < 20_000, "{at_stall} frames buffered somewhere");
    let grown = rss1.saturating_sub(rss0);
    assert!(grown < 32 * 1024, "RSS grew {grown} KiB");
    // Drain until nothing has come for 500 ms (the server stops writing 1.5 s after open).
    let mut next = 0usize;
    let until = Instant::now() + ms(20_000);
    while let Some((_, Event::Text(t))) = ev.try_wait(ms(500), |e| matches!(e, Event::Text(_))) {
        assert_eq!(t[..8].parse::<usize>().unwrap(), next, "gap or reorder");
        next += 1;
        assert!(Instant::now() < until, "drain took too long");
    }
    let total = written.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(next, total, "every frame the server wrote was delivered");
    finish(client, &mut ev);
    row.note = format!(
        "server blocked after {at_stall} x 1 KB frames; RSS +{grown} KiB; {total} delivered in order"
    );
    row
}

// ---- close requested in every state ---------------------------------------------------------

/// `close()` while the handshake hangs, while backing off, while open with traffic, and while
/// the server ignores our close frame: each returns promptly, never reconnects, and hands
/// back what was not sent.
pub fn close_in_every_state() -> Row {
    let mut row = Row::new(
        "close() while connecting / backing off / open / closing",
        "returns within close_timeout + 0.5 s; Stopped(closed); unsent handed back",
    );
    let mut worst = Duration::ZERO;
    // 1. Handshake hanging (connect timeout 10 s).
    {
        let server = Hostile::start(|mut p| {
            p.hold(ms(10_000));
        });
        let (client, mut ev) = start(&server.url(), |b| b.connect_timeout(ms(10_000)));
        ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
        thread::sleep(ms(100));
        client.send_text("queued-1").unwrap();
        let t0 = Instant::now();
        client.close(1000, "bye").unwrap();
        worst = worst.max(t0.elapsed());
        assert_within("close while connecting", t0.elapsed(), ms(500) + MARGIN);
        let (_, s) = ev.wait(ms(1000), is_stopped);
        assert_eq!(
            s,
            Event::Stopped {
                reason: StopReason::Closed,
                unsent: vec![wsbeat::Message::Text("queued-1".into())]
            }
        );
        drop(client);
    }
    // 2. Backing off (initial delay 10 s, port refused).
    {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (client, mut ev) = start(&format!("ws://127.0.0.1:{port}"), |b| {
            b.reconnect(Reconnect::fixed(ms(10_000)))
        });
        ev.wait(ms(3000), |e| matches!(e, Event::Reconnecting { .. }));
        client.send_text("queued-2").unwrap();
        let t0 = Instant::now();
        client.close(1000, "bye").unwrap();
        worst = worst.max(t0.elapsed());
        assert_within("close while backing off", t0.elapsed(), MARGIN);
        let (_, s) = ev.wait(ms(1000), is_stopped);
        assert_eq!(
            s,
            Event::Stopped {
                reason: StopReason::Closed,
                unsent: vec![wsbeat::Message::Text("queued-2".into())]
            }
        );
        drop(client);
    }
    // 3. Open with messages just sent: they go out before the close frame.
    {
        let server = RecordingServer::start("127.0.0.1:0").unwrap();
        let (client, mut ev) = start(&server.url(), |b| b);
        ev.wait(ms(5000), is_open);
        let mut ledger = Ledger::new("open");
        for _ in 0..20 {
            ledger.send(&client);
        }
        let t0 = Instant::now();
        client.close(1000, "bye").unwrap();
        worst = worst.max(t0.elapsed());
        assert_within("close while open", t0.elapsed(), ms(500) + MARGIN);
        ev.wait(ms(1000), is_stopped);
        drop(client);
        thread::sleep(ms(100));
        let acc = ledger.account(&server.received(), &ev.reported());
        acc.assert_clean();
        assert_eq!(acc.delivered, 20);
        assert_eq!(ev.count(|e| matches!(e, Event::Reconnecting { .. })), 0);
    }
    // 4. Closing: the server never answers the close frame (close timeout 500 ms); a second
    //    close() from another thread meanwhile is harmless.
    {
        let server = Hostile::start(|mut p| {
            if p.accept_ws().is_ok() {
                p.hold(ms(5000));
            }
        });
        let (client, mut ev) = start(&server.url(), |b| b);
        ev.wait(ms(5000), is_open);
        let h = client.handle();
        let second = thread::spawn(move || {
            thread::sleep(ms(100));
            h.close(1000, "again")
        });
        let t0 = Instant::now();
        client.close(1000, "bye").unwrap();
        let took = t0.elapsed();
        worst = worst.max(took);
        assert!(
            took >= ms(400),
            "close did not wait for the server: {took:?}"
        );
        assert_within("close while the server ignores it", took, ms(1000) + MARGIN);
        second.join().unwrap().unwrap();
        let (_, s) = ev.wait(ms(1000), is_stopped);
        assert!(
            matches!(
                s,
                Event::Stopped {
                    reason: StopReason::Closed,
                    ..
                }
            ),
            "{s:?}"
        );
        drop(client);
    }
    // 5. Dropped without close() while the handshake hangs: the thread still stops.
    {
        let server = Hostile::start(|mut p| {
            p.hold(ms(10_000));
        });
        let (client, mut ev) = start(&server.url(), |b| b.connect_timeout(ms(10_000)));
        ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
        let t0 = Instant::now();
        drop(client);
        worst = worst.max(t0.elapsed());
        assert_within("drop while connecting", t0.elapsed(), ms(1000) + MARGIN);
        ev.wait(ms(1000), is_stopped);
    }
    row.note = format!(
        "slowest close() {} (the server ignoring our close frame: waits close_timeout)",
        human(worst)
    );
    row
}

/// A named scenario.
pub type Scenario = (&'static str, fn() -> Row);

// ---- wss:// through the fault proxy -------------------------------------------------------

/// A TLS echo server with a certificate for `localhost` from a CA made for the test, and
/// client TLS options trusting only that CA.
fn tls_pair() -> (crate::tls_server::TlsEchoServer, wsbeat::TlsOptions) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "wsbeat faults CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let server = crate::tls_server::TlsEchoServer::start(crate::tls_server::server_config(
        &cert.pem(),
        &key.serialize_pem(),
        None,
    ));
    let opts = wsbeat::TlsOptions::default()
        .add_ca_pem(ca_pem)
        .without_bundled_roots();
    (server, opts)
}

fn tls_available() -> bool {
    !wsbeat::TlsOptions::backends().is_empty()
}

/// wss:// behind the proxy: black hole (detected by the heartbeat through TLS), heal, then a
/// RST cut; each time a new TLS connection opens and echoes flow again.
fn tls_faults(rst: bool) -> Row {
    let mut row = Row::new("", "");
    if !tls_available() {
        eprintln!("SKIPPED wss scenario: built without a TLS backend");
        row.note = "SKIPPED: built without a TLS backend".into();
        return row;
    }
    let (server, tls) = tls_pair();
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let proxy = FaultProxy::start(upstream).unwrap();
    let url = format!("wss://localhost:{}", proxy.addr().port());
    let (client, mut ev) = start(&url, |b| b.tls(tls).connect_timeout(ms(500)));
    ev.wait(ms(10_000), is_open);
    client.send_text("before").unwrap();
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if t == "before"));
    ev.wait(ms(2000), |e| matches!(e, Event::Pong { .. }));
    let t0 = Instant::now();
    if rst {
        proxy.cut_rst();
        let (t, _) = ev.wait(ms(3000), |e| matches!(e, Event::Error { .. }));
        row.detect = Some(t - t0);
        assert_within("detection", t - t0, MARGIN);
    } else {
        proxy.blackhole(true);
        let (t, _) = ev.wait(ms(3000), |e| matches!(e, Event::HeartbeatTimeout { .. }));
        row.detect = Some(t - t0);
        assert_within("detection", t - t0, INTERVAL + TIMEOUT + MARGIN);
        ev.wait(ms(3000), |e| {
            matches!(
                e,
                Event::Error {
                    kind: ErrorKind::ConnectTimeout,
                    ..
                }
            )
        });
        proxy.blackhole(false);
    }
    let t1 = Instant::now();
    let (t, _) = ev.wait(ms(10_000), is_open);
    row.recover = Some(t - t1);
    client.send_text("after").unwrap();
    ev.wait(ms(5000), |e| matches!(e, Event::Text(t) if t == "after"));
    finish(client, &mut ev);
    assert_eq!(server.opened(), 2, "one TLS connection per open");
    assert_eq!(ev.texts(), ["before", "after"]);
    row
}

pub fn wss_blackhole() -> Row {
    Row {
        scenario: "wss:// black-holed path (TLS through the proxy)",
        promise: "HeartbeatTimeout within interval+timeout; new TLS session after heal",
        ..tls_faults(false)
    }
}

pub fn wss_cut_rst() -> Row {
    Row {
        scenario: "wss:// path cut with RST",
        promise: "Error at once; new TLS session; reconnect",
        ..tls_faults(true)
    }
}

// ---- kernel-level drops --------------------------------------------------------------------

fn sh(cmd: &str) -> Result<(), String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{cmd}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether this machine lets us make a private network namespace and black-hole its loopback.
fn kernel_ready() -> Result<(), String> {
    sh("unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root blackhole' 2>&1")
        .map_err(|e| format!("needs root, unshare, ip and tc ({e})"))
}

/// The half-open check done by the kernel: inside a private network namespace (`unshare -n`,
/// so nothing else is touched), `tc qdisc add dev lo root blackhole` drops every packet: TCP
/// keeps retransmitting, nothing is ACKed. Skipped, saying so, without the privilege.
pub fn kernel_blackhole() -> Row {
    let mut row = Row::new(
        "kernel-level black hole (tc blackhole on lo, private netns)",
        "HeartbeatTimeout within interval+timeout; reconnect after heal",
    );
    if let Err(why) = kernel_ready() {
        eprintln!("SKIPPED kernel-level black hole: {why}");
        println!("SKIPPED kernel-level black hole: {why}");
        row.note = format!("SKIPPED here: {why}");
        return row;
    }
    let out = crate::process::run_kernel_helper(&["unshare", "-n"], Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("kernel scenario failed: {e}"));
    let line = out
        .lines()
        .find_map(|l| l.find("KERNEL-ROW ").map(|i| &l[i + 11..]))
        .unwrap_or_else(|| panic!("no result line in: {out}"));
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    row.detect = Some(Duration::from_micros(v[0]));
    row.recover = Some(Duration::from_micros(v[1]));
    row.acc = Some(Accounting {
        sent: v[2] as usize,
        delivered: v[3] as usize,
        reported: v[4] as usize,
        lost: vec![String::new(); v[5] as usize],
        ..Accounting::default()
    });
    row.note = format!(
        "{} lost, {} handed back unconfirmed; none arrived late",
        v[5], v[4]
    );
    row
}

/// The body of [`kernel_blackhole`], run in the private namespace by the helper process.
pub fn kernel_inner() {
    sh("ip link set lo up").unwrap();
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let (client, mut ev) = start(&server.url(), |b| b.connect_timeout(ms(300)));
    let mut ledger = Ledger::new("kbh");
    ev.wait(ms(5000), is_open);
    round_trip(&client, &mut ev, &mut ledger, 5);
    ev.wait(ms(2000), |e| matches!(e, Event::Pong { .. }));
    sh("tc qdisc add dev lo root blackhole").unwrap();
    let t0 = Instant::now();
    for _ in 0..3 {
        ledger.send(&client);
    }
    let (t, _) = ev.wait(ms(3000), |e| matches!(e, Event::HeartbeatTimeout { .. }));
    let detect = t - t0;
    assert_within(
        "kernel black hole detection",
        detect,
        INTERVAL + TIMEOUT + MARGIN,
    );
    let (_, c) = ev.wait(ms(2000), is_closed);
    assert!(
        matches!(
            c,
            Event::Closed {
                code: 1006,
                will_reconnect: true,
                ..
            }
        ),
        "{c:?}"
    );
    // SYNs vanish too: attempts end by the connect timeout.
    ev.wait(ms(3000), |e| {
        matches!(
            e,
            Event::Error {
                kind: ErrorKind::ConnectTimeout,
                ..
            }
        )
    });
    sh("tc qdisc del dev lo root").unwrap();
    let t1 = Instant::now();
    let (t, _) = ev.wait(ms(5000), is_open);
    let recover = t - t1;
    assert_within("reconnect after heal", recover, ms(300 + 400) + MARGIN);
    round_trip(&client, &mut ev, &mut ledger, 5);
    // Give retransmissions of the old connection a moment to land.
    thread::sleep(ms(300));
    finish(client, &mut ev);
    let acc = ledger.account(&server.received(), &ev.reported());
    // Before wsbeat reset dead connections, TCP retransmitted the hole's messages after the
    // heal and the server got them after the next connection's: out of order.
    assert!(
        acc.duplicated.is_empty() && acc.out_of_order.is_empty(),
        "{acc:#?}"
    );
    assert!(acc.lost.is_empty(), "{acc:#?}");
    println!(
        "\nKERNEL-ROW {} {} {} {} {} {}",
        detect.as_micros(),
        recover.as_micros(),
        acc.sent,
        acc.delivered,
        acc.reported,
        acc.lost.len()
    );
}

// ---- proxies, DNS and addresses -------------------------------------------------------------

fn is_error(kind: ErrorKind) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Error { kind: k, .. } if *k == kind)
}

fn error_text(e: &Event) -> String {
    match e {
        Event::Error { message, .. } => message.clone(),
        other => format!("{other:?}"),
    }
}

/// A scripted proxy's failure: the client reports `kind` (its text containing `want`), and
/// retries (`retried`) or stops with `PolicyDeclined` without another attempt.
fn proxy_fault(
    row: &mut Row,
    scheme: &str,
    script: impl Fn(crate::hostile::Peer) + Send + Sync + 'static,
    kind: ErrorKind,
    want: &str,
    retried: bool,
) {
    let proxy = Hostile::start(script);
    let url = format!("{scheme}://user:Pr0xyPass@{}", proxy.addr());
    let (client, mut ev) = start("ws://target.example/", |b| {
        b.proxy(wsbeat::Proxy::url(&url).unwrap())
    });
    let (t0, _) = ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
    let (t, e) = ev.wait(ms(5000), is_error(kind));
    row.detect = Some(t - t0);
    let text = error_text(&e);
    assert!(text.contains(want), "want {want:?} in {text:?}");
    assert!(
        !text.contains("Pr0xyPass"),
        "the proxy password in {text:?}"
    );
    if retried {
        ev.wait(ms(3000), |e| {
            matches!(e, Event::Reconnecting { attempt: 1, .. })
        });
        ev.wait(ms(3000), |e| {
            matches!(e, Event::Connecting { attempt: 1, .. })
        });
        finish(client, &mut ev);
        row.note = format!("retried; {}", text.split(" (proxy ").next().unwrap_or(""));
    } else {
        let (_, stop) = ev.wait(ms(3000), is_stopped);
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
        assert_eq!(proxy.accepted(), 1, "not retried");
        drop(client);
        row.note = format!(
            "not retried; {}",
            text.split(" (proxy ").next().unwrap_or("")
        );
    }
}

/// Close a scripted connection (the hostile server keeps a handle on each socket).
fn hang_up(p: &crate::hostile::Peer) {
    let _ = p.stream.shutdown(std::net::Shutdown::Both);
}

pub fn proxy_407() -> Row {
    let mut row = Row::new(
        "HTTP proxy answers CONNECT with 407",
        "Error(proxy_auth) naming proxy authentication; not retried",
    );
    proxy_fault(
        &mut row,
        "http",
        |mut p| {
            let _ = p.read_request();
            let _ =
                p.raw(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
        },
        ErrorKind::ProxyAuth,
        "proxy authentication",
        false,
    );
    row
}

pub fn proxy_refuses_tunnel() -> Row {
    let mut row = Row::new(
        "HTTP proxy answers CONNECT with 403",
        "Error(proxy) with the status; retried with backoff",
    );
    proxy_fault(
        &mut row,
        "http",
        |mut p| {
            let _ = p.read_request();
            let _ = p.raw(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        },
        ErrorKind::Proxy,
        "403",
        true,
    );
    row
}

pub fn proxy_garbage() -> Row {
    let mut row = Row::new(
        "HTTP proxy answers CONNECT with garbage",
        "Error(proxy): not HTTP; retried",
    );
    proxy_fault(
        &mut row,
        "http",
        |mut p| {
            let _ = p.read_request();
            let _ = p.raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
        },
        ErrorKind::Proxy,
        "not HTTP",
        true,
    );
    row
}

pub fn proxy_oversized_reply() -> Row {
    let mut row = Row::new(
        "HTTP proxy's CONNECT reply never ends (headers > 16 KiB)",
        "Error(proxy): reply too large, read no further; retried",
    );
    proxy_fault(
        &mut row,
        "http",
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
        ErrorKind::Proxy,
        "exceeds 16384 bytes",
        true,
    );
    row
}

pub fn proxy_closes_early() -> Row {
    let mut row = Row::new(
        "proxy closes the connection before answering",
        "Error(proxy); retried",
    );
    proxy_fault(
        &mut row,
        "http",
        |mut p| {
            let _ = p.read_request();
            hang_up(&p);
        },
        ErrorKind::Proxy,
        "closed the connection",
        true,
    );
    row
}

pub fn proxy_unreachable() -> Row {
    let mut row = Row::new(
        "proxy not listening (refused)",
        "Error(proxy) naming the proxy (no password); retried",
    );
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://user:Pr0xyPass@{addr}");
    let (client, mut ev) = start("ws://target.example/", |b| {
        b.proxy(wsbeat::Proxy::url(&url).unwrap())
    });
    let (t0, _) = ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
    let (t, e) = ev.wait(ms(5000), is_error(ErrorKind::Proxy));
    row.detect = Some(t - t0);
    let text = error_text(&e);
    assert!(text.contains(&format!("proxy http://{addr}")), "{text}");
    assert!(!text.contains("Pr0xyPass"), "{text}");
    ev.wait(ms(3000), |e| {
        matches!(e, Event::Connecting { attempt: 1, .. })
    });
    finish(client, &mut ev);
    row.note = "retried".into();
    row
}

pub fn proxy_blackhole() -> Row {
    let mut row = Row::new(
        "proxy accepts but never answers (black hole)",
        "Error(connect_timeout) after connect_timeout (300 ms); retried; close() interrupts it",
    );
    let proxy = Hostile::start(|mut p| {
        p.hold(ms(5000));
    });
    let url = format!("http://{}", proxy.addr());
    let (client, mut ev) = start("ws://target.example/", |b| {
        b.proxy(wsbeat::Proxy::url(&url).unwrap())
            .connect_timeout(ms(300))
    });
    let (t0, _) = ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
    let (t, e) = ev.wait(ms(3000), is_error(ErrorKind::ConnectTimeout));
    row.detect = Some(t - t0);
    assert!(error_text(&e).contains("proxy handshake"), "{e:?}");
    assert!(t - t0 >= ms(200), "{:?}", t - t0);
    assert_within("proxy black hole", t - t0, ms(300) + MARGIN);
    ev.wait(ms(3000), |e| {
        matches!(e, Event::Connecting { attempt: 1, .. })
    });
    let c0 = Instant::now();
    client.close(1000, "bye").unwrap();
    ev.wait(ms(3000), is_stopped);
    let closed = c0.elapsed();
    assert_within("close() during the proxy handshake", closed, MARGIN);
    drop(client);
    row.note = format!(
        "close() during the proxy handshake returned in {}",
        human(closed)
    );
    row
}

pub fn socks5_auth_refused() -> Row {
    let mut row = Row::new(
        "SOCKS5 proxy refuses the user name and password",
        "Error(proxy_auth); not retried",
    );
    proxy_fault(
        &mut row,
        "socks5h",
        |mut p| {
            use std::io::Read;
            let mut greeting = [0u8; 4];
            let _ = p.stream.read_exact(&mut greeting);
            let _ = p.raw(&[5, 2]);
            // version, user (4), password (9)
            let mut auth = [0u8; 2 + 4 + 1 + 9];
            let _ = p.stream.read_exact(&mut auth);
            let _ = p.raw(&[1, 1]);
        },
        ErrorKind::ProxyAuth,
        "refused the user name and password",
        false,
    );
    row
}

pub fn dns_never_answers() -> Row {
    let mut row = Row::new(
        "resolver never answers",
        "Error(connect_timeout) after connect_timeout (300 ms); retried; close() interrupts it",
    );
    let (release, gate) = crossbeam_channel::unbounded::<()>();
    let (called_tx, called) = crossbeam_channel::unbounded::<()>();
    let (client, mut ev) = start("ws://never.example/", |b| {
        b.connect_timeout(ms(300)).resolver(move |_: &str, _| {
            let _ = called_tx.send(());
            let _ = gate.recv_timeout(ms(10_000));
            Err(std::io::Error::other("released"))
        })
    });
    let (t0, _) = ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
    let (t, e) = ev.wait(ms(3000), is_error(ErrorKind::ConnectTimeout));
    row.detect = Some(t - t0);
    assert!(error_text(&e).contains("DNS resolution"), "{e:?}");
    assert_within("DNS bound", t - t0, ms(300) + MARGIN);
    called.recv_timeout(ms(100)).expect("first lookup");
    called.recv_timeout(ms(3000)).expect("second lookup");
    let c0 = Instant::now();
    client.close(1000, "bye").unwrap();
    ev.wait(ms(3000), is_stopped);
    let closed = c0.elapsed();
    assert_within("close() during DNS", closed, MARGIN);
    drop(client);
    drop(release);
    row.note = format!("close() during the lookup returned in {}", human(closed));
    row
}

pub fn happy_eyeballs() -> Row {
    let mut row = Row::new(
        "first address black-holed, second works (Happy Eyeballs)",
        "opens after the 250 ms stagger, not the connect timeout (5 s); one connection",
    );
    // A loopback black hole: a backlog-0 listener whose queue is full drops further SYNs.
    use socket2::{Domain, Socket, Type};
    let hole = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    hole.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    hole.listen(0).unwrap();
    let hole_addr = hole.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    let black = loop {
        match std::net::TcpStream::connect_timeout(&hole_addr, ms(200)) {
            Ok(s) => fillers.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break true,
            Err(e) => panic!("black hole: {e}"),
        }
        assert!(
            fillers.len() < 5,
            "no loopback black hole: a full backlog still accepts"
        );
    };
    assert!(black);
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let good = server.addr();
    let (client, mut ev) = start("ws://dual.example/", |b| {
        b.connect_timeout(ms(5000))
            .resolver(move |_: &str, _| Ok(vec![hole_addr, good]))
    });
    let (t0, _) = ev.wait(ms(2000), |e| matches!(e, Event::Connecting { .. }));
    let (t, _) = ev.wait(ms(4000), is_open);
    row.recover = Some(t - t0);
    assert!(t - t0 >= ms(200), "opened before the stagger: {:?}", t - t0);
    assert_within("Happy Eyeballs", t - t0, ms(250) + MARGIN);
    finish(client, &mut ev);
    assert_eq!(server.accepted(), 1);
    row.note = "the black-holed attempt was closed".into();
    row
}

/// The one list of the fault matrix's scenarios, in matrix order, as `row_name => function`.
/// It calls `$callback! { name => path, ... }` with the whole list: this module makes [`ALL`]
/// from it, and `tests/faults.rs` makes one `#[test]` per scenario, so a scenario cannot be in
/// the matrix without its test (nor the other way round).
#[macro_export]
macro_rules! for_each_scenario {
    ($callback:ident) => {
        $callback! {
            blackhole => $crate::scenarios::blackhole,
            kernel_blackhole => $crate::scenarios::kernel_blackhole,
            cut_rst => $crate::scenarios::cut_rst,
            wss_blackhole => $crate::scenarios::wss_blackhole,
            wss_cut_rst => $crate::scenarios::wss_cut_rst,
            refused_then_accepts => $crate::scenarios::refused_then_accepts,
            delayed_path => $crate::scenarios::delayed_path,
            throttled_path => $crate::scenarios::throttled_path,
            heartbeat_behind_slow_upload => $crate::scenarios::heartbeat_behind_slow_upload,
            flapping => $crate::scenarios::flapping,
            server_killed => $crate::scenarios::server_killed,
            server_restart_same_port => $crate::scenarios::server_restart_same_port,
            http_401 => $crate::scenarios::http_401,
            http_404 => $crate::scenarios::http_404,
            http_503_retry_after => $crate::scenarios::http_503_retry_after,
            http_429_retry_after => $crate::scenarios::http_429_retry_after,
            handshake_garbage => $crate::scenarios::handshake_garbage,
            handshake_hangs => $crate::scenarios::handshake_hangs,
            unresolvable_host => $crate::scenarios::unresolvable_host,
            close_1000 => $crate::scenarios::close_1000,
            close_1001 => $crate::scenarios::close_1001,
            close_1008 => $crate::scenarios::close_1008,
            close_1011 => $crate::scenarios::close_1011,
            close_1012 => $crate::scenarios::close_1012_restarts_schedule,
            close_1013 => $crate::scenarios::close_1013,
            close_4000 => $crate::scenarios::close_4000,
            oversized_message => $crate::scenarios::oversized_message,
            invalid_utf8 => $crate::scenarios::invalid_utf8,
            reserved_bits => $crate::scenarios::reserved_bits,
            bad_opcode => $crate::scenarios::bad_opcode,
            masked_server_frame => $crate::scenarios::masked_server_frame,
            drip => $crate::scenarios::drip,
            flood => $crate::scenarios::flood,
            close_in_every_state => $crate::scenarios::close_in_every_state,
            proxy_407 => $crate::scenarios::proxy_407,
            proxy_refuses_tunnel => $crate::scenarios::proxy_refuses_tunnel,
            proxy_garbage => $crate::scenarios::proxy_garbage,
            proxy_oversized_reply => $crate::scenarios::proxy_oversized_reply,
            proxy_closes_early => $crate::scenarios::proxy_closes_early,
            proxy_unreachable => $crate::scenarios::proxy_unreachable,
            proxy_blackhole => $crate::scenarios::proxy_blackhole,
            socks5_auth_refused => $crate::scenarios::socks5_auth_refused,
            dns_never_answers => $crate::scenarios::dns_never_answers,
            happy_eyeballs => $crate::scenarios::happy_eyeballs,
        }
    };
}

macro_rules! define_all {
    ($($name:ident => $f:path),* $(,)?) => {
        /// Every scenario, in matrix order (made by [`for_each_scenario!`](crate::for_each_scenario)).
        pub const ALL: &[Scenario] = &[$((stringify!($name), $f)),*];
    };
}

for_each_scenario!(define_all);
