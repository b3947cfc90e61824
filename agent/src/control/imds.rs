//! EC2 mode (`ECS_EXTERNAL` unset): the instance identity document and its signature from the
//! instance metadata service, sent with RegisterContainerInstance (ECS takes the instance id,
//! zone, type and AMI from it), and the region from it when none is configured, as the
//! reference agent does. `AWS_EC2_METADATA_DISABLED=true` turns the service off, as for the SDK.

use std::time::Duration;

use aws_config::imds::Client;
use aws_config::provider_config::ProviderConfig;
use ecs_config::Config;

use crate::proxy::Proxies;

/// The identity document's path.
pub const DOCUMENT: &str = "/latest/dynamic/instance-identity/document";
/// Its signature's path.
pub const SIGNATURE: &str = "/latest/dynamic/instance-identity/signature";
/// How long the agent keeps trying for each (the reference: 30 s, backoff 100 ms to 5 s).
pub const BUDGET: Duration = Duration::from_secs(30);

/// What the metadata service told about this instance.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceIdentity {
    /// The identity document (JSON, as served).
    pub document: String,
    /// Its signature (empty when it could not be fetched).
    pub signature: String,
    /// The document's `region`.
    pub region: Option<String>,
    /// The document's `instanceId`.
    pub instance_id: Option<String>,
}

