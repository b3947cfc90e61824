//! The `ecs-agent` binary's footprint and task start latency, against raw Docker on the same
//! machine in the same run.
//!
//! One run sets up a real registry holding the test image, the release `ecs-control-plane` (state
//! in memory, default 30 s ACS heartbeat) and the release `ecs-agent` (`ECS_EXTERNAL=true`, its
//! own `ECS_DATADIR` in a temporary directory, stopped tasks cleaned up after 1 s), then:
//!
//! 1. **Idle**: after registration and a settle time, reads `VmRSS`/`RssAnon`/`RssFile` from
//!    `/proc/<pid>/status`, then the agent's CPU (utime + stime of all threads, from
//!    `/proc/<pid>/stat`) over a wall-clock window.
//! 2. **Start latency, one task at a time** (interleaved, so drift hits every setup alike): the
//!    agent (RunTask with the Rust SDK, then DescribeTasks every `poll` until the task's
//!    `lastStatus` is RUNNING, timed from RunTask *returning*; the task is stopped and its
//!    containers cleaned up before the next one), and the same container started by raw Docker:
//!    Engine API create + start (bollard, the agent's own client library), the same with a pull
//!    first (the agent pulls before every create), and the `docker` CLI's `create` + `start`;
//!    raw samples are timed from the first call to `inspect` saying running.
//! 3. **Start latency, a burst**: `burst` tasks at once (RunTask with count ≤ 10, the API's limit,
//!    in parallel calls) against as many raw create + start sequences run concurrently.
//! 4. **Loaded**: `loaded_tasks` tasks RUNNING, then RSS and CPU again; then everything is stopped
//!    and cleaned up and RSS is read once more (a leak would show there).
//!
//! Everything the run creates is removed when it ends, whatever happened: tasks are stopped,
//! containers labelled with the bench cluster (agent) or [`RAW_LABEL`] (raw Docker) are removed,
//! and the child processes are killed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use aws_sdk_ecs::error::DisplayErrorContext;
use aws_sdk_ecs::types::{ContainerDefinition, PortMapping, TransportProtocol};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptions,
};
use ecs_e2e_tests::fake_agent::{SigningIdentity, ecs_client};
use ecs_e2e_tests::{
    Agent, ChildProcess, ControlPlane, Registry, TEST_IMAGE_PORT, docker, free_port,
    remove_containers_labeled, wait_until,
};
use futures_util::future::join_all;
use futures_util::{StreamExt, TryStreamExt, stream};
use tempfile::TempDir;

use crate::stats::{ms, percentile};

/// The cluster the agent registers into; its task containers carry it as a label.
pub const CLUSTER: &str = "agent-bench";
/// Label on the raw Docker containers, so they are found and removed whatever happens.
pub const RAW_LABEL: &str = "ecs-bench-agent-raw";
/// RunTask starts at most this many tasks per call (the ECS API limit).
const RUN_TASK_MAX_COUNT: usize = 10;
/// Memory (MiB, hard limit) and CPU units of the benchmark's one container.
const MEMORY_MIB: i32 = 64;
const CPU_UNITS: i32 = 10;
/// Longest wait for tasks to reach a status, or containers to be cleaned up.
const STATUS_DEADLINE: Duration = Duration::from_secs(180);

/// Targets from the acceptance criteria.
pub const TARGET_IDLE_RSS_MIB: f64 = 12.0;
pub const TARGET_LOADED_RSS_MIB: f64 = 40.0;
pub const TARGET_START_RATIO_P50: f64 = 1.15;
pub const TARGET_IDLE_CPU_PERCENT: f64 = 0.5;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `ecs-agent` binary.
    pub agent_bin: PathBuf,
    /// The `ecs-control-plane` binary.
    pub control_plane_bin: PathBuf,
    /// Wait after registration before the idle memory reading.
    pub settle: Duration,
    /// Wall-clock window over which idle CPU is measured.
    pub idle_window: Duration,
    /// One-task-at-a-time samples per setup.
    pub singles: usize,
    /// Tasks (and raw containers) started at once in a burst.
    pub burst: usize,
    /// Bursts per setup.
    pub burst_rounds: usize,
    /// Tasks running for the loaded memory reading.
    pub loaded_tasks: usize,
    /// Wait with the loaded tasks RUNNING before reading memory; CPU is then read over the same.
    pub loaded_settle: Duration,
    /// DescribeTasks (and raw `inspect`) polling interval.
    pub poll: Duration,
}

/// Memory of a process, KiB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `RssAnon`: the anonymous part (heap, stacks): what the program itself holds.
    pub anon_kib: u64,
    /// `RssFile`: mapped file pages (the binary's text, shared libraries).
    pub file_kib: u64,
    /// `VmHWM`: peak resident size so far.
    pub peak_kib: u64,
    /// Threads.
    pub threads: u64,
}

