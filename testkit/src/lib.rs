//! The test kit of wsbeat: the servers and helpers its suites, tools and the CLI share, one
//! crate instead of files included by path. Everything runs on 127.0.0.1 with ephemeral ports.
//!
//! - [`server::EchoServer`]: the seed protocol's echo server (demos, tests, benchmarks,
//!   `wsbeat --serve`), with switches that make it misbehave on purpose.
//! - [`proxy::FaultProxy`]: a TCP proxy that black-holes, delays, throttles, cuts (FIN/RST)
//!   and refuses, on command.
//! - [`hostile::Hostile`]: a scripted raw-TCP server for broken handshakes and frames.
//! - [`recorder::RecordingServer`]: an echo server that logs what it received, for
//!   "delivered once, in order" checks on the server side.
//! - [`deflate_server::DeflateEchoServer`]: an echo server that negotiates permessage-deflate
//!   (plain TCP, or rustls with feature `tls`), for compression tests without Python or Node.
//! - [`process::ServerProcess`]: the same server in a child process, for SIGKILL.
//! - `tls_server::TlsEchoServer` (feature `tls`): the echo server over rustls, with
//!   certificates made by rcgen.
//! - `scenarios` (feature `tls`): the fault matrix, run by `tests/faults.rs` and the
//!   `fault_matrix` tool.
//! - [`wait`], [`Events`], [`Ledger`], [`Leaks`]: event waiting with timestamps, message
//!   accounting, thread/fd/RSS accounting from /proc.
pub mod deflate_server;
pub mod hostile;
pub mod process;
pub mod proxy;
pub mod recorder;
#[cfg(feature = "tls")]
pub mod scenarios;
pub mod server;
#[cfg(feature = "tls")]
pub mod tls_server;
pub mod wait;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use wsbeat::{Event, Handle, Heartbeat, Message, Reconnect};

/// `Client::builder(url)`, with every client on one shared [`wsbeat::Runtime`] when the
/// environment variable `WSBEAT_TEST_RUNTIME` is set (its value: the runtime's threads). The
/// behaviour suites build their clients here, and the test step runs them twice: with a
/// thread per client (the default) and on a runtime, so every guarantee is checked in both.
pub fn builder(url: impl AsRef<str>) -> wsbeat::ClientBuilder {
    let b = wsbeat::Client::builder(url);
    match test_runtime() {
        Some(rt) => b.runtime(rt),
        None => b,
    }
}

/// The suites' shared runtime, when `WSBEAT_TEST_RUNTIME` is set (see [`builder`]).
pub fn test_runtime() -> Option<&'static wsbeat::Runtime> {
    static RUNTIME: std::sync::OnceLock<Option<wsbeat::Runtime>> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let threads = std::env::var("WSBEAT_TEST_RUNTIME").ok()?;
            let threads = threads
                .parse()
                .unwrap_or_else(|_| panic!("WSBEAT_TEST_RUNTIME={threads}: not a thread count"));
            Some(wsbeat::Runtime::new(threads).expect("test runtime"))
        })
        .as_ref()
}

