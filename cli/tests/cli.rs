//! The `wsbeat` command-line tool (`cli/src/main.rs`) driven as a subprocess, against
//! `wsbeat --serve` (another subprocess), the in-process `EchoServer` and its own embedded
//! server, with scaled-down intervals. Every wait is on an output line or on the process's
//! exit, bounded by a deadline; every child is killed and reaped by a guard, also on failure.

#[cfg(feature = "rustls")]
use wsbeat_testkit::tls_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use wsbeat_testkit::server::EchoServer;

/// Bound on any single wait (generous: the machine may be busy compiling).
const WITHIN: Duration = Duration::from_secs(20);

/// Heartbeat and backoff settings that keep every test short.
const FAST: &[&str] = &[
    "--interval",
    "100ms",
    "--timeout",
    "80ms",
    "--backoff-initial",
    "50ms",
    "--backoff-max",
    "200ms",
    "--jitter",
    "0",
    "--linger",
    "200ms",
];

/// The `wsbeat` binary of this package (cargo builds it, with this test's features, before
/// running the test).
fn wsbeat_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wsbeat"))
}

/// A running `wsbeat` process: stdout lines arrive on a channel, stderr is collected. Dropping
/// it kills and reaps the process.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout_done: bool,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_done: Receiver<()>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(wsbeat_bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning wsbeat");
        let stdout = child.stdout.take().expect("stdout pipe");
        let mut stderr_pipe = child.stderr.take().expect("stderr pipe");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (done_tx, stderr_done) = mpsc::channel();
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stderr_pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
            let _ = done_tx.send(());
        });
        Proc {
            stdin: child.stdin.take(),
            child,
            lines,
            stdout_done: false,
            seen: Vec::new(),
            stderr,
            stderr_done,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- stdout so far:\n{}\n--- stderr so far:\n{}",
            self.seen.join("\n"),
            self.stderr()
        );
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|_| stdin.flush()) {
            self.fail(&format!("writing to wsbeat's stdin failed: {e}"));
        }
    }

    /// EOF on the child's stdin.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line, or `None` at EOF; panics after `WITHIN`.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        if self.stdout_done {
            return None;
        }
        match self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.stdout_done = true;
                None
            }
            Err(RecvTimeoutError::Timeout) => self.fail("timed out waiting for output"),
        }
    }

    /// Skip stdout lines until one satisfies `pred`; returns it.
    fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WITHIN;
        loop {
            match self.next_line(deadline) {
                Some(line) if pred(&line) => return line,
                Some(_) => {}
                None => self.fail(&format!("stdout ended before {what}")),
            }
        }
    }

    /// Skip JSON events until one satisfies `pred`; returns it.
    fn expect_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let line = self.expect_line(what, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| pred(&v))
        });
        serde_json::from_str(&line).unwrap()
    }

    /// The next JSON event, whatever it is.
    fn next_event(&mut self) -> Value {
        let deadline = Instant::now() + WITHIN;
        match self.next_line(deadline) {
            Some(line) => match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(e) => self.fail(&format!("not JSON ({e}): {line}")),
            },
            None => self.fail("stdout ended while an event was expected"),
        }
    }

    /// Wait (bounded) for the process to exit: its output pipes close, then it is reaped.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WITHIN;
        while self.next_line(deadline).is_some() {}
        if self
            .stderr_done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_err()
        {
            self.fail("stderr did not close");
        }
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => self.fail("the process closed its output but did not exit"),
                Err(e) => self.fail(&format!("waiting for the process failed: {e}")),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn name(v: &Value) -> &str {
    v["event"].as_str().unwrap_or("")
}

fn is(event: &'static str) -> impl Fn(&Value) -> bool {
    move |v| name(v) == event
}

fn args<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(FAST).chain(tail).copied().collect()
}

