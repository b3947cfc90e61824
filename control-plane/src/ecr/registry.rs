//! The data plane of the emulated ECR: a real Distribution registry process (Debian's
//! `docker-registry`) on 127.0.0.1, configured with htpasswd authentication, started with the
//! emulator and stopped with it.
//!
//! Tokens: ECR's user name is always `AWS`, and an htpasswd file holds one hash per user, so the
//! registry can accept one `AWS` password at a time. The emulator therefore keeps one *current*
//! password: GetAuthorizationToken hands it out while more than half of its lifetime is left, and
//! makes a new one (rotation) otherwise. When a password expires, a timer rewrites the htpasswd file
//! without it. Distribution 2.8 re-reads the htpasswd file when it changes (verified: a user added
//! to the file is accepted at once, one removed is refused at once), so expiry and rotation are
//! enforced by the registry itself, with no restart and no proxy in front of it.
//!
//! The ECR image operations read the registry's storage directly (Distribution's filesystem layout),
//! so the emulator needs no registry credentials of its own.
//!
//! What it must not do: log a password or a token, or touch any registry it did not start.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// bcrypt cost of the htpasswd entries. The registry checks the hash on every request, and the
/// passwords are 32 random characters, so the cheapest cost keeps pulls fast without weakening them.
const BCRYPT_COST: u32 = 4;
/// The ECR user name.
pub const ECR_USER: &str = "AWS";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How to run the registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// The `docker-registry` (or Distribution `registry`) binary.
    pub bin: PathBuf,
    /// Its directory: config, htpasswd, storage and `registry.log`.
    pub dir: PathBuf,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Lifetime of an authorization token.
    pub token_lifetime: Duration,
}

/// Why the registry could not run.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file of the registry could not be written.
    #[error("registry file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The process could not be started.
    #[error(
        "cannot run the registry {bin}: {source} (install Debian's docker-registry or pass --ecr-registry-bin)"
    )]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It did not answer in time, or exited.
    #[error("the registry did not start on 127.0.0.1:{port}: {why} (see {log})")]
    NotUp {
        /// The port.
        port: u16,
        /// What happened.
        why: String,
        /// Its log.
        log: PathBuf,
    },
    /// bcrypt failed.
    #[error("cannot hash a registry password: {0}")]
    Hash(String),
}

