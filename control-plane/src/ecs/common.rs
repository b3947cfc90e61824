//! Helpers every ECS resource uses: ids, names, paging, and numeric members as ECS reads them.

use serde_json::Value;

use crate::front::ApiError;

/// Identity of the emulated account and region.
#[derive(Debug, Clone)]
pub struct Account {
    /// e.g. `us-east-1`.
    pub region: String,
    /// 12 digits.
    pub account_id: String,
}

impl Account {
    /// `arn:aws:ecs:<region>:<account>:<resource>`.
    pub fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:ecs:{}:{}:{}",
            self.region, self.account_id, resource
        )
    }
}

/// Fresh 32-hex id (task ids, instance ids).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

const MAX_RESULTS: usize = 100;

/// Pages `items` by an opaque `nextToken` (the offset) and `maxResults`.
pub fn paginate<T: Clone>(
    items: &[T],
    next_token: Option<&str>,
    max_results: Option<i64>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match next_token {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("ecs-emu-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::invalid("Invalid nextToken."))?,
    };
    let max = match max_results {
        None => MAX_RESULTS,
        Some(n) if (1..=100).contains(&n) => usize::try_from(n).unwrap_or(MAX_RESULTS),
        Some(_) => {
            return Err(ApiError::invalid("maxResults must be between 1 and 100."));
        }
    };
    let end = (start + max).min(items.len());
    let page = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    let next = (end < items.len()).then(|| format!("ecs-emu-{end}"));
    Ok((page, next))
}

pub fn with_next(mut v: Value, next: Option<String>) -> Value {
    if let (Some(n), Value::Object(m)) = (next, &mut v) {
        m.insert("nextToken".into(), Value::String(n));
    }
    v
}

/// Last path segment of an ARN or the name itself.
pub fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An integer member that may come as a number or a numeric string (task-level cpu/memory are strings).
pub fn def_number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_task_size(s),
        _ => None,
    }
}

/// Task-level sizes: `"512"`, `"1024"`, `"0.5 vCPU"`/`"1 vcpu"` (×1024), `"1 GB"`/`"2gb"` (×1024 MiB).
pub fn parse_task_size(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = s.strip_suffix("vcpu") {
        (n.trim(), 1024.0)
    } else if let Some(n) = s.strip_suffix("gb") {
        (n.trim(), 1024.0)
    } else {
        (s.as_str(), 1.0)
    };
    let v: f64 = num.parse().ok()?;
    #[allow(clippy::cast_possible_truncation)]
    Some((v * mult).round() as i64)
}
