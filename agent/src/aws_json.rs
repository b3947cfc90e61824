//! A small client for AWS JSON 1.1 calls (`POST /`, `X-Amz-Target`, SigV4): the agent's calls to
//! SSM Parameter Store and Secrets Manager ([`crate::secrets`]); and S3's GetObject, for
//! environment files ([`crate::env_files`]).
//!
//! Why not the SDK crates, as for ECS and ECR: `aws-sdk-ssm` and `aws-sdk-secretsmanager` added
//! about 0.6 MiB to the agent's idle RSS (their code is mapped whether used or not), pushing it
//! over its 12 MiB target (BENCHMARKS.md), for two operations with one-line bodies. This uses what
//! the agent links anyway: aws-sigv4, hyper and the SDKs' own rustls connector, over
//! [`crate::proxy::ProxyConnector`] (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).
//!
//! What it must not do: log a request or an answer body (they carry secret values). Errors carry
//! the service's code and message, or what failed in transport.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::proxy::{Proxies, ProxyConnector};
use crate::retry::{Attempt, RetryPolicy, retry};

/// Deadline of one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The retries of every call: [`RetryPolicy::AWS_JSON`].
const RETRY: RetryPolicy = RetryPolicy::AWS_JSON;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The service answered with an error.
    #[error("{code}: {message}")]
    Service {
        /// `__type` without its namespace, e.g. `ResourceNotFoundException`.
        code: String,
        /// The service's message.
        message: String,
    },
    /// No usable answer: connection, TLS, timeout, or a body that is not JSON.
    #[error("{0}")]
    Transport(String),
    /// S3 says the bucket is in another region (`x-amz-bucket-region` on a redirect or a
    /// malformed-authorization answer).
    #[error("the bucket is in region {0}")]
    WrongRegion(String),
}

impl CallError {
    /// Worth another attempt: transport failures, throttling and server errors.
    fn retryable(&self) -> bool {
        match self {
            CallError::Transport(_) => true,
            CallError::WrongRegion(_) => false,
            CallError::Service { code, .. } => matches!(
                code.as_str(),
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "InternalFailure"
                    | "InternalServiceError"
                    | "ServiceUnavailable"
            ),
        }
    }
}

/// One AWS JSON 1.1 service endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// SigV4 signing name, e.g. `ssm`.
    pub signing_name: &'static str,
    /// The `X-Amz-Target` prefix, e.g. `AmazonSSM`.
    pub target_prefix: &'static str,
    /// The endpoint's first label, e.g. `ssm` in `ssm.us-east-1.amazonaws.com`.
    pub endpoint_prefix: &'static str,
    /// Whether an IPv6-only instance calls its dual-stack endpoint: where the reference's
    /// client for it does (`WithUseDualStackEndpoint`).
    pub dual_stack_on_ipv6_only: bool,
}

/// SSM (Parameter Store). Dual-stack on IPv6-only instances (reference `agent/ssm/factory`).
pub const SSM: Service = Service {
    signing_name: "ssm",
    target_prefix: "AmazonSSM",
    endpoint_prefix: "ssm",
    dual_stack_on_ipv6_only: true,
};

/// Secrets Manager. The reference's client (`agent/asm/factory`) is not switched to
/// dual-stack, so it keeps the IPv4 endpoint on IPv6-only instances too.
pub const SECRETS_MANAGER: Service = Service {
    signing_name: "secretsmanager",
    target_prefix: "secretsmanager",
    endpoint_prefix: "secretsmanager",
    dual_stack_on_ipv6_only: false,
};

/// Whether `region` is in the China partition.
fn china(region: &str) -> bool {
    region.starts_with("cn-")
}

/// The regional endpoint of `service` (`https://ssm.eu-west-1.amazonaws.com`,
/// `.amazonaws.com.cn` in China); with `dual_stack`, the dual-stack one the SDKs resolve
/// (`https://ssm.eu-west-1.api.aws`, `.api.amazonwebservices.com.cn` in China).
pub fn regional_endpoint(service: &Service, region: &str, dual_stack: bool) -> String {
    let domain = match (dual_stack, china(region)) {
        (false, false) => "amazonaws.com",
        (false, true) => "amazonaws.com.cn",
        (true, false) => "api.aws",
        (true, true) => "api.amazonwebservices.com.cn",
    };
    format!("https://{}.{region}.{domain}", service.endpoint_prefix)
}

