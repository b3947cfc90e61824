//! Backoff schedules and the one bounded-retry helper every control-plane call goes through.
//!
//! The schedules are the reference agent's (`ecs-agent/utils/retry`): each delay is the current
//! base plus a random extra of up to `jitter × base`, and the base grows by `multiplier` up to
//! `max`. This module owns timing only; what counts as worth retrying is the caller's decision.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// An exponential backoff schedule: `initial`, `initial × multiplier`, ... capped at `max`, each
/// plus a random jitter of up to `jitter` (a fraction) of itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// The first delay (before jitter).
    pub initial: Duration,
    /// The largest delay (before jitter).
    pub max: Duration,
    /// Growth factor between delays.
    pub multiplier: f64,
    /// Largest extra delay as a fraction of the delay, e.g. `0.2`.
    pub jitter: f64,
}

impl BackoffPolicy {
    /// RegisterContainerInstance: 3 s → 192 s, ×2, jitter 0.2 (reference section 2.2).
    pub const REGISTER: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(3),
        max: Duration::from_secs(192),
        multiplier: 2.0,
        jitter: 0.2,
    };

    /// ACS reconnects: 250 ms → 2 min, ×1.5, jitter 0.2 (reference section 3.2).
    pub const ACS_RECONNECT: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_millis(250),
        max: Duration::from_secs(120),
        multiplier: 1.5,
        jitter: 0.2,
    };

    /// State change submissions: 1 s → 30 s, ×1.3, jitter 0.2 (reference section 4.5), for the
    /// task engine's per-task report queue.
    pub const SUBMIT_STATE_CHANGE: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        multiplier: 1.3,
        jitter: 0.2,
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

    /// The next delay with jitter `unit × jitter × base`, `unit` in `[0, 1)`. Pure, for tests.
    pub fn next_delay_with(&mut self, unit: f64) -> Duration {
        let base = self.current;
        let grown = base.as_secs_f64() * self.policy.multiplier;
        self.current = if grown.is_finite() && grown < self.policy.max.as_secs_f64() {
            Duration::from_secs_f64(grown)
        } else {
            self.policy.max
        };
        base + jitter_of(base, self.policy.jitter, unit)
    }

    /// Starts the schedule over from its initial delay.
    pub fn reset(&mut self) {
        self.current = self.policy.initial;
    }
}

/// `unit × fraction × base`, clamped to sane values (`unit` outside `[0, 1)` or a negative
/// fraction give no jitter).
fn jitter_of(base: Duration, fraction: f64, unit: f64) -> Duration {
    let extra = base.as_secs_f64() * fraction * unit;
    if extra.is_finite() && extra > 0.0 && unit < 1.0 {
        Duration::from_secs_f64(extra)
    } else {
        Duration::ZERO
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

/// A bounded retry: a backoff schedule and an overall deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delays between attempts.
    pub backoff: BackoffPolicy,
    /// No new attempt starts once this much time has passed since the first one.
    pub deadline: Duration,
}

impl RetryPolicy {
    /// RegisterContainerInstance: [`BackoffPolicy::REGISTER`] for up to one hour.
    pub const REGISTER: RetryPolicy = RetryPolicy {
        backoff: BackoffPolicy::REGISTER,
        deadline: Duration::from_secs(3600),
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
    /// The deadline passed; `last` is the last attempt's error.
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// Time since the first attempt.
        elapsed: Duration,
        /// The last error.
        last: E,
    },
}

/// Runs `attempt` until it is done, fails for good, or the policy's deadline passes, sleeping the
/// backoff delay between attempts. The one place the agent retries control-plane calls; drop the
/// future to cancel it.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Result<T, GaveUp<E>>
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
        if elapsed + delay > policy.deadline {
            return Err(GaveUp::Exhausted {
                attempts,
                elapsed,
                last: error,
            });
        }
        tracing::warn!(
            attempt = attempts,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "control plane call failed; retrying"
        );
        tokio::time::sleep(delay).await;
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
            backoff: BackoffPolicy {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(4),
                multiplier: 2.0,
                jitter: 0.0,
            },
            deadline: Duration::from_millis(deadline_ms),
        }
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
}
