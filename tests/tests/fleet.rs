//! Emulated EC2 instances (issue 16), end to end on the real Docker Engine, through
//! `DockerHost` directly (the EC2 API drives the same calls): two instances from the instance
//! image on a VPC network of their own boot systemd, run their user data once (also across a
//! stop and start, which keeps the IP), run their own dockerd, start the agent from its .deb,
//! which registers with a control plane on the VPC gateway, reach each other, reach the metadata
//! service through the 169.254.169.254 DNAT, and leave nothing behind when terminated. And the
//! machine-wide cgroup danger: no new cgroup hierarchy, `docker stats` still works for others.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ecs_control_plane::ec2::docker_host::{DockerHost, cgroup_hierarchies};
use ecs_control_plane::ec2::host::{
    HostError, HostState, InstanceFile, InstanceHost, LaunchSpec, VpcNetwork,
};
use ecs_e2e_tests::fleet::{self, Fleet};
use ecs_e2e_tests::{ControlPlane, docker, free_port, wait_until};

const CLUSTER: &str = "fleet-test";
const USER_DATA: &str = "#!/bin/bash\necho ECS_CLUSTER=fleet-test >> /etc/ecs/ecs.config\n";
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The host's cgroup hierarchies and cgroup mounts: must be the same after instances boot.
fn cgroup_snapshot() -> Result<(Vec<(String, u32)>, usize)> {
    let hierarchies = cgroup_hierarchies(&std::fs::read_to_string("/proc/cgroups")?);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .filter(|l| l.contains(" - cgroup "))
        .count();
    Ok((hierarchies, mounts))
}

/// A VPC network on a random 10.x.y.0/24 (another one if Docker says it overlaps).
fn create_vpc(
    rt: &tokio::runtime::Runtime,
    host: &DockerHost,
    fleet: &Fleet,
) -> Result<VpcNetwork> {
    let mut last = None;
    for _ in 0..8 {
        let r = uuid::Uuid::new_v4().as_bytes()[..2].to_vec();
        let (x, y) = (128 + r[0] % 120, r[1]);
        let vpc = VpcNetwork {
            name: format!("{}vpc", fleet.name_prefix()),
            cidr: format!("10.{x}.{y}.0/24"),
            gateway: Ipv4Addr::new(10, x, y, 1),
            labels: fleet.labels(),
        };
        match rt.block_on(host.ensure_network(&vpc)) {
            Ok(()) => return Ok(vpc),
            Err(HostError::Docker { message, .. }) if message.contains("overlap") => {
                last = Some(message)
            }
            Err(e) => return Err(e.into()),
        }
    }
    bail!("no free 10.x.y.0/24 for the VPC network: {last:?}")
}

/// A tiny HTTP server on `ip` standing in for the instance metadata service: answers every
/// request with `fleet-imds <request line>`. Runs until the test process ends.
fn fake_imds(ip: Ipv4Addr) -> Result<SocketAddr> {
    let listener = TcpListener::bind((ip, 0)).with_context(|| format!("binding {ip}:0"))?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let body = format!("fleet-imds {}", line.trim());
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(addr)
}

fn instance_id() -> String {
    let r = uuid::Uuid::new_v4().simple().to_string();
    format!("i-0{}", &r[..16])
}

/// The agent's settings for this test, as a systemd drop-in: the control plane on the gateway
/// and the test account's keys (ECS Anywhere mode: the metadata service here is a stand-in).
fn agent_drop_in(backend: &str) -> InstanceFile {
    let contents = format!(
        "[Service]\n\
         Environment=ECS_BACKEND_HOST={backend}\n\
         Environment=ECS_EXTERNAL=true\n\
         Environment=AWS_DEFAULT_REGION=us-east-1\n\
         Environment=AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n\
         Environment=AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
         Environment=AWS_EC2_METADATA_DISABLED=true\n\
         Environment=RUST_LOG=info,ecs_agent=debug\n"
    );
    InstanceFile {
        path: "/etc/systemd/system/ecs.service.d/50-fleet-test.conf".into(),
        contents: contents.into_bytes(),
        mode: 0o600,
    }
}

