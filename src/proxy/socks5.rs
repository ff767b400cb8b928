//! SOCKS5 `CONNECT` (RFC 1928) with username/password authentication (RFC 1929), as a
//! small state machine: feed the bytes read, get the bytes to send, until done.

use std::net::SocketAddr;

use super::{Credentials, Step, TargetAddr, TunnelError};

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xFF;
const CMD_CONNECT: u8 = 1;
const ATYP_V4: u8 = 1;
const ATYP_NAME: u8 = 3;
const ATYP_V6: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Greeting sent; waiting for the method selection (2 bytes).
    Method,
    /// Username/password sent; waiting for its status (2 bytes).
    Auth,
    /// Request sent; waiting for the reply (length depends on its address type).
    Reply,
    Done,
}

/// A SOCKS5 handshake in progress.
#[derive(Debug)]
pub(crate) struct Socks5 {
    state: State,
    buf: Vec<u8>,
    target: TargetAddr,
    credentials: Option<Credentials>,
}

impl Socks5 {
    /// The greeting to send, offering username/password only when we have credentials.
    pub(crate) fn start(
        target: TargetAddr,
        credentials: Option<Credentials>,
    ) -> Result<(Socks5, Vec<u8>), TunnelError> {
        if let TargetAddr::Name(n, _) = &target
            && (n.is_empty() || n.len() > 255)
        {
            return Err(TunnelError::proxy(format!(
                "SOCKS5 cannot carry a host name of {} bytes (1 to 255)",
                n.len()
            )));
        }
        let greeting = if credentials.is_some() {
            vec![VERSION, 2, NO_AUTH, USER_PASS]
        } else {
            vec![VERSION, 1, NO_AUTH]
        };
        let s = Socks5 {
            state: State::Method,
            buf: Vec::new(),
            target,
            credentials,
        };
        Ok((s, greeting))
    }

    /// Feed bytes from the proxy (empty: it closed the connection).
    ///
    /// Over 80 lines on purpose: one `match` over the RFC 1928/1929 exchange's states, each arm
    /// a step of the protocol, reads best as one table.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Step, TunnelError> {
        if bytes.is_empty() {
            return Err(TunnelError::proxy(format!(
                "the SOCKS5 proxy closed the connection {}",
                match self.state {
                    State::Method => "before choosing an authentication method",
                    State::Auth => "during authentication",
                    _ => "before answering CONNECT",
                }
            )));
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let before = self.state;
            match self.state {
                State::Method => {
                    let Some(m) = self.take(2) else { break };
                    if m[0] != VERSION {
                        return Err(not_socks5(m[0]));
                    }
                    match (m[1], &self.credentials) {
                        (NO_AUTH, _) => {
                            out.extend(self.request());
                            self.state = State::Reply;
                        }
                        (USER_PASS, Some(c)) => {
                            out.extend(auth_request(c));
                            self.state = State::Auth;
                        }
                        (NO_ACCEPTABLE, None) => {
                            return Err(TunnelError::auth(
                                "the SOCKS5 proxy requires authentication: put a user name and \
                                 password in the proxy URL",
                            ));
                        }
                        (NO_ACCEPTABLE, Some(_)) => {
                            return Err(TunnelError::auth(
                                "the SOCKS5 proxy accepts neither no authentication nor \
                                 username/password",
                            ));
                        }
                        (other, _) => {
                            return Err(TunnelError::proxy(format!(
                                "the SOCKS5 proxy chose authentication method {other:#04x}, \
                                 which was not offered"
                            )));
                        }
                    }
                }
                State::Auth => {
                    let Some(r) = self.take(2) else { break };
                    // RFC 1929's version is 1; some servers echo 5. Either is accepted.
                    if r[0] != 1 && r[0] != VERSION {
                        return Err(TunnelError::proxy(format!(
                            "the SOCKS5 proxy's authentication reply has version {}",
                            r[0]
                        )));
                    }
                    if r[1] != 0 {
                        return Err(TunnelError::auth(format!(
                            "SOCKS5 proxy authentication failed: the proxy refused the user \
                             name and password (status {})",
                            r[1]
                        )));
                    }
                    out.extend(self.request());
                    self.state = State::Reply;
                }
                State::Reply => {
                    let Some(head) = self.buf.get(..5) else { break };
                    if head[0] != VERSION {
                        return Err(not_socks5(head[0]));
                    }
                    if head[1] != 0 {
                        return Err(reply_error(head[1], &self.target));
                    }
                    let addr_len = match head[3] {
                        ATYP_V4 => 4,
                        ATYP_V6 => 16,
                        ATYP_NAME => 1 + usize::from(head[4]),
                        other => {
                            return Err(TunnelError::proxy(format!(
                                "the SOCKS5 proxy's reply has address type {other}"
                            )));
                        }
                    };
                    if self.take(4 + addr_len + 2).is_none() {
                        break;
                    }
                    self.state = State::Done;
                }
                State::Done => {
                    if !self.buf.is_empty() {
                        return Err(TunnelError::proxy(
                            "the SOCKS5 proxy sent data after its reply, before the client spoke",
                        ));
                    }
                    return Ok(Step::Done);
                }
            }
            debug_assert_ne!(before, self.state);
        }
        Ok(Step::Send(out))
    }

    /// The first `n` buffered bytes, removed, once there are that many.
    fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        (self.buf.len() >= n).then(|| self.buf.drain(..n).collect())
    }

    /// The CONNECT request for the target.
    fn request(&self) -> Vec<u8> {
        let mut r = vec![VERSION, CMD_CONNECT, 0];
        let port = match &self.target {
            TargetAddr::Name(n, p) => {
                r.push(ATYP_NAME);
                r.push(n.len() as u8); // checked in start(): 1..=255
                r.extend_from_slice(n.as_bytes());
                *p
            }
            TargetAddr::Ip(SocketAddr::V4(a)) => {
                r.push(ATYP_V4);
                r.extend_from_slice(&a.ip().octets());
                a.port()
            }
            TargetAddr::Ip(SocketAddr::V6(a)) => {
                r.push(ATYP_V6);
                r.extend_from_slice(&a.ip().octets());
                a.port()
            }
        };
        r.extend_from_slice(&port.to_be_bytes());
        r
    }
}

