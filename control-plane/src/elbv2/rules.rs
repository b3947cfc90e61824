//! Listener rules: Create/Describe/Modify/DeleteRule and SetRulePriorities, with their
//! conditions (host-header, path-pattern, http-header, http-request-method, query-string,
//! source-ip) in the legacy `Values` form (host-header and path-pattern) and the `*Config` form.
//! Each listener has one default rule (priority `default`, no conditions), which holds the
//! listener's default actions and cannot be deleted or given a priority.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Code, invalid_config, validation};
use super::form;
use super::model::{Action, Condition, LbType, Rule, Tag, ValuesConfig};
use super::state::{State, page, random_id, result};
use super::tags;
use crate::front::ApiError;

/// Condition values per rule.
const MAX_CONDITION_VALUES: usize = 5;

impl Condition {
    /// Which configs are set, by field name.
    fn configs(&self) -> Vec<&'static str> {
        [
            (self.host_header_config.is_some(), "host-header"),
            (self.path_pattern_config.is_some(), "path-pattern"),
            (self.http_header_config.is_some(), "http-header"),
            (self.query_string_config.is_some(), "query-string"),
            (
                self.http_request_method_config.is_some(),
                "http-request-method",
            ),
            (self.source_ip_config.is_some(), "source-ip"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    /// The condition checked, in the form the service answers (host-header and path-pattern
    /// carry both `Values` and their config); returns it with its number of values.
    fn checked(mut self) -> Result<(Self, usize), ApiError> {
        let field = self.field.clone();
        let configs = self.configs();
        if configs.iter().any(|c| *c != field) {
            return Err(validation(format!(
                "A condition with field '{field}' cannot have the config of '{}'",
                configs.join("', '")
            )));
        }
        let legacy = matches!(field.as_str(), "host-header" | "path-pattern");
        if self.values.is_some() && !legacy {
            return Err(validation(format!(
                "The condition field '{field}' takes its values in its config, not in 'Values'"
            )));
        }
        if self.values.is_some() && !configs.is_empty() {
            return Err(validation(format!(
                "The condition field '{field}' cannot have both 'Values' and a config"
            )));
        }
        let count = match field.as_str() {
            "host-header" | "path-pattern" => {
                let values = match (
                    &self.values,
                    &self.host_header_config,
                    &self.path_pattern_config,
                ) {
                    (Some(v), _, _) => v.clone(),
                    (None, Some(c), _) | (None, None, Some(c)) => c.values.clone(),
                    (None, None, None) => Vec::new(),
                };
                check_values(&field, &values)?;
                let config = Some(ValuesConfig {
                    values: values.clone(),
                });
                if field == "host-header" {
                    self.host_header_config = config;
                } else {
                    self.path_pattern_config = config;
                }
                self.values = Some(values.clone());
                values.len()
            }
            "http-header" => {
                let c = self.http_header_config.as_ref().ok_or_else(|| {
                    validation("An http-header condition must have an HttpHeaderConfig")
                })?;
                if c.http_header_name.is_empty() || c.http_header_name.len() > 40 {
                    return Err(validation(
                        "An http-header condition must name a header of at most 40 characters",
                    ));
                }
                check_values(&field, &c.values)?;
                c.values.len()
            }
            "query-string" => {
                let c = self.query_string_config.as_ref().ok_or_else(|| {
                    validation("A query-string condition must have a QueryStringConfig")
                })?;
                if c.values.is_empty() || c.values.iter().any(|kv| kv.value.is_empty()) {
                    return Err(validation(
                        "A query-string condition must have key/value pairs, each with a value",
                    ));
                }
                c.values.len()
            }
            "http-request-method" => {
                let c = self.http_request_method_config.as_ref().ok_or_else(|| {
                    validation(
                        "An http-request-method condition must have an HttpRequestMethodConfig",
                    )
                })?;
                check_values(&field, &c.values)?;
                if let Some(bad) = c.values.iter().find(|m| {
                    !m.chars()
                        .all(|ch| ch.is_ascii_uppercase() || ch == '_' || ch == '-')
                }) {
                    return Err(validation(format!(
                        "HTTP request method '{bad}' can only contain A-Z, '_' and '-'"
                    )));
                }
                c.values.len()
            }
            "source-ip" => {
                let c = self.source_ip_config.as_ref().ok_or_else(|| {
                    validation("A source-ip condition must have a SourceIpConfig")
                })?;
                check_values(&field, &c.values)?;
                if let Some(bad) = c.values.iter().find(|v| !is_cidr(v)) {
                    return Err(validation(format!(
                        "Source IP '{bad}' is not a valid CIDR block"
                    )));
                }
                c.values.len()
            }
            "" => return Err(validation("A condition must have a field")),
            other => {
                return Err(validation(format!(
                    "Condition field '{other}' must be one of host-header, path-pattern, http-header, http-request-method, query-string, source-ip"
                )));
            }
        };
        Ok((self, count))
    }
}

fn check_values(field: &str, values: &[String]) -> Result<(), ApiError> {
    if values.is_empty() {
        return Err(validation(format!(
            "A '{field}' condition must have at least one value"
        )));
    }
    if let Some(v) = values.iter().find(|v| v.is_empty() || v.len() > 128) {
        return Err(validation(format!(
            "Condition value '{v}' must be from 1 to 128 characters"
        )));
    }
    Ok(())
}

fn is_cidr(v: &str) -> bool {
    let Some((ip, bits)) = v.split_once('/') else {
        return false;
    };
    match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
        _ => false,
    }
}

/// A rule's conditions checked together.
fn check_conditions(conditions: Vec<Condition>) -> Result<Vec<Condition>, ApiError> {
    if conditions.is_empty() {
        return Err(validation("A rule must have at least one condition"));
    }
    let mut once = BTreeSet::new();
    let mut total = 0;
    let mut out = Vec::new();
    for c in conditions {
        let (c, n) = c.checked()?;
        let single = matches!(
            c.field.as_str(),
            "host-header" | "path-pattern" | "http-request-method" | "source-ip"
        );
        if single && !once.insert(c.field.clone()) {
            return Err(validation(format!(
                "A rule can only have one '{}' condition",
                c.field
            )));
        }
        total += n;
        out.push(c);
    }
    if total > MAX_CONDITION_VALUES {
        return Err(validation(format!(
            "A rule can only have '{MAX_CONDITION_VALUES}' condition values"
        )));
    }
    Ok(out)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuleView<'a> {
    rule_arn: &'a str,
    priority: String,
    conditions: &'a [Condition],
    actions: &'a [Action],
    is_default: bool,
}

impl Rule {
    fn view(&self) -> RuleView<'_> {
        RuleView {
            rule_arn: &self.arn,
            priority: self
                .priority
                .map_or_else(|| "default".to_string(), |p| p.to_string()),
            conditions: &self.conditions,
            actions: &self.actions,
            is_default: self.priority.is_none(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Rules<'a> {
    rules: Vec<RuleView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// CreateRule.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRule {
    #[serde(default)]
    listener_arn: String,
    #[serde(default, deserialize_with = "form::list")]
    conditions: Vec<Condition>,
    #[serde(default, deserialize_with = "form::opt_int")]
    priority: Option<i64>,
    #[serde(default, deserialize_with = "form::list")]
    actions: Vec<Action>,
    #[serde(default, deserialize_with = "form::list")]
    tags: Vec<Tag>,
}

/// DescribeRules.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRules {
    listener_arn: Option<String>,
    #[serde(default, deserialize_with = "form::list")]
    rule_arns: Vec<String>,
    marker: Option<String>,
    #[serde(default, deserialize_with = "form::opt_int")]
    page_size: Option<i64>,
}

/// ModifyRule.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyRule {
    #[serde(default)]
    rule_arn: String,
    #[serde(default, deserialize_with = "form::opt_list")]
    conditions: Option<Vec<Condition>>,
    #[serde(default, deserialize_with = "form::opt_list")]
    actions: Option<Vec<Action>>,
}

/// DeleteRule.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRule {
    #[serde(default)]
    rule_arn: String,
}

