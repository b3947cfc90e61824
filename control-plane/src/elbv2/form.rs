//! The edges of the ELBv2 query protocol, pure and without I/O: a form body (`Action`,
//! `Version`, members flattened as `Tags.member.1.Key=...`) becomes a JSON tree that typed
//! requests deserialize from, and a serialized answer becomes the query protocol's XML
//! (structures as elements, lists as `<member>` items, everything escaped).
//!
//! Query forms carry every scalar as text and an empty list as an empty value (`Subnets=`), so
//! the typed requests read numbers, booleans and lists through the lenient helpers here.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::front::{ApiError, ErrorCode};

/// The form's members (all but `Action` and `Version`) as a JSON tree.
pub fn tree(params: &BTreeMap<String, String>) -> Value {
    crate::front::form::tree(params, crate::front::form::Lists::Member)
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

pub use crate::front::form::{list, opt_bool, opt_int, opt_list};

/// The query protocol's XML of a serialized result: objects become elements, arrays `<member>`
/// items, `null` is left out.
pub fn xml(value: &Value) -> String {
    crate::front::form::xml(value, "member")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
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
