#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Task IAM roles end to end: the emulator issues per-task role credentials, the agent serves them
//! on its credentials endpoint, real SDK clients (botocore's container provider from boto3,
//! aws-sdk-rust's ECS provider) fetch them and sign STS GetCallerIdentity with them, bridge
//! containers reach the endpoint and task metadata at 169.254.170.2 through `host-setup`'s rules,
//! the endpoint rate-limits, answers 503 after a restart until ACS resends, and no credential
//! value reaches a log.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ecs_e2e_tests::{
    Agent, AwsCli, ClusterCleanup, ClusterSetup, ControlPlane, LinkLocalRoutes, Registry,
    boto3_venv, describe_task, docker, free_port, http_get, register_task_definition_with, run,
    run_when_placed, unique, wait_until, workspace_bin,
};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

fn register(aws: &AwsCli, family: &str, image: &str, roles: &[&str]) -> Result<String> {
    let containers = json!([{
        "name": "app", "image": image, "memory": 32, "essential": true,
        "environment": [{"name": "HTTPD_MESSAGE", "value": family}]
    }]);
    register_task_definition_with(aws, family, &containers, roles)
}

fn wait_running(aws: &AwsCli, cluster: &str, task: &str) -> Result<()> {
    wait_until(
        Duration::from_secs(60),
        &format!("task {task} to run"),
        || {
            let t = describe_task(aws, cluster, task)?;
            let status = t["lastStatus"].as_str().unwrap_or("");
            if status == "STOPPED" {
                bail!("task stopped: {t}");
            }
            anyhow::Ok(status == "RUNNING")
        },
    )
}

/// The task's one container: Docker id and environment.
fn container_of(task: &str) -> Result<(String, Vec<String>)> {
    let id = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task}"),
    ])?;
    let id = id
        .lines()
        .next()
        .context("no container for the task")?
        .to_string();
    let inspect: Value = serde_json::from_str(&docker(&["inspect", &id])?)?;
    let env = inspect[0]["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    Ok((id, env))
}

fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
}

fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap()
}

/// botocore's container provider (boto3 from PyPI) with FULL_URI, then STS GetCallerIdentity.
fn boto3_caller_identity(full_uri: &str, sts_endpoint: &str) -> Result<Value> {
    let script = r#"
import json, os, sys, boto3
session = boto3.session.Session(region_name="us-east-1")
creds = session.get_credentials()
assert creds.method == "container-role", creds.method
sts = session.client("sts", endpoint_url=sys.argv[1])
ident = sts.get_caller_identity()
print(json.dumps({"Method": creds.method, "AccessKeyId": creds.get_frozen_credentials().access_key, "Arn": ident["Arn"]}))
"#;
    let python = boto3_venv()?.join("bin/python");
    let mut cmd = Command::new(python);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri)
        .args(["-c", script, sts_endpoint]);
    Ok(serde_json::from_str(&run(
        &mut cmd,
        Duration::from_secs(60),
    )?)?)
}

/// aws-sdk-rust's ECS provider with FULL_URI, then STS GetCallerIdentity (`ecs-creds-probe`).
fn rust_caller_identity(full_uri: &str, sts_endpoint: &str) -> Result<Value> {
    let mut cmd = Command::new(workspace_bin("ecs-creds-probe"));
    cmd.env_clear()
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri)
        .arg(sts_endpoint);
    Ok(serde_json::from_str(&run(
        &mut cmd,
        Duration::from_secs(60),
    )?)?)
}

