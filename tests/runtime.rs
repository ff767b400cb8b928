//! Clients on a shared [`Runtime`]: what sharing a thread must not change. The behaviour
//! suites (core, faults, weak_network, ...) also run with every client on a runtime
//! (`WSBEAT_TEST_RUNTIME`, see `wsbeat_testkit::builder`); these tests cover what only
//! exists with one: many clients per thread, one client's trouble not stalling the others on
//! its thread, waiting on a neighbour from a callback, and the reconnect spread.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;
use wsbeat::{Client, Event, Heartbeat, Reconnect, Runtime, State};
use wsbeat_testkit::proxy::FaultProxy;
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::threads_named;
use wsbeat_testkit::wait::wait_for;

/// The tests count the process's threads: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Threads of this process whose name starts with `prefix`.
fn threads_starting(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .count()
}

/// Wait until `f` holds, at most `within`.
fn eventually(within: Duration, what: &str, f: impl Fn() -> bool) {
    let until = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        thread::sleep(ms(5));
    }
}

/// Send "ping" and wait for its echo; the round trip's time.
fn round_trip(client: &Client, within: Duration) -> Duration {
    let rx = client.events().unwrap();
    let t0 = Instant::now();
    client.send_text("ping").unwrap();
    wait_for(&rx, within, &mut Vec::new(), |e| {
        *e == Event::Text("ping".into())
    });
    t0.elapsed()
}

fn open(client: &Client) {
    let rx = client.events().unwrap();
    wait_for(&rx, ms(10_000), &mut Vec::new(), |e| {
        matches!(e, Event::Opened { .. })
    });
}

#[test]
fn two_hundred_clients_on_two_threads() {
    let _serial = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let rt = Runtime::new(2).unwrap();
    let (tx, rx) = unbounded();
    let clients: Vec<Client> = (0..200)
        .map(|i| {
            let tx = tx.clone();
            Client::builder(server.url())
                .runtime(&rt)
                .heartbeat(Heartbeat::ping(ms(200), ms(150)))
                .on_event(move |h, ev| match ev {
                    Event::Opened { .. } => h.send_text(format!("hello {i}")).unwrap(),
                    Event::Text(t) => tx.send((i, t)).unwrap(),
                    _ => {}
                })
                .connect()
                .unwrap()
        })
        .collect();
    let mut got: Vec<(usize, String)> = (0..200)
        .map(|_| rx.recv_timeout(ms(20_000)).expect("an echo"))
        .collect();
    got.sort();
    for (i, (who, text)) in got.iter().enumerate() {
        assert_eq!((*who, text.as_str()), (i, format!("hello {i}").as_str()));
    }
    assert_eq!(rt.clients(), 200);
    assert_eq!(
        threads_named("wsbeat-io"),
        0,
        "no client has a thread of its own"
    );
    assert_eq!(
        threads_starting("wsbeat-rt-"),
        2,
        "the runtime's two threads, no more"
    );
    // Heartbeats keep every connection open while idle (several intervals).
    thread::sleep(ms(500));
    assert!(clients.iter().all(|c| c.state() == State::Open));
    assert!(clients.iter().all(|c| c.stats().last_rtt.is_some()));
    drop(clients);
    assert_eq!(rt.clients(), 0, "dropping a client stops its task");
    drop(rt);
    eventually(ms(5000), "the runtime's threads to end", || {
        threads_starting("wsbeat-rt-") == 0
    });
}