impl std::fmt::Debug for InstanceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceIdentity")
            .field("region", &self.region)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl InstanceIdentity {
    /// From a document and its signature.
    pub fn parse(document: String, signature: String) -> Self {
        let doc: serde_json::Value = serde_json::from_str(&document).unwrap_or_default();
        let member = |name: &str| {
            doc.get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        InstanceIdentity {
            region: member("region"),
            instance_id: member("instanceId"),
            document,
            signature,
        }
    }
}

/// Whether this agent asks the metadata service: on EC2 (not `ECS_EXTERNAL`), unless
/// `AWS_EC2_METADATA_DISABLED` is `true`.
pub fn wanted(config: &Config) -> bool {
    let disabled = std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !config.external.value && !disabled
}

/// The metadata client (IMDSv2 sessions, the SDK's endpoint settings such as
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT`), reached as `proxies` say.
pub fn client(proxies: &Proxies) -> Client {
    Client::builder()
        .configure(
            &ProviderConfig::without_region()
                .with_http_client(proxies.sdk_http_client("http://169.254.169.254/")),
        )
        .build()
}

/// `path`, tried with backoff (100 ms doubling to 5 s) until `budget` has passed.
async fn get_with_backoff(client: &Client, path: &str, budget: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut delay = Duration::from_millis(100);
    loop {
        match client.get(path).await {
            Ok(v) => return Some(String::from(v)),
            Err(e) => {
                let now = tokio::time::Instant::now();
                if now + delay >= deadline {
                    tracing::error!(path, error = %e, "cannot get it from instance metadata");
                    return None;
                }
                tracing::warn!(path, error = %e, "instance metadata: retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The identity document and signature, each tried for `budget`; `None` when the document
/// cannot be had (the agent then registers without one, as the reference does).
pub async fn fetch(client: &Client, budget: Duration) -> Option<InstanceIdentity> {
    let document = get_with_backoff(client, DOCUMENT, budget).await?;
    let signature = get_with_backoff(client, SIGNATURE, budget)
        .await
        .unwrap_or_default();
    Some(InstanceIdentity::parse(document, signature))
}

/// The Auto Scaling target lifecycle state's path.
pub const TARGET_LIFECYCLE_STATE: &str = "/latest/meta-data/autoscaling/target-lifecycle-state";
/// How often `ECS_WARM_POOLS_CHECK` asks (the reference: every minute).
pub const LIFECYCLE_POLL: Duration = Duration::from_secs(60);
/// How many times it asks while the state is absent (the reference: 120, two hours).
pub const LIFECYCLE_MAX_ABSENT: u32 = 120;

/// One answer about the target lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// The state (`InService`, `Warmed:Pending`, ...).
    State(String),
    /// Not there (404): the instance is not in an Auto Scaling group, or not yet.
    Absent,
    /// Throttled or a server error: ask again.
    Transient(String),
    /// Any other failure.
    Failed(String),
}

/// Asks the metadata service for the target lifecycle state.
pub async fn target_lifecycle_state(client: &Client) -> Lifecycle {
    use aws_config::imds::client::error::ImdsError;
    match client.get(TARGET_LIFECYCLE_STATE).await {
        Ok(v) => Lifecycle::State(String::from(v).trim().to_string()),
        Err(ImdsError::ErrorResponse(r)) => match r.response().status().as_u16() {
            404 => Lifecycle::Absent,
            429 | 500 | 502 | 503 | 504 => {
                Lifecycle::Transient(format!("HTTP {}", r.response().status().as_u16()))
            }
            other => Lifecycle::Failed(format!("HTTP {other}")),
        },
        Err(e) => Lifecycle::Transient(e.to_string()),
    }
}

/// `ECS_WARM_POOLS_CHECK`: waits, asking every `poll`, until the instance is going `InService`
/// (an instance going to a warm pool must not register), as the reference does: up to
/// `max_absent` answers without a state, then until the state is `InService`. `Ok` when it is
/// (or when no state ever came); an error says why the agent must stop.
pub async fn wait_in_service<F, Fut>(
    mut ask: F,
    poll: Duration,
    max_absent: u32,
) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Lifecycle>,
{
    let mut absent = 0;
    loop {
        match ask().await {
            Lifecycle::State(s) if s == "InService" => return Ok(()),
            Lifecycle::State(s) => {
                tracing::info!(state = %s, "waiting for the instance to go InService");
            }
            Lifecycle::Absent => {
                absent += 1;
                if absent >= max_absent {
                    tracing::warn!("no Auto Scaling target lifecycle state; registering");
                    return Ok(());
                }
            }
            Lifecycle::Transient(e) => {
                tracing::warn!(error = %e, "target lifecycle state: asking again");
            }
            Lifecycle::Failed(e) => {
                return Err(format!(
                    "could not determine target lifecycle of instance: {e}"
                ));
            }
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn warm_instances_wait_until_in_service() {
        let answers = std::sync::Mutex::new(vec![
            Lifecycle::Absent,
            Lifecycle::State("Warmed:Pending".into()),
            Lifecycle::Transient("HTTP 503".into()),
            Lifecycle::State("Warmed:Running".into()),
            Lifecycle::State("InService".into()),
        ]);
        let asked = std::sync::atomic::AtomicU32::new(0);
        let poll = Duration::from_millis(1);
        wait_in_service(
            || {
                asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let next = answers.lock().unwrap().remove(0);
                async move { next }
            },
            poll,
            LIFECYCLE_MAX_ABSENT,
        )
        .await
        .unwrap();
        assert_eq!(asked.into_inner(), 5);
        let e = wait_in_service(
            || async { Lifecycle::Failed("HTTP 401".into()) },
            LIFECYCLE_POLL,
            3,
        )
        .await
        .unwrap_err();
        assert!(e.contains("HTTP 401"), "{e}");
        // Never in a group: registers after the absent answers.
        wait_in_service(|| async { Lifecycle::Absent }, poll, 3)
            .await
            .unwrap();
    }

    #[test]
    fn region_and_instance_come_from_the_document() {
        let id = InstanceIdentity::parse(
            r#"{"instanceId": "i-0abc", "region": "eu-west-1", "availabilityZone": "eu-west-1b"}"#
                .into(),
            "sig".into(),
        );
        assert_eq!(id.region.as_deref(), Some("eu-west-1"));
        assert_eq!(id.instance_id.as_deref(), Some("i-0abc"));
        let bad = InstanceIdentity::parse("not json".into(), String::new());
        assert_eq!((bad.region, bad.instance_id), (None, None));
    }

    #[tokio::test]
    async fn an_unreachable_service_gives_up_within_the_budget() {
        // A closed port on loopback: every attempt fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::builder()
            .endpoint(format!("http://127.0.0.1:{port}/"))
            .unwrap()
            .max_attempts(1)
            .build();
        let started = std::time::Instant::now();
        assert_eq!(fetch(&client, Duration::from_millis(700)).await, None);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
