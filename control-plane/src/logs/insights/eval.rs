//! Runs a parsed [`Query`] over a snapshot of log events (pure, apart from a cancellation flag
//! it reads): each event becomes a row (expr.rs), then each command runs in turn; `stats` is in
//! stats.rs.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use super::ast::{Command, Query};
pub use super::expr::{Record, Val, format_num, format_time};
use super::expr::{Row, eval, sort_order};
use super::stats::stats;

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Cancelled,
}

/// What a query found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Each row's fields and values, in column order.
    pub rows: Vec<Vec<(String, String)>>,
    pub records_matched: u64,
    pub records_scanned: u64,
    pub bytes_scanned: u64,
}

fn push_unique(columns: &mut Vec<String>, name: &str) {
    if !columns.iter().any(|c| c == name) {
        columns.push(name.to_string());
    }
}

/// Runs `query` over `records` (any order), returning at most `cap` rows; stops early when
/// `cancel` is set.
pub fn run(
    query: &Query,
    records: &[Record],
    cap: usize,
    cancel: &AtomicBool,
) -> Result<Outcome, Stopped> {
    let mut outcome = Outcome {
        records_scanned: records.len() as u64,
        bytes_scanned: records.iter().map(|r| r.message.len() as u64).sum(),
        ..Outcome::default()
    };
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse((r.timestamp, r.id)));
    let mut rows = Vec::with_capacity(sorted.len());
    for (i, r) in sorted.into_iter().enumerate() {
        if i % 1024 == 0 && cancel.load(AtomicOrdering::Relaxed) {
            return Err(Stopped::Cancelled);
        }
        rows.push(Row::of(r));
    }
    let mut columns: Vec<String> = Vec::new();
    let mut display: Option<Vec<String>> = None;
    let mut matched: Option<u64> = None;
    let mut limit = cap;
    for command in &query.commands {
        if cancel.load(AtomicOrdering::Relaxed) {
            return Err(Stopped::Cancelled);
        }
        match command {
            Command::Fields(list) => {
                for row in &mut rows {
                    for f in list {
                        match eval(&f.expr, row, &[]) {
                            Some(v) => row.fields.insert(f.name.clone(), v),
                            None => row.fields.remove(&f.name),
                        };
                    }
                }
                for f in list {
                    push_unique(&mut columns, &f.name);
                }
            }
            Command::Display(list) => {
                display = Some(list.iter().map(|f| f.name.clone()).collect());
            }
            Command::Filter(e) => rows.retain(|r| eval(e, r, &[]).is_some_and(|v| v.truthy())),
            Command::Parse(source, extract) => {
                for row in &mut rows {
                    let Some(text) = eval(source, row, &[]).map(|v| v.display()) else {
                        continue;
                    };
                    let Some(caps) = extract.regex.captures(&text) else {
                        continue;
                    };
                    for (i, name) in extract.names.iter().enumerate() {
                        if let Some(m) = caps.get(i + 1) {
                            row.fields
                                .insert(name.clone(), Val::Str(m.as_str().to_string()));
                        }
                    }
                }
            }
            Command::Stats { aggs, items, by } => {
                matched.get_or_insert(rows.len() as u64);
                rows = stats(rows, aggs, items, by);
                columns = by.iter().chain(items).map(|n| n.name.clone()).collect();
            }
            Command::Sort(keys) => rows.sort_by(|a, b| {
                keys.iter()
                    .map(|(k, desc)| match (eval(k, a, &[]), eval(k, b, &[])) {
                        (Some(x), Some(y)) if *desc => sort_order(&y, &x),
                        (Some(x), Some(y)) => sort_order(&x, &y),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => Ordering::Equal,
                    })
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            }),
            Command::Limit(n) => {
                matched.get_or_insert(rows.len() as u64);
                limit = limit.min(*n);
                rows.truncate(*n);
            }
            Command::Dedup(keys) => {
                let mut seen = BTreeSet::new();
                rows.retain(|r| {
                    let key: Vec<String> = keys
                        .iter()
                        .map(|k| eval(k, r, &[]).map_or("\u{0}".into(), |v| v.display()))
                        .collect();
                    seen.insert(key)
                });
            }
        }
    }
    outcome.records_matched = matched.unwrap_or(rows.len() as u64);
    let columns = display.unwrap_or(if columns.is_empty() {
        vec!["@timestamp".into(), "@message".into()]
    } else {
        columns
    });
    outcome.rows = rows
        .into_iter()
        .take(limit)
        .map(|row| {
            let mut out: Vec<(String, String)> = columns
                .iter()
                .filter_map(|c| row.fields.get(c).map(|v| (c.clone(), v.display())))
                .collect();
            if let Some(ptr) = row.ptr {
                out.push(("@ptr".into(), ptr));
            }
            out
        })
        .collect();
    Ok(outcome)
}

/// Every field of one event, printed (GetLogRecord): its `@` fields and those of a JSON
/// message; `@timestamp` and `@ingestionTime` in epoch milliseconds, as GetLogRecord gives them.
pub fn record_fields(r: &Record) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Row::of(r)
        .fields
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Val::Time(ms) => ms.to_string(),
                other => other.display(),
            };
            (k, text)
        })
        .collect();
    out.sort();
    out
}
