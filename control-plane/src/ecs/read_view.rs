//! A read-only copy of the clusters and tasks, published by the state actor after each batch of
//! commands, so DescribeTasks is answered without queueing behind writes in the actor.
//!
//! The actor is still the only writer: after running a batch it copies the clusters and tasks
//! that batch touched into the view, before it answers any writer of the batch, so a caller
//! that got a RunTask answer finds its task here (read-your-writes). Readers hold the lock only
//! to clone `Arc`s; answers are built after it is released.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::Value;

use crate::ecs::common::short_name;
use crate::ecs::model::{Cluster, Task};
use crate::ecs::state::{Account, Key, State};
use crate::ecs::tasks::{DescribeTasksRequest, describe_tasks_answer};
use crate::front::ApiError;

/// The published copy.
#[derive(Debug, Default)]
struct View {
    /// ACTIVE clusters by name.
    clusters: HashMap<String, Arc<Cluster>>,
    /// Every task by ARN.
    tasks: HashMap<String, Arc<Task>>,
}

/// The clusters and tasks as of the last batch the actor finished; cheap to clone.
///
/// A lock, not a message to the actor: that is the point (reads must not wait behind writes).
/// The actor holds it for writing once per batch, readers for a few map lookups.
#[derive(Debug, Clone)]
pub struct ReadView {
    account: Account,
    view: Arc<RwLock<View>>,
}

impl ReadView {
    /// A view of everything in `state` (at the actor's start).
    pub fn of(state: &State) -> Self {
        let view = View {
            clusters: state
                .clusters
                .values()
                .filter(|c| c.status == "ACTIVE")
                .map(|c| (c.cluster_name.clone(), Arc::new(c.clone())))
                .collect(),
            tasks: state
                .tasks
                .iter()
                .map(|(arn, t)| (arn.clone(), Arc::new(t.clone())))
                .collect(),
        };
        ReadView {
            account: state.account.clone(),
            view: Arc::new(RwLock::new(view)),
        }
    }

    /// Copies the clusters and tasks named in `touched` from `state` (the actor, after a batch).
    pub(crate) fn publish(&self, state: &State, touched: &std::collections::BTreeSet<Key>) {
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        for key in touched {
            match key {
                Key::Cluster(name) => {
                    match state.clusters.get(name).filter(|c| c.status == "ACTIVE") {
                        Some(c) => view.clusters.insert(name.clone(), Arc::new(c.clone())),
                        None => view.clusters.remove(name),
                    };
                }
                Key::Task(arn) => {
                    match state.tasks.get(arn) {
                        Some(t) => view.tasks.insert(arn.clone(), Arc::new(t.clone())),
                        None => view.tasks.remove(arn),
                    };
                }
                Key::Instance(_)
                | Key::TaskDef(..)
                | Key::Service(_)
                | Key::Outbox(_)
                | Key::SeqNum(_) => {}
            }
        }
    }

    /// The account the ARNs are in.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The ACTIVE cluster `name`, if published.
    pub fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        view.clusters.get(name).cloned()
    }

    /// The task `arn`, if published.
    pub fn task(&self, arn: &str) -> Option<Arc<Task>> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        view.tasks.get(arn).cloned()
    }

    /// DescribeTasks from the view, or `None` when the request names no published ACTIVE
    /// cluster: the actor then answers (it creates `default` on first use, and words the
    /// errors).
    pub fn describe_tasks(&self, req: &DescribeTasksRequest) -> Option<Result<Value, ApiError>> {
        let name = match req.cluster.as_deref() {
            None | Some("") => "default",
            Some(r) if r.starts_with("arn:") && !r.contains(":cluster/") => return None,
            Some(r) => short_name(r),
        };
        let cluster = self.cluster(name)?;
        Some(describe_tasks_answer(
            &self.account,
            &cluster.cluster_name,
            req,
            |arn| self.task(arn),
        ))
    }
}
