//! The core client against in-process servers on 127.0.0.1 with scaled-down intervals.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsbeat_testkit::builder;

use wsbeat::{Client, CloseInitiator, Event, Heartbeat, Reconnect, State, StopReason};
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::wait::wait_for;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
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
    let client = builder(server.url())
        .pong_events(true)
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
fn without_pong_events_an_idle_channel_consumer_is_not_woken() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    // The default: no `.pong_events(true)`.
    let client = builder(server.url())
        .heartbeat(Heartbeat::ping(ms(100), ms(80)))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    // About ten heartbeats are sent and answered meanwhile: none of them is an event.
    let t0 = Instant::now();
    match rx.recv_timeout(ms(1000)) {
        Err(wsbeat::RecvTimeoutError::Timeout) => {}
        other => panic!("the consumer was woken: {other:?}"),
    }
    assert!(t0.elapsed() >= ms(1000));
    let stats = client.stats();
    assert!(stats.last_rtt.is_some(), "no heartbeat was answered");
    assert_eq!(stats.missed_heartbeats, 0);
    assert_eq!(client.state(), State::Open);
    // Every other event still comes.
    client.send_text("still here").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text("still here".into())
    });
    assert!(!seen.iter().any(|e| matches!(e, Event::Pong { .. })));
}

#[test]
fn silent_server_is_detected_and_reconnected() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
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
    let client = builder(server.url())
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
    let client = builder(server.url()).connect().unwrap();
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

