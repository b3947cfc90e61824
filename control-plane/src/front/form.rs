//! What the query protocols (ELBv2's `X.member.N` forms, EC2's `X.N` forms) share: scalars and
//! lists sent as text, read leniently by typed requests, and answers written as XML elements
//! whose list items are named by the protocol (`<member>` or `<item>`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::render::xml_escape;

/// How a query protocol flattens lists in its forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// `X.member.N` (the AWS query protocol: ELBv2, STS, CloudWatch).
    Member,
    /// `X.N` (the EC2 protocol).
    Numbered,
}

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

    fn into_value(self, lists: Lists) -> Value {
        match self {
            Node::Empty => Value::Null,
            Node::Leaf(s) => Value::String(s),
            Node::Map(mut m) => {
                match lists {
                    Lists::Member if m.len() == 1 => {
                        if let Some(items) = m.remove("member") {
                            return list_of(items, lists);
                        }
                    }
                    // Only lists have numbered members.
                    Lists::Numbered
                        if !m.is_empty() && m.keys().all(|k| k.parse::<u64>().is_ok()) =>
                    {
                        return list_of(Node::Map(m), lists);
                    }
                    _ => {}
                }
                Value::Object(
                    m.into_iter()
                        .map(|(k, v)| (k, v.into_value(lists)))
                        .collect(),
                )
            }
        }
    }
}

/// A list's items, sorted by their number.
fn list_of(items: Node, lists: Lists) -> Value {
    match items {
        Node::Map(m) => {
            let mut numbered: Vec<(u64, Node)> = m
                .into_iter()
                .filter_map(|(k, v)| k.parse::<u64>().ok().map(|n| (n, v)))
                .collect();
            numbered.sort_by_key(|(n, _)| *n);
            Value::Array(
                numbered
                    .into_iter()
                    .map(|(_, v)| v.into_value(lists))
                    .collect(),
            )
        }
        Node::Empty | Node::Leaf(_) => Value::Array(Vec::new()),
    }
}

/// The form's members (all but `Action` and `Version`) as a JSON tree (an object, empty when
/// there are none).
pub fn tree(params: &BTreeMap<String, String>, lists: Lists) -> Value {
    let mut root = Node::Map(BTreeMap::new());
    for (key, value) in params {
        if key == "Action" || key == "Version" {
            continue;
        }
        let path: Vec<&str> = key.split('.').collect();
        root.insert(&path, value);
    }
    match root.into_value(lists) {
        Value::Null => Value::Object(Map::new()),
        v => v,
    }
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

/// The XML of a serialized answer: objects become elements, arrays `<{item}>` items, `null` is
/// left out.
pub fn xml(value: &Value, item: &str) -> String {
    let mut out = String::new();
    write_value(&mut out, value, item);
    out
}

fn write_value(out: &mut String, value: &Value, item: &str) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&xml_escape(s)),
        Value::Array(items) => {
            for v in items {
                out.push('<');
                out.push_str(item);
                out.push('>');
                write_value(out, v, item);
                out.push_str("</");
                out.push_str(item);
                out.push('>');
            }
        }
        Value::Object(m) => write_members(out, m, item),
    }
}

fn write_members(out: &mut String, m: &Map<String, Value>, item: &str) {
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        out.push('<');
        out.push_str(k);
        out.push('>');
        write_value(out, v, item);
        out.push_str("</");
        out.push_str(k);
        out.push('>');
    }
}
