//! The ACS session: one websocket to the Agent Communication Service, kept up for the agent's
//! lifetime (reference section 3).
//!
//! [`run_acs`] discovers the endpoint, opens the SigV4-signed upgrade, answers heartbeats, hands
//! each valid `PayloadMessage` to the task engine as an [`AcsEvent::Payload`] and acks it once the
//! engine replies `true`, and reconnects with the reference agent's timers and backoff. It decides
//! nothing about tasks and keeps no state across connections but the backoff.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use ecs_protocol::acs::{
    AckRequest, AcsFrame, AcsMessage, ExceptionMessage, HeartbeatAckRequest,
    IamRoleCredentialsAckRequest, IamRoleCredentialsMessage, NackRequest, PayloadMessage,
    UpdateMessage,
};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::ControlError;
use super::api::EcsApi;
use crate::retry::{BackoffPolicy, with_jitter};

/// How long the reference agent waits before reconnecting after `InactiveInstanceException`.
pub const INACTIVE_INSTANCE_RECONNECT_DELAY: Duration = Duration::from_secs(3600);

/// Sent as `agentVersion`: the reference release this agent implements (see [`crate::version`]
/// for why not its own version).
pub const AGENT_VERSION: &str = crate::version::REFERENCE_VERSION;

/// Sent as `agentHash`: this agent's own commit, 8 hex digits as the reference sends its own.
pub const AGENT_HASH: &str = crate::version::GIT_HASH;

