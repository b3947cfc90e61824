//! Every variable: its default, a valid value and an invalid value, checked through the public API.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests may panic

use std::collections::BTreeMap;

use ecs_config::{HostFacts, Loaded, Severity, Sources, VARS, load};
use serde_json::{Value, json};

/// What an invalid value does.
enum Bad {
    /// Warning naming the key; the value falls back to the given one, source `default`.
    Warn(&'static str, Value),
    /// Warning naming the key; the given value is used, source `env`.
    WarnKept(&'static str, Value),
    /// Fatal error naming the key.
    Fatal(&'static str),
    /// Free text: nothing is invalid. An empty value gives the given fallback instead.
    FreeText(Value),
}

struct Case {
    name: &'static str,
    default: Value,
    valid: (&'static str, Value),
    bad: Bad,
}

fn case(name: &'static str, default: Value, valid: (&'static str, Value), bad: Bad) -> Case {
    Case {
        name,
        default,
        valid,
        bad,
    }
}

/// A boolean with the given default; invalid values give `fallback`.
fn boolean(name: &'static str, default: bool, fallback: bool) -> Case {
    let valid = if default { "False" } else { "TRUE" };
    case(
        name,
        json!(default),
        (valid, json!(!default)),
        Bad::Warn("yes", json!(fallback)),
    )
}

fn free(name: &'static str, default: Value, valid: &'static str, empty: Value) -> Case {
    case(name, default, (valid, json!(valid)), Bad::FreeText(empty))
}

fn cases() -> Vec<Case> {
    use Bad::*;
    vec![
        free("ECS_CLUSTER", json!("default"), "prod", json!("default")),
        free("AWS_DEFAULT_REGION", Value::Null, "us-west-2", Value::Null),
        free("AWS_REGION", Value::Null, "eu-west-1", Value::Null),
        free(
            "ECS_BACKEND_HOST",
            Value::Null,
            "http://127.0.0.1:4566",
            Value::Null,
        ),
        boolean("ECS_EXTERNAL", false, false),
        case(
            "ECS_INSTANCE_ATTRIBUTES",
            json!({}),
            (r#"{"stack":"prod"}"#, json!({"stack": "prod"})),
            Fatal("{bad"),
        ),
        case(
            "ECS_CONTAINER_INSTANCE_TAGS",
            json!({}),
            (r#"{"team":"a"}"#, json!({"team": "a"})),
            Fatal(r#"{"team":1}"#),
        ),
        case(
            "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM",
            json!("none"),
            ("ec2_instance", json!("ec2_instance")),
            Warn("ec2", json!("none")),
        ),
        boolean("ECS_WARM_POOLS_CHECK", false, false),
        boolean("ECS_ENABLE_SPOT_INSTANCE_DRAINING", false, false),
        free(
            "ECS_ALTERNATE_CREDENTIAL_PROFILE",
            json!("default"),
            "other",
            json!("default"),
        ),
        case(
            "ECS_INSTANCE_IP_COMPATIBILITY",
            Value::Null,
            ("IPv6", json!("ipv6")),
            Warn("dual", Value::Null),
        ),
        free(
            "ECS_DETAILED_OS_FAMILY",
            json!("debian_12"),
            "ubuntu_22.04",
            json!("LINUX"),
        ),
        case(
            "HTTP_PROXY",
            Value::Null,
            (
                "http://u:hunter2@proxy:3128",
                json!("http://<redacted>@proxy:3128"),
            ),
            FreeText(Value::Null),
        ),
        free("HTTPS_PROXY", Value::Null, "proxy:3128", Value::Null),
        free("NO_PROXY", Value::Null, "169.254.169.254", Value::Null),
        free(
            "DOCKER_HOST",
            json!("unix:///var/run/docker.sock"),
            "tcp://127.0.0.1:2375",
            json!("unix:///var/run/docker.sock"),
        ),
        case(
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            json!(["json-file", "syslog", "awslogs", "fluentd", "none"]),
            (
                r#"["journald","awsfirelens"]"#,
                json!(["journald", "awsfirelens"]),
            ),
            Warn(r#"["json-file""#, json!(["json-file", "none"])),
        ),
        case(
            "ECS_ENGINE_AUTH_TYPE",
            Value::Null,
            ("dockercfg", json!("dockercfg")),
            Warn("basic", Value::Null),
        ),
        case(
            "ECS_ENGINE_AUTH_DATA",
            Value::Null,
            (
                r#"{"r":{"username":"u","password":"p"}}"#,
                json!("<redacted>"),
            ),
            WarnKept("{not json", json!("<redacted>")),
        ),
        free(
            "ECS_DATADIR",
            json!("/var/lib/ecs/data"),
            "/tmp/data",
            json!("/var/lib/ecs/data"),
        ),
        boolean("ECS_CHECKPOINT", true, true),
        free(
            "ECS_HOST_DATA_DIR",
            json!("/var/lib/ecs"),
            "/srv/ecs",
            json!("/var/lib/ecs"),
        ),
        free(
            "ECS_AGENT_CONFIG_FILE_PATH",
            json!("/etc/ecs/ecs.config.json"),
            "/tmp/c.json",
            json!("/etc/ecs_container_agent/config.json"),
        ),
        boolean("ECS_UPDATES_ENABLED", true, false),
        free(
            "ECS_UPDATE_DOWNLOAD_DIR",
            json!("/var/cache/ecs"),
            "/tmp/u",
            Value::Null,
        ),
        case(
            "ECS_RESERVED_PORTS",
            json!([22, 2375, 2376, 51678, 51679]),
            ("[22, 80]", json!([22, 80])),
            Warn("[22,oops]", json!([22, 2375, 2376, 51678, 51679])),
        ),
        case(
            "ECS_RESERVED_PORTS_UDP",
            json!([]),
            ("[53]", json!([53])),
            Warn("53", json!([])),
        ),
        case(
            "ECS_RESERVED_MEMORY",
            json!(0),
            ("256", json!(256)),
            Warn("-1", json!(0)),
        ),
        case(
            "ECS_DYNAMIC_HOST_PORT_RANGE",
            json!("32768-60999"),
            ("100-200", json!("100-200")),
            Warn("200-100", json!("32768-60999")),
        ),
        case(
            "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION",
            json!("3h0m0s"),
            ("10m", json!("10m0s")),
            Warn("500ms", json!("3h0m0s")),
        ),
        case(
            "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER",
            json!("0s"),
            ("1h", json!("1h0m0s")),
            Warn("1x", json!("0s")),
        ),
        case(
            "ECS_CONTAINER_STOP_TIMEOUT",
            json!("30s"),
            ("2m", json!("2m0s")),
            Warn("soon", json!("30s")),
        ),
        case(
            "ECS_CONTAINER_START_TIMEOUT",
            json!("3m0s"),
            ("5m", json!("5m0s")),
            Warn("5", json!("3m0s")),
        ),
        case(
            "ECS_CONTAINER_CREATE_TIMEOUT",
            json!("4m0s"),
            ("2m30s", json!("2m30s")),
            Warn("x", json!("4m0s")),
        ),
        case(
            "ECS_MANIFEST_PULL_TIMEOUT",
            json!("1m0s"),
            ("45s", json!("45s")),
            Warn("1d", json!("1m0s")),
        ),
        case(
            "ECS_IMAGE_PULL_TIMEOUT",
            json!("2h0m0s"),
            ("1.5h", json!("1h30m0s")),
            Warn("-1h", json!("2h0m0s")),
        ),
        case(
            "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT",
            json!("1m0s"),
            ("3m", json!("3m0s")),
            Warn("3 m", json!("1m0s")),
        ),
        case(
            "ECS_IMAGE_PULL_BEHAVIOR",
            json!("default"),
            ("prefer-cached", json!("prefer-cached")),
            Warn("never", json!("default")),
        ),
        boolean("ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", false, false),
        boolean("ECS_DISABLE_IMAGE_CLEANUP", false, false),
        case(
            "ECS_IMAGE_CLEANUP_INTERVAL",
            json!("30m0s"),
            ("1h", json!("1h0m0s")),
            Warn("5m", json!("30m0s")),
        ),
        case(
            "ECS_IMAGE_MINIMUM_CLEANUP_AGE",
            json!("1h0m0s"),
            ("30m", json!("30m0s")),
            Warn("half an hour", json!("1h0m0s")),
        ),
        case(
            "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE",
            json!("1h0m0s"),
            ("2h", json!("2h0m0s")),
            Warn("2", json!("1h0m0s")),
        ),
        case(
            "ECS_NUM_IMAGES_DELETE_PER_CYCLE",
            json!(5),
            ("10", json!(10)),
            Warn("-3", json!(5)),
        ),
        case(
            "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE",
            json!(5),
            ("7", json!(7)),
            Warn("many", json!(5)),
        ),
        boolean("ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP", false, false),
        case(
            "ECS_EXCLUDE_UNTRACKED_IMAGE",
            json!([]),
            ("alpine:latest,nginx:1", json!(["alpine:latest", "nginx:1"])),
            FreeText(json!([])),
        ),
        boolean("ECS_SHARED_VOLUME_MATCH_FULL_CONFIG", false, false),
        case(
            "ECS_VOLUME_PLUGIN_CAPABILITIES",
            json!(["efsAuth"]),
            (r#"["x"]"#, json!(["x"])),
            Warn("efsAuth", json!([])),
        ),
        boolean("ECS_EBSTA_SUPPORTED", true, true),
        case(
            "ECS_PAUSE_LABELS",
            json!({}),
            (r#"{"a":"b"}"#, json!({"a": "b"})),
            Warn("{", json!({})),
        ),
        boolean("ECS_ENABLE_TASK_IAM_ROLE", true, false),
        boolean("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", true, false),
        boolean("ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", true, false),
        boolean("ECS_DISABLE_PRIVILEGED", false, false),
        boolean("ECS_SELINUX_CAPABLE", false, false),
        boolean("ECS_APPARMOR_CAPABLE", false, false),
        boolean("ECS_DISABLE_DOCKER_HEALTH_CHECK", false, false),
        boolean("ECS_ENABLE_TASK_CPU_MEM_LIMIT", true, true),
        boolean("ECS_ENABLE_TASK_ENI", true, false),
        boolean("ECS_ENABLE_HIGH_DENSITY_ENI", true, true),
        boolean("ECS_AWSVPC_BLOCK_IMDS", false, false),
        case(
            "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES",
            json!([]),
            (r#"["10.0.15.0/24"]"#, json!(["10.0.15.0/24"])),
            Fatal(r#"["10.0.15.0"]"#),
        ),
        free(
            "ECS_CNI_PLUGINS_PATH",
            json!("/amazon-ecs-cni-plugins"),
            "/usr/lib/cni",
            json!("/amazon-ecs-cni-plugins"),
        ),
        boolean("ECS_ENABLE_GPU_SUPPORT", false, false),
        free(
            "ECS_NVIDIA_RUNTIME",
            json!("nvidia"),
            "nvidia-2",
            json!("nvidia"),
        ),
        boolean("ECS_ENABLE_INF_SUPPORT", false, false),
        boolean("ECS_GMSA_SUPPORTED", false, false),
        boolean("ECS_ENABLE_FIRELENS_ASYNC", true, true),
        boolean("ECS_ENABLE_CONTAINER_METADATA", false, false),
        boolean("ECS_DISABLE_TASK_METADATA_AZ", false, false),
        case(
            "ECS_TASK_METADATA_RPS_LIMIT",
            json!("40,60"),
            ("100, 150", json!("100,150")),
            Warn("100", json!("40,60")),
        ),
        free(
            "ECS_CGROUP_PATH",
            json!("/sys/fs/cgroup"),
            "/cgroup",
            json!("/sys/fs/cgroup"),
        ),
        case(
            "ECS_CGROUP_CPU_PERIOD",
            json!("100ms"),
            ("10ms", json!("10ms")),
            Warn("200ms", json!("100ms")),
        ),
        case(
            "ECS_TASK_PIDS_LIMIT",
            Value::Null,
            ("100", json!(100)),
            Warn("0", Value::Null),
        ),
        boolean("ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2", false, false),
        boolean("ECS_EXCLUDE_IPV6_PORTBINDING", true, true),
        boolean("ECS_DISABLE_METRICS", false, false),
        boolean("ECS_POLL_METRICS", false, false),
        case(
            "ECS_POLLING_METRICS_WAIT_DURATION",
            json!("10s"),
            ("15s", json!("15s")),
            Warn("fast", json!("10s")),
        ),
        boolean("ECS_ENABLE_PROMETHEUS_METRICS", false, false),
        boolean("ECS_ENABLE_RUNTIME_STATS", false, false),
        free(
            "ECS_AGENT_HEALTHCHECK_HOST",
            json!("localhost"),
            "127.0.0.1",
            json!("localhost"),
        ),
        case(
            "ECS_LOGLEVEL",
            json!("info"),
            ("TRACE", json!("trace")),
            Warn("loud", json!("info")),
        ),
        case(
            "ECS_LOGLEVEL_ON_INSTANCE",
            json!("info"),
            ("warn", json!("warn")),
            Warn("loud", json!("info")),
        ),
        free(
            "ECS_LOGFILE",
            json!("/var/log/ecs/ecs-agent.log"),
            "/tmp/agent.log",
            Value::Null,
        ),
        case(
            "ECS_LOG_ROLLOVER_TYPE",
            json!("size"),
            ("hourly", json!("hourly")),
            WarnKept("daily", json!("hourly")),
        ),
        case(
            "ECS_LOG_OUTPUT_FORMAT",
            json!("logfmt"),
            ("json", json!("json")),
            Warn("xml", json!("logfmt")),
        ),
        case(
            "ECS_LOG_MAX_FILE_SIZE_MB",
            json!(5.0),
            ("10.5", json!(10.5)),
            Warn("-1", json!(5.0)),
        ),
        case(
            "ECS_LOG_MAX_ROLL_COUNT",
            json!(24),
            ("12", json!(12)),
            Warn("-1", json!(24)),
        ),
        free(
            "ECS_AUDIT_LOGFILE",
            json!("/var/log/ecs/audit.log"),
            "/tmp/audit.log",
            json!("/var/log/ecs/audit.log"),
        ),
        boolean("ECS_AUDIT_LOGFILE_DISABLED", false, false),
        case(
            "ECS_LOG_DRIVER",
            Value::Null,
            ("journald", json!("journald")),
            Warn("none", Value::Null),
        ),
        case(
            "ECS_LOG_OPTS",
            json!({}),
            (r#"{"max-size":"10m"}"#, json!({"max-size": "10m"})),
            Warn("[]", json!({})),
        ),
        free(
            "ECS_INIT_DOCKER_LOG_FILE_SIZE",
            json!("16m"),
            "32m",
            json!("16m"),
        ),
        free("ECS_INIT_DOCKER_LOG_FILE_NUM", json!("4"), "8", json!("4")),
        case(
            "ECS_AGENT_LABELS",
            json!({}),
            (r#"{"a":"b"}"#, json!({"a": "b"})),
            Warn(r#"{"a":1}"#, json!({})),
        ),
        free(
            "ECS_AGENT_APPARMOR_PROFILE",
            json!("ecs-agent-default"),
            "unconfined",
            json!("ecs-agent-default"),
        ),
        boolean("ECS_AGENT_PID_NAMESPACE_HOST", false, false),
        case(
            "ECS_AGENT_RUN_PRIVILEGED",
            json!(false),
            ("true", json!(true)),
            Warn("maybe", json!(false)),
        ),
        boolean("ECS_SKIP_LOCALHOST_TRAFFIC_FILTER", false, false),
        boolean("ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS", false, false),
        free(
            "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME",
            json!("eth0"),
            "ens5",
            json!("eth0"),
        ),
    ]
}

fn host() -> HostFacts {
    HostFacts {
        ip_local_port_range: Some("32768\t60999\n".to_string()),
        os_release: Some("NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n".to_string()),
        ..HostFacts::default()
    }
}

fn load_env(pairs: &[(&str, &str)]) -> Loaded {
    let env: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&Sources {
        env,
        host: host(),
        ..Sources::default()
    })
}

fn entry(loaded: &Loaded, name: &str) -> (Value, String) {
    let values = loaded.config.values_json();
    let e = &values[name];
    (
        e["value"].clone(),
        e["source"].as_str().unwrap_or("?").to_string(),
    )
}

fn diagnostics_for<'a>(
    loaded: &'a Loaded,
    name: &'a str,
) -> impl Iterator<Item = &'a ecs_config::Diagnostic> {
    loaded
        .diagnostics
        .iter()
        .filter(move |d| d.key.as_deref() == Some(name))
}

#[test]
fn the_table_covers_every_variable_once() {
    let cases = cases();
    let mut tested: Vec<&str> = cases.iter().map(|c| c.name).collect();
    tested.sort_unstable();
    let before = tested.len();
    tested.dedup();
    assert_eq!(before, tested.len(), "a variable is tested twice");
    let mut known: Vec<&str> = VARS.iter().map(|v| v.name).collect();
    known.sort_unstable();
    assert_eq!(
        tested, known,
        "every variable of VARS needs exactly one row here"
    );
}

#[test]
fn defaults() {
    let loaded = load_env(&[]);
    assert!(
        loaded.diagnostics.is_empty(),
        "defaults must load cleanly: {:?}",
        loaded.diagnostics
    );
    for c in cases() {
        assert_eq!(
            entry(&loaded, c.name),
            (c.default.clone(), "default".to_string()),
            "default of {}",
            c.name
        );
    }
}

#[test]
fn valid_values() {
    for c in cases() {
        let loaded = load_env(&[(c.name, c.valid.0)]);
        assert_eq!(
            entry(&loaded, c.name),
            (c.valid.1.clone(), "env".to_string()),
            "{}={}",
            c.name,
            c.valid.0
        );
        assert!(
            loaded.diagnostics.is_empty(),
            "{}={} should give no diagnostics: {:?}",
            c.name,
            c.valid.0,
            loaded.diagnostics
        );
    }
}

#[test]
fn invalid_values() {
    for c in cases() {
        match &c.bad {
            Bad::Warn(input, fallback) => {
                let loaded = load_env(&[(c.name, input)]);
                assert_eq!(
                    entry(&loaded, c.name),
                    (fallback.clone(), "default".to_string()),
                    "{}={input}",
                    c.name
                );
                let diags: Vec<_> = diagnostics_for(&loaded, c.name).collect();
                assert_eq!(
                    diags.len(),
                    1,
                    "{}={input}: {:?}",
                    c.name,
                    loaded.diagnostics
                );
                assert_eq!(diags[0].severity, Severity::Warning);
                assert_eq!(diags[0].location.to_string(), "env");
                assert!(!loaded.is_fatal());
            }
            Bad::WarnKept(input, value) => {
                let loaded = load_env(&[(c.name, input)]);
                assert_eq!(
                    entry(&loaded, c.name),
                    (value.clone(), "env".to_string()),
                    "{}={input}",
                    c.name
                );
                let diags: Vec<_> = diagnostics_for(&loaded, c.name).collect();
                assert_eq!(
                    diags.len(),
                    1,
                    "{}={input}: {:?}",
                    c.name,
                    loaded.diagnostics
                );
                assert_eq!(diags[0].severity, Severity::Warning);
            }
            Bad::Fatal(input) => {
                let loaded = load_env(&[(c.name, input)]);
                let errors: Vec<_> = loaded.errors().collect();
                assert_eq!(
                    errors.len(),
                    1,
                    "{}={input}: {:?}",
                    c.name,
                    loaded.diagnostics
                );
                assert_eq!(errors[0].key.as_deref(), Some(c.name));
                assert_eq!(errors[0].location.to_string(), "env");
                assert!(loaded.is_fatal());
                assert!(loaded.into_result().is_err());
            }
            Bad::FreeText(empty) => {
                let loaded = load_env(&[(c.name, "")]);
                assert_eq!(
                    entry(&loaded, c.name),
                    (empty.clone(), "env".to_string()),
                    "{}= (empty)",
                    c.name
                );
                assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
            }
        }
    }
}

#[test]
fn empty_values_never_warn() {
    for v in VARS {
        let loaded = load_env(&[(v.name, "")]);
        assert!(
            loaded.diagnostics.is_empty(),
            "{}= gave {:?}",
            v.name,
            loaded.diagnostics
        );
        assert_eq!(entry(&loaded, v.name).1, "env");
    }
}

#[test]
fn empty_values_use_the_reference_agents_own_default() {
    let loaded = load_env(&[
        ("ECS_ENABLE_TASK_IAM_ROLE", ""),
        ("ECS_AVAILABLE_LOGGING_DRIVERS", ""),
        ("ECS_LOGFILE", ""),
    ]);
    assert_eq!(entry(&loaded, "ECS_ENABLE_TASK_IAM_ROLE").0, json!(false));
    assert_eq!(
        entry(&loaded, "ECS_AVAILABLE_LOGGING_DRIVERS").0,
        json!(["json-file", "none"])
    );
    assert_eq!(entry(&loaded, "ECS_LOGFILE").0, Value::Null);
}
