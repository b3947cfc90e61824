//! What every CloudWatch Logs operation shares: its error words, name checks, paging and tokens.

use serde_json::{Value, json};

use crate::front::{ApiError, ErrorCode};

pub(super) fn not_found_group() -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        "The specified log group does not exist.",
    )
}

pub(super) fn not_found_stream() -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        "The specified log stream does not exist.",
    )
}

/// CloudWatch's wording for a member that breaks the model's constraint.
pub(super) fn constraint(value: &str, member: &str, rule: &str) -> ApiError {
    ApiError::invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

pub(super) fn check_group_name(name: &str, member: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 512 {
        return Err(constraint(
            name,
            member,
            "Member must have length less than or equal to 512",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#'))
    {
        return Err(constraint(
            name,
            member,
            r"Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

pub(super) fn check_stream_name(name: &str, member: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 512 {
        return Err(constraint(
            name,
            member,
            "Member must have length less than or equal to 512",
        ));
    }
    if name.contains([':', '*']) {
        return Err(constraint(
            name,
            member,
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

/// `logGroupName` or `logGroupIdentifier` (a name or an ARN), exactly one.
pub(super) fn group_name(
    name: Option<String>,
    identifier: Option<String>,
) -> Result<String, ApiError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(name), None) => Ok(name),
        (None, Some(id)) => Ok(group_from_identifier(&id)),
        (None, None) => Err(ApiError::invalid(
            "Either LogGroupName or LogGroupIdentifier must be specified.",
        )),
    }
}

/// `arn:aws:logs:<region>:<account>:log-group:<name>[:*]` or a plain name.
pub(super) fn group_from_identifier(id: &str) -> String {
    match id.split_once(":log-group:") {
        Some((_, rest)) => rest.strip_suffix(":*").unwrap_or(rest).to_string(),
        None => id.to_string(),
    }
}

/// A page position: a decimal index (our `nextToken`s).
pub(super) fn parse_index(token: &str) -> Result<usize, ApiError> {
    token
        .parse()
        .map_err(|_| ApiError::invalid("The specified nextToken is invalid."))
}

/// `f/<56 digits>` and `b/<56 digits>`, as CloudWatch's GetLogEvents tokens look.
pub(super) fn event_token(direction: char, index: usize) -> String {
    format!("{direction}/{index:056}")
}

pub(super) fn parse_event_token(token: &str) -> Result<(char, usize), ApiError> {
    let bad = || ApiError::invalid("The specified nextToken is invalid.");
    let (dir, digits) = token.split_once('/').ok_or_else(bad)?;
    let dir = match dir {
        "f" => 'f',
        "b" => 'b',
        _ => return Err(bad()),
    };
    Ok((dir, digits.parse().map_err(|_| bad())?))
}

/// One page of a list answer: the items `start..start + limit` of the whole list, and a
/// `nextToken` (the next index) when more remain.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    start: usize,
    limit: usize,
}

impl Page {
    /// From a request's `limit` (at most `max`) and `nextToken`.
    pub(super) fn new(
        limit_asked: Option<i64>,
        max: usize,
        token: Option<&str>,
    ) -> Result<Self, ApiError> {
        let limit = limit(limit_asked, max)?;
        let start = token.map(parse_index).transpose()?.unwrap_or(0);
        Ok(Page { start, limit })
    }

    /// The items of this page, each shaped by `f`.
    pub(super) fn of<T>(&self, all: &[T], f: impl FnMut(&T) -> Value) -> Vec<Value> {
        all.iter()
            .skip(self.start)
            .take(self.limit)
            .map(f)
            .collect()
    }

    /// `out` with `nextToken` when the whole list (`total` items) goes on after this page.
    pub(super) fn with_next_token(&self, mut out: Value, total: usize) -> Value {
        if self.start + self.limit < total {
            out["nextToken"] = json!((self.start + self.limit).to_string());
        }
        out
    }
}

pub(super) fn limit(limit: Option<i64>, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(max),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(constraint(
            &n.to_string(),
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
    }
}

pub(super) fn sequence_token(n: u64) -> String {
    format!("{n:056}")
}
