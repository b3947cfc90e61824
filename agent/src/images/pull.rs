//! Getting a container's image ready: the pull behaviour (`ECS_IMAGE_PULL_BEHAVIOR`), the
//! reference's retries, credentials, and the digest to report.
//!
//! - `default`: pull; if the pull fails, use the cached image if there is one.
//! - `always`: pull; a failed pull fails the container.
//! - `once`: pull only if the agent has not pulled this image successfully before (or it is gone).
//! - `prefer-cached`: pull only if there is no local image.
//!
//! Retries follow the reference (`agent/dockerclient/dockerapi/docker_client.go`): 5 attempts,
//! 1.1 s growing ×2 up to 5 s, ±20 % jitter. A registry's refusal of the credentials is not
//! retried (the reference's CannotPullContainerAuthError). `ECS_IMAGE_PULL_TIMEOUT` bounds the whole
//! pull, retries included (and each attempt, in the runtime); `ECS_IMAGE_PULL_INACTIVITY_TIMEOUT`
//! bounds the silence inside one attempt's progress stream (the runtime's).

use std::time::{Duration, SystemTime};

use ecs_config::ImagePullBehavior;
use ecs_protocol::acs::{Container, IamRoleCredentials};

use super::Images;
use crate::runtime::{ContainerRuntime, RegistryAuth, RuntimeError};

/// The retry schedule of pulls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PullRetry {
    /// Attempts in all.
    pub attempts: u32,
    /// First delay.
    pub first: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Growth per attempt.
    pub multiplier: f64,
    /// ± fraction of randomness.
    pub jitter: f64,
}

impl Default for PullRetry {
    fn default() -> Self {
        PullRetry {
            attempts: 5,
            first: Duration::from_millis(1100),
            max: Duration::from_secs(5),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl PullRetry {
    /// The delay after failed attempt `n` (0-based), before jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let grown = self.first.as_secs_f64() * self.multiplier.powi(i32::try_from(n).unwrap_or(30));
        Duration::from_secs_f64(grown.min(self.max.as_secs_f64()))
    }
}

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
    retry: &PullRetry,
    image: &str,
    auth: Option<&RegistryAuth>,
) -> Result<Option<String>, RuntimeError> {
    let mut n = 0;
    loop {
        match runtime.pull(image, auth).await {
            Ok(d) => return Ok(d),
            Err(e) => {
                n += 1;
                if n >= retry.attempts || is_auth_error(&e.to_string()) {
                    return Err(e);
                }
                let base = retry.delay(n - 1);
                let factor = 1.0 + retry.jitter * (rand::random::<f64>() * 2.0 - 1.0);
                let wait = base.mul_f64(factor.max(0.0));
                tracing::warn!(image, attempt = n, error = %e, retry_in = ?wait, "pull failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Makes `container`'s image ready per the pull behaviour; returns the digest to report, or the
/// ECS reason (`CannotPullContainerError: ...`).
pub async fn ensure_image<R: ContainerRuntime + ?Sized>(
    images: &Images,
    runtime: &R,
    container: &Container,
    execution: Option<&IamRoleCredentials>,
) -> Result<Option<String>, String> {
    let image = container.image.as_deref().unwrap_or_default();
    let name = container.name.as_deref().unwrap_or_default();
    if image.trim().is_empty() {
        return Err(format!(
            "CannotPullContainerError: container {name} has no image"
        ));
    }
    let cached = runtime.inspect_image(image).await.ok().flatten();
    let skip = match images.behavior {
        ImagePullBehavior::PreferCached => cached.is_some(),
        ImagePullBehavior::Once => cached.is_some() && images.manager.pulled_before(image),
        _ => false,
    };
    if let Some(info) = cached.as_ref().filter(|_| skip) {
        tracing::info!(image, container = %name, behavior = ?images.behavior, "using the cached image; no pull");
        images.manager.record(image, info, false, SystemTime::now());
        return Ok(digest_of(image, &info.repo_digests));
    }
    let pulled = match images.auth.credentials(container, execution).await {
        Ok(auth) => tokio::time::timeout(
            images.pull_timeout,
            pull_with_retries(runtime, &images.retry, image, auth.as_ref()),
        )
        .await
        .map_err(|_| format!("pull {image}: timed out after {:?}", images.pull_timeout))
        .and_then(|r| r.map_err(|e| e.to_string())),
        Err(e) => Err(e.to_string()),
    };
    match pulled {
        Ok(digest) => {
            if let Ok(Some(info)) = runtime.inspect_image(image).await {
                images.manager.record(image, &info, true, SystemTime::now());
            }
            Ok(digest)
        }
        Err(e) => {
            if images.behavior == ImagePullBehavior::Default
                && let Some(info) = cached
            {
                tracing::warn!(image, container = %name, error = %e, "pull failed; using the cached image");
                images
                    .manager
                    .record(image, &info, false, SystemTime::now());
                return Ok(digest_of(image, &info.repo_digests));
            }
            Err(format!("CannotPullContainerError: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::auth::Authenticator;
    use crate::images::cleanup::ImageManager;
    use crate::runtime::fake::{Call, FakeRuntime};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;

    const IMAGE: &str = "127.0.0.1:5000/app:1";

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
            retry: PullRetry {
                first: Duration::from_millis(1),
                max: Duration::from_millis(2),
                ..PullRetry::default()
            },
            pull_timeout: Duration::from_secs(60),
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
        assert_eq!(e, "CannotPullContainerError: connection refused");
    }

    #[tokio::test]
    async fn auth_errors_are_not_retried() {
        let rt = FakeRuntime::new();
        rt.fail_pull(IMAGE, "unauthorized: authentication required");
        let im = images(ImagePullBehavior::Default);
        let e = ensure_image(&im, &rt, &container(), None)
            .await
            .unwrap_err();
        assert!(e.contains("authentication required"));
        assert_eq!(pulls(&rt), 1);
    }

    #[tokio::test]
    async fn once_pulls_only_the_first_time_and_prefer_cached_not_at_all_when_present() {
        let rt = FakeRuntime::new();
        let im = images(ImagePullBehavior::Once);
        ensure_image(&im, &rt, &container(), None).await.unwrap();
        ensure_image(&im, &rt, &container(), None).await.unwrap();
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
        ensure_image(&im, &rt, &container(), None).await.unwrap();
        assert_eq!(pulls(&rt), 0);
    }

    #[test]
    fn retry_delays_follow_the_reference() {
        let r = PullRetry::default();
        assert_eq!(r.delay(0), Duration::from_millis(1100));
        assert_eq!(r.delay(1), Duration::from_millis(2200));
        assert_eq!(r.delay(2), Duration::from_millis(4400));
        assert_eq!(r.delay(3), Duration::from_secs(5));
    }
}
