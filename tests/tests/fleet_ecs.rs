#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ECS on an emulated EC2 fleet, end to end with the real AWS CLI (issue 16): the control plane
//! runs with `--fleet`; `aws ec2 run-instances` launches three instances of the instance image,
//! one per availability zone, with the seeds' user data (`echo ECS_CLUSTER=... >>
//! /etc/ecs/ecs.config`) and an instance profile; each boots systemd, its Docker Engine and the
//! agent's `.deb`, which runs in EC2 mode (region, identity document and credentials from the
//! instance metadata service) and registers on its own. ECS shows each container instance with
//! its EC2 instance id, zone, instance type and AMI; a DAEMON service runs one task on each
//! (pulled from a registry on the VPC's gateway); terminating an instance disconnects its agent.
//! Everything the run creates carries its label and is removed, also on failure.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ecs_e2e_tests::fleet::{self, Fleet};
use ecs_e2e_tests::{
    ControlPlane, Registry, container_instances, docker, free_port, register_task_definition,
    wait_until,
};
use serde_json::{Value, json};

const CLUSTER: &str = "fleet-ecs";
const REGISTER_TIMEOUT: Duration = Duration::from_secs(240);
const DAEMON_TIMEOUT: Duration = Duration::from_secs(180);

/// The control plane with a fleet on a random 10.x.0.0/16 VPC (another if Docker says the
/// network overlaps one it has).
fn start_control_plane(fleet: &Fleet) -> Result<(ControlPlane, String)> {
    let mut last = String::new();
    for _ in 0..4 {
        let x = 128 + uuid::Uuid::new_v4().as_bytes()[0] % 120;
        let cidr = format!("10.{x}.0.0/16");
        let label = format!("{}={}", fleet::FLEET_RUN_LABEL, fleet.run());
        let network = format!("{}vpc", fleet.name_prefix());
        let imds_port = free_port()?.to_string();
        let args = [
            "--fleet",
            "--vpc-cidr",
            &cidr,
            "--fleet-network",
            &network,
            "--fleet-name-prefix",
            &fleet.name_prefix(),
            "--fleet-label",
            &label,
            "--imds-port",
            &imds_port,
        ];
        match ControlPlane::start_with_args(&format!("127.0.0.1:{}", free_port()?), None, &args) {
            Ok(cp) => return Ok((cp, cidr)),
            Err(e) => last = format!("{e:#}"),
        }
    }
    bail!("the control plane did not start with a fleet: {last}")
}

fn ami_of(image: &str) -> Result<String> {
    let id = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"ecs-agent-rs.ami-id\"}}",
        image,
    ])?;
    if !id.starts_with("ami-") {
        bail!("image {image} has no ami id label: {id:?}");
    }
    Ok(id)
}

