//! Task definition → ACS task, as the real control plane translates it (reference section 3.5 and the
//! `dockerConfig` appendix): the fields that have no ACS member travel as Docker Engine JSON inside
//! `dockerConfig.config` / `dockerConfig.hostConfig` strings. Pure functions. The task is built as
//! JSON and typed with [`typed_task`] once complete (registry authentication and role credentials
//! are added to the JSON by their own modules); `ecs::acs_payload_tests` checks that typing loses
//! nothing.

pub mod linux;

use ecs_protocol::acs::Task as AcsTask;
use serde_json::{Map, Value, json};

use crate::ecs::common::def_number;
use crate::ecs::model::Task;

const NANOS: i64 = 1_000_000_000;

fn arr(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

fn docker_api_at_least(current: &mut (u32, u32), v: (u32, u32)) {
    if v > *current {
        *current = v;
    }
}

/// The Docker container config and host config for one container definition, and the minimum Docker
/// API version they need.
fn docker_config(c: &Value, def: &Value, network_mode: &str) -> (Value, Value, String) {
    let mut config = Map::new();
    let mut host = Map::new();
    let mut version = (1, 17);
    let s = |k: &str| c.get(k).and_then(Value::as_str).map(String::from);

    if let Some(u) = s("user") {
        config.insert("User".into(), json!(u));
    }
    if let Some(w) = s("workingDirectory") {
        config.insert("WorkingDir".into(), json!(w));
    }
    if let Some(h) = s("hostname") {
        config.insert("Hostname".into(), json!(h));
    }
    if let Some(l) = c.get("dockerLabels").filter(|v| v.is_object()) {
        config.insert("Labels".into(), l.clone());
    }
    if c.get("pseudoTerminal").and_then(Value::as_bool) == Some(true) {
        config.insert("Tty".into(), json!(true));
    }
    if c.get("interactive").and_then(Value::as_bool) == Some(true) {
        config.insert("OpenStdin".into(), json!(true));
    }
    if let Some(hc) = c.get("healthCheck") {
        let secs = |k: &str, d: i64| def_number(hc.get(k)).unwrap_or(d) * NANOS;
        config.insert(
            "Healthcheck".into(),
            json!({
                "Test": hc.get("command").cloned().unwrap_or(json!([])),
                "Interval": secs("interval", 30),
                "Timeout": secs("timeout", 5),
                "Retries": def_number(hc.get("retries")).unwrap_or(3),
                "StartPeriod": secs("startPeriod", 0),
            }),
        );
        docker_api_at_least(&mut version, (1, 24));
    }

    if !network_mode.is_empty() {
        host.insert("NetworkMode".into(), json!(network_mode));
    }
    let caps = c.get("linuxParameters").and_then(|l| l.get("capabilities"));
    host.insert("CapAdd".into(), json!(arr(caps.and_then(|c| c.get("add")))));
    host.insert(
        "CapDrop".into(),
        json!(arr(caps.and_then(|c| c.get("drop")))),
    );
    if let Some(r) = def_number(c.get("memoryReservation")) {
        host.insert("MemoryReservation".into(), json!(r * 1024 * 1024));
    }
    if let Some(lc) = c.get("logConfiguration") {
        host.insert(
            "LogConfig".into(),
            json!({
                "Type": lc.get("logDriver").cloned().unwrap_or(json!("json-file")),
                "Config": lc.get("options").cloned().unwrap_or(json!({})),
            }),
        );
        docker_api_at_least(&mut version, (1, 19));
    }
    let ulimits: Vec<Value> = arr(c.get("ulimits"))
        .iter()
        .map(|u| {
            json!({
                "Name": u.get("name").cloned().unwrap_or(Value::Null),
                "Soft": u.get("softLimit").cloned().unwrap_or(Value::Null),
                "Hard": u.get("hardLimit").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    if !ulimits.is_empty() {
        host.insert("Ulimits".into(), json!(ulimits));
        docker_api_at_least(&mut version, (1, 18));
    }
    if c.get("privileged").and_then(Value::as_bool) == Some(true) {
        host.insert("Privileged".into(), json!(true));
    }
    if c.get("readonlyRootFilesystem").and_then(Value::as_bool) == Some(true) {
        host.insert("ReadonlyRootfs".into(), json!(true));
    }
    for (from, to) in [
        ("dnsServers", "Dns"),
        ("dnsSearchDomains", "DnsSearch"),
        ("dockerSecurityOptions", "SecurityOpt"),
    ] {
        if let Some(v) = c.get(from).filter(|v| v.is_array()) {
            host.insert(to.into(), v.clone());
        }
    }
    let extra_hosts: Vec<String> = arr(c.get("extraHosts"))
        .iter()
        .filter_map(|h| {
            Some(format!(
                "{}:{}",
                h.get("hostname")?.as_str()?,
                h.get("ipAddress")?.as_str()?
            ))
        })
        .collect();
    if !extra_hosts.is_empty() {
        host.insert("ExtraHosts".into(), json!(extra_hosts));
    }
    let sysctls: Map<String, Value> = arr(c.get("systemControls"))
        .iter()
        .filter_map(|s| {
            Some((
                s.get("namespace")?.as_str()?.to_string(),
                s.get("value")?.clone(),
            ))
        })
        .collect();
    if !sysctls.is_empty() {
        host.insert("Sysctls".into(), Value::Object(sysctls));
    }
    crate::ecs::acs_payload::linux::linux_host_config(c, def, &mut host);
    (
        Value::Object(config),
        Value::Object(host),
        format!("{}.{}", version.0, version.1),
    )
}

fn container_override<'a>(overrides: &'a Value, name: &str) -> Option<&'a Value> {
    overrides
        .get("containerOverrides")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
}

/// The ACS form of a container definition, with the task's overrides applied.
fn acs_container(c: &Value, def: &Value, task: &Task, network_mode: &str) -> Value {
    let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
    let over = container_override(&task.overrides, name);
    let (config, host, version) = docker_config(c, def, network_mode);

    let mut environment = Map::new();
    for list in [
        c.get("environment"),
        over.and_then(|o| o.get("environment")),
    ] {
        for kv in arr(list) {
            if let (Some(k), Some(v)) = (
                kv.get("name").and_then(Value::as_str),
                kv.get("value").and_then(Value::as_str),
            ) {
                environment.insert(k.to_string(), json!(v));
            }
        }
    }
    let number = |k: &str| {
        over.and_then(|o| def_number(o.get(k)))
            .or_else(|| def_number(c.get(k)))
    };
    let port_mappings: Vec<Value> = arr(c.get("portMappings"))
        .iter()
        .map(|pm| {
            let mut m = Map::new();
            for k in [
                "containerPort",
                "hostPort",
                "protocol",
                "containerPortRange",
            ] {
                if let Some(v) = pm.get(k) {
                    m.insert(k.into(), v.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    let mut out = json!({
        "name": name,
        "image": c.get("image").cloned().unwrap_or(Value::Null),
        "cpu": number("cpu").unwrap_or(0),
        "memory": number("memory").unwrap_or(0),
        "essential": c.get("essential").cloned().unwrap_or(json!(true)),
        "environment": environment,
        "portMappings": port_mappings,
        "mountPoints": arr(c.get("mountPoints")),
        "volumesFrom": arr(c.get("volumesFrom")),
        "links": arr(c.get("links")),
        "dockerConfig": {
            "version": version,
            "config": config.to_string(),
            "hostConfig": host.to_string(),
        },
    });
    let Value::Object(m) = &mut out else {
        return out;
    };
    for k in [
        "command",
        "entryPoint",
        "environmentFiles",
        "dependsOn",
        "startTimeout",
        "stopTimeout",
        "firelensConfiguration",
        "linuxParameters",
        "restartPolicy",
        "credentialSpecs",
    ] {
        if let Some(v) = c.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    let secrets = acs_secrets(c, &region_of_arn(&task.task_arn).unwrap_or_default());
    if !secrets.is_empty() {
        m.insert("secrets".into(), json!(secrets));
    }
    // Private registry credentials kept in Secrets Manager (`repositoryCredentials`).
    if let Some(param) = c
        .get("repositoryCredentials")
        .and_then(|r| r.get("credentialsParameter"))
        .and_then(Value::as_str)
    {
        let region = region_of_arn(param)
            .or_else(|| region_of_arn(&task.task_arn))
            .unwrap_or_default();
        m.insert(
            "registryAuthentication".into(),
            json!({
                "type": "asm",
                "asmAuthData": {"credentialsParameter": param, "region": region},
            }),
        );
    }
    if c.get("healthCheck").is_some() {
        m.insert("healthCheckType".into(), json!("docker"));
    }
    if let Some(cmd) = over.and_then(|o| o.get("command")) {
        m.insert(
            "overrides".into(),
            json!(json!({ "command": cmd }).to_string()),
        );
    }
    if let Some(v) = over.and_then(|o| o.get("memoryReservation")) {
        // Re-encode the host config with the overridden soft limit.
        if let Some(r) = def_number(Some(v)) {
            let mut h: Value = serde_json::from_str(&host.to_string()).unwrap_or(json!({}));
            h["MemoryReservation"] = json!(r * 1024 * 1024);
            m["dockerConfig"]["hostConfig"] = json!(h.to_string());
        }
    }
    out
}

/// Who holds a secret: Secrets Manager for a `arn:<partition>:secretsmanager:` ARN, Parameter
/// Store for anything else (a parameter name or ARN).
pub fn secret_provider(value_from: &str) -> &'static str {
    let service = value_from
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(1));
    if service == Some("secretsmanager") {
        "asm"
    } else {
        "ssm"
    }
}

/// The region of an ARN (`arn:aws:ssm:eu-west-1:...` → `eu-west-1`), if it is one and has one.
fn region_of_arn(arn: &str) -> Option<String> {
    let region = arn.strip_prefix("arn:")?.split(':').nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
}

/// One container secret as ACS sends it (the reference agent's `apicontainer.Secret`).
fn acs_secret(s: &Value, default_region: &str, kind: &str, target: &str) -> Option<Value> {
    let name = s.get("name").and_then(Value::as_str)?;
    let value_from = s.get("valueFrom").and_then(Value::as_str)?;
    Some(json!({
        "name": name,
        "valueFrom": value_from,
        "region": region_of_arn(value_from).unwrap_or_else(|| default_region.to_string()),
        "provider": secret_provider(value_from),
        "type": kind,
        "target": target,
    }))
}

/// The ACS `secrets` of a container definition: its `secrets` (environment variables of the
/// container) and its `logConfiguration.secretOptions` (options of the log driver, which the
/// agent adds to the container's `LogConfig`). The reference agent injects every
/// `ENVIRONMENT_VARIABLE` secret into the environment whatever its target, so the log-driver
/// ones carry `BOOTSTRAP` (the type the `secrets.*.bootstrap.log-driver` capabilities name).
fn acs_secrets(c: &Value, default_region: &str) -> Vec<Value> {
    let env = arr(c.get("secrets"))
        .into_iter()
        .filter_map(|s| acs_secret(&s, default_region, "ENVIRONMENT_VARIABLE", "CONTAINER"));
    let log = arr(c
        .get("logConfiguration")
        .and_then(|l| l.get("secretOptions")))
    .into_iter()
    .filter_map(|s| acs_secret(&s, default_region, "BOOTSTRAP", "LOG_DRIVER"));
    env.chain(log).collect()
}

/// Whether `image` is in an ECR registry (`<account>.dkr.ecr.<region>.amazonaws.com/...`).
fn is_ecr_image(image: &str) -> bool {
    image
        .split_once('/')
        .is_some_and(|(host, _)| host.contains(".dkr.ecr.") && host.contains(".amazonaws.com"))
}

/// An ACS task, as built here as JSON, that the typed wire model cannot hold.
#[derive(Debug, thiserror::Error)]
#[error("the ACS form of task {task_arn} does not fit the wire model: {source}")]
pub struct PayloadError {
    /// The task.
    pub task_arn: String,
    /// Why it does not fit.
    #[source]
    pub source: serde_json::Error,
}

/// The typed form of the ACS task `json` built for `task_arn` by [`acs_task`] (and completed
/// with registry authentication and role credentials). Members the model has no place for would
/// be dropped; a unit test checks that every payload the translation builds re-encodes unchanged.
pub fn typed_task(task_arn: &str, json: Value) -> Result<AcsTask, PayloadError> {
    serde_json::from_value(json).map_err(|source| PayloadError {
        task_arn: task_arn.to_string(),
        source,
    })
}

/// The ACS `Task` for `task` of definition `def` (reference 3.5).
pub fn acs_task(task: &Task, def: &Value) -> Value {
    let network_mode = def
        .get("networkMode")
        .and_then(Value::as_str)
        .unwrap_or("bridge");
    let (family, version) = task
        .task_definition_arn
        .rsplit_once('/')
        .and_then(|(_, fr)| fr.rsplit_once(':'))
        .unwrap_or(("", "0"));
    let containers: Vec<Value> = arr(def.get("containerDefinitions"))
        .iter()
        .map(|c| acs_container(c, def, task, network_mode))
        .collect();
    let mut out = json!({
        "arn": task.task_arn,
        "taskClusterArn": task.cluster_arn,
        "family": family,
        "version": version,
        "desiredStatus": task.desired_status,
        "containers": containers,
        "volumes": arr(def.get("volumes")).iter().map(crate::ecs::acs_payload::linux::acs_volume).collect::<Vec<_>>(),
        "networkMode": network_mode,
        "launchType": task.launch_type,
        "elasticNetworkInterfaces": [],
        "associations": [],
        "attachments": [],
    });
    let Value::Object(m) = &mut out else {
        return out;
    };
    if let Some(cpu) = task
        .cpu
        .as_deref()
        .and_then(crate::ecs::common::parse_task_size)
    {
        #[allow(clippy::cast_precision_loss)]
        m.insert("cpu".into(), json!(cpu as f64 / 1024.0));
    }
    if let Some(mem) = task
        .memory
        .as_deref()
        .and_then(crate::ecs::common::parse_task_size)
    {
        m.insert("memory".into(), json!(mem));
    }
    for k in ["pidMode", "ipcMode"] {
        if let Some(v) = def.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    if !task.overrides.is_null() {
        m.insert("overrides".into(), json!(task.overrides.to_string()));
    }
    crate::logs::apply_awslogs_to_acs_task(&mut out, def);
    out
}

/// The attributes an instance needs for a definition, as ECS lists them in `requiresAttributes`.
pub fn requires_attributes(def: &Value) -> Vec<Value> {
    let mut names: Vec<&str> = Vec::new();
    let containers = arr(def.get("containerDefinitions"));
    let execution_role = def
        .get("executionRoleArn")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.is_empty());
    if def.get("taskRoleArn").is_some() {
        names.push("com.amazonaws.ecs.capability.task-iam-role");
    }
    if def.get("networkMode").is_some() {
        names.push("com.amazonaws.ecs.capability.docker-remote-api.1.18");
    }
    for c in &containers {
        if c.get("healthCheck").is_some() {
            names.push("ecs.capability.container-health-check");
        }
        if c.get("dependsOn").is_some() {
            names.push("ecs.capability.container-ordering");
        }
        if c.get("privileged").and_then(Value::as_bool) == Some(true) {
            names.push("com.amazonaws.ecs.capability.privileged-container");
        }
        if c.get("repositoryCredentials").is_some() {
            names.push("ecs.capability.private-registry-authentication.secretsmanager");
        }
        if !arr(c.get("environmentFiles")).is_empty() {
            names.push("ecs.capability.env-files.s3");
        }
        for s in arr(c.get("secrets")) {
            let from = s
                .get("valueFrom")
                .and_then(Value::as_str)
                .unwrap_or_default();
            names.push(match secret_provider(from) {
                "asm" => "ecs.capability.secrets.asm.environment-variables",
                _ => "ecs.capability.secrets.ssm.environment-variables",
            });
        }
        for s in arr(c
            .get("logConfiguration")
            .and_then(|l| l.get("secretOptions")))
        {
            let from = s
                .get("valueFrom")
                .and_then(Value::as_str)
                .unwrap_or_default();
            names.push(match secret_provider(from) {
                "asm" => "ecs.capability.secrets.asm.bootstrap.log-driver",
                _ => "ecs.capability.secrets.ssm.bootstrap.log-driver",
            });
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_some_and(is_ecr_image)
        {
            names.push("com.amazonaws.ecs.capability.ecr-auth");
            if execution_role {
                names.push("ecs.capability.execution-role-ecr-pull");
            }
        }
        if let Some(d) = c
            .get("logConfiguration")
            .and_then(|l| l.get("logDriver"))
            .and_then(Value::as_str)
        {
            names.push(match d {
                "awslogs" => "com.amazonaws.ecs.capability.logging-driver.awslogs",
                "syslog" => "com.amazonaws.ecs.capability.logging-driver.syslog",
                "json-file" => "com.amazonaws.ecs.capability.logging-driver.json-file",
                "journald" => "com.amazonaws.ecs.capability.logging-driver.journald",
                "gelf" => "com.amazonaws.ecs.capability.logging-driver.gelf",
                "fluentd" => "com.amazonaws.ecs.capability.logging-driver.fluentd",
                "none" => "com.amazonaws.ecs.capability.logging-driver.none",
                _ => "com.amazonaws.ecs.capability.docker-remote-api.1.19",
            });
        }
    }
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(|n| json!({ "name": n })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_credentials_require_secrets_manager_registry_auth() {
        let def = json!({"containerDefinitions": [{"name": "a", "image": "r.example/app:1",
            "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:r-AbC123"}}]});
        let names: Vec<Value> = requires_attributes(&def);
        assert_eq!(
            names,
            [json!({"name": "ecs.capability.private-registry-authentication.secretsmanager"})]
        );
    }

    #[test]
    fn providers_and_regions_follow_the_value_from() {
        assert_eq!(secret_provider("/a/b"), "ssm");
        assert_eq!(secret_provider("name"), "ssm");
        assert_eq!(
            secret_provider("arn:aws:ssm:us-east-1:1:parameter/a"),
            "ssm"
        );
        assert_eq!(
            secret_provider("arn:aws:secretsmanager:us-east-1:1:secret:a-AbC123"),
            "asm"
        );
        assert_eq!(
            secret_provider("arn:aws-cn:secretsmanager:cn-north-1:1:secret:a"),
            "asm"
        );
        assert_eq!(
            region_of_arn("arn:aws:ssm:eu-west-1:1:parameter/a").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of_arn("/a/b"), None);
    }

    #[test]
    fn ecr_images_require_ecr_auth_and_the_execution_role_pull() {
        let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1";
        let names = |def: Value| -> Vec<String> {
            requires_attributes(&def)
                .iter()
                .map(|a| a["name"].as_str().unwrap().to_string())
                .collect()
        };
        let with_role = names(json!({
            "executionRoleArn": "arn:aws:iam::1:role/e",
            "containerDefinitions": [{"name": "a", "image": image}]
        }));
        assert_eq!(
            with_role,
            [
                "com.amazonaws.ecs.capability.ecr-auth",
                "ecs.capability.execution-role-ecr-pull"
            ]
        );
        let without = names(json!({"containerDefinitions": [{"name": "a", "image": image}]}));
        assert_eq!(without, ["com.amazonaws.ecs.capability.ecr-auth"]);
        let hub = names(json!({"containerDefinitions": [{"name": "a", "image": "nginx"}]}));
        assert!(hub.is_empty(), "{hub:?}");
    }
}
