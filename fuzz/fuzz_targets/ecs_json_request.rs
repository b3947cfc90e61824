//! ECS's AWS JSON 1.1 requests: each body decoded by `front::json::decode` into the operation's
//! typed request (as `Ecs::dispatch` does), then applied to one in-memory `State` (no store, no
//! actor), so a request that decodes also runs through the ECS rules.
//!
//! Input: up to 8 requests separated by NUL bytes, each `OperationName\n{json body}`. They run
//! in order against the same state, which starts with the `default` cluster.
#![no_main]

use ecs_control_plane::ecs::state::{Account, State};
use ecs_control_plane::ecs::{clusters, instances, services, tagging, task_definitions, tasks};
use ecs_control_plane::front::ApiError;
use ecs_control_plane::front::json::decode;
use ecs_protocol::ecs_api::{
    RegisterContainerInstanceRequest, SubmitContainerStateChangeRequest,
    SubmitTaskStateChangeRequest,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const NOW: f64 = 1_795_317_304.0;

/// One operation, as `Ecs::dispatch` runs it on the state actor (keep the two tables alike).
fn apply(s: &mut State, op: &str, body: &[u8], now: f64) -> Result<Value, ApiError> {
    let schedule = |s: &mut State, r: Result<Value, ApiError>| {
        if r.is_ok() {
            s.schedule_services(now);
        }
        r
    };
    match op {
        "CreateCluster" => s.create_cluster(decode::<clusters::CreateClusterRequest>(body)?),
        "DeleteCluster" => s.delete_cluster(decode::<clusters::ClusterRef>(body)?),
        "DescribeClusters" => s.describe_clusters(decode(body)?),
        "ListClusters" => s.list_clusters(decode(body)?),
        "RegisterContainerInstance" => {
            let r = s.register_instance(decode::<RegisterContainerInstanceRequest>(body)?, now);
            schedule(s, r)
        }
        "DeregisterContainerInstance" => {
            let r = s.deregister_instance(decode::<instances::DeregisterContainerInstanceRequest>(
                body,
            )?);
            schedule(s, r)
        }
        "DescribeContainerInstances" => s.describe_instances(decode(body)?),
        "ListContainerInstances" => s.list_instances(decode(body)?),
        "UpdateContainerInstancesState" => {
            let r = s.update_instances_state(decode(body)?);
            schedule(s, r)
        }
        "PutAttributes" => {
            let r = s.put_attributes(decode::<instances::AttributesRequest>(body)?);
            schedule(s, r)
        }
        "DeleteAttributes" => {
            let r = s.delete_attributes(decode(body)?);
            schedule(s, r)
        }
        "ListAttributes" => s.list_attributes(decode(body)?),
        "RegisterTaskDefinition" => s.register_task_definition(decode(body)?, now),
        "DeregisterTaskDefinition" => s.deregister_task_definition(decode(body)?, now),
        "DescribeTaskDefinition" => s.describe_task_definition(decode::<
            task_definitions::DescribeTaskDefinitionRequest,
        >(body)?),
        "ListTaskDefinitions" => s.list_task_definitions(decode(body)?),
        "ListTaskDefinitionFamilies" => s.list_task_definition_families(decode(body)?),
        "RunTask" => s.run_task(decode::<tasks::RunTaskRequest>(body)?, now),
        "StartTask" => s.start_task(decode(body)?, now),
        "StopTask" => {
            let r = s.stop_task(decode(body)?, now);
            schedule(s, r)
        }
        "DescribeTasks" => s.describe_tasks(decode(body)?),
        "ListTasks" => s.list_tasks(decode(body)?),
        "SubmitTaskStateChange" => {
            let r = s.submit_task_state_change(decode::<SubmitTaskStateChangeRequest>(body)?, now);
            schedule(s, r)
        }
        "SubmitContainerStateChange" => {
            s.submit_container_state_change(decode::<SubmitContainerStateChangeRequest>(body)?)
        }
        "TagResource" => s.tag_resource(decode::<tagging::TagResourceRequest>(body)?),
        "UntagResource" => s.untag_resource(decode(body)?),
        "ListTagsForResource" => s.list_tags_for_resource(decode(body)?),
        "CreateService" => {
            let r = s.create_service(decode::<services::CreateServiceRequest>(body)?, now);
            schedule(s, r)
        }
        "DescribeServices" => s.describe_services(decode(body)?),
        "ListServices" => s.list_services(decode(body)?),
        "UpdateService" => {
            let r = s.update_service(decode(body)?, now);
            schedule(s, r)
        }
        "DeleteService" => {
            let r = s.delete_service(decode(body)?);
            schedule(s, r)
        }
        _ => Ok(Value::Null),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut state = State::new(Account {
        region: "us-east-1".to_string(),
        account_id: "123456789012".to_string(),
    });
    if let Ok(default) = decode::<clusters::CreateClusterRequest>(b"{}") {
        let _ = state.create_cluster(default);
    }
    for (i, request) in data.split(|b| *b == 0).take(8).enumerate() {
        let (op, body) = match request.iter().position(|b| *b == b'\n') {
            Some(at) => (&request[..at], &request[at + 1..]),
            None => (request, &[][..]),
        };
        let Ok(op) = std::str::from_utf8(op) else {
            continue;
        };
        if let Err(e) = apply(&mut state, op.trim(), body, NOW + i as f64) {
            let _ = e.to_string();
        }
    }
});
