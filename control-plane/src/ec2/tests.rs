//! The EC2 API over a fake host: what each operation answers and what it asks the host to do.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::host::{AmiImage, HostError, HostState, InstanceHost, LaunchSpec, VpcNetwork};
use super::*;

#[derive(Default)]
struct FakeHost {
    calls: Mutex<Vec<String>>,
    specs: Mutex<Vec<LaunchSpec>>,
    fail_launch: bool,
}

impl FakeHost {
    fn record(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }
}

impl InstanceHost for FakeHost {
    fn ensure_network<'a>(&'a self, vpc: &'a VpcNetwork) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.record(format!("network {}", vpc.name));
            Ok(())
        })
    }
    fn images(&self) -> BoxFuture<'_, Result<Vec<AmiImage>, HostError>> {
        Box::pin(async {
            Ok(vec![AmiImage {
                image_id: "ami-0123456789abcdef0".into(),
                name: "ecs-agent-rs-optimized-test".into(),
                reference: "ecs-agent-rs/instance:test".into(),
                created: "2026-12-07T00:00:00.000Z".into(),
            }])
        })
    }
    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.record(format!("launch {}", spec.instance_id));
            self.specs.lock().unwrap().push(spec.clone());
            if self.fail_launch {
                return Err(HostError::Docker {
                    action: "creating a container".into(),
                    message: "no room".into(),
                });
            }
            Ok(())
        })
    }
    fn stop<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.record(format!("stop {id}"));
            Ok(())
        })
    }
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.record(format!("start {id}"));
            Ok(())
        })
    }
    fn terminate<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.record(format!("terminate {id}"));
            Ok(())
        })
    }
    fn state<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<HostState, HostError>> {
        Box::pin(async { Ok(HostState::Running) })
    }
    fn remove_network<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async { Ok(()) })
    }
}

fn handle(host: Option<Arc<FakeHost>>) -> Ec2Handle {
    let state = State::restore("us-east-1", "123456789012", "10.9.0.0/16", &[]).unwrap();
    let fleet = host.map(|h| Fleet {
        host: h,
        network: "vpc-net".into(),
        endpoint: "http://10.9.0.1:4566".into(),
        imds: "10.9.0.1:4567".parse().unwrap(),
        labels: BTreeMap::new(),
    });
    Ec2Handle::new(state, Store::in_memory().unwrap(), fleet)
}

async fn call(h: &Ec2Handle, action: &str, pairs: &[(&str, &str)]) -> Result<Value, ApiError> {
    let mut params: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    params.insert("Action".into(), action.into());
    params.insert("Version".into(), VERSION.into());
    h.call(action, &params, 1_000.0).await
}

