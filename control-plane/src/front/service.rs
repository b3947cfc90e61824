//! The one trait every emulated AWS service implements, and what it tells the front about itself.
//!
//! Adding a service is one folder with a type that implements [`Service`] plus one line in the
//! service table (`crate::services`): the front holds no per-service code. The front recognises
//! the protocol from [`ServiceInfo::protocol`], reads the body (at most
//! [`ServiceInfo::max_body`]), verifies SigV4 once with [`ServiceInfo::flavor`], and calls
//! [`Service::call`] with a [`RequestContext`] and the decoded [`Input`].

use std::collections::BTreeMap;
use std::fmt;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::future::BoxFuture;

use super::auth::AuthFailure;
use super::context::RequestContext;
use super::error::{ApiError, ErrorCode};
use super::render;
use super::sigv4::Flavor;

/// How requests for a service are recognised on the shared listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON (1.0 or 1.1): `POST /` with `X-Amz-Target: <target_prefix><Operation>`.
    AwsJson {
        /// e.g. `AmazonEC2ContainerServiceV20141113.`.
        target_prefix: &'static str,
        /// `application/x-amz-json-1.1` or `-1.0`.
        content_type: &'static str,
        /// The member that carries an error's text: `message` for most, `Message` for some.
        message_member: &'static str,
    },
    /// AWS query: a form body with `Action`, XML answers; chosen by the SigV4 scope's service.
    Query,
    /// REST on any path, chosen by the SigV4 scope's service (S3's paths overlap everything).
    RestByScope,
    /// REST on one fixed path (the ACS and TCS websockets' `/ws`).
    RestByPath {
        /// The path.
        path: &'static str,
    },
    /// Smithy RPC v2 CBOR: `POST /service/<service>/operation/<Operation>` with a CBOR body
    /// (`Content-Type: application/cbor`, `smithy-protocol: rpc-v2-cbor`), CBOR answers.
    RpcV2Cbor {
        /// The service's name in the path (its AWS JSON target prefix without the dot).
        service: &'static str,
    },
}

impl Protocol {
    /// A service's answer in this protocol.
    pub fn render_output(self, request_id: &str, output: Output) -> Response {
        match output {
            Output::Json(v) => {
                let content_type = match self {
                    Protocol::AwsJson { content_type, .. } => content_type,
                    Protocol::Query
                    | Protocol::RestByScope
                    | Protocol::RestByPath { .. }
                    | Protocol::RpcV2Cbor { .. } => "application/json",
                };
                render::json(StatusCode::OK, content_type, request_id, &v, None)
            }
            Output::Cbor(body) => render::cbor(StatusCode::OK, request_id, body, None),
            Output::Xml(body) => render::xml(StatusCode::OK, request_id, body),
            Output::Http(resp) => resp,
        }
    }

    /// The standard rendering of an error in this protocol.
    pub fn render_error(self, request_id: &str, e: &ApiError) -> Response {
        match self {
            Protocol::AwsJson {
                content_type,
                message_member,
                ..
            } => render::json_error(content_type, message_member, request_id, e),
            Protocol::Query => render::xml(
                e.code.status(),
                request_id,
                render::query_error_xml(None, e.code.as_str(), e, request_id),
            ),
            Protocol::RestByScope | Protocol::RestByPath { .. } => {
                render::json_error(super::JSON_1_1, "message", request_id, e)
            }
            Protocol::RpcV2Cbor { .. } => render::cbor_error(request_id, e.code.as_str(), e, None),
        }
    }

    /// The operation named by a request in this protocol: the `X-Amz-Target` suffix (AWS JSON)
    /// or the path's last segment (RPC v2 CBOR); `None` for the others.
    pub fn operation(self, parts: &http::request::Parts) -> Option<String> {
        match self {
            Protocol::AwsJson { target_prefix, .. } => Some(
                parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|t| t.strip_prefix(target_prefix))
                    .unwrap_or_default()
                    .to_string(),
            ),
            Protocol::RpcV2Cbor { service } => {
                rpc_v2_operation(parts.uri.path(), service).map(str::to_string)
            }
            Protocol::Query | Protocol::RestByScope | Protocol::RestByPath { .. } => None,
        }
    }
}

/// The operation of an RPC v2 path `/service/<service>/operation/<Operation>`, when the path
/// names `service`.
pub fn rpc_v2_operation<'a>(path: &'a str, service: &str) -> Option<&'a str> {
    let rest = path.strip_prefix("/service/")?;
    let (name, rest) = rest.split_once('/')?;
    let op = rest.strip_prefix("operation/")?;
    (name == service && !op.is_empty() && !op.contains('/')).then_some(op)
}

/// What the front needs to know about a service.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    /// A name for logs (`ecs`, `s3`, ...).
    pub name: &'static str,
    /// The SigV4 signing name (the credential scope's service).
    pub signing_name: &'static str,
    /// How its requests are recognised.
    pub protocol: Protocol,
    /// How its requests are canonicalised for SigV4.
    pub flavor: Flavor,
    /// The largest body accepted.
    pub max_body: usize,
}

