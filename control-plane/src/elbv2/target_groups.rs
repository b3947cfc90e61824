//! Target groups and their targets: Create/Describe/Modify/DeleteTargetGroup, their attributes,
//! RegisterTargets, DeregisterTargets and DescribeTargetHealth.
//!
//! Health (DescribeTargetHealth):
//!
//! - a target draining after DeregisterTargets is `draining` (`Target.DeregistrationInProgress`)
//!   until the group's `deregistration_delay.timeout_seconds` is over, then it is gone (asked
//!   for by id it is `unused`, `Target.NotRegistered`); in a group no load balancer uses, and
//!   with a delay of 0, deregistration is immediate;
//! - a registered target of a group that no listener or rule forwards to is `unused`
//!   (`Target.NotInUse`);
//! - with health checks disabled it is `unavailable` (`Target.HealthCheckDisabled`);
//! - otherwise it is what the data plane's health checks say ([`super::health`], read through
//!   the state's [`super::health::HealthBoard`]): `initial` (`Elb.RegistrationInProgress`, then
//!   `Elb.InitialHealthChecking`), `healthy`, or `unhealthy` (`Target.FailedHealthChecks`,
//!   `Target.Timeout`, `Target.ResponseCodeMismatch`); `initial`/`Elb.RegistrationInProgress`
//!   when no data plane runs (the unit tests) or it has not seen the target yet.
//!
//! Instance targets: EC2 ids (`i-` and 8 or 17 hex digits) and, for ECS external instances
//! (ECS Anywhere), managed instance ids (`mi-` and 17 hex digits), which real ELB does not take
//! but the emulator's ECS services register.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attributes::{self, Attribute};
use super::error::{Code, validation};
use super::form;
use super::health::{HealthReason, HealthState, Observed};
use super::load_balancers::{check_name, well_formed_id};
use super::model::{HealthCheck, Protocol, Tag, Target, TargetGroup, TargetType};
use super::state::{State, all_by_arn, all_by_name, page, random_id, result};
use super::tags;
use crate::front::ApiError;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Matcher<'a> {
    http_code: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetGroupView<'a> {
    target_group_arn: &'a str,
    target_group_name: &'a str,
    protocol: Protocol,
    port: i64,
    vpc_id: &'a str,
    health_check_protocol: Protocol,
    health_check_port: &'a str,
    health_check_enabled: bool,
    health_check_interval_seconds: i64,
    health_check_timeout_seconds: i64,
    healthy_threshold_count: i64,
    unhealthy_threshold_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    health_check_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    matcher: Option<Matcher<'a>>,
    load_balancer_arns: Vec<String>,
    target_type: TargetType,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_version: Option<&'a str>,
    ip_address_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetGroups<'a> {
    target_groups: Vec<TargetGroupView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesResult {
    attributes: Vec<Attribute>,
}

/// A target as the API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetDescription {
    /// Instance id or IP address.
    #[serde(default)]
    pub id: String,
    /// Its port (the group's when absent).
    #[serde(
        default,
        deserialize_with = "form::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<i64>,
    /// Its zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetHealth {
    state: HealthState,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetHealthDescription {
    target: TargetDescription,
    health_check_port: String,
    target_health: TargetHealth,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetHealthResult {
    target_health_descriptions: Vec<TargetHealthDescription>,
}

/// The health check members of CreateTargetGroup and ModifyTargetGroup.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckInput {
    health_check_protocol: Option<String>,
    health_check_port: Option<String>,
    #[serde(default, deserialize_with = "form::opt_bool")]
    health_check_enabled: Option<bool>,
    health_check_path: Option<String>,
    #[serde(default, deserialize_with = "form::opt_int")]
    health_check_interval_seconds: Option<i64>,
    #[serde(default, deserialize_with = "form::opt_int")]
    health_check_timeout_seconds: Option<i64>,
    #[serde(default, deserialize_with = "form::opt_int")]
    healthy_threshold_count: Option<i64>,
    #[serde(default, deserialize_with = "form::opt_int")]
    unhealthy_threshold_count: Option<i64>,
    matcher: Option<MatcherInput>,
}

/// `Matcher` as given.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MatcherInput {
    http_code: Option<String>,
    grpc_code: Option<String>,
}

/// CreateTargetGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTargetGroup {
    #[serde(default)]
    name: String,
    protocol: Option<String>,
    protocol_version: Option<String>,
    #[serde(default, deserialize_with = "form::opt_int")]
    port: Option<i64>,
    vpc_id: Option<String>,
    target_type: Option<String>,
    ip_address_type: Option<String>,
    #[serde(default, deserialize_with = "form::list")]
    tags: Vec<Tag>,
    #[serde(flatten)]
    health: HealthCheckInput,
}

/// DescribeTargetGroups.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[derive(Default)]
pub struct DescribeTargetGroups {
    /// The groups a load balancer uses.
    pub load_balancer_arn: Option<String>,
    /// These groups.
    #[serde(default, deserialize_with = "form::list")]
    pub target_group_arns: Vec<String>,
    /// The groups of these names.
    #[serde(default, deserialize_with = "form::list")]
    pub names: Vec<String>,
    /// Where the page starts.
    pub marker: Option<String>,
    /// At most this many.
    #[serde(default, deserialize_with = "form::opt_int")]
    pub page_size: Option<i64>,
}

/// ModifyTargetGroup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyTargetGroup {
    #[serde(default)]
    target_group_arn: String,
    #[serde(flatten)]
    health: HealthCheckInput,
}

/// DeleteTargetGroup, DescribeTargetGroupAttributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroupArn {
    #[serde(default)]
    target_group_arn: String,
}

/// ModifyTargetGroupAttributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyTargetGroupAttributes {
    #[serde(default)]
    target_group_arn: String,
    #[serde(default, deserialize_with = "form::list")]
    attributes: Vec<Attribute>,
}

/// RegisterTargets, DeregisterTargets.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Targets {
    /// The group.
    #[serde(default)]
    pub target_group_arn: String,
    /// The targets.
    #[serde(default, deserialize_with = "form::list")]
    pub targets: Vec<TargetDescription>,
}

/// DescribeTargetHealth.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTargetHealth {
    /// The group.
    #[serde(default)]
    pub target_group_arn: String,
    /// These targets (every registered one when absent).
    #[serde(default, deserialize_with = "form::opt_list")]
    pub targets: Option<Vec<TargetDescription>>,
}

fn in_range(what: &str, value: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{what}' failed to satisfy constraint: Member must have value between {min} and {max}"
        )))
    }
}

impl HealthCheck {
    /// The defaults of a group of `protocol`.
    fn defaults(protocol: Protocol) -> Self {
        let http = !protocol.is_network();
        HealthCheck {
            protocol: if http { protocol } else { Protocol::Tcp },
            port: "traffic-port".into(),
            enabled: true,
            path: http.then(|| "/".to_string()),
            interval: 30,
            timeout: if http { 5 } else { 10 },
            healthy: 5,
            unhealthy: 2,
            matcher: http.then(|| "200".to_string()),
        }
    }

