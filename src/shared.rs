//! The state that handles (any thread) and the I/O thread share: the client's [`State`],
//! counters, the outbox gauge, the waker and its sleeping flag, the open connection's slot
//! and the [`Inbox`] of the [`Command`]s handles send. `client` and `io_loop` both use it; it
//! uses neither.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tungstenite::Message as WsMessage;

use crate::config::Limits;
use crate::conn::Conn;
use crate::inbox::Inbox;
use crate::outbox::Gauge;
use crate::runtime::{WorkerShared, on_worker};
use crate::stats::{Counters, Slow};

/// The poller token of the cross-thread waker.
pub(crate) const WAKE: mio::Token = mio::Token(0);

/// How other threads wake the I/O loop: the waker of its own thread's poller, or its task on
/// a runtime worker.
pub(crate) enum IoWaker {
    /// The client's own I/O thread sleeps in its poller.
    Own(mio::Waker),
    /// The client's I/O loop is task `key` of a runtime worker.
    Task(Arc<WorkerShared>, usize),
}

impl IoWaker {
    fn wake(&self) -> std::io::Result<()> {
        match self {
            IoWaker::Own(w) => w.wake(),
            IoWaker::Task(worker, key) => {
                worker.wake(*key);
                Ok(())
            }
        }
    }
}

/// Where the client is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u8)]
pub enum State {
    /// Resolving, connecting, TLS or WebSocket handshake.
    Connecting = 0,
    /// The WebSocket is open.
    Open = 1,
    /// Waiting out a backoff delay before the next attempt.
    Reconnecting = 2,
    /// Close handshake under way after [`crate::Handle::close`].
    Closing = 3,
    /// Stopped for good.
    Stopped = 4,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Connecting,
            1 => State::Open,
            2 => State::Reconnecting,
            3 => State::Closing,
            _ => State::Stopped,
        }
    }
}

/// What other threads ask of the I/O thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// A message; `true` when sent from the I/O thread itself (a callback): it goes ahead of
    /// the backlog.
    Send(WsMessage, bool),
    Close(u16, String),
    ReconnectNow,
}

thread_local! {
    /// On an I/O thread: the address of its client's `Shared` (0 elsewhere). A cheap way for
    /// `send_*` to know it is called from inside that client's callback.
    static IO_THREAD_OF: Cell<usize> = const { Cell::new(0) };
}

/// State shared by handles and the I/O thread.
pub(crate) struct Shared {
    state: AtomicU8,
    pub(crate) counters: Counters,
    slow: Mutex<Slow>,
    pub(crate) gauge: Gauge,
    waker: IoWaker,
    /// Set by the I/O thread while it sleeps in the poller: senders wake it only then.
    pub(crate) sleeping: AtomicBool,
    /// The commands handles send, in order; the I/O thread takes them in batches.
    pub(crate) inbox: Inbox,
    /// The open connection, for senders' direct writes (`io_loop::send_direct`).
    conn: Mutex<Option<Conn>>,
    /// Close and reconnect requests sent and not yet taken by the I/O thread: while any is
    /// pending, sends queue behind it instead of writing directly.
    pub(crate) control_pending: AtomicUsize,
    done: (Mutex<bool>, Condvar),
    /// [`crate::Handle::wait_confirmed`] callers and the I/O thread meet here.
    pub(crate) confirm: crate::confirm::Confirm,
    pub(crate) max_message_size: usize,
    pub(crate) close_wait: Duration,
    /// In channel mode on a thread of its own, once a consumer first read directly: how the
    /// loop wakes a consumer waiting in its own poller (`io_loop::direct_read`): on the lent
    /// socket, or parked for an event.
    pub(crate) reader_waker: std::sync::OnceLock<mio::Waker>,
    /// A consumer is parked in its poller until the loop delivers an event or goes to sleep.
    pub(crate) reader_parked: AtomicBool,
}

/// See [`Shared::enter`].
pub(crate) struct Entered(usize);

