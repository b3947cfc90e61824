//! ECS services behind Elastic Load Balancing (v2): a service's `loadBalancers` (target group,
//! container name, container port) put each of its RUNNING tasks into the target group as its
//! instance and the host port Docker gave the container port (dynamic host ports included).
//!
//! Who owns what: [`crate::elbv2`] owns target groups, registrations and target health; ECS owns
//! which tasks should be targets, and remembers which targets it registered (the service's
//! `lbTargets` row member) so that it deregisters them, and only them, when their tasks go. The
//! bridge ([`run`]) holds nothing of its own: once a second it asks the ECS state what its
//! services want ([`State::lb_work`]), reads what ELB has (DescribeTargetHealth, through the
//! ELBv2 API's own operations, as ECS itself calls ELB), registers and deregisters the
//! difference, and hands ELB's answers back ([`State::observe_lb`]): target health, each target
//! group's deregistration delay, what it registered and deregistered (service events). The
//! scheduler ([`super::services`]) reads them: a task counts as healthy once every target of it
//! is healthy, a task that fails ELB health checks after the grace period is replaced, and a task
//! the scheduler stops is deregistered first and told to stop once the delay ends.
//!
//! Targets of type `instance` are the container instance's `ec2InstanceId` (`mi-...` for
//! external instances, which this emulator's ELB accepts) and the host port; target groups of
//! type `ip` need awsvpc tasks, which this emulator does not run, and are refused at CreateService
//! as ECS refuses them for bridge and host tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::ecs::model::{LbRef, LbTarget, Service, TargetState, push_event};
use crate::ecs::state::{Key, State, StateHandle};
use crate::ecs::taskdef::TaskDefinition;
use crate::elbv2::{Elbv2Handle, Op};
use crate::front::ApiError;
use ecs_protocol::BackendStatus;

/// How often the bridge compares ECS's wishes with ELB's registrations.
pub const ROUND: Duration = Duration::from_secs(1);

/// ECS's limit of target groups per service.
pub const MAX_TARGET_GROUPS: usize = 5;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LbInput {
    target_group_arn: Option<String>,
    load_balancer_name: Option<String>,
    container_name: Option<String>,
    container_port: Option<i64>,
}

/// The `loadBalancers` of a CreateService or UpdateService, checked as ECS checks them before it
/// asks ELB anything.
pub fn parse_load_balancers(given: &[Value]) -> Result<Vec<LbRef>, ApiError> {
    if given.len() > MAX_TARGET_GROUPS {
        return Err(ApiError::invalid(format!(
            "loadBalancers can have at most {MAX_TARGET_GROUPS} items."
        )));
    }
    let mut out: Vec<LbRef> = Vec::new();
    for v in given {
        let lb: LbInput = serde_json::from_value(v.clone())
            .map_err(|e| ApiError::invalid(format!("Invalid loadBalancers entry: {e}")))?;
        let Some(tg) = lb.target_group_arn.filter(|a| !a.is_empty()) else {
            if lb.load_balancer_name.is_some() {
                return Err(ApiError::invalid(
                    "Classic Load Balancers are not supported by this emulator; give a targetGroupArn of an Application or Network Load Balancer.",
                ));
            }
            return Err(ApiError::invalid("Target Group Arn can not be blank."));
        };
        let Some(container_name) = lb.container_name.filter(|n| !n.is_empty()) else {
            return Err(ApiError::invalid("Container Name can not be blank."));
        };
        let Some(container_port) = lb.container_port else {
            return Err(ApiError::invalid("Container Port can not be blank."));
        };
        let r = LbRef {
            target_group_arn: tg,
            container_name,
            container_port,
        };
        if out.contains(&r) {
            return Err(ApiError::invalid(format!(
                "The target group {} with container {} and port {} is given more than once.",
                r.target_group_arn, r.container_name, r.container_port
            )));
        }
        out.push(r);
    }
    Ok(out)
}

/// Checks `lbs` against the task definition the service runs: the container and its port exist,
/// and (with the target groups' types, when known) the network mode fits.
pub fn check_against_task_definition(lbs: &[LbRef], td: &TaskDefinition) -> Result<(), ApiError> {
    for lb in lbs {
        let Some(c) = td
            .container_definitions
            .iter()
            .find(|c| c.name == lb.container_name)
        else {
            return Err(ApiError::invalid(format!(
                "The container {} does not exist in the task definition.",
                lb.container_name
            )));
        };
        let has_port = c
            .port_mappings
            .iter()
            .any(|m| m.container_port.as_ref().and_then(|p| p.value()) == Some(lb.container_port));
        if !has_port {
            return Err(ApiError::invalid(format!(
                "The container {} did not have a container port {} defined.",
                lb.container_name, lb.container_port
            )));
        }
    }
    Ok(())
}

