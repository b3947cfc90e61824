//! Elastic Load Balancing v2 (query protocol): the form body decoded as the front decodes it
//! (`serde_urlencoded` into a map), unflattened and parsed into a typed operation
//! (`elbv2::Op::parse`), applied to a state that holds a load balancer `web`, a target group `tg`
//! with a target and an HTTP:80 listener forwarding to it (`State::apply`), and the answer
//! rendered as XML (`elbv2::response_xml`). Input: the request body.
#![no_main]

use std::collections::BTreeMap;

use ecs_control_plane::elbv2::state::{Scope, State};
use ecs_control_plane::elbv2::{Op, response_xml};
use libfuzzer_sys::fuzz_target;

/// Runs the form `pairs` on `state`; the answer's members.
fn run(state: &mut State, pairs: &[(&str, &str)]) -> Option<serde_json::Value> {
    let form: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let (_, op) = Op::parse(&form).ok()?;
    state.apply(op, 1.0).ok()
}

/// A load balancer, a target group with one target, and a listener forwarding to it.
fn seeded() -> State {
    let mut state = State::new(Scope::new("us-east-1", "123456789012"));
    let _ = run(
        &mut state,
        &[
            ("Action", "CreateLoadBalancer"),
            ("Name", "web"),
            ("Subnets.member.1", "subnet-01234567"),
            ("Subnets.member.2", "subnet-89abcdef"),
        ],
    );
    let lb = state.lbs.keys().next().cloned().unwrap_or_default();
    let _ = run(
        &mut state,
        &[
            ("Action", "CreateTargetGroup"),
            ("Name", "tg"),
            ("Protocol", "HTTP"),
            ("Port", "8080"),
            ("VpcId", "vpc-01234567"),
        ],
    );
    let tg = state.tgs.keys().next().cloned().unwrap_or_default();
    let _ = run(
        &mut state,
        &[
            ("Action", "RegisterTargets"),
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "i-01234567"),
        ],
    );
    let _ = run(
        &mut state,
        &[
            ("Action", "CreateListener"),
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    );
    state
}

fuzz_target!(|data: &[u8]| {
    let Ok(form) = serde_urlencoded::from_bytes::<BTreeMap<String, String>>(data) else {
        return;
    };
    match Op::parse(&form) {
        Ok((action, op)) => {
            let action = action.to_string();
            let mut state = seeded();
            match state.apply(op, 2.0) {
                Ok(result) => {
                    let _ = response_xml(&action, &result, "request-id");
                    let _ = state.take_changes();
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
