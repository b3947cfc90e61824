#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of the agent: the real `ecs-agent` binary on real Docker, registered with the
//! emulated control plane, driven with the real AWS CLI, pulling from a real registry.

use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::{
    Agent, AwsCli, ClusterCleanup, ClusterSetup, ControlPlane, Registry, describe_task, docker,
    http_get, register_task_definition, run_when_placed, wait_status, wait_until,
};
use serde_json::{Value, json};

fn run_task(aws: &AwsCli, cluster: &str, def: &str) -> Result<String> {
    let out = aws.run(&[
        "ecs",
        "run-task",
        "--cluster",
        cluster,
        "--task-definition",
        def,
    ])?;
    assert_eq!(out["failures"], json!([]), "{out}");
    Ok(out["tasks"][0]["taskArn"].as_str().unwrap().to_string())
}

fn web_and_sidecar(image: &str) -> Value {
    json!([
        {"name": "web", "image": image, "memory": 64, "cpu": 128, "essential": true,
         "portMappings": [{"containerPort": 8080, "hostPort": 0}],
         "environment": [{"name": "HTTPD_MESSAGE", "value": "hello from the agent"}]},
        {"name": "sidecar", "image": image, "memory": 32, "essential": false,
         "entryPoint": ["sh", "-c"],
         "command": ["trap 'exit 0' TERM; while true; do sleep 1; done"]}
    ])
}

/// The task's `web` container, as ECS describes it.
fn web_container(task: &Value) -> &Value {
    task["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "web")
        .unwrap()
}

fn host_port(task: &Value) -> u16 {
    let web = web_container(task);
    u16::try_from(web["networkBindings"][0]["hostPort"].as_u64().unwrap()).unwrap()
}

#[test]
fn agent_registers_runs_two_tasks_on_dynamic_ports_and_stops_them() -> Result<()> {
    let cluster = "agent-e2e";
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &ClusterSetup::start(cluster, None)?;
    let agent = Agent::start(cp, cluster, data.path(), &[])?;
    let arn = agent.wait_registered(Duration::from_secs(5))?;

    let ci = wait_until(Duration::from_secs(20), "agentConnected", || {
        let v = aws.run(&[
            "ecs",
            "describe-container-instances",
            "--cluster",
            cluster,
            "--container-instances",
            &arn,
        ])?;
        let ci = v["containerInstances"][0].clone();
        anyhow::Ok((ci["agentConnected"] == true).then_some(ci))
    })?;
    let res = ci["registeredResources"].as_array().unwrap();
    let cpus = std::thread::available_parallelism()?.get() as u64;
    assert!(
        res.iter()
            .any(|r| r["name"] == "CPU" && r["integerValue"] == cpus * 1024),
        "{ci}"
    );
    let mem = res.iter().find(|r| r["name"] == "MEMORY").unwrap();
    assert!(mem["integerValue"].as_u64().unwrap() > 256, "{ci}");
    let ports = res.iter().find(|r| r["name"] == "PORTS").unwrap();
    for p in ["22", "2375", "2376", "51678", "51679"] {
        assert!(
            ports["stringSetValue"]
                .as_array()
                .unwrap()
                .contains(&json!(p)),
            "{ci}"
        );
    }

    let def = register_task_definition(aws, "webapp", &web_and_sidecar(image))?;
    let first = run_task(aws, cluster, &def)?;
    let second = run_task(aws, cluster, &def)?;
    let t1 = wait_status(aws, cluster, &first, "RUNNING", Duration::from_secs(60))?;
    let t2 = wait_status(aws, cluster, &second, "RUNNING", Duration::from_secs(60))?;
    let (p1, p2) = (host_port(&t1), host_port(&t2));
    assert_ne!(p1, p2, "two copies got the same host port");
    for p in [p1, p2] {
        let body = wait_until(
            Duration::from_secs(10),
            "the web container to answer",
            || http_get(&format!("http://127.0.0.1:{p}/")).map(|r| Some(r.text())),
        )?;
        assert_eq!(body.trim(), "hello from the agent");
    }

    // Names and labels as the reference agent sets them.
    let ids = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={first}"),
    ])?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "two containers for the task");
    for id in ids {
        let inspect: Value = serde_json::from_str(&docker(&["inspect", id])?)?;
        let labels = &inspect[0]["Config"]["Labels"];
        let name = inspect[0]["Name"].as_str().unwrap();
        let cname = labels["com.amazonaws.ecs.container-name"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("/ecs-webapp-1-{cname}-")),
            "{name}"
        );
        assert_eq!(labels["com.amazonaws.ecs.task-definition-family"], "webapp");
        assert_eq!(labels["com.amazonaws.ecs.task-definition-version"], "1");
        assert_eq!(labels["com.amazonaws.ecs.cluster"], cluster);
    }
    let tasks = agent.tasks()?;
    assert_eq!(tasks["Tasks"].as_array().unwrap().len(), 2, "{tasks}");

    aws.run(&["ecs", "stop-task", "--cluster", cluster, "--task", &first])?;
    let stopped = wait_status(aws, cluster, &first, "STOPPED", Duration::from_secs(40))?;
    for c in stopped["containers"].as_array().unwrap() {
        assert_eq!(c["lastStatus"], "STOPPED", "{stopped}");
        assert_eq!(c["exitCode"], 0, "{stopped}");
    }
    assert_eq!(stopped["stopCode"], "UserInitiated");
    // The other task carries on.
    assert_eq!(
        describe_task(aws, cluster, &second)?["lastStatus"],
        "RUNNING"
    );

    // `ecs-agent health` (the reference's -healthcheck) says healthy.
    let health = std::process::Command::new(ecs_e2e_tests::workspace_bin("ecs-agent"))
        .args(["health", "--introspection", &agent.introspection])
        .output()?;
    assert!(health.status.success(), "{health:?}");

    // SIGTERM: the agent exits 0 and leaves task containers running, as the reference does.
    let mut agent = agent;
    agent.process.signal("TERM")?;
    let status = agent.process.wait_exit(Duration::from_secs(30))?;
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        agent.process.tail()
    );
    let running = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={second}"),
    ])?;
    assert_eq!(
        running.split_whitespace().count(),
        2,
        "task containers keep running"
    );
    let health = std::process::Command::new(ecs_e2e_tests::workspace_bin("ecs-agent"))
        .args(["health", "--introspection", &agent.introspection])
        .output()?;
    assert_eq!(health.status.code(), Some(1), "{health:?}");
    Ok(())
}