/// What ELB says of one target group, as CreateService needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFacts {
    /// `instance` or `ip`.
    pub target_type: String,
    /// The load balancers it is attached to.
    pub load_balancers: usize,
}

/// Asks ELB about every target group of `lbs` and checks them as ECS does at CreateService and
/// UpdateService: each exists and is attached to a load balancer; `ip` groups need awsvpc.
pub async fn check_target_groups(
    elb: &Elbv2Handle,
    lbs: &[LbRef],
    network_mode: &str,
    now: f64,
) -> Result<(), ApiError> {
    for lb in lbs {
        let facts = group_facts(elb, &lb.target_group_arn, now)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "The target group with targetGroupArn {} does not exist.",
                    lb.target_group_arn
                ))
            })?;
        if facts.load_balancers == 0 {
            return Err(ApiError::invalid(format!(
                "The target group with targetGroupArn {} does not have an associated load balancer.",
                lb.target_group_arn
            )));
        }
        if facts.target_type == "ip" && network_mode != "awsvpc" {
            return Err(ApiError::invalid(format!(
                "The provided target group {} has target type ip, which is incompatible with the {network_mode} network mode specified in the task definition.",
                lb.target_group_arn
            )));
        }
        if facts.target_type != "ip" && facts.target_type != "instance" {
            return Err(ApiError::invalid(format!(
                "The provided target group {} has target type {}, which ECS services cannot use.",
                lb.target_group_arn, facts.target_type
            )));
        }
    }
    Ok(())
}

/// Runs one ELBv2 operation given as its query form, as the ELBv2 API receives it.
async fn elb_call(
    elb: &Elbv2Handle,
    action: &str,
    members: Vec<(String, String)>,
    now: f64,
) -> Result<Value, ApiError> {
    let mut form: BTreeMap<String, String> = members.into_iter().collect();
    form.insert("Action".into(), action.into());
    form.insert("Version".into(), crate::elbv2::VERSION.into());
    let (_, op) = Op::parse(&form)?;
    elb.call(op, now).await
}

async fn group_facts(
    elb: &Elbv2Handle,
    arn: &str,
    now: f64,
) -> Result<Option<GroupFacts>, ApiError> {
    let answer = elb_call(
        elb,
        "DescribeTargetGroups",
        vec![("TargetGroupArns.member.1".into(), arn.into())],
        now,
    )
    .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) if e.code.as_str() == "TargetGroupNotFound" => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(answer["TargetGroups"]
        .as_array()
        .and_then(|g| g.first())
        .map(|g| GroupFacts {
            target_type: g["TargetType"].as_str().unwrap_or("instance").to_string(),
            load_balancers: g["LoadBalancerArns"].as_array().map_or(0, Vec::len),
        }))
}

/// What the services want, asked of the ECS state at the start of a round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LbWork {
    /// Per service: the targets it wants registered now.
    pub wanted: BTreeMap<String, BTreeSet<LbTarget>>,
    /// Per service: the targets it registered and has not seen gone yet.
    pub registered: BTreeMap<String, BTreeSet<LbTarget>>,
}

impl LbWork {
    fn groups(&self) -> BTreeSet<String> {
        self.wanted
            .values()
            .chain(self.registered.values())
            .flatten()
            .map(|t| t.target_group_arn.clone())
            .collect()
    }
}

/// What a round found and did, handed back to the ECS state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LbReport {
    /// Per service: targets registered in this round.
    pub registered: BTreeMap<String, Vec<LbTarget>>,
    /// Per service: targets deregistered in this round.
    pub deregistered: BTreeMap<String, Vec<LbTarget>>,
    /// Per service: targets it registered that ELB no longer has (deregistration done).
    pub gone: BTreeMap<String, Vec<LbTarget>>,
    /// Health per task, per target group.
    pub health: BTreeMap<String, BTreeMap<String, TargetState>>,
    /// `deregistration_delay.timeout_seconds` per target group.
    pub delays: BTreeMap<String, f64>,
    /// Target groups ELB no longer knows.
    pub missing_groups: BTreeSet<String>,
    /// Registration failures, per service: (target group, ELB's message).
    pub failures: BTreeMap<String, Vec<(String, String)>>,
}

/// A service's `loadBalancers`, parsed (checked when they were given).
pub fn service_lbs(svc: &Service) -> Vec<LbRef> {
    parse_load_balancers(&svc.load_balancers).unwrap_or_default()
}

