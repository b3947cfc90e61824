//! The ECS agent's configuration, as a host running the reference agent under systemd and
//! ecs-init sees it: reference defaults, then `/var/lib/ecs/ecs.config` (instance file), then
//! `/etc/ecs/ecs.config` (user file), then the process environment (highest).
//!
//! [`load`] is pure: it turns [`Sources`] into a typed [`Config`] (each value with its
//! [`Source`]) plus [`Diagnostic`]s, and never fails; fatal problems are diagnostics of severity
//! error, which [`Loaded::into_result`] turns into [`ConfigError::Invalid`]. [`read_sources`]
//! is the only function that reads files or the environment.
//!
//! This crate must not log, print, or start anything; secrets ([`Secret`]) are redacted in
//! `Debug`, `Serialize` and every message.

mod diag;
mod error;
mod go;
mod parse;
mod routes;
mod source;
mod types;
mod vars;

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub use diag::{Diagnostic, Severity, Source};
pub use error::ConfigError;
pub use go::{format_duration, parse_bool as parse_go_bool, parse_duration as parse_go_duration};
pub use routes::DefaultRoutes;
pub use source::{
    DEFAULT_INSTANCE_FILE, DEFAULT_USER_FILE, HostFacts, IP_LOCAL_PORT_RANGE, IPV4_ROUTES,
    IPV6_ROUTES, OS_RELEASE, SourceFile, Sources, read_sources,
};
pub use types::{
    ConfigValue, EngineAuthType, ImagePullBehavior, IpCompatibility, LogLevel, LogOutputFormat,
    LogRolloverType, LoggingDriver, PortRange, PropagateTagsFrom, ProxyUrl, REDACTED, RateLimit,
    Secret,
};
pub use vars::{Acts, Config, Setting, VARS, VarSpec, var};

/// The result of [`load`]: the configuration and everything worth telling about it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The effective configuration. With fatal diagnostics, the offending values hold defaults.
    pub config: Config,
    /// Warnings and fatal errors, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// The config files that were read, lowest precedence first.
    pub files: Vec<std::path::PathBuf>,
}

impl Loaded {
    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }

    /// The fatal errors: the reference agent would refuse to start.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Whether there are fatal errors.
    pub fn is_fatal(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The configuration if there are no fatal errors, else [`ConfigError::Invalid`] with them.
    pub fn into_result(self) -> Result<Config, ConfigError> {
        if self.is_fatal() {
            Err(ConfigError::Invalid(
                self.diagnostics
                    .into_iter()
                    .filter(Diagnostic::is_error)
                    .collect(),
            ))
        } else {
            Ok(self.config)
        }
    }

    /// What `ecs-agent config` prints: `files`, `config` (every variable with `value` and
    /// `source`), `warnings` and `errors`. Secrets are redacted.
    pub fn to_json(&self) -> Value {
        json!({
            "files": self.files.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
            "config": self.config.values_json(),
            "warnings": self.warnings().map(Diagnostic::to_json).collect::<Vec<_>>(),
            "errors": self.errors().map(Diagnostic::to_json).collect::<Vec<_>>(),
        })
    }
}

impl Default for Config {
    /// The configuration with nothing set: every default, no host facts (the fallback dynamic
    /// port range, OS family `linux`). Handy in other crates' tests.
    fn default() -> Self {
        load(&Sources::default()).config
    }
}

impl Config {
    /// The region AWS calls use: `AWS_DEFAULT_REGION`, else `AWS_REGION`.
    pub fn region(&self) -> Option<&str> {
        self.aws_default_region
            .value
            .as_deref()
            .or(self.aws_region.value.as_deref())
    }

    /// Whether the instance is IPv6-only (`ECS_INSTANCE_IP_COMPATIBILITY` is `ipv6`, set or
    /// detected): dual-stack endpoints, and no `0.0.0.0` bindings in reports.
    pub fn ipv6_only(&self) -> bool {
        self.instance_ip_compatibility.value == Some(IpCompatibility::Ipv6)
    }

    /// Checks what running the agent needs beyond a parseable configuration: a region (the
    /// reference agent's only required field; on EC2 the agent fills it in from instance
    /// metadata before this check).
    pub fn validate_for_run(&self) -> Result<(), ConfigError> {
        match self.region() {
            Some(_) => Ok(()),
            None => Err(ConfigError::MissingRegion),
        }
    }
}

