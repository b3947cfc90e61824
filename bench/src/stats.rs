//! Latency summaries from raw samples: sorted, nearest-rank percentiles. Pure, no I/O.

use std::time::Duration;

/// Percentiles and extremes of a set of latency samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// Summarises `samples` (in any order); `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let max = *sorted.last()?;
        let total: Duration = sorted.iter().sum();
        let mean = total / u32::try_from(sorted.len()).unwrap_or(u32::MAX);
        Some(Summary {
            count: sorted.len(),
            p50: percentile(&sorted, 50.0)?,
            p99: percentile(&sorted, 99.0)?,
            max,
            mean,
        })
    }
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of ascending `sorted` samples: the smallest
/// sample such that at least p% of the samples are less than or equal to it.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    // Ranks are small integers; the float round trip is exact for them.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Milliseconds with two decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let s: Vec<u64> = (1..=100).rev().collect();
        let sum = Summary::of(&millis(&s)).unwrap();
        assert_eq!(sum.count, 100);
        assert_eq!(sum.p50, Duration::from_millis(50));
        assert_eq!(sum.p99, Duration::from_millis(99));
        assert_eq!(sum.max, Duration::from_millis(100));
        assert_eq!(sum.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn p99_of_a_thousand_is_the_990th_value() {
        let s: Vec<u64> = (1..=1000).collect();
        let sorted = millis(&s);
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(990)));
    }

    #[test]
    fn small_sets_and_edges() {
        assert_eq!(Summary::of(&[]), None);
        let one = Summary::of(&millis(&[7])).unwrap();
        assert_eq!(
            (one.p50, one.p99, one.max),
            (
                Duration::from_millis(7),
                Duration::from_millis(7),
                Duration::from_millis(7)
            )
        );
        let sorted = millis(&[1, 2, 3]);
        assert_eq!(percentile(&sorted, 0.0), None);
        assert_eq!(percentile(&sorted, 100.0), Some(Duration::from_millis(3)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(3)));
        assert_eq!(percentile(&sorted, 34.0), Some(Duration::from_millis(2)));
    }
}
