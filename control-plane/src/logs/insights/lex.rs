//! The tokens of a Logs Insights query: identifiers (dotted paths, `@` fields, `` `quoted` ``),
//! strings, `/regex/` literals, numbers, durations (`30m`), operators and punctuation. Pure; each
//! token keeps its byte range in the query for messages and column names.

use super::QueryError;

/// One token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A field name, keyword or function name (backticks removed).
    Ident(String),
    /// A quoted string, escapes resolved.
    Str(String),
    /// A `/regex/` literal's pattern.
    Regex(String),
    /// A number.
    Num(f64),
    /// A duration (`5m`, `1h`) in milliseconds.
    Dur(i64),
    Pipe,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Star,
    Plus,
    Minus,
    Slash,
    Percent,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`
    Match,
}

/// A token and where it is (byte offsets, end exclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Tok {
    /// Whether a `/` after this token divides (rather than opening a regex).
    fn ends_operand(&self) -> bool {
        const BEFORE_PATTERN: [&str; 8] =
            ["like", "and", "or", "not", "in", "parse", "filter", "where"];
        if let Tok::Ident(word) = self {
            return !BEFORE_PATTERN.iter().any(|k| word.eq_ignore_ascii_case(k));
        }
        matches!(
            self,
            Tok::Str(_) | Tok::Regex(_) | Tok::Num(_) | Tok::Dur(_) | Tok::RParen | Tok::RBracket
        )
    }
}

/// Milliseconds in one `unit` of a duration, as `bin()` accepts them.
fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit {
        "ms" => 1,
        "s" | "sec" | "second" | "seconds" => 1_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return None,
    })
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '$' | '.')
}

fn recognition_error(query: &str, start: usize) -> QueryError {
    let ch = query[start..].chars().next().unwrap_or(' ');
    QueryError::new(
        format!("token recognition error at: '{ch}'"),
        start,
        start + ch.len_utf8(),
    )
}

/// Whether a `/` after `before` opens a regex: not after an operand, except the field of
/// `parse <field> /re/`.
fn opens_pattern(before: &[Token]) -> bool {
    if let [
        ..,
        parse,
        Token {
            tok: Tok::Ident(_), ..
        },
    ] = before
        && matches!(&parse.tok, Tok::Ident(w) if w.eq_ignore_ascii_case("parse"))
    {
        return true;
    }
    before.last().is_none_or(|last| !last.tok.ends_operand())
}

/// Splits `query` into tokens.
pub fn tokens(query: &str) -> Result<Vec<Token>, QueryError> {
    let mut out: Vec<Token> = Vec::new();
    let mut chars = query.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let simple = match c {
            '|' => Some(Tok::Pipe),
            ',' => Some(Tok::Comma),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '*' => Some(Tok::Star),
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '%' => Some(Tok::Percent),
            _ => None,
        };
        if let Some(tok) = simple {
            chars.next();
            out.push(Token {
                tok,
                start,
                end: start + 1,
            });
            continue;
        }
        let tok = match c {
            '=' | '!' | '<' | '>' => {
                chars.next();
                let next = chars.peek().map(|&(_, n)| n);
                let (tok, two) = match (c, next) {
                    ('=', Some('~')) => (Tok::Match, true),
                    ('=', Some('=')) => (Tok::Eq, true),
                    ('=', _) => (Tok::Eq, false),
                    ('!', Some('=')) => (Tok::Ne, true),
                    ('<', Some('=')) => (Tok::Le, true),
                    ('<', _) => (Tok::Lt, false),
                    ('>', Some('=')) => (Tok::Ge, true),
                    ('>', _) => (Tok::Gt, false),
                    _ => return Err(recognition_error(query, start)),
                };
                if two {
                    chars.next();
                }
                tok
            }
            '"' | '\'' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, ch)) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            Some((_, e)) => s.push(e),
                            None => break,
                        },
                        q if q == c => {
                            closed = true;
                            break;
                        }
                        other => s.push(other),
                    }
                }
                if !closed {
                    return Err(recognition_error(query, start));
                }
                Tok::Str(s)
            }
            '/' if opens_pattern(&out) => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, ch)) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some((_, '/')) => s.push('/'),
                            Some((_, e)) => {
                                s.push('\\');
                                s.push(e);
                            }
                            None => break,
                        },
                        '/' => {
                            closed = true;
                            break;
                        }
                        other => s.push(other),
                    }
                }
                if !closed {
                    return Err(recognition_error(query, start));
                }
                Tok::Regex(s)
            }
            '/' => {
                chars.next();
                Tok::Slash
            }
            '`' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                for (_, ch) in chars.by_ref() {
                    if ch == '`' {
                        closed = true;
                        break;
                    }
                    s.push(ch);
                }
                if !closed {
                    return Err(recognition_error(query, start));
                }
                Tok::Ident(s)
            }
            c if c.is_ascii_digit() || c == '.' => {
                let mut text = String::new();
                while let Some((_, ch)) = chars.next_if(|&(_, ch)| ch.is_ascii_digit() || ch == '.')
                {
                    text.push(ch);
                }
                let mut unit = String::new();
                while let Some((_, ch)) = chars.next_if(|&(_, ch)| ch.is_ascii_alphabetic()) {
                    unit.push(ch);
                }
                let end = chars.peek().map_or(query.len(), |&(i, _)| i);
                let bad = || {
                    QueryError::new(
                        format!("token recognition error at: '{}'", &query[start..end]),
                        start,
                        end,
                    )
                };
                let n: f64 = text.parse().map_err(|_| bad())?;
                if unit.is_empty() {
                    Tok::Num(n)
                } else {
                    let per = unit_ms(&unit).ok_or_else(bad)?;
                    #[allow(clippy::cast_possible_truncation)]
                    let ms = (n * per as f64) as i64;
                    Tok::Dur(ms)
                }
            }
            c if is_ident_start(c) => {
                let mut s = String::new();
                while let Some((_, ch)) = chars.next_if(|&(_, ch)| is_ident_char(ch)) {
                    s.push(ch);
                }
                Tok::Ident(s)
            }
            _ => return Err(recognition_error(query, start)),
        };
        let end = chars.peek().map_or(query.len(), |&(i, _)| i);
        out.push(Token { tok, start, end });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kinds(q: &str) -> Vec<Tok> {
        tokens(q).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn slashes_divide_after_operands_and_open_regexes_elsewhere() {
        assert_eq!(
            kinds("a / 2"),
            [Tok::Ident("a".into()), Tok::Slash, Tok::Num(2.0)]
        );
        assert_eq!(
            kinds(r"like /a\/b/"),
            [Tok::Ident("like".into()), Tok::Regex("a/b".into())]
        );
    }

    #[test]
    fn durations_strings_and_operators() {
        assert_eq!(
            kinds("bin(30m) 'x\\'y' >= =~ != `odd name`"),
            [
                Tok::Ident("bin".into()),
                Tok::LParen,
                Tok::Dur(1_800_000),
                Tok::RParen,
                Tok::Str("x'y".into()),
                Tok::Ge,
                Tok::Match,
                Tok::Ne,
                Tok::Ident("odd name".into()),
            ]
        );
        let e = tokens("fields \"open").unwrap_err();
        assert_eq!((e.start, e.end), (7, 8));
        assert!(tokens("5parsecs").is_err());
        assert!(tokens("a # b").is_err());
    }
}
