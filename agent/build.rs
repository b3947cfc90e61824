//! Sets `ECS_AGENT_GIT_HASH`: the first 8 hex digits of the commit this agent is built from
//! (what the reference agent reports as `agentHash`), `$ECS_AGENT_GIT_HASH` if set (a packager
//! building outside git), else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ECS_AGENT_GIT_HASH");
    let hash = std::env::var("ECS_AGENT_GIT_HASH")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| git(&["rev-parse", "--short=8", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // A new commit moves HEAD's reflog; rebuild then so the hash stays true.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
    println!("cargo:rustc-env=ECS_AGENT_GIT_HASH={hash}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}
