//! GetMetricData: `MetricStat` queries over the stored samples and the metric math the console
//! writes (`m1+m2`, `m1/m2*100`, `SUM(METRICS())`, `AVG([m1,m2])`, `MIN`, `MAX`, `ABS`, numbers
//! and parentheses). A time series is a map from the period's start (epoch seconds) to its value;
//! arithmetic on two series keeps the timestamps both have, a scalar applies to every point, and
//! a function of a list of series works point by point (of one series, it is the scalar over
//! its points).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{bad_token, combination, invalid, invalid_value, missing};
use super::metrics::{
    Dimension, MetricKey, Metrics, Stat, aligned_start, check_dimensions, check_namespace,
    check_period, check_unit,
};
use super::wire::lenient;
use crate::front::ApiError;

/// A time series: period start (epoch seconds) -> value.
pub type Series = BTreeMap<i64, f64>;

/// `Metric`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricRef {
    /// Namespace.
    pub namespace: Option<String>,
    /// MetricName.
    pub metric_name: Option<String>,
    /// Dimensions.
    pub dimensions: Option<Vec<Dimension>>,
}

/// `MetricStat`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    /// The metric.
    pub metric: Option<MetricRef>,
    /// Seconds.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub period: Option<i64>,
    /// Statistic or extended statistic.
    pub stat: Option<String>,
    /// Unit filter.
    pub unit: Option<String>,
}

/// `MetricDataQuery`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataQuery {
    /// Short id (`m1`).
    pub id: Option<String>,
    /// A stored metric's statistic.
    pub metric_stat: Option<MetricStat>,
    /// Metric math.
    pub expression: Option<String>,
    /// A label for the result.
    pub label: Option<String>,
    /// Whether the result is answered.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub return_data: Option<bool>,
    /// The period of an expression.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub period: Option<i64>,
}

/// `GetMetricDataInput`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricDataRequest {
    metric_data_queries: Option<Vec<MetricDataQuery>>,
    #[serde(default, deserialize_with = "lenient::opt_ts")]
    start_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_ts")]
    end_time: Option<f64>,
    next_token: Option<String>,
    scan_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    max_datapoints: Option<i64>,
}

/// A checked `MetricStat`: the metric, its period, statistic and unit.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedStat {
    /// The metric.
    pub key: MetricKey,
    /// Seconds.
    pub period: i64,
    /// The statistic.
    pub stat: Stat,
    /// Unit filter.
    pub unit: Option<String>,
}

/// Checks a `MetricStat` (`at` names it, e.g. `MetricDataQueries.member.1.MetricStat`).
pub fn check_stat(ms: &MetricStat, at: &str) -> Result<CheckedStat, ApiError> {
    let metric = ms
        .metric
        .as_ref()
        .ok_or_else(|| missing(&format!("{at}.Metric")))?;
    let ns = check_namespace(
        metric.namespace.as_deref(),
        &format!("{at}.Metric.Namespace"),
        true,
    )?;
    let name = metric
        .metric_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing(&format!("{at}.Metric.MetricName")))?;
    let dims = check_dimensions(
        metric.dimensions.as_deref().unwrap_or_default(),
        &format!("{at}.Metric.Dimensions"),
    )?;
    let period = check_period(ms.period, &format!("{at}.Period"))?;
    let stat_name = ms
        .stat
        .as_deref()
        .ok_or_else(|| missing(&format!("{at}.Stat")))?;
    let stat =
        Stat::parse(stat_name).ok_or_else(|| invalid_value(stat_name, &format!("{at}.Stat")))?;
    let unit = check_unit(ms.unit.as_deref(), &format!("{at}.Unit"))?;
    Ok(CheckedStat {
        key: MetricKey::new(&ns, name, dims),
        period,
        stat,
        unit,
    })
}

impl Metrics {
    /// The series of a checked statistic over `[start, end)`.
    pub fn series(&self, s: &CheckedStat, start: f64, end: f64) -> Series {
        let start = aligned_start(start, s.period);
        self.aggregate(&s.key, start, end, s.period as f64, s.unit.as_deref())
            .into_iter()
            .filter_map(|(t, agg)| agg.stat(&s.stat).map(|v| (t, v)))
            .collect()
    }

