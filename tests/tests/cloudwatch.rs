#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The emulated CloudWatch (metrics and alarms), end to end.
//!
//! - The real AWS CLI (which speaks AWS JSON 1.0 to CloudWatch) puts, lists and reads metrics,
//!   creates an alarm that goes to ALARM on its own after breaching data and back to OK after
//!   good data (the emulator's evaluator runs every second here), reads the alarm's history,
//!   sets its state and deletes it; bad PutMetricData calls get CloudWatch's errors as the CLI
//!   prints them. Every raw request and answer (from `aws --debug`) is checked against
//!   botocore's `cloudwatch` model.
//! - The CLI's own botocore, made to pick Smithy RPC v2 CBOR and then the query protocol (the
//!   model's other two protocols), does the same calls over those wires.
//! - With `--data-dir`, metrics, alarms and history survive `kill -9` and a restart.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ecs_e2e_tests::cli_debug::cli_exchanges;
use ecs_e2e_tests::shapes::ServiceModel;
use ecs_e2e_tests::{AwsCli, ControlPlane, awscli_venv, free_port, wait_until};
use serde_json::Value;

/// Starts the emulator with alarms evaluated every second.
fn control_plane() -> Result<ControlPlane> {
    ControlPlane::start_with_args(
        &format!("127.0.0.1:{}", free_port()?),
        None,
        &["--alarm-evaluation-seconds", "1"],
    )
}

/// Runs `aws cloudwatch ARGS`, checks every exchange against the model and returns the last
/// answer.
fn cw(aws: &AwsCli, model: &ServiceModel, args: &[&str]) -> Result<Value> {
    let mut all = vec!["cloudwatch"];
    all.extend_from_slice(args);
    let exchanges = cli_exchanges(aws, &all)?;
    for x in &exchanges {
        model
            .validate_input(&x.operation, &x.request)
            .with_context(|| format!("{} request", x.operation))?;
        model
            .validate_output(&x.operation, &x.response)
            .with_context(|| format!("{} answer: {}", x.operation, x.response))?;
    }
    Ok(exchanges
        .last()
        .map(|x| x.response.clone())
        .unwrap_or_default())
}

