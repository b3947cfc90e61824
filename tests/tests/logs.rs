#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log drivers and the emulated CloudWatch Logs, end to end.
//!
//! - The real AWS CLI drives CloudWatch Logs on the emulator (groups, streams, events, tokens,
//!   filters, errors), and every raw answer is checked against botocore's `logs` model.
//! - With `--data-dir`, groups (with their retention policy), streams and events survive a
//!   `kill -9` of the emulator and a restart. (Logs Insights: `logs_insights.rs`.)
//! - A task with the `awslogs` driver runs on real Docker through the real agent: dockerd's
//!   awslogs driver ships the container's stdout to the emulator (the agent points
//!   `awslogs-endpoint` at it), and `aws logs get-log-events` shows what the container printed. A
//!   `json-file` container of the same task keeps its options.
//!
//! dockerd signs its PutLogEvents with the task's execution-role credentials, as on ECS: the task
//! definition has an `executionRoleArn` and no `awslogs-credentials-endpoint`; the emulator sends
//! `executionRoleCredentials` and `logsAuthStrategy: ExecutionRole`; the agent sets
//! `awslogs-credentials-endpoint=/v2/credentials/<id>`; dockerd fetches
//! `http://169.254.170.2/v2/credentials/<id>`, which `ecs-agent host-setup`'s `nat OUTPUT`
//! REDIRECT sends to this test's agent ([`LinkLocalRoutes`], under the host-wide lock, removed on
//! drop). The agent's audit log shows that request, and no log shows a secret.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ecs_e2e_tests::fake_agent::{SigningIdentity, signed_post};
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{
    Agent, ClusterCleanup, ControlPlane, LinkLocalRoutes, Registry, awscli_venv, describe_task,
    docker, free_port, http_get, register_task_definition, register_task_definition_with,
    run_when_placed, unique, wait_until,
};
use serde_json::{Value, json};

/// The execution role of the awslogs tasks.
const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";

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

/// With `--data-dir`, every acknowledged PutLogEvents survives `kill -9` and a restart, in
/// order, with the group's retention policy and the stream's counters; writes go on after.
#[test]
fn log_events_survive_a_kill_and_restart() -> Result<()> {
    let data = tempfile::tempdir()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    let (group, stream) = ("/ecs/durable", "web/1");
    aws.run(&["logs", "create-log-group", "--log-group-name", group])?;
    aws.run(&[
        "logs",
        "put-retention-policy",
        "--log-group-name",
        group,
        "--retention-in-days",
        "30",
    ])?;
    aws.run(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
    ])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut expected = Vec::new();
    for batch in 0..3 {
        let events: Vec<Value> = (0..4)
            .map(|i| {
                let message = format!("batch {batch} line {i}");
                expected.push(message.clone());
                json!({"timestamp": now + batch * 10 + i, "message": message})
            })
            .collect();
        aws.run(&[
            "logs",
            "put-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            stream,
            "--log-events",
            &Value::from(events).to_string(),
        ])?;
    }
    cp.process.kill()?;
    drop(cp);

    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let got = aws.run(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
        "--start-from-head",
    ])?;
    assert_eq!(messages(&got), expected);
    let groups = aws.run(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        group,
    ])?;
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 30, "{groups}");
    let streams = aws.run(&["logs", "describe-log-streams", "--log-group-name", group])?;
    assert_eq!(
        streams["logStreams"][0]["lastEventTimestamp"],
        now + 23,
        "{streams}"
    );
    aws.run(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
        "--log-events",
        &json!([{"timestamp": now + 100, "message": "after the restart"}]).to_string(),
    ])?;
    let filtered = aws.run(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        group,
        "--filter-pattern",
        "\"after the restart\"",
    ])?;
    assert_eq!(messages(&filtered), ["after the restart"]);
    // A deleted group stays deleted (its streams' and events' rows go with it).
    aws.run(&["logs", "delete-log-group", "--log-group-name", group])?;
    let mut cp = cp;
    cp.process.kill()?;
    drop(cp);
    let _cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let groups = aws.run(&["logs", "describe-log-groups"])?;
    assert_eq!(groups["logGroups"], json!([]), "{groups}");
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

