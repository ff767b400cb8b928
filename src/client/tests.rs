use super::*;
use crate::message::Message;
use crate::stats::Stats;
use std::time::Instant;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_sync() {
    assert_send_sync::<Client>();
    assert_send_sync::<Handle>();
    assert_send_sync::<Stats>();
    assert_send_sync::<Event>();
    assert_send_sync::<Error>();
    assert_send_sync::<crate::Events>();
    assert_send_sync::<State>();
}

/// A sender blocked in `send_text_wait` (known to sleep: it is registered in the gauge)
/// returns `Error::Closed` as soon as another thread closes the client, not at its
/// timeout; the message it was waiting to send is not queued.
#[test]
fn close_wakes_a_sender_waiting_for_outbox_room() {
    // Accepts TCP and never answers the handshake: the client stays connecting, nothing
    // drains the outbox.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let hold = thread::spawn(move || listener.accept().map(|(s, _)| s));
    let client = Client::builder(url)
        .outbox_limit(1, 1 << 20)
        .connect_timeout(Duration::from_secs(60))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    client.send_text("queued").unwrap();
    let handle = client.handle();
    let (tx, waited) = crossbeam_channel::bounded(1);
    let sender = thread::spawn(move || {
        let r = handle.send_text_wait("waiting", Duration::from_secs(60));
        let _ = tx.send((r, Instant::now()));
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.shared.gauge.sleepers() != 1 {
        assert!(Instant::now() < deadline, "the sender never went to sleep");
        thread::yield_now();
    }
    let closed_at = Instant::now();
    client.close(1000, "").unwrap();
    let (r, returned_at) = waited
        .recv_timeout(Duration::from_secs(10))
        .expect("the waiting sender returned");
    assert_eq!(r, Err(Error::Closed));
    let took = returned_at.saturating_duration_since(closed_at);
    // Not woken by the stop, it would keep `finish` waiting 1 s for it (it is inside the
    // send), and only the release of the unsent message would wake it after that.
    assert!(took < Duration::from_millis(900), "took {took:?}");
    sender.join().unwrap();
    let unsent = rx.iter().find_map(|e| match e {
        Event::Stopped { unsent, .. } => Some(unsent),
        _ => None,
    });
    assert_eq!(unsent, Some(vec![Message::Text("queued".into())]));
    drop(hold.join());
}

/// `wait_confirmed` asks for the acknowledgement at once (the default heartbeat would
/// send it 20 s after the write), times out against a peer that stopped answering, and
/// returns `Closed` once the client is closed. Without a heartbeat, written is confirmed.
#[test]
fn wait_confirmed_asks_for_an_acknowledgement_at_once() {
    let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(
            Duration::from_secs(20),
            Duration::from_secs(10),
        ))
        .on_event(|_, _| {})
        .connect()
        .unwrap();
    for n in 0..3 {
        client.send_text(format!("m{n}")).unwrap(); // queued until open
    }
    let started = Instant::now();
    assert_eq!(client.wait_confirmed(Duration::from_secs(8)), Ok(true));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(client.stats().messages_out, 3);
    assert_eq!(client.stats().outbox_len, 0);
    // Nothing left to confirm: at once.
    assert_eq!(client.wait_confirmed(Duration::from_secs(8)), Ok(true));
    // A peer that answers nothing: not confirmed within the timeout.
    server.set_silent(true);
    client.send_text("into the void").unwrap();
    assert_eq!(client.wait_confirmed(Duration::from_millis(300)), Ok(false));
    client.close(1000, "").unwrap();
    assert_eq!(
        client.wait_confirmed(Duration::from_secs(1)),
        Err(Error::Closed)
    );

    server.set_silent(false);
    let off = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .on_event(|_, _| {})
        .connect()
        .unwrap();
    off.send_text("flushed is all that can be known").unwrap();
    assert_eq!(off.wait_confirmed(Duration::from_secs(8)), Ok(true));
    assert_eq!(off.stats().messages_out, 1);
}

/// On an open connection whose server stopped reading, `close()` first waits for the
/// close handshake (here up to 30 s); a sender blocked for room returns `Error::Closed`
/// as soon as the client is closing, not when it has stopped.
#[test]
fn a_sender_waiting_for_room_returns_closed_when_closing_begins() {
    let mut server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::off())
        .max_message_size(64 << 10)
        .outbox_limit(1, 1 << 20)
        .close_timeout(Duration::from_secs(30))
        .on_event(|_, _| {})
        .connect()
        .unwrap();
    server.set_silent(true);
    // Fill the socket buffers until the outbox stays full for a while.
    let chunk = vec![7u8; 64 << 10];
    let mut sent = 0;
    loop {
        match client.send_binary_wait(chunk.clone(), Duration::from_millis(200)) {
            Ok(()) => sent += 1,
            Err(Error::OutboxFull { .. }) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 100_000, "the outbox never filled up");
    }
    let handle = client.handle();
    let (tx, waited) = crossbeam_channel::bounded(1);
    // The socket may still take a little more after the 200 ms wait gave up (the kernel
    // grows its buffers): the sender keeps sending until it has to wait for room.
    let sender = thread::spawn(move || {
        let mut r = Ok(());
        for _ in 0..100_000 {
            r = handle.send_binary_wait(vec![1u8; 16], Duration::from_secs(60));
            if r.is_err() {
                break;
            }
        }
        let _ = tx.send(r);
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.shared.gauge.sleepers() != 1 {
        assert!(Instant::now() < deadline, "the sender never went to sleep");
        thread::yield_now();
    }
    let closer = client.handle();
    let closing = thread::spawn(move || closer.close(1000, ""));
    let r = waited
        .recv_timeout(Duration::from_secs(10))
        .expect("the waiting sender returned while the close handshake was pending");
    assert_eq!(r, Err(Error::Closed));
    assert_eq!(client.state(), State::Closing);
    server.stop(); // ends the close handshake (connection reset)
    closing.join().unwrap().unwrap();
    sender.join().unwrap();
}

#[test]
fn bad_config_starts_nothing() {
    let e = Client::builder("http://x").connect().unwrap_err();
    assert!(matches!(e, Error::InvalidUrl(_)));
    let e = Client::builder("ws://127.0.0.1:1")
        .heartbeat(Heartbeat::ping(
            Duration::from_millis(10),
            Duration::from_millis(20),
        ))
        .connect()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
    let e = Client::builder("ws://127.0.0.1:1")
        .header("bad header", "v")
        .connect()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidHeader(_)), "{e}");
    let e = Client::builder("ws://127.0.0.1:1")
        .outbox_limit(0, 1)
        .connect()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e}");
}
