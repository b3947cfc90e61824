//! Metric alarms: PutMetricAlarm, DescribeAlarms, DescribeAlarmHistory, SetAlarmState,
//! DeleteAlarms, Enable/DisableAlarmActions, and the evaluation that moves alarms between OK,
//! ALARM and INSUFFICIENT_DATA on its own ([`Alarms::evaluate`], with time as an explicit `now`).
//!
//! Evaluation looks at the alarm's last `EvaluationPeriods` complete periods (aligned to the
//! period from the epoch), takes the statistic of each (or the metric math result, for alarms
//! with `Metrics`), and applies `DatapointsToAlarm` and `TreatMissingData` as CloudWatch
//! documents them. Actions are recorded but not executed (no SNS or Auto Scaling here).
//! Composite alarms and anomaly detection thresholds are not emulated.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::data_query::{GetMetricDataRequest, MetricDataQuery, check_stat};
use super::error::{CwError, bad_token, combination, invalid, invalid_value, missing};
use super::metrics::{
    Dimension, MetricKey, Metrics, Stat, check_dimensions, check_namespace, check_unit, java_double,
};
use super::wire::{decode, iso8601, lenient};
use crate::front::ApiError;

/// The most alarms kept (CloudWatch's quota is per region and raisable; this bounds memory).
pub const MAX_ALARMS: usize = 10_000;
/// The most history items kept (CloudWatch keeps two weeks).
pub const MAX_HISTORY: usize = 10_000;
/// How long history is kept.
pub const HISTORY_RETENTION: f64 = 14.0 * 24.0 * 3600.0;

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// Within the threshold.
    Ok,
    /// Beyond it.
    Alarm,
    /// Not enough data.
    InsufficientData,
}

impl AlarmState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OK" => AlarmState::Ok,
            "ALARM" => AlarmState::Alarm,
            "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
            _ => return None,
        })
    }
}

/// A threshold comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `>=`.
    GreaterThanOrEqualToThreshold,
    /// `>`.
    GreaterThanThreshold,
    /// `<`.
    LessThanThreshold,
    /// `<=`.
    LessThanOrEqualToThreshold,
}

impl Comparison {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "GreaterThanOrEqualToThreshold" => Comparison::GreaterThanOrEqualToThreshold,
            "GreaterThanThreshold" => Comparison::GreaterThanThreshold,
            "LessThanThreshold" => Comparison::LessThanThreshold,
            "LessThanOrEqualToThreshold" => Comparison::LessThanOrEqualToThreshold,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Comparison::GreaterThanThreshold => "GreaterThanThreshold",
            Comparison::LessThanThreshold => "LessThanThreshold",
            Comparison::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }

    fn breaches(self, v: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => v >= threshold,
            Comparison::GreaterThanThreshold => v > threshold,
            Comparison::LessThanThreshold => v < threshold,
            Comparison::LessThanOrEqualToThreshold => v <= threshold,
        }
    }

    /// CloudWatch's words in reasons ("greater than or equal to").
    fn words(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Comparison::GreaterThanThreshold => "greater than",
            Comparison::LessThanThreshold => "less than",
            Comparison::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// How missing periods count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MissingData {
    /// Missing stays missing (the default).
    Missing,
    /// Missing counts as within the threshold.
    NotBreaching,
    /// Missing counts as beyond it.
    Breaching,
    /// Missing periods keep the current state.
    Ignore,
}

impl MissingData {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "missing" => MissingData::Missing,
            "notBreaching" => MissingData::NotBreaching,
            "breaching" => MissingData::Breaching,
            "ignore" => MissingData::Ignore,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            MissingData::Missing => "missing",
            MissingData::NotBreaching => "notBreaching",
            MissingData::Breaching => "breaching",
            MissingData::Ignore => "ignore",
        }
    }
}

/// What an alarm watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Watched {
    /// One metric's statistic.
    Metric {
        /// The metric.
        key: MetricKey,
        /// The statistic (or extended statistic).
        stat: Stat,
        /// Whether `stat` came as `ExtendedStatistic`.
        extended: bool,
        /// Unit filter.
        unit: Option<String>,
    },
    /// Metric math: the `Metrics` queries as given (one returns data).
    Math(Vec<Value>),
}

/// A stored alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// AlarmName.
    pub name: String,
    /// AlarmArn.
    pub arn: String,
    /// AlarmDescription.
    pub description: Option<String>,
    /// ActionsEnabled.
    pub actions_enabled: bool,
    /// OKActions.
    pub ok_actions: Vec<String>,
    /// AlarmActions.
    pub alarm_actions: Vec<String>,
    /// InsufficientDataActions.
    pub insufficient_data_actions: Vec<String>,
    /// The metric or math.
    pub watched: Watched,
    /// Seconds.
    pub period: i64,
    /// EvaluationPeriods.
    pub evaluation_periods: i64,
    /// DatapointsToAlarm (absent: EvaluationPeriods).
    pub datapoints_to_alarm: Option<i64>,
    /// Threshold.
    pub threshold: f64,
    /// ComparisonOperator.
    pub comparison: Comparison,
    /// TreatMissingData as given.
    pub treat_missing_data: Option<MissingData>,
    /// EvaluateLowSampleCountPercentile as given.
    pub evaluate_low_sample_count_percentile: Option<String>,
    /// Tags as given.
    pub tags: Vec<Value>,
    /// AlarmConfigurationUpdatedTimestamp.
    pub configuration_updated: f64,
    /// StateValue.
    pub state: AlarmState,
    /// StateReason.
    pub state_reason: String,
    /// StateReasonData.
    pub state_reason_data: Option<String>,
    /// StateUpdatedTimestamp.
    pub state_updated: f64,
    /// StateTransitionedTimestamp.
    pub state_transitioned: f64,
}

