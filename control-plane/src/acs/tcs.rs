//! The TCS websocket (telemetry), served on ACS's path: an upgrade with `cluster` and
//! `containerInstance` lands here.
//!
//! Each agent frame carries its own SigV4 signature (a pseudo-HTTP header block before the JSON,
//! [`ecs_protocol::SignedFrame`]): a `GET` of the upgrade's own path and query, with the JSON as
//! the body, signed for `ecs`. [`check_frame`] verifies it with the front's [`Authenticator`]; a
//! frame that is unsigned or does not verify is refused with a `BadRequestException` and not
//! used. A verified publish request is acknowledged (`AckPublishMetric`, `AckPublishHealth`,
//! `AckPublishInstanceStatus`) and TCS sends a `HeartbeatMessage` every heartbeat interval: the
//! reference agent closes a TCS connection on which nothing arrived for 1 to 2 minutes. Container
//! health goes into the tasks ([`crate::ecs::health`]); metrics into the metrics store
//! ([`crate::cloudwatch::tcs_metrics`]); instance statuses are acknowledged and dropped (not emulated yet).
//!
//! This module must not hold task state or metrics: it hands health to the state actor and
//! metrics to their store.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use ecs_protocol::acs::ExceptionMessage;
use ecs_protocol::tcs::{HeartbeatMessage, SignedFrame, SignedFrameError, TcsFrame, TcsMessage};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::Inner;
use crate::front::sigv4::Flavor;
use crate::front::{ApiError, Authenticator};

/// What one agent frame comes to.
#[derive(Debug, PartialEq)]
pub(crate) enum Checked {
    /// A verified message this emulator knows.
    Message(TcsMessage),
    /// A verified frame of a type this emulator does not know.
    Unknown(String),
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameRefusal {
    /// No header block, or a broken one.
    #[error(transparent)]
    NotSigned(#[from] SignedFrameError),
    /// A header name or value HTTP cannot carry.
    #[error("bad header in the TCS frame: {0}")]
    BadHeader(String),
    /// The signature does not verify.
    #[error("{}", .0.message)]
    Signature(ApiError),
    /// Signed, but not a TCS envelope.
    #[error(transparent)]
    Decode(#[from] ecs_protocol::DecodeError),
}

/// Verifies one agent frame against the upgrade's `target` (its path and query) and decodes it.
/// Pure but for the clock the authenticator's skew check reads.
pub(crate) fn check_frame(
    auth: &Authenticator,
    target: &Uri,
    text: &str,
    now: f64,
) -> Result<Checked, FrameRefusal> {
    let frame = SignedFrame::parse(text)?;
    let mut headers = HeaderMap::with_capacity(frame.headers.len());
    for (name, value) in &frame.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FrameRefusal::BadHeader((*name).to_string()))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| FrameRefusal::BadHeader(name.to_string()))?;
        headers.append(name, value);
    }
    auth.authenticate(
        &Method::GET,
        target,
        &headers,
        frame.body.as_bytes(),
        Flavor::Standard,
        now,
    )
    .map_err(|e| FrameRefusal::Signature(e.into()))?;
    Ok(match TcsFrame::decode(frame.body)? {
        TcsFrame::Known(message) => Checked::Message(message),
        TcsFrame::Unknown(unknown) => Checked::Unknown(unknown.type_name),
    })
}

/// One frame's text. Every TCS message is plain data: encoding cannot fail.
fn text(message: &TcsMessage) -> Message {
    Message::Text(message.encode().unwrap_or_default().into())
}

/// One TCS connection of the agent of `instance`, upgraded at `target`.
pub(super) async fn session(app: Arc<Inner>, socket: WebSocket, instance: String, target: Uri) {
    let (mut tx, mut rx) = socket.split();
    let mut heartbeat = tokio::time::interval(app.heartbeat_interval);
    heartbeat.tick().await;
    tracing::debug!(container_instance = %instance, "telemetry connected");
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => {
                let _ = tx.send(Message::Close(None)).await;
                break;
            }
            _ = heartbeat.tick() => {
                let beat = TcsMessage::HeartbeatMessage(HeartbeatMessage { healthy: Some(true) });
                if tx.send(text(&beat)).await.is_err() {
                    break;
                }
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(frame))) => {
                    let answer = handle(&app, &instance, &target, frame.as_str()).await;
                    if let Some(answer) = answer
                        && tx.send(text(&answer)).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // The websocket library queued the answer (echoing the agent's code) when it
                    // read the close; closing our half sends it.
                    let _ = tx.close().await;
                    break;
                }
                Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::debug!(container_instance = %instance, "telemetry disconnected");
}

