//! The [`Inbox`]: the one queue of [`Command`]s from handles (any thread) to the I/O thread,
//! taken a batch at a time.
//!
//! A sender locks, pushes, unlocks: one uncontended lock per message, no allocation once the
//! queue has grown to a flood's size (the two queues swap their buffers). The I/O thread takes
//! everything queued in one lock. One queue for every command keeps their order total: sends
//! made before a close go out before its close frame.
//!
//! `closed`, under the same lock, is set once by the I/O thread when it stops
//! ([`Inbox::close`]), which takes what is left in the same lock: a push either came first (it is
//! taken then: its message is reported unsent in `Stopped`) or finds the inbox closed and is
//! refused (the sender gets `Error::Closed`). No command is lost in between.
//!
//! Waiting: the I/O thread sleeps in its poller (or parks on a runtime), woken by the sender
//! (`Shared::wake`). Where it blocks on the event channel instead (`sink.rs`,
//! `emit_blocking`), it selects on the [`Inbox::doorbell`] too, which close and reconnect
//! requests ring: the only commands such a wait must notice (a send can wait its turn).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};

use crate::shared::Command;

/// The most commands an empty queue keeps room for once batches are small again (16 KiB at
/// 64 bytes a command): a burst's larger buffer is freed then.
const KEEP_CAPACITY: usize = 256;

/// See the module doc.
pub(crate) struct Inbox {
    queue: Mutex<Queue>,
    bell: (Sender<()>, Receiver<()>),
}

