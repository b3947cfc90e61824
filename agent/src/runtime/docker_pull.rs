//! `POST /images/create` and `GET /distribution/{name}/json` (the manifest fetch before a pull)
//! sent by hand over Docker's socket, so that registry credentials reach the daemon in the form
//! it decodes.
//!
//! Docker reads `X-Registry-Auth` as **URL-safe** base64 of a JSON object; bollard 0.21 encodes it
//! with standard base64, and Docker then silently pulls anonymously whenever the JSON's base64
//! contains `+` or `/` (e.g. a password with `?`, `>` or `~`). Everything else about the pull
//! (deadlines, the digest) stays in `docker.rs`; this module only opens the progress stream.
//!
//! What it must not do: log the credentials or the header.

use std::pin::Pin;

use base64::Engine as _;
use futures_util::Stream;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde_json::Value;

use super::{RegistryAuth, RuntimeError};

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEndpoint {
    /// A unix socket path.
    Unix(String),
    /// `host:port` over plain TCP.
    Tcp(String),
}

impl DockerEndpoint {
    /// From `unix:///path`, `/path` or `tcp://host:port` / `http://host:port`.
    pub fn parse(docker_host: &str) -> Option<Self> {
        if let Some(p) = docker_host.strip_prefix("unix://") {
            Some(Self::Unix(p.to_owned()))
        } else if docker_host.starts_with('/') {
            Some(Self::Unix(docker_host.to_owned()))
        } else {
            docker_host
                .strip_prefix("tcp://")
                .or_else(|| docker_host.strip_prefix("http://"))
                .map(|h| Self::Tcp(h.trim_end_matches('/').to_owned()))
        }
    }
}

/// The `X-Registry-Auth` value: URL-safe base64 (with padding) of Docker's AuthConfig JSON.
pub fn registry_auth_header(auth: &RegistryAuth) -> String {
    let json = serde_json::json!({
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server_address,
    });
    base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One line of the progress stream: `Ok(status)` or Docker's error text.
pub type Progress = Pin<Box<dyn Stream<Item = Result<Option<String>, RuntimeError>> + Send>>;

async fn send(
    endpoint: &DockerEndpoint,
    request: http::Request<Empty<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, RuntimeError> {
    let io_err = |e: std::io::Error| RuntimeError::Docker(format!("cannot reach Docker: {e}"));
    let http_err = |e: hyper::Error| RuntimeError::Docker(format!("Docker request failed: {e}"));
    match endpoint {
        DockerEndpoint::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(io_err)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(http_err)?;
            tokio::spawn(conn);
            sender.send_request(request).await.map_err(http_err)
        }
        DockerEndpoint::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr).await.map_err(io_err)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(http_err)?;
            tokio::spawn(conn);
            sender.send_request(request).await.map_err(http_err)
        }
    }
}

/// A body-less request to Docker for a registry operation (`what`: pull, manifest), carrying
/// `auth` as `X-Registry-Auth`.
fn registry_request(
    method: http::Method,
    uri: String,
    auth: Option<&RegistryAuth>,
    what: &str,
) -> Result<http::Request<Empty<Bytes>>, RuntimeError> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "docker");
    if let Some(a) = auth {
        builder = builder.header("x-registry-auth", registry_auth_header(a));
    }
    builder
        .body(Empty::<Bytes>::new())
        .map_err(|e| RuntimeError::Docker(format!("cannot build the {what} request: {e}")))
}

/// Docker's error answer: its JSON `message`, else the body as text.
fn error_message(json: Option<&Value>, body: &[u8]) -> String {
    json.and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
}

/// Starts a pull of `name:tag` and returns its progress lines (the `status` of each, or the
/// `errorDetail` message as an error).
pub async fn pull(
    endpoint: &DockerEndpoint,
    api_version: &str,
    name: &str,
    tag: &str,
    auth: Option<&RegistryAuth>,
) -> Result<Progress, RuntimeError> {
    let uri = format!(
        "/v{api_version}/images/create?fromImage={}&tag={}",
        encode(name),
        encode(tag)
    );
    let request = registry_request(http::Method::POST, uri, auth, "pull")?;
    let response = send(endpoint, request).await?;
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        return Err(RuntimeError::Docker(error_message(
            serde_json::from_slice::<Value>(&bytes).ok().as_ref(),
            &bytes,
        )));
    }
    let stream = async_stream(move |tx| async move {
        let mut buf: Vec<u8> = Vec::new();
        loop {
            // A consumer that gave up (deadline) closes the channel: stop reading, which drops
            // the connection.
            let next = tokio::select! {
                frame = body.frame() => frame,
                () = tx.closed() => return,
            };
            match next {
                None => break,
                Some(Err(e)) => {
                    let _ = tx
                        .send(Err(RuntimeError::Docker(format!("pull stream: {e}"))))
                        .await;
                    return;
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        buf.extend_from_slice(data);
                    }
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        if let Some(item) = parse_line(&line)
                            && tx.send(item).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
        if let Some(item) = parse_line(&buf) {
            let _ = tx.send(item).await;
        }
    });
    Ok(stream)
}

/// Docker's `GET /distribution/{name}/json` (DistributionInspect): which manifest `image`
/// resolves to in its registry, asked with the same credentials as a pull.
pub async fn distribution_inspect(
    endpoint: &DockerEndpoint,
    api_version: &str,
    image: &str,
    auth: Option<&RegistryAuth>,
) -> Result<super::ManifestDescriptor, RuntimeError> {
    // The reference goes in the path as is (`/` included), as Docker's own client sends it.
    let uri = format!("/v{api_version}/distribution/{}/json", encode_path(image));
    let request = registry_request(http::Method::GET, uri, auth, "manifest")?;
    let response = send(endpoint, request).await?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| RuntimeError::Docker(format!("manifest answer: {e}")))?;
    parse_distribution_inspect(status, &bytes)
}

