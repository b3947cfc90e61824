//! S3's REST request parsing: the request line (`s3::parse_op`: method, path-style bucket and
//! key, query subresources, ListObjectsV2's parameters and continuation token), a `Range`
//! header (`s3::parse_range`), the XML bodies the emulator reads (`s3::element_texts`), and a
//! parsed listing's page over a fixed bucket (`store::list_page`).
//!
//! Input: `METHOD\npath\nquery\nRange header value\nXML body`.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use ecs_control_plane::s3::store::{ObjectMeta, list_page};
use ecs_control_plane::s3::{Op, element_texts, parse_op, parse_range};
use http::Method;
use libfuzzer_sys::fuzz_target;

static OBJECTS: LazyLock<BTreeMap<String, ObjectMeta>> = LazyLock::new(|| {
    [
        "a",
        "a/b",
        "a/b/c",
        "a/c",
        "b",
        "b/",
        "c%2F",
        "photos/2026/x.jpg",
        "z",
    ]
    .into_iter()
    .map(|key| {
        (
            key.to_string(),
            ObjectMeta {
                size: key.len() as u64,
                etag: "\"d41d8cd98f00b204e9800998ecf8427e\"".to_string(),
                content_type: "text/plain".to_string(),
                last_modified: 1_795_317_304,
                blob: key.to_string(),
            },
        )
    })
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(5, '\n');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let range = parts.next();
    let body = parts.next().unwrap_or_default();
    if let Ok(method) = Method::from_bytes(method.as_bytes())
        && let Ok(Op::ListObjectsV2 { params, .. }) = parse_op(&method, path, query)
    {
        let _ = list_page(&OBJECTS, &params);
    }
    for size in [0, 1, 100, u64::MAX] {
        let _ = parse_range(range, size);
    }
    for tag in ["Key", "LocationConstraint", "Quiet"] {
        let _ = element_texts(body, tag);
    }
});
