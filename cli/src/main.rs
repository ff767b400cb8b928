//! `wsbeat`: a command-line WebSocket client that never gives up, and a misbehaving
//! seed-protocol echo server to try it against.
//!
//! ```text
//! cargo run --release -p wsbeat-cli -- [OPTIONS] [URL]
//! cargo run --release -p wsbeat-cli -- --serve [ADDR] [SERVER OPTIONS]
//! ```
//!
//! Lines from stdin are sent as text messages, received messages go to stdout, and a status
//! line per event goes to stderr (or, with `--json`, one JSON object per event to stdout).
//! Run with `--help` for the options; `docs/CLI.md` documents formats and exit codes.

use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, never, select};
use serde_json::{Value, json};
use wsbeat::{
    Client, CloseInitiator, Event, Handle, Heartbeat, Message, Reconnect, State, StopReason,
    TlsOptions,
};
use wsbeat_testkit::server::EchoServer;

const USAGE: &str = "\
Usage: wsbeat [OPTIONS] [URL]
       wsbeat --serve [ADDR] [SERVER OPTIONS]

Connects to URL (ws:// or wss://) and keeps the connection alive: heartbeats, dead-peer
detection, reconnection with backoff. Lines read from stdin are sent as text messages;
received messages are written to stdout. EOF on stdin closes the connection gracefully.
Without URL, an embedded seed-protocol echo server is started on 127.0.0.1 and used.

Output:
  --json                    One JSON object per event per line on stdout (received
                            messages included); otherwise a timestamped status line per
                            event on stderr and raw messages on stdout
  --seed-json               Wrap each stdin line as {\"ModeCode\":\"message\",\"msg\":LINE}
  --no-stdin                Do not read stdin: run until the client stops or is killed
  -v, --verbose             Also print the library's log on stderr (-v info, -vv debug,
                            -vvv trace)

Heartbeat:
  --heartbeat MODE          ping | seed-json | off                          [default: ping]
  --interval DUR            Idle time before a heartbeat is sent             [default: 20s]
  --timeout DUR             Wait for any frame after a heartbeat      [default: interval/2]

Reconnect:
  --no-reconnect            Stop when the connection ends (or the first connect fails)
  --backoff-initial DUR     First reconnect delay                           [default: 500ms]
  --backoff-max DUR         Largest reconnect delay                           [default: 30s]
  --backoff-factor F        Delay growth per attempt, >= 1                       [default: 2]
  --jitter F                Random reduction of each delay, 0..=1              [default: 0.5]
  --max-attempts N          Give up after N consecutive failed attempts  [default: never]

Connection:
  --header 'NAME: VALUE'    Add a request header (repeatable)
  --subprotocol NAME        Offer a subprotocol (repeatable)
  --connect-timeout DUR     Bound on TCP + TLS + WebSocket handshake            [default: 10s]

TLS (wss://):
  --ca-file PATH            Also trust the CA certificates in this PEM file (repeatable)
  --client-cert PATH        Client certificate chain (PEM) for mutual TLS; needs --client-key
  --client-key PATH         Private key (PEM) of --client-cert
  --insecure                DANGEROUS: do not verify the server certificate

Server (with --serve, or without URL for the embedded server):
  --serve [ADDR]            Run the seed-protocol echo server on ADDR     [default: 127.0.0.1:8002]
                            and print its ws:// URL as the first line of stdout
  --silent-after DUR        Each connection goes half-open DUR after its handshake
                            (nothing answered: no echo, no pong)
  --close-after DUR         Close each connection DUR after its handshake
  --close-code N            Close code for --close-after                      [default: 1000]
  --reply-delay DUR         Delay every reply by DUR

  -h, --help                Print this help
  -V, --version             Print the version

DUR is a number with a unit: 250ms, 4s, 1.5s, 1m, 1h, 1m30s (a bare number means seconds).

Exit status: 0 after a normal close (EOF on stdin, or the server closed with 1000 under
--no-reconnect); 1 when the client stopped for good (max attempts reached, reconnect
declined or disabled, ...), with the reason on stderr; 2 for invalid arguments.
Ctrl-C ends the process at once (no close handshake); use EOF (Ctrl-D) to close gracefully.
";

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum HbMode {
    Ping,
    SeedJson,
    Off,
}

/// Misbehaviour switches of the echo server.
#[derive(Debug, Default)]
struct ServerOpts {
    silent_after: Option<Duration>,
    close_after: Option<Duration>,
    close_code: Option<u16>,
    reply_delay: Option<Duration>,
}

impl ServerOpts {
    fn any(&self) -> bool {
        self.silent_after.is_some()
            || self.close_after.is_some()
            || self.close_code.is_some()
            || self.reply_delay.is_some()
    }
}

#[derive(Debug)]
struct ClientOpts {
    url: Option<String>,
    verbose: u8,
    json: bool,
    seed_json: bool,
    read_stdin: bool,
    hb_mode: HbMode,
    interval: Option<Duration>,
    timeout: Option<Duration>,
    no_reconnect: bool,
    backoff_initial: Option<Duration>,
    backoff_max: Option<Duration>,
    backoff_factor: Option<f64>,
    jitter: Option<f64>,
    max_attempts: Option<u32>,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    connect_timeout: Option<Duration>,
    ca_files: Vec<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
    insecure: bool,
    server: ServerOpts,
}

#[derive(Debug)]
enum Command {
    Help,
    Version,
    Serve {
        addr: String,
        opts: ServerOpts,
        verbose: u8,
    },
    Client(Box<ClientOpts>),
}

/// An argument error: reported with the usage text, exit status 2.
#[derive(Debug)]
struct ArgError(String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a duration: one or more `<number><unit>` parts (`ms`, `s`, `m`, `h`), e.g. `250ms`,
/// `1.5s`, `1m30s`; a bare number means seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{text}` (examples: 250ms, 4s, 1.5s, 1m)");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Duration::try_from_secs_f64(secs).map_err(|_| bad());
        }
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

fn parse_args(args: &[String]) -> Result<Command, ArgError> {
    let mut o = ClientOpts {
        url: None,
        verbose: 0,
        json: false,
        seed_json: false,
        read_stdin: true,
        hb_mode: HbMode::Ping,
        interval: None,
        timeout: None,
        no_reconnect: false,
        backoff_initial: None,
        backoff_max: None,
        backoff_factor: None,
        jitter: None,
        max_attempts: None,
        headers: Vec::new(),
        subprotocols: Vec::new(),
        connect_timeout: None,
        ca_files: Vec::new(),
        client_cert: None,
        client_key: None,
        insecure: false,
        server: ServerOpts::default(),
    };
    let mut serve: Option<String> = None;
    // The first client-only option seen (an error with --serve).
    let mut client_only: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if only_positional || !arg.starts_with('-') || arg == "-" {
            positional.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        // `--name=value` or `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, ArgError> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            match args.get(i) {
                Some(v) => {
                    i += 1;
                    Ok(v.clone())
                }
                None => Err(ArgError(format!("{name} needs a value ({what})"))),
            }
        };
        let dur = |v: String| parse_duration(&v).map_err(|e| ArgError(format!("{name}: {e}")));
        let float = |v: String| -> Result<f64, ArgError> {
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| ArgError(format!("{name}: `{v}` is not a number")))
        };
        if !matches!(
            name,
            "--serve"
                | "--silent-after"
                | "--close-after"
                | "--close-code"
                | "--reply-delay"
                | "-v"
                | "-vv"
                | "-vvv"
                | "--verbose"
        ) && client_only.is_none()
        {
            client_only = Some(name.to_owned());
        }
        let flag = |inline: &Option<String>| -> Result<(), ArgError> {
            match inline {
                Some(_) => Err(ArgError(format!("{name} takes no value"))),
                None => Ok(()),
            }
        };
        match name {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--json" => {
                flag(&inline)?;
                o.json = true;
            }
            "--seed-json" => {
                flag(&inline)?;
                o.seed_json = true;
            }
            "--no-stdin" => {
                flag(&inline)?;
                o.read_stdin = false;
            }
            "-v" | "--verbose" => {
                flag(&inline)?;
                o.verbose = o.verbose.saturating_add(1);
            }
            "-vv" => o.verbose = o.verbose.saturating_add(2),
            "-vvv" => o.verbose = o.verbose.saturating_add(3),
            "--heartbeat" => {
                o.hb_mode = match value("ping|seed-json|off")?.as_str() {
                    "ping" => HbMode::Ping,
                    "seed-json" | "seed_json" => HbMode::SeedJson,
                    "off" => HbMode::Off,
                    other => {
                        return Err(ArgError(format!(
                            "--heartbeat: unknown mode `{other}` (use ping, seed-json or off)"
                        )));
                    }
                }
            }
            "--interval" => o.interval = Some(dur(value("a duration")?)?),
            "--timeout" => o.timeout = Some(dur(value("a duration")?)?),
            "--no-reconnect" => {
                flag(&inline)?;
                o.no_reconnect = true;
            }
            "--backoff-initial" => o.backoff_initial = Some(dur(value("a duration")?)?),
            "--backoff-max" => o.backoff_max = Some(dur(value("a duration")?)?),
            "--backoff-factor" => o.backoff_factor = Some(float(value("a number >= 1")?)?),
            "--jitter" => o.jitter = Some(float(value("a number within 0..=1")?)?),
            "--max-attempts" => {
                let v = value("a count")?;
                let n: u32 = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ArgError(format!("--max-attempts: `{v}` is not a count >= 1"))
                })?;
                o.max_attempts = Some(n);
            }
            "--header" | "-H" => {
                let v = value("'NAME: VALUE'")?;
                let (k, val) = v
                    .split_once(':')
                    .ok_or_else(|| ArgError(format!("--header: `{v}` is not 'NAME: VALUE'")))?;
                let k = k.trim();
                if k.is_empty() {
                    return Err(ArgError(format!("--header: `{v}` has no name")));
                }
                o.headers.push((k.to_owned(), val.trim().to_owned()));
            }
            "--subprotocol" => o.subprotocols.push(value("a name")?),
            "--connect-timeout" => o.connect_timeout = Some(dur(value("a duration")?)?),
            "--ca-file" => o.ca_files.push(value("a PEM file")?),
            "--client-cert" => o.client_cert = Some(value("a PEM file")?),
            "--client-key" => o.client_key = Some(value("a PEM file")?),
            "--insecure" => {
                flag(&inline)?;
                o.insecure = true;
            }
            "--serve" => {
                // The address is optional: take the next argument unless it is an option.
                serve = Some(match inline {
                    Some(v) => v,
                    None => match args.get(i) {
                        Some(v) if !v.starts_with('-') => {
                            i += 1;
                            v.clone()
                        }
                        _ => "127.0.0.1:8002".to_owned(),
                    },
                });
            }
            "--silent-after" => o.server.silent_after = Some(dur(value("a duration")?)?),
            "--close-after" => o.server.close_after = Some(dur(value("a duration")?)?),
            "--close-code" => {
                let v = value("a close code")?;
                let code: u16 = v
                    .parse()
                    .ok()
                    .filter(|c| sendable_close_code(*c))
                    .ok_or_else(|| {
                        ArgError(format!(
                            "--close-code: `{v}` is not a code a server may send \
                             (1000..=1003, 1007..=1014, 3000..=4999)"
                        ))
                    })?;
                o.server.close_code = Some(code);
            }
            "--reply-delay" => o.server.reply_delay = Some(dur(value("a duration")?)?),
            other => return Err(ArgError(format!("unknown option `{other}`"))),
        }
    }
    if o.server.close_code.is_some() && o.server.close_after.is_none() {
        return Err(ArgError("--close-code needs --close-after".into()));
    }
    if let Some(addr) = serve {
        if let Some(opt) = client_only {
            return Err(ArgError(format!(
                "{opt} is a client option: not with --serve"
            )));
        }
        if !positional.is_empty() {
            return Err(ArgError(format!(
                "unexpected argument `{}` with --serve (the address follows --serve)",
                positional[0]
            )));
        }
        return Ok(Command::Serve {
            addr,
            opts: o.server,
            verbose: o.verbose,
        });
    }
    if positional.len() > 1 {
        return Err(ArgError(format!("unexpected argument `{}`", positional[1])));
    }
    o.url = positional.pop();
    if o.url.is_some() && o.server.any() {
        return Err(ArgError(
            "server options (--silent-after, --close-after, --close-code, --reply-delay) need \
             --serve or no URL (the embedded server)"
                .into(),
        ));
    }
    if o.hb_mode == HbMode::Off && (o.interval.is_some() || o.timeout.is_some()) {
        return Err(ArgError(
            "--interval/--timeout have no effect with --heartbeat off".into(),
        ));
    }
    if o.no_reconnect
        && (o.backoff_initial.is_some()
            || o.backoff_max.is_some()
            || o.backoff_factor.is_some()
            || o.jitter.is_some()
            || o.max_attempts.is_some())
    {
        return Err(ArgError(
            "--no-reconnect cannot be combined with --backoff-*, --jitter or --max-attempts".into(),
        ));
    }
    if o.client_cert.is_some() != o.client_key.is_some() {
        return Err(ArgError(
            "--client-cert and --client-key go together".into(),
        ));
    }
    Ok(Command::Client(Box::new(o)))
}

