//! Metrics: the datapoints PutMetricData (and the AWS/ECS feed) store, their validation, and the
//! statistics GetMetricStatistics, GetMetricData and the alarms read from them.
//!
//! Samples are kept as they were put (a value, values with counts, or a statistic set), per
//! metric (namespace, name, dimensions sorted by name), for [`RETENTION`] and at most
//! [`MAX_SAMPLES_PER_METRIC`] per metric and [`MAX_SAMPLES`] in all; [`Metrics::prune`] and the
//! global bound drop the rest, so memory is
//! bounded by the metrics in use. CloudWatch's rollups of old data to coarser periods are not
//! emulated.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{combination, invalid, invalid_value, missing};
use super::wire::lenient;
use crate::front::ApiError;

/// How long samples are kept: CloudWatch keeps one-minute data 15 days.
pub const RETENTION: f64 = 15.0 * 24.0 * 3600.0;
/// The most samples kept per metric (two weeks of one-minute datapoints, twice over).
pub const MAX_SAMPLES_PER_METRIC: usize = 40_320;
/// The most samples held over every metric (about 100 bytes each); past it the oldest tenth
/// goes.
pub const MAX_SAMPLES: usize = 1_000_000;
/// PutMetricData: the most items in `MetricData`.
const MAX_METRIC_DATA: usize = 1000;
/// The most dimensions of a metric.
const MAX_DIMENSIONS: usize = 30;
/// The most `Values` of one item.
const MAX_VALUES: usize = 150;
/// CloudWatch's range of values: magnitudes within 2^-260 .. 2^360 (and zero).
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833_2e108; // 2^360
const MIN_MAGNITUDE: f64 = 5.397_605_346_934_028e-79; // 2^-260
/// Timestamps may be two weeks old and two hours ahead.
const MAX_AGE: f64 = 14.0 * 24.0 * 3600.0;
const MAX_AHEAD: f64 = 2.0 * 3600.0;

/// CloudWatch's units (`StandardUnit`).
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A dimension as the wire carries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

/// One metric: namespace, name and dimensions (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MetricKey {
    /// e.g. `AWS/ECS`.
    pub namespace: String,
    /// e.g. `CPUUtilization`.
    pub name: String,
    /// Sorted by name, no duplicates.
    pub dimensions: Vec<Dimension>,
}

impl MetricKey {
    /// A key with `dimensions` sorted.
    pub fn new(namespace: &str, name: &str, mut dimensions: Vec<Dimension>) -> Self {
        dimensions.sort();
        MetricKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions,
        }
    }

    /// The `Metric` shape.
    pub fn to_json(&self) -> Value {
        json!({
            "Namespace": self.namespace,
            "MetricName": self.name,
            "Dimensions": self.dimensions,
        })
    }
}

/// What one put said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SampleData {
    /// `Value`.
    Value(f64),
    /// `Values` with their `Counts` (1 each when absent).
    Values(Vec<(f64, f64)>),
    /// `StatisticValues`.
    Set {
        /// SampleCount.
        count: f64,
        /// Sum.
        sum: f64,
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
}

/// One stored sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Epoch seconds.
    pub t: f64,
    /// Its unit (`None` when not given).
    pub unit: String,
    /// The data.
    pub data: SampleData,
}

/// One metric's samples, oldest first.
#[derive(Debug, Clone, Default)]
struct Series {
    samples: VecDeque<Sample>,
}

/// A statistic over one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agg {
    /// SampleCount.
    pub count: f64,
    /// Sum.
    pub sum: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Raw values with weights, for percentiles (stat sets have none).
    values: Vec<(f64, f64)>,
    /// Whether every sample had raw values.
    raw: bool,
    /// The unit of the first sample.
    pub unit: String,
}

impl Agg {
    fn add(&mut self, s: &Sample) {
        if self.count == 0.0 {
            self.min = f64::INFINITY;
            self.max = f64::NEG_INFINITY;
            self.raw = true;
            self.unit.clone_from(&s.unit);
        }
        match &s.data {
            SampleData::Value(v) => self.add_value(*v, 1.0),
            SampleData::Values(vs) => {
                for (v, c) in vs {
                    self.add_value(*v, *c);
                }
            }
            SampleData::Set {
                count,
                sum,
                min,
                max,
            } => {
                self.count += count;
                self.sum += sum;
                self.min = self.min.min(*min);
                self.max = self.max.max(*max);
                self.raw = false;
            }
        }
    }

