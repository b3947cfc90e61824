//! The ELBv2 data plane: requests/s and latency through an emulated Application Load Balancer
//! against the same backend called directly, in the same run, and the control plane's memory
//! with load balancers idle and under load.
//!
//! Set-up: an HTTP backend in this process (hyper, answers `ok` to everything) on a free
//! loopback port; the real `ecs-control-plane` binary (state in memory); `--load-balancers`
//! application load balancers made with the real AWS CLI, each with an HTTP listener on its own
//! free port forwarding to its own target group, whose one `ip` target is the backend (health
//! checks every 5 s, healthy after 2); the benchmark waits until every target is `healthy`.
//!
//! Load: `connections` keep-alive HTTP/1.1 connections (hyper's client connection, one request
//! at a time each, as wrk does), GET `/`, for a warm-up and then a measured period; every
//! request is timed with [`Instant`]. A round is one period direct to the backend, then one
//! through the first load balancer (`127.0.0.1:PORT` with its DNS name as Host, as curl sends
//! it); rounds alternate so that drift in the shared machine hits both. Client, backend and
//! proxy share the machine's cores. `backend_delay` makes the backend wait before answering (an
//! application's own latency, not CPU). The control plane's CPU time over a proxied period
//! (warm-up included), per request, is the proxy's own cost.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ecs_e2e_tests::{AwsCli, ChildProcess, free_port};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::stats::Summary;
use crate::sysinfo::{self, Rss};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Discarded warm-up per period.
    pub warmup: Duration,
    /// Measured period.
    pub duration: Duration,
    /// Rounds (direct then proxy, each).
    pub rounds: usize,
    /// Load balancers made (the first is measured).
    pub load_balancers: usize,
    /// The control plane binary.
    pub control_plane_bin: std::path::PathBuf,
    /// How long the backend waits before each answer (an application's own latency; not CPU).
    pub backend_delay: Duration,
}

/// One measured period.
#[derive(Debug, Clone)]
pub struct Period {
    /// Answers in the measured period per second.
    pub rps: f64,
    /// Latencies.
    pub latency: Summary,
    /// Answers that were not 200.
    pub errors: usize,
}

/// One round: direct, then through the load balancer.
#[derive(Debug, Clone)]
pub struct Round {
    /// Straight to the backend.
    pub direct: Period,
    /// Through the load balancer.
    pub proxied: Period,
    /// The control plane's CPU time (user + system) per proxied request.
    pub proxy_cpu_per_request: Option<Duration>,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Each round.
    pub rounds: Vec<Round>,
    /// Control plane memory after set-up, load balancers idle.
    pub rss_idle: Option<Rss>,
    /// Control plane memory after the load (peak = under load).
    pub rss_loaded: Option<Rss>,
}

async fn backend(listener: tokio::net::TcpListener, delay: Duration) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_req| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One keep-alive connection sending GET / with `host` until `until`: latencies of requests
/// started after `from`, and the non-200 answers among them.
async fn connection(
    addr: SocketAddr,
    host: String,
    from: Instant,
    until: Instant,
) -> Result<(Vec<Duration>, usize)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut samples = Vec::new();
    let mut errors = 0;
    loop {
        let start = Instant::now();
        if start >= until {
            break;
        }
        let req = hyper::Request::get("/")
            .header(hyper::header::HOST, &host)
            .body(Empty::<Bytes>::new())?;
        let answer = sender.send_request(req).await?;
        let ok = answer.status() == 200;
        answer.into_body().collect().await?;
        if start >= from {
            samples.push(start.elapsed());
            if !ok {
                errors += 1;
            }
        }
    }
    Ok((samples, errors))
}

async fn period(addr: SocketAddr, host: &str, opts: &Options) -> Result<Period> {
    let from = Instant::now() + opts.warmup;
    let until = from + opts.duration;
    let tasks: Vec<_> = (0..opts.connections)
        .map(|_| tokio::spawn(connection(addr, host.to_string(), from, until)))
        .collect();
    let mut samples = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (s, e) = t.await??;
        samples.extend(s);
        errors += e;
    }
    let latency = Summary::of(&samples).context("no request answered")?;
    Ok(Period {
        rps: samples.len() as f64 / opts.duration.as_secs_f64(),
        latency,
        errors,
    })
}

fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Runs the benchmark.
pub fn run(opts: &Options) -> Result<Report> {
    ensure!(
        opts.control_plane_bin.is_file(),
        "no control plane binary at {}: build it with `cargo build --release -p ecs-control-plane -p ecs-bench` \
         (same CARGO_TARGET_DIR) or pass --control-plane-bin",
        opts.control_plane_bin.display()
    );
    ensure!(
        opts.load_balancers >= 1,
        "--load-balancers must be at least 1"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let backend_port = free_port()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", backend_port)))?;
    rt.spawn(backend(listener, opts.backend_delay));

    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut cmd = Command::new(&opts.control_plane_bin);
    cmd.args(["--listen", &addr])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("RUST_LOG");
    let process = ChildProcess::spawn("ecs-control-plane", &mut cmd)?;
    ecs_e2e_tests::wait_until(
        Duration::from_secs(30),
        "the control plane to listen",
        || std::net::TcpStream::connect(&addr).is_ok(),
    )?;
    let aws = AwsCli::new(format!("http://{addr}"))?;
    let mut first: Option<(String, u16)> = None;
    let mut groups = Vec::new();
    for i in 0..opts.load_balancers {
        let name = format!("bench-{i}");
        let lb = aws.run(&[
            "elbv2",
            "create-load-balancer",
            "--name",
            &name,
            "--subnets",
            "subnet-0123456789abcdef0",
            "subnet-0123456789abcdef1",
        ])?;
        let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
        let dns = s(&lb["LoadBalancers"][0]["DNSName"]);
        let tg = aws.run(&[
            "elbv2",
            "create-target-group",
            "--name",
            &name,
            "--protocol",
            "HTTP",
            "--port",
            &backend_port.to_string(),
            "--vpc-id",
            "vpc-0123456789abcdef0",
            "--target-type",
            "ip",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ])?;
        let tg_arn = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
        let port = free_port()?;
        aws.run(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &port.to_string(),
            "--default-actions",
            &format!(r#"[{{"Type":"forward","TargetGroupArn":"{tg_arn}"}}]"#),
        ])?;
        aws.run(&[
            "elbv2",
            "register-targets",
            "--target-group-arn",
            &tg_arn,
            "--targets",
            "Id=127.0.0.1",
        ])?;
        groups.push(tg_arn);
        first.get_or_insert((dns, port));
    }
    for tg in &groups {
        ecs_e2e_tests::wait_until(
            Duration::from_secs(60),
            "every target to be healthy",
            || -> Result<bool> {
                let h = aws.run(&["elbv2", "describe-target-health", "--target-group-arn", tg])?;
                Ok(h["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy")
            },
        )?;
    }
    let Some((dns, port)) = first else {
        bail!("no load balancer");
    };
    let rss_idle = sysinfo::rss(process.id());
    let direct_addr = SocketAddr::from(([127, 0, 0, 1], backend_port));
    let proxy_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut rounds = Vec::new();
    for _ in 0..opts.rounds {
        let direct = rt.block_on(period(direct_addr, "backend", opts))?;
        let cpu_before = sysinfo::cpu_time(process.id());
        let proxied = rt.block_on(period(proxy_addr, &dns, opts))?;
        // Over the warm-up and the measured period: per request of both.
        let requests = proxied.rps * (opts.warmup + opts.duration).as_secs_f64();
        let proxy_cpu_per_request = match (cpu_before, sysinfo::cpu_time(process.id())) {
            (Some(a), Some(b)) if requests > 0.0 => Some(Duration::from_secs_f64(
                b.saturating_sub(a).as_secs_f64() / requests,
            )),
            _ => None,
        };
        rounds.push(Round {
            direct,
            proxied,
            proxy_cpu_per_request,
        });
    }
    let rss_loaded = sysinfo::rss(process.id());
    drop(process);
    drop(rt);
    Ok(Report {
        rounds,
        rss_idle,
        rss_loaded,
    })
}
