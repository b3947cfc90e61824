//! Listeners and the actions listeners and rules take: Create/Describe/Modify/DeleteListener.
//!
//! A listener's default actions are its default rule's actions: the default rule (priority
//! `default`, created and deleted with the listener) is the one place they are kept, so
//! DescribeListeners and DescribeRules cannot disagree.
//!
//! Actions: `forward` (TargetGroupArn, or ForwardConfig with weighted target groups),
//! `fixed-response` and `redirect` (application load balancers); the authenticate actions are
//! refused. Actions are stored as the API answers them: a forward to one target group carries
//! both TargetGroupArn and the ForwardConfig the service fills in.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Code, invalid_config, validation};
use super::form;
use super::model::{
    Action, ActionType, Certificate, ForwardConfig, LbType, Listener, LoadBalancer, Protocol, Rule,
    Stickiness, Tag, TargetGroupTuple,
};
use super::state::{State, page, random_id, result};
use super::tags;
use crate::front::ApiError;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListenerView<'a> {
    listener_arn: &'a str,
    load_balancer_arn: &'a str,
    port: i64,
    protocol: Protocol,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    certificates: &'a [Certificate],
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_policy: Option<&'a str>,
    default_actions: &'a [Action],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    alpn_policy: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Listeners<'a> {
    listeners: Vec<ListenerView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// CreateListener.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateListener {
    #[serde(default)]
    load_balancer_arn: String,
    protocol: Option<String>,
    #[serde(default, deserialize_with = "form::opt_int")]
    port: Option<i64>,
    ssl_policy: Option<String>,
    #[serde(default, deserialize_with = "form::list")]
    certificates: Vec<Certificate>,
    #[serde(default, deserialize_with = "form::list")]
    default_actions: Vec<Action>,
    #[serde(default, deserialize_with = "form::list")]
    alpn_policy: Vec<String>,
    #[serde(default, deserialize_with = "form::list")]
    tags: Vec<Tag>,
}

/// DescribeListeners.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeListeners {
    load_balancer_arn: Option<String>,
    #[serde(default, deserialize_with = "form::list")]
    listener_arns: Vec<String>,
    marker: Option<String>,
    #[serde(default, deserialize_with = "form::opt_int")]
    page_size: Option<i64>,
}

/// ModifyListener.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyListener {
    #[serde(default)]
    listener_arn: String,
    #[serde(default, deserialize_with = "form::opt_int")]
    port: Option<i64>,
    protocol: Option<String>,
    ssl_policy: Option<String>,
    #[serde(default, deserialize_with = "form::opt_list")]
    certificates: Option<Vec<Certificate>>,
    #[serde(default, deserialize_with = "form::opt_list")]
    default_actions: Option<Vec<Action>>,
    #[serde(default, deserialize_with = "form::opt_list")]
    alpn_policy: Option<Vec<String>>,
}

/// DeleteListener.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteListener {
    #[serde(default)]
    listener_arn: String,
}

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// The security policy HTTPS and TLS listeners get when none is given.
const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// Checks a listener's protocol against its load balancer's type.
fn check_protocol(lb: &LoadBalancer, p: Protocol) -> Result<(), ApiError> {
    let fits = match lb.kind {
        LbType::Application => !p.is_network(),
        LbType::Network => p.is_network(),
    };
    if fits {
        Ok(())
    } else {
        let kind = match lb.kind {
            LbType::Application => "application",
            LbType::Network => "network",
        };
        Err(Code::UnsupportedProtocol.err(format!(
            "Protocol '{}' is not supported for load balancers of type '{kind}'",
            p.as_str()
        )))
    }
}

fn check_port(port: i64) -> Result<i64, ApiError> {
    if (1..=65535).contains(&port) {
        Ok(port)
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{port}' at 'port' failed to satisfy constraint: Member must have value between 1 and 65535"
        )))
    }
}

fn needs_certificate(p: Protocol) -> bool {
    matches!(p, Protocol::Https | Protocol::Tls)
}

