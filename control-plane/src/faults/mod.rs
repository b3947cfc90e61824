//! Fault injection: the rule set that the front consults once per request (after recognising the
//! service and operation, before the service sees the request), and the admin HTTP API
//! ([`admin`]) that edits it, drops ACS sessions and expires task credentials.
//!
//! A rule names a service (the front's service name: `ecs`, `logs`, `ecr`, `sts`, ...) and an
//! operation (`ListClusters`, `PutLogEvents`, or `*` for every one) and says what to do: delay the
//! request, fail it with a chosen AWS error code, message and HTTP status, or both; for the next
//! `count` matching requests, or until removed. The front renders the error in the service's own
//! format, so rules need no per-service code here.
//!
//! What it must not do: depend on any other module of the crate (the front depends on it), or
//! cost anything when the admin interface is off (the front then holds no [`Faults`] at all).

pub mod admin;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most rules kept at once, so a runaway script cannot grow the set without bound.
pub const MAX_RULES: usize = 1000;
/// The longest delay a rule may ask for (ten minutes).
pub const MAX_DELAY_MS: u64 = 600_000;
/// The most distinct error codes ever accepted (each is kept for the process's life).
const MAX_CODES: usize = 256;

/// Why a rule was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RuleError {
    /// The JSON member at fault (`error.status`, `delay_ms`, ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> RuleError {
    RuleError {
        field,
        problem: problem.into(),
    }
}

/// The AWS error a rule answers with, as the admin API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// The error code (`ThrottlingException`, `ServiceUnavailableException`, ...).
    pub code: String,
    /// Its message; empty when not given.
    #[serde(default)]
    pub message: String,
    /// The HTTP status (400 to 599); 400 when not given.
    #[serde(default = "default_status")]
    pub status: u16,
}

fn default_status() -> u16 {
    400
}

/// A rule as the admin API takes it (`POST /faults`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The service's name in the front (`ecs`, `logs`, `ecr`, `sts`, `ssm`, ...).
    pub service: String,
    /// The operation (`ListClusters`), or `*` for every request of the service.
    pub operation: String,
    /// Fail matching requests with this error.
    #[serde(default)]
    pub error: Option<ErrorSpec>,
    /// Delay matching requests by this many milliseconds (before failing them, with `error`).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Apply to this many matching requests, then remove the rule; forever when not given.
    #[serde(default)]
    pub count: Option<u32>,
}

/// What a fault does to one request: wait, then maybe fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// How long to hold the request first.
    pub delay: Duration,
    /// The error to answer with, if any; otherwise the request proceeds after the delay.
    pub error: Option<InjectedError>,
}

/// An injected AWS error: code, message and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedError {
    /// The code, kept for the process's life (error codes are `'static` in the front).
    pub code: &'static str,
    /// The message.
    pub message: &'static str,
    /// The HTTP status.
    pub status: u16,
}

/// A rule in the set, as `GET /faults` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Its id, for `DELETE /faults/{id}`.
    pub id: u64,
    /// The service it matches.
    pub service: String,
    /// The operation it matches (`*`: any).
    pub operation: String,
    /// The error it answers with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorSpec>,
    /// The delay it adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Matching requests left before it is removed; `None`: until removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// Requests it has applied to so far.
    pub hits: u64,
    #[serde(skip)]
    injected: Option<InjectedError>,
}

impl Rule {
    fn matches(&self, service: &str, operation: Option<&str>) -> bool {
        self.service == service
            && (self.operation == "*" || Some(self.operation.as_str()) == operation)
    }
}

