//! Queries parsed and run over fixed records, as CloudWatch would answer them.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::eval::{Outcome, Record, format_num, format_time, run};
use super::parse::parse;

/// 2024-01-01 10:00:00 UTC.
const T0: i64 = 1_704_103_200_000;
const MINUTE: i64 = 60_000;

fn record(id: u64, at: i64, stream: &str, message: &str) -> Record {
    Record {
        log: "123456789012:/app".into(),
        stream: stream.into(),
        timestamp: at,
        ingestion_time: at + 5,
        message: message.into(),
        id,
    }
}

fn query(q: &str, records: &[Record]) -> Outcome {
    run(&parse(q).unwrap(), records, 1000, &AtomicBool::new(false)).unwrap()
}

/// Each row as `field=value` strings, without `@ptr`.
fn rows(o: &Outcome) -> Vec<Vec<String>> {
    o.rows
        .iter()
        .map(|r| {
            r.iter()
                .filter(|(f, _)| f != "@ptr")
                .map(|(f, v)| format!("{f}={v}"))
                .collect()
        })
        .collect()
}

fn perf(id: u64, at: i64, task: &str, cpu: f64, mem: u64) -> Record {
    record(
        id,
        at,
        "AgentTelemetry-abc",
        &format!(
            r#"{{"Version":"0","Type":"Task","TaskId":"{task}","ClusterName":"c","CpuUtilized":{cpu},"MemoryUtilized":{mem},"Timestamp":{at}}}"#
        ),
    )
}

#[test]
fn stats_avg_by_bin_30m_over_container_insights_events() {
    let events = [
        perf(1, T0 + MINUTE, "a", 10.0, 100),
        perf(2, T0 + 10 * MINUTE, "b", 20.0, 200),
        perf(3, T0 + 35 * MINUTE, "a", 5.5, 64),
        perf(4, T0 + 50 * MINUTE, "b", 7.0, 65),
    ];
    let o = query(
        "stats avg(CpuUtilized), avg(MemoryUtilized) by bin(30m)",
        &events,
    );
    assert_eq!(
        rows(&o),
        [
            [
                "bin(30m)=2024-01-01 10:30:00.000",
                "avg(CpuUtilized)=6.25",
                "avg(MemoryUtilized)=64.5"
            ],
            [
                "bin(30m)=2024-01-01 10:00:00.000",
                "avg(CpuUtilized)=15",
                "avg(MemoryUtilized)=150"
            ],
        ]
    );
    assert_eq!(o.records_matched, 4);
    assert_eq!(o.records_scanned, 4);
    assert!(o.rows.iter().all(|r| r.iter().all(|(f, _)| f != "@ptr")));
}

#[test]
fn default_fields_are_timestamp_and_message_newest_first_with_ptr() {
    let events = [
        record(1, T0, "s", "first"),
        record(2, T0 + 1000, "s", "second"),
    ];
    let o = query("filter @message like 's'", &events);
    assert_eq!(
        rows(&o),
        [
            ["@timestamp=2024-01-01 10:00:01.000", "@message=second"],
            ["@timestamp=2024-01-01 10:00:00.000", "@message=first"],
        ]
    );
    assert!(o.rows.iter().all(|r| r.last().unwrap().0 == "@ptr"));
}

#[test]
fn fields_filter_sort_limit_and_dotted_json_paths() {
    let events = [
        record(
            1,
            T0,
            "web",
            r#"{"level":"ERROR","http":{"status":500},"latency":120}"#,
        ),
        record(
            2,
            T0 + 1,
            "web",
            r#"{"level":"INFO","http":{"status":200},"latency":15}"#,
        ),
        record(
            3,
            T0 + 2,
            "api",
            r#"{"level":"ERROR","http":{"status":503},"latency":900}"#,
        ),
        record(4, T0 + 3, "api", "plain text ERROR line"),
    ];
    let o = query(
        "fields @logStream, http.status as status, latency | filter level = 'ERROR' and status >= 500 \
         | sort latency desc | limit 1",
        &events,
    );
    assert_eq!(rows(&o), [["@logStream=api", "status=503", "latency=900"]]);
    assert_eq!(o.records_matched, 2);
    let o = query(
        "filter @message like /ERROR/ or latency < 20 | fields latency * 2 as double | sort @timestamp asc",
        &events,
    );
    assert_eq!(
        rows(&o),
        [
            vec!["double=240"],
            vec!["double=30"],
            vec!["double=1800"],
            vec![]
        ]
    );
    let o = query(
        "filter level in ['INFO', 'DEBUG'] or not ispresent(level) | display @logStream",
        &events,
    );
    assert_eq!(rows(&o), [["@logStream=api"], ["@logStream=web"]]);
    let o = query(
        "stats count(*) as n, count(level), count_distinct(@logStream), sum(latency), min(latency), max(latency) by @logStream | sort @logStream",
        &events,
    );
    assert_eq!(
        rows(&o),
        [
            [
                "@logStream=api",
                "n=2",
                "count(level)=1",
                "count_distinct(@logStream)=1",
                "sum(latency)=900",
                "min(latency)=900",
                "max(latency)=900"
            ],
            [
                "@logStream=web",
                "n=2",
                "count(level)=2",
                "count_distinct(@logStream)=1",
                "sum(latency)=135",
                "min(latency)=15",
                "max(latency)=120"
            ],
        ]
    );
}