impl Drop for Entered {
    fn drop(&mut self) {
        IO_THREAD_OF.with(|c| c.set(self.0));
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(limits: &Limits, waker: IoWaker) -> Self {
        Shared {
            state: AtomicU8::new(State::Connecting as u8),
            counters: Counters::default(),
            slow: Mutex::new(Slow::default()),
            gauge: Gauge::new(limits.outbox_max_messages, limits.outbox_max_bytes),
            waker,
            sleeping: AtomicBool::new(false),
            inbox: Inbox::new(),
            conn: Mutex::new(None),
            control_pending: AtomicUsize::new(0),
            done: (Mutex::new(false), Condvar::new()),
            confirm: Default::default(),
            max_message_size: limits.max_message_size,
            close_wait: limits.close_timeout + Duration::from_millis(500),
            reader_waker: std::sync::OnceLock::new(),
            reader_parked: AtomicBool::new(false),
        }
    }

    pub(crate) fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::SeqCst);
        if matches!(s, State::Closing | State::Stopped) {
            // Senders waiting for outbox room look again and give up with `Error::Closed`
            // (the store above comes first: see `Gauge` on lost wake-ups).
            self.gauge.wake_waiters();
            self.confirm.wake();
        }
    }

    pub(crate) fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::SeqCst))
    }

    pub(crate) fn lock_slow(&self) -> MutexGuard<'_, Slow> {
        self.slow.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the open connection (when none is open: the last one) negotiated
    /// permessage-deflate.
    pub(crate) fn compression(&self) -> bool {
        self.lock_slow().compression
    }

    pub(crate) fn lock_conn(&self) -> MutexGuard<'_, Option<Conn>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection slot without waiting: `None` while its holder (the I/O thread in a
    /// turn, or another sender) has it.
    pub(crate) fn try_lock_conn(&self) -> Option<MutexGuard<'_, Option<Conn>>> {
        self.conn.try_lock().ok()
    }

    /// Wake the I/O thread if it sleeps in the poller.
    pub(crate) fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst)
            && self.sleeping.swap(false, Ordering::SeqCst)
            && let Err(e) = self.waker.wake()
        {
            log::error!("waking the I/O thread failed: {e}");
        }
    }

    /// Wake the I/O thread whether it sleeps or not (a waker event is kept until its next
    /// poll, so this is never lost): it must look at something now.
    pub(crate) fn wake_always(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!("waking the I/O thread failed: {e}");
        }
    }

    /// Wake a consumer waiting on the lent socket (`io_loop::direct_read`): the loop took
    /// it back.
    pub(crate) fn wake_reader(&self) {
        if let Some(w) = self.reader_waker.get()
            && let Err(e) = w.wake()
        {
            log::error!("waking the consumer failed: {e}");
        }
    }

    /// The loop delivered an event, or goes to sleep: wake a parked consumer (see
    /// `reader_parked`). One load when none is (the flag and the consumer's look at the
    /// channel and at `sleeping` are ordered with `SeqCst`: no lost wake-up).
    pub(crate) fn wake_parked_reader(&self) {
        if self.reader_parked.load(Ordering::SeqCst)
            && self.reader_parked.swap(false, Ordering::SeqCst)
        {
            self.wake_reader();
        }
    }

    /// Whether the caller runs on this client's I/O thread (i.e. inside its callback).
    pub(crate) fn on_io_thread(&self) -> bool {
        IO_THREAD_OF.with(|c| c.get()) == self as *const Shared as usize
    }

    /// Marks the calling thread as this client's I/O thread.
    pub(crate) fn mark_io_thread(&self) {
        IO_THREAD_OF.with(|c| c.set(self as *const Shared as usize));
    }

    /// On a runtime worker, while this client's task runs: the thread is its I/O thread
    /// until the guard drops.
    pub(crate) fn enter(&self) -> Entered {
        Entered(IO_THREAD_OF.with(|c| c.replace(self as *const Shared as usize)))
    }

    /// Whether waiting here for this client's I/O loop would wait for the calling thread
    /// itself: inside its own callback, or inside a callback of another client on the same
    /// runtime thread (that thread runs this client's loop too).
    pub(crate) fn would_deadlock(&self) -> bool {
        self.on_io_thread() || matches!(&self.waker, IoWaker::Task(w, _) if on_worker(w))
    }

    /// The I/O thread has exited (its callback and captures are dropped): wake `wait_done`.
    pub(crate) fn mark_done(&self) {
        let (lock, cv) = &self.done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    /// Wait until the I/O thread has exited, at most `bound`. True if it has.
    pub(crate) fn wait_done(&self, bound: Duration) -> bool {
        let (lock, cv) = &self.done;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, bound, |done| !*done)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }
}
