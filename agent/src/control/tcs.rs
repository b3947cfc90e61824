//! Container health to the control plane over the telemetry websocket (TCS), as the reference
//! agent reports it (`ecs-agent/tcs/client/client.go` `publishHealthOnce`): a
//! `PublishHealthRequest` frame with, per task, the health of every container that has a health
//! check. ECS's SubmitTaskStateChange has no health member; this is how DescribeTasks learns
//! `healthStatus`.
//!
//! [`run_health`] discovers the telemetry endpoint, opens the SigV4-signed upgrade (the same
//! signature as ACS, [`super::sign_upgrade`]) and sends the health whenever it changes, and every
//! [`PUBLISH_INTERVAL`] anyway; it reconnects with backoff. [`health_request`] builds the frame
//! and is pure. Container metrics are not published (no stats yet).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::AcsParams;
use crate::engine::EngineHandle;
use crate::retry::{Attempt, RetryPolicy, retry_until_cancelled};
use crate::state::TaskRecord;

/// How often health is sent even when nothing changed (the reference's metrics publish
/// interval, `DefaultContainerMetricsPublishInterval`).
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(20);
/// How often the engine's records are looked at for health changes.
const LOOK_INTERVAL: Duration = Duration::from_secs(1);

/// The TCS query, as the reference's `formatURL` encodes it (Go's `url.Values.Encode`: keys
/// sorted).
pub fn tcs_query(
    cluster: &str,
    instance_arn: &str,
    agent_version: &str,
    agent_hash: &str,
    docker_version: &str,
) -> String {
    let pairs = [
        ("agentHash", agent_hash),
        ("agentVersion", agent_version),
        ("cluster", cluster),
        ("containerInstance", instance_arn),
        ("dockerVersion", docker_version),
    ];
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", super::acs::query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Per task ARN: container name → health, for containers with a health status.
type HealthView = BTreeMap<String, BTreeMap<String, String>>;

fn view(records: &[TaskRecord]) -> HealthView {
    records
        .iter()
        .filter_map(|r| {
            let containers: BTreeMap<String, String> = r
                .containers
                .iter()
                .filter_map(|c| Some((c.name.clone(), c.health.clone()?)))
                .collect();
            (!containers.is_empty()).then(|| (r.arn().to_string(), containers))
        })
        .collect()
}

/// The `PublishHealthRequest` frame for `records`, or `None` when no container has a health
/// status.
pub fn health_request(
    records: &[TaskRecord],
    cluster: &str,
    instance_arn: &str,
    message_id: &str,
    now: SystemTime,
) -> Option<Value> {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let tasks: Vec<Value> = records
        .iter()
        .filter_map(|r| {
            let containers: Vec<Value> = r
                .containers
                .iter()
                .filter_map(|c| {
                    let health = c.health.as_deref()?;
                    Some(json!({
                        "containerName": c.name,
                        "healthStatus": health,
                        "statusSince": secs,
                    }))
                })
                .collect();
            (!containers.is_empty()).then(|| {
                json!({
                    "taskArn": r.arn(),
                    "clusterArn": r.task.task_cluster_arn.clone().unwrap_or_default(),
                    "taskDefinitionFamily": r.task.family.clone().unwrap_or_default(),
                    "taskDefinitionVersion": r.task.version.clone().unwrap_or_default(),
                    "containers": containers,
                })
            })
        })
        .collect();
    if tasks.is_empty() {
        return None;
    }
    Some(json!({
        "type": "PublishHealthRequest",
        "message": {
            "metadata": {
                "cluster": cluster,
                "containerInstance": instance_arn,
                "fin": true,
                "messageId": message_id,
            },
            "tasks": tasks,
            "timestamp": secs,
        }
    }))
}

/// Keeps a TCS connection and publishes container health until `shutdown`, reconnecting as
/// [`RetryPolicy::TCS_RECONNECT`] says.
pub async fn run_health(params: AcsParams, engine: EngineHandle, shutdown: CancellationToken) {
    let ended = retry_until_cancelled(&RetryPolicy::TCS_RECONNECT, &shutdown, |_| async {
        match session(&params, &engine, &shutdown).await {
            Ok(()) => Attempt::Done(()),
            Err(e) => Attempt::Retry(e),
        }
    })
    .await;
    if let Err(e) = ended {
        tracing::debug!(error = %e.into_last(), "telemetry stopped");
    }
}

/// One connection: Ok on shutdown, Err when it failed or closed.
async fn session(
    params: &AcsParams,
    engine: &EngineHandle,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let endpoint = params
        .api
        .discover_telemetry_endpoint(&params.cluster, &params.instance_arn)
        .await
        .map_err(|e| e.to_string())?;
    let query = tcs_query(
        &params.cluster,
        &params.instance_arn,
        &params.agent_version,
        &params.agent_hash,
        &params.docker_version,
    );
    let url = super::acs_url(&endpoint, &query).map_err(|e| e.to_string())?;
    let credentials = params
        .credentials
        .provide_credentials()
        .await
        .map_err(|e| e.to_string())?;
    let request = super::sign_upgrade(&url, &credentials, &params.region, SystemTime::now())
        .map_err(|e| e.to_string())?;
    let (mut ws, _) = tokio::time::timeout(
        params.timers.handshake_timeout,
        crate::proxy::connect_websocket(params.api.proxies(), request),
    )
    .await
    .map_err(|_| "no telemetry handshake in time".to_string())?
    .map_err(|e| e.to_string())?;
    tracing::debug!(endpoint = %endpoint, "telemetry connected");
    let mut last: Option<HealthView> = None;
    let mut last_sent = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(LOOK_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            frame = ws.next() => match frame {
                // Acks and heartbeats need no answer.
                Some(Ok(Message::Close(_))) | None => return Err("closed by the server".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let records = engine.snapshot().await;
                let now_view = view(&records);
                if last.as_ref() == Some(&now_view) && last_sent.elapsed() < PUBLISH_INTERVAL {
                    continue;
                }
                let id = uuid::Uuid::new_v4().to_string();
                if let Some(frame) = health_request(
                    &records,
                    &params.cluster,
                    &params.instance_arn,
                    &id,
                    SystemTime::now(),
                ) {
                    ws.send(Message::text(frame.to_string()))
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::debug!(tasks = now_view.len(), "published container health");
                }
                last = Some(now_view);
                last_sent = tokio::time::Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ContainerRecord;
    use ecs_protocol::status::{ContainerStatus, TaskStatus};

    fn record(health: &[(&str, Option<&str>)]) -> TaskRecord {
        let task = serde_json::from_value(json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
            "taskClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
            "family": "web", "version": "3"
        }))
        .unwrap();
        TaskRecord {
            task,
            desired_stopped: false,
            known: TaskStatus::Running,
            sent: None,
            containers: health
                .iter()
                .map(|(n, h)| ContainerRecord {
                    name: (*n).into(),
                    docker_name: None,
                    docker_id: None,
                    known: ContainerStatus::Running,
                    exit_code: None,
                    reason: None,
                    ports: vec![],
                    image_digest: None,
                    health: h.map(Into::into),
                    started_at: None,
                    restart_count: 0,
                    last_restart_at: None,
                })
                .collect(),
            reason: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            resources: Default::default(),
        }
    }

    #[test]
    fn the_frame_has_the_reference_shape() {
        let r = record(&[("web", Some("HEALTHY")), ("side", None)]);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let f = health_request(&[r], "c", "arn:ci", "m1", at).unwrap();
        assert_eq!(
            f,
            json!({
                "type": "PublishHealthRequest",
                "message": {
                    "metadata": {"cluster": "c", "containerInstance": "arn:ci", "fin": true, "messageId": "m1"},
                    "tasks": [{
                        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
                        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
                        "taskDefinitionFamily": "web",
                        "taskDefinitionVersion": "3",
                        "containers": [{"containerName": "web", "healthStatus": "HEALTHY", "statusSince": 100.0}]
                    }],
                    "timestamp": 100.0
                }
            })
        );
        assert!(health_request(&[record(&[("x", None)])], "c", "i", "m", at).is_none());
    }

    #[test]
    fn the_query_is_sorted_and_escaped() {
        assert_eq!(
            tcs_query("c", "arn:aws:ecs:x/1", "1.0", "h", "20.10.24"),
            "agentHash=h&agentVersion=1.0&cluster=c&containerInstance=arn%3Aaws%3Aecs%3Ax%2F1&dockerVersion=20.10.24"
        );
    }
}