/// `wsbeat --serve 127.0.0.1:0 ...` and the URL it printed.
fn serve(extra: &[&str]) -> (Proc, String) {
    let mut a = vec!["--serve", "127.0.0.1:0"];
    a.extend_from_slice(extra);
    let mut server = Proc::spawn(&a);
    let deadline = Instant::now() + WITHIN;
    let url = match server.next_line(deadline) {
        Some(url) if url.starts_with("ws://127.0.0.1:") => url,
        other => server.fail(&format!(
            "expected the URL as the first line, got {other:?}"
        )),
    };
    (server, url)
}

#[test]
fn echoes_stdin_lines_and_exits_0_on_eof() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = server.url();
    let mut p = Proc::spawn(&args(&["--json"], &[&url]));
    assert_eq!(name(&p.next_event()), "connecting");
    let opened = p.next_event();
    assert_eq!(name(&opened), "opened", "{opened}");
    assert_eq!(opened["reconnect"], false);
    for line in ["hello", "", "with \"quotes\" and ünïcode"] {
        p.send_line(line);
        let ev = p.expect_event("the echo", |v| name(v) == "text");
        assert_eq!(ev["data"], line, "{ev}");
    }
    p.expect_event("a heartbeat reply", is("pong"));
    p.close_stdin();
    let stopped = p.expect_event("stopped", is("stopped"));
    assert_eq!(stopped["reason"], "closed", "{stopped}");
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "stderr: {}", p.stderr());
}

#[test]
fn human_mode_prints_messages_raw_and_status_on_stderr() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = server.url();
    let mut p = Proc::spawn(&args(&[], &[&url]));
    p.send_line("plain line");
    let line = p.expect_line("the echo", |l| !l.is_empty());
    assert_eq!(line, "plain line");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
    let err = p.stderr();
    assert!(err.contains(&format!("connecting to {url}")), "{err}");
    assert!(err.contains(" open"), "{err}");
    assert!(err.contains("stopped (closed)"), "{err}");
    assert!(!err.contains('\x1b'), "colour on a pipe: {err:?}");
}

#[test]
fn lines_sent_before_open_go_out_before_the_eof_close() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = server.url();
    let mut p = Proc::spawn(&args(&["--json"], &[&url]));
    p.send_line("early");
    p.close_stdin(); // possibly before the connection is open
    let ev = p.expect_event("the echo", is("text"));
    assert_eq!(ev["data"], "early");
    assert_eq!(p.expect_event("stopped", is("stopped"))["reason"], "closed");
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
}

/// At EOF the close waits for the confirmation of what was sent, then `--linger` after the
/// last message received; `--linger 0` closes right after the confirmation.
#[test]
fn the_eof_close_lingers_after_the_last_reply() {
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = server.url();
    for (linger, at_least, below) in [("700ms", 650, 20_000), ("0", 0, 500)] {
        let mut p = Proc::spawn(&["--json", "--linger", linger, &url]);
        p.send_line("reply to me");
        p.close_stdin();
        let echo = p.expect_event("the echo", is("text"));
        let closed = p.expect_event("the close", is("closed"));
        assert_eq!(closed["initiator"], "local", "{closed}");
        let waited = closed["ts"].as_u64().unwrap() - echo["ts"].as_u64().unwrap();
        assert!(
            (at_least..below).contains(&waited),
            "--linger {linger}: closed {waited} ms after the echo"
        );
        assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
    }
}

