#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of task definitions in full (issue 8): volumes shared between containers and
//! between tasks, dependsOn SUCCESS and HEALTHY, the task-level memory limit, and invalid volume
//! or dependency configurations. The real `ecs-agent` on real Docker, registered with the
//! emulated control plane, driven with the real AWS CLI, images from a real registry.

use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::{
    Agent, AwsCli, ControlPlane, Registry, describe_task, docker, remove_containers_labeled,
    run_when_placed, unique, wait_status, wait_until,
};
use serde_json::{Value, json};

/// Removes the containers of a cluster, the named Docker volumes and the task volumes of the
/// named families when the test ends.
struct Cleanup {
    cluster: String,
    volumes: Vec<String>,
    families: Vec<String>,
    /// Task cgroup directories (removed when empty, after the containers).
    cgroups: Vec<std::path::PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove_containers_labeled(&format!("com.amazonaws.ecs.cluster={}", self.cluster));
        let mut volumes = self.volumes.clone();
        for f in &self.families {
            let filter = format!("name=ecs-{f}-");
            if let Ok(out) = docker(&["volume", "ls", "-q", "--filter", &filter]) {
                // The filter matches substrings; keep only names that start with the prefix.
                volumes.extend(
                    out.lines()
                        .filter(|l| l.starts_with(&format!("ecs-{f}-")))
                        .map(String::from),
                );
            }
        }
        for v in &volumes {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        for dir in &self.cgroups {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

struct Setup {
    // Field order is drop order: the agent stops first, then the cleanup, the registry last.
    agent: Agent,
    cleanup: Cleanup,
    _cp: ControlPlane,
    aws: AwsCli,
    _data: tempfile::TempDir,
    image: String,
    _registry: Registry,
}

fn setup(prefix: &str, env: &[(&str, &str)]) -> Result<Setup> {
    let cluster = unique(prefix);
    let registry = Registry::start()?;
    let image = registry.push_test_image()?;
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let cleanup = Cleanup {
        cluster: cluster.clone(),
        volumes: Vec::new(),
        families: Vec::new(),
        cgroups: Vec::new(),
    };
    let data = tempfile::tempdir()?;
    let agent = Agent::start(&cp, &cluster, data.path(), env)?;
    Ok(Setup {
        agent,
        cleanup,
        _cp: cp,
        aws,
        _data: data,
        image,
        _registry: registry,
    })
}

impl Setup {
    fn cluster(&self) -> &str {
        &self.cleanup.cluster
    }

    /// `def` in a temporary file, and the register-task-definition arguments that read it.
    fn register_args(def: &Value) -> Result<(tempfile::NamedTempFile, [String; 4])> {
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), def.to_string())?;
        let args = [
            "ecs".to_owned(),
            "register-task-definition".to_owned(),
            "--cli-input-json".to_owned(),
            format!("file://{}", file.path().display()),
        ];
        Ok((file, args))
    }

    fn register(&self, def: &Value) -> Result<String> {
        let (_file, args) = Self::register_args(def)?;
        let out = self.aws.run(&args.each_ref().map(String::as_str))?;
        Ok(out["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string())
    }

    fn register_err(&self, def: &Value) -> Result<String> {
        let (_file, args) = Self::register_args(def)?;
        let e = self.aws.run_err(&args.each_ref().map(String::as_str))?;
        assert_eq!(e.error_code(), Some("ClientException"), "{e}");
        Ok(e.stderr)
    }

    /// RunTask, retried until the agent's instance is a placement candidate.
    fn run(&self, def: &str) -> Result<String> {
        run_when_placed(&self.aws, self.cluster(), def)
    }

    fn describe(&self, task: &str) -> Result<Value> {
        describe_task(&self.aws, self.cluster(), task)
    }

    fn wait_stopped(&self, task: &str, timeout: Duration) -> Result<Value> {
        wait_status(&self.aws, self.cluster(), task, "STOPPED", timeout)
    }

    /// `aws ecs stop-task`, then waits (30 s at most) until the task is STOPPED.
    fn stop_and_wait(&self, task: &str) -> Result<Value> {
        self.aws.run(&[
            "ecs",
            "stop-task",
            "--cluster",
            self.cluster(),
            "--task",
            task,
        ])?;
        self.wait_stopped(task, Duration::from_secs(30))
    }

    fn wait_running(&self, task: &str, timeout: Duration) -> Result<Value> {
        wait_until(timeout, &format!("task {task} to be RUNNING"), || {
            let t = self.describe(task)?;
            assert_ne!(t["lastStatus"], "STOPPED", "{t}");
            anyhow::Ok((t["lastStatus"] == "RUNNING").then_some(t))
        })
    }
}

fn container<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {task}"))
}

/// Docker ids of the containers of a task (running or not).
fn task_containers(task_arn: &str) -> Result<Vec<String>> {
    let out = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task_arn}"),
    ])?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn sh(image: &str, name: &str, essential: bool, script: &str) -> Value {
    json!({"name": name, "image": image, "memory": 32, "essential": essential,
           "entryPoint": ["sh", "-c"], "command": [script]})
}

