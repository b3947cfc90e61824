//! Log streams: CreateLogStream, DeleteLogStream, DescribeLogStreams.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Logs;
use super::common::{
    Page, check_group_name, check_stream_name, constraint, group_name, not_found_group,
    not_found_stream, sequence_token,
};
use super::model::LogStream;
use crate::front::{ApiError, ErrorCode};

/// Default and largest page of streams.
const MAX_DESCRIBE: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamRequest {
    log_group_name: String,
    log_stream_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeLogStreamsRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    #[serde(default)]
    descending: bool,
    next_token: Option<String>,
    limit: Option<i64>,
}

impl Logs {
    pub(super) fn create_log_stream(
        &mut self,
        req: StreamRequest,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
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
        let stream = LogStream {
            creation_time: now_ms,
            ..LogStream::default()
        };
        self.journal
            .stream(&req.log_group_name, &req.log_stream_name, &stream);
        group.streams.insert(req.log_stream_name, stream);
        Ok(json!({}))
    }

    pub(super) fn delete_log_stream(&mut self, req: StreamRequest) -> Result<Value, ApiError> {
        let s = self
            .groups
            .get_mut(&req.log_group_name)
            .ok_or_else(not_found_group)?
            .streams
            .remove(&req.log_stream_name)
            .ok_or_else(not_found_stream)?;
        self.journal
            .delete_stream(&req.log_group_name, &req.log_stream_name, &s);
        Ok(json!({}))
    }

    pub(super) fn describe_log_streams(
        &self,
        req: DescribeLogStreamsRequest,
    ) -> Result<Value, ApiError> {
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
}
