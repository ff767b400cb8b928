//! The few pieces of `async` machinery the I/O loop needs, without an async runtime: the
//! loop is written as one `async fn` whose only suspension point is [`Park`] (sleeping until
//! I/O, a wake-up or a deadline). On a client's own thread nothing ever parks (the loop
//! sleeps in its own poller) and [`block_on`] polls it once; on a shared [`Runtime`]
//! worker, parking returns control to the worker, which records the deadline in its timer
//! set and polls the task again when its socket, a wake-up or that deadline says so.
//!
//! [`Runtime`]: super::Runtime

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

thread_local! {
    /// Set by [`Park`] when a task parks: `Some(deadline)`; taken by the worker after the
    /// poll. `None` while nothing parked.
    static PARKED: Cell<Option<Option<Instant>>> = const { Cell::new(None) };
    /// Set by the worker while it polls a task that its poller had an event for.
    static IO_EVENT: Cell<bool> = const { Cell::new(false) };
}

/// Worker side: whether the poller had an event for the task about to be polled.
pub(crate) fn set_io_event(on: bool) {
    IO_EVENT.with(|e| e.set(on));
}

/// Task side, after a park: whether the poller had an event for its sockets meanwhile.
pub(crate) fn take_io_event() -> bool {
    IO_EVENT.with(|e| e.replace(false))
}

/// Suspend the task until the worker polls it again (its socket became ready, something
/// woke it, or `deadline` passed). Only for tasks on a runtime worker.
pub(crate) fn park(deadline: Option<Instant>) -> Park {
    Park {
        deadline,
        parked: false,
    }
}

/// See [`park`].
#[derive(Debug)]
pub(crate) struct Park {
    deadline: Option<Instant>,
    parked: bool,
}

impl Future for Park {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.parked {
            return Poll::Ready(());
        }
        self.parked = true;
        PARKED.with(|p| p.set(Some(self.deadline)));
        Poll::Pending
    }
}

/// After a task's poll returned `Pending`: the deadline it parked with (`Some(None)`: no
/// deadline), or `None` if it did not park through [`Park`].
pub(crate) fn take_parked() -> Option<Option<Instant>> {
    PARKED.with(|p| p.take())
}

/// Run a future that never parks (the I/O loop on its own thread) to completion.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        // Only `Park` returns `Pending`, and it is only used on runtime workers.
        Poll::Pending => unreachable!("a task parked ({:?}) off a worker", take_parked()),
    }
}

/// A future's panic as a value (what `catch_unwind` does for a function).
pub(crate) struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> CatchUnwind<F> {
    pub(crate) fn new(f: F) -> Self {
        CatchUnwind(Box::pin(f))
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn park_records_its_deadline_then_completes() {
        let at = Instant::now();
        let mut p = pin!(park(Some(at)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(p.as_mut().poll(&mut cx).is_pending());
        assert_eq!(take_parked(), Some(Some(at)));
        assert_eq!(take_parked(), None);
        assert!(p.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_panicking_future_is_caught() {
        let r = block_on(CatchUnwind::new(async { panic!("boom") }));
        assert!(r.is_err());
        assert_eq!(block_on(CatchUnwind::new(async { 7 })).unwrap(), 7);
    }
}