/// ACS `protocolVersion` of the query.
const PROTOCOL_VERSION: &str = "2";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The session's timers (section 3.2). [`Timers::default`] is the reference agent's; tests
/// shorten them.
#[derive(Debug, Clone, PartialEq)]
pub struct Timers {
    /// Connect and upgrade must finish within this (30 s).
    pub handshake_timeout: Duration,
    /// With no inbound message for this long (plus jitter) the connection is closed and reopened
    /// (1 min).
    pub inactivity_timeout: Duration,
    /// Largest random extra on the inactivity timeout (1 min).
    pub inactivity_jitter: Duration,
    /// A connection is closed normally and reopened after this long (plus jitter) (30 min).
    pub max_connection: Duration,
    /// Largest random extra on the periodic disconnect (5 min).
    pub max_connection_jitter: Duration,
    /// Delays between failed connection attempts (250 ms → 2 min, ×1.5, jitter 0.2).
    pub reconnect: BackoffPolicy,
    /// A connection that stayed up this long resets the reconnect backoff (1 min).
    pub backoff_reset_after: Duration,
    /// Time allowed to write one frame (30 s).
    pub write_timeout: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(60),
            inactivity_jitter: Duration::from_secs(60),
            max_connection: Duration::from_secs(30 * 60),
            max_connection_jitter: Duration::from_secs(5 * 60),
            reconnect: BackoffPolicy::ACS_RECONNECT,
            backoff_reset_after: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// What [`run_acs`] needs.
#[derive(Debug, Clone)]
pub struct AcsParams {
    /// For DiscoverPollEndpoint.
    pub api: Arc<EcsApi>,
    /// The cluster (`clusterArn` of the query; the name is fine).
    pub cluster: String,
    /// This container instance's ARN.
    pub instance_arn: String,
    /// `agentVersion` ([`AGENT_VERSION`] by default).
    pub agent_version: String,
    /// `agentHash` ([`AGENT_HASH`] by default).
    pub agent_hash: String,
    /// The Docker server version, e.g. `20.10.24` (sent as `DockerVersion: 20.10.24`).
    pub docker_version: String,
    /// Credentials that sign the upgrade.
    pub credentials: SharedCredentialsProvider,
    /// Region that signs the upgrade.
    pub region: String,
    /// `sendCredentials=true` on the first connection of this run; the process's first
    /// [`run_acs`] passes `true`, any later one `false` (the reference agent asks once per
    /// process).
    pub send_credentials: bool,
    /// Timers and backoff.
    pub timers: Timers,
    /// `User-Agent` of the ACS and TCS upgrades (the ECS client's, [`crate::version::user_agent`]).
    pub user_agent: String,
    /// `ECS_UPDATES_ENABLED`: which reason refuses ECS's agent update requests (see
    /// [`update_refusal`]).
    pub updates_enabled: bool,
}

impl AcsParams {
    /// Parameters signing with `api`'s credentials and region, this agent's version and hash,
    /// default timers, and `sendCredentials=true` on the first connection.
    pub fn new(
        api: impl Into<Arc<EcsApi>>,
        cluster: impl Into<String>,
        instance_arn: impl Into<String>,
        docker_version: impl Into<String>,
    ) -> Self {
        let api = api.into();
        let user_agent = api.user_agent().to_string();
        Self {
            credentials: api.credentials_provider(),
            region: api.region().to_string(),
            api,
            cluster: cluster.into(),
            instance_arn: instance_arn.into(),
            agent_version: AGENT_VERSION.to_string(),
            agent_hash: AGENT_HASH.to_string(),
            docker_version: docker_version.into(),
            send_credentials: true,
            timers: Timers::default(),
            user_agent,
            updates_enabled: false,
        }
    }
}

/// What the session tells the agent.
#[derive(Debug)]
pub enum AcsEvent {
    /// A connection is up.
    Connected {
        /// The ACS endpoint.
        endpoint: String,
    },
    /// The connection went down (a reconnect follows unless the session ends).
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Tasks to run or stop. Reply `true` once every task is handled (saved and given to the
    /// engine): the message is then acked. `false` (or dropping `reply`) leaves it unacked, and
    /// ACS sends it again on a later connection, so handling must be idempotent by task ARN.
    Payload {
        /// The message, already checked to name a message id, cluster and instance.
        message: PayloadMessage,
        /// Where to say whether it was handled.
        reply: oneshot::Sender<bool>,
    },
    /// Refreshed credentials for a task's role (`IAMRoleCredentialsMessage`). Reply `true` once
    /// stored: the message is then acked with `IAMRoleCredentialsAckRequest`.
    Credentials {
        /// The message (secrets redacted in `Debug`).
        message: IamRoleCredentialsMessage,
        /// Where to say whether they were stored.
        reply: oneshot::Sender<bool>,
    },
}

/// Which agent update request ACS sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStep {
    /// `StageUpdateMessage`: download the update.
    Stage,
    /// `PerformUpdateMessage`: apply the staged update.
    Perform,
}

/// Why this agent refuses an ECS agent update request, as the `NackRequest` it sends; `None`
/// when the request names no message id (ignored, as the reference does).
///
/// With `ECS_UPDATES_ENABLED=false`, the reference's words: "Updates are disabled". With it on,
/// the reference downloads a new agent *container image* for ecs-init to load; this agent is a
/// host binary installed from a package, so it never stages one, and says so. A perform request
/// then finds nothing staged and gets the reference's own answer for that case.
pub fn update_refusal(
    enabled: bool,
    update: &UpdateMessage,
    step: UpdateStep,
) -> Option<NackRequest> {
    let message_id = update.message_id.clone().filter(|id| !id.is_empty())?;
    let reason = match (enabled, step) {
        (false, _) => "Updates are disabled",
        (true, UpdateStep::Stage) => {
            "Unable to download: ecs-agent is updated through its package, not by ECS"
        }
        (true, UpdateStep::Perform) => "Cannot perform update; update not downloaded",
    };
    Some(NackRequest {
        cluster: update.cluster_arn.clone(),
        container_instance: update.container_instance_arn.clone(),
        message_id: Some(message_id),
        reason: Some(reason.to_string()),
    })
}

/// How [`run_acs`] ended, when it ends without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcsExit {
    /// The shutdown token was cancelled.
    Shutdown,
    /// ACS said the instance is deregistered (`InactiveInstanceException`). The reference agent
    /// stops telemetry and waits [`INACTIVE_INSTANCE_RECONNECT_DELAY`] before starting over.
    InactiveInstance,
}

