#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of container metrics over TCS: the real agent on real Docker, through a
//! logging proxy (which shows what the agent sent) to the real control plane (whose log shows
//! what it recorded).
//!
//! - a task whose container burns CPU shows up in a `PublishMetricsRequest` with a non-zero CPU
//!   figure and a memory figure within the container's limit, and the emulator records it;
//! - with `ECS_DISABLE_METRICS=true` no task metrics are sent (only the reference's idle rounds)
//!   while container health still is;
//! - a service's busy task shows in the emulated CloudWatch's `AWS/ECS` metrics, as the AWS CLI
//!   reads them: CPUUtilization by ClusterName and by (ClusterName, ServiceName), CPUReservation
//!   and MemoryReservation by ClusterName;
//! - with `ECS_ENABLE_PROMETHEUS_METRICS=true` the agent serves `GET /metrics` on
//!   127.0.0.1:51680 in the Prometheus text format: the burning container's CPU seconds grow
//!   between scrapes, its memory is within its limit, the task sums it, and the agent's own
//!   series say it runs one task and holds ACS.
//!
//! Task containers are removed when a test ends, failed or not ([`ClusterSetup`]).

use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::{
    Agent, AwsCli, ClusterSetup, WireProxy, register_task_definition, run_when_placed, unique,
    wait_status, wait_until,
};
use serde_json::{Value, json};

/// The JSON messages of every TCS frame of `type_name` the agent sent so far.
fn tcs_messages(proxy: &WireProxy, type_name: &str) -> Vec<Value> {
    proxy
        .recording()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "ws_frame" && v["ws"] == "tcs")
        .filter_map(|v| {
            let data = v["data"].as_str()?;
            let body = data.split_once("\r\n\r\n").map_or(data, |(_, b)| b);
            let frame: Value = serde_json::from_str(body).ok()?;
            (frame["type"] == type_name).then(|| frame["message"].clone())
        })
        .collect()
}

