//! ACS container → [`ContainerSpec`]: Docker name, labels, environment, ports, resources and the
//! `dockerConfig` overlays, as the reference agent builds them (reference section 7). Pure: no
//! Docker, no clock; the only side effects are the random part of [`docker_name`] and a warning
//! when a memory limit is raised to the minimum.
//!
//! What it must not do: allocate host ports (the caller passes them in, see [`crate::ports`]),
//! talk to Docker, or decide ECS reason strings (the engine prefixes `CannotCreateContainerError:`
//! and friends).

use std::collections::BTreeMap;

use ecs_protocol::NetworkMode;
use ecs_protocol::acs::{Container, HealthCheckType, Task};
use ecs_protocol::docker_config::DockerConfigError;

use super::{ContainerSpec, PortSpec};

/// Label: the task ARN. Every container the agent creates carries it; it is how managed containers
/// are found again.
pub const LABEL_TASK_ARN: &str = "com.amazonaws.ecs.task-arn";
/// Label: the container's name in the task definition.
pub const LABEL_CONTAINER_NAME: &str = "com.amazonaws.ecs.container-name";
/// Label: the task definition family.
pub const LABEL_TASK_DEFINITION_FAMILY: &str = "com.amazonaws.ecs.task-definition-family";
/// Label: the task definition revision.
pub const LABEL_TASK_DEFINITION_VERSION: &str = "com.amazonaws.ecs.task-definition-version";
/// Label: the cluster, as the agent is configured (`ECS_CLUSTER`).
pub const LABEL_CLUSTER: &str = "com.amazonaws.ecs.cluster";

/// Docker refuses (or misreads) CPU shares below 2: 0 would mean 1024 (reference `task_linux.go`).
pub const MIN_CPU_SHARES: i64 = 2;
/// The kernel's maximum CPU shares.
pub const MAX_CPU_SHARES: i64 = 262_144;
/// A memory limit below this is raised to it (reference `container_unix.go`,
/// `DockerContainerMinimumMemoryInBytes`).
pub const MIN_MEMORY_BYTES: i64 = 4 * BYTES_PER_MIB;

const BYTES_PER_MIB: i64 = 1024 * 1024;

/// Why a container cannot be turned into a [`ContainerSpec`]. Every variant names the task and
/// the container.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A member the agent cannot do without is absent from the ACS task or container.
    #[error("task {task_arn}: container {container}: missing {field}")]
    MissingField {
        /// Task ARN (empty when the ARN itself is missing).
        task_arn: String,
        /// Container name (empty when the name itself is missing).
        container: String,
        /// The ACS member, e.g. `image`.
        field: &'static str,
    },
    /// The task's network mode cannot run here (awsvpc needs ENIs and CNI plugins).
    #[error(
        "task {task_arn}: container {container}: {mode} network mode is not supported on this instance"
    )]
    UnsupportedNetworkMode {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
        /// The mode as sent.
        mode: String,
    },
    /// A privileged container on an instance with `ECS_DISABLE_PRIVILEGED=true`.
    #[error(
        "task {task_arn}: container {container}: privileged containers are disabled on this instance (ECS_DISABLE_PRIVILEGED=true)"
    )]
    PrivilegedDisabled {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
    },
    /// `dockerConfig.config` or `dockerConfig.hostConfig` is not the JSON object it should be.
    #[error("task {task_arn}: container {container}: unable to decode given {source}")]
    DockerConfig {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
        /// Which string, and serde's words.
        source: DockerConfigError,
    },
    /// The container's `overrides` string is not valid JSON.
    #[error(
        "task {task_arn}: container {container}: unable to decode container overrides: {source}"
    )]
    Overrides {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
        /// serde's words.
        source: serde_json::Error,
    },
    /// The log configuration cannot be used here ([`super::logging`]).
    #[error(transparent)]
    Logging(#[from] super::logging::LoggingError),
    /// `healthCheckType: docker` without a health check in `dockerConfig.config`.
    #[error(
        "task {task_arn}: container {container}: docker health check is nil while container health check type is DOCKER"
    )]
    MissingHealthCheck {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
    },
}

