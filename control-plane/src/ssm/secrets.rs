//! The emulated AWS Secrets Manager (AWS JSON 1.1, `X-Amz-Target: secretsmanager.<Op>`, SigV4
//! service `secretsmanager`), as the AWS CLI and an ECS agent fetching container secrets call it.
//!
//! Served: CreateSecret (SecretString or SecretBinary, or no value yet), GetSecretValue (by
//! name, ARN or partial ARN; VersionId, VersionStage), PutSecretValue, UpdateSecret,
//! DescribeSecret, ListSecrets (paginated, `name` / `description` filters,
//! IncludePlannedDeletion), DeleteSecret (ForceDeleteWithoutRecovery, or a 7 to 30 day
//! recovery window after which the secret is gone) and RestoreSecret, with Secrets Manager's
//! error codes (`ResourceNotFoundException`, `ResourceExistsException`,
//! `InvalidRequestException`, `InvalidParameterException`, `InvalidNextTokenException`).
//!
//! ARNs are `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random alphanumerics>`;
//! a partial ARN (without the suffix) finds the secret too, as the ECS agent sends it when a
//! `valueFrom` names a JSON key or version (`...:secret:<name>:<json-key>:<stage>:<version-id>`).
//!
//! Versions: each value is a version with staging labels. A new value becomes `AWSCURRENT`,
//! the one before `AWSPREVIOUS`; older ones keep no label (they stay readable by VersionId).
//! The `ClientRequestToken` the CLI generates is the VersionId, and repeating a call with it and
//! the same value is a no-op, as on AWS.
//!
//! State: [`SecretsManager`] is plain data with synchronous operations (unit-tested without
//! I/O); its owner ([`crate::ssm`]) persists the secrets it marks changed. Values are kept as
//! given (there is no KMS), never logged, and left out of `Debug`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::front::json::decode;
use crate::front::{ApiError, ErrorCode};
use crate::store::Change;

/// The `X-Amz-Target` prefix of Secrets Manager operations.
pub const TARGET_PREFIX: &str = "secretsmanager.";

/// Store key prefix of a secret (`asm/<name>`).
pub const KEY_PREFIX: &str = "asm/";

/// The label of the current version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label of the version before it.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// Largest (and default) page of ListSecrets.
const MAX_LIST: usize = 100;
/// Default recovery window of DeleteSecret, in days.
const DEFAULT_RECOVERY_DAYS: i64 = 30;
const DAY_SECS: f64 = 86_400.0;

/// One value of a secret. `Debug` leaves the value out.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretVersion {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    string: Option<String>,
    /// Base64, as the wire carries blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    binary: Option<String>,
    stages: Vec<String>,
    created: f64,
}

impl std::fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersion")
            .field("id", &self.id)
            .field("stages", &self.stages)
            .field("value", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SecretVersion {
    fn same_value(&self, string: Option<&str>, binary: Option<&str>) -> bool {
        self.string.as_deref() == string && self.binary.as_deref() == binary
    }
}

/// A secret and its versions (oldest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Secret {
    arn: String,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    #[serde(default)]
    tags: Vec<Value>,
    created: f64,
    last_changed: f64,
    /// Day (epoch seconds at midnight UTC) of the last read, as AWS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_accessed: Option<f64>,
    /// When DeleteSecret was called, while scheduled for deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<f64>,
    /// When it will be gone, while scheduled for deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deletion_date: Option<f64>,
    versions: Vec<SecretVersion>,
}

