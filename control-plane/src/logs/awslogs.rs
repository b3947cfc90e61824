//! The ECS backend's part of the `awslogs` driver: what the scheduler rewrites in a task's log
//! configuration before sending it over ACS.

use serde_json::{Value, json};

/// The `awslogs-stream-prefix` option: ECS's own, not Docker's.
const STREAM_PREFIX_OPT: &str = "awslogs-stream-prefix";
/// Docker's option naming the stream.
const STREAM_OPT: &str = "awslogs-stream";

/// What the ECS backend does to an `awslogs` log configuration before sending a task over ACS:
/// `awslogs-stream-prefix` (which Docker does not know) becomes `awslogs-stream` =
/// `<prefix>/<container name>/<task id>`, and a task definition with an `executionRoleArn` gets
/// `logsAuthStrategy: ExecutionRole` on each `awslogs` container, so the agent hands Docker the
/// execution role's credentials endpoint. `acs_task` is the ACS task JSON, `def` its task
/// definition.
pub fn apply_awslogs_to_acs_task(acs_task: &mut Value, def: &Value) {
    let task_id = acs_task
        .get("arn")
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let execution_role = def
        .get("executionRoleArn")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.is_empty());
    let Some(containers) = acs_task.get_mut("containers").and_then(Value::as_array_mut) else {
        return;
    };
    for c in containers {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(host_str) = c
            .pointer("/dockerConfig/hostConfig")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let Ok(mut host) = serde_json::from_str::<Value>(host_str) else {
            continue;
        };
        if host.pointer("/LogConfig/Type").and_then(Value::as_str) != Some("awslogs") {
            continue;
        }
        if let Some(options) = host
            .pointer_mut("/LogConfig/Config")
            .and_then(Value::as_object_mut)
            && let Some(prefix) = options.remove(STREAM_PREFIX_OPT)
        {
            let prefix = prefix.as_str().unwrap_or_default().to_string();
            if !options.contains_key(STREAM_OPT) {
                options.insert(
                    STREAM_OPT.into(),
                    json!(format!("{prefix}/{name}/{task_id}")),
                );
            }
        }
        c["dockerConfig"]["hostConfig"] = json!(host.to_string());
        if execution_role {
            c["logsAuthStrategy"] = json!("ExecutionRole");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn awslogs_stream_prefix_becomes_the_ecs_stream_name() {
        let host = json!({"LogConfig": {"Type": "awslogs", "Config": {
            "awslogs-group": "g", "awslogs-stream-prefix": "web"}}});
        let mut task = json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc123",
            "containers": [{"name": "app", "dockerConfig": {"hostConfig": host.to_string()}}],
        });
        apply_awslogs_to_acs_task(
            &mut task,
            &json!({"executionRoleArn": "arn:aws:iam::123456789012:role/x"}),
        );
        let c = &task["containers"][0];
        let host: Value =
            serde_json::from_str(c["dockerConfig"]["hostConfig"].as_str().unwrap()).unwrap();
        assert_eq!(
            host["LogConfig"]["Config"],
            json!({"awslogs-group": "g", "awslogs-stream": "web/app/abc123"})
        );
        assert_eq!(c["logsAuthStrategy"], "ExecutionRole");
    }
}