/// Go's `url.QueryEscape`: unreserved characters kept, space as `+`, the rest `%XX`.
pub(super) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The ACS query string (section 3.1), keys sorted and escaped exactly as the reference agent
/// sends them.
pub fn acs_query(
    cluster: &str,
    instance_arn: &str,
    agent_hash: &str,
    agent_version: &str,
    docker_version: &str,
    send_credentials: bool,
) -> String {
    let docker = format!("DockerVersion: {docker_version}");
    let pairs = [
        ("agentHash", agent_hash),
        ("agentVersion", agent_version),
        ("clusterArn", cluster),
        ("containerInstanceArn", instance_arn),
        ("dockerVersion", docker.as_str()),
        ("protocolVersion", PROTOCOL_VERSION),
        (
            "sendCredentials",
            if send_credentials { "true" } else { "false" },
        ),
        ("seqNum", "1"),
    ];
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `<endpoint>/ws?<query>` with `https` → `wss` and `http` → `ws`.
pub fn acs_url(endpoint: &str, query: &str) -> Result<String, ControlError> {
    let base = endpoint.trim().trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if base.starts_with("wss://") || base.starts_with("ws://") {
        base.to_string()
    } else {
        return Err(ControlError::AcsRequest {
            url: endpoint.to_string(),
            reason: "the ACS endpoint is not an http(s) URL".to_string(),
        });
    };
    Ok(format!("{ws}/ws?{query}"))
}

/// The SigV4 headers of a `GET` on websocket `url` for `host` with `body`, signed for `ecs` in
/// `region` at `at`, as the reference signs both the ACS and TCS upgrades (empty body) and every
/// TCS frame (the frame's JSON). The signature covers the HTTP form of the URL; only its path and
/// query enter it.
pub(crate) fn websocket_signature(
    url: &str,
    host: &str,
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    at: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let http_url = if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_string()
    };
    crate::sigv4::signing_headers(
        "GET",
        &http_url,
        &[("host", host)],
        body,
        credentials,
        region,
        "ecs",
        at,
        crate::sigv4::default_settings(),
    )
}

/// The websocket upgrade request for `url`, SigV4-signed at `at` for service `ecs` in `region`:
/// headers `host` and `x-amz-date` (and `x-amz-security-token` with temporary credentials), as
/// the reference agent signs it.
pub fn sign_upgrade(
    url: &str,
    credentials: &Credentials,
    region: &str,
    at: SystemTime,
) -> Result<http::Request<()>, ControlError> {
    let fail = |reason: String| ControlError::AcsRequest {
        url: url.split('?').next().unwrap_or(url).to_string(),
        reason,
    };
    let mut request = url.into_client_request().map_err(|e| fail(e.to_string()))?;
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| fail("no host".to_string()))?;
    let signed = websocket_signature(url, &host, &[], credentials, region, at).map_err(fail)?;
    for (name, value) in signed {
        let name =
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| fail(e.to_string()))?;
        let value = http::HeaderValue::from_str(&value).map_err(|e| fail(e.to_string()))?;
        request.headers_mut().insert(name, value);
    }
    Ok(request)
}

/// Puts `user_agent` on an upgrade request (not signed: SigV4 leaves User-Agent out). The
/// reference's websocket library sends Go's default; this agent names itself, in the form of the
/// reference's ECS API calls.
pub fn set_user_agent(request: &mut http::Request<()>, user_agent: &str) {
    if let Ok(value) = http::HeaderValue::from_str(user_agent) {
        request
            .headers_mut()
            .insert(http::header::USER_AGENT, value);
    }
}

/// Why a connection attempt failed.
enum ConnectError {
    /// Reconnecting cannot help (terminal).
    Refused(ControlError),
    /// The instance is deregistered.
    Inactive(String),
    /// Try again after the backoff.
    Retry(String),
    /// Shutdown requested meanwhile.
    Shutdown,
}

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    /// The server closed cleanly (close frame or EOF): reconnect at once.
    ServerClosed(String),
    /// The periodic disconnect: reconnect at once.
    Rotated,
    /// Nothing heard for too long: reconnect after the backoff.
    Inactivity,
    /// A read or write failed: reconnect after the backoff.
    Broken(String),
    Inactive(String),
    Refused(ControlError),
    HandlerClosed,
}

impl Ended {
    fn reason(&self) -> String {
        match self {
            Self::Shutdown => "shutdown".to_string(),
            Self::ServerClosed(why) => format!("closed by ACS: {why}"),
            Self::Rotated => "periodic disconnect".to_string(),
            Self::Inactivity => "no message from ACS within the inactivity timeout".to_string(),
            Self::Broken(why) => format!("connection failed: {why}"),
            Self::Inactive(why) => format!("instance is inactive: {why}"),
            Self::Refused(e) => e.to_string(),
            Self::HandlerClosed => "the event handler has gone away".to_string(),
        }
    }
}

/// Classifies an ACS exception (handshake body or frame) by its type.
fn exception(kind: &str, body: &ExceptionMessage) -> Option<ConnectError> {
    let message = body.message.clone().unwrap_or_default();
    match kind {
        "InactiveInstanceException" => Some(ConnectError::Inactive(message)),
        "InvalidInstanceException" | "InvalidClusterException" | "AccessDeniedException" => {
            Some(ConnectError::Refused(ControlError::AcsRefused {
                kind: kind.to_string(),
                message,
            }))
        }
        _ => None,
    }
}

