//! CloudWatch's three wire forms, reduced to one: every request becomes a JSON tree that the
//! typed requests decode from, and every answer is a JSON tree encoded back in the caller's form.
//!
//! - AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`): what the pinned AWS CLI
//!   sends (its botocore ranks `json` above `smithy-rpc-v2-cbor`). Timestamps are epoch seconds.
//! - Smithy RPC v2 CBOR: the CBOR data model maps onto JSON; tag 1 (epoch seconds) becomes the
//!   number, and in answers the members that are timestamps in the model get tag 1 back.
//!   Non-finite floats (which JSON cannot hold) become the strings `NaN`, `Infinity` and
//!   `-Infinity`, as AWS JSON itself sends them, so validation sees them.
//! - Query (`Action=...&Version=2010-08-01`): `a.member.1.b` form keys become arrays and objects;
//!   values stay strings (the typed requests accept numbers as strings, [`lenient`]); answers are
//!   XML with `<member>` list items and ISO 8601 timestamps.
//!
//! Pure functions, no I/O.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use super::error::invalid;
use crate::front::render::xml_escape;
use crate::front::{ApiError, ErrorCode};

/// The query protocol's namespace of CloudWatch answers.
pub const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// The members whose shape is a timestamp (or a list of them) in CloudWatch's model.
const TIMESTAMP_MEMBERS: [&str; 14] = [
    "AlarmConfigurationUpdatedTimestamp",
    "CreationDate",
    "EndDate",
    "EndTime",
    "ExpireDate",
    "LastModified",
    "LastUpdateDate",
    "LastUpdatedTimestamp",
    "StartDate",
    "StartTime",
    "StateTransitionedTimestamp",
    "StateUpdatedTimestamp",
    "Timestamp",
    "Timestamps",
];

/// The largest timestamp accepted (9999-12-31T23:59:59Z), and its negative the smallest.
const MAX_EPOCH_SECS: f64 = 253_402_300_799.0;

/// How deeply a request may nest (CBOR and form alike): CloudWatch's shapes nest 6 levels at most.
const MAX_DEPTH: usize = 32;

fn serialization(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::SerializationException, message)
}

/// A CBOR request body as a JSON tree (an empty body is `{}`).
pub fn cbor_to_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: ciborium::Value = ciborium::de::from_reader_with_recursion_limit(body, MAX_DEPTH)
        .map_err(|e| serialization(format!("Cannot deserialize the CBOR request: {e}")))?;
    cbor_value(value)
}

fn cbor_value(v: ciborium::Value) -> Result<Value, ApiError> {
    use ciborium::Value as C;
    Ok(match v {
        C::Integer(i) => {
            let i = i128::from(i);
            if let Ok(u) = u64::try_from(i) {
                Value::Number(u.into())
            } else if let Ok(s) = i64::try_from(i) {
                Value::Number(s.into())
            } else {
                float(i as f64)
            }
        }
        C::Float(f) => float(f),
        C::Text(s) => Value::String(s),
        C::Bytes(b) => {
            use base64::Engine;
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        // Tag 1 (epoch seconds) and any other tag: the tagged value.
        C::Tag(_, inner) => cbor_value(*inner)?,
        C::Array(items) => Value::Array(
            items
                .into_iter()
                .map(cbor_value)
                .collect::<Result<_, _>>()?,
        ),
        C::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let C::Text(k) = k else {
                    return Err(serialization("CBOR map keys must be text strings."));
                };
                // A null member is an absent one (botocore drops them the same way).
                if !v.is_null() {
                    map.insert(k, cbor_value(v)?);
                }
            }
            Value::Object(map)
        }
        _ => return Err(serialization("Unsupported CBOR data item.")),
    })
}

/// A float as JSON; the non-finite ones as AWS JSON's strings.
fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// An answer as CBOR: timestamps (by member name) tagged 1, as the model's `timestamp` shapes.
pub fn json_to_cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing plain values into a Vec cannot fail.
    let _ = ciborium::into_writer(&to_cbor(v, false), &mut out);
    out
}

fn to_cbor(v: &Value, timestamp: bool) -> ciborium::Value {
    use ciborium::Value as C;
    let plain = match v {
        Value::Null => C::Null,
        Value::Bool(b) => C::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => C::Integer(i.into()),
            (None, Some(u)) => C::Integer(u.into()),
            (None, None) => C::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => C::Text(s.clone()),
        Value::Array(items) => {
            return C::Array(items.iter().map(|i| to_cbor(i, timestamp)).collect());
        }
        Value::Object(map) => {
            return C::Map(
                map.iter()
                    .map(|(k, v)| {
                        (
                            C::Text(k.clone()),
                            to_cbor(v, TIMESTAMP_MEMBERS.contains(&k.as_str())),
                        )
                    })
                    .collect(),
            );
        }
    };
    if timestamp && matches!(v, Value::Number(_)) {
        C::Tag(1, Box::new(plain))
    } else {
        plain
    }
}