/// Close codes a server may put on the wire (RFC 6455 7.4; 1004-1006 and 1015 are reserved).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// `HH:MM:SS.mmm` (UTC) of now.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A duration for humans: `850ms`, `2.0s`, `1m05s`.
fn human(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2}ms", d.as_secs_f64() * 1e3)
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

fn message_json(m: &Message) -> Value {
    match m {
        Message::Text(t) => json!({ "text": t }),
        Message::Binary(b) => json!({ "base64": base64(b) }),
    }
}

/// An event as one JSON object (the `--json` format).
fn event_json(ev: &Event) -> Value {
    let mut v = match ev {
        Event::Connecting { attempt } => json!({ "attempt": attempt }),
        Event::Opened {
            reconnect,
            attempt,
            protocol,
        } => json!({ "reconnect": reconnect, "attempt": attempt, "protocol": protocol }),
        Event::Text(t) => json!({ "data": t }),
        Event::Binary(b) => json!({ "len": b.len(), "base64": base64(b) }),
        Event::Pong { rtt } => json!({ "rtt_ms": millis(*rtt) }),
        Event::HeartbeatTimeout { silent_for } => {
            json!({ "silent_for_ms": millis(*silent_for) })
        }
        Event::Closed {
            code,
            reason,
            initiator,
            will_reconnect,
            unconfirmed,
        } => json!({
            "code": code,
            "reason": reason,
            "initiator": initiator_name(*initiator),
            "will_reconnect": will_reconnect,
            "unconfirmed": unconfirmed.iter().map(message_json).collect::<Vec<_>>(),
        }),
        Event::Reconnecting { attempt, delay } => {
            json!({ "attempt": attempt, "delay_ms": delay.as_millis() as u64 })
        }
        Event::Error { kind, message } => json!({ "kind": kind.as_str(), "message": message }),
        Event::Stopped { reason, unsent } => {
            let mut v = json!({
                "reason": reason.as_str(),
                "unsent": unsent.iter().map(message_json).collect::<Vec<_>>(),
            });
            match reason {
                StopReason::MaxAttempts(n) => v["attempts"] = json!(n),
                StopReason::Internal(what) => v["detail"] = json!(what),
                _ => {}
            }
            v
        }
        other => json!({ "debug": format!("{other:?}") }),
    };
    v["event"] = json!(ev.name());
    v["ts"] = json!(unix_ms());
    v
}

