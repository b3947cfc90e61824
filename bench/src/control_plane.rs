//! RunTask + DescribeTasks against the real `ecs-control-plane` binary with a fleet of connected
//! container instances.
//!
//! One *cell* is one storage mode (state in memory, or in redb under `--data-dir` so every write
//! is a durable commit) at one client concurrency. Every cell starts a fresh emulator, so cells do
//! not inherit each other's tasks: the emulator keeps every task it ever placed, and placement
//! cost grows with them (the "first → last tenth" column shows how much). A cell:
//!
//! 1. starts the emulator binary on a free loopback port and creates the cluster;
//! 2. registers the instances with the real SDK ([`FakeAgent::register`]), opens each one's signed
//!    ACS websocket, and keeps a task per connection that acks every payload (as the agent does,
//!    so outboxes stay empty) and notes when each task's payload arrived; waits until
//!    DescribeContainerInstances shows every instance connected (placement needs that);
//! 3. registers a small task definition (64 MiB, 10 CPU units, container port 8080 on a dynamic
//!    host port), so capacity never runs out: 100 x 16000 MiB holds 25,000 such tasks;
//! 4. warms up, then runs `ops` pairs from `concurrency` client tasks sharing one SDK client
//!    (retries off, so a failure is counted, not hidden): RunTask, then DescribeTasks of the task
//!    it returned. Each call is timed on its own with [`Instant`].
//!
//! Client and emulator share the machine, so the figures include the client's own cost (SigV4
//! signing, JSON) competing for the same cores. `--client http` sends the measured pairs with
//! [`LeanClient`] instead of the SDK, which leaves more of the cores to the emulator.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use aws_sdk_ecs::error::DisplayErrorContext;
use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
use ecs_e2e_tests::ChildProcess;
use ecs_e2e_tests::fake_agent::{AcsConnection, FakeAgent, SigningIdentity, ecs_client};
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::task::JoinHandle;

use serde_json::json;

use crate::lean_client::LeanClient;
use crate::stats::{Summary, ms};
use crate::sysinfo::{self, Rss, cpu_time};

/// The cluster every cell uses.
const CLUSTER: &str = "bench";
/// How many registrations and websocket upgrades run at once while the fleet is set up.
const SETUP_PARALLELISM: usize = 16;
/// How long set-up steps (listening, every agent connected, payloads delivered) may take.
const SETUP_DEADLINE: Duration = Duration::from_secs(30);

/// Where the emulator keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// No `--data-dir`: redb's in-memory backend, same code path without fsync.
    Memory,
    /// `--data-dir` on the file system: every write is a durable redb commit.
    Disk,
}

impl Storage {
    /// The name used on the command line and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::Disk => "disk",
        }
    }
}

impl std::str::FromStr for Storage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memory" => Ok(Storage::Memory),
            "disk" => Ok(Storage::Disk),
            other => Err(format!("unknown storage `{other}` (memory or disk)")),
        }
    }
}

/// Which client sends the measured pairs (set-up always uses the SDK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// The AWS SDK for Rust, retries off.
    Sdk,
    /// [`LeanClient`]: sign, send over keep-alive, parse; much less client CPU per call.
    Http,
}

impl ClientKind {
    /// The name used on the command line and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Sdk => "sdk",
            ClientKind::Http => "http",
        }
    }
}

impl std::str::FromStr for ClientKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sdk" => Ok(ClientKind::Sdk),
            "http" => Ok(ClientKind::Http),
            other => Err(format!("unknown client `{other}` (sdk or http)")),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `ecs-control-plane` binary to start.
    pub control_plane_bin: PathBuf,
    /// Registered and connected container instances.
    pub instances: usize,
    /// CPU units each instance registers.
    pub instance_cpu: i32,
    /// MiB of memory each instance registers.
    pub instance_memory_mib: i32,
    /// Measured RunTask + DescribeTasks pairs per cell.
    pub ops: usize,
    /// Unmeasured pairs before them, at the same concurrency.
    pub warmup: usize,
    /// Client concurrency levels, one cell each.
    pub concurrency: Vec<usize>,
    /// Storage modes, one set of cells each.
    pub storage: Vec<Storage>,
    /// Where the `disk` cells' data directories are made.
    pub data_dir_parent: PathBuf,
    /// The client of the measured pairs.
    pub client: ClientKind,
}

