//! The network and the rest of the account: DescribeAvailabilityZones, DescribeRegions,
//! DescribeVpcs, DescribeSubnets, security groups, DescribeImages and tags.

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{Code, dry_run_ok, missing};
use super::host::AmiImage;
use super::model::{InstanceState, SecurityGroup, Tag, zones};
use super::state::{Filter, State, new_id, not_found_for, passes};
use super::wire::{list, opt_bool};
use crate::front::ApiError;

/// One `Tag.N`.
#[derive(Debug, Clone, Deserialize)]
pub struct TagArg {
    /// `Key`.
    #[serde(rename = "Key", default)]
    pub key: String,
    /// `Value`.
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
}

/// One `TagSpecification.N`.
#[derive(Debug, Clone, Deserialize)]
pub struct TagSpecification {
    /// `ResourceType`.
    #[serde(rename = "ResourceType", default)]
    pub resource_type: String,
    /// `Tag.N`.
    #[serde(rename = "Tag", default, deserialize_with = "list")]
    pub tags: Vec<TagArg>,
}

/// The tags `specs` give resources of `resource_type`.
pub fn tags_for(specs: &[TagSpecification], resource_type: &str) -> Result<Vec<Tag>, ApiError> {
    let mut out: Vec<Tag> = Vec::new();
    for s in specs.iter().filter(|s| s.resource_type == resource_type) {
        for t in &s.tags {
            check_tag_key(&t.key)?;
            out.retain(|o| o.key != t.key);
            out.push(Tag {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

fn check_tag_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(Code::InvalidParameterValue.err(format!(
            "Tag key must be between 1 and 128 characters: '{key}'"
        )));
    }
    if key.starts_with("aws:") {
        return Err(Code::InvalidParameterValue
            .err("Tag keys starting with 'aws:' are reserved for internal use"));
    }
    Ok(())
}

/// Tags as EC2's `tagSet` items.
pub fn tag_items(tags: &[Tag]) -> Vec<Value> {
    tags.iter()
        .map(|t| json!({"key": t.key, "value": t.value}))
        .collect()
}

/// A Describe request with ids of one kind and filters.
#[derive(Debug, Default, Deserialize)]
pub struct Describe {
    /// `ZoneName.N`, `RegionName.N`, `VpcId.N`, `SubnetId.N`, `GroupId.N` or `ImageId.N`.
    #[serde(
        alias = "ZoneName",
        alias = "RegionName",
        alias = "VpcId",
        alias = "SubnetId",
        alias = "GroupId",
        alias = "ImageId",
        alias = "ResourceId",
        default,
        deserialize_with = "list"
    )]
    pub ids: Vec<String>,
    /// `GroupName.N` (DescribeSecurityGroups).
    #[serde(rename = "GroupName", default, deserialize_with = "list")]
    pub names: Vec<String>,
    /// `Filter.N`.
    #[serde(rename = "Filter", default, deserialize_with = "list")]
    pub filters: Vec<Filter>,
}

/// CreateSecurityGroup.
#[derive(Debug, Deserialize)]
pub struct CreateSecurityGroup {
    /// `GroupName`.
    #[serde(rename = "GroupName")]
    pub group_name: Option<String>,
    /// `GroupDescription`.
    #[serde(rename = "GroupDescription")]
    pub description: Option<String>,
    /// `VpcId`.
    #[serde(rename = "VpcId")]
    pub vpc_id: Option<String>,
    /// `TagSpecification.N`.
    #[serde(rename = "TagSpecification", default, deserialize_with = "list")]
    pub tag_specifications: Vec<TagSpecification>,
    /// `DryRun`.
    #[serde(rename = "DryRun", default, deserialize_with = "opt_bool")]
    pub dry_run: Option<bool>,
}

/// DeleteSecurityGroup.
#[derive(Debug, Deserialize)]
pub struct DeleteSecurityGroup {
    /// `GroupId`.
    #[serde(rename = "GroupId")]
    pub group_id: Option<String>,
    /// `GroupName`.
    #[serde(rename = "GroupName")]
    pub group_name: Option<String>,
}

/// CreateTags and DeleteTags.
#[derive(Debug, Deserialize)]
pub struct ChangeTags {
    /// `ResourceId.N`.
    #[serde(rename = "ResourceId", default, deserialize_with = "list")]
    pub resources: Vec<String>,
    /// `Tag.N`.
    #[serde(rename = "Tag", default, deserialize_with = "list")]
    pub tags: Vec<TagArg>,
}

fn chosen<'a, T>(
    all: impl Iterator<Item = &'a T>,
    ids: &[String],
    id_of: impl Fn(&T) -> &str,
) -> Result<Vec<&'a T>, ApiError>
where
    T: 'a,
{
    let all: Vec<&T> = all.collect();
    if ids.is_empty() {
        return Ok(all);
    }
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|x| id_of(x) == id)
                .copied()
                .ok_or_else(|| not_found_for(id))
        })
        .collect()
}

