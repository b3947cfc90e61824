//! Precedence, sources, cross-variable rules, unknown keys, secrets and file reading.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests may panic

use std::collections::BTreeMap;
use std::io::Write;

use ecs_config::{
    ConfigError, HostFacts, Loaded, Severity, SourceFile, Sources, load, read_sources,
};
use serde_json::{Value, json};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Loaded {
    load(&Sources {
        env: env(pairs),
        ..Sources::default()
    })
}

fn value(loaded: &Loaded, name: &str) -> Value {
    loaded.config.values_json()[name]["value"].clone()
}

fn source(loaded: &Loaded, name: &str) -> String {
    loaded.config.values_json()[name]["source"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

fn messages(loaded: &Loaded) -> Vec<String> {
    loaded.diagnostics.iter().map(ToString::to_string).collect()
}

#[test]
fn env_beats_user_file_beats_instance_file() {
    let sources = Sources {
        instance_file: Some(SourceFile::new(
            "/var/lib/ecs/ecs.config",
            "ECS_CLUSTER=instance\nECS_RESERVED_MEMORY=32\nECS_LOGLEVEL=debug\n",
        )),
        user_file: Some(SourceFile::new(
            "/etc/ecs/ecs.config",
            "# user\nECS_CLUSTER=user\nECS_RESERVED_MEMORY=64\n",
        )),
        env: env(&[("ECS_CLUSTER", "prod"), ("PATH", "/bin")]),
        host: HostFacts::default(),
    };
    let loaded = load(&sources);
    assert!(loaded.diagnostics.is_empty(), "{:?}", messages(&loaded));
    assert_eq!(value(&loaded, "ECS_CLUSTER"), json!("prod"));
    assert_eq!(source(&loaded, "ECS_CLUSTER"), "env");
    assert_eq!(value(&loaded, "ECS_RESERVED_MEMORY"), json!(64));
    assert_eq!(
        source(&loaded, "ECS_RESERVED_MEMORY"),
        "/etc/ecs/ecs.config:3"
    );
    assert_eq!(value(&loaded, "ECS_LOGLEVEL"), json!("debug"));
    assert_eq!(source(&loaded, "ECS_LOGLEVEL"), "/var/lib/ecs/ecs.config:3");
    assert_eq!(*loaded.config.cluster, "prod");
    assert_eq!(
        loaded.files,
        vec![
            std::path::PathBuf::from("/var/lib/ecs/ecs.config"),
            "/etc/ecs/ecs.config".into()
        ]
    );
}

#[test]
fn file_warnings_name_file_line_and_key() {
    let loaded = load(&Sources {
        user_file: Some(SourceFile::new(
            "/tmp/ecs.config",
            "ECS_CLUSTER=a\n\nECS_RESERVED_PORTS=[22,oops]\n",
        )),
        ..Sources::default()
    });
    let msgs = messages(&loaded);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].starts_with("/tmp/ecs.config:3: ECS_RESERVED_PORTS: invalid value \"[22,oops]\""),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].contains("using default [22,2375,2376,51678,51679]"));
    assert_eq!(
        value(&loaded, "ECS_RESERVED_PORTS"),
        json!([22, 2375, 2376, 51678, 51679])
    );
}

