//! The emulated Amazon CloudWatch Logs API (AWS JSON 1.1, `X-Amz-Target: Logs_20140328.<Op>`,
//! SigV4 service `logs`): log groups, log streams and their events, as the AWS CLI and Docker's
//! `awslogs` driver call them.
//!
//! Served: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, CreateLogStream, DeleteLogStream,
//! DescribeLogStreams, PutLogEvents, GetLogEvents and FilterLogEvents, with CloudWatch's error codes
//! and words (`ResourceNotFoundException`, `ResourceAlreadyExistsException`,
//! `InvalidParameterException`). Sequence tokens are accepted and ignored, as CloudWatch does
//! today; events more than 2 hours ahead or 14 days behind are reported in
//! `rejectedLogEventsInfo` and dropped.
//!
//! State: [`Logs`] is plain data with synchronous operations (unit-tested without I/O), owned by
//! one actor ([`LogsHandle`]). It is kept in memory only: log events are high-volume, append-only
//! data that the ECS store (one durable transaction per command) is not built for, so a restart
//! of the emulator starts with no log groups.
//!
//! It also holds [`apply_awslogs_to_acs_task`], the ECS backend's part of the `awslogs` driver
//! (what the scheduler rewrites in a task's log configuration before sending it over ACS).
//!
//! What it must not do: touch the ECS state, or know about Docker.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use futures_util::future::BoxFuture;

use crate::front::json::decode;
use crate::front::{ApiError, ErrorCode, Input, Output, RequestContext, Service, ServiceInfo};

/// The `X-Amz-Target` prefix of CloudWatch Logs operations.
pub const TARGET_PREFIX: &str = "Logs_20140328.";

/// Events further ahead of the server's clock than this are rejected (2 hours).
const TOO_NEW_MS: i64 = 2 * 60 * 60 * 1000;
/// Events older than this are rejected (14 days).
const TOO_OLD_MS: i64 = 14 * 24 * 60 * 60 * 1000;
/// The span a single batch may cover (24 hours).
const MAX_BATCH_SPAN_MS: i64 = 24 * 60 * 60 * 1000;
/// The largest batch: message bytes plus 26 per event.
const MAX_BATCH_BYTES: usize = 1_048_576;
/// Bytes CloudWatch adds to each event when sizing a batch.
const EVENT_OVERHEAD_BYTES: usize = 26;
/// Default and largest page of events.
const MAX_EVENTS: usize = 10_000;
/// Default and largest page of groups or streams.
const MAX_DESCRIBE: usize = 50;

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    timestamp: i64,
    message: String,
    ingestion_time: i64,
    /// Unique within the emulator, for `eventId`.
    id: u64,
}

#[derive(Debug, Clone, Default)]
struct LogStream {
    creation_time: i64,
    /// Sorted by timestamp; events with equal timestamps keep their arrival order.
    events: Vec<Event>,
    last_ingestion_time: Option<i64>,
    stored_bytes: u64,
    upload_sequence: u64,
}

#[derive(Debug, Clone, Default)]
struct LogGroup {
    creation_time: i64,
    class: String,
    kms_key_id: Option<String>,
    streams: BTreeMap<String, LogStream>,
}

/// Every log group of the emulated account.
#[derive(Debug)]
pub struct Logs {
    region: String,
    account_id: String,
    groups: BTreeMap<String, LogGroup>,
    next_event_id: u64,
}

fn not_found_group() -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        "The specified log group does not exist.",
    )
}

fn not_found_stream() -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        "The specified log stream does not exist.",
    )
}

