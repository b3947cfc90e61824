//! The structure of what an agent sends, per message type, and the differences between two
//! agents' recordings (a pure comparison, no I/O): the wire-diff test holds the reference Go
//! agent's recording against one of this agent made in the same test run, and fails on any
//! difference not in the documented list of intended ones (`tests/fixtures/wire-differences.md`).
//!
//! A recording is JSON lines as [`crate::WireProxy`] and the reference's `wireproxy.py` write
//! them. Only what the agent sends counts. Message types:
//! - `ecs:<Operation>` for an ECS API call (`ecs:SubmitTaskStateChange(<status>)` per status),
//!   its JSON body; `headers:ecs:<Operation>` the names of its HTTP headers;
//! - `ACS upgrade` / `TCS upgrade`: the upgrade's query parameters; `headers:ACS upgrade`, ...;
//! - `ACS <type>` / `TCS <type>`: a frame's `message`; `TCS signed-frame headers`: the header
//!   block the agent puts before a TCS frame's JSON.
//!
//! A structure is every path in a message with the JSON types seen there, over every message of
//! the type: `containers[].imageDigest: string`. Array elements are `[]`, except objects with a
//! `name` member (attributes, resources), which are `[<name>]`, so a registered capability is a
//! path of its own and a capability one agent sends and the other does not is a difference.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Paths and the JSON types seen at each, for one message type.
pub type Structure = BTreeMap<String, BTreeSet<&'static str>>;

/// Every message type an agent sent, with its structure.
pub type Structures = BTreeMap<String, Structure>;

/// Which recording a difference is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Only the reference agent sends it.
    Reference,
    /// Only this agent sends it.
    Ours,
    /// Both send the path, with different JSON types.
    Types,
}

impl Side {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "only reference" => Side::Reference,
            "only ours" => Side::Ours,
            "types" => Side::Types,
            other => bail!("unknown side {other:?} (only reference, only ours, types)"),
        })
    }
}

/// One difference between the two recordings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub side: Side,
    /// The message type.
    pub message: String,
    /// The path in it; empty when the whole message type is sent by one side only.
    pub path: String,
    /// For [`Side::Types`]: the reference's types and ours.
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.side {
            Side::Reference => "only reference",
            Side::Ours => "only ours",
            Side::Types => "types",
        };
        let path = if self.path.is_empty() {
            "(the whole message)"
        } else {
            &self.path
        };
        write!(
            f,
            "| {side} | {} | {path} | {} |",
            self.message, self.detail
        )
    }
}

/// The structures of everything the agent sent in `recording`.
pub fn structures(recording: &str) -> Result<Structures> {
    let mut out = Structures::new();
    for (n, line) in recording.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).with_context(|| format!("line {}", n + 1))?;
        if v["dir"] != "agent->cp" {
            continue;
        }
        for (message, body) in messages(&v).with_context(|| format!("line {}", n + 1))? {
            walk(&body, "", out.entry(message).or_default());
        }
    }
    Ok(out)
}

/// The message types and bodies one recorded line holds.
fn messages(v: &Value) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    match v["kind"].as_str() {
        Some("http_request") => {
            let headers: Value = v["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h[0].as_str())
                .map(|k| (k.to_ascii_lowercase(), Value::String(String::new())))
                .collect::<serde_json::Map<_, _>>()
                .into();
            let name = if let Some(ws) = v["ws"].as_str() {
                let target = v["target"].as_str().unwrap_or_default();
                let query: serde_json::Map<String, Value> = target
                    .split_once('?')
                    .map(|(_, q)| q)
                    .unwrap_or_default()
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (k.to_string(), Value::String(v.to_string()))
                    })
                    .collect();
                let name = format!("{} upgrade", ws.to_ascii_uppercase());
                out.push((name.clone(), Value::Object(query)));
                name
            } else {
                let target = v["x_amz_target"].as_str().unwrap_or_default();
                let op = target.rsplit('.').next().unwrap_or_default();
                let body_text = v["body"].as_str().unwrap_or_default();
                let body: Value = serde_json::from_str(body_text)
                    .with_context(|| format!("{op}: the body is not JSON"))?;
                let name = match (op, body["status"].as_str()) {
                    ("SubmitTaskStateChange", Some(status)) => format!("ecs:{op}({status})"),
                    _ => format!("ecs:{op}"),
                };
                out.push((name.clone(), body));
                name
            };
            out.push((format!("headers:{name}"), headers));
        }
        Some("ws_frame") if v["opcode"] == 1 => {
            let ws = v["ws"].as_str().unwrap_or_default().to_ascii_uppercase();
            let data = v["data"].as_str().unwrap_or_default();
            let json = match data.split_once("\r\n\r\n") {
                Some((head, json)) if ws == "TCS" && !data.starts_with('{') => {
                    let headers: serde_json::Map<String, Value> = head
                        .split("\r\n")
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, _)| (k.to_ascii_lowercase(), Value::String(String::new())))
                        .collect();
                    out.push((
                        "TCS signed-frame headers".to_string(),
                        Value::Object(headers),
                    ));
                    json
                }
                _ => data,
            };
            let frame: Value = serde_json::from_str(json)
                .with_context(|| format!("a {ws} frame is not JSON: {data}"))?;
            let kind = frame["type"].as_str().unwrap_or("(no type)");
            out.push((format!("{ws} {kind}"), frame["message"].clone()));
        }
        _ => {}
    }
    Ok(out)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(v: &Value, path: &str, out: &mut Structure) {
    if !path.is_empty() {
        out.entry(path.to_string())
            .or_default()
            .insert(type_name(v));
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(child, &p, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                let p = match item["name"].as_str() {
                    Some(name) => format!("{path}[{name}]"),
                    None => format!("{path}[]"),
                };
                walk(item, &p, out);
            }
        }
        _ => {}
    }
}

