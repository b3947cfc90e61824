//! The root certificates the agent's TLS clients trust: the system's (rustls-native-certs: the
//! system store, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set) and, as the AWS SDKs and the
//! reference agent do, the PEM bundle `AWS_CA_BUNDLE` names, added to them. One place for the
//! three clients: the SDK clients ([`sdk_tls_context`], used by `proxy.rs`), the AWS JSON client
//! (`aws_json.rs`) and the ACS/TCS websockets ([`client_config`], `proxy.rs`).
//!
//! The bundle is read once per process, from the environment (as the SDKs read it; an
//! emulated EC2 instance's drop-in sets it to the control plane's CA). A bundle that cannot be
//! read or holds no certificate is an error for every TLS client, not silently skipped: the
//! connection it was meant for would fail with a less useful message.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// The environment variable naming an extra PEM bundle of trusted CA certificates.
pub const CA_BUNDLE_ENV: &str = "AWS_CA_BUNDLE";

/// Why the trusted roots could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrustError {
    /// `AWS_CA_BUNDLE` names a file that cannot be read or holds no PEM certificate.
    #[error("AWS_CA_BUNDLE={path}: {message}")]
    Bundle {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Neither the system nor `AWS_CA_BUNDLE` gave a usable root certificate.
    #[error("no TLS root certificates: {0}")]
    NoRoots(String),
    /// rustls refused the configuration.
    #[error("TLS client configuration: {0}")]
    Config(String),
}

/// An extra bundle of trusted certificates.
#[derive(Clone)]
pub struct CaBundle {
    path: PathBuf,
    pem: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("path", &self.path)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

impl CaBundle {
    /// The certificates of the PEM bundle `pem` (read from `path`); errs when it holds none or
    /// one does not decode.
    pub fn parse(path: PathBuf, pem: Vec<u8>) -> Result<Self, TrustError> {
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrustError::Bundle {
                path: path.clone(),
                message: format!("not a PEM certificate bundle: {e}"),
            })?;
        if certs.is_empty() {
            return Err(TrustError::Bundle {
                path,
                message: "no CERTIFICATE in it".into(),
            });
        }
        Ok(CaBundle { path, pem, certs })
    }

    /// The bundle at `path`.
    pub fn read(path: PathBuf) -> Result<Self, TrustError> {
        let pem = std::fs::read(&path).map_err(|e| TrustError::Bundle {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::parse(path, pem)
    }
}

/// The bundle `AWS_CA_BUNDLE` names (`None` when unset or empty), read at the first call.
pub fn ca_bundle() -> Result<Option<&'static CaBundle>, TrustError> {
    static BUNDLE: OnceLock<Result<Option<CaBundle>, TrustError>> = OnceLock::new();
    BUNDLE
        .get_or_init(|| {
            let path = std::env::var_os(CA_BUNDLE_ENV).filter(|p| !p.is_empty());
            let bundle = path.map(|p| CaBundle::read(PathBuf::from(p))).transpose();
            if let Ok(Some(b)) = &bundle {
                tracing::info!(path = %b.path.display(), certificates = b.certs.len(), "trusting the CA bundle AWS_CA_BUNDLE names, besides the system's roots");
            }
            bundle
        })
        .as_ref()
        .map(Option::as_ref)
        .map_err(Clone::clone)
}

/// The system's roots plus `extra`'s certificates, as a rustls client configuration (aws-lc-rs,
/// TLS 1.2 and 1.3, no ALPN: callers set theirs).
pub fn build_client_config(extra: Option<&CaBundle>) -> Result<ClientConfig, TrustError> {
    let native = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "system root certificates rustls cannot use");
    }
    if let Some(bundle) = extra {
        for cert in &bundle.certs {
            roots.add(cert.clone()).map_err(|e| TrustError::Bundle {
                path: bundle.path.clone(),
                message: format!("a certificate rustls cannot use as a root: {e}"),
            })?;
        }
    }
    if roots.is_empty() {
        return Err(TrustError::NoRoots(format!("{:?}", native.errors)));
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The process's client configuration over [`ca_bundle`], made once.
pub fn client_config() -> Result<Arc<ClientConfig>, TrustError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, TrustError>> = OnceLock::new();
    CONFIG
        .get_or_init(|| Ok(Arc::new(build_client_config(ca_bundle()?)?)))
        .clone()
}

/// The SDK clients' TLS context when `AWS_CA_BUNDLE` is set (the system's roots plus the
/// bundle); `None` leaves the SDK's default (the system's roots).
pub fn sdk_tls_context() -> Result<Option<aws_smithy_http_client::tls::TlsContext>, TrustError> {
    let Some(bundle) = ca_bundle()? else {
        return Ok(None);
    };
    // The SDK panics on a certificate rustls refuses: refuse it here first.
    client_config()?;
    let store = aws_smithy_http_client::tls::TrustStore::default()
        .with_native_roots(true)
        .with_pem_certificate(bundle.pem.clone());
    aws_smithy_http_client::tls::TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map(Some)
        .map_err(|e| TrustError::Bundle {
            path: bundle.path.clone(),
            message: e.to_string(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_needs_certificates() {
        let e = CaBundle::parse("/x.pem".into(), b"hello".to_vec()).unwrap_err();
        assert!(e.to_string().starts_with("AWS_CA_BUNDLE=/x.pem: "), "{e}");
        let e = CaBundle::read("/nonexistent/ca.pem".into()).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
