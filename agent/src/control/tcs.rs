//! Telemetry to the control plane over the telemetry websocket (TCS), as the reference agent
//! sends it (`ecs-agent/tcs/client/client.go`): every [`PUBLISH_INTERVAL`], from the first
//! connection on (one schedule across reconnections), the container metrics (`PublishMetricsRequest`, from [`crate::stats`]) and the health of
//! every container that has a health check (`PublishHealthRequest`; ECS's SubmitTaskStateChange
//! has no health member, this is how DescribeTasks learns `healthStatus`).
//!
//! [`run_telemetry`] discovers the telemetry endpoint, opens the SigV4-signed upgrade (the same
//! signature as ACS, [`super::sign_upgrade`]) and publishes until shutdown; it reconnects with
//! backoff. Every frame is signed as the reference signs it (`signRequestFunc` in
//! `ecs-agent/tcs/client/client.go`): a SigV4 header block for `GET <the upgrade URL>` with the
//! JSON as body, service `ecs`, before the JSON ([`sign_frame`]); TCS refuses unsigned frames.
//! [`health_request`] and [`crate::stats::publish::metrics_requests`] build the frames and are
//! pure.
//!
//! With `ECS_DISABLE_METRICS=true` no container is watched, and the metrics frame of each round
//! is the reference's idle one (`idle` and `fin`, no tasks): its stats engine then tracks no
//! container and still publishes. With `ECS_DISABLE_DOCKER_HEALTH_CHECK=true` no health is sent.
//! PublishInstanceStatusRequest is not sent (no instance health checks yet).

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use ecs_protocol::tcs::{
    ContainerHealth, HealthMetadata, PublishHealthRequest, SignedFrame, TaskHealth, TcsFrame,
    TcsMessage,
};
use ecs_protocol::{HealthStatus, Timestamp};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use super::AcsParams;
use crate::engine::EngineHandle;
use crate::retry::{Attempt, RetryPolicy, retry_until_cancelled};
use crate::state::TaskRecord;
use crate::stats::StatsHandle;
use crate::stats::publish::{Sender, metrics_requests};

/// How often metrics and health are sent, changed or not, and only then (the reference's
/// `DefaultContainerMetricsPublishInterval`). See [`Schedule`] for when the rounds fall.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(20);

/// When the publish rounds fall: one when telemetry first connects (the reference's stats
/// engine publishes once when it starts), then every [`PUBLISH_INTERVAL`] on that one schedule.
/// A reconnection does not restart it: the reference's ticker belongs to its stats engine, not
/// to the connection, so after a reconnection the next round comes at the schedule's next time
/// (its recording shows health 16 s after a reconnection), not at once.
#[derive(Debug, Default)]
struct Schedule {
    first: Option<Instant>,
}

impl Schedule {
    /// The time of the next round for a connection opened at `now`.
    fn next_round(&mut self, now: Instant) -> Instant {
        let first = *self.first.get_or_insert(now);
        let elapsed = now.saturating_duration_since(first);
        let period = PUBLISH_INTERVAL.as_nanos();
        let rounds = elapsed.as_nanos().div_ceil(period);
        let offset = u64::try_from(rounds.saturating_mul(period)).unwrap_or(u64::MAX);
        first + Duration::from_nanos(offset)
    }

