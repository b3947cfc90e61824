//! The control module against servers: a scripted in-process ECS/ACS server (axum) for the
//! session's rules, and the real `ecs-control-plane` binary for the whole path (registration,
//! ACS payloads and acks across restarts, state change reports).
//!
//! The binary is looked for next to this test executable (`target/<profile>/ecs-control-plane`,
//! or `ECS_CONTROL_PLANE_BIN`); build it with `cargo build -p ecs-control-plane`. Without it the
//! control-plane test says so and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::Router;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ecs_agent::control::{
    AcsEvent, AcsExit, AcsParams, ApiVersion, ControlError, EcsApi, EcsApiOptions, HostResources,
    Registration, Timers, capabilities, run_acs,
};
use ecs_agent::retry::{BackoffPolicy, Jitter, RetryPolicy};
use ecs_agent::state_change::{ContainerChange, NetworkBinding, TaskStateChange};
use ecs_config::{Config, Sources};
use ecs_protocol::{BackendStatus, TransportProtocol};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const INSTANCE: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/abc123";
const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/default";
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Agent-side helpers
// ---------------------------------------------------------------------------------------------

fn config(endpoint: &str) -> Config {
    let env: BTreeMap<String, String> = [
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("ECS_BACKEND_HOST", endpoint),
        ("ECS_CLUSTER", "default"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ecs_config::load(&Sources {
        env,
        ..Sources::default()
    })
    .into_result()
    .unwrap()
}

fn example_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
}

fn api(endpoint: &str) -> EcsApi {
    EcsApi::with_options(
        &config(endpoint),
        EcsApiOptions {
            credentials: Some(example_credentials()),
            register_retry: RetryPolicy {
                backoff: BackoffPolicy {
                    initial: Duration::from_millis(10),
                    max: Duration::from_millis(40),
                    multiplier: 2.0,
                    jitter: Jitter::Add(0.2),
                },
                deadline: Some(Duration::from_secs(5)),
                ..RetryPolicy::REGISTER
            },
            sdk_max_attempts: 1,
            ..EcsApiOptions::default()
        },
    )
    .unwrap()
}

fn fast_timers() -> Timers {
    Timers {
        handshake_timeout: Duration::from_secs(5),
        inactivity_timeout: Duration::from_secs(30),
        inactivity_jitter: Duration::ZERO,
        max_connection: Duration::from_secs(3600),
        max_connection_jitter: Duration::ZERO,
        reconnect: BackoffPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            multiplier: 1.5,
            jitter: Jitter::Add(0.2),
        },
        backoff_reset_after: Duration::from_secs(3600),
        write_timeout: Duration::from_secs(5),
    }
}

/// A running session and its events.
struct Session {
    events: mpsc::Receiver<AcsEvent>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<AcsExit, ControlError>>,
}