impl Alarm {
    /// The `MetricAlarm` shape.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "AlarmName": self.name,
            "AlarmArn": self.arn,
            "AlarmConfigurationUpdatedTimestamp": self.configuration_updated,
            "ActionsEnabled": self.actions_enabled,
            "OKActions": self.ok_actions,
            "AlarmActions": self.alarm_actions,
            "InsufficientDataActions": self.insufficient_data_actions,
            "StateValue": self.state.as_str(),
            "StateReason": self.state_reason,
            "StateUpdatedTimestamp": self.state_updated,
            "EvaluationPeriods": self.evaluation_periods,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison.as_str(),
            "StateTransitionedTimestamp": self.state_transitioned,
        });
        if let Some(d) = &self.description {
            v["AlarmDescription"] = json!(d);
        }
        if let Some(d) = &self.state_reason_data {
            v["StateReasonData"] = json!(d);
        }
        if let Some(n) = self.datapoints_to_alarm {
            v["DatapointsToAlarm"] = json!(n);
        }
        if let Some(t) = self.treat_missing_data {
            v["TreatMissingData"] = json!(t.as_str());
        }
        if let Some(e) = &self.evaluate_low_sample_count_percentile {
            v["EvaluateLowSampleCountPercentile"] = json!(e);
        }
        match &self.watched {
            Watched::Metric {
                key,
                stat,
                extended,
                unit,
            } => {
                v["MetricName"] = json!(key.name);
                v["Namespace"] = json!(key.namespace);
                v["Dimensions"] = json!(key.dimensions);
                v["Period"] = json!(self.period);
                if *extended {
                    v["ExtendedStatistic"] = json!(stat.name());
                } else {
                    v["Statistic"] = json!(stat.name());
                }
                if let Some(u) = unit {
                    v["Unit"] = json!(u);
                }
            }
            Watched::Math(queries) => {
                v["Dimensions"] = json!([]);
                v["Metrics"] = json!(queries);
            }
        }
        v
    }
}

/// One history item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// Its sequence number (the store's key).
    pub seq: u64,
    /// AlarmName.
    pub alarm_name: String,
    /// Timestamp.
    pub timestamp: f64,
    /// ConfigurationUpdate, StateUpdate or Action.
    pub kind: String,
    /// HistorySummary.
    pub summary: String,
    /// HistoryData (JSON text).
    pub data: String,
}

impl HistoryItem {
    fn to_json(&self) -> Value {
        json!({
            "AlarmName": self.alarm_name,
            "AlarmType": "MetricAlarm",
            "Timestamp": self.timestamp,
            "HistoryItemType": self.kind,
            "HistorySummary": self.summary,
            "HistoryData": self.data,
        })
    }
}

/// Every alarm and the history, with what changed since the last [`Alarms::take_changes`].
#[derive(Debug, Default)]
pub struct Alarms {
    /// By name.
    pub alarms: BTreeMap<String, Alarm>,
    /// Oldest first.
    pub history: VecDeque<HistoryItem>,
    next_seq: u64,
    /// Alarm names changed (or deleted) since the last take.
    dirty: std::collections::BTreeSet<String>,
    /// History items added since the last take.
    new_history: Vec<u64>,
    /// History items dropped since the last take.
    dropped_history: Vec<u64>,
}

/// What to persist.
#[derive(Debug, Default)]
pub struct AlarmChanges {
    /// Alarms to write (`Some`) or delete (`None`), by name.
    pub alarms: Vec<(String, Option<Alarm>)>,
    /// History items to write.
    pub history: Vec<HistoryItem>,
    /// History items to delete, by sequence.
    pub dropped_history: Vec<u64>,
}

/// `PutMetricAlarmInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutMetricAlarmRequest {
    alarm_name: Option<String>,
    alarm_description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    actions_enabled: Option<bool>,
    #[serde(rename = "OKActions")]
    ok_actions: Option<Vec<String>>,
    alarm_actions: Option<Vec<String>>,
    insufficient_data_actions: Option<Vec<String>>,
    metric_name: Option<String>,
    namespace: Option<String>,
    statistic: Option<String>,
    extended_statistic: Option<String>,
    dimensions: Option<Vec<Dimension>>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    period: Option<i64>,
    unit: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    evaluation_periods: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    datapoints_to_alarm: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    threshold: Option<f64>,
    comparison_operator: Option<String>,
    treat_missing_data: Option<String>,
    evaluate_low_sample_count_percentile: Option<String>,
    metrics: Option<Vec<Value>>,
    tags: Option<Vec<Value>>,
    threshold_metric_id: Option<String>,
}

/// `DescribeAlarmsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeAlarmsRequest {
    alarm_names: Option<Vec<String>>,
    alarm_name_prefix: Option<String>,
    alarm_types: Option<Vec<String>>,
    state_value: Option<String>,
    action_prefix: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    max_records: Option<i64>,
    next_token: Option<String>,
}

/// `DescribeAlarmHistoryInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeAlarmHistoryRequest {
    alarm_name: Option<String>,
    alarm_types: Option<Vec<String>>,
    history_item_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_ts")]
    start_date: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_ts")]
    end_date: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    max_records: Option<i64>,
    next_token: Option<String>,
    scan_by: Option<String>,
}

/// `DescribeAlarmsForMetricInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeAlarmsForMetricRequest {
    metric_name: Option<String>,
    namespace: Option<String>,
    statistic: Option<String>,
    extended_statistic: Option<String>,
    dimensions: Option<Vec<Dimension>>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    period: Option<i64>,
    unit: Option<String>,
}

/// `SetAlarmStateInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetAlarmStateRequest {
    alarm_name: Option<String>,
    state_value: Option<String>,
    state_reason: Option<String>,
    state_reason_data: Option<String>,
}

/// `DeleteAlarmsInput`, `EnableAlarmActionsInput`, `DisableAlarmActionsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmNamesRequest {
    alarm_names: Option<Vec<String>>,
}

fn check_alarm_name(name: Option<String>, parameter: &str) -> Result<String, ApiError> {
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing(parameter))?;
    if name.chars().count() > 255 {
        return Err(invalid_value(&name, parameter));
    }
    Ok(name)
}

fn page_index(token: Option<&str>) -> Result<usize, ApiError> {
    token.map_or(Ok(0), |t| t.parse().map_err(|_| bad_token()))
}

fn max_records(n: Option<i64>, default: usize) -> Result<usize, ApiError> {
    match n {
        None => Ok(default),
        Some(n @ 1..=100) => Ok(n as usize),
        Some(n) => Err(invalid_value(n, "MaxRecords")),
    }
}

