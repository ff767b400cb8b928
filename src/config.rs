//! Configuration: heartbeat, reconnect policy, limits, headers, timeouts. Validated as a whole
//! by [`crate::ClientBuilder::connect`] before anything starts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::error::Error;
pub(crate) use crate::limits::Limits;
use crate::limits::{MAX_BACKOFF_FACTOR, MAX_DURATION, MS, in_range};
use crate::message::Message;
use crate::tls::TlsOptions;

/// Builds a heartbeat message (custom heartbeat mode).
pub type PayloadFn = Arc<dyn Fn() -> Message + Send + Sync>;
/// Decides whether a received message is the heartbeat reply (custom heartbeat mode).
pub type MatcherFn = Arc<dyn Fn(&Message) -> bool + Send + Sync>;
/// Decides, from a server's close code, whether to reconnect.
pub type CloseCodePredicate = Arc<dyn Fn(u16) -> bool + Send + Sync>;
/// Called on the I/O thread before each connection attempt; may change the URL and headers.
pub type BeforeConnectFn = Arc<dyn Fn(&mut ConnectRequest) + Send + Sync>;

/// How the client proves the peer is alive.
#[derive(Clone)]
#[non_exhaustive]
pub enum HeartbeatMode {
    /// WebSocket ping frames carrying a sequence number; the matching pong gives the RTT.
    Ping,
    /// The seed article's JSON protocol: sends `{"ModeCode":"heart_beat","msg":<unix ms>}`; a
    /// text reply whose `ModeCode` is `"heart_beat"` is the answer (and is not reported as a
    /// message).
    SeedJson,
    /// An application-level heartbeat: `payload` builds the message, `is_reply` recognises the
    /// answer (matched replies are not reported as messages).
    Custom {
        /// Builds each heartbeat message.
        payload: PayloadFn,
        /// Returns true for the heartbeat's reply.
        is_reply: MatcherFn,
    },
    /// No heartbeat: only TCP errors reveal a dead peer.
    Off,
}

impl fmt::Debug for HeartbeatMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeartbeatMode::Ping => "Ping",
            HeartbeatMode::SeedJson => "SeedJson",
            HeartbeatMode::Custom { .. } => "Custom",
            HeartbeatMode::Off => "Off",
        })
    }
}

