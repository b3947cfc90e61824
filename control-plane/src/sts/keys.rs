//! The owner of the temporary keys STS issues (GetSessionToken, AssumeRole, and task role
//! credentials issued for ECS): it keeps them, persists each change in the store (rows
//! `tempkey/<access key id>`), answers authentication's lookups and ECS's "latest key of this
//! task's role".
//!
//! The map is behind a mutex because every signed request with a temporary key looks one up,
//! from any connection's task, and the ECS state actor issues keys inside its own commands;
//! the lock is held only for a lookup or an insert, never across an await or a disk write.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::front::{CallerIdentity, TemporaryKey, TemporaryKeys};
use crate::store::{Change, Store, StoreError};

/// Keys expired longer ago than this are forgotten (until then they answer ExpiredToken).
const FORGET_EXPIRED_AFTER_SECS: f64 = 3600.0;

const KEY_PREFIX: &str = "tempkey/";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// What ties a temporary key to an ECS task's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRoleBinding {
    /// Task ARN.
    pub task_arn: String,
    /// `TaskApplication` or `TaskExecution`.
    pub role_type: String,
    /// The role.
    pub role_arn: String,
    /// The id the agent serves them under.
    pub credentials_id: String,
}

/// A temporary key pair issued by the emulator.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TempKey {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token the caller must send.
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: f64,
    /// The identity's ARN (`...:assumed-role/<role>/<session>` or the account root).
    pub arn: String,
    /// The user id GetCallerIdentity reports.
    pub user_id: String,
    /// The task role these credentials were issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskRoleBinding>,
}

impl std::fmt::Debug for TempKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempKey")
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// Random text of `len` characters from `alphabet`.
fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A fresh `AROA...` role id.
pub fn random_role_id() -> String {
    format!("AROA{}", random_string(17, UPPER_DIGITS))
}

