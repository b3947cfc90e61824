//! `ECS_ENABLE_RUNTIME_STATS`: the Rust counterpart of the reference's Go runtime profiling.
//!
//! The reference serves Go's `net/http/pprof` handlers under `/debug/pprof/` on the introspection
//! port and writes Go runtime statistics every 2 minutes to `agent-runtime-stats.log` in its log
//! directory. A Rust process has no Go runtime, so this serves what it does have:
//!
//! - `GET /debug/pprof/profile?seconds=N`: a CPU profile of the whole agent, sampled with
//!   `pprof` (pprof-rs) at 100 Hz, in pprof's protobuf format (`go tool pprof` and `pprof` read
//!   it). `N` defaults to 30 (as Go's) and is capped at [`MAX_PROFILE_SECONDS`]; one profile at a
//!   time (another request meanwhile gets 409).
//! - `GET /debug/pprof/`: an index naming that one profile.
//! - a stats line every [`INTERVAL`] (the first at start) to [`FILE_NAME`] beside `ECS_LOGFILE`:
//!   resident and virtual memory, open file descriptors, threads (from `/proc/self`), and the
//!   tokio runtime's stable metrics (workers, alive tasks, global queue depth).
//!
//! Off (the default), none of it exists: the routes answer 404 and no file is written. What it
//! must not do: serve anything but the profile (no heap dumps, no command line), or profile twice
//! at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::logging::rolling::{RollingFile, Rollover};

/// How often a stats line is written: the reference's ticker.
pub const INTERVAL: Duration = Duration::from_secs(2 * 60);

/// The stats file's name, in `ECS_LOGFILE`'s directory (the reference's
/// `/log/agent-runtime-stats.log`, ecs-init's `/var/log/ecs/` on the host).
pub const FILE_NAME: &str = "agent-runtime-stats.log";

/// Rolled stats files kept (the reference's `maxrolls="3"`).
const MAX_ROLLS: u32 = 3;

/// A profile is at most this long (the introspection server must answer within bounds).
pub const MAX_PROFILE_SECONDS: u64 = 30;

/// Go's default profile length, used when `seconds` is absent or not positive.
const DEFAULT_PROFILE_SECONDS: u64 = 30;

/// Samples per second of the CPU profile (Go's rate).
const PROFILE_FREQUENCY: i32 = 100;

/// Where the stats go when `ECS_ENABLE_RUNTIME_STATS` is on: beside `ECS_LOGFILE`. `None` when
/// off, or when the agent logs to standard error only (no log directory to write beside).
pub fn stats_file(config: &ecs_config::Config) -> Option<PathBuf> {
    if !config.enable_runtime_stats.value {
        return None;
    }
    let logfile = config.logfile.value.as_ref()?;
    let dir = logfile.parent().filter(|d| !d.as_os_str().is_empty())?;
    Some(dir.join(FILE_NAME))
}

/// One stats line, `Key=value, ...` as the reference's (its Go fields replaced by the process's).
pub fn stats_line(now: time::OffsetDateTime, up: Duration) -> String {
    let proc = ProcStats::read();
    let metrics = tokio::runtime::Handle::try_current()
        .ok()
        .map(|h| h.metrics());
    let opt = |v: Option<u64>| v.map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    let time = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "Time={time}, ResidentMemoryBytes={}, VirtualMemoryBytes={}, OpenFileDescriptors={}, \
         ThreadCount={}, TokioWorkers={}, TokioAliveTasks={}, TokioGlobalQueueDepth={}, UpTime={:?}",
        opt(proc.resident_bytes),
        opt(proc.virtual_bytes),
        opt(proc.open_fds),
        opt(proc.threads),
        opt(metrics.as_ref().map(|m| m.num_workers() as u64)),
        opt(metrics.as_ref().map(|m| m.num_alive_tasks() as u64)),
        opt(metrics.as_ref().map(|m| m.global_queue_depth() as u64)),
        Duration::from_secs(up.as_secs()),
    )
}

/// What `/proc/self` says about the process; `None` for what cannot be read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct ProcStats {
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    open_fds: Option<u64>,
    threads: Option<u64>,
}

