//! Weak networks (issue 12): a slow link is not a dead peer, and a dead peer is still found
//! within interval + timeout. Both sides of that line, in both directions:
//! - inbound: one large frame streamed slowly, and a message in many slow fragments;
//! - outbound: a large upload through a link that forwards a few KB/s;
//! - a path that stops carrying anything in the middle of that upload.
//!
//! The heartbeat is scaled down (200 ms / 150 ms: dead after 350 ms of silence) and every
//! transfer takes several times that, so a client that judges liveness by whole messages
//! fails these tests; reconnection is off, so a false detection cannot hide behind a
//! reconnect.

use std::time::{Duration, Instant};
use wsbeat_testkit::builder;

use wsbeat::{Client, Event, Heartbeat, Message, Reconnect};
use wsbeat_testkit::hostile::{Hostile, frame_bytes};
use wsbeat_testkit::proxy::FaultProxy;
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{Events, MARGIN, ms, serial};

const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(150);
/// Uploads: the last bytes of an upload drain with nothing left to watch (up to
/// `TCP_NOTSENT_LOWAT` + the path's buffers, ~32 KB here: ~0.65 s at the ~48 KB/s the proxy
/// really forwards with its 10 ms ticks, see `tcp.rs`), so these tests give the heartbeat a
/// 900 ms budget (500 ms flaked once on a saturated machine); the uploads take ~10 s.
const UP_INTERVAL: Duration = Duration::from_millis(500);
const UP_TIMEOUT: Duration = Duration::from_millis(400);
const UP_RATE: usize = 128 << 10;

fn client(url: &str) -> (Client, Events) {
    client_with(url, INTERVAL, TIMEOUT)
}

fn client_with(url: &str, interval: Duration, timeout: Duration) -> (Client, Events) {
    let client = builder(url)
        .heartbeat(Heartbeat::ping(interval, timeout))
        .reconnect(Reconnect::disabled())
        .max_message_size(4 << 20)
        .connect()
        .unwrap();
    let events = Events::new(client.events().unwrap());
    (client, events)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn heartbeat_timeouts(ev: &Events) -> usize {
    ev.count(|e| matches!(e, Event::HeartbeatTimeout { .. }))
}

/// Wait for the binary message of `len` bytes; panics with the events seen if the client
/// declared the peer dead (or stopped) first.
fn expect_binary(ev: &mut Events, len: usize, within: Duration) -> Vec<u8> {
    let (_, got) = ev.wait(within, |e| {
        matches!(e, Event::Binary(b) if b.len() == len)
            || matches!(e, Event::HeartbeatTimeout { .. } | Event::Stopped { .. })
    });
    match got {
        Event::Binary(b) => b,
        other => panic!(
            "the peer was declared dead while data was flowing: {other:?}; events: {:?}",
            ev.names()
        ),
    }
}

/// One 256 KiB binary frame, written 2 KiB every 10 ms (~1.3 s, bytes flowing the whole time).
#[test]
fn one_large_frame_streamed_slowly_is_received_without_a_false_dead_peer() {
    let _g = serial();
    let payload = pattern(256 << 10);
    let frame = frame_bytes(true, 0, 0x2, &payload);
    let server = Hostile::start(move |mut peer| {
        if peer.accept_ws().is_err() {
            return;
        }
        for chunk in frame.chunks(2048) {
            if peer.stopping() || peer.raw(chunk).is_err() {
                return;
            }
            std::thread::sleep(ms(10));
        }
        peer.hold(ms(5000));
    });
    let (client, mut ev) = client(&server.url());
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    let started = Instant::now();
    let got = expect_binary(&mut ev, payload.len(), ms(20_000));
    assert!(got == payload, "payload corrupted");
    eprintln!(
        "weak: 256 KiB in one frame over {:?}, delivered",
        started.elapsed()
    );
    assert!(
        started.elapsed() > INTERVAL + TIMEOUT,
        "the transfer must outlast the silence budget for this test to mean anything"
    );
    assert_eq!(heartbeat_timeouts(&ev), 0, "{:?}", ev.names());
    drop(client);
}

/// One 256 KiB message as 32 fragments of 8 KiB, one every 60 ms (~1.9 s; each gap is short,
/// but the message is complete only at the end).
#[test]
fn a_message_in_slow_fragments_is_received_without_a_false_dead_peer() {
    let _g = serial();
    let payload = pattern(256 << 10);
    let chunks: Vec<Vec<u8>> = payload.chunks(8 << 10).map(<[u8]>::to_vec).collect();
    let server = Hostile::start(move |mut peer| {
        if peer.accept_ws().is_err() {
            return;
        }
        let last = chunks.len() - 1;
        for (i, c) in chunks.iter().enumerate() {
            let opcode = if i == 0 { 0x2 } else { 0x0 };
            if peer.stopping() || peer.frame(i == last, 0, opcode, c).is_err() {
                return;
            }
            std::thread::sleep(ms(60));
        }
        peer.hold(ms(5000));
    });
    let (client, mut ev) = client(&server.url());
    let (opened, _) = ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    let got = expect_binary(&mut ev, payload.len(), ms(20_000));
    assert!(got == payload, "payload corrupted");
    eprintln!(
        "weak: 256 KiB in 32 fragments over {:?}, delivered",
        opened.elapsed()
    );
    assert_eq!(heartbeat_timeouts(&ev), 0, "{:?}", ev.names());
    drop(client);
}

/// A proxy forwarding [`UP_RATE`] towards the server with small socket buffers, so the upload
/// pushes back on the client after a few KB instead of disappearing into loopback buffers
/// (a slow reader behind a small window, as on a real weak link).
fn slow_uplink(server: &EchoServer) -> FaultProxy {
    let proxy = FaultProxy::start_with_buffers(server.local_addr(), 8 << 10).unwrap();
    proxy.throttle_up(UP_RATE);
    proxy
}

/// A 512 KiB upload at 128 KB/s (nominal) and its echo: heartbeat answers wait behind the
/// upload, but the socket keeps accepting our bytes, which proves the peer alive.
#[test]
fn a_large_upload_on_a_slow_link_is_not_a_dead_peer() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let proxy = slow_uplink(&server);
    let (client, mut ev) = client_with(&proxy.url(), UP_INTERVAL, UP_TIMEOUT);
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    let payload = pattern(512 << 10);
    let started = Instant::now();
    client.send_binary(payload.clone()).unwrap();
    let echo = expect_binary(&mut ev, payload.len(), ms(30_000));
    assert!(echo == payload, "echo corrupted");
    eprintln!(
        "weak: 512 KiB upload at 128 KB/s and its echo in {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() > (UP_INTERVAL + UP_TIMEOUT) * 4,
        "the upload must outlast the silence budget for this test to mean anything \
         (took {:?})",
        started.elapsed()
    );
    assert_eq!(heartbeat_timeouts(&ev), 0, "{:?}", ev.names());
    assert_eq!(ev.opens(), 1);
    drop(client);
}