    fn add_value(&mut self, v: f64, c: f64) {
        self.count += c;
        self.sum += v * c;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.values.push((v, c));
    }

    /// The value of `stat` (`Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount`, `pNN`), if
    /// this period has it (percentiles need raw values).
    pub fn stat(&self, stat: &Stat) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        Some(match stat {
            Stat::Average => self.sum / self.count,
            Stat::Sum => self.sum,
            Stat::Minimum => self.min,
            Stat::Maximum => self.max,
            Stat::SampleCount => self.count,
            Stat::Percentile(p) => {
                if !self.raw {
                    return None;
                }
                let mut vs = self.values.clone();
                vs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let rank = (p / 100.0 * self.count).ceil().max(1.0);
                let mut seen = 0.0;
                let mut out = vs.last()?.0;
                for (v, c) in &vs {
                    seen += c;
                    if seen >= rank {
                        out = *v;
                        break;
                    }
                }
                out
            }
        })
    }
}

/// A statistic name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Stat {
    /// Average.
    Average,
    /// Sum.
    Sum,
    /// Minimum.
    Minimum,
    /// Maximum.
    Maximum,
    /// SampleCount.
    SampleCount,
    /// `pNN` / `pNN.NN`.
    Percentile(f64),
}

impl Stat {
    /// A statistic as named on the wire (`Average`, ..., `p99`, `p99.9`).
    pub fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "Average" => Stat::Average,
            "Sum" => Stat::Sum,
            "Minimum" => Stat::Minimum,
            "Maximum" => Stat::Maximum,
            "SampleCount" => Stat::SampleCount,
            p => {
                let n: f64 = p.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&n) || p.contains(['e', 'E']) {
                    return None;
                }
                Stat::Percentile(n)
            }
        })
    }

    /// Its wire name.
    pub fn name(&self) -> String {
        match self {
            Stat::Average => "Average".into(),
            Stat::Sum => "Sum".into(),
            Stat::Minimum => "Minimum".into(),
            Stat::Maximum => "Maximum".into(),
            Stat::SampleCount => "SampleCount".into(),
            Stat::Percentile(p) => format!("p{p}"),
        }
    }
}

/// Every metric's samples.
#[derive(Debug, Default)]
pub struct Metrics {
    series: BTreeMap<MetricKey, Series>,
    /// Samples held, over every metric.
    total: usize,
}

/// `MetricDatum` as PutMetricData carries it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDatum {
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Option<Vec<Dimension>>,
    #[serde(default, deserialize_with = "lenient::opt_ts")]
    timestamp: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    value: Option<f64>,
    statistic_values: Option<StatisticSet>,
    #[serde(default, deserialize_with = "lenient::vec_f64")]
    values: Option<Vec<f64>>,
    #[serde(default, deserialize_with = "lenient::vec_f64")]
    counts: Option<Vec<f64>>,
    unit: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    storage_resolution: Option<i64>,
}

/// `StatisticSet`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatisticSet {
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    sample_count: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    sum: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    minimum: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    maximum: Option<f64>,
}

/// `PutMetricDataInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutMetricDataRequest {
    namespace: Option<String>,
    metric_data: Option<Vec<MetricDatum>>,
}

/// Java's rendering of a double, as CloudWatch's messages show values (`85.0`, `1.0E200`,
/// `NaN`, `Infinity`).
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{v:E}");
        match s.split_once('E') {
            Some((m, e)) if !m.contains('.') => format!("{m}.0E{e}"),
            _ => s,
        }
    }
}

fn check_value(v: f64, parameter: &str) -> Result<(), ApiError> {
    let a = v.abs();
    if !v.is_finite() || a > MAX_MAGNITUDE || (a != 0.0 && a < MIN_MAGNITUDE) {
        return Err(invalid_value(java_double(v), parameter));
    }
    Ok(())
}