impl ProcStats {
    fn read() -> Self {
        let mut stats = std::fs::read_to_string("/proc/self/status")
            .map(|s| parse_status(&s))
            .unwrap_or_default();
        stats.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        stats
    }
}

/// `VmRSS`, `VmSize` (kB) and `Threads` from `/proc/<pid>/status`.
fn parse_status(status: &str) -> ProcStats {
    let field = |name: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
    };
    ProcStats {
        resident_bytes: field("VmRSS").map(|kb| kb * 1024),
        virtual_bytes: field("VmSize").map(|kb| kb * 1024),
        open_fds: None,
        threads: field("Threads"),
    }
}

/// Writes a stats line to `path` now and every `interval` until `shutdown`, rolling the file
/// at `max_bytes` (`ECS_LOG_MAX_FILE_SIZE_MB`). A file that cannot be opened is reported once
/// and the logger ends: the agent runs on without it.
pub async fn run_logger(
    path: PathBuf,
    max_bytes: u64,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let started = Instant::now();
    let mut file = match open(&path, max_bytes) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the runtime stats log");
            return;
        }
    };
    tracing::info!(path = %path.display(), ?interval, "runtime stats log enabled");
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = time::OffsetDateTime::now_utc();
        let mut line = stats_line(now, started.elapsed());
        line.push('\n');
        if let Err(e) = file.write_at(line.as_bytes(), now).and_then(|()| {
            use std::io::Write as _;
            file.flush()
        }) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the runtime stats log");
        }
    }
}

fn open(path: &Path, max_bytes: u64) -> std::io::Result<RollingFile> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    RollingFile::open(path, Rollover::Size { max_bytes }, MAX_ROLLS, 0o600)
}

/// Why a profile request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// `seconds` is not a number.
    #[error("invalid seconds {0:?}: want a whole number of seconds")]
    BadSeconds(String),
    /// Another profile is being taken.
    #[error("a CPU profile is already being taken")]
    Busy,
    /// The profiler failed.
    #[error("cannot take a CPU profile: {0}")]
    Profiler(String),
}

impl IntoResponse for ProfileError {
    fn into_response(self) -> Response {
        let status = match &self {
            ProfileError::BadSeconds(_) => StatusCode::BAD_REQUEST,
            ProfileError::Busy => StatusCode::CONFLICT,
            ProfileError::Profiler(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, self.to_string()).into_response()
    }
}

/// The profile length asked for by `seconds`: absent, zero or negative gives Go's 30; more than
/// [`MAX_PROFILE_SECONDS`] is cut to it.
pub fn profile_seconds(seconds: Option<&str>) -> Result<u64, ProfileError> {
    let Some(raw) = seconds else {
        return Ok(DEFAULT_PROFILE_SECONDS);
    };
    let n: i64 = raw
        .trim()
        .parse()
        .map_err(|_| ProfileError::BadSeconds(raw.to_owned()))?;
    Ok(match u64::try_from(n) {
        Ok(0) | Err(_) => DEFAULT_PROFILE_SECONDS,
        Ok(n) => n.min(MAX_PROFILE_SECONDS),
    })
}

/// The `/debug/pprof/` routes, for the introspection server when runtime stats are on.
pub fn routes() -> Router {
    // One profile at a time: the profiler is process-wide (one SIGPROF timer).
    let busy = Arc::new(tokio::sync::Semaphore::new(1));
    Router::new()
        .route("/debug/pprof/", get(index))
        .route("/debug/pprof/profile", get(profile))
        .with_state(busy)
}

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><head><title>/debug/pprof/</title></head><body>\n\
         /debug/pprof/<br>\n<br>\nTypes of profiles available:\n<table>\n\
         <thead><td>Count</td><td>Profile</td></thead>\n\
         <tr><td></td><td><a href=\"profile?seconds=30\">profile</a></td></tr>\n</table>\n\
         <p>profile: CPU profile (pprof protobuf). Add the seconds GET parameter (at most 30) \
         to set its length.</p>\n</body></html>\n",
    )
        .into_response()
}

