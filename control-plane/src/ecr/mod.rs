//! The emulated ECR API (AWS JSON 1.1, `AmazonEC2ContainerRegistry_V20150921.<Op>`) over a real
//! registry process ([`registry`]).
//!
//! Repositories are the ones created with CreateRepository, kept in `repositories.json` in the
//! registry's directory (written to a temporary file and renamed). Images are read from the
//! registry's own storage (Distribution's filesystem layout: `_manifests/tags/<tag>/current/link`,
//! `_manifests/revisions/sha256/<hex>/link`, `blobs/sha256/<aa>/<hex>/data`), so what `docker push`
//! stored is what DescribeImages shows, with no registry credentials needed by the emulator.
//!
//! Repository URIs use the registry's `127.0.0.1:PORT` where ECR has
//! `<account>.dkr.ecr.<region>.amazonaws.com`.
//!
//! What it must not do: log a token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{Value, json};

use futures_util::future::BoxFuture;

use crate::front::{ApiError, ErrorCode, Input, Output, RequestContext, Service, ServiceInfo};
pub mod registry;

use registry::{ECR_USER, Registry, RegistryError, RegistryOptions};

/// The `X-Amz-Target` prefix of ECR.
pub const ECR_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";

/// How to run the emulated ECR (`--ecr`).
#[derive(Debug, Clone)]
pub struct EcrOptions {
    /// The `docker-registry` binary.
    pub registry_bin: PathBuf,
    /// The registry's directory; `None`: `<data dir>/ecr-registry`, or a temporary directory
    /// removed on shutdown when there is no data dir.
    pub registry_dir: Option<PathBuf>,
    /// Port of the registry on 127.0.0.1 (0: a free one).
    pub registry_port: u16,
    /// Lifetime of GetAuthorizationToken tokens (ECR: 12 h).
    pub token_lifetime: Duration,
}

