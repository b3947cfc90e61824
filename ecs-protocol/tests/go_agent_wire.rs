//! What the reference Go agent (1.105.1) actually sent, recorded against a stand-in control plane
//! (`fixtures/go-agent-wire/`, copied from the shared reference folder): every request body and every
//! ACS frame must decode into our types and re-encode to the same JSON. If AWS's agent sends a member
//! we do not model, or spells one differently, these tests fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ecs_protocol::acs::{AcsFrame, AcsMessage};
use ecs_protocol::ecs_api::{
    DiscoverPollEndpointRequest, RegisterContainerInstanceRequest, ResourceType,
    SubmitTaskStateChangeRequest,
};
use ecs_protocol::{DesiredStatus, NetworkMode, ReportedStatus, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture_path(name: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests/fixtures/go-agent-wire")
        .join(name)
}

fn read_json(name: &str) -> Value {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Both sides as JSON values, each through the same text round trip, so that numbers compare by the
/// decimal text they print as rather than by how one parse happened to round them.
fn normalised(value: &Value) -> Value {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

/// Decodes `body` as `T`, re-encodes it, and checks nothing was lost, added or changed.
fn assert_round_trip<T: DeserializeOwned + Serialize>(what: &str, body: &Value) -> T {
    let typed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: does not decode: {e}"));
    let re_encoded = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        normalised(&re_encoded),
        normalised(body),
        "{what}: re-encoded body differs from the recording"
    );
    typed
}

#[test]
fn register_container_instance_first_boot() {
    let body = &read_json("RegisterContainerInstance.external.first-boot.json")["body"];
    let request: RegisterContainerInstanceRequest = assert_round_trip("first boot", body);

    assert_eq!(request.cluster.as_deref(), Some("default"));
    assert_eq!(request.container_instance_arn, None);
    assert_eq!(request.instance_identity_document.as_deref(), Some(""));
    assert_eq!(
        request.instance_identity_document_signature.as_deref(),
        Some("")
    );
    assert!(request.client_token.is_some());

    let resources = request.total_resources.unwrap();
    let names: Vec<_> = resources
        .iter()
        .map(|r| r.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["CPU", "MEMORY", "PORTS", "PORTS_UDP"]);
    assert_eq!(resources[0].kind, Some(ResourceType::Integer));
    assert_eq!(resources[0].integer_value, Some(2048));
    assert_eq!(resources[3].kind, Some(ResourceType::StringSet));
    assert_eq!(resources[3].string_set_value, Some(vec![]));

    let attributes = request.attributes.unwrap();
    let os_type = attributes.iter().find(|a| a.name == "ecs.os-type").unwrap();
    assert_eq!(os_type.value.as_deref(), Some("linux"));
    assert!(
        attributes
            .iter()
            .any(|a| a.name == "ecs.capability.external" && a.value.is_none())
    );
}

#[test]
fn register_container_instance_restart_carries_the_saved_arn() {
    let body = &read_json("RegisterContainerInstance.external.restart-with-state.json")["body"];
    let request: RegisterContainerInstanceRequest = assert_round_trip("restart", body);
    assert_eq!(
        request.container_instance_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:123456789012:container-instance/default/abc123")
    );
}

#[test]
fn register_container_instance_ec2_mode_carries_the_identity_document() {
    let body = &read_json("RegisterContainerInstance.ec2-mode.fake-imds.json")["body"];
    let request: RegisterContainerInstanceRequest = assert_round_trip("ec2 mode", body);
    let document: Value =
        serde_json::from_str(request.instance_identity_document.as_deref().unwrap()).unwrap();
    assert_eq!(document["instanceId"], "i-0123456789abcdef0");
    assert_eq!(
        request.instance_identity_document_signature.as_deref(),
        Some("ZmFrZS1zaWduYXR1cmU=")
    );
}

#[test]
fn discover_poll_endpoint() {
    let body = &read_json("DiscoverPollEndpoint.external.json")["body"];
    let request: DiscoverPollEndpointRequest = assert_round_trip("discover poll endpoint", body);
    assert_eq!(request.cluster.as_deref(), Some("default"));
    assert_eq!(request.zone_id.as_deref(), Some(""));
}

#[test]
fn submit_task_state_change_running() {
    let body = &read_json("SubmitTaskStateChange.RUNNING.json")["body"];
    let request: SubmitTaskStateChangeRequest = assert_round_trip("RUNNING", body);
    assert_eq!(request.status, Some(ReportedStatus::Running));
    assert_eq!(request.reason.as_deref(), Some(""));
    assert_eq!(
        request.pull_started_at,
        Some(Timestamp::from_unix_millis(1_795_317_327_066))
    );
    assert_eq!(
        request.pull_stopped_at,
        Some(Timestamp::from_unix_millis(1_795_317_341_543))
    );
    assert_eq!(request.execution_stopped_at, None);

    let containers = request.containers.unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].container_name.as_deref(), Some("sleeper"));
    assert_eq!(containers[0].status, Some(ReportedStatus::Running));
    assert_eq!(containers[0].exit_code, None);
    assert!(containers[0].network_bindings.is_none());
}

