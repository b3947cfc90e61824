//! Lifecycle and report statuses with their exact wire strings.
//!
//! [`ContainerStatus`] and [`TaskStatus`] are the agent's *known* statuses (reference sections 4.1 and
//! 4.2): ordered, and only ever moving forward ([`ContainerStatus::can_transition_to`]). The enum is
//! also the persisted format. [`BackendStatus`] is the coarser status the control plane is told, and
//! [`ReportedStatus`] that member as a request carries it (open: the ECS model says string);
//! [`DesiredStatus`] is what ACS asks for; [`HealthStatus`] is a container's health.
//!
//! This module must not decide *when* a transition happens (that is the agent's task engine); it only
//! says which transitions are possible and how each status is spelled and reported.

use serde::{Deserialize, Serialize};

use crate::types::open_enum;

/// A container's known status. Declaration order is lifecycle order: a container only moves forward.
///
/// `ZOMBIE` is the reference agent's "impossible" maximum, never reached in practice. On input the
/// reference agent's legacy spellings are accepted too: `UNKNOWN` means `NONE`, `DEAD` means `STOPPED`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerStatus {
    /// Received, nothing done yet.
    #[default]
    #[serde(alias = "UNKNOWN")]
    None,
    /// Image manifest digest resolved.
    ManifestPulled,
    /// Image pulled.
    Pulled,
    /// Docker container created.
    Created,
    /// Docker container started.
    Running,
    /// Started and all its resources set up: the steady state of internal containers such as the
    /// awsvpc pause container.
    ResourcesProvisioned,
    /// Exited or stopped.
    #[serde(alias = "DEAD")]
    Stopped,
    /// The impossible maximum.
    Zombie,
}

impl ContainerStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 8] = [
        Self::None,
        Self::ManifestPulled,
        Self::Pulled,
        Self::Created,
        Self::Running,
        Self::ResourcesProvisioned,
        Self::Stopped,
        Self::Zombie,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::ManifestPulled => "MANIFEST_PULLED",
            Self::Pulled => "PULLED",
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::ResourcesProvisioned => "RESOURCES_PROVISIONED",
            Self::Stopped => "STOPPED",
            Self::Zombie => "ZOMBIE",
        }
    }

    /// Whether a container known to be in `self` may next be known to be in `next`.
    ///
    /// Known status only moves forward, and may skip steps (a task stopped before its image was pulled
    /// goes straight from `NONE` to `STOPPED`; a container adopted after a restart may jump to
    /// `RUNNING`). Staying put is not a transition.
    pub fn can_transition_to(self, next: Self) -> bool {
        next > self
    }

    /// `STOPPED` (or beyond): the container will never run again.
    pub fn is_terminal(self) -> bool {
        self >= Self::Stopped
    }

    /// The status the control plane is told, given the container's steady state (`RUNNING`, or
    /// `RESOURCES_PROVISIONED` for internal containers): the steady state reports `RUNNING`,
    /// `STOPPED` reports `STOPPED`, anything else `PENDING`.
    pub fn backend_status(self, steady_state: Self) -> BackendStatus {
        if self == steady_state {
            BackendStatus::Running
        } else if self == Self::Stopped {
            BackendStatus::Stopped
        } else {
            BackendStatus::Pending
        }
    }
}

