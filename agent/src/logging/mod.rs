//! The agent's own log, set up once by `ecs-agent run`, as the reference agent writes it:
//!
//! - standard error (journald under systemd) at `ECS_LOGLEVEL`, or `RUST_LOG` when set;
//! - the log file `ECS_LOGFILE` (default `/var/log/ecs/ecs-agent.log`) at
//!   `ECS_LOGLEVEL_ON_INSTANCE`, rolled over by `ECS_LOG_ROLLOVER_TYPE` (see [`rolling`]);
//! - both in `ECS_LOG_OUTPUT_FORMAT` (see [`format`]).
//!
//! A log file that cannot be opened is not fatal: the agent says so on standard error and logs
//! there only, as the reference's seelog does. Files are created 0600 in a directory created 0700:
//! the log names tasks, containers and registries, for root's eyes only, as the audit log.
//!
//! What it must not do: decide anything about the audit log's contents (`endpoint::audit`); it
//! only gives it the reference's rollover rules ([`audit_rollover`]).

pub mod format;
pub mod rolling;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecs_config::{Config, LogLevel, LogOutputFormat, LogRolloverType};
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

pub use rolling::{RollingFile, Rollover};

/// Mode of the log files.
const FILE_MODE: u32 = 0o600;

/// What the agent log needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// Standard error's level (`RUST_LOG`, when set, replaces it).
    pub stderr_level: LevelFilter,
    /// The log file's level.
    pub file_level: LevelFilter,
    /// `None`: standard error only.
    pub file: Option<PathBuf>,
    /// How the log file rolls over.
    pub rollover: Rollover,
    /// Rolled files kept (0: all).
    pub max_rolls: u32,
    /// The line format of both outputs.
    pub format: LogOutputFormat,
}

impl LogSettings {
    /// The settings `config` gives.
    pub fn from_config(config: &Config) -> Self {
        Self {
            stderr_level: level_filter(config.loglevel.value),
            file_level: level_filter(config.loglevel_on_instance.value),
            file: config.logfile.value.clone(),
            rollover: agent_rollover(config),
            max_rolls: config.log_max_roll_count.value,
            format: config.log_output_format.value,
        }
    }
}

/// The `tracing` level for an ECS_LOGLEVEL value (`crit` is `error`; `none` is `off`).
pub fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error | LogLevel::Crit => LevelFilter::ERROR,
        LogLevel::None => LevelFilter::OFF,
    }
}

/// `ECS_LOG_MAX_FILE_SIZE_MB` in bytes, as the reference counts them (`int(MB * 1000000)`).
fn max_bytes(config: &Config) -> u64 {
    (config.log_max_file_size_mb.value * 1_000_000.0) as u64
}

/// The agent log's rollover: `size`, `hourly` or `none` (a plain file).
pub fn agent_rollover(config: &Config) -> Rollover {
    match config.log_rollover_type.value {
        LogRolloverType::Size => Rollover::Size {
            max_bytes: max_bytes(config),
        },
        LogRolloverType::Hourly => Rollover::Hourly,
        LogRolloverType::None => Rollover::Never,
    }
}

/// The audit log's rollover, the reference's: the agent log's size settings with `size`, hourly
/// otherwise (the reference's audit logger has no plain-file case, so `none` rolls hourly too).
pub fn audit_rollover(config: &Config) -> Rollover {
    match config.log_rollover_type.value {
        LogRolloverType::Size => Rollover::Size {
            max_bytes: max_bytes(config),
        },
        LogRolloverType::Hourly | LogRolloverType::None => Rollover::Hourly,
    }
}

/// Creates `path`'s directory (0700 when it creates it) and opens `path` (0600) with `rollover`.
pub fn open_private(
    path: &Path,
    rollover: Rollover,
    max_rolls: u32,
) -> std::io::Result<RollingFile> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::state::private_dir(dir)?;
    }
    RollingFile::open(path, rollover, max_rolls, FILE_MODE)
}

/// The log file, shared by every thread that logs. The lock is held for one line's write (and a
/// rollover when one is due): `tracing` calls writers from any thread, and lines must not
/// interleave.
#[derive(Debug, Clone)]
pub struct LogFile {
    inner: Arc<Mutex<FileState>>,
}

#[derive(Debug)]
struct FileState {
    file: RollingFile,
    /// When a write error was last reported on standard error, and how many since.
    last_report: Option<Instant>,
    unreported: u64,
}

impl LogFile {
    /// Wraps an open file.
    pub fn new(file: RollingFile) -> Self {
        Self {
            inner: Arc::new(Mutex::new(FileState {
                file,
                last_report: None,
                unreported: 0,
            })),
        }
    }
}

/// Writes one formatted line into the [`LogFile`].
#[derive(Debug)]
pub struct LogFileWriter<'a>(&'a LogFile);

