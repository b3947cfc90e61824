//! The emulated AWS Systems Manager Parameter Store (AWS JSON 1.1, `X-Amz-Target:
//! AmazonSSM.<Op>`, SigV4 service `ssm`), as the AWS CLI and an ECS agent fetching container
//! secrets call it.
//!
//! Served: PutParameter (String, StringList, SecureString; Overwrite; versions), GetParameter,
//! GetParameters (up to 10 names; unknown ones in `InvalidParameters`; `name:version`
//! selectors), GetParametersByPath (Recursive), DeleteParameter, DeleteParameters and
//! DescribeParameters (Name, Type and Path filters), with Parameter Store's error codes
//! (`ParameterNotFound`, `ParameterAlreadyExists`, `ParameterVersionNotFound`,
//! `ValidationException`, `InvalidNextToken`).
//!
//! Names: `a`, `a.b-c_d` or hierarchical `/a/b/c` (a name with a `/` must start with one). The
//! ARN of `/a/b` is `arn:aws:ssm:<region>:<account>:parameter/a/b` and that of `a` is
//! `...:parameter/a`, so an ARN names `/a/b` when its resource has a `/`, and `a` (or `/a`)
//! otherwise. A parameter asked for by ARN comes back with `Name` set to that ARN, which is what
//! the ECS agent relies on when it maps GetParameters' answer back to each secret's `valueFrom`.
//!
//! SecureString values: with `WithDecryption` the plain value, without it an opaque base64 blob
//! made when the version was written (as AWS returns the KMS ciphertext), never the value.
//! There is no KMS: values are kept as given, in the emulator's store.
//!
//! State: [`ParameterStore`] is plain data with synchronous operations (unit-tested without I/O);
//! it records which parameters changed so its owner ([`crate::ssm`]) can persist them. It must
//! not log or `Debug`-print a value.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::front::json::decode;
use crate::front::{ApiError, ErrorCode};
use crate::store::Change;

/// The `X-Amz-Target` prefix of Parameter Store operations.
pub const TARGET_PREFIX: &str = "AmazonSSM.";

/// Store key prefix of a parameter (`ssm/<name>`).
pub const KEY_PREFIX: &str = "ssm/";

/// Names per GetParameters / DeleteParameters call.
const MAX_NAMES: usize = 10;
/// Largest page of GetParametersByPath.
const MAX_BY_PATH: usize = 10;
/// Largest page of DescribeParameters.
const MAX_DESCRIBE: usize = 50;
/// Largest value of a Standard parameter (4 KB).
const MAX_STANDARD_VALUE: usize = 4096;
/// Largest value of an Advanced parameter (8 KB).
const MAX_ADVANCED_VALUE: usize = 8192;
/// Versions kept per parameter, as Parameter Store does.
const MAX_VERSIONS: usize = 100;
/// Default KMS key of SecureString parameters.
const DEFAULT_KEY_ID: &str = "alias/aws/ssm";

/// `String`, `StringList` or `SecureString`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParameterType {
    /// Plain text.
    String,
    /// Comma-separated text.
    StringList,
    /// Text encrypted with KMS on AWS.
    SecureString,
}

impl ParameterType {
    fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "String" => Ok(ParameterType::String),
            "StringList" => Ok(ParameterType::StringList),
            "SecureString" => Ok(ParameterType::SecureString),
            other => Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ParameterType::String => "String",
            ParameterType::StringList => "StringList",
            ParameterType::SecureString => "SecureString",
        }
    }
}

/// One version of a parameter. `Debug` leaves the value out.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    version: i64,
    kind: ParameterType,
    value: String,
    /// For SecureString: what a read without decryption returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
    last_modified: f64,
    last_modified_user: String,
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version")
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("value", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A parameter with its versions (oldest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameter {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<String>,
    tier: String,
    data_type: String,
    #[serde(default)]
    tags: Vec<Value>,
    versions: Vec<Version>,
}

impl Parameter {
    fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationException, message)
}

/// Parameter Store answers a missing parameter with an empty message.
fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ParameterNotFound, "")
}

