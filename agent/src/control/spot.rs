//! `ECS_ENABLE_SPOT_INSTANCE_DRAINING`: on a spot instance, the agent asks instance metadata's
//! `spot/instance-action` every second (it answers 404 until EC2 sends an interruption notice)
//! and, once it names `terminate`, `stop` or `hibernate`, sets its container instance to DRAINING
//! so that ECS moves service tasks off before the instance goes, as the reference agent does.
//! It stops polling once ECS has taken the change.

use std::sync::Arc;
use std::time::Duration;

use aws_config::imds::Client;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::EcsApi;

/// The path asked.
pub const INSTANCE_ACTION: &str = "/latest/meta-data/spot/instance-action";
/// How often (the reference: every second).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct InstanceAction {
    action: String,
    time: String,
}

/// The notice's action and time when `body` is one the agent acts on; why not otherwise.
pub fn parse_notice(body: &str) -> Result<(String, String), String> {
    let notice: InstanceAction = serde_json::from_str(body)
        .map_err(|e| format!("invalid response from {INSTANCE_ACTION}: {body}: {e}"))?;
    match notice.action.as_str() {
        "terminate" | "stop" | "hibernate" => Ok((notice.action, notice.time)),
        other => Err(format!(
            "invalid response from {INSTANCE_ACTION}: {body}: unrecognized action ({other})"
        )),
    }
}

/// Polls until a notice arrives and ECS has set `instance_arn` DRAINING, or `shutdown`.
pub async fn drain_on_interruption(
    imds: Client,
    api: Arc<EcsApi>,
    cluster: String,
    instance_arn: String,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Anything but a notice (404 most of the time) means: ask again.
        let Ok(body) = imds.get(INSTANCE_ACTION).await else {
            continue;
        };
        let (action, time) = match parse_notice(&String::from(body)) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "spot interruption notice ignored");
                continue;
            }
        };
        tracing::info!(%action, %time, "spot interruption notice: setting the container instance to DRAINING");
        match api.set_draining(&cluster, &instance_arn).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(container_instance = %instance_arn, error = %e, "cannot set the container instance to DRAINING");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_acted_on_by_action() {
        assert_eq!(
            parse_notice(r#"{"action": "terminate", "time": "2026-12-07T10:02:00Z"}"#),
            Ok(("terminate".into(), "2026-12-07T10:02:00Z".into()))
        );
        assert!(parse_notice(r#"{"action": "stop", "time": "t"}"#).is_ok());
        assert!(parse_notice(r#"{"action": "hibernate", "time": "t"}"#).is_ok());
        let e = parse_notice(r#"{"action": "reboot", "time": "t"}"#).unwrap_err();
        assert!(e.contains("unrecognized action (reboot)"), "{e}");
        let e = parse_notice("<html>404</html>").unwrap_err();
        assert!(e.contains("invalid response"), "{e}");
    }
}
