//! `echo hi | wsbeat URL` prints the echo, every time, against three servers written by
//! different people: the embedded one (`wsbeat --serve`), Node's `ws` and Python's
//! `websockets` (which stops delivering once it has seen our close: before `--linger` and
//! `Handle::wait_confirmed` the echo was lost in 11 of 120 runs). 200 runs against each, in
//! parallel batches to stay well under a minute.
//!
//! The Node and Python peers are installed by `scripts/tests.d/60-interop.sh` (npm into
//! `tests/interop/node_modules`, pip into `.venv-interop/`), which runs this file with
//! `WSBEAT_INTEROP_REQUIRED=1`: there a missing peer fails the test. Elsewhere (a plain
//! `cargo test`, and `20-rust.sh`, which runs before the peers are installed, also in CI) a
//! missing peer is reported as SKIPPED, the convention of `tests/interop.rs`; so CI runs these
//! tests for real in its interop step. The embedded server needs nothing and always runs.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const RUNS: usize = 200;
/// Concurrent `wsbeat` processes per batch (each lingers 1 s after the echo).
const BATCH: usize = 25;
/// Bound on one batch (generous: a loaded 2-core machine).
const BATCH_WITHIN: Duration = Duration::from_secs(30);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn required() -> bool {
    std::env::var_os("WSBEAT_INTEROP_REQUIRED").is_some()
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(prog))
            .find(|p| p.is_file())
    })
}

/// A server process; killed and reaped on drop.
struct Peer {
    child: Child,
    url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `prog args`, whose first stdout line gives the port (`LISTENING <port>`) or the URL.
fn start(prog: PathBuf, args: &[String]) -> Peer {
    let mut child = Command::new(&prog)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", prog.display()));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let line = line.trim();
    let url = match line.strip_prefix("LISTENING ") {
        Some(port) => format!("ws://127.0.0.1:{port}"),
        None => line.to_owned(),
    };
    let mut peer = Peer { child, url };
    if !peer.url.starts_with("ws://127.0.0.1:") {
        let _ = peer.child.kill();
        panic!("{} did not say where it listens: {line:?}", prog.display());
    }
    peer
}

/// The peer, or why it cannot run (SKIPPED, or a failure when required).
fn peer(name: &str) -> Option<Peer> {
    let dir = root().join("tests/interop");
    let found: Result<(PathBuf, Vec<String>), String> = match name {
        "embedded" => Ok((
            PathBuf::from(env!("CARGO_BIN_EXE_wsbeat")),
            vec!["--serve".into(), "127.0.0.1:0".into()],
        )),
        "node-ws" => match (
            dir.join("node_modules/ws/package.json").exists(),
            which("node"),
        ) {
            (true, Some(node)) => Ok((
                node,
                vec![
                    dir.join("ws_server.js").display().to_string(),
                    "0".into(),
                    "echo".into(),
                ],
            )),
            (false, _) => Err("Node `ws` not installed (run scripts/tests.d/60-interop.sh)".into()),
            (_, None) => Err("node not found on PATH".into()),
        },
        "python-websockets" => {
            let py = root().join(".venv-interop/bin/python");
            if py.exists() {
                Ok((
                    py,
                    vec![dir.join("py_server.py").display().to_string(), "0".into()],
                ))
            } else {
                Err("the .venv-interop venv with `websockets` is missing \
                     (run scripts/tests.d/60-interop.sh)"
                    .into())
            }
        }
        other => unreachable!("{other}"),
    };
    match found {
        Ok((prog, args)) => Some(start(prog, &args)),
        Err(why) if required() => panic!("peer {name} unavailable: {why}"),
        Err(why) => {
            println!("SKIPPED {name}: {why}");
            eprintln!("SKIPPED {name}: {why}");
            None
        }
    }
}

/// One `echo hi | wsbeat URL`: its output once it exits.
fn echo_hi(url: &str) -> (u32, mpsc::Receiver<std::io::Result<Output>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsbeat"))
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wsbeat");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"hi\n").expect("writing stdin");
    drop(stdin); // EOF
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    (pid, rx)
}

/// `RUNS` runs against `url`, `BATCH` at a time; the failures, described.
fn runs_against(url: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for batch in 0..RUNS.div_ceil(BATCH) {
        let deadline = Instant::now() + BATCH_WITHIN;
        let running: Vec<_> = (0..BATCH.min(RUNS - batch * BATCH))
            .map(|_| echo_hi(url))
            .collect();
        for (n, (pid, rx)) in running.into_iter().enumerate() {
            let run = batch * BATCH + n;
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Ok(out)) => {
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    if stdout != "hi\n" || out.status.code() != Some(0) {
                        failures.push(format!(
                            "run {run}: status {:?}, stdout {stdout:?}, stderr:\n{}",
                            out.status.code(),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
                Ok(Err(e)) => failures.push(format!("run {run}: waiting failed: {e}")),
                Err(_) => {
                    // Killed by PID (its waiting thread reaps it).
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    failures.push(format!("run {run}: still running after {BATCH_WITHIN:?}"));
                }
            }
        }
    }
    failures
}

fn every_echo_printed(name: &str) {
    let Some(peer) = peer(name) else { return };
    let started = Instant::now();
    let failures = runs_against(&peer.url);
    assert!(
        failures.is_empty(),
        "{name}: {} of {RUNS} runs lost the echo or failed:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
    println!(
        "{name}: {RUNS} of {RUNS} echoes printed in {:?}",
        started.elapsed()
    );
}

#[test]
fn echo_hi_prints_the_echo_against_the_embedded_server() {
    every_echo_printed("embedded");
}

#[test]
fn echo_hi_prints_the_echo_against_node_ws() {
    every_echo_printed("node-ws");
}

#[test]
fn echo_hi_prints_the_echo_against_python_websockets() {
    every_echo_printed("python-websockets");
}
