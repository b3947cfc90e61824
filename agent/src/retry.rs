//! Retries, in one place: every caller's backoff schedule and limits as data
//! ([`BackoffPolicy`], [`RetryPolicy`] and their constants), and the one retry loop ([`retry`],
//! [`retry_until_cancelled`]) that image pulls, state-change reports, TCS reconnects,
//! registration and the agent's own AWS JSON calls go through. The ACS session keeps its own
//! connection loop (its backoff resets after a stable connection) but takes its schedule from here.
//!
//! The schedules are the reference agent's (`ecs-agent/utils/retry`): each delay is the current
//! base plus a random extra (see [`Jitter`]), and the base grows by `multiplier` up to `max`. This
//! module owns timing only; what counts as worth retrying is the caller's decision
//! ([`Attempt`]). It depends on no other module of the agent.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The random extra added to each delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Up to this fraction of the delay more, never less (the reference's `AddJitter`), e.g.
    /// `Add(0.2)`: `[d, 1.2 d)`. `Add(0.0)` is no jitter.
    Add(f64),
    /// Up to this fraction of the delay more or less, e.g. `Spread(0.2)`: `[0.8 d, 1.2 d)`.
    Spread(f64),
}

/// An exponential backoff schedule: `initial`, `initial × multiplier`, ... capped at `max`, each
/// with its [`Jitter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// The first delay (before jitter).
    pub initial: Duration,
    /// The largest delay (before jitter).
    pub max: Duration,
    /// Growth factor between delays.
    pub multiplier: f64,
    /// The random part of each delay.
    pub jitter: Jitter,
}

impl BackoffPolicy {
    /// RegisterContainerInstance: 3 s → 192 s, ×2, jitter 0.2 (reference section 2.2).
    pub const REGISTER: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(3),
        max: Duration::from_secs(192),
        multiplier: 2.0,
        jitter: Jitter::Add(0.2),
    };

    /// ACS reconnects: 250 ms → 2 min, ×1.5, jitter 0.2 (reference section 3.2).
    pub const ACS_RECONNECT: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_millis(250),
        max: Duration::from_secs(120),
        multiplier: 1.5,
        jitter: Jitter::Add(0.2),
    };

    /// State change submissions: 1 s → 30 s, ×1.3, jitter 0.2 (reference section 4.5).
    pub const SUBMIT_STATE_CHANGE: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        multiplier: 1.3,
        jitter: Jitter::Add(0.2),
    };

    /// Image pulls: 1.1 s → 5 s, ×2, ±20 % (reference `agent/dockerclient/dockerapi/docker_client.go`).
    pub const IMAGE_PULL: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_millis(1100),
        max: Duration::from_secs(5),
        multiplier: 2.0,
        jitter: Jitter::Spread(0.2),
    };

    /// Image manifest fetches: 10 ms → 5 s, ×3, ±20 % (reference
    /// `agent/dockerclient/dockerapi/docker_client.go`: quick first retries for a network that
    /// is still coming up).
    pub const MANIFEST_PULL: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_millis(10),
        max: Duration::from_secs(5),
        multiplier: 3.0,
        jitter: Jitter::Spread(0.2),
    };

    /// TCS (telemetry) reconnects: 1 s → 30 s, ×2, no jitter.
    pub const TCS_RECONNECT: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        multiplier: 2.0,
        jitter: Jitter::Add(0.0),
    };

    /// The AWS SDKs' standard retry mode, for the agent's own JSON calls: 200 ms, then 400 ms,
    /// with up to 100 % jitter.
    pub const AWS_STANDARD: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(20),
        multiplier: 2.0,
        jitter: Jitter::Add(1.0),
    };

    /// A fresh schedule following this policy.
    pub fn start(&self) -> Backoff {
        Backoff {
            policy: *self,
            current: self.initial,
        }
    }
}

/// A running backoff schedule. [`Backoff::next_delay`] gives the next wait; [`Backoff::reset`]
/// starts over (after a success, or a connection that stayed up).
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    current: Duration,
}

impl Backoff {
    /// The next delay, with random jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    /// The next delay with the jitter a random `unit` in `[0, 1)` gives. Pure, for tests.
    pub fn next_delay_with(&mut self, unit: f64) -> Duration {
        let base = self.current;
        let grown = base.as_secs_f64() * self.policy.multiplier;
        self.current = if grown.is_finite() && grown < self.policy.max.as_secs_f64() {
            Duration::from_secs_f64(grown)
        } else {
            self.policy.max
        };
        with_jitter_of(base, self.policy.jitter, unit)
    }

