//! Target health: what DescribeTargetHealth says (ELB's states and reason codes), the health
//! check state machine each checked target runs, the matcher of HTTP health checks, and one
//! check (an HTTP GET or a TCP connect).
//!
//! Who owns what: the data plane ([`super::dataplane`]) runs one checker task per checked target
//! and is the only writer of its [`TargetSlot`]; the proxies read a slot's routable flag on each
//! request (an atomic); the ELBv2 state reads the slots through the [`HealthBoard`] when it
//! answers DescribeTargetHealth. Health is runtime state: it is not persisted, and after a
//! restart every target starts `initial` again, as on a fresh registration.
//!
//! The machine ([`Machine`]) is pure and driven by explicit instants: a target is `initial`
//! (`Elb.RegistrationInProgress`) until its first check, `initial`
//! (`Elb.InitialHealthChecking`) until `HealthyThresholdCount` checks in a row pass (`healthy`)
//! or `UnhealthyThresholdCount` checks in a row fail (`unhealthy`); a healthy target becomes
//! unhealthy after `UnhealthyThresholdCount` failures in a row, an unhealthy one healthy after
//! `HealthyThresholdCount` successes in a row. The reason of `unhealthy` is the last failure's:
//! `Target.ResponseCodeMismatch` (with the codes seen), `Target.Timeout`, or
//! `Target.FailedHealthChecks` (the connection failed or the answer was not HTTP).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// A target's health state, as DescribeTargetHealth words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Registered, not yet decided by health checks.
    Initial,
    /// Passing its health checks.
    Healthy,
    /// Failing its health checks.
    Unhealthy,
    /// Not receiving traffic (no load balancer, or not registered).
    Unused,
    /// Deregistration in progress.
    Draining,
    /// Health checks are disabled.
    Unavailable,
}

/// Why a target is in its state (ELBv2's `TargetHealthReasonEnum`, the values this emulator
/// gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthReason {
    /// `Elb.RegistrationInProgress`: no check has finished yet.
    RegistrationInProgress,
    /// `Elb.InitialHealthChecking`: checks run, not yet enough to decide.
    InitialHealthChecking,
    /// `Target.ResponseCodeMismatch`: the check's HTTP code is not the matcher's.
    ResponseCodeMismatch,
    /// `Target.Timeout`: the check timed out.
    Timeout,
    /// `Target.FailedHealthChecks`: the connection failed or the answer was malformed.
    FailedHealthChecks,
    /// `Target.NotInUse`.
    NotInUse,
    /// `Target.NotRegistered`.
    NotRegistered,
    /// `Target.DeregistrationInProgress`.
    DeregistrationInProgress,
    /// `Target.HealthCheckDisabled`.
    HealthCheckDisabled,
}

impl HealthReason {
    /// The reason code.
    pub fn code(self) -> &'static str {
        match self {
            HealthReason::RegistrationInProgress => "Elb.RegistrationInProgress",
            HealthReason::InitialHealthChecking => "Elb.InitialHealthChecking",
            HealthReason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            HealthReason::Timeout => "Target.Timeout",
            HealthReason::FailedHealthChecks => "Target.FailedHealthChecks",
            HealthReason::NotInUse => "Target.NotInUse",
            HealthReason::NotRegistered => "Target.NotRegistered",
            HealthReason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            HealthReason::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }

    /// The service's description (without the codes of a mismatch).
    pub fn description(self) -> &'static str {
        match self {
            HealthReason::RegistrationInProgress => "Target registration is in progress",
            HealthReason::InitialHealthChecking => "Initial health checks in progress",
            HealthReason::ResponseCodeMismatch => "Health checks failed with these codes",
            HealthReason::Timeout => "Request timed out",
            HealthReason::FailedHealthChecks => "Health checks failed",
            HealthReason::NotInUse => {
                "Target group is not configured to receive traffic from the load balancer"
            }
            HealthReason::NotRegistered => "Target is not registered to the target group",
            HealthReason::DeregistrationInProgress => "Target deregistration is in progress",
            HealthReason::HealthCheckDisabled => "Health checks disabled",
        }
    }
}

/// What the checks say about one target: a state, and a reason unless healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Initial, healthy or unhealthy.
    pub state: HealthState,
    /// None when healthy.
    pub reason: Option<HealthReason>,
    /// The HTTP code of the last mismatch.
    pub code: Option<u16>,
}

