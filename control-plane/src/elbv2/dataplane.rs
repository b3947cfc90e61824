//! The data plane: the one owner of the load balancers' sockets, proxies and health checkers.
//!
//! The ELBv2 actor ([`super::Elbv2Handle`]) owns the configuration; after each change it hands
//! the data plane a copy ([`Desired`]) and waits for it to be carried ([`DataPlane::apply`]).
//! The data plane builds a [`Plan`], binds the sockets the plan needs that are not bound yet,
//! publishes the plan to the proxies (a watch channel), closes the sockets no longer needed
//! (their connections with them: deleting a listener or a load balancer closes its sockets at
//! once), starts and stops one health checker task per checked target, and one timer per
//! draining target that cuts its requests still in flight when its deregistration delay ends.
//! Runtime health lives in the targets' slots, shared through the [`HealthBoard`] with
//! DescribeTargetHealth.
//!
//! Binding: a socket that cannot be bound (a port taken by another program, or a port below
//! 1024 without root or `CAP_NET_BIND_SERVICE`) fails the CreateListener or ModifyListener that
//! asked for it (`strict`), and that operation then changes nothing. When the state is restored
//! after a restart, or another operation applies, a socket that cannot be bound is logged and
//! tried again at the next change.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::error::invalid_config;
use super::health::{CheckSpec, HealthBoard, Machine, TargetKey, TargetSlot, check_once};
use super::plan::{Binding, Desired, Plan, Resolver};
use super::proxy::{self, Served};
use crate::front::ApiError;

struct Apply {
    desired: Desired,
    strict: bool,
    reply: oneshot::Sender<Result<(), ApiError>>,
}

/// The handle the ELBv2 actor holds.
#[derive(Debug, Clone)]
pub struct DataPlane {
    tx: mpsc::Sender<Apply>,
}

impl DataPlane {
    /// Starts the data plane (on the current tokio runtime): instance targets resolve through
    /// `resolve`, health goes to `board`; everything stops when `shutdown` is cancelled.
    pub fn start(resolve: Resolver, board: HealthBoard, shutdown: CancellationToken) -> Self {
        let (tx, mut rx) = mpsc::channel::<Apply>(64);
        let (plan_tx, plan_rx) = watch::channel(Arc::new(Plan::default()));
        let mut owner = Owner {
            resolve,
            board,
            shutdown: shutdown.clone(),
            plan_tx,
            plan_rx,
            sockets: BTreeMap::new(),
            failed: BTreeSet::new(),
            checkers: BTreeMap::new(),
            drains: BTreeMap::new(),
        };
        tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    () = shutdown.cancelled() => break,
                    job = rx.recv() => job,
                };
                let Some(job) = job else { break };
                let result = owner.apply(&job.desired, job.strict);
                let _ = job.reply.send(result);
            }
            owner.close_all();
        });
        DataPlane { tx }
    }

    /// Carries `desired`; with `strict`, a socket that cannot be bound is an error and nothing
    /// changes. Blocking: called from the ELBv2 actor's thread.
    pub fn apply(&self, desired: Desired, strict: bool) -> Result<(), ApiError> {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .blocking_send(Apply {
                desired,
                strict,
                reply,
            })
            .is_err()
        {
            // Stopped (shutting down): there is nothing left to carry traffic.
            return Ok(());
        }
        rx.blocking_recv().unwrap_or(Ok(()))
    }
}

struct Socket {
    binding: Binding,
    stop: CancellationToken,
}

struct Checker {
    spec: CheckSpec,
    stop: CancellationToken,
}

/// A draining target's timer: retires its slot when its deregistration delay ends.
struct Drain {
    until: f64,
    stop: CancellationToken,
}

struct Owner {
    resolve: Resolver,
    board: HealthBoard,
    shutdown: CancellationToken,
    plan_tx: watch::Sender<Arc<Plan>>,
    plan_rx: watch::Receiver<Arc<Plan>>,
    sockets: BTreeMap<SocketAddr, Socket>,
    /// Sockets that could not be bound outside a strict apply (tried again at each apply).
    failed: BTreeSet<SocketAddr>,
    checkers: BTreeMap<TargetKey, Checker>,
    drains: BTreeMap<TargetKey, Drain>,
}

/// A socket bound for a listener: address reuse (a restart after kill -9 finds its ports in
/// TIME_WAIT), non-blocking, listening.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    TcpListener::from_std(l)
}

fn bind_error(addr: SocketAddr, e: &std::io::Error) -> ApiError {
    let why = match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "port {} is privileged: the control plane needs root or CAP_NET_BIND_SERVICE to listen on it",
            addr.port()
        ),
        std::io::ErrorKind::AddrInUse => {
            format!("port {} is already in use on this host", addr.port())
        }
        _ => format!("{e}"),
    };
    invalid_config(format!("The load balancer cannot listen on {addr}: {why}"))
}

