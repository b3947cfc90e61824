#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ELBv2 data plane end to end: load balancers, target groups, listeners and rules made with
//! the real AWS CLI against the real control-plane binary, real HTTP backends (hyper servers in
//! this test process, on free loopback ports), and the real `curl` sending requests to the load
//! balancer's DNS name (`*.localhost`, which curl resolves to loopback by itself).
//!
//! What is checked: health checks make targets `healthy` (describe-target-health and the
//! `target-in-service` waiter), round robin over two backends, path rules to another group,
//! X-Forwarded-* headers (the client's port with `routing.http.xff_client_port.enabled`), fixed
//! responses and redirects, 503 without targets, fail open with an
//! unhealthy target (`Target.ResponseCodeMismatch`), the idle timeout (504) not stalling other
//! requests, draining then gone after deregistration, 502 when a backend dies then
//! `unhealthy`/`Target.FailedHealthChecks`, the proxies back after kill -9 and a restart on the
//! same data dir, deletion closing the socket at once; and, on port 80, two load balancers at
//! once told apart by name, and a port taken by another program refused by CreateListener.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ecs_e2e_tests::{AwsCli, ControlPlane, free_port, wait_until};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::watch;

const SUBNETS: [&str; 2] = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"];
const VPC: &str = "vpc-0123456789abcdef0";

/// An HTTP backend in this process: `/health` answers `health_code`, `/hang` never answers,
/// `/slow` answers after 6 s, anything else answers `NAME PATH xff=.. proto=.. port=..`. Dropping or killing it closes its
/// socket and every connection.
struct Backend {
    name: &'static str,
    port: u16,
    health_code: Arc<AtomicU16>,
    /// `/slow` requests received (each answered 6 s later).
    slow: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
}

impl Backend {
    fn start(rt: &tokio::runtime::Runtime, name: &'static str) -> Result<Self> {
        let port = free_port()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))?;
        let health_code = Arc::new(AtomicU16::new(200));
        let (stop, stopped) = watch::channel(false);
        let code = Arc::clone(&health_code);
        let slow = Arc::new(AtomicUsize::new(0));
        let slow_count = Arc::clone(&slow);
        rt.spawn(async move {
            let mut stopped_accept = stopped.clone();
            loop {
                let (stream, _) = tokio::select! {
                    _ = stopped_accept.changed() => return,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                };
                let code = Arc::clone(&code);
                let slow = Arc::clone(&slow_count);
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let code = code.load(Ordering::Relaxed);
                        let slow = Arc::clone(&slow);
                        async move { answer(name, code, &slow, req).await }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = stopped.changed() => {}
                        _ = conn => {}
                    }
                });
            }
        });
        Ok(Backend {
            name,
            port,
            health_code,
            slow,
            stop,
        })
    }

    /// Closes its socket and its connections: it refuses from now on.
    fn kill(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn answer(
    name: &str,
    health_code: u16,
    slow: &AtomicUsize,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/health" {
        let mut r = Response::new(Full::new(Bytes::from_static(b"ok")));
        *r.status_mut() = hyper::StatusCode::from_u16(health_code).unwrap();
        return Ok(r);
    }
    if path == "/hang" {
        std::future::pending::<()>().await;
    }
    if path == "/slow" {
        slow.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let body = format!(
        "{name} {path} xff={} proto={} port={}",
        h("x-forwarded-for"),
        h("x-forwarded-proto"),
        h("x-forwarded-port")
    );
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// What curl got: status (0 when it could not connect), body, curl's exit code.
#[derive(Debug)]
struct Got {
    status: u16,
    body: String,
    exit: i32,
    location: String,
}

/// `curl URL` (no retries, a 30 s cap).
fn curl(url: &str) -> Result<Got> {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "30",
            "-w",
            "\n%{http_code} %{redirect_url}",
            url,
        ])
        .output()
        .context("cannot run curl")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (code, location) = tail.split_once(' ').unwrap_or((tail, ""));
    Ok(Got {
        status: code.trim().parse().unwrap_or(0),
        body: body.to_string(),
        exit: out.status.code().unwrap_or(-1),
        location: location.trim().to_string(),
    })
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Every target's (id, port, state, reason) in the group.
fn health(aws: &AwsCli, tg: &str) -> Result<Vec<(String, i64, String, String)>> {
    let h = aws.run(&["elbv2", "describe-target-health", "--target-group-arn", tg])?;
    Ok(h["TargetHealthDescriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            (
                s(&d["Target"]["Id"]),
                d["Target"]["Port"].as_i64().unwrap_or(0),
                s(&d["TargetHealth"]["State"]),
                s(&d["TargetHealth"]["Reason"]),
            )
        })
        .collect())
}

