//! The HTTP front: one listener, AWS JSON 1.1 dispatch on `X-Amz-Target` for `POST /`, and the
//! websocket upgrade on `GET /ws`; S3 (REST-XML, any path) is recognised by its SigV4 credential
//! scope before routing and handed to `s3.rs`. Protocol decoding (headers, signature, body) lives here; the
//! operations behind it are in `ecs.rs`, `ecr.rs`, `logs.rs`, `ssm.rs` and `secretsmanager.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::sigv4::{self, Flavor, KeyLookup, SecretKey, VerifyOptions};
use crate::state::{StateHandle, decode};

const ECS_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

/// The account's access keys (and, later, temporary ones issued by the emulator's STS).
#[derive(Debug, Clone, Default)]
pub struct Keys {
    keys: std::collections::BTreeMap<String, SecretKey>,
}

impl Keys {
    /// Keys with one long-term pair.
    pub fn new(access_key_id: &str, secret: &str) -> Self {
        let mut keys = std::collections::BTreeMap::new();
        keys.insert(
            access_key_id.to_string(),
            SecretKey {
                secret: secret.to_string(),
                session_token: None,
            },
        );
        Keys { keys }
    }
}

impl KeyLookup for Keys {
    fn secret_for(&self, access_key_id: &str) -> Option<SecretKey> {
        self.keys.get(access_key_id).cloned()
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The state actor.
    pub state: StateHandle,
    /// The CloudWatch Logs actor.
    pub logs: crate::logs::LogsHandle,
    /// The SSM Parameter Store and Secrets Manager actor.
    pub vault: crate::vault::VaultHandle,
    /// Accepted keys.
    pub keys: Keys,
    /// The emulated account id (fixed for the process; no need to ask the state actor).
    pub account_id: String,
    /// Allowed clock skew for signatures (`None` disables the check).
    pub max_skew: Option<Duration>,
    /// Interval between ACS heartbeats.
    pub heartbeat_interval: Duration,
    /// Base URL to hand out in DiscoverPollEndpoint; `None` derives it from the request's Host.
    pub advertise_url: Option<String>,
    /// Stops websockets on shutdown.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The emulated ECR, when enabled.
    pub ecr: Option<Arc<crate::ecr::Ecr>>,
    /// The emulated S3's actor.
    pub s3: crate::s3_store::S3Handle,
    /// The emulated region (new buckets' default region).
    pub region: String,
}

/// The router for every API. S3 requests are taken out before routing, by the service of
/// their SigV4 credential scope: their paths (`/<bucket>/<key>`, `GET /`, even a bucket named
/// `ws`) overlap the other routes.
pub fn router(app: Arc<AppState>) -> Router {
    let others = Router::new()
        .route("/", any(aws_json))
        .route("/ws", get(crate::acs::upgrade))
        .with_state(Arc::clone(&app));
    Router::new()
        .fallback_service(others)
        .layer(axum::middleware::from_fn_with_state(app, route_s3))
}

async fn route_s3(
    AxState(app): AxState<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if sigv4::scope_service(request.headers()).as_deref() == Some("s3") {
        return crate::s3::handle(app, request).await;
    }
    next.run(request).await
}

/// Seconds since the epoch, as AWS JSON timestamps carry them.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn json_response(status: axum::http::StatusCode, body: &Value, error: Option<&str>) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(e) = error.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert("x-amzn-errortype", e);
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self, "message")
    }
}

/// An AWS JSON error answer. Services differ in the member that carries the text: `message`
/// for most, `Message` for Secrets Manager (botocore's model and the service's answers).
fn error_response(e: &ApiError, message_member: &str) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("__type".into(), json!(e.code.as_str()));
    body.insert(message_member.into(), json!(e.message));
    json_response(e.code.status(), &Value::Object(body), Some(e.code.as_str()))
}

/// The error message member of the service `headers` target.
fn message_member(headers: &HeaderMap) -> &'static str {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target.starts_with(crate::secretsmanager::TARGET_PREFIX) {
        "Message"
    } else {
        "message"
    }
}

/// Why [`authenticate_as`] refused a request, before it is put in a service's error format.
#[derive(Debug)]
pub enum AuthFailure {
    /// The signature (or its header) is wrong, or the key unknown.
    Signature(sigv4::AuthError),
    /// A correctly signed request with temporary credentials past their expiry.
    Expired,
    /// The state actor could not be asked about temporary keys.
    Unavailable(ApiError),
}

impl From<AuthFailure> for ApiError {
    fn from(e: AuthFailure) -> Self {
        match e {
            AuthFailure::Signature(e) => e.into(),
            AuthFailure::Expired => ApiError::new(
                ErrorCode::ExpiredTokenException,
                "The security token included in the request is expired",
            ),
            AuthFailure::Unavailable(e) => e,
        }
    }
}

