//! Task definitions: Register/Deregister/Describe TaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ecs::acs_payload;
use crate::ecs::common::{paginate, valid_name, with_next};
use crate::ecs::model::Tag;
use crate::ecs::placement::attrs::{self as placement_attrs};
use crate::ecs::state::{Key, State};
use crate::ecs::taskdef::{Num, TaskDefinition, TaskDefinitionStatus};
use crate::front::{ApiError, ErrorCode};

impl State {
    /// RegisterTaskDefinition.
    pub fn register_task_definition(&mut self, req: Value, now: f64) -> Result<Value, ApiError> {
        let Value::Object(mut def) = req else {
            return Err(ApiError::new(
                ErrorCode::SerializationException,
                "The request body must be a JSON object.",
            ));
        };
        let family = def
            .get("family")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::client("Family is required."))?
            .to_string();
        if !valid_name(&family) {
            return Err(ApiError::client(
                "Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
            ));
        }
        let tags: Vec<Tag> = match def.remove("tags") {
            Some(t) => serde_json::from_value(t)
                .map_err(|e| ApiError::new(ErrorCode::SerializationException, e.to_string()))?,
            None => Vec::new(),
        };
        let mut def: TaskDefinition = serde_json::from_value(Value::Object(def))
            .map_err(|e| ApiError::new(ErrorCode::SerializationException, e.to_string()))?;
        let task_memory = def.memory.as_ref().and_then(Num::value);
        let bridge = def.network_mode() == "bridge";
        if def.container_definitions.is_empty() {
            return Err(ApiError::client("Container list cannot be empty."));
        }
        let mut names = BTreeSet::new();
        for c in &mut def.container_definitions {
            let name = c.name.clone();
            if name.is_empty() {
                return Err(ApiError::client(
                    "Container.name should not be null or empty.",
                ));
            }
            if !valid_name(&name) {
                return Err(ApiError::client(format!(
                    "Container name '{name}' is invalid. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."
                )));
            }
            if !names.insert(name.clone()) {
                return Err(ApiError::client(format!(
                    "Duplicate container name '{name}'."
                )));
            }
            if c.image.is_empty() {
                return Err(ApiError::client(
                    "Container.image should not be null or empty.",
                ));
            }
            let mem = c.memory.as_ref().and_then(Num::value);
            let res = c.memory_reservation.as_ref().and_then(Num::value);
            if task_memory.is_none() && mem.is_none() && res.is_none() {
                return Err(ApiError::client(format!(
                    "Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."
                )));
            }
            if let (Some(m), Some(r)) = (mem, res)
                && r > m
            {
                return Err(ApiError::client(format!(
                    "Invalid setting for container '{name}'. The memory value must be greater than the memoryReservation value."
                )));
            }
            if mem.is_some_and(|m| m < 6) {
                return Err(ApiError::client(format!(
                    "Invalid 'memory' setting for container '{name}'. The minimum memory that can be specified for a container is 6 MiB."
                )));
            }
            // ECS fills these defaults in the stored definition.
            c.cpu.get_or_insert(Num::from(0));
            c.essential.get_or_insert(true);
            for k in ["environment", "mountPoints", "volumesFrom"] {
                c.rest.entry(k).or_insert(json!([]));
            }
            for pm in &mut c.port_mappings {
                pm.protocol.get_or_insert_with(|| "tcp".to_string());
                if bridge && pm.host_port.is_none() && !pm.rest.contains_key("containerPortRange") {
                    pm.host_port = Some(Num::from(0));
                }
            }
        }
        if def.volumes.iter().any(|v| v.name.is_none()) {
            return Err(ApiError::client("Volume name should not be null or empty."));
        }
        let json = def.to_json();
        crate::ecs::taskdef_check::check(&json)?;
        if def.has_secrets() && def.execution_role_arn.as_deref().is_none_or(str::is_empty) {
            // ECS's words (the same for `secretOptions`, as far as we know).
            return Err(ApiError::client(
                "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
            ));
        }
        placement_attrs::parse_constraints(&def.placement_constraints, &[])
            .map_err(|e| ApiError::client(e.to_string()))?;
        let revision = self
            .task_defs
            .get(&family)
            .and_then(|revs| revs.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        let arn = self
            .account
            .arn(&format!("task-definition/{family}:{revision}"));
        def.task_definition_arn = arn.clone();
        def.revision = revision;
        def.status = TaskDefinitionStatus::Active;
        def.compatibilities = vec!["EXTERNAL".into(), "EC2".into()];
        def.requires_attributes = acs_payload::requires_attributes(&def.to_json());
        def.registered_at = Some(now);
        def.registered_by = Some(format!("arn:aws:iam::{}:root", self.account.account_id));
        self.task_defs
            .entry(family.clone())
            .or_default()
            .insert(revision, Arc::new(def.clone()));
        self.task_def_tags.insert(arn, tags.clone());
        self.touch(Key::TaskDef(family, revision));
        Ok(json!({ "taskDefinition": def, "tags": tags }))
    }

