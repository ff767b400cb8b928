//! The error kinds the I/O thread reports, end to end against the test kit's echo server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wsbeat_testkit::server::EchoServer;

use super::TEST_PANIC_HEADER;
use crate::{Client, ErrorKind, Event, Heartbeat, Reconnect, StopReason};

const WITHIN: Duration = Duration::from_secs(10);

/// Events seen by a callback, and a way to wait for one.
#[derive(Clone, Default)]
struct Seen(Arc<(Mutex<Vec<Event>>, std::sync::Condvar)>);

impl Seen {
    fn push(&self, ev: Event) {
        self.0.0.lock().unwrap().push(ev);
        self.0.1.notify_all();
    }

    fn wait(&self, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + WITHIN;
        let mut seen = self.0.0.lock().unwrap();
        while !seen.iter().any(&pred) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out; events so far: {seen:#?}");
            seen = self.0.1.wait_timeout(seen, left).unwrap().0;
        }
        seen.clone()
    }
}

fn is_stopped(e: &Event) -> bool {
    matches!(e, Event::Stopped { .. })
}

/// A panicking event callback is caught, the client goes on, and the callback is told with
/// `Error { kind: Callback }` (once: a panic on that report is not reported again).
#[test]
fn a_panicking_callback_is_reported_as_a_callback_error() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let seen = Seen::default();
    let s = seen.clone();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .on_event(move |_, ev| {
            let panics = matches!(ev, Event::Opened { .. } | Event::Error { .. });
            s.push(ev);
            if panics {
                panic!("a callback bug");
            }
        })
        .connect()
        .unwrap();
    let events = seen.wait(|e| matches!(e, Event::Error { .. }));
    let opened = events
        .iter()
        .position(|e| matches!(e, Event::Opened { .. }));
    let report = events.iter().position(|e| {
        matches!(e, Event::Error { kind: ErrorKind::Callback, message } if message.contains("opened"))
    });
    assert!(opened.is_some() && report > opened, "{events:#?}");
    // The client is still alive: an echo comes back after the panics.
    client.send_text("still here").unwrap();
    seen.wait(|e| matches!(e, Event::Text(t) if t == "still here"));
    client.close(1000, "").unwrap();
    let events = seen.wait(is_stopped);
    let callback_errors = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Error {
                    kind: ErrorKind::Callback,
                    ..
                }
            )
        })
        .count();
    assert_eq!(callback_errors, 1, "{events:#?}");
}

/// A panic inside the I/O thread itself (a library bug) is reported as
/// `Error { kind: Internal }` before `Stopped { reason: Internal }`.
#[test]
fn an_internal_failure_is_reported_as_an_internal_error() {
    let client = Client::builder("ws://127.0.0.1:9")
        .header(TEST_PANIC_HEADER, "1")
        .connect()
        .unwrap();
    let events = client.events().unwrap();
    let mut seen = Vec::new();
    while !seen.last().is_some_and(is_stopped) {
        seen.push(events.recv_timeout(WITHIN).expect("events until Stopped"));
    }
    let n = seen.len();
    assert!(n >= 2, "{seen:#?}");
    assert!(
        matches!(&seen[n - 2], Event::Error { kind: ErrorKind::Internal, message } if message.contains("injected")),
        "{seen:#?}"
    );
    assert!(
        matches!(
            &seen[n - 1],
            Event::Stopped {
                reason: StopReason::Internal(_),
                ..
            }
        ),
        "{seen:#?}"
    );
}

/// A heartbeat timeout is reported as `Event::HeartbeatTimeout`, never as an `Error` of kind
/// `HeartbeatTimeout` (that kind is reserved, see its doc).
#[test]
fn a_heartbeat_timeout_is_its_own_event_not_an_error() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(
            Duration::from_millis(100),
            Duration::from_millis(60),
        ))
        .reconnect(Reconnect::disabled())
        .connect()
        .unwrap();
    let events = client.events().unwrap();
    let mut seen = Vec::new();
    let mut silenced = false;
    while !seen.last().is_some_and(is_stopped) {
        let ev = events.recv_timeout(WITHIN).expect("events until Stopped");
        if matches!(ev, Event::Opened { .. }) && !silenced {
            server.set_silent(true);
            silenced = true;
        }
        seen.push(ev);
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::HeartbeatTimeout { .. })),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            Event::Error {
                kind: ErrorKind::HeartbeatTimeout,
                ..
            }
        )),
        "{seen:#?}"
    );
}
