//! Runs a parsed [`Query`] over a snapshot of log events (pure, apart from a cancellation flag
//! it reads): the rows of each event (its `@` fields and the fields discovered in a JSON
//! message, nested members as dotted paths), then each command in turn. Values print as
//! CloudWatch prints them: timestamps as `2024-01-01 10:30:00.000` (UTC), numbers in their
//! shortest form (`12.5`, `64`).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use serde_json::Value as Json;

use super::parse::{Agg, AggFn, BinOp, Command, Expr, Named, Query};

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
    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            #[allow(clippy::cast_precision_loss)]
            Val::Time(t) => Some(*t as f64),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
        }
    }

    fn truthy(&self) -> bool {
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
struct Row {
    fields: HashMap<String, Val>,
    ptr: Option<String>,
}

impl Row {
    fn of(r: &Record) -> Row {
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

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Cancelled,
}

/// What a query found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Each row's fields and values, in column order.
    pub rows: Vec<Vec<(String, String)>>,
    pub records_matched: u64,
    pub records_scanned: u64,
    pub bytes_scanned: u64,
}

/// Compares two values: numerically when both are numbers (or a number and a numeric
/// string), else as text.
fn compare(a: &Val, b: &Val) -> Ordering {
    let numeric =
        matches!(a, Val::Num(_) | Val::Time(_)) || matches!(b, Val::Num(_) | Val::Time(_));
    match (numeric, a.num(), b.num()) {
        (true, Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.display().cmp(&b.display()),
    }
}

/// CloudWatch's sort order: values that are not numbers first (in natural order: digit runs
/// by length, then value), numbers after, by value.
fn sort_order(a: &Val, b: &Val) -> Ordering {
    let is_num = |v: &Val| match v {
        Val::Num(_) | Val::Time(_) => true,
        Val::Str(s) => !s.is_empty() && s.trim().parse::<f64>().is_ok(),
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

fn eval(e: &Expr, row: &Row, aggs: &[Option<Val>]) -> Option<Val> {
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

/// What an aggregate has seen of a group.
#[derive(Debug, Default)]
struct Acc {
    count: u64,
    values: Vec<f64>,
    distinct: BTreeSet<String>,
    earliest: Option<(i64, Val)>,
    latest: Option<(i64, Val)>,
}

impl Acc {
    fn add(&mut self, agg: &Agg, row: &Row) {
        let Some(arg) = &agg.arg else {
            self.count += 1;
            return;
        };
        let Some(v) = eval(arg, row, &[]) else {
            return;
        };
        self.count += 1;
        match agg.func {
            AggFn::Count => {}
            AggFn::CountDistinct => {
                self.distinct.insert(v.display());
            }
            AggFn::Earliest | AggFn::Latest => {
                let t = match row.fields.get("@timestamp") {
                    Some(Val::Time(t)) => *t,
                    _ => 0,
                };
                if self.earliest.as_ref().is_none_or(|(e, _)| t < *e) {
                    self.earliest = Some((t, v.clone()));
                }
                if self.latest.as_ref().is_none_or(|(l, _)| t >= *l) {
                    self.latest = Some((t, v));
                }
            }
            _ => {
                if let Some(n) = v.num() {
                    self.values.push(n);
                }
            }
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn finish(mut self, agg: &Agg) -> Option<Val> {
        let n = self.values.len() as f64;
        let num = |x: f64| x.is_finite().then_some(Val::Num(x));
        match agg.func {
            AggFn::Count => Some(Val::Num(self.count as f64)),
            AggFn::CountDistinct => Some(Val::Num(self.distinct.len() as f64)),
            AggFn::Sum => (n > 0.0).then(|| Val::Num(self.values.iter().sum())),
            AggFn::Avg => (n > 0.0)
                .then(|| self.values.iter().sum::<f64>() / n)
                .and_then(num),
            AggFn::Min => self.values.into_iter().reduce(f64::min).map(Val::Num),
            AggFn::Max => self.values.into_iter().reduce(f64::max).map(Val::Num),
            AggFn::Stddev => {
                if n < 2.0 {
                    return (n > 0.0).then_some(Val::Num(0.0));
                }
                let mean = self.values.iter().sum::<f64>() / n;
                let var = self.values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
                num(var.sqrt())
            }
            AggFn::Pct => {
                if self.values.is_empty() {
                    return None;
                }
                self.values
                    .sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let rank = ((agg.pct / 100.0 * n).ceil() as usize).clamp(1, self.values.len());
                Some(Val::Num(self.values[rank - 1]))
            }
            AggFn::Earliest => self.earliest.map(|(_, v)| v),
            AggFn::Latest => self.latest.map(|(_, v)| v),
        }
    }
}

/// `stats`: one row per distinct `by` key, in the order the keys were first seen.
fn stats(rows: Vec<Row>, aggs: &[Agg], items: &[Named], by: &[Named]) -> Vec<Row> {
    let mut order: Vec<Vec<Option<Val>>> = Vec::new();
    let mut groups: HashMap<Vec<String>, (usize, Vec<Acc>)> = HashMap::new();
    for row in &rows {
        let key: Vec<Option<Val>> = by.iter().map(|b| eval(&b.expr, row, &[])).collect();
        let text: Vec<String> = key
            .iter()
            .map(|k| k.as_ref().map_or("\u{0}".into(), Val::display))
            .collect();
        let (_, accs) = groups.entry(text).or_insert_with(|| {
            order.push(key);
            (
                order.len() - 1,
                aggs.iter().map(|_| Acc::default()).collect(),
            )
        });
        for (acc, agg) in accs.iter_mut().zip(aggs) {
            acc.add(agg, row);
        }
    }
    if by.is_empty() && groups.is_empty() {
        // A stats with no groups still answers one row (count 0).
        order.push(Vec::new());
        groups.insert(
            Vec::new(),
            (0, aggs.iter().map(|_| Acc::default()).collect()),
        );
    }
    let mut out: Vec<(usize, Row)> = groups
        .into_values()
        .map(|(i, accs)| {
            let values: Vec<Option<Val>> = accs
                .into_iter()
                .zip(aggs)
                .map(|(a, agg)| a.finish(agg))
                .collect();
            let mut row = Row::default();
            for (b, k) in by.iter().zip(&order[i]) {
                if let Some(k) = k {
                    row.fields.insert(b.name.clone(), k.clone());
                }
            }
            for item in items {
                if let Some(v) = eval(&item.expr, &Row::default(), &values) {
                    row.fields.insert(item.name.clone(), v);
                }
            }
            (i, row)
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

fn push_unique(columns: &mut Vec<String>, name: &str) {
    if !columns.iter().any(|c| c == name) {
        columns.push(name.to_string());
    }
}

/// Runs `query` over `records` (any order), returning at most `cap` rows; stops early when
/// `cancel` is set.
pub fn run(
    query: &Query,
    records: &[Record],
    cap: usize,
    cancel: &AtomicBool,
) -> Result<Outcome, Stopped> {
    let mut outcome = Outcome {
        records_scanned: records.len() as u64,
        bytes_scanned: records.iter().map(|r| r.message.len() as u64).sum(),
        ..Outcome::default()
    };
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse((r.timestamp, r.id)));
    let mut rows = Vec::with_capacity(sorted.len());
    for (i, r) in sorted.into_iter().enumerate() {
        if i % 1024 == 0 && cancel.load(AtomicOrdering::Relaxed) {
            return Err(Stopped::Cancelled);
        }
        rows.push(Row::of(r));
    }
    let mut columns: Vec<String> = Vec::new();
    let mut display: Option<Vec<String>> = None;
    let mut matched: Option<u64> = None;
    let mut limit = cap;
    for command in &query.commands {
        if cancel.load(AtomicOrdering::Relaxed) {
            return Err(Stopped::Cancelled);
        }
        match command {
            Command::Fields(list) => {
                for row in &mut rows {
                    for f in list {
                        match eval(&f.expr, row, &[]) {
                            Some(v) => row.fields.insert(f.name.clone(), v),
                            None => row.fields.remove(&f.name),
                        };
                    }
                }
                for f in list {
                    push_unique(&mut columns, &f.name);
                }
            }
            Command::Display(list) => {
                display = Some(list.iter().map(|f| f.name.clone()).collect());
            }
            Command::Filter(e) => rows.retain(|r| eval(e, r, &[]).is_some_and(|v| v.truthy())),
            Command::Parse(source, extract) => {
                for row in &mut rows {
                    let Some(text) = eval(source, row, &[]).map(|v| v.display()) else {
                        continue;
                    };
                    let Some(caps) = extract.regex.captures(&text) else {
                        continue;
                    };
                    for (i, name) in extract.names.iter().enumerate() {
                        if let Some(m) = caps.get(i + 1) {
                            row.fields
                                .insert(name.clone(), Val::Str(m.as_str().to_string()));
                        }
                    }
                }
            }
            Command::Stats { aggs, items, by } => {
                matched.get_or_insert(rows.len() as u64);
                rows = stats(rows, aggs, items, by);
                columns = by.iter().chain(items).map(|n| n.name.clone()).collect();
            }
            Command::Sort(keys) => rows.sort_by(|a, b| {
                keys.iter()
                    .map(|(k, desc)| match (eval(k, a, &[]), eval(k, b, &[])) {
                        (Some(x), Some(y)) if *desc => sort_order(&y, &x),
                        (Some(x), Some(y)) => sort_order(&x, &y),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => Ordering::Equal,
                    })
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            }),
            Command::Limit(n) => {
                matched.get_or_insert(rows.len() as u64);
                limit = limit.min(*n);
                rows.truncate(*n);
            }
            Command::Dedup(keys) => {
                let mut seen = BTreeSet::new();
                rows.retain(|r| {
                    let key: Vec<String> = keys
                        .iter()
                        .map(|k| eval(k, r, &[]).map_or("\u{0}".into(), |v| v.display()))
                        .collect();
                    seen.insert(key)
                });
            }
        }
    }
    outcome.records_matched = matched.unwrap_or(rows.len() as u64);
    let columns = display.unwrap_or(if columns.is_empty() {
        vec!["@timestamp".into(), "@message".into()]
    } else {
        columns
    });
    outcome.rows = rows
        .into_iter()
        .take(limit)
        .map(|row| {
            let mut out: Vec<(String, String)> = columns
                .iter()
                .filter_map(|c| row.fields.get(c).map(|v| (c.clone(), v.display())))
                .collect();
            if let Some(ptr) = row.ptr {
                out.push(("@ptr".into(), ptr));
            }
            out
        })
        .collect();
    Ok(outcome)
}
