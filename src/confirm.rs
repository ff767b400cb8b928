//! [`crate::Handle::wait_confirmed`]: a sender waits until everything it had queued is
//! written and confirmed by the peer. The I/O thread does the looking (see
//! `IoLoop::turn`); this is only the rendezvous.
//!
//! While a caller waits (`waiting > 0`) the I/O thread asks for a heartbeat acknowledgement at
//! once instead of `interval` after the oldest unconfirmed write, and at the end of each turn
//! on an open connection, if nothing is queued and the unconfirmed window is empty, it bumps
//! `generation` and wakes the waiters. One atomic load per turn when nobody waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The rendezvous between [`crate::Handle::wait_confirmed`] callers and the I/O thread.
#[derive(Debug, Default)]
pub(crate) struct Confirm {
    waiting: AtomicUsize,
    generation: Mutex<u64>,
    changed: Condvar,
}

/// How a wait ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Waited {
    Confirmed,
    TimedOut,
    Closed,
}

impl Confirm {
    /// Whether a caller waits (the I/O thread then wants an acknowledgement at once).
    pub(crate) fn wanted(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) != 0
    }

    /// The I/O thread found nothing queued and nothing unconfirmed: wake the waiters.
    pub(crate) fn confirmed(&self) {
        *self.lock() += 1;
        self.changed.notify_all();
    }

    /// Wake the waiters so that they look at `closed()` again.
    pub(crate) fn wake(&self) {
        if self.wanted() {
            let _guard = self.lock();
            self.changed.notify_all();
        }
    }

    /// Wait for the next [`Confirm::confirmed`] after this call, at most `timeout`.
    /// `wake_io` is called once registered (the I/O thread must look); `closed()` ends the
    /// wait early.
    pub(crate) fn wait(
        &self,
        timeout: Duration,
        wake_io: impl FnOnce(),
        closed: impl Fn() -> bool,
    ) -> Waited {
        let deadline = Instant::now().checked_add(timeout);
        let mut generation = self.lock();
        let start = *generation;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        wake_io();
        let result = loop {
            if *generation != start {
                break Waited::Confirmed;
            }
            if closed() {
                break Waited::Closed;
            }
            generation = match deadline {
                None => self
                    .changed
                    .wait(generation)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break Waited::TimedOut;
                    }
                    let woken = self.changed.wait_timeout(generation, left);
                    woken.unwrap_or_else(|p| p.into_inner()).0
                }
            };
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }
}
