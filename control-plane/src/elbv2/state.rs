//! The ELBv2 state: load balancers, target groups (with their targets), listeners and rules,
//! keyed by ARN, plain data with synchronous operations (unit-tested without I/O). It records
//! which entities changed so that its owner ([`super::Elbv2Handle`]) persists exactly those rows
//! (`elbv2/lb/<arn>`, `elbv2/tg/<arn>`, `elbv2/listener/<arn>`, `elbv2/rule/<arn>`).
//!
//! Time enters only as the `now` each command carries: a deregistered target drains until its
//! deadline and is then dropped, by [`State::expire`] before each command.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use super::error::validation;
use super::health::HealthBoard;
use super::model::{Listener, LoadBalancer, Rule, TargetGroup};
use crate::front::ApiError;
use crate::store::{self, Change};

/// The key prefix of every ELBv2 row.
pub const KEY_PREFIX: &str = "elbv2/";
const LB_PREFIX: &str = "elbv2/lb/";
const TG_PREFIX: &str = "elbv2/tg/";
const LISTENER_PREFIX: &str = "elbv2/listener/";
const RULE_PREFIX: &str = "elbv2/rule/";

/// Where resources live: their ARNs' region and account, and the VPC they are in.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Region of every ARN.
    pub region: String,
    /// Account of every ARN.
    pub account_id: String,
    /// The VPC of load balancers (there is no emulated VPC: one stable made-up id).
    pub vpc_id: String,
}

impl Scope {
    /// The scope of `region` and `account_id`, with the default VPC id.
    pub fn new(region: &str, account_id: &str) -> Self {
        Scope {
            region: region.to_string(),
            account_id: account_id.to_string(),
            vpc_id: DEFAULT_VPC_ID.to_string(),
        }
    }

    /// `arn:aws:elasticloadbalancing:<region>:<account>:<resource>`.
    pub fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{resource}",
            self.region, self.account_id
        )
    }
}

/// The VPC every load balancer is in (and the default of nothing else: target groups name theirs).
pub const DEFAULT_VPC_ID: &str = "vpc-0e1b5c7a9d3f24680";

/// Every ELBv2 entity, keyed by ARN.
#[derive(Debug, Clone)]
pub struct State {
    /// Region, account, VPC.
    pub scope: Scope,
    /// Load balancers.
    pub lbs: BTreeMap<String, LoadBalancer>,
    /// Target groups.
    pub tgs: BTreeMap<String, TargetGroup>,
    /// Listeners.
    pub listeners: BTreeMap<String, Listener>,
    /// Rules, the listeners' default rules among them.
    pub rules: BTreeMap<String, Rule>,
    /// Runtime target health, written by the data plane's checkers (not persisted); empty
    /// without a data plane.
    pub health: HealthBoard,
    dirty: Dirty,
}

#[derive(Debug, Default, Clone)]
struct Dirty {
    lbs: BTreeSet<String>,
    tgs: BTreeSet<String>,
    listeners: BTreeSet<String>,
    rules: BTreeSet<String>,
}

impl State {
    /// No resources.
    pub fn new(scope: Scope) -> Self {
        State {
            scope,
            lbs: BTreeMap::new(),
            tgs: BTreeMap::new(),
            listeners: BTreeMap::new(),
            rules: BTreeMap::new(),
            health: HealthBoard::default(),
            dirty: Dirty::default(),
        }
    }

    /// The state saved in `rows` (others' rows are skipped).
    pub fn restore(scope: Scope, rows: &[(String, Vec<u8>)]) -> Result<Self, serde_json::Error> {
        let mut s = State::new(scope);
        for (key, bytes) in rows {
            let _ = store::restore_entity(&mut s.lbs, LB_PREFIX, key, bytes)?
                || store::restore_entity(&mut s.tgs, TG_PREFIX, key, bytes)?
                || store::restore_entity(&mut s.listeners, LISTENER_PREFIX, key, bytes)?
                || store::restore_entity(&mut s.rules, RULE_PREFIX, key, bytes)?;
        }
        Ok(s)
    }

