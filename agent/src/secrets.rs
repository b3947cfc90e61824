//! Container secrets (`secrets` in a container definition, `secretOptions` of its log
//! configuration): values fetched from SSM Parameter Store (`provider: ssm`) and Secrets Manager
//! (`provider: asm`) with the task execution role's credentials, before the task's containers are
//! created (reference section 4.4: secrets are a task resource), and handed to Docker as
//! environment variables (`target: CONTAINER`) or log driver options (`target: LOG_DRIVER`).
//!
//! What it must not do: persist, log or print a value. Values live in [`SecretValues`] in the task
//! actor's memory only (its `Debug` shows a count); after an agent restart they are fetched again
//! if a container still has to be created. Errors name the `valueFrom` reference, never a value.
//!
//! Where the calls go: the services' regional endpoints, or the emulated control plane when
//! `ECS_BACKEND_HOST` names one (as for awslogs, [`crate::runtime::logging::awslogs_endpoint`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_credential_types::Credentials;
use ecs_protocol::acs::{
    Container, IamRoleCredentials, Secret, SecretProvider, SecretTarget, SecretType, Task,
};

use serde_json::{Value, json};

use crate::aws_json::{self, AwsAccess, CallError};

/// GetParameters takes at most this many names per call.
const SSM_BATCH: usize = 10;

/// Why a task's secrets could not be fetched. The text is the reference agent's where it has one;
/// the engine stops the task with `ResourceInitializationError: <text>`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    /// The task has SSM secrets but ACS sent no execution role credentials.
    #[error("ssm secret resource: unable to find execution role credentials")]
    NoSsmCredentials,
    /// The task has Secrets Manager secrets but ACS sent no execution role credentials.
    #[error("ASM secret resource: unable to find execution role credentials")]
    NoAsmCredentials,
    /// GetParameters failed or did not know some names.
    #[error("fetching secret data from SSM Parameter Store in {region}: {message}")]
    Ssm {
        /// The region asked.
        region: String,
        /// The service's error, or `invalid parameters: <names>`.
        message: String,
    },
    /// A Secrets Manager `valueFrom` that is not a secret ARN of a known form.
    #[error("trying to retrieve secret with value {value_from} resulted in error: {message}")]
    AsmReference {
        /// The reference as written in the task definition.
        value_from: String,
        /// What is wrong with it.
        message: String,
    },
    /// GetSecretValue failed.
    #[error("secret {secret_id}: {message}")]
    Asm {
        /// The secret asked for.
        secret_id: String,
        /// The service's error.
        message: String,
    },
    /// The secret's value is not a JSON object, or lacks the key the reference names.
    #[error("{0}")]
    JsonKey(String),
    /// A secret this agent cannot deliver (`MOUNT_POINT`, an unknown provider, no `valueFrom`).
    #[error("container {container}: secret {name}: {message}")]
    Unsupported {
        /// The container definition's name.
        container: String,
        /// The secret's `name`.
        name: String,
        /// What is not supported.
        message: String,
    },
}

/// Secret values by `(valueFrom, region)`, the reference's cache key. Never persisted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues(HashMap<(String, String), String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValues({} redacted)", self.0.len())
    }
}

impl SecretValues {
    fn get(&self, secret: &Secret, default_region: &str) -> Option<&str> {
        let key = (
            secret.value_from.clone().unwrap_or_default(),
            region_of(secret, default_region),
        );
        self.0.get(&key).map(String::as_str)
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No values held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn region_of(secret: &Secret, default_region: &str) -> String {
    secret
        .region
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| default_region.to_string())
}

/// True when any container of the task has a secret to fetch.
pub fn task_has_secrets(task: &Task) -> bool {
    task.containers()
        .iter()
        .any(|c| c.secrets.as_ref().is_some_and(|s| !s.is_empty()))
}

/// The secrets to fetch, checked: per provider, the distinct `(valueFrom, region)` pairs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Wanted {
    ssm: BTreeMap<String, BTreeSet<String>>,
    asm: BTreeSet<(String, String)>,
}