#[test]
fn containers_share_task_volumes_and_a_shared_volume_outlives_its_task() -> Result<()> {
    let mut s = setup(
        "td-volumes",
        &[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "2s")],
    )?;
    let family = unique("td-volumes");
    let shared = unique("td-shared");
    s.cleanup.volumes.push(shared.clone());
    s.cleanup.families.push(family.clone());
    // A shared volume's Docker name is the task volume's name: unique per run.
    let volumes = json!([
        {"name": "scratch", "host": {}},
        {"name": shared, "dockerVolumeConfiguration":
            {"scope": "shared", "autoprovision": true, "driver": "local", "labels": {"test": "td"}}}
    ]);
    let mounts = json!([
        {"sourceVolume": "scratch", "containerPath": "/scratch"},
        {"sourceVolume": shared, "containerPath": "/shared"}
    ]);
    let mut writer = sh(
        &s.image,
        "writer",
        false,
        "echo written-by-writer > /scratch/msg && echo kept > /shared/msg",
    );
    writer["mountPoints"] = mounts.clone();
    let mut reader = sh(
        &s.image,
        "reader",
        true,
        "test \"$(cat /scratch/msg)\" = written-by-writer && ! touch /ro/x 2>/dev/null",
    );
    reader["mountPoints"] = json!([
        {"sourceVolume": "scratch", "containerPath": "/scratch"},
        {"sourceVolume": "scratch", "containerPath": "/ro", "readOnly": true}
    ]);
    reader["dependsOn"] = json!([{"containerName": "writer", "condition": "SUCCESS"}]);
    let def = s.register(&json!({
        "family": family, "volumes": volumes, "containerDefinitions": [writer, reader]
    }))?;
    let first = s.run(&def)?;
    let t = s.wait_stopped(&first, Duration::from_secs(60))?;
    assert_eq!(container(&t, "writer")["exitCode"], 0, "{t}");
    assert_eq!(
        container(&t, "reader")["exitCode"],
        0,
        "reader did not read it: {t}"
    );

    // The shared volume exists after the task and the next task reads what the first wrote.
    let inspect = docker(&["volume", "inspect", &shared])?;
    assert!(inspect.contains("\"test\": \"td\""), "{inspect}");
    let mut next = sh(&s.image, "next", true, "test \"$(cat /shared/msg)\" = kept");
    next["mountPoints"] = json!([{"sourceVolume": shared, "containerPath": "/shared"}]);
    let def2 = s.register(&json!({
        "family": format!("{family}-next"),
        "volumes": [{"name": shared, "dockerVolumeConfiguration":
            {"scope": "shared", "autoprovision": true, "driver": "local", "labels": {"test": "td"}}}],
        "containerDefinitions": [next]
    }))?;
    let second = s.run(&def2)?;
    let t = s.wait_stopped(&second, Duration::from_secs(60))?;
    assert_eq!(container(&t, "next")["exitCode"], 0, "{t}");

    // The task-scoped volume goes with the first task's cleanup; the shared one stays.
    wait_until(
        Duration::from_secs(30),
        "the task volume to be removed",
        || {
            let left = docker(&[
                "volume",
                "ls",
                "-q",
                "--filter",
                &format!("name=ecs-{family}-1-scratch-"),
            ])?;
            anyhow::Ok(left.trim().is_empty().then_some(()))
        },
    )?;
    docker(&["volume", "inspect", &shared])?;
    drop(s.agent);
    Ok(())
}

