//! The credentials audit log (`ECS_AUDIT_LOGFILE`, off with `ECS_AUDIT_LOGFILE_DISABLED=true`):
//! one line per credentials request, as the reference writes it: time, HTTP status, client
//! address, path, user agent, task ARN, event type, format version, cluster and instance ARN.
//!
//! What it must not do: write a secret. The credentials id in a path is replaced by `<id>`, and no
//! key, secret or token is ever given to it.
//!
//! Every line is kept: lines go through a bounded queue to one writer, and a request whose line
//! finds the queue full waits for room (back-pressure), as the reference's seelog makes the
//! logging caller write its queue out itself when it holds 10,000 messages. The writer does its
//! file I/O on tokio's blocking pool, a batch at a time, so the request-serving workers never wait
//! on the disk unless the queue is full. Lines that cannot be written (a full disk) are counted
//! and reported in the agent log at most once a minute with the count.
//!
//! The file rolls over as the reference's audit logger (`AuditLoggerConfig` in
//! `agent/logger/audit/audit_log.go`): by size with the agent log's `ECS_LOG_MAX_FILE_SIZE_MB`
//! and `ECS_LOG_MAX_ROLL_COUNT` when `ECS_LOG_ROLLOVER_TYPE=size`, hourly otherwise (see
//! [`crate::logging::audit_rollover`]). It and its rolls are 0600 in a 0700 directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::logging::{RollingFile, Rollover};

/// Lines queued for the writer before a request waits.
const QUEUE: usize = 4096;

/// How often, at most, lines that could not be written are reported.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Reference event type: credentials served (task role).
pub const GET_CREDENTIALS: &str = "GetCredentials";
/// Reference event type: credentials served (execution role).
pub const GET_CREDENTIALS_EXECUTION_ROLE: &str = "GetCredentialsExecutionRole";
/// Reference event type: a request that found no credentials.
pub const GET_CREDENTIALS_INVALID_ROLE_TYPE: &str = "GetCredentialsInvalidRoleType";

/// One request, as logged.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// HTTP status answered.
    pub status: u16,
    /// Client address.
    pub client: SocketAddr,
    /// Path with the id redacted (see [`redact_path`]).
    pub path: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// Task ARN the credentials belong to, if found.
    pub task_arn: Option<String>,
    /// One of the event type constants.
    pub event_type: &'static str,
}

/// Where the audit log goes and how it rolls over.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFile {
    /// `ECS_AUDIT_LOGFILE`.
    pub path: PathBuf,
    /// The reference's rule for the audit log.
    pub rollover: Rollover,
    /// `ECS_LOG_MAX_ROLL_COUNT`.
    pub max_rolls: u32,
}

impl AuditFile {
    /// The audit file `config` describes.
    pub fn from_config(config: &ecs_config::Config) -> Self {
        Self {
            path: config.audit_logfile.value.clone(),
            rollover: crate::logging::audit_rollover(config),
            max_rolls: config.log_max_roll_count.value,
        }
    }
}

/// A handle to the audit writer; cheap to clone. Disabled handles drop everything.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<AuditEntry>>,
}

impl AuditLog {
    /// A log that writes nothing.
    pub fn disabled() -> Self {
        Self { tx: None }
    }

    /// Starts the writer appending to `file` (directories created 0700, the file 0600); it
    /// writes what is queued and stops at `shutdown`. `cluster` and `instance_arn` end every
    /// line.
    pub fn start(
        file: &AuditFile,
        cluster: String,
        instance_arn: tokio::sync::watch::Receiver<Option<String>>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let out = crate::logging::open_private(&file.path, file.rollover, file.max_rolls)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(out, rx, cluster, instance_arn, shutdown));
        Ok(Self { tx: Some(tx) })
    }

    /// Queues one entry, waiting for room when the writer is behind.
    pub async fn log(&self, entry: AuditEntry) {
        if let Some(tx) = &self.tx {
            // Err: the writer has stopped (shutdown); there is nowhere left to write.
            let _ = tx.send(entry).await;
        }
    }
}