/// Waits until every target of `tg` is in `state` (with `reason`, when given).
fn wait_health(aws: &AwsCli, tg: &str, state: &str, reason: Option<&str>) -> Result<()> {
    wait_until(
        Duration::from_secs(60),
        &format!("targets of {tg} to be {state}"),
        || -> Result<bool> {
            let h = health(aws, tg)?;
            ensure!(
                !h.is_empty()
                    && h.iter()
                        .all(|t| t.2 == state && reason.is_none_or(|r| t.3 == r)),
                "{h:?}"
            );
            Ok(true)
        },
    )
}

fn create_lb(aws: &AwsCli, name: &str) -> Result<(String, String)> {
    let lb = aws.run(&[
        "elbv2",
        "create-load-balancer",
        "--name",
        name,
        "--subnets",
        SUBNETS[0],
        SUBNETS[1],
    ])?;
    let lb = &lb["LoadBalancers"][0];
    Ok((s(&lb["LoadBalancerArn"]), s(&lb["DNSName"])))
}

fn create_tg(aws: &AwsCli, name: &str, port: u16, target_type: &str) -> Result<String> {
    let tg = aws.run(&[
        "elbv2",
        "create-target-group",
        "--name",
        name,
        "--protocol",
        "HTTP",
        "--port",
        &port.to_string(),
        "--vpc-id",
        VPC,
        "--target-type",
        target_type,
        "--health-check-path",
        "/health",
        "--health-check-interval-seconds",
        "5",
        "--health-check-timeout-seconds",
        "2",
        "--healthy-threshold-count",
        "2",
        "--unhealthy-threshold-count",
        "2",
    ])?;
    Ok(s(&tg["TargetGroups"][0]["TargetGroupArn"]))
}

