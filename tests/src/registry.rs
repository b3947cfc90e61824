//! A real OCI registry (Distribution, Debian's `docker-registry`) on a free loopback port.
//!
//! Docker treats 127.0.0.0/8 as an insecure registry, so plain-HTTP push and pull work with no
//! daemon configuration. Each [`Registry`] has its own storage in a temporary directory; dropping
//! it kills the process, deletes the storage and untags the local images named after it.

use std::fs;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{ChildProcess, docker, free_port, http_get, test_image, wait_until};

/// Response header carrying this registry's random id, so that a probe cannot mistake another
/// server that grabbed the same port for ours.
const ID_HEADER: &str = "X-Ecs-E2e-Registry";

const START_TIMEOUT: Duration = Duration::from_secs(20);
const PUSH_TIMEOUT: Duration = Duration::from_secs(300);
const PORT_ATTEMPTS: usize = 3;

const NOT_INSTALLED: &str = "cannot run the registry: install Debian's docker-registry \
                             (or set ECS_TEST_REGISTRY_BIN to a Distribution `registry` binary)";

/// A running registry; killed on drop.
#[derive(Debug)]
pub struct Registry {
    host: String,
    /// User and password when the registry requires a login (htpasswd).
    login: Option<(String, String)>,
    // Field order is drop order: kill the process before deleting its storage.
    process: ChildProcess,
    dir: TempDir,
}

enum Probe {
    Up,
    Exited(String),
}

impl Registry {
    /// Starts `docker-registry serve` (or `$ECS_TEST_REGISTRY_BIN serve`) on a free
    /// 127.0.0.1 port and returns once `GET /v2/` answers.
    pub fn start() -> Result<Self> {
        Self::start_inner(None)
    }

    /// As [`Registry::start`], with htpasswd authentication: only `user`/`password` may push or
    /// pull ([`Registry::push`] logs in with a private Docker config).
    pub fn start_with_login(user: &str, password: &str) -> Result<Self> {
        Self::start_inner(Some((user.to_owned(), password.to_owned())))
    }

