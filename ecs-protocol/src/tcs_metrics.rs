//! TCS's `PublishMetricsRequest` and its stat sets (the reference's
//! `ecs-agent/tcs/model/api/api-2.json`: `MetricsMetadata`, `TaskMetric`, `ContainerMetric`,
//! `CWStatsSet`, `UDoubleCWStatsSet`, `ULongStatsSet`, `NetworkStatsSet`, `StorageStatsSet`,
//! `RestartStatsSet`).
//!
//! A stat set summarises the samples taken since the last publish, CloudWatch-style: `min`,
//! `max`, `sampleCount`, `sum`. `ULongStatsSet` carries unsigned 64-bit counters in signed
//! members: a value above `i64::MAX` is sent as `i64::MAX` with the remainder in its `overflow*`
//! member ([`ULongStatsSet::from_u64s`]). Members are declared in the order Go's JSON encoder
//! writes them (alphabetical), and whole doubles print without a fraction ([`Double`]), so a
//! recorded reference frame re-encodes byte for byte.
//!
//! What the numbers mean (CPU units, memory in MiB) is the agent's business, not this module's.
//! Members the agent does not send (`instanceMetrics`, a task's `ephemeralStorageMetrics`,
//! `volumeMetrics`, `serviceConnectMetricsWrapper`) are kept as JSON, not typed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::types::Timestamp;

/// `PublishMetricsRequest`: the instance's container metrics, every 20 s.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishMetricsRequest {
    /// Instance-level metrics (storage, service connect), as sent; the agent sends none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_metrics: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetricsMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_metrics: Option<Vec<TaskMetric>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// `MetricsMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    /// Whether this is the last message of the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fin: Option<bool>,
    /// No task runs on the instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<bool>,
    /// The same in every message of one batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// `TaskMetric`: one task's containers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetric {
    /// In the model; the reference agent leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_metrics: Option<Vec<ContainerMetric>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_version: Option<String>,
    /// `ephemeralStorageMetrics`, `volumeMetrics`, `serviceConnectMetricsWrapper`, as sent.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `ContainerMetric`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerMetric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// CPU use of the instance's CPUs, in percent of one CPU's worth divided by the CPU count
    /// (the reference's units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_stats_set: Option<CwStatsSet>,
    /// Memory in use, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_stats_set: Option<CwStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_stats_set: Option<NetworkStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_stats_set: Option<RestartStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_stats_set: Option<StorageStatsSet>,
}

/// `CWStatsSet` (and `UDoubleCWStatsSet`, the same members).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CwStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Double>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Double>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<Double>,
}

impl CwStatsSet {
    /// The set of `samples` (NaN samples skipped, as the reference skips them); `None` when no
    /// sample is left.
    pub fn from_f64s(samples: impl IntoIterator<Item = f64>) -> Option<Self> {
        let (mut min, mut max, mut sum, mut count) = (f64::MAX, f64::MIN, 0.0, 0_i64);
        for s in samples.into_iter().filter(|s| !s.is_nan()) {
            min = min.min(s);
            max = max.max(s);
            sum += s;
            count += 1;
        }
        (count > 0).then_some(Self {
            max: Some(Double(max)),
            min: Some(Double(min)),
            sample_count: Some(count),
            sum: Some(Double(sum)),
        })
    }
}

/// `ULongStatsSet`: unsigned counters in signed members, with overflow members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ULongStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow_max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow_min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overflow_sum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<i64>,
}

/// `value` as (base, overflow): itself and 0 when it fits an `i64`, else `i64::MAX` and what is
/// left over (the reference's `value % i64::MAX`).
pub fn split_overflow(value: u64) -> (i64, i64) {
    const MAX: u64 = i64::MAX as u64;
    match i64::try_from(value) {
        Ok(v) => (v, 0),
        // value % MAX < MAX, so it fits.
        Err(_) => (i64::MAX, i64::try_from(value % MAX).unwrap_or(i64::MAX)),
    }
}

