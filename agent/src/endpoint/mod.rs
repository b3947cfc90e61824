//! The credentials and task metadata server (reference sections 5 and 6), `127.0.0.1:51679`,
//! which containers reach as `169.254.170.2:80` through the host routing of [`crate::hostsetup`].
//!
//! - `GET /v2/credentials/{id}` and `GET /v1/credentials?id={id}`: task role and execution role
//!   credentials from the [`CredentialsManager`], errors `{"code", "message"}` as the reference.
//! - `GET /v3/{id}` and `/v4/{id}` with `/task`, `/taskWithTags`, `/stats`, `/task/stats`: task
//!   metadata, where `{id}` is the per-container id of [`EndpointIds`].
//! - Every request first takes a token from the per-address [`ratelimit::RateLimiter`]
//!   (`ECS_TASK_METADATA_RPS_LIMIT`), else 429. Credentials requests go to the [`audit`] log.
//!
//! What it must not do: list credentials or ids, log a secret, or block on the engine while
//! serving credentials (they come from the manager's map alone).

pub mod audit;
pub mod metadata;
pub mod ratelimit;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ecs_protocol::acs::RoleType;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::control::TagsError;
use crate::credentials::{CredentialsManager, Lookup};
use crate::engine::EngineHandle;
use crate::runtime::ContainerRuntime;
use crate::state::TaskRecord;
use crate::task_env::ids::EndpointIds;
use audit::{AuditEntry, AuditLog};
use metadata::{TaskContext, Version};
use ratelimit::RateLimiter;

/// The reference's listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:51679";

/// Read and write timeout of a request (the reference's 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `taskWithTags` gets tags: ECS's ListTagsForResource ([`crate::control::api::EcsApi`]),
/// or a fake in tests.
pub trait TagSource: Send + Sync {
    /// The tags of a task or container instance.
    fn tags<'a>(
        &'a self,
        resource_arn: &'a str,
    ) -> crate::runtime::BoxFuture<'a, Result<BTreeMap<String, String>, TagsError>>;
}

impl TagSource for crate::control::EcsApi {
    fn tags<'a>(
        &'a self,
        resource_arn: &'a str,
    ) -> crate::runtime::BoxFuture<'a, Result<BTreeMap<String, String>, TagsError>> {
        Box::pin(self.list_tags(resource_arn))
    }
}

/// Where task metadata comes from.
#[derive(Clone)]
pub struct MetadataSource {
    /// The engine, once it runs.
    pub engine: watch::Receiver<Option<EngineHandle>>,
    /// Docker, for inspect and stats.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// Per-container ids.
    pub ids: EndpointIds,
    /// Configured cluster.
    pub cluster: String,
    /// `EC2` or `EXTERNAL`.
    pub launch_type: &'static str,
    /// ECS tags, once the agent has an ECS client.
    pub tags: watch::Receiver<Option<Arc<dyn TagSource>>>,
    /// The container instance ARN once registered.
    pub instance_arn: watch::Receiver<Option<String>>,
    /// The metrics collector once it runs (not with `ECS_DISABLE_METRICS=true`): `/stats` answers
    /// its newest document, and asks Docker only for containers it has none of yet.
    pub stats: watch::Receiver<Option<crate::stats::StatsHandle>>,
}

impl std::fmt::Debug for MetadataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataSource")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// What the server serves.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Credentials by id.
    pub credentials: CredentialsManager,
    /// `None`: no limit.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Credentials audit log.
    pub audit: AuditLog,
    /// `None`: metadata paths answer 404 (benchmarks, unit tests).
    pub metadata: Option<MetadataSource>,
}

/// Which credentials API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CredsVersion {
    V1,
    V2,
}

impl CredsVersion {
    fn prefix(self) -> &'static str {
        match self {
            Self::V1 => "CredentialsV1Request",
            Self::V2 => "CredentialsV2Request",
        }
    }
}

