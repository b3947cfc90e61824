//! What the real AWS CLI sent and received, from `aws --debug`: botocore logs every request body
//! and every raw response body (before parsing, so wire errors such as timestamps sent as strings
//! still show), which tests check against botocore's model with [`crate::shapes::ServiceModel`].

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::{AwsCli, CmdOutput};

/// One request the CLI sent and the raw answer it got, from `aws --debug`.
#[derive(Debug)]
pub struct Exchange {
    /// The operation, e.g. `DescribeServices`.
    pub operation: String,
    /// The JSON body sent.
    pub request: Value,
    /// The JSON body received.
    pub response: Value,
}

/// Runs `aws ARGS --debug`, which must succeed, and returns every request/response pair it logged
/// (a paginated command makes several).
pub fn cli_exchanges(aws: &AwsCli, args: &[&str]) -> Result<Vec<Exchange>> {
    let (out, exchanges) = cli_debug(aws, args)?;
    ensure!(
        out.success(),
        "`aws {}` failed: {}",
        args.join(" "),
        out.stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    ensure!(
        !exchanges.is_empty(),
        "`aws {} --debug` logged no request",
        args.join(" ")
    );
    Ok(exchanges)
}

/// Runs `aws ARGS --debug`, successful or not, and returns its output with every request/response
/// pair it logged.
pub fn cli_debug(aws: &AwsCli, args: &[&str]) -> Result<(CmdOutput, Vec<Exchange>)> {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--debug");
    let out = aws.output(&all)?;
    let log = &out.stderr;
    let mut exchanges = Vec::new();
    let request_marker = "Making request for OperationModel(name=";
    let mut rest = log.as_str();
    while let Some(at) = rest.find(request_marker) {
        rest = &rest[at + request_marker.len()..];
        let operation = rest[..rest.find(')').context("no ) after the operation")?].to_owned();
        let body_at = rest
            .find("'body': b")
            .context("no body in the request log")?;
        let (request, after) = python_bytes(&rest[body_at + "'body': ".len()..])?;
        rest = after;
        let resp_marker = "Response body:\n";
        let resp_at = rest
            .find(resp_marker)
            .with_context(|| format!("no response body logged for {operation}"))?;
        let (response, after) = python_bytes(&rest[resp_at + resp_marker.len()..])?;
        rest = after;
        let parse = |bytes: Vec<u8>, what: &str| -> Result<Value> {
            let text = String::from_utf8(bytes)?;
            serde_json::from_str(&text).with_context(|| format!("{operation} {what}: {text}"))
        };
        exchanges.push(Exchange {
            request: parse(request, "request")?,
            response: parse(response, "response")?,
            operation,
        });
    }
    Ok((out, exchanges))
}

/// Decodes a Python bytes literal (`b'...'`, as botocore logs bodies) at the start of `s`;
/// returns the bytes and the text after it.
pub fn python_bytes(s: &str) -> Result<(Vec<u8>, &str)> {
    let mut chars = s.char_indices();
    ensure!(
        matches!(chars.next(), Some((_, 'b'))),
        "not a bytes literal: {}",
        &s[..s.len().min(40)]
    );
    let quote = match chars.next() {
        Some((_, q @ ('\'' | '"'))) => q,
        _ => bail!("not a bytes literal: {}", &s[..s.len().min(40)]),
    };
    let mut out = Vec::new();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push(b'\n'),
                Some('r') => out.push(b'\r'),
                Some('t') => out.push(b'\t'),
                Some('x') => {
                    let hex: String = (0..2)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    out.push(u8::from_str_radix(&hex, 16).context("bad \\x escape")?);
                }
                Some(c @ ('\\' | '\'' | '"')) => out.push(c as u8),
                other => bail!("unexpected escape \\{other:?} in a bytes literal"),
            },
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    bail!("unterminated bytes literal")
}
