//! Logs Insights operations: StartQuery (checks the request, parses the query, copies the
//! events of the window and hands them to a worker), GetQueryResults, StopQuery,
//! DescribeQueries. The language and its evaluation are in insights/.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Logs;
use super::common::{constraint, group_from_identifier};
use super::insights::ast::Command;
use super::insights::eval::{Record, record_fields};
use super::insights::parse::{MAX_LIMIT, parse};
use super::insights::{MAX_CONCURRENT, QueryError, QueryStatus};
use crate::front::{ApiError, ErrorCode, ServiceCode};

/// Rows a query answers without a `limit` (StartQuery's default).
const DEFAULT_LIMIT: usize = 1_000;
/// The most log groups one query may name.
const MAX_GROUPS: usize = 50;

/// CloudWatch Logs' own codes for Insights.
const MALFORMED_QUERY: ServiceCode = ServiceCode {
    name: "MalformedQueryException",
    status: http::StatusCode::BAD_REQUEST,
};
const LIMIT_EXCEEDED: ServiceCode = ServiceCode {
    name: "LimitExceededException",
    status: http::StatusCode::BAD_REQUEST,
};

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::new(ErrorCode::Service(MALFORMED_QUERY), e.message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StartQueryRequest {
    log_group_name: Option<String>,
    log_group_names: Option<Vec<String>>,
    log_group_identifiers: Option<Vec<String>>,
    start_time: i64,
    end_time: i64,
    query_string: String,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueryIdRequest {
    query_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetLogRecordRequest {
    log_record_pointer: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeQueriesRequest {
    log_group_name: Option<String>,
    status: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn no_query(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        format!("Query {id} does not exist."),
    )
}

impl Logs {
    pub(super) fn start_query(
        &mut self,
        req: StartQueryRequest,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        let names: Vec<String> = match (
            req.log_group_name,
            req.log_group_names,
            req.log_group_identifiers,
        ) {
            (Some(n), None, None) => vec![n],
            (None, Some(list), None) => list,
            (None, None, Some(ids)) => ids.iter().map(|i| group_from_identifier(i)).collect(),
            _ => {
                return Err(ApiError::invalid(
                    "Exactly one of logGroupName, logGroupNames or logGroupIdentifiers must be specified.",
                ));
            }
        };
        if names.is_empty() || names.len() > MAX_GROUPS {
            return Err(ApiError::invalid(format!(
                "The number of log groups must be between 1 and {MAX_GROUPS}."
            )));
        }
        if req.query_string.chars().count() > 10_000 {
            return Err(constraint(
                "queryString",
                "queryString",
                "Member must have length less than or equal to 10000",
            ));
        }
        if req.start_time < 0 || req.end_time < req.start_time {
            return Err(ApiError::invalid(
                "End time must be greater than or equal to start time.",
            ));
        }
        let asked = match req.limit {
            None => None,
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => usize::try_from(n).ok(),
            Some(n) => {
                return Err(constraint(
                    &n.to_string(),
                    "limit",
                    &format!("Member must have value less than or equal to {MAX_LIMIT}"),
                ));
            }
        };
        let query = parse(&req.query_string)?;
        for name in &names {
            if !self.groups.contains_key(name) {
                return Err(ApiError::new(
                    ErrorCode::ResourceNotFoundException,
                    format!(
                        "Log group '{name}' does not exist for account ID '{}'",
                        self.account_id
                    ),
                ));
            }
        }
        if self.queries.active() >= MAX_CONCURRENT {
            return Err(ApiError::new(
                ErrorCode::Service(LIMIT_EXCEEDED),
                format!("Account maximum query concurrency limit of [{MAX_CONCURRENT}] reached."),
            ));
        }
        // A `limit` command may ask for more than the default, up to the maximum.
        let has_limit = query
            .commands
            .iter()
            .any(|c| matches!(c, Command::Limit(_)));
        let cap = asked.unwrap_or(if has_limit { MAX_LIMIT } else { DEFAULT_LIMIT });
        let (from, to) = (
            req.start_time.saturating_mul(1000),
            req.end_time.saturating_mul(1000).saturating_add(999),
        );
        let mut records = Vec::new();
        for name in &names {
            let log: std::sync::Arc<str> = format!("{}:{name}", self.account_id).into();
            let Some(g) = self.groups.get(name) else {
                continue;
            };
            for (stream_name, s) in &g.streams {
                let stream: std::sync::Arc<str> = stream_name.as_str().into();
                let lo = s.events.partition_point(|e| e.timestamp < from);
                let hi = s.events.partition_point(|e| e.timestamp <= to);
                records.extend(s.events[lo..hi.max(lo)].iter().map(|e| Record {
                    log: std::sync::Arc::clone(&log),
                    stream: std::sync::Arc::clone(&stream),
                    timestamp: e.timestamp,
                    ingestion_time: e.ingestion_time,
                    message: std::sync::Arc::clone(&e.message),
                    id: e.id,
                }));
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let first = names.first().cloned().unwrap_or_default();
        let work = self.queries.start(
            id.clone(),
            query,
            (req.query_string, first, now_ms),
            records,
            cap,
        );
        self.started.push(work);
        Ok(json!({ "queryId": id }))
    }

    pub(super) fn get_query_results(&self, req: QueryIdRequest) -> Result<Value, ApiError> {
        let q = self
            .queries
            .get(&req.query_id)
            .ok_or_else(|| no_query(&req.query_id))?;
        let (results, stats) = match &q.outcome {
            Some(o) => (
                o.rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|(f, v)| json!({"field": f, "value": v}))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>(),
                json!({
                    "recordsMatched": o.records_matched as f64,
                    "recordsScanned": o.records_scanned as f64,
                    "bytesScanned": o.bytes_scanned as f64,
                }),
            ),
            None => (
                Vec::new(),
                json!({"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0}),
            ),
        };
        Ok(json!({ "results": results, "statistics": stats, "status": q.status }))
    }

    pub(super) fn stop_query(&mut self, req: QueryIdRequest) -> Result<Value, ApiError> {
        let stopped = self
            .queries
            .stop(&req.query_id)
            .ok_or_else(|| no_query(&req.query_id))?;
        Ok(json!({ "success": stopped }))
    }

    pub(super) fn describe_queries(&self, req: DescribeQueriesRequest) -> Result<Value, ApiError> {
        let status = match req.status.as_deref() {
            None => None,
            Some(s) => Some(QueryStatus::from_wire(s).ok_or_else(|| {
                constraint(
                    s,
                    "status",
                    "Member must satisfy enum value set: [Scheduled, Running, Complete, Failed, Cancelled, Timeout, Unknown]",
                )
            })?),
        };
        let max = match req.max_results {
            None => 1000,
            Some(n) if (1..=1000).contains(&n) => usize::try_from(n).unwrap_or(1000),
            Some(n) => {
                return Err(constraint(
                    &n.to_string(),
                    "maxResults",
                    "Member must have value less than or equal to 1000",
                ));
            }
        };
        let start: usize = match req.next_token.as_deref() {
            None => 0,
            Some(t) => t
                .parse()
                .map_err(|_| ApiError::invalid("The specified nextToken is invalid."))?,
        };
        // Newest first, as CloudWatch lists them.
        let matching: Vec<Value> = self
            .queries
            .all()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .filter(|(_, q)| {
                status.is_none_or(|s| q.status == s)
                    && req
                        .log_group_name
                        .as_deref()
                        .is_none_or(|g| q.log_group_name == g)
            })
            .map(|(id, q)| {
                json!({
                    "queryId": id,
                    "queryString": q.query_string,
                    "status": q.status,
                    "createTime": q.create_time,
                    "logGroupName": q.log_group_name,
                })
            })
            .collect();
        let page: Vec<Value> = matching.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "queries": page });
        if start.saturating_add(max) < matching.len() {
            out["nextToken"] = json!((start + max).to_string());
        }
        Ok(out)
    }

    /// The event a query row's `@ptr` points at (the event's id, in hex).
    pub(super) fn get_log_record(&self, req: GetLogRecordRequest) -> Result<Value, ApiError> {
        let bad = || ApiError::invalid("The specified log record pointer is invalid.");
        let id = u64::from_str_radix(&req.log_record_pointer, 16).map_err(|_| bad())?;
        for (group, g) in &self.groups {
            for (stream, s) in &g.streams {
                if let Some(e) = s.events.iter().find(|e| e.id == id) {
                    let record = Record {
                        log: format!("{}:{group}", self.account_id).into(),
                        stream: stream.as_str().into(),
                        timestamp: e.timestamp,
                        ingestion_time: e.ingestion_time,
                        message: std::sync::Arc::clone(&e.message),
                        id,
                    };
                    let fields: serde_json::Map<String, Value> = record_fields(&record)
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect();
                    return Ok(json!({ "logRecord": fields }));
                }
            }
        }
        Err(bad())
    }

    /// Records what the worker of query `id` found.
    pub(super) fn finish_query(
        &mut self,
        id: &str,
        outcome: Result<super::insights::eval::Outcome, super::insights::eval::Stopped>,
    ) {
        self.queries.finish(id, outcome);
    }
}
