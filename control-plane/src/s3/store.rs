//! The emulated S3's buckets and objects, owned by one actor, and their persistence.
//!
//! Metadata lives in the emulator's redb file (rows `s3bucket/<bucket>` and
//! `s3object/<bucket>/<key>`); object bodies live in files under `<data-dir>/s3/blobs/`, one
//! file per PUT, named by a fresh id and never rewritten. A PUT writes and fsyncs its file (and
//! the directory) before it commits the row, and only then answers, so a `kill -9` loses nothing
//! acknowledged; a crash between the two leaves an unreferenced file, removed at the next start.
//! Without a data dir, bodies are kept in memory.
//!
//! What it must not do: know about HTTP or XML (that is `s3.rs`).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use super::error::{S3Code, S3Error};
use crate::store::{Change, Store, StoreError};

/// Largest object body accepted by PutObject (the emulator keeps a body in memory while it
/// handles it; multipart uploads are not emulated).
pub const MAX_OBJECT_SIZE: usize = 64 * 1024 * 1024;

const BUCKET_PREFIX: &str = "s3bucket/";
const OBJECT_PREFIX: &str = "s3object/";

/// A bucket's persisted row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketMeta {
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// The bucket's region (its `LocationConstraint`, or the emulator's region).
    pub region: String,
}

/// An object's persisted row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Body length in bytes.
    pub size: u64,
    /// `"<md5 hex>"`, quotes included, as S3 answers it.
    pub etag: String,
    /// The Content-Type given at PUT time.
    pub content_type: String,
    /// Last PUT, seconds since the epoch.
    pub last_modified: i64,
    /// The id of the body in the blob store.
    pub blob: String,
}

/// Where object bodies live.
#[derive(Debug)]
pub enum Blobs {
    /// One file per body in this directory (durable).
    Dir(PathBuf),
    /// In memory (no data dir).
    Memory(HashMap<String, Vec<u8>>),
}

impl Blobs {
    /// A blob directory at `dir`, created if needed.
    pub fn open_dir(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Blobs::Dir(dir.to_path_buf()))
    }

    /// Stores `bytes` as `id`, durably for a directory (file and directory entry fsynced).
    fn put(&mut self, id: &str, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Blobs::Dir(dir) => {
                let path = dir.join(id);
                let mut f = std::fs::File::create_new(&path)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                std::fs::File::open(dir.as_path())?.sync_all()
            }
            Blobs::Memory(m) => {
                m.insert(id.to_string(), bytes.to_vec());
                Ok(())
            }
        }
    }

    fn get(&self, id: &str) -> std::io::Result<Vec<u8>> {
        match self {
            Blobs::Dir(dir) => std::fs::read(dir.join(id)),
            Blobs::Memory(m) => m
                .get(id)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    }

    /// Removes `id`; a failure only leaves garbage behind, so it is logged, not returned.
    fn remove(&mut self, id: &str) {
        match self {
            Blobs::Dir(dir) => {
                if let Err(e) = std::fs::remove_file(dir.join(id)) {
                    tracing::warn!(blob = id, error = %e, "cannot remove an S3 object body");
                }
            }
            Blobs::Memory(m) => {
                m.remove(id);
            }
        }
    }

    /// Removes every body no row refers to (left by a crash between file and row).
    fn collect_garbage(&mut self, referenced: &std::collections::HashSet<&str>) {
        let Blobs::Dir(dir) = self else { return };
        let Ok(entries) = std::fs::read_dir(dir.as_path()) else {
            return;
        };
        let orphans: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !referenced.contains(name.as_str()))
            .collect();
        for id in orphans {
            tracing::info!(blob = %id, "removing an unreferenced S3 object body");
            self.remove(&id);
        }
    }
}

#[derive(Debug, Default)]
struct Bucket {
    meta: Option<BucketMeta>,
    objects: BTreeMap<String, ObjectMeta>,
}

/// One page of ListObjectsV2.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects of the page, in key order.
    pub contents: Vec<(String, ObjectMeta)>,
    /// Common prefixes of the page (with a delimiter).
    pub common_prefixes: Vec<String>,
    /// Whether more follow.
    pub truncated: bool,
    /// The last key or prefix of the page, to continue after.
    pub last: Option<String>,
}

