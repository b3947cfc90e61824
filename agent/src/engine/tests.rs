//! Engine unit tests on the recording fake runtime and a recording reporter: no Docker, no network.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecs_protocol::acs::Task;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::StopReason;
use super::{Engine, EngineHandle, EngineSettings, ReportError, Reporter, Shared};
use crate::ports::PortAllocator;
use crate::runtime::BoxFuture;
use crate::runtime::fake::{Call, FakeRuntime};
use crate::state::Store;
use crate::state_change::TaskStateChange;
use ecs_protocol::TransportProtocol;

#[derive(Default)]
struct Recorder {
    reports: Mutex<Vec<TaskStateChange>>,
}

impl Reporter for Recorder {
    fn submit<'a>(&'a self, report: &'a TaskStateChange) -> BoxFuture<'a, Result<(), ReportError>> {
        Box::pin(async move {
            if let Ok(mut r) = self.reports.lock() {
                r.push(report.clone());
            }
            Ok(())
        })
    }
}

impl Recorder {
    fn statuses(&self, arn: &str) -> Vec<String> {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.task_arn == arn)
            .map(|r| r.status.as_str().to_string())
            .collect()
    }

    fn last(&self, arn: &str) -> Option<TaskStateChange> {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r.task_arn == arn)
            .cloned()
    }
}

/// [`crate::retry::RetryPolicy::SUBMIT_STATE_CHANGE`]'s attempts with millisecond delays.
fn fast_report_retries() -> crate::retry::RetryPolicy {
    crate::retry::RetryPolicy {
        backoff: crate::retry::BackoffPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            ..crate::retry::BackoffPolicy::SUBMIT_STATE_CHANGE
        },
        max_attempts: Some(3),
        ..crate::retry::RetryPolicy::SUBMIT_STATE_CHANGE
    }
}

struct Harness {
    rt: FakeRuntime,
    reporter: Arc<Recorder>,
    engine: EngineHandle,
    shutdown: CancellationToken,
    join: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
    iam: crate::credentials::TaskIam,
}

fn start(rt: FakeRuntime, dir: tempfile::TempDir) -> Harness {
    start_with(
        rt,
        dir,
        crate::secrets::SecretsFetcher::default(),
        ecs_config::Config::default(),
    )
}

fn start_with(
    rt: FakeRuntime,
    dir: tempfile::TempDir,
    secrets: crate::secrets::SecretsFetcher,
    config: ecs_config::Config,
) -> Harness {
    let recorder = Arc::new(Recorder::default());
    start_reporting_to(
        rt,
        dir,
        secrets,
        config,
        (recorder.clone(), fast_report_retries()),
        recorder,
    )
}

/// [`start_with`], reports going to `reporter` with `report_retry`; `recorder` is the harness's
/// (it sees reports only when it is the reporter).
fn start_reporting_to(
    rt: FakeRuntime,
    dir: tempfile::TempDir,
    secrets: crate::secrets::SecretsFetcher,
    config: ecs_config::Config,
    (reporter, report_retry): (Arc<dyn Reporter>, crate::retry::RetryPolicy),
    recorder: Arc<Recorder>,
) -> Harness {
    let mut images = crate::images::Images::new(
        &config,
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test"),
        ),
        None,
    );
    images.retry = crate::retry::RetryPolicy {
        backoff: crate::retry::BackoffPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            ..crate::retry::BackoffPolicy::IMAGE_PULL
        },
        ..crate::retry::RetryPolicy::IMAGE_PULL
    };
    images.manifest_retry = crate::retry::RetryPolicy {
        backoff: crate::retry::BackoffPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            ..crate::retry::BackoffPolicy::MANIFEST_PULL
        },
        ..crate::retry::RetryPolicy::MANIFEST_PULL
    };
    let iam = crate::credentials::TaskIam::default();
    let shared = Arc::new(Shared {
        task_iam: iam.clone(),
        secrets,
        env_files: crate::env_files::EnvFilesFetcher::default(),
        container_metadata: crate::container_metadata::MetadataFiles::from_config(
            &config,
            "arn:aws:ecs:us-east-1:123456789012:container-instance/c/i",
        ),
        runtime: Arc::new(rt.clone()),
        store: Arc::new(Store::open(dir.path()).unwrap()),
        reporter: reporter.clone(),
        ports: Mutex::new(
            PortAllocator::new(
                ecs_config::PortRange {
                    start: 40000,
                    end: 40010,
                },
                [],
                [],
            )
            .with_probe(|_, _| true),
        ),
        config: Arc::new(config),
        settings: EngineSettings {
            stop_timeout: Duration::from_secs(7),
            cleanup_wait: Duration::from_secs(3600),
            cleanup_jitter: Duration::ZERO,
            report_retry,
        },
        images: Arc::new(images),
    });
    let shutdown = CancellationToken::new();
    let (engine, run) = Engine::start(shared, shutdown.clone()).unwrap();
    let join = tokio::spawn(run);
    Harness {
        rt,
        reporter: recorder,
        engine,
        shutdown,
        join,
        dir,
        iam,
    }
}