/// The container metrics of `task`/`container` in the metrics the agent sent, latest last.
fn container_metrics(proxy: &WireProxy, task: &str, container: &str) -> Vec<Value> {
    tcs_messages(proxy, "PublishMetricsRequest")
        .iter()
        .flat_map(|m| m["taskMetrics"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["taskArn"] == task)
        .flat_map(|t| {
            t["containerMetrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| c["containerName"] == container)
        .collect()
}

fn agent_env(proxy: &WireProxy, extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let mut env = vec![("ECS_BACKEND_HOST".to_owned(), proxy.endpoint())];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

#[test]
fn a_busy_container_s_cpu_and_memory_reach_the_emulator() -> Result<()> {
    let cluster = "metrics-e2e";
    let setup = ClusterSetup::start(cluster, None)?;
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &setup;
    let proxy = WireProxy::start(&cp.addr)?;
    let env = agent_env(&proxy, &[("ECS_ENABLE_PROMETHEUS_METRICS", "true")]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut agent = Agent::start(cp, cluster, data.path(), &env)?;

    let def = register_task_definition(
        aws,
        "metrics-burn",
        &json!([{"name": "burn", "image": image, "memory": 64, "essential": true,
                 "entryPoint": ["sh", "-c"],
                 "command": ["trap 'exit 0' TERM; while true; do :; done"]}]),
    )?;
    let task = run_when_placed(aws, cluster, &def)?;
    wait_status(aws, cluster, &task, "RUNNING", Duration::from_secs(60))?;

    // The round after the container has two samples: within two publish intervals.
    let burn = wait_until(
        Duration::from_secs(90),
        "CPU of the burning container in a PublishMetricsRequest",
        || {
            container_metrics(&proxy, &task, "burn")
                .into_iter()
                .find(|c| {
                    c["cpuStatsSet"]["max"]
                        .as_f64()
                        .is_some_and(|cpu| cpu > 1.0)
                })
        },
    )?;
    let cpu = &burn["cpuStatsSet"];
    assert!(cpu["sampleCount"].as_i64().unwrap() >= 1, "{burn}");
    // Percent of the instance's CPUs: one busy loop is at most all of it.
    assert!(cpu["max"].as_f64().unwrap() <= 100.5, "{burn}");
    assert!(cpu["min"].as_f64().unwrap() >= 0.0, "{burn}");
    let memory = &burn["memoryStatsSet"];
    assert!(memory["sampleCount"].as_i64().unwrap() >= 1, "{burn}");
    // MiB, under the container's 64 MiB limit.
    let max = memory["max"].as_f64().unwrap();
    assert!((0.0..=64.0).contains(&max), "{burn}");
    assert!(
        burn["storageStatsSet"]["readSizeBytes"]["sampleCount"].is_i64(),
        "{burn}"
    );
    // Bridge mode: Docker reports the container's network.
    assert!(burn["networkStatsSet"]["rxBytes"]["sum"].is_i64(), "{burn}");

    // Every round is one batch: one message id, the last message `fin`.
    for m in tcs_messages(&proxy, "PublishMetricsRequest") {
        let md = &m["metadata"];
        assert_eq!(md["cluster"], cluster, "{m}");
        assert!(md["messageId"].is_string(), "{m}");
        assert_eq!(md["fin"], true, "one message a round here: {m}");
    }

    // The emulator verified and recorded it.
    wait_until(
        Duration::from_secs(10),
        "the emulator to record the task's metrics",
        || {
            cp.process
                .output()
                .lines()
                .any(|l| l.contains("TCS task metrics recorded") && l.contains(task.as_str()))
        },
    )?;

    // The same collector's figures on the Prometheus endpoint.
    let container = format!(
        r#"{{task_arn="{task}",task_family="metrics-burn",task_revision="1",container_name="burn"}}"#
    );
    let cpu_series = format!("ecs_container_cpu_usage_seconds_total{container}");
    let first = wait_until(Duration::from_secs(30), "the container on /metrics", || {
        anyhow::Ok(scrape()?.get(&cpu_series).copied())
    })?;
    let (second, text) = wait_until(Duration::from_secs(30), "its CPU seconds to grow", || {
        let text = scrape_text()?;
        let cpu = series(&text).get(&cpu_series).copied().unwrap_or_default();
        anyhow::Ok((cpu > first).then_some((cpu, text)))
    })?;
    assert!(second > first, "a busy loop uses CPU: {first} -> {second}");
    let s = series(&text);
    let memory = s[&format!("ecs_container_memory_usage_bytes{container}")];
    assert!(memory > 0.0 && memory <= 64.0 * 1024.0 * 1024.0, "{memory}");
    let task_labels =
        format!(r#"{{task_arn="{task}",task_family="metrics-burn",task_revision="1"}}"#);
    assert_eq!(
        s[&format!("ecs_task_memory_usage_bytes{task_labels}")],
        memory,
        "one container: the task's sum is its figure"
    );
    assert_eq!(
        s[r#"ecs_agent_tasks{known_status="RUNNING"}"#], 1.0,
        "{text}"
    );
    assert_eq!(s["ecs_agent_acs_connected"], 1.0, "{text}");
    assert!(
        s["ecs_agent_state_changes_delivered_total"] >= 1.0,
        "{text}"
    );
    assert!(text.contains("# TYPE ecs_agent_image_pull_duration_seconds histogram"));

    aws.run(&["ecs", "stop-task", "--cluster", cluster, "--task", &task])?;
    wait_status(aws, cluster, &task, "STOPPED", Duration::from_secs(60))?;
    wait_until(
        Duration::from_secs(30),
        "the stopped task gone from /metrics",
        || anyhow::Ok(!scrape_text()?.contains(task.as_str())),
    )?;
    agent.process.terminate(Duration::from_secs(30))?;
    Ok(())
}

/// `GET http://127.0.0.1:51680/metrics`: the body of a 200 answer.
fn scrape_text() -> Result<String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", 51680))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP answer: {answer}"))?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    anyhow::ensure!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    Ok(body.to_string())
}

/// `name{labels}` -> value of a scrape.
fn series(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn scrape() -> Result<std::collections::BTreeMap<String, f64>> {
    Ok(series(&scrape_text()?))
}

#[test]
fn with_metrics_disabled_only_idle_rounds_and_health_are_sent() -> Result<()> {
    let cluster = "metrics-off-e2e";
    let setup = ClusterSetup::start(cluster, None)?;
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &setup;
    let proxy = WireProxy::start(&cp.addr)?;
    let env = agent_env(&proxy, &[("ECS_DISABLE_METRICS", "true")]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut agent = Agent::start(cp, cluster, data.path(), &env)?;

    let def = register_task_definition(
        aws,
        "metrics-off",
        &json!([{"name": "web", "image": image, "memory": 64, "essential": true,
                 "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2,
                                 "retries": 2}}]),
    )?;
    let task = run_when_placed(aws, cluster, &def)?;
    wait_status(aws, cluster, &task, "RUNNING", Duration::from_secs(60))?;

    // Health goes out on the first round after the container turns healthy.
    wait_until(Duration::from_secs(90), "the task's health on TCS", || {
        tcs_messages(&proxy, "PublishHealthRequest")
            .iter()
            .any(|m| m["tasks"][0]["taskArn"] == task.as_str())
    })?;
    // A later round than the one with the health, so the collector had its chance.
    let rounds = tcs_messages(&proxy, "PublishMetricsRequest").len();
    wait_until(Duration::from_secs(30), "another metrics round", || {
        tcs_messages(&proxy, "PublishMetricsRequest").len() > rounds
    })?;
    let metrics = tcs_messages(&proxy, "PublishMetricsRequest");
    assert!(!metrics.is_empty());
    for m in &metrics {
        assert_eq!(m["metadata"]["idle"], true, "{m}");
        assert_eq!(m["metadata"]["fin"], true, "{m}");
        assert!(m.get("taskMetrics").is_none(), "{m}");
    }
    assert!(
        !cp.process.output().contains("TCS task metrics recorded"),
        "the emulator recorded task metrics"
    );

    aws.run(&["ecs", "stop-task", "--cluster", cluster, "--task", &task])?;
    wait_status(aws, cluster, &task, "STOPPED", Duration::from_secs(60))?;
    agent.process.terminate(Duration::from_secs(30))?;
    Ok(())
}

/// The `Average`s of `aws cloudwatch get-metric-statistics` for `metric` of `AWS/ECS` with
/// `dimensions` over the last ten minutes.
fn ecs_averages(aws: &AwsCli, metric: &str, dimensions: &[(&str, &str)]) -> Result<Vec<f64>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let (start, end) = ((now - 600).to_string(), (now + 120).to_string());
    let dims: Vec<String> = dimensions
        .iter()
        .map(|(n, v)| format!("Name={n},Value={v}"))
        .collect();
    let mut args = vec![
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/ECS",
        "--metric-name",
        metric,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--period",
        "60",
        "--statistics",
        "Average",
        "--dimensions",
    ];
    args.extend(dims.iter().map(String::as_str));
    let out = aws.run(&args)?;
    Ok(out["Datapoints"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["Average"].as_f64()).collect())
        .unwrap_or_default())
}

#[test]
fn a_service_s_busy_task_shows_in_aws_ecs_cloudwatch_metrics() -> Result<()> {
    let cluster = unique("cw-ecs");
    // The AWS/ECS metrics every 2 s rather than every minute (datapoints are still per minute).
    let setup = ClusterSetup::start_with_args(&cluster, None, &["--ecs-metrics-seconds", "2"])?;
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &setup;
    let mut agent = Agent::start(cp, &cluster, data.path(), &[])?;
    let def = register_task_definition(
        aws,
        "cw-burn",
        &json!([{"name": "burn", "image": image, "memory": 64, "cpu": 256, "essential": true,
                 "entryPoint": ["sh", "-c"],
                 "command": ["trap 'exit 0' TERM; while true; do :; done"]}]),
    )?;
    wait_until(Duration::from_secs(30), "the agent to register", || {
        let out = aws.run(&["ecs", "list-container-instances", "--cluster", &cluster])?;
        anyhow::Ok(
            out["containerInstanceArns"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
        )
    })?;
    aws.run(&[
        "ecs",
        "create-service",
        "--cluster",
        &cluster,
        "--service-name",
        "burner",
        "--task-definition",
        &def,
        "--desired-count",
        "1",
    ])?;
    let c = [("ClusterName", cluster.as_str())];
    let cs = [("ClusterName", cluster.as_str()), ("ServiceName", "burner")];
    // A TCS round (20 s) with two samples, then the next AWS/ECS round.
    let cluster_cpu = wait_until(
        Duration::from_secs(120),
        "CPUUtilization of the cluster in AWS/ECS",
        || {
            let avgs = ecs_averages(aws, "CPUUtilization", &c)?;
            anyhow::Ok(avgs.into_iter().find(|v| *v > 0.0))
        },
    )?;
    assert!(cluster_cpu <= 100.5, "{cluster_cpu}");
    let service_cpu = wait_until(
        Duration::from_secs(60),
        "CPUUtilization of the service in AWS/ECS",
        || {
            let avgs = ecs_averages(aws, "CPUUtilization", &cs)?;
            anyhow::Ok(avgs.into_iter().find(|v| *v > 0.0))
        },
    )?;
    // A busy loop uses far more than its 256 units' share on a multi-CPU host: over 100 %.
    assert!(
        service_cpu > cluster_cpu,
        "service {service_cpu}, cluster {cluster_cpu}"
    );
    let memory = ecs_averages(aws, "MemoryUtilization", &cs)?;
    assert!(
        memory.iter().all(|m| (0.0..=100.0).contains(m)),
        "{memory:?}"
    );
    let cpu_reserved = ecs_averages(aws, "CPUReservation", &c)?;
    assert!(
        cpu_reserved.iter().any(|v| *v > 0.0 && *v <= 100.0),
        "{cpu_reserved:?}"
    );
    let mem_reserved = ecs_averages(aws, "MemoryReservation", &c)?;
    assert!(
        mem_reserved.iter().any(|v| *v > 0.0 && *v <= 100.0),
        "{mem_reserved:?}"
    );
    let listed = aws.run(&["cloudwatch", "list-metrics", "--namespace", "AWS/ECS"])?;
    assert_eq!(
        listed["Metrics"].as_array().map(Vec::len),
        Some(6),
        "two reservations, two utilizations by cluster and two by service: {listed}"
    );

    aws.run(&[
        "ecs",
        "delete-service",
        "--cluster",
        &cluster,
        "--service",
        "burner",
        "--force",
    ])?;
    wait_until(
        Duration::from_secs(60),
        "the service's task to stop",
        || {
            let out = aws.run(&[
                "ecs",
                "list-tasks",
                "--cluster",
                &cluster,
                "--desired-status",
                "RUNNING",
            ])?;
            anyhow::Ok(out["taskArns"].as_array().is_some_and(Vec::is_empty))
        },
    )?;
    agent.process.terminate(Duration::from_secs(30))?;
    Ok(())
}