    /// GetMetricData.
    pub fn get_metric_data(&self, req: GetMetricDataRequest) -> Result<Value, ApiError> {
        let queries = req
            .metric_data_queries
            .filter(|q| !q.is_empty())
            .ok_or_else(|| missing("MetricDataQueries"))?;
        if queries.len() > 500 {
            return Err(invalid(
                "The collection MetricDataQueries must not have a size greater than 500.",
            ));
        }
        let start = req.start_time.ok_or_else(|| missing("StartTime"))?;
        let end = req.end_time.ok_or_else(|| missing("EndTime"))?;
        if start >= end {
            return Err(invalid(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let descending = match req.scan_by.as_deref() {
            None | Some("TimestampDescending") => true,
            Some("TimestampAscending") => false,
            Some(other) => return Err(invalid_value(other, "ScanBy")),
        };
        let max_points = match req.max_datapoints {
            None => 100_800,
            Some(n) if n > 0 => n as usize,
            Some(n) => return Err(invalid_value(n, "MaxDatapoints")),
        };
        let skip = match req.next_token.as_deref() {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| bad_token())?,
        };
        // Ids first, so expressions may name queries that follow them.
        let mut ids = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            let at = format!("MetricDataQueries.member.{}", i + 1);
            let id =
                q.id.as_deref()
                    .ok_or_else(|| missing(&format!("{at}.Id")))?;
            let valid = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && id.len() <= 255;
            if !valid {
                return Err(invalid(format!(
                    "The value {id} for parameter {at}.Id is invalid. Only lowercase letters, numbers and underscores are allowed, and the first character must be a lowercase letter."
                )));
            }
            if ids.contains(&id) {
                return Err(invalid(format!(
                    "The values for parameter id in MetricDataQueries are not unique. Duplicate id: {id}."
                )));
            }
            ids.push(id);
        }
        // The MetricStat queries, then the expressions in order (each may use those before it
        // or any MetricStat).
        let mut values: BTreeMap<String, Series> = BTreeMap::new();
        let mut metric_ids = Vec::new();
        let mut default_period = None;
        for (i, q) in queries.iter().enumerate() {
            let at = format!("MetricDataQueries.member.{}", i + 1);
            match (&q.metric_stat, &q.expression) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(combination(format!(
                        "The parameter {at} must contain either MetricStat or Expression, but not both."
                    )));
                }
                (Some(ms), None) => {
                    let checked = check_stat(ms, &format!("{at}.MetricStat"))?;
                    default_period.get_or_insert(checked.period);
                    values.insert(ids[i].to_string(), self.series(&checked, start, end));
                    metric_ids.push(ids[i].to_string());
                }
                (None, Some(_)) => {}
            }
        }
        let mut labels = BTreeMap::new();
        for (i, q) in queries.iter().enumerate() {
            let Some(expr) = &q.expression else { continue };
            let at = format!("MetricDataQueries.member.{}.Expression", i + 1);
            let parsed = parse(expr)
                .map_err(|why| invalid(format!("Error in expression '{}': {why}", ids[i])))?;
            let env = Env {
                values: &values,
                metric_ids: &metric_ids,
            };
            let series = match eval(&parsed, &env)
                .map_err(|why| invalid(format!("Error in expression '{}': {why}", ids[i])))?
            {
                Val::Series(s) => s,
                Val::Scalar(v) => {
                    // A constant over the query's periods.
                    let period = q.period.or(default_period).unwrap_or(60).max(1);
                    let first = aligned_start(start, period) as i64;
                    (0..)
                        .map_while(|k: i64| first.checked_add(k.checked_mul(period)?))
                        .take_while(|t| (*t as f64) < end)
                        .take(100_800)
                        .map(|t| (t, v))
                        .collect()
                }
                Val::Array(_) => {
                    return Err(invalid(format!(
                        "The value for parameter {at} must return a single time series."
                    )));
                }
            };
            labels.insert(ids[i].to_string(), ids[i].to_string());
            values.insert(ids[i].to_string(), series);
        }
        // The answer, paged by datapoints in query order.
        let mut results = Vec::new();
        let mut seen = 0usize;
        let mut next = None;
        for (i, q) in queries.iter().enumerate() {
            if q.return_data == Some(false) {
                continue;
            }
            let id = ids[i];
            let label = q.label.clone().unwrap_or_else(|| {
                labels.get(id).cloned().unwrap_or_else(|| {
                    q.metric_stat
                        .as_ref()
                        .and_then(|m| m.metric.as_ref())
                        .and_then(|m| m.metric_name.clone())
                        .unwrap_or_else(|| id.to_string())
                })
            });
            let mut points: Vec<(i64, f64)> = values
                .get(id)
                .map(|s| s.iter().map(|(t, v)| (*t, *v)).collect())
                .unwrap_or_default();
            if descending {
                points.reverse();
            }
            let total = points.len();
            let from = skip.saturating_sub(seen).min(total);
            let to = skip
                .saturating_add(max_points)
                .saturating_sub(seen)
                .min(total)
                .max(from);
            let partial = to < total;
            if partial && next.is_none() {
                next = Some((seen + to).to_string());
            }
            seen += total;
            let page = &points[from..to];
            results.push(json!({
                "Id": id,
                "Label": label,
                "Timestamps": page.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
                "Values": page.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
                "StatusCode": if partial { "PartialData" } else { "Complete" },
            }));
        }
        let mut out = json!({"MetricDataResults": results, "Messages": []});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// Another query's id.
    Ref(String),
    /// A quoted string (a function's filter argument).
    Str(String),
    /// `a op b`.
    Bin(Box<Expr>, char, Box<Expr>),
    /// `-a`.
    Neg(Box<Expr>),
    /// `F(args)`.
    Call(String, Vec<Expr>),
    /// `[a, b]`.
    List(Vec<Expr>),
}

