//! The consumer's direct read (`io_loop::direct_read`): in channel mode, a consumer waiting in
//! `Events::recv` while the I/O thread sleeps reads the socket itself, so a round trip wakes
//! one thread, not two. These tests check that it happens, and that the loop's duties do not
//! suffer from it: its heartbeats, close requests and the order of events.
//!
//! Clients are built with `wsbeat::Client::builder` (own thread): a runtime's clients never
//! read directly, so the `WSBEAT_TEST_RUNTIME` pass does not apply.

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use wsbeat::{Client, Event, Heartbeat, StopReason};
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{io_thread_sleeps, ms, serial, wait};

fn wait_opened(rx: &wsbeat::Events) {
    let opened = |e: &Event| matches!(e, Event::Opened { .. });
    wait::wait_for(rx, ms(5000), &mut Vec::new(), opened);
}

/// The next text message, skipping other events; panics after `within`.
fn next_text(rx: &wsbeat::Events, within: Duration) -> String {
    let is_text = |e: &Event| matches!(e, Event::Text(_));
    match wait::wait_for(rx, within, &mut Vec::new(), is_text) {
        Event::Text(t) => t,
        _ => unreachable!(),
    }
}

/// Round trips in channel mode: the consumer sends (directly) and reads the echo (directly),
/// and the I/O thread sleeps through them. Through the loop it would wake for every echo.
///
/// The server answers after 2 ms, so that each echo finds the consumer waiting (with an
/// instant echo, a debug build's consumer is often still on its way back into `recv` when
/// it arrives: the loop, which watches the socket meanwhile, then reads it, as it must).
#[test]
fn channel_round_trips_do_not_wake_the_io_thread() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    server.set_reply_delay(ms(2));
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    // Let the loop finish its turn after `Opened` and go to sleep.
    let _ = rx.recv_timeout(ms(100));
    const N: u64 = 200;
    let before = io_thread_sleeps();
    for i in 0..N {
        client.send_text(format!("m{i}")).unwrap();
        assert_eq!(next_text(&rx, ms(5000)), format!("m{i}"));
    }
    let woke = io_thread_sleeps() - before;
    // Generous: a preempted consumer (a loaded machine) may find the loop awake now and then
    // (22 of 200 seen under a parallel build). Through the loop it is one per round trip or
    // more (199 of 200 with the direct read off).
    assert!(
        woke < N / 4,
        "the I/O thread woke {woke} times in {N} round trips"
    );
    assert_eq!(client.stats().messages_in, N);
}

/// Messages that arrive together (a burst read in one go): the consumer returns the first,
/// leaves the rest to the loop, and every one arrives once, in order, also when the consumer
/// alternates blocking waits with short timeouts (each direct read that times out gives the
/// socket back).
#[test]
fn a_burst_arrives_whole_and_in_order() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(ms(300), ms(200)))
        .event_capacity(4) // the loop fills the channel and waits for the consumer
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    const ROUNDS: usize = 20;
    const BURST: usize = 50;
    let mut next = 0usize;
    for round in 0..ROUNDS {
        for k in 0..BURST {
            client.send_text(format!("{}", round * BURST + k)).unwrap();
        }
        let until = Instant::now() + ms(10_000);
        while next < (round + 1) * BURST {
            assert!(Instant::now() < until, "stuck at message {next}");
            let ev = match next % 3 {
                0 => rx.recv().ok(),
                1 => rx.recv_timeout(ms(1)).ok(),
                _ => rx.recv_timeout(ms(50)).ok(),
            };
            if let Some(Event::Text(t)) = ev {
                assert_eq!(t, next.to_string(), "out of order");
                next += 1;
            }
        }
    }
    assert_eq!(client.stats().messages_in, (ROUNDS * BURST) as u64);
    thread::sleep(ms(100));
    assert!(
        !matches!(rx.try_recv(), Ok(Event::Text(_))),
        "a message arrived twice"
    );
}

/// A WebSocket server that reads and never sends data (tungstenite still answers pings).
fn sink_server() -> String {
    serve_one(|mut ws| while ws.read().is_ok() {})
}

/// A one-connection WebSocket server on loopback: `serve` runs on its own thread with the
/// connection once the handshake is done. Returns the URL.
fn serve_one(
    serve: impl FnOnce(tungstenite::WebSocket<std::net::TcpStream>) + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        if let Ok(ws) = tungstenite::accept(stream) {
            serve(ws);
        }
    });
    url
}

/// A WebSocket server that completes the handshake and then neither reads nor writes (the
/// connection is held until the client goes).
fn mute_server() -> String {
    serve_one(|ws| {
        let mut sock = ws.into_inner();
        let _ = sock.set_read_timeout(Some(ms(10_000)));
        let _ = std::io::Read::read(&mut sock, &mut [0u8; 1]); // held, unread, until it closes
    })
}

/// A consumer waiting for a reply that does not come (it reads the socket directly all the
/// while) does not hold up the heartbeat: the loop takes the socket back for each ping and
/// the answers arrive (as `Pong` events, read by whichever side has the socket), so the
/// connection is never declared dead.
#[test]
fn a_waiting_consumer_does_not_hold_up_the_heartbeat() {
    let _g = serial();
    let client = Client::builder(sink_server())
        .heartbeat(Heartbeat::ping(ms(100), ms(80)))
        .pong_events(true)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    let mut pongs = 0;
    let until = Instant::now() + ms(1500);
    while Instant::now() < until {
        // Something sent: a reply is awaited, so the consumer borrows the socket.
        client.send_text("request").unwrap();
        match rx.recv_timeout(ms(300)) {
            Ok(Event::Pong { .. }) => pongs += 1,
            Ok(Event::HeartbeatTimeout { .. }) => panic!("a live connection was declared dead"),
            Ok(_) | Err(_) => {}
        }
    }
    // 100 ms pings for 1.5 s: about 15 answers.
    assert!(pongs >= 5, "{pongs} pongs in 1.5 s of 100 ms pings");
    assert_eq!(client.stats().missed_heartbeats, 0);
    assert_eq!(client.stats().reconnects, 0);
}

