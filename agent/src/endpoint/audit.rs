//! The credentials audit log (`ECS_AUDIT_LOGFILE`, off with `ECS_AUDIT_LOGFILE_DISABLED=true`):
//! one line per credentials request, as the reference writes it: time, HTTP status, client
//! address, path, user agent, task ARN, event type, format version, cluster and instance ARN.
//!
//! What it must not do: write a secret. The credentials id in a path is replaced by `<id>`, and no
//! key, secret or token is ever given to it. Lines go through a bounded channel to one writer
//! task, so a slow disk never slows a request down; when the channel is full a line is dropped
//! and counted.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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

/// A handle to the audit writer; cheap to clone. Disabled handles drop everything.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<AuditEntry>>,
    dropped: Arc<AtomicU64>,
}

impl AuditLog {
    /// A log that writes nothing.
    pub fn disabled() -> Self {
        Self {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Starts the writer appending to `path` (directories created); it stops at `shutdown`.
    /// `cluster` and `instance_arn` end every line.
    pub fn start(
        path: &Path,
        cluster: String,
        instance_arn: tokio::sync::watch::Receiver<Option<String>>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            crate::state::private_dir(dir)?;
        }
        // The audit log names every credentials request: root's eyes only (0600).
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(write_loop(
            file,
            path.to_path_buf(),
            rx,
            cluster,
            instance_arn,
            shutdown,
        ));
        Ok(Self {
            tx: Some(tx),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Entries dropped because the writer fell behind (the channel was full).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues one entry (never waits).
    pub fn log(&self, entry: AuditEntry) {
        if let Some(tx) = &self.tx
            && tx.try_send(entry).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
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

async fn write_loop(
    file: std::fs::File,
    path: PathBuf,
    mut rx: mpsc::Receiver<AuditEntry>,
    cluster: String,
    instance_arn: tokio::sync::watch::Receiver<Option<String>>,
    shutdown: CancellationToken,
) {
    let mut out = std::io::BufWriter::new(file);
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            e = rx.recv() => match e { Some(e) => e, None => break },
        };
        let arn = instance_arn.borrow().clone();
        let mut batch = vec![first];
        while let Ok(e) = rx.try_recv() {
            batch.push(e);
        }
        let time = now_rfc3339();
        let result = batch
            .iter()
            .try_for_each(|e| {
                out.write_all(format_line(e, &time, &cluster, arn.as_deref()).as_bytes())
            })
            .and_then(|()| out.flush());
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_audit_log_is_created_0600() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("log").join("audit.log");
        let (_tx, rx) = tokio::sync::watch::channel(None);
        let shutdown = CancellationToken::new();
        let _log = AuditLog::start(&path, "c".into(), rx, shutdown.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("log")), 0o700);
        shutdown.cancel();
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
