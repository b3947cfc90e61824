//! The ELBv2 entities as stored (and, for actions, conditions and tags, as the API carries
//! them): load balancers, target groups with their targets, listeners, rules, and the enums
//! they are made of. Plain data; the operations on them are in one file per resource, and
//! [`super::state::State`] keys them by ARN.

use serde::{Deserialize, Serialize};

use super::attributes::{APPLICATION_LB, Attributes, NETWORK_LB, Spec};
use super::error::{Code, validation};
use super::form;
use crate::front::ApiError;

/// `application` or `network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbType {
    /// An Application Load Balancer (HTTP, HTTPS).
    Application,
    /// A Network Load Balancer (TCP, TLS, UDP, TCP_UDP).
    Network,
}

impl LbType {
    /// The word in ARNs: `app` or `net`.
    pub fn arn_word(self) -> &'static str {
        match self {
            LbType::Application => "app",
            LbType::Network => "net",
        }
    }

    /// Its attribute keys.
    pub fn attribute_specs(self) -> &'static [Spec] {
        match self {
            LbType::Application => APPLICATION_LB,
            LbType::Network => NETWORK_LB,
        }
    }
}

/// `internet-facing` or `internal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Reachable from the internet.
    InternetFacing,
    /// Inside the VPC only.
    Internal,
}

/// A load balancer's state code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbState {
    /// Just created.
    Provisioning,
    /// Ready.
    Active,
}

/// One subnet of a load balancer and the zone it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Zone {
    /// `us-east-1a`, ...
    pub zone_name: String,
    /// The subnet.
    pub subnet_id: String,
}

/// A load balancer as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Application or network.
    pub kind: LbType,
    /// Internet-facing or internal.
    pub scheme: Scheme,
    /// Its DNS name.
    pub dns_name: String,
    /// Its Route 53 hosted zone.
    pub hosted_zone_id: String,
    /// Epoch seconds.
    pub created: f64,
    /// Its VPC.
    pub vpc_id: String,
    /// Its subnets.
    pub zones: Vec<Zone>,
    /// Its security groups.
    pub security_groups: Vec<String>,
    /// `ipv4` or `dualstack`.
    pub ip_address_type: String,
    /// Attributes, every key of its type present.
    pub attributes: Attributes,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A listener's or target group's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Protocol {
    /// HTTP.
    Http,
    /// HTTPS.
    Https,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
    /// UDP.
    Udp,
    /// TCP and UDP on one port.
    TcpUdp,
}

impl Protocol {
    /// The protocol named `s` (the enum's words).
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "HTTP" => Ok(Protocol::Http),
            "HTTPS" => Ok(Protocol::Https),
            "TCP" => Ok(Protocol::Tcp),
            "TLS" => Ok(Protocol::Tls),
            "UDP" => Ok(Protocol::Udp),
            "TCP_UDP" => Ok(Protocol::TcpUdp),
            "GENEVE" => Err(Code::UnsupportedProtocol.err(
                "Protocol 'GENEVE' (gateway load balancers) is not supported by this emulator",
            )),
            other => Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'protocol' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE]"
            ))),
        }
    }

    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Udp => "UDP",
            Protocol::TcpUdp => "TCP_UDP",
        }
    }

    /// TCP, TLS, UDP or TCP_UDP: a network load balancer's.
    pub fn is_network(self) -> bool {
        !matches!(self, Protocol::Http | Protocol::Https)
    }
}

/// `instance` or `ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// EC2 instance ids.
    Instance,
    /// IP addresses.
    Ip,
}

/// A target group's health check settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// HTTP, HTTPS or TCP.
    pub protocol: Protocol,
    /// `traffic-port` or a port number.
    pub port: String,
    /// Whether checks are on.
    pub enabled: bool,
    /// HTTP(S) checks' path.
    pub path: Option<String>,
    /// Seconds between checks.
    pub interval: i64,
    /// Seconds before a check fails.
    pub timeout: i64,
    /// Successes to become healthy.
    pub healthy: i64,
    /// Failures to become unhealthy.
    pub unhealthy: i64,
    /// HTTP(S) checks' success codes.
    pub matcher: Option<String>,
}

/// A registered target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Instance id or IP address.
    pub id: String,
    /// Its port.
    pub port: i64,
    /// Its zone, if given.
    pub availability_zone: Option<String>,
    /// Set by DeregisterTargets: the epoch second it is dropped at.
    pub draining_until: Option<f64>,
}

/// A target group as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroup {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// HTTP1, HTTP2 or GRPC (HTTP and HTTPS groups).
    pub protocol_version: Option<String>,
    /// Its port (the targets' default).
    pub port: i64,
    /// Its VPC.
    pub vpc_id: String,
    /// Instance or ip.
    pub target_type: TargetType,
    /// Health check settings.
    pub health: HealthCheck,
    /// Attributes, every key of its protocol present.
    pub attributes: Attributes,
    /// Registered (and draining) targets.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionType {
    /// Forward to target groups.
    Forward,
    /// Answer with a fixed response.
    FixedResponse,
    /// Redirect.
    Redirect,
    /// OIDC authentication (refused).
    AuthenticateOidc,
    /// Cognito authentication (refused).
    AuthenticateCognito,
}

