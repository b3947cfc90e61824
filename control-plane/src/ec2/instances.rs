//! Instances: RunInstances, DescribeInstances, DescribeInstanceStatus, Stop/Start/Terminate
//! (the state side; what the host must do is returned as [`HostJob`]s), and each instance's
//! XML item.

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{Code, dry_run_ok, missing};
use super::host::AmiImage;
use super::model::{Instance, InstanceState, instance_profile_id, instance_type};
use super::network::{TagSpecification, tag_items, tags_for};
use super::state::{Filter, State, check_filters, new_id, not_found_for, passes};
use super::wire::{list, opt_bool, opt_int};
use crate::front::ApiError;
use crate::front::render::iso8601_millis;

/// What the host must do after a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostJob {
    /// Launch this (pending) instance.
    Launch(String),
    /// Stop it.
    Stop(String),
    /// Start it again.
    Start(String),
    /// Remove it.
    Terminate(String),
}

/// `Placement`.
#[derive(Debug, Default, Deserialize)]
pub struct Placement {
    /// `AvailabilityZone`.
    #[serde(rename = "AvailabilityZone")]
    pub availability_zone: Option<String>,
}

/// `IamInstanceProfile`.
#[derive(Debug, Default, Deserialize)]
pub struct ProfileSpec {
    /// `Name`.
    #[serde(rename = "Name")]
    pub name: Option<String>,
    /// `Arn`.
    #[serde(rename = "Arn")]
    pub arn: Option<String>,
}

/// `MetadataOptions`.
#[derive(Debug, Default, Deserialize)]
pub struct MetadataOptions {
    /// `HttpTokens`: `optional` or `required`.
    #[serde(rename = "HttpTokens")]
    pub http_tokens: Option<String>,
    /// `InstanceMetadataTags`: `enabled` or `disabled`.
    #[serde(rename = "InstanceMetadataTags")]
    pub instance_metadata_tags: Option<String>,
}

/// `InstanceMarketOptions`.
#[derive(Debug, Default, Deserialize)]
pub struct MarketOptions {
    /// `MarketType`: `spot`.
    #[serde(rename = "MarketType")]
    pub market_type: Option<String>,
}

/// RunInstances.
#[derive(Debug, Deserialize)]
pub struct RunInstances {
    /// `ImageId`.
    #[serde(rename = "ImageId")]
    pub image_id: Option<String>,
    /// `InstanceType` (EC2's default: `m1.small`).
    #[serde(rename = "InstanceType")]
    pub instance_type: Option<String>,
    /// `MinCount`.
    #[serde(rename = "MinCount", default, deserialize_with = "opt_int")]
    pub min_count: Option<i64>,
    /// `MaxCount`.
    #[serde(rename = "MaxCount", default, deserialize_with = "opt_int")]
    pub max_count: Option<i64>,
    /// `SubnetId`.
    #[serde(rename = "SubnetId")]
    pub subnet_id: Option<String>,
    /// `SecurityGroupId.N`.
    #[serde(rename = "SecurityGroupId", default, deserialize_with = "list")]
    pub security_group_ids: Vec<String>,
    /// `SecurityGroup.N` (names).
    #[serde(rename = "SecurityGroup", default, deserialize_with = "list")]
    pub security_groups: Vec<String>,
    /// `KeyName`.
    #[serde(rename = "KeyName")]
    pub key_name: Option<String>,
    /// `UserData` (base64).
    #[serde(rename = "UserData")]
    pub user_data: Option<String>,
    /// `ClientToken`.
    #[serde(rename = "ClientToken")]
    pub client_token: Option<String>,
    /// `DryRun`.
    #[serde(rename = "DryRun", default, deserialize_with = "opt_bool")]
    pub dry_run: Option<bool>,
    /// `Placement`.
    #[serde(rename = "Placement", default)]
    pub placement: Placement,
    /// `IamInstanceProfile`.
    #[serde(rename = "IamInstanceProfile", default)]
    pub iam_instance_profile: ProfileSpec,
    /// `TagSpecification.N`.
    #[serde(rename = "TagSpecification", default, deserialize_with = "list")]
    pub tag_specifications: Vec<TagSpecification>,
    /// `MetadataOptions`.
    #[serde(rename = "MetadataOptions", default)]
    pub metadata_options: MetadataOptions,
    /// `InstanceMarketOptions`.
    #[serde(rename = "InstanceMarketOptions", default)]
    pub market: MarketOptions,
    /// `PrivateIpAddress`.
    #[serde(rename = "PrivateIpAddress")]
    pub private_ip: Option<String>,
}