#[test]
fn parse_with_globs_and_named_regex_groups() {
    let events = [
        record(1, T0, "s", "10:00 [ERROR] disk full"),
        record(2, T0 + 1, "s", "user=alice action=login"),
    ];
    let o = query(
        "parse @message '* [*] *' as time, level, text | filter ispresent(level) | fields level, text",
        &events,
    );
    assert_eq!(rows(&o), [["level=ERROR", "text=disk full"]]);
    let o = query(
        r"parse @message /user=(?<user>\w+) action=(?<action>\w+)/ | filter ispresent(user) | display user, action",
        &events,
    );
    assert_eq!(rows(&o), [["user=alice", "action=login"]]);
    let o = query(
        "parse @message '* [*] *' as a, b, c | stats count(*) by b",
        &events,
    );
    // Groups come newest first.
    assert_eq!(
        rows(&o),
        [vec!["count(*)=1"], vec!["b=ERROR", "count(*)=1"]]
    );
}

#[test]
fn functions_and_arithmetic() {
    let events = [record(1, T0 + 61_000, "s", r#"{"a":" Mixed ","n":-2.5}"#)];
    let o = query(
        "fields toupper(trim(a)) as up, strlen(a) as len, abs(n) as abs, floor(n) as fl, \
         concat('x', n) as cat, coalesce(missing, 'dflt') as co, bin(1m) as minute, n % 2 as rem",
        &events,
    );
    assert_eq!(
        rows(&o),
        [[
            "up=MIXED",
            "len=7",
            "abs=2.5",
            "fl=-3",
            "cat=x-2.5",
            "co=dflt",
            "minute=2024-01-01 10:01:00.000",
            "rem=-0.5"
        ]]
    );
}

#[test]
fn stats_without_events_count_zero_and_limits_cap_rows() {
    let o = query("stats count(*)", &[]);
    assert_eq!(rows(&o), [["count(*)=0"]]);
    let many: Vec<Record> = (0..50)
        .map(|i| record(i, T0 + i64::try_from(i).unwrap(), "s", "m"))
        .collect();
    let o = run(
        &parse("fields @message").unwrap(),
        &many,
        10,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(o.rows.len(), 10);
    assert_eq!(o.records_matched, 50);
    assert_eq!(query("limit 3", &many).rows.len(), 3);
}

#[test]
fn a_cancelled_run_stops() {
    let cancel = AtomicBool::new(true);
    let r = run(
        &parse("fields @message").unwrap(),
        &[record(1, T0, "s", "m")],
        10,
        &cancel,
    );
    assert!(r.is_err());
}

#[test]
fn numbers_and_times_print_as_cloudwatch_prints_them() {
    assert_eq!(format_num(64.0), "64");
    assert_eq!(format_num(12.5), "12.5");
    assert_eq!(format_num(-0.25), "-0.25");
    assert_eq!(format_time(T0 + 1_800_123), "2024-01-01 10:30:00.123");
}

#[test]
fn sort_puts_text_before_numbers_and_orders_digit_runs_naturally() {
    let events: Vec<Record> = ["a10", "a9", "7", "b", "12"]
        .iter()
        .enumerate()
        .map(|(i, v)| record(i as u64, T0 + i as i64, "s", &format!(r#"{{"v":"{v}"}}"#)))
        .collect();
    let o = query("fields v | sort v asc", &events);
    let got: Vec<String> = rows(&o).into_iter().flatten().collect();
    assert_eq!(got, ["v=a9", "v=a10", "v=b", "v=7", "v=12"]);
    let _: Arc<str> = "x".into();
}

#[test]
fn sorting_text_that_reads_as_nan_or_infinity_keeps_a_total_order() {
    let events: Vec<Record> = ["NaN", "1", "inf", "-inf", "nan", "2", "x"]
        .iter()
        .enumerate()
        .map(|(i, v)| record(i as u64, T0 + i as i64, "s", &format!(r#"{{"v":"{v}"}}"#)))
        .collect();
    let o = query("fields v | sort v desc", &events);
    let got: Vec<String> = rows(&o).into_iter().flatten().collect();
    assert_eq!(got[..2], ["v=2", "v=1"]);
}