/// Docker's DistributionInspect answer: the descriptor, or its error `message`.
pub fn parse_distribution_inspect(
    status: http::StatusCode,
    body: &[u8],
) -> Result<super::ManifestDescriptor, RuntimeError> {
    let value = serde_json::from_slice::<Value>(body).ok();
    if !status.is_success() {
        let message = error_message(value.as_ref(), body);
        return Err(if status == http::StatusCode::NOT_FOUND {
            RuntimeError::NotFound(message)
        } else {
            RuntimeError::Docker(message)
        });
    }
    let descriptor = value.as_ref().and_then(|v| v.get("Descriptor"));
    let field = |name: &str| {
        descriptor
            .and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .map(String::from)
    };
    match field("digest") {
        Some(digest) => Ok(super::ManifestDescriptor {
            digest,
            media_type: field("mediaType").unwrap_or_default(),
        }),
        None => Err(RuntimeError::Docker(
            "Docker's manifest answer has no descriptor digest".to_owned(),
        )),
    }
}

/// Percent-encodes a path segment list: like [`encode`], but `/`, `:` and `@` stay.
fn encode_path(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'@')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One JSON line of the progress stream.
pub fn parse_line(line: &[u8]) -> Option<Result<Option<String>, RuntimeError>> {
    let text = std::str::from_utf8(line).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let v: Value = serde_json::from_str(text).ok()?;
    if let Some(e) = v
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .or_else(|| v.get("error"))
        .and_then(Value::as_str)
    {
        return Some(Err(RuntimeError::Docker(e.to_owned())));
    }
    Some(Ok(v
        .get("status")
        .and_then(Value::as_str)
        .map(String::from)))
}

/// A stream fed by a spawned producer through a small channel.
fn async_stream<F, Fut>(producer: F) -> Progress
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Option<String>, RuntimeError>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(producer(tx));
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_header_is_url_safe_base64_docker_decodes() {
        let auth = RegistryAuth {
            username: "user".into(),
            password: "p?a>s~s+w/o=rd".into(),
            server_address: "127.0.0.1:5000".into(),
        };
        let header = registry_auth_header(&auth);
        assert!(!header.contains('+') && !header.contains('/'), "{header}");
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(&header)
            .unwrap();
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["password"], "p?a>s~s+w/o=rd");
        assert_eq!(v["serveraddress"], "127.0.0.1:5000");
    }

    #[test]
    fn progress_lines_parse() {
        assert_eq!(
            parse_line(b"{\"status\":\"Digest: sha256:ab\"}\r\n")
                .unwrap()
                .unwrap(),
            Some("Digest: sha256:ab".to_owned())
        );
        let err = parse_line(
            br#"{"errorDetail":{"message":"unauthorized: authentication required"},"error":"x"}"#,
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(err.to_string(), "unauthorized: authentication required");
        assert!(parse_line(b"  ").is_none());
    }

    #[test]
    fn distribution_inspect_answers_parse() {
        let ok = br#"{"Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:ab","size":9},"Platforms":[]}"#;
        let d = parse_distribution_inspect(http::StatusCode::OK, ok).unwrap();
        assert_eq!(d.digest, "sha256:ab");
        assert_eq!(d.media_type, "application/vnd.oci.image.index.v1+json");
        let e = parse_distribution_inspect(
            http::StatusCode::FORBIDDEN,
            br#"{"message":"denied: requested access to the resource is denied"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            RuntimeError::Docker("denied: requested access to the resource is denied".into())
        );
        assert!(parse_distribution_inspect(http::StatusCode::OK, b"{}").is_err());
        assert_eq!(
            encode_path("127.0.0.1:5000/app:1@sha256:ab"),
            "127.0.0.1:5000/app:1@sha256:ab"
        );
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            DockerEndpoint::parse("unix:///var/run/docker.sock"),
            Some(DockerEndpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            DockerEndpoint::parse("tcp://127.0.0.1:2375"),
            Some(DockerEndpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(encode("127.0.0.1:5000/a b"), "127.0.0.1%3A5000%2Fa%20b");
    }
}
