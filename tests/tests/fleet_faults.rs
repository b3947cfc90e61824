#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Host failures on emulated EC2 instances, end to end with the real AWS CLI (issue 16, item
//! 5). Two instances (A and B) run two DAEMON services, so two tasks on each; then, one step
//! after another, each timed:
//!
//! 1. `systemctl restart docker` on A with live-restore off: its containers die, ECS shows their
//!    tasks STOPPED ("Essential container in task exited") and the services replace them;
//! 2. the same with live-restore on: A's tasks stay RUNNING with the same containers;
//! 3. `systemctl restart ecs`, then `kill -9` of the agent on A: nothing lost or duplicated, and
//!    the restarted agent still manages its tasks (it stops one that ECS stops);
//! 4. a 60 s network cut of A (iptables DROP toward the VPC's gateway, where the control plane
//!    listens): its agent shows disconnected during the cut and connected after, and the task
//!    set is the same;
//! 5. an in-place upgrade of A's agent `.deb` (a newer version of the same binaries, made with
//!    `cargo deb --no-build` as the instance image is): the same tasks keep running and the agent
//!    reconnects;
//! 6. on B, the unit's restart contract under the instance's real systemd: exit 5 (a malformed
//!    value in /etc/ecs/ecs.config) is not restarted, exit 1 (Docker unreachable) is, and the
//!    agent comes back with B's tasks once the configuration is fixed.
//!
//! After every step the whole fleet must be consistent: each task ECS shows RUNNING has its
//! containers running in its instance's Docker Engine, each running task container belongs to a
//! task ECS shows RUNNING with that runtime id, and no task ECS shows STOPPED still has a running
//! container.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ecs_e2e_tests::fleet::{self, Fleet, Instance, TaskImage};
use ecs_e2e_tests::{AwsCli, container_instances, described_tasks, wait_until};
use serde_json::Value;

const CLUSTER: &str = "fleet-faults";
/// Two DAEMON services, so each instance runs two tasks and a task that stops is replaced on
/// its own instance.
const SERVICES: [&str; 2] = ["web", "sidecar"];
/// Tasks the services want: one each per instance.
const DESIRED: usize = 4;
const ESSENTIAL_EXITED: &str = "Essential container in task exited";
const REGISTER_TIMEOUT: Duration = Duration::from_secs(240);
/// Long enough for an agent restart (systemd's RestartSec is 10 s), a reconnect with backoff and
/// a replacement task's start.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(240);
/// The network cut's length (a deliberate duration: the issue asks for 60 s).
const CUT: Duration = Duration::from_secs(60);
/// ecs.service's RestartSec, and a margin: how long to watch a unit that must not restart.
const RESTART_WINDOW: Duration = Duration::from_secs(15);

/// One ECS task as DescribeTasks shows it.
#[derive(Debug, Clone)]
struct EcsTask {
    arn: String,
    /// The EC2 instance id of its container instance.
    instance: String,
    last: String,
    desired: String,
    stop_code: String,
    reason: String,
    runtime_ids: BTreeSet<String>,
}

/// One task container in an instance's own Docker Engine.
#[derive(Debug, Clone)]
struct InnerContainer {
    id: String,
    task_arn: String,
    running: bool,
}

/// ECS's tasks (desired RUNNING and STOPPED) and each instance's task containers, read one
/// after the other.
#[derive(Debug)]
struct Snapshot {
    tasks: Vec<EcsTask>,
    inner: BTreeMap<String, Vec<InnerContainer>>,
}

/// The fleet under test: the AWS CLI, the two instances, and which container instance is which.
struct Hosts<'a> {
    aws: &'a AwsCli,
    instances: Vec<Instance>,
    /// Container instance ARN -> EC2 instance id, fixed at registration: a restarted agent must
    /// come back as the same container instance.
    ec2_of: BTreeMap<String, String>,
}

