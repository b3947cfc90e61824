//! `elb-bench`: requests/s and p50 through an emulated Application Load Balancer against the
//! same backend called directly, in the same run, and the control plane's memory with load
//! balancers idle and under load (see `bench/src/elb.rs`). Prints Markdown for `BENCHMARKS.md`.
//!
//! `cargo build --release -p ecs-control-plane -p ecs-bench && target/release/elb-bench`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ecs_bench::elb::{self, Options};
use ecs_bench::stats::ms;
use ecs_bench::sysinfo;

/// Loads a backend directly and through an emulated load balancer.
#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Discarded warm-up per period, seconds.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Measured period, seconds.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Rounds (a direct period, then a proxied one).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Load balancers made (each with a listener and a healthy target; the first is loaded).
    #[arg(long, default_value_t = 10)]
    load_balancers: usize,
    /// How long the backend waits before each answer, microseconds (an application's latency).
    #[arg(long, default_value_t = 0)]
    backend_delay_us: u64,
    /// The control plane binary (default: beside this one).
    #[arg(long)]
    control_plane_bin: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = Options {
        connections: cli.connections,
        warmup: Duration::from_secs(cli.warmup_secs),
        duration: Duration::from_secs(cli.secs),
        rounds: cli.rounds,
        load_balancers: cli.load_balancers,
        control_plane_bin: cli
            .control_plane_bin
            .unwrap_or_else(|| ecs_e2e_tests::workspace_bin_path("ecs-control-plane")),
        backend_delay: Duration::from_micros(cli.backend_delay_us),
    };
    let (model, cpus) = sysinfo::cpu();
    println!(
        "machine: {cpus} CPUs ({model}); load average at the start: {}",
        sysinfo::loadavg()
    );
    println!(
        "{} connections, {} s warm-up + {} s per period, {} rounds, {} load balancers, backend delay {} us",
        opts.connections,
        cli.warmup_secs,
        cli.secs,
        opts.rounds,
        opts.load_balancers,
        cli.backend_delay_us
    );
    let report = match elb::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("elb-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    println!(
        "| round | direct req/s | proxied req/s | ratio | direct p50 ms | proxied p50 ms | added p50 ms | direct p99 ms | proxied p99 ms | proxy CPU us/req | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, r) in report.rounds.iter().enumerate() {
        let added = r.proxied.latency.p50.saturating_sub(r.direct.latency.p50);
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            r.direct.rps,
            r.proxied.rps,
            r.proxied.rps / r.direct.rps,
            ms(r.direct.latency.p50),
            ms(r.proxied.latency.p50),
            ms(added),
            ms(r.direct.latency.p99),
            ms(r.proxied.latency.p99),
            r.proxy_cpu_per_request
                .map_or("?".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e6)),
            r.direct.errors + r.proxied.errors
        );
    }
    let kib = |r: Option<sysinfo::Rss>, peak: bool| {
        r.map_or("?".to_string(), |r| {
            format!(
                "{:.1} MiB",
                (if peak { r.peak_kib } else { r.current_kib }) as f64 / 1024.0
            )
        })
    };
    println!();
    println!(
        "control plane RSS: {} with {} load balancers idle; {} after the load, peak {}",
        kib(report.rss_idle, false),
        opts.load_balancers,
        kib(report.rss_loaded, false),
        kib(report.rss_loaded, true)
    );
    ExitCode::SUCCESS
}
