//! `control-plane-bench`: RunTask + DescribeTasks throughput and latency of `ecs-control-plane`
//! with 100 connected container instances, state in memory and on disk. Prints Markdown tables
//! for `BENCHMARKS.md`; exits 1 when any call failed, the run could not be set up, or it was
//! interrupted (Ctrl-C or SIGTERM, which also stop the emulator it started).
//!
//! Build both binaries in release mode into one target directory, then run this one:
//! `cargo build --release -p ecs-control-plane -p ecs-bench && target/release/control-plane-bench`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ecs_bench::control_plane::{self, ClientKind, Options, Storage};
use ecs_bench::sysinfo;
use tokio::signal::unix::SignalKind;

/// Benchmarks RunTask + DescribeTasks against the ecs-control-plane binary.
#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    /// The emulator binary; default: `ecs-control-plane` next to this program.
    #[arg(long)]
    control_plane_bin: Option<PathBuf>,
    /// Container instances to register and connect.
    #[arg(long, default_value_t = 100)]
    instances: usize,
    /// CPU units per instance.
    #[arg(long, default_value_t = 4096)]
    instance_cpu: i32,
    /// MiB of memory per instance.
    #[arg(long, default_value_t = 16000)]
    instance_memory: i32,
    /// Measured RunTask + DescribeTasks pairs per cell.
    #[arg(long, default_value_t = 1500)]
    ops: usize,
    /// Unmeasured warm-up pairs per cell.
    #[arg(long, default_value_t = 150)]
    warmup: usize,
    /// Client concurrency levels (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Storage modes (comma-separated): memory, disk (`--data-dir`).
    #[arg(long, value_delimiter = ',', default_value = "memory,disk")]
    storage: Vec<Storage>,
    /// Where the disk cells' data directories are made.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    data_dir_parent: PathBuf,
    /// Client of the measured pairs: `sdk` (the AWS SDK for Rust) or `http` (a lean signed
    /// HTTP client that leaves more CPU to the emulator on a small machine).
    #[arg(long, default_value = "sdk")]
    client: ClientKind,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = Options {
        control_plane_bin: cli
            .control_plane_bin
            .unwrap_or_else(|| ecs_e2e_tests::workspace_bin_path("ecs-control-plane")),
        instances: cli.instances,
        instance_cpu: cli.instance_cpu,
        instance_memory_mib: cli.instance_memory,
        ops: cli.ops,
        warmup: cli.warmup,
        concurrency: cli.concurrency,
        storage: cli.storage,
        data_dir_parent: cli.data_dir_parent,
        client: cli.client,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("control-plane-bench: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    print_setup(&opts);
    let progress = |r: &control_plane::CellResult| {
        eprintln!(
            "done: {} x {} clients: {:.0} pairs/s, {} failures",
            r.storage.as_str(),
            r.concurrency,
            r.pairs_per_sec(),
            r.failures.len()
        );
    };
    let results = match runtime.block_on(until_interrupted(control_plane::run(&opts, progress))) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("control-plane-bench: {e:#}");
            return ExitCode::from(1);
        }
    };
    println!("{}", control_plane::report(&results));
    println!("load average at the end: {}", sysinfo::loadavg());
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.failures).collect();
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "control-plane-bench: {} failures; the first ones:",
            failures.len()
        );
        for f in failures.iter().take(10) {
            eprintln!("  {f}");
        }
        ExitCode::from(1)
    }
}

/// Runs `work` until it ends, Ctrl-C or SIGTERM. On a signal `work` is dropped, and with it the
/// emulator it started (killed on drop), so an interrupted run leaves no process behind.
async fn until_interrupted<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let mut term = tokio::signal::unix::signal(SignalKind::terminate())?;
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = term.recv() => Err(anyhow::anyhow!("terminated")),
    }
}

fn print_setup(opts: &Options) {
    let (model, cpus) = sysinfo::cpu();
    let fs = sysinfo::filesystem_of(&opts.data_dir_parent).map_or_else(
        || "unknown file system".to_string(),
        |(fs, dev)| format!("{fs} on {dev}"),
    );
    println!(
        "machine: {cpus} CPUs ({model}); emulator {}; disk data dirs under {} ({fs})",
        opts.control_plane_bin.display(),
        opts.data_dir_parent.display()
    );
    println!(
        "{} instances x {} CPU / {} MiB, all connected on ACS; per cell: fresh emulator, {} warm-up + {} measured RunTask+DescribeTasks pairs sent by the {} client",
        opts.instances,
        opts.instance_cpu,
        opts.instance_memory_mib,
        opts.warmup,
        opts.ops,
        opts.client.as_str()
    );
    println!(
        "load average at the start: {} (other work on the machine skews the figures)",
        sysinfo::loadavg()
    );
    println!(
        "latencies in ms; pairs/s = RunTask/s = DescribeTasks/s (each RunTask is followed by one DescribeTasks)"
    );
    println!();
}
