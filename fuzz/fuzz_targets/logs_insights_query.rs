//! CloudWatch Logs Insights: a query string parsed (`logs::insights::parse::parse`), and when it
//! parses, run (`logs::insights::eval::run`) over a fixed snapshot of plain, JSON and Container
//! Insights-style events. The input is the query as typed.
#![no_main]

use std::sync::LazyLock;
use std::sync::atomic::AtomicBool;

use ecs_control_plane::logs::insights::eval::{Record, run};
use ecs_control_plane::logs::insights::parse::parse;
use libfuzzer_sys::fuzz_target;

const T0: i64 = 1_800_000_000_000;

static RECORDS: LazyLock<Vec<Record>> = LazyLock::new(|| {
    [
        "10:00:01 [INFO] started user=alice",
        "10:00:02 [ERROR] disk full user=bob",
        r#"{"level":"WARN","latency":250,"http":{"status":503,"tags":["a","b"]}}"#,
        r#"{"Type":"Task","TaskId":"7ac4","CpuUtilized":12.5,"MemoryUtilized":64,"Timestamp":1800000000000}"#,
        r#"{"nested":{"deep":{"er":null}},"n":-1e300,"s":""}"#,
        "",
    ]
    .iter()
    .enumerate()
    .map(|(i, m)| Record {
        log: "123456789012:/fuzz".into(),
        stream: if i % 2 == 0 { "a" } else { "b" }.into(),
        timestamp: T0 + i as i64 * 61_000,
        ingestion_time: T0,
        message: (*m).into(),
        id: i as u64,
    })
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    match parse(query) {
        Ok(q) => {
            let _ = run(&q, &RECORDS, 100, &AtomicBool::new(false));
        }
        Err(e) => {
            assert!(e.start <= e.end && e.end <= query.len(), "{e:?} in {query:?}");
        }
    }
});
