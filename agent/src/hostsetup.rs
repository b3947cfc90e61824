//! Host routing for the credentials and metadata server, the part ecs-init does for the
//! reference agent (reference section 5): `ecs-agent host-setup apply|remove`, run by systemd
//! before the agent starts and after it stops.
//!
//! `apply` sets `net.ipv4.conf.all.route_localnet=1` and installs, each only if absent:
//!
//! | table/chain | rule |
//! |---|---|
//! | nat PREROUTING | `-p tcp -d 169.254.170.2 --dport 80 -j DNAT --to-destination 127.0.0.1:<port>` (bridge containers) |
//! | nat OUTPUT | `-p tcp -d 169.254.170.2 --dport 80 -j REDIRECT --to-ports <port>` (host-network processes) |
//! | filter INPUT | `--dst 127.0.0.0/8 ! --src 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP` (unless `ECS_SKIP_LOCALHOST_TRAFFIC_FILTER=true`) |
//! | filter INPUT | `-p tcp --dport <introspection> ! -i lo -j DROP` (unless `ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true`) |
//!
//! `remove` deletes exactly those rules (every copy) and puts `route_localnet` back to the value
//! `apply` found. Both are idempotent. Without the privileges they fail with a clear error and
//! exit code 5 (terminal), never a panic. iptables runs with `-w` so that it waits for the
//! xtables lock rather than failing when Docker holds it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Address containers use for credentials and metadata.
pub const TASK_ADDRESS: &str = "169.254.170.2";
/// The sysctl file.
pub const ROUTE_LOCALNET: &str = "/proc/sys/net/ipv4/conf/all/route_localnet";

/// What to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSetup {
    /// The agent's credentials/metadata port on 127.0.0.1 (51679).
    pub port: u16,
    /// The introspection port (51678).
    pub introspection_port: u16,
    /// Leave out the localhost traffic filter.
    pub skip_localhost_filter: bool,
    /// Leave out the off-host introspection block.
    pub allow_offhost_introspection: bool,
    /// Where `apply` saves the previous `route_localnet` value for `remove`.
    pub state_file: PathBuf,
}

/// Why host setup failed.
#[derive(Debug, thiserror::Error)]
pub enum HostSetupError {
    /// Not root (or no CAP_NET_ADMIN).
    #[error(
        "{what}: permission denied; host-setup needs root (CAP_NET_ADMIN) to change iptables and sysctl"
    )]
    Privileges {
        /// The step.
        what: String,
    },
    /// iptables is not installed.
    #[error("{what}: cannot run iptables: {reason} (install the iptables package)")]
    NoIptables {
        /// The step.
        what: String,
        /// The OS error.
        reason: String,
    },
    /// iptables refused a rule.
    #[error("{what}: iptables failed (exit {code}): {stderr}")]
    Iptables {
        /// The rule.
        what: String,
        /// Exit code.
        code: i32,
        /// What it said.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
}

/// One iptables rule: table, chain, whether it is inserted (first) or appended, and its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `nat` or `filter`.
    pub table: &'static str,
    /// Chain.
    pub chain: &'static str,
    /// `-I` (true) or `-A`.
    pub insert: bool,
    /// The match and target.
    pub spec: Vec<String>,
}

impl Rule {
    fn new(table: &'static str, chain: &'static str, insert: bool, spec: &str) -> Self {
        Rule {
            table,
            chain,
            insert,
            spec: spec.split_whitespace().map(String::from).collect(),
        }
    }

    fn args(&self, op: &str) -> Vec<String> {
        let mut a = vec![
            "-w".to_string(),
            "-t".to_string(),
            self.table.to_string(),
            op.to_string(),
            self.chain.to_string(),
        ];
        a.extend(self.spec.iter().cloned());
        a
    }

    fn describe(&self) -> String {
        format!(
            "iptables -t {} {} {}",
            self.table,
            self.chain,
            self.spec.join(" ")
        )
    }
}

impl HostSetup {
    /// The setup for `config`, with the reference's ports unless given.
    pub fn from_config(config: &ecs_config::Config, port: u16, introspection_port: u16) -> Self {
        HostSetup {
            port,
            introspection_port,
            skip_localhost_filter: config.skip_localhost_traffic_filter.value,
            allow_offhost_introspection: config.allow_offhost_introspection_access.value,
            state_file: PathBuf::from("/run/ecs-agent/route_localnet.saved"),
        }
    }

