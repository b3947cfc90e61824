//! A token bucket per client address: `ECS_TASK_METADATA_RPS_LIMIT` (`steady,burst`, default
//! 40,60), as the reference's tollbooth limiter applies it to every request of the task metadata
//! and credentials server. Over the limit the server answers 429.
//!
//! Pure apart from the clock, which the caller passes in, so it is tested without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets of addresses idle this long are forgotten (they would be full again anyway).
const IDLE_FORGET_SECS: f64 = 60.0;
/// The table is swept when it grows past this many addresses.
const SWEEP_AT: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The limiter.
///
/// A lock, not an actor: every request takes one token with a few arithmetic operations, and the
/// lock is never held across an await.
#[derive(Debug)]
pub struct RateLimiter {
    steady: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `steady` requests per second, bursts up to `burst` (at least 1).
    pub fn new(steady: u32, burst: u32) -> Self {
        Self {
            steady: f64::from(steady),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip` at `now`; `false` when the request must be refused.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > SWEEP_AT {
            buckets.retain(|_, b| now.duration_since(b.last).as_secs_f64() < IDLE_FORGET_SECS);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.steady).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([172, 17, 0, last])
    }

    #[test]
    fn the_sixty_first_request_in_an_instant_is_refused() {
        let l = RateLimiter::new(40, 60);
        let t = Instant::now();
        for i in 0..60 {
            assert!(l.allow(ip(2), t), "request {i}");
        }
        assert!(!l.allow(ip(2), t));
        // Another address has its own bucket.
        assert!(l.allow(ip(3), t));
    }

    #[test]
    fn tokens_come_back_at_the_steady_rate() {
        let l = RateLimiter::new(40, 60);
        let t = Instant::now();
        for _ in 0..60 {
            assert!(l.allow(ip(2), t));
        }
        let later = t + Duration::from_millis(100);
        let allowed = (0..10).filter(|_| l.allow(ip(2), later)).count();
        assert_eq!(allowed, 4);
    }
}