impl Memory {
    /// Reads `pid`'s memory; fails when the process is gone.
    pub fn of(pid: u32) -> Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        parse_memory(&status).with_context(|| format!("{path} lacks a memory field"))
    }

    /// `VmRSS` in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        status.lines().find_map(|l| {
            let v = l.strip_prefix(name)?.trim();
            v.strip_suffix("kB").unwrap_or(v).trim().parse().ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        anon_kib: field("RssAnon:")?,
        file_kib: field("RssFile:")?,
        peak_kib: field("VmHWM:")?,
        threads: field("Threads:")?,
    })
}

/// CPU time a process spent over a wall-clock window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// User + system time of all its threads.
    pub cpu: Duration,
    /// The window.
    pub wall: Duration,
}

impl CpuUse {
    /// Percent of one CPU.
    pub fn percent(&self) -> f64 {
        100.0 * self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }

    /// The smallest CPU time `/proc` can show (one clock tick) as a percentage of this window:
    /// a reading of 0 means "less than this".
    pub fn resolution_percent(&self) -> f64 {
        let tick = clock_ticks_per_sec().map_or(0.01, |hz| 1.0 / hz as f64);
        100.0 * tick / self.wall.as_secs_f64()
    }

    /// `0.123 %`, or `< 0.022 % (no clock tick)` when no tick was counted.
    pub fn describe(&self) -> String {
        if self.cpu.is_zero() {
            format!("< {:.3} % (0 clock ticks)", self.resolution_percent())
        } else {
            format!("{:.3} % ({} ms)", self.percent(), ms(self.cpu))
        }
    }

    /// Measures `pid` over `window`.
    pub async fn measure(pid: u32, window: Duration) -> Result<Self> {
        let (cpu0, t0) = (cpu_time(pid)?, Instant::now());
        tokio::time::sleep(window).await;
        let (cpu1, wall) = (cpu_time(pid)?, t0.elapsed());
        Ok(CpuUse {
            cpu: cpu1.saturating_sub(cpu0),
            wall,
        })
    }
}

/// User + system CPU time of `pid` so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let ticks = parse_cpu_ticks(&stat).with_context(|| format!("cannot parse {path}"))?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_sec()? as f64,
    ))
}

/// utime + stime in clock ticks: fields 14 and 15 of the line, 12 and 13 after the command name
/// (which is in parentheses and may hold spaces).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_sec() -> Result<u64> {
    static HZ: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    HZ.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    })
    .context("`getconf CLK_TCK` gave no clock tick rate")
}

/// Who started the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Starter {
    /// The agent: RunTask returned → DescribeTasks shows RUNNING.
    Agent,
    /// Engine API create + start, then inspect until running.
    RawApi,
    /// Engine API pull + create + start: what the agent asks Docker for.
    RawApiPull,
    /// `docker create` + `docker start`, then `docker inspect` until running.
    RawCli,
}

impl Starter {
    /// In table order.
    pub const ALL: [Starter; 4] = [
        Starter::Agent,
        Starter::RawApi,
        Starter::RawApiPull,
        Starter::RawCli,
    ];

    /// For tables.
    pub fn label(self) -> &'static str {
        match self {
            Starter::Agent => "agent: RunTask returned → DescribeTasks RUNNING",
            Starter::RawApi => "raw Docker API: create + start → running",
            Starter::RawApiPull => "raw Docker API: pull + create + start → running",
            Starter::RawCli => "raw docker CLI: create + start → running",
        }
    }
}

/// Start latencies of one setup at one concurrency.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    /// One sample per container (task).
    pub samples: Vec<Duration>,
    /// Per burst: from the first call to the last container running.
    pub batch_walls: Vec<Duration>,
}

impl Latencies {
    /// The nearest-rank percentile `p` of the samples.
    pub fn pct(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        percentile(&sorted, p)
    }
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// From spawning the agent to its introspection API reporting a container instance ARN.
    pub registration: Duration,
    /// After registration and `settle`.
    pub idle_memory: Memory,
    /// Over `idle_window`, right after `idle_memory`.
    pub idle_cpu: CpuUse,
    /// One task at a time.
    pub single: HashMap<Starter, Latencies>,
    /// `burst` at once.
    pub burst: HashMap<Starter, Latencies>,
    /// RunTask call latency (client side) of the agent's tasks, all phases.
    pub run_task_calls: Vec<Duration>,
    /// Tasks RUNNING for the loaded reading.
    pub loaded_tasks: usize,
    /// How long the loaded tasks took to be RUNNING, from the first RunTask.
    pub loaded_start: Duration,
    /// With `loaded_tasks` RUNNING, after `loaded_settle`.
    pub loaded_memory: Memory,
    /// Over `loaded_settle`, with the tasks running.
    pub loaded_cpu: CpuUse,
    /// After every task was stopped and cleaned up.
    pub after_memory: Memory,
    /// Load average when the run started and ended.
    pub load_start: String,
    pub load_end: String,
}