fn rule(aws: &AwsCli, listener: &str, priority: &str, path: &str, action: &str) -> Result<()> {
    aws.run(&[
        "elbv2",
        "create-rule",
        "--listener-arn",
        listener,
        "--priority",
        priority,
        "--conditions",
        &format!(r#"[{{"Field":"path-pattern","Values":["{path}"]}}]"#),
        "--actions",
        action,
    ])?;
    Ok(())
}

fn forward(tg: &str) -> String {
    format!(r#"[{{"Type":"forward","TargetGroupArn":"{tg}"}}]"#)
}

/// The backends that answered `n` requests to `url`.
fn answered_by(url: &str, n: usize) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for _ in 0..n {
        let got = curl(url)?;
        ensure!(got.status == 200, "{url}: {got:?}");
        names.insert(got.body.split(' ').next().unwrap_or_default().to_string());
    }
    Ok(names)
}

#[test]
fn an_alb_balances_routes_checks_health_drains_and_survives_a_restart() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let a = Backend::start(&rt, "a")?;
    let b = Backend::start(&rt, "b")?;
    let topics = Backend::start(&rt, "topics")?;
    let sick = Backend::start(&rt, "sick")?;
    sick.health_code.store(500, Ordering::Relaxed);

    let data = tempfile::tempdir()?;
    let cp = ControlPlane::start(Some(data.path()))?;
    let addr = cp.addr.clone();
    let aws = cp.aws()?;

    let (lb_arn, dns) = create_lb(&aws, "web")?;
    assert!(dns.ends_with(".us-east-1.elb.localhost"), "{dns}");
    let users_tg = create_tg(&aws, "users", a.port, "instance")?;
    aws.run(&[
        "elbv2",
        "modify-target-group-attributes",
        "--target-group-arn",
        &users_tg,
        "--attributes",
        "Key=deregistration_delay.timeout_seconds,Value=3",
    ])?;
    let topics_tg = create_tg(&aws, "topics", topics.port, "ip")?;
    let sick_tg = create_tg(&aws, "sick", sick.port, "ip")?;
    let empty_tg = create_tg(&aws, "empty", 80, "ip")?;
    let port = free_port()?;
    let l = aws.run(&[
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        &lb_arn,
        "--protocol",
        "HTTP",
        "--port",
        &port.to_string(),
        "--default-actions",
        &forward(&users_tg),
    ])?;
    let listener = s(&l["Listeners"][0]["ListenerArn"]);
    rule(&aws, &listener, "10", "/api/topics*", &forward(&topics_tg))?;
    rule(&aws, &listener, "20", "/sick*", &forward(&sick_tg))?;
    rule(&aws, &listener, "30", "/empty*", &forward(&empty_tg))?;
    rule(
        &aws,
        &listener,
        "40",
        "/fixed",
        r#"[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"418","ContentType":"text/plain","MessageBody":"short and stout"}}]"#,
    )?;
    rule(
        &aws,
        &listener,
        "50",
        "/old/*",
        r#"[{"Type":"redirect","RedirectConfig":{"Path":"/new/#{path}","StatusCode":"HTTP_301"}}]"#,
    )?;
    aws.run(&[
        "elbv2",
        "register-targets",
        "--target-group-arn",
        &users_tg,
        "--targets",
        &format!("Id=i-0123456789abcdef0,Port={}", a.port),
        &format!("Id=i-0123456789abcdef1,Port={}", b.port),
    ])?;
    for (tg, backend) in [(&topics_tg, &topics), (&sick_tg, &sick)] {
        aws.run(&[
            "elbv2",
            "register-targets",
            "--target-group-arn",
            tg,
            "--targets",
            &format!("Id=127.0.0.1,Port={}", backend.port),
        ])?;
    }

    // Health checks decide: healthy, and the waiter agrees.
    wait_health(&aws, &users_tg, "healthy", None)?;
    aws.run(&[
        "elbv2",
        "wait",
        "target-in-service",
        "--target-group-arn",
        &users_tg,
    ])?;
    wait_health(&aws, &topics_tg, "healthy", None)?;

    // Round robin over both backends, X-Forwarded-*, path rules.
    let base = format!("http://{dns}:{port}");
    assert_eq!(
        answered_by(&format!("{base}/api/users"), 6)?,
        BTreeSet::from([a.name.to_string(), b.name.to_string()])
    );
    let got = curl(&format!("{base}/api/users"))?;
    assert!(
        got.body
            .ends_with(&format!("/api/users xff=127.0.0.1 proto=http port={port}")),
        "{got:?}"
    );
    assert_eq!(
        answered_by(&format!("{base}/api/topics"), 3)?,
        BTreeSet::from(["topics".to_string()])
    );
    let got = curl(&format!("{base}/empty"))?;
    assert_eq!(got.status, 503, "{got:?}");
    let got = curl(&format!("{base}/fixed"))?;
    assert_eq!((got.status, got.body.as_str()), (418, "short and stout"));
    let got = curl(&format!("{base}/old/page?x=1"))?;
    assert_eq!(got.status, 301, "{got:?}");
    assert_eq!(
        got.location,
        format!("http://{dns}:{port}/new/old/page?x=1")
    );

    // A target failing its checks with a wrong code is unhealthy, and alone it still gets
    // the traffic (fail open).
    wait_health(
        &aws,
        &sick_tg,
        "unhealthy",
        Some("Target.ResponseCodeMismatch"),
    )?;
    let got = curl(&format!("{base}/sick"))?;
    assert!(
        got.status == 200 && got.body.starts_with("sick "),
        "{got:?}"
    );

    // The idle timeout bounds a target that never answers, without stalling others.
    aws.run(&[
        "elbv2",
        "modify-load-balancer-attributes",
        "--load-balancer-arn",
        &lb_arn,
        "--attributes",
        "Key=idle_timeout.timeout_seconds,Value=2",
        "Key=routing.http.xff_client_port.enabled,Value=true",
    ])?;
    let hang_url = format!("{base}/hang");
    let started = Instant::now();
    let hung = std::thread::spawn(move || curl(&hang_url));
    let got = curl(&format!("{base}/api/users"))?;
    assert_eq!(got.status, 200, "{got:?}");
    assert!(got.body.contains(" xff=127.0.0.1:"), "client port: {got:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let got = hung.join().expect("the curl thread")?;
    assert_eq!(got.status, 504, "{got:?}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Deregistration: draining, no new requests, a request in flight kept until the 3 s delay
    // ends (then cut), then gone.
    aws.run(&[
        "elbv2",
        "modify-load-balancer-attributes",
        "--load-balancer-arn",
        &lb_arn,
        "--attributes",
        "Key=idle_timeout.timeout_seconds,Value=30",
    ])?;
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{base}/slow");
            std::thread::spawn(move || curl(&url).map(|got| (got, Instant::now())))
        })
        .collect();
    wait_until(
        Duration::from_secs(10),
        "a /slow request in flight to each backend",
        || a.slow.load(Ordering::Relaxed) == 1 && b.slow.load(Ordering::Relaxed) == 1,
    )?;
    let deregistered = Instant::now();
    aws.run(&[
        "elbv2",
        "deregister-targets",
        "--target-group-arn",
        &users_tg,
        "--targets",
        &format!("Id=i-0123456789abcdef0,Port={}", a.port),
    ])?;
    let h = health(&aws, &users_tg)?;
    assert!(
        h.iter().any(|t| t.1 == i64::from(a.port)
            && t.2 == "draining"
            && t.3 == "Target.DeregistrationInProgress"),
        "{h:?}"
    );
    assert_eq!(
        answered_by(&format!("{base}/api/users"), 4)?,
        BTreeSet::from([b.name.to_string()])
    );
    let mut slow: Vec<(Got, Duration)> = slow
        .into_iter()
        .map(|t| {
            let (got, at) = t.join().expect("a curl thread")?;
            Ok((got, at.duration_since(deregistered)))
        })
        .collect::<Result<_>>()?;
    slow.sort_by_key(|(got, _)| got.status);
    assert!(
        slow[0].0.status == 200 && slow[0].0.body.starts_with("b /slow"),
        "{slow:?}"
    );
    // a's request was kept while it drained, and cut when the 3 s ended (before its 6 s).
    assert_eq!(slow[1].0.status, 502, "{slow:?}");
    assert!(
        slow[1].1 >= Duration::from_millis(2500) && slow[1].1 < Duration::from_secs(5),
        "{slow:?}"
    );
    wait_until(
        Duration::from_secs(20),
        "the deregistered target to be gone",
        || -> Result<bool> {
            let h = health(&aws, &users_tg)?;
            Ok(h.len() == 1 && h[0].1 == i64::from(b.port))
        },
    )?;

    // A backend that dies: 502, then unhealthy.
    b.kill();
    let got = curl(&format!("{base}/api/users"))?;
    assert_eq!(got.status, 502, "{got:?}");
    wait_health(
        &aws,
        &users_tg,
        "unhealthy",
        Some("Target.FailedHealthChecks"),
    )?;

    // kill -9 and a restart on the same data dir: the proxy is back on its address, with
    // its targets (starting initial again).
    aws.run(&[
        "elbv2",
        "register-targets",
        "--target-group-arn",
        &users_tg,
        "--targets",
        &format!("Id=i-0123456789abcdef0,Port={}", a.port),
    ])?;
    let mut cp = cp;
    cp.process.kill()?;
    drop(cp);
    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    wait_until(
        Duration::from_secs(30),
        "the restored proxy to reach backend a",
        || -> Result<bool> {
            let got = curl(&format!("{base}/api/users"))?;
            Ok(got.status == 200 && got.body.starts_with("a "))
        },
    )?;
    assert_eq!(
        answered_by(&format!("{base}/api/topics"), 2)?,
        BTreeSet::from(["topics".to_string()])
    );

    // Deleting the load balancer closes its socket at once.
    aws.run(&[
        "elbv2",
        "delete-load-balancer",
        "--load-balancer-arn",
        &lb_arn,
    ])?;
    let got = curl(&format!("{base}/api/users"))?;
    assert_eq!(got.exit, 7, "curl should find nothing listening: {got:?}");
    drop(cp);
    drop(rt);
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn fixed(body: &str) -> String {
    format!(
        r#"[{{"Type":"fixed-response","FixedResponseConfig":{{"StatusCode":"200","ContentType":"text/plain","MessageBody":"{body}"}}}}]"#
    )
}

#[test]
fn two_load_balancers_listen_on_port_80_and_a_taken_port_is_refused() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let (one_arn, one_dns) = create_lb(&aws, "one")?;
    let (two_arn, two_dns) = create_lb(&aws, "two")?;
    let listen = |arn: &str, port: &str, body: &str| {
        aws.output(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            arn,
            "--protocol",
            "HTTP",
            "--port",
            port,
            "--default-actions",
            &fixed(body),
        ])
    };
    let out = listen(&one_arn, "80", "one")?;
    if !is_root() && !out.success() {
        // Without root, port 80 is refused, and says why.
        assert!(
            out.stderr.contains("InvalidConfigurationRequest"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("CAP_NET_BIND_SERVICE"),
            "{}",
            out.stderr
        );
        return Ok(());
    }
    ensure!(out.success(), "{}", out.stderr);
    let out = listen(&two_arn, "80", "two")?;
    ensure!(out.success(), "{}", out.stderr);
    let got = curl(&format!("http://{one_dns}/"))?;
    assert_eq!((got.status, got.body.as_str()), (200, "one"), "{got:?}");
    let got = curl(&format!("http://{two_dns}/"))?;
    assert_eq!((got.status, got.body.as_str()), (200, "two"), "{got:?}");

    // A port another program holds (on every address): CreateListener says so and creates
    // nothing.
    let taken = free_port()?;
    let holder = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], taken)))?;
    let err = aws.run_err(&[
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        &one_arn,
        "--protocol",
        "HTTP",
        "--port",
        &taken.to_string(),
        "--default-actions",
        &fixed("never"),
    ])?;
    assert_eq!(err.error_code(), Some("InvalidConfigurationRequest"));
    assert!(err.stderr.contains("already in use"), "{}", err.stderr);
    let ls = aws.run(&[
        "elbv2",
        "describe-listeners",
        "--load-balancer-arn",
        &one_arn,
    ])?;
    assert_eq!(ls["Listeners"].as_array().map(Vec::len), Some(1), "{ls}");
    drop(holder);

    // Deleting one load balancer leaves the other on port 80, and its name reaches nothing.
    aws.run(&[
        "elbv2",
        "delete-load-balancer",
        "--load-balancer-arn",
        &one_arn,
    ])?;
    let got = curl(&format!("http://{one_dns}/"))?;
    assert_eq!(got.status, 404, "{got:?}");
    let got = curl(&format!("http://{two_dns}/"))?;
    assert_eq!(got.body, "two", "{got:?}");
    aws.run(&[
        "elbv2",
        "delete-load-balancer",
        "--load-balancer-arn",
        &two_arn,
    ])?;
    let got = curl(&format!("http://{two_dns}/"))?;
    if got.exit != 7 {
        bail!("port 80 should be closed: {got:?}");
    }
    Ok(())
}

