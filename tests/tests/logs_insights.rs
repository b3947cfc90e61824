#![allow(clippy::unwrap_used, clippy::expect_used)]
//! CloudWatch Logs Insights on the emulator, end to end with the real AWS CLI: StartQuery,
//! GetQueryResults (polled until Complete), StopQuery, DescribeQueries and GetLogRecord.
//!
//! - The query ECS users are taught, `stats avg(CpuUtilized), avg(MemoryUtilized) by
//!   bin(30m)`, over Container Insights-style performance events (the field names of AWS's
//!   "Container Insights performance log events for Amazon ECS") in
//!   `/aws/ecs/containerinsights/<cluster>/performance`: every bin's averages equal the ones the
//!   test computes from the events it put.
//! - `fields`, `filter` (`like /re/`, comparisons), `sort`, `limit`, `parse` (glob and named
//!   regex groups) and the default `@timestamp`/`@message` columns over plain and JSON lines.
//! - Errors (a malformed query, a missing log group) in CloudWatch's codes, and every raw
//!   answer checked against botocore's `logs` model.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use ecs_e2e_tests::fake_agent::{SigningIdentity, signed_post};
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{AwsCli, ControlPlane, awscli_venv, unique, wait_until};
use serde_json::{Value, json};

const HALF_HOUR_MS: i64 = 30 * 60 * 1000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Creates `group` with `stream` and puts `events` (`(timestamp, message)`, in time order).
fn put_events(aws: &AwsCli, group: &str, stream: &str, events: &[(i64, String)]) -> Result<()> {
    aws.run(&["logs", "create-log-group", "--log-group-name", group])?;
    aws.run(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
    ])?;
    let batch: Vec<Value> = events
        .iter()
        .map(|(t, m)| json!({"timestamp": t, "message": m}))
        .collect();
    let put = aws.run(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
        "--log-events",
        &Value::from(batch).to_string(),
    ])?;
    anyhow::ensure!(put.get("rejectedLogEventsInfo").is_none(), "{put}");
    Ok(())
}

/// Starts `query` over `group` for `[start_ms, end_ms]` and polls GetQueryResults until the
/// query is Complete (30 s at most); returns the last answer.
fn run_query(aws: &AwsCli, group: &str, start_ms: i64, end_ms: i64, query: &str) -> Result<Value> {
    let started = aws.run(&[
        "logs",
        "start-query",
        "--log-group-name",
        group,
        "--start-time",
        &(start_ms / 1000).to_string(),
        "--end-time",
        &(end_ms / 1000).to_string(),
        "--query-string",
        query,
    ])?;
    let id = started["queryId"]
        .as_str()
        .with_context(|| format!("start-query: {started}"))?
        .to_string();
    wait_until(
        Duration::from_secs(30),
        &format!("query {id} to complete"),
        || {
            let got = aws.run(&["logs", "get-query-results", "--query-id", &id])?;
            match got["status"].as_str() {
                Some("Complete") => anyhow::Ok(Some(got)),
                Some("Scheduled" | "Running") => Ok(None),
                _ => anyhow::bail!("query {id} ended without completing: {got}"),
            }
        },
    )
}

