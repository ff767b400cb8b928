//! The sender's direct write (`io_loop::send_direct`): a message sent to an idle open
//! connection is written by the sending thread itself, without waking the I/O thread, and never
//! overtakes messages queued before it.

use wsbeat_testkit::builder;
use wsbeat_testkit::wait;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use wsbeat::{Event, Heartbeat, Message, Reconnect};
use wsbeat_testkit::recorder::RecordingServer;
use wsbeat_testkit::{Ledger, io_thread_sleeps, ms};

/// The tests read the process's one `wsbeat-io` thread: one client at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A WebSocket server that reads and never writes: each text message it receives goes into the
/// returned channel. Nothing it does can wake the client's I/O thread.
fn silent_sink() -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (tx, rx) = crossbeam_channel::unbounded();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        while let Ok(m) = ws.read() {
            if let tungstenite::Message::Text(t) = m
                && tx.send(t.as_str().to_owned()).is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

fn wait_opened(rx: &wsbeat::Events) {
    let opened = |e: &Event| matches!(e, Event::Opened { .. });
    wait::wait_for(rx, Duration::from_secs(5), &mut Vec::new(), opened);
}

/// Before the direct write, every send woke the sleeping I/O thread (one eventfd write, one
/// `epoll_wait` return, one sleep) just to copy the message to the socket. Now 200 sends, each
/// received by the server before the next, leave the idle I/O thread asleep.
#[test]
fn sends_to_an_idle_connection_do_not_wake_the_io_thread() {
    let _g = serial();
    let (url, received) = silent_sink();
    let client = builder(url).heartbeat(Heartbeat::off()).connect().unwrap();
    let events = client.events().unwrap();
    wait_opened(&events);
    // Let the I/O thread finish its first turn and fall asleep: the first send may meet it
    // awake (then it is queued, and wakes nothing either).
    client.send_text("first").unwrap();
    assert_eq!(
        received.recv_timeout(Duration::from_secs(5)).unwrap(),
        "first"
    );
    let before = io_thread_sleeps();
    for i in 0..200 {
        client.send_text(format!("m{i}")).unwrap();
        let got = received.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(got, format!("m{i}"));
    }
    let slept = io_thread_sleeps() - before;
    // Through the I/O thread this is at least 200 (one sleep per message). Directly, the I/O
    // thread is woken once per 16 consecutive direct writes (DIRECT_STREAK, which keeps floods
    // batched): about 13 here, and a few more are allowed.
    assert!(
        slept < 40,
        "the I/O thread slept {slept} times for 200 sends to an idle connection"
    );
    assert_eq!(client.stats().messages_out, 201);
    client.close(1000, "").unwrap();
}

/// Messages queued while connecting go out first; messages sent as soon as `Opened` arrives,
/// while that backlog is still being written, queue behind it instead of being written
/// directly ahead of it.
#[test]
fn direct_writes_never_overtake_the_backlog() {
    let _g = serial();
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let (opened_tx, opened) = crossbeam_channel::bounded(1);
    // The server echoes in the order it received: the echoes' order is the arrival order.
    let (echo_tx, echoes) = crossbeam_channel::unbounded();
    let client = builder(server.url())
        .heartbeat(Heartbeat::off())
        .outbox_limit(100_000, 256 << 20)
        .on_event(move |_, ev| match ev {
            Event::Opened { .. } => {
                let _ = opened_tx.try_send(());
            }
            Event::Text(t) => {
                let _ = echo_tx.send(t.split(' ').next().unwrap_or_default().to_owned());
            }
            _ => {}
        })
        .connect()
        .unwrap();
    // 20 MiB queued before the connection opens: more than the socket buffers hold, so the
    // I/O thread writes it over many turns and sleeps between them with the backlog pending.
    let pad = "x".repeat(1024);
    let backlog = 20_000;
    for i in 0..backlog {
        client.send_text(format!("b{i} {pad}")).unwrap();
    }
    opened.recv_timeout(Duration::from_secs(5)).unwrap();
    for i in 0..100 {
        client.send_text(format!("a{i}")).unwrap();
    }
    let want: Vec<String> = (0..backlog)
        .map(|i| format!("b{i}"))
        .chain((0..100).map(|i| format!("a{i}")))
        .collect();
    let until = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::with_capacity(want.len());
    while got.len() < want.len() {
        let left = until.saturating_duration_since(Instant::now());
        match echoes.recv_timeout(left) {
            Ok(m) => got.push(m),
            Err(_) => panic!("{} of {} echoes arrived", got.len(), want.len()),
        }
    }
    if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "out of order at {i}: got {:?}, want {:?}",
            &got[i..(i + 3).min(got.len())],
            &want[i..(i + 3).min(want.len())]
        );
    }
    client.close(1000, "").unwrap();
}

