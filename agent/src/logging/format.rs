//! The two line formats of `ECS_LOG_OUTPUT_FORMAT`, as the reference agent writes them:
//!
//! - `logfmt`: `level=info time=2026-12-07T00:20:51Z msg="..." key=value ... module=<target>`
//! - `json`: `{"level":"info","time":"...","msg":"...","key":value,...,"module":"<target>"}`
//!
//! The time is RFC 3339 in UTC to the second (the reference's `time.RFC3339`); the levels are
//! lower case. Event fields come first, then the fields of the spans the event is in, outermost
//! first. In logfmt, strings with spaces, quotes, `=` or control characters are quoted with
//! escapes; the message always is.

use std::fmt::{self, Write as _};

use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The reference's level names.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Now, as the lines say it.
fn now() -> String {
    let t = OffsetDateTime::now_utc();
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `s` bare when logfmt allows it, else quoted with escapes.
fn logfmt_value(s: &str) -> String {
    let bare = !s.is_empty()
        && !s
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c == '\\' || c.is_control());
    if bare {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// Records bridged from the `log` crate (bollard's, for one) carry their origin as `log.*`
/// fields: the target becomes the module, the rest is dropped.
fn log_field(name: &str) -> bool {
    name.starts_with("log.")
}

/// Collects an event's message and its other fields as ` key=value` pairs.
#[derive(Default)]
struct LogfmtVisitor {
    message: Option<String>,
    log_target: Option<String>,
    fields: String,
}

impl LogfmtVisitor {
    fn push(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = Some(value),
            "log.target" => self.log_target = Some(value),
            name if log_field(name) => {}
            name => {
                let _ = write!(self.fields, " {name}={}", logfmt_value(&value));
            }
        }
    }
}

impl Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" | "log.target" => self.push(field, value.to_string()),
            name if log_field(name) => {}
            // Strings are always quoted, as the reference's %q.
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

/// Span fields in logfmt (what [`Logfmt`] appends for each span).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogfmtFields;

impl<'w> FormatFields<'w> for LogfmtFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = LogfmtVisitor::default();
        fields.record(&mut v);
        if let Some(m) = v.message {
            write!(writer, "message={m:?}")?;
            if !v.fields.is_empty() {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(v.fields.trim_start())
    }
}

/// `ECS_LOG_OUTPUT_FORMAT=logfmt`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut v = LogfmtVisitor::default();
        event.record(&mut v);
        let meta = event.metadata();
        write!(
            writer,
            "level={} time={} msg={:?}{}",
            level_name(meta.level()),
            now(),
            v.message.unwrap_or_default(),
            v.fields
        )?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, " {fields}")?;
                }
            }
        }
        let module = v.log_target.as_deref().unwrap_or(meta.target());
        writeln!(writer, " module={module}")
    }
}

/// Collects an event's message and its other fields as JSON values.
#[derive(Default)]
struct JsonVisitor {
    message: Option<String>,
    log_target: Option<String>,
    fields: Vec<(String, serde_json::Value)>,
}

impl JsonVisitor {
    fn push(&mut self, field: &Field, value: serde_json::Value) {
        let text = |value: serde_json::Value| match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        match field.name() {
            "message" => self.message = Some(text(value)),
            "log.target" => self.log_target = Some(text(value)),
            name if log_field(name) => {}
            name => self.fields.push((name.to_string(), value)),
        }
    }
}

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}").into());
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// `ECS_LOG_OUTPUT_FORMAT=json`; span fields are recorded by tracing-subscriber's `JsonFields`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut v = JsonVisitor::default();
        event.record(&mut v);
        let meta = event.metadata();
        write!(
            writer,
            "{{\"level\":\"{}\",\"time\":\"{}\",\"msg\":{}",
            level_name(meta.level()),
            now(),
            json_string(v.message.as_deref().unwrap_or_default())
        )?;
        for (k, value) in &v.fields {
            write!(writer, ",{}:{value}", json_string(k))?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(serde_json::Value::Object(map)) =
                    serde_json::from_str::<serde_json::Value>(fields)
                {
                    for (k, value) in map {
                        write!(writer, ",{}:{value}", json_string(&k))?;
                    }
                }
            }
        }
        let module = v.log_target.as_deref().unwrap_or(meta.target());
        writeln!(writer, ",\"module\":{}}}", json_string(module))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_values_are_quoted_only_when_they_must_be() {
        assert_eq!(logfmt_value("abc-1/2:3"), "abc-1/2:3");
        assert_eq!(logfmt_value("a b"), "\"a b\"");
        assert_eq!(logfmt_value("a=b"), "\"a=b\"");
        assert_eq!(logfmt_value("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(logfmt_value("two\nlines"), "\"two\\nlines\"");
        assert_eq!(logfmt_value(""), "\"\"");
    }

    #[test]
    fn the_time_is_rfc3339_utc_to_the_second() {
        let t = now();
        assert_eq!(t.len(), "2026-12-07T00:20:51Z".len(), "{t}");
        assert!(t.ends_with('Z'), "{t}");
    }
}
