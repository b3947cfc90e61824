//! Unit tests of the ECS rules across resources.

use ecs_protocol::{BackendStatus, ReportedStatus};
use serde_json::{Value, json};

use crate::ecs::common::paginate;
use crate::ecs::common::parse_task_size;
use crate::ecs::model::VersionInfo;
use crate::ecs::state::State;
use crate::front::ErrorCode;
use ecs_protocol::ecs_api::RegisterContainerInstanceRequest;

fn register(s: &mut State, cpu: i64, mem: i64) -> String {
    s.connected_instance_for_tests(json!({
        "cluster": "default",
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "51678"]},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
        ],
        "attributes": [{"name": "ecs.capability.external"}, {"name": "ecs.os-type", "value": "linux"}],
        "instanceIdentityDocument": ""
    }))
}

fn task_def(s: &mut State, memory: i64, host_port: i64) -> String {
    let v = s
        .register_task_definition(
            json!({
                "family": "web",
                "containerDefinitions": [{
                    "name": "web", "image": "127.0.0.1:5000/web:1", "memory": memory, "cpu": 256,
                    "portMappings": [{"containerPort": 8080, "hostPort": host_port}]
                }]
            }),
            1.0,
        )
        .unwrap();
    v["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run(s: &mut State, def: &str, count: i64) -> Value {
    s.run_task(
        serde_json::from_value(json!({"taskDefinition": def, "count": count})).unwrap(),
        2.0,
    )
    .unwrap()
}

#[test]
fn run_task_without_instances_is_refused_as_ecs_does() {
    let mut s = State::for_tests();
    let def = task_def(&mut s, 128, 0);
    let e = s
        .run_task(
            serde_json::from_value(json!({"taskDefinition": def})).unwrap(),
            1.0,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "No Container Instances were found in your cluster."
    );
}

#[test]
fn memory_shortage_is_a_resource_memory_failure() {
    let mut s = State::for_tests();
    let arn = register(&mut s, 2048, 1000);
    let def = task_def(&mut s, 4000, 0);
    let v = run(&mut s, &def, 1);
    assert_eq!(v["tasks"], json!([]));
    assert_eq!(
        v["failures"],
        json!([{"arn": arn, "reason": "RESOURCE:MEMORY"}])
    );
}

#[test]
fn resources_are_reserved_until_the_task_is_reported_stopped() {
    let mut s = State::for_tests();
    register(&mut s, 1024, 300);
    let def = task_def(&mut s, 200, 0);
    let v = run(&mut s, &def, 2);
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(v["failures"][0]["reason"], "RESOURCE:MEMORY");
    let task = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    s.submit_task_state_change(
        serde_json::from_value(json!({"task": task, "status": "STOPPED", "reason": "",
            "containers": [{"containerName": "web", "runtimeId": "abc", "exitCode": 3, "status": "STOPPED"}]}))
        .unwrap(),
        3.0,
    )
    .unwrap();
    let t = &s.tasks[&task];
    assert_eq!(
        t.stop_code,
        Some(ecs_protocol::StopCode::EssentialContainerExited)
    );
    assert_eq!(t.desired_status, BackendStatus::Stopped);
    assert_eq!(run(&mut s, &def, 1)["tasks"].as_array().unwrap().len(), 1);
}

#[test]
fn static_host_ports_conflict_and_dynamic_ones_do_not() {
    let mut s = State::for_tests();
    register(&mut s, 4096, 4096);
    let fixed = task_def(&mut s, 64, 8080);
    assert_eq!(
        run(&mut s, &fixed, 2)["failures"][0]["reason"],
        "RESOURCE:PORTS"
    );
    let reserved = task_def(&mut s, 64, 22);
    assert_eq!(
        run(&mut s, &reserved, 1)["failures"][0]["reason"],
        "RESOURCE:PORTS"
    );
    let dynamic = task_def(&mut s, 64, 0);
    assert_eq!(
        run(&mut s, &dynamic, 5)["tasks"].as_array().unwrap().len(),
        5
    );
}

#[test]
fn disconnected_agents_get_no_tasks() {
    let mut s = State::for_tests();
    let arn = register(&mut s, 4096, 4096);
    s.agent_disconnected(&arn);
    let def = task_def(&mut s, 64, 0);
    assert_eq!(run(&mut s, &def, 1)["failures"][0]["reason"], "AGENT");
}

#[test]
fn required_attributes_and_constraints_filter_instances() {
    let mut s = State::for_tests();
    let arn = register(&mut s, 4096, 4096);
    let v = s
        .register_task_definition(
            json!({"family": "logs", "containerDefinitions": [{
                "name": "app", "image": "x", "memory": 64,
                "logConfiguration": {"logDriver": "awslogs"}}]}),
            1.0,
        )
        .unwrap();
    let def = v["taskDefinition"]["taskDefinitionArn"].as_str().unwrap();
    let out = run(&mut s, def, 1);
    assert_eq!(out["tasks"], json!([]));
    assert_eq!(
        out["failures"],
        json!([{"arn": arn, "reason": "ATTRIBUTE"}])
    );

    let web = task_def(&mut s, 64, 0);
    let req = |c: Value| {
        serde_json::from_value(
            json!({"taskDefinition": web, "count": 2, "placementConstraints": c}),
        )
        .unwrap()
    };
    let out = s
        .run_task(
            req(json!([{"type": "memberOf", "expression": "attribute:ecs.os-type == windows"}])),
            2.0,
        )
        .unwrap();
    assert_eq!(
        out["failures"][0]["reason"],
        "MemberOf placement constraint unsatisfied."
    );
    let out = s
        .run_task(req(json!([{"type": "distinctInstance"}])), 2.0)
        .unwrap();
    assert_eq!(out["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(
        out["failures"][0]["reason"],
        "DistinctInstance placement constraint unsatisfied."
    );
    let bad = s
        .run_task(
            req(json!([{"type": "memberOf", "expression": "attribute:x =="}])),
            2.0,
        )
        .unwrap_err();
    assert!(bad.to_string().contains("attribute:x =="), "{bad}");
}

#[test]
fn placement_and_stop_send_payloads_that_acks_clear() {
    let mut s = State::for_tests();
    let arn = register(&mut s, 4096, 4096);
    let def = task_def(&mut s, 64, 0);
    let task = run(&mut s, &def, 1)["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    s.stop_task(
        serde_json::from_value(json!({"task": task, "reason": "bye"})).unwrap(),
        3.0,
    )
    .unwrap();
    let out = s.outbox[&arn].clone();
    assert_eq!(out.len(), 2);
    let frame: Value = serde_json::from_str(&out[1].frame).unwrap();
    assert_eq!(frame["type"], "PayloadMessage");
    assert_eq!(frame["message"]["tasks"][0]["desiredStatus"], "STOPPED");
    assert_eq!(frame["message"]["seqNum"], 2);
    s.ack(&arn, &out[0].message_id);
    assert_eq!(s.outbox[&arn].len(), 1);
}

#[test]
fn task_definition_revisions_increase_and_defaults_are_filled() {
    let mut s = State::for_tests();
    let a = task_def(&mut s, 64, 0);
    let b = task_def(&mut s, 64, 0);
    assert!(a.ends_with("task-definition/web:1"));
    assert!(b.ends_with("task-definition/web:2"));
    let d = s
        .describe_task_definition(serde_json::from_value(json!({"taskDefinition": "web"})).unwrap())
        .unwrap();
    assert_eq!(d["taskDefinition"]["revision"], 2);
    let c = &d["taskDefinition"]["containerDefinitions"][0];
    assert_eq!(c["essential"], true);
    assert_eq!(c["portMappings"][0]["protocol"], "tcp");
}

#[test]
fn memory_is_required_somewhere_on_ec2() {
    let mut s = State::for_tests();
    let e = s
        .register_task_definition(
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}]}),
            1.0,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ClientException);
    assert!(
        e.message
            .contains("At least one of 'memory' or 'memoryReservation'")
    );
}

