//! The table of variables: one entry per variable gives its name, typed field, default (as text),
//! parser and meaning. The [`Config`] struct, the [`VARS`] list (README table, unknown-key
//! suggestions) and the per-variable loading code are all generated from it, so they cannot drift.
//!
//! Defaults are what the reference agent sees on a host where ecs-init starts it under systemd:
//! ecs-init's injected values where it sets one, with container paths mapped to the host paths
//! ecs-init mounts. Where the agent alone would use something else, that value is the
//! *fallback*: what an empty or invalid value gives, exactly as in the reference (ecs-init passes
//! the user's value through, and the agent then falls back to its own default).
//!
//! Field names are the variable names in lower case without the `ECS_` prefix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::diag::{Diagnostic, Source};
use crate::parse::{self, Parsed};
use crate::routes::DefaultRoutes;
use crate::source::{Entry, HostFacts};
use crate::types::{
    ConfigValue, EngineAuthType, ImagePullBehavior, IpCompatibility, LogLevel, LogOutputFormat,
    LogRolloverType, LoggingDriver, PortRange, PropagateTagsFrom, ProxyUrl, RateLimit, Secret,
};

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting<T> {
    /// The effective value.
    pub value: T,
    /// `default`, `FILE:LINE` or `env`.
    pub source: Source,
}

impl<T> Setting<T> {
    /// A value from `source`.
    pub fn new(value: T, source: Source) -> Self {
        Self { value, source }
    }
}

impl<T> std::ops::Deref for Setting<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// One variable of the table, for documentation and lookups.
#[derive(Clone, Copy, Debug)]
pub struct VarSpec {
    /// The variable name, e.g. `ECS_CLUSTER`.
    pub name: &'static str,
    /// The [`Config`] field it sets.
    pub field: &'static str,
    /// The default: a literal value when `literal_default`, else a description (Markdown).
    pub default: &'static str,
    /// Whether `default` is a value (parsed like user input) rather than a description.
    pub literal_default: bool,
    /// The reference agent's own default, used for empty or invalid values, when it differs
    /// from `default` (ecs-init sets the default).
    pub fallback: Option<&'static str>,
    /// What it does and how it is parsed (Markdown).
    pub meaning: &'static str,
    /// Whether the value is a secret (never shown).
    pub secret: bool,
    /// Whether this agent acts on it. `ecs-agent`'s `config_acts` test checks the claim against
    /// the agent's sources: a variable that acts is read there, one that does not is not.
    pub acts: Acts,
}

/// Whether the agent acts on a variable: every variable says, and the README table shows it.
///
/// A variable that is parsed and printed but acted on by nothing must say so (`No` or
/// `Absent`), never pass for one that works; the agent's `config_acts` test fails when a
/// variable marked `Yes` or `Partly` is not read by the agent's code, and when one marked `No`
/// or `Absent` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acts {
    /// The agent does what the row says.
    Yes,
    /// The agent acts on it, within the limits stated (Markdown).
    Partly(&'static str),
    /// Recorded (parsed, validated, shown by `ecs-agent config`), not acted on; why (Markdown).
    No(&'static str),
    /// The feature it configures is absent from this agent; which and how it shows (Markdown).
    Absent(&'static str),
}

impl Acts {
    /// Whether the agent reads the value.
    pub fn is_read(&self) -> bool {
        matches!(self, Acts::Yes | Acts::Partly(_))
    }

    /// The README's "Acted on" cell.
    pub fn describe(&self) -> String {
        match self {
            Acts::Yes => "yes".to_string(),
            Acts::Partly(how) => format!("partly: {how}"),
            Acts::No(why) => format!("**no**, recorded only: {why}"),
            Acts::Absent(what) => format!("**no**, feature absent: {what}"),
        }
    }
}

/// What computed defaults may look at.
pub(crate) struct Context<'a> {
    pub host: &'a HostFacts,
    pub raw: &'a BTreeMap<String, Entry>,
}

impl Context<'_> {
    /// The winning non-empty value of `key`, if any.
    fn raw(&self, key: &str) -> Option<&str> {
        self.raw
            .get(key)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }
}

macro_rules! opt {
    () => {
        None
    };
    ($e:expr) => {
        Some($e)
    };
}

macro_rules! present {
    () => {
        false
    };
    ($e:expr) => {
        true
    };
}