impl State {
    /// DescribeAvailabilityZones.
    pub fn describe_availability_zones(&self, r: &Describe) -> Result<Value, ApiError> {
        let mut items = Vec::new();
        let all = zones(&self.region);
        for name in &r.ids {
            if !all.iter().any(|(z, _)| z == name) {
                return Err(
                    Code::InvalidParameterValue.err(format!("The zone '{name}' does not exist."))
                );
            }
        }
        for (zone, zone_id) in all {
            if !r.ids.is_empty() && !r.ids.contains(&zone) {
                continue;
            }
            let facts = |n: &str| match n {
                "zone-name" => Some(vec![zone.clone()]),
                "zone-id" => Some(vec![zone_id.clone()]),
                "state" => Some(vec!["available".to_string()]),
                "region-name" => Some(vec![self.region.clone()]),
                "zone-type" => Some(vec!["availability-zone".to_string()]),
                _ => None,
            };
            if !passes(&r.filters, &[], facts)? {
                continue;
            }
            items.push(json!({
                "zoneName": zone,
                "zoneId": zone_id,
                "zoneState": "available",
                "regionName": self.region,
                "groupName": self.region,
                "networkBorderGroup": self.region,
                "optInStatus": "opt-in-not-required",
                "zoneType": "availability-zone",
                "messageSet": [],
            }));
        }
        Ok(json!({"availabilityZoneInfo": items}))
    }

    /// DescribeRegions: this emulator's one region.
    pub fn describe_regions(&self) -> Value {
        json!({"regionInfo": [{
            "regionName": self.region,
            "regionEndpoint": format!("ec2.{}.amazonaws.com", self.region),
            "optInStatus": "opt-in-not-required",
        }]})
    }

    /// DescribeVpcs.
    pub fn describe_vpcs(&self, r: &Describe) -> Result<Value, ApiError> {
        let mut items = Vec::new();
        for v in chosen(self.vpcs.values(), &r.ids, |v| &v.vpc_id)? {
            let facts = |n: &str| match n {
                "vpc-id" => Some(vec![v.vpc_id.clone()]),
                "cidr" | "cidr-block-association.cidr-block" => Some(vec![v.cidr.clone()]),
                "is-default" => Some(vec!["true".to_string()]),
                "state" => Some(vec!["available".to_string()]),
                "owner-id" => Some(vec![self.account_id.clone()]),
                _ => None,
            };
            if !passes(&r.filters, &v.tags, facts)? {
                continue;
            }
            let mut item = json!({
                "vpcId": v.vpc_id,
                "ownerId": self.account_id,
                "state": "available",
                "cidrBlock": v.cidr,
                "cidrBlockAssociationSet": [{
                    "cidrBlock": v.cidr,
                    "associationId": v.vpc_id.replacen("vpc-", "vpc-cidr-assoc-", 1),
                    "cidrBlockState": {"state": "associated"},
                }],
                "dhcpOptionsId": v.dhcp_options_id,
                "instanceTenancy": "default",
                "isDefault": true,
                "tagSet": tag_items(&v.tags),
            });
            if v.tags.is_empty()
                && let Value::Object(m) = &mut item
            {
                m.remove("tagSet");
            }
            items.push(item);
        }
        Ok(json!({"vpcSet": items}))
    }

