//! Several endpoints (`ClientBuilder::endpoint`): round-robin after each failure, one backoff
//! schedule per client, `Connecting`/`Opened` name the endpoint, `before_connect` sees it.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use wsbeat_testkit::builder;

use wsbeat::{Error, Event, Heartbeat, Reconnect, StopReason};
use wsbeat_testkit::server::EchoServer;
use wsbeat_testkit::{Events, fast_reconnect, heartbeat, ms};

/// A stopped EchoServer's URL: connecting there is refused.
fn dead_url() -> String {
    let mut s = EchoServer::start("127.0.0.1:0").unwrap();
    let url = s.url();
    s.stop();
    drop(s);
    url
}

fn opened_on(e: &Event) -> Option<usize> {
    match e {
        Event::Opened { endpoint, .. } => Some(*endpoint),
        _ => None,
    }
}

#[test]
fn first_endpoint_down_opens_on_the_second_and_opened_names_it() {
    let dead = dead_url();
    let live = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(&dead)
        .endpoint(live.url())
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, opened) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert!(
        matches!(
            opened,
            Event::Opened {
                endpoint: 1,
                attempt: 1,
                reconnect: false,
                ..
            }
        ),
        "{opened:?}"
    );
    let connecting: Vec<(u32, usize)> = ev
        .seen
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Connecting { attempt, endpoint } => Some((*attempt, *endpoint)),
            _ => None,
        })
        .collect();
    assert_eq!(connecting, [(0, 0), (1, 1)], "{:?}", ev.names());
    assert_eq!(
        ev.names()[..4],
        ["connecting", "error", "reconnecting", "connecting"]
    );
    client.send_text("on the second").unwrap();
    ev.wait(ms(5000), |e| *e == Event::Text("on the second".into()));
    assert_eq!(live.accepted(), 1);
}

#[test]
fn first_endpoint_dies_mid_connection_the_client_reconnects_to_the_second() {
    let mut first = EchoServer::start("127.0.0.1:0").unwrap();
    let second = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(first.url())
        .endpoint(second.url())
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, opened) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert_eq!(opened_on(&opened), Some(0), "{opened:?}");
    client.send_text("one").unwrap();
    ev.wait(ms(5000), |e| *e == Event::Text("one".into()));
    first.stop(); // a crash: the connection is cut, the port refuses from now on
    ev.wait(ms(5000), |e| matches!(e, Event::Closed { .. }));
    let (_, opened) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert!(
        matches!(
            opened,
            Event::Opened {
                endpoint: 1,
                reconnect: true,
                ..
            }
        ),
        "{opened:?}"
    );
    // Straight to the second: one reconnect attempt, none back to the dead first endpoint.
    let connecting: Vec<usize> = ev
        .seen
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Connecting { endpoint, .. } => Some(*endpoint),
            _ => None,
        })
        .collect();
    assert_eq!(connecting, [0, 1], "{:?}", ev.names());
    client.send_text("two").unwrap();
    ev.wait(ms(5000), |e| *e == Event::Text("two".into()));
    assert_eq!(second.accepted(), 1);
}