/// Keeps the ACS session up until `shutdown`, an inactive instance, or a terminal refusal.
///
/// Events go to `handler` (see [`AcsEvent`]). Returns `Ok(AcsExit::Shutdown)` when cancelled,
/// `Ok(AcsExit::InactiveInstance)` when ACS says the instance is deregistered, and an error for
/// which [`ControlError::is_terminal`] holds when ACS refuses the instance, cluster or
/// credentials, or [`ControlError::HandlerClosed`] when `handler`'s receiver is dropped.
#[tracing::instrument(skip_all, fields(cluster = %params.cluster, instance_arn = %params.instance_arn))]
pub async fn run_acs(
    params: AcsParams,
    handler: mpsc::Sender<AcsEvent>,
    shutdown: CancellationToken,
) -> Result<AcsExit, ControlError> {
    let mut backoff = params.timers.reconnect.start();
    let mut send_credentials = params.send_credentials;
    // A clean close is followed by an immediate reconnect once; a server that keeps closing
    // connections straight away then meets the backoff.
    let mut may_reconnect_at_once = true;
    loop {
        if shutdown.is_cancelled() {
            return Ok(AcsExit::Shutdown);
        }
        let (ws, endpoint) = match connect(&params, send_credentials, &shutdown).await {
            Ok(connected) => connected,
            Err(ConnectError::Shutdown) => return Ok(AcsExit::Shutdown),
            Err(ConnectError::Refused(e)) => {
                tracing::error!(error = %e, "ACS refused the connection");
                return Err(e);
            }
            Err(ConnectError::Inactive(message)) => {
                tracing::warn!(message = %message, "container instance is inactive");
                return Ok(AcsExit::InactiveInstance);
            }
            Err(ConnectError::Retry(reason)) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    reason = %reason,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "cannot connect to ACS"
                );
                if sleep_or_shutdown(delay, &shutdown).await {
                    return Ok(AcsExit::Shutdown);
                }
                continue;
            }
        };
        send_credentials = false;
        tracing::info!(endpoint = %endpoint, "connected to ACS");
        crate::agent_metrics::AGENT.acs_connected.set(1);
        crate::agent_metrics::AGENT.acs_connections.inc();
        if notify(&handler, AcsEvent::Connected { endpoint }, &shutdown)
            .await
            .is_break()
        {
            return stop_reason(&handler);
        }
        let up_since = Instant::now();
        let ended = Connection {
            ws,
            handler: &handler,
            shutdown: &shutdown,
            timers: &params.timers,
            cluster: &params.cluster,
            instance_arn: &params.instance_arn,
            updates_enabled: params.updates_enabled,
        }
        .serve()
        .await;
        let stable = up_since.elapsed() >= params.timers.backoff_reset_after;
        if stable {
            backoff.reset();
            may_reconnect_at_once = true;
        }
        let reason = ended.reason();
        tracing::info!(reason = %reason, "disconnected from ACS");
        crate::agent_metrics::AGENT.acs_connected.set(0);
        if !matches!(ended, Ended::Shutdown | Ended::HandlerClosed)
            && notify(&handler, AcsEvent::Disconnected { reason }, &shutdown)
                .await
                .is_break()
        {
            return stop_reason(&handler);
        }
        let delay = match ended {
            Ended::Shutdown => return Ok(AcsExit::Shutdown),
            Ended::HandlerClosed => return Err(ControlError::HandlerClosed),
            Ended::Inactive(_) => return Ok(AcsExit::InactiveInstance),
            Ended::Refused(e) => return Err(e),
            Ended::Rotated => None,
            Ended::ServerClosed(_) if may_reconnect_at_once => {
                may_reconnect_at_once = false;
                None
            }
            Ended::ServerClosed(_) | Ended::Inactivity | Ended::Broken(_) => {
                Some(backoff.next_delay())
            }
        };
        if let Some(delay) = delay
            && sleep_or_shutdown(delay, &shutdown).await
        {
            return Ok(AcsExit::Shutdown);
        }
    }
}

/// Why a notification could not be delivered: shutdown, or the handler is gone.
fn stop_reason(handler: &mpsc::Sender<AcsEvent>) -> Result<AcsExit, ControlError> {
    if handler.is_closed() {
        Err(ControlError::HandlerClosed)
    } else {
        Ok(AcsExit::Shutdown)
    }
}

