//! ECS services: CreateService, DescribeServices, ListServices, UpdateService, DeleteService, and the
//! service scheduler that keeps each service's PRIMARY deployment at its desired count.
//!
//! Like the rest of `ecs/`, these are synchronous rules over [`State`]: the state actor runs
//! [`State::schedule_services`] after every change that can matter (task state changes, StopTask,
//! instance registration and connection, the service operations) and once a second, so placements
//! that failed are retried. What to start and stop is decided by pure functions
//! ([`plan_replica`], [`plan_daemon`]) that know nothing of the state; this module only applies
//! their decisions (placement as RunTask does it, stop requests as StopTask does them) and records
//! ECS's service events. Services behind load balancers read ELB's target health through
//! [`super::load_balancing`]: a task is healthy once its targets are, a task stopped by the
//! scheduler drains first, a task failing ELB health checks after the grace period is replaced.
//! No capacity provider or service connect is emulated.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ecs::common::{paginate, short_name, valid_name, with_next};
use crate::ecs::load_balancing::{
    check_against_task_definition, parse_load_balancers, service_lbs,
};
use crate::ecs::model::{
    Cluster, Deployment, DeploymentConfiguration, Draining, SERVICE_INTERNAL, Service, Tag,
    api_view, push_event,
};
use crate::ecs::placement::TaskSpec;
use crate::ecs::placement::attrs as placement_attrs;
use crate::ecs::placement::strategy::{self as placement_strategy, Strategy};
use crate::ecs::state::{Key, State};
use crate::front::{ApiError, ErrorCode};
use ecs_protocol::{BackendStatus, StopCode};

/// How long DescribeServices still shows an INACTIVE service (a guess: ECS says only "may be
/// cleaned up and purged" in the future).
pub const INACTIVE_RETENTION_SECS: f64 = 3600.0;

/// `stopCode` of the tasks the scheduler stops.
const SCHEDULER_STOP: StopCode = StopCode::ServiceSchedulerInitiated;

/// A task of a service as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFacts {
    /// Task ARN.
    pub arn: String,
    /// The deployment that started it (`startedBy`).
    pub deployment: String,
    /// Instance it was placed on.
    pub instance: String,
    /// lastStatus is RUNNING.
    pub running: bool,
    /// desiredStatus is STOPPED (told to stop, not yet reported STOPPED), or being deregistered
    /// from its load balancers before it is told to.
    pub stopping: bool,
    /// RUNNING and, for a service behind load balancers, healthy in every target group.
    pub healthy: bool,
    /// Its container instance is DRAINING (or gone): it is replaced like a task of an older
    /// deployment.
    pub on_draining: bool,
}

/// What the scheduler should do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Tasks of the PRIMARY deployment to start (anywhere placement allows).
    pub start: usize,
    /// Instances on which to start one PRIMARY task each (DAEMON).
    pub start_on: Vec<String>,
    /// Tasks to stop.
    pub stop: Vec<String>,
}

/// The REPLICA scheduler's decision: keep `desired` tasks of `primary`, replacing tasks of older
/// deployments without going above `maximum_percent` of `desired` tasks (RUNNING, PENDING or still
/// stopping) nor below `minimum_healthy_percent` of `desired` RUNNING tasks.
///
/// Scale-in of the primary stops pending tasks first; tasks of older deployments that are not
/// RUNNING are stopped at once (they count as unhealthy); RUNNING ones as long as the healthy
/// count stays at or above the minimum. Tasks on a DRAINING container instance are replaced the
/// same way, whatever their deployment, as ECS replaces them.
pub fn plan_replica(
    desired: usize,
    minimum_healthy_percent: u32,
    maximum_percent: u32,
    primary: &str,
    tasks: &[TaskFacts],
) -> Plan {
    let max_total = desired * maximum_percent as usize / 100;
    let min_healthy = (desired * minimum_healthy_percent as usize).div_ceil(100);
    let live: Vec<&TaskFacts> = tasks.iter().filter(|t| !t.stopping).collect();
    let mut stop: Vec<String> = Vec::new();

    // Scale-in of the primary: pending tasks first, then running ones.
    let mut primary_live: Vec<&TaskFacts> = live
        .iter()
        .copied()
        .filter(|t| t.deployment == primary && !t.on_draining)
        .collect();
    primary_live.sort_by_key(|t| t.running);
    let excess = primary_live.len().saturating_sub(desired);
    stop.extend(primary_live.iter().take(excess).map(|t| t.arn.clone()));

    // Older deployments: unhealthy tasks go now, healthy ones down to the minimum.
    let old: Vec<&TaskFacts> = live
        .iter()
        .copied()
        .filter(|t| t.deployment != primary || t.on_draining)
        .collect();
    stop.extend(old.iter().filter(|t| !t.running).map(|t| t.arn.clone()));
    let healthy = live
        .iter()
        .filter(|t| t.healthy && !stop.contains(&t.arn))
        .count();
    let mut may_stop = healthy.saturating_sub(min_healthy);
    for t in old.iter().filter(|t| t.running) {
        if may_stop == 0 {
            break;
        }
        stop.push(t.arn.clone());
        may_stop -= 1;
    }

    // Tasks told to stop still count toward the maximum until they are reported STOPPED.
    let primary_after = primary_live.len() - excess;
    let total_after = tasks.len();
    let start = desired
        .saturating_sub(primary_after)
        .min(max_total.saturating_sub(total_after));
    Plan {
        start,
        start_on: Vec::new(),
        stop,
    }
}

/// The DAEMON scheduler's decision: one PRIMARY task on each of `eligible` instances. A task of an
/// older deployment on an eligible instance is stopped first (the DAEMON defaults are 0 % healthy,
/// 100 % maximum), and the new one is started once the instance has no live task of the service;
/// tasks on instances not in `hosts` (no longer ACTIVE in the cluster) are stopped, and so are
/// duplicates. `hosts` holds `eligible` and also the instances whose agent is disconnected: ECS
/// starts nothing there but leaves their tasks alone (an agent restarting or a network cut must
/// not cost an instance its daemon tasks).
pub fn plan_daemon(
    eligible: &[String],
    hosts: &[String],
    primary: &str,
    tasks: &[TaskFacts],
) -> Plan {
    let mut plan = Plan::default();
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    for t in tasks.iter().filter(|t| !t.stopping) {
        let wanted = hosts.contains(&t.instance)
            && t.deployment == primary
            && kept.insert(t.instance.as_str());
        if !wanted {
            plan.stop.push(t.arn.clone());
        }
    }
    for instance in eligible {
        let busy = tasks
            .iter()
            .any(|t| &t.instance == instance && !plan.stop.contains(&t.arn) && !t.stopping);
        let draining = tasks.iter().any(|t| &t.instance == instance && t.stopping)
            || tasks
                .iter()
                .any(|t| &t.instance == instance && plan.stop.contains(&t.arn));
        if !busy && !draining {
            plan.start_on.push(instance.clone());
        }
    }
    plan
}

/// `ecs-svc/` and 19 digits, as ECS names deployments (and the `startedBy` of their tasks).
fn new_deployment_id() -> String {
    let random = u64::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    format!(
        "ecs-svc/{}",
        1_000_000_000_000_000_000 + random % 9_000_000_000_000_000_000
    )
}

fn task_id(arn: &str) -> &str {
    short_name(arn)
}

fn service_not_found() -> ApiError {
    ApiError::new(ErrorCode::ServiceNotFoundException, "Service not found.")
}

fn new_deployment(task_definition: &str, desired: u32, launch_type: &str, now: f64) -> Deployment {
    let id = new_deployment_id();
    Deployment {
        rollout_state_reason: format!("ECS deployment {id} in progress."),
        id,
        status: "PRIMARY".into(),
        task_definition: task_definition.to_string(),
        desired_count: desired,
        failed_tasks: 0,
        created_at: now,
        updated_at: now,
        launch_type: launch_type.to_string(),
        rollout_state: "IN_PROGRESS".into(),
        ever_running: false,
    }
}

