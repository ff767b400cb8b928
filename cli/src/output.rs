//! What the user sees: human status lines on stderr (coloured on a terminal, with a live
//! backoff countdown), received messages on stdout, or with `--json` one JSON object per event.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wsbeat::{CloseInitiator, Event, Message, StopReason};

/// A URL as the tool shows it anywhere (status lines, JSON, warnings): without user name and
/// password. The library's own redaction, so the CLI, its log and `--json` agree.
pub(crate) fn shown_url(url: &str) -> String {
    wsbeat::redact_url(url)
}

/// `HH:MM:SS.mmm` (UTC) of now.
pub(crate) fn timestamp() -> String {
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

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn base64(data: &[u8]) -> String {
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

pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A duration for humans: `850ms`, `2.0s`, `1m05s`.
pub(crate) fn human(d: Duration) -> String {
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

pub(crate) fn message_json(m: &Message) -> Value {
    match m {
        Message::Text(t) => json!({ "text": t }),
        Message::Binary(b) => json!({ "base64": base64(b) }),
    }
}

/// An event as one JSON object (the `--json` format).
pub(crate) fn event_json(ev: &Event) -> Value {
    let mut v = match ev {
        Event::Connecting { attempt, endpoint } => {
            json!({ "attempt": attempt, "endpoint": endpoint })
        }
        Event::Opened {
            reconnect,
            attempt,
            protocol,
            endpoint,
            compression,
        } => json!({
            "reconnect": reconnect,
            "attempt": attempt,
            "protocol": protocol,
            "endpoint": endpoint,
            "compression": compression,
        }),
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

pub(crate) fn initiator_name(i: CloseInitiator) -> &'static str {
    i.as_str()
}

/// Orders the keys of an event object: `event` first, `ts` last (serde_json sorts otherwise).
pub(crate) fn json_line(v: &Value) -> String {
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

pub(crate) const RESET: &str = "\x1b[0m";
pub(crate) const BOLD: &str = "\x1b[1m";
pub(crate) const DIM: &str = "\x1b[2m";
pub(crate) const RED: &str = "\x1b[31m";
pub(crate) const GREEN: &str = "\x1b[32m";
pub(crate) const YELLOW: &str = "\x1b[33m";
pub(crate) const MAGENTA: &str = "\x1b[35m";
pub(crate) const CYAN: &str = "\x1b[36m";

pub(crate) struct Countdown {
    attempt: u32,
    delay: Duration,
    deadline: Instant,
    /// When the reconnect was scheduled.
    stamp: String,
}

/// Writes events: human status lines on stderr (with a live backoff countdown on a tty), or
/// JSON lines on stdout; received messages on stdout.
pub(crate) struct Printer {
    pub(crate) json: bool,
    pub(crate) tty: bool,
    /// The endpoints' URLs as shown: through [`shown_url`] (no user name or password).
    urls: Vec<String>,
    /// The backoff countdown on a tty; while set, its line is open (no newline yet).
    countdown: Option<Countdown>,
    /// Stdout is gone (e.g. `| head`): stop writing to it.
    pub(crate) stdout_broken: bool,
}

impl Printer {
    /// A printer for the client of `urls` (its endpoints, shown without their credentials).
    pub(crate) fn new(json: bool, tty: bool, urls: &[&str]) -> Printer {
        Printer {
            json,
            tty,
            urls: urls.iter().map(|u| shown_url(u)).collect(),
            countdown: None,
            stdout_broken: false,
        }
    }

    pub(crate) fn status(&mut self, color: &str, text: &str) {
        self.end_countdown();
        let line = if self.tty {
            format!("{DIM}{}{RESET} {color}{text}{RESET}", timestamp())
        } else {
            format!("{} {text}", timestamp())
        };
        let _ = writeln!(io::stderr(), "{line}");
    }

    pub(crate) fn out(&mut self, bytes: &[u8]) {
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
    pub(crate) fn next_tick(&self) -> Option<Instant> {
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

    pub(crate) fn tick(&mut self) {
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

    pub(crate) fn event(&mut self, ev: &Event) {
        if self.json {
            let line = json_line(&event_json(ev));
            self.out(line.as_bytes());
            return;
        }
        match ev {
            Event::Connecting { attempt, endpoint } => {
                let url = self.urls.get(*endpoint).map_or("?", String::as_str);
                let mut text = format!("connecting to {url}");
                if *attempt > 0 {
                    let _ = write!(text, " (attempt {attempt})");
                }
                self.status(CYAN, &text);
            }
            Event::Opened {
                reconnect,
                attempt,
                protocol,
                endpoint,
                compression,
            } => {
                let mut text = String::from(if *reconnect { "open again" } else { "open" });
                if self.urls.len() > 1 {
                    let url = self.urls.get(*endpoint).map_or("?", String::as_str);
                    let _ = write!(text, " on {url}");
                }
                if *attempt > 0 {
                    let _ = write!(text, " (attempt {attempt})");
                }
                if let Some(p) = protocol {
                    let _ = write!(text, ", subprotocol {p}");
                }
                if *compression {
                    text.push_str(", permessage-deflate");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn json_lines_put_event_first() {
        let line = json_line(&event_json(&Event::Opened {
            reconnect: true,
            attempt: 2,
            protocol: None,
            endpoint: 1,
            compression: true,
        }));
        assert!(
            line.starts_with(
                r#"{"event":"opened","attempt":2,"compression":true,"endpoint":1,"protocol":null,"reconnect":true,"ts":"#
            ),
            "{line}"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["reconnect"], json!(true));
    }
}
