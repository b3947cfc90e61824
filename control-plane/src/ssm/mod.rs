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

pub mod parameters;
pub mod secrets;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::front::{ApiError, ErrorCode, Input, Output, RequestContext, Service, ServiceInfo};
use crate::ssm::parameters::{Caller, ParameterStore};
use crate::ssm::secrets::SecretsManager;
use crate::store::{Store, StoreError};

/// Which service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
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
        service: Api,
        op: &str,
        body: &[u8],
        now: f64,
        caller: &Caller,
    ) -> Result<serde_json::Value, ApiError> {
        match service {
            Api::Ssm => self.ssm.handle(op, body, now, caller),
            Api::SecretsManager => self.asm.handle(op, body, now),
        }
    }
}

struct Job {
    service: Api,
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
        service: Api,
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

/// SSM Parameter Store, as the front calls it.
#[derive(Debug, Clone)]
pub struct ParameterStoreApi(pub VaultHandle);

/// Secrets Manager, as the front calls it.
#[derive(Debug, Clone)]
pub struct SecretsManagerApi(pub VaultHandle);

async fn call_vault(
    vault: &VaultHandle,
    api: Api,
    ctx: RequestContext,
    input: Input,
) -> Result<Output, ApiError> {
    let (op, body) = input.into_json()?;
    let caller = Caller {
        arn: ctx.caller.arn,
    };
    vault
        .call(api, &op, &body, ctx.now, caller)
        .await
        .map(Output::Json)
}

impl Service for ParameterStoreApi {
    fn info(&self) -> ServiceInfo {
        ServiceInfo::aws_json("ssm", "ssm", parameters::TARGET_PREFIX, "message")
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(call_vault(&self.0, Api::Ssm, ctx, input))
    }
}

impl Service for SecretsManagerApi {
    fn info(&self) -> ServiceInfo {
        // Secrets Manager's errors carry `Message` (botocore's model and the service's answers).
        ServiceInfo::aws_json(
            "secretsmanager",
            "secretsmanager",
            secrets::TARGET_PREFIX,
            "Message",
        )
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(call_vault(&self.0, Api::SecretsManager, ctx, input))
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
                Api::Ssm,
                "PutParameter",
                br#"{"Name":"/p","Value":"v1","Type":"SecureString"}"#,
                1.0,
                caller.clone(),
            )
            .await
            .unwrap();
            h.call(
                Api::SecretsManager,
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
                Api::Ssm,
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
                Api::SecretsManager,
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
