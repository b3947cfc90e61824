//! The ACS websocket (and a TCS sink on the same path): the signed upgrade, then per connection one
//! loop that sends the instance's unacknowledged payloads, heartbeats, and reads acks.
//!
//! Payloads stay in the instance's persisted outbox until the agent acks them, so a reconnect (or an
//! emulator restart) resends exactly what was not acknowledged.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::Query;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::ecs::model::VersionInfo;
use crate::ecs::state::StateHandle;
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, Input, Output, Protocol, Refusal, RequestContext, Service, ServiceInfo,
};

/// Bytes read from an agent's websocket at a time (larger frames are read in several).
const READ_BUFFER: usize = 8 << 10;

/// The ACS and TCS websockets' path.
pub const PATH: &str = "/ws";

/// The websocket endpoints the agent connects to.
#[derive(Debug, Clone)]
pub struct Acs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: StateHandle,
    heartbeat_interval: Duration,
    shutdown: CancellationToken,
}

impl Acs {
    /// ACS over the ECS state actor, sending heartbeats every `heartbeat_interval`; sessions
    /// close when `shutdown` is cancelled.
    pub fn new(
        state: StateHandle,
        heartbeat_interval: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Acs {
            inner: Arc::new(Inner {
                state,
                heartbeat_interval,
                shutdown,
            }),
        }
    }
}

fn refuse(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        json!({ "type": kind, "message": { "message": message } }).to_string(),
    )
        .into_response()
}

impl Service for Acs {
    fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: "acs",
            signing_name: "ecs",
            protocol: Protocol::RestByPath { path: PATH },
            flavor: Flavor::Standard,
            max_body: 64 << 10,
        }
    }

    fn call(&self, _ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let Input::Http(request) = input else {
                return Err(ApiError::server("ACS takes websocket upgrades."));
            };
            Ok(Output::Http(
                upgrade(Arc::clone(&self.inner), request).await,
            ))
        })
    }

    fn refuse(&self, _request_id: &str, _method: &Method, refusal: Refusal) -> Response {
        let e = refusal.into_error();
        refuse(StatusCode::FORBIDDEN, "AccessDeniedException", &e.message)
    }

    fn error(&self, _request_id: &str, e: ApiError) -> Response {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerException",
            &e.message,
        )
    }
}

/// `GET /ws` (signature already checked by the front): checks the query, then upgrades.
async fn upgrade(app: Arc<Inner>, request: http::Request<axum::body::Bytes>) -> Response {
    let (mut parts, _) = request.into_parts();
    if parts.method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Ok(Query(query)) = Query::<BTreeMap<String, String>>::try_from_uri(&parts.uri) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "the query string is not valid",
        );
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        // Agents send small frames (acks, heartbeats, health): a small read buffer, where the
        // default 128 KiB one is zeroed on every read.
        Ok(ws) => ws.read_buffer_size(READ_BUFFER),
        Err(rejection) => return rejection.into_response(),
    };
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
/// ([`crate::ecs::health`]); metrics are dropped (none are emulated yet).
async fn telemetry_sink(app: Arc<Inner>, mut socket: WebSocket, instance: String) {
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
                        .call(move |s| crate::ecs::health::apply(s, &instance, &message))
                        .await;
                }
            }
            _ => {}
        }
    }
}

async fn session(
    app: Arc<Inner>,
    socket: WebSocket,
    instance: String,
    info: VersionInfo,
    send_credentials: bool,
) {
    let arn = instance.clone();
    let mut wake = app.state.subscribe(&instance);
    let now = crate::front::context::now_secs();
    if app
        .state
        .call(move |s| {
            s.agent_connected(&arn, info);
            // A connected agent can take tasks: services waiting for capacity may place now.
            s.schedule_services(now);
            // A (re)started agent asks once for the credentials of the tasks it runs.
            if send_credentials {
                crate::ecs::roles::resend_all(s, &arn, now);
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
            w = wake.changed() => match w {
                Ok(()) => flush = true,
                // The state actor is gone.
                Err(_) => break,
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

async fn handle_inbound(app: &Inner, instance: &str, text: &str) {
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
