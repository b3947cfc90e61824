#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end test of ECS services in the emulated control plane, driven as the classic ECS
//! walkthrough drives them: the real `ecs-control-plane` binary (with a data dir, killed with
//! SIGKILL and restarted half-way), the real AWS CLI for every service operation and the
//! `services-stable` waiter, and two fake agents (real SDK registration, signed ACS websocket)
//! that act on the payloads they get as an agent would: ack, then report RUNNING for tasks to run
//! and STOPPED for tasks to stop. No Docker.
//!
//! Every CLI command runs with `--debug`, and the raw answers botocore logged are checked against
//! botocore's ECS model; polls go over signed requests whose answers are checked the same way.
//! Each instance fits one task, so the rolling update (minimumHealthyPercent 50, maximumPercent
//! 100) can only succeed by stopping an old task before starting a new one: a scheduler that
//! tried more would record a placement failure event, which the test looks for.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ecs_e2e_tests::cli_debug::cli_debug;
use ecs_e2e_tests::fake_agent::{FakeAgent, SigningIdentity, signed_post};
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{AwsCli, ControlPlane, free_port, wait_until};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

const CLUSTER: &str = "services";
const TIMEOUT: Duration = Duration::from_secs(15);
/// botocore's ServicesStable waiter polls every 15 s: a wait that returns sooner answered on its
/// first poll.
const FIRST_POLL: Duration = Duration::from_secs(14);

/// The CLI and signed requests, every answer checked against botocore's model.
struct Checked {
    model: ServiceModel,
    aws: AwsCli,
    endpoint: String,
    rt: Arc<Runtime>,
}

impl Checked {
    /// `aws ARGS --debug`, which must succeed; returns what it printed (JSON).
    fn cli(&self, args: &[&str]) -> Result<Value> {
        let (out, exchanges) = cli_debug(&self.aws, args)?;
        ensure!(
            out.success(),
            "`aws {}` failed: {}",
            args.join(" "),
            out.stderr
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
        ensure!(
            !exchanges.is_empty(),
            "`aws {}` logged no request",
            args.join(" ")
        );
        for ex in &exchanges {
            self.model
                .validate_input(&ex.operation, &ex.request)
                .with_context(|| format!("request of `aws {}`", args.join(" ")))?;
            self.model
                .validate_output(&ex.operation, &ex.response)
                .with_context(|| format!("answer to `aws {}`: {}", args.join(" "), ex.response))?;
        }
        if out.stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&out.stdout).context("the CLI printed no JSON")
    }