/// `docker stats --no-stream` memory of a container, e.g. `1.2MiB`.
fn stats_memory(container: &str) -> Result<String> {
    let usage = docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}",
        container,
    ])?;
    Ok(usage
        .split('/')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

fn ip_of(container: &str) -> Result<String> {
    fleet::exec(
        container,
        "ip -4 -o addr show eth0 | awk '{ print $4 }' | cut -d/ -f1",
    )
}

#[test]
fn instances_boot_run_user_data_register_and_leave_nothing_behind() -> Result<()> {
    let image = fleet::precheck()?;
    let fleet = Fleet::new();
    let rt = tokio::runtime::Runtime::new()?;
    let host = rt
        .block_on(DockerHost::connect())?
        .with_name_prefix(fleet.name_prefix())
        .with_stop_timeout(Duration::from_secs(20));
    let cgroups_before = cgroup_snapshot()?;

    rt.block_on(host.preflight(&image))?;
    let amis = rt.block_on(host.images())?;
    ensure!(
        amis.iter().any(|a| a.reference == image
            && a.image_id.starts_with("ami-")
            && a.image_id.len() == 21
            && a.name.starts_with("ecs-agent-rs-optimized-")
            && !a.created.is_empty()),
        "{image} is not among the AMIs: {amis:?}"
    );

    let vpc = create_vpc(&rt, &host, &fleet)?;
    rt.block_on(host.ensure_network(&vpc))?; // exists with that subnet: fine
    let other = VpcNetwork {
        cidr: "10.1.2.0/24".into(),
        ..vpc.clone()
    };
    match rt.block_on(host.ensure_network(&other)) {
        Err(HostError::NetworkMismatch { .. }) => {}
        other => bail!("ensure_network with another subnet: {other:?}"),
    }
    let gateway = vpc.gateway;
    let imds = fake_imds(gateway)?;
    // Plain HTTP beyond loopback must be asked for (this test checks the host, not TLS).
    let cp = ControlPlane::start_with_args(
        &format!("{gateway}:{}", free_port()?),
        None,
        &["--insecure-listen"],
    )?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;

    let mut instances = Vec::new();
    for n in 0..2u8 {
        let octets = gateway.octets();
        let ip = Ipv4Addr::new(octets[0], octets[1], octets[2], 10 + n);
        let spec = LaunchSpec {
            instance_id: instance_id(),
            image: image.clone(),
            network: vpc.name.clone(),
            private_ip: ip,
            hostname: format!("ip-{}.ec2.internal", ip.to_string().replace('.', "-")),
            nano_cpus: 1_000_000_000,
            memory_bytes: 1 << 30,
            user_data: Some(USER_DATA.as_bytes().to_vec()),
            files: vec![agent_drop_in(&cp.endpoint())],
            imds,
            extra_hosts: vec![],
            labels: fleet.labels(),
        };
        let started = Instant::now();
        rt.block_on(host.launch(&spec))?;
        instances.push((spec, started));
    }
    let names: Vec<String> = instances
        .iter()
        .map(|(s, _)| host.container_name(&s.instance_id))
        .collect();
    for ((spec, started), name) in instances.iter().zip(&names) {
        let state = fleet::wait_system_running(name, BOOT_TIMEOUT)?;
        eprintln!(
            "{} ({}): systemd {state} {:.1} s after launch",
            spec.instance_id,
            spec.private_ip,
            started.elapsed().as_secs_f64()
        );
        ensure!(state == "running", "{name}: {state}");
        assert_eq!(
            rt.block_on(host.state(&spec.instance_id))?,
            HostState::Running
        );
    }

    for ((spec, _), name) in instances.iter().zip(&names) {
        // The user data ran once, before the agent.
        let count = fleet::exec(
            name,
            "grep -c '^ECS_CLUSTER=fleet-test$' /etc/ecs/ecs.config",
        )?;
        ensure!(count == "1", "{name}: ECS_CLUSTER line {count} times");
        // Its own Docker Engine answers, and the agent's unit is enabled and comes up.
        fleet::wait_unit_active(name, "docker.service", Duration::from_secs(60))?;
        let version = fleet::exec(name, "docker version --format '{{.Server.Version}}'")?;
        ensure!(!version.is_empty(), "{name}: no inner Docker version");
        ensure!(fleet::exec(name, "systemctl is-enabled ecs.service")? == "enabled");
        fleet::wait_unit_active(name, "ecs.service", Duration::from_secs(90))?;
        // The metadata address reaches the stand-in on the gateway.
        let answer = fleet::exec(
            name,
            "curl -sS -m 5 http://169.254.169.254/latest/meta-data/instance-id",
        )?;
        ensure!(
            answer == "fleet-imds GET /latest/meta-data/instance-id HTTP/1.1",
            "{name}: 169.254.169.254 answered {answer:?}"
        );
        ensure!(ip_of(name)? == spec.private_ip.to_string());
    }
    // A second launch of a running instance is refused and leaves it alone; a launch that
    // fails half-way (Docker creates the container, then cannot start it on a missing network)
    // leaves no container and no volume.
    match rt.block_on(host.launch(&instances[0].0)) {
        Err(HostError::Invalid { .. }) => {}
        other => bail!("launching a running instance again: {other:?}"),
    }
    assert_eq!(
        rt.block_on(host.state(&instances[0].0.instance_id))?,
        HostState::Running
    );
    let broken = LaunchSpec {
        instance_id: instance_id(),
        network: format!("{}no-such-network", fleet.name_prefix()),
        ..instances[0].0.clone()
    };
    let error = rt.block_on(host.launch(&broken)).err();
    ensure!(
        matches!(&error, Some(HostError::Docker { message, .. }) if message.contains("not found")),
        "a launch on a missing network: {error:?}"
    );
    assert_eq!(
        rt.block_on(host.state(&broken.instance_id))?,
        HostState::Gone
    );
    let volume = host.volume_name(&broken.instance_id);
    ensure!(
        docker(&["volume", "inspect", &volume]).is_err(),
        "the failed launch left volume {volume}"
    );

    // The two instances reach each other by IP.
    fleet::exec(
        &names[0],
        &format!("ping -c 1 -W 3 {}", instances[1].0.private_ip),
    )?;
    fleet::exec(
        &names[1],
        &format!("ping -c 1 -W 3 {}", instances[0].0.private_ip),
    )?;

    // The inner Docker's containers reach the metadata address too (the PREROUTING DNAT).
    let busybox = fleet::inner_busybox_image(&names[1])?;
    let answer = fleet::exec(
        &names[1],
        &format!("docker run --rm {busybox} /busybox wget -q -O - http://169.254.169.254/inner"),
    )?;
    ensure!(
        answer == "fleet-imds GET /inner HTTP/1.1",
        "an inner container got {answer:?} from 169.254.169.254"
    );

    // Both agents registered over the VPC network.
    let arns = wait_until(
        Duration::from_secs(90),
        "both instances to register",
        || {
            let listed = aws.run(&["ecs", "list-container-instances", "--cluster", CLUSTER])?;
            let arns = listed["containerInstanceArns"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            anyhow::Ok((arns.len() == 2).then_some(arns))
        },
    )?;
    eprintln!("registered: {arns:?}");

    // The machine-wide cgroup danger: no new hierarchy; stats of a container started now work.
    ensure!(
        cgroup_snapshot()? == cgroups_before,
        "the instances changed the host's cgroup hierarchies: before {cgroups_before:?}, after {:?}",
        cgroup_snapshot()?
    );
    let witness = format!("{}witness", fleet.name_prefix());
    let run_label = format!("{}={}", fleet::FLEET_RUN_LABEL, fleet.run());
    docker(&[
        "run",
        "-d",
        "--name",
        &witness,
        "--label",
        &run_label,
        "--network",
        "none",
        "--entrypoint",
        "sleep",
        &image,
        "600",
    ])?;
    let memory = stats_memory(&witness)?;
    ensure!(
        !memory.is_empty() && memory != "0B",
        "docker stats shows {memory:?} for a container started after the instances booted"
    );
    for name in &names {
        eprintln!("{name}: {} in docker stats", stats_memory(name)?);
    }

    // Stop and start: same IP, the user data does not run again.
    let (first, _) = &instances[0];
    let stopping = Instant::now();
    rt.block_on(host.stop(&first.instance_id))?;
    eprintln!("stopped in {:.1} s", stopping.elapsed().as_secs_f64());
    assert_eq!(
        rt.block_on(host.state(&first.instance_id))?,
        HostState::Stopped
    );
    let restarted = Instant::now();
    rt.block_on(host.start(&first.instance_id))?;
    let state = fleet::wait_system_running(&names[0], BOOT_TIMEOUT)?;
    eprintln!(
        "restarted: systemd {state} after {:.1} s",
        restarted.elapsed().as_secs_f64()
    );
    ensure!(
        ip_of(&names[0])? == first.private_ip.to_string(),
        "the IP changed"
    );
    let count = fleet::exec(
        &names[0],
        "grep -c '^ECS_CLUSTER=fleet-test$' /etc/ecs/ecs.config",
    )?;
    ensure!(
        count == "1",
        "after a restart the ECS_CLUSTER line is there {count} times"
    );
    fleet::exec(
        &names[0],
        "grep -q 'already ran' /var/log/cloud-init-output.log",
    )?;
    let answer = fleet::exec(&names[0], "curl -sS -m 5 http://169.254.169.254/x")?;
    ensure!(
        answer.starts_with("fleet-imds"),
        "after a restart: {answer:?}"
    );

    // Terminate: no container, no volume; then the network goes too.
    for (spec, _) in &instances {
        rt.block_on(host.terminate(&spec.instance_id))?;
        assert_eq!(rt.block_on(host.state(&spec.instance_id))?, HostState::Gone);
        rt.block_on(host.terminate(&spec.instance_id))?; // idempotent
    }
    docker(&["rm", "-f", &witness])?;
    rt.block_on(host.remove_network(&vpc.name))?;
    let left = fleet.leftovers()?;
    ensure!(left.is_empty(), "left behind: {left:?}");
    drop(cp);
    Ok(())
}
