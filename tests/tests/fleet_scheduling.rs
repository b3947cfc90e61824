#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The service scheduler on a real fleet (issue 16), end to end with the AWS CLI: three instances
//! in three availability zones, one of them a spot instance whose agent runs with
//! `ECS_ENABLE_SPOT_INSTANCE_DRAINING=true`.
//!
//! - A REPLICA service of three tasks spreads over the three zones (ECS's default placement for
//!   services).
//! - Draining an instance (`update-container-instances-state --status DRAINING`) moves its
//!   service task to another instance without going below the service's minimum healthy percent
//!   (100 %: the replacement runs before the old task stops), and leaves a standalone task on it
//!   alone.
//! - A spot interruption notice (the admin interface's `/ec2/spot-interruption`) is seen by the
//!   spot instance's agent, which sets its container instance DRAINING; its service task moves;
//!   when EC2 terminates the instance, ECS deregisters it.
//! - A fourth instance, in another cluster, runs its agent with `ECS_WARM_POOLS_CHECK=true` and
//!   `ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance`: it does not register while
//!   instance metadata says `Warmed:Running` (set through the admin interface, standing in for
//!   an Auto Scaling warm pool), registers once it says `InService`, with the EC2 instance's tags
//!   merged under `ECS_CONTAINER_INSTANCE_TAGS`.
//! - Terminating an instance stops its tasks with `TerminationNotice` and "Host EC2 (instance
//!   ...) terminated.", deregisters its container instance (INACTIVE, agent disconnected) and the
//!   service replaces the task elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ecs_e2e_tests::fleet::{self, Fleet, TaskImage};
use ecs_e2e_tests::{
    AwsCli, container_instances, describe_task, described_tasks, free_port, http_request,
    instance_attribute, wait_until,
};
use serde_json::{Value, json};

const CLUSTER: &str = "fleet-scheduling";
const WARM_CLUSTER: &str = "fleet-warm";
const REGISTER_TIMEOUT: Duration = Duration::from_secs(240);
const MOVE_TIMEOUT: Duration = Duration::from_secs(180);

/// `POST {admin}{path}` with `body`, which must answer 200.
fn admin_post(admin: &str, path: &str, body: &Value) -> Result<Value> {
    let answer = http_request(
        "POST",
        &format!("{admin}{path}"),
        body.to_string().as_bytes(),
    )?;
    ensure!(
        answer.status == 200,
        "POST {path} {body}: {} {}",
        answer.status,
        answer.text()
    );
    answer.json()
}

/// The tasks of the cluster (of `service` when given) whose desired status is `desired`.
fn tasks(aws: &AwsCli, service: Option<&str>, desired: &str) -> Result<Vec<Value>> {
    described_tasks(aws, CLUSTER, service, desired)
}

/// Sets a container instance ACTIVE or DRAINING.
fn set_instance_state(aws: &AwsCli, arn: &str, status: &str) -> Result<()> {
    aws.run(&[
        "ecs",
        "update-container-instances-state",
        "--cluster",
        CLUSTER,
        "--container-instances",
        arn,
        "--status",
        status,
    ])?;
    Ok(())
}

/// The container instance ARN of each RUNNING task of `service`.
fn running_hosts(aws: &AwsCli, service: &str) -> Result<Vec<String>> {
    Ok(tasks(aws, Some(service), "RUNNING")?
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING")
        .filter_map(|t| t["containerInstanceArn"].as_str().map(String::from))
        .collect())
}

/// A standalone task of `def` started on `instance`; its ARN.
fn start_task_on(aws: &AwsCli, def: &str, instance: &str) -> Result<String> {
    let started = aws.run(&[
        "ecs",
        "start-task",
        "--cluster",
        CLUSTER,
        "--task-definition",
        def,
        "--container-instances",
        instance,
    ])?;
    Ok(started["tasks"][0]["taskArn"]
        .as_str()
        .context("taskArn")?
        .to_string())
}

fn describe_instance(aws: &AwsCli, arn: &str) -> Result<Value> {
    let out = aws.run(&[
        "ecs",
        "describe-container-instances",
        "--cluster",
        CLUSTER,
        "--container-instances",
        arn,
    ])?;
    Ok(out["containerInstances"][0].clone())
}

