//! The actor that owns the emulated secret stores (SSM Parameter Store and Secrets Manager) and
//! persists them.
//!
//! Both services keep their entities in the emulator's redb file beside the ECS state (rows
//! `ssm/<name>` and `asm/<name>`), written in one durable transaction after each command and
//! before the caller gets its answer, so a `kill -9` loses nothing that was acknowledged. They
//! have their own actor so that the ECS state actor never holds a secret value, and a slow
//! secrets call never delays ACS.
//!
//! What it must not do: log a request body or an answer (they carry secret values).

use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ErrorCode};
use crate::secretsmanager::SecretsManager;
use crate::ssm::{Caller, ParameterStore};
use crate::store::{Change, Store, StoreError};

/// Adds a stored row to `entities` when its key starts with `prefix` (the rest of the key is the
/// entity's name); `Ok(false)` for another store's row.
pub fn restore_entity<T: serde::de::DeserializeOwned>(
    entities: &mut std::collections::BTreeMap<String, T>,
    prefix: &str,
    key: &str,
    bytes: &[u8],
) -> Result<bool, serde_json::Error> {
    let Some(name) = key.strip_prefix(prefix) else {
        return Ok(false);
    };
    entities.insert(name.to_string(), serde_json::from_slice(bytes)?);
    Ok(true)
}

/// The rows to write for the `dirty` names of `entities` (a put, or a delete for one that is
/// gone), keyed `<prefix><name>`; empties `dirty`.
pub fn entity_changes<T: serde::Serialize>(
    entities: &std::collections::BTreeMap<String, T>,
    dirty: &mut std::collections::BTreeSet<String>,
    prefix: &str,
) -> Vec<Change> {
    std::mem::take(dirty)
        .into_iter()
        .map(|name| {
            let key = format!("{prefix}{name}");
            match entities.get(&name) {
                // Plain data with string keys: serialising cannot fail.
                Some(e) => Change::Put(key, serde_json::to_vec(e).unwrap_or_default()),
                None => Change::Delete(key),
            }
        })
        .collect()
}

/// Which service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// SSM Parameter Store (`AmazonSSM.`).
    Ssm,
    /// Secrets Manager (`secretsmanager.`).
    SecretsManager,
}

/// Both stores.
#[derive(Debug)]
pub struct Vault {
    /// SSM Parameter Store.
    pub ssm: ParameterStore,
    /// Secrets Manager.
    pub asm: SecretsManager,
}

impl Vault {
    /// Empty stores for `region` of `account_id`.
    pub fn new(region: &str, account_id: &str) -> Self {
        Vault {
            ssm: ParameterStore::new(region, account_id),
            asm: SecretsManager::new(region, account_id),
        }
    }

    /// The stores as saved in `rows` (every row of the store; others' rows are skipped).
    pub fn restore(
        region: &str,
        account_id: &str,
        rows: &[(String, Vec<u8>)],
    ) -> Result<Self, StoreError> {
        let mut v = Vault::new(region, account_id);
        for (key, bytes) in rows {
            let bad = |e: serde_json::Error| StoreError::Db {
                path: std::path::PathBuf::from(key),
                message: format!("undecodable entity: {e}"),
            };
            if !v.ssm.restore_row(key, bytes).map_err(bad)? {
                v.asm.restore_row(key, bytes).map_err(bad)?;
            }
        }
        Ok(v)
    }

    /// Runs one operation of `service`.
    pub fn handle(
        &mut self,
        service: Service,
        op: &str,
        body: &[u8],
        now: f64,
        caller: &Caller,
    ) -> Result<serde_json::Value, ApiError> {
        match service {
            Service::Ssm => self.ssm.handle(op, body, now, caller),
            Service::SecretsManager => self.asm.handle(op, body, now),
        }
    }
}

struct Job {
    service: Service,
    op: String,
    body: Vec<u8>,
    now: f64,
    caller: Caller,
    reply: oneshot::Sender<Result<serde_json::Value, ApiError>>,
}

/// A cheap, cloneable handle to the vault actor.
#[derive(Debug, Clone)]
pub struct VaultHandle {
    jobs: mpsc::Sender<Job>,
}

impl VaultHandle {
    /// Starts the actor owning `vault`, persisting into `store`.
    pub fn spawn(mut vault: Vault, store: Store) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(256);
        tokio::task::spawn_blocking(move || {
            while let Some(job) = rx.blocking_recv() {
                let result = vault.handle(job.service, &job.op, &job.body, job.now, &job.caller);
                let mut changes = vault.ssm.take_changes();
                changes.extend(vault.asm.take_changes());
                if !changes.is_empty()
                    && let Err(e) = store.apply(&changes)
                {
                    // Without durable state the emulator would lie to its callers: stop here.
                    tracing::error!(error = %e, "cannot persist secrets; stopping the secrets actor");
                    return;
                }
                let _ = job.reply.send(result);
            }
        });
        VaultHandle { jobs }
    }

    /// Runs `op` of `service` on `body` for `caller`, answering once its changes are durable.
    pub async fn call(
        &self,
        service: Service,
        op: &str,
        body: &[u8],
        now: f64,
        caller: Caller,
    ) -> Result<serde_json::Value, ApiError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || ApiError::new(ErrorCode::ServerException, "secrets actor stopped");
        self.jobs
            .send(Job {
                service,
                op: op.to_string(),
                body: body.to_vec(),
                now,
                caller,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_survive_a_reopen_of_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.db");
        let caller = Caller {
            arn: "arn:aws:iam::123456789012:root".into(),
        };
        {
            let store = Store::open(&path).unwrap();
            let h = VaultHandle::spawn(Vault::new("us-east-1", "123456789012"), store);
            h.call(
                Service::Ssm,
                "PutParameter",
                br#"{"Name":"/p","Value":"v1","Type":"SecureString"}"#,
                1.0,
                caller.clone(),
            )
            .await
            .unwrap();
            h.call(
                Service::SecretsManager,
                "CreateSecret",
                br#"{"Name":"s","SecretString":"v2"}"#,
                1.0,
                caller.clone(),
            )
            .await
            .unwrap();
        }
        // The actor thread may still hold the database for a moment after its channel closes.
        let mut reopened = Store::open(&path);
        for _ in 0..250 {
            if reopened.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            reopened = Store::open(&path);
        }
        let store = reopened.unwrap();
        let v = Vault::restore("us-east-1", "123456789012", &store.load().unwrap()).unwrap();
        let h = VaultHandle::spawn(v, store);
        let p = h
            .call(
                Service::Ssm,
                "GetParameter",
                br#"{"Name":"/p","WithDecryption":true}"#,
                2.0,
                caller.clone(),
            )
            .await
            .unwrap();
        assert_eq!(p["Parameter"]["Value"], "v1");
        let s = h
            .call(
                Service::SecretsManager,
                "GetSecretValue",
                br#"{"SecretId":"s"}"#,
                2.0,
                caller,
            )
            .await
            .unwrap();
        assert_eq!(s["SecretString"], "v2");
    }
}