#[test]
fn a_full_event_channel_stops_only_its_own_client() {
    let _serial = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let rt = Runtime::new(1).unwrap();
    let stuck = Client::builder(server.url())
        .runtime(&rt)
        .event_capacity(4)
        .connect()
        .unwrap();
    let other = Client::builder(server.url())
        .runtime(&rt)
        .connect()
        .unwrap();
    open(&stuck);
    open(&other);
    // Nobody reads `stuck`'s events: 500 echoes cannot fit its channel of 4.
    for i in 0..500 {
        stuck.send_text(format!("m{i}")).unwrap();
    }
    eventually(ms(5000), "the stuck client's channel to fill", || {
        stuck.events().unwrap().len() >= 4
    });
    // Its neighbour on the same thread is not held up.
    for _ in 0..20 {
        let rtt = round_trip(&other, ms(2000));
        assert!(rtt < ms(1000), "neighbour round trip took {rtt:?}");
    }
    // Nothing was lost meanwhile: every echo arrives, in order, once read.
    let events = stuck.events().unwrap();
    let mut next = 0;
    while next < 500 {
        match events
            .recv_timeout(ms(5000))
            .expect("the rest of the echoes")
        {
            Event::Text(t) => {
                assert_eq!(t, format!("m{next}"));
                next += 1;
            }
            Event::Pong { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_stalled_socket_stops_only_its_own_client() {
    let _serial = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start_with_buffers(server.local_addr(), 64 * 1024).unwrap();
    let rt = Runtime::new(1).unwrap();
    let slow = Client::builder(proxy.url())
        .runtime(&rt)
        .heartbeat(Heartbeat::off())
        .outbox_limit(10_000, 64 << 20)
        .connect()
        .unwrap();
    let other = Client::builder(server.url())
        .runtime(&rt)
        .connect()
        .unwrap();
    open(&slow);
    open(&other);
    proxy.stall(true);
    // Far more than the path buffers: `slow`'s writes back up.
    let big = vec![7u8; 256 * 1024];
    for _ in 0..64 {
        slow.send_binary(big.clone()).unwrap();
    }
    // All of it taken by the client's loop (into tungstenite's buffer behind a full socket).
    eventually(ms(5000), "the stalled client to take every message", || {
        slow.stats().messages_out == 64
    });
    for _ in 0..20 {
        let rtt = round_trip(&other, ms(2000));
        assert!(rtt < ms(1000), "neighbour round trip took {rtt:?}");
    }
    // Still stalled during the test: none of its 16 MiB reached the server.
    assert_eq!(
        server.echoed(),
        20,
        "only the neighbour's pings were echoed"
    );
    proxy.stall(false);
    let events = slow.events().unwrap();
    for _ in 0..64 {
        wait_for(
            &events,
            ms(20_000),
            &mut Vec::new(),
            |e| matches!(e, Event::Binary(b) if b.len() == big.len()),
        );
    }
}

#[test]
fn a_hanging_handshake_does_not_hold_the_thread() {
    let _serial = serial();
    // Accepts TCP, never answers the WebSocket handshake.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", silent.local_addr().unwrap());
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let rt = Runtime::new(1).unwrap();
    let hanging = Client::builder(&url)
        .runtime(&rt)
        .connect_timeout(ms(30_000))
        .connect()
        .unwrap();
    let other = Client::builder(server.url())
        .runtime(&rt)
        .connect()
        .unwrap();
    open(&other);
    for _ in 0..10 {
        assert!(round_trip(&other, ms(2000)) < ms(1000));
    }
    assert_eq!(hanging.state(), State::Connecting, "still in its handshake");
    // close() interrupts it, on the shared thread as on its own.
    let t0 = Instant::now();
    hanging.close(1000, "").unwrap();
    assert!(t0.elapsed() < ms(2000), "close took {:?}", t0.elapsed());
    assert_eq!(hanging.state(), State::Stopped);
}

#[test]
fn closing_a_neighbour_from_a_callback_does_not_wait_for_the_thread_itself() {
    let _serial = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let rt = Runtime::new(1).unwrap();
    let neighbour = Client::builder(server.url())
        .runtime(&rt)
        .connect()
        .unwrap();
    open(&neighbour);
    let slot = Arc::new(Mutex::new(Some(neighbour.clone())));
    let (tx, rx) = unbounded();
    let s = slot.clone();
    let _closer = Client::builder(server.url())
        .runtime(&rt)
        .on_event(move |_, ev| {
            if let Event::Opened { .. } = ev
                && let Some(n) = s.lock().unwrap().take()
            {
                // Waiting for the neighbour's loop here would wait for this very thread.
                let t0 = Instant::now();
                n.close(1000, "from a neighbour").unwrap();
                drop(n);
                tx.send(t0.elapsed()).unwrap();
            }
        })
        .connect()
        .unwrap();
    let took = rx.recv_timeout(ms(10_000)).unwrap();
    assert!(
        took < ms(500),
        "close from a neighbour's callback took {took:?}"
    );
    let events = neighbour.events().unwrap();
    wait_for(&events, ms(5000), &mut Vec::new(), |e| {
        matches!(e, Event::Stopped { .. })
    });
}

/// Offsets of the reconnections after `t0`, in ms, sorted.
fn offsets(times: &Mutex<Vec<Instant>>, t0: Instant) -> Vec<f64> {
    let mut v: Vec<f64> = times
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.saturating_duration_since(t0).as_secs_f64() * 1000.0)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The spread of sorted offsets: the 10th to the 90th percentile.
fn spread(v: &[f64]) -> f64 {
    v[v.len() * 9 / 10] - v[v.len() / 10]
}

#[test]
fn a_restarting_server_sees_the_same_reconnect_spread_as_with_separate_threads() {
    let _serial = serial();
    const N: usize = 150;
    const INITIAL: u64 = 400;
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let rt = Runtime::new(2).unwrap();
    let opened: [Arc<Mutex<Vec<Instant>>>; 2] = Default::default();
    let first_opens = Arc::new(AtomicUsize::new(0));
    let make = |on_runtime: bool| {
        let times = opened[on_runtime as usize].clone();
        let first = first_opens.clone();
        let b = Client::builder(server.url())
            .reconnect(Reconnect::exponential().initial(ms(INITIAL)).jitter(1.0))
            .on_event(move |_, ev| match ev {
                Event::Opened {
                    reconnect: true, ..
                } => times.lock().unwrap().push(Instant::now()),
                Event::Opened { .. } => {
                    first.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            });
        match on_runtime {
            true => b.runtime(&rt),
            false => b,
        }
        .connect()
        .unwrap()
    };
    let clients: Vec<Client> = (0..N).flat_map(|_| [make(true), make(false)]).collect();
    // Every handshake done, not just every TCP accept (the server lists a connection from
    // its accept on): a close sent mid-handshake is a failed first attempt, whose retry
    // opens with `reconnect: false` and would never count below.
    eventually(ms(20_000), "every client to open", || {
        first_opens.load(Ordering::SeqCst) == 2 * N && server.open_connections() == 2 * N
    });
    let t0 = Instant::now();
    server.close_all(1012, "restarting");
    eventually(ms(20_000), "every client to reconnect", || {
        opened.iter().all(|t| t.lock().unwrap().len() == N)
    });
    let own = offsets(&opened[0], t0);
    let shared = offsets(&opened[1], t0);
    let (s_own, s_rt) = (spread(&own), spread(&shared));
    eprintln!("reconnect spread p10..p90: own threads {s_own:.0} ms, runtime {s_rt:.0} ms");
    // Full jitter over 400 ms spreads p10..p90 over ~320 ms: no herd on either side.
    assert!(
        s_rt > 0.4 * INITIAL as f64,
        "runtime clients reconnected in a herd: {shared:?}"
    );
    assert!(s_own > 0.4 * INITIAL as f64, "{own:?}");
    let ratio = s_rt / s_own;
    assert!((0.6..1.6).contains(&ratio), "spread ratio {ratio:.2}");
    drop(clients);
}

#[test]
fn a_server_restart_loses_nothing_on_a_runtime() {
    let _serial = serial();
    const N: usize = 100;
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let rt = Runtime::new(2).unwrap();
    let (tx, rx) = unbounded();
    let clients: Vec<Client> = (0..N)
        .map(|i| {
            let tx = tx.clone();
            Client::builder(server.url())
                .runtime(&rt)
                .heartbeat(Heartbeat::ping(ms(200), ms(150)))
                .reconnect(Reconnect::exponential().initial(ms(50)).max(ms(300)))
                .on_event(move |_, ev| {
                    if let Event::Text(t) = ev {
                        tx.send((i, t)).unwrap();
                    }
                })
                .connect()
                .unwrap()
        })
        .collect();
    eventually(ms(20_000), "every client to open", || {
        server.open_connections() == N
    });
    server.stop();
    eventually(ms(5000), "every client to see the server gone", || {
        clients.iter().all(|c| c.state() != State::Open)
    });
    // Sent while the server is down: kept in the outbox, delivered after the reconnect.
    for (i, c) in clients.iter().enumerate() {
        c.send_text(format!("while down {i}")).unwrap();
    }
    server.restart().unwrap();
    let mut got: Vec<(usize, String)> = (0..N)
        .map(|_| {
            rx.recv_timeout(ms(20_000))
                .expect("an echo after the restart")
        })
        .collect();
    got.sort();
    for (i, (who, text)) in got.iter().enumerate() {
        assert_eq!(
            (*who, text.as_str()),
            (i, format!("while down {i}").as_str())
        );
    }
}
