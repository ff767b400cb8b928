//! A connection that cannot write sleeps until it can: messages waiting in the outbox behind a
//! full socket, or behind a full unconfirmed window, do not keep the I/O thread running.
//!
//! Each test measures the CPU time of the process's one `wsbeat-io` thread (from /proc) over
//! one second of waiting. A thread that sleeps uses next to none; one that loops on
//! "something is queued" burns most of a core, far above the bound even on a loaded machine.

use wsbeat_testkit::wait;

use std::thread;
use std::time::{Duration, Instant};

use wsbeat::{Client, Event, Heartbeat};
use wsbeat_testkit::hostile::Hostile;
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{ms, serial};

/// CPU time (user + system) of this process's only `wsbeat-io` thread.
fn io_thread_cpu() -> Duration {
    let stat = wsbeat_testkit::only_io_thread("stat");
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    let ticks: u64 = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    // Clock ticks: 100 per second on Linux.
    Duration::from_millis(ticks * 10)
}

/// The I/O thread's CPU time over `window` of waiting.
fn io_cpu_over(window: Duration) -> Duration {
    let before = io_thread_cpu();
    thread::sleep(window); // the measurement itself: nothing to wait on
    io_thread_cpu() - before
}

/// Generous: a sleeping thread uses about 0 ms per second, a spinning one most of 1000 ms.
const SPIN_BOUND: Duration = Duration::from_millis(150);

fn wait_opened(rx: &wsbeat::Events) {
    let opened = |e: &Event| matches!(e, Event::Opened { .. });
    wait::wait_for(rx, ms(5000), &mut Vec::new(), opened);
}

/// The server stops reading: the socket buffers fill and the rest waits in the outbox. The
/// I/O thread waits for the socket to become writable (or for its heartbeat deadline).
#[test]
fn a_full_socket_with_messages_queued_does_not_spin() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .max_message_size(512 << 10) // tungstenite buffers at most one message beyond 64 KiB
        .outbox_limit(8, 64 << 20)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    server.set_silent(true);
    let chunk = vec![1u8; 256 << 10];
    // Send until the outbox stays full for 300 ms: the socket takes nothing more.
    (0..10_000)
        .find(|_| client.send_binary_wait(chunk.clone(), ms(300)).is_err())
        .expect("the socket never filled");
    assert_eq!(client.stats().outbox_len, 8);
    let cpu = io_cpu_over(ms(1000));
    assert!(
        cpu < SPIN_BOUND,
        "the I/O thread used {cpu:?} of CPU in 1 s while the socket was full"
    );
    // It still writes once the server reads again: nothing is stuck.
    server.set_silent(false);
    let until = Instant::now() + ms(10_000);
    while client.stats().outbox_len > 0 {
        assert!(Instant::now() < until, "the outbox never drained");
        thread::sleep(ms(10));
    }
}

/// The server reads everything but never answers a ping (a peer whose WebSocket layer is
/// stuck): the unconfirmed window fills, writing pauses with messages queued, and the I/O
/// thread sleeps until an answer or its heartbeat deadline.
#[test]
fn a_full_unconfirmed_window_with_messages_queued_does_not_spin() {
    let _g = serial();
    let server = Hostile::start(|mut peer| {
        if peer.accept_ws().is_ok() {
            peer.hold(Duration::from_secs(30));
        }
    });
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(ms(20_000), ms(10_000)))
        .outbox_limit(10, 1 << 20)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    // The window holds 4 x 10 messages: the 41st and later wait in the outbox.
    for i in 0..45 {
        client.send_text_wait(format!("m{i}"), ms(5000)).unwrap();
    }
    let until = Instant::now() + ms(10_000);
    while client.stats().messages_out < 40 {
        assert!(Instant::now() < until, "the window never filled");
        thread::sleep(ms(5));
    }
    assert_eq!(client.stats().outbox_len, 5, "the window holds 40");
    let cpu = io_cpu_over(ms(1000));
    assert!(
        cpu < SPIN_BOUND,
        "the I/O thread used {cpu:?} of CPU in 1 s while the window was full"
    );
}
