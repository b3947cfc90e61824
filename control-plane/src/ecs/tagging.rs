//! ECS's tagging API: TagResource, UntagResource and ListTagsForResource on clusters, container
//! instances, task definitions, tasks and services, by ARN. The tags are the same ones the create calls
//! take and the describe calls return (`include: ["TAGS"]`), so a tag added here shows there.
//!
//! What it must not do: accept a tag ECS would refuse (more than 50 on a resource, an empty or
//! over-long key, a value over 256 characters, the reserved `aws:` prefix).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ecs::model::Tag;
use crate::ecs::state::{Key, State};
use crate::front::ApiError;

/// Most tags on one resource.
const MAX_TAGS: usize = 50;

/// TagResource input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceRequest {
    /// The resource.
    pub resource_arn: Option<String>,
    /// Tags to add or overwrite.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// UntagResource input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceRequest {
    /// The resource.
    pub resource_arn: Option<String>,
    /// Keys to remove.
    #[serde(default)]
    pub tag_keys: Vec<String>,
}

/// ListTagsForResource input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsForResourceRequest {
    /// The resource.
    pub resource_arn: Option<String>,
}

/// What an ECS ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Cluster(String),
    Instance(String),
    TaskDefinition(String),
    Task(String),
    Service(String),
}

/// Parses `arn:<partition>:ecs:<region>:<account>:<type>/<rest>` for the taggable types.
fn resource(arn: &str) -> Result<Resource, ApiError> {
    let invalid = || ApiError::invalid("The ARN provided is invalid.");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "ecs" {
        return Err(invalid());
    }
    let (kind, rest) = parts[5].split_once('/').ok_or_else(invalid)?;
    if rest.is_empty() {
        return Err(invalid());
    }
    match kind {
        "cluster" => Ok(Resource::Cluster(rest.to_string())),
        "container-instance" => Ok(Resource::Instance(arn.to_string())),
        "task-definition" => Ok(Resource::TaskDefinition(arn.to_string())),
        "task" => Ok(Resource::Task(arn.to_string())),
        "service" => Ok(Resource::Service(arn.to_string())),
        _ => Err(invalid()),
    }
}

fn required(arn: Option<String>) -> Result<String, ApiError> {
    arn.filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::invalid("resourceArn can not be blank."))
}

/// ECS's limits on one tag.
fn check_tag(tag: &Tag) -> Result<(), ApiError> {
    if tag.key.is_empty() || tag.key.chars().count() > 128 {
        return Err(ApiError::invalid(
            "Tag keys must be between 1 and 128 characters in length.",
        ));
    }
    if tag.value.chars().count() > 256 {
        return Err(ApiError::invalid(
            "Tag values must be between 0 and 256 characters in length.",
        ));
    }
    if tag.key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::invalid(
            "Tag keys cannot start with the reserved prefix 'aws:'.",
        ));
    }
    Ok(())
}

impl State {
    /// The tags of the resource `arn` names and the store key to write after a change.
    fn tags_mut(&mut self, arn: &str) -> Result<(&mut Vec<Tag>, Key), ApiError> {
        let not_found = || ApiError::invalid("The specified resource could not be found.");
        match resource(arn)? {
            Resource::Cluster(name) => {
                let c = self
                    .clusters
                    .get_mut(&name)
                    .filter(|c| c.status == "ACTIVE")
                    .ok_or_else(ApiError::cluster_not_found)?;
                Ok((&mut c.tags, Key::Cluster(name)))
            }
            Resource::Instance(a) => {
                let i = self.instances.get_mut(&a).ok_or_else(not_found)?;
                Ok((&mut i.tags, Key::Instance(a)))
            }
            Resource::Task(a) => {
                let t = self
                    .tasks
                    .get_mut(&a)
                    .map(Arc::make_mut)
                    .ok_or_else(not_found)?;
                Ok((&mut t.tags, Key::Task(a)))
            }
            Resource::Service(a) => {
                let s = self
                    .services
                    .get_mut(&a)
                    .filter(|s| s.status != "INACTIVE")
                    .ok_or_else(not_found)?;
                Ok((&mut s.tags, Key::Service(a)))
            }
            Resource::TaskDefinition(a) => {
                let (family, revision) = a
                    .rsplit_once('/')
                    .and_then(|(_, fr)| fr.rsplit_once(':'))
                    .and_then(|(f, r)| Some((f.to_string(), r.parse::<u32>().ok()?)))
                    .ok_or_else(|| ApiError::invalid("The ARN provided is invalid."))?;
                let known = self
                    .task_defs
                    .get(&family)
                    .is_some_and(|revs| revs.contains_key(&revision));
                if !known {
                    return Err(not_found());
                }
                Ok((
                    self.task_def_tags.entry(a).or_default(),
                    Key::TaskDef(family, revision),
                ))
            }
        }
    }

