//! TLS for `wss://` and `https://` proxies: options, the client configuration of the TLS
//! backend (rustls by default, native-tls optionally), and the byte stream the I/O loop reads
//! and writes (plain or TLS over a [`Link`], all non-blocking; the TLS handshake is driven by
//! the first reads and writes). The link is the socket itself or, through an `https://` proxy,
//! a TLS session to the proxy over it: then `wss://` is TLS inside TLS.

use std::io::{self, Read, Write};
use std::path::Path;
#[cfg(feature = "rustls")]
use std::sync::Arc;

use crate::tcp::{Progress, Tcp};

use crate::error::{Error, ErrorKind};

/// TLS options for `wss://` URLs. Certificate verification is always on unless
/// [`TlsOptions::dangerous_disable_verification`] is set, which logs a warning at every connect.
///
/// The server name checked against the certificate (and sent as SNI) is the URL's host.
///
/// ```
/// use wsbeat::{Client, Error, TlsOptions};
///
/// // The default: verified against the bundled Mozilla roots (rustls).
/// # #[cfg(feature = "rustls")]
/// assert!(TlsOptions::backends().contains(&"rustls"));
///
/// // A private CA in addition (PEM text here; add_ca_file reads a file). connect() parses the
/// // TLS material before it starts anything, so a bad certificate is a typed error at once.
/// let tls = TlsOptions::default().add_ca_pem("not a PEM certificate");
/// let err = Client::builder("wss://127.0.0.1:9/").tls(tls).connect().unwrap_err();
/// assert!(matches!(err, Error::Tls(_)), "{err}");
///
/// // Mutual TLS: a client certificate chain and its key, both PEM.
/// let _mtls = TlsOptions::default().client_cert_pem(
///     "-----BEGIN CERTIFICATE-----\n...".as_bytes().to_vec(),
///     "-----BEGIN PRIVATE KEY-----\n...".as_bytes().to_vec(),
/// );
/// ```
#[derive(Clone, Default)]
pub struct TlsOptions {
    pub(crate) extra_ca_pem: Vec<Vec<u8>>,
    pub(crate) client_cert: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) no_bundled_roots: bool,
    pub(crate) native_roots: bool,
    pub(crate) dangerous_no_verify: bool,
    pub(crate) native_tls: bool,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("extra_ca_pem", &self.extra_ca_pem.len())
            .field("client_cert", &self.client_cert.is_some())
            .field("no_bundled_roots", &self.no_bundled_roots)
            .field("native_roots", &self.native_roots)
            .field("dangerous_no_verify", &self.dangerous_no_verify)
            .field("native_tls", &self.native_tls)
            .finish()
    }
}

impl TlsOptions {
    /// The TLS backends this build of wsbeat can use for `wss://`, in the order they are
    /// chosen by default: `"rustls"` (feature `rustls`, the default) and `"native-tls"`
    /// (feature `native-tls`). Empty when built without TLS: `wss://` URLs then fail at
    /// `connect()` with [`Error::Tls`].
    pub fn backends() -> &'static [&'static str] {
        &[
            #[cfg(feature = "rustls")]
            "rustls",
            #[cfg(feature = "native-tls")]
            "native-tls",
        ]
    }

    /// Trust the CA certificates in this PEM text (one or more `CERTIFICATE` blocks) as well as
    /// the default roots. May be called several times.
    pub fn add_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_ca_pem.push(pem.into());
        self
    }

    /// Trust the CA certificates in this PEM file as well as the default roots. Fails with
    /// [`Error::Tls`] naming the file when it cannot be read (its content is checked by
    /// [`crate::ClientBuilder::connect`]).
    pub fn add_ca_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
        Ok(self.add_ca_pem(pem))
    }

    /// Present this client certificate chain and private key (both PEM; the key PKCS#8
    /// `PRIVATE KEY`, or also PKCS#1/SEC1 with rustls) for mutual TLS. Defaults to none.
    pub fn client_cert_pem(
        mut self,
        cert_chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert = Some((cert_chain.into(), key.into()));
        self
    }

    /// Do not trust the default roots (the bundled Mozilla roots with rustls, the platform's
    /// store with native-tls): only added CAs and, if enabled, native roots. Defaults to false.
    pub fn without_bundled_roots(self) -> Self {
        self.bundled_roots(false)
    }

    /// Whether to trust the default roots (see [`TlsOptions::without_bundled_roots`]).
    /// Defaults to true.
    pub fn bundled_roots(mut self, yes: bool) -> Self {
        self.no_bundled_roots = !yes;
        self
    }

    /// Also trust the platform's root store (rustls backend; needs the `native-roots`
    /// feature; native-tls always uses it). Defaults to false.
    pub fn native_roots(mut self, yes: bool) -> Self {
        self.native_roots = yes;
        self
    }

    /// DANGEROUS: accept any server certificate, for any host name. For tests against
    /// self-signed servers only; a warning is logged at every connect. Defaults to false.
    pub fn dangerous_disable_verification(mut self, yes: bool) -> Self {
        self.dangerous_no_verify = yes;
        self
    }

    /// Use the platform's TLS library through native-tls (OpenSSL on Linux, Schannel on
    /// Windows, Security.framework on macOS) instead of rustls. Needs the `native-tls` feature.
    /// Defaults to false (builds without the `rustls` feature always use native-tls).
    pub fn use_native_tls(mut self, yes: bool) -> Self {
        self.native_tls = yes;
        self
    }

    /// Whether these options trust no certificate authority at all (every server would be
    /// refused).
    fn trusts_nothing(&self) -> bool {
        self.no_bundled_roots
            && self.extra_ca_pem.is_empty()
            && !self.native_roots
            && !self.dangerous_no_verify
    }
}