impl Observed {
    /// Before any check.
    pub fn registering() -> Self {
        Observed {
            state: HealthState::Initial,
            reason: Some(HealthReason::RegistrationInProgress),
            code: None,
        }
    }

    /// The description DescribeTargetHealth gives (none when healthy).
    pub fn description(&self) -> Option<String> {
        let reason = self.reason?;
        Some(match (reason, self.code) {
            (HealthReason::ResponseCodeMismatch, Some(c)) => {
                format!("{}: [{c}]", reason.description())
            }
            _ => reason.description().to_string(),
        })
    }
}

/// The result of one health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Pass,
    /// An HTTP answer with a code the matcher does not accept.
    Code(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection failed, or the answer was not HTTP.
    Failed,
}

/// HTTP codes a health check accepts: `200`, `200-299`, `200,302`, or a mix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher(Vec<(u16, u16)>);

impl Matcher {
    /// Parses a matcher's `HttpCode` (codes 200 to 499, as the API checks them).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (part, part),
            };
            let code = |c: &str| {
                c.parse::<u16>()
                    .ok()
                    .filter(|n| (200..=499).contains(n))
                    .ok_or_else(|| format!("'{c}' is not an HTTP code from 200 to 499"))
            };
            let (lo, hi) = (code(lo)?, code(hi)?);
            if lo > hi {
                return Err(format!("'{part}' is not a range"));
            }
            ranges.push((lo, hi));
        }
        Ok(Matcher(ranges))
    }

    /// The default matcher: 200 only.
    pub fn ok_only() -> Self {
        Matcher(vec![(200, 200)])
    }

    /// Whether `code` passes.
    pub fn accepts(&self, code: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code))
    }
}

/// The thresholds and interval a [`Machine`] runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thresholds {
    /// Successes in a row to become healthy.
    pub healthy: u32,
    /// Failures in a row to become unhealthy.
    pub unhealthy: u32,
    /// Time between checks.
    pub interval: Duration,
}

/// One target's health check state machine (pure: instants come in, nothing sleeps).
#[derive(Debug, Clone)]
pub struct Machine {
    thresholds: Thresholds,
    observed: Observed,
    passes: u32,
    failures: u32,
    next_due: Instant,
}

impl Machine {
    /// A target registered at `now`: its first check is due at once.
    pub fn new(thresholds: Thresholds, now: Instant) -> Self {
        Machine {
            thresholds,
            observed: Observed::registering(),
            passes: 0,
            failures: 0,
            next_due: now,
        }
    }

    /// What the checks say so far.
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    /// When the next check is due.
    pub fn next_due(&self) -> Instant {
        self.next_due
    }

    /// Records a check that finished at `now`; the next one is due an interval later.
    pub fn record(&mut self, outcome: Outcome, now: Instant) {
        self.next_due = now + self.thresholds.interval;
        if outcome == Outcome::Pass {
            self.passes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.passes = 0;
        }
        let state = self.observed.state;
        if outcome == Outcome::Pass {
            if self.passes >= self.thresholds.healthy {
                self.observed = Observed {
                    state: HealthState::Healthy,
                    reason: None,
                    code: None,
                };
            } else if state == HealthState::Initial {
                self.observed.reason = Some(HealthReason::InitialHealthChecking);
            }
            return;
        }
        let (reason, code) = match outcome {
            Outcome::Code(c) => (HealthReason::ResponseCodeMismatch, Some(c)),
            Outcome::Timeout => (HealthReason::Timeout, None),
            Outcome::Failed | Outcome::Pass => (HealthReason::FailedHealthChecks, None),
        };
        if self.failures >= self.thresholds.unhealthy {
            self.observed = Observed {
                state: HealthState::Unhealthy,
                reason: Some(reason),
                code,
            };
        } else if state == HealthState::Initial {
            self.observed.reason = Some(HealthReason::InitialHealthChecking);
        } else if state == HealthState::Unhealthy {
            // Still unhealthy: the reason follows the latest failure.
            self.observed.reason = Some(reason);
            self.observed.code = code;
        }
    }
}

/// One registered target's runtime state, shared by its checker (the only writer of its
/// health), the proxies and DescribeTargetHealth.
#[derive(Debug)]
pub struct TargetSlot {
    /// Requests in flight to it (least outstanding requests).
    pub outstanding: AtomicUsize,
    /// Whether it takes new requests: healthy, or not checked (checks disabled).
    routable: AtomicBool,
    /// What its checks say. A lock for a small value read by DescribeTargetHealth; never held
    /// across an await.
    observed: Mutex<Observed>,
    /// Cancelled when its deregistration delay ends: requests still in flight to it are cut
    /// then.
    retired: tokio_util::sync::CancellationToken,
}