const NAME_RULE: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.";

/// Checks a name given to PutParameter.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 2048 {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048"
        )));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(validation("Parameter name must be a fully qualified name."));
    }
    let first = name.trim_start_matches('/').split('/').next().unwrap_or("");
    let lower = first.to_ascii_lowercase();
    let bad_chars = !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    if bad_chars
        || lower.starts_with("aws")
        || lower.starts_with("ssm")
        || name.ends_with('/')
        || name.contains("//")
    {
        return Err(validation(NAME_RULE));
    }
    Ok(())
}

/// What a caller names: a parameter (by name or ARN) and maybe a version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    /// Names that may hold it, most likely first (an ARN of a one-level name fits `a` and `/a`).
    candidates: Vec<String>,
    /// `Some(":3")` for `name:3`.
    selector: Option<String>,
    version: Option<i64>,
    /// The name to answer with: the ARN when asked by ARN, else the name without selector.
    answer_name: Option<String>,
}

/// An ARN of this account and region naming a parameter resource (`parameter/...`).
fn arn_resource<'a>(id: &'a str, region: &str, account: &str) -> Option<&'a str> {
    let prefix = format!("arn:aws:ssm:{region}:{account}:parameter/");
    id.strip_prefix(prefix.as_str())
}

/// `arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>`.
fn arn_of(name: &str, region: &str, account: &str) -> String {
    format!(
        "arn:aws:ssm:{region}:{account}:parameter/{}",
        name.strip_prefix('/').unwrap_or(name)
    )
}