/// An HTTP GET from inside a container to 169.254.170.2:80 with busybox `nc` (busybox `wget`
/// crashes on that address here): the response body.
fn get_in_container(container: &str, path_var: &str) -> Result<String> {
    let script = format!(
        "p=\"${path_var}\"; p=\"${{p#http://169.254.170.2}}\"; printf 'GET %s HTTP/1.0\\r\\nHost: 169.254.170.2\\r\\n\\r\\n' \"$p\" | nc -w 5 169.254.170.2 80 2>&1"
    );
    let out = docker(&["exec", container, "sh", "-c", &script])?;
    let (head, body) = out
        .split_once("\r\n\r\n")
        .with_context(|| format!("no HTTP response: {out:?}"))?;
    if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
        bail!("not 200: {head}");
    }
    Ok(body.to_string())
}

fn credentials(agent: &Agent, id: &str) -> Result<(u16, Value)> {
    let r = http_get(&format!("http://{}/v2/credentials/{id}", agent.credentials))?;
    Ok((r.status, r.json()?))
}

fn assert_no_secrets(logs: &[(&str, String)], secrets: &[String]) {
    for (name, text) in logs {
        for s in secrets {
            assert!(
                !text.contains(s.as_str()),
                "a credential value appears in the {name} log"
            );
        }
    }
}

