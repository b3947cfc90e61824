//! What the data plane carries, derived from the ELBv2 state: a [`Desired`] copy of the
//! configuration (taken by the actor after each change) becomes a [`Plan`] (built by the data
//! plane): each load balancer's loopback address, each listener's sockets and rules in priority
//! order, each target group's routable targets with their addresses and health check settings.
//!
//! Addresses: every load balancer has its own loopback address `127.x.y.z` (x from 100 to 254),
//! derived from its ARN ([`lb_address`]), so that the listeners of several load balancers can
//! use one port (network load balancers list it in `LoadBalancerAddresses`). Every HTTP
//! listener also takes part in one socket per port on `127.0.0.1`, shared by all HTTP listeners
//! of that port and told apart by the Host header (the load balancer's DNS name, which ends in
//! `.localhost`: curl sends `*.localhost` to loopback by itself); a TCP listener alone on its
//! port takes `127.0.0.1:<port>` too. Targets of type `ip` are their
//! id; targets of type `instance` go through the resolver given to the data plane.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use super::health::{CheckSpec, HealthBoard, Matcher, TargetKey, TargetSlot, Thresholds};
use super::model::{
    Action, Condition, LbType, Listener, LoadBalancer, Protocol, Rule, TargetGroup, TargetType,
};
use super::routing::Algorithm;
use super::state::State;

/// Resolves an EC2 instance id to the address its targets are reached at.
pub type Resolver = Arc<dyn Fn(&str) -> Option<IpAddr> + Send + Sync>;

/// The loopback address of the load balancer `arn`: `127.x.y.z` with x from 100 to 254 and y,
/// z from 1 to 254, from a stable hash of the ARN (FNV-1a), the same after every restart.
pub fn lb_address(arn: &str) -> Ipv4Addr {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in arn.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let byte = |v: u64, span: u64, base: u64| u8::try_from(base + v % span).unwrap_or(1);
    Ipv4Addr::new(
        127,
        byte(h, 155, 100),
        byte(h >> 16, 254, 1),
        byte(h >> 32, 254, 1),
    )
}

/// The configuration the data plane carries: a copy of the ELBv2 state's entities.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// Load balancers by ARN.
    pub lbs: BTreeMap<String, LoadBalancer>,
    /// Target groups by ARN.
    pub tgs: BTreeMap<String, TargetGroup>,
    /// Listeners by ARN.
    pub listeners: BTreeMap<String, Listener>,
    /// Rules by ARN.
    pub rules: BTreeMap<String, Rule>,
}

impl Desired {
    /// A copy of `s`'s configuration.
    pub fn of(s: &State) -> Self {
        Desired {
            lbs: s.lbs.clone(),
            tgs: s.tgs.clone(),
            listeners: s.listeners.clone(),
            rules: s.rules.clone(),
        }
    }
}

/// Who a socket serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Binding {
    /// One listener, on its load balancer's own address.
    Listener(String),
    /// Every HTTP listener of this port, on 127.0.0.1, by Host header.
    SharedHttp(u16),
}

/// One rule: its conditions and its (one terminal) action.
#[derive(Debug, Clone)]
pub struct RulePlan {
    /// All must match; none for the default rule.
    pub conditions: Vec<Condition>,
    /// What to do.
    pub action: Action,
}

/// What an HTTP listener does with `X-Forwarded-For` (the load balancer's
/// `routing.http.xff_header_processing.mode` and `routing.http.xff_client_port.enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XffMode {
    /// Appends the client's address (with its port when `client_port`), the default.
    Append {
        /// `routing.http.xff_client_port.enabled`.
        client_port: bool,
    },
    /// Leaves the header as the client sent it.
    Preserve,
    /// Removes it.
    Remove,
}

/// One listener as carried.
#[derive(Debug, Clone)]
pub struct ListenerPlan {
    /// Its ARN.
    pub arn: String,
    /// Its load balancer's DNS name, lower-case.
    pub dns_name: String,
    /// Its load balancer's address.
    pub address: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// HTTP or TCP (others carry no traffic).
    pub protocol: Protocol,
    /// Rules by priority, the default last.
    pub rules: Vec<RulePlan>,
    /// The load balancer's `idle_timeout.timeout_seconds` (ALB), bounding a target's answer.
    pub idle_timeout: Duration,
    /// What happens to `X-Forwarded-For`.
    pub xff: XffMode,
}

/// One registered target as carried.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    /// Group, id, port.
    pub key: TargetKey,
    /// Where it is reached (`None`: its instance did not resolve).
    pub addr: Option<SocketAddr>,
    /// Deregistered, draining: no new requests.
    pub draining: bool,
    /// When its deregistration delay ends (epoch seconds), if draining.
    pub draining_until: Option<f64>,
    /// Its runtime state (health, requests in flight).
    pub slot: Arc<TargetSlot>,
    /// How it is checked (`None`: checks disabled, draining, or unresolved).
    pub check: Option<CheckSpec>,
}

