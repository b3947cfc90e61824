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

use anyhow::{Context, Result};
use ecs_e2e_tests::fleet::{self, Fleet, TaskImage};
use ecs_e2e_tests::{container_instances, described_tasks, docker, instance_attribute, wait_until};

const CLUSTER: &str = "fleet-ecs";
const REGISTER_TIMEOUT: Duration = Duration::from_secs(240);
const DAEMON_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn three_instances_in_three_zones_register_on_their_own() -> Result<()> {
    fleet::precheck()?;
    let image = fleet::instance_image()?;
    let ami = fleet::ami_of(&image)?;
    let guard = Fleet::new();
    let (cp, cidr) = fleet::start_control_plane(&guard)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;

    let images = aws.run(&["ec2", "describe-images", "--image-ids", &ami])?;
    assert_eq!(images["Images"][0]["ImageId"], ami.as_str());
    let subnets = fleet::subnets(&aws)?;
    assert_eq!(subnets.len(), 3, "{subnets:?}");
    let launched = fleet::run_instances(&aws, &guard, &ami, CLUSTER, &subnets, "ecs-fleet")?;
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
    fleet::wait_registered(&aws, CLUSTER, &launched, REGISTER_TIMEOUT)?;
    let instances = container_instances(&aws, CLUSTER)?;
    let by_ec2: BTreeSet<(String, String)> = instances
        .iter()
        .map(|i| {
            (
                i["ec2InstanceId"].as_str().unwrap_or_default().to_string(),
                instance_attribute(i, "ecs.availability-zone").unwrap_or_default(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = launched
        .iter()
        .map(|i| (i.id.clone(), i.zone.clone()))
        .collect();
    assert_eq!(by_ec2, expected, "{instances:#?}");
    // They reach the control plane over TLS: the drop-in's endpoint is https on the gateway,
    // and the system store trusts it (the control plane's CA, added at boot) for curl too.
    let first = format!("{}{}", guard.name_prefix(), launched[0].id);
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
            instance_attribute(i, "ecs.instance-type").as_deref(),
            Some("t3.small")
        );
        assert_eq!(
            instance_attribute(i, "ecs.ami-id").as_deref(),
            Some(ami.as_str())
        );
    }

    // A DAEMON service puts one task on each instance. Instances pull its image from a registry
    // on the VPC's gateway: a mirror of the one on loopback the test pushes to.
    let task_image = TaskImage::on_gateway(fleet::gateway(&cidr)?)?;
    let def = task_image.register_sleeper(&aws, "fleet-daemon")?;
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
            let tasks = described_tasks(&aws, CLUSTER, Some("daemon"), "RUNNING")?;
            if tasks.len() != 3 {
                return anyhow::Ok(None);
            }
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
    let gone = &launched[0].id;
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
    drop(task_image);
    drop(guard);
    Ok(())
}