/// Where and how the agent's own AWS calls go (secrets, environment files, registry
/// credentials): an endpoint override (the emulated control plane at `ECS_BACKEND_HOST`) or the
/// services' regional endpoints, the agent's region, and one client for all of them, made at the
/// first call (loading the root certificates costs memory an agent whose tasks need none of this
/// need not pay), through the configured proxies. Cheap to clone: clones share the client.
#[derive(Debug, Clone, Default)]
pub struct AwsAccess {
    endpoint: Option<String>,
    /// Dual-stack regional endpoints (an IPv6-only instance) where the reference uses them.
    dual_stack: bool,
    region: String,
    proxies: std::sync::Arc<Proxies>,
    client: std::sync::Arc<std::sync::OnceLock<Result<AwsJsonClient, CallError>>>,
}

impl AwsAccess {
    /// Calls go to `endpoint` when set, else to each service's regional endpoint; directly.
    pub fn new(endpoint: Option<String>, region: impl Into<String>) -> Self {
        AwsAccess {
            endpoint,
            dual_stack: false,
            region: region.into(),
            proxies: std::sync::Arc::default(),
            client: std::sync::Arc::default(),
        }
    }

    /// The same, through `proxies`.
    pub fn with_proxies(self, proxies: std::sync::Arc<Proxies>) -> Self {
        AwsAccess { proxies, ..self }
    }

    /// The services' dual-stack regional endpoints (where the reference uses them) when no
    /// endpoint override is set.
    pub fn with_dual_stack(self, dual_stack: bool) -> Self {
        AwsAccess { dual_stack, ..self }
    }

    /// As the configuration says: the emulator's endpoint when `ECS_BACKEND_HOST` names one
    /// ([`crate::runtime::logging::awslogs_endpoint`]), the agent's region, dual-stack regional
    /// endpoints on an IPv6-only instance; directly until [`AwsAccess::with_proxies`].
    pub fn from_config(config: &ecs_config::Config) -> Self {
        Self::new(
            crate::runtime::logging::awslogs_endpoint(config),
            config.region().unwrap_or_default(),
        )
        .with_dual_stack(config.ipv6_only())
    }

    /// The endpoint override, if any.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Where `service` is called in `region`: the override, else its regional endpoint
    /// (dual-stack when this access is and the reference's client for it is).
    pub fn service_endpoint(&self, service: &Service, region: &str) -> String {
        self.endpoint.clone().unwrap_or_else(|| {
            regional_endpoint(
                service,
                region,
                self.dual_stack && service.dual_stack_on_ipv6_only,
            )
        })
    }

    /// Where S3 is reached: the override, else the region's S3 endpoint (dual-stack when this
    /// access is, as the reference's S3 client on an IPv6-only instance).
    pub fn s3_endpoint(&self) -> S3Endpoint<'_> {
        match &self.endpoint {
            Some(url) => S3Endpoint::Override(url),
            None => S3Endpoint::Regional {
                dual_stack: self.dual_stack,
            },
        }
    }

    /// The agent's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The shared client, made now if this is the first call.
    pub fn client(&self) -> Result<&AwsJsonClient, CallError> {
        self.client
            .get_or_init(|| AwsJsonClient::new(std::sync::Arc::clone(&self.proxies)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// An HTTP(S) client for AWS JSON calls; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct AwsJsonClient {
    http: Client<hyper_rustls::HttpsConnector<ProxyConnector>, Full<Bytes>>,
    proxies: std::sync::Arc<Proxies>,
}

impl std::fmt::Debug for AwsJsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsJsonClient").finish_non_exhaustive()
    }
}