/// Checks the dimensions of a metric (`parameter` is e.g. `MetricData.member.1.Dimensions`)
/// and returns them sorted.
pub fn check_dimensions(dims: &[Dimension], parameter: &str) -> Result<Vec<Dimension>, ApiError> {
    if dims.len() > MAX_DIMENSIONS {
        return Err(invalid(format!(
            "The collection {parameter} must not have a size greater than {MAX_DIMENSIONS}."
        )));
    }
    for (i, d) in dims.iter().enumerate() {
        let at = format!("{parameter}.member.{}", i + 1);
        if d.name.is_empty() {
            return Err(missing(&format!("{at}.Name")));
        }
        if d.value.is_empty() {
            return Err(missing(&format!("{at}.Value")));
        }
        if d.name.chars().count() > 255 || d.name.starts_with(':') {
            return Err(invalid_value(&d.name, &format!("{at}.Name")));
        }
        if d.value.chars().count() > 1024 {
            return Err(invalid_value(&d.value, &format!("{at}.Value")));
        }
        if dims[..i].iter().any(|o| o.name == d.name) {
            return Err(combination(format!(
                "No metric may have duplicate dimension names. The dimension name {} is repeated in {parameter}.",
                d.name
            )));
        }
    }
    let mut dims = dims.to_vec();
    dims.sort();
    Ok(dims)
}

/// Checks a namespace (`parameter` names the member); `AWS/` ones only when `allow_aws`.
pub fn check_namespace(
    ns: Option<&str>,
    parameter: &str,
    allow_aws: bool,
) -> Result<String, ApiError> {
    let ns = ns
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing(parameter))?;
    if ns.chars().count() > 255 || ns.starts_with(':') || (!allow_aws && ns.starts_with("AWS/")) {
        return Err(invalid_value(ns, parameter));
    }
    Ok(ns.to_string())
}

/// Checks a unit name.
pub fn check_unit(unit: Option<&str>, parameter: &str) -> Result<Option<String>, ApiError> {
    match unit {
        None => Ok(None),
        Some(u) if UNITS.contains(&u) => Ok(Some(u.to_string())),
        Some(u) => Err(invalid_value(u, parameter)),
    }
}

