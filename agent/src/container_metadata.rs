//! The container metadata file (`ECS_ENABLE_CONTAINER_METADATA`), as the reference writes it
//! (`agent/containermetadata`): `ecs-container-metadata.json` in
//! `ECS_HOST_DATA_DIR/data/metadata/<task id>/<container name>/`, bind-mounted into the container
//! at `/opt/ecs/metadata/<random uuid>/`, whose path the container finds in
//! `ECS_CONTAINER_METADATA_FILE`. Written at create (`MetadataFileStatus: INITIAL`, what the agent
//! knows), rewritten once the container runs (`READY`, with Docker's id, image id, ports and
//! networks), removed with the task. Every write goes to a temporary file renamed over the old.
//!
//! The reference runs in a container whose `/data` is `ECS_HOST_DATA_DIR/data` on the host; this
//! agent runs on the host and writes that host path directly.
//!
//! What it must not do: fail a task because the file could not be written after the container
//! started (the reference logs that and goes on); a failure at create fails the create, as there.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::runtime::{ContainerInfo, Protocol};

/// The variable that names the file inside the container.
pub const ENV_VAR: &str = "ECS_CONTAINER_METADATA_FILE";
/// The file's name.
pub const FILE_NAME: &str = "ecs-container-metadata.json";
/// Where the directory is mounted in the container (a random directory below it).
pub const MOUNT_POINT: &str = "/opt/ecs/metadata";

/// Why a metadata file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("container metadata file {path}: {message}")]
pub struct MetadataError {
    /// The file or directory.
    pub path: PathBuf,
    /// The OS's words.
    pub message: String,
}

/// Where metadata files go and what every one of them says about the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFiles {
    /// `ECS_HOST_DATA_DIR/data/metadata`.
    root: PathBuf,
    cluster: String,
    instance_arn: String,
}

/// What a container sees: the bind to add and the variable to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `HostConfig.Binds` entry: `<host dir>:/opt/ecs/metadata/<uuid>`.
    pub bind: String,
    /// `ECS_CONTAINER_METADATA_FILE=/opt/ecs/metadata/<uuid>/ecs-container-metadata.json`.
    pub env: String,
}

/// The file's content (the reference's `metadataSerializer`; empty members left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(
        rename = "ContainerInstanceARN",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_instance_arn: String,
    #[serde(rename = "TaskARN", skip_serializing_if = "String::is_empty")]
    pub task_arn: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task_definition_family: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task_definition_revision: String,
    #[serde(rename = "ContainerID", skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub docker_container_name: String,
    #[serde(rename = "ImageID", skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
    /// `INITIAL` or `READY`.
    pub metadata_file_status: &'static str,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortMapping {
    pub container_port: u16,
    pub host_port: u16,
    #[serde(rename = "BindIp")]
    pub bind_ip: String,
    pub protocol: &'static str,
}

/// One network of the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    #[serde(rename = "NetworkMode")]
    pub network_mode: String,
    #[serde(rename = "IPv4Addresses", skip_serializing_if = "Vec::is_empty")]
    pub ipv4_addresses: Vec<String>,
}

/// The task and container a file is about.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'a> {
    pub task_arn: &'a str,
    pub family: &'a str,
    pub revision: &'a str,
    pub container_name: &'a str,
    pub docker_name: &'a str,
    pub image: &'a str,
}

impl MetadataFiles {
    /// Files under `host_data_dir/data/metadata`, naming `cluster` and `instance_arn`.
    pub fn new(host_data_dir: &Path, cluster: &str, instance_arn: &str) -> Self {
        MetadataFiles {
            root: host_data_dir.join("data").join("metadata"),
            cluster: cluster.to_owned(),
            instance_arn: instance_arn.to_owned(),
        }
    }

    /// From the configuration: `None` unless `ECS_ENABLE_CONTAINER_METADATA` is on.
    pub fn from_config(config: &ecs_config::Config, instance_arn: &str) -> Option<Self> {
        config.enable_container_metadata.value.then(|| {
            Self::new(
                &config.host_data_dir.value,
                &config.cluster.value,
                instance_arn,
            )
        })
    }

    fn task_dir(&self, task_arn: &str) -> PathBuf {
        self.root.join(crate::cgroup::task_id(task_arn))
    }

    fn container_dir(&self, task_arn: &str, container: &str) -> PathBuf {
        self.task_dir(task_arn).join(container)
    }

    fn base(&self, c: &ContainerRef<'_>) -> Metadata {
        Metadata {
            cluster: self.cluster.clone(),
            container_instance_arn: self.instance_arn.clone(),
            task_arn: c.task_arn.to_owned(),
            task_definition_family: c.family.to_owned(),
            task_definition_revision: c.revision.to_owned(),
            container_name: c.container_name.to_owned(),
            docker_container_name: c.docker_name.to_owned(),
            image_name: c.image.to_owned(),
            metadata_file_status: "INITIAL",
            ..Metadata::default()
        }
    }