    /// These settings with `input` applied, checked for a group of `protocol`.
    fn apply(&self, group: Protocol, input: &HealthCheckInput) -> Result<Self, ApiError> {
        let mut h = self.clone();
        if let Some(p) = &input.health_check_protocol {
            let p = Protocol::parse(p)?;
            let allowed = match group {
                Protocol::Http | Protocol::Https => matches!(p, Protocol::Http | Protocol::Https),
                _ => matches!(p, Protocol::Http | Protocol::Https | Protocol::Tcp),
            };
            if !allowed {
                return Err(validation(format!(
                    "Health check protocol '{}' is not supported for target groups with the '{}' protocol",
                    p.as_str(),
                    group.as_str()
                )));
            }
            if h.protocol != p && p != Protocol::Tcp {
                h.path.get_or_insert_with(|| "/".into());
                h.matcher.get_or_insert_with(|| "200-399".into());
            }
            if p == Protocol::Tcp {
                h.path = None;
                h.matcher = None;
            }
            h.protocol = p;
        }
        if let Some(port) = &input.health_check_port {
            let ok = port == "traffic-port"
                || port.parse::<i64>().is_ok_and(|n| (1..=65535).contains(&n));
            if !ok {
                return Err(validation(format!(
                    "Health check port '{port}' must be 'traffic-port' or a port from 1 to 65535"
                )));
            }
            h.port.clone_from(port);
        }
        if let Some(e) = input.health_check_enabled {
            h.enabled = e;
        }
        if let Some(path) = &input.health_check_path {
            if h.protocol == Protocol::Tcp {
                return Err(validation(
                    "A health check path is only valid with the HTTP and HTTPS health check protocols",
                ));
            }
            if !path.starts_with('/') || path.len() > 1024 {
                return Err(validation(format!(
                    "Health check path '{path}' must begin with '/' and be at most 1024 characters"
                )));
            }
            h.path = Some(path.clone());
        }
        if let Some(n) = input.health_check_interval_seconds {
            h.interval = in_range("healthCheckIntervalSeconds", n, 5, 300)?;
        }
        if let Some(n) = input.health_check_timeout_seconds {
            h.timeout = in_range("healthCheckTimeoutSeconds", n, 2, 120)?;
        }
        if let Some(n) = input.healthy_threshold_count {
            h.healthy = in_range("healthyThresholdCount", n, 2, 10)?;
        }
        if let Some(n) = input.unhealthy_threshold_count {
            h.unhealthy = in_range("unhealthyThresholdCount", n, 2, 10)?;
        }
        if let Some(m) = &input.matcher {
            if m.grpc_code.is_some() {
                return Err(validation(
                    "GrpcCode matchers are not supported by this emulator",
                ));
            }
            if h.protocol == Protocol::Tcp {
                return Err(validation(
                    "A matcher is only valid with the HTTP and HTTPS health check protocols",
                ));
            }
            let code = m.http_code.clone().unwrap_or_default();
            let ok = !code.is_empty()
                && code
                    .split([',', '-'])
                    .all(|c| c.parse::<u16>().is_ok_and(|n| (200..=499).contains(&n)));
            if !ok {
                return Err(validation(format!(
                    "Health check matcher HTTP code '{code}' must be codes from 200 to 499, as a list ('200,202') or a range ('200-299')"
                )));
            }
            h.matcher = Some(code);
        }
        if h.timeout >= h.interval {
            return Err(validation(format!(
                "Health check timeout '{}' must be smaller than the interval '{}'",
                h.timeout, h.interval
            )));
        }
        Ok(h)
    }
}

impl TargetGroup {
    fn view(&self, lbs: Vec<String>) -> TargetGroupView<'_> {
        TargetGroupView {
            target_group_arn: &self.arn,
            target_group_name: &self.name,
            protocol: self.protocol,
            port: self.port,
            vpc_id: &self.vpc_id,
            health_check_protocol: self.health.protocol,
            health_check_port: &self.health.port,
            health_check_enabled: self.health.enabled,
            health_check_interval_seconds: self.health.interval,
            health_check_timeout_seconds: self.health.timeout,
            healthy_threshold_count: self.health.healthy,
            unhealthy_threshold_count: self.health.unhealthy,
            health_check_path: self.health.path.as_deref(),
            matcher: self
                .health
                .matcher
                .as_deref()
                .map(|http_code| Matcher { http_code }),
            load_balancer_arns: lbs,
            target_type: self.target_type,
            protocol_version: self.protocol_version.as_deref(),
            ip_address_type: "ipv4",
        }
    }

    fn attribute_specs(&self) -> Vec<attributes::Spec> {
        attributes::target_group_specs(self.protocol.is_network())
    }

    /// The target `id` on `port` (the group's port when absent), if registered.
    fn find(&self, id: &str, port: Option<i64>) -> Option<&Target> {
        let port = port.unwrap_or(self.port);
        self.targets.iter().find(|t| t.id == id && t.port == port)
    }

    fn check_target(&self, t: &TargetDescription) -> Result<(), ApiError> {
        let ok = match self.target_type {
            // EC2 instances, and (beyond ELB, which has no such targets) the `mi-` managed
            // instances ECS Anywhere registers, so ECS services on external instances of this
            // emulator can sit behind a load balancer.
            TargetType::Instance => {
                well_formed_id("i-", &t.id) || (t.id.len() == 20 && well_formed_id("mi-", &t.id))
            }
            TargetType::Ip => t.id.parse::<std::net::IpAddr>().is_ok(),
        };
        if !ok {
            let what = match self.target_type {
                TargetType::Instance => "instance ID",
                TargetType::Ip => "IP address",
            };
            return Err(Code::InvalidTarget.err(format!(
                "The {what} '{}' is not a valid target for target group '{}'",
                t.id, self.arn
            )));
        }
        if let Some(p) = t.port {
            in_range("port", p, 1, 65535)?;
        }
        Ok(())
    }
}

