//! Waiting on a client's event channel, shared by the test files that use the channel API.

use std::time::{Duration, Instant};

use wsbeat::Event;

/// Where tests take events from: a client's [`wsbeat::Events`], or a channel that an event
/// callback forwards into.
pub trait EventSource {
    /// The next event within `timeout`; `None` on timeout or once no event can come.
    fn next_within(&self, timeout: Duration) -> Option<Event>;
}

impl EventSource for wsbeat::Events {
    fn next_within(&self, timeout: Duration) -> Option<Event> {
        self.recv_timeout(timeout).ok()
    }
}

impl EventSource for crossbeam_channel::Receiver<Event> {
    fn next_within(&self, timeout: Duration) -> Option<Event> {
        self.recv_timeout(timeout).ok()
    }
}

/// Wait for the first event matching `pred`, collecting everything seen on the way.
pub fn wait_for(
    rx: &impl EventSource,
    within: Duration,
    seen: &mut Vec<Event>,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.next_within(left) {
            Some(ev) => {
                seen.push(ev.clone());
                if pred(&ev) {
                    return ev;
                }
            }
            None => panic!("timed out after {within:?}; events so far: {seen:#?}"),
        }
    }
}
