//! A lean ECS client for `control-plane-bench --client http`: AWS JSON 1.1 requests signed with
//! `aws-sigv4` (the signer the SDK itself uses) and sent over one keep-alive `hyper` connection
//! pool, answers read as JSON for the few members the benchmark checks.
//!
//! Why it exists: the benchmark's client shares the machine's cores with the emulator it
//! measures. The AWS SDK for Rust spends more CPU per call than the emulator does (request
//! orchestration, endpoint resolution, interceptors, typed (de)serialisation), so with two
//! cores the SDK client caps the figures it reports. This client does only what every AWS
//! client must do (sign, send, parse), so the figures say more about the emulator. The SDK client
//! stays the default; the report names the client used.

use std::time::SystemTime;

use anyhow::{Context, Result, anyhow};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use ecs_e2e_tests::fake_agent::SigningIdentity;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The ECS target prefix of AWS JSON 1.1 operations.
const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

/// Signs and sends ECS operations to one endpoint; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct LeanClient {
    http: Client<HttpConnector, Full<Bytes>>,
    uri: hyper::Uri,
    host: String,
    identity: Identity,
    region: String,
}

impl std::fmt::Debug for LeanClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeanClient")
            .field("uri", &self.uri)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl LeanClient {
    /// A client for `endpoint` (`http://host:port`) signing as `id`.
    pub fn new(endpoint: &str, id: &SigningIdentity) -> Result<Self> {
        let uri: hyper::Uri = format!("{}/", endpoint.trim_end_matches('/'))
            .parse()
            .with_context(|| format!("endpoint {endpoint}"))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| anyhow!("no host in {endpoint}"))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        let identity = Credentials::new(
            &id.access_key_id,
            &id.secret_access_key,
            None,
            None,
            "control-plane-bench",
        )
        .into();
        Ok(LeanClient {
            http,
            uri,
            host,
            identity,
            region: id.region.clone(),
        })
    }

    /// Calls ECS `operation` with `body`; the answer's JSON, or the error document's type and
    /// message.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, String> {
        let body = serde_json::to_vec(body).map_err(|e| format!("{operation}: {e}"))?;
        let target = format!("{TARGET_PREFIX}{operation}");
        let request = self
            .signed_request(&target, body)
            .map_err(|e| format!("{operation}: cannot sign: {e:#}"))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| format!("{operation}: {e}"))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{operation}: reading the answer: {e}"))?
            .to_bytes();
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{operation}: HTTP {status}, not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })?;
        if status.is_success() {
            Ok(json)
        } else {
            Err(format!(
                "{operation}: HTTP {status}: {} {}",
                json["__type"].as_str().unwrap_or("?"),
                json["message"].as_str().unwrap_or_default()
            ))
        }
    }

    fn signed_request(&self, target: &str, body: Vec<u8>) -> Result<hyper::Request<Full<Bytes>>> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("ecs")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let uri = self.uri.to_string();
        let signable = SignableRequest::new(
            "POST",
            &uri,
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut builder = hyper::Request::post(self.uri.clone());
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        for (k, v) in instructions.headers() {
            builder = builder.header(k, v);
        }
        Ok(builder.body(Full::new(Bytes::from(body)))?)
    }
}