macro_rules! config_vars {
    ($(
        $field:ident: $ty:ty = $name:literal {
            default: $default:literal,
            $(fallback: $fallback:literal,)?
            $(computed: $compute:expr,)?
            parse: $parse:path,
            meaning: $meaning:literal,
            acts: $acts:expr,
        }
    )+) => {
        /// The agent's effective configuration: every variable, typed, with its source.
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub struct Config {
            $(
                #[doc = concat!("`", $name, "`: ", $meaning)]
                pub $field: Setting<$ty>,
            )+
        }

        /// Every variable the agent knows, in table order.
        pub static VARS: &[VarSpec] = &[$(
            VarSpec {
                name: $name,
                field: stringify!($field),
                default: $default,
                literal_default: !present!($($compute)?),
                fallback: opt!($($fallback)?),
                meaning: $meaning,
                secret: <$ty as ConfigValue>::SECRET,
                acts: $acts,
            },
        )+];

        impl Config {
            pub(crate) fn resolve(ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) -> Self {
                Config {$(
                    $field: resolve::<$ty>(
                        $name,
                        $default,
                        opt!($($fallback)?),
                        $parse,
                        {
                            let compute: Option<fn(&Context<'_>) -> $ty> = opt!($($compute)?);
                            compute
                        },
                        ctx,
                        diags,
                    ),
                )+}
            }

            /// Every variable as `{"value": ..., "source": ...}`, keyed by name. Secrets redacted.
            pub fn values_json(&self) -> Map<String, Value> {
                let mut map = Map::new();
                $(
                    map.insert(
                        $name.to_string(),
                        json!({
                            "value": self.$field.value.to_json(),
                            "source": self.$field.source.to_string(),
                        }),
                    );
                )+
                map
            }

            /// The source of the variable `name`, if it is a known variable.
            pub fn source_of(&self, name: &str) -> Option<&Source> {
                match name {
                    $($name => Some(&self.$field.source),)+
                    _ => None,
                }
            }
        }
    };
}

/// Parses `text` as a default. Defaults are checked by a unit test to parse cleanly; should one
/// not, the type's zero value is used and a fatal diagnostic says so.
fn default_from_text<T: ConfigValue + Default>(
    name: &str,
    text: &str,
    parse: fn(&str) -> Parsed<T>,
    diags: &mut Vec<Diagnostic>,
) -> T {
    if text.is_empty() {
        return T::default();
    }
    match parse(text) {
        Parsed::Ok(v) | Parsed::Warn(v, _) | Parsed::Zero(v) => v,
        Parsed::Invalid(_) | Parsed::Fatal(_) => {
            diags.push(Diagnostic::error(
                Source::Default,
                Some(name),
                format!("internal error: the built-in default {text:?} does not parse"),
            ));
            T::default()
        }
    }
}

fn resolve<T: ConfigValue + Default + Clone>(
    name: &'static str,
    default_text: &'static str,
    fallback_text: Option<&'static str>,
    parse: fn(&str) -> Parsed<T>,
    compute: Option<fn(&Context<'_>) -> T>,
    ctx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Setting<T> {
    let default = match compute {
        Some(compute) => compute(ctx),
        None => default_from_text(name, default_text, parse, diags),
    };
    let fallback = match fallback_text {
        Some(text) => default_from_text(name, text, parse, diags),
        None => default.clone(),
    };
    let Some(entry) = ctx.raw.get(name) else {
        return Setting::new(default, Source::Default);
    };
    let at = entry.source.clone();
    if entry.value.is_empty() {
        // Empty is unset to the reference agent, so its own default applies.
        return Setting::new(fallback, at);
    }
    // Never quote a secret.
    let shown = if T::SECRET {
        String::new()
    } else {
        format!(" \"{}\"", entry.value)
    };
    match parse(&entry.value) {
        Parsed::Ok(v) => Setting::new(v, at),
        Parsed::Warn(v, why) => {
            diags.push(Diagnostic::warning(
                at.clone(),
                Some(name),
                format!("value{shown}: {why}"),
            ));
            Setting::new(v, at)
        }
        Parsed::Zero(zero) => {
            if zero.to_json() != fallback.to_json() {
                diags.push(Diagnostic::warning(
                    at.clone(),
                    Some(name),
                    format!(
                        "value{shown} means unset to the reference agent; using default {}",
                        fallback.describe()
                    ),
                ));
            }
            Setting::new(fallback, at)
        }
        Parsed::Invalid(why) => {
            diags.push(Diagnostic::warning(
                at,
                Some(name),
                format!(
                    "invalid value{shown}: {why}; using default {}",
                    fallback.describe()
                ),
            ));
            Setting::new(fallback, Source::Default)
        }
        Parsed::Fatal(why) => {
            diags.push(Diagnostic::error(
                at,
                Some(name),
                format!("invalid value{shown}: {why}"),
            ));
            Setting::new(fallback, Source::Default)
        }
    }
}

fn dynamic_port_range_default(ctx: &Context<'_>) -> PortRange {
    ctx.host
        .ip_local_port_range
        .as_deref()
        .and_then(parse::kernel_port_range)
        .unwrap_or(PortRange::FALLBACK)
}

fn os_family_default(ctx: &Context<'_>) -> String {
    parse::os_family(ctx.host.os_release.as_deref())
}

fn loglevel_on_instance_default(ctx: &Context<'_>) -> LogLevel {
    if ctx.raw("ECS_LOG_DRIVER").is_some() {
        return LogLevel::None;
    }
    ctx.raw("ECS_LOGLEVEL")
        .and_then(|l| LogLevel::from_name(&l.to_ascii_lowercase()))
        .unwrap_or_default()
}

/// The families the host routes: `ipv6` when only IPv6 has a default route, `ipv4` when IPv4
/// has one, unset (treated as IPv4) when neither does or the tables cannot be read.
fn ip_compatibility_default(ctx: &Context<'_>) -> Option<IpCompatibility> {
    let routes = DefaultRoutes::from_tables(
        ctx.host.ipv4_routes.as_deref(),
        ctx.host.ipv6_routes.as_deref(),
    );
    if routes.ipv6_only() {
        Some(IpCompatibility::Ipv6)
    } else if routes.ipv4 {
        Some(IpCompatibility::Ipv4)
    } else {
        None
    }
}

/// `false` on an IPv6-only instance: `ECS_INSTANCE_IP_COMPATIBILITY=ipv6`, or detected when it
/// is unset or invalid (the reference detects whenever its parse gives no value).
fn exclude_ipv6_default(ctx: &Context<'_>) -> bool {
    let compatibility = match ctx
        .raw("ECS_INSTANCE_IP_COMPATIBILITY")
        .map(parse::ip_compatibility)
    {
        Some(Parsed::Ok(Some(c))) => Some(c),
        _ => ip_compatibility_default(ctx),
    };
    compatibility != Some(IpCompatibility::Ipv6)
}

fn task_eni_default(ctx: &Context<'_>) -> bool {
    !ctx.raw("ECS_EXTERNAL")
        .and_then(crate::go::parse_bool)
        .unwrap_or(false)
}

config_vars! {
    // --- Registration and identity ---
    cluster: String = "ECS_CLUSTER" {
        default: "default",
        parse: parse::text,
        meaning: "Cluster to register into. The cluster saved in the state must match.",
        acts: Acts::Yes,
    }
    aws_default_region: Option<String> = "AWS_DEFAULT_REGION" {
        default: "",
        parse: parse::opt_text,
        meaning: "Region of every AWS call. When unset on EC2 (`ECS_EXTERNAL` unset), taken from the instance identity document, as the reference does; required otherwise. `ecs-agent config` works without it.",
        acts: Acts::Yes,
    }
    aws_region: Option<String> = "AWS_REGION" {
        default: "",
        parse: parse::opt_text,
        meaning: "Used as the region when `AWS_DEFAULT_REGION` is unset (the AWS SDKs' variable; the reference agent reads only `AWS_DEFAULT_REGION`).",
        acts: Acts::Yes,
    }
    backend_host: Option<String> = "ECS_BACKEND_HOST" {
        default: "",
        parse: parse::opt_text,
        meaning: "ECS API endpoint override (scheme added if missing); unset: the SDK's endpoint for the region.",
        acts: Acts::Yes,
    }
    external: bool = "ECS_EXTERNAL" {
        default: "false",
        parse: parse::boolean,
        meaning: "ECS Anywhere mode: no instance metadata, credentials from the rotating shared-credentials file, capability `ecs.capability.external`.",
        acts: Acts::Yes,
    }
    instance_attributes: BTreeMap<String, String> = "ECS_INSTANCE_ATTRIBUTES" {
        default: "{}",
        parse: parse::string_map_fatal,
        meaning: "JSON object of custom attributes, sent on first registration only. Malformed: fatal.",
        acts: Acts::Yes,
    }
    container_instance_tags: BTreeMap<String, String> = "ECS_CONTAINER_INSTANCE_TAGS" {
        default: "{}",
        parse: parse::string_map_fatal,
        meaning: "JSON object of container instance tags sent on registration. Malformed: fatal.",
        acts: Acts::Yes,
    }
    container_instance_propagate_tags_from: PropagateTagsFrom = "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM" {
        default: "none",
        parse: parse::propagate_tags_from,
        meaning: "`none` or `ec2_instance` (also register the EC2 instance's tags).",
        acts: Acts::Yes,
    }
    warm_pools_check: bool = "ECS_WARM_POOLS_CHECK" {
        default: "false",
        parse: parse::boolean,
        meaning: "Wait for the Auto Scaling lifecycle state `InService` before registering.",
        acts: Acts::Yes,
    }
    enable_spot_instance_draining: bool = "ECS_ENABLE_SPOT_INSTANCE_DRAINING" {
        default: "false",
        parse: parse::boolean,
        meaning: "Watch for spot interruption notices and set the instance to DRAINING.",
        acts: Acts::Yes,
    }
    alternate_credential_profile: String = "ECS_ALTERNATE_CREDENTIAL_PROFILE" {
        default: "default",
        parse: parse::text,
        meaning: "Profile read from the rotating shared-credentials file (ECS Anywhere).",
        acts: Acts::Yes,
    }
    instance_ip_compatibility: Option<IpCompatibility> = "ECS_INSTANCE_IP_COMPATIBILITY" {
        default: "detected from the default routes (`/proc/net/route`, `/proc/net/ipv6_route`, a route to everything through a gateway): `ipv6` when only IPv6 has one, `ipv4` when IPv4 has one, else unset (treated as `ipv4`)",
        computed: ip_compatibility_default,
        parse: parse::ip_compatibility,
        meaning: "`ipv4` or `ipv6` (case-insensitive; an invalid value means detected). `ipv6` (IPv6-only) makes the ECS, ECR, SSM and S3 calls use their dual-stack endpoints (unless `ECS_BACKEND_HOST` names the endpoint), gives `awslogs` containers the dual-stack CloudWatch Logs endpoint (unless one is set), leaves `0.0.0.0` port bindings out of state change reports, and makes `ECS_EXCLUDE_IPV6_PORTBINDING` default to `false`.",
        acts: Acts::Partly("the awslogs endpoint is set without the reference's Docker 18.09 check; the reference's other IPv6-only effects (the container metadata file's host IPv6 address, awsvpc, Service Connect, ECS Exec, fault injection's ip6tables check, the EC2 client, self-update downloads) belong to features this agent does not have; Secrets Manager keeps its IPv4 endpoint, as in the reference"),
    }
    detailed_os_family: String = "ECS_DETAILED_OS_FAMILY" {
        default: "`<ID>_<VERSION_ID>` from `/etc/os-release` (e.g. `debian_12`), else `linux`",
        fallback: "LINUX",
        computed: os_family_default,
        parse: parse::text,
        meaning: "OS family reported on registration (set by ecs-init).",
        acts: Acts::Yes,
    }
    http_proxy: Option<ProxyUrl> = "HTTP_PROXY" {
        default: "",
        parse: parse::proxy,
        meaning: "Proxy (`http://[user:password@]host[:port]` or `host:port`) for every outbound connection of the agent: ECS and ECR calls, ACS and TCS websockets (a `CONNECT` tunnel), SSM, Secrets Manager and S3; also for HTTPS when `HTTPS_PROXY` is unset. Loopback addresses and `localhost` are never proxied. Credentials in it are redacted in output.",
        acts: Acts::Yes,
    }
    https_proxy: Option<ProxyUrl> = "HTTPS_PROXY" {
        default: "",
        parse: parse::proxy,
        meaning: "Proxy for `https://` and `wss://` connections (a `CONNECT` tunnel); `http` proxies only. Credentials in it are redacted in output.",
        acts: Acts::Yes,
    }
    no_proxy: Option<String> = "NO_PROXY" {
        default: "",
        parse: parse::opt_text,
        meaning: "Comma-separated destinations reached without the proxy, matched as Go does: `*`, IPs, CIDRs, `foo.com` (and its subdomains), `.foo.com` or `*.foo.com` (subdomains only), each with an optional `:port`. Unset: `169.254.169.254,169.254.170.2` (instance metadata, task credentials), as the reference sets it; when set, include those.",
        acts: Acts::Yes,
    }

    // --- Docker and the task engine ---
    docker_host: String = "DOCKER_HOST" {
        default: "unix:///var/run/docker.sock",
        parse: parse::text,
        meaning: "Docker endpoint.",
        acts: Acts::Yes,
    }
    available_logging_drivers: Vec<LoggingDriver> = "ECS_AVAILABLE_LOGGING_DRIVERS" {
        default: "[\"json-file\",\"syslog\",\"awslogs\",\"fluentd\",\"none\"]",
        fallback: "[\"json-file\",\"none\"]",
        parse: parse::logging_drivers,
        meaning: "JSON array of logging drivers to advertise. Known: json-file, syslog, journald, gelf, fluentd, awslogs, splunk, logentries, sumologic, none, awsfirelens; an unknown one is fatal (\"Invalid logging drivers\"). Malformed JSON: warning.",
        acts: Acts::Yes,
    }
    engine_auth_type: Option<EngineAuthType> = "ECS_ENGINE_AUTH_TYPE" {
        default: "",
        parse: parse::engine_auth_type,
        meaning: "Format of `ECS_ENGINE_AUTH_DATA`: `docker` or `dockercfg`.",
        acts: Acts::Yes,
    }
    engine_auth_data: Option<Secret> = "ECS_ENGINE_AUTH_DATA" {
        default: "",
        parse: parse::engine_auth_data,
        meaning: "Private registry credentials (JSON object keyed by registry). Secret: never printed or logged.",
        acts: Acts::Yes,
    }
    datadir: PathBuf = "ECS_DATADIR" {
        default: "/var/lib/ecs/data",
        parse: parse::path,
        meaning: "State directory (`agent.db`). ecs-init mounts this host path at the reference agent's `/data`.",
        acts: Acts::Yes,
    }
    checkpoint: bool = "ECS_CHECKPOINT" {
        default: "true",
        parse: parse::boolean,
        meaning: "Persist state in `ECS_DATADIR/agent.db`; `false`: state is kept in memory only, so a restart registers anew and knows no task (the reference's no-op state).",
        acts: Acts::Yes,
    }
    host_data_dir: PathBuf = "ECS_HOST_DATA_DIR" {
        default: "/var/lib/ecs",
        parse: parse::path,
        meaning: "Host directory whose `data/metadata/` holds the container metadata files (`ECS_ENABLE_CONTAINER_METADATA`); the reference's `/data` is its `data/`. This agent runs on the host and writes there directly.",
        acts: Acts::Yes,
    }
    agent_config_file_path: PathBuf = "ECS_AGENT_CONFIG_FILE_PATH" {
        default: "/etc/ecs/ecs.config.json",
        fallback: "/etc/ecs_container_agent/config.json",
        parse: parse::path,
        meaning: "The reference agent's JSON config file. Recorded but not read by this agent (yet).",
        acts: Acts::No("the reference's JSON config file is not read"),
    }
    updates_enabled: bool = "ECS_UPDATES_ENABLED" {
        default: "true",
        fallback: "false",
        parse: parse::boolean,
        meaning: "What ECS agent update requests (`StageUpdateMessage`, `PerformUpdateMessage`) are refused with: off, \"Updates are disabled\" (the reference's words); on, \"Unable to download: ecs-agent is updated through its package, not by ECS\" (the reference downloads a new agent container image; this agent is a host package, updated by the package manager), and a perform request then gets the reference's \"Cannot perform update; update not downloaded\".",
        acts: Acts::Yes,
    }
    update_download_dir: Option<PathBuf> = "ECS_UPDATE_DOWNLOAD_DIR" {
        default: "/var/cache/ecs",
        fallback: "",
        parse: parse::opt_path,
        meaning: "Where agent updates are downloaded.",
        acts: Acts::No("agent update requests are always refused (see `ECS_UPDATES_ENABLED`), so nothing is downloaded"),
    }
    reserved_ports: Vec<u16> = "ECS_RESERVED_PORTS" {
        default: "[22, 2375, 2376, 51678, 51679]",
        parse: parse::ports,
        meaning: "JSON array of TCP ports not offered to tasks (the `PORTS` resource). 51680 is added when `ECS_ENABLE_PROMETHEUS_METRICS=true`. Malformed, `[]` or `null`: the default.",
        acts: Acts::Yes,
    }
    reserved_ports_udp: Vec<u16> = "ECS_RESERVED_PORTS_UDP" {
        default: "[]",
        parse: parse::ports,
        meaning: "JSON array of UDP ports not offered to tasks (`PORTS_UDP`).",
        acts: Acts::Yes,
    }
    reserved_memory: u16 = "ECS_RESERVED_MEMORY" {
        default: "0",
        parse: parse::mib_u16,
        meaning: "MiB of memory not offered to tasks (0 to 65535).",
        acts: Acts::Yes,
    }
    dynamic_host_port_range: PortRange = "ECS_DYNAMIC_HOST_PORT_RANGE" {
        default: "`/proc/sys/net/ipv4/ip_local_port_range`, else `49153-65535`",
        computed: dynamic_port_range_default,
        parse: parse::port_range,
        meaning: "`start-end` range that host ports are picked from when a task asks for host port 0.",
        acts: Acts::Yes,
    }
    engine_task_cleanup_wait_duration: Duration = "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION" {
        default: "3h",
        parse: parse::task_cleanup_wait,
        meaning: "How long a stopped task's containers are kept before removal. Below 1s: the default.",
        acts: Acts::Yes,
    }
    engine_task_cleanup_wait_duration_jitter: Duration = "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER" {
        default: "0",
        parse: parse::positive_duration,
        meaning: "Random extra wait, up to this long, added per task to the cleanup wait.",
        acts: Acts::Yes,
    }
    container_stop_timeout: Duration = "ECS_CONTAINER_STOP_TIMEOUT" {
        default: "30s",
        parse: parse::container_stop_timeout,
        meaning: "Grace period between SIGTERM and SIGKILL (a container's `stopTimeout` overrides it). Minimum 1s.",
        acts: Acts::Yes,
    }
    container_start_timeout: Duration = "ECS_CONTAINER_START_TIMEOUT" {
        default: "3m",
        parse: parse::container_start_timeout,
        meaning: "Timeout of Docker's start call. Minimum 45s.",
        acts: Acts::Yes,
    }
    container_create_timeout: Duration = "ECS_CONTAINER_CREATE_TIMEOUT" {
        default: "4m",
        parse: parse::container_create_timeout,
        meaning: "Timeout of Docker's create call. Minimum 1m.",
        acts: Acts::Yes,
    }
    manifest_pull_timeout: Duration = "ECS_MANIFEST_PULL_TIMEOUT" {
        default: "1m",
        parse: parse::manifest_pull_timeout,
        meaning: "Timeout of the image manifest fetch before a pull (digest resolution through Docker's DistributionInspect, retries included). Minimum 30s.",
        acts: Acts::Yes,
    }
    image_pull_timeout: Duration = "ECS_IMAGE_PULL_TIMEOUT" {
        default: "2h",
        parse: parse::positive_duration,
        meaning: "Timeout of a whole image pull.",
        acts: Acts::Yes,
    }
    image_pull_inactivity_timeout: Duration = "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT" {
        default: "1m",
        parse: parse::image_pull_inactivity_timeout,
        meaning: "How long a pull may make no progress. Minimum 1m.",
        acts: Acts::Yes,
    }
    image_pull_behavior: ImagePullBehavior = "ECS_IMAGE_PULL_BEHAVIOR" {
        default: "default",
        parse: parse::image_pull_behavior,
        meaning: "`default` (pull, fall back to the cache), `always`, `once` or `prefer-cached`.",
        acts: Acts::Yes,
    }
    pull_dependent_containers_upfront: bool = "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT" {
        default: "false",
        parse: parse::boolean,
        meaning: "Pull images of containers with `dependsOn` before their dependencies are satisfied.",
        acts: Acts::Yes,
    }
    disable_image_cleanup: bool = "ECS_DISABLE_IMAGE_CLEANUP" {
        default: "false",
        parse: parse::boolean,
        meaning: "Turn off removal of unused images.",
        acts: Acts::Yes,
    }
    image_cleanup_interval: Duration = "ECS_IMAGE_CLEANUP_INTERVAL" {
        default: "30m",
        parse: parse::image_cleanup_interval,
        meaning: "Time between image cleanup cycles. Below 10m: the default.",
        acts: Acts::Yes,
    }
    image_minimum_cleanup_age: Duration = "ECS_IMAGE_MINIMUM_CLEANUP_AGE" {
        default: "1h",
        parse: parse::positive_duration,
        meaning: "Minimum time since pull before an image may be removed.",
        acts: Acts::Yes,
    }
    non_ecs_image_minimum_cleanup_age: Duration = "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE" {
        default: "1h",
        parse: parse::positive_duration,
        meaning: "Minimum age of a non-ECS image before it may be removed.",
        acts: Acts::Yes,
    }
    num_images_delete_per_cycle: u32 = "ECS_NUM_IMAGES_DELETE_PER_CYCLE" {
        default: "5",
        parse: parse::count_at_least_1,
        meaning: "Most images removed per cleanup cycle. Below 1: the default.",
        acts: Acts::Yes,
    }
    nonecs_num_containers_delete_per_cycle: u32 = "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE" {
        default: "5",
        parse: parse::count_at_least_1,
        meaning: "Most non-ECS containers removed per cleanup cycle when `ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP` is on: containers without the ECS task label that are exited, dead or never started, stopped longer than `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION` ago. Below 1: the default.",
        acts: Acts::Yes,
    }
    enable_untracked_image_cleanup: bool = "ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP" {
        default: "false",
        parse: parse::boolean,
        meaning: "Also remove images and exited containers that ECS did not create.",
        acts: Acts::Yes,
    }
    exclude_untracked_image: Vec<String> = "ECS_EXCLUDE_UNTRACKED_IMAGE" {
        default: "",
        parse: parse::comma_list,
        meaning: "Comma-separated `image:tag` list never removed by untracked cleanup (items kept exactly as written).",
        acts: Acts::Yes,
    }
    shared_volume_match_full_config: bool = "ECS_SHARED_VOLUME_MATCH_FULL_CONFIG" {
        default: "false",
        parse: parse::boolean,
        meaning: "Match existing shared Docker volumes on driver options and labels too, not just the name.",
        acts: Acts::Yes,
    }
    volume_plugin_capabilities: Vec<String> = "ECS_VOLUME_PLUGIN_CAPABILITIES" {
        default: "[\"efsAuth\"]",
        fallback: "[]",
        parse: parse::string_list_json,
        meaning: "In the reference: JSON array of volume plugin capabilities to advertise (`efsAuth` → `ecs.capability.efsAuth`).",
        acts: Acts::Absent("EFS IAM authorization and access points are refused (no EFS mount helper; see Compatibility), so `ecs.capability.efsAuth` is never advertised, whatever this lists"),
    }
    ebsta_supported: bool = "ECS_EBSTA_SUPPORTED" {
        default: "true",
        parse: parse::boolean,
        meaning: "In the reference: EBS task attach is possible on this host (capability `ecs.capability.storage.ebs-task-volume-attach`).",
        acts: Acts::Absent("EBS volumes are not supported (see Compatibility), so `ecs.capability.storage.ebs-task-volume-attach` is never advertised, whatever this says"),
    }
    pause_labels: BTreeMap<String, String> = "ECS_PAUSE_LABELS" {
        default: "{}",
        parse: parse::string_map_lenient,
        meaning: "JSON object of labels added to pause containers.",
        acts: Acts::Absent("`awsvpc` network mode is refused, so there are no pause containers"),
    }

    // --- Capabilities ---
    enable_task_iam_role: bool = "ECS_ENABLE_TASK_IAM_ROLE" {
        default: "true",
        fallback: "false",
        parse: parse::boolean,
        meaning: "Serve task IAM role credentials (capability `task-iam-role`).",
        acts: Acts::Yes,
    }
    enable_task_iam_role_network_host: bool = "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST" {
        default: "true",
        fallback: "false",
        parse: parse::boolean,
        meaning: "Task IAM roles for tasks in `host` network mode too.",
        acts: Acts::Yes,
    }
    enable_awslogs_executionrole_override: bool = "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE" {
        default: "true",
        fallback: "false",
        parse: parse::boolean,
        meaning: "awslogs uses the task execution role's credentials.",
        acts: Acts::Yes,
    }
    disable_privileged: bool = "ECS_DISABLE_PRIVILEGED" {
        default: "false",
        parse: parse::boolean,
        meaning: "Refuse privileged containers (no `privileged-container` capability).",
        acts: Acts::Yes,
    }
    selinux_capable: bool = "ECS_SELINUX_CAPABLE" {
        default: "false",
        parse: parse::boolean,
        meaning: "Register `com.amazonaws.ecs.capability.selinux`, for tasks whose `dockerSecurityOptions` set SELinux labels (passed to Docker unchanged); say `true` only on a host that enforces SELinux.",
        acts: Acts::Yes,
    }
    apparmor_capable: bool = "ECS_APPARMOR_CAPABLE" {
        default: "false",
        parse: parse::boolean,
        meaning: "Register `com.amazonaws.ecs.capability.apparmor`, for tasks whose `dockerSecurityOptions` name AppArmor profiles (passed to Docker unchanged); say `true` only on a host with AppArmor.",
        acts: Acts::Yes,
    }
    disable_docker_health_check: bool = "ECS_DISABLE_DOCKER_HEALTH_CHECK" {
        default: "false",
        parse: parse::boolean,
        meaning: "Do not advertise or report container health checks.",
        acts: Acts::Yes,
    }
    enable_task_cpu_mem_limit: bool = "ECS_ENABLE_TASK_CPU_MEM_LIMIT" {
        default: "true",
        parse: parse::boolean,
        meaning: "Task-level CPU and memory limits through cgroups.",
        acts: Acts::Yes,
    }
    enable_task_eni: bool = "ECS_ENABLE_TASK_ENI" {
        default: "`true`; `false` when `ECS_EXTERNAL=true` (ecs-init)",
        fallback: "false",
        computed: task_eni_default,
        parse: parse::boolean,
        meaning: "`awsvpc` network mode (task ENIs). Forced off when `ECS_EXTERNAL=true`.",
        acts: Acts::Absent("`awsvpc` network mode is refused"),
    }
    enable_high_density_eni: bool = "ECS_ENABLE_HIGH_DENSITY_ENI" {
        default: "true",
        parse: parse::boolean,
        meaning: "ENI trunking, when `ECS_ENABLE_TASK_ENI` is on.",
        acts: Acts::Absent("`awsvpc` network mode is refused"),
    }
    awsvpc_block_imds: bool = "ECS_AWSVPC_BLOCK_IMDS" {
        default: "false",
        parse: parse::boolean,
        meaning: "Block instance metadata access from `awsvpc` tasks.",
        acts: Acts::Absent("`awsvpc` network mode is refused"),
    }
    awsvpc_additional_local_routes: Vec<String> = "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES" {
        default: "[]",
        parse: parse::cidr_list,
        meaning: "JSON array of CIDRs routed through the host bridge in `awsvpc` mode. Malformed: fatal.",
        acts: Acts::Absent("`awsvpc` network mode is refused"),
    }
    cni_plugins_path: PathBuf = "ECS_CNI_PLUGINS_PATH" {
        default: "/amazon-ecs-cni-plugins",
        parse: parse::path,
        meaning: "Directory of the CNI plugins used for `awsvpc`.",
        acts: Acts::Absent("`awsvpc` network mode is refused"),
    }
    enable_gpu_support: bool = "ECS_ENABLE_GPU_SUPPORT" {
        default: "false",
        parse: parse::boolean,
        meaning: "NVIDIA GPU support.",
        acts: Acts::Absent("no GPU support; no GPUs are registered"),
    }
    nvidia_runtime: String = "ECS_NVIDIA_RUNTIME" {
        default: "nvidia",
        parse: parse::text,
        meaning: "Docker runtime used for GPU containers.",
        acts: Acts::Absent("no GPU support"),
    }
    enable_inf_support: bool = "ECS_ENABLE_INF_SUPPORT" {
        default: "false",
        parse: parse::boolean,
        meaning: "AWS Inferentia support.",
        acts: Acts::Absent("no Inferentia support"),
    }
    gmsa_supported: bool = "ECS_GMSA_SUPPORTED" {
        default: "false",
        parse: parse::boolean,
        meaning: "gMSA (Active Directory) credential specs through credentials-fetcher.",
        acts: Acts::Absent("no gMSA support (a Windows and credentials-fetcher feature)"),
    }
    enable_firelens_async: bool = "ECS_ENABLE_FIRELENS_ASYNC" {
        default: "true",
        parse: parse::boolean,
        meaning: "Connect the fluentd log driver to FireLens in the background.",
        acts: Acts::Absent("FireLens (`awsfirelens`) is refused"),
    }
    enable_container_metadata: bool = "ECS_ENABLE_CONTAINER_METADATA" {
        default: "false",
        parse: parse::boolean,
        meaning: "Write `ecs-container-metadata.json` per container in `ECS_HOST_DATA_DIR/data/metadata/<task id>/<container>/` (`INITIAL` at create, `READY` with the container id, image id, ports and networks once it runs; removed with the task), mount it at `/opt/ecs/metadata/<uuid>/` and set `ECS_CONTAINER_METADATA_FILE` to it in the container.",
        acts: Acts::Yes,
    }
    disable_task_metadata_az: bool = "ECS_DISABLE_TASK_METADATA_AZ" {
        default: "false",
        parse: parse::boolean,
        meaning: "Leave the availability zone out of task metadata responses.",
        acts: Acts::Absent("task metadata never includes `AvailabilityZone` (no instance metadata)"),
    }
    task_metadata_rps_limit: RateLimit = "ECS_TASK_METADATA_RPS_LIMIT" {
        default: "40,60",
        parse: parse::rate_limit,
        meaning: "`steady,burst` request rates of the task metadata endpoint.",
        acts: Acts::Yes,
    }
    cgroup_path: PathBuf = "ECS_CGROUP_PATH" {
        default: "/sys/fs/cgroup",
        parse: parse::path,
        meaning: "Cgroup filesystem root.",
        acts: Acts::Yes,
    }
    cgroup_cpu_period: Duration = "ECS_CGROUP_CPU_PERIOD" {
        default: "100ms",
        parse: parse::cgroup_cpu_period,
        meaning: "CFS period of task CPU limits, 8ms to 100ms.",
        acts: Acts::Yes,
    }
    task_pids_limit: Option<u32> = "ECS_TASK_PIDS_LIMIT" {
        default: "",
        parse: parse::pids_limit,
        meaning: "Per-task `pids.max`, 1 to 4194304, in the task cgroup (v1 `pids/ecs/<task id>`, v2 `ecstasks/<task id>`) when `ECS_ENABLE_TASK_CPU_MEM_LIMIT` is on, as the reference; unset: no limit.",
        acts: Acts::Yes,
    }
    propagate_task_memory_limit_cgroupv2: bool = "ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2" {
        default: "false",
        parse: parse::boolean,
        meaning: "On cgroup v2 (`ECS_CGROUP_PATH` has `cgroup.controllers`), give containers without a memory limit the task's `memory` as their hard limit: containers in a private cgroup namespace cannot see the task cgroup's limit.",
        acts: Acts::Yes,
    }
    exclude_ipv6_portbinding: bool = "ECS_EXCLUDE_IPV6_PORTBINDING" {
        default: "`true`; `false` when `ECS_INSTANCE_IP_COMPATIBILITY` is `ipv6` (set or detected)",
        computed: exclude_ipv6_default,
        parse: parse::boolean,
        meaning: "Leave `::` port bindings out of the network bindings of state change reports (SubmitTaskStateChange). Ports are published with no host IP, as the reference does, so Docker binds `0.0.0.0` and, on a host with IPv6, `::`; task metadata and introspection show both, as in the reference.",
        acts: Acts::Yes,
    }

    // --- Metrics and introspection ---
    disable_metrics: bool = "ECS_DISABLE_METRICS" {
        default: "false",
        parse: parse::boolean,
        meaning: "Do not collect container stats nor send container metrics to ECS. As the reference, the telemetry connection stays: each 20 s round sends an idle `PublishMetricsRequest` (no tasks), and container health as usual.",
        acts: Acts::Yes,
    }
    poll_metrics: bool = "ECS_POLL_METRICS" {
        default: "false",
        parse: parse::boolean,
        meaning: "Poll Docker stats (one sample every `ECS_POLLING_METRICS_WAIT_DURATION`) instead of streaming them (about one a second).",
        acts: Acts::Yes,
    }
    polling_metrics_wait_duration: Duration = "ECS_POLLING_METRICS_WAIT_DURATION" {
        default: "10s",
        parse: parse::positive_duration,
        meaning: "Interval of stats polling; kept within [5s, 20s] when `ECS_POLL_METRICS=true`.",
        acts: Acts::Yes,
    }
    enable_prometheus_metrics: bool = "ECS_ENABLE_PROMETHEUS_METRICS" {
        default: "false",
        parse: parse::boolean,
        meaning: "Serve Prometheus metrics on port 51680 (then also reserved).",
        acts: Acts::Partly("`GET /metrics` on 127.0.0.1:51680 (every address with `ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true`), Prometheus text format 0.0.4: per container and per task CPU seconds, memory, network and block I/O bytes (`ecs_container_*`, `ecs_task_*`; none with `ECS_DISABLE_METRICS=true`), and the agent's own `ecs_agent_tasks`, `ecs_agent_containers` (by known status), `ecs_agent_acs_connected`, `ecs_agent_acs_connections_total`, `ecs_agent_state_changes_pending`, `ecs_agent_state_changes_delivered_total`, `ecs_agent_image_pulls_total` and `ecs_agent_image_pull_duration_seconds`. The reference reserves the port and no longer serves it, so these names are this agent's own"),
    }
    enable_runtime_stats: bool = "ECS_ENABLE_RUNTIME_STATS" {
        default: "false",
        parse: parse::boolean,
        meaning: "Runtime profiling on the introspection port and a runtime stats log: `/debug/pprof/profile?seconds=N` (a CPU profile in pprof's protobuf format, N at most 30, one at a time) and a `/debug/pprof/` index; every 2 minutes a line (resident and virtual memory, open fds, threads, tokio workers, alive tasks and global queue depth) to `agent-runtime-stats.log` in `ECS_LOGFILE`'s directory (none when `ECS_LOGFILE` is empty).",
        acts: Acts::Partly("the Rust counterpart of Go's: a CPU profile only (no heap, goroutine, block, mutex, trace, cmdline or symbol profiles), and the stats are the process's and tokio's, not Go's memory statistics"),
    }
    agent_healthcheck_host: String = "ECS_AGENT_HEALTHCHECK_HOST" {
        default: "localhost",
        parse: parse::text,
        meaning: "Host the health check calls on port 51678.",
        acts: Acts::Yes,
    }

    // --- Logging ---
    loglevel: LogLevel = "ECS_LOGLEVEL" {
        default: "info",
        parse: parse::log_level,
        meaning: "Level of standard error (the journal under systemd): `trace`, `debug`, `info`, `warn`, `error`, `crit` or `none` (case-insensitive). `RUST_LOG`, when set, replaces it there.",
        acts: Acts::Yes,
    }
    loglevel_on_instance: LogLevel = "ECS_LOGLEVEL_ON_INSTANCE" {
        default: "`ECS_LOGLEVEL`; `none` when `ECS_LOG_DRIVER` is set",
        computed: loglevel_on_instance_default,
        parse: parse::log_level,
        meaning: "Level of the log file (`ECS_LOGFILE`); same values as `ECS_LOGLEVEL`.",
        acts: Acts::Yes,
    }
    logfile: Option<PathBuf> = "ECS_LOGFILE" {
        default: "/var/log/ecs/ecs-agent.log",
        fallback: "",
        parse: parse::opt_path,
        meaning: "Log file (ecs-init's `/log/ecs-agent.log` on the host), created 0600 (its directory 0700). Empty: standard error only; one that cannot be opened: a warning on standard error, which the agent then logs to alone.",
        acts: Acts::Yes,
    }
    log_rollover_type: LogRolloverType = "ECS_LOG_ROLLOVER_TYPE" {
        default: "size",
        parse: parse::log_rollover_type,
        meaning: "How the log file and the audit log roll over, as the reference: `size` renames the live file `<file>.1`, `.2`, ... (the highest is the newest); `hourly` renames it `<file>.YYYY-MM-DD-HH` (UTC) at the first write of a new hour; `none` never (the audit log rolls hourly then, as the reference's). Other values: hourly, as in the reference.",
        acts: Acts::Yes,
    }
    log_output_format: LogOutputFormat = "ECS_LOG_OUTPUT_FORMAT" {
        default: "logfmt",
        parse: parse::log_output_format,
        meaning: "Line format of the log file and standard error: `logfmt` (`level=info time=... msg=\"...\" key=value module=...`) or `json` (one JSON object per line).",
        acts: Acts::Yes,
    }
    log_max_file_size_mb: f64 = "ECS_LOG_MAX_FILE_SIZE_MB" {
        default: "5",
        parse: parse::positive_f64,
        meaning: "Size in MB (1,000,000 bytes) at which the log file and the audit log roll over (`size` rollover).",
        acts: Acts::Yes,
    }
    log_max_roll_count: u32 = "ECS_LOG_MAX_ROLL_COUNT" {
        default: "24",
        parse: parse::count,
        meaning: "Rolled files kept, of the log file and of the audit log each; `0` keeps all (as the reference).",
        acts: Acts::Yes,
    }
    audit_logfile: PathBuf = "ECS_AUDIT_LOGFILE" {
        default: "/var/log/ecs/audit.log",
        parse: parse::path,
        meaning: "Audit log of credential requests (ecs-init's `/log/audit.log` on the host), created 0600 (its directory 0700), rolled over by `ECS_LOG_ROLLOVER_TYPE`. Every request is written: a request waits when the writer is behind.",
        acts: Acts::Yes,
    }
    audit_logfile_disabled: bool = "ECS_AUDIT_LOGFILE_DISABLED" {
        default: "false",
        parse: parse::boolean,
        meaning: "Turn the audit log off.",
        acts: Acts::Yes,
    }

    // --- Read by ecs-init in the reference (the host side) ---
    log_driver: Option<String> = "ECS_LOG_DRIVER" {
        default: "",
        parse: parse::agent_log_driver,
        meaning: "Docker log driver of the reference agent's own container (ecs-init); when set, the log file level defaults to `none`.",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container; its one effect here: `ECS_LOGLEVEL_ON_INSTANCE` defaults to `none` when it is set"),
    }
    log_opts: BTreeMap<String, String> = "ECS_LOG_OPTS" {
        default: "{}",
        parse: parse::string_map_lenient,
        meaning: "JSON object of options for `ECS_LOG_DRIVER` (ecs-init).",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container"),
    }
    init_docker_log_file_size: String = "ECS_INIT_DOCKER_LOG_FILE_SIZE" {
        default: "16m",
        parse: parse::text,
        meaning: "`max-size` of the agent container's json-file log (ecs-init).",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container"),
    }
    init_docker_log_file_num: String = "ECS_INIT_DOCKER_LOG_FILE_NUM" {
        default: "4",
        parse: parse::text,
        meaning: "`max-file` of the agent container's json-file log (ecs-init).",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container"),
    }
    agent_labels: BTreeMap<String, String> = "ECS_AGENT_LABELS" {
        default: "{}",
        parse: parse::string_map_lenient,
        meaning: "JSON object of labels of the agent container (ecs-init).",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container"),
    }
    agent_apparmor_profile: String = "ECS_AGENT_APPARMOR_PROFILE" {
        default: "ecs-agent-default",
        parse: parse::text,
        meaning: "AppArmor profile of the agent (ecs-init).",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container"),
    }
    agent_pid_namespace_host: bool = "ECS_AGENT_PID_NAMESPACE_HOST" {
        default: "false",
        parse: parse::boolean,
        meaning: "Run the agent container in the host PID namespace (ecs-init).",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container"),
    }
    agent_run_privileged: bool = "ECS_AGENT_RUN_PRIVILEGED" {
        default: "false",
        parse: parse::exactly_true,
        meaning: "Run the agent container privileged; only the exact text `true` enables it (ecs-init).",
        acts: Acts::No("ecs-init's setting for the reference agent's own container; this agent runs as a host process (systemd), not in a container"),
    }
    skip_localhost_traffic_filter: bool = "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER" {
        default: "false",
        parse: parse::boolean,
        meaning: "Do not add the iptables rule dropping non-local packets to localhost (ecs-init).",
        acts: Acts::Yes,
    }
    allow_offhost_introspection_access: bool = "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS" {
        default: "false",
        parse: parse::boolean,
        meaning: "Do not block off-host access to the introspection port 51678 (ecs-init).",
        acts: Acts::Yes,
    }
    offhost_introspection_interface_name: String = "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME" {
        default: "eth0",
        parse: parse::text,
        meaning: "Interface whose off-host introspection traffic is blocked (older ecs-init).",
        acts: Acts::No("`ecs-agent host-setup` drops off-host introspection traffic on every interface but `lo`, as current ecs-init does, so no interface name is needed"),
    }
}

/// Variables that only apply on Windows: accepted with a warning rather than called unknown.
pub(crate) const WINDOWS_ONLY: [&str; 3] = [
    "ECS_ENABLE_CPU_UNBOUNDED_WINDOWS_WORKAROUND",
    "ECS_ENABLE_MEMORY_UNBOUNDED_WINDOWS_WORKAROUND",
    "ECS_FSX_WINDOWS_FILE_SERVER_SUPPORTED",
];

/// The spec of variable `name`, if known.
pub fn var(name: &str) -> Option<&'static VarSpec> {
    VARS.iter().find(|v| v.name == name)
}

/// The known variable whose name is closest to `name`.
pub(crate) fn closest(name: &str) -> &'static str {
    VARS.iter()
        .min_by_key(|v| strsim::levenshtein(v.name, name))
        .map_or("ECS_CLUSTER", |v| v.name)
}

/// Cross-variable rules of the reference agent, applied after each variable is parsed.
pub(crate) fn apply_cross_rules(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    const PROMETHEUS_PORT: u16 = 51680;
    if config.enable_prometheus_metrics.value
        && !config.reserved_ports.value.contains(&PROMETHEUS_PORT)
    {
        config.reserved_ports.value.push(PROMETHEUS_PORT);
    }

    if config.external.value && config.enable_task_eni.value {
        diags.push(Diagnostic::warning(
            config.enable_task_eni.source.clone(),
            Some("ECS_ENABLE_TASK_ENI"),
            "forced to false because ECS_EXTERNAL=true (as ecs-init does)",
        ));
        config.enable_task_eni = Setting::new(false, Source::Default);
    }

    if config.poll_metrics.value {
        let (min, max) = (Duration::from_secs(5), Duration::from_secs(20));
        let wait = &mut config.polling_metrics_wait_duration;
        let clamped = wait.value.clamp(min, max);
        if clamped != wait.value {
            diags.push(Diagnostic::warning(
                wait.source.clone(),
                Some("ECS_POLLING_METRICS_WAIT_DURATION"),
                format!(
                    "{} is outside [5s, 20s]; using {}",
                    crate::go::format_duration(wait.value),
                    crate::go::format_duration(clamped)
                ),
            ));
            wait.value = clamped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_variable_names() {
        for v in VARS {
            let expected = v.name.strip_prefix("ECS_").unwrap_or(v.name).to_lowercase();
            assert_eq!(v.field, expected, "field of {}", v.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = VARS.iter().map(|v| v.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn only_auth_data_is_secret() {
        let secrets: Vec<&str> = VARS.iter().filter(|v| v.secret).map(|v| v.name).collect();
        assert_eq!(secrets, ["ECS_ENGINE_AUTH_DATA"]);
    }

    #[test]
    fn closest_suggests_the_near_name() {
        assert_eq!(closest("ECS_CLUSTR"), "ECS_CLUSTER");
        assert_eq!(closest("ECS_RESERVED_PORT"), "ECS_RESERVED_PORTS");
    }
}
