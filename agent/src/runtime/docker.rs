//! The bollard implementation of [`ContainerRuntime`], against the local Docker Engine.
//!
//! [`DockerRuntime::connect`] negotiates the API version (bollard asks for API 1.53 by default,
//! which Docker 20.10 refuses) and refuses an engine older than API [`MIN_API_VERSION`], as the
//! reference agent does. Every call has its own deadline ([`Timeouts`]); bollard's own per-request
//! timeout, which only covers the wait for response headers, is set far above them so that it never
//! fires first.
//!
//! The translation between our types and Docker's is done by pure functions ([`create_body`],
//! [`container_info`], [`runtime_event`], [`split_image_reference`], [`repo_digest`]) that are
//! unit-tested without Docker; `agent/tests/docker_runtime.rs` runs the whole thing against the real
//! engine.
//!
//! What it must not do: keep task state, retry (the images module decides), or hand registry
//! credentials to bollard (it encodes X-Registry-Auth with standard base64, the daemon decodes
//! URL-safe base64): pulls go through `docker_pull.rs`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EventMessage,
    EventMessageTypeEnum, HealthStatusEnum, HostConfig, PortBinding, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, ListContainersOptions, RemoveContainerOptions,
    RemoveVolumeOptions, StopContainerOptions,
};
use bollard::{API_DEFAULT_VERSION, Docker};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tracing::{debug, info, warn};

use super::spec::LABEL_TASK_ARN;
use super::{
    BoxFuture, ContainerInfo, ContainerRuntime, ContainerSpec, EventStream, Health, PortSpec,
    Protocol, RuntimeError, RuntimeEvent, RuntimeVersion, VolumeInfo, VolumeSpec,
};

/// Deadline of volume create, inspect and remove (reference `agent/dockerclient/timeout.go`).
const VOLUME_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The oldest Docker API the agent resolves manifest digests with (reference
/// `pullContainerManifest`: Docker 17.12).
pub const MANIFEST_API_VERSION: (u32, u32) = (1, 35);

/// The oldest Docker API the agent works with (reference `agent/dockerclient/versions.go`).
pub const MIN_API_VERSION: (u32, u32) = (1, 21);

/// bollard's own timeout (seconds), which covers only the wait for response headers. Above every
/// deadline in [`Timeouts`], so ours always fire first.
const CLIENT_TIMEOUT_SECS: u64 = 3 * 60 * 60;

/// Deadlines of the Docker calls. Defaults are the reference agent's
/// (`agent/dockerclient/timeout.go`, `agent/config`); [`Timeouts::from_config`] takes the
/// configurable ones from the agent's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `GET /version` (10 s).
    pub version: Duration,
    /// Create (`ECS_CONTAINER_CREATE_TIMEOUT`, 4 min).
    pub create: Duration,
    /// Start (`ECS_CONTAINER_START_TIMEOUT`, 3 min).
    pub start: Duration,
    /// Added to the stop timeout for the stop call's deadline (30 s; the reference adds 2 min).
    pub stop_buffer: Duration,
    /// Inspect of a container or an image (30 s).
    pub inspect: Duration,
    /// Remove (30 s; the reference allows 5 min).
    pub remove: Duration,
    /// List containers (10 min).
    pub list: Duration,
    /// A whole pull (`ECS_IMAGE_PULL_TIMEOUT`, 2 h).
    pub pull: Duration,
    /// From the pull request to Docker's first answer (5 min).
    pub pull_begin: Duration,
    /// Longest silence inside a pull's progress stream (`ECS_IMAGE_PULL_INACTIVITY_TIMEOUT`, 1 min).
    pub pull_inactivity: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            version: Duration::from_secs(10),
            create: Duration::from_secs(4 * 60),
            start: Duration::from_secs(3 * 60),
            stop_buffer: Duration::from_secs(30),
            inspect: Duration::from_secs(30),
            remove: Duration::from_secs(30),
            list: Duration::from_secs(10 * 60),
            pull: Duration::from_secs(2 * 60 * 60),
            pull_begin: Duration::from_secs(5 * 60),
            pull_inactivity: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    /// The defaults, with create, start, pull and pull inactivity from the configuration.
    pub fn from_config(config: &ecs_config::Config) -> Self {
        Self {
            create: config.container_create_timeout.value,
            start: config.container_start_timeout.value,
            pull: config.image_pull_timeout.value,
            pull_inactivity: config.image_pull_inactivity_timeout.value,
            ..Self::default()
        }
    }
}

/// Why [`DockerRuntime::connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The Docker host is not something this agent can talk to.
    #[error(
        "unsupported Docker host {0:?}: expected unix:///path/to/docker.sock or tcp://host:port"
    )]
    UnsupportedHost(String),
    /// The engine is too old for the agent; a restart will not help.
    #[error(
        "Docker API version {api_version} (Docker {version}) is older than the minimum {}.{} this agent needs",
        MIN_API_VERSION.0,
        MIN_API_VERSION.1
    )]
    ApiTooOld {
        /// Docker's version.
        version: String,
        /// Docker's API version.
        api_version: String,
    },
    /// Docker did not answer, or answered nonsense.
    #[error("cannot reach Docker: {0}")]
    Runtime(#[from] RuntimeError),
}

impl ConnectError {
    /// Whether restarting the agent cannot fix it (exit code 5).
    pub fn is_terminal(&self) -> bool {
        match self {
            ConnectError::UnsupportedHost(_) | ConnectError::ApiTooOld { .. } => true,
            ConnectError::Runtime(_) => false,
        }
    }
}

impl From<ConnectError> for RuntimeError {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::Runtime(inner) => inner,
            other => RuntimeError::Docker(other.to_string()),
        }
    }
}

/// Whether `version`'s API is older than [`MIN_API_VERSION`] (an unparsable one counts as too old).
pub fn api_too_old(version: &RuntimeVersion) -> bool {
    parse_api_version(&version.api_version).is_none_or(|v| v < MIN_API_VERSION)
}

fn parse_api_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// How long a stats stream may stay silent before it is given up (the reference's
/// `StatsInactivityTimeout`).
pub const STATS_INACTIVITY_TIMEOUT: Duration = Duration::from_secs(18);

/// [`ContainerRuntime`] over the Docker Engine API.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
    timeouts: Timeouts,
    version: RuntimeVersion,
    endpoint: super::docker_pull::DockerEndpoint,
}

