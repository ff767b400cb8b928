//! HTTP `CONNECT` (RFC 9110 §9.3.6), sans-IO: the request, then the proxy's reply parsed
//! with `httparse` and bounded in size.

use super::{Credentials, Step, TargetAddr, TunnelError};

/// The largest reply (status line and headers) read from a proxy.
pub(crate) const MAX_REPLY: usize = 16 * 1024;
/// The most headers a reply may have.
const MAX_HEADERS: usize = 64;

/// A `CONNECT` waiting for its reply.
#[derive(Debug)]
pub(crate) struct Connect {
    buf: Vec<u8>,
    authority: String,
}

impl Connect {
    /// The request to send and the state that reads the reply.
    pub(crate) fn start(target: &TargetAddr, auth: Option<&Credentials>) -> (Connect, Vec<u8>) {
        let authority = target.authority();
        let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(c) = auth {
            let basic = crate::redact::base64(format!("{}:{}", c.user, c.password).as_bytes());
            req.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
        }
        req.push_str("\r\n");
        let c = Connect {
            buf: Vec::new(),
            authority,
        };
        (c, req.into_bytes())
    }

    /// Feed bytes from the proxy (empty: it closed the connection).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Step, TunnelError> {
        if bytes.is_empty() {
            return Err(TunnelError::proxy(format!(
                "the HTTP proxy closed the connection before answering CONNECT {} ({} bytes \
                 received)",
                self.authority,
                self.buf.len()
            )));
        }
        self.buf.extend_from_slice(bytes);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                if self.buf.len() > MAX_REPLY {
                    return Err(TunnelError::proxy(format!(
                        "the HTTP proxy's reply to CONNECT exceeds {MAX_REPLY} bytes"
                    )));
                }
                return Ok(Step::Send(Vec::new()));
            }
            Err(e) => {
                return Err(TunnelError::proxy(format!(
                    "the HTTP proxy's reply to CONNECT is not HTTP ({e})"
                )));
            }
        };
        if len > MAX_REPLY {
            return Err(TunnelError::proxy(format!(
                "the HTTP proxy's reply to CONNECT exceeds {MAX_REPLY} bytes"
            )));
        }
        let code = resp.code.unwrap_or(0);
        let reason = resp.reason.unwrap_or("").to_owned();
        match code {
            200..=299 => {
                if self.buf.len() > len {
                    // Neither TLS nor the WebSocket handshake lets the server speak first.
                    return Err(TunnelError::proxy(
                        "the HTTP proxy sent data after its CONNECT reply, before the client spoke",
                    ));
                }
                Ok(Step::Done)
            }
            // 407 is the standard answer; tinyproxy 1.11 answers wrong credentials with 401
            // (and a WWW-Authenticate header). From a proxy, to CONNECT, both mean the same.
            401 | 407 => Err(TunnelError::auth(format!(
                "HTTP proxy authentication failed: {code} {reason} (check the user name and \
                 password in the proxy URL)"
            ))),
            _ => Err(TunnelError::proxy(format!(
                "the HTTP proxy refused CONNECT {}: {code} {reason}",
                self.authority
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn start(auth: Option<&Credentials>) -> (Connect, String) {
        let t = TargetAddr::Name("example.com".into(), 443);
        let (c, out) = Connect::start(&t, auth);
        (c, String::from_utf8(out).unwrap())
    }

    #[test]
    fn request_names_the_target_and_carries_basic_auth() {
        let (_, req) = start(None);
        assert_eq!(
            req,
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        let creds = Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        let (_, req) = start(Some(&creds));
        assert!(
            req.contains("\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"),
            "{req}"
        );
        let v6 = TargetAddr::Ip("[2001:db8::1]:8080".parse().unwrap());
        let req = String::from_utf8(Connect::start(&v6, None).1).unwrap();
        assert!(
            req.starts_with("CONNECT [2001:db8::1]:8080 HTTP/1.1\r\n"),
            "{req}"
        );
    }

    #[test]
    fn a_2xx_reply_opens_the_tunnel_even_in_pieces() {
        let (mut c, _) = start(None);
        let reply = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n";
        for (i, b) in reply.iter().enumerate() {
            let step = c.feed(std::slice::from_ref(b)).unwrap();
            if i + 1 < reply.len() {
                assert_eq!(step, Step::Send(Vec::new()));
            } else {
                assert_eq!(step, Step::Done);
            }
        }
        let (mut c, _) = start(None);
        assert_eq!(c.feed(b"HTTP/1.0 200 OK\r\n\r\n").unwrap(), Step::Done);
    }

    #[test]
    fn status_407_names_proxy_authentication_and_is_not_retried() {
        let (mut c, _) = start(None);
        let e = c
            .feed(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
            )
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProxyAuth);
        assert!(!e.retry);
        assert!(e.message.contains("proxy authentication"), "{}", e.message);
    }

    #[test]
    fn status_401_from_the_proxy_is_an_auth_error_too() {
        let (mut c, _) = start(None);
        let e = c.feed(b"HTTP/1.0 401 Unauthorized\r\n\r\n").unwrap_err();
        assert_eq!((e.kind, e.retry), (ErrorKind::ProxyAuth, false));
    }

    #[test]
    fn other_statuses_are_proxy_errors_that_may_be_retried() {
        for (reply, code) in [
            (&b"HTTP/1.1 403 Forbidden\r\n\r\n"[..], "403 Forbidden"),
            (
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad",
                "502",
            ),
        ] {
            let (mut c, _) = start(None);
            let e = c.feed(reply).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Proxy);
            assert!(e.retry);
            assert!(e.message.contains(code), "{}", e.message);
        }
    }

    #[test]
    fn garbage_oversized_and_early_close_are_errors() {
        let (mut c, _) = start(None);
        let e = c.feed(b"SSH-2.0-OpenSSH_9.6\r\n").unwrap_err();
        assert!(e.message.contains("not HTTP"), "{}", e.message);

        let (mut c, _) = start(None);
        c.feed(b"HTTP/1.1 200 OK\r\n").unwrap();
        let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
        let mut err = None;
        for _ in 0..200 {
            match c.feed(line.as_bytes()) {
                Ok(_) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let e = err.expect("an endless reply must be refused");
        assert!(e.message.contains("exceeds"), "{}", e.message);

        let (mut c, _) = start(None);
        c.feed(b"HTTP/1.1 200").unwrap();
        let e = c.feed(b"").unwrap_err();
        assert!(e.message.contains("closed the connection"), "{}", e.message);
        assert_eq!(e.kind, ErrorKind::Proxy);
    }

    #[test]
    fn data_after_the_reply_is_refused() {
        let (mut c, _) = start(None);
        let e = c.feed(b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101").unwrap_err();
        assert!(e.message.contains("sent data after"), "{}", e.message);
    }
}
