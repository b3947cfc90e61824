#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log drivers and the emulated CloudWatch Logs, end to end.
//!
//! - The real AWS CLI drives CloudWatch Logs on the emulator (groups, streams, events, tokens,
//!   filters, errors), and every raw answer is checked against botocore's `logs` model.
//! - A task with the `awslogs` driver runs on real Docker through the real agent: dockerd's
//!   awslogs driver ships the container's stdout to the emulator (the agent points
//!   `awslogs-endpoint` at it), and `aws logs get-log-events` shows what the container printed. A
//!   `json-file` container of the same task keeps its options.
//!
//! dockerd signs its PutLogEvents with credentials it fetches from
//! `http://169.254.170.2<awslogs-credentials-endpoint>`. [`CredentialsEndpoint`] says where that
//! path comes from: today a stand-in responder inside the test serves temporary keys the
//! emulator's STS issued, reached through an iptables `nat OUTPUT` REDIRECT installed under an
//! exclusive lock on [`LINK_LOCAL_LOCK`] (tests of the agent's credentials endpoint take the same
//! lock) and removed on drop. Once the control plane sends execution role credentials and the
//! agent serves them, [`CredentialsEndpoint::Agent`] leaves the option out of the task definition
//! and gives it an `executionRoleArn` instead, so the agent fills in the option itself.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ecs_e2e_tests::fake_agent::{SigningIdentity, signed_post};
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{
    Agent, AwsCli, ControlPlane, Registry, awscli_venv, docker, remove_containers_labeled,
    wait_until,
};
use serde_json::{Value, json};

/// The lock every test that redirects 169.254.170.2:80 holds while its rule is installed.
const LINK_LOCAL_LOCK: &str = "/tmp/ecs-e2e-169-254-170-2.lock";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

fn messages(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["message"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn aws_cli_drives_cloudwatch_logs_on_the_emulator() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let group = "/ecs/cli-test";
    aws.run(&["logs", "create-log-group", "--log-group-name", group])?;
    let err = aws.run_err(&["logs", "create-log-group", "--log-group-name", group])?;
    assert_eq!(err.error_code(), Some("ResourceAlreadyExistsException"));
    assert!(
        err.stderr
            .contains("The specified log group already exists"),
        "{}",
        err.stderr
    );
    let err = aws.run_err(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        "/missing",
        "--log-stream-name",
        "s",
    ])?;
    assert_eq!(err.error_code(), Some("ResourceNotFoundException"));
    assert!(
        err.stderr
            .contains("The specified log group does not exist."),
        "{}",
        err.stderr
    );
    aws.run(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        group,
        "--log-stream-name",
        "web/1",
    ])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let events = json!([
        {"timestamp": now, "message": "INFO started"},
        {"timestamp": now + 1, "message": "ERROR disk full"},
        {"timestamp": now + 2, "message": "INFO done"},
    ]);
    let put = aws.run(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "web/1",
        "--log-events",
        &events.to_string(),
    ])?;
    assert!(put["nextSequenceToken"].is_string(), "{put}");
    assert!(put.get("rejectedLogEventsInfo").is_none(), "{put}");

    let head = aws.run(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "web/1",
        "--start-from-head",
        "--limit",
        "2",
    ])?;
    assert_eq!(messages(&head), ["INFO started", "ERROR disk full"]);
    let next = aws.run(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "web/1",
        "--start-from-head",
        "--next-token",
        head["nextForwardToken"].as_str().unwrap(),
    ])?;
    assert_eq!(messages(&next), ["INFO done"]);

    let filtered = aws.run(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        group,
        "--filter-pattern",
        "\"disk full\"",
    ])?;
    assert_eq!(messages(&filtered), ["ERROR disk full"]);
    assert_eq!(filtered["events"][0]["logStreamName"], "web/1");

    let groups = aws.run(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        "/ecs",
    ])?;
    assert_eq!(groups["logGroups"][0]["logGroupName"], group);
    let streams = aws.run(&["logs", "describe-log-streams", "--log-group-name", group])?;
    assert_eq!(streams["logStreams"][0]["logStreamName"], "web/1");
    assert_eq!(streams["logStreams"][0]["lastEventTimestamp"], now + 2);

    aws.run(&["logs", "delete-log-group", "--log-group-name", group])?;
    let err = aws.run_err(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "web/1",
    ])?;
    assert_eq!(err.error_code(), Some("ResourceNotFoundException"));
    Ok(())
}

