//! Unit tests of `load_balancing`: the checks, what the state wants registered, and how the
//! scheduler acts on ELB's health (explicit times, no ELB: reports are built by hand).
#![allow(clippy::unwrap_used)]

use super::*;
use crate::ecs::model::Service;
use serde_json::json;

const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";

fn state() -> State {
    let mut s = State::for_tests();
    s.connected_instance_for_tests(json!({
        "cluster": "default",
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": []},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
        ],
        "attributes": [{"name": "ecs.capability.external"}],
        "instanceIdentityDocument": ""
    }));
    s.register_task_definition(
        json!({"family": "web", "containerDefinitions": [
            {"name": "web", "image": "web:1", "memory": 128,
             "portMappings": [{"containerPort": 8080, "hostPort": 0}]}]}),
        1.0,
    )
    .unwrap();
    s
}

fn create(s: &mut State, extra: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    let mut req = json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2,
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "web", "containerPort": 8080}]});
    if let (Some(m), Some(e)) = (req.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    let r = s.create_service(serde_json::from_value(req).unwrap(), 2.0);
    s.schedule_services(2.0);
    r
}

fn service(s: &State) -> &Service {
    s.services.values().next().unwrap()
}

/// The agent reports `task` RUNNING with container port 8080 on host port `port`.
fn running(s: &mut State, task: &str, port: u16, now: f64) {
    s.submit_task_state_change(
        serde_json::from_value(json!({"task": task, "status": "RUNNING", "containers": [
            {"containerName": "web", "status": "RUNNING", "networkBindings": [
                {"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": port, "protocol": "tcp"}]}]}))
        .unwrap(),
        now,
    )
    .unwrap();
    s.schedule_services(now);
}

/// A round in which ELB registered `registered` and reports `health` for each task.
fn round(s: &mut State, registered: &[LbTarget], health: &[(&str, &str)], now: f64) {
    let arn = service(s).service_arn.clone();
    let mut report = LbReport::default();
    if !registered.is_empty() {
        report.registered.insert(arn, registered.to_vec());
    }
    for (task, state) in health {
        report
            .health
            .entry((*task).to_string())
            .or_default()
            .insert(
                TG.to_string(),
                TargetState {
                    state: (*state).to_string(),
                    reason: None,
                },
            );
    }
    report.delays.insert(TG.to_string(), 5.0);
    s.observe_lb(report, now);
    s.schedule_services(now);
}

fn tasks(s: &State) -> Vec<String> {
    service(s).task_arns.iter().cloned().collect()
}

#[test]
fn load_balancers_are_checked_as_ecs_checks_them() {
    let cases = [
        (
            json!([{"containerName": "web", "containerPort": 8080}]),
            "Target Group Arn can not be blank.",
        ),
        (
            json!([{"targetGroupArn": TG, "containerPort": 8080}]),
            "Container Name can not be blank.",
        ),
        (
            json!([{"targetGroupArn": TG, "containerName": "web"}]),
            "Container Port can not be blank.",
        ),
        (
            json!([{"targetGroupArn": TG, "containerName": "api", "containerPort": 8080}]),
            "The container api does not exist in the task definition.",
        ),
        (
            json!([{"targetGroupArn": TG, "containerName": "web", "containerPort": 80}]),
            "The container web did not have a container port 80 defined.",
        ),
    ];
    for (lbs, message) in cases {
        let mut s = state();
        let e = create(&mut s, json!({"loadBalancers": lbs})).unwrap_err();
        assert_eq!(e.message, message, "{lbs}");
        assert!(s.services.is_empty(), "nothing half-created");
    }
    let six: Vec<_> = (0..6)
        .map(|i| json!({"targetGroupArn": format!("{TG}{i}"), "containerName": "web", "containerPort": 8080}))
        .collect();
    assert!(parse_load_balancers(&six).is_err());
    let mut s = state();
    let e = s
        .create_service(
            serde_json::from_value(json!({"serviceName": "plain", "taskDefinition": "web",
                "desiredCount": 1, "healthCheckGracePeriodSeconds": 30}))
            .unwrap(),
            2.0,
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "Health check grace period is only valid for services configured to use load balancers"
    );
}

