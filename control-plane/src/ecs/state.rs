//! The emulator's state and the actor that owns it.
//!
//! [`State`] is plain data with synchronous operations (one file per resource in `ecs/`), so
//! every rule is unit-testable without I/O. [`StateHandle`] sends closures to the single task that owns the state; after each
//! closure the entities it marked dirty are written to the [`Store`] in one durable transaction before
//! the caller gets its answer. The actor is the only writer; the one lock is the
//! [`ReadView`] it publishes clusters and tasks into for DescribeTasks.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot, watch};

pub use crate::ecs::common::Account;
use crate::ecs::model::{Cluster, ContainerInstance, Meta, OutboundMessage, Service, Task};
use crate::ecs::read_view::ReadView;
use crate::ecs::taskdef::TaskDefinition;
use crate::front::ApiError;
use crate::store::{Change, Store, StoreError};
use crate::sts::keys::TempKeys;
use ecs_protocol::BackendStatus;

/// Default lifetime of task role credentials (ECS's are about 6 hours).
pub const DEFAULT_ROLE_CREDENTIALS_LIFETIME_SECS: i64 = 6 * 3600;

/// Entity keys in the store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A cluster by name.
    Cluster(String),
    /// An instance by ARN.
    Instance(String),
    /// A task definition by family and revision.
    TaskDef(String, u32),
    /// A task by ARN.
    Task(String),
    /// A service (with its deployments and events) by ARN.
    Service(String),
    /// The ACS outbox of an instance ARN.
    Outbox(String),
    /// The last payload `seqNum` of an instance ARN (one row per instance, so a payload writes
    /// a few bytes rather than every instance's counter).
    SeqNum(String),
}

impl Key {
    fn encode(&self) -> String {
        match self {
            Key::Cluster(n) => format!("cluster/{n}"),
            Key::Instance(a) => format!("instance/{a}"),
            Key::TaskDef(f, r) => format!("taskdef/{f}/{r:010}"),
            Key::Task(a) => format!("task/{a}"),
            Key::Service(a) => format!("service/{a}"),
            Key::Outbox(a) => format!("outbox/{a}"),
            Key::SeqNum(a) => format!("seq/{a}"),
        }
    }
}

/// What the tasks not yet STOPPED on one instance hold: kept up to date as tasks are placed and
/// reported stopped, so placement reads an instance's load without walking its tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceLoad {
    /// Their ARNs.
    pub tasks: BTreeSet<String>,
    /// Reserved CPU units.
    pub cpu: i64,
    /// Reserved MiB.
    pub memory: i64,
    /// Reserved static TCP host ports, with how many tasks hold each.
    pub tcp: BTreeMap<u16, u32>,
    /// Reserved static UDP host ports, with how many tasks hold each.
    pub udp: BTreeMap<u16, u32>,
    /// Task groups, with how many tasks are in each.
    pub groups: BTreeMap<String, usize>,
}

impl InstanceLoad {
    fn add(&mut self, t: &Task) {
        if !self.tasks.insert(t.task_arn.clone()) {
            return;
        }
        self.cpu += t.reserved_cpu;
        self.memory += t.reserved_memory;
        for p in &t.reserved_ports {
            *self.tcp.entry(*p).or_default() += 1;
        }
        for p in &t.reserved_ports_udp {
            *self.udp.entry(*p).or_default() += 1;
        }
        *self.groups.entry(t.group.clone()).or_default() += 1;
    }

    /// Stops counting `t` (reported STOPPED); a task not counted changes nothing.
    pub(crate) fn remove(&mut self, t: &Task) {
        if !self.tasks.remove(&t.task_arn) {
            return;
        }
        self.cpu -= t.reserved_cpu;
        self.memory -= t.reserved_memory;
        let release = |m: &mut BTreeMap<u16, u32>, p: u16| {
            if let Some(n) = m.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&p);
                }
            }
        };
        for p in &t.reserved_ports {
            release(&mut self.tcp, *p);
        }
        for p in &t.reserved_ports_udp {
            release(&mut self.udp, *p);
        }
        if let Some(n) = self.groups.get_mut(&t.group) {
            *n -= 1;
            if *n == 0 {
                self.groups.remove(&t.group);
            }
        }
    }

    /// How many tasks are in `group`.
    pub fn in_group(&self, group: &str) -> usize {
        self.groups.get(group).copied().unwrap_or(0)
    }
}

