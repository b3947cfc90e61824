//! The inputs of configuration: the two `KEY=VALUE` files, the environment, and facts read from
//! the host. This module turns file text into entries; it does not know what the keys mean.
//!
//! The only I/O in the crate is here, in [`read_sources`] and [`HostFacts::read`]; everything
//! else works on the [`Sources`] value they return, so tests and fuzzing need no files.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Source};
use crate::error::ConfigError;

/// Instance config file written by installers (e.g. the ECS Anywhere install script).
pub const DEFAULT_INSTANCE_FILE: &str = "/var/lib/ecs/ecs.config";
/// User config file; overrides the instance file.
pub const DEFAULT_USER_FILE: &str = "/etc/ecs/ecs.config";
/// The kernel's ephemeral port range, the default of `ECS_DYNAMIC_HOST_PORT_RANGE`.
pub const IP_LOCAL_PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
/// Source of the default of `ECS_DETAILED_OS_FAMILY`.
pub const OS_RELEASE: &str = "/etc/os-release";
/// The IPv4 route table, for the default of `ECS_INSTANCE_IP_COMPATIBILITY`.
pub const IPV4_ROUTES: &str = "/proc/net/route";
/// The IPv6 route table, for the default of `ECS_INSTANCE_IP_COMPATIBILITY`.
pub const IPV6_ROUTES: &str = "/proc/net/ipv6_route";

/// A config file's name and text.
#[derive(Clone)]
pub struct SourceFile {
    /// The path, as shown in diagnostics and sources.
    pub path: PathBuf,
    /// The whole file.
    pub contents: String,
}

impl SourceFile {
    /// A file with the given path and contents.
    pub fn new(path: impl Into<PathBuf>, contents: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            contents: contents.into(),
        }
    }
}

impl fmt::Debug for SourceFile {
    // The contents may hold ECS_ENGINE_AUTH_DATA: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("path", &self.path)
            .field("bytes", &self.contents.len())
            .finish()
    }
}

/// Facts about the host that some defaults come from, read once by [`HostFacts::read`] and
/// injectable in tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Contents of `/proc/sys/net/ipv4/ip_local_port_range` (e.g. `"32768\t60999\n"`), if readable.
    pub ip_local_port_range: Option<String>,
    /// Contents of `/etc/os-release`, if readable.
    pub os_release: Option<String>,
    /// Contents of `/proc/net/route`, if readable.
    pub ipv4_routes: Option<String>,
    /// Contents of `/proc/net/ipv6_route`, if readable (absent when IPv6 is disabled).
    pub ipv6_routes: Option<String>,
}

impl HostFacts {
    /// Reads the facts from this host. Unreadable files are simply absent.
    pub fn read() -> Self {
        Self {
            ip_local_port_range: std::fs::read_to_string(IP_LOCAL_PORT_RANGE).ok(),
            os_release: std::fs::read_to_string(OS_RELEASE).ok(),
            ipv4_routes: std::fs::read_to_string(IPV4_ROUTES).ok(),
            ipv6_routes: std::fs::read_to_string(IPV6_ROUTES).ok(),
        }
    }
}

/// Everything configuration is made from, lowest precedence first.
#[derive(Clone, Default)]
pub struct Sources {
    /// `/var/lib/ecs/ecs.config` or its replacement; `None` when absent.
    pub instance_file: Option<SourceFile>,
    /// `/etc/ecs/ecs.config` or its replacement; `None` when absent.
    pub user_file: Option<SourceFile>,
    /// The process environment (values may be secrets).
    pub env: BTreeMap<String, String>,
    /// Facts read from the host for computed defaults.
    pub host: HostFacts,
}

impl Sources {
    /// Sources made of these environment variables only: no files, default host facts (tests
    /// and tools that configure through the environment).
    pub fn from_env(pairs: &[(&str, &str)]) -> Self {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            ..Sources::default()
        }
    }
}

impl fmt::Debug for Sources {
    // Environment values and file contents may be secrets: show names and sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("instance_file", &self.instance_file)
            .field("user_file", &self.user_file)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("host", &self.host)
            .finish()
    }
}

