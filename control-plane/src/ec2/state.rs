//! The EC2 state (plain data): the default VPC, its subnets, security groups and instances,
//! with the rows each change dirties. Pure: operations take `now`; nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use rand::Rng;

use super::error::Code;
use super::model::{Instance, InstanceState, SecurityGroup, Subnet, Tag, Vpc, zones};
use crate::front::ApiError;
use crate::store::{Change, entity_changes, restore_entity};

/// Row key prefixes.
pub const VPC_PREFIX: &str = "ec2/vpc/";
/// Subnets' rows.
pub const SUBNET_PREFIX: &str = "ec2/subnet/";
/// Security groups' rows.
pub const GROUP_PREFIX: &str = "ec2/sg/";
/// Instances' rows.
pub const INSTANCE_PREFIX: &str = "ec2/instance/";

/// How long a terminated instance stays listed (EC2: about an hour).
pub const TERMINATED_VISIBLE_SECS: f64 = 3600.0;

/// The EC2 state of one account and region.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The region.
    pub region: String,
    /// The account.
    pub account_id: String,
    /// The VPCs by id (the default one only).
    pub vpcs: BTreeMap<String, Vpc>,
    /// Subnets by id.
    pub subnets: BTreeMap<String, Subnet>,
    /// Security groups by id.
    pub groups: BTreeMap<String, SecurityGroup>,
    /// Instances by id.
    pub instances: BTreeMap<String, Instance>,
    dirty_vpcs: BTreeSet<String>,
    dirty_subnets: BTreeSet<String>,
    dirty_groups: BTreeSet<String>,
    dirty_instances: BTreeSet<String>,
}

/// An id: `prefix-` and 17 hex digits, as EC2's long ids.
pub fn new_id(prefix: &str) -> String {
    let n: u128 = rand::rng().random();
    format!("{prefix}-{:017x}", n & ((1u128 << 68) - 1))
}

/// The first address and prefix of `cidr` when it is an IPv4 /16.
pub fn parse_vpc_cidr(cidr: &str) -> Result<Ipv4Addr, String> {
    let (addr, prefix) = cidr
        .split_once('/')
        .ok_or_else(|| format!("VPC CIDR {cidr}: expected a.b.0.0/16"))?;
    let addr: Ipv4Addr = addr.parse().map_err(|e| format!("VPC CIDR {cidr}: {e}"))?;
    if prefix != "16" || addr.octets()[2] != 0 || addr.octets()[3] != 0 {
        return Err(format!(
            "VPC CIDR {cidr}: expected a /16 such as 172.31.0.0/16"
        ));
    }
    Ok(addr)
}

impl State {
    /// The state among the stored `rows`; a first start creates the default VPC on `vpc_cidr`
    /// with one /20 subnet per zone and its `default` security group.
    pub fn restore(
        region: &str,
        account_id: &str,
        vpc_cidr: &str,
        rows: &[(String, Vec<u8>)],
    ) -> Result<Self, String> {
        let mut s = State {
            region: region.to_string(),
            account_id: account_id.to_string(),
            ..State::default()
        };
        for (key, bytes) in rows {
            let restored = restore_entity(&mut s.vpcs, VPC_PREFIX, key, bytes)
                .and_then(|done| {
                    Ok(done || restore_entity(&mut s.subnets, SUBNET_PREFIX, key, bytes)?)
                })
                .and_then(|done| {
                    Ok(done || restore_entity(&mut s.groups, GROUP_PREFIX, key, bytes)?)
                })
                .and_then(|done| {
                    Ok(done || restore_entity(&mut s.instances, INSTANCE_PREFIX, key, bytes)?)
                });
            if let Err(e) = restored {
                return Err(format!("stored row {key}: {e}"));
            }
        }
        if s.vpcs.is_empty() {
            s.create_default_vpc(vpc_cidr)?;
        } else if let Some(v) = s.vpcs.values().next()
            && v.cidr != vpc_cidr
        {
            tracing::warn!(
                stored = %v.cidr, asked = %vpc_cidr,
                "the data dir's default VPC keeps its stored CIDR"
            );
        }
        Ok(s)
    }