/// Everything the control plane knows.
#[derive(Debug)]
pub struct State {
    /// Account and region.
    pub account: Account,
    /// Clusters by name.
    pub clusters: BTreeMap<String, Cluster>,
    /// Container instances by ARN.
    pub instances: BTreeMap<String, ContainerInstance>,
    /// Task definitions by family, then revision (the stored value is the API `taskDefinition`).
    pub task_defs: BTreeMap<String, BTreeMap<u32, Arc<TaskDefinition>>>,
    /// Tags of task definitions by ARN.
    pub task_def_tags: BTreeMap<String, Vec<crate::ecs::model::Tag>>,
    /// Tasks by ARN; shared with the read view, which publishes a task by cloning its `Arc`
    /// (changing one clones it only while the view still holds the old form).
    pub tasks: BTreeMap<String, Arc<Task>>,
    /// Services by ARN (INACTIVE ones until purged).
    pub services: BTreeMap<String, Service>,
    /// Unacknowledged ACS messages by instance ARN.
    pub outbox: BTreeMap<String, Vec<OutboundMessage>>,
    /// STS's temporary keys, where task role credentials are issued (owned by STS).
    pub keys: TempKeys,
    /// Counters.
    pub meta: Meta,
    /// Index: ARNs of the tasks on each instance that are not STOPPED (derived, rebuilt on restore).
    pub active_by_instance: BTreeMap<String, InstanceLoad>,
    /// Live websocket connections per instance ARN (not persisted).
    pub connections: BTreeMap<String, usize>,
    /// The emulated ECR, whose images get `registryAuthentication` in ACS payloads (not persisted).
    pub ecr: Option<crate::ecr::EcrRef>,
    /// Lifetime of task role credentials (configuration, not persisted).
    pub role_credentials_lifetime_secs: i64,
    /// The last ELB round's target health and delays (in memory; see `load_balancing`).
    pub lb: crate::ecs::model::LbRuntime,
    dirty: BTreeSet<Key>,
    /// Instance ARNs whose outbox grew during the current command.
    notify: BTreeSet<String>,
    /// Whether the current job changed anything to persist (set by [`State::touch`]).
    wrote: bool,
}

impl State {
    /// An empty state.
    pub fn new(account: Account) -> Self {
        State {
            account,
            clusters: BTreeMap::new(),
            instances: BTreeMap::new(),
            task_defs: BTreeMap::new(),
            task_def_tags: BTreeMap::new(),
            tasks: BTreeMap::new(),
            services: BTreeMap::new(),
            outbox: BTreeMap::new(),
            keys: TempKeys::default(),
            meta: Meta::default(),
            active_by_instance: BTreeMap::new(),
            connections: BTreeMap::new(),
            ecr: None,
            role_credentials_lifetime_secs: DEFAULT_ROLE_CREDENTIALS_LIFETIME_SECS,
            lb: Default::default(),
            dirty: BTreeSet::new(),
            notify: BTreeSet::new(),
            wrote: false,
        }
    }

    /// An empty state of account 123456789012 in us-east-1 (unit tests).
    #[cfg(test)]
    pub fn for_tests() -> Self {
        State::new(Account {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        })
    }

