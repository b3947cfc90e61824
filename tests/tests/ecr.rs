#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of the emulated ECR and of ECR-authenticated pulls: the real
//! `ecs-control-plane --ecr` (backed by Debian's docker-registry), the real AWS CLI and
//! `docker login`/`push`, and the real `ecs-agent` on real Docker.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use ecs_e2e_tests::{
    Agent, AwsCli, EcrControlPlane, docker, http_get_with_headers, image_exists,
    register_task_definition, register_task_definition_with, remove_containers_labeled,
    run_when_placed, test_image, wait_status, wait_until,
};
use serde_json::json;

/// When the test ends, whatever happened: removes the task containers of a cluster, then untags
/// the image references the test (or the agent) made locally.
struct Cleanup {
    cluster: String,
    untag: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove_containers_labeled(&format!("com.amazonaws.ecs.cluster={}", self.cluster));
        for r in &self.untag {
            let _ = docker(&["rmi", r]);
        }
    }
}

/// `aws ecr get-login-password | docker --config DIR login --username AWS --password-stdin HOST`.
fn docker_login(aws: &AwsCli, config: &std::path::Path, host: &str) -> Result<String> {
    let password = aws.output(&["ecr", "get-login-password"])?.into_stdout()?;
    let password = password.trim().to_string();
    let mut child = Command::new("docker")
        .arg("--config")
        .arg(config)
        .args(["login", "--username", "AWS", "--password-stdin", host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(password.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "docker login failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(password)
}

/// `GET /v2/` with basic auth `AWS:password`: the registry's HTTP status.
fn registry_status(host: &str, password: &str) -> Result<u16> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    let response = http_get_with_headers(
        &format!("http://{host}/v2/"),
        &[("Authorization", &format!("Basic {basic}"))],
    )?;
    Ok(response.status)
}

#[test]
fn ecr_images_run_with_tokens_and_a_refused_token_fails_only_its_task() -> Result<()> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let cluster = format!("ecr-e2e-{}", &id[..8]);
    let mut cleanup = Cleanup {
        cluster: cluster.clone(),
        untag: Vec::new(),
    };
    // Short-lived tokens, so that one can be seen to expire.
    let ecr = EcrControlPlane::start(12)?;
    let aws = ecr.cp.aws()?;
    let host = ecr.registry_host.clone();
    let repo = format!("ecr-e2e-{id}/httpd");

    // The classic flow: create-repository, get-login-password | docker login, docker push.
    let created = aws.run(&["ecr", "create-repository", "--repository-name", &repo])?;
    let uri = created["repository"]["repositoryUri"].as_str().unwrap();
    assert_eq!(uri, format!("{host}/{repo}"));
    assert_eq!(
        created["repository"]["repositoryArn"],
        format!("arn:aws:ecr:us-east-1:123456789012:repository/{repo}")
    );
    let docker_config = tempfile::tempdir()?;
    let old_password = docker_login(&aws, docker_config.path(), &host)?;
    let local = test_image()?;
    let reference = format!("{uri}:v1");
    cleanup.untag.push(reference.clone());
    docker(&["tag", &local.reference, &reference])?;
    let config_arg = docker_config.path().display().to_string();
    docker(&["--config", &config_arg, "push", &reference])?;
    // Only in ECR from now on: the agent must pull it.
    docker(&["rmi", &reference])?;
    assert!(!image_exists(&reference)?);

    let described = aws.run(&["ecr", "describe-images", "--repository-name", &repo])?;
    let detail = &described["imageDetails"][0];
    assert_eq!(detail["imageTags"], json!(["v1"]), "{described}");
    assert!(
        detail["imageSizeInBytes"].as_u64().unwrap() > 0,
        "{described}"
    );
    assert!(
        detail["imagePushedAt"].as_f64().unwrap() > 0.0,
        "{described}"
    );
    let digest = detail["imageDigest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"), "{described}");
    let listed = aws.run(&["ecr", "list-images", "--repository-name", &repo])?;
    assert_eq!(
        listed["imageIds"],
        json!([{"imageDigest": digest, "imageTag": "v1"}])
    );

    // The same registry under another name is not "this ECR" for the control plane, so a task
    // using it gets the credentials of ECS_ENGINE_AUTH_DATA: the token from the login above,
    // which will have expired by then.
    let port = host.rsplit_once(':').unwrap().1;
    let alias = format!("localhost:{port}");
    let auth_data = json!({ &alias: {"username": "AWS", "password": &old_password, "email": ""} });
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    let agent = Agent::start(
        &ecr.cp,
        &cluster,
        data.path(),
        &[
            ("ECS_ENGINE_AUTH_TYPE", "docker"),
            ("ECS_ENGINE_AUTH_DATA", &auth_data.to_string()),
        ],
    )?;

    let def = register_task_definition(
        &aws,
        &format!("ecr-{}", &id[..8]),
        &json!([{"name": "web", "image": &reference, "memory": 32, "essential": true}]),
    )?;
    let before = ecr.registry_log().len();
    let task = run_when_placed(&aws, &cluster, &def)?;
    let running = wait_status(&aws, &cluster, &task, "RUNNING", Duration::from_secs(60))?;
    assert_eq!(running["containers"][0]["imageDigest"], digest, "{running}");
    // The agent's pull was authenticated: the registry requires it, and logged it.
    let log = ecr.registry_log();
    let pull = &log[before..];
    assert!(
        pull.lines().any(|l| l.contains("authorized request")
            && l.contains(&format!("http.request.uri=/v2/{repo}/manifests/v1"))
            && (l.contains("http.request.method=GET") || l.contains("http.request.method=HEAD"))),
        "no authenticated pull of {repo} in the registry log:\n{pull}"
    );

    // The old token expires; the registry itself refuses it.
    wait_until(
        Duration::from_secs(20),
        "the old token to be refused",
        || anyhow::Ok(registry_status(&host, &old_password)? == 401),
    )?;
    let alias_reference = format!("{alias}/{repo}:v1");
    cleanup.untag.push(alias_reference.clone());
    let bad_def = register_task_definition(
        &aws,
        &format!("ecr-expired-{}", &id[..8]),
        &json!([{"name": "web", "image": &alias_reference, "memory": 32, "essential": true}]),
    )?;
    let bad = run_when_placed(&aws, &cluster, &bad_def)?;
    let stopped = wait_status(&aws, &cluster, &bad, "STOPPED", Duration::from_secs(60))?;
    let reason = stopped["containers"][0]["reason"]
        .as_str()
        .or(stopped["stoppedReason"].as_str())
        .unwrap_or_default()
        .to_string();
    // The registry refuses the token at the manifest fetch before the pull (the reference's
    // CannotPullImageManifestError, kept as the first error when the pull then fails too).
    assert!(
        reason.starts_with("CannotPullImageManifestError:")
            && reason.contains("authentication required"),
        "{stopped}"
    );

    // The agent keeps serving: the next ECR task runs (with a fresh token). Its definition has
    // an execution role, so the payload says useExecutionRole; without executionRoleCredentials
    // in the payload the agent uses the instance credentials.
    let role_def = register_task_definition_with(
        &aws,
        &format!("ecr-role-{}", &id[..8]),
        &json!([{"name": "web", "image": &reference, "memory": 32, "essential": true}]),
        &[
            "--execution-role-arn",
            "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        ],
    )?;
    let again = run_when_placed(&aws, &cluster, &role_def)?;
    wait_status(&aws, &cluster, &again, "RUNNING", Duration::from_secs(60))?;
    assert!(agent.wait_registered(Duration::from_secs(5)).is_ok());

    // No token or password in any log line.
    let fresh = aws.output(&["ecr", "get-login-password"])?.into_stdout()?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{}", fresh.trim()));
    let logs = [agent.process.output(), ecr.cp.process.output()];
    for secret in [old_password.as_str(), fresh.trim(), token.as_str()] {
        for log in &logs {
            assert!(!log.contains(secret), "a token is in a log");
        }
    }

    // Clean up the repository the classic way.
    let err = aws.run_err(&["ecr", "delete-repository", "--repository-name", &repo])?;
    assert_eq!(err.error_code(), Some("RepositoryNotEmptyException"));
    let deleted = aws.run(&[
        "ecr",
        "batch-delete-image",
        "--repository-name",
        &repo,
        "--image-ids",
        "imageTag=v1",
    ])?;
    assert_eq!(deleted["failures"], json!([]), "{deleted}");
    aws.run(&["ecr", "delete-repository", "--repository-name", &repo])?;
    let err = aws.run_err(&["ecr", "describe-repositories", "--repository-names", &repo])?;
    assert_eq!(err.error_code(), Some("RepositoryNotFoundException"));
    Ok(())
}
