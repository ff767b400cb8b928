//! The core client against in-process servers on 127.0.0.1 with scaled-down intervals.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use wsbeat::server::EchoServer;
use wsbeat::{Client, CloseInitiator, Event, Heartbeat, Reconnect, State, StopReason};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Wait for the first event matching `pred`, collecting everything seen on the way.
fn wait_for(
    rx: &Receiver<Event>,
    within: Duration,
    seen: &mut Vec<Event>,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => {
                seen.push(ev.clone());
                if pred(&ev) {
                    return ev;
                }
            }
            Err(_) => panic!("timed out after {within:?}; events so far: {seen:#?}"),
        }
    }
}

fn fast_reconnect() -> Reconnect {
    Reconnect::exponential()
        .initial(ms(50))
        .max(ms(200))
        .jitter(0.0)
}

#[test]
fn echo_and_pong_rtt_and_idle_connection_stays_open() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(ms(100), ms(80)))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: false,
                ..
            }
        )
    });
    client.send_text("hello").unwrap();
    client.send_binary(vec![1u8, 2, 3]).unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text("hello".into())
    });
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Binary(vec![1, 2, 3])
    });
    // Idle for many intervals: pongs keep coming, nothing closes.
    let mut pongs = 0;
    while pongs < 8 {
        match wait_for(&rx, ms(5000), &mut seen, |e| {
            matches!(e, Event::Pong { .. } | Event::Closed { .. })
        }) {
            Event::Pong { rtt } => {
                assert!(rtt < ms(80));
                pongs += 1;
            }
            other => panic!("connection dropped while idle: {other:?}"),
        }
    }
    let stats = client.stats();
    assert_eq!(stats.connects, 1);
    assert_eq!(stats.messages_out, 2);
    assert_eq!(stats.messages_in, 2);
    assert!(stats.last_rtt.is_some() && stats.smoothed_rtt.is_some());
    assert!(stats.uptime.unwrap() >= ms(800));
    assert_eq!(client.state(), State::Open);
}

#[test]
fn silent_server_is_detected_and_reconnected() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(ms(100), ms(50)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    server.set_silent(true);
    let t0 = Instant::now();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::HeartbeatTimeout { .. })
    });
    let detected = t0.elapsed();
    // interval + timeout = 150 ms; generous margin for a noisy machine.
    assert!(detected < ms(150 + 600), "detection took {detected:?}");
    match wait_for(&rx, ms(2000), &mut seen, |e| {
        matches!(e, Event::Closed { .. })
    }) {
        Event::Closed {
            code,
            initiator,
            will_reconnect,
            ..
        } => {
            assert_eq!(code, 1006);
            assert_eq!(initiator, CloseInitiator::Abnormal);
            assert!(will_reconnect);
        }
        _ => unreachable!(),
    }
    server.set_silent(false);
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    assert_eq!(client.stats().missed_heartbeats, 1);
}

#[test]
fn restart_on_same_port_delivers_outage_messages_in_order_once() {
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url())
        .heartbeat(Heartbeat::ping(ms(200), ms(100)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    server.stop();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Closed {
                will_reconnect: true,
                ..
            }
        )
    });
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    for i in 0..20 {
        client.send_text(format!("m{i}")).unwrap();
    }
    assert!(client.stats().outbox_len > 0);
    server.restart().unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    let mut got = Vec::new();
    while got.len() < 20 {
        if let Event::Text(t) = wait_for(&rx, ms(5000), &mut seen, |e| matches!(e, Event::Text(_)))
        {
            got.push(t);
        }
    }
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    // Exactly once: nothing more arrives.
    assert!(
        rx.recv_timeout(ms(300))
            .map(|e| !matches!(e, Event::Text(_)))
            .unwrap_or(true)
    );
    let order: Vec<&str> = seen
        .iter()
        .map(|e| e.name())
        .filter(|n| *n != "pong")
        .collect();
    let closed = order.iter().position(|n| *n == "closed").unwrap();
    assert_eq!(&order[closed..closed + 2], &["closed", "reconnecting"]);
}

#[test]
fn close_is_clean_and_never_reconnects() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = Client::builder(server.url()).connect().unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    client.send_text("last").unwrap();
    let t0 = Instant::now();
    client.close(1000, "bye").unwrap();
    assert!(t0.elapsed() < ms(2500));
    assert_eq!(client.state(), State::Stopped);
    let stopped = wait_for(&rx, ms(1000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    assert_eq!(
        stopped,
        Event::Stopped {
            reason: StopReason::Closed,
            unsent: vec![]
        }
    );
    assert!(
        seen.iter()
            .all(|e| !matches!(e, Event::Reconnecting { .. }))
    );
    assert!(matches!(client.send_text("x"), Err(wsbeat::Error::Closed)));
    assert_eq!(client.stats().last_close_code, Some(1000));
}
