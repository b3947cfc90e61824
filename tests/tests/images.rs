#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of image handling by the real `ecs-agent` on real Docker: a private registry
//! with ECS_ENGINE_AUTH_DATA credentials, each ECS_IMAGE_PULL_BEHAVIOR, and image cleanup.
//!
//! Every image here has a repository name unique to its test, so cleanup can only ever touch
//! images the test made; untracked-image cleanup is never enabled against the shared engine.

use std::time::{Duration, Instant};

use anyhow::Result;
use base64::Engine as _;
use ecs_e2e_tests::{
    Agent, AwsCli, ClusterCleanup, ControlPlane, Registry, docker, image_exists, random_id,
    register_task_definition, run_when_placed, test_image, wait_status, wait_until,
};
use serde_json::{Value, json};

/// Manifest requests for `repo` the registry has answered so far (each pull makes at least one).
fn manifest_requests(registry: &mut Registry, repo: &str) -> usize {
    let needle = format!("/v2/{repo}/manifests/");
    registry
        .process()
        .output()
        .lines()
        .filter(|l| l.contains("response completed") && l.contains(&needle))
        .count()
}

/// A registry with the test image under a repository unique to the test, a control plane with
/// the cluster, and an agent with `env`.
struct Env {
    _cleanup: ClusterCleanup,
    agent: Agent,
    aws: AwsCli,
    cluster: String,
    def: String,
    repo: String,
    _cp: ControlPlane,
    _data: tempfile::TempDir,
    registry: Registry,
}

fn env(name: &str, env: &[(&str, &str)]) -> Result<Env> {
    let id = random_id();
    let cluster = format!("img-{name}-{id}");
    let cleanup = ClusterCleanup(cluster.clone());
    let registry = Registry::start()?;
    let repo = format!("ecs-e2e-{name}-{id}");
    let image = test_image()?;
    let reference = registry.push(&image.reference, &repo, &image.tag)?;
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    let agent = Agent::start(&cp, &cluster, data.path(), env)?;
    let def = register_task_definition(
        &aws,
        &format!("img-{name}"),
        &json!([{"name": "web", "image": reference, "memory": 32, "essential": true}]),
    )?;
    Ok(Env {
        _cleanup: cleanup,
        agent,
        aws,
        cluster,
        def,
        repo,
        _cp: cp,
        _data: data,
        registry,
    })
}

impl Env {
    fn run_until_running(&self) -> Result<Value> {
        let task = run_when_placed(&self.aws, &self.cluster, &self.def)?;
        wait_status(
            &self.aws,
            &self.cluster,
            &task,
            "RUNNING",
            Duration::from_secs(60),
        )
    }
}

#[test]
fn pull_behavior_always_pulls_every_time() -> Result<()> {
    let mut e = env("always", &[("ECS_IMAGE_PULL_BEHAVIOR", "always")])?;
    e.run_until_running()?;
    let first = manifest_requests(&mut e.registry, &e.repo);
    assert!(first > 0);
    e.run_until_running()?;
    assert!(manifest_requests(&mut e.registry, &e.repo) > first);
    Ok(())
}