    /// Resolves `family`, `family:rev` or an ARN to (family, revision). A bare family means its
    /// latest ACTIVE revision.
    pub(crate) fn resolve_task_def(&self, reference: &str) -> Result<(String, u32), ApiError> {
        let r = reference
            .strip_prefix(&self.account.arn("task-definition/"))
            .or_else(|| reference.rsplit_once(":task-definition/").map(|(_, r)| r))
            .unwrap_or(reference);
        let not_found = || ApiError::client("Unable to describe task definition.");
        match r.split_once(':') {
            Some((family, rev)) => {
                let rev: u32 = rev.parse().map_err(|_| not_found())?;
                self.task_defs
                    .get(family)
                    .and_then(|revs| revs.get(&rev))
                    .ok_or_else(not_found)?;
                Ok((family.to_string(), rev))
            }
            None => {
                let revs = self.task_defs.get(r).ok_or_else(not_found)?;
                let rev = revs
                    .iter()
                    .rev()
                    .find(|(_, d)| d.status == TaskDefinitionStatus::Active)
                    .map(|(r, _)| *r)
                    .ok_or_else(not_found)?;
                Ok((r.to_string(), rev))
            }
        }
    }

    /// A registered revision (shared: placement keeps it while it changes the state).
    pub(crate) fn task_def(&self, family: &str, rev: u32) -> Option<&Arc<TaskDefinition>> {
        self.task_defs.get(family).and_then(|r| r.get(&rev))
    }

    /// DescribeTaskDefinition.
    pub fn describe_task_definition(
        &mut self,
        req: DescribeTaskDefinitionRequest,
    ) -> Result<Value, ApiError> {
        let (family, rev) = self.resolve_task_def(&req.task_definition)?;
        let def = self
            .task_def(&family, rev)
            .cloned()
            .ok_or_else(|| ApiError::client("Unable to describe task definition."))?;
        let mut out = json!({ "taskDefinition": def.as_ref() });
        if req.include.iter().any(|i| i == "TAGS") {
            out["tags"] = json!(
                self.task_def_tags
                    .get(&def.task_definition_arn)
                    .cloned()
                    .unwrap_or_default()
            );
        }
        Ok(out)
    }

    /// DeregisterTaskDefinition.
    pub fn deregister_task_definition(
        &mut self,
        req: DescribeTaskDefinitionRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        if !req.task_definition.contains(':') {
            return Err(ApiError::client(
                "Revision must be specified when deregistering a task definition.",
            ));
        }
        let (family, rev) = self.resolve_task_def(&req.task_definition)?;
        let def = self
            .task_defs
            .get_mut(&family)
            .and_then(|r| r.get_mut(&rev))
            .map(Arc::make_mut)
            .ok_or_else(|| ApiError::client("Unable to describe task definition."))?;
        def.status = TaskDefinitionStatus::Inactive;
        def.deregistered_at = Some(now);
        let out = json!({ "taskDefinition": def.clone() });
        self.touch(Key::TaskDef(family, rev));
        Ok(out)
    }

    /// ListTaskDefinitions.
    pub fn list_task_definitions(
        &mut self,
        req: ListTaskDefinitionsRequest,
    ) -> Result<Value, ApiError> {
        let status = req.status.as_deref().unwrap_or("ACTIVE");
        let mut arns: Vec<String> = Vec::new();
        for (family, revs) in &self.task_defs {
            if req
                .family_prefix
                .as_ref()
                .is_some_and(|p| !family.starts_with(p.as_str()))
            {
                continue;
            }
            for def in revs.values() {
                if def.status.as_str() == status {
                    arns.push(def.task_definition_arn.clone());
                }
            }
        }
        if req.sort.as_deref() == Some("DESC") {
            arns.reverse();
        }
        let (page, next) = paginate(&arns, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "taskDefinitionArns": page }), next))
    }

    /// ListTaskDefinitionFamilies.
    pub fn list_task_definition_families(
        &mut self,
        req: ListTaskDefinitionFamiliesRequest,
    ) -> Result<Value, ApiError> {
        let status = req.status.as_deref().unwrap_or("ACTIVE");
        let families: Vec<String> = self
            .task_defs
            .iter()
            .filter(|(f, _)| {
                req.family_prefix
                    .as_ref()
                    .is_none_or(|p| f.starts_with(p.as_str()))
            })
            .filter(|(_, revs)| {
                let active = revs
                    .values()
                    .any(|d| d.status == TaskDefinitionStatus::Active);
                match status {
                    "ALL" => true,
                    "INACTIVE" => !active,
                    _ => active,
                }
            })
            .map(|(f, _)| f.clone())
            .collect();
        let (page, next) = paginate(&families, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "families": page }), next))
    }
}

// ---- request shapes (members as botocore's ECS model names them) ----

/// DescribeTaskDefinition / DeregisterTaskDefinition input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTaskDefinitionRequest {
    /// family, family:rev or ARN.
    pub task_definition: String,
    /// `TAGS`.
    #[serde(default)]
    pub include: Vec<String>,
}

/// ListTaskDefinitions input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionsRequest {
    /// Prefix of the family.
    pub family_prefix: Option<String>,
    /// ACTIVE / INACTIVE.
    pub status: Option<String>,
    /// ASC / DESC.
    pub sort: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

/// ListTaskDefinitionFamilies input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionFamiliesRequest {
    /// Prefix.
    pub family_prefix: Option<String>,
    /// ACTIVE / INACTIVE / ALL.
    pub status: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}
