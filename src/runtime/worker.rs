//! One runtime thread: many clients' I/O loops as tasks, one `mio::Poll` for all their
//! sockets, one timer set for all their deadlines (heartbeats, connect and close timeouts,
//! backoff waits), one cross-thread inbox (new tasks, wake-ups from handles, resolvers and
//! event consumers).
//!
//! A task runs until it parks (`task::park`); the worker polls it again when its socket's
//! token has an event, something woke it, or its deadline passed. Tokens are task keys,
//! never reused, so a late event for an ended task is ignored.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token};

use super::task::{set_io_event, take_parked};
use crate::shared::Shared;

/// The worker's own waker token; task keys start above it.
const WAKE: Token = Token(0);

/// Task keys, unique across every runtime of the process (they are poller tokens).
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// Connection attempts (DNS to WebSocket handshake) one thread runs at once; the others wait
/// their turn, in order. A restarting server's 10,000 clients reconnect in waves instead of
/// one SYN flood (faster: fewer SYNs dropped by a full accept queue), and the handshakes'
/// buffers are not all allocated at once (memory that would stay fragmented afterwards).
pub(crate) const CONNECTING_PER_THREAD: usize = 256;

/// A deadline may fire this fraction of its distance late, at most [`MAX_SLACK`], so that
/// deadlines close together (thousands of heartbeats) are served by one wake-up.
const SLACK_DIVISOR: u32 = 64;
/// See [`SLACK_DIVISOR`].
const MAX_SLACK: Duration = Duration::from_millis(20);

/// A task's body: a client's I/O loop (`IoLoop::run_async`), built on the worker.
pub(crate) type Spawn = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// What a worker shares with the threads that give it work or wake its tasks.
pub(crate) struct WorkerShared {
    /// The worker's registry: every task registers its sockets here with its key as token.
    pub(crate) registry: Registry,
    waker: mio::Waker,
    inbox: Mutex<Inbox>,
    /// Tasks given to this worker and not yet ended (for balancing and the figures).
    pub(crate) tasks: AtomicUsize,
    /// Connection attempts running, and the tasks waiting for one of the
    /// [`CONNECTING_PER_THREAD`] slots (only the worker's own tasks use it).
    connecting: Mutex<(usize, VecDeque<usize>)>,
}