fn task(arn: &str, desired: &str, containers: serde_json::Value) -> Task {
    serde_json::from_value(json!({
        "arn": arn,
        "taskClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c",
        "family": "web",
        "version": "3",
        "desiredStatus": desired,
        "containers": containers,
    }))
    .unwrap()
}

fn web() -> serde_json::Value {
    json!([
        {"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 64, "cpu": 0, "essential": true,
         "portMappings": [{"containerPort": 8080, "hostPort": 0}]},
        {"name": "side", "image": "127.0.0.1:5000/side:1", "memory": 32, "essential": false}
    ])
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn runs_a_task_then_stops_it_in_reverse_order_with_its_stop_timeout() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    assert!(h.engine.payload(vec![task(ARN, "RUNNING", web())]).await);
    until("RUNNING reported", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let running = h.reporter.last(ARN).unwrap();
    let ports = &running.containers[0].network_bindings;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].container_port, 8080);
    assert_eq!(ports[0].protocol, TransportProtocol::Tcp);
    assert!((40000..=40010).contains(&ports[0].host_port));

    let specs = h.rt.created_specs();
    assert_eq!(specs.len(), 2);
    assert!(
        specs[0].name.starts_with("ecs-web-3-web-"),
        "{}",
        specs[0].name
    );
    assert_eq!(specs[0].cpu_shares, 2, "cpu 0 is raised to 2");
    assert_eq!(specs[0].memory_bytes, Some(64 * 1024 * 1024));
    assert_eq!(specs[0].labels["com.amazonaws.ecs.task-arn"], ARN);
    // A health change is not a state change: RUNNING is not sent again for it.
    let web_id = h.rt.id_of("web").unwrap();
    assert!(h.rt.set_health(&web_id, crate::runtime::Health::Healthy));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !h.engine.snapshot().await.iter().any(|r| {
        r.containers
            .iter()
            .any(|c| c.health.as_deref() == Some("HEALTHY") && c.health_since.is_some())
    }) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "HEALTHY not recorded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    assert!(h.engine.payload(vec![task(ARN, "STOPPED", web())]).await);
    until("STOPPED reported", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    // One change per status, as the reference: PENDING once every image is resolved (each
    // container's digest, the pull times, before any container exists), RUNNING, STOPPED.
    assert_eq!(h.reporter.statuses(ARN), ["PENDING", "RUNNING", "STOPPED"]);
    let pending = h.reporter.reports.lock().unwrap()[0].clone();
    assert!(
        pending
            .containers
            .iter()
            .all(|c| c.image_digest.is_some() && c.runtime_id.is_none()),
        "{pending:?}"
    );
    assert!(pending.pull_started_at.is_some() && pending.pull_stopped_at.is_some());
    let stops: Vec<(String, Duration)> =
        h.rt.actions()
            .into_iter()
            .filter_map(|c| match c {
                Call::Stop { id, timeout } => Some((id, timeout)),
                _ => None,
            })
            .collect();
    let side_id = h.rt.id_of("side").unwrap();
    assert_eq!(
        stops,
        vec![
            (side_id, Duration::from_secs(7)),
            (web_id, Duration::from_secs(7))
        ],
        "reverse order, ECS_CONTAINER_STOP_TIMEOUT"
    );
    let stopped = h.reporter.last(ARN).unwrap();
    assert!(stopped.containers.iter().all(|c| c.exit_code == Some(143)));
    h.shutdown.cancel();
}

