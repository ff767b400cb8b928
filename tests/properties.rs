//! Property tests (randomised with fixed seeds, so failures reproduce) for the pieces that
//! decide: the reconnect schedule as the client really applies it, heartbeat reply matching,
//! configuration validation, the close-code policy.

use std::time::{Duration, Instant};

use wsbeat::{
    Client, ClientBuilder, Error, Event, Heartbeat, Reconnect, StopReason,
    default_reconnect_on_close, is_seed_heartbeat_reply, seed_heartbeat_message,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A port nothing listens on (bound, then released).
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("ws://{}", l.local_addr().unwrap())
}

/// For random policies against a refused port: attempts are numbered 1..=n, each delay lies
/// within `[base * (1 - jitter), base]` where `base = min(max, initial * factor^(k-1))`, and
/// the client stops with `MaxAttempts(n)` after the n-th failure.
#[test]
fn backoff_schedule_as_applied_matches_the_documented_formula() {
    let url = refused_url();
    for seed in 0..12u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let initial = ms(rng.u64(1..15));
        let max = initial + ms(rng.u64(0..40));
        let factor = 1.0 + rng.f64() * 2.0;
        let jitter = if seed % 3 == 0 { 0.0 } else { rng.f64() };
        let attempts = rng.u32(2..7);
        let policy = Reconnect::exponential()
            .initial(initial)
            .max(max)
            .factor(factor)
            .jitter(jitter)
            .max_attempts(Some(attempts));
        let client = Client::builder(&url)
            .reconnect(policy)
            .heartbeat(Heartbeat::off())
            .connect()
            .unwrap();
        let rx = client.events().unwrap();
        let mut delays = Vec::new();
        let until = Instant::now() + Duration::from_secs(10);
        let reason = loop {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left).expect("no Stopped event") {
                Event::Reconnecting { attempt, delay } => {
                    assert_eq!(attempt as usize, delays.len() + 1, "seed {seed}");
                    delays.push(delay);
                }
                Event::Stopped { reason, .. } => break reason,
                Event::Opened { .. } => panic!("nothing listens there"),
                _ => {}
            }
        };
        assert_eq!(reason, StopReason::MaxAttempts(attempts), "seed {seed}");
        assert_eq!(delays.len(), attempts as usize, "seed {seed}");
        for (i, d) in delays.iter().enumerate() {
            let base = (initial.as_secs_f64() * factor.powi(i as i32)).min(max.as_secs_f64());
            let lo = base * (1.0 - jitter) - 1e-6;
            let s = d.as_secs_f64();
            assert!(
                s >= lo && s <= base + 1e-6,
                "seed {seed} attempt {}: {d:?} not in [{lo}, {base}] (initial {initial:?}, max {max:?}, factor {factor}, jitter {jitter})",
                i + 1
            );
        }
    }
}

/// The seed protocol's reply matcher agrees with a straightforward model on random JSON and
/// never panics on random text.
#[test]
fn seed_heartbeat_reply_matching() {
    let mut rng = fastrand::Rng::with_seed(42);
    let modes = [
        "\"heart_beat\"",
        "\"message\"",
        "\"Heart_Beat\"",
        "\"heart_beat \"",
        "1",
        "null",
        "[\"heart_beat\"]",
        "{\"x\":\"heart_beat\"}",
    ];
    let keys = ["ModeCode", "modecode", "Mode", "msg"];
    for _ in 0..2000 {
        let key = keys[rng.usize(..keys.len())];
        let mode = modes[rng.usize(..modes.len())];
        let ws = |r: &mut fastrand::Rng| [" ", "", "\n", "\t "][r.usize(..4)];
        let mut fields = vec![format!("\"{key}\":{}{mode}", ws(&mut rng))];
        if rng.bool() {
            fields.push(format!("\"msg\":{}", rng.u64(..)));
        }
        if rng.bool() {
            fields.push("\"note\":\"heart_beat\"".into());
        }
        rng.shuffle(&mut fields);
        let text = format!("{}{{{}}}{}", ws(&mut rng), fields.join(","), ws(&mut rng));
        let want = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("ModeCode").cloned())
            .is_some_and(|m| m == "heart_beat");
        assert_eq!(is_seed_heartbeat_reply(&text), want, "{text}");
        // Truncated or corrupted JSON never matches and never panics.
        let cut = rng.usize(..text.len());
        let _ = is_seed_heartbeat_reply(&text[..text.floor_char_boundary(cut)]);
        let noise: String = (0..rng.usize(..40)).map(|_| rng.char(..)).collect();
        let _ = is_seed_heartbeat_reply(&noise);
    }
    for _ in 0..100 {
        let m = seed_heartbeat_message();
        assert!(is_seed_heartbeat_reply(m.as_text().unwrap()), "{m:?}");
    }
    // An application message whose text mentions heart_beat is not a reply.
    assert!(!is_seed_heartbeat_reply(
        r#"{"ModeCode":"message","msg":"heart_beat"}"#
    ));
}

