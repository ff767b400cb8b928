//! The rustls backend (feature `rustls`): client configuration, roots, the verifier that
//! `dangerous_disable_verification` installs, and the stream type.

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