#[test]
fn unknown_logging_driver_is_fatal() {
    let loaded = load_env(&[("ECS_AVAILABLE_LOGGING_DRIVERS", r#"["json-file","bogus"]"#)]);
    let errors: Vec<String> = loaded.errors().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("Invalid logging drivers: bogus"),
        "{}",
        errors[0]
    );
    match loaded.into_result() {
        Err(ConfigError::Invalid(d)) => assert_eq!(d.len(), 1),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn go_zero_values_mean_unset() {
    let loaded = load_env(&[
        ("ECS_RESERVED_PORTS", "[]"),
        ("ECS_IMAGE_MINIMUM_CLEANUP_AGE", "0"),
        ("ECS_RESERVED_MEMORY", "0"),
    ]);
    assert_eq!(
        value(&loaded, "ECS_RESERVED_PORTS"),
        json!([22, 2375, 2376, 51678, 51679])
    );
    assert_eq!(
        value(&loaded, "ECS_IMAGE_MINIMUM_CLEANUP_AGE"),
        json!("1h0m0s")
    );
    assert_eq!(value(&loaded, "ECS_RESERVED_MEMORY"), json!(0));
    // Warnings (in table order) only where the result differs from what was written.
    let keys: Vec<_> = loaded.warnings().filter_map(|d| d.key.clone()).collect();
    assert_eq!(
        keys,
        ["ECS_RESERVED_PORTS", "ECS_IMAGE_MINIMUM_CLEANUP_AGE"]
    );
}

#[test]
fn timeouts_below_their_minimum_are_raised() {
    let loaded = load_env(&[
        ("ECS_CONTAINER_STOP_TIMEOUT", "500ms"),
        ("ECS_CONTAINER_START_TIMEOUT", "10s"),
    ]);
    assert_eq!(value(&loaded, "ECS_CONTAINER_STOP_TIMEOUT"), json!("1s"));
    assert_eq!(source(&loaded, "ECS_CONTAINER_STOP_TIMEOUT"), "env");
    assert_eq!(value(&loaded, "ECS_CONTAINER_START_TIMEOUT"), json!("45s"));
    assert_eq!(loaded.warnings().count(), 2);
    assert_eq!(
        loaded.config.container_stop_timeout.value,
        std::time::Duration::from_secs(1)
    );
}

#[test]
fn prometheus_reserves_its_port() {
    let loaded = load_env(&[("ECS_ENABLE_PROMETHEUS_METRICS", "true")]);
    assert_eq!(
        value(&loaded, "ECS_RESERVED_PORTS"),
        json!([22, 2375, 2376, 51678, 51679, 51680])
    );
    let loaded = load_env(&[
        ("ECS_ENABLE_PROMETHEUS_METRICS", "true"),
        ("ECS_RESERVED_PORTS", "[22]"),
    ]);
    assert_eq!(value(&loaded, "ECS_RESERVED_PORTS"), json!([22, 51680]));
}

#[test]
fn external_turns_task_eni_off() {
    let loaded = load_env(&[("ECS_EXTERNAL", "true")]);
    assert_eq!(value(&loaded, "ECS_ENABLE_TASK_ENI"), json!(false));
    assert!(loaded.diagnostics.is_empty());

    let loaded = load_env(&[("ECS_EXTERNAL", "true"), ("ECS_ENABLE_TASK_ENI", "true")]);
    assert_eq!(value(&loaded, "ECS_ENABLE_TASK_ENI"), json!(false));
    let msgs = messages(&loaded);
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].starts_with("env: ECS_ENABLE_TASK_ENI: forced to false"));
}

#[test]
fn polling_interval_is_clamped_only_when_polling() {
    let loaded = load_env(&[("ECS_POLLING_METRICS_WAIT_DURATION", "1m")]);
    assert_eq!(
        value(&loaded, "ECS_POLLING_METRICS_WAIT_DURATION"),
        json!("1m0s")
    );
    let loaded = load_env(&[
        ("ECS_POLLING_METRICS_WAIT_DURATION", "1m"),
        ("ECS_POLL_METRICS", "true"),
    ]);
    assert_eq!(
        value(&loaded, "ECS_POLLING_METRICS_WAIT_DURATION"),
        json!("20s")
    );
    assert_eq!(loaded.warnings().count(), 1);
}

#[test]
fn computed_defaults_follow_other_variables() {
    let loaded = load_env(&[("ECS_LOGLEVEL", "debug")]);
    assert_eq!(value(&loaded, "ECS_LOGLEVEL_ON_INSTANCE"), json!("debug"));
    let loaded = load_env(&[("ECS_LOGLEVEL", "debug"), ("ECS_LOG_DRIVER", "journald")]);
    assert_eq!(value(&loaded, "ECS_LOGLEVEL_ON_INSTANCE"), json!("none"));
    let loaded = load_env(&[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6")]);
    assert_eq!(value(&loaded, "ECS_EXCLUDE_IPV6_PORTBINDING"), json!(false));
}

#[test]
fn port_range_falls_back_without_the_kernel_file() {
    let loaded = load_env(&[]);
    assert_eq!(
        value(&loaded, "ECS_DYNAMIC_HOST_PORT_RANGE"),
        json!("49153-65535")
    );
    assert_eq!(value(&loaded, "ECS_DETAILED_OS_FAMILY"), json!("linux"));

    let loaded = load(&Sources {
        host: HostFacts {
            ip_local_port_range: Some("nonsense".into()),
            ..HostFacts::default()
        },
        ..Sources::default()
    });
    assert_eq!(
        value(&loaded, "ECS_DYNAMIC_HOST_PORT_RANGE"),
        json!("49153-65535")
    );
    let msgs = messages(&loaded);
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0]
            .starts_with("/proc/sys/net/ipv4/ip_local_port_range:1: ECS_DYNAMIC_HOST_PORT_RANGE:")
    );
}

#[test]
fn unknown_keys_get_the_closest_known_key() {
    let loaded = load(&Sources {
        user_file: Some(SourceFile::new(
            "/f",
            "ECS_CLUSTR=x\nECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED=true\nOTHER=1\n",
        )),
        env: env(&[("ECS_RESERVED_PORT", "[1]"), ("HOME", "/root")]),
        ..Sources::default()
    });
    let msgs = messages(&loaded);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(
        msgs[0],
        "/f:1: ECS_CLUSTR: unknown key; ignored (closest known key: ECS_CLUSTER)"
    );
    assert_eq!(
        msgs[1],
        "/f:2: ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED: applies to Windows only; ignored"
    );
    assert_eq!(
        msgs[2],
        "env: ECS_RESERVED_PORT: unknown key; ignored (closest known key: ECS_RESERVED_PORTS)"
    );
}

#[test]
fn auth_data_never_leaks() {
    let secret = "hunter2";
    for data in [
        r#"{"r":{"username":"u","password":"hunter2"}}"#,
        r#"{"r":{"username":"u","password":"hunter2"}"#,
        r#""hunter2""#,
        "hunter2",
    ] {
        let loaded = load(&Sources {
            user_file: Some(SourceFile::new(
                "/f",
                format!("ECS_ENGINE_AUTH_DATA={data}\n\"password\":\"hunter2\"}}\n"),
            )),
            env: env(&[("ECS_ENGINE_AUTH_TYPE", "docker")]),
            ..Sources::default()
        });
        let shown = format!(
            "{}\n{:?}\n{:?}\n{}",
            loaded.to_json(),
            loaded,
            loaded.config,
            messages(&loaded).join("\n")
        );
        assert!(!shown.contains(secret), "{data}: {shown}");
        let exposed = loaded
            .config
            .engine_auth_data
            .value
            .as_ref()
            .map(|s| s.expose().to_string());
        assert_eq!(exposed.as_deref(), Some(data));
    }
}

#[test]
fn region_is_needed_to_run_only() {
    let loaded = load_env(&[]);
    assert!(!loaded.is_fatal());
    assert!(matches!(
        loaded.config.validate_for_run(),
        Err(ConfigError::MissingRegion)
    ));
    let loaded = load_env(&[("AWS_REGION", "eu-west-1")]);
    assert_eq!(loaded.config.region(), Some("eu-west-1"));
    assert!(loaded.config.validate_for_run().is_ok());
    let loaded = load_env(&[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "us-east-2"),
    ]);
    assert_eq!(loaded.config.region(), Some("us-east-2"));
}

#[test]
fn json_output_has_every_part() {
    let loaded = load_env(&[("ECS_CLUSTER", "prod"), ("ECS_RESERVED_MEMORY", "x")]);
    let out = loaded.to_json();
    assert_eq!(
        out["config"]["ECS_CLUSTER"],
        json!({"value": "prod", "source": "env"})
    );
    assert_eq!(out["warnings"][0]["key"], json!("ECS_RESERVED_MEMORY"));
    assert_eq!(out["warnings"][0]["location"], json!("env"));
    assert_eq!(out["warnings"][0]["severity"], json!("warning"));
    assert_eq!(out["errors"], json!([]));
    assert_eq!(out["files"], json!([]));
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning)
    );
}

