//! The emulated Amazon CloudWatch (metrics and alarms), SigV4 service `monitoring`.
//!
//! Wire: AWS JSON 1.0 with `X-Amz-Target: GraniteServiceVersion20100801.<Op>` (what the pinned
//! AWS CLI sends: its botocore ranks `json` before `smithy-rpc-v2-cbor` among the model's
//! protocols), Smithy RPC v2 CBOR on `/service/GraniteServiceVersion20100801/operation/<Op>`, and
//! the query protocol (`Action=<Op>&Version=2010-08-01`, XML answers). [`wire`] reduces the three
//! to one JSON tree. Errors carry the query code in `x-amzn-query-error` ([`error`]).
//!
//! Served: PutMetricData, GetMetricData (MetricStat and basic metric math), GetMetricStatistics,
//! ListMetrics, PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric, DescribeAlarmHistory,
//! SetAlarmState, DeleteAlarms, EnableAlarmActions, DisableAlarmActions. Alarms are evaluated on their own
//! ([`CloudWatchHandle::spawn_evaluator`]); `AWS/ECS` metrics come from the agents' TCS metrics
//! ([`tcs_metrics`]) and the ECS facts the caller hands in ([`ecs_metrics::EcsFacts`]). Not
//! emulated: dashboards, anomaly detection, composite alarms, metric streams, insight rules,
//! Container Insights, alarm actions (recorded, not executed).
//!
//! State: [`State`] (plain data, synchronous operations) owned by one actor; its rows are
//! `cloudwatch/alarm/<name>`, `cloudwatch/history/<seq>` and `cloudwatch/data/<seq>` (one per
//! batch of datapoints, dropped with the retention), written before a caller is answered and
//! restored at start.
//!
//! What it must not do: import ECS (ECS facts come in as plain data).

pub mod alarms;
pub mod data_query;
pub mod ecs_metrics;
pub mod error;
pub mod metrics;
pub mod tcs_metrics;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::Response;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::front::render;
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, ErrorCode, Input, Output, Protocol, Refusal, RequestContext, Service, ServiceInfo,
};
use crate::store::{Change, Store, StoreError};
use alarms::{Alarm, Alarms, HistoryItem};
use error::{CwError, bad_token};
use metrics::{Dimension, MetricKey, Metrics, Sample};
use tcs_metrics::MetricsStore;

/// The AWS JSON target prefix (and, without the dot, the RPC v2 service name).
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
/// The RPC v2 CBOR service name in paths.
pub const RPC_SERVICE: &str = "GraniteServiceVersion20100801";
/// The content type of AWS JSON 1.0.
pub const JSON_1_0: &str = "application/x-amz-json-1.0";

const ALARM_PREFIX: &str = "cloudwatch/alarm/";
const HISTORY_PREFIX: &str = "cloudwatch/history/";
const DATA_PREFIX: &str = "cloudwatch/data/";
/// The most datapoint batches kept on disk; the oldest go first.
const MAX_BATCHES: usize = 20_000;
/// ListMetrics' page.
const LIST_PAGE: usize = 500;

/// One persisted batch of datapoints.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    samples: Vec<(MetricKey, Sample)>,
}

/// A typed CloudWatch operation.
#[derive(Debug)]
pub enum Op {
    /// PutMetricData.
    PutMetricData(metrics::PutMetricDataRequest),
    /// GetMetricStatistics.
    GetMetricStatistics(metrics::GetMetricStatisticsRequest),
    /// GetMetricData.
    GetMetricData(data_query::GetMetricDataRequest),
    /// ListMetrics.
    ListMetrics(ListMetricsRequest),
    /// PutMetricAlarm (boxed: the largest request by far).
    PutMetricAlarm(Box<alarms::PutMetricAlarmRequest>),
    /// DescribeAlarms.
    DescribeAlarms(alarms::DescribeAlarmsRequest),
    /// DescribeAlarmsForMetric.
    DescribeAlarmsForMetric(alarms::DescribeAlarmsForMetricRequest),
    /// DescribeAlarmHistory.
    DescribeAlarmHistory(alarms::DescribeAlarmHistoryRequest),
    /// SetAlarmState.
    SetAlarmState(alarms::SetAlarmStateRequest),
    /// DeleteAlarms.
    DeleteAlarms(alarms::AlarmNamesRequest),
    /// EnableAlarmActions.
    EnableAlarmActions(alarms::AlarmNamesRequest),
    /// DisableAlarmActions.
    DisableAlarmActions(alarms::AlarmNamesRequest),
}

