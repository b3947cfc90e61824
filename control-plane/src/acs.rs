//! The ACS websocket (and a TCS sink on the same path): the signed upgrade, then per connection one
//! loop that sends the instance's unacknowledged payloads, heartbeats, and reads acks.
//!
//! Payloads stay in the instance's persisted outbox until the agent acks them, so a reconnect (or an
//! emulator restart) resends exactly what was not acknowledged.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::api::{AppState, authenticate};
use crate::model::VersionInfo;

fn refuse(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        json!({ "type": kind, "message": { "message": message } }).to_string(),
    )
        .into_response()
}

/// `GET /ws`: checks the signature and the query, then upgrades.
pub async fn upgrade(
    AxState(app): AxState<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = authenticate(&app, &method, &uri, &headers, &Bytes::new()).await {
        return refuse(StatusCode::FORBIDDEN, "AccessDeniedException", &e.message);
    }
    // TCS connects with `cluster` + `containerInstance`; ACS with `clusterArn` + `containerInstanceArn`.
    if !query.contains_key("containerInstanceArn") && query.contains_key("containerInstance") {
        let instance = query.get("containerInstance").cloned().unwrap_or_default();
        return ws.on_upgrade(move |socket| telemetry_sink(app, socket, instance));
    }
    let (Some(cluster), Some(instance)) = (
        query.get("clusterArn").cloned(),
        query.get("containerInstanceArn").cloned(),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "clusterArn and containerInstanceArn are required",
        );
    };
    for (k, ok) in [
        (
            "seqNum",
            query.get("seqNum").is_none_or(|v| v.parse::<i64>().is_ok()),
        ),
        (
            "protocolVersion",
            query
                .get("protocolVersion")
                .is_none_or(|v| v.parse::<i64>().is_ok()),
        ),
        (
            "sendCredentials",
            query
                .get("sendCredentials")
                .is_none_or(|v| v == "true" || v == "false"),
        ),
    ] {
        if !ok {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                &format!("invalid query parameter {k}"),
            );
        }
    }
    let check_instance = instance.clone();
    let verdict = app
        .state
        .call(move |s| {
            let c = s
                .cluster(Some(&cluster))
                .map_err(|_| "InvalidClusterException")?;
            match s.instances.get(&check_instance) {
                None => Err("InvalidInstanceException"),
                Some(i) if i.cluster_name != c.cluster_name => Err("InvalidInstanceException"),
                Some(i) if i.status == "INACTIVE" => Err("InactiveInstanceException"),
                Some(_) => Ok(()),
            }
        })
        .await;
    match verdict {
        Ok(Ok(())) => {}
        Ok(Err(kind)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                kind,
                "the container instance cannot connect",
            );
        }
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServerException",
                &e.message,
            );
        }
    }
    let info = VersionInfo {
        agent_version: query.get("agentVersion").cloned(),
        agent_hash: query.get("agentHash").cloned(),
        docker_version: query
            .get("dockerVersion")
            .map(|v| v.trim_start_matches("DockerVersion: ").to_string()),
    };
    let send_credentials = query.get("sendCredentials").is_some_and(|v| v == "true");
    ws.on_upgrade(move |socket| session(app, socket, instance, info, send_credentials))
}

/// Accepts telemetry frames: container health (`PublishHealthRequest`) goes into the tasks
/// ([`crate::health`]); metrics are dropped (none are emulated yet).
async fn telemetry_sink(app: Arc<AppState>, mut socket: WebSocket, instance: String) {
    while let Some(Ok(msg)) = socket.recv().await {
        match msg {
            Message::Close(_) => break,
            Message::Text(text) => {
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if frame.get("type").and_then(Value::as_str) == Some("PublishHealthRequest") {
                    let message = frame.get("message").cloned().unwrap_or(Value::Null);
                    let instance = instance.clone();
                    let _ = app
                        .state
                        .call(move |s| crate::health::apply(s, &instance, &message))
                        .await;
                }
            }
            _ => {}
        }
    }
}

async fn session(
    app: Arc<AppState>,
    socket: WebSocket,
    instance: String,
    info: VersionInfo,
    send_credentials: bool,
) {
    let arn = instance.clone();
    let mut wake = app.state.subscribe();
    let now = crate::api::now_secs();
    if app
        .state
        .call(move |s| {
            s.agent_connected(&arn, info);
            // A connected agent can take tasks: services waiting for capacity may place now.
            s.schedule_services(now);
            // A (re)started agent asks once for the credentials of the tasks it runs.
            if send_credentials {
                crate::roles::resend_all(s, &arn, now);
            }
        })
        .await
        .is_err()
    {
        return;
    }
    tracing::info!(container_instance = %instance, "agent connected");
    let (mut tx, mut rx) = socket.split();
    let mut sent: HashSet<String> = HashSet::new();
    let mut heartbeat = tokio::time::interval(app.heartbeat_interval);
    heartbeat.tick().await;
    let mut flush = true;
    loop {
        if flush {
            flush = false;
            let arn = instance.clone();
            let Ok(pending) = app
                .state
                .call(move |s| s.outbox.get(&arn).cloned().unwrap_or_default())
                .await
            else {
                break;
            };
            // Forget ids the agent has acked, so the set stays as small as the outbox.
            sent.retain(|id| pending.iter().any(|m| &m.message_id == id));
            let mut failed = false;
            for m in pending {
                if sent.insert(m.message_id.clone())
                    && tx.send(Message::Text(m.frame.into())).await.is_err()
                {
                    failed = true;
                    break;
                }
            }
            if failed {
                break;
            }
        }
        tokio::select! {
            () = app.shutdown.cancelled() => {
                let _ = tx.send(Message::Close(None)).await;
                break;
            }
            w = wake.recv() => match w {
                Ok(a) if a == instance => flush = true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => flush = true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                let frame = json!({
                    "type": "HeartbeatMessage",
                    "message": { "healthy": true, "messageId": uuid::Uuid::new_v4().to_string() }
                });
                if tx.send(Message::Text(frame.to_string().into())).await.is_err() {
                    break;
                }
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(text))) => handle_inbound(&app, &instance, &text).await,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let arn = instance.clone();
    let _ = app.state.call(move |s| s.agent_disconnected(&arn)).await;
    tracing::info!(container_instance = %instance, "agent disconnected");
}

async fn handle_inbound(app: &AppState, instance: &str, text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        tracing::warn!(container_instance = %instance, "undecodable ACS frame dropped");
        return;
    };
    let kind = frame
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message_id = frame
        .get("message")
        .and_then(|m| m.get("messageId"))
        .and_then(Value::as_str)
        .map(String::from);
    match (kind, message_id) {
        // A credentials ack removes an IAMRoleCredentialsMessage from the outbox; one for a
        // payload's credentials names the payload's id, already acked by its AckRequest.
        ("AckRequest" | "IAMRoleCredentialsAckRequest", Some(id)) => {
            let arn = instance.to_string();
            let _ = app.state.call(move |s| s.ack(&arn, &id)).await;
        }
        ("HeartbeatAckRequest" | "IAMRoleCredentialsAckRequest", _) => {}
        (other, _) => {
            tracing::debug!(container_instance = %instance, frame_type = other, "ACS frame ignored");
        }
    }
}
