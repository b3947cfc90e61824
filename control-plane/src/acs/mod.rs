//! The ACS websocket (and TCS, [`tcs`], on the same path): the signed upgrade, then per connection
//! one loop that sends the instance's unacknowledged payloads, heartbeats, and reads acks. A close
//! frame from the agent is answered with one before the connection ends.
//!
//! Payloads stay in the instance's persisted outbox until the agent acks them, so a reconnect (or an
//! emulator restart) resends exactly what was not acknowledged.

mod tcs;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::Query;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ecs_protocol::acs::{
    AckRequest, AcsFrame, AcsMessage, ExceptionMessage, HeartbeatMessage,
    IamRoleCredentialsAckRequest,
};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::ecs::model::VersionInfo;
use crate::ecs::state::StateHandle;
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, Authenticator, Input, Output, Protocol, Refusal, RequestContext, Service, ServiceInfo,
};

/// Bytes read from an agent's websocket at a time (larger frames are read in several).
const READ_BUFFER: usize = 8 << 10;

/// An ACS session ends when nothing came from its agent for this many heartbeat intervals (the
/// agent acks each heartbeat), and never sooner than [`SILENCE_FLOOR`]. Without it a partitioned
/// agent (packets dropped, no reset) would stay `agentConnected` until TCP gave up, many minutes
/// later.
const SILENT_HEARTBEATS: u32 = 3;

/// The shortest silence that ends an ACS session (tests run with 1 s heartbeats).
const SILENCE_FLOOR: Duration = Duration::from_secs(30);

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
    /// Where TCS metrics go.
    metrics: Arc<crate::cloudwatch::tcs_metrics::MetricsStore>,
    heartbeat_interval: Duration,
    shutdown: CancellationToken,
    /// Verifies the signature of each TCS frame (the front's, which verified the upgrade).
    auth: Authenticator,
    /// The open ACS sessions, so that the admin interface can drop them. A lock because sessions
    /// come and go from their own tasks; it is held for an insert, a remove or a scan.
    sessions: Mutex<Sessions>,
}

/// The open ACS sessions: each one's instance and the token that ends it.
#[derive(Debug, Default)]
struct Sessions {
    next_id: u64,
    live: HashMap<u64, (String, CancellationToken)>,
}

/// An open session's entry in [`Sessions`], removed when the session ends.
struct Registered<'a> {
    app: &'a Inner,
    id: u64,
    dropped: CancellationToken,
}

impl<'a> Registered<'a> {
    fn new(app: &'a Inner, instance: &str) -> Self {
        let dropped = CancellationToken::new();
        let mut sessions = app.sessions();
        sessions.next_id += 1;
        let id = sessions.next_id;
        sessions
            .live
            .insert(id, (instance.to_string(), dropped.clone()));
        Registered { app, id, dropped }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.app.sessions().live.remove(&self.id);
    }
}

impl Inner {
    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // Single inserts and removes: a panic leaves a consistent map.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Acs {
    /// ACS and TCS over the ECS state actor, sending heartbeats every `heartbeat_interval` and
    /// verifying TCS frames with `auth`, recording TCS metrics into `metrics`; sessions close
    /// when `shutdown` is cancelled.
    pub fn new(
        state: StateHandle,
        metrics: Arc<crate::cloudwatch::tcs_metrics::MetricsStore>,
        heartbeat_interval: Duration,
        shutdown: CancellationToken,
        auth: Authenticator,
    ) -> Self {
        Acs {
            inner: Arc::new(Inner {
                state,
                metrics,
                heartbeat_interval,
                shutdown,
                auth,
                sessions: Mutex::default(),
            }),
        }
    }

    /// Closes the open ACS sessions of `container_instance_arn` (every one when `None`) with a
    /// close frame, as ACS does when it moves a connection; the agents reconnect. Returns how
    /// many were closed.
    pub fn drop_sessions(&self, container_instance_arn: Option<&str>) -> usize {
        let sessions = self.inner.sessions();
        let mut n = 0;
        for (instance, dropped) in sessions.live.values() {
            if container_instance_arn.is_none_or(|a| a == instance) && !dropped.is_cancelled() {
                dropped.cancel();
                n += 1;
            }
        }
        n
    }
}

