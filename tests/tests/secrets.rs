#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Container secrets, end to end: values stored with the real AWS CLI in the emulator's SSM
//! Parameter Store and Secrets Manager reach a task's containers on real Docker through the real
//! agent, which fetches them with the task's execution role credentials.
//!
//! - `secrets` by SSM name, SSM ARN, Secrets Manager ARN and ARN with a JSON key become the
//!   container's environment (the container prints them; `docker logs` shows what it saw).
//! - An unknown parameter stops its task alone, before any container exists, with the
//!   reference's `ResourceInitializationError` reason; the agent carries on.
//! - `repositoryCredentials`: the image is pulled from a registry that requires a login, with the
//!   user and password kept in Secrets Manager.
//! - `environmentFiles`: objects put with `aws s3 cp` in the emulated S3 become the container's
//!   environment (under `environment`), fetched with the execution role; a missing object stops
//!   its task alone.
//! - No value appears in the agent's or the control plane's log.

use std::time::Duration;

use anyhow::{Context, Result};
use ecs_e2e_tests::{
    Agent, AwsCli, ClusterCleanup, ClusterSetup, ControlPlane, Registry, docker, run_when_placed,
    unique, wait_status,
};
use serde_json::{Value, json};

const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";

/// `aws ecs register-task-definition --cli-input-json` with `def`; the new revision's ARN.
fn register(aws: &AwsCli, dir: &std::path::Path, def: &Value) -> Result<String> {
    let file = dir.join(format!("{}.json", def["family"].as_str().unwrap_or("def")));
    std::fs::write(&file, def.to_string())?;
    let out = aws.run(&[
        "ecs",
        "register-task-definition",
        "--cli-input-json",
        &format!("file://{}", file.display()),
    ])?;
    out["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .map(String::from)
        .context("no taskDefinitionArn")
}

fn assert_not_logged(values: &[&str], logs: &[(&str, String)]) {
    for (name, text) in logs {
        for value in values {
            assert!(
                !text.contains(value),
                "a secret value appears in the {name} log"
            );
        }
    }
}

#[test]
fn secrets_from_ssm_and_secrets_manager_reach_the_container_environment() -> Result<()> {
    let cluster = unique("secrets");
    let setup = ClusterSetup::start(&cluster, None)?;
    let aws = &setup.aws;
    let agent = Agent::start(&setup.cp, &cluster, setup.data.path(), &[])?;

    let token = ecs_e2e_tests::random_id();
    let db_password = format!("pw-{token}-with spaces & $igns");
    let api_key = format!("key-{token}");
    let asm_password = format!("asm-{token}");
    let param = format!("/{cluster}/db/password");
    aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        &param,
        "--type",
        "SecureString",
        "--value",
        &db_password,
    ])?;
    let key_param = format!("{cluster}-api-key");
    aws.run(&[
        "ssm",
        "put-parameter",
        "--name",
        &key_param,
        "--type",
        "String",
        "--value",
        &api_key,
    ])?;
    let key_arn = aws.run(&["ssm", "get-parameter", "--name", &key_param])?["Parameter"]["ARN"]
        .as_str()
        .context("GetParameter ARN")?
        .to_string();
    let secret_json = json!({"username": "app", "password": asm_password}).to_string();
    let secret_arn = aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        &format!("{cluster}/db"),
        "--secret-string",
        &secret_json,
    ])?["ARN"]
        .as_str()
        .context("CreateSecret ARN")?
        .to_string();

    let image = &setup.image;
    let def = register(
        aws,
        setup.data.path(),
        &json!({
            "family": cluster,
            "executionRoleArn": EXECUTION_ROLE,
            "containerDefinitions": [{
                "name": "app", "image": image, "memory": 32, "essential": true,
                "entryPoint": ["sh", "-c"],
                "command": ["for v in DB_PASSWORD API_KEY DB_USER WHOLE PLAIN; do env | grep \"^$v=\"; done"],
                "environment": [{"name": "PLAIN", "value": "plain"}],
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": param},
                    {"name": "API_KEY", "valueFrom": key_arn},
                    {"name": "DB_USER", "valueFrom": format!("{secret_arn}:username::")},
                    {"name": "WHOLE", "valueFrom": secret_arn},
                ],
            }],
        }),
    )?;
    let task = run_when_placed(aws, &cluster, &def)?;
    let stopped = wait_status(aws, &cluster, &task, "STOPPED", Duration::from_secs(60))?;
    let container = &stopped["containers"][0];
    assert_eq!(container["exitCode"], 0, "{stopped}");
    let id = container["runtimeId"].as_str().context("runtimeId")?;
    let printed = docker(&["logs", id])?;
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            format!("DB_PASSWORD={db_password}"),
            format!("API_KEY={api_key}"),
            "DB_USER=app".to_string(),
            format!("WHOLE={secret_json}"),
            "PLAIN=plain".to_string(),
        ],
        "what the container saw"
    );

    // An unknown parameter: that task stops alone, before any container, with the reason.
    let missing = format!("/{cluster}/missing");
    let bad_def = register(
        aws,
        setup.data.path(),
        &json!({
            "family": format!("{cluster}-bad"),
            "executionRoleArn": EXECUTION_ROLE,
            "containerDefinitions": [{
                "name": "app", "image": image, "memory": 32, "essential": true,
                "secrets": [{"name": "X", "valueFrom": missing}],
            }],
        }),
    )?;
    let bad = run_when_placed(aws, &cluster, &bad_def)?;
    let bad_stopped = wait_status(aws, &cluster, &bad, "STOPPED", Duration::from_secs(30))?;
    let reason = bad_stopped["stoppedReason"].as_str().unwrap_or_default();
    assert_eq!(
        reason,
        format!(
            "ResourceInitializationError: fetching secret data from SSM Parameter Store in us-east-1: invalid parameters: {missing}"
        ),
        "{bad_stopped}"
    );
    assert!(
        bad_stopped["containers"][0].get("runtimeId").is_none(),
        "no container was created: {bad_stopped}"
    );

    // The agent carries on: the first definition runs again.
    let again = run_when_placed(aws, &cluster, &def)?;
    let again = wait_status(aws, &cluster, &again, "STOPPED", Duration::from_secs(60))?;
    assert_eq!(again["containers"][0]["exitCode"], 0, "{again}");

    assert_not_logged(
        &[&db_password, &api_key, &asm_password],
        &[
            ("agent", agent.process.output()),
            ("control plane", setup.cp.process.output()),
        ],
    );
    Ok(())
}