#[test]
fn pull_behavior_once_pulls_only_the_first_time() -> Result<()> {
    let mut e = env("once", &[("ECS_IMAGE_PULL_BEHAVIOR", "once")])?;
    e.run_until_running()?;
    let first = manifest_requests(&mut e.registry, &e.repo);
    assert!(first > 0);
    let second = e.run_until_running()?;
    assert_eq!(manifest_requests(&mut e.registry, &e.repo), first);
    // The digest is still reported without a pull.
    assert!(
        second["containers"][0]["imageDigest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{second}"
    );
    Ok(())
}

#[test]
fn pull_behavior_prefer_cached_does_not_contact_the_registry_when_the_image_is_present()
-> Result<()> {
    let mut e = env("prefer", &[("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")])?;
    let reference = format!("{}/{}:{}", e.registry.host(), e.repo, test_image()?.tag);
    docker(&["pull", &reference])?;
    let before = manifest_requests(&mut e.registry, &e.repo);
    e.run_until_running()?;
    e.run_until_running()?;
    assert_eq!(manifest_requests(&mut e.registry, &e.repo), before);
    Ok(())
}

#[test]
fn pull_behavior_default_uses_the_cached_image_when_the_registry_is_down() -> Result<()> {
    let mut e = env("default", &[])?;
    e.run_until_running()?;
    e.registry.process().kill()?;
    // The pull is retried (5 attempts, about 13 s), then the cached image runs.
    e.run_until_running()?;
    let log = e.agent.process.output();
    assert!(
        log.contains("pull failed; using the cached image"),
        "{}",
        e.agent.process.tail()
    );
    Ok(())
}

#[test]
fn a_private_registry_password_with_url_unsafe_base64_characters_pulls() -> Result<()> {
    // `?`, `>` and `~` repeated make standard base64 of the credentials JSON contain `/` and `+`,
    // which Docker (decoding URL-safe base64) would otherwise turn into an anonymous pull.
    let password = "Pw?>~+?????????>>>>>>>>>~~~~~~~~~+x";
    let user = "ecs-e2e-user";
    let id = random_id();
    let cluster = format!("img-private-{id}");
    let mut registry = Registry::start_with_login(user, password)?;
    let _cleanup = ClusterCleanup(cluster.clone());
    let repo = format!("ecs-e2e-private-{id}");
    let image = test_image()?;
    let reference = registry.push(&image.reference, &repo, &image.tag)?;
    let json = json!({"password": password, "serveraddress": registry.host(), "username": user});
    let standard = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    assert!(standard.contains('+') || standard.contains('/'));

    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    let auth_data = json!({ registry.host(): {"username": user, "password": password, "email": "e2e@example.com"} });
    let agent = Agent::start(
        &cp,
        &cluster,
        data.path(),
        &[
            ("ECS_ENGINE_AUTH_TYPE", "docker"),
            ("ECS_ENGINE_AUTH_DATA", &auth_data.to_string()),
        ],
    )?;
    let def = register_task_definition(
        &aws,
        "img-private",
        &json!([{"name": "web", "image": reference, "memory": 32, "essential": true}]),
    )?;
    let before = registry.process().output().len();
    let task = run_when_placed(&aws, &cluster, &def)?;
    wait_status(&aws, &cluster, &task, "RUNNING", Duration::from_secs(60))?;
    let log = registry.process().output();
    assert!(
        log[before..]
            .lines()
            .any(|l| l.contains("authorized request")
                && l.contains(&format!("/v2/{repo}/manifests/"))
                && (l.contains("method=GET") || l.contains("method=HEAD"))),
        "no authenticated pull in the registry log"
    );
    assert!(
        !agent.process.output().contains(password),
        "the password is in the agent's log"
    );
    assert!(!cp.process.output().contains(password));
    Ok(())
}

/// A local image with its own id (the test image plus a label), pushed to `registry` as `repo`;
/// returns the registry reference (not present locally).
fn distinct_image(registry: &Registry, repo: &str) -> Result<String> {
    let base = test_image()?;
    let local = format!("localhost/{repo}:v1");
    let cid = docker(&["create", "--label", "ecs-e2e-tests=1", &base.reference])?;
    let committed = docker(&[
        "commit",
        "--change",
        &format!("LABEL ecs-e2e-variant={repo}"),
        &cid,
        &local,
    ]);
    docker(&["rm", &cid])?;
    committed?;
    let reference = registry.push(&local, repo, "v1");
    docker(&["rmi", &local])?;
    reference
}

fn task_containers(task_arn: &str) -> Result<String> {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task_arn}"),
    ])
}

/// The agent's debug line at the end of each image cleanup cycle.
const CYCLE_DONE: &str = "image cleanup cycle done";