/// Four threads send numbered messages as fast as they can, so some sends are written directly
/// and most are queued, while the server closes the connection (1012, reconnect at once) and
/// the client is told to reconnect, again and again. Every thread's messages arrive once and in
/// its order, or are handed back (`Closed.unconfirmed`, `Stopped.unsent`): a direct write that
/// overtook a queued message, or went into a connection that had already ended, would show.
#[test]
fn concurrent_senders_through_reconnects_lose_and_reorder_nothing() {
    let _g = serial();
    let server = RecordingServer::start("127.0.0.1:0").unwrap();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let (opened_tx, opened) = crossbeam_channel::unbounded();
    let (stopped_tx, stopped) = crossbeam_channel::bounded(1);
    let (echo_tx, echoes) = crossbeam_channel::unbounded();
    let rep = reported.clone();
    let client = builder(server.url())
        .heartbeat(Heartbeat::ping(ms(1000), ms(500)))
        .reconnect(Reconnect::exponential().initial(ms(5)).max(ms(20)))
        .on_event(move |_, ev| {
            let handed_back = match ev {
                Event::Opened { .. } => {
                    let _ = opened_tx.send(());
                    return;
                }
                Event::Text(_) => {
                    let _ = echo_tx.send(());
                    return;
                }
                Event::Closed { unconfirmed, .. } => unconfirmed,
                Event::Stopped { unsent, .. } => {
                    let _ = stopped_tx.send(());
                    unsent
                }
                _ => return,
            };
            let mut r = rep.lock().unwrap();
            r.extend(handed_back.into_iter().filter_map(|m| match m {
                Message::Text(t) => Some(t),
                Message::Binary(_) => None,
            }));
        })
        .connect()
        .unwrap();
    opened.recv_timeout(ms(5000)).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let h = client.handle();
            let stop = stop.clone();
            thread::spawn(move || {
                let mut ledger = Ledger::new(&format!("t{t}"));
                // Until told to stop (bounded): the disturbances below need traffic.
                for i in 0..300_000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    ledger.send(&h);
                    if i % 100 == 99 {
                        thread::yield_now(); // let the outbox drain: direct writes again
                    }
                }
                ledger
            })
        })
        .collect();
    // Disturb while they send: each disturbance waits for the reconnection it causes, then for
    // traffic on the new connection (echoes) before the next one.
    for round in 0..6 {
        for _ in 0..200 {
            echoes
                .recv_timeout(ms(5000))
                .expect("echoes on the open connection");
        }
        if round % 2 == 0 {
            server.close_all(1012);
        } else {
            client.reconnect_now().unwrap();
        }
        opened.recv_timeout(ms(5000)).expect("reconnected");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ledgers: Vec<Ledger> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    client.close(1000, "").unwrap();
    stopped.recv_timeout(ms(5000)).unwrap();
    let delivered = server.received();
    let reported = reported.lock().unwrap().clone();
    for ledger in &ledgers {
        let acc = ledger.account(&delivered, &reported);
        acc.assert_clean();
        assert!(acc.delivered > 0, "{acc:?}");
    }
}