impl Op {
    /// Parses `operation` with its request tree (pure; unit-tested and fuzzed).
    pub fn parse(operation: &str, body: Value) -> Result<Op, ApiError> {
        use wire::decode;
        Ok(match operation {
            "PutMetricData" => Op::PutMetricData(decode(body)?),
            "GetMetricStatistics" => Op::GetMetricStatistics(decode(body)?),
            "GetMetricData" => Op::GetMetricData(decode(body)?),
            "ListMetrics" => Op::ListMetrics(decode(body)?),
            "PutMetricAlarm" => Op::PutMetricAlarm(Box::new(decode(body)?)),
            "DescribeAlarms" => Op::DescribeAlarms(decode(body)?),
            "DescribeAlarmsForMetric" => Op::DescribeAlarmsForMetric(decode(body)?),
            "DescribeAlarmHistory" => Op::DescribeAlarmHistory(decode(body)?),
            "SetAlarmState" => Op::SetAlarmState(decode(body)?),
            "DeleteAlarms" => Op::DeleteAlarms(decode(body)?),
            "EnableAlarmActions" => Op::EnableAlarmActions(decode(body)?),
            "DisableAlarmActions" => Op::DisableAlarmActions(decode(body)?),
            other => {
                return Err(ApiError::new(
                    ErrorCode::UnknownOperationException,
                    format!("The operation {other} is not supported by this emulator."),
                ));
            }
        })
    }

    /// Whether the operation answers nothing (no `<Op>Result` element in XML).
    fn is_void(&self) -> bool {
        matches!(
            self,
            Op::PutMetricData(_)
                | Op::PutMetricAlarm(_)
                | Op::SetAlarmState(_)
                | Op::DeleteAlarms(_)
                | Op::EnableAlarmActions(_)
                | Op::DisableAlarmActions(_)
        )
    }
}

/// `DimensionFilter`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DimensionFilter {
    name: Option<String>,
    value: Option<String>,
}

/// `ListMetricsInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMetricsRequest {
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: Option<Vec<DimensionFilter>>,
    next_token: Option<String>,
    recently_active: Option<String>,
}

/// CloudWatch's state: metrics, alarms, and what is persisted of them.
#[derive(Debug)]
pub struct State {
    /// Datapoints.
    pub metrics: Metrics,
    /// Alarms and history.
    pub alarms: Alarms,
    /// The agents' latest TCS metrics (shared with the TCS sessions, which record into it).
    pub tcs: Arc<MetricsStore>,
    arn_prefix: String,
    /// Persisted batches: sequence -> newest sample time.
    batches: BTreeMap<u64, f64>,
    next_batch: u64,
    store: Store,
}

impl State {
    /// An empty state persisting to `store`.
    pub fn new(region: &str, account_id: &str, tcs: Arc<MetricsStore>, store: Store) -> Self {
        State {
            metrics: Metrics::default(),
            alarms: Alarms::default(),
            tcs,
            arn_prefix: format!("arn:aws:cloudwatch:{region}:{account_id}:alarm:"),
            batches: BTreeMap::new(),
            next_batch: 0,
            store,
        }
    }

