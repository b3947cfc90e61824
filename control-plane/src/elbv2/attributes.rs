//! Load balancer and target group attributes: which keys each kind has, their defaults as the
//! real service lists them, and what values each key takes. Stored as a key -> value map beside
//! the resource; an unknown key or a bad value leaves the map unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{invalid_config, validation};
use crate::front::ApiError;

/// What values a key takes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    Int(i64, i64),
    /// 0 (off) or an integer in the range.
    ZeroOr(i64, i64),
    OneOf(&'static [&'static str]),
    Text,
}

/// One attribute key with its default.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    key: &'static str,
    default: &'static str,
    kind: Kind,
}

const fn spec(key: &'static str, default: &'static str, kind: Kind) -> Spec {
    Spec { key, default, kind }
}

/// An Application Load Balancer's attributes.
pub const APPLICATION_LB: &[Spec] = &[
    spec("access_logs.s3.enabled", "false", Kind::Bool),
    spec("access_logs.s3.bucket", "", Kind::Text),
    spec("access_logs.s3.prefix", "", Kind::Text),
    spec("client_keep_alive.seconds", "3600", Kind::Int(60, 604_800)),
    spec("connection_logs.s3.enabled", "false", Kind::Bool),
    spec("connection_logs.s3.bucket", "", Kind::Text),
    spec("connection_logs.s3.prefix", "", Kind::Text),
    spec("deletion_protection.enabled", "false", Kind::Bool),
    spec("idle_timeout.timeout_seconds", "60", Kind::Int(1, 4000)),
    spec(
        "routing.http.desync_mitigation_mode",
        "defensive",
        Kind::OneOf(&["monitor", "defensive", "strictest"]),
    ),
    spec(
        "routing.http.drop_invalid_header_fields.enabled",
        "false",
        Kind::Bool,
    ),
    spec(
        "routing.http.preserve_host_header.enabled",
        "false",
        Kind::Bool,
    ),
    spec(
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
        "false",
        Kind::Bool,
    ),
    spec("routing.http.xff_client_port.enabled", "false", Kind::Bool),
    spec(
        "routing.http.xff_header_processing.mode",
        "append",
        Kind::OneOf(&["append", "preserve", "remove"]),
    ),
    spec("routing.http2.enabled", "true", Kind::Bool),
    spec("waf.fail_open.enabled", "false", Kind::Bool),
    spec("zonal_shift.config.enabled", "false", Kind::Bool),
];

/// A Network Load Balancer's attributes.
pub const NETWORK_LB: &[Spec] = &[
    spec("access_logs.s3.enabled", "false", Kind::Bool),
    spec("access_logs.s3.bucket", "", Kind::Text),
    spec("access_logs.s3.prefix", "", Kind::Text),
    spec("deletion_protection.enabled", "false", Kind::Bool),
    spec(
        "dns_record.client_routing_policy",
        "any_availability_zone",
        Kind::OneOf(&[
            "availability_zone_affinity",
            "partial_availability_zone_affinity",
            "any_availability_zone",
        ]),
    ),
    spec("load_balancing.cross_zone.enabled", "false", Kind::Bool),
    spec("zonal_shift.config.enabled", "false", Kind::Bool),
];

const TARGET_GROUP_HEALTH: &[Spec] = &[
    spec(
        "load_balancing.cross_zone.enabled",
        "use_load_balancer_configuration",
        Kind::OneOf(&["true", "false", "use_load_balancer_configuration"]),
    ),
    spec(
        "target_group_health.dns_failover.minimum_healthy_targets.count",
        "1",
        Kind::Text,
    ),
    spec(
        "target_group_health.dns_failover.minimum_healthy_targets.percentage",
        "off",
        Kind::Text,
    ),
    spec(
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
        "1",
        Kind::Text,
    ),
    spec(
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
        "off",
        Kind::Text,
    ),
];