impl Write for LogFileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = match self.0.inner.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let result = state.file.write_all(buf).and_then(|()| state.file.flush());
        let failure = match result {
            Err(e) => Some(format!(
                "cannot write the log file {}: {e}",
                state.file.path().display()
            )),
            Ok(()) => state.file.take_roll_error().map(|e| {
                format!(
                    "cannot roll the log file {} over: {e}",
                    state.file.path().display()
                )
            }),
        };
        if let Some(e) = failure {
            // Logging the failure to the log would recurse: standard error, once a minute.
            state.unreported += 1;
            if state
                .last_report
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
            {
                let _ = writeln!(
                    std::io::stderr(),
                    "ecs-agent: {e} ({} line(s) affected since the last report)",
                    state.unreported
                );
                state.last_report = Some(Instant::now());
                state.unreported = 0;
            }
        }
        // The line is written or reported; tracing has nothing better to do with an error.
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self)
    }
}

type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// One output: `writer` in `format`, through `filter`.
fn output<S, W, F>(format: LogOutputFormat, writer: W, filter: F) -> BoxedLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    F: tracing_subscriber::layer::Filter<S> + Send + Sync + 'static,
{
    match format {
        LogOutputFormat::Logfmt => tracing_subscriber::fmt::layer()
            .event_format(format::Logfmt)
            .fmt_fields(format::LogfmtFields)
            .with_ansi(false)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        LogOutputFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(format::JsonLines)
            .fmt_fields(JsonFields::new())
            .with_ansi(false)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    }
}

/// The layers for `settings`: standard error through `stderr_filter`, and the file if any.
fn layers<S, W>(
    settings: &LogSettings,
    stderr: W,
    stderr_filter: EnvFilter,
    file: Option<LogFile>,
) -> Vec<BoxedLayer<S>>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut layers = vec![output(settings.format, stderr, stderr_filter)];
    if let Some(file) = file {
        layers.push(output(settings.format, file, settings.file_level));
    }
    layers
}

/// Why the log file is not written, if it is not.
fn open_file(settings: &LogSettings) -> Result<Option<LogFile>, (PathBuf, std::io::Error)> {
    let Some(path) = settings.file.as_ref() else {
        return Ok(None);
    };
    if settings.file_level == LevelFilter::OFF {
        return Ok(None);
    }
    open_private(path, settings.rollover, settings.max_rolls)
        .map(|f| Some(LogFile::new(f)))
        .map_err(|e| (path.clone(), e))
}

