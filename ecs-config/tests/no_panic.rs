//! Property: no file contents and no environment values make loading panic.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests may panic

use std::collections::BTreeMap;

use ecs_config::{HostFacts, SourceFile, Sources, VARS, load};
use proptest::prelude::*;

/// Known variable names, some near-misses, and arbitrary keys.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..VARS.len()).prop_map(|i| VARS[i].name.to_string()),
        (0..VARS.len()).prop_map(|i| format!("{}X", VARS[i].name)),
        ".{0,40}",
    ]
}

/// Values that look like what the parsers expect, and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,60}",
        "[-+]?[0-9.]{0,6}(ns|us|µs|ms|s|m|h){0,3}",
        "\\[[0-9, \"a-z-]{0,20}\\]?",
        "\\{[\"a-z:, 0-9]{0,20}\\}?",
        "[0-9]{0,6}-[0-9]{0,6}",
    ]
}

fn bytes_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..400)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn assignments() -> impl Strategy<Value = String> {
    proptest::collection::vec((key(), value()), 0..20).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_input_never_panics(
        instance in prop_oneof![bytes_text(), assignments()],
        user in prop_oneof![bytes_text(), assignments()],
        env in proptest::collection::btree_map(key(), value(), 0..20),
        port_range in proptest::option::of(".{0,20}"),
        os_release in proptest::option::of(".{0,80}"),
        ipv4_routes in proptest::option::of(".{0,120}"),
        ipv6_routes in proptest::option::of(".{0,160}"),
    ) {
        let sources = Sources {
            instance_file: Some(SourceFile::new("/var/lib/ecs/ecs.config", instance)),
            user_file: Some(SourceFile::new("/etc/ecs/ecs.config", user)),
            env: env.into_iter().collect::<BTreeMap<_, _>>(),
            host: HostFacts {
                ip_local_port_range: port_range,
                os_release,
                ipv4_routes,
                ipv6_routes,
            },
        };
        let loaded = load(&sources);
        let _ = loaded.to_json().to_string();
        for d in &loaded.diagnostics {
            let _ = d.to_string();
            // Only the built-in defaults could cause an internal error.
            prop_assert!(!d.message.contains("internal error"), "{}", d);
        }
        let _ = loaded.config.validate_for_run();
    }

    #[test]
    fn every_variable_accepts_any_value(index in 0..VARS.len(), v in value()) {
        let env = BTreeMap::from([(VARS[index].name.to_string(), v)]);
        let loaded = load(&Sources { env, ..Sources::default() });
        // Whatever happened, it is reported against this key only.
        for d in &loaded.diagnostics {
            prop_assert_eq!(d.key.as_deref(), Some(VARS[index].name));
        }
    }
}
