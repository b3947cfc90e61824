//! The edges of the ELBv2 query protocol, pure and without I/O: a form body (`Action`,
//! `Version`, members flattened as `Tags.member.1.Key=...`) becomes a JSON tree that typed
//! requests deserialize from, and a serialized answer becomes the query protocol's XML
//! (structures as elements, lists as `<member>` items, everything escaped).
//!
//! Query forms carry every scalar as text and an empty list as an empty value (`Subnets=`), so
//! the typed requests read numbers, booleans and lists through the lenient helpers here.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::front::render::xml_escape;
use crate::front::{ApiError, ErrorCode};

/// One node of a form while it is being unflattened.
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
            Node::Map(mut m) => {
                // `X.member.N` (and `X.entry.N`) are lists; their items are sorted by N.
                if m.len() == 1
                    && let Some(items) = m.remove("member")
                {
                    return list_of(items);
                }
                Value::Object(m.into_iter().map(|(k, v)| (k, v.into_value())).collect())
            }
        }
    }
}

fn list_of(items: Node) -> Value {
    match items {
        Node::Map(m) => {
            let mut numbered: Vec<(u64, Node)> = m
                .into_iter()
                .filter_map(|(k, v)| k.parse::<u64>().ok().map(|n| (n, v)))
                .collect();
            numbered.sort_by_key(|(n, _)| *n);
            Value::Array(numbered.into_iter().map(|(_, v)| v.into_value()).collect())
        }
        Node::Empty | Node::Leaf(_) => Value::Array(Vec::new()),
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
    root.into_value()
}

/// A typed request from a form tree; what does not fit is a `ValidationError`.
pub fn decode<T: DeserializeOwned>(tree: Value) -> Result<T, ApiError> {
    serde_json::from_value(tree).map_err(|e| {
        ApiError::new(
            ErrorCode::ValidationError,
            format!("1 validation error detected: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient<T> {
    Value(T),
    Text(String),
}

/// An optional integer sent as text (or, in a stored row, as a number).
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Lenient<i64>>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient::Value(n)) => Ok(Some(n)),
        Some(Lenient::Text(s)) => {
            s.trim().parse::<i64>().map(Some).map_err(|_| {
                serde::de::Error::custom(format!("Value '{s}' is not a valid integer"))
            })
        }
    }
}

/// An optional boolean sent as text (or, in a stored row, as a boolean).
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Lenient<bool>>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient::Value(b)) => Ok(Some(b)),
        Some(Lenient::Text(s)) => match s.as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(serde::de::Error::custom(format!(
                "Value '{other}' is not a valid boolean"
            ))),
        },
    }
}

/// An optional list, where the query protocol's empty value (`Subnets=`) is an empty list.
pub fn opt_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    match Option::<Lenient<Vec<T>>>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient::Value(v)) => Ok(Some(v)),
        Some(Lenient::Text(s)) if s.is_empty() => Ok(Some(Vec::new())),
        Some(Lenient::Text(s)) => Err(serde::de::Error::custom(format!(
            "Value '{s}' is not a list"
        ))),
    }
}

/// A list that may be absent (absent and empty are the same).
pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(opt_list(d)?.unwrap_or_default())
}

/// The query protocol's XML of a serialized result: objects become elements, arrays `<member>`
/// items, `null` is left out.
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
                out.push_str("<member>");
                write_value(out, item);
                out.push_str("</member>");
            }
        }
        Value::Object(m) => write_members(out, m),
    }
}

fn write_members(out: &mut String, m: &Map<String, Value>) {
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
    fn members_become_lists_in_their_numeric_order() {
        let t = tree(&form(&[
            ("Action", "AddTags"),
            ("Version", "2015-12-01"),
            ("ResourceArns.member.1", "a"),
            ("Tags.member.10.Key", "k10"),
            ("Tags.member.2.Key", "k2"),
            ("Tags.member.2.Value", "v2"),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.1",
                "/x*",
            ),
            ("Subnets", ""),
        ]));
        assert_eq!(
            t,
            json!({
                "ResourceArns": ["a"],
                "Tags": [{"Key": "k2", "Value": "v2"}, {"Key": "k10"}],
                "Conditions": [{"PathPatternConfig": {"Values": ["/x*"]}}],
                "Subnets": "",
            })
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Sample {
        #[serde(default, deserialize_with = "opt_int")]
        port: Option<i64>,
        #[serde(default, deserialize_with = "opt_bool")]
        enabled: Option<bool>,
        #[serde(default, deserialize_with = "opt_list")]
        subnets: Option<Vec<String>>,
    }

    #[test]
    fn text_scalars_and_empty_lists_decode() {
        let s: Sample = decode(json!({"Port": "80", "Enabled": "true", "Subnets": ""})).unwrap();
        assert_eq!(s.port, Some(80));
        assert_eq!(s.enabled, Some(true));
        assert_eq!(s.subnets, Some(vec![]));
        let e = decode::<Sample>(json!({"Port": "eighty"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationError);
    }

    #[test]
    fn xml_escapes_and_lists_members() {
        let x = xml(&json!({"A": ["<b>", "c&d"], "N": 1, "T": true, "Skip": null}));
        assert_eq!(
            x,
            "<A><member>&lt;b&gt;</member><member>c&amp;d</member></A><N>1</N><T>true</T>"
        );
    }
}