/// Reads the config files and the environment of this process.
///
/// `instance` and `user` replace the default paths when given; a missing file is fine at a default
/// path and an error ([`ConfigError::MissingFile`]) when named explicitly. Any other read error is
/// reported for both. Non-UTF-8 bytes are replaced (U+FFFD) rather than rejected.
pub fn read_sources(instance: Option<&Path>, user: Option<&Path>) -> Result<Sources, ConfigError> {
    let env = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    Ok(Sources {
        instance_file: read_config_file(instance, DEFAULT_INSTANCE_FILE)?,
        user_file: read_config_file(user, DEFAULT_USER_FILE)?,
        env,
        host: HostFacts::read(),
    })
}

fn read_config_file(
    explicit: Option<&Path>,
    default: &str,
) -> Result<Option<SourceFile>, ConfigError> {
    let path = explicit.unwrap_or_else(|| Path::new(default));
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(SourceFile::new(
            path,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound && explicit.is_none() => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ConfigError::MissingFile {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// One `KEY=VALUE` assignment and where it was made.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: String,
    pub source: Source,
}

impl fmt::Debug for Entry {
    // The value may be a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Splits an env file into entries, as ecs-init does: lines split at the first `=`, key and value
/// trimmed, no quote removal, no expansion. Blank lines and `#` comments are skipped; anything
/// else that is not an assignment gets a warning (without echoing the line, which may be part of
/// a secret that was wrapped over several lines).
pub(crate) fn parse_env_file(file: &SourceFile, diags: &mut Vec<Diagnostic>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (index, line) in file.contents.split('\n').enumerate() {
        let line_no = index + 1;
        let at = Source::File {
            path: file.path.clone(),
            line: line_no,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            diags.push(Diagnostic::warning(
                at,
                None,
                "not a KEY=VALUE line (no '='); ignored",
            ));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if !is_variable_name(key) {
            diags.push(Diagnostic::warning(
                at,
                None,
                "the text before '=' is not a variable name; line ignored",
            ));
            continue;
        }
        if let Some(previous) = seen.insert(key.to_string(), line_no) {
            diags.push(Diagnostic::warning(
                at.clone(),
                Some(key),
                format!("set again; overrides line {previous} of the same file"),
            ));
        }
        if is_quoted(value) {
            diags.push(Diagnostic::warning(
                at.clone(),
                Some(key),
                "value is in quotes; the quotes are part of the value (ecs-init does not remove them)",
            ));
        }
        entries.push(Entry {
            key: key.to_string(),
            value: value.to_string(),
            source: at,
        });
    }
    entries
}

/// Environment entries, values trimmed like file values.
pub(crate) fn env_entries(env: &BTreeMap<String, String>) -> Vec<Entry> {
    env.iter()
        .map(|(k, v)| Entry {
            key: k.clone(),
            value: v.trim().to_string(),
            source: Source::Env,
        })
        .collect()
}

fn is_variable_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_quoted(value: &str) -> bool {
    value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Entry>, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let entries = parse_env_file(&SourceFile::new("/f", text), &mut diags);
        (entries, diags)
    }

    fn at(line: usize) -> Source {
        Source::File {
            path: "/f".into(),
            line,
        }
    }

    #[test]
    fn splits_at_first_equals_and_trims() {
        let (entries, diags) = parse("  ECS_CLUSTER = prod=1  \r\n\n# comment\n  #x=y\nECS_X=\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].key, "ECS_CLUSTER");
        assert_eq!(entries[0].value, "prod=1");
        assert_eq!(entries[0].source, at(1));
        assert_eq!(entries[1].key, "ECS_X");
        assert_eq!(entries[1].value, "");
        assert_eq!(entries[1].source, at(5));
    }

    #[test]
    fn lines_without_equals_warn_without_echoing() {
        let (entries, diags) = parse("ECS_CLUSTER=a\n\"password\":\"hunter2\"}\n");
        assert_eq!(entries.len(), 1);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].location, at(2));
        assert!(!diags[0].to_string().contains("hunter2"));
    }

    #[test]
    fn bad_keys_duplicates_and_quotes_warn() {
        let (entries, diags) = parse("=x\n\"a\":\"b=c\"\nECS_CLUSTER=a\nECS_CLUSTER=\"b\"\n");
        assert_eq!(entries.len(), 2);
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(diags.len(), 4, "{text:?}");
        assert!(text[0].starts_with("/f:1: "));
        assert!(text[1].starts_with("/f:2: ") && !text[1].contains("b=c"));
        assert!(text[2].starts_with("/f:4: ECS_CLUSTER: set again; overrides line 3"));
        assert!(text[3].contains("quotes"));
    }
}
