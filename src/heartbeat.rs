//! Heartbeat and dead-peer detection as a pure state machine driven by `Instant`s, so the I/O
//! loop only asks "when must I wake?" and "what is due now?".

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Heartbeat, HeartbeatMode};
use crate::message::Message;

/// What the I/O loop must do now.
#[derive(Debug, PartialEq)]
pub(crate) enum Due {
    /// Nothing yet.
    Nothing,
    /// Send this heartbeat (a ping payload or an application message).
    Send(Outgoing),
    /// The peer has been silent for this long after a heartbeat: it is dead.
    TimedOut(Duration),
}

/// A heartbeat to put on the wire.
#[derive(Debug, PartialEq)]
pub(crate) enum Outgoing {
    /// A WebSocket ping with this payload.
    Ping(Vec<u8>),
    /// An application message.
    Message(Message),
}

/// A heartbeat answered: which one, and its round trip. The peer has read everything written
/// before heartbeat `seq`.
#[derive(Debug, PartialEq, Clone, Copy)]
pub(crate) struct Answer {
    pub(crate) seq: u64,
    pub(crate) rtt: Duration,
}

/// What a received frame turned out to be, for the heartbeat.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// Not a heartbeat reply: deliver it.
    NotReply,
    /// The reply to our heartbeat: its number and RTT if it matched the outstanding one.
    Reply(Option<Answer>),
}

pub(crate) struct HeartbeatState {
    config: Heartbeat,
    last_heard: Instant,
    /// Set while a heartbeat is unanswered: when the peer will be declared dead.
    dead_at: Option<Instant>,
    /// The outstanding heartbeat: its sequence number (ping mode) and when it was sent.
    outstanding: Option<(u64, Instant)>,
    seq: u64,
}