/// An HTTP or HTTPS target group's own attributes (plus [`TARGET_GROUP_HEALTH`]).
const HTTP_TARGET_GROUP: &[Spec] = &[
    spec(
        "deregistration_delay.timeout_seconds",
        "300",
        Kind::Int(0, 3600),
    ),
    spec(
        "load_balancing.algorithm.type",
        "round_robin",
        Kind::OneOf(&[
            "round_robin",
            "least_outstanding_requests",
            "weighted_random",
        ]),
    ),
    spec(
        "load_balancing.algorithm.anomaly_mitigation",
        "off",
        Kind::OneOf(&["on", "off"]),
    ),
    spec("slow_start.duration_seconds", "0", Kind::ZeroOr(30, 900)),
    spec("stickiness.enabled", "false", Kind::Bool),
    spec(
        "stickiness.type",
        "lb_cookie",
        Kind::OneOf(&["lb_cookie", "app_cookie"]),
    ),
    spec(
        "stickiness.lb_cookie.duration_seconds",
        "86400",
        Kind::Int(1, 604_800),
    ),
    spec("stickiness.app_cookie.cookie_name", "", Kind::Text),
    spec(
        "stickiness.app_cookie.duration_seconds",
        "86400",
        Kind::Int(1, 604_800),
    ),
];

/// A TCP, TLS, UDP or TCP_UDP target group's own attributes (plus [`TARGET_GROUP_HEALTH`]);
/// `preserve_client_ip.enabled` is added with its default by [`target_group_defaults`].
const NETWORK_TARGET_GROUP: &[Spec] = &[
    spec(
        "deregistration_delay.connection_termination.enabled",
        "false",
        Kind::Bool,
    ),
    spec(
        "deregistration_delay.timeout_seconds",
        "300",
        Kind::Int(0, 3600),
    ),
    spec("proxy_protocol_v2.enabled", "false", Kind::Bool),
    spec("stickiness.enabled", "false", Kind::Bool),
    spec("stickiness.type", "source_ip", Kind::OneOf(&["source_ip"])),
    spec(
        "target_health_state.unhealthy.connection_termination.enabled",
        "true",
        Kind::Bool,
    ),
];

/// A resource's attributes: key -> value, every key of its kind present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes(pub BTreeMap<String, String>);

/// One attribute as the API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attribute {
    /// The key.
    pub key: String,
    /// The value (absent is empty).
    #[serde(default)]
    pub value: String,
}

impl Attributes {
    /// The defaults of `specs`.
    pub fn defaults(specs: &[Spec]) -> Self {
        Attributes(
            specs
                .iter()
                .map(|s| (s.key.to_string(), s.default.to_string()))
                .collect(),
        )
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// An integer attribute (0 when absent or not a number).
    pub fn int(&self, key: &str) -> i64 {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Every attribute, in key order.
    pub fn list(&self) -> Vec<Attribute> {
        self.0
            .iter()
            .map(|(k, v)| Attribute {
                key: k.clone(),
                value: v.clone(),
            })
            .collect()
    }

    /// Sets `changes` after checking every one against `specs` (`what` names the resource kind
    /// in messages: `Load balancer`, `Target group`); nothing is set if one is refused.
    pub fn modify(
        &mut self,
        specs: &[Spec],
        what: &str,
        changes: &[Attribute],
    ) -> Result<(), ApiError> {
        if changes.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'attributes' failed to satisfy constraint: Member must not be null",
            ));
        }
        for a in changes {
            let Some(spec) = specs.iter().find(|s| s.key == a.key) else {
                return Err(validation(format!(
                    "{what} attribute key '{}' is not recognized",
                    a.key
                )));
            };
            let ok = match spec.kind {
                Kind::Bool => a.value == "true" || a.value == "false",
                Kind::Int(min, max) => a
                    .value
                    .parse::<i64>()
                    .is_ok_and(|n| (min..=max).contains(&n)),
                Kind::ZeroOr(min, max) => a
                    .value
                    .parse::<i64>()
                    .is_ok_and(|n| n == 0 || (min..=max).contains(&n)),
                Kind::OneOf(values) => values.contains(&a.value.as_str()),
                Kind::Text => true,
            };
            if !ok {
                let expected = match spec.kind {
                    Kind::Bool => "must be 'true' or 'false'".to_string(),
                    Kind::Int(min, max) => format!("must be an integer from {min} to {max}"),
                    Kind::ZeroOr(min, max) => {
                        format!("must be 0 or an integer from {min} to {max}")
                    }
                    Kind::OneOf(values) => format!("must be one of [{}]", values.join(", ")),
                    Kind::Text => String::new(),
                };
                return Err(invalid_config(format!(
                    "{what} attribute '{}' value '{}' is not valid: it {expected}",
                    a.key, a.value
                )));
            }
        }
        for a in changes {
            self.0.insert(a.key.clone(), a.value.clone());
        }
        Ok(())
    }
}