/// The same upload, but the path stops carrying anything once it is under way: the peer is
/// declared dead within interval + timeout (+ margin) of the stall, and the message is
/// reported back, not lost.
#[test]
fn a_path_that_stalls_during_a_large_upload_is_still_detected_in_time() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let proxy = slow_uplink(&server);
    let (client, mut ev) = client_with(&proxy.url(), UP_INTERVAL, UP_TIMEOUT);
    ev.wait(ms(5000), |e| matches!(e, Event::Opened { .. }));
    let forwarded_at_open = proxy.forwarded();
    let payload = pattern(512 << 10);
    client.send_binary(payload.clone()).unwrap();
    // Stall once the upload is flowing (bounded wait on the proxy's counter).
    let until = Instant::now() + ms(5000);
    while proxy.forwarded() < forwarded_at_open + (32 << 10) {
        assert!(Instant::now() < until, "the upload never started");
        std::thread::sleep(ms(5));
    }
    proxy.stall(true);
    let stalled = Instant::now();
    let (at, _) = ev.wait(ms(10_000), |e| matches!(e, Event::HeartbeatTimeout { .. }));
    let took = at - stalled;
    eprintln!("weak: path stalled during a 512 KiB upload, detected after {took:?}");
    assert!(
        took <= UP_INTERVAL + UP_TIMEOUT + MARGIN,
        "a stalled path was detected after {took:?} (bound {:?})",
        UP_INTERVAL + UP_TIMEOUT + MARGIN
    );
    let (_, stopped) = ev.wait(ms(5000), |e| matches!(e, Event::Stopped { .. }));
    let mut reported: Vec<Message> = Vec::new();
    for (_, e) in &ev.seen {
        match e {
            Event::Closed { unconfirmed, .. } => reported.extend(unconfirmed.iter().cloned()),
            Event::Stopped { unsent, .. } => reported.extend(unsent.iter().cloned()),
            _ => {}
        }
    }
    assert!(
        reported.contains(&Message::Binary(payload)),
        "the stalled upload was neither delivered nor reported: {stopped:?}"
    );
    drop(client);
}