    /// The rules, in the order `apply` installs them.
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules = vec![
            Rule::new(
                "nat",
                "PREROUTING",
                false,
                &format!(
                    "-p tcp -d {TASK_ADDRESS} --dport 80 -j DNAT --to-destination 127.0.0.1:{}",
                    self.port
                ),
            ),
            Rule::new(
                "nat",
                "OUTPUT",
                false,
                &format!(
                    "-p tcp -d {TASK_ADDRESS} --dport 80 -j REDIRECT --to-ports {}",
                    self.port
                ),
            ),
        ];
        if !self.skip_localhost_filter {
            rules.push(Rule::new(
                "filter",
                "INPUT",
                true,
                "--dst 127.0.0.0/8 ! --src 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
            ));
        }
        if !self.allow_offhost_introspection {
            rules.push(Rule::new(
                "filter",
                "INPUT",
                true,
                &format!("-p tcp --dport {} ! -i lo -j DROP", self.introspection_port),
            ));
        }
        rules
    }
}

/// Runs iptables; a fake in unit tests.
pub trait Iptables {
    /// Runs `iptables args`: `Ok(true)` on exit 0, `Ok(false)` on exit 1 (`-C`: no such rule),
    /// else an error.
    fn run(&mut self, args: &[String], what: &str) -> Result<bool, HostSetupError>;
}

/// The real `iptables` on PATH.
#[derive(Debug, Default)]
pub struct SystemIptables;

