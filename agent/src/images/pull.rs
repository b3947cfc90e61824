//! Getting a container's image ready: the pull behaviour (`ECS_IMAGE_PULL_BEHAVIOR`), the
//! manifest fetch before the pull (`ECS_MANIFEST_PULL_TIMEOUT`), the reference's retries,
//! credentials, and the digest to report.
//!
//! - `default`: pull; if the pull fails, use the cached image if there is one.
//! - `always`: pull; a failed pull fails the container.
//! - `once`: pull only if the agent has not pulled this image successfully before (or it is gone).
//! - `prefer-cached`: pull only if there is no local image.
//!
//! Retries follow the reference (`agent/dockerclient/dockerapi/docker_client.go`):
//! [`RetryPolicy::IMAGE_PULL`], 5 attempts, 1.1 s growing ×2 up to 5 s, ±20 % jitter. A registry's refusal of the credentials is not
//! retried (the reference's CannotPullContainerAuthError). `ECS_IMAGE_PULL_TIMEOUT` bounds the whole
//! pull, retries included (and each attempt, in the runtime); `ECS_IMAGE_PULL_INACTIVITY_TIMEOUT`
//! bounds the silence inside one attempt's progress stream (the runtime's).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};

use ecs_config::ImagePullBehavior;
use ecs_protocol::acs::{Container, IamRoleCredentials};

use super::Images;
use crate::retry::{Attempt, GaveUp, RetryPolicy, retry};
use crate::runtime::{ContainerRuntime, RegistryAuth, RuntimeError};

/// Whether a pull error is the registry refusing the credentials (not worth retrying).
pub fn is_auth_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "denied",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// The repo digest (`sha256:...`) of `image` among `repo_digests` (`name@sha256:...`).
fn digest_of(image: &str, repo_digests: &[String]) -> Option<String> {
    let (name, _) = crate::runtime::docker::split_image_reference(image);
    repo_digests.iter().find_map(|d| {
        d.split_once('@')
            .filter(|(n, _)| *n == name)
            .map(|(_, d)| d.to_owned())
    })
}

async fn pull_with_retries<R: ContainerRuntime + ?Sized>(
    runtime: &R,
    policy: &RetryPolicy,
    image: &str,
    auth: Option<&RegistryAuth>,
) -> Result<Option<String>, RuntimeError> {
    retry(policy, |_| async {
        match runtime.pull(image, auth).await {
            Ok(digest) => Attempt::Done(digest),
            Err(e) if is_auth_error(&e.to_string()) => Attempt::Fail(e),
            Err(e) => Attempt::Retry(e),
        }
    })
    .await
    .map_err(GaveUp::into_last)
}

/// One pull's outcome: the digest, or what went wrong.
type PullOutcome = Result<Option<String>, String>;

/// Joins concurrent pulls of one image with the same credentials: a burst of tasks with one image
/// asks Docker for one pull instead of one each (20 pulls at once slow every create behind them).
/// A caller that asks while a pull is under way waits for it and takes its outcome; a caller that
/// asks after a pull finished pulls again, so every behaviour still contacts the registry when it
/// says it does.
#[derive(Debug, Default)]
pub struct PullGate {
    /// Lock: held only to find or add a slot, never across an await.
    slots: std::sync::Mutex<HashMap<[u8; 32], Slot>>,
}

/// One image's pulls: the lock is held while a pull runs, and keeps the last outcome.
type Slot = Arc<tokio::sync::Mutex<Option<Finished>>>;

#[derive(Debug)]
struct Finished {
    at: Instant,
    outcome: PullOutcome,
}