    /// `aws ARGS --debug`, which must fail with `code`; returns the error's message.
    fn cli_err(&self, args: &[&str], code: &str) -> Result<String> {
        let (out, exchanges) = cli_debug(&self.aws, args)?;
        ensure!(!out.success(), "`aws {}` succeeded", args.join(" "));
        let ex = exchanges.last().context("no request logged")?;
        self.model
            .validate_error(&ex.operation, 400, &ex.response)
            .with_context(|| format!("error answer to `aws {}`", args.join(" ")))?;
        ensure!(ex.response["__type"] == code, "{}", ex.response);
        Ok(ex.response["message"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// A signed request as the SDKs send it; request and answer checked.
    fn call(&self, op: &str, input: Value) -> Result<Value> {
        self.model.validate_input(op, &input)?;
        let (status, body) = self.rt.block_on(signed_post(
            &self.endpoint,
            "ecs",
            &format!("AmazonEC2ContainerServiceV20141113.{op}"),
            input.to_string().as_bytes(),
            &SigningIdentity::emulator_default(),
        ))?;
        ensure!(status == 200, "{op} {input} answered {status}: {body}");
        self.model.validate_output(op, &body)?;
        Ok(body)
    }

    /// DescribeServices of `web`.
    fn web(&self) -> Result<Value> {
        let out = self.call(
            "DescribeServices",
            json!({"cluster": CLUSTER, "services": ["web"]}),
        )?;
        Ok(out["services"][0].clone())
    }

    /// The tasks of `web` that are meant to run.
    fn web_tasks(&self) -> Result<Vec<Value>> {
        let arns = self.call(
            "ListTasks",
            json!({"cluster": CLUSTER, "serviceName": "web"}),
        )?["taskArns"]
            .clone();
        if arns.as_array().is_none_or(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let out = self.call(
            "DescribeTasks",
            json!({"cluster": CLUSTER, "tasks": arns, "include": ["TAGS"]}),
        )?;
        Ok(out["tasks"].as_array().cloned().unwrap_or_default())
    }

    /// Waits until `web` is steady with `running` tasks of `task_definition`; returns it.
    fn wait_steady(&self, running: u64, task_definition: &str) -> Result<Value> {
        wait_until(
            TIMEOUT,
            &format!("web to run {running} tasks of {task_definition}"),
            || {
                let s = self.web()?;
                let steady = s["runningCount"] == running
                    && s["pendingCount"] == 0
                    && s["deployments"].as_array().map(Vec::len) == Some(1)
                    && s["taskDefinition"]
                        .as_str()
                        .is_some_and(|t| t.ends_with(task_definition))
                    && s["events"][0]["message"] == "(service web) has reached a steady state.";
                anyhow::Ok(steady.then_some(s))
            },
        )
    }

    /// `aws ecs wait services-stable`, which must answer on its first poll.
    fn wait_stable(&self) -> Result<()> {
        let start = Instant::now();
        self.cli(&[
            "ecs",
            "wait",
            "services-stable",
            "--cluster",
            CLUSTER,
            "--services",
            "web",
        ])?;
        ensure!(
            start.elapsed() < FIRST_POLL,
            "services-stable took {:?}",
            start.elapsed()
        );
        Ok(())
    }
}

/// What the fake agents were told, task ARN and desired status, in order.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Connects `agent` to ACS and acts on its payloads until the connection closes: ack, then report
/// RUNNING (tasks to run) or STOPPED with exit code 0 (tasks to stop).
fn autopilot(rt: &Runtime, agent: Arc<FakeAgent>, seen: Seen) -> Result<JoinHandle<()>> {
    let mut acs = rt.block_on(agent.connect())?;
    Ok(rt.spawn(async move {
        loop {
            let Ok(payload) = acs
                .next_of("PayloadMessage", Duration::from_secs(3600))
                .await
            else {
                return;
            };
            if acs.ack(&payload).await.is_err() {
                return;
            }
            let tasks = payload["message"]["tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for t in tasks {
                let arn = t["arn"].as_str().unwrap_or_default().to_string();
                let desired = t["desiredStatus"].as_str().unwrap_or_default().to_string();
                let container = t["containers"][0]["name"].as_str().unwrap_or_default();
                let exit = (desired == "STOPPED").then_some(0);
                if let Err(e) = agent
                    .submit(&arn, &desired, container, None, exit, None)
                    .await
                {
                    eprintln!("fake agent: cannot report {arn} {desired}: {e:#}");
                }
                seen.lock().unwrap().push((arn, desired));
            }
        }
    }))
}

fn messages(service: &Value) -> Vec<String> {
    service["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

fn register_web(c: &Checked, version: &str) -> Result<String> {
    let containers = json!([{
        "name": "web", "image": "127.0.0.1:5000/web:1", "memory": 128,
        "environment": [{"name": "VERSION", "value": version}]
    }])
    .to_string();
    let out = c.cli(&[
        "ecs",
        "register-task-definition",
        "--family",
        "web",
        "--container-definitions",
        &containers,
    ])?;
    Ok(out["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string())
}

#[test]
fn a_service_keeps_its_tasks_rolls_over_survives_a_restart_and_drains() -> Result<()> {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
    );
    let data = tempfile::tempdir()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let c = Checked {
        model: ServiceModel::ecs()?,
        aws: cp.aws()?,
        endpoint: cp.endpoint(),
        rt: Arc::clone(&rt),
    };
    c.cli(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;

    // Two instances that fit one 128 MiB task each, connected and acting on their payloads.
    let mut agents = Vec::new();
    for _ in 0..2 {
        agents.push(Arc::new(rt.block_on(FakeAgent::register(
            &c.endpoint,
            CLUSTER,
            1024,
            200,
        ))?));
    }
    let seen: Seen = Arc::default();
    let mut pilots = Vec::new();
    for a in &agents {
        pilots.push(autopilot(&rt, Arc::clone(a), Arc::clone(&seen))?);
    }
    let instances: Vec<String> = agents.iter().map(|a| a.instance_arn.clone()).collect();
    // Placement needs the agents' connections seen (else the reason is AGENT).
    let wait_connected = |c: &Checked| {
        wait_until(TIMEOUT, "both agents connected", || {
            let out = c.call(
                "DescribeContainerInstances",
                json!({"cluster": CLUSTER, "containerInstances": instances}),
            )?;
            let all = out["containerInstances"].as_array().unwrap();
            anyhow::Ok(all.iter().all(|i| i["agentConnected"] == true))
        })
    };
    wait_connected(&c)?;
    let web1 = register_web(&c, "1")?;

    // CreateService: idempotent with the same client token only.
    let create = [
        "ecs",
        "create-service",
        "--cluster",
        CLUSTER,
        "--service-name",
        "web",
        "--task-definition",
        "web",
        "--desired-count",
        "2",
        "--tags",
        "key=team,value=web",
        "--propagate-tags",
        "SERVICE",
        "--enable-ecs-managed-tags",
    ];
    let with_token = [&create[..], &["--client-token", "create-web"]].concat();
    let created = c.cli(&with_token)?["service"].clone();
    assert_eq!(
        created["serviceArn"],
        format!("arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/web")
    );
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["taskDefinition"], web1);
    assert_eq!(
        created["deploymentConfiguration"]["maximumPercent"], 200,
        "{created}"
    );
    assert_eq!(
        created["deploymentConfiguration"]["minimumHealthyPercent"],
        100
    );
    let first = created["deployments"][0].clone();
    let first_id = first["id"].as_str().unwrap().to_string();
    let digits = first_id.strip_prefix("ecs-svc/").unwrap();
    assert!(
        digits.len() == 19 && digits.chars().all(|c| c.is_ascii_digit()),
        "{first_id}"
    );
    assert_eq!(
        (first["status"].as_str(), first["rolloutState"].as_str()),
        (Some("PRIMARY"), Some("IN_PROGRESS"))
    );
    let again = c.cli(&with_token)?["service"].clone();
    assert_eq!(again["deployments"][0]["id"], first_id.as_str());
    let message = c.cli_err(&create, "InvalidParameterException")?;
    assert_eq!(message, "Creation of service was not idempotent.");

    // Two tasks placed, one per instance, reported RUNNING: the waiter returns.
    let steady = c.wait_steady(2, ":1")?;
    c.wait_stable()?;
    assert_eq!(steady["deployments"][0]["rolloutState"], "COMPLETED");
    let events = messages(&steady);
    assert_eq!(
        events[1],
        format!("(service web) (deployment {first_id}) deployment completed.")
    );
    assert!(
        events[2].starts_with("(service web) has started 2 tasks: (task "),
        "{events:?}"
    );
    let tasks = c.web_tasks()?;
    assert_eq!(tasks.len(), 2);
    let mut placed: Vec<&str> = tasks
        .iter()
        .map(|t| t["containerInstanceArn"].as_str().unwrap())
        .collect();
    placed.sort_unstable();
    let mut expected: Vec<&str> = instances.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(placed, expected, "one task per instance");
    for t in &tasks {
        assert_eq!(t["startedBy"], first_id.as_str(), "{t}");
        assert_eq!(t["group"], "service:web");
        assert_eq!(
            t["tags"],
            json!([
                {"key": "team", "value": "web"},
                {"key": "aws:ecs:clusterName", "value": CLUSTER},
                {"key": "aws:ecs:serviceName", "value": "web"},
            ]),
            "propagated and ECS managed tags"
        );
    }
    let sent: Vec<(String, String)> = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");

    // The walkthrough's listing and refusals.
    let listed = c.cli(&["ecs", "list-services", "--cluster", CLUSTER])?;
    assert_eq!(listed["serviceArns"], json!([created["serviceArn"]]));
    let daemons = c.call(
        "ListServices",
        json!({"cluster": CLUSTER, "schedulingStrategy": "DAEMON"}),
    )?;
    assert_eq!(daemons["serviceArns"], json!([]));
    let described = c.cli(&[
        "ecs",
        "describe-services",
        "--cluster",
        CLUSTER,
        "--services",
        "web",
        "nope",
        "--include",
        "TAGS",
    ])?;
    assert_eq!(
        described["services"][0]["tags"],
        json!([{"key": "team", "value": "web"}])
    );
    assert_eq!(
        described["failures"],
        json!([{"arn": format!("arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/nope"), "reason": "MISSING"}])
    );
    let clusters = c.cli(&["ecs", "describe-clusters", "--clusters", CLUSTER])?;
    assert_eq!(clusters["clusters"][0]["activeServicesCount"], 1);
    let message = c.cli_err(
        &["ecs", "delete-cluster", "--cluster", CLUSTER],
        "ClusterContainsServicesException",
    )?;
    assert_eq!(
        message,
        "The Cluster cannot be deleted while Services are active."
    );
    let message = c.cli_err(
        &[
            "ecs",
            "delete-service",
            "--cluster",
            CLUSTER,
            "--service",
            "web",
        ],
        "InvalidParameterException",
    )?;
    assert_eq!(
        message,
        "The service cannot be stopped while it is scaled above 0."
    );

    // An essential container exits: the service replaces the task.
    let exit_and_replace = |c: &Checked, agents: &[Arc<FakeAgent>]| -> Result<()> {
        let tasks = c.web_tasks()?;
        let victim = tasks[0]["taskArn"].as_str().unwrap().to_string();
        let on = tasks[0]["containerInstanceArn"].as_str().unwrap();
        let agent = agents.iter().find(|a| a.instance_arn == on).unwrap();
        rt.block_on(agent.submit(
            &victim,
            "STOPPED",
            "web",
            None,
            Some(1),
            Some("Essential container in task exited"),
        ))?;
        let s = wait_until(TIMEOUT, "the stopped task replaced", || {
            let s = c.web()?;
            let replaced = !c
                .web_tasks()?
                .iter()
                .any(|t| t["taskArn"] == victim.as_str())
                && s["runningCount"] == 2
                && s["events"][0]["message"] == "(service web) has reached a steady state.";
            anyhow::Ok(replaced.then_some(s))
        })?;
        let started = messages(&s)
            .into_iter()
            .find(|m| m.contains("has started"))
            .unwrap();
        assert!(
            started.starts_with("(service web) has started 1 tasks: (task "),
            "{started}"
        );
        let out = c.call(
            "DescribeTasks",
            json!({"cluster": CLUSTER, "tasks": [victim]}),
        )?;
        assert_eq!(out["tasks"][0]["stopCode"], "EssentialContainerExited");
        assert_eq!(
            s["deployments"][0]["failedTasks"], 0,
            "it had run: not a failure"
        );
        Ok(())
    };
    exit_and_replace(&c, &agents)?;
    c.wait_stable()?;

    // kill -9 and restart on the same data dir: the service, its deployment and events are kept,
    // and the scheduler carries on once the agents are back.
    let before = c.web()?;
    cp.process.kill()?;
    for p in pilots.drain(..) {
        p.abort();
    }
    cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let after = c.web()?;
    for key in [
        "serviceArn",
        "status",
        "desiredCount",
        "runningCount",
        "deployments",
        "events",
    ] {
        assert_eq!(after[key], before[key], "{key} after the restart");
    }
    for a in &agents {
        pilots.push(autopilot(&rt, Arc::clone(a), Arc::clone(&seen))?);
    }
    wait_connected(&c)?;
    exit_and_replace(&c, &agents)?;

    // A new revision, rolled over one task at a time on instances that fit one task each.
    let web2 = register_web(&c, "2")?;
    let updated = c.cli(&[
        "ecs",
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        "web",
        "--task-definition",
        "web:2",
        "--deployment-configuration",
        "minimumHealthyPercent=50,maximumPercent=100",
    ])?["service"]
        .clone();
    let deployments = updated["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 2, "{updated}");
    assert_eq!(
        (
            deployments[0]["status"].as_str(),
            deployments[0]["taskDefinition"].as_str()
        ),
        (Some("PRIMARY"), Some(web2.as_str()))
    );
    assert_eq!(
        (
            deployments[1]["status"].as_str(),
            deployments[1]["id"].as_str()
        ),
        (Some("ACTIVE"), Some(first_id.as_str()))
    );
    let second_id = deployments[0]["id"].as_str().unwrap().to_string();
    let rolled = c.wait_steady(2, ":2")?;
    c.wait_stable()?;
    assert_eq!(rolled["deployments"][0]["id"], second_id.as_str());
    assert_eq!(rolled["deployments"][0]["rolloutState"], "COMPLETED");
    assert_eq!(
        rolled["deploymentConfiguration"]["minimumHealthyPercent"],
        50
    );
    let events = messages(&rolled);
    let stops = events
        .iter()
        .filter(|m| m.starts_with("(service web) has stopped 1 running tasks: (task "))
        .count();
    assert_eq!(stops, 2, "old tasks stopped one at a time: {events:?}");
    assert!(
        !events.iter().any(|m| m.contains("was unable to place")),
        "never more than 100 %: {events:?}"
    );
    assert!(events.contains(&format!(
        "(service web) (deployment {second_id}) deployment completed."
    )));
    for t in c.web_tasks()? {
        assert_eq!(t["taskDefinitionArn"], web2.as_str());
        assert_eq!(t["startedBy"], second_id.as_str());
    }

    // A service no instance can hold: ECS's placement failure event, once; deleted with --force.
    let big = json!([{"name": "big", "image": "127.0.0.1:5000/big:1", "memory": 1000}]).to_string();
    c.cli(&[
        "ecs",
        "register-task-definition",
        "--family",
        "big",
        "--container-definitions",
        &big,
    ])?;
    c.cli(&[
        "ecs",
        "create-service",
        "--cluster",
        CLUSTER,
        "--service-name",
        "big",
        "--task-definition",
        "big",
        "--desired-count",
        "1",
    ])?;
    let describe_big = || -> Result<Value> {
        let out = c.call(
            "DescribeServices",
            json!({"cluster": CLUSTER, "services": ["big"]}),
        )?;
        Ok(out["services"][0].clone())
    };
    let unplaced = wait_until(TIMEOUT, "big's placement failure event", || {
        let s = describe_big()?;
        anyhow::Ok((!s["events"].as_array().unwrap().is_empty()).then_some(s))
    })?;
    let events = messages(&unplaced);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].starts_with(
            "(service big) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance "
        ) && events[0].contains(") has insufficient memory available."),
        "{events:?}"
    );
    let deleted = c.cli(&[
        "ecs",
        "delete-service",
        "--cluster",
        CLUSTER,
        "--service",
        "big",
        "--force",
    ])?;
    assert_eq!(deleted["service"]["status"], "DRAINING");
    assert_eq!(describe_big()?["status"], "INACTIVE");

    // Scale to 0, then delete: DRAINING, then INACTIVE (still described, no longer listed).
    // The scheduler's stops carry ECS's stop code and reason.
    let scaled_in: Vec<String> = c
        .web_tasks()?
        .iter()
        .filter_map(|t| t["taskArn"].as_str().map(String::from))
        .collect();
    assert!(!scaled_in.is_empty(), "web has tasks before scaling in");
    c.cli(&[
        "ecs",
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        "web",
        "--desired-count",
        "0",
    ])?;
    wait_until(TIMEOUT, "web's tasks stopped", || {
        let s = c.web()?;
        anyhow::Ok(s["runningCount"] == 0 && c.web_tasks()?.is_empty())
    })?;
    let stopped = c.call(
        "DescribeTasks",
        json!({"cluster": CLUSTER, "tasks": scaled_in}),
    )?;
    let stopped = stopped["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        stopped.len(),
        scaled_in.len(),
        "every scaled-in task described"
    );
    for t in &stopped {
        assert_eq!(t["stopCode"], "ServiceSchedulerInitiated", "{t}");
        let reason = t["stoppedReason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("Scaling activity initiated by (deployment ecs-svc/"),
            "{reason}"
        );
    }
    c.wait_stable()?;
    let deleted = c.cli(&[
        "ecs",
        "delete-service",
        "--cluster",
        CLUSTER,
        "--service",
        "web",
    ])?;
    assert_eq!(deleted["service"]["status"], "DRAINING");
    let gone = wait_until(TIMEOUT, "web INACTIVE", || {
        let s = c.web()?;
        anyhow::Ok((s["status"] == "INACTIVE").then_some(s))
    })?;
    assert_eq!(gone["desiredCount"], 0);
    let listed = c.cli(&["ecs", "list-services", "--cluster", CLUSTER])?;
    assert_eq!(listed["serviceArns"], json!([]));
    let clusters = c.call("DescribeClusters", json!({"clusters": [CLUSTER]}))?;
    assert_eq!(clusters["clusters"][0]["activeServicesCount"], 0);
    let message = c.cli_err(
        &[
            "ecs",
            "update-service",
            "--cluster",
            CLUSTER,
            "--service",
            "web",
            "--desired-count",
            "1",
        ],
        "ServiceNotActiveException",
    )?;
    assert_eq!(message, "Service was not ACTIVE.");
    let message = c.cli_err(
        &[
            "ecs",
            "delete-service",
            "--cluster",
            CLUSTER,
            "--service",
            "web",
        ],
        "ServiceNotFoundException",
    )?;
    assert_eq!(message, "Service not found.");
    for p in pilots {
        p.abort();
    }
    drop(cp);
    Ok(())
}
