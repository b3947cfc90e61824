//! CloudWatch Logs filter patterns for unstructured events (FilterLogEvents).

use crate::front::ApiError;

/// A CloudWatch Logs filter pattern for unstructured events: terms that must all appear
/// (`ERROR timeout`), quoted phrases (`"connection refused"`), terms of which at least one must
/// appear (`?ERROR ?WARN`) and terms that must not appear (`ERROR -retry`). Matching is
/// case-sensitive, as in CloudWatch. An empty pattern matches everything. JSON (`{ ... }`) and
/// space-delimited (`[ ... ]`) patterns are refused as not supported by the emulator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilterPattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl FilterPattern {
    /// Parses `pattern`.
    pub fn parse(pattern: &str) -> Result<Self, ApiError> {
        let trimmed = pattern.trim();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return Err(ApiError::invalid(format!(
                "Invalid filter pattern: JSON and space-delimited filter patterns are not supported by this emulator: {trimmed}"
            )));
        }
        let mut out = FilterPattern::default();
        let mut chars = trimmed.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let kind = match first {
                '?' | '-' => {
                    chars.next();
                    first
                }
                _ => ' ',
            };
            let mut term = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                term.push(n);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => term.push(c),
                    }
                }
                if !closed {
                    return Err(ApiError::invalid(format!(
                        "Invalid filter pattern: unterminated quoted phrase in {trimmed}"
                    )));
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
            }
            if term.is_empty() {
                continue;
            }
            match kind {
                '?' => out.any.push(term),
                '-' => out.none.push(term),
                _ => out.all.push(term),
            }
        }
        Ok(out)
    }

    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
    }
}