/// Parses a name, `name:version` or ARN (with or without `:version`) as GetParameter takes it.
fn parse_selector(id: &str, region: &str, account: &str) -> Result<Selector, ApiError> {
    let (base, resource) = if id.starts_with("arn:") {
        match arn_resource(id, region, account) {
            Some(r) => (id, Some(r)),
            // Another account's or region's parameter: not here.
            None => {
                return Ok(Selector {
                    candidates: Vec::new(),
                    selector: None,
                    version: None,
                    answer_name: Some(id.to_string()),
                });
            }
        }
    } else {
        (id, None)
    };
    // A selector follows the last ':' of the name part (names have no ':').
    let name_part = resource.unwrap_or(base);
    let (name_part, selector) = match name_part.rsplit_once(':') {
        Some((n, sel)) => (n, Some(sel)),
        None => (name_part, None),
    };
    let version = match selector {
        None => None,
        Some(sel) => match sel.parse::<i64>() {
            Ok(v) if v >= 1 => Some(v),
            // Labels are not supported by the emulator: nothing carries one.
            _ => {
                return Err(ApiError::new(
                    ErrorCode::ParameterVersionNotFound,
                    format!(
                        "Systems Manager could not find version {sel} of {name_part}. Verify the version and try again."
                    ),
                ));
            }
        },
    };
    let answer_base = match selector {
        Some(sel) => &base[..base.len() - sel.len() - 1],
        None => base,
    };
    let candidates = match resource {
        Some(_) if name_part.contains('/') => vec![format!("/{name_part}")],
        Some(_) => vec![name_part.to_string(), format!("/{name_part}")],
        None => {
            let mut c = vec![name_part.to_string()];
            // `a` and `/a` share one ARN, so they name one parameter.
            if let Some(rest) = name_part.strip_prefix('/')
                && !rest.contains('/')
            {
                c.push(rest.to_string());
            } else if !name_part.contains('/') {
                c.push(format!("/{name_part}"));
            }
            c
        }
    };
    Ok(Selector {
        candidates,
        selector: selector.map(|s| format!(":{s}")),
        version,
        answer_name: Some(answer_base.to_string()),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutParameterRequest {
    name: String,
    value: String,
    #[serde(rename = "Type")]
    kind: Option<String>,
    description: Option<String>,
    key_id: Option<String>,
    #[serde(default)]
    overwrite: bool,
    allowed_pattern: Option<String>,
    tags: Option<Vec<Value>>,
    tier: Option<String>,
    data_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetParameterRequest {
    name: String,
    #[serde(default)]
    with_decryption: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetParametersRequest {
    names: Vec<String>,
    #[serde(default)]
    with_decryption: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetParametersByPathRequest {
    path: String,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    with_decryption: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteParameterRequest {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteParametersRequest {
    names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Filter {
    key: String,
    option: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeParametersRequest {
    #[serde(default)]
    filters: Vec<Filter>,
    #[serde(default)]
    parameter_filters: Vec<Filter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// Who called, for `LastModifiedUser`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's ARN (`arn:aws:iam::<account>:root`, an assumed role, ...).
    pub arn: String,
}

/// Every parameter of the emulated account and region.
#[derive(Debug)]
pub struct ParameterStore {
    region: String,
    account_id: String,
    params: BTreeMap<String, Parameter>,
    dirty: BTreeSet<String>,
}

fn page_start(token: Option<&str>) -> Result<usize, ApiError> {
    token.map_or(Ok(0), |t| {
        t.parse()
            .map_err(|_| ApiError::new(ErrorCode::InvalidNextToken, "The nextToken is not valid."))
    })
}

fn page_size(asked: Option<i64>, max: usize) -> Result<usize, ApiError> {
    match asked {
        None => Ok(max),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {max}"
        ))),
    }
}

/// An opaque stand-in for KMS ciphertext: random bytes, base64, `AQICAH` first as AWS's blobs.
fn ciphertext(len: usize) -> String {
    let mut bytes = vec![0u8; 64 + len];
    rand::fill(&mut bytes[..]);
    let mut out = String::from("AQICAH");
    out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
    out
}

impl ParameterStore {
    /// No parameters, in `region` of `account_id` (for ARNs).
    pub fn new(region: &str, account_id: &str) -> Self {
        ParameterStore {
            region: region.to_string(),
            account_id: account_id.to_string(),
            params: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// Adds a stored row (`ssm/<name>` → JSON); other rows are not ours and are skipped.
    pub fn restore_row(&mut self, key: &str, bytes: &[u8]) -> Result<bool, serde_json::Error> {
        crate::store::restore_entity(&mut self.params, KEY_PREFIX, key, bytes)
    }

    /// The store changes since the last call.
    pub fn take_changes(&mut self) -> Vec<Change> {
        crate::store::entity_changes(&self.params, &mut self.dirty, KEY_PREFIX)
    }

    /// Runs operation `op` (the part of `X-Amz-Target` after [`TARGET_PREFIX`]) at `now`
    /// (epoch seconds) for `caller`.
    pub fn handle(
        &mut self,
        op: &str,
        body: &[u8],
        now: f64,
        caller: &Caller,
    ) -> Result<Value, ApiError> {
        match op {
            "PutParameter" => self.put_parameter(decode(body)?, now, caller),
            "GetParameter" => self.get_parameter(&decode(body)?),
            "GetParameters" => self.get_parameters(&decode(body)?),
            "GetParametersByPath" => self.get_parameters_by_path(&decode(body)?),
            "DeleteParameter" => self.delete_parameter(&decode(body)?),
            "DeleteParameters" => self.delete_parameters(&decode(body)?),
            "DescribeParameters" => self.describe_parameters(&decode(body)?),
            other => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("The operation {other} is not supported by this emulator."),
            )),
        }
    }

    /// The stored name `candidates` point at, if any.
    fn find(&self, candidates: &[String]) -> Option<&str> {
        candidates
            .iter()
            .find_map(|c| self.params.get_key_value(c).map(|(k, _)| k.as_str()))
    }

    fn put_parameter(
        &mut self,
        req: PutParameterRequest,
        now: f64,
        caller: &Caller,
    ) -> Result<Value, ApiError> {
        check_name(&req.name)?;
        let tier = req.tier.unwrap_or_else(|| "Standard".into());
        let max = match tier.as_str() {
            "Standard" | "Intelligent-Tiering" => MAX_STANDARD_VALUE,
            "Advanced" => MAX_ADVANCED_VALUE,
            other => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{other}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
                )));
            }
        };
        if req.value.is_empty() {
            return Err(validation(
                "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        if req.value.len() > max {
            // Never echo the value itself.
            return Err(validation(format!(
                "Standard tier parameters support a maximum parameter value of {MAX_STANDARD_VALUE} characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
            )));
        }
        let kind = req.kind.as_deref().map(ParameterType::parse).transpose()?;
        let existing = self
            .find(std::slice::from_ref(&req.name))
            .map(str::to_string)
            .or_else(|| {
                // `a` and `/a` are one parameter (one ARN).
                let other = match req.name.strip_prefix('/') {
                    Some(rest) if !rest.contains('/') => rest.to_string(),
                    Some(_) => return None,
                    None => format!("/{}", req.name),
                };
                self.find(&[other]).map(str::to_string)
            });
        let version_user = caller.arn.clone();
        match existing {
            Some(name) => {
                if !req.overwrite {
                    return Err(ApiError::new(
                        ErrorCode::ParameterAlreadyExists,
                        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
                    ));
                }
                let Some(p) = self.params.get_mut(&name) else {
                    return Err(not_found());
                };
                if req.tags.is_some() {
                    return Err(validation(
                        "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
                    ));
                }
                // The type may be left out when updating: the parameter keeps its own.
                let kind = kind
                    .or_else(|| p.latest().map(|v| v.kind))
                    .unwrap_or(ParameterType::String);
                let version = p.latest().map_or(0, |v| v.version) + 1;
                if kind == ParameterType::SecureString {
                    p.key_id = Some(req.key_id.unwrap_or_else(|| {
                        p.key_id.clone().unwrap_or_else(|| DEFAULT_KEY_ID.into())
                    }));
                }
                if let Some(d) = req.description {
                    p.description = Some(d);
                }
                if let Some(a) = req.allowed_pattern {
                    p.allowed_pattern = Some(a);
                }
                if let Some(dt) = req.data_type {
                    p.data_type = dt;
                }
                p.tier = tier.clone();
                p.versions.push(Version {
                    version,
                    kind,
                    ciphertext: (kind == ParameterType::SecureString)
                        .then(|| ciphertext(req.value.len())),
                    value: req.value,
                    last_modified: now,
                    last_modified_user: version_user,
                });
                if p.versions.len() > MAX_VERSIONS {
                    p.versions.remove(0);
                }
                self.dirty.insert(name);
                Ok(json!({ "Version": version, "Tier": tier }))
            }
            None => {
                let kind = kind.ok_or_else(|| {
                    validation("A parameter type is required when you create a parameter.")
                })?;
                let p = Parameter {
                    name: req.name.clone(),
                    description: req.description,
                    key_id: (kind == ParameterType::SecureString)
                        .then(|| req.key_id.unwrap_or_else(|| DEFAULT_KEY_ID.into())),
                    allowed_pattern: req.allowed_pattern,
                    tier: tier.clone(),
                    data_type: req.data_type.unwrap_or_else(|| "text".into()),
                    tags: req.tags.unwrap_or_default(),
                    versions: vec![Version {
                        version: 1,
                        kind,
                        ciphertext: (kind == ParameterType::SecureString)
                            .then(|| ciphertext(req.value.len())),
                        value: req.value,
                        last_modified: now,
                        last_modified_user: version_user,
                    }],
                };
                self.params.insert(req.name.clone(), p);
                self.dirty.insert(req.name);
                Ok(json!({ "Version": 1, "Tier": tier }))
            }
        }
    }

    /// The `Parameter` answer for `version` of `p`, named `name`.
    fn parameter_view(
        &self,
        p: &Parameter,
        v: &Version,
        name: &str,
        selector: Option<&str>,
        decrypt: bool,
    ) -> Value {
        let value = match (&v.ciphertext, decrypt) {
            (Some(blob), false) => blob.clone(),
            _ => v.value.clone(),
        };
        let mut out = json!({
            "Name": name,
            "Type": v.kind.as_str(),
            "Value": value,
            "Version": v.version,
            "LastModifiedDate": v.last_modified,
            "ARN": arn_of(&p.name, &self.region, &self.account_id),
            "DataType": p.data_type,
        });
        if let Some(s) = selector {
            out["Selector"] = json!(s);
        }
        out
    }

    /// Resolves a GetParameter(s) name to its answer; `Ok(None)` when there is no such parameter.
    fn lookup(&self, id: &str, decrypt: bool) -> Result<Option<Value>, ApiError> {
        let sel = parse_selector(id, &self.region, &self.account_id)?;
        let Some(name) = self.find(&sel.candidates) else {
            return Ok(None);
        };
        let Some(p) = self.params.get(name) else {
            return Ok(None);
        };
        let v = match sel.version {
            None => p.latest(),
            Some(n) => Some(p.versions.iter().find(|v| v.version == n).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ParameterVersionNotFound,
                    format!(
                        "Systems Manager could not find version {n} of {}. Verify the version and try again.",
                        p.name
                    ),
                )
            })?),
        };
        let Some(v) = v else {
            return Ok(None);
        };
        // Asked by ARN: answer with the ARN; by name: with the stored name.
        let answer = match sel.answer_name.as_deref() {
            Some(a) if a.starts_with("arn:") => a.to_string(),
            _ => p.name.clone(),
        };
        Ok(Some(self.parameter_view(
            p,
            v,
            &answer,
            sel.selector.as_deref(),
            decrypt,
        )))
    }

    fn get_parameter(&self, req: &GetParameterRequest) -> Result<Value, ApiError> {
        let p = self
            .lookup(req.name.trim(), req.with_decryption)?
            .ok_or_else(not_found)?;
        Ok(json!({ "Parameter": p }))
    }

    fn check_names(names: &[String]) -> Result<(), ApiError> {
        if names.is_empty() || names.len() > MAX_NAMES {
            return Err(validation(format!(
                "1 validation error detected: Value '[{}]' at 'names' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAMES}",
                names.join(", ")
            )));
        }
        Ok(())
    }

    fn get_parameters(&self, req: &GetParametersRequest) -> Result<Value, ApiError> {
        Self::check_names(&req.names)?;
        let mut found = Vec::new();
        let mut invalid = Vec::new();
        let mut seen = BTreeSet::new();
        for name in &req.names {
            let name = name.trim();
            if !seen.insert(name) {
                continue;
            }
            // A bad selector makes that name invalid, not the call.
            match self.lookup(name, req.with_decryption) {
                Ok(Some(p)) => found.push(p),
                Ok(None) | Err(_) => invalid.push(name.to_string()),
            }
        }
        Ok(json!({ "Parameters": found, "InvalidParameters": invalid }))
    }

    fn get_parameters_by_path(&self, req: &GetParametersByPathRequest) -> Result<Value, ApiError> {
        if !req.path.starts_with('/') {
            return Err(validation(
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.",
            ));
        }
        let size = page_size(req.max_results, MAX_BY_PATH)?;
        let start = page_start(req.next_token.as_deref())?;
        let prefix = if req.path == "/" {
            "/".to_string()
        } else {
            format!("{}/", req.path.trim_end_matches('/'))
        };
        let matching: Vec<&Parameter> = self
            .params
            .values()
            .filter(|p| {
                p.name
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| req.recursive || !rest.contains('/'))
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(size)
            .filter_map(|p| {
                let v = p.latest()?;
                Some(self.parameter_view(p, v, &p.name, None, req.with_decryption))
            })
            .collect();
        let mut out = json!({ "Parameters": page });
        if start + size < matching.len() {
            out["NextToken"] = json!((start + size).to_string());
        }
        Ok(out)
    }

    fn delete_parameter(&mut self, req: &DeleteParameterRequest) -> Result<Value, ApiError> {
        let sel = parse_selector(req.name.trim(), &self.region, &self.account_id)?;
        let name = self
            .find(&sel.candidates)
            .map(str::to_string)
            .ok_or_else(not_found)?;
        self.params.remove(&name);
        self.dirty.insert(name);
        Ok(json!({}))
    }

    fn delete_parameters(&mut self, req: &DeleteParametersRequest) -> Result<Value, ApiError> {
        Self::check_names(&req.names)?;
        let mut deleted = Vec::new();
        let mut invalid = Vec::new();
        for asked in &req.names {
            let found = parse_selector(asked.trim(), &self.region, &self.account_id)
                .ok()
                .and_then(|sel| self.find(&sel.candidates).map(str::to_string));
            match found {
                Some(name) => {
                    self.params.remove(&name);
                    self.dirty.insert(name);
                    deleted.push(asked.clone());
                }
                None => invalid.push(asked.clone()),
            }
        }
        Ok(json!({ "DeletedParameters": deleted, "InvalidParameters": invalid }))
    }

    fn describe_parameters(&self, req: &DescribeParametersRequest) -> Result<Value, ApiError> {
        let size = page_size(req.max_results, MAX_DESCRIBE)?;
        let start = page_start(req.next_token.as_deref())?;
        if !req.filters.is_empty() && !req.parameter_filters.is_empty() {
            return Err(validation(
                "You can use either Filters or ParameterFilters in a single request.",
            ));
        }
        for f in req.filters.iter().chain(&req.parameter_filters) {
            if !matches!(f.key.as_str(), "Name" | "Type" | "KeyId" | "Path") {
                return Err(ApiError::new(
                    ErrorCode::ValidationException,
                    format!(
                        "The emulator does not support the filter key {}: use Name, Type, KeyId or Path.",
                        f.key
                    ),
                ));
            }
        }
        let matching: Vec<&Parameter> = self
            .params
            .values()
            .filter(|p| {
                req.filters
                    .iter()
                    .all(|f| filter_matches(p, f, /* legacy */ true))
                    && req
                        .parameter_filters
                        .iter()
                        .all(|f| filter_matches(p, f, false))
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(size)
            .filter_map(|p| {
                let v = p.latest()?;
                let mut m = json!({
                    "Name": p.name,
                    "ARN": arn_of(&p.name, &self.region, &self.account_id),
                    "Type": v.kind.as_str(),
                    "LastModifiedDate": v.last_modified,
                    "LastModifiedUser": v.last_modified_user,
                    "Version": v.version,
                    "Tier": p.tier,
                    "Policies": [],
                    "DataType": p.data_type,
                });
                for (k, val) in [
                    ("KeyId", &p.key_id),
                    ("Description", &p.description),
                    ("AllowedPattern", &p.allowed_pattern),
                ] {
                    if let Some(val) = val {
                        m[k] = json!(val);
                    }
                }
                Some(m)
            })
            .collect();
        let mut out = json!({ "Parameters": page });
        if start + size < matching.len() {
            out["NextToken"] = json!((start + size).to_string());
        }
        Ok(out)
    }
}

/// Whether `p` passes filter `f`. Legacy `Filters` match names by prefix; `ParameterFilters`
/// default to `Equals` (`Path` to `OneLevel`).
fn filter_matches(p: &Parameter, f: &Filter, legacy: bool) -> bool {
    let kind = p.latest().map(|v| v.kind.as_str()).unwrap_or_default();
    let option = f
        .option
        .as_deref()
        .unwrap_or(match (legacy, f.key.as_str()) {
            (_, "Path") => "OneLevel",
            (true, "Name") => "BeginsWith",
            _ => "Equals",
        });
    f.values.iter().any(|want| match f.key.as_str() {
        "Name" => {
            // Names are compared without their leading slash, as AWS documents for Name filters.
            let have = p.name.trim_start_matches('/');
            let want = want.trim_start_matches('/');
            match option {
                "BeginsWith" => have.starts_with(want),
                "Contains" => have.contains(want),
                _ => have == want,
            }
        }
        "Type" => kind == want,
        "KeyId" => p.key_id.as_deref() == Some(want.as_str()),
        "Path" => {
            let prefix = if want == "/" {
                "/".to_string()
            } else {
                format!("{}/", want.trim_end_matches('/'))
            };
            p.name
                .strip_prefix(&prefix)
                .is_some_and(|rest| option == "Recursive" || !rest.contains('/'))
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> ParameterStore {
        ParameterStore::new("us-east-1", "123456789012")
    }

    fn caller() -> Caller {
        Caller {
            arn: "arn:aws:iam::123456789012:root".into(),
        }
    }

    fn call(s: &mut ParameterStore, op: &str, body: Value) -> Result<Value, ApiError> {
        s.handle(op, body.to_string().as_bytes(), 1_700_000_000.0, &caller())
    }

    #[test]
    fn put_get_versions_and_overwrite() {
        let mut s = store();
        let v = call(
            &mut s,
            "PutParameter",
            json!({"Name": "/app/db/password", "Value": "pw1", "Type": "SecureString"}),
        )
        .unwrap();
        assert_eq!(v, json!({"Version": 1, "Tier": "Standard"}));
        let e = call(
            &mut s,
            "PutParameter",
            json!({"Name": "/app/db/password", "Value": "pw2", "Type": "SecureString"}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ParameterAlreadyExists);
        // The type may be left out on overwrite.
        let v = call(
            &mut s,
            "PutParameter",
            json!({"Name": "/app/db/password", "Value": "pw2", "Overwrite": true}),
        )
        .unwrap();
        assert_eq!(v["Version"], 2);
        let got = call(
            &mut s,
            "GetParameter",
            json!({"Name": "/app/db/password", "WithDecryption": true}),
        )
        .unwrap();
        assert_eq!(got["Parameter"]["Value"], "pw2");
        assert_eq!(got["Parameter"]["Type"], "SecureString");
        assert_eq!(
            got["Parameter"]["ARN"],
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/password"
        );
        let old = call(
            &mut s,
            "GetParameter",
            json!({"Name": "/app/db/password:1", "WithDecryption": true}),
        )
        .unwrap();
        assert_eq!(old["Parameter"]["Value"], "pw1");
        assert_eq!(old["Parameter"]["Selector"], ":1");
        assert_eq!(old["Parameter"]["Name"], "/app/db/password");
        let e = call(
            &mut s,
            "GetParameter",
            json!({"Name": "/app/db/password:9"}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ParameterVersionNotFound);
    }

    #[test]
    fn secure_strings_stay_opaque_without_decryption() {
        let mut s = store();
        call(
            &mut s,
            "PutParameter",
            json!({"Name": "k", "Value": "hunter2", "Type": "SecureString"}),
        )
        .unwrap();
        let got = call(&mut s, "GetParameter", json!({"Name": "k"})).unwrap();
        let blob = got["Parameter"]["Value"].as_str().unwrap();
        assert!(!blob.contains("hunter2"), "{blob}");
        assert!(blob.starts_with("AQICAH"), "{blob}");
        // The same blob on every read of that version.
        let again = call(&mut s, "GetParameter", json!({"Name": "k"})).unwrap();
        assert_eq!(again["Parameter"]["Value"], blob);
        // Debug never shows a value.
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn get_parameters_reports_unknown_names_and_answers_arns_with_the_arn() {
        let mut s = store();
        call(
            &mut s,
            "PutParameter",
            json!({"Name": "/a/b", "Value": "1", "Type": "String"}),
        )
        .unwrap();
        call(
            &mut s,
            "PutParameter",
            json!({"Name": "plain", "Value": "x,y", "Type": "StringList"}),
        )
        .unwrap();
        let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/a/b";
        let got = call(
            &mut s,
            "GetParameters",
            json!({"Names": ["/a/b", arn, "plain", "/missing", "arn:aws:ssm:eu-west-1:123456789012:parameter/a/b"]}),
        )
        .unwrap();
        let names: Vec<&str> = got["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["/a/b", arn, "plain"]);
        assert_eq!(
            got["InvalidParameters"],
            json!([
                "/missing",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/a/b"
            ])
        );
        // One-level names: the ARN has no extra slash and finds the parameter.
        let got = call(
            &mut s,
            "GetParameter",
            json!({"Name": "arn:aws:ssm:us-east-1:123456789012:parameter/plain"}),
        )
        .unwrap();
        assert_eq!(got["Parameter"]["Value"], "x,y");
        let e = call(
            &mut s,
            "GetParameters",
            json!({"Names": (0..11).map(|i| format!("p{i}")).collect::<Vec<_>>()}),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationException);
    }

    #[test]
    fn names_follow_parameter_store_rules() {
        for bad in ["a/b", "aws-x", "/ssm/x", "a b", "/a//b", "/a/"] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ValidationException, "{bad}");
        }
        for good in ["a", "/a", "/a/b.c-d_e", "A1"] {
            check_name(good).unwrap();
        }
        let mut s = store();
        let e = call(&mut s, "PutParameter", json!({"Name": "n", "Value": "v"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationException);
    }

    #[test]
    fn by_path_recursive_and_paged() {
        let mut s = store();
        for n in ["/app/a", "/app/b", "/app/sub/c", "/other/d", "top"] {
            call(
                &mut s,
                "PutParameter",
                json!({"Name": n, "Value": "v", "Type": "String"}),
            )
            .unwrap();
        }
        let names = |v: &Value| -> Vec<String> {
            v["Parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["Name"].as_str().unwrap().to_string())
                .collect()
        };
        let one = call(&mut s, "GetParametersByPath", json!({"Path": "/app"})).unwrap();
        assert_eq!(names(&one), ["/app/a", "/app/b"]);
        let all = call(
            &mut s,
            "GetParametersByPath",
            json!({"Path": "/app/", "Recursive": true}),
        )
        .unwrap();
        assert_eq!(names(&all), ["/app/a", "/app/b", "/app/sub/c"]);
        let p1 = call(
            &mut s,
            "GetParametersByPath",
            json!({"Path": "/", "Recursive": true, "MaxResults": 2}),
        )
        .unwrap();
        assert_eq!(names(&p1), ["/app/a", "/app/b"]);
        let p2 = call(
            &mut s,
            "GetParametersByPath",
            json!({"Path": "/", "Recursive": true, "NextToken": p1["NextToken"]}),
        )
        .unwrap();
        assert_eq!(names(&p2), ["/app/sub/c", "/other/d"]);
        assert!(p2.get("NextToken").is_none());
        let d = call(
            &mut s,
            "DescribeParameters",
            json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/app/s"]}]}),
        )
        .unwrap();
        assert_eq!(names(&d), ["/app/sub/c"]);
    }

    #[test]
    fn delete_and_persistence_changes() {
        let mut s = store();
        call(
            &mut s,
            "PutParameter",
            json!({"Name": "x", "Value": "1", "Type": "String"}),
        )
        .unwrap();
        let changes = s.take_changes();
        assert!(matches!(&changes[..], [Change::Put(k, _)] if k == "ssm/x"));
        let Change::Put(_, bytes) = &changes[0] else {
            unreachable!()
        };
        let mut restored = store();
        assert!(restored.restore_row("ssm/x", bytes).unwrap());
        assert_eq!(
            call(&mut restored, "GetParameter", json!({"Name": "x"})).unwrap()["Parameter"]["Value"],
            "1"
        );
        let e = call(&mut s, "DeleteParameter", json!({"Name": "nope"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::ParameterNotFound);
        call(&mut s, "DeleteParameter", json!({"Name": "x"})).unwrap();
        assert!(matches!(&s.take_changes()[..], [Change::Delete(k)] if k == "ssm/x"));
        let d = call(&mut s, "DeleteParameters", json!({"Names": ["x"]})).unwrap();
        assert_eq!(
            d,
            json!({"DeletedParameters": [], "InvalidParameters": ["x"]})
        );
    }
}
