//! The edges of the EC2 protocol, pure and without I/O. A form body (`Action`, `Version`,
//! members flattened as `InstanceId.1=...`, `Filter.1.Value.2=...`: EC2's lists carry no
//! `.member.`) becomes a JSON tree typed requests deserialize from; an answer (a JSON tree whose
//! names are already the XML element names, e.g. `instancesSet`) becomes EC2's XML, where list
//! items are `<item>` elements; errors are EC2's `<Response><Errors>` document.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::Code;
use crate::front::ApiError;
use crate::front::form::{self, Lists};
use crate::front::render::xml_escape;

/// The XML namespace of every answer.
pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The form's members (all but `Action` and `Version`) as a JSON tree.
pub fn tree(params: &BTreeMap<String, String>) -> Value {
    form::tree(params, Lists::Numbered)
}

/// A typed request from a form tree; what does not fit is EC2's `InvalidParameterValue`.
pub fn decode<T: DeserializeOwned>(tree: Value) -> Result<T, ApiError> {
    serde_json::from_value(tree)
        .map_err(|e| Code::InvalidParameterValue.err(format!("Invalid request: {e}")))
}

pub use crate::front::form::{list, opt_bool, opt_int};

/// The answer document of `action`: `body`'s members inside `<{action}Response>`, after the
/// request id.
pub fn response_xml(action: &str, body: &Value, request_id: &str) -> String {
    let mut out = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<{action}Response xmlns="{XMLNS}"><requestId>{}</requestId>"#,
        xml_escape(request_id)
    );
    out.push_str(&xml(body));
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
    form::xml(value, "item")
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
