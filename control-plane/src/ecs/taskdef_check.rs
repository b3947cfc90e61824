//! RegisterTaskDefinition checks of volumes, mount points, `volumesFrom`, `links` and
//! `dependsOn` (reference sections 4.4 and 7.4): a definition whose volumes or container
//! dependencies can never work is refused with a `ClientException` naming the container and the
//! field, so no task of it ever reaches an agent. Pure; called from
//! [`crate::ecs::state::State::register_task_definition`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::front::ApiError;

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn list<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Checks `def` (the request body). Errs with ECS's exception and a message naming what is wrong.
pub fn check(def: &Value) -> Result<(), ApiError> {
    let network_mode = s(def, "networkMode").unwrap_or("bridge");
    let mut volumes = BTreeSet::new();
    for v in list(def, "volumes") {
        let name = s(v, "name").unwrap_or_default();
        if !volumes.insert(name) {
            return Err(ApiError::client(format!(
                "Invalid 'volumes' setting. Duplicate volume name '{name}'."
            )));
        }
        check_volume(name, v)?;
    }
    let containers = list(def, "containerDefinitions");
    let by_name: BTreeMap<&str, &Value> = containers
        .iter()
        .filter_map(|c| Some((s(c, "name")?, c)))
        .collect();
    for c in containers {
        let name = s(c, "name").unwrap_or_default();
        for mp in list(c, "mountPoints") {
            let source = s(mp, "sourceVolume").unwrap_or_default();
            if !volumes.contains(source) {
                return Err(ApiError::client(format!(
                    "Invalid 'mountPoints' setting for container '{name}'. Unknown volume '{source}': it is not one of the task definition's volumes."
                )));
            }
            if !s(mp, "containerPath").is_some_and(|p| p.starts_with('/')) {
                return Err(ApiError::client(format!(
                    "Invalid 'mountPoints' setting for container '{name}'. 'containerPath' of volume '{source}' must be an absolute path."
                )));
            }
        }
        for vf in list(c, "volumesFrom") {
            let source = s(vf, "sourceContainer").unwrap_or_default();
            if source == name || !by_name.contains_key(source) {
                return Err(ApiError::client(format!(
                    "Invalid 'volumesFrom' setting for container '{name}'. Unknown source container '{source}'."
                )));
            }
        }
        let links = list(c, "links");
        if !links.is_empty() && network_mode != "bridge" {
            return Err(ApiError::client(format!(
                "Links are not supported when networkMode={network_mode}"
            )));
        }
        for l in links {
            let target = l.as_str().unwrap_or_default();
            let target = target.split(':').next().unwrap_or_default();
            if target == name || !by_name.contains_key(target) {
                return Err(ApiError::client(format!(
                    "Invalid 'links' setting for container '{name}'. Unknown container '{target}'."
                )));
            }
        }
        if let Some(period) = c
            .get("restartPolicy")
            .and_then(|r| r.get("restartAttemptPeriod"))
            .and_then(Value::as_i64)
            && !(60..=1800).contains(&period)
        {
            return Err(ApiError::client(format!(
                "Invalid 'restartPolicy' setting for container '{name}'. 'restartAttemptPeriod' must be between 60 and 1800 seconds."
            )));
        }
        for d in list(c, "dependsOn") {
            let target = s(d, "containerName").unwrap_or_default();
            let condition = s(d, "condition").unwrap_or_default();
            let Some(dep) = by_name.get(target).filter(|_| target != name) else {
                return Err(ApiError::client(format!(
                    "Invalid 'dependsOn' setting for container '{name}'. Unknown container '{target}'."
                )));
            };
            match condition {
                "START" => {}
                "COMPLETE" | "SUCCESS" => {
                    if dep.get("essential").and_then(Value::as_bool) != Some(false) {
                        return Err(ApiError::client(format!(
                            "Invalid 'dependsOn' setting for container '{name}'. Container '{target}' is essential and cannot be the target of a {condition} condition: only non-essential containers can exit while the task runs."
                        )));
                    }
                }
                "HEALTHY" => {
                    if dep.get("healthCheck").is_none() {
                        return Err(ApiError::client(format!(
                            "Invalid 'dependsOn' setting for container '{name}'. Container '{target}' has no healthCheck, so it can never be HEALTHY."
                        )));
                    }
                }
                other => {
                    return Err(ApiError::client(format!(
                        "Invalid 'dependsOn' setting for container '{name}'. Unknown condition '{other}': expected START, COMPLETE, SUCCESS or HEALTHY."
                    )));
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(containers) {
        return Err(ApiError::client(format!(
            "Invalid container dependencies: circular dependency between containers [{}].",
            cycle.join(" -> ")
        )));
    }
    Ok(())
}

fn check_volume(name: &str, v: &Value) -> Result<(), ApiError> {
    let bad = |m: &str| {
        ApiError::client(format!(
            "Invalid 'volumes' setting for volume '{name}'. {m}"
        ))
    };
    let kinds = [
        "host",
        "dockerVolumeConfiguration",
        "efsVolumeConfiguration",
    ]
    .iter()
    .filter(|k| v.get(**k).is_some())
    .count();
    if kinds > 1 {
        return Err(bad(
            "Only one of 'host', 'dockerVolumeConfiguration' and 'efsVolumeConfiguration' can be set.",
        ));
    }
    if let Some(path) = v.get("host").and_then(|h| s(h, "sourcePath"))
        && !path.is_empty()
        && !path.starts_with('/')
    {
        return Err(bad("'host.sourcePath' must be an absolute path."));
    }
    if let Some(d) = v.get("dockerVolumeConfiguration") {
        let scope = s(d, "scope").unwrap_or("task");
        if scope != "task" && scope != "shared" {
            return Err(bad("'scope' must be one of task, shared."));
        }
        if scope == "task" && d.get("autoprovision").and_then(Value::as_bool) == Some(true) {
            return Err(bad(
                "'autoprovision' can be true only for volumes with scope 'shared'.",
            ));
        }
    }
    if let Some(e) = v.get("efsVolumeConfiguration") {
        if s(e, "fileSystemId").is_none_or(str::is_empty) {
            return Err(bad("'efsVolumeConfiguration.fileSystemId' is required."));
        }
        let tls = s(e, "transitEncryption") == Some("ENABLED");
        let auth = e.get("authorizationConfig");
        let ap = auth.and_then(|a| s(a, "accessPointId")).is_some();
        let iam = auth.and_then(|a| s(a, "iam")) == Some("ENABLED");
        if !tls && e.get("transitEncryptionPort").is_some() {
            return Err(bad(
                "'transitEncryptionPort' requires 'transitEncryption' to be ENABLED.",
            ));
        }
        if !tls && (ap || iam) {
            return Err(bad(
                "An access point or IAM authorization requires 'transitEncryption' to be ENABLED.",
            ));
        }
        if ap && s(e, "rootDirectory").is_some_and(|r| !r.is_empty() && r != "/") {
            return Err(bad(
                "'rootDirectory' must be omitted or '/' when an access point is used.",
            ));
        }
    }
    Ok(())
}

/// A cycle through `dependsOn`, `links` and `volumesFrom`, as container names, if there is one.
fn find_cycle(containers: &[Value]) -> Option<Vec<String>> {
    let names: Vec<&str> = containers
        .iter()
        .map(|c| s(c, "name").unwrap_or_default())
        .collect();
    let index = |n: &str| names.iter().position(|x| *x == n);
    let edges: Vec<Vec<usize>> = containers
        .iter()
        .map(|c| {
            let deps = list(c, "dependsOn")
                .iter()
                .filter_map(|d| s(d, "containerName"));
            let links = list(c, "links")
                .iter()
                .filter_map(|l| l.as_str()?.split(':').next());
            let vf = list(c, "volumesFrom")
                .iter()
                .filter_map(|v| s(v, "sourceContainer"));
            deps.chain(links).chain(vf).filter_map(index).collect()
        })
        .collect();
    fn visit(i: usize, edges: &[Vec<usize>], colour: &mut [u8], path: &mut Vec<usize>) -> bool {
        colour[i] = 1;
        path.push(i);
        for &j in &edges[i] {
            if colour[j] == 1 {
                path.push(j);
                return true;
            }
            if colour[j] == 0 && visit(j, edges, colour, path) {
                return true;
            }
        }
        path.pop();
        colour[i] = 2;
        false
    }
    let mut colour = vec![0u8; containers.len()];
    for i in 0..containers.len() {
        let mut path = Vec::new();
        if colour[i] == 0 && visit(i, &edges, &mut colour, &mut path) {
            let start = path.last().copied().unwrap_or(i);
            let from = path.iter().position(|&k| k == start).unwrap_or(0);
            return Some(path[from..].iter().map(|&k| names[k].to_owned()).collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(containers: Value, volumes: Value) -> Value {
        json!({"family": "f", "containerDefinitions": containers, "volumes": volumes})
    }

    fn msg(v: &Value) -> String {
        check(v).unwrap_err().message
    }

    #[test]
    fn good_definitions_pass() {
        let d = def(
            json!([
                {"name": "init", "essential": false},
                {"name": "db", "healthCheck": {"command": ["CMD", "true"]}},
                {"name": "app", "links": ["db:database"],
                 "mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}],
                 "volumesFrom": [{"sourceContainer": "db", "readOnly": true}],
                 "dependsOn": [{"containerName": "init", "condition": "SUCCESS"},
                               {"containerName": "db", "condition": "HEALTHY"}]}
            ]),
            json!([{"name": "data", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true}}]),
        );
        check(&d).unwrap();
    }

    #[test]
    fn bad_references_name_the_container_and_field() {
        let d = def(
            json!([{"name": "app", "mountPoints": [{"sourceVolume": "nope", "containerPath": "/d"}]}]),
            json!([]),
        );
        assert_eq!(
            msg(&d),
            "Invalid 'mountPoints' setting for container 'app'. Unknown volume 'nope': it is not one of the task definition's volumes."
        );
        let d = def(
            json!([{"name": "app", "dependsOn": [{"containerName": "ghost", "condition": "START"}]}]),
            json!([]),
        );
        assert!(msg(&d).contains("Unknown container 'ghost'"));
        let d = def(
            json!([{"name": "init"}, {"name": "app", "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]}]),
            json!([]),
        );
        assert!(msg(&d).contains("is essential"));
        let d = def(
            json!([{"name": "db"}, {"name": "app", "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]}]),
            json!([]),
        );
        assert!(msg(&d).contains("no healthCheck"));
        let d = def(
            json!([
                {"name": "a", "dependsOn": [{"containerName": "b", "condition": "START"}]},
                {"name": "b", "volumesFrom": [{"sourceContainer": "a"}]}
            ]),
            json!([]),
        );
        assert_eq!(
            msg(&d),
            "Invalid container dependencies: circular dependency between containers [a -> b -> a]."
        );
    }

    #[test]
    fn bad_volumes_are_refused() {
        let c = json!([{"name": "app"}]);
        assert!(msg(&def(c.clone(), json!([{"name": "v"}, {"name": "v"}]))).contains("Duplicate"));
        assert!(
            msg(&def(
                c.clone(),
                json!([{"name": "v", "dockerVolumeConfiguration": {"scope": "task", "autoprovision": true}}])
            ))
            .contains("autoprovision")
        );
        assert!(
            msg(&def(
                c.clone(),
                json!([{"name": "v", "host": {"sourcePath": "rel"}}])
            ))
            .contains("absolute")
        );
        assert!(
            msg(&def(
                c.clone(),
                json!([{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "authorizationConfig": {"iam": "ENABLED"}}}])
            ))
            .contains("transitEncryption")
        );
        assert!(
            msg(&def(
                c,
                json!([{"name": "v", "efsVolumeConfiguration": {}}])
            ))
            .contains("fileSystemId")
        );
    }
}
