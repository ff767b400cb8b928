//! Event delivery: to the user's callback (on this thread, panics caught) or into the bounded
//! event channel (a slow consumer blocks the I/O thread: bounded memory, nothing dropped,
//! except after `close()` once the close budget runs out).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crossbeam_channel::{Select, Sender, TrySendError};

use super::IoLoop;
use crate::error::ErrorKind;
use crate::event::Event;
use crate::shared::Command;

/// Where events go.
pub(crate) enum Sink {
    /// The user's callback, with the handle it is given bound in.
    Callback(Box<dyn FnMut(Event) + Send + 'static>),
    Channel(Sender<Event>),
}

impl IoLoop {
    /// Deliver an event. A slow channel consumer blocks the I/O thread (bounded memory);
    /// commands are still taken meanwhile so `close()` is noticed.
    pub(super) fn emit(&mut self, ev: Event) {
        match &mut self.sink {
            Sink::Callback(cb) => deliver_to_callback(cb, ev),
            Sink::Channel(tx) => match tx.try_send(ev) {
                Ok(()) => self.delivered = true,
                Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(ev)) => {
                    let tx = tx.clone();
                    self.emit_blocking(&tx, ev);
                }
            },
        }
    }

    fn emit_blocking(&mut self, tx: &Sender<Event>, ev: Event) {
        let mut give_up = self.events_give_up;
        loop {
            let mut sel = Select::new();
            let s = sel.send(tx);
            let r = sel.recv(&self.rx);
            let op = match give_up {
                Some(at) => match sel.select_deadline(at) {
                    Ok(op) => op,
                    Err(_) => {
                        log::warn!(
                            "event channel full after close(): dropping a {} event",
                            ev.name()
                        );
                        return;
                    }
                },
                None => sel.select(),
            };
            if op.index() == s {
                let _ = op.send(tx, ev);
                return;
            }
            debug_assert_eq!(op.index(), r);
            if let Ok(cmd) = op.recv(&self.rx) {
                if matches!(cmd, Command::Close(..)) {
                    let at = Instant::now() + self.cfg.limits.close_timeout;
                    give_up = Some(at);
                    // Later events wait no longer than this one: the user is closing and not
                    // draining the channel.
                    self.events_give_up = Some(at);
                }
                self.pending.push_back(cmd);
            }
        }
    }
}

/// Run the callback on `ev`. A panic is caught and the client continues; the callback is
/// then told with `Error { kind: Callback }`, unless the event was itself that report (no
/// loop) or `Stopped` (nothing follows `Stopped`).
fn deliver_to_callback(cb: &mut Box<dyn FnMut(Event) + Send + 'static>, ev: Event) {
    let name = ev.name();
    let report_again = !matches!(
        ev,
        Event::Stopped { .. }
            | Event::Error {
                kind: ErrorKind::Callback,
                ..
            }
    );
    if catch_unwind(AssertUnwindSafe(|| cb(ev))).is_ok() {
        return;
    }
    log::error!("the event callback panicked on the {name} event; the client continues");
    if report_again {
        let report = Event::Error {
            kind: ErrorKind::Callback,
            message: format!("the event callback panicked on the {name} event; it was caught"),
        };
        deliver_to_callback(cb, report);
    }
}
