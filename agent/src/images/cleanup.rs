//! The images the agent pulled for tasks, and their removal on the reference's rules
//! (`agent/engine/docker_image_manager.go`): every `ECS_IMAGE_CLEANUP_INTERVAL`, images no task uses
//! (or will use) that were pulled at least `ECS_IMAGE_MINIMUM_CLEANUP_AGE` ago are removed, least
//! recently used first, at most `ECS_NUM_IMAGES_DELETE_PER_CYCLE` per cycle. With
//! `ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP`, images the agent did not pull may go too (older than
//! `NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE`, smallest first, never one in `ECS_EXCLUDE_UNTRACKED_IMAGE`),
//! within the same per-cycle count; before them, up to `NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE`
//! exited (or dead, or never started) containers the agent did not create, stopped longer than
//! `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION` ago, are removed, as the reference's
//! `removeNonECSContainers`.
//!
//! The tracked images are persisted in the agent's store (meta key `images`), so a restart
//! remembers what it pulled and when.
//!
//! What it must not do: force a removal (Docker refuses to remove an image a container uses, and
//! that refusal is respected), or remove an untracked image unless untracked cleanup is enabled.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::runtime::{ContainerRuntime, ImageInfo, RuntimeError};
use crate::state::Store;

const META_IMAGES: &str = "images";

/// One tracked image (by image id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageState {
    /// Image id.
    pub id: String,
    /// References tasks used for it.
    pub names: BTreeSet<String>,
    /// Size in bytes.
    pub size: i64,
    /// When the agent first pulled it (epoch seconds).
    pub pulled_at: u64,
    /// When a task last used it (epoch seconds).
    pub last_used_at: u64,
    /// The agent pulled it successfully at least once (pull behaviour `once`).
    pub pull_succeeded: bool,
}

/// The cleanup rules, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupSettings {
    /// Between cycles.
    pub interval: Duration,
    /// Minimum time since pull.
    pub minimum_age: Duration,
    /// Most images removed per cycle.
    pub per_cycle: usize,
    /// Untracked images too.
    pub untracked: bool,
    /// Minimum age of an untracked image.
    pub untracked_minimum_age: Duration,
    /// References never removed.
    pub exclude: BTreeSet<String>,
    /// Most stopped non-ECS containers removed per cycle (untracked cleanup).
    pub containers_per_cycle: usize,
    /// How long a non-ECS container must have been stopped before removal (the task cleanup
    /// wait, as in the reference).
    pub container_wait: Duration,
}

