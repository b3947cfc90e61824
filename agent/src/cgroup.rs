//! Task-level CPU and memory limits (`ECS_ENABLE_TASK_CPU_MEM_LIMIT`, reference section 7.3): a
//! cgroup per task that every container of the task is created under (`HostConfig.CgroupParent`),
//! carrying the task's `cpu` as a CFS quota, its `memory` as a hard limit and
//! `ECS_TASK_PIDS_LIMIT` as `pids.max`. Removed with the task.
//!
//! cgroup v1: `<root>/{cpu,memory}/ecs/<task id>` (CgroupParent `/ecs/<task id>`); cgroup v2:
//! `<root>/ecstasks/<task id>` with the cpu and memory controllers enabled down the tree
//! (CgroupParent `/ecstasks/<task id>`), for Docker's cgroupfs driver.
//!
//! [`plan`] is pure (what to create and write, unit-tested for both versions); [`create`] and
//! [`remove`] do it on the filesystem.

use std::path::{Path, PathBuf};

/// Why the task cgroup could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("task {task_arn}: task cgroup {path}: {message}")]
pub struct CgroupError {
    /// Task ARN.
    pub task_arn: String,
    /// The file or directory that failed.
    pub path: PathBuf,
    /// The OS's words.
    pub message: String,
}

/// The cgroup hierarchy of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// One hierarchy per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// Which hierarchy `root` (`ECS_CGROUP_PATH`) holds: v2 when it has `cgroup.controllers`.
pub fn detect(root: &Path) -> CgroupVersion {
    if root.join("cgroup.controllers").exists() {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    }
}

/// The task's limits: `cpu` in vCPU (as ACS sends it) and `memory` in MiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskLimits {
    /// vCPU (1.0 = one CPU), if set.
    pub cpu: Option<f64>,
    /// MiB, if set.
    pub memory_mib: Option<i64>,
    /// CFS period (`ECS_CGROUP_CPU_PERIOD`, 100 ms by default), in microseconds.
    pub cpu_period_us: u64,
    /// Most processes of the whole task (`ECS_TASK_PIDS_LIMIT`), if set.
    pub pids: Option<u32>,
}

impl TaskLimits {
    /// Whether there is anything to limit.
    pub fn any(&self) -> bool {
        self.cpu.is_some_and(|c| c > 0.0)
            || self.memory_mib.is_some_and(|m| m > 0)
            || self.pids().is_some()
    }

    fn pids(&self) -> Option<u32> {
        self.pids.filter(|p| *p > 0)
    }

    fn quota_us(&self) -> Option<u64> {
        // Rounded, at least the kernel's 1 ms minimum.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.cpu
            .filter(|c| *c > 0.0)
            .map(|c| ((c * self.cpu_period_us as f64).round() as u64).max(1000))
    }

    fn memory_bytes(&self) -> Option<i64> {
        self.memory_mib
            .filter(|m| *m > 0)
            .map(|m| m.saturating_mul(1024 * 1024))
    }
}

/// What [`create`] does: directories to make (in order) and files to write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CgroupPlan {
    /// `HostConfig.CgroupParent` of the task's containers.
    pub parent: String,
    /// Directories to create, parents first (they may exist already).
    pub dirs: Vec<PathBuf>,
    /// `(file, value)` to write, in order.
    pub writes: Vec<(PathBuf, String)>,
    /// Directories to remove at cleanup, children first.
    pub remove: Vec<PathBuf>,
}

