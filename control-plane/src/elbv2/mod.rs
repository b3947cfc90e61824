//! Elastic Load Balancing v2: the API (the AWS query protocol, a form body with `Action` and
//! `Version=2015-12-01`, SigV4 service `elasticloadbalancing`, XML answers in
//! `http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/`) and the data plane behind it.
//!
//! Served: load balancers (application, network) and their attributes, target groups and their
//! attributes, targets and their health, listeners, rules, tags ([`Op`] lists every operation).
//!
//! Who owns what:
//! - the configuration ([`state::State`]): its actor ([`Elbv2Handle`]), persisted as
//!   `elbv2/...` rows of the shared store before each answer;
//! - sockets, proxies and health checkers: the data plane ([`dataplane::DataPlane`]), a task the
//!   actor hands a copy of the configuration ([`plan::Desired`]) after each change and waits
//!   for. CreateListener and ModifyListener are undone when their socket cannot be bound
//!   (InvalidConfigurationRequest), so nothing is half-created;
//! - runtime target health: each checked target's slot ([`health::TargetSlot`]), written by its
//!   checker only, read by the proxies and by DescribeTargetHealth through
//!   [`health::HealthBoard`]. Not persisted: after a restart targets start `initial`.
//!
//! Traffic ([`proxy`], decisions in [`routing`]): HTTP listeners are HTTP/1.1 keep-alive
//! proxies (rules by priority, forward with weighted groups, fixed-response, redirect,
//! X-Forwarded-For/-Proto/-Port, round robin or least outstanding requests, fail open, 502,
//! 503, 504 past `idle_timeout.timeout_seconds`); TCP listeners forward byte streams. HTTPS,
//! TLS, UDP and TCP_UDP listeners are accepted by the API and carry nothing (no emulated ACM).
//!
//! Addresses ([`plan`]): each load balancer listens on its own loopback address `127.x.y.z`
//! (from its ARN), and HTTP listeners also on `127.0.0.1:<port>`, shared by every HTTP listener
//! of that port and told apart by the Host header: the DNS name, which ends in `.localhost`
//! (curl resolves it to loopback itself), so several load balancers listen on port 80 at once.
//! Ports below 1024 need root or `CAP_NET_BIND_SERVICE`; without them CreateListener answers
//! InvalidConfigurationRequest saying so (there is no port offset). Instance targets resolve
//! through the resolver `lib.rs` gives the data plane (127.0.0.1 for every instance today).
//!
//! Used by ECS services through [`Elbv2Handle::call`] with the public operations
//! (RegisterTargets, DeregisterTargets, DescribeTargetHealth, DescribeTargetGroups), whose
//! answers are the API's.

pub mod attributes;
pub mod dataplane;
pub mod error;
pub mod form;
pub mod health;
pub mod listeners;
pub mod load_balancers;
pub mod model;
pub mod plan;
pub mod proxy;
pub mod routing;
pub mod rules;
pub mod state;
pub mod tags;
pub mod target_groups;

use std::collections::BTreeMap;

use axum::response::Response;
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::front::render;
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, ErrorCode, Input, Output, Protocol, Refusal, RequestContext, Service, ServiceInfo,
};
use crate::store::Store;
use dataplane::DataPlane;
use form::decode;
use plan::Desired;
use state::State;

/// The XML namespace of every answer.
pub const XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
/// The API version requests carry.
pub const VERSION: &str = "2015-12-01";