impl Default for EcrOptions {
    fn default() -> Self {
        EcrOptions {
            registry_bin: "docker-registry".into(),
            registry_dir: None,
            registry_port: 0,
            token_lifetime: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// The running emulated ECR: the API, what payloads need, and its registry's expiry timer.
#[derive(Debug)]
pub struct Started {
    /// The API.
    pub api: Arc<Ecr>,
    /// Host and endpoint for `registryAuthentication`.
    pub reference: EcrRef,
    registry: Arc<Registry>,
    timer: tokio::task::JoinHandle<()>,
    stop: tokio_util::sync::CancellationToken,
    temp_dir: Option<PathBuf>,
}

/// Starts the registry for `options` (in `--ecr-registry-dir`, `<data dir>/ecr-registry`, or a
/// temporary directory) and the ECR API over it. `endpoint` is the emulator's own URL.
pub async fn start(
    options: &EcrOptions,
    config: &crate::Config,
    endpoint: String,
) -> Result<Started, RegistryError> {
    let mut temp_dir = None;
    let dir = match (&options.registry_dir, &config.data_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.join("ecr-registry"),
        (None, None) => {
            let d = std::env::temp_dir().join(format!(
                "ecs-control-plane-ecr-{}",
                uuid::Uuid::new_v4().simple()
            ));
            temp_dir = Some(d.clone());
            d
        }
    };
    let registry = Arc::new(
        Registry::start(&RegistryOptions {
            bin: options.registry_bin.clone(),
            dir,
            port: options.registry_port,
            token_lifetime: options.token_lifetime,
        })
        .await?,
    );
    let reference = EcrRef {
        host: registry.host().to_string(),
        endpoint,
        region: config.region.clone(),
        registry_id: config.account_id.clone(),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let timer = tokio::spawn(Arc::clone(&registry).run(stop.clone()));
    Ok(Started {
        api: Arc::new(Ecr::new(
            Arc::clone(&registry),
            &config.account_id,
            &config.region,
        )),
        reference,
        registry,
        timer,
        stop,
        temp_dir,
    })
}

impl Started {
    /// Stops the registry and removes a temporary directory.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.timer.await;
        self.registry.stop().await;
        if let Some(d) = self.temp_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// What the control plane needs to mark task containers whose image lives in this ECR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrRef {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The emulator's own endpoint (`endpointOverride`).
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Account (registry id).
    pub registry_id: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repo {
    name: String,
    created_at: f64,
    #[serde(default = "mutable")]
    image_tag_mutability: String,
}

fn mutable() -> String {
    "MUTABLE".into()
}

/// The emulated ECR.
#[derive(Debug)]
pub struct Ecr {
    registry: Arc<Registry>,
    account_id: String,
    region: String,
    /// Repositories by name. A lock, not an actor: every operation is a short synchronous step on
    /// local files, and the lock is held across no await.
    repos: std::sync::Mutex<BTreeMap<String, Repo>>,
}

/// ECR as the front calls it: the emulated ECR, or an answer saying it is off.
#[derive(Debug, Clone)]
pub struct EcrApi(pub Option<Arc<Ecr>>);

impl Service for EcrApi {
    fn info(&self) -> ServiceInfo {
        ServiceInfo::aws_json("ecr", "ecr", ECR_PREFIX, "message")
    }

    fn call(&self, _ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let (op, body) = input.into_json()?;
            match &self.0 {
                Some(ecr) => ecr.handle(&op, &body).await.map(Output::Json),
                None => Err(ApiError::new(
                    ErrorCode::UnknownOperationException,
                    "ECR is not enabled on this emulator (start it with --ecr).",
                )),
            }
        })
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

fn server(e: impl std::fmt::Display) -> ApiError {
    ApiError::server(e.to_string())
}

/// ECR's rule for repository names.
pub fn valid_repository_name(name: &str) -> bool {
    if name.len() < 2 || name.len() > 256 {
        return false;
    }
    name.split('/').all(|part| {
        !part.is_empty()
            && part.split(['.', '_', '-']).all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    })
}

/// One image (manifest) of a repository.
#[derive(Debug, Clone, PartialEq)]
struct Image {
    digest: String,
    tags: Vec<String>,
    size: u64,
    pushed_at: f64,
    media_type: Option<String>,
}

fn read_link(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

impl Ecr {
    /// The ECR over `registry`, with repositories restored from its directory.
    pub fn new(registry: Arc<Registry>, account_id: &str, region: &str) -> Self {
        let repos = std::fs::read(registry.dir().join("repositories.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<Repo>>(&b).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        Ecr {
            registry,
            account_id: account_id.into(),
            region: region.into(),
            repos: std::sync::Mutex::new(repos),
        }
    }

    /// The registry host (`127.0.0.1:PORT`).
    pub fn host(&self) -> &str {
        self.registry.host()
    }

    fn repos(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Repo>> {
        self.repos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn save(&self, repos: &BTreeMap<String, Repo>) -> Result<(), ApiError> {
        let list: Vec<&Repo> = repos.values().collect();
        let dir = self.registry.dir();
        let tmp = dir.join("repositories.json.tmp");
        let bytes = serde_json::to_vec_pretty(&list).map_err(server)?;
        std::fs::write(&tmp, bytes).map_err(server)?;
        std::fs::rename(&tmp, dir.join("repositories.json")).map_err(server)
    }

    fn repo_json(&self, r: &Repo) -> Value {
        json!({
            "repositoryArn": format!("arn:aws:ecr:{}:{}:repository/{}", self.region, self.account_id, r.name),
            "registryId": self.account_id,
            "repositoryName": r.name,
            "repositoryUri": format!("{}/{}", self.registry.host(), r.name),
            "createdAt": r.created_at,
            "imageTagMutability": r.image_tag_mutability,
            "imageScanningConfiguration": {"scanOnPush": false},
            "encryptionConfiguration": {"encryptionType": "AES256"},
        })
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::new(
            ErrorCode::RepositoryNotFoundException,
            format!(
                "The repository with name '{name}' does not exist in the registry with id '{}'",
                self.account_id
            ),
        )
    }

    fn repo_name(&self, req: &Value) -> Result<String, ApiError> {
        let name = req
            .get("repositoryName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::invalid("1 validation error detected: Value null at 'repositoryName' failed to satisfy constraint: Member must not be null")
            })?;
        if !self.repos().contains_key(name) {
            return Err(self.not_found(name));
        }
        Ok(name.to_string())
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.registry.repositories_dir().join(name)
    }

    /// Every image of a repository, from the registry's storage.
    fn images(&self, name: &str) -> Vec<Image> {
        let manifests = self.repo_dir(name).join("_manifests");
        let mut by_digest: BTreeMap<String, Image> = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(manifests.join("revisions/sha256")) {
            for e in entries.flatten() {
                let hex = e.file_name().to_string_lossy().to_string();
                let link = e.path().join("link");
                if !link.exists() {
                    continue;
                }
                let pushed_at = std::fs::metadata(&link)
                    .and_then(|m| m.modified())
                    .map(secs)
                    .unwrap_or(0.0);
                let (size, media_type) = self.manifest_size(&hex);
                by_digest.insert(
                    format!("sha256:{hex}"),
                    Image {
                        digest: format!("sha256:{hex}"),
                        tags: Vec::new(),
                        size,
                        pushed_at,
                        media_type,
                    },
                );
            }
        }
        if let Ok(entries) = std::fs::read_dir(manifests.join("tags")) {
            for e in entries.flatten() {
                let tag = e.file_name().to_string_lossy().to_string();
                if let Some(digest) = read_link(&e.path().join("current/link"))
                    && let Some(img) = by_digest.get_mut(&digest)
                {
                    img.tags.push(tag);
                }
            }
        }
        let mut images: Vec<Image> = by_digest.into_values().collect();
        for i in &mut images {
            i.tags.sort();
        }
        images
    }

    /// Sum of the layer sizes of a manifest (ECR's imageSizeInBytes), and its media type.
    fn manifest_size(&self, hex: &str) -> (u64, Option<String>) {
        let Some(prefix) = hex.get(..2) else {
            return (0, None);
        };
        let path = self
            .registry
            .blobs_dir()
            .join("sha256")
            .join(prefix)
            .join(hex)
            .join("data");
        let Some(m) = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            return (0, None);
        };
        let size = m
            .get("layers")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| l.get("size").and_then(Value::as_u64))
                    .sum()
            })
            .unwrap_or(0);
        (
            size,
            m.get("mediaType").and_then(Value::as_str).map(String::from),
        )
    }

    fn select<'a>(&self, images: &'a [Image], id: &Value) -> Option<&'a Image> {
        let digest = id.get("imageDigest").and_then(Value::as_str);
        let tag = id.get("imageTag").and_then(Value::as_str);
        images.iter().find(|i| {
            digest.is_none_or(|d| i.digest == d)
                && tag.is_none_or(|t| i.tags.iter().any(|x| x == t))
        })
    }

    /// Serves one ECR operation.
    pub async fn handle(&self, op: &str, body: &[u8]) -> Result<Value, ApiError> {
        let req: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    ErrorCode::SerializationException,
                    format!("malformed JSON: {e}"),
                )
            })?
        };
        match op {
            "GetAuthorizationToken" => {
                let token = self
                    .registry
                    .token(SystemTime::now())
                    .await
                    .map_err(server)?;
                let auth = base64::engine::general_purpose::STANDARD
                    .encode(format!("{ECR_USER}:{}", token.password));
                Ok(json!({"authorizationData": [{
                    "authorizationToken": auth,
                    "expiresAt": secs(token.expires_at),
                    "proxyEndpoint": format!("http://{}", self.registry.host()),
                }]}))
            }
            "CreateRepository" => {
                let name = req
                    .get("repositoryName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if !valid_repository_name(&name) {
                    return Err(ApiError::invalid(
                        "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''",
                    ));
                }
                let mut repos = self.repos();
                if repos.contains_key(&name) {
                    return Err(ApiError::new(
                        ErrorCode::RepositoryAlreadyExistsException,
                        format!(
                            "The repository with name '{name}' already exists in the registry with id '{}'",
                            self.account_id
                        ),
                    ));
                }
                let repo = Repo {
                    name: name.clone(),
                    created_at: secs(SystemTime::now()),
                    image_tag_mutability: req
                        .get("imageTagMutability")
                        .and_then(Value::as_str)
                        .unwrap_or("MUTABLE")
                        .to_string(),
                };
                repos.insert(name, repo.clone());
                self.save(&repos)?;
                Ok(json!({"repository": self.repo_json(&repo)}))
            }
            "DescribeRepositories" => {
                let repos = self.repos();
                let list: Vec<Value> = match req.get("repositoryNames").and_then(Value::as_array) {
                    Some(names) => {
                        let mut out = Vec::new();
                        for n in names.iter().filter_map(Value::as_str) {
                            let r = repos.get(n).ok_or_else(|| self.not_found(n))?;
                            out.push(self.repo_json(r));
                        }
                        out
                    }
                    None => repos.values().map(|r| self.repo_json(r)).collect(),
                };
                Ok(json!({"repositories": list}))
            }
            "DeleteRepository" => {
                let name = self.repo_name(&req)?;
                let force = req.get("force").and_then(Value::as_bool).unwrap_or(false);
                if !force && !self.images(&name).is_empty() {
                    return Err(ApiError::new(
                        ErrorCode::RepositoryNotEmptyException,
                        format!(
                            "The repository with name '{name}' in registry with id '{}' cannot be deleted because it still contains images",
                            self.account_id
                        ),
                    ));
                }
                let mut repos = self.repos();
                let Some(repo) = repos.remove(&name) else {
                    return Err(self.not_found(&name));
                };
                self.save(&repos)?;
                let dir = self.repo_dir(&name);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(server)?;
                }
                Ok(json!({"repository": self.repo_json(&repo)}))
            }
            "ListImages" => {
                let name = self.repo_name(&req)?;
                let mut ids = Vec::new();
                for i in self.images(&name) {
                    if i.tags.is_empty() {
                        ids.push(json!({"imageDigest": i.digest}));
                    }
                    for t in &i.tags {
                        ids.push(json!({"imageDigest": i.digest, "imageTag": t}));
                    }
                }
                Ok(json!({"imageIds": ids}))
            }
            "DescribeImages" => {
                let name = self.repo_name(&req)?;
                let images = self.images(&name);
                let selected: Vec<&Image> = match req.get("imageIds").and_then(Value::as_array) {
                    Some(ids) => {
                        let mut out = Vec::new();
                        for id in ids {
                            let img = self.select(&images, id).ok_or_else(|| {
                                ApiError::new(
                                    ErrorCode::ImageNotFoundException,
                                    format!(
                                        "The image with imageId {} does not exist within the repository with name '{name}' in the registry with id '{}'",
                                        image_id_text(id),
                                        self.account_id
                                    ),
                                )
                            })?;
                            out.push(img);
                        }
                        out
                    }
                    None => images.iter().collect(),
                };
                let details: Vec<Value> = selected
                    .iter()
                    .map(|i| {
                        let mut d = json!({
                            "registryId": self.account_id,
                            "repositoryName": name,
                            "imageDigest": i.digest,
                            "imageSizeInBytes": i.size,
                            "imagePushedAt": i.pushed_at,
                        });
                        if !i.tags.is_empty() {
                            d["imageTags"] = json!(i.tags);
                        }
                        if let Some(m) = &i.media_type {
                            d["imageManifestMediaType"] = json!(m);
                        }
                        d
                    })
                    .collect();
                Ok(json!({"imageDetails": details}))
            }
            "BatchDeleteImage" => {
                let name = self.repo_name(&req)?;
                let ids = req
                    .get("imageIds")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let manifests = self.repo_dir(&name).join("_manifests");
                let mut deleted = Vec::new();
                let mut failures = Vec::new();
                for id in &ids {
                    let images = self.images(&name);
                    let Some(img) = self.select(&images, id) else {
                        failures.push(json!({
                            "imageId": id,
                            "failureCode": "ImageNotFound",
                            "failureReason": "Requested image not found",
                        }));
                        continue;
                    };
                    let by_tag = id.get("imageTag").and_then(Value::as_str);
                    let remove_tags: Vec<String> = match by_tag {
                        Some(t) if id.get("imageDigest").is_none() => vec![t.to_string()],
                        _ => img.tags.clone(),
                    };
                    for t in &remove_tags {
                        std::fs::remove_dir_all(manifests.join("tags").join(t)).map_err(server)?;
                        deleted.push(json!({"imageDigest": img.digest, "imageTag": t}));
                    }
                    // ECR deletes the image with its last tag.
                    if remove_tags.len() == img.tags.len() {
                        let hex = img.digest.trim_start_matches("sha256:");
                        std::fs::remove_dir_all(manifests.join("revisions/sha256").join(hex))
                            .map_err(server)?;
                        if remove_tags.is_empty() {
                            deleted.push(json!({"imageDigest": img.digest}));
                        }
                    }
                }
                Ok(json!({"imageIds": deleted, "failures": failures}))
            }
            other => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("The operation {other} is not supported by this emulator."),
            )),
        }
    }
}