fn states(v: &Value) -> Vec<String> {
    v["reservationSet"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["instancesSet"].as_array().unwrap().iter())
        .map(|i| i["instanceState"]["name"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_for_states(h: &Ec2Handle, want: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v = call(h, "DescribeInstances", &[]).await.unwrap();
        if states(&v).iter().all(|s| s == want) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {want}: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn instances_go_through_ec2_states_as_the_host_answers() {
    let host = Arc::new(FakeHost::default());
    let h = handle(Some(Arc::clone(&host)));
    let subnets = call(
        &h,
        "DescribeSubnets",
        &[
            ("Filter.1.Name", "availability-zone"),
            ("Filter.1.Value.1", "us-east-1b"),
        ],
    )
    .await
    .unwrap();
    let subnet = subnets["subnetSet"][0]["subnetId"]
        .as_str()
        .unwrap()
        .to_string();
    let user_data = base64::engine::general_purpose::STANDARD
        .encode("#!/bin/bash\necho ECS_CLUSTER=c >> /etc/ecs/ecs.config\n");
    let run = call(
        &h,
        "RunInstances",
        &[
            ("ImageId", "ami-0123456789abcdef0"),
            ("InstanceType", "t3.small"),
            ("MinCount", "2"),
            ("MaxCount", "2"),
            ("SubnetId", &subnet),
            ("UserData", &user_data),
            ("IamInstanceProfile.Name", "ecsInstanceRole"),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "ecs-host"),
        ],
    )
    .await
    .unwrap();
    let items = run["instancesSet"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["instanceState"]["name"], "pending");
    assert_eq!(items[0]["placement"]["availabilityZone"], "us-east-1b");
    assert_eq!(items[0]["privateIpAddress"], "10.9.16.4");
    assert_eq!(items[1]["privateIpAddress"], "10.9.16.5");
    assert_eq!(items[0]["tagSet"][0]["value"], "ecs-host");
    let running = wait_for_states(&h, "running").await;
    assert_eq!(states(&running).len(), 2);
    let specs = host.specs.lock().unwrap().clone();
    assert_eq!(specs.len(), 2);
    assert_eq!(
        specs[0].user_data.as_deref(),
        Some(&b"#!/bin/bash\necho ECS_CLUSTER=c >> /etc/ecs/ecs.config\n"[..])
    );
    assert_eq!(specs[0].memory_bytes, 2048 << 20);
    assert_eq!(specs[0].hostname, "ip-10-9-16-4.ec2.internal");
    assert!(
        String::from_utf8_lossy(&specs[0].files[0].contents)
            .contains("ECS_BACKEND_HOST=http://10.9.0.1:4566")
    );
    let id = items[0]["instanceId"].as_str().unwrap().to_string();
    let stop = call(&h, "StopInstances", &[("InstanceId.1", &id)])
        .await
        .unwrap();
    assert_eq!(stop["instancesSet"][0]["currentState"]["name"], "stopping");
    assert_eq!(stop["instancesSet"][0]["previousState"]["name"], "running");
    let filtered = |state: &'static str| {
        let h = h.clone();
        async move {
            call(
                &h,
                "DescribeInstances",
                &[
                    ("Filter.1.Name", "instance-state-name"),
                    ("Filter.1.Value.1", state),
                ],
            )
            .await
            .unwrap()
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while states(&filtered("stopped").await).is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let e = call(
        &h,
        "StopInstances",
        &[("InstanceId.1", "i-0000000000000000f")],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code.as_str(), "InvalidInstanceID.NotFound");
    let all: Vec<String> = items
        .iter()
        .map(|i| i["instanceId"].as_str().unwrap().to_string())
        .collect();
    call(
        &h,
        "TerminateInstances",
        &[("InstanceId.1", &all[0]), ("InstanceId.2", &all[1])],
    )
    .await
    .unwrap();
    wait_for_states(&h, "terminated").await;
    let calls = host.calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("terminate")).count(),
        2,
        "{calls:?}"
    );
    // A terminated instance's address is free again.
    let again = call(
        &h,
        "RunInstances",
        &[
            ("ImageId", "ami-0123456789abcdef0"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("SubnetId", &subnet),
        ],
    )
    .await
    .unwrap();
    assert_eq!(again["instancesSet"][0]["privateIpAddress"], "10.9.16.4");
    assert_eq!(again["instancesSet"][0]["instanceType"], "m1.small");
}

#[tokio::test]
async fn a_failed_launch_terminates_the_instance_with_ec2s_reason() {
    let host = Arc::new(FakeHost {
        fail_launch: true,
        ..FakeHost::default()
    });
    let h = handle(Some(host));
    call(
        &h,
        "RunInstances",
        &[
            ("ImageId", "ami-0123456789abcdef0"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
        ],
    )
    .await
    .unwrap();
    let v = wait_for_states(&h, "terminated").await;
    let i = &v["reservationSet"][0]["instancesSet"][0];
    assert_eq!(i["stateReason"]["code"], "Server.InternalError");
    assert!(
        i["stateReason"]["message"]
            .as_str()
            .unwrap()
            .contains("no room")
    );
}

#[tokio::test]
async fn bad_requests_get_ec2s_codes() {
    let h = handle(Some(Arc::new(FakeHost::default())));
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "RunInstances",
            &[("MinCount", "1"), ("MaxCount", "1")],
            "MissingParameter",
        ),
        (
            "RunInstances",
            &[
                ("ImageId", "ami-00000000000000000"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
            ],
            "InvalidAMIID.NotFound",
        ),
        (
            "RunInstances",
            &[("ImageId", "nope"), ("MinCount", "1"), ("MaxCount", "1")],
            "InvalidAMIID.Malformed",
        ),
        (
            "RunInstances",
            &[
                ("ImageId", "ami-0123456789abcdef0"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("InstanceType", "x9.huge"),
            ],
            "InvalidParameterValue",
        ),
        (
            "RunInstances",
            &[
                ("ImageId", "ami-0123456789abcdef0"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("SubnetId", "subnet-1"),
            ],
            "InvalidSubnetID.NotFound",
        ),
        (
            "RunInstances",
            &[
                ("ImageId", "ami-0123456789abcdef0"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("DryRun", "true"),
            ],
            "DryRunOperation",
        ),
        (
            "RunInstances",
            &[
                ("ImageId", "ami-0123456789abcdef0"),
                ("MinCount", "17"),
                ("MaxCount", "17"),
            ],
            "InsufficientInstanceCapacity",
        ),
        (
            "DescribeInstances",
            &[("InstanceId.1", "i-00000000000000001")],
            "InvalidInstanceID.NotFound",
        ),
        (
            "DescribeInstances",
            &[("Filter.1.Name", "colour"), ("Filter.1.Value.1", "red")],
            "InvalidParameterValue",
        ),
        (
            "DeleteSecurityGroup",
            &[("GroupName", "default")],
            "CannotDelete",
        ),
        (
            "DescribeAvailabilityZones",
            &[("ZoneName.1", "us-east-1z")],
            "InvalidParameterValue",
        ),
        (
            "CreateSecurityGroup",
            &[("GroupName", "web")],
            "MissingParameter",
        ),
        ("FlyToTheMoon", &[], "InvalidAction"),
    ];
    for (action, pairs, code) in cases {
        let e = call(&h, action, pairs).await.unwrap_err();
        assert_eq!(e.code.as_str(), *code, "{action} {pairs:?}: {}", e.message);
    }
    let created = call(
        &h,
        "CreateSecurityGroup",
        &[("GroupName", "web"), ("GroupDescription", "web servers")],
    )
    .await
    .unwrap();
    assert!(created["groupId"].as_str().unwrap().starts_with("sg-"));
    let dup = call(
        &h,
        "CreateSecurityGroup",
        &[("GroupName", "web"), ("GroupDescription", "again")],
    )
    .await
    .unwrap_err();
    assert_eq!(dup.code.as_str(), "InvalidGroup.Duplicate");
}

#[tokio::test]
async fn without_a_fleet_run_instances_says_how_to_get_one() {
    let h = handle(None);
    let e = call(
        &h,
        "RunInstances",
        &[
            ("ImageId", "ami-0123456789abcdef0"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code.as_str(), "UnsupportedOperation");
    assert!(e.message.contains("--fleet"), "{}", e.message);
    let zones = call(&h, "DescribeAvailabilityZones", &[]).await.unwrap();
    assert_eq!(zones["availabilityZoneInfo"].as_array().unwrap().len(), 3);
    let images = call(&h, "DescribeImages", &[]).await.unwrap();
    assert_eq!(images["imagesSet"], serde_json::json!([]));
}

#[tokio::test]
async fn a_spot_interruption_gives_notice_then_terminates_with_ec2s_reason() {
    let host = Arc::new(FakeHost::default());
    let h = handle(Some(Arc::clone(&host)));
    let run = |spot: bool| {
        let h = h.clone();
        async move {
            let mut pairs = vec![
                ("ImageId", "ami-0123456789abcdef0"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
            ];
            if spot {
                pairs.push(("InstanceMarketOptions.MarketType", "spot"));
            }
            call(&h, "RunInstances", &pairs).await.unwrap()["instancesSet"][0]["instanceId"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let spot = run(true).await;
    let plain = run(false).await;
    wait_for_states(&h, "running").await;
    let e = h
        .interrupt_spot(plain.clone(), "terminate".into(), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.contains("not a spot instance"), "{e}");
    let e = h
        .interrupt_spot(spot.clone(), "reboot".into(), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.contains("must be terminate, stop or hibernate"), "{e}");
    h.interrupt_spot(spot.clone(), "terminate".into(), Duration::from_millis(50))
        .await
        .unwrap();
    let notice = h.read(|s| s.instances[&spot].spot_action.clone()).unwrap();
    assert_eq!(notice.0, "terminate");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let state = h.read(|s| s.instances[&spot].state);
        if state == InstanceState::Terminated {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {state:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reason = h.read(|s| s.instances[&spot].state_reason.clone()).unwrap();
    assert_eq!(reason.0, "Server.SpotInstanceTermination");
    assert_eq!(
        h.read(|s| s.instances[&plain].state),
        InstanceState::Running
    );
    h.set_target_lifecycle(plain.clone(), "Warmed:Running".into())
        .await
        .unwrap();
    let e = h
        .set_target_lifecycle(plain, "Warm".into())
        .await
        .unwrap_err();
    assert!(e.contains("must be one of"), "{e}");
}
