//! The client side: the library client built from the options, stdin pumped into it, events
//! printed until it stops, and the exit status that follows.

use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never, select};
use serde_json::{Value, json};
use wsbeat::{Client, Event, Handle, Heartbeat, Reconnect, StopReason, TlsOptions};

use crate::args::{ClientOpts, HbMode};
use crate::config_error;
use crate::output::{DIM, Printer, json_line, shown_url, unix_ms};
use crate::serve::{describe_server, start_server};

fn build_client(o: &ClientOpts, url: &str) -> Result<wsbeat::ClientBuilder, String> {
    let interval = o.interval.unwrap_or(Duration::from_secs(20));
    let timeout = o.timeout.unwrap_or(interval / 2);
    let heartbeat = match o.hb_mode {
        HbMode::Ping => Heartbeat::ping(interval, timeout),
        HbMode::SeedJson => Heartbeat::seed_json(interval, timeout),
        HbMode::Off => Heartbeat::off(),
    };
    let reconnect = if o.no_reconnect {
        Reconnect::disabled()
    } else {
        let mut r = Reconnect::exponential();
        if let Some(d) = o.backoff_initial {
            r = r.initial(d);
            if o.backoff_max.is_none() && d > Duration::from_secs(30) {
                r = r.max(d);
            }
        }
        if let Some(d) = o.backoff_max {
            r = r.max(d);
            if o.backoff_initial.is_none() && d < Duration::from_millis(500) {
                r = r.initial(d);
            }
        }
        if let Some(f) = o.backoff_factor {
            r = r.factor(f);
        }
        if let Some(j) = o.jitter {
            r = r.jitter(j);
        }
        r.max_attempts(o.max_attempts)
    };
    // The CLI prints every event, heartbeat answers included.
    let mut b = Client::builder(url)
        .pong_events(true)
        .heartbeat(heartbeat)
        .reconnect(reconnect);
    for (k, v) in &o.headers {
        b = b.header(k, v);
    }
    for p in &o.subprotocols {
        b = b.subprotocol(p);
    }
    if o.compression {
        b = b.compression(wsbeat::Compression::deflate());
    }
    for e in &o.endpoints {
        b = b.endpoint(e);
    }
    if let Some(d) = o.connect_timeout {
        b = b.connect_timeout(d);
    }
    if let Some(proxy) = &o.proxy {
        b = b.proxy(proxy.clone());
    }
    let tls_wanted = !o.ca_files.is_empty() || o.client_cert.is_some() || o.insecure;
    if tls_wanted {
        if !url.starts_with("wss:") && !o.endpoints.iter().any(|e| e.starts_with("wss:")) {
            eprintln!("wsbeat: warning: TLS options have no effect on a ws:// URL");
        }
        let mut tls = TlsOptions::default();
        for f in &o.ca_files {
            tls = tls.add_ca_file(f).map_err(|e| e.to_string())?;
        }
        if let (Some(cert), Some(key)) = (&o.client_cert, &o.client_key) {
            let cert = std::fs::read(cert).map_err(|e| format!("cannot read {cert}: {e}"))?;
            let key = std::fs::read(key).map_err(|e| format!("cannot read {key}: {e}"))?;
            tls = tls.client_cert_pem(cert, key);
        }
        if o.insecure {
            eprintln!(
                "wsbeat: WARNING: --insecure: server certificates are NOT verified; \
                 anyone on the path can read and change this connection"
            );
            tls = tls.dangerous_disable_verification(true);
        }
        b = b.tls(tls);
    }
    Ok(b)
}

/// Reads stdin lines and queues them; reports EOF (or a read error) on `done`.
fn pump_stdin(handle: Handle, seed_json: bool, done: crossbeam_channel::Sender<()>) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("wsbeat: reading stdin failed: {e}");
                break;
            }
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                eprintln!("wsbeat: warning: stdin line is not UTF-8; invalid bytes replaced");
                String::from_utf8_lossy(&buf).into_owned()
            }
        };
        let text = if seed_json {
            format!(
                "{{\"ModeCode\":\"message\",\"msg\":{}}}",
                Value::from(line.as_str())
            )
        } else {
            line
        };
        // A full outbox pushes back on stdin: wait (woken as it drains) or until the client
        // stops.
        match handle.send_text_wait(text.as_str(), Duration::MAX) {
            Ok(()) => {}
            Err(wsbeat::Error::Closed) => return,
            Err(e) => eprintln!("wsbeat: line not sent: {e}"),
        }
    }
    let _ = done.send(());
}

