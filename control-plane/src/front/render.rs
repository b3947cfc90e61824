//! Encoding answers and errors in each protocol's standard form. Services whose errors differ
//! (S3's XML, STS's codes, the websocket's JSON) override [`super::service::Service::refuse`]
//! and [`super::service::Service::error`].

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, ErrorCode};
use super::service::{Output, Protocol, Refusal};

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// An AWS JSON answer with the request id (and, for errors, `x-amzn-ErrorType`).
pub fn json(
    status: StatusCode,
    content_type: &'static str,
    request_id: &str,
    body: &Value,
    error: Option<&str>,
) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(e) = error.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert("x-amzn-errortype", e);
    }
    resp
}

/// An AWS JSON error: `{"__type": code, <message_member>: text}`.
pub fn json_error(
    content_type: &'static str,
    message_member: &str,
    request_id: &str,
    e: &ApiError,
) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("__type".into(), Value::String(e.code.as_str().into()));
    body.insert(message_member.into(), Value::String(e.message.clone()));
    json(
        e.code.status(),
        content_type,
        request_id,
        &Value::Object(body),
        Some(e.code.as_str()),
    )
}

/// An XML answer of the query protocol.
pub fn xml(status: StatusCode, request_id: &str, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// XML-escapes text.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The query protocol's error document (`ErrorResponse`) with `code` as the service names it.
pub fn query_error_xml(xmlns: Option<&str>, code: &str, e: &ApiError, request_id: &str) -> String {
    let kind = if e.code.status().is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let ns = xmlns
        .map(|n| format!(r#" xmlns="{n}""#))
        .unwrap_or_default();
    format!(
        r#"<ErrorResponse{ns}><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"#,
        xml_escape(&e.message),
    )
}

/// A service's answer in its protocol.
pub fn output(protocol: Protocol, request_id: &str, output: Output) -> Response {
    match output {
        Output::Json(v) => {
            let content_type = match protocol {
                Protocol::AwsJson { content_type, .. } => content_type,
                Protocol::Query | Protocol::RestByScope | Protocol::RestByPath { .. } => {
                    "application/json"
                }
            };
            json(StatusCode::OK, content_type, request_id, &v, None)
        }
        Output::Xml(body) => xml(StatusCode::OK, request_id, body),
        Output::Http(resp) => resp,
    }
}

/// The standard rendering of an error in `protocol`.
pub fn error(protocol: Protocol, request_id: &str, e: &ApiError) -> Response {
    match protocol {
        Protocol::AwsJson {
            content_type,
            message_member,
            ..
        } => json_error(content_type, message_member, request_id, e),
        Protocol::Query => xml(
            e.code.status(),
            request_id,
            query_error_xml(None, e.code.as_str(), e, request_id),
        ),
        Protocol::RestByScope | Protocol::RestByPath { .. } => {
            json_error(JSON_1_1, "message", request_id, e)
        }
    }
}

/// The standard rendering of a refusal in `protocol`.
pub fn refusal(protocol: Protocol, request_id: &str, refusal: Refusal) -> Response {
    error(protocol, request_id, &refusal_error(refusal))
}

/// A refusal as an API error.
pub fn refusal_error(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Auth(failure) => failure.into(),
        Refusal::BodyTooLarge { limit } => ApiError::new(
            ErrorCode::SerializationException,
            format!("The request body is larger than this emulator accepts ({limit} bytes)."),
        ),
        Refusal::Malformed(e) => e,
    }
}
