//! A read-only copy of the clusters and tasks, published by the state actor after each batch of
//! commands, so DescribeTasks is answered without queueing behind writes in the actor.
//!
//! The actor is still the only writer: after running a batch it copies the clusters and tasks
//! that batch touched into the view, before it answers any writer of the batch, so a caller
//! that got a RunTask answer finds its task here (read-your-writes). Readers hold the lock only
//! to clone `Arc`s; answers are built after it is released.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::ecs::common::Account;
use crate::ecs::model::{Cluster, Task};

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
    /// A view of `clusters` (by name) and `tasks` (by ARN) in `account` (at the actor's start).
    pub fn new<'a>(
        account: Account,
        clusters: impl IntoIterator<Item = (&'a str, Option<&'a Cluster>)>,
        tasks: impl IntoIterator<Item = (&'a str, Option<&'a Arc<Task>>)>,
    ) -> Self {
        let view = ReadView {
            account,
            view: Arc::new(RwLock::new(View::default())),
        };
        view.publish(clusters, tasks);
        view
    }

    /// Replaces the published form of each of `clusters` and `tasks` by its current one, or
    /// forgets it when gone (`None`); a cluster that is not ACTIVE is forgotten (the actor,
    /// after a batch).
    pub fn publish<'a>(
        &self,
        clusters: impl IntoIterator<Item = (&'a str, Option<&'a Cluster>)>,
        tasks: impl IntoIterator<Item = (&'a str, Option<&'a Arc<Task>>)>,
    ) {
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        for (name, cluster) in clusters {
            match cluster.filter(|c| c.status == "ACTIVE") {
                Some(c) => view.clusters.insert(name.to_string(), Arc::new(c.clone())),
                None => view.clusters.remove(name),
            };
        }
        for (arn, task) in tasks {
            match task {
                Some(t) => view.tasks.insert(arn.to_string(), Arc::clone(t)),
                None => view.tasks.remove(arn),
            };
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
}