/// One entry of SetRulePriorities.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RulePriorityPair {
    #[serde(default)]
    rule_arn: String,
    #[serde(default, deserialize_with = "form::opt_int")]
    priority: Option<i64>,
}

/// SetRulePriorities.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetRulePriorities {
    #[serde(default, deserialize_with = "form::list")]
    rule_priorities: Vec<RulePriorityPair>,
}

fn check_priority(p: Option<i64>) -> Result<i64, ApiError> {
    match p {
        Some(p @ 1..=50_000) => Ok(p),
        Some(p) => Err(validation(format!(
            "1 validation error detected: Value '{p}' at 'priority' failed to satisfy constraint: Member must have value between 1 and 50000"
        ))),
        None => Err(validation("A rule priority must be specified")),
    }
}

fn priority_in_use(p: i64) -> ApiError {
    Code::PriorityInUse.err(format!("Priority '{p}' is currently in use"))
}

impl State {
    /// The rule `arn`.
    pub fn rule(&self, arn: &str) -> Result<&Rule, ApiError> {
        self.rules
            .get(arn)
            .ok_or_else(|| Code::RuleNotFound.err(format!("Rule '{arn}' not found")))
    }

    /// The actions checked for the listener `listener_arn`.
    fn rule_actions(
        &self,
        listener_arn: &str,
        actions: Vec<Action>,
    ) -> Result<Vec<Action>, ApiError> {
        let listener = self.listener(listener_arn)?;
        let lb = self.lb(&listener.load_balancer_arn)?;
        self.check_actions(lb, listener.protocol, actions)
    }

