//! The edges of the EC2 protocol, pure and without I/O. A form body (`Action`, `Version`,
//! members flattened as `InstanceId.1=...`, `Filter.1.Value.2=...`: EC2's lists carry no
//! `.member.`) becomes a JSON tree typed requests deserialize from; an answer (a JSON tree whose
//! names are already the XML element names, e.g. `instancesSet`) becomes EC2's XML, where list
//! items are `<item>` elements; errors are EC2's `<Response><Errors>` document.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::error::Code;
use crate::front::ApiError;
use crate::front::render::xml_escape;

/// The XML namespace of every answer.
pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

#[derive(Debug, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(String),
    Map(BTreeMap<String, Node>),
}

impl Node {
    fn insert(&mut self, path: &[&str], value: &str) {
        let Some((first, rest)) = path.split_first() else {
            *self = Node::Leaf(value.to_string());
            return;
        };
        if !matches!(self, Node::Map(_)) {
            *self = Node::Map(BTreeMap::new());
        }
        if let Node::Map(m) = self {
            m.entry((*first).to_string())
                .or_default()
                .insert(rest, value);
        }
    }

    fn into_value(self) -> Value {
        match self {
            Node::Empty => Value::Null,
            Node::Leaf(s) => Value::String(s),
            Node::Map(m) => {
                // Only lists have numbered members: `X.1`, `X.2`, sorted by number.
                if !m.is_empty() && m.keys().all(|k| k.parse::<u64>().is_ok()) {
                    let mut numbered: Vec<(u64, Node)> = m
                        .into_iter()
                        .filter_map(|(k, v)| k.parse::<u64>().ok().map(|n| (n, v)))
                        .collect();
                    numbered.sort_by_key(|(n, _)| *n);
                    return Value::Array(
                        numbered.into_iter().map(|(_, v)| v.into_value()).collect(),
                    );
                }
                Value::Object(m.into_iter().map(|(k, v)| (k, v.into_value())).collect())
            }
        }
    }
}

/// The form's members (all but `Action` and `Version`) as a JSON tree.
pub fn tree(params: &BTreeMap<String, String>) -> Value {
    let mut root = Node::Map(BTreeMap::new());
    for (key, value) in params {
        if key == "Action" || key == "Version" {
            continue;
        }
        let path: Vec<&str> = key.split('.').collect();
        root.insert(&path, value);
    }
    match root.into_value() {
        Value::Null => Value::Object(Map::new()),
        v => v,
    }
}

/// A typed request from a form tree; what does not fit is EC2's `InvalidParameterValue`.
pub fn decode<T: DeserializeOwned>(tree: Value) -> Result<T, ApiError> {
    serde_json::from_value(tree)
        .map_err(|e| Code::InvalidParameterValue.err(format!("Invalid request: {e}")))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient<T> {
    Value(T),
    Text(String),
}

/// An optional integer sent as text.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Lenient<i64>>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient::Value(n)) => Ok(Some(n)),
        Some(Lenient::Text(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "Value ({s}) for parameter is invalid. Expected an integer."
            ))
        }),
    }
}

/// An optional boolean sent as text.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Lenient<bool>>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient::Value(b)) => Ok(Some(b)),
        Some(Lenient::Text(s)) => match s.as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(serde::de::Error::custom(format!(
                "Value ({other}) for parameter is invalid. Expected a boolean."
            ))),
        },
    }
}

/// A list that may be absent (absent and empty are the same; an empty value is an empty list).
pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    match Option::<Lenient<Vec<T>>>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(Lenient::Value(v)) => Ok(v),
        Some(Lenient::Text(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Lenient::Text(s)) => Err(serde::de::Error::custom(format!(
            "Value ({s}) for parameter is invalid. Expected a list."
        ))),
    }
}

/// The answer document of `action`: `body`'s members inside `<{action}Response>`, after the
/// request id.
pub fn response_xml(action: &str, body: &Value, request_id: &str) -> String {
    let mut out = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<{action}Response xmlns="{XMLNS}"><requestId>{}</requestId>"#,
        xml_escape(request_id)
    );
    write_value(&mut out, body);
    out.push_str(&format!("</{action}Response>"));
    out
}

/// EC2's error document.
pub fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>"#,
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id)
    )
}

/// The XML of a value: objects become elements, arrays `<item>`s, `null` is left out.
pub fn xml(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&xml_escape(s)),
        Value::Array(items) => {
            for item in items {
                out.push_str("<item>");
                write_value(out, item);
                out.push_str("</item>");
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                if v.is_null() {
                    continue;
                }
                out.push('<');
                out.push_str(k);
                out.push('>');
                write_value(out, v);
                out.push_str("</");
                out.push_str(k);
                out.push('>');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn numbered_members_become_lists_in_numeric_order() {
        let t = tree(&form(&[
            ("Action", "DescribeInstances"),
            ("Version", "2016-11-15"),
            ("InstanceId.1", "i-1"),
            ("InstanceId.10", "i-10"),
            ("InstanceId.2", "i-2"),
            ("Filter.1.Name", "tag:Name"),
            ("Filter.1.Value.1", "web"),
            ("Placement.AvailabilityZone", "us-east-1b"),
        ]));
        assert_eq!(
            t,
            json!({
                "InstanceId": ["i-1", "i-2", "i-10"],
                "Filter": [{"Name": "tag:Name", "Value": ["web"]}],
                "Placement": {"AvailabilityZone": "us-east-1b"},
            })
        );
        assert_eq!(tree(&form(&[("Action", "DescribeVpcs")])), json!({}));
    }

    #[test]
    fn answers_list_items_and_escape() {
        let x = response_xml(
            "DescribeVpcs",
            &json!({"vpcSet": [{"vpcId": "vpc-1", "isDefault": true, "skip": null}], "n": "<&>"}),
            "rid",
        );
        assert!(x.ends_with(
            "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>rid</requestId><n>&lt;&amp;&gt;</n><vpcSet><item><isDefault>true</isDefault><vpcId>vpc-1</vpcId></item></vpcSet></DescribeVpcsResponse>"
        ), "{x}");
        let e = error_xml(
            "InvalidInstanceID.NotFound",
            "The instance ID 'i-1' does not exist",
            "r",
        );
        assert!(e.contains("<Code>InvalidInstanceID.NotFound</Code><Message>The instance ID &apos;i-1&apos; does not exist</Message>"));
    }

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(rename = "MaxCount", default, deserialize_with = "opt_int")]
        max: Option<i64>,
        #[serde(rename = "DryRun", default, deserialize_with = "opt_bool")]
        dry_run: Option<bool>,
        #[serde(rename = "InstanceId", default, deserialize_with = "list")]
        ids: Vec<String>,
    }

    #[test]
    fn text_scalars_decode_and_bad_ones_are_refused() {
        let s: Sample =
            decode(json!({"MaxCount": "3", "DryRun": "false", "InstanceId": ["i-1"]})).unwrap();
        assert_eq!(
            (s.max, s.dry_run, s.ids),
            (Some(3), Some(false), vec!["i-1".to_string()])
        );
        let e = decode::<Sample>(json!({"MaxCount": "three"})).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterValue");
    }
}