impl Hosts<'_> {
    fn a(&self) -> &Instance {
        &self.instances[0]
    }

    fn b(&self) -> &Instance {
        &self.instances[1]
    }

    fn snapshot(&self) -> Result<Snapshot> {
        let mut tasks = Vec::new();
        for desired in ["RUNNING", "STOPPED"] {
            for t in described_tasks(self.aws, CLUSTER, None, desired)? {
                let ci = t["containerInstanceArn"].as_str().unwrap_or_default();
                let instance = self
                    .ec2_of
                    .get(ci)
                    .with_context(|| format!("task on an unknown container instance: {t}"))?;
                tasks.push(EcsTask {
                    arn: t["taskArn"].as_str().context("taskArn")?.to_string(),
                    instance: instance.clone(),
                    last: t["lastStatus"].as_str().unwrap_or_default().to_string(),
                    desired: t["desiredStatus"].as_str().unwrap_or_default().to_string(),
                    stop_code: t["stopCode"].as_str().unwrap_or_default().to_string(),
                    reason: t["stoppedReason"].as_str().unwrap_or_default().to_string(),
                    runtime_ids: t["containers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["runtimeId"].as_str().map(String::from))
                        .collect(),
                });
            }
        }
        let mut inner = BTreeMap::new();
        for i in &self.instances {
            inner.insert(i.id.clone(), inner_containers(&i.container)?);
        }
        Ok(Snapshot { tasks, inner })
    }

    /// Waits until the fleet is settled ([`Snapshot::settled`]) and `also` holds; returns the
    /// snapshot.
    fn wait_settled(
        &self,
        what: &str,
        mut also: impl FnMut(&Snapshot) -> Result<()>,
    ) -> Result<Snapshot> {
        wait_until(SETTLE_TIMEOUT, what, || {
            let instances = container_instances(self.aws, CLUSTER)?;
            ensure!(
                instances.len() == self.instances.len(),
                "{} container instances",
                instances.len()
            );
            let s = self.snapshot()?;
            s.settled()?;
            also(&s)?;
            anyhow::Ok(Some(s))
        })
    }

    fn connected(&self, instance: &Instance) -> Result<bool> {
        let all = container_instances(self.aws, CLUSTER)?;
        let ci = all
            .iter()
            .find(|c| c["ec2InstanceId"] == *instance.id)
            .with_context(|| format!("no container instance for {}", instance.id))?;
        Ok(ci["agentConnected"] == true)
    }

    fn wait_connected(&self, instance: &Instance, want: bool, timeout: Duration) -> Result<()> {
        wait_until(
            timeout,
            &format!("agentConnected {want} for {}", instance.id),
            || anyhow::Ok(self.connected(instance)? == want),
        )
    }

    fn container_instance(&self, instance: &Instance) -> Result<Value> {
        container_instances(self.aws, CLUSTER)?
            .into_iter()
            .find(|c| c["ec2InstanceId"] == *instance.id)
            .with_context(|| format!("no container instance for {}", instance.id))
    }
}

impl Snapshot {
    /// The tasks ECS shows RUNNING on `instance`: ARN -> runtime ids.
    fn running_on(&self, instance: &str) -> BTreeMap<String, BTreeSet<String>> {
        self.tasks
            .iter()
            .filter(|t| t.last == "RUNNING" && t.instance == instance)
            .map(|t| (t.arn.clone(), t.runtime_ids.clone()))
            .collect()
    }

    /// Every task ECS shows RUNNING: ARN -> (instance, runtime ids).
    fn running(&self) -> BTreeMap<String, (String, BTreeSet<String>)> {
        self.tasks
            .iter()
            .filter(|t| t.last == "RUNNING")
            .map(|t| (t.arn.clone(), (t.instance.clone(), t.runtime_ids.clone())))
            .collect()
    }

