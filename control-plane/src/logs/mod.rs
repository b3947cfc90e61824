//! The emulated Amazon CloudWatch Logs API (AWS JSON 1.1, `X-Amz-Target: Logs_20140328.<Op>`,
//! SigV4 service `logs`): log groups, log streams and their events, as the AWS CLI and Docker's
//! `awslogs` driver call them, and Logs Insights queries.
//!
//! Served: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, PutRetentionPolicy,
//! DeleteRetentionPolicy, ListTagsLogGroup, ListTagsForResource (groups.rs); CreateLogStream,
//! DeleteLogStream, DescribeLogStreams (streams.rs); PutLogEvents, GetLogEvents and
//! FilterLogEvents (events.rs, with filter_pattern.rs); StartQuery, GetQueryResults, StopQuery,
//! DescribeQueries, GetLogRecord (queries.rs over insights/). CloudWatch's error codes and words
//! (`ResourceNotFoundException`, `ResourceAlreadyExistsException`, `InvalidParameterException`,
//! `MalformedQueryException`, `LimitExceededException`). Sequence tokens are accepted and
//! ignored, as CloudWatch does today; events more than 2 hours ahead or 14 days behind are
//! reported in `rejectedLogEventsInfo` and dropped.
//!
//! State: [`Logs`] is plain data with synchronous operations (unit-tested without I/O), owned by
//! one actor ([`LogsHandle`]). With a data dir its rows (persist.rs) are written in one durable
//! transaction per group of commands (group commit: PutLogEvents from many containers share a
//! commit), before any of them is answered, and restored at start; retention policies apply
//! then and every minute. Insights queries are not persisted (a restart forgets them).
//!
//! It also holds [`apply_awslogs_to_acs_task`] (awslogs.rs), the ECS backend's part of the
//! `awslogs` driver.
//!
//! What it must not do: touch the ECS state, or know about Docker.

mod awslogs;
mod common;
mod events;
mod filter_pattern;
mod groups;
pub mod insights;
mod model;
mod persist;
mod queries;
mod streams;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::front::json::decode;
use crate::front::{ApiError, ErrorCode, Input, Output, RequestContext, Service, ServiceInfo};
use crate::store::{Store, StoreError};
pub use awslogs::apply_awslogs_to_acs_task;
use common::not_found_group;
pub use filter_pattern::FilterPattern;
use insights::{Queries, QueryWork};
use model::LogGroup;
use persist::Journal;

/// The `X-Amz-Target` prefix of CloudWatch Logs operations.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
/// The most commands one group commit runs.
const MAX_BATCH: usize = 256;

/// Every log group of the emulated account, and its Insights queries.
#[derive(Debug)]
pub struct Logs {
    region: String,
    account_id: String,
    groups: BTreeMap<String, LogGroup>,
    next_event_id: u64,
    /// The rows changed since the actor last wrote.
    journal: Journal,
    queries: Queries,
    /// Queries started by the last command, for the actor to hand to workers.
    started: Vec<QueryWork>,
}

impl Logs {
    /// No log groups, in `region` of `account_id` (for ARNs), persisting nothing.
    pub fn new(region: &str, account_id: &str) -> Self {
        Logs {
            region: region.to_string(),
            account_id: account_id.to_string(),
            groups: BTreeMap::new(),
            next_event_id: 0,
            journal: Journal::new(false),
            queries: Queries::default(),
            started: Vec::new(),
        }
    }

    /// The groups saved in `rows` (the store's rows; others' rows are skipped), with retention
    /// applied at `now_ms`; rows are recorded for a later write when `durable`.
    pub fn restore(
        region: &str,
        account_id: &str,
        rows: &[(String, Vec<u8>)],
        durable: bool,
        now_ms: i64,
    ) -> Result<Self, StoreError> {
        let restored = persist::restore(rows, durable)?;
        let mut logs = Logs::new(region, account_id);
        logs.groups = restored.groups;
        logs.next_event_id = restored.next_event_id;
        logs.journal = restored.journal;
        logs.expire(now_ms);
        Ok(logs)
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

    /// Runs operation `op` (the part of `X-Amz-Target` after [`TARGET_PREFIX`]) on a JSON body,
    /// at `now_ms` (milliseconds since the epoch).
    pub fn handle(&mut self, op: &str, body: &[u8], now_ms: i64) -> Result<Value, ApiError> {
        match op {
            "CreateLogGroup" => self.create_log_group(decode(body)?, now_ms),
            "DeleteLogGroup" => self.delete_log_group(decode(body)?),
            "DescribeLogGroups" => self.describe_log_groups(decode(body)?),
            "PutRetentionPolicy" => self.put_retention_policy(decode(body)?),
            "DeleteRetentionPolicy" => self.delete_retention_policy(decode(body)?),
            "ListTagsLogGroup" => self.list_tags_log_group(decode(body)?),
            "ListTagsForResource" => self.list_tags_for_resource(decode(body)?),
            "CreateLogStream" => self.create_log_stream(decode(body)?, now_ms),
            "DeleteLogStream" => self.delete_log_stream(decode(body)?),
            "DescribeLogStreams" => self.describe_log_streams(decode(body)?),
            "PutLogEvents" => self.put_log_events(decode(body)?, now_ms),
            "GetLogEvents" => self.get_log_events(decode(body)?),
            "FilterLogEvents" => self.filter_log_events(decode(body)?),
            "StartQuery" => self.start_query(decode(body)?, now_ms),
            "GetQueryResults" => self.get_query_results(decode(body)?),
            "StopQuery" => self.stop_query(decode(body)?),
            "DescribeQueries" => self.describe_queries(decode(body)?),
            "GetLogRecord" => self.get_log_record(decode(body)?),
            other => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("The operation {other} is not supported by this emulator."),
            )),
        }
    }
}