#[test]
fn pagination_walks_every_item_once() {
    let items: Vec<i32> = (0..250).collect();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (page, next) = paginate(&items, token.as_deref(), Some(100)).unwrap();
        seen.extend(page);
        match next {
            Some(n) => token = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, items);
    assert!(paginate(&items, Some("bogus"), None).is_err());
    assert!(paginate(&items, None, Some(0)).is_err());
}

#[test]
fn task_sizes_parse_as_ecs_accepts_them() {
    assert_eq!(parse_task_size("512"), Some(512));
    assert_eq!(parse_task_size("0.5 vCPU"), Some(512));
    assert_eq!(parse_task_size("1 GB"), Some(1024));
    assert_eq!(parse_task_size("lots"), None);
}

fn secrets_def() -> Value {
    json!({
        "family": "sec",
        "containerDefinitions": [{
            "name": "app", "image": "127.0.0.1:5000/web:1", "memory": 64,
            "secrets": [
                {"name": "DB_PASSWORD", "valueFrom": "/app/db/password"},
                {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbC123"},
                {"name": "X", "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/x"}
            ],
            "logConfiguration": {
                "logDriver": "splunk",
                "options": {"splunk-url": "https://splunk.example"},
                "secretOptions": [{"name": "splunk-token", "valueFrom": "splunk/token"}]
            }
        }]
    })
}

#[test]
fn secrets_need_an_execution_role_as_ecs_says() {
    let mut s = State::for_tests();
    let e = s.register_task_definition(secrets_def(), 1.0).unwrap_err();
    assert_eq!(e.code, ErrorCode::ClientException);
    assert_eq!(
        e.message,
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
    );
    let mut only_log = secrets_def();
    only_log["containerDefinitions"][0]
        .as_object_mut()
        .unwrap()
        .remove("secrets");
    let e = s.register_task_definition(only_log, 1.0).unwrap_err();
    assert_eq!(e.code, ErrorCode::ClientException);
}

#[test]
fn container_secrets_reach_acs_as_the_reference_agent_reads_them() {
    let mut s = State::for_tests();
    let mut def = secrets_def();
    def["executionRoleArn"] = json!("arn:aws:iam::123456789012:role/exec");
    let v = s.register_task_definition(def, 1.0).unwrap();
    let names: Vec<&str> = v["taskDefinition"]["requiresAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for want in [
        "ecs.capability.secrets.ssm.environment-variables",
        "ecs.capability.secrets.asm.environment-variables",
        "ecs.capability.secrets.ssm.bootstrap.log-driver",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(!names.contains(&"ecs.capability.secrets.asm.bootstrap.log-driver"));
    let arn = v["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    // An instance without the secrets capabilities cannot take the task.
    register(&mut s, 1024, 1024);
    let out = run(&mut s, &arn, 1);
    assert_eq!(out["failures"][0]["reason"], "ATTRIBUTE", "{out}");
    let req: RegisterContainerInstanceRequest = serde_json::from_value(json!({
        "cluster": "default",
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}
        ],
        "attributes": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "instanceIdentityDocument": ""
    }))
    .unwrap();
    let inst = s.register_instance(req, 1.0).unwrap()["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string();
    s.agent_connected(&inst, VersionInfo::default());
    let out = run(&mut s, &arn, 1);
    assert_eq!(out["tasks"].as_array().unwrap().len(), 1, "{out}");
    let frame: Value = serde_json::from_str(&s.outbox[&inst][0].frame).unwrap();
    let c = &frame["message"]["tasks"][0]["containers"][0];
    assert_eq!(
        c["secrets"],
        json!([
            {"name": "DB_PASSWORD", "valueFrom": "/app/db/password", "region": "us-east-1",
             "provider": "ssm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
            {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbC123",
             "region": "eu-west-1", "provider": "asm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
            {"name": "X", "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/x",
             "region": "us-west-2", "provider": "ssm", "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
            {"name": "splunk-token", "valueFrom": "splunk/token", "region": "us-east-1",
             "provider": "ssm", "type": "BOOTSTRAP", "target": "LOG_DRIVER"}
        ])
    );
    // The secret options are not log options: the agent adds their values itself.
    let host: Value =
        serde_json::from_str(c["dockerConfig"]["hostConfig"].as_str().unwrap()).unwrap();
    assert_eq!(
        host["LogConfig"],
        json!({"Type": "splunk", "Config": {"splunk-url": "https://splunk.example"}})
    );
    assert!(frame["message"]["tasks"][0]["executionRoleCredentials"].is_object());
}

#[test]
fn an_instances_load_follows_placements_and_stops_and_survives_a_restore() {
    let mut s = State::for_tests();
    let instance = register(&mut s, 4096, 4000);
    let def = task_def(&mut s, 100, 0);
    let v = run(&mut s, &def, 3);
    let arns: Vec<String> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(arns.len(), 3);
    let load = s.load(&instance).unwrap().clone();
    assert_eq!((load.tasks.len(), load.cpu, load.memory), (3, 768, 300));
    assert_eq!(load.in_group("family:web"), 3);
    let stop = |s: &mut State, arn: &str| {
        s.submit_task_state_change(
            serde_json::from_value(json!({"task": arn, "status": "STOPPED"})).unwrap(),
            3.0,
        )
        .unwrap();
    };
    stop(&mut s, &arns[0]);
    // A repeated STOPPED report releases nothing twice.
    stop(&mut s, &arns[0]);
    let load = s.load(&instance).unwrap().clone();
    assert_eq!((load.tasks.len(), load.cpu, load.memory), (2, 512, 200));
    assert_eq!(load.in_group("family:web"), 2);
    assert!(!load.tasks.contains(&arns[0]));
    // The index is derived: a restore from the stored rows rebuilds the same one.
    let (changes, _) = s.take_changes();
    let rows: Vec<(String, Vec<u8>)> = changes
        .into_iter()
        .filter_map(|c| match c {
            crate::store::Change::Put(k, v) => Some((k, v)),
            crate::store::Change::Delete(_) => None,
        })
        .collect();
    let restored = State::restore(s.account.clone(), rows, s.keys.clone()).unwrap();
    assert_eq!(restored.load(&instance), Some(&load));
}

/// Decodes `body` as the front does and applies it as SubmitTaskStateChange.
fn submit_task(s: &mut State, body: Value) -> Result<Value, crate::front::ApiError> {
    let req = crate::front::json::decode(body.to_string().as_bytes())?;
    s.submit_task_state_change(req, 10.0)
}

#[test]
fn task_state_changes_carry_epoch_timestamps_statuses_and_bindings_as_sent() {
    let mut s = State::for_tests();
    register(&mut s, 1024, 1024);
    let def = task_def(&mut s, 128, 0);
    let task = run(&mut s, &def, 1)["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    let binding =
        json!({"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": 49153, "protocol": "tcp"});
    let answer = submit_task(
        &mut s,
        json!({
            "cluster": "default", "task": task, "status": "RUNNING", "reason": "",
            "containers": [{
                "containerName": "web", "runtimeId": "abc", "status": "RUNNING",
                "imageDigest": "sha256:1", "networkBindings": [binding]
            }],
            "pullStartedAt": 1795317327.066, "pullStoppedAt": 1795317341, "executionStoppedAt": 1795317387.722
        }),
    )
    .unwrap();
    assert_eq!(answer, json!({"acknowledgment": "ACK"}));
    let t = &s.tasks[&task];
    assert_eq!(t.last_status, BackendStatus::Running);
    assert_eq!(t.pull_started_at, Some(1_795_317_327.066));
    assert_eq!(t.pull_stopped_at, Some(1_795_317_341.0));
    assert_eq!(t.execution_stopped_at, Some(1_795_317_387.722));
    let c = &t.containers[0];
    assert_eq!(c.last_status, ReportedStatus::Running);
    assert_eq!(c.runtime_id.as_deref(), Some("abc"));
    assert_eq!(c.image_digest.as_deref(), Some("sha256:1"));
    assert_eq!(c.network_bindings, vec![binding]);

    // A container status ECS does not know is kept as sent; a task status is refused.
    s.submit_container_state_change(
        serde_json::from_value(
            json!({"task": task, "containerName": "web", "status": "PULLED", "exitCode": 3}),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s.tasks[&task].containers[0].last_status.as_str(), "PULLED");
    assert_eq!(s.tasks[&task].containers[0].exit_code, Some(3));
    let e = submit_task(&mut s, json!({"task": task, "status": "EXPLODED"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "Invalid status EXPLODED: must be PENDING, RUNNING or STOPPED."
    );
}

/// The stop code and reason of a stop the agent reports unasked come from the containers, as
/// ECS derives them, whatever reason text the agent sends; a stop someone asked for keeps the
/// asker's code and reason.
#[test]
fn stop_codes_are_derived_as_ecs_derives_them() {
    use ecs_protocol::StopCode;

    let mut s = State::for_tests();
    register(&mut s, 4096, 4096);
    let def = task_def(&mut s, 64, 0);
    let mut stop = |reason: &str, container: Value| {
        let task = run(&mut s, &def, 1)["tasks"][0]["taskArn"]
            .as_str()
            .unwrap()
            .to_string();
        let mut report = json!({"task": task, "status": "STOPPED", "containers": [container]});
        if !reason.is_empty() {
            report["reason"] = json!(reason);
        }
        s.submit_task_state_change(serde_json::from_value(report).unwrap(), 3.0)
            .unwrap();
        let t = &s.tasks[&task];
        (t.stop_code, t.stopped_reason.clone().unwrap_or_default())
    };
    let exited = (
        Some(StopCode::EssentialContainerExited),
        "Essential container in task exited".to_string(),
    );
    // The essential container ran and exited: the reference sends no reason, ours its words,
    // another agent anything.
    for reason in ["", "Essential container in task exited", "something else"] {
        assert_eq!(
            stop(
                reason,
                json!({"containerName": "web", "runtimeId": "abc", "exitCode": 3, "status": "STOPPED"})
            ),
            exited,
            "{reason:?}"
        );
    }
    // Never ran: the task failed to start, with the agent's reason, else the container's.
    assert_eq!(
        stop(
            "ResourceInitializationError: no secret",
            json!({"containerName": "web", "status": "STOPPED"})
        ),
        (
            Some(StopCode::TaskFailedToStart),
            "ResourceInitializationError: no secret".to_string()
        )
    );
    assert_eq!(
        stop(
            "",
            json!({"containerName": "web", "status": "STOPPED", "reason": "CannotPullContainerError: nope"})
        ),
        (
            Some(StopCode::TaskFailedToStart),
            "CannotPullContainerError: nope".to_string()
        )
    );
    assert_eq!(
        stop(
            "Essential container in task exited",
            json!({"containerName": "web", "status": "STOPPED"})
        ),
        (
            Some(StopCode::TaskFailedToStart),
            "Essential container in task exited".to_string()
        )
    );
    assert_eq!(
        stop("", json!({"containerName": "web", "status": "STOPPED"})),
        (
            Some(StopCode::TaskFailedToStart),
            "Task failed to start".to_string()
        )
    );

    // Asked for: StopTask's code and reason stay, whatever the agent then reports.
    let task = run(&mut s, &def, 1)["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    s.stop_task(
        serde_json::from_value(json!({"task": task, "reason": "done"})).unwrap(),
        2.0,
    )
    .unwrap();
    s.submit_task_state_change(
        serde_json::from_value(json!({"task": task, "status": "STOPPED", "reason": "Essential container in task exited",
            "containers": [{"containerName": "web", "runtimeId": "abc", "exitCode": 137, "status": "STOPPED"}]}))
        .unwrap(),
        3.0,
    )
    .unwrap();
    let t = &s.tasks[&task];
    assert_eq!(t.stop_code, Some(StopCode::UserInitiated));
    assert_eq!(t.stopped_reason.as_deref(), Some("done"));
}

#[test]
fn payload_sequence_numbers_are_one_row_per_instance_and_survive_a_restore() {
    let mut s = State::for_tests();
    let a = register(&mut s, 4096, 4096);
    let b = register(&mut s, 4096, 4096);
    let _ = s.take_changes();
    s.send_payload(&a, &[], 1.0);
    let (changes, _) = s.take_changes();
    let seq_rows: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            crate::store::Change::Put(k, _) if k.starts_with("seq/") => Some(k.as_str()),
            _ => None,
        })
        .collect();
    // Only the instance that got a payload has its counter written.
    assert_eq!(seq_rows, vec![format!("seq/{a}")]);
    let mut rows: Vec<(String, Vec<u8>)> = changes
        .into_iter()
        .filter_map(|c| match c {
            crate::store::Change::Put(k, v) => Some((k, v)),
            crate::store::Change::Delete(_) => None,
        })
        .collect();
    // A `meta` row from before per-instance rows: read, and a higher `seq/` row wins over it.
    rows.push((
        "meta".into(),
        serde_json::to_vec(&json!({"seqNums": {a.clone(): 0, b.clone(): 7}})).unwrap(),
    ));
    let restored = State::restore(s.account.clone(), rows, s.keys.clone()).unwrap();
    assert_eq!(restored.meta.seq_nums[&a], 1);
    assert_eq!(restored.meta.seq_nums[&b], 7);
}

fn describe_req(cluster: Option<&str>, tasks: &[&str]) -> crate::ecs::tasks::DescribeTasksRequest {
    serde_json::from_value(json!({"cluster": cluster, "tasks": tasks})).unwrap()
}

#[tokio::test]
async fn describe_tasks_reads_the_view_the_actor_publishes_before_answering_writers() {
    use crate::ecs::state::StateHandle;
    use crate::ecs::tasks::describe_tasks_from_view;
    use crate::store::Store;

    let mut s = State::for_tests();
    register(&mut s, 1024, 1024);
    let def = task_def(&mut s, 64, 0);
    let handle = StateHandle::spawn(s, Store::in_memory().unwrap());
    // No answer from the view for a cluster it does not have: the actor answers (and words it).
    assert!(describe_tasks_from_view(handle.view(), &describe_req(Some("nope"), &["x"])).is_none());

    let ran = handle.call(move |s| run(s, &def, 1)).await.unwrap();
    let arn = ran["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let id = arn.rsplit('/').next().unwrap().to_string();
    // The writer has its answer, so the view already has the task: by ARN and by id.
    let view = handle.view();
    for reference in [arn.as_str(), id.as_str()] {
        let answer = describe_tasks_from_view(view, &describe_req(None, &[reference]))
            .expect("the default cluster is published")
            .unwrap();
        assert_eq!(answer["tasks"][0]["taskArn"], arn.as_str(), "{reference}");
        assert_eq!(answer["tasks"][0]["lastStatus"], "PENDING");
        assert!(answer["tasks"][0].get("reservedCpu").is_none());
        assert_eq!(answer["failures"], json!([]));
    }
    // The same answer as the actor's own.
    let from_actor = {
        let arn = arn.clone();
        handle
            .call(move |s| s.describe_tasks(describe_req(Some("default"), &[&arn])))
            .await
            .unwrap()
            .unwrap()
    };
    let from_view = describe_tasks_from_view(view, &describe_req(Some("default"), &[&arn]))
        .unwrap()
        .unwrap();
    assert_eq!(from_view, from_actor);

    // A change through the actor is in the view once its writer is answered.
    let stopping = arn.clone();
    handle
        .call(move |s| {
            s.stop_task(
                serde_json::from_value(json!({"task": stopping})).unwrap(),
                3.0,
            )
        })
        .await
        .unwrap()
        .unwrap();
    let answer = describe_tasks_from_view(view, &describe_req(None, &[&arn, "gone"]))
        .unwrap()
        .unwrap();
    assert_eq!(answer["tasks"][0]["desiredStatus"], "STOPPED");
    assert_eq!(answer["failures"][0]["reason"], "MISSING");
    assert_eq!(
        answer["failures"][0]["arn"],
        "arn:aws:ecs:us-east-1:123456789012:task/default/gone"
    );
    // Refusals are ECS's, from the view too.
    let empty = describe_tasks_from_view(view, &describe_req(None, &[])).unwrap();
    assert!(empty.is_err());
}

/// The reference agent's recorded `PublishHealthRequest` (its JSON, the signature block
/// removed), re-addressed to a task and instance of this state: its container's health and the
/// task's become HEALTHY; the same frame from another instance changes nothing.
#[test]
fn the_reference_agents_health_frame_sets_container_and_task_health() {
    let mut s = State::for_tests();
    // Health checks need the capability (ECS's requiresAttributes).
    let instance = s.connected_instance_for_tests(json!({
        "cluster": "default",
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}
        ],
        "attributes": [
            {"name": "ecs.capability.container-health-check"},
            {"name": "ecs.os-type", "value": "linux"}
        ],
        "instanceIdentityDocument": ""
    }));
    let def = s
        .register_task_definition(
            json!({
                "family": "wire-a",
                "containerDefinitions": [{
                    "name": "web", "image": "127.0.0.1:5000/web:1", "memory": 64,
                    "healthCheck": {"command": ["CMD-SHELL", "true"]}
                }]
            }),
            1.0,
        )
        .unwrap()["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let placed = run(&mut s, &def, 1);
    let task_arn = placed["tasks"][0]["taskArn"]
        .as_str()
        .unwrap_or_else(|| panic!("not placed: {placed}"))
        .to_string();
    let recorded = r#"{"type":"PublishHealthRequest","message":{"metadata":{"cluster":"wire-go","containerInstance":"arn:aws:ecs:us-east-1:123456789012:container-instance/wire-go/ca600438e49f4a0699f2069552f76e62","fin":true,"messageId":"79a92cbe-bfa4-4227-ae81-92798d42e018"},"tasks":[{"containers":[{"containerName":"web","healthStatus":"HEALTHY","statusSince":1796591257.934}],"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/wire-go/8469c742ff434b0296694f79d14712f7","taskDefinitionFamily":"wire-a","taskDefinitionVersion":"1"}],"timestamp":1796591262.021}}"#;
    let readdressed = recorded
        .replace(
            "arn:aws:ecs:us-east-1:123456789012:task/wire-go/8469c742ff434b0296694f79d14712f7",
            &task_arn,
        )
        .replace(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/wire-go/ca600438e49f4a0699f2069552f76e62",
            &instance,
        );
    let ecs_protocol::TcsFrame::Known(ecs_protocol::TcsMessage::PublishHealthRequest(health)) =
        ecs_protocol::TcsFrame::decode(&readdressed).unwrap()
    else {
        panic!("not a PublishHealthRequest");
    };
    let health_of = |s: &State| {
        let t = &s.tasks[&task_arn];
        (t.health_status, t.containers[0].health_status)
    };
    assert_eq!(
        health_of(&s),
        (
            ecs_protocol::HealthStatus::Unknown,
            Some(ecs_protocol::HealthStatus::Unknown)
        ),
        "before any health frame, a checked container is UNKNOWN"
    );

    let other = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0000";
    assert_eq!(crate::ecs::health::apply(&mut s, other, &health), 0);
    assert_eq!(
        health_of(&s).1,
        Some(ecs_protocol::HealthStatus::Unknown),
        "another instance's frame is ignored"
    );

    assert_eq!(crate::ecs::health::apply(&mut s, &instance, &health), 1);
    assert_eq!(
        health_of(&s),
        (
            ecs_protocol::HealthStatus::Healthy,
            Some(ecs_protocol::HealthStatus::Healthy)
        )
    );
}