    fn start_inner(login: Option<(String, String)>) -> Result<Self> {
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
            match Self::start_on(loopback, free_port()?, login.clone(), None)? {
                Ok(registry) => return Ok(registry),
                // Most likely another process took the port between free_port() and bind.
                Err(why) => failures.push(why),
            }
        }
        bail!(
            "the registry did not start on any of {PORT_ATTEMPTS} ports:\n{}",
            failures.join("\n")
        )
    }

    /// A second registry process serving this one's storage on `ip` (a network a test
    /// created, e.g. an emulated VPC's gateway, which emulated instances pull from): push to
    /// this registry on loopback, pull from the mirror there. Killed on drop.
    pub fn mirror_on(&self, ip: std::net::IpAddr) -> Result<Self> {
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::start_on(
                ip,
                free_port()?,
                self.login.clone(),
                Some(self.storage_dir()),
            )? {
                Ok(registry) => return Ok(registry),
                Err(why) => failures.push(why),
            }
        }
        bail!(
            "the registry mirror did not start on {ip} on any of {PORT_ATTEMPTS} ports:\n{}",
            failures.join("\n")
        )
    }

    /// Ok(Err(why)) when the registry exited (e.g. the port was taken): worth another port.
    /// `storage`: another registry's storage to serve (default: its own, in its directory).
    fn start_on(
        ip: std::net::IpAddr,
        port: u16,
        login: Option<(String, String)>,
        storage: Option<std::path::PathBuf>,
    ) -> Result<std::result::Result<Self, String>> {
        let dir = tempfile::Builder::new()
            .prefix("ecs-e2e-registry-")
            .tempdir()
            .context("cannot create the registry's directory")?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let host = format!("{ip}:{port}");
        let storage = storage.unwrap_or_else(|| dir.path().join("storage"));
        let config = dir.path().join("config.yml");
        // The secret only signs upload state between requests of this one instance.
        let config_text = format!(
            r#"version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {host}
  secret: {id}
  headers:
    {ID_HEADER}: ["{id}"]
"#,
            storage = storage.display(),
        );
        let mut config_text = config_text;
        if let Some((user, password)) = &login {
            let htpasswd = dir.path().join("htpasswd");
            let hash = bcrypt::hash(password, 4).context("cannot hash the registry password")?;
            fs::write(&htpasswd, format!("{user}:{hash}\n"))
                .with_context(|| format!("cannot write {}", htpasswd.display()))?;
            config_text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: ecs-e2e\n    path: {}\n",
                htpasswd.display()
            ));
        }
        fs::write(&config, config_text)
            .with_context(|| format!("cannot write {}", config.display()))?;

        let program =
            std::env::var_os("ECS_TEST_REGISTRY_BIN").unwrap_or_else(|| "docker-registry".into());
        let mut process =
            ChildProcess::spawn("registry", Command::new(&program).arg("serve").arg(&config))
                .context(NOT_INSTALLED)?;

        let url = format!("http://{host}/v2/");
        let probe = wait_until(
            START_TIMEOUT,
            &format!("the registry to answer {url}"),
            || {
                if let Some(status) = process.try_status()? {
                    return Ok(Some(Probe::Exited(status.to_string())));
                }
                let response = http_get(&url)?;
                let expected = if login.is_some() { 401 } else { 200 };
                if response.status == expected && response.header(ID_HEADER) == Some(id.as_str()) {
                    Ok(Some(Probe::Up))
                } else {
                    bail!("{url} answered {} without our id", response.status)
                }
            },
        );
        match probe {
            Ok(Probe::Up) => Ok(Ok(Self {
                host,
                login,
                process,
                dir,
            })),
            Ok(Probe::Exited(status)) => Ok(Err(format!(
                "port {port}: the registry exited ({status}):\n{}",
                process.tail()
            ))),
            Err(e) => Err(e.context(format!("registry output:\n{}", process.tail()))),
        }
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Where the registry keeps its blobs and manifests.
    pub fn storage_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry process (for its log, or to kill it in a test of pull failures).
    pub fn process(&mut self) -> &mut ChildProcess {
        &mut self.process
    }

    /// Pushes the local image `local` as `REGISTRY/repository:tag` and returns that reference.
    ///
    /// The registry tag is removed locally afterwards, so a run of that reference must pull it.
    pub fn push(&self, local: &str, repository: &str, tag: &str) -> Result<String> {
        let reference = format!("{}/{repository}:{tag}", self.host);
        docker::docker(&["tag", local, &reference])?;
        // A login goes to a private Docker config, never the user's ~/.docker.
        let docker_config = self.dir.path().join("docker-config");
        let config_arg = docker_config.display().to_string();
        if let Some((user, password)) = &self.login {
            let mut login = Command::new("docker");
            login
                .args(["--config", &config_arg, "login", "--username", user])
                .args(["--password", password, &self.host]);
            crate::cmd::run(&mut login, Duration::from_secs(60))
                .context("cannot log in to the registry")?;
        }
        let pushed = docker::docker_with_timeout(
            &["--config", &config_arg, "push", &reference],
            PUSH_TIMEOUT,
        )
        .with_context(|| {
            format!(
                "cannot push {reference}; registry output:\n{}",
                self.process.tail()
            )
        });
        let untagged = docker::docker(&["rmi", &reference]);
        pushed?;
        untagged?;
        Ok(reference)
    }

    /// Pushes the test image ([`test_image`]), building it if needed, and returns its reference
    /// in this registry: `127.0.0.1:PORT/ecs-e2e/httpd:<content hash>`.
    pub fn push_test_image(&self) -> Result<String> {
        let image = test_image()?;
        self.push(&image.reference, crate::TEST_IMAGE_REPOSITORY, &image.tag)
    }

    /// The repositories in the registry (`GET /v2/_catalog`).
    pub fn catalog(&self) -> Result<Vec<String>> {
        let response = http_get(&format!("{}/v2/_catalog", self.url()))?;
        if response.status != 200 {
            bail!(
                "GET /v2/_catalog answered {}: {}",
                response.status,
                response.text()
            );
        }
        let body = response.json()?;
        Ok(body["repositories"]
            .as_array()
            .map(|repos| {
                repos
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Untags every local image whose reference starts with this registry's host, e.g. the ones
    /// the agent pulled. Images still used by a container stay.
    fn untag_local_images(&self) -> Result<()> {
        let listing = docker::docker(&[
            "image",
            "ls",
            "--digests",
            "--format",
            "{{.Repository}}\t{{.Tag}}\t{{.Digest}}",
        ])?;
        let prefix = format!("{}/", self.host);
        for line in listing.lines() {
            let mut fields = line.split('\t');
            let (Some(repo), Some(tag), Some(digest)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !repo.starts_with(&prefix) {
                continue;
            }
            let reference = if tag != "<none>" {
                format!("{repo}:{tag}")
            } else if digest != "<none>" {
                format!("{repo}@{digest}")
            } else {
                continue;
            };
            if let Err(e) = docker::docker(&["rmi", &reference]) {
                eprintln!("cannot untag {reference}: {e:#}");
            }
        }
        Ok(())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Err(e) = self.untag_local_images() {
            eprintln!("cannot untag the images of registry {}: {e:#}", self.host);
        }
        // The fields drop next: the process is killed and reaped, then the storage deleted.
    }
}
