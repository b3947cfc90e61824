//! Log events: PutLogEvents, GetLogEvents, FilterLogEvents.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Logs;
use super::common::{
    Page, check_group_name, check_stream_name, constraint, event_token, group_name, limit,
    not_found_group, not_found_stream, parse_event_token, sequence_token,
};
use super::filter_pattern::FilterPattern;
use super::model::Event;
use crate::front::ApiError;

/// Events further ahead of the server's clock than this are rejected (2 hours).
pub(super) const TOO_NEW_MS: i64 = 2 * 60 * 60 * 1000;
/// Events older than this are rejected (14 days).
pub(super) const TOO_OLD_MS: i64 = 14 * 24 * 60 * 60 * 1000;
/// The span a single batch may cover (24 hours).
const MAX_BATCH_SPAN_MS: i64 = 24 * 60 * 60 * 1000;
/// The largest batch: message bytes plus 26 per event.
const MAX_BATCH_BYTES: usize = 1_048_576;
/// Bytes CloudWatch adds to each event when sizing a batch.
const EVENT_OVERHEAD_BYTES: usize = 26;
/// Default and largest page of events.
const MAX_EVENTS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InputLogEvent {
    timestamp: i64,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutLogEventsRequest {
    log_group_name: String,
    log_stream_name: String,
    log_events: Vec<InputLogEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetLogEventsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    #[serde(default)]
    start_from_head: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FilterLogEventsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

impl Logs {
    pub(super) fn put_log_events(
        &mut self,
        req: PutLogEventsRequest,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        check_group_name(&req.log_group_name, "logGroupName")?;
        check_stream_name(&req.log_stream_name, "logStreamName")?;
        if req.log_events.is_empty() || req.log_events.len() > MAX_EVENTS {
            return Err(constraint(
                &format!("{} events", req.log_events.len()),
                "logEvents",
                "Member must have length between 1 and 10000",
            ));
        }
        if req
            .log_events
            .windows(2)
            .any(|w| w[1].timestamp < w[0].timestamp)
        {
            return Err(ApiError::invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        let size: usize = req
            .log_events
            .iter()
            .map(|e| e.message.len() + EVENT_OVERHEAD_BYTES)
            .sum();
        if size > MAX_BATCH_BYTES {
            return Err(ApiError::invalid(format!(
                "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        if let Some(e) = req.log_events.iter().position(|e| e.message.is_empty()) {
            return Err(constraint(
                "",
                &format!("logEvents.{}.member.message", e + 1),
                "Member must have length greater than or equal to 1",
            ));
        }
        // Sorted, so the too-old ones lead and the too-new ones trail.
        let too_old_end = req
            .log_events
            .iter()
            .rposition(|e| e.timestamp < now_ms - TOO_OLD_MS);
        let too_new_start = req
            .log_events
            .iter()
            .position(|e| e.timestamp > now_ms + TOO_NEW_MS);
        let valid_from = too_old_end.map_or(0, |i| i + 1);
        let valid_to = too_new_start.unwrap_or(req.log_events.len());
        if valid_from < valid_to {
            let span =
                req.log_events[valid_to - 1].timestamp - req.log_events[valid_from].timestamp;
            if span > MAX_BATCH_SPAN_MS {
                return Err(ApiError::invalid(
                    "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
                ));
            }
        }
        let mut id = self.next_event_id;
        let accepted: Vec<Event> = req
            .log_events
            .into_iter()
            .skip(valid_from)
            .take(valid_to.saturating_sub(valid_from))
            .map(|e| {
                id += 1;
                Event {
                    timestamp: e.timestamp,
                    message: Arc::from(e.message),
                    ingestion_time: now_ms,
                    id: id - 1,
                }
            })
            .collect();
        let stream = self
            .groups
            .get_mut(&req.log_group_name)
            .ok_or_else(not_found_group)?
            .streams
            .get_mut(&req.log_stream_name)
            .ok_or_else(not_found_stream)?;
        let batch = self
            .journal
            .batch(&req.log_group_name, &req.log_stream_name, &accepted);
        if let (Some(seq), Some(newest)) = (batch, accepted.iter().map(|e| e.timestamp).max()) {
            stream.batches.insert(seq, newest);
        }
        for e in accepted {
            let at = stream
                .events
                .partition_point(|x| x.timestamp <= e.timestamp);
            stream.stored_bytes += e.message.len() as u64;
            stream.events.insert(at, e);
        }
        stream.last_ingestion_time = Some(now_ms);
        stream.upload_sequence += 1;
        self.journal
            .stream(&req.log_group_name, &req.log_stream_name, stream);
        let token = sequence_token(stream.upload_sequence);
        self.next_event_id = id;
        let mut out = json!({ "nextSequenceToken": token });
        let mut rejected = Map::new();
        if let Some(i) = too_new_start {
            rejected.insert("tooNewLogEventStartIndex".into(), json!(i));
        }
        if let Some(i) = too_old_end {
            rejected.insert("tooOldLogEventEndIndex".into(), json!(i));
        }
        if !rejected.is_empty() {
            out["rejectedLogEventsInfo"] = Value::Object(rejected);
        }
        Ok(out)
    }

    pub(super) fn get_log_events(&self, req: GetLogEventsRequest) -> Result<Value, ApiError> {
        let name = group_name(req.log_group_name, req.log_group_identifier)?;
        let limit = limit(req.limit, MAX_EVENTS)?;
        let stream = self
            .group(&name)?
            .streams
            .get(&req.log_stream_name)
            .ok_or_else(not_found_stream)?;
        // The window: startTime inclusive, endTime exclusive.
        let lo = req
            .start_time
            .map_or(0, |t| stream.events.partition_point(|e| e.timestamp < t));
        let hi = req.end_time.map_or(stream.events.len(), |t| {
            stream.events.partition_point(|e| e.timestamp < t)
        });
        let hi = hi.max(lo);
        let (from, to) = match req
            .next_token
            .as_deref()
            .map(parse_event_token)
            .transpose()?
        {
            Some(('f', at)) => {
                let at = at.clamp(lo, hi);
                (at, (at + limit).min(hi))
            }
            Some((_, at)) => {
                let at = at.clamp(lo, hi);
                (at.saturating_sub(limit).max(lo), at)
            }
            None if req.start_from_head => (lo, (lo + limit).min(hi)),
            None => (hi.saturating_sub(limit).max(lo), hi),
        };
        let events: Vec<Value> = stream.events[from..to]
            .iter()
            .map(|e| {
                json!({
                    "timestamp": e.timestamp,
                    "message": &*e.message,
                    "ingestionTime": e.ingestion_time,
                })
            })
            .collect();
        Ok(json!({
            "events": events,
            "nextForwardToken": event_token('f', to),
            "nextBackwardToken": event_token('b', from),
        }))
    }

    pub(super) fn filter_log_events(&self, req: FilterLogEventsRequest) -> Result<Value, ApiError> {
        let name = group_name(req.log_group_name, req.log_group_identifier)?;
        if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
            return Err(ApiError::invalid(
                "You cannot specify both LogStreamNames and LogStreamNamePrefix.",
            ));
        }
        let pattern = FilterPattern::parse(req.filter_pattern.as_deref().unwrap_or(""))?;
        let page = Page::new(req.limit, MAX_EVENTS, req.next_token.as_deref())?;
        let group = self.group(&name)?;
        if let Some(names) = &req.log_stream_names
            && names.iter().any(|n| !group.streams.contains_key(n))
        {
            return Err(not_found_stream());
        }
        let mut matched: Vec<(&String, &Event)> = group
            .streams
            .iter()
            .filter(|(n, _)| {
                req.log_stream_names
                    .as_ref()
                    .is_none_or(|names| names.contains(n))
                    && req
                        .log_stream_name_prefix
                        .as_deref()
                        .is_none_or(|p| n.starts_with(p))
            })
            .flat_map(|(n, s)| s.events.iter().map(move |e| (n, e)))
            .filter(|(_, e)| {
                req.start_time.is_none_or(|t| e.timestamp >= t)
                    && req.end_time.is_none_or(|t| e.timestamp <= t)
                    && pattern.matches(&e.message)
            })
            .collect();
        matched.sort_by_key(|(_, e)| (e.timestamp, e.id));
        let events = page.of(&matched, |(stream, e)| {
            json!({
                "logStreamName": stream,
                "timestamp": e.timestamp,
                "message": &*e.message,
                "ingestionTime": e.ingestion_time,
                "eventId": format!("{:056}", e.id),
            })
        });
        Ok(page.with_next_token(
            json!({ "events": events, "searchedLogStreams": [] }),
            matched.len(),
        ))
    }
}