    /// The state in `rows` (the store's rows, in key order); datapoints older than the
    /// retention at `now` are dropped.
    pub fn restore(
        region: &str,
        account_id: &str,
        tcs: Arc<MetricsStore>,
        store: Store,
        rows: &[(String, Vec<u8>)],
        now: f64,
    ) -> Result<Self, StoreError> {
        let mut state = State::new(region, account_id, tcs, store);
        let bad = |key: &str, e: serde_json::Error| StoreError::Db {
            path: key.into(),
            message: format!("undecodable CloudWatch row: {e}"),
        };
        for (key, bytes) in rows {
            if key.starts_with(ALARM_PREFIX) {
                let a: Alarm = serde_json::from_slice(bytes).map_err(|e| bad(key, e))?;
                state.alarms.restore_alarm(a);
            } else if key.starts_with(HISTORY_PREFIX) {
                let h: HistoryItem = serde_json::from_slice(bytes).map_err(|e| bad(key, e))?;
                state.alarms.restore_history(h);
            } else if let Some(seq) = key.strip_prefix(DATA_PREFIX) {
                let seq: u64 = seq.parse().unwrap_or_default();
                let b: Batch = serde_json::from_slice(bytes).map_err(|e| bad(key, e))?;
                let newest = b.samples.iter().map(|(_, s)| s.t).fold(f64::MIN, f64::max);
                state.batches.insert(seq, newest);
                state.next_batch = state.next_batch.max(seq);
                state.metrics.insert(b.samples);
            }
        }
        state.metrics.prune(now);
        Ok(state)
    }