/// Every difference between the reference's structures and ours, in message and path order.
pub fn differences(reference: &Structures, ours: &Structures) -> Vec<Difference> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = reference.keys().chain(ours.keys()).collect();
    for name in names {
        let (r, o) = match (reference.get(name), ours.get(name)) {
            (Some(r), Some(o)) => (r, o),
            (r, _) => {
                out.push(Difference {
                    side: if r.is_some() {
                        Side::Reference
                    } else {
                        Side::Ours
                    },
                    message: name.clone(),
                    path: String::new(),
                    detail: String::new(),
                });
                continue;
            }
        };
        let paths: BTreeSet<&String> = r.keys().chain(o.keys()).collect();
        for path in paths {
            let side = match (r.get(path), o.get(path)) {
                (Some(a), Some(b)) if a == b => continue,
                (Some(a), Some(b)) => {
                    out.push(Difference {
                        side: Side::Types,
                        message: name.clone(),
                        path: path.clone(),
                        detail: format!("{a:?} / {b:?}"),
                    });
                    continue;
                }
                (Some(_), None) => Side::Reference,
                _ => Side::Ours,
            };
            // A path under one that is itself missing on that side adds nothing.
            let parent_missing = path
                .char_indices()
                .filter(|&(_, c)| c == '.' || c == '[')
                .any(|(i, _)| {
                    let p = &path[..i];
                    r.contains_key(p) != o.contains_key(p)
                });
            if !parent_missing {
                out.push(Difference {
                    side,
                    message: name.clone(),
                    path: path.clone(),
                    detail: String::new(),
                });
            }
        }
    }
    out
}

/// A difference the project means (or accepts for now), from the documented list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intended {
    pub side: Side,
    /// Message type; `*` matches any run of characters.
    pub message: String,
    /// Path; `*` matches any run of characters, and the whole message type is `*` or empty.
    pub path: String,
    /// Host facts (Docker's API versions, ...) that differ between hosts, not agents: such an
    /// entry may match nothing on this host without being stale.
    pub host_dependent: bool,
    pub why: String,
}

impl Intended {
    fn matches(&self, d: &Difference) -> bool {
        self.side == d.side && glob(&self.message, &d.message) && glob(&self.path, &d.path)
    }
}

/// The table rows of `list` (a Markdown document): `| side | message | path | why |`. A `why`
/// starting with `(host)` marks a host-dependent entry.
pub fn intended(list: &str) -> Result<Vec<Intended>> {
    let mut out = Vec::new();
    for line in list.lines() {
        let line = line.trim();
        if !line.starts_with('|') || line.starts_with("|---") || line.starts_with("| side") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [side, message, path, why] = cells[..] else {
            bail!("a row needs 4 cells: {line}");
        };
        let unquote = |s: &str| s.trim_matches('`').to_string();
        out.push(Intended {
            side: Side::parse(side)?,
            message: unquote(message),
            path: unquote(path),
            host_dependent: why.starts_with("(host)"),
            why: why.to_string(),
        });
    }
    Ok(out)
}

