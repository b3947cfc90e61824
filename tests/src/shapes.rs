//! Checks JSON against the exact API shapes of a botocore service model.
//!
//! [`ServiceModel`] reads a botocore `service-2.json` (the AWS CLI venv of [`awscli_venv`] vendors
//! botocore under `awscli/botocore/data/`) and checks a request or response body, as a
//! [`serde_json::Value`], against an operation's input, output or error shape, recursively:
//!
//! - structures: every member is one the shape declares (by its JSON name), every `required`
//!   member is present; a `document` structure takes any JSON;
//! - scalars: `string`, `integer` (32-bit), `long` (64-bit), `float`/`double` (any number),
//!   `boolean`, `timestamp` (epoch seconds as a JSON number, as the JSON protocol sends it),
//!   `blob` (a base64 string);
//! - `enum` values of strings, `min`/`max` of strings (characters), lists, maps (entries) and
//!   numbers (value); `pattern` is not checked;
//! - `null` anywhere is a violation: ECS leaves a member out rather than send `null`.
//!
//! Every violation is reported with its JSON path (`$.tasks[0].containers[0].exitCode`) and the
//! shape it broke, all of them at once, so a test failure lists everything that is wrong.
//! It reads the model; it never changes what it checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;

use crate::awscli_venv;

/// One place where a JSON value does not fit its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path from the body's root, e.g. `$.clusters[0].tags[1].key`.
    pub path: String,
    /// The model's shape the value at `path` was checked against.
    pub shape: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.path, self.shape, self.problem)
    }
}

/// Which side of an operation a body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The request body.
    Input,
    /// The response body of a success.
    Output,
    /// The response body of an error.
    Error,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Input => "input",
            Direction::Output => "output",
            Direction::Error => "error",
        })
    }
}

/// A body that does not fit its operation's shape: every violation found.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ShapeMismatch {
    /// The operation, e.g. `DescribeTasks`.
    pub operation: String,
    /// Request, response or error.
    pub direction: Direction,
    /// Everything wrong, in document order.
    pub violations: Vec<Violation>,
}

impl fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} does not fit the service model ({} violation{}):",
            self.operation,
            self.direction,
            self.violations.len(),
            if self.violations.len() == 1 { "" } else { "s" }
        )?;
        for v in &self.violations {
            write!(f, "\n  - {v}")?;
        }
        Ok(())
    }
}

/// Lower and upper bounds (`min`, `max`) of a shape.
#[derive(Debug, Clone, Copy, Default)]
struct Range {
    min: Option<f64>,
    max: Option<f64>,
}

impl Range {
    fn of(shape: &Value) -> Self {
        Range {
            min: shape.get("min").and_then(Value::as_f64),
            max: shape.get("max").and_then(Value::as_f64),
        }
    }

    /// The problem with `n` (a length or a value), if it is out of range.
    fn check(&self, n: f64, what: &str) -> Option<String> {
        match (self.min, self.max) {
            (Some(min), _) if n < min => Some(format!("{what} {n} is below the minimum {min}")),
            (_, Some(max)) if n > max => Some(format!("{what} {n} is above the maximum {max}")),
            _ => None,
        }
    }
}

/// A member of a structure: its JSON name and its shape.
#[derive(Debug, Clone)]
struct Member {
    shape: String,
}

/// A shape of the model, parsed once at load time.
#[derive(Debug, Clone)]
enum Shape {
    Structure {
        /// By JSON name (`locationName`, else the member name).
        members: BTreeMap<String, Member>,
        required: Vec<String>,
        /// A `document` structure holds any JSON.
        document: bool,
    },
    List {
        member: String,
        range: Range,
    },
    Map {
        key: String,
        value: String,
        range: Range,
    },
    String {
        allowed: Option<Vec<String>>,
        range: Range,
    },
    Integer {
        range: Range,
    },
    Long {
        range: Range,
    },
    /// `double` or `float`.
    Number {
        range: Range,
    },
    Boolean,
    Timestamp,
    Blob {
        range: Range,
    },
}