impl Results {
    /// Agent p50 over raw Docker p50 (`raw` = [`Starter::RawApi`] or [`Starter::RawCli`]).
    pub fn ratio_p50(set: &HashMap<Starter, Latencies>, raw: Starter) -> Option<f64> {
        let a = set.get(&Starter::Agent)?.pct(50.0)?;
        let r = set.get(&raw)?.pct(50.0)?;
        Some(a.as_secs_f64() / r.as_secs_f64())
    }
}

/// The pieces a run needs; dropping it stops the agent and removes every container it made.
struct Bench {
    _registry: Registry,
    _control_plane: ControlPlane,
    agent: Agent,
    _data_dir: TempDir,
    ecs: aws_sdk_ecs::Client,
    docker: Docker,
    image: String,
    task_def: String,
    poll: Duration,
    raw_seq: usize,
}

impl Drop for Bench {
    fn drop(&mut self) {
        // The agent first, so it does not restart what is being removed.
        let _ = self.agent.process.kill();
        for label in [
            format!("com.amazonaws.ecs.cluster={CLUSTER}"),
            RAW_LABEL.into(),
        ] {
            if let Err(e) = remove_containers_labeled(&label) {
                eprintln!("agent-bench: cannot remove containers labelled {label}: {e:#}");
            }
        }
    }
}

/// Runs the whole benchmark; `progress` gets a line per step.
pub async fn run(opts: &Options, progress: impl Fn(&str)) -> Result<Results> {
    for (what, bin) in [
        ("ecs-agent", &opts.agent_bin),
        ("ecs-control-plane", &opts.control_plane_bin),
    ] {
        ensure!(
            bin.is_file(),
            "no {what} binary at {}: build it with `cargo build --release -p ecs-agent -p ecs-control-plane -p ecs-bench` \
             (same CARGO_TARGET_DIR) or pass its path",
            bin.display()
        );
    }
    ensure!(
        opts.singles > 0 && opts.burst > 0,
        "--singles and --burst must be at least 1"
    );
    let load_start = crate::sysinfo::loadavg();
    progress("setting up: registry with the test image, control plane, agent");
    let cp_bin = opts.control_plane_bin.clone();
    let (registry, image, control_plane) = tokio::task::spawn_blocking(move || -> Result<_> {
        let registry = Registry::start()?;
        let image = registry.push_test_image()?;
        // The push untags the local reference; pull it so raw Docker starts from a local image,
        // as the agent does after its first pull.
        docker(&["pull", "-q", &image])?;
        Ok((registry, image, start_control_plane(&cp_bin)?))
    })
    .await
    .context("the set-up panicked")??;
    let ecs = bench_client(&control_plane.endpoint());
    ecs.create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .map_err(|e| sdk_err("CreateCluster", e))?;
    let data_dir = tempfile::Builder::new()
        .prefix("ecs-bench-agent-")
        .tempdir()?;
    let (agent_bin, dir, endpoint) = (
        opts.agent_bin.clone(),
        data_dir.path().to_path_buf(),
        control_plane.endpoint(),
    );
    let (agent, registration) =
        tokio::task::spawn_blocking(move || start_agent(&agent_bin, &endpoint, &dir))
            .await
            .context("the agent start panicked")??;
    let docker = Docker::connect_with_local_defaults().context("cannot reach Docker")?;
    let mut bench = Bench {
        _registry: registry,
        _control_plane: control_plane,
        agent,
        _data_dir: data_dir,
        ecs,
        docker,
        image,
        task_def: String::new(),
        poll: opts.poll,
        raw_seq: 0,
    };
    let pid = bench.agent.process.id();
    bench.wait_agent_connected().await?;
    bench.task_def = bench.register_task_definition().await?;

    progress(&format!(
        "registered in {} ms; idle: settling {:?}, then CPU over {:?}",
        ms(registration),
        opts.settle,
        opts.idle_window
    ));
    tokio::time::sleep(opts.settle).await;
    let idle_memory = Memory::of(pid)?;
    let idle_cpu = CpuUse::measure(pid, opts.idle_window).await?;

    let mut run_task_calls = Vec::new();
    progress("warm-up: one unmeasured start of each kind");
    for starter in Starter::ALL {
        bench.start_batch(starter, 1, &mut run_task_calls).await?;
        bench.clean_up().await?;
    }
    run_task_calls.clear();

    let mut single: HashMap<Starter, Latencies> = HashMap::new();
    for i in 0..opts.singles {
        progress(&format!(
            "one at a time: round {} of {}",
            i + 1,
            opts.singles
        ));
        for starter in Starter::ALL {
            let l = bench.start_batch(starter, 1, &mut run_task_calls).await?;
            single.entry(starter).or_default().samples.extend(l.samples);
            bench.clean_up().await?;
        }
    }

    let mut burst: HashMap<Starter, Latencies> = HashMap::new();
    for r in 0..opts.burst_rounds {
        for starter in Starter::ALL {
            progress(&format!(
                "burst of {} round {} of {}: {}",
                opts.burst,
                r + 1,
                opts.burst_rounds,
                starter.label()
            ));
            let l = bench
                .start_batch(starter, opts.burst, &mut run_task_calls)
                .await?;
            let e = burst.entry(starter).or_default();
            e.samples.extend(l.samples);
            e.batch_walls.extend(l.batch_walls);
            bench.clean_up().await?;
        }
    }

    progress(&format!(
        "loaded: {} tasks, then {:?} settle + CPU",
        opts.loaded_tasks, opts.loaded_settle
    ));
    let loaded = bench
        .start_batch(Starter::Agent, opts.loaded_tasks, &mut Vec::new())
        .await?;
    let loaded_start = loaded.batch_walls.first().copied().unwrap_or_default();
    let running = bench.agent_containers(true).await?;
    ensure!(
        running == opts.loaded_tasks,
        "{running} agent containers running, expected {}",
        opts.loaded_tasks
    );
    let settle_half = opts.loaded_settle / 2;
    tokio::time::sleep(settle_half).await;
    let loaded_memory = Memory::of(pid)?;
    let loaded_cpu = CpuUse::measure(pid, opts.loaded_settle - settle_half).await?;
    progress("stopping and cleaning up the loaded tasks");
    bench.clean_up().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_memory = Memory::of(pid)?;
    if let Some(status) = bench.agent.process.try_status()? {
        bail!(
            "the agent exited during the run ({status}):\n{}",
            bench.agent.process.tail()
        );
    }
    Ok(Results {
        registration,
        idle_memory,
        idle_cpu,
        single,
        burst,
        run_task_calls,
        loaded_tasks: opts.loaded_tasks,
        loaded_start,
        loaded_memory,
        loaded_cpu,
        after_memory,
        load_start,
        load_end: crate::sysinfo::loadavg(),
    })
}

