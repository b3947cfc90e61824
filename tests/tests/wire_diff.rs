#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The wire-diff test: what this agent sends, recorded in this run through a logging proxy, has
//! per message type the structure (keys and value types, registered capabilities included) of
//! what the reference Go agent 1.105.0 sent to the same emulator in the same scenario
//! (`control-plane/tests/fixtures/against-emulator.go.jsonl`, from
//! shared/reference/go-agent-wire), except for the intended differences listed with their
//! reasons in `tests/fixtures/wire-differences.md`. A difference not in the list fails the test,
//! and so does a listed one that no longer happens, so the list stays true.
//!
//! The scenario is the reference recording's, shortened: register; task a (web with a
//! `CMD-SHELL true` health check and a dynamic host port, side a sleep loop; a pull); once it
//! runs, task b (a task role) and task c (its essential container exits 3), both from the cached
//! image; a health report from TCS; StopTask a and b; SIGTERM.

use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::wire_diff::{differences, intended, structures, unexplained};
use ecs_e2e_tests::{
    Agent, ClusterSetup, WireProxy, register_task_definition, register_task_definition_with,
    run_when_placed, wait_status, wait_until,
};
use serde_json::json;

const REFERENCE: &str =
    include_str!("../../control-plane/tests/fixtures/against-emulator.go.jsonl");
const INTENDED: &str = include_str!("../fixtures/wire-differences.md");

/// The reference recording's environment (DIFF-against-emulator.md, "How it was recorded").
fn agent_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ECS_BACKEND_HOST", endpoint.to_string()),
        ("ECS_ENABLE_TASK_IAM_ROLE", "true".into()),
        ("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached".into()),
        ("ECS_LOGLEVEL", "debug".into()),
    ]
}

#[test]
fn this_agent_sends_what_the_reference_sends_but_for_the_listed_differences() -> Result<()> {
    let cluster = "wire-rs";
    let setup = ClusterSetup::start(cluster, None)?;
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &setup;
    let proxy = WireProxy::start(&cp.addr)?;
    let env = agent_env(&proxy.endpoint());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut agent = Agent::start(cp, cluster, data.path(), &env)?;

    let a = register_task_definition(
        aws,
        "wire-a",
        &json!([
            {"name": "web", "image": image, "memory": 64, "essential": true,
             "portMappings": [{"containerPort": 8080, "hostPort": 0}],
             "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2,
                             "retries": 2}},
            {"name": "side", "image": image, "memory": 32, "essential": false,
             "entryPoint": ["sh", "-c"],
             "command": ["trap 'exit 0' TERM; while true; do sleep 1; done"]}
        ]),
    )?;
    let b = register_task_definition_with(
        aws,
        "wire-b",
        &json!([{"name": "app", "image": image, "memory": 32, "essential": true}]),
        &[
            "--task-role-arn",
            "arn:aws:iam::123456789012:role/wire-task-role",
        ],
    )?;
    let c = register_task_definition(
        aws,
        "wire-c",
        &json!([{"name": "exit", "image": image, "memory": 32, "essential": true,
                 "entryPoint": ["sh", "-c"], "command": ["sleep 2; exit 3"]}]),
    )?;
    let minute = Duration::from_secs(60);
    let task_a = run_when_placed(aws, cluster, &a)?;
    wait_status(aws, cluster, &task_a, "RUNNING", minute)?;
    let task_b = run_when_placed(aws, cluster, &b)?;
    let task_c = run_when_placed(aws, cluster, &c)?;
    wait_status(aws, cluster, &task_b, "RUNNING", minute)?;
    wait_status(aws, cluster, &task_c, "STOPPED", minute)?;
    // a's health reaches TCS on the next 20 s tick after it turns healthy.
    wait_until(Duration::from_secs(90), "a health report on TCS", || {
        proxy.count_frames("PublishHealthRequest") > 0
    })?;
    for t in [&task_a, &task_b] {
        aws.run(&["ecs", "stop-task", "--cluster", cluster, "--task", t])?;
    }
    for t in [&task_a, &task_b] {
        wait_status(aws, cluster, t, "STOPPED", minute)?;
    }
    agent.process.terminate(Duration::from_secs(30))?;

    let ours = proxy.recording();
    // Every request and upgrade says who sent it, in the reference's User-Agent form.
    for line in ours.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if v["kind"] != "http_request" {
            continue;
        }
        let ua = v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("user-agent"))
            .and_then(|h| h[1].as_str())
            .unwrap_or_default();
        assert!(
            ua.starts_with("Amazon ECS Agent - v1.105.0 (")
                && ua.contains(" (+http://aws.amazon.com/ecs/) ecs-agent-rs/"),
            "User-Agent {ua:?} of {}",
            v["target"]
        );
    }
    // Kept after the run (the data directory is not) for a look at a failure.
    let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wire-rs.jsonl");
    std::fs::write(&kept, &ours)?;
    // When and what, beyond the structure, as the reference: one PENDING (with every digest),
    // one RUNNING and one STOPPED per task; pull times only for the task that pulled (a); the
    // configured cluster name; no task reason for c's essential exit.
    let changes: Vec<serde_json::Value> = ours
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| {
            v["x_amz_target"]
                .as_str()
                .is_some_and(|t| t.ends_with(".SubmitTaskStateChange"))
        })
        .map(|v| serde_json::from_str(v["body"].as_str().unwrap()).unwrap())
        .collect();
    for (task, pulled) in [(&task_a, true), (&task_b, false), (&task_c, false)] {
        let mine: Vec<&serde_json::Value> =
            changes.iter().filter(|c| c["task"] == **task).collect();
        let statuses: Vec<&str> = mine.iter().map(|c| c["status"].as_str().unwrap()).collect();
        assert_eq!(
            statuses,
            ["PENDING", "RUNNING", "STOPPED"],
            "{task}: {mine:?}"
        );
        assert!(
            mine[0]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["imageDigest"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("sha256:"))),
            "PENDING without digests: {:?}",
            mine[0]
        );
        for c in &mine {
            assert_eq!(c["cluster"], cluster, "{c}");
            assert_eq!(c.get("pullStartedAt").is_some(), pulled, "{task}: {c}");
        }
    }
    let c_stopped = changes
        .iter()
        .find(|c| c["task"] == task_c.as_str() && c["status"] == "STOPPED")
        .unwrap();
    assert_eq!(c_stopped["reason"], "", "{c_stopped}");

    let diffs = differences(&structures(REFERENCE)?, &structures(&ours)?);
    let list = intended(INTENDED)?;
    let (open, stale) = unexplained(&diffs, &list);
    let mut report = String::new();
    for d in &open {
        report.push_str(&format!("not in the list: {d}\n"));
    }
    for i in &stale {
        report.push_str(&format!(
            "listed but not seen: | {:?} | {} | {} | {} |\n",
            i.side, i.message, i.path, i.why
        ));
    }
    assert!(
        report.is_empty(),
        "the wire differs from the reference's other than tests/fixtures/wire-differences.md \
         says (this run's recording: {}):\n{report}",
        kept.display()
    );
    Ok(())
}
