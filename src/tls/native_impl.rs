//! The platform TLS backend (feature `native-tls`): OpenSSL, Schannel or Security.framework.

use std::io::{self, Read, Write};

use super::Link as TcpStream;
use native_tls::{Certificate, HandshakeError, Identity, MidHandshakeTlsStream, TlsStream};

use super::TlsOptions;
use crate::error::{Error, ErrorKind};

pub(super) fn connector(opts: &TlsOptions) -> Result<native_tls::TlsConnector, Error> {
    let mut b = native_tls::TlsConnector::builder();
    for pem in &opts.extra_ca_pem {
        let certs = Certificate::stack_from_pem(pem)
            .map_err(|e| Error::Tls(format!("bad PEM in CA bundle: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Tls("no certificate found in CA bundle".into()));
        }
        for c in certs {
            b.add_root_certificate(c);
        }
    }
    if let Some((chain, key)) = &opts.client_cert {
        let id = Identity::from_pkcs8(chain, key)
            .map_err(|e| Error::Tls(format!("client certificate rejected: {e}")))?;
        b.identity(id);
    }
    // native-tls has no bundled roots: its default roots are the platform's store.
    b.disable_built_in_roots(opts.no_bundled_roots && !opts.native_roots);
    if opts.dangerous_no_verify {
        b.danger_accept_invalid_certs(true);
        b.danger_accept_invalid_hostnames(true);
    }
    b.build()
        .map_err(|e| Error::Tls(format!("native-tls setup: {e}")))
}

/// A native-tls stream over a non-blocking socket: the handshake is resumed by reads and
/// writes until it completes.
pub(crate) enum NativeStream {
    Handshaking(MidHandshakeTlsStream<TcpStream>),
    Open(TlsStream<TcpStream>),
    /// The handshake failed (with the error, until reported); the socket is closed.
    Failed(Option<io::Error>),
}

impl NativeStream {
    pub(super) fn start(
        c: &native_tls::TlsConnector,
        host: &str,
        tcp: TcpStream,
    ) -> Result<NativeStream, (ErrorKind, String)> {
        Ok(match c.connect(host, tcp) {
            Ok(s) => NativeStream::Open(s),
            Err(HandshakeError::WouldBlock(mid)) => NativeStream::Handshaking(mid),
            // On loopback the whole handshake can complete (or fail) in this first call.
            // The failure is reported by the first read or write, like any later one, so
            // that it follows the same retry policy.
            Err(HandshakeError::Failure(e)) => NativeStream::Failed(Some(handshake_error(e))),
        })
    }

    pub(super) fn handshaking(&self) -> bool {
        matches!(self, NativeStream::Handshaking(_))
    }

    /// The open stream, resuming the handshake first if needed.
    fn open(&mut self) -> io::Result<&mut TlsStream<TcpStream>> {
        if let NativeStream::Handshaking(_) = self
            && let NativeStream::Handshaking(mid) =
                std::mem::replace(self, NativeStream::Failed(None))
        {
            match mid.handshake() {
                Ok(s) => *self = NativeStream::Open(s),
                Err(HandshakeError::WouldBlock(mid)) => {
                    *self = NativeStream::Handshaking(mid);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Err(HandshakeError::Failure(e)) => return Err(handshake_error(e)),
            }
        }
        match self {
            NativeStream::Open(s) => Ok(s),
            NativeStream::Failed(e) => Err(e.take().unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, "the TLS handshake failed")
            })),
            NativeStream::Handshaking(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Advance the handshake: `Ok` once complete, `WouldBlock` while it waits.
    pub(super) fn drive_handshake(&mut self) -> io::Result<()> {
        self.open().map(|_| ())
    }

    /// The link, if the stream still has one.
    pub(super) fn tcp_mut(&mut self) -> Option<&mut TcpStream> {
        match self {
            NativeStream::Handshaking(mid) => Some(mid.get_mut()),
            NativeStream::Open(s) => Some(s.get_mut()),
            NativeStream::Failed(_) => None,
        }
    }

    /// Send close_notify (best effort) and hand back the socket, if any.
    pub(super) fn shutdown(&mut self) -> Option<&mut TcpStream> {
        match self {
            NativeStream::Handshaking(mid) => Some(mid.get_mut()),
            NativeStream::Open(s) => {
                let _ = s.shutdown();
                Some(s.get_mut())
            }
            NativeStream::Failed(_) => None,
        }
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.open()?.read(buf)
    }

    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.open()?.write(buf)
    }

    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.open()?.flush()
    }
}

/// A failed handshake as an I/O error (a hang-up named as such).
fn handshake_error(e: native_tls::Error) -> io::Error {
    if e.to_string()
        .to_ascii_lowercase()
        .contains("unexpected eof")
    {
        super::closed_in_handshake(io::ErrorKind::UnexpectedEof.into(), true)
    } else {
        io::Error::other(e)
    }
}

/// Certificate failures, recognised in the platform library's message (OpenSSL's verify
/// results and alerts; Schannel and Security.framework word theirs differently and are
/// reported as `Tls` with their message).
pub(super) fn classify(e: &io::Error) -> Option<(ErrorKind, String)> {
    let inner = e.get_ref()?;
    let text = inner.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("unexpected eof") {
        // The peer closed without close_notify: like a TCP connection lost.
        return Some((ErrorKind::ConnectionLost, format!("TLS: {text}")));
    }
    let what = if lower.contains("certificate has expired") {
        "certificate expired"
    } else if lower.contains("certificate is not yet valid") {
        "certificate not valid yet"
    } else if lower.contains("hostname mismatch") || lower.contains("ip address mismatch") {
        "certificate not valid for this host name"
    } else if lower.contains("unable to get local issuer certificate")
        || lower.contains("unable to get issuer certificate")
        || lower.contains("self-signed certificate")
        || lower.contains("self signed certificate")
    {
        "unknown issuer"
    } else if lower.contains("alert certificate required")
        || lower.contains("alert bad certificate")
        || lower.contains("alert unknown ca")
        || lower.contains("alert certificate expired")
        || lower.contains("alert certificate unknown")
        || lower.contains("alert unsupported certificate")
        || lower.contains("alert certificate revoked")
    {
        return Some((
            ErrorKind::Certificate,
            format!("TLS: the server rejected the client certificate ({text})"),
        ));
    } else if lower.contains("certificate verify failed") {
        return Some((
            ErrorKind::Certificate,
            format!("TLS certificate rejected: {text}"),
        ));
    } else if inner.is::<native_tls::Error>() {
        return Some((ErrorKind::Tls, format!("TLS: {text}")));
    } else {
        return None;
    };
    Some((
        ErrorKind::Certificate,
        format!("TLS certificate rejected: {what} ({text})"),
    ))
}
