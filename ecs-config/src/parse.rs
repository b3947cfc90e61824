//! Value parsers, one per kind of variable, each a pure `fn(&str) -> Parsed<T>`.
//!
//! A parser sees a value that is already trimmed and non-empty (an empty value means "use the
//! fallback" and never reaches it). The rules are those of the reference agent's
//! `agent/config/parse.go`; where it silently ignored a bad value we still ignore it, but say so.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::go;
use crate::types::{
    EngineAuthType, ImagePullBehavior, IpCompatibility, LogLevel, LogOutputFormat, LogRolloverType,
    LoggingDriver, PortRange, PropagateTagsFrom, ProxyUrl, RateLimit, Secret,
};

/// The outcome of parsing one value.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed<T> {
    /// Accepted as is.
    Ok(T),
    /// Accepted, possibly changed; the message says why the user should look.
    Warn(T, String),
    /// The Go zero value (`0`, `[]`, `null`): the reference agent treats it as unset, so the
    /// fallback applies. Carries the zero so a warning is given only when the fallback differs.
    Zero(T),
    /// Rejected; the fallback applies and the message says what was expected.
    Invalid(String),
    /// Rejected, and the reference agent refuses to start.
    Fatal(String),
}

pub(crate) fn text(s: &str) -> Parsed<String> {
    Parsed::Ok(s.to_string())
}

pub(crate) fn opt_text(s: &str) -> Parsed<Option<String>> {
    Parsed::Ok(Some(s.to_string()))
}

pub(crate) fn path(s: &str) -> Parsed<PathBuf> {
    Parsed::Ok(PathBuf::from(s))
}

pub(crate) fn opt_path(s: &str) -> Parsed<Option<PathBuf>> {
    Parsed::Ok(Some(PathBuf::from(s)))
}

pub(crate) fn proxy(s: &str) -> Parsed<Option<ProxyUrl>> {
    Parsed::Ok(Some(ProxyUrl::new(s)))
}

/// Registry auth data: kept as given (the reference checks it only when pulling), with a warning
/// if it is not a JSON object. The message never quotes the value.
pub(crate) fn engine_auth_data(s: &str) -> Parsed<Option<Secret>> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(_)) => Parsed::Ok(Some(Secret::new(s))),
        Ok(_) => Parsed::Warn(
            Some(Secret::new(s)),
            "not a JSON object; registry authentication will fail".to_string(),
        ),
        Err(e) => Parsed::Warn(
            Some(Secret::new(s)),
            format!(
                "not valid JSON (error at line {} column {}); registry authentication will fail",
                e.line(),
                e.column()
            ),
        ),
    }
}

const BOOL_EXPECTED: &str =
    "expected a boolean (true, false, 1, 0, t, f, TRUE, FALSE, True, False)";

/// `strconv.ParseBool`.
pub(crate) fn boolean(s: &str) -> Parsed<bool> {
    match go::parse_bool(s) {
        Some(b) => Parsed::Ok(b),
        None => Parsed::Invalid(BOOL_EXPECTED.to_string()),
    }
}

/// ecs-init's `ECS_AGENT_RUN_PRIVILEGED`: only the exact text `true` enables it.
pub(crate) fn exactly_true(s: &str) -> Parsed<bool> {
    match (s, go::parse_bool(s)) {
        ("true", _) => Parsed::Ok(true),
        (_, Some(false)) => Parsed::Ok(false),
        (_, Some(true)) => Parsed::Warn(
            false,
            "ecs-init enables this only for the exact text `true`; treated as false".to_string(),
        ),
        (_, None) => Parsed::Invalid(BOOL_EXPECTED.to_string()),
    }
}

/// Decodes the first JSON value of `s` and ignores what follows, like Go's `json.Decoder`.
fn decode_first<T: DeserializeOwned>(s: &str) -> Result<T, serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<T>();
    match stream.next() {
        Some(result) => result,
        // Unreachable for non-empty input, but an empty stream is an EOF error in Go too.
        None => serde_json::from_str(s),
    }
}