impl DockerRuntime {
    /// Connects to `docker_host` (`unix:///var/run/docker.sock`, a bare socket path, or
    /// `tcp://host:port`), negotiates the API version and checks it against
    /// [`MIN_API_VERSION`].
    pub async fn connect(docker_host: &str) -> Result<Self, ConnectError> {
        let endpoint = super::docker_pull::DockerEndpoint::parse(docker_host)
            .ok_or_else(|| ConnectError::UnsupportedHost(docker_host.to_owned()))?;
        let docker = if let Some(path) = docker_host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, CLIENT_TIMEOUT_SECS, API_DEFAULT_VERSION)
        } else if docker_host.starts_with('/') {
            Docker::connect_with_unix(docker_host, CLIENT_TIMEOUT_SECS, API_DEFAULT_VERSION)
        } else if docker_host.starts_with("tcp://") || docker_host.starts_with("http://") {
            Docker::connect_with_http(docker_host, CLIENT_TIMEOUT_SECS, API_DEFAULT_VERSION)
        } else {
            return Err(ConnectError::UnsupportedHost(docker_host.to_owned()));
        }
        .map_err(|e| ConnectError::Runtime(docker_error(e)))?;

        let timeouts = Timeouts::default();
        let docker = deadline(
            timeouts.version,
            "negotiate the Docker API version",
            async { docker.negotiate_version().await.map_err(docker_error) },
        )
        .await?;
        let version = fetch_version(&docker, timeouts.version).await?;
        if api_too_old(&version) {
            return Err(ConnectError::ApiTooOld {
                version: version.version,
                api_version: version.api_version,
            });
        }
        let client = docker.client_version();
        info!(
            docker_version = %version.version,
            api_version = %version.api_version,
            client_api = %format!("{}.{}", client.major_version, client.minor_version),
            "connected to Docker"
        );
        Ok(Self {
            docker,
            timeouts,
            version,
            endpoint,
        })
    }

    /// Replaces the call deadlines.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The deadlines in use.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Docker's version as seen when connecting.
    pub fn connected_version(&self) -> &RuntimeVersion {
        &self.version
    }

    async fn pull_image(
        &self,
        image: &str,
        auth: Option<&super::RegistryAuth>,
    ) -> Result<Option<String>, RuntimeError> {
        let (name, tag) = split_image_reference(image);
        debug!(
            image,
            name,
            tag,
            authenticated = auth.is_some(),
            "pulling image"
        );
        let mut stream_digest = None;
        let mut first = true;
        let pull = async {
            let mut stream = tokio::time::timeout(
                self.timeouts.pull_begin,
                super::docker_pull::pull(
                    &self.endpoint,
                    &self.version.api_version,
                    name,
                    tag,
                    auth,
                ),
            )
            .await
            .map_err(|_| {
                RuntimeError::Timeout(
                    self.timeouts.pull_begin,
                    format!("pull {image}: no answer from Docker"),
                )
            })??;
            loop {
                let wait = if first {
                    self.timeouts.pull_begin
                } else {
                    self.timeouts.pull_inactivity
                };
                first = false;
                let item = tokio::time::timeout(wait, stream.next())
                    .await
                    .map_err(|_| {
                        RuntimeError::Timeout(
                            wait,
                            format!("pull {image}: no progress from Docker"),
                        )
                    })?;
                match item {
                    None => return Ok(()),
                    Some(Ok(status)) => {
                        if let Some(digest) =
                            status.as_deref().and_then(|s| s.strip_prefix("Digest: "))
                        {
                            stream_digest = Some(digest.trim().to_owned());
                        }
                    }
                    Some(Err(e)) => return Err(e),
                }
            }
        };
        deadline(self.timeouts.pull, &format!("pull {image}"), pull).await?;

        let inspected = deadline(
            self.timeouts.inspect,
            &format!("inspect image {image}"),
            async { self.docker.inspect_image(image).await.map_err(docker_error) },
        )
        .await?;
        let digest = repo_digest(name, inspected.repo_digests.as_deref().unwrap_or_default())
            .or(stream_digest)
            .or_else(|| tag.starts_with("sha256:").then(|| tag.to_owned()));
        info!(
            image,
            digest = digest.as_deref().unwrap_or(""),
            "pulled image"
        );
        Ok(digest)
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let (body, ignored) = create_body(spec)?;
        for key in &ignored {
            warn!(
                container = %spec.name,
                key = %key,
                "dockerConfig key not understood by the Docker client; left out"
            );
        }
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..CreateContainerOptions::default()
        };
        let created = deadline(
            self.timeouts.create,
            &format!("create container {}", spec.name),
            async {
                self.docker
                    .create_container(Some(options), body)
                    .await
                    .map_err(docker_error)
            },
        )
        .await?;
        for warning in created.warnings.iter().filter(|w| !w.is_empty()) {
            warn!(container = %spec.name, id = %created.id, warning = %warning, "Docker warning on create");
        }
        info!(container = %spec.name, id = %created.id, "created container");
        Ok(created.id)
    }

    async fn inspect_container(&self, id: &str) -> Result<Option<ContainerInfo>, RuntimeError> {
        let result = deadline(
            self.timeouts.inspect,
            &format!("inspect container {id}"),
            async {
                self.docker
                    .inspect_container(id, None)
                    .await
                    .map_err(docker_error)
            },
        )
        .await;
        match result {
            Ok(response) => Ok(Some(container_info(response))),
            Err(RuntimeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every container (running or not) matching one Docker list filter, within the list timeout.
    async fn list_containers(
        &self,
        filter: &str,
        values: Vec<String>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(filter.to_owned(), values)])),
            ..ListContainersOptions::default()
        };
        deadline(self.timeouts.list, "list containers", async {
            self.docker
                .list_containers(Some(options))
                .await
                .map_err(docker_error)
        })
        .await
    }

    async fn list_managed_containers(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let summaries = self
            .list_containers("label", vec![LABEL_TASK_ARN.to_owned()])
            .await?;
        let mut infos = Vec::with_capacity(summaries.len());
        for id in summaries.into_iter().filter_map(|s| s.id) {
            // Gone between the list and the inspect: not ours to report.
            if let Some(info) = self.inspect_container(&id).await? {
                infos.push(info);
            }
        }
        Ok(infos)
    }
}

async fn fetch_version(docker: &Docker, timeout: Duration) -> Result<RuntimeVersion, RuntimeError> {
    let version = deadline(timeout, "get the Docker version", async {
        docker.version().await.map_err(docker_error)
    })
    .await?;
    Ok(RuntimeVersion {
        version: version.version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
    })
}

/// Runs `call` with a deadline; `what` says what timed out.
async fn deadline<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<T, RuntimeError>>,
) -> Result<T, RuntimeError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| Err(RuntimeError::Timeout(timeout, what.to_owned())))
}