    /// The ticker of a connection opened now: its first tick at [`Schedule::next_round`], ticks
    /// missed while a round was being sent are skipped rather than sent in a burst.
    fn ticker(&mut self) -> tokio::time::Interval {
        let next = self.next_round(Instant::now());
        let mut tick = tokio::time::interval_at(next.into(), PUBLISH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick
    }
}

/// The TCS query, as the reference's `formatURL` encodes it (Go's `url.Values.Encode`: keys
/// sorted).
pub fn tcs_query(
    cluster: &str,
    instance_arn: &str,
    agent_version: &str,
    agent_hash: &str,
    docker_version: &str,
) -> String {
    let pairs = [
        ("agentHash", agent_hash),
        ("agentVersion", agent_version),
        ("cluster", cluster),
        ("containerInstance", instance_arn),
        ("dockerVersion", docker_version),
    ];
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", super::acs::query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `PublishHealthRequest` for `records`, or `None` when no container has a health status.
pub fn health_request(
    records: &[TaskRecord],
    cluster: &str,
    instance_arn: &str,
    message_id: &str,
    now: SystemTime,
) -> Option<TcsMessage> {
    let now = Timestamp::from_system_time(now);
    let tasks: Vec<TaskHealth> = records
        .iter()
        .filter_map(|r| {
            let containers: Vec<ContainerHealth> = r
                .containers
                .iter()
                .filter_map(|c| {
                    let health = c.health.as_deref()?;
                    Some(ContainerHealth {
                        container_name: Some(c.name.clone()),
                        health_status: Some(parse_health(health)),
                        // When the status took this value, the same in every frame (the
                        // reference's); now only for a record saved before it was kept.
                        status_since: Some(c.health_since.map_or(now, Timestamp::from_system_time)),
                        status_message: None,
                    })
                })
                .collect();
            (!containers.is_empty()).then(|| TaskHealth {
                task_arn: Some(r.arn().to_string()),
                // In the reference's model, never filled by it.
                cluster_arn: None,
                task_definition_family: Some(r.task.family.clone().unwrap_or_default()),
                task_definition_version: Some(r.task.version.clone().unwrap_or_default()),
                containers: Some(containers),
            })
        })
        .collect();
    if tasks.is_empty() {
        return None;
    }
    Some(TcsMessage::PublishHealthRequest(PublishHealthRequest {
        metadata: Some(HealthMetadata {
            cluster: Some(cluster.to_string()),
            container_instance: Some(instance_arn.to_string()),
            fin: Some(true),
            message_id: Some(message_id.to_string()),
        }),
        tasks: Some(tasks),
        timestamp: Some(now),
    }))
}

/// The engine's health string as the wire's status (anything unexpected is UNKNOWN).
fn parse_health(health: &str) -> HealthStatus {
    match health {
        "HEALTHY" => HealthStatus::Healthy,
        "UNHEALTHY" => HealthStatus::Unhealthy,
        _ => HealthStatus::Unknown,
    }
}

/// The `Host` the upgrade to `url` carries, which each frame's signature covers too.
fn frame_host(url: &str) -> Result<String, String> {
    let request = url.into_client_request().map_err(|e| e.to_string())?;
    request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| format!("no host in {url}"))
}

/// `message` as the reference agent sends it on TCS: the SigV4 headers of a `GET url` (for
/// `host`) whose body is the JSON, signed for `ecs` in `region` at `at`, in Go's header-block
/// form, then the JSON. Pure.
pub fn sign_frame(
    message: &TcsMessage,
    url: &str,
    host: &str,
    credentials: &Credentials,
    region: &str,
    at: SystemTime,
) -> Result<String, String> {
    let body = message.encode().map_err(|e| e.to_string())?;
    let signed =
        super::acs::websocket_signature(url, host, body.as_bytes(), credentials, region, at)?;
    // Go's canonical header names (`X-Amz-Date`), as `http.Header.Write` prints them.
    let canonical: Vec<(String, String)> = signed
        .into_iter()
        .map(|(name, value)| {
            let name = name
                .split('-')
                .map(|part| {
                    let mut chars = part.chars();
                    chars.next().map_or_else(String::new, |c| {
                        c.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                    })
                })
                .collect::<Vec<_>>()
                .join("-");
            (name, value)
        })
        .collect();
    let mut headers: Vec<(&str, &str)> = canonical
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    headers.push(("Host", host));
    Ok(SignedFrame {
        headers,
        body: &body,
    }
    .encode())
}

/// What a TCS session publishes.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// Container metrics; `None` with `ECS_DISABLE_METRICS=true` (idle rounds only).
    pub stats: Option<StatsHandle>,
    /// Container health; false with `ECS_DISABLE_DOCKER_HEALTH_CHECK=true`.
    pub health: bool,
}