#[test]
fn task_roles_reach_sdks_containers_and_sts() -> Result<()> {
    let cluster = &unique("iam-e2e");
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &ClusterSetup::start(cluster, None)?;
    let introspection = format!("127.0.0.1:{}", free_port()?);
    let creds_addr = format!("127.0.0.1:{}", free_port()?);
    let mut first_agent =
        Agent::start_on(cp, cluster, data.path(), &introspection, &creds_addr, &[])?;
    let agent = &first_agent;

    // The rate limit first, while this address's bucket is full: 60 answers, then 429s.
    let start = Instant::now();
    let statuses: Vec<u16> = (0..100)
        .map(|_| {
            http_get(&format!("http://{creds_addr}/v2/credentials/no-such-id"))
                .unwrap()
                .status
        })
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    assert!(statuses[..60].iter().all(|s| *s == 400), "{statuses:?}");
    let allowed = statuses.iter().filter(|s| **s == 400).count();
    assert!(
        statuses.iter().all(|s| *s == 400 || *s == 429),
        "{statuses:?}"
    );
    // Token bucket 40/s, burst 60: at most 60 + 40 * elapsed (+1 for rounding) get through.
    #[allow(clippy::cast_precision_loss)]
    let max = 61.0 + 40.0 * elapsed;
    assert!(
        (allowed as f64) <= max,
        "{allowed} allowed in {elapsed:.3}s"
    );
    assert!(
        elapsed < 1.0 && statuses.contains(&429),
        "{elapsed} {statuses:?}"
    );

    let a_def = register(
        aws,
        "iam-a",
        image,
        &[
            "--task-role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/app-a"),
            "--execution-role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/exec"),
        ],
    )?;
    let b_def = register(
        aws,
        "iam-b",
        image,
        &[
            "--task-role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/team/app-b"),
        ],
    )?;
    let task_a = run_when_placed(aws, cluster, &a_def)?;
    let task_b = run_when_placed(aws, cluster, &b_def)?;
    wait_running(aws, cluster, &task_a)?;
    wait_running(aws, cluster, &task_b)?;

    // The environment of each container.
    let (container_a, env_a) = container_of(&task_a)?;
    let (_, env_b) = container_of(&task_b)?;
    let uri_a = env_value(&env_a, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").unwrap();
    let uri_b = env_value(&env_b, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").unwrap();
    assert!(uri_a.starts_with("/v2/credentials/") && uri_a != uri_b);
    assert!(
        !uri_a.contains(task_id(&task_a)),
        "the id is not derived from the ARN"
    );
    assert_eq!(
        env_value(&env_a, "AWS_EXECUTION_ENV"),
        Some("AWS_ECS_EXTERNAL")
    );
    assert_eq!(env_value(&env_a, "AWS_DEFAULT_REGION"), Some("us-east-1"));
    assert_eq!(env_value(&env_a, "AWS_REGION"), Some("us-east-1"));
    let v3 = env_value(&env_a, "ECS_CONTAINER_METADATA_URI").unwrap();
    let v4 = env_value(&env_a, "ECS_CONTAINER_METADATA_URI_V4").unwrap();
    assert!(v3.starts_with("http://169.254.170.2/v3/"), "{v3}");
    assert!(v4.starts_with("http://169.254.170.2/v4/"), "{v4}");

    // Distinct credentials per task; a random id gets 400.
    let id_a = uri_a.trim_start_matches("/v2/credentials/");
    let id_b = uri_b.trim_start_matches("/v2/credentials/");
    let (status, creds_a) = credentials(agent, id_a)?;
    assert_eq!(status, 200, "{creds_a}");
    let (_, creds_b) = credentials(agent, id_b)?;
    let key_a = creds_a["AccessKeyId"].as_str().unwrap().to_string();
    assert!(key_a.starts_with("ASIA"), "{key_a}");
    assert_ne!(creds_a["AccessKeyId"], creds_b["AccessKeyId"]);
    assert_eq!(
        creds_a["RoleArn"],
        format!("arn:aws:iam::{ACCOUNT}:role/app-a")
    );
    for k in ["SecretAccessKey", "Token", "Expiration"] {
        assert!(creds_a[k].as_str().is_some_and(|v| !v.is_empty()), "{k}");
    }
    let (status, body) = credentials(agent, &uuid::Uuid::new_v4().to_string())?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("InvalidIdInRequest"))
    );
    let v1 = http_get(&format!("http://{creds_addr}/v1/credentials?id={id_b}"))?;
    assert_eq!(v1.json()?["AccessKeyId"], creds_b["AccessKeyId"]);

    // Real SDKs, signing STS with the vended credentials.
    let full_a = format!("http://{creds_addr}{uri_a}");
    let boto = boto3_caller_identity(&full_a, &cp.endpoint())?;
    assert_eq!(boto["AccessKeyId"], key_a);
    assert_eq!(
        boto["Arn"],
        format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/app-a/{}",
            task_id(&task_a)
        )
    );
    let rust = rust_caller_identity(&format!("http://{creds_addr}{uri_b}"), &cp.endpoint())?;
    assert_eq!(rust["AccessKeyId"], creds_b["AccessKeyId"]);
    assert_eq!(
        rust["Arn"],
        format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/app-b/{}",
            task_id(&task_b)
        )
    );
    // The emulator's ECS API takes them too.
    let as_task = aws
        .clone()
        .credentials(&key_a, creds_a["SecretAccessKey"].as_str().unwrap())
        .session_token(creds_a["Token"].as_str().unwrap());
    as_task.run(&["ecs", "list-clusters"])?;

    // Without privileges host-setup fails clearly (exit 5), changing nothing.
    {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("empty"), "")?;
        let out = ecs_e2e_tests::output(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(workspace_bin("ecs-agent"))
                .arg("--config-file")
                .arg(dir.path().join("empty"))
                .arg("--instance-config-file")
                .arg(dir.path().join("empty"))
                .args(["host-setup", "apply", "--port", "9", "--state-file"])
                .arg(dir.path().join("state/saved")),
            Duration::from_secs(30),
        )?;
        assert_eq!(out.status.code(), Some(5), "{}", out.stderr);
        assert!(out.stderr.contains("needs root"), "{}", out.stderr);
    }

    // From inside a bridge container, through 169.254.170.2.
    {
        let routes_dir = tempfile::tempdir()?;
        let port: u16 = creds_addr.rsplit(':').next().unwrap().parse()?;
        let routes = LinkLocalRoutes::apply(port, routes_dir.path())?;
        // Idempotent: a second apply adds nothing.
        let again = routes.reapply()?;
        assert!(again.contains("0 iptables rule(s) added"), "{again}");
        let body = get_in_container(&container_a, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")?;
        let inside: Value = serde_json::from_str(&body)?;
        assert_eq!(inside["AccessKeyId"], key_a);
        let body = get_in_container(&container_a, "ECS_CONTAINER_METADATA_URI_V4/task")?;
        let task: Value = serde_json::from_str(&body).with_context(|| body.clone())?;
        assert_eq!(task["TaskARN"], task_a.as_str());
        assert_eq!(task["Family"], "iam-a");
        assert_eq!(task["Containers"][0]["Name"], "app");
        let docker_id = task["Containers"][0]["DockerId"].as_str().unwrap();
        assert!(docker_id.starts_with(container_a.as_str()), "{docker_id}");
        let body = get_in_container(&container_a, "ECS_CONTAINER_METADATA_URI")?;
        let container: Value = serde_json::from_str(&body)?;
        assert_eq!(container["Name"], "app");
        let ip = container["Networks"][0]["IPv4Addresses"][0]
            .as_str()
            .unwrap_or("");
        let inspect: Value = serde_json::from_str(&docker(&["inspect", &container_a])?)?;
        assert_eq!(
            ip, inspect[0]["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
            "{container}"
        );
    }
    // On loopback the metadata answers too, and stats come from Docker.
    let v4_local = v4.replace("169.254.170.2", &creds_addr);
    let stats = http_get(&format!("{v4_local}/stats"))?;
    assert_eq!(stats.status, 200, "{}", stats.text());
    assert!(stats.json()?.get("memory_stats").is_some());
    let task_stats = http_get(&format!("{v4_local}/task/stats"))?.json()?;
    let (docker_id, sample) = task_stats.as_object().unwrap().iter().next().unwrap();
    assert!(docker_id.starts_with(container_a.as_str()), "{task_stats}");
    assert!(sample.get("cpu_stats").is_some(), "{task_stats}");
    // taskWithTags asks ECS (ListTagsForResource) for the task's and the instance's tags.
    let instance_arn = agent.wait_registered(Duration::from_secs(5))?;
    for (arn, tag) in [
        (task_a.as_str(), "key=team,value=web"),
        (instance_arn.as_str(), "key=rack,value=r7"),
    ] {
        aws.run(&["ecs", "tag-resource", "--resource-arn", arn, "--tags", tag])?;
    }
    let tagged = http_get(&format!("{v4_local}/taskWithTags"))?.json()?;
    assert_eq!(tagged["TaskTags"], json!({"team": "web"}), "{tagged}");
    assert_eq!(
        tagged["ContainerInstanceTags"],
        json!({"rack": "r7"}),
        "{tagged}"
    );
    assert!(tagged.get("Errors").is_none(), "{tagged}");
    let untagged = http_get(&format!("{v4_local}/task"))?.json()?;
    assert!(untagged.get("TaskTags").is_none(), "{untagged}");

    // A restart: 503 until ACS resends the credentials, then 200, nothing else in between.
    let first_log = first_agent.process.output();
    first_agent.process.kill()?;
    let poll_addr = creds_addr.clone();
    let poll_id = id_a.to_string();
    let poller = std::thread::spawn(move || -> Result<Vec<u16>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            // Until the server listens, retry at once (refused connections cost nothing); then
            // every 30 ms, under the 40/s rate limit.
            let pause = match http_get(&format!("http://{poll_addr}/v2/credentials/{poll_id}")) {
                Ok(r) if r.status == 200 => {
                    seen.push(r.status);
                    return Ok(seen);
                }
                Ok(r) => {
                    seen.push(r.status);
                    Duration::from_millis(30)
                }
                Err(_) => Duration::from_millis(2),
            };
            std::thread::sleep(pause);
        }
        bail!("no 200 within 60 s after the restart: {seen:?}")
    });
    let agent = Agent::start_on(cp, cluster, data.path(), &introspection, &creds_addr, &[])?;
    let seen = poller.join().unwrap()?;
    eprintln!("statuses after the restart: {seen:?}");
    assert!(seen.iter().all(|s| *s == 503 || *s == 200), "{seen:?}");
    assert!(seen.contains(&503), "{seen:?}");
    let (status, after) = credentials(&agent, id_a)?;
    assert_eq!(status, 200);
    assert_eq!(after["RoleArn"], creds_a["RoleArn"]);

    // No credential value in any log.
    let audit = std::fs::read_to_string(data.path().join("audit.log"))?;
    assert!(
        audit.contains(" 200 ") && audit.contains("GetCredentials"),
        "{audit}"
    );
    // The agent's log file (both runs, appended), in logfmt, is checked too.
    let log_file = std::fs::read_to_string(data.path().join("ecs-agent.log"))?;
    assert!(
        log_file.lines().count() > 1
            && log_file
                .lines()
                .all(|l| l.starts_with("level=") && l.contains(" msg=\"")),
        "{log_file}"
    );
    // Nor a credentials id: it is what a container presents to get them.
    let mut secrets: Vec<String> = [&creds_a, &creds_b, &after]
        .iter()
        .flat_map(|c| ["SecretAccessKey", "Token"].map(|k| c[k].as_str().unwrap().to_string()))
        .collect();
    secrets.extend([id_a.to_string(), id_b.to_string()]);
    assert_no_secrets(
        &[
            ("agent", agent.process.output()),
            ("agent before the restart", first_log),
            ("audit", audit),
            ("agent log file", log_file),
            ("control plane", cp.process.output()),
        ],
        &secrets,
    );
    Ok(())
}