/// A query form (less `Action` and `Version`) as a JSON tree: `A.member.N.B=v` gives
/// `{"A": [.., {"B": "v"}]}` (items in index order); values stay strings.
pub fn form_to_json(params: &BTreeMap<String, String>) -> Result<Value, ApiError> {
    #[derive(Default)]
    struct Node {
        value: Option<String>,
        fields: BTreeMap<String, Node>,
        items: BTreeMap<u32, Node>,
    }
    fn insert(node: &mut Node, path: &[&str], value: &str) -> Result<(), ApiError> {
        match path {
            [] => {
                node.value = Some(value.to_string());
                Ok(())
            }
            ["member", index, rest @ ..] => {
                let i: u32 = index
                    .parse()
                    .map_err(|_| invalid(format!("Invalid list index in '{index}'.")))?;
                insert(node.items.entry(i).or_default(), rest, value)
            }
            [field, rest @ ..] => insert(
                node.fields.entry((*field).to_string()).or_default(),
                rest,
                value,
            ),
        }
    }
    fn build(node: Node) -> Value {
        if !node.items.is_empty() {
            return Value::Array(node.items.into_values().map(build).collect());
        }
        if !node.fields.is_empty() {
            return Value::Object(
                node.fields
                    .into_iter()
                    .map(|(k, v)| (k, build(v)))
                    .collect(),
            );
        }
        // `A=` with an empty value names an empty list in the query protocol.
        match node.value {
            Some(v) => Value::String(v),
            None => Value::Array(Vec::new()),
        }
    }
    let mut root = Node::default();
    for (k, v) in params {
        if k == "Action" || k == "Version" {
            continue;
        }
        let path: Vec<&str> = k.split('.').collect();
        if path.len() > MAX_DEPTH {
            return Err(invalid("The request nests too deeply."));
        }
        insert(&mut root, &path, v)?;
    }
    Ok(match build(root) {
        Value::Object(m) => Value::Object(m),
        _ => Value::Object(Map::new()),
    })
}

/// The query protocol's answer to `operation`: `<OpResponse><OpResult>..</OpResult>` (no
/// result element for operations without output) and the request id.
pub fn json_to_xml(operation: &str, result: Option<&Value>, request_id: &str) -> String {
    let mut out = format!(r#"<{operation}Response xmlns="{XMLNS}">"#);
    if let Some(v) = result {
        out.push_str(&format!("<{operation}Result>"));
        write_xml(&mut out, v, false);
        out.push_str(&format!("</{operation}Result>"));
    }
    out.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
    ));
    out
}

fn write_xml(out: &mut String, v: &Value, timestamp: bool) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(secs) if timestamp => out.push_str(&iso8601(secs)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&xml_escape(s)),
        Value::Array(items) => {
            for item in items {
                out.push_str("<member>");
                write_xml(out, item, timestamp);
                out.push_str("</member>");
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                out.push_str(&format!("<{k}>"));
                write_xml(out, v, TIMESTAMP_MEMBERS.contains(&k.as_str()));
                out.push_str(&format!("</{k}>"));
            }
        }
    }
}

/// Epoch seconds as ISO 8601 with milliseconds (`2026-12-07T14:30:00.000Z`).
pub fn iso8601(secs: f64) -> String {
    crate::front::render::iso8601_millis(secs)
}

