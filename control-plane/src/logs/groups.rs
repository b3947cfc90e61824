//! Log groups: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, PutRetentionPolicy,
//! DeleteRetentionPolicy, and the tags given at creation (ListTagsLogGroup, ListTagsForResource).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Logs;
use super::common::{Page, check_group_name, constraint, group_from_identifier, not_found_group};
use super::model::LogGroup;
use crate::front::{ApiError, ErrorCode};

/// Default and largest page of groups.
const MAX_DESCRIBE: usize = 50;

/// The retention periods CloudWatch accepts, in days.
const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateLogGroupRequest {
    log_group_name: String,
    kms_key_id: Option<String>,
    log_group_class: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupRequest {
    log_group_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeLogGroupsRequest {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutRetentionPolicyRequest {
    log_group_name: String,
    retention_in_days: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTagsForResourceRequest {
    resource_arn: String,
}

impl Logs {
    pub(super) fn create_log_group(
        &mut self,
        req: CreateLogGroupRequest,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        check_group_name(&req.log_group_name, "logGroupName")?;
        let class = req.log_group_class.unwrap_or_else(|| "STANDARD".into());
        if !matches!(
            class.as_str(),
            "STANDARD" | "INFREQUENT_ACCESS" | "DELIVERY"
        ) {
            return Err(constraint(
                &class,
                "logGroupClass",
                "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]",
            ));
        }
        if self.groups.contains_key(&req.log_group_name) {
            return Err(ApiError::new(
                ErrorCode::ResourceAlreadyExistsException,
                "The specified log group already exists",
            ));
        }
        let name = req.log_group_name;
        self.groups.insert(
            name.clone(),
            LogGroup {
                creation_time: now_ms,
                class,
                kms_key_id: req.kms_key_id,
                tags: req.tags.unwrap_or_default(),
                ..LogGroup::default()
            },
        );
        if let Some(g) = self.groups.get(&name) {
            self.journal.group(&name, g);
        }
        Ok(json!({}))
    }

    pub(super) fn delete_log_group(&mut self, req: GroupRequest) -> Result<Value, ApiError> {
        let g = self
            .groups
            .remove(&req.log_group_name)
            .ok_or_else(not_found_group)?;
        self.journal.delete_group(&req.log_group_name, &g);
        Ok(json!({}))
    }

    pub(super) fn describe_log_groups(
        &self,
        req: DescribeLogGroupsRequest,
    ) -> Result<Value, ApiError> {
        if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
            return Err(ApiError::invalid(
                "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.",
            ));
        }
        let page = Page::new(req.limit, MAX_DESCRIBE, req.next_token.as_deref())?;
        let matching: Vec<(&String, &LogGroup)> = self
            .groups
            .iter()
            .filter(|(name, _)| {
                req.log_group_name_prefix
                    .as_deref()
                    .is_none_or(|p| name.starts_with(p))
                    && req
                        .log_group_name_pattern
                        .as_deref()
                        .is_none_or(|p| name.contains(p))
            })
            .collect();
        let groups = page.of(&matching, |(name, g)| {
            let arn = self.group_arn(name);
            if req.log_group_name_pattern.is_some() {
                // CloudWatch answers a pattern search with these three members only.
                return json!({
                    "logGroupName": name,
                    "creationTime": g.creation_time,
                    "arn": format!("{arn}:*"),
                });
            }
            let stored: u64 = g.streams.values().map(|s| s.stored_bytes).sum();
            let mut v = json!({
                "logGroupName": name,
                "creationTime": g.creation_time,
                "metricFilterCount": 0,
                "arn": format!("{arn}:*"),
                "storedBytes": stored,
                "logGroupClass": g.class,
                "logGroupArn": arn,
                "deletionProtectionEnabled": false,
            });
            if let Some(k) = &g.kms_key_id {
                v["kmsKeyId"] = json!(k);
            }
            if let Some(days) = g.retention_in_days {
                v["retentionInDays"] = json!(days);
            }
            v
        });
        Ok(page.with_next_token(json!({ "logGroups": groups }), matching.len()))
    }

    pub(super) fn put_retention_policy(
        &mut self,
        req: PutRetentionPolicyRequest,
    ) -> Result<Value, ApiError> {
        let days = u32::try_from(req.retention_in_days)
            .ok()
            .filter(|d| RETENTION_DAYS.contains(d))
            .ok_or_else(|| {
                let set: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
                constraint(
                    &req.retention_in_days.to_string(),
                    "retentionInDays",
                    &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
                )
            })?;
        let g = self
            .groups
            .get_mut(&req.log_group_name)
            .ok_or_else(not_found_group)?;
        g.retention_in_days = Some(days);
        self.journal.group(&req.log_group_name, g);
        Ok(json!({}))
    }

    pub(super) fn delete_retention_policy(&mut self, req: GroupRequest) -> Result<Value, ApiError> {
        let g = self
            .groups
            .get_mut(&req.log_group_name)
            .ok_or_else(not_found_group)?;
        g.retention_in_days = None;
        self.journal.group(&req.log_group_name, g);
        Ok(json!({}))
    }

    pub(super) fn list_tags_log_group(&self, req: GroupRequest) -> Result<Value, ApiError> {
        let g = self
            .groups
            .get(&req.log_group_name)
            .ok_or_else(not_found_group)?;
        Ok(json!({ "tags": g.tags }))
    }

    pub(super) fn list_tags_for_resource(
        &self,
        req: ListTagsForResourceRequest,
    ) -> Result<Value, ApiError> {
        if !req.resource_arn.contains(":log-group:") {
            return Err(ApiError::invalid(format!(
                "Invalid resource ARN: {}",
                req.resource_arn
            )));
        }
        let name = group_from_identifier(&req.resource_arn);
        let g = self.groups.get(&name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ResourceNotFoundException,
                "The specified resource does not exist.",
            )
        })?;
        Ok(json!({ "tags": g.tags }))
    }

    /// Applies each group's retention policy at `now_ms`: older events go, and the batch rows
    /// that hold nothing newer.
    pub(super) fn expire(&mut self, now_ms: i64) {
        for g in self.groups.values_mut() {
            let Some(cutoff) = g.retention_cutoff(now_ms) else {
                continue;
            };
            for s in g.streams.values_mut() {
                let gone = s.expire(cutoff);
                self.journal.delete_batches(gone);
            }
        }
    }
}
