#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Outbound proxies, end to end, with a real forward proxy (Debian's squid) on loopback:
//!
//! - `HTTP_PROXY` in `ecs.config`: the agent is given a control-plane name only squid resolves,
//!   so it registers, holds its ACS and TCS websockets (`CONNECT` tunnels), fetches a task's SSM
//!   secret and runs the task only if every one of those connections goes through squid.
//! - `NO_PROXY` (from the environment): a listed address is reached directly; squid sees
//!   nothing.
//!
//! The task containers the killed agents leave are removed with the cluster's (ClusterSetup),
//! squid is killed on drop, a failing test included.

use std::time::Duration;

use anyhow::{Context, Result};
use ecs_e2e_tests::{
    Agent, AwsCli, ClusterSetup, ForwardProxy, http_get, run_when_placed, unique, wait_status,
    wait_until,
};
use serde_json::{Value, json};

const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";

/// A name no resolver but squid's hosts file knows (`.invalid` never resolves, RFC 6761).
const PROXY_ONLY_NAME: &str = "ecs.proxy-e2e.invalid";

/// Registers a web task whose greeting is the SSM parameter `param` (a secret, fetched by the
/// agent with the execution role), runs it and waits until it is RUNNING; its host port.
fn run_web_task_with_secret(aws: &AwsCli, cluster: &str, image: &str, param: &str) -> Result<u16> {
    let def = json!({
        "family": cluster,
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [{
            "name": "web", "image": image, "memory": 32, "essential": true,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
            "secrets": [{"name": "HTTPD_MESSAGE", "valueFrom": param}],
        }],
    });
    let out = aws.run(&[
        "ecs",
        "register-task-definition",
        "--cli-input-json",
        &def.to_string(),
    ])?;
    let def = out["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .context("no taskDefinitionArn")?;
    let task = run_when_placed(aws, cluster, def)?;
    let running = wait_status(aws, cluster, &task, "RUNNING", Duration::from_secs(90))?;
    let port = running["containers"][0]["networkBindings"][0]["hostPort"]
        .as_u64()
        .with_context(|| format!("no host port: {running}"))?;
    Ok(u16::try_from(port)?)
}

/// `GET /` on the task's host port until it answers; the body.
fn greeting(port: u16) -> Result<String> {
    wait_until(
        Duration::from_secs(10),
        "the web container to answer",
        || {
            http_get(&format!("http://127.0.0.1:{port}/"))
                .map(|r| Some(r.text().trim().to_string()))
        },
    )
}

/// Whether the container instance's ACS connection is up, as the control plane sees it.
fn agent_connected(aws: &AwsCli, cluster: &str, arn: &str) -> Result<bool> {
    let v: Value = aws.run(&[
        "ecs",
        "describe-container-instances",
        "--cluster",
        cluster,
        "--container-instances",
        arn,
    ])?;
    Ok(v["containerInstances"][0]["agentConnected"] == true)
}

#[test]
fn every_connection_goes_through_http_proxy_from_ecs_config() -> Result<()> {
    let cluster = unique("proxy");
    let setup = ClusterSetup::start(&cluster, None)?;
    let aws = &setup.aws;
    let port = setup
        .cp
        .addr
        .rsplit(':')
        .next()
        .context("control plane port")?;
    let squid = ForwardProxy::start(&[(PROXY_ONLY_NAME, "127.0.0.1")])?;
    let endpoint = format!("http://{PROXY_ONLY_NAME}:{port}");
    // Squid reaches the control plane by that name; nothing else can.
    assert!(
        squid
            .get(&format!("{endpoint}/ping"))?
            .starts_with("HTTP/1.1 "),
        "squid cannot reach the control plane: {}",
        squid.access_log()
    );

    let param = format!("/{cluster}/greeting");
    let message = format!("hello through the proxy {}", ecs_e2e_tests::random_id());
    aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        &param,
        "--type",
        "SecureString",
        "--value",
        &message,
    ])?;

    let mut agent = Agent::start_with_config(
        &setup.cp,
        &cluster,
        setup.data.path(),
        &format!("HTTP_PROXY={}\n", squid.url()),
        &[("ECS_BACKEND_HOST", &endpoint)],
    )?;
    let arn = agent.wait_registered(Duration::from_secs(5))?;
    wait_until(Duration::from_secs(30), "agentConnected", || {
        agent_connected(aws, &cluster, &arn)
    })?;
    let host_port = run_web_task_with_secret(aws, &cluster, &setup.image, &param)
        .with_context(|| format!("the agent's output:\n{}", agent.process.tail()))?;
    assert_eq!(greeting(host_port)?, message, "the secret reached the task");

    // The agent's calls went through squid: ECS and SSM in absolute form, the websockets as
    // tunnels (logged when they close, so after the agent is gone).
    agent.process.kill()?;
    let tunnel = format!("CONNECT {PROXY_ONLY_NAME}:{port}");
    let log = wait_until(Duration::from_secs(20), "squid to log both tunnels", || {
        let log = squid.access_log();
        let tunnels = log.lines().filter(|l| l.contains(&tunnel)).count();
        anyhow::Ok((tunnels >= 2).then_some(log))
    })
    .with_context(|| {
        format!(
            "ACS and TCS each tunnel through squid:\n{}",
            squid.access_log()
        )
    })?;
    assert!(
        log.contains(&format!("POST {endpoint}/")),
        "no API call went through squid:\n{log}"
    );
    assert!(
        agent
            .process
            .output()
            .contains("outbound connections use a proxy"),
        "{}",
        agent.process.tail()
    );
    Ok(())
}

