//! Event delivery: to the user's callback (on this thread, panics caught) or into the bounded
//! event channel. A slow consumer blocks the I/O thread (bounded memory, nothing dropped);
//! once the user has asked to close, events that find the channel full are kept aside in the
//! [`Overflow`] instead (the consumer gets them after the channel's, once the client has
//! stopped), so the final `Closed` and `Stopped` always arrive and `close()` keeps its bound.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crossbeam_channel::{Select, Sender, TrySendError};

use super::IoLoop;
use crate::error::ErrorKind;
use crate::event::Event;
use crate::events::Overflow;

/// Where events go.
pub(crate) enum Sink {
    /// The user's callback, with the handle it is given bound in.
    Callback(Box<dyn FnMut(Event) + Send + 'static>),
    /// The bounded channel, and where events go that find it full while closing.
    Channel(Sender<Event>, Arc<Overflow>),
}

impl IoLoop {
    /// Deliver an event. A slow channel consumer blocks the I/O thread (bounded memory);
    /// commands are still taken meanwhile so `close()` is noticed.
    pub(super) fn emit(&mut self, ev: Event) {
        let (tx, overflow) = match &mut self.sink {
            Sink::Callback(cb) => return deliver_to_callback(cb, ev),
            // Every `Events` holds the overflow too: when only we do, nobody reads any more.
            Sink::Channel(_, overflow) if Arc::strong_count(overflow) == 1 => return,
            Sink::Channel(tx, overflow) => (tx.clone(), overflow.clone()),
        };
        if !self.backlog.is_empty() {
            // On a runtime, behind events still waiting for room: after them, in order.
            if self.events_give_up.is_none() {
                self.backlog.push_back(ev);
                return;
            }
            self.spill_backlog();
        }
        // Once something is kept aside, everything after it is too: the order holds. Events
        // are kept aside only once closing began, so until then the overflow's lock is not
        // taken on the per-event path.
        let ev = if self.events_give_up.is_none() || overflow.len() == 0 {
            match tx.try_send(ev) {
                Ok(()) => {
                    self.delivered = true;
                    return self.shared.wake_parked_reader();
                }
                Err(TrySendError::Disconnected(_)) => return, // nobody reads any more
                Err(TrySendError::Full(ev)) if self.reactor.is_task() => {
                    // The thread is shared: no blocking. The loop reads no further and parks
                    // until the consumer makes room (`wait_for_room`).
                    if self.events_give_up.is_none() {
                        self.backlog.push_back(ev);
                        return;
                    }
                    ev
                }
                Err(TrySendError::Full(ev)) if self.events_give_up.is_none() => {
                    match self.emit_blocking(&tx, ev) {
                        Some(ev) => ev, // the user began closing meanwhile
                        None => return,
                    }
                }
                Err(TrySendError::Full(ev)) => ev,
            }
        } else {
            ev
        };
        self.keep_aside(&tx, &overflow, ev);
    }

    /// While closing: events kept aside move into the channel as far as it has room (a
    /// consumer still reading gets them there), then `ev` follows them, into the channel if
    /// nothing waits any more, else into the overflow. Bounded by the channel's capacity:
    /// beyond it (a peer still sending during the close handshake while nobody reads) the
    /// open loop stops reading and ends the close at once (`overflowed`), so `close()`
    /// returns promptly and memory stays bounded (the capacity plus one read batch).
    fn keep_aside(&mut self, tx: &Sender<Event>, overflow: &Overflow, ev: Event) {
        while let Some(front) = overflow.pop() {
            match tx.try_send(front) {
                Ok(()) => self.shared.wake_parked_reader(),
                Err(TrySendError::Full(f) | TrySendError::Disconnected(f)) => {
                    overflow.push_front(f);
                    break;
                }
            }
        }
        let ev = match overflow.len() {
            0 => match tx.try_send(ev) {
                Ok(()) => return self.shared.wake_parked_reader(),
                Err(TrySendError::Full(ev) | TrySendError::Disconnected(ev)) => ev,
            },
            _ => ev,
        };
        if overflow.len() >= tx.capacity().unwrap_or(usize::MAX) {
            // Nobody reads and the peer keeps sending while we close: read no further (what
            // was never read was never delivered; what we wrote is reported unconfirmed).
            self.overflowed = true;
        }
        overflow.push(ev);
    }

    /// On a runtime: move waiting events into the channel as far as it has room (all of
    /// them dropped if nobody reads any more).
    pub(super) fn move_backlog(&mut self) {
        let Sink::Channel(tx, overflow) = &self.sink else {
            return;
        };
        if Arc::strong_count(overflow) == 1 {
            self.backlog.clear();
            return;
        }
        while let Some(ev) = self.backlog.pop_front() {
            match tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Disconnected(_)) => return self.backlog.clear(),
                Err(TrySendError::Full(ev)) => {
                    self.backlog.push_front(ev);
                    return;
                }
            }
        }
    }

    /// On a runtime, once closing: the waiting events follow the rules of closing
    /// (`keep_aside`), in order.
    pub(super) fn spill_backlog(&mut self) {
        let Sink::Channel(tx, overflow) = &self.sink else {
            return;
        };
        let (tx, overflow) = (tx.clone(), overflow.clone());
        while let Some(ev) = self.backlog.pop_front() {
            self.keep_aside(&tx, &overflow, ev);
        }
    }

    /// On a runtime, before parking for room: ask the consumer to wake the loop when it
    /// takes an event. False if room appeared meanwhile (do not park).
    pub(super) fn want_room(&self) -> bool {
        let Sink::Channel(tx, overflow) = &self.sink else {
            return false;
        };
        overflow.want_room();
        tx.is_full()
    }

    /// Wait for channel room, taking commands meanwhile (woken for them by the inbox's
    /// doorbell: a close request ends the wait). `Some(ev)`: a close request came
    /// first, and the event is handed back to be kept aside.
    fn emit_blocking(&mut self, tx: &Sender<Event>, ev: Event) -> Option<Event> {
        let shared = self.shared.clone();
        let bell = shared.inbox.doorbell();
        loop {
            // Before each wait: a close request already here ends it. One pushed after this
            // look rings the bell (or finds it rung), which ends the wait below.
            if self.stash_inbox() {
                return Some(ev);
            }
            let mut sel = Select::new();
            let s = sel.send(tx);
            let r = sel.recv(bell);
            let op = sel.select();
            if op.index() == s {
                if op.send(tx, ev).is_ok() {
                    self.shared.wake_parked_reader();
                }
                return None;
            }
            debug_assert_eq!(op.index(), r);
            // A close or reconnect request rang (or a stale ring): the next look takes it.
            let _ = op.recv(bell);
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
