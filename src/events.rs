//! [`Events`]: the receiving end of a client's event channel (channel mode).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::event::Event;
use crate::io_loop::{Direct, DirectReader};
use crate::shared::Shared;

/// Events that found the bounded channel full once the user had asked to close: the client's
/// last events ([`Event::Closed`], [`Event::Stopped`] with its unsent messages) and whatever the
/// close handshake read. The I/O thread does not wait for room then (`close()` returns within
/// its bound, also when called from the thread that should be reading), and the consumer
/// takes these after the channel, in order, once the I/O thread has finished: nothing is
/// dropped. Bounded: the I/O thread spills here only while closing, and stops reading once
/// the close budget runs out.
///
/// On a [`crate::Runtime`] it is also where the I/O loop, which may not block its thread on a
/// full channel, asks the consumer for a wake-up once it takes an event ([`Overflow::want_room`]).
#[derive(Debug)]
pub(crate) struct Overflow {
    kept: Mutex<VecDeque<Event>>,
    /// On a runtime: the client to wake when room is wanted.
    room: Option<Arc<Shared>>,
    room_wanted: AtomicBool,
}

impl Overflow {
    /// `room`: the client's shared state, on a runtime (see above).
    pub(crate) fn new(room: Option<Arc<Shared>>) -> Self {
        Overflow {
            kept: Mutex::default(),
            room,
            room_wanted: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Event>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The I/O loop found the channel full: wake it when the consumer takes an event. The
    /// loop looks at the channel again after this and before parking (no lost wake-up: both
    /// sides order their two steps with `SeqCst`).
    pub(crate) fn want_room(&self) {
        self.room_wanted.store(true, Ordering::SeqCst);
    }

    /// The consumer took an event from the channel.
    fn taken(&self) {
        if let Some(shared) = &self.room {
            fence(Ordering::SeqCst);
            if self.room_wanted.load(Ordering::SeqCst)
                && self.room_wanted.swap(false, Ordering::SeqCst)
            {
                shared.wake_always();
            }
        }
    }

    pub(crate) fn push(&self, ev: Event) {
        self.lock().push_back(ev);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn pop(&self) -> Option<Event> {
        self.lock().pop_front()
    }

    pub(crate) fn push_front(&self, ev: Event) {
        self.lock().push_front(ev);
    }
}

/// The events of a [`crate::Client`] in channel mode, from [`crate::Client::events`].
///
/// The channel is bounded ([`crate::ClientBuilder::event_capacity`]): while it is full the
/// I/O thread stops reading from the socket, so a slow consumer slows the server down
/// instead of growing memory. Cloning is cheap; every clone takes events from the same queue
/// (each event goes to one of them). Once the client has stopped and every event (the last
/// is [`Event::Stopped`]) was taken, the receive calls return their `Disconnected` error and
/// iteration ends.
///
/// After `close()`, events that find the channel full are kept aside instead of making the
/// I/O thread wait, and come after the channel's once the client has stopped: the last
/// `Closed` and the `Stopped` event (with its unsent messages) always arrive, whatever the
/// consumer did, and `close()` still returns within its bound.
///
/// ```no_run
/// # fn f(client: wsbeat::Client) {
/// use std::time::Duration;
/// let events = client.events().expect("channel mode");
/// if let Ok(ev) = events.recv_timeout(Duration::from_secs(1)) {
///     println!("{ev:?}");
/// }
/// for ev in events {
///     println!("{ev:?}"); // ends after Stopped
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Events {
    rx: Receiver<Event>,
    overflow: Arc<Overflow>,
    /// On a thread of its own: reading the socket while the I/O thread sleeps.
    direct: Option<Arc<DirectReader>>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("queued", &self.len())
            .finish()
    }
}

/// [`Events::recv`] found the channel empty with the client stopped: no event will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Events::recv_timeout`] or [`Events::recv_deadline`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// No event arrived in time.
    Timeout,
    /// The client stopped and every event was taken: no event will come.
    Disconnected,
}

/// Why [`Events::try_recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No event is waiting now.
    Empty,
    /// The client stopped and every event was taken: no event will come.
    Disconnected,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the client stopped: no more events")
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("no event in time"),
            RecvTimeoutError::Disconnected => RecvError.fmt(f),
        }
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no event waiting"),
            TryRecvError::Disconnected => RecvError.fmt(f),
        }
    }
}

impl std::error::Error for RecvError {}
impl std::error::Error for RecvTimeoutError {}
impl std::error::Error for TryRecvError {}

impl Events {
    pub(crate) fn new(
        rx: Receiver<Event>,
        overflow: Arc<Overflow>,
        direct: Option<Arc<DirectReader>>,
    ) -> Self {
        Events {
            rx,
            overflow,
            direct,
        }
    }

    /// With nothing waiting and the I/O thread asleep, read the socket from this thread
    /// (`io_loop::direct_read`): one wake-up per message instead of two. `None`: wait on the
    /// channel.
    fn read_directly(&self, deadline: Option<Instant>) -> Option<Result<Event, RecvTimeoutError>> {
        match self.direct.as_ref()?.recv(&self.rx, deadline) {
            Direct::Event(ev) => Some(Ok(ev)),
            Direct::TimedOut => Some(Err(RecvTimeoutError::Timeout)),
            Direct::NotNow => None,
        }
    }

    /// Wait for the next event.
    pub fn recv(&self) -> Result<Event, RecvError> {
        if let Some(Ok(ev)) = self.read_directly(None) {
            return Ok(ev);
        }
        // The channel disconnects when the I/O thread has finished: the overflow is complete.
        match self.rx.recv() {
            Ok(ev) => {
                self.overflow.taken();
                Ok(ev)
            }
            Err(_) => self.overflow.pop().ok_or(RecvError),
        }
    }

    /// Wait at most `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        if !timeout.is_zero()
            && let Some(r) = self.read_directly(deadline)
        {
            return r;
        }
        let timeout = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        match self.rx.recv_timeout(timeout) {
            Ok(ev) => {
                self.overflow.taken();
                Ok(ev)
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(RecvTimeoutError::Timeout),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                self.overflow.pop().ok_or(RecvTimeoutError::Disconnected)
            }
        }
    }

    /// Wait until `deadline` at most for the next event.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Event, RecvTimeoutError> {
        self.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// The next event if one is waiting, without blocking.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        match self.rx.try_recv() {
            Ok(ev) => {
                self.overflow.taken();
                Ok(ev)
            }
            Err(crossbeam_channel::TryRecvError::Empty) => Err(TryRecvError::Empty),
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                self.overflow.pop().ok_or(TryRecvError::Disconnected)
            }
        }
    }

    /// A blocking iterator over the events; ends once the client has stopped and every
    /// event was taken.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    /// An iterator over the events waiting now, without blocking.
    pub fn try_iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.try_recv().ok())
    }

    /// The number of events waiting (those kept aside while closing included).
    pub fn len(&self) -> usize {
        self.rx.len() + self.overflow.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for Events {
    type Item = Event;

    /// The next event, waiting for it; `None` once the client has stopped and every event
    /// was taken.
    fn next(&mut self) -> Option<Event> {
        self.recv().ok()
    }
}