/// Checks a rule from the admin API. Pure but for [`intern`] of its code and message.
fn validate(spec: RuleSpec, id: u64) -> Result<Rule, RuleError> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    if !name_ok(&spec.service) {
        return Err(invalid(
            "service",
            "must be a service name such as ecs, logs or ecr",
        ));
    }
    if spec.operation != "*" && !name_ok(&spec.operation) {
        return Err(invalid(
            "operation",
            "must be an operation name such as ListClusters, or *",
        ));
    }
    if spec.error.is_none() && spec.delay_ms.is_none() {
        return Err(invalid("error", "a rule needs error, delay_ms or both"));
    }
    if let Some(ms) = spec.delay_ms
        && ms > MAX_DELAY_MS
    {
        return Err(invalid("delay_ms", format!("at most {MAX_DELAY_MS}")));
    }
    if spec.count == Some(0) {
        return Err(invalid(
            "count",
            "must be at least 1 (leave it out for no limit)",
        ));
    }
    let injected = match &spec.error {
        None => None,
        Some(e) => {
            if !(400..=599).contains(&e.status) {
                return Err(invalid(
                    "error.status",
                    "must be an HTTP error status, 400 to 599",
                ));
            }
            if e.code.is_empty()
                || e.code.len() > 128
                || !e
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
            {
                return Err(invalid(
                    "error.code",
                    "must be an AWS error code such as ThrottlingException",
                ));
            }
            if e.message.len() > 1024 {
                return Err(invalid("error.message", "at most 1024 bytes"));
            }
            Some(InjectedError {
                code: intern(&e.code).ok_or_else(|| {
                    invalid(
                        "error.code",
                        format!("more than {MAX_CODES} distinct codes and messages were used"),
                    )
                })?,
                message: intern(&e.message).ok_or_else(|| {
                    invalid(
                        "error.message",
                        format!("more than {MAX_CODES} distinct codes and messages were used"),
                    )
                })?,
                status: e.status,
            })
        }
    };
    Ok(Rule {
        id,
        service: spec.service,
        operation: spec.operation,
        error: spec.error,
        delay_ms: spec.delay_ms,
        remaining: spec.count,
        hits: 0,
        injected,
    })
}

/// Keeps `s` for the life of the process and returns it as `'static`, once per distinct string:
/// the front's error codes are `&'static str`, and admins use a handful of codes. `None` when
/// [`MAX_CODES`] distinct strings are kept already.
fn intern(s: &str) -> Option<&'static str> {
    // A lock because the set is shared by every admin request; held for a lookup and an insert.
    static KEPT: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(k) = kept.get(s) {
        return Some(k);
    }
    if kept.len() >= MAX_CODES {
        return None;
    }
    let k: &'static str = Box::leak(s.to_string().into_boxed_str());
    kept.insert(k);
    Some(k)
}

#[derive(Debug, Default)]
struct RuleSet {
    next_id: u64,
    rules: BTreeMap<u64, Rule>,
}

impl RuleSet {
    /// The first rule (oldest first) matching the request, counted; a rule whose count is used
    /// up is removed.
    fn apply(&mut self, service: &str, operation: Option<&str>) -> Option<Verdict> {
        let id = self
            .rules
            .values()
            .find(|r| r.matches(service, operation))?
            .id;
        let rule = self.rules.get_mut(&id)?;
        rule.hits += 1;
        let verdict = Verdict {
            delay: Duration::from_millis(rule.delay_ms.unwrap_or(0)),
            error: rule.injected,
        };
        if let Some(left) = rule.remaining.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.rules.remove(&id);
            }
        }
        Some(verdict)
    }
}

/// The fault rules (a cheap, cloneable handle shared by the front and the admin API).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// A lock rather than an actor: every request takes it once for a short scan with no
    /// `.await` inside, and an actor round trip would cost more than the scan.
    rules: Arc<Mutex<RuleSet>>,
}

impl Faults {
    /// An empty rule set.
    pub fn new() -> Self {
        Faults::default()
    }

    fn lock(&self) -> MutexGuard<'_, RuleSet> {
        // Each change is a single insert or remove: a panic leaves a consistent set.
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What to do with a request for `service`'s `operation` (`None` for REST requests, which
    /// only `*` rules match), counting it against the rule that matched.
    pub fn check(&self, service: &str, operation: Option<&str>) -> Option<Verdict> {
        self.lock().apply(service, operation)
    }

    /// Adds a rule; returns it with its id.
    pub fn add(&self, spec: RuleSpec) -> Result<Rule, RuleError> {
        let mut set = self.lock();
        if set.rules.len() >= MAX_RULES {
            return Err(invalid(
                "service",
                format!("at most {MAX_RULES} rules at once; delete some"),
            ));
        }
        set.next_id += 1;
        let rule = validate(spec, set.next_id)?;
        set.rules.insert(rule.id, rule.clone());
        Ok(rule)
    }

