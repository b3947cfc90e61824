//! The README's configuration table is generated from the variable table; this test keeps them
//! equal. Regenerate with `UPDATE_README=1 cargo test -p ecs-config --test readme` or
//! `cargo run -p ecs-agent -- config --markdown-table`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests may panic

use std::path::PathBuf;

const START: &str = "<!-- config-table:start -->";
const END: &str = "<!-- config-table:end -->";

#[test]
fn readme_table_matches_the_variable_table() {
    let path = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let start = readme
        .find(START)
        .expect("README.md lacks the start marker")
        + START.len();
    let end = readme.find(END).expect("README.md lacks the end marker");
    assert!(start <= end, "README.md markers are out of order");
    let generated = format!("\n{}", ecs_config::markdown_table());
    if readme[start..end] == generated {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{generated}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).expect("write README.md");
        return;
    }
    panic!(
        "README.md's configuration table is out of date. Regenerate it with\n\
         \n    UPDATE_README=1 cargo test -p ecs-config --test readme\n\n\
         (or paste the output of `cargo run -p ecs-agent -- config --markdown-table` between the \
         {START} and {END} lines)."
    );
}