impl AwsJsonClient {
    /// HTTPS with the system's root certificates and `AWS_CA_BUNDLE`'s ([`crate::trust`];
    /// plain HTTP for an `http://` endpoint, such as the emulated control plane on loopback),
    /// through `proxies`. Errs when no root certificate can be loaded.
    pub fn new(proxies: std::sync::Arc<Proxies>) -> Result<Self, CallError> {
        let tls = crate::trust::client_config().map_err(|e| CallError::Transport(e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(ProxyConnector::new(std::sync::Arc::clone(&proxies)));
        Ok(AwsJsonClient {
            http: Client::builder(TokioExecutor::new()).build(https),
            proxies,
        })
    }

    /// `<prefix>.<operation>` with `body` at `endpoint` (a base URL), signed for `region`;
    /// retried (up to [`RetryPolicy::AWS_JSON`]'s attempts) on transport errors, throttling and server errors.
    pub async fn call(
        &self,
        endpoint: &str,
        service: &Service,
        operation: &str,
        region: &str,
        credentials: &Credentials,
        body: &Value,
    ) -> Result<Value, CallError> {
        let body = body.to_string();
        with_retries(|| async {
            let request = signed_request(
                endpoint,
                service,
                operation,
                region,
                credentials,
                &body,
                SystemTime::now(),
            )?;
            let (status, _, bytes) = self.send(request, endpoint).await?;
            parse_answer(status, &bytes)
        })
        .await
    }

    /// An AWS query protocol call (EC2's): the form `body` POSTed to `endpoint` (a base URL),
    /// signed for `service` in `region`; the answer's XML, or the service's error from
    /// `<Code>` and `<Message>`. Retried as [`AwsJsonClient::call`].
    pub async fn query(
        &self,
        endpoint: &str,
        service: &Service,
        region: &str,
        credentials: &Credentials,
        body: &str,
    ) -> Result<String, CallError> {
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        with_retries(|| async {
            let request = signed(
                http::Method::POST,
                &url,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                body,
                credentials,
                region,
                service.signing_name,
                crate::sigv4::default_settings(),
                SystemTime::now(),
            )?;
            let (status, _, bytes) = self.send(request, endpoint).await?;
            if !status.is_success() {
                return Err(xml_error(status, &bytes));
            }
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                CallError::Transport(format!("HTTP {status}: the answer is not UTF-8"))
            })
        })
        .await
    }

    /// S3 GetObject of `key` in `bucket` (the object's bytes), signed for `region`: path-style
    /// at an override endpoint (the emulated control plane), else virtual-hosted at the
    /// region's S3 endpoint ([`s3_object_url`]). Retried as [`AwsJsonClient::call`]. S3's errors are XML: the code
    /// and message are read from `<Code>` and `<Message>`.
    pub async fn s3_get_object(
        &self,
        endpoint: S3Endpoint<'_>,
        bucket: &str,
        key: &str,
        region: &str,
        credentials: &Credentials,
    ) -> Result<Vec<u8>, CallError> {
        match self
            .s3_get_in(endpoint, bucket, key, region, credentials)
            .await
        {
            // As the reference asks S3 for the bucket's region: S3 names it in its refusal.
            Err(CallError::WrongRegion(actual))
                if matches!(endpoint, S3Endpoint::Regional { .. }) && actual != region =>
            {
                self.s3_get_in(endpoint, bucket, key, &actual, credentials)
                    .await
            }
            other => other,
        }
    }

    async fn s3_get_in(
        &self,
        endpoint: S3Endpoint<'_>,
        bucket: &str,
        key: &str,
        region: &str,
        credentials: &Credentials,
    ) -> Result<Vec<u8>, CallError> {
        let url = s3_object_url(endpoint, bucket, key, region);
        with_retries(|| async {
            let request = signed(
                http::Method::GET,
                &url,
                &[],
                "",
                credentials,
                region,
                "s3",
                crate::sigv4::s3_settings(),
                SystemTime::now(),
            )?;
            let (status, headers, bytes) = self.send(request, &url).await?;
            if status.is_success() {
                return Ok(bytes.to_vec());
            }
            let bucket_region = headers
                .get("x-amz-bucket-region")
                .and_then(|v| v.to_str().ok())
                .filter(|r| *r != region);
            match bucket_region {
                Some(r) if status.is_redirection() || status == 400 => {
                    Err(CallError::WrongRegion(r.to_string()))
                }
                _ => Err(xml_error(status, &bytes)),
            }
        })
        .await
    }

    /// Sends `request` and reads the whole answer; `what` names the endpoint in errors.
    async fn send(
        &self,
        mut request: http::Request<Full<Bytes>>,
        what: &str,
    ) -> Result<(http::StatusCode, http::HeaderMap, Bytes), CallError> {
        if let Some(auth) = self.proxies.forward_auth(request.uri()) {
            request
                .headers_mut()
                .insert(http::header::PROXY_AUTHORIZATION, auth.clone());
        }
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CallError::Transport(format!("{what}: {e}")))?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| CallError::Transport(format!("{what}: reading the answer: {e}")))?
            .to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }
}