/// One measured cell.
#[derive(Debug, Clone)]
pub struct CellResult {
    /// Storage mode.
    pub storage: Storage,
    /// Client tasks issuing pairs at once.
    pub concurrency: usize,
    /// Pairs attempted in the measured phase.
    pub ops: usize,
    /// Wall time of the measured phase.
    pub wall: Duration,
    /// RunTask latencies of the successful pairs, in the order the pairs were issued.
    pub run_task: Vec<Duration>,
    /// DescribeTasks latencies of the successful pairs.
    pub describe_tasks: Vec<Duration>,
    /// From sending RunTask to the instance receiving the task's ACS payload.
    pub delivery: Vec<Duration>,
    /// Everything that went wrong, warm-up included; a good run has none.
    pub failures: Vec<String>,
    /// Registering and connecting the fleet.
    pub setup: Duration,
    /// Emulator memory with the fleet connected, before the first task.
    pub rss_ready: Option<Rss>,
    /// Emulator memory after the measured phase.
    pub rss_end: Option<Rss>,
    /// Emulator CPU time (user + system) spent during the measured phase.
    pub emulator_cpu: Option<Duration>,
    /// CPU time of this process (SDK client and fake agents) during the measured phase.
    pub client_cpu: Option<Duration>,
    /// Tasks the emulator held at the end (warm-up and measured).
    pub tasks_in_state: usize,
}

impl CellResult {
    /// Successful pairs per second of wall time.
    pub fn pairs_per_sec(&self) -> f64 {
        self.run_task.len() as f64 / self.wall.as_secs_f64()
    }

    /// Median RunTask latency of the first and the last tenth of the measured pairs: how the
    /// cost moves as the emulator accumulates tasks.
    pub fn run_task_drift(&self) -> Option<(Duration, Duration)> {
        let tenth = (self.run_task.len() / 10).max(1);
        let first = Summary::of(self.run_task.get(..tenth)?)?;
        let last = Summary::of(self.run_task.get(self.run_task.len() - tenth..)?)?;
        Some((first.p50, last.p50))
    }
}

/// Runs every cell of `opts`, calling `done` after each one (for progress output).
pub async fn run(opts: &Options, mut done: impl FnMut(&CellResult)) -> Result<Vec<CellResult>> {
    ensure!(
        opts.control_plane_bin.is_file(),
        "no control plane binary at {}: build it with `cargo build --release -p ecs-control-plane -p ecs-bench` \
         (same CARGO_TARGET_DIR) or pass --control-plane-bin",
        opts.control_plane_bin.display()
    );
    ensure!(opts.ops > 0, "--ops must be at least 1");
    let mut results = Vec::new();
    for &storage in &opts.storage {
        for &concurrency in &opts.concurrency {
            ensure!(concurrency > 0, "a concurrency level must be at least 1");
            let result = run_cell(opts, storage, concurrency)
                .await
                .with_context(|| format!("cell {} x {concurrency}", storage.as_str()))?;
            done(&result);
            results.push(result);
        }
    }
    Ok(results)
}