/// The differences no entry explains, and the entries (not host-dependent) that explain none.
pub fn unexplained<'a>(
    diffs: &'a [Difference],
    list: &'a [Intended],
) -> (Vec<&'a Difference>, Vec<&'a Intended>) {
    let open = diffs
        .iter()
        .filter(|d| !list.iter().any(|i| i.matches(d)))
        .collect();
    let stale = list
        .iter()
        .filter(|i| !i.host_dependent && !diffs.iter().any(|d| i.matches(d)))
        .collect();
    (open, stale)
}

/// `*` matches any run of characters; everything else itself. An empty pattern matches only the
/// empty string (`*` matches the whole message).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(lines: &[Value]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn submit(body: Value) -> Value {
        serde_json::json!({"dir": "agent->cp", "kind": "http_request", "headers": [["Host", "h"]],
            "x_amz_target": "AmazonEC2ContainerServiceV20141113.SubmitTaskStateChange",
            "body": body.to_string()})
    }

    #[test]
    fn structures_name_paths_types_and_named_elements() {
        let s = structures(&rec(&[
            submit(serde_json::json!({"status": "RUNNING", "containers": [{"exitCode": 1}],
                "attributes": [{"name": "ecs.capability.efs"}]})),
            serde_json::json!({"dir": "agent->cp", "kind": "ws_frame", "ws": "tcs", "opcode": 1,
                "data": "Authorization: x\r\nHost: h\r\n\r\n{\"type\":\"PublishHealthRequest\",\"message\":{\"tasks\":[]}}"}),
            serde_json::json!({"dir": "cp->agent", "kind": "ws_frame", "ws": "acs", "opcode": 1,
                "data": "{\"type\":\"PayloadMessage\",\"message\":{}}"}),
        ]))
        .unwrap();
        let names: Vec<&str> = s.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "TCS PublishHealthRequest",
                "TCS signed-frame headers",
                "ecs:SubmitTaskStateChange(RUNNING)",
                "headers:ecs:SubmitTaskStateChange(RUNNING)"
            ]
        );
        let submit = &s["ecs:SubmitTaskStateChange(RUNNING)"];
        assert!(submit["containers[].exitCode"].contains("number"));
        assert!(submit.contains_key("attributes[ecs.capability.efs].name"));
        assert!(s["TCS signed-frame headers"].contains_key("authorization"));
    }

    #[test]
    fn differences_are_listed_once_and_explained_by_the_list() {
        let reference = structures(&rec(&[submit(
            serde_json::json!({"status": "PENDING", "cluster": "c", "pullStartedAt": 1.5,
                "containers": [{"imageDigest": "sha256:x"}]}),
        )]))
        .unwrap();
        let ours = structures(&rec(&[submit(
            serde_json::json!({"status": "PENDING", "cluster": 7, "reason": "r"}),
        )]))
        .unwrap();
        let d = differences(&reference, &ours);
        let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "| types | ecs:SubmitTaskStateChange(PENDING) | cluster | {\"string\"} / {\"number\"} |",
                "| only reference | ecs:SubmitTaskStateChange(PENDING) | containers |  |",
                "| only reference | ecs:SubmitTaskStateChange(PENDING) | pullStartedAt |  |",
                "| only ours | ecs:SubmitTaskStateChange(PENDING) | reason |  |",
            ]
        );
        let list = intended(
            "# list\n\n| side | message | path | why |\n|---|---|---|---|\n\
             | only reference | `ecs:SubmitTaskStateChange(*)` | `*` | not yet |\n\
             | only ours | `ecs:*` | `reason` | we explain |\n\
             | only ours | `ACS upgrade` | `x` | stale |\n\
             | only ours | `ACS upgrade` | `y` | (host) may not happen |\n",
        )
        .unwrap();
        let (open, stale) = unexplained(&d, &list);
        assert_eq!(open, [&d[0]]);
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].why, "stale");
    }

    #[test]
    fn glob_matches_runs() {
        assert!(glob("*", ""));
        assert!(glob("ecs:*(PENDING)", "ecs:SubmitTaskStateChange(PENDING)"));
        assert!(!glob(
            "ecs:*(PENDING)",
            "ecs:SubmitTaskStateChange(RUNNING)"
        ));
        assert!(glob(
            "attributes[com.amazonaws.ecs.capability.docker-remote-api.*]*",
            "attributes[com.amazonaws.ecs.capability.docker-remote-api.1.32].name"
        ));
        assert!(!glob("", "x"));
    }
}
