//! Registry credentials for a container's pull: ECR tokens (GetAuthorizationToken through
//! aws-sdk-ecr, cached per registry and credentials) for `registryAuthentication` of type ecr, and
//! `ECS_ENGINE_AUTH_TYPE` / `ECS_ENGINE_AUTH_DATA` (`docker` and `dockercfg`) for other registries,
//! and a Secrets Manager secret `{"username", "password"}` read with the execution role's
//! credentials for `registryAuthentication` of type asm (`repositoryCredentials`).
//!
//! What it must not do: log a password, a token or the auth data (errors name the registry and
//! the field, never the value).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use base64::Engine as _;
use ecs_config::EngineAuthType;
use ecs_protocol::acs::{
    AsmAuthData, AuthenticationType, Container, EcrAuthData, IamRoleCredentials,
    RegistryAuthentication,
};
use serde_json::Value;

use crate::runtime::RegistryAuth;

/// How long before `expiresAt` a cached ECR token stops being used: the reference's 30 minutes,
/// plus up to 30 minutes of jitter.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(30 * 60);
const TOKEN_REFRESH_JITTER: Duration = Duration::from_secs(30 * 60);
/// GetAuthorizationToken's deadline per attempt.
const ECR_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why credentials could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// GetAuthorizationToken failed.
    #[error("ECR GetAuthorizationToken for registry {registry} in {region}: {message}")]
    Ecr {
        /// Registry id.
        registry: String,
        /// Region.
        region: String,
        /// The service's words.
        message: String,
    },
    /// The ECR answer is unusable.
    #[error("ECR authorization data for registry {registry}: {what}")]
    BadToken {
        /// Registry id.
        registry: String,
        /// What is wrong (never the value).
        what: String,
    },
    /// `ECS_ENGINE_AUTH_DATA` cannot be read.
    #[error("ECS_ENGINE_AUTH_DATA: {0}")]
    AuthData(String),
    /// The Secrets Manager secret of `repositoryCredentials` could not be read or used.
    #[error("{0}")]
    Asm(String),
    /// Registry authentication of a kind this agent does not support.
    #[error("registryAuthentication type {0} is not supported by this agent")]
    Unsupported(String),
}

/// Credentials from `ECS_ENGINE_AUTH_DATA`, by registry host.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EngineAuth {
    by_registry: HashMap<String, (String, String)>,
}

impl std::fmt::Debug for EngineAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineAuth")
            .field("registries", &self.by_registry.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `https://host/v1/` → `host`; `host` stays.
fn normalize_registry(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k).to_ascii_lowercase()
}

impl EngineAuth {
    /// Parses `ECS_ENGINE_AUTH_DATA` in the `ECS_ENGINE_AUTH_TYPE` format.
    pub fn parse(kind: EngineAuthType, data: &str) -> Result<Self, AuthError> {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| AuthError::AuthData(format!("not JSON ({e})")))?;
        let Value::Object(map) = v else {
            return Err(AuthError::AuthData(
                "expected a JSON object keyed by registry".into(),
            ));
        };
        let mut by_registry = HashMap::new();
        for (registry, entry) in map {
            let field = |name: &str| entry.get(name).and_then(Value::as_str).map(String::from);
            let pair = match kind {
                EngineAuthType::Dockercfg => {
                    let auth = field("auth").ok_or_else(|| {
                        AuthError::AuthData(format!("registry {registry}: no \"auth\" field"))
                    })?;
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| {
                            AuthError::AuthData(format!(
                                "registry {registry}: \"auth\" is not base64 of user:password"
                            ))
                        })?;
                    let (u, p) = decoded.split_once(':').ok_or_else(|| {
                        AuthError::AuthData(format!(
                            "registry {registry}: \"auth\" is not base64 of user:password"
                        ))
                    })?;
                    (u.to_owned(), p.to_owned())
                }
                // `docker` and any unknown type name: the documented default format.
                _ => {
                    let (Some(u), Some(p)) = (field("username"), field("password")) else {
                        return Err(AuthError::AuthData(format!(
                            "registry {registry}: needs \"username\" and \"password\""
                        )));
                    };
                    (u, p)
                }
            };
            by_registry.insert(normalize_registry(&registry), pair);
        }
        Ok(EngineAuth { by_registry })
    }

    /// Credentials for the registry of `image`, if configured.
    pub fn for_image(&self, image: &str) -> Option<RegistryAuth> {
        let host = image_registry(image);
        self.by_registry
            .get(&host)
            .map(|(username, password)| RegistryAuth {
                username: username.clone(),
                password: password.clone(),
                server_address: host,
            })
    }
}