/// `ECS_RESERVED_PORTS`, `ECS_RESERVED_PORTS_UDP`: a JSON array of ports.
pub(crate) fn ports(s: &str) -> Parsed<Vec<u16>> {
    match decode_first::<Option<Vec<u16>>>(s) {
        Ok(Some(ports)) if !ports.is_empty() => Parsed::Ok(ports),
        Ok(_) => Parsed::Zero(Vec::new()),
        Err(e) => Parsed::Invalid(format!(
            "expected a JSON array of ports like [22, 2375]: {e}"
        )),
    }
}

/// `ECS_AVAILABLE_LOGGING_DRIVERS`: a JSON array of known driver names. Malformed JSON is a
/// warning; an unknown driver is fatal, as in the reference agent.
pub(crate) fn logging_drivers(s: &str) -> Parsed<Vec<LoggingDriver>> {
    let names = match decode_first::<Option<Vec<String>>>(s) {
        Ok(Some(names)) if !names.is_empty() => names,
        Ok(_) => return Parsed::Zero(Vec::new()),
        Err(e) => {
            return Parsed::Invalid(format!(
                "expected a JSON array like [\"json-file\",\"syslog\"]: {e}"
            ));
        }
    };
    let mut drivers = Vec::new();
    let mut bad = Vec::new();
    for name in names {
        match LoggingDriver::from_name(&name) {
            Some(d) => drivers.push(d),
            None => bad.push(name),
        }
    }
    if bad.is_empty() {
        Parsed::Ok(drivers)
    } else {
        let known: Vec<&str> = LoggingDriver::ALL.iter().map(|d| d.as_str()).collect();
        Parsed::Fatal(format!(
            "Invalid logging drivers: {} (known: {})",
            bad.join(", "),
            known.join(", ")
        ))
    }
}

/// `ECS_VOLUME_PLUGIN_CAPABILITIES`: a JSON array of strings.
pub(crate) fn string_list_json(s: &str) -> Parsed<Vec<String>> {
    match decode_first::<Option<Vec<String>>>(s) {
        Ok(Some(list)) => Parsed::Ok(list),
        Ok(None) => Parsed::Zero(Vec::new()),
        Err(e) => Parsed::Invalid(format!(
            "expected a JSON array of strings like [\"efsAuth\"]: {e}"
        )),
    }
}

/// `ECS_EXCLUDE_UNTRACKED_IMAGE`: comma-separated, items kept exactly as written.
pub(crate) fn comma_list(s: &str) -> Parsed<Vec<String>> {
    Parsed::Ok(s.split(',').map(str::to_string).collect())
}

fn string_map(s: &str) -> Result<BTreeMap<String, String>, serde_json::Error> {
    Ok(serde_json::from_str::<Option<BTreeMap<String, String>>>(s)?.unwrap_or_default())
}

/// `ECS_INSTANCE_ATTRIBUTES`, `ECS_CONTAINER_INSTANCE_TAGS`: a JSON object of strings;
/// malformed is fatal.
pub(crate) fn string_map_fatal(s: &str) -> Parsed<BTreeMap<String, String>> {
    match string_map(s) {
        Ok(map) => Parsed::Ok(map),
        Err(e) => Parsed::Fatal(format!(
            "expected a JSON object of strings like {{\"stack\":\"prod\"}}: {e}"
        )),
    }
}

/// `ECS_LOG_OPTS`, `ECS_AGENT_LABELS`, `ECS_PAUSE_LABELS`: a JSON object of strings; malformed is
/// ignored with a warning.
pub(crate) fn string_map_lenient(s: &str) -> Parsed<BTreeMap<String, String>> {
    match string_map(s) {
        Ok(map) => Parsed::Ok(map),
        Err(e) => Parsed::Invalid(format!(
            "expected a JSON object of strings like {{\"key\":\"value\"}}: {e}"
        )),
    }
}

