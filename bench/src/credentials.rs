//! Throughput and latency of the task credentials endpoint, `GET /v2/credentials/{id}`.
//!
//! The server is the agent's own ([`ecs_agent::endpoint::serve`]: the same router, middleware,
//! credentials manager and audit log writer as `ecs-agent run`), started in this process on its
//! own two-worker tokio runtime (the agent's runtime size) on 127.0.0.1:0, with the rate limit
//! lifted and the audit log on, writing to a temporary file. The load comes from a separate
//! runtime: `connections` keep-alive HTTP/1.1 connections, each sending one request at a time
//! and timing it from the write to the last byte of the body. A warm-up period is discarded.
//! Client and server share the machine's cores, as a task and the agent do.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ecs_agent::credentials::CredentialsManager;
use ecs_agent::endpoint::audit::AuditLog;
use ecs_agent::endpoint::{Endpoint, serve};
use ecs_protocol::acs::{IamRoleCredentials, RoleType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::stats::Summary;

/// How to load the endpoint.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Discarded warm-up.
    pub warmup: Duration,
    /// Measured period.
    pub duration: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// Requests answered 200 in the measured period.
    pub requests: usize,
    /// Measured wall time.
    pub elapsed: Duration,
    /// Latency of those requests.
    pub latency: Summary,
    /// Answers other than 200 (must be 0).
    pub errors: usize,
    /// Audit log lines dropped because the writer fell behind (warm-up included).
    pub audit_dropped: u64,
}

impl Results {
    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Starts the server on its own runtime thread; returns its address and a stop token.
fn start_server(audit_path: &std::path::Path) -> Result<(SocketAddr, AuditLog, CancellationToken)> {
    let credentials = CredentialsManager::new();
    credentials.set(
        "arn:aws:ecs:us-east-1:123456789012:task/bench/0123456789abcdef",
        RoleType::TaskApplication,
        &IamRoleCredentials {
            credentials_id: Some("bench-credentials-id".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/bench".into()),
            access_key_id: Some("ASIABENCHBENCHBENCH0".into()),
            secret_access_key: Some("b".repeat(40)),
            session_token: Some("t".repeat(300)),
            expiration: Some("2099-01-01T00:00:00Z".into()),
            credential_scope: None,
        },
    )?;
    let shutdown = CancellationToken::new();
    let (tx, rx) = std::sync::mpsc::channel::<Result<(SocketAddr, AuditLog)>>();
    let stop = shutdown.clone();
    let audit_path = audit_path.to_path_buf();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(anyhow::anyhow!("server runtime: {e}")));
                return;
            }
        };
        runtime.block_on(async move {
            let listener = match TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            let (_arn_tx, arn_rx) = tokio::sync::watch::channel(Some("arn:bench".to_string()));
            let audit = AuditLog::start(&audit_path, "bench".into(), arn_rx, stop.clone());
            let audit = match audit {
                Ok(a) => a,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            let watch = audit.clone();
            let endpoint = Endpoint {
                credentials,
                limiter: None,
                audit,
                metadata: None,
            };
            let _ = tx.send(
                listener
                    .local_addr()
                    .map(|a| (a, watch))
                    .map_err(Into::into),
            );
            let _ = serve(listener, endpoint, stop).await;
        });
    });
    let (addr, audit) = rx.recv().context("the server thread ended")??;
    Ok((addr, audit, shutdown))
}

/// One keep-alive connection sending requests until `until`; latencies of requests started after
/// `measure_from`.
async fn client(
    addr: SocketAddr,
    measure_from: Instant,
    until: Instant,
) -> Result<(Vec<Duration>, usize)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request = b"GET /v2/credentials/bench-credentials-id HTTP/1.1\r\nHost: 169.254.170.2\r\nUser-Agent: credentials-bench\r\n\r\n";
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut buf = vec![0u8; 8192];
    loop {
        let start = Instant::now();
        if start >= until {
            break;
        }
        stream.write_all(request).await?;
        // Read the head, then Content-Length bytes of body.
        let mut have = 0;
        let (head_end, body_len) = loop {
            let n = stream.read(&mut buf[have..]).await?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            have += n;
            if let Some(i) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..i])?;
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .context("no content-length")?;
                if !head.starts_with("HTTP/1.1 200") {
                    errors += 1;
                }
                break (i + 4, len);
            }
            if have == buf.len() {
                bail!("response head too large");
            }
        };
        while have < head_end + body_len {
            let n = stream.read(&mut buf[have..]).await?;
            if n == 0 {
                bail!("the server closed the connection mid-body");
            }
            have += n;
        }
        if start >= measure_from {
            samples.push(start.elapsed());
        }
    }
    Ok((samples, errors))
}

/// Runs the benchmark.
pub fn run(opts: &Options) -> Result<Results> {
    let dir = tempfile::tempdir()?;
    let (addr, audit, shutdown) = start_server(&dir.path().join("audit.log"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let now = Instant::now();
        let measure_from = now + opts.warmup;
        let until = measure_from + opts.duration;
        let tasks: Vec<_> = (0..opts.connections)
            .map(|_| tokio::spawn(client(addr, measure_from, until)))
            .collect();
        let mut samples = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (s, e) = t.await??;
            samples.extend(s);
            errors += e;
        }
        anyhow::Ok((samples, errors))
    });
    shutdown.cancel();
    let (samples, errors) = result?;
    let latency = Summary::of(&samples).context("no samples")?;
    Ok(Results {
        requests: samples.len() - errors.min(samples.len()),
        elapsed: opts.duration,
        latency,
        errors,
        audit_dropped: audit.dropped(),
    })
}
