//! Every numeric option has a range, checked by `connect()` before anything is allocated or
//! spawned (issue 12 §5): out of range is a typed `Error::InvalidConfig` naming the option,
//! never an abort, a panic or a silently wrapped number.

use std::time::Duration;

use wsbeat::{Client, ClientBuilder, Error, Heartbeat, Reconnect};

fn builder() -> ClientBuilder {
    // Nothing listens there: a config that passes validation starts a harmless client.
    Client::builder("ws://127.0.0.1:9/").reconnect(Reconnect::disabled())
}

fn invalid(b: ClientBuilder, names: &str) {
    match b.connect() {
        Err(Error::InvalidConfig(m)) => assert!(m.contains(names), "`{m}` should name {names}"),
        Err(other) => panic!("expected InvalidConfig naming {names}, got {other:?}"),
        Ok(_) => panic!("{names}: an out-of-range value was accepted"),
    }
}

#[test]
fn a_huge_event_capacity_is_refused_before_anything_is_allocated() {
    // 1 << 40 slots used to be allocated up front (the process aborted).
    invalid(builder().event_capacity(1 << 40), "event_capacity");
    invalid(builder().event_capacity(usize::MAX), "event_capacity");
    invalid(builder().event_capacity(0), "event_capacity");
    let max = builder()
        .event_capacity(wsbeat::MAX_EVENT_CAPACITY)
        .connect();
    assert!(max.is_ok(), "the documented maximum is accepted: {max:?}");
}

#[test]
fn an_outbox_bound_whose_window_would_overflow_is_refused() {
    // 2^62 * 4 wrapped to 0 in release (one message per round trip) and panicked in debug.
    invalid(
        builder().outbox_limit(1 << 62, 1 << 20),
        "outbox message limit",
    );
    invalid(
        builder().outbox_limit(usize::MAX, 1 << 20),
        "outbox message limit",
    );
    invalid(builder().outbox_limit(16, usize::MAX), "outbox byte limit");
    invalid(builder().outbox_limit(0, 1), "outbox message limit");
    assert!(
        builder()
            .outbox_limit(wsbeat::MAX_OUTBOX_MESSAGES, wsbeat::MAX_OUTBOX_BYTES)
            .connect()
            .is_ok()
    );
}

#[test]
fn sizes_and_durations_have_ranges() {
    invalid(builder().max_message_size(0), "max_message_size");
    invalid(builder().max_message_size(usize::MAX), "max_message_size");
    let year = Duration::from_secs(365 * 24 * 3600);
    invalid(builder().connect_timeout(Duration::ZERO), "connect_timeout");
    invalid(builder().connect_timeout(year), "connect_timeout");
    invalid(builder().close_timeout(Duration::MAX), "close_timeout");
    invalid(
        builder().heartbeat(Heartbeat::ping(Duration::MAX, Duration::from_secs(1))),
        "heartbeat interval",
    );
    invalid(
        builder().reconnect(Reconnect::exponential().max(Duration::MAX)),
        "reconnect max delay",
    );
    invalid(
        builder().reconnect(Reconnect::exponential().factor(f64::INFINITY)),
        "reconnect factor",
    );
    invalid(
        builder().reconnect(Reconnect::exponential().factor(1e9)),
        "reconnect factor",
    );
    invalid(
        builder().reconnect(Reconnect::exponential().min_uptime(Duration::MAX)),
        "min uptime",
    );
    invalid(
        builder().reconnect(Reconnect::exponential().retry_after_cap(Duration::MAX)),
        "retry-after cap",
    );
    assert!(
        builder()
            .connect_timeout(wsbeat::MAX_DURATION)
            .close_timeout(Duration::from_millis(1))
            .connect()
            .is_ok()
    );
}