#[test]
fn seed_json_wraps_lines_against_serve() {
    let (_server, url) = serve(&[]);
    let mut p = Proc::spawn(&args(
        &["--json", "--seed-json", "--heartbeat", "seed-json"],
        &[&url],
    ));
    p.expect_event("opened", is("opened"));
    p.send_line(r#"hi "there""#);
    let ev = p.expect_event("the echo", is("text"));
    let echoed: Value = serde_json::from_str(ev["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        echoed,
        serde_json::json!({"ModeCode": "message", "msg": "hi \"there\""})
    );
    // The seed heartbeat is answered by the server and reported as a pong, not as text.
    let pong = p.expect_event("a seed-json heartbeat reply", |v| {
        matches!(name(v), "pong" | "text")
    });
    assert_eq!(name(&pong), "pong", "{pong}");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
}

#[test]
fn events_in_order_across_a_server_restart() {
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = server.url();
    let mut p = Proc::spawn(&args(&["--json"], &[&url]));
    let first = p.expect_event("the first open", is("opened"));
    assert_eq!(first["reconnect"], false);
    server.restart().unwrap(); // stop (connections cut) and listen again on the same port
    let mut kinds = Vec::new();
    let reopened = loop {
        let ev = p.next_event();
        match name(&ev) {
            "opened" => break ev,
            "pong" | "error" => {}
            "stopped" => p.fail("stopped instead of reconnecting"),
            other => {
                if other == "closed" {
                    assert_eq!(ev["code"], 1006, "{ev}");
                    assert_eq!(ev["initiator"], "abnormal", "{ev}");
                    assert_eq!(ev["will_reconnect"], true, "{ev}");
                }
                kinds.push(other.to_owned());
            }
        }
        assert!(kinds.len() < 50, "no reopen after {kinds:?}");
    };
    assert_eq!(reopened["reconnect"], true, "{reopened}");
    assert!(
        kinds.starts_with(&["closed".into(), "reconnecting".into(), "connecting".into()]),
        "{kinds:?}"
    );
    assert!(
        kinds[3..]
            .iter()
            .all(|k| k == "reconnecting" || k == "connecting"),
        "{kinds:?}"
    );
    p.send_line("after restart");
    assert_eq!(
        p.expect_event("the echo", is("text"))["data"],
        "after restart"
    );
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
}

#[test]
fn serve_close_after_makes_the_client_reconnect() {
    let (_server, url) = serve(&["--close-after", "300ms", "--close-code", "4000"]);
    let mut p = Proc::spawn(&args(&["--json"], &[&url]));
    p.expect_event("opened", is("opened"));
    let closed = p.expect_event("closed", is("closed"));
    assert_eq!(closed["code"], 4000, "{closed}");
    assert_eq!(closed["initiator"], "remote", "{closed}");
    assert_eq!(closed["reason"], "wsbeat --close-after", "{closed}");
    assert_eq!(closed["will_reconnect"], true, "{closed}");
    assert_eq!(name(&p.next_event()), "reconnecting");
    let again = p.expect_event("the reopen", is("opened"));
    assert_eq!(again["reconnect"], true, "{again}");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
}

#[test]
fn in_process_close_schedule_survives_a_restart() {
    let mut server = EchoServer::start("127.0.0.1:0").unwrap();
    server.set_close_after(Some(Duration::from_millis(200)), 4001, "scheduled");
    server.restart().unwrap();
    let url = server.url();
    let mut p = Proc::spawn(&args(&["--json"], &[&url]));
    p.expect_event("opened", is("opened"));
    let closed = p.expect_event("closed", is("closed"));
    assert_eq!(closed["code"], 4001, "{closed}");
    assert_eq!(closed["reason"], "scheduled", "{closed}");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
}

#[test]
fn serve_reply_delay_shows_in_the_heartbeat_rtt() {
    let (_server, url) = serve(&["--reply-delay", "150ms"]);
    let mut p = Proc::spawn(&["--json", "--interval", "300ms", "--timeout", "250ms", &url]);
    let pong = p.expect_event("a pong", is("pong"));
    let rtt = pong["rtt_ms"].as_f64().unwrap();
    assert!(rtt >= 150.0, "{pong}");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
}

#[test]
fn embedded_server_silent_after_causes_heartbeat_timeouts() {
    let mut p = Proc::spawn(&args(&["--json", "--silent-after", "300ms"], &[]));
    let listening = p.next_event();
    assert_eq!(name(&listening), "listening", "{listening}");
    p.expect_event("opened", is("opened"));
    p.expect_event("a pong before the silence", is("pong"));
    p.expect_event("the heartbeat timeout", is("heartbeat_timeout"));
    let closed = p.next_event();
    assert_eq!(name(&closed), "closed", "{closed}");
    assert_eq!(closed["code"], 1006, "{closed}");
    assert_eq!(closed["initiator"], "abnormal", "{closed}");
    assert_eq!(name(&p.next_event()), "reconnecting");
    let again = p.expect_event("the reopen", is("opened"));
    assert_eq!(again["reconnect"], true, "{again}");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
}

#[test]
fn max_attempts_against_a_closed_port_exits_1_with_the_reason() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: connections are refused
    let url = format!("ws://127.0.0.1:{port}");
    let mut p = Proc::spawn(&args(&["--json", "--max-attempts", "2"], &[&url]));
    let stopped = p.expect_event("stopped", is("stopped"));
    assert_eq!(stopped["reason"], "max_attempts", "{stopped}");
    assert_eq!(stopped["attempts"], 2, "{stopped}");
    assert_eq!(p.wait_exit().code(), Some(1));
    let err = p.stderr();
    assert!(err.contains("gave up after 2"), "{err}");
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn proxy_options() {
    // A bad proxy URL: exit 2, the reason shown without the password.
    let mut p = Proc::spawn(&["--proxy", "ftp://u:hunter2@proxy:21", "ws://a"]);
    assert_eq!(p.wait_exit().code(), Some(2));
    let err = p.stderr();
    assert!(
        err.contains("--proxy") && err.contains("unsupported scheme"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    // An unreachable proxy: Error(proxy) naming it, no password anywhere.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy = format!("http://u:hunter2@127.0.0.1:{port}");
    let mut p = Proc::spawn(&[
        "--json",
        "--max-attempts",
        "1",
        "--proxy",
        &proxy,
        "ws://t.example/",
    ]);
    let error = p.expect_event("error", is("error"));
    assert_eq!(error["kind"], "proxy", "{error}");
    assert_eq!(p.wait_exit().code(), Some(1));
    let all = format!("{}\n{}", p.seen.join("\n"), p.stderr());
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    // --no-proxy connects directly (and overrides an earlier --proxy).
    let (_server, url) = serve(&[]);
    // An https:// proxy gets TLS first: the plain server addressed as one is Error(tls)
    // naming it.
    let hostport = url.trim_start_matches("ws://").split('/').next().unwrap();
    let https = format!("https://{hostport}");
    let mut p = Proc::spawn(&["--json", "--max-attempts", "1", "--proxy", &https, &url]);
    let error = p.expect_event("error", is("error"));
    assert_eq!(error["kind"], "tls", "{error}");
    let shown = format!("TLS to the proxy https://{hostport}/");
    assert!(error.to_string().contains(&shown), "{error}");
    assert_eq!(p.wait_exit().code(), Some(1));
    let mut p = Proc::spawn(&["--json", "--proxy", &proxy, "--no-proxy", &url]);
    p.expect_event("opened", is("opened"));
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "{}", p.stderr());
}

#[test]
fn close_codes_decide_the_exit_status() {
    // A normal close by the server under --no-reconnect: exit 0.
    let (_s1, url) = serve(&["--close-after", "200ms", "--close-code", "1000"]);
    let mut p = Proc::spawn(&["--json", "--no-reconnect", "--no-stdin", &url]);
    let stopped = p.expect_event("stopped", is("stopped"));
    assert_eq!(stopped["reason"], "reconnect_disabled", "{stopped}");
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());

    // 1008 (policy violation) is not retried by default: exit 1 with the reason.
    let (_s2, url) = serve(&["--close-after", "200ms", "--close-code", "1008"]);
    let mut p = Proc::spawn(&args(&["--json", "--no-stdin"], &[&url]));
    let closed = p.expect_event("closed", is("closed"));
    assert_eq!(closed["will_reconnect"], false, "{closed}");
    let stopped = p.next_event();
    assert_eq!(stopped["reason"], "policy_declined", "{stopped}");
    assert_eq!(p.wait_exit().code(), Some(1));
    assert!(p.stderr().contains("1008"), "{}", p.stderr());
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    for (bad, message) in [
        (&["--bogus"][..], "unknown option `--bogus`"),
        (&["--interval"], "--interval needs a value"),
        (&["--interval", "soon"], "invalid duration `soon`"),
        (&["--heartbeat", "loud"], "unknown mode `loud`"),
        (&["--max-attempts", "0"], "--max-attempts"),
        (&["--header", "no-colon"], "--header"),
        (&["--compression", "gzip"], "--compression"),
        (
            &["--close-code", "1006", "--close-after", "1s"],
            "--close-code",
        ),
        (&["ws://a", "ws://b"], "unexpected argument `ws://b`"),
        (
            &["--serve", "--close-code", "4000"],
            "--close-code needs --close-after",
        ),
    ] {
        let mut p = Proc::spawn(bad);
        assert_eq!(p.wait_exit().code(), Some(2), "{bad:?}: {}", p.stderr());
        let err = p.stderr();
        assert!(err.contains(message), "{bad:?}: {err}");
        assert!(err.contains("Usage: wsbeat"), "{bad:?}: {err}");
    }
    // Values the client rejects as a whole: exit 2 with the reason.
    for (bad, message) in [
        (
            &["--interval", "1s", "--timeout", "2s", "ws://a"][..],
            "shorter than the interval",
        ),
        (&["ftp://a"], "unsupported scheme"),
        (&["--backoff-factor", "0.5", "ws://a"], "factor"),
    ] {
        let mut p = Proc::spawn(bad);
        assert_eq!(p.wait_exit().code(), Some(2), "{bad:?}: {}", p.stderr());
        let err = p.stderr();
        assert!(err.contains(message), "{bad:?}: {err}");
        assert!(err.contains("--help"), "{bad:?}: {err}");
    }
    let mut p = Proc::spawn(&["--help"]);
    let first = p.expect_line("the usage", |_| true);
    assert!(first.starts_with("Usage: wsbeat"), "{first}");
    assert_eq!(p.wait_exit().code(), Some(0));
}

/// The TLS options end to end: a private CA (`--ca-file`), mutual TLS (`--client-cert`,
/// `--client-key`), a rejected certificate (not retried: exit 1) and `--insecure`.
#[cfg(feature = "rustls")]
#[test]
fn tls_options_against_a_wss_server() {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    use tls_server::{TlsEchoServer, server_config};

    fn ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = p.self_signed(&key).unwrap().pem();
        (Issuer::new(p, key), pem)
    }
    fn leaf(issuer: &Issuer<'static, KeyPair>, client: bool) -> (String, String) {
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        (
            p.signed_by(&key, issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }

    let (server_ca, server_ca_pem) = ca("wsbeat cli test server CA");
    let (client_ca, client_ca_pem) = ca("wsbeat cli test client CA");
    let (chain, key) = leaf(&server_ca, false);
    let (client_chain, client_key) = leaf(&client_ca, true);
    let server = TlsEchoServer::start(server_config(&chain, &key, Some(&client_ca_pem)));
    let url = server.url("localhost");

    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let ca_file = write("ca.pem", &server_ca_pem);
    let cert_file = write("client.pem", &client_chain);
    let key_file = write("client.key", &client_key);
    let mtls = [
        "--client-cert",
        cert_file.as_str(),
        "--client-key",
        key_file.as_str(),
    ];

    // Trusted through --ca-file, client certificate presented: echo, then exit 0 on EOF.
    let mut a = vec!["--json", "--ca-file", ca_file.as_str()];
    a.extend(mtls);
    let mut p = Proc::spawn(&args(&a, &[&url]));
    p.expect_event("opened", is("opened"));
    p.send_line("over tls");
    assert_eq!(p.expect_event("the echo", is("text"))["data"], "over tls");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());

    // Without the CA: the certificate is rejected, which is not retried: exit 1 with the reason.
    let mut a = vec!["--json"];
    a.extend(mtls);
    let mut p = Proc::spawn(&args(&a, &[&url]));
    let err = p.expect_event("the certificate error", is("error"));
    assert_eq!(err["kind"], "certificate", "{err}");
    assert_eq!(p.next_event()["reason"], "policy_declined");
    assert_eq!(p.wait_exit().code(), Some(1));
    assert!(p.stderr().contains("certificate"), "{}", p.stderr());

    // --insecure: connects without the CA, with a warning.
    let mut a = vec!["--json", "--insecure"];
    a.extend(mtls);
    let mut p = Proc::spawn(&args(&a, &[&url]));
    p.expect_event("opened", is("opened"));
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
    assert!(p.stderr().contains("NOT verified"), "{}", p.stderr());

    // An unreadable CA file is an argument error.
    let missing = dir.join("missing.pem");
    let mut p = Proc::spawn(&["--ca-file", missing.to_str().unwrap(), &url]);
    assert_eq!(p.wait_exit().code(), Some(2));
    assert!(p.stderr().contains("missing.pem"), "{}", p.stderr());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A URL with a password is never shown with it: not in the human status lines, not in
/// `--json`, not in the library's log at any level (`-vvv`), nor the Basic credentials
/// built from it (the raw handshake request is logged by tungstenite at trace level).
#[test]
fn the_url_password_never_appears_in_any_output() {
    const PASSWORD: &str = "hunter2";
    // base64("user:hunter2"), as sent in the Authorization header.
    const BASIC: &str = "dXNlcjpodW50ZXIy";
    let server = EchoServer::start("127.0.0.1:0").unwrap();
    let url = server.url().replacen("ws://", "ws://user:hunter2@", 1);
    let shown = server.url();
    for mode in [&[][..], &["--json"], &["-vvv"], &["--json", "-vvv"]] {
        let mut p = Proc::spawn(&args(mode, &[&url]));
        p.send_line("secret-free line");
        p.expect_line("the echo", |l| l.contains("secret-free line"));
        p.close_stdin();
        assert_eq!(p.wait_exit().code(), Some(0), "{mode:?}: {}", p.stderr());
        let all = format!("{}\n{}", p.seen.join("\n"), p.stderr());
        assert!(
            !all.contains(PASSWORD),
            "{mode:?} shows the password:\n{all}"
        );
        assert!(
            !all.contains(BASIC),
            "{mode:?} shows the credentials:\n{all}"
        );
        if mode.is_empty() {
            assert!(all.contains(&format!("connecting to {shown}")), "{all}");
        }
        if mode.contains(&"-vvv") {
            assert!(
                all.contains("TRACE"),
                "{mode:?}: no trace log at all:\n{all}"
            );
        }
    }
    // A configuration error names no password either.
    let bad = "ws://user:hunter2@127.0.0.1:1/x";
    let mut p = Proc::spawn(&["--interval", "1s", "--timeout", "2s", bad]);
    assert_eq!(p.wait_exit().code(), Some(2));
    assert!(!p.stderr().contains(PASSWORD), "{}", p.stderr());
}

/// A port where nothing listens (bound, then released).
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("ws://{}", l.local_addr().unwrap())
}

#[test]
fn endpoint_options() {
    // --endpoint needs the first URL; a bad endpoint exits 2 naming it.
    let mut p = Proc::spawn(&["--endpoint", "ws://b.example"]);
    assert_eq!(p.wait_exit().code(), Some(2));
    assert!(
        p.stderr().contains("--endpoint needs a URL"),
        "{}",
        p.stderr()
    );
    let mut p = Proc::spawn(&["ws://a.example", "--endpoint", "http://b.example"]);
    assert_eq!(p.wait_exit().code(), Some(2));
    assert!(p.stderr().contains("endpoint 1"), "{}", p.stderr());

    // The first endpoint down: the client opens on the second, the events name it.
    let (_live, live_url) = serve(&[]);
    let dead = dead_url();
    let mut p = Proc::spawn(&args(&["--json"], &[&dead, "--endpoint", &live_url]));
    let c = p.expect_event("connecting", is("connecting"));
    assert_eq!(
        (c["attempt"].as_u64(), c["endpoint"].as_u64()),
        (Some(0), Some(0)),
        "{c}"
    );
    p.expect_event("error", is("error"));
    let c = p.expect_event("connecting", is("connecting"));
    assert_eq!(c["endpoint"], 1, "{c}");
    let o = p.expect_event("opened", is("opened"));
    assert_eq!(o["endpoint"], 1, "{o}");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "{}", p.stderr());
    // The same in the human format: the status lines say where.
    let mut p = Proc::spawn(&args(&[], &[&dead, "--endpoint", &live_url]));
    p.send_line("hi");
    p.expect_line("echo", |l| l == "hi");
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "{}", p.stderr());
    let err = p.stderr();
    assert!(err.contains(&format!("connecting to {dead}")), "{err}");
    assert!(err.contains(&format!("connecting to {live_url}")), "{err}");
    assert!(err.contains(&format!("open on {live_url}")), "{err}");

    // Both up, the first dies mid-connection: the client reconnects to the second.
    let (first, first_url) = serve(&[]);
    let mut p = Proc::spawn(&args(&["--json"], &[&first_url, "--endpoint", &live_url]));
    let o = p.expect_event("opened", is("opened"));
    assert_eq!(o["endpoint"], 0, "{o}");
    drop(first); // killed
    p.expect_event("closed", is("closed"));
    let o = p.expect_event("opened", is("opened"));
    assert_eq!(
        (o["endpoint"].as_u64(), o["reconnect"].as_bool()),
        (Some(1), Some(true)),
        "{o}"
    );
    p.send_line("two");
    p.expect_event("echo on the second", |v| {
        name(v) == "text" && v["data"] == "two"
    });
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "{}", p.stderr());

    // The backoff is the client's across endpoints: 20, 40, 80 ms over 0, 1, 2, 0.
    let dead = [dead_url(), dead_url(), dead_url()];
    let mut p = Proc::spawn(&[
        "--json",
        "--heartbeat",
        "off",
        "--backoff-initial",
        "20ms",
        "--backoff-max",
        "10s",
        "--jitter",
        "0",
        "--max-attempts",
        "3",
        &dead[0],
        "--endpoint",
        &dead[1],
        "--endpoint",
        &dead[2],
    ]);
    let stopped = p.expect_event("stopped", is("stopped"));
    assert_eq!(stopped["reason"], "max_attempts", "{stopped}");
    let events: Vec<Value> = p
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |kind: &str, field: &str| -> Vec<u64> {
        events
            .iter()
            .filter(|v| name(v) == kind)
            .filter_map(|v| v[field].as_u64())
            .collect()
    };
    assert_eq!(of("reconnecting", "delay_ms"), [20, 40, 80]);
    assert_eq!(of("connecting", "endpoint"), [0, 1, 2, 0]);
    assert_eq!(p.wait_exit().code(), Some(1));
}

