//! Regression tests for bugs the reliability suite found in the client (one test per fix).

use std::time::{Duration, Instant};
use wsbeat_testkit::builder;

use wsbeat_testkit::hostile::Hostile;
// The tests count the process's I/O threads: `serial` runs them one at a time.
use wsbeat::{CloseInitiator, ErrorKind, Event, Heartbeat, Reconnect, State};
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{ms, serial};

fn next(rx: &wsbeat::Events, pred: impl Fn(&Event) -> bool) -> Event {
    let until = Instant::now() + ms(5000);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let ev = rx
            .recv_timeout(left)
            .expect("timed out waiting for an event");
        if pred(&ev) {
            return ev;
        }
    }
}

/// A server that dies without a close frame (end of stream) used to be reported as a
/// protocol error with close code 1002, and the client sent a 1002 close frame into the dead
/// socket. It is a lost connection: `Error(connection_lost)`, `Closed(1006, abnormal)`.
#[test]
fn end_of_stream_without_close_frame_is_connection_lost_1006() {
    let _g = serial();
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .heartbeat(Heartbeat::ping(ms(1000), ms(500)))
        .reconnect(Reconnect::exponential().initial(ms(50)).jitter(0.0))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    next(&rx, |e| matches!(e, Event::Opened { .. }));
    server.stop(); // shuts every connection down: the client reads end of stream
    let err = next(&rx, |e| matches!(e, Event::Error { .. }));
    assert!(
        matches!(
            err,
            Event::Error {
                kind: ErrorKind::ConnectionLost,
                ..
            }
        ),
        "{err:?}"
    );
    let closed = next(&rx, |e| matches!(e, Event::Closed { .. }));
    assert!(
        matches!(
            closed,
            Event::Closed {
                code: 1006,
                initiator: CloseInitiator::Abnormal,
                will_reconnect: true,
                ..
            }
        ),
        "{closed:?}"
    );
    drop(client);
}

/// Dropping the last `Client` while nobody reads its (full) event channel used to block the
/// drop for the whole close timeout + 500 ms and then detach the I/O thread: the client's own
/// receiver kept the channel alive, so the I/O thread waited for a reader that could never
/// come. Now two things end it: the owner's receiver is dropped first (the I/O thread sees
/// the channel closed), and a close request taken while blocked on the channel stops the
/// waiting (`emit_blocking`); either alone keeps the drop prompt.
#[test]
fn dropping_a_client_with_a_full_unread_event_channel_is_prompt() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .heartbeat(Heartbeat::ping(ms(1000), ms(500)))
        .event_capacity(2)
        .close_timeout(ms(2000))
        .connect()
        .unwrap();
    let until = Instant::now() + ms(5000);
    while client.state() != wsbeat::State::Open {
        assert!(Instant::now() < until, "never opened");
        std::thread::sleep(ms(5));
    }
    for i in 0..10 {
        client.send_text(format!("m{i}")).unwrap();
    }
    // Wait until the I/O thread is blocked on the full channel: `Connecting` and `Opened`
    // fill its two slots, so the first echo read is the event that finds it full. The echo is
    // counted (`messages_in`) just before it is handed over. How many of the ten were written
    // before that depends on timing (direct writes race the loop's wake-up), and does not
    // matter: from then on the I/O thread writes nothing more (an undrained channel stalls the
    // connection), and senders cannot write directly while it holds the connection.
    let until = Instant::now() + ms(5000);
    while client.stats().messages_in < 1 {
        assert!(
            Instant::now() < until,
            "no echo read: {} echoed by the server",
            server.echoed()
        );
        std::thread::sleep(ms(5));
    }
    std::thread::sleep(ms(100));
    let t0 = Instant::now();
    drop(client);
    let took = t0.elapsed();
    assert!(took < ms(1000), "drop took {took:?}");
    let until = Instant::now() + ms(2000);
    while support_threads_named("wsbeat-io") > 0 {
        assert!(
            Instant::now() < until,
            "I/O thread still running after drop"
        );
        std::thread::sleep(ms(10));
    }
}

fn support_threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("comm"))
                        .is_ok_and(|c| c.trim_end() == name)
                })
                .count()
        })
        .unwrap_or(0)
}

/// A close request taken while the I/O thread was idle (not blocked on the full event channel)
/// left the events that arrived during the close handshake waiting for channel room forever:
/// with nobody draining, the client stayed in `Closing` and its thread never ended (CI saw it
/// in `slow_channel_consumer_loses_nothing_and_close_still_returns`). The close budget now
/// bounds every event wait from the moment the request is taken.
#[test]
fn messages_arriving_during_close_with_a_full_unread_channel_do_not_hang_the_thread() {
    let _g = serial();
    // Fill the client's channel, then answer its close frame with more messages and no
    // close frame of our own.
    let server = Hostile::start(|mut peer| {
        if peer.accept_ws().is_err() {
            return;
        }
        for i in 0..4 {
            let _ = peer.text(&format!("early{i}"));
        }
        if peer.read_close_code(Duration::from_secs(10)).is_some() {
            for i in 0..5 {
                let _ = peer.text(&format!("late{i}"));
            }
        }
        peer.hold(Duration::from_secs(10));
    });
    let client = builder(server.url())
        .heartbeat(Heartbeat::off())
        .event_capacity(4)
        .close_timeout(ms(300))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    next(&rx, |e| matches!(e, Event::Opened { .. }));
    let until = Instant::now() + ms(5000);
    while rx.len() < 4 {
        assert!(
            Instant::now() < until,
            "the early messages never filled the channel"
        );
        std::thread::sleep(ms(5)); // bounded; nothing to wait on but the queue length
    }
    let t0 = Instant::now();
    client.close(1000, "").unwrap();
    assert!(
        t0.elapsed() < ms(300 + 500 + 700),
        "close took {:?}",
        t0.elapsed()
    );
    let until = Instant::now() + ms(5000);
    while client.state() != State::Stopped {
        assert!(
            Instant::now() < until,
            "the I/O thread hangs in {:?} on the full channel",
            client.state()
        );
        std::thread::sleep(ms(5));
    }
    // Nothing was lost before the close: the four early messages are still in the channel.
    let early: Vec<Event> = rx.try_iter().take(4).collect();
    assert_eq!(
        early,
        (0..4)
            .map(|i| Event::Text(format!("early{i}")))
            .collect::<Vec<_>>()
    );
}