/// The seed's heartbeat message: `{"ModeCode":"heart_beat","msg":<unix ms>}`.
pub fn seed_heartbeat_message() -> Message {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Message::Text(format!(r#"{{"ModeCode":"heart_beat","msg":{ms}}}"#))
}

/// Whether `text` is a seed-protocol heartbeat reply (`ModeCode` is `"heart_beat"`).
pub fn is_seed_heartbeat_reply(text: &str) -> bool {
    // Cheap pre-check so ordinary traffic is not JSON-parsed.
    if !text.contains("heart_beat") {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("ModeCode")
                .and_then(|m| m.as_str())
                .map(|m| m == "heart_beat")
        })
        .unwrap_or(false)
}

impl HeartbeatState {
    pub(crate) fn new(config: Heartbeat, now: Instant) -> Self {
        HeartbeatState {
            config,
            last_heard: now,
            dead_at: None,
            outstanding: None,
            seq: 0,
        }
    }

    fn enabled(&self) -> bool {
        !matches!(self.config.mode, HeartbeatMode::Off)
    }

    /// The next instant at which [`HeartbeatState::poll`] has something to do. `ack_at`: when
    /// the I/O loop wants written messages confirmed (a heartbeat is then sent even on a
    /// connection that keeps hearing from the peer).
    pub(crate) fn next_deadline(&self, ack_at: Option<Instant>) -> Option<Instant> {
        if !self.enabled() {
            return None;
        }
        if let Some(dead_at) = self.dead_at {
            return Some(dead_at);
        }
        let due = self.last_heard + self.config.interval;
        Some(self.ack_deadline(ack_at).map_or(due, |a| a.min(due)))
    }

    /// When a heartbeat for `ack_at` may go out: not before the one already outstanding is
    /// answered or, unanswered, has been out for `timeout` (a peer that keeps talking but
    /// answers slowly would otherwise get a new heartbeat on every turn, and no answer would
    /// ever match the newest one).
    fn ack_deadline(&self, ack_at: Option<Instant>) -> Option<Instant> {
        let ack_at = ack_at?;
        Some(match self.outstanding {
            Some((_, sent)) => ack_at.max(sent + self.config.timeout),
            None => ack_at,
        })
    }

    /// Whether heartbeats are on (and so can confirm what was written).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled()
    }

    /// The number of the last heartbeat sent (0 before the first).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Any frame from the peer proves it alive.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.dead_at = None;
    }

    /// What is due at `now` (`ack_at` as for [`HeartbeatState::next_deadline`]).
    pub(crate) fn poll(&mut self, now: Instant, ack_at: Option<Instant>) -> Due {
        if !self.enabled() {
            return Due::Nothing;
        }
        if let Some(dead_at) = self.dead_at {
            if now >= dead_at {
                return Due::TimedOut(now.saturating_duration_since(self.last_heard));
            }
            return Due::Nothing;
        }
        let ack_at = self.ack_deadline(ack_at);
        if now < self.last_heard + self.config.interval && ack_at.is_none_or(|a| now < a) {
            return Due::Nothing;
        }
        self.seq += 1;
        self.outstanding = Some((self.seq, now));
        self.dead_at = Some(now + self.config.timeout);
        Due::Send(match &self.config.mode {
            HeartbeatMode::Ping => Outgoing::Ping(self.seq.to_be_bytes().to_vec()),
            HeartbeatMode::SeedJson => Outgoing::Message(seed_heartbeat_message()),
            HeartbeatMode::Custom { payload, .. } => Outgoing::Message(payload()),
            HeartbeatMode::Off => unreachable!("checked above"),
        })
    }

    fn take_answer(&mut self, now: Instant, seq: Option<u64>) -> Option<Answer> {
        let (s, sent) = self.outstanding?;
        if seq.is_some_and(|got| got != s) {
            return None;
        }
        self.outstanding = None;
        Some(Answer {
            seq: s,
            rtt: now.saturating_duration_since(sent),
        })
    }

    /// A pong arrived with `payload`; returns the answer if it matches our outstanding ping.
    pub(crate) fn on_pong(&mut self, payload: &[u8], now: Instant) -> Option<Answer> {
        let seq = <[u8; 8]>::try_from(payload).ok().map(u64::from_be_bytes);
        match seq {
            Some(seq) => self.take_answer(now, Some(seq)),
            None => None,
        }
    }

    /// Classify a data message (application heartbeat modes match their replies here).
    pub(crate) fn on_message(&mut self, msg: &Message, now: Instant) -> Reply {
        let is_reply = match (&self.config.mode, msg) {
            (HeartbeatMode::SeedJson, Message::Text(t)) => is_seed_heartbeat_reply(t),
            (HeartbeatMode::Custom { is_reply, .. }, m) => is_reply(m),
            _ => false,
        };
        if is_reply {
            Reply::Reply(self.take_answer(now, None))
        } else {
            Reply::NotReply
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn idle_connection_sends_then_times_out() {
        let t0 = Instant::now();
        let mut h = HeartbeatState::new(Heartbeat::ping(ms(100), ms(50)), t0);
        assert_eq!(h.next_deadline(None), Some(t0 + ms(100)));
        assert_eq!(h.poll(t0 + ms(99), None), Due::Nothing);
        assert_eq!(
            h.poll(t0 + ms(100), None),
            Due::Send(Outgoing::Ping(1u64.to_be_bytes().to_vec()))
        );
        assert_eq!(h.next_deadline(None), Some(t0 + ms(150)));
        assert_eq!(h.poll(t0 + ms(149), None), Due::Nothing);
        assert_eq!(h.poll(t0 + ms(150), None), Due::TimedOut(ms(150)));
    }

    #[test]
    fn any_frame_proves_liveness_and_pong_gives_rtt() {
        let t0 = Instant::now();
        let mut h = HeartbeatState::new(Heartbeat::ping(ms(100), ms(50)), t0);
        h.heard(t0 + ms(90));
        assert_eq!(
            h.poll(t0 + ms(100), None),
            Due::Nothing,
            "busy connection pays nothing"
        );
        let Due::Send(Outgoing::Ping(p)) = h.poll(t0 + ms(190), None) else {
            panic!("expected ping")
        };
        h.heard(t0 + ms(200));
        assert_eq!(
            h.on_pong(&p, t0 + ms(200)),
            Some(Answer {
                seq: 1,
                rtt: ms(10)
            })
        );
        assert_eq!(h.on_pong(&p, t0 + ms(201)), None, "answered once");
        assert_eq!(h.on_pong(b"other", t0 + ms(201)), None);
        assert_eq!(h.next_deadline(None), Some(t0 + ms(300)));
    }

    // Over 80 lines: one JSON-mode scenario (send, reply, stray reply, timeout) read top to
    // bottom; split, its steps would need the shared state passed around.
    #[test]
    fn seed_json_replies_are_matched() {
        let t0 = Instant::now();
        let mut h = HeartbeatState::new(Heartbeat::seed_json(ms(100), ms(50)), t0);
        let Due::Send(Outgoing::Message(Message::Text(sent))) = h.poll(t0 + ms(100), None) else {
            panic!("expected JSON heartbeat")
        };
        assert!(
            sent.starts_with(r#"{"ModeCode":"heart_beat","msg":"#),
            "{sent}"
        );
        let app = Message::Text(r#"{"ModeCode":"message","msg":"heart_beat"}"#.into());
        assert_eq!(h.on_message(&app, t0 + ms(101)), Reply::NotReply);
        let reply = Message::Text(sent);
        assert_eq!(
            h.on_message(&reply, t0 + ms(110)),
            Reply::Reply(Some(Answer {
                seq: 1,
                rtt: ms(10)
            }))
        );
        assert_eq!(
            h.on_message(&Message::Text("not json".into()), t0),
            Reply::NotReply
        );
    }

    #[test]
    fn a_wanted_acknowledgement_sends_a_heartbeat_on_a_busy_connection() {
        let t0 = Instant::now();
        let mut h = HeartbeatState::new(Heartbeat::ping(ms(100), ms(50)), t0);
        h.heard(t0 + ms(40));
        let ack_at = Some(t0 + ms(60));
        assert_eq!(h.next_deadline(ack_at), Some(t0 + ms(60)));
        assert_eq!(h.poll(t0 + ms(59), ack_at), Due::Nothing);
        let Due::Send(Outgoing::Ping(p)) = h.poll(t0 + ms(60), ack_at) else {
            panic!("expected a ping for the acknowledgement")
        };
        assert_eq!(h.seq(), 1);
        assert_eq!(
            h.next_deadline(ack_at),
            Some(t0 + ms(110)),
            "now waiting for the answer"
        );
        h.heard(t0 + ms(70));
        assert_eq!(h.on_pong(&p, t0 + ms(70)).map(|a| a.seq), Some(1));
    }

    #[test]
    fn a_chatty_peer_gets_one_acknowledgement_heartbeat_at_a_time() {
        let t0 = Instant::now();
        let mut h = HeartbeatState::new(Heartbeat::ping(ms(100), ms(50)), t0);
        let ack_at = Some(t0); // wanted at once (a full window), and still wanted after
        let Due::Send(Outgoing::Ping(first)) = h.poll(t0, ack_at) else {
            panic!("expected a ping for the acknowledgement")
        };
        // The peer keeps sending (echoes) before it answers: no second heartbeat meanwhile,
        // and the loop sleeps until the first is answered or overdue (no spinning).
        for t in [1, 10, 30, 49] {
            h.heard(t0 + ms(t));
            assert_eq!(h.poll(t0 + ms(t), ack_at), Due::Nothing, "at {t} ms");
            assert_eq!(h.next_deadline(ack_at), Some(t0 + ms(50)));
        }
        assert_eq!(h.on_pong(&first, t0 + ms(49)).map(|a| a.seq), Some(1));
        assert!(
            matches!(h.poll(t0 + ms(49), ack_at), Due::Send(_)),
            "answered: next one"
        );
        // Unanswered but the peer talks on: after `timeout` another heartbeat may go.
        h.heard(t0 + ms(60));
        assert_eq!(h.poll(t0 + ms(98), ack_at), Due::Nothing);
        assert!(matches!(h.poll(t0 + ms(99), ack_at), Due::Send(_)));
    }

    #[test]
    fn custom_and_off() {
        let t0 = Instant::now();
        let hb = Heartbeat::custom(
            ms(100),
            ms(10),
            || Message::Text("PING".into()),
            |m| m.as_text() == Some("PONG"),
        );
        let mut h = HeartbeatState::new(hb, t0);
        assert_eq!(
            h.poll(t0 + ms(100), None),
            Due::Send(Outgoing::Message(Message::Text("PING".into())))
        );
        assert_eq!(
            h.on_message(&Message::Text("PONG".into()), t0 + ms(105)),
            Reply::Reply(Some(Answer { seq: 1, rtt: ms(5) }))
        );
        let mut off = HeartbeatState::new(Heartbeat::off(), t0);
        assert_eq!(off.next_deadline(None), None);
        assert_eq!(off.poll(t0 + Duration::from_secs(3600), None), Due::Nothing);
    }
}
