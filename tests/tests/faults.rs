#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The control plane's fault-injection admin interface (`--admin-listen`), end to end: the real
//! `ecs-control-plane` binary, the real AWS CLI (one attempt per call, so an injected error shows
//! at once) and the fake agent's ACS websocket.
//!
//! - A counted `ThrottlingException` on ECS `ListClusters` fails one `aws ecs list-clusters`, then
//!   the next succeeds; a 500 on CloudWatch Logs `PutLogEvents` fails one `aws logs
//!   put-log-events`; a delay rule holds a call at least that long.
//! - `POST /acs/drop` closes a connected agent's ACS websocket; `POST /credentials/expire` pushes
//!   fresh task role credentials on ACS, and the old ones answer ExpiredToken.
//! - Without the flag nothing answers the admin paths; a non-loopback `--admin-listen` stops the
//!   binary at start with a clear error.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use ecs_e2e_tests::fake_agent::FakeAgent;
use ecs_e2e_tests::{
    AwsCli, ControlPlane, free_port, http_get, http_request, register_task_definition_with,
    workspace_bin,
};
use serde_json::{Value, json};

/// The control plane with the admin interface on a free loopback port; returns it and the
/// admin base URL.
fn start_with_admin() -> Result<(ControlPlane, String)> {
    let admin = format!("127.0.0.1:{}", free_port()?);
    let cp = ControlPlane::start_with_args(
        &format!("127.0.0.1:{}", free_port()?),
        None,
        &["--admin-listen", &admin],
    )?;
    Ok((cp, format!("http://{admin}")))
}

/// `POST {admin}{path}` with `body`; the answer's JSON, after checking its status.
fn post(admin: &str, path: &str, body: &Value, status: u16) -> Result<Value> {
    let r = http_request(
        "POST",
        &format!("{admin}{path}"),
        body.to_string().as_bytes(),
    )?;
    ensure!(
        r.status == status,
        "POST {path} {body}: {} {}",
        r.status,
        r.text()
    );
    r.json()
}

/// A put-log-events call on `group`/`stream`.
fn put_log_event(aws: &AwsCli, group: &str, stream: &str) -> Result<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        .to_string();
    aws.run(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
        "--log-events",
        &format!("timestamp={now},message=hello"),
    ])
}