impl State {
    /// The listener `arn`.
    pub fn listener(&self, arn: &str) -> Result<&Listener, ApiError> {
        self.listeners
            .get(arn)
            .ok_or_else(|| Code::ListenerNotFound.err(format!("Listener '{arn}' not found")))
    }

    fn listener_view<'a>(&'a self, l: &'a Listener) -> ListenerView<'a> {
        ListenerView {
            listener_arn: &l.arn,
            load_balancer_arn: &l.load_balancer_arn,
            port: l.port,
            protocol: l.protocol,
            certificates: &l.certificates,
            ssl_policy: l.ssl_policy.as_deref(),
            default_actions: self
                .rules
                .get(&l.default_rule_arn)
                .map_or(&[], |r| r.actions.as_slice()),
            alpn_policy: &l.alpn_policy,
        }
    }

    /// `actions` checked for a listener of `protocol` on `lb`, in the form they are stored
    /// and answered.
    pub fn check_actions(
        &self,
        lb: &LoadBalancer,
        protocol: Protocol,
        actions: Vec<Action>,
    ) -> Result<Vec<Action>, ApiError> {
        if actions.is_empty() {
            return Err(validation("At least one action must be specified"));
        }
        let terminal = actions
            .iter()
            .filter(|a| {
                matches!(
                    a.kind,
                    ActionType::Forward | ActionType::FixedResponse | ActionType::Redirect
                )
            })
            .count();
        if terminal != 1 {
            return Err(Code::InvalidLoadBalancerAction
                .err("Exactly one forward, fixed-response or redirect action must be specified"));
        }
        if actions.len() > 1 {
            return Err(Code::TooManyActions.err(
                "Only one action can be specified (authenticate actions are not supported by this emulator)",
            ));
        }
        actions
            .into_iter()
            .map(|a| self.check_action(lb, protocol, a))
            .collect()
    }

