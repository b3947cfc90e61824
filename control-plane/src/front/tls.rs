//! TLS on the control plane's listeners (rustls over aws-lc-rs): where the server certificate
//! comes from, and an accept loop that serves the front's router over it.
//!
//! The certificate is either given (`--tls-cert`/`--tls-key`, PEM) or issued at each start by
//! the emulator's own CA for the addresses it listens on (IP SANs, plus `localhost`). The CA is
//! made once and kept under `<data-dir>/tls/` (certificate `ca.pem`, key `ca-key.pem`, mode
//! 0600), so a restart keeps what instances and clients already trust; without a data dir it
//! lives as long as the process. Clients trust it as `AWS_CA_BUNDLE` (or the system store).
//!
//! Plain HTTP is for loopback: [`check_listen`] refuses a plain listener beyond it unless told.
//! Requests that came over TLS carry the [`Secure`] extension, so answers that name the
//! endpoint (DiscoverPollEndpoint) say `https`. Owns no service and knows none by name.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The CA's subject. Fixed: a persisted CA is rebuilt as an issuer from its key and these
/// parameters, which must give the subject of the certificate written at its creation.
const CA_COMMON_NAME: &str = "ecs-agent-rs control plane CA";
const CA_ORGANIZATION: &str = "ecs-agent-rs";
/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Marks a request that came over TLS (a request extension the accept loop adds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secure;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A certificate or key could not be made.
    #[error("generating TLS certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key.
    #[error("TLS server configuration: {0}")]
    Config(String),
    /// A plain HTTP listener beyond loopback, not allowed explicitly.
    #[error(
        "refusing to serve plain HTTP on {addr}, beyond loopback (ACS payloads carry task credentials): serve TLS there with --tls (a certificate of the emulator's own CA, or --tls-cert/--tls-key), or allow plain HTTP explicitly with --insecure-listen"
    )]
    PlainBeyondLoopback {
        /// The address.
        addr: SocketAddr,
    },
}

/// Plain HTTP on `addr` is fine on loopback, or beyond it when `insecure` says so explicitly.
pub fn check_listen(addr: SocketAddr, tls: bool, insecure: bool) -> Result<(), TlsError> {
    if tls || insecure || addr.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        Err(TlsError::PlainBeyondLoopback { addr })
    }
}

/// Where the server certificate comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CertSource {
    /// Issued by the emulator's own CA (persisted under `<data-dir>/tls/` when there is one).
    #[default]
    OwnCa,
    /// PEM files: the certificate chain (the server's first; end it with the issuing CA for
    /// instances to trust it) and its private key.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
}

/// The TLS material of one run: what clients trust, and how server certificates are made.
pub struct Tls {
    /// PEM that clients and instances trust: the own CA's certificate, or the given chain.
    trust_pem: String,
    /// Where that PEM is on disk (under the data dir, or the given certificate file).
    trust_path: Option<PathBuf>,
    identity: Identity,
}