impl Secret {
    fn with_stage(&self, stage: &str) -> Option<&SecretVersion> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    /// `{versionId: [stages]}` of the versions that have a label.
    fn versions_to_stages(&self) -> Value {
        let m: serde_json::Map<String, Value> = self
            .versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), json!(v.stages)))
            .collect();
        Value::Object(m)
    }

    /// Adds a version, moving `stages` to it (`AWSCURRENT` moves the old current to
    /// `AWSPREVIOUS`). An existing version id with the same value is a no-op.
    fn add_version(
        &mut self,
        id: String,
        string: Option<String>,
        binary: Option<String>,
        stages: Vec<String>,
        now: f64,
    ) -> Result<Vec<String>, ApiError> {
        if let Some(v) = self.versions.iter().find(|v| v.id == id) {
            if v.same_value(string.as_deref(), binary.as_deref()) {
                return Ok(v.stages.clone());
            }
            return Err(ApiError::new(
                ErrorCode::ResourceExistsException,
                "You can't modify an existing version, you can only create a new version.",
            ));
        }
        for stage in &stages {
            if stage == AWSCURRENT {
                let old_current = self.with_stage(AWSCURRENT).map(|v| v.id.clone());
                for v in &mut self.versions {
                    v.stages.retain(|s| s != AWSPREVIOUS);
                    if Some(&v.id) == old_current.as_ref() {
                        v.stages.retain(|s| s != AWSCURRENT);
                        v.stages.push(AWSPREVIOUS.into());
                    }
                }
            } else {
                for v in &mut self.versions {
                    v.stages.retain(|s| s != stage);
                }
            }
        }
        self.versions.push(SecretVersion {
            id,
            string,
            binary,
            stages: stages.clone(),
            created: now,
        });
        self.last_changed = now;
        Ok(stages)
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        "Secrets Manager can't find the specified secret.",
    )
}

fn marked_for_deletion() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequestException,
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

fn invalid_parameter(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterException, message)
}

