//! `DockerRuntime` against the real Docker Engine on this machine (`$DOCKER_HOST`, default
//! `unix:///var/run/docker.sock`).
//!
//! The image is `localhost/ecs-agent-test/busybox:1`, made here with `docker import` from a static
//! busybox (`$ECS_TEST_BUSYBOX`, default `/bin/busybox` from Debian's `busybox-static`); its
//! registry-host prefix keeps Docker from ever asking Docker Hub. Without a static busybox the tests
//! say so and pass without running. Every container carries a per-test label and is removed with
//! `docker rm -f` when the test ends, pass or fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use ecs_agent::ports::PortAllocator;
use ecs_agent::runtime::docker::{ConnectError, DockerRuntime, api_too_old};
use ecs_agent::runtime::spec::{self, LABEL_CONTAINER_NAME, LABEL_TASK_ARN};
use ecs_agent::runtime::{
    ContainerRuntime, ContainerSpec, EventStream, Health, PortSpec, Protocol, RuntimeError,
    RuntimeEvent,
};
use ecs_protocol::NetworkMode;
use ecs_protocol::acs::{Container, DockerConfig, PortMapping, Task};
use futures_util::StreamExt;

const IMAGE: &str = "localhost/ecs-agent-test/busybox:1";
/// The label every container of these tests carries, valued per test, for cleanup.
const RUN_LABEL: &str = "ecs-agent-test.run";
/// How long to wait for an expected event.
const EVENT_WAIT: Duration = Duration::from_secs(60);

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

fn busybox_path() -> PathBuf {
    std::env::var_os("ECS_TEST_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker {args:?}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Makes the test image once per process; `Err` says why the tests cannot run.
fn test_image() -> Result<(), String> {
    static READY: Mutex<Option<Result<(), String>>> = Mutex::new(None);
    let mut ready = READY.lock().unwrap_or_else(|p| p.into_inner());
    ready.get_or_insert_with(build_image).clone()
}

fn build_image() -> Result<(), String> {
    let busybox = busybox_path();
    if !busybox.is_file() {
        return Err(format!(
            "SKIPPED: no static busybox at {} (install Debian's busybox-static or set \
             ECS_TEST_BUSYBOX)",
            busybox.display()
        ));
    }
    if docker(&["image", "inspect", IMAGE]).is_ok() {
        return Ok(());
    }
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = work.path().join("rootfs");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(root.join("tmp")).map_err(|e| e.to_string())?;
    std::fs::copy(&busybox, bin.join("busybox")).map_err(|e| e.to_string())?;
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("cannot run {} --list: {e}", busybox.display()))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).map_err(|e| e.to_string())?;
        }
    }
    let tar = work.path().join("rootfs.tar");
    run_tar(&root, &tar)?;
    docker(&[
        "import",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        &tar.to_string_lossy(),
        IMAGE,
    ])
    .map(drop)
}

fn run_tar(root: &Path, tar: &Path) -> Result<(), String> {
    let status = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(root)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("tar failed: {status}"))
}

/// Removes every container labelled with this test's run id when dropped, even on panic.
struct Cleanup {
    run: String,
}