fn wanted(task: &Task, default_region: &str) -> Result<Wanted, SecretsError> {
    let mut out = Wanted::default();
    for c in task.containers() {
        for s in c.secrets.iter().flatten() {
            let unsupported = |message: String| SecretsError::Unsupported {
                container: c.name.clone().unwrap_or_default(),
                name: s.name.clone().unwrap_or_default(),
                message,
            };
            if destination(s).is_none() {
                let kind = s.kind.as_ref().map_or("", SecretType::as_str);
                return Err(unsupported(format!(
                    "type {kind} is not supported by this agent (only ENVIRONMENT_VARIABLE, and log driver options)"
                )));
            }
            let value_from = s
                .value_from
                .clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| unsupported("no valueFrom".into()))?;
            if s.name.as_deref().unwrap_or_default().is_empty() {
                return Err(unsupported("no name".into()));
            }
            let region = region_of(s, default_region);
            match &s.provider {
                Some(SecretProvider::Ssm) => {
                    out.ssm.entry(region).or_default().insert(value_from);
                }
                Some(SecretProvider::Asm) => {
                    out.asm.insert((value_from, region));
                }
                Some(SecretProvider::Unknown(p)) => {
                    return Err(unsupported(format!("unknown provider {p:?}")));
                }
                None => return Err(unsupported("no provider".into())),
            }
        }
    }
    Ok(out)
}

/// A GetSecretValue call derived from a Secrets Manager `valueFrom`: the reference's
/// `arn:aws:secretsmanager:<region>:<account>:secret:<id>[:<json-key>:<version-stage>:<version-id>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AsmRequest {
    secret_id: String,
    json_key: Option<String>,
    version_stage: Option<String>,
    version_id: Option<String>,
}

fn asm_request(value_from: &str) -> Result<AsmRequest, SecretsError> {
    let err = |message: &str| SecretsError::AsmReference {
        value_from: value_from.to_string(),
        message: message.to_string(),
    };
    // arn:partition:service:region:account:resource, the resource keeping its own colons.
    let parts: Vec<&str> = value_from.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "secretsmanager" {
        return Err(err("arn: invalid prefix"));
    }
    let resource: Vec<&str> = parts[5].split(':').collect();
    let some = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    match resource.as_slice() {
        ["secret", _] => Ok(AsmRequest {
            secret_id: value_from.to_string(),
            json_key: None,
            version_stage: None,
            version_id: None,
        }),
        ["secret", id, key, stage, version] => Ok(AsmRequest {
            secret_id: format!("{}:secret:{id}", parts[..5].join(":")),
            json_key: some(key),
            version_stage: some(stage),
            version_id: some(version),
        }),
        _ => Err(err(
            "an invalid ARN format for the AWS Secrets Manager secret was specified. Specify a valid ARN and try again.",
        )),
    }
}

/// The value of `key` in a secret that holds a JSON object, as the reference renders it (`%v`:
/// strings as they are, other JSON values as JSON).
fn json_key_value(secret: &str, key: &str) -> Result<String, SecretsError> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(secret)
        .map_err(|_| {
            SecretsError::JsonKey(format!(
                "retrieved secret from Secrets Manager is not a JSON object, so json key {key} cannot be read"
            ))
        })?;
    match map.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(SecretsError::JsonKey(format!(
            "retrieved secret from Secrets Manager did not contain json key {key}"
        ))),
    }
}

/// Where a secret's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Env,
    LogOption,
}

/// As the reference decides it: type ENVIRONMENT_VARIABLE (or none, with target CONTAINER) goes
/// to the environment, else target LOG_DRIVER to the log options; anything else (MOUNT_POINT
/// files) this agent does not deliver.
fn destination(s: &Secret) -> Option<Destination> {
    match (&s.kind, &s.target) {
        (Some(SecretType::EnvironmentVariable), _) => Some(Destination::Env),
        (_, Some(SecretTarget::LogDriver)) => Some(Destination::LogOption),
        (None, None | Some(SecretTarget::Container)) => Some(Destination::Env),
        _ => None,
    }
}