/// Builds the configuration from `sources`. Pure and total: never panics, never fails.
pub fn load(sources: &Sources) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut raw: BTreeMap<String, source::Entry> = BTreeMap::new();
    let mut files = Vec::new();

    for file in [&sources.instance_file, &sources.user_file]
        .into_iter()
        .flatten()
    {
        files.push(file.path.clone());
        for entry in source::parse_env_file(file, &mut diagnostics) {
            check_key(&entry, &mut diagnostics);
            raw.insert(entry.key.clone(), entry);
        }
    }
    for entry in source::env_entries(&sources.env) {
        if vars::var(&entry.key).is_some() || entry.key.starts_with("ECS_") {
            check_key(&entry, &mut diagnostics);
            raw.insert(entry.key.clone(), entry);
        }
    }

    if let Some(contents) = &sources.host.ip_local_port_range
        && parse::kernel_port_range(contents).is_none()
    {
        diagnostics.push(Diagnostic::warning(
            Source::File {
                path: IP_LOCAL_PORT_RANGE.into(),
                line: 1,
            },
            Some("ECS_DYNAMIC_HOST_PORT_RANGE"),
            format!(
                "cannot read the kernel's port range; the default is {}",
                PortRange::FALLBACK
            ),
        ));
    }

    let ctx = vars::Context {
        host: &sources.host,
        raw: &raw,
    };
    let mut config = Config::resolve(&ctx, &mut diagnostics);
    vars::apply_cross_rules(&mut config, &mut diagnostics);
    sort_by_location(&mut diagnostics, &files);
    Loaded {
        config,
        diagnostics,
        files,
    }
}

/// Orders diagnostics as a reader meets them: the instance file, then the user file, line by line,
/// then the environment, then the rest. Stable, so one line's diagnostics keep their order.
fn sort_by_location(diagnostics: &mut [Diagnostic], files: &[std::path::PathBuf]) {
    diagnostics.sort_by_key(|d| match &d.location {
        Source::File { path, line } => (
            files.iter().position(|f| f == path).unwrap_or(files.len()),
            *line,
        ),
        Source::Env => (files.len() + 1, 0),
        Source::Default => (files.len() + 2, 0),
    });
}

/// Warns about `ECS_` keys this agent does not know, naming the closest known one.
fn check_key(entry: &source::Entry, diags: &mut Vec<Diagnostic>) {
    let key = entry.key.as_str();
    if vars::var(key).is_some() || !key.starts_with("ECS_") {
        return;
    }
    let message = if vars::WINDOWS_ONLY.contains(&key) {
        "applies to Windows only; ignored".to_string()
    } else {
        format!(
            "unknown key; ignored (closest known key: {})",
            vars::closest(key)
        )
    };
    diags.push(Diagnostic::warning(
        entry.source.clone(),
        Some(key),
        message,
    ));
}

/// The README's configuration table (Markdown), generated from [`VARS`].
pub fn markdown_table() -> String {
    let mut out = String::from(
        "Generated from `ecs-config/src/vars.rs`; regenerate with \
         `cargo run -p ecs-agent -- config --markdown-table` (or `UPDATE_README=1 cargo test -p \
         ecs-config --test readme`). Defaults are those of a host where ecs-init starts the \
         reference agent; *agent alone* is the reference agent's own default, which an empty or \
         invalid value falls back to. *Acted on* says whether this agent does what the row \
         says; a variable it does not act on is still parsed, checked and shown by \
         `ecs-agent config`.\n\n\
         | Variable | Default | Meaning | Acted on |\n|---|---|---|---|\n",
    );
    for v in VARS {
        let mut default = if !v.literal_default {
            v.default.to_string()
        } else if v.default.is_empty() {
            "unset".to_string()
        } else {
            code(v.default)
        };
        if let Some(fallback) = v.fallback {
            let fallback = if fallback.is_empty() {
                "unset".to_string()
            } else {
                code(fallback)
            };
            default.push_str(&format!(" (agent alone: {fallback})"));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            v.name,
            cell(&default),
            cell(v.meaning),
            cell(&v.acts.describe())
        ));
    }
    out
}

fn code(text: &str) -> String {
    format!("`{text}`")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