    /// Stores samples (and their batch row).
    fn add_samples(&mut self, samples: Vec<(MetricKey, Sample)>) -> Result<(), ApiError> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut changes = Vec::new();
        if self.store.is_durable() {
            self.next_batch += 1;
            let newest = samples.iter().map(|(_, s)| s.t).fold(f64::MIN, f64::max);
            let batch = Batch { samples };
            changes.push(Change::Put(
                format!("{DATA_PREFIX}{:020}", self.next_batch),
                serde_json::to_vec(&batch).unwrap_or_default(),
            ));
            self.batches.insert(self.next_batch, newest);
            self.metrics.insert(batch.samples);
        } else {
            self.metrics.insert(samples);
        }
        changes.extend(self.expire_batches(None));
        self.commit(changes)
    }

    /// Rows of batches to delete: past the retention at `now` when given (the periodic
    /// sweep), and the oldest beyond [`MAX_BATCHES`] (cheap enough for every put).
    fn expire_batches(&mut self, now: Option<f64>) -> Vec<Change> {
        let mut gone = Vec::new();
        if let Some(now) = now {
            let oldest = now - metrics::RETENTION;
            self.batches.retain(|seq, newest| {
                let keep = *newest >= oldest;
                if !keep {
                    gone.push(*seq);
                }
                keep
            });
        }
        while self.batches.len() > MAX_BATCHES {
            if let Some((seq, _)) = self.batches.pop_first() {
                gone.push(seq);
            }
        }
        gone.into_iter()
            .map(|seq| Change::Delete(format!("{DATA_PREFIX}{seq:020}")))
            .collect()
    }

    /// Writes alarm changes plus `extra`.
    fn commit(&mut self, mut changes: Vec<Change>) -> Result<(), ApiError> {
        let c = self.alarms.take_changes();
        for (name, alarm) in c.alarms {
            let key = format!("{ALARM_PREFIX}{name}");
            changes.push(match alarm {
                Some(a) => Change::Put(key, serde_json::to_vec(&a).unwrap_or_default()),
                None => Change::Delete(key),
            });
        }
        for h in c.history {
            changes.push(Change::Put(
                format!("{HISTORY_PREFIX}{:020}", h.seq),
                serde_json::to_vec(&h).unwrap_or_default(),
            ));
        }
        for seq in c.dropped_history {
            changes.push(Change::Delete(format!("{HISTORY_PREFIX}{seq:020}")));
        }
        if changes.is_empty() {
            return Ok(());
        }
        self.store.apply(&changes).map_err(|e| {
            tracing::error!(error = %e, "cannot persist CloudWatch state");
            CwError::InternalServiceError.with("The state could not be saved.")
        })
    }

    /// Runs one operation at `now`; `Ok(None)` for operations that answer nothing.
    pub fn apply(&mut self, op: Op, now: f64) -> Result<Option<Value>, ApiError> {
        let out = match op {
            Op::PutMetricData(req) => {
                let samples = Metrics::validate_put(req, now)?;
                self.add_samples(samples)?;
                None
            }
            Op::GetMetricStatistics(req) => Some(self.metrics.get_statistics(req)?),
            Op::GetMetricData(req) => Some(self.metrics.get_metric_data(req)?),
            Op::ListMetrics(req) => Some(self.list_metrics(req, now)?),
            Op::PutMetricAlarm(req) => {
                let prefix = self.arn_prefix.clone();
                self.alarms.put(*req, &prefix, now)?;
                None
            }
            Op::DescribeAlarms(req) => Some(self.alarms.describe(req)?),
            Op::DescribeAlarmsForMetric(req) => Some(self.alarms.for_metric(req)?),
            Op::DescribeAlarmHistory(req) => Some(self.alarms.history(req)?),
            Op::SetAlarmState(req) => {
                self.alarms.set_state(req, now)?;
                None
            }
            Op::DeleteAlarms(req) => {
                self.alarms.delete(req, now)?;
                None
            }
            Op::EnableAlarmActions(req) => {
                self.alarms.set_actions_enabled(req, true)?;
                None
            }
            Op::DisableAlarmActions(req) => {
                self.alarms.set_actions_enabled(req, false)?;
                None
            }
        };
        self.commit(Vec::new())?;
        Ok(out)
    }

    fn list_metrics(&self, req: ListMetricsRequest, now: f64) -> Result<Value, ApiError> {
        let filters = req.dimensions.unwrap_or_default();
        if filters.len() > 10 {
            return Err(error::invalid(
                "The collection Dimensions must not have a size greater than 10.",
            ));
        }
        let mut dims = Vec::new();
        for (i, f) in filters.into_iter().enumerate() {
            let name = f
                .name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| error::missing(&format!("Dimensions.member.{}.Name", i + 1)))?;
            dims.push((name, f.value));
        }
        let recent = match req.recently_active.as_deref() {
            None => None,
            Some("PT3H") => Some(now - 3.0 * 3600.0),
            Some(o) => return Err(error::invalid_value(o, "RecentlyActive")),
        };
        let start = match req.next_token.as_deref() {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| bad_token())?,
        };
        let all = self.metrics.list(
            req.namespace.as_deref(),
            req.metric_name.as_deref(),
            &dims,
            recent,
        );
        let page: Vec<Value> = all
            .iter()
            .skip(start)
            .take(LIST_PAGE)
            .map(|k| k.to_json())
            .collect();
        let mut out = json!({"Metrics": page});
        if start.saturating_add(LIST_PAGE) < all.len() {
            out["NextToken"] = json!((start + LIST_PAGE).to_string());
        }
        Ok(out)
    }

    /// Evaluates every alarm at `now` (and drops expired datapoints); returns how many alarms
    /// changed state.
    pub fn evaluate(&mut self, now: f64) -> usize {
        self.metrics.prune(now);
        let expired = self.expire_batches(Some(now));
        let changed = self.alarms.evaluate(&self.metrics, now);
        if let Err(e) = self.commit(expired) {
            tracing::warn!(error = %e.message, "alarm evaluation not persisted");
        }
        changed
    }

    /// Records the minute's `AWS/ECS` datapoints from `facts` (stamped `minute`).
    pub fn record_ecs(&mut self, facts: &ecs_metrics::EcsFacts, minute: f64, now: f64) -> usize {
        let points = ecs_metrics::datapoints(facts, &self.tcs, minute, now);
        let n = points.len();
        if let Err(e) = self.add_samples(points) {
            tracing::warn!(error = %e.message, "AWS/ECS datapoints not persisted");
        }
        n
    }
}

type Job = Box<dyn FnOnce(&mut State) + Send>;

/// The handle to the actor that owns [`State`].
#[derive(Debug, Clone)]
pub struct CloudWatchHandle {
    tx: mpsc::Sender<Job>,
}