#[test]
fn repository_credentials_from_secrets_manager_pull_from_a_registry_that_needs_a_login()
-> Result<()> {
    let cluster = unique("repocreds");
    let _cleanup = ClusterCleanup(cluster.clone());
    let password = format!("p?>~-{}", ecs_e2e_tests::random_id());
    let registry = Registry::start_with_login("puller", &password)?;
    let image = registry.push_test_image()?;
    // The image must come from the registry, not from this machine's cache.
    let _ = docker(&["rmi", "-f", &image]);
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    let agent = Agent::start(&cp, &cluster, data.path(), &[])?;
    let secret_arn = aws.run(&[
        "secretsmanager",
        "create-secret",
        "--name",
        &format!("{cluster}/registry"),
        "--secret-string",
        &json!({"username": "puller", "password": password}).to_string(),
    ])?["ARN"]
        .as_str()
        .context("CreateSecret ARN")?
        .to_string();
    let container = |credentials: &str| {
        json!({
            "name": "app", "image": image, "memory": 32, "essential": true,
            "entryPoint": ["sh", "-c"], "command": ["echo pulled"],
            "repositoryCredentials": {"credentialsParameter": credentials},
        })
    };
    let def = register(
        &aws,
        data.path(),
        &json!({
            "family": cluster,
            "executionRoleArn": EXECUTION_ROLE,
            "containerDefinitions": [container(&secret_arn)],
        }),
    )?;
    let task = run_when_placed(&aws, &cluster, &def)?;
    let stopped = wait_status(&aws, &cluster, &task, "STOPPED", Duration::from_secs(60))?;
    assert_eq!(stopped["containers"][0]["exitCode"], 0, "{stopped}");
    assert!(
        stopped["containers"][0]["imageDigest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{stopped}"
    );

    // A secret that does not exist: the pull fails, naming it, and the task stops alone.
    let _ = docker(&["rmi", "-f", &image]);
    let gone = secret_arn.replace("/registry-", "/nothing-");
    let bad_def = register(
        &aws,
        data.path(),
        &json!({
            "family": format!("{cluster}-bad"),
            "executionRoleArn": EXECUTION_ROLE,
            "containerDefinitions": [container(&gone)],
        }),
    )?;
    let bad = run_when_placed(&aws, &cluster, &bad_def)?;
    let bad = wait_status(&aws, &cluster, &bad, "STOPPED", Duration::from_secs(60))?;
    let reason = bad["containers"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("CannotPullContainerError: asm fetching secret from the service for ")
            && reason.contains(&gone)
            && reason.contains("ResourceNotFoundException"),
        "{bad}"
    );
    assert_not_logged(
        &[&password],
        &[
            ("agent", agent.process.output()),
            ("control plane", cp.process.output()),
        ],
    );
    Ok(())
}

#[test]
fn environment_files_from_s3_reach_the_container_environment() -> Result<()> {
    let cluster = unique("envfiles");
    let setup = ClusterSetup::start(&cluster, None)?;
    let aws = &setup.aws;
    let agent = Agent::start(&setup.cp, &cluster, setup.data.path(), &[])?;
    let bucket = format!("cfg-{}", ecs_e2e_tests::random_id());
    let made = aws.output(&["s3", "mb", &format!("s3://{bucket}")])?;
    assert!(made.success(), "aws s3 mb: {}", made.stderr);
    let token = format!("tok-{}", ecs_e2e_tests::random_id());
    let files = [
        (
            "app.env",
            format!("# settings\nDB_HOST=db.internal\nTOKEN={token}\nMODE=file\n"),
        ),
        (
            "dir/more vars.env",
            "MODE=second-file\nEXTRA=a=b\n".to_string(),
        ),
    ];
    for (key, text) in &files {
        let local = setup.data.path().join("upload.env");
        std::fs::write(&local, text)?;
        let target = format!("s3://{bucket}/{key}");
        let out = aws.output(&["s3", "cp", local.to_str().unwrap(), &target])?;
        assert!(out.success(), "aws s3 cp: {}", out.stderr);
    }
    let arn = |key: &str| format!("arn:aws:s3:::{bucket}/{key}");
    let def = register(
        aws,
        setup.data.path(),
        &json!({
            "family": cluster,
            "executionRoleArn": EXECUTION_ROLE,
            "containerDefinitions": [{
                "name": "app", "image": setup.image, "memory": 32, "essential": true,
                "entryPoint": ["sh", "-c"],
                "command": ["for v in DB_HOST TOKEN MODE EXTRA PLAIN; do env | grep \"^$v=\"; done"],
                "environment": [{"name": "PLAIN", "value": "plain"}, {"name": "DB_HOST", "value": "from-environment"}],
                "environmentFiles": [
                    {"value": arn("app.env"), "type": "s3"},
                    {"value": arn("dir/more vars.env"), "type": "s3"},
                ],
            }],
        }),
    )?;
    let task = run_when_placed(aws, &cluster, &def)?;
    let stopped = wait_status(aws, &cluster, &task, "STOPPED", Duration::from_secs(60))?;
    assert_eq!(stopped["containers"][0]["exitCode"], 0, "{stopped}");
    let id = stopped["containers"][0]["runtimeId"]
        .as_str()
        .context("runtimeId")?;
    let printed = docker(&["logs", id])?;
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            "DB_HOST=from-environment".to_string(),
            format!("TOKEN={token}"),
            "MODE=file".to_string(),
            "EXTRA=a=b".to_string(),
            "PLAIN=plain".to_string(),
        ],
        "environment wins, then the first file"
    );

    // A missing object: that task stops alone, before any container, naming bucket and key.
    let bad_def = register(
        aws,
        setup.data.path(),
        &json!({
            "family": format!("{cluster}-bad"),
            "executionRoleArn": EXECUTION_ROLE,
            "containerDefinitions": [{
                "name": "app", "image": setup.image, "memory": 32, "essential": true,
                "environmentFiles": [{"value": arn("missing.env"), "type": "s3"}],
            }],
        }),
    )?;
    let bad = run_when_placed(aws, &cluster, &bad_def)?;
    let bad = wait_status(aws, &cluster, &bad, "STOPPED", Duration::from_secs(30))?;
    let reason = bad["stoppedReason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "ResourceInitializationError: unable to download env file with key missing.env from bucket {bucket}, error: NoSuchKey"
        )),
        "{bad}"
    );
    assert!(bad["containers"][0].get("runtimeId").is_none(), "{bad}");
    assert_not_logged(
        &[&token],
        &[
            ("agent", agent.process.output()),
            ("control plane", setup.cp.process.output()),
        ],
    );
    Ok(())
}
