//! The socket under everything (TLS and tungstenite read and write through it), and the
//! evidence of liveness it gathers: the liveness rule's input.
//!
//! **Liveness is judged by bytes and progress, not by messages.** A peer is alive when, since
//! the last look:
//! - any byte was read from the socket (a frame still arriving, the middle fragment of a
//!   message, a partial TLS record: all count), or
//! - the socket accepted bytes after it had refused some (`WouldBlock`): the kernel made room,
//!   which it does only when the peer acknowledges data, so a slow upload is progress.
//!
//! For the second rule to see the peer's acknowledgements, unsent data must back up into
//! user space instead of vanishing into kernel buffers of several MB: on Linux the socket
//! gets `TCP_NOTSENT_LOWAT` = [`NOTSENT_LOWAT`], so the kernel holds at most that much
//! *unsent* data (data in flight is not limited, so throughput is not). The blind spot left is
//! the tail of an upload: the last `NOTSENT_LOWAT` bytes drain with no `WouldBlock` to watch,
//! which on a link of `r` bytes/s is `NOTSENT_LOWAT / r` of apparent silence (0.5 s at
//! 32 KB/s; with the default heartbeat's 30 s budget, links down to ~550 B/s are safe).
//! Elsewhere the kernel's buffers hide more of the upload and a slow link can look dead sooner.
//!
//! A path that carries nothing (a black hole during an upload) gives neither evidence: the
//! heartbeat declares it dead within interval + timeout, as before.
//!
//! Counting is two additions per read or write call; the loop looks once per turn.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

/// The most unsent data the kernel may hold for us (Linux `TCP_NOTSENT_LOWAT`), in bytes.
pub(crate) const NOTSENT_LOWAT: u32 = 16 * 1024;

/// What happened on the socket since the last [`Tcp::take_progress`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes were read.
    pub(crate) read: bool,
    /// The socket accepted bytes after refusing some: the peer acknowledged data.
    pub(crate) drained: bool,
}

impl Progress {
    /// Whether this proves the peer alive.
    pub(crate) fn any(self) -> bool {
        self.read || self.drained
    }
}

/// A connected TCP socket that keeps the liveness evidence (see the module docs).
#[derive(Debug)]
pub(crate) struct Tcp {
    sock: TcpStream,
    progress: Progress,
    /// The last write was refused (`WouldBlock`).
    refused: bool,
    /// The poller watches the socket for writability too (see [`Tcp::sync_interest`]).
    watch_writable: bool,
    /// Bytes were written since the last [`Tcp::sync_interest`].
    wrote: bool,
    /// Reads skip the syscall while nothing can have arrived (see [`Tcp::trust_edges`]).
    skip_drained: bool,
    /// The last read was short (or would block): the socket had nothing more.
    drained: bool,
}

impl Tcp {
    /// Wrap a connected socket (and bound its unsent data, on Linux).
    pub(crate) fn new(sock: TcpStream) -> Tcp {
        let _ = sock.set_nodelay(true);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Err(e) = socket2::SockRef::from(&sock).set_tcp_notsent_lowat(NOTSENT_LOWAT) {
            log::debug!("TCP_NOTSENT_LOWAT not set ({e}): slow uploads are seen less precisely");
        }
        Tcp {
            sock,
            progress: Progress::default(),
            refused: false,
            // Connecting registers it readable and writable.
            watch_writable: true,
            wrote: false,
            skip_drained: false,
            drained: false,
        }
    }

    /// From now on (the connection is open), a read after a short one returns `WouldBlock`
    /// without a syscall until [`Tcp::poller_event`]: the poller is edge-triggered, so data
    /// arriving after a read that emptied the socket always brings an event. Saves the
    /// `recv` that only says "would block" after every message read (and on every timer
    /// wake-up of an idle connection): a third of an idle heartbeat's syscalls.
    pub(crate) fn trust_edges(&mut self) {
        self.skip_drained = true;
    }

    /// The poller reported an event for the socket: read it again.
    pub(crate) fn poller_event(&mut self) {
        self.drained = false;
    }

    /// Before sleeping: let the poller watch for writability while a write is refused, and
    /// stop once a turn wrote nothing. Edge-triggered, a socket watched for it wakes the loop
    /// whenever the peer's acknowledgements free buffer space, i.e. after every heartbeat
    /// written to an idle connection: a wake-up for nothing. Not dropped while writes go on
    /// (a flood refused again and again would pay two `epoll_ctl` per burst: 0.67x → 0.54x
    /// of raw in the pinned 64 B flood); re-arming reports readiness that is already there.
    pub(crate) fn sync_interest(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
    ) -> io::Result<()> {
        let watch = self.refused || (self.watch_writable && std::mem::take(&mut self.wrote));
        self.wrote = false;
        if watch == self.watch_writable {
            return Ok(());
        }
        let interest = match watch {
            true => mio::Interest::READABLE | mio::Interest::WRITABLE,
            false => mio::Interest::READABLE,
        };
        registry.reregister(&mut self.sock, token, interest)?;
        self.watch_writable = watch;
        Ok(())
    }