    /// Registers the container instance `request` (a RegisterContainerInstance body) and
    /// connects its agent; its ARN (unit tests).
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub fn connected_instance_for_tests(&mut self, request: serde_json::Value) -> String {
        let v = self
            .register_instance(serde_json::from_value(request).unwrap(), 1.0)
            .unwrap();
        let arn = v["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        self.agent_connected(&arn, crate::ecs::model::VersionInfo::default());
        arn
    }

    /// Counts `task` (not STOPPED) against its instance.
    pub fn activate(&mut self, task: &Task) {
        self.active_by_instance
            .entry(task.container_instance_arn.clone())
            .or_default()
            .add(task);
    }

    /// Marks an entity as changed, to be written after the current command.
    pub fn touch(&mut self, key: Key) {
        self.wrote = true;
        self.dirty.insert(key);
    }

    /// Queues an ACS frame for an instance and wakes its connection.
    pub fn enqueue(&mut self, instance_arn: &str, message: OutboundMessage) {
        self.outbox
            .entry(instance_arn.to_string())
            .or_default()
            .push(message);
        self.touch(Key::Outbox(instance_arn.to_string()));
        self.notify.insert(instance_arn.to_string());
    }

    /// Rebuilds the state from stored entities.
    pub fn restore(
        account: Account,
        rows: Vec<(String, Vec<u8>)>,
        keys: TempKeys,
    ) -> Result<Self, StoreError> {
        let mut s = State::new(account);
        s.keys = keys;
        for (key, bytes) in rows {
            let bad = |e: serde_json::Error| StoreError::Db {
                path: std::path::PathBuf::from(&key),
                message: format!("undecodable entity: {e}"),
            };
            if key.starts_with("cluster/") {
                let c: Cluster = serde_json::from_slice(&bytes).map_err(bad)?;
                s.clusters.insert(c.cluster_name.clone(), c);
            } else if key.starts_with("instance/") {
                let i: ContainerInstance = serde_json::from_slice(&bytes).map_err(bad)?;
                s.instances.insert(i.container_instance_arn.clone(), i);
            } else if let Some(rest) = key.strip_prefix("taskdef/") {
                let (def, tags): (TaskDefinition, Vec<crate::ecs::model::Tag>) =
                    serde_json::from_slice(&bytes).map_err(bad)?;
                let (family, rev) = rest.rsplit_once('/').unwrap_or((rest, "0"));
                let rev: u32 = rev.parse().unwrap_or(0);
                if !def.task_definition_arn.is_empty() {
                    s.task_def_tags
                        .insert(def.task_definition_arn.clone(), tags);
                }
                s.task_defs
                    .entry(family.to_string())
                    .or_default()
                    .insert(rev, Arc::new(def));
            } else if key.starts_with("task/") {
                let t: Task = serde_json::from_slice(&bytes).map_err(bad)?;
                if t.last_status != BackendStatus::Stopped {
                    s.activate(&t);
                }
                s.tasks.insert(t.task_arn.clone(), Arc::new(t));
            } else if key.starts_with("service/") {
                let v: Service = serde_json::from_slice(&bytes).map_err(bad)?;
                s.services.insert(v.service_arn.clone(), v);
            } else if let Some(arn) = key.strip_prefix("outbox/") {
                let o: Vec<OutboundMessage> = serde_json::from_slice(&bytes).map_err(bad)?;
                s.outbox.insert(arn.to_string(), o);
            } else if let Some(arn) = key.strip_prefix("seq/") {
                let seq: i64 = serde_json::from_slice(&bytes).map_err(bad)?;
                let known = s.meta.seq_nums.entry(arn.to_string()).or_insert(seq);
                *known = (*known).max(seq);
            } else if key == "meta" {
                // Before per-instance rows, every counter was in one `meta` row; it is only read
                // (a `seq/` row written since wins where it is higher).
                let old: Meta = serde_json::from_slice(&bytes).map_err(bad)?;
                for (arn, seq) in old.seq_nums {
                    let known = s.meta.seq_nums.entry(arn).or_insert(seq);
                    *known = (*known).max(seq);
                }
            }
        }
        Ok(s)
    }

    fn encode<T: Serialize>(v: &T) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(v).unwrap_or_default()
    }

    /// The entities touched since the last call, and the instances whose outbox grew.
    pub fn take_touched(&mut self) -> (BTreeSet<Key>, BTreeSet<String>) {
        (
            std::mem::take(&mut self.dirty),
            std::mem::take(&mut self.notify),
        )
    }

