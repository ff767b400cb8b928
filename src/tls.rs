//! TLS for `wss://`: options, the rustls client configuration, and the byte stream the I/O loop
//! reads and writes (plain TCP or TLS over TCP, both non-blocking).

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;

use crate::error::{Error, ErrorKind};

/// TLS options for `wss://` URLs. Certificate verification is always on unless
/// [`TlsOptions::dangerous_disable_verification`] is set, which logs a warning at every connect.
#[derive(Clone, Default)]
pub struct TlsOptions {
    pub(crate) extra_ca_pem: Vec<Vec<u8>>,
    pub(crate) client_cert: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) no_bundled_roots: bool,
    pub(crate) native_roots: bool,
    pub(crate) dangerous_no_verify: bool,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("extra_ca_pem", &self.extra_ca_pem.len())
            .field("client_cert", &self.client_cert.is_some())
            .field("no_bundled_roots", &self.no_bundled_roots)
            .field("native_roots", &self.native_roots)
            .field("dangerous_no_verify", &self.dangerous_no_verify)
            .finish()
    }
}

impl TlsOptions {
    /// Trust the CA certificates in this PEM text as well as the default roots.
    pub fn add_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_ca_pem.push(pem.into());
        self
    }

    /// Trust the CA certificates in this PEM file as well as the default roots.
    pub fn add_ca_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
        Ok(self.add_ca_pem(pem))
    }

    /// Present this client certificate chain and private key (both PEM) for mutual TLS.
    pub fn client_cert_pem(
        mut self,
        cert_chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert = Some((cert_chain.into(), key.into()));
        self
    }

    /// Do not trust the bundled Mozilla roots (only added CAs and, if enabled, native roots).
    /// Defaults to false.
    pub fn without_bundled_roots(mut self) -> Self {
        self.no_bundled_roots = true;
        self
    }

    /// Also trust the platform's root store (needs the `native-roots` feature). Defaults to false.
    pub fn native_roots(mut self, yes: bool) -> Self {
        self.native_roots = yes;
        self
    }

    /// DANGEROUS: accept any server certificate. For tests against self-signed servers only;
    /// a warning is logged at every connect. Defaults to false.
    pub fn dangerous_disable_verification(mut self, yes: bool) -> Self {
        self.dangerous_no_verify = yes;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        #[cfg(feature = "rustls")]
        {
            rustls_impl::build_config(self).map(|_| ())
        }
        #[cfg(not(feature = "rustls"))]
        {
            Err(Error::Tls("wss:// needs the `rustls` feature".into()))
        }
    }
}

/// The prepared TLS client configuration (built once per client).
#[derive(Clone)]
pub(crate) struct TlsConnector {
    #[cfg(feature = "rustls")]
    config: Arc<rustls::ClientConfig>,
}

impl TlsConnector {
    pub(crate) fn new(opts: &TlsOptions) -> Result<Self, Error> {
        #[cfg(feature = "rustls")]
        {
            Ok(TlsConnector {
                config: rustls_impl::build_config(opts)?,
            })
        }
        #[cfg(not(feature = "rustls"))]
        {
            let _ = opts;
            let _ = Arc::new(());
            Err(Error::Tls("wss:// needs the `rustls` feature".into()))
        }
    }
}

/// A connection's byte stream: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// Wrap a connected socket; for TLS the handshake is driven by the first reads and writes.
    pub(crate) fn new(
        tcp: TcpStream,
        tls: Option<(&TlsConnector, &str)>,
    ) -> Result<Stream, (ErrorKind, String)> {
        match tls {
            None => Ok(Stream::Plain(tcp)),
            #[cfg(feature = "rustls")]
            Some((c, host)) => {
                let name =
                    rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|e| {
                        (
                            ErrorKind::Tls,
                            format!("invalid TLS server name `{host}`: {e}"),
                        )
                    })?;
                let conn = rustls::ClientConnection::new(c.config.clone(), name)
                    .map_err(|e| (ErrorKind::Tls, format!("TLS setup: {e}")))?;
                Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
            }
            #[cfg(not(feature = "rustls"))]
            Some(_) => Err((ErrorKind::Tls, "wss:// needs the `rustls` feature".into())),
        }
    }

    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => &mut s.sock,
        }
    }

    /// Whether this is a TLS stream whose TLS handshake has not completed yet.
    pub(crate) fn tls_handshaking(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => s.conn.is_handshaking(),
        }
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => match s.write(buf) {
                // rustls buffers at most 64 KiB of unsent TLS output. When the socket is
                // blocked but a read made progress, `write` accepts nothing and returns
                // Ok(0), which tungstenite would take for a reset connection. It is a
                // would-block: the pending output is flushed when the socket is writable.
                Ok(0) if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
                r => r,
            },
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Classify an I/O error that may carry a rustls error: certificate problems get their own kind.
pub(crate) fn classify_io(e: &io::Error) -> (ErrorKind, String) {
    #[cfg(feature = "rustls")]
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return rustls_impl::classify(tls);
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
mod rustls_impl {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use rustls::{
        AlertDescription, CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
    };

    use super::TlsOptions;
    use crate::error::{Error, ErrorKind};

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Tls(format!("bad PEM in {what}: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Tls(format!("no certificate found in {what}")));
        }
        Ok(certs)
    }

    pub(super) fn build_config(opts: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, Error> {
        let mut roots = RootCertStore::empty();
        if !opts.no_bundled_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if opts.native_roots {
            #[cfg(feature = "native-roots")]
            {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    log::warn!("loading a native root certificate failed: {e}");
                }
                let (added, _) = roots.add_parsable_certificates(found.certs);
                log::debug!("trusting {added} native root certificates");
            }
            #[cfg(not(feature = "native-roots"))]
            return Err(Error::Tls(
                "native roots need the `native-roots` feature".into(),
            ));
        }
        for pem in &opts.extra_ca_pem {
            for cert in certs(pem, "CA bundle")? {
                roots
                    .add(cert)
                    .map_err(|e| Error::Tls(format!("bad CA certificate: {e}")))?;
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &opts.client_cert {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let chain = certs(chain, "client certificate")?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| Error::Tls(format!("bad client key PEM: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::Tls(format!("client certificate rejected: {e}")))?
            }
        };
        if opts.dangerous_no_verify {
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(NoVerification(provider())));
        }
        Ok(Arc::new(config))
    }

    pub(super) fn classify(e: &rustls::Error) -> (ErrorKind, String) {
        match e {
            rustls::Error::InvalidCertificate(c) => {
                let what = match c {
                    CertificateError::UnknownIssuer => "unknown issuer".to_string(),
                    CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                        "certificate expired".to_string()
                    }
                    CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                        "certificate not valid yet".to_string()
                    }
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. } => {
                        "certificate not valid for this host name".to_string()
                    }
                    CertificateError::Revoked => "certificate revoked".to_string(),
                    CertificateError::BadSignature => "bad certificate signature".to_string(),
                    other => format!("{other:?}"),
                };
                (
                    ErrorKind::Certificate,
                    format!("TLS certificate rejected: {what}"),
                )
            }
            // The server only verifies certificates in mutual TLS: any certificate alert it
            // sends is about ours (missing, from an issuer it does not trust, expired, ...).
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::CertificateRequired
                | AlertDescription::BadCertificate
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateRevoked
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnknownCA),
            ) => (
                ErrorKind::Certificate,
                format!("TLS: the server rejected the client certificate ({alert:?})"),
            ),
            other => (ErrorKind::Tls, format!("TLS: {other}")),
        }
    }

    #[derive(Debug)]
    struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for NoVerification {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
