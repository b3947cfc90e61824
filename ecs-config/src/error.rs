//! Errors of this crate. Warnings are not errors: they are [`crate::Diagnostic`]s.

use std::io;
use std::path::PathBuf;

use crate::diag::Diagnostic;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file named explicitly (`--config-file`, `--instance-config-file`) does not exist.
    #[error("config file {} does not exist", path.display())]
    MissingFile {
        /// The path as given.
        path: PathBuf,
    },
    /// A config file exists but cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Values the reference agent refuses to start with. Each diagnostic names file, line and key.
    #[error("invalid configuration: {}", join(.0))]
    Invalid(Vec<Diagnostic>),
    /// No region: the reference agent's "Missing required fields: AWSRegion". We have no instance
    /// metadata service to ask, so the region must be configured.
    #[error(
        "Missing required fields: AWSRegion (set AWS_DEFAULT_REGION in /etc/ecs/ecs.config or the environment)"
    )]
    MissingRegion,
}

fn join(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