/// An operation's input, output and modeled errors.
#[derive(Debug, Clone)]
struct Operation {
    input: Option<String>,
    output: Option<String>,
    errors: Vec<String>,
}

/// A botocore service model (`service-2.json`), ready to check bodies against.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    source: PathBuf,
    target_prefix: Option<String>,
    shapes: HashMap<String, Shape>,
    /// Exceptions marked `"fault": true` (the server's fault: HTTP 500).
    faults: BTreeSet<String>,
    operations: BTreeMap<String, Operation>,
}

impl ServiceModel {
    /// The ECS model (2014-11-13) the AWS CLI of [`awscli_venv`] uses (creating the venv if
    /// missing).
    pub fn ecs() -> Result<Self> {
        Self::from_venv(&awscli_venv()?, "ecs", "2014-11-13")
    }

    /// The model of `service` at `api_version` that botocore vendored by the AWS CLI v1 in
    /// `venv` uses: `<venv>/lib/python3*/site-packages/awscli/botocore/data/<service>/
    /// <api_version>/service-2.json`.
    pub fn from_venv(venv: &Path, service: &str, api_version: &str) -> Result<Self> {
        let lib = venv.join("lib");
        let mut candidates = Vec::new();
        for entry in
            std::fs::read_dir(&lib).with_context(|| format!("cannot list {}", lib.display()))?
        {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with("python") {
                candidates.push(
                    entry
                        .path()
                        .join("site-packages/awscli/botocore/data")
                        .join(service)
                        .join(api_version)
                        .join("service-2.json"),
                );
            }
        }
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            let gz = candidates
                .iter()
                .find(|p| p.with_extension("json.gz").is_file());
            bail!(
                "no botocore model of {service} {api_version} in {}: looked at {candidates:?}{}",
                venv.display(),
                gz.map(|p| format!(
                    " (there is {}, but only plain JSON is read)",
                    p.with_extension("json.gz").display()
                ))
                .unwrap_or_default()
            );
        };
        Self::load(path)
    }

    /// Reads a `service-2.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the service model {}", path.display()))?;
        Self::from_json(path, &text)
    }

    /// Parses a model's JSON text; `source` names it in messages. Every shape reference must
    /// resolve.
    pub fn from_json(source: impl Into<PathBuf>, text: &str) -> Result<Self> {
        let source = source.into();
        let doc: Value = serde_json::from_str(text)
            .with_context(|| format!("{} is not JSON", source.display()))?;
        let raw_shapes = doc["shapes"]
            .as_object()
            .ok_or_else(|| anyhow!("{} has no \"shapes\" object", source.display()))?;
        let mut shapes = HashMap::new();
        let mut faults = BTreeSet::new();
        for (name, raw) in raw_shapes {
            if raw["fault"].as_bool() == Some(true) {
                faults.insert(name.clone());
            }
            let shape = parse_shape(raw).with_context(|| {
                format!("shape {name} of {} is not understood", source.display())
            })?;
            shapes.insert(name.clone(), shape);
        }
        let mut operations = BTreeMap::new();
        if let Some(ops) = doc["operations"].as_object() {
            for (name, op) in ops {
                let shape_ref = |v: &Value| v["shape"].as_str().map(str::to_owned);
                operations.insert(
                    name.clone(),
                    Operation {
                        input: shape_ref(&op["input"]),
                        output: shape_ref(&op["output"]),
                        errors: op["errors"]
                            .as_array()
                            .map(|errs| errs.iter().filter_map(shape_ref).collect())
                            .unwrap_or_default(),
                    },
                );
            }
        }
        let model = ServiceModel {
            target_prefix: doc["metadata"]["targetPrefix"].as_str().map(str::to_owned),
            source,
            shapes,
            faults,
            operations,
        };
        model.check_references()?;
        Ok(model)
    }

    /// Adds a member to a structure, for members a service really sends that this model lacks
    /// (e.g. ones only in a client's private model). `shape` and `target` must exist.
    pub fn add_member(mut self, shape: &str, member: &str, target: &str) -> Result<Self> {
        ensure!(
            self.shapes.contains_key(target),
            "no shape {target} in {}",
            self.source.display()
        );
        match self.shapes.get_mut(shape) {
            Some(Shape::Structure { members, .. }) => {
                ensure!(
                    !members.contains_key(member),
                    "{shape} already has a member {member}: nothing to add"
                );
                members.insert(
                    member.to_owned(),
                    Member {
                        shape: target.to_owned(),
                    },
                );
                Ok(self)
            }
            Some(_) => bail!("{shape} is not a structure"),
            None => bail!("no shape {shape} in {}", self.source.display()),
        }
    }

    /// Where the model was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The `X-Amz-Target` prefix of the JSON protocol, e.g. `AmazonEC2ContainerServiceV20141113`.
    pub fn target_prefix(&self) -> Option<&str> {
        self.target_prefix.as_deref()
    }

    /// The names of every operation of the model.
    pub fn operations(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Every violation of `body` against the input shape of `operation` (none: it fits).
    /// An operation without input takes `{}`.
    pub fn check_input(&self, operation: &str, body: &Value) -> Result<Vec<Violation>> {
        let op = self.operation(operation)?;
        Ok(self.check_optional(op.input.as_deref(), body))
    }

    /// Every violation of `body` against the output shape of `operation`.
    pub fn check_output(&self, operation: &str, body: &Value) -> Result<Vec<Violation>> {
        let op = self.operation(operation)?;
        Ok(self.check_optional(op.output.as_deref(), body))
    }

    /// Every violation of an error answer of `operation`: the HTTP `status` and the body
    /// `{"__type": CODE, ...}`, where CODE (after any `namespace#`) must be an error the model
    /// lists for the operation, 500 for a server fault and 400 otherwise, and the rest of the
    /// body must fit that exception's structure.
    pub fn check_error(
        &self,
        operation: &str,
        status: u16,
        body: &Value,
    ) -> Result<Vec<Violation>> {
        let op = self.operation(operation)?;
        let code = body
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t));
        let Some(code) = code else {
            return Ok(vec![Violation {
                path: "$.__type".into(),
                shape: "(error)".into(),
                problem: format!("an error body needs a string __type; got {body}"),
            }]);
        };
        if !op.errors.iter().any(|e| e == code) {
            return Ok(vec![Violation {
                path: "$.__type".into(),
                shape: "(error)".into(),
                problem: format!(
                    "{code} is not an error of {operation}; the model lists {:?}",
                    op.errors
                ),
            }]);
        }
        let mut out = Vec::new();
        let expected = if self.faults.contains(code) { 500 } else { 400 };
        if status != expected {
            out.push(Violation {
                path: "(HTTP status)".into(),
                shape: code.to_owned(),
                problem: format!("status {status}, expected {expected} for {code}"),
            });
        }
        let mut rest = body.clone();
        if let Some(obj) = rest.as_object_mut() {
            obj.remove("__type");
        }
        self.check_value(code, &rest, "$", &mut out);
        Ok(out)
    }

    /// Every violation of `value` against the named shape.
    pub fn check_shape(&self, shape: &str, value: &Value) -> Result<Vec<Violation>> {
        ensure!(
            self.shapes.contains_key(shape),
            "no shape {shape} in {}",
            self.source.display()
        );
        let mut out = Vec::new();
        self.check_value(shape, value, "$", &mut out);
        Ok(out)
    }

    /// `Ok` when `body` fits the input of `operation`, else a [`ShapeMismatch`] listing why.
    pub fn validate_input(&self, operation: &str, body: &Value) -> Result<()> {
        let v = self.check_input(operation, body)?;
        mismatch(operation, Direction::Input, v)
    }

    /// `Ok` when `body` fits the output of `operation`, else a [`ShapeMismatch`] listing why.
    pub fn validate_output(&self, operation: &str, body: &Value) -> Result<()> {
        let v = self.check_output(operation, body)?;
        mismatch(operation, Direction::Output, v)
    }

    /// `Ok` when an error answer fits (see [`ServiceModel::check_error`]).
    pub fn validate_error(&self, operation: &str, status: u16, body: &Value) -> Result<()> {
        let v = self.check_error(operation, status, body)?;
        mismatch(operation, Direction::Error, v)
    }

    fn operation(&self, name: &str) -> Result<&Operation> {
        self.operations
            .get(name)
            .ok_or_else(|| anyhow!("no operation {name} in {}", self.source.display()))
    }

    fn check_optional(&self, shape: Option<&str>, body: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        match shape {
            Some(shape) => self.check_value(shape, body, "$", &mut out),
            None => {
                if !matches!(body, Value::Object(m) if m.is_empty()) {
                    out.push(Violation {
                        path: "$".into(),
                        shape: "(none)".into(),
                        problem: format!("the operation has no body here; got {body}"),
                    });
                }
            }
        }
        out
    }

    fn check_references(&self) -> Result<()> {
        let known = |s: &str| self.shapes.contains_key(s);
        for (name, shape) in &self.shapes {
            let refs: Vec<&str> = match shape {
                Shape::Structure { members, .. } => {
                    members.values().map(|m| m.shape.as_str()).collect()
                }
                Shape::List { member, .. } => vec![member],
                Shape::Map { key, value, .. } => vec![key, value],
                _ => vec![],
            };
            if let Some(missing) = refs.iter().find(|r| !known(r)) {
                bail!(
                    "shape {name} of {} refers to the unknown shape {missing}",
                    self.source.display()
                );
            }
        }
        for (name, op) in &self.operations {
            let refs = op.input.iter().chain(&op.output).chain(&op.errors);
            for r in refs {
                ensure!(
                    known(r),
                    "operation {name} of {} refers to the unknown shape {r}",
                    self.source.display()
                );
            }
        }
        Ok(())
    }

    fn check_value(&self, name: &str, value: &Value, path: &str, out: &mut Vec<Violation>) {
        let mut push = |problem: String| {
            out.push(Violation {
                path: path.to_owned(),
                shape: name.to_owned(),
                problem,
            })
        };
        let Some(shape) = self.shapes.get(name) else {
            push("the model has no such shape".into());
            return;
        };
        if value.is_null() {
            push("null: a member without a value is left out, never sent as null".into());
            return;
        }
        match shape {
            Shape::Structure { document: true, .. } => {}
            Shape::Structure {
                members, required, ..
            } => {
                let Some(obj) = value.as_object() else {
                    push(format!("expected an object, got {}", kind(value)));
                    return;
                };
                for req in required {
                    if !obj.contains_key(req) {
                        push(format!("required member {req:?} is missing"));
                    }
                }
                for (key, v) in obj {
                    let member_path = format!("{path}.{key}");
                    match members.get(key) {
                        Some(m) => self.check_value(&m.shape, v, &member_path, out),
                        None => out.push(Violation {
                            path: member_path,
                            shape: name.to_owned(),
                            problem: unknown_member(key, members),
                        }),
                    }
                }
            }
            Shape::List { member, range } => {
                let Some(items) = value.as_array() else {
                    push(format!("expected a list, got {}", kind(value)));
                    return;
                };
                if let Some(p) = range.check(items.len() as f64, "length") {
                    push(p);
                }
                for (i, item) in items.iter().enumerate() {
                    self.check_value(member, item, &format!("{path}[{i}]"), out);
                }
            }
            Shape::Map {
                key,
                value: value_shape,
                range,
            } => {
                let Some(obj) = value.as_object() else {
                    push(format!("expected a map (object), got {}", kind(value)));
                    return;
                };
                if let Some(p) = range.check(obj.len() as f64, "entry count") {
                    push(p);
                }
                for (k, v) in obj {
                    let entry = format!("{path}[{}]", Value::String(k.clone()));
                    self.check_value(
                        key,
                        &Value::String(k.clone()),
                        &format!("{entry} (key)"),
                        out,
                    );
                    self.check_value(value_shape, v, &entry, out);
                }
            }
            Shape::String { allowed, range } => {
                let Some(s) = value.as_str() else {
                    push(format!("expected a string, got {}", kind(value)));
                    return;
                };
                if let Some(allowed) = allowed
                    && !allowed.iter().any(|a| a == s)
                {
                    push(format!("{s:?} is not one of {allowed:?}"));
                }
                if let Some(p) = range.check(s.chars().count() as f64, "length") {
                    push(p);
                }
            }
            Shape::Integer { range } => {
                match value.as_i64().filter(|n| i32::try_from(*n).is_ok()) {
                    Some(n) => {
                        if let Some(p) = range.check(n as f64, "value") {
                            push(p);
                        }
                    }
                    None => push(format!("expected a 32-bit integer, got {value}")),
                }
            }
            Shape::Long { range } => match value.as_i64() {
                Some(n) => {
                    if let Some(p) = range.check(n as f64, "value") {
                        push(p);
                    }
                }
                None => push(format!("expected a 64-bit integer, got {value}")),
            },
            Shape::Number { range } => match value.as_f64() {
                Some(n) => {
                    if let Some(p) = range.check(n, "value") {
                        push(p);
                    }
                }
                None => push(format!("expected a number, got {}", kind(value))),
            },
            Shape::Boolean => {
                if !value.is_boolean() {
                    push(format!("expected a boolean, got {}", kind(value)));
                }
            }
            Shape::Timestamp => {
                if !value.is_number() {
                    push(format!(
                        "expected epoch seconds (a JSON number), got {} {value}",
                        kind(value)
                    ));
                }
            }
            Shape::Blob { range } => match value.as_str() {
                Some(s) if is_base64(s) => {
                    if let Some(p) = range.check((s.len() / 4 * 3) as f64, "decoded length") {
                        push(p);
                    }
                }
                Some(s) => push(format!("{s:?} is not base64")),
                None => push(format!(
                    "expected a base64 string (blob), got {}",
                    kind(value)
                )),
            },
        }
    }
}