#[test]
fn network_load_balancers_forward_tcp_and_share_a_port_on_their_own_addresses() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let backends = [Backend::start(&rt, "n1")?, Backend::start(&rt, "n2")?];
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    let port = free_port()?.to_string();
    let mut lbs = Vec::new();
    for (name, backend) in ["net-one", "net-two"].iter().zip(&backends) {
        let lb = aws.run(&[
            "elbv2",
            "create-load-balancer",
            "--name",
            name,
            "--type",
            "network",
            "--subnets",
            SUBNETS[0],
        ])?;
        let lb = &lb["LoadBalancers"][0];
        let arn = s(&lb["LoadBalancerArn"]);
        let address = s(&lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["IpAddress"]);
        let dns = s(&lb["DNSName"]);
        assert!(address.starts_with("127."), "{lb}");
        let tg = aws.run(&[
            "elbv2",
            "create-target-group",
            "--name",
            name,
            "--protocol",
            "TCP",
            "--port",
            &backend.port.to_string(),
            "--vpc-id",
            VPC,
            "--target-type",
            "ip",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ])?;
        let tg = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
        aws.run(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &arn,
            "--protocol",
            "TCP",
            "--port",
            &port,
            "--default-actions",
            &forward(&tg),
        ])?;
        aws.run(&[
            "elbv2",
            "register-targets",
            "--target-group-arn",
            &tg,
            "--targets",
            "Id=127.0.0.1",
        ])?;
        lbs.push((arn, address, tg, dns));
    }
    for ((_, address, tg, _), backend) in lbs.iter().zip(&backends) {
        wait_health(&aws, tg, "healthy", None)?;
        let got = curl(&format!("http://{address}:{port}/tcp"))?;
        assert!(
            got.status == 200 && got.body.starts_with(&format!("{} /tcp", backend.name)),
            "{got:?}"
        );
    }
    for (i, (arn, address, _, _)) in lbs.iter().enumerate() {
        aws.run(&["elbv2", "delete-load-balancer", "--load-balancer-arn", arn])?;
        let got = curl(&format!("http://{address}:{port}/"))?;
        assert_eq!(got.exit, 7, "{got:?}");
        if let Some((_, _, _, dns)) = lbs.get(i + 1) {
            // Alone on the port now: its DNS name (loopback, for curl) reaches it too.
            let got = curl(&format!("http://{dns}:{port}/by-name"))?;
            assert!(got.body.starts_with("n2 /by-name"), "{got:?}");
        }
    }
    drop(cp);
    drop(rt);
    Ok(())
}