struct Queue {
    commands: VecDeque<Command>,
    /// The I/O thread has stopped: nothing more is taken.
    closed: bool,
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Inbox {
            queue: Mutex::new(Queue {
                commands: VecDeque::new(),
                closed: false,
            }),
            bell: crossbeam_channel::bounded(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `cmd` behind every command queued before it. `Err(cmd)`: the I/O thread has
    /// stopped, nothing is queued. The caller wakes the I/O thread.
    pub(crate) fn push(&self, cmd: Command) -> Result<(), Command> {
        let ring = !matches!(cmd, Command::Send(..));
        {
            let mut q = self.lock();
            if q.closed {
                return Err(cmd);
            }
            q.commands.push_back(cmd);
        }
        if ring {
            // Full: a ring is already waiting, and its taker takes this command too.
            let _ = self.bell.0.try_send(());
        }
        Ok(())
    }

    /// Move everything queued to the back of `into` (after what it holds), in order.
    pub(crate) fn take_into(&self, into: &mut VecDeque<Command>) {
        let mut q = self.lock();
        if !into.is_empty() {
            return into.append(&mut q.commands);
        }
        // The common case: the buffers swap, neither allocates.
        std::mem::swap(&mut q.commands, into);
        if into.len() <= KEEP_CAPACITY && q.commands.capacity() > KEEP_CAPACITY {
            // A burst is over (this batch is small): its emptied buffer is freed (outside the
            // lock) rather than kept for the client's life; during the burst it is reused.
            // The loop takes the inbox every turn, so both buffers are small again within a
            // few turns of the burst's end.
            let big = std::mem::take(&mut q.commands);
            drop(q);
            drop(big);
        }
    }

    /// Whether nothing is queued (the I/O thread's look before it sleeps: a push before the
    /// look is seen, a push after it wakes the sleeper).
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().commands.is_empty()
    }

    /// The I/O thread stops: refuse every later push, and move what is left into `into` (see
    /// the module doc).
    pub(crate) fn close(&self, into: &mut VecDeque<Command>) {
        let mut q = self.lock();
        q.closed = true;
        into.append(&mut q.commands);
    }

    /// Rung after a close or reconnect request is queued; after a ring, take the inbox.
    /// A ring may be stale (its command was already taken): the taker then finds nothing new.
    pub(crate) fn doorbell(&self) -> &Receiver<()> {
        &self.bell.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_cmd() -> Command {
        Command::Close(1000, String::new())
    }

    fn send(text: &str) -> Command {
        Command::Send(tungstenite::Message::text(text), false)
    }

    fn texts(q: &VecDeque<Command>) -> Vec<String> {
        q.iter()
            .map(|c| match c {
                Command::Send(m, _) => m.to_text().unwrap().to_owned(),
                Command::Close(..) => "close".into(),
                Command::ReconnectNow => "reconnect".into(),
            })
            .collect()
    }

    #[test]
    fn takes_in_order_behind_what_is_held() {
        let inbox = Inbox::new();
        inbox.push(send("a")).unwrap();
        inbox.push(send("b")).unwrap();
        let mut held = VecDeque::new();
        inbox.take_into(&mut held);
        assert_eq!(texts(&held), ["a", "b"]);
        assert!(inbox.is_empty());
        inbox.push(send("c")).unwrap();
        inbox.push(close_cmd()).unwrap();
        inbox.take_into(&mut held);
        assert_eq!(texts(&held), ["a", "b", "c", "close"]);
    }

    #[test]
    fn a_burst_buffer_is_not_kept() {
        let inbox = Inbox::new();
        for i in 0..10 * KEEP_CAPACITY {
            inbox.push(send(&i.to_string())).unwrap();
        }
        let mut held = VecDeque::new();
        inbox.take_into(&mut held);
        assert_eq!(held.len(), 10 * KEEP_CAPACITY);
        held.clear();
        inbox.take_into(&mut held); // the burst's buffer goes back, and is freed
        assert!(held.capacity() <= KEEP_CAPACITY);
        assert!(inbox.lock().commands.capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn close_takes_the_rest_and_refuses_later_pushes() {
        let inbox = Inbox::new();
        inbox.push(send("a")).unwrap();
        let mut rest = VecDeque::new();
        inbox.close(&mut rest);
        assert_eq!(texts(&rest), ["a"]);
        assert!(matches!(inbox.push(send("b")), Err(Command::Send(..))));
        assert!(inbox.push(Command::ReconnectNow).is_err());
        assert!(inbox.is_empty());
    }

    #[test]
    fn only_close_and_reconnect_ring() {
        let inbox = Inbox::new();
        inbox.push(send("a")).unwrap();
        assert!(inbox.doorbell().try_recv().is_err());
        inbox.push(close_cmd()).unwrap();
        inbox.push(Command::ReconnectNow).unwrap(); // the bell is full: still one ring
        assert!(inbox.doorbell().try_recv().is_ok());
        assert!(inbox.doorbell().try_recv().is_err());
        inbox.push(Command::ReconnectNow).unwrap();
        assert!(inbox.doorbell().try_recv().is_ok());
    }

    #[test]
    fn every_push_that_succeeds_is_taken_once_across_threads() {
        use std::sync::Arc;
        let inbox = Arc::new(Inbox::new());
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let inbox = inbox.clone();
                std::thread::spawn(move || {
                    let mut ok = Vec::new();
                    for i in 0..2000 {
                        if inbox.push(send(&format!("{t}:{i}"))).is_ok() {
                            ok.push(format!("{t}:{i}"));
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut taken = VecDeque::new();
        for _ in 0..50 {
            inbox.take_into(&mut taken);
            std::thread::yield_now();
        }
        inbox.close(&mut taken);
        let mut pushed: Vec<String> = senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect();
        let mut got = texts(&taken);
        // Each sender's own order is kept.
        for t in 0..4 {
            let prefix = format!("{t}:");
            let mine: Vec<&String> = got.iter().filter(|s| s.starts_with(&prefix)).collect();
            let theirs: Vec<&String> = pushed.iter().filter(|s| s.starts_with(&prefix)).collect();
            assert_eq!(mine, theirs);
        }
        got.sort();
        pushed.sort();
        assert_eq!(got, pushed);
    }
}