/// bollard's error → ours, keeping Docker's own words.
fn docker_error(error: BollardError) -> RuntimeError {
    match error {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NotFound(message),
        BollardError::DockerResponseServerError { message, .. } => RuntimeError::Docker(message),
        BollardError::DockerStreamError { error } => RuntimeError::Docker(error),
        BollardError::SocketNotFoundError(path) => {
            RuntimeError::Docker(format!("Docker socket {path} not found"))
        }
        other => RuntimeError::Docker(other.to_string()),
    }
}

impl ContainerRuntime for DockerRuntime {
    fn version(&self) -> BoxFuture<'_, Result<RuntimeVersion, RuntimeError>> {
        Box::pin(fetch_version(&self.docker, self.timeouts.version))
    }

    fn pull<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a super::RegistryAuth>,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>> {
        Box::pin(self.pull_image(image, auth))
    }

    fn manifest<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a super::RegistryAuth>,
    ) -> BoxFuture<'a, Result<Option<super::ManifestDescriptor>, RuntimeError>> {
        Box::pin(async move {
            // DistributionInspect exists from API 1.30, but engines before 1.35 may pull from v1
            // registries it cannot ask: the reference resolves no digest there, nor does this.
            if parse_api_version(&self.version.api_version).is_none_or(|v| v < MANIFEST_API_VERSION)
            {
                return Ok(None);
            }
            super::docker_pull::distribution_inspect(
                &self.endpoint,
                &self.version.api_version,
                image,
                auth,
            )
            .await
            .map(Some)
        })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let (repo, tag) = split_image_reference(target);
            let options = bollard::query_parameters::TagImageOptions {
                repo: Some(repo.to_owned()),
                tag: Some(tag.to_owned()),
            };
            deadline(
                self.timeouts.inspect,
                &format!("tag image {source} as {target}"),
                async {
                    self.docker
                        .tag_image(source, Some(options))
                        .await
                        .map_err(docker_error)
                },
            )
            .await
        })
    }

    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
    ) -> BoxFuture<'a, Result<Option<super::ImageInfo>, RuntimeError>> {
        Box::pin(async move {
            let result = deadline(
                self.timeouts.inspect,
                &format!("inspect image {image}"),
                async { self.docker.inspect_image(image).await.map_err(docker_error) },
            )
            .await;
            match result {
                Ok(i) => Ok(Some(super::ImageInfo {
                    id: i.id.unwrap_or_default(),
                    repo_tags: i.repo_tags.unwrap_or_default(),
                    repo_digests: i.repo_digests.unwrap_or_default(),
                    size: i.size.unwrap_or_default(),
                    created: i
                        .created
                        .as_deref()
                        .and_then(|c| {
                            time::OffsetDateTime::parse(
                                c,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        })
                        .map(time::OffsetDateTime::unix_timestamp)
                        .unwrap_or_default(),
                })),
                Err(RuntimeError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<super::ImageInfo>, RuntimeError>> {
        Box::pin(async move {
            let list = deadline(self.timeouts.list, "list images", async {
                self.docker
                    .list_images(None::<bollard::query_parameters::ListImagesOptions>)
                    .await
                    .map_err(docker_error)
            })
            .await?;
            Ok(list
                .into_iter()
                .map(|i| super::ImageInfo {
                    id: i.id,
                    repo_tags: i.repo_tags,
                    repo_digests: i.repo_digests,
                    size: i.size,
                    created: i.created,
                })
                .collect())
        })
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            deadline(
                self.timeouts.remove,
                &format!("remove image {image}"),
                async {
                    self.docker
                        .remove_image(
                            image,
                            None::<bollard::query_parameters::RemoveImageOptions>,
                            None,
                        )
                        .await
                        .map_err(docker_error)
                },
            )
            .await
            .map(|_| ())
        })
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        Box::pin(async move {
            let result = deadline(
                self.timeouts.inspect,
                &format!("inspect image {image}"),
                async { self.docker.inspect_image(image).await.map_err(docker_error) },
            )
            .await;
            match result {
                Ok(_) => Ok(true),
                Err(RuntimeError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn create<'a>(
        &'a self,
        spec: &'a ContainerSpec,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(self.create_container(spec))
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            // 304 (already started) is a success to bollard.
            deadline(
                self.timeouts.start,
                &format!("start container {id}"),
                async {
                    self.docker
                        .start_container(id, None)
                        .await
                        .map_err(docker_error)
                },
            )
            .await?;
            info!(id, "started container");
            Ok(())
        })
    }

    fn stop<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let seconds = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
            let options = StopContainerOptions {
                t: Some(seconds),
                signal: None,
            };
            // 304 (not running) is a success to bollard.
            deadline(
                timeout + self.timeouts.stop_buffer,
                &format!("stop container {id}"),
                async {
                    self.docker
                        .stop_container(id, Some(options))
                        .await
                        .map_err(docker_error)
                },
            )
            .await?;
            info!(id, timeout_secs = seconds, "stopped container");
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            // Force: the engine only removes containers it wants gone, and one left running by a
            // failed stop must not block cleanup forever. `v`: anonymous volumes go too (`rm -v`).
            let options = RemoveContainerOptions {
                v: true,
                force: true,
                link: false,
            };
            let result = deadline(
                self.timeouts.remove,
                &format!("remove container {id}"),
                async {
                    self.docker
                        .remove_container(id, Some(options))
                        .await
                        .map_err(docker_error)
                },
            )
            .await;
            match result {
                Ok(()) => {
                    info!(id, "removed container");
                    Ok(())
                }
                Err(RuntimeError::NotFound(_)) => Ok(()),
                // 409 "removal of container ... is already in progress".
                Err(RuntimeError::Docker(message)) if message.contains("already in progress") => {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })
    }

    fn inspect<'a>(
        &'a self,
        id_or_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerInfo>, RuntimeError>> {
        Box::pin(self.inspect_container(id_or_name))
    }

    fn list_managed(&self) -> BoxFuture<'_, Result<Vec<ContainerInfo>, RuntimeError>> {
        Box::pin(self.list_managed_containers())
    }

    fn list_stopped_unmanaged(
        &self,
    ) -> BoxFuture<'_, Result<Vec<super::UnmanagedContainer>, RuntimeError>> {
        Box::pin(async move {
            let summaries = self
                .list_containers(
                    "status",
                    vec!["exited".to_owned(), "dead".to_owned(), "created".to_owned()],
                )
                .await?;
            let mut out = Vec::new();
            for summary in summaries {
                let ours = summary
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(LABEL_TASK_ARN));
                let Some(id) = summary.id.filter(|_| !ours) else {
                    continue;
                };
                let inspected = deadline(
                    self.timeouts.inspect,
                    &format!("inspect container {id}"),
                    async {
                        self.docker
                            .inspect_container(&id, None)
                            .await
                            .map_err(docker_error)
                    },
                )
                .await;
                let response = match inspected {
                    Ok(r) => r,
                    // Gone between the list and the inspect.
                    Err(RuntimeError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let finished_at = response
                    .state
                    .and_then(|s| s.finished_at)
                    .and_then(|t| {
                        time::OffsetDateTime::parse(
                            &t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    })
                    .map_or(0, time::OffsetDateTime::unix_timestamp)
                    .max(0);
                out.push(super::UnmanagedContainer { id, finished_at });
            }
            Ok(out)
        })
    }

    /// `GET /containers/{id}/stats?stream=false`: Docker takes two samples (about a second) so
    /// that `precpu_stats` is filled, as the reference's stats are.
    fn stats<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Value>, RuntimeError>> {
        Box::pin(async move {
            let options = bollard::query_parameters::StatsOptionsBuilder::new()
                .stream(false)
                .build();
            let result = deadline(
                self.timeouts.inspect,
                &format!("stats of container {id}"),
                async {
                    let mut stream = self.docker.stats(id, Some(options));
                    match stream.next().await {
                        Some(Ok(s)) => Ok(Some(s)),
                        Some(Err(e)) => Err(docker_error(e)),
                        None => Ok(None),
                    }
                },
            )
            .await;
            match result {
                Ok(Some(s)) => serde_json::to_value(s)
                    .map(Some)
                    .map_err(|e| RuntimeError::Docker(e.to_string())),
                Ok(None) | Err(RuntimeError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// `GET /containers/{id}/stats?stream=true`. A sample that stops coming for
    /// [`STATS_INACTIVITY_TIMEOUT`] ends the stream with an error (the reference's
    /// `StatsInactivityTimeout`), so a hung daemon connection does not hold a collector forever.
    fn stats_stream(&self, id: &str) -> super::StatsStream {
        let options = bollard::query_parameters::StatsOptionsBuilder::new()
            .stream(true)
            .build();
        let id = id.to_owned();
        // bollard's stream owns its request: it borrows neither the client nor the id.
        let samples = Box::pin(self.docker.stats(&id, Some(options)));
        Box::pin(futures_util::stream::unfold(
            Some(samples),
            move |samples| {
                let id = id.clone();
                async move {
                    let mut samples = samples?;
                    match tokio::time::timeout(STATS_INACTIVITY_TIMEOUT, samples.next()).await {
                        Err(_) => Some((
                            Err(RuntimeError::Docker(format!(
                                "no stats of container {id} for {STATS_INACTIVITY_TIMEOUT:?}"
                            ))),
                            None,
                        )),
                        Ok(None) => None,
                        Ok(Some(Err(e))) => Some((Err(docker_error(e)), None)),
                        Ok(Some(Ok(s))) => Some((
                            serde_json::to_value(s)
                                .map_err(|e| RuntimeError::Docker(e.to_string())),
                            Some(samples),
                        )),
                    }
                }
            },
        ))
    }

    /// Container events of managed containers (`start`, `die`, `oom`, `health_status`,
    /// `destroy`), from now on. The stream ends when Docker closes it (a daemon restart); after an
    /// error item it ends too. The consumer subscribes again and re-inspects its containers to
    /// catch up on what it missed.
    ///
    /// bollard sends the request only when the stream is first polled, so `since` is set to the
    /// moment of this call: events between the call and the first poll are replayed by Docker,
    /// not lost.
    fn events(&self) -> EventStream {
        let options = EventsOptions {
            since: Some(docker_timestamp(std::time::SystemTime::now())),
            until: None,
            filters: Some(HashMap::from([
                ("type".to_owned(), vec!["container".to_owned()]),
                ("label".to_owned(), vec![LABEL_TASK_ARN.to_owned()]),
                (
                    "event".to_owned(),
                    ["start", "die", "oom", "health_status", "destroy"]
                        .map(str::to_owned)
                        .to_vec(),
                ),
            ])),
        };
        let stream = self
            .docker
            .events(Some(options))
            .filter_map(|item| async move {
                match item {
                    Ok(message) => runtime_event(&message).map(Ok),
                    Err(e) => Some(Err(docker_error(e))),
                }
            });
        Box::pin(stream)
    }

    fn create_volume<'a>(
        &'a self,
        spec: &'a VolumeSpec,
    ) -> BoxFuture<'a, Result<VolumeInfo, RuntimeError>> {
        Box::pin(async move {
            let request = VolumeCreateRequest {
                name: Some(spec.name.clone()),
                driver: Some(if spec.driver.is_empty() {
                    "local".to_owned()
                } else {
                    spec.driver.clone()
                }),
                driver_opts: Some(spec.driver_opts.clone().into_iter().collect()),
                labels: Some(spec.labels.clone().into_iter().collect()),
                cluster_volume_spec: None,
            };
            let volume = deadline(
                VOLUME_TIMEOUT,
                &format!("create volume {}", spec.name),
                async {
                    self.docker
                        .create_volume(request)
                        .await
                        .map_err(docker_error)
                },
            )
            .await?;
            info!(volume = %spec.name, driver = %volume.driver, "created volume");
            Ok(volume_info(volume))
        })
    }

    fn inspect_volume<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<VolumeInfo>, RuntimeError>> {
        Box::pin(async move {
            let result = deadline(VOLUME_TIMEOUT, &format!("inspect volume {name}"), async {
                self.docker.inspect_volume(name).await.map_err(docker_error)
            })
            .await;
            match result {
                Ok(volume) => Ok(Some(volume_info(volume))),
                Err(RuntimeError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let result = deadline(VOLUME_TIMEOUT, &format!("remove volume {name}"), async {
                self.docker
                    .remove_volume(name, None::<RemoveVolumeOptions>)
                    .await
                    .map_err(docker_error)
            })
            .await;
            match result {
                Ok(()) => {
                    info!(volume = %name, "removed volume");
                    Ok(())
                }
                Err(RuntimeError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

fn volume_info(volume: bollard::models::Volume) -> VolumeInfo {
    VolumeInfo {
        name: volume.name,
        driver: volume.driver,
        driver_opts: volume.options.into_iter().collect(),
        labels: volume.labels.into_iter().collect(),
        mountpoint: volume.mountpoint,
    }
}

/// `time` as Docker's API takes timestamps: `seconds.nanoseconds` since the Unix epoch.
fn docker_timestamp(time: std::time::SystemTime) -> String {
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.{:09}",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos()
    )
}

/// `image` → (`fromImage`, `tag`) for Docker's pull: the tag or digest split off the name (a
/// registry port is not a tag), `latest` when there is neither. Never an empty tag: Docker would
/// pull every tag of the repository.
pub fn split_image_reference(image: &str) -> (&str, &str) {
    if let Some((name, digest)) = image.split_once('@') {
        // `repo:tag@digest`: the digest decides, the tag goes.
        return (strip_tag(name).0, digest);
    }
    match strip_tag(image) {
        (name, Some(tag)) if !tag.is_empty() => (name, tag),
        (name, _) => (name, "latest"),
    }
}

/// `repo:tag` → (`repo`, `Some(tag)`); a `:` before the last `/` belongs to the registry host.
fn strip_tag(name: &str) -> (&str, Option<&str>) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(colon) => {
            let colon = last_slash + colon;
            (&name[..colon], Some(&name[colon + 1..]))
        }
        None => (name, None),
    }
}

/// The digest (`sha256:...`) of the entry of `repo_digests` (`repo@sha256:...`) for repository
/// `name`, else of the first entry. Docker Hub names are compared in their short form
/// (`docker.io/library/busybox` is `busybox`).
pub fn repo_digest(name: &str, repo_digests: &[String]) -> Option<String> {
    let wanted = familiar(name);
    let split = |entry: &String| {
        entry
            .split_once('@')
            .map(|(repo, digest)| (repo.to_owned(), digest.to_owned()))
    };
    repo_digests
        .iter()
        .filter_map(split)
        .find(|(repo, _)| familiar(repo) == wanted)
        .or_else(|| repo_digests.first().and_then(split))
        .map(|(_, digest)| digest)
}

fn familiar(name: &str) -> &str {
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    name.strip_prefix("library/").unwrap_or(name)
}

fn protocol_str(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The create request for `spec`, and the `dockerConfig` keys bollard does not know (left out;
/// the caller warns about them).
///
/// The agent's own settings are built first; the overlays are laid over them key by key, as the
/// reference agent unmarshals the `dockerConfig` strings over its config (an overlay key replaces
/// the agent's value; keys match case-insensitively, as Go's JSON decoding does). Two exceptions:
/// the labels are [`ContainerSpec::labels`] over the overlay's (the ECS labels win) and
/// `NetworkMode` is [`ContainerSpec::network_mode`]. Ports are published only in `bridge` mode.
pub fn create_body(
    spec: &ContainerSpec,
) -> Result<(ContainerCreateBody, Vec<String>), RuntimeError> {
    let bridge = spec.network_mode == "bridge";
    let mut exposed: Vec<String> = spec
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.container_port, protocol_str(p.protocol)))
        .collect();
    exposed.sort();
    exposed.dedup();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &spec.ports {
        bindings
            .entry(format!(
                "{}/{}",
                port.container_port,
                protocol_str(port.protocol)
            ))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                // Empty, as the reference sends it: Docker binds every address of the host,
                // `0.0.0.0` and, where the host has IPv6, `::` (and reports both).
                host_ip: Some(port.host_ip.map(|ip| ip.to_string()).unwrap_or_default()),
                host_port: Some(port.host_port.to_string()),
            });
    }
    let host_config = HostConfig {
        port_bindings: (bridge && !bindings.is_empty()).then_some(bindings),
        network_mode: Some(spec.network_mode.clone()),
        memory: spec.memory_bytes,
        cpu_shares: Some(spec.cpu_shares),
        binds: non_empty(&spec.task_resources.binds),
        volumes_from: non_empty(&spec.task_resources.volumes_from),
        links: non_empty(&spec.task_resources.links),
        cgroup_parent: spec.task_resources.cgroup_parent.clone(),
        ..HostConfig::default()
    };
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(spec.env.clone()),
        cmd: spec.cmd.clone(),
        entrypoint: spec.entrypoint.clone(),
        exposed_ports: (!exposed.is_empty() && spec.network_mode != "none").then_some(exposed),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    };
    let invalid =
        |e: serde_json::Error| RuntimeError::Docker(format!("invalid container config: {e}"));
    let mut value = serde_json::to_value(&body).map_err(invalid)?;
    let mut laid = Vec::new();

    let mut overlay_labels = BTreeMap::new();
    if let Some(overlay) = &spec.config_overlay {
        overlay_labels = overlay.labels.clone().unwrap_or_default();
        if let (Value::Object(target), Value::Object(source)) =
            (&mut value, serde_json::to_value(overlay).map_err(invalid)?)
        {
            for (key, v) in source {
                let key = if key.eq_ignore_ascii_case("HealthCheck") {
                    "Healthcheck".to_owned()
                } else {
                    key
                };
                if key.eq_ignore_ascii_case("Labels") || key.eq_ignore_ascii_case("HostConfig") {
                    continue;
                }
                laid.push((None, lay(target, key, v)));
            }
        }
    }
    if let Some(overlay) = &spec.host_overlay
        && let (Some(Value::Object(target)), Value::Object(source)) = (
            value.get_mut("HostConfig"),
            serde_json::to_value(overlay).map_err(invalid)?,
        )
    {
        for (key, v) in source {
            if key.eq_ignore_ascii_case("NetworkMode") {
                continue;
            }
            laid.push((Some("HostConfig"), lay(target, key, v)));
        }
    }
    let mut labels = overlay_labels;
    labels.extend(spec.labels.clone());
    if let Value::Object(target) = &mut value {
        target.insert(
            "Labels".to_owned(),
            serde_json::to_value(labels).map_err(invalid)?,
        );
    }

    let body: ContainerCreateBody = serde_json::from_value(value).map_err(invalid)?;
    let round = serde_json::to_value(&body).map_err(invalid)?;
    let ignored = laid
        .into_iter()
        .filter_map(|(section, key)| {
            let key = key?;
            let present = match section {
                None => round.get(&key).is_some(),
                Some(section) => round.get(section).and_then(|s| s.get(&key)).is_some(),
            };
            (!present).then(|| match section {
                None => format!("Config.{key}"),
                Some(section) => format!("{section}.{key}"),
            })
        })
        .collect();
    Ok((body, ignored))
}

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

/// Sets `key` in `target`, replacing a key that differs only in case. Returns the key written, or
/// `None` for a `null` value (nothing to check afterwards).
fn lay(target: &mut Map<String, Value>, key: String, v: Value) -> Option<String> {
    let existing = target
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&key))
        .cloned();
    let key = existing.unwrap_or(key);
    let null = v.is_null();
    target.insert(key.clone(), v);
    (!null).then_some(key)
}

/// Docker's inspect answer → [`ContainerInfo`].
pub fn container_info(response: ContainerInspectResponse) -> ContainerInfo {
    let state = response.state.unwrap_or_default();
    let status = match state.status {
        Some(ContainerStateStatusEnum::EMPTY) | None => String::new(),
        Some(status) => status.to_string(),
    };
    let finished = matches!(
        state.status,
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD)
    );
    let health = state
        .health
        .and_then(|h| h.status)
        .and_then(|status| match status {
            HealthStatusEnum::STARTING => Some(Health::Starting),
            HealthStatusEnum::HEALTHY => Some(Health::Healthy),
            HealthStatusEnum::UNHEALTHY => Some(Health::Unhealthy),
            HealthStatusEnum::NONE | HealthStatusEnum::EMPTY => None,
        });
    let mut ipv4_addresses: Vec<String> = response
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|networks| {
            networks
                .values()
                .filter_map(|e| e.ip_address.clone())
                .filter(|ip| !ip.is_empty())
                .collect()
        })
        .unwrap_or_default();
    ipv4_addresses.sort();
    let mut ports: Vec<PortSpec> = response
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(key, bindings)| {
            let parsed = parse_port_key(&key);
            bindings
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |binding| {
                    let (container_port, protocol) = parsed?;
                    let host_port = binding.host_port?.parse().ok().filter(|p| *p != 0)?;
                    Some(PortSpec {
                        container_port,
                        host_port,
                        protocol,
                        host_ip: binding.host_ip.and_then(|ip| ip.parse().ok()),
                    })
                })
        })
        .collect();
    // One entry per address Docker bound (0.0.0.0 and ::), IPv4 first, as `docker port` lists
    // them; which ones are reported is the state change's choice (ECS_EXCLUDE_IPV6_PORTBINDING).
    ports.sort_by_key(|p| (p.container_port, p.protocol, p.host_port, p.host_ip));
    ports.dedup();
    let config = response.config.unwrap_or_default();
    ContainerInfo {
        id: response.id.unwrap_or_default(),
        name: response
            .name
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        image: config.image.unwrap_or_default(),
        image_id: response.image.unwrap_or_default(),
        status,
        exit_code: if finished { state.exit_code } else { None },
        oom_killed: state.oom_killed.unwrap_or(false),
        error: state.error.filter(|e| !e.is_empty()),
        ports,
        health,
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        ipv4_addresses,
    }
}

/// `"80/tcp"` → (80, tcp); other protocols (sctp) are not ours.
fn parse_port_key(key: &str) -> Option<(u16, Protocol)> {
    let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return None,
    };
    Some((port.parse().ok()?, protocol))
}

/// A Docker event → [`RuntimeEvent`], for the container actions the engine cares about.
pub fn runtime_event(message: &EventMessage) -> Option<RuntimeEvent> {
    if !matches!(message.typ, Some(EventMessageTypeEnum::CONTAINER) | None) {
        return None;
    }
    let actor = message.actor.as_ref()?;
    let id = actor.id.clone()?;
    let action = message.action.as_deref()?;
    let attribute = |name: &str| actor.attributes.as_ref().and_then(|a| a.get(name));
    match action {
        "start" => Some(RuntimeEvent::Started { id }),
        // The exit code is a string attribute.
        "die" => Some(RuntimeEvent::Died {
            id,
            exit_code: attribute("exitCode").and_then(|c| c.trim().parse().ok()),
        }),
        "oom" => Some(RuntimeEvent::Oom { id }),
        "destroy" => Some(RuntimeEvent::Destroyed { id }),
        _ => {
            let status = action.strip_prefix("health_status")?;
            let health = match status.trim_start_matches(':').trim() {
                "healthy" => Health::Healthy,
                "unhealthy" => Health::Unhealthy,
                "starting" => Health::Starting,
                _ => return None,
            };
            Some(RuntimeEvent::Health { id, health })
        }
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::EventActor;
    use ecs_protocol::docker_config::{
        ContainerConfigOverlay, HealthConfig, HostConfigOverlay, LogConfig, Ulimit,
    };
    use serde_json::json;

    use super::*;

    #[test]
    fn api_versions_below_1_21_are_too_old() {
        let v = |api: &str| RuntimeVersion {
            version: "x".into(),
            api_version: api.into(),
        };
        assert!(!api_too_old(&v("1.41")));
        assert!(!api_too_old(&v("1.21")));
        assert!(!api_too_old(&v("2.0")));
        assert!(api_too_old(&v("1.20")));
        assert!(api_too_old(&v("1.9")));
        assert!(api_too_old(&v("")));
        assert!(api_too_old(&v("garbage")));
        let error = ConnectError::ApiTooOld {
            version: "1.8.0".into(),
            api_version: "1.20".into(),
        };
        assert!(error.is_terminal());
        assert_eq!(
            error.to_string(),
            "Docker API version 1.20 (Docker 1.8.0) is older than the minimum 1.21 this agent needs"
        );
        assert!(!ConnectError::Runtime(RuntimeError::Docker("x".into())).is_terminal());
    }

    #[test]
    fn image_references_split_into_name_and_tag() {
        for (image, name, tag) in [
            ("busybox", "busybox", "latest"),
            ("busybox:1.36", "busybox", "1.36"),
            ("127.0.0.1:5000/web", "127.0.0.1:5000/web", "latest"),
            ("127.0.0.1:5000/web:2", "127.0.0.1:5000/web", "2"),
            ("localhost:5000/a/b/c:v1.2", "localhost:5000/a/b/c", "v1.2"),
            ("web@sha256:abcd", "web", "sha256:abcd"),
            ("reg:5000/web:1@sha256:abcd", "reg:5000/web", "sha256:abcd"),
            ("reg:5000/web:", "reg:5000/web", "latest"),
        ] {
            assert_eq!(split_image_reference(image), (name, tag), "{image}");
        }
    }

    #[test]
    fn repo_digest_picks_the_pulled_repository() {
        let digests = vec![
            "127.0.0.1:5000/other@sha256:1111".to_owned(),
            "127.0.0.1:5000/web@sha256:2222".to_owned(),
        ];
        assert_eq!(
            repo_digest("127.0.0.1:5000/web", &digests).as_deref(),
            Some("sha256:2222")
        );
        assert_eq!(
            repo_digest("elsewhere/web", &digests).as_deref(),
            Some("sha256:1111")
        );
        assert_eq!(
            repo_digest(
                "docker.io/library/busybox",
                &["busybox@sha256:3333".to_owned()]
            )
            .as_deref(),
            Some("sha256:3333")
        );
        assert_eq!(repo_digest("web", &[]), None);
    }

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "ecs-web-1-web-0102".into(),
            image: "127.0.0.1:5000/web:1".into(),
            env: vec!["A=1".into()],
            cmd: Some(vec!["serve".into()]),
            entrypoint: None,
            labels: BTreeMap::from([(LABEL_TASK_ARN.to_owned(), "arn:t".to_owned())]),
            ports: vec![
                PortSpec {
                    container_port: 80,
                    host_port: 49153,
                    protocol: Protocol::Tcp,
                    host_ip: None,
                },
                PortSpec {
                    container_port: 53,
                    host_port: 49154,
                    protocol: Protocol::Udp,
                    host_ip: None,
                },
            ],
            network_mode: "bridge".into(),
            memory_bytes: Some(64 << 20),
            cpu_shares: 256,
            config_overlay: None,
            host_overlay: None,
            task_resources: Default::default(),
        }
    }

    #[test]
    fn the_create_body_carries_the_spec() {
        let (body, ignored) = create_body(&spec()).unwrap();
        assert!(ignored.is_empty());
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["Image"], "127.0.0.1:5000/web:1");
        assert_eq!(json["Env"], json!(["A=1"]));
        assert_eq!(json["Cmd"], json!(["serve"]));
        assert!(json.get("Entrypoint").is_none());
        assert_eq!(json["Labels"], json!({LABEL_TASK_ARN: "arn:t"}));
        assert_eq!(json["ExposedPorts"], json!({"53/udp": {}, "80/tcp": {}}));
        let host = &json["HostConfig"];
        assert_eq!(
            host["PortBindings"],
            json!({
                // No host address, as the reference publishes: Docker binds 0.0.0.0 and ::.
                "80/tcp": [{"HostIp": "", "HostPort": "49153"}],
                "53/udp": [{"HostIp": "", "HostPort": "49154"}],
            })
        );
        assert_eq!(host["NetworkMode"], "bridge");
        assert_eq!(host["Memory"], 64 << 20);
        assert_eq!(host["CpuShares"], 256);
    }

    #[test]
    fn task_resources_become_binds_volumes_from_links_and_cgroup_parent() {
        let mut spec = spec();
        spec.task_resources = crate::runtime::TaskResourceSpec {
            binds: vec!["/srv:/data:ro".into(), "ecs-v-1-x-00:/x".into()],
            volumes_from: vec!["ecs-f-1-db-00:ro".into()],
            links: vec!["ecs-f-1-db-00:database".into()],
            cgroup_parent: Some("/ecs/abc".into()),
        };
        let json = serde_json::to_value(create_body(&spec).unwrap().0).unwrap();
        let host = &json["HostConfig"];
        assert_eq!(host["Binds"], json!(["/srv:/data:ro", "ecs-v-1-x-00:/x"]));
        assert_eq!(host["VolumesFrom"], json!(["ecs-f-1-db-00:ro"]));
        assert_eq!(host["Links"], json!(["ecs-f-1-db-00:database"]));
        assert_eq!(host["CgroupParent"], "/ecs/abc");
        // Nothing of the kind when the task has none.
        let json = serde_json::to_value(create_body(&self::spec()).unwrap().0).unwrap();
        assert!(json["HostConfig"].get("Binds").is_none());
        assert!(json["HostConfig"].get("CgroupParent").is_none());
    }

    #[test]
    fn host_mode_publishes_nothing() {
        let mut spec = spec();
        spec.network_mode = "host".into();
        let json = serde_json::to_value(create_body(&spec).unwrap().0).unwrap();
        assert!(json["HostConfig"].get("PortBindings").is_none());
        assert_eq!(json["HostConfig"]["NetworkMode"], "host");
        spec.network_mode = "none".into();
        let json = serde_json::to_value(create_body(&spec).unwrap().0).unwrap();
        assert!(json.get("ExposedPorts").is_none());
    }

    #[test]
    fn overlays_are_laid_over_the_agents_settings() {
        let mut spec = spec();
        let mut config_extra = Map::new();
        config_extra.insert("StopSignal".into(), json!("SIGQUIT"));
        config_extra.insert("NotADockerKey".into(), json!(1));
        spec.config_overlay = Some(ContainerConfigOverlay {
            user: Some("1000:1000".into()),
            labels: Some(BTreeMap::from([
                ("team".to_owned(), "blue".to_owned()),
                (LABEL_TASK_ARN.to_owned(), "spoofed".to_owned()),
            ])),
            working_dir: Some("/srv".into()),
            hostname: Some("web".into()),
            health_check: Some(HealthConfig {
                test: Some(vec!["CMD".into(), "true".into()]),
                interval: Some(30_000_000_000),
                retries: Some(3),
                ..HealthConfig::default()
            }),
            tty: Some(true),
            open_stdin: Some(true),
            extra: config_extra,
            ..ContainerConfigOverlay::default()
        });
        let mut host_extra = Map::new();
        host_extra.insert("PidsLimit".into(), json!(100));
        host_extra.insert("memory".into(), json!(128 << 20));
        spec.host_overlay = Some(HostConfigOverlay {
            network_mode: Some("host".into()),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            cap_drop: Some(vec![]),
            memory_reservation: Some(32 << 20),
            log_config: Some(LogConfig {
                kind: "json-file".into(),
                config: Some(BTreeMap::from([("max-size".to_owned(), "10m".to_owned())])),
            }),
            ulimits: Some(vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 4096,
            }]),
            privileged: Some(true),
            readonly_rootfs: Some(true),
            dns: Some(vec!["10.0.0.2".into()]),
            dns_search: Some(vec!["example.com".into()]),
            extra_hosts: Some(vec!["db:10.0.0.9".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            sysctls: Some(BTreeMap::from([(
                "net.core.somaxconn".to_owned(),
                "1024".to_owned(),
            )])),
            tmpfs: Some(BTreeMap::from([("/run".to_owned(), "rw".to_owned())])),
            shm_size: Some(64 << 20),
            init: Some(true),
            extra: host_extra,
            ..HostConfigOverlay::default()
        });
        let (body, ignored) = create_body(&spec).unwrap();
        assert_eq!(ignored, ["Config.NotADockerKey"]);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["User"], "1000:1000");
        assert_eq!(json["WorkingDir"], "/srv");
        assert_eq!(json["Hostname"], "web");
        assert_eq!(json["Tty"], true);
        assert_eq!(json["OpenStdin"], true);
        assert_eq!(json["StopSignal"], "SIGQUIT");
        assert_eq!(
            json["Healthcheck"],
            json!({"Test": ["CMD", "true"], "Interval": 30_000_000_000_i64, "Retries": 3})
        );
        assert_eq!(
            json["Labels"],
            json!({LABEL_TASK_ARN: "arn:t", "team": "blue"})
        );
        let host = &json["HostConfig"];
        // The spec's network mode wins; the overlay's Memory (any case) replaces the agent's.
        assert_eq!(host["NetworkMode"], "bridge");
        assert_eq!(host["Memory"], 128 << 20);
        assert_eq!(host["CpuShares"], 256);
        assert_eq!(host["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(host["CapDrop"], json!([]));
        assert_eq!(host["MemoryReservation"], 32 << 20);
        assert_eq!(
            host["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "10m"}})
        );
        assert_eq!(
            host["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 4096}])
        );
        assert_eq!(host["Privileged"], true);
        assert_eq!(host["ReadonlyRootfs"], true);
        assert_eq!(host["Dns"], json!(["10.0.0.2"]));
        assert_eq!(host["DnsSearch"], json!(["example.com"]));
        assert_eq!(host["ExtraHosts"], json!(["db:10.0.0.9"]));
        assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(host["Sysctls"], json!({"net.core.somaxconn": "1024"}));
        assert_eq!(host["Tmpfs"], json!({"/run": "rw"}));
        assert_eq!(host["ShmSize"], 64 << 20);
        assert_eq!(host["Init"], true);
        assert_eq!(host["PidsLimit"], 100);
        assert!(host["PortBindings"].get("80/tcp").is_some());
    }

    #[test]
    fn an_overlay_value_of_the_wrong_type_is_an_error() {
        let mut spec = spec();
        let mut extra = Map::new();
        extra.insert("Memory".into(), json!("lots"));
        spec.host_overlay = Some(HostConfigOverlay {
            extra,
            ..HostConfigOverlay::default()
        });
        assert!(matches!(create_body(&spec), Err(RuntimeError::Docker(_))));
    }

    /// Trimmed from `docker inspect` of an exited, OOM-killed container on Docker 20.10.24.
    #[test]
    fn inspect_answers_become_container_info() {
        let response: ContainerInspectResponse = serde_json::from_value(json!({
            "Id": "3f1c",
            "Name": "/ecs-web-1-web-0102",
            "Image": "sha256:9d02",
            "State": {
                "Status": "exited", "Running": false, "OOMKilled": true, "Dead": false,
                "Pid": 0, "ExitCode": 137, "Error": "",
                "StartedAt": "2026-01-01T00:00:00.000000000Z",
                "FinishedAt": "2026-01-01T00:00:01.000000000Z",
                "Health": {"Status": "unhealthy", "FailingStreak": 3, "Log": []}
            },
            "Config": {
                "Image": "localhost/ecs-agent-test/busybox:1",
                "Labels": {"com.amazonaws.ecs.task-arn": "arn:t"}
            },
            "NetworkSettings": {
                "Ports": {
                    "80/tcp": [
                        {"HostIp": "0.0.0.0", "HostPort": "49153"},
                        {"HostIp": "::", "HostPort": "49153"}
                    ],
                    "53/udp": null,
                    "9/sctp": [{"HostIp": "0.0.0.0", "HostPort": "49000"}]
                }
            }
        }))
        .unwrap();
        let info = container_info(response);
        assert_eq!(info.id, "3f1c");
        assert_eq!(info.name, "ecs-web-1-web-0102");
        assert_eq!(info.image, "localhost/ecs-agent-test/busybox:1");
        assert_eq!(info.image_id, "sha256:9d02");
        assert_eq!(info.status, "exited");
        assert!(!info.running());
        assert_eq!(info.exit_code, Some(137));
        assert!(info.oom_killed);
        assert_eq!(info.error, None);
        assert_eq!(info.health, Some(Health::Unhealthy));
        // One entry per address bound; IPv4 first.
        assert_eq!(
            info.ports,
            [
                PortSpec {
                    container_port: 80,
                    host_port: 49153,
                    protocol: Protocol::Tcp,
                    host_ip: Some("0.0.0.0".parse().unwrap()),
                },
                PortSpec {
                    container_port: 80,
                    host_port: 49153,
                    protocol: Protocol::Tcp,
                    host_ip: Some("::".parse().unwrap()),
                }
            ]
        );
        assert_eq!(
            info.labels.get(LABEL_TASK_ARN).map(String::as_str),
            Some("arn:t")
        );

        let running: ContainerInspectResponse = serde_json::from_value(json!({
            "Id": "a", "State": {"Status": "running", "ExitCode": 0, "Error": "boom"}
        }))
        .unwrap();
        let info = container_info(running);
        assert!(info.running());
        assert_eq!(info.exit_code, None);
        assert_eq!(info.error.as_deref(), Some("boom"));
        assert_eq!(info.health, None);
    }

    fn event(action: &str, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("c1".into()),
                attributes: Some(
                    attributes
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
            }),
            ..EventMessage::default()
        }
    }

    #[test]
    fn docker_events_become_runtime_events() {
        let id = || "c1".to_owned();
        assert_eq!(
            runtime_event(&event("start", &[])),
            Some(RuntimeEvent::Started { id: id() })
        );
        assert_eq!(
            runtime_event(&event("die", &[("exitCode", "137"), ("name", "x")])),
            Some(RuntimeEvent::Died {
                id: id(),
                exit_code: Some(137)
            })
        );
        assert_eq!(
            runtime_event(&event("die", &[])),
            Some(RuntimeEvent::Died {
                id: id(),
                exit_code: None
            })
        );
        assert_eq!(
            runtime_event(&event("oom", &[])),
            Some(RuntimeEvent::Oom { id: id() })
        );
        assert_eq!(
            runtime_event(&event("health_status: healthy", &[])),
            Some(RuntimeEvent::Health {
                id: id(),
                health: Health::Healthy
            })
        );
        assert_eq!(
            runtime_event(&event("health_status: unhealthy", &[])),
            Some(RuntimeEvent::Health {
                id: id(),
                health: Health::Unhealthy
            })
        );
        assert_eq!(
            runtime_event(&event("destroy", &[])),
            Some(RuntimeEvent::Destroyed { id: id() })
        );
        assert_eq!(runtime_event(&event("kill", &[("signal", "15")])), None);
        assert_eq!(runtime_event(&event("exec_start: sh", &[])), None);
        let mut image_event = event("start", &[]);
        image_event.typ = Some(EventMessageTypeEnum::IMAGE);
        assert_eq!(runtime_event(&image_event), None);
    }

    #[test]
    fn server_errors_keep_dockers_words() {
        assert_eq!(
            docker_error(BollardError::DockerResponseServerError {
                status_code: 404,
                message: "No such container: x".into()
            }),
            RuntimeError::NotFound("No such container: x".into())
        );
        assert_eq!(
            docker_error(BollardError::DockerStreamError {
                error: "manifest unknown".into()
            }),
            RuntimeError::Docker("manifest unknown".into())
        );
    }
}