/// Keeps a TCS connection and publishes metrics and health until `shutdown`, reconnecting as
/// [`RetryPolicy::TCS_RECONNECT`] says.
pub async fn run_telemetry(
    params: AcsParams,
    engine: EngineHandle,
    telemetry: Telemetry,
    shutdown: CancellationToken,
) {
    let schedule = std::sync::Mutex::new(Schedule::default());
    let ended = retry_until_cancelled(&RetryPolicy::TCS_RECONNECT, &shutdown, |_| async {
        match session(&params, &engine, &telemetry, &schedule, &shutdown).await {
            Ok(()) => Attempt::Done(()),
            Err(e) => Attempt::Retry(e),
        }
    })
    .await;
    if let Err(e) = ended {
        tracing::debug!(error = %e.into_last(), "telemetry stopped");
    }
}

/// The frames of one publish round: metrics (always, idle without a collector), then health
/// when enabled and some container has a status.
async fn round(
    params: &AcsParams,
    engine: &EngineHandle,
    telemetry: &Telemetry,
) -> Vec<TcsMessage> {
    let id = uuid::Uuid::new_v4().to_string();
    let sender = Sender {
        cluster: &params.cluster,
        instance_arn: &params.instance_arn,
        message_id: &id,
    };
    let mut frames = match &telemetry.stats {
        Some(stats) => {
            let metrics = stats.take_metrics().await;
            // Watched containers without samples yet: nothing to say (the reference's
            // EmptyMetricsError), not an idle instance.
            if !metrics.idle && metrics.tasks.is_empty() {
                Vec::new()
            } else {
                metrics_requests(sender, metrics.idle, metrics.tasks, SystemTime::now())
            }
        }
        None => metrics_requests(sender, true, Vec::new(), SystemTime::now()),
    };
    if telemetry.health {
        let records = engine.snapshot().await;
        let id = uuid::Uuid::new_v4().to_string();
        frames.extend(health_request(
            &records,
            &params.cluster,
            &params.instance_arn,
            &id,
            SystemTime::now(),
        ));
    }
    frames
}

/// One connection: Ok on shutdown, Err when it failed or closed.
async fn session(
    params: &AcsParams,
    engine: &EngineHandle,
    telemetry: &Telemetry,
    schedule: &std::sync::Mutex<Schedule>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let endpoint = params
        .api
        .discover_telemetry_endpoint(&params.cluster, &params.instance_arn)
        .await
        .map_err(|e| e.to_string())?;
    let query = tcs_query(
        &params.cluster,
        &params.instance_arn,
        &params.agent_version,
        &params.agent_hash,
        &params.docker_version,
    );
    let url = super::acs_url(&endpoint, &query).map_err(|e| e.to_string())?;
    let credentials = params
        .credentials
        .provide_credentials()
        .await
        .map_err(|e| e.to_string())?;
    let mut request = super::sign_upgrade(&url, &credentials, &params.region, SystemTime::now())
        .map_err(|e| e.to_string())?;
    super::acs::set_user_agent(&mut request, &params.user_agent);
    let (mut ws, _) = tokio::time::timeout(
        params.timers.handshake_timeout,
        crate::proxy::connect_websocket(params.api.proxies(), request),
    )
    .await
    .map_err(|_| "no telemetry handshake in time".to_string())?
    .map_err(|e| e.to_string())?;
    tracing::debug!(endpoint = %endpoint, "telemetry connected");
    let host = frame_host(&url)?;
    let mut tick = schedule
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .ticker();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            frame = ws.next() => match frame {
                // Acks and heartbeats need no answer; a refusal is worth a warning.
                Some(Ok(Message::Text(text))) => log_server_frame(text.as_str()),
                Some(Ok(Message::Close(_))) | None => return Err("closed by the server".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let frames = round(params, engine, telemetry).await;
                if frames.is_empty() {
                    continue;
                }
                // The credentials of the moment: temporary ones rotate under a long session.
                let credentials = params
                    .credentials
                    .provide_credentials()
                    .await
                    .map_err(|e| e.to_string())?;
                for message in &frames {
                    let frame = sign_frame(
                        message,
                        &url,
                        &host,
                        &credentials,
                        &params.region,
                        SystemTime::now(),
                    )?;
                    ws.send(Message::text(frame))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                tracing::debug!(frames = frames.len(), "published telemetry");
            }
        }
    }
}