fn initiator_name(i: CloseInitiator) -> &'static str {
    i.as_str()
}

/// Orders the keys of an event object: `event` first, `ts` last (serde_json sorts otherwise).
fn json_line(v: &Value) -> String {
    let Value::Object(map) = v else {
        return v.to_string();
    };
    let mut out = String::from("{");
    let mut keys: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "event" && *k != "ts")
        .collect();
    keys.sort_unstable();
    for (n, k) in std::iter::once("event")
        .chain(keys)
        .chain(["ts"])
        .filter(|k| map.contains_key(*k))
        .enumerate()
    {
        if n > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:{}", Value::from(k), map[k]);
    }
    out.push('}');
    out
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

struct Countdown {
    attempt: u32,
    delay: Duration,
    deadline: Instant,
    /// When the reconnect was scheduled.
    stamp: String,
}

/// Writes events: human status lines on stderr (with a live backoff countdown on a tty), or
/// JSON lines on stdout; received messages on stdout.
struct Printer {
    json: bool,
    tty: bool,
    url: String,
    /// The backoff countdown on a tty; while set, its line is open (no newline yet).
    countdown: Option<Countdown>,
    /// Stdout is gone (e.g. `| head`): stop writing to it.
    stdout_broken: bool,
}

impl Printer {
    fn status(&mut self, color: &str, text: &str) {
        self.end_countdown();
        let line = if self.tty {
            format!("{DIM}{}{RESET} {color}{text}{RESET}", timestamp())
        } else {
            format!("{} {text}", timestamp())
        };
        let _ = writeln!(io::stderr(), "{line}");
    }