/// "(service X) has stopped N running tasks: (task ...) ...", when `tasks` is not empty.
fn push_stopped_event(svc: &mut Service, tasks: &[String], now: f64) {
    if tasks.is_empty() {
        return;
    }
    let ids: Vec<String> = tasks
        .iter()
        .map(|a| format!("(task {})", task_id(a)))
        .collect();
    let message = format!(
        "(service {}) has stopped {} running tasks: {}.",
        svc.service_name,
        ids.len(),
        ids.join(" ")
    );
    push_event(svc, message, now);
}

/// The service event for a placement that failed, in ECS's words as far as we know them.
fn placement_failure_message(
    name: &str,
    failure: Option<(&str, &str)>,
    error: Option<&str>,
) -> String {
    let head = format!(
        "(service {name}) was unable to place a task because no container instance met all of its requirements."
    );
    match (failure, error) {
        (_, Some(reason)) => format!("{head} Reason: {reason}"),
        (Some((instance, why)), None) => {
            let closest = match why {
                "RESOURCE:MEMORY" => "has insufficient memory available.".to_string(),
                "RESOURCE:CPU" => "has insufficient CPU units available.".to_string(),
                "RESOURCE:PORTS" => "is already using a port required by your task.".to_string(),
                "ATTRIBUTE" => "is missing an attribute required by your task.".to_string(),
                other => format!("encountered error \"{other}\"."),
            };
            format!(
                "{head} The closest matching (container-instance {}) {closest} For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
                short_name(instance)
            )
        }
        (None, None) => head,
    }
}

fn check_deployment_configuration(c: &DeploymentConfiguration) -> Result<(), ApiError> {
    if c.minimum_healthy_percent > 100 {
        return Err(ApiError::invalid(
            "minimumHealthyPercent must be between 0 and 100.",
        ));
    }
    if c.maximum_percent < 100 {
        return Err(ApiError::invalid(
            "maximumPercent must be greater than or equal to 100.",
        ));
    }
    Ok(())
}

/// `healthCheckGracePeriodSeconds`: only with load balancers, and not negative.
fn check_grace_period(grace: Option<i64>, with_lbs: bool) -> Result<(), ApiError> {
    match grace {
        Some(_) if !with_lbs => Err(ApiError::invalid(
            "Health check grace period is only valid for services configured to use load balancers",
        )),
        Some(g) if !(0..=i64::from(i32::MAX)).contains(&g) => Err(ApiError::invalid(format!(
            "healthCheckGracePeriodSeconds must be between 0 and {}, was {g}.",
            i32::MAX
        ))),
        _ => Ok(()),
    }
}