impl Cleanup {
    fn new() -> Self {
        Self {
            run: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let filter = format!("label={RUN_LABEL}={}", self.run);
        if let Ok(ids) = docker(&["ps", "-aq", "--filter", &filter]) {
            for id in ids.split_whitespace() {
                let _ = docker(&["rm", "-f", "-v", id]);
            }
        }
    }
}

/// Connects, or says why these tests do not run (`None`).
async fn setup() -> Option<(DockerRuntime, Cleanup)> {
    if let Err(why) = test_image() {
        if why.starts_with("SKIPPED") {
            eprintln!("{why}");
            return None;
        }
        panic!("cannot make the test image: {why}");
    }
    let runtime = DockerRuntime::connect(&docker_host())
        .await
        .expect("Docker must answer on DOCKER_HOST (default /var/run/docker.sock)");
    Some((runtime, Cleanup::new()))
}

/// An ACS task with one container `name` running `command`.
fn task(cleanup: &Cleanup, name: &str, command: &[&str]) -> (Task, Container) {
    let container = Container {
        name: Some(name.to_owned()),
        image: Some(IMAGE.to_owned()),
        command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        cpu: Some(0),
        docker_config: Some(DockerConfig {
            version: Some("1.17".into()),
            config: Some(format!(
                r#"{{"Labels":{{"{RUN_LABEL}":"{}"}}}}"#,
                cleanup.run
            )),
            host_config: Some(r#"{"NetworkMode":"bridge","CapAdd":[],"CapDrop":[]}"#.into()),
        }),
        ..Container::default()
    };
    let task = Task {
        arn: Some(format!(
            "arn:aws:ecs:us-east-1:123456789012:task/test/{}",
            cleanup.run.replace('-', "")
        )),
        family: Some("ecs-agent-test".into()),
        version: Some("1".into()),
        containers: Some(vec![container.clone()]),
        ..Task::default()
    };
    (task, container)
}

fn spec_for(task: &Task, container: &Container, ports: Vec<PortSpec>) -> ContainerSpec {
    let name = container.name.as_deref().unwrap();
    let docker_name = spec::docker_name("ecs-agent-test", "1", name);
    spec::container_spec(
        task,
        container,
        "default",
        &docker_name,
        ports,
        &ecs_config::Config::default(),
    )
    .unwrap()
}

/// The next event about container `id` (other tests' containers share the stream).
async fn next_event_for(events: &mut EventStream, id: &str) -> RuntimeEvent {
    let wait = async {
        loop {
            let event = events
                .next()
                .await
                .expect("the event stream ended")
                .expect("the event stream failed");
            let about = match &event {
                RuntimeEvent::Started { id }
                | RuntimeEvent::Died { id, .. }
                | RuntimeEvent::Oom { id }
                | RuntimeEvent::Health { id, .. }
                | RuntimeEvent::Destroyed { id } => id,
            };
            if about == id {
                return event;
            }
        }
    };
    tokio::time::timeout(EVENT_WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("no event for {id} within {EVENT_WAIT:?}"))
}

/// Waits until the container's output holds `text`.
async fn wait_for_output(id: &str, text: &str) {
    let deadline = std::time::Instant::now() + EVENT_WAIT;
    loop {
        let out = Command::new("docker")
            .args(["logs", id])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(text) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never printed {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn create_start_stop_remove_with_a_dynamic_port() {
    let Some((runtime, cleanup)) = setup().await else {
        return;
    };
    let version = runtime.version().await.unwrap();
    assert!(!api_too_old(&version), "{version:?}");
    assert!(runtime.image_exists(IMAGE).await.unwrap());
    assert!(
        !runtime
            .image_exists("localhost/ecs-agent-test/absent:1")
            .await
            .unwrap()
    );

    // The shell exits 7 on SIGTERM, so the stop is quick and the exit code is ours.
    let (task, container) = task(
        &cleanup,
        "web",
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; httpd -f -p 8080 & echo trap-set; wait",
        ],
    );
    let mut allocator = PortAllocator::from_config(&ecs_config::Config::default());
    let ports = allocator
        .host_ports_for(
            "web",
            &[PortMapping {
                container_port: Some(8080),
                host_port: Some(0),
                ..PortMapping::default()
            }],
            &NetworkMode::Bridge,
        )
        .unwrap();
    let host_port = ports[0].host_port;
    let spec = spec_for(&task, &container, ports.clone());

    let mut events = runtime.events();
    let id = runtime.create(&spec).await.unwrap();
    let created = runtime.inspect(&id).await.unwrap().unwrap();
    assert_eq!(created.status, "created");
    assert_eq!(created.name, spec.name);
    assert_eq!(created.image, IMAGE);
    assert!(created.image_id.starts_with("sha256:"));
    assert_eq!(created.labels.get(LABEL_TASK_ARN), task.arn.as_ref());
    assert_eq!(
        created.labels.get(LABEL_CONTAINER_NAME).map(String::as_str),
        Some("web")
    );
    assert_eq!(created.labels.get(RUN_LABEL), Some(&cleanup.run));
    assert_eq!(
        created.labels.get(spec::LABEL_CLUSTER).map(String::as_str),
        Some("default")
    );
    assert!(created.ports.is_empty(), "ports show only once running");
    // Also found by name.
    assert_eq!(runtime.inspect(&spec.name).await.unwrap().unwrap().id, id);

    runtime.start(&id).await.unwrap();
    assert_eq!(
        next_event_for(&mut events, &id).await,
        RuntimeEvent::Started { id: id.clone() }
    );
    let running = runtime.inspect(&id).await.unwrap().unwrap();
    assert!(running.running(), "{running:?}");
    // Published with no host address: Docker binds 0.0.0.0 and, where the host has IPv6, ::,
    // and lists the port once per address.
    let any4: std::net::IpAddr = "0.0.0.0".parse().unwrap();
    let any6: std::net::IpAddr = "::".parse().unwrap();
    let addresses: Vec<_> = running.ports.iter().map(|p| p.host_ip).collect();
    assert!(addresses.contains(&Some(any4)), "{running:?}");
    assert!(
        addresses
            .iter()
            .all(|a| *a == Some(any4) || *a == Some(any6)),
        "{running:?}"
    );
    for p in &running.ports {
        assert_eq!(
            PortSpec {
                host_ip: None,
                ..p.clone()
            },
            ports[0]
        );
    }
    assert_eq!(running.exit_code, None);
    // Docker published it on the host, on IPv6 too when it says so.
    TcpStream::connect(("127.0.0.1", host_port)).unwrap();
    if addresses.contains(&Some(any6)) {
        TcpStream::connect(("::1", host_port)).unwrap();
    }
    // Starting again is fine (Docker answers 304).
    runtime.start(&id).await.unwrap();

    let managed = runtime.list_managed().await.unwrap();
    assert!(managed.iter().any(|c| c.id == id));

    // The shell is PID 1, which ignores SIGTERM until its trap is set: wait for that first.
    wait_for_output(&id, "trap-set").await;
    runtime.stop(&id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        next_event_for(&mut events, &id).await,
        RuntimeEvent::Died {
            id: id.clone(),
            exit_code: Some(7)
        }
    );
    let exited = runtime.inspect(&id).await.unwrap().unwrap();
    assert_eq!(exited.status, "exited");
    assert_eq!(exited.exit_code, Some(7));
    assert!(!exited.oom_killed);
    // Stopping a stopped container is fine (Docker answers 304).
    runtime.stop(&id, Duration::from_secs(1)).await.unwrap();

    runtime.remove(&id).await.unwrap();
    assert_eq!(
        next_event_for(&mut events, &id).await,
        RuntimeEvent::Destroyed { id: id.clone() }
    );
    assert_eq!(runtime.inspect(&id).await.unwrap(), None);
    runtime.remove(&id).await.unwrap();
    allocator.release_all(&ports);
}

#[tokio::test]
async fn an_oom_kill_is_reported() {
    let Some((runtime, cleanup)) = setup().await else {
        return;
    };
    let (task, mut container) = task(&cleanup, "hog", &["tail", "/dev/zero"]);
    container.memory = Some(8);
    // No swap, so the limit bites at once.
    container.docker_config.as_mut().unwrap().host_config =
        Some(format!(r#"{{"MemorySwap":{}}}"#, 8 * 1024 * 1024));
    let spec = spec_for(&task, &container, vec![]);
    assert_eq!(spec.memory_bytes, Some(8 * 1024 * 1024));

    let mut events = runtime.events();
    let id = runtime.create(&spec).await.unwrap();
    runtime.start(&id).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let event = next_event_for(&mut events, &id).await;
        let died = matches!(event, RuntimeEvent::Died { .. });
        seen.push(event);
        if died {
            break;
        }
    }
    // Docker may send more than one `oom` event for one kill (one per cgroup notification), and
    // may send it after `die` (seen in CI): the engine takes it either way, so wait a little for
    // a late one.
    let oom = RuntimeEvent::Oom { id: id.clone() };
    if !seen.contains(&oom)
        && let Ok(late) =
            tokio::time::timeout(Duration::from_secs(5), next_event_for(&mut events, &id)).await
    {
        seen.push(late);
    }
    let (first, rest) = seen.split_first().unwrap();
    assert_eq!(first, &RuntimeEvent::Started { id: id.clone() }, "{seen:?}");
    let died = RuntimeEvent::Died {
        id: id.clone(),
        exit_code: Some(137),
    };
    assert!(rest.contains(&died), "{seen:?}");
    assert!(rest.contains(&oom), "no oom event: {seen:?}");
    assert!(rest.iter().all(|e| e == &oom || e == &died), "{seen:?}");
    let info = runtime.inspect(&id).await.unwrap().unwrap();
    assert!(info.oom_killed, "{info:?}");
    assert_eq!(info.exit_code, Some(137));
    runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn health_checks_from_docker_config_report_health() {
    let Some((runtime, cleanup)) = setup().await else {
        return;
    };
    let (task, mut container) = task(&cleanup, "checked", &["sleep", "60"]);
    // As the control plane sends it: `HealthCheck`, durations in nanoseconds.
    container.docker_config.as_mut().unwrap().config = Some(format!(
        r#"{{"Labels":{{"{RUN_LABEL}":"{}"}},"HealthCheck":{{"Test":["CMD","true"],"Interval":1000000000,"Timeout":5000000000,"Retries":3}}}}"#,
        cleanup.run
    ));
    let spec = spec_for(&task, &container, vec![]);

    let mut events = runtime.events();
    let id = runtime.create(&spec).await.unwrap();
    runtime.start(&id).await.unwrap();
    assert_eq!(
        next_event_for(&mut events, &id).await,
        RuntimeEvent::Started { id: id.clone() }
    );
    assert_eq!(
        next_event_for(&mut events, &id).await,
        RuntimeEvent::Health {
            id: id.clone(),
            health: Health::Healthy
        }
    );
    let info = runtime.inspect(&id).await.unwrap().unwrap();
    assert_eq!(info.health, Some(Health::Healthy));

    // Removing a running container forces it.
    runtime.remove(&id).await.unwrap();
    assert!(matches!(
        next_event_for(&mut events, &id).await,
        RuntimeEvent::Died { .. }
    ));
    assert_eq!(
        next_event_for(&mut events, &id).await,
        RuntimeEvent::Destroyed { id: id.clone() }
    );
}

/// A throwaway Distribution registry on a loopback port (Debian's `docker-registry`), stopped and
/// its images untagged when dropped.
struct Registry {
    child: std::process::Child,
    host: String,
    _storage: tempfile::TempDir,
    pushed: Vec<String>,
}

impl Registry {
    fn start() -> Option<Self> {
        let program = std::env::var_os("ECS_TEST_REGISTRY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"));
        if !program.is_file() {
            eprintln!(
                "SKIPPED: no registry at {} (install Debian's docker-registry or set \
                 ECS_TEST_REGISTRY)",
                program.display()
            );
            return None;
        }
        let storage = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(&program)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Self {
            child,
            host: format!("127.0.0.1:{port}"),
            _storage: storage,
            pushed: Vec::new(),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the registry did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    /// Pushes the test image as `repository:tag`, untags it locally, returns the pushed digest.
    fn push(&mut self, repository: &str, tag: &str) -> (String, String) {
        let reference = format!("{}/{repository}:{tag}", self.host);
        docker(&["tag", IMAGE, &reference]).unwrap();
        self.pushed.push(reference.clone());
        let output = docker(&["push", &reference]).unwrap();
        let digest = output
            .split_whitespace()
            .find(|word| word.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no digest in {output}"))
            .to_owned();
        docker(&["rmi", &reference]).unwrap();
        (reference, digest)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for reference in &self.pushed {
            let _ = docker(&["rmi", reference]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn pull_streams_to_completion_and_returns_the_repo_digest() {
    let Some((runtime, _cleanup)) = setup().await else {
        return;
    };
    let Some(mut registry) = Registry::start() else {
        return;
    };
    let (reference, pushed) = registry.push("ecs-agent-test/pulled", "1");
    assert!(!runtime.image_exists(&reference).await.unwrap());
    let digest = runtime.pull(&reference, None).await.unwrap();
    assert_eq!(digest.as_deref(), Some(pushed.as_str()));
    assert!(runtime.image_exists(&reference).await.unwrap());

    // By digest too.
    let by_digest = format!("{}/ecs-agent-test/pulled@{pushed}", registry.host);
    assert_eq!(
        runtime.pull(&by_digest, None).await.unwrap().as_deref(),
        Some(pushed.as_str())
    );

    // A tag the registry does not have: Docker's words come back.
    let missing = format!("{}/ecs-agent-test/pulled:absent", registry.host);
    let error = runtime.pull(&missing, None).await.unwrap_err();
    assert!(
        error.to_string().contains("not found") || error.to_string().contains("unknown"),
        "{error:?}"
    );
}

#[tokio::test]
async fn failures_say_what_went_wrong() {
    let Some((runtime, _cleanup)) = setup().await else {
        return;
    };
    let started = std::time::Instant::now();
    let error = runtime.pull("127.0.0.1:1/nope:1", None).await.unwrap_err();
    let RuntimeError::Docker(message) = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.contains("127.0.0.1:1") && message.contains("connection refused"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));

    assert_eq!(
        runtime.inspect("ecs-agent-test-no-such-container").await,
        Ok(None)
    );
    assert!(matches!(
        runtime
            .stop("ecs-agent-test-no-such-container", Duration::from_secs(1))
            .await,
        Err(RuntimeError::NotFound(_))
    ));
    assert!(matches!(
        runtime.start("ecs-agent-test-no-such-container").await,
        Err(RuntimeError::NotFound(_))
    ));
    runtime
        .remove("ecs-agent-test-no-such-container")
        .await
        .unwrap();

    let missing_image = ContainerSpec {
        name: format!("ecs-agent-test-{}", spec::rand_hex()),
        image: "localhost/ecs-agent-test/absent:1".into(),
        network_mode: "bridge".into(),
        cpu_shares: 2,
        ..ContainerSpec::default()
    };
    assert!(matches!(
        runtime.create(&missing_image).await,
        Err(RuntimeError::NotFound(_))
    ));

    let error = DockerRuntime::connect("unix:///nonexistent/docker.sock")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectError::Runtime(_)) && !error.is_terminal(),
        "{error}"
    );
    let error = DockerRuntime::connect("ftp://example").await.unwrap_err();
    assert!(error.is_terminal(), "{error}");
}

#[test]
fn allocated_ports_are_free_on_the_host() {
    // The allocator's real probe against this host: a port something listens on is skipped.
    let listener = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let busy = listener.local_addr().unwrap().port();
    let mut allocator = PortAllocator::new(
        ecs_config::PortRange {
            start: busy,
            end: busy.saturating_add(50),
        },
        [],
        [],
    );
    let port = allocator.allocate(Protocol::Tcp).unwrap();
    assert_ne!(port, busy);
    assert!(std::net::TcpListener::bind(("0.0.0.0", port)).is_ok());
}

#[tokio::test]
async fn stopped_containers_the_agent_did_not_create_are_listed_with_when_they_stopped() {
    let Some((runtime, cleanup)) = setup().await else {
        return;
    };
    let label = format!("{RUN_LABEL}={}", cleanup.run);
    // Not ours: one that ran and exited, one never started, one running.
    docker(&["run", "--label", &label, IMAGE, "true"]).unwrap();
    let exited = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label={label}"),
    ])
    .unwrap()
    .trim()
    .to_owned();
    let created = docker(&["create", "--label", &label, IMAGE, "true"])
        .unwrap()
        .trim()
        .to_owned();
    let running = docker(&["run", "-d", "--label", &label, IMAGE, "sleep", "60"])
        .unwrap()
        .trim()
        .to_owned();
    // Ours (the ECS task label): never listed.
    let ours = docker(&[
        "create",
        "--label",
        &label,
        "--label",
        &format!("{LABEL_TASK_ARN}=arn:aws:ecs:us-east-1:1:task/t/x"),
        IMAGE,
        "true",
    ])
    .unwrap()
    .trim()
    .to_owned();

    let listed = runtime.list_stopped_unmanaged().await.unwrap();
    let find = |id: &str| listed.iter().find(|c| c.id == id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exited_at = find(&exited)
        .expect("the exited container is listed")
        .finished_at;
    assert!(
        (now - 120..=now + 5).contains(&exited_at),
        "{exited_at} vs {now}"
    );
    assert_eq!(
        find(&created)
            .expect("the created one is listed")
            .finished_at,
        0
    );
    assert!(
        find(&running).is_none(),
        "a running container is not listed"
    );
    assert!(find(&ours).is_none(), "an ECS container is not listed");
}