    fn out(&mut self, bytes: &[u8]) {
        if self.stdout_broken {
            return;
        }
        let mut o = io::stdout().lock();
        if o.write_all(bytes)
            .and_then(|_| o.write_all(b"\n"))
            .and_then(|_| o.flush())
            .is_err()
        {
            self.stdout_broken = true;
        }
    }

    /// The countdown line, rewritten in place: `reconnect #3 in 4.0s (2s left)`.
    fn draw_countdown(&self, c: &Countdown, last: bool) {
        let left = c.deadline.saturating_duration_since(Instant::now());
        let mut line = format!(
            "\r\x1b[K{DIM}{}{RESET} {MAGENTA}reconnect #{} in {}",
            c.stamp,
            c.attempt,
            human(c.delay)
        );
        if !last {
            let _ = write!(line, " ({}s left)", left.as_secs_f64().ceil() as u64);
        }
        line.push_str(RESET);
        if last {
            line.push('\n');
        }
        let _ = write!(io::stderr(), "{line}");
    }

    /// When the next countdown tick is due (on each whole second left).
    fn next_tick(&self) -> Option<Instant> {
        let c = self.countdown.as_ref()?;
        let now = Instant::now();
        let left = c.deadline.saturating_duration_since(now);
        let frac = Duration::from_nanos((left.as_nanos() % 1_000_000_000) as u64);
        Some(
            now + if frac.is_zero() {
                left.min(Duration::from_secs(1))
            } else {
                frac
            },
        )
    }