fn start_control_plane(bin: &Path) -> Result<ControlPlane> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    // As a user runs it: default log level and ACS heartbeat (30 s), state in memory.
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", &addr])
        .env_remove("RUST_LOG")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let process = ChildProcess::spawn("ecs-control-plane", &mut cmd)?;
    wait_until(
        Duration::from_secs(20),
        "the control plane to listen",
        || TcpStream::connect(&addr).is_ok(),
    )?;
    Ok(ControlPlane {
        process,
        addr,
        data_dir: None,
    })
}

/// Starts the agent as [`Agent::start`] does, but from `bin`, at its default log level (info),
/// and with stopped tasks cleaned up after 1 s; returns it registered and the time that took.
fn start_agent(bin: &Path, endpoint: &str, data_dir: &Path) -> Result<(Agent, Duration)> {
    let introspection = format!("127.0.0.1:{}", free_port()?);
    let credentials = format!("127.0.0.1:{}", free_port()?);
    let empty = data_dir.join("empty.config");
    std::fs::write(&empty, "")?;
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ECS_CLUSTER", CLUSTER)
        .env("ECS_BACKEND_HOST", endpoint)
        .env("ECS_DATADIR", data_dir)
        .env("ECS_EXTERNAL", "true")
        .env("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s")
        .env("ECS_CONTAINER_STOP_TIMEOUT", "5s")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ECS_LOGFILE", data_dir.join("ecs-agent.log"))
        .env("ECS_AUDIT_LOGFILE", data_dir.join("audit.log"));
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", host);
    }
    cmd.arg("--config-file")
        .arg(&empty)
        .arg("--instance-config-file")
        .arg(&empty)
        .arg("run")
        .arg("--introspection-listen")
        .arg(&introspection)
        .arg("--credentials-listen")
        .arg(&credentials);
    let started = Instant::now();
    let process = ChildProcess::spawn("ecs-agent", &mut cmd)?;
    let agent = Agent {
        process,
        introspection,
        credentials,
        data_dir: data_dir.to_path_buf(),
        cluster: CLUSTER.into(),
    };
    agent
        .wait_registered(Duration::from_secs(60))
        .map_err(|e| e.context(format!("agent output:\n{}", agent.process.tail())))?;
    Ok((agent, started.elapsed()))
}

