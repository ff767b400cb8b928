//! One runtime thread: many clients' I/O loops as tasks, one `mio::Poll` for all their
//! sockets, one timer set for all their deadlines (heartbeats, connect and close timeouts,
//! backoff waits), one cross-thread inbox (new tasks, wake-ups from handles, resolvers and
//! event consumers).
//!
//! A task runs until it parks (`task::park`); the worker polls it again when its socket's
//! token has an event, something woke it, or its deadline passed. Tokens are task keys,
//! never reused, so a late event for an ended task is ignored.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token};

use super::task::take_parked;
use crate::shared::Shared;

/// The worker's own waker token; task keys start above it.
const WAKE: Token = Token(0);

/// Task keys, unique across every runtime of the process (they are poller tokens).
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

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
}

/// The worker thread's state.
pub(crate) struct Worker {
    poll: Poll,
    shared: Arc<WorkerShared>,
    tasks: HashMap<usize, Task>,
    timers: BTreeSet<(Instant, usize)>,
    ready: Vec<usize>,
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
        });
        Ok((poll, shared))
    }

    /// The thread's body: until stopped and every task has ended.
    pub(crate) fn run(poll: Poll, shared: Arc<WorkerShared>) {
        let mut w = Worker {
            poll,
            shared,
            tasks: HashMap::new(),
            timers: BTreeSet::new(),
            ready: Vec::new(),
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
                if ev.token() != WAKE {
                    self.ready.push(ev.token().0);
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
            };
            self.tasks.insert(key, task);
            self.ready.push(key);
        }
        self.ready.extend(woken);
        stop
    }

    fn expire_timers(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(t) = self.tasks.get_mut(&key) {
                t.timer = None;
            }
            self.ready.push(key);
        }
    }

    /// How long the poller may sleep: until the first deadline, not at all if the inbox
    /// has something (a push that found it non-empty did not wake us).
    fn sleep_for(&self) -> Option<Duration> {
        if !self.shared.lock().is_empty() || !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        self.timers
            .first()
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    fn run_ready(&mut self) {
        let mut ready = std::mem::take(&mut self.ready);
        ready.sort_unstable();
        ready.dedup();
        for key in ready.drain(..) {
            self.poll_task(key);
        }
        if self.ready.is_empty() {
            self.ready = ready; // keep the allocation
        }
    }

    fn poll_task(&mut self, key: usize) {
        let Some(task) = self.tasks.get_mut(&key) else {
            return; // ended; a late event for its token
        };
        let mut cx = Context::from_waker(Waker::noop());
        let entered = task.shared.enter();
        let polled = catch_unwind(AssertUnwindSafe(|| task.fut.as_mut().poll(&mut cx)));
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
                    if let Some(at) = deadline {
                        self.timers.insert((at, key));
                    }
                    task.timer = deadline;
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
                    task.shared.mark_done();
                }
            }
        }
    }
}
