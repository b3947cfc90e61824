//! A recording in-memory [`ContainerRuntime`] for unit tests.
//!
//! [`FakeRuntime`] behaves like a small Docker: images must be pulled (or added with
//! [`FakeRuntime::add_image`]) before containers of them can be created, containers go
//! created → running → exited, `remove` deletes them, and `start`, `stop`, `remove` and the
//! injection knobs ([`FakeRuntime::exit`], [`FakeRuntime::oom`], [`FakeRuntime::set_health`])
//! emit the [`RuntimeEvent`]s Docker would, on every stream returned by `events()`. Every call is
//! recorded as a [`Call`], so a test can say "pulled X, created container web with env Y and port
//! 0/tcp, started it" without Docker. Failures are injected per image or per container.
//!
//! It is cheap to clone: clones share one state, so a test keeps a handle while the code under test
//! owns another.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use super::spec::{LABEL_CONTAINER_NAME, LABEL_TASK_ARN};
use super::{
    BoxFuture, ContainerInfo, ContainerRuntime, ContainerSpec, EventStream, Health, PortSpec,
    RuntimeError, RuntimeEvent, RuntimeVersion, StatsStream, VolumeInfo, VolumeSpec,
};

/// One call made to the fake, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `version()`.
    Version,
    /// `pull(image)`.
    Pull {
        /// Image reference.
        image: String,
    },
    /// `pull(image, auth)` with credentials (only the user and registry are recorded).
    PullWithAuth {
        /// Image reference.
        image: String,
        /// User name.
        username: String,
        /// Registry.
        server_address: String,
    },
    /// `manifest(image, auth)` (whether credentials came is not recorded).
    Manifest {
        /// Image reference.
        image: String,
    },
    /// `tag_image(source, target)`.
    TagImage {
        /// The image tagged.
        source: String,
        /// The new reference.
        target: String,
    },
    /// `remove_image(image)`.
    RemoveImage {
        /// Reference or id.
        image: String,
    },
    /// `image_exists(image)`.
    ImageExists {
        /// Image reference.
        image: String,
    },
    /// `create(spec)`.
    Create {
        /// The whole spec, as given.
        spec: Box<ContainerSpec>,
    },
    /// `start(id)`.
    Start {
        /// Container id (or name).
        id: String,
    },
    /// `stop(id, timeout)`.
    Stop {
        /// Container id (or name).
        id: String,
        /// Grace period before SIGKILL.
        timeout: Duration,
    },
    /// `remove(id)`.
    Remove {
        /// Container id (or name).
        id: String,
    },
    /// `inspect(id_or_name)`.
    Inspect {
        /// Container id or name.
        id_or_name: String,
    },
    /// `list_managed()`.
    ListManaged,
    /// `create_volume(spec)`.
    CreateVolume {
        /// The volume as asked for.
        spec: VolumeSpec,
    },
    /// `remove_volume(name)`.
    RemoveVolume {
        /// Volume name.
        name: String,
    },
}

impl Call {
    /// Whether this call changes something (pull, create, start, stop, remove): the intent a test
    /// usually asserts on.
    pub fn is_action(&self) -> bool {
        matches!(
            self,
            Call::Pull { .. }
                | Call::PullWithAuth { .. }
                | Call::TagImage { .. }
                | Call::RemoveImage { .. }
                | Call::Create { .. }
                | Call::Start { .. }
                | Call::Stop { .. }
                | Call::Remove { .. }
                | Call::CreateVolume { .. }
                | Call::RemoveVolume { .. }
        )
    }
}

/// The version the fake reports.
pub const FAKE_DOCKER_VERSION: &str = "20.10.24-fake";
/// The API version the fake reports.
pub const FAKE_API_VERSION: &str = "1.41";

/// Exit code of a container stopped with [`ContainerRuntime::stop`] unless
/// [`FakeRuntime::set_stop_exit_code`] says otherwise: 143, a process that died of the SIGTERM.
pub const DEFAULT_STOP_EXIT_CODE: i64 = 143;