/// Verifies the signature of a request against the account's keys and the temporary keys STS
/// issued, and returns who signed it.
pub async fn authenticate(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<crate::sts::CallerIdentity, ApiError> {
    authenticate_as(app, method, uri, headers, body, Flavor::Standard)
        .await
        .map_err(ApiError::from)
}

/// As [`authenticate`], canonicalising the request as `flavor` says (S3 signs differently).
pub async fn authenticate_as(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    flavor: Flavor,
) -> Result<crate::sts::CallerIdentity, AuthFailure> {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let access_key_id = sigv4::access_key_id(headers).unwrap_or_default();
    let now = now_secs();
    let account = &app.account_id;
    let (secret, identity) = match app.keys.secret_for(&access_key_id) {
        Some(secret) => (
            Some(secret),
            crate::sts::CallerIdentity {
                access_key_id: access_key_id.clone(),
                arn: format!("arn:aws:iam::{account}:root"),
                user_id: account.to_string(),
            },
        ),
        None => {
            let ak = access_key_id.clone();
            let temp = app
                .state
                .call(move |s| s.temp_keys.get(&ak).cloned())
                .await
                .map_err(AuthFailure::Unavailable)?;
            match temp {
                Some(k) => {
                    if k.expiration < now {
                        // Verify first so an unsigned guess learns nothing, then refuse.
                        let one = single_key(&k);
                        sigv4::verify(
                            &one,
                            method.as_str(),
                            path_and_query,
                            headers,
                            body,
                            options(app, flavor),
                        )
                        .map_err(AuthFailure::Signature)?;
                        return Err(AuthFailure::Expired);
                    }
                    let secret = SecretKey {
                        secret: k.secret_access_key.clone(),
                        session_token: Some(k.session_token.clone()),
                    };
                    (
                        Some(secret),
                        crate::sts::CallerIdentity {
                            access_key_id: k.access_key_id.clone(),
                            arn: k.arn.clone(),
                            user_id: k.user_id.clone(),
                        },
                    )
                }
                None => (
                    None,
                    crate::sts::CallerIdentity {
                        access_key_id: access_key_id.clone(),
                        arn: String::new(),
                        user_id: String::new(),
                    },
                ),
            }
        }
    };
    let mut keys = std::collections::BTreeMap::new();
    if let Some(secret) = secret {
        keys.insert(access_key_id, secret);
    }
    sigv4::verify(
        &keys,
        method.as_str(),
        path_and_query,
        headers,
        body,
        options(app, flavor),
    )
    .map_err(AuthFailure::Signature)?;
    Ok(identity)
}

fn single_key(k: &crate::sts::TempKey) -> std::collections::BTreeMap<String, SecretKey> {
    let mut m = std::collections::BTreeMap::new();
    m.insert(
        k.access_key_id.clone(),
        SecretKey {
            secret: k.secret_access_key.clone(),
            session_token: Some(k.session_token.clone()),
        },
    );
    m
}

fn options(app: &AppState, flavor: Flavor) -> VerifyOptions {
    VerifyOptions {
        now: SystemTime::now(),
        max_skew: app.max_skew,
        flavor,
    }
}

/// The wire protocol of a `POST /`, decided before anything else so errors come back in its format.
enum Protocol {
    /// AWS JSON 1.1 with `X-Amz-Target`.
    Json,
    /// Query protocol (STS): form body, XML answers.
    Query,
}

fn protocol(headers: &HeaderMap) -> Protocol {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form && headers.get("x-amz-target").is_none() {
        Protocol::Query
    } else {
        Protocol::Json
    }
}

async fn aws_json(
    AxState(app): AxState<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Protocol::Query = protocol(&headers) {
        return query_protocol(&app, &method, &uri, &headers, &body).await;
    }
    match handle(&app, &method, &uri, &headers, &body).await {
        Ok(v) => json_response(axum::http::StatusCode::OK, &v, None),
        Err(e) => {
            tracing::debug!(code = e.code.as_str(), message = %e.message, "request refused");
            error_response(&e, message_member(&headers))
        }
    }
}

async fn query_protocol(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let result = async {
        let caller = authenticate(app, method, uri, headers, body).await?;
        let form: std::collections::BTreeMap<String, String> = serde_urlencoded::from_bytes(body)
            .map_err(|e| {
            ApiError::new(
                ErrorCode::ValidationError,
                format!("malformed form body: {e}"),
            )
        })?;
        let now = now_secs();
        app.state
            .call(move |s| crate::sts::handle(s, &caller, &form, now))
            .await?
    }
    .await;
    let (status, xml) = match result {
        Ok(xml) => (axum::http::StatusCode::OK, xml),
        Err(e) => (e.code.status(), crate::sts::error_xml(&e)),
    };
    let mut resp = (status, xml).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

async fn handle(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    if method != Method::POST {
        return Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            "Only POST is supported on /.",
        ));
    }
    let caller = authenticate(app, method, uri, headers, body).await?;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(op) = target.strip_prefix(crate::logs::TARGET_PREFIX) {
        return app.logs.call(op, body, (now_secs() * 1000.0) as i64).await;
    }
    let vault_service = if let Some(op) = target.strip_prefix(crate::ssm::TARGET_PREFIX) {
        Some((crate::vault::Service::Ssm, op))
    } else {
        target
            .strip_prefix(crate::secretsmanager::TARGET_PREFIX)
            .map(|op| (crate::vault::Service::SecretsManager, op))
    };
    if let Some((service, op)) = vault_service {
        // Bodies and answers carry secret values: only the operation is logged.
        tracing::debug!(service = ?service, operation = op, "secrets request");
        let caller = crate::ssm::Caller { arn: caller.arn };
        return app.vault.call(service, op, body, now_secs(), caller).await;
    }
    if let Some(op) = target.strip_prefix(crate::ecr::ECR_PREFIX) {
        tracing::debug!(operation = op, "ecr request");
        return match &app.ecr {
            Some(ecr) => ecr.handle(op, body).await,
            None => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                "ECR is not enabled on this emulator (start it with --ecr).",
            )),
        };
    }
    let Some(op) = target.strip_prefix(ECS_PREFIX) else {
        return Err(ApiError::new(ErrorCode::UnknownOperationException, ""));
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    tracing::debug!(operation = op, "ecs request");
    ecs_dispatch(app, op, body, &host).await
}

