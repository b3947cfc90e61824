//! SubmitTaskStateChange: the mapping of a [`TaskStateChange`] (made by
//! `TaskRecord::state_change`) to the SDK request (section 4.5), with ECS's length limits. Mapping
//! is pure; sending is [`super::EcsApi::submit_task_state_change`].

use std::time::SystemTime;

use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types as sdk;
use ecs_protocol::{BackendStatus, TransportProtocol};

use crate::state_change::{ContainerChange, NetworkBinding, TaskStateChange};

/// ECS's limit on `reason` (task and container).
const MAX_REASON_CHARS: usize = 1024;
/// ECS's limit on `runtimeId` and `imageDigest`.
const MAX_ID_CHARS: usize = 255;

/// At most `max` characters of `text`.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

fn sdk_status(status: BackendStatus) -> &'static str {
    status.as_str()
}

fn sdk_protocol(protocol: &TransportProtocol) -> sdk::TransportProtocol {
    sdk::TransportProtocol::from(protocol.as_str())
}

impl NetworkBinding {
    fn to_sdk(&self) -> sdk::NetworkBinding {
        sdk::NetworkBinding::builder()
            .bind_ip(&self.bind_ip)
            .container_port(i32::from(self.container_port))
            .host_port(i32::from(self.host_port))
            .protocol(sdk_protocol(&self.protocol))
            .build()
    }
}

impl ContainerChange {
    /// The SDK's `ContainerStateChange`.
    pub(crate) fn to_sdk(&self) -> sdk::ContainerStateChange {
        let bindings = if self.network_bindings.is_empty() {
            None
        } else {
            Some(
                self.network_bindings
                    .iter()
                    .map(NetworkBinding::to_sdk)
                    .collect(),
            )
        };
        sdk::ContainerStateChange::builder()
            .container_name(&self.name)
            .set_runtime_id(self.runtime_id.as_deref().map(|s| cut(s, MAX_ID_CHARS)))
            .set_image_digest(self.image_digest.as_deref().map(|s| cut(s, MAX_ID_CHARS)))
            .status(sdk_status(self.status))
            .set_exit_code(self.exit_code)
            .set_reason(self.reason.as_deref().map(|s| cut(s, MAX_REASON_CHARS)))
            .set_network_bindings(bindings)
            .build()
    }
}

impl TaskStateChange {
    /// The reason as sent: cut to ECS's limit, `""` when there is none.
    pub(crate) fn wire_reason(&self) -> String {
        cut(self.reason.as_deref().unwrap_or_default(), MAX_REASON_CHARS)
    }

    /// The containers as the SDK takes them (`None` when there are none).
    pub(crate) fn sdk_containers(&self) -> Option<Vec<sdk::ContainerStateChange>> {
        if self.containers.is_empty() {
            None
        } else {
            Some(
                self.containers
                    .iter()
                    .map(ContainerChange::to_sdk)
                    .collect(),
            )
        }
    }

    /// A timestamp as the SDK takes it.
    pub(crate) fn sdk_time(t: Option<SystemTime>) -> Option<DateTime> {
        t.map(DateTime::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> ContainerChange {
        ContainerChange {
            name: "web".into(),
            runtime_id: Some("abc".into()),
            status: BackendStatus::Running,
            exit_code: None,
            reason: None,
            network_bindings: vec![NetworkBinding {
                container_port: 8080,
                host_port: 32768,
                protocol: TransportProtocol::Tcp,
                bind_ip: "0.0.0.0".into(),
            }],
            image_digest: Some("sha256:00".into()),
        }
    }

    #[test]
    fn container_change_maps_every_field() {
        let c = change().to_sdk();
        assert_eq!(c.container_name(), Some("web"));
        assert_eq!(c.runtime_id(), Some("abc"));
        assert_eq!(c.status(), Some("RUNNING"));
        assert_eq!(c.image_digest(), Some("sha256:00"));
        assert_eq!(c.exit_code(), None);
        let b = &c.network_bindings()[0];
        assert_eq!(b.container_port(), Some(8080));
        assert_eq!(b.host_port(), Some(32768));
        assert_eq!(b.bind_ip(), Some("0.0.0.0"));
        assert_eq!(b.protocol(), Some(&sdk::TransportProtocol::Tcp));
    }

    #[test]
    fn long_reasons_are_cut_to_ecs_limits() {
        let mut c = change();
        c.reason = Some("é".repeat(2000));
        c.runtime_id = Some("x".repeat(300));
        let s = c.to_sdk();
        assert_eq!(s.reason().map(|r| r.chars().count()), Some(1024));
        assert_eq!(s.runtime_id().map(str::len), Some(255));
    }

    #[test]
    fn task_reason_defaults_to_empty() {
        let t = TaskStateChange {
            cluster: "default".into(),
            task_arn: "arn:t".into(),
            status: BackendStatus::Stopped,
            reason: None,
            containers: vec![],
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
        };
        assert_eq!(t.wire_reason(), "");
        assert!(t.sdk_containers().is_none());
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_317_327_066);
        assert_eq!(
            TaskStateChange::sdk_time(Some(at)).map(|d| d.as_secs_f64()),
            Some(1_795_317_327.066)
        );
    }
}
