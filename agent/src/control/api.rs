//! [`EcsApi`]: the agent's ECS API client (aws-sdk-ecs) for the three calls the agent makes.
//!
//! Owns the SDK client, the instance credentials chain and the DiscoverPollEndpoint cache. Error
//! classification (terminal, invalid, transient) happens here, once per operation, so callers
//! match on [`ControlError`] and never on SDK types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::config::timeout::TimeoutConfig;
use aws_sdk_ecs::config::{BehaviorVersion, Region};
use aws_sdk_ecs::types as sdk;
use ecs_config::Config;
use ecs_protocol::ecs_api::Attribute;
use tokio::time::Instant;

use super::ControlError;
use super::register::{Registration, check_attributes_echoed};
use crate::proxy::Proxies;
use crate::retry::{Attempt, GaveUp, RetryPolicy, retry};
use crate::sdk_error::describe;
use crate::state_change::TaskStateChange;
use aws_sdk_ecs::error::SdkError;

const REGISTER: &str = "RegisterContainerInstance";
const DISCOVER: &str = "DiscoverPollEndpoint";
const SUBMIT: &str = "SubmitTaskStateChange";
const UPDATE_STATE: &str = "UpdateContainerInstancesState";

/// Error codes that make a registration terminal (section 2.2).
const TERMINAL_REGISTER_CODES: [&str; 4] = [
    "AccessDeniedException",
    "AccessDenied",
    "InvalidParameterException",
    "ClientException",
];

/// Knobs of [`EcsApi`]; [`EcsApiOptions::default`] is the reference agent's behaviour.
#[derive(Debug, Clone)]
pub struct EcsApiOptions {
    /// Credentials to sign with; `None`: the instance chain (environment, then the shared
    /// credentials file's `ECS_ALTERNATE_CREDENTIAL_PROFILE` profile, then instance metadata
    /// unless `ECS_EXTERNAL`; on ECS Anywhere the shared file, rotated by SSM, comes first).
    pub credentials: Option<SharedCredentialsProvider>,
    /// Retries of RegisterContainerInstance on transient errors (3 s → 192 s for up to 1 h).
    pub register_retry: RetryPolicy,
    /// How long a DiscoverPollEndpoint answer is used before asking again (12 h).
    pub poll_endpoint_ttl: Duration,
    /// Attempts the SDK makes per call (its own quick retries of throttling and network
    /// errors), below the agent's own retries.
    pub sdk_max_attempts: u32,
    /// Time allowed to each attempt of a call.
    pub attempt_timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
}