impl Session {
    fn start(api: EcsApi, instance_arn: &str, timers: Timers) -> Self {
        let params = AcsParams {
            timers,
            ..AcsParams::new(api, "default", instance_arn, "20.10.24")
        };
        let (tx, events) = mpsc::channel(64);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_acs(params, tx, shutdown.clone()));
        Session {
            events,
            shutdown,
            task,
        }
    }

    async fn next(&mut self) -> AcsEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("no ACS event in time")
            .expect("the session ended")
    }

    async fn expect_connected(&mut self) {
        match self.next().await {
            AcsEvent::Connected { .. } => {}
            other => panic!("expected Connected, got {other:?}"),
        }
    }

    async fn expect_disconnected(&mut self) -> String {
        match self.next().await {
            AcsEvent::Disconnected { reason } => reason,
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }

    async fn expect_payload(
        &mut self,
    ) -> (
        ecs_protocol::acs::PayloadMessage,
        tokio::sync::oneshot::Sender<bool>,
    ) {
        match self.next().await {
            AcsEvent::Payload { message, reply } => (message, reply),
            other => panic!("expected a payload, got {other:?}"),
        }
    }

    /// Nothing but heartbeat-free silence for `d`: no event at all.
    async fn expect_quiet(&mut self, d: Duration) {
        if let Ok(Some(ev)) = tokio::time::timeout(d, self.events.recv()).await {
            panic!("unexpected event {ev:?}");
        }
    }

    async fn stop(self) -> Result<AcsExit, ControlError> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("run_acs did not stop")
            .unwrap()
    }

    async fn ended(self) -> Result<AcsExit, ControlError> {
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("run_acs did not end")
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// A scripted ECS + ACS server
// ---------------------------------------------------------------------------------------------

/// One websocket connection as the test sees it.
struct Conn {
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    to_agent: mpsc::UnboundedSender<WsMessage>,
    from_agent: mpsc::UnboundedReceiver<String>,
}

impl Conn {
    fn send(&self, frame: Value) {
        self.to_agent
            .send(WsMessage::Text(frame.to_string().into()))
            .unwrap();
    }

    async fn next_frame(&mut self) -> Value {
        let text = tokio::time::timeout(WAIT, self.from_agent.recv())
            .await
            .expect("no frame from the agent in time")
            .expect("the connection closed");
        serde_json::from_str(&text).unwrap()
    }

    /// Sends a heartbeat and expects its ack as the very next frame.
    async fn heartbeat(&mut self, id: &str) {
        self.send(
            json!({"type": "HeartbeatMessage", "message": {"healthy": true, "messageId": id}}),
        );
        assert_eq!(
            self.next_frame().await,
            json!({"type": "HeartbeatAckRequest", "message": {"messageId": id}})
        );
    }

    /// Waits until the agent closes this connection.
    async fn closed(&mut self) {
        loop {
            match tokio::time::timeout(WAIT, self.from_agent.recv()).await {
                Ok(None) => return,
                Ok(Some(_)) => {}
                Err(_) => panic!("the agent did not close the connection"),
            }
        }
    }
}

#[derive(Default)]
struct Script {
    /// Answers to the next ECS API calls other than DiscoverPollEndpoint: (status, body).
    answers: VecDeque<(u16, Value)>,
    /// Refuse upgrades with (status, body).
    refuse: Option<(u16, Value)>,
    /// Calls received: (operation, body).
    calls: Vec<(String, Value)>,
}

struct ServerState {
    addr: SocketAddr,
    conns: mpsc::UnboundedSender<Conn>,
    /// Test script; a lock because axum handlers and the test share it briefly.
    script: Mutex<Script>,
}

struct FakeServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    conns: mpsc::UnboundedReceiver<Conn>,
    stop: CancellationToken,
}