/// CloudWatch's `dd/MM/yy HH:mm:ss` in reasons.
fn reason_time(secs: f64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs.floor() as i64) else {
        return String::new();
    };
    format!(
        "{:02}/{:02}/{:02} {:02}:{:02}:{:02}",
        t.day(),
        u8::from(t.month()),
        t.year() % 100,
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

impl Alarms {
    fn record(&mut self, alarm_name: &str, now: f64, kind: &str, summary: String, data: Value) {
        self.next_seq += 1;
        let item = HistoryItem {
            seq: self.next_seq,
            alarm_name: alarm_name.to_string(),
            timestamp: now,
            kind: kind.to_string(),
            summary,
            data: data.to_string(),
        };
        self.new_history.push(item.seq);
        self.history.push_back(item);
        while self.history.len() > MAX_HISTORY
            || self
                .history
                .front()
                .is_some_and(|h| h.timestamp < now - HISTORY_RETENTION)
        {
            if let Some(old) = self.history.pop_front() {
                self.dropped_history.push(old.seq);
            }
        }
    }

    /// Restores an alarm row.
    pub fn restore_alarm(&mut self, alarm: Alarm) {
        self.alarms.insert(alarm.name.clone(), alarm);
    }

    /// Restores a history row (rows come in key order, oldest first).
    pub fn restore_history(&mut self, item: HistoryItem) {
        self.next_seq = self.next_seq.max(item.seq);
        self.history.push_back(item);
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> AlarmChanges {
        let alarms = std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|n| {
                let a = self.alarms.get(&n).cloned();
                (n, a)
            })
            .collect();
        let new: std::collections::BTreeSet<u64> =
            std::mem::take(&mut self.new_history).into_iter().collect();
        let dropped = std::mem::take(&mut self.dropped_history);
        let history = self
            .history
            .iter()
            .filter(|h| new.contains(&h.seq))
            .cloned()
            .collect();
        AlarmChanges {
            alarms,
            history,
            dropped_history: dropped.into_iter().filter(|s| !new.contains(s)).collect(),
        }
    }

    /// PutMetricAlarm.
    pub fn put(
        &mut self,
        req: PutMetricAlarmRequest,
        arn_prefix: &str,
        now: f64,
    ) -> Result<(), ApiError> {
        let name = check_alarm_name(req.alarm_name, "AlarmName")?;
        let evaluation_periods = req
            .evaluation_periods
            .ok_or_else(|| missing("EvaluationPeriods"))?;
        if evaluation_periods < 1 {
            return Err(invalid_value(evaluation_periods, "EvaluationPeriods"));
        }
        let op = req
            .comparison_operator
            .as_deref()
            .ok_or_else(|| missing("ComparisonOperator"))?;
        let comparison = Comparison::parse(op).ok_or_else(|| {
            if op.contains("Lower") || op.contains("Upper") {
                invalid(format!(
                    "The comparison operator {op} needs an anomaly detection band, which this emulator does not provide."
                ))
            } else {
                invalid_value(op, "ComparisonOperator")
            }
        })?;
        if req.threshold_metric_id.is_some() {
            return Err(invalid(
                "ThresholdMetricId (anomaly detection bands) is not supported by this emulator.",
            ));
        }
        let threshold = req.threshold.ok_or_else(|| missing("Threshold"))?;
        if !threshold.is_finite() {
            return Err(invalid_value(java_double(threshold), "Threshold"));
        }
        let (watched, period) = match req.metrics {
            Some(queries) => {
                if req.metric_name.is_some()
                    || req.namespace.is_some()
                    || req.statistic.is_some()
                    || req.extended_statistic.is_some()
                    || req.dimensions.is_some()
                    || req.period.is_some()
                {
                    return Err(combination(
                        "The parameters MetricName, Namespace, Statistic, ExtendedStatistic, Dimensions and Period cannot be used together with Metrics.",
                    ));
                }
                let period = math_period(&queries)?;
                (Watched::Math(queries), period)
            }
            None => {
                let ns = check_namespace(req.namespace.as_deref(), "Namespace", true)?;
                let metric = req
                    .metric_name
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| missing("MetricName"))?;
                let dims =
                    check_dimensions(req.dimensions.as_deref().unwrap_or_default(), "Dimensions")?;
                let period = alarm_period(req.period)?;
                let (stat, extended) = match (req.statistic, req.extended_statistic) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(combination(
                            "Exactly one of the parameters Statistic and ExtendedStatistic must be specified.",
                        ));
                    }
                    (Some(s), None) => match Stat::parse(&s) {
                        Some(st) if !matches!(st, Stat::Percentile(_)) => (st, false),
                        _ => return Err(invalid_value(s, "Statistic")),
                    },
                    (None, Some(s)) => match Stat::parse(&s) {
                        Some(st @ Stat::Percentile(_)) => (st, true),
                        _ => return Err(invalid_value(s, "ExtendedStatistic")),
                    },
                };
                let unit = check_unit(req.unit.as_deref(), "Unit")?;
                (
                    Watched::Metric {
                        key: MetricKey::new(&ns, &metric, dims),
                        stat,
                        extended,
                        unit,
                    },
                    period,
                )
            }
        };
        let span = period.checked_mul(evaluation_periods).unwrap_or(i64::MAX);
        if period < 3600 && span > 86_400 {
            return Err(invalid(
                "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400).",
            ));
        }
        if span > 7 * 86_400 {
            return Err(invalid(
                "Metrics cannot be checked across more than a week (EvaluationPeriods * Period must be <= 604800).",
            ));
        }
        if let Some(d) = req.datapoints_to_alarm
            && (d < 1 || d > evaluation_periods)
        {
            return Err(invalid(format!(
                "DatapointsToAlarm must be between 1 and EvaluationPeriods ({evaluation_periods}); got {d}."
            )));
        }
        let treat_missing_data = req
            .treat_missing_data
            .as_deref()
            .map(|t| MissingData::parse(t).ok_or_else(|| invalid_value(t, "TreatMissingData")))
            .transpose()?;
        if let Some(e) = &req.evaluate_low_sample_count_percentile
            && e != "evaluate"
            && e != "ignore"
        {
            return Err(invalid_value(e, "EvaluateLowSampleCountPercentile"));
        }
        for (member, actions) in [
            ("OKActions", &req.ok_actions),
            ("AlarmActions", &req.alarm_actions),
            ("InsufficientDataActions", &req.insufficient_data_actions),
        ] {
            let actions = actions.as_deref().unwrap_or_default();
            if actions.len() > 5 {
                return Err(invalid(format!(
                    "The collection {member} must not have a size greater than 5."
                )));
            }
            if let Some(a) = actions.iter().find(|a| !a.starts_with("arn:")) {
                return Err(invalid(format!("Invalid arn syntax: {a}")));
            }
        }
        let existing = self.alarms.get(&name).cloned();
        if existing.is_none() && self.alarms.len() >= MAX_ALARMS {
            return Err(CwError::LimitExceeded.with(format!(
                "The maximum number of alarms ({MAX_ALARMS}) has been reached."
            )));
        }
        let (state, reason, reason_data, updated, transitioned) = match &existing {
            Some(a) => (
                a.state,
                a.state_reason.clone(),
                a.state_reason_data.clone(),
                a.state_updated,
                a.state_transitioned,
            ),
            None => (
                AlarmState::InsufficientData,
                "Unchecked: Initial alarm creation".to_string(),
                None,
                now,
                now,
            ),
        };
        let alarm = Alarm {
            arn: format!("{arn_prefix}{name}"),
            name: name.clone(),
            description: req.alarm_description,
            actions_enabled: req.actions_enabled.unwrap_or(true),
            ok_actions: req.ok_actions.unwrap_or_default(),
            alarm_actions: req.alarm_actions.unwrap_or_default(),
            insufficient_data_actions: req.insufficient_data_actions.unwrap_or_default(),
            watched,
            period,
            evaluation_periods,
            datapoints_to_alarm: req.datapoints_to_alarm,
            threshold,
            comparison,
            treat_missing_data,
            evaluate_low_sample_count_percentile: req.evaluate_low_sample_count_percentile,
            tags: req.tags.unwrap_or_default(),
            configuration_updated: now,
            state,
            state_reason: reason,
            state_reason_data: reason_data,
            state_updated: updated,
            state_transitioned: transitioned,
        };
        let (summary, data) = match &existing {
            None => (
                format!("Alarm \"{name}\" created"),
                json!({"type": "Create", "version": "1.0", "createdAlarm": history_alarm(&alarm)}),
            ),
            Some(old) => (
                format!("Alarm \"{name}\" updated"),
                json!({"type": "Update", "version": "1.0",
                    "originalAlarm": history_alarm(old), "updatedAlarm": history_alarm(&alarm)}),
            ),
        };
        self.alarms.insert(name.clone(), alarm);
        self.dirty.insert(name.clone());
        self.record(&name, now, "ConfigurationUpdate", summary, data);
        Ok(())
    }

    /// DescribeAlarms.
    pub fn describe(&self, req: DescribeAlarmsRequest) -> Result<Value, ApiError> {
        if req.alarm_names.is_some() && req.alarm_name_prefix.is_some() {
            return Err(combination(
                "AlarmNames and AlarmNamePrefix are mutually exclusive and you have specified both.",
            ));
        }
        if req.alarm_names.as_ref().is_some_and(|n| n.len() > 100) {
            return Err(invalid(
                "The collection AlarmNames must not have a size greater than 100.",
            ));
        }
        let state = req
            .state_value
            .as_deref()
            .map(|s| AlarmState::parse(s).ok_or_else(|| invalid_value(s, "StateValue")))
            .transpose()?;
        let types = req.alarm_types.unwrap_or_default();
        for t in &types {
            if t != "MetricAlarm" && t != "CompositeAlarm" {
                return Err(invalid_value(t, "AlarmTypes"));
            }
        }
        let metric = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
        let max = max_records(req.max_records, 50)?;
        let start = page_index(req.next_token.as_deref())?;
        let matching: Vec<&Alarm> = self
            .alarms
            .values()
            .filter(|_| metric)
            .filter(|a| {
                req.alarm_names
                    .as_ref()
                    .is_none_or(|names| names.contains(&a.name))
            })
            .filter(|a| {
                req.alarm_name_prefix
                    .as_ref()
                    .is_none_or(|p| a.name.starts_with(p.as_str()))
            })
            .filter(|a| state.is_none_or(|s| a.state == s))
            .filter(|a| {
                req.action_prefix.as_ref().is_none_or(|p| {
                    a.ok_actions
                        .iter()
                        .chain(&a.alarm_actions)
                        .chain(&a.insufficient_data_actions)
                        .any(|x| x.starts_with(p.as_str()))
                })
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(max)
            .map(|a| a.to_json())
            .collect();
        let mut out = json!({"MetricAlarms": page, "CompositeAlarms": []});
        if start.saturating_add(max) < matching.len() {
            out["NextToken"] = json!((start + max).to_string());
        }
        Ok(out)
    }

    /// DescribeAlarmsForMetric: the metric alarms (not math alarms) on one metric, filtered by
    /// statistic, period and unit when given.
    pub fn for_metric(&self, req: DescribeAlarmsForMetricRequest) -> Result<Value, ApiError> {
        let ns = check_namespace(req.namespace.as_deref(), "Namespace", true)?;
        let name = req
            .metric_name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("MetricName"))?;
        let dims = check_dimensions(req.dimensions.as_deref().unwrap_or_default(), "Dimensions")?;
        let key = MetricKey::new(&ns, &name, dims);
        let wanted = req
            .statistic
            .as_deref()
            .or(req.extended_statistic.as_deref())
            .map(|s| Stat::parse(s).ok_or_else(|| invalid_value(s, "Statistic")))
            .transpose()?;
        let alarms: Vec<Value> = self
            .alarms
            .values()
            .filter(|a| match &a.watched {
                Watched::Metric {
                    key: k, stat, unit, ..
                } => {
                    *k == key
                        && wanted.as_ref().is_none_or(|w| w == stat)
                        && req.period.is_none_or(|p| p == a.period)
                        && req.unit.as_ref().is_none_or(|u| unit.as_ref() == Some(u))
                }
                Watched::Math(_) => false,
            })
            .map(Alarm::to_json)
            .collect();
        Ok(json!({"MetricAlarms": alarms}))
    }

    /// DescribeAlarmHistory.
    pub fn history(&self, req: DescribeAlarmHistoryRequest) -> Result<Value, ApiError> {
        if let Some(k) = &req.history_item_type
            && !["ConfigurationUpdate", "StateUpdate", "Action"].contains(&k.as_str())
        {
            return Err(invalid_value(k, "HistoryItemType"));
        }
        let descending = match req.scan_by.as_deref() {
            None | Some("TimestampDescending") => true,
            Some("TimestampAscending") => false,
            Some(o) => return Err(invalid_value(o, "ScanBy")),
        };
        let metric = req
            .alarm_types
            .as_ref()
            .is_none_or(|t| t.is_empty() || t.iter().any(|t| t == "MetricAlarm"));
        let max = max_records(req.max_records, 100)?;
        let start = page_index(req.next_token.as_deref())?;
        let mut items: Vec<&HistoryItem> = self
            .history
            .iter()
            .filter(|_| metric)
            .filter(|h| req.alarm_name.as_ref().is_none_or(|n| &h.alarm_name == n))
            .filter(|h| req.history_item_type.as_ref().is_none_or(|k| &h.kind == k))
            .filter(|h| req.start_date.is_none_or(|t| h.timestamp >= t))
            .filter(|h| req.end_date.is_none_or(|t| h.timestamp <= t))
            .collect();
        if descending {
            items.reverse();
        }
        let page: Vec<Value> = items
            .iter()
            .skip(start)
            .take(max)
            .map(|h| h.to_json())
            .collect();
        let mut out = json!({"AlarmHistoryItems": page});
        if start.saturating_add(max) < items.len() {
            out["NextToken"] = json!((start + max).to_string());
        }
        Ok(out)
    }

    /// SetAlarmState.
    pub fn set_state(&mut self, req: SetAlarmStateRequest, now: f64) -> Result<(), ApiError> {
        let name = check_alarm_name(req.alarm_name, "AlarmName")?;
        let value = req.state_value.ok_or_else(|| missing("StateValue"))?;
        let state = AlarmState::parse(&value).ok_or_else(|| invalid_value(&value, "StateValue"))?;
        let reason = req.state_reason.ok_or_else(|| missing("StateReason"))?;
        if reason.chars().count() > 1023 {
            return Err(invalid_value(&reason, "StateReason"));
        }
        if let Some(d) = &req.state_reason_data
            && serde_json::from_str::<Value>(d).is_err()
        {
            return Err(CwError::InvalidFormat.with("StateReasonData must be valid JSON."));
        }
        if !self.alarms.contains_key(&name) {
            return Err(CwError::ResourceNotFound.with(format!("Alarm {name} not found")));
        }
        let data = req
            .state_reason_data
            .and_then(|d| serde_json::from_str(&d).ok());
        self.transition(&name, state, reason, data, now);
        Ok(())
    }

    /// Moves alarm `name` to `state` (a history item when the state changes).
    fn transition(
        &mut self,
        name: &str,
        state: AlarmState,
        reason: String,
        reason_data: Option<Value>,
        now: f64,
    ) {
        let Some(alarm) = self.alarms.get_mut(name) else {
            return;
        };
        let old = alarm.state;
        let old_reason = std::mem::replace(&mut alarm.state_reason, reason.clone());
        alarm.state = state;
        alarm.state_reason_data = reason_data.as_ref().map(Value::to_string);
        alarm.state_updated = now;
        if old != state {
            alarm.state_transitioned = now;
        }
        self.dirty.insert(name.to_string());
        if old != state {
            let mut new_state = json!({"stateValue": state.as_str(), "stateReason": reason});
            if let Some(d) = reason_data {
                new_state["stateReasonData"] = d;
            }
            self.record(
                name,
                now,
                "StateUpdate",
                format!("Alarm updated from {} to {}", old.as_str(), state.as_str()),
                json!({
                    "version": "1.0",
                    "oldState": {"stateValue": old.as_str(), "stateReason": old_reason},
                    "newState": new_state,
                }),
            );
        }
    }

    /// DeleteAlarms. Names of alarms that do not exist are skipped without an error, as
    /// CloudWatch answers them.
    pub fn delete(&mut self, req: AlarmNamesRequest, now: f64) -> Result<(), ApiError> {
        let names = req.alarm_names.ok_or_else(|| missing("AlarmNames"))?;
        if names.len() > 100 {
            return Err(invalid(
                "The collection AlarmNames must not have a size greater than 100.",
            ));
        }
        for name in names {
            if let Some(a) = self.alarms.remove(&name) {
                self.dirty.insert(name.clone());
                self.record(
                    &name,
                    now,
                    "ConfigurationUpdate",
                    format!("Alarm \"{name}\" deleted"),
                    json!({"type": "Delete", "version": "1.0", "deletedAlarm": history_alarm(&a)}),
                );
            }
        }
        Ok(())
    }

    /// EnableAlarmActions / DisableAlarmActions (unknown names are skipped, as CloudWatch does).
    pub fn set_actions_enabled(
        &mut self,
        req: AlarmNamesRequest,
        enabled: bool,
    ) -> Result<(), ApiError> {
        let names = req.alarm_names.ok_or_else(|| missing("AlarmNames"))?;
        if names.len() > 100 {
            return Err(invalid(
                "The collection AlarmNames must not have a size greater than 100.",
            ));
        }
        for name in names {
            if let Some(a) = self.alarms.get_mut(&name) {
                a.actions_enabled = enabled;
                self.dirty.insert(name);
            }
        }
        Ok(())
    }

    /// Evaluates every alarm at `now` against `metrics`; returns how many changed state.
    pub fn evaluate(&mut self, metrics: &Metrics, now: f64) -> usize {
        let names: Vec<String> = self.alarms.keys().cloned().collect();
        let mut changed = 0;
        for name in names {
            let Some(alarm) = self.alarms.get(&name) else {
                continue;
            };
            let Some((state, reason, data)) = evaluate_one(alarm, metrics, now) else {
                continue;
            };
            if state != alarm.state {
                changed += 1;
                self.transition(&name, state, reason, Some(data), now);
            }
        }
        changed
    }
}

