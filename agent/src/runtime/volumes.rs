//! Task volumes (reference section 7.4, `agent/api/task/task.go` `initializeDockerVolumes`,
//! `addSharedVolumes`, `addEFSVolumes`): what each volume of a task becomes on this host, the
//! `HostConfig.Binds` of each container's `mountPoints`, and the Docker calls that make the
//! volumes exist before any container is created.
//!
//! | volume | becomes |
//! |---|---|
//! | `host` with `sourcePath` | a bind of that path |
//! | `host` without `sourcePath` | a task-scoped `local` volume `ecs-<family>-<version>-<name>-<hex>` |
//! | `docker`, scope `task` | a task-scoped volume with the driver, options and labels given |
//! | `docker`, scope `shared` | the volume named as the task volume; created when missing and `autoprovision`, else it must exist; with `ECS_SHARED_VOLUME_MATCH_FULL_CONFIG` an existing one must have the labels and options asked for |
//! | `efs` | a task-scoped `local` volume mounting the file system over NFS 4.1 (transit encryption and IAM authorization need the EFS mount helper and are refused) |
//!
//! [`plan`] and [`binds`] are pure; [`provision`] talks to the runtime. Task-scoped volumes are
//! removed with the task ([`crate::engine`] cleanup); shared ones outlive it.

use std::collections::BTreeMap;

use ecs_protocol::acs::{Container, EfsSetting, Task, Volume, VolumeScope, VolumeType};

use super::{ContainerRuntime, RuntimeError, VolumeSpec};

/// Why a task's volumes cannot be set up. Every variant names the task and the volume (or the
/// container and mount point).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    /// The volume definition is unusable (missing name, bad path, unsupported type or setting).
    #[error("task {task_arn}: volume {volume}: {message}")]
    Invalid {
        /// Task ARN.
        task_arn: String,
        /// Volume name (empty when it has none).
        volume: String,
        /// What is wrong.
        message: String,
    },
    /// A container's mount point is unusable.
    #[error("task {task_arn}: container {container}: mountPoints[{index}]: {message}")]
    MountPoint {
        /// Task ARN.
        task_arn: String,
        /// Container name.
        container: String,
        /// Index in `mountPoints`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Docker refused or failed, or a shared volume is missing or different.
    #[error("task {task_arn}: volume {volume}: {message}")]
    Provision {
        /// Task ARN.
        task_arn: String,
        /// Volume name.
        volume: String,
        /// Docker's words, or what does not match.
        message: String,
    },
}

/// What one task volume becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provision {
    /// Bind this host path.
    Bind {
        /// Absolute host path.
        path: String,
    },
    /// A volume created for the task and removed with it.
    TaskScoped(VolumeSpec),
    /// A volume shared between tasks, named as the task volume.
    Shared {
        /// Driver, options and labels to create it with (or to match).
        spec: VolumeSpec,
        /// Create it when it does not exist.
        autoprovision: bool,
    },
}

impl Provision {
    /// What a bind string starts with: the host path or the Docker volume name.
    pub fn source(&self) -> &str {
        match self {
            Provision::Bind { path } => path,
            Provision::TaskScoped(spec) | Provision::Shared { spec, .. } => &spec.name,
        }
    }
}

/// One task volume and what it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedVolume {
    /// Name in the task definition.
    pub name: String,
    /// What it becomes.
    pub provision: Provision,
}

/// The EFS local-driver NFS options, as the reference builds them (`dockervolume_efs.go`).
pub fn efs_driver_opts(
    file_system_id: &str,
    root_directory: &str,
    region: &str,
) -> BTreeMap<String, String> {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    BTreeMap::from([
        ("type".to_owned(), "nfs".to_owned()),
        ("device".to_owned(), format!(":{root_directory}")),
        (
            "o".to_owned(),
            format!(
                "addr={file_system_id}.efs.{region}.{domain},nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
            ),
        ),
    ])
}

/// The region of a task ARN (`arn:aws:ecs:<region>:...`).
fn region_of(task_arn: &str) -> &str {
    task_arn.split(':').nth(3).unwrap_or_default()
}

