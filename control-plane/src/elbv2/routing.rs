//! The pure decisions of the data plane: which rule a request matches (conditions as ALB
//! evaluates them), which target group of a weighted forward, which target (round robin or
//! least outstanding requests, failing open when no target is healthy), and where a redirect
//! points. No I/O; unit-tested here.
//!
//! Conditions: `path-pattern` (the path without the query, case-sensitive), `host-header` (the
//! host without its port, case-insensitive), `http-header` (the named header, values
//! case-insensitive), `query-string` (any of the key/value pairs, case-insensitive; a pair
//! without a key matches any key), `http-request-method` (exact), `source-ip` (CIDR blocks). The
//! values of one condition are alternatives; the conditions of a rule must all match. Patterns
//! take `*` (any characters) and `?` (one character).

use std::net::IpAddr;

use super::model::{Condition, RedirectConfig};

/// What a rule can look at in a request.
#[derive(Clone, Copy)]
pub struct RequestFacts<'a> {
    /// `GET`, ...
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The raw query, without `?` (empty when none).
    pub query: &'a str,
    /// The Host header (with its port, if any).
    pub host: &'a str,
    /// Header lookup (name lower-case): every value of that header.
    pub headers: &'a dyn Fn(&str) -> Vec<String>,
    /// The client's address.
    pub source: IpAddr,
}

impl std::fmt::Debug for RequestFacts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestFacts")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("host", &self.host)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// `text` matches `pattern` (`*` any run, `?` one character).
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The host of a Host header, without its port.
pub fn host_only(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &host[..=h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether one condition matches the request.
pub fn condition_matches(c: &Condition, r: &RequestFacts<'_>) -> bool {
    let values = |cfg: &Option<super::model::ValuesConfig>| -> Vec<String> {
        cfg.as_ref()
            .map(|c| c.values.clone())
            .or_else(|| c.values.clone())
            .unwrap_or_default()
    };
    match c.field.as_str() {
        "path-pattern" => values(&c.path_pattern_config)
            .iter()
            .any(|p| wildcard(p, r.path, false)),
        "host-header" => values(&c.host_header_config)
            .iter()
            .any(|p| wildcard(p, host_only(r.host), true)),
        "http-header" => c.http_header_config.as_ref().is_some_and(|h| {
            let got = (r.headers)(&h.http_header_name.to_ascii_lowercase());
            got.iter()
                .any(|v| h.values.iter().any(|p| wildcard(p, v, true)))
        }),
        "http-request-method" => c
            .http_request_method_config
            .as_ref()
            .is_some_and(|m| m.values.iter().any(|v| v == r.method)),
        "query-string" => c.query_string_config.as_ref().is_some_and(|q| {
            let pairs: Vec<(&str, &str)> = r
                .query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .collect();
            q.values.iter().any(|kv| {
                pairs.iter().any(|(k, v)| {
                    kv.key.as_deref().is_none_or(|key| wildcard(key, k, true))
                        && wildcard(&kv.value, v, true)
                })
            })
        }),
        "source-ip" => c
            .source_ip_config
            .as_ref()
            .is_some_and(|s| s.values.iter().any(|cidr| in_cidr(r.source, cidr))),
        _ => false,
    }
}

/// The index of the first rule (rules in priority order, the default last with no conditions)
/// whose conditions all match.
pub fn first_match<'a, I>(rules: I, r: &RequestFacts<'_>) -> Option<usize>
where
    I: IntoIterator<Item = &'a [Condition]>,
{
    rules
        .into_iter()
        .position(|conds| conds.iter().all(|c| condition_matches(c, r)))
}

/// The index of the weighted choice `roll` lands on (weights 0 never win); `None` when every
/// weight is 0.
pub fn pick_weighted(weights: &[u32], roll: u64) -> Option<usize> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut at = roll % total;
    for (i, w) in weights.iter().enumerate() {
        let w = u64::from(*w);
        if at < w {
            return Some(i);
        }
        at -= w;
    }
    None
}

/// How a target group spreads requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// In turn.
    RoundRobin,
    /// To the target with the fewest requests in flight.
    LeastOutstanding,
}

impl Algorithm {
    /// The algorithm named by `load_balancing.algorithm.type` (weighted_random is spread in
    /// turn here).
    pub fn from_attribute(v: Option<&str>) -> Self {
        match v {
            Some("least_outstanding_requests") => Algorithm::LeastOutstanding,
            _ => Algorithm::RoundRobin,
        }
    }
}

/// One target as the balancer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Healthy (or not checked).
    pub routable: bool,
    /// Requests in flight.
    pub outstanding: usize,
}

