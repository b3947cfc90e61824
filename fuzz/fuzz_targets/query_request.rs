//! The AWS query protocol (STS): the form body decoded as the front decodes it
//! (`serde_urlencoded` into a map), then `sts::handle` (Action, DurationSeconds, RoleArn,
//! RoleSessionName) with keys issued into an in-memory store. Input: the request body.
#![no_main]

use std::collections::BTreeMap;

use ecs_control_plane::front::CallerIdentity;
use ecs_control_plane::store::Store;
use ecs_control_plane::sts::{self, keys::TempKeys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = serde_urlencoded::from_bytes::<BTreeMap<String, String>>(data) else {
        return;
    };
    let Ok(store) = Store::in_memory() else {
        return;
    };
    let Ok(keys) = TempKeys::restore(&[], store) else {
        return;
    };
    let caller = CallerIdentity {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".to_string(),
        arn: "arn:aws:iam::123456789012:root".to_string(),
        user_id: "123456789012".to_string(),
    };
    if let Err(e) = sts::handle(&keys, "123456789012", &caller, &form, 1_795_317_304.0) {
        let _ = e.to_string();
        let _ = sts::error_xml(&e, "request-id");
    }
});