#[test]
fn credentials_are_refreshed_before_expiry_and_expired_keys_are_refused() -> Result<()> {
    let cluster = &unique("iam-refresh-e2e");
    let _cleanup = ClusterCleanup(cluster.into());
    let registry = Registry::start()?;
    let image = registry.push_test_image()?;
    let cp = ControlPlane::start_with_args(
        &format!("127.0.0.1:{}", free_port()?),
        None,
        &["--role-credentials-seconds", "6"],
    )?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", cluster])?;
    let data = tempfile::tempdir()?;
    let agent = Agent::start(&cp, cluster, data.path(), &[])?;
    let def = register(
        &aws,
        "iam-refresh",
        &image,
        &[
            "--task-role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/rotating"),
        ],
    )?;
    let task = run_when_placed(&aws, cluster, &def)?;
    wait_running(&aws, cluster, &task)?;
    let (_, env) = container_of(&task)?;
    let id = env_value(&env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .unwrap()
        .trim_start_matches("/v2/credentials/")
        .to_string();
    let (_, first) = credentials(&agent, &id)?;
    let old_key = first["AccessKeyId"].as_str().unwrap().to_string();
    // Refreshed (IAMRoleCredentialsMessage) while the old ones are still valid.
    let fresh = wait_until(Duration::from_secs(20), "refreshed credentials", || {
        let (status, c) = credentials(&agent, &id)?;
        anyhow::Ok((status == 200 && c["AccessKeyId"] != old_key.as_str()).then_some(c))
    })?;
    assert_eq!(fresh["RoleArn"], first["RoleArn"]);
    let with = |c: &Value| {
        aws.clone()
            .credentials(
                c["AccessKeyId"].as_str().unwrap(),
                c["SecretAccessKey"].as_str().unwrap(),
            )
            .session_token(c["Token"].as_str().unwrap())
    };
    let ident = with(&fresh).run(&["sts", "get-caller-identity"])?;
    assert_eq!(
        ident["Arn"],
        format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/rotating/{}",
            task_id(&task)
        )
    );
    // The old key, once expired: ExpiredToken. An unknown key: InvalidClientTokenId.
    let expired = wait_until(
        Duration::from_secs(20),
        "the old key to expire",
        || match with(&first).run(&["sts", "get-caller-identity"]) {
            Ok(_) => anyhow::Ok(None),
            Err(e) => Ok(Some(e)),
        },
    )?;
    assert!(
        format!("{expired:#}").contains("ExpiredToken"),
        "{expired:#}"
    );
    let unknown = aws
        .clone()
        .credentials("ASIAUNKNOWNUNKNOWN12", "secret")
        .session_token("token")
        .run(&["sts", "get-caller-identity"])
        .unwrap_err();
    assert!(
        format!("{unknown:#}").contains("InvalidClientTokenId"),
        "{unknown:#}"
    );
    assert_no_secrets(
        &[
            ("agent", agent.process.output()),
            ("control plane", cp.process.output()),
        ],
        &[
            first["SecretAccessKey"].as_str().unwrap().to_string(),
            fresh["Token"].as_str().unwrap().to_string(),
        ],
    );
    Ok(())
}