    /// The store changes for everything touched since the last call.
    pub fn take_changes(&mut self) -> (Vec<Change>, BTreeSet<String>) {
        let (touched, notify) = self.take_touched();
        (self.changes(&touched), notify)
    }

    /// The store rows for the `touched` entities: a put of each one's current form, or a
    /// delete for one that is gone.
    pub fn changes(&self, touched: &BTreeSet<Key>) -> Vec<Change> {
        touched
            .iter()
            .map(|key| {
                let k = key.encode();
                let value = match key {
                    Key::Cluster(n) => self.clusters.get(n).map(Self::encode),
                    Key::Instance(a) => self.instances.get(a).map(Self::encode),
                    Key::TaskDef(f, r) => {
                        self.task_defs
                            .get(f)
                            .and_then(|revs| revs.get(r))
                            .map(|def| {
                                let tags = self
                                    .task_def_tags
                                    .get(&def.task_definition_arn)
                                    .cloned()
                                    .unwrap_or_default();
                                Self::encode(&(def.as_ref(), tags))
                            })
                    }
                    Key::Task(a) => self.tasks.get(a).map(|t| Self::encode(&**t)),
                    Key::Service(a) => self.services.get(a).map(Self::encode),
                    Key::Outbox(a) => self.outbox.get(a).map(Self::encode),
                    Key::SeqNum(a) => self.meta.seq_nums.get(a).map(Self::encode),
                };
                match value {
                    Some(v) => Change::Put(k, v),
                    None => Change::Delete(k),
                }
            })
            .collect()
    }
}