impl State {
    /// The target group `arn`.
    pub fn tg(&self, arn: &str) -> Result<&TargetGroup, ApiError> {
        self.tgs
            .get(arn)
            .ok_or_else(|| Code::TargetGroupNotFound.err(format!("Target group '{arn}' not found")))
    }

    fn tg_mut(&mut self, arn: &str) -> Result<&mut TargetGroup, ApiError> {
        self.tgs
            .get_mut(arn)
            .ok_or_else(|| Code::TargetGroupNotFound.err(format!("Target group '{arn}' not found")))
    }

    fn tg_view<'a>(&self, tg: &'a TargetGroup) -> TargetGroupView<'a> {
        tg.view(self.lbs_of_target_group(&tg.arn).into_iter().collect())
    }

    /// CreateTargetGroup; the same name with the same settings answers the existing one.
    pub fn create_target_group(&mut self, req: CreateTargetGroup) -> Result<Value, ApiError> {
        check_name("Target group", &req.name)?;
        let target_type = match req.target_type.as_deref() {
            None | Some("instance") => TargetType::Instance,
            Some("ip") => TargetType::Ip,
            Some(other @ ("lambda" | "alb")) => {
                return Err(validation(format!(
                    "Target type '{other}' is not supported by this emulator"
                )));
            }
            Some(other) => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{other}' at 'targetType' failed to satisfy constraint: Member must satisfy enum value set: [instance, ip, lambda, alb]"
                )));
            }
        };
        let protocol = Protocol::parse(
            req.protocol
                .as_deref()
                .ok_or_else(|| validation("A protocol must be specified"))?,
        )?;
        let port = in_range(
            "port",
            req.port
                .ok_or_else(|| validation("A port must be specified"))?,
            1,
            65535,
        )?;
        let vpc_id = req
            .vpc_id
            .clone()
            .ok_or_else(|| validation("A VPC ID must be specified"))?;
        if !well_formed_id("vpc-", &vpc_id) {
            return Err(validation(format!("The VPC ID '{vpc_id}' is not valid")));
        }
        match req.ip_address_type.as_deref() {
            None | Some("ipv4") => {}
            Some(other) => {
                return Err(validation(format!(
                    "IP address type '{other}' is not supported by this emulator"
                )));
            }
        }
        let protocol_version = match (protocol.is_network(), req.protocol_version.as_deref()) {
            (true, None) => None,
            (true, Some(_)) => {
                return Err(validation(format!(
                    "A protocol version is only valid with the HTTP and HTTPS protocols, not '{}'",
                    protocol.as_str()
                )));
            }
            (false, None) => Some("HTTP1".to_string()),
            (false, Some(v @ ("HTTP1" | "HTTP2" | "GRPC"))) => Some(v.to_string()),
            (false, Some(v)) => {
                return Err(validation(format!(
                    "Protocol version '{v}' must be one of HTTP1, HTTP2, GRPC"
                )));
            }
        };
        let health = HealthCheck::defaults(protocol).apply(protocol, &req.health)?;
        tags::check(&req.tags)?;
        if let Some(existing) = self.tgs.values().find(|t| t.name == req.name) {
            let same = existing.protocol == protocol
                && existing.port == port
                && existing.vpc_id == vpc_id
                && existing.target_type == target_type;
            if !same {
                return Err(Code::DuplicateTargetGroupName.err(format!(
                    "A target group with the same name '{}' exists, but with different settings",
                    req.name
                )));
            }
            return Ok(result(&TargetGroups {
                target_groups: vec![self.tg_view(existing)],
                next_marker: None,
            }));
        }
        let arn = self
            .scope
            .arn(&format!("targetgroup/{}/{}", req.name, random_id()));
        let ip_tcp_or_tls =
            target_type == TargetType::Ip && matches!(protocol, Protocol::Tcp | Protocol::Tls);
        let tg = TargetGroup {
            arn: arn.clone(),
            name: req.name,
            protocol,
            protocol_version,
            port,
            vpc_id,
            target_type,
            health,
            attributes: attributes::target_group_defaults(protocol.is_network(), ip_tcp_or_tls),
            targets: Vec::new(),
            tags: req.tags,
        };
        let answer = result(&TargetGroups {
            target_groups: vec![tg.view(Vec::new())],
            next_marker: None,
        });
        self.tgs.insert(arn.clone(), tg);
        self.touch_tg(&arn);
        Ok(answer)
    }

    /// DescribeTargetGroups: by load balancer, ARNs, names, or all, in pages.
    pub fn describe_target_groups(&self, req: &DescribeTargetGroups) -> Result<Value, ApiError> {
        let filters = usize::from(req.load_balancer_arn.is_some())
            + usize::from(!req.target_group_arns.is_empty())
            + usize::from(!req.names.is_empty());
        if filters > 1 {
            return Err(validation(
                "Only one of load balancer ARN, target group ARNs or names can be specified",
            ));
        }
        let found: Vec<&TargetGroup> = if let Some(lb) = &req.load_balancer_arn {
            self.lb(lb)?;
            self.tgs
                .values()
                .filter(|t| self.lbs_of_target_group(&t.arn).contains(lb))
                .collect()
        } else if !req.target_group_arns.is_empty() {
            all_by_arn(&self.tgs, &req.target_group_arns).ok_or_else(|| {
                Code::TargetGroupNotFound.err("One or more target groups not found")
            })?
        } else if !req.names.is_empty() {
            all_by_name(&self.tgs, &req.names, |t| &t.name).map_err(|missing| {
                Code::TargetGroupNotFound.err(format!("Target groups '[{missing}]' not found"))
            })?
        } else {
            let mut all: Vec<_> = self.tgs.values().collect();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            all
        };
        let (items, next_marker) = page(found, req.marker.as_deref(), req.page_size)?;
        Ok(result(&TargetGroups {
            target_groups: items.into_iter().map(|t| self.tg_view(t)).collect(),
            next_marker,
        }))
    }

    /// ModifyTargetGroup: the health check settings.
    pub fn modify_target_group(&mut self, req: &ModifyTargetGroup) -> Result<Value, ApiError> {
        let tg = self.tg(&req.target_group_arn)?;
        let health = tg.health.apply(tg.protocol, &req.health)?;
        self.tg_mut(&req.target_group_arn)?.health = health;
        self.touch_tg(&req.target_group_arn);
        let tg = self.tg(&req.target_group_arn)?;
        Ok(result(&TargetGroups {
            target_groups: vec![self.tg_view(tg)],
            next_marker: None,
        }))
    }

    /// DeleteTargetGroup: refused while a listener or rule forwards to it; an unknown ARN is
    /// not an error.
    pub fn delete_target_group(&mut self, req: &TargetGroupArn) -> Result<Value, ApiError> {
        let arn = &req.target_group_arn;
        if !self.tgs.contains_key(arn) {
            return Ok(Value::Null);
        }
        if !self.lbs_of_target_group(arn).is_empty() {
            return Err(Code::ResourceInUse.err(format!(
                "Target group '{arn}' is currently in use by a listener or a rule"
            )));
        }
        self.tgs.remove(arn);
        self.touch_tg(arn);
        Ok(Value::Null)
    }

    /// DescribeTargetGroupAttributes.
    pub fn describe_target_group_attributes(
        &self,
        req: &TargetGroupArn,
    ) -> Result<Value, ApiError> {
        Ok(result(&AttributesResult {
            attributes: self.tg(&req.target_group_arn)?.attributes.list(),
        }))
    }

    /// ModifyTargetGroupAttributes: all or nothing.
    pub fn modify_target_group_attributes(
        &mut self,
        req: &ModifyTargetGroupAttributes,
    ) -> Result<Value, ApiError> {
        let tg = self.tg_mut(&req.target_group_arn)?;
        let specs = tg.attribute_specs();
        tg.attributes
            .modify(&specs, "Target group", &req.attributes)?;
        let answer = result(&AttributesResult {
            attributes: tg.attributes.list(),
        });
        self.touch_tg(&req.target_group_arn);
        Ok(answer)
    }

    /// RegisterTargets: every target is checked first; registering a draining target again
    /// ends its deregistration.
    pub fn register_targets(&mut self, req: &Targets) -> Result<Value, ApiError> {
        if req.targets.is_empty() {
            return Err(validation("At least one target must be specified"));
        }
        let tg = self.tg(&req.target_group_arn)?;
        for t in &req.targets {
            tg.check_target(t)?;
        }
        let tg = self.tg_mut(&req.target_group_arn)?;
        for t in &req.targets {
            let port = t.port.unwrap_or(tg.port);
            match tg
                .targets
                .iter_mut()
                .find(|r| r.id == t.id && r.port == port)
            {
                Some(r) => {
                    r.draining_until = None;
                    r.availability_zone.clone_from(&t.availability_zone);
                }
                None => tg.targets.push(Target {
                    id: t.id.clone(),
                    port,
                    availability_zone: t.availability_zone.clone(),
                    draining_until: None,
                }),
            }
        }
        self.touch_tg(&req.target_group_arn);
        Ok(Value::Null)
    }

    /// DeregisterTargets: targets drain for the deregistration delay when a load balancer
    /// uses the group, and leave at once otherwise.
    pub fn deregister_targets(&mut self, req: &Targets, now: f64) -> Result<Value, ApiError> {
        if req.targets.is_empty() {
            return Err(validation("At least one target must be specified"));
        }
        let in_use = !self.lbs_of_target_group(&req.target_group_arn).is_empty();
        let tg = self.tg(&req.target_group_arn)?;
        let missing: Vec<&str> = req
            .targets
            .iter()
            .filter(|t| tg.find(&t.id, t.port).is_none())
            .map(|t| t.id.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Code::InvalidTarget.err(format!(
                "The following targets are not registered in target group '{}': '{}'",
                tg.arn,
                missing.join("', '")
            )));
        }
        #[allow(clippy::cast_precision_loss)]
        let delay = tg.attributes.int("deregistration_delay.timeout_seconds") as f64;
        let tg = self.tg_mut(&req.target_group_arn)?;
        for t in &req.targets {
            let port = t.port.unwrap_or(tg.port);
            if in_use && delay > 0.0 {
                for r in tg
                    .targets
                    .iter_mut()
                    .filter(|r| r.id == t.id && r.port == port && r.draining_until.is_none())
                {
                    r.draining_until = Some(now + delay);
                }
            } else {
                tg.targets.retain(|r| !(r.id == t.id && r.port == port));
            }
        }
        self.touch_tg(&req.target_group_arn);
        Ok(Value::Null)
    }

    /// DescribeTargetHealth: every registered target, or the ones asked for.
    pub fn describe_target_health(&self, req: &DescribeTargetHealth) -> Result<Value, ApiError> {
        let tg = self.tg(&req.target_group_arn)?;
        let in_use = !self.lbs_of_target_group(&tg.arn).is_empty();
        let health_port = |port: i64| {
            if tg.health.port == "traffic-port" {
                port.to_string()
            } else {
                tg.health.port.clone()
            }
        };
        let describe = |t: Option<&Target>, asked: TargetDescription| {
            let fixed = |state, reason: HealthReason| Observed {
                state,
                reason: Some(reason),
                code: None,
            };
            let observed = match t {
                None => fixed(HealthState::Unused, HealthReason::NotRegistered),
                Some(t) if t.draining_until.is_some() => fixed(
                    HealthState::Draining,
                    HealthReason::DeregistrationInProgress,
                ),
                Some(_) if !in_use => fixed(HealthState::Unused, HealthReason::NotInUse),
                Some(_) if !tg.health.enabled => {
                    fixed(HealthState::Unavailable, HealthReason::HealthCheckDisabled)
                }
                // What the data plane's checks say; nothing yet: registration in progress.
                Some(t) => self
                    .health
                    .get(&(tg.arn.clone(), t.id.clone(), t.port))
                    .map_or_else(Observed::registering, |slot| slot.observed()),
            };
            let port = asked.port.unwrap_or(tg.port);
            TargetHealthDescription {
                health_check_port: health_port(port),
                target: TargetDescription {
                    port: Some(port),
                    ..asked
                },
                target_health: TargetHealth {
                    state: observed.state,
                    reason: observed.reason.map(HealthReason::code),
                    description: observed.description(),
                },
            }
        };
        let descriptions = match &req.targets {
            Some(asked) if !asked.is_empty() => {
                for t in asked {
                    tg.check_target(t)?;
                }
                asked
                    .iter()
                    .map(|a| describe(tg.find(&a.id, a.port), a.clone()))
                    .collect()
            }
            _ => tg
                .targets
                .iter()
                .map(|t| {
                    describe(
                        Some(t),
                        TargetDescription {
                            id: t.id.clone(),
                            port: Some(t.port),
                            availability_zone: t.availability_zone.clone(),
                        },
                    )
                })
                .collect(),
        };
        Ok(result(&TargetHealthResult {
            target_health_descriptions: descriptions,
        }))
    }
}
