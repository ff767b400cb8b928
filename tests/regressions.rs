//! Regression tests for bugs the reliability suite found in the client (one test per fix).

use std::time::{Duration, Instant};

use wsbeat::server::EchoServer;
use wsbeat::{Client, CloseInitiator, ErrorKind, Event, Heartbeat, Reconnect};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn next(rx: &crossbeam_channel::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
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
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
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