#[test]
fn essential_exit_oom_and_unpullable_images_stop_their_task_alone() -> Result<()> {
    let cluster = "agent-failures";
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        registry,
        ..
    } = &ClusterSetup::start(cluster, None)?;
    let _agent = Agent::start(
        cp,
        cluster,
        data.path(),
        &[("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s")],
    )?;

    let exits = register_task_definition(
        aws,
        "exits",
        &json!([{"name": "main", "image": image, "memory": 32, "entryPoint": ["sh", "-c"], "command": ["exit 3"]}]),
    )?;
    let oom = register_task_definition(
        aws,
        "oom",
        &json!([{"name": "hog", "image": image, "memory": 8, "entryPoint": ["sh", "-c"],
                 "command": ["x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"]}]),
    )?;
    let missing = register_task_definition(
        aws,
        "missing",
        &json!([{"name": "ghost", "image": format!("{}/nope/never:1", registry.host()), "memory": 32}]),
    )?;
    let healthy = register_task_definition(aws, "healthy", &web_and_sidecar(image))?;

    let a = run_when_placed(aws, cluster, &exits)?;
    let b = run_task(aws, cluster, &oom)?;
    let c = run_task(aws, cluster, &missing)?;
    let d = run_task(aws, cluster, &healthy)?;

    let ta = wait_status(aws, cluster, &a, "STOPPED", Duration::from_secs(60))?;
    assert_eq!(
        ta["stoppedReason"], "Essential container in task exited",
        "{ta}"
    );
    assert_eq!(ta["stopCode"], "EssentialContainerExited");
    assert_eq!(ta["containers"][0]["exitCode"], 3, "{ta}");
    // ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION after STOPPED, its containers are removed.
    wait_until(
        Duration::from_secs(30),
        "the stopped task's containers to be removed",
        || {
            let ids = docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.amazonaws.ecs.task-arn={a}"),
            ])?;
            anyhow::Ok(ids.trim().is_empty())
        },
    )?;

    // The OOM reason may follow the STOPPED report (Docker flags OOM kills asynchronously).
    let tb = wait_until(
        Duration::from_secs(60),
        "the OOM task to stop with a reason",
        || {
            let t = describe_task(aws, cluster, &b)?;
            anyhow::Ok(
                (t["lastStatus"] == "STOPPED" && t["containers"][0]["reason"].is_string())
                    .then_some(t),
            )
        },
    )?;
    assert!(
        tb["containers"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("OutOfMemoryError: Container killed due to memory usage"),
        "{tb}"
    );
    assert_eq!(tb["containers"][0]["exitCode"], 137, "{tb}");

    // The manifest fetch before the pull fails first; under the default pull behaviour the pull
    // is still tried, and the first error is the one reported, as the reference's.
    let tc = wait_status(aws, cluster, &c, "STOPPED", Duration::from_secs(60))?;
    assert!(
        tc["containers"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("CannotPullImageManifestError: ")
            && tc["containers"][0]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("manifest unknown"),
        "{tc}"
    );
    wait_status(aws, cluster, &d, "RUNNING", Duration::from_secs(60))?;
    Ok(())
}

#[test]
fn kill_9_of_the_agent_while_a_task_starts_ends_with_one_running_copy() -> Result<()> {
    let cluster = "agent-restart";
    let ClusterSetup {
        cp,
        aws,
        data,
        image,
        ..
    } = &ClusterSetup::start(cluster, None)?;
    let mut agent = Agent::start(cp, cluster, data.path(), &[])?;
    let arn = agent.wait_registered(Duration::from_secs(5))?;
    let def = register_task_definition(aws, "restart", &web_and_sidecar(image))?;
    let task = run_when_placed(aws, cluster, &def)?;
    // Kill it as soon as the first container exists (the task is mid-start).
    wait_until(
        Duration::from_secs(60),
        "a task container to be created",
        || {
            let ids = docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.amazonaws.ecs.task-arn={task}"),
            ])?;
            anyhow::Ok(!ids.trim().is_empty())
        },
    )?;
    agent.process.kill()?;
    let introspection = agent.introspection.clone();
    drop(agent);

    let agent = Agent::start_with(cp, cluster, data.path(), &introspection, &[])?;
    assert_eq!(
        agent.wait_registered(Duration::from_secs(5))?,
        arn,
        "re-registered with the saved ARN"
    );
    let t = wait_status(aws, cluster, &task, "RUNNING", Duration::from_secs(60))?;
    let ids = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task}"),
    ])?;
    assert_eq!(
        ids.split_whitespace().count(),
        2,
        "exactly one container per definition: {ids}"
    );
    let p = host_port(&t);
    wait_until(
        Duration::from_secs(10),
        "the web container to answer",
        || http_get(&format!("http://127.0.0.1:{p}/")).map(|r| Some(r.text())),
    )?;
    let tasks = agent.tasks()?;
    assert_eq!(tasks["Tasks"][0]["Arn"], task.as_str(), "{tasks}");
    assert_eq!(tasks["Tasks"][0]["KnownStatus"], "RUNNING", "{tasks}");
    Ok(())
}

