//! CloudWatch (AWS JSON 1.0, RPC v2 CBOR, query): a request body in one of the three forms
//! reduced to the JSON tree the typed requests decode from (`cloudwatch::wire`), parsed into a
//! typed operation (`cloudwatch::Op::parse`), applied to an in-memory state holding a metric and
//! an alarm (`State::apply`), the alarms evaluated, and the answer encoded in all three forms.
//! Input: a form byte (0 CBOR, 1 JSON, else query), then `Operation\n` and the body (a query body
//! names its own `Action`).
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use ecs_control_plane::cloudwatch::tcs_metrics::MetricsStore;
use ecs_control_plane::cloudwatch::{Op, State, wire};
use ecs_control_plane::store::Store;
use libfuzzer_sys::fuzz_target;

const NOW: f64 = 1_800_000_000.0;

fn seeded() -> Option<State> {
    let store = Store::in_memory().ok()?;
    let mut state = State::new(
        "us-east-1",
        "123456789012",
        Arc::new(MetricsStore::new()),
        store,
    );
    let put = serde_json::json!({"Namespace": "App", "MetricData": [
        {"MetricName": "Cpu", "Value": 90, "Timestamp": NOW - 90.0,
         "Dimensions": [{"Name": "Host", "Value": "a"}]}]});
    state
        .apply(Op::parse("PutMetricData", put).ok()?, NOW)
        .ok()?;
    let alarm = serde_json::json!({"AlarmName": "hi", "Namespace": "App", "MetricName": "Cpu",
        "Dimensions": [{"Name": "Host", "Value": "a"}], "Statistic": "Average", "Period": 60,
        "EvaluationPeriods": 2, "Threshold": 80, "ComparisonOperator": "GreaterThanThreshold"});
    state
        .apply(Op::parse("PutMetricAlarm", alarm).ok()?, NOW)
        .ok()?;
    Some(state)
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let (operation, tree) = match form {
        0 | 1 => {
            let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
                return;
            };
            let Ok(op) = std::str::from_utf8(&rest[..nl]) else {
                return;
            };
            let body = &rest[nl + 1..];
            let tree = if form == 0 {
                wire::cbor_to_json(body)
            } else {
                serde_json::from_slice(body)
                    .map_err(|_| ecs_control_plane::front::ApiError::server("not JSON"))
            };
            (op.to_string(), tree)
        }
        _ => {
            let Ok(form) = serde_urlencoded::from_bytes::<BTreeMap<String, String>>(rest) else {
                return;
            };
            let action = form.get("Action").cloned().unwrap_or_default();
            (action, wire::form_to_json(&form))
        }
    };
    let Ok(tree) = tree else {
        return;
    };
    let Ok(op) = Op::parse(&operation, tree) else {
        return;
    };
    let Some(mut state) = seeded() else {
        return;
    };
    if let Ok(Some(answer)) = state.apply(op, NOW + 1.0) {
        let _ = wire::json_to_cbor(&answer);
        let _ = wire::json_to_xml(&operation, Some(&answer), "request-id");
        let _ = answer.to_string();
    }
    let _ = state.evaluate(NOW + 120.0);
});
