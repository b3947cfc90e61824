//! The admin HTTP API (`--admin-listen`, off by default): JSON over HTTP on a loopback address,
//! refusing peers that are not loopback. It edits the fault rules and asks the rest of the
//! emulator, through [`Controls`], to drop ACS sessions and expire task credentials.
//!
//! | Request | Does |
//! |---|---|
//! | `GET /faults` | lists the rules |
//! | `POST /faults` `{service, operation, error?: {code, message?, status?}, delay_ms?, count?}` | adds one; answers it with its `id` |
//! | `DELETE /faults/{id}` | removes one |
//! | `DELETE /faults` | removes all |
//! | `POST /acs/drop` `{containerInstanceArn?}` | closes the ACS sessions of one instance or all |
//! | `POST /credentials/expire` `{taskArn?}` | expires task role credentials now and pushes fresh ones |
//! | `POST /ec2/target-lifecycle-state` `{instanceId, state}` | sets the Auto Scaling target lifecycle state (`Warmed:Pending`, `InService`, ...) instance metadata shows, standing in for a warm pool |
//! | `POST /ec2/spot-interruption` `{instanceId, action?, noticeSeconds?}` | sends a spot instance an interruption notice (`terminate` by default; `stop`, `hibernate`) and interrupts it `noticeSeconds` later (120 by default, as EC2); answers `{instanceId, action, time}` |
//!
//! What it must not do: listen on, or answer, anything but loopback; know the ACS or ECS modules
//! (they are behind [`Controls`], wired in the crate root).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State as AxState};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Faults, Rule, RuleSpec};

/// What the admin API asks of the rest of the emulator.
pub trait Controls: Send + Sync + 'static {
    /// Closes the ACS sessions of `container_instance_arn` (all when `None`); how many.
    fn drop_acs(&self, container_instance_arn: Option<String>) -> usize;

    /// Expires the role credentials of the running task `task_arn` (all when `None`) now, and
    /// sends fresh ones to their agents; how many credentials were replaced.
    fn expire_credentials(&self, task_arn: Option<String>) -> BoxFuture<'_, Result<usize, String>>;

    /// Sends the spot instance `instance_id` an interruption notice for `action`, carried out
    /// after `notice`; the time of the interruption (ISO 8601), or why not.
    fn interrupt_spot(
        &self,
        instance_id: String,
        action: String,
        notice: std::time::Duration,
    ) -> BoxFuture<'_, Result<String, String>>;

    /// Sets the target lifecycle state instance metadata shows for `instance_id`.
    fn set_target_lifecycle(
        &self,
        instance_id: String,
        state: String,
    ) -> BoxFuture<'_, Result<(), String>>;
}

/// Why the admin interface cannot run.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// `--admin-listen` names an address that is not loopback.
    #[error("--admin-listen {0}: the admin interface listens on loopback only (127.0.0.1 or ::1)")]
    NotLoopback(SocketAddr),
    /// Serving failed.
    #[error("serving the admin interface: {0}")]
    Serve(std::io::Error),
}

/// Refuses an admin address that is not loopback.
pub fn check_loopback(addr: SocketAddr) -> Result<(), AdminError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(AdminError::NotLoopback(addr))
    }
}

/// Why an admin request was refused.
#[derive(Debug)]
enum Refused {
    /// The peer is not on loopback.
    Forbidden,
    /// The body is not valid (what is wrong, naming the field).
    BadRequest(String),
    /// No such rule.
    NotFound(String),
    /// The emulator could not do it.
    Internal(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        // Exhaustive: a new refusal forces a decision on its status.
        let (status, message) = match self {
            Refused::Forbidden => (
                StatusCode::FORBIDDEN,
                "the admin interface answers loopback peers only".to_string(),
            ),
            Refused::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Refused::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Refused::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, axum::Json(Message { message })).into_response()
    }
}

#[derive(Serialize)]
struct Message {
    message: String,
}

#[derive(Serialize)]
struct Rules {
    faults: Vec<Rule>,
}