/// The value of a request: a string, or a blob that must be valid base64, not both.
fn value_of(
    string: Option<String>,
    binary: Option<String>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    if string.is_some() && binary.is_some() {
        return Err(invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        ));
    }
    if let Some(b) = &binary
        && base64::engine::general_purpose::STANDARD.decode(b).is_err()
    {
        return Err(invalid_parameter("SecretBinary must be base64-encoded."));
    }
    Ok((string, binary))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if name.is_empty() || name.chars().count() > 512 || !ok_chars {
        return Err(invalid_parameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    Ok(())
}

fn check_token(token: &str) -> Result<(), ApiError> {
    if !(32..=64).contains(&token.len()) {
        return Err(invalid_parameter(format!(
            "ClientRequestToken must be 32 to 64 characters long; got {}.",
            token.len()
        )));
    }
    Ok(())
}

/// Six random alphanumerics, as the end of a secret ARN.
fn arn_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateSecretRequest {
    name: String,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    tags: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretIdRequest {
    secret_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSecretValueRequest {
    secret_id: String,
    version_id: Option<String>,
    version_stage: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutSecretValueRequest {
    secret_id: String,
    client_request_token: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    version_stages: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateSecretRequest {
    secret_id: String,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteSecretRequest {
    secret_id: String,
    recovery_window_in_days: Option<i64>,
    #[serde(default)]
    force_delete_without_recovery: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListFilter {
    key: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListSecretsRequest {
    #[serde(default)]
    include_planned_deletion: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
    #[serde(default)]
    filters: Vec<ListFilter>,
    sort_order: Option<String>,
}

/// Every secret of the emulated account and region.
#[derive(Debug)]
pub struct SecretsManager {
    region: String,
    account_id: String,
    /// By name (names are unique among secrets that exist, scheduled for deletion or not).
    secrets: BTreeMap<String, Secret>,
    dirty: BTreeSet<String>,
}

impl SecretsManager {
    /// No secrets, in `region` of `account_id` (for ARNs).
    pub fn new(region: &str, account_id: &str) -> Self {
        SecretsManager {
            region: region.to_string(),
            account_id: account_id.to_string(),
            secrets: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// Adds a stored row (`asm/<name>` → JSON); other rows are not ours and are skipped.
    pub fn restore_row(&mut self, key: &str, bytes: &[u8]) -> Result<bool, serde_json::Error> {
        crate::store::restore_entity(&mut self.secrets, KEY_PREFIX, key, bytes)
    }

    /// The store changes since the last call.
    pub fn take_changes(&mut self) -> Vec<Change> {
        crate::store::entity_changes(&self.secrets, &mut self.dirty, KEY_PREFIX)
    }

    /// Runs operation `op` (the part of `X-Amz-Target` after [`TARGET_PREFIX`]) at `now`
    /// (epoch seconds).
    pub fn handle(&mut self, op: &str, body: &[u8], now: f64) -> Result<Value, ApiError> {
        self.purge_expired(now);
        match op {
            "CreateSecret" => self.create_secret(decode(body)?, now),
            "GetSecretValue" => self.get_secret_value(&decode(body)?, now),
            "PutSecretValue" => self.put_secret_value(decode(body)?, now),
            "UpdateSecret" => self.update_secret(decode(body)?, now),
            "DescribeSecret" => self.describe_secret(&decode(body)?),
            "ListSecrets" => self.list_secrets(&decode(body)?),
            "DeleteSecret" => self.delete_secret(&decode(body)?, now),
            "RestoreSecret" => self.restore_secret(&decode(body)?, now),
            other => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("The operation {other} is not supported by this emulator."),
            )),
        }
    }

    /// Secrets whose recovery window has passed are gone.
    fn purge_expired(&mut self, now: f64) {
        let expired: Vec<String> = self
            .secrets
            .values()
            .filter(|s| s.deletion_date.is_some_and(|d| d <= now))
            .map(|s| s.name.clone())
            .collect();
        for name in expired {
            self.secrets.remove(&name);
            self.dirty.insert(name);
        }
    }

    /// The name of the secret `id` (name, ARN or partial ARN) names.
    fn resolve(&self, id: &str) -> Result<String, ApiError> {
        if self.secrets.contains_key(id) {
            return Ok(id.to_string());
        }
        let prefix = format!(
            "arn:aws:secretsmanager:{}:{}:secret:",
            self.region, self.account_id
        );
        if let Some(rest) = id.strip_prefix(&prefix) {
            if let Some(s) = self.secrets.values().find(|s| s.arn == id) {
                return Ok(s.name.clone());
            }
            // A partial ARN: the name without the random suffix.
            if self.secrets.contains_key(rest) {
                return Ok(rest.to_string());
            }
        }
        Err(not_found())
    }

    fn secret_mut(&mut self, name: &str) -> Result<&mut Secret, ApiError> {
        self.dirty.insert(name.to_string());
        self.secrets.get_mut(name).ok_or_else(not_found)
    }

    fn create_secret(&mut self, req: CreateSecretRequest, now: f64) -> Result<Value, ApiError> {
        check_name(&req.name)?;
        if let Some(t) = &req.client_request_token {
            check_token(t)?;
        }
        let (string, binary) = value_of(req.secret_string, req.secret_binary)?;
        if let Some(existing) = self.secrets.get(&req.name) {
            if existing.deleted.is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequestException,
                    "You can't create this secret because a secret with this name is already scheduled for deletion.",
                ));
            }
            return Err(ApiError::new(
                ErrorCode::ResourceExistsException,
                format!(
                    "The operation failed because the secret {} already exists.",
                    req.name
                ),
            ));
        }
        let arn = format!(
            "arn:aws:secretsmanager:{}:{}:secret:{}-{}",
            self.region,
            self.account_id,
            req.name,
            arn_suffix()
        );
        let mut secret = Secret {
            arn: arn.clone(),
            name: req.name.clone(),
            description: req.description,
            kms_key_id: req.kms_key_id,
            tags: req.tags.unwrap_or_default(),
            created: now,
            last_changed: now,
            last_accessed: None,
            deleted: None,
            deletion_date: None,
            versions: Vec::new(),
        };
        let mut out = json!({ "ARN": arn, "Name": req.name });
        if string.is_some() || binary.is_some() {
            let id = req
                .client_request_token
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            secret.add_version(id.clone(), string, binary, vec![AWSCURRENT.into()], now)?;
            out["VersionId"] = json!(id);
        }
        self.secrets.insert(req.name.clone(), secret);
        self.dirty.insert(req.name);
        Ok(out)
    }

    fn get_secret_value(
        &mut self,
        req: &GetSecretValueRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        let name = self.resolve(&req.secret_id)?;
        let secret = self.secrets.get(&name).ok_or_else(not_found)?;
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        let version = match (&req.version_id, &req.version_stage) {
            (Some(id), stage) => {
                let v = secret.versions.iter().find(|v| &v.id == id).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ResourceNotFoundException,
                        format!(
                            "Secrets Manager can't find the specified secret value for VersionId: {id}"
                        ),
                    )
                })?;
                if let Some(stage) = stage
                    && !v.stages.contains(stage)
                {
                    return Err(invalid_parameter(format!(
                        "You provided a VersionStage that is not associated to the provided VersionId. VersionStage: {stage}, VersionId: {id}"
                    )));
                }
                v
            }
            (None, stage) => {
                let stage = stage.as_deref().unwrap_or(AWSCURRENT);
                secret.with_stage(stage).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ResourceNotFoundException,
                        format!(
                            "Secrets Manager can't find the specified secret value for staging label: {stage}"
                        ),
                    )
                })?
            }
        };
        let mut out = json!({
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version.id,
            "VersionStages": version.stages,
            "CreatedDate": version.created,
        });
        if let Some(s) = &version.string {
            out["SecretString"] = json!(s);
        }
        if let Some(b) = &version.binary {
            out["SecretBinary"] = json!(b);
        }
        // AWS keeps the day of the last read; write only when the day changes.
        let today = (now / DAY_SECS).floor() * DAY_SECS;
        if secret.last_accessed != Some(today) {
            self.secret_mut(&name)?.last_accessed = Some(today);
        }
        Ok(out)
    }

    fn put_secret_value(
        &mut self,
        req: PutSecretValueRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        if let Some(t) = &req.client_request_token {
            check_token(t)?;
        }
        let (string, binary) = value_of(req.secret_string, req.secret_binary)?;
        if string.is_none() && binary.is_none() {
            return Err(invalid_parameter(
                "You must provide either SecretString or SecretBinary.",
            ));
        }
        let name = self.resolve(&req.secret_id)?;
        let secret = self.secret_mut(&name)?;
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        let id = req
            .client_request_token
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let stages = req
            .version_stages
            .unwrap_or_else(|| vec![AWSCURRENT.into()]);
        let stages = secret.add_version(id.clone(), string, binary, stages, now)?;
        Ok(json!({
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": id,
            "VersionStages": stages,
        }))
    }

    fn update_secret(&mut self, req: UpdateSecretRequest, now: f64) -> Result<Value, ApiError> {
        if let Some(t) = &req.client_request_token {
            check_token(t)?;
        }
        let (string, binary) = value_of(req.secret_string, req.secret_binary)?;
        let name = self.resolve(&req.secret_id)?;
        let secret = self.secret_mut(&name)?;
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        if let Some(d) = req.description {
            secret.description = Some(d);
            secret.last_changed = now;
        }
        if let Some(k) = req.kms_key_id {
            secret.kms_key_id = Some(k);
            secret.last_changed = now;
        }
        let mut out = json!({ "ARN": secret.arn, "Name": secret.name });
        if string.is_some() || binary.is_some() {
            let id = req
                .client_request_token
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            secret.add_version(id.clone(), string, binary, vec![AWSCURRENT.into()], now)?;
            out["VersionId"] = json!(id);
        }
        Ok(out)
    }

    fn describe(&self, s: &Secret) -> Value {
        let mut out = json!({
            "ARN": s.arn,
            "Name": s.name,
            "CreatedDate": s.created,
            "LastChangedDate": s.last_changed,
            "VersionIdsToStages": s.versions_to_stages(),
        });
        if !s.tags.is_empty() {
            out["Tags"] = json!(s.tags);
        }
        for (k, v) in [("Description", &s.description), ("KmsKeyId", &s.kms_key_id)] {
            if let Some(v) = v {
                out[k] = json!(v);
            }
        }
        for (k, v) in [
            ("LastAccessedDate", s.last_accessed),
            ("DeletedDate", s.deleted),
        ] {
            if let Some(v) = v {
                out[k] = json!(v);
            }
        }
        out
    }

    fn describe_secret(&self, req: &SecretIdRequest) -> Result<Value, ApiError> {
        let name = self.resolve(&req.secret_id)?;
        let s = self.secrets.get(&name).ok_or_else(not_found)?;
        Ok(self.describe(s))
    }

    fn list_secrets(&self, req: &ListSecretsRequest) -> Result<Value, ApiError> {
        let size = match req.max_results {
            None => MAX_LIST,
            Some(n) if n >= 1 && n as usize <= MAX_LIST => n as usize,
            Some(n) => {
                return Err(invalid_parameter(format!(
                    "MaxResults must be between 1 and {MAX_LIST}; got {n}."
                )));
            }
        };
        let start = match &req.next_token {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidNextTokenException,
                    "The NextToken value is invalid.",
                )
            })?,
        };
        for f in &req.filters {
            if !matches!(f.key.as_str(), "name" | "description" | "all") {
                return Err(invalid_parameter(format!(
                    "The emulator does not support the filter key {}: use name, description or all.",
                    f.key
                )));
            }
        }
        let mut matching: Vec<&Secret> = self
            .secrets
            .values()
            .filter(|s| req.include_planned_deletion || s.deleted.is_none())
            .filter(|s| req.filters.iter().all(|f| list_filter_matches(s, f)))
            .collect();
        matching.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.name.cmp(&b.name)));
        if req.sort_order.as_deref() != Some("asc") {
            matching.reverse();
        }
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(size)
            .map(|s| {
                let mut v = self.describe(s);
                if let Some(m) = v.as_object_mut() {
                    let stages = m.remove("VersionIdsToStages").unwrap_or(json!({}));
                    m.insert("SecretVersionsToStages".into(), stages);
                }
                v
            })
            .collect();
        let mut out = json!({ "SecretList": page });
        if start + size < matching.len() {
            out["NextToken"] = json!((start + size).to_string());
        }
        Ok(out)
    }

    fn delete_secret(&mut self, req: &DeleteSecretRequest, now: f64) -> Result<Value, ApiError> {
        if req.force_delete_without_recovery && req.recovery_window_in_days.is_some() {
            return Err(invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        let days = req.recovery_window_in_days.unwrap_or(DEFAULT_RECOVERY_DAYS);
        if !(7..=30).contains(&days) {
            return Err(invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
        let name = self.resolve(&req.secret_id)?;
        if req.force_delete_without_recovery {
            let s = self.secrets.remove(&name).ok_or_else(not_found)?;
            self.dirty.insert(name);
            return Ok(json!({ "ARN": s.arn, "Name": s.name, "DeletionDate": now }));
        }
        let secret = self.secret_mut(&name)?;
        if secret.deleted.is_some() {
            return Err(marked_for_deletion());
        }
        #[allow(clippy::cast_precision_loss)]
        let when = now + days as f64 * DAY_SECS;
        secret.deleted = Some(now);
        secret.deletion_date = Some(when);
        Ok(json!({ "ARN": secret.arn, "Name": secret.name, "DeletionDate": when }))
    }

    fn restore_secret(&mut self, req: &SecretIdRequest, now: f64) -> Result<Value, ApiError> {
        let name = self.resolve(&req.secret_id)?;
        let secret = self.secret_mut(&name)?;
        if secret.deleted.take().is_some() {
            secret.deletion_date = None;
            secret.last_changed = now;
        }
        Ok(json!({ "ARN": secret.arn, "Name": secret.name }))
    }
}

fn list_filter_matches(s: &Secret, f: &ListFilter) -> bool {
    f.values.iter().any(|want| {
        let (negate, want) = match want.strip_prefix('!') {
            Some(w) => (true, w),
            None => (false, want.as_str()),
        };
        let lower = want.to_lowercase();
        let desc = s.description.as_deref().unwrap_or_default().to_lowercase();
        let hit = match f.key.as_str() {
            "name" => s.name.starts_with(want),
            "description" => desc.starts_with(&lower),
            _ => s.name.to_lowercase().contains(&lower) || desc.contains(&lower),
        };
        hit != negate
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    fn sm() -> SecretsManager {
        SecretsManager::new("us-east-1", "123456789012")
    }

    fn call(s: &mut SecretsManager, op: &str, body: Value) -> Result<Value, ApiError> {
        s.handle(op, body.to_string().as_bytes(), NOW)
    }

    #[test]
    fn create_get_by_name_arn_and_partial_arn() {
        let mut s = sm();
        let c = call(
            &mut s,
            "CreateSecret",
            json!({"Name": "prod/db", "SecretString": "{\"password\":\"pw\"}"}),
        )
        .unwrap();
        let arn = c["ARN"].as_str().unwrap().to_string();
        let suffix = arn
            .strip_prefix("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-")
            .unwrap();
        assert_eq!(suffix.len(), 6);
        assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
        for id in [
            "prod/db",
            arn.as_str(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db",
        ] {
            let v = call(&mut s, "GetSecretValue", json!({"SecretId": id})).unwrap();
            assert_eq!(v["SecretString"], "{\"password\":\"pw\"}", "{id}");
            assert_eq!(v["VersionStages"], json!(["AWSCURRENT"]));
        }
        let e = call(&mut s, "GetSecretValue", json!({"SecretId": "nope"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
        assert_eq!(
            e.message,
            "Secrets Manager can't find the specified secret."
        );
        let e = call(&mut s, "CreateSecret", json!({"Name": "prod/db"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::ResourceExistsException);
        assert!(!format!("{s:?}").contains("pw\\\""), "Debug shows no value");
    }

    #[test]
    fn versions_move_stages() {
        let mut s = sm();
        let t1 = "a".repeat(32);
        let t2 = "b".repeat(32);
        let t3 = "c".repeat(32);
        call(
            &mut s,
            "CreateSecret",
            json!({"Name": "x", "SecretString": "one", "ClientRequestToken": t1}),
        )
        .unwrap();
        let p = call(
            &mut s,
            "PutSecretValue",
            json!({"SecretId": "x", "SecretString": "two", "ClientRequestToken": t2}),
        )
        .unwrap();
        assert_eq!(p["VersionStages"], json!(["AWSCURRENT"]));
        // Same token, same value: a no-op; same token, other value: refused.
        call(
            &mut s,
            "PutSecretValue",
            json!({"SecretId": "x", "SecretString": "two", "ClientRequestToken": t2}),
        )
        .unwrap();
        let e = call(
            &mut s,
            "PutSecretValue",
            json!({"SecretId": "x", "SecretString": "other", "ClientRequestToken": t2}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ResourceExistsException);
        call(
            &mut s,
            "UpdateSecret",
            json!({"SecretId": "x", "SecretString": "three", "ClientRequestToken": t3}),
        )
        .unwrap();
        let get = |s: &mut SecretsManager, q: Value| {
            call(s, "GetSecretValue", q).unwrap()["SecretString"].clone()
        };
        assert_eq!(get(&mut s, json!({"SecretId": "x"})), "three");
        assert_eq!(
            get(
                &mut s,
                json!({"SecretId": "x", "VersionStage": "AWSPREVIOUS"})
            ),
            "two"
        );
        assert_eq!(
            get(&mut s, json!({"SecretId": "x", "VersionId": t1})),
            "one"
        );
        let d = call(&mut s, "DescribeSecret", json!({"SecretId": "x"})).unwrap();
        assert_eq!(
            d["VersionIdsToStages"],
            json!({ t2: ["AWSPREVIOUS"], t3: ["AWSCURRENT"] })
        );
    }

    #[test]
    fn a_secret_without_value_has_no_current_version() {
        let mut s = sm();
        call(&mut s, "CreateSecret", json!({"Name": "empty"})).unwrap();
        let e = call(&mut s, "GetSecretValue", json!({"SecretId": "empty"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
        assert!(
            e.message.contains("staging label: AWSCURRENT"),
            "{}",
            e.message
        );
        let e = call(
            &mut s,
            "CreateSecret",
            json!({"Name": "both", "SecretString": "a", "SecretBinary": "AQI="}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterException);
    }

    #[test]
    fn scheduled_deletion_restore_and_expiry() {
        let mut s = sm();
        call(
            &mut s,
            "CreateSecret",
            json!({"Name": "d", "SecretString": "v"}),
        )
        .unwrap();
        let del = call(
            &mut s,
            "DeleteSecret",
            json!({"SecretId": "d", "RecoveryWindowInDays": 7}),
        )
        .unwrap();
        assert_eq!(del["DeletionDate"], json!(NOW + 7.0 * DAY_SECS));
        let e = call(&mut s, "GetSecretValue", json!({"SecretId": "d"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequestException);
        let d = call(&mut s, "DescribeSecret", json!({"SecretId": "d"})).unwrap();
        assert_eq!(d["DeletedDate"], json!(NOW));
        let l = call(&mut s, "ListSecrets", json!({})).unwrap();
        assert_eq!(l["SecretList"], json!([]));
        let l = call(
            &mut s,
            "ListSecrets",
            json!({"IncludePlannedDeletion": true}),
        )
        .unwrap();
        assert_eq!(l["SecretList"].as_array().unwrap().len(), 1);
        let e = call(&mut s, "CreateSecret", json!({"Name": "d"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequestException);
        call(&mut s, "RestoreSecret", json!({"SecretId": "d"})).unwrap();
        assert_eq!(
            call(&mut s, "GetSecretValue", json!({"SecretId": "d"})).unwrap()["SecretString"],
            "v"
        );
        // After the window the secret is gone.
        call(
            &mut s,
            "DeleteSecret",
            json!({"SecretId": "d", "RecoveryWindowInDays": 7}),
        )
        .unwrap();
        let later = NOW + 8.0 * DAY_SECS;
        let e = s
            .handle("DescribeSecret", br#"{"SecretId":"d"}"#, later)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
        let e = call(
            &mut s,
            "DeleteSecret",
            json!({"SecretId": "x", "RecoveryWindowInDays": 3}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterException);
    }

    #[test]
    fn force_delete_and_list_paging_and_persistence() {
        let mut s = sm();
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            s.handle(
                "CreateSecret",
                json!({"Name": n, "SecretString": "v"})
                    .to_string()
                    .as_bytes(),
                NOW + i as f64,
            )
            .unwrap();
        }
        let p1 = call(
            &mut s,
            "ListSecrets",
            json!({"MaxResults": 2, "SortOrder": "asc"}),
        )
        .unwrap();
        let names = |v: &Value| -> Vec<String> {
            v["SecretList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["Name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(&p1), ["a", "b"]);
        let p2 = call(
            &mut s,
            "ListSecrets",
            json!({"SortOrder": "asc", "NextToken": p1["NextToken"]}),
        )
        .unwrap();
        assert_eq!(names(&p2), ["c"]);
        let changes = s.take_changes();
        assert_eq!(changes.len(), 3);
        let mut restored = sm();
        for c in &changes {
            if let Change::Put(k, v) = c {
                assert!(restored.restore_row(k, v).unwrap());
            }
        }
        assert_eq!(
            call(&mut restored, "GetSecretValue", json!({"SecretId": "b"})).unwrap()["SecretString"],
            "v"
        );
        call(
            &mut s,
            "DeleteSecret",
            json!({"SecretId": "a", "ForceDeleteWithoutRecovery": true}),
        )
        .unwrap();
        assert!(matches!(&s.take_changes()[..], [Change::Delete(k)] if k == "asm/a"));
        call(
            &mut s,
            "CreateSecret",
            json!({"Name": "a", "SecretString": "new"}),
        )
        .unwrap();
    }
}
