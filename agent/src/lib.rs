//! The `ecs-agent` daemon: a wire-compatible Amazon ECS container agent.
//!
//! Today it has the command line and `ecs-agent config`; running the agent comes later. The
//! binary (`main.rs`) only parses arguments, sets up logging, calls [`dispatch`] and turns the
//! result into an exit code with [`exit_code`]; everything else lives here.

pub mod app;
pub mod aws_json;
pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod control;
pub mod credentials;
pub mod endpoint;
pub mod engine;
pub mod env_files;
pub mod exit;
pub mod hostsetup;
pub mod images;
pub mod introspection;
pub mod notify;
pub mod ports;
pub mod proxy;
pub mod retry;
pub mod runtime;
pub mod sdk_error;
pub mod secrets;
pub mod sigv4;
pub mod state;
pub mod state_change;
pub mod task_env;

pub use cli::{Cli, Command, ConfigArgs};
pub use commands::dispatch;
pub use exit::{AgentError, Exit, exit_code};

/// Sets up `tracing` on standard error: `RUST_LOG` if set, else `level` (ECS_LOGLEVEL); JSON lines
/// when `json` (ECS_LOG_OUTPUT_FORMAT=json).
pub fn init_tracing(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests) finds a subscriber already set; that is fine.
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// The `tracing` level for an ECS_LOGLEVEL value (`crit` is `error`; `none` is `off`).
pub fn tracing_level(level: ecs_config::LogLevel) -> &'static str {
    match level {
        ecs_config::LogLevel::Trace => "trace",
        ecs_config::LogLevel::Debug => "debug",
        ecs_config::LogLevel::Info => "info",
        ecs_config::LogLevel::Warn => "warn",
        ecs_config::LogLevel::Error | ecs_config::LogLevel::Crit => "error",
        ecs_config::LogLevel::None => "off",
    }
}