/// RFC 1929 request: version 1, user name and password (each 1..=255 bytes, checked when the
/// proxy URL was parsed).
fn auth_request(c: &Credentials) -> Vec<u8> {
    let mut r = vec![1, c.user.len() as u8];
    r.extend_from_slice(c.user.as_bytes());
    r.push(c.password.len() as u8);
    r.extend_from_slice(c.password.as_bytes());
    r
}

fn not_socks5(version: u8) -> TunnelError {
    TunnelError::proxy(format!(
        "the proxy's reply is not SOCKS5 (version byte {version:#04x})"
    ))
}

fn reply_error(rep: u8, target: &TargetAddr) -> TunnelError {
    let why = match rep {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply code",
    };
    TunnelError::proxy(format!(
        "the SOCKS5 proxy could not connect to {}: {why} (reply {rep})",
        target.authority()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn ok_reply_v4() -> Vec<u8> {
        let mut r = vec![VERSION, 0, 0, ATYP_V4];
        r.extend_from_slice(&Ipv4Addr::LOCALHOST.octets());
        r.extend_from_slice(&1080u16.to_be_bytes());
        r
    }

    fn creds() -> Credentials {
        Credentials {
            user: "bob".into(),
            password: "pw".into(),
        }
    }

    #[test]
    fn no_auth_by_name_socks5h_style() {
        let target = TargetAddr::Name("example.com".into(), 443);
        let (mut s, hello) = Socks5::start(target, None).unwrap();
        assert_eq!(hello, [5, 1, 0]);
        let Step::Send(req) = s.feed(&[5, 0]).unwrap() else {
            panic!("expected the request")
        };
        let mut want = vec![5, 1, 0, 3, 11];
        want.extend_from_slice(b"example.com");
        want.extend_from_slice(&443u16.to_be_bytes());
        assert_eq!(req, want);
        assert_eq!(s.feed(&ok_reply_v4()).unwrap(), Step::Done);
    }

    #[test]
    fn by_address_socks5_style_v4_and_v6() {
        let (mut s, _) =
            Socks5::start(TargetAddr::Ip("127.0.0.1:8080".parse().unwrap()), None).unwrap();
        let Step::Send(req) = s.feed(&[5, 0]).unwrap() else {
            panic!()
        };
        assert_eq!(req, [5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);

        let v6: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1);
        let (mut s, _) = Socks5::start(TargetAddr::Ip(v6), None).unwrap();
        let Step::Send(req) = s.feed(&[5, 0]).unwrap() else {
            panic!()
        };
        assert_eq!(req.len(), 4 + 16 + 2);
        assert_eq!((req[3], req[19], req[21]), (4, 1, 1));
    }

    #[test]
    fn username_password_then_connect_with_replies_in_pieces() {
        let (mut s, hello) =
            Socks5::start(TargetAddr::Name("h".into(), 80), Some(creds())).unwrap();
        assert_eq!(hello, [5, 2, 0, 2]);
        assert_eq!(s.feed(&[5]).unwrap(), Step::Send(vec![]));
        let Step::Send(auth) = s.feed(&[2]).unwrap() else {
            panic!()
        };
        assert_eq!(auth, [1, 3, b'b', b'o', b'b', 2, b'p', b'w']);
        let Step::Send(req) = s.feed(&[1, 0]).unwrap() else {
            panic!()
        };
        assert_eq!(req, [5, 1, 0, 3, 1, b'h', 0, 80]);
        // A reply with a domain-name bound address, one byte at a time.
        let reply = [5, 0, 0, 3, 4, b'p', b'r', b'x', b'y', 0x04, 0x38];
        for b in &reply[..reply.len() - 1] {
            assert_eq!(s.feed(std::slice::from_ref(b)).unwrap(), Step::Send(vec![]));
        }
        assert_eq!(s.feed(&reply[reply.len() - 1..]).unwrap(), Step::Done);
    }

    #[test]
    fn a_proxy_that_picks_no_auth_gets_no_credentials() {
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), Some(creds())).unwrap();
        let Step::Send(req) = s.feed(&[5, 0]).unwrap() else {
            panic!()
        };
        assert_eq!(req[..4], [5, 1, 0, 3]);
    }

    #[test]
    fn refused_credentials_and_missing_credentials_are_auth_errors_not_retried() {
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), Some(creds())).unwrap();
        s.feed(&[5, 2]).unwrap();
        let e = s.feed(&[1, 1]).unwrap_err();
        assert_eq!((e.kind, e.retry), (ErrorKind::ProxyAuth, false));
        assert!(e.message.contains("authentication failed"), "{}", e.message);
        assert!(!e.message.contains("pw"));

        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), None).unwrap();
        let e = s.feed(&[5, 0xFF]).unwrap_err();
        assert_eq!((e.kind, e.retry), (ErrorKind::ProxyAuth, false));
        assert!(
            e.message.contains("requires authentication"),
            "{}",
            e.message
        );
    }

    #[test]
    fn protocol_violations_are_proxy_errors() {
        // Not SOCKS5 at all (an HTTP proxy answering).
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), None).unwrap();
        let e = s.feed(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Proxy);
        assert!(e.message.contains("not SOCKS5"), "{}", e.message);
        // A method we did not offer.
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), None).unwrap();
        assert!(s.feed(&[5, 2]).unwrap_err().message.contains("not offered"));
        // A bad address type in the reply.
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), None).unwrap();
        s.feed(&[5, 0]).unwrap();
        assert!(
            s.feed(&[5, 0, 0, 9, 0])
                .unwrap_err()
                .message
                .contains("address type 9")
        );
        // Closed early, at each state.
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), None).unwrap();
        assert!(
            s.feed(&[])
                .unwrap_err()
                .message
                .contains("closed the connection")
        );
        s.feed(&[5, 0]).unwrap();
        assert!(
            s.feed(&[])
                .unwrap_err()
                .message
                .contains("before answering")
        );
        // Data after the reply.
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), None).unwrap();
        s.feed(&[5, 0]).unwrap();
        let mut r = ok_reply_v4();
        r.push(b'x');
        assert!(s.feed(&r).unwrap_err().message.contains("sent data after"));
    }

    #[test]
    fn connect_failures_name_the_reply_code() {
        let (mut s, _) = Socks5::start(TargetAddr::Name("h".into(), 80), None).unwrap();
        s.feed(&[5, 0]).unwrap();
        let e = s.feed(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!((e.kind, e.retry), (ErrorKind::Proxy, true));
        assert!(
            e.message.contains("connection refused (reply 5)"),
            "{}",
            e.message
        );
        assert!(e.message.contains("h:80"), "{}", e.message);
    }

    #[test]
    fn host_names_over_255_bytes_cannot_be_sent() {
        let e = Socks5::start(TargetAddr::Name("a".repeat(256), 80), None).unwrap_err();
        assert!(e.message.contains("256 bytes"), "{}", e.message);
    }
}