impl Metrics {
    /// Validates a PutMetricData request against CloudWatch's rules and returns its samples.
    pub fn validate_put(
        req: PutMetricDataRequest,
        now: f64,
    ) -> Result<Vec<(MetricKey, Sample)>, ApiError> {
        let ns = check_namespace(req.namespace.as_deref(), "Namespace", false)?;
        let data = req
            .metric_data
            .filter(|d| !d.is_empty())
            .ok_or_else(|| missing("MetricData"))?;
        if data.len() > MAX_METRIC_DATA {
            return Err(invalid(format!(
                "The collection MetricData must not have a size greater than {MAX_METRIC_DATA}."
            )));
        }
        let mut out = Vec::with_capacity(data.len());
        for (i, d) in data.into_iter().enumerate() {
            let at = format!("MetricData.member.{}", i + 1);
            let name = d
                .metric_name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| missing(&format!("{at}.MetricName")))?;
            if name.chars().count() > 255 {
                return Err(invalid_value(&name, &format!("{at}.MetricName")));
            }
            let dims = check_dimensions(
                d.dimensions.as_deref().unwrap_or_default(),
                &format!("{at}.Dimensions"),
            )?;
            let unit = check_unit(d.unit.as_deref(), &format!("{at}.Unit"))?
                .unwrap_or_else(|| "None".into());
            if let Some(r) = d.storage_resolution
                && r != 1
                && r != 60
            {
                return Err(invalid_value(r, &format!("{at}.StorageResolution")));
            }
            let t = d.timestamp.unwrap_or(now);
            if t < now - MAX_AGE {
                return Err(invalid(format!(
                    "The parameter {at}.Timestamp must specify a time no more than two weeks in the past."
                )));
            }
            if t > now + MAX_AHEAD {
                return Err(invalid(format!(
                    "The parameter {at}.Timestamp must specify a time no more than two hours in the future."
                )));
            }
            let exclusive = |a: &str, b: &str| {
                combination(format!(
                    "The parameters {at}.{a} and {at}.{b} are mutually exclusive and you have specified both."
                ))
            };
            let data = match (d.value, d.statistic_values, d.values) {
                (Some(_), Some(_), _) => return Err(exclusive("Value", "StatisticValues")),
                (Some(_), _, Some(_)) => return Err(exclusive("Value", "Values")),
                (_, Some(_), Some(_)) => return Err(exclusive("StatisticValues", "Values")),
                (Some(v), None, None) => {
                    check_value(v, &format!("{at}.Value"))?;
                    SampleData::Value(v)
                }
                (None, Some(s), None) => {
                    let p = |m: &str| format!("{at}.StatisticValues.{m}");
                    let count = s.sample_count.ok_or_else(|| missing(&p("SampleCount")))?;
                    let sum = s.sum.ok_or_else(|| missing(&p("Sum")))?;
                    let min = s.minimum.ok_or_else(|| missing(&p("Minimum")))?;
                    let max = s.maximum.ok_or_else(|| missing(&p("Maximum")))?;
                    check_value(count, &p("SampleCount"))?;
                    check_value(sum, &p("Sum"))?;
                    check_value(min, &p("Minimum"))?;
                    check_value(max, &p("Maximum"))?;
                    if count <= 0.0 {
                        return Err(invalid_value(java_double(count), &p("SampleCount")));
                    }
                    if min > max {
                        return Err(combination(format!(
                            "The parameter {} must be less than or equal to the parameter {}.",
                            p("Minimum"),
                            p("Maximum")
                        )));
                    }
                    SampleData::Set {
                        count,
                        sum,
                        min,
                        max,
                    }
                }
                (None, None, Some(values)) => {
                    if values.len() > MAX_VALUES {
                        return Err(invalid(format!(
                            "The collection {at}.Values must not have a size greater than {MAX_VALUES}."
                        )));
                    }
                    for (j, v) in values.iter().enumerate() {
                        check_value(*v, &format!("{at}.Values.member.{}", j + 1))?;
                    }
                    let counts = match d.counts {
                        None => vec![1.0; values.len()],
                        Some(c) if c.len() == values.len() => {
                            for (j, n) in c.iter().enumerate() {
                                if !n.is_finite() || *n < 0.0 {
                                    return Err(invalid_value(
                                        java_double(*n),
                                        &format!("{at}.Counts.member.{}", j + 1),
                                    ));
                                }
                            }
                            c
                        }
                        Some(_) => {
                            return Err(invalid(format!(
                                "The parameters {at}.Values and {at}.Counts must be of the same size."
                            )));
                        }
                    };
                    SampleData::Values(values.into_iter().zip(counts).collect())
                }
                (None, None, None) => {
                    return Err(missing(&format!("{at}.Value")));
                }
            };
            out.push((MetricKey::new(&ns, &name, dims), Sample { t, unit, data }));
        }
        Ok(out)
    }

    /// Adds samples (each kept in time order).
    pub fn insert(&mut self, samples: impl IntoIterator<Item = (MetricKey, Sample)>) {
        for (key, sample) in samples {
            let series = self.series.entry(key).or_default();
            let pos = series.samples.partition_point(|s| s.t <= sample.t);
            series.samples.insert(pos, sample);
            self.total += 1;
            while series.samples.len() > MAX_SAMPLES_PER_METRIC {
                series.samples.pop_front();
                self.total -= 1;
            }
        }
        if self.total > MAX_SAMPLES {
            self.shed();
        }
    }

    /// Over [`MAX_SAMPLES`]: drops the oldest tenth of all samples (by time, across metrics).
    fn shed(&mut self) {
        let mut times: Vec<f64> = self
            .series
            .values()
            .flat_map(|s| s.samples.iter().map(|x| x.t))
            .collect();
        let nth = times.len() / 10;
        let (_, cutoff, _) = times.select_nth_unstable_by(nth, f64::total_cmp);
        self.drop_before(*cutoff);
    }

    /// Drops samples older than `oldest`, and metrics left empty.
    fn drop_before(&mut self, oldest: f64) {
        let mut total = 0;
        self.series.retain(|_, s| {
            while s.samples.front().is_some_and(|x| x.t < oldest) {
                s.samples.pop_front();
            }
            total += s.samples.len();
            !s.samples.is_empty()
        });
        self.total = total;
    }

    /// Drops samples older than [`RETENTION`] before `now`, and metrics left empty.
    pub fn prune(&mut self, now: f64) {
        self.drop_before(now - RETENTION);
    }

    /// The metrics matching a filter (ListMetrics): namespace, name, dimensions (a dimension
    /// without value matches any value), `RecentlyActive` PT3H (`recent_since`).
    pub fn list(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        dims: &[(String, Option<String>)],
        recent_since: Option<f64>,
    ) -> Vec<&MetricKey> {
        self.series
            .iter()
            .filter(|(k, s)| {
                namespace.is_none_or(|n| n == k.namespace)
                    && name.is_none_or(|n| n == k.name)
                    && dims.iter().all(|(dn, dv)| {
                        k.dimensions
                            .iter()
                            .any(|d| &d.name == dn && dv.as_ref().is_none_or(|v| v == &d.value))
                    })
                    && recent_since.is_none_or(|t| s.samples.back().is_some_and(|x| x.t >= t))
            })
            .map(|(k, _)| k)
            .collect()
    }

    /// The aggregates of `key`'s samples in `[start, end)` by `period` seconds, buckets starting
    /// at `start` (only buckets with data), filtered by `unit` when given.
    pub fn aggregate(
        &self,
        key: &MetricKey,
        start: f64,
        end: f64,
        period: f64,
        unit: Option<&str>,
    ) -> BTreeMap<i64, Agg> {
        let mut out: BTreeMap<i64, Agg> = BTreeMap::new();
        let Some(series) = self.series.get(key) else {
            return out;
        };
        let first = series.samples.partition_point(|s| s.t < start);
        for s in series.samples.iter().skip(first) {
            if s.t >= end {
                break;
            }
            if unit.is_some_and(|u| u != s.unit) {
                continue;
            }
            let bucket = start + ((s.t - start) / period).floor() * period;
            out.entry(bucket.round() as i64).or_default().add(s);
        }
        out
    }
}