impl Owner {
    fn apply(&mut self, desired: &Desired, strict: bool) -> Result<(), ApiError> {
        let plan = Arc::new(Plan::build(desired, &self.resolve, &self.board));
        let wanted = plan.sockets();
        // Bind first, so that a strict apply that fails leaves everything as it was.
        let mut bound: Vec<(SocketAddr, Binding, TcpListener)> = Vec::new();
        for (addr, binding) in &wanted {
            if self
                .sockets
                .get(addr)
                .is_some_and(|s| &s.binding == binding)
            {
                continue;
            }
            // A socket this process holds for another binding is released below first.
            if self.sockets.contains_key(addr) {
                continue;
            }
            match bind(*addr) {
                Ok(l) => bound.push((*addr, binding.clone(), l)),
                Err(e) if strict && !self.failed.contains(addr) => {
                    return Err(bind_error(*addr, &e));
                }
                Err(e) => {
                    tracing::error!(%addr, error = %e, "elbv2: cannot listen; trying again at the next change");
                    self.failed.insert(*addr);
                }
            }
        }
        self.plan_tx.send_replace(Arc::clone(&plan));
        // Close what is no longer wanted (or wanted for another binding).
        let stale: Vec<SocketAddr> = self
            .sockets
            .iter()
            .filter(|(a, s)| wanted.get(a) != Some(&s.binding))
            .map(|(a, _)| *a)
            .collect();
        for addr in stale {
            if let Some(s) = self.sockets.remove(&addr) {
                s.stop.cancel();
            }
            if let Some(binding) = wanted.get(&addr) {
                match bind(addr) {
                    Ok(l) => bound.push((addr, binding.clone(), l)),
                    Err(e) => {
                        tracing::error!(%addr, error = %e, "elbv2: cannot listen");
                        self.failed.insert(addr);
                    }
                }
            }
        }
        for (addr, binding, listener) in bound {
            self.failed.remove(&addr);
            let stop = self.shutdown.child_token();
            let served = Served {
                binding: binding.clone(),
                plan: self.plan_rx.clone(),
            };
            tracing::info!(%addr, ?binding, "elbv2: listening");
            tokio::spawn(proxy::serve(listener, served, stop.clone()));
            self.sockets.insert(addr, Socket { binding, stop });
        }
        self.failed.retain(|a| wanted.contains_key(a));
        self.reconcile_checkers(&plan);
        Ok(())
    }

    fn reconcile_checkers(&mut self, plan: &Plan) {
        let wanted = plan.checks();
        let gone: Vec<TargetKey> = self
            .checkers
            .iter()
            .filter(|(k, c)| wanted.get(*k).is_none_or(|(spec, _)| spec != &c.spec))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(c) = self.checkers.remove(&k) {
                c.stop.cancel();
            }
        }
        for (key, (spec, slot)) in wanted {
            if self.checkers.contains_key(&key) {
                continue;
            }
            let stop = self.shutdown.child_token();
            tokio::spawn(run_checker(spec.clone(), slot, stop.clone()));
            self.checkers.insert(key, Checker { spec, stop });
        }
        // Slots of targets no plan carries any more (deregistered, group unused) go; requests
        // in flight to them carry on (a listener that stops forwarding to a group does not cut
        // them; a drained target's were cut by its timer).
        let carried: BTreeSet<TargetKey> = plan
            .groups
            .values()
            .flat_map(|g| g.targets.iter().map(|t| t.key.clone()))
            .collect();
        self.board.retain(|k| carried.contains(k));
        self.reconcile_drains(plan);
    }

    /// One timer per draining target: at the end of its deregistration delay its requests in
    /// flight end and its slot leaves the board (the state drops the target at its next
    /// command). A target registered again before that keeps its requests.
    fn reconcile_drains(&mut self, plan: &Plan) {
        let draining: BTreeMap<TargetKey, (f64, Arc<TargetSlot>)> = plan
            .groups
            .values()
            .flat_map(|g| &g.targets)
            .filter_map(|t| Some((t.key.clone(), (t.draining_until?, Arc::clone(&t.slot)))))
            .collect();
        self.drains.retain(|k, d| {
            let keep = draining.get(k).is_some_and(|(until, _)| *until == d.until);
            if !keep {
                d.stop.cancel();
            }
            keep
        });
        for (key, (until, slot)) in draining {
            if self.drains.contains_key(&key) {
                continue;
            }
            let stop = self.shutdown.child_token();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let wait = Duration::from_secs_f64((until - now).max(0.0));
            let (board, k, token) = (self.board.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = token.cancelled() => {}
                    () = tokio::time::sleep(wait) => {
                        board.retain(|other| other != &k);
                        slot.retire();
                    }
                }
            });
            self.drains.insert(key, Drain { until, stop });
        }
    }

    fn close_all(&mut self) {
        for (_, s) in std::mem::take(&mut self.sockets) {
            s.stop.cancel();
        }
        for (_, c) in std::mem::take(&mut self.checkers) {
            c.stop.cancel();
        }
        for (_, d) in std::mem::take(&mut self.drains) {
            d.stop.cancel();
        }
    }
}

/// Checks one target as its group says until `stop`, publishing into its slot.
async fn run_checker(spec: CheckSpec, slot: Arc<TargetSlot>, stop: CancellationToken) {
    let mut machine = Machine::new(spec.thresholds, tokio::time::Instant::now().into_std());
    slot.publish(machine.observed());
    loop {
        let due = tokio::time::Instant::from_std(machine.next_due());
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(due) => {}
        }
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            o = check_once(&spec) => o,
        };
        machine.record(outcome, tokio::time::Instant::now().into_std());
        slot.publish(machine.observed());
    }
}
