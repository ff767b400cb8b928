//! [`Runtime`]: a few I/O threads shared by many clients (thousands), instead of one thread
//! per client. Each client's I/O loop is the same code either way; on a runtime it is a task
//! that parks instead of sleeping in a poller of its own (see `task.rs`, `worker.rs`).

mod task;
mod worker;

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::error::Error;
use crate::limits::MAX_RUNTIME_THREADS;

pub(crate) use task::{CatchUnwind, block_on, park, take_io_event};
pub(crate) use worker::WorkerShared;

thread_local! {
    /// On a runtime worker thread: the address of its `WorkerShared` (0 elsewhere).
    static CURRENT_WORKER: Cell<usize> = const { Cell::new(0) };
}

fn set_current_worker(id: usize) {
    CURRENT_WORKER.with(|c| c.set(id));
}

/// Whether the calling thread is `worker`'s thread (inside a callback of one of its clients).
pub(crate) fn on_worker(worker: &Arc<WorkerShared>) -> bool {
    CURRENT_WORKER.with(|c| c.get()) == Arc::as_ptr(worker) as usize
}

/// A pool of I/O threads that many clients share ([`ClientBuilder::runtime`]).
///
/// Without a runtime every client has an I/O thread of its own; that is the default and fits
/// an application with a few connections. A gateway, a fleet of devices or a load tester
/// holding thousands of connections puts them on a runtime instead: 10,000 idle heartbeating
/// clients on a runtime of 2 threads use 2 threads, not 10,000 (figures in BENCHMARKS.md).
///
/// Every guarantee of a client holds on a runtime, per client: heartbeat deadlines (one timer
/// set per thread for all its clients), reconnection with its own backoff and jitter, close
/// wins, ordering, delivery accounting, backpressure (a client whose event channel is full,
/// or whose socket is slow, stops only itself) and callbacks serialized per client. What is
/// shared is the thread: a callback that runs long delays the other clients on its thread,
/// so callbacks of clients on a runtime should hand slow work elsewhere. DNS lookups run on
/// threads of their own as without a runtime; TCP, proxy, TLS and WebSocket handshakes are
/// non-blocking steps of the task and never hold the thread.
///
/// Two things differ from a thread of its own, both to serve thousands of clients: a thread
/// runs at most 256 connection attempts at once (the others wait their turn, interruptible by
/// `close()`, their connect timeout starting with it), so a restarting server is not hit by
/// one SYN flood; and a deadline may fire up to 1/64 of its distance late (at most 20 ms, never
/// early), so thousands of heartbeats share a few wake-ups. A client on a runtime reads
/// through a 4 KiB buffer (16 KiB on its own thread).
///
/// Clients are spread over the threads by their number of clients. Cloning is cheap (the
/// clones share the threads); the threads end once the last clone and the last client using
/// it are gone (dropping the last one joins them, except on one of its own threads).
///
/// ```no_run
/// use wsbeat::{Client, Runtime};
///
/// let rt = Runtime::new(2)?;
/// let clients: Vec<Client> = (0..1000)
///     .map(|_| Client::builder("ws://127.0.0.1:8002").runtime(&rt).connect())
///     .collect::<Result<_, _>>()?;
/// # Ok::<(), wsbeat::Error>(())
/// ```
///
/// [`ClientBuilder::runtime`]: crate::ClientBuilder::runtime
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    workers: Vec<Arc<WorkerShared>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("threads", &self.threads())
            .field("clients", &self.clients())
            .finish()
    }
}

impl Runtime {
    /// Start a runtime of `threads` I/O threads (1 to [`MAX_RUNTIME_THREADS`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a count out of range, [`Error::Spawn`] if a thread or
    /// its poller cannot be created.
    pub fn new(threads: usize) -> Result<Runtime, Error> {
        if !(1..=MAX_RUNTIME_THREADS).contains(&threads) {
            return Err(Error::InvalidArgument(format!(
                "runtime threads must be within 1..={MAX_RUNTIME_THREADS}, got {threads}"
            )));
        }
        let mut workers = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        let spawned = (0..threads).try_for_each(|i| {
            let (poll, shared) =
                worker::Worker::prepare().map_err(|e| Error::Spawn(e.to_string()))?;
            let for_thread = shared.clone();
            let t = thread::Builder::new()
                .name(format!("wsbeat-rt-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || worker::Worker::run(poll, for_thread))
                .map_err(|e| Error::Spawn(e.to_string()))?;
            workers.push(shared);
            handles.push(t);
            Ok(())
        });
        let inner = Inner {
            workers,
            threads: Mutex::new(handles),
        };
        // On failure, dropping `inner` stops the threads already started.
        spawned.map(|()| Runtime {
            inner: Arc::new(inner),
        })
    }

    /// The number of I/O threads.
    pub fn threads(&self) -> usize {
        self.inner.workers.len()
    }

    /// The number of clients whose I/O loop runs on this runtime now (a client counts until
    /// it has stopped).
    pub fn clients(&self) -> usize {
        self.inner
            .workers
            .iter()
            .map(|w| w.tasks.load(Ordering::Relaxed))
            .sum()
    }

    /// The thread with the fewest clients, for a new one.
    pub(crate) fn pick(&self) -> Arc<WorkerShared> {
        let w = self
            .inner
            .workers
            .iter()
            .min_by_key(|w| w.tasks.load(Ordering::Relaxed))
            .expect("at least one thread");
        Arc::clone(w)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for w in &self.workers {
            w.stop();
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        if self.workers.iter().any(on_worker) {
            return; // dropped on one of our threads (a callback's captures): they end alone
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_out_of_range_are_refused() {
        for n in [0, MAX_RUNTIME_THREADS + 1] {
            match Runtime::new(n) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains("runtime threads"), "{m}"),
                other => panic!("{n}: {other:?}"),
            }
        }
        let rt = Runtime::new(2).unwrap();
        assert_eq!((rt.threads(), rt.clients()), (2, 0));
    }
}