    fn tick(&mut self) {
        if let Some(c) = &self.countdown
            && c.deadline > Instant::now()
        {
            self.draw_countdown(c, false);
        }
    }

    /// Leave the countdown line as a plain status line.
    fn end_countdown(&mut self) {
        if let Some(c) = self.countdown.take() {
            self.draw_countdown(&c, true);
        }
    }

    fn event(&mut self, ev: &Event) {
        if self.json {
            let line = json_line(&event_json(ev));
            self.out(line.as_bytes());
            return;
        }
        match ev {
            Event::Connecting { attempt: 0 } => {
                let text = format!("connecting to {}", self.url);
                self.status(CYAN, &text);
            }
            Event::Connecting { attempt } => {
                let text = format!("connecting to {} (attempt {attempt})", self.url);
                self.status(CYAN, &text);
            }
            Event::Opened {
                reconnect,
                attempt,
                protocol,
            } => {
                let mut text = String::from(if *reconnect { "open again" } else { "open" });
                if *attempt > 0 {
                    let _ = write!(text, " (attempt {attempt})");
                }
                if let Some(p) = protocol {
                    let _ = write!(text, ", subprotocol {p}");
                }
                self.status(GREEN, &text);
            }
            Event::Text(t) => self.out(t.as_bytes()),
            Event::Binary(b) => self.out(b),
            Event::Pong { rtt } => self.status(DIM, &format!("heartbeat rtt {}", human(*rtt))),
            Event::HeartbeatTimeout { silent_for } => self.status(
                RED,
                &format!(
                    "heartbeat timeout: peer silent for {}, dropping the connection",
                    human(*silent_for)
                ),
            ),
            Event::Closed {
                code,
                reason,
                initiator,
                will_reconnect,
                unconfirmed,
            } => {
                let mut text = format!("closed {code} ({})", initiator_name(*initiator));
                if !reason.is_empty() {
                    let _ = write!(text, " \"{reason}\"");
                }
                if !unconfirmed.is_empty() {
                    let _ = write!(
                        text,
                        ", {} message(s) may not have arrived",
                        unconfirmed.len()
                    );
                }
                text.push_str(if *will_reconnect {
                    ", will reconnect"
                } else {
                    ", not reconnecting"
                });
                self.status(YELLOW, &text);
            }
            Event::Reconnecting { attempt, delay } => {
                if self.tty && *delay >= Duration::from_secs(1) {
                    self.end_countdown();
                    let c = Countdown {
                        attempt: *attempt,
                        delay: *delay,
                        deadline: Instant::now() + *delay,
                        stamp: timestamp(),
                    };
                    self.draw_countdown(&c, false);
                    self.countdown = Some(c);
                } else {
                    self.status(
                        MAGENTA,
                        &format!("reconnect #{attempt} in {}", human(*delay)),
                    );
                }
            }
            Event::Error { kind, message } => {
                self.status(RED, &format!("error ({}): {message}", kind.as_str()))
            }
            Event::Stopped { reason, unsent } => {
                self.status(BOLD, &format!("stopped ({})", reason.as_str()));
                for m in unsent {
                    let text = match m {
                        Message::Text(t) => format!("unsent: {t}"),
                        Message::Binary(b) => format!("unsent: {} bytes", b.len()),
                    };
                    self.status(YELLOW, &text);
                }
            }
            other => self.status(DIM, &format!("{other:?}")),
        }
    }
}