/// Logs what TCS sent: exceptions at warn (a refused frame), the rest at trace.
fn log_server_frame(text: &str) {
    match TcsFrame::decode(text) {
        Ok(TcsFrame::Known(
            TcsMessage::BadRequestException(e)
            | TcsMessage::ServerException(e)
            | TcsMessage::ResourceValidationException(e)
            | TcsMessage::InvalidParameterException(e),
        )) => {
            tracing::warn!(
                message = e.message.as_deref().unwrap_or_default(),
                "TCS refused a frame"
            );
        }
        Ok(frame) => tracing::trace!(frame_type = frame.type_name(), "TCS frame"),
        Err(e) => tracing::debug!(error = %e, "undecodable TCS frame"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::ContainerRecord;
    use ecs_protocol::status::{ContainerStatus, TaskStatus};

    #[test]
    fn rounds_fall_every_20_s_from_the_first_connection_and_a_reconnection_waits_for_the_next() {
        let mut schedule = Schedule::default();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        // The first connection publishes at once.
        assert_eq!(schedule.next_round(start), start);
        // Reconnections keep the schedule: the next multiple of 20 s after the first connection.
        assert_eq!(schedule.next_round(at(5)), at(20));
        assert_eq!(schedule.next_round(at(20)), at(20));
        assert_eq!(schedule.next_round(at(45)), at(60));
        assert_eq!(
            schedule.next_round(start + Duration::from_millis(60_001)),
            at(80)
        );
    }

    fn record(health: &[(&str, Option<&str>)]) -> TaskRecord {
        let task = serde_json::from_value(json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
            "taskClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
            "family": "web", "version": "3"
        }))
        .unwrap();
        TaskRecord {
            task,
            desired_stopped: false,
            known: TaskStatus::Running,
            sent: None,
            containers: health
                .iter()
                .map(|(n, h)| ContainerRecord {
                    name: (*n).into(),
                    known: ContainerStatus::Running,
                    health: h.map(Into::into),
                    ..ContainerRecord::default()
                })
                .collect(),
            reason: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            resources: Default::default(),
        }
    }

    #[test]
    fn the_frame_has_the_reference_shape() {
        let r = record(&[("web", Some("HEALTHY")), ("side", None)]);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(100_250);
        let f = health_request(&[r], "c", "arn:ci", "m1", at).unwrap();
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            json!({
                "type": "PublishHealthRequest",
                "message": {
                    "metadata": {"cluster": "c", "containerInstance": "arn:ci", "fin": true, "messageId": "m1"},
                    "tasks": [{
                        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
                        "taskDefinitionFamily": "web",
                        "taskDefinitionVersion": "3",
                        "containers": [{"containerName": "web", "healthStatus": "HEALTHY", "statusSince": 100.25}]
                    }],
                    "timestamp": 100.25
                }
            })
        );
        assert!(health_request(&[record(&[("x", None)])], "c", "i", "m", at).is_none());
    }

    /// `statusSince` is when the status took its value, the same in every frame; `timestamp`
    /// is the frame's.
    #[test]
    fn status_since_is_the_time_of_the_change() {
        let mut r = record(&[("web", Some("HEALTHY"))]);
        let changed = SystemTime::UNIX_EPOCH + Duration::from_secs(90);
        r.containers[0].health_since = Some(changed);
        for later in [100, 120] {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(later);
            let f = serde_json::to_value(health_request(&[r.clone()], "c", "i", "m", at).unwrap())
                .unwrap();
            assert_eq!(
                f["message"]["tasks"][0]["containers"][0]["statusSince"],
                90.0
            );
            assert_eq!(f["message"]["timestamp"], later as f64);
        }
    }

    /// The first TCS frame the reference agent 1.105.0 sent to the emulator
    /// (`against-emulator.go.jsonl` in the shared reference recordings), signed with AWS's
    /// documented example keys, and the URL of its upgrade.
    const GO_FRAME: &str = "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=ed1be35cf861cc480fb82dc033ee9444e3aa5dba4471f663ea7235c442b8dc33\r\nHost: 127.0.0.1:43423\r\nX-Amz-Date: 20261206T210602Z\r\n\r\n{\"type\":\"PublishMetricsRequest\",\"message\":{\"metadata\":{\"cluster\":\"wire-go\",\"containerInstance\":\"arn:aws:ecs:us-east-1:123456789012:container-instance/wire-go/ca600438e49f4a0699f2069552f76e62\",\"fin\":true,\"idle\":true,\"messageId\":\"40bca2c4-28fe-4fb9-a760-2579995c9a10\"},\"timestamp\":1796591162.04}}";
    const GO_URL: &str = "ws://127.0.0.1:43423/ws?agentHash=5c45eef5&agentVersion=1.105.0&cluster=wire-go&containerInstance=arn%3Aaws%3Aecs%3Aus-east-1%3A123456789012%3Acontainer-instance%2Fwire-go%2Fca600438e49f4a0699f2069552f76e62&dockerVersion=20.10.24%2Bdfsg1";

    fn example_keys(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            token.map(String::from),
            None,
            "test",
        )
    }

    #[test]
    fn a_frame_is_signed_byte_for_byte_as_the_reference_signs_it() {
        let body = GO_FRAME.split_once("\r\n\r\n").unwrap().1;
        let TcsFrame::Known(message) = TcsFrame::decode(body).unwrap() else {
            panic!("unknown frame");
        };
        assert_eq!(message.encode().unwrap(), body);
        assert_eq!(frame_host(GO_URL).unwrap(), "127.0.0.1:43423");
        // 2026-12-06T21:06:02Z, the frame's X-Amz-Date.
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_591_162);
        let signed = sign_frame(
            &message,
            GO_URL,
            "127.0.0.1:43423",
            &example_keys(None),
            "us-east-1",
            at,
        )
        .unwrap();
        assert_eq!(signed, GO_FRAME);
    }

    #[test]
    fn temporary_credentials_sign_their_session_token_too() {
        let message = TcsMessage::HeartbeatMessage(Default::default());
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_591_162);
        let signed = sign_frame(
            &message,
            GO_URL,
            "127.0.0.1:43423",
            &example_keys(Some("tok")),
            "us-east-1",
            at,
        )
        .unwrap();
        let frame = SignedFrame::parse(&signed).unwrap();
        let names: Vec<&str> = frame.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "Authorization",
                "Host",
                "X-Amz-Date",
                "X-Amz-Security-Token"
            ]
        );
        assert_eq!(frame.header("x-amz-security-token"), Some("tok"));
        assert!(
            frame
                .header("authorization")
                .unwrap()
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token,")
        );
        assert_eq!(frame.body, message.encode().unwrap());
    }

    #[test]
    fn the_query_is_sorted_and_escaped() {
        assert_eq!(
            tcs_query("c", "arn:aws:ecs:x/1", "1.0", "h", "20.10.24"),
            "agentHash=h&agentVersion=1.0&cluster=c&containerInstance=arn%3Aaws%3Aecs%3Ax%2F1&dockerVersion=20.10.24"
        );
    }
}