/// Runs `attempt` as [`RETRY`] says, each within [`ATTEMPT_TIMEOUT`], retrying what
/// [`CallError::retryable`] says may pass.
async fn with_retries<T, F, Fut>(mut attempt: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    retry(&RETRY, |_| {
        let this = attempt();
        async move {
            let result = tokio::time::timeout(ATTEMPT_TIMEOUT, this)
                .await
                .unwrap_or_else(|_| {
                    Err(CallError::Transport(format!(
                        "no answer within {ATTEMPT_TIMEOUT:?}"
                    )))
                });
            match result {
                Ok(answer) => Attempt::Done(answer),
                Err(e) if e.retryable() => Attempt::Retry(e),
                Err(e) => Attempt::Fail(e),
            }
        }
    })
    .await
    .map_err(crate::retry::GaveUp::into_last)
}

/// `method url` with `headers` and `body`, signed (with `host`, which it adds) for `service` in
/// `region` at `at`.
#[allow(clippy::too_many_arguments)] // one signing request, field by field
fn signed(
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    credentials: &Credentials,
    region: &str,
    service: &str,
    settings: aws_sigv4::http_request::SigningSettings,
    at: SystemTime,
) -> Result<http::Request<Full<Bytes>>, CallError> {
    let fail = |what: String| CallError::Transport(format!("{url}: {what}"));
    let uri: http::Uri = url.parse().map_err(|e| fail(format!("not a URL: {e}")))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .ok_or_else(|| fail("no host".into()))?;
    let mut all = vec![("host", host.as_str())];
    all.extend_from_slice(headers);
    let signature = crate::sigv4::signing_headers(
        method.as_str(),
        url,
        &all,
        body.as_bytes(),
        credentials,
        region,
        service,
        at,
        settings,
    )
    .map_err(fail)?;
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in all {
        builder = builder.header(name, value);
    }
    for (name, value) in signature {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| fail(e.to_string()))
}

/// EC2 (the query protocol: no `X-Amz-Target`). The reference's EC2 client does not use the
/// dual-stack endpoint.
pub const EC2: Service = Service {
    signing_name: "ec2",
    target_prefix: "",
    endpoint_prefix: "ec2",
    dual_stack_on_ipv6_only: false,
};

/// Where S3 calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Endpoint<'a> {
    /// An endpoint override (the emulated control plane), path-style.
    Override(&'a str),
    /// The bucket region's endpoint: `s3.<region>`, or `s3.dualstack.<region>` with
    /// `dual_stack`.
    Regional {
        /// The dual-stack endpoint (an IPv6-only instance).
        dual_stack: bool,
    },
}

/// Where an S3 object is: `<endpoint>/<bucket>/<key>` (path-style) with an endpoint override,
/// else `https://<bucket>.s3.<region>.amazonaws.com/<key>` (`s3.dualstack.<region>` with
/// dual-stack; path-style at that host for a bucket name with dots, which a virtual host's
/// certificate would not cover). The key is percent-encoded but for `/`.
pub fn s3_object_url(endpoint: S3Endpoint<'_>, bucket: &str, key: &str, region: &str) -> String {
    let key: String = key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    match endpoint {
        S3Endpoint::Override(e) => format!("{}/{bucket}/{key}", e.trim_end_matches('/')),
        S3Endpoint::Regional { dual_stack } => {
            let domain = if china(region) {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            let host = if dual_stack {
                format!("s3.dualstack.{region}.{domain}")
            } else {
                format!("s3.{region}.{domain}")
            };
            if bucket.contains('.') {
                format!("https://{host}/{bucket}/{key}")
            } else {
                format!("https://{bucket}.{host}/{key}")
            }
        }
    }
}

/// An XML error answer: S3's `<Error><Code>..</Code><Message>..</Message>..</Error>`, EC2's
/// `<Response><Errors><Error>` with the same members.
fn xml_error(status: http::StatusCode, bytes: &[u8]) -> CallError {
    let text = String::from_utf8_lossy(bytes);
    let element = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].to_string())
    };
    match element("Code") {
        Some(code) => CallError::Service {
            code,
            message: element("Message").unwrap_or_default(),
        },
        None if status.is_server_error() => CallError::Service {
            code: "InternalServerError".into(),
            message: format!("HTTP {status}"),
        },
        None => CallError::Service {
            code: status.as_u16().to_string(),
            message: status.canonical_reason().unwrap_or_default().to_string(),
        },
    }
}