/// DescribeInstances and DescribeInstanceStatus.
#[derive(Debug, Default, Deserialize)]
pub struct DescribeInstances {
    /// `InstanceId.N`.
    #[serde(rename = "InstanceId", default, deserialize_with = "list")]
    pub instance_ids: Vec<String>,
    /// `Filter.N`.
    #[serde(rename = "Filter", default, deserialize_with = "list")]
    pub filters: Vec<Filter>,
    /// `IncludeAllInstances` (DescribeInstanceStatus: also instances that do not run).
    #[serde(rename = "IncludeAllInstances", default, deserialize_with = "opt_bool")]
    pub include_all: Option<bool>,
}

/// StopInstances, StartInstances, TerminateInstances.
#[derive(Debug, Default, Deserialize)]
pub struct InstanceIds {
    /// `InstanceId.N`.
    #[serde(rename = "InstanceId", default, deserialize_with = "list")]
    pub instance_ids: Vec<String>,
    /// `DryRun`.
    #[serde(rename = "DryRun", default, deserialize_with = "opt_bool")]
    pub dry_run: Option<bool>,
    /// `Force` (StopInstances).
    #[serde(rename = "Force", default, deserialize_with = "opt_bool")]
    pub force: Option<bool>,
}

/// How many live instances this emulator runs at most (each is a container with systemd and
/// its own Docker Engine on this machine).
pub const MAX_LIVE_INSTANCES: usize = 16;

fn user_reason(now: f64) -> String {
    format!("User initiated ({})", gmt(now))
}

/// `2026-12-07 10:00:00 GMT`, as EC2's transition reasons write a time.
fn gmt(now: f64) -> String {
    let t = iso8601_millis(now);
    let (date, time) = t.split_once('T').unwrap_or((&t, ""));
    format!("{date} {} GMT", time.get(..8).unwrap_or(time))
}