/// A port nothing listens on (bound once, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn delays(seen: &[Event]) -> Vec<(u32, Duration)> {
    seen.iter()
        .filter_map(|e| match e {
            Event::Reconnecting { attempt, delay } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect()
}

#[test]
fn backoff_grows_to_max_and_max_attempts_stops_for_good() {
    let client = builder(format!("ws://127.0.0.1:{}", free_port()))
        .reconnect(
            Reconnect::exponential()
                .initial(ms(20))
                .max(ms(80))
                .jitter(0.0)
                .max_attempts(Some(5)),
        )
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    let stopped = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    assert_eq!(
        stopped,
        Event::Stopped {
            reason: StopReason::MaxAttempts(5),
            unsent: vec![]
        }
    );
    assert_eq!(
        delays(&seen),
        vec![
            (1, ms(20)),
            (2, ms(40)),
            (3, ms(80)),
            (4, ms(80)),
            (5, ms(80))
        ]
    );
    let errors = seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Error {
                    kind: wsbeat::ErrorKind::Connect,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        errors, 6,
        "one error per attempt, one attempt per failure: {seen:#?}"
    );
    assert_eq!(client.state(), State::Stopped);
}

#[test]
fn jittered_delays_stay_within_bounds() {
    let client = builder(format!("ws://127.0.0.1:{}", free_port()))
        .reconnect(
            Reconnect::exponential()
                .initial(ms(40))
                .max(ms(40))
                .jitter(0.5)
                .max_attempts(Some(6)),
        )
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    let d = delays(&seen);
    assert_eq!(d.len(), 6);
    assert!(d.iter().all(|(_, d)| *d >= ms(20) && *d <= ms(40)), "{d:?}");
}

#[test]
fn backoff_resets_only_after_min_uptime() {
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .heartbeat(Heartbeat::off())
        .reconnect(
            Reconnect::exponential()
                .initial(ms(30))
                .max(ms(1000))
                .jitter(0.0)
                .min_uptime(ms(400)),
        )
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    // Up only briefly: the schedule keeps growing across the short-lived reconnect.
    server.restart().unwrap();
    let first = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    assert_eq!(
        first,
        Event::Reconnecting {
            attempt: 1,
            delay: ms(30)
        }
    );
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    server.restart().unwrap();
    let second = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    assert_eq!(
        second,
        Event::Reconnecting {
            attempt: 2,
            delay: ms(60)
        }
    );
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    // Up longer than min_uptime: the schedule starts over.
    assert!(
        rx.recv_timeout(ms(500)).is_err(),
        "nothing happens while up"
    );
    server.restart().unwrap();
    let third = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    assert_eq!(
        third,
        Event::Reconnecting {
            attempt: 1,
            delay: ms(30)
        }
    );
}

#[test]
fn close_during_backoff_returns_promptly_and_reports_unsent() {
    let client = builder(format!("ws://127.0.0.1:{}", free_port()))
        .reconnect(Reconnect::fixed(Duration::from_secs(30)))
        .outbox_limit(3, 1 << 20)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    for m in ["a", "b", "c"] {
        client.send_text(m).unwrap();
    }
    // The refused message is handed back.
    assert_eq!(
        client.send_text("d").map_err(wsbeat::Error::into_message),
        Err(Some(wsbeat::Message::Text("d".into())))
    );
    assert!(matches!(
        client.send_text("d"),
        Err(wsbeat::Error::OutboxFull {
            queued_messages: 3,
            ..
        })
    ));
    assert_eq!(client.stats().outbox_len, 3);
    let t0 = Instant::now();
    client.close(1000, "").unwrap();
    assert!(t0.elapsed() < ms(1000), "close took {:?}", t0.elapsed());
    let stopped = wait_for(&rx, ms(1000), &mut seen, |e| {
        matches!(e, Event::Stopped { .. })
    });
    let unsent: Vec<wsbeat::Message> = ["a", "b", "c"]
        .iter()
        .map(|s| wsbeat::Message::Text(s.to_string()))
        .collect();
    assert_eq!(
        stopped,
        Event::Stopped {
            reason: StopReason::Closed,
            unsent
        }
    );
    assert!(rx.recv_timeout(ms(200)).is_err(), "nothing after Stopped");
}

#[test]
fn close_during_hanging_handshake_returns_promptly_and_never_reconnects() {
    // Accepts TCP, never answers the WebSocket handshake.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (acc_tx, acc_rx) = crossbeam_channel::bounded(1);
    let acceptor = std::thread::spawn(move || {
        let conn = listener.accept().map(|(s, _)| s);
        let _ = acc_tx.send(());
        // Hold the connection until the client gives up on it.
        if let Ok(mut c) = conn {
            let mut buf = [0u8; 1024];
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            while matches!(std::io::Read::read(&mut c, &mut buf), Ok(n) if n > 0) {}
        }
    });
    let client = builder(format!("ws://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_secs(30))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    acc_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("client connected");
    let t0 = Instant::now();
    client.close(1000, "").unwrap();
    assert!(t0.elapsed() < ms(1000), "close took {:?}", t0.elapsed());
    let events: Vec<Event> = rx.try_iter().collect();
    assert!(
        matches!(
            events.last(),
            Some(Event::Stopped {
                reason: StopReason::Closed,
                ..
            })
        ),
        "{events:#?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Reconnecting { .. } | Event::Opened { .. }))
    );
    acceptor.join().unwrap();
}

#[test]
fn dropping_the_last_client_closes_and_joins() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Flag(dropped.clone());
    let (tx, rx) = crossbeam_channel::unbounded();
    let client = builder(server.url())
        .on_event(move |_, ev| {
            let _ = &flag;
            let _ = tx.send(ev);
        })
        .connect()
        .unwrap();
    let handle = client.handle();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    let clone = client.clone();
    drop(client);
    assert_eq!(clone.state(), State::Open, "a clone keeps it alive");
    let t0 = Instant::now();
    drop(clone);
    assert!(t0.elapsed() < ms(2600));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the I/O thread finished and dropped the callback"
    );
    assert_eq!(handle.state(), State::Stopped);
    assert!(matches!(handle.send_text("x"), Err(wsbeat::Error::Closed)));
    let rest: Vec<Event> = rx.try_iter().collect();
    assert!(
        matches!(
            rest.last(),
            Some(Event::Stopped {
                reason: StopReason::Closed,
                ..
            })
        ),
        "{rest:#?}"
    );
}

#[test]
fn eight_threads_sending_keep_per_thread_order_and_deliver_once() {
    const THREADS: usize = 8;
    const EACH: usize = 250;
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url()).connect().unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let h = client.handle();
            std::thread::spawn(move || {
                for n in 0..EACH {
                    let mut msg = format!("{t}:{n}");
                    // Bounded retry if the outbox is momentarily full.
                    for _ in 0..10_000 {
                        match h.send_text(msg) {
                            Ok(()) => break,
                            Err(wsbeat::Error::OutboxFull { .. }) => {
                                msg = format!("{t}:{n}");
                                std::thread::yield_now();
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let mut next = [0usize; THREADS];
    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while total < THREADS * EACH {
        let ev = rx.recv_deadline(deadline).expect("all echoes arrive");
        if let Event::Text(t) = ev {
            let (th, n) = t.split_once(':').unwrap();
            let (th, n): (usize, usize) = (th.parse().unwrap(), n.parse().unwrap());
            assert_eq!(n, next[th], "thread {th} out of order");
            next[th] += 1;
            total += 1;
        }
    }
    assert!(next.iter().all(|&n| n == EACH));
    assert!(
        rx.recv_timeout(ms(200))
            .map(|e| !matches!(e, Event::Text(_)))
            .unwrap_or(true),
        "no duplicates"
    );
    assert_eq!(client.stats().messages_out, (THREADS * EACH) as u64);
}

#[test]
fn seed_json_heartbeat_keeps_the_connection_and_hides_replies() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .pong_events(true)
        .heartbeat(Heartbeat::seed_json(ms(100), ms(60)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    let hello = r#"{"ModeCode":"message","msg":"hello world"}"#;
    client.send_text(hello).unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text(hello.into())
    });
    let mut pongs = 0;
    while pongs < 6 {
        if let Event::Pong { .. } = wait_for(&rx, ms(5000), &mut seen, |e| {
            matches!(e, Event::Pong { .. } | Event::Closed { .. })
        }) {
            pongs += 1;
        } else {
            panic!("dropped: {seen:#?}");
        }
    }
    let texts: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e, Event::Text(_)))
        .collect();
    assert_eq!(
        texts.len(),
        1,
        "heart_beat replies are not delivered as messages"
    );
    assert!(server.echoed() >= 7, "the server saw the JSON heartbeats");
    assert_eq!(client.stats().missed_heartbeats, 0);
    // And when the server stops answering, the JSON heartbeat notices.
    server.set_silent(true);
    wait_for(&rx, ms(3000), &mut seen, |e| {
        matches!(e, Event::HeartbeatTimeout { .. })
    });
}

#[test]
fn messages_sent_from_the_open_callback_go_before_the_backlog() {
    let port = free_port();
    let (tx, rx) = crossbeam_channel::unbounded();
    let client = builder(format!("ws://127.0.0.1:{port}"))
        .reconnect(Reconnect::fixed(ms(50)))
        .on_event(move |h, ev| {
            if let Event::Opened { .. } = ev {
                h.send_text("auth").unwrap();
                h.send_text("subscribe").unwrap();
            }
            let _ = tx.send(ev);
        })
        .connect()
        .unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    client.send_text("old1").unwrap();
    client.send_text("old2").unwrap();
    let _server = EchoServer::start(&format!("127.0.0.1:{port}")).unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        if let Event::Text(t) = wait_for(&rx, ms(5000), &mut seen, |e| matches!(e, Event::Text(_)))
        {
            got.push(t);
        }
    }
    assert_eq!(got, ["auth", "subscribe", "old1", "old2"]);
}

#[test]
fn reconnect_now_drops_and_reconnects_at_once() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url()).connect().unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    client.reconnect_now().unwrap();
    let closed = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Closed { .. })
    });
    assert!(matches!(
        closed,
        Event::Closed {
            initiator: CloseInitiator::Local,
            will_reconnect: true,
            ..
        }
    ));
    let r = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Reconnecting { .. })
    });
    assert!(matches!(r, Event::Reconnecting { delay, .. } if delay == Duration::ZERO));
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(
            e,
            Event::Opened {
                reconnect: true,
                ..
            }
        )
    });
    assert_eq!(server.accepted(), 2, "exactly one new connection");
}