    /// Starts the schedule over from its initial delay.
    pub fn reset(&mut self) {
        self.current = self.policy.initial;
    }
}

/// `base` with the jitter a random `unit` in `[0, 1)` picks (`unit` outside it, a fraction that is
/// not positive or an extra that is not finite give none; the delay never goes below zero).
fn with_jitter_of(base: Duration, jitter: Jitter, unit: f64) -> Duration {
    let (fraction, scale) = match jitter {
        Jitter::Add(fraction) => (fraction, unit),
        Jitter::Spread(fraction) => (fraction, 2.0 * unit - 1.0),
    };
    let extra = base.as_secs_f64() * fraction * scale;
    if !(0.0..1.0).contains(&unit) || fraction.is_nan() || fraction <= 0.0 || !extra.is_finite() {
        return base;
    }
    if extra >= 0.0 {
        base + Duration::from_secs_f64(extra)
    } else {
        base.saturating_sub(Duration::from_secs_f64(-extra))
    }
}

/// `base` plus a random extra of up to `max_extra` (the reference's `AddJitter`).
pub fn with_jitter(base: Duration, max_extra: Duration) -> Duration {
    let unit = rand::random::<f64>();
    let extra = max_extra.as_secs_f64() * unit;
    if extra.is_finite() && extra > 0.0 {
        base + Duration::from_secs_f64(extra)
    } else {
        base
    }
}

/// A bounded retry: what it is (for the log), its backoff schedule and its limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// What is retried, for the log (`"image pull"`).
    pub name: &'static str,
    /// Delays between attempts.
    pub backoff: BackoffPolicy,
    /// No more attempts than this, when set.
    pub max_attempts: Option<u32>,
    /// No new attempt starts once this much time has passed since the first one, when set.
    pub deadline: Option<Duration>,
    /// Log retries at debug rather than warn (a failure that is routine, such as a telemetry
    /// endpoint the control plane does not serve).
    pub quiet: bool,
}

impl RetryPolicy {
    /// RegisterContainerInstance: [`BackoffPolicy::REGISTER`] for up to one hour.
    pub const REGISTER: RetryPolicy = RetryPolicy {
        name: "RegisterContainerInstance",
        backoff: BackoffPolicy::REGISTER,
        max_attempts: None,
        deadline: Some(Duration::from_secs(3600)),
        quiet: false,
    };

    /// SubmitTaskStateChange: [`BackoffPolicy::SUBMIT_STATE_CHANGE`], 20 attempts; then the
    /// event waits for the task's next change.
    pub const SUBMIT_STATE_CHANGE: RetryPolicy = RetryPolicy {
        name: "SubmitTaskStateChange",
        backoff: BackoffPolicy::SUBMIT_STATE_CHANGE,
        max_attempts: Some(20),
        deadline: None,
        quiet: false,
    };

    /// Image pulls: [`BackoffPolicy::IMAGE_PULL`], 5 attempts (the whole pull is bounded by
    /// `ECS_IMAGE_PULL_TIMEOUT` around it).
    pub const IMAGE_PULL: RetryPolicy = RetryPolicy {
        name: "image pull",
        backoff: BackoffPolicy::IMAGE_PULL,
        max_attempts: Some(5),
        deadline: None,
        quiet: false,
    };

    /// Image manifest fetches: [`BackoffPolicy::MANIFEST_PULL`], 9 attempts, all inside
    /// `ECS_MANIFEST_PULL_TIMEOUT` (the caller's deadline).
    pub const MANIFEST_PULL: RetryPolicy = RetryPolicy {
        name: "image manifest fetch",
        backoff: BackoffPolicy::MANIFEST_PULL,
        max_attempts: Some(9),
        deadline: None,
        quiet: false,
    };

    /// TCS connections: [`BackoffPolicy::TCS_RECONNECT`] for as long as the agent runs.
    pub const TCS_RECONNECT: RetryPolicy = RetryPolicy {
        name: "telemetry connection",
        backoff: BackoffPolicy::TCS_RECONNECT,
        max_attempts: None,
        deadline: None,
        quiet: true,
    };

    /// The agent's own AWS JSON calls (SSM, Secrets Manager, S3): the SDKs' standard mode, 3
    /// attempts within 2 minutes.
    pub const AWS_JSON: RetryPolicy = RetryPolicy {
        name: "AWS call",
        backoff: BackoffPolicy::AWS_STANDARD,
        max_attempts: Some(3),
        deadline: Some(Duration::from_secs(120)),
        quiet: false,
    };
}

/// What one attempt of a retried operation concluded.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// Done.
    Done(T),
    /// Failed in a way that may pass: try again after the next delay.
    Retry(E),
    /// Failed for good: stop now.
    Fail(E),
}