fn check_constraints(constraints: &[Value]) -> Result<(), ApiError> {
    for c in constraints {
        placement_attrs::parse_constraint(c).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    Ok(())
}

/// A service's strategies; without any, ECS's default for services (spread across
/// Availability Zones, then instances).
fn service_strategies(given: &[Value]) -> Result<Vec<Strategy>, ApiError> {
    let parsed = placement_strategy::parse_strategies(given)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(if parsed.is_empty() {
        Strategy::service_default()
    } else {
        parsed
    })
}

impl State {
    /// `arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`.
    pub(crate) fn service_arn(&self, cluster: &Cluster, name: &str) -> String {
        self.account
            .arn(&format!("service/{}/{name}", cluster.cluster_name))
    }

    /// The ARN of a service named by name or ARN in `cluster`, if it is known (any status).
    fn find_service(&self, cluster: &Cluster, reference: &str) -> Option<String> {
        let arn = if reference.starts_with("arn:") {
            reference.to_string()
        } else {
            self.service_arn(cluster, reference)
        };
        self.services
            .get(&arn)
            .filter(|s| s.cluster_arn == cluster.cluster_arn)
            .map(|s| s.service_arn.clone())
    }

    /// Live (not STOPPED) tasks of a service, as the planner sees them.
    fn service_task_facts(&self, svc: &Service) -> Vec<TaskFacts> {
        let lbs = service_lbs(svc);
        svc.task_arns
            .iter()
            .filter_map(|a| self.tasks.get(a))
            .filter(|t| t.last_status != BackendStatus::Stopped)
            .map(|t| {
                let running = t.last_status == BackendStatus::Running;
                TaskFacts {
                    arn: t.task_arn.clone(),
                    deployment: t.started_by.clone().unwrap_or_default(),
                    instance: t.container_instance_arn.clone(),
                    running,
                    stopping: t.desired_status == BackendStatus::Stopped
                        || svc.draining.contains_key(&t.task_arn),
                    healthy: running && self.lb.healthy(&t.task_arn, &lbs),
                    on_draining: self
                        .instances
                        .get(&t.container_instance_arn)
                        .is_none_or(|i| i.status != "ACTIVE"),
                }
            })
            .collect()
    }

    /// (running, pending) tasks per deployment id.
    fn deployment_counts(&self, svc: &Service) -> BTreeMap<String, (u32, u32)> {
        let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for t in self.service_task_facts(svc) {
            let c = counts.entry(t.deployment).or_default();
            if t.running {
                c.0 += 1;
            } else if !t.stopping {
                c.1 += 1;
            }
        }
        counts
    }

    fn service_view(&self, svc: &Service, with_tags: bool) -> Value {
        let counts = self.deployment_counts(svc);
        let mut v = api_view(svc, SERVICE_INTERNAL);
        let (mut running, mut pending) = (0, 0);
        let deployments: Vec<Value> = svc
            .deployments
            .iter()
            .map(|d| {
                let (r, p) = counts.get(&d.id).copied().unwrap_or_default();
                running += r;
                pending += p;
                let mut dv = api_view(d, &["everRunning"]);
                if let Value::Object(m) = &mut dv {
                    m.insert("runningCount".into(), json!(r));
                    m.insert("pendingCount".into(), json!(p));
                }
                dv
            })
            .collect();
        if let Value::Object(m) = &mut v {
            m.insert("deployments".into(), json!(deployments));
            m.insert("runningCount".into(), json!(running));
            m.insert("pendingCount".into(), json!(pending));
            m.insert("serviceRegistries".into(), json!([]));
            if !with_tags {
                m.remove("tags");
            }
        }
        v
    }

    /// CreateService.
    pub fn create_service(
        &mut self,
        req: CreateServiceRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let name = req.service_name.clone();
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                "Service name can only contain alphanumeric characters, hyphens, and underscores, and must be 1-255 characters long.",
            ));
        }
        if req
            .capacity_provider_strategy
            .as_ref()
            .is_some_and(|c| !c.is_empty())
        {
            return Err(ApiError::invalid(
                "Capacity providers are not supported by this emulator; use launchType EC2 or EXTERNAL.",
            ));
        }
        if req.service_connect_configuration.is_some() {
            return Err(ApiError::invalid(
                "Service Connect is not supported by this emulator.",
            ));
        }
        if let Some(c) = &req.deployment_controller
            && c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "ECS")
        {
            return Err(ApiError::invalid(
                "Only the ECS deployment controller is supported by this emulator.",
            ));
        }
        let launch_type = req.launch_type.clone().unwrap_or_else(|| "EC2".into());
        if !matches!(launch_type.as_str(), "EC2" | "EXTERNAL") {
            return Err(ApiError::invalid(format!(
                "Launch type {launch_type} is not supported by this control plane; use EC2 or EXTERNAL."
            )));
        }
        let strategy = req
            .scheduling_strategy
            .clone()
            .unwrap_or_else(|| "REPLICA".into());
        let daemon = match strategy.as_str() {
            "REPLICA" => false,
            "DAEMON" => true,
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid schedulingStrategy: {other}"
                )));
            }
        };
        let desired = match (daemon, req.desired_count) {
            (false, None) => {
                return Err(ApiError::invalid(
                    "desiredCount is required when schedulingStrategy is REPLICA.",
                ));
            }
            (true, Some(_)) => {
                return Err(ApiError::invalid(
                    "The daemon scheduling strategy does not support a desired count for services.",
                ));
            }
            (_, Some(n)) if n < 0 => {
                return Err(ApiError::invalid("desiredCount must be 0 or more."));
            }
            (_, n) => u32::try_from(n.unwrap_or(0)).unwrap_or(0),
        };
        let td_ref = req
            .task_definition
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::invalid("TaskDefinition can not be blank."))?;
        let (family, revision) = self
            .resolve_task_def(td_ref)
            .map_err(|_| ApiError::invalid("TaskDefinition not found."))?;
        let task_definition = self
            .account
            .arn(&format!("task-definition/{family}:{revision}"));
        let given = req.deployment_configuration.clone().unwrap_or_default();
        let deployment_configuration = DeploymentConfiguration {
            maximum_percent: given
                .maximum_percent
                .unwrap_or(if daemon { 100 } else { 200 }),
            minimum_healthy_percent: given.minimum_healthy_percent.unwrap_or(if daemon {
                0
            } else {
                100
            }),
            deployment_circuit_breaker: given
                .deployment_circuit_breaker
                .or_else(|| Some(json!({"enable": false, "rollback": false}))),
        };
        check_deployment_configuration(&deployment_configuration)?;
        check_constraints(&req.placement_constraints)?;
        service_strategies(&req.placement_strategy)?;
        let lbs = parse_load_balancers(&req.load_balancers)?;
        if let Some(td) = self.task_def(&family, revision) {
            check_against_task_definition(&lbs, td)?;
        }
        check_grace_period(req.health_check_grace_period_seconds, !lbs.is_empty())?;
        let arn = self.service_arn(&cluster, &name);
        if let Some(existing) = self.services.get(&arn).filter(|s| s.status != "INACTIVE") {
            let same_token =
                req.client_token.is_some() && req.client_token == existing.client_token;
            if same_token && existing.status == "ACTIVE" {
                return Ok(json!({ "service": self.service_view(existing, true) }));
            }
            return Err(ApiError::invalid("Creation of service was not idempotent."));
        }
        let svc = Service {
            service_arn: arn.clone(),
            service_name: name,
            cluster_arn: cluster.cluster_arn.clone(),
            status: "ACTIVE".into(),
            desired_count: desired,
            launch_type: launch_type.clone(),
            task_definition: task_definition.clone(),
            deployment_configuration,
            deployments: vec![new_deployment(&task_definition, desired, &launch_type, now)],
            events: Vec::new(),
            created_at: now,
            created_by: format!("arn:aws:iam::{}:root", self.account.account_id),
            placement_constraints: req.placement_constraints,
            placement_strategy: req.placement_strategy,
            load_balancers: req.load_balancers,
            health_check_grace_period_seconds: req.health_check_grace_period_seconds,
            scheduling_strategy: strategy,
            deployment_controller: json!({"type": "ECS"}),
            tags: req.tags,
            enable_ecs_managed_tags: req.enable_ecs_managed_tags.unwrap_or(false),
            propagate_tags: req.propagate_tags.unwrap_or_else(|| "NONE".into()),
            enable_execute_command: req.enable_execute_command.unwrap_or(false),
            cluster_name: cluster.cluster_name.clone(),
            client_token: req.client_token,
            task_arns: BTreeSet::new(),
            steady: false,
            placement_failure: None,
            inactive_at: None,
            draining: BTreeMap::new(),
            lb_targets: BTreeSet::new(),
        };
        let view = self.service_view(&svc, true);
        self.services.insert(arn.clone(), svc);
        self.touch(Key::Service(arn));
        Ok(json!({ "service": view }))
    }

    /// DescribeServices.
    pub fn describe_services(&mut self, req: DescribeServicesRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if req.services.is_empty() {
            return Err(ApiError::invalid("Services cannot be empty."));
        }
        if req.services.len() > 10 {
            return Err(ApiError::invalid(
                "Services cannot have more than 10 entries.",
            ));
        }
        let with_tags = req.include.iter().any(|i| i == "TAGS");
        let mut services = Vec::new();
        let mut failures = Vec::new();
        for r in &req.services {
            match self
                .find_service(&cluster, r)
                .and_then(|a| self.services.get(&a))
            {
                Some(s) => services.push(self.service_view(s, with_tags)),
                None => failures.push(json!({
                    "arn": if r.starts_with("arn:") { r.clone() } else { self.service_arn(&cluster, r) },
                    "reason": "MISSING",
                })),
            }
        }
        Ok(json!({ "services": services, "failures": failures }))
    }

    /// ListServices (ACTIVE services only, as ECS lists them; 10 per page unless told).
    pub fn list_services(&mut self, req: ListServicesRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let arns: Vec<String> = self
            .services
            .values()
            .filter(|s| s.cluster_arn == cluster.cluster_arn && s.status == "ACTIVE")
            .filter(|s| req.launch_type.as_ref().is_none_or(|l| &s.launch_type == l))
            .filter(|s| {
                req.scheduling_strategy
                    .as_ref()
                    .is_none_or(|l| &s.scheduling_strategy == l)
            })
            .map(|s| s.service_arn.clone())
            .collect();
        let (page, next) = paginate(
            &arns,
            req.next_token.as_deref(),
            Some(req.max_results.unwrap_or(10)),
        )?;
        Ok(with_next(json!({ "serviceArns": page }), next))
    }

    /// UpdateService.
    pub fn update_service(
        &mut self,
        req: UpdateServiceRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let arn = self
            .find_service(&cluster, &req.service)
            .ok_or_else(service_not_found)?;
        let new_task_definition = match req.task_definition.as_deref() {
            Some(r) => {
                let (family, revision) = self
                    .resolve_task_def(r)
                    .map_err(|_| ApiError::invalid("TaskDefinition not found."))?;
                Some(
                    self.account
                        .arn(&format!("task-definition/{family}:{revision}")),
                )
            }
            None => None,
        };
        check_constraints(req.placement_constraints.as_deref().unwrap_or_default())?;
        service_strategies(req.placement_strategy.as_deref().unwrap_or_default())?;
        let Some(current) = self.services.get(&arn) else {
            return Err(service_not_found());
        };
        let lbs = match &req.load_balancers {
            Some(given) => parse_load_balancers(given)?,
            None => service_lbs(current),
        };
        let td_arn = new_task_definition
            .clone()
            .unwrap_or_else(|| current.task_definition.clone());
        if let Ok((family, revision)) = self.resolve_task_def(&td_arn)
            && let Some(td) = self.task_def(&family, revision)
        {
            check_against_task_definition(&lbs, td)?;
        }
        let grace = req
            .health_check_grace_period_seconds
            .or(current.health_check_grace_period_seconds);
        check_grace_period(grace, !lbs.is_empty())?;
        let Some(svc) = self.services.get_mut(&arn) else {
            return Err(service_not_found());
        };
        if svc.status != "ACTIVE" {
            return Err(ApiError::new(
                ErrorCode::ServiceNotActiveException,
                "Service was not ACTIVE.",
            ));
        }
        let daemon = svc.scheduling_strategy == "DAEMON";
        if let Some(n) = req.desired_count {
            if daemon {
                return Err(ApiError::invalid(
                    "The daemon scheduling strategy does not support a desired count for services.",
                ));
            }
            let n = u32::try_from(n)
                .map_err(|_| ApiError::invalid("desiredCount must be 0 or more."))?;
            if n != svc.desired_count {
                svc.desired_count = n;
                svc.steady = false;
            }
        }
        if let Some(c) = &req.deployment_configuration {
            let mut merged = svc.deployment_configuration.clone();
            if let Some(v) = c.maximum_percent {
                merged.maximum_percent = v;
            }
            if let Some(v) = c.minimum_healthy_percent {
                merged.minimum_healthy_percent = v;
            }
            if c.deployment_circuit_breaker.is_some() {
                merged
                    .deployment_circuit_breaker
                    .clone_from(&c.deployment_circuit_breaker);
            }
            check_deployment_configuration(&merged)?;
            svc.deployment_configuration = merged;
        }
        if let Some(c) = req.placement_constraints {
            svc.placement_constraints = c;
        }
        if let Some(s) = req.placement_strategy {
            svc.placement_strategy = s;
        }
        if let Some(lb) = req.load_balancers {
            svc.load_balancers = lb;
        }
        svc.health_check_grace_period_seconds = grace;
        if let Some(p) = req.propagate_tags {
            svc.propagate_tags = p;
        }
        if let Some(e) = req.enable_ecs_managed_tags {
            svc.enable_ecs_managed_tags = e;
        }
        if let Some(e) = req.enable_execute_command {
            svc.enable_execute_command = e;
        }
        let task_definition = new_task_definition.unwrap_or_else(|| svc.task_definition.clone());
        if task_definition != svc.task_definition || req.force_new_deployment.unwrap_or(false) {
            for d in &mut svc.deployments {
                if d.status == "PRIMARY" {
                    d.status = "ACTIVE".into();
                    d.updated_at = now;
                }
            }
            let d = new_deployment(&task_definition, svc.desired_count, &svc.launch_type, now);
            svc.deployments.insert(0, d);
            svc.task_definition = task_definition;
            svc.steady = false;
            svc.placement_failure = None;
        } else if let Some(primary) = svc.deployments.first_mut()
            && primary.desired_count != svc.desired_count
        {
            primary.desired_count = svc.desired_count;
            primary.updated_at = now;
        }
        let svc = svc.clone();
        self.touch(Key::Service(arn));
        Ok(json!({ "service": self.service_view(&svc, true) }))
    }

    /// DeleteService: DRAINING now, INACTIVE once the scheduler has told every task to stop.
    pub fn delete_service(&mut self, req: DeleteServiceRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let arn = self
            .find_service(&cluster, &req.service)
            .ok_or_else(service_not_found)?;
        let Some(svc) = self.services.get_mut(&arn) else {
            return Err(service_not_found());
        };
        match svc.status.as_str() {
            "INACTIVE" => return Err(service_not_found()),
            "DRAINING" => {}
            _ => {
                if svc.scheduling_strategy == "REPLICA"
                    && svc.desired_count > 0
                    && !req.force.unwrap_or(false)
                {
                    return Err(ApiError::invalid(
                        "The service cannot be stopped while it is scaled above 0.",
                    ));
                }
                svc.status = "DRAINING".into();
                svc.desired_count = 0;
                svc.steady = false;
                for d in &mut svc.deployments {
                    d.desired_count = 0;
                }
            }
        }
        let svc = svc.clone();
        self.touch(Key::Service(arn));
        Ok(json!({ "service": self.service_view(&svc, true) }))
    }

    /// Runs the scheduler over every service that is not INACTIVE; purges INACTIVE services past
    /// their retention. Touches (and so persists) only the services it changed.
    pub fn schedule_services(&mut self, now: f64) {
        let arns: Vec<String> = self.services.keys().cloned().collect();
        for arn in arns {
            let purge = self.services.get(&arn).is_some_and(|s| {
                s.status == "INACTIVE"
                    && s.inactive_at
                        .is_some_and(|t| now - t > INACTIVE_RETENTION_SECS)
            });
            if purge {
                self.services.remove(&arn);
                self.touch(Key::Service(arn));
            } else {
                self.schedule_service(&arn, now);
            }
        }
    }

    /// Instances a DAEMON service places on: ACTIVE, agent connected, in the service's cluster.
    fn daemon_instances(&self, cluster_name: &str) -> Vec<String> {
        self.daemon_hosts(cluster_name)
            .into_iter()
            .filter(|arn| self.connections.get(arn).copied().unwrap_or(0) > 0)
            .collect()
    }

    /// Instances a DAEMON service keeps its tasks on: ACTIVE in the service's cluster, agent
    /// connected or not.
    fn daemon_hosts(&self, cluster_name: &str) -> Vec<String> {
        self.instances
            .values()
            .filter(|i| i.cluster_name == cluster_name && i.status == "ACTIVE")
            .map(|i| i.container_instance_arn.clone())
            .collect()
    }

    fn schedule_service(&mut self, arn: &str, now: f64) {
        let Some(mut svc) = self.services.get(arn).cloned() else {
            return;
        };
        if svc.status == "INACTIVE" {
            return;
        }
        let before = serde_json::to_vec(&svc).unwrap_or_default();
        self.observe_tasks(&mut svc);
        self.end_draining(&mut svc, now);
        self.replace_failed_targets(&mut svc, now);
        let Some(primary) = svc.deployments.first().map(|d| d.id.clone()) else {
            return;
        };
        let facts = self.service_task_facts(&svc);
        let daemon = svc.scheduling_strategy == "DAEMON";
        let plan = if svc.status == "DRAINING" {
            plan_replica(0, 0, 100, &primary, &facts)
        } else if daemon {
            let eligible = self.daemon_instances(&svc.cluster_name);
            let hosts = self.daemon_hosts(&svc.cluster_name);
            let plan = plan_daemon(&eligible, &hosts, &primary, &facts);
            // One task for each instance it can start on, and for each disconnected one that
            // keeps its task.
            let kept = facts
                .iter()
                .filter(|t| !t.stopping && !plan.stop.contains(&t.arn))
                .map(|t| t.instance.as_str());
            let wanted: BTreeSet<&str> = eligible.iter().map(String::as_str).chain(kept).collect();
            svc.desired_count = u32::try_from(wanted.len()).unwrap_or(u32::MAX);
            plan
        } else {
            let c = &svc.deployment_configuration;
            plan_replica(
                svc.desired_count as usize,
                c.minimum_healthy_percent,
                c.maximum_percent,
                &primary,
                &facts,
            )
        };
        if !plan.stop.is_empty() {
            let reason = format!("Scaling activity initiated by (deployment {primary})");
            let stopped: Vec<String> = plan
                .stop
                .iter()
                .filter(|t| self.stop_service_task(&mut svc, t, &reason, now))
                .cloned()
                .collect();
            push_stopped_event(&mut svc, &stopped, now);
        }
        if plan.start > 0 || !plan.start_on.is_empty() {
            self.start_service_tasks(&mut svc, &primary, &plan, now);
        }
        self.settle(&mut svc, now);
        if serde_json::to_vec(&svc).unwrap_or_default() != before {
            self.services.insert(arn.to_string(), svc);
            self.touch(Key::Service(arn.to_string()));
        }
    }

    /// Stops a task of `svc`: at once, or, when its targets are registered in the service's
    /// target groups, once they are deregistered and the deregistration delay has passed (the
    /// load balancing round deregisters tasks that are draining).
    /// Returns whether it was told to stop now.
    fn stop_service_task(&mut self, svc: &mut Service, task: &str, reason: &str, now: f64) -> bool {
        let registered = svc.lb_targets.iter().any(|t| t.task_arn == task);
        if !registered {
            self.request_stop(task, SCHEDULER_STOP, reason, now);
            return true;
        }
        if svc.draining.contains_key(task) {
            return false;
        }
        let delay = self.lb.delay(&service_lbs(svc));
        svc.draining.insert(
            task.to_string(),
            Draining {
                stop_at: now + delay,
                reason: reason.to_string(),
                stop_code: SCHEDULER_STOP,
            },
        );
        let message = format!(
            "(service {}) has begun draining connections on 1 tasks.",
            svc.service_name
        );
        push_event(svc, message, now);
        false
    }

    /// Tells the tasks whose deregistration delay has passed to stop; forgets drained tasks
    /// that stopped on their own.
    fn end_draining(&mut self, svc: &mut Service, now: f64) {
        let entries: Vec<(String, Draining)> = svc
            .draining
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut stopped: Vec<String> = Vec::new();
        for (task, d) in entries {
            let live = self
                .tasks
                .get(&task)
                .is_some_and(|t| t.last_status != BackendStatus::Stopped);
            if !live {
                svc.draining.remove(&task);
            } else if now >= d.stop_at {
                self.request_stop(&task, d.stop_code, &d.reason, now);
                svc.draining.remove(&task);
                stopped.push(task);
            }
        }
        push_stopped_event(svc, &stopped, now);
    }

    /// Replaces the RUNNING tasks whose targets failed ELB health checks, once the service's
    /// health check grace period after their start has passed.
    fn replace_failed_targets(&mut self, svc: &mut Service, now: f64) {
        if svc.status != "ACTIVE" {
            return;
        }
        let lbs = service_lbs(svc);
        if lbs.is_empty() {
            return;
        }
        let grace = svc.health_check_grace_period_seconds.unwrap_or(0) as f64;
        let failed: Vec<(String, String)> = svc
            .task_arns
            .iter()
            .filter(|a| !svc.draining.contains_key(*a))
            .filter_map(|a| self.tasks.get(a))
            .filter(|t| {
                t.last_status == BackendStatus::Running
                    && t.desired_status == BackendStatus::Running
                    && t.started_at.is_some_and(|s| now - s >= grace)
            })
            .filter_map(|t| {
                self.lb
                    .failed_in(&t.task_arn, &lbs)
                    .map(|g| (t.task_arn.clone(), g.to_string()))
            })
            .collect();
        for (task, group) in failed {
            let message = format!(
                "(service {}) (task {}) failed ELB health checks in (target-group {group})",
                svc.service_name,
                task_id(&task)
            );
            push_event(svc, message, now);
            let reason = format!("Task failed ELB health checks in (target-group {group})");
            if self.stop_service_task(svc, &task, &reason, now) {
                push_stopped_event(svc, std::slice::from_ref(&task), now);
            }
        }
    }

    /// Forgets tasks seen STOPPED, counting the failures of deployments that never ran a task.
    fn observe_tasks(&self, svc: &mut Service) {
        let known: Vec<String> = svc.task_arns.iter().cloned().collect();
        for arn in known {
            let Some(t) = self.tasks.get(&arn) else {
                svc.task_arns.remove(&arn);
                continue;
            };
            let deployment = t.started_by.as_deref().unwrap_or_default();
            let Some(d) = svc.deployments.iter_mut().find(|d| d.id == deployment) else {
                if t.last_status == BackendStatus::Stopped {
                    svc.task_arns.remove(&arn);
                }
                continue;
            };
            if t.last_status == BackendStatus::Running && !d.ever_running {
                d.ever_running = true;
                d.failed_tasks = 0;
            }
            if t.last_status == BackendStatus::Stopped {
                svc.task_arns.remove(&arn);
                let by_scheduler = t.stop_code == Some(SCHEDULER_STOP);
                if !d.ever_running && t.started_at.is_none() && !by_scheduler {
                    d.failed_tasks += 1;
                }
            }
        }
    }

    /// Places the plan's new tasks for the PRIMARY deployment and records what happened.
    fn start_service_tasks(&mut self, svc: &mut Service, primary: &str, plan: &Plan, now: f64) {
        let Some(cluster) = self.clusters.get(&svc.cluster_name).cloned() else {
            return;
        };
        let Ok((family, revision)) = self.resolve_task_def(&svc.task_definition) else {
            return;
        };
        let tags = match svc.propagate_tags.as_str() {
            "SERVICE" => svc.tags.clone(),
            "TASK_DEFINITION" => self
                .task_def_tags
                .get(&svc.task_definition)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut tags = tags;
        if svc.enable_ecs_managed_tags {
            // ECS managed tags, as ECS adds them to a service's tasks.
            tags.push(Tag {
                key: "aws:ecs:clusterName".into(),
                value: svc.cluster_name.clone(),
            });
            tags.push(Tag {
                key: "aws:ecs:serviceName".into(),
                value: svc.service_name.clone(),
            });
        }
        // Checked when the service was created or updated.
        let strategies = service_strategies(&svc.placement_strategy)
            .unwrap_or_else(|_| Strategy::service_default());
        let spec = |count: usize| TaskSpec {
            family: family.clone(),
            revision,
            count,
            overrides: json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []}),
            started_by: Some(primary.to_string()),
            group: Some(format!("service:{}", svc.service_name)),
            launch_type: svc.launch_type.clone(),
            tags: tags.clone(),
            placement_constraints: svc.placement_constraints.clone(),
            placement_strategy: strategies.clone(),
        };
        let mut started: Vec<String> = Vec::new();
        let mut failure: Option<String> = None;
        let mut attempts: Vec<(TaskSpec, Option<Vec<String>>)> = Vec::new();
        if plan.start > 0 {
            attempts.push((spec(plan.start), None));
        }
        for instance in &plan.start_on {
            attempts.push((spec(1), Some(vec![instance.clone()])));
        }
        for (spec, on) in attempts {
            let wanted = spec.count;
            match self.place_tasks(&cluster, &spec, on, now) {
                Ok((tasks, failures)) => {
                    for t in &tasks {
                        if let Some(a) = t.get("taskArn").and_then(Value::as_str) {
                            started.push(a.to_string());
                        }
                    }
                    if tasks.len() < wanted {
                        let first = failures.first().map(|f| {
                            (
                                f.get("arn").and_then(Value::as_str).unwrap_or_default(),
                                f.get("reason").and_then(Value::as_str).unwrap_or_default(),
                            )
                        });
                        failure = Some(placement_failure_message(&svc.service_name, first, None));
                    }
                }
                Err(e) => {
                    failure = Some(placement_failure_message(
                        &svc.service_name,
                        None,
                        Some(&e.message),
                    ));
                }
            }
        }
        if !started.is_empty() {
            svc.task_arns.extend(started.iter().cloned());
            let ids: Vec<String> = started
                .iter()
                .map(|a| format!("(task {})", task_id(a)))
                .collect();
            let message = format!(
                "(service {}) has started {} tasks: {}.",
                svc.service_name,
                ids.len(),
                ids.join(" ")
            );
            push_event(svc, message, now);
        }
        match failure {
            Some(message) if svc.placement_failure.as_ref() != Some(&message) => {
                svc.placement_failure = Some(message.clone());
                push_event(svc, message, now);
            }
            Some(_) => {}
            None => svc.placement_failure = None,
        }
    }

    /// Drops drained deployments, completes the rollout and records the steady state; a DRAINING
    /// service whose tasks were all told to stop becomes INACTIVE.
    fn settle(&self, svc: &mut Service, now: f64) {
        let facts = self.service_task_facts(svc);
        let primary = svc
            .deployments
            .first()
            .map(|d| d.id.clone())
            .unwrap_or_default();
        svc.deployments
            .retain(|d| d.id == primary || facts.iter().any(|t| t.deployment == d.id));
        for d in svc.deployments.iter_mut().skip(1) {
            let live = facts
                .iter()
                .filter(|t| t.deployment == d.id && !t.stopping)
                .count();
            d.desired_count = u32::try_from(live).unwrap_or(u32::MAX);
        }
        if let Some(d) = svc.deployments.first_mut()
            && d.desired_count != svc.desired_count
        {
            d.desired_count = svc.desired_count;
            d.updated_at = now;
        }
        if svc.status == "DRAINING" {
            if facts.iter().all(|t| t.stopping) && svc.draining.is_empty() {
                svc.status = "INACTIVE".into();
                svc.inactive_at = Some(now);
            }
            return;
        }
        // Behind load balancers a task counts once its targets are healthy.
        let running = facts
            .iter()
            .filter(|t| t.deployment == primary && t.healthy && !t.stopping)
            .count();
        let steady = svc.deployments.len() == 1
            && facts.len() == running
            && running == svc.desired_count as usize;
        if !steady {
            svc.steady = false;
            return;
        }
        let name = svc.service_name.clone();
        if let Some(d) = svc.deployments.first_mut()
            && d.rollout_state == "IN_PROGRESS"
        {
            d.rollout_state = "COMPLETED".into();
            d.rollout_state_reason = format!("ECS deployment {} completed.", d.id);
            d.updated_at = now;
            let message = format!(
                "(service {name}) (deployment {}) deployment completed.",
                d.id
            );
            push_event(svc, message, now);
        }
        if !svc.steady {
            svc.steady = true;
            push_event(
                svc,
                format!("(service {name}) has reached a steady state."),
                now,
            );
        }
    }
}