fn alarm_state(aws: &AwsCli, name: &str) -> Result<String> {
    let out = aws.run(&["cloudwatch", "describe-alarms", "--alarm-names", name])?;
    Ok(out["MetricAlarms"][0]["StateValue"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

#[test]
fn aws_cli_drives_cloudwatch_metrics_and_alarms() -> Result<()> {
    let cp = control_plane()?;
    let aws = cp.aws()?;
    let model = ServiceModel::from_venv(&awscli_venv()?, "cloudwatch", "2010-08-01")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let (start, end) = ((now - 600).to_string(), (now + 120).to_string());

    // Metrics in, listed, read back.
    cw(
        &aws,
        &model,
        &[
            "put-metric-data",
            "--namespace",
            "App",
            "--metric-name",
            "Latency",
            "--dimensions",
            "Host=a",
            "--unit",
            "Milliseconds",
            "--value",
            "40",
            "--storage-resolution",
            "1",
        ],
    )?;
    cw(
        &aws,
        &model,
        &[
            "put-metric-data",
            "--namespace",
            "App",
            "--metric-data",
            r#"[{"MetricName":"Latency","Dimensions":[{"Name":"Host","Value":"a"}],"Values":[10,20],"Counts":[1,3],"Unit":"Milliseconds"},
                {"MetricName":"Requests","Dimensions":[{"Name":"Host","Value":"a"}],"StatisticValues":{"SampleCount":4,"Sum":8,"Minimum":1,"Maximum":3},"Unit":"Count"}]"#,
        ],
    )?;
    let listed = cw(&aws, &model, &["list-metrics", "--namespace", "App"])?;
    let names: Vec<&str> = listed["Metrics"]
        .as_array()
        .context("Metrics")?
        .iter()
        .filter_map(|m| m["MetricName"].as_str())
        .collect();
    assert_eq!(names, ["Latency", "Requests"], "{listed}");
    let filtered = cw(
        &aws,
        &model,
        &["list-metrics", "--dimensions", "Name=Host,Value=b"],
    )?;
    assert_eq!(filtered["Metrics"], serde_json::json!([]));
    let stats = cw(
        &aws,
        &model,
        &[
            "get-metric-statistics",
            "--namespace",
            "App",
            "--metric-name",
            "Latency",
            "--dimensions",
            "Name=Host,Value=a",
            "--start-time",
            &start,
            "--end-time",
            &end,
            "--period",
            "3600",
            "--statistics",
            "Average",
            "Maximum",
            "SampleCount",
        ],
    )?;
    let dp = &stats["Datapoints"][0];
    assert_eq!(dp["SampleCount"], 5.0, "{stats}");
    assert_eq!(dp["Maximum"], 40.0);
    assert_eq!(dp["Average"], 22.0);
    assert_eq!(dp["Unit"], "Milliseconds");
    let data = cw(
        &aws,
        &model,
        &[
            "get-metric-data",
            "--start-time",
            &start,
            "--end-time",
            &end,
            "--metric-data-queries",
            r#"[{"Id":"lat","ReturnData":false,"MetricStat":{"Metric":{"Namespace":"App","MetricName":"Latency","Dimensions":[{"Name":"Host","Value":"a"}]},"Period":3600,"Stat":"Sum"}},
                {"Id":"req","ReturnData":false,"MetricStat":{"Metric":{"Namespace":"App","MetricName":"Requests","Dimensions":[{"Name":"Host","Value":"a"}]},"Period":3600,"Stat":"Sum"}},
                {"Id":"per","Expression":"lat/req","Label":"per request"},
                {"Id":"all","Expression":"SUM(METRICS())"}]"#,
        ],
    )?;
    let results = data["MetricDataResults"].as_array().context("results")?;
    assert_eq!(results.len(), 2, "{data}");
    assert_eq!(results[0]["Label"], "per request");
    assert_eq!(results[0]["Values"], serde_json::json!([13.75]));
    assert_eq!(results[1]["Values"], serde_json::json!([118.0]));

    // Bad data gets CloudWatch's errors, as the CLI prints them.
    let err = aws.run_err(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "App",
        "--metric-name",
        "Latency",
        "--value",
        "NaN",
    ])?;
    assert_eq!(err.error_code(), Some("InvalidParameterValue"), "{err}");
    assert!(
        err.stderr
            .contains("The value NaN for parameter MetricData.member.1.Value is invalid."),
        "{}",
        err.stderr
    );
    let err = aws.run_err(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "App",
        "--metric-name",
        "Latency",
        "--value",
        "1",
        "--statistic-values",
        "SampleCount=1,Sum=1,Minimum=1,Maximum=1",
    ])?;
    assert_eq!(
        err.error_code(),
        Some("InvalidParameterCombination"),
        "{err}"
    );
    let err = aws.run_err(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "AWS/ECS",
        "--metric-name",
        "X",
        "--value",
        "1",
    ])?;
    assert_eq!(err.error_code(), Some("InvalidParameterValue"), "{err}");
    let many: String = (0..151)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let err = aws.run_err(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "App",
        "--metric-data",
        &format!(r#"[{{"MetricName":"Latency","Values":[{many}]}}]"#),
    ])?;
    assert_eq!(err.error_code(), Some("InvalidParameterValue"), "{err}");

    // An alarm on high-resolution data: ALARM on its own, then OK.
    cw(
        &aws,
        &model,
        &[
            "put-metric-alarm",
            "--alarm-name",
            "slow",
            "--namespace",
            "App",
            "--metric-name",
            "Cpu",
            "--dimensions",
            "Name=Host,Value=a",
            "--statistic",
            "Maximum",
            "--period",
            "10",
            "--evaluation-periods",
            "1",
            "--threshold",
            "80",
            "--comparison-operator",
            "GreaterThanThreshold",
            "--treat-missing-data",
            "ignore",
        ],
    )?;
    assert_eq!(alarm_state(&aws, "slow")?, "INSUFFICIENT_DATA");
    let put_cpu = |v: &str| {
        aws.run(&[
            "cloudwatch",
            "put-metric-data",
            "--namespace",
            "App",
            "--metric-name",
            "Cpu",
            "--dimensions",
            "Host=a",
            "--storage-resolution",
            "1",
            "--value",
            v,
        ])
    };
    put_cpu("95")?;
    wait_until(Duration::from_secs(60), "the alarm to go to ALARM", || {
        Ok::<_, anyhow::Error>((alarm_state(&aws, "slow")? == "ALARM").then_some(()))
    })?;
    let described = cw(&aws, &model, &["describe-alarms", "--state-value", "ALARM"])?;
    let alarm = &described["MetricAlarms"][0];
    assert_eq!(alarm["AlarmName"], "slow");
    let reason = alarm["StateReason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("Threshold Crossed: 1 datapoint [95.0 (")
            && reason.ends_with(")] was greater than the threshold (80.0)."),
        "{reason}"
    );
    let for_metric = cw(
        &aws,
        &model,
        &[
            "describe-alarms-for-metric",
            "--namespace",
            "App",
            "--metric-name",
            "Cpu",
            "--dimensions",
            "Name=Host,Value=a",
            "--statistic",
            "Maximum",
        ],
    )?;
    assert_eq!(
        for_metric["MetricAlarms"][0]["AlarmName"], "slow",
        "{for_metric}"
    );
    cw(
        &aws,
        &model,
        &["disable-alarm-actions", "--alarm-names", "slow"],
    )?;
    cw(
        &aws,
        &model,
        &["enable-alarm-actions", "--alarm-names", "slow"],
    )?;
    put_cpu("20")?;
    wait_until(
        Duration::from_secs(60),
        "the alarm to go back to OK",
        || Ok::<_, anyhow::Error>((alarm_state(&aws, "slow")? == "OK").then_some(())),
    )?;
    let history = cw(
        &aws,
        &model,
        &[
            "describe-alarm-history",
            "--alarm-name",
            "slow",
            "--history-item-type",
            "StateUpdate",
        ],
    )?;
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|h| h["HistorySummary"].as_str())
        .collect();
    assert_eq!(
        summaries,
        [
            "Alarm updated from ALARM to OK",
            "Alarm updated from INSUFFICIENT_DATA to ALARM"
        ]
    );

    // Set by hand (on an alarm whose metric has no data and ignores missing data, so the
    // evaluator leaves the state alone), deleted.
    cw(
        &aws,
        &model,
        &[
            "put-metric-alarm",
            "--alarm-name",
            "manual",
            "--namespace",
            "App",
            "--metric-name",
            "Quiet",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
            "--treat-missing-data",
            "ignore",
        ],
    )?;
    cw(
        &aws,
        &model,
        &[
            "set-alarm-state",
            "--alarm-name",
            "manual",
            "--state-value",
            "ALARM",
            "--state-reason",
            "testing the pager",
        ],
    )?;
    let described = cw(
        &aws,
        &model,
        &["describe-alarms", "--alarm-name-prefix", "man"],
    )?;
    assert_eq!(
        described["MetricAlarms"][0]["StateValue"], "ALARM",
        "{described}"
    );
    assert_eq!(
        described["MetricAlarms"][0]["StateReason"],
        "testing the pager"
    );
    let err = aws.run_err(&[
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        "nope",
        "--state-value",
        "OK",
        "--state-reason",
        "x",
    ])?;
    assert_eq!(err.error_code(), Some("ResourceNotFound"), "{err}");
    cw(
        &aws,
        &model,
        &["delete-alarms", "--alarm-names", "slow", "manual"],
    )?;
    let described = cw(&aws, &model, &["describe-alarms"])?;
    assert_eq!(described["MetricAlarms"], serde_json::json!([]));
    Ok(())
}

