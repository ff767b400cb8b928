//! The last events always arrive (issue 12 §3): with a full event channel nobody reads,
//! `close()` from the very thread that should read used to wait the whole close timeout, and
//! then the `Closed` and `Stopped` events were dropped (the unsent messages never reported).
//! Events that find the channel full once closing began are kept aside and come after the
//! channel's, in order.

use std::net::TcpListener;
use std::time::{Duration, Instant};
use wsbeat_testkit::builder;

use wsbeat::{Event, Events, Heartbeat, Reconnect};
use wsbeat_testkit::hostile::Hostile;
use wsbeat_testkit::{fast_reconnect, ms, serial};

/// A port nothing listens on (bound, then released).
fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("ws://127.0.0.1:{port}/")
}

/// Wait (bounded) until the channel holds `n` events: nothing else to wait on, since the
/// consumer's not reading is the point.
fn wait_full(events: &Events, n: usize) {
    let until = Instant::now() + ms(10_000);
    while events.len() < n {
        assert!(
            Instant::now() < until,
            "the channel never filled ({} events)",
            events.len()
        );
        std::thread::sleep(ms(5));
    }
}

fn drain(events: &Events) -> Vec<Event> {
    let until = Instant::now() + ms(10_000);
    let mut all = Vec::new();
    loop {
        assert!(Instant::now() < until, "events never ended: {all:?}");
        match events.recv_timeout(ms(5000)) {
            Ok(ev) => all.push(ev),
            Err(wsbeat::RecvTimeoutError::Disconnected) => return all,
            Err(wsbeat::RecvTimeoutError::Timeout) => panic!("no Stopped: {all:?}"),
        }
    }
}