impl PullGate {
    /// The slot key: the image and a hash of the credentials (no secret kept in the map).
    fn key(image: &str, auth: Option<&RegistryAuth>) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(image.as_bytes());
        if let Some(a) = auth {
            for part in [&a.username, &a.password, &a.server_address] {
                h.update([0]);
                h.update(part.as_bytes());
            }
        }
        h.finalize().into()
    }

    /// Runs `pull`, or takes the outcome of the same pull that was under way when this was called.
    async fn pull(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        pull: impl Future<Output = PullOutcome>,
    ) -> PullOutcome {
        let asked = Instant::now();
        let key = Self::key(image, auth);
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(slots.entry(key).or_default())
        };
        let outcome = {
            let mut done = slot.lock().await;
            match done.as_ref().filter(|f| f.at >= asked) {
                Some(f) => {
                    tracing::debug!(image, "joined a pull under way");
                    f.outcome.clone()
                }
                None => {
                    let started = Instant::now();
                    let outcome = pull.await;
                    let metrics = &crate::agent_metrics::AGENT;
                    metrics
                        .image_pull_seconds
                        .observe(started.elapsed().as_secs_f64());
                    let label = crate::agent_metrics::OutcomeLabel {
                        outcome: if outcome.is_ok() {
                            "success"
                        } else {
                            "failure"
                        },
                    };
                    metrics.image_pulls.get_or_create(&label).inc();
                    *done = Some(Finished {
                        at: Instant::now(),
                        outcome: outcome.clone(),
                    });
                    outcome
                }
            }
        };
        // The last caller out removes the slot, so the map holds only images being pulled (ECR
        // tokens rotate, and every token would otherwise leave a key behind). Clones are made and
        // dropped only under the map's lock, so the count read here is exact.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        drop(slot);
        if slots.get(&key).is_some_and(|s| Arc::strong_count(s) == 1) {
            slots.remove(&key);
        }
        outcome
    }
}

/// Media types of Docker's manifest schema 1, for which the reference resolves no digest.
const SCHEMA1_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Why the manifest fetch before a pull failed (the reference's MANIFEST_PULLED transition).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// `ECS_MANIFEST_PULL_TIMEOUT` passed first (the reference's `DockerTimeoutError`, in its
    /// words).
    #[error("Could not transition to MANIFEST_PULLED; timed out after waiting {0:?}")]
    Timeout(std::time::Duration),
    /// Docker or the registry refused or failed, after the retries (the reference's
    /// `CannotPullImageManifestError`).
    #[error("{0}")]
    Failed(String),
}

/// Why an image could not be made ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    /// The container names no image.
    #[error("container {container} has no image")]
    NoImage {
        /// The container's name.
        container: String,
    },
    /// The manifest could not be fetched: with `always` or `once` at once, with the others when
    /// the pull that followed failed too (the reference keeps the first error).
    #[error(transparent)]
    Manifest(ManifestError),
    /// The credentials, the pull or its timeout failed, and no cached image could stand in
    /// (the engine reports it as `CannotPullContainerError`).
    #[error("{0}")]
    Failed(String),
}

/// A container's image, ready to create from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReady {
    /// Its resolved digest, when known.
    pub digest: Option<String>,
    /// Whether a pull was made (the task's pull times are reported only then).
    pub pulled: bool,
}

/// The digest an image reference names itself (`repo@sha256:...`), if it does.
fn digest_in_reference(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, digest)| digest)
}

/// Asks the registry which manifest `image` resolves to, with the reference's retries, all
/// within `ECS_MANIFEST_PULL_TIMEOUT`. `None`: a schema 1 manifest, not resolved.
async fn fetch_manifest<R: ContainerRuntime + ?Sized>(
    images: &Images,
    runtime: &R,
    image: &str,
    auth: Option<&RegistryAuth>,
) -> Result<Option<String>, ManifestError> {
    let started = tokio::time::Instant::now();
    let fetch = retry(&images.manifest_retry, |_| async {
        match runtime.manifest(image, auth).await {
            Ok(descriptor) => Attempt::Done(descriptor),
            Err(e) => Attempt::Retry(e),
        }
    });
    let descriptor = match tokio::time::timeout(images.manifest_timeout, fetch).await {
        Err(_) => return Err(ManifestError::Timeout(started.elapsed())),
        Ok(Err(gave_up)) => return Err(ManifestError::Failed(gave_up.into_last().to_string())),
        Ok(Ok(Some(descriptor))) => descriptor,
        Ok(Ok(None)) => {
            tracing::info!(
                image,
                "the Docker engine is too old to resolve manifests: no digest resolution"
            );
            return Ok(None);
        }
    };
    if SCHEMA1_MEDIA_TYPES.contains(&descriptor.media_type.as_str()) {
        tracing::info!(image, media_type = %descriptor.media_type, "schema 1 manifest: no digest resolution");
        return Ok(None);
    }
    Ok(Some(descriptor.digest))
}