/// Decides what every volume of `task` becomes. `named` holds the Docker names of task-scoped
/// volumes chosen earlier (kept across restarts); a task-scoped volume without one gets a fresh
/// `ecs-<family>-<version>-<name>-<hex>` name.
pub fn plan(
    task: &Task,
    named: &BTreeMap<String, String>,
) -> Result<Vec<PlannedVolume>, VolumeError> {
    let task_arn = task.arn.clone().unwrap_or_default();
    let family = task.family.as_deref().unwrap_or_default();
    let version = task.version.as_deref().unwrap_or_default();
    let mut out: Vec<PlannedVolume> = Vec::new();
    for volume in task.volumes() {
        let name = volume.name.clone().unwrap_or_default();
        let invalid = |message: String| VolumeError::Invalid {
            task_arn: task_arn.clone(),
            volume: name.clone(),
            message,
        };
        if name.is_empty() {
            return Err(invalid("a volume must have a name".into()));
        }
        if out.iter().any(|p| p.name == name) {
            return Err(invalid("the volume name is used twice".into()));
        }
        let scoped_name = || {
            named.get(&name).cloned().unwrap_or_else(|| {
                format!("ecs-{family}-{version}-{name}-{}", super::spec::rand_hex())
            })
        };
        let provision = provision_of(volume, &task_arn, scoped_name).map_err(invalid)?;
        out.push(PlannedVolume { name, provision });
    }
    Ok(out)
}

fn provision_of(
    volume: &Volume,
    task_arn: &str,
    scoped_name: impl FnOnce() -> String,
) -> Result<Provision, String> {
    match volume.effective_type() {
        VolumeType::Host => {
            let path = volume
                .host
                .as_ref()
                .and_then(|h| h.source_path.clone())
                .unwrap_or_default();
            if path.is_empty() {
                return Ok(Provision::TaskScoped(VolumeSpec {
                    name: scoped_name(),
                    driver: "local".into(),
                    ..VolumeSpec::default()
                }));
            }
            if !path.starts_with('/') {
                return Err(format!("host.sourcePath {path:?} must be an absolute path"));
            }
            Ok(Provision::Bind { path })
        }
        VolumeType::Docker => {
            let Some(cfg) = &volume.docker_volume_configuration else {
                return Err("type docker without dockerVolumeConfiguration".into());
            };
            let driver = cfg.driver.clone().unwrap_or_default();
            let driver_opts = cfg.driver_opts.clone().unwrap_or_default();
            let labels = cfg.labels.clone().unwrap_or_default();
            match cfg.scope.clone().unwrap_or(VolumeScope::Task) {
                VolumeScope::Task => Ok(Provision::TaskScoped(VolumeSpec {
                    name: scoped_name(),
                    driver,
                    driver_opts,
                    labels,
                })),
                VolumeScope::Shared => Ok(Provision::Shared {
                    spec: VolumeSpec {
                        name: volume.name.clone().unwrap_or_default(),
                        driver,
                        driver_opts,
                        labels,
                    },
                    autoprovision: cfg.autoprovision.unwrap_or(false),
                }),
                VolumeScope::Unknown(s) => Err(format!(
                    "dockerVolumeConfiguration.scope {s:?} is not one of task, shared"
                )),
            }
        }
        VolumeType::Efs => {
            let Some(cfg) = &volume.efs_volume_configuration else {
                return Err("type efs without efsVolumeConfiguration".into());
            };
            let fs = cfg.file_system_id.clone().unwrap_or_default();
            if fs.is_empty() {
                return Err("efsVolumeConfiguration.fileSystemId is required".into());
            }
            if cfg.transit_encryption == Some(EfsSetting::Enabled) {
                return Err("EFS transit encryption (transitEncryption ENABLED) is not supported on this instance: it needs the EFS mount helper (amazon-ecs-volume-plugin), which is not installed".into());
            }
            if let Some(auth) = &cfg.authorization_config {
                if auth.iam == Some(EfsSetting::Enabled) {
                    return Err("EFS IAM authorization (authorizationConfig.iam ENABLED) is not supported on this instance: it needs the EFS mount helper (amazon-ecs-volume-plugin), which is not installed".into());
                }
                if auth
                    .access_point_id
                    .as_deref()
                    .is_some_and(|a| !a.is_empty())
                {
                    return Err("EFS access points (authorizationConfig.accessPointId) are not supported on this instance: they need the EFS mount helper (amazon-ecs-volume-plugin), which is not installed".into());
                }
            }
            let root = cfg
                .root_directory
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "/".into());
            if !root.starts_with('/') {
                return Err(format!(
                    "efsVolumeConfiguration.rootDirectory {root:?} must be an absolute path"
                ));
            }
            Ok(Provision::TaskScoped(VolumeSpec {
                name: scoped_name(),
                driver: "local".into(),
                driver_opts: efs_driver_opts(&fs, &root, region_of(task_arn)),
                labels: BTreeMap::new(),
            }))
        }
        other => Err(format!(
            "volume type {} is not supported on this instance",
            other.as_str()
        )),
    }
}

