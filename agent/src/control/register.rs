//! What the agent registers: capabilities and platform attributes, resources, tags, and the check
//! that ECS recorded every attribute. Pure: no I/O, so every rule is unit-tested.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ecs_config::{Config, LoggingDriver};
use ecs_protocol::ecs_api::Attribute;

use super::ControlError;
use super::host::HostResources;

/// Prefix of the reference agent's older capability names.
const LEGACY_PREFIX: &str = "com.amazonaws.ecs.capability.";
/// Prefix of the newer capability names.
const PREFIX: &str = "ecs.capability.";

/// Docker API versions the reference agent advertises as `docker-remote-api.<v>` (section 2.3):
/// 1.17 to 1.32 without 1.26, 1.27 and 1.31.
const KNOWN_DOCKER_APIS: [ApiVersion; 13] = [
    ApiVersion::new(1, 17),
    ApiVersion::new(1, 18),
    ApiVersion::new(1, 19),
    ApiVersion::new(1, 20),
    ApiVersion::new(1, 21),
    ApiVersion::new(1, 22),
    ApiVersion::new(1, 23),
    ApiVersion::new(1, 24),
    ApiVersion::new(1, 25),
    ApiVersion::new(1, 28),
    ApiVersion::new(1, 29),
    ApiVersion::new(1, 30),
    ApiVersion::new(1, 32),
];