#[test]
fn before_connect_hook_can_rewrite_the_url() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let real = server.url();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let a = attempts.clone();
    let client = builder(format!("ws://127.0.0.1:{}", free_port()))
        .reconnect(fast_reconnect())
        .before_connect(move |req| {
            a.lock().unwrap().push(req.attempt);
            if req.attempt >= 1 {
                req.set_url(&real).unwrap();
                req.headers
                    .push(("Authorization".into(), "Bearer fresh".into()));
            }
        })
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    assert_eq!(*attempts.lock().unwrap(), vec![0, 1]);
}

/// A hook that panics fails that attempt with `Error { kind: Callback }` naming why, and the
/// next attempt runs.
#[test]
fn a_panicking_before_connect_hook_fails_the_attempt_with_its_message() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .reconnect(fast_reconnect())
        .before_connect(|req| {
            if req.attempt == 0 {
                std::panic::resume_unwind(Box::new("token service unreachable".to_string()));
            }
        })
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    let err = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Error { .. })
    });
    let Event::Error { kind, message } = err else {
        unreachable!()
    };
    assert_eq!(kind, wsbeat::ErrorKind::Callback);
    assert_eq!(
        message,
        "before_connect hook failed: token service unreachable"
    );
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
}

#[test]
fn oversized_sends_are_refused_with_a_typed_error() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .max_message_size(1024)
        .connect()
        .unwrap();
    assert!(matches!(
        client.send_binary(vec![0u8; 1025]),
        Err(wsbeat::Error::MessageTooLarge {
            size: 1025,
            limit: 1024
        })
    ));
    assert!(client.send_binary(vec![0u8; 1024]).is_ok());
    assert!(matches!(
        client.close(999, ""),
        Err(wsbeat::Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.close(1000, &"x".repeat(124)),
        Err(wsbeat::Error::InvalidArgument(_))
    ));
}