impl std::fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's known status. Declaration order is lifecycle order: a task only moves forward.
///
/// Legacy input spellings as for [`ContainerStatus`]: `UNKNOWN` means `NONE`, `DEAD` means `STOPPED`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Received, nothing done yet.
    #[default]
    #[serde(alias = "UNKNOWN")]
    None,
    /// Every container's image manifest resolved.
    ManifestPulled,
    /// Every container's image pulled.
    Pulled,
    /// Every container created.
    Created,
    /// Every container in its steady state.
    Running,
    /// Every container stopped.
    #[serde(alias = "DEAD")]
    Stopped,
    /// The impossible maximum.
    Zombie,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 7] = [
        Self::None,
        Self::ManifestPulled,
        Self::Pulled,
        Self::Created,
        Self::Running,
        Self::Stopped,
        Self::Zombie,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::ManifestPulled => "MANIFEST_PULLED",
            Self::Pulled => "PULLED",
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::Stopped => "STOPPED",
            Self::Zombie => "ZOMBIE",
        }
    }

    /// Whether a task known to be in `self` may next be known to be in `next`: forward only, steps may
    /// be skipped, staying put is not a transition.
    pub fn can_transition_to(self, next: Self) -> bool {
        next > self
    }

    /// `STOPPED` (or beyond): the task will never run again.
    pub fn is_terminal(self) -> bool {
        self >= Self::Stopped
    }

    /// The status the control plane is told: `RUNNING` and `STOPPED` as they are, anything else
    /// `PENDING`.
    pub fn backend_status(self) -> BackendStatus {
        match self {
            Self::Running => BackendStatus::Running,
            Self::Stopped => BackendStatus::Stopped,
            Self::None | Self::ManifestPulled | Self::Pulled | Self::Created | Self::Zombie => {
                BackendStatus::Pending
            }
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a task or container as reported to the control plane (`status` of
/// SubmitTaskStateChange and of each container in it), and as the ECS API shows `lastStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackendStatus {
    Pending,
    Running,
    Stopped,
}

impl BackendStatus {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Stopped => "STOPPED",
        }
    }
}

open_enum! {
    /// A `status` as a state change request carries it: SubmitTaskStateChange, each of its container
    /// changes, SubmitContainerStateChange. The ECS model types these members as plain strings, so a
    /// request with another value still decodes and the server decides what it means (ECS refuses
    /// an odd task status). Agents send a [`BackendStatus`].
    pub enum ReportedStatus {
        Pending => "PENDING",
        Running => "RUNNING",
        Stopped => "STOPPED",
    }
}

impl From<BackendStatus> for ReportedStatus {
    fn from(status: BackendStatus) -> Self {
        match status {
            BackendStatus::Pending => Self::Pending,
            BackendStatus::Running => Self::Running,
            BackendStatus::Stopped => Self::Stopped,
        }
    }
}

impl ReportedStatus {
    /// The [`BackendStatus`] this is, if it is one.
    pub fn backend(&self) -> Option<BackendStatus> {
        match self {
            Self::Pending => Some(BackendStatus::Pending),
            Self::Running => Some(BackendStatus::Running),
            Self::Stopped => Some(BackendStatus::Stopped),
            Self::Unknown(_) => None,
        }
    }
}

open_enum! {
    /// What ACS wants a task to become (`desiredStatus`): `RUNNING` or `STOPPED`. Open, because the
    /// reference model types it as a plain string and an odd value must fail one task, not a payload.
    pub enum DesiredStatus {
        Running => "RUNNING",
        Stopped => "STOPPED",
    }
}

/// Why a task stopped, as ECS says it (`TaskStopCode` of the ECS model: DescribeTasks'
/// `stopCode`). ECS sets it, never the agent: from who asked for the stop (a user, the service
/// scheduler, a Spot interruption or termination notice) or, when the agent reports a stop nobody
/// asked for, from the containers (an essential container that ran and exited, or a task that
/// never started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StopCode {
    TaskFailedToStart,
    EssentialContainerExited,
    UserInitiated,
    ServiceSchedulerInitiated,
    SpotInterruption,
    TerminationNotice,
}

impl StopCode {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TaskFailedToStart => "TaskFailedToStart",
            Self::EssentialContainerExited => "EssentialContainerExited",
            Self::UserInitiated => "UserInitiated",
            Self::ServiceSchedulerInitiated => "ServiceSchedulerInitiated",
            Self::SpotInterruption => "SpotInterruption",
            Self::TerminationNotice => "TerminationNotice",
        }
    }
}

