//! Name resolution off the I/O thread, and the order addresses are tried in.
//!
//! `getaddrinfo` blocks for as long as the system's resolver likes and cannot be cancelled,
//! so each lookup runs on a thread of its own, which wakes the I/O loop once it has answered;
//! the loop sleeps meanwhile as it does for I/O (taking commands), bounded by the connect
//! deadline and interruptible by `close()`. A lookup given up on finishes in the background and its answer
//! is dropped.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, bounded};

/// A function from host and port to addresses (the system's by default; tests inject one).
pub(crate) type ResolveFn = Arc<dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The answer of one lookup.
pub(crate) type Answer = io::Result<Vec<SocketAddr>>;

/// The system resolver (`getaddrinfo` through `ToSocketAddrs`).
pub(crate) fn system() -> ResolveFn {
    Arc::new(|host: &str, port: u16| (host, port).to_socket_addrs().map(Iterator::collect))
}

/// A resolver, shown without its function.
#[derive(Clone)]
pub(crate) struct Resolver(pub(crate) ResolveFn);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver(system())
    }
}

impl Resolver {
    /// Start looking up `host:port` on a thread of its own; the answer arrives on the
    /// returned channel, then `answered` runs (it wakes the I/O loop).
    pub(crate) fn spawn(
        &self,
        host: &str,
        port: u16,
        answered: impl FnOnce() + Send + 'static,
    ) -> io::Result<Receiver<Answer>> {
        let (tx, rx) = bounded(1);
        let f = self.0.clone();
        let host = host.to_owned();
        thread::Builder::new()
            .name("wsbeat-dns".into())
            .spawn(move || {
                let answer = catch_unwind(AssertUnwindSafe(|| f(&host, port)))
                    .unwrap_or_else(|_| Err(io::Error::other("the resolver panicked")));
                // The I/O thread may have given up (timeout, close): then nobody listens.
                let _ = tx.send(answer);
                answered();
            })?;
        Ok(rx)
    }
}

/// The order to try addresses in (RFC 8305 §4): families interleaved, starting with the
/// family of the first address the resolver returned (which ranks them per RFC 6724).
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first().copied() else {
        return addrs;
    };
    let (mut same, mut other): (Vec<_>, Vec<_>) = addrs
        .into_iter()
        .partition(|a| a.is_ipv6() == first.is_ipv6());
    same.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(same.len() + other.len());
    while let Some(a) = same.pop() {
        out.push(a);
        if let Some(b) = other.pop() {
            out.push(b);
        }
    }
    out.extend(other.into_iter().rev());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn families_are_interleaved_starting_with_the_first() {
        let v6 = [a("[::1]:1"), a("[::2]:1"), a("[::3]:1")];
        let v4 = [a("127.0.0.1:1"), a("127.0.0.2:1")];
        let mixed = vec![v6[0], v6[1], v6[2], v4[0], v4[1]];
        assert_eq!(interleave(mixed), vec![v6[0], v4[0], v6[1], v4[1], v6[2]]);
        let mixed = vec![v4[0], v4[1], v6[0], v6[1], v6[2]];
        assert_eq!(interleave(mixed), vec![v4[0], v6[0], v4[1], v6[1], v6[2]]);
        assert_eq!(interleave(v4.to_vec()), v4.to_vec());
        assert_eq!(interleave(Vec::new()), Vec::<SocketAddr>::new());
    }

    #[test]
    fn a_lookup_answers_through_the_channel_and_wakes() {
        let r = Resolver(Arc::new(|h: &str, p| {
            assert_eq!(h, "example.test");
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], p))])
        }));
        let rx = r.spawn("example.test", 9, || {}).unwrap();
        let got = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(got, vec![a("127.0.0.1:9")]);
    }

    #[test]
    fn a_panicking_resolver_is_an_error() {
        let r = Resolver(Arc::new(|_: &str, _| panic!("boom")));
        let rx = r.spawn("x", 1, || {}).unwrap();
        let e = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("panicked"));
    }

    #[test]
    fn the_system_resolver_knows_localhost() {
        let got = system()("localhost", 80).unwrap();
        assert!(
            got.iter().all(|a| a.ip().is_loopback() && a.port() == 80),
            "{got:?}"
        );
    }
}