#[tokio::test]
async fn reported_bindings_follow_the_ip_family_settings() {
    // The fake runtime reports each published port on 0.0.0.0 and ::, as Docker does on a host
    // with IPv6; the reports keep what the settings say.
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Env<'_>, &[&str]); 4] = [
        (&[], &["0.0.0.0"]),
        (
            &[("ECS_EXCLUDE_IPV6_PORTBINDING", "false")],
            &["0.0.0.0", "::"],
        ),
        (&[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv6")], &["::"]),
        (&[("ECS_INSTANCE_IP_COMPATIBILITY", "ipv4")], &["0.0.0.0"]),
    ];
    for (env, expected) in cases {
        let sources = ecs_config::Sources::from_env(env);
        let h = start_with(
            FakeRuntime::new(),
            tempfile::tempdir().unwrap(),
            crate::secrets::SecretsFetcher::default(),
            ecs_config::load(&sources).config,
        );
        assert!(h.engine.payload(vec![task(ARN, "RUNNING", web())]).await);
        until("RUNNING reported", || {
            h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
        })
        .await;
        let running = h.reporter.last(ARN).unwrap();
        let bindings = &running.containers[0].network_bindings;
        let ips: Vec<&str> = bindings.iter().map(|b| b.bind_ip.as_str()).collect();
        assert_eq!(ips, expected, "{env:?}");
        // Both addresses are the one allocated port.
        assert!(
            bindings
                .iter()
                .all(|b| b.host_port == bindings[0].host_port)
        );
        h.shutdown.cancel();
    }
}

#[tokio::test]
async fn an_essential_exit_stops_the_task_and_oom_is_named() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    h.engine.payload(vec![task(ARN, "RUNNING", web())]).await;
    until("RUNNING", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let web_id = h.rt.id_of("web").unwrap();
    assert!(h.rt.oom(&web_id));
    until("STOPPED", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    let r = h.reporter.last(ARN).unwrap();
    // No task reason, as the reference (ECS derives EssentialContainerExited itself).
    assert_eq!(r.reason, None);
    assert_eq!(
        r.containers[0].reason.as_deref(),
        Some(StopReason::OutOfMemory.to_string().as_str())
    );
    assert_eq!(r.containers[0].exit_code, Some(137));
    assert!(r.execution_stopped_at.is_some());
    h.shutdown.cancel();
}

#[tokio::test]
async fn a_non_essential_exit_leaves_the_task_running() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    h.engine.payload(vec![task(ARN, "RUNNING", web())]).await;
    until("RUNNING", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let side = h.rt.id_of("side").unwrap();
    assert!(h.rt.exit(&side, 0));
    until("the side container's exit reported", || {
        h.reporter
            .last(ARN)
            .is_some_and(|r| r.containers[1].exit_code == Some(0))
    })
    .await;
    let r = h.reporter.last(ARN).unwrap();
    assert_eq!(r.status.as_str(), "RUNNING");
    assert!(
        !h.rt
            .actions()
            .iter()
            .any(|c| matches!(c, Call::Stop { .. }))
    );
    h.shutdown.cancel();
}

#[tokio::test]
async fn an_unpullable_image_fails_its_task_alone() {
    let rt = FakeRuntime::new();
    rt.fail_pull("127.0.0.1:5000/nope:1", "manifest unknown");
    let h = start(rt, tempfile::tempdir().unwrap());
    let bad = "arn:aws:ecs:us-east-1:123456789012:task/c/bad00000000000000000000000000000";
    let one = json!([{"name": "x", "image": "127.0.0.1:5000/nope:1", "memory": 32}]);
    h.engine
        .payload(vec![task(bad, "RUNNING", one), task(ARN, "RUNNING", web())])
        .await;
    until("both settled", || {
        h.reporter.statuses(bad).contains(&"STOPPED".to_string())
            && h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let r = h.reporter.last(bad).unwrap();
    let reason = r.containers[0].reason.clone().unwrap();
    assert!(reason.starts_with("CannotPullContainerError: "), "{reason}");
    assert!(reason.contains("manifest unknown"), "{reason}");
    h.shutdown.cancel();
}

#[tokio::test]
async fn a_failed_manifest_fetch_under_always_stops_the_task_with_the_manifest_error() {
    let rt = FakeRuntime::new();
    // Cached, but `always` must not fall back to it.
    rt.add_image("127.0.0.1:5000/sidecar:1");
    rt.fail_manifest("127.0.0.1:5000/sidecar:1", "manifest unknown");
    let mut config = ecs_config::Config::default();
    config.image_pull_behavior.value = ecs_config::ImagePullBehavior::Always;
    let h = start_with(
        rt,
        tempfile::tempdir().unwrap(),
        crate::secrets::SecretsFetcher::default(),
        config,
    );
    // The failing container is not essential: under `always` the task stops all the same.
    let containers = json!([
        {"name": "sidecar", "image": "127.0.0.1:5000/sidecar:1", "memory": 32, "essential": false},
        {"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 32},
    ]);
    h.engine
        .payload(vec![task(ARN, "RUNNING", containers)])
        .await;
    until("STOPPED", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    let r = h.reporter.last(ARN).unwrap();
    let sidecar = r.containers.iter().find(|c| c.name == "sidecar").unwrap();
    assert_eq!(
        sidecar.reason.as_deref(),
        Some("CannotPullImageManifestError: manifest unknown")
    );
    assert_eq!(
        r.reason.as_deref(),
        Some("CannotPullImageManifestError: manifest unknown")
    );
    assert!(
        !h.rt
            .actions()
            .iter()
            .any(|c| matches!(c, Call::Pull { image } if image.contains("sidecar"))),
        "no pull after the manifest failed"
    );
    h.shutdown.cancel();
}

#[tokio::test]
async fn a_restart_adopts_the_container_created_before_the_crash_instead_of_creating_another() {
    let rt = FakeRuntime::new();
    let dir = tempfile::tempdir().unwrap();
    let h = start(rt.clone(), dir);
    h.engine.payload(vec![task(ARN, "RUNNING", web())]).await;
    until("RUNNING", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    h.shutdown.cancel();
    h.join.await.unwrap();
    let dir = h.dir;
    // Forget the Docker ids, as if the agent died between create and saving the id.
    let store = Store::open(dir.path()).unwrap();
    let mut records = store.load_tasks().unwrap();
    for c in &mut records[0].containers {
        c.docker_id = None;
    }
    store.save_task(&records[0]).unwrap();
    drop(store);
    rt.clear_calls();

    let h = start(rt.clone(), dir);
    // Reconciliation is done when the record has its ids back and the task is RUNNING again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let snapshot = loop {
        let snapshot = h.engine.snapshot().await;
        if snapshot.len() == 1
            && snapshot[0].containers.iter().all(|c| c.docker_id.is_some())
            && snapshot[0].known == ecs_protocol::TaskStatus::Running
        {
            break snapshot;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reconciled: {snapshot:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        !rt.actions()
            .iter()
            .any(|c| matches!(c, Call::Create { .. } | Call::Start { .. })),
        "no second copy: {:?}",
        rt.actions()
    );
    assert_eq!(snapshot[0].containers[0].docker_id, h.rt.id_of("web"));
    h.shutdown.cancel();
}

#[tokio::test]
async fn a_healthy_dependency_holds_the_dependent_back_until_docker_says_healthy() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    let containers = json!([
        {"name": "db", "image": "127.0.0.1:5000/db:1", "memory": 32, "essential": true,
         "healthCheckType": "docker",
         "dockerConfig": {"config": "{\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],\"Interval\":1000000000}}"}},
        {"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 32, "essential": true,
         "links": ["db:database"],
         "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]}
    ]);
    let mut t = task(ARN, "RUNNING", containers);
    t.volumes = Some(
        serde_json::from_value(json!([{"name": "scratch", "type": "host", "host": {}}])).unwrap(),
    );
    t.containers.as_mut().unwrap()[1].mount_points = Some(
        serde_json::from_value(
            json!([{"sourceVolume": "scratch", "containerPath": "/data", "readOnly": true}]),
        )
        .unwrap(),
    );
    assert!(h.engine.payload(vec![t]).await);
    until("db created", || h.rt.id_of("db").is_some()).await;
    // Give the actor time to (wrongly) go on; app must not be created before db is healthy.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        h.rt.id_of("app").is_none(),
        "app created before db was healthy"
    );
    let volumes = h.rt.volumes();
    assert_eq!(
        volumes.len(),
        1,
        "the task-scoped volume exists before any container"
    );
    assert!(
        volumes[0].name.starts_with("ecs-web-3-scratch-"),
        "{}",
        volumes[0].name
    );

    let db_id = h.rt.id_of("db").unwrap();
    assert!(h.rt.set_health(&db_id, crate::runtime::Health::Healthy));
    until("app created", || h.rt.id_of("app").is_some()).await;
    until("RUNNING", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let specs = h.rt.created_specs();
    let app = specs.iter().find(|s| s.name.contains("-app-")).unwrap();
    let db = specs.iter().find(|s| s.name.contains("-db-")).unwrap();
    assert_eq!(
        app.task_resources.links,
        vec![format!("{}:database", db.name)]
    );
    assert_eq!(
        app.task_resources.binds,
        vec![format!("{}:/data:ro", volumes[0].name)]
    );
    let record = h
        .engine
        .snapshot()
        .await
        .into_iter()
        .find(|r| r.arn() == ARN)
        .unwrap();
    assert_eq!(record.containers[0].health.as_deref(), Some("HEALTHY"));

    // Stop: app (which links db) before db.
    h.engine
        .payload(vec![task(ARN, "STOPPED", json!([]))])
        .await;
    until("STOPPED", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    let app_id = h.rt.id_of("app").unwrap();
    let stops: Vec<String> =
        h.rt.actions()
            .into_iter()
            .filter_map(|c| match c {
                Call::Stop { id, .. } => Some(id),
                _ => None,
            })
            .collect();
    assert_eq!(stops, vec![app_id, db_id]);
    h.shutdown.cancel();
}

#[tokio::test]
async fn a_failed_success_dependency_stops_the_task_without_creating_the_dependent() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    let containers = json!([
        {"name": "init", "image": "127.0.0.1:5000/init:1", "memory": 32, "essential": false},
        {"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 32, "essential": true,
         "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]}
    ]);
    assert!(
        h.engine
            .payload(vec![task(ARN, "RUNNING", containers)])
            .await
    );
    until("init created", || h.rt.id_of("init").is_some()).await;
    let init_id = h.rt.id_of("init").unwrap();
    until("init running", || {
        h.rt.container(&init_id).is_some_and(|c| c.running())
    })
    .await;
    assert!(h.rt.exit(&init_id, 1));
    until("STOPPED", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    let report = h.reporter.last(ARN).unwrap();
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency [init] for target [app] as dependency did not exit successfully."
        )
    );
    assert_eq!(report.containers[1].exit_code, Some(143));
    assert!(h.rt.id_of("app").is_none(), "app was created");
    h.shutdown.cancel();
}

#[tokio::test]
async fn the_restart_policy_restarts_an_exited_container_in_place() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    let containers = json!([
        {"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 32, "essential": true,
         "restartPolicy": {"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": 0}}
    ]);
    assert!(
        h.engine
            .payload(vec![task(ARN, "RUNNING", containers.clone())])
            .await
    );
    until("RUNNING", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let id = h.rt.id_of("web").unwrap();
    assert!(h.rt.exit(&id, 2));
    until("restarted", || {
        h.rt.actions()
            .iter()
            .filter(|c| matches!(c, Call::Start { .. }))
            .count()
            == 2
    })
    .await;
    until("running again", || {
        h.rt.container(&id).is_some_and(|c| c.running())
    })
    .await;
    // An ignored exit code ends it as usual: the essential container stops the task.
    assert!(h.rt.exit(&id, 0));
    until("STOPPED", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    let report = h.reporter.last(ARN).unwrap();
    assert_eq!(report.containers[0].exit_code, Some(0));
    let record = h
        .engine
        .snapshot()
        .await
        .into_iter()
        .find(|r| r.arn() == ARN)
        .unwrap();
    assert_eq!(record.containers[0].restart_count, 1);
    h.shutdown.cancel();
}

#[tokio::test]
async fn a_dependency_that_outlives_its_start_timeout_fails_the_dependent() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    let containers = json!([
        {"name": "migrate", "image": "127.0.0.1:5000/m:1", "memory": 32, "essential": false,
         "startTimeout": 1},
        {"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 32, "essential": true,
         "dependsOn": [{"containerName": "migrate", "condition": "COMPLETE"}]}
    ]);
    assert!(
        h.engine
            .payload(vec![task(ARN, "RUNNING", containers)])
            .await
    );
    // migrate never exits: after its 1 s start timeout, with no event, the task gives up.
    until("STOPPED", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    let report = h.reporter.last(ARN).unwrap();
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "CannotStartContainerError: dependency graph: container ordering dependency [migrate] for target [app] has timed out."
        )
    );
    assert!(h.rt.id_of("app").is_none());
    h.shutdown.cancel();
}

#[tokio::test]
async fn role_credentials_reach_the_env_and_are_dropped_when_the_task_stops() {
    use crate::credentials::{Lookup, take_payload_credentials};
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    let mut t = task(ARN, "RUNNING", web());
    let creds = |id: &str| {
        serde_json::from_value(json!({
            "credentialsId": id, "roleArn": "arn:aws:iam::123456789012:role/r",
            "accessKeyId": "ASIAX", "secretAccessKey": "s", "sessionToken": "t",
            "expiration": "2099-01-01T00:00:00Z"
        }))
        .unwrap()
    };
    t.role_credentials = Some(creds("role-id"));
    t.execution_role_credentials = Some(creds("exec-id"));
    let tasks = take_payload_credentials(&h.iam.credentials, &[t]);
    assert!(
        tasks[0]
            .role_credentials
            .as_ref()
            .unwrap()
            .session_token
            .is_none()
    );
    assert!(h.engine.payload(tasks).await);
    until("RUNNING", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let specs = h.rt.created_specs();
    let id = h.iam.ids.id(ARN, "web");
    for want in [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/role-id".to_string(),
        format!("ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/{id}"),
    ] {
        assert!(
            specs[0].env.contains(&want),
            "{want} not in {:?}",
            specs[0].env
        );
    }
    assert!(h.engine.payload(vec![task(ARN, "STOPPED", web())]).await);
    until("STOPPED", || {
        h.reporter.statuses(ARN).contains(&"STOPPED".to_string())
    })
    .await;
    until("task role credentials dropped", || {
        h.iam.credentials.get("role-id") == Lookup::Unknown
    })
    .await;
    assert!(matches!(h.iam.credentials.get("exec-id"), Lookup::Ready(_)));
    h.shutdown.cancel();
}

#[tokio::test]
async fn secrets_reach_the_env_with_the_execution_role_and_a_failed_fetch_stops_the_task() {
    use crate::credentials::take_payload_credentials;
    let (endpoint, calls) = crate::secrets::tests::fake_services().await;
    let h = start_with(
        FakeRuntime::new(),
        tempfile::tempdir().unwrap(),
        crate::secrets::SecretsFetcher::new(crate::aws_json::AwsAccess::new(
            Some(endpoint),
            "us-east-1",
        )),
        ecs_config::Config::default(),
    );
    let with_secrets = |value_from: &str| {
        json!([{"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 64, "essential": true,
                "environment": {"PLAIN": "1"},
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": value_from, "provider": "ssm",
                             "type": "ENVIRONMENT_VARIABLE", "region": "us-east-1"}]}])
    };
    let mut t = task(ARN, "RUNNING", with_secrets("/db/pw"));
    t.execution_role_credentials = Some(
        serde_json::from_value(json!({
            "credentialsId": "exec-id", "roleArn": "arn:aws:iam::123456789012:role/exec",
            "accessKeyId": "ASIAEXEC", "secretAccessKey": "s", "sessionToken": "t",
            "expiration": "2099-01-01T00:00:00Z"
        }))
        .unwrap(),
    );
    // As in the real flow: the engine gets the task with the credentials' secret parts removed.
    let tasks = take_payload_credentials(&h.iam.credentials, &[t.clone()]);
    assert!(h.engine.payload(tasks).await);
    until("RUNNING", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let env = &h.rt.created_specs()[0].env;
    assert!(
        env.contains(&"DB_PASSWORD=value-of-/db/pw".to_string()),
        "{env:?}"
    );
    assert!(env.contains(&"PLAIN=1".to_string()), "{env:?}");
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].0, "AmazonSSM.GetParameters");
        assert_eq!(
            calls[0].1["_SignedWith"], "ASIAEXEC",
            "signed with the execution role, not the instance"
        );
    }

    // An unknown parameter: the task stops before any container is created, with the reason.
    const OTHER: &str =
        "arn:aws:ecs:us-east-1:123456789012:task/c/ffffffffffffffffffffffffffffffff";
    let mut bad = task(OTHER, "RUNNING", with_secrets("/missing/pw"));
    bad.execution_role_credentials = t.execution_role_credentials.clone();
    bad.execution_role_credentials
        .as_mut()
        .unwrap()
        .credentials_id = Some("exec-2".into());
    let tasks = take_payload_credentials(&h.iam.credentials, &[bad]);
    assert!(h.engine.payload(tasks).await);
    until("STOPPED", || {
        h.reporter.statuses(OTHER).contains(&"STOPPED".to_string())
    })
    .await;
    let report = h.reporter.last(OTHER).unwrap();
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "ResourceInitializationError: fetching secret data from SSM Parameter Store in us-east-1: invalid parameters: /missing/pw"
        )
    );
    assert_eq!(
        h.rt.created_specs().len(),
        1,
        "no container created for the failed task"
    );
}

#[tokio::test]
async fn pull_dependent_containers_upfront_pulls_before_the_dependency_is_met() {
    for upfront in [false, true] {
        let mut config = ecs_config::Config::default();
        config.pull_dependent_containers_upfront.value = upfront;
        let h = start_with(
            FakeRuntime::new(),
            tempfile::tempdir().unwrap(),
            crate::secrets::SecretsFetcher::default(),
            config,
        );
        let containers = json!([
            {"name": "init", "image": "127.0.0.1:5000/init:1", "memory": 32, "essential": false},
            {"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 32, "essential": true,
             "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]}
        ]);
        assert!(
            h.engine
                .payload(vec![task(ARN, "RUNNING", containers)])
                .await
        );
        until("init created", || h.rt.id_of("init").is_some()).await;
        let init_id = h.rt.id_of("init").unwrap();
        until("init running", || {
            h.rt.container(&init_id).is_some_and(|c| c.running())
        })
        .await;
        // The app's image is pulled by the digest its manifest resolved, then tagged `app:1`.
        let pulled_app = || {
            h.rt.actions().iter().any(
                |c| matches!(c, Call::TagImage { target, .. } if target == "127.0.0.1:5000/app:1"),
            )
        };
        if upfront {
            until("app pulled while init runs", pulled_app).await;
        } else {
            assert!(!pulled_app(), "app pulled before its dependency was met");
        }
        assert!(
            h.rt.id_of("app").is_none(),
            "app created before init exited"
        );
        assert!(h.rt.exit(&init_id, 0));
        until("app running", || {
            h.rt.id_of("app")
                .and_then(|id| h.rt.container(&id))
                .is_some_and(|c| c.running())
        })
        .await;
        let pulls =
            h.rt.actions()
                .iter()
                .filter(|c| matches!(c, Call::Pull { image } if image.starts_with("127.0.0.1:5000/app@sha256:")))
                .count();
        assert_eq!(pulls, 1, "upfront={upfront}: one pull of app");
        h.shutdown.cancel();
    }
}

/// A control plane that never answers a SubmitTaskStateChange.
struct Silent;

impl Reporter for Silent {
    fn submit<'a>(&'a self, _: &'a TaskStateChange) -> BoxFuture<'a, Result<(), ReportError>> {
        Box::pin(std::future::pending())
    }
}

/// A control plane that fails every SubmitTaskStateChange in a way worth retrying.
struct Down;

impl Reporter for Down {
    fn submit<'a>(&'a self, _: &'a TaskStateChange) -> BoxFuture<'a, Result<(), ReportError>> {
        Box::pin(async { Err(ReportError::Transient("connection refused".into())) })
    }
}

#[tokio::test]
async fn a_stop_is_handled_promptly_while_reports_hang_or_are_retried() {
    // The reference's schedule, but an hour before the first retry.
    let patient = crate::retry::RetryPolicy {
        backoff: crate::retry::BackoffPolicy {
            initial: Duration::from_secs(3600),
            ..crate::retry::BackoffPolicy::SUBMIT_STATE_CHANGE
        },
        ..crate::retry::RetryPolicy::SUBMIT_STATE_CHANGE
    };
    let cases: [(&str, Arc<dyn Reporter>); 2] =
        [("hangs", Arc::new(Silent)), ("fails", Arc::new(Down))];
    for (what, reporter) in cases {
        let h = start_reporting_to(
            FakeRuntime::new(),
            tempfile::tempdir().unwrap(),
            crate::secrets::SecretsFetcher::default(),
            ecs_config::Config::default(),
            (reporter, patient),
            Arc::new(Recorder::default()),
        );
        assert!(h.engine.payload(vec![task(ARN, "RUNNING", web())]).await);
        let running = |name: &str| {
            h.rt.id_of(name)
                .and_then(|id| h.rt.container(&id))
                .is_some_and(|c| c.running())
        };
        until("both containers running", || {
            running("web") && running("side")
        })
        .await;

        let asked = tokio::time::Instant::now();
        assert!(h.engine.payload(vec![task(ARN, "STOPPED", web())]).await);
        until("both containers stopped", || {
            h.rt.actions()
                .iter()
                .filter(|c| matches!(c, Call::Stop { .. }))
                .count()
                == 2
        })
        .await;
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "submit {what}: the stop took {:?}",
            asked.elapsed()
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let record = loop {
            let record = h
                .engine
                .snapshot()
                .await
                .into_iter()
                .find(|r| r.arn() == ARN);
            if record
                .as_ref()
                .is_some_and(|r| r.known == ecs_protocol::TaskStatus::Stopped)
            {
                break record;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "submit {what}: the task never became STOPPED"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(
            record.and_then(|r| r.sent),
            None,
            "submit {what}: nothing was delivered, so nothing is saved as sent"
        );
        h.shutdown.cancel();
    }
}

#[test]
fn each_task_waits_the_cleanup_wait_plus_part_of_the_jitter() {
    let settings = |jitter| EngineSettings {
        stop_timeout: Duration::from_secs(30),
        cleanup_wait: Duration::from_secs(3600),
        cleanup_jitter: jitter,
        report_retry: crate::retry::RetryPolicy::SUBMIT_STATE_CHANGE,
    };
    assert_eq!(
        settings(Duration::ZERO).task_cleanup_wait(),
        Duration::from_secs(3600)
    );
    let jittered = settings(Duration::from_secs(600));
    let waits: Vec<Duration> = (0..64).map(|_| jittered.task_cleanup_wait()).collect();
    assert!(
        waits
            .iter()
            .all(|w| (Duration::from_secs(3600)..=Duration::from_secs(4200)).contains(w))
    );
    assert!(
        waits.iter().any(|w| *w > Duration::from_secs(3601)),
        "the jitter is added: {waits:?}"
    );
}

#[tokio::test]
async fn container_metadata_files_are_mounted_and_made_ready() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    let mut config = ecs_config::Config::default();
    config.enable_container_metadata.value = true;
    config.host_data_dir.value = host.clone();
    let h = start_with(
        FakeRuntime::new(),
        dir,
        crate::secrets::SecretsFetcher::default(),
        config,
    );
    assert!(h.engine.payload(vec![task(ARN, "RUNNING", web())]).await);
    until("RUNNING reported", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let task_dir = host.join("data/metadata/0123456789abcdef0123456789abcdef");
    let spec = &h.rt.created_specs()[0];
    let bind = spec
        .task_resources
        .binds
        .iter()
        .find(|b| b.starts_with(task_dir.join("web").to_str().unwrap()))
        .expect("the metadata directory is mounted");
    let inside = bind.split_once(':').unwrap().1;
    assert!(spec.env.contains(&format!(
        "ECS_CONTAINER_METADATA_FILE={inside}/ecs-container-metadata.json"
    )));
    let file = task_dir.join("web/ecs-container-metadata.json");
    let ready: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(ready["MetadataFileStatus"], "READY");
    assert_eq!(ready["ContainerID"], h.rt.id_of("web").unwrap().as_str());
    assert_eq!(ready["TaskDefinitionFamily"], "web");
    h.shutdown.cancel();
}

#[tokio::test]
async fn no_container_metadata_unless_enabled() {
    let h = start(FakeRuntime::new(), tempfile::tempdir().unwrap());
    assert!(h.engine.payload(vec![task(ARN, "RUNNING", web())]).await);
    until("RUNNING reported", || {
        h.reporter.statuses(ARN).contains(&"RUNNING".to_string())
    })
    .await;
    let spec = &h.rt.created_specs()[0];
    assert!(
        !spec
            .env
            .iter()
            .any(|e| e.starts_with("ECS_CONTAINER_METADATA_FILE="))
    );
    assert!(spec.task_resources.binds.is_empty());
    h.shutdown.cancel();
}