/// The Docker name of a task container: `ecs-<family>-<version>-<name>-<hex>`, where `<name>` is
/// the container name with every character outside `[A-Za-z0-9-]` removed, and `<hex>` is 20 hex
/// digits ([`rand_hex`]). The caller records it before creating the container, so that a restart
/// can find a created-but-unrecorded container by name.
pub fn docker_name(family: &str, version: &str, container: &str) -> String {
    let name: String = container
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("ecs-{family}-{version}-{name}-{}", rand_hex())
}

/// The reference agent's `utils.RandHex`: a random non-negative 63-bit integer written as a Go
/// signed varint (zig-zag, then 7 bits a byte) into a 10-byte zeroed buffer, in hex. Always 20
/// hex digits; the last byte is `00` or `01`, as in names the reference agent makes.
pub fn rand_hex() -> String {
    varint_hex(rand::random_range(0..i64::MAX))
}

fn varint_hex(value: i64) -> String {
    // Go's binary.PutVarint: zig-zag encoding, then unsigned LEB128.
    let mut zigzag = ((value as u64) << 1) ^ ((value >> 63) as u64);
    let mut out = [0u8; 10];
    for byte in &mut out {
        if zigzag < 0x80 {
            *byte = zigzag as u8;
            break;
        }
        *byte = (zigzag as u8) | 0x80;
        zigzag >>= 7;
    }
    hex::encode(out)
}

