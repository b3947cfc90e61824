//! Load balancers: CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer and their
//! attributes (Describe/ModifyLoadBalancerAttributes).
//!
//! Application and network load balancers, internet-facing or internal. There is no emulated
//! VPC: any well-formed subnet and security group id is accepted, a subnet's Availability Zone is
//! `<region>a`, `<region>b`, ... by its position in the request, and every load balancer is in
//! [`super::state::DEFAULT_VPC_ID`]. Nothing is provisioned, so a load balancer is `active`
//! from the first moment after its creation (CreateLoadBalancer's own answer says
//! `provisioning`, as the real service's does).
//!
//! DNS names keep the real service's shape with `localhost` for `amazonaws.com`
//! (`web-1234567890.us-east-1.elb.localhost`, `net-0123abcd.elb.us-east-1.localhost`): curl
//! resolves every `*.localhost` name to loopback by itself (RFC 6761), where the data plane's
//! shared sockets tell load balancers apart by Host; other resolvers (`getent`, glibc) do not,
//! so other clients use 127.0.0.1 with the DNS name as Host, or the load balancer's own
//! loopback address ([`super::plan::lb_address`], listed in a network load balancer's
//! `LoadBalancerAddresses`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attributes::{Attribute, Attributes};
use super::error::{Code, validation};
use super::form;
use super::model::{LbState, LbType, LoadBalancer, Scheme, Tag, Zone};
use super::plan::lb_address;
use super::state::{State, all_by_arn, all_by_name, iso8601, page, random_id, result};
use super::tags;
use crate::front::ApiError;

/// The security group an application load balancer gets when none is given (the default VPC's
/// default group; made up and stable, as the VPC id is).
const DEFAULT_SECURITY_GROUP: &str = "sg-0c4d1e2f3a5b69788";

impl LoadBalancer {
    /// Its state at `now`.
    pub fn state_at(&self, now: f64) -> LbState {
        if now > self.created {
            LbState::Active
        } else {
            LbState::Provisioning
        }
    }

    fn view(&self, now: f64) -> LoadBalancerView<'_> {
        LoadBalancerView {
            load_balancer_arn: &self.arn,
            dns_name: &self.dns_name,
            canonical_hosted_zone_id: &self.hosted_zone_id,
            created_time: iso8601(self.created),
            load_balancer_name: &self.name,
            scheme: self.scheme,
            vpc_id: &self.vpc_id,
            state: StateView {
                code: self.state_at(now),
            },
            kind: self.kind,
            availability_zones: self
                .zones
                .iter()
                .map(|z| ZoneView {
                    zone: z,
                    load_balancer_addresses: (self.kind == LbType::Network).then(|| {
                        vec![serde_json::json!({ "IpAddress": lb_address(&self.arn).to_string() })]
                    }),
                })
                .collect(),
            security_groups: (self.kind == LbType::Application || !self.security_groups.is_empty())
                .then_some(self.security_groups.as_slice()),
            ip_address_type: &self.ip_address_type,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StateView {
    code: LbState,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ZoneView<'a> {
    #[serde(flatten)]
    zone: &'a Zone,
    #[serde(skip_serializing_if = "Option::is_none")]
    load_balancer_addresses: Option<Vec<Value>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LoadBalancerView<'a> {
    load_balancer_arn: &'a str,
    #[serde(rename = "DNSName")]
    dns_name: &'a str,
    canonical_hosted_zone_id: &'a str,
    created_time: String,
    load_balancer_name: &'a str,
    scheme: Scheme,
    vpc_id: &'a str,
    state: StateView,
    #[serde(rename = "Type")]
    kind: LbType,
    availability_zones: Vec<ZoneView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_groups: Option<&'a [String]>,
    ip_address_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LoadBalancers<'a> {
    load_balancers: Vec<LoadBalancerView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesResult {
    attributes: Vec<Attribute>,
}

/// A subnet and what goes with it, as SubnetMappings carries it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubnetMapping {
    #[serde(default)]
    subnet_id: String,
}

/// CreateLoadBalancer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateLoadBalancer {
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "form::opt_list")]
    subnets: Option<Vec<String>>,
    #[serde(default, deserialize_with = "form::opt_list")]
    subnet_mappings: Option<Vec<SubnetMapping>>,
    #[serde(default, deserialize_with = "form::opt_list")]
    security_groups: Option<Vec<String>>,
    scheme: Option<String>,
    #[serde(default, deserialize_with = "form::list")]
    tags: Vec<Tag>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    ip_address_type: Option<String>,
}

