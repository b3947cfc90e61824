//! Task definition → ACS task, as the real control plane translates it (reference section 3.5 and the
//! `dockerConfig` appendix): the fields that have no ACS member travel as Docker Engine JSON inside
//! `dockerConfig.config` / `dockerConfig.hostConfig` strings. Pure functions.

use serde_json::{Map, Value, json};

use crate::ecs::def_number;
use crate::model::Task;

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
    crate::acs_linux::linux_host_config(c, def, &mut host);
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
        "secrets",
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
        "volumes": arr(def.get("volumes")).iter().map(crate::acs_linux::acs_volume).collect::<Vec<_>>(),
        "networkMode": network_mode,
        "launchType": task.launch_type,
        "elasticNetworkInterfaces": [],
        "associations": [],
        "attachments": [],
    });
    let Value::Object(m) = &mut out else {
        return out;
    };
    if let Some(cpu) = task.cpu.as_deref().and_then(crate::ecs::parse_task_size) {
        #[allow(clippy::cast_precision_loss)]
        m.insert("cpu".into(), json!(cpu as f64 / 1024.0));
    }
    if let Some(mem) = task.memory.as_deref().and_then(crate::ecs::parse_task_size) {
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