/// The model's two other protocols, through the CLI's own botocore made to choose them.
#[test]
fn rpc_v2_cbor_and_query_clients_get_the_same_answers() -> Result<()> {
    let cp = control_plane()?;
    let python = awscli_venv()?.join("bin/python");
    let script = r#"
import sys, json, datetime
import awscli  # makes the CLI's vendored botocore importable as `botocore`
import botocore.model, botocore.session
from botocore.exceptions import ClientError
endpoint = sys.argv[1]
out = {}
for proto in ["smithy-rpc-v2-cbor", "query"]:
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = (proto,)
    s = botocore.session.get_session()
    c = s.create_client("cloudwatch", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert c.meta.service_model.resolved_protocol == proto
    now = datetime.datetime.now(datetime.timezone.utc)
    ns = "P-" + proto
    c.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "M", "Value": 3.5, "Timestamp": now, "Dimensions": [{"Name": "D", "Value": "v"}]},
        {"MetricName": "M", "Values": [1.0, 2.0], "Counts": [2.0, 1.0], "Timestamp": now, "Dimensions": [{"Name": "D", "Value": "v"}]}])
    r = {}
    r["list"] = [m["MetricName"] for m in c.list_metrics(Namespace=ns)["Metrics"]]
    st = c.get_metric_statistics(Namespace=ns, MetricName="M", Dimensions=[{"Name": "D", "Value": "v"}],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=5),
        Period=3600, Statistics=["Sum", "SampleCount"])
    dp = st["Datapoints"][0]
    r["stats"] = [dp["Sum"], dp["SampleCount"], isinstance(dp["Timestamp"], datetime.datetime)]
    d = c.get_metric_data(StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=5),
        MetricDataQueries=[{"Id": "m1", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "M",
            "Dimensions": [{"Name": "D", "Value": "v"}]}, "Period": 3600, "Stat": "Maximum"}}])
    res = d["MetricDataResults"][0]
    r["data"] = [res["Values"], all(isinstance(t, datetime.datetime) for t in res["Timestamps"])]
    c.put_metric_alarm(AlarmName="a-" + proto, Namespace=ns, MetricName="M", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    a = c.describe_alarms(AlarmNames=["a-" + proto])["MetricAlarms"][0]
    r["alarm"] = [a["AlarmName"], a["StateValue"], isinstance(a["StateUpdatedTimestamp"], datetime.datetime)]
    h = c.describe_alarm_history(AlarmName="a-" + proto)["AlarmHistoryItems"]
    r["history"] = [x["HistorySummary"] for x in h]
    try:
        c.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": float("nan")}])
        r["nan"] = "accepted"
    except ClientError as e:
        r["nan"] = [e.response["Error"]["Code"], e.response["Error"]["Message"],
                    e.response["ResponseMetadata"]["HTTPStatusCode"]]
    try:
        c.set_alarm_state(AlarmName="missing", StateValue="OK", StateReason="x")
        r["missing"] = "accepted"
    except ClientError as e:
        r["missing"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
    c.delete_alarms(AlarmNames=["a-" + proto])
    r["after_delete"] = len(c.describe_alarms()["MetricAlarms"])
    out[proto] = r
print(json.dumps(out))
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script, &cp.endpoint()])
        .output()?;
    ensure!(
        output.status.success(),
        "botocore script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout)?;
    for proto in ["smithy-rpc-v2-cbor", "query"] {
        let r = &out[proto];
        assert_eq!(r["list"], serde_json::json!(["M"]), "{proto}: {r}");
        assert_eq!(
            r["stats"],
            serde_json::json!([7.5, 4.0, true]),
            "{proto}: {r}"
        );
        assert_eq!(r["data"], serde_json::json!([[3.5], true]), "{proto}: {r}");
        assert_eq!(
            r["alarm"],
            serde_json::json!([format!("a-{proto}"), "INSUFFICIENT_DATA", true]),
            "{proto}: {r}"
        );
        assert_eq!(
            r["history"],
            serde_json::json!([format!("Alarm \"a-{proto}\" created")]),
            "{proto}: {r}"
        );
        assert_eq!(
            r["nan"],
            serde_json::json!([
                "InvalidParameterValue",
                "The value NaN for parameter MetricData.member.1.Value is invalid.",
                400
            ]),
            "{proto}: {r}"
        );
        assert_eq!(
            r["missing"],
            serde_json::json!(["ResourceNotFound", 404]),
            "{proto}: {r}"
        );
        assert_eq!(r["after_delete"], 0, "{proto}: {r}");
    }
    Ok(())
}