/// `GetMetricStatisticsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricStatisticsRequest {
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: Option<Vec<Dimension>>,
    #[serde(default, deserialize_with = "lenient::opt_ts")]
    start_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_ts")]
    end_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    period: Option<i64>,
    statistics: Option<Vec<String>>,
    extended_statistics: Option<Vec<String>>,
    unit: Option<String>,
}

/// Checks a period: 1, 5, 10, 30 or a multiple of 60 (`parameter` names the member).
pub fn check_period(period: Option<i64>, parameter: &str) -> Result<i64, ApiError> {
    let p = period.ok_or_else(|| missing(parameter))?;
    if p <= 0 || !(matches!(p, 1 | 5 | 10 | 30) || p % 60 == 0) {
        return Err(invalid(format!(
            "The parameter {parameter} must be a multiple of 60 or one of 1, 5, 10, 30."
        )));
    }
    Ok(p)
}

/// Where a query's buckets start: `start` rounded down to the period's granularity.
pub fn aligned_start(start: f64, period: i64) -> f64 {
    let g = if period < 60 { period as f64 } else { 60.0 };
    (start / g).floor() * g
}

/// A number with thousands separators, as CloudWatch's messages write counts (`1,441`).
fn thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Metrics {
    /// GetMetricStatistics.
    pub fn get_statistics(&self, req: GetMetricStatisticsRequest) -> Result<Value, ApiError> {
        let ns = check_namespace(req.namespace.as_deref(), "Namespace", true)?;
        let name = req
            .metric_name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("MetricName"))?;
        let dims = check_dimensions(req.dimensions.as_deref().unwrap_or_default(), "Dimensions")?;
        let start = req.start_time.ok_or_else(|| missing("StartTime"))?;
        let end = req.end_time.ok_or_else(|| missing("EndTime"))?;
        let period = check_period(req.period, "Period")?;
        if start >= end {
            return Err(invalid(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let unit = check_unit(req.unit.as_deref(), "Unit")?;
        let stats = req.statistics.unwrap_or_default();
        let ext = req.extended_statistics.unwrap_or_default();
        if stats.is_empty() && ext.is_empty() {
            return Err(combination(
                "Must specify either Statistics or ExtendedStatistics, but not both.",
            ));
        }
        if !stats.is_empty() && !ext.is_empty() {
            return Err(combination(
                "Must specify either Statistics or ExtendedStatistics, but not both.",
            ));
        }
        if stats.len() > 5 {
            return Err(invalid(
                "The collection Statistics must not have a size greater than 5.",
            ));
        }
        if ext.len() > 10 {
            return Err(invalid(
                "The collection ExtendedStatistics must not have a size greater than 10.",
            ));
        }
        let mut parsed = Vec::new();
        for (i, s) in stats.iter().enumerate() {
            match Stat::parse(s) {
                Some(st) if !matches!(st, Stat::Percentile(_)) => parsed.push((st, false)),
                _ => {
                    return Err(invalid_value(s, &format!("Statistics.member.{}", i + 1)));
                }
            }
        }
        for s in &ext {
            match Stat::parse(s) {
                Some(st @ Stat::Percentile(_)) => parsed.push((st, true)),
                _ => {
                    return Err(invalid(format!(
                        "The value {s} for parameter ExtendedStatistics is invalid."
                    )));
                }
            }
        }
        let start = aligned_start(start, period);
        let points = ((end - start) / period as f64).ceil() as i64;
        if points > 1440 {
            return Err(combination(format!(
                "You have requested up to {} datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
                thousands(points)
            )));
        }
        let key = MetricKey::new(&ns, &name, dims);
        let buckets = self.aggregate(&key, start, end, period as f64, unit.as_deref());
        let mut datapoints = Vec::new();
        for (t, agg) in &buckets {
            let mut dp = serde_json::Map::new();
            dp.insert("Timestamp".into(), json!(*t));
            let mut extended = serde_json::Map::new();
            for (st, is_ext) in &parsed {
                let Some(v) = agg.stat(st) else { continue };
                if *is_ext {
                    extended.insert(st.name(), json!(v));
                } else {
                    dp.insert(st.name(), json!(v));
                }
            }
            if !extended.is_empty() {
                dp.insert("ExtendedStatistics".into(), Value::Object(extended));
            }
            dp.insert("Unit".into(), json!(agg.unit));
            datapoints.push(Value::Object(dp));
        }
        Ok(json!({"Label": name, "Datapoints": datapoints}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::wire::decode;

    fn put(body: Value, now: f64) -> Result<Vec<(MetricKey, Sample)>, ApiError> {
        Metrics::validate_put(decode(body)?, now)
    }

    #[test]
    fn put_metric_data_refuses_what_cloudwatch_refuses() {
        let now = 1_800_000_000.0;
        let e = put(
            json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": "NaN"}]}),
            now,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "The value NaN for parameter MetricData.member.1.Value is invalid."
        );
        assert_eq!(e.code.as_str(), "InvalidParameterValue");
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1, "Values": [1]}]}), now).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterCombination");
        assert_eq!(
            e.message,
            "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually exclusive and you have specified both."
        );
        let e = put(
            json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1e200}]}),
            now,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "The value 1.0E200 for parameter MetricData.member.1.Value is invalid."
        );
        let e = put(
            json!({"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "M", "Value": 1}]}),
            now,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "The value AWS/ECS for parameter Namespace is invalid."
        );
        let e = put(
            json!({"MetricData": [{"MetricName": "M", "Value": 1}]}),
            now,
        )
        .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("MissingParameter", "The parameter Namespace is required.")
        );
        let many: Vec<Value> = (0..151).map(|i| json!(i)).collect();
        let e = put(
            json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Values": many}]}),
            now,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "The collection MetricData.member.1.Values must not have a size greater than 150."
        );
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1, "Dimensions": [{"Name": "a", "Value": ""}]}]}), now).unwrap_err();
        assert_eq!(
            e.message,
            "The parameter MetricData.member.1.Dimensions.member.1.Value is required."
        );
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1, "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]}]}), now).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterCombination");
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Values": [1, 2], "Counts": [1]}]}), now).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterValue");
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1, "StorageResolution": 5}]}), now).unwrap_err();
        assert_eq!(
            e.message,
            "The value 5 for parameter MetricData.member.1.StorageResolution is invalid."
        );
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1, "Timestamp": now - 15.0 * 86400.0}]}), now).unwrap_err();
        assert!(e.message.contains("two weeks in the past"), "{}", e.message);
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1, "Unit": "Parsecs"}]}), now).unwrap_err();
        assert_eq!(
            e.message,
            "The value Parsecs for parameter MetricData.member.1.Unit is invalid."
        );
        let e = put(json!({"Namespace": "N", "MetricData": [{"MetricName": "M", "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 2, "Maximum": 1}}]}), now).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterCombination");
    }

    #[test]
    fn statistics_over_values_counts_and_sets() {
        let now = 1_800_000_000.0;
        let mut m = Metrics::default();
        m.insert(put(json!({"Namespace": "N", "MetricData": [
            {"MetricName": "M", "Value": 10, "Timestamp": 1_799_999_940.0, "Unit": "Percent"},
            {"MetricName": "M", "Values": [20, 30], "Counts": [1, 2], "Timestamp": 1_799_999_950.0, "Unit": "Percent"},
            {"MetricName": "M", "StatisticValues": {"SampleCount": 2, "Sum": 100, "Minimum": 40, "Maximum": 60}, "Timestamp": 1_800_000_000.0, "Unit": "Percent"},
        ]}), now).unwrap());
        let out = m
            .get_statistics(decode(json!({
                "Namespace": "N", "MetricName": "M", "StartTime": 1_799_999_940.0, "EndTime": 1_800_000_060.0,
                "Period": 60, "Statistics": ["Average", "Sum", "Minimum", "Maximum", "SampleCount"]
            })).unwrap())
            .unwrap();
        let dps = out["Datapoints"].as_array().unwrap();
        assert_eq!(dps.len(), 2);
        assert_eq!(dps[0]["SampleCount"], json!(4.0));
        assert_eq!(dps[0]["Sum"], json!(90.0));
        assert_eq!(dps[0]["Average"], json!(22.5));
        assert_eq!(dps[0]["Minimum"], json!(10.0));
        assert_eq!(dps[0]["Unit"], json!("Percent"));
        assert_eq!(dps[1]["Maximum"], json!(60.0));
        let out = m
            .get_statistics(decode(json!({
                "Namespace": "N", "MetricName": "M", "StartTime": 1_799_999_940.0, "EndTime": 1_800_000_000.0,
                "Period": 60, "ExtendedStatistics": ["p50", "p99"]
            })).unwrap())
            .unwrap();
        assert_eq!(
            out["Datapoints"][0]["ExtendedStatistics"],
            json!({"p50": 20.0, "p99": 30.0})
        );
        let e = m
            .get_statistics(
                decode(json!({
                    "Namespace": "N", "MetricName": "M", "StartTime": 0, "EndTime": 86_460,
                    "Period": 60, "Statistics": ["Sum"]
                }))
                .unwrap(),
            )
            .unwrap_err();
        assert_eq!(
            e.message,
            "You have requested up to 1,441 datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        );
    }

    #[test]
    fn samples_are_bounded_and_age_out() {
        let mut m = Metrics::default();
        let key = MetricKey::new("N", "M", vec![]);
        m.insert((0..MAX_SAMPLES_PER_METRIC + 10).map(|i| {
            (
                key.clone(),
                Sample {
                    t: i as f64,
                    unit: "None".into(),
                    data: SampleData::Value(1.0),
                },
            )
        }));
        assert_eq!(m.series[&key].samples.len(), MAX_SAMPLES_PER_METRIC);
        assert_eq!(m.total, MAX_SAMPLES_PER_METRIC);
        // Past the global bound, the oldest samples of every metric go first.
        for n in 0..(MAX_SAMPLES / MAX_SAMPLES_PER_METRIC + 1) {
            let other = MetricKey::new("N", &format!("M{n}"), vec![]);
            m.insert((0..MAX_SAMPLES_PER_METRIC).map(|i| {
                let t = 1e6 + i as f64;
                (
                    other.clone(),
                    Sample {
                        t,
                        unit: "None".into(),
                        data: SampleData::Value(1.0),
                    },
                )
            }));
        }
        assert!(m.total <= MAX_SAMPLES, "{}", m.total);
        assert!(
            !m.series.contains_key(&key),
            "the oldest metric's samples went first"
        );
        m.prune(RETENTION + 1e9);
        assert!(m.list(None, None, &[], None).is_empty());
    }

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(85.0), "85.0");
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(1e200), "1.0E200");
        assert_eq!(java_double(1.5e-300), "1.5E-300");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
    }
}