/// The alarm's configuration as history data carries it.
fn history_alarm(a: &Alarm) -> Value {
    let mut v = a.to_json();
    if let Some(o) = v.as_object_mut() {
        for k in [
            "StateValue",
            "StateReason",
            "StateReasonData",
            "StateUpdatedTimestamp",
            "StateTransitionedTimestamp",
            "AlarmConfigurationUpdatedTimestamp",
        ] {
            o.remove(k);
        }
    }
    v
}

/// An alarm period: 10, 30 or a multiple of 60.
fn alarm_period(p: Option<i64>) -> Result<i64, ApiError> {
    let p = p.ok_or_else(|| missing("Period"))?;
    if p == 10 || p == 30 || (p > 0 && p % 60 == 0) {
        Ok(p)
    } else {
        Err(invalid(
            "The parameter Period must be 10, 30 or a multiple of 60.",
        ))
    }
}

/// A math alarm's period: its queries' (MetricStat periods, or the expression's), and exactly
/// one query returns data.
fn math_period(queries: &[Value]) -> Result<i64, ApiError> {
    if queries.is_empty() || queries.len() > 20 {
        return Err(invalid(
            "The collection Metrics must have between 1 and 20 items.",
        ));
    }
    let parsed: Vec<MetricDataQuery> = queries
        .iter()
        .map(|q| decode(q.clone()))
        .collect::<Result<_, _>>()?;
    let returning = parsed
        .iter()
        .filter(|q| q.return_data != Some(false))
        .count();
    if returning != 1 {
        return Err(invalid(
            "Exactly one element of the metrics list should return data.",
        ));
    }
    let mut period = None;
    for (i, q) in parsed.iter().enumerate() {
        if let Some(ms) = &q.metric_stat {
            let c = check_stat(ms, &format!("Metrics.member.{}.MetricStat", i + 1))?;
            period.get_or_insert(c.period);
        }
        if q.return_data != Some(false)
            && let Some(p) = q.period
        {
            period = Some(p);
        }
    }
    alarm_period(period)
}