    /// DescribeSubnets.
    pub fn describe_subnets(&self, r: &Describe) -> Result<Value, ApiError> {
        let vpc_id = self
            .default_vpc()
            .map(|v| v.vpc_id.clone())
            .unwrap_or_default();
        let mut subnets = chosen(self.subnets.values(), &r.ids, |s| &s.subnet_id)?;
        subnets.sort_by(|a, b| a.availability_zone.cmp(&b.availability_zone));
        let zone_ids = zones(&self.region);
        let mut items = Vec::new();
        for s in subnets {
            let zone_id = zone_ids
                .iter()
                .find(|(z, _)| z == &s.availability_zone)
                .map(|(_, id)| id.clone())
                .unwrap_or_default();
            let used = self
                .instances
                .values()
                .filter(|i| i.subnet_id == s.subnet_id && i.state != InstanceState::Terminated)
                .count();
            let available = s.usable().count().saturating_sub(used);
            let facts = |n: &str| match n {
                "subnet-id" => Some(vec![s.subnet_id.clone()]),
                "vpc-id" => Some(vec![vpc_id.clone()]),
                "availability-zone" | "availabilityZone" => Some(vec![s.availability_zone.clone()]),
                "availability-zone-id" => Some(vec![zone_id.clone()]),
                "cidr-block" | "cidr" | "cidrBlock" => Some(vec![s.cidr()]),
                "default-for-az" | "defaultForAz" => Some(vec!["true".to_string()]),
                "state" => Some(vec!["available".to_string()]),
                _ => None,
            };
            if !passes(&r.filters, &s.tags, facts)? {
                continue;
            }
            let mut item = json!({
                "subnetId": s.subnet_id,
                "subnetArn": format!("arn:aws:ec2:{}:{}:subnet/{}", self.region, self.account_id, s.subnet_id),
                "state": "available",
                "vpcId": vpc_id,
                "cidrBlock": s.cidr(),
                "availableIpAddressCount": available,
                "availabilityZone": s.availability_zone,
                "availabilityZoneId": zone_id,
                "defaultForAz": true,
                "mapPublicIpOnLaunch": false,
                "ownerId": self.account_id,
                "assignIpv6AddressOnCreation": false,
                "ipv6CidrBlockAssociationSet": [],
                "tagSet": tag_items(&s.tags),
            });
            if s.tags.is_empty()
                && let Value::Object(m) = &mut item
            {
                m.remove("tagSet");
            }
            items.push(item);
        }
        Ok(json!({"subnetSet": items}))
    }

    /// CreateSecurityGroup.
    pub fn create_security_group(&mut self, r: CreateSecurityGroup) -> Result<Value, ApiError> {
        let name = r.group_name.ok_or_else(|| missing("GroupName"))?;
        let description = r.description.ok_or_else(|| missing("GroupDescription"))?;
        if name.is_empty() || name.len() > 255 || name.starts_with("sg-") {
            return Err(Code::InvalidParameterValue.err(format!(
                "Invalid value '{name}' for groupName. It may not be empty, longer than 255 characters or start with sg-."
            )));
        }
        let vpc_id = match r.vpc_id {
            Some(id) if self.vpcs.contains_key(&id) => id,
            Some(id) => return Err(not_found_for(&id)),
            None => self
                .default_vpc()
                .map(|v| v.vpc_id.clone())
                .unwrap_or_default(),
        };
        if self
            .groups
            .values()
            .any(|g| g.group_name == name && g.vpc_id == vpc_id)
        {
            return Err(Code::GroupDuplicate.err(format!(
                "The security group '{name}' already exists for VPC '{vpc_id}'"
            )));
        }
        let tags = tags_for(&r.tag_specifications, "security-group")?;
        if r.dry_run == Some(true) {
            return Err(dry_run_ok());
        }
        let group = SecurityGroup {
            group_id: new_id("sg"),
            group_name: name,
            description,
            vpc_id,
            tags,
        };
        let out = json!({
            "groupId": group.group_id,
            "securityGroupArn": format!("arn:aws:ec2:{}:{}:security-group/{}", self.region, self.account_id, group.group_id),
            "tagSet": if group.tags.is_empty() { None } else { Some(tag_items(&group.tags)) },
        });
        self.touch_group(&group.group_id);
        self.groups.insert(group.group_id.clone(), group);
        Ok(out)
    }