/// Whether `comm` names a client's I/O thread: its own (`wsbeat-io`) or a runtime's.
fn is_io_thread(comm: &str) -> bool {
    comm == "wsbeat-io" || comm.starts_with("wsbeat-rt-")
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The suite's scaled-down timings: heartbeat every 100 ms, dead after 60 ms of silence past
/// a heartbeat, backoff from 50 ms.
pub const INTERVAL: Duration = Duration::from_millis(100);
pub const TIMEOUT: Duration = Duration::from_millis(60);
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(50);
/// Margin for a 2-core machine shared with parallel builds.
pub const MARGIN: Duration = Duration::from_millis(700);

pub fn heartbeat() -> Heartbeat {
    Heartbeat::ping(INTERVAL, TIMEOUT)
}

pub fn fast_reconnect() -> Reconnect {
    Reconnect::exponential()
        .initial(BACKOFF_INITIAL)
        .max(ms(400))
        .jitter(0.0)
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Run timing-sensitive scenarios one at a time (and make per-test /proc accounting exact).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Events of one client with the instant each was taken off the channel.
pub struct Events {
    pub rx: wsbeat::Events,
    pub seen: Vec<(Instant, Event)>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    pub fn new(rx: wsbeat::Events) -> Self {
        Events {
            rx,
            seen: Vec::new(),
        }
    }

    /// Wait for the first event matching `pred`; panics (listing what was seen) after `within`.
    pub fn wait(&mut self, within: Duration, pred: impl Fn(&Event) -> bool) -> (Instant, Event) {
        match self.try_wait(within, pred) {
            Some(x) => x,
            None => panic!(
                "timed out after {within:?}; events so far: {:#?}",
                self.names()
            ),
        }
    }

    /// Like [`Events::wait`] but returns `None` on timeout.
    pub fn try_wait(
        &mut self,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Option<(Instant, Event)> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(ev) => {
                    let now = Instant::now();
                    self.seen.push((now, ev.clone()));
                    if pred(&ev) {
                        return Some((now, ev));
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Take every event that arrives within `d`.
    pub fn drain_for(&mut self, d: Duration) {
        let _ = self.try_wait(d, |_| false);
    }

    /// Event names seen so far, pongs left out.
    pub fn names(&self) -> Vec<&'static str> {
        self.seen
            .iter()
            .map(|(_, e)| e.name())
            .filter(|n| *n != "pong")
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.seen.iter().filter(|(_, e)| pred(e)).count()
    }

    /// Texts received, in order.
    pub fn texts(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    /// Messages reported back: `Closed.unconfirmed` and `Stopped.unsent`.
    pub fn reported(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, e) in &self.seen {
            let list = match e {
                Event::Closed { unconfirmed, .. } => unconfirmed,
                Event::Stopped { unsent, .. } => unsent,
                _ => continue,
            };
            out.extend(list.iter().filter_map(|m| match m {
                Message::Text(t) => Some(t.clone()),
                Message::Binary(_) => None,
            }));
        }
        out
    }

    /// Opened events seen.
    pub fn opens(&self) -> usize {
        self.count(|e| matches!(e, Event::Opened { .. }))
    }
}

/// What happened to every message a test sent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Accounting {
    pub sent: usize,
    pub delivered: usize,
    pub reported: usize,
    pub refused: usize,
    /// Neither delivered nor reported nor refused.
    pub lost: Vec<String>,
    pub duplicated: Vec<String>,
    pub out_of_order: Vec<String>,
}

/// Sends numbered messages and accounts for each of them.
#[derive(Default)]
pub struct Ledger {
    prefix: String,
    sent: Vec<String>,
    refused: Vec<String>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

impl Ledger {
    pub fn new(prefix: &str) -> Self {
        Ledger {
            prefix: prefix.to_owned(),
            ..Ledger::default()
        }
    }

    /// Send the next numbered message; a refused send (an error) is remembered as reported.
    pub fn send(&mut self, h: &Handle) {
        let m = format!("{}-{}", self.prefix, self.sent.len() + self.refused.len());
        match h.send_text(m.clone()) {
            Ok(()) => self.sent.push(m),
            Err(_) => self.refused.push(m),
        }
    }

    pub fn sent(&self) -> &[String] {
        &self.sent
    }

    /// `delivered`: what the server got, in arrival order (other traffic is ignored);
    /// `reported`: what the client handed back.
    pub fn account(&self, delivered: &[String], reported: &[String]) -> Accounting {
        let index: HashMap<&str, usize> = self
            .sent
            .iter()
            .enumerate()
            .map(|(i, m)| (m.as_str(), i))
            .collect();
        let mut acc = Accounting {
            sent: self.sent.len() + self.refused.len(),
            refused: self.refused.len(),
            ..Accounting::default()
        };
        let mut got = HashSet::new();
        let mut last: Option<usize> = None;
        for m in delivered {
            let Some(&i) = index.get(m.as_str()) else {
                continue;
            };
            if !got.insert(i) {
                acc.duplicated.push(m.clone());
                continue;
            }
            if last.is_some_and(|l| i < l) {
                acc.out_of_order.push(m.clone());
            }
            last = Some(i);
        }
        acc.delivered = got.len();
        let rep: HashSet<&str> = reported.iter().map(String::as_str).collect();
        for (i, m) in self.sent.iter().enumerate() {
            if got.contains(&i) {
                continue;
            }
            if rep.contains(m.as_str()) {
                acc.reported += 1;
            } else {
                acc.lost.push(m.clone());
            }
        }
        acc
    }
}

impl Accounting {
    /// Delivered once and in order, or reported back: nothing lost, nothing duplicated.
    pub fn assert_clean(&self) {
        assert!(
            self.lost.is_empty() && self.duplicated.is_empty() && self.out_of_order.is_empty(),
            "message accounting failed: {self:#?}"
        );
    }
}

// ---- resources -------------------------------------------------------------------------

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Threads of this process.
pub fn thread_count() -> usize {
    status_field("Threads:").unwrap_or(0) as usize
}

/// Resident set size in KiB.
pub fn rss_kib() -> u64 {
    status_field("VmRSS:").unwrap_or(0)
}

fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Threads of this process named `name` (e.g. "wsbeat-io").
pub fn threads_named(name: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .count()
}

/// Read `file` (e.g. "status", "stat") of this process's only I/O thread (`wsbeat-io`, or
/// the thread of a one-thread test runtime) from /proc; panics unless there is exactly one.
pub fn only_io_thread(file: &str) -> String {
    let found: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| is_io_thread(c.trim_end()))
        })
        .map(|e| std::fs::read_to_string(e.path().join(file)).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one I/O thread");
    found.into_iter().next().unwrap()
}

/// Voluntary context switches of this process's only I/O thread (see [`only_io_thread`]):
/// how often it slept.
pub fn io_thread_sleeps() -> u64 {
    only_io_thread("status")
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches in /proc status")
}

/// Clients running on the suites' runtime (0 without one).
fn runtime_clients() -> usize {
    test_runtime().map_or(0, |rt| rt.clients())
}

/// Baseline of fds and client threads taken at the start of a (serialized) scenario.
pub struct Leaks {
    fds: usize,
    io_threads: usize,
    runtime_clients: usize,
}

impl std::fmt::Debug for Leaks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaks").finish_non_exhaustive()
    }
}

impl Leaks {
    pub fn snapshot() -> Self {
        // First: it starts the suites' runtime (its descriptors are not a scenario's).
        let runtime_clients = runtime_clients();
        Leaks {
            fds: fd_count(),
            io_threads: threads_named("wsbeat-io"),
            runtime_clients,
        }
    }

    /// After every client, server and proxy of the scenario is dropped: no I/O thread and no
    /// descriptor is left over (waits up to 3 s for helper threads to exit).
    pub fn assert_none(&self) {
        let until = Instant::now() + Duration::from_secs(3);
        loop {
            let (fds, io) = (fd_count(), threads_named("wsbeat-io"));
            let clients = runtime_clients();
            if fds <= self.fds && io <= self.io_threads && clients <= self.runtime_clients {
                return;
            }
            if Instant::now() > until {
                let list: Vec<String> = std::fs::read_dir("/proc/self/fd")
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .filter_map(|e| std::fs::read_link(e.path()).ok())
                            .map(|p| p.display().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                panic!(
                    "leak: fds {} -> {fds}, wsbeat-io threads {} -> {io}, runtime clients {} -> \
                     {clients}; fds now: {list:?}",
                    self.fds, self.io_threads, self.runtime_clients
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}