    fn check_action(
        &self,
        lb: &LoadBalancer,
        protocol: Protocol,
        mut a: Action,
    ) -> Result<Action, ApiError> {
        if let Some(order) = a.order
            && !(1..=50_000).contains(&order)
        {
            return Err(validation(format!(
                "1 validation error detected: Value '{order}' at 'order' failed to satisfy constraint: Member must have value between 1 and 50000"
            )));
        }
        if lb.kind == LbType::Network && a.kind != ActionType::Forward {
            return Err(Code::InvalidLoadBalancerAction.err(format!(
                "Listeners of network load balancers can only forward, not '{}'",
                action_word(a.kind)
            )));
        }
        match a.kind {
            ActionType::Forward => {
                a.fixed_response_config = None;
                a.redirect_config = None;
                let mut tuples = match (&a.target_group_arn, a.forward_config.take()) {
                    (None, None) => {
                        return Err(validation(
                            "A target group ARN must be specified for a forward action",
                        ));
                    }
                    (Some(arn), None) => vec![TargetGroupTuple {
                        target_group_arn: arn.clone(),
                        weight: Some(1),
                    }],
                    (arn, Some(f)) => {
                        if let Some(arn) = arn
                            && (f.target_groups.len() != 1
                                || &f.target_groups[0].target_group_arn != arn)
                        {
                            return Err(validation(
                                "You cannot specify both a target group ARN and a forward config with other target groups",
                            ));
                        }
                        a.forward_config = Some(f.clone());
                        f.target_groups
                    }
                };
                if tuples.is_empty() || tuples.len() > 5 {
                    return Err(validation(
                        "A forward action must have from 1 to 5 target groups",
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                for t in &mut tuples {
                    let w = t.weight.unwrap_or(1);
                    if !(0..=999).contains(&w) {
                        return Err(validation(format!(
                            "Target group weight '{w}' must be from 0 to 999"
                        )));
                    }
                    t.weight = Some(w);
                    if !seen.insert(t.target_group_arn.clone()) {
                        return Err(validation(format!(
                            "Target group '{}' is specified more than once",
                            t.target_group_arn
                        )));
                    }
                    let tg = self.tgs.get(&t.target_group_arn).ok_or_else(|| {
                        Code::TargetGroupNotFound
                            .err(format!("Target groups '{}' not found", t.target_group_arn))
                    })?;
                    if tg.protocol.is_network() != protocol.is_network() {
                        return Err(Code::IncompatibleProtocols.err(format!(
                            "The target group '{}' has protocol '{}', which is incompatible with the listener's protocol '{}'",
                            tg.arn,
                            tg.protocol.as_str(),
                            protocol.as_str()
                        )));
                    }
                    let others: Vec<String> = self
                        .lbs_of_target_group(&tg.arn)
                        .into_iter()
                        .filter(|l| l != &lb.arn)
                        .collect();
                    if !others.is_empty() {
                        return Err(Code::TargetGroupAssociationLimit.err(format!(
                            "The following target groups cannot be associated with more than one load balancer: {}",
                            tg.arn
                        )));
                    }
                }
                let stickiness = a
                    .forward_config
                    .as_ref()
                    .and_then(|f| f.target_group_stickiness_config.clone())
                    .unwrap_or(Stickiness {
                        enabled: Some(false),
                        duration_seconds: None,
                    });
                a.target_group_arn =
                    (tuples.len() == 1).then(|| tuples[0].target_group_arn.clone());
                a.forward_config = Some(ForwardConfig {
                    target_groups: tuples,
                    target_group_stickiness_config: Some(Stickiness {
                        enabled: Some(stickiness.enabled.unwrap_or(false)),
                        duration_seconds: stickiness.duration_seconds,
                    }),
                });
            }
            ActionType::FixedResponse => {
                a.target_group_arn = None;
                a.forward_config = None;
                a.redirect_config = None;
                let f = a.fixed_response_config.as_ref().ok_or_else(|| {
                    validation("A fixed-response action must have a FixedResponseConfig")
                })?;
                let code_ok = f.status_code.len() == 3
                    && f.status_code.chars().all(|c| c.is_ascii_digit())
                    && matches!(f.status_code.as_bytes()[0], b'2' | b'4' | b'5');
                if !code_ok {
                    return Err(validation(format!(
                        "Fixed response status code '{}' must be 2XX, 4XX or 5XX",
                        f.status_code
                    )));
                }
                if let Some(ct) = &f.content_type
                    && !CONTENT_TYPES.contains(&ct.as_str())
                {
                    return Err(validation(format!(
                        "Fixed response content type '{ct}' must be one of {}",
                        CONTENT_TYPES.join(", ")
                    )));
                }
                if f.message_body.as_ref().is_some_and(|b| b.len() > 1024) {
                    return Err(validation(
                        "A fixed response message body can be at most 1024 characters",
                    ));
                }
            }
            ActionType::Redirect => {
                a.target_group_arn = None;
                a.forward_config = None;
                a.fixed_response_config = None;
                let r = a
                    .redirect_config
                    .as_mut()
                    .ok_or_else(|| validation("A redirect action must have a RedirectConfig"))?;
                if !matches!(r.status_code.as_str(), "HTTP_301" | "HTTP_302") {
                    return Err(validation(format!(
                        "1 validation error detected: Value '{}' at 'statusCode' failed to satisfy constraint: Member must satisfy enum value set: [HTTP_301, HTTP_302]",
                        r.status_code
                    )));
                }
                let unchanged = [
                    (&r.protocol, "#{protocol}"),
                    (&r.port, "#{port}"),
                    (&r.host, "#{host}"),
                    (&r.path, "/#{path}"),
                    (&r.query, "#{query}"),
                ]
                .iter()
                .all(|(v, default)| v.as_deref().is_none_or(|v| v == *default));
                if unchanged {
                    return Err(Code::InvalidLoadBalancerAction.err(
                        "The redirect configuration is not valid: it redirects to the same location",
                    ));
                }
                r.protocol.get_or_insert_with(|| "#{protocol}".into());
                r.port.get_or_insert_with(|| "#{port}".into());
                r.host.get_or_insert_with(|| "#{host}".into());
                r.path.get_or_insert_with(|| "/#{path}".into());
                r.query.get_or_insert_with(|| "#{query}".into());
            }
            ActionType::AuthenticateOidc | ActionType::AuthenticateCognito => {
                return Err(Code::InvalidLoadBalancerAction.err(format!(
                    "Action type '{}' is not supported by this emulator",
                    action_word(a.kind)
                )));
            }
        }
        Ok(a)
    }

    /// CreateListener, with its default rule; the same port with the same settings answers
    /// the existing listener.
    pub fn create_listener(&mut self, req: CreateListener) -> Result<Value, ApiError> {
        let lb = self.lb(&req.load_balancer_arn)?.clone();
        let protocol = Protocol::parse(
            req.protocol
                .as_deref()
                .ok_or_else(|| validation("A listener protocol must be specified"))?,
        )?;
        check_protocol(&lb, protocol)?;
        let port = check_port(
            req.port
                .ok_or_else(|| validation("A listener port must be specified"))?,
        )?;
        if needs_certificate(protocol) && req.certificates.is_empty() {
            return Err(validation(format!(
                "A certificate must be specified for {} listeners",
                protocol.as_str()
            )));
        }
        let actions = self.check_actions(&lb, protocol, req.default_actions)?;
        tags::check(&req.tags)?;
        if let Some(existing) = self
            .listeners
            .values()
            .find(|l| l.load_balancer_arn == lb.arn && l.port == port)
        {
            let same_actions = self
                .rules
                .get(&existing.default_rule_arn)
                .is_some_and(|r| r.actions == actions);
            if existing.protocol != protocol || !same_actions {
                return Err(Code::DuplicateListener.err(format!(
                    "A listener already exists on this port for this load balancer '{}'",
                    lb.arn
                )));
            }
            return Ok(result(&Listeners {
                listeners: vec![self.listener_view(existing)],
                next_marker: None,
            }));
        }
        let lb_path = lb
            .arn
            .split_once(":loadbalancer/")
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        let listener_id = random_id();
        let arn = self.scope.arn(&format!("listener/{lb_path}/{listener_id}"));
        let rule_arn = self.scope.arn(&format!(
            "listener-rule/{lb_path}/{listener_id}/{}",
            random_id()
        ));
        let ssl_policy = needs_certificate(protocol)
            .then(|| req.ssl_policy.unwrap_or_else(|| DEFAULT_SSL_POLICY.into()));
        let listener = Listener {
            arn: arn.clone(),
            load_balancer_arn: lb.arn.clone(),
            port,
            protocol,
            certificates: req.certificates,
            ssl_policy,
            alpn_policy: req.alpn_policy,
            default_rule_arn: rule_arn.clone(),
            tags: req.tags,
        };
        let rule = Rule {
            arn: rule_arn.clone(),
            listener_arn: arn.clone(),
            priority: None,
            conditions: Vec::new(),
            actions,
            tags: Vec::new(),
        };
        self.rules.insert(rule_arn.clone(), rule);
        self.touch_rule(&rule_arn);
        self.listeners.insert(arn.clone(), listener);
        self.touch_listener(&arn);
        let l = self.listener(&arn)?;
        Ok(result(&Listeners {
            listeners: vec![self.listener_view(l)],
            next_marker: None,
        }))
    }

    /// DescribeListeners: of a load balancer or by ARNs, in port order, in pages.
    pub fn describe_listeners(&self, req: &DescribeListeners) -> Result<Value, ApiError> {
        let found: Vec<&Listener> = match (&req.load_balancer_arn, req.listener_arns.is_empty()) {
            (Some(_), false) => {
                return Err(validation(
                    "Listener ARNs and a load balancer ARN cannot be specified at the same time",
                ));
            }
            (None, true) => {
                return Err(validation(
                    "You must specify either listener ARNs or a load balancer ARN",
                ));
            }
            (Some(lb), true) => {
                self.lb(lb)?;
                let mut l: Vec<_> = self
                    .listeners
                    .values()
                    .filter(|l| &l.load_balancer_arn == lb)
                    .collect();
                l.sort_by_key(|l| l.port);
                l
            }
            (None, false) => {
                let found: Vec<_> = req
                    .listener_arns
                    .iter()
                    .filter_map(|a| self.listeners.get(a))
                    .collect();
                if found.len() != req.listener_arns.len() {
                    return Err(Code::ListenerNotFound.err("One or more listeners not found"));
                }
                found
            }
        };
        let (items, next_marker) = page(found, req.marker.as_deref(), req.page_size)?;
        Ok(result(&Listeners {
            listeners: items.into_iter().map(|l| self.listener_view(l)).collect(),
            next_marker,
        }))
    }

    /// ModifyListener: everything is checked before anything changes.
    pub fn modify_listener(&mut self, req: ModifyListener) -> Result<Value, ApiError> {
        let current = self.listener(&req.listener_arn)?.clone();
        let lb = self.lb(&current.load_balancer_arn)?.clone();
        let mut l = current.clone();
        if let Some(p) = &req.protocol {
            l.protocol = Protocol::parse(p)?;
            check_protocol(&lb, l.protocol)?;
        }
        if let Some(port) = req.port {
            l.port = check_port(port)?;
            let taken = self.listeners.values().any(|o| {
                o.load_balancer_arn == l.load_balancer_arn && o.port == l.port && o.arn != l.arn
            });
            if taken {
                return Err(Code::DuplicateListener.err(format!(
                    "A listener already exists on this port for this load balancer '{}'",
                    lb.arn
                )));
            }
        }
        if let Some(c) = req.certificates {
            l.certificates = c;
        }
        if let Some(a) = req.alpn_policy {
            l.alpn_policy = a;
        }
        if needs_certificate(l.protocol) {
            if l.certificates.is_empty() {
                return Err(validation(format!(
                    "A certificate must be specified for {} listeners",
                    l.protocol.as_str()
                )));
            }
            l.ssl_policy = Some(
                req.ssl_policy
                    .or(l.ssl_policy)
                    .unwrap_or_else(|| DEFAULT_SSL_POLICY.into()),
            );
        } else {
            l.certificates.clear();
            l.ssl_policy = None;
        }
        let default_rule = self
            .rules
            .get(&l.default_rule_arn)
            .cloned()
            .ok_or_else(|| invalid_config("The listener has no default rule"))?;
        let actions = match req.default_actions {
            Some(a) => self.check_actions(&lb, l.protocol, a)?,
            None => default_rule.actions.clone(),
        };
        // The rules' target groups were checked against the old protocol; they still fit, as
        // `check_protocol` keeps the listener in its load balancer type's protocol family.
        let arn = l.arn.clone();
        self.rules.insert(
            default_rule.arn.clone(),
            Rule {
                actions,
                ..default_rule.clone()
            },
        );
        self.touch_rule(&default_rule.arn);
        self.listeners.insert(arn.clone(), l);
        self.touch_listener(&arn);
        let l = self.listener(&arn)?;
        Ok(result(&Listeners {
            listeners: vec![self.listener_view(l)],
            next_marker: None,
        }))
    }

    /// DeleteListener, with its rules.
    pub fn delete_listener(&mut self, req: &DeleteListener) -> Result<Value, ApiError> {
        self.listener(&req.listener_arn)?;
        self.remove_listener(&req.listener_arn);
        Ok(Value::Null)
    }

    /// Removes a listener and its rules.
    pub fn remove_listener(&mut self, arn: &str) {
        let rules: Vec<String> = self
            .rules
            .values()
            .filter(|r| r.listener_arn == arn)
            .map(|r| r.arn.clone())
            .collect();
        for r in rules {
            self.rules.remove(&r);
            self.touch_rule(&r);
        }
        self.listeners.remove(arn);
        self.touch_listener(arn);
    }
}

/// The wire word of an action type.
fn action_word(kind: ActionType) -> &'static str {
    match kind {
        ActionType::Forward => "forward",
        ActionType::FixedResponse => "fixed-response",
        ActionType::Redirect => "redirect",
        ActionType::AuthenticateOidc => "authenticate-oidc",
        ActionType::AuthenticateCognito => "authenticate-cognito",
    }
}
