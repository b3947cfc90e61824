#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of placement filters in the emulated control plane: a task definition's
//! `requiresAttributes` against the instances' capabilities (ECS reason `ATTRIBUTE`), and
//! `placementConstraints` (`memberOf` with the cluster query language, `distinctInstance`).
//! The real `ecs-control-plane` binary and the real AWS CLI; fake agents (real SDK
//! registration with chosen attributes, signed ACS websocket); no Docker. Answers are checked
//! against botocore's ECS model as they come over the wire.

use std::time::Duration;

use anyhow::{Result, bail};
use ecs_e2e_tests::fake_agent::{FakeAgent, SigningIdentity, signed_post};
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{AwsCli, ControlPlane, register_task_definition_with, wait_until};
use serde_json::{Value, json};

const CLUSTER: &str = "placement";
const AWSLOGS: &str = "com.amazonaws.ecs.capability.logging-driver.awslogs";

fn register(aws: &AwsCli, family: &str, container: Value, extra: &[&str]) -> Result<String> {
    register_task_definition_with(aws, family, &json!([container]), extra)
}

fn run_task(aws: &AwsCli, def: &str, extra: &[&str]) -> Result<Value> {
    ecs_e2e_tests::run_task(aws, CLUSTER, def, extra)
}

fn member_of(expression: &str) -> String {
    json!([{"type": "memberOf", "expression": expression}]).to_string()
}

