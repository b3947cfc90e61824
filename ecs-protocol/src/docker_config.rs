//! Typed views of the Docker JSON that ACS carries as strings in a container's
//! [`DockerConfig`].
//!
//! The control plane translates task-definition settings that have no ACS member of their own into
//! Docker Engine API objects (reference appendix "dockerConfig as the control plane sends it"):
//! `memoryReservation` → `HostConfig.MemoryReservation` (bytes), `logConfiguration` →
//! `HostConfig.LogConfig`, `ulimits` → `HostConfig.Ulimits`, `user` → `Config.User`, `healthCheck` →
//! `Config.HealthCheck` (durations in nanoseconds), `dockerLabels` → `Config.Labels`, and so on. The
//! emulator builds these overlays and [`DockerConfig::from_overlays`] turns them into the strings; the
//! agent reads them back with [`DockerConfig::parse_config`] / [`DockerConfig::parse_host_config`] and
//! lays them over the Docker config it built itself.
//!
//! Keys are Docker's PascalCase names. Keys without a typed field are kept in `extra` and written back
//! unchanged, so nothing the control plane sends is lost. This module must not decide precedence
//! between the overlay and the agent's own settings; that is the agent's job.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::acs::DockerConfig;

/// What `dockerConfig.config` carries: a partial Docker container config (`ContainerConfig`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfigOverlay {
    /// `user` of the task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `dockerLabels` of the task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `workingDirectory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `hostname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `healthCheck`. The control plane writes `HealthCheck`; Docker's own spelling `Healthcheck` is
    /// accepted too.
    #[serde(
        rename = "HealthCheck",
        alias = "Healthcheck",
        skip_serializing_if = "Option::is_none"
    )]
    pub health_check: Option<HealthConfig>,
    /// `disableNetworking`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    /// `interactive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    /// `pseudoTerminal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Every other key, as sent. Must not repeat a typed field's key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Docker health check (`HealthConfig`). Durations are **nanoseconds**, as Docker takes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// e.g. `["CMD-SHELL", "curl -f http://localhost/ || exit 1"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// Nanoseconds in a second: task definitions give health-check durations in seconds, Docker in
/// nanoseconds.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// What `dockerConfig.hostConfig` carries: a partial Docker `HostConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfigOverlay {
    /// The task's network mode, e.g. `bridge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// `linuxParameters.capabilities.add` (the control plane sends `[]` when there are none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_add: Option<Vec<String>>,
    /// `linuxParameters.capabilities.drop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_drop: Option<Vec<String>>,
    /// `memoryReservation`, in **bytes**.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    /// `linuxParameters.maxSwap` (bytes, memory + swap as Docker counts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    /// `linuxParameters.swappiness`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    /// `logConfiguration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_config: Option<LogConfig>,
    /// `ulimits`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    /// `privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// `readonlyRootFilesystem`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_rootfs: Option<bool>,
    /// `dnsServers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    /// `dnsSearchDomains`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_search: Option<Vec<String>>,
    /// `extraHosts`, each `"hostname:ip"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Vec<String>>,
    /// `dockerSecurityOptions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_opt: Option<Vec<String>>,
    /// `systemControls`, namespace → value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// `linuxParameters.tmpfs`, container path → mount options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `linuxParameters.sharedMemorySize`, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    /// `linuxParameters.initProcessEnabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Every other key, as sent. Must not repeat a typed field's key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Docker log configuration (`LogConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// The log driver: `json-file`, `awslogs`, `awsfirelens`, ... (empty: Docker's default driver).
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// Driver options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
}

