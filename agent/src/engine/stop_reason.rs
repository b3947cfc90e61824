//! Why a container or a task stopped, as a value: [`StopReason`]. Its `Display` is the text ECS
//! shows (and the reference agent sends) in SubmitTaskStateChange's `reason`, so the engine builds
//! reasons from these variants and never formats the ECS words itself.
//!
//! It owns the words only: the record keeps the text (the saved and reported form), and deciding
//! which reason applies is the task actor's.

/// Why a container or a task stopped, in ECS's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    /// An essential container exited, so the task stops (the task's reason).
    #[error("Essential container in task exited")]
    EssentialContainerExited,
    /// The OOM killer stopped the container (Docker's flag or the task cgroup's count).
    #[error("OutOfMemoryError: Container killed due to memory usage")]
    OutOfMemory,
    /// The image could not be made ready; the detail says why.
    #[error("CannotPullContainerError: {0}")]
    CannotPullContainer(String),
    /// The image's manifest could not be fetched before the pull (the reference's
    /// MANIFEST_PULLED step); the detail says why.
    #[error("CannotPullImageManifestError: {0}")]
    CannotPullImageManifest(String),
    /// A Docker step did not finish in time: the reference's `DockerTimeoutError`, whose detail
    /// names the transition (`Could not transition to MANIFEST_PULLED; timed out after ...`).
    #[error("DockerTimeoutError: {0}")]
    DockerTimeout(String),
    /// The container could not be created (its config, ports, environment, or Docker refused).
    #[error("CannotCreateContainerError: {0}")]
    CannotCreateContainer(String),
    /// The container could not be started (Docker refused, or a dependency can never be met).
    #[error("CannotStartContainerError: {0}")]
    CannotStartContainer(String),
    /// A task resource (secrets, environment files, volumes, cgroup) could not be set up.
    #[error("ResourceInitializationError: {0}")]
    ResourceInitialization(String),
    /// Docker still said the container runs after the stop: the reference's
    /// `CannotStopContainerError`, whose detail is Docker's error.
    #[error("CannotStopContainerError: {0}")]
    CannotStopContainer(String),
    /// Docker has no container by the saved id any more: removed outside the agent while it
    /// ran, or gone when the agent restarted. The reference's `ContainerVanishedError`, in its
    /// words.
    #[error("ContainerVanishedError: No container matching saved ID found")]
    ContainerVanished,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are the wire: each one as the engine sent it before the enum existed.
    #[test]
    fn every_reason_says_what_ecs_says() {
        let cases = [
            (
                StopReason::EssentialContainerExited,
                "Essential container in task exited",
            ),
            (
                StopReason::OutOfMemory,
                "OutOfMemoryError: Container killed due to memory usage",
            ),
            (
                StopReason::CannotPullContainer("pull access denied".into()),
                "CannotPullContainerError: pull access denied",
            ),
            (
                StopReason::CannotPullImageManifest("manifest unknown".into()),
                "CannotPullImageManifestError: manifest unknown",
            ),
            (
                StopReason::DockerTimeout(
                    "Could not transition to MANIFEST_PULLED; timed out after waiting 30s".into(),
                ),
                "DockerTimeoutError: Could not transition to MANIFEST_PULLED; timed out after waiting 30s",
            ),
            (
                StopReason::CannotCreateContainer("port allocator unavailable".into()),
                "CannotCreateContainerError: port allocator unavailable",
            ),
            (
                StopReason::CannotStartContainer("dependency graph: unknown container".into()),
                "CannotStartContainerError: dependency graph: unknown container",
            ),
            (
                StopReason::ResourceInitialization("no such volume".into()),
                "ResourceInitializationError: no such volume",
            ),
            (
                StopReason::CannotStopContainer("timeout".into()),
                "CannotStopContainerError: timeout",
            ),
            (
                StopReason::ContainerVanished,
                "ContainerVanishedError: No container matching saved ID found",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text, "{reason:?}");
        }
    }
}
