//! RegisterTaskDefinition's checks: `taskdef_check::check` on the body as JSON, then the whole
//! registration on an in-memory `State` (the typed parse, the container and memory rules,
//! volumes, links, `dependsOn`, placement constraints, `requiresAttributes`), and a
//! DescribeTaskDefinition of what was registered. Input: the request body.
#![no_main]

use ecs_control_plane::ecs::state::{Account, State};
use ecs_control_plane::ecs::taskdef_check;
use ecs_control_plane::front::json::decode;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = taskdef_check::check(&body);
    let mut state = State::new(Account {
        region: "us-east-1".to_string(),
        account_id: "123456789012".to_string(),
    });
    let Ok(registered) = state.register_task_definition(body, 1_795_317_304.0) else {
        return;
    };
    let Some(arn) = registered
        .pointer("/taskDefinition/taskDefinitionArn")
        .and_then(Value::as_str)
    else {
        return;
    };
    let request = serde_json::json!({ "taskDefinition": arn }).to_string();
    if let Ok(req) = decode(request.as_bytes()) {
        let _ = state.describe_task_definition(req);
    }
});