    /// The rows to write for what changed since the last call.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut changes = store::entity_changes(&self.lbs, &mut self.dirty.lbs, LB_PREFIX);
        changes.extend(store::entity_changes(
            &self.tgs,
            &mut self.dirty.tgs,
            TG_PREFIX,
        ));
        changes.extend(store::entity_changes(
            &self.listeners,
            &mut self.dirty.listeners,
            LISTENER_PREFIX,
        ));
        changes.extend(store::entity_changes(
            &self.rules,
            &mut self.dirty.rules,
            RULE_PREFIX,
        ));
        changes
    }

    /// Marks a load balancer changed (or removed).
    pub fn touch_lb(&mut self, arn: &str) {
        self.dirty.lbs.insert(arn.to_string());
    }

    /// Marks a target group changed (or removed).
    pub fn touch_tg(&mut self, arn: &str) {
        self.dirty.tgs.insert(arn.to_string());
    }

    /// Marks a listener changed (or removed).
    pub fn touch_listener(&mut self, arn: &str) {
        self.dirty.listeners.insert(arn.to_string());
    }

    /// Marks a rule changed (or removed).
    pub fn touch_rule(&mut self, arn: &str) {
        self.dirty.rules.insert(arn.to_string());
    }

    /// Drops the targets whose deregistration delay is over.
    pub fn expire(&mut self, now: f64) {
        let mut changed = Vec::new();
        for (arn, tg) in &mut self.tgs {
            let before = tg.targets.len();
            tg.targets
                .retain(|t| t.draining_until.is_none_or(|until| until > now));
            if tg.targets.len() != before {
                changed.push(arn.clone());
            }
        }
        for arn in changed {
            self.touch_tg(&arn);
        }
    }

    /// The load balancers whose listeners or rules forward to target group `tg_arn`.
    pub fn lbs_of_target_group(&self, tg_arn: &str) -> BTreeSet<String> {
        self.rules
            .values()
            .filter(|r| {
                r.actions
                    .iter()
                    .any(|a| a.target_groups().contains(&tg_arn))
            })
            .filter_map(|r| self.listeners.get(&r.listener_arn))
            .map(|l| l.load_balancer_arn.clone())
            .collect()
    }
}

/// 16 random hex digits, the id part of every ARN.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

/// Epoch seconds as ELBv2's timestamps: `2026-12-07T11:19:21.123Z`.
pub fn iso8601(epoch: f64) -> String {
    crate::front::render::iso8601_millis(epoch)
}

/// The entries of `map` under each of `arns`, in the order asked; `None` when one is missing
/// (ELBv2 then answers its "One or more ... not found").
pub fn all_by_arn<'a, T>(map: &'a BTreeMap<String, T>, arns: &[String]) -> Option<Vec<&'a T>> {
    arns.iter().map(|a| map.get(a)).collect()
}

/// The entries of `map` named each of `names`, in the order asked; the missing names, joined
/// as ELBv2 lists them in its "'[a, b]' not found", when some are not there.
pub fn all_by_name<'a, T>(
    map: &'a BTreeMap<String, T>,
    names: &[String],
    name_of: impl Fn(&T) -> &str,
) -> Result<Vec<&'a T>, String> {
    let find = |n: &str| map.values().find(|v| name_of(v) == n);
    let missing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| find(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(missing.join(", "));
    }
    Ok(names.iter().filter_map(|n| find(n)).collect())
}

/// One page of `items` from `marker` (an offset this service handed out), at most `page_size`
/// (1 to 400, default 400); the next marker when more are left.
pub fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    page_size: Option<i64>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let size = match page_size {
        None => 400,
        Some(n @ 1..=400) => usize::try_from(n).unwrap_or(400),
        Some(n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 400"
            )));
        }
    };
    let start = match marker {
        None => 0,
        Some(m) => base64::engine::general_purpose::STANDARD
            .decode(m)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| validation("Invalid Marker"))?,
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let next = (start + size < total)
        .then(|| base64::engine::general_purpose::STANDARD.encode((start + size).to_string()));
    Ok((items, next))
}

/// A result as the XML of its members.
pub fn result<T: Serialize>(t: &T) -> Value {
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_value(t).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hand_out_markers_until_the_end() {
        let (p, m) = page((0..5).collect(), None, Some(2)).unwrap();
        assert_eq!(p, vec![0, 1]);
        let (p, m) = page((0..5).collect(), m.as_deref(), Some(2)).unwrap();
        assert_eq!(p, vec![2, 3]);
        let (p, m) = page((0..5).collect(), m.as_deref(), Some(2)).unwrap();
        assert_eq!((p, m), (vec![4], None));
        assert!(page::<i32>(vec![], Some("zz"), None).is_err());
        assert!(page::<i32>(vec![], None, Some(0)).is_err());
    }

    #[test]
    fn timestamps_have_milliseconds() {
        assert_eq!(iso8601(1.5), "1970-01-01T00:00:01.500Z");
    }
}