/// Work for the actor: runs on the state and returns the answer to send once the batch it ran
/// in is durable.
type Job = Box<dyn FnOnce(&mut Logs) -> Box<dyn FnOnce() + Send> + Send>;

/// A cheap, cloneable handle to the actor owning [`Logs`].
#[derive(Debug, Clone)]
pub struct LogsHandle {
    jobs: mpsc::Sender<Job>,
}

impl LogsHandle {
    /// Starts the actor owning `logs`, writing its rows to `store`.
    pub fn spawn(mut logs: Logs, store: Store) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(1024);
        tokio::task::spawn_blocking(move || {
            // Group commit: the jobs waiting when one starts run together, their rows are
            // written in one durable transaction, and only then is each answered.
            let mut answers = Vec::new();
            while let Some(first) = rx.blocking_recv() {
                let mut next = Some(first);
                while let Some(job) = next.take() {
                    answers.push(job(&mut logs));
                    if answers.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                let changes = logs.journal.take();
                if !changes.is_empty()
                    && let Err(e) = store.apply(&changes)
                {
                    // Without durable state the emulator would lie to its callers: stop here.
                    tracing::error!(error = %e, "cannot persist CloudWatch Logs; stopping its actor");
                    return;
                }
                for answer in answers.drain(..) {
                    answer();
                }
            }
        });
        LogsHandle { jobs }
    }

    async fn send(&self, job: Job) -> Result<(), ApiError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::server("logs actor stopped"))
    }

    /// Runs operation `op` with `body` on the actor's state; a started query's worker is
    /// spawned before the answer returns.
    pub async fn request(&self, op: &str, body: &[u8], now_ms: i64) -> Result<Value, ApiError> {
        let (tx, rx) = oneshot::channel();
        let op = op.to_string();
        let body = body.to_vec();
        self.send(Box::new(move |logs| {
            let out = logs.handle(&op, &body, now_ms);
            let started = std::mem::take(&mut logs.started);
            Box::new(move || {
                let _ = tx.send((out, started));
            })
        }))
        .await?;
        let (out, started) = rx
            .await
            .map_err(|_| ApiError::server("logs actor stopped"))?;
        for work in started {
            let handle = self.clone();
            tokio::spawn(async move {
                let id = work.id.clone();
                let outcome = match tokio::task::spawn_blocking(move || work.run()).await {
                    Ok((_, outcome)) => outcome,
                    Err(e) => {
                        tracing::error!(query_id = %id, error = %e, "a Logs Insights query failed");
                        Err(insights::eval::Stopped::Cancelled)
                    }
                };
                let finish: Job = Box::new(move |logs| {
                    logs.finish_query(&id, outcome);
                    Box::new(|| {})
                });
                if handle.send(finish).await.is_err() {
                    tracing::warn!("a Logs Insights query finished after the logs actor stopped");
                }
            });
        }
        out
    }

    /// Applies retention policies every `interval` until `shutdown`.
    pub fn spawn_expiry(&self, interval: Duration, shutdown: CancellationToken) {
        let handle = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                #[allow(clippy::cast_possible_truncation)]
                let now_ms = (crate::front::context::now_secs() * 1000.0) as i64;
                let job: Job = Box::new(move |logs| {
                    logs.expire(now_ms);
                    Box::new(|| {})
                });
                if handle.send(job).await.is_err() {
                    return;
                }
            }
        });
    }
}

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

#[cfg(test)]
mod tests;