/// Heartbeat settings.
///
/// The rule: any byte from the peer (or our backed-up upload draining) proves it alive. When nothing was heard for `interval`, a
/// heartbeat is sent; when nothing is heard within `timeout` after it, the peer is declared dead,
/// [`crate::Event::HeartbeatTimeout`] is reported and the connection is dropped at once. A busy
/// connection never sends heartbeats; an idle one wakes once per interval.
///
/// ```
/// use std::time::Duration;
/// use wsbeat::{Client, Event, Heartbeat, Message};
///
/// // WebSocket pings (the default: 20 s / 10 s); the timeout must be shorter than the interval.
/// let ping = Heartbeat::ping(Duration::from_secs(30), Duration::from_secs(10));
/// // The seed protocol's {"ModeCode":"heart_beat",...} messages, answered in kind.
/// let seed = Heartbeat::seed_json(Duration::from_secs(4), Duration::from_secs(2));
/// assert_eq!(seed.interval(), Duration::from_secs(4));
///
/// // An application-level heartbeat: the payload to send and how to recognise the answer
/// // (answers are never delivered as messages; with `pong_events(true)` each is reported as
/// // `Event::Pong`). This server echoes, so the answer to "ping" is "ping".
/// let custom = Heartbeat::custom(
///     Duration::from_millis(100),
///     Duration::from_millis(50),
///     || Message::Text("ping".into()),
///     |reply| matches!(reply, Message::Text(t) if t == "ping"),
/// );
/// # let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
/// # let url = server.url();
/// let client = Client::builder(&url)
///     .heartbeat(custom)
///     .pong_events(true)
///     .connect()?;
/// let events = client.events().unwrap();
/// let mut first_events = events.iter().take(20); // Connecting, Opened, Pong, ...
/// let pong = first_events.find(|event| matches!(event, Event::Pong { .. })).unwrap();
/// println!("{pong:?}"); // Pong { rtt: ... }
/// # Ok::<(), wsbeat::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Heartbeat {
    pub(crate) mode: HeartbeatMode,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl Heartbeat {
    /// WebSocket ping/pong with the given interval and reply timeout.
    pub fn ping(interval: Duration, timeout: Duration) -> Self {
        Heartbeat {
            mode: HeartbeatMode::Ping,
            interval,
            timeout,
        }
    }

    /// The seed article's JSON heartbeat (its demo uses 4 s and 2 s).
    pub fn seed_json(interval: Duration, timeout: Duration) -> Self {
        Heartbeat {
            mode: HeartbeatMode::SeedJson,
            interval,
            timeout,
        }
    }

    /// A custom application heartbeat.
    pub fn custom(
        interval: Duration,
        timeout: Duration,
        payload: impl Fn() -> Message + Send + Sync + 'static,
        is_reply: impl Fn(&Message) -> bool + Send + Sync + 'static,
    ) -> Self {
        Heartbeat {
            mode: HeartbeatMode::Custom {
                payload: Arc::new(payload),
                is_reply: Arc::new(is_reply),
            },
            interval,
            timeout,
        }
    }

    /// No heartbeat.
    pub fn off() -> Self {
        Heartbeat {
            mode: HeartbeatMode::Off,
            interval: Duration::ZERO,
            timeout: Duration::ZERO,
        }
    }

    /// The mode.
    pub fn mode(&self) -> &HeartbeatMode {
        &self.mode
    }
    /// Time without hearing from the peer before a heartbeat is sent.
    pub fn interval(&self) -> Duration {
        self.interval
    }
    /// Time to wait for any frame after a heartbeat before declaring the peer dead.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn validate(&self) -> Result<(), Error> {
        if matches!(self.mode, HeartbeatMode::Off) {
            return Ok(());
        }
        in_range("heartbeat interval", self.interval, MS, MAX_DURATION)?;
        in_range("heartbeat timeout", self.timeout, MS, MAX_DURATION)?;
        if self.timeout >= self.interval {
            return Err(Error::InvalidConfig(format!(
                "heartbeat timeout ({:?}) must be shorter than the interval ({:?})",
                self.timeout, self.interval
            )));
        }
        Ok(())
    }
}

impl Default for Heartbeat {
    /// Ping every 20 s, declare the peer dead 10 s after an unanswered ping.
    fn default() -> Self {
        Heartbeat::ping(Duration::from_secs(20), Duration::from_secs(10))
    }
}

