//! SigV4 verification of a request: the `Authorization` header's parsing, `X-Amz-Date`, the
//! session token, and the canonical request of both flavours (standard and S3), through the
//! public `verify`, `access_key_id` and `scope_service`.
//!
//! Input: `METHOD\npath?query\nName: value\n...\n\nbody`; header lines that are not valid HTTP
//! are skipped (a server never sees them).
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use ecs_control_plane::front::sigv4::{
    Flavor, SecretKey, VerifyOptions, access_key_id, scope_service, verify,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

static KEYS: LazyLock<BTreeMap<String, SecretKey>> = LazyLock::new(|| {
    [
        (
            "AKIAIOSFODNN7EXAMPLE".to_string(),
            SecretKey {
                secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
                session_token: None,
            },
        ),
        (
            "ASIATEMPORARYEXAMPLE".to_string(),
            SecretKey {
                secret: "temporarysecret".to_string(),
                session_token: Some("token".to_string()),
            },
        ),
    ]
    .into()
});

fuzz_target!(|data: &[u8]| {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    let body = body.get(2..).unwrap_or_default();
    let Ok(head) = std::str::from_utf8(head) else {
        return;
    };
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or_default();
    let path_and_query = lines.next().unwrap_or_default();
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let _ = access_key_id(&headers);
    let _ = scope_service(&headers);
    // 2026-11-22T03:15:04Z, when the recorded seeds were signed.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_317_304);
    for (flavor, max_skew) in [
        (Flavor::Standard, None),
        (Flavor::S3, Some(Duration::from_secs(15 * 60))),
    ] {
        let options = VerifyOptions {
            now,
            max_skew,
            flavor,
        };
        if let Err(e) = verify(&*KEYS, method, path_and_query, &headers, body, options) {
            let _ = e.to_string();
        }
    }
});
