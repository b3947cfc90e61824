//! Reporting a task's state changes to the control plane, apart from the task actor: each task
//! has a queue ([`ReportQueue`]) drained in order by its own delivery loop ([`deliver`]), which
//! retries transient failures as the engine's [`RetryPolicy`] says and tells the task actor how
//! each report ended ([`Outcome`]). The task actor only queues; it never waits for the control
//! plane, so a Stop is handled at once however long a report takes.
//!
//! What was delivered is the task actor's to save (`TaskRecord::sent`): this module keeps no
//! state and writes nothing.

use std::sync::Arc;

use ecs_protocol::BackendStatus;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::retry::{Attempt, GaveUp, RetryPolicy, retry_until_cancelled};
use crate::runtime::BoxFuture;
use crate::state_change::TaskStateChange;

/// Why a report could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Worth retrying (network, throttling, 5xx).
    #[error("transient: {0}")]
    Transient(String),
    /// The control plane refused it for good (InvalidParameterException): drop the event.
    #[error("refused: {0}")]
    Refused(String),
}

/// Sends reports to the control plane. One real implementation (the ECS API), one fake in tests.
pub trait Reporter: Send + Sync + 'static {
    /// Submits one task state change.
    fn submit<'a>(&'a self, change: &'a TaskStateChange) -> BoxFuture<'a, Result<(), ReportError>>;
}

/// How one queued report ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The control plane has it: the status to save as sent.
    Delivered(BackendStatus),
    /// The control plane refused it for good; it is dropped (as the reference does).
    Refused,
    /// The retries ran out; the task's next pass queues its state again.
    GaveUp,
}

/// The sending end of one task's report queue.
#[derive(Debug, Clone)]
pub struct ReportQueue {
    tx: mpsc::UnboundedSender<TaskStateChange>,
}

impl ReportQueue {
    /// A queue, and its receiving end for [`deliver`].
    pub fn new() -> (Self, mpsc::UnboundedReceiver<TaskStateChange>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ReportQueue { tx }, rx)
    }

    /// Queues `change` behind the task's earlier ones; false if the delivery loop has ended
    /// (shutdown).
    pub fn push(&self, change: TaskStateChange) -> bool {
        let queued = self.tx.send(change).is_ok();
        if queued {
            crate::agent_metrics::AGENT.state_changes_pending.inc();
        }
        queued
    }
}

/// Delivers the queued changes in order, each with `policy`'s retries, and calls `outcome` with
/// how each ended. Returns when the queue's senders are gone and it is empty, or at `shutdown`.
pub async fn deliver(
    mut queue: mpsc::UnboundedReceiver<TaskStateChange>,
    reporter: Arc<dyn Reporter>,
    policy: RetryPolicy,
    outcome: impl Fn(Outcome) + Send,
    shutdown: CancellationToken,
) {
    loop {
        let change = tokio::select! {
            () = shutdown.cancelled() => return,
            next = queue.recv() => match next {
                Some(change) => change,
                None => return,
            },
        };
        let sent = tokio::select! {
            () = shutdown.cancelled() => return,
            sent = retry_until_cancelled(&policy, &shutdown, |_| async {
                match reporter.submit(&change).await {
                    Ok(()) => Attempt::Done(()),
                    Err(ReportError::Transient(e)) => Attempt::Retry(e),
                    Err(ReportError::Refused(e)) => Attempt::Fail(e),
                }
            }) => sent,
        };
        let arn = &change.task_arn;
        let status = change.status.as_str();
        if !matches!(sent, Err(GaveUp::Cancelled { .. })) {
            crate::agent_metrics::AGENT.state_changes_pending.dec();
        }
        match sent {
            Ok(()) => {
                crate::agent_metrics::AGENT.state_changes_delivered.inc();
                tracing::info!(task_arn = %arn, status, "state change reported");
                outcome(Outcome::Delivered(change.status));
            }
            Err(GaveUp::Failed(e)) => {
                tracing::warn!(task_arn = %arn, status, error = %e, "state change refused; dropped");
                outcome(Outcome::Refused);
            }
            Err(GaveUp::Exhausted { attempts, last, .. }) => {
                tracing::warn!(task_arn = %arn, status, attempts, error = %last, "state change not delivered; it is sent again with the task's next pass");
                outcome(Outcome::GaveUp);
            }
            Err(GaveUp::Cancelled { .. }) => return,
        }
    }
}
