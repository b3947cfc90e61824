//! The whole ACS model, member by member: `fixtures/acs/every-member.json` (written for this crate)
//! sets every member of every shape in the ACS service model, and every message type the control
//! plane or the agent can send. Each must decode as its own variant and re-encode unchanged, so a
//! member we misspell or forget shows up here rather than as a silently dropped setting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ecs_protocol::acs::{
    AcsFrame, AcsMessage, AuthenticationType, ContainerCondition, EfsSetting, RoleType, SecretType,
    VolumeType,
};
use ecs_protocol::docker_config::NANOS_PER_SECOND;
use ecs_protocol::{NetworkMode, TransportProtocol};
use serde_json::Value;

fn every_member() -> Vec<Value> {
    let path = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests/fixtures/acs/every-member.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn decode(envelope: &Value) -> AcsMessage {
    let text = serde_json::to_string(envelope).unwrap();
    match AcsFrame::decode(&text) {
        Ok(AcsFrame::Known(message)) => message,
        Ok(AcsFrame::Unknown(unknown)) => panic!("{} decoded as unknown", unknown.type_name),
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn every_message_decodes_as_its_type_and_re_encodes_unchanged() {
    let envelopes = every_member();
    let mut seen = Vec::new();
    for envelope in &envelopes {
        let message = decode(envelope);
        assert_eq!(message.type_name(), envelope["type"]);
        let re_encoded: Value = serde_json::from_str(&message.encode().unwrap()).unwrap();
        assert_eq!(&re_encoded, envelope, "{}", message.type_name());
        seen.push(message.type_name());
    }
    // Together with the recorded heartbeats in go_agent_wire.rs: every type is exercised.
    for name in AcsMessage::TYPE_NAMES {
        assert!(
            seen.contains(&name) || name.starts_with("Heartbeat"),
            "{name} missing from the fixture"
        );
    }
}

#[test]
fn the_full_payload_reads_as_typed_values() {
    let AcsMessage::PayloadMessage(payload) = decode(&every_member()[0]) else {
        panic!("first fixture is not a payload");
    };
    let task = &payload.tasks()[0];
    assert_eq!(task.cpu, Some(0.5));
    assert_eq!(task.network_mode, Some(NetworkMode::Bridge));

    let container = &task.containers()[0];
    assert_eq!(
        container.port_mappings()[1].protocol,
        Some(TransportProtocol::Udp)
    );
    assert_eq!(
        container.port_mappings()[1].container_port_range.as_deref(),
        Some("9000-9010")
    );
    assert_eq!(
        container.depends_on()[0].condition,
        Some(ContainerCondition::Healthy)
    );
    let secret = &container.secrets.as_ref().unwrap()[0];
    assert_eq!(secret.kind, Some(SecretType::EnvironmentVariable));
    let auth = container.registry_authentication.as_ref().unwrap();
    assert_eq!(auth.kind, Some(AuthenticationType::Ecr));
    assert_eq!(
        container.parsed_overrides().unwrap().command.unwrap(),
        ["nginx", "-T"]
    );

    let docker = container.docker_config.as_ref().unwrap();
    let config = docker.parse_config().unwrap();
    assert_eq!(config.user.as_deref(), Some("101"));
    assert_eq!(
        config.health_check.unwrap().interval,
        Some(30 * NANOS_PER_SECOND)
    );
    let host = docker.parse_host_config().unwrap();
    assert_eq!(host.memory_reservation, Some(256 * 1024 * 1024));
    assert_eq!(host.log_config.unwrap().kind, "json-file");
    assert_eq!(host.ulimits.unwrap()[0].hard, 4096);

    let types: Vec<_> = task.volumes().iter().map(|v| v.effective_type()).collect();
    assert_eq!(
        types,
        [
            VolumeType::Host,
            VolumeType::Host,
            VolumeType::Docker,
            VolumeType::Efs,
            VolumeType::FsxWindowsFileServer,
            VolumeType::Ebs,
            VolumeType::LogDriverOutput,
        ]
    );
    let efs = task.volumes()[3].efs_volume_configuration.as_ref().unwrap();
    assert_eq!(efs.transit_encryption, Some(EfsSetting::Enabled));
}

#[test]
fn payload_secrets_never_show_in_debug() {
    let message = decode(&every_member()[0]);
    let shown = format!("{message:?}");
    for secret in ["task-secret", "task-token", "exec-secret", "exec-token"] {
        assert!(!shown.contains(secret), "{secret} leaked into Debug");
    }
    // Environment values are redacted, their names are not.
    assert!(shown.contains("MODE") && !shown.contains("prod"));
}

#[test]
fn credentials_refresh_reads_as_typed_values() {
    let AcsMessage::IamRoleCredentialsMessage(refresh) = decode(&every_member()[1]) else {
        panic!("second fixture is not a credentials refresh");
    };
    assert_eq!(refresh.role_type, Some(RoleType::TaskApplication));
    let credentials = refresh.role_credentials.unwrap();
    assert_eq!(credentials.credentials_id.as_deref(), Some("creds-task"));
    assert_eq!(
        credentials.secret_access_key.as_deref(),
        Some("task-secret-2")
    );
}