/// `ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES`: a JSON array of CIDRs; malformed is fatal.
pub(crate) fn cidr_list(s: &str) -> Parsed<Vec<String>> {
    let list = match serde_json::from_str::<Option<Vec<String>>>(s) {
        Ok(list) => list.unwrap_or_default(),
        Err(e) => {
            return Parsed::Fatal(format!(
                "expected a JSON array of CIDRs like [\"10.0.15.0/24\"]: {e}"
            ));
        }
    };
    match list.iter().find(|c| !is_cidr(c)) {
        Some(bad) => Parsed::Fatal(format!("\"{bad}\" is not a CIDR like 10.0.15.0/24")),
        None => Parsed::Ok(list),
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    go::parse_uint(prefix, 8).is_some_and(|p| p <= max)
}

/// A Go duration, with the reference's handling of `0` (unset) and our rejection of negatives.
fn duration(s: &str) -> Result<Duration, Parsed<Duration>> {
    match go::parse_duration(s) {
        Ok(0) => Err(Parsed::Zero(Duration::ZERO)),
        Ok(n) if n < 0 => Err(Parsed::Invalid(
            "expected a positive Go duration like 30s, 5m or 1h30m".to_string(),
        )),
        Ok(n) => Ok(Duration::from_nanos(n.unsigned_abs())),
        Err(e) => Err(Parsed::Invalid(format!(
            "{e}; expected a Go duration like 30s, 5m or 1h30m"
        ))),
    }
}

/// Any positive duration.
pub(crate) fn positive_duration(s: &str) -> Parsed<Duration> {
    match duration(s) {
        Ok(d) => Parsed::Ok(d),
        Err(p) => p,
    }
}

/// A duration below `min` is rejected (the default applies).
fn duration_at_least(s: &str, min: Duration) -> Parsed<Duration> {
    match duration(s) {
        Ok(d) if d < min => {
            Parsed::Invalid(format!("below the minimum of {}", go::format_duration(min)))
        }
        Ok(d) => Parsed::Ok(d),
        Err(p) => p,
    }
}

/// A duration below `min` is raised to `min`. Negative values count as below the minimum, as in
/// the reference agent.
fn duration_clamped_up(s: &str, min: Duration) -> Parsed<Duration> {
    let raised = || {
        let min_text = go::format_duration(min);
        Parsed::Warn(
            min,
            format!("below the minimum of {min_text}; using {min_text}"),
        )
    };
    match go::parse_duration(s) {
        Ok(n) if n < 0 => raised(),
        _ => match duration(s) {
            Ok(d) if d < min => raised(),
            Ok(d) => Parsed::Ok(d),
            Err(p) => p,
        },
    }
}

/// `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`: at least 1s.
pub(crate) fn task_cleanup_wait(s: &str) -> Parsed<Duration> {
    match go::parse_duration(s) {
        // The reference replaces anything below the minimum, zero included, with a warning.
        Ok(n) if n < 1_000_000_000 => Parsed::Invalid("below the minimum of 1s".to_string()),
        _ => duration_at_least(s, Duration::from_secs(1)),
    }
}

/// `ECS_IMAGE_CLEANUP_INTERVAL`: at least 10m.
pub(crate) fn image_cleanup_interval(s: &str) -> Parsed<Duration> {
    duration_at_least(s, Duration::from_secs(600))
}

/// `ECS_CONTAINER_STOP_TIMEOUT`: raised to 1s.
pub(crate) fn container_stop_timeout(s: &str) -> Parsed<Duration> {
    duration_clamped_up(s, Duration::from_secs(1))
}

/// `ECS_CONTAINER_START_TIMEOUT`: raised to 45s.
pub(crate) fn container_start_timeout(s: &str) -> Parsed<Duration> {
    duration_clamped_up(s, Duration::from_secs(45))
}

/// `ECS_CONTAINER_CREATE_TIMEOUT`: raised to 1m.
pub(crate) fn container_create_timeout(s: &str) -> Parsed<Duration> {
    duration_clamped_up(s, Duration::from_secs(60))
}

/// `ECS_MANIFEST_PULL_TIMEOUT`: raised to 30s.
pub(crate) fn manifest_pull_timeout(s: &str) -> Parsed<Duration> {
    duration_clamped_up(s, Duration::from_secs(30))
}

/// `ECS_IMAGE_PULL_INACTIVITY_TIMEOUT`: raised to 1m.
pub(crate) fn image_pull_inactivity_timeout(s: &str) -> Parsed<Duration> {
    duration_clamped_up(s, Duration::from_secs(60))
}

/// `ECS_CGROUP_CPU_PERIOD`: between 8ms and 100ms.
pub(crate) fn cgroup_cpu_period(s: &str) -> Parsed<Duration> {
    match duration(s) {
        Ok(d) if d < Duration::from_millis(8) || d > Duration::from_millis(100) => {
            Parsed::Invalid("not within [8ms, 100ms]".to_string())
        }
        Ok(d) => Parsed::Ok(d),
        Err(p) => p,
    }
}

/// `ECS_RESERVED_MEMORY`: MiB, an unsigned 16-bit integer.
pub(crate) fn mib_u16(s: &str) -> Parsed<u16> {
    match go::parse_uint(s, 16).and_then(|v| u16::try_from(v).ok()) {
        Some(0) => Parsed::Zero(0),
        Some(v) => Parsed::Ok(v),
        None => Parsed::Invalid("expected an unsigned integer from 0 to 65535 (MiB)".to_string()),
    }
}

/// A count that must be at least 1 (`ECS_NUM_IMAGES_DELETE_PER_CYCLE`, ...). `0` means unset.
pub(crate) fn count_at_least_1(s: &str) -> Parsed<u32> {
    match go::atoi(s) {
        Some(0) => Parsed::Zero(0),
        Some(n) if n < 1 => Parsed::Invalid("below the minimum of 1".to_string()),
        Some(n) => match u32::try_from(n) {
            Ok(n) => Parsed::Ok(n),
            Err(_) => Parsed::Invalid("too large".to_string()),
        },
        None => Parsed::Invalid("expected an integer".to_string()),
    }
}

/// `ECS_LOG_MAX_ROLL_COUNT`: a non-negative integer.
pub(crate) fn count(s: &str) -> Parsed<u32> {
    match go::atoi(s).map(u32::try_from) {
        Some(Ok(n)) => Parsed::Ok(n),
        Some(Err(_)) => Parsed::Invalid("expected an integer from 0 to 4294967295".to_string()),
        None => Parsed::Invalid("expected an integer".to_string()),
    }
}

/// `ECS_TASK_PIDS_LIMIT`: 1 to 4194304.
pub(crate) fn pids_limit(s: &str) -> Parsed<Option<u32>> {
    match go::atoi(s) {
        Some(n @ 1..=4_194_304) => match u32::try_from(n) {
            Ok(n) => Parsed::Ok(Some(n)),
            Err(_) => Parsed::Invalid("expected an integer from 1 to 4194304".to_string()),
        },
        Some(_) => Parsed::Invalid("expected an integer from 1 to 4194304".to_string()),
        None => Parsed::Invalid("expected an integer".to_string()),
    }
}

/// `ECS_LOG_MAX_FILE_SIZE_MB`: a positive number.
pub(crate) fn positive_f64(s: &str) -> Parsed<f64> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Parsed::Ok(v),
        _ => Parsed::Invalid("expected a positive number".to_string()),
    }
}

