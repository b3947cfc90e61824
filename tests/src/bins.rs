//! Finding the workspace's binaries (`ecs-agent`, `ecs-control-plane`) built beside this test.
//!
//! Cargo only builds binaries of the package under test, and `ecs-e2e-tests` must not depend on
//! the binaries' crates to get them, so the test suite's command builds them first
//! (`cargo build --workspace --bins`) and the tests find them in the same target directory.

use std::path::PathBuf;

/// The `target/<profile>` directory the running test executable was built in.
///
/// Test executables live in `target/<profile>/deps/`, examples in `target/<profile>/examples/`.
/// The tests package's directory, as cargo sets it for the running test (read at run time: a
/// compile-time `env!` would keep the path of whichever checkout first built an unchanged
/// binary in a shared target directory).
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The task definition fixture that sets every field ECS accepts.
pub fn every_field_fixture() -> PathBuf {
    manifest_dir().join("fixtures/taskdef-every-field.json")
}

pub fn target_profile_dir() -> PathBuf {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("cannot find the running test executable: {e}"),
    };
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.pop();
    }
    dir
}

/// Where the workspace binary `name` would be: `target/<profile>/<name>`. It may not exist.
pub fn workspace_bin_path(name: &str) -> PathBuf {
    target_profile_dir().join(name)
}

/// The path of the workspace binary `name`, built in the same target directory and profile as
/// the running test.
///
/// # Panics
///
/// When the binary is missing, with a message saying how to build it: a test cannot do without.
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = workspace_bin_path(name);
    if !path.is_file() {
        panic!(
            "workspace binary `{name}` not found at {}: build the binaries first with \
             `cargo build --workspace --bins` (same profile and CARGO_TARGET_DIR as the tests), \
             or run the whole suite with `scripts/test`",
            path.display()
        );
    }
    path
}