impl FakeServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, conns) = mpsc::unbounded_channel();
        let state = Arc::new(ServerState {
            addr,
            conns: tx,
            script: Mutex::default(),
        });
        let app = Router::new()
            .route("/", post(api_call))
            .route("/ws", get(upgrade))
            .with_state(Arc::clone(&state));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await
                .unwrap();
        });
        FakeServer {
            addr,
            state,
            conns,
            stop,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.state.script.lock().unwrap()
    }

    async fn accept(&mut self) -> Conn {
        tokio::time::timeout(WAIT, self.conns.recv())
            .await
            .expect("the agent did not connect in time")
            .unwrap()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn api_call(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let answer = {
        let mut script = state.script.lock().unwrap();
        script.calls.push((op.clone(), body));
        if op == "DiscoverPollEndpoint" {
            (200, json!({"endpoint": format!("http://{}", state.addr)}))
        } else {
            script.answers.pop_front().unwrap_or((
                500,
                json!({"__type": "ServerException", "message": "unscripted"}),
            ))
        }
    };
    let (status, body) = answer;
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response();
    if let Some(kind) = body.get("__type").and_then(Value::as_str) {
        response
            .headers_mut()
            .insert("x-amzn-errortype", kind.parse().unwrap());
    }
    response
}

async fn upgrade(
    State(state): State<Arc<ServerState>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some((status, body)) = state.script.lock().unwrap().refuse.clone() {
        return (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
    }
    ws.on_upgrade(move |socket| pump(state, socket, query, headers))
}

async fn pump(
    state: Arc<ServerState>,
    mut socket: WebSocket,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
) {
    let (to_agent, mut outbox) = mpsc::unbounded_channel();
    let (inbox, from_agent) = mpsc::unbounded_channel();
    let _ = state.conns.send(Conn {
        query,
        headers,
        to_agent,
        from_agent,
    });
    loop {
        tokio::select! {
            out = outbox.recv() => match out {
                Some(msg) => {
                    let close = matches!(msg, WsMessage::Close(_));
                    if socket.send(msg).await.is_err() || close {
                        // After a close frame, wait for the agent's answer.
                        if close {
                            while let Some(Ok(m)) = socket.recv().await {
                                if matches!(m, WsMessage::Close(_)) { break; }
                            }
                        }
                        return;
                    }
                }
                // The test dropped the connection: end abruptly, no close frame.
                None => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(WsMessage::Text(text))) => { let _ = inbox.send(text.to_string()); }
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

fn payload(id: &str) -> Value {
    json!({"type": "PayloadMessage", "message": {
        "messageId": id,
        "clusterArn": CLUSTER_ARN,
        "containerInstanceArn": INSTANCE,
        "seqNum": 1,
        "generatedAt": 1795317300,
        "tasks": [{"arn": format!("arn:aws:ecs:us-east-1:123456789012:task/default/{id}"),
                   "family": "f", "version": "1", "desiredStatus": "RUNNING", "containers": []}]
    }})
}

// ---------------------------------------------------------------------------------------------
// Session rules against the scripted server
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn heartbeats_and_payloads_are_answered_as_the_reference_agent_does() {
    let mut server = FakeServer::start().await;
    let mut session = Session::start(api(&server.endpoint()), INSTANCE, fast_timers());
    let mut conn = server.accept().await;
    session.expect_connected().await;

    // The query and the signature.
    let q = &conn.query;
    assert_eq!(q["clusterArn"], "default");
    assert_eq!(q["containerInstanceArn"], INSTANCE);
    assert_eq!(q["sendCredentials"], "true");
    assert_eq!(q["seqNum"], "1");
    assert_eq!(q["protocolVersion"], "2");
    assert_eq!(q["dockerVersion"], "DockerVersion: 20.10.24");
    assert_eq!(q["agentVersion"], ecs_agent::control::AGENT_VERSION);
    assert_eq!(q["agentHash"], ecs_agent::control::AGENT_HASH);
    // The User-Agent of the reference's ECS calls, naming this agent (Go's websocket sends Go's).
    let ua = conn.headers["user-agent"].to_str().unwrap();
    assert!(
        ua.starts_with("Amazon ECS Agent - v1.105.0 (")
            && ua.contains(") (+http://aws.amazon.com/ecs/) ecs-agent-rs/"),
        "{ua}"
    );
    let auth = conn.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/"))
            && auth.contains("/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, "),
        "{auth}"
    );
    assert!(conn.headers.contains_key("x-amz-date"));
    assert_eq!(
        server.script().calls.first().map(|c| c.0.as_str()),
        Some("DiscoverPollEndpoint")
    );

    conn.heartbeat("hb-1").await;

    // Handled: acked with the cluster and instance the message named.
    conn.send(payload("p-1"));
    let (message, reply) = session.expect_payload().await;
    assert_eq!(message.message_id.as_deref(), Some("p-1"));
    assert_eq!(message.tasks().len(), 1);
    reply.send(true).unwrap();
    assert_eq!(
        conn.next_frame().await,
        json!({"type": "AckRequest", "message": {
            "cluster": CLUSTER_ARN, "containerInstance": INSTANCE, "messageId": "p-1"}})
    );

    // Not handled (false, or the reply dropped): no ack. The next frame is a heartbeat's ack.
    conn.send(payload("p-2"));
    let (_, reply) = session.expect_payload().await;
    reply.send(false).unwrap();
    conn.send(payload("p-3"));
    let (_, reply) = session.expect_payload().await;
    drop(reply);
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.heartbeat("hb-2").await;

    // An invalid payload never reaches the handler; unknown and odd frames are skipped.
    let mut invalid = payload("p-4");
    invalid["message"]["messageId"] = json!("");
    conn.send(invalid);
    conn.send(json!({"type": "SomeFutureMessage", "message": {"x": 1}}));
    conn.to_agent
        .send(WsMessage::Text("not json".into()))
        .unwrap();
    conn.send(json!({"type": "ErrorMessage", "message": {"message": "meh"}}));
    conn.send(json!({"type": "ServerException", "message": {"message": "meh"}}));
    conn.heartbeat("hb-3").await;
    session.expect_quiet(Duration::from_millis(200)).await;

    assert_eq!(session.stop().await.unwrap(), AcsExit::Shutdown);
    conn.closed().await;
}

#[tokio::test]
async fn agent_update_requests_are_refused_with_the_reason_ecs_updates_enabled_gives() {
    fn update(kind: &str, id: &str) -> Value {
        json!({"type": kind, "message": {
            "messageId": id, "clusterArn": CLUSTER_ARN, "containerInstanceArn": INSTANCE,
            "updateInfo": {"location": "https://s3.amazonaws.com/agent.tar", "signature": "abc"}}})
    }
    fn nack(id: &str, reason: &str) -> Value {
        json!({"type": "NackRequest", "message": {
            "cluster": CLUSTER_ARN, "containerInstance": INSTANCE, "messageId": id,
            "reason": reason}})
    }
    for (enabled, stage_reason, perform_reason) in [
        (false, "Updates are disabled", "Updates are disabled"),
        (
            true,
            "Unable to download: ecs-agent is updated through its package, not by ECS",
            "Cannot perform update; update not downloaded",
        ),
    ] {
        let mut server = FakeServer::start().await;
        let params = AcsParams {
            timers: fast_timers(),
            updates_enabled: enabled,
            ..AcsParams::new(api(&server.endpoint()), "default", INSTANCE, "20.10.24")
        };
        let (tx, events) = mpsc::channel(64);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_acs(params, tx, shutdown.clone()));
        let session = Session {
            events,
            shutdown,
            task,
        };
        let mut conn = server.accept().await;
        let mut session = session;
        session.expect_connected().await;
        conn.send(update("StageUpdateMessage", "s-1"));
        assert_eq!(conn.next_frame().await, nack("s-1", stage_reason));
        conn.send(update("PerformUpdateMessage", "u-1"));
        assert_eq!(conn.next_frame().await, nack("u-1", perform_reason));
        assert_eq!(session.stop().await.unwrap(), AcsExit::Shutdown);
    }
}

#[tokio::test]
async fn reconnects_at_once_after_a_clean_close_and_with_backoff_after_a_drop() {
    let mut server = FakeServer::start().await;
    let mut session = Session::start(api(&server.endpoint()), INSTANCE, fast_timers());
    let conn = server.accept().await;
    session.expect_connected().await;

    // Clean close: reconnect, now without asking for credentials.
    conn.to_agent.send(WsMessage::Close(None)).unwrap();
    let reason = session.expect_disconnected().await;
    assert!(reason.contains("closed by ACS"), "{reason}");
    let conn = server.accept().await;
    session.expect_connected().await;
    assert_eq!(conn.query["sendCredentials"], "false");

    // Abrupt end: reconnect after the backoff.
    drop(conn);
    let reason = session.expect_disconnected().await;
    assert!(reason.contains("connection failed"), "{reason}");
    let mut conn = server.accept().await;
    session.expect_connected().await;
    assert_eq!(conn.query["sendCredentials"], "false");
    conn.heartbeat("hb").await;

    // The poll endpoint was discovered once and then taken from the cache.
    let discoveries = server
        .script()
        .calls
        .iter()
        .filter(|c| c.0 == "DiscoverPollEndpoint")
        .count();
    assert_eq!(discoveries, 1);
    assert_eq!(session.stop().await.unwrap(), AcsExit::Shutdown);
}

#[tokio::test]
async fn silence_closes_the_connection_and_reconnects() {
    let mut server = FakeServer::start().await;
    let timers = Timers {
        inactivity_timeout: Duration::from_millis(1000),
        ..fast_timers()
    };
    let mut session = Session::start(api(&server.endpoint()), INSTANCE, timers);
    let mut conn = server.accept().await;
    session.expect_connected().await;
    // Messages keep it open past the timeout...
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        conn.heartbeat(&format!("hb-{i}")).await;
    }
    // ...silence closes it.
    conn.closed().await;
    let reason = session.expect_disconnected().await;
    assert!(reason.contains("inactivity"), "{reason}");
    let _again = server.accept().await;
    session.expect_connected().await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn connections_are_rotated_periodically() {
    let mut server = FakeServer::start().await;
    let timers = Timers {
        max_connection: Duration::from_millis(300),
        ..fast_timers()
    };
    let mut session = Session::start(api(&server.endpoint()), INSTANCE, timers);
    let mut conn = server.accept().await;
    session.expect_connected().await;
    conn.closed().await;
    assert_eq!(session.expect_disconnected().await, "periodic disconnect");
    let _again = server.accept().await;
    session.expect_connected().await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn an_inactive_instance_ends_the_session() {
    // Refused at the handshake...
    let server = FakeServer::start().await;
    server.script().refuse = Some((
        400,
        json!({"type": "InactiveInstanceException", "message": {"message": "deregistered"}}),
    ));
    let session = Session::start(api(&server.endpoint()), INSTANCE, fast_timers());
    assert_eq!(session.ended().await.unwrap(), AcsExit::InactiveInstance);

    // ...or told during the session.
    let mut server = FakeServer::start().await;
    let mut session = Session::start(api(&server.endpoint()), INSTANCE, fast_timers());
    let conn = server.accept().await;
    session.expect_connected().await;
    conn.send(json!({"type": "InactiveInstanceException", "message": {"message": "gone"}}));
    session.expect_disconnected().await;
    assert_eq!(session.ended().await.unwrap(), AcsExit::InactiveInstance);
}

#[tokio::test]
async fn unretriable_refusals_are_terminal_and_others_are_retried() {
    let server = FakeServer::start().await;
    server.script().refuse = Some((
        400,
        json!({"type": "InvalidInstanceException", "message": {"message": "who?"}}),
    ));
    let session = Session::start(api(&server.endpoint()), INSTANCE, fast_timers());
    let err = session.ended().await.unwrap_err();
    assert!(err.is_terminal(), "{err}");
    assert!(
        err.to_string().contains("InvalidInstanceException"),
        "{err}"
    );

    // A server error at the upgrade is retried until it passes.
    let mut server = FakeServer::start().await;
    server.script().refuse = Some((
        500,
        json!({"type": "ServerException", "message": {"message": "busy"}}),
    ));
    let mut session = Session::start(api(&server.endpoint()), INSTANCE, fast_timers());
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.script().refuse = None;
    let _conn = server.accept().await;
    session.expect_connected().await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_while_disconnected_is_prompt() {
    // Nothing listens: the session keeps retrying until told to stop.
    let session = Session::start(api("http://127.0.0.1:9"), INSTANCE, fast_timers());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(session.stop().await.unwrap(), AcsExit::Shutdown);
}

// ---------------------------------------------------------------------------------------------
// ECS API classification against the scripted server
// ---------------------------------------------------------------------------------------------

fn registration(endpoint: &str) -> Registration {
    let c = config(endpoint);
    Registration::new(
        &c,
        &HostResources {
            cpus: 2,
            memory_mib: 4096,
        },
        capabilities(&c, ApiVersion::new(1, 41)),
        None,
    )
    .unwrap()
}

fn echo(reg: &Registration) -> Value {
    let attributes: Vec<Value> = reg
        .attributes_to_send()
        .iter()
        .map(|a| json!({"name": a.name, "value": a.value}))
        .collect();
    json!({"containerInstance": {"containerInstanceArn": INSTANCE, "attributes": attributes}})
}

#[tokio::test]
async fn registration_retries_transient_errors_and_stops_at_terminal_ones() {
    let server = FakeServer::start().await;
    let reg = registration(&server.endpoint());
    let api = api(&server.endpoint());

    server.script().answers = VecDeque::from([
        (
            500,
            json!({"__type": "ServerException", "message": "later"}),
        ),
        (
            400,
            json!({"__type": "ThrottlingException", "message": "slow down"}),
        ),
        (200, echo(&reg)),
    ]);
    assert_eq!(api.register(&reg).await.unwrap(), INSTANCE);
    let calls: Vec<Value> = server
        .script()
        .calls
        .iter()
        .filter(|c| c.0 == "RegisterContainerInstance")
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(calls.len(), 3);
    // A clientToken (a UUID, as the reference sends) makes the registration idempotent: the same
    // one on every retry of this registration.
    let token = calls[0]["clientToken"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 36, "{token}");
    assert!(calls.iter().all(|c| c["clientToken"] == token.as_str()));
    let body = &calls[0];
    assert_eq!(body["cluster"], "default");
    assert_eq!(body["instanceIdentityDocument"], "");
    assert!(body.get("containerInstanceArn").is_none());
    // The Rust SDK also sends `doubleValue: 0.0, longValue: 0` (and `integerValue: 0` on string
    // sets): its model's primitives always serialize. Compare what the Go agent sends.
    let resources: Vec<Value> = body["totalResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let m = r.as_object_mut().unwrap();
            m.remove("doubleValue");
            m.remove("longValue");
            if m["type"] == "STRINGSET" {
                m.remove("integerValue");
            }
            r
        })
        .collect();
    assert_eq!(
        Value::Array(resources),
        json!([
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
        ])
    );

    for code in [
        "InvalidParameterException",
        "ClientException",
        "AccessDeniedException",
    ] {
        server.script().answers = VecDeque::from([(400, json!({"__type": code, "message": "no"}))]);
        let before = server.script().calls.len();
        let err = api.register(&reg).await.unwrap_err();
        assert!(err.is_terminal(), "{code}: {err}");
        assert!(err.to_string().contains(code), "{err}");
        assert_eq!(
            server.script().calls.len(),
            before + 1,
            "{code} was retried"
        );
    }

    // Each registration has a token of its own.
    let tokens: std::collections::BTreeSet<String> = server
        .script()
        .calls
        .iter()
        .filter(|c| c.0 == "RegisterContainerInstance")
        .map(|c| c.1["clientToken"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tokens.len(), 4, "{tokens:?}");

    // An attribute not echoed is terminal too.
    let mut short = echo(&reg);
    short["containerInstance"]["attributes"]
        .as_array_mut()
        .unwrap()
        .pop();
    server.script().answers = VecDeque::from([(200, short)]);
    let err = api.register(&reg).await.unwrap_err();
    assert!(
        matches!(err, ControlError::AttributeValidation { .. }),
        "{err}"
    );
    assert!(err.is_terminal());

    // Transient errors until the deadline: not terminal, the agent restarts and tries again.
    let impatient = EcsApi::with_options(
        &config(&server.endpoint()),
        EcsApiOptions {
            credentials: Some(example_credentials()),
            register_retry: RetryPolicy {
                backoff: BackoffPolicy {
                    initial: Duration::from_millis(20),
                    max: Duration::from_millis(20),
                    multiplier: 1.0,
                    jitter: Jitter::Add(0.0),
                },
                deadline: Some(Duration::from_millis(100)),
                ..RetryPolicy::REGISTER
            },
            sdk_max_attempts: 1,
            ..EcsApiOptions::default()
        },
    )
    .unwrap();
    server.script().answers.clear();
    let err = impatient.register(&reg).await.unwrap_err();
    assert!(
        matches!(err, ControlError::RetriesExhausted { attempts, .. } if attempts >= 2),
        "{err}"
    );
    assert!(!err.is_terminal());
}

#[tokio::test]
async fn state_changes_map_to_the_wire_and_invalid_ones_are_told_apart() {
    let server = FakeServer::start().await;
    let api = api(&server.endpoint());
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_317_327_066);
    let change = TaskStateChange {
        cluster: "default".into(),
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/default/t1".into(),
        status: BackendStatus::Stopped,
        reason: None,
        containers: vec![ContainerChange {
            name: "web".into(),
            runtime_id: Some("d95dce73".into()),
            status: BackendStatus::Stopped,
            exit_code: Some(137),
            reason: Some("Essential container in task exited".into()),
            network_bindings: vec![NetworkBinding {
                container_port: 53,
                host_port: 32768,
                protocol: TransportProtocol::Udp,
                bind_ip: "0.0.0.0".into(),
            }],
            image_digest: None,
        }],
        pull_started_at: Some(at),
        pull_stopped_at: None,
        execution_stopped_at: Some(at),
    };
    server.script().answers = VecDeque::from([(200, json!({"acknowledgment": "ACK"}))]);
    api.submit_task_state_change(&change).await.unwrap();
    let mut body = server.script().calls.last().unwrap().1.clone();
    for key in ["pullStartedAt", "executionStoppedAt"] {
        let t = body[key].as_f64().unwrap();
        assert!((t - 1_795_317_327.066).abs() < 1e-3, "{key} = {t}");
        body.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(
        body,
        json!({
            "cluster": "default",
            "task": "arn:aws:ecs:us-east-1:123456789012:task/default/t1",
            "status": "STOPPED",
            "reason": "",
            "containers": [{
                "containerName": "web",
                "runtimeId": "d95dce73",
                "status": "STOPPED",
                "exitCode": 137,
                "reason": "Essential container in task exited",
                "networkBindings": [{"bindIP": "0.0.0.0", "containerPort": 53, "hostPort": 32768, "protocol": "udp"}],
            }],
        })
    );

    server.script().answers = VecDeque::from([(
        400,
        json!({"__type": "InvalidParameterException", "message": "bad task"}),
    )]);
    let err = api.submit_task_state_change(&change).await.unwrap_err();
    assert!(
        matches!(&err, ControlError::InvalidParameter(m) if m == "bad task"),
        "{err}"
    );
    assert!(!err.is_terminal());

    server.script().answers = VecDeque::from([(
        500,
        json!({"__type": "ServerException", "message": "later"}),
    )]);
    let err = api.submit_task_state_change(&change).await.unwrap_err();
    assert!(matches!(err, ControlError::Api { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The real control plane
// ---------------------------------------------------------------------------------------------

/// `ecs-control-plane` next to this test's executable (target/<profile>/), or
/// `ECS_CONTROL_PLANE_BIN`.
fn control_plane_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ECS_CONTROL_PLANE_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .map(|dir| dir.join("ecs-control-plane"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulator as a child process, killed (SIGKILL) when dropped; its log is printed if the
/// test fails.
struct ControlPlane {
    child: std::process::Child,
    log: PathBuf,
}

impl ControlPlane {
    async fn start(bin: &Path, port: u16, data_dir: &Path, log: PathBuf) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = std::process::Command::new(bin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--heartbeat-seconds", "1"])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let cp = ControlPlane { child, log };
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the control plane did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cp
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail = &log[log.len().saturating_sub(8000)..];
            eprintln!("--- ecs-control-plane log ---\n{tail}");
        }
    }
}

#[tokio::test]
async fn against_the_real_control_plane() {
    let Some(bin) = control_plane_bin() else {
        eprintln!(
            "SKIPPED: ecs-control-plane is not built next to this test; run `cargo build -p ecs-control-plane` first"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("control-plane.log");
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let cp = ControlPlane::start(&bin, port, &data, log.clone()).await;

    // Register through EcsApi.
    let api = api(&endpoint);
    let reg = registration(&endpoint);
    let arn = api.register(&reg).await.unwrap();
    assert!(arn.starts_with("arn:aws:ecs:us-east-1:"), "{arn}");

    let ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(example_credentials())
            .endpoint_url(&endpoint)
            .build(),
    );
    let described = ecs
        .describe_container_instances()
        .cluster("default")
        .container_instances(&arn)
        .send()
        .await
        .unwrap();
    let instance = &described.container_instances()[0];
    let names: Vec<&str> = instance.attributes().iter().map(|a| a.name()).collect();
    assert!(
        names.contains(&"com.amazonaws.ecs.capability.privileged-container"),
        "{names:?}"
    );
    assert!(
        names.contains(&"com.amazonaws.ecs.capability.docker-remote-api.1.32"),
        "{names:?}"
    );
    let cpu = instance
        .registered_resources()
        .iter()
        .find(|r| r.name() == Some("CPU"))
        .map(|r| r.integer_value());
    assert_eq!(cpu, Some(2048));

    // The ACS session: heartbeats every second keep a 3 s inactivity timeout from firing.
    let timers = Timers {
        inactivity_timeout: Duration::from_secs(3),
        ..fast_timers()
    };
    let mut session = Session::start(api.clone(), &arn, timers);
    session.expect_connected().await;
    session.expect_quiet(Duration::from_secs(4)).await;

    // A task placed by RunTask reaches the handler.
    ecs.register_task_definition()
        .family("web")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("web")
                .image("busybox")
                .cpu(128)
                .memory(64)
                .port_mappings(
                    aws_sdk_ecs::types::PortMapping::builder()
                        .container_port(8080)
                        .host_port(0)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut task_arn = None;
    for _ in 0..50 {
        let out = ecs
            .run_task()
            .cluster("default")
            .task_definition("web")
            .send()
            .await
            .unwrap();
        if let Some(t) = out.tasks().first() {
            task_arn = t.task_arn().map(str::to_string);
            break;
        }
        // The control plane may not have seen the connection yet.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let task_arn = task_arn.expect("RunTask placed nothing");
    let (message, reply) = session.expect_payload().await;
    assert_eq!(message.tasks()[0].arn.as_deref(), Some(task_arn.as_str()));
    // Not handled: not acked, so it comes again after a reconnect.
    reply.send(false).unwrap();

    // Restart the control plane on the same port: the session reconnects and gets it again.
    cp.kill();
    session.expect_disconnected().await;
    let cp = ControlPlane::start(&bin, port, &data, log.clone()).await;
    session.expect_connected().await;
    let (message, reply) = session.expect_payload().await;
    assert_eq!(message.tasks()[0].arn.as_deref(), Some(task_arn.as_str()));
    reply.send(true).unwrap();
    // Give the ack time to be stored, then restart again: nothing is resent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    cp.kill();
    session.expect_disconnected().await;
    let _cp = ControlPlane::start(&bin, port, &data, log.clone()).await;
    session.expect_connected().await;
    session.expect_quiet(Duration::from_secs(3)).await;

    // Report the task RUNNING with its port.
    let now = SystemTime::now();
    api.submit_task_state_change(&TaskStateChange {
        cluster: "default".into(),
        task_arn: task_arn.clone(),
        status: BackendStatus::Running,
        reason: None,
        containers: vec![ContainerChange {
            name: "web".into(),
            runtime_id: Some(format!("{:064x}", 7)),
            status: BackendStatus::Running,
            exit_code: None,
            reason: None,
            network_bindings: vec![NetworkBinding {
                container_port: 8080,
                host_port: 32768,
                protocol: TransportProtocol::Tcp,
                bind_ip: "0.0.0.0".into(),
            }],
            image_digest: None,
        }],
        pull_started_at: Some(now - Duration::from_secs(2)),
        pull_stopped_at: Some(now - Duration::from_secs(1)),
        execution_stopped_at: None,
    })
    .await
    .unwrap();
    let tasks = ecs
        .describe_tasks()
        .cluster("default")
        .tasks(&task_arn)
        .send()
        .await
        .unwrap();
    let task = &tasks.tasks()[0];
    assert_eq!(task.last_status(), Some("RUNNING"));
    assert!(task.pull_started_at().is_some());
    let binding = &task.containers()[0].network_bindings()[0];
    assert_eq!(binding.container_port(), Some(8080));
    assert_eq!(binding.host_port(), Some(32768));
    assert_eq!(
        binding.protocol(),
        Some(&aws_sdk_ecs::types::TransportProtocol::Tcp)
    );

    assert_eq!(session.stop().await.unwrap(), AcsExit::Shutdown);
}