/// The registry host of an image reference (`index.docker.io` for Docker Hub names).
pub fn image_registry(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_ascii_lowercase()
        }
        _ => "index.docker.io".into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    region: String,
    registry_id: String,
    endpoint: String,
    role: String,
}

#[derive(Clone)]
struct CachedToken {
    auth: RegistryAuth,
    use_until: SystemTime,
}

/// Resolves a container's pull credentials.
#[allow(missing_debug_implementations)] // holds credentials
pub struct Authenticator {
    instance: SharedCredentialsProvider,
    engine: Option<EngineAuth>,
    /// ECR tokens. A lock rather than an actor: a lookup or an insert is a short synchronous
    /// step; it is never held across the GetAuthorizationToken call.
    cache: std::sync::Mutex<HashMap<TokenKey, CachedToken>>,
    /// Secrets Manager, for `repositoryCredentials`.
    secrets: crate::secrets::SecretsFetcher,
    /// How ECR is reached.
    proxies: std::sync::Arc<crate::proxy::Proxies>,
    /// ECR's dual-stack endpoint when no override is given (an IPv6-only instance).
    dual_stack: bool,
}

impl Authenticator {
    /// With the instance credentials and the parsed engine auth data (if any).
    pub fn new(instance: SharedCredentialsProvider, engine: Option<EngineAuth>) -> Self {
        Authenticator {
            instance,
            engine,
            cache: std::sync::Mutex::default(),
            secrets: crate::secrets::SecretsFetcher::default(),
            proxies: std::sync::Arc::default(),
            dual_stack: false,
        }
    }

    /// Calls ECR's dual-stack endpoint when the payload names no endpoint override, as the
    /// reference does on an IPv6-only instance (`ECS_INSTANCE_IP_COMPATIBILITY`).
    pub fn with_dual_stack(mut self, dual_stack: bool) -> Self {
        self.dual_stack = dual_stack;
        self
    }

    /// Calls ECR through `proxies` (directly by default).
    pub fn with_proxies(mut self, proxies: std::sync::Arc<crate::proxy::Proxies>) -> Self {
        self.proxies = proxies;
        self
    }

    /// Reads `repositoryCredentials` secrets through `secrets` (its endpoint and default region).
    pub fn with_secrets(mut self, secrets: crate::secrets::SecretsFetcher) -> Self {
        self.secrets = secrets;
        self
    }

    /// The credentials for `container`'s image: ECR when it says so, else the engine auth data
    /// for its registry, else none (anonymous).
    pub async fn credentials(
        &self,
        container: &Container,
        execution: Option<&IamRoleCredentials>,
    ) -> Result<Option<RegistryAuth>, AuthError> {
        let image = container.image.as_deref().unwrap_or_default();
        match container.registry_authentication.as_ref() {
            Some(RegistryAuthentication {
                kind: Some(AuthenticationType::Ecr),
                ecr_auth_data: Some(data),
                ..
            }) => self.ecr(data, execution).await.map(Some),
            Some(RegistryAuthentication {
                kind: Some(AuthenticationType::Asm),
                asm_auth_data,
                ..
            }) => self
                .asm(asm_auth_data.as_ref(), execution, image)
                .await
                .map(Some),
            _ => Ok(self.engine.as_ref().and_then(|e| e.for_image(image))),
        }
    }