    fn create_default_vpc(&mut self, cidr: &str) -> Result<(), String> {
        let base = parse_vpc_cidr(cidr)?;
        let vpc = Vpc {
            vpc_id: new_id("vpc"),
            cidr: cidr.to_string(),
            dhcp_options_id: new_id("dopt"),
            tags: Vec::new(),
        };
        for (i, (zone, _)) in zones(&self.region).into_iter().enumerate() {
            let [a, b, ..] = base.octets();
            let third = u8::try_from(i * 16).map_err(|e| e.to_string())?;
            let subnet = Subnet {
                subnet_id: new_id("subnet"),
                availability_zone: zone,
                network: Ipv4Addr::new(a, b, third, 0),
                prefix: 20,
                tags: Vec::new(),
            };
            self.dirty_subnets.insert(subnet.subnet_id.clone());
            self.subnets.insert(subnet.subnet_id.clone(), subnet);
        }
        let group = SecurityGroup {
            group_id: new_id("sg"),
            group_name: "default".into(),
            description: "default VPC security group".into(),
            vpc_id: vpc.vpc_id.clone(),
            tags: Vec::new(),
        };
        self.dirty_groups.insert(group.group_id.clone());
        self.groups.insert(group.group_id.clone(), group);
        self.dirty_vpcs.insert(vpc.vpc_id.clone());
        self.vpcs.insert(vpc.vpc_id.clone(), vpc);
        Ok(())
    }

    /// The default VPC.
    pub fn default_vpc(&self) -> Option<&Vpc> {
        self.vpcs.values().next()
    }

    /// The network's gateway: the VPC's `.1`, where the control plane listens for instances.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        let v = self.default_vpc()?;
        let base = parse_vpc_cidr(&v.cidr).ok()?;
        Some(Ipv4Addr::from(u32::from(base) + 1))
    }

    /// Marks an instance's row for writing.
    pub fn touch_instance(&mut self, id: &str) {
        self.dirty_instances.insert(id.to_string());
    }

    /// Marks a security group's row for writing.
    pub fn touch_group(&mut self, id: &str) {
        self.dirty_groups.insert(id.to_string());
    }

    /// Marks a VPC's or subnet's row for writing.
    pub fn touch_network(&mut self, id: &str) {
        if self.vpcs.contains_key(id) {
            self.dirty_vpcs.insert(id.to_string());
        } else {
            self.dirty_subnets.insert(id.to_string());
        }
    }

    /// The rows to write since the last call.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut out = entity_changes(&self.vpcs, &mut self.dirty_vpcs, VPC_PREFIX);
        out.extend(entity_changes(
            &self.subnets,
            &mut self.dirty_subnets,
            SUBNET_PREFIX,
        ));
        out.extend(entity_changes(
            &self.groups,
            &mut self.dirty_groups,
            GROUP_PREFIX,
        ));
        out.extend(entity_changes(
            &self.instances,
            &mut self.dirty_instances,
            INSTANCE_PREFIX,
        ));
        out
    }

    /// Forgets instances terminated long enough ago.
    pub fn expire(&mut self, now: f64) {
        let gone: Vec<String> = self
            .instances
            .values()
            .filter(|i| {
                i.terminated_at
                    .is_some_and(|t| t + TERMINATED_VISIBLE_SECS < now)
            })
            .map(|i| i.instance_id.clone())
            .collect();
        for id in gone {
            self.instances.remove(&id);
            self.dirty_instances.insert(id);
        }
    }

    /// A free address in `subnet` (none of the live instances has it).
    pub fn free_address(&self, subnet: &Subnet) -> Option<Ipv4Addr> {
        let used: BTreeSet<Ipv4Addr> = self
            .instances
            .values()
            .filter(|i| i.state != InstanceState::Terminated)
            .map(|i| i.private_ip)
            .collect();
        subnet.usable().find(|a| !used.contains(a))
    }

    /// The instance whose private address is `ip` and that is not terminated.
    pub fn instance_by_ip(&self, ip: Ipv4Addr) -> Option<&Instance> {
        self.instances
            .values()
            .find(|i| i.private_ip == ip && i.state != InstanceState::Terminated)
    }

    /// The tags of resource `id` (instance, security group, VPC or subnet), for changing.
    pub fn tags_of(&mut self, id: &str) -> Result<&mut Vec<Tag>, ApiError> {
        if let Some(i) = self.instances.get_mut(id) {
            self.dirty_instances.insert(id.to_string());
            return Ok(&mut i.tags);
        }
        if let Some(g) = self.groups.get_mut(id) {
            self.dirty_groups.insert(id.to_string());
            return Ok(&mut g.tags);
        }
        if let Some(v) = self.vpcs.get_mut(id) {
            self.dirty_vpcs.insert(id.to_string());
            return Ok(&mut v.tags);
        }
        if let Some(s) = self.subnets.get_mut(id) {
            self.dirty_subnets.insert(id.to_string());
            return Ok(&mut s.tags);
        }
        Err(not_found_for(id))
    }
}