impl State {
    /// RunInstances: the new instances are `pending`; each gets a [`HostJob::Launch`].
    pub fn run_instances(
        &mut self,
        r: RunInstances,
        images: &[AmiImage],
        now: f64,
    ) -> Result<(Value, Vec<HostJob>), ApiError> {
        if let Some(token) = r.client_token.as_deref()
            && let Some(existing) = self
                .instances
                .values()
                .find(|i| i.client_token.as_deref() == Some(token))
        {
            let reservation = existing.reservation_id.clone();
            return Ok((self.reservation_xml(&reservation), Vec::new()));
        }
        let image_id = r.image_id.as_deref().ok_or_else(|| missing("ImageId"))?;
        let (Some(min), Some(max)) = (r.min_count, r.max_count) else {
            return Err(missing(if r.min_count.is_none() {
                "MinCount"
            } else {
                "MaxCount"
            }));
        };
        if min < 1 || max < min {
            return Err(Code::InvalidParameterValue.err(format!(
                "Invalid value '{min}' for minCount. Must be between 1 and maxCount ({max})."
            )));
        }
        if !image_id.starts_with("ami-") {
            return Err(Code::AmiMalformed.err(format!(
                "Invalid id: \"{image_id}\" (expecting \"ami-...\")"
            )));
        }
        let image = images
            .iter()
            .find(|i| i.image_id == image_id)
            .ok_or_else(|| {
                Code::AmiNotFound.err(format!("The image id '[{image_id}]' does not exist"))
            })?;
        let type_name = r.instance_type.clone().unwrap_or_else(|| "m1.small".into());
        if instance_type(&type_name).is_none() {
            return Err(Code::InvalidParameterValue
                .err(format!("Invalid value '{type_name}' for InstanceType.")));
        }
        let subnet = match (&r.subnet_id, &r.placement.availability_zone) {
            (Some(id), _) => self.subnets.get(id).cloned().ok_or_else(|| {
                Code::SubnetNotFound.err(format!("The subnet ID '{id}' does not exist"))
            })?,
            (None, Some(zone)) => self
                .subnets
                .values()
                .find(|s| &s.availability_zone == zone)
                .cloned()
                .ok_or_else(|| {
                    Code::InvalidParameterValue.err(format!("Invalid availability zone: [{zone}]"))
                })?,
            (None, None) => self
                .subnets
                .values()
                .min_by(|a, b| a.availability_zone.cmp(&b.availability_zone))
                .cloned()
                .ok_or_else(|| Code::SubnetNotFound.err("The VPC has no subnet"))?,
        };
        if let Some(zone) = &r.placement.availability_zone
            && zone != &subnet.availability_zone
        {
            return Err(Code::InvalidParameterCombination.err(format!(
                "The specified zone {zone} does not match the zone of subnet {}",
                subnet.subnet_id
            )));
        }
        let vpc_id = self
            .default_vpc()
            .map(|v| v.vpc_id.clone())
            .unwrap_or_default();
        let mut groups = Vec::new();
        for id in &r.security_group_ids {
            if !self.groups.contains_key(id) {
                return Err(
                    Code::GroupNotFound.err(format!("The security group '{id}' does not exist"))
                );
            }
            groups.push(id.clone());
        }
        for name in &r.security_groups {
            let g = self
                .groups
                .values()
                .find(|g| &g.group_name == name)
                .ok_or_else(|| {
                    Code::GroupNotFound.err(format!(
                        "The security group '{name}' does not exist in default VPC '{vpc_id}'"
                    ))
                })?;
            groups.push(g.group_id.clone());
        }
        if groups.is_empty()
            && let Some(g) = self.groups.values().find(|g| g.group_name == "default")
        {
            groups.push(g.group_id.clone());
        }
        if let Some(data) = &r.user_data {
            use base64::Engine as _;
            if base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .is_err()
            {
                return Err(
                    Code::InvalidParameterValue.err("Invalid BASE64 encoding of user data.")
                );
            }
        }
        let http_tokens = r
            .metadata_options
            .http_tokens
            .clone()
            .unwrap_or_else(|| "optional".into());
        if http_tokens != "optional" && http_tokens != "required" {
            return Err(Code::InvalidParameterValue
                .err(format!("Invalid value '{http_tokens}' for HttpTokens.")));
        }
        let tags = tags_for(&r.tag_specifications, "instance")?;
        let live = self
            .instances
            .values()
            .filter(|i| i.state != InstanceState::Terminated)
            .count();
        let room = MAX_LIVE_INSTANCES.saturating_sub(live);
        let count = usize::try_from(max).unwrap_or(usize::MAX).min(room);
        if count < usize::try_from(min).unwrap_or(usize::MAX) {
            return Err(Code::InsufficientInstanceCapacity.err(format!(
                "We currently do not have sufficient {type_name} capacity in the Availability Zone you requested ({}). This emulator runs at most {MAX_LIVE_INSTANCES} instances at once.",
                subnet.availability_zone
            )));
        }
        if r.dry_run == Some(true) {
            return Err(dry_run_ok());
        }
        let reservation_id = new_id("r");
        let mut jobs = Vec::new();
        for index in 0..count {
            let ip = match (&r.private_ip, index) {
                (Some(ip), 0) => ip.parse().map_err(|_| {
                    Code::InvalidParameterValue
                        .err(format!("Invalid value '{ip}' for PrivateIpAddress."))
                })?,
                _ => self.free_address(&subnet).ok_or_else(|| {
                    Code::InsufficientInstanceCapacity
                        .err(format!("Subnet {} has no free address.", subnet.subnet_id))
                })?,
            };
            let instance = Instance {
                instance_id: new_id("i"),
                reservation_id: reservation_id.clone(),
                ami_launch_index: i64::try_from(index).unwrap_or(0),
                image_id: image.image_id.clone(),
                image_reference: image.reference.clone(),
                instance_type: type_name.clone(),
                subnet_id: subnet.subnet_id.clone(),
                vpc_id: vpc_id.clone(),
                availability_zone: subnet.availability_zone.clone(),
                private_ip: ip,
                state: InstanceState::Pending,
                state_reason: None,
                transition_reason: String::new(),
                launch_time: now,
                terminated_at: None,
                security_group_ids: groups.clone(),
                key_name: r.key_name.clone(),
                user_data: r.user_data.clone(),
                instance_profile: r.iam_instance_profile.name.clone().or_else(|| {
                    r.iam_instance_profile
                        .arn
                        .as_deref()
                        .and_then(|a| a.rsplit('/').next())
                        .map(String::from)
                }),
                client_token: r.client_token.clone(),
                http_tokens: http_tokens.clone(),
                metadata_tags: r.metadata_options.instance_metadata_tags.as_deref()
                    == Some("enabled"),
                spot: r.market.market_type.as_deref() == Some("spot"),
                spot_action: None,
                target_lifecycle: None,
                tags: tags.clone(),
            };
            if self.instance_by_ip(ip).is_some() {
                return Err(Code::InvalidParameterValue.err(format!("Address {ip} is in use.")));
            }
            jobs.push(HostJob::Launch(instance.instance_id.clone()));
            self.touch_instance(&instance.instance_id);
            self.instances
                .insert(instance.instance_id.clone(), instance);
        }
        Ok((self.reservation_xml(&reservation_id), jobs))
    }