/// The state an alarm should be in at `now`, with its reason and reason data; `None` to keep
/// the current state (`ignore` with no data).
fn evaluate_one(alarm: &Alarm, metrics: &Metrics, now: f64) -> Option<(AlarmState, String, Value)> {
    let period = alarm.period.max(1);
    let n = alarm.evaluation_periods.max(1);
    let end = (now / period as f64).floor() as i64 * period;
    // Bounded at PutMetricAlarm: n * period is at most a week.
    let start = end - n.saturating_mul(period);
    let series: BTreeMap<i64, f64> = match &alarm.watched {
        Watched::Metric {
            key, stat, unit, ..
        } => metrics
            .aggregate(
                key,
                start as f64,
                end as f64,
                period as f64,
                unit.as_deref(),
            )
            .into_iter()
            .filter_map(|(t, a)| a.stat(stat).map(|v| (t, v)))
            .collect(),
        Watched::Math(queries) => {
            let req: GetMetricDataRequest = decode(json!({
                "MetricDataQueries": queries,
                "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending",
            }))
            .ok()?;
            let out = metrics.get_metric_data(req).ok()?;
            let r = out["MetricDataResults"].get(0)?;
            r["Timestamps"]
                .as_array()?
                .iter()
                .zip(r["Values"].as_array()?)
                .filter_map(|(t, v)| Some((t.as_i64()?, v.as_f64()?)))
                .collect()
        }
    };
    let m = alarm.datapoints_to_alarm.unwrap_or(n).max(1) as usize;
    // Newest first, as CloudWatch lists them in reasons.
    let present: Vec<(i64, f64)> = series.iter().rev().map(|(t, v)| (*t, *v)).collect();
    let breaching: Vec<&(i64, f64)> = present
        .iter()
        .filter(|(_, v)| alarm.comparison.breaches(*v, alarm.threshold))
        .collect();
    let missing_count = n as usize - present.len().min(n as usize);
    let treat = alarm.treat_missing_data.unwrap_or(MissingData::Missing);
    let stat_name = match &alarm.watched {
        Watched::Metric { stat, .. } => Some(stat.name()),
        Watched::Math(_) => None,
    };
    let mut data = json!({
        "version": "1.0",
        "queryDate": iso8601(now),
        "startDate": iso8601(start as f64),
        "period": period,
        "recentDatapoints": present.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        "threshold": alarm.threshold,
        "evaluatedDatapoints": present.iter().map(|(t, v)| json!({"timestamp": iso8601(*t as f64), "value": v})).collect::<Vec<_>>(),
    });
    if let Some(s) = stat_name {
        data["statistic"] = json!(s);
    }
    if present.is_empty() {
        return match treat {
            MissingData::Ignore => None,
            MissingData::Missing => Some((
                AlarmState::InsufficientData,
                format!(
                    "Insufficient Data: {} {} unknown.",
                    plural(n as usize, "datapoint", "datapoints"),
                    if n == 1 { "was" } else { "were" }
                ),
                data,
            )),
            MissingData::Breaching => Some((
                AlarmState::Alarm,
                format!(
                    "Threshold Crossed: no datapoints were received for {} and {} missing {} treated as [Breaching].",
                    plural(n as usize, "period", "periods"),
                    plural(n as usize, "missing datapoint", "missing datapoints"),
                    if n == 1 { "was" } else { "were" }
                ),
                data,
            )),
            MissingData::NotBreaching => Some((
                AlarmState::Ok,
                format!(
                    "Threshold Crossed: no datapoints were received for {} and {} missing {} treated as [NonBreaching].",
                    plural(n as usize, "period", "periods"),
                    plural(n as usize, "missing datapoint", "missing datapoints"),
                    if n == 1 { "was" } else { "were" }
                ),
                data,
            )),
        };
    }
    let counted_breaching = breaching.len()
        + if treat == MissingData::Breaching {
            missing_count
        } else {
            0
        };
    let alarm_now = counted_breaching >= m;
    let shown: Vec<(i64, f64)> = if alarm_now {
        breaching.iter().map(|p| **p).collect()
    } else {
        present
            .iter()
            .filter(|(_, v)| !alarm.comparison.breaches(*v, alarm.threshold))
            .copied()
            .collect()
    };
    let list = shown
        .iter()
        .map(|(t, v)| format!("{} ({})", java_double(*v), reason_time(*t as f64)))
        .collect::<Vec<_>>()
        .join(", ");
    let words = alarm.comparison.words();
    let threshold = java_double(alarm.threshold);
    let count = shown.len();
    let verb = if count == 1 { "was" } else { "were" };
    let negation = if alarm_now { "" } else { "not " };
    let reason = if n == 1 || count == n as usize {
        format!(
            "Threshold Crossed: {} [{list}] {verb} {negation}{words} the threshold ({threshold}).",
            plural(count, "datapoint", "datapoints"),
        )
    } else {
        let (from, to) = if alarm_now {
            ("OK", "ALARM")
        } else {
            ("ALARM", "OK")
        };
        format!(
            "Threshold Crossed: {count} out of the last {n} datapoints [{list}] {verb} {negation}{words} the threshold ({threshold}) (minimum {} for {from} -> {to} transition).",
            plural(if alarm_now { m } else { 1 }, "datapoint", "datapoints"),
        )
    };
    let state = if alarm_now {
        AlarmState::Alarm
    } else {
        AlarmState::Ok
    };
    Some((state, reason, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::metrics::{Sample, SampleData};

    const ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:";

    fn put_alarm(alarms: &mut Alarms, body: Value, now: f64) -> Result<(), ApiError> {
        alarms.put(decode(body)?, ARN, now)
    }

    fn basic(extra: Value) -> Value {
        let mut v = json!({
            "AlarmName": "high-cpu", "MetricName": "CPU", "Namespace": "App",
            "Statistic": "Average", "Period": 60, "EvaluationPeriods": 1,
            "Threshold": 80.0, "ComparisonOperator": "GreaterThanThreshold",
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn point(m: &mut Metrics, t: f64, v: f64) {
        m.insert([(
            MetricKey::new("App", "CPU", vec![]),
            Sample {
                t,
                unit: "None".into(),
                data: SampleData::Value(v),
            },
        )]);
    }

    // 2026-12-07 14:30:00 UTC.
    const T0: f64 = 1_796_653_800.0;

    #[test]
    fn an_alarm_moves_to_alarm_and_back_with_history() {
        let mut alarms = Alarms::default();
        let mut m = Metrics::default();
        put_alarm(&mut alarms, basic(json!({})), T0).unwrap();
        let a = &alarms.alarms["high-cpu"];
        assert_eq!(a.state, AlarmState::InsufficientData);
        assert_eq!(a.state_reason, "Unchecked: Initial alarm creation");
        assert_eq!(a.arn, format!("{ARN}high-cpu"));
        // No data: stays INSUFFICIENT_DATA (no transition).
        assert_eq!(alarms.evaluate(&m, T0 + 60.0), 0);
        point(&mut m, T0 + 10.0, 85.0);
        assert_eq!(
            alarms.evaluate(&m, T0 + 30.0),
            0,
            "the period is not complete"
        );
        assert_eq!(alarms.evaluate(&m, T0 + 61.0), 1);
        let a = &alarms.alarms["high-cpu"];
        assert_eq!(a.state, AlarmState::Alarm);
        assert_eq!(
            a.state_reason,
            "Threshold Crossed: 1 datapoint [85.0 (07/12/26 14:30:00)] was greater than the threshold (80.0)."
        );
        let data: Value = serde_json::from_str(a.state_reason_data.as_ref().unwrap()).unwrap();
        assert_eq!(data["recentDatapoints"], json!([85.0]));
        assert_eq!(data["statistic"], json!("Average"));
        point(&mut m, T0 + 70.0, 20.0);
        assert_eq!(alarms.evaluate(&m, T0 + 121.0), 1);
        let a = &alarms.alarms["high-cpu"];
        assert_eq!(a.state, AlarmState::Ok);
        assert_eq!(
            a.state_reason,
            "Threshold Crossed: 1 datapoint [20.0 (07/12/26 14:31:00)] was not greater than the threshold (80.0)."
        );
        // Missing data (default): INSUFFICIENT_DATA.
        assert_eq!(alarms.evaluate(&m, T0 + 181.0), 1);
        assert_eq!(
            alarms.alarms["high-cpu"].state_reason,
            "Insufficient Data: 1 datapoint was unknown."
        );
        let h = alarms
            .history(
                decode(json!({"AlarmName": "high-cpu", "HistoryItemType": "StateUpdate"})).unwrap(),
            )
            .unwrap();
        let items = h["AlarmHistoryItems"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0]["HistorySummary"],
            json!("Alarm updated from OK to INSUFFICIENT_DATA")
        );
        assert_eq!(
            items[2]["HistorySummary"],
            json!("Alarm updated from INSUFFICIENT_DATA to ALARM")
        );
        let changes = alarms.take_changes();
        assert_eq!(changes.alarms.len(), 1);
        assert_eq!(changes.history.len(), 4);
    }

    #[test]
    fn m_out_of_n_and_treat_missing_data() {
        let mut m = Metrics::default();
        // Periods 14:30, 14:31, 14:32: breaching, missing, breaching.
        point(&mut m, T0, 90.0);
        point(&mut m, T0 + 120.0, 95.0);
        let now = T0 + 181.0;
        let run = |extra: Value, m: &Metrics| {
            let mut alarms = Alarms::default();
            put_alarm(&mut alarms, basic(extra), T0).unwrap();
            alarms.evaluate(m, now);
            let a = alarms.alarms["high-cpu"].clone();
            (a.state, a.state_reason)
        };
        let (s, r) = run(json!({"EvaluationPeriods": 3, "DatapointsToAlarm": 2}), &m);
        assert_eq!(s, AlarmState::Alarm);
        assert_eq!(
            r,
            "Threshold Crossed: 2 out of the last 3 datapoints [95.0 (07/12/26 14:32:00), 90.0 (07/12/26 14:30:00)] were greater than the threshold (80.0) (minimum 2 datapoints for OK -> ALARM transition)."
        );
        let (s, _) = run(json!({"EvaluationPeriods": 3, "DatapointsToAlarm": 3}), &m);
        assert_eq!(s, AlarmState::Ok);
        let (s, _) = run(
            json!({"EvaluationPeriods": 3, "DatapointsToAlarm": 3, "TreatMissingData": "breaching"}),
            &m,
        );
        assert_eq!(s, AlarmState::Alarm);
        let empty = Metrics::default();
        assert_eq!(
            run(json!({"TreatMissingData": "notBreaching"}), &empty).0,
            AlarmState::Ok
        );
        assert_eq!(
            run(json!({"TreatMissingData": "breaching"}), &empty).0,
            AlarmState::Alarm
        );
        assert_eq!(
            run(json!({"TreatMissingData": "ignore"}), &empty).0,
            AlarmState::InsufficientData
        );
        // Less-than operators and percentiles.
        let (s, r) = run(
            json!({"ComparisonOperator": "LessThanOrEqualToThreshold", "Threshold": 95.0, "EvaluationPeriods": 1}),
            &m,
        );
        assert_eq!(s, AlarmState::Alarm, "{r}");
        let (s, _) = run(
            json!({"Statistic": null, "ExtendedStatistic": "p90", "EvaluationPeriods": 1}),
            &m,
        );
        assert_eq!(s, AlarmState::Alarm);
    }

    #[test]
    fn math_alarms_evaluate_their_expression() {
        let mut m = Metrics::default();
        point(&mut m, T0, 40.0);
        let mut alarms = Alarms::default();
        put_alarm(&mut alarms, json!({
            "AlarmName": "math", "EvaluationPeriods": 1, "Threshold": 70.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": [
                {"Id": "m1", "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "CPU"}, "Period": 60, "Stat": "Average"}},
                {"Id": "e1", "Expression": "m1*2"},
            ],
        }), T0).unwrap();
        alarms.evaluate(&m, T0 + 61.0);
        assert_eq!(alarms.alarms["math"].state, AlarmState::Alarm);
        let d = alarms
            .describe(decode(json!({"AlarmNames": ["math"]})).unwrap())
            .unwrap();
        assert_eq!(
            d["MetricAlarms"][0]["Metrics"][1]["Expression"],
            json!("m1*2")
        );
    }

    #[test]
    fn validation_set_state_delete_and_paging() {
        let mut alarms = Alarms::default();
        let e = put_alarm(&mut alarms, basic(json!({"Period": 45})), T0).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterValue");
        let e = put_alarm(&mut alarms, basic(json!({"EvaluationPeriods": null})), T0).unwrap_err();
        assert_eq!(e.message, "The parameter EvaluationPeriods is required.");
        let e = put_alarm(&mut alarms, basic(json!({"EvaluationPeriods": 1441})), T0).unwrap_err();
        assert_eq!(
            e.message,
            "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400)."
        );
        let e = put_alarm(
            &mut alarms,
            basic(json!({"Period": 3600, "EvaluationPeriods": 8_000_000_000_000_000i64})),
            T0,
        )
        .unwrap_err();
        assert!(e.message.contains("more than a week"), "{}", e.message);
        let e = alarms
            .describe(decode(json!({"NextToken": usize::MAX.to_string()})).unwrap())
            .map(|d| d["MetricAlarms"].as_array().map(Vec::len));
        assert_eq!(e, Ok(Some(0)));
        let e = put_alarm(&mut alarms, basic(json!({"ExtendedStatistic": "p99"})), T0).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterCombination");
        let e = put_alarm(
            &mut alarms,
            basic(json!({"TreatMissingData": "sometimes"})),
            T0,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "The value sometimes for parameter TreatMissingData is invalid."
        );
        for i in 0..3 {
            put_alarm(
                &mut alarms,
                basic(json!({"AlarmName": format!("a{i}")})),
                T0,
            )
            .unwrap();
        }
        let d = alarms
            .describe(decode(json!({"MaxRecords": 2})).unwrap())
            .unwrap();
        assert_eq!(d["MetricAlarms"].as_array().unwrap().len(), 2);
        let token = d["NextToken"].as_str().unwrap();
        let d = alarms
            .describe(decode(json!({"MaxRecords": 2, "NextToken": token})).unwrap())
            .unwrap();
        assert_eq!(d["MetricAlarms"][0]["AlarmName"], json!("a2"));
        assert!(d.get("NextToken").is_none());
        let d = alarms
            .describe(decode(json!({"AlarmNamePrefix": "a1"})).unwrap())
            .unwrap();
        assert_eq!(d["MetricAlarms"].as_array().unwrap().len(), 1);
        let d = alarms
            .for_metric(decode(json!({"Namespace": "App", "MetricName": "CPU", "Statistic": "Average", "Period": 60})).unwrap())
            .unwrap();
        assert_eq!(d["MetricAlarms"].as_array().unwrap().len(), 3);
        let d = alarms
            .for_metric(
                decode(json!({"Namespace": "App", "MetricName": "CPU", "Period": 300})).unwrap(),
            )
            .unwrap();
        assert_eq!(d["MetricAlarms"], json!([]));
        alarms
            .set_state(
                decode(json!({"AlarmName": "a0", "StateValue": "ALARM", "StateReason": "testing"}))
                    .unwrap(),
                T0 + 1.0,
            )
            .unwrap();
        let d = alarms
            .describe(decode(json!({"StateValue": "ALARM"})).unwrap())
            .unwrap();
        assert_eq!(d["MetricAlarms"][0]["StateReason"], json!("testing"));
        let e = alarms
            .set_state(
                decode(json!({"AlarmName": "nope", "StateValue": "ALARM", "StateReason": "x"}))
                    .unwrap(),
                T0,
            )
            .unwrap_err();
        assert_eq!(e.code.as_str(), "ResourceNotFound");
        let e = alarms
            .set_state(decode(json!({"AlarmName": "a0", "StateValue": "ALARM", "StateReason": "x", "StateReasonData": "{"})).unwrap(), T0)
            .unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidFormat");
        alarms
            .delete(decode(json!({"AlarmNames": ["a0", "zz"]})).unwrap(), T0)
            .unwrap();
        assert!(!alarms.alarms.contains_key("a0"));
        alarms
            .set_actions_enabled(decode(json!({"AlarmNames": ["a1"]})).unwrap(), false)
            .unwrap();
        assert!(!alarms.alarms["a1"].actions_enabled);
    }
}