#[test]
fn invalid_urls_and_configs_are_typed_errors() {
    use wsbeat::Error;
    for url in ["", "http://x/", "ftp://h", "ws://", "not a url"] {
        assert!(
            matches!(builder(url).connect(), Err(Error::InvalidUrl(_))),
            "{url}"
        );
    }
    let bad = [
        builder("ws://h").heartbeat(Heartbeat::ping(ms(0), ms(0))),
        builder("ws://h").heartbeat(Heartbeat::ping(ms(100), ms(200))),
        builder("ws://h").reconnect(Reconnect::exponential().jitter(2.0)),
        builder("ws://h").reconnect(Reconnect::exponential().factor(0.1)),
        builder("ws://h").connect_timeout(ms(0)),
        builder("ws://h").max_message_size(0),
    ];
    for b in bad {
        assert!(matches!(b.connect(), Err(Error::InvalidConfig(_))));
    }
    assert!(matches!(
        builder("ws://h").subprotocol("a b").connect(),
        Err(Error::InvalidHeader(_))
    ));
}

#[test]
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn headers_subprotocols_and_url_credentials_reach_the_server() {
    use tungstenite::handshake::server::{Request, Response};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, seen_rx) = crossbeam_channel::bounded(1);
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept_hdr(stream, |req: &Request, mut resp: Response| {
            let h = |n: &str| req.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
            let _ = tx.send((
                h("authorization"),
                h("x-token"),
                h("sec-websocket-protocol"),
                req.uri().to_string(),
            ));
            resp.headers_mut()
                .insert("sec-websocket-protocol", "chat".parse().unwrap());
            Ok(resp)
        })
        .unwrap();
        let _ = ws.read(); // until the client closes
    });
    let client = builder(format!("ws://alice:s3cret@127.0.0.1:{port}/path?q=1"))
        .header("X-Token", "abc")
        .subprotocol("chat")
        .subprotocol("superchat")
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    let opened = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    assert!(
        matches!(opened, Event::Opened { protocol: Some(ref p), .. } if p == "chat"),
        "{opened:?}"
    );
    let (auth, token, protos, uri) = seen_rx.recv_timeout(ms(1000)).unwrap();
    assert_eq!(auth.as_deref(), Some("Basic YWxpY2U6czNjcmV0"));
    assert_eq!(token.as_deref(), Some("abc"));
    assert_eq!(protos.as_deref(), Some("chat, superchat"));
    assert_eq!(uri, "/path?q=1");
    client.close(1000, "").unwrap();
    server.join().unwrap();
}