/// Per-instance wake-ups for ACS sessions: a counter that every session of that instance
/// watches, so a payload wakes only its own instance's sessions. A lock, not an actor: sessions
/// subscribe and the state actor bumps, each one short map step, never across an await.
#[derive(Debug, Default)]
struct Wakers {
    by_instance: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Wakers {
    fn subscribe(&self, instance_arn: &str) -> watch::Receiver<u64> {
        let mut map = self
            .by_instance
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(instance_arn.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn wake(&self, instance_arn: &str) {
        let mut map = self
            .by_instance
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = map.get(instance_arn) {
            if tx.receiver_count() == 0 {
                // No session left: forget the instance until one subscribes again.
                map.remove(instance_arn);
            } else {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

/// The most jobs one group commit takes (a bound on how long a writer waits for its answer).
const MAX_BATCH: usize = 256;

/// Work for the actor: mutates the state and returns the reply to send once the changes are durable.
type Job = Box<dyn FnOnce(&mut State) -> Reply + Send>;
type Reply = Box<dyn FnOnce() + Send>;

/// A cheap, cloneable handle to the state actor.
#[derive(Debug, Clone)]
pub struct StateHandle {
    jobs: mpsc::Sender<Job>,
    wakers: Arc<Wakers>,
    view: ReadView,
}

impl StateHandle {
    /// Starts the actor owning `state`, persisting into `store`.
    pub fn spawn(mut state: State, store: Store) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(1024);
        let wakers = Arc::new(Wakers::default());
        let wake = Arc::clone(&wakers);
        let view = ReadView::new(
            state.account.clone(),
            state.clusters.iter().map(|(n, c)| (n.as_str(), Some(c))),
            state.tasks.iter().map(|(a, t)| (a.as_str(), Some(t))),
        );
        let publish = view.clone();
        tokio::task::spawn_blocking(move || {
            // Group commit: the jobs waiting when one starts run together, and their changes
            // are written in one durable transaction; each writer is answered after it. A job
            // that changed nothing (a read) is answered at once, so reads never wait for a
            // commit (they may see a write of the same batch before its writer is answered).
            let mut waiting: Vec<Reply> = Vec::new();
            while let Some(first) = rx.blocking_recv() {
                let mut next = Some(first);
                let mut ran = 0;
                while let Some(job) = next.take() {
                    state.wrote = false;
                    let reply = job(&mut state);
                    if state.wrote {
                        waiting.push(reply);
                    } else {
                        reply();
                    }
                    ran += 1;
                    if ran < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                let (touched, notify) = state.take_touched();
                // Without a data dir no row would ever be read back, so none is built.
                if store.is_durable() {
                    let changes = state.changes(&touched);
                    if !changes.is_empty()
                        && let Err(e) = store.apply(&changes)
                    {
                        // Without durable state the emulator would lie to its callers: stop here.
                        tracing::error!(error = %e, "cannot persist state; stopping the state actor");
                        return;
                    }
                }
                // Once durable, before any writer of the batch is answered: it must find what
                // it wrote.
                publish.publish(
                    touched.iter().filter_map(|k| match k {
                        Key::Cluster(n) => Some((n.as_str(), state.clusters.get(n))),
                        _ => None,
                    }),
                    touched.iter().filter_map(|k| match k {
                        Key::Task(a) => Some((a.as_str(), state.tasks.get(a))),
                        _ => None,
                    }),
                );
                for reply in waiting.drain(..) {
                    reply();
                }
                for arn in notify {
                    wake.wake(&arn);
                }
            }
        });
        StateHandle { jobs, wakers, view }
    }

    /// The clusters and tasks as of the last batch, readable without the actor.
    pub fn view(&self) -> &ReadView {
        &self.view
    }

    /// Runs `f` on the state and returns its result once its changes are durable (at once when it
    /// changed nothing).
    pub async fn call<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut State) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |s| {
            let r = f(s);
            Box::new(move || {
                let _ = tx.send(r);
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::server("state actor stopped"))?;
        rx.await
            .map_err(|_| ApiError::server("state actor stopped"))
    }

    /// Subscribes to "the outbox of `instance_arn` grew": the receiver changes after each
    /// command that queued a frame for that instance (and for no other).
    pub fn subscribe(&self, instance_arn: &str) -> watch::Receiver<u64> {
        self.wakers.subscribe(instance_arn)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ecs::model::OutboundMessage;

    #[tokio::test]
    async fn a_payload_wakes_only_the_sessions_of_its_instance() {
        let state = State::for_tests();
        let handle = StateHandle::spawn(state, Store::in_memory().unwrap());
        let mut a = handle.subscribe("arn:a");
        let mut a2 = handle.subscribe("arn:a");
        let b = handle.subscribe("arn:b");
        handle
            .call(|s| {
                s.enqueue(
                    "arn:a",
                    OutboundMessage {
                        message_id: "m".into(),
                        frame: "{}".into(),
                    },
                );
            })
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), a.changed())
            .await
            .unwrap()
            .unwrap();
        assert!(a2.has_changed().unwrap());
        assert!(!b.has_changed().unwrap());
        a2.mark_unchanged();
        // A command that queues nothing wakes nobody.
        handle.call(|_| ()).await.unwrap();
        assert!(!a.has_changed().unwrap());
        assert!(!a2.has_changed().unwrap());
    }

    #[tokio::test]
    async fn concurrent_writers_all_get_answers_after_their_changes_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.db");
        let store = Store::open(&path).unwrap();
        let state = State::for_tests();
        let handle = StateHandle::spawn(state, store.clone());
        let calls = (0..300).map(|n| {
            let handle = handle.clone();
            tokio::spawn(async move {
                handle
                    .call(move |s| {
                        s.enqueue(
                            &format!("arn:{n}"),
                            OutboundMessage {
                                message_id: format!("m{n}"),
                                frame: "{}".into(),
                            },
                        );
                        n
                    })
                    .await
            })
        });
        for (n, call) in calls.enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), n);
        }
        // Every answered write is in the store (group commits lose none).
        let rows = store.load().unwrap();
        for n in 0..300 {
            assert!(
                rows.iter().any(|(k, _)| k == &format!("outbox/arn:{n}")),
                "outbox/arn:{n}"
            );
        }
    }
}
