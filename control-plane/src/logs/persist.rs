//! CloudWatch Logs' rows in the emulator's store: `logs/group/<name>` (the group's settings),
//! `logs/stream/<group>:<stream>` (the stream's counters; neither name can hold a `:`) and
//! `logs/events/<seq>` (one PutLogEvents batch of one stream). [`Journal`] collects the rows
//! the operations change; the actor writes them, a whole group of commands in one durable
//! transaction, before answering. [`restore`] rebuilds the groups from the rows.
//!
//! What it must not do: write anything itself (the actor owns the store).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{Event, LogGroup, LogStream};
use crate::store::{Change, StoreError};

const GROUP_PREFIX: &str = "logs/group/";
const STREAM_PREFIX: &str = "logs/stream/";
const BATCH_PREFIX: &str = "logs/events/";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRow {
    creation_time: i64,
    class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_in_days: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRow {
    creation_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_ingestion_time: Option<i64>,
    #[serde(default)]
    upload_sequence: u64,
}

/// One stored event in a batch row (short names: these rows are most of the file).
#[derive(Debug, Serialize, Deserialize)]
struct StoredEvent {
    t: i64,
    m: String,
    i: i64,
    id: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct BatchRow {
    group: String,
    stream: String,
    events: Vec<StoredEvent>,
}

fn stream_key(group: &str, stream: &str) -> String {
    format!("{STREAM_PREFIX}{group}:{stream}")
}

fn batch_key(seq: u64) -> String {
    format!("{BATCH_PREFIX}{seq:020}")
}

/// Plain data with string keys: serialising cannot fail.
fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The rows changed since the actor last took them. Without a data dir it records nothing.
#[derive(Debug, Default)]
pub(super) struct Journal {
    durable: bool,
    changes: Vec<Change>,
    next_batch: u64,
}

impl Journal {
    /// A journal that records rows when `durable` (a store that outlives the process).
    pub fn new(durable: bool) -> Self {
        Journal {
            durable,
            ..Journal::default()
        }
    }

    /// The changes so far, emptied.
    pub fn take(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    pub fn group(&mut self, name: &str, g: &LogGroup) {
        if !self.durable {
            return;
        }
        let row = GroupRow {
            creation_time: g.creation_time,
            class: g.class.clone(),
            kms_key_id: g.kms_key_id.clone(),
            retention_in_days: g.retention_in_days,
            tags: g.tags.clone(),
        };
        self.changes
            .push(Change::Put(format!("{GROUP_PREFIX}{name}"), to_bytes(&row)));
    }

    pub fn stream(&mut self, group: &str, name: &str, s: &LogStream) {
        if !self.durable {
            return;
        }
        let row = StreamRow {
            creation_time: s.creation_time,
            last_ingestion_time: s.last_ingestion_time,
            upload_sequence: s.upload_sequence,
        };
        self.changes
            .push(Change::Put(stream_key(group, name), to_bytes(&row)));
    }

    pub fn delete_group(&mut self, name: &str, g: &LogGroup) {
        if !self.durable {
            return;
        }
        self.changes
            .push(Change::Delete(format!("{GROUP_PREFIX}{name}")));
        for (stream, s) in &g.streams {
            self.delete_stream(name, stream, s);
        }
    }

    pub fn delete_stream(&mut self, group: &str, name: &str, s: &LogStream) {
        if !self.durable {
            return;
        }
        self.changes.push(Change::Delete(stream_key(group, name)));
        self.delete_batches(s.batches.keys().copied());
    }

    pub fn delete_batches(&mut self, seqs: impl IntoIterator<Item = u64>) {
        if !self.durable {
            return;
        }
        self.changes
            .extend(seqs.into_iter().map(|seq| Change::Delete(batch_key(seq))));
    }

    /// A batch row for `events` of `group`/`stream`; its sequence, for the stream's index.
    pub fn batch(&mut self, group: &str, stream: &str, events: &[Event]) -> Option<u64> {
        if !self.durable || events.is_empty() {
            return None;
        }
        self.next_batch += 1;
        let row = BatchRow {
            group: group.to_string(),
            stream: stream.to_string(),
            events: events
                .iter()
                .map(|e| StoredEvent {
                    t: e.timestamp,
                    m: e.message.to_string(),
                    i: e.ingestion_time,
                    id: e.id,
                })
                .collect(),
        };
        self.changes
            .push(Change::Put(batch_key(self.next_batch), to_bytes(&row)));
        Some(self.next_batch)
    }
}

/// What [`restore`] rebuilds.
#[derive(Debug, Default)]
pub(super) struct Restored {
    pub groups: BTreeMap<String, LogGroup>,
    pub next_event_id: u64,
    pub journal: Journal,
}

/// The groups saved in `rows` (every row of the store; others' rows are skipped). Batches of
/// a stream that is gone (a crash between rows cannot cause it: each command's rows are one
/// transaction) are skipped.
pub(super) fn restore(rows: &[(String, Vec<u8>)], durable: bool) -> Result<Restored, StoreError> {
    let bad = |key: &str, e: serde_json::Error| StoreError::Db {
        path: PathBuf::from(key),
        message: format!("undecodable CloudWatch Logs row: {e}"),
    };
    let mut out = Restored {
        journal: Journal::new(durable),
        ..Restored::default()
    };
    for (key, bytes) in rows {
        if let Some(name) = key.strip_prefix(GROUP_PREFIX) {
            let row: GroupRow = serde_json::from_slice(bytes).map_err(|e| bad(key, e))?;
            let group = out.groups.entry(name.to_string()).or_default();
            group.creation_time = row.creation_time;
            group.class = row.class;
            group.kms_key_id = row.kms_key_id;
            group.retention_in_days = row.retention_in_days;
            group.tags = row.tags;
        }
    }
    for (key, bytes) in rows {
        if let Some(rest) = key.strip_prefix(STREAM_PREFIX) {
            let row: StreamRow = serde_json::from_slice(bytes).map_err(|e| bad(key, e))?;
            let Some((group, stream)) = rest.split_once(':') else {
                continue;
            };
            if let Some(g) = out.groups.get_mut(group) {
                g.streams.insert(
                    stream.to_string(),
                    LogStream {
                        creation_time: row.creation_time,
                        last_ingestion_time: row.last_ingestion_time,
                        upload_sequence: row.upload_sequence,
                        ..LogStream::default()
                    },
                );
            }
        }
    }
    for (key, bytes) in rows {
        let Some(seq) = key.strip_prefix(BATCH_PREFIX) else {
            continue;
        };
        let seq: u64 = seq.parse().unwrap_or_default();
        out.journal.next_batch = out.journal.next_batch.max(seq);
        let row: BatchRow = serde_json::from_slice(bytes).map_err(|e| bad(key, e))?;
        let Some(s) = out
            .groups
            .get_mut(&row.group)
            .and_then(|g| g.streams.get_mut(&row.stream))
        else {
            continue;
        };
        let newest = row.events.iter().map(|e| e.t).max().unwrap_or(i64::MIN);
        s.batches.insert(seq, newest);
        for e in row.events {
            out.next_event_id = out.next_event_id.max(e.id + 1);
            s.stored_bytes += e.m.len() as u64;
            s.events.push(Event {
                timestamp: e.t,
                message: Arc::from(e.m),
                ingestion_time: e.i,
                id: e.id,
            });
        }
    }
    for g in out.groups.values_mut() {
        for s in g.streams.values_mut() {
            // Ids grow with arrival, so this is the order the puts made.
            s.events.sort_by_key(|e| (e.timestamp, e.id));
        }
    }
    Ok(out)
}
