//! Who this agent says it is: the reference agent version it reports, its own commit hash, and
//! the User-Agent of its AWS calls and websocket upgrades. Owns no behaviour.
//!
//! ECS reads `agentVersion` (the upgrade queries, `versionInfo`) to decide which features an
//! instance supports; a version of this implementation (0.x) would make ECS withhold features
//! the agent implements. So the agent reports the reference release whose behaviour it
//! implements and is compared with on the wire ([`REFERENCE_VERSION`], the newest release tag of
//! the reference source it was studied against; its source already says 1.105.1, never
//! released there), and its own commit as the hash, which tells the builds apart truthfully.

/// The reference agent release this agent implements and reports as `agentVersion`.
pub const REFERENCE_VERSION: &str = "1.105.0";

/// This agent's version (its crate version).
pub const OWN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit this agent was built from, 8 hex digits as the reference reports its own, or
/// `unknown` when built outside git without `ECS_AGENT_GIT_HASH` (build.rs).
pub const GIT_HASH: &str = env!("ECS_AGENT_GIT_HASH");

/// The version string in the reference's form, `Amazon ECS Agent - v<version> (<hash>)`, with
/// this agent's name after it: `... ecs-agent-rs/<own version>`.
pub fn version_string() -> String {
    format!("Amazon ECS Agent - v{REFERENCE_VERSION} ({GIT_HASH}) ecs-agent-rs/{OWN_VERSION}")
}

/// The User-Agent in the reference's form (its `httpclient`): `Amazon ECS Agent - v<version>
/// (<hash>) (<os>; <detailed os family>) (+http://aws.amazon.com/ecs/)`, `(<os>)` alone when
/// there is no detailed family, followed by this agent's product token `ecs-agent-rs/<version>`
/// (the reference appends its own suffix, `container/<name>`, the same way).
pub fn user_agent(detailed_os_family: Option<&str>) -> String {
    let os = std::env::consts::OS;
    let platform = match detailed_os_family.filter(|d| !d.is_empty()) {
        Some(d) => format!("{os}; {d}"),
        None => os.to_string(),
    };
    format!(
        "Amazon ECS Agent - v{REFERENCE_VERSION} ({GIT_HASH}) ({platform}) \
         (+http://aws.amazon.com/ecs/) ecs-agent-rs/{OWN_VERSION}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_a_commit_or_says_it_is_unknown() {
        assert!(
            GIT_HASH == "unknown"
                || (GIT_HASH.len() >= 8 && GIT_HASH.chars().all(|c| c.is_ascii_hexdigit())),
            "{GIT_HASH}"
        );
    }

    #[test]
    fn the_user_agent_has_the_reference_form_and_names_this_agent() {
        let ua = user_agent(Some("debian_12"));
        assert_eq!(
            ua,
            format!(
                "Amazon ECS Agent - v1.105.0 ({GIT_HASH}) (linux; debian_12) \
                 (+http://aws.amazon.com/ecs/) ecs-agent-rs/{OWN_VERSION}"
            )
        );
        assert!(user_agent(None).contains(" (linux) (+http://aws.amazon.com/ecs/) "));
        assert!(version_string().starts_with("Amazon ECS Agent - v1.105.0 ("));
    }

    #[test]
    fn the_command_line_version_names_the_reference_version_and_the_hash() {
        assert!(crate::cli::VERSION.contains(REFERENCE_VERSION));
        assert!(crate::cli::VERSION.contains(GIT_HASH));
    }
}
