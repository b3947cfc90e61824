//! The stored entities of CloudWatch Logs: log groups, their streams and the streams' events.
//! Plain data; the operations are in groups.rs, streams.rs and events.rs, the rows in persist.rs.

use std::collections::BTreeMap;
use std::sync::Arc;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Event {
    pub timestamp: i64,
    /// Shared, so that a Logs Insights query takes its snapshot without copying messages.
    pub message: Arc<str>,
    pub ingestion_time: i64,
    /// Unique within the emulator, for `eventId` (and `@ptr`).
    pub id: u64,
}

#[derive(Debug, Clone, Default)]
pub(super) struct LogStream {
    pub creation_time: i64,
    /// Sorted by timestamp; events with equal timestamps keep their arrival order.
    pub events: Vec<Event>,
    pub last_ingestion_time: Option<i64>,
    pub stored_bytes: u64,
    pub upload_sequence: u64,
    /// The persisted batches holding this stream's events: sequence -> newest timestamp in it
    /// (empty without a data dir).
    pub batches: BTreeMap<u64, i64>,
}

impl LogStream {
    /// Drops the events older than `cutoff` (milliseconds); returns the batches now wholly
    /// expired, whose rows can go.
    pub fn expire(&mut self, cutoff: i64) -> Vec<u64> {
        let gone = self.events.partition_point(|e| e.timestamp < cutoff);
        if gone > 0 {
            let bytes: u64 = self.events[..gone]
                .iter()
                .map(|e| e.message.len() as u64)
                .sum();
            self.stored_bytes = self.stored_bytes.saturating_sub(bytes);
            self.events.drain(..gone);
        }
        let expired: Vec<u64> = self
            .batches
            .iter()
            .filter(|(_, newest)| **newest < cutoff)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in &expired {
            self.batches.remove(seq);
        }
        expired
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct LogGroup {
    pub creation_time: i64,
    pub class: String,
    pub kms_key_id: Option<String>,
    /// PutRetentionPolicy's days; `None` keeps events forever.
    pub retention_in_days: Option<u32>,
    pub tags: BTreeMap<String, String>,
    pub streams: BTreeMap<String, LogStream>,
}

impl LogGroup {
    /// The oldest timestamp kept at `now_ms` under the retention policy, if there is one.
    pub fn retention_cutoff(&self, now_ms: i64) -> Option<i64> {
        self.retention_in_days
            .map(|days| now_ms - i64::from(days) * 24 * 60 * 60 * 1000)
    }
}