impl Iptables for SystemIptables {
    fn run(&mut self, args: &[String], what: &str) -> Result<bool, HostSetupError> {
        let out = Command::new("iptables").args(args).output().map_err(|e| {
            HostSetupError::NoIptables {
                what: what.to_string(),
                reason: e.to_string(),
            }
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status.code() {
            Some(0) => Ok(true),
            _ if stderr.contains("Permission denied") || stderr.contains("must be root") => {
                Err(HostSetupError::Privileges {
                    what: what.to_string(),
                })
            }
            // `-C`/`-D` of a rule that is not there: exit 1 ("does a matching rule exist").
            Some(1)
                if stderr.is_empty()
                    || stderr.contains("does a matching rule exist")
                    || stderr.contains("No chain/target/match")
                    || stderr.contains("Bad rule") =>
            {
                Ok(false)
            }
            code => Err(HostSetupError::Iptables {
                what: what.to_string(),
                code: code.unwrap_or(-1),
                stderr,
            }),
        }
    }
}

fn file_error(path: &Path, e: &std::io::Error) -> HostSetupError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        HostSetupError::Privileges {
            what: format!("writing {}", path.display()),
        }
    } else {
        HostSetupError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// Installs the rules that are missing; returns how many were added.
pub fn apply_rules(setup: &HostSetup, ipt: &mut dyn Iptables) -> Result<usize, HostSetupError> {
    let mut added = 0;
    for rule in setup.rules() {
        let what = rule.describe();
        if ipt.run(&rule.args("-C"), &what)? {
            continue;
        }
        let op = if rule.insert { "-I" } else { "-A" };
        if !ipt.run(&rule.args(op), &what)? {
            return Err(HostSetupError::Iptables {
                what,
                code: 1,
                stderr: "the rule was not added".into(),
            });
        }
        added += 1;
    }
    Ok(added)
}

/// Deletes every copy of the rules; returns how many were deleted.
pub fn remove_rules(setup: &HostSetup, ipt: &mut dyn Iptables) -> Result<usize, HostSetupError> {
    let mut removed = 0;
    for rule in setup.rules() {
        let what = rule.describe();
        // Bounded: a rule present many times is removed once per round.
        for _ in 0..64 {
            if !ipt.run(&rule.args("-C"), &what)? {
                break;
            }
            ipt.run(&rule.args("-D"), &what)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `host-setup apply`: sysctl, then the rules.
pub fn apply(setup: &HostSetup) -> Result<String, HostSetupError> {
    let sysctl = Path::new(ROUTE_LOCALNET);
    let before = std::fs::read_to_string(sysctl)
        .map_err(|e| file_error(sysctl, &e))?
        .trim()
        .to_string();
    if before != "1" {
        if let Some(dir) = setup.state_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| file_error(dir, &e))?;
        }
        std::fs::write(&setup.state_file, &before)
            .map_err(|e| file_error(&setup.state_file, &e))?;
        std::fs::write(sysctl, "1").map_err(|e| file_error(sysctl, &e))?;
    }
    let added = apply_rules(setup, &mut SystemIptables)?;
    Ok(format!(
        "route_localnet=1; {added} iptables rule(s) added, {} already present",
        setup.rules().len() - added
    ))
}

/// `host-setup remove`: the rules, then sysctl back to what `apply` found.
pub fn remove(setup: &HostSetup) -> Result<String, HostSetupError> {
    let removed = remove_rules(setup, &mut SystemIptables)?;
    let mut restored = String::new();
    if let Ok(saved) = std::fs::read_to_string(&setup.state_file) {
        let sysctl = Path::new(ROUTE_LOCALNET);
        std::fs::write(sysctl, saved.trim()).map_err(|e| file_error(sysctl, &e))?;
        std::fs::remove_file(&setup.state_file).map_err(|e| file_error(&setup.state_file, &e))?;
        restored = format!("; route_localnet restored to {}", saved.trim());
    }
    Ok(format!("{removed} iptables rule(s) removed{restored}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Keeps rules in a list, as iptables would.
    #[derive(Default)]
    struct FakeIptables {
        rules: Vec<Vec<String>>,
        deny: bool,
    }

    impl Iptables for FakeIptables {
        fn run(&mut self, args: &[String], what: &str) -> Result<bool, HostSetupError> {
            if self.deny {
                return Err(HostSetupError::Privileges { what: what.into() });
            }
            let op = args[3].as_str();
            let mut key = args.to_vec();
            key[3] = String::new();
            match op {
                "-C" => Ok(self.rules.contains(&key)),
                "-A" | "-I" => {
                    self.rules.push(key);
                    Ok(true)
                }
                "-D" => {
                    let at = self.rules.iter().position(|r| r == &key);
                    Ok(at.map(|i| self.rules.remove(i)).is_some())
                }
                _ => unreachable!(),
            }
        }
    }

    fn setup() -> HostSetup {
        HostSetup {
            port: 40001,
            introspection_port: 51678,
            skip_localhost_filter: false,
            allow_offhost_introspection: false,
            state_file: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn rules_are_the_reference_ones_pointing_at_our_port() {
        let rules = setup().rules();
        assert_eq!(rules.len(), 4);
        assert_eq!(
            rules[0].describe(),
            "iptables -t nat PREROUTING -p tcp -d 169.254.170.2 --dport 80 -j DNAT --to-destination 127.0.0.1:40001"
        );
        assert!(
            rules[1]
                .spec
                .ends_with(&["--to-ports".into(), "40001".into()])
        );
        let mut s = setup();
        s.skip_localhost_filter = true;
        s.allow_offhost_introspection = true;
        assert_eq!(s.rules().len(), 2);
    }

    #[test]
    fn apply_and_remove_are_idempotent_and_reverse() {
        let mut ipt = FakeIptables::default();
        assert_eq!(apply_rules(&setup(), &mut ipt).unwrap(), 4);
        assert_eq!(apply_rules(&setup(), &mut ipt).unwrap(), 0);
        assert_eq!(ipt.rules.len(), 4);
        assert_eq!(remove_rules(&setup(), &mut ipt).unwrap(), 4);
        assert!(ipt.rules.is_empty());
        assert_eq!(remove_rules(&setup(), &mut ipt).unwrap(), 0);
    }

    #[test]
    fn no_privileges_is_a_clear_error() {
        let mut ipt = FakeIptables {
            deny: true,
            ..FakeIptables::default()
        };
        let e = apply_rules(&setup(), &mut ipt).unwrap_err();
        assert!(e.to_string().contains("permission denied"), "{e}");
        assert!(e.to_string().contains("needs root"), "{e}");
    }
}