/// Why [`retry`] gave up.
#[derive(Debug)]
pub enum GaveUp<E> {
    /// An attempt failed for good.
    Failed(E),
    /// The attempt cap or the deadline was reached; `last` is the last attempt's error.
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// Time since the first attempt.
        elapsed: Duration,
        /// The last error.
        last: E,
    },
    /// The cancellation token fired while waiting for the next attempt.
    Cancelled {
        /// The last error.
        last: E,
    },
}

impl<E> GaveUp<E> {
    /// The error that ended the retries.
    pub fn into_last(self) -> E {
        match self {
            GaveUp::Failed(e)
            | GaveUp::Exhausted { last: e, .. }
            | GaveUp::Cancelled { last: e } => e,
        }
    }
}

/// Runs `attempt` (given its 1-based number) until it is done, fails for good, or the policy's
/// attempt cap or deadline is reached, sleeping the backoff delay between attempts. Drop the
/// future to cancel it.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, attempt: F) -> Result<T, GaveUp<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
    E: std::fmt::Display,
{
    run(policy, None, attempt).await
}

/// [`retry`], also ending (with [`GaveUp::Cancelled`]) when `cancel` fires between attempts. An
/// attempt under way is left to finish, so it can end cleanly (close a connection) on its own.
pub async fn retry_until_cancelled<T, E, F, Fut>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    attempt: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
    E: std::fmt::Display,
{
    run(policy, Some(cancel), attempt).await
}