    /// Fails unless ECS shows the same RUNNING tasks, on the same instances with the same
    /// containers, as in `before`.
    fn ensure_same_tasks_as(&self, before: &Snapshot) -> Result<()> {
        ensure!(
            self.running() == before.running(),
            "the task set changed: {:#?} -> {:#?}",
            before.running(),
            self.running()
        );
        Ok(())
    }

    fn task(&self, arn: &str) -> Option<&EcsTask> {
        self.tasks.iter().find(|t| t.arn == arn)
    }

    /// Where ECS and the instances' Docker Engines disagree.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let running_inner = |instance: &str, id: &str| {
            self.inner
                .get(instance)
                .is_some_and(|cs| cs.iter().any(|c| c.id == id && c.running))
        };
        for t in &self.tasks {
            match t.last.as_str() {
                "RUNNING" => {
                    if t.runtime_ids.is_empty() {
                        problems.push(format!("{} RUNNING without a runtime id", t.arn));
                    }
                    for id in &t.runtime_ids {
                        if !running_inner(&t.instance, id) {
                            problems.push(format!(
                                "{} RUNNING in ECS but its container {id} does not run in {}",
                                t.arn, t.instance
                            ));
                        }
                    }
                }
                "STOPPED" => {
                    for id in &t.runtime_ids {
                        if self.inner.keys().any(|i| running_inner(i, id)) {
                            problems.push(format!(
                                "{} STOPPED in ECS but its container {id} still runs",
                                t.arn
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        for (instance, containers) in &self.inner {
            for c in containers.iter().filter(|c| c.running) {
                match self.task(&c.task_arn) {
                    Some(t)
                        if t.last == "RUNNING"
                            && &t.instance == instance
                            && t.runtime_ids.contains(&c.id) => {}
                    Some(t) => problems.push(format!(
                        "container {} runs in {instance} for {} which ECS shows {} on {} with {:?}",
                        c.id, c.task_arn, t.last, t.instance, t.runtime_ids
                    )),
                    None => problems.push(format!(
                        "container {} runs in {instance} for {}, a task ECS does not list",
                        c.id, c.task_arn
                    )),
                }
            }
        }
        problems
    }

    /// Consistent, the services at their desired count, and no task between two statuses.
    fn settled(&self) -> Result<()> {
        let problems = self.problems();
        ensure!(problems.is_empty(), "{problems:#?}");
        let moving: Vec<String> = self
            .tasks
            .iter()
            .filter(|t| t.last != t.desired)
            .map(|t| format!("{} {} -> {}", t.arn, t.last, t.desired))
            .collect();
        ensure!(moving.is_empty(), "tasks on their way: {moving:?}");
        let running = self.running().len();
        ensure!(
            running == DESIRED,
            "{running} RUNNING tasks, the services want {DESIRED}"
        );
        Ok(())
    }
}

/// The task containers (`com.amazonaws.ecs.task-arn` label) of an instance's Docker Engine.
fn inner_containers(instance: &str) -> Result<Vec<InnerContainer>> {
    let out = fleet::exec(
        instance,
        "docker ps -a --no-trunc --filter label=com.amazonaws.ecs.task-arn \
         --format '{{.ID}} {{.State}} {{.Label \"com.amazonaws.ecs.task-arn\"}}'",
    )?;
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            let (Some(id), Some(state), Some(arn)) = (f.next(), f.next(), f.next()) else {
                bail!("unexpected docker ps line in {instance}: {l:?}");
            };
            Ok(InnerContainer {
                id: id.to_string(),
                task_arn: arn.to_string(),
                running: state == "running",
            })
        })
        .collect()
}

/// `docker inspect` start times of running containers inside an instance: id -> StartedAt.
fn started_at(instance: &str, ids: &BTreeSet<String>) -> Result<BTreeMap<String, String>> {
    ensure!(!ids.is_empty(), "no containers to inspect in {instance}");
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let out = fleet::exec(
        instance,
        &format!(
            "docker inspect --format '{{{{.Id}}}} {{{{.State.Running}}}} {{{{.State.StartedAt}}}}' {}",
            ids.join(" ")
        ),
    )?;
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            ensure!(
                f.len() == 3 && f[1] == "true",
                "not running in {instance}: {l}"
            );
            Ok((f[0].to_string(), f[2].to_string()))
        })
        .collect()
}

/// `systemctl show -p P1,P2,... UNIT` in an instance.
fn unit(instance: &str, unit: &str, props: &[&str]) -> Result<BTreeMap<String, String>> {
    let out = fleet::exec(
        instance,
        &format!("systemctl show -p {} {unit}", props.join(",")),
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn ecs_prop(instance: &str, prop: &str) -> Result<String> {
    unit(instance, "ecs", &[prop])?
        .remove(prop)
        .with_context(|| format!("no {prop} for ecs in {instance}"))
}

/// The agent's process id, once ecs.service is active with a process other than `not`.
fn wait_agent_pid(instance: &str, not: &str) -> Result<String> {
    wait_until(
        Duration::from_secs(120),
        &format!("ecs.service active in {instance} with a new agent process"),
        || {
            let p = unit(instance, "ecs", &["ActiveState", "MainPID"])?;
            let pid = p.get("MainPID").cloned().unwrap_or_default();
            anyhow::Ok(
                (p.get("ActiveState").map(String::as_str) == Some("active")
                    && pid != "0"
                    && pid != not)
                    .then_some(pid),
            )
        },
    )
}

/// The tasks the agent in `instance` knows (its introspection API): ARN -> (known status,
/// Docker ids).
fn agent_tasks(instance: &str) -> Result<BTreeMap<String, (String, BTreeSet<String>)>> {
    let out = fleet::exec(instance, "curl -sf http://127.0.0.1:51678/v1/tasks")?;
    let v: Value = serde_json::from_str(&out).with_context(|| format!("/v1/tasks: {out}"))?;
    Ok(v["Tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["Arn"].as_str().unwrap_or_default().to_string(),
                (
                    t["KnownStatus"].as_str().unwrap_or_default().to_string(),
                    t["Containers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["DockerId"].as_str().map(String::from))
                        .collect(),
                ),
            )
        })
        .collect())
}

/// Checks that the agent in `instance` manages exactly the tasks ECS shows RUNNING there, with
/// the same containers.
fn assert_agent_holds(instance: &Instance, s: &Snapshot) -> Result<()> {
    let known = agent_tasks(&instance.container)?;
    for (arn, ids) in s.running_on(&instance.id) {
        let Some((status, docker_ids)) = known.get(&arn) else {
            bail!(
                "the agent in {} does not know {arn}: {known:#?}",
                instance.id
            );
        };
        ensure!(
            status == "RUNNING" && *docker_ids == ids,
            "the agent in {} has {arn} as {status} {docker_ids:?}, ECS as RUNNING {ids:?}",
            instance.id
        );
    }
    Ok(())
}

/// Step timings, printed as they end and all together at the end.
struct Steps {
    start: Instant,
    done: Vec<(String, Duration)>,
}

impl Steps {
    fn new() -> Self {
        Steps {
            start: Instant::now(),
            done: Vec::new(),
        }
    }

    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("fleet_faults: {name} ...");
        let t = Instant::now();
        let out = f().with_context(|| format!("step: {name}"))?;
        let took = t.elapsed();
        eprintln!("fleet_faults: {name}: {:.1} s", took.as_secs_f64());
        self.done.push((name.to_string(), took));
        Ok(out)
    }

    fn summary(&self) {
        eprintln!(
            "fleet_faults: steps (total {:.1} s):",
            self.start.elapsed().as_secs_f64()
        );
        for (name, took) in &self.done {
            eprintln!("  {:>6.1} s  {name}", took.as_secs_f64());
        }
    }
}

#[test]
fn host_failures_on_two_instances_lose_and_duplicate_no_task() -> Result<()> {
    let mut steps = Steps::new();
    steps.run("precheck and instance image", fleet::precheck)?;
    let image = fleet::instance_image()?;
    let ami = fleet::ami_of(&image)?;
    let guard = Fleet::new();
    let (cp, cidr) = fleet::start_control_plane(&guard)?;
    let aws = cp.aws()?;
    aws.run(&["ecs", "create-cluster", "--cluster-name", CLUSTER])?;
    let gateway = fleet::gateway(&cidr)?;

    let instances = steps.run("boot two instances and register", || {
        let subnets = fleet::subnets(&aws)?;
        let launched =
            fleet::run_instances(&aws, &guard, &ami, CLUSTER, &subnets[..2], "fleet-faults")?;
        fleet::wait_registered(&aws, CLUSTER, &launched, REGISTER_TIMEOUT)?;
        Ok(launched)
    })?;
    let ec2_of: BTreeMap<String, String> = container_instances(&aws, CLUSTER)?
        .iter()
        .map(|c| {
            (
                c["containerInstanceArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["ec2InstanceId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let hosts = Hosts {
        aws: &aws,
        instances,
        ec2_of,
    };
    let (a, b) = (hosts.a().clone(), hosts.b().clone());

    let task_image = TaskImage::on_gateway(gateway)?;
    let mut before = steps.run("two DAEMON services: two tasks on each instance", || {
        let def = task_image.register_sleeper(&aws, "fleet-faults")?;
        for service in SERVICES {
            aws.run(&[
                "ecs",
                "create-service",
                "--cluster",
                CLUSTER,
                "--service-name",
                service,
                "--task-definition",
                &def,
                "--scheduling-strategy",
                "DAEMON",
            ])?;
        }
        hosts.wait_settled("the services' tasks RUNNING, two per instance", |s| {
            for i in [&a, &b] {
                ensure!(s.running_on(&i.id).len() == 2, "not two tasks on {}", i.id);
            }
            Ok(())
        })
    })?;

    // 1. Docker restarts without live-restore: A's containers die with it.
    before = steps.run("restart docker on A, live-restore off", || {
        let on_a = before.running_on(&a.id);
        let on_b = before.running_on(&b.id);
        fleet::exec(&a.container, "systemctl restart docker")?;
        let after = hosts.wait_settled(
            "A's old tasks STOPPED and replaced, the fleet consistent",
            |s| {
                for arn in on_a.keys() {
                    let t = s.task(arn).context("an old task is gone")?;
                    ensure!(t.last == "STOPPED", "{arn} is {}", t.last);
                }
                Ok(())
            },
        )?;
        for (arn, ids) in &on_a {
            let t = after.task(arn).unwrap();
            ensure!(
                t.stop_code == "EssentialContainerExited" && t.reason == ESSENTIAL_EXITED,
                "{arn} stopped with {} {:?}",
                t.stop_code,
                t.reason
            );
            for id in ids {
                let c = after.inner[&a.id].iter().find(|c| &c.id == id);
                ensure!(
                    c.is_some_and(|c| !c.running),
                    "{id} of {arn} should have exited in A: {c:?}"
                );
            }
        }
        ensure!(
            after.running_on(&b.id) == on_b,
            "B's tasks changed: {on_b:?} -> {:?}",
            after.running_on(&b.id)
        );
        ensure!(
            after.running_on(&a.id).len() == on_a.len(),
            "A runs {:?}",
            after.running_on(&a.id)
        );
        let was_running = before.running();
        let new: Vec<String> = after
            .running()
            .into_keys()
            .filter(|arn| !was_running.contains_key(arn))
            .collect();
        ensure!(new.len() == on_a.len(), "replacements: {new:?}");
        let stopped = after.tasks.iter().filter(|t| t.last == "STOPPED").count();
        ensure!(stopped == on_a.len(), "{stopped} STOPPED tasks");
        Ok(after)
    })?;

    // 2. With live-restore on, Docker restarts under running containers.
    steps.run("turn live-restore on in A's Docker Engine", || {
        fleet::exec(
            &a.container,
            "sed -i 's/^{$/{\\n  \"live-restore\": true,/' /etc/docker/daemon.json && \
             systemctl reload docker",
        )?;
        wait_until(
            Duration::from_secs(30),
            "live-restore enabled in A",
            || -> Result<bool> {
                Ok(fleet::exec(
                    &a.container,
                    "docker info --format '{{.LiveRestoreEnabled}}'",
                )? == "true")
            },
        )
    })?;
    before = steps.run("restart docker on A, live-restore on", || {
        let on_a = before.running_on(&a.id);
        let ids: BTreeSet<String> = on_a.values().flatten().cloned().collect();
        let started = started_at(&a.container, &ids)?;
        let pid = ecs_prop(&a.container, "MainPID")?;
        fleet::exec(&a.container, "systemctl restart docker")?;
        // ecs.service is PartOf docker.service: the agent restarts too.
        wait_agent_pid(&a.container, &pid)?;
        hosts.wait_connected(&a, true, SETTLE_TIMEOUT)?;
        let after = hosts.wait_settled("the fleet consistent", |_| Ok(()))?;
        after.ensure_same_tasks_as(&before)?;
        let still = started_at(&a.container, &ids)?;
        ensure!(
            still == started,
            "A's containers restarted: {started:?} -> {still:?}"
        );
        assert_agent_holds(&a, &after)?;
        Ok(after)
    })?;

    // 3. The agent restarts (cleanly, then killed) and adopts its tasks.
    before = steps.run("systemctl restart ecs on A", || {
        let pid = ecs_prop(&a.container, "MainPID")?;
        fleet::exec(&a.container, "systemctl restart ecs")?;
        wait_agent_pid(&a.container, &pid)?;
        hosts.wait_connected(&a, true, SETTLE_TIMEOUT)?;
        let after = hosts.wait_settled("the fleet consistent", |_| Ok(()))?;
        after.ensure_same_tasks_as(&before)?;
        assert_agent_holds(&a, &after)?;
        Ok(after)
    })?;
    before = steps.run("kill -9 the agent on A", || {
        let p = unit(&a.container, "ecs", &["MainPID", "NRestarts"])?;
        let restarts: u32 = p["NRestarts"].parse()?;
        fleet::exec(&a.container, &format!("kill -9 {}", p["MainPID"]))?;
        let pid = wait_agent_pid(&a.container, &p["MainPID"])?;
        let now: u32 = ecs_prop(&a.container, "NRestarts")?.parse()?;
        ensure!(
            now == restarts + 1,
            "NRestarts {restarts} -> {now} (agent pid {pid})"
        );
        hosts.wait_connected(&a, true, SETTLE_TIMEOUT)?;
        let after = hosts.wait_settled("the fleet consistent", |_| Ok(()))?;
        after.ensure_same_tasks_as(&before)?;
        assert_agent_holds(&a, &after)?;
        Ok(after)
    })?;
    before = steps.run("stop-task of one of A's tasks after the kill", || {
        // The restarted agent manages what it adopted: ECS stops a task, the agent stops its
        // container, and its service replaces it.
        let (arn, ids) = before.running_on(&a.id).into_iter().next().unwrap();
        aws.run(&["ecs", "stop-task", "--cluster", CLUSTER, "--task", &arn])?;
        let after = hosts.wait_settled("the stopped task replaced", |s| {
            let t = s.task(&arn).context("stopped task gone")?;
            ensure!(t.last == "STOPPED", "{arn} is {}", t.last);
            Ok(())
        })?;
        for id in &ids {
            ensure!(
                after.inner[&a.id].iter().any(|c| &c.id == id && !c.running),
                "{id} still runs"
            );
        }
        Ok(after)
    })?;

    // 4. A loses the network for 60 s.
    before = steps.run("cut A off the control plane for 60 s", || {
        let gw = gateway.to_string();
        fleet::exec(
            &a.container,
            &format!(
                "iptables -w -I INPUT 1 -s {gw} -j DROP && iptables -w -I OUTPUT 1 -d {gw} -j DROP"
            ),
        )?;
        let cut = Instant::now();
        let seen = wait_until(CUT, "A's agent shown disconnected during the cut", || {
            anyhow::Ok(!hosts.connected(&a)?)
        });
        let disconnected_after = cut.elapsed();
        let b_connected = hosts.connected(&b)?;
        let during = described_tasks(&aws, CLUSTER, None, "RUNNING")?;
        // The rest of the cut: a deliberate duration, the fault under test.
        std::thread::sleep(CUT.saturating_sub(cut.elapsed()));
        fleet::exec(
            &a.container,
            &format!(
                "iptables -w -D INPUT -s {gw} -j DROP && iptables -w -D OUTPUT -d {gw} -j DROP"
            ),
        )?;
        eprintln!(
            "fleet_faults: A shown disconnected {:.1} s into the cut",
            disconnected_after.as_secs_f64()
        );
        seen?;
        ensure!(b_connected, "B was shown disconnected during A's cut");
        let during: BTreeSet<String> = during
            .iter()
            .filter_map(|t| t["taskArn"].as_str().map(String::from))
            .collect();
        let want: BTreeSet<String> = before.running().into_keys().collect();
        ensure!(
            during == want,
            "during the cut ECS wanted {during:?}, before it {want:?}"
        );
        let back = Instant::now();
        hosts.wait_connected(&a, true, SETTLE_TIMEOUT)?;
        eprintln!(
            "fleet_faults: A connected again {:.1} s after the cut ended",
            back.elapsed().as_secs_f64()
        );
        let after = hosts.wait_settled("the fleet consistent", |_| Ok(()))?;
        after.ensure_same_tasks_as(&before)?;
        Ok(after)
    })?;

    // 5. The agent's package is upgraded in place.
    before = steps.run("upgrade A's ecs-agent .deb in place", || {
        let old = fleet::exec(&a.container, "dpkg-query -W -f '${Version}' ecs-agent")?;
        let new = format!("{old}+upgrade1");
        let deb = fleet::agent_deb(&new)?;
        ecs_e2e_tests::docker(&[
            "cp",
            &deb.path().join("ecs-agent.deb").to_string_lossy(),
            &format!("{}:/root/ecs-agent-upgrade.deb", a.container),
        ])?;
        let version_before = hosts.container_instance(&a)?["versionInfo"].clone();
        let pid = ecs_prop(&a.container, "MainPID")?;
        fleet::exec(
            &a.container,
            &format!(
                "dpkg --compare-versions '{new}' gt '{old}' && \
                 DEBIAN_FRONTEND=noninteractive dpkg -i /root/ecs-agent-upgrade.deb"
            ),
        )?;
        let installed = fleet::exec(&a.container, "dpkg-query -W -f '${Version}' ecs-agent")?;
        ensure!(installed == new, "installed {installed}, wanted {new}");
        // The package's postinst restarts the running agent on the new files.
        wait_agent_pid(&a.container, &pid)?;
        hosts.wait_connected(&a, true, SETTLE_TIMEOUT)?;
        let after = hosts.wait_settled("the fleet consistent", |_| Ok(()))?;
        after.ensure_same_tasks_as(&before)?;
        assert_agent_holds(&a, &after)?;
        let version_after = hosts.container_instance(&a)?["versionInfo"].clone();
        ensure!(
            version_after["agentVersion"].is_string() && version_after["agentHash"].is_string(),
            "versionInfo {version_after}"
        );
        eprintln!(
            "fleet_faults: ecs-agent {old} -> {installed}; versionInfo {version_before} -> \
             {version_after} (the same binaries: the package version is not on the wire)"
        );
        Ok(after)
    })?;

    // 6. The unit's restart contract, on B.
    steps.run("exit 5 (bad config) is not restarted on B", || {
        fleet::exec(
            &b.container,
            "echo 'ECS_INSTANCE_ATTRIBUTES={not json' >> /etc/ecs/ecs.config",
        )?;
        // Fails: the agent exits before it says it is ready.
        let _ = fleet::exec_output(&b.container, "systemctl restart ecs");
        let failed = wait_until(
            Duration::from_secs(60),
            "ecs.service failed in B",
            || -> Result<Option<BTreeMap<String, String>>> {
                let p = unit(
                    &b.container,
                    "ecs",
                    &[
                        "ActiveState",
                        "SubState",
                        "Result",
                        "ExecMainStatus",
                        "NRestarts",
                    ],
                )?;
                Ok((p["ActiveState"] == "failed").then_some(p))
            },
        )?;
        ensure!(
            failed["Result"] == "exit-code"
                && failed["ExecMainStatus"] == "5"
                && failed["NRestarts"] == "0",
            "{failed:?}"
        );
        // Watch it through RestartSec (10 s): a deliberate window, since what is proven is
        // that nothing happens.
        std::thread::sleep(RESTART_WINDOW);
        let p = unit(&b.container, "ecs", &["ActiveState", "NRestarts"])?;
        ensure!(
            p["ActiveState"] == "failed" && p["NRestarts"] == "0",
            "after {RESTART_WINDOW:?}: {p:?}"
        );
        hosts.wait_connected(&b, false, Duration::from_secs(60))?;
        // The tasks keep running without their agent.
        let inner = inner_containers(&b.container)?;
        for ids in before.running_on(&b.id).values() {
            for id in ids {
                ensure!(
                    inner.iter().any(|c| &c.id == id && c.running),
                    "{id} stopped with the agent"
                );
            }
        }
        eprintln!("fleet_faults: B's ecs.service after exit 5: {failed:?}");
        Ok(())
    })?;
    steps.run(
        "exit 1 (Docker unreachable) is restarted on B, then recovers",
        || {
            fleet::exec(
                &b.container,
                "sed -i '/^ECS_INSTANCE_ATTRIBUTES=/d' /etc/ecs/ecs.config && \
                 echo 'DOCKER_HOST=unix:///run/fleet-faults-no-docker.sock' >> /etc/ecs/ecs.config && \
                 systemctl reset-failed ecs",
            )?;
            let _ = fleet::exec_output(&b.container, "systemctl start ecs");
            let restarted = wait_until(
                Duration::from_secs(90),
                "ecs.service restarted by systemd after exit 1 in B",
                || -> Result<Option<BTreeMap<String, String>>> {
                    let p = unit(
                        &b.container,
                        "ecs",
                        &["ActiveState", "Result", "ExecMainStatus", "NRestarts"],
                    )?;
                    ensure!(p["ActiveState"] != "failed", "gave up: {p:?}");
                    let n: u32 = p["NRestarts"].parse()?;
                    Ok((n >= 1 && p["ExecMainStatus"] == "1").then_some(p))
                },
            )?;
            eprintln!("fleet_faults: B's ecs.service after exit 1: {restarted:?}");
            fleet::exec(
                &b.container,
                "sed -i '/^DOCKER_HOST=/d' /etc/ecs/ecs.config",
            )?;
            wait_agent_pid(&b.container, "0")?;
            hosts.wait_connected(&b, true, SETTLE_TIMEOUT)?;
            let after = hosts.wait_settled("the fleet consistent", |_| Ok(()))?;
            after.ensure_same_tasks_as(&before)?;
            assert_agent_holds(&b, &after)?;
            Ok(())
        },
    )?;

    steps.summary();
    drop(cp);
    drop(task_image);
    drop(guard);
    Ok(())
}
