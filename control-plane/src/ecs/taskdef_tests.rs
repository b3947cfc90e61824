//! Unit tests of the typed task definition through register/describe and the store.

use serde_json::{Value, json};

use crate::ecs::state::State;
use crate::ecs::task_definitions::DescribeTaskDefinitionRequest;
use crate::ecs::taskdef::TaskDefinition;

/// The request the e2e test registers with the AWS CLI: every member ECS documents.
const EVERY_FIELD: &str = include_str!("../../../tests/fixtures/taskdef-every-field.json");

/// Every member of `given` is in `answered` with the same value (numbers in the same JSON
/// form); `answered` may hold more (the defaults ECS fills in).
fn assert_kept(given: &Value, answered: &Value, path: &str) {
    match (given, answered) {
        (Value::Object(g), Value::Object(a)) => {
            for (k, v) in g {
                let member = format!("{path}.{k}");
                let Some(got) = a.get(k) else {
                    panic!("{member} was dropped");
                };
                assert_kept(v, got, &member);
            }
        }
        (Value::Array(g), Value::Array(a)) => {
            assert_eq!(g.len(), a.len(), "{path}: length changed");
            for (i, (v, got)) in g.iter().zip(a).enumerate() {
                assert_kept(v, got, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(given, answered, "{path} changed"),
    }
}

#[test]
fn every_member_of_the_fixture_round_trips_through_register_and_describe() {
    let mut given: Value = serde_json::from_str(EVERY_FIELD).unwrap();
    let mut s = State::for_tests();
    let registered = s.register_task_definition(given.clone(), 5.0).unwrap();
    let described = s
        .describe_task_definition(DescribeTaskDefinitionRequest {
            task_definition: "every-field".into(),
            include: vec!["TAGS".into()],
        })
        .unwrap();
    let tags = given.as_object_mut().unwrap().remove("tags");
    if let Some(tags) = &tags {
        assert_kept(tags, &described["tags"], "tags");
    }
    assert_kept(&given, &described["taskDefinition"], "taskDefinition");
    assert_eq!(registered["taskDefinition"], described["taskDefinition"]);
    // An integer stays an integer.
    let c = &described["taskDefinition"]["containerDefinitions"][0];
    assert!(c["cpu"].is_u64() || c["cpu"].is_i64(), "{}", c["cpu"]);
}

#[test]
fn a_row_in_the_untyped_format_restores_and_writes_back_the_same_json() {
    // A row as written when definitions were kept as `serde_json::Value`.
    let def = json!({
        "family": "web",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1",
        "revision": 1,
        "status": "INACTIVE",
        "containerDefinitions": [{
            "name": "web", "image": "nginx", "cpu": 0, "memory": 128, "essential": true,
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
            "environment": [], "mountPoints": [], "volumesFrom": [],
            "firelensConfiguration": {"type": "fluentbit"}
        }],
        "cpu": "0.5 vCPU",
        "memory": "1 GB",
        "volumes": [],
        "placementConstraints": [],
        "compatibilities": ["EXTERNAL", "EC2"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        "registeredAt": 1.5,
        "registeredBy": "arn:aws:iam::123456789012:root",
        "deregisteredAt": 2.0,
        "pidMode": "task"
    });
    let tags = vec![crate::ecs::model::Tag {
        key: "team".into(),
        value: "a".into(),
    }];
    let row = serde_json::to_vec(&(&def, &tags)).unwrap();

    let typed: TaskDefinition = serde_json::from_value(def.clone()).unwrap();
    assert_eq!(typed.to_json(), def);
    assert_eq!(
        typed.cpu.as_ref().and_then(crate::ecs::taskdef::Num::value),
        Some(512)
    );
    assert_eq!(
        typed
            .memory
            .as_ref()
            .and_then(crate::ecs::taskdef::Num::value),
        Some(1024)
    );

    let s = State::for_tests();
    let rows = vec![("taskdef/web/0000000001".to_string(), row)];
    let mut restored = State::restore(s.account.clone(), rows, s.keys.clone()).unwrap();
    let described = restored
        .describe_task_definition(DescribeTaskDefinitionRequest {
            task_definition: "web:1".into(),
            include: vec!["TAGS".into()],
        })
        .unwrap();
    assert_eq!(described["taskDefinition"], def);
    assert_eq!(described["tags"], json!([{"key": "team", "value": "a"}]));
}