#[test]
fn submit_task_state_change_stopped() {
    let body = &read_json("SubmitTaskStateChange.STOPPED.json")["body"];
    let request: SubmitTaskStateChangeRequest = assert_round_trip("STOPPED", body);
    assert_eq!(request.status, Some(ReportedStatus::Stopped));
    assert_eq!(
        request.execution_stopped_at,
        Some(Timestamp::from_unix_millis(1_795_317_387_722))
    );
    let containers = request.containers.unwrap();
    assert_eq!(containers[0].status, Some(ReportedStatus::Stopped));
    assert_eq!(containers[0].exit_code, Some(137));
}

/// The byte-for-byte bodies (the pretty `.json` files hold them re-indented) decode too, each as the
/// operation its `X-Amz-Target` names.
#[test]
fn raw_http_bodies_decode_as_their_target_operation() {
    let path = fixture_path("requests.raw.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["kind"] != "http" {
            continue;
        }
        let target = record["target"].as_str().unwrap();
        let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        match target.rsplit('.').next().unwrap() {
            "RegisterContainerInstance" => {
                assert_round_trip::<RegisterContainerInstanceRequest>(target, &body);
            }
            "DiscoverPollEndpoint" => {
                assert_round_trip::<DiscoverPollEndpointRequest>(target, &body);
            }
            "SubmitTaskStateChange" => {
                assert_round_trip::<SubmitTaskStateChangeRequest>(target, &body);
            }
            other => panic!("no type for operation {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "the recording holds six HTTP requests");
}

/// Every ACS frame of both recordings, both directions.
fn acs_frames() -> Vec<(String, String)> {
    let mut frames = Vec::new();
    for file in [
        "ws-frames.external-idle.json",
        "ws-frames.external-restart-task.json",
    ] {
        for frame in read_json(file).as_array().unwrap() {
            // `closed` entries record the socket closing, not a frame.
            if frame["which"] == "acs" && frame["dir"] != "closed" {
                let dir = frame["dir"].as_str().unwrap().to_owned();
                frames.push((dir, frame["data"].as_str().unwrap().to_owned()));
            }
        }
    }
    frames
}

#[test]
fn every_recorded_acs_frame_decodes_to_its_variant_and_re_encodes_unchanged() {
    let frames = acs_frames();
    assert_eq!(frames.len(), 10, "recorded ACS frames");
    for (dir, text) in frames {
        let recorded: Value = serde_json::from_str(&text).unwrap();
        let frame = AcsFrame::decode(&text).unwrap_or_else(|e| panic!("{dir}: {e}: {text}"));
        let AcsFrame::Known(message) = &frame else {
            panic!("{dir}: decoded as unknown: {text}");
        };
        assert_eq!(message.type_name(), recorded["type"], "{dir}: {text}");
        let expected_direction = match message {
            AcsMessage::HeartbeatMessage(_) | AcsMessage::PayloadMessage(_) => "server->agent",
            AcsMessage::HeartbeatAckRequest(_) | AcsMessage::AckRequest(_) => "agent->server",
            other => panic!("unexpected {} in the recording", other.type_name()),
        };
        assert_eq!(dir, expected_direction, "{text}");
        let re_encoded: Value = serde_json::from_str(&frame.encode().unwrap()).unwrap();
        assert_eq!(
            normalised(&re_encoded),
            normalised(&recorded),
            "{dir}: {text}"
        );
    }
}

#[test]
fn the_recorded_agent_answers_byte_for_byte_like_ours() {
    // The Go agent's frames are compact JSON in its member order; ours match exactly for acks.
    for (dir, text) in acs_frames() {
        if dir != "agent->server" {
            continue;
        }
        let AcsFrame::Known(message) = AcsFrame::decode(&text).unwrap() else {
            panic!("unknown frame {text}");
        };
        assert_eq!(message.encode().unwrap(), text);
    }
}

#[test]
fn the_recorded_payloads_carry_the_task_we_expect() {
    let payloads: Vec<_> = acs_frames()
        .into_iter()
        .filter_map(|(_, text)| match AcsFrame::decode(&text).unwrap() {
            AcsFrame::Known(AcsMessage::PayloadMessage(payload)) => Some(payload),
            _ => None,
        })
        .collect();
    assert_eq!(payloads.len(), 2);

    let first = &payloads[0];
    assert_eq!(first.message_id.as_deref(), Some("pm-1"));
    assert_eq!(first.seq_num, Some(1));
    assert_eq!(first.generated_at, Some(1_795_317_300));
    let task = &first.tasks()[0];
    assert_eq!(task.desired_status, Some(DesiredStatus::Running));
    assert_eq!(task.network_mode, Some(NetworkMode::Bridge));
    let container = &task.containers()[0];
    assert_eq!(container.name.as_deref(), Some("sleeper"));
    assert_eq!(
        container.command.as_deref(),
        Some(&["sleep".to_owned(), "3600".to_owned()][..])
    );
    assert_eq!((container.cpu, container.memory), (Some(10), Some(32)));
    assert_eq!(container.environment.as_ref().map(|e| e.0.len()), Some(0));

    assert_eq!(
        payloads[1].tasks()[0].desired_status,
        Some(DesiredStatus::Stopped)
    );
}

/// Every agent → TCS text frame the reference agent sent: the two stand-in recordings and the one
/// against the emulator (`against-emulator.go.jsonl`, 1.105.0).
fn tcs_frames() -> Vec<String> {
    let mut frames = Vec::new();
    for file in [
        "ws-frames.external-idle.json",
        "ws-frames.external-restart-task.json",
    ] {
        for frame in read_json(file).as_array().unwrap() {
            if frame["which"] == "tcs" && frame["dir"] == "agent->server" && frame["opcode"] == 1 {
                frames.push(frame["data"].as_str().unwrap().to_owned());
            }
        }
    }
    let path = fixture_path("against-emulator.go.jsonl");
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        if entry["kind"] == "ws_frame"
            && entry["ws"] == "tcs"
            && entry["dir"] == "agent->cp"
            && entry["opcode"] == 1
        {
            frames.push(entry["data"].as_str().unwrap().to_owned());
        }
    }
    frames
}

#[test]
fn every_recorded_tcs_frame_is_signed_and_decodes_to_its_variant_unchanged() {
    use ecs_protocol::tcs::{SignedFrame, TcsFrame, TcsMessage};

    let frames = tcs_frames();
    assert_eq!(frames.len(), 10 + 7 + 22, "recorded TCS frames");
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for text in &frames {
        let signed = SignedFrame::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let names: Vec<&str> = signed.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["Authorization", "Host", "X-Amz-Date"], "{text}");
        assert!(
            signed
                .header("authorization")
                .unwrap()
                .contains("/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=")
        );
        // The header block is re-written exactly as Go writes it.
        assert_eq!(&signed.encode(), text);
        let TcsFrame::Known(message) =
            TcsFrame::decode(signed.body).unwrap_or_else(|e| panic!("{e}: {text}"))
        else {
            panic!("unknown TCS frame {text}");
        };
        *kinds.entry(message.type_name()).or_default() += 1;
        assert!(matches!(
            message,
            TcsMessage::PublishMetricsRequest(_)
                | TcsMessage::PublishHealthRequest(_)
                | TcsMessage::PublishInstanceStatusRequest(_)
        ));
        let recorded: Value = serde_json::from_str(signed.body).unwrap();
        let re_encoded: Value = serde_json::from_str(&message.encode().unwrap()).unwrap();
        assert_eq!(normalised(&re_encoded), normalised(&recorded), "{text}");
    }
    assert_eq!(kinds.get("PublishHealthRequest"), Some(&5), "{kinds:?}");
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}

