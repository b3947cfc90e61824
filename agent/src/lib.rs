//! The `ecs-agent` daemon: a wire-compatible Amazon ECS container agent.
//!
//! Today it has the command line and `ecs-agent config`; running the agent comes later. The
//! binary (`main.rs`) only parses arguments, sets up logging, calls [`dispatch`] and turns the
//! result into an exit code with [`exit_code`]; everything else lives here.

pub mod agent_metrics;
pub mod app;
pub mod aws_json;
pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod container_metadata;
pub mod control;
pub mod credentials;
pub mod endpoint;
pub mod engine;
pub mod env_files;
pub mod exit;
pub mod hostsetup;
pub mod images;
pub mod introspection;
pub mod logging;
pub mod notify;
pub mod ports;
pub mod prometheus;
pub mod proxy;
pub mod retry;
pub mod runtime;
pub mod runtime_stats;
#[cfg(test)]
mod sdk_capture;
pub mod sdk_error;
pub mod secrets;
pub mod sigv4;
pub mod state;
pub mod state_change;
pub mod stats;
pub mod task_env;
pub mod trust;
pub mod version;

pub use cli::{Cli, Command, ConfigArgs};
pub use commands::dispatch;
pub use exit::{AgentError, Exit, exit_code};
