#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of task placement strategies in the emulated control plane: `spread` by
//! instance and by attribute, `binpack` on memory, a service's strategy and ECS's default for
//! services, and the strategies ECS refuses. The real `ecs-control-plane` binary and the real
//! AWS CLI; fake agents (real SDK registration with chosen attributes, signed ACS websocket) that
//! never run anything, so every placed task stays PENDING and keeps its resources and its place
//! in its group. No Docker. Raw answers are checked against botocore's ECS model.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};
use ecs_e2e_tests::fake_agent::{FakeAgent, SigningIdentity, signed_post};
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{AwsCli, ControlPlane, register_task_definition_with, wait_until};
use serde_json::{Value, json};

const CLUSTER: &str = "strategies";
const ZONE: &str = "ecs.availability-zone";

fn run_task(aws: &AwsCli, def: &str, extra: &[&str]) -> Result<Value> {
    ecs_e2e_tests::run_task(aws, CLUSTER, def, extra)
}

/// How many of `out`'s tasks went to each instance.
fn per_instance(out: &Value) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for t in out["tasks"].as_array().unwrap() {
        *n.entry(t["containerInstanceArn"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    n
}

/// A signed request as the SDKs send it: the input and the answer (or error) checked against
/// botocore's model. Returns the status and the body.
async fn call(
    cp: &ControlPlane,
    model: &ServiceModel,
    op: &str,
    input: &Value,
) -> Result<(u16, Value)> {
    model.validate_input(op, input)?;
    call_unchecked(cp, model, op, input).await
}

/// [`call`] with an input the model may refuse (the CLI does not check enums; SDKs do), for
/// what ECS must refuse itself; the answer is still checked.
async fn call_unchecked(
    cp: &ControlPlane,
    model: &ServiceModel,
    op: &str,
    input: &Value,
) -> Result<(u16, Value)> {
    let (status, body) = signed_post(
        &cp.endpoint(),
        "ecs",
        &format!("AmazonEC2ContainerServiceV20141113.{op}"),
        input.to_string().as_bytes(),
        &SigningIdentity::emulator_default(),
    )
    .await?;
    if status == 200 {
        model.validate_output(op, &body)?;
    } else {
        model.validate_error(op, status, &body)?;
    }
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_strategies_rank_the_instances() -> Result<()> {
    let model = ServiceModel::ecs()?;
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;

    // Two instances in zone a, one in zone b; memory 4096, 3072, 2048; racks r1, r2, r1.
    let mut agents = Vec::new();
    for (memory, zone, rack) in [
        (4096, "us-east-1a", "r1"),
        (3072, "us-east-1a", "r2"),
        (2048, "us-east-1b", "r1"),
    ] {
        let agent = FakeAgent::register_with_attributes(
            &cp.endpoint(),
            CLUSTER,
            4096,
            memory,
            &[(ZONE, Some(zone)), ("rack", Some(rack))],
        )
        .await?;
        let acs = agent.connect().await?;
        agents.push((agent, acs));
    }
    let [big, mid, small] = [0, 1, 2].map(|i| agents[i].0.instance_arn.clone());
    let arns = [big.as_str(), mid.as_str(), small.as_str()];
    wait_until(Duration::from_secs(10), "three connected agents", || {
        let mut args = vec![
            "ecs",
            "describe-container-instances",
            "--cluster",
            CLUSTER,
            "--container-instances",
        ];
        args.extend_from_slice(&arns);
        let out = aws.run(&args)?;
        let connected = out["containerInstances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["agentConnected"] == true)
            .count();
        anyhow::Ok(connected == 3)
    })?;
    // The emulator's own zone attribute does not override the one the agent sent.
    let described = aws.run(&[
        "ecs",
        "describe-container-instances",
        "--cluster",
        CLUSTER,
        "--container-instances",
        &small,
    ])?;
    assert!(
        described["containerInstances"][0]["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": ZONE, "value": "us-east-1b"})),
        "{described}"
    );

    let def = register_task_definition_with(
        &aws,
        "strategies-web",
        &json!([{"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 128}]),
        &[],
    )?;

    // spread by instanceId: six tasks, two on each instance.
    let out = run_task(
        &aws,
        &def,
        &[
            "--count",
            "6",
            "--group",
            "even",
            "--placement-strategy",
            "type=spread,field=instanceId",
        ],
    )?;
    assert_eq!(
        per_instance(&out),
        BTreeMap::from([(big.clone(), 2), (mid.clone(), 2), (small.clone(), 2)]),
        "{out}"
    );

    // binpack on memory: the fullest instance (the smallest) takes all three.
    let out = run_task(
        &aws,
        &def,
        &[
            "--count",
            "3",
            "--placement-strategy",
            "type=binpack,field=memory",
        ],
    )?;
    assert_eq!(
        per_instance(&out),
        BTreeMap::from([(small.clone(), 3)]),
        "{out}"
    );
    // Without a strategy, RunTask still takes the emptiest instance by memory.
    let out = run_task(&aws, &def, &[])?;
    assert_eq!(per_instance(&out), BTreeMap::from([(big.clone(), 1)]));

    // spread by zone: four tasks, two in each zone (zone b has one instance).
    let input = json!({
        "cluster": CLUSTER, "taskDefinition": def, "count": 4, "group": "zones",
        "placementStrategy": [{"type": "spread", "field": format!("attribute:{ZONE}")}],
    });
    let (status, out) = call(&cp, &model, "RunTask", &input).await?;
    assert_eq!(status, 200, "{out}");
    let placed = per_instance(&out);
    assert_eq!(placed.get(&small), Some(&2), "{out}");
    assert_eq!(
        placed.get(&big).unwrap_or(&0) + placed.get(&mid).unwrap_or(&0),
        2,
        "{out}"
    );

    // spread by a custom attribute, then by instance: rack r2 (one instance) gets half; the
    // other half goes one to each r1 instance.
    let out = run_task(
        &aws,
        &def,
        &[
            "--count",
            "4",
            "--group",
            "racks",
            "--placement-strategy",
            &json!([{"type": "spread", "field": "attribute:rack"},
                     {"type": "spread", "field": "host"}])
            .to_string(),
        ],
    )?;
    assert_eq!(
        per_instance(&out),
        BTreeMap::from([(big.clone(), 1), (mid.clone(), 2), (small.clone(), 1)]),
        "{out}"
    );

    // A service with a strategy spreads its own tasks; one without uses ECS's default
    // (zones, then instances): three tasks land one per instance either way.
    for (name, strategy) in [
        (
            "spread-svc",
            vec!["--placement-strategy", "type=spread,field=instanceId"],
        ),
        ("default-svc", vec![]),
    ] {
        let mut args = vec![
            "ecs",
            "create-service",
            "--cluster",
            CLUSTER,
            "--service-name",
            name,
            "--task-definition",
            &def,
            "--desired-count",
            "3",
        ];
        args.extend_from_slice(&strategy);
        let created = aws.run(&args)?;
        let want = if strategy.is_empty() {
            json!([])
        } else {
            json!([{"type": "spread", "field": "instanceId"}])
        };
        assert_eq!(created["service"]["placementStrategy"], want, "{created}");
        let tasks = wait_until(Duration::from_secs(15), "the service's three tasks", || {
            let listed = aws.run(&[
                "ecs",
                "list-tasks",
                "--cluster",
                CLUSTER,
                "--service-name",
                name,
            ])?;
            let arns: Vec<String> = listed["taskArns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            anyhow::Ok((arns.len() == 3).then_some(arns))
        })?;
        let (status, out) = call(
            &cp,
            &model,
            "DescribeTasks",
            &json!({"cluster": CLUSTER, "tasks": tasks}),
        )
        .await?;
        assert_eq!(status, 200, "{out}");
        assert_eq!(
            per_instance(&out),
            BTreeMap::from([(big.clone(), 1), (mid.clone(), 1), (small.clone(), 1)]),
            "{name}: {out}"
        );
    }

    // What ECS refuses, as InvalidParameterException, from the CLI and over the wire.
    for (strategy, words) in [
        (
            json!([{"type": "pack", "field": "cpu"}]),
            "Invalid placement strategy type 'pack'",
        ),
        (
            json!([{"type": "binpack", "field": "instanceId"}]),
            "Invalid field 'instanceId' for the binpack placement strategy",
        ),
        (
            json!([{"type": "spread", "field": "memory"}]),
            "Invalid field 'memory' for the spread placement strategy",
        ),
        (
            json!([{"type": "random", "field": "cpu"}]),
            "The random placement strategy takes no field",
        ),
        (
            Value::Array(vec![json!({"type": "random"}); 6]),
            "Too many placement strategies: 6",
        ),
    ] {
        let err = aws.run_err(&[
            "ecs",
            "run-task",
            "--cluster",
            CLUSTER,
            "--task-definition",
            &def,
            "--placement-strategy",
            &strategy.to_string(),
        ])?;
        assert_eq!(
            err.error_code(),
            Some("InvalidParameterException"),
            "{err:?}"
        );
        assert!(err.stderr.contains(words), "{words}: {err:?}");
        let (status, body) = call_unchecked(
            &cp,
            &model,
            "CreateService",
            &json!({"cluster": CLUSTER, "serviceName": "refused", "taskDefinition": def,
                    "desiredCount": 1, "placementStrategy": strategy}),
        )
        .await?;
        if status != 400 || body["__type"] != "InvalidParameterException" {
            bail!("CreateService with {strategy} answered {status}: {body}");
        }
        assert!(body["message"].as_str().unwrap().contains(words), "{body}");
    }
    // UpdateService refuses them too, and leaves the service as it was.
    let err = aws.run_err(&[
        "ecs",
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        "spread-svc",
        "--desired-count",
        "5",
        "--placement-strategy",
        "type=binpack,field=disk",
    ])?;
    assert_eq!(
        err.error_code(),
        Some("InvalidParameterException"),
        "{err:?}"
    );
    let out = aws.run(&[
        "ecs",
        "describe-services",
        "--cluster",
        CLUSTER,
        "--services",
        "spread-svc",
    ])?;
    assert_eq!(out["services"][0]["desiredCount"], 3, "{out}");
    Ok(())
}
