//! Values and expressions of Logs Insights: the fields of one event (its `@` fields and those
//! discovered in a JSON message, nested members as dotted paths), how values compare, sort and
//! print (timestamps as `2024-01-01 10:30:00.000` UTC, numbers in their shortest form: `12.5`,
//! `64`), and the evaluation of an expression over a row.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;

use super::ast::{BinOp, Expr};

/// One event of the snapshot a query runs over.
#[derive(Debug, Clone)]
pub struct Record {
    /// `@log`: `<account>:<log group>`.
    pub log: Arc<str>,
    pub stream: Arc<str>,
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: Arc<str>,
    pub id: u64,
}

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Num(f64),
    /// Milliseconds since the epoch.
    Time(i64),
    Bool(bool),
}

impl Val {
    pub(super) fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            #[allow(clippy::cast_precision_loss)]
            Val::Time(t) => Some(*t as f64),
            // Finite only: "NaN" and "inf" parse as floats, and would break the sort order.
            Val::Str(s) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
        }
    }

    pub(super) fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Num(n) => *n != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Time(_) => true,
        }
    }

    /// As CloudWatch prints it in results.
    pub fn display(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(n) => format_num(*n),
            Val::Time(ms) => format_time(*ms),
            Val::Bool(b) => b.to_string(),
        }
    }
}

/// A number in its shortest form: integers without a fraction.
pub fn format_num(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// `2024-01-01 10:30:00.000`, UTC.
pub fn format_time(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// One row: fields by name, and `@ptr` for rows that are events.
#[derive(Debug, Clone, Default)]
pub(super) struct Row {
    pub(super) fields: HashMap<String, Val>,
    pub(super) ptr: Option<String>,
}

impl Row {
    pub(super) fn of(r: &Record) -> Row {
        let mut fields = HashMap::new();
        fields.insert("@timestamp".into(), Val::Time(r.timestamp));
        fields.insert("@ingestionTime".into(), Val::Time(r.ingestion_time));
        fields.insert("@message".into(), Val::Str(r.message.to_string()));
        fields.insert("@logStream".into(), Val::Str(r.stream.to_string()));
        fields.insert("@log".into(), Val::Str(r.log.to_string()));
        if r.message.trim_start().starts_with('{')
            && let Ok(Json::Object(map)) = serde_json::from_str::<Json>(&r.message)
        {
            for (k, v) in map {
                flatten(&mut fields, k, v);
            }
        }
        let ptr = format!("{:x}", r.id);
        Row {
            fields,
            ptr: Some(ptr),
        }
    }
}

/// JSON members as fields: nested objects and arrays as dotted paths (`a.b`, `list.0`).
fn flatten(fields: &mut HashMap<String, Val>, name: String, v: Json) {
    match v {
        Json::Null => {}
        Json::Bool(b) => {
            fields.insert(name, Val::Bool(b));
        }
        Json::Number(n) => {
            fields.insert(name, Val::Num(n.as_f64().unwrap_or(f64::NAN)));
        }
        Json::String(s) => {
            fields.insert(name, Val::Str(s));
        }
        Json::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                flatten(fields, format!("{name}.{i}"), item);
            }
        }
        Json::Object(map) => {
            for (k, item) in map {
                flatten(fields, format!("{name}.{k}"), item);
            }
        }
    }
}

/// Compares two values: numerically when both are numbers (or a number and a numeric
/// string), else as text.
pub(super) fn compare(a: &Val, b: &Val) -> Ordering {
    let numeric =
        matches!(a, Val::Num(_) | Val::Time(_)) || matches!(b, Val::Num(_) | Val::Time(_));
    match (numeric, a.num(), b.num()) {
        (true, Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.display().cmp(&b.display()),
    }
}

/// CloudWatch's sort order: values that are not numbers first (in natural order: digit runs
/// by length, then value), numbers after, by value.
pub(super) fn sort_order(a: &Val, b: &Val) -> Ordering {
    let is_num = |v: &Val| match v {
        Val::Num(_) | Val::Time(_) => true,
        Val::Str(_) => v.num().is_some(),
        Val::Bool(_) => false,
    };
    match (is_num(a), is_num(b)) {
        (true, true) => a.num().partial_cmp(&b.num()).unwrap_or(Ordering::Equal),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, false) => natural(&a.display(), &b.display()),
    }
}

fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let run = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut s = String::new();
                    while let Some(c) = it.next_if(char::is_ascii_digit) {
                        s.push(c);
                    }
                    s
                };
                let (r, s) = (run(&mut x), run(&mut y));
                let o = r.len().cmp(&s.len()).then_with(|| r.cmp(&s));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(&d);
                }
                x.next();
                y.next();
            }
        }
    }
}

pub(super) fn eval(e: &Expr, row: &Row, aggs: &[Option<Val>]) -> Option<Val> {
    match e {
        Expr::Field(name) => row.fields.get(name).cloned(),
        Expr::Str(s) => Some(Val::Str(s.clone())),
        Expr::Num(n) => Some(Val::Num(*n)),
        #[allow(clippy::cast_precision_loss)]
        Expr::Dur(ms) => Some(Val::Num(*ms as f64)),
        Expr::Regex(re) => Some(Val::Str(re.as_str().to_string())),
        Expr::Agg(i) => aggs.get(*i).cloned().flatten(),
        Expr::Not(a) => Some(Val::Bool(!eval(a, row, aggs).is_some_and(|v| v.truthy()))),
        Expr::Neg(a) => eval(a, row, aggs)?.num().map(|n| Val::Num(-n)),
        Expr::Bin(op, a, b) => binary(*op, a, b, row, aggs),
        Expr::Like(a, pattern, negated) => {
            let found = match (eval(a, row, aggs), pattern.as_ref()) {
                (None, _) => false,
                (Some(v), Expr::Regex(re)) => re.is_match(&v.display()),
                (Some(v), p) => {
                    eval(p, row, aggs).is_some_and(|p| v.display().contains(p.display().as_str()))
                }
            };
            Some(Val::Bool(found != *negated))
        }
        Expr::In(a, list, negated) => {
            let found = eval(a, row, aggs).is_some_and(|v| {
                list.iter().any(|item| {
                    eval(item, row, aggs).is_some_and(|i| compare(&v, &i) == Ordering::Equal)
                })
            });
            Some(Val::Bool(found != *negated))
        }
        Expr::Call(f, args) => call(f, args, row, aggs),
    }
}