/// The prepared TLS client configuration (built once per client).
#[derive(Clone)]
pub(crate) enum TlsConnector {
    #[cfg(feature = "rustls")]
    Rustls(Arc<rustls::ClientConfig>),
    #[cfg(feature = "native-tls")]
    Native(native_tls::TlsConnector),
}

impl TlsConnector {
    /// Build the configuration; this is also where invalid TLS options are refused.
    pub(crate) fn new(opts: &TlsOptions) -> Result<Self, Error> {
        if opts.trusts_nothing() {
            return Err(Error::Tls(
                "without_bundled_roots() with no added CA and no native roots trusts nothing"
                    .into(),
            ));
        }
        if opts.native_tls || cfg!(not(feature = "rustls")) {
            Self::native(opts)
        } else {
            Self::rustls(opts)
        }
    }

    #[cfg(feature = "native-tls")]
    fn native(opts: &TlsOptions) -> Result<Self, Error> {
        native_impl::connector(opts).map(TlsConnector::Native)
    }

    #[cfg(not(feature = "native-tls"))]
    fn native(_: &TlsOptions) -> Result<Self, Error> {
        Err(Error::Tls(if cfg!(feature = "rustls") {
            "use_native_tls needs the `native-tls` feature".into()
        } else {
            "wss:// needs the `rustls` or the `native-tls` feature".into()
        }))
    }

    #[cfg(feature = "rustls")]
    fn rustls(opts: &TlsOptions) -> Result<Self, Error> {
        rustls_impl::build_config(opts).map(TlsConnector::Rustls)
    }

    #[cfg(not(feature = "rustls"))]
    fn rustls(opts: &TlsOptions) -> Result<Self, Error> {
        Self::native(opts)
    }
}

/// What a connection's [`Stream`] runs over: the socket, or (through an `https://` proxy) a
/// TLS session to the proxy over the socket, the tunnel inside it.
pub(crate) enum Link {
    /// The socket itself.
    Tcp(Tcp),
    /// TLS to the proxy (a [`Stream`] whose own link is [`Link::Tcp`]).
    ProxyTls(Box<Stream>),
}

impl Link {
    /// The socket at the bottom, if there still is one.
    fn tcp_mut(&mut self) -> Option<&mut Tcp> {
        match self {
            Link::Tcp(t) => Some(t),
            Link::ProxyTls(s) => s.tcp_mut(),
        }
    }

    /// End it: the proxy's TLS session gets its close_notify (best effort), then the socket
    /// leaves the poller and is shut down.
    fn shutdown(&mut self, registry: &mio::Registry) {
        match self {
            Link::Tcp(t) => {
                let _ = registry.deregister(t.sock_mut());
                let _ = t.sock_mut().shutdown(std::net::Shutdown::Both);
            }
            Link::ProxyTls(s) => s.shutdown(registry),
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(t) => t.read(buf),
            Link::ProxyTls(s) => s.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(t) => t.write(buf),
            Link::ProxyTls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Tcp(t) => t.flush(),
            Link::ProxyTls(s) => s.flush(),
        }
    }
}

