//! Which IP families have a default route, from the kernel's route tables as text
//! (`/proc/net/route`, `/proc/net/ipv6_route`): the default of `ECS_INSTANCE_IP_COMPATIBILITY`.
//!
//! The reference agent asks netlink for the routes of each family and counts one as a default
//! route when it has a gateway and covers every address (`0.0.0.0/0`, `::/0`)
//! (`ecs-agent/utils/net/netutils_linux.go`, `HasDefaultRoute`). The same rule is applied here to
//! the `/proc` text, purely, so it is tested on sample tables. One difference: netlink's list is
//! the main table's, `/proc/net/ipv6_route` shows every table's routes; a gatewayed IPv6 default
//! route in a policy-routing table also counts here.

/// Which families have a default route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefaultRoutes {
    /// An IPv4 default route with a gateway.
    pub ipv4: bool,
    /// An IPv6 default route with a gateway.
    pub ipv6: bool,
}

impl DefaultRoutes {
    /// From the two tables' text; a missing table has no default route.
    pub fn from_tables(ipv4_table: Option<&str>, ipv6_table: Option<&str>) -> Self {
        Self {
            ipv4: ipv4_table.is_some_and(has_ipv4_default_route),
            ipv6: ipv6_table.is_some_and(has_ipv6_default_route),
        }
    }

    /// Only IPv6 is routed: the reference's `IsIPv6Only` (no default route at all is treated
    /// as IPv4, as the reference treats a failed detection).
    pub fn ipv6_only(self) -> bool {
        self.ipv6 && !self.ipv4
    }
}

/// Whether `/proc/net/route` (header line, then `Iface Destination Gateway Flags RefCnt Use
/// Metric Mask ...` with addresses in hex) has a route to `0.0.0.0/0` through a gateway.
pub fn has_ipv4_default_route(table: &str) -> bool {
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match (fields.get(1), fields.get(2), fields.get(7)) {
            (Some(destination), Some(gateway), Some(mask)) => {
                hex_is_zero(destination) == Some(true)
                    && hex_is_zero(mask) == Some(true)
                    && hex_is_zero(gateway) == Some(false)
            }
            _ => false,
        }
    })
}

/// Whether `/proc/net/ipv6_route` (no header; `destination prefix-length source prefix-length
/// next-hop metric refcount use flags device`, addresses as 32 hex digits) has a route to `::/0`
/// through a gateway (a non-zero next hop).
pub fn has_ipv6_default_route(table: &str) -> bool {
    table.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match (fields.first(), fields.get(1), fields.get(4)) {
            (Some(destination), Some(prefix), Some(next_hop)) => {
                destination.len() == 32
                    && next_hop.len() == 32
                    && hex_is_zero(destination) == Some(true)
                    && hex_is_zero(prefix) == Some(true)
                    && hex_is_zero(next_hop) == Some(false)
            }
            _ => false,
        }
    })
}

/// `Some(true)` for an all-zero hex field, `Some(false)` for another hex field, `None` when it is
/// not hex (a header or a damaged line).
fn hex_is_zero(field: &str) -> Option<bool> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(field.bytes().all(|b| b == b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/net/route` of a host with an IPv4 default route (via 192.0.2.1) and Docker's bridge.
    const IPV4_WITH_DEFAULT: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    /// An IPv6-only host's `/proc/net/route`: the header and link routes, no default.
    const IPV4_WITHOUT_DEFAULT: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
";

    /// `/proc/net/ipv6_route` with a default route via fd00::1, plus the kernel's unreachable
    /// `::/0` on `lo` (no next hop), which is not a default route.
    const IPV6_WITH_DEFAULT: &str = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

    /// Link-local and loopback routes and the unreachable `::/0` only.
    const IPV6_WITHOUT_DEFAULT: &str = "\
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

    #[test]
    fn an_ipv4_default_route_needs_a_gateway_and_the_whole_range() {
        assert!(has_ipv4_default_route(IPV4_WITH_DEFAULT));
        assert!(!has_ipv4_default_route(IPV4_WITHOUT_DEFAULT));
        // `default dev ppp0`: the whole range but no gateway.
        assert!(!has_ipv4_default_route(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             ppp0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\n"
        ));
        // A gateway to 0.0.0.0/1 is not a default route.
        assert!(!has_ipv4_default_route(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000080\n"
        ));
        assert!(!has_ipv4_default_route(""));
    }

    #[test]
    fn an_ipv6_default_route_needs_a_next_hop_and_the_whole_range() {
        assert!(has_ipv6_default_route(IPV6_WITH_DEFAULT));
        assert!(!has_ipv6_default_route(IPV6_WITHOUT_DEFAULT));
        assert!(!has_ipv6_default_route("garbage line\n"));
        assert!(!has_ipv6_default_route(""));
    }

    #[test]
    fn the_families_decide_ipv6_only() {
        let dual = DefaultRoutes::from_tables(Some(IPV4_WITH_DEFAULT), Some(IPV6_WITH_DEFAULT));
        assert_eq!(
            dual,
            DefaultRoutes {
                ipv4: true,
                ipv6: true
            }
        );
        assert!(!dual.ipv6_only());
        let v6 = DefaultRoutes::from_tables(Some(IPV4_WITHOUT_DEFAULT), Some(IPV6_WITH_DEFAULT));
        assert!(v6.ipv6_only());
        // No IPv4 table at all (IPv4 disabled) and an IPv6 default route: IPv6-only.
        assert!(DefaultRoutes::from_tables(None, Some(IPV6_WITH_DEFAULT)).ipv6_only());
        let v4 = DefaultRoutes::from_tables(Some(IPV4_WITH_DEFAULT), Some(IPV6_WITHOUT_DEFAULT));
        assert!(!v4.ipv6_only());
        // Neither: treated as IPv4.
        let none = DefaultRoutes::from_tables(None, None);
        assert_eq!(none, DefaultRoutes::default());
        assert!(!none.ipv6_only());
    }
}
