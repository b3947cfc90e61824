//! The command line, as clap derive types. Parsing only: what the commands do is in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `ecs-agent --version`: our version and commit, and the reference agent version we implement
/// (and report to ECS, [`crate::version::REFERENCE_VERSION`]).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ECS_AGENT_GIT_HASH"),
    "; compatible with Amazon ECS container agent 1.105.0)"
);

/// A wire-compatible replacement for the Amazon ECS container agent.
#[derive(Debug, Parser)]
#[command(name = "ecs-agent", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// Read this file instead of /etc/ecs/ecs.config (it must exist)
    #[arg(long, global = true, value_name = "PATH")]
    pub config_file: Option<PathBuf>,

    /// Read this file instead of /var/lib/ecs/ecs.config (it must exist)
    #[arg(long, global = true, value_name = "PATH")]
    pub instance_config_file: Option<PathBuf>,

    /// What to do. Without one the agent runs (`run`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent (the default)
    Run(RunArgs),
    /// Print the effective configuration as JSON, each value with its source
    Config(ConfigArgs),
    /// Exit 0 if the local agent answers and is registered, 1 otherwise (the reference's -healthcheck)
    Health(HealthArgs),
    /// Install or remove the host routing for task credentials and metadata (169.254.170.2),
    /// as ecs-init does: systemd's ExecStartPre/ExecStopPost
    HostSetup(HostSetupArgs),
}

/// `apply` or `remove`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HostSetupAction {
    /// Set route_localnet and install the iptables rules (idempotent)
    Apply,
    /// Remove the rules and restore route_localnet (idempotent)
    Remove,
}

/// Options of `ecs-agent host-setup`.
#[derive(Debug, Args)]
pub struct HostSetupArgs {
    /// What to do
    #[arg(value_enum)]
    pub action: HostSetupAction,
    /// The agent's credentials/metadata port on 127.0.0.1
    #[arg(long, default_value_t = 51679)]
    pub port: u16,
    /// The introspection port blocked from off-host
    #[arg(long, default_value_t = 51678)]
    pub introspection_port: u16,
    /// Where `apply` saves the previous route_localnet value for `remove`
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/run/ecs-agent/route_localnet.saved"
    )]
    pub state_file: PathBuf,
}

/// Options of `ecs-agent config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the README's table of variables (Markdown) instead
    #[arg(long)]
    pub markdown_table: bool,
}

/// Options of `ecs-agent run`.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Address of the introspection API (the reference listens on port 51678; off-host access
    /// needs ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true)
    #[arg(long, value_name = "ADDR")]
    pub introspection_listen: Option<String>,

    /// Image cleanup interval (Go duration, e.g. 5s), overriding ECS_IMAGE_CLEANUP_INTERVAL and
    /// its 10-minute minimum; for tests only
    #[arg(long, value_name = "DURATION", hide = true)]
    pub image_cleanup_interval: Option<String>,
    /// Address of the task credentials and metadata server (the reference listens on
    /// 127.0.0.1:51679, which containers reach as 169.254.170.2:80 through `host-setup`)
    #[arg(long, value_name = "ADDR")]
    pub credentials_listen: Option<String>,
}

/// Options of `ecs-agent health`.
#[derive(Debug, Args, Default)]
pub struct HealthArgs {
    /// Introspection address to ask (default: ECS_AGENT_HEALTHCHECK_HOST, port 51678)
    #[arg(long, value_name = "ADDR")]
    pub introspection: Option<String>,
}