/// One target group of a forward action, with its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroupTuple {
    /// The group.
    #[serde(default)]
    pub target_group_arn: String,
    /// Its weight (0 to 999).
    #[serde(default, deserialize_with = "form::opt_int")]
    pub weight: Option<i64>,
}

/// Stickiness across a forward action's target groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stickiness {
    /// Whether it is on.
    #[serde(default, deserialize_with = "form::opt_bool")]
    pub enabled: Option<bool>,
    /// For how long.
    #[serde(
        default,
        deserialize_with = "form::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration_seconds: Option<i64>,
}

/// A forward action's target groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardConfig {
    /// The groups.
    #[serde(default, deserialize_with = "form::list")]
    pub target_groups: Vec<TargetGroupTuple>,
    /// Stickiness between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_stickiness_config: Option<Stickiness>,
}

/// A fixed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FixedResponseConfig {
    /// The body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
    /// `2XX`, `4XX` or `5XX`.
    #[serde(default)]
    pub status_code: String,
    /// The content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RedirectConfig {
    /// Target protocol (`#{protocol}` keeps the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Target port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Target host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Target path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Target query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `HTTP_301` or `HTTP_302`.
    #[serde(default)]
    pub status_code: String,
}

/// An action, as given and as stored and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    /// What it does.
    #[serde(rename = "Type")]
    pub kind: ActionType,
    /// The one target group of a forward action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// Its place among the actions.
    #[serde(
        default,
        deserialize_with = "form::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub order: Option<i64>,
    /// A forward action's target groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_config: Option<ForwardConfig>,
    /// A fixed response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<FixedResponseConfig>,
    /// A redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_config: Option<RedirectConfig>,
}

impl Action {
    /// The target groups it forwards to.
    pub fn target_groups(&self) -> Vec<&str> {
        let mut arns: Vec<&str> = self.target_group_arn.iter().map(String::as_str).collect();
        if let Some(f) = &self.forward_config {
            for t in &f.target_groups {
                if !arns.contains(&t.target_group_arn.as_str()) {
                    arns.push(&t.target_group_arn);
                }
            }
        }
        arns
    }
}

/// A certificate of an HTTPS or TLS listener (any ARN: there is no emulated ACM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Certificate {
    /// The certificate.
    #[serde(default)]
    pub certificate_arn: String,
}

/// A listener as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    /// Its ARN.
    pub arn: String,
    /// Its load balancer.
    pub load_balancer_arn: String,
    /// Its port.
    pub port: i64,
    /// Its protocol.
    pub protocol: Protocol,
    /// HTTPS and TLS certificates.
    pub certificates: Vec<Certificate>,
    /// HTTPS and TLS security policy.
    pub ssl_policy: Option<String>,
    /// TLS ALPN policy.
    #[serde(default)]
    pub alpn_policy: Vec<String>,
    /// Its default rule (which holds the default actions).
    pub default_rule_arn: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A list of values inside a condition's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValuesConfig {
    /// The values.
    #[serde(default, deserialize_with = "form::list")]
    pub values: Vec<String>,
}

/// An http-header condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpHeaderConfig {
    /// The header.
    #[serde(default)]
    pub http_header_name: String,
    /// Its accepted values.
    #[serde(default, deserialize_with = "form::list")]
    pub values: Vec<String>,
}

/// One key/value pair of a query-string condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    /// The key (any key when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// A query-string condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryStringConfig {
    /// The pairs.
    #[serde(default, deserialize_with = "form::list")]
    pub values: Vec<KeyValue>,
}

/// A rule condition, as given and as stored and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Condition {
    /// Which condition.
    #[serde(default)]
    pub field: String,
    /// The legacy values (host-header and path-pattern).
    #[serde(
        default,
        deserialize_with = "form::opt_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub values: Option<Vec<String>>,
    /// host-header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header_config: Option<ValuesConfig>,
    /// path-pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_pattern_config: Option<ValuesConfig>,
    /// http-header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_header_config: Option<HttpHeaderConfig>,
    /// query-string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_config: Option<QueryStringConfig>,
    /// http-request-method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_request_method_config: Option<ValuesConfig>,
    /// source-ip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_config: Option<ValuesConfig>,
}

/// A rule as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Its ARN.
    pub arn: String,
    /// Its listener.
    pub listener_arn: String,
    /// 1 to 50000; `None` for the default rule.
    pub priority: Option<i64>,
    /// Its conditions (none for the default rule).
    pub conditions: Vec<Condition>,
    /// Its actions.
    pub actions: Vec<Action>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