/// `--compression deflate`: the JSON `opened` line says whether permessage-deflate was
/// negotiated (true against the testkit's compressing echo server, false against a plain one
/// and with `off`), the human open line names it, and lines echo through the compressor.
#[test]
fn compression_is_reported_on_open() {
    use wsbeat_testkit::deflate_server::DeflateEchoServer;
    let deflate = DeflateEchoServer::start();
    let plain = EchoServer::start("127.0.0.1:0").unwrap();
    let line = r#"{"ModeCode":"message","msg":"hello world, hello world, hello world"}"#;
    for (url, mode, expect) in [
        (deflate.url(), "deflate", true),
        (plain.url(), "deflate", false),
        (deflate.url(), "off", false),
    ] {
        let mut p = Proc::spawn(&args(&["--json", "--compression", mode], &[&url]));
        let opened = p.expect_event("opened", is("opened"));
        assert_eq!(opened["compression"], expect, "{url} {mode}: {opened}");
        p.send_line(line);
        let ev = p.expect_event("the echo", is("text"));
        assert_eq!(ev["data"], line, "{ev}");
        p.close_stdin();
        assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
    }
    assert_eq!(deflate.compressed_in(), 1, "the line went compressed");
    assert!(deflate.offers()[1].is_empty(), "off: nothing offered");

    let mut p = Proc::spawn(&args(&["--compression", "deflate"], &[&deflate.url()]));
    p.send_line(line);
    assert_eq!(p.expect_line("the echo", |l| !l.is_empty()), line);
    p.close_stdin();
    assert_eq!(p.wait_exit().code(), Some(0), "stderr: {}", p.stderr());
    let err = p.stderr();
    assert!(err.contains(" open, permessage-deflate"), "{err}");
}
