//! What `packaging/ecs.config` (installed as `/etc/ecs/ecs.config`) offers an operator is
//! accepted: the log levels its comment lists and its logging lines, uncommented, load without a
//! warning or an error.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests may panic

use std::path::PathBuf;

use ecs_config::{Sources, load};

fn packaged() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/ecs.config");
    std::fs::read_to_string(&path).expect("read packaging/ecs.config")
}

fn diagnostics(name: &str, value: &str) -> Vec<String> {
    let loaded = load(&Sources {
        env: [(name.to_string(), value.to_string())].into(),
        ..Sources::default()
    });
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.key.as_deref() == Some(name))
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_log_levels_the_packaged_config_lists_are_accepted() {
    let text = packaged();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("#ECS_LOGLEVEL="))
        .expect("packaging/ecs.config offers ECS_LOGLEVEL");
    // The comment above it lists the levels: "# crit, error, warn, info, debug or trace."
    let comment = lines[at - 1];
    let levels: Vec<&str> = comment
        .trim_start_matches('#')
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty() && *w != "or")
        .collect();
    assert!(levels.contains(&"trace"), "{comment}");
    assert!(levels.len() >= 5, "{comment}");
    for level in levels {
        for name in ["ECS_LOGLEVEL", "ECS_LOGLEVEL_ON_INSTANCE"] {
            assert_eq!(
                diagnostics(name, level),
                Vec::<String>::new(),
                "{name}={level}"
            );
        }
    }
}

#[test]
fn the_packaged_logging_lines_are_accepted_uncommented() {
    let text = packaged();
    let offered: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#')?.split_once('='))
        .filter(|(k, _)| k.starts_with("ECS_LOG"))
        .collect();
    assert!(
        offered.iter().any(|(k, _)| *k == "ECS_LOGFILE"),
        "{offered:?}"
    );
    for (name, value) in offered {
        assert_eq!(
            diagnostics(name, value),
            Vec::<String>::new(),
            "{name}={value}"
        );
    }
}
