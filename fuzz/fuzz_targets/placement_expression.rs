//! The cluster query language (`memberOf` expressions): `parse_expression`, then the parsed
//! expression evaluated against a fixed instance. The input is the expression as typed.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use ecs_control_plane::ecs::model::Attribute;
use ecs_control_plane::ecs::placement::attrs::{InstanceFacts, parse_expression};
use libfuzzer_sys::fuzz_target;

static ATTRIBUTES: LazyLock<Vec<Attribute>> = LazyLock::new(|| {
    [
        ("ecs.os-type", Some("linux")),
        ("ecs.instance-type", Some("t3.medium")),
        ("ecs.availability-zone", Some("us-east-1a")),
        ("ecs.cpu-architecture", Some("x86_64")),
        ("stack", Some("prod")),
        ("com.amazonaws.ecs.capability.docker-remote-api.1.44", None),
    ]
    .into_iter()
    .map(|(name, value)| Attribute {
        name: name.to_string(),
        value: value.map(str::to_string),
        target_type: None,
        target_id: None,
    })
    .collect()
});

static GROUPS: LazyLock<BTreeMap<String, usize>> = LazyLock::new(|| {
    [
        ("family:web".to_string(), 2),
        ("service:api".to_string(), 1),
    ]
    .into()
});

fuzz_target!(|data: &[u8]| {
    let Ok(expression) = std::str::from_utf8(data) else {
        return;
    };
    match parse_expression(expression) {
        Ok(expr) => {
            let facts = InstanceFacts {
                attributes: &ATTRIBUTES,
                ec2_instance_id: "i-0abc123",
                agent_connected: true,
                agent_version: Some("1.105.0"),
                registered_at: 1_795_317_304.5,
                running_tasks_count: 3,
                task_groups: &GROUPS,
            };
            let _ = expr.eval(&facts);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