/// A dead peer is found while the consumer waits on the socket: the loop's timers run.
#[test]
fn a_dead_peer_is_found_while_the_consumer_reads_directly() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(ms(150), ms(100)))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    let _ = rx.recv_timeout(ms(50));
    server.set_silent(true);
    let silenced = Instant::now();
    // A reply is awaited: the consumer waits on the socket itself.
    client.send_text("request").unwrap();
    let timeout = |e: &Event| matches!(e, Event::HeartbeatTimeout { .. });
    wait::wait_for(&rx, ms(3000), &mut Vec::new(), timeout);
    // interval + timeout = 250 ms; generous for a loaded machine.
    assert!(silenced.elapsed() < ms(1500), "{:?}", silenced.elapsed());
}

/// `close()` from another thread while the consumer waits on the socket for a reply: the
/// consumer is sent back to the channel and gets `Closed` and `Stopped` at once. The peer is
/// mute (it answers neither the message nor the close): nothing arrives on the socket, so
/// only the loop taking it back can end the consumer's wait.
#[test]
fn close_from_another_thread_reaches_a_consumer_reading_directly() {
    let _g = serial();
    let client = Client::builder(mute_server())
        .heartbeat(Heartbeat::off())
        .close_timeout(ms(300))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    let handle = client.handle();
    let consumer = thread::spawn(move || {
        handle.send_text("request").unwrap(); // the reply never comes
        // Only the loop taking the socket back ends the direct read before the 10 s.
        let mut last = None;
        while let Ok(ev) = rx.recv_timeout(ms(10_000)) {
            last = Some(ev);
        }
        last
    });
    thread::sleep(ms(200)); // the consumer is waiting on the socket by now
    let closed_at = Instant::now();
    client.close(1000, "bye").unwrap();
    drop(client);
    let last = consumer.join().unwrap();
    assert!(
        matches!(
            last,
            Some(Event::Stopped {
                reason: StopReason::Closed,
                ..
            })
        ),
        "{last:?}"
    );
    // The close timeout (300 ms) bounds it; the consumer's own wait would last 10 s.
    assert!(closed_at.elapsed() < ms(3000), "{:?}", closed_at.elapsed());
}

/// Sends from another thread while the consumer waits on the socket still go out at once
/// (the consumer does not hold the connection while it waits), and their echoes reach it.
#[test]
fn sends_from_another_thread_while_the_consumer_waits() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    let handle = client.handle();
    let sender = thread::spawn(move || {
        for i in 0..200 {
            handle.send_text(format!("s{i}")).unwrap();
            if i % 10 == 0 {
                thread::sleep(ms(2));
            }
        }
    });
    for i in 0..200 {
        assert_eq!(next_text(&rx, ms(5000)), format!("s{i}"));
    }
    sender.join().unwrap();
}

/// This process's epoll and eventfd descriptors (pollers and their wakers).
fn pollers_and_wakers() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t == "anon_inode:[eventpoll]" || t == "anon_inode:[eventfd]"
        })
        .count()
}

/// The consumer's poller is made on its first direct read: a consumer that only listens
/// never pays its two descriptors.
#[test]
fn a_listen_only_consumer_has_no_poller_of_its_own() {
    let _g = serial();
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    let _ = rx.recv_timeout(ms(50)); // listening: nothing was sent
    let listening = pollers_and_wakers();
    client.send_text("x").unwrap();
    assert_eq!(next_text(&rx, ms(5000)), "x"); // a reply awaited: read directly
    assert_eq!(pollers_and_wakers(), listening + 2);
}

/// A server that reads slowly (so the client's writes back up into a full socket) and
/// answers the text message "done" with "ok".
fn slow_acking_server() -> String {
    serve_one(|mut ws| {
        while let Ok(m) = ws.read() {
            match m {
                tungstenite::Message::Binary(_) => thread::sleep(ms(5)),
                tungstenite::Message::Text(t)
                    if t.as_str() == "done"
                        && ws.send(tungstenite::Message::text("ok")).is_err() =>
                {
                    return;
                }
                _ => {}
            }
        }
    })
}

/// A reply awaited while the loop still has a backed-up upload to write: the consumer must
/// not borrow the socket then (taking it out of the loop's poller would take the loop's
/// writability watch with it, and the upload would stall until a timer: with the heartbeat
/// off, for good). Found by the 1 MiB flood benchmark.
#[test]
fn a_reply_awaited_behind_a_backed_up_upload_does_not_stall_it() {
    let _g = serial();
    let client = Client::builder(slow_acking_server())
        .heartbeat(Heartbeat::off())
        .max_message_size(1 << 20)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    wait_opened(&rx);
    let chunk = vec![7u8; 256 << 10];
    for _ in 0..48 {
        client.send_binary_wait(chunk.clone(), ms(10_000)).unwrap();
    }
    client.send_text("done").unwrap();
    // Bounded by the server's pace (48 x 5 ms) plus the transfer; the stall lasted forever.
    assert_eq!(next_text(&rx, ms(15_000)), "ok");
    assert_eq!(client.stats().messages_out, 49);
}