#[test]
fn slow_channel_consumer_loses_nothing_and_close_still_returns() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .event_capacity(4)
        .close_timeout(ms(300))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    for i in 0..300 {
        client.send_text(format!("{i}")).unwrap();
    }
    // The consumer is slow: the I/O thread waits for room instead of dropping events.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 300 {
        if let Event::Text(t) = rx.recv_deadline(deadline).expect("echoes keep coming") {
            got.push(t.parse::<usize>().unwrap());
        }
        if got.len() % 50 == 0 {
            std::thread::yield_now();
        }
    }
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    // Now nobody drains: fill the channel, then close must still return in bounded time.
    for i in 0..50 {
        client.send_text(format!("late{i}")).unwrap();
    }
    let fill_deadline = Instant::now() + Duration::from_secs(20);
    while rx.len() < 4 && Instant::now() < fill_deadline {
        std::thread::sleep(ms(5)); // bounded; nothing to wait on but the queue length
    }
    assert_eq!(rx.len(), 4, "channel full; stats: {:?}", client.stats());
    let t0 = Instant::now();
    client.close(1000, "").unwrap();
    // close() waits at most close_timeout + 500 ms for the I/O thread (generous margin for a
    // loaded machine); the thread then stops on its own even though nobody drains the events.
    assert!(
        t0.elapsed() < ms(300 + 500 + 700),
        "close took {:?}",
        t0.elapsed()
    );
    let stop_deadline = Instant::now() + Duration::from_secs(5);
    while client.state() != State::Stopped && Instant::now() < stop_deadline {
        std::thread::sleep(ms(5));
    }
    assert_eq!(client.state(), State::Stopped);
}

#[test]
fn messages_written_into_a_dead_connection_are_handed_back_unconfirmed() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .pong_events(true)
        .heartbeat(Heartbeat::ping(ms(100), ms(60)))
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    client.send_text("confirmed").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        *e == Event::Text("confirmed".into())
    });
    // A heartbeat answered after "confirmed" was written proves it arrived.
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Pong { .. })
    });
    server.set_silent(true);
    client.send_text("into-the-hole-1").unwrap();
    client.send_text("into-the-hole-2").unwrap();
    let closed = wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Closed { .. })
    });
    let Event::Closed {
        unconfirmed, code, ..
    } = closed
    else {
        unreachable!()
    };
    assert_eq!(code, 1006);
    assert_eq!(
        unconfirmed,
        vec![
            wsbeat::Message::Text("into-the-hole-1".into()),
            wsbeat::Message::Text("into-the-hole-2".into())
        ],
        "written but never confirmed: handed back, the confirmed one is not"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::HeartbeatTimeout { .. }))
    );
}

#[test]
fn server_pings_are_answered() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        ws.send(tungstenite::Message::Ping(b"are-you-there".to_vec().into()))
            .unwrap();
        loop {
            match ws.read().expect("a pong within 5 s") {
                tungstenite::Message::Pong(p) => return p.to_vec(),
                _ => continue,
            }
        }
    });
    let client = builder(format!("ws://127.0.0.1:{port}"))
        .heartbeat(Heartbeat::off())
        .connect()
        .unwrap();
    assert_eq!(server.join().unwrap(), b"are-you-there");
    drop(client);
}

#[test]
fn logs_never_contain_credentials_or_header_values() {
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            // What the C/Python bridge drops (tungstenite's raw handshake dump).
            if !wsbeat::may_carry_secrets(r.target(), r.level()) {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", r.target(), r.args()));
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));
    // The only test in this binary that installs a logger.
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = format!("ws://alice:pa55word@{}/", server.local_addr());
    let client = builder(&url)
        .pong_events(true)
        .header("Authorization", "Bearer t0psecret")
        .heartbeat(Heartbeat::ping(ms(50), ms(30)))
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Pong { .. })
    });
    client.send_text("x").unwrap();
    wait_for(&rx, ms(5000), &mut seen, |e| matches!(e, Event::Text(_)));
    client.close(1000, "").unwrap();
    let logs = CAPTURE.0.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.contains("connecting to ws://")),
        "connects are logged: {logs:#?}"
    );
    for l in &logs {
        assert!(
            !l.contains("pa55word") && !l.contains("alice") && !l.contains("t0psecret"),
            "secret in log: {l}"
        );
    }
    for e in &seen {
        assert!(
            !format!("{e:?}").contains("pa55word"),
            "secret in event: {e:?}"
        );
    }
}