/// Applies one agent frame; returns the frame to answer with, if any.
async fn handle(app: &Inner, instance: &str, target: &Uri, text: &str) -> Option<TcsMessage> {
    let now = crate::front::context::now_secs();
    let message = match check_frame(&app.auth, target, text, now) {
        Ok(Checked::Message(message)) => message,
        Ok(Checked::Unknown(kind)) => {
            tracing::debug!(container_instance = %instance, frame_type = %kind, "TCS frame ignored");
            return None;
        }
        Err(e) => {
            tracing::warn!(container_instance = %instance, error = %e, "TCS frame refused");
            return Some(TcsMessage::BadRequestException(ExceptionMessage::new(
                e.to_string(),
            )));
        }
    };
    if let TcsMessage::PublishMetricsRequest(metrics) = &message {
        app.metrics.record(instance, metrics, now);
        for task in metrics.task_metrics.iter().flatten() {
            tracing::debug!(
                container_instance = %instance,
                task_arn = task.task_arn.as_deref().unwrap_or_default(),
                containers = task.container_metrics.as_ref().map_or(0, Vec::len),
                "TCS task metrics recorded"
            );
        }
    }
    if let TcsMessage::PublishHealthRequest(health) = &message {
        let health = health.clone();
        let arn = instance.to_string();
        let _ = app
            .state
            .call(move |s| crate::ecs::health::apply(s, &arn, &health))
            .await;
    }
    message.ack()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::front::{Keys, TemporaryKey, TemporaryKeys};

    #[derive(Debug)]
    struct NoTemporaryKeys;

    impl TemporaryKeys for NoTemporaryKeys {
        fn lookup(&self, _: &str) -> Option<TemporaryKey> {
            None
        }
    }

    /// The example keys the recordings are signed with; no clock check (they are from the past).
    fn auth() -> Authenticator {
        Authenticator::new(
            Keys::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            "123456789012",
            None,
            Arc::new(NoTemporaryKeys),
        )
    }

    /// (upgrade target, frame text) of every agent TCS text frame the reference agent 1.105.0
    /// sent to the emulator.
    fn recorded() -> Vec<(Uri, String)> {
        let mut targets = std::collections::HashMap::new();
        let mut frames = Vec::new();
        for line in include_str!("../../tests/fixtures/against-emulator.go.jsonl").lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["ws"] != "tcs" || v["dir"] != "agent->cp" {
                continue;
            }
            let conn = v["conn"].as_i64().unwrap();
            if v["kind"] == "http_request" {
                targets.insert(conn, v["target"].as_str().unwrap().parse::<Uri>().unwrap());
            } else if v["kind"] == "ws_frame" && v["opcode"] == 1 {
                frames.push((
                    targets[&conn].clone(),
                    v["data"].as_str().unwrap().to_string(),
                ));
            }
        }
        frames
    }

    #[test]
    fn every_recorded_reference_frame_verifies() {
        let frames = recorded();
        assert_eq!(frames.len(), 22);
        for (target, text) in &frames {
            match check_frame(&auth(), target, text, 0.0) {
                Ok(Checked::Message(m)) => assert!(m.ack().is_some(), "{text}"),
                other => panic!("{other:?}: {text}"),
            }
        }
    }

    /// The reference's metrics frames, verified, land in the metrics store per task.
    #[test]
    fn recorded_metrics_are_kept_per_task() {
        let store = crate::cloudwatch::tcs_metrics::MetricsStore::new();
        let mut acked = 0;
        for (target, text) in recorded() {
            let Ok(Checked::Message(m)) = check_frame(&auth(), &target, &text, 0.0) else {
                panic!("{text}");
            };
            if let TcsMessage::PublishMetricsRequest(r) = &m {
                store.record("arn:ci", r, 100.0);
                assert_eq!(m.ack().unwrap().type_name(), "AckPublishMetric");
                acked += 1;
            }
        }
        assert!(acked > 0);
        let task =
            "arn:aws:ecs:us-east-1:123456789012:task/wire-go/8469c742ff434b0296694f79d14712f7";
        let kept = store.task(task).unwrap();
        let names: Vec<_> = kept
            .metric
            .container_metrics
            .iter()
            .flatten()
            .filter_map(|c| c.container_name.as_deref())
            .collect();
        assert_eq!(names, ["side", "web"]);
        assert_eq!(store.instance("arn:ci").unwrap().requests, acked);
    }

    #[test]
    fn a_tampered_frame_is_refused() {
        let (target, text) = recorded()
            .into_iter()
            .find(|(_, t)| t.contains("PublishHealthRequest"))
            .unwrap();
        let tampered = [
            text.replace("HEALTHY", "UNHEALTHY"),
            text.replace("X-Amz-Date: 2026", "X-Amz-Date: 2027"),
            text.replace("Host: 127.0.0.1", "Host: 127.0.0.2"),
        ];
        for t in tampered {
            assert_ne!(t, text);
            assert!(
                matches!(
                    check_frame(&auth(), &target, &t, 0.0),
                    Err(FrameRefusal::Signature(_))
                ),
                "{t}"
            );
        }
        // Another upgrade query: the frame was signed for its own connection's URL.
        let other: Uri = target
            .to_string()
            .replace("wire-go", "wire-rs")
            .parse()
            .unwrap();
        assert!(matches!(
            check_frame(&auth(), &other, &text, 0.0),
            Err(FrameRefusal::Signature(_))
        ));
        // The bare JSON without its header block.
        let bare = text.split_once("\r\n\r\n").unwrap().1;
        assert!(matches!(
            check_frame(&auth(), &target, bare, 0.0),
            Err(FrameRefusal::NotSigned(SignedFrameError::Unsigned))
        ));
    }

    #[test]
    fn a_frame_outside_the_clock_skew_is_refused() {
        let (target, text) = recorded().remove(0);
        let strict = Authenticator::new(
            Keys::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            "123456789012",
            Some(Duration::from_secs(900)),
            Arc::new(NoTemporaryKeys),
        );
        assert!(matches!(
            check_frame(&strict, &target, &text, 0.0),
            Err(FrameRefusal::Signature(_))
        ));
    }
}
