//! The parts of the task definition → ACS translation for volumes, `linuxParameters` and the
//! task's `pidMode` / `ipcMode` (reference sections 3.5 and 7.4): ACS volumes carry an explicit
//! `type`, and the Linux parameters travel as Docker `HostConfig` keys inside
//! `dockerConfig.hostConfig`, which the agent lays over its own config. Pure functions, called
//! from [`crate::ecs::acs_payload`].

use serde_json::{Map, Value, json};

use crate::ecs::common::def_number;

const MIB: i64 = 1024 * 1024;

/// The ACS form of a task-definition volume: the same members plus `type` (`host`, `docker`,
/// `efs`, `fsxWindowsFileServer`), which the API leaves implicit.
pub fn acs_volume(v: &Value) -> Value {
    let mut out = v.as_object().cloned().unwrap_or_default();
    let kind = if v.get("dockerVolumeConfiguration").is_some() {
        "docker"
    } else if v.get("efsVolumeConfiguration").is_some() {
        "efs"
    } else if v.get("fsxWindowsFileServerVolumeConfiguration").is_some() {
        "fsxWindowsFileServer"
    } else {
        "host"
    };
    out.insert("type".into(), json!(kind));
    Value::Object(out)
}

/// Adds the Docker `HostConfig` keys of container definition `c`'s `linuxParameters` (devices,
/// init, shared memory, tmpfs, swap) and of the task's `pidMode` / `ipcMode` `host` to `host`.
pub fn linux_host_config(c: &Value, def: &Value, host: &mut Map<String, Value>) {
    // `task` (a namespace shared by the task's containers) is the agent's to set up.
    for (k, key) in [("pidMode", "PidMode"), ("ipcMode", "IpcMode")] {
        match def.get(k).and_then(Value::as_str) {
            Some(mode @ ("host" | "none")) if mode == "host" || k == "ipcMode" => {
                host.insert(key.into(), json!(mode));
            }
            _ => {}
        }
    }
    let Some(lp) = c.get("linuxParameters") else {
        return;
    };
    let devices: Vec<Value> = lp
        .get("devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let host_path = d.get("hostPath").cloned().unwrap_or(json!(""));
            let perms: String = d
                .get("permissions")
                .and_then(Value::as_array)
                .map(|p| {
                    p.iter()
                        .filter_map(|x| match x.as_str()? {
                            "read" => Some('r'),
                            "write" => Some('w'),
                            "mknod" => Some('m'),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_else(|| "rwm".into());
            json!({
                "PathOnHost": host_path,
                "PathInContainer": d.get("containerPath").cloned().unwrap_or(host_path.clone()),
                "CgroupPermissions": perms,
            })
        })
        .collect();
    if !devices.is_empty() {
        host.insert("Devices".into(), json!(devices));
    }
    if let Some(init) = lp.get("initProcessEnabled").and_then(Value::as_bool) {
        host.insert("Init".into(), json!(init));
    }
    if let Some(shm) = def_number(lp.get("sharedMemorySize")) {
        host.insert("ShmSize".into(), json!(shm * MIB));
    }
    let mut tmpfs = Map::new();
    for t in lp
        .get("tmpfs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(path) = t.get("containerPath").and_then(Value::as_str) else {
            continue;
        };
        let mut opts: Vec<String> = t
            .get("mountOptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(String::from))
            .collect();
        if let Some(size) = def_number(t.get("size")) {
            opts.push(format!("size={size}m"));
        }
        tmpfs.insert(path.into(), json!(opts.join(",")));
    }
    if !tmpfs.is_empty() {
        host.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    // maxSwap: Docker's MemorySwap is memory + swap (needs a memory limit); 0 disables swap.
    if let Some(swap) = def_number(lp.get("maxSwap")) {
        let memory = def_number(c.get("memory"))
            .or_else(|| def_number(c.get("memoryReservation")))
            .unwrap_or(0);
        if memory > 0 {
            host.insert("MemorySwap".into(), json!((memory + swap) * MIB));
        }
        let swappiness = def_number(lp.get("swappiness")).unwrap_or(60);
        host.insert("MemorySwappiness".into(), json!(swappiness));
    } else if let Some(swappiness) = def_number(lp.get("swappiness")) {
        host.insert("MemorySwappiness".into(), json!(swappiness));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_get_an_explicit_type() {
        assert_eq!(
            acs_volume(&json!({"name": "a", "host": {"sourcePath": "/x"}})),
            json!({"name": "a", "host": {"sourcePath": "/x"}, "type": "host"})
        );
        assert_eq!(acs_volume(&json!({"name": "a"}))["type"], "host");
        assert_eq!(
            acs_volume(&json!({"name": "a", "dockerVolumeConfiguration": {"scope": "task"}}))["type"],
            "docker"
        );
        assert_eq!(
            acs_volume(&json!({"name": "a", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}))["type"],
            "efs"
        );
    }

    #[test]
    fn linux_parameters_become_host_config_keys() {
        let c = json!({
            "memory": 128,
            "linuxParameters": {
                "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "write"]}],
                "initProcessEnabled": true,
                "sharedMemorySize": 64,
                "tmpfs": [{"containerPath": "/run", "size": 16, "mountOptions": ["noexec"]}],
                "maxSwap": 256,
                "swappiness": 10
            }
        });
        let mut host = Map::new();
        linux_host_config(
            &c,
            &json!({"pidMode": "host", "ipcMode": "task"}),
            &mut host,
        );
        assert_eq!(
            Value::Object(host),
            json!({
                "PidMode": "host",
                "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"}],
                "Init": true,
                "ShmSize": 64 * MIB,
                "Tmpfs": {"/run": "noexec,size=16m"},
                "MemorySwap": (128 + 256) * MIB,
                "MemorySwappiness": 10,
            })
        );
    }
}