async fn run_cell(opts: &Options, storage: Storage, concurrency: usize) -> Result<CellResult> {
    let data_dir = match storage {
        Storage::Memory => None,
        Storage::Disk => Some(
            tempfile::Builder::new()
                .prefix("ecs-bench-control-plane-")
                .tempdir_in(&opts.data_dir_parent)
                .with_context(|| {
                    format!(
                        "cannot make a data dir in {}",
                        opts.data_dir_parent.display()
                    )
                })?,
        ),
    };
    let emulator = start_emulator(
        &opts.control_plane_bin,
        data_dir.as_ref().map(tempfile::TempDir::path),
    )
    .await?;
    let pid = emulator.process.id();
    let endpoint = format!("http://{}", emulator.addr);
    let client = bench_client(&endpoint);
    client
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .map_err(|e| anyhow!("CreateCluster: {}", DisplayErrorContext(&e)))?;

    let setup_start = Instant::now();
    let fleet = Fleet::connect(&endpoint, &client, opts).await?;
    let setup = setup_start.elapsed();
    let rss_ready = sysinfo::rss(pid);
    let task_def = register_task_definition(&client).await?;
    let caller = match opts.client {
        ClientKind::Sdk => Caller::Sdk(client.clone()),
        ClientKind::Http => Caller::Http(Box::new(LeanClient::new(
            &endpoint,
            &SigningIdentity::emulator_default(),
        )?)),
    };

    let warmup = run_pairs(&caller, &task_def, opts.warmup, concurrency).await?;
    let own_pid = std::process::id();
    let (cpu_before, own_cpu_before) = (cpu_time(pid), cpu_time(own_pid));
    let measured = run_pairs(&caller, &task_def, opts.ops, concurrency).await?;
    let spent = |after: Option<Duration>, before: Option<Duration>| {
        after.zip(before).map(|(a, b)| a.saturating_sub(b))
    };
    let emulator_cpu = spent(cpu_time(pid), cpu_before);
    let client_cpu = spent(cpu_time(own_pid), own_cpu_before);

    let mut failures: Vec<String> = warmup
        .failures
        .iter()
        .map(|f| format!("warm-up: {f}"))
        .chain(measured.failures.iter().cloned())
        .collect();
    let expected: Vec<String> = warmup
        .pairs
        .iter()
        .chain(&measured.pairs)
        .map(|p| p.task_arn.clone())
        .collect();
    let arrivals = fleet.wait_for_payloads(&expected).await;
    let delivery = measured
        .pairs
        .iter()
        .filter_map(|p| arrivals.get(&p.task_arn).map(|at| *at - p.sent))
        .collect();
    let undelivered = expected.len() - arrivals.len();
    if undelivered > 0 {
        failures.push(format!(
            "{undelivered} task payloads not received on ACS within {SETUP_DEADLINE:?}"
        ));
    }
    let rss_end = sysinfo::rss(pid);
    failures.extend(fleet.stop());
    drop(emulator);

    Ok(CellResult {
        storage,
        concurrency,
        ops: opts.ops,
        wall: measured.wall,
        run_task: measured.pairs.iter().map(|p| p.run_task).collect(),
        describe_tasks: measured.pairs.iter().map(|p| p.describe_tasks).collect(),
        delivery,
        failures,
        setup,
        rss_ready,
        rss_end,
        emulator_cpu,
        client_cpu,
        tasks_in_state: expected.len(),
    })
}

/// A running emulator process (killed on drop) and its address.
#[derive(Debug)]
struct Emulator {
    process: ChildProcess,
    addr: String,
}

