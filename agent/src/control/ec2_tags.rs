//! `ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance`: before registering, the agent reads
//! its EC2 instance's tags with EC2 DescribeTags (filters `resource-id` = the instance id from
//! the identity document and `resource-type` = `instance`, at most 1,000), leaves out those whose
//! key or value starts with `aws:` (ECS refuses them), and registers them with
//! `ECS_CONTAINER_INSTANCE_TAGS`, whose values win where both name a key, as the reference does.
//!
//! EC2 is called where the agent's other AWS calls go ([`crate::aws_json::AwsAccess`]: the
//! emulator at `ECS_BACKEND_HOST`, else the region's endpoint) with the instance's credentials.

use std::collections::BTreeMap;

use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_xml::decode::{Document, ScopedDecoder, try_data};

use crate::aws_json::{self, AwsAccess};

/// At most this many tags (the reference's `InstanceMaxTagsNum`).
pub const MAX_TAGS: u32 = 1000;

/// The DescribeTags form for `instance_id`.
pub fn describe_tags_body(instance_id: &str) -> String {
    let id: String = url_encode(instance_id);
    format!(
        "Action=DescribeTags&Version=2016-11-15\
         &Filter.1.Name=resource-id&Filter.1.Value.1={id}\
         &Filter.2.Name=resource-type&Filter.2.Value.1=instance\
         &MaxResults={MAX_TAGS}"
    )
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The tags in a DescribeTags answer (`<tagSet><item><key>..</key><value>..</value>`), without
/// those whose key or value starts with `aws:` (any case).
pub fn parse_tags(xml: &str) -> Result<Vec<(String, String)>, String> {
    let mut doc = Document::new(xml);
    let mut root = doc
        .root_element()
        .map_err(|e| format!("DescribeTags answer: {e}"))?;
    let mut tags = Vec::new();
    while let Some(mut tag) = root.next_tag() {
        if !tag.start_el().matches("tagSet") {
            continue;
        }
        while let Some(mut item) = tag.next_tag() {
            if item.start_el().matches("item") {
                tags.push(item_tag(&mut item)?);
            }
        }
    }
    Ok(tags
        .into_iter()
        .filter(|(k, v)| !is_aws(k) && !is_aws(v))
        .collect())
}

fn item_tag(item: &mut ScopedDecoder<'_, '_>) -> Result<(String, String), String> {
    let (mut key, mut value) = (None, String::new());
    while let Some(mut member) = item.next_tag() {
        let text = |m: &mut ScopedDecoder<'_, '_>| {
            try_data(m)
                .map(|t| t.into_owned())
                .map_err(|e| format!("DescribeTags answer: {e}"))
        };
        if member.start_el().matches("key") {
            key = Some(text(&mut member)?);
        } else if member.start_el().matches("value") {
            value = text(&mut member)?;
        }
    }
    let key = key.ok_or("DescribeTags answer: an item without a key")?;
    Ok((key, value))
}

fn is_aws(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// `local` over `ec2`: the configured tags win.
pub fn merge(
    local: &BTreeMap<String, String>,
    ec2: Vec<(String, String)>,
) -> BTreeMap<String, String> {
    let mut all: BTreeMap<String, String> = ec2.into_iter().collect();
    all.extend(local.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// The tags of `instance_id`, read with DescribeTags.
pub async fn fetch(
    aws: &AwsAccess,
    credentials: &SharedCredentialsProvider,
    instance_id: &str,
) -> Result<Vec<(String, String)>, String> {
    let creds = credentials
        .provide_credentials()
        .await
        .map_err(|e| format!("EC2 DescribeTags: no credentials: {e}"))?;
    let region = aws.region().to_string();
    let endpoint = aws.service_endpoint(&aws_json::EC2, &region);
    let xml = aws
        .client()
        .map_err(|e| format!("EC2 DescribeTags: {e}"))?
        .query(
            &endpoint,
            &aws_json::EC2,
            &region,
            &creds,
            &describe_tags_body(instance_id),
        )
        .await
        .map_err(|e| format!("EC2 DescribeTags of {instance_id}: {e}"))?;
    parse_tags(&xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_filters_on_the_instance() {
        assert_eq!(
            describe_tags_body("i-0abc"),
            "Action=DescribeTags&Version=2016-11-15&Filter.1.Name=resource-id&Filter.1.Value.1=i-0abc&Filter.2.Name=resource-type&Filter.2.Value.1=instance&MaxResults=1000"
        );
    }

    #[test]
    fn tags_are_read_and_aws_ones_left_out() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>
    <tagSet>
        <item><resourceId>i-0abc</resourceId><resourceType>instance</resourceType><key>Name</key><value>web &amp; api</value></item>
        <item><resourceId>i-0abc</resourceId><resourceType>instance</resourceType><key>aws:autoscaling:groupName</key><value>g</value></item>
        <item><resourceId>i-0abc</resourceId><resourceType>instance</resourceType><key>team</key><value>AWS:x</value></item>
        <item><resourceId>i-0abc</resourceId><resourceType>instance</resourceType><key>empty</key><value/></item>
    </tagSet>
</DescribeTagsResponse>"#;
        assert_eq!(
            parse_tags(xml).unwrap(),
            vec![
                ("Name".to_string(), "web & api".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
        assert!(parse_tags("not xml").is_err());
    }

    #[test]
    fn configured_tags_win() {
        let local = BTreeMap::from([("team".to_string(), "local".to_string())]);
        let merged = merge(
            &local,
            vec![("team".into(), "ec2".into()), ("Name".into(), "web".into())],
        );
        assert_eq!(merged["team"], "local");
        assert_eq!(merged["Name"], "web");
    }
}