    /// Lend the socket to a consumer that reads it directly (`io_loop::direct_read`): it
    /// leaves the loop's poller, so data arriving wakes only the consumer, until
    /// [`Tcp::unlend`]. (Changing the interest to urgent data only, with `EPOLL_CTL_MOD`, does
    /// not do: Linux wakes a socket's pollers for data with `EPOLLPRI` in the key, and the
    /// loop woke for every message: `tests/direct_read.rs`.)
    pub(crate) fn lend(&mut self, registry: &mio::Registry) -> io::Result<()> {
        registry.deregister(&mut self.sock)
    }

    /// The socket back in the loop's poller. Edge-triggered, the poller reports readiness
    /// already there at once: nothing that arrived meanwhile and is still unread is missed.
    /// Writability is watched only if a write waits for room: a writable socket would
    /// otherwise wake the loop at once, for nothing (the hysteresis of
    /// [`Tcp::sync_interest`] starts over).
    pub(crate) fn unlend(&mut self, registry: &mio::Registry, token: mio::Token) -> io::Result<()> {
        let interest = match self.refused {
            true => mio::Interest::READABLE | mio::Interest::WRITABLE,
            false => mio::Interest::READABLE,
        };
        registry.register(&mut self.sock, token, interest)?;
        self.watch_writable = self.refused;
        Ok(())
    }

    /// Whether the last write was refused: the loop must watch for writability (a sender's
    /// direct write that left this wakes the loop, which then does).
    pub(crate) fn refused(&self) -> bool {
        self.refused
    }

    /// The socket itself (for the poller and socket options).
    pub(crate) fn sock(&self) -> &TcpStream {
        &self.sock
    }

    /// The socket itself, mutably (to deregister it from the poller).
    pub(crate) fn sock_mut(&mut self) -> &mut TcpStream {
        &mut self.sock
    }

    /// The evidence gathered since the last call, which starts a new period.
    pub(crate) fn take_progress(&mut self) -> Progress {
        std::mem::take(&mut self.progress)
    }
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained && self.skip_drained && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let r = self.sock.read(buf);
        match &r {
            Ok(n) if *n > 0 => {
                self.progress.read = true;
                self.drained = *n < buf.len();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained = true,
            _ => {}
        }
        r
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.sock.write(buf);
        match &r {
            Ok(n) if *n > 0 && self.refused => {
                self.progress.drained = true;
                self.refused = false;
                self.wrote = true;
            }
            Ok(n) if *n > 0 => self.wrote = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.refused = true,
            _ => {}
        }
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair on loopback: our `Tcp` (non-blocking) and the peer's std socket.
    fn pair() -> (Tcp, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        (Tcp::new(TcpStream::from_std(ours)), theirs)
    }

    #[test]
    fn any_byte_read_is_progress_and_taking_it_resets() {
        let (mut tcp, mut peer) = pair();
        assert_eq!(tcp.take_progress(), Progress::default());
        peer.write_all(b"x").unwrap();
        let mut buf = [0u8; 8];
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match tcp.read(&mut buf) {
                Ok(1) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < until, "the byte never arrived");
                    std::thread::yield_now();
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(tcp.take_progress().read);
        assert!(!tcp.take_progress().any());
    }

    #[test]
    fn writes_into_free_buffer_space_prove_nothing_but_a_drain_after_a_refusal_does() {
        let (mut tcp, mut peer) = pair();
        let chunk = vec![7u8; 64 * 1024];
        // Bytes into free buffer space: the kernel takes them whether the peer lives or not.
        assert!(tcp.write(&chunk[..100]).unwrap() > 0);
        assert!(!tcp.take_progress().any());
        // Fill until refused (bounded: the peer reads nothing).
        let mut refused = false;
        for _ in 0..100_000 {
            match tcp.write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    refused = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused, "the socket never pushed back");
        assert!(!tcp.take_progress().any(), "a refusal is not progress");
        // The peer reads: room is made, the next accepted write is evidence.
        peer.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let mut sink = vec![0u8; 1 << 20];
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let _ = peer.read(&mut sink);
            match tcp.write(&chunk[..1]) {
                Ok(1) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < until, "never drained");
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(tcp.take_progress().drained);
    }
}