    /// `repositoryCredentials`: the secret's `{"username", "password"}`, read with the execution
    /// role's credentials, for the image's registry. Errors in the reference's words.
    async fn asm(
        &self,
        data: Option<&AsmAuthData>,
        execution: Option<&IamRoleCredentials>,
        image: &str,
    ) -> Result<RegistryAuth, AuthError> {
        let secret_id = data
            .and_then(|d| d.credentials_parameter.clone())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                AuthError::Asm("asm fetching authorization data: no credentialsParameter".into())
            })?;
        let region = data
            .and_then(|d| d.region.clone())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| self.secrets.region().to_string());
        let creds = execution
            .and_then(crate::secrets::credentials)
            .ok_or_else(|| {
                AuthError::Asm("asm resource: unable to find execution role credentials".into())
            })?;
        let value = self
            .secrets
            .get_secret_string(&region, &secret_id, None, None, &creds)
            .await
            .map_err(|e| {
                AuthError::Asm(match e {
                    crate::secrets::SecretsError::Asm { message, .. } => {
                        format!("asm fetching secret from the service for {secret_id}: {message}")
                    }
                    other => other.to_string(),
                })
            })?;
        asm_registry_auth(&value, image)
    }

    fn cached(&self, key: &TokenKey, now: SystemTime) -> Option<RegistryAuth> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|t| t.use_until > now)
            .map(|t| t.auth.clone())
    }

    async fn ecr(
        &self,
        data: &EcrAuthData,
        execution: Option<&IamRoleCredentials>,
    ) -> Result<RegistryAuth, AuthError> {
        let region = data.region.clone().unwrap_or_default();
        let registry_id = data.registry_id.clone().unwrap_or_default();
        let endpoint = data.endpoint_override.clone().unwrap_or_default();
        // Execution-role credentials when asked for and delivered; else the instance's.
        let role = execution
            .filter(|_| data.use_execution_role == Some(true))
            .and_then(|c| {
                Some((
                    c.credentials_id.clone().unwrap_or_default(),
                    Credentials::new(
                        c.access_key_id.clone()?,
                        c.secret_access_key.clone()?,
                        c.session_token.clone(),
                        None,
                        "ExecutionRole",
                    ),
                ))
            });
        let key = TokenKey {
            region: region.clone(),
            registry_id: registry_id.clone(),
            endpoint: endpoint.clone(),
            role: role.as_ref().map(|(id, _)| id.clone()).unwrap_or_default(),
        };
        let now = SystemTime::now();
        if let Some(auth) = self.cached(&key, now) {
            return Ok(auth);
        }
        let provider = match role {
            Some((_, creds)) => SharedCredentialsProvider::new(creds),
            None => self.instance.clone(),
        };
        let client = aws_sdk_ecr::Client::from_conf(self.ecr_config(&region, &endpoint, provider));
        // registryIds is deprecated in the ECR API: a token works for every registry the
        // principal may use, so the registry id only keys the cache.
        let out = client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| AuthError::Ecr {
                registry: registry_id.clone(),
                region: region.clone(),
                message: {
                    let (code, message) = crate::sdk_error::describe(&e);
                    format!("{}: {message}", code.as_deref().unwrap_or("error"))
                },
            })?;
        let bad = |what: &str| AuthError::BadToken {
            registry: registry_id.clone(),
            what: what.into(),
        };
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| bad("no authorizationData"))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| bad("no authorizationToken"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad("authorizationToken is not base64"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| bad("authorizationToken is not user:password"))?;
        let proxy = data.proxy_endpoint().unwrap_or_default();
        let auth = RegistryAuth {
            username: username.to_owned(),
            password: password.to_owned(),
            server_address: normalize_registry(proxy),
        };
        if let Some(expires) = data.expires_at() {
            let expires =
                SystemTime::UNIX_EPOCH + Duration::from_secs_f64(expires.as_secs_f64().max(0.0));
            let jitter = TOKEN_REFRESH_JITTER.mul_f64(rand::random::<f64>());
            if let Some(use_until) = expires.checked_sub(TOKEN_REFRESH_MARGIN + jitter)
                && use_until > now
            {
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.insert(
                    key,
                    CachedToken {
                        auth: auth.clone(),
                        use_until,
                    },
                );
            }
        }
        tracing::debug!(registry_id = %registry_id, region = %region, registry = %auth.server_address, "got an ECR authorization token");
        Ok(auth)
    }
}

impl Authenticator {
    /// The ECR client's configuration for `region`: the payload's `endpoint` override when
    /// there is one, else the SDK's endpoint for the region (dual-stack when asked for).
    fn ecr_config(
        &self,
        region: &str,
        endpoint: &str,
        provider: SharedCredentialsProvider,
    ) -> aws_sdk_ecr::Config {
        let mut builder = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(provider)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(ECR_ATTEMPT_TIMEOUT)
                    .build(),
            );
        let dual_stack = self.dual_stack && endpoint.is_empty();
        if !endpoint.is_empty() {
            builder = builder.endpoint_url(endpoint);
        }
        if dual_stack {
            builder = builder.use_dual_stack(true);
        }
        if let Some(url) = Some(endpoint.to_owned())
            .filter(|e| !e.is_empty())
            .or_else(|| ecr_default_endpoint(region, dual_stack))
        {
            builder = builder.http_client(self.proxies.sdk_http_client(&url));
        }
        builder.build()
    }
}