/// Which ACS exception a refused upgrade answers with: a constructor of [`AcsMessage`]
/// (`AcsMessage::BadRequestException`, ...).
type Exception = fn(ExceptionMessage) -> AcsMessage;

/// The body of a refused upgrade: the ACS exception envelope, `{"type": "<Exception>",
/// "message": {"message": "..."}}`.
fn exception_body(kind: Exception, message: &str) -> String {
    // An exception body is one string: encoding it cannot fail.
    kind(ExceptionMessage::new(message))
        .encode()
        .unwrap_or_default()
}

fn refuse(status: StatusCode, kind: Exception, message: &str) -> Response {
    (status, exception_body(kind, message)).into_response()
}

/// A heartbeat frame with a fresh id.
fn heartbeat_frame(message_id: String) -> String {
    AcsMessage::HeartbeatMessage(HeartbeatMessage {
        healthy: Some(true),
        message_id: Some(message_id),
    })
    .encode()
    // Two plain members: encoding cannot fail.
    .unwrap_or_default()
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
        refuse(
            StatusCode::FORBIDDEN,
            AcsMessage::AccessDeniedException,
            &e.message,
        )
    }

    fn error(&self, _request_id: &str, e: ApiError) -> Response {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            AcsMessage::ServerException,
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
            AcsMessage::BadRequestException,
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
        // Each frame is signed for this very target.
        let target = parts.uri.clone();
        return ws.on_upgrade(move |socket| tcs::session(app, socket, instance, target));
    }
    let (Some(cluster), Some(instance)) = (
        query.get("clusterArn").cloned(),
        query.get("containerInstanceArn").cloned(),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            AcsMessage::BadRequestException,
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
                AcsMessage::BadRequestException,
                &format!("invalid query parameter {k}"),
            );
        }
    }
    let check_instance = instance.clone();
    let verdict = app
        .state
        .call(move |s| -> Result<(), Exception> {
            let c = s
                .cluster(Some(&cluster))
                .map_err(|_| AcsMessage::InvalidClusterException as Exception)?;
            match s.instances.get(&check_instance) {
                None => Err(AcsMessage::InvalidInstanceException),
                Some(i) if i.cluster_name != c.cluster_name => {
                    Err(AcsMessage::InvalidInstanceException)
                }
                Some(i) if i.status == "INACTIVE" => Err(AcsMessage::InactiveInstanceException),
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
                AcsMessage::ServerException,
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
    let registered = Registered::new(&app, &instance);
    let (mut tx, mut rx) = socket.split();
    let mut sent: HashSet<String> = HashSet::new();
    let mut heartbeat = tokio::time::interval(app.heartbeat_interval);
    heartbeat.tick().await;
    let silence_limit = (app.heartbeat_interval * SILENT_HEARTBEATS).max(SILENCE_FLOOR);
    let silence = tokio::time::sleep(silence_limit);
    tokio::pin!(silence);
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
            () = registered.dropped.cancelled() => {
                tracing::info!(container_instance = %instance, "ACS session dropped by the admin interface");
                let _ = tx.send(Message::Close(None)).await;
                break;
            }
            w = wake.changed() => match w {
                Ok(()) => flush = true,
                // The state actor is gone.
                Err(_) => break,
            },
            _ = heartbeat.tick() => {
                let frame = heartbeat_frame(uuid::Uuid::new_v4().to_string());
                if tx.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            () = &mut silence => {
                tracing::info!(container_instance = %instance, silence = ?silence_limit, "nothing from the agent; ending its ACS session");
                break;
            }
            msg = rx.next() => {
                if let Some(Ok(_)) = &msg {
                    silence
                        .as_mut()
                        .reset(tokio::time::Instant::now() + silence_limit);
                }
                match msg {
                    Some(Ok(Message::Text(text))) => handle_inbound(&app, &instance, &text).await,
                    Some(Ok(Message::Close(_))) => {
                        // The websocket library queued the answer (echoing the agent's code) when it
                        // read the close; closing our half sends it.
                        let _ = tx.close().await;
                        break;
                    }
                    Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
    drop(registered);
    let arn = instance.clone();
    let _ = app.state.call(move |s| s.agent_disconnected(&arn)).await;
    tracing::info!(container_instance = %instance, "agent disconnected");
}

/// What an inbound ACS frame asks of the emulator.
#[derive(Debug, PartialEq, Eq)]
enum Inbound {
    /// Remove this message from the instance's outbox.
    Ack(String),
    /// A heartbeat ack, or an ack without a message id: nothing to do.
    Nothing,
    /// A frame the emulator does not act on, by its wire `type`.
    Ignored(String),
}

/// Decodes one inbound text frame into what it asks. Pure.
fn parse_inbound(text: &str) -> Result<Inbound, ecs_protocol::DecodeError> {
    Ok(match AcsFrame::decode(text)? {
        // A credentials ack removes an IAMRoleCredentialsMessage from the outbox; one for a
        // payload's credentials names the payload's id, already acked by its AckRequest.
        AcsFrame::Known(
            AcsMessage::AckRequest(AckRequest {
                message_id: Some(id),
                ..
            })
            | AcsMessage::IamRoleCredentialsAckRequest(IamRoleCredentialsAckRequest {
                message_id: Some(id),
                ..
            }),
        ) => Inbound::Ack(id),
        AcsFrame::Known(
            AcsMessage::HeartbeatAckRequest(_) | AcsMessage::IamRoleCredentialsAckRequest(_),
        ) => Inbound::Nothing,
        other => Inbound::Ignored(other.type_name().to_string()),
    })
}

async fn handle_inbound(app: &Inner, instance: &str, text: &str) {
    match parse_inbound(text) {
        Ok(Inbound::Ack(id)) => {
            let arn = instance.to_string();
            let _ = app.state.call(move |s| s.ack(&arn, &id)).await;
        }
        Ok(Inbound::Nothing) => {}
        Ok(Inbound::Ignored(kind)) => {
            tracing::debug!(container_instance = %instance, frame_type = %kind, "ACS frame ignored");
        }
        Err(e) => {
            tracing::warn!(container_instance = %instance, error = %e, "undecodable ACS frame dropped");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn json_of(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn heartbeat_frame_shape() {
        assert_eq!(
            json_of(&heartbeat_frame("hb-1".into())),
            json!({"type": "HeartbeatMessage", "message": {"healthy": true, "messageId": "hb-1"}})
        );
    }

    #[test]
    fn refused_upgrade_body_shape() {
        assert_eq!(
            json_of(&exception_body(
                AcsMessage::InactiveInstanceException,
                "the container instance cannot connect"
            )),
            json!({
                "type": "InactiveInstanceException",
                "message": {"message": "the container instance cannot connect"}
            })
        );
        assert_eq!(
            json_of(&exception_body(AcsMessage::AccessDeniedException, "no"))["type"],
            "AccessDeniedException"
        );
    }

    #[test]
    fn acks_name_the_message_to_remove() {
        assert_eq!(
            parse_inbound(
                r#"{"type":"AckRequest","message":{"cluster":"default","containerInstance":"ci","messageId":"m-1"}}"#
            )
            .unwrap(),
            Inbound::Ack("m-1".into())
        );
        assert_eq!(
            parse_inbound(
                r#"{"type":"IAMRoleCredentialsAckRequest","message":{"messageId":"m-2","credentialsId":"c","expiration":"2030-01-01T00:00:00Z"}}"#
            )
            .unwrap(),
            Inbound::Ack("m-2".into())
        );
    }

    #[test]
    fn heartbeat_acks_and_acks_without_an_id_do_nothing() {
        for text in [
            r#"{"type":"HeartbeatAckRequest","message":{"messageId":"hb-1"}}"#,
            r#"{"type":"IAMRoleCredentialsAckRequest","message":{"credentialsId":"c"}}"#,
        ] {
            assert_eq!(parse_inbound(text).unwrap(), Inbound::Nothing, "{text}");
        }
    }

    #[test]
    fn other_frames_are_ignored_by_type_and_garbage_is_an_error() {
        assert_eq!(
            parse_inbound(r#"{"type":"AckRequest","message":{}}"#).unwrap(),
            Inbound::Ignored("AckRequest".into())
        );
        assert_eq!(
            parse_inbound(r#"{"type":"SomethingNew","message":{"x":1}}"#).unwrap(),
            Inbound::Ignored("SomethingNew".into())
        );
        assert!(parse_inbound("not json").is_err());
        assert!(parse_inbound(r#"{"type":"AckRequest","message":{"messageId":5}}"#).is_err());
    }
}