#[test]
fn image_cleanup_removes_only_old_unused_images_a_few_per_cycle() -> Result<()> {
    const MIN_AGE: Duration = Duration::from_secs(30);
    let id = random_id();
    let cluster = format!("img-cleanup-{id}");
    let registry = Registry::start()?;
    // After the registry, so it drops first: containers go before the registry untags images.
    let _cleanup = ClusterCleanup(cluster.clone());
    let [a, b, keep] = ["a", "b", "keep"].map(|n| format!("ecs-e2e-clean-{id}-{n}"));
    let ra = distinct_image(&registry, &a)?;
    let rb = distinct_image(&registry, &b)?;
    let rk = distinct_image(&registry, &keep)?;

    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    let agent = Agent::start_with_run_args(
        &cp,
        &cluster,
        data.path(),
        &[
            ("ECS_IMAGE_MINIMUM_CLEANUP_AGE", "30s"),
            ("ECS_NUM_IMAGES_DELETE_PER_CYCLE", "1"),
            ("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s"),
        ],
        &["--image-cleanup-interval", "2s"],
    )?;
    let once = |image: &str, family: &str| {
        register_task_definition(
            &aws,
            family,
            &json!([{"name": "job", "image": image, "memory": 32, "essential": true,
                     "entryPoint": ["sh", "-c"], "command": ["exit 0"]}]),
        )
    };
    let def_a = once(&ra, "img-clean-a")?;
    let def_b = once(&rb, "img-clean-b")?;
    let def_k = register_task_definition(
        &aws,
        "img-clean-keep",
        &json!([{"name": "web", "image": rk, "memory": 32, "essential": true}]),
    )?;
    let pulled_before = Instant::now();
    let ta = run_when_placed(&aws, &cluster, &def_a)?;
    let tb = run_when_placed(&aws, &cluster, &def_b)?;
    let tk = run_when_placed(&aws, &cluster, &def_k)?;
    wait_status(&aws, &cluster, &ta, "STOPPED", Duration::from_secs(60))?;
    wait_status(&aws, &cluster, &tb, "STOPPED", Duration::from_secs(60))?;
    wait_status(&aws, &cluster, &tk, "RUNNING", Duration::from_secs(60))?;

    // The stopped tasks are cleaned up (1 s), so their images are unused; a cleanup cycle (2 s)
    // later they are still there: younger than the minimum age.
    wait_until(
        Duration::from_secs(30),
        "the stopped tasks' containers to be removed",
        || anyhow::Ok(task_containers(&ta)?.is_empty() && task_containers(&tb)?.is_empty()),
    )?;
    let cycles = |agent: &Agent| agent.process.output().matches(CYCLE_DONE).count();
    let seen = cycles(&agent);
    wait_until(Duration::from_secs(10), "two more cleanup cycles", || {
        cycles(&agent) >= seen + 2
    })?;
    let age = pulled_before.elapsed();
    assert!(
        age < MIN_AGE - Duration::from_secs(1),
        "too slow to check the minimum age ({age:?})"
    );
    assert!(
        image_exists(&ra)? && image_exists(&rb)?,
        "removed before the minimum age"
    );

    // Past the minimum age: one image per cycle, the used one never.
    let first_gone = wait_until(
        Duration::from_secs(40),
        "an unused image to be removed",
        || {
            let (ea, eb) = (image_exists(&ra)?, image_exists(&rb)?);
            anyhow::Ok((!ea || !eb).then_some((ea, eb)))
        },
    )?;
    assert!(
        first_gone.0 || first_gone.1,
        "both images went in one cycle despite ECS_NUM_IMAGES_DELETE_PER_CYCLE=1"
    );
    assert!(pulled_before.elapsed() >= MIN_AGE);
    wait_until(
        Duration::from_secs(20),
        "the other unused image to be removed",
        || anyhow::Ok(!image_exists(&ra)? && !image_exists(&rb)?),
    )?;
    assert!(
        image_exists(&rk)?,
        "the image of a running task was removed"
    );
    assert!(
        image_exists(&test_image()?.reference)?,
        "an untracked image was removed"
    );
    wait_status(&aws, &cluster, &tk, "RUNNING", Duration::from_secs(5))?;
    let log = agent.process.output();
    assert!(log.contains("image removed"), "{}", agent.process.tail());
    Ok(())
}

/// A "registry" on 127.0.0.1 that accepts connections and never answers; dropped, it stops
/// accepting (the connections it holds close with the test process).
struct SilentRegistry {
    addr: std::net::SocketAddr,
}

impl SilentRegistry {
    fn start() -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Ok(Self { addr })
    }
}

#[test]
fn a_silent_registry_stops_the_task_at_the_manifest_timeout_before_any_pull_timeout() -> Result<()>
{
    let id = random_id();
    let cluster = format!("img-manifest-{id}");
    let _cleanup = ClusterCleanup(cluster.clone());
    let registry = SilentRegistry::start()?;
    let image = format!("{}/ecs-e2e-manifest-{id}:1", registry.addr);
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", &cluster])?;
    let data = tempfile::tempdir()?;
    // `always`: a failed manifest fetch stops the task at once (under `default` the reference
    // goes on to the pull, which the 1m inactivity timeout would end).
    let agent = Agent::start(
        &cp,
        &cluster,
        data.path(),
        &[
            ("ECS_IMAGE_PULL_BEHAVIOR", "always"),
            ("ECS_MANIFEST_PULL_TIMEOUT", "30s"),
        ],
    )?;
    let def = register_task_definition(
        &aws,
        "img-manifest",
        &json!([{"name": "web", "image": image, "memory": 32, "essential": true}]),
    )?;
    let started = Instant::now();
    let task = run_when_placed(&aws, &cluster, &def)?;
    let stopped = wait_status(&aws, &cluster, &task, "STOPPED", Duration::from_secs(58))?;
    let elapsed = started.elapsed();
    let reason = stopped["containers"][0]["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("DockerTimeoutError: Could not transition to MANIFEST_PULLED; timed out after waiting 30"),
        "container reason {reason:?}; {stopped}\n{}",
        agent.process.tail()
    );
    assert_eq!(stopped["stoppedReason"].as_str(), Some(reason), "{stopped}");
    // The manifest timeout, not the pull's (1m of inactivity, 2h in all).
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(50),
        "{elapsed:?}"
    );
    assert!(!image_exists(&image)?);
    Ok(())
}