/// Every error the server answers.
#[derive(Debug, thiserror::Error)]
enum EndpointError {
    #[error("You have reached maximum request limit.")]
    RateLimited,
    #[error("{}: No Credential ID in the request", .0.prefix())]
    NoId(CredsVersion),
    #[error("{}: Credentials not found", .0.prefix())]
    InvalidId(CredsVersion),
    #[error("{}: Credentials uninitialized for ID", .0.prefix())]
    Uninitialized(CredsVersion),
    #[error("{prefix}: {1}", prefix = .0.prefix())]
    Internal(CredsVersion, String),
    #[error("{handler}: {what}")]
    MetadataNotFound { handler: &'static str, what: String },
    #[error("{handler}: {what}")]
    MetadataInternal { handler: &'static str, what: String },
}

impl EndpointError {
    fn status(&self) -> StatusCode {
        match self {
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::NoId(_) | Self::InvalidId(_) => StatusCode::BAD_REQUEST,
            Self::Uninitialized(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(..) | Self::MetadataInternal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MetadataNotFound { .. } => StatusCode::NOT_FOUND,
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            Self::NoId(_) => Some("NoIdInRequest"),
            Self::InvalidId(_) => Some("InvalidIdInRequest"),
            Self::Uninitialized(_) => Some("CredentialsUninitialized"),
            Self::Internal(..) => Some("InternalServerError"),
            Self::RateLimited | Self::MetadataNotFound { .. } | Self::MetadataInternal { .. } => {
                None
            }
        }
    }
}

impl IntoResponse for EndpointError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self.code() {
            Some(code) => json!({ "code": code, "message": self.to_string() }),
            None => json!(self.to_string()),
        };
        json_response(status, body.to_string())
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The router (exposed for in-process tests and benchmarks).
pub fn router(endpoint: Endpoint) -> Router {
    let state = Arc::new(endpoint);
    let metadata_routes = |v: &'static str| {
        Router::new()
            .route(&format!("/{v}/{{id}}"), get(container_md))
            .route(&format!("/{v}/{{id}}/task"), get(task_md))
            .route(&format!("/{v}/{{id}}/taskWithTags"), get(task_with_tags_md))
            .route(&format!("/{v}/{{id}}/stats"), get(container_stats))
            .route(&format!("/{v}/{{id}}/task/stats"), get(task_stats))
    };
    Router::new()
        .route("/v2/credentials/{id}", get(credentials_v2))
        .route("/v2/credentials", get(credentials_v2_no_id))
        .route("/v2/credentials/", get(credentials_v2_no_id))
        .route("/v1/credentials", get(credentials_v1))
        .merge(metadata_routes("v3"))
        .merge(metadata_routes("v4"))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), limit))
        .with_state(state)
}

async fn limit(
    State(s): State<Arc<Endpoint>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(l) = &s.limiter
        && !l.allow(addr.ip(), Instant::now())
    {
        return EndpointError::RateLimited.into_response();
    }
    // The reference's 5 s handler deadline (metadata waits on Docker; credentials never wait).
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => EndpointError::MetadataInternal {
            handler: "task metadata handler",
            what: format!("no answer within {REQUEST_TIMEOUT:?}"),
        }
        .into_response(),
    }
}