/// Makes `container`'s image ready per the pull behaviour; returns the digest to report and
/// whether it pulled, or why it could not.
///
/// As the reference (`pullContainerManifest`, then `pullContainer`): when a pull is due and the
/// image does not name a digest, the manifest is fetched first (bounded by
/// `ECS_MANIFEST_PULL_TIMEOUT`); the image is then pulled by that digest (`repo@sha256:...`),
/// tagged with the task's reference, and the digest is the one reported. A failed manifest fetch
/// fails the container at once under `always` and `once`; under `default` and `prefer-cached`
/// the pull goes ahead by tag, and its fallback rules apply.
pub async fn ensure_image<R: ContainerRuntime + ?Sized>(
    images: &Images,
    runtime: &R,
    container: &Container,
    execution: Option<&IamRoleCredentials>,
) -> Result<ImageReady, PullError> {
    let image = container.image.as_deref().unwrap_or_default();
    let name = container.name.as_deref().unwrap_or_default();
    if image.trim().is_empty() {
        return Err(PullError::NoImage {
            container: name.to_string(),
        });
    }
    // Only the behaviours that may skip the pull look at the local image first; `default` looks
    // only when the pull failed (one Engine API call fewer on every start).
    let may_skip = matches!(
        images.behavior,
        ImagePullBehavior::PreferCached | ImagePullBehavior::Once
    );
    let mut cached = None;
    if may_skip {
        cached = runtime.inspect_image(image).await.ok().flatten();
    }
    let skip = match images.behavior {
        ImagePullBehavior::PreferCached => cached.is_some(),
        ImagePullBehavior::Once => cached.is_some() && images.manager.pulled_before(image),
        _ => false,
    };
    if let Some(info) = cached.as_ref().filter(|_| skip) {
        // No manifest fetch either: the digest is the local image's, as the reference's.
        tracing::info!(image, container = %name, behavior = ?images.behavior, "using the cached image; no pull");
        images.manager.record(image, info, false, SystemTime::now());
        return Ok(ImageReady {
            digest: digest_in_reference(image)
                .map(String::from)
                .or_else(|| digest_of(image, &info.repo_digests)),
            pulled: false,
        });
    }
    let auth = images
        .auth
        .credentials(container, execution)
        .await
        .map_err(|e| e.to_string());
    let mut resolved = None;
    let mut manifest_error = None;
    if let Ok(auth) = &auth
        && digest_in_reference(image).is_none()
    {
        match fetch_manifest(images, runtime, image, auth.as_ref()).await {
            Ok(digest) => {
                tracing::info!(image, container = %name, digest = digest.as_deref().unwrap_or(""), "fetched the image manifest");
                resolved = digest;
            }
            Err(e) => {
                tracing::error!(image, container = %name, error = %e, "cannot fetch the image manifest");
                if matches!(
                    images.behavior,
                    ImagePullBehavior::Always | ImagePullBehavior::Once
                ) {
                    return Err(PullError::Manifest(e));
                }
                manifest_error = Some(e);
            }
        }
    }
    // By the resolved digest, so the image pulled is the one the manifest named.
    let reference = match &resolved {
        Some(digest) => format!(
            "{}@{digest}",
            crate::runtime::docker::split_image_reference(image).0
        ),
        None => image.to_owned(),
    };
    let pulled = match auth {
        Ok(auth) => {
            let pull = async {
                tokio::time::timeout(
                    images.pull_timeout,
                    pull_with_retries(runtime, &images.retry, &reference, auth.as_ref()),
                )
                .await
                .map_err(|_| format!("pull {image}: timed out after {:?}", images.pull_timeout))
                .and_then(|r| r.map_err(|e| e.to_string()))
            };
            let pulled = images.gate.pull(&reference, auth.as_ref(), pull).await;
            match pulled {
                // The task names the image by its tag: give the pulled image that name. Done by
                // each caller, not in the shared pull: two tags may resolve to one digest.
                Ok(_) if reference != image => runtime
                    .tag_image(&reference, image)
                    .await
                    .map_err(|e| format!("tag {reference} as {image}: {e}"))
                    .and(pulled),
                other => other,
            }
        }
        Err(e) => Err(e),
    };
    if pulled.is_err() && !may_skip {
        cached = runtime.inspect_image(image).await.ok().flatten();
    }
    match pulled {
        Ok(digest) => {
            if let Ok(Some(info)) = runtime.inspect_image(image).await {
                images.manager.record(image, &info, true, SystemTime::now());
            }
            Ok(ImageReady {
                digest: resolved
                    .or_else(|| digest_in_reference(image).map(String::from))
                    .or(digest),
                pulled: true,
            })
        }
        Err(e) => {
            if images.behavior == ImagePullBehavior::Default
                && let Some(info) = cached
            {
                tracing::warn!(image, container = %name, error = %e, "pull failed; using the cached image");
                images
                    .manager
                    .record(image, &info, false, SystemTime::now());
                // A pull was attempted: its times are reported, as the reference's.
                return Ok(ImageReady {
                    digest: digest_of(image, &info.repo_digests),
                    pulled: true,
                });
            }
            Err(match manifest_error {
                Some(first) => PullError::Manifest(first),
                None => PullError::Failed(e),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::images::auth::Authenticator;
    use crate::images::cleanup::ImageManager;
    use crate::runtime::fake::{Call, FakeRuntime};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;

    const IMAGE: &str = "127.0.0.1:5000/app:1";

    /// [`RetryPolicy::IMAGE_PULL`]'s attempts with millisecond delays.
    fn fast_pull_retries() -> RetryPolicy {
        RetryPolicy {
            backoff: crate::retry::BackoffPolicy {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(2),
                ..crate::retry::BackoffPolicy::IMAGE_PULL
            },
            ..RetryPolicy::IMAGE_PULL
        }
    }

    fn images(behavior: ImagePullBehavior) -> Images {
        Images {
            auth: Authenticator::new(
                SharedCredentialsProvider::new(Credentials::new(
                    "AKID", "SECRET", None, None, "test",
                )),
                None,
            ),
            manager: ImageManager::new(None),
            behavior,
            retry: fast_pull_retries(),
            pull_timeout: Duration::from_secs(60),
            manifest_timeout: Duration::from_secs(60),
            manifest_retry: RetryPolicy {
                backoff: crate::retry::BackoffPolicy {
                    initial: Duration::from_millis(1),
                    max: Duration::from_millis(2),
                    ..crate::retry::BackoffPolicy::MANIFEST_PULL
                },
                ..RetryPolicy::MANIFEST_PULL
            },
            gate: PullGate::default(),
        }
    }

    fn container() -> Container {
        Container {
            name: Some("web".into()),
            image: Some(IMAGE.into()),
            ..Container::default()
        }
    }

    fn pulls(rt: &FakeRuntime) -> usize {
        rt.calls()
            .iter()
            .filter(|c| matches!(c, Call::Pull { .. }))
            .count()
    }

    #[tokio::test]
    async fn concurrent_pulls_of_one_image_share_one_pull_and_later_ones_pull_again() {
        let gate = PullGate::default();
        let count = std::sync::atomic::AtomicUsize::new(0);
        let (release, wait) = tokio::sync::watch::channel(false);
        let pull = || {
            let mut wait = wait.clone();
            let count = &count;
            async move {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = wait.wait_for(|go| *go).await;
                Ok(Some("sha256:1".to_owned()))
            }
        };
        let first = gate.pull(IMAGE, None, pull());
        let second = gate.pull(IMAGE, None, pull());
        let other = RegistryAuth {
            username: "u".into(),
            password: "p".into(),
            server_address: "127.0.0.1:5000".into(),
        };
        let with_credentials = gate.pull(IMAGE, Some(&other), pull());
        let opener = async {
            tokio::task::yield_now().await;
            release.send(true).unwrap();
        };
        let (a, b, c, ()) = tokio::join!(first, second, with_credentials, opener);
        assert_eq!(a, Ok(Some("sha256:1".to_owned())));
        assert_eq!(a, b);
        assert_eq!(a, c);
        // The two without credentials shared one pull; other credentials pulled on their own.
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A pull asked for after those finished goes to the registry again.
        gate.pull(IMAGE, None, pull()).await.unwrap();
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
        // Nothing is kept once no pull is under way.
        assert!(gate.slots.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn default_falls_back_to_the_cached_image_after_the_retries() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.fail_pull(IMAGE, "connection refused");
        let im = images(ImagePullBehavior::Default);
        assert!(ensure_image(&im, &rt, &container(), None).await.is_ok());
        assert_eq!(pulls(&rt), 5);
    }

    #[tokio::test]
    async fn always_fails_without_falling_back() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.fail_pull(IMAGE, "connection refused");
        let im = images(ImagePullBehavior::Always);
        let e = ensure_image(&im, &rt, &container(), None)
            .await
            .unwrap_err();
        assert_eq!(e, PullError::Failed("connection refused".into()));
    }

    #[tokio::test]
    async fn auth_errors_are_not_retried() {
        let rt = FakeRuntime::new();
        rt.fail_pull(IMAGE, "unauthorized: authentication required");
        let im = images(ImagePullBehavior::Default);
        let e = ensure_image(&im, &rt, &container(), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("authentication required"));
        assert_eq!(pulls(&rt), 1);
    }

    #[tokio::test]
    async fn once_pulls_only_the_first_time_and_prefer_cached_not_at_all_when_present() {
        let rt = FakeRuntime::new();
        let im = images(ImagePullBehavior::Once);
        // Whether a pull was made is said, for the task's pull times.
        assert!(
            ensure_image(&im, &rt, &container(), None)
                .await
                .unwrap()
                .pulled
        );
        assert!(
            !ensure_image(&im, &rt, &container(), None)
                .await
                .unwrap()
                .pulled
        );
        assert_eq!(pulls(&rt), 1);

        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let im = images(ImagePullBehavior::Once);
        // Present but never pulled by the agent: once pulls it.
        ensure_image(&im, &rt, &container(), None).await.unwrap();
        assert_eq!(pulls(&rt), 1);

        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let im = images(ImagePullBehavior::PreferCached);
        let ready = ensure_image(&im, &rt, &container(), None).await.unwrap();
        assert!(!ready.pulled);
        assert_eq!(pulls(&rt), 0);
    }

    fn manifests(rt: &FakeRuntime) -> usize {
        rt.calls()
            .iter()
            .filter(|c| matches!(c, Call::Manifest { .. }))
            .count()
    }

    #[tokio::test]
    async fn the_manifest_digest_is_pulled_tagged_and_reported() {
        let rt = FakeRuntime::new();
        rt.set_digest(IMAGE, "sha256:feed");
        let im = images(ImagePullBehavior::Default);
        let ready = ensure_image(&im, &rt, &container(), None).await.unwrap();
        assert_eq!(ready.digest.as_deref(), Some("sha256:feed"));
        let actions: Vec<Call> = rt
            .calls()
            .into_iter()
            .filter(|c| !matches!(c, Call::ImageExists { .. }))
            .filter(|c| {
                matches!(
                    c,
                    Call::Manifest { .. } | Call::Pull { .. } | Call::TagImage { .. }
                )
            })
            .collect();
        assert_eq!(
            actions,
            vec![
                Call::Manifest {
                    image: IMAGE.into()
                },
                Call::Pull {
                    image: "127.0.0.1:5000/app@sha256:feed".into()
                },
                Call::TagImage {
                    source: "127.0.0.1:5000/app@sha256:feed".into(),
                    target: IMAGE.into()
                },
            ]
        );
        assert!(rt.has_image(IMAGE));
    }

    #[tokio::test]
    async fn two_tags_of_one_digest_joining_one_pull_are_both_tagged() {
        let rt = FakeRuntime::new();
        let other = "127.0.0.1:5000/app:latest";
        let by_digest = "127.0.0.1:5000/app@sha256:feed";
        rt.set_digest(IMAGE, "sha256:feed");
        rt.set_digest(other, "sha256:feed");
        rt.add_image(by_digest);
        let im = images(ImagePullBehavior::Default);
        // A pull of the digest under way, which both callers join.
        let (release, wait) = tokio::sync::watch::channel(false);
        let held = im.gate.pull(by_digest, None, async {
            let mut wait = wait.clone();
            let _ = wait.wait_for(|go| *go).await;
            Ok(Some("sha256:feed".to_owned()))
        });
        let opener = async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            release.send(true).unwrap();
        };
        let (tagged, latest) = (
            container(),
            Container {
                image: Some(other.into()),
                ..container()
            },
        );
        let (_, a, b, ()) = tokio::join!(
            held,
            ensure_image(&im, &rt, &tagged, None),
            ensure_image(&im, &rt, &latest, None),
            opener
        );
        assert_eq!(a.unwrap().digest.as_deref(), Some("sha256:feed"));
        assert_eq!(b.unwrap().digest.as_deref(), Some("sha256:feed"));
        assert_eq!(pulls(&rt), 0, "both joined the pull under way");
        assert!(rt.has_image(IMAGE) && rt.has_image(other));
    }

    #[tokio::test]
    async fn no_manifest_fetch_for_a_digest_reference_or_a_cached_image_used_as_is() {
        let rt = FakeRuntime::new();
        let by_digest = Container {
            image: Some("127.0.0.1:5000/app@sha256:abcd".into()),
            ..container()
        };
        let im = images(ImagePullBehavior::Always);
        let ready = ensure_image(&im, &rt, &by_digest, None).await.unwrap();
        assert_eq!(ready.digest.as_deref(), Some("sha256:abcd"));
        assert_eq!(manifests(&rt), 0);

        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        let im = images(ImagePullBehavior::PreferCached);
        ensure_image(&im, &rt, &container(), None).await.unwrap();
        assert_eq!(manifests(&rt), 0);
        assert_eq!(pulls(&rt), 0);
    }

    #[tokio::test]
    async fn a_silent_registry_fails_the_manifest_step_after_the_configured_timeout() {
        let rt = FakeRuntime::new();
        rt.hang_manifest(IMAGE);
        let mut im = images(ImagePullBehavior::Always);
        // Shorter than the configuration allows, so the test is quick; the value is the one used.
        im.manifest_timeout = Duration::from_millis(300);
        let started = Instant::now();
        let e = ensure_image(&im, &rt, &container(), None)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(10),
            "{elapsed:?}"
        );
        match &e {
            PullError::Manifest(ManifestError::Timeout(waited)) => {
                assert!(*waited >= Duration::from_millis(300), "{waited:?}");
            }
            other => panic!("not a manifest timeout: {other:?}"),
        }
        assert!(
            e.to_string()
                .starts_with("Could not transition to MANIFEST_PULLED; timed out after waiting "),
            "{e}"
        );
        assert_eq!(manifests(&rt), 1);
        assert_eq!(pulls(&rt), 0);
    }

    #[tokio::test]
    async fn a_failed_manifest_fetch_is_retried_then_fails_always_without_a_pull() {
        let rt = FakeRuntime::new();
        rt.add_image(IMAGE);
        rt.fail_manifest(IMAGE, "manifest unknown");
        let im = images(ImagePullBehavior::Always);
        let e = ensure_image(&im, &rt, &container(), None)
            .await
            .unwrap_err();
        assert_eq!(
            e,
            PullError::Manifest(ManifestError::Failed("manifest unknown".into()))
        );
        // The reference's nine attempts, and no pull of a cached image behind it.
        assert_eq!(manifests(&rt), 9);
        assert_eq!(pulls(&rt), 0);
    }

    #[tokio::test]
    async fn under_default_a_failed_manifest_fetch_still_pulls_by_tag_and_keeps_the_first_error() {
        let rt = FakeRuntime::new();
        rt.fail_manifest(IMAGE, "manifest unknown");
        let im = images(ImagePullBehavior::Default);
        let ready = ensure_image(&im, &rt, &container(), None).await.unwrap();
        assert!(ready.pulled);
        assert!(rt.calls().contains(&Call::Pull {
            image: IMAGE.into()
        }));

        // The pull fails too and nothing is cached: the manifest's error is the one reported.
        let rt = FakeRuntime::new();
        rt.fail_manifest(IMAGE, "manifest unknown");
        rt.fail_pull(IMAGE, "connection refused");
        let e = ensure_image(&im, &rt, &container(), None)
            .await
            .unwrap_err();
        assert_eq!(
            e,
            PullError::Manifest(ManifestError::Failed("manifest unknown".into()))
        );
    }

    #[tokio::test]
    async fn a_schema1_manifest_resolves_no_digest_and_pulls_by_tag() {
        let rt = FakeRuntime::new();
        rt.set_manifest_media_type(IMAGE, SCHEMA1_MEDIA_TYPES[1]);
        let im = images(ImagePullBehavior::Always);
        ensure_image(&im, &rt, &container(), None).await.unwrap();
        assert!(rt.calls().contains(&Call::Pull {
            image: IMAGE.into()
        }));
        assert!(
            !rt.calls()
                .iter()
                .any(|c| matches!(c, Call::TagImage { .. }))
        );
    }
}
