//! The I/O thread's life: connect, run the open connection, back off, repeat, then stop.
//! See ARCHITECTURE.md for the picture. The files, by concern:
//!
//! - `mod.rs` (here): the lifecycle, the one place that changes the phase and emits
//!   `Closed`, and the stop (`finish`);
//! - [`connect`]: DNS, TCP, TLS and the WebSocket handshake of one attempt;
//! - [`request`]: the handshake request (headers, subprotocols, URL credentials as Basic auth);
//! - [`open`]: the loop of an open connection (writes, reads, heartbeats);
//! - [`decide`]: how a connection or attempt ended ([`decide::Failure`]) and the one
//!   decision of what follows it (the backoff rule itself is `crate::backoff`);
//! - [`commands`]: the one function that carries out a command in any phase, taking them from
//!   the inbox (`crate::inbox`), and waiting;
//! - [`sink`]: event delivery (callback or channel);
//! - [`direct`]: `send_direct`, which runs on *senders'* threads, not this one.

mod commands;
mod connect;
mod decide;
mod direct;
mod direct_read;
mod incoming;
mod open;
mod proxy_tls;
mod reactor;
mod request;
mod sink;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use tungstenite::protocol::WebSocketConfig;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::event::{Event, StopReason};
use crate::message::Message;
use crate::outbox::{Outbox, to_public};
use crate::runtime::{CatchUnwind, block_on};
use crate::shared::{Command, Shared, State};
use crate::tls::TlsConnector;

pub(crate) use direct::send_direct;
pub(crate) use direct_read::{Direct, DirectReader};
pub(crate) use reactor::Reactor;
pub(crate) use sink::Sink;

use decide::Abort;

/// The I/O thread's state across connections.
pub(crate) struct IoLoop {
    cfg: Config,
    shared: Arc<Shared>,
    sink: Sink,
    reactor: Reactor,
    /// On a runtime: events that found the channel full (the loop may not block its shared
    /// thread); delivered before any later one, and the loop reads no further meanwhile
    /// (`sink.rs`).
    backlog: VecDeque<Event>,
    outbox: Outbox,
    /// Commands taken from the inbox (`shared.inbox`, a batch at a time) and not yet carried
    /// out, in order.
    pending: VecDeque<Command>,
    backoff: Backoff,
    tls: Option<TlsConnector>,
    ws_config: WebSocketConfig,
    ever_opened: bool,
    /// The index in `cfg.endpoints` of the current (or next) attempt's endpoint.
    endpoint: usize,
    close_req: Option<(u16, String)>,
    /// An event went into the channel since the I/O thread last slept.
    delivered: bool,
    /// The poller had an event for the connection's socket since the open loop's last turn
    /// (its reads look at the socket again: `Tcp::poller_event`).
    socket_event: bool,
    /// Set once a close arrived while the event channel was full: the latest time to keep
    /// waiting for room.
    events_give_up: Option<Instant>,
    /// While closing, the events kept aside reached their bound with nobody reading: the
    /// open loop stops reading and ends the close now (see `Sink::keep_aside`).
    overflowed: bool,
}

impl IoLoop {
    pub(crate) fn new(
        cfg: Config,
        shared: Arc<Shared>,
        sink: Sink,
        reactor: Reactor,
    ) -> Result<Self, Error> {
        let tls = if cfg.endpoints.iter().any(|u| u.scheme() == "wss") {
            Some(TlsConnector::new(&cfg.tls)?)
        } else {
            None
        };
        let max = cfg.limits.max_message_size;
        // tungstenite keeps (and zero-fills) a read buffer of this size per connection. On a
        // runtime, where thousands of mostly idle connections share a thread, 4 KiB instead of
        // 16 KiB is 12 KiB less per connection; a large message is read in more calls.
        let read_buffer = match reactor.is_task() {
            true => 4 * 1024,
            false => 16 * 1024,
        };
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(read_buffer)
            .write_buffer_size(64 * 1024)
            .max_write_buffer_size(64 * 1024 + max + 1024)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        Ok(IoLoop {
            backoff: Backoff::new(cfg.reconnect.clone()),
            shared,
            cfg,
            sink,
            reactor,
            backlog: VecDeque::new(),
            outbox: Outbox::default(),
            pending: VecDeque::new(),
            tls,
            ws_config,
            ever_opened: false,
            endpoint: 0,
            close_req: None,
            socket_event: false,
            delivered: false,
            events_give_up: None,
            overflowed: false,
        })
    }