/// Serves until `shutdown`, then lets open requests finish.
///
/// HTTP/1.1 through hyper directly rather than `axum::serve`, for two settings the reference's Go
/// server has: a 5 s limit on reading a request head, and answering a client that half-closes its
/// side after sending the request (`printf 'GET ...' | nc 169.254.170.2 80`), which hyper by
/// default treats as a closed connection.
pub async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(endpoint);
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, client) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(client));
                    tower::ServiceExt::oneshot(app.clone(), request.map(Body::new))
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, connection).await;
                }
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, connections.wait()).await;
    Ok(())
}

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn credentials_answer(
    s: &Endpoint,
    version: CredsVersion,
    id: Option<&str>,
    client: SocketAddr,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let mut entry = AuditEntry {
        status: 200,
        client,
        path: audit::redact_path(path),
        user_agent: user_agent(headers),
        task_arn: None,
        event_type: audit::GET_CREDENTIALS_INVALID_ROLE_TYPE,
    };
    let result = match id.filter(|i| !i.is_empty()) {
        None => Err(EndpointError::NoId(version)),
        Some(id) => match s.credentials.get(id) {
            Lookup::Unknown => Err(EndpointError::InvalidId(version)),
            Lookup::Uninitialized { task_arn } => {
                entry.task_arn = Some(task_arn);
                Err(EndpointError::Uninitialized(version))
            }
            Lookup::Ready(c) => {
                entry.task_arn = Some(c.task_arn.clone());
                entry.event_type = match c.role_type {
                    RoleType::TaskExecution => audit::GET_CREDENTIALS_EXECUTION_ROLE,
                    _ => audit::GET_CREDENTIALS,
                };
                serde_json::to_string(&json!({
                    "RoleArn": c.role_arn,
                    "AccessKeyId": c.access_key_id,
                    "SecretAccessKey": c.secret_access_key,
                    "Token": c.session_token,
                    "Expiration": c.expiration,
                }))
                .map_err(|e| EndpointError::Internal(version, e.to_string()))
            }
        },
    };
    let response = match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.into_response(),
    };
    entry.status = response.status().as_u16();
    s.audit.log(entry).await;
    response
}

async fn credentials_v2(
    State(s): State<Arc<Endpoint>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let path = request.uri().path().to_string();
    credentials_answer(&s, CredsVersion::V2, Some(&id), client, &path, &headers).await
}

async fn credentials_v2_no_id(
    State(s): State<Arc<Endpoint>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    credentials_answer(
        &s,
        CredsVersion::V2,
        None,
        client,
        "/v2/credentials",
        &headers,
    )
    .await
}

async fn credentials_v1(
    State(s): State<Arc<Endpoint>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    credentials_answer(
        &s,
        CredsVersion::V1,
        q.get("id").map(String::as_str),
        client,
        "/v1/credentials",
        &headers,
    )
    .await
}

/// The version from the request path (`/v3/...` or `/v4/...`).
fn version_of(request: &Request<Body>) -> Version {
    if request.uri().path().starts_with("/v3/") {
        Version::V3
    } else {
        Version::V4
    }
}