/// A Docker Engine API version such as `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl ApiVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a Docker API version: {s:?}");
        let (major, minor) = s.trim().split_once('.').ok_or_else(bad)?;
        Ok(Self {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

/// The lowest Docker API version at which a logging driver can be advertised (section 2.3).
/// `None`: not advertised through `ECS_AVAILABLE_LOGGING_DRIVERS` (awsfirelens has its own
/// capabilities, which this agent does not offer yet).
fn logging_driver_min_api(driver: LoggingDriver) -> Option<ApiVersion> {
    let minor = match driver {
        LoggingDriver::JsonFile | LoggingDriver::Syslog => 18,
        LoggingDriver::Journald | LoggingDriver::None => 19,
        LoggingDriver::Gelf | LoggingDriver::Fluentd => 20,
        LoggingDriver::Awslogs => 21,
        LoggingDriver::Splunk => 22,
        LoggingDriver::Logentries => 25,
        LoggingDriver::Sumologic => 29,
        LoggingDriver::Awsfirelens => return None,
    };
    Some(ApiVersion::new(1, minor))
}

/// The reference agent's name for the CPU architecture (`ecs.cpu-architecture`).
fn cpu_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

/// The capabilities and platform attributes this agent registers with, given the configuration
/// and the Docker daemon's (highest) API version.
///
/// Only what this agent really does is advertised (section 2.3): `privileged-container` unless
/// `ECS_DISABLE_PRIVILEGED`, `docker-remote-api.<v>` for each known version the daemon speaks,
/// `logging-driver.<d>` for the configured drivers, `ecs.capability.external` and
/// `ecs.cpu-architecture` on ECS Anywhere, the OS attributes, `task-iam-role` /
/// `task-iam-role-network-host` per `ECS_ENABLE_TASK_IAM_ROLE[_NETWORK_HOST]`, `ecr-auth` and
/// `execution-role-ecr-pull` (API >= 1.19), and `execution-role-awslogs` per
/// `ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE`, the SSM and Secrets Manager secrets capabilities.
/// `ecr-endpoint`, `efs` (without `efsAuth`), `increased-task-cpu-limit` with task limits,
/// `selinux` / `apparmor` per `ECS_SELINUX_CAPABLE` / `ECS_APPARMOR_CAPABLE`. awsvpc, FireLens,
/// S3 Files, full sync, container port ranges, IPv6-only hosts and the rest are left out until
/// the agent implements them (README, compatibility), so that ECS does not place tasks it would
/// fail. Older daemons' minimum API versions are ignored:
/// the agent talks to Docker at the negotiated version, which has every older version's
/// features.
pub fn capabilities(config: &Config, docker_api: ApiVersion) -> Vec<Attribute> {
    let mut out = Vec::new();
    if !config.disable_privileged.value {
        out.push(Attribute::named(format!(
            "{LEGACY_PREFIX}privileged-container"
        )));
    }
    let supported: Vec<ApiVersion> = KNOWN_DOCKER_APIS
        .into_iter()
        .filter(|v| *v <= docker_api)
        .collect();
    for v in &supported {
        out.push(Attribute::named(format!(
            "{LEGACY_PREFIX}docker-remote-api.{v}"
        )));
    }
    for driver in config.available_logging_drivers.value.iter() {
        if let Some(min) = logging_driver_min_api(*driver)
            && supported.contains(&min)
        {
            let name = format!("{LEGACY_PREFIX}logging-driver.{}", driver.as_str());
            if !out.iter().any(|a| a.name == name) {
                out.push(Attribute::named(name));
            }
        }
    }
    // Task IAM roles (served by `crate::endpoint`), API >= 1.19 as the reference requires.
    if supported.contains(&ApiVersion::new(1, 19)) {
        if config.enable_task_iam_role.value {
            out.push(Attribute::named(format!("{LEGACY_PREFIX}task-iam-role")));
        }
        if config.enable_task_iam_role_network_host.value {
            out.push(Attribute::named(format!(
                "{LEGACY_PREFIX}task-iam-role-network-host"
            )));
        }
    }
    // ECR pulls with tokens from the instance's or the execution role's credentials
    // (`crate::images::auth`), API >= 1.19 as the reference requires.
    if supported.contains(&ApiVersion::new(1, 19)) {
        out.push(Attribute::named(format!("{LEGACY_PREFIX}ecr-auth")));
        out.push(Attribute::named(format!("{PREFIX}execution-role-ecr-pull")));
    }
    // awslogs signed with the execution role's credentials: the agent sets
    // `awslogs-credentials-endpoint` (`crate::runtime::logging`) and serves them on the
    // credentials endpoint, which runs whatever ECS_ENABLE_TASK_IAM_ROLE says. Not gated on the
    // Docker API version, as in the reference.
    if config.enable_awslogs_executionrole_override.value {
        out.push(Attribute::named(format!("{PREFIX}execution-role-awslogs")));
    }
    // Container secrets from SSM and Secrets Manager as environment variables and log driver
    // options (`crate::secrets`), registry credentials from Secrets Manager
    // (`crate::images::auth`), environment files from S3 (`crate::env_files`): name-only, as the
    // reference advertises them.
    for name in [
        "secrets.ssm.environment-variables",
        "secrets.ssm.bootstrap.log-driver",
        "secrets.asm.environment-variables",
        "secrets.asm.bootstrap.log-driver",
        "private-registry-authentication.secretsmanager",
        "env-files.s3",
    ] {
        out.push(Attribute::named(format!("{PREFIX}{name}")));
    }
    if config.external.value {
        out.push(Attribute::named(format!("{PREFIX}external")));
    }
    // Docker health checks, dependsOn ordering, local-driver Docker volumes, task limits.
    if !config.disable_docker_health_check.value {
        out.push(Attribute::named(format!("{PREFIX}container-health-check")));
    }
    for name in [
        "container-ordering",
        "docker-plugin.local",
        "container-restart-policy",
    ] {
        out.push(Attribute::named(format!("{PREFIX}{name}")));
    }
    if config.enable_task_cpu_mem_limit.value {
        out.push(Attribute::named(format!("{PREFIX}task-cpu-mem-limit")));
        // Task CPU above 10 vCPU: the task cgroup's CFS quota is the task's vCPUs times the
        // period, whatever their number (`crate::cgroup`), so the reference's rule applies: on
        // whenever task limits are.
        out.push(Attribute::named(format!(
            "{PREFIX}increased-task-cpu-limit"
        )));
    }
    // ECR pulls through the payload's `endpointOverride` (`crate::images::auth`).
    out.push(Attribute::named(format!("{PREFIX}ecr-endpoint")));
    // EFS volumes without transit encryption or IAM: an NFS 4.1 local volume with the
    // reference's options (`crate::runtime::volumes`). Those two need `efsAuth`, which is not
    // advertised, so ECS does not place such tasks here.
    out.push(Attribute::named(format!("{PREFIX}efs")));
    // The operator says the host enforces SELinux labels / AppArmor profiles; the
    // `dockerSecurityOptions` that use them go to Docker unchanged (`SecurityOpt`).
    if config.selinux_capable.value {
        out.push(Attribute::named(format!("{LEGACY_PREFIX}selinux")));
    }
    if config.apparmor_capable.value {
        out.push(Attribute::named(format!("{LEGACY_PREFIX}apparmor")));
    }
    out.push(Attribute::with_value("ecs.os-type", "linux"));
    out.push(Attribute::with_value("ecs.os-family", "LINUX"));
    out.push(Attribute::with_value(
        "ecs.os-type-detailed",
        config.detailed_os_family.value.as_str(),
    ));
    if config.external.value {
        out.push(Attribute::with_value(
            "ecs.cpu-architecture",
            cpu_architecture(),
        ));
    }
    out
}

/// One RegisterContainerInstance call's content (section 2.2). Build it with
/// [`Registration::new`]; the fields are public so the caller can adjust them.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// `ECS_CLUSTER`.
    pub cluster: String,
    /// The saved instance ARN when re-registering after a restart; `None` the first time.
    pub instance_arn: Option<String>,
    /// CPU units (cores × 1024).
    pub cpu_units: i64,
    /// Memory offered to tasks in MiB (MemTotal − `ECS_RESERVED_MEMORY`).
    pub memory_mib: i64,
    /// `PORTS`: reserved TCP ports.
    pub reserved_ports: Vec<u16>,
    /// `PORTS_UDP`: reserved UDP ports.
    pub reserved_ports_udp: Vec<u16>,
    /// Capabilities and platform attributes (see [`capabilities`]).
    pub attributes: Vec<Attribute>,
    /// `ECS_INSTANCE_ATTRIBUTES`, sent on the first registration only.
    pub custom_attributes: BTreeMap<String, String>,
    /// `ECS_CONTAINER_INSTANCE_TAGS`.
    pub tags: BTreeMap<String, String>,
    /// Instance identity document (empty on ECS Anywhere, and here without instance metadata).
    pub identity_document: String,
    /// Its signature (empty likewise).
    pub identity_signature: String,
}

impl Registration {
    /// The registration of this host: cluster, reservations, custom attributes and tags from the
    /// configuration, CPU and memory from `host`, the given `attributes` (usually
    /// [`capabilities`]), and the saved ARN if the agent registered before.
    pub fn new(
        config: &Config,
        host: &HostResources,
        attributes: Vec<Attribute>,
        saved_instance_arn: Option<String>,
    ) -> Result<Self, ControlError> {
        let reserved = u64::from(config.reserved_memory.value);
        if reserved >= host.memory_mib {
            return Err(ControlError::ReservedMemory {
                total_mib: host.memory_mib,
                reserved_mib: reserved,
            });
        }
        let memory_mib = i64::try_from(host.memory_mib - reserved).unwrap_or(i64::MAX);
        Ok(Self {
            cluster: config.cluster.value.clone(),
            instance_arn: saved_instance_arn.filter(|a| !a.is_empty()),
            cpu_units: host.cpu_units(),
            memory_mib,
            reserved_ports: config.reserved_ports.value.clone(),
            reserved_ports_udp: config.reserved_ports_udp.value.clone(),
            attributes,
            custom_attributes: config.instance_attributes.value.clone(),
            tags: config.container_instance_tags.value.clone(),
            identity_document: String::new(),
            identity_signature: String::new(),
        })
    }

    /// Every attribute sent: [`Registration::attributes`], then the custom attributes when this
    /// is a first registration (the reference agent does not resend them on re-registration).
    pub fn attributes_to_send(&self) -> Vec<Attribute> {
        let mut out = self.attributes.clone();
        if self.instance_arn.is_none() {
            for (name, value) in &self.custom_attributes {
                out.push(Attribute::with_value(name, value));
            }
        }
        out
    }
}

/// Checks that every attribute sent came back with the same value, as the reference agent does
/// ("Attribute validation failed", terminal).
pub fn check_attributes_echoed(
    sent: &[Attribute],
    returned: &[Attribute],
) -> Result<(), ControlError> {
    let value = |a: &Attribute| a.value.clone().unwrap_or_default();
    let returned: BTreeMap<&str, String> = returned
        .iter()
        .map(|a| (a.name.as_str(), value(a)))
        .collect();
    let missing: Vec<String> = sent
        .iter()
        .filter(|a| returned.get(a.name.as_str()) != Some(&value(a)))
        .map(|a| a.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ControlError::AttributeValidation { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_config::Sources;

    fn config(env: &[(&str, &str)]) -> Config {
        let sources = Sources::from_env(env);
        ecs_config::load(&sources).into_result().unwrap()
    }

    fn names(attrs: &[Attribute]) -> Vec<&str> {
        attrs.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn api_versions_parse_and_order() {
        assert_eq!(
            "1.41".parse::<ApiVersion>().unwrap(),
            ApiVersion::new(1, 41)
        );
        assert!(ApiVersion::new(1, 9) < ApiVersion::new(1, 17));
        assert!("1".parse::<ApiVersion>().is_err());
        assert!("1.x".parse::<ApiVersion>().is_err());
        assert_eq!(ApiVersion::new(1, 32).to_string(), "1.32");
    }

    #[test]
    fn docker_remote_api_versions_match_the_reference_agent() {
        let caps = capabilities(&config(&[]), ApiVersion::new(1, 41));
        let versions: Vec<&str> = names(&caps)
            .into_iter()
            .filter_map(|n| n.strip_prefix("com.amazonaws.ecs.capability.docker-remote-api."))
            .collect();
        assert_eq!(
            versions,
            [
                "1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25", "1.28",
                "1.29", "1.30", "1.32"
            ]
        );
    }

    #[test]
    fn an_old_daemon_gets_fewer_versions_and_drivers() {
        let c = config(&[(
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            r#"["json-file","awslogs","sumologic"]"#,
        )]);
        let caps = capabilities(&c, ApiVersion::new(1, 21));
        let n = names(&caps);
        assert!(n.contains(&"com.amazonaws.ecs.capability.docker-remote-api.1.21"));
        assert!(!n.contains(&"com.amazonaws.ecs.capability.docker-remote-api.1.22"));
        assert!(n.contains(&"com.amazonaws.ecs.capability.logging-driver.awslogs"));
        assert!(!n.contains(&"com.amazonaws.ecs.capability.logging-driver.sumologic"));
    }

    #[test]
    fn task_iam_role_capabilities_follow_their_variables() {
        let c = config(&[
            ("ECS_ENABLE_TASK_IAM_ROLE", "false"),
            ("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false"),
        ]);
        let caps = capabilities(&c, ApiVersion::new(1, 41));
        assert!(!names(&caps).iter().any(|n| n.contains("task-iam-role")));
        let c = config(&[("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false")]);
        let caps = capabilities(&c, ApiVersion::new(1, 41));
        let n = names(&caps);
        assert!(n.contains(&"com.amazonaws.ecs.capability.task-iam-role"));
        assert!(!n.contains(&"com.amazonaws.ecs.capability.task-iam-role-network-host"));
    }

    #[test]
    fn defaults_on_a_plain_host() {
        let caps = capabilities(&config(&[]), ApiVersion::new(1, 41));
        let n = names(&caps);
        assert!(n.contains(&"com.amazonaws.ecs.capability.privileged-container"));
        for d in ["json-file", "syslog", "awslogs", "fluentd", "none"] {
            let name = format!("com.amazonaws.ecs.capability.logging-driver.{d}");
            assert!(n.contains(&name.as_str()), "{name}");
        }
        assert!(!n.contains(&"ecs.capability.external"));
        assert!(!n.contains(&"ecs.cpu-architecture"));
        assert!(caps.contains(&Attribute::with_value("ecs.os-type", "linux")));
        assert!(caps.contains(&Attribute::with_value("ecs.os-family", "LINUX")));
        for present in [
            "ecs.capability.secrets.ssm.environment-variables",
            "ecs.capability.secrets.asm.environment-variables",
            "ecs.capability.secrets.ssm.bootstrap.log-driver",
            "ecs.capability.secrets.asm.bootstrap.log-driver",
            "ecs.capability.private-registry-authentication.secretsmanager",
            "ecs.capability.env-files.s3",
            "ecs.capability.container-health-check",
            "ecs.capability.container-ordering",
            "ecs.capability.docker-plugin.local",
            "ecs.capability.task-cpu-mem-limit",
        ] {
            assert!(n.contains(&present), "{present}");
        }
        let no_health = capabilities(
            &config(&[("ECS_DISABLE_DOCKER_HEALTH_CHECK", "true")]),
            ApiVersion::new(1, 41),
        );
        assert!(!names(&no_health).contains(&"ecs.capability.container-health-check"));
        // Task IAM roles are on by default (ECS_ENABLE_TASK_IAM_ROLE[_NETWORK_HOST]).
        assert!(n.contains(&"com.amazonaws.ecs.capability.task-iam-role"));
        assert!(n.contains(&"com.amazonaws.ecs.capability.task-iam-role-network-host"));
        // Features that work here, as the reference names them.
        for present in [
            "ecs.capability.ecr-endpoint",
            "ecs.capability.efs",
            "ecs.capability.increased-task-cpu-limit",
        ] {
            assert!(n.contains(&present), "{present}");
        }
        // Nothing the agent does not implement yet.
        for absent in [
            "task-eni",
            "efsAuth",
            "firelens",
            "s3-files",
            "full-sync",
            "container-port-range",
            "ipv6-only",
            "selinux",
            "apparmor",
        ] {
            assert!(!n.iter().any(|x| x.contains(absent)), "{absent} advertised");
        }
        // Without task limits, no increased limit either (the reference's rule).
        let no_limits = capabilities(
            &config(&[("ECS_ENABLE_TASK_CPU_MEM_LIMIT", "false")]),
            ApiVersion::new(1, 41),
        );
        assert!(!names(&no_limits).iter().any(|x| x.contains("task-cpu")));
    }

    #[test]
    fn selinux_and_apparmor_are_advertised_when_the_operator_says_so() {
        for (var, name) in [
            (
                "ECS_SELINUX_CAPABLE",
                "com.amazonaws.ecs.capability.selinux",
            ),
            (
                "ECS_APPARMOR_CAPABLE",
                "com.amazonaws.ecs.capability.apparmor",
            ),
        ] {
            let on = capabilities(&config(&[(var, "true")]), ApiVersion::new(1, 41));
            assert_eq!(
                names(&on).iter().filter(|x| **x == name).count(),
                1,
                "{var}"
            );
            let off = capabilities(&config(&[(var, "false")]), ApiVersion::new(1, 41));
            assert!(!names(&off).contains(&name), "{var}=false");
        }
    }

    #[test]
    fn execution_role_capabilities() {
        let ecr = [
            "com.amazonaws.ecs.capability.ecr-auth",
            "ecs.capability.execution-role-ecr-pull",
        ];
        let awslogs = "ecs.capability.execution-role-awslogs";
        // Defaults: all three (ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE is on, as ecs-init sets it).
        let caps = capabilities(&config(&[]), ApiVersion::new(1, 41));
        let n = names(&caps);
        for name in ecr.iter().chain([&awslogs]) {
            assert_eq!(n.iter().filter(|x| *x == name).count(), 1, "{name}");
        }
        // The override off: no awslogs capability, ECR pulls unchanged. Task IAM roles off do
        // not matter: the credentials endpoint serves execution credentials anyway.
        let c = config(&[
            ("ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "false"),
            ("ECS_ENABLE_TASK_IAM_ROLE", "false"),
        ]);
        let n_off = capabilities(&c, ApiVersion::new(1, 41));
        let n_off = names(&n_off);
        assert!(!n_off.contains(&awslogs));
        for name in ecr {
            assert!(n_off.contains(&name), "{name}");
        }
        let c = config(&[("ECS_ENABLE_TASK_IAM_ROLE", "false")]);
        assert!(names(&capabilities(&c, ApiVersion::new(1, 41))).contains(&awslogs));
        // ECR needs API 1.19 (a daemon that old is refused at startup; the rule is the
        // reference's).
        let old = capabilities(&config(&[]), ApiVersion::new(1, 18));
        let old = names(&old);
        for name in ecr {
            assert!(!old.contains(&name), "{name}");
        }
        assert!(old.contains(&awslogs));
    }

    #[test]
    fn external_and_disabled_privileged() {
        let c = config(&[
            ("ECS_EXTERNAL", "true"),
            ("ECS_DISABLE_PRIVILEGED", "true"),
            ("ECS_DETAILED_OS_FAMILY", "debian_12"),
        ]);
        let caps = capabilities(&c, ApiVersion::new(1, 41));
        let n = names(&caps);
        assert!(!n.contains(&"com.amazonaws.ecs.capability.privileged-container"));
        assert!(n.contains(&"ecs.capability.external"));
        assert!(caps.contains(&Attribute::with_value("ecs.os-type-detailed", "debian_12")));
        let arch = caps
            .iter()
            .find(|a| a.name == "ecs.cpu-architecture")
            .and_then(|a| a.value.clone())
            .unwrap();
        assert!(["x86_64", "arm64"].contains(&arch.as_str()) || !arch.is_empty());
    }

    fn host() -> HostResources {
        HostResources {
            cpus: 2,
            memory_mib: 24105,
        }
    }

    #[test]
    fn registration_from_config() {
        let c = config(&[
            ("ECS_CLUSTER", "prod"),
            ("ECS_RESERVED_MEMORY", "105"),
            ("ECS_RESERVED_PORTS_UDP", "[161]"),
            ("ECS_INSTANCE_ATTRIBUTES", r#"{"stack":"blue"}"#),
            ("ECS_CONTAINER_INSTANCE_TAGS", r#"{"team":"a"}"#),
        ]);
        let r = Registration::new(&c, &host(), vec![Attribute::named("cap")], None).unwrap();
        assert_eq!(r.cluster, "prod");
        assert_eq!(r.cpu_units, 2048);
        assert_eq!(r.memory_mib, 24000);
        assert_eq!(r.reserved_ports, [22, 2375, 2376, 51678, 51679]);
        assert_eq!(r.reserved_ports_udp, [161]);
        assert_eq!(r.tags.get("team").map(String::as_str), Some("a"));
        assert_eq!(
            r.attributes_to_send(),
            [
                Attribute::named("cap"),
                Attribute::with_value("stack", "blue")
            ]
        );
        // Re-registration: the custom attributes stay on the instance, not resent.
        let again = Registration::new(
            &c,
            &host(),
            vec![Attribute::named("cap")],
            Some("arn:x".into()),
        )
        .unwrap();
        assert_eq!(again.attributes_to_send(), [Attribute::named("cap")]);
    }

    #[test]
    fn reserving_all_memory_is_an_error() {
        let c = config(&[("ECS_RESERVED_MEMORY", "24105")]);
        let err = Registration::new(&c, &host(), vec![], None).unwrap_err();
        assert!(err.is_terminal());
        assert!(matches!(err, ControlError::ReservedMemory { .. }), "{err}");
    }

    #[test]
    fn echo_check() {
        let sent = [
            Attribute::named("a"),
            Attribute::with_value("ecs.os-type", "linux"),
        ];
        let mut back = sent.to_vec();
        back.push(Attribute::with_value("ecs.availability-zone", "us-east-1a"));
        assert!(check_attributes_echoed(&sent, &back).is_ok());

        let err = check_attributes_echoed(&sent, &[Attribute::named("a")]).unwrap_err();
        match err {
            ControlError::AttributeValidation { missing } => assert_eq!(missing, ["ecs.os-type"]),
            other => panic!("{other}"),
        }
        let changed = [
            Attribute::named("a"),
            Attribute::with_value("ecs.os-type", "windows"),
        ];
        assert!(check_attributes_echoed(&sent, &changed).is_err());
        assert!(
            check_attributes_echoed(&sent, &[])
                .unwrap_err()
                .is_terminal()
        );
        // A name-only attribute may come back with an empty value.
        assert!(
            check_attributes_echoed(&[Attribute::named("a")], &[Attribute::with_value("a", "")])
                .is_ok()
        );
    }
}