/// `HostConfig.Binds` of `container`: `<source>:<containerPath>[:ro]` per mount point.
pub fn binds(
    task_arn: &str,
    container: &Container,
    volumes: &[PlannedVolume],
) -> Result<Vec<String>, VolumeError> {
    let name = container.name.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (index, mp) in container.mount_points().iter().enumerate() {
        let bad = |message: String| VolumeError::MountPoint {
            task_arn: task_arn.to_owned(),
            container: name.clone(),
            index,
            message,
        };
        let source = mp.source_volume.clone().unwrap_or_default();
        let Some(volume) = volumes.iter().find(|v| v.name == source) else {
            return Err(bad(format!(
                "sourceVolume {source:?} is not a volume of the task"
            )));
        };
        let path = mp.container_path.clone().unwrap_or_default();
        if !path.starts_with('/') {
            return Err(bad(format!(
                "containerPath {path:?} must be an absolute path"
            )));
        }
        let ro = if mp.read_only == Some(true) {
            ":ro"
        } else {
            ""
        };
        out.push(format!("{}:{path}{ro}", volume.provision.source()));
    }
    Ok(out)
}

/// Makes the planned volumes exist: creates task-scoped ones, and checks or creates shared ones.
/// `match_full_config` is `ECS_SHARED_VOLUME_MATCH_FULL_CONFIG`.
pub async fn provision<R: ContainerRuntime + ?Sized>(
    rt: &R,
    task_arn: &str,
    volumes: &[PlannedVolume],
    match_full_config: bool,
) -> Result<(), VolumeError> {
    for v in volumes {
        let fail = |message: String| VolumeError::Provision {
            task_arn: task_arn.to_owned(),
            volume: v.name.clone(),
            message,
        };
        let docker = |e: RuntimeError| fail(e.to_string());
        match &v.provision {
            Provision::Bind { .. } => {}
            Provision::TaskScoped(spec) => {
                rt.create_volume(spec).await.map_err(docker)?;
            }
            Provision::Shared {
                spec,
                autoprovision,
            } => match rt.inspect_volume(&spec.name).await.map_err(docker)? {
                None if *autoprovision => {
                    rt.create_volume(spec).await.map_err(docker)?;
                }
                None => {
                    return Err(fail(format!(
                        "volume '{}' does not exist and autoprovision is set to false",
                        spec.name
                    )));
                }
                Some(existing) if match_full_config && *autoprovision => {
                    if !(existing.labels.is_empty() && spec.labels.is_empty())
                        && existing.labels != spec.labels
                    {
                        return Err(fail(format!(
                            "shared volume does not match existing volume labels: existing: {:?}, expected: {:?}",
                            existing.labels, spec.labels
                        )));
                    }
                    if !(existing.driver_opts.is_empty() && spec.driver_opts.is_empty())
                        && existing.driver_opts != spec.driver_opts
                    {
                        return Err(fail(format!(
                            "shared volume does not match existing volume options: existing: {:?}, expected: {:?}",
                            existing.driver_opts, spec.driver_opts
                        )));
                    }
                }
                Some(_) => {}
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::VolumeInfo;
    use crate::runtime::fake::FakeRuntime;
    use ecs_protocol::acs::{
        DockerVolumeConfiguration, EfsAuthorizationConfig, EfsVolumeConfiguration,
        HostVolumeProperties, MountPoint,
    };

    const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task/demo/0123456789abcdef";

    fn task(volumes: Vec<Volume>) -> Task {
        Task {
            arn: Some(ARN.into()),
            family: Some("fam".into()),
            version: Some("2".into()),
            volumes: Some(volumes),
            ..Task::default()
        }
    }

    fn host(name: &str, path: Option<&str>) -> Volume {
        Volume {
            name: Some(name.into()),
            host: Some(HostVolumeProperties {
                source_path: path.map(Into::into),
            }),
            ..Volume::default()
        }
    }

    fn docker(name: &str, scope: VolumeScope, autoprovision: bool) -> Volume {
        Volume {
            name: Some(name.into()),
            kind: Some(VolumeType::Docker),
            docker_volume_configuration: Some(DockerVolumeConfiguration {
                scope: Some(scope),
                autoprovision: Some(autoprovision),
                driver: Some("local".into()),
                driver_opts: None,
                labels: Some(BTreeMap::from([("team".into(), "blue".into())])),
            }),
            ..Volume::default()
        }
    }

    fn efs(cfg: EfsVolumeConfiguration) -> Volume {
        Volume {
            name: Some("data".into()),
            kind: Some(VolumeType::Efs),
            efs_volume_configuration: Some(cfg),
            ..Volume::default()
        }
    }

    fn mount(source: &str, path: &str, ro: bool) -> MountPoint {
        MountPoint {
            source_volume: Some(source.into()),
            container_path: Some(path.into()),
            read_only: Some(ro),
        }
    }

    #[test]
    fn host_and_docker_volumes_are_planned_as_the_reference_does() {
        let t = task(vec![
            host("bind", Some("/srv/data")),
            host("scratch", None),
            docker("cache", VolumeScope::Task, false),
            docker("shared", VolumeScope::Shared, true),
        ]);
        let plan = plan(&t, &BTreeMap::new()).unwrap();
        assert_eq!(
            plan[0].provision,
            Provision::Bind {
                path: "/srv/data".into()
            }
        );
        let Provision::TaskScoped(scratch) = &plan[1].provision else {
            panic!("{plan:?}")
        };
        assert!(
            scratch.name.starts_with("ecs-fam-2-scratch-"),
            "{}",
            scratch.name
        );
        assert_eq!(scratch.driver, "local");
        let Provision::TaskScoped(cache) = &plan[2].provision else {
            panic!("{plan:?}")
        };
        assert!(cache.name.starts_with("ecs-fam-2-cache-"));
        assert_eq!(cache.labels["team"], "blue");
        assert_eq!(
            plan[3].provision,
            Provision::Shared {
                spec: VolumeSpec {
                    name: "shared".into(),
                    driver: "local".into(),
                    driver_opts: BTreeMap::new(),
                    labels: BTreeMap::from([("team".into(), "blue".into())]),
                },
                autoprovision: true
            }
        );
        // A name chosen before (a restart) is kept.
        let named = BTreeMap::from([("scratch".to_owned(), "ecs-fam-2-scratch-old".to_owned())]);
        let again = super::plan(&t, &named).unwrap();
        assert_eq!(again[1].provision.source(), "ecs-fam-2-scratch-old");

        let c = Container {
            name: Some("web".into()),
            mount_points: Some(vec![
                mount("bind", "/data", true),
                mount("scratch", "/tmp/s", false),
            ]),
            ..Container::default()
        };
        assert_eq!(
            binds(ARN, &c, &again).unwrap(),
            vec![
                "/srv/data:/data:ro".to_owned(),
                "ecs-fam-2-scratch-old:/tmp/s".to_owned()
            ]
        );
    }

    #[test]
    fn efs_becomes_an_nfs_volume_and_tls_is_refused() {
        let t = task(vec![efs(EfsVolumeConfiguration {
            file_system_id: Some("fs-1234".into()),
            root_directory: Some("/exports".into()),
            ..EfsVolumeConfiguration::default()
        })]);
        let plan = plan(&t, &BTreeMap::new()).unwrap();
        let Provision::TaskScoped(spec) = &plan[0].provision else {
            panic!()
        };
        assert_eq!(spec.driver, "local");
        assert_eq!(spec.driver_opts["type"], "nfs");
        assert_eq!(spec.driver_opts["device"], ":/exports");
        assert_eq!(
            spec.driver_opts["o"],
            "addr=fs-1234.efs.eu-west-1.amazonaws.com,nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
        );

        let tls = task(vec![efs(EfsVolumeConfiguration {
            file_system_id: Some("fs-1234".into()),
            transit_encryption: Some(EfsSetting::Enabled),
            ..EfsVolumeConfiguration::default()
        })]);
        let err = super::plan(&tls, &BTreeMap::new()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("task {ARN}: volume data: EFS transit encryption")),
            "{err}"
        );

        let ap = task(vec![efs(EfsVolumeConfiguration {
            file_system_id: Some("fs-1234".into()),
            authorization_config: Some(EfsAuthorizationConfig {
                access_point_id: Some("fsap-1".into()),
                iam: None,
            }),
            ..EfsVolumeConfiguration::default()
        })]);
        assert!(super::plan(&ap, &BTreeMap::new()).is_err());
        let no_fs = task(vec![efs(EfsVolumeConfiguration::default())]);
        assert!(
            super::plan(&no_fs, &BTreeMap::new())
                .unwrap_err()
                .to_string()
                .contains("fileSystemId is required")
        );
    }

    #[test]
    fn bad_definitions_name_the_volume_or_mount_point() {
        let rel = task(vec![host("v", Some("relative/path"))]);
        assert_eq!(
            plan(&rel, &BTreeMap::new()).unwrap_err().to_string(),
            format!(
                "task {ARN}: volume v: host.sourcePath \"relative/path\" must be an absolute path"
            )
        );
        let dup = task(vec![host("v", None), host("v", None)]);
        assert!(plan(&dup, &BTreeMap::new()).is_err());
        let fsx = task(vec![Volume {
            name: Some("f".into()),
            kind: Some(VolumeType::FsxWindowsFileServer),
            ..Volume::default()
        }]);
        assert!(
            plan(&fsx, &BTreeMap::new())
                .unwrap_err()
                .to_string()
                .contains("fsxWindowsFileServer is not supported")
        );
        let c = Container {
            name: Some("web".into()),
            mount_points: Some(vec![mount("nope", "/x", false)]),
            ..Container::default()
        };
        assert_eq!(
            binds(ARN, &c, &[]).unwrap_err().to_string(),
            format!(
                "task {ARN}: container web: mountPoints[0]: sourceVolume \"nope\" is not a volume of the task"
            )
        );
    }

    #[tokio::test]
    async fn provision_creates_checks_and_matches_shared_volumes() {
        let fake = FakeRuntime::new();
        let t = task(vec![
            host("scratch", None),
            docker("shared", VolumeScope::Shared, true),
        ]);
        let plan = plan(&t, &BTreeMap::new()).unwrap();
        provision(&fake, ARN, &plan, true).await.unwrap();
        let names: Vec<String> = fake.volumes().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"shared".to_owned()));
        // Again: the shared one exists and matches, so it is not created a second time.
        fake.clear_calls();
        provision(&fake, ARN, &plan[1..], true).await.unwrap();
        assert!(fake.actions().is_empty(), "{:?}", fake.actions());

        // Different labels: refused only with ECS_SHARED_VOLUME_MATCH_FULL_CONFIG.
        let other = FakeRuntime::new();
        other.add_volume(VolumeInfo {
            name: "shared".into(),
            driver: "local".into(),
            labels: BTreeMap::from([("team".into(), "red".into())]),
            ..VolumeInfo::default()
        });
        let err = provision(&other, ARN, &plan[1..], true).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("does not match existing volume labels"),
            "{err}"
        );
        provision(&other, ARN, &plan[1..], false).await.unwrap();

        // Not autoprovisioned and missing.
        let t = task(vec![docker("absent", VolumeScope::Shared, false)]);
        let plan = super::plan(&t, &BTreeMap::new()).unwrap();
        let err = provision(&FakeRuntime::new(), ARN, &plan, true)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "task {ARN}: volume absent: volume 'absent' does not exist and autoprovision is set to false"
            )
        );
    }
}
