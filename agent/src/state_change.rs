//! A task's state change as SubmitTaskStateChange carries it ([`TaskStateChange`], containers
//! folded in), and the one conversion that makes it from what the agent tracks
//! ([`TaskRecord::state_change`]). The SDK mapping and ECS's length limits are
//! [`crate::control`]'s; this module depends only on the records ([`crate::state`]).

use std::net::IpAddr;
use std::time::SystemTime;

use ecs_protocol::{BackendStatus, ContainerStatus, TransportProtocol};

use crate::runtime::Protocol;
use crate::state::{ContainerRecord, TaskRecord};

/// A task's status change with its containers' changes folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskStateChange {
    /// The task's cluster (ARN or name).
    pub cluster: String,
    /// The task ARN.
    pub task_arn: String,
    /// `PENDING`, `RUNNING` or `STOPPED`.
    pub status: BackendStatus,
    /// Why (sent as `""` when `None`, as the reference agent does). Cut to 1024 characters.
    pub reason: Option<String>,
    /// Container changes reported with this task change.
    pub containers: Vec<ContainerChange>,
    /// When the first image pull started.
    pub pull_started_at: Option<SystemTime>,
    /// When the last image pull ended.
    pub pull_stopped_at: Option<SystemTime>,
    /// When the task's containers stopped.
    pub execution_stopped_at: Option<SystemTime>,
}

/// One container's status change.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerChange {
    /// The container name from the task definition.
    pub name: String,
    /// The Docker container id, once created.
    pub runtime_id: Option<String>,
    /// `PENDING`, `RUNNING` or `STOPPED`.
    pub status: BackendStatus,
    /// The exit code, once stopped.
    pub exit_code: Option<i32>,
    /// Why, e.g. `CannotPullContainerError: ...`. Cut to 1024 characters.
    pub reason: Option<String>,
    /// Published ports.
    pub network_bindings: Vec<NetworkBinding>,
    /// The image's resolved digest.
    pub image_digest: Option<String>,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkBinding {
    /// Port inside the container.
    pub container_port: u16,
    /// Port on the host.
    pub host_port: u16,
    /// `tcp` or `udp`.
    pub protocol: TransportProtocol,
    /// Host address bound, e.g. `0.0.0.0`.
    pub bind_ip: String,
}

/// Which of Docker's bindings a report leaves out, as the reference's ECS client options do
/// (`WithIPv4PortBindingExcluded`, `WithIPv6PortBindingExcluded`): Docker binds a published port
/// on `0.0.0.0` and, on a host with IPv6, on `::`, and reports each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindingFilter {
    /// Leave out `0.0.0.0` bindings: the instance is IPv6-only, where IPv4 is assumed not to
    /// reach it (`ECS_INSTANCE_IP_COMPATIBILITY=ipv6`, set or detected).
    pub exclude_ipv4: bool,
    /// Leave out `::` bindings (`ECS_EXCLUDE_IPV6_PORTBINDING`).
    pub exclude_ipv6: bool,
}

impl BindingFilter {
    /// As the configuration says.
    pub fn from_config(config: &ecs_config::Config) -> Self {
        Self {
            exclude_ipv4: config.ipv6_only(),
            exclude_ipv6: config.exclude_ipv6_portbinding.value,
        }
    }

    /// Whether a binding to `ip` is reported. Only the any-addresses are ever left out, as in the
    /// reference (a port published on one address is always reported).
    pub fn keeps(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => !(self.exclude_ipv4 && v4.is_unspecified()),
            IpAddr::V6(v6) => !(self.exclude_ipv6 && v6.is_unspecified()),
        }
    }
}