/// Puts a container's secrets where they go: `NAME=value` into `env` (replacing an `environment`
/// entry of the same name, as Docker would keep only the last), log driver options into
/// `log_options`. Secrets without a value in `values` are skipped (the fetch would have failed).
pub fn apply(
    container: &Container,
    values: &SecretValues,
    default_region: &str,
    env: &mut Vec<String>,
    log_options: Option<&mut BTreeMap<String, String>>,
) {
    let mut log_options = log_options;
    for s in container.secrets.iter().flatten() {
        let (Some(name), Some(value)) = (s.name.as_deref(), values.get(s, default_region)) else {
            continue;
        };
        match destination(s) {
            Some(Destination::LogOption) => {
                if let Some(options) = log_options.as_deref_mut() {
                    options.insert(name.to_string(), value.to_string());
                }
            }
            Some(Destination::Env) => {
                let prefix = format!("{name}=");
                env.retain(|e| !e.starts_with(&prefix));
                env.push(format!("{name}={value}"));
            }
            None => {}
        }
    }
}

/// Fetches secret values from SSM and Secrets Manager.
#[derive(Debug, Clone, Default)]
pub struct SecretsFetcher {
    /// Endpoint, region (for secrets that name none) and client.
    aws: AwsAccess,
}

impl SecretsFetcher {
    /// Calls go where `aws` says.
    pub fn new(aws: AwsAccess) -> Self {
        SecretsFetcher { aws }
    }

    /// The agent's region, for secrets that name none.
    pub fn region(&self) -> &str {
        self.aws.region()
    }

    /// Every secret of `task`, fetched with its execution role credentials. SSM names go in
    /// batches of ten per region; Secrets Manager secrets one call each, all at once.
    pub async fn fetch(&self, task: &Task) -> Result<SecretValues, SecretsError> {
        let wanted = wanted(task, self.region())?;
        let credentials = |missing: SecretsError| {
            task.execution_role_credentials
                .as_ref()
                .and_then(credentials)
                .ok_or(missing)
        };
        let mut values = SecretValues::default();
        if !wanted.ssm.is_empty() {
            let creds = credentials(SecretsError::NoSsmCredentials)?;
            let mut calls = Vec::new();
            for (region, names) in &wanted.ssm {
                let names: Vec<String> = names.iter().cloned().collect();
                for batch in names.chunks(SSM_BATCH) {
                    calls.push(self.ssm_batch(region, batch.to_vec(), &creds));
                }
            }
            for result in futures_util::future::join_all(calls).await {
                values.0.extend(result?);
            }
        }
        if !wanted.asm.is_empty() {
            let creds = credentials(SecretsError::NoAsmCredentials)?;
            let calls = wanted.asm.iter().map(|(value_from, region)| {
                let creds = &creds;
                async move {
                    let value = self.asm_value(value_from, region, creds).await?;
                    Ok::<_, SecretsError>(((value_from.clone(), region.clone()), value))
                }
            });
            for result in futures_util::future::join_all(calls).await {
                let (key, value) = result?;
                values.0.insert(key, value);
            }
        }
        Ok(values)
    }

    /// One call of `service` in `region`, at the override endpoint or the regional one.
    async fn call(
        &self,
        service: &aws_json::Service,
        operation: &str,
        region: &str,
        creds: &Credentials,
        body: &Value,
    ) -> Result<Value, CallError> {
        let client = self.aws.client()?;
        let endpoint = self.aws.service_endpoint(service, region);
        client
            .call(&endpoint, service, operation, region, creds, body)
            .await
    }

    async fn ssm_batch(
        &self,
        region: &str,
        names: Vec<String>,
        creds: &Credentials,
    ) -> Result<Vec<((String, String), String)>, SecretsError> {
        let err = |message: String| SecretsError::Ssm {
            region: region.to_string(),
            message,
        };
        let body = json!({"Names": names, "WithDecryption": true});
        let out = self
            .call(&aws_json::SSM, "GetParameters", region, creds, &body)
            .await
            .map_err(|e| err(e.to_string()))?;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let invalid = strings(&out["InvalidParameters"]);
        if !invalid.is_empty() {
            return Err(err(format!("invalid parameters: {}", invalid.join(","))));
        }
        let mut found = Vec::new();
        for p in out["Parameters"].as_array().into_iter().flatten() {
            let value = p["Value"].as_str().unwrap_or_default().to_string();
            // SSM answers with the name as asked (name or ARN); accept the ARN for a name too.
            let asked = names.iter().find(|n| {
                p["Name"].as_str() == Some(n.as_str()) || p["ARN"].as_str() == Some(n.as_str())
            });
            if let Some(asked) = asked {
                found.push(((asked.clone(), region.to_string()), value));
            }
        }
        if let Some(missing) = names
            .iter()
            .find(|n| !found.iter().any(|((asked, _), _)| asked == *n))
        {
            return Err(err(format!("invalid parameters: {missing}")));
        }
        Ok(found)
    }