/// One ELBv2 operation, parsed from its form.
#[derive(Debug)]
pub enum Op {
    /// CreateLoadBalancer.
    CreateLoadBalancer(load_balancers::CreateLoadBalancer),
    /// DescribeLoadBalancers.
    DescribeLoadBalancers(load_balancers::DescribeLoadBalancers),
    /// DeleteLoadBalancer.
    DeleteLoadBalancer(load_balancers::DeleteLoadBalancer),
    /// DescribeLoadBalancerAttributes.
    DescribeLoadBalancerAttributes(load_balancers::DescribeLoadBalancerAttributes),
    /// ModifyLoadBalancerAttributes.
    ModifyLoadBalancerAttributes(load_balancers::ModifyLoadBalancerAttributes),
    /// CreateTargetGroup.
    CreateTargetGroup(target_groups::CreateTargetGroup),
    /// DescribeTargetGroups.
    DescribeTargetGroups(target_groups::DescribeTargetGroups),
    /// ModifyTargetGroup.
    ModifyTargetGroup(target_groups::ModifyTargetGroup),
    /// DeleteTargetGroup.
    DeleteTargetGroup(target_groups::TargetGroupArn),
    /// DescribeTargetGroupAttributes.
    DescribeTargetGroupAttributes(target_groups::TargetGroupArn),
    /// ModifyTargetGroupAttributes.
    ModifyTargetGroupAttributes(target_groups::ModifyTargetGroupAttributes),
    /// RegisterTargets.
    RegisterTargets(target_groups::Targets),
    /// DeregisterTargets.
    DeregisterTargets(target_groups::Targets),
    /// DescribeTargetHealth.
    DescribeTargetHealth(target_groups::DescribeTargetHealth),
    /// CreateListener.
    CreateListener(listeners::CreateListener),
    /// DescribeListeners.
    DescribeListeners(listeners::DescribeListeners),
    /// ModifyListener.
    ModifyListener(listeners::ModifyListener),
    /// DeleteListener.
    DeleteListener(listeners::DeleteListener),
    /// CreateRule.
    CreateRule(rules::CreateRule),
    /// DescribeRules.
    DescribeRules(rules::DescribeRules),
    /// ModifyRule.
    ModifyRule(rules::ModifyRule),
    /// DeleteRule.
    DeleteRule(rules::DeleteRule),
    /// SetRulePriorities.
    SetRulePriorities(rules::SetRulePriorities),
    /// AddTags.
    AddTags(tags::AddTags),
    /// RemoveTags.
    RemoveTags(tags::RemoveTags),
    /// DescribeTags.
    DescribeTags(tags::DescribeTags),
}

impl Op {
    /// The operation named by the form's `Action`, its members decoded (pure).
    pub fn parse(params: &BTreeMap<String, String>) -> Result<(&str, Op), ApiError> {
        let action = params.get("Action").map(String::as_str).unwrap_or_default();
        if let Some(v) = params.get("Version")
            && v != VERSION
        {
            return Err(ApiError::new(
                ErrorCode::InvalidAction,
                format!("Could not find operation {action} for version {v}"),
            ));
        }
        let t = form::tree(params);
        let op = match action {
            "CreateLoadBalancer" => Op::CreateLoadBalancer(decode(t)?),
            "DescribeLoadBalancers" => Op::DescribeLoadBalancers(decode(t)?),
            "DeleteLoadBalancer" => Op::DeleteLoadBalancer(decode(t)?),
            "DescribeLoadBalancerAttributes" => Op::DescribeLoadBalancerAttributes(decode(t)?),
            "ModifyLoadBalancerAttributes" => Op::ModifyLoadBalancerAttributes(decode(t)?),
            "CreateTargetGroup" => Op::CreateTargetGroup(decode(t)?),
            "DescribeTargetGroups" => Op::DescribeTargetGroups(decode(t)?),
            "ModifyTargetGroup" => Op::ModifyTargetGroup(decode(t)?),
            "DeleteTargetGroup" => Op::DeleteTargetGroup(decode(t)?),
            "DescribeTargetGroupAttributes" => Op::DescribeTargetGroupAttributes(decode(t)?),
            "ModifyTargetGroupAttributes" => Op::ModifyTargetGroupAttributes(decode(t)?),
            "RegisterTargets" => Op::RegisterTargets(decode(t)?),
            "DeregisterTargets" => Op::DeregisterTargets(decode(t)?),
            "DescribeTargetHealth" => Op::DescribeTargetHealth(decode(t)?),
            "CreateListener" => Op::CreateListener(decode(t)?),
            "DescribeListeners" => Op::DescribeListeners(decode(t)?),
            "ModifyListener" => Op::ModifyListener(decode(t)?),
            "DeleteListener" => Op::DeleteListener(decode(t)?),
            "CreateRule" => Op::CreateRule(decode(t)?),
            "DescribeRules" => Op::DescribeRules(decode(t)?),
            "ModifyRule" => Op::ModifyRule(decode(t)?),
            "DeleteRule" => Op::DeleteRule(decode(t)?),
            "SetRulePriorities" => Op::SetRulePriorities(decode(t)?),
            "AddTags" => Op::AddTags(decode(t)?),
            "RemoveTags" => Op::RemoveTags(decode(t)?),
            "DescribeTags" => Op::DescribeTags(decode(t)?),
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidAction,
                    format!("Could not find operation {other} for version {VERSION}"),
                ));
            }
        };
        Ok((action, op))
    }
}