impl std::fmt::Debug for WorkerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerShared")
            .field("tasks", &self.tasks.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inbox {
    spawn: Vec<(usize, Arc<Shared>, Spawn)>,
    woken: Vec<usize>,
    stop: bool,
}

impl Inbox {
    fn is_empty(&self) -> bool {
        self.spawn.is_empty() && self.woken.is_empty() && !self.stop
    }
}

impl WorkerShared {
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh task key (its poller token).
    pub(crate) fn new_key() -> usize {
        NEXT_KEY.fetch_add(1, Ordering::Relaxed)
    }

    /// Give the worker a task; it is polled first on the worker's next round.
    pub(crate) fn spawn(&self, key: usize, shared: Arc<Shared>, f: Spawn) {
        self.tasks.fetch_add(1, Ordering::Relaxed);
        self.push(|inbox| inbox.spawn.push((key, shared, f)));
    }

    /// Poll task `key` again soon (from any thread).
    pub(crate) fn wake(&self, key: usize) {
        self.push(|inbox| inbox.woken.push(key));
    }

    /// Take a connection attempt slot, or queue task `key` for one (it is woken when one
    /// frees up, and asks again). Release with [`WorkerShared::end_connecting`].
    pub(crate) fn try_begin_connecting(&self, key: usize) -> bool {
        let mut c = self.connecting.lock().unwrap_or_else(|p| p.into_inner());
        if c.0 < CONNECTING_PER_THREAD {
            c.0 += 1;
            c.1.retain(|k| *k != key);
            return true;
        }
        if !c.1.contains(&key) {
            c.1.push_back(key);
        }
        false
    }

    /// A task gave up waiting for a slot (it is closing).
    pub(crate) fn stop_waiting(&self, key: usize) {
        let mut c = self.connecting.lock().unwrap_or_else(|p| p.into_inner());
        c.1.retain(|k| *k != key);
    }

    /// An attempt ended: its slot goes to the first waiting task.
    pub(crate) fn end_connecting(&self) {
        let next = {
            let mut c = self.connecting.lock().unwrap_or_else(|p| p.into_inner());
            c.0 = c.0.saturating_sub(1);
            c.1.pop_front()
        };
        if let Some(key) = next {
            self.wake(key);
        }
    }

    /// Stop once every task has ended.
    pub(crate) fn stop(&self) {
        self.push(|inbox| inbox.stop = true);
    }

    /// Change the inbox; wake the worker only if the inbox was empty (the worker empties it
    /// whole on every round, and looks at it before sleeping).
    fn push(&self, f: impl FnOnce(&mut Inbox)) {
        let was_empty = {
            let mut inbox = self.lock();
            let was_empty = inbox.is_empty();
            f(&mut inbox);
            was_empty
        };
        if was_empty && let Err(e) = self.waker.wake() {
            log::error!("waking a runtime thread failed: {e}");
        }
    }
}

/// A client's I/O loop on the worker.
struct Task {
    fut: Pin<Box<dyn Future<Output = ()>>>,
    shared: Arc<Shared>,
    /// The deadline it parked with (its entry in the timer set).
    timer: Option<Instant>,
    /// In the ready queue already.
    queued: bool,
    /// The poller had an event for its token since it was last polled.
    io_event: bool,
}

/// The worker thread's state.
pub(crate) struct Worker {
    poll: Poll,
    shared: Arc<WorkerShared>,
    tasks: HashMap<usize, Task>,
    /// Every parked task's deadline, with the slack it may fire late by.
    timers: BTreeMap<(Instant, usize), Duration>,
    /// Tasks to poll, in the order they became ready (each once).
    ready: VecDeque<usize>,
}

impl Worker {
    /// A worker's poller and what other threads use to reach it (the worker itself, whose
    /// tasks never leave its thread, is built there by [`Worker::run`]).
    pub(crate) fn prepare() -> io::Result<(Poll, Arc<WorkerShared>)> {
        let poll = Poll::new()?;
        let shared = Arc::new(WorkerShared {
            registry: poll.registry().try_clone()?,
            waker: mio::Waker::new(poll.registry(), WAKE)?,
            inbox: Mutex::default(),
            tasks: AtomicUsize::new(0),
            connecting: Mutex::default(),
        });
        Ok((poll, shared))
    }

    /// The thread's body: until stopped and every task has ended.
    pub(crate) fn run(poll: Poll, shared: Arc<WorkerShared>) {
        let mut w = Worker {
            poll,
            shared,
            tasks: HashMap::new(),
            timers: BTreeMap::new(),
            ready: VecDeque::new(),
        };
        w.serve();
    }

    fn serve(&mut self) {
        super::set_current_worker(Arc::as_ptr(&self.shared) as usize);
        let mut events = Events::with_capacity(1024);
        loop {
            let stop = self.take_inbox();
            self.expire_timers(Instant::now());
            self.run_ready();
            if stop && self.tasks.is_empty() {
                return;
            }
            let timeout = self.sleep_for();
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!("runtime poller failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            for ev in events.iter() {
                let key = ev.token().0;
                if ev.token() != WAKE
                    && let Some(t) = self.tasks.get_mut(&key)
                {
                    t.io_event = true;
                    self.make_ready(key);
                }
            }
        }
    }

    /// New tasks and wake-ups into the ready list; whether the runtime asked to stop.
    fn take_inbox(&mut self) -> bool {
        let (spawn, woken, stop) = {
            let mut inbox = self.shared.lock();
            (
                std::mem::take(&mut inbox.spawn),
                std::mem::take(&mut inbox.woken),
                inbox.stop,
            )
        };
        for (key, shared, f) in spawn {
            let task = Task {
                fut: f(),
                shared,
                timer: None,
                queued: false,
                io_event: false,
            };
            self.tasks.insert(key, task);
            self.make_ready(key);
        }
        for key in woken {
            self.make_ready(key);
        }
        stop
    }

    /// Queue task `key` to be polled (once, however often it became ready); an ended task's
    /// late event is ignored.
    fn make_ready(&mut self, key: usize) {
        if let Some(t) = self.tasks.get_mut(&key)
            && !t.queued
        {
            t.queued = true;
            self.ready.push_back(key);
        }
    }

    /// Every task whose deadline has passed becomes ready (a deadline is not fired early).
    fn expire_timers(&mut self, now: Instant) {
        while let Some((&(at, key), _)) = self.timers.first_key_value() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(t) = self.tasks.get_mut(&key) {
                t.timer = None;
            }
            self.make_ready(key);
        }
    }

    /// How long the poller may sleep: not at all if the inbox has something (a push that
    /// found it non-empty did not wake us) or a task is ready; else until the latest moment
    /// that fires the first deadline within its slack, and with it every deadline due by
    /// then (the others near the first are looked at for a tighter slack of their own).
    fn sleep_for(&self) -> Option<Duration> {
        if !self.shared.lock().is_empty() || !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        let (&(first, _), _) = self.timers.first_key_value()?;
        let wake = self
            .timers
            .range(..(first + MAX_SLACK, usize::MAX))
            .map(|(&(at, _), &slack)| at + slack)
            .min()
            .unwrap_or(first);
        Some(wake.saturating_duration_since(Instant::now()))
    }

    fn run_ready(&mut self) {
        // Only the tasks ready now: one woken while this round runs waits for the next
        // round (after the poller's events), so no task can starve the others.
        for _ in 0..self.ready.len() {
            let Some(key) = self.ready.pop_front() else {
                break;
            };
            self.poll_task(key);
        }
    }

    fn poll_task(&mut self, key: usize) {
        let Some(task) = self.tasks.get_mut(&key) else {
            return; // ended; a late event for its token
        };
        task.queued = false;
        let mut cx = Context::from_waker(Waker::noop());
        let entered = task.shared.enter();
        set_io_event(std::mem::take(&mut task.io_event));
        let polled = catch_unwind(AssertUnwindSafe(|| task.fut.as_mut().poll(&mut cx)));
        set_io_event(false);
        drop(entered);
        let parked = take_parked();
        match polled {
            Ok(std::task::Poll::Pending) => {
                let deadline = match parked {
                    Some(d) => d,
                    None => {
                        log::error!("a runtime task returned Pending without parking");
                        None
                    }
                };
                if task.timer != deadline {
                    if let Some(old) = task.timer.take() {
                        self.timers.remove(&(old, key));
                    }
                    let now = Instant::now();
                    match deadline {
                        // Due already (a task yielding its turn): the next round.
                        Some(at) if at <= now => {
                            task.queued = true;
                            self.ready.push_back(key);
                        }
                        Some(at) => {
                            let slack = ((at - now) / SLACK_DIVISOR).min(MAX_SLACK);
                            self.timers.insert((at, key), slack);
                            task.timer = deadline;
                        }
                        None => {}
                    }
                }
            }
            Ok(std::task::Poll::Ready(())) | Err(_) => {
                let task = self.tasks.remove(&key).expect("polled above");
                if let Some(old) = task.timer {
                    self.timers.remove(&(old, key));
                }
                self.shared.tasks.fetch_sub(1, Ordering::Relaxed);
                if polled.is_err() {
                    // The I/O loop catches its own panics; this is a panic in its last steps.
                    log::error!("a runtime task panicked");
                }
                // Ended (its loop dropped its callback first): `close()` and drop return.
                task.shared.mark_done();
            }
        }
    }
}
