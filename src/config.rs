//! Configuration: heartbeat, reconnect policy, limits, headers, timeouts. Validated as a whole
//! by [`crate::ClientBuilder::connect`] before anything starts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::error::Error;
use crate::event::Message;
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
/// The rule: any frame from the peer proves it alive. When nothing was heard for `interval`, a
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
/// // (answers are reported as `Event::Pong`, not as messages). This server echoes, so the
/// // answer to "ping" is "ping".
/// let custom = Heartbeat::custom(
///     Duration::from_millis(100),
///     Duration::from_millis(50),
///     || Message::Text("ping".into()),
///     |reply| matches!(reply, Message::Text(t) if t == "ping"),
/// );
/// # let server = wsbeat_testkit::server::EchoServer::start("127.0.0.1:0").unwrap();
/// # let url = server.url();
/// let client = Client::builder(&url).heartbeat(custom).connect()?;
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
        if self.interval.is_zero() {
            return Err(Error::InvalidConfig(
                "heartbeat interval must be > 0".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig("heartbeat timeout must be > 0".into()));
        }
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
        if self.initial.is_zero() {
            return Err(Error::InvalidConfig(
                "reconnect initial delay must be > 0".into(),
            ));
        }
        if self.max < self.initial {
            return Err(Error::InvalidConfig(
                "reconnect max delay must be >= the initial delay".into(),
            ));
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(Error::InvalidConfig("reconnect factor must be >= 1".into()));
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
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The URL to connect to (`ws://` or `wss://`).
    pub url: Url,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// 0 for the first connect, then the reconnect attempt number.
    pub attempt: u32,
}

/// Bounds on memory and time.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_message_size: usize,
    pub(crate) outbox_max_messages: usize,
    pub(crate) outbox_max_bytes: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) event_capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 << 20,
            outbox_max_messages: 4096,
            outbox_max_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            event_capacity: 256,
        }
    }
}

/// The whole configuration of a client (built by [`crate::ClientBuilder`]).
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) url: Url,
    pub(crate) heartbeat: Heartbeat,
    pub(crate) reconnect: Reconnect,
    pub(crate) limits: Limits,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) tls: TlsOptions,
    pub(crate) before_connect: Option<BeforeConnectFn>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &crate::log_util::redact_parsed(&self.url))
            .field("heartbeat", &self.heartbeat)
            .field("reconnect", &self.reconnect)
            .field("limits", &self.limits)
            .field(
                "headers",
                &self.headers.iter().map(|h| &h.0).collect::<Vec<_>>(),
            )
            .field("subprotocols", &self.subprotocols)
            .finish_non_exhaustive()
    }
}

/// Parses and checks a WebSocket URL: `ws` or `wss` scheme, a host.
pub fn parse_url(url: &str) -> Result<Url, Error> {
    let parsed = Url::parse(url).map_err(|e| Error::InvalidUrl(format!("{e}")))?;
    check_url(&parsed)?;
    Ok(parsed)
}

pub(crate) fn check_url(url: &Url) -> Result<(), Error> {
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
        check_url(&self.url)?;
        self.heartbeat.validate()?;
        self.reconnect.validate()?;
        let l = &self.limits;
        if l.max_message_size == 0 {
            return Err(Error::InvalidConfig("max_message_size must be > 0".into()));
        }
        if l.outbox_max_messages == 0 || l.outbox_max_bytes == 0 {
            return Err(Error::InvalidConfig("outbox limits must be > 0".into()));
        }
        if l.connect_timeout.is_zero() {
            return Err(Error::InvalidConfig("connect_timeout must be > 0".into()));
        }
        if l.close_timeout.is_zero() {
            return Err(Error::InvalidConfig("close_timeout must be > 0".into()));
        }
        if l.event_capacity == 0 {
            return Err(Error::InvalidConfig(
                "event channel capacity must be > 0".into(),
            ));
        }
        for (k, v) in &self.headers {
            check_header(k, v)?;
        }
        for p in &self.subprotocols {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                return Err(Error::InvalidHeader(format!("bad subprotocol `{p}`")));
            }
        }
        // TLS options are checked where they are built, once: IoLoop::new, still before
        // connect() starts anything.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("ws://127.0.0.1:8002/").is_ok());
        assert!(parse_url("wss://example.com/x?y=1").is_ok());
        assert!(
            matches!(parse_url("http://x/"), Err(Error::InvalidUrl(m)) if m.contains("scheme"))
        );
        assert!(matches!(parse_url("not a url"), Err(Error::InvalidUrl(_))));
        assert!(matches!(parse_url("ws://"), Err(Error::InvalidUrl(_))));
    }

    #[test]
    fn heartbeat_timeout_must_be_shorter() {
        let hb = Heartbeat::ping(Duration::from_millis(100), Duration::from_millis(100));
        assert!(matches!(hb.validate(), Err(Error::InvalidConfig(m)) if m.contains("shorter")));
        assert!(
            Heartbeat::ping(Duration::ZERO, Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(Heartbeat::off().validate().is_ok());
        assert!(
            Heartbeat::seed_json(Duration::from_secs(4), Duration::from_secs(2))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn reconnect_values_are_checked() {
        assert!(Reconnect::exponential().validate().is_ok());
        assert!(Reconnect::exponential().factor(0.5).validate().is_err());
        assert!(
            Reconnect::exponential()
                .factor(f64::NAN)
                .validate()
                .is_err()
        );
        assert!(Reconnect::exponential().jitter(1.5).validate().is_err());
        assert!(
            Reconnect::exponential()
                .initial(Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(
            Reconnect::exponential()
                .max(Duration::from_millis(1))
                .validate()
                .is_err()
        );
        assert!(
            Reconnect::exponential()
                .max_attempts(Some(0))
                .validate()
                .is_err()
        );
        assert!(
            Reconnect::disabled()
                .initial(Duration::ZERO)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn default_close_policy() {
        for code in [1000, 1001, 1006, 1011, 1012, 1013, 4000] {
            assert!(default_reconnect_on_close(code), "{code}");
        }
        for code in [1002, 1003, 1007, 1008, 1010] {
            assert!(!default_reconnect_on_close(code), "{code}");
        }
        let r = Reconnect::exponential().reconnect_on_close(|c| c < 4000);
        assert!(r.retries_close_code(1008));
        assert!(!r.retries_close_code(4001));
    }

    #[test]
    fn headers_are_checked() {
        assert!(check_header("Authorization", "Bearer x").is_ok());
        assert!(check_header("bad name", "x").is_err());
        assert!(check_header("X-A", "line\nbreak").is_err());
    }
}