/// Every request is checked against the model's input first, every answer against its output
/// or its error shapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_logs_answers_fit_botocores_model() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    // botocore's logs model declares no members on these exceptions, yet CloudWatch's answers
    // carry `message` (botocore reads it generically, and the CLI prints it): allow exactly that.
    let mut model = ServiceModel::from_venv(&awscli_venv()?, "logs", "2014-03-28")?;
    for e in [
        "ResourceAlreadyExistsException",
        "ResourceNotFoundException",
        "InvalidParameterException",
    ] {
        model = model.add_member(e, "message", "Message")?;
    }
    let id = SigningIdentity::emulator_default();
    let endpoint = cp.endpoint();
    let call = |op: &'static str, input: Value| {
        let model = &model;
        let id = &id;
        let endpoint = &endpoint;
        async move {
            model.validate_input(op, &input)?;
            let target = format!("Logs_20140328.{op}");
            let (status, body) =
                signed_post(endpoint, "logs", &target, input.to_string().as_bytes(), id).await?;
            if status == 200 {
                model.validate_output(op, &body)?;
            } else {
                model.validate_error(op, status, &body)?;
            }
            anyhow::Ok((status, body))
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let g = json!({"logGroupName": "/shapes"});
    let s = json!({"logGroupName": "/shapes", "logStreamName": "a"});
    assert_eq!(call("CreateLogGroup", g.clone()).await?.0, 200);
    assert_eq!(call("CreateLogGroup", g.clone()).await?.0, 400);
    assert_eq!(call("CreateLogStream", s.clone()).await?.0, 200);
    assert_eq!(call("CreateLogStream", s.clone()).await?.0, 400);
    let (status, put) = call(
        "PutLogEvents",
        json!({"logGroupName": "/shapes", "logStreamName": "a", "logEvents": [
            {"timestamp": now - 15 * 24 * 3_600_000, "message": "too old"},
            {"timestamp": now, "message": "hello"},
            {"timestamp": now + 3 * 3_600_000, "message": "too new"}]}),
    )
    .await?;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        put["rejectedLogEventsInfo"],
        json!({"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 2})
    );
    let (_, got) = call(
        "GetLogEvents",
        json!({"logGroupName": "/shapes", "logStreamName": "a", "startFromHead": true}),
    )
    .await?;
    assert_eq!(messages(&got), ["hello"]);
    let (_, f) = call(
        "FilterLogEvents",
        json!({"logGroupName": "/shapes", "filterPattern": "hello"}),
    )
    .await?;
    assert_eq!(messages(&f), ["hello"]);
    call("DescribeLogGroups", json!({})).await?;
    call("DescribeLogStreams", json!({"logGroupName": "/shapes"})).await?;
    let (status, _) = call(
        "GetLogEvents",
        json!({"logGroupName": "/shapes", "logStreamName": "missing"}),
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(call("DeleteLogGroup", g.clone()).await?.0, 200);
    assert_eq!(call("DeleteLogGroup", g).await?.0, 400);
    Ok(())
}

/// Where dockerd's awslogs driver gets its credentials (`awslogs-credentials-endpoint`).
enum CredentialsEndpoint {
    /// A responder in this test serving `credentials` at every path, reached from dockerd through
    /// an iptables REDIRECT of 169.254.170.2:80, installed while the lock is held.
    StandIn(StandIn),
    /// The agent's own credentials endpoint, fed by the task's execution role credentials (for
    /// when the control plane sends them): the task definition gets `executionRoleArn`, and the
    /// agent sets the option.
    #[allow(dead_code)]
    Agent { execution_role_arn: String },
}

impl CredentialsEndpoint {
    /// What the task definition's awslogs options and top level need for this source.
    fn task_definition_parts(&self) -> (Option<String>, Option<String>) {
        match self {
            CredentialsEndpoint::StandIn(s) => (Some(s.relative_uri.clone()), None),
            CredentialsEndpoint::Agent { execution_role_arn } => {
                (None, Some(execution_role_arn.clone()))
            }
        }
    }
}

/// The stand-in: a credentials responder, the iptables rule to it and the lock.
struct StandIn {
    relative_uri: String,
    /// Paths dockerd asked for.
    requests: Arc<Mutex<Vec<String>>>,
    // Drop order: the rule goes before the lock is released.
    _rule: RedirectRule,
    _lock: File,
}

impl StandIn {
    fn start(credentials: Value) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        // Serves until the test process exits; each connection is one request.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                seen.lock().expect("requests lock").push(path);
                let body = credentials.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let lock = File::create(LINK_LOCAL_LOCK)
            .with_context(|| format!("cannot open {LINK_LOCAL_LOCK}"))?;
        lock.lock()
            .with_context(|| format!("cannot lock {LINK_LOCAL_LOCK}"))?;
        let rule = RedirectRule::install(port)?;
        Ok(StandIn {
            relative_uri: format!("/v2/credentials/{}", uuid::Uuid::new_v4()),
            requests,
            _rule: rule,
            _lock: lock,
        })
    }
}

/// `iptables -t nat -I OUTPUT -d 169.254.170.2 -p tcp --dport 80 -j REDIRECT --to-ports PORT`,
/// deleted on drop.
struct RedirectRule {
    spec: Vec<String>,
}

/// The comment that marks this test's rules: `ecs-e2e-logs-<pid>`.
const RULE_COMMENT_PREFIX: &str = "ecs-e2e-logs-";

impl RedirectRule {
    /// Deletes rules a killed run of this test left behind (their process is gone). Call with
    /// the lock held.
    fn remove_stale() -> Result<()> {
        let out = std::process::Command::new("iptables")
            .args(["-w", "-t", "nat", "-S", "OUTPUT"])
            .output()
            .context("cannot run iptables (the awslogs test needs root and iptables)")?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(pid) = line
                .split_once(&format!("--comment {RULE_COMMENT_PREFIX}"))
                .and_then(|(_, rest)| rest.split_whitespace().next())
            else {
                continue;
            };
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let Some(rule) = line.strip_prefix("-A ") else {
                continue;
            };
            let _ = std::process::Command::new("iptables")
                .args(["-w", "-t", "nat", "-D"])
                .args(rule.split_whitespace())
                .output();
        }
        Ok(())
    }

    fn install(port: u16) -> Result<Self> {
        Self::remove_stale()?;
        let spec: Vec<String> = [
            "OUTPUT",
            "-d",
            "169.254.170.2/32",
            "-p",
            "tcp",
            "--dport",
            "80",
            "-m",
            "comment",
            "--comment",
            &format!("{RULE_COMMENT_PREFIX}{}", std::process::id()),
            "-j",
            "REDIRECT",
            "--to-ports",
            &port.to_string(),
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        let out = std::process::Command::new("iptables")
            .args(["-w", "-t", "nat", "-I"])
            .args(&spec)
            .output()
            .context("cannot run iptables (the awslogs test needs root and iptables)")?;
        ensure!(
            out.status.success(),
            "iptables -t nat -I {} failed: {}",
            spec.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(RedirectRule { spec })
    }
}

impl Drop for RedirectRule {
    fn drop(&mut self) {
        let _ = std::process::Command::new("iptables")
            .args(["-w", "-t", "nat", "-D"])
            .args(&self.spec)
            .output();
    }
}

/// Removes the task containers of a cluster when the test ends, whatever happened.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove_containers_labeled(&format!("com.amazonaws.ecs.cluster={}", self.0));
    }
}