#[test]
fn a_task_with_a_role_is_refused_where_roles_are_disabled_and_the_agent_carries_on() -> Result<()> {
    let cluster = &unique("iam-off-e2e");
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &ClusterSetup::start(cluster, None)?;
    let _agent = Agent::start(
        cp,
        cluster,
        data.path(),
        &[("ECS_ENABLE_TASK_IAM_ROLE", "false")],
    )?;
    let instances = aws.run(&["ecs", "list-container-instances", "--cluster", cluster])?;
    let instance = instances["containerInstanceArns"][0].as_str().unwrap();
    let described = aws.run(&[
        "ecs",
        "describe-container-instances",
        "--cluster",
        cluster,
        "--container-instances",
        instance,
    ])?;
    let attributes = described["containerInstances"][0]["attributes"].to_string();
    assert!(
        !attributes.contains("com.amazonaws.ecs.capability.task-iam-role\""),
        "{attributes}"
    );
    assert!(
        attributes.contains("task-iam-role-network-host"),
        "{attributes}"
    );

    let with_role = register(
        aws,
        "iam-off",
        image,
        &[
            "--task-role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/app"),
        ],
    )?;
    // The control plane does not place it: the instance lacks the task-iam-role capability.
    let unplaced = wait_until(Duration::from_secs(20), "a placement failure", || {
        let out = aws.run(&[
            "ecs",
            "run-task",
            "--cluster",
            cluster,
            "--task-definition",
            &with_role,
        ])?;
        anyhow::Ok((out["failures"][0]["reason"] != "AGENT").then_some(out))
    })?;
    assert_eq!(unplaced["tasks"], json!([]), "{unplaced}");
    assert_eq!(unplaced["failures"][0]["reason"], "ATTRIBUTE", "{unplaced}");
    // With the capability put by hand, the task reaches the agent, which refuses it.
    aws.run(&[
        "ecs",
        "put-attributes",
        "--cluster",
        cluster,
        "--attributes",
        &format!("name=com.amazonaws.ecs.capability.task-iam-role,targetId={instance}"),
    ])?;
    let task = run_when_placed(aws, cluster, &with_role)?;
    let stopped = wait_until(Duration::from_secs(60), "the task to stop", || {
        let out = aws.run(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            cluster,
            "--tasks",
            &task,
        ])?;
        let t = out["tasks"][0].clone();
        anyhow::Ok((t["lastStatus"] == "STOPPED").then_some(t))
    })?;
    let reason = stopped["containers"][0]["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("CannotCreateContainerError: ")
            && reason.contains("ECS_ENABLE_TASK_IAM_ROLE=false")
            && reason.contains(&task),
        "{stopped}"
    );
    // The agent carries on: a task without a role runs.
    let plain = register(aws, "iam-off-plain", image, &[])?;
    let task = run_when_placed(aws, cluster, &plain)?;
    wait_running(aws, cluster, &task)?;
    let (_, env) = container_of(&task)?;
    assert!(env_value(&env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_none());
    assert!(env_value(&env, "ECS_CONTAINER_METADATA_URI_V4").is_some());
    Ok(())
}
