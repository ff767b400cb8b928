//! A server in a separate process, to be killed with SIGKILL: the current executable re-runs
//! itself with `WSBEAT_HELPER_SERVER=<addr>` set, starts a [`RecordingServer`] there, prints
//! `LISTENING <addr>` and then `RECV <text>` for every text message it receives.
//!
//! In a test binary the re-run executes only the `helper_process_entry` test (each test binary
//! that uses this defines it and calls [`helper_main_if_requested`]); a binary with its own
//! `main` (the examples) calls [`helper_main_if_requested`] first and sets
//! [`set_helper_args`] to nothing.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::recorder::RecordingServer;

const ENV: &str = "WSBEAT_HELPER_SERVER";

static HELPER_ARGS: OnceLock<Vec<String>> = OnceLock::new();

/// Arguments that make the current executable run only the helper (default: the test
/// harness's `helper_process_entry --exact --nocapture`).
pub fn set_helper_args(args: Vec<String>) {
    let _ = HELPER_ARGS.set(args);
}

fn helper_args() -> Vec<String> {
    HELPER_ARGS
        .get_or_init(|| {
            [
                "helper_process_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ]
            .map(String::from)
            .to_vec()
        })
        .clone()
}

const KERNEL_ENV: &str = "WSBEAT_HELPER_KERNEL";

/// In the child: serve until killed (or until stdin closes: the parent died), then exit. Or,
/// with `WSBEAT_HELPER_KERNEL` set, run the kernel-level scenario (inside `unshare -n`).
pub fn helper_main_if_requested() {
    // The kernel-level scenario lives in `scenarios` (feature `tls`); without it the variable
    // is ignored.
    #[cfg(feature = "tls")]
    if std::env::var_os(KERNEL_ENV).is_some() {
        crate::scenarios::kernel_inner();
        std::process::exit(0);
    }
    let Ok(addr) = std::env::var(ENV) else {
        return;
    };
    let server = RecordingServer::start(&addr).expect("helper server: bind");
    server.print_received();
    println!("\nLISTENING {}", server.addr());
    // The parent holds our stdin: EOF means it is gone; never outlive it by much.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::process::exit(0);
}

/// A server process.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProcess").finish_non_exhaustive()
    }
}

impl ServerProcess {
    /// Start a server process listening on `addr` (port 0: ephemeral). Waits until it listens.
    pub fn spawn(addr: &str) -> ServerProcess {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(helper_args())
            .env(ENV, addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn helper server process");
        let stdout = child.stdout.take().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let r = received.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The test harness may have printed "test ... " on the same line.
                if let Some(i) = line.find("LISTENING ") {
                    let _ = tx.send(line[i + 10..].trim().parse::<SocketAddr>().unwrap());
                } else if let Some(t) = line.strip_prefix("RECV ") {
                    r.lock().unwrap().push(t.to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("helper server process did not start");
            }
        };
        ServerProcess {
            child,
            addr,
            received,
        }
    }

    /// `ws://` URL.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL the process and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Text messages the process reported receiving (this process only).
    pub fn received(&self) -> Vec<String> {
        // The reader thread may lag the process by a moment.
        let until = Instant::now() + Duration::from_millis(200);
        let mut last = self.received.lock().unwrap().len();
        while Instant::now() < until {
            thread::sleep(Duration::from_millis(20));
            let now = self.received.lock().unwrap().len();
            if now == last {
                break;
            }
            last = now;
        }
        self.received.lock().unwrap().clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run this executable's kernel-level scenario under `prefix` (e.g. `unshare -n`), bounded by
/// `within`. Returns its stdout, or why it failed (exit status and stderr).
pub fn run_kernel_helper(prefix: &[&str], within: Duration) -> Result<String, String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(prefix[0])
        .args(&prefix[1..])
        .arg(exe)
        .args(helper_args())
        .env(KERNEL_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", prefix[0]))?;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let e = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let until = Instant::now() + within;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {within:?}"));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (o.join().unwrap_or_default(), e.join().unwrap_or_default());
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!("{status}: {stdout}\n{stderr}"))
    }
}
