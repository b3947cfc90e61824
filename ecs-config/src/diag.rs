//! Where a value came from ([`Source`]) and what was wrong with it ([`Diagnostic`]).
//!
//! Every diagnostic names its location (file and line, or `env`) and, when there is one, the key.
//! Diagnostics never contain a secret value.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};

/// Where a configuration value was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Nobody set it: the default applies.
    Default,
    /// A `KEY=VALUE` line of a file (1-based line number).
    File {
        /// The file, as it was named (default path or `--config-file` argument).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The process environment.
    Env,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env => f.write_str("env"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The value was ignored or adjusted; the agent can run.
    Warning,
    /// The reference agent refuses to start with this configuration.
    Error,
}

/// A problem found while reading the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Warning or fatal error.
    pub severity: Severity,
    /// The file and line, or `env`, the problem is at.
    pub location: Source,
    /// The variable concerned, when the problem is about one.
    pub key: Option<String>,
    /// What is wrong and what was done about it. Never contains a secret.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn warning(location: Source, key: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            location,
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    pub(crate) fn error(location: Source, key: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            location,
            key: key.map(str::to_string),
            message: message.into(),
        }
    }

    /// Whether this is a fatal error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic as a JSON object: `severity`, `location`, `key`, `message`.
    pub fn to_json(&self) -> Value {
        json!({
            "severity": self.severity,
            "location": self.location.to_string(),
            "key": self.key,
            "message": self.message,
        })
    }
}

impl fmt::Display for Diagnostic {
    /// `/etc/ecs/ecs.config:3: ECS_RESERVED_PORTS: invalid value ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}
