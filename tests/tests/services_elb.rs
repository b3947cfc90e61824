#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ECS services behind the emulated ELBv2, end to end: the real control-plane binary, the real
//! AWS CLI for every ECS and ELBv2 call, and fake agents (real SDK registration, signed ACS
//! websocket) that run each task as a real HTTP server on a loopback port of their choosing and
//! report it as the task's dynamic host port, as an agent reports Docker's binding.
//!
//! What it shows: CreateService refuses bad `loadBalancers` with ECS's errors; the scheduler
//! registers each RUNNING task as its instance and host port; a task the scheduler stops is
//! deregistered first (ELB shows it `draining`) and told to stop only once the target group's
//! deregistration delay has passed. Through the load balancer's real proxy: the service is steady
//! only once both targets are healthy, requests reach both tasks of one instance (round robin,
//! also with curl and the `.localhost` DNS name), a forced deployment under a steady stream of
//! requests fails none of them, and a task whose application stops answering fails its health
//! checks and is replaced with ECS's reason and event. Three services behind one load balancer
//! on `/api/users`, `/api/topics` and `/api/messages` (path-pattern rules) each answer only their
//! own path; other paths get the listener's fixed 404.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ecs_e2e_tests::fake_agent::FakeAgent;
use ecs_e2e_tests::{
    AwsCli, ControlPlane, container_instances, described_tasks, free_port, wait_agents_connected,
    wait_until,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

const CLUSTER: &str = "lb";
const TIMEOUT: Duration = Duration::from_secs(30);
/// The target group's deregistration delay.
const DELAY_SECS: u64 = 3;

/// Serves `body` over HTTP/1.1 keep-alive on `listener` until aborted (a test backend standing
/// in for a task's container; answers every request alike).
async fn serve(listener: TcpListener, body: String) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let body = body.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                buf.drain(..end);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if conn.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Each running task's backend, by task ARN (the test may kill one to fail its health checks).
type Backends = Arc<Mutex<BTreeMap<String, JoinHandle<()>>>>;

/// Connects `agent` to ACS and runs its tasks: a backend per task to run (reported RUNNING with
/// container port 8080 bound to the backend's port), stopped and reported STOPPED when told.
fn autopilot(rt: &Runtime, agent: Arc<FakeAgent>, backends: Backends) -> Result<JoinHandle<()>> {
    let mut acs = rt.block_on(agent.connect())?;
    Ok(rt.spawn(async move {
        loop {
            let Ok(payload) = acs
                .next_of("PayloadMessage", Duration::from_secs(3600))
                .await
            else {
                return;
            };
            if acs.ack(&payload).await.is_err() {
                return;
            }
            for t in payload["message"]["tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let arn = t["arn"].as_str().unwrap_or_default().to_string();
                let desired = t["desiredStatus"].as_str().unwrap_or_default();
                let result = if desired == "RUNNING" {
                    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let port = i32::from(listener.local_addr().unwrap().port());
                    let id = arn.rsplit('/').next().unwrap_or_default().to_string();
                    let backend = tokio::spawn(serve(listener, format!("task {id}")));
                    backends.lock().unwrap().insert(arn.clone(), backend);
                    agent
                        .submit(&arn, "RUNNING", "web", Some((8080, port)), None, None)
                        .await
                } else {
                    if let Some(b) = backends.lock().unwrap().remove(&arn) {
                        b.abort();
                    }
                    agent
                        .submit(&arn, "STOPPED", "web", None, Some(0), None)
                        .await
                };
                if let Err(e) = result {
                    eprintln!("fake agent: cannot report {arn} {desired}: {e:#}");
                }
            }
        }
    }))
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `aws ARGS`, which must fail with `code`; its message.
fn cli_err(aws: &AwsCli, args: &[&str], code: &str) -> Result<String> {
    let e = aws.run_err(args)?;
    ensure!(e.error_code() == Some(code), "{}", e.stderr);
    let line = e
        .stderr
        .lines()
        .find(|l| l.contains("An error occurred"))
        .unwrap_or_default();
    Ok(line
        .split_once("): ")
        .map(|(_, m)| m.to_string())
        .unwrap_or_default())
}

/// The targets of `tg` as describe-target-health lists them: (id, port, state).
fn targets(aws: &AwsCli, tg: &str) -> Result<Vec<(String, u64, String)>> {
    let out = aws.run(&["elbv2", "describe-target-health", "--target-group-arn", tg])?;
    Ok(out["TargetHealthDescriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            (
                s(&d["Target"]["Id"]).to_string(),
                d["Target"]["Port"].as_u64().unwrap_or_default(),
                s(&d["TargetHealth"]["State"]).to_string(),
            )
        })
        .collect())
}