    /// DescribeSecurityGroups.
    pub fn describe_security_groups(&self, r: &Describe) -> Result<Value, ApiError> {
        let mut groups = chosen(self.groups.values(), &r.ids, |g| &g.group_id)?;
        for name in &r.names {
            if !groups.iter().any(|g| &g.group_name == name) {
                let vpc = self
                    .default_vpc()
                    .map(|v| v.vpc_id.clone())
                    .unwrap_or_default();
                return Err(Code::GroupNotFound.err(format!(
                    "The security group '{name}' does not exist in default VPC '{vpc}'"
                )));
            }
        }
        if !r.names.is_empty() {
            groups.retain(|g| r.names.contains(&g.group_name));
        }
        let mut items = Vec::new();
        for g in groups {
            let facts = |n: &str| match n {
                "group-id" => Some(vec![g.group_id.clone()]),
                "group-name" => Some(vec![g.group_name.clone()]),
                "vpc-id" => Some(vec![g.vpc_id.clone()]),
                "description" => Some(vec![g.description.clone()]),
                "owner-id" => Some(vec![self.account_id.clone()]),
                _ => None,
            };
            if !passes(&r.filters, &g.tags, facts)? {
                continue;
            }
            let mut item = json!({
                "ownerId": self.account_id,
                "groupId": g.group_id,
                "groupName": g.group_name,
                "groupDescription": g.description,
                "vpcId": g.vpc_id,
                "securityGroupArn": format!("arn:aws:ec2:{}:{}:security-group/{}", self.region, self.account_id, g.group_id),
                "ipPermissions": [],
                "ipPermissionsEgress": [{
                    "ipProtocol": "-1",
                    "ipRanges": [{"cidrIp": "0.0.0.0/0"}],
                    "ipv6Ranges": [], "prefixListIds": [], "groups": [],
                }],
                "tagSet": tag_items(&g.tags),
            });
            if g.tags.is_empty()
                && let Value::Object(m) = &mut item
            {
                m.remove("tagSet");
            }
            items.push(item);
        }
        Ok(json!({"securityGroupInfo": items}))
    }

    /// DeleteSecurityGroup.
    pub fn delete_security_group(&mut self, r: &DeleteSecurityGroup) -> Result<Value, ApiError> {
        let group = match (&r.group_id, &r.group_name) {
            (Some(id), _) => self
                .groups
                .get(id)
                .cloned()
                .ok_or_else(|| not_found_for(id))?,
            (None, Some(name)) => self
                .groups
                .values()
                .find(|g| &g.group_name == name)
                .cloned()
                .ok_or_else(|| {
                    Code::GroupNotFound.err(format!("The security group '{name}' does not exist"))
                })?,
            (None, None) => return Err(missing("GroupId")),
        };
        if group.group_name == "default" {
            return Err(Code::CannotDelete.err(format!(
                "the specified group: \"{}\" name: \"default\" cannot be deleted by a user",
                group.group_id
            )));
        }
        if self.instances.values().any(|i| {
            i.state != InstanceState::Terminated && i.security_group_ids.contains(&group.group_id)
        }) {
            return Err(Code::DependencyViolation.err(format!(
                "resource {} has a dependent object",
                group.group_id
            )));
        }
        self.groups.remove(&group.group_id);
        self.touch_group(&group.group_id);
        Ok(json!({"return": true, "groupId": group.group_id}))
    }