// ---- request shapes (members as botocore's ECS model names them) ----

/// `deploymentConfiguration` as a request gives it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigurationInput {
    /// Percent.
    pub maximum_percent: Option<u32>,
    /// Percent.
    pub minimum_healthy_percent: Option<u32>,
    /// Stored and shown.
    pub deployment_circuit_breaker: Option<Value>,
}

/// CreateService input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateServiceRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Name.
    pub service_name: String,
    /// Task definition.
    pub task_definition: Option<String>,
    /// Tasks to keep (REPLICA).
    pub desired_count: Option<i64>,
    /// Idempotency token.
    pub client_token: Option<String>,
    /// EC2 / EXTERNAL.
    pub launch_type: Option<String>,
    /// Refused when not empty.
    pub capacity_provider_strategy: Option<Vec<Value>>,
    /// Rolling update limits.
    pub deployment_configuration: Option<DeploymentConfigurationInput>,
    /// memberOf / distinctInstance.
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    /// Stored.
    #[serde(default)]
    pub placement_strategy: Vec<Value>,
    /// Target groups the tasks are registered in (see `load_balancing`).
    #[serde(default)]
    pub load_balancers: Vec<Value>,
    /// Seconds after a task starts during which failed ELB health checks are ignored.
    pub health_check_grace_period_seconds: Option<i64>,
    /// REPLICA / DAEMON.
    pub scheduling_strategy: Option<String>,
    /// `{type: ECS}` only.
    pub deployment_controller: Option<Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Stored.
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    /// Stored; SERVICE or TASK_DEFINITION tags go to the tasks.
    pub propagate_tags: Option<String>,
    /// Stored.
    pub enable_execute_command: Option<bool>,
    /// Refused.
    pub service_connect_configuration: Option<Value>,
}