/// A connection's byte stream: plain or TLS, over a [`Link`].
pub(crate) enum Stream {
    Plain(Link),
    #[cfg(feature = "rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Link>>),
    #[cfg(feature = "native-tls")]
    Native(Box<native_impl::NativeStream>),
}

impl Stream {
    /// Wrap a connected link; for TLS the handshake is driven by the first reads and writes
    /// (or by [`Stream::drive_handshake`]). `host` is the name verified and sent as SNI: the
    /// URL's host, or the proxy's for the TLS session to an `https://` proxy.
    pub(crate) fn new(
        tcp: Link,
        tls: Option<(&TlsConnector, &str)>,
    ) -> Result<Stream, (ErrorKind, String)> {
        let Some((connector, host)) = tls else {
            return Ok(Stream::Plain(tcp));
        };
        let _ = host;
        match *connector {
            #[cfg(feature = "rustls")]
            TlsConnector::Rustls(ref config) => {
                let name =
                    rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|e| {
                        (
                            ErrorKind::Tls,
                            format!("invalid TLS server name `{host}`: {e}"),
                        )
                    })?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| (ErrorKind::Tls, format!("TLS setup: {e}")))?;
                Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
            }
            #[cfg(feature = "native-tls")]
            TlsConnector::Native(ref c) => {
                native_impl::NativeStream::start(c, host, tcp).map(|s| Stream::Native(Box::new(s)))
            }
        }
    }

    /// Advance the TLS handshake: `Ok` once it completed (at once for a plain stream),
    /// `WouldBlock` while it waits for the socket, another error when it failed (classify it
    /// with [`classify_io`]).
    pub(crate) fn drive_handshake(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => {
                while s.conn.is_handshaking() {
                    let (conn, sock) = (&mut s.conn, &mut s.sock);
                    conn.complete_io(sock)
                        .map_err(|e| closed_in_handshake(e, true))?;
                }
                Ok(())
            }
            #[cfg(feature = "native-tls")]
            Stream::Native(s) => s.drive_handshake(),
        }
    }

    /// Whether this is a TLS stream whose TLS handshake has not completed yet.
    pub(crate) fn tls_handshaking(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => s.conn.is_handshaking(),
            #[cfg(feature = "native-tls")]
            Stream::Native(s) => s.handshaking(),
        }
    }

    /// Make the coming close reset the connection (SO_LINGER 0): bytes still unsent are
    /// discarded instead of being retransmitted after wsbeat gave the connection up.
    pub(crate) fn reset_on_close(&mut self) {
        if let Some(tcp) = self.tcp_mut() {
            let _ = socket2::SockRef::from(tcp.sock()).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    /// The socket under the TLS layers, if the stream still has one.
    fn tcp_mut(&mut self) -> Option<&mut Tcp> {
        match self {
            Stream::Plain(s) => s.tcp_mut(),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => s.sock.tcp_mut(),
            #[cfg(feature = "native-tls")]
            Stream::Native(s) => s.tcp_mut().and_then(Link::tcp_mut),
        }
    }

    /// The liveness evidence the socket gathered since the last call (see `tcp.rs`).
    pub(crate) fn take_progress(&mut self) -> Progress {
        self.tcp_mut().map(Tcp::take_progress).unwrap_or_default()
    }

    /// See [`Tcp::sync_interest`].
    pub(crate) fn sync_interest(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
    ) -> std::io::Result<()> {
        match self.tcp_mut() {
            Some(t) => t.sync_interest(registry, token),
            None => Ok(()),
        }
    }

    /// See [`Tcp::trust_edges`].
    pub(crate) fn trust_edges(&mut self) {
        if let Some(t) = self.tcp_mut() {
            t.trust_edges();
        }
    }

    /// See [`Tcp::poller_event`].
    pub(crate) fn poller_event(&mut self) {
        if let Some(t) = self.tcp_mut() {
            t.poller_event();
        }
    }

    /// See [`Tcp::lend`]. `false` when there is no socket (or it could not leave the poller).
    pub(crate) fn lend(&mut self, registry: &mio::Registry) -> bool {
        self.tcp_mut().is_some_and(|t| t.lend(registry).is_ok())
    }

    /// See [`Tcp::unlend`].
    pub(crate) fn unlend(&mut self, registry: &mio::Registry, token: mio::Token) -> io::Result<()> {
        match self.tcp_mut() {
            Some(t) => t.unlend(registry, token),
            None => Ok(()),
        }
    }

    /// The socket's descriptor, for a second poller to watch (`io_loop::direct_read`).
    pub(crate) fn raw_fd(&mut self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.tcp_mut().map(|t| t.sock().as_raw_fd())
    }

    /// See [`Tcp::refused`].
    pub(crate) fn write_refused(&mut self) -> bool {
        self.tcp_mut().is_some_and(|t| t.refused())
    }

    /// End the connection: a TLS close_notify (best effort, never waited for; to the server,
    /// then to an `https://` proxy), then the socket leaves the poller and is shut down both
    /// ways.
    #[allow(clippy::infallible_destructuring_match)] // in builds without TLS
    pub(crate) fn shutdown(&mut self, registry: &mio::Registry) {
        let link = match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.write_tls(&mut s.sock);
                let _ = s.sock.flush();
                &mut s.sock
            }
            #[cfg(feature = "native-tls")]
            Stream::Native(s) => match s.shutdown() {
                Some(link) => {
                    let _ = link.flush();
                    link
                }
                None => return, // the handshake failed: the socket is gone already
            },
        };
        link.shutdown(registry);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => {
                let handshaking = s.conn.is_handshaking();
                s.read(buf).map_err(|e| closed_in_handshake(e, handshaking))
            }
            #[cfg(feature = "native-tls")]
            Stream::Native(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => match s.write(buf) {
                Err(e) => Err(closed_in_handshake(e, s.conn.is_handshaking())),
                // rustls buffers at most 64 KiB of unsent TLS output. When the socket is
                // blocked but a read made progress, `write` accepts nothing and returns
                // Ok(0), which tungstenite would take for a reset connection. It is a
                // would-block: the pending output is flushed when the socket is writable.
                Ok(0) if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
                r => r,
            },
            #[cfg(feature = "native-tls")]
            Stream::Native(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => {
                let handshaking = s.conn.is_handshaking();
                s.flush().map_err(|e| closed_in_handshake(e, handshaking))
            }
            #[cfg(feature = "native-tls")]
            Stream::Native(s) => s.flush(),
        }
    }
}