/// Starts the binary as a user would (default log level, default heartbeat) and waits until it
/// accepts connections.
async fn start_emulator(bin: &Path, data_dir: Option<&Path>) -> Result<Emulator> {
    let addr = format!("127.0.0.1:{}", ecs_e2e_tests::free_port()?);
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", &addr])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("RUST_LOG");
    if let Some(dir) = data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    let process = ChildProcess::spawn("ecs-control-plane", &mut cmd)?;
    let deadline = Instant::now() + SETUP_DEADLINE;
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        ensure!(
            Instant::now() < deadline,
            "the control plane did not listen on {addr} within {SETUP_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Emulator { process, addr })
}

/// The SDK client the benchmark measures with: the emulator's default keys, retries off.
fn bench_client(endpoint: &str) -> aws_sdk_ecs::Client {
    let base = ecs_client(endpoint, &SigningIdentity::emulator_default());
    let conf = base
        .config()
        .to_builder()
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

async fn register_task_definition(client: &aws_sdk_ecs::Client) -> Result<String> {
    let container = ContainerDefinition::builder()
        .name("app")
        .image("127.0.0.1:5000/bench/app:1")
        .memory(64)
        .cpu(10)
        .port_mappings(
            PortMapping::builder()
                .container_port(8080)
                .host_port(0)
                .build(),
        )
        .build();
    let out = client
        .register_task_definition()
        .family("bench")
        .container_definitions(container)
        .send()
        .await
        .map_err(|e| anyhow!("RegisterTaskDefinition: {}", DisplayErrorContext(&e)))?;
    out.task_definition()
        .and_then(|d| d.task_definition_arn())
        .map(String::from)
        .ok_or_else(|| anyhow!("RegisterTaskDefinition returned no ARN"))
}

/// The connected instances and the tasks draining their ACS connections.
#[derive(Debug)]
struct Fleet {
    drains: Vec<JoinHandle<()>>,
    /// When each task's first payload reached its instance. A std mutex: the drain tasks and the
    /// waiter each hold it for one map operation, never across an await.
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    /// Why drain tasks ended early (same locking rule).
    errors: Arc<Mutex<Vec<String>>>,
}

impl Fleet {
    async fn connect(endpoint: &str, client: &aws_sdk_ecs::Client, opts: &Options) -> Result<Self> {
        let agents: Vec<FakeAgent> = stream::iter(0..opts.instances)
            .map(|_| {
                FakeAgent::register(
                    endpoint,
                    CLUSTER,
                    opts.instance_cpu,
                    opts.instance_memory_mib,
                )
            })
            .buffer_unordered(SETUP_PARALLELISM)
            .try_collect()
            .await?;
        let connections: Vec<AcsConnection> = stream::iter(&agents)
            .map(FakeAgent::connect)
            .buffer_unordered(SETUP_PARALLELISM)
            .try_collect()
            .await?;
        let arrivals = Arc::new(Mutex::new(HashMap::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let drains = connections
            .into_iter()
            .map(|acs| tokio::spawn(drain(acs, arrivals.clone(), errors.clone())))
            .collect();
        let fleet = Fleet {
            drains,
            arrivals,
            errors,
        };
        let arns: Vec<String> = agents.iter().map(|a| a.instance_arn.clone()).collect();
        wait_all_connected(client, &arns).await?;
        Ok(fleet)
    }

    /// Waits until every task in `expected` has had its payload delivered, or the deadline; returns
    /// the arrival times of those that were.
    async fn wait_for_payloads(&self, expected: &[String]) -> HashMap<String, Instant> {
        let deadline = Instant::now() + SETUP_DEADLINE;
        loop {
            let found: HashMap<String, Instant> = {
                let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
                expected
                    .iter()
                    .filter_map(|a| arrivals.get(a).map(|t| (a.clone(), *t)))
                    .collect()
            };
            if found.len() == expected.len() || Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the drain tasks and returns why any of them had ended early.
    fn stop(self) -> Vec<String> {
        for d in &self.drains {
            d.abort();
        }
        let errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        errors.clone()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Also on early returns: the connections must not outlive the cell.
        for d in &self.drains {
            d.abort();
        }
    }
}

/// Acks every payload on one ACS connection, as the agent does, noting when each task arrived.
async fn drain(
    mut acs: AcsConnection,
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    errors: Arc<Mutex<Vec<String>>>,
) {
    let fail = |what: String| errors.lock().unwrap_or_else(|e| e.into_inner()).push(what);
    loop {
        let frame = match acs
            .next_of("PayloadMessage", Duration::from_secs(24 * 3600))
            .await
        {
            Ok(f) => f,
            Err(e) => return fail(format!("ACS connection: {e:#}")),
        };
        let now = Instant::now();
        if let Some(tasks) = frame["message"]["tasks"].as_array() {
            let mut arrivals = arrivals.lock().unwrap_or_else(|e| e.into_inner());
            for arn in tasks.iter().filter_map(|t| t["arn"].as_str()) {
                arrivals.entry(arn.to_string()).or_insert(now);
            }
        }
        if let Err(e) = acs.ack(&frame).await {
            return fail(format!("ACS ack: {e:#}"));
        }
    }
}

async fn wait_all_connected(client: &aws_sdk_ecs::Client, arns: &[String]) -> Result<()> {
    let deadline = Instant::now() + SETUP_DEADLINE;
    loop {
        let mut connected = 0;
        for chunk in arns.chunks(100) {
            let out = client
                .describe_container_instances()
                .cluster(CLUSTER)
                .set_container_instances(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| anyhow!("DescribeContainerInstances: {}", DisplayErrorContext(&e)))?;
            connected += out
                .container_instances()
                .iter()
                .filter(|c| c.agent_connected())
                .count();
        }
        if connected == arns.len() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "only {connected} of {} instances connected within {SETUP_DEADLINE:?}",
                arns.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One successful RunTask + DescribeTasks.
#[derive(Debug, Clone)]
struct Pair {
    /// Issue order.
    index: usize,
    /// When RunTask was sent.
    sent: Instant,
    run_task: Duration,
    describe_tasks: Duration,
    task_arn: String,
}

#[derive(Debug)]
struct Phase {
    /// Successful pairs in issue order.
    pairs: Vec<Pair>,
    failures: Vec<String>,
    wall: Duration,
}

/// Runs `total` pairs from `concurrency` client tasks that take the next index until none is left.
async fn run_pairs(
    client: &Caller,
    task_def: &str,
    total: usize,
    concurrency: usize,
) -> Result<Phase> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<JoinHandle<(Vec<Pair>, Vec<String>)>> = (0..concurrency)
        .map(|_| {
            let (client, task_def, next) = (client.clone(), task_def.to_string(), next.clone());
            tokio::spawn(async move {
                let (mut pairs, mut failures) = (Vec::new(), Vec::new());
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        return (pairs, failures);
                    }
                    match one_pair(&client, &task_def, index).await {
                        Ok(p) => pairs.push(p),
                        Err(e) => failures.push(e),
                    }
                }
            })
        })
        .collect();
    let (mut pairs, mut failures) = (Vec::new(), Vec::new());
    for w in workers {
        let (p, f) = w.await.context("a client task panicked")?;
        pairs.extend(p);
        failures.extend(f);
    }
    let wall = start.elapsed();
    pairs.sort_by_key(|p| p.index);
    Ok(Phase {
        pairs,
        failures,
        wall,
    })
}

async fn one_pair(client: &Caller, task_def: &str, index: usize) -> Result<Pair, String> {
    let sent = Instant::now();
    let task_arn = client.run_task(task_def).await?;
    let run_task = sent.elapsed();

    let asked = Instant::now();
    let described = client.describe_task(&task_arn).await?;
    let describe_tasks = asked.elapsed();
    if described != task_arn {
        return Err(format!("DescribeTasks did not return {task_arn}"));
    }
    Ok(Pair {
        index,
        sent,
        run_task,
        describe_tasks,
        task_arn,
    })
}

/// The client of the measured pairs.
#[derive(Debug, Clone)]
enum Caller {
    Sdk(aws_sdk_ecs::Client),
    Http(Box<LeanClient>),
}

impl Caller {
    /// RunTask of one task of `task_def` in the bench cluster; its ARN.
    async fn run_task(&self, task_def: &str) -> Result<String, String> {
        match self {
            Caller::Sdk(client) => {
                let out = client
                    .run_task()
                    .cluster(CLUSTER)
                    .task_definition(task_def)
                    .send()
                    .await
                    .map_err(|e| format!("RunTask: {}", DisplayErrorContext(&e)))?;
                if let Some(f) = out.failures().first() {
                    return Err(format!(
                        "RunTask failure: {} ({})",
                        f.reason().unwrap_or("no reason"),
                        f.arn().unwrap_or("no ARN")
                    ));
                }
                out.tasks()
                    .first()
                    .and_then(|t| t.task_arn())
                    .map(String::from)
                    .ok_or_else(|| "RunTask returned no task".to_string())
            }
            Caller::Http(client) => {
                let body = json!({"cluster": CLUSTER, "taskDefinition": task_def});
                let out = client.call("RunTask", &body).await?;
                if let Some(f) = out["failures"].get(0) {
                    return Err(format!("RunTask failure: {f}"));
                }
                out["tasks"][0]["taskArn"]
                    .as_str()
                    .map(String::from)
                    .ok_or_else(|| "RunTask returned no task".to_string())
            }
        }
    }

    /// DescribeTasks of `task_arn`; the ARN of the task it returned.
    async fn describe_task(&self, task_arn: &str) -> Result<String, String> {
        match self {
            Caller::Sdk(client) => {
                let out = client
                    .describe_tasks()
                    .cluster(CLUSTER)
                    .tasks(task_arn)
                    .send()
                    .await
                    .map_err(|e| format!("DescribeTasks: {}", DisplayErrorContext(&e)))?;
                if let Some(f) = out.failures().first() {
                    return Err(format!(
                        "DescribeTasks failure: {} ({task_arn})",
                        f.reason().unwrap_or("no reason")
                    ));
                }
                Ok(out
                    .tasks()
                    .first()
                    .and_then(|t| t.task_arn())
                    .unwrap_or_default()
                    .to_string())
            }
            Caller::Http(client) => {
                let body = json!({"cluster": CLUSTER, "tasks": [task_arn]});
                let out = client.call("DescribeTasks", &body).await?;
                if let Some(f) = out["failures"].get(0) {
                    return Err(format!("DescribeTasks failure: {f} ({task_arn})"));
                }
                Ok(out["tasks"][0]["taskArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string())
            }
        }
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The results as Markdown tables: latency and throughput, side figures, and disk/memory ratios.
pub fn report(results: &[CellResult]) -> String {
    let mut out = String::new();
    let na = || "n/a".to_string();
    let _ = writeln!(
        out,
        "| state | clients | pairs/s | RunTask p50 | RunTask p99 | RunTask max | DescribeTasks p50 | DescribeTasks p99 | DescribeTasks max | failures |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let rt = Summary::of(&r.run_task);
        let dt = Summary::of(&r.describe_tasks);
        let cols = |s: Option<Summary>| {
            s.map_or_else(|| [na(), na(), na()], |s| [ms(s.p50), ms(s.p99), ms(s.max)])
        };
        let [rt50, rt99, rtmax] = cols(rt);
        let [dt50, dt99, dtmax] = cols(dt);
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {rt50} | {rt99} | {rtmax} | {dt50} | {dt99} | {dtmax} | {} |",
            r.storage.as_str(),
            r.concurrency,
            r.pairs_per_sec(),
            r.failures.len()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| state | clients | ACS payload p50 | ACS payload p99 | RunTask p50 first → last tenth | tasks at end | CPU per pair: emulator / client | RSS ready | RSS end | RSS peak | fleet set-up |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let delivery = Summary::of(&r.delivery);
        let drift = r.run_task_drift().map_or_else(na, |(first, last)| {
            format!(
                "{} → {} (×{:.2})",
                ms(first),
                ms(last),
                last.as_secs_f64() / first.as_secs_f64()
            )
        });
        let per_pair = |cpu: Option<Duration>| {
            cpu.filter(|_| !r.run_task.is_empty()).map_or_else(na, |c| {
                ms(c / u32::try_from(r.run_task.len()).unwrap_or(u32::MAX))
            })
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {drift} | {} | {} / {} | {} | {} | {} | {:.2} s |",
            r.storage.as_str(),
            r.concurrency,
            delivery.map_or_else(na, |s| ms(s.p50)),
            delivery.map_or_else(na, |s| ms(s.p99)),
            r.tasks_in_state,
            per_pair(r.emulator_cpu),
            per_pair(r.client_cpu),
            r.rss_ready.map_or_else(na, |m| mib(m.current_kib)),
            r.rss_end.map_or_else(na, |m| mib(m.current_kib)),
            r.rss_end.map_or_else(na, |m| mib(m.peak_kib)),
            r.setup.as_secs_f64()
        );
    }
    let pairs: Vec<(&CellResult, &CellResult)> = results
        .iter()
        .filter(|r| r.storage == Storage::Disk)
        .filter_map(|d| {
            results
                .iter()
                .find(|m| m.storage == Storage::Memory && m.concurrency == d.concurrency)
                .map(|m| (d, m))
        })
        .collect();
    if !pairs.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| clients | disk/memory pairs/s | disk/memory RunTask p50 | disk/memory RunTask p99 | disk/memory DescribeTasks p99 |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
        for (d, m) in pairs {
            let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
                (Some(a), Some(b)) if !b.is_zero() => {
                    format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
                }
                _ => na(),
            };
            let p = |v: &[Duration], f: fn(Summary) -> Duration| Summary::of(v).map(f);
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {} | {} |",
                d.concurrency,
                d.pairs_per_sec() / m.pairs_per_sec(),
                ratio(p(&d.run_task, |s| s.p50), p(&m.run_task, |s| s.p50)),
                ratio(p(&d.run_task, |s| s.p99), p(&m.run_task, |s| s.p99)),
                ratio(
                    p(&d.describe_tasks, |s| s.p99),
                    p(&m.describe_tasks, |s| s.p99)
                ),
            );
        }
    }
    out
}