/// The task id: the last part of the task ARN.
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// What to create for `task_id` with `limits` under `root`.
pub fn plan(version: CgroupVersion, root: &Path, task_id: &str, limits: &TaskLimits) -> CgroupPlan {
    let mut p = CgroupPlan::default();
    match version {
        CgroupVersion::V1 => {
            p.parent = format!("/ecs/{task_id}");
            for controller in ["cpu", "memory"] {
                let dir = root.join(controller).join("ecs").join(task_id);
                p.dirs.push(root.join(controller).join("ecs"));
                p.dirs.push(dir.clone());
                p.remove.push(dir);
            }
            if let Some(quota) = limits.quota_us() {
                let cpu = root.join("cpu").join("ecs").join(task_id);
                p.writes.push((
                    cpu.join("cpu.cfs_period_us"),
                    limits.cpu_period_us.to_string(),
                ));
                p.writes
                    .push((cpu.join("cpu.cfs_quota_us"), quota.to_string()));
            }
            if let Some(bytes) = limits.memory_bytes() {
                let mem = root.join("memory").join("ecs").join(task_id);
                p.writes
                    .push((mem.join("memory.limit_in_bytes"), bytes.to_string()));
            }
            if let Some(pids) = limits.pids() {
                let dir = root.join("pids").join("ecs").join(task_id);
                p.dirs.push(root.join("pids").join("ecs"));
                p.dirs.push(dir.clone());
                p.remove.push(dir.clone());
                p.writes.push((dir.join("pids.max"), pids.to_string()));
            }
        }
        CgroupVersion::V2 => {
            p.parent = format!("/ecstasks/{task_id}");
            let slice = root.join("ecstasks");
            let dir = slice.join(task_id);
            p.dirs.push(slice.clone());
            p.dirs.push(dir.clone());
            // Controllers must be enabled in every parent for the children to use them.
            let controllers = if limits.pids().is_some() {
                "+cpu +memory +pids"
            } else {
                "+cpu +memory"
            };
            for parent in [root, slice.as_path(), dir.as_path()] {
                p.writes
                    .push((parent.join("cgroup.subtree_control"), controllers.into()));
            }
            if let Some(quota) = limits.quota_us() {
                p.writes.push((
                    dir.join("cpu.max"),
                    format!("{quota} {}", limits.cpu_period_us),
                ));
            }
            if let Some(bytes) = limits.memory_bytes() {
                p.writes.push((dir.join("memory.max"), bytes.to_string()));
            }
            if let Some(pids) = limits.pids() {
                p.writes.push((dir.join("pids.max"), pids.to_string()));
            }
            p.remove.push(dir);
        }
    }
    p
}

/// Creates the task cgroup as planned.
pub fn create(task_arn: &str, plan: &CgroupPlan) -> Result<(), CgroupError> {
    let err = |path: &Path, e: std::io::Error| CgroupError {
        task_arn: task_arn.to_owned(),
        path: path.to_owned(),
        message: e.to_string(),
    };
    for dir in &plan.dirs {
        match std::fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err(dir, e)),
        }
    }
    for (file, value) in &plan.writes {
        std::fs::write(file, value).map_err(|e| err(file, e))?;
    }
    tracing::info!(task_arn, cgroup = %plan.parent, "created task cgroup");
    Ok(())
}