/// Builds what Docker needs to create `container` of `task`.
///
/// - `cluster` is the value of the `com.amazonaws.ecs.cluster` label. The reference agent writes
///   its configured `ECS_CLUSTER` there (a name such as `default`, or whatever was configured),
///   not the task's cluster ARN.
/// - `docker_name` comes from [`docker_name`], recorded by the caller beforehand.
/// - `ports` are the host ports the caller allocated ([`crate::ports::PortAllocator`]).
///
/// Rules (reference `task.go` `dockerConfig` / `dockerHostConfig`, `docker_task_engine.go`
/// `createContainer`): environment as sorted `K=V`; `command` replaced by the container
/// `overrides` when they carry one; CPU shares clamped to 2..=262144; memory MiB → bytes, raised
/// to 4 MiB when lower, none when 0; network mode from the task (absent: `hostConfig.NetworkMode`,
/// else `bridge`); the `dockerConfig` overlays are kept for the runtime to lay over its own
/// settings, except the labels (merged into [`ContainerSpec::labels`], the ECS labels winning) and
/// the network mode (resolved into [`ContainerSpec::network_mode`]).
pub fn container_spec(
    task: &Task,
    container: &Container,
    cluster: &str,
    docker_name: &str,
    ports: Vec<PortSpec>,
    config: &ecs_config::Config,
) -> Result<ContainerSpec, SpecError> {
    let task_arn = task.arn.clone().unwrap_or_default();
    let name = container.name.clone().unwrap_or_default();
    let missing = |field: &'static str| SpecError::MissingField {
        task_arn: task_arn.clone(),
        container: name.clone(),
        field,
    };
    if task_arn.is_empty() {
        return Err(missing("arn"));
    }
    if name.is_empty() {
        return Err(missing("name"));
    }
    let family = task.family.as_deref().ok_or_else(|| missing("family"))?;
    let version = task.version.as_deref().ok_or_else(|| missing("version"))?;
    let image = container
        .image
        .clone()
        .filter(|image| !image.trim().is_empty())
        .ok_or_else(|| missing("image"))?;

    let docker_config = container.docker_config.clone().unwrap_or_default();
    let bad_docker_config = |source| SpecError::DockerConfig {
        task_arn: task_arn.clone(),
        container: name.clone(),
        source,
    };
    let mut config_overlay = docker_config.parse_config().map_err(bad_docker_config)?;
    let mut host_overlay = docker_config
        .parse_host_config()
        .map_err(bad_docker_config)?;
    super::logging::apply(task, container, &mut host_overlay, config)?;

    if container.health_check_type == Some(HealthCheckType::Docker)
        && config_overlay.health_check.is_none()
    {
        return Err(SpecError::MissingHealthCheck {
            task_arn,
            container: name,
        });
    }

    let network_mode = match (&task.network_mode, host_overlay.network_mode.take()) {
        (Some(mode), _) => mode.clone(),
        (None, Some(mode)) if !mode.is_empty() => NetworkMode::from(mode.as_str()),
        (None, _) => NetworkMode::Bridge,
    };
    match network_mode {
        NetworkMode::Bridge | NetworkMode::Host | NetworkMode::None => {}
        NetworkMode::Awsvpc | NetworkMode::Unknown(_) => {
            return Err(SpecError::UnsupportedNetworkMode {
                task_arn,
                container: name,
                mode: network_mode.as_str().to_owned(),
            });
        }
    }

    let privileged = container.privileged == Some(true) || host_overlay.privileged == Some(true);
    if privileged && config.disable_privileged.value {
        return Err(SpecError::PrivilegedDisabled {
            task_arn,
            container: name,
        });
    }

    let overrides = container
        .parsed_overrides()
        .map_err(|source| SpecError::Overrides {
            task_arn: task_arn.clone(),
            container: name.clone(),
            source,
        })?;
    let cmd = overrides.command.or_else(|| container.command.clone());

    // dockerLabels first, then ours: the reference sets its labels last so that they "always
    // override duplicates in the provided raw config data".
    let mut labels: BTreeMap<String, String> = config_overlay.labels.take().unwrap_or_default();
    labels.insert(LABEL_TASK_ARN.to_owned(), task_arn.clone());
    labels.insert(LABEL_CONTAINER_NAME.to_owned(), name.clone());
    labels.insert(LABEL_TASK_DEFINITION_FAMILY.to_owned(), family.to_owned());
    labels.insert(LABEL_TASK_DEFINITION_VERSION.to_owned(), version.to_owned());
    labels.insert(LABEL_CLUSTER.to_owned(), cluster.to_owned());

    let env = container
        .environment
        .as_ref()
        .map(|env| env.0.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();

    let memory_bytes = memory_bytes(container.memory.unwrap_or(0));
    if container
        .memory
        .is_some_and(|mib| mib > 0 && mib * BYTES_PER_MIB < MIN_MEMORY_BYTES)
    {
        tracing::warn!(
            task_arn = %task_arn,
            container = %name,
            bytes = MIN_MEMORY_BYTES,
            "memory setting too low for container, increasing to minimum"
        );
    }

    Ok(ContainerSpec {
        name: docker_name.to_owned(),
        image,
        env,
        cmd,
        entrypoint: container.entry_point.clone(),
        labels,
        ports,
        network_mode: network_mode.as_str().to_owned(),
        memory_bytes,
        cpu_shares: cpu_shares(container.cpu.unwrap_or(0)),
        config_overlay: (config_overlay != Default::default()).then_some(config_overlay),
        host_overlay: (host_overlay != Default::default()).then_some(host_overlay),
        // Filled in by the engine, which knows the task's volumes, siblings and cgroup.
        task_resources: Default::default(),
    })
}

/// `cpu` units → Docker CPU shares, clamped to [`MIN_CPU_SHARES`]..=[`MAX_CPU_SHARES`].
pub fn cpu_shares(cpu: i64) -> i64 {
    cpu.clamp(MIN_CPU_SHARES, MAX_CPU_SHARES)
}

