//! `credentials-bench`: throughput and p99 latency of the agent's task credentials endpoint
//! (`GET /v2/credentials/{id}`) on loopback, rate limit lifted (see `bench/src/credentials.rs`).
//! Prints a Markdown table for `BENCHMARKS.md`.
//!
//! `cargo build --release -p ecs-bench && target/release/credentials-bench`

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ecs_bench::credentials::{self, Options};
use ecs_bench::stats::ms;
use ecs_bench::sysinfo;

/// Loads the credentials endpoint with keep-alive connections.
#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Discarded warm-up, seconds.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Measured period, seconds.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Runs (each reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = Options {
        connections: cli.connections,
        warmup: Duration::from_secs(cli.warmup_secs),
        duration: Duration::from_secs(cli.secs),
    };
    let (model, cpus) = sysinfo::cpu();
    println!(
        "machine: {cpus} CPUs ({model}); load average at the start: {}",
        sysinfo::loadavg()
    );
    println!(
        "{} keep-alive connections, {:?} warm-up, {:?} measured per run",
        opts.connections, opts.warmup, opts.duration
    );
    println!();
    println!(
        "| run | requests/s | p50 ms | p99 ms | max ms | non-200 | audit lines dropped | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for run in 1..=cli.runs {
        match credentials::run(&opts) {
            Ok(r) => {
                let ok = r.throughput() >= 20_000.0 && r.latency.p99 < Duration::from_millis(5);
                println!(
                    "| {run} | {:.0} | {} | {} | {} | {} | {} | {} |",
                    r.throughput(),
                    ms(r.latency.p50),
                    ms(r.latency.p99),
                    ms(r.latency.max),
                    r.errors,
                    r.audit_dropped,
                    if ok {
                        "met (>= 20,000/s, p99 < 5 ms)"
                    } else {
                        "missed"
                    }
                );
            }
            Err(e) => {
                eprintln!("credentials-bench: {e:#}");
                return ExitCode::from(1);
            }
        }
    }
    println!();
    println!("load average at the end: {}", sysinfo::loadavg());
    ExitCode::SUCCESS
}
