//! Tags of load balancers, target groups, listeners and rules: AddTags, RemoveTags,
//! DescribeTags, and the tags given at creation. A resource's tags live in its own record.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Code, validation};
use super::form;
use super::model::Tag;
use super::state::{State, result};
use crate::front::ApiError;

/// Tags per resource.
const MAX_TAGS: usize = 50;
/// Resources per AddTags / RemoveTags / DescribeTags.
const MAX_RESOURCES: usize = 20;

/// Checks tags given in one request: keys present, unique, within the size limits.
pub fn check(tags: &[Tag]) -> Result<(), ApiError> {
    let mut seen = std::collections::BTreeSet::new();
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'tags.key' failed to satisfy constraint: Member must have length between 1 and 128",
                t.key
            )));
        }
        if t.value.as_ref().is_some_and(|v| v.chars().count() > 256) {
            return Err(validation(
                "1 validation error detected: Value at 'tags.value' failed to satisfy constraint: Member must have length less than or equal to 256",
            ));
        }
        if !seen.insert(t.key.as_str()) {
            return Err(Code::DuplicateTagKeys.err(format!("Tag key '{}' is duplicated", t.key)));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(Code::TooManyTags.err("You've reached the limit on the number of tags"));
    }
    Ok(())
}

/// `existing` with `added` set over it; `TooManyTags` past the limit.
pub fn merged(existing: &[Tag], added: &[Tag]) -> Result<Vec<Tag>, ApiError> {
    let mut tags = existing.to_vec();
    for t in added {
        match tags.iter_mut().find(|e| e.key == t.key) {
            Some(e) => e.value.clone_from(&t.value),
            None => tags.push(t.clone()),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(Code::TooManyTags.err(format!(
            "You've reached the limit of {MAX_TAGS} tags per resource"
        )));
    }
    Ok(tags)
}

/// AddTags.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddTags {
    #[serde(default, deserialize_with = "form::list")]
    resource_arns: Vec<String>,
    #[serde(default, deserialize_with = "form::list")]
    tags: Vec<Tag>,
}

/// RemoveTags.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTags {
    #[serde(default, deserialize_with = "form::list")]
    resource_arns: Vec<String>,
    #[serde(default, deserialize_with = "form::list")]
    tag_keys: Vec<String>,
}

/// DescribeTags.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTags {
    #[serde(default, deserialize_with = "form::list")]
    resource_arns: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagDescription<'a> {
    resource_arn: &'a str,
    tags: &'a [Tag],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeTagsResult<'a> {
    tag_descriptions: Vec<TagDescription<'a>>,
}

fn check_arns(arns: &[String]) -> Result<(), ApiError> {
    if arns.is_empty() || arns.len() > MAX_RESOURCES {
        return Err(validation(format!(
            "1 validation error detected: Value at 'resourceArns' failed to satisfy constraint: Member must have length between 1 and {MAX_RESOURCES}"
        )));
    }
    Ok(())
}

impl State {
    /// The tags of the resource `arn`, by the kind its ARN names.
    fn tags_of(&self, arn: &str) -> Result<&[Tag], ApiError> {
        let found = if arn.contains(":loadbalancer/") {
            self.lbs.get(arn).map(|r| &r.tags)
        } else if arn.contains(":targetgroup/") {
            self.tgs.get(arn).map(|r| &r.tags)
        } else if arn.contains(":listener/") {
            self.listeners.get(arn).map(|r| &r.tags)
        } else if arn.contains(":listener-rule/") {
            self.rules.get(arn).map(|r| &r.tags)
        } else {
            return Err(validation(format!("'{arn}' is not a valid resource ARN")));
        };
        found.map(Vec::as_slice).ok_or_else(|| not_found(arn))
    }

    fn set_tags(&mut self, arn: &str, tags: Vec<Tag>) {
        if let Some(r) = self.lbs.get_mut(arn) {
            r.tags = tags;
            self.touch_lb(arn);
        } else if let Some(r) = self.tgs.get_mut(arn) {
            r.tags = tags;
            self.touch_tg(arn);
        } else if let Some(r) = self.listeners.get_mut(arn) {
            r.tags = tags;
            self.touch_listener(arn);
        } else if let Some(r) = self.rules.get_mut(arn) {
            r.tags = tags;
            self.touch_rule(arn);
        }
    }

    /// AddTags: every resource is checked before any is tagged.
    pub fn add_tags(&mut self, req: AddTags) -> Result<Value, ApiError> {
        check_arns(&req.resource_arns)?;
        check(&req.tags)?;
        let mut updated = Vec::new();
        for arn in &req.resource_arns {
            updated.push((arn.clone(), merged(self.tags_of(arn)?, &req.tags)?));
        }
        for (arn, tags) in updated {
            self.set_tags(&arn, tags);
        }
        Ok(Value::Null)
    }

    /// RemoveTags.
    pub fn remove_tags(&mut self, req: RemoveTags) -> Result<Value, ApiError> {
        check_arns(&req.resource_arns)?;
        let mut updated = Vec::new();
        for arn in &req.resource_arns {
            let mut tags = self.tags_of(arn)?.to_vec();
            tags.retain(|t| !req.tag_keys.contains(&t.key));
            updated.push((arn.clone(), tags));
        }
        for (arn, tags) in updated {
            self.set_tags(&arn, tags);
        }
        Ok(Value::Null)
    }

    /// DescribeTags.
    pub fn describe_tags(&self, req: &DescribeTags) -> Result<Value, ApiError> {
        check_arns(&req.resource_arns)?;
        let mut tag_descriptions = Vec::new();
        for arn in &req.resource_arns {
            tag_descriptions.push(TagDescription {
                resource_arn: arn,
                tags: self.tags_of(arn)?,
            });
        }
        Ok(result(&DescribeTagsResult { tag_descriptions }))
    }
}

/// The not-found error of the kind of resource `arn` names.
fn not_found(arn: &str) -> ApiError {
    if arn.contains(":loadbalancer/") {
        Code::LoadBalancerNotFound.err(format!("Load balancer '{arn}' not found"))
    } else if arn.contains(":targetgroup/") {
        Code::TargetGroupNotFound.err(format!("Target group '{arn}' not found"))
    } else if arn.contains(":listener/") {
        Code::ListenerNotFound.err(format!("Listener '{arn}' not found"))
    } else {
        Code::RuleNotFound.err(format!("Rule '{arn}' not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: Some(v.into()),
        }
    }

    #[test]
    fn duplicate_keys_are_refused_and_merge_overwrites() {
        let e = check(&[tag("a", "1"), tag("a", "2")]).unwrap_err();
        assert_eq!(e.code.as_str(), "DuplicateTagKeys");
        let m = merged(&[tag("a", "1")], &[tag("a", "2"), tag("b", "3")]).unwrap();
        assert_eq!(m, vec![tag("a", "2"), tag("b", "3")]);
    }
}