/// `ECS_TASK_METADATA_RPS_LIMIT`: `steady,burst`, both positive.
pub(crate) fn rate_limit(s: &str) -> Parsed<RateLimit> {
    let invalid = || Parsed::Invalid("expected \"steady,burst\" like 40,60".to_string());
    let Some((steady, burst)) = s.split_once(',') else {
        return invalid();
    };
    if burst.contains(',') {
        return invalid();
    }
    match (go::atoi(steady.trim()), go::atoi(burst.trim())) {
        (Some(steady), Some(burst)) => match (u32::try_from(steady), u32::try_from(burst)) {
            (Ok(steady), Ok(burst)) if steady > 0 && burst > 0 => {
                Parsed::Ok(RateLimit { steady, burst })
            }
            _ => Parsed::Invalid("both rates must be positive".to_string()),
        },
        _ => invalid(),
    }
}

/// `start-end` (or a single port), as docker's `nat.ParsePortRange`: decimal ports, end >= start.
pub(crate) fn port_range(s: &str) -> Parsed<PortRange> {
    let port = |p: &str| go::parse_uint(p, 16).and_then(|v| u16::try_from(v).ok());
    let invalid = || Parsed::Invalid("expected a port range like 49153-65535".to_string());
    let mut parts = s.split('-');
    let (start, end) = match (parts.next(), parts.next()) {
        (Some(single), None) => match port(single) {
            Some(p) => (p, p),
            None => return invalid(),
        },
        // Like nat.ParsePortRange, parts after the second are not looked at.
        (Some(start), Some(end)) => match (port(start), port(end)) {
            (Some(start), Some(end)) => (start, end),
            _ => return invalid(),
        },
        _ => return invalid(),
    };
    if end < start {
        return Parsed::Invalid("the end of the range is below its start".to_string());
    }
    Parsed::Ok(PortRange { start, end })
}

