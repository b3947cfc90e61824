//! `credentials-bench`: throughput and p99 latency of the agent's task credentials endpoint
//! (`GET /v2/credentials/{id}`) on loopback, rate limit lifted (see `bench/src/credentials.rs`),
//! with the audit log off (the baseline) and on in each run, and the audit writer alone.
//! Prints Markdown tables for `BENCHMARKS.md`.
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
    /// Runs (each reported; each is a pass with the audit log off, then one with it on).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Lines the audit writer alone is given.
    #[arg(long, default_value_t = 500_000)]
    writer_lines: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opts = Options {
        connections: cli.connections,
        warmup: Duration::from_secs(cli.warmup_secs),
        duration: Duration::from_secs(cli.secs),
        audit: false,
    };
    let (model, cpus) = sysinfo::cpu();
    println!(
        "machine: {cpus} CPUs ({model}); load average at the start: {}",
        sysinfo::loadavg()
    );
    println!(
        "{} keep-alive connections, {:?} warm-up, {:?} measured per pass",
        opts.connections, opts.warmup, opts.duration
    );
    println!();
    println!(
        "| run | audit log | requests/s | vs off | p50 ms | p99 ms | max ms | non-200 | audit lines / answers | target |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for run in 1..=cli.runs {
        let mut baseline = None;
        for audit in [false, true] {
            let r = match credentials::run(&Options {
                audit,
                ..opts.clone()
            }) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("credentials-bench: {e:#}");
                    return ExitCode::from(1);
                }
            };
            let ok = r.throughput() >= 20_000.0 && r.latency.p99 < Duration::from_millis(5);
            let ratio = match baseline {
                Some(b) => format!("{:.2}", r.throughput() / b),
                None => "1.00".to_string(),
            };
            println!(
                "| {run} | {} | {:.0} | {ratio} | {} | {} | {} | {} | {} | {} |",
                if audit { "on" } else { "off" },
                r.throughput(),
                ms(r.latency.p50),
                ms(r.latency.p99),
                ms(r.latency.max),
                r.errors,
                match r.audit_lines {
                    Some(lines) => format!("{lines} / {}", r.answered),
                    None => "-".to_string(),
                },
                if ok {
                    "met (>= 20,000/s, p99 < 5 ms)"
                } else {
                    "missed"
                }
            );
            if !audit {
                baseline = Some(r.throughput());
            }
        }
    }
    println!();
    println!("audit writer alone (8 producers, 2 workers, 5 MB rolls):");
    println!();
    println!("| lines | written | files | seconds | lines/s |");
    println!("|---|---|---|---|---|");
    match credentials::audit_writer(cli.writer_lines, 8) {
        Ok(w) => println!(
            "| {} | {} | {} | {:.2} | {:.0} |",
            w.lines,
            w.written,
            w.files,
            w.elapsed.as_secs_f64(),
            w.written as f64 / w.elapsed.as_secs_f64()
        ),
        Err(e) => {
            eprintln!("credentials-bench: {e:#}");
            return ExitCode::from(1);
        }
    }
    println!();
    println!("load average at the end: {}", sysinfo::loadavg());
    ExitCode::SUCCESS
}