/// With `--data-dir`, metrics, alarms and their history survive `kill -9` and a restart.
#[test]
fn metrics_and_alarms_survive_a_kill_and_restart() -> Result<()> {
    let data = tempfile::tempdir()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    aws.run(&[
        "cloudwatch",
        "put-metric-data",
        "--namespace",
        "Durable",
        "--metric-name",
        "M",
        "--value",
        "7",
    ])?;
    aws.run(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "kept",
        "--namespace",
        "Durable",
        "--metric-name",
        "M",
        "--statistic",
        "Sum",
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "100",
        "--comparison-operator",
        "GreaterThanThreshold",
    ])?;
    aws.run(&[
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        "kept",
        "--state-value",
        "OK",
        "--state-reason",
        "by hand",
    ])?;
    let mut cp = cp;
    cp.process.kill()?;
    drop(cp);
    let _cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let listed = aws.run(&["cloudwatch", "list-metrics", "--namespace", "Durable"])?;
    assert_eq!(listed["Metrics"][0]["MetricName"], "M", "{listed}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let stats = aws.run(&[
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "Durable",
        "--metric-name",
        "M",
        "--start-time",
        &(now - 3600).to_string(),
        "--end-time",
        &(now + 60).to_string(),
        "--period",
        "3600",
        "--statistics",
        "Sum",
    ])?;
    assert_eq!(stats["Datapoints"][0]["Sum"], 7.0, "{stats}");
    let alarms = aws.run(&["cloudwatch", "describe-alarms", "--alarm-names", "kept"])?;
    assert_eq!(alarms["MetricAlarms"][0]["AlarmName"], "kept", "{alarms}");
    let history = aws.run(&[
        "cloudwatch",
        "describe-alarm-history",
        "--alarm-name",
        "kept",
    ])?;
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|h| h["HistorySummary"].as_str())
        .collect();
    assert!(
        summaries.contains(&"Alarm updated from INSUFFICIENT_DATA to OK")
            && summaries.contains(&"Alarm \"kept\" created"),
        "{history}"
    );
    Ok(())
}