    /// Before create: writes the `INITIAL` file and says what to mount and set.
    pub fn create(&self, c: &ContainerRef<'_>) -> Result<Mount, MetadataError> {
        let dir = self.container_dir(c.task_arn, c.container_name);
        std::fs::create_dir_all(&dir).map_err(|e| MetadataError {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        write(&dir, &self.base(c))?;
        let id = uuid::Uuid::new_v4();
        Ok(Mount {
            bind: format!("{}:{MOUNT_POINT}/{id}", dir.display()),
            env: format!("{ENV_VAR}={MOUNT_POINT}/{id}/{FILE_NAME}"),
        })
    }

    /// Once running: rewrites the file `READY` with what Docker says.
    pub fn update(
        &self,
        c: &ContainerRef<'_>,
        info: &ContainerInfo,
        network_mode: &str,
    ) -> Result<(), MetadataError> {
        let metadata = Metadata {
            container_id: info.id.clone(),
            docker_container_name: format!("/{}", info.name),
            image_id: info.image_id.clone(),
            port_mappings: info
                .ports
                .iter()
                .map(|p| PortMapping {
                    container_port: p.container_port,
                    host_port: p.host_port,
                    bind_ip: p.bind_ip().to_string(),
                    protocol: match p.protocol {
                        Protocol::Tcp => "tcp",
                        Protocol::Udp => "udp",
                    },
                })
                .collect(),
            networks: vec![Network {
                network_mode: network_mode.to_owned(),
                ipv4_addresses: info.ipv4_addresses.clone(),
            }],
            metadata_file_status: "READY",
            ..self.base(c)
        };
        write(&self.container_dir(c.task_arn, c.container_name), &metadata)
    }

    /// At task cleanup: removes the task's directory (a missing one is fine).
    pub fn clean(&self, task_arn: &str) {
        let dir = self.task_dir(task_arn);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(task_arn, path = %dir.display(), error = %e, "cannot remove container metadata");
            }
        }
    }
}

/// Writes `metadata` to `dir/ecs-container-metadata.json` through a temporary file (0644, as the
/// reference: the container's user must read it).
fn write(dir: &Path, metadata: &Metadata) -> Result<(), MetadataError> {
    let path = dir.join(FILE_NAME);
    let err = |p: &Path, e: &dyn std::fmt::Display| MetadataError {
        path: p.to_owned(),
        message: e.to_string(),
    };
    let text = serde_json::to_vec_pretty(metadata).map_err(|e| err(&path, &e))?;
    let temp = dir.join(format!(
        "temp_metadata_file.{}",
        uuid::Uuid::new_v4().simple()
    ));
    let written = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o644)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(&text)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(err(&path, &e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::PortSpec;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/c/abc123";

    fn web() -> ContainerRef<'static> {
        ContainerRef {
            task_arn: ARN,
            family: "webapp",
            revision: "3",
            container_name: "web",
            docker_name: "ecs-webapp-3-web-a1",
            image: "nginx:1",
        }
    }

    fn read(path: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn initial_at_create_ready_once_running_gone_at_cleanup() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let files = MetadataFiles::new(tmp.path(), "prod", "arn:ci");
        let mount = files.create(&web()).unwrap();
        let dir = tmp.path().join("data/metadata/abc123/web");
        let (host, inside) = mount.bind.split_once(':').unwrap();
        assert_eq!(Path::new(host), dir);
        assert!(inside.starts_with("/opt/ecs/metadata/"));
        assert_eq!(
            mount.env,
            format!("ECS_CONTAINER_METADATA_FILE={inside}/ecs-container-metadata.json")
        );
        let file = dir.join(FILE_NAME);
        let initial = read(&file);
        assert_eq!(initial["MetadataFileStatus"], "INITIAL");
        assert_eq!(initial["Cluster"], "prod");
        assert_eq!(initial["ContainerInstanceARN"], "arn:ci");
        assert_eq!(initial["TaskARN"], ARN);
        assert_eq!(initial["TaskDefinitionFamily"], "webapp");
        assert_eq!(initial["TaskDefinitionRevision"], "3");
        assert_eq!(initial["ContainerName"], "web");
        assert_eq!(initial["ImageName"], "nginx:1");
        assert!(initial.get("ContainerID").is_none());
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o644
        );

        let info = ContainerInfo {
            id: "c0ffee".into(),
            name: "ecs-webapp-3-web-a1".into(),
            image_id: "sha256:1".into(),
            status: "running".into(),
            ports: vec![PortSpec {
                container_port: 80,
                host_port: 49153,
                protocol: Protocol::Tcp,
                host_ip: None,
            }],
            ipv4_addresses: vec!["172.17.0.2".into()],
            ..ContainerInfo::default()
        };
        files.update(&web(), &info, "bridge").unwrap();
        let ready = read(&file);
        assert_eq!(ready["MetadataFileStatus"], "READY");
        assert_eq!(ready["ContainerID"], "c0ffee");
        assert_eq!(ready["DockerContainerName"], "/ecs-webapp-3-web-a1");
        assert_eq!(ready["ImageID"], "sha256:1");
        assert_eq!(
            ready["PortMappings"],
            serde_json::json!([{"ContainerPort": 80, "HostPort": 49153, "BindIp": "0.0.0.0", "Protocol": "tcp"}])
        );
        assert_eq!(
            ready["Networks"],
            serde_json::json!([{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.2"]}])
        );
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

        files.clean(ARN);
        assert!(!tmp.path().join("data/metadata/abc123").exists());
        files.clean(ARN);
    }

    #[test]
    fn only_when_enabled() {
        let mut config = ecs_config::Config::default();
        assert_eq!(MetadataFiles::from_config(&config, "arn:ci"), None);
        config.enable_container_metadata.value = true;
        config.host_data_dir.value = PathBuf::from("/var/lib/ecs");
        assert_eq!(
            MetadataFiles::from_config(&config, "arn:ci").map(|f| f.root),
            Some(PathBuf::from("/var/lib/ecs/data/metadata"))
        );
    }
}
