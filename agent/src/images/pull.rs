//! Getting a container's image ready: the pull behaviour (`ECS_IMAGE_PULL_BEHAVIOR`), the
//! reference's retries, credentials, and the digest to report.
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
                    let outcome = pull.await;
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

/// Why an image could not be made ready (the engine reports it as `CannotPullContainerError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    /// The container names no image.
    #[error("container {container} has no image")]
    NoImage {
        /// The container's name.
        container: String,
    },
    /// The credentials, the pull or its timeout failed, and no cached image could stand in.
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

/// Makes `container`'s image ready per the pull behaviour; returns the digest to report and
/// whether it pulled, or why it could not.
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
        tracing::info!(image, container = %name, behavior = ?images.behavior, "using the cached image; no pull");
        images.manager.record(image, info, false, SystemTime::now());
        return Ok(ImageReady {
            digest: digest_of(image, &info.repo_digests),
            pulled: false,
        });
    }
    let pulled = match images.auth.credentials(container, execution).await {
        Ok(auth) => {
            let pull = async {
                tokio::time::timeout(
                    images.pull_timeout,
                    pull_with_retries(runtime, &images.retry, image, auth.as_ref()),
                )
                .await
                .map_err(|_| format!("pull {image}: timed out after {:?}", images.pull_timeout))
                .and_then(|r| r.map_err(|e| e.to_string()))
            };
            images.gate.pull(image, auth.as_ref(), pull).await
        }
        Err(e) => Err(e.to_string()),
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
                digest,
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
            Err(PullError::Failed(e))
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
}