/// Waits until the service's RUNNING tasks are `want` on instances none of which is in
/// `avoid`, checking on every look that at least `floor` tasks run (the minimum healthy percent).
fn wait_moved(
    aws: &AwsCli,
    service: &str,
    want: usize,
    avoid: &[&str],
    floor: usize,
) -> Result<Vec<String>> {
    let mut lowest = usize::MAX;
    let hosts = wait_until(MOVE_TIMEOUT, "the service's tasks to move", || {
        let hosts = running_hosts(aws, service)?;
        lowest = lowest.min(hosts.len());
        let moved = hosts.len() == want && hosts.iter().all(|h| !avoid.contains(&h.as_str()));
        anyhow::Ok(moved.then_some(hosts))
    })?;
    ensure!(
        lowest >= floor,
        "only {lowest} tasks ran at one point (minimum healthy: {floor})"
    );
    Ok(hosts)
}

#[test]
fn services_spread_over_zones_and_move_off_draining_interrupted_and_terminated_instances()
-> Result<()> {
    fleet::precheck()?;
    let image = fleet::instance_image()?;
    let ami = fleet::ami_of(&image)?;
    let guard = Fleet::new();
    let admin_addr = format!("127.0.0.1:{}", free_port()?);
    let (cp, cidr) = fleet::start_control_plane_with(&guard, &["--admin-listen", &admin_addr])?;
    let admin = format!("http://{admin_addr}");
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;
    let started = Instant::now();

    // Three instances, one per zone; the one in the third zone is a spot instance that drains
    // itself on an interruption notice.
    let mut subnets = fleet::subnets(&aws)?;
    subnets.sort_by(|a, b| a.zone.cmp(&b.zone));
    ensure!(subnets.len() == 3, "{subnets:?}");
    let mut ec2_ids: Vec<String> = Vec::new();
    for (n, subnet) in subnets.iter().enumerate() {
        let spot = n == 2;
        let mut user_data = fleet::cluster_user_data(CLUSTER);
        if spot {
            user_data
                .push_str("echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config\n");
        }
        let mut args = vec![
            "ec2",
            "run-instances",
            "--image-id",
            &ami,
            "--instance-type",
            "t3.small",
            "--subnet-id",
            &subnet.id,
            "--user-data",
            &user_data,
            "--iam-instance-profile",
            "Name=ecsInstanceRole",
        ];
        if spot {
            args.extend(["--instance-market-options", "MarketType=spot"]);
        }
        let run = aws.run(&args)?;
        ec2_ids.push(
            run["Instances"][0]["InstanceId"]
                .as_str()
                .context("InstanceId")?
                .to_string(),
        );
    }
    // The warm instance: its agent must wait while instance metadata says it is warmed.
    let warm_data = format!(
        "#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={WARM_CLUSTER}\nECS_WARM_POOLS_CHECK=true\nECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance\nECS_CONTAINER_INSTANCE_TAGS={{\"team\": \"local\"}}\nEOF\n"
    );
    let warm = aws.run(&[
        "ec2",
        "run-instances",
        "--image-id",
        &ami,
        "--instance-type",
        "t3.micro",
        "--subnet-id",
        &subnets[0].id,
        "--user-data",
        &warm_data,
        "--iam-instance-profile",
        "Name=ecsInstanceRole",
        "--tag-specifications",
        "ResourceType=instance,Tags=[{Key=Name,Value=warm},{Key=team,Value=ec2}]",
    ])?["Instances"][0]["InstanceId"]
        .as_str()
        .context("InstanceId")?
        .to_string();
    admin_post(
        &admin,
        "/ec2/target-lifecycle-state",
        &json!({"instanceId": warm, "state": "Warmed:Running"}),
    )?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", WARM_CLUSTER])?;

    let launched: Vec<fleet::Instance> = ec2_ids
        .iter()
        .zip(&subnets)
        .map(|(id, subnet)| fleet::Instance {
            id: id.clone(),
            zone: subnet.zone.clone(),
            container: format!("{}{id}", guard.name_prefix()),
        })
        .collect();
    let registered = fleet::wait_registered(&aws, CLUSTER, &launched, REGISTER_TIMEOUT)?;
    // Container instance ARN by EC2 instance id, and each one's zone.
    let arn_of: BTreeMap<String, String> = registered
        .iter()
        .map(|i| {
            (
                i["ec2InstanceId"].as_str().unwrap_or_default().to_string(),
                i["containerInstanceArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let zone_of: BTreeMap<String, String> = registered
        .iter()
        .map(|i| {
            (
                i["containerInstanceArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                instance_attribute(i, "ecs.availability-zone").unwrap_or_default(),
            )
        })
        .collect();
    let (a, b, c) = (
        arn_of[&ec2_ids[0]].clone(),
        arn_of[&ec2_ids[1]].clone(),
        arn_of[&ec2_ids[2]].clone(),
    );
    println!("registered in {:.0?}", started.elapsed());

    // The service's image comes from a registry on the VPC's gateway.
    let task_image = TaskImage::on_gateway(fleet::gateway(&cidr)?)?;
    let def = task_image.register_sleeper(&aws, "fleet-web")?;

    // A standalone task on the first instance, which draining must leave alone.
    let standalone = start_task_on(&aws, &def, &a)?;

    // Spread over the zones.
    aws.run(&[
        "ecs",
        "create-service",
        "--cluster",
        CLUSTER,
        "--service-name",
        "web",
        "--task-definition",
        &def,
        "--desired-count",
        "3",
    ])?;
    let hosts = wait_moved(&aws, "web", 3, &[], 0)?;
    let zones: BTreeSet<&String> = hosts.iter().map(|h| &zone_of[h]).collect();
    assert_eq!(zones.len(), 3, "one task per zone: {hosts:?} {zone_of:?}");
    println!("spread over 3 zones at {:.0?}", started.elapsed());

    // The warm instance's agent has been waiting all along; now it goes in service.
    let warm_name = format!("{}{warm}", guard.name_prefix());
    wait_until(
        Duration::from_secs(60),
        "the warm instance's agent to wait",
        || {
            let journal = fleet::exec(&warm_name, "journalctl --no-pager -u ecs 2>&1")?;
            anyhow::Ok(journal.contains("waiting for the instance to go InService"))
        },
    )?;
    ensure!(
        container_instances(&aws, WARM_CLUSTER)?.is_empty(),
        "a warmed instance registered"
    );
    admin_post(
        &admin,
        "/ec2/target-lifecycle-state",
        &json!({"instanceId": warm, "state": "InService"}),
    )?;

    // Draining the first instance moves its service task, never below 3 running; the
    // standalone task stays.
    set_instance_state(&aws, &a, "DRAINING")?;
    let hosts = wait_moved(&aws, "web", 3, &[a.as_str()], 3)?;
    ensure!(
        hosts.iter().filter(|h| **h == b).count() + hosts.iter().filter(|h| **h == c).count() == 3,
        "{hosts:?}"
    );
    let kept = describe_task(&aws, CLUSTER, &standalone)?;
    assert_eq!(kept["lastStatus"], "RUNNING", "{kept:#}");
    assert_eq!(kept["desiredStatus"], "RUNNING", "{kept:#}");
    println!("drained at {:.0?}", started.elapsed());

    // A spot interruption: the agent on the spot instance drains it; its tasks move to the
    // second instance; EC2 then terminates it and ECS deregisters it.
    // A standalone task on the spot instance stays until the instance goes.
    let on_spot = start_task_on(&aws, &def, &c)?;
    wait_until(
        Duration::from_secs(60),
        "the task on the spot instance RUNNING",
        || anyhow::Ok(describe_task(&aws, CLUSTER, &on_spot)?["lastStatus"] == "RUNNING"),
    )?;
    admin_post(
        &admin,
        "/ec2/spot-interruption",
        &json!({"instanceId": ec2_ids[2], "noticeSeconds": 30}),
    )?;
    wait_until(
        Duration::from_secs(60),
        "the spot instance DRAINING",
        || anyhow::Ok(describe_instance(&aws, &c)?["status"] == "DRAINING"),
    )?;
    let hosts = wait_moved(&aws, "web", 3, &[a.as_str(), c.as_str()], 3)?;
    ensure!(hosts.iter().all(|h| *h == b), "{hosts:?}");
    wait_until(
        Duration::from_secs(120),
        "the spot instance deregistered",
        || anyhow::Ok(describe_instance(&aws, &c)?["status"] == "INACTIVE"),
    )?;
    let reason =
        aws.run(&["ec2", "describe-instances", "--instance-ids", &ec2_ids[2]])?["Reservations"][0]
            ["Instances"][0]["StateReason"]["Code"]
            .clone();
    assert_eq!(reason, "Server.SpotInstanceTermination");
    let interrupted = describe_task(&aws, CLUSTER, &on_spot)?;
    assert_eq!(interrupted["lastStatus"], "STOPPED", "{interrupted:#}");
    assert_eq!(
        interrupted["stopCode"], "SpotInterruption",
        "{interrupted:#}"
    );
    assert_eq!(
        interrupted["stoppedReason"],
        format!("Host EC2 (instance {}) terminated.", ec2_ids[2]).as_str(),
        "{interrupted:#}"
    );
    println!("spot interruption handled at {:.0?}", started.elapsed());

    // Terminating the second instance: its tasks stop as ECS stops them, its container instance
    // is deregistered, and the service runs them on the first one again once it is ACTIVE.
    set_instance_state(&aws, &a, "ACTIVE")?;
    let on_b: BTreeSet<String> = tasks(&aws, Some("web"), "RUNNING")?
        .iter()
        .filter(|t| t["containerInstanceArn"] == b.as_str())
        .filter_map(|t| t["taskArn"].as_str().map(String::from))
        .collect();
    ensure!(on_b.len() == 3, "{on_b:?}");
    aws.run(&["ec2", "terminate-instances", "--instance-ids", &ec2_ids[1]])?;
    let hosts = wait_moved(&aws, "web", 3, &[b.as_str(), c.as_str()], 0)?;
    ensure!(hosts.iter().all(|h| *h == a), "{hosts:?}");
    let gone = describe_instance(&aws, &b)?;
    assert_eq!(gone["status"], "INACTIVE", "{gone:#}");
    assert_eq!(gone["agentConnected"], false, "{gone:#}");
    let mut args = vec!["ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks"];
    args.extend(on_b.iter().map(String::as_str));
    for t in aws.run(&args)?["tasks"].as_array().context("tasks")? {
        assert_eq!(t["lastStatus"], "STOPPED", "{t:#}");
        assert_eq!(t["stopCode"], "TerminationNotice", "{t:#}");
        assert_eq!(
            t["stoppedReason"],
            format!("Host EC2 (instance {}) terminated.", ec2_ids[1]).as_str(),
            "{t:#}"
        );
    }
    let listed = container_instances(&aws, CLUSTER)?;
    assert_eq!(
        listed.len(),
        1,
        "INACTIVE instances are not listed: {listed:#?}"
    );
    println!("termination handled at {:.0?}", started.elapsed());

    // The warm instance registered once in service (the agent asks every minute), with the EC2
    // instance's tags under its configured ones.
    let warm_instance = wait_until(
        Duration::from_secs(150),
        "the warm instance to register",
        || {
            let all = container_instances(&aws, WARM_CLUSTER)?;
            anyhow::Ok(all.into_iter().next())
        },
    )?;
    assert_eq!(warm_instance["ec2InstanceId"], warm.as_str());
    let tags = aws.run(&[
        "ecs",
        "list-tags-for-resource",
        "--resource-arn",
        warm_instance["containerInstanceArn"]
            .as_str()
            .context("arn")?,
    ])?;
    let tags: BTreeMap<String, String> = tags["tags"]
        .as_array()
        .context("tags")?
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap_or_default().to_string(),
                t["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tags.get("Name").map(String::as_str),
        Some("warm"),
        "{tags:?}"
    );
    assert_eq!(
        tags.get("team").map(String::as_str),
        Some("local"),
        "{tags:?}"
    );
    println!("warm instance registered at {:.0?}", started.elapsed());

    drop(cp);
    drop(task_image);
    drop(guard);
    Ok(())
}