/// Lenient decoding of the members the three forms carry differently: numbers and booleans
/// (strings in query forms, `"NaN"` in AWS JSON) and timestamps (numbers, or ISO 8601 strings).
pub mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};
    use serde_json::Value;

    fn number(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                s => s.trim().parse().ok(),
            },
            _ => None,
        }
    }

    /// A double.
    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = Value::deserialize(d)?;
        number(&v).ok_or_else(|| D::Error::custom(format!("expected a number, got {v}")))
    }

    /// An optional double.
    pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(&v)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("expected a number, got {v}"))),
        }
    }

    /// An optional integer (a fractional number is refused).
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match opt_f64(d)? {
            None => Ok(None),
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
            Some(f) => Err(D::Error::custom(format!("expected an integer, got {f}"))),
        }
    }

    /// A list of doubles.
    pub fn vec_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
        match Option::<Vec<Value>>::deserialize(d)? {
            None => Ok(None),
            Some(items) => items
                .iter()
                .map(|v| {
                    number(v).ok_or_else(|| D::Error::custom(format!("expected a number, got {v}")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }

    /// An optional boolean.
    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(v) => Err(D::Error::custom(format!("expected a boolean, got {v}"))),
        }
    }

    /// An optional timestamp, as epoch seconds (within years 0 to 9999).
    pub fn opt_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let secs = match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => super::parse_time(&s),
            Some(_) => None,
        };
        match secs {
            Some(t) if t.is_finite() && t.abs() <= super::MAX_EPOCH_SECS => Ok(Some(t)),
            _ => Err(D::Error::custom("not a timestamp")),
        }
    }
}

/// An ISO 8601 / RFC 3339 timestamp (or epoch seconds as text) as epoch seconds.
pub fn parse_time(s: &str) -> Option<f64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some(secs);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .or_else(|_| {
            // `2026-12-07T14:30:00` without an offset is UTC.
            time::PrimitiveDateTime::parse(
                s,
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            )
            .map(time::PrimitiveDateTime::assume_utc)
        })
        .ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// Decodes a typed request from its JSON tree.
pub fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::new(
            ErrorCode::SerializationException,
            format!("Cannot deserialize the request: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cbor_requests_become_json_with_tagged_timestamps_and_special_floats() {
        use ciborium::Value as C;
        let doc = C::Map(vec![
            (C::Text("Namespace".into()), C::Text("N".into())),
            (
                C::Text("MetricData".into()),
                C::Array(vec![C::Map(vec![
                    (C::Text("Value".into()), C::Float(f64::NAN)),
                    (
                        C::Text("Timestamp".into()),
                        C::Tag(1, Box::new(C::Integer(1_796_652_000.into()))),
                    ),
                    (C::Text("Unit".into()), C::Null),
                ])]),
            ),
        ]);
        let mut body = Vec::new();
        ciborium::into_writer(&doc, &mut body).unwrap();
        assert_eq!(
            cbor_to_json(&body).unwrap(),
            json!({"Namespace": "N", "MetricData": [{"Value": "NaN", "Timestamp": 1_796_652_000}]})
        );
        assert_eq!(cbor_to_json(b"").unwrap(), json!({}));
        assert!(cbor_to_json(&[0xff, 0x00]).is_err());
        // Deep nesting is refused, not a stack overflow.
        let deep = vec![0x81; 10_000];
        assert!(cbor_to_json(&deep).is_err());
    }

    #[test]
    fn cbor_answers_tag_timestamps() {
        let bytes = json_to_cbor(&json!({"Datapoints": [{"Timestamp": 60, "Average": 1.5}]}));
        let v: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        let dp = &v.as_map().unwrap()[0].1.as_array().unwrap()[0];
        let ts = &dp
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some("Timestamp"))
            .unwrap()
            .1;
        assert!(matches!(ts, ciborium::Value::Tag(1, _)));
    }

    #[test]
    fn forms_become_trees() {
        let form: BTreeMap<String, String> = [
            ("Action", "PutMetricData"),
            ("Namespace", "N"),
            ("MetricData.member.1.MetricName", "M"),
            ("MetricData.member.1.Dimensions.member.2.Name", "b"),
            ("MetricData.member.1.Dimensions.member.1.Name", "a"),
            ("MetricData.member.1.Value", "1.5"),
            ("MetricData.member.2.MetricName", "M2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            form_to_json(&form).unwrap(),
            json!({"Namespace": "N", "MetricData": [
                {"MetricName": "M", "Value": "1.5", "Dimensions": [{"Name": "a"}, {"Name": "b"}]},
                {"MetricName": "M2"}
            ]})
        );
    }

    #[test]
    fn xml_answers_have_members_and_iso_timestamps() {
        let xml = json_to_xml(
            "GetMetricStatistics",
            Some(&json!({"Label": "M", "Datapoints": [{"Timestamp": 60.0, "Sum": 2.0}]})),
            "rid",
        );
        assert!(xml.contains("<Datapoints><member><Sum>2.0</Sum><Timestamp>1970-01-01T00:01:00.000Z</Timestamp></member></Datapoints>"), "{xml}");
        assert!(xml.contains("<RequestId>rid</RequestId>"));
        assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60.0));
        assert_eq!(parse_time("1970-01-01T00:01:00.500Z"), Some(60.5));
    }
}