/// ListObjectsV2's selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to the first occurrence of this after the prefix.
    pub delimiter: Option<String>,
    /// Page size (S3 caps it at 1000).
    pub max_keys: usize,
    /// Start after this key or common prefix (continuation token or StartAfter).
    pub after: Option<String>,
}

/// Buckets and objects, with their persistence.
#[derive(Debug)]
pub struct ObjectStore {
    buckets: BTreeMap<String, Bucket>,
    blobs: Blobs,
    store: Store,
}

fn internal(e: &dyn std::fmt::Display) -> S3Error {
    S3Error::new(S3Code::InternalError, format!("storage failure: {e}"))
}

fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::new(S3Code::NoSuchBucket, "The specified bucket does not exist")
        .resource(format!("/{bucket}"))
}

impl ObjectStore {
    /// The buckets and objects saved in `rows` (others' rows are skipped); bodies in `blobs`.
    pub fn restore(
        rows: &[(String, Vec<u8>)],
        mut blobs: Blobs,
        store: Store,
    ) -> Result<Self, StoreError> {
        let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
        for (key, bytes) in rows {
            let bad = |e: serde_json::Error| StoreError::Db {
                path: PathBuf::from(key),
                message: format!("undecodable S3 row: {e}"),
            };
            if let Some(name) = key.strip_prefix(BUCKET_PREFIX) {
                buckets.entry(name.to_string()).or_default().meta =
                    Some(serde_json::from_slice(bytes).map_err(bad)?);
            } else if let Some(rest) = key.strip_prefix(OBJECT_PREFIX)
                && let Some((bucket, object)) = rest.split_once('/')
            {
                let meta: ObjectMeta = serde_json::from_slice(bytes).map_err(bad)?;
                buckets
                    .entry(bucket.to_string())
                    .or_default()
                    .objects
                    .insert(object.to_string(), meta);
            }
        }
        let referenced = buckets
            .values()
            .flat_map(|b| b.objects.values().map(|o| o.blob.as_str()))
            .collect();
        blobs.collect_garbage(&referenced);
        Ok(ObjectStore {
            buckets,
            blobs,
            store,
        })
    }

    fn bucket(&self, name: &str) -> Result<&Bucket, S3Error> {
        self.buckets
            .get(name)
            .filter(|b| b.meta.is_some())
            .ok_or_else(|| no_such_bucket(name))
    }

    fn commit(&self, changes: &[Change]) -> Result<(), S3Error> {
        self.store.apply(changes).map_err(|e| internal(&e))
    }

    /// Every bucket, by name.
    pub fn list_buckets(&self) -> Vec<(String, BucketMeta)> {
        self.buckets
            .iter()
            .filter_map(|(n, b)| b.meta.clone().map(|m| (n.clone(), m)))
            .collect()
    }