/// A resource limit (`Ulimit`). Missing members are zero, as Docker reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// e.g. `nofile`.
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Which `dockerConfig` string a [`DockerConfigError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerConfigPart {
    /// `dockerConfig.config`.
    Config,
    /// `dockerConfig.hostConfig`.
    HostConfig,
}

impl DockerConfigPart {
    /// The ACS member name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::HostConfig => "hostConfig",
        }
    }
}

/// A `dockerConfig` string that is not the JSON object it should be (or an overlay that could not be
/// written).
#[derive(Debug)]
pub struct DockerConfigError {
    pub part: DockerConfigPart,
    pub source: serde_json::Error,
}

impl fmt::Display for DockerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dockerConfig.{}: {}", self.part.as_str(), self.source)
    }
}

impl std::error::Error for DockerConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl DockerConfig {
    /// Builds the strings from overlays, with the minimum Docker API version the container needs.
    pub fn from_overlays(
        version: impl Into<String>,
        config: &ContainerConfigOverlay,
        host_config: &HostConfigOverlay,
    ) -> Result<Self, DockerConfigError> {
        let config = serde_json::to_string(config).map_err(|source| DockerConfigError {
            part: DockerConfigPart::Config,
            source,
        })?;
        let host_config =
            serde_json::to_string(host_config).map_err(|source| DockerConfigError {
                part: DockerConfigPart::HostConfig,
                source,
            })?;
        Ok(Self {
            version: Some(version.into()),
            config: Some(config),
            host_config: Some(host_config),
        })
    }

    /// `config` decoded; absent, empty or `null` means an empty overlay.
    pub fn parse_config(&self) -> Result<ContainerConfigOverlay, DockerConfigError> {
        parse_part(self.config.as_deref(), DockerConfigPart::Config)
    }

    /// `hostConfig` decoded; absent, empty or `null` means an empty overlay.
    pub fn parse_host_config(&self) -> Result<HostConfigOverlay, DockerConfigError> {
        parse_part(self.host_config.as_deref(), DockerConfigPart::HostConfig)
    }
}

fn parse_part<T: Default + serde::de::DeserializeOwned>(
    text: Option<&str>,
    part: DockerConfigPart,
) -> Result<T, DockerConfigError> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() || text == "null" {
        return Ok(T::default());
    }
    serde_json::from_str(text).map_err(|source| DockerConfigError { part, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docker_config(config: &str, host_config: &str) -> DockerConfig {
        DockerConfig {
            version: Some("1.17".into()),
            config: Some(config.into()),
            host_config: Some(host_config.into()),
        }
    }

    /// Each row of the reference appendix decodes, and re-encodes to the same JSON.
    #[test]
    fn appendix_examples_round_trip() {
        let rows = [
            (
                r#"{}"#,
                r#"{"NetworkMode":"bridge","CapAdd":[],"CapDrop":[]}"#,
            ),
            (r#"{"User":"0"}"#, r#"{"CapAdd":[],"CapDrop":[]}"#),
            (
                r#"{"HealthCheck":{"Test":["CMD","echo","hello"],"Interval":30000000000,"Timeout":5000000000,"Retries":3}}"#,
                r#"{"CapAdd":[],"CapDrop":[]}"#,
            ),
            (
                r#"{}"#,
                r#"{"LogConfig":{"Type":"awsfirelens","Config":{"Name":"firehose","region":"us-west-2"}},"NetworkMode":"bridge","CapAdd":[],"CapDrop":[]}"#,
            ),
            (
                r#"{}"#,
                r#"{"NetworkMode":"awsvpc","CapAdd":[],"CapDrop":[]}"#,
            ),
            (
                r#"{}"#,
                r#"{"SecurityOpt":["credentialspec:file://WebApp01.json"],"CapAdd":[],"CapDrop":[]}"#,
            ),
        ];
        for (config, host_config) in rows {
            let carried = docker_config(config, host_config);
            let parsed_config = carried.parse_config().unwrap();
            let parsed_host = carried.parse_host_config().unwrap();
            assert_eq!(
                serde_json::to_value(&parsed_config).unwrap(),
                serde_json::from_str::<Value>(config).unwrap()
            );
            assert_eq!(
                serde_json::to_value(&parsed_host).unwrap(),
                serde_json::from_str::<Value>(host_config).unwrap()
            );
            assert!(parsed_config.extra.is_empty() && parsed_host.extra.is_empty());
        }
    }

    #[test]
    fn health_check_durations_are_nanoseconds() {
        let carried = docker_config(
            r#"{"HealthCheck":{"Test":["CMD","echo","hello"],"Interval":30000000000,"Timeout":5000000000,"Retries":3}}"#,
            "{}",
        );
        let health = carried.parse_config().unwrap().health_check.unwrap();
        assert_eq!(health.interval, Some(30 * NANOS_PER_SECOND));
        assert_eq!(health.timeout, Some(5 * NANOS_PER_SECOND));
        assert_eq!(health.retries, Some(3));
    }

    #[test]
    fn dockers_own_healthcheck_spelling_is_accepted() {
        let carried = docker_config(r#"{"Healthcheck":{"Test":["NONE"]}}"#, "{}");
        let config = carried.parse_config().unwrap();
        assert_eq!(config.health_check.unwrap().test.unwrap(), ["NONE"]);
    }

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let host = r#"{"MemoryReservation":134217728,"PidsLimit":100,"Devices":[{"PathOnHost":"/dev/fuse"}]}"#;
        let parsed = docker_config("{}", host).parse_host_config().unwrap();
        assert_eq!(parsed.memory_reservation, Some(128 * 1024 * 1024));
        assert_eq!(parsed.extra.get("PidsLimit"), Some(&json!(100)));
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::from_str::<Value>(host).unwrap()
        );
    }

    #[test]
    fn overlays_build_the_strings_the_agent_reads_back() {
        let config = ContainerConfigOverlay {
            user: Some("1000:1000".into()),
            labels: Some([("team".to_owned(), "web".to_owned())].into()),
            working_dir: Some("/srv".into()),
            health_check: Some(HealthConfig {
                test: Some(vec!["CMD-SHELL".into(), "true".into()]),
                interval: Some(10 * NANOS_PER_SECOND),
                ..HealthConfig::default()
            }),
            ..ContainerConfigOverlay::default()
        };
        let host_config = HostConfigOverlay {
            network_mode: Some("bridge".into()),
            cap_add: Some(vec![]),
            cap_drop: Some(vec![]),
            memory_reservation: Some(64 * 1024 * 1024),
            log_config: Some(LogConfig {
                kind: "json-file".into(),
                config: Some([("max-size".to_owned(), "10m".to_owned())].into()),
            }),
            ulimits: Some(vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 4096,
            }]),
            dns: Some(vec!["10.0.0.2".into()]),
            extra_hosts: Some(vec!["db:10.0.0.9".into()]),
            ..HostConfigOverlay::default()
        };
        let carried = DockerConfig::from_overlays("1.24", &config, &host_config).unwrap();
        assert_eq!(carried.version.as_deref(), Some("1.24"));
        let host_json: Value =
            serde_json::from_str(carried.host_config.as_deref().unwrap()).unwrap();
        assert_eq!(host_json["MemoryReservation"], 67_108_864);
        assert_eq!(
            host_json["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "10m"}})
        );
        assert_eq!(
            host_json["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 4096}])
        );
        assert_eq!(host_json["ExtraHosts"], json!(["db:10.0.0.9"]));
        let config_json: Value = serde_json::from_str(carried.config.as_deref().unwrap()).unwrap();
        assert_eq!(config_json["HealthCheck"]["Interval"], 10_000_000_000_i64);
        assert_eq!(config_json["WorkingDir"], "/srv");

        assert_eq!(carried.parse_config().unwrap(), config);
        assert_eq!(carried.parse_host_config().unwrap(), host_config);
    }

    #[test]
    fn absent_or_empty_strings_are_empty_overlays() {
        let carried = DockerConfig::default();
        assert_eq!(
            carried.parse_config().unwrap(),
            ContainerConfigOverlay::default()
        );
        let carried = docker_config("", "null");
        assert_eq!(
            carried.parse_host_config().unwrap(),
            HostConfigOverlay::default()
        );
    }

    #[test]
    fn a_string_that_is_not_an_object_names_the_part() {
        let error = docker_config("{}", "[1,2]")
            .parse_host_config()
            .unwrap_err();
        assert_eq!(error.part, DockerConfigPart::HostConfig);
        assert!(
            error.to_string().starts_with("dockerConfig.hostConfig: "),
            "{error}"
        );
        let error = docker_config("{oops", "{}").parse_config().unwrap_err();
        assert_eq!(error.part, DockerConfigPart::Config);
    }
}