impl TargetSlot {
    /// A slot for a target whose checks have not run (`checked`), or that is not checked.
    pub fn new(checked: bool) -> Self {
        TargetSlot {
            outstanding: AtomicUsize::new(0),
            routable: AtomicBool::new(!checked),
            observed: Mutex::new(Observed::registering()),
            retired: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Ends its requests in flight (its deregistration delay is over).
    pub fn retire(&self) {
        self.retired.cancel();
    }

    /// Resolves once it is retired.
    pub async fn retired(&self) {
        self.retired.cancelled().await;
    }

    /// Whether it takes new requests when some target of its group does.
    pub fn routable(&self) -> bool {
        self.routable.load(Ordering::Relaxed)
    }

    /// What its checks say.
    pub fn observed(&self) -> Observed {
        self.observed
            .lock()
            .map(|o| o.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Marks it not checked (health checks disabled): it takes requests.
    pub fn unchecked(&self) {
        self.routable.store(true, Ordering::Relaxed);
    }

    /// Publishes what the checks say.
    pub fn publish(&self, o: &Observed) {
        self.routable
            .store(o.state == HealthState::Healthy, Ordering::Relaxed);
        match self.observed.lock() {
            Ok(mut g) => g.clone_from(o),
            Err(p) => p.into_inner().clone_from(o),
        }
    }
}

/// A checked target: target group ARN, target id, port.
pub type TargetKey = (String, String, i64);

/// Every checked target's slot, by key: written by the data plane (slots added and removed as
/// targets come and go), read by DescribeTargetHealth. A lock because both sides take one short
/// look (a map insert, a map get); never held across an await.
#[derive(Debug, Clone, Default)]
pub struct HealthBoard(Arc<Mutex<HashMap<TargetKey, Arc<TargetSlot>>>>);

impl HealthBoard {
    /// The slot of `key`, if the data plane checks it.
    pub fn get(&self, key: &TargetKey) -> Option<Arc<TargetSlot>> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).cloned()
    }

    /// The slot of `key`, created (not yet checked, or never checked when `checked` is false)
    /// if there is none.
    pub fn slot(&self, key: &TargetKey, checked: bool) -> Arc<TargetSlot> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            map.entry(key.clone())
                .or_insert_with(|| Arc::new(TargetSlot::new(checked))),
        )
    }

    /// Drops every slot whose key `keep` refuses.
    pub fn retain(&self, keep: impl Fn(&TargetKey) -> bool) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|k, _| keep(k));
    }
}

/// How one target is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckSpec {
    /// Where: the target's address and the traffic or health check port.
    pub addr: SocketAddr,
    /// HTTP GET `path` (and its matcher), or a TCP connect when `None`.
    pub http: Option<(String, Matcher)>,
    /// Per check.
    pub timeout: Duration,
    /// Thresholds and interval.
    pub thresholds: Thresholds,
}

