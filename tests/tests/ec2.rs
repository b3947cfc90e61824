#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The emulated EC2 API, end to end, driven by the real AWS CLI (`aws ec2 ...`) against the real
//! control-plane binary with no fleet: the default VPC and its subnets, zones, security groups,
//! tags, images, instances (none can run without `--fleet`) and EC2's errors. Every raw XML
//! answer is checked against botocore's ec2 model. The control plane is killed with SIGKILL and
//! restarted on its data dir, and its VPC, subnets and groups are the same afterwards.
//!
//! Instances that really run are in `fleet.rs`.

use std::collections::BTreeSet;

use anyhow::Result;
use ecs_e2e_tests::ControlPlane;
use ecs_e2e_tests::query_xml::CheckedCli;
use serde_json::Value;

fn strings(v: &Value, list: &str, member: &str) -> BTreeSet<String> {
    v[list]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[member].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn aws_cli_drives_ec2_and_every_answer_fits_botocores_model() -> Result<()> {
    let data = tempfile::tempdir()?;
    let cp = ControlPlane::start_with_args(
        &format!("127.0.0.1:{}", ecs_e2e_tests::free_port()?),
        Some(data.path()),
        &["--vpc-cidr", "10.77.0.0/16"],
    )?;
    let addr = cp.addr.clone();
    let mut ec2 = CheckedCli::new(cp.aws()?, "ec2", "2016-11-15")?;

    let zones = ec2.run(&["describe-availability-zones"])?;
    assert_eq!(
        strings(&zones, "AvailabilityZones", "ZoneName"),
        ["us-east-1a", "us-east-1b", "us-east-1c"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(zones["AvailabilityZones"][0]["ZoneId"], "use1-az1");
    assert_eq!(zones["AvailabilityZones"][0]["State"], "available");
    let regions = ec2.run(&["describe-regions"])?;
    assert_eq!(regions["Regions"][0]["RegionName"], "us-east-1");

    let vpcs = ec2.run(&["describe-vpcs", "--filters", "Name=is-default,Values=true"])?;
    let vpc = &vpcs["Vpcs"][0];
    assert_eq!(vpc["CidrBlock"], "10.77.0.0/16");
    assert_eq!(vpc["IsDefault"], true);
    let vpc_id = vpc["VpcId"].as_str().unwrap().to_string();
    let subnets = ec2.run(&[
        "describe-subnets",
        "--filters",
        &format!("Name=vpc-id,Values={vpc_id}"),
    ])?;
    assert_eq!(
        strings(&subnets, "Subnets", "CidrBlock"),
        ["10.77.0.0/20", "10.77.16.0/20", "10.77.32.0/20"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(subnets["Subnets"][0]["AvailableIpAddressCount"], 4091);
    assert_eq!(subnets["Subnets"][0]["DefaultForAz"], true);
    let b = ec2.run(&[
        "describe-subnets",
        "--filters",
        "Name=availability-zone,Values=us-east-1b",
    ])?;
    assert_eq!(b["Subnets"].as_array().map(Vec::len), Some(1));
    let subnet_b = b["Subnets"][0]["SubnetId"].as_str().unwrap().to_string();

    // Security groups.
    let created = ec2.run(&[
        "create-security-group",
        "--group-name",
        "web",
        "--description",
        "web servers",
        "--tag-specifications",
        "ResourceType=security-group,Tags=[{Key=team,Value=web}]",
    ])?;
    let sg = created["GroupId"].as_str().unwrap().to_string();
    assert!(sg.starts_with("sg-") && sg.len() == 20, "{sg}");
    let (code, message) = ec2.fail(&[
        "create-security-group",
        "--group-name",
        "web",
        "--description",
        "again",
    ])?;
    assert_eq!(code, "InvalidGroup.Duplicate");
    assert_eq!(
        message,
        format!("The security group 'web' already exists for VPC '{vpc_id}'")
    );
    let groups = ec2.run(&[
        "describe-security-groups",
        "--filters",
        "Name=group-name,Values=web,default",
    ])?;
    assert_eq!(
        strings(&groups, "SecurityGroups", "GroupName"),
        ["default", "web"].into_iter().map(String::from).collect()
    );
    let (code, _) = ec2.fail(&["delete-security-group", "--group-name", "default"])?;
    assert_eq!(code, "CannotDelete");

    // Tags.
    ec2.run(&[
        "create-tags",
        "--resources",
        &subnet_b,
        &sg,
        "--tags",
        "Key=env,Value=test",
    ])?;
    let tags = ec2.run(&["describe-tags", "--filters", "Name=key,Values=env"])?;
    assert_eq!(
        strings(&tags, "Tags", "ResourceId"),
        [subnet_b.clone(), sg.clone()].into_iter().collect()
    );
    ec2.run(&["delete-tags", "--resources", &subnet_b, "--tags", "Key=env"])?;
    let tags = ec2.run(&["describe-tags", "--filters", "Name=key,Values=env"])?;
    assert_eq!(
        strings(&tags, "Tags", "ResourceId"),
        [sg.clone()].into_iter().collect()
    );
    let (code, message) = ec2.fail(&[
        "create-tags",
        "--resources",
        "i-0123456789abcdef0",
        "--tags",
        "Key=a,Value=b",
    ])?;
    assert_eq!(code, "InvalidInstanceID.NotFound");
    assert_eq!(
        message,
        "The instance ID 'i-0123456789abcdef0' does not exist"
    );

    // Without a fleet there are no images and no instances.
    let images = ec2.run(&["describe-images", "--owners", "self"])?;
    assert_eq!(images["Images"], Value::Array(vec![]));
    let (code, message) = ec2.fail(&[
        "run-instances",
        "--image-id",
        "ami-0123456789abcdef0",
        "--count",
        "1",
    ])?;
    assert_eq!(code, "UnsupportedOperation");
    assert!(message.contains("--fleet"), "{message}");
    let none = ec2.run(&["describe-instances"])?;
    assert_eq!(none["Reservations"], Value::Array(vec![]));
    let status = ec2.run(&["describe-instance-status"])?;
    assert_eq!(status["InstanceStatuses"], Value::Array(vec![]));
    let (code, _) = ec2.fail(&["stop-instances", "--instance-ids", "i-0123456789abcdef0"])?;
    assert_eq!(code, "InvalidInstanceID.NotFound");
    let (code, message) =
        ec2.fail(&["describe-instances", "--filters", "Name=colour,Values=red"])?;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("InvalidParameterValue", "The filter 'colour' is invalid")
    );

    // kill -9 and a restart on the same data dir keep the VPC, subnets, groups and tags.
    let before = ec2.run(&["describe-subnets"])?;
    let mut cp = cp;
    cp.process.kill()?;
    drop(cp);
    let cp =
        ControlPlane::start_with_args(&addr, Some(data.path()), &["--vpc-cidr", "10.77.0.0/16"])?;
    let after = ec2.run(&["describe-subnets"])?;
    assert_eq!(before, after);
    let groups = ec2.run(&["describe-security-groups", "--group-ids", &sg])?;
    assert_eq!(groups["SecurityGroups"][0]["Tags"][0]["Key"], "team");
    ec2.run(&["delete-security-group", "--group-id", &sg])?;
    let (code, _) = ec2.fail(&["describe-security-groups", "--group-ids", &sg])?;
    assert_eq!(code, "InvalidGroup.NotFound");
    drop(cp);

    assert!(
        ec2.problems.is_empty(),
        "answers that do not fit botocore's ec2 model:\n{}",
        ec2.problems.join("\n")
    );
    Ok(())
}