    /// Creates `name` in `region`.
    pub fn create_bucket(&mut self, name: &str, region: &str, now: i64) -> Result<(), S3Error> {
        if self.bucket(name).is_ok() {
            return Err(S3Error::new(
                S3Code::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
            .resource(format!("/{name}")));
        }
        let meta = BucketMeta {
            created: now,
            region: region.to_string(),
        };
        let row = serde_json::to_vec(&meta).map_err(|e| internal(&e))?;
        self.commit(&[Change::Put(format!("{BUCKET_PREFIX}{name}"), row)])?;
        self.buckets.entry(name.to_string()).or_default().meta = Some(meta);
        Ok(())
    }

    /// The bucket's row (HeadBucket, GetBucketLocation).
    pub fn head_bucket(&self, name: &str) -> Result<BucketMeta, S3Error> {
        self.bucket(name)?
            .meta
            .clone()
            .ok_or_else(|| no_such_bucket(name))
    }

    /// Deletes an empty bucket.
    pub fn delete_bucket(&mut self, name: &str) -> Result<(), S3Error> {
        if !self.bucket(name)?.objects.is_empty() {
            return Err(S3Error::new(
                S3Code::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            )
            .resource(format!("/{name}")));
        }
        self.commit(&[Change::Delete(format!("{BUCKET_PREFIX}{name}"))])?;
        self.buckets.remove(name);
        Ok(())
    }

    /// One page of the bucket's keys.
    pub fn list_objects(&self, name: &str, params: &ListParams) -> Result<Listing, S3Error> {
        Ok(list_page(&self.bucket(name)?.objects, params))
    }

    /// Stores an object (replacing any), durably, and returns its row.
    pub fn put_object(
        &mut self,
        bucket: &str,
        key: &str,
        body: &[u8],
        content_type: &str,
        now: i64,
    ) -> Result<ObjectMeta, S3Error> {
        self.bucket(bucket)?;
        let meta = ObjectMeta {
            size: body.len() as u64,
            etag: format!(
                "\"{}\"",
                hex::encode(<md5::Md5 as md5::Digest>::digest(body))
            ),
            content_type: content_type.to_string(),
            last_modified: now,
            blob: uuid::Uuid::new_v4().simple().to_string(),
        };
        self.blobs.put(&meta.blob, body).map_err(|e| internal(&e))?;
        let row = serde_json::to_vec(&meta).map_err(|e| internal(&e))?;
        if let Err(e) = self.commit(&[Change::Put(object_row(bucket, key), row)]) {
            self.blobs.remove(&meta.blob);
            return Err(e);
        }
        let old = self
            .buckets
            .entry(bucket.to_string())
            .or_default()
            .objects
            .insert(key.to_string(), meta.clone());
        if let Some(old) = old {
            self.blobs.remove(&old.blob);
        }
        Ok(meta)
    }

    /// An object's row, without its body.
    pub fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, S3Error> {
        self.bucket(bucket)?
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| {
                S3Error::new(S3Code::NoSuchKey, "The specified key does not exist.")
                    .resource(format!("/{bucket}/{key}"))
            })
    }

    /// An object's row and body.
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<(ObjectMeta, Vec<u8>), S3Error> {
        let meta = self.head_object(bucket, key)?;
        let body = self.blobs.get(&meta.blob).map_err(|e| internal(&e))?;
        Ok((meta, body))
    }

    /// Deletes objects (absent keys are not an error, as in S3); returns the keys.
    pub fn delete_objects(&mut self, bucket: &str, keys: &[String]) -> Result<(), S3Error> {
        self.bucket(bucket)?;
        let changes: Vec<Change> = keys
            .iter()
            .map(|k| Change::Delete(object_row(bucket, k)))
            .collect();
        self.commit(&changes)?;
        if let Some(b) = self.buckets.get_mut(bucket) {
            for k in keys {
                if let Some(old) = b.objects.remove(k) {
                    self.blobs.remove(&old.blob);
                }
            }
        }
        Ok(())
    }
}

fn object_row(bucket: &str, key: &str) -> String {
    format!("{OBJECT_PREFIX}{bucket}/{key}")
}

/// One page of `objects` as ListObjectsV2 selects it.
pub fn list_page(objects: &BTreeMap<String, ObjectMeta>, params: &ListParams) -> Listing {
    let mut page = Listing::default();
    let delimiter = params.delimiter.as_deref().filter(|d| !d.is_empty());
    let after = params.after.as_deref();
    let mut count = 0;
    for (key, meta) in objects.range::<str, _>((
        after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
        std::ops::Bound::Unbounded,
    )) {
        let Some(rest) = key.strip_prefix(params.prefix.as_str()) else {
            continue;
        };
        let rolled = delimiter.and_then(|d| {
            rest.find(d)
                .map(|i| format!("{}{}", params.prefix, &rest[..i + d.len()]))
        });
        // Continuing after a common prefix skips the keys it rolled up.
        if let (Some(a), Some(r)) = (after, &rolled)
            && r == a
        {
            continue;
        }
        if let Some(r) = &rolled
            && page.common_prefixes.last() == Some(r)
        {
            continue;
        }
        if count == params.max_keys {
            page.truncated = true;
            break;
        }
        count += 1;
        match rolled {
            Some(r) => {
                page.last = Some(r.clone());
                page.common_prefixes.push(r);
            }
            None => {
                page.last = Some(key.clone());
                page.contents.push((key.clone(), meta.clone()));
            }
        }
    }
    page
}

type Job = Box<dyn FnOnce(&mut ObjectStore) + Send>;