fn service(aws: &AwsCli) -> Result<Value> {
    let out = aws.run(&[
        "ecs",
        "describe-services",
        "--cluster",
        CLUSTER,
        "--services",
        "web",
    ])?;
    Ok(out["services"][0].clone())
}

fn events(svc: &Value) -> Vec<String> {
    svc["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| s(&e["message"]).to_string())
        .collect()
}

/// The tasks of the service, described.
fn tasks(aws: &AwsCli, desired: &str) -> Result<Vec<Value>> {
    described_tasks(aws, CLUSTER, Some("web"), desired)
}

fn host_port(task: &Value) -> u64 {
    task["containers"][0]["networkBindings"][0]["hostPort"]
        .as_u64()
        .unwrap_or_default()
}

/// A multi-thread runtime for the fake agents and backends.
fn runtime() -> Result<Arc<Runtime>> {
    Ok(Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
    ))
}

/// The load balancer side, as the classic walkthrough creates it: an application load balancer
/// and an HTTP target group checked on `/` every 5 s (healthy after 2, unhealthy after 2),
/// draining for `delay_secs`; and the `web` task definition (container port 8080, dynamic host
/// port). Returns the load balancer and the target group's ARN.
fn walkthrough(aws: &AwsCli, delay_secs: u64) -> Result<(Value, String)> {
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;
    let lb = aws.run(&[
        "elbv2",
        "create-load-balancer",
        "--name",
        "web-lb",
        "--subnets",
        "subnet-0123456789abcdef0",
        "subnet-0123456789abcdef1",
    ])?["LoadBalancers"][0]
        .clone();
    let tg = aws.run(&[
        "elbv2",
        "create-target-group",
        "--name",
        "web-tg",
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--vpc-id",
        "vpc-0123456789abcdef0",
        "--health-check-path",
        "/",
        "--health-check-interval-seconds",
        "5",
        "--health-check-timeout-seconds",
        "2",
        "--healthy-threshold-count",
        "2",
        "--unhealthy-threshold-count",
        "2",
    ])?["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .context("TargetGroupArn")?
        .to_string();
    aws.run(&[
        "elbv2",
        "modify-target-group-attributes",
        "--target-group-arn",
        &tg,
        "--attributes",
        &format!("Key=deregistration_delay.timeout_seconds,Value={delay_secs}"),
    ])?;
    let containers = json!([{"name": "web", "image": "127.0.0.1:5000/web:1", "memory": 64,
        "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])
    .to_string();
    aws.run(&[
        "ecs",
        "register-task-definition",
        "--family",
        "web",
        "--container-definitions",
        &containers,
    ])?;
    Ok((lb, tg))
}

/// An HTTP listener of `lb` on a free port forwarding to `tg`; the port.
fn listen(aws: &AwsCli, lb: &Value, tg: &str) -> Result<u16> {
    let port = free_port()?;
    aws.run(&[
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        s(&lb["LoadBalancerArn"]),
        "--protocol",
        "HTTP",
        "--port",
        &port.to_string(),
        "--default-actions",
        &format!("Type=forward,TargetGroupArn={tg}"),
    ])?;
    Ok(port)
}

/// `aws ecs create-service` of `web` (2 tasks) behind `tg`, with `extra` arguments.
fn create_service_args(tg: &str, container_port: u16, extra: &[&str]) -> Vec<String> {
    let lbs = format!("targetGroupArn={tg},containerName=web,containerPort={container_port}");
    let mut args: Vec<String> = [
        "ecs",
        "create-service",
        "--cluster",
        CLUSTER,
        "--service-name",
        "web",
        "--task-definition",
        "web",
        "--desired-count",
        "2",
        "--load-balancers",
    ]
    .iter()
    .map(|a| (*a).to_string())
    .collect();
    args.push(lbs);
    args.extend(extra.iter().map(|a| (*a).to_string()));
    args
}

#[test]
fn a_service_registers_its_tasks_host_ports_and_drains_a_task_before_stopping_it() -> Result<()> {
    let rt = runtime()?;
    let data = tempfile::tempdir()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let aws = cp.aws()?;
    let (lb, tg) = walkthrough(&aws, DELAY_SECS)?;

    // A target group with no load balancer yet: refused as ECS refuses it.
    let args = create_service_args(&tg, 8080, &[]);
    let message = cli_err(&aws, &refs(&args), "InvalidParameterException")?;
    assert_eq!(
        message,
        format!(
            "The target group with targetGroupArn {tg} does not have an associated load balancer."
        )
    );
    listen(&aws, &lb, &tg)?;
    // A port the container does not map, and a grace period without load balancers.
    let args = create_service_args(&tg, 80, &[]);
    assert_eq!(
        cli_err(&aws, &refs(&args), "InvalidParameterException")?,
        "The container web did not have a container port 80 defined."
    );
    assert_eq!(
        cli_err(
            &aws,
            &[
                "ecs",
                "create-service",
                "--cluster",
                CLUSTER,
                "--service-name",
                "plain",
                "--task-definition",
                "web",
                "--desired-count",
                "1",
                "--health-check-grace-period-seconds",
                "30",
            ],
            "InvalidParameterException"
        )?,
        "Health check grace period is only valid for services configured to use load balancers"
    );
    let listed = aws.run(&["ecs", "list-services", "--cluster", CLUSTER])?;
    assert_eq!(listed["serviceArns"], json!([]), "nothing half-created");

    // Two instances, each running its tasks as real HTTP servers.
    let mut pilots = Vec::new();
    for _ in 0..2 {
        let agent =
            Arc::new(rt.block_on(FakeAgent::register(&cp.endpoint(), CLUSTER, 1024, 512))?);
        pilots.push(autopilot(&rt, agent, Backends::default())?);
    }
    wait_agents_connected(&aws, CLUSTER, 2, TIMEOUT)?;

    let args = create_service_args(&tg, 8080, &["--health-check-grace-period-seconds", "60"]);
    let created = aws.run(&refs(&args))?["service"].clone();
    assert_eq!(created["loadBalancers"][0]["targetGroupArn"], tg.as_str());
    assert_eq!(created["loadBalancers"][0]["containerPort"], 8080);
    assert_eq!(created["healthCheckGracePeriodSeconds"], 60);

    // Each RUNNING task becomes a target: its instance and its own host port.
    let running = wait_until(TIMEOUT, "two tasks registered as targets", || {
        let running: Vec<Value> = tasks(&aws, "RUNNING")?
            .into_iter()
            .filter(|t| t["lastStatus"] == "RUNNING")
            .collect();
        if running.len() != 2 {
            return anyhow::Ok(None);
        }
        let want: BTreeSet<u64> = running.iter().map(host_port).collect();
        let have: BTreeSet<u64> = targets(&aws, &tg)?.iter().map(|t| t.1).collect();
        anyhow::Ok((want == have).then_some(running))
    })?;
    let ec2_ids: BTreeSet<String> = container_instances(&aws, CLUSTER)?
        .iter()
        .map(|i| s(&i["ec2InstanceId"]).to_string())
        .collect();
    for (id, _, _) in targets(&aws, &tg)? {
        assert!(ec2_ids.contains(&id), "target {id} is one of {ec2_ids:?}");
    }
    let registered = wait_until(TIMEOUT, "the registration event", || {
        let e = events(&service(&aws)?);
        anyhow::Ok(e.iter().find(|m| m.contains("registered")).cloned())
    })?;
    assert!(
        registered.starts_with("(service web) registered ")
            && registered.ends_with(&format!("targets in (target-group {tg})")),
        "{registered}"
    );

    // Scale in: the task leaves the target group first and is told to stop after the delay.
    aws.run(&[
        "ecs",
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        "web",
        "--desired-count",
        "1",
    ])?;
    let asked = Instant::now();
    let (gone, gone_port) = wait_until(TIMEOUT, "a target draining", || {
        let draining: Vec<(String, u64, String)> = targets(&aws, &tg)?
            .into_iter()
            .filter(|t| t.2 == "draining")
            .collect();
        let Some(d) = draining.first() else {
            return anyhow::Ok(None);
        };
        let task = running.iter().find(|t| host_port(t) == d.1).cloned();
        anyhow::Ok(task.map(|t| (s(&t["taskArn"]).to_string(), d.1)))
    })?;
    let svc = service(&aws)?;
    assert!(
        events(&svc)
            .iter()
            .any(|m| m == "(service web) has begun draining connections on 1 tasks."),
        "{:?}",
        events(&svc)
    );
    let stopped = wait_until(TIMEOUT, "the drained task stopped", || {
        let t = aws.run(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            CLUSTER,
            "--tasks",
            &gone,
        ])?["tasks"][0]
            .clone();
        anyhow::Ok((t["lastStatus"] == "STOPPED").then_some(t))
    })?;
    let drained_for = asked.elapsed();
    assert!(
        drained_for >= Duration::from_secs(DELAY_SECS),
        "stopped after {drained_for:?}, before the {DELAY_SECS} s delay"
    );
    assert_eq!(stopped["stopCode"], "ServiceSchedulerInitiated");
    wait_until(TIMEOUT, "the drained target gone", || {
        anyhow::Ok(targets(&aws, &tg)?.iter().all(|t| t.1 != gone_port))
    })?;
    assert_eq!(
        targets(&aws, &tg)?.len(),
        1,
        "the remaining task stays a target"
    );

    for p in pilots {
        p.abort();
    }
    drop(cp);
    Ok(())
}

/// `GET /` of the load balancer at `127.0.0.1:port` with `host` (its DNS name) as Host, as curl
/// sends it: the status (0 when no answer) and the body.
fn get(port: u16, host: &str) -> (u16, String) {
    get_path(port, host, "/")
}

/// `GET path` of the load balancer, as [`get`].
fn get_path(port: u16, host: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `curl http://DNSNAME:PORT/`: the body of a 200.
fn curl(url: &str) -> Result<String> {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", url])
        .output()
        .context("cannot run curl")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    ensure!(code == "200", "curl {url}: {code} {body}");
    Ok(body.to_string())
}

/// The task ids (`task <id>` bodies) answering `n` requests through the load balancer.
fn answering(port: u16, host: &str, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|_| get(port, host))
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect()
}

fn task_ids(tasks: &[Value]) -> BTreeSet<String> {
    tasks
        .iter()
        .map(|t| {
            format!(
                "task {}",
                s(&t["taskArn"]).rsplit('/').next().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn traffic_reaches_every_task_a_deployment_fails_no_request_and_a_failing_task_is_replaced()
-> Result<()> {
    let rt = runtime()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let cp = ControlPlane::start_on(&addr, None)?;
    let aws = cp.aws()?;
    let (lb, tg) = walkthrough(&aws, 2)?;
    let dns = s(&lb["DNSName"]).to_string();
    let port = listen(&aws, &lb, &tg)?;
    // One instance: both tasks on it, each on its own dynamic host port.
    let agent = Arc::new(rt.block_on(FakeAgent::register(&cp.endpoint(), CLUSTER, 4096, 4096))?);
    let backends = Backends::default();
    let pilot = autopilot(&rt, Arc::clone(&agent), Arc::clone(&backends))?;
    wait_agents_connected(&aws, CLUSTER, 1, TIMEOUT)?;
    aws.run(&refs(&create_service_args(&tg, 8080, &[])))?;

    // Steady only once both targets are healthy; then the load balancer reaches both tasks.
    let steady = |what: &str| {
        wait_until(Duration::from_secs(60), what, || {
            let svc = service(&aws)?;
            let steady = svc["runningCount"] == 2
                && svc["deployments"].as_array().map(Vec::len) == Some(1)
                && events(&svc).first().map(String::as_str)
                    == Some("(service web) has reached a steady state.");
            anyhow::Ok(steady.then_some(svc))
        })
    };
    steady("the service steady behind its load balancer")?;
    let health = targets(&aws, &tg)?;
    assert_eq!(health.len(), 2);
    assert!(health.iter().all(|t| t.2 == "healthy"), "{health:?}");
    let first = tasks(&aws, "RUNNING")?;
    let ports: BTreeSet<u64> = first.iter().map(host_port).collect();
    assert_eq!(ports.len(), 2, "two tasks, one instance, two host ports");
    assert_eq!(
        answering(port, &dns, 20),
        task_ids(&first),
        "round robin over both tasks"
    );
    let body = curl(&format!("http://{dns}:{port}/"))?;
    assert!(
        task_ids(&first).contains(&body),
        "curl via the DNS name: {body}"
    );

    // A rolling deployment under load: not one failed request.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<u16>::new()));
    let served = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let client = {
        let (stop, failures, served, dns) = (
            Arc::clone(&stop),
            Arc::clone(&failures),
            Arc::clone(&served),
            dns.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match get(port, &dns) {
                    (200, body) => {
                        served.lock().unwrap().insert(body);
                    }
                    (status, _) => failures.lock().unwrap().push(status),
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    aws.run(&[
        "ecs",
        "update-service",
        "--cluster",
        CLUSTER,
        "--service",
        "web",
        "--force-new-deployment",
    ])?;
    wait_until(
        Duration::from_secs(90),
        "the new deployment to replace both tasks",
        || {
            let svc = service(&aws)?;
            let running = tasks(&aws, "RUNNING")?;
            let done = svc["deployments"].as_array().map(Vec::len) == Some(1)
                && running.len() == 2
                && task_ids(&running).is_disjoint(&task_ids(&first))
                && events(&svc).first().map(String::as_str)
                    == Some("(service web) has reached a steady state.");
            anyhow::Ok(done)
        },
    )?;
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let failed = failures.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "requests failed during the deployment: {failed:?}"
    );
    let second = tasks(&aws, "RUNNING")?;
    let served = served.lock().unwrap().clone();
    assert!(
        served.is_superset(&task_ids(&second)),
        "the new tasks served: {served:?}"
    );
    for t in tasks(&aws, "STOPPED")? {
        assert_eq!(t["stopCode"], "ServiceSchedulerInitiated", "{t}");
    }

    // The application of one task stops answering: ELB marks it unhealthy and the service
    // replaces it (no grace period).
    let victim = s(&second[0]["taskArn"]).to_string();
    backends
        .lock()
        .unwrap()
        .remove(&victim)
        .context("victim's backend")?
        .abort();
    let stopped = wait_until(Duration::from_secs(60), "the failing task replaced", || {
        let t = aws.run(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            CLUSTER,
            "--tasks",
            &victim,
        ])?["tasks"][0]
            .clone();
        anyhow::Ok((t["lastStatus"] == "STOPPED").then_some(t))
    })?;
    assert_eq!(
        stopped["stoppedReason"],
        format!("Task failed ELB health checks in (target-group {tg})")
    );
    let victim_id = victim.rsplit('/').next().unwrap_or_default();
    let svc = service(&aws)?;
    assert!(
        events(&svc).iter().any(|m| *m
            == format!(
                "(service web) (task {victim_id}) failed ELB health checks in (target-group {tg})"
            )),
        "{:?}",
        events(&svc)
    );
    steady("a replacement healthy")?;

    pilot.abort();
    drop(cp);
    Ok(())
}

#[test]
fn three_services_behind_one_load_balancer_each_answer_only_their_own_path() -> Result<()> {
    let rt = runtime()?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let cp = ControlPlane::start_on(&addr, None)?;
    let aws = cp.aws()?;
    let (lb, users) = walkthrough(&aws, 1)?;
    let dns = s(&lb["DNSName"]).to_string();
    let port = free_port()?;
    let listener = aws.run(&[
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        s(&lb["LoadBalancerArn"]),
        "--protocol",
        "HTTP",
        "--port",
        &port.to_string(),
        "--default-actions",
        "Type=fixed-response,FixedResponseConfig={StatusCode=404,ContentType=text/plain,MessageBody=none}",
    ])?["Listeners"][0]["ListenerArn"]
        .as_str()
        .context("ListenerArn")?
        .to_string();
    let mut groups = vec![("users", users)];
    for name in ["topics", "messages"] {
        let tg = aws.run(&[
            "elbv2",
            "create-target-group",
            "--name",
            name,
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--vpc-id",
            "vpc-0123456789abcdef0",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ])?["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .context("TargetGroupArn")?
            .to_string();
        groups.push((name, tg));
    }
    for (priority, (name, tg)) in groups.iter().enumerate() {
        aws.run(&[
            "elbv2",
            "create-rule",
            "--listener-arn",
            &listener,
            "--priority",
            &(priority + 1).to_string(),
            "--conditions",
            &format!("Field=path-pattern,Values=/api/{name}*"),
            "--actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ])?;
    }
    let agent = Arc::new(rt.block_on(FakeAgent::register(&cp.endpoint(), CLUSTER, 4096, 4096))?);
    let pilot = autopilot(&rt, Arc::clone(&agent), Backends::default())?;
    wait_agents_connected(&aws, CLUSTER, 1, TIMEOUT)?;
    for (name, tg) in &groups {
        aws.run(&[
            "ecs",
            "create-service",
            "--cluster",
            CLUSTER,
            "--service-name",
            name,
            "--task-definition",
            "web",
            "--desired-count",
            "1",
            "--load-balancers",
            &format!("targetGroupArn={tg},containerName=web,containerPort=8080"),
        ])?;
    }
    // Each service's one task, once steady (its target healthy).
    let mut owners: BTreeMap<&str, String> = BTreeMap::new();
    for (name, _) in &groups {
        let task = wait_until(Duration::from_secs(60), &format!("{name} steady"), || {
            let svc = aws.run(&[
                "ecs",
                "describe-services",
                "--cluster",
                CLUSTER,
                "--services",
                name,
            ])?["services"][0]
                .clone();
            let steady = svc["runningCount"] == 1
                && events(&svc).first().map(String::as_str)
                    == Some(format!("(service {name}) has reached a steady state.").as_str());
            if !steady {
                return anyhow::Ok(None);
            }
            let arns = aws.run(&[
                "ecs",
                "list-tasks",
                "--cluster",
                CLUSTER,
                "--service-name",
                name,
            ])?["taskArns"]
                .clone();
            anyhow::Ok(arns[0].as_str().map(String::from))
        })?;
        owners.insert(
            name,
            format!("task {}", task.rsplit('/').next().unwrap_or_default()),
        );
    }
    for (name, _) in &groups {
        for path in [format!("/api/{name}"), format!("/api/{name}/42?x=1")] {
            let (status, body) = get_path(port, &dns, &path);
            assert_eq!(status, 200, "{path}: {body}");
            assert_eq!(body, owners[name], "{path} answered by {name}'s task only");
        }
    }
    assert_eq!(get_path(port, &dns, "/"), (404, "none".to_string()));
    assert_eq!(get_path(port, &dns, "/api/other").0, 404);

    pilot.abort();
    drop(cp);
    Ok(())
}