/// The not-found error EC2 gives for an id, by its prefix.
pub fn not_found_for(id: &str) -> ApiError {
    match id.split_once('-').map(|(p, _)| p) {
        Some("i") => Code::InstanceNotFound.err(format!("The instance ID '{id}' does not exist")),
        Some("sg") => Code::GroupNotFound.err(format!("The security group '{id}' does not exist")),
        Some("vpc") => Code::VpcNotFound.err(format!("The vpc ID '{id}' does not exist")),
        Some("subnet") => Code::SubnetNotFound.err(format!("The subnet ID '{id}' does not exist")),
        _ => Code::InvalidParameterValue.err(format!("Invalid id: \"{id}\"")),
    }
}

/// Whether `value` matches an EC2 filter value (`*` any run, `?` any one character).
pub fn wildcard(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
}

/// One filter of a Describe request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Filter {
    /// Its name, e.g. `instance-state-name` or `tag:Name`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Its values (any matches).
    #[serde(rename = "Value", default, deserialize_with = "super::wire::list")]
    pub values: Vec<String>,
}

/// Refuses a filter whose name is neither a tag filter nor one of `known`, even when there is
/// nothing to filter.
pub fn check_filters(filters: &[Filter], known: &[&str]) -> Result<(), ApiError> {
    for f in filters {
        let tag = f.name.starts_with("tag:") || f.name == "tag-key" || f.name == "tag-value";
        if !tag && !known.contains(&f.name.as_str()) {
            return Err(
                Code::InvalidParameterValue.err(format!("The filter '{}' is invalid", f.name))
            );
        }
    }
    Ok(())
}

/// Whether a resource passes every filter; `facts(name)` gives the resource's values for a
/// filter name (`None`: the filter is unknown for this resource).
pub fn passes(
    filters: &[Filter],
    tags: &[Tag],
    facts: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<bool, ApiError> {
    for f in filters {
        let have: Vec<String> = if let Some(key) = f.name.strip_prefix("tag:") {
            tags.iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.clone())
                .collect()
        } else if f.name == "tag-key" {
            tags.iter().map(|t| t.key.clone()).collect()
        } else if f.name == "tag-value" {
            tags.iter().map(|t| t.value.clone()).collect()
        } else {
            facts(&f.name).ok_or_else(|| {
                Code::InvalidParameterValue.err(format!("The filter '{}' is invalid", f.name))
            })?
        };
        if !f
            .values
            .iter()
            .any(|want| have.iter().any(|h| wildcard(want, h)))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_start_makes_a_default_vpc_with_a_subnet_per_zone() {
        let mut s = State::restore("us-east-1", "123456789012", "10.7.0.0/16", &[]).unwrap();
        assert_eq!(s.subnets.len(), 3);
        let cidrs: BTreeSet<String> = s.subnets.values().map(Subnet::cidr).collect();
        assert_eq!(
            cidrs,
            ["10.7.0.0/20", "10.7.16.0/20", "10.7.32.0/20"]
                .into_iter()
                .map(String::from)
                .collect()
        );
        assert_eq!(s.gateway(), Some(Ipv4Addr::new(10, 7, 0, 1)));
        let rows: Vec<(String, Vec<u8>)> = s
            .take_changes()
            .into_iter()
            .filter_map(|c| match c {
                Change::Put(k, v) => Some((k, v)),
                Change::Delete(_) => None,
            })
            .collect();
        assert_eq!(rows.len(), 5);
        let again = State::restore("us-east-1", "123456789012", "10.7.0.0/16", &rows).unwrap();
        assert_eq!(again.subnets, s.subnets);
        assert_eq!(again.vpcs, s.vpcs);
        assert!(State::restore("us-east-1", "1", "10.7.0.0/24", &[]).is_err());
    }

    #[test]
    fn ids_are_ec2_long_ids() {
        let id = new_id("i");
        assert_eq!(id.len(), 19);
        assert!(id[2..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn wildcards_and_filters() {
        assert!(wildcard("web-*", "web-1"));
        assert!(wildcard("w?b", "web"));
        assert!(!wildcard("web", "web-1"));
        let tags = vec![Tag {
            key: "Name".into(),
            value: "web-1".into(),
        }];
        let f = |n: &str, v: &str| Filter {
            name: n.into(),
            values: vec![v.into()],
        };
        let facts = |n: &str| (n == "instance-state-name").then(|| vec!["running".to_string()]);
        assert!(
            passes(
                &[f("tag:Name", "web-*"), f("instance-state-name", "running")],
                &tags,
                facts
            )
            .unwrap()
        );
        assert!(!passes(&[f("tag:Name", "db")], &tags, facts).unwrap());
        let e = passes(&[f("no-such", "x")], &tags, facts).unwrap_err();
        assert_eq!(e.message, "The filter 'no-such' is invalid");
    }
}