/// Installs the global subscriber for `settings`. A second call (tests) changes nothing.
pub fn init(settings: &LogSettings) {
    let stderr_filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.stderr_level.to_string()));
    let (file, failure) = match open_file(settings) {
        Ok(f) => (f, None),
        Err(e) => (None, Some(e)),
    };
    let installed = tracing_subscriber::registry()
        .with(layers(settings, std::io::stderr, stderr_filter, file))
        .try_init()
        .is_ok();
    if let Some((path, e)) = failure {
        if installed {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the log file; logging to standard error only");
        } else {
            let _ = writeln!(
                std::io::stderr(),
                "ecs-agent: cannot open the log file {}: {e}",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
                .unwrap_or_else(|e| panic!("{e}"))
        }
    }

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn settings(format: LogOutputFormat, file: Option<PathBuf>) -> LogSettings {
        LogSettings {
            stderr_level: LevelFilter::INFO,
            file_level: LevelFilter::DEBUG,
            file,
            rollover: Rollover::Size {
                max_bytes: 5_000_000,
            },
            max_rolls: 24,
            format,
        }
    }

    /// Logs a few events through `settings` with standard error in a buffer; returns it and the
    /// file's text.
    fn log_through(settings: &LogSettings) -> (String, String) {
        let stderr = Buffer::default();
        let file = open_file(settings).unwrap_or_else(|(p, e)| panic!("{}: {e}", p.display()));
        let filter = EnvFilter::new(settings.stderr_level.to_string());
        let subscriber =
            tracing_subscriber::registry().with(layers(settings, stderr.clone(), filter, file));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("task", task_arn = "arn:aws:ecs:t/1");
            let _entered = span.enter();
            tracing::info!(container = "web", port = 8080, "container started");
            tracing::debug!(reason = "pull it again", "only in the file");
        });
        // A record bridged from the `log` crate: its target is the module, its other origin
        // fields are dropped.
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(layers(
                settings,
                stderr.clone(),
                EnvFilter::new("info"),
                None,
            )),
            || tracing::info!(log.target = "bollard::docker", log.line = 7, "from log"),
        );
        let text = settings
            .file
            .as_ref()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default();
        (stderr.text(), text)
    }

    #[test]
    fn logfmt_lines_are_logfmt() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("log").join("ecs-agent.log");
        let (stderr, file) = log_through(&settings(LogOutputFormat::Logfmt, Some(path)));
        let line = stderr.lines().next().unwrap_or_default();
        assert!(line.starts_with("level=info time=20"), "{line}");
        assert!(
            line.contains(" msg=\"container started\" container=\"web\" port=8080 task_arn=\"arn:aws:ecs:t/1\" module=ecs_agent::logging::tests"),
            "{line}"
        );
        let bridged = stderr.lines().nth(1).unwrap_or_default();
        assert!(
            bridged.ends_with("msg=\"from log\" module=bollard::docker"),
            "{bridged}"
        );
        // Standard error at info, the file at debug.
        assert_eq!(stderr.lines().count(), 2, "{stderr}");
        assert_eq!(file.lines().count(), 2, "{file}");
        assert!(
            file.lines()
                .nth(1)
                .unwrap_or_default()
                .starts_with("level=debug time=")
        );
        assert!(file.contains("reason=\"pull it again\""), "{file}");
    }

    #[test]
    fn json_lines_are_json() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("ecs-agent.log");
        let (_, file) = log_through(&settings(LogOutputFormat::Json, Some(path)));
        let lines: Vec<serde_json::Value> = file
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["level"], "info");
        assert_eq!(first["msg"], "container started");
        assert_eq!(first["container"], "web");
        assert_eq!(first["port"], 8080);
        assert_eq!(first["task_arn"], "arn:aws:ecs:t/1");
        assert_eq!(first["module"], "ecs_agent::logging::tests");
        assert!(first["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(lines[1]["level"], "debug");
    }

    #[test]
    fn the_log_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("log").join("ecs-agent.log");
        log_through(&settings(LogOutputFormat::Logfmt, Some(path.clone())));
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .unwrap_or_else(|e| panic!("{e}"))
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("log")), 0o700);
    }

    #[test]
    fn an_unwritable_log_file_is_reported_not_fatal() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A file where the directory should be: no one can create the log under it, root included.
        let blocker = tmp.path().join("not-a-dir");
        std::fs::write(&blocker, "").unwrap_or_else(|e| panic!("{e}"));
        let s = settings(LogOutputFormat::Logfmt, Some(blocker.join("ecs-agent.log")));
        assert!(open_file(&s).is_err());
        // Standard error still gets the lines.
        let stderr = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(layers(
            &s,
            stderr.clone(),
            EnvFilter::new("info"),
            None,
        ));
        tracing::subscriber::with_default(subscriber, || tracing::info!("still here"));
        assert!(stderr.text().contains("msg=\"still here\""));
    }

    #[test]
    fn no_file_when_unset_or_level_none() {
        assert!(matches!(
            open_file(&settings(LogOutputFormat::Logfmt, None)),
            Ok(None)
        ));
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut s = settings(LogOutputFormat::Logfmt, Some(tmp.path().join("x.log")));
        s.file_level = LevelFilter::OFF;
        assert!(matches!(open_file(&s), Ok(None)));
        assert!(!tmp.path().join("x.log").exists());
    }

    #[test]
    fn settings_follow_the_configuration() {
        let config = |env: &[(&str, &str)]| {
            let sources = ecs_config::Sources::from_env(env);
            ecs_config::load(&sources).config
        };
        let c = config(&[]);
        let s = LogSettings::from_config(&c);
        assert_eq!(s.file, Some(PathBuf::from("/var/log/ecs/ecs-agent.log")));
        assert_eq!(
            s.rollover,
            Rollover::Size {
                max_bytes: 5_000_000
            }
        );
        assert_eq!(s.max_rolls, 24);
        assert_eq!(s.format, LogOutputFormat::Logfmt);
        assert_eq!(
            audit_rollover(&c),
            Rollover::Size {
                max_bytes: 5_000_000
            }
        );

        let c = config(&[
            ("ECS_LOGLEVEL", "warn"),
            ("ECS_LOGLEVEL_ON_INSTANCE", "trace"),
            ("ECS_LOG_ROLLOVER_TYPE", "none"),
            ("ECS_LOG_MAX_FILE_SIZE_MB", "0.5"),
            ("ECS_LOG_OUTPUT_FORMAT", "json"),
        ]);
        let s = LogSettings::from_config(&c);
        assert_eq!(s.stderr_level, LevelFilter::WARN);
        assert_eq!(s.file_level, LevelFilter::TRACE);
        assert_eq!(s.rollover, Rollover::Never);
        assert_eq!(s.format, LogOutputFormat::Json);
        // The reference's audit logger has no plain-file case.
        assert_eq!(audit_rollover(&c), Rollover::Hourly);

        let c = config(&[
            ("ECS_LOG_ROLLOVER_TYPE", "size"),
            ("ECS_LOG_MAX_FILE_SIZE_MB", "0.5"),
        ]);
        assert_eq!(agent_rollover(&c), Rollover::Size { max_bytes: 500_000 });
        let c = config(&[("ECS_LOG_ROLLOVER_TYPE", "hourly")]);
        assert_eq!(agent_rollover(&c), Rollover::Hourly);
        assert_eq!(audit_rollover(&c), Rollover::Hourly);
    }
}