    fn reservation_xml(&self, reservation_id: &str) -> Value {
        let members: Vec<&Instance> = self
            .instances
            .values()
            .filter(|i| i.reservation_id == reservation_id)
            .collect();
        let mut v = self.reservation_item(reservation_id, &members);
        if let Value::Object(m) = &mut v {
            m.insert("requesterId".into(), Value::Null);
        }
        v
    }

    fn reservation_item(&self, reservation_id: &str, members: &[&Instance]) -> Value {
        let mut sorted = members.to_vec();
        sorted.sort_by_key(|i| i.ami_launch_index);
        json!({
            "reservationId": reservation_id,
            "ownerId": self.account_id,
            "groupSet": [],
            "instancesSet": sorted.iter().map(|i| self.instance_item(i)).collect::<Vec<_>>(),
        })
    }

    /// The instances `ids` names (all when empty); an unknown id is EC2's not-found error.
    fn chosen(&self, ids: &[String]) -> Result<Vec<&Instance>, ApiError> {
        if ids.is_empty() {
            return Ok(self.instances.values().collect());
        }
        ids.iter()
            .map(|id| {
                if !id.starts_with("i-") {
                    return Err(Code::InstanceMalformed.err(format!("Invalid id: \"{id}\"")));
                }
                self.instances.get(id).ok_or_else(|| not_found_for(id))
            })
            .collect()
    }

    /// DescribeInstances.
    pub fn describe_instances(&self, r: &DescribeInstances) -> Result<Value, ApiError> {
        check_filters(&r.filters, INSTANCE_FILTERS)?;
        let mut by_reservation: Vec<(String, Vec<&Instance>)> = Vec::new();
        let mut chosen = self.chosen(&r.instance_ids)?;
        chosen.sort_by(|a, b| {
            a.launch_time
                .total_cmp(&b.launch_time)
                .then(a.instance_id.cmp(&b.instance_id))
        });
        for i in chosen {
            if !passes(&r.filters, &i.tags, |name| instance_facts(i, name))? {
                continue;
            }
            match by_reservation
                .iter_mut()
                .find(|(id, _)| id == &i.reservation_id)
            {
                Some((_, v)) => v.push(i),
                None => by_reservation.push((i.reservation_id.clone(), vec![i])),
            }
        }
        Ok(json!({
            "reservationSet": by_reservation
                .iter()
                .map(|(id, members)| self.reservation_item(id, members))
                .collect::<Vec<_>>(),
        }))
    }