/// Temporary keys from the emulator's STS, in the credentials endpoint's JSON (reference
/// section 5).
fn sts_credentials(aws: &AwsCli) -> Result<Value> {
    let out = aws.run(&["sts", "get-session-token"])?;
    let c = &out["Credentials"];
    Ok(json!({
        "RoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "AccessKeyId": c["AccessKeyId"],
        "SecretAccessKey": c["SecretAccessKey"],
        "Token": c["SessionToken"],
        "Expiration": c["Expiration"],
    }))
}

#[test]
fn awslogs_ships_container_stdout_to_the_emulated_cloudwatch_logs() -> Result<()> {
    let cluster = unique("logs");
    let _cleanup = Cleanup(cluster.clone());
    let registry = Registry::start()?;
    let image = registry.push_test_image()?;
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    let _agent = Agent::start(
        &cp,
        &cluster,
        data.path(),
        &[(
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            r#"["json-file","awslogs","none"]"#,
        )],
    )?;

    let source = CredentialsEndpoint::StandIn(StandIn::start(sts_credentials(&aws)?)?);
    let (relative_uri, execution_role) = source.task_definition_parts();
    let group = format!("/ecs/{cluster}");
    let mut options = json!({
        "awslogs-group": group,
        "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "ecs",
        "awslogs-create-group": "true",
    });
    if let Some(uri) = relative_uri {
        options["awslogs-credentials-endpoint"] = json!(uri);
    }
    let mut def = json!({
        "family": cluster,
        "containerDefinitions": [
            {"name": "app", "image": image, "memory": 32, "essential": true,
             "entryPoint": ["sh", "-c"],
             "command": ["echo first line from app; echo 'second line: disk full'; sleep 1"],
             "logConfiguration": {"logDriver": "awslogs", "options": options}},
            {"name": "plain", "image": image, "memory": 32, "essential": false,
             "entryPoint": ["sh", "-c"], "command": ["echo plain json-file line"],
             "logConfiguration": {"logDriver": "json-file",
                                  "options": {"max-size": "1m", "max-file": "2"}}}
        ]
    });
    if let Some(role) = execution_role {
        def["executionRoleArn"] = json!(role);
    }
    let def_file = data.path().join("taskdef.json");
    std::fs::write(&def_file, def.to_string())?;
    let registered = aws.run(&[
        "ecs",
        "register-task-definition",
        "--cli-input-json",
        &format!("file://{}", def_file.display()),
    ])?;
    let def_arn = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let task_arn = wait_until(Duration::from_secs(20), "placement", || {
        let out = aws.run(&[
            "ecs",
            "run-task",
            "--cluster",
            &cluster,
            "--task-definition",
            &def_arn,
        ])?;
        anyhow::Ok(out["tasks"][0]["taskArn"].as_str().map(String::from))
    })?;
    let task_id = task_arn.rsplit('/').next().unwrap().to_string();

    // A driver the instance does not list in ECS_AVAILABLE_LOGGING_DRIVERS: that task stops alone,
    // with a reason naming the driver, and no container of it is created.
    let refused_def = aws.run(&[
        "ecs",
        "register-task-definition",
        "--family",
        &format!("{cluster}-syslog"),
        "--container-definitions",
        &json!([{"name": "noisy", "image": image, "memory": 32, "essential": true,
                 "logConfiguration": {"logDriver": "syslog"}}])
        .to_string(),
    ])?;
    let refused_def = refused_def["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let run_refused = || {
        aws.run(&[
            "ecs",
            "run-task",
            "--cluster",
            &cluster,
            "--task-definition",
            &refused_def,
        ])
    };
    // The control plane does not place it: the instance lacks the syslog capability.
    let unplaced = run_refused()?;
    assert_eq!(unplaced["tasks"], json!([]), "{unplaced}");
    assert_eq!(unplaced["failures"][0]["reason"], "ATTRIBUTE", "{unplaced}");
    // With the capability put by hand, the task reaches the agent, which refuses it.
    let instance = unplaced["failures"][0]["arn"].as_str().unwrap();
    aws.run(&[
        "ecs",
        "put-attributes",
        "--cluster",
        &cluster,
        "--attributes",
        &format!("name=com.amazonaws.ecs.capability.logging-driver.syslog,targetId={instance}"),
    ])?;
    let refused = run_refused()?;
    let refused_arn = refused["tasks"][0]["taskArn"].as_str().unwrap().to_string();

    // Without awslogs-create-group, a missing group is Docker's error, reported by the agent.
    let mut no_create = options.clone();
    no_create["awslogs-group"] = json!(format!("{group}-missing"));
    no_create
        .as_object_mut()
        .unwrap()
        .remove("awslogs-create-group");
    let missing_def = aws.run(&[
        "ecs",
        "register-task-definition",
        "--family",
        &format!("{cluster}-nogroup"),
        "--container-definitions",
        &json!([{"name": "lost", "image": image, "memory": 32, "essential": true,
                 "entryPoint": ["sh", "-c"], "command": ["echo never shipped"],
                 "logConfiguration": {"logDriver": "awslogs", "options": no_create}}])
        .to_string(),
    ])?;
    let missing_arn = aws.run(&[
        "ecs",
        "run-task",
        "--cluster",
        &cluster,
        "--task-definition",
        missing_def["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap(),
    ])?["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();

    let stopped = wait_until(Duration::from_secs(60), "the task to stop", || {
        let out = aws.run(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            &cluster,
            "--tasks",
            &task_arn,
        ])?;
        let t = out["tasks"][0].clone();
        anyhow::Ok((t["lastStatus"] == "STOPPED").then_some(t))
    })?;
    let app = stopped["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "app")
        .unwrap();
    if app["exitCode"] != 0 {
        bail!(
            "the awslogs container did not run to completion (dockerd could not start its log driver?): {stopped}"
        );
    }

    let refused = wait_until(
        Duration::from_secs(30),
        "the syslog task to stop with a reason",
        || {
            let out = aws.run(&[
                "ecs",
                "describe-tasks",
                "--cluster",
                &cluster,
                "--tasks",
                &refused_arn,
            ])?;
            let t = out["tasks"][0].clone();
            anyhow::Ok(
                (t["lastStatus"] == "STOPPED" && t["containers"][0]["reason"].is_string())
                    .then_some(t),
            )
        },
    )?;
    let reason = refused["containers"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("CannotCreateContainerError: ")
            && reason.contains(&format!(
                "task {refused_arn}: container noisy: log driver syslog is not available on this instance (ECS_AVAILABLE_LOGGING_DRIVERS: [\"json-file\",\"awslogs\",\"none\"])"
            )),
        "{reason}"
    );
    let leftover = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={refused_arn}"),
    ])?;
    assert_eq!(leftover, "", "the refused task left containers behind");

    let missing = wait_until(
        Duration::from_secs(30),
        "the task without a log group to stop with a reason",
        || {
            let out = aws.run(&[
                "ecs",
                "describe-tasks",
                "--cluster",
                &cluster,
                "--tasks",
                &missing_arn,
            ])?;
            let t = out["tasks"][0].clone();
            anyhow::Ok(
                (t["lastStatus"] == "STOPPED" && t["containers"][0]["reason"].is_string())
                    .then_some(t),
            )
        },
    )?;
    let reason = missing["containers"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("ResourceNotFoundException")
            && reason.contains("The specified log group does not exist."),
        "{reason}"
    );

    let stream = format!("ecs/app/{task_id}");
    let got = wait_until(
        Duration::from_secs(30),
        "aws logs get-log-events to show the container's lines",
        || {
            let out = aws.run(&[
                "logs",
                "get-log-events",
                "--log-group-name",
                &group,
                "--log-stream-name",
                &stream,
                "--start-from-head",
            ]);
            anyhow::Ok(out.ok().filter(|v| messages(v).len() >= 2))
        },
    )?;
    assert_eq!(
        messages(&got),
        ["first line from app", "second line: disk full"]
    );
    let filtered = aws.run(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        &group,
        "--filter-pattern",
        "\"disk full\"",
    ])?;
    assert_eq!(messages(&filtered), ["second line: disk full"]);
    assert_eq!(filtered["events"][0]["logStreamName"], stream.as_str());
    if let CredentialsEndpoint::StandIn(s) = &source {
        let asked = s.requests.lock().unwrap().clone();
        assert!(
            asked.contains(&s.relative_uri),
            "dockerd never fetched {} (asked: {asked:?})",
            s.relative_uri
        );
    }
    drop(source);

    // The json-file container kept its options and its output.
    let plain = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task_arn}"),
        "--filter",
        "label=com.amazonaws.ecs.container-name=plain",
    ])?;
    let plain = plain.trim();
    ensure!(!plain.is_empty(), "no container for plain");
    let log_config: Value = serde_json::from_str(&docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.LogConfig}}",
        plain,
    ])?)?;
    assert_eq!(
        log_config,
        json!({"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}})
    );
    let logs = docker(&["logs", plain])?;
    assert!(logs.contains("plain json-file line"), "{logs}");
    Ok(())
}
