//! The HTTP front: one listener for every emulated service. It recognises the protocol of a
//! request (REST by the SigV4 scope's service or by path, AWS JSON by the `X-Amz-Target`
//! prefix, Smithy RPC v2 CBOR by its `/service/<name>/operation/<Op>` path, query by the form
//! body and the scope; a service may speak several, [`Service::also_speaks`]), reads the body, verifies SigV4 once, builds a
//! [`RequestContext`] and hands the decoded [`Input`] to the [`Service`] that owns it. When the
//! admin interface is on, it first applies the fault rules ([`crate::faults`]) to the request,
//! rendering an injected error through the service's own [`Service::error`].
//!
//! What it must not do: know any service by name. Services describe themselves through
//! [`Service::info`]; the table of services is built in `crate::services`.

pub mod auth;
pub mod context;
pub mod error;
pub mod form;
pub mod json;
pub mod render;
pub mod service;
pub mod sigv4;
pub mod tls;

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
/// The content type of Smithy RPC v2 CBOR bodies.
pub const CBOR: &str = "application/cbor";

/// The front: the service table, the authenticator and the fault rules.
#[derive(Debug)]
pub struct Front {
    /// Each service with what it said of itself (its info and the protocols it also speaks),
    /// asked once here rather than on every request.
    services: Vec<(ServiceInfo, &'static [Protocol], Arc<dyn Service>)>,
    auth: Authenticator,
    /// The fault rules, consulted once per signed request; `None` when the admin interface is
    /// off, so requests then pay nothing for them.
    faults: Option<Faults>,
}

impl Front {
    /// A front over `services`, verifying signatures with `auth`.
    pub fn new(services: Vec<Arc<dyn Service>>, auth: Authenticator) -> Self {
        let services = services
            .into_iter()
            .map(|s| (s.info(), s.also_speaks(), s))
            .collect();
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

    /// The service a request is for, if any, with its info and the protocol it came in.
    fn route(&self, parts: &Parts) -> Option<(Protocol, ServiceInfo, Arc<dyn Service>)> {
        let scope = sigv4::scope_service(&parts.headers);
        // Each service's protocols: its own first, then those it also speaks.
        let speaking = |p: &dyn Fn(Protocol, &ServiceInfo) -> bool| {
            self.services.iter().find_map(|(info, also, s)| {
                std::iter::once(info.protocol)
                    .chain(also.iter().copied())
                    .find(|proto| p(*proto, info))
                    .map(|proto| (proto, *info, Arc::clone(s)))
            })
        };
        if let Some(scope) = scope.as_deref()
            && let Some(s) = speaking(&|p, i| p == Protocol::RestByScope && i.signing_name == scope)
        {
            return Some(s);
        }
        let path = parts.uri.path();
        if let Some(s) =
            speaking(&|p, _| matches!(p, Protocol::RestByPath { path: q } if q == path))
        {
            return Some(s);
        }
        if parts.method != Method::POST {
            return None;
        }
        if path.starts_with("/service/") {
            return speaking(&|p, _| {
                matches!(p, Protocol::RpcV2Cbor { service }
                    if service::rpc_v2_operation(path, service).is_some())
            });
        }
        if path != "/" {
            return None;
        }
        if let Some(target) = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            return speaking(&|p, _| {
                matches!(p, Protocol::AwsJson { target_prefix, .. }
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
        // An unsigned form has no scope: the first service whose own protocol is query answers
        // it (in its format).
        speaking(&|p, i| p == Protocol::Query && Some(i.signing_name) == scope.as_deref()).or_else(
            || {
                self.services
                    .iter()
                    .find(|(i, _, _)| i.protocol == Protocol::Query)
                    .map(|(i, _, s)| (Protocol::Query, *i, Arc::clone(s)))
            },
        )
    }
}

/// The router for every API.
pub fn router(front: Arc<Front>) -> Router {
    Router::new().fallback(dispatch).with_state(front)
}

async fn dispatch(AxState(front): AxState<Arc<Front>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some((protocol, info, service)) = front.route(&parts) else {
        return unrouted(&front, parts, body).await;
    };
    // Refusals and errors in the protocol the request came in.
    let refuse = |request_id: &str, method: &Method, refusal: Refusal| {
        if protocol == info.protocol {
            service.refuse(request_id, method, refusal)
        } else {
            service.error_in(protocol, request_id, refusal.into_error())
        }
    };
    let request_id = context::new_request_id();
    let Ok(body) = axum::body::to_bytes(body, info.max_body).await else {
        return refuse(
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
            return refuse(&request_id, &parts.method, Refusal::Auth(failure));
        }
    };
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let secure = parts.extensions.get::<tls::Secure>().is_some();
    let input = match protocol {
        Protocol::AwsJson { .. } => {
            let operation = protocol.operation(&parts).unwrap_or_default();
            // Operation names only: bodies may carry secret values.
            tracing::debug!(service = info.name, operation = %operation, "request");
            Input::Json { operation, body }
        }
        Protocol::RpcV2Cbor { .. } => {
            let operation = protocol.operation(&parts).unwrap_or_default();
            tracing::debug!(service = info.name, operation = %operation, "request (CBOR)");
            Input::Cbor { operation, body }
        }
        Protocol::Query => match serde_urlencoded::from_bytes::<BTreeMap<String, String>>(&body) {
            Ok(params) => Input::Query { params },
            Err(e) => {
                let e = ApiError::new(
                    ErrorCode::ValidationError,
                    format!("malformed form body: {e}"),
                );
                return refuse(&request_id, &parts.method, Refusal::Malformed(e));
            }
        },
        Protocol::RestByScope | Protocol::RestByPath { .. } => {
            Input::Http(http::Request::from_parts(parts, body))
        }
    };
    if let Some(faults) = &front.faults {
        let operation = match &input {
            Input::Json { operation, .. } | Input::Cbor { operation, .. } => {
                Some(operation.as_str())
            }
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
                return service.error_in(protocol, &request_id, ApiError::new(code, e.message));
            }
        }
    }
    let ctx = RequestContext {
        request_id: request_id.clone(),
        caller,
        now,
        host,
        secure,
    };
    match service.call(ctx, input).await {
        Ok(output) => protocol.render_output(&request_id, output),
        Err(e) => {
            tracing::debug!(service = info.name, code = e.code.as_str(), message = %e.message, "request refused");
            service.error_in(protocol, &request_id, e)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoTemporaryKeys;

    impl TemporaryKeys for NoTemporaryKeys {
        fn lookup(&self, _access_key_id: &str) -> Option<TemporaryKey> {
            None
        }
    }

    /// A service that speaks AWS JSON and also RPC v2 CBOR and query.
    #[derive(Debug)]
    struct Multi;

    const ALSO: [Protocol; 2] = [Protocol::RpcV2Cbor { service: "Multi" }, Protocol::Query];

    impl Service for Multi {
        fn info(&self) -> ServiceInfo {
            ServiceInfo::aws_json("multi", "multi", "Multi.", "message")
        }
        fn call(
            &self,
            _ctx: RequestContext,
            _input: Input,
        ) -> futures_util::future::BoxFuture<'_, Result<Output, ApiError>> {
            Box::pin(async { Ok(Output::Json(serde_json::json!({}))) })
        }
        fn also_speaks(&self) -> &'static [Protocol] {
            &ALSO
        }
    }

    fn parts(method: &str, path: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_service_is_found_by_each_protocol_it_speaks() {
        let auth = Authenticator::new(
            Keys::new("AKID", "secret"),
            "123456789012",
            None,
            Arc::new(NoTemporaryKeys),
        );
        let front = Front::new(vec![Arc::new(Multi)], auth);
        let route = |p: Parts| front.route(&p).map(|(proto, info, _)| (proto, info.name));
        assert_eq!(
            route(parts("POST", "/", &[("x-amz-target", "Multi.Op")])),
            Some((
                ServiceInfo::aws_json("multi", "multi", "Multi.", "message").protocol,
                "multi"
            ))
        );
        assert_eq!(
            route(parts("POST", "/service/Multi/operation/Op", &[])),
            Some((Protocol::RpcV2Cbor { service: "Multi" }, "multi"))
        );
        assert_eq!(
            route(parts("POST", "/service/Other/operation/Op", &[])),
            None
        );
        assert_eq!(
            route(parts("GET", "/service/Multi/operation/Op", &[])),
            None
        );
        let signed = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/multi/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(
            route(parts(
                "POST",
                "/",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("authorization", signed)
                ]
            )),
            Some((Protocol::Query, "multi"))
        );
    }
}