    /// DescribeInstanceStatus: running instances (all with `IncludeAllInstances`), their
    /// status checks `ok` once running.
    pub fn describe_instance_status(&self, r: &DescribeInstances) -> Result<Value, ApiError> {
        let mut items = Vec::new();
        for i in self.chosen(&r.instance_ids)? {
            if i.state != InstanceState::Running && r.include_all != Some(true) {
                continue;
            }
            let check = if i.state == InstanceState::Running {
                "ok"
            } else {
                "not-applicable"
            };
            let facts = |name: &str| match name {
                "instance-status.status" | "system-status.status" => Some(vec![check.to_string()]),
                other => instance_facts(i, other),
            };
            if !passes(&r.filters, &[], facts)? {
                continue;
            }
            let status = json!({"status": check, "details": [{"name": "reachability", "status": if check == "ok" {"passed"} else {"not-applicable"}}]});
            items.push(json!({
                "instanceId": i.instance_id,
                "availabilityZone": i.availability_zone,
                "instanceState": {"code": i.state.code(), "name": i.state.name()},
                "instanceStatus": status,
                "systemStatus": status,
                "attachedEbsStatus": {"status": check},
            }));
        }
        Ok(json!({"instanceStatusSet": items}))
    }

    /// StopInstances, StartInstances and TerminateInstances: each instance's previous and
    /// current state, and the host jobs.
    pub fn change_instances(
        &mut self,
        action: &str,
        r: &InstanceIds,
        now: f64,
    ) -> Result<(Value, Vec<HostJob>), ApiError> {
        if r.instance_ids.is_empty() {
            return Err(missing("InstanceId"));
        }
        let chosen: Vec<(String, InstanceState)> = self
            .chosen(&r.instance_ids)?
            .iter()
            .map(|i| (i.instance_id.clone(), i.state))
            .collect();
        for (id, state) in &chosen {
            let allowed = match action {
                "StopInstances" => !matches!(
                    state,
                    InstanceState::ShuttingDown | InstanceState::Terminated
                ),
                "StartInstances" => !matches!(
                    state,
                    InstanceState::ShuttingDown
                        | InstanceState::Terminated
                        | InstanceState::Stopping
                ),
                _ => true,
            };
            if !allowed {
                return Err(Code::IncorrectInstanceState.err(format!(
                    "The instance '{id}' is not in a state from which it can be {}.",
                    if action == "StopInstances" {
                        "stopped"
                    } else {
                        "started"
                    }
                )));
            }
        }
        if r.dry_run == Some(true) {
            return Err(dry_run_ok());
        }
        let mut items = Vec::new();
        let mut jobs = Vec::new();
        for (id, before) in chosen {
            let (after, job) = match (action, before) {
                ("StopInstances", InstanceState::Pending | InstanceState::Running) => {
                    (InstanceState::Stopping, Some(HostJob::Stop(id.clone())))
                }
                ("StartInstances", InstanceState::Stopped) => {
                    (InstanceState::Pending, Some(HostJob::Start(id.clone())))
                }
                ("TerminateInstances", InstanceState::Terminated | InstanceState::ShuttingDown) => {
                    (before, None)
                }
                ("TerminateInstances", _) => (
                    InstanceState::ShuttingDown,
                    Some(HostJob::Terminate(id.clone())),
                ),
                _ => (before, None),
            };
            if let Some(i) = self.instances.get_mut(&id)
                && after != before
            {
                i.state = after;
                if after != InstanceState::Pending {
                    i.transition_reason = user_reason(now);
                    i.state_reason = Some((
                        "Client.UserInitiatedShutdown".into(),
                        "Client.UserInitiatedShutdown: User initiated shutdown".into(),
                    ));
                } else {
                    i.transition_reason = String::new();
                    i.state_reason = None;
                }
                self.touch_instance(&id);
            }
            jobs.extend(job);
            items.push(json!({
                "instanceId": id,
                "currentState": {"code": after.code(), "name": after.name()},
                "previousState": {"code": before.code(), "name": before.name()},
            }));
        }
        Ok((json!({"instancesSet": items}), jobs))
    }

    /// A spot interruption notice for `id`: EC2 will `action` it (`terminate`, `stop` or
    /// `hibernate`) at `at`. Refused for an instance that is not a running spot instance.
    pub fn interrupt_spot(&mut self, id: &str, action: &str, at: f64) -> Result<(), String> {
        if !matches!(action, "terminate" | "stop" | "hibernate") {
            return Err(format!(
                "action {action:?}: must be terminate, stop or hibernate"
            ));
        }
        let Some(i) = self.instances.get_mut(id) else {
            return Err(format!("The instance ID '{id}' does not exist"));
        };
        if !i.spot {
            return Err(format!("instance {id} is not a spot instance"));
        }
        if !matches!(i.state, InstanceState::Pending | InstanceState::Running) {
            return Err(format!("instance {id} is {}", i.state.name()));
        }
        i.spot_action = Some((action.to_string(), at));
        self.touch_instance(id);
        Ok(())
    }