/// The attribute keys of a target group of `protocol` (None: a protocol-less group).
pub fn target_group_specs(network: bool) -> Vec<Spec> {
    let own = if network {
        NETWORK_TARGET_GROUP
    } else {
        HTTP_TARGET_GROUP
    };
    let mut specs: Vec<Spec> = own.iter().chain(TARGET_GROUP_HEALTH).copied().collect();
    if network {
        specs.push(spec("preserve_client_ip.enabled", "true", Kind::Bool));
    }
    specs
}

/// A new target group's attributes; `preserve_client_ip.enabled` defaults to false for `ip`
/// targets over TCP or TLS, true otherwise.
pub fn target_group_defaults(network: bool, ip_tcp_or_tls: bool) -> Attributes {
    let mut a = Attributes::defaults(&target_group_specs(network));
    if network && ip_tcp_or_tls {
        a.0.insert("preserve_client_ip.enabled".into(), "false".into());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::ErrorCode;

    fn attr(k: &str, v: &str) -> Attribute {
        Attribute {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn application_defaults_are_the_services() {
        let a = Attributes::defaults(APPLICATION_LB);
        assert_eq!(a.get("idle_timeout.timeout_seconds"), Some("60"));
        assert_eq!(a.get("deletion_protection.enabled"), Some("false"));
        assert_eq!(a.get("routing.http2.enabled"), Some("true"));
    }

    #[test]
    fn a_bad_change_sets_nothing() {
        let mut a = Attributes::defaults(APPLICATION_LB);
        let e = a
            .modify(
                APPLICATION_LB,
                "Load balancer",
                &[
                    attr("idle_timeout.timeout_seconds", "120"),
                    attr("routing.http2.enabled", "maybe"),
                ],
            )
            .unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidConfigurationRequest");
        assert_eq!(a.get("idle_timeout.timeout_seconds"), Some("60"));
        let e = a
            .modify(APPLICATION_LB, "Load balancer", &[attr("nope", "1")])
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationError);
        a.modify(
            APPLICATION_LB,
            "Load balancer",
            &[attr("idle_timeout.timeout_seconds", "120")],
        )
        .unwrap();
        assert_eq!(a.int("idle_timeout.timeout_seconds"), 120);
    }

    #[test]
    fn target_group_algorithm_and_delay() {
        let specs = target_group_specs(false);
        let mut a = target_group_defaults(false, false);
        assert_eq!(a.int("deregistration_delay.timeout_seconds"), 300);
        a.modify(
            &specs,
            "Target group",
            &[attr(
                "load_balancing.algorithm.type",
                "least_outstanding_requests",
            )],
        )
        .unwrap();
        assert!(
            a.modify(
                &specs,
                "Target group",
                &[attr("load_balancing.algorithm.type", "random")]
            )
            .is_err()
        );
        for (value, fits) in [("0", true), ("10", false), ("30", true), ("901", false)] {
            let change = [attr("slow_start.duration_seconds", value)];
            assert_eq!(
                a.modify(&specs, "Target group", &change).is_ok(),
                fits,
                "{value}"
            );
        }
        let n = target_group_defaults(true, true);
        assert_eq!(n.get("preserve_client_ip.enabled"), Some("false"));
        assert_eq!(n.get("stickiness.type"), Some("source_ip"));
    }
}