/// Hard memory limit in MiB → bytes: `None` (unlimited) for 0 or less, at least
/// [`MIN_MEMORY_BYTES`] otherwise.
pub fn memory_bytes(mib: i64) -> Option<i64> {
    (mib > 0).then(|| mib.saturating_mul(BYTES_PER_MIB).max(MIN_MEMORY_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Protocol;
    use ecs_protocol::acs::{DockerConfig, Environment};
    use ecs_protocol::docker_config::DockerConfigPart;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/demo/0123456789abcdef";

    fn task(containers: Vec<Container>) -> Task {
        Task {
            arn: Some(ARN.into()),
            family: Some("webapp".into()),
            version: Some("3".into()),
            containers: Some(containers),
            ..Task::default()
        }
    }

    fn container(name: &str) -> Container {
        Container {
            name: Some(name.into()),
            image: Some("127.0.0.1:5000/webapp:latest".into()),
            ..Container::default()
        }
    }

    fn with_docker_config(mut c: Container, config: &str, host_config: &str) -> Container {
        c.docker_config = Some(DockerConfig {
            version: Some("1.17".into()),
            config: Some(config.into()),
            host_config: Some(host_config.into()),
        });
        c
    }

    fn spec_of(task: &Task, c: &Container) -> Result<ContainerSpec, SpecError> {
        container_spec(
            task,
            c,
            "default",
            "ecs-webapp-3-web-00",
            vec![],
            &ecs_config::Config::default(),
        )
    }

    #[test]
    fn docker_name_has_the_reference_shape_and_strips_bad_characters() {
        let name = docker_name("webapp", "3", "my_web.app-1");
        let (prefix, hex) = name.rsplit_once('-').unwrap();
        assert_eq!(prefix, "ecs-webapp-3-mywebapp-1");
        assert_eq!(hex.len(), 20);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(hex.ends_with("00") || hex.ends_with("01"), "{hex}");
        assert_ne!(name, docker_name("webapp", "3", "my_web.app-1"));
    }

    #[test]
    fn rand_hex_is_gos_putvarint_into_ten_bytes() {
        // binary.PutVarint(out, 1) → 0x02, zero-padded to 10 bytes.
        assert_eq!(varint_hex(1), "02000000000000000000");
        // 300 → zig-zag 600 → 0xd8 0x04.
        assert_eq!(varint_hex(300), "d8040000000000000000");
        // The largest value fills all 10 bytes, ending in 0x01.
        assert_eq!(varint_hex(i64::MAX - 1), "fcffffffffffffffff01");
    }

    #[test]
    fn labels_are_the_five_ecs_labels_over_docker_labels() {
        let c = with_docker_config(
            container("web"),
            r#"{"Labels":{"team":"blue","com.amazonaws.ecs.cluster":"spoofed"}}"#,
            "{}",
        );
        let spec = spec_of(&task(vec![c.clone()]), &c).unwrap();
        let expected: BTreeMap<String, String> = [
            (LABEL_TASK_ARN, ARN),
            (LABEL_CONTAINER_NAME, "web"),
            (LABEL_TASK_DEFINITION_FAMILY, "webapp"),
            (LABEL_TASK_DEFINITION_VERSION, "3"),
            (LABEL_CLUSTER, "default"),
            ("team", "blue"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(spec.labels, expected);
        // The labels moved into the spec; nothing else was in the config overlay.
        assert_eq!(spec.config_overlay, None);
        assert_eq!(spec.name, "ecs-webapp-3-web-00");
        assert_eq!(spec.image, "127.0.0.1:5000/webapp:latest");
    }

    #[test]
    fn environment_is_sorted_key_equals_value() {
        let mut c = container("web");
        c.environment = Some(Environment::from_iter([
            ("ZED", "1"),
            ("ALPHA", "a=b"),
            ("M", ""),
        ]));
        let spec = spec_of(&task(vec![c.clone()]), &c).unwrap();
        assert_eq!(spec.env, ["ALPHA=a=b", "M=", "ZED=1"]);
    }

    #[test]
    fn cpu_shares_are_clamped() {
        assert_eq!(cpu_shares(0), 2);
        assert_eq!(cpu_shares(1), 2);
        assert_eq!(cpu_shares(-5), 2);
        assert_eq!(cpu_shares(512), 512);
        assert_eq!(cpu_shares(262_144), 262_144);
        assert_eq!(cpu_shares(1_000_000), 262_144);
        let c = container("web");
        assert_eq!(spec_of(&task(vec![c.clone()]), &c).unwrap().cpu_shares, 2);
    }

    #[test]
    fn memory_is_bytes_with_a_four_mib_floor() {
        assert_eq!(memory_bytes(0), None);
        assert_eq!(memory_bytes(-1), None);
        assert_eq!(memory_bytes(1), Some(4 * 1024 * 1024));
        assert_eq!(memory_bytes(3), Some(4 * 1024 * 1024));
        assert_eq!(memory_bytes(4), Some(4 * 1024 * 1024));
        assert_eq!(memory_bytes(1024), Some(1024 * 1024 * 1024));
        let mut c = container("web");
        c.memory = Some(2);
        assert_eq!(
            spec_of(&task(vec![c.clone()]), &c).unwrap().memory_bytes,
            Some(MIN_MEMORY_BYTES)
        );
    }

    #[test]
    fn overrides_command_replaces_command() {
        let mut c = container("web");
        c.command = Some(vec!["serve".into()]);
        c.entry_point = Some(vec!["/bin/sh".into(), "-c".into()]);
        let spec = spec_of(&task(vec![c.clone()]), &c).unwrap();
        assert_eq!(spec.cmd, Some(vec!["serve".to_owned()]));
        assert_eq!(
            spec.entrypoint,
            Some(vec!["/bin/sh".to_owned(), "-c".to_owned()])
        );

        c.overrides = Some(r#"{"command":["echo","hi"]}"#.into());
        let spec = spec_of(&task(vec![c.clone()]), &c).unwrap();
        assert_eq!(spec.cmd, Some(vec!["echo".to_owned(), "hi".to_owned()]));

        // Overrides without a command leave it alone.
        c.overrides = Some("{}".into());
        let spec = spec_of(&task(vec![c.clone()]), &c).unwrap();
        assert_eq!(spec.cmd, Some(vec!["serve".to_owned()]));
    }

    #[test]
    fn bad_overrides_name_the_container() {
        let mut c = container("web");
        c.overrides = Some("{not json".into());
        let error = spec_of(&task(vec![c.clone()]), &c).unwrap_err();
        assert!(matches!(error, SpecError::Overrides { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains(ARN) && text.contains("container web"),
            "{text}"
        );
    }

    #[test]
    fn network_mode_from_task_then_host_config_then_bridge() {
        let c = container("web");
        assert_eq!(
            spec_of(&task(vec![c.clone()]), &c).unwrap().network_mode,
            "bridge"
        );

        let mut t = task(vec![c.clone()]);
        t.network_mode = Some(NetworkMode::Host);
        assert_eq!(spec_of(&t, &c).unwrap().network_mode, "host");
        t.network_mode = Some(NetworkMode::None);
        assert_eq!(spec_of(&t, &c).unwrap().network_mode, "none");

        let c = with_docker_config(
            container("web"),
            "{}",
            r#"{"NetworkMode":"host","CapAdd":[]}"#,
        );
        let spec = spec_of(&task(vec![c.clone()]), &c).unwrap();
        assert_eq!(spec.network_mode, "host");
        // Resolved into the spec, not left in the overlay.
        assert_eq!(spec.host_overlay.unwrap().network_mode, None);
    }

    #[test]
    fn awsvpc_is_refused() {
        let c = container("web");
        let mut t = task(vec![c.clone()]);
        t.network_mode = Some(NetworkMode::Awsvpc);
        let error = spec_of(&t, &c).unwrap_err();
        assert!(matches!(error, SpecError::UnsupportedNetworkMode { .. }));
        assert!(
            error
                .to_string()
                .ends_with("awsvpc network mode is not supported on this instance"),
            "{error}"
        );

        // Also when only the host config says so.
        let c = with_docker_config(container("web"), "{}", r#"{"NetworkMode":"awsvpc"}"#);
        assert!(matches!(
            spec_of(&task(vec![c.clone()]), &c),
            Err(SpecError::UnsupportedNetworkMode { .. })
        ));
    }

    #[test]
    fn privileged_is_refused_only_when_disabled() {
        let c = with_docker_config(container("web"), "{}", r#"{"Privileged":true}"#);
        let t = task(vec![c.clone()]);
        let spec = spec_of(&t, &c).unwrap();
        assert_eq!(spec.host_overlay.unwrap().privileged, Some(true));

        let mut config = ecs_config::Config::default();
        config.disable_privileged.value = true;
        let error = container_spec(&t, &c, "default", "n", vec![], &config).unwrap_err();
        assert!(matches!(error, SpecError::PrivilegedDisabled { .. }));
        assert!(
            error.to_string().contains("ECS_DISABLE_PRIVILEGED"),
            "{error}"
        );

        let mut c = container("web");
        c.privileged = Some(true);
        assert!(matches!(
            container_spec(&t, &c, "default", "n", vec![], &config),
            Err(SpecError::PrivilegedDisabled { .. })
        ));
        c.privileged = Some(false);
        assert!(container_spec(&t, &c, "default", "n", vec![], &config).is_ok());
    }

    #[test]
    fn overlays_are_kept_for_the_runtime() {
        let c = with_docker_config(
            container("web"),
            r#"{"User":"1000","WorkingDir":"/srv","HealthCheck":{"Test":["CMD","true"],"Interval":30000000000}}"#,
            r#"{"MemoryReservation":67108864,"LogConfig":{"Type":"json-file","Config":{"max-size":"10m"}},"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":4096}],"CapAdd":["NET_ADMIN"],"CapDrop":[],"PidsLimit":100}"#,
        );
        let spec = spec_of(&task(vec![c.clone()]), &c).unwrap();
        let config = spec.config_overlay.unwrap();
        assert_eq!(config.user.as_deref(), Some("1000"));
        assert_eq!(config.working_dir.as_deref(), Some("/srv"));
        assert_eq!(config.health_check.unwrap().interval, Some(30_000_000_000));
        let host = spec.host_overlay.unwrap();
        assert_eq!(host.memory_reservation, Some(64 * 1024 * 1024));
        assert_eq!(host.log_config.unwrap().kind, "json-file");
        assert_eq!(host.ulimits.unwrap()[0].hard, 4096);
        assert_eq!(host.cap_add.unwrap(), ["NET_ADMIN"]);
        assert_eq!(host.extra.get("PidsLimit"), Some(&serde_json::json!(100)));
    }

    #[test]
    fn bad_docker_config_names_the_container_and_the_part() {
        let c = with_docker_config(container("web"), "{}", "{oops");
        let error = spec_of(&task(vec![c.clone()]), &c).unwrap_err();
        match &error {
            SpecError::DockerConfig {
                container, source, ..
            } => {
                assert_eq!(container, "web");
                assert_eq!(source.part, DockerConfigPart::HostConfig);
            }
            other => panic!("{other:?}"),
        }
        let text = error.to_string();
        assert!(
            text.contains("container web") && text.contains("dockerConfig.hostConfig"),
            "{text}"
        );

        let c = with_docker_config(container("web"), "[]", "{}");
        assert!(matches!(
            spec_of(&task(vec![c.clone()]), &c),
            Err(SpecError::DockerConfig { .. })
        ));
    }

    #[test]
    fn docker_health_check_type_needs_a_health_check() {
        let mut c = container("web");
        c.health_check_type = Some(HealthCheckType::Docker);
        assert!(matches!(
            spec_of(&task(vec![c.clone()]), &c),
            Err(SpecError::MissingHealthCheck { .. })
        ));
        let c = with_docker_config(c, r#"{"HealthCheck":{"Test":["CMD","true"]}}"#, "{}");
        assert!(spec_of(&task(vec![c.clone()]), &c).is_ok());
    }

    #[test]
    fn missing_members_are_named() {
        let mut c = container("web");
        c.image = None;
        let error = spec_of(&task(vec![c.clone()]), &c).unwrap_err();
        assert!(
            matches!(error, SpecError::MissingField { field: "image", .. }),
            "{error:?}"
        );
        let c = container("web");
        let mut t = task(vec![c.clone()]);
        t.family = None;
        assert!(matches!(
            spec_of(&t, &c),
            Err(SpecError::MissingField {
                field: "family",
                ..
            })
        ));
    }

    #[test]
    fn ports_are_passed_through() {
        let c = container("web");
        let ports = vec![PortSpec {
            container_port: 80,
            host_port: 49153,
            protocol: Protocol::Tcp,
            host_ip: None,
        }];
        let spec = container_spec(
            &task(vec![c.clone()]),
            &c,
            "default",
            "n",
            ports.clone(),
            &ecs_config::Config::default(),
        )
        .unwrap();
        assert_eq!(spec.ports, ports);
    }
}
