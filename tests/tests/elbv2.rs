#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The emulated Elastic Load Balancing v2 API, end to end, driven by the real AWS CLI
//! (`aws elbv2 ...`, its waiters included) against the real control-plane binary.
//!
//! Every call runs with `--debug`, and every raw XML answer it logged is checked against
//! botocore's elbv2 model ([`QueryModel`]: unknown elements, wrong scalars, unlisted error codes
//! and statuses are all violations, collected and reported together at the end). The flow also
//! kills the control plane with SIGKILL and restarts it on the same data dir, and finds its load
//! balancer, target group, listener, rule and target again.

use std::time::Duration;

use anyhow::Result;
use ecs_e2e_tests::ControlPlane;
use ecs_e2e_tests::query_xml::CheckedCli;
use serde_json::Value;

/// Every ELBv2 operation the emulator serves; the flow must check an answer of each.
const IMPLEMENTED: &[&str] = &[
    "CreateLoadBalancer",
    "DescribeLoadBalancers",
    "DeleteLoadBalancer",
    "DescribeLoadBalancerAttributes",
    "ModifyLoadBalancerAttributes",
    "CreateTargetGroup",
    "DescribeTargetGroups",
    "ModifyTargetGroup",
    "DeleteTargetGroup",
    "DescribeTargetGroupAttributes",
    "ModifyTargetGroupAttributes",
    "RegisterTargets",
    "DeregisterTargets",
    "DescribeTargetHealth",
    "CreateListener",
    "DescribeListeners",
    "ModifyListener",
    "DeleteListener",
    "CreateRule",
    "DescribeRules",
    "ModifyRule",
    "DeleteRule",
    "SetRulePriorities",
    "AddTags",
    "RemoveTags",
    "DescribeTags",
];