    /// CreateTags (`delete`: false) and DeleteTags.
    pub fn change_tags(&mut self, r: &ChangeTags, delete: bool) -> Result<Value, ApiError> {
        if r.resources.is_empty() {
            return Err(missing("ResourceId"));
        }
        if !delete && r.tags.is_empty() {
            return Err(missing("Tag"));
        }
        for id in &r.resources {
            self.tags_of(id)?;
        }
        for t in &r.tags {
            check_tag_key(&t.key)?;
        }
        for id in &r.resources {
            let tags = self.tags_of(id)?;
            for t in &r.tags {
                if delete {
                    tags.retain(|o| {
                        o.key != t.key || t.value.as_ref().is_some_and(|v| v != &o.value)
                    });
                } else {
                    tags.retain(|o| o.key != t.key);
                    tags.push(Tag {
                        key: t.key.clone(),
                        value: t.value.clone().unwrap_or_default(),
                    });
                }
            }
            if delete && r.tags.is_empty() {
                tags.clear();
            }
        }
        Ok(json!({"return": true}))
    }

    /// DescribeTags (filters `resource-id`, `resource-type`, `key`, `value`).
    pub fn describe_tags(&self, r: &Describe) -> Result<Value, ApiError> {
        let mut rows: Vec<(String, &str, &Tag)> = Vec::new();
        for i in self.instances.values() {
            rows.extend(
                i.tags
                    .iter()
                    .map(|t| (i.instance_id.clone(), "instance", t)),
            );
        }
        for g in self.groups.values() {
            rows.extend(
                g.tags
                    .iter()
                    .map(|t| (g.group_id.clone(), "security-group", t)),
            );
        }
        for v in self.vpcs.values() {
            rows.extend(v.tags.iter().map(|t| (v.vpc_id.clone(), "vpc", t)));
        }
        for s in self.subnets.values() {
            rows.extend(s.tags.iter().map(|t| (s.subnet_id.clone(), "subnet", t)));
        }
        let mut items = Vec::new();
        for (id, kind, t) in rows {
            let facts = |n: &str| match n {
                "resource-id" => Some(vec![id.clone()]),
                "resource-type" => Some(vec![kind.to_string()]),
                "key" => Some(vec![t.key.clone()]),
                "value" => Some(vec![t.value.clone()]),
                _ => None,
            };
            if passes(&r.filters, &[], facts)? {
                items.push(
                    json!({"resourceId": id, "resourceType": kind, "key": t.key, "value": t.value}),
                );
            }
        }
        Ok(json!({"tagSet": items}))
    }
}

/// DescribeImages over the host's images.
pub fn describe_images(
    images: &[AmiImage],
    r: &Describe,
    region: &str,
    account_id: &str,
) -> Result<Value, ApiError> {
    for id in &r.ids {
        if !images.iter().any(|i| &i.image_id == id) {
            return Err(Code::AmiNotFound.err(format!("The image id '[{id}]' does not exist")));
        }
    }
    let mut items = Vec::new();
    for i in images {
        if !r.ids.is_empty() && !r.ids.contains(&i.image_id) {
            continue;
        }
        let facts = |n: &str| match n {
            "image-id" => Some(vec![i.image_id.clone()]),
            "name" => Some(vec![i.name.clone()]),
            "state" => Some(vec!["available".to_string()]),
            "architecture" => Some(vec!["x86_64".to_string()]),
            "owner-id" => Some(vec![account_id.to_string()]),
            _ => None,
        };
        if !passes(&r.filters, &[], facts)? {
            continue;
        }
        items.push(json!({
            "imageId": i.image_id,
            "imageLocation": format!("{account_id}/{}", i.name),
            "imageState": "available",
            "imageOwnerId": account_id,
            "creationDate": i.created,
            "isPublic": false,
            "architecture": "x86_64",
            "imageType": "machine",
            "name": i.name,
            "description": format!("Emulated ECS-optimised image ({}) in {region}: Debian, systemd, Docker Engine and ecs-agent-rs", i.reference),
            "rootDeviceType": "ebs",
            "rootDeviceName": "/dev/xvda",
            "blockDeviceMapping": [],
            "virtualizationType": "hvm",
            "hypervisor": "xen",
            "enaSupport": true,
            "platformDetails": "Linux/UNIX",
            "usageOperation": "RunInstances",
            "bootMode": "uefi-preferred",
        }));
    }
    Ok(json!({"imagesSet": items}))
}