#[test]
fn a_full_unconfirmed_window_pauses_writing_until_the_peer_answers() {
    // The server stops reading (a dead peer the heartbeat has not caught yet). Written messages
    // stay unconfirmed; once the window is full (4x the outbox's 100 messages) the client stops
    // writing, so nothing it wrote ever falls out of what it can hand back. Before, it went on
    // writing into the socket buffers (thousands of messages) and forgot the oldest.
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .heartbeat(Heartbeat::ping(ms(5000), ms(4000)))
        .outbox_limit(100, 1 << 20)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    server.set_silent(true);
    // Send until the outbox stays full for 300 ms: the I/O thread has written all it will.
    let accepted = (0..20_000)
        .find(|i| client.send_text_wait(format!("m{i}"), ms(300)).is_err())
        .expect("the outbox never stayed full");
    let written = client.stats().messages_out as usize;
    assert!(
        written <= 400,
        "{written} messages written while the window holds 400 ({accepted} accepted)"
    );
    assert_eq!(accepted, written + 100, "the rest waits in the outbox");
    // The peer answers again: the window is confirmed and writing resumes; all arrive (but
    // one: the message the server read as it went silent, which it drops by design).
    server.set_silent(false);
    let mut echoes = 0;
    while echoes < accepted - 1 {
        match wait_for(&rx, ms(5000), &mut seen, |e| {
            matches!(e, Event::Text(_) | Event::Closed { .. })
        }) {
            Event::Text(_) => echoes += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(client.stats().messages_out as usize, accepted);
}

#[test]
fn busy_senders_still_get_their_writes_confirmed() {
    // Echoes arrive all the time, so the peer is never silent for an interval: only the wish to
    // confirm written messages makes the client send heartbeats.
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(server.url())
        .pong_events(true)
        .heartbeat(Heartbeat::ping(ms(100), ms(80)))
        .outbox_limit(1_000_000, 1 << 30)
        .connect()
        .unwrap();
    let rx = client.events().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    let end = Instant::now() + ms(600);
    let mut pongs = 0;
    let mut sent = 0;
    while Instant::now() < end && sent < 200_000 {
        client.send_text("busy").unwrap();
        sent += 1;
        // Next message only when this one came back: the connection is never idle.
        loop {
            match rx.recv_timeout(ms(2000)).expect("echo") {
                Event::Text(_) => break,
                Event::Pong { .. } => pongs += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(pongs >= 2, "{pongs} pongs during {sent} busy round trips");
}

// ---- waiting for outbox room (send_*_wait) ------------------------------------------------

#[test]
fn a_flood_through_send_wait_with_a_tiny_outbox_arrives_complete_in_order() {
    const N: usize = 50_000;
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    // Callback mode into an unbounded channel: the I/O thread never waits for this reader.
    let (tx, rx) = crossbeam_channel::unbounded();
    let client = builder(server.url())
        .outbox_limit(8, 1 << 20)
        .on_event(move |_, ev| {
            let _ = tx.send(ev);
        })
        .connect()
        .unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, ms(5000), &mut seen, |e| {
        matches!(e, Event::Opened { .. })
    });
    let handle = client.handle();
    let sender = std::thread::spawn(move || {
        // An 8-message outbox: a plain send_text loop is refused many times over here.
        for n in 0..N {
            if let Err(e) = handle.send_text_wait(n.to_string(), Duration::from_secs(30)) {
                let _ = handle.close(1000, ""); // the reader sees Closed and fails at once
                panic!("message {n}: {e}");
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut next = 0;
    while next < N {
        match rx.recv_deadline(deadline).expect("all echoes arrive") {
            Event::Text(t) => {
                assert_eq!(t, next.to_string(), "out of order or lost");
                next += 1;
            }
            Event::Pong { .. } => {}
            other => panic!("unexpected {other:?} after {next} echoes (did a send fail?)"),
        }
    }
    sender.join().expect("no send failed");
    assert_eq!(client.stats().messages_out, N as u64);
}

/// A client stuck in its handshake (the listener never accepts, so nothing drains the outbox).
fn stuck_client(listener: &TcpListener, messages: usize, bytes: usize) -> Client {
    builder(format!("ws://{}", listener.local_addr().unwrap()))
        .outbox_limit(messages, bytes)
        .connect_timeout(Duration::from_secs(60))
        .connect()
        .unwrap()
}

#[test]
fn send_wait_gives_up_after_its_timeout_when_nothing_drains_and_queues_nothing() {
    use wsbeat::{Error, Message};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = stuck_client(&listener, 2, 1 << 20);
    let rx = client.events().unwrap();
    client.send_text("a").unwrap();
    client
        .send_wait(Message::Text("b".into()), ms(300))
        .unwrap(); // room: no wait
    let t0 = Instant::now();
    let r = client.send_text_wait("c", ms(300));
    let took = t0.elapsed();
    assert!(
        matches!(
            r,
            Err(Error::OutboxFull {
                queued_messages: 2,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(took >= ms(300), "gave up before its timeout: {took:?}");
    assert!(took < ms(3000), "gave up long after its timeout: {took:?}");
    assert!(matches!(
        client.send_binary_wait(vec![1u8], Duration::ZERO),
        Err(Error::OutboxFull { .. })
    ));
    assert_eq!(client.stats().outbox_len, 2, "nothing extra queued");
    client.close(1000, "").unwrap();
    assert!(matches!(
        client.send_text_wait("late", ms(300)),
        Err(Error::Closed)
    ));
    let unsent = rx.iter().find_map(|e| match e {
        Event::Stopped { unsent, .. } => Some(unsent),
        _ => None,
    });
    assert_eq!(
        unsent,
        Some(vec![Message::Text("a".into()), Message::Text("b".into())])
    );
}

#[test]
fn send_wait_takes_a_message_above_the_byte_bound_only_into_an_empty_outbox() {
    use wsbeat::Error;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = stuck_client(&listener, 4, 10);
    let t0 = Instant::now();
    client.send_text_wait("x".repeat(20), ms(5000)).unwrap();
    assert!(t0.elapsed() < ms(2000), "an empty outbox takes it at once");
    let t0 = Instant::now();
    assert!(matches!(
        client.send_text_wait("y", ms(200)),
        Err(Error::OutboxFull {
            queued_messages: 1,
            queued_bytes: 20,
            message,
        }) if *message == wsbeat::Message::Text("y".into())
    ));
    assert!(t0.elapsed() >= ms(200));
    assert_eq!(client.stats().outbox_len, 1);
}

#[test]
fn send_wait_inside_the_event_callback_does_not_block() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let client = builder(server.url())
        .outbox_limit(2, 1 << 20)
        .on_event(move |h, ev| {
            if matches!(ev, Event::Opened { .. }) {
                // Nothing is written while this callback runs: the third send finds the
                // outbox full. Waiting here would wait for the I/O thread, which is us.
                let results: Vec<_> = ["p1", "p2", "p3"]
                    .into_iter()
                    .map(|m| {
                        let t0 = Instant::now();
                        (h.send_text_wait(m, Duration::from_secs(10)), t0.elapsed())
                    })
                    .collect();
                let _ = tx.send(Err(results));
            } else {
                let _ = tx.send(Ok(ev));
            }
        })
        .connect()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let results = loop {
        if let Err(r) = rx.recv_deadline(deadline).expect("opened") {
            break r;
        }
    };
    assert!(results[0].0.is_ok() && results[1].0.is_ok(), "{results:?}");
    assert!(
        matches!(results[2].0, Err(wsbeat::Error::OutboxFull { .. })),
        "{results:?}"
    );
    assert!(results[2].1 < ms(2000), "it waited: {:?}", results[2].1);
    let mut texts = Vec::new();
    while texts.len() < 2 {
        if let Ok(Event::Text(t)) = rx.recv_deadline(deadline).expect("echoes") {
            texts.push(t);
        }
    }
    assert_eq!(texts, ["p1", "p2"]);
    drop(client);
}
