//! The environment the agent adds to each task container (reference sections 5 and 6):
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` for tasks with a task role, the task metadata URIs,
//! the region unless the task sets it, and `AWS_EXECUTION_ENV`; and the per-container ids those
//! URIs carry ([`ids::EndpointIds`]). Pure.
//!
//! It also refuses a task with a role on a host that does not offer it
//! (`ECS_ENABLE_TASK_IAM_ROLE`, `ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST`).
//!
//! The task engine writes this environment and the endpoint ([`crate::endpoint`]) serves the
//! addresses in it; both depend on this module, which depends on neither.

pub mod ids;

use ecs_protocol::NetworkMode;
use ecs_protocol::acs::Task;

/// Address containers reach the credentials and metadata server at.
pub const ADDRESS_FOR_TASKS: &str = "169.254.170.2";

/// Why a task cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefused {
    /// Task IAM roles are disabled.
    #[error(
        "task {task_arn}: container {container}: the task has an IAM role but task IAM roles are disabled on this instance (ECS_ENABLE_TASK_IAM_ROLE=false)"
    )]
    Disabled {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
    },
    /// Task IAM roles are disabled for host network mode.
    #[error(
        "task {task_arn}: container {container}: the task has an IAM role and uses host network mode, but task IAM roles for host network mode are disabled on this instance (ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false)"
    )]
    HostNetworkDisabled {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
    },
}

/// Adds the agent's variables to `env` (`K=V` strings) for container `container` of `task`,
/// whose metadata id is `endpoint_id`, and keeps `env` sorted.
pub fn add_task_env(
    env: &mut Vec<String>,
    task: &Task,
    container: &str,
    endpoint_id: &str,
    config: &ecs_config::Config,
) -> Result<(), RoleRefused> {
    let task_arn = task.arn.clone().unwrap_or_default();
    let role_id = task
        .role_credentials
        .as_ref()
        .and_then(|c| c.credentials_id.as_deref())
        .filter(|id| !id.is_empty());
    if role_id.is_some() {
        if !config.enable_task_iam_role.value {
            return Err(RoleRefused::Disabled {
                task_arn,
                container: container.to_string(),
            });
        }
        if task.network_mode == Some(NetworkMode::Host)
            && !config.enable_task_iam_role_network_host.value
        {
            return Err(RoleRefused::HostNetworkDisabled {
                task_arn,
                container: container.to_string(),
            });
        }
    }
    let has = |env: &Vec<String>, key: &str| {
        env.iter()
            .any(|kv| kv.split_once('=').is_some_and(|(k, _)| k == key))
    };
    let set = |env: &mut Vec<String>, key: &str, value: String| {
        env.retain(|kv| kv.split_once('=').is_none_or(|(k, _)| k != key));
        env.push(format!("{key}={value}"));
    };
    if let Some(id) = role_id {
        set(
            env,
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            format!("/v2/credentials/{id}"),
        );
    }
    set(
        env,
        "ECS_CONTAINER_METADATA_URI",
        format!("http://{ADDRESS_FOR_TASKS}/v3/{endpoint_id}"),
    );
    set(
        env,
        "ECS_CONTAINER_METADATA_URI_V4",
        format!("http://{ADDRESS_FOR_TASKS}/v4/{endpoint_id}"),
    );
    if let Some(region) = config.region().filter(|r| !r.is_empty()) {
        for key in ["AWS_DEFAULT_REGION", "AWS_REGION"] {
            if !has(env, key) {
                set(env, key, region.to_string());
            }
        }
    }
    let execution_env = if config.external.value {
        "AWS_ECS_EXTERNAL"
    } else {
        "AWS_ECS_EC2"
    };
    set(env, "AWS_EXECUTION_ENV", execution_env.to_string());
    env.sort();
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ecs_protocol::acs::IamRoleCredentials;

    fn config(vars: &[(&str, &str)]) -> ecs_config::Config {
        let mut env: Vec<(String, String)> =
            vec![("AWS_DEFAULT_REGION".into(), "eu-west-3".into())];
        env.extend(
            vars.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        );
        ecs_config::load(&ecs_config::Sources {
            env: env.into_iter().collect(),
            ..ecs_config::Sources::default()
        })
        .config
    }

    fn task(role: bool, mode: Option<NetworkMode>) -> Task {
        Task {
            arn: Some("arn:aws:ecs:eu-west-3:1:task/c/t1".into()),
            network_mode: mode,
            role_credentials: role.then(|| IamRoleCredentials {
                credentials_id: Some("cred-id".into()),
                ..IamRoleCredentials::default()
            }),
            ..Task::default()
        }
    }

    #[test]
    fn a_task_with_a_role_gets_the_credentials_uri_and_metadata_uris() {
        let mut env = vec!["ZED=1".to_string()];
        add_task_env(&mut env, &task(true, None), "web", "eid", &config(&[])).unwrap();
        assert_eq!(
            env,
            [
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/cred-id",
                "AWS_DEFAULT_REGION=eu-west-3",
                "AWS_EXECUTION_ENV=AWS_ECS_EC2",
                "AWS_REGION=eu-west-3",
                "ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/eid",
                "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/eid",
                "ZED=1",
            ]
        );
    }

    #[test]
    fn the_tasks_own_region_wins_and_external_is_named() {
        let mut env = vec!["AWS_REGION=us-west-2".to_string()];
        let cfg = config(&[("ECS_EXTERNAL", "true")]);
        add_task_env(&mut env, &task(false, None), "web", "eid", &cfg).unwrap();
        assert!(env.contains(&"AWS_REGION=us-west-2".to_string()));
        assert!(env.contains(&"AWS_DEFAULT_REGION=eu-west-3".to_string()));
        assert!(env.contains(&"AWS_EXECUTION_ENV=AWS_ECS_EXTERNAL".to_string()));
        assert!(
            !env.iter()
                .any(|e| e.starts_with("AWS_CONTAINER_CREDENTIALS"))
        );
    }

    #[test]
    fn roles_are_refused_where_disabled() {
        let cfg = config(&[("ECS_ENABLE_TASK_IAM_ROLE", "false")]);
        let e = add_task_env(&mut Vec::new(), &task(true, None), "web", "eid", &cfg).unwrap_err();
        assert!(
            e.to_string().contains("ECS_ENABLE_TASK_IAM_ROLE=false"),
            "{e}"
        );
        assert!(e.to_string().contains("arn:aws:ecs:eu-west-3:1:task/c/t1"));
        let cfg = config(&[("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false")]);
        let e = add_task_env(
            &mut Vec::new(),
            &task(true, Some(NetworkMode::Host)),
            "web",
            "eid",
            &cfg,
        )
        .unwrap_err();
        assert!(matches!(e, RoleRefused::HostNetworkDisabled { .. }));
        // Without a role nothing is refused.
        add_task_env(
            &mut Vec::new(),
            &task(false, Some(NetworkMode::Host)),
            "w",
            "e",
            &cfg,
        )
        .unwrap();
    }
}