/// A stable `AROA...` role id for a role ARN (the same role always has the same id).
pub fn role_id(role_arn: &str) -> String {
    // FNV-1a, twice with different seeds, spelled in the key alphabet.
    let hash = |seed: u64| {
        role_arn.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    let digits: String = (0..17)
        .map(|i| {
            let v = if i < 12 {
                a >> (i * 5)
            } else {
                b >> ((i - 12) * 5)
            };
            #[allow(clippy::cast_possible_truncation)]
            char::from(UPPER_DIGITS[(v & 31) as usize])
        })
        .collect();
    format!("AROA{digits}")
}

#[derive(Debug, Default)]
struct Table {
    keys: BTreeMap<String, TempKey>,
    /// Index: (task ARN, role type) -> access key id of the key that expires last.
    latest: BTreeMap<(String, String), String>,
}

impl Table {
    fn insert(&mut self, key: TempKey) {
        if let Some(b) = &key.task {
            let slot = (b.task_arn.clone(), b.role_type.clone());
            let newer = self
                .latest
                .get(&slot)
                .and_then(|ak| self.keys.get(ak))
                .is_none_or(|old| old.expiration <= key.expiration);
            if newer {
                self.latest.insert(slot, key.access_key_id.clone());
            }
        }
        self.keys.insert(key.access_key_id.clone(), key);
    }

    fn remove(&mut self, access_key_id: &str) {
        if let Some(k) = self.keys.remove(access_key_id)
            && let Some(b) = k.task
        {
            let slot = (b.task_arn, b.role_type);
            if self.latest.get(&slot).map(String::as_str) == Some(access_key_id) {
                self.latest.remove(&slot);
            }
        }
    }
}

/// The temporary keys (a cheap, cloneable handle).
#[derive(Debug, Clone, Default)]
pub struct TempKeys {
    table: Arc<Mutex<Table>>,
    /// `None`: kept in memory only (unit tests).
    store: Option<Store>,
}

impl TempKeys {
    /// The keys among the stored `rows`, persisted to `store` from now on.
    pub fn restore(rows: &[(String, Vec<u8>)], store: Store) -> Result<Self, StoreError> {
        let mut table = Table::default();
        for (key, bytes) in rows {
            if key.starts_with(KEY_PREFIX) {
                let k: TempKey = serde_json::from_slice(bytes).map_err(|e| StoreError::Db {
                    path: std::path::PathBuf::from(key),
                    message: format!("undecodable entity: {e}"),
                })?;
                table.insert(k);
            }
        }
        Ok(TempKeys {
            table: Arc::new(Mutex::new(table)),
            store: Some(store),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves a consistent map (single inserts/removes).
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues (keeps and persists) a temporary key for `arn`, valid `seconds` from `now`.
    /// Long-expired keys are forgotten at the same time, so the table stays small.
    ///
    /// A failed write is logged and the key still works until the emulator restarts.
    pub fn issue(
        &self,
        arn: String,
        user_id: String,
        now: f64,
        seconds: i64,
        task: Option<TaskRoleBinding>,
    ) -> TempKey {
        #[allow(clippy::cast_precision_loss)]
        let key = TempKey {
            access_key_id: format!("ASIA{}", random_string(16, UPPER_DIGITS)),
            secret_access_key: random_string(40, SECRET_CHARS),
            session_token: random_string(300, SECRET_CHARS),
            expiration: now + seconds as f64,
            arn,
            user_id,
            task,
        };
        let mut changes = Vec::new();
        {
            let mut table = self.lock();
            let expired: Vec<String> = table
                .keys
                .values()
                .filter(|k| k.expiration + FORGET_EXPIRED_AFTER_SECS < now)
                .map(|k| k.access_key_id.clone())
                .collect();
            for ak in expired {
                table.remove(&ak);
                changes.push(Change::Delete(format!("{KEY_PREFIX}{ak}")));
            }
            table.insert(key.clone());
        }
        // Plain data with string keys: serialising cannot fail.
        changes.push(Change::Put(
            format!("{KEY_PREFIX}{}", key.access_key_id),
            serde_json::to_vec(&key).unwrap_or_default(),
        ));
        if let Some(store) = &self.store
            && let Err(e) = store.apply(&changes)
        {
            tracing::error!(error = %e, "cannot persist a temporary key");
        }
        key
    }

    /// Makes the key `access_key_id` expire at `now` (if it expires later), so that it answers
    /// ExpiredToken from then on; whether there was such a key.
    pub fn expire(&self, access_key_id: &str, now: f64) -> bool {
        let key = {
            let mut table = self.lock();
            let Some(k) = table.keys.get_mut(access_key_id) else {
                return false;
            };
            k.expiration = k.expiration.min(now);
            k.clone()
        };
        // Plain data with string keys: serialising cannot fail.
        let change = Change::Put(
            format!("{KEY_PREFIX}{}", key.access_key_id),
            serde_json::to_vec(&key).unwrap_or_default(),
        );
        if let Some(store) = &self.store
            && let Err(e) = store.apply(&[change])
        {
            tracing::error!(error = %e, "cannot persist an expired temporary key");
        }
        true
    }

    /// The key with this access key id.
    pub fn get(&self, access_key_id: &str) -> Option<TempKey> {
        self.lock().keys.get(access_key_id).cloned()
    }

    /// The key of `task_arn`'s `role_type` that expires last, if any.
    pub fn latest_for_task(&self, task_arn: &str, role_type: &str) -> Option<TempKey> {
        let table = self.lock();
        let ak = table
            .latest
            .get(&(task_arn.to_string(), role_type.to_string()))?;
        table.keys.get(ak).cloned()
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.lock().keys.len()
    }

    /// Whether none are kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TemporaryKeys for TempKeys {
    fn lookup(&self, access_key_id: &str) -> Option<TemporaryKey> {
        self.get(access_key_id).map(|k| TemporaryKey {
            secret_access_key: k.secret_access_key,
            session_token: k.session_token,
            expiration: k.expiration,
            identity: CallerIdentity {
                access_key_id: k.access_key_id,
                arn: k.arn,
                user_id: k.user_id,
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn binding(task: &str) -> TaskRoleBinding {
        TaskRoleBinding {
            task_arn: task.into(),
            role_type: "TaskApplication".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            credentials_id: "c".into(),
        }
    }

    #[test]
    fn the_latest_key_of_a_task_role_is_the_one_expiring_last() {
        let keys = TempKeys::default();
        let a = keys.issue("a".into(), "u".into(), 100.0, 10, Some(binding("t")));
        let b = keys.issue("a".into(), "u".into(), 105.0, 10, Some(binding("t")));
        assert_eq!(
            keys.latest_for_task("t", "TaskApplication")
                .unwrap()
                .access_key_id,
            b.access_key_id
        );
        assert!(keys.get(&a.access_key_id).is_some());
        assert!(keys.latest_for_task("t", "TaskExecution").is_none());
    }

    #[test]
    fn long_expired_keys_are_forgotten_and_survive_a_restore_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let keys = TempKeys::restore(&[], store.clone()).unwrap();
        let old = keys.issue("a".into(), "u".into(), 0.0, 10, None);
        let new = keys.issue("a".into(), "u".into(), 10_000.0, 10, Some(binding("t")));
        assert!(keys.get(&old.access_key_id).is_none());
        let again = TempKeys::restore(&store.load().unwrap(), store).unwrap();
        assert_eq!(again.len(), 1);
        assert!(again.lookup(&new.access_key_id).is_some());
        assert!(again.latest_for_task("t", "TaskApplication").is_some());
    }
}