#[derive(Serialize)]
struct Count {
    count: usize,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DropRequest {
    container_instance_arn: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExpireRequest {
    task_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpotRequest {
    instance_id: String,
    #[serde(default = "default_spot_action")]
    action: String,
    #[serde(default = "default_spot_notice")]
    notice_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LifecycleRequest {
    instance_id: String,
    state: String,
}

fn default_spot_action() -> String {
    "terminate".into()
}

/// EC2's two-minute warning.
fn default_spot_notice() -> u64 {
    120
}

#[derive(Clone)]
struct Admin {
    faults: Faults,
    controls: Arc<dyn Controls>,
}

/// Decodes a JSON body; an empty body is `T::default()` where the caller allows it.
fn decode<T: for<'de> Deserialize<'de>>(body: &[u8], empty: Option<T>) -> Result<T, Refused> {
    if body.iter().all(u8::is_ascii_whitespace)
        && let Some(t) = empty
    {
        return Ok(t);
    }
    serde_json::from_slice(body).map_err(|e| Refused::BadRequest(format!("invalid body: {e}")))
}

async fn list(AxState(a): AxState<Admin>) -> axum::Json<Rules> {
    axum::Json(Rules {
        faults: a.faults.list(),
    })
}

async fn add(AxState(a): AxState<Admin>, body: Bytes) -> Result<Response, Refused> {
    let spec: RuleSpec = decode(&body, None)?;
    let rule = a
        .faults
        .add(spec)
        .map_err(|e| Refused::BadRequest(e.to_string()))?;
    tracing::info!(id = rule.id, service = %rule.service, operation = %rule.operation, "fault rule added");
    Ok((StatusCode::CREATED, axum::Json(rule)).into_response())
}

async fn remove(AxState(a): AxState<Admin>, Path(id): Path<String>) -> Result<Response, Refused> {
    let found = id.parse::<u64>().is_ok_and(|n| a.faults.remove(n));
    if !found {
        return Err(Refused::NotFound(format!("no fault rule {id}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clear(AxState(a): AxState<Admin>) -> axum::Json<Count> {
    axum::Json(Count {
        count: a.faults.clear(),
    })
}

async fn drop_acs(AxState(a): AxState<Admin>, body: Bytes) -> Result<axum::Json<Count>, Refused> {
    let req: DropRequest = decode(&body, Some(DropRequest::default()))?;
    let count = a.controls.drop_acs(req.container_instance_arn);
    tracing::info!(count, "ACS sessions dropped");
    Ok(axum::Json(Count { count }))
}

async fn expire(AxState(a): AxState<Admin>, body: Bytes) -> Result<axum::Json<Count>, Refused> {
    let req: ExpireRequest = decode(&body, Some(ExpireRequest::default()))?;
    let count = a
        .controls
        .expire_credentials(req.task_arn)
        .await
        .map_err(Refused::Internal)?;
    tracing::info!(count, "task role credentials expired");
    Ok(axum::Json(Count { count }))
}

async fn spot(
    AxState(a): AxState<Admin>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, Refused> {
    let req: SpotRequest = decode(&body, None)?;
    let at = a
        .controls
        .interrupt_spot(
            req.instance_id.clone(),
            req.action.clone(),
            std::time::Duration::from_secs(req.notice_seconds),
        )
        .await
        .map_err(Refused::BadRequest)?;
    tracing::info!(instance = %req.instance_id, action = %req.action, "spot interruption notice sent");
    Ok(axum::Json(serde_json::json!({
        "instanceId": req.instance_id,
        "action": req.action,
        "time": at,
    })))
}

async fn lifecycle(
    AxState(a): AxState<Admin>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, Refused> {
    let req: LifecycleRequest = decode(&body, None)?;
    a.controls
        .set_target_lifecycle(req.instance_id.clone(), req.state.clone())
        .await
        .map_err(Refused::BadRequest)?;
    tracing::info!(instance = %req.instance_id, state = %req.state, "target lifecycle state set");
    Ok(axum::Json(serde_json::json!({
        "instanceId": req.instance_id,
        "state": req.state,
    })))
}

/// Answers loopback peers only (the listener is loopback already; this holds even behind a
/// port forward that would make it reachable from elsewhere).
async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if peer.ip().is_loopback() {
        next.run(request).await
    } else {
        tracing::warn!(%peer, "admin request from a non-loopback peer refused");
        Refused::Forbidden.into_response()
    }
}

/// The admin API's router.
fn router(faults: Faults, controls: Arc<dyn Controls>) -> Router {
    Router::new()
        .route("/faults", get(list).post(add).delete(clear))
        .route("/faults/{id}", delete(remove))
        .route("/acs/drop", post(drop_acs))
        .route("/credentials/expire", post(expire))
        .route("/ec2/spot-interruption", post(spot))
        .route("/ec2/target-lifecycle-state", post(lifecycle))
        .layer(axum::middleware::from_fn(loopback_only))
        .with_state(Admin { faults, controls })
}

/// Serves the admin API on `listener` (which must be loopback) until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    faults: Faults,
    controls: Arc<dyn Controls>,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    let addr = listener.local_addr().map_err(AdminError::Serve)?;
    check_loopback(addr)?;
    tracing::info!(%addr, "admin interface listening");
    axum::serve(
        listener,
        router(faults, controls).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
    .map_err(AdminError::Serve)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_accepted() {
        assert!(check_loopback("127.0.0.1:1".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:1".parse().unwrap()).is_ok());
        assert!(check_loopback("0.0.0.0:1".parse().unwrap()).is_err());
        assert!(check_loopback("10.1.2.3:1".parse().unwrap()).is_err());
    }

    #[test]
    fn bodies_are_decoded_with_the_field_named() {
        let Err(Refused::BadRequest(m)) = decode::<DropRequest>(br#"{"instance":"x"}"#, None)
        else {
            panic!("accepted");
        };
        assert!(m.contains("instance"), "{m}");
        let d: DropRequest = decode(b"", Some(DropRequest::default())).unwrap();
        assert_eq!(d.container_instance_arn, None);
        let Err(Refused::BadRequest(m)) = decode::<RuleSpec>(br#"{"service":"ecs"}"#, None) else {
            panic!("accepted");
        };
        assert!(m.contains("operation"), "{m}");
    }
}