/// Random configurations are accepted exactly when the documented rules hold.
#[test]
fn config_validation_matches_the_rules() {
    let url = refused_url();
    let mut rng = fastrand::Rng::with_seed(99);
    let mut accepted = 0;
    for i in 0..400 {
        // Each value is usually valid on its own (the mix stays interesting), sometimes not.
        fn pick<T: Copy>(r: &mut fastrand::Rng, good: &[T], any: &[T]) -> T {
            if r.u8(..10) < 8 {
                good[r.usize(..good.len())]
            } else {
                any[r.usize(..any.len())]
            }
        }
        let interval = ms(pick(&mut rng, &[100, 1000], &[0, 10, 100, 1000]));
        let timeout = ms(pick(&mut rng, &[10, 99], &[0, 10, 100, 999, 1000]));
        let hb_off = rng.u8(..5) == 0;
        let initial = ms(pick(&mut rng, &[1, 100], &[0, 1, 100]));
        let max = ms(pick(&mut rng, &[100, 1000], &[0, 1, 50, 100, 1000]));
        let factor = pick(
            &mut rng,
            &[1.0, 2.0],
            &[0.5, 1.0, 2.0, f64::NAN, f64::INFINITY],
        );
        let jitter = pick(&mut rng, &[0.0, 0.5, 1.0], &[-0.1, 0.0, 0.5, 1.0, 1.5]);
        let attempts = pick(
            &mut rng,
            &[None, Some(1), Some(5)],
            &[None, Some(0), Some(1)],
        );
        let enabled = rng.u8(..6) != 0;
        let max_msg = pick(&mut rng, &[1, 1 << 20], &[0, 1, 1 << 20]);
        let cap = pick(&mut rng, &[1, 16], &[0, 1, 16]);
        let connect_to = ms(pick(&mut rng, &[100], &[0, 100]));
        let heartbeat = if hb_off {
            Heartbeat::off()
        } else {
            Heartbeat::ping(interval, timeout)
        };
        let reconnect = if enabled {
            Reconnect::exponential()
        } else {
            Reconnect::disabled()
        }
        .initial(initial)
        .max(max)
        .factor(factor)
        .jitter(jitter)
        .max_attempts(attempts);
        let hb_ok = hb_off || (!interval.is_zero() && !timeout.is_zero() && timeout < interval);
        let rc_ok = !enabled
            || (!initial.is_zero()
                && max >= initial
                && factor.is_finite()
                && factor >= 1.0
                && (0.0..=1.0).contains(&jitter)
                && attempts != Some(0));
        let limits_ok = max_msg > 0 && cap > 0 && !connect_to.is_zero();
        let want = hb_ok && rc_ok && limits_ok;
        let b: ClientBuilder = Client::builder(&url)
            .heartbeat(heartbeat)
            .reconnect(reconnect)
            .max_message_size(max_msg)
            .event_capacity(cap)
            .connect_timeout(connect_to);
        match b.connect() {
            Ok(client) => {
                assert!(want, "case {i}: accepted an invalid configuration");
                accepted += 1;
                drop(client);
            }
            Err(Error::InvalidConfig(msg)) => {
                assert!(!want, "case {i}: rejected a valid configuration: {msg}");
                assert!(!msg.is_empty());
            }
            Err(e) => panic!("case {i}: unexpected error {e}"),
        }
    }
    assert!(
        accepted > 10,
        "the generator should produce valid configs too"
    );
}

/// The default close-code policy over the whole range of codes a server may send.
#[test]
fn close_code_policy_over_all_codes() {
    let r = Reconnect::exponential();
    for code in 1000..=4999u16 {
        let declined = matches!(code, 1002 | 1003 | 1007 | 1008 | 1010);
        assert_eq!(default_reconnect_on_close(code), !declined, "{code}");
        assert_eq!(r.retries_close_code(code), !declined, "{code}");
    }
}