/// The signed request for one call (pure but for the clock, which the caller passes).
pub fn signed_request(
    endpoint: &str,
    service: &Service,
    operation: &str,
    region: &str,
    credentials: &Credentials,
    body: &str,
    at: SystemTime,
) -> Result<http::Request<Full<Bytes>>, CallError> {
    let target = format!("{}.{operation}", service.target_prefix);
    signed(
        http::Method::POST,
        &format!("{}/", endpoint.trim_end_matches('/')),
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ],
        body,
        credentials,
        region,
        service.signing_name,
        crate::sigv4::default_settings(),
        at,
    )
}

/// A JSON answer, or the service's error from `__type` (namespace dropped) and `message` /
/// `Message`, as the SDKs read AWS JSON errors.
pub fn parse_answer(status: http::StatusCode, bytes: &[u8]) -> Result<Value, CallError> {
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    if status.is_success() {
        return json
            .ok_or_else(|| CallError::Transport(format!("HTTP {status}: the answer is not JSON")));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let code = json
        .as_ref()
        .and_then(|j| text(j.get("__type")).or_else(|| text(j.get("code"))))
        .map(|t| t.rsplit('#').next().unwrap_or_default().to_string());
    match code {
        Some(code) if !code.is_empty() => {
            let message = json
                .as_ref()
                .and_then(|j| text(j.get("message")).or_else(|| text(j.get("Message"))))
                .unwrap_or_default();
            Err(CallError::Service { code, message })
        }
        _ if status.is_server_error() => Err(CallError::Service {
            code: "InternalServerError".into(),
            message: format!("HTTP {status}"),
        }),
        _ => Err(CallError::Transport(format!(
            "HTTP {status} without an AWS error in the answer"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("ASIAEXEC", "secret", Some("token".into()), None, "test")
    }

    const REGIONAL: S3Endpoint<'static> = S3Endpoint::Regional { dual_stack: false };

    #[test]
    fn ipv6_only_instances_use_the_dual_stack_endpoints_the_reference_uses() {
        let config =
            |env: &[(&str, &str)]| ecs_config::load(&ecs_config::Sources::from_env(env)).config;
        let region = ("AWS_REGION", "eu-west-1");
        let v6 = AwsAccess::from_config(&config(&[
            region,
            ("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6"),
        ]));
        // SSM and S3 switch, as the reference's clients do; Secrets Manager does not.
        assert_eq!(
            v6.service_endpoint(&SSM, "eu-west-1"),
            "https://ssm.eu-west-1.api.aws"
        );
        assert_eq!(
            v6.service_endpoint(&SECRETS_MANAGER, "eu-west-1"),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            s3_object_url(v6.s3_endpoint(), "b", "a.env", "eu-west-1"),
            "https://b.s3.dualstack.eu-west-1.amazonaws.com/a.env"
        );
        assert_eq!(
            s3_object_url(v6.s3_endpoint(), "my.bucket", "a.env", "cn-north-1"),
            "https://s3.dualstack.cn-north-1.amazonaws.com.cn/my.bucket/a.env"
        );
        assert_eq!(
            regional_endpoint(&SSM, "cn-north-1", true),
            "https://ssm.cn-north-1.api.amazonwebservices.com.cn"
        );
        // Not IPv6-only: the IPv4 endpoints.
        let v4 = AwsAccess::from_config(&config(&[region]));
        assert_eq!(
            v4.service_endpoint(&SSM, "eu-west-1"),
            "https://ssm.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            s3_object_url(v4.s3_endpoint(), "b", "a.env", "eu-west-1"),
            "https://b.s3.eu-west-1.amazonaws.com/a.env"
        );
        // An endpoint override (ECS_BACKEND_HOST) wins, IPv6-only or not.
        let over = AwsAccess::from_config(&config(&[
            region,
            ("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6"),
            ("ECS_BACKEND_HOST", "http://127.0.0.1:9"),
        ]));
        let endpoint = over.endpoint().unwrap().to_string();
        assert_eq!(over.service_endpoint(&SSM, "eu-west-1"), endpoint);
        assert_eq!(over.s3_endpoint(), S3Endpoint::Override(&endpoint));
    }

    #[test]
    fn requests_are_signed_for_the_service_with_the_session_token() {
        let req = signed_request(
            "http://127.0.0.1:4566",
            &SSM,
            "GetParameters",
            "us-east-1",
            &creds(),
            r#"{"Names":["/a"]}"#,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )
        .unwrap();
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:4566/");
        let h = req.headers();
        assert_eq!(h["x-amz-target"], "AmazonSSM.GetParameters");
        assert_eq!(h["content-type"], "application/x-amz-json-1.1");
        assert_eq!(h["x-amz-security-token"], "token");
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=ASIAEXEC/20270115/us-east-1/ssm/aws4_request"
            ),
            "{auth}"
        );
        assert!(
            auth.contains("x-amz-target"),
            "the target is signed: {auth}"
        );
    }

    #[test]
    fn answers_and_errors_read_as_the_sdks_read_them() {
        let ok = parse_answer(http::StatusCode::OK, br#"{"Parameters":[]}"#).unwrap();
        assert_eq!(ok["Parameters"], serde_json::json!([]));
        let err = parse_answer(
            http::StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ResourceNotFoundException: Secrets Manager can't find the specified secret."
        );
        assert!(!err.retryable());
        let throttled = parse_answer(
            http::StatusCode::BAD_REQUEST,
            br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
        .unwrap_err();
        assert!(throttled.retryable());
        assert!(
            parse_answer(http::StatusCode::BAD_GATEWAY, b"<html>")
                .unwrap_err()
                .retryable()
        );
        assert_eq!(
            regional_endpoint(&SECRETS_MANAGER, "eu-west-1", false),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint(&SSM, "cn-north-1", false),
            "https://ssm.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            s3_object_url(
                S3Endpoint::Override("http://127.0.0.1:4566/"),
                "b",
                "dir/my file+.env",
                "us-east-1"
            ),
            "http://127.0.0.1:4566/b/dir/my%20file%2B.env"
        );
        assert_eq!(
            s3_object_url(REGIONAL, "b", "a.env", "eu-west-1"),
            "https://b.s3.eu-west-1.amazonaws.com/a.env"
        );
        assert_eq!(
            s3_object_url(REGIONAL, "my.bucket", "a.env", "us-east-1"),
            "https://s3.us-east-1.amazonaws.com/my.bucket/a.env"
        );
        assert_eq!(
            xml_error(
                http::StatusCode::NOT_FOUND,
                b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
            )
            .to_string(),
            "NoSuchKey: The specified key does not exist."
        );
    }

    /// A server that answers each call with the next of `answers` (status, body), counting calls.
    async fn scripted(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&calls);
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let (status, body) = answers[n.min(answers.len() - 1)];
                async move {
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        body.to_string(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), calls)
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_client_errors_are_not() {
        use std::sync::atomic::Ordering;
        let client = AwsJsonClient::new(std::sync::Arc::default()).unwrap();
        let call = |endpoint: String| {
            let client = client.clone();
            async move {
                client
                    .call(
                        &endpoint,
                        &SSM,
                        "GetParameters",
                        "us-east-1",
                        &creds(),
                        &serde_json::json!({}),
                    )
                    .await
            }
        };
        let (endpoint, calls) = scripted(vec![
            (500, r#"{"__type":"InternalServerError","message":"x"}"#),
            (
                400,
                r#"{"__type":"ThrottlingException","message":"slow down"}"#,
            ),
            (200, r#"{"Parameters":[]}"#),
        ])
        .await;
        assert_eq!(
            call(endpoint).await.unwrap()["Parameters"],
            serde_json::json!([])
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (endpoint, calls) = scripted(vec![(503, "unavailable")]).await;
        assert!(call(endpoint).await.unwrap_err().retryable());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "gives up after RetryPolicy::AWS_JSON's 3 attempts"
        );

        let (endpoint, calls) = scripted(vec![(
            400,
            r#"{"__type":"ParameterNotFound","message":""}"#,
        )])
        .await;
        assert_eq!(
            call(endpoint).await.unwrap_err(),
            CallError::Service {
                code: "ParameterNotFound".into(),
                message: String::new()
            }
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a client error is not retried"
        );
    }

    #[tokio::test]
    async fn s3_get_object_follows_the_bucket_region_s3_names() {
        let client = AwsJsonClient::new(std::sync::Arc::default()).unwrap();
        // With an endpoint override there is nothing to follow: the answer is the error.
        let app = axum::Router::new().fallback(|| async {
            (
                axum::http::StatusCode::MOVED_PERMANENTLY,
                [("x-amz-bucket-region", "eu-west-1")],
                "<Error><Code>PermanentRedirect</Code><Message>moved</Message></Error>",
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let err = client
            .s3_get_object(
                S3Endpoint::Override(&format!("http://{addr}")),
                "b",
                "k",
                "us-east-1",
                &creds(),
            )
            .await
            .unwrap_err();
        assert_eq!(err, CallError::WrongRegion("eu-west-1".into()));
        assert!(!err.retryable());
    }

    /// Proxies with `url` as `HTTP_PROXY` (`https`: as `HTTPS_PROXY`) and nothing in `NO_PROXY`.
    fn through(url: &str, https: bool) -> std::sync::Arc<Proxies> {
        let proxy = crate::proxy::Proxy::parse(&ecs_config::ProxyUrl::new(url)).ok();
        std::sync::Arc::new(if https {
            Proxies::new(None, proxy, "")
        } else {
            Proxies::new(proxy, None, "")
        })
    }

    #[tokio::test]
    async fn plain_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
        use crate::proxy::testing::{has_proxy_auth, origin, recording_proxy};
        let origin = origin().await;
        let (proxy_url, heads) = recording_proxy(origin).await;
        let client = AwsJsonClient::new(through(&proxy_url, false)).unwrap();
        // The name resolves nowhere: only the proxy, which sends it to the origin, can reach it.
        let endpoint = format!("http://ssm.proxy-test.invalid:{}", origin.port());
        let answer = client
            .call(
                &endpoint,
                &SSM,
                "GetParameters",
                "us-east-1",
                &creds(),
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        assert_eq!(answer["Parameters"], serde_json::json!([]));
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(
            heads[0].starts_with(&format!("POST {endpoint}/ HTTP/1.1\r\n")),
            "{heads:?}"
        );
        assert!(has_proxy_auth(&heads[0]), "{heads:?}");
    }

    #[tokio::test]
    async fn https_goes_through_a_connect_tunnel() {
        use crate::proxy::testing::{has_proxy_auth, origin, recording_proxy};
        let origin = origin().await;
        let (proxy_url, heads) = recording_proxy(origin).await;
        let client = AwsJsonClient::new(through(&proxy_url, true)).unwrap();
        let target = format!("ssm.proxy-test.invalid:{}", origin.port());
        // The tunnel is asked for; TLS then fails (the origin speaks plain HTTP).
        let err = client
            .call(
                &format!("https://{target}"),
                &SSM,
                "GetParameters",
                "us-east-1",
                &creds(),
                &serde_json::json!({}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, CallError::Transport(_)), "{err}");
        let connect = heads.lock().unwrap()[0].clone();
        assert!(
            connect.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
            "{connect}"
        );
        assert!(has_proxy_auth(&connect), "{connect}");
        // The https proxy is not used for plain http.
        let endpoint = format!("http://{origin}");
        heads.lock().unwrap().clear();
        client
            .call(
                &endpoint,
                &SSM,
                "GetParameters",
                "us-east-1",
                &creds(),
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        assert!(heads.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn no_proxy_and_loopback_destinations_connect_directly() {
        use crate::proxy::testing::{origin, recording_proxy};
        let origin = origin().await;
        let (proxy_url, heads) = recording_proxy(origin).await;
        let client = AwsJsonClient::new(through(&proxy_url, false)).unwrap();
        client
            .call(
                &format!("http://{origin}"),
                &SSM,
                "GetParameters",
                "us-east-1",
                &creds(),
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        assert!(heads.lock().unwrap().is_empty());
        // The same through a name NO_PROXY lists: direct, so the name must resolve (localhost
        // is exempt anyway; `NO_PROXY=*` leaves everything direct).
        let client = AwsJsonClient::new(std::sync::Arc::new(Proxies::new(
            crate::proxy::Proxy::parse(&ecs_config::ProxyUrl::new(&proxy_url)).ok(),
            None,
            "*",
        )))
        .unwrap();
        let port = origin.port();
        let err = client
            .call(
                &format!("http://ssm.proxy-test.invalid:{port}"),
                &SSM,
                "GetParameters",
                "us-east-1",
                &creds(),
                &serde_json::json!({}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, CallError::Transport(_)), "{err}");
        assert!(
            heads.lock().unwrap().is_empty(),
            "NO_PROXY=* bypassed the proxy"
        );
    }
}