/// A password the registry accepts for `AWS`, and when it stops doing so.
#[derive(Clone)]
struct Token {
    password: String,
    expires_at: SystemTime,
    issued_at: SystemTime,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The running registry; [`Registry::stop`] (or drop) kills it.
#[derive(Debug)]
pub struct Registry {
    host: String,
    dir: PathBuf,
    lifetime: Duration,
    /// Guards the current token and the htpasswd file, which change together. A lock rather than an
    /// actor: a token request is a short step, and the lock is held across no network wait (only the
    /// write of a small local file).
    current: Mutex<Option<Token>>,
    child: Mutex<Option<Child>>,
}

/// A token as GetAuthorizationToken returns it (the password is the secret part).
#[derive(Clone)]
pub struct IssuedToken {
    /// The password for user `AWS`.
    pub password: String,
    /// Expiry.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

fn random_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn free_port() -> Result<u16, std::io::Error> {
    std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

impl Registry {
    /// Writes the config and htpasswd, starts the registry and waits until it answers `/v2/`.
    /// With port 0, a taken port is retried on another free one.
    pub async fn start(options: &RegistryOptions) -> Result<Self, RegistryError> {
        let attempts = if options.port == 0 { 3 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let port = if options.port == 0 {
                free_port().map_err(io_err(&options.dir))?
            } else {
                options.port
            };
            match Self::start_on(options, port).await {
                Ok(r) => return Ok(r),
                Err(e @ RegistryError::NotUp { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(RegistryError::NotUp {
            port: options.port,
            why: "no attempt".into(),
            log: options.dir.join("registry.log"),
        }))
    }

    async fn start_on(options: &RegistryOptions, port: u16) -> Result<Self, RegistryError> {
        let dir = &options.dir;
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        let htpasswd = dir.join("htpasswd");
        let storage = dir.join("storage");
        let secret = random_password();
        // Info-level logs carry `auth.user.name` on every authenticated request, which is what
        // tells an authenticated pull apart in the log.
        let text = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {host}\n  secret: {secret}\nauth:\n  htpasswd:\n    realm: ecr-emulator\n    path: {}\n",
            storage.display(),
            htpasswd.display()
        );
        std::fs::write(&config, text).map_err(io_err(&config))?;
        let registry = Registry {
            host: host.clone(),
            dir: dir.clone(),
            lifetime: options.token_lifetime,
            current: Mutex::new(None),
            child: Mutex::new(None),
        };
        registry.write_htpasswd(None)?;
        kill_stale(dir, &config).await;
        let log_path = dir.join("registry.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        let log2 = log.try_clone().map_err(io_err(&log_path))?;
        let mut child = Command::new(&options.bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RegistryError::Spawn {
                bin: options.bin.clone(),
                source,
            })?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(RegistryError::NotUp {
                    port,
                    why: format!("it exited ({status})"),
                    log: log_path,
                });
            }
            if registry.probe().await {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill().await;
                return Err(RegistryError::NotUp {
                    port,
                    why: format!("no answer within {START_TIMEOUT:?}"),
                    log: log_path,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(pid) = child.id() {
            let pid_file = dir.join("registry.pid");
            std::fs::write(&pid_file, pid.to_string()).map_err(io_err(&pid_file))?;
        }
        *registry.child.lock().await = Some(child);
        tracing::info!(registry = %host, dir = %dir.display(), "ECR registry started");
        Ok(registry)
    }

    /// `GET /v2/` answers 401 with the Distribution API header (ours needs a login).
    async fn probe(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(Ok(mut s)) = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(&self.host),
        )
        .await
        else {
            return false;
        };
        let req = format!(
            "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host
        );
        if s.write_all(req.as_bytes()).await.is_err() {
            return false;
        }
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        text.starts_with("http/1.1 401") && text.contains("docker-distribution-api-version")
    }

    /// `127.0.0.1:PORT`: the registry part of repository URIs.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Where the registry keeps repositories (Distribution's filesystem layout).
    pub fn repositories_dir(&self) -> PathBuf {
        self.dir
            .join("storage")
            .join("docker/registry/v2/repositories")
    }

    /// Where the registry keeps blobs.
    pub fn blobs_dir(&self) -> PathBuf {
        self.dir.join("storage").join("docker/registry/v2/blobs")
    }

    /// The registry's directory (its log is `registry.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rewrites the htpasswd file with the current `AWS` password, if any (else no user at all).
    /// Written to a temporary file and renamed, so the registry never reads half a file.
    fn write_htpasswd(&self, token: Option<&Token>) -> Result<(), RegistryError> {
        let hash =
            |p: &str| bcrypt::hash(p, BCRYPT_COST).map_err(|e| RegistryError::Hash(e.to_string()));
        let mut text = String::new();
        if let Some(t) = token {
            text.push_str(&format!("{ECR_USER}:{}\n", hash(&t.password)?));
        }
        let path = self.dir.join("htpasswd");
        let tmp = self.dir.join("htpasswd.tmp");
        std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// A token for user `AWS`: the current one while more than half of its lifetime is left,
    /// else a new one (the old one stops working at once).
    pub async fn token(&self, now: SystemTime) -> Result<IssuedToken, RegistryError> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref() {
            let left = t.expires_at.duration_since(now).unwrap_or_default();
            let lifetime = t.expires_at.duration_since(t.issued_at).unwrap_or_default();
            if left > lifetime / 2 {
                return Ok(IssuedToken {
                    password: t.password.clone(),
                    expires_at: t.expires_at,
                });
            }
        }
        let token = Token {
            password: random_password(),
            expires_at: now + self.lifetime,
            issued_at: now,
        };
        self.write_htpasswd(Some(&token))?;
        tracing::info!(expires_in = ?self.lifetime, "ECR token rotated");
        *current = Some(token.clone());
        Ok(IssuedToken {
            password: token.password,
            expires_at: token.expires_at,
        })
    }

    /// Removes the current password once it has expired. Returns when the next expiry is due
    /// (or `None` without a token).
    pub async fn expire(&self, now: SystemTime) -> Result<Option<SystemTime>, RegistryError> {
        let mut current = self.current.lock().await;
        match current.as_ref() {
            Some(t) if t.expires_at <= now => {
                self.write_htpasswd(None)?;
                *current = None;
                tracing::info!("ECR token expired; the registry refuses it from now on");
                Ok(None)
            }
            Some(t) => Ok(Some(t.expires_at)),
            None => Ok(None),
        }
    }

    /// Runs the expiry timer until `shutdown`, then stops the process.
    pub async fn run(self: std::sync::Arc<Self>, shutdown: CancellationToken) {
        loop {
            let next = match self.expire(SystemTime::now()).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "cannot expire the ECR token");
                    None
                }
            };
            let wait = next
                .and_then(|t| t.duration_since(SystemTime::now()).ok())
                .unwrap_or(Duration::from_millis(500))
                .min(Duration::from_millis(500));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.stop().await;
    }

    /// Kills the registry process and waits for it.
    pub async fn stop(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.kill().await;
            let _ = std::fs::remove_file(self.dir.join("registry.pid"));
            tracing::info!(registry = %self.host, "ECR registry stopped");
        }
    }
}

/// A registry left running by an emulator that was killed (SIGKILL leaves its child behind):
/// if `registry.pid` names a live `serve` of this very config, it is killed before a new start.
async fn kill_stale(dir: &Path, config: &Path) {
    let Some(pid) = std::fs::read_to_string(dir.join("registry.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return;
    };
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    if !(cmdline.contains(" serve ") && cmdline.contains(&config.display().to_string())) {
        return;
    }
    tracing::warn!(pid, "killing a registry left behind by a previous run");
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .await;
    for _ in 0..50 {
        if !proc_dir.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(dir: &Path) -> Registry {
        Registry {
            host: "127.0.0.1:5000".into(),
            dir: dir.to_path_buf(),
            lifetime: Duration::from_secs(10),
            current: Mutex::new(None),
            child: Mutex::new(None),
        }
    }

    fn htpasswd(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("htpasswd")).unwrap_or_default()
    }

    #[tokio::test]
    async fn tokens_are_reused_for_half_their_life_then_rotated_and_expired() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = r.token(t0).await.unwrap();
        assert_eq!(a.expires_at, t0 + Duration::from_secs(10));
        let file = htpasswd(dir.path());
        let hash = file.strip_prefix("AWS:").unwrap().trim();
        assert!(bcrypt::verify(&a.password, hash).unwrap());
        assert!(!file.contains(&a.password));

        let b = r.token(t0 + Duration::from_secs(4)).await.unwrap();
        assert_eq!(a.password, b.password);
        let c = r.token(t0 + Duration::from_secs(6)).await.unwrap();
        assert_ne!(a.password, c.password);
        let hash = htpasswd(dir.path())
            .strip_prefix("AWS:")
            .unwrap()
            .trim()
            .to_string();
        assert!(!bcrypt::verify(&a.password, &hash).unwrap());

        assert_eq!(
            r.expire(t0 + Duration::from_secs(15)).await.unwrap(),
            Some(c.expires_at)
        );
        assert_eq!(r.expire(c.expires_at).await.unwrap(), None);
        assert_eq!(htpasswd(dir.path()), "");
        assert!(!format!("{a:?}").contains(&a.password));
    }
}