fn image_id_text(id: &Value) -> String {
    format!(
        "'{{imageDigest:'{}', imageTag:'{}'}}'",
        id.get("imageDigest")
            .and_then(Value::as_str)
            .unwrap_or("null"),
        id.get("imageTag").and_then(Value::as_str).unwrap_or("null")
    )
}

/// Adds `registryAuthentication` of type ecr to every container of an ACS task JSON whose image is
/// in this ECR, as ACS does (`useExecutionRole` when the task has an execution role).
pub fn mark_registry_auth(task: &mut Value, ecr: &EcrRef, execution_role: bool) {
    let Some(containers) = task.get_mut("containers").and_then(Value::as_array_mut) else {
        return;
    };
    let prefix = format!("{}/", ecr.host);
    for c in containers {
        let in_ecr = c
            .get("image")
            .and_then(Value::as_str)
            .is_some_and(|i| i.starts_with(&prefix));
        if in_ecr {
            c["registryAuthentication"] = json!({
                "type": "ecr",
                "ecrAuthData": {
                    "registryId": ecr.registry_id,
                    "region": ecr.region,
                    "endpointOverride": ecr.endpoint,
                    "useExecutionRole": execution_role,
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_ecr() {
        for ok in ["ab", "team/app", "a-b.c_d/e1"] {
            assert!(valid_repository_name(ok), "{ok}");
        }
        for bad in ["a", "Upper", "a//b", "-a", "a-", "a b"] {
            assert!(!valid_repository_name(bad), "{bad}");
        }
    }

    #[test]
    fn only_images_in_this_ecr_are_marked() {
        let ecr = EcrRef {
            host: "127.0.0.1:5000".into(),
            endpoint: "http://127.0.0.1:4566".into(),
            region: "us-east-1".into(),
            registry_id: "123456789012".into(),
        };
        let mut task = json!({"containers": [
            {"name": "a", "image": "127.0.0.1:5000/app:1"},
            {"name": "b", "image": "127.0.0.1:5001/app:1"},
        ]});
        mark_registry_auth(&mut task, &ecr, true);
        let auth = &task["containers"][0]["registryAuthentication"];
        assert_eq!(auth["type"], "ecr");
        assert_eq!(
            auth["ecrAuthData"]["endpointOverride"],
            "http://127.0.0.1:4566"
        );
        assert_eq!(auth["ecrAuthData"]["useExecutionRole"], true);
        assert!(
            task["containers"][1]
                .get("registryAuthentication")
                .is_none()
        );
    }
}
