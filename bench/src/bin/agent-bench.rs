//! `agent-bench`: the `ecs-agent` binary's idle and loaded memory, idle CPU, and RunTask →
//! RUNNING latency against raw Docker create + start of the same container, in one run. Prints
//! Markdown tables with the targets for `BENCHMARKS.md`; exits 1 when the run fails (a missed
//! target is a result, not a failure).
//!
//! Build the three binaries in release mode into one target directory, then run this one:
//! `cargo build --release -p ecs-agent -p ecs-control-plane -p ecs-bench && target/release/agent-bench`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ecs_bench::agent::{self, Options};
use ecs_bench::sysinfo;
use tokio::signal::unix::SignalKind;

/// Benchmarks the ecs-agent binary against raw Docker on this machine.
#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    /// The agent binary; default: `ecs-agent` next to this program.
    #[arg(long)]
    agent_bin: Option<PathBuf>,
    /// The control plane binary; default: `ecs-control-plane` next to this program.
    #[arg(long)]
    control_plane_bin: Option<PathBuf>,
    /// Seconds to wait after registration before the idle memory reading.
    #[arg(long, default_value_t = 30)]
    settle_secs: u64,
    /// Seconds over which idle CPU is measured.
    #[arg(long, default_value_t = 45)]
    idle_cpu_secs: u64,
    /// One-task-at-a-time samples per setup (agent and each raw Docker variant).
    #[arg(long, default_value_t = 10)]
    singles: usize,
    /// Tasks (and raw containers) started at once.
    #[arg(long, default_value_t = 20)]
    burst: usize,
    /// Bursts per setup.
    #[arg(long, default_value_t = 2)]
    burst_rounds: usize,
    /// Tasks running for the loaded memory reading.
    #[arg(long, default_value_t = 50)]
    loaded_tasks: usize,
    /// Seconds with the loaded tasks RUNNING: memory is read half way, CPU over the second half.
    #[arg(long, default_value_t = 20)]
    loaded_secs: u64,
    /// DescribeTasks and `docker inspect` polling interval, ms.
    #[arg(long, default_value_t = 25)]
    poll_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = Options {
        agent_bin: cli
            .agent_bin
            .unwrap_or_else(|| ecs_e2e_tests::workspace_bin_path("ecs-agent")),
        control_plane_bin: cli
            .control_plane_bin
            .unwrap_or_else(|| ecs_e2e_tests::workspace_bin_path("ecs-control-plane")),
        settle: Duration::from_secs(cli.settle_secs),
        idle_window: Duration::from_secs(cli.idle_cpu_secs),
        singles: cli.singles,
        burst: cli.burst,
        burst_rounds: cli.burst_rounds,
        loaded_tasks: cli.loaded_tasks,
        loaded_settle: Duration::from_secs(cli.loaded_secs),
        poll: Duration::from_millis(cli.poll_ms),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agent-bench: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    print_setup(&opts);
    let work = agent::run(&opts, |step| eprintln!("agent-bench: {step}"));
    match runtime.block_on(until_interrupted(work)) {
        Ok(results) => {
            println!("{}", agent::report(&results, &opts));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("agent-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs `work` until it ends, Ctrl-C or SIGTERM. On a signal `work` is dropped, and with it the
/// processes and containers it started, so an interrupted run leaves nothing behind.
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
    println!(
        "machine: {cpus} CPUs ({model}); agent {}; control plane {}",
        opts.agent_bin.display(),
        opts.control_plane_bin.display()
    );
    println!(
        "settle {:?}, idle CPU over {:?}, {} single starts and {} x {} burst per setup, {} loaded tasks, poll {:?}",
        opts.settle,
        opts.idle_window,
        opts.singles,
        opts.burst_rounds,
        opts.burst,
        opts.loaded_tasks,
        opts.poll
    );
    println!(
        "load average at the start: {} (other work on the machine skews the figures)",
        sysinfo::loadavg()
    );
    println!();
}