    /// CreateRule.
    pub fn create_rule(&mut self, req: CreateRule) -> Result<Value, ApiError> {
        let listener = self.listener(&req.listener_arn)?.clone();
        if self.lb(&listener.load_balancer_arn)?.kind == LbType::Network {
            return Err(invalid_config(
                "Rules are only supported on listeners of application load balancers",
            ));
        }
        let priority = check_priority(req.priority)?;
        let conditions = check_conditions(req.conditions)?;
        let actions = self.rule_actions(&listener.arn, req.actions)?;
        tags::check(&req.tags)?;
        if self
            .rules
            .values()
            .any(|r| r.listener_arn == listener.arn && r.priority == Some(priority))
        {
            return Err(priority_in_use(priority));
        }
        let listener_path = listener
            .arn
            .split_once(":listener/")
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        let arn = self
            .scope
            .arn(&format!("listener-rule/{listener_path}/{}", random_id()));
        let rule = Rule {
            arn: arn.clone(),
            listener_arn: listener.arn,
            priority: Some(priority),
            conditions,
            actions,
            tags: req.tags,
        };
        let answer = result(&Rules {
            rules: vec![rule.view()],
            next_marker: None,
        });
        self.rules.insert(arn.clone(), rule);
        self.touch_rule(&arn);
        Ok(answer)
    }

    /// DescribeRules: of a listener (by priority, the default last) or by ARNs, in pages.
    pub fn describe_rules(&self, req: &DescribeRules) -> Result<Value, ApiError> {
        let found: Vec<&Rule> = match (&req.listener_arn, req.rule_arns.is_empty()) {
            (Some(_), false) => {
                return Err(validation(
                    "Rule ARNs and a listener ARN cannot be specified at the same time",
                ));
            }
            (None, true) => {
                return Err(validation(
                    "You must specify either listener ARN or rule ARNs",
                ));
            }
            (Some(l), true) => {
                self.listener(l)?;
                let mut rules: Vec<_> = self
                    .rules
                    .values()
                    .filter(|r| &r.listener_arn == l)
                    .collect();
                rules.sort_by_key(|r| r.priority.unwrap_or(i64::MAX));
                rules
            }
            (None, false) => {
                let found: Vec<_> = req
                    .rule_arns
                    .iter()
                    .filter_map(|a| self.rules.get(a))
                    .collect();
                if found.len() != req.rule_arns.len() {
                    return Err(Code::RuleNotFound.err("One or more rules not found"));
                }
                found
            }
        };
        let (items, next_marker) = page(found, req.marker.as_deref(), req.page_size)?;
        Ok(result(&Rules {
            rules: items.into_iter().map(Rule::view).collect(),
            next_marker,
        }))
    }

    /// ModifyRule: conditions and actions replaced (a default rule's actions only).
    pub fn modify_rule(&mut self, req: ModifyRule) -> Result<Value, ApiError> {
        let mut rule = self.rule(&req.rule_arn)?.clone();
        if let Some(c) = req.conditions {
            if rule.priority.is_none() {
                return Err(Code::OperationNotPermitted.err(format!(
                    "The conditions of default rule '{}' cannot be modified",
                    rule.arn
                )));
            }
            rule.conditions = check_conditions(c)?;
        }
        if let Some(a) = req.actions {
            rule.actions = self.rule_actions(&rule.listener_arn, a)?;
        }
        let answer = result(&Rules {
            rules: vec![rule.view()],
            next_marker: None,
        });
        let arn = rule.arn.clone();
        self.rules.insert(arn.clone(), rule);
        self.touch_rule(&arn);
        Ok(answer)
    }

    /// DeleteRule (not a default rule).
    pub fn delete_rule(&mut self, req: &DeleteRule) -> Result<Value, ApiError> {
        let rule = self.rule(&req.rule_arn)?;
        if rule.priority.is_none() {
            return Err(Code::OperationNotPermitted
                .err(format!("Default rule '{}' cannot be deleted", rule.arn)));
        }
        self.rules.remove(&req.rule_arn);
        self.touch_rule(&req.rule_arn);
        Ok(Value::Null)
    }

    /// SetRulePriorities: all the new priorities are checked together, then set.
    pub fn set_rule_priorities(&mut self, req: &SetRulePriorities) -> Result<Value, ApiError> {
        if req.rule_priorities.is_empty() {
            return Err(validation("At least one rule priority must be specified"));
        }
        let mut new: BTreeMap<String, i64> = BTreeMap::new();
        for p in &req.rule_priorities {
            let rule = self.rule(&p.rule_arn)?;
            if rule.priority.is_none() {
                return Err(Code::OperationNotPermitted.err(format!(
                    "The priority of default rule '{}' cannot be changed",
                    rule.arn
                )));
            }
            new.insert(p.rule_arn.clone(), check_priority(p.priority)?);
        }
        let mut taken: BTreeSet<(String, i64)> = BTreeSet::new();
        for r in self.rules.values() {
            let p = new.get(&r.arn).copied().or(r.priority);
            if let Some(p) = p
                && !taken.insert((r.listener_arn.clone(), p))
            {
                return Err(priority_in_use(p));
            }
        }
        for (arn, p) in &new {
            if let Some(r) = self.rules.get_mut(arn) {
                r.priority = Some(*p);
            }
            self.touch_rule(arn);
        }
        let rules: Vec<&Rule> = new.keys().filter_map(|a| self.rules.get(a)).collect();
        Ok(result(&Rules {
            rules: rules.into_iter().map(Rule::view).collect(),
            next_marker: None,
        }))
    }
}
