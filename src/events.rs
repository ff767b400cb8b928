//! [`Events`]: the receiving end of a client's event channel (channel mode).

use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::event::Event;

/// The events of a [`crate::Client`] in channel mode, from [`crate::Client::events`].
///
/// The channel is bounded ([`crate::ClientBuilder::event_capacity`]): while it is full the
/// I/O thread stops reading from the socket, so a slow consumer slows the server down
/// instead of growing memory. Cloning is cheap; every clone takes events from the same queue
/// (each event goes to one of them). Once the client has stopped and every event (the last
/// is [`Event::Stopped`]) was taken, the receive calls return their `Disconnected` error and
/// iteration ends.
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
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("queued", &self.rx.len())
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
    pub(crate) fn new(rx: Receiver<Event>) -> Self {
        Events { rx }
    }

    /// Wait for the next event.
    pub fn recv(&self) -> Result<Event, RecvError> {
        self.rx.recv().map_err(|_| RecvError)
    }

    /// Wait at most `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => RecvTimeoutError::Timeout,
            crossbeam_channel::RecvTimeoutError::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// Wait until `deadline` at most for the next event.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Event, RecvTimeoutError> {
        self.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// The next event if one is waiting, without blocking.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        self.rx.try_recv().map_err(|e| match e {
            crossbeam_channel::TryRecvError::Empty => TryRecvError::Empty,
            crossbeam_channel::TryRecvError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// A blocking iterator over the events; ends once the client has stopped and every
    /// event was taken.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.rx.iter()
    }

    /// An iterator over the events waiting now, without blocking.
    pub fn try_iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.rx.try_iter()
    }

    /// The number of events waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl Iterator for Events {
    type Item = Event;

    /// The next event, waiting for it; `None` once the client has stopped and every event
    /// was taken.
    fn next(&mut self) -> Option<Event> {
        self.rx.recv().ok()
    }
}