/// DescribeServices input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServicesRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Names or ARNs.
    #[serde(default)]
    pub services: Vec<String>,
    /// `TAGS`.
    #[serde(default)]
    pub include: Vec<String>,
}

/// ListServices input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServicesRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// 1..100, default 10.
    pub max_results: Option<i64>,
    /// Filter.
    pub launch_type: Option<String>,
    /// Filter.
    pub scheduling_strategy: Option<String>,
}

/// UpdateService input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateServiceRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Name or ARN.
    pub service: String,
    /// New desired count.
    pub desired_count: Option<i64>,
    /// New task definition: a new deployment.
    pub task_definition: Option<String>,
    /// Merged into the current one.
    pub deployment_configuration: Option<DeploymentConfigurationInput>,
    /// Replaces the current ones.
    pub placement_constraints: Option<Vec<Value>>,
    /// Replaces the current ones.
    pub placement_strategy: Option<Vec<Value>>,
    /// A new deployment even with the same task definition.
    pub force_new_deployment: Option<bool>,
    /// Replaces the current ones.
    pub load_balancers: Option<Vec<Value>>,
    /// Replaces the current one.
    pub health_check_grace_period_seconds: Option<i64>,
    /// Stored.
    pub propagate_tags: Option<String>,
    /// Stored.
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    /// Stored.
    pub enable_execute_command: Option<bool>,
}