pub(crate) fn run_client(o: ClientOpts) -> ExitCode {
    // Without URL: the embedded echo server.
    let (server, url) = match &o.url {
        Some(u) => (None, u.clone()),
        None => match start_server("127.0.0.1:0", &o.server) {
            Ok(s) => {
                let url = s.url();
                (Some(s), url)
            }
            Err(e) => {
                eprintln!("wsbeat: cannot start the embedded echo server: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let builder = match build_client(&o, &url) {
        Ok(b) => b,
        Err(e) => return config_error(e),
    };
    let client = match builder.connect() {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    let urls: Vec<&str> = std::iter::once(url.as_str())
        .chain(o.endpoints.iter().map(String::as_str))
        .collect();
    let mut printer = Printer::new(o.json, io::stderr().is_terminal(), &urls);
    if let Some(s) = &server {
        if o.json {
            let v = json!({ "event": "listening", "url": shown_url(&s.url()), "ts": unix_ms() });
            printer.out(json_line(&v).as_bytes());
        } else {
            let mut text = format!("embedded echo server on {}", shown_url(&s.url()));
            if o.server.any() {
                let _ = write!(text, " ({})", describe_server(&o.server));
            }
            printer.status(DIM, &text);
        }
    }
    // `select!` needs a crossbeam channel: a thread forwards the client's events into one
    // (a rendezvous: the client's own bounded channel still does the back-pressure).
    let (events_tx, events) = crossbeam_channel::bounded(0);
    let client_events = client.events().expect("channel mode");
    if let Err(e) = thread::Builder::new().name("events".into()).spawn(move || {
        for ev in client_events {
            if events_tx.send(ev).is_err() {
                break;
            }
        }
    }) {
        eprintln!("wsbeat: cannot start the events thread: {e}");
        return ExitCode::from(1);
    }
    let (eof_tx, eof_rx) = crossbeam_channel::bounded::<()>(1);
    let mut eof_rx: Receiver<()> = if o.read_stdin {
        let handle = client.handle();
        let seed = o.seed_json;
        if let Err(e) = thread::Builder::new()
            .name("stdin".into())
            .spawn(move || pump_stdin(handle, seed, eof_tx))
        {
            eprintln!("wsbeat: cannot start the stdin thread: {e}");
            return ExitCode::from(1);
        }
        eof_rx
    } else {
        never()
    };

    let mut closing = false;
    let mut last_close_code: Option<u16> = None;
    let mut last_error: Option<String> = None;
    let close = |closing: &mut bool| {
        if !*closing {
            *closing = true;
            let h = client.handle();
            // close() blocks until the I/O thread has stopped; events keep flowing meanwhile.
            let _ = thread::Builder::new()
                .name("close".into())
                .spawn(move || h.close(1000, ""));
        }
    };
    // After EOF: `wait_confirmed` answers on `confirmed_rx`; then the close waits out the linger.
    let mut confirmed_rx: Receiver<bool> = never();
    let mut linger = Linger::new(o.linger);
    loop {
        let wake_at = [printer.next_tick(), linger.deadline()]
            .into_iter()
            .flatten()
            .min();
        let ev = select! {
            recv(events) -> ev => match ev {
                Ok(ev) => ev,
                Err(_) => {
                    eprintln!("wsbeat: the client stopped without a stop event");
                    return ExitCode::from(1);
                }
            },
            recv(eof_rx) -> _ => {
                eof_rx = never();
                // Lines read before EOF must arrive, and their replies too: close only once
                // they are written and confirmed (the client waits for an open connection),
                // then after the linger.
                let (tx, rx) = crossbeam_channel::bounded(1);
                let h = client.handle();
                let spawned = thread::Builder::new().name("confirm".into()).spawn(move || {
                    let _ = tx.send(h.wait_confirmed(Duration::MAX) == Ok(true));
                });
                match spawned {
                    Ok(_) => confirmed_rx = rx,
                    Err(e) => {
                        eprintln!("wsbeat: cannot start the confirm thread: {e}");
                        close(&mut closing);
                    }
                }
                continue;
            },
            recv(confirmed_rx) -> confirmed => {
                confirmed_rx = never();
                if confirmed == Ok(true) {
                    linger.confirmed(Instant::now());
                    if linger.deadline().is_some_and(|d| d <= Instant::now()) {
                        close(&mut closing);
                    }
                }
                continue;
            },
            default(wake_at.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()))) => {
                if linger.deadline().is_some_and(|d| d <= Instant::now()) {
                    close(&mut closing);
                }
                printer.tick();
                continue;
            },
        };
        printer.event(&ev);
        match &ev {
            Event::Text(_) | Event::Binary(_) => linger.received(Instant::now()),
            Event::Closed { code, .. } => last_close_code = Some(*code),
            Event::Error { kind, message } => {
                last_error = Some(format!("({}) {message}", kind.as_str()));
            }
            Event::Stopped { reason, .. } => {
                drop(server);
                return stop_status(reason, last_close_code, last_error.as_deref());
            }
            _ => {}
        }
        if printer.stdout_broken {
            close(&mut closing);
        }
    }
}

/// The wait between "everything sent at EOF is confirmed" and the close: `linger` after the
/// confirmation or after the last message received, whichever is later, so that replies to
/// the last lines are printed (`--linger`, docs/CLI.md).
#[derive(Debug)]
struct Linger {
    linger: Duration,
    confirmed: Option<Instant>,
    last_received: Option<Instant>,
}

impl Linger {
    fn new(linger: Duration) -> Linger {
        Linger {
            linger,
            confirmed: None,
            last_received: None,
        }
    }

    fn confirmed(&mut self, now: Instant) {
        self.confirmed = Some(now);
    }

    fn received(&mut self, now: Instant) {
        self.last_received = Some(now);
    }

    /// When to close: `None` until what was sent is confirmed (also: never, for a linger too
    /// long to add to an instant).
    fn deadline(&self) -> Option<Instant> {
        let confirmed = self.confirmed?;
        let last = self.last_received.map_or(confirmed, |r| r.max(confirmed));
        last.checked_add(self.linger)
    }
}

/// The exit status for a stop reason; a failure's reason goes to stderr.
fn stop_status(reason: &StopReason, last_close: Option<u16>, last_error: Option<&str>) -> ExitCode {
    let why = match reason {
        StopReason::Closed => return ExitCode::SUCCESS,
        StopReason::ReconnectDisabled if last_close == Some(1000) => return ExitCode::SUCCESS,
        StopReason::ReconnectDisabled => match last_close {
            Some(code) => {
                format!("the connection ended (close code {code}) and --no-reconnect is set")
            }
            None => "the connection could not be opened and --no-reconnect is set".to_owned(),
        },
        StopReason::MaxAttempts(n) => {
            format!("gave up after {n} failed reconnect attempts (--max-attempts)")
        }
        StopReason::PolicyDeclined => match last_close {
            Some(code) => format!("the server closed with code {code}, which is not retried"),
            None => "the failure is not retried (e.g. a rejected certificate)".to_owned(),
        },
        StopReason::Internal(what) => format!("internal error: {what}"),
        other => format!("stopped: {}", other.as_str()),
    };
    match last_error {
        Some(e) => eprintln!("wsbeat: {why}; last error {e}"),
        None => eprintln!("wsbeat: {why}"),
    }
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linger_runs_from_the_confirmation_or_the_last_message_whichever_is_later() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = Linger::new(s(1));
        l.received(t0);
        assert_eq!(l.deadline(), None, "nothing before the confirmation");
        l.confirmed(t0 + s(2));
        assert_eq!(l.deadline(), Some(t0 + s(3)));
        l.received(t0 + s(5));
        assert_eq!(l.deadline(), Some(t0 + s(6)));
        let mut zero = Linger::new(Duration::ZERO);
        zero.confirmed(t0);
        assert_eq!(zero.deadline(), Some(t0));
        let mut forever = Linger::new(Duration::MAX);
        forever.confirmed(t0);
        assert_eq!(forever.deadline(), None);
    }
}