#[test]
fn awslogs_ships_container_stdout_to_the_emulated_cloudwatch_logs() -> Result<()> {
    let cluster = unique("logs");
    let _cleanup = ClusterCleanup(cluster.clone());
    let registry = Registry::start()?;
    let image = registry.push_test_image()?;
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    let agent = Agent::start(
        &cp,
        &cluster,
        data.path(),
        &[(
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            r#"["json-file","awslogs","none"]"#,
        )],
    )?;

    // dockerd (a host process) reaches this agent's credentials endpoint at 169.254.170.2.
    let port: u16 = agent
        .credentials
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .parse()
        .context("the agent's credentials address")?;
    let routes = LinkLocalRoutes::apply(port, data.path())?;
    let group = format!("/ecs/{cluster}");
    let options = json!({
        "awslogs-group": group,
        "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "ecs",
        "awslogs-create-group": "true",
    });
    let def = json!({
        "family": cluster,
        "executionRoleArn": EXECUTION_ROLE,
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
    let task_arn = run_when_placed(&aws, &cluster, &def_arn)?;
    let task_id = task_arn.rsplit('/').next().unwrap().to_string();

    // A driver the instance does not list in ECS_AVAILABLE_LOGGING_DRIVERS: that task stops alone,
    // with a reason naming the driver, and no container of it is created.
    let refused_def = register_task_definition(
        &aws,
        &format!("{cluster}-syslog"),
        &json!([{"name": "noisy", "image": image, "memory": 32, "essential": true,
                 "logConfiguration": {"logDriver": "syslog"}}]),
    )?;
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
    let refused_arn = refused["tasks"][0]["taskArn"]
        .as_str()
        .with_context(|| format!("run-task: {refused}"))?
        .to_string();

    // Without awslogs-create-group, a missing group is Docker's error, reported by the agent.
    let mut no_create = options;
    no_create["awslogs-group"] = json!(format!("{group}-missing"));
    no_create
        .as_object_mut()
        .unwrap()
        .remove("awslogs-create-group");
    let missing_def = register_task_definition_with(
        &aws,
        &format!("{cluster}-nogroup"),
        &json!([{"name": "lost", "image": image, "memory": 32, "essential": true,
                 "entryPoint": ["sh", "-c"], "command": ["echo never shipped"],
                 "logConfiguration": {"logDriver": "awslogs", "options": no_create}}]),
        &["--execution-role-arn", EXECUTION_ROLE],
    )?;
    let missing_arn = aws.run(&[
        "ecs",
        "run-task",
        "--cluster",
        &cluster,
        "--task-definition",
        &missing_def,
    ])?["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();

    let stopped = wait_until(Duration::from_secs(60), "the task to stop", || {
        let t = describe_task(&aws, &cluster, &task_arn)?;
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

    // Waits until task `arn` is STOPPED with a reason on its first container.
    let stopped_with_reason = |arn: &str, what: &str| {
        wait_until(Duration::from_secs(30), what, || {
            let t = describe_task(&aws, &cluster, arn)?;
            anyhow::Ok(
                (t["lastStatus"] == "STOPPED" && t["containers"][0]["reason"].is_string())
                    .then_some(t),
            )
        })
    };
    let refused = stopped_with_reason(&refused_arn, "the syslog task to stop with a reason")?;
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

    let missing = stopped_with_reason(
        &missing_arn,
        "the task without a log group to stop with a reason",
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

    // The agent filled in the option with the task's execution credentials id, and dockerd
    // fetched them from the agent (the audit line redacts the id; dockerd's user agent is not
    // this test's).
    let app_id = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task_arn}"),
        "--filter",
        "label=com.amazonaws.ecs.container-name=app",
    ])?;
    let app_config: Value = serde_json::from_str(&docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.LogConfig.Config}}",
        app_id.trim(),
    ])?)?;
    let endpoint = app_config["awslogs-credentials-endpoint"]
        .as_str()
        .with_context(|| format!("no awslogs-credentials-endpoint: {app_config}"))?;
    let credentials_id = endpoint
        .strip_prefix("/v2/credentials/")
        .filter(|id| !id.is_empty())
        .with_context(|| format!("awslogs-credentials-endpoint {endpoint}"))?;
    let audit_file = data.path().join("audit.log");
    let audit = wait_until(
        Duration::from_secs(10),
        "the audit log to show dockerd's credentials request",
        || {
            let audit = std::fs::read_to_string(&audit_file).unwrap_or_default();
            let seen = audit
                .lines()
                .find(|l| {
                    l.contains(" 200 ")
                        && l.contains("\"/v2/credentials/<id>\"")
                        && !l.contains("\"ecs-e2e-tests\"")
                        && l.contains(&format!(" {task_arn} GetCredentialsExecutionRole 1 "))
                })
                .map(String::from);
            anyhow::Ok(seen.map(|line| (line, audit.clone())))
        },
    )?;
    eprintln!("dockerd's credentials request, audited: {}", audit.0);
    let audit = audit.1;
    drop(routes);

    // The same id gives the execution role's keys; none of them, nor the id, is in a log.
    let served = http_get(&format!("http://{}{endpoint}", agent.credentials))?;
    ensure!(served.status == 200, "GET {endpoint}: {}", served.status);
    let served = served.json()?;
    assert_eq!(served["RoleArn"], EXECUTION_ROLE);
    let secrets = [
        served["SecretAccessKey"].as_str().unwrap_or_default(),
        served["Token"].as_str().unwrap_or_default(),
        credentials_id,
    ];
    for (name, text) in [
        ("agent", agent.process.output()),
        ("audit", audit),
        ("control plane", cp.process.output()),
    ] {
        for secret in secrets {
            assert!(
                !secret.is_empty() && !text.contains(secret),
                "a credential value (or the credentials id) appears in the {name} log"
            );
        }
    }

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