#[test]
fn injected_errors_and_delays_reach_the_aws_cli() -> Result<()> {
    let (cp, admin) = start_with_admin()?;
    let aws = cp.aws()?;

    // ThrottlingException once on ListClusters: the CLI fails with it, then succeeds.
    let rule = post(
        &admin,
        "/faults",
        &json!({"service": "ecs", "operation": "ListClusters", "count": 1,
                "error": {"code": "ThrottlingException", "message": "Rate exceeded"}}),
        201,
    )?;
    assert_eq!(rule["remaining"], 1);
    let listed = http_get(&format!("{admin}/faults"))?.json()?;
    assert_eq!(listed["faults"][0]["operation"], "ListClusters");
    // Other operations of the service are not affected.
    aws.run(&["ecs", "describe-clusters"])?;
    let err = aws.run_err(&["ecs", "list-clusters"])?;
    assert_eq!(
        err.error_code(),
        Some("ThrottlingException"),
        "{}",
        err.stderr
    );
    assert!(err.stderr.contains("Rate exceeded"), "{}", err.stderr);
    aws.run(&["ecs", "list-clusters"])?;
    assert_eq!(
        http_get(&format!("{admin}/faults"))?.json()?["faults"],
        json!([])
    );

    // A 500 on CloudWatch Logs PutLogEvents, in the service's own JSON error.
    aws.run(&["logs", "create-log-group", "--log-group-name", "faults"])?;
    aws.run(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        "faults",
        "--log-stream-name",
        "s",
    ])?;
    post(
        &admin,
        "/faults",
        &json!({"service": "logs", "operation": "PutLogEvents", "count": 1,
                "error": {"code": "ServiceUnavailableException", "message": "try later", "status": 500}}),
        201,
    )?;
    let err = match put_log_event(&aws, "faults", "s") {
        Ok(v) => anyhow::bail!("PutLogEvents succeeded under a fault: {v}"),
        Err(e) => e.downcast::<ecs_e2e_tests::AwsCliError>()?,
    };
    assert_eq!(
        err.error_code(),
        Some("ServiceUnavailableException"),
        "{}",
        err.stderr
    );
    put_log_event(&aws, "faults", "s")?;

    // A delay: the call takes at least that long (a lower bound only; the CLI has its own cost).
    let rule = post(
        &admin,
        "/faults",
        &json!({"service": "ecs", "operation": "*", "delay_ms": 1500}),
        201,
    )?;
    let started = Instant::now();
    aws.run(&["ecs", "list-clusters"])?;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let id = rule["id"].as_u64().unwrap();
    let deleted = http_request("DELETE", &format!("{admin}/faults/{id}"), b"")?;
    assert_eq!(deleted.status, 204);
    let again = http_request("DELETE", &format!("{admin}/faults/{id}"), b"")?;
    assert_eq!(again.status, 404);

    // Bad rules are refused naming the field.
    let bad = http_request(
        "POST",
        &format!("{admin}/faults"),
        br#"{"service":"ecs","operation":"ListClusters","error":{"code":"X","status":200}}"#,
    )?;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("error.status"), "{}", bad.text());
    let bad = http_request("POST", &format!("{admin}/faults"), br#"{"service":"ecs"}"#)?;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("operation"), "{}", bad.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acs_drop_closes_sessions_and_credentials_expire_early() -> Result<()> {
    let (cp, admin) = start_with_admin()?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", "faults"])?;
    let agent = FakeAgent::register_with_attributes(
        &cp.endpoint(),
        "faults",
        1024,
        1024,
        &[("com.amazonaws.ecs.capability.task-iam-role", None)],
    )
    .await?;
    let mut acs = agent.connect().await?;

    // A task with a role: its payload carries credentials.
    let def = register_task_definition_with(
        &aws,
        "faults",
        &json!([{"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 64}]),
        &["--task-role-arn", "arn:aws:iam::123456789012:role/app"],
    )?;
    let mut payload = None;
    // The instance shows connected shortly after the upgrade: retry the placement until then.
    for _ in 0..50 {
        let out = aws.run(&[
            "ecs",
            "run-task",
            "--cluster",
            "faults",
            "--task-definition",
            &def,
        ])?;
        if out["failures"] == json!([]) {
            payload = Some(
                acs.next_of("PayloadMessage", Duration::from_secs(10))
                    .await?,
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let payload = payload.expect("the task was never placed");
    acs.ack(&payload).await?;
    let task = &payload["message"]["tasks"][0];
    let task_arn = task["arn"].as_str().unwrap().to_string();
    let old = task["roleCredentials"].clone();
    let with = |c: &Value| {
        aws.clone()
            .credentials(
                c["accessKeyId"].as_str().unwrap(),
                c["secretAccessKey"].as_str().unwrap(),
            )
            .session_token(c["sessionToken"].as_str().unwrap())
    };
    with(&old).run(&["sts", "get-caller-identity"])?;

    let expired = post(
        &admin,
        "/credentials/expire",
        &json!({"taskArn": task_arn}),
        200,
    )?;
    assert_eq!(expired["count"], 1);
    let refresh = acs
        .next_of("IAMRoleCredentialsMessage", Duration::from_secs(10))
        .await?;
    let fresh = &refresh["message"]["roleCredentials"];
    assert_eq!(refresh["message"]["taskArn"], task_arn.as_str());
    assert_eq!(fresh["credentialsId"], old["credentialsId"]);
    assert_ne!(fresh["accessKeyId"], old["accessKeyId"]);
    with(fresh).run(&["sts", "get-caller-identity"])?;
    let err = with(&old).run(&["sts", "get-caller-identity"]).unwrap_err();
    assert!(format!("{err:#}").contains("ExpiredToken"), "{err:#}");

    // Dropping another instance's sessions leaves this one open; dropping its own closes it.
    let none = post(
        &admin,
        "/acs/drop",
        &json!({"containerInstanceArn": "arn:aws:ecs:us-east-1:123456789012:container-instance/faults/none"}),
        200,
    )?;
    assert_eq!(none["count"], 0);
    let dropped = post(
        &admin,
        "/acs/drop",
        &json!({"containerInstanceArn": agent.instance_arn}),
        200,
    )?;
    assert_eq!(dropped["count"], 1);
    acs.wait_closed(Duration::from_secs(10)).await?;
    // The agent reconnects, as a real one would.
    let mut again = agent.connect().await?;
    again
        .next_of("HeartbeatMessage", Duration::from_secs(10))
        .await?;
    Ok(())
}

#[test]
fn the_admin_interface_is_off_without_the_flag_and_loopback_only() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    // The API listener does not answer the admin paths.
    assert_eq!(http_get(&format!("{}/faults", cp.endpoint()))?.status, 404);

    // A non-loopback admin address stops the binary at start, saying why.
    let out = ecs_e2e_tests::output(
        Command::new(workspace_bin("ecs-control-plane"))
            .args(["--listen", &format!("127.0.0.1:{}", free_port()?)])
            .args(["--admin-listen", &format!("0.0.0.0:{}", free_port()?)])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY"),
        Duration::from_secs(20),
    )?;
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("loopback only"), "{}", out.stderr);
    Ok(())
}