async fn profile(
    State(busy): State<Arc<tokio::sync::Semaphore>>,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
) -> Result<Response, ProfileError> {
    let seconds = profile_seconds(q.get("seconds").map(String::as_str))?;
    let permit = Arc::clone(&busy)
        .try_acquire_owned()
        .map_err(|_| ProfileError::Busy)?;
    // The profiler's guard is not Send and the profile takes `seconds`: a blocking thread.
    let body = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        take_profile(Duration::from_secs(seconds))
    })
    .await
    .map_err(|e| ProfileError::Profiler(e.to_string()))??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"profile\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// Samples the process's CPU for `length` and encodes the profile as pprof's protobuf.
fn take_profile(length: Duration) -> Result<Vec<u8>, ProfileError> {
    use pprof::protos::Message as _;
    let failed = |e: pprof::Error| ProfileError::Profiler(e.to_string());
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(PROFILE_FREQUENCY)
        // Unwinding through these from a signal handler can deadlock (pprof-rs's advice).
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(failed)?;
    std::thread::sleep(length);
    let profile = guard
        .report()
        .build()
        .map_err(failed)?
        .pprof()
        .map_err(failed)?;
    let mut body = Vec::new();
    profile
        .encode(&mut body)
        .map_err(|e| ProfileError::Profiler(e.to_string()))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_file_is_beside_the_log_file_and_only_when_enabled() {
        let mut config = ecs_config::Config::default();
        assert_eq!(stats_file(&config), None);
        config.enable_runtime_stats.value = true;
        config.logfile.value = Some(PathBuf::from("/var/log/ecs/ecs-agent.log"));
        assert_eq!(
            stats_file(&config),
            Some(PathBuf::from("/var/log/ecs/agent-runtime-stats.log"))
        );
        // Standard error only: nowhere to write beside.
        config.logfile.value = None;
        assert_eq!(stats_file(&config), None);
    }

    #[test]
    fn profile_seconds_default_to_30_and_are_capped() {
        assert_eq!(profile_seconds(None), Ok(30));
        assert_eq!(profile_seconds(Some("5")), Ok(5));
        assert_eq!(profile_seconds(Some("0")), Ok(30));
        assert_eq!(profile_seconds(Some("-3")), Ok(30));
        assert_eq!(profile_seconds(Some("3600")), Ok(MAX_PROFILE_SECONDS));
        assert_eq!(
            profile_seconds(Some("ten")),
            Err(ProfileError::BadSeconds("ten".into()))
        );
    }

    #[test]
    fn proc_status_fields_parse() {
        let status = "Name:\tecs-agent\nVmSize:\t  200 kB\nVmRSS:\t   100 kB\nThreads:\t7\n";
        assert_eq!(
            parse_status(status),
            ProcStats {
                resident_bytes: Some(102_400),
                virtual_bytes: Some(204_800),
                open_fds: None,
                threads: Some(7),
            }
        );
    }

    /// Each field of a stats line, as `Key=value` pairs.
    fn fields(line: &str) -> std::collections::BTreeMap<String, String> {
        line.trim()
            .split(", ")
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_logger_writes_a_line_with_every_field_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join(FILE_NAME);
        let shutdown = CancellationToken::new();
        let logger = tokio::spawn(run_logger(
            path.clone(),
            1_000_000,
            INTERVAL,
            shutdown.clone(),
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        let line = loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(line) = text.lines().next() {
                break line.to_owned();
            }
            assert!(Instant::now() < deadline, "no stats line in {path:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        shutdown.cancel();
        logger.await.unwrap();
        let f = fields(&line);
        for key in [
            "ResidentMemoryBytes",
            "VirtualMemoryBytes",
            "OpenFileDescriptors",
            "ThreadCount",
            "TokioWorkers",
            "TokioAliveTasks",
            "TokioGlobalQueueDepth",
        ] {
            let value = f
                .get(key)
                .unwrap_or_else(|| panic!("{key} missing: {line}"));
            assert!(value.parse::<u64>().is_ok(), "{key}={value}: {line}");
        }
        assert!(
            f["ResidentMemoryBytes"].parse::<u64>().unwrap() > 0,
            "{line}"
        );
        assert_eq!(f["TokioWorkers"], "2", "{line}");
        assert!(f["Time"].ends_with('Z'), "{line}");
        assert!(f.contains_key("UpTime"), "{line}");
        // Only the owner reads it, as the agent's log.
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
