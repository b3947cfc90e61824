//! CloudWatch Logs Insights: the query language ([`lex`], [`parse`]), its evaluation over a
//! snapshot of events ([`eval`]), and the table of queries StartQuery, GetQueryResults,
//! StopQuery and DescribeQueries read ([`Queries`]). A query runs on a worker, away from the
//! Logs actor, over the events it copied (shared messages) when it started.
//!
//! What it must not do: read the log groups itself (the caller hands it the records), or keep
//! queries without bound (the oldest finished ones go past [`MAX_KEPT`]).

pub mod ast;
pub mod eval;
mod expr;
pub mod lex;
pub mod parse;
mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use ast::Query;
use eval::{Outcome, Record, Stopped};

/// Queries kept for GetQueryResults and DescribeQueries; the oldest finished go first.
pub const MAX_KEPT: usize = 1_000;
/// Queries that may run at once in an account (CloudWatch's quota).
pub const MAX_CONCURRENT: usize = 30;

/// A query that does not parse, and the byte range the problem is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

impl QueryError {
    /// An error over `start..end` of the query.
    pub fn new(message: impl Into<String>, start: usize, end: usize) -> Self {
        QueryError {
            message: message.into(),
            start,
            end,
        }
    }
}

/// A query's lifecycle, as the wire says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum QueryStatus {
    Scheduled,
    Running,
    Complete,
    Failed,
    Cancelled,
    Timeout,
}

impl QueryStatus {
    /// Parses a DescribeQueries `status` filter.
    pub fn from_wire(s: &str) -> Option<Self> {
        Some(match s {
            "Scheduled" => QueryStatus::Scheduled,
            "Running" => QueryStatus::Running,
            "Complete" => QueryStatus::Complete,
            "Failed" => QueryStatus::Failed,
            "Cancelled" => QueryStatus::Cancelled,
            "Timeout" => QueryStatus::Timeout,
            _ => return None,
        })
    }

    fn is_active(self) -> bool {
        matches!(self, QueryStatus::Scheduled | QueryStatus::Running)
    }
}

/// One started query.
#[derive(Debug)]
pub struct QueryInfo {
    pub query_string: String,
    pub status: QueryStatus,
    /// Milliseconds since the epoch.
    pub create_time: i64,
    /// The first log group queried.
    pub log_group_name: String,
    pub outcome: Option<Outcome>,
    cancel: Arc<AtomicBool>,
}

/// What a worker needs to run a query.
#[derive(Debug)]
pub struct QueryWork {
    pub id: String,
    query: Query,
    records: Vec<Record>,
    cap: usize,
    cancel: Arc<AtomicBool>,
}

impl QueryWork {
    /// Runs the query (CPU-bound: on a blocking thread).
    pub fn run(self) -> (String, Result<Outcome, Stopped>) {
        let out = eval::run(&self.query, &self.records, self.cap, &self.cancel);
        (self.id, out)
    }
}

/// Every query of the account, by id, oldest first.
#[derive(Debug, Default)]
pub struct Queries {
    by_id: BTreeMap<String, QueryInfo>,
    /// Ids in the order they started.
    order: Vec<String>,
}

impl Queries {
    /// How many are Scheduled or Running.
    pub fn active(&self) -> usize {
        self.by_id.values().filter(|q| q.status.is_active()).count()
    }

    /// Records a started query (Running) and returns the work for its worker.
    pub fn start(
        &mut self,
        id: String,
        query: Query,
        info: (String, String, i64),
        records: Vec<Record>,
        cap: usize,
    ) -> QueryWork {
        let (query_string, log_group_name, create_time) = info;
        let cancel = Arc::new(AtomicBool::new(false));
        self.by_id.insert(
            id.clone(),
            QueryInfo {
                query_string,
                status: QueryStatus::Running,
                create_time,
                log_group_name,
                outcome: None,
                cancel: Arc::clone(&cancel),
            },
        );
        self.order.push(id.clone());
        self.trim();
        QueryWork {
            id,
            query,
            records,
            cap,
            cancel,
        }
    }

    fn trim(&mut self) {
        while self.order.len() > MAX_KEPT {
            let Some(i) = self
                .order
                .iter()
                .position(|id| self.by_id.get(id).is_none_or(|q| !q.status.is_active()))
            else {
                return;
            };
            let id = self.order.remove(i);
            self.by_id.remove(&id);
        }
    }

    /// The query `id`.
    pub fn get(&self, id: &str) -> Option<&QueryInfo> {
        self.by_id.get(id)
    }

    /// Every query, oldest first.
    pub fn all(&self) -> impl Iterator<Item = (&String, &QueryInfo)> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id).map(|q| (id, q)))
    }

    /// Stops `id` if it is still active; whether it was.
    pub fn stop(&mut self, id: &str) -> Option<bool> {
        let q = self.by_id.get_mut(id)?;
        if !q.status.is_active() {
            return Some(false);
        }
        q.cancel.store(true, Ordering::Relaxed);
        q.status = QueryStatus::Cancelled;
        Some(true)
    }

    /// Records what a worker found (ignored when the query was stopped meanwhile).
    pub fn finish(&mut self, id: &str, outcome: Result<Outcome, Stopped>) {
        let Some(q) = self.by_id.get_mut(id) else {
            return;
        };
        if !q.status.is_active() {
            return;
        }
        match outcome {
            Ok(o) => {
                q.status = QueryStatus::Complete;
                q.outcome = Some(o);
            }
            Err(Stopped::Cancelled) => q.status = QueryStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests;