/// The kernel's `ip_local_port_range` file: two whitespace-separated numbers.
pub(crate) fn kernel_port_range(contents: &str) -> Option<PortRange> {
    let mut fields = contents.split_whitespace();
    let start = go::parse_uint(fields.next()?, 16)?;
    let end = go::parse_uint(fields.next()?, 16)?;
    Some(PortRange {
        start: u16::try_from(start).ok()?,
        end: u16::try_from(end).ok()?,
    })
}

/// ecs-init's `GetLinuxOSFamily`: `<ID>_<VERSION_ID>` from os-release, else `linux`.
pub(crate) fn os_family(os_release: Option<&str>) -> String {
    let value = |v: &str| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    let (mut id, mut version) = (String::new(), String::new());
    for line in os_release.unwrap_or_default().lines() {
        if let Some(v) = line.strip_prefix("ID=") {
            id = value(v);
        }
        if let Some(v) = line.strip_prefix("VERSION_ID=") {
            version = value(v);
        }
    }
    if id.is_empty() || version.is_empty() {
        "linux".to_string()
    } else {
        format!("{id}_{version}")
    }
}

fn one_of<T: Copy>(all: &[T], name: impl Fn(&T) -> &'static str, s: &str) -> Parsed<T> {
    match all.iter().find(|v| name(v) == s) {
        Some(v) => Parsed::Ok(*v),
        None => {
            let names: Vec<&str> = all.iter().map(name).collect();
            Parsed::Invalid(format!("expected one of: {}", names.join(", ")))
        }
    }
}

pub(crate) fn image_pull_behavior(s: &str) -> Parsed<ImagePullBehavior> {
    one_of(ImagePullBehavior::ALL, ImagePullBehavior::as_str, s)
}

pub(crate) fn propagate_tags_from(s: &str) -> Parsed<PropagateTagsFrom> {
    one_of(PropagateTagsFrom::ALL, PropagateTagsFrom::as_str, s)
}

pub(crate) fn engine_auth_type(s: &str) -> Parsed<Option<EngineAuthType>> {
    match one_of(EngineAuthType::ALL, EngineAuthType::as_str, s) {
        Parsed::Ok(t) => Parsed::Ok(Some(t)),
        Parsed::Invalid(m) => Parsed::Invalid(m),
        _ => Parsed::Invalid("unexpected".to_string()),
    }
}

/// Log levels are matched case-insensitively, as in the reference.
pub(crate) fn log_level(s: &str) -> Parsed<LogLevel> {
    one_of(LogLevel::ALL, LogLevel::as_str, &s.to_ascii_lowercase())
}

/// `size`, `hourly` or `none`; the reference rotates hourly for any other value.
pub(crate) fn log_rollover_type(s: &str) -> Parsed<LogRolloverType> {
    match LogRolloverType::from_name(s) {
        Some(t) => Parsed::Ok(t),
        None => Parsed::Warn(
            LogRolloverType::Hourly,
            "not size, hourly or none; the reference agent rotates hourly for any other value"
                .to_string(),
        ),
    }
}

pub(crate) fn log_output_format(s: &str) -> Parsed<LogOutputFormat> {
    one_of(LogOutputFormat::ALL, LogOutputFormat::as_str, s)
}

