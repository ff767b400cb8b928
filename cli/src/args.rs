//! Command-line arguments: the usage text, the options as types, and a declarative parser
//! over `lexopt` (each option is one `match` arm; lexopt handles `--name=value`, `--name value`,
//! bundled short flags such as `-vv`, and `--`).

use std::ffi::OsString;
use std::time::Duration;

use lexopt::{Arg, Parser};

pub(crate) const USAGE: &str = "\
Usage: wsbeat [OPTIONS] [URL [--endpoint URL]...]
       wsbeat --serve [ADDR] [SERVER OPTIONS]

Connects to URL (ws:// or wss://) and keeps the connection alive: heartbeats, dead-peer
detection, reconnection with backoff. Lines read from stdin are sent as text messages;
received messages are written to stdout. EOF on stdin closes the connection gracefully,
once what was sent is confirmed and replies have had --linger to arrive.
Without URL, an embedded seed-protocol echo server is started on 127.0.0.1 and used.

Output:
  --json                    One JSON object per event per line on stdout (received
                            messages included); otherwise a timestamped status line per
                            event on stderr and raw messages on stdout
  --seed-json               Wrap each stdin line as {\"ModeCode\":\"message\",\"msg\":LINE}
  --no-stdin                Do not read stdin: run until the client stops or is killed
  --linger DUR              At EOF, once every line sent is confirmed by the server, wait
                            DUR (restarted by each message received) for replies, then
                            close; 0 closes at once after the confirmation    [default: 1s]
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
  --endpoint URL            Another endpoint (repeatable): after a failure the next
                            attempt goes to the next one, round-robin from URL; the
                            backoff is the client's, across endpoints  [default: none]
  --header 'NAME: VALUE'    Add a request header (repeatable)
  --subprotocol NAME        Offer a subprotocol (repeatable)
  --compression MODE        permessage-deflate: deflate (offer it) or off       [default: off]
  --connect-timeout DUR     Bound on DNS + TCP + proxy + TLS + WebSocket handshake
                                                                             [default: 10s]
  --proxy URL               Connect through this proxy: http://, https:// (TLS to the
                            proxy, trusted like the server: --ca-file), socks5:// (name
                            resolved here) or socks5h:// (by the proxy); user:pass@ optional
                            [default: the proxy environment variables (docs/CLI.md)]
  --no-proxy                Connect directly, whatever the proxy environment says

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

/// `--linger`'s default: replies to the last lines get this long after the lines are confirmed
/// (or after the last reply) before the EOF close.
pub(crate) const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// The heartbeat kind chosen by `--heartbeat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HbMode {
    Ping,
    SeedJson,
    Off,
}

/// Misbehaviour switches of the echo server.
#[derive(Debug, Default)]
pub(crate) struct ServerOpts {
    pub(crate) silent_after: Option<Duration>,
    pub(crate) close_after: Option<Duration>,
    pub(crate) close_code: Option<u16>,
    pub(crate) reply_delay: Option<Duration>,
}

impl ServerOpts {
    /// Whether any misbehaviour is switched on.
    pub(crate) fn any(&self) -> bool {
        self.silent_after.is_some()
            || self.close_after.is_some()
            || self.close_code.is_some()
            || self.reply_delay.is_some()
    }
}

/// The client's options.
#[derive(Debug)]
pub(crate) struct ClientOpts {
    pub(crate) url: Option<String>,
    /// `--endpoint`: further endpoints after `url`, in order.
    pub(crate) endpoints: Vec<String>,
    pub(crate) verbose: u8,
    pub(crate) json: bool,
    pub(crate) seed_json: bool,
    pub(crate) read_stdin: bool,
    /// After EOF: how long to wait for replies once what was sent is confirmed.
    pub(crate) linger: Duration,
    pub(crate) hb_mode: HbMode,
    pub(crate) interval: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) no_reconnect: bool,
    pub(crate) backoff_initial: Option<Duration>,
    pub(crate) backoff_max: Option<Duration>,
    pub(crate) backoff_factor: Option<f64>,
    pub(crate) jitter: Option<f64>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) compression: bool,
    pub(crate) connect_timeout: Option<Duration>,
    /// `--proxy` (checked when parsed) or `--no-proxy`; `None`: from the environment.
    pub(crate) proxy: Option<wsbeat::Proxy>,
    pub(crate) ca_files: Vec<String>,
    pub(crate) client_cert: Option<String>,
    pub(crate) client_key: Option<String>,
    pub(crate) insecure: bool,
    pub(crate) server: ServerOpts,
}

