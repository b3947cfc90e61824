//! No module import cycles in the workspace's crates (see `ecs_e2e_tests::module_graph` for the
//! rules: no cycle between top-level modules, none between sibling files of a folder). Pure source
//! scans: no Docker, no network.

use std::path::PathBuf;

/// The `src` directory of the workspace crate in folder `krate` (beside this `tests` package).
fn crate_src(krate: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

/// Fails with every cycle found in the crate whose sources are in `src`, and where each edge is.
fn assert_no_import_cycles(src: &std::path::Path) {
    let cycles = ecs_e2e_tests::module_graph::cycles(src)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
    assert!(
        cycles.is_empty(),
        "module import cycles in {}:\n{}",
        src.display(),
        cycles.iter().map(ToString::to_string).collect::<String>()
    );
}

#[test]
fn agent_modules_have_no_import_cycles() {
    assert_no_import_cycles(&crate_src("agent"));
}

#[test]
fn control_plane_modules_have_no_import_cycles() {
    assert_no_import_cycles(&crate_src("control-plane"));
}