impl Default for EcsApiOptions {
    fn default() -> Self {
        Self {
            credentials: None,
            register_retry: RetryPolicy::REGISTER,
            poll_endpoint_ttl: Duration::from_secs(12 * 3600),
            sdk_max_attempts: 3,
            attempt_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Sets the agent's User-Agent on every ECS API request, after the SDK has set its own and
/// signed (SigV4 does not sign User-Agent), as the reference's `ecsRoundTripper` replaces the
/// SDK's on the way out.
#[derive(Debug)]
struct AgentUserAgent(http::HeaderValue);

impl aws_sdk_ecs::config::Intercept for AgentUserAgent {
    fn name(&self) -> &'static str {
        "AgentUserAgent"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_ecs::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_ecs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ecs::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert(http::header::USER_AGENT, self.0.clone());
        Ok(())
    }
}

/// A DiscoverPollEndpoint answer and when it was fetched.
#[derive(Debug, Clone)]
struct CachedEndpoint {
    endpoint: String,
    fetched: Instant,
}

/// The ECS API as the agent uses it. Cheap to clone; clones share the endpoint cache.
#[derive(Clone)]
pub struct EcsApi {
    client: aws_sdk_ecs::Client,
    credentials: SharedCredentialsProvider,
    region: String,
    endpoint: Option<String>,
    proxies: Arc<Proxies>,
    register_retry: RetryPolicy,
    poll_endpoint_ttl: Duration,
    /// DiscoverPollEndpoint answers by instance ARN. A lock rather than an actor: the map is read
    /// or written in one statement and the guard is never held across an await.
    poll_endpoints: Arc<Mutex<HashMap<String, CachedEndpoint>>>,
    /// The User-Agent of its calls, which the websocket upgrades carry too.
    user_agent: String,
}

impl std::fmt::Debug for EcsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsApi")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// The RegisterContainerInstance JSON `body` with the member `clientToken: token` added, or
/// `None` if the body is not a JSON object. Pure.
fn with_client_token(body: &[u8], token: &str) -> Option<Vec<u8>> {
    let mut request: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    request.insert("clientToken".into(), token.into());
    serde_json::to_vec(&request).ok()
}

/// `ECS_BACKEND_HOST` as a URL: `https://` added when there is no scheme.
fn endpoint_url(value: &str) -> Result<String, ControlError> {
    let value = value.trim();
    let url = if value.contains("://") {
        value.to_string()
    } else {
        format!("https://{value}")
    };
    let invalid = |reason: &str| ControlError::InvalidEndpoint {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("the scheme must be http or https")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(invalid("no host"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The endpoint the SDK calls for `region` (its dual-stack one when `dual_stack`) when none is
/// configured, to choose its proxy.
fn default_endpoint(region: &str, dual_stack: bool) -> Option<String> {
    use aws_sdk_ecs::config::endpoint::{DefaultResolver, Params, ResolveEndpoint as _};
    use futures_util::FutureExt as _;
    let params = Params::builder()
        .region(region)
        .use_dual_stack(dual_stack)
        .build()
        .ok()?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .now_or_never()?
        .ok()?;
    Some(endpoint.url().to_string())
}

/// The instance credentials chain (see [`EcsApiOptions::credentials`]); instance metadata is
/// reached as `proxies` say (directly unless `NO_PROXY` leaves out 169.254.169.254).
fn instance_credentials(config: &Config, proxies: &Proxies) -> SharedCredentialsProvider {
    let profile = ProfileFileCredentialsProvider::builder()
        .profile_name(config.alternate_credential_profile.value.as_str())
        .build();
    let env = EnvironmentVariableCredentialsProvider::new();
    let chain = if config.external.value {
        CredentialsProviderChain::first_try("SharedCredentialsFile", profile)
            .or_else("Environment", env)
    } else {
        CredentialsProviderChain::first_try("Environment", env)
            .or_else("SharedCredentialsFile", profile)
            .or_else(
                "InstanceMetadata",
                ImdsCredentialsProvider::builder()
                    .configure(
                        &aws_config::provider_config::ProviderConfig::without_region()
                            .with_http_client(proxies.sdk_http_client("http://169.254.169.254/")),
                    )
                    .build(),
            )
    };
    SharedCredentialsProvider::new(chain)
}

/// An SDK error as (code, message).
/// Why ListTagsForResource failed, as task metadata reports it (`Errors[]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_deref().unwrap_or("error"))]
pub struct TagsError {
    /// The service's error code, if it answered.
    pub code: Option<String>,
    /// Its message, or what failed in transport.
    pub message: String,
    /// The HTTP status, if it answered.
    pub status: Option<u16>,
    /// `x-amzn-RequestId`, if it answered.
    pub request_id: Option<String>,
}

impl EcsApi {
    /// The client for this configuration: region from `AWS_DEFAULT_REGION`/`AWS_REGION` (an error
    /// when unset), endpoint from `ECS_BACKEND_HOST` or the SDK's for the region, the instance
    /// credentials chain, and the reference agent's retry rules.
    pub fn new(config: &Config) -> Result<Self, ControlError> {
        Self::with_options(config, EcsApiOptions::default())
    }

    /// [`EcsApi::new`] with other credentials, retry schedule or timeouts (tests shorten them).
    pub fn with_options(config: &Config, options: EcsApiOptions) -> Result<Self, ControlError> {
        let region = config
            .region()
            .filter(|r| !r.trim().is_empty())
            .ok_or(ControlError::MissingRegion)?
            .to_string();
        let endpoint = config
            .backend_host
            .value
            .as_deref()
            .filter(|h| !h.trim().is_empty())
            .map(endpoint_url)
            .transpose()?;
        let proxies = Arc::new(Proxies::from_config(config));
        let credentials = options
            .credentials
            .unwrap_or_else(|| instance_credentials(config, &proxies));
        // IPv6-only: the dual-stack endpoint, as the reference's `WithDualStackEnabled`; an
        // explicit endpoint is used as it is.
        let dual_stack = endpoint.is_none() && config.ipv6_only();
        let proxied_endpoint = endpoint
            .clone()
            .or_else(|| default_endpoint(&region, dual_stack));
        // A detailed OS family that cannot go in a header is left out, not fatal.
        let (user_agent, header) = [Some(config.detailed_os_family.value.as_str()), None]
            .into_iter()
            .map(crate::version::user_agent)
            .find_map(|ua| http::HeaderValue::from_str(&ua).ok().map(|h| (ua, h)))
            .unwrap_or_else(|| {
                let ua = crate::version::user_agent(None);
                (ua, http::HeaderValue::from_static("Amazon ECS Agent"))
            });
        let mut builder = aws_sdk_ecs::Config::builder()
            .interceptor(AgentUserAgent(header))
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .credentials_provider(credentials.clone())
            .retry_config(
                RetryConfig::standard().with_max_attempts(options.sdk_max_attempts.max(1)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.connect_timeout)
                    .operation_attempt_timeout(options.attempt_timeout)
                    .build(),
            );
        if let Some(url) = &endpoint {
            builder = builder.endpoint_url(url);
        }
        if dual_stack {
            builder = builder.use_dual_stack(true);
        }
        if let Some(url) = &proxied_endpoint {
            builder = builder.http_client(proxies.sdk_http_client(url));
        }
        Ok(Self {
            client: aws_sdk_ecs::Client::from_conf(builder.build()),
            credentials,
            region,
            endpoint,
            proxies,
            register_retry: options.register_retry,
            poll_endpoint_ttl: options.poll_endpoint_ttl,
            poll_endpoints: Arc::default(),
            user_agent,
        })
    }

    /// The User-Agent of its calls ([`crate::version::user_agent`] with the detailed OS family).
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The region calls are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The instance credentials (also used to sign the ACS websocket upgrade).
    pub fn credentials_provider(&self) -> SharedCredentialsProvider {
        self.credentials.clone()
    }

    /// The proxies of the agent's connections (also the ACS and TCS websockets').
    pub fn proxies(&self) -> &Arc<Proxies> {
        &self.proxies
    }

    /// The endpoint override from `ECS_BACKEND_HOST`, if any.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Registers (or re-registers, with [`Registration::instance_arn`]) this container instance
    /// and returns its ARN.
    ///
    /// Transient failures are retried with the registration backoff for up to an hour;
    /// AccessDenied, InvalidParameter, ClientException and an attribute not echoed are terminal
    /// ([`ControlError::is_terminal`]). Drop the future to cancel.
    #[tracing::instrument(skip_all, fields(cluster = %registration.cluster, instance_arn))]
    pub async fn register(&self, registration: &Registration) -> Result<String, ControlError> {
        let attributes = registration.attributes_to_send();
        // One token for this registration and all its retries, as the reference does
        // (`uuid.New()` per registration): a retry after a lost answer gets the same instance.
        let client_token = uuid::Uuid::new_v4().to_string();
        let outcome = retry(&self.register_retry, |_| {
            let attributes = &attributes;
            let client_token = client_token.as_str();
            async move {
                match self
                    .register_once(registration, attributes, client_token)
                    .await
                {
                    Ok(arn) => Attempt::Done(arn),
                    Err(e) if e.is_terminal() => Attempt::Fail(e),
                    Err(e) => Attempt::Retry(e),
                }
            }
        })
        .await;
        match outcome {
            Ok(arn) => {
                tracing::Span::current().record("instance_arn", arn.as_str());
                tracing::info!(
                    instance_arn = %arn,
                    attributes = attributes.len(),
                    "registered container instance"
                );
                Ok(arn)
            }
            Err(GaveUp::Failed(e)) => {
                tracing::error!(error = %e, "registration refused");
                Err(e)
            }
            Err(GaveUp::Exhausted {
                attempts,
                elapsed,
                last,
            }) => Err(ControlError::RetriesExhausted {
                operation: REGISTER,
                attempts,
                elapsed,
                last: Box::new(last),
            }),
            // Not asked for: the caller cancels by dropping the future.
            Err(GaveUp::Cancelled { last }) => Err(last),
        }
    }

    async fn register_once(
        &self,
        r: &Registration,
        attributes: &[Attribute],
        client_token: &str,
    ) -> Result<String, ControlError> {
        let integer = |name: &str, value: i64| {
            sdk::Resource::builder()
                .name(name)
                .r#type("INTEGER")
                .integer_value(i32::try_from(value).unwrap_or(i32::MAX))
                .build()
        };
        let ports = |name: &str, ports: &[u16]| {
            sdk::Resource::builder()
                .name(name)
                .r#type("STRINGSET")
                .set_string_set_value(Some(ports.iter().map(u16::to_string).collect()))
                .build()
        };
        let mut request = self
            .client
            .register_container_instance()
            .cluster(&r.cluster)
            .set_container_instance_arn(r.instance_arn.clone())
            .instance_identity_document(&r.identity_document)
            .instance_identity_document_signature(&r.identity_signature)
            .total_resources(integer("CPU", r.cpu_units))
            .total_resources(integer("MEMORY", r.memory_mib))
            .total_resources(ports("PORTS", &r.reserved_ports))
            .total_resources(ports("PORTS_UDP", &r.reserved_ports_udp));
        for a in attributes {
            let attribute = sdk::Attribute::builder()
                .name(&a.name)
                .set_value(a.value.clone())
                .build()
                .map_err(|e| ControlError::Rejected {
                    operation: REGISTER,
                    code: "InvalidAttribute".into(),
                    message: e.to_string(),
                })?;
            request = request.attributes(attribute);
        }
        for (key, value) in &r.tags {
            request = request.tags(sdk::Tag::builder().key(key).value(value).build());
        }
        // The public SDK model has no `clientToken` (the reference's fork of it has): the member is
        // added to the serialized body before the request is signed.
        let client_token = client_token.to_string();
        let answer = request
            .customize()
            .mutate_request(move |req| {
                let Some(body) = req
                    .body()
                    .bytes()
                    .and_then(|b| with_client_token(b, &client_token))
                else {
                    return;
                };
                req.headers_mut()
                    .insert("content-length", body.len().to_string());
                *req.body_mut() = body.into();
            })
            .send()
            .await
            .map_err(|err| {
                let (code, message) = describe(&err);
                match code {
                    Some(code) if TERMINAL_REGISTER_CODES.contains(&code.as_str()) => {
                        ControlError::Rejected {
                            operation: REGISTER,
                            code,
                            message,
                        }
                    }
                    code => ControlError::Api {
                        operation: REGISTER,
                        code,
                        message,
                    },
                }
            })?;
        let instance = answer
            .container_instance()
            .ok_or(ControlError::MissingField {
                operation: REGISTER,
                field: "containerInstance",
            })?;
        let arn = instance
            .container_instance_arn()
            .filter(|a| !a.is_empty())
            .ok_or(ControlError::MissingField {
                operation: REGISTER,
                field: "containerInstance.containerInstanceArn",
            })?;
        let returned: Vec<Attribute> = instance
            .attributes()
            .iter()
            .map(|a| Attribute {
                name: a.name().to_string(),
                value: a.value().map(str::to_string),
                ..Attribute::default()
            })
            .collect();
        check_attributes_echoed(attributes, &returned)?;
        Ok(arn.to_string())
    }

    /// The ACS endpoint for this instance: DiscoverPollEndpoint, cached for 12 h; if the call
    /// fails and an expired answer is cached, that answer is used.
    pub async fn discover_poll_endpoint(
        &self,
        cluster: &str,
        instance_arn: &str,
    ) -> Result<String, ControlError> {
        let cached = self.cached_endpoint(instance_arn);
        if let Some(c) = &cached
            && c.fetched.elapsed() < self.poll_endpoint_ttl
        {
            return Ok(c.endpoint.clone());
        }
        match self.discover_once(cluster, instance_arn).await {
            Ok(endpoint) => {
                tracing::debug!(instance_arn, endpoint = %endpoint, "discovered the ACS endpoint");
                self.poll_endpoints
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        instance_arn.to_string(),
                        CachedEndpoint {
                            endpoint: endpoint.clone(),
                            fetched: Instant::now(),
                        },
                    );
                Ok(endpoint)
            }
            Err(e) => match cached {
                Some(stale) => {
                    tracing::warn!(instance_arn, error = %e, "DiscoverPollEndpoint failed; using the expired answer");
                    Ok(stale.endpoint)
                }
                None => Err(e),
            },
        }
    }

    fn cached_endpoint(&self, instance_arn: &str) -> Option<CachedEndpoint> {
        self.poll_endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(instance_arn)
            .cloned()
    }

    /// One DiscoverPollEndpoint call.
    async fn discover(
        &self,
        cluster: &str,
        instance_arn: &str,
    ) -> Result<
        aws_sdk_ecs::operation::discover_poll_endpoint::DiscoverPollEndpointOutput,
        ControlError,
    > {
        self.client
            .discover_poll_endpoint()
            .cluster(cluster)
            .container_instance(instance_arn)
            .send()
            .await
            .map_err(|err| {
                let (code, message) = describe(&err);
                ControlError::Api {
                    operation: DISCOVER,
                    code,
                    message,
                }
            })
    }

    async fn discover_once(
        &self,
        cluster: &str,
        instance_arn: &str,
    ) -> Result<String, ControlError> {
        let answer = self.discover(cluster, instance_arn).await?;
        answer
            .endpoint()
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .ok_or(ControlError::MissingField {
                operation: DISCOVER,
                field: "endpoint",
            })
    }

    /// The telemetry (TCS) endpoint for this instance: DiscoverPollEndpoint's `telemetryEndpoint`
    /// (not cached: it is asked for only when the TCS connection is opened).
    pub async fn discover_telemetry_endpoint(
        &self,
        cluster: &str,
        instance_arn: &str,
    ) -> Result<String, ControlError> {
        let answer = self.discover(cluster, instance_arn).await?;
        answer
            .telemetry_endpoint()
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .ok_or(ControlError::MissingField {
                operation: DISCOVER,
                field: "telemetryEndpoint",
            })
    }

    /// ListTagsForResource: the tags of a task or container instance, for task metadata's
    /// `taskWithTags`.
    pub async fn list_tags(
        &self,
        resource_arn: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, TagsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(resource_arn)
            .send()
            .await
            .map_err(|err| {
                let (code, message) = describe(&err);
                let (status, request_id) = match &err {
                    SdkError::ServiceError(s) => (
                        Some(s.raw().status().as_u16()),
                        s.raw()
                            .headers()
                            .get("x-amzn-requestid")
                            .map(str::to_string),
                    ),
                    _ => (None, None),
                };
                TagsError {
                    code,
                    message,
                    status,
                    request_id,
                }
            })?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// Reports a task's status with its containers' changes. One call (the SDK retries
    /// throttling and network errors a few times); the caller queues and retries transient
    /// failures with [`crate::retry::RetryPolicy::SUBMIT_STATE_CHANGE`] and drops the event on
    /// [`ControlError::InvalidParameter`].
    #[tracing::instrument(skip_all, fields(task_arn = %change.task_arn, status = change.status.as_str()))]
    pub async fn submit_task_state_change(
        &self,
        change: &TaskStateChange,
    ) -> Result<(), ControlError> {
        self.client
            .submit_task_state_change()
            .cluster(&change.cluster)
            .task(&change.task_arn)
            .status(change.status.as_str())
            .reason(change.wire_reason())
            .set_containers(change.sdk_containers())
            .set_pull_started_at(TaskStateChange::sdk_time(change.pull_started_at))
            .set_pull_stopped_at(TaskStateChange::sdk_time(change.pull_stopped_at))
            .set_execution_stopped_at(TaskStateChange::sdk_time(change.execution_stopped_at))
            .send()
            .await
            .map_err(|err| {
                let (code, message) = describe(&err);
                match code.as_deref() {
                    Some("InvalidParameterException") => ControlError::InvalidParameter(message),
                    _ => ControlError::Api {
                        operation: SUBMIT,
                        code,
                        message,
                    },
                }
            })?;
        tracing::debug!("state change submitted");
        Ok(())
    }
}

impl EcsApi {
    /// UpdateContainerInstancesState to DRAINING for this instance (the spot interruption
    /// poller's one call, as the reference makes it).
    pub async fn set_draining(
        &self,
        cluster: &str,
        instance_arn: &str,
    ) -> Result<(), ControlError> {
        let out = self
            .client
            .update_container_instances_state()
            .cluster(cluster)
            .container_instances(instance_arn)
            .status(sdk::ContainerInstanceStatus::Draining)
            .send()
            .await
            .map_err(|err| {
                let (code, message) = describe(&err);
                ControlError::Api {
                    operation: UPDATE_STATE,
                    code,
                    message,
                }
            })?;
        if let Some(f) = out.failures().first() {
            return Err(ControlError::Api {
                operation: UPDATE_STATE,
                code: f.reason().map(String::from),
                message: f.detail().unwrap_or_default().to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_config::Sources;

    #[test]
    fn the_client_token_is_added_to_the_request_body() {
        let body = with_client_token(br#"{"cluster":"default","attributes":[]}"#, "t-1").unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"cluster": "default", "attributes": [], "clientToken": "t-1"})
        );
        assert!(with_client_token(b"[]", "t").is_none());
        assert!(with_client_token(b"", "t").is_none());
    }

    fn config(env: &[(&str, &str)]) -> Config {
        let sources = Sources::from_env(env);
        ecs_config::load(&sources).config
    }

    /// A RegisterContainerInstance whose first answer is lost (a 500) is retried with the same
    /// `clientToken`, so ECS can give back the instance the first attempt made.
    #[tokio::test]
    async fn a_retried_registration_sends_the_same_client_token() {
        use std::sync::{Arc, Mutex};
        let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&tokens);
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let request: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    let mut seen = seen.lock().unwrap();
                    seen.push(request["clientToken"].as_str().unwrap_or("").to_string());
                    if seen.len() == 1 {
                        return (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            r#"{"__type":"ServerException","message":"answer lost"}"#.to_string(),
                        );
                    }
                    let answer = serde_json::json!({"containerInstance": {
                        "containerInstanceArn":
                            "arn:aws:ecs:us-east-1:123456789012:container-instance/default/1",
                        "attributes": request["attributes"],
                    }});
                    (axum::http::StatusCode::OK, answer.to_string())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut register_retry = RetryPolicy::REGISTER;
        register_retry.backoff.initial = Duration::from_millis(10);
        register_retry.backoff.max = Duration::from_millis(10);
        register_retry.max_attempts = Some(3);
        let api = EcsApi::with_options(
            &config(&[
                ("AWS_DEFAULT_REGION", "us-east-1"),
                ("ECS_BACKEND_HOST", &endpoint),
            ]),
            EcsApiOptions {
                credentials: Some(SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
                )),
                register_retry,
                sdk_max_attempts: 1,
                ..EcsApiOptions::default()
            },
        )
        .unwrap();
        let registration = Registration {
            cluster: "default".into(),
            instance_arn: None,
            cpu_units: 1024,
            memory_mib: 2048,
            reserved_ports: vec![22],
            reserved_ports_udp: Vec::new(),
            attributes: vec![Attribute::with_value("ecs.os-type", "linux")],
            custom_attributes: Default::default(),
            tags: Default::default(),
            identity_document: String::new(),
            identity_signature: String::new(),
        };
        let arn = api.register(&registration).await.unwrap();
        assert!(arn.ends_with("container-instance/default/1"), "{arn}");
        let first = tokens.lock().unwrap().clone();
        assert_eq!(first.len(), 2, "{first:?}");
        assert!(!first[0].is_empty());
        assert_eq!(first[0], first[1], "the retry kept the token");

        // A new registration gets a new token.
        api.register(&registration).await.unwrap();
        let all = tokens.lock().unwrap().clone();
        assert_eq!(all.len(), 3, "{all:?}");
        assert_ne!(all[2], first[0], "a new registration, a new token");
    }

    #[test]
    fn endpoint_gets_a_scheme() {
        assert_eq!(
            endpoint_url("ecs.us-east-1.amazonaws.com").unwrap(),
            "https://ecs.us-east-1.amazonaws.com"
        );
        assert_eq!(
            endpoint_url("http://127.0.0.1:4566/").unwrap(),
            "http://127.0.0.1:4566"
        );
        assert!(endpoint_url("ftp://x").unwrap_err().is_terminal());
        assert!(endpoint_url("http://").is_err());
    }

    #[test]
    fn no_region_is_fatal() {
        let err = EcsApi::new(&config(&[])).unwrap_err();
        assert!(matches!(err, ControlError::MissingRegion));
        assert!(err.is_terminal());
    }

    #[tokio::test]
    async fn builds_with_region_and_endpoint() {
        let api = EcsApi::new(&config(&[
            ("AWS_REGION", "eu-west-1"),
            ("ECS_BACKEND_HOST", "127.0.0.1:9"),
        ]))
        .unwrap();
        assert_eq!(api.region(), "eu-west-1");
        assert_eq!(api.endpoint(), Some("https://127.0.0.1:9"));
        assert!(format!("{api:?}").contains("eu-west-1"));
    }

    /// The URL the client's first call goes to, with `env`.
    async fn ecs_url(env: &[(&str, &str)]) -> String {
        let api = EcsApi::with_options(
            &config(env),
            EcsApiOptions {
                credentials: Some(SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
                )),
                sdk_max_attempts: 1,
                ..EcsApiOptions::default()
            },
        )
        .unwrap();
        let (http, captured) = crate::sdk_capture::capturing_client();
        let client = aws_sdk_ecs::Client::from_conf(
            api.client.config().to_builder().http_client(http).build(),
        );
        assert!(client.list_clusters().send().await.is_err());
        captured.urls().first().cloned().expect("one request")
    }

    #[tokio::test]
    async fn ipv6_only_instances_call_the_dual_stack_endpoint_unless_one_is_given() {
        let region = ("AWS_REGION", "eu-west-1");
        let v6 = ("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6");
        assert_eq!(
            ecs_url(&[region]).await,
            "https://ecs.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            ecs_url(&[region, ("ECS_INSTANCE_IP_COMPATIBILITY", "ipv4")]).await,
            "https://ecs.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            ecs_url(&[region, v6]).await,
            "https://ecs.eu-west-1.api.aws/"
        );
        // ECS_BACKEND_HOST is used as it is, as the reference does.
        assert_eq!(
            ecs_url(&[region, v6, ("ECS_BACKEND_HOST", "http://127.0.0.1:9")]).await,
            "http://127.0.0.1:9/"
        );
        // The proxy choice looks at the same endpoint.
        assert_eq!(
            default_endpoint("eu-west-1", true).as_deref(),
            Some("https://ecs.eu-west-1.api.aws")
        );
    }

    #[tokio::test]
    async fn a_stale_endpoint_is_used_when_discovery_fails() {
        // Nothing listens on port 9; one quick attempt.
        let api = EcsApi::with_options(
            &config(&[
                ("AWS_DEFAULT_REGION", "us-east-1"),
                ("ECS_BACKEND_HOST", "http://127.0.0.1:9"),
            ]),
            EcsApiOptions {
                credentials: Some(SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
                )),
                poll_endpoint_ttl: Duration::ZERO,
                sdk_max_attempts: 1,
                ..EcsApiOptions::default()
            },
        )
        .unwrap();
        let err = api
            .discover_poll_endpoint("default", "arn:i")
            .await
            .unwrap_err();
        assert!(matches!(err, ControlError::Api { .. }), "{err}");
        api.poll_endpoints.lock().unwrap().insert(
            "arn:i".into(),
            CachedEndpoint {
                endpoint: "http://stale".into(),
                fetched: Instant::now(),
            },
        );
        assert_eq!(
            api.discover_poll_endpoint("default", "arn:i")
                .await
                .unwrap(),
            "http://stale"
        );
    }
}