/// One target group as carried.
#[derive(Debug)]
pub struct GroupPlan {
    /// Its targets.
    pub targets: Vec<TargetPlan>,
    /// How requests spread.
    pub algorithm: Algorithm,
    /// The round-robin counter.
    pub turn: AtomicUsize,
}

/// Everything the data plane carries at one moment.
#[derive(Debug, Default)]
pub struct Plan {
    /// Listeners by ARN (HTTP and TCP only).
    pub listeners: BTreeMap<String, ListenerPlan>,
    /// Target groups used by some listener, by ARN.
    pub groups: BTreeMap<String, GroupPlan>,
}

impl Plan {
    /// The plan of `d`: instance targets resolved by `resolve`, slots taken from `board`
    /// (created for new targets).
    pub fn build(d: &Desired, resolve: &Resolver, board: &HealthBoard) -> Self {
        let mut listeners = BTreeMap::new();
        let mut used: BTreeSet<String> = BTreeSet::new();
        for l in d.listeners.values() {
            let Some(lb) = d.lbs.get(&l.load_balancer_arn) else {
                continue;
            };
            if !matches!(l.protocol, Protocol::Http | Protocol::Tcp) {
                continue;
            }
            let Ok(port) = u16::try_from(l.port) else {
                continue;
            };
            let mut rules: Vec<&Rule> = d
                .rules
                .values()
                .filter(|r| r.listener_arn == l.arn)
                .collect();
            rules.sort_by_key(|r| r.priority.unwrap_or(i64::MAX));
            let rules: Vec<RulePlan> = rules
                .into_iter()
                .filter_map(|r| {
                    let action = r.actions.last()?.clone();
                    for tg in action.target_groups() {
                        used.insert(tg.to_string());
                    }
                    Some(RulePlan {
                        conditions: r.conditions.clone(),
                        action,
                    })
                })
                .collect();
            let xff = match lb.attributes.get("routing.http.xff_header_processing.mode") {
                Some("preserve") => XffMode::Preserve,
                Some("remove") => XffMode::Remove,
                _ => XffMode::Append {
                    client_port: lb.attributes.get("routing.http.xff_client_port.enabled")
                        == Some("true"),
                },
            };
            let idle = match lb.kind {
                LbType::Application => lb.attributes.int("idle_timeout.timeout_seconds"),
                LbType::Network => 350,
            };
            listeners.insert(
                l.arn.clone(),
                ListenerPlan {
                    arn: l.arn.clone(),
                    dns_name: lb.dns_name.to_ascii_lowercase(),
                    address: lb_address(&lb.arn),
                    port,
                    protocol: l.protocol,
                    rules,
                    idle_timeout: Duration::from_secs(u64::try_from(idle.max(1)).unwrap_or(60)),
                    xff,
                },
            );
        }
        let mut groups = BTreeMap::new();
        for arn in &used {
            let Some(tg) = d.tgs.get(arn) else {
                continue;
            };
            groups.insert(arn.clone(), group_plan(tg, resolve, board));
        }
        Plan { listeners, groups }
    }

    /// Every socket the plan needs, and who it serves: each listener on its load balancer's
    /// address; on `127.0.0.1`, the HTTP listeners of a port together, or the one TCP listener
    /// of a port no other listener uses (so that its DNS name reaches it too).
    pub fn sockets(&self) -> BTreeMap<SocketAddr, Binding> {
        let mut out = BTreeMap::new();
        let mut by_port: BTreeMap<u16, Vec<&ListenerPlan>> = BTreeMap::new();
        for l in self.listeners.values() {
            out.insert(
                SocketAddr::new(IpAddr::V4(l.address), l.port),
                Binding::Listener(l.arn.clone()),
            );
            by_port.entry(l.port).or_default().push(l);
        }
        for (port, ls) in by_port {
            let shared = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
            match ls.as_slice() {
                [only] if only.protocol == Protocol::Tcp => {
                    out.insert(shared, Binding::Listener(only.arn.clone()));
                }
                ls if ls.iter().all(|l| l.protocol == Protocol::Http) => {
                    out.insert(shared, Binding::SharedHttp(port));
                }
                // HTTP and TCP listeners, or several TCP ones, on one port: each on its own
                // address only.
                _ => {}
            }
        }
        out
    }

    /// The listener a request on the shared socket of `port` with Host `host` is for: the load
    /// balancer whose DNS name it names (none for another name, even with one load balancer on
    /// the port, so that a deleted load balancer's name never reaches another).
    pub fn by_host(&self, port: u16, host: &str) -> Option<&ListenerPlan> {
        let host = super::routing::host_only(host).to_ascii_lowercase();
        self.listeners
            .values()
            .find(|l| l.port == port && l.protocol == Protocol::Http && l.dns_name == host)
    }

