//! The operations through [`Logs::handle`], as the front calls them.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::events::{TOO_NEW_MS, TOO_OLD_MS};
use super::*;

const NOW: i64 = 1_800_000_000_000;

fn call(logs: &mut Logs, op: &str, body: Value) -> Result<Value, ApiError> {
    logs.handle(op, body.to_string().as_bytes(), NOW)
}

fn with_stream() -> Logs {
    let mut logs = Logs::new("us-east-1", "123456789012");
    call(
        &mut logs,
        "CreateLogGroup",
        json!({"logGroupName": "/ecs/app"}),
    )
    .unwrap();
    call(
        &mut logs,
        "CreateLogStream",
        json!({"logGroupName": "/ecs/app", "logStreamName": "web/1"}),
    )
    .unwrap();
    logs
}

fn put(logs: &mut Logs, events: &[(i64, &str)]) -> Value {
    let events: Vec<Value> = events
        .iter()
        .map(|(t, m)| json!({"timestamp": t, "message": m}))
        .collect();
    call(
        logs,
        "PutLogEvents",
        json!({"logGroupName": "/ecs/app", "logStreamName": "web/1", "logEvents": events}),
    )
    .unwrap()
}

fn messages(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn duplicate_and_missing_resources_use_cloudwatch_errors() {
    let mut logs = with_stream();
    let e = call(
        &mut logs,
        "CreateLogGroup",
        json!({"logGroupName": "/ecs/app"}),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceAlreadyExistsException);
    assert_eq!(e.message, "The specified log group already exists");
    let e = call(
        &mut logs,
        "CreateLogStream",
        json!({"logGroupName": "/nope", "logStreamName": "s"}),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    assert_eq!(e.message, "The specified log group does not exist.");
    let e = call(
        &mut logs,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/app", "logStreamName": "nope"}),
    )
    .unwrap_err();
    assert_eq!(e.message, "The specified log stream does not exist.");
    let e = call(&mut logs, "CreateLogGroup", json!({"logGroupName": "a b"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert!(e.message.contains("at 'logGroupName'"), "{}", e.message);
    call(
        &mut logs,
        "DeleteLogGroup",
        json!({"logGroupName": "/ecs/app"}),
    )
    .unwrap();
    let e = call(
        &mut logs,
        "DeleteLogGroup",
        json!({"logGroupName": "/ecs/app"}),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
}

#[test]
fn put_rejects_unordered_batches_and_reports_out_of_range_events() {
    let mut logs = with_stream();
    let e = call(
        &mut logs,
        "PutLogEvents",
        json!({"logGroupName": "/ecs/app", "logStreamName": "web/1", "logEvents": [
            {"timestamp": NOW, "message": "b"}, {"timestamp": NOW - 1, "message": "a"}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Log events in a single PutLogEvents request must be in chronological order."
    );
    let out = put(
        &mut logs,
        &[
            (NOW - TOO_OLD_MS - 1, "old"),
            (NOW, "ok"),
            (NOW + TOO_NEW_MS + 1, "new"),
        ],
    );
    assert_eq!(out["rejectedLogEventsInfo"]["tooOldLogEventEndIndex"], 0);
    assert_eq!(out["rejectedLogEventsInfo"]["tooNewLogEventStartIndex"], 2);
    let got = call(
        &mut logs,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/app", "logStreamName": "web/1"}),
    )
    .unwrap();
    assert_eq!(messages(&got), ["ok"]);
}

#[test]
fn get_log_events_pages_forward_and_backward_with_tokens() {
    let mut logs = with_stream();
    put(&mut logs, &[(NOW, "1"), (NOW + 1, "2"), (NOW + 2, "3")]);
    let req = |extra: Value| {
        let mut r = json!({"logGroupName": "/ecs/app", "logStreamName": "web/1", "limit": 2});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let tail = call(&mut logs, "GetLogEvents", req(json!({}))).unwrap();
    assert_eq!(messages(&tail), ["2", "3"]);
    let head = call(
        &mut logs,
        "GetLogEvents",
        req(json!({"startFromHead": true})),
    )
    .unwrap();
    assert_eq!(messages(&head), ["1", "2"]);
    let f = head["nextForwardToken"].as_str().unwrap().to_string();
    assert!(f.starts_with("f/") && f.len() == 58, "{f}");
    let next = call(
        &mut logs,
        "GetLogEvents",
        req(json!({"startFromHead": true, "nextToken": f})),
    )
    .unwrap();
    assert_eq!(messages(&next), ["3"]);
    // At the end, the forward token stays put: that is how callers know to stop.
    let end = next["nextForwardToken"].clone();
    let again = call(
        &mut logs,
        "GetLogEvents",
        req(json!({"startFromHead": true, "nextToken": end})),
    )
    .unwrap();
    assert_eq!(messages(&again), Vec::<String>::new());
    assert_eq!(again["nextForwardToken"], next["nextForwardToken"]);
    let back = call(
        &mut logs,
        "GetLogEvents",
        req(json!({"nextToken": tail["nextBackwardToken"]})),
    )
    .unwrap();
    assert_eq!(messages(&back), ["1"]);
    let window = call(
        &mut logs,
        "GetLogEvents",
        req(json!({"startTime": NOW + 1, "endTime": NOW + 2, "limit": 10})),
    )
    .unwrap();
    assert_eq!(messages(&window), ["2"]);
}

#[test]
fn filter_patterns_match_terms_phrases_alternatives_and_exclusions() {
    let p = FilterPattern::parse(r#"ERROR "disk full" -ignored"#).unwrap();
    assert!(p.matches("ERROR: disk full on /"));
    assert!(!p.matches("ERROR: disk is full"));
    assert!(!p.matches("ERROR: disk full (ignored)"));
    assert!(!p.matches("error: disk full"));
    let p = FilterPattern::parse("?WARN ?ERROR").unwrap();
    assert!(p.matches("WARN x") && p.matches("ERROR y") && !p.matches("INFO z"));
    assert!(FilterPattern::parse("").unwrap().matches("anything"));
    assert!(FilterPattern::parse(r#"{ $.level = "x" }"#).is_err());
    assert!(FilterPattern::parse(r#""open"#).is_err());

    let mut logs = with_stream();
    put(&mut logs, &[(NOW, "INFO up"), (NOW + 1, "ERROR down")]);
    let out = call(
        &mut logs,
        "FilterLogEvents",
        json!({"logGroupName": "/ecs/app", "filterPattern": "ERROR"}),
    )
    .unwrap();
    assert_eq!(messages(&out), ["ERROR down"]);
    assert_eq!(out["events"][0]["logStreamName"], "web/1");
}

#[test]
fn describe_lists_groups_and_streams_with_arns_and_pages() {
    let mut logs = with_stream();
    call(
        &mut logs,
        "CreateLogGroup",
        json!({"logGroupName": "/other"}),
    )
    .unwrap();
    put(&mut logs, &[(NOW, "x")]);
    let g = call(
        &mut logs,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/ecs"}),
    )
    .unwrap();
    assert_eq!(g["logGroups"].as_array().unwrap().len(), 1);
    assert_eq!(
        g["logGroups"][0]["arn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/app:*"
    );
    let page = call(&mut logs, "DescribeLogGroups", json!({"limit": 1})).unwrap();
    assert_eq!(page["logGroups"][0]["logGroupName"], "/ecs/app");
    let rest = call(
        &mut logs,
        "DescribeLogGroups",
        json!({"limit": 1, "nextToken": page["nextToken"]}),
    )
    .unwrap();
    assert_eq!(rest["logGroups"][0]["logGroupName"], "/other");
    assert!(rest.get("nextToken").is_none());
    let found = call(
        &mut logs,
        "DescribeLogGroups",
        json!({"logGroupNamePattern": "ecs"}),
    )
    .unwrap();
    assert_eq!(
        found["logGroups"],
        json!([{"logGroupName": "/ecs/app", "creationTime": NOW,
                "arn": "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/app:*"}])
    );
    let none = call(
        &mut logs,
        "DescribeLogGroups",
        json!({"logGroupNamePattern": "ECS"}),
    )
    .unwrap();
    assert_eq!(none["logGroups"], json!([]));
    let s = call(
        &mut logs,
        "DescribeLogStreams",
        json!({"logGroupName": "/ecs/app"}),
    )
    .unwrap();
    assert_eq!(s["logStreams"][0]["logStreamName"], "web/1");
    assert_eq!(s["logStreams"][0]["lastEventTimestamp"], NOW);
    let e = call(
        &mut logs,
        "DescribeLogStreams",
        json!({"logGroupName": "/ecs/app", "orderBy": "LastEventTime", "logStreamNamePrefix": "w"}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Cannot order by LastEventTime with a logStreamNamePrefix."
    );
}

/// Runs the workers of the queries `logs` started, as the actor's would.
fn run_started(logs: &mut Logs) {
    for work in std::mem::take(&mut logs.started) {
        let (id, outcome) = work.run();
        logs.finish_query(&id, outcome);
    }
}

#[test]
fn insights_queries_start_run_and_answer_with_statistics() {
    let mut logs = with_stream();
    put(
        &mut logs,
        &[
            (NOW - 2000, r#"{"CpuUtilized":10,"MemoryUtilized":100}"#),
            (NOW - 1000, r#"{"CpuUtilized":20,"MemoryUtilized":300}"#),
        ],
    );
    let window = json!({"logGroupName": "/ecs/app", "startTime": NOW / 1000 - 60,
                        "endTime": NOW / 1000,
                        "queryString": "stats avg(CpuUtilized), max(MemoryUtilized)"});
    let started = call(&mut logs, "StartQuery", window.clone()).unwrap();
    let id = started["queryId"].as_str().unwrap().to_string();
    let running = call(&mut logs, "GetQueryResults", json!({"queryId": id})).unwrap();
    assert_eq!(running["status"], "Running");
    assert_eq!(running["results"], json!([]));
    run_started(&mut logs);
    let done = call(&mut logs, "GetQueryResults", json!({"queryId": id})).unwrap();
    assert_eq!(done["status"], "Complete");
    assert_eq!(
        done["results"],
        json!([[{"field": "avg(CpuUtilized)", "value": "15"},
                {"field": "max(MemoryUtilized)", "value": "300"}]])
    );
    assert_eq!(done["statistics"]["recordsScanned"], 2.0);
    assert_eq!(done["statistics"]["recordsMatched"], 2.0);
    // GetLogRecord follows a row's @ptr.
    let fields = call(
        &mut logs,
        "StartQuery",
        json!({"logGroupName": "/ecs/app", "startTime": NOW / 1000 - 60, "endTime": NOW / 1000,
               "queryString": "fields CpuUtilized | sort CpuUtilized desc | limit 1"}),
    )
    .unwrap();
    run_started(&mut logs);
    let rows = call(
        &mut logs,
        "GetQueryResults",
        json!({"queryId": fields["queryId"]}),
    )
    .unwrap();
    assert_eq!(
        rows["results"][0][0],
        json!({"field": "CpuUtilized", "value": "20"})
    );
    let ptr = rows["results"][0][1]["value"].clone();
    let record = call(&mut logs, "GetLogRecord", json!({"logRecordPointer": ptr})).unwrap();
    assert_eq!(record["logRecord"]["MemoryUtilized"], "300");
    assert_eq!(record["logRecord"]["@timestamp"], (NOW - 1000).to_string());
    assert_eq!(record["logRecord"]["@log"], "123456789012:/ecs/app");
    let e = call(&mut logs, "GetLogRecord", json!({"logRecordPointer": "zz"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    let listed = call(&mut logs, "DescribeQueries", json!({"status": "Complete"})).unwrap();
    // Newest first: the GetLogRecord query, then the first.
    assert_eq!(listed["queries"][1]["queryId"], id.as_str());
    assert_eq!(listed["queries"][1]["logGroupName"], "/ecs/app");
    assert_eq!(
        call(&mut logs, "StopQuery", json!({"queryId": id})).unwrap()["success"],
        false
    );

    // Stopped before its worker ran: Cancelled, and what the worker finds is dropped.
    let id = call(&mut logs, "StartQuery", window).unwrap()["queryId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        call(&mut logs, "StopQuery", json!({"queryId": id})).unwrap()["success"],
        true
    );
    run_started(&mut logs);
    let stopped = call(&mut logs, "GetQueryResults", json!({"queryId": id})).unwrap();
    assert_eq!(stopped["status"], "Cancelled");
}

#[test]
fn insights_requests_are_checked_as_cloudwatch_checks_them() {
    let mut logs = with_stream();
    let q = |extra: Value| {
        let mut r =
            json!({"startTime": 0, "endTime": NOW / 1000, "queryString": "fields @message"});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let e = call(&mut logs, "StartQuery", q(json!({"logGroupName": "/nope"}))).unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    assert_eq!(
        e.message,
        "Log group '/nope' does not exist for account ID '123456789012'"
    );
    let e = call(
        &mut logs,
        "StartQuery",
        q(json!({"logGroupName": "/ecs/app", "queryString": "fields a | count(*)"})),
    )
    .unwrap_err();
    assert_eq!(e.code.as_str(), "MalformedQueryException");
    assert!(
        e.message.starts_with("mismatched input 'count'"),
        "{}",
        e.message
    );
    let e = call(&mut logs, "StartQuery", q(json!({}))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    let e = call(
        &mut logs,
        "StartQuery",
        q(json!({"logGroupName": "/ecs/app", "limit": 10_001})),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    let e = call(&mut logs, "GetQueryResults", json!({"queryId": "nope"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    // By identifier (an ARN) too.
    call(
        &mut logs,
        "StartQuery",
        q(json!({"logGroupIdentifiers":
            ["arn:aws:logs:us-east-1:123456789012:log-group:/ecs/app:*"]})),
    )
    .unwrap();
}

#[test]
fn groups_streams_and_events_survive_a_reopen_and_retention_applies_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp.db");
    let day = 24 * 60 * 60 * 1000;
    {
        let store = crate::store::Store::open(&path).unwrap();
        let mut logs = Logs::restore("us-east-1", "123456789012", &[], true, NOW).unwrap();
        let mut run = |op: &str, body: Value, now: i64| {
            let out = logs.handle(op, body.to_string().as_bytes(), now);
            store.apply(&logs.journal.take()).unwrap();
            out.unwrap()
        };
        run(
            "CreateLogGroup",
            json!({"logGroupName": "/g", "tags": {"team": "a"}}),
            NOW,
        );
        run(
            "CreateLogStream",
            json!({"logGroupName": "/g", "logStreamName": "s"}),
            NOW,
        );
        run(
            "PutLogEvents",
            json!({"logGroupName": "/g", "logStreamName": "s",
                   "logEvents": [{"timestamp": NOW - 3 * day, "message": "old"}]}),
            NOW,
        );
        run(
            "PutLogEvents",
            json!({"logGroupName": "/g", "logStreamName": "s",
                   "logEvents": [{"timestamp": NOW, "message": "new"}]}),
            NOW,
        );
        run(
            "CreateLogStream",
            json!({"logGroupName": "/g", "logStreamName": "gone"}),
            NOW,
        );
        run(
            "DeleteLogStream",
            json!({"logGroupName": "/g", "logStreamName": "gone"}),
            NOW,
        );
        run(
            "PutRetentionPolicy",
            json!({"logGroupName": "/g", "retentionInDays": 7}),
            NOW,
        );
    }
    let store = crate::store::Store::open(&path).unwrap();
    let rows = store.load().unwrap();
    let mut logs = Logs::restore("us-east-1", "123456789012", &rows, true, NOW).unwrap();
    let events = |logs: &mut Logs| {
        let got = logs
            .handle(
                "GetLogEvents",
                json!({"logGroupName": "/g", "logStreamName": "s", "startFromHead": true})
                    .to_string()
                    .as_bytes(),
                NOW,
            )
            .unwrap();
        messages(&got)
    };
    assert_eq!(events(&mut logs), ["old", "new"]);
    let g = call(&mut logs, "DescribeLogGroups", json!({})).unwrap();
    assert_eq!(g["logGroups"][0]["retentionInDays"], 7);
    let s = call(
        &mut logs,
        "DescribeLogStreams",
        json!({"logGroupName": "/g"}),
    )
    .unwrap();
    assert_eq!(s["logStreams"].as_array().unwrap().len(), 1);
    let tags = call(&mut logs, "ListTagsLogGroup", json!({"logGroupName": "/g"})).unwrap();
    assert_eq!(tags["tags"], json!({"team": "a"}));
    // New events get new ids after a restore.
    put_to(&mut logs, "/g", "s", NOW + 1, "newer");
    let ids: Vec<u64> = logs.groups["/g"].streams["s"]
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [0, 1, 2]);

    // Five days on, the 7-day retention has taken the old event, in memory and on disk.
    let later = NOW + 5 * day;
    let mut logs = Logs::restore("us-east-1", "123456789012", &rows, true, later).unwrap();
    assert_eq!(events(&mut logs), ["new"]);
    let dropped = logs.journal.take();
    assert!(
        matches!(&dropped[..], [crate::store::Change::Delete(k)] if k.starts_with("logs/events/")),
        "{dropped:?}"
    );
}

fn put_to(logs: &mut Logs, group: &str, stream: &str, at: i64, message: &str) {
    logs.handle(
        "PutLogEvents",
        json!({"logGroupName": group, "logStreamName": stream,
               "logEvents": [{"timestamp": at, "message": message}]})
        .to_string()
        .as_bytes(),
        NOW,
    )
    .unwrap();
}

#[test]
fn without_a_data_dir_no_rows_are_built() {
    let mut logs = with_stream();
    put(&mut logs, &[(NOW, "x")]);
    assert!(logs.journal.take().is_empty());
}

#[test]
fn retention_days_must_be_one_cloudwatch_accepts() {
    let mut logs = with_stream();
    let e = call(
        &mut logs,
        "PutRetentionPolicy",
        json!({"logGroupName": "/ecs/app", "retentionInDays": 2}),
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7,"),
        "{}",
        e.message
    );
    call(
        &mut logs,
        "DeleteRetentionPolicy",
        json!({"logGroupName": "/ecs/app"}),
    )
    .unwrap();
}