/// Each result row as a map of field -> value.
fn rows(answer: &Value) -> Vec<BTreeMap<String, String>> {
    answer["results"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| {
                            (
                                f["field"].as_str().unwrap_or_default().to_string(),
                                f["value"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `2024-01-01 10:30:00.000` for `ms` (UTC), as Insights prints timestamps (the civil date
/// from days since the epoch: Howard Hinnant's algorithm).
fn insights_time(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

#[test]
fn insights_time_prints_utc_dates() {
    assert_eq!(insights_time(1_704_105_000_123), "2024-01-01 10:30:00.123");
    assert_eq!(insights_time(951_782_400_000), "2000-02-29 00:00:00.000");
}

#[test]
fn container_insights_cpu_and_memory_averages_by_30_minute_bins() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let cluster = unique("insights");
    let group = format!("/aws/ecs/containerinsights/{cluster}/performance");
    // Two and a half hours of Task and Container events, one of each every five minutes,
    // ending in the past; the first bin starts on a half hour.
    let first = (now_ms() - 3 * 3_600_000) / HALF_HOUR_MS * HALF_HOUR_MS;
    let mut events = Vec::new();
    let mut expected: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut task_only: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for k in 0..30i64 {
        let at = first + k * 5 * 60_000 + 1_000;
        let cpu = 10.0 + (k % 7) as f64 * 2.5;
        let memory = 64 + (k % 5) * 16;
        let task = json!({
            "Version": "0", "Type": "Task", "TaskId": "7ac4dfba69214411b4783a3b8189c9ba",
            "TaskDefinitionFamily": "sleep360", "TaskDefinitionRevision": "1",
            "ContainerInstanceId": "0d7650e6dec34c1a9200f72098071e8f",
            "EC2InstanceId": "i-0c470579dbcdbd2f3", "ClusterName": cluster,
            "Timestamp": at, "CpuUtilized": cpu, "CpuReserved": 256.0,
            "MemoryUtilized": memory, "MemoryReserved": 512,
            "StorageReadBytes": 0, "StorageWriteBytes": 0,
            "NetworkRxBytes": 1024 * k, "NetworkTxBytes": 512 * k,
            "KnownStatus": "RUNNING", "LaunchType": "EC2",
        });
        let container_cpu = cpu / 2.0;
        let container = json!({
            "Version": "0", "Type": "Container", "ContainerName": "app",
            "TaskId": "7ac4dfba69214411b4783a3b8189c9ba", "ClusterName": cluster,
            "Image": "busybox", "ContainerKnownStatus": "RUNNING", "Timestamp": at + 1,
            "CpuUtilized": container_cpu, "CpuReserved": 128.0,
            "MemoryUtilized": memory / 2, "MemoryReserved": 256,
        });
        events.push((at, task.to_string()));
        events.push((at + 1, container.to_string()));
        let bin = at / HALF_HOUR_MS * HALF_HOUR_MS;
        let e = expected.entry(bin).or_default();
        e.0.extend([cpu, container_cpu]);
        e.1.extend([memory as f64, (memory / 2) as f64]);
        task_only.entry(bin).or_default().push(cpu);
    }
    let stream = "AgentTelemetry-0d7650e6dec34c1a9200f72098071e8f";
    put_events(&aws, &group, stream, &events)?;
    let (from, to) = (first - 60_000, now_ms());

    let answer = run_query(
        &aws,
        &group,
        from,
        to,
        "stats avg(CpuUtilized), avg(MemoryUtilized) by bin(30m)",
    )?;
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut got: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for row in rows(&answer) {
        let number = |f: &str| -> Result<f64> {
            row.get(f)
                .with_context(|| format!("no {f} in {row:?}"))?
                .parse()
                .with_context(|| format!("{f} in {row:?}"))
        };
        let bin = row.get("bin(30m)").cloned().context("no bin(30m)")?;
        got.insert(
            bin,
            (number("avg(CpuUtilized)")?, number("avg(MemoryUtilized)")?),
        );
    }
    let want: BTreeMap<String, (f64, f64)> = expected
        .iter()
        .map(|(bin, (cpu, memory))| (insights_time(*bin), (avg(cpu), avg(memory))))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{answer}"
    );
    for (bin, (cpu, memory)) in &want {
        let (c, m) = got[bin];
        assert!(
            (c - cpu).abs() < 1e-9,
            "bin {bin}: avg(CpuUtilized) {c}, want {cpu}"
        );
        assert!(
            (m - memory).abs() < 1e-9,
            "bin {bin}: avg(MemoryUtilized) {m}, want {memory}"
        );
    }
    assert_eq!(answer["statistics"]["recordsScanned"], 60.0, "{answer}");
    assert_eq!(answer["statistics"]["recordsMatched"], 60.0, "{answer}");

    // The same over Task events only, newest bin first after the sort.
    let answer = run_query(
        &aws,
        &group,
        from,
        to,
        "filter Type = \"Task\" | stats avg(CpuUtilized) as cpu, count(*) as n by bin(30m) as t | sort t desc",
    )?;
    let got: Vec<(String, String, String)> = rows(&answer)
        .into_iter()
        .map(|r| (r["t"].clone(), r["cpu"].clone(), r["n"].clone()))
        .collect();
    let want: Vec<(String, String, String)> = task_only
        .iter()
        .rev()
        .map(|(bin, cpus)| {
            (
                insights_time(*bin),
                format_like_insights(avg(cpus)),
                cpus.len().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "{answer}");
    assert_eq!(answer["statistics"]["recordsMatched"], 30.0, "{answer}");
    Ok(())
}

/// A number as Insights prints it: integers without a fraction, others in their shortest form.
fn format_like_insights(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

#[test]
fn fields_filter_sort_limit_and_parse_through_the_cli() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let group = "/ecs/insights-app";
    let t0 = now_ms() - 600_000;
    let lines = [
        "10:00:01 [INFO] started user=alice",
        "10:00:02 [ERROR] disk full user=bob",
        r#"{"level":"WARN","latency":250,"http":{"status":503}}"#,
        "10:00:04 [ERROR] timeout user=alice",
        r#"{"level":"INFO","latency":12,"http":{"status":200}}"#,
    ];
    let events: Vec<(i64, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (t0 + i as i64 * 1000, l.to_string()))
        .collect();
    put_events(&aws, group, "web/1", &events)?;
    let (from, to) = (t0 - 1000, now_ms());

    // No fields: @timestamp and @message, newest first, and each row's @ptr.
    let answer = run_query(&aws, group, from, to, "filter @message like /ERROR/")?;
    let got = rows(&answer);
    assert_eq!(got.len(), 2, "{answer}");
    assert_eq!(got[0]["@message"], lines[3]);
    assert_eq!(got[0]["@timestamp"], insights_time(t0 + 3000));
    assert_eq!(got[1]["@message"], lines[1]);
    assert!(
        got.iter().all(|r| r.contains_key("@ptr") && r.len() == 3),
        "{answer}"
    );
    assert_eq!(answer["statistics"]["recordsScanned"], 5.0, "{answer}");
    // The @ptr leads GetLogRecord to the whole event.
    let record = aws.run(&[
        "logs",
        "get-log-record",
        "--log-record-pointer",
        &got[0]["@ptr"],
    ])?;
    assert_eq!(record["logRecord"]["@message"], lines[3], "{record}");
    assert_eq!(record["logRecord"]["@logStream"], "web/1", "{record}");

    // fields with JSON paths, a numeric filter, sort and limit.
    let answer = run_query(
        &aws,
        group,
        from,
        to,
        "fields @timestamp, level, http.status as status, latency | filter ispresent(latency) and latency > 10 \
         | sort latency desc | limit 1",
    )?;
    let got = rows(&answer);
    assert_eq!(got.len(), 1, "{answer}");
    assert_eq!(got[0]["level"], "WARN");
    assert_eq!(got[0]["status"], "503");
    assert_eq!(got[0]["latency"], "250");
    assert_eq!(got[0]["@timestamp"], insights_time(t0 + 2000));

    // parse with a glob, then display.
    let answer = run_query(
        &aws,
        group,
        from,
        to,
        "parse @message \"* [*] * user=*\" as clock, level, text, user | filter level = \"ERROR\" \
         | sort @timestamp asc | display clock, text, user",
    )?;
    let got: Vec<Vec<(String, String)>> = rows(&answer)
        .into_iter()
        .map(|r| r.into_iter().filter(|(f, _)| f != "@ptr").collect())
        .collect();
    let row = |c: &str, t: &str, u: &str| {
        vec![
            ("clock".to_string(), c.to_string()),
            ("text".to_string(), t.to_string()),
            ("user".to_string(), u.to_string()),
        ]
    };
    assert_eq!(
        got,
        [
            row("10:00:02", "disk full", "bob"),
            row("10:00:04", "timeout", "alice")
        ],
        "{answer}"
    );

    // parse with named regex groups, counted by user.
    let answer = run_query(
        &aws,
        group,
        from,
        to,
        r"parse @message /user=(?<user>\w+)/ | filter ispresent(user) | stats count(*) as n by user | sort user asc",
    )?;
    let got: Vec<(String, String)> = rows(&answer)
        .into_iter()
        .map(|r| (r["user"].clone(), r["n"].clone()))
        .collect();
    assert_eq!(
        got,
        [("alice".into(), "2".into()), ("bob".into(), "1".into())],
        "{answer}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_errors_and_query_listing_fit_cloudwatch_and_botocore() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let group = "/ecs/insights-errors";
    let t0 = now_ms() - 60_000;
    put_events(&aws, group, "s", &[(t0, "hello".to_string())])?;
    let (start, end) = ((t0 / 1000 - 60).to_string(), (now_ms() / 1000).to_string());

    let err = aws.run_err(&[
        "logs",
        "start-query",
        "--log-group-name",
        group,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--query-string",
        "fields @message | count(*)",
    ])?;
    assert_eq!(
        err.error_code(),
        Some("MalformedQueryException"),
        "{}",
        err.stderr
    );
    assert!(
        err.stderr.contains("mismatched input 'count'"),
        "{}",
        err.stderr
    );
    let err = aws.run_err(&[
        "logs",
        "start-query",
        "--log-group-name",
        "/ecs/no-such-group",
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--query-string",
        "fields @message",
    ])?;
    assert_eq!(
        err.error_code(),
        Some("ResourceNotFoundException"),
        "{}",
        err.stderr
    );
    assert!(
        err.stderr.contains(
            "Log group '/ecs/no-such-group' does not exist for account ID '123456789012'"
        ),
        "{}",
        err.stderr
    );
    let err = aws.run_err(&["logs", "get-query-results", "--query-id", "no-such-query"])?;
    assert_eq!(
        err.error_code(),
        Some("ResourceNotFoundException"),
        "{}",
        err.stderr
    );

    let done = run_query(&aws, group, t0 - 60_000, now_ms(), "fields @message")?;
    assert_eq!(rows(&done)[0]["@message"], "hello");
    let listed = aws.run(&[
        "logs",
        "describe-queries",
        "--log-group-name",
        group,
        "--status",
        "Complete",
    ])?;
    let queries = listed["queries"].as_array().context("queries")?;
    assert_eq!(queries.len(), 1, "{listed}");
    assert_eq!(queries[0]["queryString"], "fields @message");
    assert_eq!(queries[0]["logGroupName"], group);
    let id = queries[0]["queryId"].as_str().unwrap().to_string();
    let stopped = aws.run(&["logs", "stop-query", "--query-id", &id])?;
    assert_eq!(
        stopped["success"], false,
        "a finished query cannot be stopped: {stopped}"
    );

    // The raw answers against botocore's model (CloudWatch's errors carry `message`, which the
    // model does not declare).
    let mut model = ServiceModel::from_venv(&awscli_venv()?, "logs", "2014-03-28")?;
    for e in [
        "MalformedQueryException",
        "ResourceNotFoundException",
        "InvalidParameterException",
    ] {
        model = model.add_member(e, "message", "Message")?;
    }
    let identity = SigningIdentity::emulator_default();
    let endpoint = cp.endpoint();
    let call = |op: &'static str, input: Value| {
        let (model, identity, endpoint) = (&model, &identity, &endpoint);
        async move {
            model.validate_input(op, &input)?;
            let target = format!("Logs_20140328.{op}");
            let (status, body) = signed_post(
                endpoint,
                "logs",
                &target,
                input.to_string().as_bytes(),
                identity,
            )
            .await?;
            if status == 200 {
                model.validate_output(op, &body)?;
            } else {
                model.validate_error(op, status, &body)?;
            }
            anyhow::Ok((status, body))
        }
    };
    let window = json!({"logGroupName": group, "startTime": t0 / 1000 - 60,
                        "endTime": now_ms() / 1000, "queryString": "stats count(*) by bin(5m)"});
    let (status, started) = call("StartQuery", window.clone()).await?;
    assert_eq!(status, 200, "{started}");
    let id = started["queryId"].as_str().unwrap().to_string();
    let results = wait_until(Duration::from_secs(30), "the query to complete", || {
        let (status, body) = futures_block_on(call("GetQueryResults", json!({"queryId": id})))?;
        anyhow::ensure!(status == 200, "{body}");
        anyhow::Ok((body["status"] == "Complete").then_some(body))
    })?;
    assert_eq!(rows(&results)[0]["count(*)"], "1", "{results}");
    let mut malformed = window;
    malformed["queryString"] = json!("stats avg(x) by");
    let (status, body) = call("StartQuery", malformed).await?;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("MalformedQueryException"))
    );
    call("DescribeQueries", json!({"maxResults": 5})).await?;
    call("StopQuery", json!({"queryId": id})).await?;
    Ok(())
}

/// Runs a future to completion on the current multi-threaded runtime from inside a sync
/// closure (the polling helper is synchronous).
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}
