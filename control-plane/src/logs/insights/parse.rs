//! A Logs Insights query string -> [`Query`], the commands it pipes through (pure; unit-tested,
//! property-tested and fuzzed: no input makes it panic). Errors are CloudWatch's
//! `MalformedQueryException` words where known, with the byte range they point at.

use regex::Regex;

use super::QueryError;
use super::ast::{Agg, AggFn, BinOp, Command, Expr, Extract, FUNCTIONS, Named, Query};
use super::lex::{Tok, Token, tokens};

/// Commands a query may start a stage with (the words of CloudWatch's grammar errors).
const EXPECTING: &str =
    "{K_PARSE, K_FIELDS, K_DISPLAY, K_FILTER, K_STATS, K_SORT, K_LIMIT, K_DEDUP}";
/// The most rows `limit` may ask for.
pub const MAX_LIMIT: usize = 10_000;

struct Parser<'q> {
    query: &'q str,
    toks: &'q [Token],
    pos: usize,
    /// The aggregates of the `stats` being parsed; `None` outside `stats`.
    aggs: Option<Vec<Agg>>,
}

fn text_of(t: &Token, query: &str) -> String {
    query.get(t.start..t.end).unwrap_or_default().to_string()
}

impl<'q> Parser<'q> {
    fn peek(&self) -> Option<&'q Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<&'q Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn at_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Ident(s), .. }) if s.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let at = self.at_keyword(word);
        if at {
            self.pos += 1;
        }
        at
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let at = self.peek().is_some_and(|t| &t.tok == tok);
        if at {
            self.pos += 1;
        }
        at
    }

    /// CloudWatch's "mismatched input" for the token here (or the end of the query).
    fn mismatched(&self, expecting: &str) -> QueryError {
        match self.peek() {
            Some(t) => QueryError::new(
                format!(
                    "mismatched input '{}' expecting {expecting}",
                    text_of(t, self.query)
                ),
                t.start,
                t.end,
            ),
            None => QueryError::new(
                format!("mismatched input '<EOF>' expecting {expecting}"),
                self.query.len(),
                self.query.len(),
            ),
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), QueryError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.mismatched(what))
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, QueryError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(s), ..
            }) => {
                self.pos += 1;
                Ok(s.clone())
            }
            _ => Err(self.mismatched(what)),
        }
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let Some(first) = self.next() else {
            return Err(self.mismatched(EXPECTING));
        };
        let word = match &first.tok {
            Tok::Ident(w) => w.to_ascii_lowercase(),
            _ => {
                self.pos -= 1;
                return Err(self.mismatched(EXPECTING));
            }
        };
        Ok(match word.as_str() {
            "fields" => Command::Fields(self.named_list(true)?),
            "display" => Command::Display(self.named_list(false)?),
            "filter" | "where" => Command::Filter(self.expr()?),
            "stats" => self.stats()?,
            "sort" | "order" => self.sort()?,
            "limit" | "head" => self.limit()?,
            "parse" => self.parse_command()?,
            "dedup" => {
                let mut keys = vec![self.expr()?];
                while self.eat(&Tok::Comma) {
                    keys.push(self.expr()?);
                }
                Command::Dedup(keys)
            }
            _ => {
                self.pos -= 1;
                return Err(self.mismatched(EXPECTING));
            }
        })
    }

    /// `expr [as name], ...`; `aliases` allows `as`.
    fn named_list(&mut self, aliases: bool) -> Result<Vec<Named>, QueryError> {
        let mut out = Vec::new();
        loop {
            let start = self.peek().map_or(self.query.len(), |t| t.start);
            let expr = self.expr()?;
            let end = self
                .toks
                .get(self.pos.wrapping_sub(1))
                .map_or(start, |t| t.end);
            let name = if aliases && self.eat_keyword("as") {
                self.ident("an alias")?
            } else {
                match &expr {
                    Expr::Field(f) => f.clone(),
                    _ => self.query.get(start..end).unwrap_or_default().to_string(),
                }
            };
            out.push(Named { expr, name });
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    fn stats(&mut self) -> Result<Command, QueryError> {
        self.aggs = Some(Vec::new());
        let start = self.peek().map_or(self.query.len(), |t| t.start);
        let items = self.named_list(true);
        let aggs = self.aggs.take().unwrap_or_default();
        let items = items?;
        if let Some(item) = items.iter().find(|i| !contains_agg(&i.expr)) {
            return Err(QueryError::new(
                format!(
                    "Expression for field '{}' in stats must be an aggregate function",
                    item.name
                ),
                start,
                self.toks
                    .get(self.pos.wrapping_sub(1))
                    .map_or(start, |t| t.end),
            ));
        }
        let by = if self.eat_keyword("by") {
            self.named_list(true)?
        } else {
            Vec::new()
        };
        Ok(Command::Stats { aggs, items, by })
    }

    fn sort(&mut self) -> Result<Command, QueryError> {
        let mut keys = Vec::new();
        loop {
            let e = self.expr()?;
            let desc = if self.eat_keyword("desc") {
                true
            } else {
                self.eat_keyword("asc");
                false
            };
            keys.push((e, desc));
            if !self.eat(&Tok::Comma) {
                return Ok(Command::Sort(keys));
            }
        }
    }

    fn limit(&mut self) -> Result<Command, QueryError> {
        match self.peek() {
            Some(
                t @ Token {
                    tok: Tok::Num(n), ..
                },
            ) => {
                self.pos += 1;
                if n.fract() != 0.0 || *n < 1.0 || *n > MAX_LIMIT as f64 {
                    return Err(QueryError::new(
                        format!("limit must be between 1 and {MAX_LIMIT}"),
                        t.start,
                        t.end,
                    ));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Command::Limit(*n as usize))
            }
            _ => Err(self.mismatched("INTEGER_LITERAL")),
        }
    }

    fn parse_command(&mut self) -> Result<Command, QueryError> {
        let source = if matches!(
            self.peek(),
            Some(Token {
                tok: Tok::Str(_) | Tok::Regex(_),
                ..
            })
        ) {
            Expr::Field("@message".into())
        } else {
            Expr::Field(self.ident("a field")?)
        };
        let Some(t) = self.next() else {
            return Err(self.mismatched("a pattern"));
        };
        let bad_regex =
            |e: regex::Error| QueryError::new(format!("Invalid regex: {e}"), t.start, t.end);
        let extract = match &t.tok {
            Tok::Regex(re) => {
                let regex = Regex::new(re).map_err(bad_regex)?;
                let names: Vec<String> =
                    regex.capture_names().flatten().map(String::from).collect();
                if names.is_empty() || regex.captures_len() != names.len() + 1 {
                    return Err(QueryError::new(
                        "Regex must contain named capture groups only, like (?<name>...)",
                        t.start,
                        t.end,
                    ));
                }
                Extract { regex, names }
            }
            Tok::Str(glob) => {
                if !self.eat_keyword("as") {
                    return Err(self.mismatched("K_AS"));
                }
                let mut names = vec![self.ident("a field name")?];
                while self.eat(&Tok::Comma) {
                    names.push(self.ident("a field name")?);
                }
                let stars = glob.matches('*').count();
                if stars != names.len() {
                    return Err(QueryError::new(
                        format!(
                            "Pattern has {stars} wildcards but {} field names were given",
                            names.len()
                        ),
                        t.start,
                        t.end,
                    ));
                }
                Extract {
                    regex: Regex::new(&glob_regex(glob)).map_err(bad_regex)?,
                    names,
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.mismatched("a pattern"));
            }
        };
        Ok(Command::Parse(source, extract))
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            left = Expr::Bin(BinOp::Or, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not()?;
        while self.eat_keyword("and") {
            left = Expr::Bin(BinOp::And, Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.additive()?;
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Eq) => Some(BinOp::Eq),
            Some(Tok::Ne) => Some(BinOp::Ne),
            Some(Tok::Lt) => Some(BinOp::Lt),
            Some(Tok::Le) => Some(BinOp::Le),
            Some(Tok::Gt) => Some(BinOp::Gt),
            Some(Tok::Ge) => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            return Ok(Expr::Bin(op, Box::new(left), Box::new(self.additive()?)));
        }
        if self.eat(&Tok::Match) {
            return Ok(Expr::Like(
                Box::new(left),
                Box::new(self.additive()?),
                false,
            ));
        }
        let negated = self.at_keyword("not")
            && matches!(self.toks.get(self.pos + 1), Some(Token { tok: Tok::Ident(w), .. })
                if w.eq_ignore_ascii_case("like") || w.eq_ignore_ascii_case("in"));
        if negated {
            self.pos += 1;
        }
        if self.eat_keyword("like") {
            return Ok(Expr::Like(
                Box::new(left),
                Box::new(self.additive()?),
                negated,
            ));
        }
        if self.eat_keyword("in") {
            self.expect(&Tok::LBracket, "'['")?;
            let mut list = Vec::new();
            if !self.eat(&Tok::RBracket) {
                loop {
                    list.push(self.additive()?);
                    if self.eat(&Tok::RBracket) {
                        break;
                    }
                    self.expect(&Tok::Comma, "{',', ']'}")?;
                }
            }
            return Ok(Expr::In(Box::new(left), list, negated));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.eat(&Tok::Plus) {
                BinOp::Add
            } else if self.eat(&Tok::Minus) {
                BinOp::Sub
            } else {
                return Ok(left);
            };
            left = Expr::Bin(op, Box::new(left), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat(&Tok::Star) {
                BinOp::Mul
            } else if self.eat(&Tok::Slash) {
                BinOp::Div
            } else if self.eat(&Tok::Percent) {
                BinOp::Rem
            } else {
                return Ok(left);
            };
            left = Expr::Bin(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.eat(&Tok::Minus) {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        const WHAT: &str = "an expression";
        let Some(t) = self.next() else {
            return Err(self.mismatched(WHAT));
        };
        Ok(match &t.tok {
            Tok::Str(s) => Expr::Str(s.clone()),
            Tok::Num(n) => Expr::Num(*n),
            Tok::Dur(ms) => Expr::Dur(*ms),
            Tok::Regex(re) => Expr::Regex(
                Regex::new(re)
                    .map_err(|e| QueryError::new(format!("Invalid regex: {e}"), t.start, t.end))?,
            ),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(&Tok::RParen, "')'")?;
                e
            }
            Tok::Ident(name) if self.peek().is_some_and(|n| n.tok == Tok::LParen) => {
                self.pos += 1;
                self.call(name, t)?
            }
            Tok::Ident(name) => Expr::Field(name.clone()),
            _ => {
                self.pos -= 1;
                return Err(self.mismatched(WHAT));
            }
        })
    }

    /// A call of `name` (its token `t`), after the `(`.
    fn call(&mut self, name: &str, t: &Token) -> Result<Expr, QueryError> {
        if let Some(func) = AggFn::from_name(name) {
            if self.aggs.is_none() {
                return Err(QueryError::new(
                    format!("Aggregate function {name} is only allowed in stats"),
                    t.start,
                    t.end,
                ));
            }
            let arg = if self.eat(&Tok::Star) || self.peek().is_some_and(|n| n.tok == Tok::RParen) {
                None
            } else {
                Some(self.expr()?)
            };
            let mut pct = 50.0;
            if func == AggFn::Pct {
                self.expect(&Tok::Comma, "','")?;
                match self.peek().map(|n| &n.tok) {
                    Some(Tok::Num(p)) if (0.0..=100.0).contains(p) => {
                        pct = *p;
                        self.pos += 1;
                    }
                    _ => return Err(self.mismatched("a percentile between 0 and 100")),
                }
            }
            self.expect(&Tok::RParen, "')'")?;
            if arg.is_none() && func != AggFn::Count {
                return Err(QueryError::new(
                    format!("Function {name} requires a field argument"),
                    t.start,
                    t.end,
                ));
            }
            let aggs = self.aggs.get_or_insert_with(Vec::new);
            aggs.push(Agg { func, arg, pct });
            return Ok(Expr::Agg(aggs.len() - 1));
        }
        let lower = name.to_ascii_lowercase();
        if !FUNCTIONS.contains(&lower.as_str()) {
            return Err(QueryError::new(
                format!("Unknown function: {name}"),
                t.start,
                t.end,
            ));
        }
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.expr()?);
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "{',', ')'}")?;
            }
        }
        Ok(Expr::Call(lower, args))
    }
}

fn contains_agg(e: &Expr) -> bool {
    match e {
        Expr::Agg(_) => true,
        Expr::Not(a) | Expr::Neg(a) => contains_agg(a),
        Expr::Bin(_, a, b) | Expr::Like(a, b, _) => contains_agg(a) || contains_agg(b),
        Expr::In(a, list, _) => contains_agg(a) || list.iter().any(contains_agg),
        Expr::Call(_, args) => args.iter().any(contains_agg),
        _ => false,
    }
}

/// A `parse` glob (`"* [*] *"`) as a regex: literal text between lazy groups; the last group
/// takes the rest. Anchored at the start when the glob starts with `*`.
fn glob_regex(glob: &str) -> String {
    let parts: Vec<&str> = glob.split('*').collect();
    let mut re = String::new();
    if glob.starts_with('*') {
        re.push('^');
    }
    re.push_str("(?s)");
    for (i, part) in parts.iter().enumerate() {
        re.push_str(&regex::escape(part));
        if i + 1 < parts.len() {
            re.push_str(if i + 2 == parts.len() && parts[i + 1].is_empty() {
                "(.*)"
            } else {
                "(.*?)"
            });
        }
    }
    re
}

/// Parses a whole query string.
pub fn parse(query: &str) -> Result<Query, QueryError> {
    let toks = tokens(query)?;
    let mut commands = Vec::new();
    for stage in toks.split(|t| t.tok == Tok::Pipe) {
        let mut p = Parser {
            query,
            toks: stage,
            pos: 0,
            aggs: None,
        };
        if stage.is_empty() {
            // An empty stage: point at the pipe after it, or the end.
            let at = toks
                .iter()
                .find(|t| t.tok == Tok::Pipe && commands.is_empty())
                .map_or(query.len(), |t| t.start);
            return Err(QueryError::new(
                format!("mismatched input '|' expecting {EXPECTING}"),
                at,
                (at + 1).min(query.len()),
            ));
        }
        commands.push(p.command()?);
        if let Some(t) = p.peek() {
            return Err(QueryError::new(
                format!(
                    "extraneous input '{}' expecting {{<EOF>, '|'}}",
                    text_of(t, query)
                ),
                t.start,
                t.end,
            ));
        }
    }
    Ok(Query { commands })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_container_insights_query_parses_into_stats_by_bin() {
        let q = parse("stats avg(CpuUtilized), avg(MemoryUtilized) by bin(30m)").unwrap();
        let Command::Stats { aggs, items, by } = &q.commands[0] else {
            panic!("{q:?}");
        };
        assert_eq!(aggs.len(), 2);
        assert_eq!(items[0].name, "avg(CpuUtilized)");
        assert_eq!(items[1].name, "avg(MemoryUtilized)");
        assert_eq!(by[0].name, "bin(30m)");
        assert!(
            matches!(&by[0].expr, Expr::Call(f, a) if f == "bin" && matches!(a[..], [Expr::Dur(1_800_000)]))
        );
    }

    #[test]
    fn every_command_parses() {
        let q = parse(
            "fields @timestamp, @message, a.b as x | filter (x > 1 and y like /err/) or not z in [1, 'a'] \
             | parse @message '* [*] *' as p, q, r | parse /(?<user>\\w+)@/ | sort @timestamp desc, x \
             | limit 20 | dedup x | display x, p | stats count(*) as n, pct(latency, 99) by level",
        )
        .unwrap();
        assert_eq!(q.commands.len(), 9);
        assert!(matches!(q.commands[4], Command::Sort(ref k) if k.len() == 2 && k[0].1 && !k[1].1));
        assert!(matches!(q.commands[5], Command::Limit(20)));
    }

    #[test]
    fn malformed_queries_say_where_and_why() {
        let e = parse("fields a | count(*)").unwrap_err();
        assert_eq!(
            e.message,
            format!("mismatched input 'count' expecting {EXPECTING}")
        );
        assert_eq!((e.start, e.end), (11, 16));
        let e = parse("stats a by b").unwrap_err();
        assert!(
            e.message.contains("must be an aggregate function"),
            "{}",
            e.message
        );
        let e = parse("fields a b").unwrap_err();
        assert_eq!(e.message, "extraneous input 'b' expecting {<EOF>, '|'}");
        assert!(parse("limit 0").is_err());
        assert!(parse("limit 10001").is_err());
        assert!(parse("filter avg(x) > 1").is_err());
        assert!(parse("fields nosuch(x)").is_err());
        assert!(parse("parse @message '* *' as a").is_err());
        assert!(parse("parse @message /(\\d+)/").is_err());
        assert!(parse("").is_err());
        assert!(parse("fields a |").is_err());
        assert!(parse("filter a = ").is_err());
    }

    #[test]
    fn globs_become_lazy_groups_with_a_greedy_tail() {
        let re = Regex::new(&glob_regex("* [*] *")).unwrap();
        let c = re.captures("12:00 [ERROR] disk full").unwrap();
        assert_eq!((&c[1], &c[2], &c[3]), ("12:00", "ERROR", "disk full"));
        let re = Regex::new(&glob_regex("user=* action=*")).unwrap();
        let c = re.captures("ts user=bob action=login").unwrap();
        assert_eq!((&c[1], &c[2]), ("bob", "login"));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(q in ".{0,80}") {
            let _ = parse(&q);
        }

        #[test]
        fn nor_on_query_like_input(q in "(fields|filter|stats|sort|parse|limit|[a-z@.]{1,4}|[0-9]{1,3}[smh]?|[ |,()\\[\\]*/=<>!~'\"`-]|avg|count|by|as|not|like|in){0,25}") {
            let _ = parse(&q);
        }
    }
}