fn attribute(instance: &Value, name: &str) -> Option<String> {
    instance["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["value"].as_str())
        .map(String::from)
}

#[test]
fn three_instances_in_three_zones_register_on_their_own() -> Result<()> {
    fleet::precheck()?;
    let image = fleet::instance_image()?;
    let ami = ami_of(&image)?;
    let guard = Fleet::new();
    let (cp, cidr) = start_control_plane(&guard)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;

    let images = aws.run(&["ec2", "describe-images", "--image-ids", &ami])?;
    assert_eq!(images["Images"][0]["ImageId"], ami.as_str());
    let subnets = aws.run(&["ec2", "describe-subnets"])?;
    let subnets: Vec<(String, String)> = subnets["Subnets"]
        .as_array()
        .context("Subnets")?
        .iter()
        .map(|s| {
            (
                s["SubnetId"].as_str().unwrap_or_default().to_string(),
                s["AvailabilityZone"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(subnets.len(), 3, "{subnets:?}");
    let user_data = format!("#!/bin/bash\necho ECS_CLUSTER={CLUSTER} >> /etc/ecs/ecs.config\n");
    // The AWS CLI base64-encodes --user-data itself, as it does for EC2.
    let mut launched: Vec<(String, String)> = Vec::new();
    for (subnet, zone) in &subnets {
        let run = aws.run(&[
            "ec2",
            "run-instances",
            "--image-id",
            &ami,
            "--instance-type",
            "t3.small",
            "--count",
            "1",
            "--subnet-id",
            subnet,
            "--user-data",
            &user_data,
            "--iam-instance-profile",
            "Name=ecsInstanceRole",
            "--tag-specifications",
            "ResourceType=instance,Tags=[{Key=Name,Value=ecs-fleet}]",
        ])?;
        let i = &run["Instances"][0];
        assert_eq!(i["State"]["Name"], "pending");
        assert_eq!(i["Placement"]["AvailabilityZone"], zone.as_str());
        launched.push((i["InstanceId"].as_str().unwrap().to_string(), zone.clone()));
    }
    let ids: Vec<&str> = launched.iter().map(|(id, _)| id.as_str()).collect();
    let mut wait = vec!["ec2", "wait", "instance-running", "--instance-ids"];
    wait.extend(&ids);
    aws.run(&wait)?;
    let described = aws.run(&[
        "ec2",
        "describe-instances",
        "--filters",
        "Name=tag:Name,Values=ecs-fleet",
    ])?;
    let ips: BTreeSet<String> = described["Reservations"]
        .as_array()
        .context("Reservations")?
        .iter()
        .flat_map(|r| r["Instances"].as_array().cloned().unwrap_or_default())
        .map(|i| {
            i["PrivateIpAddress"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let prefix = cidr.trim_end_matches(".0.0/16");
    assert!(
        ips.len() == 3 && ips.iter().all(|ip| ip.starts_with(prefix)),
        "{ips:?} in {cidr}"
    );

    // Each agent registers on its own, in EC2 mode.
    let registered = wait_until(REGISTER_TIMEOUT, "three container instances", || {
        container_instances(&aws, CLUSTER)
            .is_ok_and(|c| c.len() == 3 && c.iter().all(|i| i["agentConnected"] == true))
    });
    if let Err(e) = registered {
        let mut why = format!("{e:#}");
        for (id, _) in &launched {
            let name = format!("{}{id}", guard.name_prefix());
            why.push_str(&format!(
                "\n--- {name}: journalctl -u ecs -u cloud-final\n{}",
                fleet::exec(
                    &name,
                    "journalctl --no-pager -n 40 -u ecs -u cloud-final 2>&1"
                )
                .unwrap_or_default()
            ));
        }
        bail!(why);
    }
    let instances = container_instances(&aws, CLUSTER)?;
    let by_ec2: BTreeSet<(String, String)> = instances
        .iter()
        .map(|i| {
            (
                i["ec2InstanceId"].as_str().unwrap_or_default().to_string(),
                attribute(i, "ecs.availability-zone").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(by_ec2, launched.iter().cloned().collect(), "{instances:#?}");
    // They reach the control plane over TLS: the drop-in's endpoint is https on the gateway,
    // and the system store trusts it (the control plane's CA, added at boot) for curl too.
    let first = format!("{}{}", guard.name_prefix(), launched[0].0);
    let reached = fleet::exec(
        &first,
        "url=$(sed -n 's/^Environment=ECS_BACKEND_HOST=//p' /etc/systemd/system/ecs.service.d/50-emulated-ec2.conf) && echo \"$url\" && curl -sS -o /dev/null -w '%{http_code}\\n' \"$url/\"",
    )?;
    assert!(
        reached.starts_with("https://") && reached.lines().count() == 2,
        "{reached}"
    );
    for i in &instances {
        assert_eq!(
            attribute(i, "ecs.instance-type").as_deref(),
            Some("t3.small")
        );
        assert_eq!(attribute(i, "ecs.ami-id").as_deref(), Some(ami.as_str()));
    }

    // A DAEMON service puts one task on each instance. Instances pull its image from a registry
    // on the VPC's gateway: a mirror of the one on loopback the test pushes to.
    let registry = Registry::start()?;
    let pushed = registry.push_test_image()?;
    let gateway: std::net::IpAddr = format!("{prefix}.0.1").parse()?;
    let mirror = registry.mirror_on(gateway)?;
    let image = pushed.replacen(registry.host(), mirror.host(), 1);
    let def = register_task_definition(
        &aws,
        "fleet-daemon",
        &json!([{"name": "main", "image": image, "memory": 32, "entryPoint": ["sh", "-c"],
                 "command": ["trap 'exit 0' TERM; while true; do sleep 1; done"]}]),
    )?;
    aws.run(&[
        "ecs",
        "create-service",
        "--cluster",
        CLUSTER,
        "--service-name",
        "daemon",
        "--task-definition",
        &def,
        "--scheduling-strategy",
        "DAEMON",
    ])?;
    let hosts = wait_until(
        DAEMON_TIMEOUT,
        "a RUNNING daemon task on each instance",
        || {
            let listed = aws.run(&[
                "ecs",
                "list-tasks",
                "--cluster",
                CLUSTER,
                "--service-name",
                "daemon",
            ])?;
            let arns: Vec<String> = listed["taskArns"]
                .as_array()
                .context("taskArns")?
                .iter()
                .filter_map(|a| a.as_str().map(String::from))
                .collect();
            if arns.len() != 3 {
                return anyhow::Ok(None);
            }
            let mut args = vec!["ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks"];
            args.extend(arns.iter().map(String::as_str));
            let tasks = aws.run(&args)?["tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let hosts: BTreeSet<String> = tasks
                .iter()
                .filter(|t| t["lastStatus"] == "RUNNING")
                .filter_map(|t| t["containerInstanceArn"].as_str().map(String::from))
                .collect();
            anyhow::Ok((hosts.len() == 3).then_some(hosts))
        },
    )?;
    let instance_arns: BTreeSet<String> = instances
        .iter()
        .filter_map(|i| i["containerInstanceArn"].as_str().map(String::from))
        .collect();
    assert_eq!(hosts, instance_arns);

    // Terminating an instance disconnects its agent; the others stay connected.
    let (gone, _) = &launched[0];
    aws.run(&["ec2", "terminate-instances", "--instance-ids", gone])?;
    aws.run(&["ec2", "wait", "instance-terminated", "--instance-ids", gone])?;
    wait_until(
        Duration::from_secs(90),
        "the terminated instance's agent to disconnect",
        || {
            container_instances(&aws, CLUSTER).is_ok_and(|c| {
                c.iter()
                    .all(|i| (i["ec2InstanceId"] == gone.as_str()) != (i["agentConnected"] == true))
            })
        },
    )?;
    let left = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("name={}{gone}", guard.name_prefix()),
    ])?;
    assert!(
        left.is_empty(),
        "the terminated instance's container is still there: {left}"
    );
    drop(cp);
    drop(mirror);
    drop(registry);
    drop(guard);
    Ok(())
}