/// The reconnect policy: exponential backoff with jitter, optional attempt limit, reset after
/// a connection stayed up for `min_uptime`.
///
/// The delay before attempt `n` (1-based) is `min(max, initial * factor^(n-1))`, then reduced
/// by a random fraction of up to `jitter` (so with jitter 0.5 it lies in `[d/2, d]`). Exactly one
/// place decides what follows a failure: one failure, one decision, one attempt.
///
/// Which failures are retried (the defaults):
/// - connect, DNS, handshake, HTTP status, I/O errors, heartbeat timeouts: retried;
/// - server close codes: retried except 1002, 1003, 1007, 1008 and 1010 (the server rejects
///   what this client sends: a retry would repeat it). Change with
///   [`Reconnect::reconnect_on_close`];
/// - TLS certificate failures: not retried unless [`Reconnect::retry_certificate_errors`];
/// - a server hint wins over the schedule: HTTP 429/503 with `Retry-After` waits at least
///   that long (capped by `retry_after_cap`); close 1012 (service restart) restarts the
///   schedule at `initial`; close 1013 (try again later) waits `max`.
///
/// ```
/// use std::time::Duration;
/// use wsbeat::Reconnect;
///
/// // The default: 500 ms doubling up to 30 s, jitter 0.5, forever.
/// let default = Reconnect::exponential();
/// // Tuned: give up after 10 failures in a row, and never retry the application's own
/// // "kicked out" close code 4001 (1002, 1003, 1007, 1008 and 1010 stay refused too).
/// let tuned = Reconnect::exponential()
///     .initial(Duration::from_secs(1))
///     .max(Duration::from_secs(60))
///     .jitter(0.2)
///     .max_attempts(Some(10))
///     .reconnect_on_close(|code| {
///         code != 4001 && wsbeat::default_reconnect_on_close(code)
///     });
/// assert!(default.retries_close_code(4001));
/// assert!(!tuned.retries_close_code(4001));
/// assert!(!tuned.retries_close_code(1008));
/// assert!(tuned.retries_close_code(1012)); // service restart: reconnect
///
/// // The seed's fixed 3 s delay; or no reconnection at all.
/// let fixed = Reconnect::fixed(Duration::from_secs(3));
/// assert!(fixed.enabled() && !Reconnect::disabled().enabled());
/// ```
#[derive(Clone)]
pub struct Reconnect {
    pub(crate) enabled: bool,
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    pub(crate) factor: f64,
    pub(crate) jitter: f64,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) min_uptime: Duration,
    pub(crate) retry_after_cap: Duration,
    pub(crate) retry_certificate_errors: bool,
    pub(crate) on_close: Option<CloseCodePredicate>,
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("enabled", &self.enabled)
            .field("initial", &self.initial)
            .field("max", &self.max)
            .field("factor", &self.factor)
            .field("jitter", &self.jitter)
            .field("max_attempts", &self.max_attempts)
            .field("min_uptime", &self.min_uptime)
            .finish_non_exhaustive()
    }
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect::exponential()
    }
}

impl Reconnect {
    /// Exponential backoff: initial 500 ms, max 30 s, factor 2, jitter 0.5, no attempt limit,
    /// min uptime 5 s.
    pub fn exponential() -> Self {
        Reconnect {
            enabled: true,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.5,
            max_attempts: None,
            min_uptime: Duration::from_secs(5),
            retry_after_cap: Duration::from_secs(300),
            retry_certificate_errors: false,
            on_close: None,
        }
    }

    /// The seed's behaviour: a fixed delay, no jitter, forever (its demo uses 3 s).
    pub fn fixed(delay: Duration) -> Self {
        Reconnect {
            initial: delay,
            max: delay,
            factor: 1.0,
            jitter: 0.0,
            ..Reconnect::exponential()
        }
    }

    /// Never reconnect: the client stops when the connection ends (the seed's
    /// `isReconnect = false`).
    pub fn disabled() -> Self {
        Reconnect {
            enabled: false,
            ..Reconnect::exponential()
        }
    }

    /// First delay. Defaults to 500 ms.
    pub fn initial(mut self, d: Duration) -> Self {
        self.initial = d;
        self
    }
    /// Largest delay. Defaults to 30 s.
    pub fn max(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }
    /// Growth factor per attempt (>= 1). Defaults to 2.
    pub fn factor(mut self, f: f64) -> Self {
        self.factor = f;
        self
    }
    /// Random reduction of each delay, 0 (none) to 1 (full jitter). Defaults to 0.5.
    pub fn jitter(mut self, j: f64) -> Self {
        self.jitter = j;
        self
    }
    /// Stop after this many consecutive failed attempts (`None`: never). Defaults to `None`.
    pub fn max_attempts(mut self, n: Option<u32>) -> Self {
        self.max_attempts = n;
        self
    }
    /// A connection that stayed open this long resets the schedule. Defaults to 5 s.
    pub fn min_uptime(mut self, d: Duration) -> Self {
        self.min_uptime = d;
        self
    }
    /// Longest `Retry-After` honoured. Defaults to 300 s.
    pub fn retry_after_cap(mut self, d: Duration) -> Self {
        self.retry_after_cap = d;
        self
    }
    /// Retry when the server's certificate is rejected. Defaults to false.
    pub fn retry_certificate_errors(mut self, yes: bool) -> Self {
        self.retry_certificate_errors = yes;
        self
    }
    /// Decide from a server close code whether to reconnect (replaces the default, see above).
    pub fn reconnect_on_close(mut self, f: impl Fn(u16) -> bool + Send + Sync + 'static) -> Self {
        self.on_close = Some(Arc::new(f));
        self
    }