    async fn asm_value(
        &self,
        value_from: &str,
        region: &str,
        creds: &Credentials,
    ) -> Result<String, SecretsError> {
        let request = asm_request(value_from)?;
        let value = self
            .get_secret_string(
                region,
                &request.secret_id,
                request.version_stage.as_deref(),
                request.version_id.as_deref(),
                creds,
            )
            .await?;
        match &request.json_key {
            None => Ok(value),
            Some(key) => json_key_value(&value, key),
        }
    }

    /// One GetSecretValue call: the secret's `SecretString` (empty for a binary secret).
    pub async fn get_secret_string(
        &self,
        region: &str,
        secret_id: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
        creds: &Credentials,
    ) -> Result<String, SecretsError> {
        let mut body = json!({"SecretId": secret_id});
        if let Some(stage) = version_stage {
            body["VersionStage"] = json!(stage);
        }
        if let Some(id) = version_id {
            body["VersionId"] = json!(id);
        }
        let out = self
            .call(
                &aws_json::SECRETS_MANAGER,
                "GetSecretValue",
                region,
                creds,
                &body,
            )
            .await
            .map_err(|e| SecretsError::Asm {
                secret_id: secret_id.to_string(),
                message: e.to_string(),
            })?;
        Ok(out["SecretString"].as_str().unwrap_or_default().to_string())
    }
}