/// `ipv4` or `ipv6`, case-insensitively.
pub(crate) fn ip_compatibility(s: &str) -> Parsed<Option<IpCompatibility>> {
    match one_of(
        IpCompatibility::ALL,
        IpCompatibility::as_str,
        &s.to_ascii_lowercase(),
    ) {
        Parsed::Ok(c) => Parsed::Ok(Some(c)),
        Parsed::Invalid(m) => Parsed::Invalid(m),
        _ => Parsed::Invalid("unexpected".to_string()),
    }
}

/// `ECS_LOG_DRIVER`: ecs-init accepts only these Docker log drivers for the agent itself.
pub(crate) fn agent_log_driver(s: &str) -> Parsed<Option<String>> {
    const VALID: [&str; 8] = [
        "awslogs",
        "fluentd",
        "gelf",
        "json-file",
        "journald",
        "logentries",
        "syslog",
        "splunk",
    ];
    if VALID.contains(&s) {
        Parsed::Ok(Some(s.to_string()))
    } else {
        Parsed::Invalid(format!("expected one of: {}", VALID.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_arrays_decode_the_first_value_like_go() {
        assert_eq!(ports("[1,2] trailing"), Parsed::Ok(vec![1, 2]));
        assert_eq!(ports("[]"), Parsed::Zero(vec![]));
        assert_eq!(ports("null"), Parsed::Zero(vec![]));
        assert!(matches!(ports("[70000]"), Parsed::Invalid(_)));
        assert!(matches!(ports("[22,oops]"), Parsed::Invalid(_)));
        assert!(matches!(ports("[1.0]"), Parsed::Invalid(_)));
    }

    #[test]
    fn strict_json_objects_reject_trailing_data() {
        assert!(matches!(string_map_fatal("{} x"), Parsed::Fatal(_)));
        assert_eq!(string_map_fatal("null"), Parsed::Ok(BTreeMap::new()));
        assert!(matches!(string_map_fatal("{\"a\":1}"), Parsed::Fatal(_)));
    }

    #[test]
    fn port_ranges_follow_nat_parse_port_range() {
        assert_eq!(
            port_range("100-200"),
            Parsed::Ok(PortRange {
                start: 100,
                end: 200
            })
        );
        assert_eq!(
            port_range("80"),
            Parsed::Ok(PortRange { start: 80, end: 80 })
        );
        assert_eq!(
            port_range("1-2-3"),
            Parsed::Ok(PortRange { start: 1, end: 2 })
        );
        for bad in ["200-100", "-", "a-b", "1-", "-1", "0-70000", "+1-2"] {
            assert!(matches!(port_range(bad), Parsed::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn kernel_port_range_and_os_family() {
        assert_eq!(
            kernel_port_range("32768\t60999\n"),
            Some(PortRange {
                start: 32768,
                end: 60999
            })
        );
        assert_eq!(kernel_port_range("garbage"), None);
        assert_eq!(
            os_family(Some("NAME=\"Debian\"\nID=debian\nVERSION_ID=\"12\"\n")),
            "debian_12"
        );
        assert_eq!(os_family(Some("ID=alpine\n")), "linux");
        assert_eq!(os_family(None), "linux");
    }

    #[test]
    fn durations_with_minimums() {
        let s = Duration::from_secs;
        assert_eq!(container_stop_timeout("10s"), Parsed::Ok(s(10)));
        assert!(matches!(container_stop_timeout("500ms"), Parsed::Warn(d, _) if d == s(1)));
        assert!(matches!(container_stop_timeout("-5s"), Parsed::Warn(d, _) if d == s(1)));
        assert_eq!(container_stop_timeout("0"), Parsed::Zero(Duration::ZERO));
        assert!(matches!(task_cleanup_wait("0s"), Parsed::Invalid(_)));
        assert!(matches!(task_cleanup_wait("500ms"), Parsed::Invalid(_)));
        assert!(matches!(image_cleanup_interval("5m"), Parsed::Invalid(_)));
        assert!(matches!(positive_duration("-1h"), Parsed::Invalid(_)));
    }

    #[test]
    fn cidrs() {
        assert!(is_cidr("10.0.0.0/8"));
        assert!(is_cidr("fd00::/64"));
        assert!(!is_cidr("10.0.0.0/33"));
        assert!(!is_cidr("10.0.0.0"));
        assert!(!is_cidr("x/8"));
    }
}