/// Parses metric math.
pub fn parse(s: &str) -> Result<Expr, String> {
    let tokens = tokenize(s)?;
    let mut p = Parser { tokens, pos: 0 };
    let e = p.sum()?;
    if p.pos != p.tokens.len() {
        return Err(format!("Unexpected token at position {}.", p.pos + 1));
    }
    Ok(e)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Str(String),
    Sym(char),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Num(
                text.parse()
                    .map_err(|_| format!("Invalid number {text}."))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            if i == chars.len() {
                return Err("Unterminated string.".into());
            }
            out.push(Tok::Str(chars[start..i].iter().collect()));
            i += 1;
        } else if "+-*/()[],".contains(c) {
            out.push(Tok::Sym(c));
            i += 1;
        } else {
            return Err(format!("Unexpected character '{c}'."));
        }
        if out.len() > 1000 {
            return Err("The expression is too long.".into());
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut e = self.product()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym(c @ ('+' | '-'))) => *c,
                _ => return Ok(e),
            };
            self.pos += 1;
            e = Expr::Bin(Box::new(e), op, Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym(c @ ('*' | '/'))) => *c,
                _ => return Ok(e),
            };
            self.pos += 1;
            e = Expr::Bin(Box::new(e), op, Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat('-') {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }

    fn list(&mut self, close: char) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.sum()?);
            if self.eat(close) {
                return Ok(items);
            }
            if !self.eat(',') {
                return Err(format!("Expected ',' or '{close}'."));
            }
        }
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let tok = self
            .peek()
            .cloned()
            .ok_or("Unexpected end of expression.")?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Ident(name) => {
                if self.eat('(') {
                    Ok(Expr::Call(name.to_ascii_uppercase(), self.list(')')?))
                } else {
                    Ok(Expr::Ref(name))
                }
            }
            Tok::Sym('(') => {
                let e = self.sum()?;
                if !self.eat(')') {
                    return Err("Expected ')'.".into());
                }
                Ok(e)
            }
            Tok::Sym('[') => Ok(Expr::List(self.list(']')?)),
            Tok::Sym(c) => Err(format!("Unexpected '{c}'.")),
        }
    }
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A number.
    Scalar(f64),
    /// One time series.
    Series(Series),
    /// Several.
    Array(Vec<Series>),
}

struct Env<'a> {
    values: &'a BTreeMap<String, Series>,
    metric_ids: &'a [String],
}

fn arith(a: f64, op: char, b: f64) -> Option<f64> {
    let v = match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        _ => {
            if b == 0.0 {
                return None;
            }
            a / b
        }
    };
    v.is_finite().then_some(v)
}