/// DeleteService input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteServiceRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Name or ARN.
    pub service: String,
    /// Delete even when scaled above 0.
    pub force: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registration of an external instance with `memory` MiB in the default cluster.
    fn registration(memory: i64) -> Value {
        json!({
            "cluster": "default",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": []},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
            ],
            "attributes": [{"name": "ecs.capability.external"}],
            "instanceIdentityDocument": ""
        })
    }

    /// Creates the service `web` of `desired` tasks at t=2 and runs the scheduler once.
    fn create_web(s: &mut State, desired: u32) {
        s.create_service(
            serde_json::from_value(json!({
                "serviceName": "web", "taskDefinition": "web", "desiredCount": desired}))
            .unwrap(),
            2.0,
        )
        .unwrap();
        s.schedule_services(2.0);
    }

    /// Creates the DAEMON service `agentd` at t=2 and runs the scheduler once.
    fn create_daemon(s: &mut State) {
        s.create_service(
            serde_json::from_value(json!({
                "serviceName": "agentd", "taskDefinition": "web",
                "schedulingStrategy": "DAEMON"}))
            .unwrap(),
            2.0,
        )
        .unwrap();
        s.schedule_services(2.0);
    }

    fn state_with_instance(memory: i64) -> (State, String) {
        let mut s = State::for_tests();
        let arn = s.connected_instance_for_tests(registration(memory));
        s.register_task_definition(
            json!({"family": "web", "containerDefinitions": [
                {"name": "web", "image": "web:1", "memory": 128}]}),
            1.0,
        )
        .unwrap();
        (s, arn)
    }

    fn report(s: &mut State, task: &str, status: &str, now: f64) {
        s.submit_task_state_change(
            serde_json::from_value(json!({"task": task, "status": status})).unwrap(),
            now,
        )
        .unwrap();
        s.schedule_services(now);
    }

    fn service(s: &State) -> &Service {
        s.services.values().next().unwrap()
    }

    #[test]
    fn the_scheduler_places_replaces_and_drains() {
        let (mut s, _) = state_with_instance(1024);
        let out = s
            .create_service(
                serde_json::from_value(json!({
                    "serviceName": "web", "taskDefinition": "web", "desiredCount": 2}))
                .unwrap(),
                2.0,
            )
            .unwrap();
        assert_eq!(out["service"]["status"], "ACTIVE");
        assert_eq!(out["service"]["runningCount"], 0);
        s.schedule_services(2.0);
        let tasks: Vec<String> = service(&s).task_arns.iter().cloned().collect();
        assert_eq!(tasks.len(), 2);
        let primary = service(&s).deployments[0].id.clone();
        for t in &tasks {
            let task = &s.tasks[t];
            assert_eq!(task.started_by.as_deref(), Some(primary.as_str()));
            assert_eq!(task.group, "service:web");
            report(&mut s, t, "RUNNING", 3.0);
        }
        let svc = service(&s);
        assert!(svc.steady);
        assert_eq!(svc.deployments[0].rollout_state, "COMPLETED");
        assert_eq!(
            svc.events[0].message,
            "(service web) has reached a steady state."
        );
        assert!(
            svc.events[2]
                .message
                .starts_with("(service web) has started 2 tasks: (task ")
        );

        // An essential container exits: the task is replaced.
        report(&mut s, &tasks[0], "STOPPED", 4.0);
        let svc = service(&s);
        assert!(!svc.task_arns.contains(&tasks[0]));
        assert_eq!(svc.task_arns.len(), 2);
        assert!(!svc.steady);

        // Delete: refused while scaled above 0, then DRAINING and INACTIVE once all are stopping.
        let del = |force: bool| -> DeleteServiceRequest {
            serde_json::from_value(json!({"service": "web", "force": force})).unwrap()
        };
        let e = s.delete_service(del(false)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterException);
        assert_eq!(
            e.message,
            "The service cannot be stopped while it is scaled above 0."
        );
        let out = s.delete_service(del(true)).unwrap();
        assert_eq!(out["service"]["status"], "DRAINING");
        s.schedule_services(5.0);
        assert_eq!(service(&s).status, "INACTIVE");
        assert!(
            s.tasks
                .values()
                .all(|t| t.desired_status == BackendStatus::Stopped)
        );
        let e = s.delete_service(del(true)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ServiceNotFoundException);
        s.schedule_services(5.0 + INACTIVE_RETENTION_SECS + 1.0);
        assert!(s.services.is_empty());
    }

    #[test]
    fn a_terminated_host_stops_its_tasks_and_the_service_replaces_them() {
        use crate::ecs::instances::HostGone;
        let (mut s, first) = state_with_instance(1024);
        create_web(&mut s, 1);
        let task = service(&s).task_arns.first().unwrap().clone();
        assert_eq!(s.tasks[&task].container_instance_arn, first);
        report(&mut s, &task, "RUNNING", 3.0);
        let second = s.connected_instance_for_tests(registration(1024));
        let ec2_id = s.instances[&first].ec2_instance_id.clone();
        assert_eq!(s.host_gone(&ec2_id, HostGone::Terminated, false, 4.0), 1);
        let t = &s.tasks[&task];
        assert_eq!(t.last_status, BackendStatus::Stopped);
        assert_eq!(t.stop_code, Some(StopCode::TerminationNotice));
        assert_eq!(
            t.stopped_reason.as_deref(),
            Some(format!("Host EC2 (instance {ec2_id}) terminated.").as_str())
        );
        assert_eq!(s.instances[&first].status, "INACTIVE");
        // Dealt with once.
        assert_eq!(s.host_gone(&ec2_id, HostGone::Terminated, false, 5.0), 0);
        s.schedule_services(5.0);
        let replacement = service(&s)
            .task_arns
            .iter()
            .find(|a| **a != task)
            .unwrap()
            .clone();
        assert_eq!(s.tasks[&replacement].container_instance_arn, second);
        // A spot interruption that stopped the second host: SpotInterruption, "stopped.", and
        // the container instance stays (it may start again).
        let ec2_id = s.instances[&second].ec2_instance_id.clone();
        assert_eq!(s.host_gone(&ec2_id, HostGone::Stopped, true, 6.0), 1);
        let t = &s.tasks[&replacement];
        assert_eq!(t.stop_code, Some(StopCode::SpotInterruption));
        assert_eq!(
            t.stopped_reason.as_deref(),
            Some(format!("Host EC2 (instance {ec2_id}) stopped.").as_str())
        );
        assert_eq!(s.instances[&second].status, "ACTIVE");
    }

    #[test]
    fn a_task_stopped_by_the_user_is_replaced_at_once() {
        let (mut s, _) = state_with_instance(1024);
        create_web(&mut s, 1);
        let first = service(&s).task_arns.iter().next().unwrap().clone();
        s.stop_task(serde_json::from_value(json!({"task": first})).unwrap(), 3.0)
            .unwrap();
        s.schedule_services(3.0);
        let svc = service(&s);
        assert_eq!(
            svc.task_arns.len(),
            2,
            "the stopping task and its replacement"
        );
        assert!(
            svc.events[0]
                .message
                .starts_with("(service web) has started 1 tasks")
        );
        assert_eq!(s.tasks[&first].stop_code, Some(StopCode::UserInitiated));
    }

    #[test]
    fn a_daemon_service_runs_one_task_per_connected_instance() {
        let (mut s, first) = state_with_instance(1024);
        create_daemon(&mut s);
        assert_eq!(service(&s).desired_count, 1);
        assert_eq!(service(&s).deployment_configuration.maximum_percent, 100);
        let tasks: Vec<String> = service(&s).task_arns.iter().cloned().collect();
        assert_eq!(tasks.len(), 1);
        assert_eq!(s.tasks[&tasks[0]].container_instance_arn, first);
        // Scheduling again changes nothing.
        s.schedule_services(3.0);
        assert_eq!(service(&s).task_arns.len(), 1);
        let e = s
            .create_service(
                serde_json::from_value(json!({
                    "serviceName": "other", "taskDefinition": "web",
                    "schedulingStrategy": "DAEMON", "desiredCount": 1}))
                .unwrap(),
                4.0,
            )
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterException);
    }

    #[test]
    fn a_daemon_task_outlives_its_agent_s_disconnection() {
        let (mut s, first) = state_with_instance(1024);
        create_daemon(&mut s);
        let tasks: Vec<String> = service(&s).task_arns.iter().cloned().collect();
        assert_eq!(tasks.len(), 1);
        // The agent restarts (or is cut off): ECS leaves its task alone and starts no other.
        s.agent_disconnected(&first);
        s.schedule_services(3.0);
        assert_eq!(s.tasks[&tasks[0]].desired_status, BackendStatus::Running);
        assert_eq!(service(&s).task_arns.len(), 1);
        assert_eq!(service(&s).desired_count, 1);
        s.agent_connected(&first, Default::default());
        s.schedule_services(4.0);
        assert_eq!(service(&s).task_arns.len(), 1);
        assert_eq!(s.tasks[&tasks[0]].desired_status, BackendStatus::Running);
    }

    #[test]
    fn force_new_deployment_replaces_the_primary() {
        let (mut s, _) = state_with_instance(1024);
        s.create_service(
            serde_json::from_value(json!({
                "serviceName": "web", "taskDefinition": "web", "desiredCount": 1}))
            .unwrap(),
            2.0,
        )
        .unwrap();
        let old = service(&s).deployments[0].id.clone();
        let out = s
            .update_service(
                serde_json::from_value(json!({"service": "web", "forceNewDeployment": true}))
                    .unwrap(),
                3.0,
            )
            .unwrap();
        let d = out["service"]["deployments"].as_array().unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0]["status"], "PRIMARY");
        assert_ne!(d[0]["id"], old.as_str());
        assert_eq!(
            (d[1]["status"].as_str(), d[1]["id"].as_str()),
            (Some("ACTIVE"), Some(old.as_str()))
        );
        // The old deployment had no task: it is gone after the next pass.
        s.schedule_services(3.0);
        assert_eq!(service(&s).deployments.len(), 1);
    }

    #[test]
    fn list_services_pages_by_ten_unless_told() {
        let (mut s, _) = state_with_instance(1024);
        for n in 0..12 {
            s.create_service(
                serde_json::from_value(json!({
                    "serviceName": format!("s{n:02}"), "taskDefinition": "web", "desiredCount": 0}))
                .unwrap(),
                2.0,
            )
            .unwrap();
        }
        let req = |v: Value| -> ListServicesRequest { serde_json::from_value(v).unwrap() };
        let page = s.list_services(req(json!({}))).unwrap();
        assert_eq!(page["serviceArns"].as_array().unwrap().len(), 10);
        let next = page["nextToken"].as_str().unwrap().to_string();
        let rest = s.list_services(req(json!({"nextToken": next}))).unwrap();
        assert_eq!(rest["serviceArns"].as_array().unwrap().len(), 2);
        assert!(rest.get("nextToken").is_none());
        let none = s
            .list_services(req(json!({"launchType": "EXTERNAL"})))
            .unwrap();
        assert_eq!(none["serviceArns"], json!([]));
    }

    #[test]
    fn a_placement_failure_is_recorded_once() {
        let (mut s, _) = state_with_instance(100);
        create_web(&mut s, 1);
        s.schedule_services(3.0);
        let svc = service(&s);
        assert_eq!(svc.events.len(), 1, "{:?}", svc.events);
        assert!(
            svc.events[0]
                .message
                .contains("has insufficient memory available."),
            "{}",
            svc.events[0].message
        );
    }

    #[test]
    fn creation_is_idempotent_only_with_the_same_client_token() {
        let (mut s, _) = state_with_instance(1024);
        let req = || -> CreateServiceRequest {
            serde_json::from_value(json!({
                "serviceName": "web", "taskDefinition": "web", "desiredCount": 0,
                "clientToken": "t1"}))
            .unwrap()
        };
        let a = s.create_service(req(), 2.0).unwrap();
        let b = s.create_service(req(), 3.0).unwrap();
        assert_eq!(a["service"]["serviceArn"], b["service"]["serviceArn"]);
        assert_eq!(
            a["service"]["serviceArn"],
            "arn:aws:ecs:us-east-1:123456789012:service/default/web"
        );
        let e = s
            .create_service(
                serde_json::from_value(json!({
                    "serviceName": "web", "taskDefinition": "web", "desiredCount": 0}))
                .unwrap(),
                4.0,
            )
            .unwrap_err();
        assert_eq!(e.message, "Creation of service was not idempotent.");
    }

    fn task(arn: &str, deployment: &str, running: bool, stopping: bool) -> TaskFacts {
        TaskFacts {
            arn: arn.into(),
            deployment: deployment.into(),
            instance: format!("i-{arn}"),
            running,
            stopping,
            healthy: running,
            on_draining: false,
        }
    }

    #[test]
    fn a_new_service_starts_its_desired_count() {
        let plan = plan_replica(2, 100, 200, "new", &[]);
        assert_eq!(plan.start, 2);
        assert!(plan.stop.is_empty());
    }

    #[test]
    fn a_stopped_task_is_replaced_and_nothing_more() {
        let tasks = [task("a", "p", true, false)];
        assert_eq!(plan_replica(2, 100, 200, "p", &tasks).start, 1);
        let tasks = [task("a", "p", true, false), task("b", "p", false, false)];
        assert_eq!(plan_replica(2, 100, 200, "p", &tasks), Plan::default());
    }

    #[test]
    fn scale_in_stops_pending_tasks_first() {
        let tasks = [
            task("a", "p", true, false),
            task("b", "p", false, false),
            task("c", "p", true, false),
        ];
        let plan = plan_replica(1, 100, 200, "p", &tasks);
        assert_eq!(plan.stop.len(), 2);
        assert!(plan.stop.contains(&"b".to_string()), "{plan:?}");
        assert_eq!(plan.start, 0);
    }

    #[test]
    fn rolling_update_at_50_100_goes_one_by_one() {
        // Two old tasks running: one may stop (50 % of 2 stays healthy), none may start yet.
        let tasks = [task("a", "old", true, false), task("b", "old", true, false)];
        let plan = plan_replica(2, 50, 100, "new", &tasks);
        assert_eq!(plan.stop, vec!["a".to_string()]);
        assert_eq!(plan.start, 0, "a stopping task still counts toward 100 %");
        // `a` is stopping: still nothing to start.
        let tasks = [task("a", "old", true, true), task("b", "old", true, false)];
        assert_eq!(plan_replica(2, 50, 100, "new", &tasks), Plan::default());
        // `a` is gone: one new task.
        let tasks = [task("b", "old", true, false)];
        let plan = plan_replica(2, 50, 100, "new", &tasks);
        assert_eq!((plan.start, plan.stop.len()), (1, 0));
        // The new task is pending: `b` must stay (it is the only healthy one).
        let tasks = [
            task("b", "old", true, false),
            task("c", "new", false, false),
        ];
        assert_eq!(plan_replica(2, 50, 100, "new", &tasks), Plan::default());
        // The new one runs: `b` may go; the last new one waits for it.
        let tasks = [task("b", "old", true, false), task("c", "new", true, false)];
        let plan = plan_replica(2, 50, 100, "new", &tasks);
        assert_eq!((plan.start, plan.stop.clone()), (0, vec!["b".to_string()]));
        let tasks = [task("c", "new", true, false)];
        assert_eq!(plan_replica(2, 50, 100, "new", &tasks).start, 1);
    }

    #[test]
    fn rolling_update_at_100_200_starts_first_and_stops_when_new_ones_run() {
        let tasks = [task("a", "old", true, false), task("b", "old", true, false)];
        let plan = plan_replica(2, 100, 200, "new", &tasks);
        assert_eq!((plan.start, plan.stop.len()), (2, 0));
        let tasks = [
            task("a", "old", true, false),
            task("b", "old", true, false),
            task("c", "new", true, false),
            task("d", "new", false, false),
        ];
        let plan = plan_replica(2, 100, 200, "new", &tasks);
        assert_eq!((plan.start, plan.stop.len()), (0, 1));
    }

    #[test]
    fn old_tasks_that_never_ran_are_stopped_at_once() {
        let tasks = [
            task("a", "old", false, false),
            task("b", "old", true, false),
        ];
        let plan = plan_replica(2, 100, 200, "new", &tasks);
        assert_eq!(plan.stop, vec!["a".to_string()]);
        assert_eq!(plan.start, 2);
    }

    #[test]
    fn tasks_on_a_draining_instance_are_replaced_within_the_percentages() {
        let mut a = task("a", "p", true, false);
        a.on_draining = true;
        let b = task("b", "p", true, false);
        // 100/200: the replacement starts first; nothing stops while it is not running.
        let plan = plan_replica(2, 100, 200, "p", &[a.clone(), b.clone()]);
        assert_eq!((plan.start, plan.stop.len()), (1, 0), "{plan:?}");
        let c = task("c", "p", false, false);
        let plan = plan_replica(2, 100, 200, "p", &[a.clone(), b.clone(), c]);
        assert_eq!(plan, Plan::default());
        let c = task("c", "p", true, false);
        let plan = plan_replica(2, 100, 200, "p", &[a.clone(), b.clone(), c]);
        assert_eq!((plan.start, plan.stop.clone()), (0, vec!["a".to_string()]));
        // 50/100: the draining task stops first, then its replacement starts.
        let plan = plan_replica(2, 50, 100, "p", &[a.clone(), b.clone()]);
        assert_eq!((plan.start, plan.stop.clone()), (0, vec!["a".to_string()]));
        // A pending task on a draining instance stops at once.
        let mut p = task("p", "p", false, false);
        p.on_draining = true;
        let plan = plan_replica(2, 100, 200, "p", &[p, b]);
        assert_eq!((plan.start, plan.stop.clone()), (1, vec!["p".to_string()]));
    }

    #[test]
    fn draining_stops_everything() {
        let tasks = [task("a", "p", true, false), task("b", "old", false, false)];
        let plan = plan_replica(0, 0, 100, "p", &tasks);
        assert_eq!(plan.stop.len(), 2);
        assert_eq!(plan.start, 0);
    }

    #[test]
    fn daemon_places_one_task_per_instance_and_replaces_old_ones_in_place() {
        let eligible = vec!["i1".to_string(), "i2".to_string(), "i3".to_string()];
        let mut t_old = task("a", "old", true, false);
        t_old.instance = "i1".into();
        let mut t_new = task("b", "p", true, false);
        t_new.instance = "i2".into();
        let mut t_gone = task("c", "p", true, false);
        t_gone.instance = "i9".into();
        let plan = plan_daemon(&eligible, &eligible, "p", &[t_old, t_new, t_gone]);
        assert_eq!(plan.stop, vec!["a".to_string(), "c".to_string()]);
        assert_eq!(plan.start_on, vec!["i3".to_string()]);
    }

    #[test]
    fn daemon_keeps_the_task_of_a_disconnected_instance_and_starts_nothing_there() {
        // i2's agent is disconnected (restarting, or cut off): still a host, no longer eligible.
        let eligible = vec!["i1".to_string()];
        let hosts = vec!["i1".to_string(), "i2".to_string(), "i3".to_string()];
        let mut t1 = task("a", "p", true, false);
        t1.instance = "i1".into();
        let mut t2 = task("b", "p", true, false);
        t2.instance = "i2".into();
        let mut t_gone = task("c", "p", true, false);
        t_gone.instance = "i9".into();
        let plan = plan_daemon(&eligible, &hosts, "p", &[t1, t2, t_gone]);
        assert_eq!(plan.stop, vec!["c".to_string()]);
        assert!(plan.start_on.is_empty(), "{plan:?}");
    }

    #[test]
    fn deployment_ids_look_like_ecs_ones() {
        let id = new_deployment_id();
        let digits = id.strip_prefix("ecs-svc/").unwrap();
        assert_eq!(digits.len(), 19, "{id}");
        assert!(digits.chars().all(|c| c.is_ascii_digit()), "{id}");
    }

    #[test]
    fn placement_failure_messages_follow_ecs() {
        assert_eq!(
            placement_failure_message(
                "web",
                None,
                Some("No Container Instances were found in your cluster.")
            ),
            "(service web) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster."
        );
        let m = placement_failure_message(
            "web",
            Some((
                "arn:aws:ecs:us-east-1:1:container-instance/c/abc",
                "RESOURCE:MEMORY",
            )),
            None,
        );
        assert!(
            m.contains(
                "The closest matching (container-instance abc) has insufficient memory available."
            ),
            "{m}"
        );
    }
}