impl std::fmt::Display for StopCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container's health as Docker's health check reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// No result yet, or no health check.
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stop_codes_are_ecs_task_stop_codes() {
        for code in [
            StopCode::TaskFailedToStart,
            StopCode::EssentialContainerExited,
            StopCode::UserInitiated,
            StopCode::ServiceSchedulerInitiated,
            StopCode::SpotInterruption,
            StopCode::TerminationNotice,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
            assert_eq!(code.to_string(), code.as_str());
        }
    }

    #[test]
    fn container_statuses_use_the_reference_wire_strings() {
        let wire: Vec<_> = ContainerStatus::ALL
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        assert_eq!(
            wire,
            [
                "NONE",
                "MANIFEST_PULLED",
                "PULLED",
                "CREATED",
                "RUNNING",
                "RESOURCES_PROVISIONED",
                "STOPPED",
                "ZOMBIE"
            ]
        );
        for status in ContainerStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
            assert_eq!(status.to_string(), status.as_str());
        }
    }

    #[test]
    fn task_statuses_use_the_reference_wire_strings() {
        for status in TaskStatus::ALL {
            let wire = serde_json::to_value(status).unwrap();
            assert_eq!(wire, json!(status.as_str()));
            assert_eq!(serde_json::from_value::<TaskStatus>(wire).unwrap(), status);
        }
    }

    #[test]
    fn legacy_spellings_are_accepted_on_input() {
        let none: ContainerStatus = serde_json::from_value(json!("UNKNOWN")).unwrap();
        let dead: ContainerStatus = serde_json::from_value(json!("DEAD")).unwrap();
        assert_eq!(
            (none, dead),
            (ContainerStatus::None, ContainerStatus::Stopped)
        );
        let dead: TaskStatus = serde_json::from_value(json!("DEAD")).unwrap();
        assert_eq!(dead, TaskStatus::Stopped);
        assert!(serde_json::from_value::<ContainerStatus>(json!("running")).is_err());
    }

    #[test]
    fn every_forward_transition_is_allowed() {
        for (i, from) in ContainerStatus::ALL.iter().enumerate() {
            for to in &ContainerStatus::ALL[i + 1..] {
                assert!(from.can_transition_to(*to), "{from} -> {to}");
            }
        }
        for (i, from) in TaskStatus::ALL.iter().enumerate() {
            for to in &TaskStatus::ALL[i + 1..] {
                assert!(from.can_transition_to(*to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn container_backend_status_follows_the_steady_state() {
        use ContainerStatus as C;
        assert_eq!(
            C::Running.backend_status(C::Running),
            BackendStatus::Running
        );
        assert_eq!(
            C::Running.backend_status(C::ResourcesProvisioned),
            BackendStatus::Pending
        );
        assert_eq!(
            C::ResourcesProvisioned.backend_status(C::ResourcesProvisioned),
            BackendStatus::Running
        );
        assert_eq!(
            C::Stopped.backend_status(C::Running),
            BackendStatus::Stopped
        );
        assert_eq!(
            C::ManifestPulled.backend_status(C::Running),
            BackendStatus::Pending
        );
    }

    #[test]
    fn task_backend_status_collapses_to_pending() {
        use TaskStatus as T;
        let reported: Vec<_> = T::ALL.iter().map(|s| s.backend_status().as_str()).collect();
        assert_eq!(
            reported,
            [
                "PENDING", "PENDING", "PENDING", "PENDING", "RUNNING", "STOPPED", "PENDING"
            ]
        );
    }

    #[test]
    fn terminal_statuses() {
        assert!(ContainerStatus::Stopped.is_terminal());
        assert!(!ContainerStatus::ResourcesProvisioned.is_terminal());
        assert!(TaskStatus::Stopped.is_terminal());
        assert!(!TaskStatus::Running.is_terminal());
    }

    #[test]
    fn desired_and_health_statuses_use_wire_strings() {
        assert_eq!(DesiredStatus::from("STOPPED"), DesiredStatus::Stopped);
        assert_eq!(
            serde_json::to_value(HealthStatus::Unhealthy).unwrap(),
            json!("UNHEALTHY")
        );
        assert_eq!(HealthStatus::default(), HealthStatus::Unknown);
        assert_eq!(
            serde_json::to_value(BackendStatus::Pending).unwrap(),
            json!("PENDING")
        );
    }

    /// One test per illegal transition (style point 9): every step backwards, and staying put.
    macro_rules! illegal {
        ($kind:ident: $($test:ident: $from:ident -> $to:ident;)+) => {
            $(
                #[test]
                fn $test() {
                    assert!(!$kind::$from.can_transition_to($kind::$to));
                }
            )+
        };
    }

    illegal! { ContainerStatus:
        container_none_to_none: None -> None;
        container_manifest_pulled_to_none: ManifestPulled -> None;
        container_manifest_pulled_to_manifest_pulled: ManifestPulled -> ManifestPulled;
        container_pulled_to_none: Pulled -> None;
        container_pulled_to_manifest_pulled: Pulled -> ManifestPulled;
        container_pulled_to_pulled: Pulled -> Pulled;
        container_created_to_none: Created -> None;
        container_created_to_manifest_pulled: Created -> ManifestPulled;
        container_created_to_pulled: Created -> Pulled;
        container_created_to_created: Created -> Created;
        container_running_to_none: Running -> None;
        container_running_to_manifest_pulled: Running -> ManifestPulled;
        container_running_to_pulled: Running -> Pulled;
        container_running_to_created: Running -> Created;
        container_running_to_running: Running -> Running;
        container_resources_provisioned_to_none: ResourcesProvisioned -> None;
        container_resources_provisioned_to_manifest_pulled: ResourcesProvisioned -> ManifestPulled;
        container_resources_provisioned_to_pulled: ResourcesProvisioned -> Pulled;
        container_resources_provisioned_to_created: ResourcesProvisioned -> Created;
        container_resources_provisioned_to_running: ResourcesProvisioned -> Running;
        container_resources_provisioned_to_resources_provisioned:
            ResourcesProvisioned -> ResourcesProvisioned;
        container_stopped_to_none: Stopped -> None;
        container_stopped_to_manifest_pulled: Stopped -> ManifestPulled;
        container_stopped_to_pulled: Stopped -> Pulled;
        container_stopped_to_created: Stopped -> Created;
        container_stopped_to_running: Stopped -> Running;
        container_stopped_to_resources_provisioned: Stopped -> ResourcesProvisioned;
        container_stopped_to_stopped: Stopped -> Stopped;
        container_zombie_to_none: Zombie -> None;
        container_zombie_to_manifest_pulled: Zombie -> ManifestPulled;
        container_zombie_to_pulled: Zombie -> Pulled;
        container_zombie_to_created: Zombie -> Created;
        container_zombie_to_running: Zombie -> Running;
        container_zombie_to_resources_provisioned: Zombie -> ResourcesProvisioned;
        container_zombie_to_stopped: Zombie -> Stopped;
        container_zombie_to_zombie: Zombie -> Zombie;
    }

    illegal! { TaskStatus:
        task_none_to_none: None -> None;
        task_manifest_pulled_to_none: ManifestPulled -> None;
        task_manifest_pulled_to_manifest_pulled: ManifestPulled -> ManifestPulled;
        task_pulled_to_none: Pulled -> None;
        task_pulled_to_manifest_pulled: Pulled -> ManifestPulled;
        task_pulled_to_pulled: Pulled -> Pulled;
        task_created_to_none: Created -> None;
        task_created_to_manifest_pulled: Created -> ManifestPulled;
        task_created_to_pulled: Created -> Pulled;
        task_created_to_created: Created -> Created;
        task_running_to_none: Running -> None;
        task_running_to_manifest_pulled: Running -> ManifestPulled;
        task_running_to_pulled: Running -> Pulled;
        task_running_to_created: Running -> Created;
        task_running_to_running: Running -> Running;
        task_stopped_to_none: Stopped -> None;
        task_stopped_to_manifest_pulled: Stopped -> ManifestPulled;
        task_stopped_to_pulled: Stopped -> Pulled;
        task_stopped_to_created: Stopped -> Created;
        task_stopped_to_running: Stopped -> Running;
        task_stopped_to_stopped: Stopped -> Stopped;
        task_zombie_to_none: Zombie -> None;
        task_zombie_to_manifest_pulled: Zombie -> ManifestPulled;
        task_zombie_to_pulled: Zombie -> Pulled;
        task_zombie_to_created: Zombie -> Created;
        task_zombie_to_running: Zombie -> Running;
        task_zombie_to_stopped: Zombie -> Stopped;
        task_zombie_to_zombie: Zombie -> Zombie;
    }
}