/// The recording fake; see the module docs.
#[derive(Debug, Clone)]
pub struct FakeRuntime {
    // A test fake shared between the test body and the code under test (often on another task):
    // a std Mutex around a small table is the simplest correct thing. It is never held across an
    // await (no method awaits while holding it).
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<RuntimeEvent>,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    /// Docker stats samples per container id, for `stats_stream`.
    stats: HashMap<String, Vec<serde_json::Value>>,
    images: BTreeSet<String>,
    /// Creation time (epoch seconds) per image reference; absent: 0.
    image_created: HashMap<String, i64>,
    /// Image references Docker refuses to remove (in use by a container it knows).
    remove_failures: HashMap<String, String>,
    pull_failures: HashMap<String, String>,
    /// Image references whose manifest fetch fails with Docker's words.
    manifest_failures: HashMap<String, String>,
    /// Image references whose manifest fetch never answers.
    manifest_hangs: BTreeSet<String>,
    /// Media type of a reference's manifest; absent: an OCI index.
    manifest_media_types: HashMap<String, String>,
    create_failures: HashMap<String, String>,
    start_failures: HashMap<String, String>,
    digests: HashMap<String, String>,
    containers: BTreeMap<String, FakeContainer>,
    next_id: u64,
    stop_exit_code: Option<i64>,
    volumes: BTreeMap<String, VolumeInfo>,
    /// Stopped containers the agent did not create (untracked cleanup).
    unmanaged: Vec<super::UnmanagedContainer>,
}

#[derive(Debug, Clone)]
struct FakeContainer {
    spec: ContainerSpec,
    info: ContainerInfo,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeRuntime {
    /// An empty Docker: no images, no containers.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            state: Arc::new(Mutex::new(State::default())),
            events,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a failed test already; carry on with the data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The samples `stats_stream(id)` gives, after which the stream stays open (as Docker's for
    /// a running container); or that `stats(id)` gives one a call, then `None`. Without samples
    /// the stream is one error and `stats` an error.
    pub fn set_stats(&self, id: &str, samples: Vec<serde_json::Value>) {
        self.state().stats.insert(id.to_owned(), samples);
    }

    fn emit(&self, event: RuntimeEvent) {
        // No subscriber is fine: nobody is watching yet.
        let _ = self.events.send(event);
    }

    // ---- what happened ----

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls that change something (see [`Call::is_action`]), in order.
    pub fn actions(&self) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|call| call.is_action())
            .cloned()
            .collect()
    }

    /// The specs of every `create` call, in order (failed ones included).
    pub fn created_specs(&self) -> Vec<ContainerSpec> {
        self.state()
            .calls
            .iter()
            .filter_map(|call| match call {
                Call::Create { spec } => Some((**spec).clone()),
                _ => None,
            })
            .collect()
    }

    /// Forgets the recorded calls (state stays).
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// The id of the container created from a spec whose Docker name is `name_or_container`, or
    /// whose `com.amazonaws.ecs.container-name` label is (the first such, if several).
    pub fn id_of(&self, name_or_container: &str) -> Option<String> {
        self.state()
            .containers
            .iter()
            .find(|(_, c)| matches_key(&c.spec, name_or_container))
            .map(|(id, _)| id.clone())
    }

    /// What `inspect` would say, without recording a call.
    pub fn container(&self, id: &str) -> Option<ContainerInfo> {
        let state = self.state();
        lookup(&state, id).map(|id| state.containers[&id].info.clone())
    }

    // ---- knobs ----

    /// Makes `image` present, as if pulled earlier.
    pub fn add_image(&self, image: &str) {
        self.state().images.insert(image.to_owned());
    }

    /// A stopped container the agent did not create, stopped at `finished_at` (epoch seconds).
    pub fn add_unmanaged(&self, id: &str, finished_at: i64) {
        self.state().unmanaged.push(super::UnmanagedContainer {
            id: id.to_owned(),
            finished_at,
        });
    }

    /// The stopped containers not created by the agent that are still there.
    pub fn unmanaged(&self) -> Vec<String> {
        self.state()
            .unmanaged
            .iter()
            .map(|c| c.id.clone())
            .collect()
    }

    /// Makes `image` present with a creation time (epoch seconds), as if built or pulled outside
    /// the agent.
    pub fn add_image_created(&self, image: &str, created: i64) {
        let mut state = self.state();
        state.images.insert(image.to_owned());
        state.image_created.insert(image.to_owned(), created);
    }