    /// Turn reconnection on or off, keeping the schedule (`disabled()` is `exponential()`
    /// with this off). Defaults to on.
    pub fn enable(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Whether reconnection is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether a server close with `code` is retried under this policy.
    pub fn retries_close_code(&self, code: u16) -> bool {
        match &self.on_close {
            Some(f) => f(code),
            None => default_reconnect_on_close(code),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        in_range("reconnect initial delay", self.initial, MS, MAX_DURATION)?;
        in_range("reconnect max delay", self.max, MS, MAX_DURATION)?;
        in_range(
            "reconnect min uptime",
            self.min_uptime,
            Duration::ZERO,
            MAX_DURATION,
        )?;
        in_range(
            "reconnect retry-after cap",
            self.retry_after_cap,
            Duration::ZERO,
            MAX_DURATION,
        )?;
        if self.max < self.initial {
            return Err(Error::InvalidConfig(
                "reconnect max delay must be >= the initial delay".into(),
            ));
        }
        if !(self.factor.is_finite() && (1.0..=MAX_BACKOFF_FACTOR).contains(&self.factor)) {
            return Err(Error::InvalidConfig(format!(
                "reconnect factor = {} is out of range (1..={MAX_BACKOFF_FACTOR})",
                self.factor
            )));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::InvalidConfig(
                "reconnect jitter must be within 0..=1".into(),
            ));
        }
        if self.max_attempts == Some(0) {
            return Err(Error::InvalidConfig(
                "reconnect max_attempts must be >= 1 (use Reconnect::disabled())".into(),
            ));
        }
        Ok(())
    }
}

/// The default close-code policy: reconnect unless the server says this client's traffic is
/// the problem (1002 protocol error, 1003 unsupported data, 1007 invalid payload, 1008 policy
/// violation, 1010 missing extension).
pub fn default_reconnect_on_close(code: u16) -> bool {
    !matches!(code, 1002 | 1003 | 1007 | 1008 | 1010)
}

/// What a connection attempt uses; [`crate::ClientBuilder::before_connect`] may change it.
///
/// Its `Debug` output shows the URL without credentials and the header names without their
/// values (like the client's configuration), so it is safe to log.
#[derive(Clone)]
#[non_exhaustive]
pub struct ConnectRequest {
    /// The URL to connect to; read with [`ConnectRequest::url`], change with
    /// [`ConnectRequest::set_url`] (which checks it).
    pub(crate) url: Url,
    /// Extra request headers (name, value). Values may carry secrets: they never appear in
    /// logs or in this type's `Debug`.
    pub headers: Vec<(String, String)>,
    /// 0 for the first connect, then the reconnect attempt number.
    pub attempt: u32,
    /// Which configured endpoint this attempt is for (0: the builder's URL, then each
    /// [`crate::ClientBuilder::endpoint`] in order); `url` starts as that endpoint's URL.
    pub(crate) endpoint: usize,
}

impl ConnectRequest {
    /// The URL this attempt connects to (`ws://` or `wss://`), credentials included.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The index of the configured endpoint this attempt was chosen for: 0 for the URL given
    /// to [`crate::Client::builder`], 1.. for each [`crate::ClientBuilder::endpoint`] in the
    /// order added. [`ConnectRequest::url`] starts as that endpoint's URL; changing it with
    /// [`ConnectRequest::set_url`] does not change this index (nor the rotation: the next
    /// attempt after a failure still moves to the next configured endpoint).
    pub fn endpoint(&self) -> usize {
        self.endpoint
    }