/// The target to send the next request to: among the routable ones, or among all when none is
/// (fail open, as ALB does); `turn` is a counter advanced per request. `None` without targets.
pub fn choose(candidates: &[Candidate], algorithm: Algorithm, turn: usize) -> Option<usize> {
    let routable: Vec<usize> = (0..candidates.len())
        .filter(|i| candidates[*i].routable)
        .collect();
    let pool: Vec<usize> = if routable.is_empty() {
        (0..candidates.len()).collect()
    } else {
        routable
    };
    if pool.is_empty() {
        return None;
    }
    let start = turn % pool.len();
    let rotated = pool[start..].iter().chain(&pool[..start]).copied();
    match algorithm {
        Algorithm::RoundRobin => Some(pool[start]),
        Algorithm::LeastOutstanding => rotated.min_by_key(|i| candidates[*i].outstanding),
    }
}

/// Where a redirect sends a request that came as `protocol` (`http`) to `host` (without port)
/// on `port`, for `path` and `query` (without `?`).
pub fn redirect_location(
    c: &RedirectConfig,
    protocol: &str,
    host: &str,
    port: u16,
    path: &str,
    query: &str,
) -> String {
    let fill = |v: &Option<String>, default: &str| -> String {
        v.as_deref()
            .unwrap_or(default)
            .replace("#{protocol}", protocol)
            .replace("#{host}", host)
            .replace("#{port}", &port.to_string())
            .replace("#{path}", path.trim_start_matches('/'))
            .replace("#{query}", query)
    };
    let scheme = fill(&c.protocol, "#{protocol}").to_ascii_lowercase();
    let to_host = fill(&c.host, "#{host}");
    let to_port = fill(&c.port, "#{port}");
    let to_path = fill(&c.path, "/#{path}");
    let to_query = fill(&c.query, "#{query}");
    let default_port = matches!(
        (scheme.as_str(), to_port.as_str()),
        ("http", "80") | ("https", "443")
    );
    let mut out = format!("{scheme}://{to_host}");
    if !default_port {
        out.push(':');
        out.push_str(&to_port);
    }
    out.push_str(&to_path);
    if !to_query.is_empty() {
        out.push('?');
        out.push_str(&to_query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elbv2::model::{HttpHeaderConfig, KeyValue, QueryStringConfig, ValuesConfig};

    fn cond(field: &str) -> Condition {
        Condition {
            field: field.into(),
            values: None,
            host_header_config: None,
            path_pattern_config: None,
            http_header_config: None,
            query_string_config: None,
            http_request_method_config: None,
            source_ip_config: None,
        }
    }

    fn vals(v: &[&str]) -> Option<ValuesConfig> {
        Some(ValuesConfig {
            values: v.iter().map(|s| (*s).to_string()).collect(),
        })
    }

    fn facts<'a>(
        path: &'a str,
        query: &'a str,
        headers: &'a dyn Fn(&str) -> Vec<String>,
    ) -> RequestFacts<'a> {
        RequestFacts {
            method: "GET",
            path,
            query,
            host: "Web-1.us-east-1.elb.localhost:8080",
            headers,
            source: "10.1.2.3".parse().unwrap(),
        }
    }

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(wildcard("/api/*", "/api/users", false));
        assert!(wildcard("/api/*", "/api/", false));
        assert!(!wildcard("/api/*", "/api", false));
        assert!(wildcard("/a?c", "/abc", false));
        assert!(!wildcard("/API/*", "/api/x", false));
        assert!(wildcard("*.example.COM", "www.example.com", true));
        assert!(wildcard("*", "", false));
        assert!(wildcard("/*/x/*", "/a/b/x/c", false));
    }

    #[test]
    fn each_condition_field_matches_as_alb_does() {
        let none = |_: &str| Vec::new();
        let headers = |n: &str| {
            if n == "user-agent" {
                vec!["Mozilla/5.0 Mobile".to_string()]
            } else {
                Vec::new()
            }
        };
        let r = facts("/api/users", "lang=EN&x=1", &headers);
        let mut c = cond("path-pattern");
        c.path_pattern_config = vals(&["/api/topics", "/api/users*"]);
        assert!(condition_matches(&c, &r));
        c.path_pattern_config = vals(&["/api/topics"]);
        assert!(!condition_matches(&c, &r));
        let mut c = cond("host-header");
        c.host_header_config = vals(&["api-*.elb.localhost"]);
        assert!(!condition_matches(&c, &r));
        c.host_header_config = vals(&["web-*.us-east-1.elb.localhost"]);
        assert!(condition_matches(&c, &r));
        let mut c = cond("http-header");
        c.http_header_config = Some(HttpHeaderConfig {
            http_header_name: "User-Agent".into(),
            values: vec!["*mobile*".into()],
        });
        assert!(condition_matches(&c, &r));
        assert!(!condition_matches(&c, &facts("/", "", &none)));
        let mut c = cond("http-request-method");
        c.http_request_method_config = vals(&["POST", "GET"]);
        assert!(condition_matches(&c, &r));
        c.http_request_method_config = vals(&["POST"]);
        assert!(!condition_matches(&c, &r));
        let mut c = cond("query-string");
        c.query_string_config = Some(QueryStringConfig {
            values: vec![KeyValue {
                key: Some("lang".into()),
                value: "en".into(),
            }],
        });
        assert!(condition_matches(&c, &r));
        c.query_string_config = Some(QueryStringConfig {
            values: vec![KeyValue {
                key: None,
                value: "1".into(),
            }],
        });
        assert!(condition_matches(&c, &r));
        let mut c = cond("source-ip");
        c.source_ip_config = vals(&["192.168.0.0/16", "10.0.0.0/8"]);
        assert!(condition_matches(&c, &r));
        c.source_ip_config = vals(&["10.1.2.4/32"]);
        assert!(!condition_matches(&c, &r));
    }

    #[test]
    fn the_first_rule_whose_conditions_all_match_wins_and_the_default_catches_the_rest() {
        let none = |_: &str| Vec::new();
        let mut users = cond("path-pattern");
        users.path_pattern_config = vals(&["/api/users*"]);
        let mut post = cond("http-request-method");
        post.http_request_method_config = vals(&["POST"]);
        let mut topics = cond("path-pattern");
        topics.path_pattern_config = vals(&["/api/topics*"]);
        let rules: Vec<Vec<Condition>> = vec![
            vec![users.clone(), post],
            vec![users],
            vec![topics],
            Vec::new(),
        ];
        let pick =
            |path: &str| first_match(rules.iter().map(Vec::as_slice), &facts(path, "", &none));
        assert_eq!(pick("/api/users/7"), Some(1));
        assert_eq!(pick("/api/topics"), Some(2));
        assert_eq!(pick("/"), Some(3));
    }

    #[test]
    fn weights_split_rolls_and_zero_weights_never_win() {
        assert_eq!(pick_weighted(&[1, 1], 0), Some(0));
        assert_eq!(pick_weighted(&[1, 1], 1), Some(1));
        assert_eq!(pick_weighted(&[0, 3], 0), Some(1));
        assert_eq!(pick_weighted(&[2, 1], 2), Some(1));
        assert_eq!(pick_weighted(&[0, 0], 5), None);
        assert_eq!(pick_weighted(&[], 5), None);
    }

    #[test]
    fn round_robin_takes_healthy_targets_in_turn_and_fails_open() {
        let c = |routable, outstanding| Candidate {
            routable,
            outstanding,
        };
        let targets = [c(true, 0), c(false, 0), c(true, 0)];
        let picks: Vec<_> = (0..4)
            .map(|t| choose(&targets, Algorithm::RoundRobin, t))
            .collect();
        assert_eq!(picks, vec![Some(0), Some(2), Some(0), Some(2)]);
        let down = [c(false, 0), c(false, 0)];
        assert_eq!(choose(&down, Algorithm::RoundRobin, 1), Some(1));
        assert_eq!(choose(&[], Algorithm::RoundRobin, 1), None);
    }

    #[test]
    fn least_outstanding_takes_the_least_busy_routable_target() {
        let c = |routable, outstanding| Candidate {
            routable,
            outstanding,
        };
        let targets = [c(true, 3), c(true, 1), c(false, 0), c(true, 1)];
        assert_eq!(choose(&targets, Algorithm::LeastOutstanding, 0), Some(1));
        assert_eq!(choose(&targets, Algorithm::LeastOutstanding, 2), Some(3));
        assert_eq!(
            Algorithm::from_attribute(Some("least_outstanding_requests")),
            Algorithm::LeastOutstanding
        );
        assert_eq!(Algorithm::from_attribute(None), Algorithm::RoundRobin);
    }

    #[test]
    fn redirects_fill_the_request_into_the_template() {
        let c = RedirectConfig {
            protocol: Some("HTTPS".into()),
            port: Some("443".into()),
            host: Some("#{host}".into()),
            path: Some("/#{path}".into()),
            query: Some("#{query}".into()),
            status_code: "HTTP_301".into(),
        };
        assert_eq!(
            redirect_location(&c, "http", "web.localhost", 80, "/a/b", "x=1"),
            "https://web.localhost/a/b?x=1"
        );
        let c = RedirectConfig {
            protocol: Some("#{protocol}".into()),
            port: Some("8443".into()),
            host: Some("other".into()),
            path: Some("/new/#{path}".into()),
            query: Some("#{query}".into()),
            status_code: "HTTP_302".into(),
        };
        assert_eq!(
            redirect_location(&c, "http", "web", 80, "/old", ""),
            "http://other:8443/new/old"
        );
        assert_eq!(host_only("web.localhost:8080"), "web.localhost");
        assert_eq!(host_only("[::1]:80"), "[::1]");
    }
}
