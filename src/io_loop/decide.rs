//! How a connection (or a connection attempt) ended, and the one decision of what follows:
//! stop, or reconnect after which delay. The delays themselves are the backoff rule
//! (`crate::backoff`); which close codes are retried is the reconnect policy
//! (`crate::config::Reconnect`).

use std::time::Duration;

use tungstenite::Message as WsMessage;

use super::IoLoop;
use crate::backoff::Hint;
use crate::event::{CloseInitiator, Event, StopReason};
use crate::outbox::to_public;

/// How a connection or an attempt ended, and what the policy needs to know about it. Built
/// by the constructors below, one per way of ending; never changed after.
pub(super) struct Failure {
    /// Whether a connection had opened (then a `Closed` event is due).
    opened: bool,
    /// Ended by the user's `close()`: the client stops.
    user_closed: bool,
    code: u16,
    reason: String,
    initiator: CloseInitiator,
    retry: bool,
    hint: Hint,
    /// Reconnect at once (`reconnect_now`), without a delay or an attempt limit.
    immediate: bool,
    unconfirmed: Vec<WsMessage>,
}

impl Failure {
    /// A connection attempt failed (nothing was open).
    pub(super) fn attempt(retry: bool, hint: Hint) -> Self {
        Failure {
            opened: false,
            user_closed: false,
            code: 1006,
            reason: String::new(),
            initiator: CloseInitiator::Abnormal,
            retry,
            hint,
            immediate: false,
            unconfirmed: Vec::new(),
        }
    }

    /// An open connection ended without a close handshake (lost, heartbeat timeout).
    pub(super) fn abnormal(reason: &str, unconfirmed: Vec<WsMessage>) -> Self {
        Self::error(1006, reason, unconfirmed)
    }

    /// An open connection failed with an error; `code` is the close code it stands for (1006,
    /// or the 100x code sent to the server for a protocol or size violation).
    pub(super) fn error(code: u16, reason: &str, unconfirmed: Vec<WsMessage>) -> Self {
        Failure {
            opened: true,
            user_closed: false,
            code,
            reason: reason.into(),
            initiator: CloseInitiator::Abnormal,
            retry: true,
            hint: Hint::None,
            immediate: false,
            unconfirmed,
        }
    }

    /// The server closed with `code`; `retry` is the policy's answer for that code.
    pub(super) fn remote_close(
        code: u16,
        reason: String,
        retry: bool,
        unconfirmed: Vec<WsMessage>,
    ) -> Self {
        let hint = match code {
            1012 => Hint::Restart,
            1013 => Hint::TryLater,
            _ => Hint::None,
        };
        Failure {
            opened: true,
            user_closed: false,
            code,
            reason,
            initiator: CloseInitiator::Remote,
            retry,
            hint,
            immediate: false,
            unconfirmed,
        }
    }

    /// `reconnect_now()` dropped an open connection.
    pub(super) fn reconnect_requested(unconfirmed: Vec<WsMessage>) -> Self {
        Failure {
            opened: true,
            user_closed: false,
            code: 1000,
            reason: "reconnect requested".into(),
            initiator: CloseInitiator::Local,
            retry: true,
            hint: Hint::None,
            immediate: true,
            unconfirmed,
        }
    }

    /// The user's `close()` ended an open connection (`code`, `reason` as requested).
    pub(super) fn user_closed(code: u16, reason: String, unconfirmed: Vec<WsMessage>) -> Self {
        Failure {
            opened: true,
            user_closed: true,
            code,
            reason,
            initiator: CloseInitiator::Local,
            retry: false,
            hint: Hint::None,
            immediate: false,
            unconfirmed,
        }
    }

    /// The close code and reason, as `Stats::last_close_*` reports them.
    pub(super) fn close(&self) -> (u16, String) {
        (self.code, self.reason.clone())
    }

    /// The `Closed` event for a connection that had opened (`None` for a failed attempt).
    pub(super) fn closed_event(self, will_reconnect: bool) -> Option<Event> {
        self.opened.then(|| Event::Closed {
            code: self.code,
            reason: self.reason,
            initiator: self.initiator,
            will_reconnect,
            unconfirmed: self.unconfirmed.into_iter().filter_map(to_public).collect(),
        })
    }
}

/// Why connecting stopped short of an open connection.
pub(super) enum Abort {
    /// The user closed meanwhile.
    Close,
    Failed(Failure),
}

/// How an open connection's loop ended.
pub(super) enum End {
    /// Our close handshake finished (or gave up): `IoLoop::run_open` builds the failure.
    UserClosed,
    Lost(Failure),
}

impl IoLoop {
    /// The one place that decides what follows a failure: `Ok((attempt, delay))` to
    /// reconnect, `Err(reason)` to stop.
    pub(super) fn decide(&mut self, f: &Failure) -> Result<(u32, Duration), StopReason> {
        if f.user_closed {
            return Err(StopReason::Closed);
        }
        if f.immediate {
            self.backoff.connection_lasted(Duration::MAX);
            let (n, _) = self
                .backoff
                .next_delay(Hint::None)
                .unwrap_or((1, Duration::ZERO));
            return Ok((n, Duration::ZERO));
        }
        if !self.cfg.reconnect.enabled {
            return Err(StopReason::ReconnectDisabled);
        }
        if !f.retry {
            return Err(StopReason::PolicyDeclined);
        }
        let attempts = self.backoff.attempt();
        self.backoff
            .next_delay(f.hint)
            .ok_or(StopReason::MaxAttempts(attempts))
    }
}
