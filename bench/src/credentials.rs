//! Throughput and latency of the task credentials endpoint, `GET /v2/credentials/{id}`.
//!
//! The server is the agent's own ([`ecs_agent::endpoint::serve`]: the same router, middleware,
//! credentials manager and audit log writer as `ecs-agent run`), started in this process on its
//! own two-worker tokio runtime (the agent's runtime size) on 127.0.0.1:0, with the rate limit
//! lifted and the audit log off (the baseline) or on, writing to a temporary file with the
//! agent's default rollover (5 MB files; all kept, to count them). The load comes from a separate
//! runtime: `connections` keep-alive HTTP/1.1 connections, each sending one request at a time
//! and timing it from the write to the last byte of the body. A warm-up period is discarded.
//! Client and server share the machine's cores, as a task and the agent do.
//!
//! With the audit log on, the run ends by waiting (10 s at most) for the audit files to hold one
//! line per answer sent, warm-up included: the audit log keeps every line (a request waits when
//! its queue is full), and the count shows it. [`audit_writer`] measures the writer alone.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ecs_agent::credentials::CredentialsManager;
use ecs_agent::endpoint::audit::{AuditEntry, AuditFile, AuditLog, GET_CREDENTIALS};
use ecs_agent::endpoint::{Endpoint, serve};
use ecs_agent::logging::Rollover;
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
    /// Whether the audit log is on.
    pub audit: bool,
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
    /// Answers sent in the whole run, warm-up included (each is an audit line).
    pub answered: usize,
    /// Lines found in the audit files (None: audit log off).
    pub audit_lines: Option<usize>,
}

impl Results {
    /// Requests per second.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// The agent's default audit rollover (`ECS_LOG_ROLLOVER_TYPE=size`, 5 MB files) at `path`, every
/// roll kept (the default keeps 24) so that every line can be counted.
fn audit_file(path: &Path) -> AuditFile {
    AuditFile {
        path: path.to_path_buf(),
        rollover: Rollover::Size {
            max_bytes: 5_000_000,
        },
        max_rolls: 0,
    }
}

/// Lines in `dir`'s files.
fn lines_in(dir: &Path) -> Result<usize> {
    let mut lines = 0;
    for entry in std::fs::read_dir(dir)? {
        let bytes = std::fs::read(entry?.path())?;
        lines += bytes.iter().filter(|b| **b == b'\n').count();
    }
    Ok(lines)
}

/// Starts the server on its own runtime thread (the audit log on when `audit_path` is given);
/// returns its address and a stop token.
fn start_server(audit_path: Option<&Path>) -> Result<(SocketAddr, CancellationToken)> {
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
    let (tx, rx) = std::sync::mpsc::channel::<Result<SocketAddr>>();
    let stop = shutdown.clone();
    let audit_path = audit_path.map(Path::to_path_buf);
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
            let audit = match &audit_path {
                None => Ok(AuditLog::disabled()),
                Some(p) => AuditLog::start(&audit_file(p), "bench".into(), arn_rx, stop.clone()),
            };
            let audit = match audit {
                Ok(a) => a,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            let endpoint = Endpoint {
                credentials,
                limiter: None,
                audit,
                metadata: None,
            };
            let _ = tx.send(listener.local_addr().map_err(Into::into));
            let _ = serve(listener, endpoint, stop).await;
        });
    });
    let addr = rx.recv().context("the server thread ended")??;
    Ok((addr, shutdown))
}

/// One keep-alive connection sending requests until `until`; latencies of requests started after
/// `measure_from`, the non-200 answers among them, and the answers in all.
async fn client(
    addr: SocketAddr,
    measure_from: Instant,
    until: Instant,
) -> Result<(Vec<Duration>, usize, usize)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request = b"GET /v2/credentials/bench-credentials-id HTTP/1.1\r\nHost: 169.254.170.2\r\nUser-Agent: credentials-bench\r\n\r\n";
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut answered = 0;
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
        answered += 1;
        if start >= measure_from {
            samples.push(start.elapsed());
        }
    }
    Ok((samples, errors, answered))
}

/// Runs the benchmark.
pub fn run(opts: &Options) -> Result<Results> {
    let dir = tempfile::tempdir()?;
    let audit_dir = dir.path().join("log");
    let audit_path = audit_dir.join("audit.log");
    let (addr, shutdown) = start_server(opts.audit.then_some(audit_path.as_path()))?;
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
        let mut answered = 0;
        for t in tasks {
            let (s, e, a) = t.await??;
            samples.extend(s);
            errors += e;
            answered += a;
        }
        anyhow::Ok((samples, errors, answered))
    });
    let audit_lines = match (&result, opts.audit) {
        (Ok((_, _, answered)), true) => {
            // Every answer's line was queued before the answer was sent; wait for the writer.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let lines = lines_in(&audit_dir)?;
                if lines >= *answered || Instant::now() > deadline {
                    break Some(lines);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        _ => None,
    };
    shutdown.cancel();
    let (samples, errors, answered) = result?;
    let latency = Summary::of(&samples).context("no samples")?;
    Ok(Results {
        requests: samples.len() - errors.min(samples.len()),
        elapsed: opts.duration,
        latency,
        errors,
        answered,
        audit_lines,
    })
}

/// What [`audit_writer`] measured.
#[derive(Debug, Clone)]
pub struct WriterResults {
    /// Lines logged.
    pub lines: usize,
    /// From the first `log` to the last line found in the files.
    pub elapsed: Duration,
    /// Lines found in the files.
    pub written: usize,
    /// Files at the end (the live one and its rolls).
    pub files: usize,
}

/// The audit writer alone: `producers` tasks on a two-worker runtime log `lines` lines as fast as
/// the queue takes them, into the default rollover (5 MB files, all kept); timed until every line
/// is in the files.
pub fn audit_writer(lines: usize, producers: usize) -> Result<WriterResults> {
    let dir = tempfile::tempdir()?;
    let audit_dir = dir.path().join("log");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let shutdown = CancellationToken::new();
    runtime.block_on(async {
        let (_arn_tx, arn_rx) = tokio::sync::watch::channel(Some("arn:bench".to_string()));
        let log = AuditLog::start(
            &audit_file(&audit_dir.join("audit.log")),
            "bench".into(),
            arn_rx,
            shutdown.clone(),
        )?;
        let start = Instant::now();
        let tasks: Vec<_> = (0..producers)
            .map(|p| {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in (p..lines).step_by(producers) {
                        log.log(AuditEntry {
                            status: 200,
                            client: SocketAddr::from(([172, 17, 0, 2], 40000)),
                            path: "/v2/credentials/<id>".into(),
                            user_agent: format!("aws-sdk-rust/1.0 os/linux req/{n}"),
                            task_arn: Some(
                                "arn:aws:ecs:us-east-1:123456789012:task/bench/0123456789abcdef"
                                    .into(),
                            ),
                            event_type: GET_CREDENTIALS,
                        })
                        .await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let written = loop {
            let written = lines_in(&audit_dir)?;
            if written >= lines || Instant::now() > deadline {
                break written;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let elapsed = start.elapsed();
        shutdown.cancel();
        let files = std::fs::read_dir(&audit_dir)?.count();
        Ok(WriterResults {
            lines,
            elapsed,
            written,
            files,
        })
    })
}
