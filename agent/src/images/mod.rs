//! Images: registry credentials (`auth`), pulls with the configured behaviour and retries
//! (`pull`), and the tracked images with their periodic cleanup (`cleanup`).
//!
//! The task engine calls [`pull::ensure_image`] for each container and gets back the digest to
//! report (resolved from the registry's manifest before the pull, as the reference's
//! MANIFEST_PULLED step) or why the manifest fetch or the pull failed; [`run_cleanup`] runs beside the engine, which tells it the
//! images its tasks use. This module must not depend on the engine (the engine depends on it).

pub mod auth;
pub mod cleanup;
pub mod pull;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::SharedCredentialsProvider;
use ecs_config::ImagePullBehavior;
use tokio_util::sync::CancellationToken;

use crate::runtime::ContainerRuntime;
use crate::state::Store;
use auth::{Authenticator, EngineAuth};
use cleanup::{CleanupSettings, ImageManager};

/// What the pull step needs; shared by every task actor.
#[allow(missing_debug_implementations)] // holds credentials
pub struct Images {
    pub(crate) auth: Authenticator,
    pub(crate) manager: ImageManager,
    pub(crate) behavior: ImagePullBehavior,
    pub(crate) retry: crate::retry::RetryPolicy,
    /// `ECS_IMAGE_PULL_TIMEOUT`: the whole pull, retries included.
    pub(crate) pull_timeout: std::time::Duration,
    /// `ECS_MANIFEST_PULL_TIMEOUT`: the whole manifest fetch before a pull, retries included.
    pub(crate) manifest_timeout: std::time::Duration,
    /// The manifest fetch's retries ([`crate::retry::RetryPolicy::MANIFEST_PULL`]).
    pub(crate) manifest_retry: crate::retry::RetryPolicy,
    /// Concurrent pulls of one image share one Engine API pull.
    pub(crate) gate: pull::PullGate,
}

impl Images {
    /// From the configuration, the instance credentials and the agent's store.
    ///
    /// `ECS_ENGINE_AUTH_DATA` that cannot be read is reported (without its value) and ignored, as
    /// the reference does: pulls from those registries then go without credentials.
    pub fn new(
        config: &ecs_config::Config,
        instance: SharedCredentialsProvider,
        store: Option<Arc<Store>>,
    ) -> Self {
        let engine = config.engine_auth_data.value.as_ref().and_then(|data| {
            let kind = config.engine_auth_type.value.unwrap_or_default();
            match EngineAuth::parse(kind, data.expose()) {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::error!(error = %e, "ignoring ECS_ENGINE_AUTH_DATA");
                    None
                }
            }
        });
        Images {
            auth: Authenticator::new(instance, engine).with_dual_stack(config.ipv6_only()),
            manager: ImageManager::new(store),
            behavior: config.image_pull_behavior.value,
            retry: crate::retry::RetryPolicy::IMAGE_PULL,
            pull_timeout: config.image_pull_timeout.value,
            manifest_timeout: config.manifest_pull_timeout.value,
            manifest_retry: crate::retry::RetryPolicy::MANIFEST_PULL,
            gate: pull::PullGate::default(),
        }
    }

    /// Reads `repositoryCredentials` secrets through `secrets` (the agent's shared AWS access).
    pub fn with_secrets(mut self, secrets: crate::secrets::SecretsFetcher) -> Self {
        self.auth = self.auth.with_secrets(secrets);
        self
    }

    /// Asks ECR for registry credentials through `proxies`.
    pub fn with_proxies(mut self, proxies: Arc<crate::proxy::Proxies>) -> Self {
        self.auth = self.auth.with_proxies(proxies);
        self
    }

    /// The tracked images.
    pub fn manager(&self) -> &ImageManager {
        &self.manager
    }
}

/// Runs image cleanup cycles every `settings.interval` until `shutdown`. `in_use` answers, at
/// each cycle, the images the engine's tasks use (running, stopping, or still to start); those
/// are kept.
pub async fn run_cleanup<R, F, Fut>(
    images: Arc<Images>,
    runtime: Arc<R>,
    mut in_use: F,
    settings: CleanupSettings,
    shutdown: CancellationToken,
) where
    R: ContainerRuntime,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = HashSet<String>>,
{
    tracing::info!(interval = ?settings.interval, minimum_age = ?settings.minimum_age, per_cycle = settings.per_cycle, untracked = settings.untracked, "image cleanup enabled");
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.interval,
        settings.interval,
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let in_use = in_use().await;
        let removed = images
            .manager
            .cleanup(runtime.as_ref(), &settings, &in_use, SystemTime::now())
            .await;
        tracing::debug!(removed = removed.len(), "image cleanup cycle done");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_manifest_timeout_comes_from_the_configuration() {
        let mut config = ecs_config::Config::default();
        assert_eq!(
            Images::new(
                &config,
                SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                    "AKID", "SECRET", None, None, "test",
                )),
                None,
            )
            .manifest_timeout,
            Duration::from_secs(60)
        );
        config.manifest_pull_timeout.value = Duration::from_secs(45);
        let images = Images::new(
            &config,
            SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            )),
            None,
        );
        assert_eq!(images.manifest_timeout, Duration::from_secs(45));
    }
}