impl Default for ClientOpts {
    fn default() -> Self {
        ClientOpts {
            url: None,
            endpoints: Vec::new(),
            verbose: 0,
            json: false,
            seed_json: false,
            read_stdin: true,
            linger: DEFAULT_LINGER,
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
            compression: false,
            connect_timeout: None,
            proxy: None,
            ca_files: Vec::new(),
            client_cert: None,
            client_key: None,
            insecure: false,
            server: ServerOpts::default(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Command {
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
pub(crate) struct ArgError(pub(crate) String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// lexopt's errors in this tool's words (the tests and docs quote them).
fn lexopt_error(e: lexopt::Error) -> ArgError {
    ArgError(match e {
        lexopt::Error::MissingValue { option: Some(o) } => format!("{o} needs a value"),
        lexopt::Error::MissingValue { option: None } => "a value is missing".to_owned(),
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        lexopt::Error::UnexpectedOption(o) => format!("unknown option `{o}`"),
        lexopt::Error::UnexpectedArgument(a) => {
            format!("unexpected argument `{}`", a.to_string_lossy())
        }
        lexopt::Error::NonUnicodeValue(v) => {
            format!("`{}` is not valid UTF-8", v.to_string_lossy())
        }
        other => other.to_string(),
    })
}

/// Parses a duration: one or more `<number><unit>` parts (`ms`, `s`, `m`, `h`), e.g. `250ms`,
/// `1.5s`, `1m30s`; a bare number means seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
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

/// The value of the option just read, as UTF-8; `what` says what is expected when it is missing.
fn value(p: &mut Parser, name: &str, what: &str) -> Result<String, ArgError> {
    match p.value() {
        Ok(v) => utf8(v),
        Err(lexopt::Error::MissingValue { .. }) => {
            Err(ArgError(format!("{name} needs a value ({what})")))
        }
        Err(e) => Err(lexopt_error(e)),
    }
}

fn utf8(v: OsString) -> Result<String, ArgError> {
    v.into_string()
        .map_err(|v| lexopt_error(lexopt::Error::NonUnicodeValue(v)))
}

fn duration(p: &mut Parser, name: &str) -> Result<Duration, ArgError> {
    let v = value(p, name, "a duration")?;
    parse_duration(&v).map_err(|e| ArgError(format!("{name}: {e}")))
}

fn float(p: &mut Parser, name: &str, what: &str) -> Result<f64, ArgError> {
    let v = value(p, name, what)?;
    v.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| ArgError(format!("{name}: `{v}` is not a number")))
}

/// Parses the arguments (without the program name).
pub(crate) fn parse_args<I>(args: I) -> Result<Command, ArgError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut o = ClientOpts::default();
    let mut p = Parser::from_args(args);
    let mut serve: Option<String> = None;
    // The first client-only option seen (an error with --serve).
    let mut client_only: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    while let Some(arg) = p.next().map_err(lexopt_error)? {
        let name = match &arg {
            Arg::Short(c) => format!("-{c}"),
            Arg::Long(l) => format!("--{l}"),
            Arg::Value(v) => {
                positional.push(v.to_string_lossy().into_owned());
                continue;
            }
        };
        let is_server_or_common = matches!(
            arg,
            Arg::Long(
                "serve" | "silent-after" | "close-after" | "close-code" | "reply-delay" | "verbose"
            ) | Arg::Short('v')
        );
        if !is_server_or_common && client_only.is_none() {
            client_only = Some(name.clone());
        }
        let n = name.as_str();
        match arg {
            Arg::Short('h') | Arg::Long("help") => return Ok(Command::Help),
            Arg::Short('V') | Arg::Long("version") => return Ok(Command::Version),
            Arg::Long("json") => o.json = true,
            Arg::Long("seed-json") => o.seed_json = true,
            Arg::Long("no-stdin") => o.read_stdin = false,
            Arg::Long("linger") => o.linger = duration(&mut p, n)?,
            Arg::Short('v') | Arg::Long("verbose") => o.verbose = o.verbose.saturating_add(1),
            Arg::Long("heartbeat") => {
                o.hb_mode = match value(&mut p, n, "ping|seed-json|off")?.as_str() {
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
            Arg::Long("interval") => o.interval = Some(duration(&mut p, n)?),
            Arg::Long("timeout") => o.timeout = Some(duration(&mut p, n)?),
            Arg::Long("no-reconnect") => o.no_reconnect = true,
            Arg::Long("backoff-initial") => o.backoff_initial = Some(duration(&mut p, n)?),
            Arg::Long("backoff-max") => o.backoff_max = Some(duration(&mut p, n)?),
            Arg::Long("backoff-factor") => {
                o.backoff_factor = Some(float(&mut p, n, "a number >= 1")?)
            }
            Arg::Long("jitter") => o.jitter = Some(float(&mut p, n, "a number within 0..=1")?),
            Arg::Long("max-attempts") => {
                let v = value(&mut p, n, "a count")?;
                let count: u32 = v.parse().ok().filter(|c| *c > 0).ok_or_else(|| {
                    ArgError(format!("--max-attempts: `{v}` is not a count >= 1"))
                })?;
                o.max_attempts = Some(count);
            }
            Arg::Short('H') | Arg::Long("header") => {
                let v = value(&mut p, n, "'NAME: VALUE'")?;
                let (k, val) = v
                    .split_once(':')
                    .ok_or_else(|| ArgError(format!("--header: `{v}` is not 'NAME: VALUE'")))?;
                let k = k.trim();
                if k.is_empty() {
                    return Err(ArgError(format!("--header: `{v}` has no name")));
                }
                o.headers.push((k.to_owned(), val.trim().to_owned()));
            }
            Arg::Long("subprotocol") => o.subprotocols.push(value(&mut p, n, "a name")?),
            Arg::Long("compression") => {
                o.compression = match value(&mut p, n, "deflate or off")?.as_str() {
                    "deflate" => true,
                    "off" => false,
                    v => {
                        return Err(ArgError(format!(
                            "--compression: `{v}` is not deflate or off"
                        )));
                    }
                };
            }
            Arg::Long("endpoint") => o.endpoints.push(value(&mut p, n, "a URL")?),
            Arg::Long("connect-timeout") => o.connect_timeout = Some(duration(&mut p, n)?),
            Arg::Long("proxy") => {
                let v = value(&mut p, n, "a proxy URL")?;
                // The error text shows the URL without its credentials.
                let proxy =
                    wsbeat::Proxy::url(&v).map_err(|e| ArgError(format!("--proxy: {e}")))?;
                o.proxy = Some(proxy);
            }
            Arg::Long("no-proxy") => o.proxy = Some(wsbeat::Proxy::none()),
            Arg::Long("ca-file") => o.ca_files.push(value(&mut p, n, "a PEM file")?),
            Arg::Long("client-cert") => o.client_cert = Some(value(&mut p, n, "a PEM file")?),
            Arg::Long("client-key") => o.client_key = Some(value(&mut p, n, "a PEM file")?),
            Arg::Long("insecure") => o.insecure = true,
            Arg::Long("serve") => {
                // The address is optional: `--serve=ADDR`, or the next argument unless it is
                // an option.
                let addr = match p.optional_value() {
                    Some(v) => Some(utf8(v)?),
                    None => match p
                        .try_raw_args()
                        .and_then(|mut raw| raw.next_if(|a| !a.to_string_lossy().starts_with('-')))
                    {
                        Some(v) => Some(utf8(v)?),
                        None => None,
                    },
                };
                serve = Some(addr.unwrap_or_else(|| "127.0.0.1:8002".to_owned()));
            }
            Arg::Long("silent-after") => o.server.silent_after = Some(duration(&mut p, n)?),
            Arg::Long("close-after") => o.server.close_after = Some(duration(&mut p, n)?),
            Arg::Long("close-code") => {
                let v = value(&mut p, n, "a close code")?;
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
            Arg::Long("reply-delay") => o.server.reply_delay = Some(duration(&mut p, n)?),
            _ => return Err(ArgError(format!("unknown option `{n}`"))),
        }
    }
    check(o, serve, client_only, positional)
}

/// The rules between options, once all are read.
fn check(
    mut o: ClientOpts,
    serve: Option<String>,
    client_only: Option<String>,
    mut positional: Vec<String>,
) -> Result<Command, ArgError> {
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
    if o.url.is_none() && !o.endpoints.is_empty() {
        return Err(ArgError(
            "--endpoint needs a URL (the first endpoint) before it".into(),
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn arguments() {
        assert!(
            matches!(parse_args(["--serve"]), Ok(Command::Serve { addr, .. }) if addr == "127.0.0.1:8002")
        );
        assert!(
            matches!(parse_args(["--serve", "127.0.0.1:0", "--close-after", "1s"]), Ok(Command::Serve { addr, opts, .. }) if addr == "127.0.0.1:0" && opts.close_after.is_some())
        );
        assert!(
            matches!(parse_args(["--serve=127.0.0.1:1", "-vv"]), Ok(Command::Serve { addr, verbose: 2, .. }) if addr == "127.0.0.1:1")
        );
        assert!(
            matches!(parse_args(["--serve", "--close-after", "1s"]), Ok(Command::Serve { addr, .. }) if addr == "127.0.0.1:8002")
        );
        let Ok(Command::Client(o)) = parse_args([
            "--json",
            "--header",
            "X-A: b: c",
            "--interval=1s",
            "-vvv",
            "ws://h",
        ]) else {
            panic!()
        };
        assert_eq!(o.headers, vec![("X-A".to_owned(), "b: c".to_owned())]);
        assert_eq!(o.interval, Some(Duration::from_secs(1)));
        assert_eq!(o.url.as_deref(), Some("ws://h"));
        assert_eq!(o.verbose, 3);
        assert_eq!(o.linger, DEFAULT_LINGER);
        let Ok(Command::Client(o)) = parse_args(["--linger", "0", "ws://h"]) else {
            panic!()
        };
        assert_eq!(o.linger, Duration::ZERO);
        let Ok(Command::Client(o)) = parse_args(["--", "--not-an-option"]) else {
            panic!()
        };
        assert_eq!(o.url.as_deref(), Some("--not-an-option"));
        for bad in [
            &["--bogus"][..],
            &["-x"],
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
            &["--serve", "--linger", "1s"],
            &["--linger", "soon"],
        ] {
            assert!(parse_args(bad.iter().copied()).is_err(), "{bad:?}");
        }
        let Err(e) = parse_args(["--json=1"]) else {
            panic!()
        };
        assert_eq!(e.0, "--json takes no value");
        let Err(e) = parse_args(["--bogus"]) else {
            panic!()
        };
        assert_eq!(e.0, "unknown option `--bogus`");
    }
}