#[test]
fn the_agent_reconnects_after_a_control_plane_restart_and_loses_no_state_change() -> Result<()> {
    let cluster = "agent-cp-restart";
    let _cleanup = ClusterCleanup(cluster.into());
    let registry = Registry::start()?;
    let image = registry.push_test_image()?;
    let cp_data = tempfile::tempdir()?;
    let cp = ControlPlane::start(Some(cp_data.path()))?;
    let addr = cp.addr.clone();
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", cluster])?;
    let data = tempfile::tempdir()?;
    let _agent = Agent::start(&cp, cluster, data.path(), &[])?;
    let def = register_task_definition(
        &aws,
        "short",
        &json!([{"name": "main", "image": image, "memory": 32, "entryPoint": ["sh", "-c"],
                 "command": ["trap 'exit 0' TERM; sleep 4; exit 7"]}]),
    )?;
    let task = run_when_placed(&aws, cluster, &def)?;
    wait_status(&aws, cluster, &task, "RUNNING", Duration::from_secs(60))?;

    // The control plane goes away while the container exits; the report must arrive later.
    let mut cp = cp;
    cp.process.kill()?;
    drop(cp);
    wait_until(Duration::from_secs(30), "the container to exit", || {
        let ids = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.amazonaws.ecs.task-arn={task}"),
        ])?;
        anyhow::Ok(ids.trim().is_empty())
    })?;
    let cp = ControlPlane::start_on(&addr, Some(cp_data.path()))?;
    let t = wait_status(&aws, cluster, &task, "STOPPED", Duration::from_secs(90))?;
    assert_eq!(t["containers"][0]["exitCode"], 7, "{t}");
    assert_eq!(
        t["stoppedReason"], "Essential container in task exited",
        "{t}"
    );

    // And the ACS session is back: a new task runs.
    let again = wait_until(
        Duration::from_secs(120),
        "the agent to reconnect and take a task",
        || {
            let out = aws.run(&[
                "ecs",
                "run-task",
                "--cluster",
                cluster,
                "--task-definition",
                &def,
            ])?;
            anyhow::Ok(out["tasks"][0]["taskArn"].as_str().map(String::from))
        },
    )?;
    wait_status(&aws, cluster, &again, "RUNNING", Duration::from_secs(60))?;
    drop(cp);
    Ok(())
}