/// The retry loop.
async fn run<T, E, F, Fut>(
    policy: &RetryPolicy,
    cancel: Option<&CancellationToken>,
    mut attempt: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let mut backoff = policy.backoff.start();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match attempt(attempts).await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Fail(error) => return Err(GaveUp::Failed(error)),
            Attempt::Retry(error) => error,
        };
        let delay = backoff.next_delay();
        let elapsed = started.elapsed();
        let capped = policy.max_attempts.is_some_and(|max| attempts >= max);
        let late = policy
            .deadline
            .is_some_and(|deadline| elapsed.saturating_add(delay) > deadline);
        if capped || late {
            return Err(GaveUp::Exhausted {
                attempts,
                elapsed,
                last: error,
            });
        }
        let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        if policy.quiet {
            tracing::debug!(operation = policy.name, attempt = attempts, retry_in_ms, error = %error, "failed; retrying");
        } else {
            tracing::warn!(operation = policy.name, attempt = attempts, retry_in_ms, error = %error, "failed; retrying");
        }
        match cancel {
            Some(token) => {
                tokio::select! {
                    () = token.cancelled() => return Err(GaveUp::Cancelled { last: error }),
                    () = tokio::time::sleep(delay) => {}
                }
            }
            None => tokio::time::sleep(delay).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases(policy: BackoffPolicy, n: usize) -> Vec<Duration> {
        let mut b = policy.start();
        (0..n).map(|_| b.next_delay_with(0.0)).collect()
    }

    #[test]
    fn register_schedule_doubles_from_3s_to_192s() {
        let secs: Vec<u64> = bases(BackoffPolicy::REGISTER, 9)
            .iter()
            .map(Duration::as_secs)
            .collect();
        assert_eq!(secs, [3, 6, 12, 24, 48, 96, 192, 192, 192]);
    }

    #[test]
    fn acs_schedule_grows_by_half_up_to_two_minutes() {
        let ms: Vec<u128> = bases(BackoffPolicy::ACS_RECONNECT, 18)
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(&ms[..5], [250, 375, 562, 843, 1265]);
        assert!((109_400..=109_500).contains(&ms[15]), "{ms:?}");
        assert_eq!(&ms[16..], [120_000, 120_000]);
        assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{ms:?}");
    }

    #[test]
    fn jitter_stays_within_the_fraction() {
        let mut b = BackoffPolicy::REGISTER.start();
        assert_eq!(
            b.next_delay_with(0.999_999),
            Duration::from_secs_f64(3.0 + 0.6 * 0.999_999)
        );
        for _ in 0..100 {
            let mut b = BackoffPolicy::ACS_RECONNECT.start();
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(250) && d < Duration::from_millis(300),
                "{d:?}"
            );
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = BackoffPolicy::REGISTER.start();
        b.next_delay_with(0.0);
        b.next_delay_with(0.0);
        b.reset();
        assert_eq!(b.next_delay_with(0.0), Duration::from_secs(3));
    }

    #[test]
    fn with_jitter_adds_at_most_the_extra() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_secs(60), Duration::from_secs(60));
            assert!(d >= Duration::from_secs(60) && d < Duration::from_secs(120));
        }
        assert_eq!(
            with_jitter(Duration::from_secs(1), Duration::ZERO),
            Duration::from_secs(1)
        );
    }

    fn fast(deadline_ms: u64) -> RetryPolicy {
        RetryPolicy {
            name: "test",
            backoff: BackoffPolicy {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(4),
                multiplier: 2.0,
                jitter: Jitter::Add(0.0),
            },
            max_attempts: None,
            deadline: Some(Duration::from_millis(deadline_ms)),
            quiet: false,
        }
    }

    #[test]
    fn pull_schedule_is_the_references_with_a_spread_of_a_fifth() {
        // A unit of 0.5 is the middle of the spread: no jitter.
        let mut b = BackoffPolicy::IMAGE_PULL.start();
        let ms: Vec<u128> = (0..5).map(|_| b.next_delay_with(0.5).as_millis()).collect();
        assert_eq!(ms, [1100, 2200, 4400, 5000, 5000]);
        let mut b = BackoffPolicy::IMAGE_PULL.start();
        assert_eq!(b.next_delay_with(0.0), Duration::from_millis(880));
        for _ in 0..100 {
            let d = BackoffPolicy::IMAGE_PULL.start().next_delay();
            assert!(
                d >= Duration::from_millis(880) && d < Duration::from_millis(1320),
                "{d:?}"
            );
        }
        assert_eq!(RetryPolicy::IMAGE_PULL.max_attempts, Some(5));
    }

    #[test]
    fn submit_and_telemetry_schedules() {
        let ms: Vec<u128> = bases(BackoffPolicy::SUBMIT_STATE_CHANGE, 16)
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(&ms[..4], [1000, 1300, 1690, 2197]);
        assert_eq!(&ms[13..], [30_000, 30_000, 30_000]);
        assert_eq!(RetryPolicy::SUBMIT_STATE_CHANGE.max_attempts, Some(20));
        let secs: Vec<u64> = bases(BackoffPolicy::TCS_RECONNECT, 7)
            .iter()
            .map(Duration::as_secs)
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(
            BackoffPolicy::TCS_RECONNECT.start().next_delay(),
            Duration::from_secs(1),
            "no jitter"
        );
        assert_eq!(RetryPolicy::TCS_RECONNECT.max_attempts, None);
        assert_eq!(RetryPolicy::TCS_RECONNECT.deadline, None);
    }

    #[tokio::test]
    async fn retry_retries_transient_failures_then_succeeds() {
        let result = retry(&fast(10_000), |n| async move {
            if n < 3 {
                Attempt::Retry(format!("transient {n}"))
            } else {
                Attempt::Done(n)
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));
    }

    #[tokio::test]
    async fn retry_stops_at_a_terminal_failure() {
        let result: Result<(), _> = retry(&fast(10_000), |n| async move {
            Attempt::Fail(format!("terminal {n}"))
        })
        .await;
        match result {
            Err(GaveUp::Failed(e)) => assert_eq!(e, "terminal 1"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn retry_gives_up_at_the_deadline() {
        let result: Result<(), _> =
            retry(
                &fast(30),
                |n| async move { Attempt::Retry(format!("down {n}")) },
            )
            .await;
        match result {
            Err(GaveUp::Exhausted { attempts, last, .. }) => {
                assert!(attempts >= 2, "{attempts}");
                assert_eq!(last, format!("down {attempts}"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn retry_stops_at_the_attempt_cap() {
        let policy = RetryPolicy {
            max_attempts: Some(3),
            deadline: None,
            ..fast(0)
        };
        let result: Result<(), _> =
            retry(
                &policy,
                |n| async move { Attempt::Retry(format!("down {n}")) },
            )
            .await;
        match result {
            Err(GaveUp::Exhausted { attempts, last, .. }) => {
                assert_eq!(attempts, 3);
                assert_eq!(last, "down 3");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_cancelled_token_ends_the_wait_between_attempts() {
        let policy = RetryPolicy {
            backoff: BackoffPolicy {
                initial: Duration::from_secs(3600),
                ..BackoffPolicy::TCS_RECONNECT
            },
            ..RetryPolicy::TCS_RECONNECT
        };
        let cancel = CancellationToken::new();
        let trip = cancel.clone();
        let result: Result<(), _> = retry_until_cancelled(&policy, &cancel, |n| {
            trip.cancel();
            async move { Attempt::Retry(format!("down {n}")) }
        })
        .await;
        match result {
            Err(GaveUp::Cancelled { last }) => assert_eq!(last, "down 1"),
            other => panic!("{other:?}"),
        }
    }
}
