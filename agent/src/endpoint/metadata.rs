//! Task metadata v3 and v4 response shapes (reference section 6), built from the engine's task
//! record and Docker's inspect result. Pure: the server fetches the inputs.
//!
//! What is not filled yet: `AvailabilityZone` (no instance metadata here), awsvpc network fields,
//! `ClockDrift` and `EphemeralStorageMetrics`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::control::TagsError;
use crate::runtime::{ContainerInfo, Protocol};
use crate::state::{ContainerRecord, TaskRecord};

/// Which version's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `/v3/...`.
    V3,
    /// `/v4/...`.
    V4,
}

/// Go's RFC 3339 with nanoseconds, as the reference marshals `time.Time`.
pub fn timestamp(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What the task-level response needs besides the record.
#[derive(Debug, Clone)]
pub struct TaskContext<'a> {
    /// `Cluster` (the configured cluster, as the reference reports it).
    pub cluster: &'a str,
    /// `LaunchType`: `EC2` or `EXTERNAL`.
    pub launch_type: &'a str,
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v);
    }
}

/// The container response.
pub fn container_response(
    version: Version,
    task: &TaskRecord,
    index: usize,
    info: Option<&ContainerInfo>,
) -> Value {
    let c: &ContainerRecord = &task.containers[index];
    let def = task
        .task
        .containers
        .as_ref()
        .and_then(|cs| cs.get(index))
        .cloned()
        .unwrap_or_default();
    let mut m = Map::new();
    m.insert(
        "DockerId".into(),
        json!(c.docker_id.clone().unwrap_or_default()),
    );
    m.insert("Name".into(), json!(c.name));
    m.insert(
        "DockerName".into(),
        json!(c.docker_name.clone().unwrap_or_default()),
    );
    m.insert("Image".into(), json!(def.image.clone().unwrap_or_default()));
    put(
        &mut m,
        "ImageID",
        info.map(|i| json!(i.image_id)).filter(|v| v != ""),
    );
    if !c.ports.is_empty() {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|p| {
                json!({
                    "ContainerPort": p.container_port,
                    "Protocol": match p.protocol { Protocol::Tcp => "tcp", Protocol::Udp => "udp" },
                    "HostPort": p.host_port,
                    "HostIp": p.bind_ip().to_string(),
                })
            })
            .collect();
        m.insert("Ports".into(), Value::Array(ports));
    }
    let labels: BTreeMap<String, String> = info.map(|i| i.labels.clone()).unwrap_or_default();
    m.insert("Labels".into(), json!(labels));
    m.insert(
        "DesiredStatus".into(),
        json!(if task.desired_stopped {
            "STOPPED"
        } else {
            "RUNNING"
        }),
    );
    m.insert("KnownStatus".into(), json!(c.known.as_str()));
    put(&mut m, "ExitCode", c.exit_code.map(|e| json!(e)));
    m.insert(
        "Limits".into(),
        json!({ "CPU": def.cpu.unwrap_or(0), "Memory": def.memory.unwrap_or(0) }),
    );
    m.insert("Type".into(), json!("NORMAL"));
    let network_mode = task
        .task
        .network_mode
        .as_ref()
        .map_or("bridge", |n| n.as_str());
    let addresses = info.map(|i| i.ipv4_addresses.clone()).unwrap_or_default();
    m.insert(
        "Networks".into(),
        json!([{ "NetworkMode": network_mode, "IPv4Addresses": addresses }]),
    );
    put(
        &mut m,
        "Health",
        c.health.as_ref().map(|h| json!({ "status": h })),
    );
    if version == Version::V4 {
        put(
            &mut m,
            "ContainerARN",
            def.container_arn.clone().map(|a| json!(a)),
        );
        m.insert("Snapshotter".into(), json!("overlayfs"));
        m.insert("RestartCount".into(), json!(c.restart_count));
    }
    Value::Object(m)
}

/// The tags of `taskWithTags`: each ListTagsForResource answer, by ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLookup {
    /// The container instance's ARN and its tags.
    pub instance: (String, Result<BTreeMap<String, String>, TagsError>),
    /// The task's ARN and its tags.
    pub task: (String, Result<BTreeMap<String, String>, TagsError>),
}

/// `ContainerInstanceTags` and `TaskTags`, or for each lookup that failed an `Errors` entry (v4
/// only; v3 leaves the field out, as the reference does).
fn put_tags(m: &mut Map<String, Value>, version: Version, tags: &TagLookup) {
    let mut errors = Vec::new();
    for (field, (arn, result)) in [
        ("ContainerInstanceTags", &tags.instance),
        ("TaskTags", &tags.task),
    ] {
        match result {
            Ok(map) => {
                m.insert(field.into(), json!(map));
            }
            Err(e) => {
                let mut err = Map::new();
                err.insert("ErrorField".into(), json!(field));
                put(&mut err, "ErrorCode", e.code.as_ref().map(|c| json!(c)));
                err.insert("ErrorMessage".into(), json!(e.message));
                put(&mut err, "StatusCode", e.status.map(|s| json!(s)));
                put(
                    &mut err,
                    "RequestId",
                    e.request_id.as_ref().map(|r| json!(r)),
                );
                err.insert("ResourceARN".into(), json!(arn));
                errors.push(Value::Object(err));
            }
        }
    }
    if version == Version::V4 && !errors.is_empty() {
        m.insert("Errors".into(), Value::Array(errors));
    }
}