/// Sends `event` to the handler; `Break` on shutdown or a closed handler.
async fn notify(
    handler: &mpsc::Sender<AcsEvent>,
    event: AcsEvent,
    shutdown: &CancellationToken,
) -> ControlFlow<()> {
    tokio::select! {
        sent = handler.send(event) => if sent.is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) },
        () = shutdown.cancelled() => ControlFlow::Break(()),
    }
}

/// Sleeps `delay`; `true` if shutdown came first.
async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = shutdown.cancelled() => true,
    }
}

/// DiscoverPollEndpoint, then the signed upgrade.
async fn connect(
    params: &AcsParams,
    send_credentials: bool,
    shutdown: &CancellationToken,
) -> Result<(Ws, String), ConnectError> {
    let attempt = async {
        let endpoint = params
            .api
            .discover_poll_endpoint(&params.cluster, &params.instance_arn)
            .await
            .map_err(|e| ConnectError::Retry(e.to_string()))?;
        let query = acs_query(
            &params.cluster,
            &params.instance_arn,
            &params.agent_hash,
            &params.agent_version,
            &params.docker_version,
            send_credentials,
        );
        let url = acs_url(&endpoint, &query).map_err(|e| ConnectError::Retry(e.to_string()))?;
        let credentials = params
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| {
                ConnectError::Retry(ControlError::Credentials(e.to_string()).to_string())
            })?;
        let mut request = sign_upgrade(&url, &credentials, &params.region, SystemTime::now())
            .map_err(|e| ConnectError::Retry(e.to_string()))?;
        set_user_agent(&mut request, &params.user_agent);
        let ws = match tokio::time::timeout(
            params.timers.handshake_timeout,
            crate::proxy::connect_websocket(params.api.proxies(), request),
        )
        .await
        {
            Err(_) => {
                return Err(ConnectError::Retry(format!(
                    "no websocket handshake within {:?}",
                    params.timers.handshake_timeout
                )));
            }
            Ok(Err(e)) => return Err(handshake_error(e)),
            Ok(Ok((ws, _response))) => ws,
        };
        Ok((ws, endpoint))
    };
    tokio::select! {
        result = attempt => result,
        () = shutdown.cancelled() => Err(ConnectError::Shutdown),
    }
}

/// A failed upgrade: the body may be an ACS exception saying whether to try again.
fn handshake_error(error: tungstenite::Error) -> ConnectError {
    let tungstenite::Error::Http(response) = error else {
        return ConnectError::Retry(error.to_string());
    };
    let status = response.status();
    let body = response
        .body()
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    if let Ok(AcsFrame::Known(message)) = AcsFrame::decode(&body)
        && let Some(e) = message.as_exception()
        && let Some(outcome) = exception(message.type_name(), e)
    {
        return outcome;
    }
    ConnectError::Retry(format!("upgrade refused with HTTP {status}: {body}"))
}

/// One open connection.
struct Connection<'a> {
    ws: Ws,
    handler: &'a mpsc::Sender<AcsEvent>,
    shutdown: &'a CancellationToken,
    timers: &'a Timers,
    cluster: &'a str,
    instance_arn: &'a str,
    updates_enabled: bool,
}

/// A message waiting for the handler's verdict, with the acks to send if it is `true`.
async fn verdict(acks: Vec<AcsMessage>, reply: oneshot::Receiver<bool>) -> (Vec<AcsMessage>, bool) {
    (acks, reply.await.unwrap_or(false))
}

/// The message id an ack answers (for logs).
fn ack_message_id(acks: &[AcsMessage]) -> String {
    match acks.first() {
        Some(AcsMessage::AckRequest(a)) => a.message_id.clone(),
        Some(AcsMessage::IamRoleCredentialsAckRequest(a)) => a.message_id.clone(),
        _ => None,
    }
    .unwrap_or_default()
}