    /// Whether `image` is present.
    pub fn has_image(&self, image: &str) -> bool {
        self.state().images.contains(image)
    }

    /// Makes `remove_image(image)` fail with `message`.
    pub fn fail_remove_image(&self, image: &str, message: &str) {
        self.state()
            .remove_failures
            .insert(image.to_owned(), message.to_owned());
    }

    /// Makes pulls of `image` fail with `message` (Docker's words).
    pub fn fail_pull(&self, image: &str, message: &str) {
        self.state()
            .pull_failures
            .insert(image.to_owned(), message.to_owned());
    }

    /// Makes manifest fetches of `image` fail with `message` (Docker's words).
    pub fn fail_manifest(&self, image: &str, message: &str) {
        self.state()
            .manifest_failures
            .insert(image.to_owned(), message.to_owned());
    }

    /// Makes manifest fetches of `image` never answer (a registry that accepts and is silent).
    pub fn hang_manifest(&self, image: &str) {
        self.state().manifest_hangs.insert(image.to_owned());
    }

    /// The media type the registry gives for `image`'s manifest (default: an OCI index).
    pub fn set_manifest_media_type(&self, image: &str, media_type: &str) {
        self.state()
            .manifest_media_types
            .insert(image.to_owned(), media_type.to_owned());
    }

    /// The repo digest a successful pull of `image` returns (default: derived from the name), and
    /// the digest its manifest resolves to.
    pub fn set_digest(&self, image: &str, digest: &str) {
        self.state()
            .digests
            .insert(image.to_owned(), digest.to_owned());
    }

    /// Makes `create` fail with `message` for specs whose Docker name or container-name label is
    /// `name_or_container`.
    pub fn fail_create(&self, name_or_container: &str, message: &str) {
        self.state()
            .create_failures
            .insert(name_or_container.to_owned(), message.to_owned());
    }

    /// Makes `start` fail with `message` for containers whose Docker name or container-name label
    /// is `name_or_container`; the container stays `created` with `error` set, as in Docker.
    pub fn fail_start(&self, name_or_container: &str, message: &str) {
        self.state()
            .start_failures
            .insert(name_or_container.to_owned(), message.to_owned());
    }

    /// The exit code `stop` gives running containers (default [`DEFAULT_STOP_EXIT_CODE`]).
    pub fn set_stop_exit_code(&self, code: i64) {
        self.state().stop_exit_code = Some(code);
    }

    /// The container's main process exits with `code`: it becomes `exited` and a `Died` event
    /// goes out. Returns `false` if there is no such running container.
    pub fn exit(&self, id: &str, code: i64) -> bool {
        let id = {
            let mut state = self.state();
            let Some(id) = lookup(&state, id) else {
                return false;
            };
            let Some(container) = state.containers.get_mut(&id) else {
                return false;
            };
            if !container.info.running() {
                return false;
            }
            container.info.status = "exited".into();
            container.info.exit_code = Some(code);
            container.info.health = None;
            id
        };
        self.emit(RuntimeEvent::Died {
            id,
            exit_code: Some(code),
        });
        true
    }

    /// The OOM killer kills the container: `oom_killed` is set, it exits with 137, and `Oom` then
    /// `Died` go out, in Docker's order. Returns `false` if there is no such running container.
    pub fn oom(&self, id: &str) -> bool {
        let full_id = {
            let mut state = self.state();
            let Some(full_id) = lookup(&state, id) else {
                return false;
            };
            match state.containers.get_mut(&full_id) {
                Some(c) if c.info.running() => c.info.oom_killed = true,
                _ => return false,
            }
            full_id
        };
        self.emit(RuntimeEvent::Oom {
            id: full_id.clone(),
        });
        self.exit(&full_id, 137)
    }

    /// The container's health check reports `health`; a `Health` event goes out. Returns `false`
    /// if there is no such container.
    pub fn set_health(&self, id: &str, health: Health) -> bool {
        let id = {
            let mut state = self.state();
            let Some(id) = lookup(&state, id) else {
                return false;
            };
            if let Some(c) = state.containers.get_mut(&id) {
                c.info.health = Some(health);
            }
            id
        };
        self.emit(RuntimeEvent::Health { id, health });
        true
    }