#[test]
fn reading_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.config");
    match read_sources(Some(&missing), Some(&missing)) {
        Err(ConfigError::MissingFile { path }) => assert_eq!(path, missing),
        other => panic!("expected MissingFile, got {other:?}"),
    }
    let present = dir.path().join("ecs.config");
    let mut f = std::fs::File::create(&present).expect("create");
    f.write_all(b"ECS_CLUSTER=from-file\n\xff\xfe\n")
        .expect("write");
    let sources = read_sources(Some(&present), Some(&present)).expect("read");
    let user = sources.user_file.as_ref().expect("user file");
    assert_eq!(user.path, present);
    assert!(user.contents.starts_with("ECS_CLUSTER=from-file\n"));
    let err = ConfigError::MissingFile {
        path: missing.clone(),
    }
    .to_string();
    assert!(err.contains(&missing.display().to_string()));
}

#[test]
fn config_default_is_the_plain_defaults() {
    let config = ecs_config::Config::default();
    assert_eq!(*config.cluster, "default");
    assert_eq!(config.reserved_ports.value, [22, 2375, 2376, 51678, 51679]);
    assert_eq!(
        config.dynamic_host_port_range.value,
        ecs_config::PortRange::FALLBACK
    );
    assert_eq!(
        config.datadir.value,
        std::path::Path::new("/var/lib/ecs/data")
    );
    assert_eq!(
        config.available_logging_drivers.value,
        [
            ecs_config::LoggingDriver::JsonFile,
            ecs_config::LoggingDriver::Syslog,
            ecs_config::LoggingDriver::Awslogs,
            ecs_config::LoggingDriver::Fluentd,
            ecs_config::LoggingDriver::None,
        ]
    );
    assert_eq!(config.backend_host.value, None);
    assert_eq!(config.region(), None);
}

