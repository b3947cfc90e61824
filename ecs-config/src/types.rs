//! Typed configuration values: ports, logging drivers, log levels, the redacting [`Secret`], ...
//!
//! Every type here knows how to show itself in `ecs-agent config` output ([`ConfigValue`]).
//! Parsing lives in `parse.rs`; these types hold no parsing rules.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// What `ecs-agent config` prints in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// A value that must never be printed, logged or serialized: `Debug`, `Display` and
/// `Serialize` all show [`REDACTED`]. Read it with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (e.g. registry authentication).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// A proxy URL such as `http://user:password@proxy:3128`. The password part is shown redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyUrl(String);

impl ProxyUrl {
    /// Wraps a proxy URL.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The URL as configured, credentials included.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any `user:password@` part replaced by [`REDACTED`].
    pub fn redacted(&self) -> String {
        let (scheme, rest) = match self.0.find("://") {
            Some(i) => self.0.split_at(i + 3),
            None => ("", self.0.as_str()),
        };
        match rest.rfind('@') {
            Some(at) => format!("{scheme}{REDACTED}{}", &rest[at..]),
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

/// An inclusive host port range, `start-end` (`ECS_DYNAMIC_HOST_PORT_RANGE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port of the range.
    pub start: u16,
    /// Last port of the range (inclusive).
    pub end: u16,
}

impl PortRange {
    /// The reference agent's range when the kernel's cannot be read.
    pub const FALLBACK: PortRange = PortRange {
        start: 49153,
        end: 65535,
    };

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }
}

impl Default for PortRange {
    fn default() -> Self {
        Self::FALLBACK
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Steady-state and burst request rates for the task metadata endpoint
/// (`ECS_TASK_METADATA_RPS_LIMIT`, written `steady,burst`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second allowed in the steady state.
    pub steady: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            steady: 40,
            burst: 60,
        }
    }
}

/// Declares a closed set of string values with their exact spelling.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written in configuration.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value written exactly as `s`, if any.
            pub fn from_name(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ConfigValue for $name {
            fn to_json(&self) -> Value {
                Value::String(self.as_str().to_string())
            }
        }
    };
}

string_enum! {
    /// A Docker logging driver the reference agent knows (`ECS_AVAILABLE_LOGGING_DRIVERS`).
    LoggingDriver {
        /// `json-file`
        #[default]
        JsonFile = "json-file",
        /// `syslog`
        Syslog = "syslog",
        /// `journald`
        Journald = "journald",
        /// `gelf`
        Gelf = "gelf",
        /// `fluentd`
        Fluentd = "fluentd",
        /// `awslogs`
        Awslogs = "awslogs",
        /// `splunk`
        Splunk = "splunk",
        /// `logentries`
        Logentries = "logentries",
        /// `sumologic`
        Sumologic = "sumologic",
        /// `none`
        None = "none",
        /// `awsfirelens` (FireLens; not a Docker driver, but accepted)
        Awsfirelens = "awsfirelens",
    }
}

string_enum! {
    /// What to do when pulling an image (`ECS_IMAGE_PULL_BEHAVIOR`).
    ImagePullBehavior {
        /// Pull; if the pull fails, use the cached image.
        #[default]
        Default = "default",
        /// Pull; if the pull fails, fail the task.
        Always = "always",
        /// Pull an image only the first time it is needed.
        Once = "once",
        /// Pull only when there is no cached image.
        PreferCached = "prefer-cached",
    }
}

string_enum! {
    /// Where container instance tags are also taken from
    /// (`ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM`).
    PropagateTagsFrom {
        /// Only `ECS_CONTAINER_INSTANCE_TAGS`.
        #[default]
        None = "none",
        /// Also the EC2 instance's tags.
        Ec2Instance = "ec2_instance",
    }
}

string_enum! {
    /// Format of `ECS_ENGINE_AUTH_DATA` (`ECS_ENGINE_AUTH_TYPE`).
    EngineAuthType {
        /// `{"registry":{"username":..,"password":..,"email":..}}`
        #[default]
        Docker = "docker",
        /// `{"registry":{"auth":"<base64 user:pass>","email":..}}`
        Dockercfg = "dockercfg",
    }
}