/// The server hung up before the TLS handshake completed: typically a `wss://` URL pointing
/// at a plain-TCP port.
#[derive(Debug)]
struct ClosedInHandshake;

impl std::fmt::Display for ClosedInHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "TLS: the server closed the connection during the TLS handshake (is it a TLS port?)",
        )
    }
}

impl std::error::Error for ClosedInHandshake {}

/// Name a connection closed while `handshaking` for what it is.
#[cfg_attr(not(any(feature = "rustls", feature = "native-tls")), allow(dead_code))]
fn closed_in_handshake(e: io::Error, handshaking: bool) -> io::Error {
    let closed = matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    );
    if handshaking && closed {
        io::Error::new(e.kind(), ClosedInHandshake)
    } else {
        e
    }
}

/// Classify an I/O error that may carry a TLS error: certificate problems get their own kind.
pub(crate) fn classify_io(e: &io::Error) -> (ErrorKind, String) {
    if let Some(closed) = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<ClosedInHandshake>())
    {
        return (ErrorKind::Tls, closed.to_string());
    }
    #[cfg(feature = "rustls")]
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return rustls_impl::classify(tls);
    }
    #[cfg(feature = "native-tls")]
    if let Some(found) = native_impl::classify(e) {
        return found;
    }
    let kind = match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::ConnectionLost,
        _ => ErrorKind::Io,
    };
    (kind, e.to_string())
}

#[cfg(feature = "rustls")]
mod rustls_impl;

#[cfg(feature = "native-tls")]
mod native_impl;

/// docs/TLS.md (a README section), compiled as doctests so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/TLS.md")]
pub struct TlsDocDoctests;