/// The typed metrics re-encode every recorded `PublishMetricsRequest` byte for byte (Go's member
/// order, whole doubles without a fraction), and the stat sets read as the reference sent them.
#[test]
fn recorded_metrics_frames_re_encode_byte_for_byte() {
    use ecs_protocol::tcs::{SignedFrame, TcsFrame, TcsMessage};

    let mut with_tasks = 0;
    for text in tcs_frames() {
        let body = SignedFrame::parse(&text).unwrap().body;
        let Ok(TcsFrame::Known(TcsMessage::PublishMetricsRequest(m))) = TcsFrame::decode(body)
        else {
            continue;
        };
        assert_eq!(
            TcsMessage::PublishMetricsRequest(m.clone())
                .encode()
                .unwrap(),
            body
        );
        let Some(tasks) = &m.task_metrics else {
            assert_eq!(m.metadata.as_ref().unwrap().idle, Some(true), "{body}");
            continue;
        };
        with_tasks += 1;
        for c in tasks
            .iter()
            .flat_map(|t| t.container_metrics.iter().flatten())
        {
            let cpu = c.cpu_stats_set.unwrap();
            assert!(
                cpu.sample_count.unwrap() > 0 && cpu.sum.unwrap().0 >= 0.0,
                "{body}"
            );
            let net = c.network_stats_set.unwrap();
            assert_eq!(net.rx_bytes.unwrap().overflow_sum, Some(0));
            assert!(c.storage_stats_set.unwrap().read_size_bytes.is_some());
        }
    }
    assert!(with_tasks > 0, "no recorded metrics frame carries tasks");
}