fn mismatch(operation: &str, direction: Direction, violations: Vec<Violation>) -> Result<()> {
    if violations.is_empty() {
        return Ok(());
    }
    Err(ShapeMismatch {
        operation: operation.to_owned(),
        direction,
        violations,
    }
    .into())
}

fn parse_shape(raw: &Value) -> Result<Shape> {
    let ty = raw["type"].as_str().ok_or_else(|| anyhow!("no \"type\""))?;
    let target = |v: &Value, what: &str| -> Result<String> {
        v["shape"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{what} has no \"shape\""))
    };
    let range = Range::of(raw);
    Ok(match ty {
        "structure" => {
            let mut members = BTreeMap::new();
            if let Some(ms) = raw["members"].as_object() {
                for (name, m) in ms {
                    let json_name = m["locationName"].as_str().unwrap_or(name);
                    members.insert(
                        json_name.to_owned(),
                        Member {
                            shape: target(m, &format!("member {name}"))?,
                        },
                    );
                }
            }
            // `required` names members, not JSON names; map them through `locationName`.
            let required = raw["required"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(|name| {
                            raw["members"][name]["locationName"]
                                .as_str()
                                .unwrap_or(name)
                                .to_owned()
                        })
                        .collect()
                })
                .unwrap_or_default();
            Shape::Structure {
                members,
                required,
                document: raw["document"].as_bool().unwrap_or(false),
            }
        }
        "list" => Shape::List {
            member: target(&raw["member"], "member")?,
            range,
        },
        "map" => Shape::Map {
            key: target(&raw["key"], "key")?,
            value: target(&raw["value"], "value")?,
            range,
        },
        "string" => Shape::String {
            allowed: raw["enum"].as_array().map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
            range,
        },
        "integer" => Shape::Integer { range },
        "long" => Shape::Long { range },
        "double" | "float" => Shape::Number { range },
        "boolean" => Shape::Boolean,
        "timestamp" => Shape::Timestamp,
        "blob" => Shape::Blob { range },
        other => bail!("unknown shape type {other:?}"),
    })
}