const SUBNET_A: &str = "subnet-0123456789abcdef0";
const SUBNET_B: &str = "subnet-0123456789abcdef1";
const VPC: &str = "vpc-0123456789abcdef0";
const INSTANCE_1: &str = "i-0123456789abcdef0";
const INSTANCE_2: &str = "i-0123456789abcdef1";

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn health_states(v: &Value) -> Vec<(String, String)> {
    v["TargetHealthDescriptions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    (
                        str_of(&d["TargetHealth"]["State"]),
                        str_of(&d["TargetHealth"]["Reason"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn aws_cli_drives_elbv2_and_every_answer_fits_botocores_model() -> Result<()> {
    let data = tempfile::tempdir()?;
    let cp = ControlPlane::start(Some(data.path()))?;
    let addr = cp.addr.clone();
    let mut elb = CheckedCli::new(cp.aws()?, "elbv2", "2015-12-01")?;

    // Load balancers.
    let lb = elb.run(&[
        "create-load-balancer",
        "--name",
        "web",
        "--subnets",
        SUBNET_A,
        SUBNET_B,
        "--tags",
        "Key=team,Value=web",
    ])?;
    let lb = &lb["LoadBalancers"][0];
    let lb_arn = str_of(&lb["LoadBalancerArn"]);
    assert!(
        lb_arn.starts_with(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/"
        ),
        "{lb_arn}"
    );
    assert_eq!(lb["State"]["Code"], "provisioning");
    assert_eq!(lb["Type"], "application");
    assert_eq!(lb["Scheme"], "internet-facing");
    assert!(str_of(&lb["DNSName"]).ends_with(".us-east-1.elb.localhost"));
    elb.run(&[
        "wait",
        "load-balancer-available",
        "--load-balancer-arns",
        &lb_arn,
    ])?;
    let d = elb.run(&["describe-load-balancers", "--names", "web"])?;
    assert_eq!(d["LoadBalancers"][0]["State"]["Code"], "active");
    assert_eq!(
        d["LoadBalancers"][0]["AvailabilityZones"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let (code, message) = elb.fail(&[
        "create-load-balancer",
        "--name",
        "web",
        "--scheme",
        "internal",
        "--subnets",
        SUBNET_A,
        SUBNET_B,
    ])?;
    assert_eq!(code, "DuplicateLoadBalancerName");
    assert!(
        message.contains("A load balancer with the same name 'web' exists"),
        "{message}"
    );
    let missing = lb_arn.replace("/web/", "/gone/");
    let (code, message) =
        elb.fail(&["describe-load-balancers", "--load-balancer-arns", &missing])?;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "LoadBalancerNotFound",
            "One or more load balancers not found"
        )
    );
    let (code, _) = elb.fail(&[
        "create-load-balancer",
        "--name",
        "one",
        "--subnets",
        SUBNET_A,
    ])?;
    assert_eq!(code, "ValidationError");
    let attrs = elb.run(&[
        "modify-load-balancer-attributes",
        "--load-balancer-arn",
        &lb_arn,
        "--attributes",
        "Key=idle_timeout.timeout_seconds,Value=120",
    ])?;
    assert!(attrs["Attributes"].as_array().is_some_and(|a| {
        a.iter()
            .any(|a| a["Key"] == "idle_timeout.timeout_seconds" && a["Value"] == "120")
    }));
    let (code, _) = elb.fail(&[
        "modify-load-balancer-attributes",
        "--load-balancer-arn",
        &lb_arn,
        "--attributes",
        "Key=idle_timeout.timeout_seconds,Value=0",
    ])?;
    assert_eq!(code, "InvalidConfigurationRequest");
    let attrs = elb.run(&[
        "describe-load-balancer-attributes",
        "--load-balancer-arn",
        &lb_arn,
    ])?;
    assert!(attrs["Attributes"].as_array().is_some_and(|a| {
        a.iter()
            .any(|a| a["Key"] == "routing.http2.enabled" && a["Value"] == "true")
    }));

    // Target groups.
    let tg = elb.run(&[
        "create-target-group",
        "--name",
        "web-tg",
        "--protocol",
        "HTTP",
        "--port",
        "8080",
        "--vpc-id",
        VPC,
        "--health-check-path",
        "/health",
    ])?;
    let tg = &tg["TargetGroups"][0];
    let tg_arn = str_of(&tg["TargetGroupArn"]);
    assert!(tg_arn.contains(":targetgroup/web-tg/"), "{tg_arn}");
    assert_eq!(tg["HealthCheckPath"], "/health");
    assert_eq!(tg["HealthCheckIntervalSeconds"], 30);
    assert_eq!(tg["Matcher"]["HttpCode"], "200");
    let (code, _) = elb.fail(&[
        "create-target-group",
        "--name",
        "web-tg",
        "--protocol",
        "HTTP",
        "--port",
        "9999",
        "--vpc-id",
        VPC,
    ])?;
    assert_eq!(code, "DuplicateTargetGroupName");
    let m = elb.run(&[
        "modify-target-group",
        "--target-group-arn",
        &tg_arn,
        "--health-check-interval-seconds",
        "10",
        "--matcher",
        "HttpCode=200-299",
    ])?;
    assert_eq!(m["TargetGroups"][0]["HealthCheckIntervalSeconds"], 10);
    elb.run(&[
        "modify-target-group-attributes",
        "--target-group-arn",
        &tg_arn,
        "--attributes",
        "Key=deregistration_delay.timeout_seconds,Value=3",
        "Key=load_balancing.algorithm.type,Value=least_outstanding_requests",
    ])?;
    let a = elb.run(&[
        "describe-target-group-attributes",
        "--target-group-arn",
        &tg_arn,
    ])?;
    let value = |k: &str| {
        a["Attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["Key"] == k))
            .map(|x| str_of(&x["Value"]))
    };
    assert_eq!(
        value("deregistration_delay.timeout_seconds").as_deref(),
        Some("3")
    );
    assert_eq!(
        value("load_balancing.algorithm.type").as_deref(),
        Some("least_outstanding_requests")
    );
    assert_eq!(value("stickiness.enabled").as_deref(), Some("false"));

    // Listeners and rules (on free ports: every listener is a real socket).
    let port = ecs_e2e_tests::free_port()?.to_string();
    let moved = ecs_e2e_tests::free_port()?.to_string();
    let l = elb.run(&[
        "create-listener",
        "--load-balancer-arn",
        &lb_arn,
        "--protocol",
        "HTTP",
        "--port",
        &port,
        "--default-actions",
        r#"[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"404","ContentType":"text/plain","MessageBody":"nothing here"}}]"#,
    ])?;
    let l_arn = str_of(&l["Listeners"][0]["ListenerArn"]);
    assert!(l_arn.contains(":listener/app/web/"), "{l_arn}");
    let (code, _) = elb.fail(&[
        "create-listener",
        "--load-balancer-arn",
        &lb_arn,
        "--protocol",
        "HTTP",
        "--port",
        &port,
        "--default-actions",
        &format!(r#"[{{"Type":"forward","TargetGroupArn":"{tg_arn}"}}]"#),
    ])?;
    assert_eq!(code, "DuplicateListener");
    let ml = elb.run(&[
        "modify-listener",
        "--listener-arn",
        &l_arn,
        "--port",
        &moved,
    ])?;
    assert_eq!(ml["Listeners"][0]["Port"].to_string(), moved);
    let rule_args = |priority: &'static str, path: &'static str| -> Vec<String> {
        vec![
            "create-rule".into(),
            "--listener-arn".into(),
            l_arn.clone(),
            "--priority".into(),
            priority.into(),
            "--conditions".into(),
            format!(r#"[{{"Field":"path-pattern","Values":["{path}"]}}]"#),
            "--actions".into(),
            format!(r#"[{{"Type":"forward","TargetGroupArn":"{tg_arn}"}}]"#),
        ]
    };
    let args = rule_args("10", "/api/*");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = elb.run(&args)?;
    let rule_arn = str_of(&r["Rules"][0]["RuleArn"]);
    assert_eq!(r["Rules"][0]["Priority"], "10");
    assert_eq!(
        r["Rules"][0]["Conditions"][0]["PathPatternConfig"]["Values"][0],
        "/api/*"
    );
    let (code, message) = elb.fail(&args)?;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("PriorityInUse", "Priority '10' is currently in use")
    );
    let (code, _) = elb.fail(&[
        "create-rule",
        "--listener-arn",
        &l_arn,
        "--priority",
        "11",
        "--conditions",
        r#"[{"Field":"path-pattern","Values":["/a","/b","/c","/d","/e","/f"]}]"#,
        "--actions",
        r#"[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"200"}}]"#,
    ])?;
    assert_eq!(code, "ValidationError");
    let mr = elb.run(&[
        "modify-rule",
        "--rule-arn",
        &rule_arn,
        "--conditions",
        r#"[{"Field":"path-pattern","PathPatternConfig":{"Values":["/api/v2/*"]}},{"Field":"http-request-method","HttpRequestMethodConfig":{"Values":["GET","POST"]}}]"#,
    ])?;
    assert_eq!(
        mr["Rules"][0]["Conditions"][1]["HttpRequestMethodConfig"]["Values"][1],
        "POST"
    );
    let sp = elb.run(&[
        "set-rule-priorities",
        "--rule-priorities",
        &format!("RuleArn={rule_arn},Priority=5"),
    ])?;
    assert_eq!(sp["Rules"][0]["Priority"], "5");
    let rules = elb.run(&["describe-rules", "--listener-arn", &l_arn])?;
    assert_eq!(rules["Rules"].as_array().map(Vec::len), Some(2));
    assert_eq!(rules["Rules"][1]["IsDefault"], true);
    let default_rule = str_of(&rules["Rules"][1]["RuleArn"]);
    let (code, _) = elb.fail(&["delete-rule", "--rule-arn", &default_rule])?;
    assert_eq!(code, "OperationNotPermitted");
    let groups = elb.run(&["describe-target-groups", "--names", "web-tg"])?;
    assert_eq!(
        groups["TargetGroups"][0]["LoadBalancerArns"][0],
        lb_arn.as_str()
    );
    let (code, _) = elb.fail(&["delete-target-group", "--target-group-arn", &tg_arn])?;
    assert_eq!(code, "ResourceInUse");
    let listeners = elb.run(&["describe-listeners", "--load-balancer-arn", &lb_arn])?;
    assert_eq!(
        listeners["Listeners"][0]["DefaultActions"][0]["Type"],
        "fixed-response"
    );

    // Targets: initial while registered (the instances answer no health check here, and
    // checks run every 10 s), draining, then gone.
    elb.run(&[
        "register-targets",
        "--target-group-arn",
        &tg_arn,
        "--targets",
        &format!("Id={INSTANCE_1}"),
        &format!("Id={INSTANCE_2},Port=9090"),
    ])?;
    let h = elb.run(&["describe-target-health", "--target-group-arn", &tg_arn])?;
    // Nothing answers on the instances' ports: the first checks are in progress or failed
    // (not yet the unhealthy threshold).
    let states = health_states(&h);
    assert_eq!(states.len(), 2);
    assert!(
        states.iter().all(|(s, r)| s == "initial"
            && (r == "Elb.RegistrationInProgress" || r == "Elb.InitialHealthChecking")),
        "{states:?}"
    );
    elb.run(&[
        "deregister-targets",
        "--target-group-arn",
        &tg_arn,
        "--targets",
        &format!("Id={INSTANCE_1}"),
    ])?;
    let target = format!("Id={INSTANCE_1}");
    let h = elb.run(&[
        "describe-target-health",
        "--target-group-arn",
        &tg_arn,
        "--targets",
        &target,
    ])?;
    assert_eq!(
        health_states(&h),
        vec![(
            "draining".to_string(),
            "Target.DeregistrationInProgress".to_string()
        )]
    );
    elb.run(&[
        "wait",
        "target-deregistered",
        "--target-group-arn",
        &tg_arn,
        "--targets",
        &target,
    ])?;
    let h = elb.run(&[
        "describe-target-health",
        "--target-group-arn",
        &tg_arn,
        "--targets",
        &target,
    ])?;
    assert_eq!(
        health_states(&h),
        vec![("unused".to_string(), "Target.NotRegistered".to_string())]
    );
    let (code, _) = elb.fail(&[
        "deregister-targets",
        "--target-group-arn",
        &tg_arn,
        "--targets",
        &target,
    ])?;
    assert_eq!(code, "InvalidTarget");

    // Tags on every kind of resource.
    for arn in [&tg_arn, &l_arn, &rule_arn] {
        elb.run(&[
            "add-tags",
            "--resource-arns",
            arn,
            "--tags",
            "Key=team,Value=web",
            "Key=tmp",
        ])?;
    }
    elb.run(&[
        "remove-tags",
        "--resource-arns",
        &tg_arn,
        "--tag-keys",
        "tmp",
    ])?;
    let tags = elb.run(&[
        "describe-tags",
        "--resource-arns",
        &lb_arn,
        &tg_arn,
        &l_arn,
        &rule_arn,
    ])?;
    let counts: Vec<usize> = tags["TagDescriptions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| d["Tags"].as_array().map_or(0, Vec::len))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(counts, vec![1, 1, 2, 2]);
    let (code, _) = elb.fail(&[
        "add-tags",
        "--resource-arns",
        &lb_arn,
        "--tags",
        "Key=a",
        "Key=a",
    ])?;
    assert_eq!(code, "DuplicateTagKeys");

    // kill -9 and a restart on the same data dir lose nothing.
    let mut cp = cp;
    cp.process.kill()?;
    drop(cp);
    let cp = ControlPlane::start_on(&addr, Some(data.path()))?;
    let d = elb.run(&["describe-load-balancers", "--load-balancer-arns", &lb_arn])?;
    assert_eq!(d["LoadBalancers"][0]["LoadBalancerName"], "web");
    let g = elb.run(&["describe-target-groups", "--target-group-arns", &tg_arn])?;
    assert_eq!(g["TargetGroups"][0]["HealthCheckIntervalSeconds"], 10);
    let l = elb.run(&["describe-listeners", "--listener-arns", &l_arn])?;
    assert_eq!(l["Listeners"][0]["Port"].to_string(), moved);
    let r = elb.run(&["describe-rules", "--rule-arns", &rule_arn])?;
    assert_eq!(r["Rules"][0]["Priority"], "5");
    let h = elb.run(&["describe-target-health", "--target-group-arn", &tg_arn])?;
    assert_eq!(h["TargetHealthDescriptions"][0]["Target"]["Id"], INSTANCE_2);

    // Deletion.
    elb.run(&["delete-rule", "--rule-arn", &rule_arn])?;
    let (code, _) = elb.fail(&["describe-rules", "--rule-arns", &rule_arn])?;
    assert_eq!(code, "RuleNotFound");
    elb.run(&["delete-listener", "--listener-arn", &l_arn])?;
    let (code, message) = elb.fail(&["describe-listeners", "--listener-arns", &l_arn])?;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("ListenerNotFound", "One or more listeners not found")
    );
    elb.run(&["delete-load-balancer", "--load-balancer-arn", &lb_arn])?;
    elb.run(&[
        "wait",
        "load-balancers-deleted",
        "--load-balancer-arns",
        &lb_arn,
    ])?;
    elb.run(&["delete-target-group", "--target-group-arn", &tg_arn])?;
    let (code, _) = elb.fail(&["describe-target-groups", "--names", "web-tg"])?;
    assert_eq!(code, "TargetGroupNotFound");
    drop(cp);

    let unseen: Vec<&&str> = IMPLEMENTED
        .iter()
        .filter(|op| !elb.seen.contains(**op))
        .collect();
    assert!(unseen.is_empty(), "no answer of {unseen:?} was checked");
    assert!(
        elb.problems.is_empty(),
        "answers that do not fit botocore's elbv2 model:\n{}",
        elb.problems.join("\n")
    );
    Ok(())
}

#[test]
fn network_load_balancers_forward_tcp_only() -> Result<()> {
    let cp = ControlPlane::start(None)?;
    let mut elb = CheckedCli::new(cp.aws()?, "elbv2", "2015-12-01")?;
    let lb = elb.run(&[
        "create-load-balancer",
        "--name",
        "dns",
        "--type",
        "network",
        "--scheme",
        "internal",
        "--subnet-mappings",
        &format!("SubnetId={SUBNET_A}"),
    ])?;
    let lb = &lb["LoadBalancers"][0];
    let lb_arn = str_of(&lb["LoadBalancerArn"]);
    assert!(lb_arn.contains(":loadbalancer/net/dns/"), "{lb_arn}");
    assert!(str_of(&lb["DNSName"]).starts_with("internal-dns-"));
    let tg = elb.run(&[
        "create-target-group",
        "--name",
        "dns-tcp",
        "--protocol",
        "TCP",
        "--port",
        "53",
        "--vpc-id",
        VPC,
        "--target-type",
        "ip",
    ])?;
    let tg = &tg["TargetGroups"][0];
    assert_eq!(tg["HealthCheckProtocol"], "TCP");
    assert!(tg.get("HealthCheckPath").is_none());
    let tg_arn = str_of(&tg["TargetGroupArn"]);
    elb.run(&[
        "register-targets",
        "--target-group-arn",
        &tg_arn,
        "--targets",
        "Id=10.0.0.7",
    ])?;
    let h = elb.run(&["describe-target-health", "--target-group-arn", &tg_arn])?;
    assert_eq!(
        health_states(&h),
        vec![("unused".to_string(), "Target.NotInUse".to_string())]
    );
    let (code, _) = elb.fail(&[
        "create-listener",
        "--load-balancer-arn",
        &lb_arn,
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--default-actions",
        &format!(r#"[{{"Type":"forward","TargetGroupArn":"{tg_arn}"}}]"#),
    ])?;
    assert_eq!(code, "UnsupportedProtocol");
    elb.run(&[
        "create-listener",
        "--load-balancer-arn",
        &lb_arn,
        "--protocol",
        "TCP",
        "--port",
        &ecs_e2e_tests::free_port()?.to_string(),
        "--default-actions",
        &format!(r#"[{{"Type":"forward","TargetGroupArn":"{tg_arn}"}}]"#),
    ])?;
    let h = elb.run(&["describe-target-health", "--target-group-arn", &tg_arn])?;
    let states = health_states(&h);
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].0, "initial", "{states:?}");
    wait_free(&mut elb, &lb_arn)?;
    assert!(
        elb.problems.is_empty(),
        "answers that do not fit botocore's elbv2 model:\n{}",
        elb.problems.join("\n")
    );
    Ok(())
}

/// Deletes the load balancer and waits until it is gone.
fn wait_free(elb: &mut CheckedCli, lb_arn: &str) -> Result<()> {
    elb.run(&["delete-load-balancer", "--load-balancer-arn", lb_arn])?;
    let started = std::time::Instant::now();
    elb.run(&[
        "wait",
        "load-balancers-deleted",
        "--load-balancer-arns",
        lb_arn,
    ])?;
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}