#[test]
fn backoff_grows_per_client_across_endpoints() {
    let urls = [dead_url(), dead_url(), dead_url()];
    let client = builder(&urls[0])
        .endpoint(&urls[1])
        .endpoint(&urls[2])
        .heartbeat(Heartbeat::off())
        .reconnect(
            Reconnect::exponential()
                .initial(ms(20))
                .max(ms(10_000))
                .factor(2.0)
                .jitter(0.0)
                .max_attempts(Some(5)),
        )
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, stopped) = ev.wait(ms(10_000), |e| matches!(e, Event::Stopped { .. }));
    assert!(
        matches!(
            stopped,
            Event::Stopped {
                reason: StopReason::MaxAttempts(5),
                ..
            }
        ),
        "{stopped:?}"
    );
    let delays: Vec<Duration> = ev
        .seen
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Reconnecting { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    // One schedule for the client: a per-endpoint one would restart at 20 ms on each endpoint.
    assert_eq!(delays, [ms(20), ms(40), ms(80), ms(160), ms(320)]);
    let endpoints: Vec<usize> = ev
        .seen
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Connecting { endpoint, .. } => Some(*endpoint),
            _ => None,
        })
        .collect();
    assert_eq!(endpoints, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn before_connect_sees_each_endpoint_in_turn_and_may_change_it() {
    let dead = [dead_url(), dead_url()];
    let live = EchoServer::start("127.0.0.1:0").unwrap();
    let live_url = live.url();
    let seen: Arc<Mutex<Vec<(usize, u32, String)>>> = Arc::default();
    let log = seen.clone();
    let client = builder(&dead[0])
        .endpoint(&dead[1])
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .before_connect(move |req| {
            log.lock()
                .unwrap()
                .push((req.endpoint(), req.attempt, req.url().to_owned()));
            // The fourth attempt (endpoint 1 again) is sent to the live server instead.
            if req.attempt == 3 {
                req.set_url(&live_url).unwrap();
            }
        })
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, opened) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert!(
        matches!(
            opened,
            Event::Opened {
                endpoint: 1,
                attempt: 3,
                ..
            }
        ),
        "{opened:?}"
    );
    let seen = seen.lock().unwrap().clone();
    let expect: Vec<(usize, u32, String)> = vec![
        (0, 0, dead[0].clone()),
        (1, 1, dead[1].clone()),
        (0, 2, dead[0].clone()),
        (1, 3, dead[1].clone()),
    ];
    let norm = |v: &[(usize, u32, String)]| -> Vec<(usize, u32, String)> {
        v.iter()
            .map(|(e, a, u)| (*e, *a, u.trim_end_matches('/').to_owned()))
            .collect()
    };
    assert_eq!(norm(&seen), norm(&expect));
    assert_eq!(live.accepted(), 1);
}

#[test]
fn reconnect_now_moves_to_the_next_endpoint() {
    let first = EchoServer::start("127.0.0.1:0").unwrap();
    let second = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(first.url())
        .endpoint(second.url())
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, o) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert_eq!(opened_on(&o), Some(0));
    client.reconnect_now().unwrap();
    let (_, o) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert_eq!(opened_on(&o), Some(1));
    client.reconnect_now().unwrap();
    let (_, o) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert_eq!(opened_on(&o), Some(0), "round-robin wraps");
    assert_eq!((first.accepted(), second.accepted()), (2, 1));
}

/// Endpoints may mix schemes: TLS runs for the wss:// ones only.
#[test]
fn a_ws_endpoint_after_a_wss_one_connects_without_tls() {
    let dead = dead_url().replacen("ws://", "wss://", 1);
    let live = EchoServer::start("127.0.0.1:0").unwrap();
    let client = builder(&dead)
        .endpoint(live.url())
        .heartbeat(heartbeat())
        .reconnect(fast_reconnect())
        .connect()
        .unwrap();
    let mut ev = Events::new(client.events().unwrap());
    let (_, o) = ev.wait(ms(5000), |e| opened_on(e).is_some());
    assert_eq!(opened_on(&o), Some(1));
}

#[test]
fn a_bad_endpoint_is_refused_by_connect_naming_it() {
    let live = EchoServer::start("127.0.0.1:0").unwrap();
    for (bad, why) in [
        ("http://127.0.0.1:1/", "scheme"),
        ("ws://", "host"),
        ("not a url", ""),
    ] {
        let err = builder(live.url())
            .endpoint(live.url())
            .endpoint(bad)
            .connect()
            .unwrap_err();
        match &err {
            Error::InvalidUrl(m) => {
                assert!(m.starts_with("endpoint 2: "), "{m}");
                assert!(m.contains(why), "{m}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert_eq!(live.accepted(), 0, "nothing started");
}