#[test]
fn stopped_with_its_unsent_messages_arrives_after_a_close_with_a_full_channel() {
    let _g = serial();
    let client = builder(refused_url())
        .heartbeat(Heartbeat::off())
        .reconnect(
            Reconnect::exponential()
                .initial(ms(10))
                .max(ms(20))
                .jitter(0.0),
        )
        .event_capacity(4)
        .close_timeout(ms(2000))
        .connect()
        .unwrap();
    for i in 0..10 {
        client.send_text(format!("m{i}")).unwrap();
    }
    let events = client.events().unwrap();
    wait_full(&events, 4);
    let t0 = Instant::now();
    client.close(1000, "bye").unwrap(); // from the thread that should be reading
    let took = t0.elapsed();
    assert!(took <= client.close_bound(), "close took {took:?}");
    let all = drain(&events);
    let Some(Event::Stopped { unsent, .. }) = all.last() else {
        panic!("the last event is not Stopped: {all:?}");
    };
    let texts: Vec<String> = unsent
        .iter()
        .map(|m| match m {
            wsbeat::Message::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(
        all.iter()
            .filter(|e| matches!(e, Event::Stopped { .. }))
            .count(),
        1
    );
    // Nothing was lost before the close either: the 4 events that filled the channel
    // come first (the client was connecting: a Connecting event leads).
    assert!(matches!(all[0], Event::Connecting { .. }), "{all:?}");
}

#[test]
fn the_last_closed_and_stopped_arrive_after_a_close_of_an_open_connection_with_a_full_channel() {
    let _g = serial();
    let server = Hostile::start(|mut peer| {
        if peer.accept_ws().is_err() {
            return;
        }
        for i in 0..8 {
            let _ = peer.text(&format!("early{i}"));
        }
        // Answer the close handshake properly.
        if peer.read_close_code(Duration::from_secs(10)).is_some() {
            let _ = peer.close(1000, "");
        }
        peer.hold(Duration::from_secs(2));
    });
    let client = builder(server.url())
        .heartbeat(Heartbeat::off())
        .event_capacity(2)
        .close_timeout(ms(1000))
        .connect()
        .unwrap();
    let events = client.events().unwrap();
    wait_full(&events, 2);
    client.close(1000, "").unwrap();
    let all = drain(&events);
    let names: Vec<&str> = all.iter().map(Event::name).collect();
    let texts: Vec<&Event> = all.iter().filter(|e| matches!(e, Event::Text(_))).collect();
    assert_eq!(texts.len(), 8, "every message read arrives: {names:?}");
    let n = names.len();
    assert_eq!(&names[n - 2..], ["closed", "stopped"], "{names:?}");
}

/// A send that returned `Ok` is never lost at the stop: senders racing `close()` on other
/// threads either get `Ok` and find their message in `Stopped.unsent` (nothing is written
/// while the client waits out a backoff), or get `Error::Closed` and it is not there. The
/// I/O thread's stop closes the command inbox under the lock senders push under, so no push
/// slips in after it took what was left.
#[test]
fn every_send_that_returned_ok_while_closing_is_reported_unsent() {
    let _g = serial();
    for round in 0..5 {
        let client = builder(refused_url())
            .heartbeat(Heartbeat::off())
            .reconnect(
                Reconnect::exponential()
                    .initial(ms(60_000))
                    .max(ms(60_000))
                    .jitter(0.0),
            )
            .outbox_limit(10_000_000, 1 << 30)
            .connect()
            .unwrap();
        let events = client.events().unwrap();
        // In the backoff wait: nothing is written from here on.
        let until = Instant::now() + ms(10_000);
        while client.state() != wsbeat::State::Reconnecting {
            assert!(Instant::now() < until, "never reached the backoff wait");
            std::thread::sleep(ms(1));
        }
        let senders: Vec<_> = (0..3)
            .map(|t| {
                let h = client.handle();
                std::thread::spawn(move || {
                    let mut ok = Vec::new();
                    for i in 0..2_000_000u32 {
                        match h.send_text(format!("{t}:{i}")) {
                            Ok(()) => ok.push(format!("{t}:{i}")),
                            Err(wsbeat::Error::Closed) => return ok,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    panic!("the client never stopped");
                })
            })
            .collect();
        // Let the senders get going, so that the stop lands in the middle of their pushes.
        std::thread::sleep(ms(20));
        client.close(1000, "bye").unwrap();
        let mut sent: Vec<String> = senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect();
        let all = drain(&events);
        let Some(Event::Stopped { unsent, .. }) = all.last() else {
            panic!("the last event is not Stopped");
        };
        let mut unsent: Vec<String> = unsent
            .iter()
            .map(|m| match m {
                wsbeat::Message::Text(t) => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(!sent.is_empty(), "round {round}: no send was accepted");
        sent.sort();
        unsent.sort();
        assert_eq!(sent.len(), unsent.len(), "round {round}");
        assert!(sent == unsent, "round {round}: accepted and unsent differ");
    }
}

/// A close requested right behind a reconnect request, with a full event channel nobody
/// reads: the loop takes both in one batch, the reconnect ends the connection and its
/// `Closed` event finds the channel full. The close request, already taken from the inbox
/// and waiting its turn, still ends that wait (as `Close wins` says): the client stops within
/// its close bound without anyone reading, and `Stopped` arrives last.
#[test]
fn a_close_right_behind_a_reconnect_request_ends_a_blocked_delivery() {
    let _g = serial();
    for round in 0..5 {
        let server = Hostile::start(|mut peer| {
            if peer.accept_ws().is_err() {
                return;
            }
            peer.hold(Duration::from_secs(5));
        });
        let client = builder(server.url())
            .heartbeat(Heartbeat::off())
            .reconnect(fast_reconnect())
            .event_capacity(2)
            .close_timeout(ms(1000))
            .connect()
            .unwrap();
        let events = client.events().unwrap();
        wait_full(&events, 2); // Connecting, Open
        client.reconnect_now().unwrap();
        client.begin_close(1000, "").unwrap();
        let until = Instant::now() + client.close_bound() + ms(1000);
        while client.state() != wsbeat::State::Stopped {
            assert!(
                Instant::now() < until,
                "round {round}: still {:?} with the channel full",
                client.state()
            );
            std::thread::sleep(ms(5));
        }
        let all = drain(&events);
        assert!(
            matches!(all.last(), Some(Event::Stopped { .. })),
            "round {round}: {:?}",
            all.iter().map(Event::name).collect::<Vec<_>>()
        );
    }
}