    /// Sets the Auto Scaling target lifecycle state instance metadata shows for `id` (no Auto
    /// Scaling group yet: the admin interface stands in for one moving instances out of a warm
    /// pool). One of the states Auto Scaling uses.
    pub fn set_target_lifecycle(&mut self, id: &str, state: &str) -> Result<(), String> {
        const STATES: [&str; 8] = [
            "InService",
            "Standby",
            "Detached",
            "Terminated",
            "Warmed:Pending",
            "Warmed:Running",
            "Warmed:Stopped",
            "Warmed:Hibernated",
        ];
        if !STATES.contains(&state) {
            return Err(format!(
                "state {state:?}: must be one of {}",
                STATES.join(", ")
            ));
        }
        let Some(i) = self.instances.get_mut(id) else {
            return Err(format!("The instance ID '{id}' does not exist"));
        };
        i.target_lifecycle = Some(state.to_string());
        self.touch_instance(id);
        Ok(())
    }

    /// Carries out `id`'s spot interruption, if it has one and still runs: it is stopped or
    /// terminated with EC2's spot reasons. The host job to run, if any.
    pub fn carry_out_spot(&mut self, id: &str, now: f64) -> Option<HostJob> {
        let i = self.instances.get_mut(id)?;
        let (action, _) = i.spot_action.clone()?;
        if !matches!(i.state, InstanceState::Pending | InstanceState::Running) {
            return None;
        }
        let (state, job, code, what) = if action == "terminate" {
            (
                InstanceState::ShuttingDown,
                HostJob::Terminate(id.to_string()),
                "Server.SpotInstanceTermination",
                "Spot instance termination",
            )
        } else {
            (
                InstanceState::Stopping,
                HostJob::Stop(id.to_string()),
                "Server.SpotInstanceShutdown",
                "Spot instance shutdown",
            )
        };
        i.state = state;
        i.state_reason = Some((code.to_string(), format!("{code}: {what}")));
        i.transition_reason = format!("Service initiated ({})", gmt(now));
        self.touch_instance(id);
        Some(job)
    }

    /// What the host reported: `id` reached `state` (a launch or start ran, a stop or terminate
    /// finished), or failed with `error` (the instance is then terminated with EC2's reason).
    pub fn host_done(&mut self, id: &str, state: InstanceState, error: Option<&str>, now: f64) {
        let Some(i) = self.instances.get_mut(id) else {
            return;
        };
        // A terminate overtakes a launch or stop still in flight.
        if matches!(
            i.state,
            InstanceState::ShuttingDown | InstanceState::Terminated
        ) && state != InstanceState::Terminated
            && error.is_none()
        {
            return;
        }
        match error {
            Some(message) => {
                i.state = InstanceState::Terminated;
                i.terminated_at = Some(now);
                i.state_reason = Some((
                    "Server.InternalError".into(),
                    format!("Server.InternalError: Internal error on launch: {message}"),
                ));
            }
            None => {
                i.state = state;
                if state == InstanceState::Terminated {
                    i.terminated_at = Some(now);
                }
            }
        }
        self.touch_instance(id);
    }