/// A cheap, cloneable handle to the S3 actor.
#[derive(Debug, Clone)]
pub struct S3Handle {
    jobs: mpsc::Sender<Job>,
}

impl S3Handle {
    /// Starts the actor owning `objects`. It runs on a blocking thread: it writes files.
    pub fn spawn(mut objects: ObjectStore) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(256);
        tokio::task::spawn_blocking(move || {
            while let Some(job) = rx.blocking_recv() {
                job(&mut objects);
            }
        });
        S3Handle { jobs }
    }

    /// Runs `f` on the store; its changes are durable when it returns.
    pub async fn call<R, F>(&self, f: F) -> Result<R, S3Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut ObjectStore) -> Result<R, S3Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let stopped = || S3Error::new(S3Code::InternalError, "the S3 actor stopped");
        self.jobs
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ObjectMeta {
        ObjectMeta {
            size: 1,
            etag: "\"x\"".into(),
            content_type: "text/plain".into(),
            last_modified: 0,
            blob: "b".into(),
        }
    }

    fn objects(keys: &[&str]) -> BTreeMap<String, ObjectMeta> {
        keys.iter().map(|k| (k.to_string(), meta())).collect()
    }

    fn keys(l: &Listing) -> Vec<&str> {
        l.contents.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn lists_with_prefix_delimiter_and_pages() {
        let o = objects(&["a/1", "a/2", "b", "c/d/e", "c/x", "d"]);
        let all = list_page(
            &o,
            &ListParams {
                max_keys: 1000,
                ..Default::default()
            },
        );
        assert_eq!(keys(&all), ["a/1", "a/2", "b", "c/d/e", "c/x", "d"]);
        assert!(!all.truncated);

        let top = ListParams {
            delimiter: Some("/".into()),
            max_keys: 2,
            ..Default::default()
        };
        let p1 = list_page(&o, &top);
        assert_eq!(p1.common_prefixes, ["a/"]);
        assert_eq!(keys(&p1), ["b"]);
        assert!(p1.truncated);
        let p2 = list_page(
            &o,
            &ListParams {
                after: p1.last.clone(),
                ..top.clone()
            },
        );
        assert_eq!(p2.common_prefixes, ["c/"]);
        assert_eq!(keys(&p2), ["d"]);
        assert!(!p2.truncated);

        let under_c = list_page(
            &o,
            &ListParams {
                prefix: "c/".into(),
                delimiter: Some("/".into()),
                max_keys: 1000,
                after: None,
            },
        );
        assert_eq!(under_c.common_prefixes, ["c/d/"]);
        assert_eq!(keys(&under_c), ["c/x"]);
    }

    #[tokio::test]
    async fn objects_survive_a_reopen_and_orphans_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cp.db");
        let blobs_dir = dir.path().join("blobs");
        {
            let store = Store::open(&db).unwrap();
            let mut s =
                ObjectStore::restore(&[], Blobs::open_dir(&blobs_dir).unwrap(), store).unwrap();
            s.create_bucket("b", "us-east-1", 1).unwrap();
            s.put_object("b", "k/1", b"one", "text/plain", 2).unwrap();
            s.put_object("b", "k/1", b"uno", "text/plain", 3).unwrap();
            assert_eq!(
                s.delete_bucket("b").unwrap_err().code,
                S3Code::BucketNotEmpty
            );
        }
        std::fs::write(blobs_dir.join("orphan"), b"x").unwrap();
        let store = Store::open(&db).unwrap();
        let rows = store.load().unwrap();
        let s = ObjectStore::restore(&rows, Blobs::open_dir(&blobs_dir).unwrap(), store).unwrap();
        let (meta, body) = s.get_object("b", "k/1").unwrap();
        assert_eq!(body, b"uno");
        assert_eq!(
            meta.etag,
            format!("\"{}\"", "1eaa8bb195869a23f081acbb5bf08527")
        );
        // One body left: the replaced one and the orphan are gone.
        assert_eq!(std::fs::read_dir(&blobs_dir).unwrap().count(), 1);
        assert_eq!(
            s.get_object("b", "nope").unwrap_err().code,
            S3Code::NoSuchKey
        );
        assert_eq!(
            s.head_bucket("nope").unwrap_err().code,
            S3Code::NoSuchBucket
        );
    }
}