#[test]
fn running_tasks_are_wanted_as_instance_and_host_port_and_count_once_healthy() {
    let mut s = state();
    let out = create(&mut s, json!({"healthCheckGracePeriodSeconds": 10})).unwrap();
    assert_eq!(out["service"]["healthCheckGracePeriodSeconds"], 10);
    assert_eq!(out["service"]["loadBalancers"][0]["targetGroupArn"], TG);
    let t = tasks(&s);
    assert_eq!(t.len(), 2);
    assert!(
        s.lb_work().wanted.values().all(BTreeSet::is_empty),
        "PENDING tasks are no targets"
    );
    running(&mut s, &t[0], 32768, 3.0);
    running(&mut s, &t[1], 32769, 3.0);
    let work = s.lb_work();
    let wanted: Vec<&LbTarget> = work.wanted.values().flatten().collect();
    assert_eq!(wanted.len(), 2);
    let instance = s.instances.values().next().unwrap().ec2_instance_id.clone();
    assert!(
        wanted
            .iter()
            .all(|w| w.id == instance && w.target_group_arn == TG)
    );
    let mut ports: Vec<u16> = wanted.iter().map(|w| w.port).collect();
    ports.sort_unstable();
    assert_eq!(ports, [32768, 32769], "each task's own dynamic host port");
    assert!(!service(&s).steady, "RUNNING but not yet healthy in ELB");

    let registered: Vec<LbTarget> = wanted.into_iter().cloned().collect();
    round(
        &mut s,
        &registered,
        &[(&t[0], "initial"), (&t[1], "initial")],
        4.0,
    );
    let svc = service(&s);
    assert_eq!(svc.lb_targets.len(), 2);
    assert!(
        svc.events
            .iter()
            .any(|e| e.message
                == format!("(service web) registered 2 targets in (target-group {TG})"))
    );
    assert!(!svc.steady);
    round(&mut s, &[], &[(&t[0], "healthy"), (&t[1], "healthy")], 5.0);
    assert!(service(&s).steady, "steady once every target is healthy");
}

#[test]
fn a_stopped_task_drains_first_and_a_failing_one_is_replaced_after_the_grace_period() {
    let mut s = state();
    create(&mut s, json!({"healthCheckGracePeriodSeconds": 10})).unwrap();
    let t = tasks(&s);
    running(&mut s, &t[0], 32768, 3.0);
    running(&mut s, &t[1], 32769, 3.0);
    let registered: Vec<LbTarget> = s.lb_work().wanted.values().flatten().cloned().collect();
    round(
        &mut s,
        &registered,
        &[(&t[0], "healthy"), (&t[1], "healthy")],
        4.0,
    );

    // Scale in: the task leaves the targets first, and is told to stop after the delay (5 s).
    let arn = service(&s).service_arn.clone();
    s.update_service(
        serde_json::from_value(json!({"service": arn, "desiredCount": 1})).unwrap(),
        6.0,
    )
    .unwrap();
    s.schedule_services(6.0);
    let draining: Vec<String> = service(&s).draining.keys().cloned().collect();
    assert_eq!(draining.len(), 1);
    let gone = &draining[0];
    assert_eq!(
        s.tasks[gone].desired_status,
        BackendStatus::Running,
        "not told yet"
    );
    assert!(
        service(&s).events[0]
            .message
            .contains("has begun draining connections on 1 tasks")
    );
    assert!(
        s.lb_work()
            .wanted
            .values()
            .flatten()
            .all(|w| &w.task_arn != gone),
        "no longer wanted: the round deregisters it"
    );
    s.schedule_services(10.9);
    assert_eq!(s.tasks[gone].desired_status, BackendStatus::Running);
    s.schedule_services(11.0);
    assert_eq!(
        s.tasks[gone].desired_status,
        BackendStatus::Stopped,
        "delay over"
    );
    assert!(service(&s).draining.is_empty());
    s.submit_task_state_change(
        serde_json::from_value(json!({"task": gone, "status": "STOPPED"})).unwrap(),
        11.5,
    )
    .unwrap();

    // The other task fails its health checks: ignored within the grace period, replaced after.
    let kept = t.iter().find(|a| *a != gone).unwrap().clone();
    round(&mut s, &[], &[(&kept, "unhealthy")], 12.0);
    assert!(
        service(&s).draining.is_empty(),
        "started at 3, grace 10: not yet"
    );
    round(&mut s, &[], &[(&kept, "unhealthy")], 13.0);
    let svc = service(&s);
    assert!(svc.draining.contains_key(&kept));
    assert!(svc.events.iter().any(|e| e.message
        == format!(
            "(service web) (task {}) failed ELB health checks in (target-group {TG})",
            kept.rsplit('/').next().unwrap()
        )));
    assert_eq!(
        svc.draining[&kept].reason,
        format!("Task failed ELB health checks in (target-group {TG})")
    );
    assert_eq!(
        tasks(&s)
            .iter()
            .filter(|a| s.tasks[*a].last_status == BackendStatus::Pending)
            .count(),
        1,
        "a replacement is started while the failing task drains"
    );
}