/// The host addresses Docker bound for `container`'s published port 8080/tcp.
fn docker_host_ips(task_arn: &str, container: &str) -> Result<Vec<String>> {
    let id = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task_arn}"),
        "--filter",
        &format!("label=com.amazonaws.ecs.container-name={container}"),
    ])?;
    let inspect: Value = serde_json::from_str(&docker(&["inspect", id.trim()])?)?;
    // Published as the reference publishes: no host address, so Docker picks every family.
    assert_eq!(
        inspect[0]["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"], "",
        "{inspect}"
    );
    Ok(inspect[0]["NetworkSettings"]["Ports"]["8080/tcp"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["HostIp"].as_str().map(str::to_owned))
        .collect())
}

/// The `bindIP`s ECS shows for the task's `web` container.
fn reported_bind_ips(task: &Value) -> Vec<String> {
    web_container(task)["networkBindings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["bindIP"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn ipv6_port_bindings_are_reported_only_with_exclude_ipv6_portbinding_false() -> Result<()> {
    let kept = ecs_e2e_tests::unique("ipv6-kept");
    let left_out = ecs_e2e_tests::unique("ipv6-left-out");
    let ClusterSetup { cp, aws, image, .. } = &ClusterSetup::start(&kept, None)?;
    let _cleanup = ClusterCleanup(left_out.clone());
    aws.run(&["ecs", "create-cluster", "--cluster-name", &left_out])?;
    let (kept_data, left_out_data) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let _kept_agent = Agent::start(
        cp,
        &kept,
        kept_data.path(),
        &[("ECS_EXCLUDE_IPV6_PORTBINDING", "false")],
    )?;
    let _default_agent = Agent::start(cp, &left_out, left_out_data.path(), &[])?;
    let def = register_task_definition(aws, "ipv6web", &web_and_sidecar(image))?;

    for (cluster, exclude_ipv6) in [(&kept, false), (&left_out, true)] {
        let arn = run_when_placed(aws, cluster, &def)?;
        let task = wait_status(aws, cluster, &arn, "RUNNING", Duration::from_secs(60))?;
        let docker_ips = docker_host_ips(&arn, "web")?;
        assert!(
            docker_ips.contains(&"0.0.0.0".to_string()),
            "{docker_ips:?}"
        );
        let docker_has_ipv6 = docker_ips.contains(&"::".to_string());
        if !docker_has_ipv6 {
            eprintln!("Docker bound no `::` address here (no IPv6): only 0.0.0.0 to report");
        }
        let mut want = vec!["0.0.0.0".to_string()];
        if docker_has_ipv6 && !exclude_ipv6 {
            want.push("::".to_string());
        }
        let mut got = reported_bind_ips(&task);
        got.sort();
        assert_eq!(got, want, "{cluster}: {task}");
        // Both addresses are the one allocated port, and it answers.
        let port = host_port(&task);
        let body = wait_until(
            Duration::from_secs(10),
            "the web container to answer",
            || http_get(&format!("http://127.0.0.1:{port}/")).map(|r| Some(r.text())),
        )?;
        assert_eq!(body.trim(), "hello from the agent");
        aws.run(&["ecs", "stop-task", "--cluster", cluster, "--task", &arn])?;
        wait_status(aws, cluster, &arn, "STOPPED", Duration::from_secs(40))?;
    }
    Ok(())
}

#[test]
fn runtime_stats_serve_a_cpu_profile_and_write_the_stats_log_only_when_enabled() -> Result<()> {
    let id = ecs_e2e_tests::random_id();
    let (on_cluster, off_cluster) = (format!("stats-on-{id}"), format!("stats-off-{id}"));
    let _cleanup = (
        ClusterCleanup(on_cluster.clone()),
        ClusterCleanup(off_cluster.clone()),
    );
    let cp = ControlPlane::start(None)?;
    let aws = cp.aws()?;
    for cluster in [&on_cluster, &off_cluster] {
        aws.run(&["ecs", "create-cluster", "--cluster-name", cluster])?;
    }
    let on_dir = tempfile::tempdir()?;
    let off_dir = tempfile::tempdir()?;
    let on = Agent::start(
        &cp,
        &on_cluster,
        on_dir.path(),
        &[("ECS_ENABLE_RUNTIME_STATS", "true")],
    )?;
    let off = Agent::start(&cp, &off_cluster, off_dir.path(), &[])?;

    // Beside ECS_LOGFILE (the harness puts it in the data directory), a line at start.
    let stats = on_dir.path().join("agent-runtime-stats.log");
    let line = wait_until(Duration::from_secs(30), "the runtime stats line", || {
        std::fs::read_to_string(&stats)
            .ok()
            .and_then(|t| t.lines().next().map(String::from))
    })?;
    for key in [
        "ResidentMemoryBytes=",
        "OpenFileDescriptors=",
        "ThreadCount=",
        "TokioWorkers=",
        "TokioAliveTasks=",
        "TokioGlobalQueueDepth=",
    ] {
        assert!(line.contains(key), "{key} missing: {line}");
    }
    let index = wait_until(Duration::from_secs(30), "the pprof index", || {
        http_get(&format!("http://{}/debug/pprof/", on.introspection)).map(Some)
    })?;
    assert_eq!(index.status, 200, "{}", index.text());
    let profile = http_get(&format!(
        "http://{}/debug/pprof/profile?seconds=1",
        on.introspection
    ))?;
    assert_eq!(profile.status, 200, "{}", profile.text());
    // A pprof Profile message: field 1 (sample_type), length-delimited, comes first.
    assert_eq!(profile.body.first(), Some(&0x0a), "{:?}", profile.body);

    // Off: the introspection API answers, the profiling routes do not exist, no stats file.
    wait_until(Duration::from_secs(30), "the introspection API", || {
        http_get(&format!("http://{}/v1/metadata", off.introspection)).map(|r| r.status == 200)
    })?;
    for path in ["/debug/pprof/", "/debug/pprof/profile?seconds=1"] {
        let r = http_get(&format!("http://{}{path}", off.introspection))?;
        assert_eq!(r.status, 404, "{path}");
    }
    assert!(!off_dir.path().join("agent-runtime-stats.log").exists());
    Ok(())
}