impl CloudWatchHandle {
    /// Starts the actor over `state`.
    pub fn spawn(mut state: State) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(256);
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                job(&mut state);
            }
        });
        CloudWatchHandle { tx }
    }

    /// Runs `f` on the state and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |s| {
            let _ = reply.send(f(s));
        });
        let gone = || CwError::InternalServiceError.with("CloudWatch's state is gone.");
        self.tx.send(job).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Evaluates the alarms every `interval` until `shutdown`.
    pub fn spawn_evaluator(&self, interval: Duration, shutdown: CancellationToken) {
        let handle = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = crate::front::context::now_secs();
                match handle.call(move |s| s.evaluate(now)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "alarms changed state"),
                    Err(e) => tracing::warn!(error = %e.message, "cannot evaluate alarms"),
                }
            }
        });
    }
}

/// The CloudWatch [`Service`].
#[derive(Debug, Clone)]
pub struct CloudWatch(pub CloudWatchHandle);

/// The protocols CloudWatch speaks besides AWS JSON 1.0.
const ALSO: [Protocol; 2] = [
    Protocol::RpcV2Cbor {
        service: RPC_SERVICE,
    },
    Protocol::Query,
];

impl CloudWatch {
    async fn run(&self, ctx: RequestContext, input: Input) -> Result<Output, ApiError> {
        enum Form {
            Json,
            Cbor,
            Query,
        }
        let (form, operation, tree) = match input {
            Input::Json { operation, body } => {
                let tree = if body.iter().all(u8::is_ascii_whitespace) {
                    json!({})
                } else {
                    serde_json::from_slice(&body).map_err(|e| {
                        ApiError::new(
                            ErrorCode::SerializationException,
                            format!("Cannot deserialize the request: {e}"),
                        )
                    })?
                };
                (Form::Json, operation, tree)
            }
            Input::Cbor { operation, body } => (Form::Cbor, operation, wire::cbor_to_json(&body)?),
            Input::Query { params } => {
                let action = params.get("Action").cloned().unwrap_or_default();
                (Form::Query, action, wire::form_to_json(&params)?)
            }
            Input::Http(_) => {
                return Err(ApiError::new(
                    ErrorCode::UnknownOperationException,
                    "CloudWatch speaks AWS JSON 1.0, RPC v2 CBOR and query.",
                ));
            }
        };
        let op = match Op::parse(&operation, tree) {
            // The query protocol's word for an unknown Action.
            Err(e)
                if matches!(form, Form::Query)
                    && e.code == ErrorCode::UnknownOperationException =>
            {
                return Err(ApiError::new(
                    ErrorCode::InvalidAction,
                    format!("Could not find operation {operation} for version 2010-08-01"),
                ));
            }
            parsed => parsed?,
        };
        let void = op.is_void();
        let now = ctx.now;
        let result = self.0.call(move |s| s.apply(op, now)).await??;
        Ok(match form {
            Form::Json => Output::Json(result.unwrap_or_else(|| json!({}))),
            Form::Cbor => Output::Cbor(wire::json_to_cbor(&result.unwrap_or_else(|| json!({})))),
            Form::Query => Output::Xml(wire::json_to_xml(
                &operation,
                if void { None } else { result.as_ref() },
                &ctx.request_id,
            )),
        })
    }
}

impl Service for CloudWatch {
    fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: "cloudwatch",
            signing_name: "monitoring",
            protocol: Protocol::AwsJson {
                target_prefix: TARGET_PREFIX,
                content_type: JSON_1_0,
                message_member: "message",
            },
            flavor: Flavor::Standard,
            // PutMetricData takes up to 1 MB; leave room for the encodings.
            max_body: 2 << 20,
        }
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(self.run(ctx, input))
    }

    fn also_speaks(&self) -> &'static [Protocol] {
        &ALSO
    }

    fn refuse(&self, request_id: &str, _method: &http::Method, refusal: Refusal) -> Response {
        self.error_in(self.info().protocol, request_id, refusal.into_error())
    }

    fn error(&self, request_id: &str, error: ApiError) -> Response {
        self.error_in(self.info().protocol, request_id, error)
    }

    fn error_in(&self, protocol: Protocol, request_id: &str, e: ApiError) -> Response {
        let (code, shape, sender) = error::describe(&e);
        let query_error = format!("{code};{}", if sender { "Sender" } else { "Receiver" });
        match protocol {
            Protocol::RpcV2Cbor { .. } => {
                render::cbor_error(request_id, shape, &e, Some(&query_error))
            }
            Protocol::Query => render::xml(
                e.code.status(),
                request_id,
                render::query_error_xml(Some(wire::XMLNS), code, &e, request_id),
            ),
            Protocol::AwsJson { .. } | Protocol::RestByScope | Protocol::RestByPath { .. } => {
                let body = json!({"__type": shape, "message": e.message});
                let mut resp =
                    render::json(e.code.status(), JSON_1_0, request_id, &body, Some(shape));
                if let Ok(v) = HeaderValue::from_str(&query_error) {
                    resp.headers_mut().insert("x-amzn-query-error", v);
                }
                resp
            }
        }
    }
}