#[test]
fn diagnostics_come_in_reading_order() {
    let sources = Sources {
        instance_file: Some(SourceFile::new(
            "/var/lib/ecs/ecs.config",
            "ECS_LOGLEVEL=loud\nECS_CLUSTR=x\n",
        )),
        user_file: Some(SourceFile::new(
            "/etc/ecs/ecs.config",
            "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1x\n# comment\nECS_RESERVED_PORTS=[oops]\n",
        )),
        env: env(&[("ECS_POLL_METRICS", "maybe")]),
        host: HostFacts::default(),
    };
    let loaded = load(&sources);
    let locations: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.location.to_string())
        .collect();
    assert_eq!(
        locations,
        [
            "/var/lib/ecs/ecs.config:1",
            "/var/lib/ecs/ecs.config:2",
            "/etc/ecs/ecs.config:1",
            "/etc/ecs/ecs.config:3",
            "env",
        ],
        "{:?}",
        messages(&loaded)
    );
}

#[test]
fn ip_compatibility_is_detected_from_the_default_routes_unless_set() {
    const V4_DEFAULT: &str = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                              eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n";
    const V4_NONE: &str = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n";
    const V6_DEFAULT: &str = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                              fd000000000000000000000000000001 00000400 00000002 00000000 00000003 eth0\n";
    let with_routes = |v4: &str, v6: &str, env: &[(&str, &str)]| {
        load(&Sources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            host: HostFacts {
                ipv4_routes: Some(v4.into()),
                ipv6_routes: Some(v6.into()),
                ..HostFacts::default()
            },
            ..Sources::default()
        })
    };
    // Only an IPv6 default route: IPv6-only, so IPv6 bindings are kept by default.
    let v6_only = with_routes(V4_NONE, V6_DEFAULT, &[]);
    assert_eq!(
        value(&v6_only, "ECS_INSTANCE_IP_COMPATIBILITY"),
        json!("ipv6")
    );
    assert_eq!(
        value(&v6_only, "ECS_EXCLUDE_IPV6_PORTBINDING"),
        json!(false)
    );
    assert!(v6_only.config.ipv6_only());
    // Both: dual stack is not IPv6-only.
    let dual = with_routes(V4_DEFAULT, V6_DEFAULT, &[]);
    assert_eq!(value(&dual, "ECS_INSTANCE_IP_COMPATIBILITY"), json!("ipv4"));
    assert_eq!(value(&dual, "ECS_EXCLUDE_IPV6_PORTBINDING"), json!(true));
    assert!(!dual.config.ipv6_only());
    // Neither: unset, treated as IPv4.
    let neither = with_routes(V4_NONE, "", &[]);
    assert_eq!(
        value(&neither, "ECS_INSTANCE_IP_COMPATIBILITY"),
        Value::Null
    );
    assert!(!neither.config.ipv6_only());
    // The override wins over the routes, both ways, and moves the binding default with it.
    let forced_v4 = with_routes(
        V4_NONE,
        V6_DEFAULT,
        &[("ECS_INSTANCE_IP_COMPATIBILITY", "IPv4")],
    );
    assert!(!forced_v4.config.ipv6_only());
    assert_eq!(
        value(&forced_v4, "ECS_EXCLUDE_IPV6_PORTBINDING"),
        json!(true)
    );
    let forced_v6 = with_routes(V4_DEFAULT, "", &[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6")]);
    assert!(forced_v6.config.ipv6_only());
    assert_eq!(
        value(&forced_v6, "ECS_EXCLUDE_IPV6_PORTBINDING"),
        json!(false)
    );
    // An invalid value is detection, as in the reference.
    let invalid = with_routes(
        V4_NONE,
        V6_DEFAULT,
        &[("ECS_INSTANCE_IP_COMPATIBILITY", "dual")],
    );
    assert!(invalid.config.ipv6_only());
    assert_eq!(
        value(&invalid, "ECS_EXCLUDE_IPV6_PORTBINDING"),
        json!(false)
    );
    // An explicit ECS_EXCLUDE_IPV6_PORTBINDING wins on an IPv6-only instance.
    let explicit = with_routes(
        V4_NONE,
        V6_DEFAULT,
        &[("ECS_EXCLUDE_IPV6_PORTBINDING", "true")],
    );
    assert_eq!(
        value(&explicit, "ECS_EXCLUDE_IPV6_PORTBINDING"),
        json!(true)
    );
}
