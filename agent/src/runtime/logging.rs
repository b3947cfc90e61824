//! A container's Docker log configuration, as the reference agent finishes it before create
//! (reference sections 1.3 and 7.6; `docker_task_engine.go createContainer`,
//! `task.go ApplyExecutionRoleLogsAuth`).
//!
//! - No `LogConfig` (or an empty `Type`): Docker's default driver, as the reference leaves it.
//! - A driver must be one the agent knows and one listed in `ECS_AVAILABLE_LOGGING_DRIVERS` (the
//!   drivers it advertises); otherwise the container is refused with a reason naming the driver,
//!   the task and the container. Its options go to Docker as they are (Docker validates them).
//! - `mode: non-blocking` without `max-buffer-size` gets the reference's default `10m`.
//! - `awslogs`: `awslogs-endpoint` is pointed at the ECS endpoint the agent uses
//!   (`ECS_BACKEND_HOST`; the emulated control plane serves CloudWatch Logs there) unless the task
//!   sets one or that endpoint is a real AWS one; `awslogs-region` defaults to the agent's region (the reference leaves that to
//!   Docker, which asks the EC2 instance metadata service, whose answer is the same region); and
//!   with `logsAuthStrategy: ExecutionRole`, `awslogs-credentials-endpoint` is set to the
//!   execution role credentials' relative URI, `/v2/credentials/<credentials id>`, from which
//!   dockerd fetches them at `169.254.170.2`.
//!
//! Pure: no Docker, no I/O. `awsfirelens` is refused (not supported by this agent yet).

use ecs_config::{Config, LoggingDriver};
use ecs_protocol::acs::{AuthStrategy, Container, Task};
use ecs_protocol::docker_config::HostConfigOverlay;

/// The awslogs option naming the CloudWatch Logs endpoint.
pub const AWSLOGS_ENDPOINT: &str = "awslogs-endpoint";
/// The awslogs option naming the region.
pub const AWSLOGS_REGION: &str = "awslogs-region";
/// The awslogs option naming the credentials endpoint (a path under `http://169.254.170.2`).
pub const AWSLOGS_CREDENTIALS_ENDPOINT: &str = "awslogs-credentials-endpoint";
/// The log option choosing blocking or non-blocking delivery.
const MODE: &str = "mode";
/// The log option sizing the non-blocking buffer.
const MAX_BUFFER_SIZE: &str = "max-buffer-size";
/// The reference agent's `maxBufferSizeDefault`.
pub const DEFAULT_MAX_BUFFER_SIZE: &str = "10m";

/// Why a container's log configuration cannot be used. Every variant names the task and the
/// container.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// A driver name that is not a Docker logging driver the agent knows.
    #[error(
        "task {task_arn}: container {container}: log driver {driver} is not a known logging driver"
    )]
    UnknownDriver {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
        /// The `Type` as sent.
        driver: String,
    },
    /// A known driver this instance does not offer (`ECS_AVAILABLE_LOGGING_DRIVERS`).
    #[error(
        "task {task_arn}: container {container}: log driver {driver} is not available on this instance (ECS_AVAILABLE_LOGGING_DRIVERS: {available})"
    )]
    NotAvailable {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
        /// The driver.
        driver: String,
        /// The configured list, as JSON.
        available: String,
    },
    /// `awsfirelens`, which needs a FireLens container this agent does not manage yet.
    #[error(
        "task {task_arn}: container {container}: log driver awsfirelens is not supported by this agent"
    )]
    FirelensUnsupported {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
    },
    /// `logsAuthStrategy: ExecutionRole` on a task without execution role credentials (the
    /// reference's words).
    #[error("task {task_arn}: container {container}: No execution credentials set for the task")]
    NoExecutionCredentials {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
    },
}

/// Domains of real AWS endpoints: an `ECS_BACKEND_HOST` there (a regional or VPC endpoint of the
/// real ECS) serves no CloudWatch Logs, so Docker keeps its own endpoint for the region.
const AWS_DOMAINS: &[&str] = &[
    ".amazonaws.com",
    ".amazonaws.com.cn",
    ".api.aws",
    ".c2s.ic.gov",
    ".sc2s.sgov.gov",
];