string_enum! {
    /// Log level names of the reference agent (`ECS_LOGLEVEL`, `ECS_LOGLEVEL_ON_INSTANCE`),
    /// accepted case-insensitively.
    LogLevel {
        /// `trace`: everything, as the reference also accepts.
        Trace = "trace",
        /// `debug`
        Debug = "debug",
        /// `info`
        #[default]
        Info = "info",
        /// `warn`
        Warn = "warn",
        /// `error`
        Error = "error",
        /// `crit`
        Crit = "crit",
        /// `none`: nothing is logged.
        None = "none",
    }
}

string_enum! {
    /// When the agent's log file is rotated (`ECS_LOG_ROLLOVER_TYPE`).
    LogRolloverType {
        /// When it reaches `ECS_LOG_MAX_FILE_SIZE_MB`.
        #[default]
        Size = "size",
        /// Every hour.
        Hourly = "hourly",
        /// Never: a plain file.
        None = "none",
    }
}

string_enum! {
    /// Format of the agent's log lines (`ECS_LOG_OUTPUT_FORMAT`).
    LogOutputFormat {
        /// `level=info time=... msg=...`
        #[default]
        Logfmt = "logfmt",
        /// One JSON object per line.
        Json = "json",
    }
}

string_enum! {
    /// IP families the instance is treated as having (`ECS_INSTANCE_IP_COMPATIBILITY`).
    IpCompatibility {
        /// IPv4 only.
        #[default]
        Ipv4 = "ipv4",
        /// IPv6 only: dual-stack endpoints, IPv6 port bindings kept.
        Ipv6 = "ipv6",
    }
}

/// How a configuration value appears in `ecs-agent config` output.
pub trait ConfigValue {
    /// Whether values of this type are secrets: never echoed in diagnostics.
    const SECRET: bool = false;

    /// The value as JSON. Secrets must come out redacted.
    fn to_json(&self) -> Value;

    /// The value as short text for messages: strings bare, everything else as compact JSON.
    fn describe(&self) -> String {
        match self.to_json() {
            Value::String(s) => s,
            Value::Null => "unset".to_string(),
            other => other.to_string(),
        }
    }
}

impl ConfigValue for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ConfigValue for PathBuf {
    fn to_json(&self) -> Value {
        Value::String(self.to_string_lossy().into_owned())
    }
}

impl ConfigValue for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! number_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn to_json(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
number_value!(u16, u32, f64);

impl ConfigValue for Duration {
    /// Go's duration syntax (`3h0m0s`), so the value can be pasted back into `ecs.config`.
    fn to_json(&self) -> Value {
        Value::String(crate::go::format_duration(*self))
    }
}

impl ConfigValue for PortRange {
    fn to_json(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl ConfigValue for RateLimit {
    fn to_json(&self) -> Value {
        Value::String(format!("{},{}", self.steady, self.burst))
    }
}

impl ConfigValue for Secret {
    const SECRET: bool = true;

    fn to_json(&self) -> Value {
        Value::String(REDACTED.to_string())
    }
}

impl ConfigValue for ProxyUrl {
    fn to_json(&self) -> Value {
        Value::String(self.redacted())
    }
}

impl<T: ConfigValue> ConfigValue for Option<T> {
    const SECRET: bool = T::SECRET;

    fn to_json(&self) -> Value {
        match self {
            Some(v) => v.to_json(),
            None => Value::Null,
        }
    }
}

impl<T: ConfigValue> ConfigValue for Vec<T> {
    const SECRET: bool = T::SECRET;

    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ConfigValue::to_json).collect())
    }
}

impl ConfigValue for BTreeMap<String, String> {
    fn to_json(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(
            serde_json::to_string(&s).ok().as_deref(),
            Some("\"<redacted>\"")
        );
        assert_eq!(s.to_json(), Value::String(REDACTED.into()));
        assert_eq!(s.expose(), "hunter2");
        let debug = format!("{:?}", Some(s));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn proxy_credentials_are_redacted() {
        let p = ProxyUrl::new("http://user:hunter2@proxy:3128");
        assert_eq!(p.redacted(), "http://<redacted>@proxy:3128");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(
            ProxyUrl::new("proxy.local:3128").redacted(),
            "proxy.local:3128"
        );
        assert_eq!(
            ProxyUrl::new("u:p@10.0.0.1:3128").redacted(),
            "<redacted>@10.0.0.1:3128"
        );
    }

    #[test]
    fn string_enums_round_trip() {
        for d in LoggingDriver::ALL {
            assert_eq!(LoggingDriver::from_name(d.as_str()), Some(*d));
        }
        assert_eq!(LoggingDriver::from_name("JSON-FILE"), None);
    }
}