enum Identity {
    OwnCa(Issuer<'static, KeyPair>),
    Given {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    },
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("Tls")
            .field("trust_path", &self.trust_path)
            .field(
                "identity",
                &match self.identity {
                    Identity::OwnCa(_) => "own CA",
                    Identity::Given { .. } => "given certificate",
                },
            )
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the given certificate and key, or the own CA from `<data_dir>/tls/` (made there
    /// when missing; in memory without a data dir).
    pub fn load(source: &CertSource, data_dir: Option<&Path>) -> Result<Self, TlsError> {
        match source {
            CertSource::Files { cert, key } => Self::from_files(cert, key),
            CertSource::OwnCa => match data_dir {
                Some(dir) => Self::own_ca_in(&dir.join("tls")),
                None => {
                    let (pem, key) = new_ca()?;
                    Ok(Self::own_ca(pem, None, key))
                }
            },
        }
    }

    fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let trust_pem = std::fs::read_to_string(cert).map_err(|source| TlsError::Io {
            path: cert.to_path_buf(),
            source,
        })?;
        let chain = CertificateDer::pem_slice_iter(trust_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem {
                path: cert.to_path_buf(),
                message: format!("not a PEM certificate chain: {e}"),
            })?;
        if chain.is_empty() {
            return Err(TlsError::Pem {
                path: cert.to_path_buf(),
                message: "no CERTIFICATE in it".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
            path: key.to_path_buf(),
            message: format!("no PEM private key in it: {e}"),
        })?;
        Ok(Tls {
            trust_pem,
            trust_path: Some(cert.to_path_buf()),
            identity: Identity::Given { chain, key },
        })
    }

    fn own_ca_in(dir: &Path) -> Result<Self, TlsError> {
        let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Io { path, source }
        };
        if key_path.exists() {
            let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| TlsError::Pem {
                path: key_path.clone(),
                message: format!("not the CA's private key: {e}"),
            })?;
            let pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
            return Ok(Self::own_ca(pem, Some(cert_path), key));
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (pem, key) = new_ca()?;
        // The certificate first: a key without it is "no CA yet"; a certificate without its
        // key is overwritten at the next start.
        write_atomically(&cert_path, pem.as_bytes(), 0o644)?;
        write_atomically(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        tracing::info!(ca = %cert_path.display(), "made the control plane's TLS CA");
        Ok(Self::own_ca(pem, Some(cert_path), key))
    }

    fn own_ca(pem: String, path: Option<PathBuf>, key: KeyPair) -> Self {
        Tls {
            trust_pem: pem,
            trust_path: path,
            identity: Identity::OwnCa(Issuer::new(ca_params(), key)),
        }
    }

    /// The PEM clients must trust to reach a TLS listener: the own CA's certificate, or the
    /// given certificate chain.
    pub fn trust_pem(&self) -> &str {
        &self.trust_pem
    }

    /// Where [`Tls::trust_pem`] is on disk, when it is.
    pub fn trust_path(&self) -> Option<&Path> {
        self.trust_path.as_deref()
    }

    /// Writes [`Tls::trust_pem`] to `path` too (replaced atomically).
    pub fn write_trust_pem(&self, path: &Path) -> Result<(), TlsError> {
        write_atomically(path, self.trust_pem.as_bytes(), 0o644)
    }

    /// A server configuration for listeners on `ips`: the given certificate, or one the own CA
    /// issues now for `ips`, `localhost`, the loopback addresses and `names` (DNS names or
    /// addresses clients use, e.g. for a listener on `0.0.0.0`; valid for a year).
    pub fn server_config(
        &self,
        ips: &[IpAddr],
        names: &[String],
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let (chain, key) = match &self.identity {
            Identity::Given { chain, key } => (chain.clone(), key.clone_key()),
            Identity::OwnCa(issuer) => {
                let loopback = [
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(Ipv6Addr::LOCALHOST),
                ];
                let ips = loopback.iter().chain(ips).map(|ip| ip.to_canonical());
                let given = names.iter().cloned();
                let mut sans = vec!["localhost".to_string()];
                for name in ips
                    .filter(|ip| !ip.is_unspecified())
                    .map(|ip| ip.to_string())
                    .chain(given)
                {
                    if !sans.contains(&name) {
                        sans.push(name);
                    }
                }
                let mut params = CertificateParams::new(sans)?;
                params
                    .distinguished_name
                    .push(DnType::CommonName, "ecs-control-plane");
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                params.use_authority_key_identifier_extension = true;
                let now = time::OffsetDateTime::now_utc();
                params.not_before = now - time::Duration::days(1);
                params.not_after = now + time::Duration::days(365);
                let key = KeyPair::generate()?;
                let cert = params.signed_by(&key, issuer)?;
                (
                    vec![cert.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
            }
        };
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        // HTTP/1.1 only: the front's websockets upgrade HTTP/1.1 connections.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The own CA's parameters (also those a persisted CA is rebuilt from: see [`CA_COMMON_NAME`]).
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params
}

/// A new CA: its certificate (PEM) and key.
fn new_ca() -> Result<(String, KeyPair), TlsError> {
    let key = KeyPair::generate()?;
    let cert = ca_params().self_signed(&key)?;
    Ok((cert.pem(), key))
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed over it once synced.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Serves `router` over TLS on `listener` until `shutdown`: each connection is HTTP/1.1 (with
/// upgrades, for the websockets) after a handshake of at most 10 s; at shutdown, connections
/// get 5 s to finish.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // As axum::serve: out of file descriptors and the like pass; wait a little.
                    tracing::warn!(error = %e, "accepting a TLS connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (acceptor, router, shutdown) = (acceptor.clone(), router.clone(), shutdown.clone());
        tracker.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(
                move |mut request: http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(Secure);
                    let router = router.clone();
                    tower::ServiceExt::oneshot(router, request.map(axum::body::Body::new))
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "TLS connection ended");
                    }
                }
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        let v4: SocketAddr = "127.0.0.1:4566".parse().unwrap();
        let v6: SocketAddr = "[::1]:4566".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4566".parse().unwrap();
        let lan: SocketAddr = "172.31.0.1:4566".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:4566".parse().unwrap();
        for addr in [v4, v6, mapped] {
            check_listen(addr, false, false).unwrap();
        }
        for addr in [lan, any] {
            let e = check_listen(addr, false, false).unwrap_err().to_string();
            assert!(e.contains(&addr.to_string()), "{e}");
            assert!(
                e.contains("--tls") && e.contains("--insecure-listen"),
                "{e}"
            );
            check_listen(addr, true, false).unwrap();
            check_listen(addr, false, true).unwrap();
        }
    }

    #[test]
    fn own_ca_is_kept_in_the_data_dir_and_issues_for_the_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let first = Tls::load(&CertSource::OwnCa, Some(dir.path())).unwrap();
        let ca = dir.path().join("tls/ca.pem");
        assert_eq!(first.trust_path(), Some(ca.as_path()));
        assert!(first.trust_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("tls/ca-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Tls::load(&CertSource::OwnCa, Some(dir.path())).unwrap();
        assert_eq!(first.trust_pem(), again.trust_pem());
        // A server certificate from the reloaded CA verifies against the first one's
        // certificate (same subject, same key), for the address it was issued for only.
        let gateway: IpAddr = "172.31.0.1".parse().unwrap();
        let config = again
            .server_config(&[gateway], &["cp.example.internal".into()])
            .unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            handshake(&config, first.trust_pem(), "172.31.0.1")
                .await
                .unwrap();
            handshake(&config, first.trust_pem(), "localhost")
                .await
                .unwrap();
            handshake(&config, first.trust_pem(), "cp.example.internal")
                .await
                .unwrap();
            let wrong_name = handshake(&config, first.trust_pem(), "172.31.0.2").await;
            assert!(wrong_name.is_err(), "{wrong_name:?}");
            let other_ca = Tls::load(&CertSource::OwnCa, None).unwrap();
            let untrusted = handshake(&config, other_ca.trust_pem(), "172.31.0.1").await;
            assert!(untrusted.is_err(), "{untrusted:?}");
        });
    }

    /// A TLS handshake over an in-memory pipe: a server with `config`, a client trusting
    /// `trust_pem` that asks for `name`.
    async fn handshake(
        config: &Arc<ServerConfig>,
        trust_pem: &str,
        name: &str,
    ) -> Result<(), std::io::Error> {
        use tokio_rustls::rustls::{ClientConfig, RootCertStore};
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(trust_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = TlsAcceptor::from(Arc::clone(config));
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let (served, connected) = tokio::join!(server.accept(a), connector.connect(name, b));
        connected?;
        served.map(|_| ())
    }

    #[test]
    fn given_files_serve_their_chain() {
        // Another CA and a certificate it issued for 10.1.2.3, as an operator would give them.
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params().self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params(), ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["10.1.2.3".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, format!("{}{}", leaf.pem(), ca_cert.pem())).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let source = CertSource::Files {
            cert: cert_path.clone(),
            key: key_path,
        };
        let tls = Tls::load(&source, None).unwrap();
        assert_eq!(tls.trust_path(), Some(cert_path.as_path()));
        // Instances trust the whole file, which ends with the CA.
        let config = tls.server_config(&[], &[]).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            handshake(&config, tls.trust_pem(), "10.1.2.3")
                .await
                .unwrap();
            let other = handshake(&config, tls.trust_pem(), "localhost").await;
            assert!(other.is_err(), "{other:?}");
        });
    }

    #[test]
    fn given_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "nor a key").unwrap();
        let e = Tls::load(&CertSource::Files { cert, key }, None).unwrap_err();
        assert!(e.to_string().contains("cert.pem"), "{e}");
    }
}
