//! Host port allocation for published container ports (reference section 7.2).
//!
//! A container port mapped with `hostPort` 0 or absent gets a host port the agent picks itself from
//! `ECS_DYNAMIC_HOST_PORT_RANGE`, never one of the reserved ports (`ECS_RESERVED_PORTS`,
//! `ECS_RESERVED_PORTS_UDP`), one already handed out and not yet released, or one something on the
//! host is bound to (checked by binding it). Like the reference agent, the search starts after the
//! last port handed out, so consecutive tasks get different ports and a port just freed is not
//! reused at once.
//!
//! [`PortAllocator`] is plain owned state with `&mut self` methods: one owner (the task engine)
//! holds it; it takes no lock and does no async I/O (the bind checks are immediate syscalls).

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use ecs_config::PortRange;
use ecs_protocol::acs::PortMapping;
use ecs_protocol::{NetworkMode, TransportProtocol};

use crate::runtime::{PortSpec, Protocol};

/// Why a container's port mappings cannot be turned into host ports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// No free port for a dynamic mapping (the reference agent's words).
    #[error("container {container}: a host port is unavailable")]
    Unavailable {
        /// Container name.
        container: String,
    },
    /// No run of free contiguous ports for a `containerPortRange`.
    #[error("container {container}: {count} contiguous host ports are unavailable")]
    RangeUnavailable {
        /// Container name.
        container: String,
        /// How many ports the range needs.
        count: u32,
    },
    /// A mapping the agent cannot use: no container port, a bad range, an unknown protocol.
    #[error("container {container}: invalid port mapping: {reason}")]
    InvalidMapping {
        /// Container name.
        container: String,
        /// What is wrong.
        reason: String,
    },
    /// Port mappings in a network mode this agent does not publish ports for.
    #[error("container {container}: port mappings are not supported in {mode} network mode")]
    UnsupportedNetworkMode {
        /// Container name.
        container: String,
        /// The network mode.
        mode: String,
    },
}

/// Tells whether nothing on the host holds `port`.
pub type PortProbe = Box<dyn Fn(u16, Protocol) -> bool + Send + Sync>;

/// Hands out host ports from the dynamic range; see the module docs.
pub struct PortAllocator {
    range: PortRange,
    reserved_tcp: BTreeSet<u16>,
    reserved_udp: BTreeSet<u16>,
    /// Ports handed out or reserved and not released.
    taken: HashSet<(u16, Protocol)>,
    /// The last port handed out; the next search starts after it.
    cursor: Option<u16>,
    probe: PortProbe,
}