impl ServiceInfo {
    /// An AWS JSON 1.1 service with a 2 MiB body limit.
    pub fn aws_json(
        name: &'static str,
        signing_name: &'static str,
        target_prefix: &'static str,
        message_member: &'static str,
    ) -> Self {
        ServiceInfo {
            name,
            signing_name,
            protocol: Protocol::AwsJson {
                target_prefix,
                content_type: super::JSON_1_1,
                message_member,
            },
            flavor: Flavor::Standard,
            max_body: 2 << 20,
        }
    }
}

/// A request as the front hands it to a service.
#[derive(Debug)]
pub enum Input {
    /// AWS JSON: the operation (target without its prefix) and the raw body.
    Json {
        /// e.g. `RunTask`.
        operation: String,
        /// The JSON body.
        body: Bytes,
    },
    /// Smithy RPC v2 CBOR: the operation (the path's last segment) and the raw CBOR body.
    Cbor {
        /// e.g. `PutMetricData`.
        operation: String,
        /// The CBOR body (possibly empty).
        body: Bytes,
    },
    /// AWS query: the decoded form (with `Action` and `Version`).
    Query {
        /// The form's members.
        params: BTreeMap<String, String>,
    },
    /// REST: the whole request (its extensions keep a websocket upgrade possible).
    Http(http::Request<Bytes>),
}

impl Input {
    /// The operation and body of an AWS JSON request.
    pub fn into_json(self) -> Result<(String, Bytes), ApiError> {
        match self {
            Input::Json { operation, body } => Ok((operation, body)),
            Input::Query { .. } | Input::Http(_) | Input::Cbor { .. } => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                "This service speaks AWS JSON.",
            )),
        }
    }
}

/// A service's answer, which the front encodes in the service's protocol.
#[derive(Debug)]
pub enum Output {
    /// AWS JSON body.
    Json(serde_json::Value),
    /// AWS query XML document.
    Xml(String),
    /// Smithy RPC v2 CBOR body.
    Cbor(Vec<u8>),
    /// A complete response (REST services).
    Http(Response),
}

/// Why the front refused a request before the service saw it; the service renders it.
#[derive(Debug)]
pub enum Refusal {
    /// SigV4 failed.
    Auth(AuthFailure),
    /// The body is larger than [`ServiceInfo::max_body`].
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body cannot be decoded in the protocol.
    Malformed(ApiError),
}

impl Refusal {
    /// The refusal as an API error (the protocols' standard codes).
    pub fn into_error(self) -> ApiError {
        match self {
            Refusal::Auth(failure) => failure.into(),
            Refusal::BodyTooLarge { limit } => ApiError::new(
                ErrorCode::SerializationException,
                format!("The request body is larger than this emulator accepts ({limit} bytes)."),
            ),
            Refusal::Malformed(e) => e,
        }
    }
}

/// An emulated AWS service.
pub trait Service: Send + Sync + fmt::Debug + 'static {
    /// What the front needs to route to it.
    fn info(&self) -> ServiceInfo;

    /// Handles one authenticated request.
    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>>;

    /// Renders a request refused before [`Service::call`] (or an error it returned) in the
    /// service's own format; the default is the protocol's standard error document.
    fn refuse(&self, request_id: &str, method: &http::Method, refusal: Refusal) -> Response {
        let _ = method;
        self.info()
            .protocol
            .render_error(request_id, &refusal.into_error())
    }

    /// Renders an error [`Service::call`] returned.
    fn error(&self, request_id: &str, error: ApiError) -> Response {
        self.info().protocol.render_error(request_id, &error)
    }

    /// Protocols the service also speaks besides [`ServiceInfo::protocol`] (a service whose
    /// model names several, as CloudWatch's does); asked once, when the front is built.
    fn also_speaks(&self) -> &'static [Protocol] {
        &[]
    }

    /// Renders an error (returned by [`Service::call`], or a refusal) for a request that came in
    /// `protocol`: [`Service::error`] for the service's own protocol, the protocol's standard
    /// error document for the others. Services with [`Service::also_speaks`] override it.
    fn error_in(&self, protocol: Protocol, request_id: &str, error: ApiError) -> Response {
        if protocol == self.info().protocol {
            self.error(request_id, error)
        } else {
            protocol.render_error(request_id, &error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_v2_paths_name_their_service_and_operation() {
        let svc = "GraniteServiceVersion20100801";
        assert_eq!(
            rpc_v2_operation(
                "/service/GraniteServiceVersion20100801/operation/PutMetricData",
                svc
            ),
            Some("PutMetricData")
        );
        for other in [
            "/service/Other/operation/PutMetricData",
            "/service/GraniteServiceVersion20100801/operation/",
            "/service/GraniteServiceVersion20100801/operation/A/B",
            "/service/GraniteServiceVersion20100801/PutMetricData",
            "/",
        ] {
            assert_eq!(rpc_v2_operation(other, svc), None, "{other}");
        }
    }
}