fn unknown_member(key: &str, members: &BTreeMap<String, Member>) -> String {
    let names: Vec<&str> = members.keys().map(String::as_str).collect();
    match names.iter().find(|n| n.eq_ignore_ascii_case(key)) {
        Some(close) => format!("unknown member {key:?} (did you mean {close:?}?)"),
        None => format!("unknown member {key:?}; the members are {names:?}"),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    /// A small model with one of every kind of shape.
    fn model() -> ServiceModel {
        let text = json!({
            "metadata": {"targetPrefix": "Svc"},
            "operations": {
                "Op": {
                    "name": "Op",
                    "input": {"shape": "OpRequest"},
                    "output": {"shape": "OpResponse"},
                    "errors": [{"shape": "NotFound"}, {"shape": "ServerException"}]
                }
            },
            "shapes": {
                "OpRequest": {
                    "type": "structure",
                    "required": ["name"],
                    "members": {"name": {"shape": "Name"}, "count": {"shape": "Int"}}
                },
                "OpResponse": {
                    "type": "structure",
                    "members": {
                        "things": {"shape": "Things"},
                        "labels": {"shape": "Labels"},
                        "at": {"shape": "Ts"},
                        "size": {"shape": "Long"},
                        "ratio": {"shape": "Double"},
                        "on": {"shape": "Bool"},
                        "data": {"shape": "Blob"},
                        "doc": {"shape": "Doc"}
                    }
                },
                "Thing": {
                    "type": "structure",
                    "required": ["status"],
                    "members": {"status": {"shape": "Status"}, "thingArn": {"shape": "Name"}}
                },
                "Things": {"type": "list", "member": {"shape": "Thing"}, "max": 2},
                "Labels": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Name"}},
                "Name": {"type": "string", "min": 1},
                "Status": {"type": "string", "enum": ["ACTIVE", "INACTIVE"]},
                "Int": {"type": "integer", "min": 0},
                "Long": {"type": "long"},
                "Double": {"type": "double"},
                "Bool": {"type": "boolean"},
                "Ts": {"type": "timestamp"},
                "Blob": {"type": "blob"},
                "Doc": {"type": "structure", "members": {}, "document": true},
                "NotFound": {
                    "type": "structure",
                    "members": {"message": {"shape": "Name"}},
                    "exception": true
                },
                "ServerException": {
                    "type": "structure",
                    "members": {"message": {"shape": "Name"}},
                    "exception": true,
                    "fault": true
                }
            }
        })
        .to_string();
        ServiceModel::from_json("test-model.json", &text).unwrap()
    }

    fn paths(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|v| v.path.as_str()).collect()
    }

    #[test]
    fn a_body_that_fits_has_no_violations() {
        let m = model();
        let body = json!({
            "things": [{"status": "ACTIVE", "thingArn": "a"}],
            "labels": {"k": "v"},
            "at": 1_700_000_000.123,
            "size": 5_000_000_000_i64,
            "ratio": 1,
            "on": true,
            "data": "aGk=",
            "doc": {"anything": [1, null]}
        });
        assert_eq!(m.check_output("Op", &body).unwrap(), vec![]);
        m.validate_input("Op", &json!({"name": "x", "count": 3}))
            .unwrap();
    }

    #[test]
    fn a_misspelled_member_is_named_with_its_path_and_shape() {
        let m = model();
        let v = m
            .check_output(
                "Op",
                &json!({"things": [{"status": "ACTIVE", "thingARN": "a"}]}),
            )
            .unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].path, "$.things[0].thingARN");
        assert_eq!(v[0].shape, "Thing");
        assert!(v[0].problem.contains("did you mean \"thingArn\""), "{v:?}");
    }

    #[test]
    fn every_violation_is_listed() {
        let m = model();
        let body = json!({
            "things": [{"status": "RUNNING"}, {}, {"status": "ACTIVE"}],
            "labels": {"": 5},
            "at": "2024-01-01T00:00:00Z",
            "size": 1.5,
            "ratio": "1",
            "on": "true",
            "data": "not base64!",
            "extra": null
        });
        let v = m.check_output("Op", &body).unwrap();
        assert_eq!(
            paths(&v),
            vec![
                "$.at",
                "$.data",
                "$.extra",
                "$.labels[\"\"] (key)",
                "$.labels[\"\"]",
                "$.on",
                "$.ratio",
                "$.size",
                "$.things",
                "$.things[0].status",
                "$.things[1]",
            ],
            "{v:#?}"
        );
        let err = m.validate_output("Op", &body).unwrap_err().to_string();
        assert!(err.starts_with("Op output does not fit the service model (11 violations):"));
        assert!(err.contains("\n  - $.things[0].status (Status): \"RUNNING\" is not one of"));
        assert!(err.contains("$.things[1] (Thing): required member \"status\" is missing"));
        assert!(err.contains("$.at (Ts): expected epoch seconds"));
    }

    #[test]
    fn integers_must_be_whole_and_fit_32_bits() {
        let m = model();
        for bad in [json!(1.5), json!(2_147_483_648_i64), json!(-1), json!("3")] {
            let v = m
                .check_input("Op", &json!({"name": "x", "count": bad}))
                .unwrap();
            assert_eq!(paths(&v), vec!["$.count"], "{bad}: {v:?}");
        }
        let v = m.check_input("Op", &json!({"count": 1})).unwrap();
        assert_eq!(v[0].problem, "required member \"name\" is missing");
        let v = m.check_input("Op", &json!({"name": ""})).unwrap();
        assert_eq!(v[0].problem, "length 0 is below the minimum 1");
    }

    #[test]
    fn errors_must_be_modeled_for_the_operation_with_the_right_status() {
        let m = model();
        m.validate_error("Op", 400, &json!({"__type": "NotFound", "message": "no"}))
            .unwrap();
        m.validate_error(
            "Op",
            500,
            &json!({"__type": "com.amazon#ServerException", "message": "boom"}),
        )
        .unwrap();
        let v = m
            .check_error("Op", 400, &json!({"__type": "Other", "message": "x"}))
            .unwrap();
        assert!(v[0].problem.contains("not an error of Op"), "{v:?}");
        let v = m
            .check_error("Op", 500, &json!({"__type": "NotFound", "Message": "x"}))
            .unwrap();
        assert_eq!(paths(&v), vec!["(HTTP status)", "$.Message"], "{v:?}");
    }

    #[test]
    fn added_members_are_accepted_and_dangling_references_refused() {
        let m = model().add_member("Thing", "zone", "Name").unwrap();
        assert_eq!(
            m.check_output(
                "Op",
                &json!({"things": [{"status": "ACTIVE", "zone": "a"}]})
            )
            .unwrap(),
            vec![]
        );
        assert!(model().add_member("Thing", "status", "Name").is_err());
        assert!(model().add_member("Thing", "zone", "Nope").is_err());
        let text = json!({"shapes": {"A": {"type": "list", "member": {"shape": "B"}}}});
        let err = ServiceModel::from_json("m.json", &text.to_string()).unwrap_err();
        assert!(err.to_string().contains("unknown shape B"), "{err}");
    }
}
