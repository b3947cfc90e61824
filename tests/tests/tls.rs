#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of the control plane's TLS listeners (issue 16, "across a network,
//! securely"): the real `ecs-control-plane` refuses plain HTTP beyond loopback unless told, and
//! serves HTTPS and wss with a certificate of its own CA; the real `ecs-agent`, given that CA as
//! `AWS_CA_BUNDLE`, registers, opens its ACS session and runs a task with an SSM secret over
//! them, and clients without the CA (the AWS CLI, an agent) are refused.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::{
    Agent, AwsCli, ChildProcess, ClusterCleanup, ControlPlane, Registry, docker, free_port,
    register_task_definition_with, run_when_placed, unique, wait_agents_connected, wait_status,
    wait_until, workspace_bin,
};
use serde_json::json;

/// `ecs-control-plane ARGS` on `--listen ADDR`, with its state in memory.
fn control_plane(addr: &str, args: &[&str]) -> Result<ChildProcess> {
    let mut cmd = Command::new(workspace_bin("ecs-control-plane"));
    cmd.args(["--listen", addr])
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    ChildProcess::spawn("ecs-control-plane", &mut cmd)
}

#[test]
fn plain_http_beyond_loopback_is_refused_unless_allowed_explicitly() -> Result<()> {
    let port = free_port()?;
    let anywhere = format!("0.0.0.0:{port}");
    let mut refused = control_plane(&anywhere, &[])?;
    let status = refused.wait_exit(Duration::from_secs(20))?;
    let said = refused.output();
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("refusing to serve plain HTTP on {anywhere}"))
            && said.contains("--tls")
            && said.contains("--insecure-listen"),
        "{said}"
    );
    // Told explicitly (plain HTTP), or with TLS, it listens there.
    for args in [&["--insecure-listen"][..], &["--tls"][..]] {
        let mut allowed = control_plane(&anywhere, args)?;
        wait_until(
            Duration::from_secs(20),
            "the control plane to listen",
            || {
                anyhow::ensure!(allowed.is_running(), "it exited: {}", allowed.output());
                Ok(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
            },
        )?;
        allowed.terminate(Duration::from_secs(10))?;
    }
    Ok(())
}

#[test]
fn agent_works_over_https_and_wss_with_the_ca_bundle_and_clients_without_it_are_refused()
-> Result<()> {
    let cluster = unique("tls");
    let _cleanup = ClusterCleanup(cluster.clone());
    let registry = Registry::start()?;
    let image = registry.push_test_image()?;
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.pem");
    let ca_arg = ca.display().to_string();
    let addr = format!("127.0.0.1:{}", free_port()?);
    let cp = ControlPlane::start_with_args(&addr, None, &["--tls", "--tls-ca-out", &ca_arg])?;
    let endpoint = format!("https://{addr}");
    // Its port accepts connections once bound; the CA is written just after.
    let pem = wait_until(Duration::from_secs(20), "the CA certificate file", || {
        anyhow::Ok(std::fs::read_to_string(&ca).ok())
    })?;
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

    // The AWS CLI: refused without the CA, served with it (AWS_CA_BUNDLE).
    let untrusted = AwsCli::new(&endpoint)?.output(&["ecs", "list-clusters"])?;
    assert!(!untrusted.success(), "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("SSL validation failed")
            || untrusted.stderr.contains("CERTIFICATE_VERIFY_FAILED"),
        "{untrusted:?}"
    );
    let aws = AwsCli::new(&endpoint)?.ca_bundle(&ca);
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;

    // The agent with the CA as AWS_CA_BUNDLE: registers (the SDK's client), opens its ACS
    // session (tungstenite; wss, since DiscoverPollEndpoint answers https on this listener) and
    // runs a task whose secret it reads from SSM (the AWS JSON client, hyper-rustls) with the
    // execution role credentials the ACS payload carried.
    let data = tempfile::tempdir()?;
    let agent = Agent::start(
        &cp,
        &cluster,
        data.path(),
        &[
            ("ECS_BACKEND_HOST", endpoint.as_str()),
            ("AWS_CA_BUNDLE", ca_arg.as_str()),
        ],
    )?;
    let instances = wait_agents_connected(&aws, &cluster, 1, Duration::from_secs(60))?;
    assert_eq!(instances[0]["status"], "ACTIVE", "{instances:?}");
    let log = agent.process.output();
    assert!(
        log.lines()
            .any(|l| l.contains("connected to ACS") && l.contains(&endpoint)),
        "no ACS session at {endpoint} in the agent's log:\n{log}"
    );
    let param = format!("/{cluster}/password");
    let secret = format!("pw-{}", ecs_e2e_tests::random_id());
    aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        &param,
        "--type",
        "SecureString",
        "--value",
        &secret,
    ])?;
    let def = register_task_definition_with(
        &aws,
        &cluster,
        &json!([{
            "name": "app", "image": image, "memory": 32, "essential": true,
            "entryPoint": ["sh", "-c"], "command": ["echo \"PASSWORD=$PASSWORD\""],
            "secrets": [{"name": "PASSWORD", "valueFrom": param}],
        }]),
        &[
            "--execution-role-arn",
            "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        ],
    )?;
    let task = run_when_placed(&aws, &cluster, &def)?;
    let stopped = wait_status(&aws, &cluster, &task, "STOPPED", Duration::from_secs(60))?;
    let container = &stopped["containers"][0];
    assert_eq!(container["exitCode"], 0, "{stopped}");
    let id = container["runtimeId"].as_str().unwrap();
    assert_eq!(docker(&["logs", id])?.trim(), format!("PASSWORD={secret}"));

    // An agent without the CA: its registration is refused by certificate verification.
    let other = tempfile::tempdir()?;
    let mut cmd = Command::new(workspace_bin("ecs-agent"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,ecs_agent=debug")
        .env("ECS_CLUSTER", &cluster)
        .env("ECS_BACKEND_HOST", &endpoint)
        .env("ECS_DATADIR", other.path())
        .env("ECS_EXTERNAL", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ECS_LOGFILE", other.path().join("ecs-agent.log"))
        .env("ECS_AUDIT_LOGFILE", other.path().join("audit.log"))
        .args([
            "--config-file",
            "/dev/null",
            "--instance-config-file",
            "/dev/null",
        ])
        .args(["run", "--introspection-listen"])
        .arg(format!("127.0.0.1:{}", free_port()?))
        .arg("--credentials-listen")
        .arg(format!("127.0.0.1:{}", free_port()?));
    let mut untrusting = ChildProcess::spawn("ecs-agent-without-ca", &mut cmd)?;
    wait_until(
        Duration::from_secs(60),
        "the agent without the CA to be refused",
        || {
            let said = untrusting.output();
            Ok(said.contains("UnknownIssuer") || said.contains("invalid peer certificate"))
        },
    )?;
    untrusting.kill()?;
    let listed = aws.run(&["ecs", "list-container-instances", "--cluster", &cluster])?;
    assert_eq!(
        listed["containerInstanceArns"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    drop(agent);
    Ok(())
}