    /// TagResource: adds the tags, replacing the values of keys already there.
    pub fn tag_resource(&mut self, req: TagResourceRequest) -> Result<Value, ApiError> {
        let arn = required(req.resource_arn)?;
        if req.tags.is_empty() {
            return Err(ApiError::invalid("Tags can not be empty."));
        }
        for t in &req.tags {
            check_tag(t)?;
        }
        let (tags, key) = self.tags_mut(&arn)?;
        let mut merged = tags.clone();
        for t in req.tags {
            match merged.iter_mut().find(|m| m.key == t.key) {
                Some(m) => m.value = t.value,
                None => merged.push(t),
            }
        }
        if merged.len() > MAX_TAGS {
            return Err(ApiError::invalid(format!(
                "A resource can have at most {MAX_TAGS} tags."
            )));
        }
        *tags = merged;
        self.touch(key);
        Ok(json!({}))
    }

    /// UntagResource: removes the keys (absent ones are ignored, as ECS does).
    pub fn untag_resource(&mut self, req: UntagResourceRequest) -> Result<Value, ApiError> {
        let arn = required(req.resource_arn)?;
        if req.tag_keys.is_empty() {
            return Err(ApiError::invalid("TagKeys can not be empty."));
        }
        let (tags, key) = self.tags_mut(&arn)?;
        tags.retain(|t| !req.tag_keys.contains(&t.key));
        self.touch(key);
        Ok(json!({}))
    }

    /// ListTagsForResource.
    pub fn list_tags_for_resource(
        &mut self,
        req: ListTagsForResourceRequest,
    ) -> Result<Value, ApiError> {
        let arn = required(req.resource_arn)?;
        let (tags, _) = self.tags_mut(&arn)?;
        Ok(json!({ "tags": tags.clone() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_the_taggable_resources() {
        let a = "arn:aws:ecs:us-east-1:123456789012";
        assert_eq!(
            resource(&format!("{a}:cluster/prod")).unwrap(),
            Resource::Cluster("prod".into())
        );
        assert!(matches!(
            resource(&format!("{a}:task/prod/0123")).unwrap(),
            Resource::Task(_)
        ));
        assert!(matches!(
            resource(&format!("{a}:task-definition/web:3")).unwrap(),
            Resource::TaskDefinition(_)
        ));
        assert!(matches!(
            resource(&format!("{a}:container-instance/prod/ab")).unwrap(),
            Resource::Instance(_)
        ));
        assert!(matches!(
            resource(&format!("{a}:service/prod/web")).unwrap(),
            Resource::Service(_)
        ));
        for bad in [
            "prod",
            "arn:aws:ecr:us-east-1:1:repository/r",
            &format!("{a}:cluster/"),
            &format!("{a}:capacity-provider/x"),
        ] {
            assert_eq!(
                resource(bad).unwrap_err(),
                ApiError::invalid("The ARN provided is invalid."),
                "{bad}"
            );
        }
    }

    #[test]
    fn tags_ecs_refuses() {
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(check_tag(&tag("team", "")).is_ok());
        assert!(check_tag(&tag("", "x")).is_err());
        assert!(check_tag(&tag("AWS:cloudformation", "x")).is_err());
        assert!(check_tag(&tag(&"k".repeat(129), "x")).is_err());
        assert!(check_tag(&tag("k", &"v".repeat(257))).is_err());
    }
}