    // ---- the runtime calls, synchronous ----

    /// The volumes that exist.
    pub fn volumes(&self) -> Vec<VolumeInfo> {
        self.state().volumes.values().cloned().collect()
    }

    /// Adds a volume as if someone had created it outside the agent.
    pub fn add_volume(&self, info: VolumeInfo) {
        self.state().volumes.insert(info.name.clone(), info);
    }

    fn record(&self, call: Call) {
        self.state().calls.push(call);
    }

    fn do_pull(
        &self,
        image: &str,
        auth: Option<&super::RegistryAuth>,
    ) -> Result<Option<String>, RuntimeError> {
        let mut state = self.state();
        state.calls.push(match auth {
            None => Call::Pull {
                image: image.to_owned(),
            },
            Some(a) => Call::PullWithAuth {
                image: image.to_owned(),
                username: a.username.clone(),
                server_address: a.server_address.clone(),
            },
        });
        // A failure set for `repo:tag` also fails the pull of `repo@sha256:...` (the agent pulls
        // by the digest the manifest resolved).
        let failure = state.pull_failures.get(image).or_else(|| {
            image.contains('@').then_some(()).and_then(|()| {
                let (repo, _) = super::docker::split_image_reference(image);
                state
                    .pull_failures
                    .iter()
                    .find(|(k, _)| super::docker::split_image_reference(k).0 == repo)
                    .map(|(_, m)| m)
            })
        });
        if let Some(message) = failure {
            return Err(RuntimeError::Docker(message.clone()));
        }
        state.images.insert(image.to_owned());
        let digest = state
            .digests
            .get(image)
            .cloned()
            .unwrap_or_else(|| fake_digest(image));
        Ok(Some(digest))
    }

    fn do_create(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let mut state = self.state();
        state.calls.push(Call::Create {
            spec: Box::new(spec.clone()),
        });
        if let Some(message) = failure_for(&state.create_failures, spec) {
            return Err(RuntimeError::Docker(message));
        }
        if !state.images.contains(&spec.image) {
            return Err(RuntimeError::NotFound(format!(
                "No such image: {}",
                spec.image
            )));
        }
        if state.containers.values().any(|c| c.spec.name == spec.name) {
            return Err(RuntimeError::Docker(format!(
                "Conflict. The container name \"/{}\" is already in use",
                spec.name
            )));
        }
        state.next_id += 1;
        let id = format!("{:064x}", state.next_id);
        let info = ContainerInfo {
            id: id.clone(),
            name: spec.name.clone(),
            image: spec.image.clone(),
            image_id: fake_digest(&spec.image),
            status: "created".into(),
            labels: spec.labels.clone(),
            ..ContainerInfo::default()
        };
        state.containers.insert(
            id.clone(),
            FakeContainer {
                spec: spec.clone(),
                info,
            },
        );
        Ok(id)
    }

    fn do_start(&self, id: &str) -> Result<(), RuntimeError> {
        let full_id = {
            let mut state = self.state();
            state.calls.push(Call::Start { id: id.to_owned() });
            let full_id = lookup(&state, id)
                .ok_or_else(|| RuntimeError::NotFound(format!("No such container: {id}")))?;
            let failure = failure_for(&state.start_failures, &state.containers[&full_id].spec);
            let Some(container) = state.containers.get_mut(&full_id) else {
                return Err(RuntimeError::NotFound(format!("No such container: {id}")));
            };
            if let Some(message) = failure {
                container.info.error = Some(message.clone());
                return Err(RuntimeError::Docker(message));
            }
            if container.info.running() {
                // Docker answers 304: already started.
                return Ok(());
            }
            container.info.status = "running".into();
            container.info.exit_code = None;
            container.info.oom_killed = false;
            container.info.error = None;
            // Docker shows published ports only once the container runs, one entry per address
            // bound: a port published on no address in particular is bound on 0.0.0.0 and, as on
            // a host with IPv6, on ::.
            if container.spec.network_mode == "bridge" {
                container.info.ports = published(&container.spec.ports);
            }
            full_id
        };
        self.emit(RuntimeEvent::Started { id: full_id });
        Ok(())
    }

