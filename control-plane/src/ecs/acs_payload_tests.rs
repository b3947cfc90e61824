//! Unit tests of the typed ACS task: every task the JSON translation builds (definition, overrides,
//! secrets, role credentials, a stop) becomes an `ecs_protocol::acs::Task` that re-encodes to the
//! same JSON, so typing the payload loses and adds nothing.

use ecs_protocol::acs::Task as AcsTask;
use serde_json::{Value, json};

use crate::ecr::EcrRef;
use crate::ecs::acs_payload::typed_task;
use crate::ecs::state::State;

/// The request the e2e test registers with the AWS CLI: every member ECS documents.
const EVERY_FIELD: &str = include_str!("../../../tests/fixtures/taskdef-every-field.json");

/// A state with one connected instance that has every attribute `defs` require.
fn state_for(defs: &[Value]) -> (State, Vec<String>) {
    let mut s = State::for_tests();
    // Images under 127.0.0.1:5000 are in the emulator's ECR: they get ECR registry auth.
    s.ecr = Some(EcrRef {
        host: "127.0.0.1:5000".into(),
        endpoint: "http://127.0.0.1:4566".into(),
        region: "us-east-1".into(),
        registry_id: "123456789012".into(),
    });
    let mut attributes = vec![
        json!({"name": "ecs.os-type", "value": "linux"}),
        json!({"name": "ecs.capability.external"}),
        json!({"name": "com.amazonaws.ecs.capability.task-iam-role"}),
    ];
    let mut arns = Vec::new();
    for def in defs {
        let v = s.register_task_definition(def.clone(), 1.0).unwrap();
        attributes.extend(
            v["taskDefinition"]["requiresAttributes"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        arns.push(
            v["taskDefinition"]["taskDefinitionArn"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    s.connected_instance_for_tests(json!({
        "cluster": "default",
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 65536},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 262_144}
        ],
        "attributes": attributes,
        "instanceIdentityDocument": ""
    }));
    (s, arns)
}

/// Runs `request` (a RunTask body) and returns the task's ARN.
fn run(s: &mut State, request: Value) -> String {
    let out = s
        .run_task(serde_json::from_value(request).unwrap(), 2.0)
        .unwrap();
    out["tasks"][0]["taskArn"]
        .as_str()
        .unwrap_or_else(|| panic!("not placed: {out}"))
        .to_string()
}

/// The ACS task of `task_arn` as JSON and typed, asserting that the typed one re-encodes to the
/// same JSON.
fn assert_typed_is_lossless(s: &mut State, task_arn: &str) -> Value {
    let t = s.tasks[task_arn].clone();
    let (family, rev) = t
        .task_definition_arn
        .rsplit_once('/')
        .and_then(|(_, fr)| fr.rsplit_once(':'))
        .unwrap();
    let def = s.task_def(family, rev.parse().unwrap()).cloned();
    let json = s.acs_task_json(&t, def.as_deref(), 3.0);
    let typed: AcsTask = typed_task(task_arn, json.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        json,
        "the typed ACS task of {family} is not its JSON"
    );
    json
}

#[test]
fn every_task_the_translation_builds_is_typed_without_loss() {
    let plain = json!({
        "family": "web",
        "containerDefinitions": [{
            "name": "web", "image": "127.0.0.1:5000/web:1", "memory": 128, "cpu": 256,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}]
        }]
    });
    let every_field: Value = serde_json::from_str(EVERY_FIELD).unwrap();
    let secrets = json!({
        "family": "sec",
        "taskRoleArn": "arn:aws:iam::123456789012:role/app",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "containerDefinitions": [{
            "name": "app", "image": "registry.example/app:1", "memory": 64,
            "secrets": [
                {"name": "DB_PASSWORD", "valueFrom": "/app/db/password"},
                {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbC123"}
            ],
            "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:123456789012:secret:r-AbC123"},
            "logConfiguration": {
                "logDriver": "splunk",
                "options": {"splunk-url": "https://splunk.example"},
                "secretOptions": [{"name": "splunk-token", "valueFrom": "splunk/token"}]
            }
        }]
    });
    let (mut s, arns) = state_for(&[plain, every_field, secrets]);

    let plain = run(&mut s, json!({"taskDefinition": arns[0]}));
    let json = assert_typed_is_lossless(&mut s, &plain);
    assert_eq!(
        json["containers"][0]["portMappings"][0]["containerPort"],
        8080
    );

    let every = run(&mut s, json!({"taskDefinition": arns[1]}));
    let json = assert_typed_is_lossless(&mut s, &every);
    let lp = &json["containers"][0]["linuxParameters"];
    assert_eq!(lp["tmpfs"][0]["containerPath"], "/tmp", "{lp}");
    assert_eq!(lp["swappiness"], 10, "{lp}");
    assert!(json["roleCredentials"].is_object(), "{json}");

    let with_overrides = run(
        &mut s,
        json!({
            "taskDefinition": arns[0],
            "overrides": {
                "taskRoleArn": "arn:aws:iam::123456789012:role/other",
                "containerOverrides": [{
                    "name": "web", "command": ["sleep", "1"], "memoryReservation": 32,
                    "environment": [{"name": "MODE", "value": "test"}]
                }]
            }
        }),
    );
    let json = assert_typed_is_lossless(&mut s, &with_overrides);
    assert!(json["overrides"].is_string(), "{json}");
    assert!(json["containers"][0]["overrides"].is_string(), "{json}");

    let secret = run(&mut s, json!({"taskDefinition": arns[2]}));
    let json = assert_typed_is_lossless(&mut s, &secret);
    assert_eq!(
        json["containers"][0]["secrets"].as_array().unwrap().len(),
        3
    );
    assert!(json["roleCredentials"].is_object(), "{json}");
    assert!(json["executionRoleCredentials"].is_object(), "{json}");
    assert_eq!(
        json["containers"][0]["registryAuthentication"]["type"],
        "asm"
    );

    // The stop payload: desired STOPPED, no credentials.
    s.request_stop(&every, ecs_protocol::StopCode::UserInitiated, "done", 4.0);
    let json = assert_typed_is_lossless(&mut s, &every);
    assert_eq!(json["desiredStatus"], "STOPPED");

    // And what was sent is the typed form: it decodes as the agent decodes it.
    let sent: Vec<&str> = s
        .outbox
        .values()
        .flatten()
        .map(|m| m.frame.as_str())
        .collect();
    assert_eq!(sent.len(), 5);
    for frame in sent {
        let v: Value = serde_json::from_str(frame).unwrap();
        let message: ecs_protocol::acs::PayloadMessage =
            serde_json::from_value(v["message"].clone()).unwrap();
        assert_eq!(message.tasks().len(), 1);
    }
}

#[test]
fn a_task_that_does_not_fit_the_model_fails_alone_with_its_arn() {
    let arn = "arn:aws:ecs:us-east-1:123456789012:task/default/abc";
    let e = typed_task(arn, json!({"arn": arn, "cpu": "lots"})).unwrap_err();
    assert_eq!(e.task_arn, arn);
    let message = e.to_string();
    assert!(
        message.contains(arn) && message.contains("does not fit the wire model"),
        "{message}"
    );
}