async fn ecs_dispatch(
    app: &AppState,
    op: &str,
    body: &[u8],
    host: &str,
) -> Result<Value, ApiError> {
    let st = &app.state;
    let now = now_secs();
    macro_rules! op {
        ($method:ident) => {{
            let req = decode(body)?;
            st.call(move |s| s.$method(req)).await??
        }};
        ($method:ident, now) => {{
            let req = decode(body)?;
            st.call(move |s| s.$method(req, now)).await??
        }};
        // Operations after which the service scheduler may have work: it runs in the same
        // command, after the answer is computed (so CreateService answers before any placement).
        ($method:ident, schedule) => {{
            let req = decode(body)?;
            st.call(move |s| {
                let r = s.$method(req);
                if r.is_ok() {
                    s.schedule_services(now);
                }
                r
            })
            .await??
        }};
        ($method:ident, now, schedule) => {{
            let req = decode(body)?;
            st.call(move |s| {
                let r = s.$method(req, now);
                if r.is_ok() {
                    s.schedule_services(now);
                }
                r
            })
            .await??
        }};
    }
    let response = match op {
        "CreateCluster" => op!(create_cluster),
        "DeleteCluster" => op!(delete_cluster),
        "DescribeClusters" => op!(describe_clusters),
        "ListClusters" => op!(list_clusters),
        "RegisterContainerInstance" => op!(register_instance, now, schedule),
        "DeregisterContainerInstance" => op!(deregister_instance, schedule),
        "DescribeContainerInstances" => op!(describe_instances),
        "ListContainerInstances" => op!(list_instances),
        "UpdateContainerInstancesState" => op!(update_instances_state, schedule),
        "PutAttributes" => op!(put_attributes, schedule),
        "DeleteAttributes" => op!(delete_attributes, schedule),
        "ListAttributes" => op!(list_attributes),
        "RegisterTaskDefinition" => op!(register_task_definition, now),
        "DeregisterTaskDefinition" => op!(deregister_task_definition, now),
        "DescribeTaskDefinition" => op!(describe_task_definition),
        "ListTaskDefinitions" => op!(list_task_definitions),
        "ListTaskDefinitionFamilies" => op!(list_task_definition_families),
        "RunTask" => op!(run_task, now),
        "StartTask" => op!(start_task, now),
        "StopTask" => op!(stop_task, now, schedule),
        "DescribeTasks" => op!(describe_tasks),
        "ListTasks" => op!(list_tasks),
        "SubmitTaskStateChange" => op!(submit_task_state_change, now, schedule),
        "SubmitContainerStateChange" => op!(submit_container_state_change),
        "TagResource" => op!(tag_resource),
        "UntagResource" => op!(untag_resource),
        "ListTagsForResource" => op!(list_tags_for_resource),
        "CreateService" => op!(create_service, now, schedule),
        "DescribeServices" => op!(describe_services),
        "ListServices" => op!(list_services),
        "UpdateService" => op!(update_service, now, schedule),
        "DeleteService" => op!(delete_service, schedule),
        "DiscoverPollEndpoint" => {
            let req: DiscoverPollEndpointRequest = decode(body)?;
            st.call(move |s| s.cluster(req.cluster.as_deref()).map(|_| ()))
                .await??;
            let base = app
                .advertise_url
                .clone()
                .unwrap_or_else(|| format!("http://{host}"));
            json!({
                "endpoint": base,
                "telemetryEndpoint": base,
                "serviceConnectEndpoint": base,
                "systemLogsEndpoint": base,
            })
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("The operation {other} is not supported by this emulator."),
            ));
        }
    };
    Ok(response)
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverPollEndpointRequest {
    cluster: Option<String>,
    #[allow(dead_code)]
    container_instance: Option<String>,
}