    /// Connect this attempt to `url` instead.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] (the request is unchanged) when `url` does not parse, has no
    /// host, or has a scheme other than `ws`/`wss`.
    pub fn set_url(&mut self, url: &str) -> Result<(), Error> {
        self.url = parse_url(url)?;
        Ok(())
    }
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("url", &crate::redact::redact_parsed(&self.url))
            .field("headers", &header_names(&self.headers))
            .field("attempt", &self.attempt)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// The names of `headers`, for `Debug` output that must not show their values.
fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|h| h.0.as_str()).collect()
}

/// The whole configuration of a client (built by [`crate::ClientBuilder`]).
#[derive(Clone)]
pub(crate) struct Config {
    /// The endpoints in rotation order (never empty): the builder's URL, then each
    /// `ClientBuilder::endpoint`.
    pub(crate) endpoints: Vec<Url>,
    pub(crate) heartbeat: Heartbeat,
    pub(crate) reconnect: Reconnect,
    pub(crate) limits: Limits,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) compression: crate::deflate::Compression,
    pub(crate) tls: TlsOptions,
    pub(crate) proxy: crate::Proxy,
    pub(crate) resolver: crate::resolve::Resolver,
    pub(crate) before_connect: Option<BeforeConnectFn>,
    /// Report heartbeat answers as `Event::Pong` in channel mode
    /// (`ClientBuilder::pong_events`).
    pub(crate) pong_events: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "endpoints",
                &self
                    .endpoints
                    .iter()
                    .map(crate::redact::redact_parsed)
                    .collect::<Vec<_>>(),
            )
            .field("heartbeat", &self.heartbeat)
            .field("reconnect", &self.reconnect)
            .field("limits", &self.limits)
            .field("headers", &header_names(&self.headers))
            .field("subprotocols", &self.subprotocols)
            .field("proxy", &self.proxy)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// Checks a WebSocket URL: it parses, has the `ws` or `wss` scheme and a host (the check
/// [`ClientBuilder::connect`](crate::ClientBuilder::connect) makes).
///
/// # Errors
/// [`Error::InvalidUrl`] saying what is wrong.
pub fn check_url(url: &str) -> Result<(), Error> {
    parse_url(url).map(drop)
}

/// Parses and checks a WebSocket URL: `ws` or `wss` scheme, a host.
pub(crate) fn parse_url(url: &str) -> Result<Url, Error> {
    let parsed = Url::parse(url).map_err(|e| Error::InvalidUrl(format!("{e}")))?;
    check_parsed_url(&parsed)?;
    Ok(parsed)
}

pub(crate) fn check_parsed_url(url: &Url) -> Result<(), Error> {
    match url.scheme() {
        "ws" | "wss" => {}
        other => {
            return Err(Error::InvalidUrl(format!(
                "unsupported scheme `{other}` (expected ws or wss)"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidUrl("missing host".into()));
    }
    Ok(())
}

/// Checks that `name: value` is a header wsbeat can send (a valid HTTP header name and a
/// value without control characters): the check [`ClientBuilder::connect`](crate::ClientBuilder::connect) makes for
/// every [`header`](crate::ClientBuilder::header), for callers (the C ABI) that want the error at once.
///
/// # Errors
/// [`Error::InvalidHeader`] naming the header (never its value).
pub fn check_header(name: &str, value: &str) -> Result<(), Error> {
    tungstenite::http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::InvalidHeader(format!("bad header name `{name}`")))?;
    tungstenite::http::HeaderValue::from_str(value)
        .map_err(|_| Error::InvalidHeader(format!("bad value for header `{name}`")))?;
    Ok(())
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.endpoints.is_empty() {
            return Err(Error::InvalidUrl("no endpoint".into()));
        }
        for url in &self.endpoints {
            check_parsed_url(url)?;
        }
        self.heartbeat.validate()?;
        self.reconnect.validate()?;
        self.limits.validate()?;
        for (k, v) in &self.headers {
            check_header(k, v)?;
        }
        for p in &self.subprotocols {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                return Err(Error::InvalidHeader(format!("bad subprotocol `{p}`")));
            }
        }
        self.compression.validate().map_err(Error::InvalidConfig)?;
        // TLS options are checked where they are built, once: IoLoop::new, still before
        // connect() starts anything.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
