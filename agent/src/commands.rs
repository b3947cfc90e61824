//! What each subcommand does. Output goes to the writers passed in, so tests need no process.

use std::io::Write;

use ecs_config::{Loaded, Sources};

use crate::cli::{Cli, Command, ConfigArgs, HealthArgs, HostSetupAction, HostSetupArgs, RunArgs};
use crate::exit::AgentError;

/// Runs the command `cli` names, writing to `out` and `err`.
pub fn dispatch(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), AgentError> {
    match &cli.command {
        Some(Command::Config(args)) => config(cli, args, out, err),
        Some(Command::Health(args)) => health(cli, args, out),
        Some(Command::Run(args)) => run(cli, args, err),
        Some(Command::HostSetup(args)) => host_setup(cli, args, out),
        None => run(cli, &RunArgs::default(), err),
    }
}

/// `ecs-agent run`: loads the configuration (fatal errors exit 5), then runs the agent until
/// SIGTERM or SIGINT.
fn run(cli: &Cli, args: &RunArgs, err: &mut dyn Write) -> Result<(), AgentError> {
    let sources: Sources = ecs_config::read_sources(
        cli.instance_config_file.as_deref(),
        cli.config_file.as_deref(),
    )?;
    let loaded = ecs_config::load(&sources);
    crate::logging::init(&crate::logging::LogSettings::from_config(&loaded.config));
    for d in loaded.warnings() {
        tracing::warn!("{d}");
    }
    for d in loaded.errors() {
        writeln!(err, "error: {d}")?;
    }
    if loaded.errors().count() > 0 {
        return Err(AgentError::InvalidConfig {
            count: loaded.errors().count(),
        });
    }
    let config = std::sync::Arc::new(loaded.config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(AgentError::Output)?;
    let image_cleanup_interval = match args.image_cleanup_interval.as_deref() {
        None => None,
        Some(text) => match ecs_config::parse_go_duration(text) {
            Ok(nanos) if nanos > 0 => Some(std::time::Duration::from_nanos(nanos.unsigned_abs())),
            _ => {
                writeln!(
                    err,
                    "error: --image-cleanup-interval {text:?}: expected a positive Go duration"
                )?;
                return Err(AgentError::InvalidConfig { count: 1 });
            }
        },
    };
    let options = crate::app::RunOptions {
        introspection_listen: args.introspection_listen.clone(),
        image_cleanup_interval,
        credentials_listen: args.credentials_listen.clone(),
    };
    runtime.block_on(async move {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("signal received; stopping (task containers keep running)");
            signal.cancel();
        });
        crate::app::run(config, options, shutdown).await
    })
}

/// `ecs-agent health` (the reference's `-healthcheck`): GET `/v1/metadata` on the introspection
/// port; healthy (exit 0) when the agent answers and is registered, else exit 1.
fn health(cli: &Cli, args: &HealthArgs, out: &mut dyn Write) -> Result<(), AgentError> {
    let addr = match &args.introspection {
        Some(a) => a.clone(),
        None => {
            let sources = ecs_config::read_sources(
                cli.instance_config_file.as_deref(),
                cli.config_file.as_deref(),
            )?;
            let host = ecs_config::load(&sources)
                .config
                .agent_healthcheck_host
                .value;
            format!("{host}:51678")
        }
    };
    match crate::introspection::check_health(&addr, std::time::Duration::from_secs(25)) {
        Ok(arn) => {
            writeln!(out, "healthy: registered as {arn}")?;
            Ok(())
        }
        Err(why) => Err(AgentError::Unhealthy(why)),
    }
}

/// `ecs-agent host-setup apply|remove`: the host routing of [`crate::hostsetup`], with the
/// filters ECS_SKIP_LOCALHOST_TRAFFIC_FILTER and ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS turn off.
fn host_setup(cli: &Cli, args: &HostSetupArgs, out: &mut dyn Write) -> Result<(), AgentError> {
    let sources = ecs_config::read_sources(
        cli.instance_config_file.as_deref(),
        cli.config_file.as_deref(),
    )?;
    let config = ecs_config::load(&sources).config;
    let mut setup =
        crate::hostsetup::HostSetup::from_config(&config, args.port, args.introspection_port);
    setup.state_file.clone_from(&args.state_file);
    let summary = match args.action {
        HostSetupAction::Apply => crate::hostsetup::apply(&setup)?,
        HostSetupAction::Remove => crate::hostsetup::remove(&setup)?,
    };
    writeln!(out, "{summary}")?;
    Ok(())
}

/// `ecs-agent config`: reads the config files and the environment and prints the result.
fn config(
    cli: &Cli,
    args: &ConfigArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), AgentError> {
    if args.markdown_table {
        write!(out, "{}", ecs_config::markdown_table())?;
        return Ok(());
    }
    let sources: Sources = ecs_config::read_sources(
        cli.instance_config_file.as_deref(),
        cli.config_file.as_deref(),
    )?;
    print_config(&ecs_config::load(&sources), out, err)
}

/// Prints `loaded` as JSON on `out` and its diagnostics on `err`; fails if any is fatal.
pub fn print_config(
    loaded: &Loaded,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), AgentError> {
    let json = serde_json::to_string_pretty(&loaded.to_json()).map_err(std::io::Error::from)?;
    writeln!(out, "{json}")?;
    for d in loaded.warnings() {
        writeln!(err, "warning: {d}")?;
    }
    for d in loaded.errors() {
        writeln!(err, "error: {d}")?;
    }
    if let Err(e) = loaded.config.validate_for_run() {
        writeln!(
            err,
            "note: the agent cannot run with this configuration: {e}"
        )?;
    }
    match loaded.errors().count() {
        0 => Ok(()),
        count => Err(AgentError::InvalidConfig { count }),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // tests may panic
mod tests {
    use super::*;
    use ecs_config::SourceFile;

    #[test]
    fn fatal_config_is_printed_and_fails() {
        let loaded = ecs_config::load(&Sources {
            user_file: Some(SourceFile::new("/f", "ECS_INSTANCE_ATTRIBUTES={bad\n")),
            ..Sources::default()
        });
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = print_config(&loaded, &mut out, &mut err);
        assert!(matches!(
            result,
            Err(AgentError::InvalidConfig { count: 1 })
        ));
        let err = String::from_utf8_lossy(&err);
        assert!(
            err.starts_with("error: /f:1: ECS_INSTANCE_ATTRIBUTES: "),
            "{err}"
        );
        let out: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(out["errors"][0]["location"], "/f:1");
    }
}