impl ULongStatsSet {
    /// The set of `samples`; `None` when there is none. The sum wraps as the reference's
    /// unsigned sum does.
    pub fn from_u64s(samples: impl IntoIterator<Item = u64>) -> Option<Self> {
        let (mut min, mut max, mut sum, mut count) = (u64::MAX, 0_u64, 0_u64, 0_i64);
        for s in samples {
            min = min.min(s);
            max = max.max(s);
            sum = sum.wrapping_add(s);
            count += 1;
        }
        if count == 0 {
            return None;
        }
        let (min, overflow_min) = split_overflow(min);
        let (max, overflow_max) = split_overflow(max);
        let (sum, overflow_sum) = split_overflow(sum);
        Some(Self {
            max: Some(max),
            min: Some(min),
            overflow_max: Some(overflow_max),
            overflow_min: Some(overflow_min),
            overflow_sum: Some(overflow_sum),
            sample_count: Some(count),
            sum: Some(sum),
        })
    }
}

/// `NetworkStatsSet`: counters as the container's interfaces report them (summed over its
/// networks), and the byte rates between samples.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_bytes: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_bytes_per_second: Option<CwStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_dropped: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_errors: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_packets: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_bytes: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_bytes_per_second: Option<CwStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_dropped: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_errors: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_packets: Option<ULongStatsSet>,
}

/// `StorageStatsSet`: block I/O bytes read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_size_bytes: Option<ULongStatsSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_size_bytes: Option<ULongStatsSet>,
}

/// `RestartStatsSet`: restarts since the last publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartStatsSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<i64>,
}

/// A JSON double written as Go's encoder writes a `float64`: a whole number without a fraction
/// (`0`, not `0.0`), anything else in the shortest form that reads back the same.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Double(pub f64);

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Whole and within ±2^53: exact as an integer.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        let v = self.0;
        if v.fract() == 0.0 && v.abs() <= EXACT {
            serializer.serialize_i64(v as i64)
        } else {
            serializer.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cw_sets_skip_nan_and_need_a_sample() {
        let s = CwStatsSet::from_f64s([1.5, f64::NAN, 0.5, 4.0]).unwrap();
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"max": 4, "min": 0.5, "sampleCount": 3, "sum": 6})
        );
        assert_eq!(CwStatsSet::from_f64s([f64::NAN]), None);
        assert_eq!(CwStatsSet::from_f64s([]), None);
        let one = CwStatsSet::from_f64s([-2.0]).unwrap();
        assert_eq!((one.min, one.max), (Some(Double(-2.0)), Some(Double(-2.0))));
    }

    #[test]
    fn ulong_sets_carry_what_does_not_fit_in_the_overflow_members() {
        let s = ULongStatsSet::from_u64s([3, 10, 7]).unwrap();
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"max": 10, "min": 3, "overflowMax": 0, "overflowMin": 0, "overflowSum": 0,
                   "sampleCount": 3, "sum": 20})
        );
        let big = i64::MAX as u64 + 5;
        let s = ULongStatsSet::from_u64s([big, 1]).unwrap();
        assert_eq!((s.max, s.overflow_max), (Some(i64::MAX), Some(5)));
        assert_eq!((s.min, s.overflow_min), (Some(1), Some(0)));
        assert_eq!((s.sum, s.overflow_sum), (Some(i64::MAX), Some(6)));
        assert_eq!(split_overflow(u64::MAX), (i64::MAX, 1));
        assert_eq!(split_overflow(i64::MAX as u64), (i64::MAX, 0));
        assert_eq!(ULongStatsSet::from_u64s([]), None);
    }

    #[test]
    fn doubles_print_as_go_prints_them() {
        let text = |v: f64| serde_json::to_string(&Double(v)).unwrap();
        assert_eq!(text(0.0), "0");
        assert_eq!(text(2.0), "2");
        assert_eq!(text(0.06088016927242279), "0.06088016927242279");
        assert_eq!(text(237.53134155273438), "237.53134155273438");
    }
}