    /// One instance's item, as DescribeInstances and RunInstances list it.
    pub fn instance_item(&self, i: &Instance) -> Value {
        let groups: Vec<Value> = i
            .security_group_ids
            .iter()
            .map(|id| {
                let name = self
                    .groups
                    .get(id)
                    .map(|g| g.group_name.clone())
                    .unwrap_or_default();
                json!({"groupId": id, "groupName": name})
            })
            .collect();
        let alive = i.state != InstanceState::Terminated;
        let dns = private_dns_name(i);
        let mut v = json!({
            "instanceId": i.instance_id,
            "imageId": i.image_id,
            "instanceState": {"code": i.state.code(), "name": i.state.name()},
            "privateDnsName": if alive { dns.clone() } else { String::new() },
            "dnsName": "",
            "reason": i.transition_reason,
            "keyName": i.key_name,
            "amiLaunchIndex": i.ami_launch_index,
            "productCodes": [],
            "instanceType": i.instance_type,
            "launchTime": iso8601_millis(i.launch_time),
            "placement": {"availabilityZone": i.availability_zone, "groupName": "", "tenancy": "default"},
            "monitoring": {"state": "disabled"},
            "subnetId": if alive { Some(&i.subnet_id) } else { None },
            "vpcId": if alive { Some(&i.vpc_id) } else { None },
            "privateIpAddress": if alive { Some(i.private_ip.to_string()) } else { None },
            "sourceDestCheck": true,
            "groupSet": groups,
            "architecture": "x86_64",
            "rootDeviceType": "ebs",
            "rootDeviceName": "/dev/xvda",
            "blockDeviceMapping": [],
            "virtualizationType": "hvm",
            "clientToken": i.client_token.clone().unwrap_or_default(),
            "tagSet": tag_items(&i.tags),
            "hypervisor": "xen",
            "ebsOptimized": false,
            "enaSupport": true,
            "metadataOptions": {
                "state": "applied",
                "httpTokens": i.http_tokens,
                "httpPutResponseHopLimit": 2,
                "httpEndpoint": "enabled",
                "httpProtocolIpv6": "disabled",
                "instanceMetadataTags": if i.metadata_tags { "enabled" } else { "disabled" },
            },
            "platformDetails": "Linux/UNIX",
            "usageOperation": "RunInstances",
            "instanceLifecycle": if i.spot { Some("spot") } else { None },
        });
        if let Value::Object(m) = &mut v {
            if let Some(profile) = &i.instance_profile {
                m.insert(
                    "iamInstanceProfile".into(),
                    json!({
                        "arn": format!("arn:aws:iam::{}:instance-profile/{profile}", self.account_id),
                        "id": instance_profile_id(profile),
                    }),
                );
            }
            if let Some((code, message)) = &i.state_reason {
                m.insert(
                    "stateReason".into(),
                    json!({"code": code, "message": message}),
                );
            }
            if i.tags.is_empty() {
                m.remove("tagSet");
            }
        }
        v
    }
}

/// `ip-172-31-5-9.ec2.internal` (us-east-1) or `ip-...<region>.compute.internal`.
pub fn private_dns_name(i: &Instance) -> String {
    let ip = i.private_ip.to_string().replace('.', "-");
    let region = i
        .availability_zone
        .trim_end_matches(|c: char| c.is_ascii_lowercase());
    if region == "us-east-1" {
        format!("ip-{ip}.ec2.internal")
    } else {
        format!("ip-{ip}.{region}.compute.internal")
    }
}

/// The filters DescribeInstances knows besides the tag ones.
const INSTANCE_FILTERS: &[&str] = &[
    "instance-id",
    "instance-state-name",
    "instance-state-code",
    "instance-type",
    "availability-zone",
    "subnet-id",
    "vpc-id",
    "image-id",
    "private-ip-address",
    "private-dns-name",
    "reservation-id",
    "key-name",
    "instance.group-id",
    "instance-lifecycle",
    "iam-instance-profile.name",
];

fn instance_facts(i: &Instance, name: &str) -> Option<Vec<String>> {
    let one = |s: &str| Some(vec![s.to_string()]);
    match name {
        "instance-id" => one(&i.instance_id),
        "instance-state-name" => one(i.state.name()),
        "instance-state-code" => one(&i.state.code().to_string()),
        "instance-type" => one(&i.instance_type),
        "availability-zone" => one(&i.availability_zone),
        "subnet-id" => one(&i.subnet_id),
        "vpc-id" => one(&i.vpc_id),
        "image-id" => one(&i.image_id),
        "private-ip-address" => one(&i.private_ip.to_string()),
        "private-dns-name" => one(&private_dns_name(i)),
        "reservation-id" => one(&i.reservation_id),
        "key-name" => Some(i.key_name.iter().cloned().collect()),
        "instance.group-id" => Some(i.security_group_ids.clone()),
        "instance-lifecycle" => Some(if i.spot { vec!["spot".into()] } else { vec![] }),
        "iam-instance-profile.name" => Some(i.instance_profile.iter().cloned().collect()),
        _ => None,
    }
}
