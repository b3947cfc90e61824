//! The HTTP front: one listener for every emulated service. It recognises the protocol of a
//! request (REST by the SigV4 scope's service or by path, AWS JSON by the `X-Amz-Target`
//! prefix, query by the form body and the scope), reads the body, verifies SigV4 once, builds a
//! [`RequestContext`] and hands the decoded [`Input`] to the [`Service`] that owns it. When the
//! admin interface is on, it first applies the fault rules ([`crate::faults`]) to the request,
//! rendering an injected error through the service's own [`Service::error`].
//!
//! What it must not do: know any service by name. Services describe themselves through
//! [`Service::info`]; the table of services is built in `crate::services`.

pub mod auth;
pub mod context;
pub mod error;
pub mod json;
pub mod render;
pub mod service;
pub mod sigv4;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State as AxState};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};

use crate::faults::Faults;
pub use auth::{AuthFailure, Authenticator, Keys, TemporaryKey, TemporaryKeys};
pub use context::{CallerIdentity, RequestContext};
pub use error::{ApiError, ErrorCode, ServiceCode};
pub use service::{Input, Output, Protocol, Refusal, Service, ServiceInfo};

/// The content type of AWS JSON 1.1.
pub const JSON_1_1: &str = "application/x-amz-json-1.1";

/// The front: the service table, the authenticator and the fault rules.
#[derive(Debug)]
pub struct Front {
    /// Each service with what it said of itself, asked once here rather than on every request.
    services: Vec<(ServiceInfo, Arc<dyn Service>)>,
    auth: Authenticator,
    /// The fault rules, consulted once per signed request; `None` when the admin interface is
    /// off, so requests then pay nothing for them.
    faults: Option<Faults>,
}

impl Front {
    /// A front over `services`, verifying signatures with `auth`.
    pub fn new(services: Vec<Arc<dyn Service>>, auth: Authenticator) -> Self {
        let services = services.into_iter().map(|s| (s.info(), s)).collect();
        Front {
            services,
            auth,
            faults: None,
        }
    }

    /// The same front, applying the rules of `faults` to every signed request.
    #[must_use]
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
    }

    /// The service a request is for, if any, with its info.
    fn route(&self, parts: &Parts) -> Option<&(ServiceInfo, Arc<dyn Service>)> {
        let scope = sigv4::scope_service(&parts.headers);
        let find = |ok: &dyn Fn(&ServiceInfo) -> bool| self.services.iter().find(|(i, _)| ok(i));
        if let Some(scope) = scope.as_deref()
            && let Some(s) =
                find(&|i| i.protocol == Protocol::RestByScope && i.signing_name == scope)
        {
            return Some(s);
        }
        let path = parts.uri.path();
        if let Some(s) =
            find(&|i| matches!(i.protocol, Protocol::RestByPath { path: p } if p == path))
        {
            return Some(s);
        }
        if path != "/" || parts.method != Method::POST {
            return None;
        }
        if let Some(target) = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            return find(&|i| {
                matches!(i.protocol, Protocol::AwsJson { target_prefix, .. }
                    if target.starts_with(target_prefix))
            });
        }
        let form = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return None;
        }
        // An unsigned form has no scope: the first query service answers it (in its format).
        find(&|i| i.protocol == Protocol::Query && Some(i.signing_name) == scope.as_deref())
            .or_else(|| find(&|i| i.protocol == Protocol::Query))
    }
}

/// The router for every API.
pub fn router(front: Arc<Front>) -> Router {
    Router::new().fallback(dispatch).with_state(front)
}

async fn dispatch(AxState(front): AxState<Arc<Front>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some((info, service)) = front.route(&parts).cloned() else {
        return unrouted(&front, parts, body).await;
    };
    let request_id = context::new_request_id();
    let Ok(body) = axum::body::to_bytes(body, info.max_body).await else {
        return service.refuse(
            &request_id,
            &parts.method,
            Refusal::BodyTooLarge {
                limit: info.max_body,
            },
        );
    };
    let now = context::now_secs();
    let caller = match front.auth.authenticate(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        info.flavor,
        now,
    ) {
        Ok(c) => c,
        Err(failure) => {
            tracing::debug!(service = info.name, "request refused: {failure:?}");
            return service.refuse(&request_id, &parts.method, Refusal::Auth(failure));
        }
    };
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let input = match info.protocol {
        Protocol::AwsJson { target_prefix, .. } => {
            let operation = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .and_then(|t| t.strip_prefix(target_prefix))
                .unwrap_or_default()
                .to_string();
            // Operation names only: bodies may carry secret values.
            tracing::debug!(service = info.name, operation = %operation, "request");
            Input::Json { operation, body }
        }
        Protocol::Query => match serde_urlencoded::from_bytes::<BTreeMap<String, String>>(&body) {
            Ok(params) => Input::Query { params },
            Err(e) => {
                let e = ApiError::new(
                    ErrorCode::ValidationError,
                    format!("malformed form body: {e}"),
                );
                return service.refuse(&request_id, &parts.method, Refusal::Malformed(e));
            }
        },
        Protocol::RestByScope | Protocol::RestByPath { .. } => {
            Input::Http(http::Request::from_parts(parts, body))
        }
    };
    if let Some(faults) = &front.faults {
        let operation = match &input {
            Input::Json { operation, .. } => Some(operation.as_str()),
            Input::Query { params } => params.get("Action").map(String::as_str),
            Input::Http(_) => None,
        };
        if let Some(verdict) = faults.check(info.name, operation) {
            tracing::info!(service = info.name, operation = ?operation, delay_ms = verdict.delay.as_millis(), error = ?verdict.error.map(|e| e.code), "fault injected");
            tokio::time::sleep(verdict.delay).await;
            if let Some(e) = verdict.error {
                let code = ErrorCode::Service(ServiceCode {
                    name: e.code,
                    status: StatusCode::from_u16(e.status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                });
                return service.error(&request_id, ApiError::new(code, e.message));
            }
        }
    }
    let ctx = RequestContext {
        request_id: request_id.clone(),
        caller,
        now,
        host,
    };
    match service.call(ctx, input).await {
        Ok(output) => info.protocol.render_output(&request_id, output),
        Err(e) => {
            tracing::debug!(service = info.name, code = e.code.as_str(), message = %e.message, "request refused");
            service.error(&request_id, e)
        }
    }
}

/// A request no service claims: on `/`, an AWS JSON error after the signature is checked (so
/// an unsigned caller learns nothing); elsewhere 404.
async fn unrouted(front: &Front, parts: Parts, body: axum::body::Body) -> Response {
    if parts.uri.path() != "/" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let request_id = context::new_request_id();
    let e = if parts.method == Method::POST {
        let body = axum::body::to_bytes(body, 2 << 20)
            .await
            .unwrap_or_default();
        match front.auth.authenticate(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
            sigv4::Flavor::Standard,
            context::now_secs(),
        ) {
            Ok(_) => ApiError::new(ErrorCode::UnknownOperationException, ""),
            Err(failure) => failure.into(),
        }
    } else {
        ApiError::new(
            ErrorCode::UnknownOperationException,
            "Only POST is supported on /.",
        )
    };
    render::json_error(JSON_1_1, "message", &request_id, &e)
}