/// CloudWatch's wording for a member that breaks the model's constraint.
fn constraint(value: &str, member: &str, rule: &str) -> ApiError {
    ApiError::invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

fn check_group_name(name: &str, member: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 512 {
        return Err(constraint(
            name,
            member,
            "Member must have length less than or equal to 512",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#'))
    {
        return Err(constraint(
            name,
            member,
            r"Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

fn check_stream_name(name: &str, member: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 512 {
        return Err(constraint(
            name,
            member,
            "Member must have length less than or equal to 512",
        ));
    }
    if name.contains([':', '*']) {
        return Err(constraint(
            name,
            member,
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

/// `logGroupName` or `logGroupIdentifier` (a name or an ARN), exactly one.
fn group_name(name: Option<String>, identifier: Option<String>) -> Result<String, ApiError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(name), None) => Ok(name),
        (None, Some(id)) => Ok(group_from_identifier(&id)),
        (None, None) => Err(ApiError::invalid(
            "Either LogGroupName or LogGroupIdentifier must be specified.",
        )),
    }
}

/// `arn:aws:logs:<region>:<account>:log-group:<name>[:*]` or a plain name.
fn group_from_identifier(id: &str) -> String {
    match id.split_once(":log-group:") {
        Some((_, rest)) => rest.strip_suffix(":*").unwrap_or(rest).to_string(),
        None => id.to_string(),
    }
}

/// A page position: a decimal index (our `nextToken`s).
fn parse_index(token: &str) -> Result<usize, ApiError> {
    token
        .parse()
        .map_err(|_| ApiError::invalid("The specified nextToken is invalid."))
}

/// `f/<56 digits>` and `b/<56 digits>`, as CloudWatch's GetLogEvents tokens look.
fn event_token(direction: char, index: usize) -> String {
    format!("{direction}/{index:056}")
}

fn parse_event_token(token: &str) -> Result<(char, usize), ApiError> {
    let bad = || ApiError::invalid("The specified nextToken is invalid.");
    let (dir, digits) = token.split_once('/').ok_or_else(bad)?;
    let dir = match dir {
        "f" => 'f',
        "b" => 'b',
        _ => return Err(bad()),
    };
    Ok((dir, digits.parse().map_err(|_| bad())?))
}

/// One page of a list answer: the items `start..start + limit` of the whole list, and a
/// `nextToken` (the next index) when more remain.
#[derive(Debug, Clone, Copy)]
struct Page {
    start: usize,
    limit: usize,
}

impl Page {
    /// From a request's `limit` (at most `max`) and `nextToken`.
    fn new(limit_asked: Option<i64>, max: usize, token: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit(limit_asked, max)?;
        let start = token.map(parse_index).transpose()?.unwrap_or(0);
        Ok(Page { start, limit })
    }

    /// The items of this page, each shaped by `f`.
    fn of<T>(&self, all: &[T], f: impl FnMut(&T) -> Value) -> Vec<Value> {
        all.iter()
            .skip(self.start)
            .take(self.limit)
            .map(f)
            .collect()
    }

    /// `out` with `nextToken` when the whole list (`total` items) goes on after this page.
    fn with_next_token(&self, mut out: Value, total: usize) -> Value {
        if self.start + self.limit < total {
            out["nextToken"] = json!((self.start + self.limit).to_string());
        }
        out
    }
}

fn limit(limit: Option<i64>, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(max),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(constraint(
            &n.to_string(),
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateLogGroupRequest {
    log_group_name: String,
    kms_key_id: Option<String>,
    log_group_class: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRequest {
    log_group_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRequest {
    log_group_name: String,
    log_stream_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroupsRequest {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogStreamsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    #[serde(default)]
    descending: bool,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InputLogEvent {
    timestamp: i64,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutLogEventsRequest {
    log_group_name: String,
    log_stream_name: String,
    log_events: Vec<InputLogEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsRequest {
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
struct FilterLogEventsRequest {
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
    /// No log groups, in `region` of `account_id` (for ARNs).
    pub fn new(region: &str, account_id: &str) -> Self {
        Logs {
            region: region.to_string(),
            account_id: account_id.to_string(),
            groups: BTreeMap::new(),
            next_event_id: 0,
        }
    }

    fn group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}",
            self.region, self.account_id
        )
    }

    fn group(&self, name: &str) -> Result<&LogGroup, ApiError> {
        self.groups.get(name).ok_or_else(not_found_group)
    }

    fn stream_mut(&mut self, group: &str, stream: &str) -> Result<&mut LogStream, ApiError> {
        self.groups
            .get_mut(group)
            .ok_or_else(not_found_group)?
            .streams
            .get_mut(stream)
            .ok_or_else(not_found_stream)
    }

    /// Runs operation `op` (the part of `X-Amz-Target` after [`TARGET_PREFIX`]) on a JSON body,
    /// at `now_ms` (milliseconds since the epoch).
    pub fn handle(&mut self, op: &str, body: &[u8], now_ms: i64) -> Result<Value, ApiError> {
        match op {
            "CreateLogGroup" => self.create_log_group(decode(body)?, now_ms),
            "DeleteLogGroup" => self.delete_log_group(decode(body)?),
            "DescribeLogGroups" => self.describe_log_groups(decode(body)?),
            "CreateLogStream" => self.create_log_stream(decode(body)?, now_ms),
            "DeleteLogStream" => self.delete_log_stream(decode(body)?),
            "DescribeLogStreams" => self.describe_log_streams(decode(body)?),
            "PutLogEvents" => self.put_log_events(decode(body)?, now_ms),
            "GetLogEvents" => self.get_log_events(decode(body)?),
            "FilterLogEvents" => self.filter_log_events(decode(body)?),
            other => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("The operation {other} is not supported by this emulator."),
            )),
        }
    }

    fn create_log_group(
        &mut self,
        req: CreateLogGroupRequest,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        check_group_name(&req.log_group_name, "logGroupName")?;
        let class = req.log_group_class.unwrap_or_else(|| "STANDARD".into());
        if !matches!(
            class.as_str(),
            "STANDARD" | "INFREQUENT_ACCESS" | "DELIVERY"
        ) {
            return Err(constraint(
                &class,
                "logGroupClass",
                "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]",
            ));
        }
        if self.groups.contains_key(&req.log_group_name) {
            return Err(ApiError::new(
                ErrorCode::ResourceAlreadyExistsException,
                "The specified log group already exists",
            ));
        }
        self.groups.insert(
            req.log_group_name,
            LogGroup {
                creation_time: now_ms,
                class,
                kms_key_id: req.kms_key_id,
                streams: BTreeMap::new(),
            },
        );
        Ok(json!({}))
    }

    fn delete_log_group(&mut self, req: GroupRequest) -> Result<Value, ApiError> {
        self.groups
            .remove(&req.log_group_name)
            .ok_or_else(not_found_group)?;
        Ok(json!({}))
    }

    fn describe_log_groups(&self, req: DescribeLogGroupsRequest) -> Result<Value, ApiError> {
        if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
            return Err(ApiError::invalid(
                "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.",
            ));
        }
        let page = Page::new(req.limit, MAX_DESCRIBE, req.next_token.as_deref())?;
        let matching: Vec<(&String, &LogGroup)> = self
            .groups
            .iter()
            .filter(|(name, _)| {
                req.log_group_name_prefix
                    .as_deref()
                    .is_none_or(|p| name.starts_with(p))
                    && req
                        .log_group_name_pattern
                        .as_deref()
                        .is_none_or(|p| name.contains(p))
            })
            .collect();
        let groups = page.of(&matching, |(name, g)| {
            let arn = self.group_arn(name);
            if req.log_group_name_pattern.is_some() {
                // CloudWatch answers a pattern search with these three members only.
                return json!({
                    "logGroupName": name,
                    "creationTime": g.creation_time,
                    "arn": format!("{arn}:*"),
                });
            }
            let stored: u64 = g.streams.values().map(|s| s.stored_bytes).sum();
            let mut v = json!({
                "logGroupName": name,
                "creationTime": g.creation_time,
                "metricFilterCount": 0,
                "arn": format!("{arn}:*"),
                "storedBytes": stored,
                "logGroupClass": g.class,
                "logGroupArn": arn,
                "deletionProtectionEnabled": false,
            });
            if let Some(k) = &g.kms_key_id {
                v["kmsKeyId"] = json!(k);
            }
            v
        });
        Ok(page.with_next_token(json!({ "logGroups": groups }), matching.len()))
    }

    fn create_log_stream(&mut self, req: StreamRequest, now_ms: i64) -> Result<Value, ApiError> {
        check_group_name(&req.log_group_name, "logGroupName")?;
        check_stream_name(&req.log_stream_name, "logStreamName")?;
        let group = self
            .groups
            .get_mut(&req.log_group_name)
            .ok_or_else(not_found_group)?;
        if group.streams.contains_key(&req.log_stream_name) {
            return Err(ApiError::new(
                ErrorCode::ResourceAlreadyExistsException,
                "The specified log stream already exists",
            ));
        }
        group.streams.insert(
            req.log_stream_name,
            LogStream {
                creation_time: now_ms,
                ..LogStream::default()
            },
        );
        Ok(json!({}))
    }

    fn delete_log_stream(&mut self, req: StreamRequest) -> Result<Value, ApiError> {
        self.groups
            .get_mut(&req.log_group_name)
            .ok_or_else(not_found_group)?
            .streams
            .remove(&req.log_stream_name)
            .ok_or_else(not_found_stream)?;
        Ok(json!({}))
    }

    fn describe_log_streams(&self, req: DescribeLogStreamsRequest) -> Result<Value, ApiError> {
        let name = group_name(req.log_group_name, req.log_group_identifier)?;
        let by_time = match req.order_by.as_deref() {
            None | Some("LogStreamName") => false,
            Some("LastEventTime") => true,
            Some(other) => {
                return Err(constraint(
                    other,
                    "orderBy",
                    "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
                ));
            }
        };
        if by_time && req.log_stream_name_prefix.is_some() {
            return Err(ApiError::invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let page = Page::new(req.limit, MAX_DESCRIBE, req.next_token.as_deref())?;
        let group = self.group(&name)?;
        let mut streams: Vec<(&String, &LogStream)> = group
            .streams
            .iter()
            .filter(|(n, _)| {
                req.log_stream_name_prefix
                    .as_deref()
                    .is_none_or(|p| n.starts_with(p))
            })
            .collect();
        if by_time {
            streams.sort_by_key(|(_, s)| s.events.last().map_or(i64::MIN, |e| e.timestamp));
        }
        if req.descending {
            streams.reverse();
        }
        let arn = self.group_arn(&name);
        let listed = page.of(&streams, |(n, s)| {
            let mut v = json!({
                "logStreamName": n,
                "creationTime": s.creation_time,
                "arn": format!("{arn}:log-stream:{n}"),
                "storedBytes": 0,
            });
            if let (Some(first), Some(last)) = (s.events.first(), s.events.last()) {
                v["firstEventTimestamp"] = json!(first.timestamp);
                v["lastEventTimestamp"] = json!(last.timestamp);
            }
            if let Some(t) = s.last_ingestion_time {
                v["lastIngestionTime"] = json!(t);
                v["uploadSequenceToken"] = json!(sequence_token(s.upload_sequence));
            }
            v
        });
        Ok(page.with_next_token(json!({ "logStreams": listed }), streams.len()))
    }

    fn put_log_events(&mut self, req: PutLogEventsRequest, now_ms: i64) -> Result<Value, ApiError> {
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
        let first_id = self.next_event_id;
        let stream = self.stream_mut(&req.log_group_name, &req.log_stream_name)?;
        let mut id = first_id;
        for e in req
            .log_events
            .into_iter()
            .skip(valid_from)
            .take(valid_to.saturating_sub(valid_from))
        {
            let at = stream
                .events
                .partition_point(|x| x.timestamp <= e.timestamp);
            stream.stored_bytes += e.message.len() as u64;
            stream.events.insert(
                at,
                Event {
                    timestamp: e.timestamp,
                    message: e.message,
                    ingestion_time: now_ms,
                    id,
                },
            );
            id += 1;
        }
        stream.last_ingestion_time = Some(now_ms);
        stream.upload_sequence += 1;
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

    fn get_log_events(&self, req: GetLogEventsRequest) -> Result<Value, ApiError> {
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
                    "message": e.message,
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

    fn filter_log_events(&self, req: FilterLogEventsRequest) -> Result<Value, ApiError> {
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
                "message": e.message,
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

fn sequence_token(n: u64) -> String {
    format!("{n:056}")
}

/// A CloudWatch Logs filter pattern for unstructured events: terms that must all appear
/// (`ERROR timeout`), quoted phrases (`"connection refused"`), terms of which at least one must
/// appear (`?ERROR ?WARN`) and terms that must not appear (`ERROR -retry`). Matching is
/// case-sensitive, as in CloudWatch. An empty pattern matches everything. JSON (`{ ... }`) and
/// space-delimited (`[ ... ]`) patterns are refused as not supported by the emulator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilterPattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl FilterPattern {
    /// Parses `pattern`.
    pub fn parse(pattern: &str) -> Result<Self, ApiError> {
        let trimmed = pattern.trim();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return Err(ApiError::invalid(format!(
                "Invalid filter pattern: JSON and space-delimited filter patterns are not supported by this emulator: {trimmed}"
            )));
        }
        let mut out = FilterPattern::default();
        let mut chars = trimmed.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let kind = match first {
                '?' | '-' => {
                    chars.next();
                    first
                }
                _ => ' ',
            };
            let mut term = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                term.push(n);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => term.push(c),
                    }
                }
                if !closed {
                    return Err(ApiError::invalid(format!(
                        "Invalid filter pattern: unterminated quoted phrase in {trimmed}"
                    )));
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
            }
            if term.is_empty() {
                continue;
            }
            match kind {
                '?' => out.any.push(term),
                '-' => out.none.push(term),
                _ => out.all.push(term),
            }
        }
        Ok(out)
    }

    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
    }
}

/// Work for the actor.
type Job = Box<dyn FnOnce(&mut Logs) + Send>;

/// A cheap, cloneable handle to the actor owning [`Logs`].
#[derive(Debug, Clone)]
pub struct LogsHandle {
    jobs: mpsc::Sender<Job>,
}

impl LogsHandle {
    /// Starts the actor owning `logs`.
    pub fn spawn(mut logs: Logs) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(1024);
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                job(&mut logs);
            }
        });
        LogsHandle { jobs }
    }

    /// Runs operation `op` with `body` on the actor's state.
    pub async fn request(&self, op: &str, body: &[u8], now_ms: i64) -> Result<Value, ApiError> {
        let (tx, rx) = oneshot::channel();
        let op = op.to_string();
        let body = body.to_vec();
        let job: Job = Box::new(move |logs| {
            let _ = tx.send(logs.handle(&op, &body, now_ms));
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::server("logs actor stopped"))?;
        rx.await
            .map_err(|_| ApiError::server("logs actor stopped"))?
    }
}

/// The `awslogs-stream-prefix` option: ECS's own, not Docker's.
const STREAM_PREFIX_OPT: &str = "awslogs-stream-prefix";
/// Docker's option naming the stream.
const STREAM_OPT: &str = "awslogs-stream";

impl Service for LogsHandle {
    fn info(&self) -> ServiceInfo {
        ServiceInfo::aws_json("logs", "logs", TARGET_PREFIX, "message")
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let (op, body) = input.into_json()?;
            #[allow(clippy::cast_possible_truncation)]
            let now_ms = (ctx.now * 1000.0) as i64;
            self.request(&op, &body, now_ms).await.map(Output::Json)
        })
    }
}

/// What the ECS backend does to an `awslogs` log configuration before sending a task over ACS:
/// `awslogs-stream-prefix` (which Docker does not know) becomes `awslogs-stream` =
/// `<prefix>/<container name>/<task id>`, and a task definition with an `executionRoleArn` gets
/// `logsAuthStrategy: ExecutionRole` on each `awslogs` container, so the agent hands Docker the
/// execution role's credentials endpoint. `acs_task` is the ACS task JSON, `def` its task
/// definition.
pub fn apply_awslogs_to_acs_task(acs_task: &mut Value, def: &Value) {
    let task_id = acs_task
        .get("arn")
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let execution_role = def
        .get("executionRoleArn")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.is_empty());
    let Some(containers) = acs_task.get_mut("containers").and_then(Value::as_array_mut) else {
        return;
    };
    for c in containers {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(host_str) = c
            .pointer("/dockerConfig/hostConfig")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let Ok(mut host) = serde_json::from_str::<Value>(host_str) else {
            continue;
        };
        if host.pointer("/LogConfig/Type").and_then(Value::as_str) != Some("awslogs") {
            continue;
        }
        if let Some(options) = host
            .pointer_mut("/LogConfig/Config")
            .and_then(Value::as_object_mut)
            && let Some(prefix) = options.remove(STREAM_PREFIX_OPT)
        {
            let prefix = prefix.as_str().unwrap_or_default().to_string();
            if !options.contains_key(STREAM_OPT) {
                options.insert(
                    STREAM_OPT.into(),
                    json!(format!("{prefix}/{name}/{task_id}")),
                );
            }
        }
        c["dockerConfig"]["hostConfig"] = json!(host.to_string());
        if execution_role {
            c["logsAuthStrategy"] = json!("ExecutionRole");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    #[test]
    fn awslogs_stream_prefix_becomes_the_ecs_stream_name() {
        let host = json!({"LogConfig": {"Type": "awslogs", "Config": {
            "awslogs-group": "g", "awslogs-stream-prefix": "web"}}});
        let mut task = json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc123",
            "containers": [{"name": "app", "dockerConfig": {"hostConfig": host.to_string()}}],
        });
        apply_awslogs_to_acs_task(
            &mut task,
            &json!({"executionRoleArn": "arn:aws:iam::123456789012:role/x"}),
        );
        let c = &task["containers"][0];
        let host: Value =
            serde_json::from_str(c["dockerConfig"]["hostConfig"].as_str().unwrap()).unwrap();
        assert_eq!(
            host["LogConfig"]["Config"],
            json!({"awslogs-group": "g", "awslogs-stream": "web/app/abc123"})
        );
        assert_eq!(c["logsAuthStrategy"], "ExecutionRole");
    }
}