#[test]
fn success_dependency_orders_and_a_failed_init_stops_the_task() -> Result<()> {
    let s = setup("td-deps", &[])?;
    let family = unique("td-deps");
    // init exits 0 after a while: app starts only afterwards.
    let init = sh(&s.image, "init", false, "sleep 2; exit 0");
    let mut app = sh(
        &s.image,
        "app",
        true,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    app["dependsOn"] = json!([{"containerName": "init", "condition": "SUCCESS"}]);
    let def = s.register(&json!({"family": family, "containerDefinitions": [init, app]}))?;
    let ok = s.run(&def)?;
    let t = s.wait_running(&ok, Duration::from_secs(60))?;
    assert_eq!(container(&t, "init")["lastStatus"], "STOPPED", "{t}");
    assert_eq!(container(&t, "init")["exitCode"], 0, "{t}");
    let state = |id: &str, field: &str| -> Result<String> {
        Ok(
            docker(&["inspect", "-f", &format!("{{{{.State.{field}}}}}"), id])?
                .trim()
                .to_string(),
        )
    };
    let init_id = container(&t, "init")["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    let app_id = container(&t, "app")["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        state(&app_id, "StartedAt")? >= state(&init_id, "FinishedAt")?,
        "app started before init finished"
    );

    // init exits 1: the task stops naming the dependency, and app was never created.
    let bad_init = sh(&s.image, "init", false, "exit 1");
    let mut app = sh(&s.image, "app", true, "sleep 600");
    app["dependsOn"] = json!([{"containerName": "init", "condition": "SUCCESS"}]);
    let def = s.register(
        &json!({"family": format!("{family}-bad"), "containerDefinitions": [bad_init, app]}),
    )?;
    let bad = s.run(&def)?;
    let t = s.wait_stopped(&bad, Duration::from_secs(60))?;
    let reason = t["stoppedReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("[init]") && reason.contains("did not exit successfully"),
        "{t}"
    );
    assert_eq!(container(&t, "app")["exitCode"], 143, "{t}");
    assert!(container(&t, "app").get("runtimeId").is_none(), "{t}");
    assert_eq!(
        task_containers(&bad)?.len(),
        1,
        "only init was ever created"
    );

    s.stop_and_wait(&ok)?;
    Ok(())
}

#[test]
fn healthy_dependency_waits_for_the_health_check_and_health_is_reported() -> Result<()> {
    let s = setup("td-health", &[])?;
    let family = unique("td-health");
    let mut db = sh(
        &s.image,
        "db",
        true,
        "trap 'exit 0' TERM; sleep 3; touch /tmp/ok; while true; do sleep 1; done",
    );
    db["healthCheck"] = json!({"command": ["CMD-SHELL", "test -f /tmp/ok"], "interval": 1, "timeout": 1, "retries": 1});
    let mut app = sh(
        &s.image,
        "app",
        true,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    app["dependsOn"] = json!([{"containerName": "db", "condition": "HEALTHY"}]);
    let mut sick = sh(
        &s.image,
        "sick",
        true,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    sick["healthCheck"] =
        json!({"command": ["CMD-SHELL", "exit 1"], "interval": 1, "timeout": 1, "retries": 1});
    let def = s.register(&json!({"family": family, "containerDefinitions": [db, app, sick]}))?;
    let task = s.run(&def)?;
    let t = s.wait_running(&task, Duration::from_secs(60))?;
    let db_id = container(&t, "db")["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    let app_id = container(&t, "app")["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Health.Status}}", &db_id])?.trim(),
        "healthy"
    );
    let health_log = docker(&["inspect", "-f", "{{json .State.Health.Log}}", &db_id])?;
    let log: Value = serde_json::from_str(&health_log)?;
    let first_pass = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ExitCode"] == 0)
        .map(|e| e["End"].as_str().unwrap().to_string());
    let app_started = docker(&["inspect", "-f", "{{.State.StartedAt}}", &app_id])?;
    if let Some(first_pass) = first_pass {
        // Docker keeps the last 5 results only; when the first pass is still there, app started
        // after it.
        assert!(
            app_started.trim() >= first_pass.as_str(),
            "{app_started} < {first_pass}"
        );
    }
    let db_started = docker(&["inspect", "-f", "{{.State.StartedAt}}", &db_id])?;
    assert!(app_started > db_started);

    // Health reaches DescribeTasks (over the agent's telemetry connection): db HEALTHY, the
    // essential sick container UNHEALTHY, so the task is UNHEALTHY; app has no check.
    // Health goes out on the agent's 20 s TCS tick, as the reference's: up to 20 s after a change.
    let t = wait_until(Duration::from_secs(60), "health in DescribeTasks", || {
        let t = s.describe(&task)?;
        anyhow::Ok(
            (container(&t, "db")["healthStatus"] == "HEALTHY"
                && container(&t, "sick")["healthStatus"] == "UNHEALTHY")
                .then_some(t),
        )
    })?;
    assert_eq!(t["healthStatus"], "UNHEALTHY", "{t}");
    assert_eq!(container(&t, "app")["healthStatus"], "UNKNOWN", "{t}");
    assert_eq!(
        t["lastStatus"], "RUNNING",
        "an unhealthy task keeps running: {t}"
    );
    s.stop_and_wait(&task)?;
    Ok(())
}

#[test]
fn the_task_memory_limit_is_enforced() -> Result<()> {
    let mut s = setup(
        "td-memory",
        &[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "2s")],
    )?;
    let family = unique("td-memory");
    // No container limit: only the task's 64 MiB holds the 200 MB this shell wants.
    let hog = json!({"name": "hog", "image": s.image, "essential": false,
        "memoryReservation": 16, "entryPoint": ["sh", "-c"],
        "command": ["x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo survived ${#x}"]});
    let mut idle = sh(
        &s.image,
        "idle",
        true,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    idle.as_object_mut().unwrap().remove("memory");
    idle["memoryReservation"] = json!(16);
    let def = s.register(&json!({"family": family, "cpu": "256", "memory": "64",
        "containerDefinitions": [hog, idle]}))?;
    let task = s.run(&def)?;
    let task_id = task.rsplit('/').next().unwrap().to_string();
    let memory_dir = std::path::PathBuf::from(format!("/sys/fs/cgroup/memory/ecs/{task_id}"));
    let cpu_dir = std::path::PathBuf::from(format!("/sys/fs/cgroup/cpu/ecs/{task_id}"));
    s.cleanup
        .cgroups
        .extend([memory_dir.clone(), cpu_dir.clone()]);
    let t = wait_until(Duration::from_secs(60), "hog to be killed", || {
        let t = s.describe(&task)?;
        anyhow::Ok((container(&t, "hog")["lastStatus"] == "STOPPED").then_some(t))
    })?;
    let hog = container(&t, "hog");
    assert_eq!(hog["exitCode"], 137, "{t}");
    assert_eq!(
        hog["reason"], "OutOfMemoryError: Container killed due to memory usage",
        "{t}"
    );
    let id = hog["runtimeId"].as_str().unwrap();
    let parent = docker(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", id])?;
    assert_eq!(parent.trim(), format!("/ecs/{task_id}"));

    // The task cgroup holds both limits while the task runs (cgroup v1 here).
    if memory_dir.exists() {
        let limit = std::fs::read_to_string(memory_dir.join("memory.limit_in_bytes"))?;
        assert_eq!(limit.trim(), (64u64 << 20).to_string());
        let quota = std::fs::read_to_string(cpu_dir.join("cpu.cfs_quota_us"))?;
        assert_eq!(
            quota.trim(),
            "25000",
            "256 CPU units = a quarter of the 100 ms period"
        );
    } else {
        assert!(
            std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            "no task cgroup at {}",
            memory_dir.display()
        );
    }

    // Stopped and cleaned up: the task cgroup goes with it.
    s.stop_and_wait(&task)?;
    wait_until(
        Duration::from_secs(30),
        "the task cgroup to be removed",
        || anyhow::Ok((!memory_dir.exists() && !cpu_dir.exists()).then_some(())),
    )?;
    Ok(())
}

#[test]
fn the_pids_limit_and_the_container_metadata_file_reach_the_task() -> Result<()> {
    let host = tempfile::tempdir()?;
    let host_dir = host.path().to_str().unwrap().to_owned();
    let mut s = setup(
        "td-pids-metadata",
        &[
            ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "2s"),
            ("ECS_TASK_PIDS_LIMIT", "100"),
            ("ECS_ENABLE_CONTAINER_METADATA", "true"),
            ("ECS_HOST_DATA_DIR", &host_dir),
        ],
    )?;
    let family = unique("td-pids-metadata");
    // The container waits for the agent to mark its metadata file READY, then prints it.
    let app = sh(
        &s.image,
        "app",
        true,
        "while ! grep -q READY \"$ECS_CONTAINER_METADATA_FILE\"; do sleep 0.2; done; \
         echo \"file=$ECS_CONTAINER_METADATA_FILE\"; cat \"$ECS_CONTAINER_METADATA_FILE\"; \
         trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    let def = s.register(&json!({"family": family, "containerDefinitions": [app]}))?;
    let task = s.run(&def)?;
    let task_id = task.rsplit('/').next().unwrap().to_string();
    let pids_dir = std::path::PathBuf::from(format!("/sys/fs/cgroup/pids/ecs/{task_id}"));
    s.cleanup.cgroups.push(pids_dir.clone());
    let t = s.wait_running(&task, Duration::from_secs(60))?;
    let id = container(&t, "app")["runtimeId"]
        .as_str()
        .unwrap()
        .to_owned();

    let logs = wait_until(Duration::from_secs(30), "the metadata file READY", || {
        let logs = docker(&["logs", &id])?;
        anyhow::Ok(
            logs.contains("\"MetadataFileStatus\": \"READY\"")
                .then_some(logs),
        )
    })?;
    assert!(
        logs.contains("file=/opt/ecs/metadata/") && logs.contains("/ecs-container-metadata.json"),
        "{logs}"
    );
    assert!(logs.contains(&format!("\"TaskARN\": \"{task}\"")), "{logs}");
    assert!(
        logs.contains(&format!("\"ContainerID\": \"{id}\"")),
        "{logs}"
    );
    let metadata_dir = host.path().join("data/metadata").join(&task_id);
    assert!(
        metadata_dir
            .join("app/ecs-container-metadata.json")
            .is_file()
    );

    // pids.max in the task cgroup (cgroup v1 here; v2 is unit-tested).
    let parent = docker(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", &id])?;
    assert_eq!(parent.trim(), format!("/ecs/{task_id}"));
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let max = std::fs::read_to_string(pids_dir.join("pids.max"))?;
        assert_eq!(max.trim(), "100");
    }

    s.stop_and_wait(&task)?;
    wait_until(
        Duration::from_secs(30),
        "the metadata files and the task cgroup to be removed",
        || anyhow::Ok((!metadata_dir.exists() && !pids_dir.exists()).then_some(())),
    )?;
    Ok(())
}

#[test]
fn invalid_volume_and_dependency_configurations_are_refused() -> Result<()> {
    let s = setup("td-invalid", &[])?;
    let family = unique("td-invalid");
    let app = |extra: Value| {
        let mut c = sh(&s.image, "app", true, "true");
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // Refused at registration, in ECS's words, naming container and field.
    let e = s.register_err(&json!({"family": family, "containerDefinitions": [
        app(json!({"mountPoints": [{"sourceVolume": "nope", "containerPath": "/d"}]}))]}))?;
    assert!(
        e.contains("Invalid 'mountPoints' setting for container 'app'. Unknown volume 'nope'"),
        "{e}"
    );
    let e = s.register_err(&json!({"family": family, "containerDefinitions": [
        app(json!({"dependsOn": [{"containerName": "ghost", "condition": "START"}]}))]}))?;
    assert!(e.contains("Unknown container 'ghost'"), "{e}");
    let mut a = sh(&s.image, "a", true, "true");
    a["dependsOn"] = json!([{"containerName": "b", "condition": "START"}]);
    let mut b = sh(&s.image, "b", true, "true");
    b["dependsOn"] = json!([{"containerName": "a", "condition": "START"}]);
    let e = s.register_err(&json!({"family": family, "containerDefinitions": [a, b]}))?;
    assert!(
        e.contains("circular dependency between containers [a -> b -> a]"),
        "{e}"
    );
    let e = s.register_err(&json!({"family": family,
        "volumes": [{"name": "v", "dockerVolumeConfiguration": {"scope": "task", "autoprovision": true}}],
        "containerDefinitions": [app(json!({}))]}))?;
    assert!(
        e.contains("'autoprovision' can be true only for volumes with scope 'shared'"),
        "{e}"
    );

    // Valid for ECS, impossible on this host: the task stops with the reason, no container made.
    let absent = unique("td-absent");
    let cases = [
        (
            json!([{"name": "v", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": false, "driver": "local"}}]),
            format!("volume '{absent}' does not exist and autoprovision is set to false"),
            absent.clone(),
        ),
        (
            json!([{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678", "transitEncryption": "ENABLED"}}]),
            "EFS transit encryption (transitEncryption ENABLED) is not supported on this instance"
                .to_owned(),
            "v".to_owned(),
        ),
    ];
    for (i, (volumes, reason, name)) in cases.into_iter().enumerate() {
        let mut volumes = volumes;
        volumes[0]["name"] = json!(name);
        let def = s.register(&json!({"family": format!("{family}-{i}"), "volumes": volumes,
            "containerDefinitions": [app(json!({"mountPoints": [{"sourceVolume": name, "containerPath": "/v"}]}))]}))?;
        let task = s.run(&def)?;
        let t = s.wait_stopped(&task, Duration::from_secs(60))?;
        let stopped = t["stoppedReason"].as_str().unwrap_or_default();
        assert!(stopped.starts_with("ResourceInitializationError: "), "{t}");
        assert!(stopped.contains(&reason), "{stopped}");
        assert!(
            stopped.contains(&task),
            "the reason names the task: {stopped}"
        );
        assert!(
            task_containers(&task)?.is_empty(),
            "a container was left behind"
        );
    }
    // The agent keeps serving: a good task still runs.
    let def = s.register(
        &json!({"family": format!("{family}-good"), "containerDefinitions": [app(json!({}))]}),
    )?;
    let task = s.run(&def)?;
    let t = s.wait_stopped(&task, Duration::from_secs(60))?;
    assert_eq!(container(&t, "app")["exitCode"], 0, "{t}");
    Ok(())
}