/// Removes the task cgroup (after its containers are gone). A missing one is fine.
pub fn remove(task_arn: &str, plan: &CgroupPlan) {
    for dir in &plan.remove {
        match std::fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(task_arn, path = %dir.display(), error = %e, "cannot remove task cgroup");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TaskLimits = TaskLimits {
        cpu: Some(0.5),
        memory_mib: Some(256),
        cpu_period_us: 100_000,
        pids: None,
    };

    /// `increased-task-cpu-limit`: nothing caps a task at 10 vCPU; 16 vCPU is 16 periods.
    #[test]
    fn a_task_above_ten_vcpu_gets_its_whole_quota() {
        let big = TaskLimits {
            cpu: Some(16.0),
            ..LIMITS
        };
        assert_eq!(big.quota_us(), Some(1_600_000));
        let p = plan(CgroupVersion::V2, Path::new("/sys/fs/cgroup"), "abc", &big);
        assert!(
            p.writes
                .iter()
                .any(|(path, v)| path.ends_with("cpu.max") && v == "1600000 100000"),
            "{:?}",
            p.writes
        );
    }

    #[test]
    fn v1_uses_one_directory_per_controller() {
        let p = plan(
            CgroupVersion::V1,
            Path::new("/sys/fs/cgroup"),
            "abc",
            &LIMITS,
        );
        assert_eq!(p.parent, "/ecs/abc");
        assert!(
            p.dirs
                .contains(&PathBuf::from("/sys/fs/cgroup/memory/ecs/abc"))
        );
        assert!(
            p.dirs
                .contains(&PathBuf::from("/sys/fs/cgroup/cpu/ecs/abc"))
        );
        assert_eq!(
            p.writes,
            vec![
                (
                    PathBuf::from("/sys/fs/cgroup/cpu/ecs/abc/cpu.cfs_period_us"),
                    "100000".to_owned()
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/cpu/ecs/abc/cpu.cfs_quota_us"),
                    "50000".to_owned()
                ),
                (
                    PathBuf::from("/sys/fs/cgroup/memory/ecs/abc/memory.limit_in_bytes"),
                    (256 * 1024 * 1024).to_string()
                ),
            ]
        );
        assert_eq!(p.remove.len(), 2);
    }

    #[test]
    fn v2_enables_controllers_and_writes_max_files() {
        let p = plan(
            CgroupVersion::V2,
            Path::new("/sys/fs/cgroup"),
            "abc",
            &LIMITS,
        );
        assert_eq!(p.parent, "/ecstasks/abc");
        assert_eq!(
            p.dirs,
            vec![
                PathBuf::from("/sys/fs/cgroup/ecstasks"),
                PathBuf::from("/sys/fs/cgroup/ecstasks/abc")
            ]
        );
        assert!(p.writes.contains(&(
            PathBuf::from("/sys/fs/cgroup/ecstasks/abc/cpu.max"),
            "50000 100000".to_owned()
        )));
        assert!(p.writes.contains(&(
            PathBuf::from("/sys/fs/cgroup/ecstasks/abc/memory.max"),
            (256 * 1024 * 1024).to_string()
        )));
        assert!(p.writes.contains(&(
            PathBuf::from("/sys/fs/cgroup/cgroup.subtree_control"),
            "+cpu +memory".to_owned()
        )));
        assert_eq!(p.remove, vec![PathBuf::from("/sys/fs/cgroup/ecstasks/abc")]);
    }

    #[test]
    fn only_memory_writes_no_cpu_files() {
        let limits = TaskLimits {
            cpu: None,
            ..LIMITS
        };
        let p = plan(CgroupVersion::V1, Path::new("/cg"), "t", &limits);
        assert_eq!(p.writes.len(), 1);
        assert!(limits.any());
        assert!(
            !TaskLimits {
                cpu: None,
                memory_mib: None,
                cpu_period_us: 100_000,
                pids: None,
            }
            .any()
        );
        assert_eq!(task_id("arn:aws:ecs:us-east-1:1:task/c/abc123"), "abc123");
    }

    #[test]
    fn the_pids_limit_is_pids_max_in_v1_and_v2() {
        let limits = TaskLimits {
            cpu: None,
            memory_mib: None,
            pids: Some(100),
            ..LIMITS
        };
        assert!(limits.any());
        let root = Path::new("/sys/fs/cgroup");
        let v1 = plan(CgroupVersion::V1, root, "abc", &limits);
        assert_eq!(
            v1.writes,
            vec![(
                PathBuf::from("/sys/fs/cgroup/pids/ecs/abc/pids.max"),
                "100".to_owned()
            )]
        );
        assert!(
            v1.remove
                .contains(&PathBuf::from("/sys/fs/cgroup/pids/ecs/abc"))
        );
        let v2 = plan(CgroupVersion::V2, root, "abc", &limits);
        assert!(v2.writes.contains(&(
            PathBuf::from("/sys/fs/cgroup/ecstasks/abc/pids.max"),
            "100".to_owned()
        )));
        assert!(v2.writes.contains(&(
            PathBuf::from("/sys/fs/cgroup/ecstasks/cgroup.subtree_control"),
            "+cpu +memory +pids".to_owned()
        )));
        // Unset: no pids files, the controllers as before.
        let none = plan(CgroupVersion::V2, root, "abc", &LIMITS);
        assert!(!none.writes.iter().any(|(f, _)| f.ends_with("pids.max")));
    }

    #[test]
    fn create_and_remove_on_a_plain_directory() {
        let dir = std::env::temp_dir().join(format!("ecs-cgroup-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("cpu")).unwrap();
        std::fs::create_dir_all(dir.join("memory")).unwrap();
        let p = plan(CgroupVersion::V1, &dir, "t1", &LIMITS);
        create("arn:t1", &p).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("memory/ecs/t1/memory.limit_in_bytes")).unwrap(),
            (256 * 1024 * 1024).to_string()
        );
        // Plain directories hold files, so remove_dir fails and is only logged.
        remove("arn:t1", &p);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