/// The execution role's credentials, when all parts arrived.
pub fn credentials(c: &IamRoleCredentials) -> Option<Credentials> {
    Some(Credentials::new(
        c.access_key_id.clone()?,
        c.secret_access_key.clone()?,
        c.session_token.clone(),
        None,
        "ExecutionRole",
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::routing::post;
    use std::sync::{Arc, Mutex};

    fn secret(name: &str, value_from: &str, provider: &str, target: Option<&str>) -> Secret {
        Secret {
            name: Some(name.into()),
            value_from: Some(value_from.into()),
            kind: target.is_none().then_some(SecretType::EnvironmentVariable),
            provider: Some(provider.into()),
            target: target.map(Into::into),
            ..Secret::default()
        }
    }

    fn task(containers: Value, with_creds: bool) -> Task {
        let mut t = json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/0123",
            "containers": containers,
        });
        if with_creds {
            t["executionRoleCredentials"] = json!({
                "credentialsId": "id-1", "accessKeyId": "ASIAEXEC", "secretAccessKey": "exec-secret",
                "sessionToken": "exec-token", "roleArn": "arn:aws:iam::123456789012:role/exec",
            });
        }
        serde_json::from_value(t).unwrap()
    }

    const ASM_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";

    #[test]
    fn asm_references_follow_the_reference_forms() {
        assert_eq!(
            asm_request(ASM_ARN).unwrap(),
            AsmRequest {
                secret_id: ASM_ARN.into(),
                json_key: None,
                version_stage: None,
                version_id: None,
            }
        );
        assert_eq!(
            asm_request(&format!("{ASM_ARN}:password:AWSPREVIOUS:")).unwrap(),
            AsmRequest {
                secret_id: ASM_ARN.into(),
                json_key: Some("password".into()),
                version_stage: Some("AWSPREVIOUS".into()),
                version_id: None,
            }
        );
        assert_eq!(
            asm_request(&format!("{ASM_ARN}::"))
                .unwrap_err()
                .to_string(),
            format!(
                "trying to retrieve secret with value {ASM_ARN}:: resulted in error: an invalid ARN format for the AWS Secrets Manager secret was specified. Specify a valid ARN and try again."
            )
        );
        assert!(asm_request("db-password").is_err());
    }

    #[test]
    fn json_keys_render_as_the_reference_does() {
        let s = r#"{"user":"app","port":5432,"tls":true}"#;
        assert_eq!(json_key_value(s, "user").unwrap(), "app");
        assert_eq!(json_key_value(s, "port").unwrap(), "5432");
        assert_eq!(json_key_value(s, "tls").unwrap(), "true");
        assert_eq!(
            json_key_value(s, "nope").unwrap_err().to_string(),
            "retrieved secret from Secrets Manager did not contain json key nope"
        );
        assert!(json_key_value("plain", "user").is_err());
    }

    #[test]
    fn wanted_groups_by_provider_and_region_and_refuses_what_it_cannot_deliver() {
        let t = task(
            json!([
                {"name": "a", "secrets": [
                    {"name": "X", "valueFrom": "/app/x", "provider": "ssm", "type": "ENVIRONMENT_VARIABLE"},
                    {"name": "Y", "valueFrom": "/app/y", "provider": "ssm", "region": "eu-west-1"},
                    {"name": "Z", "valueFrom": ASM_ARN, "provider": "asm"},
                ]},
                {"name": "b", "secrets": [{"name": "X2", "valueFrom": "/app/x", "provider": "ssm"}]},
            ]),
            true,
        );
        let w = wanted(&t, "us-east-1").unwrap();
        assert_eq!(w.ssm["us-east-1"], BTreeSet::from(["/app/x".to_string()]));
        assert_eq!(w.ssm["eu-west-1"], BTreeSet::from(["/app/y".to_string()]));
        assert_eq!(
            w.asm,
            BTreeSet::from([(ASM_ARN.to_string(), "us-east-1".to_string())])
        );
        let mount = task(
            json!([{"name": "a", "secrets": [
                {"name": "X", "valueFrom": "/x", "provider": "ssm", "type": "MOUNT_POINT"}]}]),
            true,
        );
        assert_eq!(
            wanted(&mount, "us-east-1").unwrap_err().to_string(),
            "container a: secret X: type MOUNT_POINT is not supported by this agent (only ENVIRONMENT_VARIABLE, and log driver options)"
        );
    }

    #[test]
    fn apply_puts_values_in_env_or_log_options_and_debug_hides_them() {
        let c = Container {
            name: Some("app".into()),
            secrets: Some(vec![
                secret("DB_PASSWORD", "/db/pw", "ssm", None),
                secret("splunk-token", ASM_ARN, "asm", Some("LOG_DRIVER")),
            ]),
            ..Container::default()
        };
        let mut values = SecretValues::default();
        values
            .0
            .insert(("/db/pw".into(), "us-east-1".into()), "hunter2".into());
        values
            .0
            .insert((ASM_ARN.into(), "us-east-1".into()), "tok".into());
        let mut env = vec!["DB_PASSWORD=placeholder".to_string(), "A=1".to_string()];
        let mut opts = BTreeMap::new();
        apply(&c, &values, "us-east-1", &mut env, Some(&mut opts));
        assert_eq!(env, ["A=1", "DB_PASSWORD=hunter2"]);
        assert_eq!(opts["splunk-token"], "tok");
        assert!(!format!("{values:?}").contains("hunter2"));
        let spec = crate::runtime::ContainerSpec {
            env: env.clone(),
            ..Default::default()
        };
        let shown = format!("{spec:?}");
        assert!(
            shown.contains("DB_PASSWORD") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    /// An SSM and Secrets Manager stand-in that records each call's target and body.
    pub(crate) async fn fake_services() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let seen = Arc::clone(&calls);
        let app = axum::Router::new().route(
            "/",
            post(move |headers: axum::http::HeaderMap, body: String| {
                let seen = Arc::clone(&seen);
                async move {
                    let target = headers
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let mut body: Value = serde_json::from_str(&body).unwrap_or_default();
                    // Recorded with the body: the access key the call was signed with.
                    let key = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|a| a.split("Credential=").nth(1))
                        .and_then(|c| c.split('/').next())
                        .unwrap_or_default()
                        .to_string();
                    body["_SignedWith"] = json!(key);
                    seen.lock().unwrap().push((target.clone(), body.clone()));
                    let answer = match target.as_str() {
                        "AmazonSSM.GetParameters" => {
                            let names: Vec<String> =
                                serde_json::from_value(body["Names"].clone()).unwrap_or_default();
                            let (known, unknown): (Vec<_>, Vec<_>) =
                                names.into_iter().partition(|n| !n.contains("missing"));
                            json!({
                                "Parameters": known.iter().map(|n| json!({
                                    "Name": n, "Type": "SecureString", "Value": format!("value-of-{n}"),
                                    "Version": 1,
                                })).collect::<Vec<_>>(),
                                "InvalidParameters": unknown,
                            })
                        }
                        "secretsmanager.GetSecretValue" => json!({
                            "ARN": body["SecretId"], "Name": "db",
                            "SecretString": r#"{"password":"s3cret","user":"app"}"#,
                            "VersionStages": ["AWSCURRENT"],
                        }),
                        _ => json!({}),
                    };
                    (
                        [("content-type", "application/x-amz-json-1.1")],
                        answer.to_string(),
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
    async fn fetch_batches_ssm_names_and_reads_json_keys_with_the_execution_role() {
        let (endpoint, calls) = fake_services().await;
        let ssm: Vec<Value> = (0..12)
            .map(|i| json!({"name": format!("S{i}"), "valueFrom": format!("/p/{i}"), "provider": "ssm"}))
            .chain([json!({"name": "PW", "valueFrom": format!("{ASM_ARN}:password::"), "provider": "asm"})])
            .collect();
        let t = task(json!([{"name": "app", "secrets": ssm}]), true);
        let fetcher = SecretsFetcher::new(AwsAccess::new(Some(endpoint), "us-east-1"));
        let values = fetcher.fetch(&t).await.unwrap();
        assert_eq!(values.len(), 13);
        let mut env = Vec::new();
        apply(&t.containers()[0], &values, "us-east-1", &mut env, None);
        assert!(env.contains(&"S11=value-of-/p/11".to_string()), "{env:?}");
        assert!(env.contains(&"PW=s3cret".to_string()), "{env:?}");
        let calls = calls.lock().unwrap();
        let batches: Vec<usize> = calls
            .iter()
            .filter(|(t, _)| t == "AmazonSSM.GetParameters")
            .map(|(_, b)| {
                assert_eq!(b["WithDecryption"], true);
                b["Names"].as_array().map_or(0, Vec::len)
            })
            .collect();
        let mut sorted = batches.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [2, 10]);
        let asm: Vec<&Value> = calls
            .iter()
            .filter(|(t, _)| t == "secretsmanager.GetSecretValue")
            .map(|(_, b)| b)
            .collect();
        assert_eq!(asm.len(), 1);
        assert!(
            calls.iter().all(|(_, b)| b["_SignedWith"] == "ASIAEXEC"),
            "every call signed with the execution role: {calls:?}"
        );
        assert_eq!(asm[0]["SecretId"], ASM_ARN);
    }

    #[tokio::test]
    async fn unknown_parameters_and_missing_credentials_fail_with_the_reference_words() {
        let (endpoint, _) = fake_services().await;
        let fetcher = SecretsFetcher::new(AwsAccess::new(Some(endpoint), "us-east-1"));
        let t = task(
            json!([{"name": "app", "secrets": [
                {"name": "A", "valueFrom": "/ok", "provider": "ssm"},
                {"name": "B", "valueFrom": "/missing", "provider": "ssm"}]}]),
            true,
        );
        assert_eq!(
            fetcher.fetch(&t).await.unwrap_err().to_string(),
            "fetching secret data from SSM Parameter Store in us-east-1: invalid parameters: /missing"
        );
        let no_role = task(
            json!([{"name": "app", "secrets": [{"name": "A", "valueFrom": "/ok", "provider": "ssm"}]}]),
            false,
        );
        assert_eq!(
            fetcher.fetch(&no_role).await.unwrap_err(),
            SecretsError::NoSsmCredentials
        );
    }
}