/// A dimension, for callers building keys.
pub fn dimension(name: &str, value: &str) -> Dimension {
    Dimension {
        name: name.to_string(),
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(store: Store) -> State {
        State::new(
            "us-east-1",
            "123456789012",
            Arc::new(MetricsStore::new()),
            store,
        )
    }

    #[test]
    fn operations_parse_from_each_wire_form() {
        assert!(matches!(
            Op::parse("ListMetrics", json!({})).unwrap(),
            Op::ListMetrics(_)
        ));
        let e = Op::parse("PutDashboard", json!({})).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOperationException);
        let e = Op::parse("PutMetricData", json!({"MetricData": "x"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::SerializationException);
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.db");
        let now = 1_800_000_000.0;
        {
            let mut s = state(Store::open(&path).unwrap());
            let op = Op::parse(
                "PutMetricData",
                json!({"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 5, "Timestamp": now - 30.0}]}),
            )
            .unwrap();
            s.apply(op, now).unwrap();
            let op = Op::parse(
                "PutMetricAlarm",
                json!({"AlarmName": "a", "MetricName": "M", "Namespace": "App", "Statistic": "Sum",
                       "Period": 60, "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold"}),
            )
            .unwrap();
            s.apply(op, now).unwrap();
            assert_eq!(s.evaluate(now + 1.0), 1);
        }
        let store = Store::open(&path).unwrap();
        let rows = store.load().unwrap();
        let mut s = State::restore(
            "us-east-1",
            "123456789012",
            Arc::new(MetricsStore::new()),
            store,
            &rows,
            now + 61.0,
        )
        .unwrap();
        assert_eq!(s.alarms.alarms["a"].state, alarms::AlarmState::Alarm);
        assert_eq!(s.alarms.history.len(), 2);
        let out = s
            .apply(
                Op::parse("ListMetrics", json!({"Namespace": "App"})).unwrap(),
                now,
            )
            .unwrap()
            .unwrap();
        assert_eq!(out["Metrics"][0]["MetricName"], json!("M"));
        // Past the retention, the datapoints' rows go.
        s.evaluate(now + metrics::RETENTION + 3600.0);
        assert!(s.batches.is_empty());
        assert!(
            !s.store
                .load()
                .unwrap()
                .iter()
                .any(|(k, _)| k.starts_with(DATA_PREFIX))
        );
    }

    fn ctx() -> RequestContext {
        RequestContext {
            request_id: "rid".into(),
            caller: crate::front::CallerIdentity {
                access_key_id: "AKID".into(),
                arn: "arn:aws:iam::123456789012:root".into(),
                user_id: "123456789012".into(),
            },
            now: 1_800_000_000.0,
            host: "127.0.0.1".into(),
            secure: false,
        }
    }

    /// The three wire forms in and out, and errors with the query code in a header.
    #[tokio::test]
    async fn each_wire_form_round_trips() {
        let cw = CloudWatch(CloudWatchHandle::spawn(state(Store::in_memory().unwrap())));
        let put = ciborium::Value::Map(vec![
            (
                ciborium::Value::Text("Namespace".into()),
                ciborium::Value::Text("App".into()),
            ),
            (
                ciborium::Value::Text("MetricData".into()),
                ciborium::Value::Array(vec![ciborium::Value::Map(vec![
                    (
                        ciborium::Value::Text("MetricName".into()),
                        ciborium::Value::Text("M".into()),
                    ),
                    (
                        ciborium::Value::Text("Value".into()),
                        ciborium::Value::Float(2.5),
                    ),
                    (
                        ciborium::Value::Text("Timestamp".into()),
                        ciborium::Value::Tag(1, Box::new(ciborium::Value::Float(1_799_999_990.5))),
                    ),
                ])]),
            ),
        ]);
        let mut body = Vec::new();
        ciborium::into_writer(&put, &mut body).unwrap();
        let out = cw
            .call(
                ctx(),
                Input::Cbor {
                    operation: "PutMetricData".into(),
                    body: body.into(),
                },
            )
            .await
            .unwrap();
        let Output::Cbor(bytes) = out else {
            panic!("{out:?}")
        };
        let v: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(v, ciborium::Value::Map(vec![]));
        let form: BTreeMap<String, String> = [
            ("Action", "ListMetrics"),
            ("Version", "2010-08-01"),
            ("Namespace", "App"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let out = cw.call(ctx(), Input::Query { params: form }).await.unwrap();
        let Output::Xml(xml) = out else {
            panic!("{out:?}")
        };
        assert!(
            xml.starts_with(r#"<ListMetricsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><ListMetricsResult><Metrics><member><Dimensions></Dimensions><MetricName>M</MetricName><Namespace>App</Namespace></member></Metrics></ListMetricsResult>"#),
            "{xml}"
        );
        let body =
            br#"{"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": "Infinity"}]}"#;
        let e = cw
            .call(
                ctx(),
                Input::Json {
                    operation: "PutMetricData".into(),
                    body: body.as_slice().into(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.message,
            "The value Infinity for parameter MetricData.member.1.Value is invalid."
        );
        let resp = cw.error_in(cw.info().protocol, "rid", e.clone());
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.headers()["x-amzn-query-error"],
            "InvalidParameterValue;Sender"
        );
        assert_eq!(resp.headers()["content-type"], JSON_1_0);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["__type"], "InvalidParameterValueException");
        let resp = cw.error_in(ALSO[0], "rid", e.clone());
        assert_eq!(resp.headers()["smithy-protocol"], "rpc-v2-cbor");
        assert_eq!(
            resp.headers()["x-amzn-query-error"],
            "InvalidParameterValue;Sender"
        );
        let resp = cw.error_in(Protocol::Query, "rid", e);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let xml = String::from_utf8(body.to_vec()).unwrap();
        assert!(xml.contains("<Code>InvalidParameterValue</Code>"), "{xml}");
        let form: BTreeMap<String, String> =
            [("Action".to_string(), "PutDashboard".to_string())].into();
        let e = cw
            .call(ctx(), Input::Query { params: form })
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidAction);
    }

    #[test]
    fn list_metrics_filters_by_dimension() {
        let mut s = state(Store::in_memory().unwrap());
        let now = 1_800_000_000.0;
        let op = Op::parse(
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [
                {"MetricName": "M", "Value": 1, "Dimensions": [{"Name": "Host", "Value": "a"}]},
                {"MetricName": "M", "Value": 1, "Dimensions": [{"Name": "Host", "Value": "b"}]},
                {"MetricName": "N", "Value": 1},
            ]}),
        )
        .unwrap();
        s.apply(op, now).unwrap();
        let list = |body: Value, s: &mut State| {
            s.apply(Op::parse("ListMetrics", body).unwrap(), now)
                .unwrap()
                .unwrap()["Metrics"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(list(json!({}), &mut s), 3);
        assert_eq!(list(json!({"Dimensions": [{"Name": "Host"}]}), &mut s), 2);
        assert_eq!(
            list(
                json!({"Dimensions": [{"Name": "Host", "Value": "a"}]}),
                &mut s
            ),
            1
        );
        assert_eq!(
            list(json!({"MetricName": "N", "RecentlyActive": "PT3H"}), &mut s),
            1
        );
    }
}