impl State {
    /// Runs one operation at `now`; its result's members (or `null` for an empty result).
    /// An operation that fails changes nothing.
    pub fn apply(&mut self, op: Op, now: f64) -> Result<Value, ApiError> {
        self.expire(now);
        match op {
            Op::CreateLoadBalancer(r) => self.create_load_balancer(r, now),
            Op::DescribeLoadBalancers(r) => self.describe_load_balancers(&r, now),
            Op::DeleteLoadBalancer(r) => self.delete_load_balancer(&r),
            Op::DescribeLoadBalancerAttributes(r) => self.describe_load_balancer_attributes(&r),
            Op::ModifyLoadBalancerAttributes(r) => self.modify_load_balancer_attributes(&r),
            Op::CreateTargetGroup(r) => self.create_target_group(r),
            Op::DescribeTargetGroups(r) => self.describe_target_groups(&r),
            Op::ModifyTargetGroup(r) => self.modify_target_group(&r),
            Op::DeleteTargetGroup(r) => self.delete_target_group(&r),
            Op::DescribeTargetGroupAttributes(r) => self.describe_target_group_attributes(&r),
            Op::ModifyTargetGroupAttributes(r) => self.modify_target_group_attributes(&r),
            Op::RegisterTargets(r) => self.register_targets(&r),
            Op::DeregisterTargets(r) => self.deregister_targets(&r, now),
            Op::DescribeTargetHealth(r) => self.describe_target_health(&r),
            Op::CreateListener(r) => self.create_listener(r),
            Op::DescribeListeners(r) => self.describe_listeners(&r),
            Op::ModifyListener(r) => self.modify_listener(r),
            Op::DeleteListener(r) => self.delete_listener(&r),
            Op::CreateRule(r) => self.create_rule(r),
            Op::DescribeRules(r) => self.describe_rules(&r),
            Op::ModifyRule(r) => self.modify_rule(r),
            Op::DeleteRule(r) => self.delete_rule(&r),
            Op::SetRulePriorities(r) => self.set_rule_priorities(&r),
            Op::AddTags(r) => self.add_tags(r),
            Op::RemoveTags(r) => self.remove_tags(r),
            Op::DescribeTags(r) => self.describe_tags(&r),
        }
    }
}

/// The answer document of `action` with `result`'s members.
pub fn response_xml(action: &str, result: &Value, request_id: &str) -> String {
    format!(
        r#"<{action}Response xmlns="{XMLNS}"><{action}Result>{}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>"#,
        form::xml(result),
        render::xml_escape(request_id)
    )
}

struct Job {
    op: Op,
    now: f64,
    reply: oneshot::Sender<Result<Value, ApiError>>,
}