fn binary(op: BinOp, a: &Expr, b: &Expr, row: &Row, aggs: &[Option<Val>]) -> Option<Val> {
    match op {
        BinOp::And => {
            let l = eval(a, row, aggs).is_some_and(|v| v.truthy());
            return Some(Val::Bool(
                l && eval(b, row, aggs).is_some_and(|v| v.truthy()),
            ));
        }
        BinOp::Or => {
            let l = eval(a, row, aggs).is_some_and(|v| v.truthy());
            return Some(Val::Bool(
                l || eval(b, row, aggs).is_some_and(|v| v.truthy()),
            ));
        }
        _ => {}
    }
    let (l, r) = (eval(a, row, aggs), eval(b, row, aggs));
    let cmp = |want: fn(Ordering) -> bool| {
        Some(Val::Bool(match (&l, &r) {
            (Some(x), Some(y)) => want(compare(x, y)),
            _ => false,
        }))
    };
    let arith = |f: fn(f64, f64) -> f64| {
        let (x, y) = (l.as_ref()?.num()?, r.as_ref()?.num()?);
        let n = f(x, y);
        n.is_finite().then_some(Val::Num(n))
    };
    match op {
        BinOp::Eq => cmp(|o| o == Ordering::Equal),
        BinOp::Ne => cmp(|o| o != Ordering::Equal),
        BinOp::Lt => cmp(|o| o == Ordering::Less),
        BinOp::Le => cmp(|o| o != Ordering::Greater),
        BinOp::Gt => cmp(|o| o == Ordering::Greater),
        BinOp::Ge => cmp(|o| o != Ordering::Less),
        BinOp::Add => arith(|x, y| x + y),
        BinOp::Sub => arith(|x, y| x - y),
        BinOp::Mul => arith(|x, y| x * y),
        BinOp::Div => arith(|x, y| x / y),
        BinOp::Rem => arith(|x, y| x % y),
        BinOp::And | BinOp::Or => None,
    }
}

fn call(f: &str, args: &[Expr], row: &Row, aggs: &[Option<Val>]) -> Option<Val> {
    let arg = |i: usize| args.get(i).and_then(|a| eval(a, row, aggs));
    let text = |i: usize| arg(i).map(|v| v.display());
    let number = |i: usize| arg(i).and_then(|v| v.num());
    let floor_to = |t: i64, ms: i64| (ms > 0).then(|| Val::Time(t.div_euclid(ms) * ms));
    let duration = |i: usize| match args.get(i) {
        Some(Expr::Dur(ms)) => Some(*ms),
        _ => None,
    };
    match f {
        "ispresent" => Some(Val::Bool(arg(0).is_some())),
        "isempty" => Some(Val::Bool(text(0).is_none_or(|s| s.is_empty()))),
        "isblank" => Some(Val::Bool(text(0).is_none_or(|s| s.trim().is_empty()))),
        "coalesce" => (0..args.len()).find_map(arg),
        "concat" => Some(Val::Str((0..args.len()).filter_map(text).collect())),
        #[allow(clippy::cast_precision_loss)]
        "strlen" => text(0).map(|s| Val::Num(s.chars().count() as f64)),
        "toupper" => text(0).map(|s| Val::Str(s.to_uppercase())),
        "tolower" => text(0).map(|s| Val::Str(s.to_lowercase())),
        "trim" => text(0).map(|s| Val::Str(s.trim().to_string())),
        "ltrim" => text(0).map(|s| Val::Str(s.trim_start().to_string())),
        "rtrim" => text(0).map(|s| Val::Str(s.trim_end().to_string())),
        "strcontains" => Some(Val::Bool(
            text(0).zip(text(1)).is_some_and(|(s, t)| s.contains(&t)),
        )),
        "substr" => {
            let s = text(0)?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let start = number(1)?.max(0.0) as usize;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let len = number(2).map_or(usize::MAX, |n| n.max(0.0) as usize);
            Some(Val::Str(s.chars().skip(start).take(len).collect()))
        }
        "replace" => Some(Val::Str(text(0)?.replace(&text(1)?, &text(2)?))),
        "abs" => number(0).map(|n| Val::Num(n.abs())),
        "ceil" => number(0).map(|n| Val::Num(n.ceil())),
        "floor" => number(0).map(|n| Val::Num(n.floor())),
        "sqrt" => number(0).filter(|n| *n >= 0.0).map(|n| Val::Num(n.sqrt())),
        "greatest" => (0..args.len())
            .filter_map(number)
            .reduce(f64::max)
            .map(Val::Num),
        "least" => (0..args.len())
            .filter_map(number)
            .reduce(f64::min)
            .map(Val::Num),
        "bin" => match row.fields.get("@timestamp") {
            Some(Val::Time(t)) => floor_to(*t, duration(0)?),
            _ => None,
        },
        "datefloor" => match arg(0) {
            Some(Val::Time(t)) => floor_to(t, duration(1)?),
            _ => None,
        },
        _ => None,
    }
}
