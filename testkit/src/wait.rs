//! Waiting on a client's event channel, shared by the test files that use the channel API.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use wsbeat::Event;

/// Wait for the first event matching `pred`, collecting everything seen on the way.
pub fn wait_for(
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