impl fmt::Debug for PortAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortAllocator")
            .field("range", &self.range)
            .field("reserved_tcp", &self.reserved_tcp)
            .field("reserved_udp", &self.reserved_udp)
            .field("taken", &self.taken.len())
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl PortAllocator {
    /// An allocator over `range` that never hands out `reserved_tcp` / `reserved_udp`, checking
    /// the host with [`host_port_free`].
    pub fn new(
        range: PortRange,
        reserved_tcp: impl IntoIterator<Item = u16>,
        reserved_udp: impl IntoIterator<Item = u16>,
    ) -> Self {
        Self {
            range,
            reserved_tcp: reserved_tcp.into_iter().collect(),
            reserved_udp: reserved_udp.into_iter().collect(),
            taken: HashSet::new(),
            cursor: None,
            probe: Box::new(host_port_free),
        }
    }

    /// An allocator from `ECS_DYNAMIC_HOST_PORT_RANGE`, `ECS_RESERVED_PORTS` and
    /// `ECS_RESERVED_PORTS_UDP`.
    pub fn from_config(config: &ecs_config::Config) -> Self {
        Self::new(
            config.dynamic_host_port_range.value,
            config.reserved_ports.value.iter().copied(),
            config.reserved_ports_udp.value.iter().copied(),
        )
    }

    /// Replaces the host check (tests: pretend ports are bound, or never touch the host).
    pub fn with_probe(
        mut self,
        probe: impl Fn(u16, Protocol) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.probe = Box::new(probe);
        self
    }

    /// The range ports are picked from.
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// Whether `port` is handed out or reserved (and not released).
    pub fn is_taken(&self, port: u16, protocol: Protocol) -> bool {
        self.taken.contains(&(port, protocol))
    }

    /// Hands out one free host port, or `None` when the whole range is used up.
    pub fn allocate(&mut self, protocol: Protocol) -> Option<u16> {
        self.allocate_contiguous(1, protocol)
    }

    /// Hands out `count` contiguous free host ports and returns the first, or `None` when there is
    /// no such run in the range. The search starts after the last port handed out and wraps
    /// around once, as the reference agent's does.
    pub fn allocate_contiguous(&mut self, count: u16, protocol: Protocol) -> Option<u16> {
        if count == 0 {
            return None;
        }
        let (start, end) = (self.range.start, self.range.end);
        if start > end || u32::from(end - start) + 1 < u32::from(count) {
            return None;
        }
        let first_pass_start = match self.cursor {
            Some(last) if last >= start && last < end => last + 1,
            _ => start,
        };
        let found = self
            .find_run(first_pass_start, end, count, protocol)
            .or_else(|| {
                // Wrap: up to where the first pass began, plus enough for a run crossing it.
                let wrap_end = first_pass_start
                    .saturating_add(count - 1)
                    .saturating_sub(1)
                    .min(end);
                (first_pass_start > start)
                    .then(|| self.find_run(start, wrap_end, count, protocol))
                    .flatten()
            })?;
        let last = found + (count - 1);
        for port in found..=last {
            self.taken.insert((port, protocol));
        }
        self.cursor = Some(last);
        Some(found)
    }

    /// The first run of `count` usable ports inside `from..=to`.
    fn find_run(&self, from: u16, to: u16, count: u16, protocol: Protocol) -> Option<u16> {
        let mut run_start = from;
        let mut run_len: u16 = 0;
        for port in from..=to {
            if self.usable(port, protocol) {
                if run_len == 0 {
                    run_start = port;
                }
                run_len += 1;
                if run_len == count {
                    return Some(run_start);
                }
            } else {
                run_len = 0;
            }
        }
        None
    }

    fn usable(&self, port: u16, protocol: Protocol) -> bool {
        let reserved = match protocol {
            Protocol::Tcp => &self.reserved_tcp,
            Protocol::Udp => &self.reserved_udp,
        };
        !reserved.contains(&port)
            && !self.taken.contains(&(port, protocol))
            && (self.probe)(port, protocol)
    }

    /// Gives `port` back. Releasing a port that is not taken does nothing.
    pub fn release(&mut self, port: u16, protocol: Protocol) {
        self.taken.remove(&(port, protocol));
    }

    /// Gives back every host port of `ports` (a task's, at cleanup).
    pub fn release_all(&mut self, ports: &[PortSpec]) {
        for port in ports {
            self.release(port.host_port, port.protocol);
        }
    }

    /// Marks `port` as in use without searching: host ports of containers adopted after a restart,
    /// and static host ports. Returns `false` if it was already taken.
    pub fn reserve(&mut self, port: u16, protocol: Protocol) -> bool {
        self.taken.insert((port, protocol))
    }

    /// The host ports for a container's `mappings` in `network_mode`:
    ///
    /// - `bridge`: a non-zero `hostPort` is used as is (and recorded as taken, so no dynamic
    ///   mapping gets it); `hostPort` 0 or absent gets a free port; a `containerPortRange`
    ///   (`"9000-9002"`) gets a contiguous run of free host ports of the same size.
    /// - `host`: no publishing; each container port is its own host port (what ECS reports as the
    ///   network binding). Nothing is allocated.
    /// - `none`: no ports.
    ///
    /// All or nothing: on error, the ports this call took are released again.
    pub fn host_ports_for(
        &mut self,
        container: &str,
        mappings: &[PortMapping],
        network_mode: &NetworkMode,
    ) -> Result<Vec<PortSpec>, PortError> {
        let bridge = match network_mode {
            NetworkMode::Bridge => true,
            NetworkMode::Host => false,
            NetworkMode::None => return Ok(Vec::new()),
            NetworkMode::Awsvpc | NetworkMode::Unknown(_) => {
                if mappings.is_empty() {
                    return Ok(Vec::new());
                }
                return Err(PortError::UnsupportedNetworkMode {
                    container: container.to_owned(),
                    mode: network_mode.as_str().to_owned(),
                });
            }
        };
        let mut specs = Vec::new();
        let result = self.collect_ports(container, mappings, bridge, &mut specs);
        if result.is_err() && bridge {
            self.release_all(&specs);
        }
        result.map(|()| specs)
    }

    fn collect_ports(
        &mut self,
        container: &str,
        mappings: &[PortMapping],
        bridge: bool,
        specs: &mut Vec<PortSpec>,
    ) -> Result<(), PortError> {
        let invalid = |reason: String| PortError::InvalidMapping {
            container: container.to_owned(),
            reason,
        };
        for mapping in mappings {
            let protocol = match &mapping.protocol {
                None | Some(TransportProtocol::Tcp) => Protocol::Tcp,
                Some(TransportProtocol::Udp) => Protocol::Udp,
                Some(TransportProtocol::Unknown(other)) => {
                    return Err(invalid(format!("unknown protocol {other:?}")));
                }
            };
            let host_port = match mapping.host_port {
                None | Some(0) => None,
                Some(port) => Some(
                    u16::try_from(port)
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| invalid(format!("host port {port} is out of range")))?,
                ),
            };
            match (
                mapping.container_port,
                mapping.container_port_range.as_deref(),
            ) {
                (Some(port), _) if port != 0 => {
                    let container_port = u16::try_from(port)
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| invalid(format!("container port {port} is out of range")))?;
                    let host_port = match (bridge, host_port) {
                        (false, host_port) => host_port.unwrap_or(container_port),
                        (true, Some(host_port)) => {
                            self.reserve(host_port, protocol);
                            host_port
                        }
                        (true, None) => {
                            self.allocate(protocol)
                                .ok_or_else(|| PortError::Unavailable {
                                    container: container.to_owned(),
                                })?
                        }
                    };
                    specs.push(PortSpec {
                        container_port,
                        host_port,
                        protocol,
                        host_ip: None,
                    });
                }
                (_, Some(range)) => {
                    let (first, last) = parse_port_range(range).ok_or_else(|| {
                        invalid(format!("container port range {range:?} is not start-end"))
                    })?;
                    let count = last - first + 1;
                    let host_first = if bridge {
                        self.allocate_contiguous(count, protocol).ok_or_else(|| {
                            PortError::RangeUnavailable {
                                container: container.to_owned(),
                                count: u32::from(count),
                            }
                        })?
                    } else {
                        first
                    };
                    for offset in 0..count {
                        specs.push(PortSpec {
                            container_port: first + offset,
                            host_port: host_first + offset,
                            protocol,
                            host_ip: None,
                        });
                    }
                }
                _ => {
                    return Err(invalid(
                        "neither containerPort nor containerPortRange".to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `"9000-9002"` → `(9000, 9002)`; a single port `"9000"` is a range of one.
pub fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let text = text.trim();
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (first.trim().parse().ok()?, last.trim().parse().ok()?),
        None => {
            let port = text.parse().ok()?;
            (port, port)
        }
    };
    (first != 0 && first <= last).then_some((first, last))
}

/// Whether nothing on this host is bound to `port`: binds it on `0.0.0.0` and, where the host
/// has IPv6, on `[::]`, then lets go. The reference agent does the same with Go's `":port"`.
/// Both, because ports are published on every address: Docker binds both families
/// ([`crate::runtime::docker::create_body`]).
pub fn host_port_free(port: u16, protocol: Protocol) -> bool {
    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let bind = |addr: SocketAddr| match protocol {
        Protocol::Tcp => TcpListener::bind(addr).map(drop),
        Protocol::Udp => UdpSocket::bind(addr).map(drop),
    };
    if bind(v4).is_err() {
        return false;
    }
    match bind(v6) {
        Ok(()) => true,
        // Only "someone has it" counts: a host without IPv6 refuses [::] for other reasons.
        Err(error) => error.kind() != std::io::ErrorKind::AddrInUse,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn range(start: u16, end: u16) -> PortRange {
        PortRange { start, end }
    }

    /// An allocator that never touches the host; `bound` lists ports "someone else" holds.
    fn allocator(start: u16, end: u16, bound: &[(u16, Protocol)]) -> PortAllocator {
        let bound: HashSet<(u16, Protocol)> = bound.iter().copied().collect();
        PortAllocator::new(range(start, end), [], [])
            .with_probe(move |port, protocol| !bound.contains(&(port, protocol)))
    }

    fn tcp(container_port: i64, host_port: Option<i64>) -> PortMapping {
        PortMapping {
            container_port: Some(container_port),
            host_port,
            ..PortMapping::default()
        }
    }

    #[test]
    fn consecutive_allocations_rotate_through_the_range() {
        let mut ports = allocator(100, 104, &[]);
        assert_eq!(ports.allocate(Protocol::Tcp), Some(100));
        assert_eq!(ports.allocate(Protocol::Tcp), Some(101));
        // A released port is not reused at once: the cursor moved on.
        ports.release(100, Protocol::Tcp);
        assert_eq!(ports.allocate(Protocol::Tcp), Some(102));
        assert_eq!(ports.allocate(Protocol::Tcp), Some(103));
        assert_eq!(ports.allocate(Protocol::Tcp), Some(104));
        // Wraps around to the released one.
        assert_eq!(ports.allocate(Protocol::Tcp), Some(100));
        assert_eq!(ports.allocate(Protocol::Tcp), None);
        ports.release(102, Protocol::Tcp);
        assert_eq!(ports.allocate(Protocol::Tcp), Some(102));
    }

    #[test]
    fn reserved_bound_and_taken_ports_are_skipped() {
        let mut ports = PortAllocator::new(range(100, 106), [100, 102], [101])
            .with_probe(|port, protocol| !(port == 103 && protocol == Protocol::Tcp));
        assert!(ports.reserve(104, Protocol::Tcp));
        assert!(!ports.reserve(104, Protocol::Tcp));
        assert_eq!(ports.allocate(Protocol::Tcp), Some(101));
        assert_eq!(ports.allocate(Protocol::Tcp), Some(105));
        assert_eq!(ports.allocate(Protocol::Tcp), Some(106));
        assert_eq!(ports.allocate(Protocol::Tcp), None);
        // UDP has its own reserved list and its own table.
        assert_eq!(ports.allocate(Protocol::Udp), Some(100));
        assert_eq!(ports.allocate(Protocol::Udp), Some(102));
    }

    #[test]
    fn contiguous_runs_skip_holes_and_wrap() {
        let mut ports = allocator(100, 109, &[(103, Protocol::Tcp)]);
        assert_eq!(ports.allocate_contiguous(3, Protocol::Tcp), Some(100));
        // 103 is bound: the next run of 3 starts at 104.
        assert_eq!(ports.allocate_contiguous(3, Protocol::Tcp), Some(104));
        // 107..=109 left; a run of 4 does not fit before the end nor after wrapping.
        assert_eq!(ports.allocate_contiguous(4, Protocol::Tcp), None);
        ports.release_all(&[100, 101, 102].map(|host_port| PortSpec {
            container_port: 1,
            host_port,
            protocol: Protocol::Tcp,
            host_ip: None,
        }));
        assert_eq!(ports.allocate_contiguous(3, Protocol::Tcp), Some(107));
        assert_eq!(ports.allocate_contiguous(3, Protocol::Tcp), Some(100));
        assert_eq!(ports.allocate_contiguous(0, Protocol::Tcp), None);
        assert_eq!(
            allocator(100, 101, &[]).allocate_contiguous(3, Protocol::Tcp),
            None
        );
    }

    #[test]
    fn the_probe_is_asked_about_the_host() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        let mut ports =
            PortAllocator::new(range(100, 102), [], []).with_probe(move |port, protocol| {
                seen.lock().unwrap().push((port, protocol));
                port != 100
            });
        assert_eq!(ports.allocate(Protocol::Udp), Some(101));
        assert_eq!(
            *asked.lock().unwrap(),
            [(100, Protocol::Udp), (101, Protocol::Udp)]
        );
    }

    #[test]
    fn bridge_mappings_get_static_dynamic_and_range_ports() {
        let mut ports = allocator(40000, 40010, &[]);
        let mappings = vec![
            tcp(80, Some(8080)),
            tcp(81, Some(0)),
            tcp(82, None),
            PortMapping {
                container_port_range: Some("9000-9002".into()),
                protocol: Some(TransportProtocol::Udp),
                ..PortMapping::default()
            },
        ];
        let specs = ports
            .host_ports_for("web", &mappings, &NetworkMode::Bridge)
            .unwrap();
        let spec = |container_port, host_port, protocol| PortSpec {
            container_port,
            host_port,
            protocol,
            host_ip: None,
        };
        assert_eq!(
            specs,
            [
                spec(80, 8080, Protocol::Tcp),
                spec(81, 40000, Protocol::Tcp),
                spec(82, 40001, Protocol::Tcp),
                spec(9000, 40002, Protocol::Udp),
                spec(9001, 40003, Protocol::Udp),
                spec(9002, 40004, Protocol::Udp),
            ]
        );
        assert!(ports.is_taken(8080, Protocol::Tcp));
        ports.release_all(&specs);
        assert!(!ports.is_taken(8080, Protocol::Tcp) && !ports.is_taken(40000, Protocol::Tcp));
    }

    #[test]
    fn host_mode_maps_ports_to_themselves_without_allocating() {
        let mut ports = allocator(40000, 40010, &[]);
        let mappings = vec![
            tcp(8080, None),
            tcp(8081, Some(8081)),
            PortMapping {
                container_port_range: Some("9000-9001".into()),
                ..PortMapping::default()
            },
        ];
        let specs = ports
            .host_ports_for("web", &mappings, &NetworkMode::Host)
            .unwrap();
        assert!(specs.iter().all(|s| s.host_port == s.container_port));
        assert_eq!(specs.len(), 4);
        assert!(!ports.is_taken(8080, Protocol::Tcp));
        assert_eq!(
            ports.host_ports_for("web", &mappings, &NetworkMode::None),
            Ok(vec![])
        );
        assert!(matches!(
            ports.host_ports_for("web", &mappings, &NetworkMode::Awsvpc),
            Err(PortError::UnsupportedNetworkMode { .. })
        ));
    }

    #[test]
    fn exhaustion_fails_and_gives_back_what_was_taken() {
        let mut ports = allocator(40000, 40001, &[]);
        let mappings = vec![tcp(80, None), tcp(81, None), tcp(82, None)];
        let error = ports
            .host_ports_for("web", &mappings, &NetworkMode::Bridge)
            .unwrap_err();
        assert_eq!(
            error,
            PortError::Unavailable {
                container: "web".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "container web: a host port is unavailable"
        );
        assert!(!ports.is_taken(40000, Protocol::Tcp) && !ports.is_taken(40001, Protocol::Tcp));

        let range = vec![PortMapping {
            container_port_range: Some("9000-9004".into()),
            ..PortMapping::default()
        }];
        assert_eq!(
            ports
                .host_ports_for("web", &range, &NetworkMode::Bridge)
                .unwrap_err()
                .to_string(),
            "container web: 5 contiguous host ports are unavailable"
        );
    }

    #[test]
    fn invalid_mappings_are_refused() {
        let mut ports = allocator(40000, 40010, &[]);
        for bad in [
            PortMapping::default(),
            tcp(70000, None),
            tcp(80, Some(-1)),
            PortMapping {
                container_port_range: Some("9002-9000".into()),
                ..PortMapping::default()
            },
            PortMapping {
                container_port: Some(80),
                protocol: Some(TransportProtocol::Unknown("sctp".into())),
                ..PortMapping::default()
            },
        ] {
            assert!(
                matches!(
                    ports.host_ports_for("web", std::slice::from_ref(&bad), &NetworkMode::Bridge),
                    Err(PortError::InvalidMapping { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("9000-9002"), Some((9000, 9002)));
        assert_eq!(parse_port_range(" 9000 - 9000 "), Some((9000, 9000)));
        assert_eq!(parse_port_range("9000"), Some((9000, 9000)));
        assert_eq!(parse_port_range("0-3"), None);
        assert_eq!(parse_port_range("9-3"), None);
        assert_eq!(parse_port_range("a-b"), None);
        assert_eq!(parse_port_range("1-70000"), None);
    }

    #[test]
    fn the_host_probe_sees_a_bound_port() {
        let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!host_port_free(port, Protocol::Tcp));
        drop(listener);
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = socket.local_addr().unwrap().port();
        assert!(!host_port_free(port, Protocol::Udp));
    }
}