impl State {
    /// The targets each load-balanced service wants registered now, and those it registered.
    pub fn lb_work(&self) -> LbWork {
        let mut work = LbWork::default();
        for svc in self.services.values() {
            if !svc.lb_targets.is_empty() {
                work.registered
                    .insert(svc.service_arn.clone(), svc.lb_targets.clone());
            }
            let lbs = service_lbs(svc);
            if lbs.is_empty() || svc.status == "INACTIVE" {
                continue;
            }
            let mut wanted: BTreeSet<LbTarget> = BTreeSet::new();
            for arn in &svc.task_arns {
                let Some(task) = self.tasks.get(arn) else {
                    continue;
                };
                let live = task.last_status == BackendStatus::Running
                    && task.desired_status == BackendStatus::Running
                    && !svc.draining.contains_key(arn);
                if !live {
                    continue;
                }
                let Some(instance) = self.instances.get(&task.container_instance_arn) else {
                    continue;
                };
                for lb in &lbs {
                    let port = task
                        .containers
                        .iter()
                        .filter(|c| c.name == lb.container_name)
                        .flat_map(|c| &c.network_bindings)
                        .find(|b| b["containerPort"].as_i64() == Some(lb.container_port))
                        .and_then(|b| b["hostPort"].as_u64())
                        .and_then(|p| u16::try_from(p).ok());
                    if let Some(port) = port {
                        wanted.insert(LbTarget {
                            target_group_arn: lb.target_group_arn.clone(),
                            id: instance.ec2_instance_id.clone(),
                            port,
                            task_arn: arn.clone(),
                        });
                    }
                }
            }
            work.wanted.insert(svc.service_arn.clone(), wanted);
        }
        work
    }

    /// Takes in a round's report: remembers what was registered, forgets what is gone, records
    /// the service events, and keeps ELB's health and delays for the scheduler.
    pub fn observe_lb(&mut self, report: LbReport, now: f64) {
        let arns: Vec<String> = self.services.keys().cloned().collect();
        for arn in arns {
            let Some(svc) = self.services.get_mut(&arn) else {
                continue;
            };
            let before = svc.lb_targets.clone();
            let events_before = svc.events.len();
            let name = svc.service_name.clone();
            if let Some(added) = report.registered.get(&arn) {
                svc.lb_targets.extend(added.iter().cloned());
                for (group, n) in per_group(added) {
                    push_event(
                        svc,
                        format!(
                            "(service {name}) registered {n} targets in (target-group {group})"
                        ),
                        now,
                    );
                }
            }
            if let Some(removed) = report.deregistered.get(&arn) {
                for (group, n) in per_group(removed) {
                    push_event(
                        svc,
                        format!(
                            "(service {name}) deregistered {n} targets in (target-group {group})"
                        ),
                        now,
                    );
                }
            }
            if let Some(gone) = report.gone.get(&arn) {
                for t in gone {
                    svc.lb_targets.remove(t);
                }
            }
            svc.lb_targets
                .retain(|t| !report.missing_groups.contains(&t.target_group_arn));
            if let Some(failures) = report.failures.get(&arn) {
                for (group, message) in failures {
                    let text = format!(
                        "(service {name}) failed to register targets in (target-group {group}) with (error {message})"
                    );
                    if svc.events.first().map(|e| &e.message) != Some(&text) {
                        push_event(svc, text, now);
                    }
                }
            }
            if svc.lb_targets != before || svc.events.len() != events_before {
                self.touch(Key::Service(arn));
            }
        }
        self.lb.health = report.health;
        self.lb.delays = report.delays;
    }
}

fn per_group(targets: &[LbTarget]) -> BTreeMap<&str, usize> {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for t in targets {
        *n.entry(t.target_group_arn.as_str()).or_default() += 1;
    }
    n
}

/// One target group as ELB described it.
#[derive(Debug, Default)]
struct GroupView {
    targets: BTreeMap<(String, u16), TargetState>,
    delay: Option<f64>,
    missing: bool,
}