/// Runs one check of `spec` (an HTTP GET on a fresh connection, or a TCP connect).
pub async fn check_once(spec: &CheckSpec) -> Outcome {
    let attempt = async {
        let stream = match tokio::net::TcpStream::connect(spec.addr).await {
            Ok(s) => s,
            Err(_) => return Outcome::Failed,
        };
        let Some((path, matcher)) = &spec.http else {
            return Outcome::Pass;
        };
        let io = hyper_util::rt::TokioIo::new(stream);
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(io).await else {
            return Outcome::Failed;
        };
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, spec.addr.to_string())
            .header(hyper::header::USER_AGENT, "ELB-HealthChecker/2.0")
            .header(hyper::header::CONNECTION, "close")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new());
        let outcome = match request {
            Err(_) => Outcome::Failed,
            Ok(request) => match sender.send_request(request).await {
                Ok(answer) => {
                    let code = answer.status().as_u16();
                    if matcher.accepts(code) {
                        Outcome::Pass
                    } else {
                        Outcome::Code(code)
                    }
                }
                Err(_) => Outcome::Failed,
            },
        };
        driver.abort();
        outcome
    };
    tokio::time::timeout(spec.timeout, attempt)
        .await
        .unwrap_or(Outcome::Timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(now: Instant) -> Machine {
        Machine::new(
            Thresholds {
                healthy: 3,
                unhealthy: 2,
                interval: Duration::from_secs(5),
            },
            now,
        )
    }

    #[test]
    fn matchers_take_codes_lists_and_ranges() {
        let m = Matcher::parse("200").unwrap();
        assert!(m.accepts(200) && !m.accepts(201));
        let m = Matcher::parse("200-299").unwrap();
        assert!(m.accepts(204) && !m.accepts(302));
        let m = Matcher::parse("200,302").unwrap();
        assert!(m.accepts(302) && !m.accepts(301));
        let m = Matcher::parse("200,300-302").unwrap();
        assert!(m.accepts(301));
        assert!(Matcher::parse("").is_err());
        assert!(Matcher::parse("299-200").is_err());
        assert!(Matcher::parse("100").is_err());
        assert!(Matcher::parse("abc").is_err());
    }

    #[test]
    fn a_target_is_registering_then_initial_checking_then_healthy() {
        let t0 = Instant::now();
        let mut m = machine(t0);
        assert_eq!(m.next_due(), t0);
        assert_eq!(m.observed(), &Observed::registering());
        m.record(Outcome::Pass, t0);
        assert_eq!(m.next_due(), t0 + Duration::from_secs(5));
        assert_eq!(m.observed().state, HealthState::Initial);
        assert_eq!(
            m.observed().reason,
            Some(HealthReason::InitialHealthChecking)
        );
        m.record(Outcome::Pass, t0 + Duration::from_secs(5));
        assert_eq!(m.observed().state, HealthState::Initial);
        m.record(Outcome::Pass, t0 + Duration::from_secs(10));
        assert_eq!(m.observed().state, HealthState::Healthy);
        assert_eq!(m.observed().reason, None);
        assert_eq!(m.observed().description(), None);
    }

    #[test]
    fn failures_in_a_row_make_a_target_unhealthy_with_the_last_reason() {
        let t0 = Instant::now();
        let mut m = machine(t0);
        m.record(Outcome::Failed, t0);
        assert_eq!(m.observed().state, HealthState::Initial);
        m.record(Outcome::Code(404), t0 + Duration::from_secs(5));
        assert_eq!(m.observed().state, HealthState::Unhealthy);
        assert_eq!(
            m.observed().reason,
            Some(HealthReason::ResponseCodeMismatch)
        );
        assert_eq!(
            m.observed().description().as_deref(),
            Some("Health checks failed with these codes: [404]")
        );
        m.record(Outcome::Timeout, t0 + Duration::from_secs(10));
        assert_eq!(m.observed().reason, Some(HealthReason::Timeout));
    }

    #[test]
    fn a_success_resets_the_failure_count_and_recovery_needs_the_healthy_threshold() {
        let t0 = Instant::now();
        let mut m = machine(t0);
        for i in 0..3 {
            m.record(Outcome::Pass, t0 + Duration::from_secs(i));
        }
        assert_eq!(m.observed().state, HealthState::Healthy);
        m.record(Outcome::Failed, t0 + Duration::from_secs(3));
        m.record(Outcome::Pass, t0 + Duration::from_secs(4));
        m.record(Outcome::Failed, t0 + Duration::from_secs(5));
        assert_eq!(m.observed().state, HealthState::Healthy);
        m.record(Outcome::Failed, t0 + Duration::from_secs(6));
        assert_eq!(m.observed().state, HealthState::Unhealthy);
        assert_eq!(m.observed().reason, Some(HealthReason::FailedHealthChecks));
        m.record(Outcome::Pass, t0 + Duration::from_secs(7));
        m.record(Outcome::Pass, t0 + Duration::from_secs(8));
        assert_eq!(m.observed().state, HealthState::Unhealthy);
        m.record(Outcome::Pass, t0 + Duration::from_secs(9));
        assert_eq!(m.observed().state, HealthState::Healthy);
    }

    #[test]
    fn slots_route_only_healthy_checked_targets() {
        let s = TargetSlot::new(true);
        assert!(!s.routable());
        let healthy = Observed {
            state: HealthState::Healthy,
            reason: None,
            code: None,
        };
        s.publish(&healthy);
        assert!(s.routable());
        assert_eq!(s.observed(), healthy);
        assert!(TargetSlot::new(false).routable());
    }
}