/// DescribeLoadBalancers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLoadBalancers {
    #[serde(default, deserialize_with = "form::list")]
    load_balancer_arns: Vec<String>,
    #[serde(default, deserialize_with = "form::list")]
    names: Vec<String>,
    marker: Option<String>,
    #[serde(default, deserialize_with = "form::opt_int")]
    page_size: Option<i64>,
}

/// DeleteLoadBalancer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteLoadBalancer {
    #[serde(default)]
    load_balancer_arn: String,
}

/// DescribeLoadBalancerAttributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLoadBalancerAttributes {
    #[serde(default)]
    load_balancer_arn: String,
}

/// ModifyLoadBalancerAttributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyLoadBalancerAttributes {
    #[serde(default)]
    load_balancer_arn: String,
    #[serde(default, deserialize_with = "form::list")]
    attributes: Vec<Attribute>,
}

/// Checks a load balancer or target group name (`what`: `Load balancer`, `Target group`).
pub fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(validation(format!("{what} name cannot be empty")));
    }
    if name.chars().count() > 32 {
        return Err(validation(format!(
            "{what} name '{name}' cannot be longer than '32' characters"
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(validation(format!(
            "{what} name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(validation(format!(
            "{what} name '{name}' cannot begin or end with '-' character"
        )));
    }
    Ok(())
}

/// Whether `id` is `<prefix>` then 8 or 17 lowercase hex digits (EC2's id forms).
pub fn well_formed_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// The Route 53 zone of load balancers of `kind` in `region` (the published ids of a few
/// regions; us-east-1's elsewhere).
fn hosted_zone(kind: LbType, region: &str) -> &'static str {
    match (kind, region) {
        (LbType::Application, "us-west-2") => "Z1H1FL5HABSF5",
        (LbType::Network, "us-west-2") => "Z18D5FSROUN65G",
        (LbType::Application, "eu-west-1") => "Z32O12XQLNTSW2",
        (LbType::Network, "eu-west-1") => "Z2IFOLAFXWLO4F",
        (LbType::Application, _) => "Z35SXDOTRQ7X7K",
        (LbType::Network, _) => "Z26RNL4JYFTOTI",
    }
}

impl CreateLoadBalancer {
    fn kind(&self) -> Result<LbType, ApiError> {
        match self.kind.as_deref() {
            None | Some("application") => Ok(LbType::Application),
            Some("network") => Ok(LbType::Network),
            Some("gateway") => Err(validation(
                "Load balancers of type 'gateway' are not supported by this emulator",
            )),
            Some(other) => Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [application, network, gateway]"
            ))),
        }
    }

    fn scheme(&self) -> Result<Scheme, ApiError> {
        match self.scheme.as_deref() {
            None | Some("internet-facing") => Ok(Scheme::InternetFacing),
            Some("internal") => Ok(Scheme::Internal),
            Some(other) => Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'scheme' failed to satisfy constraint: Member must satisfy enum value set: [internet-facing, internal]"
            ))),
        }
    }

    fn subnets(&self, kind: LbType) -> Result<Vec<String>, ApiError> {
        let subnets: Vec<String> = match (&self.subnets, &self.subnet_mappings) {
            (Some(_), Some(_)) => {
                return Err(validation(
                    "You can specify subnets or subnet mappings, not both",
                ));
            }
            (Some(s), None) => s.clone(),
            (None, Some(m)) => m.iter().map(|m| m.subnet_id.clone()).collect(),
            (None, None) => Vec::new(),
        };
        if let Some(bad) = subnets.iter().find(|s| !well_formed_id("subnet-", s)) {
            return Err(Code::InvalidSubnet.err(format!("The subnet ID '{bad}' is not valid")));
        }
        let mut unique = subnets.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != subnets.len() {
            return Err(validation("Subnets cannot be specified more than once"));
        }
        let needed = match kind {
            LbType::Application => 2,
            LbType::Network => 1,
        };
        if subnets.len() < needed {
            return Err(validation(match kind {
                LbType::Application => {
                    "At least two subnets in two different Availability Zones must be specified"
                }
                LbType::Network => "At least one subnet must be specified",
            }));
        }
        Ok(subnets)
    }
}

