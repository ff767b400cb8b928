//! TCP connect over several addresses, Happy Eyeballs v2 style (RFC 8305 §5): addresses in
//! [`crate::resolve::interleave`]d order, a new attempt every [`STAGGER`] while earlier ones
//! are still pending (at once when one fails), the first to connect wins and the others are
//! closed. Non-blocking sockets in the I/O thread's poller; between checks the caller waits
//! (under its deadline, taking its commands).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::error::ErrorKind;

/// The "Connection Attempt Delay" of RFC 8305 (its recommended default).
pub(crate) const STAGGER: Duration = Duration::from_millis(250);

/// Connect to the first of `addrs` that accepts. The winner stays registered with `token`
/// (readable and writable). `wait(wake_at)` sleeps until an event, a command, `wake_at` (the
/// next attempt's start) or the caller's deadline; its error (timeout, close) ends the race,
/// every pending socket closed. The inner error is the last failure, for the event.
pub(crate) async fn race<E>(
    registry: &Registry,
    token: Token,
    addrs: &[SocketAddr],
    stagger: Duration,
    mut wait: impl AsyncFnMut(Option<Instant>) -> Result<(), E>,
) -> Result<Result<TcpStream, (ErrorKind, String)>, E> {
    let mut pending: Vec<(SocketAddr, TcpStream)> = Vec::new();
    let mut next = 0;
    let mut next_start = Instant::now();
    let mut last_err = (ErrorKind::Connect, "no address to connect to".to_owned());
    let close_all = |pending: &mut Vec<(SocketAddr, TcpStream)>| {
        for (_, mut s) in pending.drain(..) {
            let _ = registry.deregister(&mut s);
        }
    };
    loop {
        // Start the next attempt when its time has come (or nothing is pending).
        while next < addrs.len() && (pending.is_empty() || Instant::now() >= next_start) {
            let addr = addrs[next];
            next += 1;
            match TcpStream::connect(addr) {
                Ok(mut s) => {
                    match registry.register(&mut s, token, Interest::READABLE | Interest::WRITABLE)
                    {
                        Ok(()) => {
                            log::debug!("connecting to {addr}");
                            pending.push((addr, s));
                            next_start = Instant::now() + stagger;
                        }
                        Err(e) => last_err = (ErrorKind::Io, format!("poller: {e}")),
                    }
                }
                Err(e) => last_err = (ErrorKind::Connect, format!("connect to {addr}: {e}")),
            }
        }
        // Look at every pending attempt: connected, failed, or still going.
        let mut i = 0;
        while i < pending.len() {
            match state(&pending[i].1) {
                Ok(true) => {
                    let (addr, winner) = pending.swap_remove(i);
                    close_all(&mut pending);
                    log::debug!("connected to {addr}");
                    return Ok(Ok(winner));
                }
                Ok(false) => i += 1,
                Err(e) => {
                    let (addr, mut s) = pending.swap_remove(i);
                    let _ = registry.deregister(&mut s);
                    last_err = (ErrorKind::Connect, format!("connect to {addr}: {e}"));
                    // A failure starts the next attempt at once (RFC 8305 §5).
                    next_start = Instant::now();
                }
            }
        }
        if pending.is_empty() && next >= addrs.len() {
            return Ok(Err(last_err));
        }
        if next < addrs.len() && (pending.is_empty() || Instant::now() >= next_start) {
            continue;
        }
        let wake_at = (next < addrs.len()).then_some(next_start);
        if let Err(e) = wait(wake_at).await {
            close_all(&mut pending);
            return Err(e);
        }
    }
}

/// Whether a non-blocking connect completed (`Ok(true)`), is still going, or failed.
fn state(s: &TcpStream) -> io::Result<bool> {
    if let Some(e) = s.take_error()? {
        return Err(e);
    }
    match s.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::net::TcpListener;

    type Raced = Result<Result<TcpStream, (ErrorKind, String)>, &'static str>;

    fn run(addrs: &[SocketAddr], stagger: Duration, within: Duration) -> (Raced, Duration) {
        let mut poll = Poll::new().unwrap();
        let registry = poll.registry().try_clone().unwrap();
        let mut events = Events::with_capacity(8);
        let t0 = Instant::now();
        let deadline = t0 + within;
        let r =
            crate::runtime::block_on(race(&registry, Token(1), addrs, stagger, async |wake_at| {
                let now = Instant::now();
                if now >= deadline {
                    return Err("timed out");
                }
                let until = wake_at.map_or(deadline, |w| w.min(deadline));
                poll.poll(&mut events, Some(until.saturating_duration_since(now)))
                    .unwrap();
                Ok(())
            }));
        (r, t0.elapsed())
    }

    fn refused_addr() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    #[test]
    fn first_address_that_accepts_wins() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = l.local_addr().unwrap();
        let (r, _) = run(&[good], STAGGER, Duration::from_secs(5));
        assert_eq!(r.unwrap().unwrap().peer_addr().unwrap(), good);
    }

    #[test]
    fn refused_addresses_do_not_wait_for_the_stagger() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = l.local_addr().unwrap();
        let addrs = [refused_addr(), refused_addr(), good];
        let (r, took) = run(&addrs, Duration::from_secs(3), Duration::from_secs(10));
        assert_eq!(r.unwrap().unwrap().peer_addr().unwrap(), good);
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }

    #[test]
    fn all_refused_reports_the_last_failure() {
        let bad = refused_addr();
        let (r, _) = run(&[bad], STAGGER, Duration::from_secs(5));
        let (kind, msg) = r.unwrap().unwrap_err();
        assert_eq!(kind, ErrorKind::Connect);
        assert!(msg.contains(&bad.to_string()), "{msg}");
        let (r, _) = run(&[], STAGGER, Duration::from_secs(5));
        assert!(r.unwrap().is_err());
    }
}
