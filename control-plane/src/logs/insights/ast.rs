//! The parsed form of a Logs Insights query: commands, expressions, aggregates. Plain data,
//! built by parse.rs and run by eval.rs.

use regex::Regex;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// An aggregate of `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Stddev,
    Pct,
    Earliest,
    Latest,
}

impl AggFn {
    /// The aggregate called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "count" => AggFn::Count,
            "count_distinct" => AggFn::CountDistinct,
            "sum" => AggFn::Sum,
            "avg" => AggFn::Avg,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "stddev" => AggFn::Stddev,
            "pct" | "percentile" => AggFn::Pct,
            "earliest" => AggFn::Earliest,
            "latest" => AggFn::Latest,
            _ => return None,
        })
    }
}

/// One aggregate of a `stats` command: its function, argument (`None` for `*`) and, for
/// `pct`, the percentile.
#[derive(Debug, Clone)]
pub struct Agg {
    pub func: AggFn,
    pub arg: Option<Expr>,
    pub pct: f64,
}

/// The scalar functions the evaluator knows.
pub const FUNCTIONS: &[&str] = &[
    "ispresent",
    "isempty",
    "isblank",
    "coalesce",
    "concat",
    "strlen",
    "toupper",
    "tolower",
    "trim",
    "ltrim",
    "rtrim",
    "strcontains",
    "substr",
    "replace",
    "abs",
    "ceil",
    "floor",
    "sqrt",
    "greatest",
    "least",
    "bin",
    "datefloor",
];

/// An expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Field(String),
    Str(String),
    Num(f64),
    /// A duration, in milliseconds (`bin(5m)`).
    Dur(i64),
    Regex(Regex),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `e like "text"` (substring) or `e like /re/`, `e =~ /re/`; negated by `not like`.
    Like(Box<Expr>, Box<Expr>, bool),
    /// `e in [..]`, negated by `not in`.
    In(Box<Expr>, Vec<Expr>, bool),
    Call(String, Vec<Expr>),
    /// The `n`th aggregate of the enclosing `stats`.
    Agg(usize),
}

/// An expression with the name its column gets: the alias, or its text in the query.
#[derive(Debug, Clone)]
pub struct Named {
    pub expr: Expr,
    pub name: String,
}

/// How `parse` extracts fields.
#[derive(Debug, Clone)]
pub struct Extract {
    /// A regex with one capture group per field (a glob becomes one).
    pub regex: Regex,
    /// The field each group fills, in group order.
    pub names: Vec<String>,
}

/// One stage of the pipe.
#[derive(Debug, Clone)]
pub enum Command {
    Fields(Vec<Named>),
    Display(Vec<Named>),
    Filter(Expr),
    Stats {
        aggs: Vec<Agg>,
        items: Vec<Named>,
        by: Vec<Named>,
    },
    /// Keys and whether each is descending.
    Sort(Vec<(Expr, bool)>),
    Limit(usize),
    Parse(Expr, Extract),
    Dedup(Vec<Expr>),
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    pub commands: Vec<Command>,
}