    fn do_stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let (full_id, code) = {
            let mut state = self.state();
            state.calls.push(Call::Stop {
                id: id.to_owned(),
                timeout,
            });
            let code = state.stop_exit_code.unwrap_or(DEFAULT_STOP_EXIT_CODE);
            let full_id = lookup(&state, id)
                .ok_or_else(|| RuntimeError::NotFound(format!("No such container: {id}")))?;
            if !state.containers[&full_id].info.running() {
                return Ok(());
            }
            (full_id, code)
        };
        self.exit(&full_id, code);
        Ok(())
    }

    fn do_remove(&self, id: &str) -> Result<(), RuntimeError> {
        let removed = {
            let mut state = self.state();
            state.calls.push(Call::Remove { id: id.to_owned() });
            state.unmanaged.retain(|c| c.id != id);
            match lookup(&state, id) {
                Some(full_id) => state.containers.remove(&full_id).map(|_| full_id),
                None => None,
            }
        };
        if let Some(id) = removed {
            self.emit(RuntimeEvent::Destroyed { id });
        }
        Ok(())
    }

    fn do_inspect(&self, id_or_name: &str) -> Option<ContainerInfo> {
        self.record(Call::Inspect {
            id_or_name: id_or_name.to_owned(),
        });
        self.container(id_or_name)
    }

    fn do_list_managed(&self) -> Vec<ContainerInfo> {
        self.record(Call::ListManaged);
        self.state()
            .containers
            .values()
            .filter(|c| c.info.labels.contains_key(LABEL_TASK_ARN))
            .map(|c| c.info.clone())
            .collect()
    }
}

/// Full id, unique id prefix (as Docker accepts), or name (with or without the leading `/`).
fn lookup(state: &State, id_or_name: &str) -> Option<String> {
    if state.containers.contains_key(id_or_name) {
        return Some(id_or_name.to_owned());
    }
    let name = id_or_name.trim_start_matches('/');
    if let Some((id, _)) = state.containers.iter().find(|(_, c)| c.spec.name == name) {
        return Some(id.clone());
    }
    let mut prefixed = state
        .containers
        .keys()
        .filter(|id| !id_or_name.is_empty() && id.starts_with(id_or_name));
    match (prefixed.next(), prefixed.next()) {
        (Some(id), None) => Some(id.clone()),
        _ => None,
    }
}

fn matches_key(spec: &ContainerSpec, key: &str) -> bool {
    spec.name == key
        || spec
            .labels
            .get(LABEL_CONTAINER_NAME)
            .is_some_and(|n| n == key)
}

fn failure_for(failures: &HashMap<String, String>, spec: &ContainerSpec) -> Option<String> {
    failures
        .iter()
        .find(|(key, _)| matches_key(spec, key))
        .map(|(_, message)| message.clone())
}

/// What Docker on a host with IPv6 reports for `ports`: those published on every address once
/// on `0.0.0.0` and once on `::`.
fn published(ports: &[PortSpec]) -> Vec<PortSpec> {
    ports
        .iter()
        .flat_map(|p| match p.host_ip {
            Some(_) => vec![p.clone()],
            None => [
                std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            ]
            .into_iter()
            .map(|ip| PortSpec {
                host_ip: Some(ip),
                ..p.clone()
            })
            .collect(),
        })
        .collect()
}

/// A stable made-up image id for the reference `image` (one image per reference).
pub fn fake_image_id(image: &str) -> String {
    fake_digest(&format!("id:{image}"))
}

fn fake_image_info(state: &State, image: &str) -> super::ImageInfo {
    super::ImageInfo {
        id: fake_image_id(image),
        repo_tags: vec![image.to_owned()],
        repo_digests: Vec::new(),
        size: 1000,
        created: state.image_created.get(image).copied().unwrap_or(0),
    }
}

/// A stable made-up digest for `image`.
fn fake_digest(image: &str) -> String {
    let mut hasher = DefaultHasher::new();
    image.hash(&mut hasher);
    format!("sha256:{:064x}", hasher.finish())
}

