//! Encoding AWS JSON and query answers and error documents (the protocols' standard forms are
//! chosen in [`super::service::Protocol`]).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ApiError;

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

/// Escapes text for an XML element or attribute (every service's XML answers).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
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

/// A Smithy RPC v2 CBOR answer: `application/cbor` with `smithy-protocol: rpc-v2-cbor`, the
/// request id, and for an error its query-compatible code (`x-amzn-query-error`).
pub fn cbor(
    status: StatusCode,
    request_id: &str,
    body: Vec<u8>,
    query_error: Option<&str>,
) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(super::CBOR));
    h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(v) = query_error.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert("x-amzn-query-error", v);
    }
    resp
}

/// An RPC v2 CBOR error: the map `{"__type": type_name, "message": text}`.
pub fn cbor_error(
    request_id: &str,
    type_name: &str,
    e: &ApiError,
    query_error: Option<&str>,
) -> Response {
    let doc = ciborium::Value::Map(vec![
        (
            ciborium::Value::Text("__type".into()),
            ciborium::Value::Text(type_name.into()),
        ),
        (
            ciborium::Value::Text("message".into()),
            ciborium::Value::Text(e.message.clone()),
        ),
    ]);
    let mut body = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::into_writer(&doc, &mut body);
    cbor(e.code.status(), request_id, body, query_error)
}

/// Epoch seconds as ISO 8601 UTC with milliseconds (`2026-12-07T11:19:21.123Z`), as EC2, ELBv2
/// and CloudWatch write timestamps in their answers.
pub fn iso8601_millis(epoch: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let nanos = (epoch * 1e9) as i128;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&format).unwrap_or_default()
}
