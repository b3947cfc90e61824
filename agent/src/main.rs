//! `ecs-agent`: parse the command line, set up logging, run the command, exit with its code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ecs_agent::{AgentError, Cli, exit_code};

fn main() -> ExitCode {
    let result = match Cli::try_parse() {
        Ok(cli) => {
            // Unlocked handles: a held stderr lock would block the agent's log output from
            // other threads for as long as `run` lasts.
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            ecs_agent::dispatch(&cli, &mut out, &mut err)
        }
        Err(e) => Err(AgentError::Usage(e)),
    };
    if let Err(e) = &result {
        report(e);
    }
    exit_code(&result).into()
}

fn report(error: &AgentError) {
    match error {
        // clap formats usage errors, help and version itself (on the right stream).
        AgentError::Usage(e) => {
            let _ = e.print();
        }
        other => {
            let _ = writeln!(std::io::stderr(), "ecs-agent: {other}");
        }
    }
}