/// The instance each placed task went to.
fn placed_on(out: &Value) -> Vec<String> {
    out["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["containerInstanceArn"].as_str().unwrap().to_string())
        .collect()
}

/// RunTask as the SDKs send it, its raw answer checked against botocore's model.
async fn run_task_checked(cp: &ControlPlane, model: &ServiceModel, input: &Value) -> Result<Value> {
    model.validate_input("RunTask", input)?;
    let (status, body) = signed_post(
        &cp.endpoint(),
        "ecs",
        "AmazonEC2ContainerServiceV20141113.RunTask",
        input.to_string().as_bytes(),
        &SigningIdentity::emulator_default(),
    )
    .await?;
    if status != 200 {
        bail!("RunTask answered {status}: {body}");
    }
    model.validate_output("RunTask", &body)?;
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_honours_required_attributes_and_constraints() -> Result<()> {
    let model = ServiceModel::ecs()?;
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;

    // Instance "blue" cannot ship logs to CloudWatch; it is the only one at first.
    let blue = FakeAgent::register_with_attributes(
        &cp.endpoint(),
        CLUSTER,
        2048,
        4096,
        &[
            (
                "com.amazonaws.ecs.capability.logging-driver.json-file",
                None,
            ),
            ("stack", Some("blue")),
        ],
    )
    .await?;
    let _blue_acs = blue.connect().await?;

    let logs_def = register(
        &aws,
        "placement-awslogs",
        json!({"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 64,
               "logConfiguration": {"logDriver": "awslogs", "options": {
                   "awslogs-group": "g", "awslogs-region": "us-east-1"}}}),
        &[],
    )?;
    let described = aws.run(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &logs_def,
    ])?;
    assert!(
        described["taskDefinition"]["requiresAttributes"]
            .to_string()
            .contains(AWSLOGS),
        "{described}"
    );

    // Refused at placement with ECS's reason, once the agent's connection is seen (AGENT before).
    let input = json!({"cluster": CLUSTER, "taskDefinition": logs_def});
    let refused = wait_until(Duration::from_secs(10), "an ATTRIBUTE failure", || {
        let out = run_task(&aws, &logs_def, &[])?;
        anyhow::Ok((out["failures"][0]["reason"] != "AGENT").then_some(out))
    })?;
    assert_eq!(refused["tasks"], json!([]), "{refused}");
    assert_eq!(
        refused["failures"],
        json!([{"arn": blue.instance_arn, "reason": "ATTRIBUTE"}]),
        "{refused}"
    );
    let raw = run_task_checked(&cp, &model, &input).await?;
    assert_eq!(raw["failures"][0]["reason"], "ATTRIBUTE", "{raw}");
    assert_eq!(raw["tasks"], json!([]), "{raw}");

    // Instance "green" has the capability: the task goes there.
    let green = FakeAgent::register_with_attributes(
        &cp.endpoint(),
        CLUSTER,
        2048,
        4096,
        &[(AWSLOGS, None), ("stack", Some("green"))],
    )
    .await?;
    let _green_acs = green.connect().await?;
    let placed = wait_until(Duration::from_secs(10), "the awslogs task placed", || {
        let out = run_task(&aws, &logs_def, &[])?;
        anyhow::Ok((!out["tasks"].as_array().unwrap().is_empty()).then_some(out))
    })?;
    assert_eq!(placed_on(&placed), vec![green.instance_arn.clone()]);
    assert_eq!(placed["failures"], json!([]), "{placed}");
    let raw = run_task_checked(&cp, &model, &input).await?;
    assert_eq!(placed_on(&raw), vec![green.instance_arn.clone()], "{raw}");

    // memberOf on RunTask picks the instance by attribute.
    let web = register(
        &aws,
        "placement-web",
        json!({"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 64}),
        &[],
    )?;
    for (expression, instance) in [
        ("attribute:stack == blue", &blue.instance_arn),
        ("attribute:stack != blue", &green.instance_arn),
        ("attribute:stack in [green, red]", &green.instance_arn),
        ("attribute:stack =~ bl*", &blue.instance_arn),
        (
            "attribute:ecs.os-type == linux and not(attribute:stack == green)",
            &blue.instance_arn,
        ),
    ] {
        let out = run_task(
            &aws,
            &web,
            &["--placement-constraints", &member_of(expression)],
        )?;
        assert_eq!(
            placed_on(&out),
            vec![instance.clone()],
            "{expression}: {out}"
        );
    }

    // No instance matches: every candidate fails with the memberOf reason.
    let out = run_task(
        &aws,
        &web,
        &[
            "--placement-constraints",
            &member_of(&format!(
                "attribute:{AWSLOGS} exists and attribute:gpu exists"
            )),
        ],
    )?;
    assert_eq!(out["tasks"], json!([]), "{out}");
    let mut failures: Vec<(String, String)> = out["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["arn"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    failures.sort();
    let mut want = vec![
        (
            blue.instance_arn.clone(),
            "MemberOf placement constraint unsatisfied.".to_string(),
        ),
        (
            green.instance_arn.clone(),
            "MemberOf placement constraint unsatisfied.".to_string(),
        ),
    ];
    want.sort();
    assert_eq!(failures, want, "{out}");

    // A custom attribute put with PutAttributes counts at once.
    aws.run(&[
        "ecs",
        "put-attributes",
        "--cluster",
        CLUSTER,
        "--attributes",
        &format!("name=gpu,value=1,targetId={}", green.instance_arn),
    ])?;
    let out = run_task(
        &aws,
        &web,
        &[
            "--placement-constraints",
            &member_of("attribute:gpu exists"),
        ],
    )?;
    assert_eq!(placed_on(&out), vec![green.instance_arn.clone()], "{out}");

    // A task definition's memberOf constraint applies to every RunTask.
    let pinned = register(
        &aws,
        "placement-pinned",
        json!({"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 64}),
        &[
            "--placement-constraints",
            &member_of("attribute:stack == blue"),
        ],
    )?;
    let out = run_task(&aws, &pinned, &["--count", "2"])?;
    assert_eq!(
        placed_on(&out),
        vec![blue.instance_arn.clone(), blue.instance_arn.clone()],
        "{out}"
    );

    // distinctInstance: one task of the group per instance; the third finds no instance.
    let out = run_task(
        &aws,
        &web,
        &[
            "--count",
            "3",
            "--group",
            "distinct",
            "--placement-constraints",
            r#"[{"type": "distinctInstance"}]"#,
        ],
    )?;
    let mut on = placed_on(&out);
    on.sort();
    let mut both = vec![blue.instance_arn.clone(), green.instance_arn.clone()];
    both.sort();
    assert_eq!(on, both, "{out}");
    let reasons: Vec<&str> = out["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        !reasons.is_empty()
            && reasons
                .iter()
                .all(|r| *r == "DistinctInstance placement constraint unsatisfied."),
        "{out}"
    );
    let raw = run_task_checked(
        &cp,
        &model,
        &json!({"cluster": CLUSTER, "taskDefinition": web, "group": "distinct",
                "placementConstraints": [{"type": "distinctInstance"}]}),
    )
    .await?;
    assert_eq!(raw["tasks"], json!([]), "{raw}");

    // A bad expression is the caller's error, naming the expression and what is wrong.
    let err = aws.run_err(&[
        "ecs",
        "run-task",
        "--cluster",
        CLUSTER,
        "--task-definition",
        &web,
        "--placement-constraints",
        &member_of("attribute:stack =="),
    ])?;
    assert_eq!(
        err.error_code(),
        Some("InvalidParameterException"),
        "{err:?}"
    );
    assert!(
        err.stderr.contains("'attribute:stack =='")
            && err.stderr.contains("expected a value after"),
        "{err:?}"
    );
    let err = aws.run_err(&[
        "ecs",
        "register-task-definition",
        "--family",
        "placement-bad",
        "--container-definitions",
        &json!([{"name": "web", "image": "x", "memory": 64}]).to_string(),
        "--placement-constraints",
        &member_of("zone == a"),
    ])?;
    assert_eq!(err.error_code(), Some("ClientException"), "{err:?}");
    assert!(err.stderr.contains("unknown field 'zone'"), "{err:?}");
    // distinctInstance belongs to RunTask (and services), without an expression.
    let err = aws.run_err(&[
        "ecs",
        "register-task-definition",
        "--family",
        "placement-bad",
        "--container-definitions",
        &json!([{"name": "web", "image": "x", "memory": 64}]).to_string(),
        "--placement-constraints",
        r#"[{"type": "distinctInstance"}]"#,
    ])?;
    assert_eq!(err.error_code(), Some("ClientException"), "{err:?}");
    assert!(
        err.stderr
            .contains("constraint.type 'distinctInstance' is not supported."),
        "{err:?}"
    );
    let err = aws.run_err(&[
        "ecs",
        "run-task",
        "--cluster",
        CLUSTER,
        "--task-definition",
        &web,
        "--placement-constraints",
        r#"[{"type": "distinctInstance", "expression": "attribute:stack exists"}]"#,
    ])?;
    assert_eq!(
        err.error_code(),
        Some("InvalidParameterException"),
        "{err:?}"
    );
    assert!(
        err.stderr
            .contains("distinctInstance expression should not be specified."),
        "{err:?}"
    );
    Ok(())
}