impl ContainerRuntime for FakeRuntime {
    fn version(&self) -> BoxFuture<'_, Result<RuntimeVersion, RuntimeError>> {
        self.record(Call::Version);
        Box::pin(async {
            Ok(RuntimeVersion {
                version: FAKE_DOCKER_VERSION.into(),
                api_version: FAKE_API_VERSION.into(),
            })
        })
    }

    fn pull<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a super::RegistryAuth>,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>> {
        Box::pin(async move { self.do_pull(image, auth) })
    }

    fn manifest<'a>(
        &'a self,
        image: &'a str,
        _auth: Option<&'a super::RegistryAuth>,
    ) -> BoxFuture<'a, Result<Option<super::ManifestDescriptor>, RuntimeError>> {
        let answer = {
            let mut state = self.state();
            state.calls.push(Call::Manifest {
                image: image.to_owned(),
            });
            if state.manifest_hangs.contains(image) {
                None
            } else if let Some(message) = state.manifest_failures.get(image) {
                Some(Err(RuntimeError::Docker(message.clone())))
            } else {
                Some(Ok(Some(super::ManifestDescriptor {
                    digest: state
                        .digests
                        .get(image)
                        .cloned()
                        .unwrap_or_else(|| fake_digest(image)),
                    media_type: state
                        .manifest_media_types
                        .get(image)
                        .cloned()
                        .unwrap_or_else(|| "application/vnd.oci.image.index.v1+json".to_owned()),
                })))
            }
        };
        Box::pin(async move {
            match answer {
                Some(answer) => answer,
                None => std::future::pending().await,
            }
        })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        let result = {
            let mut state = self.state();
            state.calls.push(Call::TagImage {
                source: source.to_owned(),
                target: target.to_owned(),
            });
            if state.images.contains(source) {
                state.images.insert(target.to_owned());
                Ok(())
            } else {
                Err(RuntimeError::NotFound(format!("No such image: {source}")))
            }
        };
        Box::pin(async move { result })
    }

    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
    ) -> BoxFuture<'a, Result<Option<super::ImageInfo>, RuntimeError>> {
        Box::pin(async move {
            let state = self.state();
            Ok(state
                .images
                .iter()
                .find(|r| r.as_str() == image || fake_image_id(r) == image)
                .map(|r| fake_image_info(&state, r)))
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<super::ImageInfo>, RuntimeError>> {
        Box::pin(async move {
            let state = self.state();
            Ok(state
                .images
                .iter()
                .map(|r| fake_image_info(&state, r))
                .collect())
        })
    }

    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let mut state = self.state();
            state.calls.push(Call::RemoveImage {
                image: image.to_owned(),
            });
            if let Some(message) = state.remove_failures.get(image) {
                return Err(RuntimeError::Docker(message.clone()));
            }
            let found = state
                .images
                .iter()
                .find(|r| r.as_str() == image || fake_image_id(r) == image)
                .cloned();
            match found {
                Some(r) => {
                    state.images.remove(&r);
                    Ok(())
                }
                None => Err(RuntimeError::NotFound(format!("No such image: {image}"))),
            }
        })
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>> {
        Box::pin(async move {
            let mut state = self.state();
            state.calls.push(Call::ImageExists {
                image: image.to_owned(),
            });
            Ok(state.images.contains(image))
        })
    }

    fn create<'a>(
        &'a self,
        spec: &'a ContainerSpec,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(async move { self.do_create(spec) })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { self.do_start(id) })
    }

    fn stop<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { self.do_stop(id, timeout) })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { self.do_remove(id) })
    }

    fn inspect<'a>(
        &'a self,
        id_or_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerInfo>, RuntimeError>> {
        Box::pin(async move { Ok(self.do_inspect(id_or_name)) })
    }

    fn list_managed(&self) -> BoxFuture<'_, Result<Vec<ContainerInfo>, RuntimeError>> {
        Box::pin(async move { Ok(self.do_list_managed()) })
    }

    fn list_stopped_unmanaged(
        &self,
    ) -> BoxFuture<'_, Result<Vec<super::UnmanagedContainer>, RuntimeError>> {
        Box::pin(async move { Ok(self.state().unmanaged.clone()) })
    }

    fn create_volume<'a>(
        &'a self,
        spec: &'a VolumeSpec,
    ) -> BoxFuture<'a, Result<VolumeInfo, RuntimeError>> {
        Box::pin(async move {
            let mut state = self.state();
            state.calls.push(Call::CreateVolume { spec: spec.clone() });
            let info = state
                .volumes
                .entry(spec.name.clone())
                .or_insert_with(|| VolumeInfo {
                    name: spec.name.clone(),
                    driver: if spec.driver.is_empty() {
                        "local".into()
                    } else {
                        spec.driver.clone()
                    },
                    driver_opts: spec.driver_opts.clone(),
                    labels: spec.labels.clone(),
                    mountpoint: format!("/var/lib/docker/volumes/{}/_data", spec.name),
                })
                .clone();
            Ok(info)
        })
    }

    fn inspect_volume<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<VolumeInfo>, RuntimeError>> {
        Box::pin(async move { Ok(self.state().volumes.get(name).cloned()) })
    }

    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let mut state = self.state();
            state.calls.push(Call::RemoveVolume {
                name: name.to_owned(),
            });
            state.volumes.remove(name);
            Ok(())
        })
    }

    /// The next of the samples set with [`FakeRuntime::set_stats`] (each taken once), then
    /// `None` (gone); a container without samples has no stats, as the trait's default says.
    fn stats<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, RuntimeError>> {
        Box::pin(async move {
            match self.state().stats.get_mut(id) {
                Some(samples) if samples.is_empty() => Ok(None),
                Some(samples) => Ok(Some(samples.remove(0))),
                None => Err(RuntimeError::Docker(format!(
                    "stats of {id} are not available from this runtime"
                ))),
            }
        })
    }

    fn stats_stream(&self, id: &str) -> StatsStream {
        use futures_util::StreamExt as _;
        match self.state().stats.get(id).cloned() {
            Some(samples) => Box::pin(
                futures_util::stream::iter(samples.into_iter().map(Ok))
                    .chain(futures_util::stream::pending()),
            ),
            None => {
                let error = RuntimeError::NotFound(format!("no such container: {id}"));
                Box::pin(futures_util::stream::once(async move { Err(error) }))
            }
        }
    }

    /// Events from now on. A subscriber that falls more than 1024 events behind gets one
    /// `RuntimeError::Docker` saying how many it missed, then carries on.
    fn events(&self) -> EventStream {
        let receiver = self.events.subscribe();
        Box::pin(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move {
                match receiver.recv().await {
                    Ok(event) => Some((Ok(event), receiver)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => Some((
                        Err(RuntimeError::Docker(format!("missed {missed} events"))),
                        receiver,
                    )),
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures_util::StreamExt;

    use super::*;
    use crate::runtime::Protocol;

    const IMAGE: &str = "127.0.0.1:5000/web:1";

    fn spec(name: &str, container: &str) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: IMAGE.into(),
            env: vec!["A=1".into()],
            labels: BTreeMap::from([
                (LABEL_TASK_ARN.to_owned(), "arn:task".to_owned()),
                (LABEL_CONTAINER_NAME.to_owned(), container.to_owned()),
            ]),
            ports: vec![PortSpec {
                container_port: 80,
                host_port: 49153,
                protocol: Protocol::Tcp,
                host_ip: None,
            }],
            network_mode: "bridge".into(),
            cpu_shares: 2,
            ..ContainerSpec::default()
        }
    }

    #[tokio::test]
    async fn records_intent_and_walks_the_lifecycle() {
        let fake = FakeRuntime::new();
        let mut events = fake.events();
        let spec = spec("ecs-web-1-web-00", "web");

        assert!(matches!(
            fake.create(&spec).await,
            Err(RuntimeError::NotFound(_))
        ));
        assert_eq!(
            fake.pull(IMAGE, None).await.unwrap(),
            Some(fake_digest(IMAGE))
        );
        assert!(fake.image_exists(IMAGE).await.unwrap());
        let id = fake.create(&spec).await.unwrap();
        assert_eq!(fake.id_of("web"), Some(id.clone()));
        let info = fake.inspect(&id).await.unwrap().unwrap();
        assert_eq!(info.status, "created");
        assert!(info.ports.is_empty());

        fake.start(&id).await.unwrap();
        let info = fake.inspect("ecs-web-1-web-00").await.unwrap().unwrap();
        assert!(info.running());
        let bound: Vec<(u16, Option<std::net::IpAddr>)> = info
            .ports
            .iter()
            .map(|p| (p.host_port, p.host_ip))
            .collect();
        assert_eq!(
            bound,
            [
                (49153, Some("0.0.0.0".parse().unwrap())),
                (49153, Some("::".parse().unwrap()))
            ]
        );

        fake.stop(&id, Duration::from_secs(30)).await.unwrap();
        let info = fake.container(&id).unwrap();
        assert_eq!(
            (info.status.as_str(), info.exit_code),
            ("exited", Some(DEFAULT_STOP_EXIT_CODE))
        );
        fake.remove(&id).await.unwrap();
        fake.remove(&id).await.unwrap();
        assert_eq!(fake.inspect(&id).await.unwrap(), None);

        assert_eq!(
            fake.actions(),
            [
                Call::Create {
                    spec: Box::new(spec.clone())
                },
                Call::Pull {
                    image: IMAGE.into()
                },
                Call::Create {
                    spec: Box::new(spec.clone())
                },
                Call::Start { id: id.clone() },
                Call::Stop {
                    id: id.clone(),
                    timeout: Duration::from_secs(30)
                },
                Call::Remove { id: id.clone() },
                Call::Remove { id: id.clone() },
            ]
        );
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(events.next().await.unwrap().unwrap());
        }
        assert_eq!(
            seen,
            [
                RuntimeEvent::Started { id: id.clone() },
                RuntimeEvent::Died {
                    id: id.clone(),
                    exit_code: Some(DEFAULT_STOP_EXIT_CODE)
                },
                RuntimeEvent::Destroyed { id },
            ]
        );
    }

    #[tokio::test]
    async fn injected_failures() {
        let fake = FakeRuntime::new();
        fake.fail_pull(IMAGE, "pull access denied");
        assert_eq!(
            fake.pull(IMAGE, None).await,
            Err(RuntimeError::Docker("pull access denied".into()))
        );
        fake.add_image(IMAGE);
        fake.fail_create("db", "no space left on device");
        assert_eq!(
            fake.create(&spec("ecs-web-1-db-00", "db")).await,
            Err(RuntimeError::Docker("no space left on device".into()))
        );
        fake.fail_start("web", "port is already allocated");
        let id = fake.create(&spec("ecs-web-1-web-00", "web")).await.unwrap();
        assert!(fake.start(&id).await.is_err());
        let info = fake.container(&id).unwrap();
        assert_eq!(info.status, "created");
        assert_eq!(info.error.as_deref(), Some("port is already allocated"));
        // Duplicate names conflict, as in Docker.
        assert!(fake.create(&spec("ecs-web-1-web-00", "web")).await.is_err());
    }

    #[tokio::test]
    async fn exit_oom_and_health_reach_every_subscriber() {
        let fake = FakeRuntime::new();
        fake.add_image(IMAGE);
        let a = fake.create(&spec("a", "a")).await.unwrap();
        let b = fake.create(&spec("b", "b")).await.unwrap();
        fake.start(&a).await.unwrap();
        fake.start(&b).await.unwrap();
        let mut first = fake.events();
        let mut second = fake.events();

        assert!(fake.set_health(&a, Health::Healthy));
        assert!(fake.exit(&a, 3));
        assert!(!fake.exit(&a, 4), "already exited");
        assert!(fake.oom(&b));
        assert!(!fake.oom("nope"));

        let expected = [
            RuntimeEvent::Health {
                id: a.clone(),
                health: Health::Healthy,
            },
            RuntimeEvent::Died {
                id: a.clone(),
                exit_code: Some(3),
            },
            RuntimeEvent::Oom { id: b.clone() },
            RuntimeEvent::Died {
                id: b.clone(),
                exit_code: Some(137),
            },
        ];
        for stream in [&mut first, &mut second] {
            for event in &expected {
                assert_eq!(&stream.next().await.unwrap().unwrap(), event);
            }
        }
        let b_info = fake.container(&b).unwrap();
        assert!(b_info.oom_killed);
        assert_eq!(b_info.exit_code, Some(137));
        assert_eq!(fake.list_managed().await.unwrap().len(), 2);
    }
}
