//! The persisted EC2 entities (plain data) and the fixed facts: availability zones and the
//! instance type table.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// The default VPC (the only one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// `vpc-...`.
    pub vpc_id: String,
    /// Its CIDR, a /16.
    pub cidr: String,
    /// `dopt-...`.
    pub dhcp_options_id: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A subnet: one per availability zone, a /20 of the VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// `subnet-...`.
    pub subnet_id: String,
    /// Its zone.
    pub availability_zone: String,
    /// Its first address.
    pub network: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl Subnet {
    /// `a.b.c.d/n`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }

    /// Its addresses instances may get: AWS reserves the first four and the last.
    pub fn usable(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = u32::from(self.network);
        let size = 1u32 << (32 - u32::from(self.prefix));
        (base + 4..base + size - 1).map(Ipv4Addr::from)
    }
}

/// A security group (kept and listed; the emulated network does not filter traffic by it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// `sg-...`.
    pub group_id: String,
    /// Its name.
    pub group_name: String,
    /// Its description.
    pub description: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// An instance's state, with EC2's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Being started.
    Pending,
    /// Runs.
    Running,
    /// Being terminated.
    ShuttingDown,
    /// Gone (still listed for a while).
    Terminated,
    /// Being stopped.
    Stopping,
    /// Stopped.
    Stopped,
}

impl InstanceState {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
        }
    }

    /// Its code on the wire.
    pub fn code(self) -> i64 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }
}

/// An instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// `i-...` (17 hex digits).
    pub instance_id: String,
    /// `r-...`.
    pub reservation_id: String,
    /// Its place in its reservation.
    pub ami_launch_index: i64,
    /// The AMI.
    pub image_id: String,
    /// The Docker image the AMI was when it was launched.
    pub image_reference: String,
    /// e.g. `t3.medium`.
    pub instance_type: String,
    /// Its subnet.
    pub subnet_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its subnet's zone.
    pub availability_zone: String,
    /// Its private address.
    pub private_ip: Ipv4Addr,
    /// Its state.
    pub state: InstanceState,
    /// Why it is in that state (`Client.UserInitiatedShutdown`, ...), with a message.
    #[serde(default)]
    pub state_reason: Option<(String, String)>,
    /// EC2's `reason` text (e.g. `User initiated (2026-12-07 10:00:00 GMT)`).
    #[serde(default)]
    pub transition_reason: String,
    /// When it was launched (epoch seconds).
    pub launch_time: f64,
    /// When it became terminated.
    #[serde(default)]
    pub terminated_at: Option<f64>,
    /// Its security groups' ids.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Its key pair.
    #[serde(default)]
    pub key_name: Option<String>,
    /// The user data, base64 as sent.
    #[serde(default)]
    pub user_data: Option<String>,
    /// The instance profile's name (its role has the same name).
    #[serde(default)]
    pub instance_profile: Option<String>,
    /// The client token of its RunInstances.
    #[serde(default)]
    pub client_token: Option<String>,
    /// `optional` or `required` (IMDSv2).
    pub http_tokens: String,
    /// Whether instance metadata lists its tags.
    #[serde(default)]
    pub metadata_tags: bool,
    /// Launched as a spot instance.
    #[serde(default)]
    pub spot: bool,
    /// A spot interruption notice: what EC2 will do (`terminate`, `stop`, `hibernate`) and when
    /// (epoch seconds), as instance metadata's `spot/instance-action` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_action: Option<(String, f64)>,
    /// The Auto Scaling target lifecycle state set through the admin interface (`Warmed:Pending`,
    /// `InService`, ...); without one, instance metadata derives it from the instance's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_lifecycle: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// An instance profile's id (`AIPA...`), derived from its name (the same name, the same id).
pub fn instance_profile_id(name: &str) -> String {
    let id: String = name
        .to_uppercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(17)
        .collect();
    format!("AIPA{id}")
}

/// The zones of a region: `<region>a`, `b` and `c`, with zone ids `use1-az1` style.
pub fn zones(region: &str) -> Vec<(String, String)> {
    let short: String = {
        let parts: Vec<&str> = region.split('-').collect();
        match parts.as_slice() {
            [geo, dir, n] => format!("{}{}{}", geo, dir.chars().next().unwrap_or('x'), n),
            _ => region.replace('-', ""),
        }
    };
    ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{region}{s}"), format!("{short}-az{}", i + 1)))
        .collect()
}

/// An instance type: vCPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceType {
    /// e.g. `t3.medium`.
    pub name: &'static str,
    /// Its vCPUs.
    pub vcpus: u32,
    /// Its memory in MiB.
    pub memory_mib: u32,
}

/// The instance types this emulator launches (as EC2 sizes them; limited to the machine's CPUs
/// when it has fewer).
pub const INSTANCE_TYPES: &[InstanceType] = &[
    InstanceType {
        name: "m1.small",
        vcpus: 1,
        memory_mib: 1740,
    },
    InstanceType {
        name: "t2.micro",
        vcpus: 1,
        memory_mib: 1024,
    },
    InstanceType {
        name: "t2.small",
        vcpus: 1,
        memory_mib: 2048,
    },
    InstanceType {
        name: "t2.medium",
        vcpus: 2,
        memory_mib: 4096,
    },
    InstanceType {
        name: "t3.micro",
        vcpus: 2,
        memory_mib: 1024,
    },
    InstanceType {
        name: "t3.small",
        vcpus: 2,
        memory_mib: 2048,
    },
    InstanceType {
        name: "t3.medium",
        vcpus: 2,
        memory_mib: 4096,
    },
    InstanceType {
        name: "t3.large",
        vcpus: 2,
        memory_mib: 8192,
    },
    InstanceType {
        name: "m5.large",
        vcpus: 2,
        memory_mib: 8192,
    },
    InstanceType {
        name: "m5.xlarge",
        vcpus: 4,
        memory_mib: 16384,
    },
    InstanceType {
        name: "c5.large",
        vcpus: 2,
        memory_mib: 4096,
    },
    InstanceType {
        name: "c5.xlarge",
        vcpus: 4,
        memory_mib: 8192,
    },
    InstanceType {
        name: "r5.large",
        vcpus: 2,
        memory_mib: 16384,
    },
];

/// The instance type named `name`.
pub fn instance_type(name: &str) -> Option<InstanceType> {
    INSTANCE_TYPES.iter().copied().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_have_ec2_names_and_ids() {
        assert_eq!(
            zones("us-east-1"),
            vec![
                ("us-east-1a".to_string(), "use1-az1".to_string()),
                ("us-east-1b".to_string(), "use1-az2".to_string()),
                ("us-east-1c".to_string(), "use1-az3".to_string()),
            ]
        );
        assert_eq!(zones("eu-west-2")[1].1, "euw2-az2");
    }

    #[test]
    fn a_subnet_keeps_aws_reserved_addresses() {
        let s = Subnet {
            subnet_id: "subnet-1".into(),
            availability_zone: "us-east-1a".into(),
            network: Ipv4Addr::new(172, 31, 16, 0),
            prefix: 20,
            tags: vec![],
        };
        let usable: Vec<Ipv4Addr> = s.usable().collect();
        assert_eq!(usable.first(), Some(&Ipv4Addr::new(172, 31, 16, 4)));
        assert_eq!(usable.last(), Some(&Ipv4Addr::new(172, 31, 31, 254)));
        assert_eq!(usable.len(), 4096 - 5);
        assert_eq!(s.cidr(), "172.31.16.0/20");
    }
}
