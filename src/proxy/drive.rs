//! Running a [`Tunnel`] handshake over a non-blocking socket: write what it asks, read what
//! arrives, and between the two let the caller wait (in its poller, under its deadline,
//! taking its commands).

use std::io::{self, Read, Write};

use super::{Step, Tunnel, TunnelError};

/// Drive `tunnel` over `sock` until it is open. `out` is the first step's bytes. `wait` is
/// called whenever the socket would block; its error (a timeout, a close request) ends the
/// handshake at once and is returned as the outer error.
pub(crate) async fn drive<S: Read + Write, E>(
    sock: &mut S,
    mut tunnel: Tunnel,
    mut out: Vec<u8>,
    mut wait: impl AsyncFnMut() -> Result<(), E>,
) -> Result<Result<(), TunnelError>, E> {
    let broken = |e: io::Error| TunnelError::proxy(format!("the proxy connection failed: {e}"));
    let mut buf = [0u8; 4096];
    loop {
        let mut blocked = false;
        while !out.is_empty() {
            match sock.write(&out) {
                Ok(0) => return Ok(Err(broken(io::ErrorKind::WriteZero.into()))),
                Ok(n) => {
                    out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ok(Err(broken(e))),
            }
        }
        if out.is_empty() {
            match sock.read(&mut buf) {
                Ok(n) => match tunnel.feed(&buf[..n]) {
                    Ok(Step::Done) => return Ok(Ok(())),
                    Ok(Step::Send(next)) => {
                        out = next;
                        continue;
                    }
                    Err(e) => return Ok(Err(e)),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => blocked = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(Err(TunnelError::proxy(
                        "the proxy reset the connection during the handshake",
                    )));
                }
                Err(e) => return Ok(Err(broken(e))),
            }
        }
        if blocked {
            wait().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ProxyUrl, TargetAddr};
    use super::*;
    use crate::error::ErrorKind;
    use std::collections::VecDeque;

    /// A socket that blocks every other call and replays scripted reads.
    struct Scripted {
        reads: VecDeque<io::Result<Vec<u8>>>,
        written: Vec<u8>,
        flip: bool,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.flip = !self.flip;
            if self.flip {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match self.reads.pop_front() {
                None => Err(io::ErrorKind::WouldBlock.into()),
                Some(Ok(b)) => {
                    buf[..b.len()].copy_from_slice(&b);
                    Ok(b.len())
                }
                Some(Err(e)) => Err(e),
            }
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            // One byte at a time: partial writes are resumed.
            self.written.push(buf[0]);
            Ok(1)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run(
        proxy: &str,
        reads: Vec<io::Result<Vec<u8>>>,
        waits: usize,
    ) -> (Result<Result<(), TunnelError>, &'static str>, Vec<u8>) {
        let p = ProxyUrl::parse(proxy).unwrap();
        let (t, out) = Tunnel::start(&p, TargetAddr::Name("h".into(), 80)).unwrap();
        let mut s = Scripted {
            reads: reads.into(),
            written: Vec::new(),
            flip: false,
        };
        let mut n = 0;
        let r = crate::runtime::block_on(drive(&mut s, t, out, async || {
            n += 1;
            if n > waits { Err("timed out") } else { Ok(()) }
        }));
        (r, s.written)
    }

    #[test]
    fn socks5_through_a_socket_that_blocks() {
        let (r, written) = run(
            "socks5h://u:p@x:1",
            vec![
                Ok(vec![5, 2]),
                Ok(vec![1, 0]),
                Ok(vec![5, 0, 0, 1, 1, 2, 3, 4, 0, 80]),
            ],
            100,
        );
        assert_eq!(r, Ok(Ok(())));
        let want = [5, 2, 0, 2, 1, 1, b'u', 1, b'p', 5, 1, 0, 3, 1, b'h', 0, 80];
        assert_eq!(written, want);
    }

    #[test]
    fn http_connect_and_its_failures() {
        let (r, written) = run(
            "http://x:1",
            vec![Ok(b"HTTP/1.1 200 OK\r\n\r\n".to_vec())],
            100,
        );
        assert_eq!(r, Ok(Ok(())));
        assert!(written.starts_with(b"CONNECT h:80 HTTP/1.1\r\n"));
        // Closed early.
        let (r, _) = run(
            "http://x:1",
            vec![Ok(b"HTTP/1.1".to_vec()), Ok(Vec::new())],
            100,
        );
        assert!(
            r.unwrap()
                .unwrap_err()
                .message
                .contains("closed the connection")
        );
        // Reset.
        let (r, _) = run(
            "http://x:1",
            vec![Err(io::ErrorKind::ConnectionReset.into())],
            100,
        );
        assert_eq!(r.unwrap().unwrap_err().kind, ErrorKind::Proxy);
        // Never answers: the caller's wait error ends it.
        let (r, _) = run("http://x:1", vec![], 3);
        assert_eq!(r, Err("timed out"));
    }
}