    /// Every rule, oldest first.
    pub fn list(&self) -> Vec<Rule> {
        self.lock().rules.values().cloned().collect()
    }

    /// Removes rule `id`; whether it was there.
    pub fn remove(&self, id: u64) -> bool {
        self.lock().rules.remove(&id).is_some()
    }

    /// Removes every rule; how many there were.
    pub fn clear(&self) -> usize {
        let mut set = self.lock();
        let n = set.rules.len();
        set.rules.clear();
        n
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn spec(json: &str) -> RuleSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_counted_error_rule_applies_that_many_times_then_goes() {
        let f = Faults::new();
        let r = f
            .add(spec(r#"{"service":"ecs","operation":"ListClusters","error":{"code":"ThrottlingException","message":"Rate exceeded"},"count":2}"#))
            .unwrap();
        assert_eq!(r.remaining, Some(2));
        assert_eq!(f.check("ecs", Some("RunTask")), None);
        assert_eq!(f.check("logs", Some("ListClusters")), None);
        for _ in 0..2 {
            let v = f.check("ecs", Some("ListClusters")).unwrap();
            assert_eq!(v.delay, Duration::ZERO);
            let e = v.error.unwrap();
            assert_eq!(
                (e.code, e.message, e.status),
                ("ThrottlingException", "Rate exceeded", 400)
            );
        }
        assert_eq!(f.check("ecs", Some("ListClusters")), None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn a_wildcard_delay_rule_matches_every_operation_and_rest_requests_until_removed() {
        let f = Faults::new();
        let r = f
            .add(spec(r#"{"service":"s3","operation":"*","delay_ms":250}"#))
            .unwrap();
        for op in [Some("GetObject"), None, Some("PutObject")] {
            let v = f.check("s3", op).unwrap();
            assert_eq!(
                v,
                Verdict {
                    delay: Duration::from_millis(250),
                    error: None
                }
            );
        }
        assert_eq!(f.list()[0].hits, 3);
        assert!(f.remove(r.id));
        assert!(!f.remove(r.id));
        assert_eq!(f.check("s3", None), None);
    }

    #[test]
    fn the_oldest_matching_rule_wins_and_clear_removes_all() {
        let f = Faults::new();
        f.add(spec(r#"{"service":"logs","operation":"PutLogEvents","error":{"code":"ServiceUnavailableException","status":500},"count":1}"#)).unwrap();
        f.add(spec(r#"{"service":"logs","operation":"*","delay_ms":5}"#))
            .unwrap();
        let first = f.check("logs", Some("PutLogEvents")).unwrap();
        assert_eq!(first.error.unwrap().status, 500);
        assert_eq!(first.error.unwrap().message, "");
        let second = f.check("logs", Some("PutLogEvents")).unwrap();
        assert_eq!(second.error, None);
        assert_eq!(f.clear(), 1);
    }

    #[test]
    fn bad_rules_are_refused_naming_the_field() {
        let f = Faults::new();
        let field = |json: &str| f.add(spec(json)).unwrap_err().field;
        assert_eq!(
            field(r#"{"service":"","operation":"X","delay_ms":1}"#),
            "service"
        );
        assert_eq!(
            field(r#"{"service":"ecs","operation":"a b","delay_ms":1}"#),
            "operation"
        );
        assert_eq!(field(r#"{"service":"ecs","operation":"X"}"#), "error");
        assert_eq!(
            field(r#"{"service":"ecs","operation":"X","delay_ms":600001}"#),
            "delay_ms"
        );
        assert_eq!(
            field(r#"{"service":"ecs","operation":"X","delay_ms":1,"count":0}"#),
            "count"
        );
        assert_eq!(
            field(r#"{"service":"ecs","operation":"X","error":{"code":"E","status":200}}"#),
            "error.status"
        );
        assert_eq!(
            field(r#"{"service":"ecs","operation":"X","error":{"code":"<x>"}}"#),
            "error.code"
        );
        assert!(
            serde_json::from_str::<RuleSpec>(r#"{"service":"ecs","operation":"X","delay":1}"#)
                .is_err()
        );
        assert!(f.list().is_empty());
    }

    #[test]
    fn codes_are_kept_once() {
        assert!(std::ptr::eq(
            intern("SameCode").unwrap(),
            intern("SameCode").unwrap()
        ));
    }
}
