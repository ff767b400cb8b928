//! The link to an `https://` proxy: a TLS session to the proxy over the connected socket,
//! its handshake driven to completion here (resumed on readiness, under the connect deadline,
//! interruptible by `close()`) before the tunnel handshake runs inside it. Any other proxy's
//! link is the socket itself.

use std::io;
use std::time::Instant;

use mio::net::TcpStream;

use super::IoLoop;
use super::decide::Abort;
use crate::backoff::Hint;
use crate::error::ErrorKind;
use crate::proxy::{ProxyScheme, ProxyUrl};
use crate::tcp::Tcp;
use crate::tls::{Link, Stream, TlsConnector, classify_io};

impl IoLoop {
    /// What the tunnel handshake to `proxy` runs over: for `https://`, TLS to the proxy
    /// (verified with the client's TLS options against the proxy's host), else the socket.
    pub(super) async fn proxy_link(
        &mut self,
        tcp: TcpStream,
        proxy: &ProxyUrl,
        deadline: Instant,
    ) -> Result<Link, Abort> {
        let tcp = Link::Tcp(Tcp::new(tcp));
        if proxy.scheme != ProxyScheme::Https {
            return Ok(tcp);
        }
        let shown = proxy.redacted();
        if self.tls.is_none() {
            match TlsConnector::new(&self.cfg.tls) {
                Ok(c) => self.tls = Some(c),
                Err(e) => {
                    let msg = format!("TLS setup for the proxy {shown}: {e}");
                    return Err(self.fail_attempt(ErrorKind::Tls, msg, false, Hint::None));
                }
            }
        }
        let Some(connector) = self.tls.as_ref() else {
            unreachable!("set above")
        };
        if self.cfg.tls.dangerous_no_verify {
            log::warn!(
                "TLS certificate verification is DISABLED (dangerous_disable_verification) \
                 for this connection to the proxy {shown}"
            );
        }
        let mut stream = match Stream::new(tcp, Some((connector, &proxy.host))) {
            Ok(s) => s,
            Err((kind, msg)) => {
                let msg = format!("{msg} (proxy {shown})");
                return Err(self.fail_attempt(kind, msg, false, Hint::None));
            }
        };
        loop {
            match stream.drive_handshake() {
                Ok(()) => return Ok(Link::ProxyTls(Box::new(stream))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_connecting(deadline, "the TLS handshake with the proxy")
                        .await?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let (kind, msg) = classify_io(&e);
                    let kind = match kind {
                        ErrorKind::Certificate => ErrorKind::Certificate,
                        _ => ErrorKind::Tls,
                    };
                    let retry = kind != ErrorKind::Certificate
                        || self.cfg.reconnect.retry_certificate_errors;
                    let msg = format!("TLS to the proxy {shown}: {msg}");
                    return Err(self.fail_attempt(kind, msg, retry, Hint::None));
                }
            }
        }
    }
}