/// `/v2/credentials/<id>` → `/v2/credentials/<id>` with the id replaced; v1's query is cut.
pub fn redact_path(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/v2/credentials/")
        && !rest.is_empty()
    {
        return "/v2/credentials/<id>".to_string();
    }
    path.split('?').next().unwrap_or(path).to_string()
}

/// The line for `entry` at `time`.
pub fn format_line(
    entry: &AuditEntry,
    time: &str,
    cluster: &str,
    instance_arn: Option<&str>,
) -> String {
    format!(
        "{time} {} {} \"{}\" \"{}\" {} {} 1 {} {}\n",
        entry.status,
        entry.client,
        entry.path.replace('"', "%22"),
        entry
            .user_agent
            .replace('"', "%22")
            .replace(['\n', '\r'], " "),
        entry.task_arn.as_deref().unwrap_or("-"),
        entry.event_type,
        cluster,
        instance_arn.unwrap_or("-"),
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Lines that could not be written, reported at most once per [`REPORT_EVERY`].
#[derive(Debug, Default)]
struct Losses {
    unreported: u64,
    last_report: Option<Instant>,
}

impl Losses {
    fn note(&mut self, lines: u64, path: &std::path::Path, error: &std::io::Error) {
        self.unreported += lines;
        if self.last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
            tracing::warn!(path = %path.display(), error = %error, lines_lost = self.unreported, "cannot write the audit log; lines lost since the last report");
            self.unreported = 0;
            self.last_report = Some(Instant::now());
        }
    }
}

/// Writes `lines` and flushes; how many were not written, and why.
fn write_lines(out: &mut RollingFile, lines: &[String]) -> Option<(u64, std::io::Error)> {
    use std::io::Write;
    let mut failed = None;
    for (i, line) in lines.iter().enumerate() {
        if let Err(e) = out.write_all(line.as_bytes()) {
            failed = Some(((lines.len() - i) as u64, e));
            break;
        }
    }
    if let Err(e) = out.flush() {
        // What sat in the buffer is lost with it; the batch is the best count there is.
        failed = Some((lines.len() as u64, e));
    }
    if failed.is_none()
        && let Some(e) = out.take_roll_error()
    {
        tracing::warn!(path = %out.path().display(), error = %e, "cannot roll the audit log over; writing on to the live file");
    }
    failed
}

async fn write_loop(
    mut out: RollingFile,
    mut rx: mpsc::Receiver<AuditEntry>,
    cluster: String,
    instance_arn: tokio::sync::watch::Receiver<Option<String>>,
    shutdown: CancellationToken,
) {
    let mut losses = Losses::default();
    let render = |batch: &[AuditEntry]| {
        let arn = instance_arn.borrow().clone();
        let time = now_rfc3339();
        batch
            .iter()
            .map(|e| format_line(e, &time, &cluster, arn.as_deref()))
            .collect::<Vec<_>>()
    };
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            e = rx.recv() => match e { Some(e) => e, None => break },
        };
        let mut batch = vec![first];
        while batch.len() < QUEUE
            && let Ok(e) = rx.try_recv()
        {
            batch.push(e);
        }
        let lines = render(&batch);
        // A rollover renames files and lists the directory: off the request-serving workers.
        let written = tokio::task::spawn_blocking(move || {
            let failed = write_lines(&mut out, &lines);
            (out, failed)
        })
        .await;
        match written {
            Ok((file, failed)) => {
                out = file;
                if let Some((n, e)) = failed {
                    losses.note(n, out.path(), &e);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "the audit log writer failed; credentials requests are no longer audited");
                return;
            }
        }
    }
    // Shutdown: what is queued is still written (requests waiting on a full queue get an error).
    rx.close();
    let mut rest = Vec::new();
    while let Ok(e) = rx.try_recv() {
        rest.push(e);
    }
    if !rest.is_empty()
        && let Some((n, e)) = write_lines(&mut out, &render(&rest))
    {
        losses.note(n, out.path(), &e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    }

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            status: 200,
            client: "172.17.0.2:40000"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
            path: "/v2/credentials/<id>".into(),
            user_agent: format!("client-{n}"),
            task_arn: Some("arn:aws:ecs:us-east-1:1:task/c/t".into()),
            event_type: GET_CREDENTIALS,
        }
    }

    fn audit_file(dir: &std::path::Path, rollover: Rollover) -> AuditFile {
        AuditFile {
            path: dir.join("log").join("audit.log"),
            rollover,
            max_rolls: 0,
        }
    }

    #[tokio::test]
    async fn the_audit_log_is_created_0600() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = audit_file(tmp.path(), Rollover::Hourly);
        let (_tx, rx) = tokio::sync::watch::channel(None);
        let shutdown = CancellationToken::new();
        let _log = AuditLog::start(&file, "c".into(), rx, shutdown.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&file.path), 0o600);
        assert_eq!(mode(&tmp.path().join("log")), 0o700);
        shutdown.cancel();
    }

    /// Lines in the audit file and its rolls, and the files.
    fn lines_in(dir: &std::path::Path) -> (usize, Vec<PathBuf>) {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.unwrap_or_else(|e| panic!("{e}")).path())
            .collect();
        let lines = files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum();
        (lines, files)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_load_every_line_is_kept_and_every_roll_is_0600() {
        const LINES: usize = 3 * QUEUE;
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // About 150 bytes a line: a roll every ~130 lines.
        let file = audit_file(tmp.path(), Rollover::Size { max_bytes: 20_000 });
        let (_tx, rx) = tokio::sync::watch::channel(Some("arn:ci".to_string()));
        let shutdown = CancellationToken::new();
        let log = AuditLog::start(&file, "c".into(), rx, shutdown.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        // Eight clients log faster than one writer can write: the queue fills and they wait.
        let clients: Vec<_> = (0..8)
            .map(|c| {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in (c..LINES).step_by(8) {
                        log.log(entry(n)).await;
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap_or_else(|e| panic!("{e}"));
        }
        // Shutdown writes what is still queued.
        shutdown.cancel();
        let dir = tmp.path().join("log");
        let deadline = Instant::now() + Duration::from_secs(20);
        let (lines, files) = loop {
            let (lines, files) = lines_in(&dir);
            if lines == LINES || Instant::now() > deadline {
                break (lines, files);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(lines, LINES);
        assert!(files.len() > 10, "{files:?}");
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }

    #[test]
    fn losses_are_reported_once_a_minute_with_the_count() {
        let mut losses = Losses::default();
        let e = std::io::Error::other("disk full");
        let p = std::path::Path::new("/var/log/ecs/audit.log");
        losses.note(3, p, &e);
        // Reported (and reset) at once; the next ones wait for the minute.
        assert_eq!(losses.unreported, 0);
        losses.note(2, p, &e);
        losses.note(5, p, &e);
        assert_eq!(losses.unreported, 7);
        losses.last_report = Instant::now().checked_sub(REPORT_EVERY);
        losses.note(1, p, &e);
        assert_eq!(losses.unreported, 0);
    }

    #[test]
    fn ids_are_not_logged() {
        assert_eq!(
            redact_path("/v2/credentials/0f8a-secretish"),
            "/v2/credentials/<id>"
        );
        assert_eq!(redact_path("/v1/credentials?id=abc"), "/v1/credentials");
        assert_eq!(redact_path("/v2/credentials/"), "/v2/credentials/");
    }

    #[test]
    fn the_line_has_the_reference_fields() {
        let e = AuditEntry {
            status: 200,
            client: "172.17.0.2:40000"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
            path: "/v2/credentials/<id>".into(),
            user_agent: "Boto3/1.0".into(),
            task_arn: Some("arn:aws:ecs:us-east-1:1:task/c/t".into()),
            event_type: GET_CREDENTIALS,
        };
        assert_eq!(
            format_line(&e, "2026-11-22T07:00:00Z", "c", Some("arn:ci")),
            "2026-11-22T07:00:00Z 200 172.17.0.2:40000 \"/v2/credentials/<id>\" \"Boto3/1.0\" arn:aws:ecs:us-east-1:1:task/c/t GetCredentials 1 c arn:ci\n"
        );
    }
}