impl State {
    /// The load balancer `arn`.
    pub fn lb(&self, arn: &str) -> Result<&LoadBalancer, ApiError> {
        self.lbs.get(arn).ok_or_else(|| {
            Code::LoadBalancerNotFound.err(format!("Load balancer '{arn}' not found"))
        })
    }

    /// CreateLoadBalancer; the same name with the same settings answers the existing one.
    pub fn create_load_balancer(
        &mut self,
        req: CreateLoadBalancer,
        now: f64,
    ) -> Result<Value, ApiError> {
        check_name("Load balancer", &req.name)?;
        if req.name.starts_with("internal-") {
            return Err(validation(
                "Load balancer name cannot begin with the prefix 'internal-'",
            ));
        }
        let kind = req.kind()?;
        let scheme = req.scheme()?;
        let subnets = req.subnets(kind)?;
        let ip_address_type = match req.ip_address_type.as_deref() {
            None | Some("ipv4") => "ipv4",
            Some("dualstack") => "dualstack",
            Some(other) => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{other}' at 'ipAddressType' failed to satisfy constraint: Member must satisfy enum value set: [ipv4, dualstack]"
                )));
            }
        };
        let security_groups = req.security_groups.clone().unwrap_or_default();
        if let Some(bad) = security_groups.iter().find(|s| !well_formed_id("sg-", s)) {
            return Err(
                Code::InvalidSecurityGroup.err(format!("The security group '{bad}' is not valid"))
            );
        }
        let security_groups = match kind {
            LbType::Application if security_groups.is_empty() => {
                vec![DEFAULT_SECURITY_GROUP.to_string()]
            }
            _ => security_groups,
        };
        tags::check(&req.tags)?;
        let zones: Vec<Zone> = subnets
            .iter()
            .zip('a'..='z')
            .map(|(s, letter)| Zone {
                zone_name: format!("{}{letter}", self.scope.region),
                subnet_id: s.clone(),
            })
            .collect();
        if let Some(existing) = self.lbs.values().find(|l| l.name == req.name) {
            let same = existing.kind == kind
                && existing.scheme == scheme
                && existing.zones == zones
                && existing.security_groups == security_groups;
            if !same {
                return Err(Code::DuplicateLoadBalancerName.err(format!(
                    "A load balancer with the same name '{}' exists, but with different settings",
                    req.name
                )));
            }
            return Ok(result(&LoadBalancers {
                load_balancers: vec![existing.view(now)],
                next_marker: None,
            }));
        }
        // Each load balancer's loopback address comes from its ARN: draw ids until it is one
        // no other load balancer has.
        let taken: std::collections::BTreeSet<_> = self.lbs.keys().map(|a| lb_address(a)).collect();
        let arn = loop {
            let arn = self.scope.arn(&format!(
                "loadbalancer/{}/{}/{}",
                kind.arn_word(),
                req.name,
                random_id()
            ));
            if !taken.contains(&lb_address(&arn)) {
                break arn;
            }
        };
        let internal = if scheme == Scheme::Internal {
            "internal-"
        } else {
            ""
        };
        let region = &self.scope.region;
        let dns_name = match kind {
            LbType::Application => format!(
                "{internal}{}-{}.{region}.elb.localhost",
                req.name,
                rand::random::<u64>() % 9_000_000_000 + 1_000_000_000
            ),
            LbType::Network => format!(
                "{internal}{}-{}.elb.{region}.localhost",
                req.name,
                random_id()
            ),
        };
        let lb = LoadBalancer {
            arn: arn.clone(),
            name: req.name,
            kind,
            scheme,
            dns_name,
            hosted_zone_id: hosted_zone(kind, region).to_string(),
            created: now,
            vpc_id: self.scope.vpc_id.clone(),
            zones,
            security_groups,
            ip_address_type: ip_address_type.to_string(),
            attributes: Attributes::defaults(kind.attribute_specs()),
            tags: req.tags,
        };
        let answer = result(&LoadBalancers {
            load_balancers: vec![lb.view(now)],
            next_marker: None,
        });
        self.lbs.insert(arn.clone(), lb);
        self.touch_lb(&arn);
        Ok(answer)
    }

    /// DescribeLoadBalancers: by ARNs, by names, or all, in pages.
    pub fn describe_load_balancers(
        &self,
        req: &DescribeLoadBalancers,
        now: f64,
    ) -> Result<Value, ApiError> {
        let found: Vec<&LoadBalancer> = match (
            req.load_balancer_arns.is_empty(),
            req.names.is_empty(),
        ) {
            (false, false) => {
                return Err(validation(
                    "Load balancer names and load balancer ARNs cannot be specified at the same time",
                ));
            }
            (false, true) => all_by_arn(&self.lbs, &req.load_balancer_arns).ok_or_else(|| {
                Code::LoadBalancerNotFound.err("One or more load balancers not found")
            })?,
            (true, false) => {
                all_by_name(&self.lbs, &req.names, |l| &l.name).map_err(|missing| {
                    Code::LoadBalancerNotFound
                        .err(format!("Load balancers '[{missing}]' not found"))
                })?
            }
            (true, true) => {
                let mut all: Vec<_> = self.lbs.values().collect();
                all.sort_by(|a, b| a.name.cmp(&b.name));
                all
            }
        };
        let (items, next_marker) = page(found, req.marker.as_deref(), req.page_size)?;
        Ok(result(&LoadBalancers {
            load_balancers: items.into_iter().map(|l| l.view(now)).collect(),
            next_marker,
        }))
    }

    /// DeleteLoadBalancer, with its listeners and their rules; an unknown ARN is not an error
    /// (the call is idempotent, as the service documents).
    pub fn delete_load_balancer(&mut self, req: &DeleteLoadBalancer) -> Result<Value, ApiError> {
        let arn = &req.load_balancer_arn;
        let Some(lb) = self.lbs.get(arn) else {
            return Ok(Value::Null);
        };
        if lb.attributes.get("deletion_protection.enabled") == Some("true") {
            return Err(Code::OperationNotPermitted.err(format!(
                "Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
            )));
        }
        let listeners: Vec<String> = self
            .listeners
            .values()
            .filter(|l| &l.load_balancer_arn == arn)
            .map(|l| l.arn.clone())
            .collect();
        for l in listeners {
            self.remove_listener(&l);
        }
        self.lbs.remove(arn);
        self.touch_lb(arn);
        Ok(Value::Null)
    }

    /// DescribeLoadBalancerAttributes.
    pub fn describe_load_balancer_attributes(
        &self,
        req: &DescribeLoadBalancerAttributes,
    ) -> Result<Value, ApiError> {
        let lb = self.lb(&req.load_balancer_arn)?;
        Ok(result(&AttributesResult {
            attributes: lb.attributes.list(),
        }))
    }

    /// ModifyLoadBalancerAttributes: all or nothing.
    pub fn modify_load_balancer_attributes(
        &mut self,
        req: &ModifyLoadBalancerAttributes,
    ) -> Result<Value, ApiError> {
        let arn = &req.load_balancer_arn;
        let kind = self.lb(arn)?.kind;
        let Some(lb) = self.lbs.get_mut(arn) else {
            return Err(Code::LoadBalancerNotFound.err(format!("Load balancer '{arn}' not found")));
        };
        lb.attributes
            .modify(kind.attribute_specs(), "Load balancer", &req.attributes)?;
        let answer = result(&AttributesResult {
            attributes: lb.attributes.list(),
        });
        self.touch_lb(arn);
        Ok(answer)
    }
}
