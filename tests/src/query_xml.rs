//! Checks raw AWS query-protocol answers (XML) against a botocore model.
//!
//! botocore's XML parser drops elements it does not know, so the CLI's printed output would hide
//! a misspelled member. Here the raw XML that `aws --debug` logged is read into JSON guided by
//! the model (every element must be a member of its shape: an unknown one is a violation; lists
//! are `<member>` items; integers, booleans and timestamps must parse), then checked with
//! [`ServiceModel::check_output`]. An error answer must be an `ErrorResponse` whose `Code` is
//! one of the operation's modeled errors (by the exception's `error.code`) with its status.

use std::path::Path;

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Map, Value};

use crate::AwsCli;
use crate::cli_debug::python_bytes;
use crate::shapes::ServiceModel;

/// One element of an XML document: its name and its children, or its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The element's name (without attributes).
    pub name: String,
    /// Child elements.
    pub children: Vec<Element>,
    /// The text directly inside it (entities decoded).
    pub text: String,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Parses a small XML document (a prolog, elements, attributes ignored, text with the five
/// entities and numeric references; no CDATA or comments, which AWS answers do not use).
pub fn parse_xml(xml: &str) -> Result<Element> {
    let mut s = xml.trim_start();
    if s.starts_with("<?") {
        let end = s.find("?>").context("unterminated XML prolog")?;
        s = s[end + 2..].trim_start();
    }
    let (e, rest) = element(s)?;
    ensure!(
        rest.trim().is_empty(),
        "text after the root element: {rest}"
    );
    Ok(e)
}

fn element(s: &str) -> Result<(Element, &str)> {
    ensure!(s.starts_with('<'), "expected an element at {}", head(s));
    let end = s.find('>').context("unterminated tag")?;
    let tag = &s[1..end];
    let self_closing = tag.ends_with('/');
    let tag = tag.trim_end_matches('/');
    let name = tag
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut rest = &s[end + 1..];
    let mut e = Element {
        name,
        children: Vec::new(),
        text: String::new(),
    };
    if self_closing {
        return Ok((e, rest));
    }
    loop {
        let lt = rest.find('<').context("unterminated element")?;
        e.text.push_str(&unescape(&rest[..lt])?);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').context("unterminated end tag")?;
            ensure!(
                after[..end].trim() == e.name,
                "</{}> closes <{}>",
                &after[..end],
                e.name
            );
            return Ok((e, &after[end + 1..]));
        }
        let (child, after) = element(rest)?;
        e.children.push(child);
        rest = after;
    }
}

fn head(s: &str) -> &str {
    &s[..s.len().min(40)]
}