    /// The body of the client's own I/O thread.
    pub(crate) fn run(self) {
        self.shared.mark_io_thread();
        block_on(self.run_async());
    }

    /// The I/O loop from start to stop: on its own thread (`run`) or as a runtime task.
    pub(crate) async fn run_async(mut self) {
        let caught = CatchUnwind::new(self.lifecycle()).await;
        let reason = match caught {
            Ok(r) => r,
            Err(p) => {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                log::error!("wsbeat I/O thread panicked: {what}");
                self.emit(Event::Error {
                    kind: ErrorKind::Internal,
                    message: format!("internal error (the I/O thread panicked): {what}"),
                });
                StopReason::Internal(what)
            }
        };
        self.finish(reason);
        // On a runtime, events that found the channel full are still here: deliver them.
        self.wait_for_room().await;
        let shared = self.shared.clone();
        let on_runtime = self.reactor.is_task();
        drop(self); // drops the callback and its captures before anyone is told we are done
        if !on_runtime {
            shared.mark_done();
        } // else the worker does, once it no longer counts the task (`Runtime::clients`)
    }

    /// Connect, run, decide, back off: until the client stops. The one place that emits
    /// `Connecting`, `Closed` and `Reconnecting`.
    async fn lifecycle(&mut self) -> StopReason {
        let mut attempt = 0;
        loop {
            if self.close_req.is_some() {
                return StopReason::Closed;
            }
            self.shared.set_state(State::Connecting);
            self.emit(Event::Connecting {
                attempt,
                endpoint: self.endpoint,
            });
            #[cfg(test)]
            if self.cfg.headers.iter().any(|(k, _)| k == TEST_PANIC_HEADER) {
                panic!("injected by a test");
            }
            // On a runtime, wait for the thread's turn to connect (a bounded number at once).
            let Ok(slot) = self.wait_connect_slot().await else {
                return StopReason::Closed;
            };
            // Boxed: a connect's state (handshake buffers, the race) is freed once it is done,
            // not kept in this future's frame for the connection's life.
            let connected = Box::pin(self.connect(attempt)).await;
            drop(slot);
            let failure = match connected {
                Err(Abort::Close) => return StopReason::Closed,
                Err(Abort::Failed(f)) => f,
                Ok((ws, protocol)) => Box::pin(self.run_open(ws, attempt, protocol)).await,
            };
            let decision = self.decide(&failure);
            if let Some(closed) = failure.closed_event(decision.is_ok()) {
                self.emit(closed);
            }
            let (n, delay) = match decision {
                Ok(d) => d,
                Err(reason) => return reason,
            };
            log::info!("reconnecting in {delay:?} (attempt {n})");
            self.shared.set_state(State::Reconnecting);
            self.emit(Event::Reconnecting { attempt: n, delay });
            attempt = n;
            // Every attempt after the first moves to the next endpoint (round-robin); the
            // backoff above is the client's, across endpoints.
            self.endpoint = (self.endpoint + 1) % self.cfg.endpoints.len();
            if !self.wait_backoff(delay).await {
                return StopReason::Closed;
            }
        }
    }

    /// The client stops for good: report what was never sent.
    fn finish(&mut self, reason: StopReason) {
        self.shared.set_state(State::Stopped);
        // Normally empty already; after a panic in the open loop the socket closes here
        // (and a consumer reading it directly goes back to the channel).
        if let Some(c) = self.shared.lock_conn().take()
            && c.lent
        {
            self.shared.wake_reader();
        }
        // Every later push is refused (`Error::Closed`); what came before is taken here, its
        // messages reported unsent below.
        self.shared.inbox.close(&mut self.pending);
        self.take_commands(commands::Phase::Stopped);
        let unsent = self.outbox.drain_all();
        for m in &unsent {
            self.shared.gauge.release(m.len());
        }
        let unsent: Vec<Message> = unsent.into_iter().filter_map(to_public).collect();
        if !unsent.is_empty() {
            log::warn!(
                "stopped with {} unsent messages (returned in the Stopped event)",
                unsent.len()
            );
        }
        log::info!("stopped: {}", reason.as_str());
        self.emit(Event::Stopped { reason, unsent });
    }
}

/// Unit tests reach the path that reports `ErrorKind::Internal` by asking for a panic with
/// this request header (never sent: the lifecycle panics before connecting).
#[cfg(test)]
pub(crate) const TEST_PANIC_HEADER: &str = "x-wsbeat-test-panic";

#[cfg(test)]
mod tests;