impl Connection<'_> {
    async fn serve(mut self) -> Ended {
        let inactivity = tokio::time::sleep(self.inactivity_timeout());
        tokio::pin!(inactivity);
        let rotate = tokio::time::sleep(with_jitter(
            self.timers.max_connection,
            self.timers.max_connection_jitter,
        ));
        tokio::pin!(rotate);
        let mut pending = FuturesUnordered::new();
        let mut closing: Option<String> = None;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => {
                    self.close().await;
                    return Ended::Shutdown;
                }
                () = &mut rotate => {
                    self.close().await;
                    return Ended::Rotated;
                }
                () = &mut inactivity => {
                    self.close().await;
                    return Ended::Inactivity;
                }
                Some((acks, handled)) = pending.next(), if !pending.is_empty() => {
                    let acks: Vec<AcsMessage> = acks;
                    let message_id = ack_message_id(&acks);
                    if handled {
                        for ack in acks {
                            if let Err(e) = self.send(ack).await {
                                return Ended::Broken(e);
                            }
                        }
                        tracing::debug!(message_id = %message_id, "message acked");
                    } else {
                        tracing::warn!(message_id = %message_id, "message not handled; not acked, ACS will resend it");
                    }
                }
                frame = self.ws.next() => {
                    inactivity.as_mut().reset(Instant::now() + self.inactivity_timeout());
                    match frame {
                        None => return Ended::ServerClosed(closing.unwrap_or_else(|| "end of stream".into())),
                        Some(Err(tungstenite::Error::ConnectionClosed)) => {
                            return Ended::ServerClosed(closing.unwrap_or_else(|| "connection closed".into()));
                        }
                        Some(Err(e)) => return Ended::Broken(e.to_string()),
                        Some(Ok(Message::Text(text))) => {
                            match self.on_text(text.as_str()).await {
                                Ok(Some(reply)) => pending.push(verdict(reply.0, reply.1)),
                                Ok(None) => {}
                                Err(ended) => return ended,
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            // tungstenite answers the close; the stream then ends.
                            closing = Some(frame.map_or_else(
                                || "close frame".to_string(),
                                |f| format!("close frame {}: {}", u16::from(f.code), f.reason.as_str()),
                            ));
                        }
                        Some(Ok(_)) => {}
                    }
                }
            }
        }
    }

    fn inactivity_timeout(&self) -> Duration {
        with_jitter(
            self.timers.inactivity_timeout,
            self.timers.inactivity_jitter,
        )
    }

    /// Handles one text frame. `Ok(Some(..))`: a payload handed to the handler, whose verdict
    /// decides its ack; `Err`: the connection must end.
    async fn on_text(
        &mut self,
        text: &str,
    ) -> Result<Option<(Vec<AcsMessage>, oneshot::Receiver<bool>)>, Ended> {
        let message = match AcsFrame::decode(text) {
            Err(e) => {
                tracing::warn!(error = %e, "undecodable ACS frame ignored");
                return Ok(None);
            }
            Ok(AcsFrame::Unknown(unknown)) => {
                tracing::info!(message_type = %unknown.type_name, "unknown ACS message ignored");
                return Ok(None);
            }
            Ok(AcsFrame::Known(message)) => message,
        };
        match message {
            AcsMessage::HeartbeatMessage(heartbeat) => {
                let ack = HeartbeatAckRequest {
                    message_id: heartbeat.message_id,
                };
                self.send(AcsMessage::HeartbeatAckRequest(ack))
                    .await
                    .map_err(Ended::Broken)?;
                Ok(None)
            }
            AcsMessage::PayloadMessage(payload) => self.on_payload(payload).await,
            AcsMessage::IamRoleCredentialsMessage(refresh) => self.on_credentials(refresh).await,
            AcsMessage::StageUpdateMessage(update) => {
                self.refuse_update(&update, UpdateStep::Stage).await
            }
            AcsMessage::PerformUpdateMessage(update) => {
                self.refuse_update(&update, UpdateStep::Perform).await
            }
            AcsMessage::CloseMessage(close) => {
                tracing::info!(
                    message = close.message.as_deref().unwrap_or(""),
                    "ACS is closing the connection"
                );
                Ok(None)
            }
            AcsMessage::ErrorMessage(error) => {
                tracing::warn!(
                    message = error.message.as_deref().unwrap_or(""),
                    "ACS error message"
                );
                Ok(None)
            }
            other => {
                if let Some(body) = other.as_exception() {
                    match exception(other.type_name(), body) {
                        Some(ConnectError::Inactive(why)) => return Err(Ended::Inactive(why)),
                        Some(ConnectError::Refused(e)) => return Err(Ended::Refused(e)),
                        _ => {
                            tracing::warn!(
                                exception = other.type_name(),
                                message = body.message.as_deref().unwrap_or(""),
                                "ACS exception"
                            );
                            return Ok(None);
                        }
                    }
                }
                tracing::info!(
                    message_type = other.type_name(),
                    "ACS message not handled by this agent; ignored"
                );
                Ok(None)
            }
        }
    }

    /// A `StageUpdateMessage` or `PerformUpdateMessage`: refused with a `NackRequest`.
    async fn refuse_update(
        &mut self,
        update: &UpdateMessage,
        step: UpdateStep,
    ) -> Result<Option<(Vec<AcsMessage>, oneshot::Receiver<bool>)>, Ended> {
        let Some(nack) = update_refusal(self.updates_enabled, update, step) else {
            tracing::warn!("agent update request without messageId ignored");
            return Ok(None);
        };
        tracing::warn!(
            message_id = nack.message_id.as_deref().unwrap_or(""),
            reason = nack.reason.as_deref().unwrap_or(""),
            "agent update request refused"
        );
        self.send(AcsMessage::NackRequest(nack))
            .await
            .map_err(Ended::Broken)?;
        Ok(None)
    }

    /// An `IAMRoleCredentialsMessage`: handed to the handler, acked once stored.
    async fn on_credentials(
        &mut self,
        refresh: IamRoleCredentialsMessage,
    ) -> Result<Option<(Vec<AcsMessage>, oneshot::Receiver<bool>)>, Ended> {
        let creds = refresh.role_credentials.clone().unwrap_or_default();
        let (Some(message_id), Some(credentials_id)) =
            (refresh.message_id.clone(), creds.credentials_id.clone())
        else {
            tracing::warn!("IAMRoleCredentialsMessage without messageId or credentialsId ignored");
            return Ok(None);
        };
        let ack = IamRoleCredentialsAckRequest::new(
            message_id,
            credentials_id,
            creds.expiration.clone().unwrap_or_default(),
        );
        let (reply, verdict) = oneshot::channel();
        let event = AcsEvent::Credentials {
            message: refresh,
            reply,
        };
        match notify(self.handler, event, self.shutdown).await {
            ControlFlow::Continue(()) => Ok(Some((
                vec![AcsMessage::IamRoleCredentialsAckRequest(ack)],
                verdict,
            ))),
            ControlFlow::Break(()) if self.handler.is_closed() => Err(Ended::HandlerClosed),
            ControlFlow::Break(()) => Err(Ended::Shutdown),
        }
    }

    async fn on_payload(
        &mut self,
        payload: PayloadMessage,
    ) -> Result<Option<(Vec<AcsMessage>, oneshot::Receiver<bool>)>, Ended> {
        let present = |s: &Option<String>| s.as_deref().is_some_and(|v| !v.is_empty());
        if !(present(&payload.message_id)
            && present(&payload.cluster_arn)
            && present(&payload.container_instance_arn))
        {
            tracing::warn!(
                message_id = payload.message_id.as_deref().unwrap_or(""),
                "PayloadMessage without messageId, clusterArn or containerInstanceArn ignored"
            );
            return Ok(None);
        }
        let ack = AckRequest {
            cluster: payload.cluster_arn.clone(),
            container_instance: payload.container_instance_arn.clone(),
            message_id: payload.message_id.clone(),
        };
        // As the reference: the ack, then one IAMRoleCredentialsAckRequest per credentials.
        let mut acks = vec![AcsMessage::AckRequest(ack)];
        for task in payload.tasks() {
            for creds in [&task.role_credentials, &task.execution_role_credentials]
                .into_iter()
                .flatten()
            {
                if let Some(id) = &creds.credentials_id {
                    acks.push(AcsMessage::IamRoleCredentialsAckRequest(
                        IamRoleCredentialsAckRequest::new(
                            payload.message_id.clone().unwrap_or_default(),
                            id.clone(),
                            creds.expiration.clone().unwrap_or_default(),
                        ),
                    ));
                }
            }
        }
        tracing::info!(
            message_id = payload.message_id.as_deref().unwrap_or(""),
            tasks = payload.tasks().len(),
            "payload received"
        );
        let (reply, verdict) = oneshot::channel();
        let event = AcsEvent::Payload {
            message: payload,
            reply,
        };
        match notify(self.handler, event, self.shutdown).await {
            ControlFlow::Continue(()) => Ok(Some((acks, verdict))),
            ControlFlow::Break(()) if self.handler.is_closed() => Err(Ended::HandlerClosed),
            ControlFlow::Break(()) => Err(Ended::Shutdown),
        }
    }

    /// Writes one message, within the write timeout.
    async fn send(&mut self, message: AcsMessage) -> Result<(), String> {
        let text = message.encode().map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.timers.write_timeout, self.ws.send(Message::text(text)))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "write took longer than {:?}",
                self.timers.write_timeout
            )),
        }
    }

    /// A normal closure, bounded by the write timeout.
    async fn close(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let closed =
            tokio::time::timeout(self.timers.write_timeout, self.ws.close(Some(frame))).await;
        if !matches!(closed, Ok(Ok(()))) {
            tracing::debug!(
                cluster = self.cluster,
                instance_arn = self.instance_arn,
                "ACS close not completed cleanly"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FIXTURE: &str = include_str!("../../tests/fixtures/ws-upgrade.acs.json");

    fn fixture() -> Value {
        serde_json::from_str(FIXTURE).unwrap()
    }

    #[test]
    fn query_matches_the_reference_agent_byte_for_byte() {
        let f = fixture();
        let q = &f["query"];
        let s = |k: &str| q[k].as_str().unwrap().to_string();
        let query = acs_query(
            &s("clusterArn"),
            &s("containerInstanceArn"),
            &s("agentHash"),
            &s("agentVersion"),
            s("dockerVersion").strip_prefix("DockerVersion: ").unwrap(),
            true,
        );
        assert_eq!(query, f["raw_query"].as_str().unwrap());
        let again = acs_query("c", "i", "h", "v", "d", false);
        assert!(again.contains("sendCredentials=false"), "{again}");
        assert!(again.contains("seqNum=1") && again.contains("protocolVersion=2"));
    }

    #[test]
    fn url_schemes() {
        assert_eq!(
            acs_url("https://ecs-a-1.us-east-1.amazonaws.com/", "a=b").unwrap(),
            "wss://ecs-a-1.us-east-1.amazonaws.com/ws?a=b"
        );
        assert_eq!(
            acs_url("http://127.0.0.1:4566", "a=b").unwrap(),
            "ws://127.0.0.1:4566/ws?a=b"
        );
        assert!(acs_url("ftp://x", "").is_err());
    }

    #[test]
    fn signature_matches_the_recorded_upgrade() {
        let f = fixture();
        let headers = &f["headers"];
        let host = headers["Host"].as_str().unwrap();
        let url = format!("ws://{host}/ws?{}", f["raw_query"].as_str().unwrap());
        // 20261122T031213Z, the recorded X-Amz-Date.
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_317_133);
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let request = sign_upgrade(&url, &creds, "us-east-1", at).unwrap();
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            header("authorization"),
            headers["Authorization"].as_str().unwrap()
        );
        assert_eq!(
            header("x-amz-date"),
            headers["X-Amz-Date"].as_str().unwrap()
        );
        assert_eq!(header("host"), host);
        assert_eq!(header("upgrade"), "websocket");
        assert!(request.headers().get("x-amz-security-token").is_none());
    }

    #[test]
    fn temporary_credentials_sign_the_session_token() {
        let creds = Credentials::new("ASIA1", "secret", Some("token-1".into()), None, "test");
        let request = sign_upgrade(
            "wss://acs.example.com/ws?a=b",
            &creds,
            "us-west-2",
            SystemTime::now(),
        )
        .unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(auth.contains("/us-west-2/ecs/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert_eq!(request.headers()["x-amz-security-token"], "token-1");
        assert_eq!(request.headers()["host"], "acs.example.com");
    }

    #[test]
    fn handshake_exceptions_are_classified() {
        let refused = |kind: &str| {
            let body = format!(r#"{{"type":"{kind}","message":{{"message":"no"}}}}"#);
            let response = http::Response::builder()
                .status(400)
                .body(Some(body.into_bytes()))
                .unwrap();
            handshake_error(tungstenite::Error::Http(Box::new(response)))
        };
        assert!(matches!(
            refused("InactiveInstanceException"),
            ConnectError::Inactive(_)
        ));
        for kind in [
            "InvalidInstanceException",
            "InvalidClusterException",
            "AccessDeniedException",
        ] {
            match refused(kind) {
                ConnectError::Refused(e) => {
                    assert!(e.is_terminal() && e.to_string().contains(kind))
                }
                _ => panic!("{kind} should be terminal"),
            }
        }
        assert!(matches!(refused("ServerException"), ConnectError::Retry(_)));
        assert!(matches!(
            handshake_error(tungstenite::Error::ConnectionClosed),
            ConnectError::Retry(_)
        ));
    }

    #[test]
    fn default_timers_are_the_reference_agents() {
        let t = Timers::default();
        assert_eq!(t.inactivity_timeout, Duration::from_secs(60));
        assert_eq!(t.max_connection, Duration::from_secs(1800));
        assert_eq!(t.reconnect, BackoffPolicy::ACS_RECONNECT);
        assert_eq!(t.handshake_timeout, Duration::from_secs(30));
    }
}