    /// Every check the plan runs, by target.
    pub fn checks(&self) -> BTreeMap<TargetKey, (CheckSpec, Arc<TargetSlot>)> {
        self.groups
            .values()
            .flat_map(|g| &g.targets)
            .filter_map(|t| {
                let spec = t.check.clone()?;
                Some((t.key.clone(), (spec, Arc::clone(&t.slot))))
            })
            .collect()
    }
}

fn group_plan(tg: &TargetGroup, resolve: &Resolver, board: &HealthBoard) -> GroupPlan {
    let h = &tg.health;
    let thresholds = Thresholds {
        healthy: u32::try_from(h.healthy).unwrap_or(5),
        unhealthy: u32::try_from(h.unhealthy).unwrap_or(2),
        interval: Duration::from_secs(u64::try_from(h.interval).unwrap_or(30)),
    };
    let http = match h.protocol {
        Protocol::Http | Protocol::Https => Some((
            h.path.clone().unwrap_or_else(|| "/".into()),
            Matcher::parse(h.matcher.as_deref().unwrap_or("200"))
                .unwrap_or_else(|_| Matcher::ok_only()),
        )),
        _ => None,
    };
    let targets = tg
        .targets
        .iter()
        .map(|t| {
            let key: TargetKey = (tg.arn.clone(), t.id.clone(), t.port);
            let ip = match tg.target_type {
                TargetType::Ip => t.id.parse::<IpAddr>().ok(),
                TargetType::Instance => resolve(&t.id),
            };
            let port = u16::try_from(t.port).unwrap_or(0);
            let addr = ip.map(|ip| SocketAddr::new(ip, port));
            let draining = t.draining_until.is_some();
            let check_port = h.port.parse::<u16>().unwrap_or(port);
            let check = match (addr, draining, h.enabled) {
                (Some(a), false, true) => Some(CheckSpec {
                    addr: SocketAddr::new(a.ip(), check_port),
                    http: http.clone(),
                    timeout: Duration::from_secs(u64::try_from(h.timeout).unwrap_or(5)),
                    thresholds,
                }),
                _ => None,
            };
            let slot = board.slot(&key, h.enabled);
            if !h.enabled {
                slot.unchecked();
            }
            TargetPlan {
                key,
                addr,
                draining,
                draining_until: t.draining_until,
                slot,
                check,
            }
        })
        .collect();
    GroupPlan {
        targets,
        algorithm: Algorithm::from_attribute(tg.attributes.get("load_balancing.algorithm.type")),
        turn: AtomicUsize::new(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(arn: &str, address: [u8; 4], port: u16, protocol: Protocol) -> ListenerPlan {
        ListenerPlan {
            arn: arn.into(),
            dns_name: format!("{arn}.elb.localhost"),
            address: address.into(),
            port,
            protocol,
            rules: Vec::new(),
            idle_timeout: Duration::from_secs(60),
            xff: XffMode::Append { client_port: false },
        }
    }

    #[test]
    fn http_listeners_share_loopback_by_port_and_a_lone_tcp_listener_takes_it() {
        let mut plan = Plan::default();
        for l in [
            listener("a", [127, 100, 0, 1], 80, Protocol::Http),
            listener("b", [127, 100, 0, 2], 80, Protocol::Http),
            listener("c", [127, 100, 0, 3], 53, Protocol::Tcp),
            listener("d", [127, 100, 0, 4], 9000, Protocol::Tcp),
            listener("e", [127, 100, 0, 5], 9000, Protocol::Tcp),
        ] {
            plan.listeners.insert(l.arn.clone(), l);
        }
        let sockets = plan.sockets();
        let at = |a: [u8; 4], p: u16| sockets.get(&SocketAddr::from((a, p))).cloned();
        assert_eq!(at([127, 0, 0, 1], 80), Some(Binding::SharedHttp(80)));
        assert_eq!(at([127, 0, 0, 1], 53), Some(Binding::Listener("c".into())));
        assert_eq!(at([127, 0, 0, 1], 9000), None);
        assert_eq!(
            at([127, 100, 0, 5], 9000),
            Some(Binding::Listener("e".into()))
        );
        assert_eq!(sockets.len(), 7);
        assert_eq!(
            plan.by_host(80, "B.elb.localhost:80")
                .map(|l| l.arn.as_str()),
            Some("b")
        );
        assert!(plan.by_host(80, "z.elb.localhost").is_none());
    }

    #[test]
    fn load_balancer_addresses_are_stable_loopback_addresses() {
        let a = lb_address("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1");
        let b = lb_address("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/2");
        assert_eq!(
            a,
            lb_address("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1")
        );
        assert_ne!(a, b);
        for ip in [a, b] {
            let o = ip.octets();
            assert_eq!(o[0], 127);
            assert!(o[1] >= 100 && o[2] >= 1 && o[3] >= 1 && o[3] <= 254, "{ip}");
        }
    }
}