async fn view_group(elb: &Elbv2Handle, arn: &str, now: f64) -> Result<GroupView, ApiError> {
    let health = elb_call(
        elb,
        "DescribeTargetHealth",
        vec![("TargetGroupArn".into(), arn.into())],
        now,
    )
    .await;
    let health = match health {
        Ok(h) => h,
        Err(e) if e.code.as_str() == "TargetGroupNotFound" => {
            return Ok(GroupView {
                missing: true,
                ..GroupView::default()
            });
        }
        Err(e) => return Err(e),
    };
    let mut view = GroupView::default();
    for d in health["TargetHealthDescriptions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = d["Target"]["Id"].as_str().unwrap_or_default().to_string();
        let port = d["Target"]["Port"]
            .as_u64()
            .or_else(|| d["Target"]["Port"].as_str().and_then(|p| p.parse().ok()))
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_default();
        let th = &d["TargetHealth"];
        view.targets.insert(
            (id, port),
            TargetState {
                state: th["State"].as_str().unwrap_or("initial").to_string(),
                reason: th["Reason"].as_str().map(String::from),
            },
        );
    }
    let attributes = elb_call(
        elb,
        "DescribeTargetGroupAttributes",
        vec![("TargetGroupArn".into(), arn.into())],
        now,
    )
    .await?;
    view.delay = attributes["Attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["Key"] == "deregistration_delay.timeout_seconds")
        .and_then(|a| a["Value"].as_str())
        .and_then(|v| v.parse().ok());
    Ok(view)
}

fn targets_form(group: &str, targets: &[&LbTarget]) -> Vec<(String, String)> {
    let mut form = vec![("TargetGroupArn".to_string(), group.to_string())];
    for (i, t) in targets.iter().enumerate() {
        form.push((format!("Targets.member.{}.Id", i + 1), t.id.clone()));
        form.push((format!("Targets.member.{}.Port", i + 1), t.port.to_string()));
    }
    form
}

/// One round: compare, register, deregister, report.
pub async fn round(ecs: &StateHandle, elb: &Elbv2Handle, now: f64) -> Result<(), ApiError> {
    let work = ecs.call(|s| s.lb_work()).await?;
    let mut report = LbReport::default();
    let mut views: BTreeMap<String, GroupView> = BTreeMap::new();
    for group in work.groups() {
        let view = view_group(elb, &group, now).await?;
        if view.missing {
            report.missing_groups.insert(group.clone());
        }
        if let Some(d) = view.delay {
            report.delays.insert(group.clone(), d);
        }
        views.insert(group, view);
    }
    let empty = BTreeSet::new();
    let services: BTreeSet<&String> = work.wanted.keys().chain(work.registered.keys()).collect();
    for service in services {
        let wanted = work.wanted.get(service).unwrap_or(&empty);
        let registered = work.registered.get(service).unwrap_or(&empty);
        let has = |t: &LbTarget| {
            views
                .get(&t.target_group_arn)
                .and_then(|v| v.targets.get(&(t.id.clone(), t.port)))
        };
        // Register what is wanted and not in the group (or draining there).
        let mut to_register: BTreeMap<&str, Vec<&LbTarget>> = BTreeMap::new();
        for t in wanted {
            let missing_group = views.get(&t.target_group_arn).is_none_or(|v| v.missing);
            if missing_group {
                continue;
            }
            if has(t).is_none_or(|s| s.state == "draining") {
                to_register.entry(&t.target_group_arn).or_default().push(t);
            }
        }
        for (group, targets) in to_register {
            let form = targets_form(group, &targets);
            match elb_call(elb, "RegisterTargets", form, now).await {
                Ok(_) => report
                    .registered
                    .entry(service.clone())
                    .or_default()
                    .extend(targets.into_iter().cloned()),
                Err(e) => report
                    .failures
                    .entry(service.clone())
                    .or_default()
                    .push((group.to_string(), e.message)),
            }
        }
        // Deregister what it registered and no longer wants; forget what ELB no longer has.
        let mut to_deregister: BTreeMap<&str, Vec<&LbTarget>> = BTreeMap::new();
        for t in registered.iter().filter(|t| !wanted.contains(*t)) {
            match has(t) {
                None => report
                    .gone
                    .entry(service.clone())
                    .or_default()
                    .push(t.clone()),
                Some(s) if s.state == "draining" => {}
                Some(_) => to_deregister
                    .entry(&t.target_group_arn)
                    .or_default()
                    .push(t),
            }
        }
        for (group, targets) in to_deregister {
            let form = targets_form(group, &targets);
            elb_call(elb, "DeregisterTargets", form, now).await?;
            report
                .deregistered
                .entry(service.clone())
                .or_default()
                .extend(targets.into_iter().cloned());
        }
        for t in wanted {
            if let Some(s) = has(t) {
                report
                    .health
                    .entry(t.task_arn.clone())
                    .or_default()
                    .insert(t.target_group_arn.clone(), s.clone());
            }
        }
    }
    ecs.call(move |s| {
        s.observe_lb(report, now);
        s.schedule_services(now);
    })
    .await
}

/// Runs [`round`] every [`ROUND`] until `shutdown`.
pub async fn run(ecs: StateHandle, elb: Elbv2Handle, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(ROUND);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = crate::front::context::now_secs();
        if let Err(e) = round(&ecs, &elb, now).await {
            tracing::warn!(error = %e.message, "ECS services' load balancer round failed");
        }
    }
}

#[cfg(test)]
#[path = "load_balancing_tests.rs"]
mod tests;
