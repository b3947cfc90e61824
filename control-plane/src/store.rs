//! Crash-safe persistence of the emulator's state in one redb file (`<data-dir>/control-plane.db`).
//!
//! A single table maps entity keys (`cluster/<name>`, `task/<arn>`, ...) to their JSON. Each API
//! command's changes are written in one transaction, committed durably before the caller gets an
//! answer, so a `kill -9` loses nothing that was acknowledged. Without a data dir, an in-memory
//! backend keeps the same code path for the services that write little; the ECS state actor,
//! which writes on every RunTask, asks [`Store::is_durable`] and skips serialising rows that
//! nothing would ever read back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const ENTITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entities");

/// A store error, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or used.
    #[error("state store {path}: {message}")]
    Db {
        /// The file.
        path: PathBuf,
        /// What redb said.
        message: String,
    },
}

/// One change to write.
#[derive(Debug, Clone)]
pub enum Change {
    /// Insert or replace `key` with JSON bytes.
    Put(String, Vec<u8>),
    /// Remove `key`.
    Delete(String),
}

/// The redb-backed store. Clones share one database (redb serialises write transactions), so the
/// ECS state actor and the secrets actor each commit their own changes to the same file.
#[derive(Debug, Clone)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    durable: bool,
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError::Db {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let db = Database::create(path).map_err(|e| err(&e))?;
        let txn = db.begin_write().map_err(|e| err(&e))?;
        txn.open_table(ENTITIES).map_err(|e| err(&e))?;
        txn.commit().map_err(|e| err(&e))?;
        Ok(Store {
            db: Arc::new(db),
            path: path.to_path_buf(),
            durable: true,
        })
    }

    /// An in-memory store (no data dir).
    pub fn in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Db {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let store = Store {
            db: Arc::new(db),
            path,
            durable: false,
        };
        store.apply(&[])?;
        Ok(store)
    }

    /// Whether what is written outlives the process (a file, not the in-memory backend).
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    fn err(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Every entity, in key order.
    pub fn load(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(&e))?;
        let table = txn.open_table(ENTITIES).map_err(|e| self.err(&e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.err(&e))? {
            let (k, v) = row.map_err(|e| self.err(&e))?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Writes `changes` in one durable transaction.
    pub fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(&e))?;
        {
            let mut table = txn.open_table(ENTITIES).map_err(|e| self.err(&e))?;
            for change in changes {
                match change {
                    Change::Put(k, v) => {
                        table
                            .insert(k.as_str(), v.as_slice())
                            .map_err(|e| self.err(&e))?;
                    }
                    Change::Delete(k) => {
                        table.remove(k.as_str()).map_err(|e| self.err(&e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.err(&e))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let s = Store::open(&path).unwrap();
            s.apply(&[
                Change::Put("a".into(), b"1".to_vec()),
                Change::Put("b".into(), b"2".to_vec()),
            ])
            .unwrap();
            s.apply(&[Change::Delete("a".into())]).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.load().unwrap(), vec![("b".to_string(), b"2".to_vec())]);
    }
}