/// CloudWatch Logs' dual-stack endpoint in `region`, as the SDK resolves it.
fn dual_stack_logs_endpoint(region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "api.amazonwebservices.com.cn"
    } else {
        "api.aws"
    };
    format!("https://logs.{region}.{domain}")
}

/// Where `awslogs` sends logs: the URL the agent uses for ECS (`ECS_BACKEND_HOST`, `https://` added
/// when it has no scheme) when that is not a real AWS endpoint (the emulator serves CloudWatch
/// Logs on its ECS endpoint); `None` for Docker's default endpoint of the region.
pub fn awslogs_endpoint(config: &Config) -> Option<String> {
    let host = config.backend_host.value.as_deref()?.trim();
    if host.is_empty() {
        return None;
    }
    let url = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    let url = url.trim_end_matches('/').to_string();
    let authority = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let hostname = authority
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let hostname = hostname
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(hostname, |(h, _)| h)
        .to_ascii_lowercase();
    if AWS_DOMAINS.iter().any(|d| hostname.ends_with(d)) {
        return None;
    }
    Some(url)
}

/// Checks and completes the log configuration in `host` for `container` of `task`.
pub fn apply(
    task: &Task,
    container: &Container,
    host: &mut HostConfigOverlay,
    config: &Config,
) -> Result<(), LoggingError> {
    let Some(log_config) = host.log_config.as_mut() else {
        return Ok(());
    };
    if log_config.kind.is_empty() {
        return Ok(());
    }
    let task_arn = || task.arn.clone().unwrap_or_default();
    let name = || container.name.clone().unwrap_or_default();
    let driver =
        LoggingDriver::from_name(&log_config.kind).ok_or_else(|| LoggingError::UnknownDriver {
            task_arn: task_arn(),
            container: name(),
            driver: log_config.kind.clone(),
        })?;
    if driver == LoggingDriver::Awsfirelens {
        return Err(LoggingError::FirelensUnsupported {
            task_arn: task_arn(),
            container: name(),
        });
    }
    let available = &config.available_logging_drivers.value;
    if !available.contains(&driver) {
        let names: Vec<&str> = available.iter().map(LoggingDriver::as_str).collect();
        return Err(LoggingError::NotAvailable {
            task_arn: task_arn(),
            container: name(),
            driver: driver.as_str().to_string(),
            available: serde_json::to_string(&names).unwrap_or_default(),
        });
    }
    let options = log_config.config.get_or_insert_default();
    if options.get(MODE).map(String::as_str) == Some("non-blocking")
        && !options.contains_key(MAX_BUFFER_SIZE)
    {
        options.insert(MAX_BUFFER_SIZE.into(), DEFAULT_MAX_BUFFER_SIZE.into());
    }
    if driver == LoggingDriver::Awslogs {
        if !options.contains_key(AWSLOGS_ENDPOINT)
            && let Some(endpoint) = awslogs_endpoint(config)
        {
            options.insert(AWSLOGS_ENDPOINT.into(), endpoint);
        }
        if !options.contains_key(AWSLOGS_REGION)
            && let Some(region) = config.region().filter(|r| !r.trim().is_empty())
        {
            options.insert(AWSLOGS_REGION.into(), region.to_string());
        }
        // Docker's awslogs driver has no dual-stack switch: on an IPv6-only instance the agent
        // names the log region's dual-stack endpoint, as the reference does
        // (`setAWSLogsDualStackEndpoint`), unless an endpoint is set already.
        if config.ipv6_only()
            && !options.contains_key(AWSLOGS_ENDPOINT)
            && let Some(region) = options.get(AWSLOGS_REGION).filter(|r| !r.trim().is_empty())
        {
            let endpoint = dual_stack_logs_endpoint(region.trim());
            options.insert(AWSLOGS_ENDPOINT.into(), endpoint);
        }
        if container.logs_auth_strategy == Some(AuthStrategy::ExecutionRole) {
            let id = task
                .execution_role_credentials
                .as_ref()
                .and_then(|c| c.credentials_id.as_deref())
                .filter(|id| !id.is_empty())
                .ok_or_else(|| LoggingError::NoExecutionCredentials {
                    task_arn: task_arn(),
                    container: name(),
                })?;
            tracing::info!(
                task_arn = %task_arn(),
                container = %name(),
                "applying execution role credentials to container log auth"
            );
            options.insert(
                AWSLOGS_CREDENTIALS_ENDPOINT.into(),
                format!("/v2/credentials/{id}"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use ecs_protocol::acs::IamRoleCredentials;
    use ecs_protocol::docker_config::LogConfig;

    use super::*;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/demo/0123456789abcdef";

    fn config(vars: &[(&str, &str)]) -> Config {
        let mut sources = ecs_config::Sources {
            env: vars
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            ..ecs_config::Sources::default()
        };
        sources
            .env
            .entry("AWS_DEFAULT_REGION".into())
            .or_insert_with(|| "us-west-2".into());
        ecs_config::load(&sources).into_result().unwrap()
    }

    fn task() -> Task {
        Task {
            arn: Some(ARN.into()),
            ..Task::default()
        }
    }

    fn container() -> Container {
        Container {
            name: Some("web".into()),
            ..Container::default()
        }
    }

    fn host(kind: &str, options: &[(&str, &str)]) -> HostConfigOverlay {
        HostConfigOverlay {
            log_config: Some(LogConfig {
                kind: kind.into(),
                config: Some(
                    options
                        .iter()
                        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                        .collect(),
                ),
            }),
            ..HostConfigOverlay::default()
        }
    }

    fn options(h: &HostConfigOverlay) -> BTreeMap<String, String> {
        h.log_config.as_ref().unwrap().config.clone().unwrap()
    }

    #[test]
    fn no_log_config_leaves_dockers_default() {
        let mut h = HostConfigOverlay::default();
        apply(&task(), &container(), &mut h, &config(&[])).unwrap();
        assert_eq!(h, HostConfigOverlay::default());
    }

    #[test]
    fn json_file_options_pass_through_and_non_blocking_gets_a_buffer() {
        let mut h = host(
            "json-file",
            &[
                ("max-size", "10m"),
                ("max-file", "3"),
                ("mode", "non-blocking"),
            ],
        );
        apply(&task(), &container(), &mut h, &config(&[])).unwrap();
        let o = options(&h);
        assert_eq!(o["max-size"], "10m");
        assert_eq!(o["max-file"], "3");
        assert_eq!(o["max-buffer-size"], DEFAULT_MAX_BUFFER_SIZE);
        let mut h = host("none", &[]);
        apply(&task(), &container(), &mut h, &config(&[])).unwrap();
    }

    #[test]
    fn drivers_not_listed_are_refused_naming_task_container_and_list() {
        let cfg = config(&[("ECS_AVAILABLE_LOGGING_DRIVERS", r#"["json-file","none"]"#)]);
        for d in ["syslog", "journald", "fluentd", "gelf", "awslogs"] {
            let err = apply(&task(), &container(), &mut host(d, &[]), &cfg).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "task {ARN}: container web: log driver {d} is not available on this instance (ECS_AVAILABLE_LOGGING_DRIVERS: [\"json-file\",\"none\"])"
                )
            );
        }
        let cfg = config(&[(
            "ECS_AVAILABLE_LOGGING_DRIVERS",
            r#"["syslog","journald","fluentd","gelf"]"#,
        )]);
        for d in ["syslog", "journald", "fluentd", "gelf"] {
            let mut h = host(d, &[("tag", "x")]);
            apply(&task(), &container(), &mut h, &cfg).unwrap();
            assert_eq!(options(&h), BTreeMap::from([("tag".into(), "x".into())]));
        }
        let err = apply(&task(), &container(), &mut host("bogus", &[]), &cfg).unwrap_err();
        assert!(matches!(err, LoggingError::UnknownDriver { .. }), "{err}");
        let err = apply(&task(), &container(), &mut host("awsfirelens", &[]), &cfg).unwrap_err();
        assert!(
            matches!(err, LoggingError::FirelensUnsupported { .. }),
            "{err}"
        );
    }

    #[test]
    fn awslogs_points_at_the_backend_and_keeps_what_the_task_set() {
        let cfg = config(&[("ECS_BACKEND_HOST", "http://127.0.0.1:4566/")]);
        let mut h = host("awslogs", &[("awslogs-group", "g")]);
        apply(&task(), &container(), &mut h, &cfg).unwrap();
        let o = options(&h);
        assert_eq!(o[AWSLOGS_ENDPOINT], "http://127.0.0.1:4566");
        assert_eq!(o[AWSLOGS_REGION], "us-west-2");
        assert!(!o.contains_key(AWSLOGS_CREDENTIALS_ENDPOINT));

        let mut h = host(
            "awslogs",
            &[
                (AWSLOGS_ENDPOINT, "http://logs.example"),
                (AWSLOGS_REGION, "eu-west-1"),
            ],
        );
        apply(&task(), &container(), &mut h, &cfg).unwrap();
        let o = options(&h);
        assert_eq!(o[AWSLOGS_ENDPOINT], "http://logs.example");
        assert_eq!(o[AWSLOGS_REGION], "eu-west-1");

        let mut h = host("awslogs", &[]);
        apply(&task(), &container(), &mut h, &config(&[])).unwrap();
        assert!(!options(&h).contains_key(AWSLOGS_ENDPOINT));

        for real in [
            "ecs.us-east-1.amazonaws.com",
            "https://vpce-0a1b.ecs.us-east-1.vpce.amazonaws.com:443/",
            "https://ecs.cn-north-1.amazonaws.com.cn",
        ] {
            let cfg = config(&[("ECS_BACKEND_HOST", real)]);
            assert_eq!(awslogs_endpoint(&cfg), None, "{real}");
        }
        let cfg = config(&[("ECS_BACKEND_HOST", "ecs.local:4566")]);
        assert_eq!(
            awslogs_endpoint(&cfg).as_deref(),
            Some("https://ecs.local:4566")
        );
    }

    #[test]
    fn ipv6_only_instances_send_awslogs_to_the_dual_stack_endpoint() {
        let v6 = config(&[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6")]);
        let mut h = host("awslogs", &[("awslogs-group", "g")]);
        apply(&task(), &container(), &mut h, &v6).unwrap();
        assert_eq!(
            options(&h)[AWSLOGS_ENDPOINT],
            "https://logs.us-west-2.api.aws"
        );
        // The task's region, and China's domain.
        let mut h = host("awslogs", &[(AWSLOGS_REGION, "cn-north-1")]);
        apply(&task(), &container(), &mut h, &v6).unwrap();
        assert_eq!(
            options(&h)[AWSLOGS_ENDPOINT],
            "https://logs.cn-north-1.api.amazonwebservices.com.cn"
        );
        // An endpoint the task or ECS_BACKEND_HOST gives wins.
        let mut h = host("awslogs", &[(AWSLOGS_ENDPOINT, "http://logs.example")]);
        apply(&task(), &container(), &mut h, &v6).unwrap();
        assert_eq!(options(&h)[AWSLOGS_ENDPOINT], "http://logs.example");
        let cfg = config(&[
            ("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6"),
            ("ECS_BACKEND_HOST", "http://127.0.0.1:4566"),
        ]);
        let mut h = host("awslogs", &[]);
        apply(&task(), &container(), &mut h, &cfg).unwrap();
        assert_eq!(options(&h)[AWSLOGS_ENDPOINT], "http://127.0.0.1:4566");
        // Not IPv6-only: Docker's own endpoint.
        let mut h = host("awslogs", &[]);
        apply(
            &task(),
            &container(),
            &mut h,
            &config(&[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv4")]),
        )
        .unwrap();
        assert!(!options(&h).contains_key(AWSLOGS_ENDPOINT));
    }

    #[test]
    fn execution_role_strategy_uses_the_execution_credentials_endpoint() {
        let mut c = container();
        c.logs_auth_strategy = Some(AuthStrategy::ExecutionRole);
        let err = apply(&task(), &c, &mut host("awslogs", &[]), &config(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("task {ARN}: container web: No execution credentials set for the task")
        );
        let mut t = task();
        t.execution_role_credentials = Some(IamRoleCredentials {
            credentials_id: Some("exec-123".into()),
            ..IamRoleCredentials::default()
        });
        let mut h = host("awslogs", &[]);
        apply(&t, &c, &mut h, &config(&[])).unwrap();
        assert_eq!(
            options(&h)[AWSLOGS_CREDENTIALS_ENDPOINT],
            "/v2/credentials/exec-123"
        );
    }
}
