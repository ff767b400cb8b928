//! Where the I/O loop waits: in its own thread's poller, or parked as a task of a runtime
//! worker (whose poller has the loop's sockets under the task's token). The rest of the loop
//! does not know which: it registers sockets with [`Reactor::registry`] under
//! [`Reactor::token`] and sleeps with `IoLoop::sleep`.

use std::io;
use std::ops::Deref;
use std::sync::Arc;

use mio::{Events, Poll, Registry, Token};

use crate::runtime::WorkerShared;

/// The poller token of the connection's sockets on the client's own thread.
const CONN: Token = Token(1);

/// See the module doc.
pub(crate) enum Reactor {
    /// The client's own I/O thread: its poller and the events buffer.
    Own(Poll, Events),
    /// A task of a runtime worker, with its key as token.
    Task(Arc<WorkerShared>, Token),
}

impl Reactor {
    /// The client's own thread's reactor, over its poller.
    pub(crate) fn own(poll: Poll) -> Reactor {
        Reactor::Own(poll, Events::with_capacity(8))
    }

    /// The registry the loop's sockets go to.
    pub(crate) fn registry(&self) -> &Registry {
        match self {
            Reactor::Own(poll, _) => poll.registry(),
            Reactor::Task(w, _) => &w.registry,
        }
    }

    /// The registry, held apart from the loop (the Happy Eyeballs race registers while the
    /// loop waits).
    pub(crate) fn registry_handle(&self) -> io::Result<RegistryHandle> {
        Ok(match self {
            Reactor::Own(poll, _) => RegistryHandle::Dup(poll.registry().try_clone()?),
            Reactor::Task(w, _) => RegistryHandle::Worker(w.clone()),
        })
    }

    /// The token of the loop's sockets.
    pub(crate) fn token(&self) -> Token {
        match self {
            Reactor::Own(..) => CONN,
            Reactor::Task(_, t) => *t,
        }
    }

    /// Whether the loop shares its thread (it must not block it).
    pub(crate) fn is_task(&self) -> bool {
        matches!(self, Reactor::Task(..))
    }
}

/// See [`Reactor::registry_handle`].
pub(crate) enum RegistryHandle {
    Dup(Registry),
    Worker(Arc<WorkerShared>),
}

impl Deref for RegistryHandle {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        match self {
            RegistryHandle::Dup(r) => r,
            RegistryHandle::Worker(w) => &w.registry,
        }
    }
}