/// The library's `log` records on stderr: `HH:MM:SS.mmm LEVEL target: message`.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(
                io::stderr(),
                "{} {:<5} {}: {}",
                timestamp(),
                r.level(),
                r.target(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

/// Nothing by default (events already say what happened); more with each `-v`.
fn init_log(verbose: u8) {
    static LOGGER: StderrLog = StderrLog;
    if verbose > 0 && log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(match verbose {
            1 => log::LevelFilter::Info,
            2 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

fn usage_error(e: &ArgError) -> ExitCode {
    eprintln!("wsbeat: {e}\n\n{USAGE}");
    ExitCode::from(2)
}

fn config_error(what: impl std::fmt::Display) -> ExitCode {
    eprintln!("wsbeat: {what}\nRun `wsbeat --help` for the options.");
    ExitCode::from(2)
}

fn start_server(addr: &str, o: &ServerOpts) -> io::Result<EchoServer> {
    let server = EchoServer::start(addr)?;
    if let Some(d) = o.close_after {
        server.set_close_after(
            Some(d),
            o.close_code.unwrap_or(1000),
            "wsbeat --close-after",
        );
    }
    if o.silent_after.is_some() {
        server.set_silent_after(o.silent_after);
    }
    if let Some(d) = o.reply_delay {
        server.set_reply_delay(d);
    }
    Ok(server)
}

fn describe_server(o: &ServerOpts) -> String {
    let mut parts = Vec::new();
    if let Some(d) = o.silent_after {
        parts.push(format!("connections go silent {} after opening", human(d)));
    }
    if let Some(d) = o.close_after {
        parts.push(format!(
            "connections are closed with {} {} after opening",
            o.close_code.unwrap_or(1000),
            human(d)
        ));
    }
    if let Some(d) = o.reply_delay {
        parts.push(format!("replies are delayed by {}", human(d)));
    }
    parts.join("; ")
}

fn serve(addr: &str, opts: &ServerOpts) -> ExitCode {
    let server = match start_server(addr, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wsbeat: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    // The URL is the first line of stdout: scripts and tests read the port from it.
    println!("{}", server.url());
    let _ = io::stdout().flush();
    eprintln!(
        "wsbeat: seed-protocol echo server listening on {}",
        server.url()
    );
    if opts.any() {
        eprintln!("wsbeat: misbehaving on purpose: {}", describe_server(opts));
    }
    loop {
        thread::park(); // until killed
    }
}

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
    let mut b = Client::builder(url)
        .heartbeat(heartbeat)
        .reconnect(reconnect);
    for (k, v) in &o.headers {
        b = b.header(k, v);
    }
    for p in &o.subprotocols {
        b = b.subprotocol(p);
    }
    if let Some(d) = o.connect_timeout {
        b = b.connect_timeout(d);
    }
    let tls_wanted = !o.ca_files.is_empty() || o.client_cert.is_some() || o.insecure;
    if tls_wanted {
        if !url.starts_with("wss:") {
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

fn run_client(o: ClientOpts) -> ExitCode {
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
    let mut printer = Printer {
        json: o.json,
        tty: io::stderr().is_terminal(),
        url: url.clone(),
        countdown: None,
        stdout_broken: false,
    };
    if let Some(s) = &server {
        if o.json {
            let v = json!({ "event": "listening", "url": s.url(), "ts": unix_ms() });
            printer.out(json_line(&v).as_bytes());
        } else {
            let mut text = format!("embedded echo server on {}", s.url());
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

    let mut eof = false;
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
    loop {
        let tick = printer.next_tick();
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
                eof = true;
                // Lines read before EOF must go out: close once open, not while connecting.
                if client.state() == State::Open {
                    close(&mut closing);
                }
                continue;
            },
            default(tick.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()))) => {
                printer.tick();
                continue;
            },
        };
        printer.event(&ev);
        match &ev {
            Event::Opened { .. } if eof => close(&mut closing),
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Err(e) => usage_error(&e),
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("wsbeat {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve {
            addr,
            opts,
            verbose,
        }) => {
            init_log(verbose);
            serve(&addr, &opts)
        }
        Ok(Command::Client(o)) => {
            init_log(o.verbose);
            run_client(*o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("4s"), Ok(ms(4000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("1m"), Ok(ms(60_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("2"), Ok(ms(2000)));
        for bad in ["", "s", "4x", "-1s", "1.2.3s", "ms4", "nan", "inf", "1e3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn arguments() {
        assert!(
            matches!(parse_args(&args(&["--serve"])), Ok(Command::Serve { addr, .. }) if addr == "127.0.0.1:8002")
        );
        assert!(
            matches!(parse_args(&args(&["--serve", "127.0.0.1:0", "--close-after", "1s"])), Ok(Command::Serve { addr, opts, .. }) if addr == "127.0.0.1:0" && opts.close_after.is_some())
        );
        let Ok(Command::Client(o)) = parse_args(&args(&[
            "--json",
            "--header",
            "X-A: b: c",
            "--interval=1s",
            "ws://h",
        ])) else {
            panic!()
        };
        assert_eq!(o.headers, vec![("X-A".to_owned(), "b: c".to_owned())]);
        assert_eq!(o.interval, Some(Duration::from_secs(1)));
        assert_eq!(o.url.as_deref(), Some("ws://h"));
        for bad in [
            &["--bogus"][..],
            &["--interval"],
            &["--interval", "x"],
            &["--heartbeat", "nope"],
            &["--json=1"],
            &["a", "b"],
            &["--close-code", "1006", "--close-after", "1s"],
            &["--close-code", "4000"],
            &["--close-after", "1s", "ws://h"],
            &["--no-reconnect", "--max-attempts", "2"],
            &["--max-attempts", "0"],
            &["--client-cert", "c.pem"],
            &["--heartbeat", "off", "--interval", "1s"],
            &["--serve", "--json"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_lines_put_event_first() {
        let line = json_line(&event_json(&Event::Opened {
            reconnect: true,
            attempt: 2,
            protocol: None,
        }));
        assert!(
            line.starts_with(
                r#"{"event":"opened","attempt":2,"protocol":null,"reconnect":true,"ts":"#
            ),
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["reconnect"], json!(true));
    }
}