impl CleanupSettings {
    /// From the configuration; `interval` overrides `ECS_IMAGE_CLEANUP_INTERVAL` when given.
    pub fn from_config(config: &ecs_config::Config, interval: Option<Duration>) -> Self {
        CleanupSettings {
            interval: interval.unwrap_or(config.image_cleanup_interval.value),
            minimum_age: config.image_minimum_cleanup_age.value,
            per_cycle: usize::try_from(config.num_images_delete_per_cycle.value).unwrap_or(5),
            untracked: config.enable_untracked_image_cleanup.value,
            untracked_minimum_age: config.non_ecs_image_minimum_cleanup_age.value,
            exclude: config
                .exclude_untracked_image
                .value
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            containers_per_cycle: usize::try_from(
                config.nonecs_num_containers_delete_per_cycle.value,
            )
            .unwrap_or(5),
            container_wait: config.engine_task_cleanup_wait_duration.value,
        }
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The tracked images.
#[derive(Debug)]
pub struct ImageManager {
    store: Option<Arc<Store>>,
    /// The table. A lock, not an actor: every use is a short synchronous step (record a pull,
    /// answer "pulled before?", pick candidates); it is never held across an await.
    images: std::sync::Mutex<BTreeMap<String, ImageState>>,
}

impl ImageManager {
    /// The manager, with the images saved in `store` (none without a store).
    pub fn new(store: Option<Arc<Store>>) -> Self {
        let images = store
            .as_ref()
            .and_then(|s| s.meta(META_IMAGES).ok().flatten())
            .and_then(|t| serde_json::from_str::<Vec<ImageState>>(&t).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        ImageManager {
            store,
            images: std::sync::Mutex::new(images),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ImageState>> {
        self.images.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, table: &BTreeMap<String, ImageState>) {
        let Some(store) = &self.store else {
            return;
        };
        let list: Vec<&ImageState> = table.values().collect();
        match serde_json::to_string(&list) {
            Ok(text) => {
                if let Err(e) = store.set_meta(META_IMAGES, &text) {
                    tracing::warn!(error = %e, "cannot save the image states");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode the image states"),
        }
    }

    /// A task uses `name`, which is `info` in Docker; `pulled` when the agent just pulled it.
    pub fn record(&self, name: &str, info: &ImageInfo, pulled: bool, now: SystemTime) {
        let mut table = self.table();
        // A tag that moved to another image no longer names the old one.
        for (id, state) in table.iter_mut() {
            if *id != info.id {
                state.names.remove(name);
            }
        }
        let state = table.entry(info.id.clone()).or_insert_with(|| ImageState {
            id: info.id.clone(),
            names: BTreeSet::new(),
            size: info.size,
            pulled_at: secs(now),
            last_used_at: secs(now),
            pull_succeeded: false,
        });
        state.names.insert(name.to_string());
        state.last_used_at = secs(now);
        state.pull_succeeded |= pulled;
        self.save(&table);
    }

    /// Whether the agent pulled `name` successfully before (and has not removed it since).
    pub fn pulled_before(&self, name: &str) -> bool {
        self.table()
            .values()
            .any(|s| s.pull_succeeded && s.names.contains(name))
    }

    /// A copy of the table.
    pub fn states(&self) -> Vec<ImageState> {
        self.table().values().cloned().collect()
    }

    /// One cleanup cycle. `in_use`: the references of every container of every task the agent
    /// knows (running, stopping, or yet to start). Returns what was removed.
    pub async fn cleanup<R: ContainerRuntime + ?Sized>(
        &self,
        runtime: &R,
        settings: &CleanupSettings,
        in_use: &HashSet<String>,
        now: SystemTime,
    ) -> Vec<String> {
        let candidates: Vec<ImageState> = {
            let mut table = self.table();
            for state in table.values_mut() {
                if state.names.iter().any(|n| in_use.contains(n)) {
                    state.last_used_at = secs(now);
                }
            }
            let min_age = settings.minimum_age.as_secs();
            let mut c: Vec<ImageState> = table
                .values()
                .filter(|s| !s.names.iter().any(|n| in_use.contains(n)))
                .filter(|s| !s.names.iter().any(|n| settings.exclude.contains(n)))
                // Whole seconds on both sides: a difference of `min_age` may be up to a second
                // short of it, so only a larger one proves the image old enough.
                .filter(|s| secs(now).saturating_sub(s.pulled_at) > min_age)
                .cloned()
                .collect();
            c.sort_by_key(|s| (s.last_used_at, s.pulled_at));
            c
        };
        let mut removed = Vec::new();
        let mut count = 0;
        for state in candidates {
            if count >= settings.per_cycle {
                break;
            }
            // A task that pulled or used it since `in_use` was taken keeps it.
            let used_since = self
                .table()
                .get(&state.id)
                .is_none_or(|s| s.last_used_at >= secs(now));
            if used_since {
                continue;
            }
            count += 1;
            let mut gone = true;
            // An image whose tags all moved on is removed by id.
            let targets: Vec<String> = if state.names.is_empty() {
                vec![state.id.clone()]
            } else {
                state.names.iter().cloned().collect()
            };
            for name in &targets {
                match runtime.remove_image(name).await {
                    Ok(()) | Err(RuntimeError::NotFound(_)) => {
                        tracing::info!(image = %name, image_id = %state.id, "image removed");
                        removed.push(name.clone());
                    }
                    Err(e) => {
                        tracing::warn!(image = %name, error = %e, "cannot remove image");
                        gone = false;
                    }
                }
            }
            if gone {
                let mut table = self.table();
                table.remove(&state.id);
                self.save(&table);
            }
        }
        if settings.untracked {
            self.cleanup_unmanaged_containers(runtime, settings, now)
                .await;
        }
        if settings.untracked && count < settings.per_cycle {
            removed.extend(
                self.cleanup_untracked(runtime, settings, in_use, now, settings.per_cycle - count)
                    .await,
            );
        }
        removed
    }

    /// Removes stopped containers the agent did not create; returns their ids.
    async fn cleanup_unmanaged_containers<R: ContainerRuntime + ?Sized>(
        &self,
        runtime: &R,
        settings: &CleanupSettings,
        now: SystemTime,
    ) -> Vec<String> {
        let containers = match runtime.list_stopped_unmanaged().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list non-ECS containers for cleanup");
                return Vec::new();
            }
        };
        let wait = settings.container_wait.as_secs();
        let mut removed = Vec::new();
        for container in containers
            .into_iter()
            .filter(|c| secs(now).saturating_sub(u64::try_from(c.finished_at).unwrap_or(0)) > wait)
        {
            if removed.len() >= settings.containers_per_cycle {
                break;
            }
            match runtime.remove(&container.id).await {
                Ok(()) => {
                    tracing::info!(runtime_id = %container.id, "removed non-ECS container");
                    removed.push(container.id);
                }
                Err(e) => {
                    tracing::warn!(runtime_id = %container.id, error = %e, "cannot remove non-ECS container");
                }
            }
        }
        removed
    }

    async fn cleanup_untracked<R: ContainerRuntime + ?Sized>(
        &self,
        runtime: &R,
        settings: &CleanupSettings,
        in_use: &HashSet<String>,
        now: SystemTime,
        budget: usize,
    ) -> Vec<String> {
        let images = match runtime.list_images().await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list images for untracked cleanup");
                return Vec::new();
            }
        };
        let tracked: HashSet<String> = self.table().keys().cloned().collect();
        let min_age = settings.untracked_minimum_age.as_secs();
        let mut candidates: Vec<ImageInfo> = images
            .into_iter()
            .filter(|i| !tracked.contains(&i.id))
            .filter(|i| {
                !i.repo_tags
                    .iter()
                    .any(|t| settings.exclude.contains(t) || in_use.contains(t))
            })
            .filter(|i| secs(now).saturating_sub(u64::try_from(i.created).unwrap_or(0)) >= min_age)
            .collect();
        candidates.sort_by_key(|i| i.size);
        let mut removed = Vec::new();
        for image in candidates.into_iter().take(budget) {
            let names: Vec<String> = image
                .repo_tags
                .iter()
                .filter(|t| t.as_str() != "<none>:<none>")
                .cloned()
                .collect();
            let targets = if names.is_empty() {
                vec![image.id.clone()]
            } else {
                names
            };
            for t in targets {
                match runtime.remove_image(&t).await {
                    Ok(()) => {
                        tracing::info!(image = %t, "untracked image removed");
                        removed.push(t);
                    }
                    Err(e) => {
                        tracing::warn!(image = %t, error = %e, "cannot remove untracked image")
                    }
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::{FakeRuntime, fake_image_id};

    fn settings() -> CleanupSettings {
        CleanupSettings {
            interval: Duration::from_secs(60),
            minimum_age: Duration::from_secs(3600),
            per_cycle: 2,
            untracked: false,
            untracked_minimum_age: Duration::from_secs(3600),
            exclude: BTreeSet::new(),
            containers_per_cycle: 2,
            container_wait: Duration::from_secs(3 * 3600),
        }
    }

    fn info(name: &str) -> ImageInfo {
        ImageInfo {
            id: fake_image_id(name),
            repo_tags: vec![name.into()],
            size: 1000,
            ..ImageInfo::default()
        }
    }

    const T0: u64 = 1_800_000_000;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[tokio::test]
    async fn removes_old_unused_images_lru_first_within_the_per_cycle_count() {
        let rt = FakeRuntime::new();
        let m = ImageManager::new(None);
        for (i, name) in ["r/a:1", "r/b:1", "r/c:1", "r/young:1", "r/used:1"]
            .iter()
            .enumerate()
        {
            rt.add_image(name);
            let when = if *name == "r/young:1" {
                T0 + 3000
            } else {
                T0 + i as u64
            };
            m.record(name, &info(name), true, at(when));
        }
        let in_use: HashSet<String> = ["r/used:1".to_string()].into();
        let removed = m.cleanup(&rt, &settings(), &in_use, at(T0 + 3700)).await;
        // Two per cycle, least recently used first; the young and the used one stay.
        assert_eq!(removed, ["r/a:1", "r/b:1"]);
        let removed = m.cleanup(&rt, &settings(), &in_use, at(T0 + 3700)).await;
        assert_eq!(removed, ["r/c:1"]);
        assert!(rt.has_image("r/young:1") && rt.has_image("r/used:1"));
        let removed = m.cleanup(&rt, &settings(), &in_use, at(T0 + 6700)).await;
        assert_eq!(removed, ["r/young:1"]);
        assert!(rt.has_image("r/used:1"));
    }

    /// Pulled at T0 + 0.9 s (recorded as T0), checked at T0 + 3600.0 s: only 3599.1 s old, so
    /// kept; a second later it goes. (Found by the image cleanup e2e test, which saw an image go
    /// before the minimum age.)
    #[tokio::test]
    async fn an_image_is_never_removed_before_the_minimum_age() {
        let rt = FakeRuntime::new();
        let m = ImageManager::new(None);
        rt.add_image("r/a:1");
        let pulled = at(T0) + Duration::from_millis(900);
        m.record("r/a:1", &info("r/a:1"), true, pulled);
        let none = HashSet::new();
        let removed = m.cleanup(&rt, &settings(), &none, at(T0 + 3600)).await;
        assert!(removed.is_empty(), "3599.1 s old");
        let removed = m.cleanup(&rt, &settings(), &none, at(T0 + 3601)).await;
        assert_eq!(removed, ["r/a:1"]);
    }

    #[tokio::test]
    async fn an_image_used_after_the_cycle_began_is_kept() {
        let rt = FakeRuntime::new();
        let m = ImageManager::new(None);
        rt.add_image("r/a:1");
        m.record("r/a:1", &info("r/a:1"), true, at(T0));
        // Recorded again (a new task pulled it) at the cycle's own time.
        m.record("r/a:1", &info("r/a:1"), false, at(T0 + 4000));
        let removed = m
            .cleanup(&rt, &settings(), &HashSet::new(), at(T0 + 4000))
            .await;
        assert!(removed.is_empty());
        assert!(rt.has_image("r/a:1"));
    }

    #[tokio::test]
    async fn an_image_docker_refuses_to_remove_stays_tracked() {
        let rt = FakeRuntime::new();
        let m = ImageManager::new(None);
        rt.add_image("r/a:1");
        m.record("r/a:1", &info("r/a:1"), true, at(T0));
        rt.fail_remove_image(
            "r/a:1",
            "conflict: image is being used by stopped container",
        );
        let removed = m
            .cleanup(&rt, &settings(), &HashSet::new(), at(T0 + 4000))
            .await;
        assert!(removed.is_empty());
        assert_eq!(m.states().len(), 1);
        assert!(m.pulled_before("r/a:1"));
    }

    #[tokio::test]
    async fn untracked_images_only_when_enabled_oldest_enough_and_not_excluded() {
        let rt = FakeRuntime::new();
        let m = ImageManager::new(None);
        rt.add_image_created("other/old:1", T0 as i64);
        rt.add_image_created("other/keep:1", T0 as i64);
        rt.add_image_created("other/new:1", (T0 + 3000) as i64);
        rt.add_image("r/tracked:1");
        m.record("r/tracked:1", &info("r/tracked:1"), true, at(T0 + 3500));
        let now = at(T0 + 3700);
        assert!(
            m.cleanup(&rt, &settings(), &HashSet::new(), now)
                .await
                .is_empty()
        );
        let mut s = settings();
        s.untracked = true;
        s.exclude = ["other/keep:1".to_string()].into();
        let removed = m.cleanup(&rt, &s, &HashSet::new(), now).await;
        assert_eq!(removed, ["other/old:1"]);
        assert!(rt.has_image("other/keep:1") && rt.has_image("other/new:1"));
        assert!(rt.has_image("r/tracked:1"));
    }

    #[tokio::test]
    async fn stopped_non_ecs_containers_go_when_untracked_cleanup_is_on_a_few_per_cycle() {
        let rt = FakeRuntime::new();
        let m = ImageManager::new(None);
        let long_ago = T0 as i64;
        for id in ["old-1", "old-2", "old-3"] {
            rt.add_unmanaged(id, long_ago);
        }
        rt.add_unmanaged("recent", (T0 + 10_000) as i64);
        let now = at(T0 + 12_000);
        // Off: nothing goes.
        m.cleanup(&rt, &settings(), &HashSet::new(), now).await;
        assert_eq!(rt.unmanaged().len(), 4);
        let mut s = settings();
        s.untracked = true;
        // On: two per cycle, only those stopped longer than the wait ago.
        m.cleanup(&rt, &s, &HashSet::new(), now).await;
        assert_eq!(rt.unmanaged(), ["old-3", "recent"]);
        m.cleanup(&rt, &s, &HashSet::new(), now).await;
        assert_eq!(rt.unmanaged(), ["recent"]);
    }

    #[test]
    fn a_moved_tag_leaves_the_old_image() {
        let m = ImageManager::new(None);
        let old = ImageInfo {
            id: "sha256:old".into(),
            ..ImageInfo::default()
        };
        let new = ImageInfo {
            id: "sha256:new".into(),
            ..ImageInfo::default()
        };
        m.record("r/a:1", &old, true, at(T0));
        m.record("r/a:1", &new, true, at(T0 + 1));
        let states = m.states();
        let old_state = states.iter().find(|s| s.id == "sha256:old").unwrap();
        assert!(old_state.names.is_empty());
    }
}
