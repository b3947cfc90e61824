//! The agent's errors and the one place that maps them to exit codes.
//!
//! Exit codes follow the reference agent (`agent/sighandlers/exitcodes`) and its systemd unit:
//! 0 stop, 1 restart me, 5 terminal (`RestartPreventExitStatus=5`: do not restart).

use std::process::ExitCode;

use ecs_config::ConfigError;

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success or a clean stop: do not restart.
    Stop = 0,
    /// A failure that may go away: restart the agent.
    Restart = 1,
    /// A failure a restart cannot fix (bad configuration, bad usage): do not restart.
    Terminal = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The command line could not be parsed (or `--help`/`--version` was asked for).
    #[error("{0}")]
    Usage(#[from] clap::Error),
    /// Configuration could not be read or is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration has fatal errors; they were already printed.
    #[error("the configuration has {count} fatal error(s)")]
    InvalidConfig {
        /// How many.
        count: usize,
    },
    /// Docker could not be reached or answered an error.
    #[error("Docker: {0}")]
    Docker(String),
    /// Docker's API is older than 1.21.
    #[error("Docker API {0} is older than the minimum 1.21 this agent needs")]
    DockerTooOld(String),
    /// The state store failed.
    #[error("state: {0}")]
    State(String),
    /// The saved state belongs to another cluster.
    #[error(
        "the data directory holds state of cluster '{saved}' but ECS_CLUSTER is '{configured}'; use the same cluster or remove the state file (ECS_DATADIR/agent.db)"
    )]
    ClusterMismatch {
        /// Cluster in the state file.
        saved: String,
        /// Cluster configured.
        configured: String,
    },
    /// A listener could not be opened.
    #[error("cannot listen on {0}: {1}")]
    Listen(String, String),
    /// The control plane refused us for good or could not be reached.
    #[error("control plane: {0}")]
    Control(String, bool),
    /// `ecs-agent health`: the agent does not answer or is not registered.
    #[error("unhealthy: {0}")]
    Unhealthy(String),
    /// The ACS session ended abnormally.
    #[error("ACS session: {0}")]
    Acs(String),
    /// Writing to standard output or error failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// `host-setup` failed (no privileges, no iptables, a refused rule).
    #[error("host setup: {0}")]
    HostSetup(#[from] crate::hostsetup::HostSetupError),
}

impl AgentError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            // --help and --version are "errors" to clap, with exit code 0.
            AgentError::Usage(e) if e.exit_code() == 0 => Exit::Stop,
            // The reference agent also exits terminal on bad arguments.
            AgentError::Usage(_) => Exit::Terminal,
            // The reference exits 1 on config errors because its region may come from instance
            // metadata later; ours come only from files and the environment, so a restart
            // cannot help.
            AgentError::Config(_) | AgentError::InvalidConfig { .. } => Exit::Terminal,
            AgentError::DockerTooOld(_) | AgentError::ClusterMismatch { .. } => Exit::Terminal,
            AgentError::Control(_, terminal) => {
                if *terminal {
                    Exit::Terminal
                } else {
                    Exit::Restart
                }
            }
            AgentError::Docker(_)
            | AgentError::State(_)
            | AgentError::Listen(..)
            | AgentError::Acs(_)
            | AgentError::Unhealthy(_) => Exit::Restart,
            AgentError::Output(_) => Exit::Restart,
            // systemd must not loop on a pre-start that cannot work.
            AgentError::HostSetup(_) => Exit::Terminal,
        }
    }
}

impl AgentError {
    /// A control-plane error, terminal when the reference treats it so.
    pub fn from_control(e: crate::control::ControlError) -> Self {
        let terminal = e.is_terminal();
        AgentError::Control(e.to_string(), terminal)
    }
}

/// The exit code of a command's result.
pub fn exit_code(result: &Result<(), AgentError>) -> Exit {
    match result {
        Ok(()) => Exit::Stop,
        Err(e) => e.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn codes_follow_the_reference() {
        assert_eq!(exit_code(&Ok(())), Exit::Stop);
        assert_eq!(
            AgentError::DockerTooOld("1.20".into()).exit(),
            Exit::Terminal
        );
        assert_eq!(AgentError::Docker("down".into()).exit(), Exit::Restart);
        assert_eq!(
            AgentError::InvalidConfig { count: 1 }.exit(),
            Exit::Terminal
        );
        assert_eq!(
            AgentError::Config(ConfigError::MissingRegion).exit(),
            Exit::Terminal
        );
        assert_eq!(
            AgentError::Output(std::io::Error::other("x")).exit(),
            Exit::Restart
        );
        let help = crate::Cli::try_parse_from(["ecs-agent", "--help"]).map(|_| ());
        let help = help.map_err(AgentError::from);
        assert_eq!(exit_code(&help), Exit::Stop);
        let bad = crate::Cli::try_parse_from(["ecs-agent", "--bogus"]).map(|_| ());
        assert_eq!(exit_code(&bad.map_err(AgentError::from)), Exit::Terminal);
    }
}
