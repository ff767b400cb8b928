//! The sender's fast path. Unlike the rest of `io_loop`, this runs on the *sending* thread:
//! it writes to the open connection while the I/O thread does not hold it.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tungstenite::Message as WsMessage;

use crate::conn::Wrote;
use crate::shared::Shared;

/// Direct writes by senders between two turns of the I/O loop. Each costs the sender a
/// `write` syscall; past this many the sender queues and wakes the I/O thread, which writes
/// the rest of a flood in batches (one syscall for many messages).
const DIRECT_STREAK: u32 = 16;

/// Write `m` to the socket from the calling thread, when the I/O thread is not using the
/// connection (it sleeps, or sits between turns), nothing is queued ahead of `m`, no close
/// or reconnect request is pending, and fewer than [`DIRECT_STREAK`] messages were written
/// directly since the I/O loop's last turn. Saves the hand-off to the I/O thread (a wake-up
/// and a context switch) for a message sent to an idle connection. `Err(m)` gives the
/// message back for the queue.
pub(crate) fn send_direct(shared: &Shared, m: WsMessage) -> Result<(), WsMessage> {
    // Cheap looks first: in a flood something is queued, and the lock is not even tried.
    if shared.gauge.messages() != 0 || shared.control_pending.load(Ordering::SeqCst) != 0 {
        return Err(m);
    }
    // Never wait for the lock: its holder may be blocked handing an event to this thread.
    let Some(mut slot) = shared.try_lock_conn() else {
        return Err(m);
    };
    let Some(c) = slot.as_mut() else {
        return Err(m);
    };
    // The gauge counts every message queued and not yet written (inbox, pending, outbox);
    // the I/O thread writes them with this lock held, so 0 here means nothing is ahead of `m`.
    if c.direct_streak >= DIRECT_STREAK || c.closing.is_some() || shared.gauge.messages() != 0 {
        return Err(m);
    }
    c.direct_streak += 1;
    match c.write_message(&shared.counters, m, Instant::now()) {
        Wrote::Yes => {}
        // The I/O thread meets the error on its next write and ends the connection.
        Wrote::Full(m) | Wrote::Failed(m, _) => return Err(m),
    }
    let wake = match c.ws.flush() {
        Ok(()) => {
            c.inflight.flushed();
            // A half-full window wants a heartbeat at once to confirm it.
            c.inflight.half_full()
        }
        // Any other error than would block: it ends the connection (the message is tracked
        // as unconfirmed).
        Err(_) => true,
    };
    // Would block: the I/O thread flushes the rest once the socket is writable, but it
    // watches for that only from its next turn (`Tcp::sync_interest`): wake it whether it
    // sleeps yet or not.
    let refused = c.ws.get_mut().get_mut().write_refused();
    drop(slot);
    if refused {
        shared.wake_always();
    } else if wake {
        shared.wake();
    }
    Ok(())
}