/// The task response, with `containers` (already built) as `Containers`, and the tags of
/// `taskWithTags` when given.
pub fn task_response(
    version: Version,
    task: &TaskRecord,
    ctx: &TaskContext<'_>,
    containers: Vec<Value>,
    tags: Option<&TagLookup>,
) -> Value {
    let mut m = Map::new();
    m.insert("Cluster".into(), json!(ctx.cluster));
    m.insert("TaskARN".into(), json!(task.arn()));
    m.insert(
        "Family".into(),
        json!(task.task.family.clone().unwrap_or_default()),
    );
    m.insert(
        "Revision".into(),
        json!(task.task.version.clone().unwrap_or_default()),
    );
    m.insert(
        "DesiredStatus".into(),
        json!(if task.desired_stopped {
            "STOPPED"
        } else {
            "RUNNING"
        }),
    );
    m.insert("KnownStatus".into(), json!(task.known.as_str()));
    m.insert("Containers".into(), Value::Array(containers));
    let mut limits = Map::new();
    put(&mut limits, "CPU", task.task.cpu.map(|c| json!(c)));
    put(&mut limits, "Memory", task.task.memory.map(|m| json!(m)));
    if !limits.is_empty() {
        m.insert("Limits".into(), Value::Object(limits));
    }
    put(
        &mut m,
        "PullStartedAt",
        task.pull_started_at.map(|t| json!(timestamp(t))),
    );
    put(
        &mut m,
        "PullStoppedAt",
        task.pull_stopped_at.map(|t| json!(timestamp(t))),
    );
    put(
        &mut m,
        "ExecutionStoppedAt",
        task.execution_stopped_at.map(|t| json!(timestamp(t))),
    );
    m.insert("LaunchType".into(), json!(ctx.launch_type));
    if let Some(tags) = tags {
        put_tags(&mut m, version, tags);
    }
    if version == Version::V4 {
        m.insert("FaultInjectionEnabled".into(), json!(false));
    }
    Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ecs_protocol::acs::{Container, Task};
    use ecs_protocol::status::{ContainerStatus, TaskStatus};

    fn record() -> TaskRecord {
        TaskRecord {
            task: Task {
                arn: Some("arn:aws:ecs:us-east-1:1:task/c/t1".into()),
                family: Some("web".into()),
                version: Some("3".into()),
                containers: Some(vec![Container {
                    name: Some("app".into()),
                    image: Some("127.0.0.1:5000/app:1".into()),
                    cpu: Some(128),
                    memory: Some(64),
                    ..Container::default()
                }]),
                ..Task::default()
            },
            desired_stopped: false,
            known: TaskStatus::Running,
            sent: None,
            containers: vec![ContainerRecord {
                name: "app".into(),
                docker_name: Some("ecs-web-3-app-abc".into()),
                docker_id: Some("d0c4e7".into()),
                known: ContainerStatus::Running,
                exit_code: None,
                reason: None,
                ports: Vec::new(),
                image_digest: None,
                health: None,
                started_at: None,
                restart_count: 0,
                last_restart_at: None,
                health_since: None,
            }],
            reason: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            resources: Default::default(),
        }
    }

    #[test]
    fn task_and_container_have_the_reference_names() {
        let r = record();
        let c = container_response(Version::V4, &r, 0, None);
        assert_eq!(c["DockerId"], "d0c4e7");
        assert_eq!(c["Name"], "app");
        assert_eq!(c["DockerName"], "ecs-web-3-app-abc");
        assert_eq!(c["Image"], "127.0.0.1:5000/app:1");
        assert_eq!(c["KnownStatus"], "RUNNING");
        assert_eq!(c["Limits"]["CPU"], 128);
        assert_eq!(c["Type"], "NORMAL");
        assert_eq!(c["Networks"][0]["NetworkMode"], "bridge");
        let ctx = TaskContext {
            cluster: "c",
            launch_type: "EC2",
        };
        let tags = TagLookup {
            instance: (
                "arn:aws:ecs:us-east-1:1:container-instance/c/i1".into(),
                Err(TagsError {
                    code: Some("AccessDeniedException".into()),
                    message: "not allowed".into(),
                    status: Some(400),
                    request_id: Some("req-1".into()),
                }),
            ),
            task: (
                "arn:aws:ecs:us-east-1:1:task/c/t1".into(),
                Ok(BTreeMap::from([("team".to_string(), "web".to_string())])),
            ),
        };
        let t = task_response(Version::V4, &r, &ctx, vec![c.clone()], Some(&tags));
        assert_eq!(t["TaskARN"], "arn:aws:ecs:us-east-1:1:task/c/t1");
        assert_eq!(t["Family"], "web");
        assert_eq!(t["Revision"], "3");
        assert_eq!(t["Cluster"], "c");
        assert_eq!(t["Containers"][0]["Name"], "app");
        assert_eq!(t["TaskTags"], json!({"team": "web"}));
        assert!(t.get("ContainerInstanceTags").is_none());
        assert_eq!(
            t["Errors"],
            json!([{"ErrorField": "ContainerInstanceTags", "ErrorCode": "AccessDeniedException",
                    "ErrorMessage": "not allowed", "StatusCode": 400, "RequestId": "req-1",
                    "ResourceARN": "arn:aws:ecs:us-east-1:1:container-instance/c/i1"}])
        );
        let v3 = task_response(Version::V3, &r, &ctx, vec![c.clone()], Some(&tags));
        assert!(v3.get("Errors").is_none(), "v3 has no Errors");
        let plain = task_response(Version::V4, &r, &ctx, vec![c], None);
        assert!(plain.get("TaskTags").is_none() && plain.get("Errors").is_none());
        let v3 = container_response(Version::V3, &r, 0, None);
        assert!(v3.get("Snapshotter").is_none());
    }
}