fn unescape(s: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').context("unterminated entity")? + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => char::from_u32(u32::from_str_radix(&e[2..], 16)?)
                .context("bad character reference")?,
            e if e.starts_with('#') => {
                char::from_u32(e[1..].parse()?).context("bad character reference")?
            }
            other => bail!("unknown entity &{other};"),
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-07T11:19:21.123Z` as epoch seconds.
pub fn iso8601_seconds(s: &str) -> Option<f64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (h, mi) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec = t.next()?.parse::<f64>().ok()?;
    #[allow(clippy::cast_precision_loss)]
    let whole = (days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60) as f64;
    Some(whole + sec)
}

/// A botocore model of a query-protocol service, for its raw XML answers.
#[derive(Debug)]
pub struct QueryModel {
    raw: Value,
    model: ServiceModel,
}

impl QueryModel {
    /// The model of `service` at `api_version` that the AWS CLI in `venv` uses.
    pub fn from_venv(venv: &Path, service: &str, api_version: &str) -> Result<Self> {
        let path = ServiceModel::from_venv(venv, service, api_version)?
            .source()
            .to_path_buf();
        let text = std::fs::read_to_string(&path)?;
        Self::from_json(path, &text)
    }

    /// A model from its JSON text; `source` names it in messages.
    pub fn from_json(source: impl Into<std::path::PathBuf>, text: &str) -> Result<Self> {
        Ok(QueryModel {
            raw: serde_json::from_str(text)?,
            model: ServiceModel::from_json(source, text)?,
        })
    }

    fn shape(&self, name: &str) -> Result<&Value> {
        self.raw["shapes"]
            .get(name)
            .with_context(|| format!("no shape {name} in the model"))
    }

    /// The JSON of `e` read as `shape`; unknown elements and unparsable scalars go to
    /// `problems`.
    fn to_json(&self, shape: &str, e: &Element, path: &str, problems: &mut Vec<String>) -> Value {
        let Ok(s) = self.shape(shape) else {
            problems.push(format!("{path}: no shape {shape}"));
            return Value::Null;
        };
        let scalar = |problems: &mut Vec<String>, v: Option<Value>, what: &str| {
            v.unwrap_or_else(|| {
                problems.push(format!("{path} ({shape}): '{}' is not {what}", e.text));
                Value::Null
            })
        };
        match s["type"].as_str().unwrap_or_default() {
            "structure" => {
                let mut out = Map::new();
                let members = s["members"].as_object().cloned().unwrap_or_default();
                for c in &e.children {
                    let found = members.iter().find(|(name, m)| {
                        m["locationName"].as_str().unwrap_or(name.as_str()) == c.name
                    });
                    match found {
                        Some((name, m)) => {
                            let target = m["shape"].as_str().unwrap_or_default();
                            let v = self.to_json(target, c, &format!("{path}.{name}"), problems);
                            // Keyed as the model's checks key members: by `locationName`,
                            // which is the element's name.
                            out.insert(c.name.clone(), v);
                        }
                        None => problems.push(format!(
                            "{path}: element <{}> is not a member of {shape}",
                            c.name
                        )),
                    }
                }
                Value::Object(out)
            }
            "list" => {
                let item = s["member"]["shape"].as_str().unwrap_or_default();
                let item_name = s["member"]["locationName"].as_str().unwrap_or("member");
                let mut out = Vec::new();
                for (i, c) in e.children.iter().enumerate() {
                    if c.name != item_name {
                        problems.push(format!(
                            "{path}: list item <{}> should be <{item_name}>",
                            c.name
                        ));
                        continue;
                    }
                    out.push(self.to_json(item, c, &format!("{path}[{i}]"), problems));
                }
                Value::Array(out)
            }
            "integer" | "long" => scalar(
                problems,
                e.text.trim().parse::<i64>().ok().map(Value::from),
                "an integer",
            ),
            "float" | "double" => scalar(
                problems,
                e.text.trim().parse::<f64>().ok().map(Value::from),
                "a number",
            ),
            "boolean" => scalar(
                problems,
                match e.text.as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                },
                "a boolean",
            ),
            "timestamp" => scalar(
                problems,
                iso8601_seconds(&e.text).map(Value::from),
                "an ISO 8601 timestamp",
            ),
            _ => {
                if !e.children.is_empty() {
                    problems.push(format!("{path} ({shape}): a scalar with child elements"));
                }
                Value::String(e.text.clone())
            }
        }
    }

    /// Every problem of one raw answer of `operation` with HTTP `status`.
    pub fn check_answer(&self, operation: &str, status: u16, xml: &str) -> Result<Vec<String>> {
        let op = self.raw["operations"]
            .get(operation)
            .with_context(|| format!("no operation {operation} in the model"))?;
        let root = parse_xml(xml).with_context(|| format!("{operation}: {xml}"))?;
        if self.raw["metadata"]["protocol"] == "ec2" {
            return self.check_ec2_answer(operation, op, status, &root);
        }
        let mut problems = Vec::new();
        if root.name == "ErrorResponse" {
            let code = root
                .child("Error")
                .and_then(|e| e.child("Code"))
                .map(|c| c.text.clone())
                .unwrap_or_default();
            let modeled = op["errors"].as_array().cloned().unwrap_or_default();
            let listed = modeled.iter().any(|e| {
                let name = e["shape"].as_str().unwrap_or_default();
                let shape = &self.raw["shapes"][name];
                let wire = shape["error"]["code"].as_str().unwrap_or(name);
                wire == code
            });
            // ValidationError is the query protocol's own client error, modeled nowhere.
            if !listed && code != "ValidationError" {
                problems.push(format!("{operation}: error {code} is not one it lists"));
            }
            if status != 400 {
                problems.push(format!("{operation}: error {code} with status {status}"));
            }
            if root.child("RequestId").is_none() {
                problems.push(format!("{operation}: error without a RequestId"));
            }
            return Ok(problems);
        }
        if root.name != format!("{operation}Response") {
            problems.push(format!("{operation}: root element <{}>", root.name));
        }
        if status != 200 {
            problems.push(format!("{operation}: success with status {status}"));
        }
        if root
            .child("ResponseMetadata")
            .and_then(|m| m.child("RequestId"))
            .is_none()
        {
            problems.push(format!("{operation}: no ResponseMetadata/RequestId"));
        }
        let body = match (
            op["output"]["shape"].as_str(),
            op["output"]["resultWrapper"].as_str(),
        ) {
            (Some(shape), Some(wrapper)) => match root.child(wrapper) {
                Some(result) => self.to_json(shape, result, "$", &mut problems),
                None => {
                    problems.push(format!("{operation}: no <{wrapper}>"));
                    Value::Null
                }
            },
            _ => Value::Object(Map::new()),
        };
        for v in self.model.check_output(operation, &body)? {
            problems.push(format!("{operation}: {v}"));
        }
        Ok(problems)
    }
}

impl QueryModel {
    /// The EC2 protocol's answers: `<{operation}Response>` with a `requestId` and the output's
    /// members directly inside (no result wrapper); errors are `<Response><Errors><Error>` with
    /// a `Code` and a `Message`, and a `RequestID` (EC2 models no error shapes, so any code).
    fn check_ec2_answer(
        &self,
        operation: &str,
        op: &Value,
        status: u16,
        root: &Element,
    ) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        if root.name == "Response" {
            let error = root.child("Errors").and_then(|e| e.child("Error"));
            if error.and_then(|e| e.child("Code")).is_none()
                || error.and_then(|e| e.child("Message")).is_none()
            {
                problems.push(format!(
                    "{operation}: an error without Errors/Error/Code and Message"
                ));
            }
            if root.child("RequestID").is_none() {
                problems.push(format!("{operation}: error without a RequestID"));
            }
            if status < 400 {
                problems.push(format!("{operation}: error with status {status}"));
            }
            return Ok(problems);
        }
        if root.name != format!("{operation}Response") {
            problems.push(format!("{operation}: root element <{}>", root.name));
        }
        if status != 200 {
            problems.push(format!("{operation}: success with status {status}"));
        }
        if root.child("requestId").is_none() {
            problems.push(format!("{operation}: no requestId"));
        }
        let body = match op["output"]["shape"].as_str() {
            Some(shape) => {
                let members = Element {
                    name: root.name.clone(),
                    children: root
                        .children
                        .iter()
                        .filter(|c| c.name != "requestId")
                        .cloned()
                        .collect(),
                    text: String::new(),
                };
                self.to_json(shape, &members, "$", &mut problems)
            }
            None => Value::Object(Map::new()),
        };
        for v in self.model.check_output(operation, &body)? {
            problems.push(format!("{operation}: {v}"));
        }
        Ok(problems)
    }
}

/// One exchange `aws --debug` logged for a query-protocol service.
#[derive(Debug, Clone)]
pub struct QueryExchange {
    /// The operation.
    pub operation: String,
    /// The HTTP status.
    pub status: u16,
    /// The raw answer.
    pub xml: String,
}

/// Every answer `aws --debug` logged in `stderr`, in order.
pub fn query_exchanges(stderr: &str) -> Result<Vec<QueryExchange>> {
    let request_marker = "Making request for OperationModel(name=";
    let mut rest = stderr;
    let mut out = Vec::new();
    while let Some(at) = rest.find(request_marker) {
        rest = &rest[at + request_marker.len()..];
        let operation = rest[..rest.find(')').context("no ) after the operation")?].to_owned();
        // urllib3 logs the status line: `"POST / HTTP/1.1" 200 1234`.
        let status_at = rest
            .find("HTTP/1.1\" ")
            .with_context(|| format!("no status logged for {operation}"))?;
        let status: u16 = rest[status_at + 10..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .parse()
            .with_context(|| format!("no status logged for {operation}"))?;
        let marker = "Response body:\n";
        let body_at = rest
            .find(marker)
            .with_context(|| format!("no response body logged for {operation}"))?;
        let (bytes, after) = python_bytes(&rest[body_at + marker.len()..])?;
        rest = after;
        out.push(QueryExchange {
            operation,
            status,
            xml: String::from_utf8(bytes)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_elements_entities_and_self_closing_tags() {
        let e = parse_xml(
            r#"<?xml version="1.0"?><A xmlns="x"><B>a &amp; b</B><C/><D><member>1</member></D></A>"#,
        )
        .unwrap();
        assert_eq!(e.name, "A");
        assert_eq!(e.child("B").unwrap().text, "a & b");
        assert!(e.child("C").unwrap().children.is_empty());
        assert_eq!(e.child("D").unwrap().children[0].text, "1");
        assert!(parse_xml("<A><B></A>").is_err());
    }

    const MODEL: &str = r#"{
        "metadata": {"protocol": "query"},
        "operations": {"Op": {
            "name": "Op",
            "output": {"shape": "OpOutput", "resultWrapper": "OpResult"},
            "errors": [{"shape": "GoneException"}]
        }},
        "shapes": {
            "OpOutput": {"type": "structure", "members": {
                "N": {"shape": "Int"}, "L": {"shape": "Strings"}, "T": {"shape": "Time"}
            }},
            "Int": {"type": "integer"},
            "Time": {"type": "timestamp"},
            "Str": {"type": "string"},
            "Strings": {"type": "list", "member": {"shape": "Str"}},
            "GoneException": {"type": "structure", "members": {},
                "error": {"code": "Gone", "httpStatusCode": 400}, "exception": true}
        }
    }"#;

    fn answer(result: &str) -> String {
        format!(
            "<OpResponse><OpResult>{result}</OpResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></OpResponse>"
        )
    }

    #[test]
    fn unknown_elements_bad_scalars_and_unlisted_errors_are_violations() {
        let m = QueryModel::from_json("test", MODEL).unwrap();
        let good = answer("<N>1</N><L><member>a</member></L><T>2026-01-01T00:00:00.000Z</T>");
        assert_eq!(
            m.check_answer("Op", 200, &good).unwrap(),
            Vec::<String>::new()
        );
        let bad = answer("<N>x</N><Nn>1</Nn><L><item>a</item></L><T>yesterday</T>");
        let problems = m.check_answer("Op", 200, &bad).unwrap().join("\n");
        for expected in ["<Nn>", "<item>", "'x' is not an integer", "'yesterday'"] {
            assert!(problems.contains(expected), "{expected} in {problems}");
        }
        let err = "<ErrorResponse><Error><Code>Gone</Code></Error><RequestId>r</RequestId></ErrorResponse>";
        assert!(m.check_answer("Op", 400, err).unwrap().is_empty());
        assert_eq!(m.check_answer("Op", 500, err).unwrap().len(), 1);
        let other = err.replace("Gone", "Lost");
        assert_eq!(m.check_answer("Op", 400, &other).unwrap().len(), 1);
    }

    #[test]
    fn timestamps_become_epoch_seconds() {
        assert_eq!(iso8601_seconds("1970-01-02T00:00:01.500Z"), Some(86_401.5));
        assert_eq!(iso8601_seconds("2000-03-01T00:00:00Z"), Some(951_868_800.0));
    }
}

/// The real AWS CLI, every call run with `--debug` and every raw XML answer it logged checked
/// against botocore's model of the service; problems are collected for the test to report.
#[derive(Debug)]
pub struct CheckedCli {
    service: &'static str,
    aws: AwsCli,
    model: QueryModel,
    /// Every problem found so far, with the answer it was found in.
    pub problems: Vec<String>,
    /// Every operation an answer was checked of.
    pub seen: BTreeSet<String>,
}

impl CheckedCli {
    /// The CLI for `service` (its command name and model name) at `api_version`.
    pub fn new(aws: AwsCli, service: &'static str, api_version: &str) -> Result<Self> {
        Ok(CheckedCli {
            service,
            aws,
            model: QueryModel::from_venv(&crate::awscli_venv()?, service, api_version)?,
            problems: Vec::new(),
            seen: BTreeSet::new(),
        })
    }

    /// Runs `aws SERVICE ARGS --debug`, checks what it logged; returns whether it succeeded,
    /// its stdout and its stderr.
    pub fn exec(&mut self, args: &[&str]) -> Result<(bool, String, String)> {
        let mut all = vec![self.service];
        all.extend_from_slice(args);
        all.push("--debug");
        let out = self.aws.output(&all)?;
        let exchanges = query_exchanges(&out.stderr)?;
        if exchanges.is_empty() {
            bail!("`aws {} {}` logged no answer", self.service, args.join(" "));
        }
        for x in exchanges {
            let p = self.model.check_answer(&x.operation, x.status, &x.xml)?;
            if !p.is_empty() {
                self.problems.push(format!("{}: {}", x.xml, p.join("; ")));
            }
            self.seen.insert(x.operation);
        }
        Ok((out.success(), out.stdout.clone(), out.stderr.clone()))
    }

    /// Runs a call that must succeed; its JSON output (`null` when it prints nothing).
    pub fn run(&mut self, args: &[&str]) -> Result<Value> {
        let (ok, stdout, stderr) = self.exec(args)?;
        if !ok {
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            bail!(
                "`aws {} {}` failed: {}",
                self.service,
                args.join(" "),
                tail.join("\n")
            );
        }
        if stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&stdout).with_context(|| format!("not JSON: {stdout}"))
    }

    /// Runs a call that must fail; its error code and message.
    pub fn fail(&mut self, args: &[&str]) -> Result<(String, String)> {
        let (ok, stdout, stderr) = self.exec(args)?;
        if ok {
            bail!(
                "`aws {} {}` succeeded: {stdout}",
                self.service,
                args.join(" ")
            );
        }
        let marker = "An error occurred (";
        let at = stderr
            .rfind(marker)
            .with_context(|| format!("no error in {stderr}"))?;
        let rest = &stderr[at + marker.len()..];
        let code = rest[..rest.find(')').unwrap_or(0)].to_string();
        // `... operation: MESSAGE`, or `... operation (reached max retries: 0): MESSAGE`.
        let message = rest
            .split_once(" operation")
            .map(|(_, after)| match after.strip_prefix(" (") {
                Some(note) => note.split_once("): ").map_or("", |(_, m)| m),
                None => after.strip_prefix(": ").unwrap_or(after),
            })
            .and_then(|m| m.lines().next())
            .unwrap_or_default()
            .to_string();
        Ok((code, message))
    }
}