fn binary(a: Val, op: char, b: Val) -> Result<Val, String> {
    let on = |s: &Series, f: &dyn Fn(f64) -> Option<f64>| -> Series {
        s.iter()
            .filter_map(|(t, v)| f(*v).map(|r| (*t, r)))
            .collect()
    };
    Ok(match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => Val::Scalar(arith(x, op, y).unwrap_or(f64::NAN)),
        (Val::Series(s), Val::Scalar(y)) => Val::Series(on(&s, &|v| arith(v, op, y))),
        (Val::Scalar(x), Val::Series(s)) => Val::Series(on(&s, &|v| arith(x, op, v))),
        (Val::Series(a), Val::Series(b)) => Val::Series(
            a.iter()
                .filter_map(|(t, x)| b.get(t).and_then(|y| arith(*x, op, *y)).map(|r| (*t, r)))
                .collect(),
        ),
        (Val::Array(items), other) => Val::Array(
            items
                .into_iter()
                .map(|s| match binary(Val::Series(s), op, other.clone())? {
                    Val::Series(s) => Ok(s),
                    _ => Err("Invalid arithmetic on a list of time series.".to_string()),
                })
                .collect::<Result<_, _>>()?,
        ),
        (other, Val::Array(items)) => Val::Array(
            items
                .into_iter()
                .map(|s| match binary(other.clone(), op, Val::Series(s))? {
                    Val::Series(s) => Ok(s),
                    _ => Err("Invalid arithmetic on a list of time series.".to_string()),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn reduce(name: &str, vals: &[f64]) -> Option<f64> {
    if vals.is_empty() {
        return None;
    }
    Some(match name {
        "SUM" => vals.iter().sum(),
        "AVG" => vals.iter().sum::<f64>() / vals.len() as f64,
        "MIN" => vals.iter().copied().fold(f64::INFINITY, f64::min),
        _ => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

fn eval(e: &Expr, env: &Env<'_>) -> Result<Val, String> {
    Ok(match e {
        Expr::Num(n) => Val::Scalar(*n),
        Expr::Str(_) => return Err("A string is only allowed as a function's argument.".into()),
        Expr::Ref(id) => Val::Series(
            env.values
                .get(id)
                .cloned()
                .ok_or_else(|| format!("Unknown metric or expression id: {id}."))?,
        ),
        Expr::Neg(a) => binary(Val::Scalar(0.0), '-', eval(a, env)?)?,
        Expr::Bin(a, op, b) => binary(eval(a, env)?, *op, eval(b, env)?)?,
        Expr::List(items) => {
            let mut out = Vec::new();
            for item in items {
                match eval(item, env)? {
                    Val::Series(s) => out.push(s),
                    Val::Array(a) => out.extend(a),
                    Val::Scalar(_) => return Err("A list holds time series only.".into()),
                }
            }
            Val::Array(out)
        }
        Expr::Call(name, args) => match name.as_str() {
            "METRICS" => Val::Array(
                env.metric_ids
                    .iter()
                    .filter(|id| match args.first() {
                        Some(Expr::Str(f)) => id.contains(f.as_str()),
                        _ => true,
                    })
                    .filter_map(|id| env.values.get(id).cloned())
                    .collect(),
            ),
            "ABS" => match args.as_slice() {
                [a] => binary(eval(a, env)?, '*', Val::Scalar(1.0)).map(|v| match v {
                    Val::Scalar(x) => Val::Scalar(x.abs()),
                    Val::Series(s) => {
                        Val::Series(s.into_iter().map(|(t, v)| (t, v.abs())).collect())
                    }
                    Val::Array(a) => Val::Array(
                        a.into_iter()
                            .map(|s| s.into_iter().map(|(t, v)| (t, v.abs())).collect())
                            .collect(),
                    ),
                })?,
                _ => return Err("ABS takes one argument.".into()),
            },
            "SUM" | "AVG" | "MIN" | "MAX" => match args.as_slice() {
                [a] => match eval(a, env)? {
                    Val::Scalar(x) => Val::Scalar(x),
                    Val::Series(s) => {
                        let vals: Vec<f64> = s.values().copied().collect();
                        Val::Scalar(reduce(name, &vals).unwrap_or(f64::NAN))
                    }
                    Val::Array(items) => {
                        let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                        for s in &items {
                            for (t, v) in s {
                                by_time.entry(*t).or_default().push(*v);
                            }
                        }
                        Val::Series(
                            by_time
                                .into_iter()
                                .filter_map(|(t, vs)| reduce(name, &vs).map(|v| (t, v)))
                                .collect(),
                        )
                    }
                },
                _ => return Err(format!("{name} takes one argument.")),
            },
            other => return Err(format!("Unsupported function {other}.")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::metrics::{Sample, SampleData};
    use crate::cloudwatch::wire::decode;

    fn store() -> Metrics {
        let mut m = Metrics::default();
        for (name, vals) in [("A", [1.0, 2.0, 3.0]), ("B", [4.0, 5.0, 0.0])] {
            let key = MetricKey::new("N", name, vec![]);
            m.insert(vals.iter().enumerate().map(|(i, v)| {
                (
                    key.clone(),
                    Sample {
                        t: 60.0 * i as f64,
                        unit: "Count".into(),
                        data: SampleData::Value(*v),
                    },
                )
            }));
        }
        m
    }

    fn query(exprs: Value) -> Value {
        let req: GetMetricDataRequest = decode(json!({
            "StartTime": 0, "EndTime": 180, "ScanBy": "TimestampAscending",
            "MetricDataQueries": exprs,
        }))
        .unwrap();
        store().get_metric_data(req).unwrap()
    }

    fn stat(id: &str, name: &str) -> Value {
        json!({"Id": id, "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": name}, "Period": 60, "Stat": "Sum"}})
    }

    #[test]
    fn metric_stat_and_math() {
        let out = query(json!([stat("m1", "A"), stat("m2", "B"),
            {"Id": "e1", "Expression": "m1+m2"},
            {"Id": "e2", "Expression": "m1/m2*100", "Label": "ratio"},
            {"Id": "e3", "Expression": "SUM(METRICS())"},
            {"Id": "e4", "Expression": "MAX([m1, m2]) - 1"}]));
        let r = out["MetricDataResults"].as_array().unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0]["Values"], json!([5.0, 7.0, 3.0]));
        assert_eq!(r[0]["Timestamps"], json!([0, 60, 120]));
        // Division by zero leaves the point out.
        assert_eq!(r[1]["Values"], json!([25.0, 40.0]));
        assert_eq!(r[1]["Label"], json!("ratio"));
        assert_eq!(r[2]["Values"], json!([5.0, 7.0, 3.0]));
        assert_eq!(r[3]["Values"], json!([3.0, 4.0, 2.0]));
        let out = query(
            json!([{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "A"}, "Period": 60, "Stat": "Average"}}]),
        );
        assert_eq!(out["MetricDataResults"][0]["Label"], json!("A"));
        assert_eq!(out["MetricDataResults"][0]["StatusCode"], json!("Complete"));
    }

    #[test]
    fn paging_and_errors() {
        let req: GetMetricDataRequest = decode(json!({
            "StartTime": 0, "EndTime": 180, "MaxDatapoints": 2,
            "MetricDataQueries": [{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "A"}, "Period": 60, "Stat": "Sum"}}],
        }))
        .unwrap();
        let out = store().get_metric_data(req).unwrap();
        assert_eq!(out["MetricDataResults"][0]["Values"], json!([3.0, 2.0]));
        let token = out["NextToken"].as_str().unwrap().to_string();
        let req: GetMetricDataRequest = decode(json!({
            "StartTime": 0, "EndTime": 180, "MaxDatapoints": 2, "NextToken": token,
            "MetricDataQueries": [{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "A"}, "Period": 60, "Stat": "Sum"}}],
        }))
        .unwrap();
        let out = store().get_metric_data(req).unwrap();
        assert_eq!(out["MetricDataResults"][0]["Values"], json!([1.0]));
        assert!(out.get("NextToken").is_none());
        // Far-off or non-finite times are refused at decoding; huge tokens page past the end.
        for t in [json!(1e300), json!("NaN"), json!("Infinity")] {
            let bad: Result<GetMetricDataRequest, _> =
                decode(json!({"StartTime": t, "EndTime": 1}));
            assert!(bad.is_err(), "{t}");
        }
        let req: GetMetricDataRequest = decode(json!({
            "StartTime": 0, "EndTime": 180, "NextToken": usize::MAX.to_string(),
            "MetricDataQueries": [{"Id": "e1", "Expression": "2", "Period": 8_000_000_000_000_000i64}],
        }))
        .unwrap();
        assert!(store().get_metric_data(req).is_ok());
        assert!(parse("m1 +").is_err());
        assert!(parse("m1 $ 2").is_err());
        let req: GetMetricDataRequest = decode(json!({
            "StartTime": 0, "EndTime": 180,
            "MetricDataQueries": [{"Id": "e1", "Expression": "m9 * 2"}],
        }))
        .unwrap();
        let e = store().get_metric_data(req).unwrap_err();
        assert_eq!(e.code.as_str(), "InvalidParameterValue");
        let req: GetMetricDataRequest = decode(json!({
            "StartTime": 0, "EndTime": 180,
            "MetricDataQueries": [{"Id": "M1", "Expression": "1"}],
        }))
        .unwrap();
        assert!(store().get_metric_data(req).is_err());
    }
}