/// The emulator's default keys, retries off: a failed call is an error, not hidden time.
fn bench_client(endpoint: &str) -> aws_sdk_ecs::Client {
    let base = ecs_client(endpoint, &SigningIdentity::emulator_default());
    let conf = base
        .config()
        .to_builder()
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

fn sdk_err(what: &str, e: impl std::error::Error) -> anyhow::Error {
    anyhow!("{what}: {}", DisplayErrorContext(e))
}

impl Bench {
    async fn wait_agent_connected(&self) -> Result<()> {
        let arn = self.agent.wait_registered(Duration::from_secs(5))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self
                .ecs
                .describe_container_instances()
                .cluster(CLUSTER)
                .container_instances(&arn)
                .send()
                .await
                .map_err(|e| sdk_err("DescribeContainerInstances", e))?;
            if out
                .container_instances()
                .first()
                .is_some_and(|ci| ci.agent_connected())
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the agent did not connect to ACS within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn register_task_definition(&self) -> Result<String> {
        let container = ContainerDefinition::builder()
            .name("web")
            .image(&self.image)
            .memory(MEMORY_MIB)
            .cpu(CPU_UNITS)
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(i32::from(TEST_IMAGE_PORT))
                    .host_port(0)
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .build();
        let out = self
            .ecs
            .register_task_definition()
            .family("agent-bench-web")
            .container_definitions(container)
            .send()
            .await
            .map_err(|e| sdk_err("RegisterTaskDefinition", e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(String::from)
            .context("RegisterTaskDefinition returned no ARN")
    }

    /// Starts `n` containers at once with `starter` and times each; RunTask call latencies go
    /// to `calls`.
    async fn start_batch(
        &mut self,
        starter: Starter,
        n: usize,
        calls: &mut Vec<Duration>,
    ) -> Result<Latencies> {
        let t0 = Instant::now();
        let samples = match starter {
            Starter::Agent => self.agent_batch(n, calls).await?,
            raw => {
                let names: Vec<String> = (0..n)
                    .map(|_| {
                        self.raw_seq += 1;
                        format!("agent-bench-raw-{}-{}", std::process::id(), self.raw_seq)
                    })
                    .collect();
                let runs = names.iter().map(|name| self.raw_one(raw, name));
                join_all(runs)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let wall = t0.elapsed();
        Ok(Latencies {
            samples,
            batch_walls: vec![wall],
        })
    }

    /// RunTask for `n` tasks in parallel calls of at most 10, then DescribeTasks every `poll`
    /// until each is RUNNING; each task is timed from the return of the call that made it.
    async fn agent_batch(&self, n: usize, calls: &mut Vec<Duration>) -> Result<Vec<Duration>> {
        let counts: Vec<usize> = (0..n)
            .step_by(RUN_TASK_MAX_COUNT)
            .map(|i| (n - i).min(RUN_TASK_MAX_COUNT))
            .collect();
        let runs = counts.iter().map(|&count| async move {
            let sent = Instant::now();
            let out = self
                .ecs
                .run_task()
                .cluster(CLUSTER)
                .task_definition(&self.task_def)
                .count(i32::try_from(count).unwrap_or(RUN_TASK_MAX_COUNT as i32))
                .send()
                .await;
            (sent.elapsed(), Instant::now(), out)
        });
        let mut started: HashMap<String, Instant> = HashMap::new();
        for (call, returned, out) in join_all(runs).await {
            let out = out.map_err(|e| sdk_err("RunTask", e))?;
            ensure!(
                out.failures().is_empty(),
                "RunTask failures: {:?}",
                out.failures()
            );
            calls.push(call);
            for t in out.tasks() {
                let arn = t
                    .task_arn()
                    .context("RunTask returned a task without ARN")?;
                started.insert(arn.to_string(), returned);
            }
        }
        ensure!(
            started.len() == n,
            "RunTask started {} tasks, asked {n}",
            started.len()
        );
        self.wait_status(started, "RUNNING", self.poll).await
    }

    /// Polls DescribeTasks until every task in `pending` has `lastStatus` `status`; returns, per
    /// task, the time from its instant in `pending` to the first answer showing it so.
    async fn wait_status(
        &self,
        mut pending: HashMap<String, Instant>,
        status: &str,
        poll: Duration,
    ) -> Result<Vec<Duration>> {
        let deadline = Instant::now() + STATUS_DEADLINE;
        let mut reached = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let arns: Vec<String> = pending.keys().cloned().collect();
            for chunk in arns.chunks(100) {
                let out = self
                    .ecs
                    .describe_tasks()
                    .cluster(CLUSTER)
                    .set_tasks(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| sdk_err("DescribeTasks", e))?;
                let seen = Instant::now();
                for t in out.tasks() {
                    let (Some(arn), Some(last)) = (t.task_arn(), t.last_status()) else {
                        continue;
                    };
                    if last == status {
                        if let Some(from) = pending.remove(arn) {
                            reached.push(seen - from);
                        }
                    } else if last == "STOPPED" {
                        bail!(
                            "task {arn} stopped while waiting for {status}: {}",
                            t.stopped_reason().unwrap_or("no reason")
                        );
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{} tasks not {status} within {STATUS_DEADLINE:?}",
                pending.len()
            );
            tokio::time::sleep(poll).await;
        }
        Ok(reached)
    }

    /// Starts one container named `name` with raw Docker the way `how` says, and times it from
    /// the first call to Docker reporting it running. The configuration is the agent's for the
    /// task definition: same image, 64 MiB hard limit, 10 CPU shares, container port 8080 on a
    /// dynamic host port of 0.0.0.0, bridge network, five labels.
    async fn raw_one(&self, how: Starter, name: &str) -> Result<Duration> {
        let t0 = Instant::now();
        match how {
            Starter::Agent => bail!("the agent is not a raw starter"),
            Starter::RawCli => {
                let memory = format!("{MEMORY_MIB}m");
                let shares = CPU_UNITS.to_string();
                let publish = format!("0.0.0.0:0:{TEST_IMAGE_PORT}");
                let mut args = vec![
                    "create",
                    "--name",
                    name,
                    "--memory",
                    &memory,
                    "--cpu-shares",
                    &shares,
                    "-p",
                    &publish,
                    "--label",
                    RAW_LABEL,
                ];
                let labels = raw_labels(name);
                let label_args: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                for l in &label_args {
                    args.extend(["--label", l.as_str()]);
                }
                args.push(&self.image);
                let id = docker_cli(&args).await?;
                docker_cli(&["start", &id]).await?;
                loop {
                    let running = docker_cli(&["inspect", "-f", "{{.State.Running}}", &id]).await?;
                    if running == "true" {
                        break;
                    }
                    ensure!(t0.elapsed() < STATUS_DEADLINE, "{name} never ran");
                    tokio::time::sleep(self.poll).await;
                }
            }
            Starter::RawApi | Starter::RawApiPull => {
                if how == Starter::RawApiPull {
                    let (from, tag) = split_reference(&self.image);
                    let options = CreateImageOptionsBuilder::default()
                        .from_image(from)
                        .tag(tag)
                        .build();
                    self.docker
                        .create_image(Some(options), None, None)
                        .try_collect::<Vec<_>>()
                        .await
                        .with_context(|| format!("pull {}", self.image))?;
                }
                let mut labels = raw_labels(name);
                labels.insert(RAW_LABEL.into(), String::new());
                let port = format!("{TEST_IMAGE_PORT}/tcp");
                let bindings = HashMap::from([(
                    port.clone(),
                    Some(vec![PortBinding {
                        host_ip: Some("0.0.0.0".into()),
                        host_port: Some("0".into()),
                    }]),
                )]);
                let body = ContainerCreateBody {
                    image: Some(self.image.clone()),
                    env: Some(Vec::new()),
                    exposed_ports: Some(vec![port]),
                    labels: Some(labels),
                    host_config: Some(HostConfig {
                        port_bindings: Some(bindings),
                        network_mode: Some("bridge".into()),
                        memory: Some(i64::from(MEMORY_MIB) * 1024 * 1024),
                        cpu_shares: Some(i64::from(CPU_UNITS)),
                        ..HostConfig::default()
                    }),
                    ..ContainerCreateBody::default()
                };
                let options = CreateContainerOptions {
                    name: Some(name.into()),
                    ..CreateContainerOptions::default()
                };
                let id = self
                    .docker
                    .create_container(Some(options), body)
                    .await
                    .with_context(|| format!("create {name}"))?
                    .id;
                self.docker
                    .start_container(&id, None)
                    .await
                    .with_context(|| format!("start {name}"))?;
                loop {
                    let info = self
                        .docker
                        .inspect_container(&id, None)
                        .await
                        .with_context(|| format!("inspect {name}"))?;
                    if info.state.and_then(|s| s.running) == Some(true) {
                        break;
                    }
                    ensure!(t0.elapsed() < STATUS_DEADLINE, "{name} never ran");
                    tokio::time::sleep(self.poll).await;
                }
            }
        }
        Ok(t0.elapsed())
    }

    /// Containers of the agent's cluster (running only, or all).
    async fn agent_containers(&self, running_only: bool) -> Result<usize> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("com.amazonaws.ecs.cluster={CLUSTER}")],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(!running_only)
            .filters(&filters)
            .build();
        Ok(self.docker.list_containers(Some(options)).await?.len())
    }

    /// Stops every task of the cluster that is not stopped, waits until they are STOPPED and
    /// the agent has removed their containers, and removes the raw containers.
    async fn clean_up(&self) -> Result<()> {
        let mut arns = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .ecs
                .list_tasks()
                .cluster(CLUSTER)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_err("ListTasks", e))?;
            arns.extend(out.task_arns().iter().cloned());
            match out.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        let ecs = &self.ecs;
        stream::iter(arns.iter().map(|arn| async move {
            ecs.stop_task()
                .cluster(CLUSTER)
                .task(arn)
                .send()
                .await
                .map_err(|e| sdk_err("StopTask", e))
        }))
        .buffer_unordered(10)
        .try_collect::<Vec<_>>()
        .await?;
        let now = Instant::now();
        let pending = arns.into_iter().map(|a| (a, now)).collect();
        self.wait_status(pending, "STOPPED", Duration::from_millis(200))
            .await?;
        let deadline = Instant::now() + STATUS_DEADLINE;
        while self.agent_containers(false).await? > 0 {
            ensure!(
                Instant::now() < deadline,
                "the agent did not clean up stopped tasks' containers within {STATUS_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let filters = HashMap::from([("label".to_string(), vec![RAW_LABEL.to_string()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let raw = self.docker.list_containers(Some(options)).await?;
        let docker = &self.docker;
        stream::iter(raw.into_iter().filter_map(|c| c.id).map(|id| async move {
            docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..RemoveContainerOptions::default()
                    }),
                )
                .await
                .with_context(|| format!("remove raw container {id}"))
        }))
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
        Ok(())
    }
}

/// The five labels the agent puts on a task container, with raw values.
fn raw_labels(name: &str) -> HashMap<String, String> {
    HashMap::from([
        ("com.amazonaws.ecs.task-arn".into(), format!("raw/{name}")),
        ("com.amazonaws.ecs.container-name".into(), "web".into()),
        (
            "com.amazonaws.ecs.task-definition-family".into(),
            "agent-bench-web".into(),
        ),
        (
            "com.amazonaws.ecs.task-definition-version".into(),
            "1".into(),
        ),
        ("com.amazonaws.ecs.cluster".into(), format!("{CLUSTER}-raw")),
    ])
}

/// `repo:tag` → (`repo`, `tag`); a colon in the registry's `host:port` is not a tag.
fn split_reference(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// Runs `docker ARGS` without blocking the runtime; returns stdout, trimmed.
async fn docker_cli(args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new("docker")
        .args(args)
        .output()
        .await
        .context("cannot run docker")?;
    ensure!(
        out.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".into(), ms)
}

/// The results as Markdown: targets with PASS/MISS, start latencies, memory and CPU.
pub fn report(r: &Results, opts: &Options) -> String {
    let mut out = String::new();
    let ratio = |set, raw| Results::ratio_p50(set, raw);
    let single_api = ratio(&r.single, Starter::RawApi);
    let burst_api = ratio(&r.burst, Starter::RawApi);
    let fmt_ratio = |x: Option<f64>| x.map_or_else(|| "–".into(), |x| format!("{x:.2}"));
    let _ = writeln!(out, "| target | measured | target | verdict |");
    let _ = writeln!(out, "|---|---:|---:|---|");
    let _ = writeln!(
        out,
        "| idle RSS (VmRSS), registered + {:?} | {} MiB (RssAnon {}, RssFile {}) | ≤ {TARGET_IDLE_RSS_MIB} MiB | {} |",
        opts.settle,
        mib(r.idle_memory.rss_kib),
        mib(r.idle_memory.anon_kib),
        mib(r.idle_memory.file_kib),
        verdict(r.idle_memory.rss_mib() <= TARGET_IDLE_RSS_MIB)
    );
    let _ = writeln!(
        out,
        "| RSS with {} tasks RUNNING | {} MiB (RssAnon {}, RssFile {}) | ≤ {TARGET_LOADED_RSS_MIB} MiB | {} |",
        r.loaded_tasks,
        mib(r.loaded_memory.rss_kib),
        mib(r.loaded_memory.anon_kib),
        mib(r.loaded_memory.file_kib),
        verdict(r.loaded_memory.rss_mib() <= TARGET_LOADED_RSS_MIB)
    );
    let _ = writeln!(
        out,
        "| idle CPU over {:.0} s, % of one CPU | {} | < {TARGET_IDLE_CPU_PERCENT} % | {} |",
        r.idle_cpu.wall.as_secs_f64(),
        r.idle_cpu.describe(),
        verdict(r.idle_cpu.percent() < TARGET_IDLE_CPU_PERCENT)
    );
    let burst_what = format!("{} tasks", opts.burst);
    for (what, x) in [("1 task", single_api), (burst_what.as_str(), burst_api)] {
        let _ = writeln!(
            out,
            "| start latency p50, agent / raw Docker API, {what} | {} | ≤ {TARGET_START_RATIO_P50} | {} |",
            fmt_ratio(x),
            verdict(x.is_some_and(|x| x <= TARGET_START_RATIO_P50))
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| start latency (ms) | tasks at once | samples | p50 | p90 | max | burst wall p50 | agent p50 / this p50 |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (n, set) in [(1, &r.single), (opts.burst, &r.burst)] {
        for starter in Starter::ALL {
            let Some(l) = set.get(&starter) else { continue };
            let walls = Latencies {
                samples: l.batch_walls.clone(),
                batch_walls: Vec::new(),
            };
            let wall = if n > 1 {
                opt_ms(walls.pct(50.0))
            } else {
                "–".into()
            };
            let rel = if starter == Starter::Agent {
                "–".into()
            } else {
                fmt_ratio(ratio(set, starter))
            };
            let _ = writeln!(
                out,
                "| {} | {n} | {} | {} | {} | {} | {wall} | {rel} |",
                starter.label(),
                l.samples.len(),
                opt_ms(l.pct(50.0)),
                opt_ms(l.pct(90.0)),
                opt_ms(l.pct(100.0)),
            );
        }
    }
    let calls = Latencies {
        samples: r.run_task_calls.clone(),
        batch_walls: Vec::new(),
    };
    let _ = writeln!(
        out,
        "\nRunTask call itself (client side, {} calls, count 1 or 10): p50 {} ms, p90 {} ms, max {} ms.",
        calls.samples.len(),
        opt_ms(calls.pct(50.0)),
        opt_ms(calls.pct(90.0)),
        opt_ms(calls.pct(100.0))
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| agent memory (MiB) | VmRSS | RssAnon | RssFile | VmHWM (peak so far) | threads |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for (what, m) in [
        (
            format!("registered, idle {:?}", opts.settle),
            &r.idle_memory,
        ),
        (
            format!(
                "{} tasks RUNNING (+{:?})",
                r.loaded_tasks,
                opts.loaded_settle / 2
            ),
            &r.loaded_memory,
        ),
        (
            "all stopped and cleaned up (+5 s)".to_string(),
            &r.after_memory,
        ),
    ] {
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | {} | {} |",
            mib(m.rss_kib),
            mib(m.anon_kib),
            mib(m.file_kib),
            mib(m.peak_kib),
            m.threads
        );
    }
    let _ = writeln!(
        out,
        "\nagent CPU (% of one CPU): idle {} over {:.0} s; with {} tasks RUNNING {} over {:.0} s. \
         Registration took {} ms; the {} tasks were RUNNING {} ms after the first RunTask.",
        r.idle_cpu.describe(),
        r.idle_cpu.wall.as_secs_f64(),
        r.loaded_tasks,
        r.loaded_cpu.describe(),
        r.loaded_cpu.wall.as_secs_f64(),
        ms(r.registration),
        r.loaded_tasks,
        ms(r.loaded_start)
    );
    let _ = writeln!(
        out,
        "load average at the start {}, at the end {}",
        r.load_start, r.load_end
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_fields_from_a_status_file() {
        let status = "Name:\tecs-agent\nVmHWM:\t   12000 kB\nVmRSS:\t    9000 kB\nRssAnon:\t    4000 kB\nRssFile:\t    5000 kB\nThreads:\t5\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss_kib: 9000,
                anon_kib: 4000,
                file_kib: 5000,
                peak_kib: 12000,
                threads: 5
            })
        );
        assert_eq!(parse_memory("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "42 (ecs agent) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 5 0";
        assert_eq!(parse_cpu_ticks(stat), Some(10));
    }

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_reference("127.0.0.1:5000/ecs-e2e/httpd:abc"),
            ("127.0.0.1:5000/ecs-e2e/httpd", "abc")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/httpd"),
            ("127.0.0.1:5000/httpd", "latest")
        );
    }

    #[test]
    fn own_process_memory_and_cpu_are_readable() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.peak_kib >= m.rss_kib && m.threads >= 1);
        assert!(cpu_time(std::process::id()).is_ok());
    }
}
