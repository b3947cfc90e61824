#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of the emulated control plane: the real `ecs-control-plane` binary, the real AWS
//! CLI, and an agent-side client that signs like the agent (real SDK + aws-sigv4 websocket).

use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::fake_agent::{FakeAgent, SigningIdentity, signed_post};
use ecs_e2e_tests::{ControlPlane, describe_task, register_task_definition, wait_until};
use serde_json::{Value, json};

/// Every member of `expected` is in `actual` with an equal value (objects recursively; arrays
/// element-wise). ECS adds defaults, so `actual` may hold more.
fn assert_contains(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, v) in e {
                let got = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is missing from {actual}"));
                assert_contains(got, v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: {actual} vs {expected}");
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                assert_contains(x, y, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

#[test]
fn task_definition_with_every_field_round_trips_through_the_cli() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let input: Value = serde_json::from_str(&std::fs::read_to_string(
        ecs_e2e_tests::every_field_fixture(),
    )?)?;
    let file = format!("file://{}", ecs_e2e_tests::every_field_fixture().display());

    let first = aws.run(&["ecs", "register-task-definition", "--cli-input-json", &file])?;
    let second = aws.run(&["ecs", "register-task-definition", "--cli-input-json", &file])?;
    assert_eq!(first["taskDefinition"]["revision"], 1);
    assert_eq!(second["taskDefinition"]["revision"], 2);
    assert_eq!(
        second["taskDefinition"]["taskDefinitionArn"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/every-field:2"
    );
    assert_eq!(second["tags"], input["tags"]);

    let described = aws.run(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        "every-field",
        "--include",
        "TAGS",
    ])?;
    let mut expected = input.clone();
    expected.as_object_mut().unwrap().remove("tags");
    assert_contains(&described["taskDefinition"], &expected, "taskDefinition");
    assert_eq!(described["taskDefinition"]["status"], "ACTIVE");
    assert_eq!(described["tags"], input["tags"]);
    assert!(described["taskDefinition"]["registeredAt"].is_number());

    aws.run(&[
        "ecs",
        "register-task-definition",
        "--family",
        "other",
        "--container-definitions",
        r#"[{"name":"a","image":"127.0.0.1:5000/a:1","memory":32}]"#,
    ])?;
    let listed = aws.run(&["ecs", "list-task-definitions", "--family-prefix", "every"])?;
    assert_eq!(
        listed["taskDefinitionArns"],
        json!([
            "arn:aws:ecs:us-east-1:123456789012:task-definition/every-field:1",
            "arn:aws:ecs:us-east-1:123456789012:task-definition/every-field:2"
        ])
    );
    let families = aws.run(&["ecs", "list-task-definition-families"])?;
    assert_eq!(families["families"], json!(["every-field", "other"]));

    aws.run(&[
        "ecs",
        "deregister-task-definition",
        "--task-definition",
        "every-field:1",
    ])?;
    let listed = aws.run(&["ecs", "list-task-definitions", "--family-prefix", "every"])?;
    assert_eq!(listed["taskDefinitionArns"].as_array().unwrap().len(), 1);

    // The CLI paginates for us: 3 pages of 1 give back every ARN.
    let paged = aws.run(&["ecs", "list-task-definitions", "--page-size", "1"])?;
    assert_eq!(paged["taskDefinitionArns"].as_array().unwrap().len(), 2);
    Ok(())
}

fn web_task_def(aws: &ecs_e2e_tests::AwsCli, memory: u32) -> Result<String> {
    let defs = json!([{
        "name": "web", "image": "127.0.0.1:5000/web:1", "memory": memory, "cpu": 256,
        "portMappings": [{"containerPort": 8080, "hostPort": 0}]
    }]);
    register_task_definition(aws, "web", &defs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_client_runs_and_stops_a_task_through_acs() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", "e2e"])?;
    let agent = FakeAgent::register(&cp.endpoint(), "e2e", 2048, 3900).await?;

    let ci = aws.run(&[
        "ecs",
        "describe-container-instances",
        "--cluster",
        "e2e",
        "--container-instances",
        &agent.instance_arn,
    ])?;
    let ci = &ci["containerInstances"][0];
    assert_eq!(ci["agentConnected"], false);
    assert_eq!(ci["status"], "ACTIVE");
    let reg = ci["registeredResources"].as_array().unwrap();
    assert!(
        reg.iter()
            .any(|r| r["name"] == "CPU" && r["integerValue"] == 2048)
    );
    assert!(
        reg.iter()
            .any(|r| r["name"] == "MEMORY" && r["integerValue"] == 3900)
    );
    let attrs = ci["attributes"].as_array().unwrap();
    assert!(attrs.iter().any(|a| a["name"] == "ecs.capability.external"));
    assert!(attrs.iter().any(|a| a["name"] == "ecs.availability-zone"));

    let def = web_task_def(&aws, 512)?;
    // Not connected yet: the instance is not a candidate.
    let out = aws.run(&[
        "ecs",
        "run-task",
        "--cluster",
        "e2e",
        "--task-definition",
        &def,
    ])?;
    assert_eq!(out["failures"][0]["reason"], "AGENT");

    let mut acs = agent.connect().await?;
    wait_until(
        Duration::from_secs(10),
        "agentConnected to become true",
        || {
            let v = aws.run(&[
                "ecs",
                "describe-container-instances",
                "--cluster",
                "e2e",
                "--container-instances",
                &agent.instance_arn,
            ])?;
            anyhow::Ok(v["containerInstances"][0]["agentConnected"] == true)
        },
    )?;

    let out = aws.run(&[
        "ecs",
        "run-task",
        "--cluster",
        "e2e",
        "--task-definition",
        &def,
        "--started-by",
        "e2e-test",
    ])?;
    assert_eq!(out["failures"], json!([]));
    let task_arn = out["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    assert!(task_arn.starts_with("arn:aws:ecs:us-east-1:123456789012:task/e2e/"));
    assert_eq!(task_arn.rsplit('/').next().unwrap().len(), 32);
    assert_eq!(out["tasks"][0]["lastStatus"], "PENDING");

    let payload = acs
        .next_of("PayloadMessage", Duration::from_secs(10))
        .await?;
    let task = &payload["message"]["tasks"][0];
    assert_eq!(task["arn"], task_arn.as_str());
    assert_eq!(task["desiredStatus"], "RUNNING");
    assert_eq!(task["family"], "web");
    assert_eq!(task["containers"][0]["name"], "web");
    assert_eq!(task["containers"][0]["memory"], 512);
    assert_eq!(task["containers"][0]["portMappings"][0]["hostPort"], 0);
    // The payload decodes with the shared wire types the agent will use.
    let frame = ecs_protocol::acs::AcsFrame::decode(&payload.to_string())?;
    assert!(matches!(
        frame,
        ecs_protocol::acs::AcsFrame::Known(ecs_protocol::acs::AcsMessage::PayloadMessage(_))
    ));
    acs.ack(&payload).await?;

    agent
        .submit(&task_arn, "RUNNING", "web", Some((8080, 32768)), None, None)
        .await?;
    let t = describe_task(&aws, "e2e", &task_arn)?;
    assert_eq!(t["lastStatus"], "RUNNING");
    assert_eq!(t["desiredStatus"], "RUNNING");
    assert!(t["startedAt"].is_number());
    let binding = &t["containers"][0]["networkBindings"][0];
    assert_eq!(binding["hostPort"], 32768);
    assert_eq!(binding["containerPort"], 8080);
    assert_eq!(binding["protocol"], "tcp");
    let listed = aws.run(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "e2e",
        "--started-by",
        "e2e-test",
    ])?;
    assert_eq!(listed["taskArns"], json!([task_arn]));

    aws.run(&[
        "ecs",
        "stop-task",
        "--cluster",
        "e2e",
        "--task",
        &task_arn,
        "--reason",
        "test is done",
    ])?;
    let payload = acs
        .next_of("PayloadMessage", Duration::from_secs(10))
        .await?;
    assert_eq!(payload["message"]["tasks"][0]["arn"], task_arn.as_str());
    assert_eq!(payload["message"]["tasks"][0]["desiredStatus"], "STOPPED");
    acs.ack(&payload).await?;
    agent
        .submit(&task_arn, "STOPPED", "web", None, Some(143), None)
        .await?;
    let t = describe_task(&aws, "e2e", &task_arn)?;
    assert_eq!(t["lastStatus"], "STOPPED");
    assert_eq!(t["stoppedReason"], "test is done");
    assert_eq!(t["stopCode"], "UserInitiated");
    assert_eq!(t["containers"][0]["exitCode"], 143);
    assert!(t["stoppedAt"].is_number());
    let listed = aws.run(&[
        "ecs",
        "list-tasks",
        "--cluster",
        "e2e",
        "--desired-status",
        "STOPPED",
    ])?;
    assert_eq!(listed["taskArns"], json!([task_arn]));

    // Heartbeats keep coming and are answered.
    acs.next_of("HeartbeatMessage", Duration::from_secs(5))
        .await?;
    acs.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_shaped_as_aws_clients_expect() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", "small"])?;

    // No instance at all.
    let def = web_task_def(&aws, 4096)?;
    let e = aws.run_err(&[
        "ecs",
        "run-task",
        "--cluster",
        "small",
        "--task-definition",
        &def,
    ])?;
    assert_eq!(
        e.error_code(),
        Some("InvalidParameterException"),
        "{}",
        e.stderr
    );
    assert!(
        e.stderr
            .contains("No Container Instances were found in your cluster.")
    );

    // More memory than any instance has.
    let agent = FakeAgent::register(&cp.endpoint(), "small", 1024, 1000).await?;
    let _acs = agent.connect().await?;
    let out = wait_until(
        Duration::from_secs(10),
        "placement to see the agent",
        || {
            let out = aws.run(&[
                "ecs",
                "run-task",
                "--cluster",
                "small",
                "--task-definition",
                &def,
            ])?;
            anyhow::Ok((out["failures"][0]["reason"] != "AGENT").then_some(out))
        },
    )?;
    assert_eq!(out["tasks"], json!([]));
    assert_eq!(
        out["failures"],
        json!([{"arn": agent.instance_arn, "reason": "RESOURCE:MEMORY"}])
    );

    // Unknown cluster.
    let e = aws.run_err(&["ecs", "list-tasks", "--cluster", "nope"])?;
    assert_eq!(
        e.error_code(),
        Some("ClusterNotFoundException"),
        "{}",
        e.stderr
    );

    // Wrong secret and unknown key.
    let e = aws
        .clone()
        .credentials("AKIAIOSFODNN7EXAMPLE", "not-the-secret")
        .run_err(&["ecs", "list-clusters"])?;
    assert_eq!(
        e.error_code(),
        Some("InvalidSignatureException"),
        "{}",
        e.stderr
    );
    let e = aws
        .clone()
        .credentials("AKIAUNKNOWN000000000", "whatever")
        .run_err(&["ecs", "list-clusters"])?;
    assert_eq!(
        e.error_code(),
        Some("UnrecognizedClientException"),
        "{}",
        e.stderr
    );

    // Unsigned.
    let host = cp.addr.clone();
    let body = b"{}";
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-target: AmazonEC2ContainerServiceV20141113.ListClusters\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let (status, v) = ecs_e2e_tests::fake_agent::raw_exchange(&host, head.as_bytes(), body).await?;
    assert_eq!(status, 403);
    assert_eq!(v["__type"], "MissingAuthenticationTokenException");

    // Signed but malformed JSON, and an unknown operation.
    let id = SigningIdentity::emulator_default();
    let (status, v) = signed_post(
        &cp.endpoint(),
        "ecs",
        "AmazonEC2ContainerServiceV20141113.CreateCluster",
        b"{\"clusterName\": ",
        &id,
    )
    .await?;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (status, v) = signed_post(
        &cp.endpoint(),
        "ecs",
        "AmazonEC2ContainerServiceV20141113.CreateCluster",
        b"{\"clusterName\": 5}",
        &id,
    )
    .await?;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (status, v) = signed_post(
        &cp.endpoint(),
        "ecs",
        "AmazonEC2ContainerServiceV20141113.FlyToTheMoon",
        b"{}",
        &id,
    )
    .await?;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );
    // The emulator is still serving.
    aws.run(&["ecs", "list-clusters"])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_loses_nothing_and_the_agent_carries_on() -> Result<()> {
    let data = tempfile::tempdir()?;
    let cp = ControlPlane::start(Some(data.path()))?;
    let addr = cp.addr.clone();
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", "durable"])?;
    let def = web_task_def(&aws, 256)?;
    let agent = FakeAgent::register(&cp.endpoint(), "durable", 2048, 3900).await?;
    let mut acs = agent.connect().await?;
    let task_arn = wait_until(Duration::from_secs(10), "a task to be placed", || {
        let out = aws.run(&[
            "ecs",
            "run-task",
            "--cluster",
            "durable",
            "--task-definition",
            &def,
        ])?;
        anyhow::Ok(out["tasks"][0]["taskArn"].as_str().map(String::from))
    })?;
    let payload = acs
        .next_of("PayloadMessage", Duration::from_secs(10))
        .await?;
    acs.ack(&payload).await?;
    agent
        .submit(&task_arn, "RUNNING", "web", Some((8080, 40001)), None, None)
        .await?;

    let mut cp = cp;
    cp.process.kill()?;
    drop(cp);
    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;

    let clusters = aws.run(&["ecs", "list-clusters"])?;
    assert!(
        clusters["clusterArns"]
            .as_array()
            .unwrap()
            .contains(&json!("arn:aws:ecs:us-east-1:123456789012:cluster/durable"))
    );
    aws.run(&["ecs", "describe-task-definition", "--task-definition", &def])?;
    let ci = aws.run(&[
        "ecs",
        "describe-container-instances",
        "--cluster",
        "durable",
        "--container-instances",
        &agent.instance_arn,
    ])?;
    assert_eq!(ci["containerInstances"][0]["status"], "ACTIVE");
    assert_eq!(ci["containerInstances"][0]["runningTasksCount"], 1);
    let t = describe_task(&aws, "durable", &task_arn)?;
    assert_eq!(t["lastStatus"], "RUNNING");
    assert_eq!(t["containers"][0]["networkBindings"][0]["hostPort"], 40001);

    // The agent reconnects (its old socket died with the process) and carries on.
    assert!(
        acs.next_of("PayloadMessage", Duration::from_secs(5))
            .await
            .is_err()
    );
    let mut acs = agent.connect().await?;
    aws.run(&[
        "ecs",
        "stop-task",
        "--cluster",
        "durable",
        "--task",
        &task_arn,
    ])?;
    // The first payload's ack may not have been processed before the kill: delivery is at least
    // once, so a resent RUNNING payload may come first (the agent treats it as a duplicate).
    let payload = loop {
        let p = acs
            .next_of("PayloadMessage", Duration::from_secs(10))
            .await?;
        acs.ack(&p).await?;
        if p["message"]["tasks"][0]["desiredStatus"] == "STOPPED" {
            break p;
        }
        assert_eq!(
            p["message"]["seqNum"], 1,
            "only the unacked first payload may be resent"
        );
    };
    assert_eq!(payload["message"]["tasks"][0]["arn"], task_arn.as_str());
    // seqNum keeps increasing across the restart.
    assert_eq!(payload["message"]["seqNum"], 2);
    drop(cp);
    Ok(())
}

#[test]
fn temporary_credentials_from_sts_are_accepted_with_their_token() -> Result<()> {
    let data = tempfile::tempdir()?;
    let cp = ControlPlane::start(Some(data.path()))?;
    let aws = cp.aws()?;
    let me = aws.run(&["sts", "get-caller-identity"])?;
    assert_eq!(me["Account"], "123456789012");
    assert_eq!(me["Arn"], "arn:aws:iam::123456789012:root");

    let out = aws.run(&[
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::123456789012:role/deployer",
        "--role-session-name",
        "ci",
    ])?;
    let c = &out["Credentials"];
    let (ak, sk, token) = (
        c["AccessKeyId"].as_str().unwrap(),
        c["SecretAccessKey"].as_str().unwrap(),
        c["SessionToken"].as_str().unwrap(),
    );
    assert!(ak.starts_with("ASIA"));
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/deployer/ci"
    );
    let temp = aws.clone().credentials(ak, sk).session_token(token);
    temp.run(&["ecs", "create-cluster", "--cluster-name", "from-temp"])?;
    let who = temp.run(&["sts", "get-caller-identity"])?;
    assert_eq!(
        who["Arn"],
        "arn:aws:sts::123456789012:assumed-role/deployer/ci"
    );

    // Without the token, or with another one, the key is refused.
    let e = aws
        .clone()
        .credentials(ak, sk)
        .run_err(&["ecs", "list-clusters"])?;
    assert_eq!(
        e.error_code(),
        Some("UnrecognizedClientException"),
        "{}",
        e.stderr
    );
    let e = aws
        .clone()
        .credentials(ak, sk)
        .session_token("forged")
        .run_err(&["ecs", "list-clusters"])?;
    assert_eq!(
        e.error_code(),
        Some("UnrecognizedClientException"),
        "{}",
        e.stderr
    );

    // Issued keys survive an emulator restart.
    let addr = cp.addr.clone();
    drop(cp);
    let _cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    temp.run(&["ecs", "list-clusters"])?;
    let e = aws.run_err(&[
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::123456789012:user/someone",
        "--role-session-name",
        "xy",
    ])?;
    assert_eq!(e.error_code(), Some("ValidationError"), "{}", e.stderr);
    Ok(())
}