impl TaskRecord {
    /// This task's state change to report: the backend status of its known status, its reason and
    /// timestamps, and every container's change with the bindings `filter` keeps. The cluster is
    /// `cluster`, the configured one (`ECS_CLUSTER`, a name or an ARN as written), as the
    /// reference sends it, not the task's cluster ARN from ACS; ECS takes either.
    pub fn state_change(&self, cluster: &str, filter: BindingFilter) -> TaskStateChange {
        TaskStateChange {
            cluster: cluster.to_string(),
            task_arn: self.arn().to_string(),
            status: self.known.backend_status(),
            reason: self.reason.clone(),
            containers: self.containers.iter().map(|c| c.change(filter)).collect(),
            pull_started_at: self.pull_started_at,
            pull_stopped_at: self.pull_stopped_at,
            execution_stopped_at: self.execution_stopped_at,
        }
    }
}

impl ContainerRecord {
    /// This container's change, as reported with its task's: its bindings but those `filter`
    /// leaves out.
    pub fn change(&self, filter: BindingFilter) -> ContainerChange {
        ContainerChange {
            name: self.name.clone(),
            runtime_id: self.docker_id.clone(),
            status: self.known.backend_status(ContainerStatus::Running),
            exit_code: self.exit_code.and_then(|e| i32::try_from(e).ok()),
            reason: self.reason.clone(),
            network_bindings: self
                .ports
                .iter()
                .filter(|p| filter.keeps(p.bind_ip()))
                .map(|p| NetworkBinding {
                    container_port: p.container_port,
                    host_port: p.host_port,
                    protocol: match p.protocol {
                        Protocol::Tcp => TransportProtocol::Tcp,
                        Protocol::Udp => TransportProtocol::Udp,
                    },
                    bind_ip: p.bind_ip().to_string(),
                })
                .collect(),
            image_digest: self.image_digest.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_protocol::TaskStatus;

    use crate::runtime::PortSpec;

    fn record(cluster_arn: Option<&str>) -> TaskRecord {
        let mut task: ecs_protocol::acs::Task = serde_json::from_value(serde_json::json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
            "family": "web", "version": "1", "desiredStatus": "RUNNING", "containers": []
        }))
        .unwrap();
        task.task_cluster_arn = cluster_arn.map(Into::into);
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5);
        TaskRecord {
            task,
            desired_stopped: true,
            known: TaskStatus::Stopped,
            sent: None,
            containers: vec![ContainerRecord {
                name: "web".into(),
                docker_name: Some("ecs-web-1-web-0123".into()),
                docker_id: Some("abc123".into()),
                known: ContainerStatus::Stopped,
                exit_code: Some(137),
                reason: Some("OutOfMemoryError: Container killed due to memory usage".into()),
                ports: vec![PortSpec {
                    container_port: 8080,
                    host_port: 40001,
                    protocol: Protocol::Udp,
                    host_ip: None,
                }],
                image_digest: Some("sha256:00".into()),
                health: Some("HEALTHY".into()),
                started_at: None,
                restart_count: 0,
                last_restart_at: None,
                health_since: None,
            }],
            reason: Some("Essential container in task exited".into()),
            pull_started_at: Some(at),
            pull_stopped_at: Some(at),
            execution_stopped_at: Some(at),
            stopped_at: Some(at),
            resources: Default::default(),
        }
    }

    #[test]
    fn a_record_becomes_its_state_change() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5);
        let change = record(Some("arn:aws:ecs:us-east-1:123456789012:cluster/c"))
            .state_change("c", BindingFilter::default());
        assert_eq!(
            change,
            TaskStateChange {
                cluster: "c".into(),
                task_arn: "arn:aws:ecs:us-east-1:123456789012:task/c/abc".into(),
                status: BackendStatus::Stopped,
                reason: Some("Essential container in task exited".into()),
                containers: vec![ContainerChange {
                    name: "web".into(),
                    runtime_id: Some("abc123".into()),
                    status: BackendStatus::Stopped,
                    exit_code: Some(137),
                    reason: Some("OutOfMemoryError: Container killed due to memory usage".into()),
                    network_bindings: vec![NetworkBinding {
                        container_port: 8080,
                        host_port: 40001,
                        protocol: TransportProtocol::Udp,
                        bind_ip: "0.0.0.0".into(),
                    }],
                    image_digest: Some("sha256:00".into()),
                }],
                pull_started_at: Some(at),
                pull_stopped_at: Some(at),
                execution_stopped_at: Some(at),
            }
        );
    }

    /// Bindings as Docker reports a port published on every address of a dual-stack host, one
    /// bound on a single address, and one from a record written before addresses were kept.
    fn bindings(filter: BindingFilter) -> Vec<(u16, String)> {
        let mut r = record(None);
        let port = |host_port, host_ip: Option<&str>| PortSpec {
            container_port: 80,
            host_port,
            protocol: Protocol::Tcp,
            host_ip: host_ip.map(|ip| ip.parse().unwrap()),
        };
        r.containers[0].ports = vec![
            port(40001, Some("0.0.0.0")),
            port(40001, Some("::")),
            port(40002, Some("127.0.0.1")),
            port(40003, Some("::1")),
            port(40004, None),
        ];
        r.state_change("c", filter).containers[0]
            .network_bindings
            .iter()
            .map(|b| (b.host_port, b.bind_ip.clone()))
            .collect()
    }

    #[test]
    fn ipv6_any_bindings_are_left_out_unless_asked_for() {
        let v = |list: &[(u16, &str)]| -> Vec<(u16, String)> {
            list.iter().map(|(p, ip)| (*p, ip.to_string())).collect()
        };
        // ECS_EXCLUDE_IPV6_PORTBINDING=true (the default).
        assert_eq!(
            bindings(BindingFilter {
                exclude_ipv4: false,
                exclude_ipv6: true
            }),
            v(&[
                (40001, "0.0.0.0"),
                (40002, "127.0.0.1"),
                (40003, "::1"),
                (40004, "0.0.0.0")
            ])
        );
        // ECS_EXCLUDE_IPV6_PORTBINDING=false: everything Docker reported.
        assert_eq!(
            bindings(BindingFilter::default()),
            v(&[
                (40001, "0.0.0.0"),
                (40001, "::"),
                (40002, "127.0.0.1"),
                (40003, "::1"),
                (40004, "0.0.0.0")
            ])
        );
        // IPv6-only (its default keeps ::): the IPv4 any-address is left out instead.
        assert_eq!(
            bindings(BindingFilter {
                exclude_ipv4: true,
                exclude_ipv6: false
            }),
            v(&[(40001, "::"), (40002, "127.0.0.1"), (40003, "::1")])
        );
    }

    #[test]
    fn the_filter_follows_the_configuration() {
        let config = |env: &[(&str, &str)]| {
            let sources = ecs_config::Sources::from_env(env);
            BindingFilter::from_config(&ecs_config::load(&sources).config)
        };
        assert_eq!(
            config(&[]),
            BindingFilter {
                exclude_ipv4: false,
                exclude_ipv6: true
            }
        );
        assert_eq!(
            config(&[("ECS_EXCLUDE_IPV6_PORTBINDING", "false")]),
            BindingFilter::default()
        );
        assert_eq!(
            config(&[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6")]),
            BindingFilter {
                exclude_ipv4: true,
                exclude_ipv6: false
            }
        );
        assert_eq!(
            config(&[
                ("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6"),
                ("ECS_EXCLUDE_IPV6_PORTBINDING", "true")
            ]),
            BindingFilter {
                exclude_ipv4: true,
                exclude_ipv6: true
            }
        );
    }

    #[test]
    fn the_configured_cluster_is_sent_whatever_acs_said() {
        assert_eq!(
            record(None)
                .state_change("default", BindingFilter::default())
                .cluster,
            "default"
        );
        assert_eq!(
            record(Some("arn:aws:ecs:us-east-1:123456789012:cluster/c"))
                .state_change("c", BindingFilter::default())
                .cluster,
            "c"
        );
    }
}