/// The one owner of the ELBv2 state: an actor answering each operation once its changes are
/// durable.
#[derive(Debug, Clone)]
pub struct Elbv2Handle {
    jobs: mpsc::Sender<Job>,
}

impl Elbv2Handle {
    /// Starts the actor owning `state`, persisting into `store`, with no data plane (nothing
    /// carries traffic; targets stay `initial`).
    pub fn spawn(state: State, store: Store) -> Self {
        Self::spawn_with(state, store, None)
    }

    /// Starts the actor owning `state`, persisting into `store`; `data_plane` (started over
    /// `state.health`) carries the configuration: restored at once, then after each change.
    pub fn spawn_with(mut state: State, store: Store, data_plane: Option<DataPlane>) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(256);
        tokio::task::spawn_blocking(move || {
            if let Some(dp) = &data_plane {
                // Restored listeners come back on their addresses; one that cannot bind is
                // logged and tried again at the next change.
                let _ = dp.apply(Desired::of(&state), false);
            }
            while let Some(job) = rx.blocking_recv() {
                // CreateListener and ModifyListener bind sockets: when binding fails, the
                // operation is undone (`before`) and answers the error.
                let binds = matches!(job.op, Op::CreateListener(_) | Op::ModifyListener(_));
                let before = (binds && data_plane.is_some()).then(|| state.clone());
                let mut result = state.apply(job.op, job.now);
                let mut changes = state.take_changes();
                if !changes.is_empty()
                    && let Some(dp) = &data_plane
                    && let Err(e) = dp.apply(Desired::of(&state), binds)
                    && let Some(before) = before
                {
                    state = before;
                    changes.clear();
                    result = Err(e);
                }
                if !changes.is_empty()
                    && let Err(e) = store.apply(&changes)
                {
                    // Without durable state the emulator would lie to its callers: stop here.
                    tracing::error!(error = %e, "cannot persist ELBv2 state; stopping its actor");
                    return;
                }
                let _ = job.reply.send(result);
            }
        });
        Elbv2Handle { jobs }
    }

    /// Runs `op` at `now`.
    pub async fn call(&self, op: Op, now: f64) -> Result<Value, ApiError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || ApiError::server("the ELBv2 actor stopped");
        self.jobs
            .send(Job { op, now, reply })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The emulated ELBv2, as the front calls it.
#[derive(Debug, Clone)]
pub struct Elbv2(pub Elbv2Handle);

impl Service for Elbv2 {
    fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: "elbv2",
            signing_name: "elasticloadbalancing",
            protocol: Protocol::Query,
            flavor: Flavor::Standard,
            max_body: 1 << 20,
        }
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let Input::Query { params } = input else {
                return Err(ApiError::new(
                    ErrorCode::InvalidAction,
                    "Elastic Load Balancing speaks the query protocol.",
                ));
            };
            let (action, op) = Op::parse(&params)?;
            let action = action.to_string();
            tracing::debug!(operation = %action, "elbv2 request");
            let result = self.0.call(op, ctx.now).await?;
            Ok(Output::Xml(response_xml(&action, &result, &ctx.request_id)))
        })
    }

    fn refuse(&self, request_id: &str, _method: &http::Method, refusal: Refusal) -> Response {
        self.error(request_id, refusal.into_error())
    }

    fn error(&self, request_id: &str, e: ApiError) -> Response {
        let code = match e.code {
            // The query protocol's names for the authentication failures.
            ErrorCode::ExpiredTokenException => "ExpiredToken",
            ErrorCode::UnrecognizedClientException => "InvalidClientTokenId",
            ErrorCode::InvalidSignatureException => "SignatureDoesNotMatch",
            ErrorCode::MissingAuthenticationTokenException => "MissingAuthenticationToken",
            other => other.as_str(),
        };
        render::xml(
            e.code.status(),
            request_id,
            render::query_error_xml(Some(XMLNS), code, &e, request_id),
        )
    }
}

#[cfg(test)]
mod tests;