#[test]
fn no_proxy_entries_are_reached_directly() -> Result<()> {
    let cluster = unique("noproxy");
    let setup = ClusterSetup::start(&cluster, None)?;
    let aws = &setup.aws;
    let port = setup
        .cp
        .addr
        .rsplit(':')
        .next()
        .context("control plane port")?;
    let squid = ForwardProxy::start(&[])?;
    // 0.0.0.0 reaches the loopback listener, and unlike 127.0.0.1 it is not a loopback address
    // the agent would reach directly anyway: only NO_PROXY (an IP with a port) keeps it direct.
    let endpoint = format!("http://0.0.0.0:{port}");

    let param = format!("/{cluster}/greeting");
    let message = format!("hello without the proxy {}", ecs_e2e_tests::random_id());
    aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        &param,
        "--type",
        "String",
        "--value",
        &message,
    ])?;
    let proxy_url = squid.url();
    let no_proxy = format!("169.254.169.254,169.254.170.2,0.0.0.0:{port}");
    let mut agent = Agent::start(
        &setup.cp,
        &cluster,
        setup.data.path(),
        &[
            ("ECS_BACKEND_HOST", &endpoint),
            ("HTTP_PROXY", &proxy_url),
            ("NO_PROXY", &no_proxy),
        ],
    )?;
    let arn = agent.wait_registered(Duration::from_secs(5))?;
    wait_until(Duration::from_secs(30), "agentConnected", || {
        agent_connected(aws, &cluster, &arn)
    })?;
    let host_port = run_web_task_with_secret(aws, &cluster, &setup.image, &param)
        .with_context(|| format!("the agent's output:\n{}", agent.process.tail()))?;
    assert_eq!(greeting(host_port)?, message);
    agent.process.kill()?;

    // A request of the test's own, logged after anything the agent's closing connections
    // would have left: squid saw only it.
    let sentinel = format!("http://0.0.0.0:{port}/sentinel");
    squid.get(&sentinel)?;
    let log = wait_until(Duration::from_secs(20), "squid to log the sentinel", || {
        let log = squid.access_log();
        anyhow::Ok(log.contains("/sentinel").then_some(log))
    })?;
    // (Squid also logs the readiness probe's connection, which sent no request.)
    let to_the_control_plane: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("0.0.0.0:{port}")))
        .collect();
    assert_eq!(
        to_the_control_plane.len(),
        1,
        "the agent used the proxy for a NO_PROXY address:\n{log}"
    );
    Ok(())
}