/// The endpoint the ECR SDK calls for `region` (its dual-stack one when `dual_stack`) when no
/// override is given, to choose its proxy.
fn ecr_default_endpoint(region: &str, dual_stack: bool) -> Option<String> {
    use aws_sdk_ecr::config::endpoint::{DefaultResolver, Params, ResolveEndpoint as _};
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

/// A `repositoryCredentials` secret's value as registry credentials for `image`'s registry.
fn asm_registry_auth(value: &str, image: &str) -> Result<RegistryAuth, AuthError> {
    if value.is_empty() {
        return Err(AuthError::Asm(
            "asm fetching authorization data: empty secrets value".into(),
        ));
    }
    #[derive(serde::Deserialize)]
    struct AuthDataValue {
        username: Option<String>,
        password: Option<String>,
    }
    let data: AuthDataValue = serde_json::from_str(value).map_err(|_| {
        AuthError::Asm(
            "asm fetching authorization data: unable to unmarshal secret value, invalid schema"
                .into(),
        )
    })?;
    let username = data.username.unwrap_or_default();
    if username.is_empty() {
        return Err(AuthError::Asm(
            "asm fetching username: AuthorizationData is malformed, empty field".into(),
        ));
    }
    let password = data.password.unwrap_or_default();
    if password.is_empty() {
        return Err(AuthError::Asm(
            "asm fetching password: AuthorizationData is malformed, empty field".into(),
        ));
    }
    Ok(RegistryAuth {
        username,
        password,
        server_address: image_registry(image),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where GetAuthorizationToken goes for `region` with the payload's `endpoint`.
    async fn ecr_url(dual_stack: bool, region: &str, endpoint: &str) -> String {
        let auth = Authenticator::new(
            SharedCredentialsProvider::new(Credentials::new("AKID", "secret", None, None, "t")),
            None,
        )
        .with_dual_stack(dual_stack);
        let (http, captured) = crate::sdk_capture::capturing_client();
        let config = auth
            .ecr_config(region, endpoint, auth.instance.clone())
            .to_builder()
            .http_client(http)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_ecr::Client::from_conf(config);
        assert!(client.get_authorization_token().send().await.is_err());
        captured.urls().first().cloned().expect("one request")
    }

    #[tokio::test]
    async fn ipv6_only_instances_ask_ecr_at_its_dual_stack_endpoint_unless_overridden() {
        assert_eq!(
            ecr_url(false, "us-west-2", "").await,
            "https://api.ecr.us-west-2.amazonaws.com/"
        );
        assert_eq!(
            ecr_url(true, "us-west-2", "").await,
            "https://ecr.us-west-2.api.aws/"
        );
        // The payload's endpoint override is used as it is.
        assert_eq!(
            ecr_url(true, "us-west-2", "http://127.0.0.1:9").await,
            "http://127.0.0.1:9/"
        );
    }

    #[test]
    fn repository_credentials_secrets_are_checked_as_the_reference_does() {
        let auth = asm_registry_auth(
            r#"{"username":"u","password":"p?>~"}"#,
            "127.0.0.1:5000/app:1",
        )
        .unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.as_str()),
            ("u", "p?>~")
        );
        assert_eq!(auth.server_address, image_registry("127.0.0.1:5000/app:1"));
        for (value, want) in [
            ("", "asm fetching authorization data: empty secrets value"),
            (
                "hunter2",
                "asm fetching authorization data: unable to unmarshal secret value, invalid schema",
            ),
            (
                r#"{"password":"hunter2"}"#,
                "asm fetching username: AuthorizationData is malformed, empty field",
            ),
            (
                r#"{"username":"u"}"#,
                "asm fetching password: AuthorizationData is malformed, empty field",
            ),
        ] {
            let err = asm_registry_auth(value, "r/app").unwrap_err().to_string();
            assert_eq!(err, want);
        }
    }

    #[test]
    fn docker_format_keeps_every_character_of_the_password() {
        let data = r#"{"127.0.0.1:5000":{"username":"u","password":"a?b>c~d+e","email":"x@y"}}"#;
        let auth = EngineAuth::parse(EngineAuthType::Docker, data).unwrap();
        let a = auth.for_image("127.0.0.1:5000/app:1").unwrap();
        assert_eq!(
            (a.username.as_str(), a.password.as_str()),
            ("u", "a?b>c~d+e")
        );
        assert_eq!(a.server_address, "127.0.0.1:5000");
        assert!(auth.for_image("127.0.0.1:5001/app:1").is_none());
        assert!(!format!("{auth:?}{a:?}").contains("a?b>c~d+e"));
    }

    #[test]
    fn dockercfg_format_decodes_auth() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("user:p:w");
        let data =
            format!(r#"{{"https://registry.example.com/v1/":{{"auth":"{b64}","email":""}}}}"#);
        let auth = EngineAuth::parse(EngineAuthType::Dockercfg, &data).unwrap();
        let a = auth.for_image("registry.example.com/team/app").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("user", "p:w"));
    }

    #[test]
    fn bad_auth_data_names_the_registry_not_the_secret() {
        let e = EngineAuth::parse(EngineAuthType::Docker, r#"{"r.io":{"password":"hunter2"}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("r.io"));
        assert!(!e.to_string().contains("hunter2"));
        assert!(EngineAuth::parse(EngineAuthType::Docker, "[").is_err());
    }

    #[test]
    fn registries_of_image_references() {
        assert_eq!(image_registry("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(image_registry("busybox"), "index.docker.io");
        assert_eq!(image_registry("library/busybox"), "index.docker.io");
        assert_eq!(image_registry("localhost/a"), "localhost");
        assert_eq!(
            normalize_registry("http://127.0.0.1:5000"),
            "127.0.0.1:5000"
        );
    }
}

#[cfg(test)]
mod ecr_tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;
    use ecs_protocol::acs::{AuthenticationType, EcrAuthData, RegistryAuthentication};

    use super::*;

    /// A stand-in for ECR's GetAuthorizationToken that records the access key of each request.
    async fn fake_ecr(expires_in: u64) -> (String, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap| {
                let record = Arc::clone(&record);
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let key = auth
                        .split("Credential=")
                        .nth(1)
                        .and_then(|c| c.split('/').next())
                        .unwrap_or_default()
                        .to_string();
                    record.lock().unwrap().push(key);
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let token =
                        base64::engine::general_purpose::STANDARD.encode("AWS:s3cr3t+/pass");
                    (
                        [("content-type", "application/x-amz-json-1.1")],
                        serde_json::json!({"authorizationData": [{
                            "authorizationToken": token,
                            "expiresAt": now + expires_in,
                            "proxyEndpoint": "http://127.0.0.1:5000",
                        }]})
                        .to_string(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), seen)
    }

    fn container(endpoint: &str, use_execution_role: bool) -> Container {
        Container {
            name: Some("web".into()),
            image: Some("127.0.0.1:5000/app:1".into()),
            registry_authentication: Some(RegistryAuthentication {
                kind: Some(AuthenticationType::Ecr),
                ecr_auth_data: Some(EcrAuthData {
                    registry_id: Some("123456789012".into()),
                    region: Some("us-east-1".into()),
                    endpoint_override: Some(endpoint.into()),
                    use_execution_role: Some(use_execution_role),
                }),
                ..RegistryAuthentication::default()
            }),
            ..Container::default()
        }
    }

    fn execution() -> IamRoleCredentials {
        IamRoleCredentials {
            credentials_id: Some("exec-1".into()),
            access_key_id: Some("ASIAEXECUTION".into()),
            secret_access_key: Some("exec-secret".into()),
            session_token: Some("exec-token".into()),
            ..IamRoleCredentials::default()
        }
    }

    fn authenticator() -> Authenticator {
        Authenticator::new(
            SharedCredentialsProvider::new(Credentials::new(
                "AKIAINSTANCE",
                "instance-secret",
                None,
                None,
                "test",
            )),
            None,
        )
    }

    #[tokio::test]
    async fn ecr_tokens_use_the_right_credentials_and_are_cached_per_credentials() {
        let (endpoint, seen) = fake_ecr(12 * 3600).await;
        let auth = authenticator();
        let exec = execution();
        let a = auth
            .credentials(&container(&endpoint, false), Some(&exec))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.username, "AWS");
        assert_eq!(a.password, "s3cr3t+/pass");
        assert_eq!(a.server_address, "127.0.0.1:5000");
        // Cached: no second call for the same registry and credentials.
        auth.credentials(&container(&endpoint, false), Some(&exec))
            .await
            .unwrap();
        // useExecutionRole: signed with the execution role's key, cached separately.
        auth.credentials(&container(&endpoint, true), Some(&exec))
            .await
            .unwrap();
        auth.credentials(&container(&endpoint, true), Some(&exec))
            .await
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            ["AKIAINSTANCE".to_string(), "ASIAEXECUTION".to_string()]
        );
    }

    #[tokio::test]
    async fn tokens_close_to_expiry_are_not_cached() {
        let (endpoint, seen) = fake_ecr(60).await;
        let auth = authenticator();
        for _ in 0..2 {
            auth.credentials(&container(&endpoint, false), None)
                .await
                .unwrap();
        }
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}