fn handler_name(v: Version, what: &'static str) -> &'static str {
    match (v, what) {
        (Version::V3, "container") => "V3 container metadata handler",
        (Version::V3, "task") => "V3 task metadata handler",
        (Version::V3, _) => "V3 stats handler",
        (Version::V4, "container") => "V4 container metadata handler",
        (Version::V4, "task") => "V4 task metadata handler",
        (Version::V4, _) => "V4 stats handler",
    }
}

/// The task and container index an endpoint id names.
async fn find(
    s: &Endpoint,
    id: &str,
    handler: &'static str,
) -> Result<(MetadataSource, TaskRecord, usize), EndpointError> {
    let not_found = || EndpointError::MetadataNotFound {
        handler,
        what: format!("unable to get task arn from request: unknown endpoint id {id}"),
    };
    let md = s.metadata.clone().ok_or_else(not_found)?;
    let engine = md.engine.borrow().clone().ok_or_else(not_found)?;
    for record in engine.snapshot().await {
        if let Some(i) = record
            .containers
            .iter()
            .position(|c| md.ids.id(record.arn(), &c.name) == id)
        {
            return Ok((md, record, i));
        }
    }
    Err(not_found())
}

async fn inspect(
    md: &MetadataSource,
    r: &TaskRecord,
    i: usize,
) -> Option<crate::runtime::ContainerInfo> {
    let id = r.containers[i].docker_id.as_deref()?;
    md.runtime.inspect(id).await.ok().flatten()
}

async fn container_md(
    State(s): State<Arc<Endpoint>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, EndpointError> {
    let v = version_of(&request);
    let (md, r, i) = find(&s, &id, handler_name(v, "container")).await?;
    let info = inspect(&md, &r, i).await;
    let body = metadata::container_response(v, &r, i, info.as_ref());
    Ok(json_response(StatusCode::OK, body.to_string()))
}

async fn task_body(s: &Endpoint, id: &str, v: Version, tags: bool) -> Result<Value, EndpointError> {
    let (md, r, _) = find(s, id, handler_name(v, "task")).await?;
    let mut containers = Vec::with_capacity(r.containers.len());
    for i in 0..r.containers.len() {
        let info = inspect(&md, &r, i).await;
        containers.push(metadata::container_response(v, &r, i, info.as_ref()));
    }
    let ctx = TaskContext {
        cluster: &md.cluster,
        launch_type: md.launch_type,
    };
    let tags = if tags {
        Some(lookup_tags(&md, r.arn()).await)
    } else {
        None
    };
    Ok(metadata::task_response(
        v,
        &r,
        &ctx,
        containers,
        tags.as_ref(),
    ))
}

/// The container instance's and the task's tags, both asked at once. A failure is logged with
/// the ARN and becomes an `Errors` entry of the answer, as in the reference.
async fn lookup_tags(md: &MetadataSource, task_arn: &str) -> metadata::TagLookup {
    let source = md.tags.borrow().clone();
    let instance_arn = md.instance_arn.borrow().clone().unwrap_or_default();
    let ask = |arn: String| {
        let source = source.clone();
        async move {
            let result = match &source {
                Some(s) => s.tags(&arn).await,
                None => Err(TagsError {
                    code: None,
                    message: "the agent has not registered yet".into(),
                    status: None,
                    request_id: None,
                }),
            };
            if let Err(e) = &result {
                tracing::warn!(resource_arn = %arn, error = %e, "task metadata: cannot get tags");
            }
            (arn, result)
        }
    };
    let (instance, task) = tokio::join!(ask(instance_arn), ask(task_arn.to_string()));
    metadata::TagLookup { instance, task }
}

async fn task_md(
    State(s): State<Arc<Endpoint>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, EndpointError> {
    let body = task_body(&s, &id, version_of(&request), false).await?;
    Ok(json_response(StatusCode::OK, body.to_string()))
}

async fn task_with_tags_md(
    State(s): State<Arc<Endpoint>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, EndpointError> {
    let body = task_body(&s, &id, version_of(&request), true).await?;
    Ok(json_response(StatusCode::OK, body.to_string()))
}

async fn stats_of(
    md: &MetadataSource,
    r: &TaskRecord,
    i: usize,
    handler: &'static str,
) -> Result<Value, EndpointError> {
    let Some(docker_id) = r.containers[i].docker_id.as_deref() else {
        return Ok(Value::Null);
    };
    let collector = md.stats.borrow().clone();
    if let Some(stats) = collector
        && let Some(document) = stats.document(docker_id).await
    {
        return Ok(document);
    }
    md.runtime
        .stats(docker_id)
        .await
        .map(|s| s.unwrap_or(Value::Null))
        .map_err(|e| EndpointError::MetadataInternal {
            handler,
            what: format!("unable to get stats for container {docker_id}: {e}"),
        })
}

async fn container_stats(
    State(s): State<Arc<Endpoint>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, EndpointError> {
    let handler = handler_name(version_of(&request), "stats");
    let (md, r, i) = find(&s, &id, handler).await?;
    let body = stats_of(&md, &r, i, handler).await?;
    Ok(json_response(StatusCode::OK, body.to_string()))
}

async fn task_stats(
    State(s): State<Arc<Endpoint>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, EndpointError> {
    let handler = handler_name(version_of(&request), "stats");
    let (md, r, _) = find(&s, &id, handler).await?;
    // Docker takes about a second per sample: ask for every container at once.
    let samples = futures_util::future::join_all(
        (0..r.containers.len()).map(|i| stats_of(&md, &r, i, handler)),
    )
    .await;
    let mut out = serde_json::Map::new();
    for (c, stats) in r.containers.iter().zip(samples) {
        if let Some(docker_id) = &c.docker_id {
            out.insert(docker_id.clone(), stats.unwrap_or(Value::Null));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        Value::Object(out).to_string(),
    ))
}

/// Store key of the metadata id secret.
pub const META_ENDPOINT_SECRET: &str = "metadata-endpoint-secret";

/// The credentials manager and metadata ids for this run: ids under the secret saved in the
/// store (created on first run), and the ids of saved tasks' credentials expected, so that they
/// answer 503 until ACS resends them.
pub fn task_iam(store: &crate::state::Store) -> Result<crate::credentials::TaskIam, String> {
    let secret = match store
        .meta(META_ENDPOINT_SECRET)
        .map_err(|e| e.to_string())?
    {
        Some(hex) => hex,
        None => {
            let hex = EndpointIds::random_secret_hex();
            store
                .set_meta(META_ENDPOINT_SECRET, &hex)
                .map_err(|e| e.to_string())?;
            hex
        }
    };
    let ids = EndpointIds::from_hex(&secret)
        .ok_or_else(|| format!("{META_ENDPOINT_SECRET} in the state file is malformed"))?;
    let credentials = CredentialsManager::new();
    for record in store.load_tasks().map_err(|e| e.to_string())? {
        credentials.expect_task(&record.task);
    }
    Ok(crate::credentials::TaskIam { credentials, ids })
}

/// Everything [`start`] needs from the agent.
#[allow(missing_debug_implementations)] // holds the ECS client
pub struct StartParams<'a> {
    /// The configuration (rate limit, audit log, cluster, launch type).
    pub config: &'a ecs_config::Config,
    /// Listen address (default [`DEFAULT_LISTEN`]).
    pub listen: Option<String>,
    /// Credentials and ids.
    pub task_iam: &'a crate::credentials::TaskIam,
    /// The container instance ARN once registered (audit lines).
    pub instance_arn: watch::Receiver<Option<String>>,
    /// The engine once it runs.
    pub engine: watch::Receiver<Option<EngineHandle>>,
    /// The ECS client once it exists, for `taskWithTags`.
    pub tags: watch::Receiver<Option<Arc<dyn TagSource>>>,
    /// The metrics collector once it runs.
    pub stats: watch::Receiver<Option<crate::stats::StatsHandle>>,
}

/// Binds the server and returns the future that serves until `shutdown`.
pub async fn start(
    params: StartParams<'_>,
    runtime: Arc<dyn ContainerRuntime>,
    shutdown: CancellationToken,
) -> Result<impl std::future::Future<Output = ()> + use<>, (String, String)> {
    let config = params.config;
    let listen = params.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| (listen.clone(), "not an address".to_string()))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| (listen.clone(), e.to_string()))?;
    let rps = config.task_metadata_rps_limit.value;
    let instance_arn_for_tags = params.instance_arn.clone();
    let audit = if config.audit_logfile_disabled.value {
        AuditLog::disabled()
    } else {
        AuditLog::start(
            &audit::AuditFile::from_config(config),
            config.cluster.value.clone(),
            params.instance_arn,
            shutdown.clone(),
        )
        .unwrap_or_else(|e| {
            tracing::warn!(path = %config.audit_logfile.value.display(), error = %e, "cannot open the audit log; credentials requests are not audited");
            AuditLog::disabled()
        })
    };
    let endpoint = Endpoint {
        credentials: params.task_iam.credentials.clone(),
        limiter: Some(Arc::new(RateLimiter::new(rps.steady, rps.burst))),
        audit,
        metadata: Some(MetadataSource {
            engine: params.engine,
            runtime,
            ids: params.task_iam.ids.clone(),
            cluster: config.cluster.value.clone(),
            launch_type: if config.external.value {
                "EXTERNAL"
            } else {
                "EC2"
            },
            tags: params.tags,
            instance_arn: instance_arn_for_tags,
            stats: params.stats,
        }),
    };
    tracing::info!(address = %listener.local_addr().map_or(listen, |a| a.to_string()), "task credentials and metadata server listening");
    Ok(async move {
        if let Err(e) = serve(listener, endpoint, shutdown).await {
            tracing::error!(error = %e, "task credentials and metadata server failed");
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
