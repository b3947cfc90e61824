//! Placement filters beyond resources: a task definition's `requiresAttributes` and the placement
//! constraints of the task definition and RunTask (`memberOf` with the cluster query language,
//! `distinctInstance`).
//!
//! Pure functions over an instance's facts; the State actor (`ecs/placement/mod.rs`) gathers the facts and
//! calls these. Nothing here touches state. The failure reasons are ECS's own words:
//! `ATTRIBUTE`, `MemberOf placement constraint unsatisfied.` and
//! `DistinctInstance placement constraint unsatisfied.`.
//!
//! The query language subset: `attribute:NAME`, `ec2InstanceId`, `agentConnected`,
//! `agentVersion`, `registeredAt`, `runningTasksCount` and `task:group` fields; the operators
//! `==`/`equals`, `!=`/`not_equals`, `>`/`greater_than`, `>=`/`greater_than_equal`,
//! `<`/`less_than`, `<=`/`less_than_equal`, `exists`, `!exists`/`not_exists`, `in [a, b]`,
//! `!in`/`not_in`, `=~`/`matches` and `!~`/`not_matches` (`*` wildcards); joined with
//! `and`/`&&`, `or`/`||`, `not`/`!` and parentheses (`and` binds tighter than `or`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ecs::model::Attribute;

/// Reason for an instance lacking a required attribute.
pub const ATTRIBUTE: &str = "ATTRIBUTE";
/// Reason for an instance outside a `memberOf` expression.
pub const MEMBER_OF_UNSATISFIED: &str = "MemberOf placement constraint unsatisfied.";
/// Reason for an instance already running a task of the group.
pub const DISTINCT_INSTANCE_UNSATISFIED: &str =
    "DistinctInstance placement constraint unsatisfied.";

/// At most this many constraints per task, task definition and RunTask together.
pub const MAX_CONSTRAINTS: usize = 10;
/// Longest accepted expression.
pub const MAX_EXPRESSION_CHARS: usize = 2000;
/// Deepest accepted nesting of parentheses and `not`, so that a hostile expression cannot
/// overflow the actor's stack.
pub const MAX_NESTING: usize = 32;

/// Errors in placement constraints (answered as `InvalidParameterException`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A constraint type other than `memberOf` / `distinctInstance`.
    #[error(
        "Invalid placement constraint type '{0}'; valid types are memberOf and distinctInstance."
    )]
    UnknownType(String),
    /// `distinctInstance` in a task definition (ECS's words).
    #[error("constraint.type 'distinctInstance' is not supported.")]
    DistinctInTaskDefinition,
    /// `distinctInstance` with an expression, even an empty one (ECS's words).
    #[error("distinctInstance expression should not be specified.")]
    ExpressionWithDistinct,
    /// `memberOf` without an expression.
    #[error("An expression must be specified with the memberOf constraint type.")]
    MissingExpression,
    /// Over 10 constraints.
    #[error("Too many placement constraints: {0}; at most {MAX_CONSTRAINTS} are allowed.")]
    TooMany(usize),
    /// A constraint that is not an object with a string type.
    #[error("Invalid placement constraint: {0}")]
    Malformed(String),
    /// A cluster query language expression that does not parse.
    #[error("Invalid placement constraint expression '{expression}': {reason}")]
    Expression {
        /// The expression.
        expression: String,
        /// What is wrong, and where.
        reason: String,
    },
}

/// What the constraints look at on one instance.
#[derive(Debug, Clone)]
pub struct InstanceFacts<'a> {
    /// Registered and custom attributes.
    pub attributes: &'a [Attribute],
    /// EC2 or managed instance id.
    pub ec2_instance_id: &'a str,
    /// Whether its agent holds an ACS connection.
    pub agent_connected: bool,
    /// Agent version as reported, if known.
    pub agent_version: Option<&'a str>,
    /// Registration time (epoch seconds).
    pub registered_at: f64,
    /// Active (not STOPPED) tasks on it.
    pub running_tasks_count: usize,
    /// Groups of its active tasks, with how many tasks are in each (borrowed from the
    /// instance's load: placement looks at every instance on every RunTask).
    pub task_groups: &'a BTreeMap<String, usize>,
}

/// The first required attribute `attributes` does not satisfy (name, and value when one is
/// required), in the order of `requires_attributes`.
pub fn missing_attribute<'a>(required: &'a [Value], attributes: &[Attribute]) -> Option<&'a str> {
    required.iter().find_map(|r| {
        let name = r.get("name").and_then(Value::as_str)?;
        let value = r.get("value").and_then(Value::as_str);
        let present = attributes
            .iter()
            .any(|a| a.name == name && value.is_none_or(|v| a.value.as_deref() == Some(v)));
        (!present).then_some(name)
    })
}

/// Why a task of `group` needing `required` attributes (the task definition's
/// `requiresAttributes`) under `constraints` cannot go on an instance with `facts`, if it cannot.
pub fn refusal(
    required: &[Value],
    constraints: &[Constraint],
    facts: &InstanceFacts<'_>,
    group: &str,
) -> Option<&'static str> {
    if missing_attribute(required, facts.attributes).is_some() {
        return Some(ATTRIBUTE);
    }
    constraints.iter().find_map(|c| c.unsatisfied(facts, group))
}

/// One parsed placement constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Each task of the group on a different instance.
    DistinctInstance,
    /// Only instances matching the expression.
    MemberOf(Expr),
}

impl Constraint {
    /// The ECS failure reason when `facts` does not satisfy this constraint for a task of
    /// `group`.
    pub fn unsatisfied(&self, facts: &InstanceFacts<'_>, group: &str) -> Option<&'static str> {
        match self {
            Constraint::DistinctInstance => facts
                .task_groups
                .contains_key(group)
                .then_some(DISTINCT_INSTANCE_UNSATISFIED),
            Constraint::MemberOf(e) => (!e.eval(facts)).then_some(MEMBER_OF_UNSATISFIED),
        }
    }
}

/// Parses the task definition's `placementConstraints` and RunTask's together.
pub fn parse_constraints(from_def: &[Value], run_task: &[Value]) -> Result<Vec<Constraint>, Error> {
    if from_def.len() + run_task.len() > MAX_CONSTRAINTS {
        return Err(Error::TooMany(from_def.len() + run_task.len()));
    }
    let mut out = Vec::new();
    for c in from_def {
        let parsed = parse_constraint(c)?;
        if parsed == Constraint::DistinctInstance {
            return Err(Error::DistinctInTaskDefinition);
        }
        out.push(parsed);
    }
    for c in run_task {
        out.push(parse_constraint(c)?);
    }
    Ok(out)
}

/// Parses one `{"type": ..., "expression": ...}` object.
pub fn parse_constraint(c: &Value) -> Result<Constraint, Error> {
    let kind = c
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Malformed(format!("{c}: type must be a string")))?;
    let expression = c.get("expression").and_then(Value::as_str);
    match kind {
        "distinctInstance" => match expression {
            Some(_) => Err(Error::ExpressionWithDistinct),
            None => Ok(Constraint::DistinctInstance),
        },
        "memberOf" => match expression {
            Some(e) if !e.trim().is_empty() => Ok(Constraint::MemberOf(parse_expression(e)?)),
            _ => Err(Error::MissingExpression),
        },
        other => Err(Error::UnknownType(other.to_string())),
    }
}

/// A field of the query language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `attribute:NAME`.
    Attribute(String),
    /// `ec2InstanceId`.
    Ec2InstanceId,
    /// `agentConnected`.
    AgentConnected,
    /// `agentVersion`.
    AgentVersion,
    /// `registeredAt`.
    RegisteredAt,
    /// `runningTasksCount`.
    RunningTasksCount,
    /// `task:group` (the groups of the instance's tasks).
    TaskGroup,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`.
    Eq,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `exists`.
    Exists,
    /// `in [...]`.
    In,
    /// `=~`.
    Matches,
}

/// A parsed cluster query language expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `field op value(s)`; `negated` for `!=`, `!exists`, `!in`, `!~`.
    Compare {
        /// Field.
        field: Field,
        /// Operator.
        op: Op,
        /// Whether the operator is the negated form.
        negated: bool,
        /// Operand(s): none for exists, several for in.
        values: Vec<String>,
    },
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Negation.
    Not(Box<Expr>),
}

impl Expr {
    /// Whether an instance with `facts` matches.
    pub fn eval(&self, facts: &InstanceFacts<'_>) -> bool {
        match self {
            Expr::And(a, b) => a.eval(facts) && b.eval(facts),
            Expr::Or(a, b) => a.eval(facts) || b.eval(facts),
            Expr::Not(e) => !e.eval(facts),
            Expr::Compare {
                field,
                op,
                negated,
                values,
            } => {
                let actual = field_values(field, facts);
                let hit = actual.iter().any(|a| compare(a.as_deref(), *op, values));
                hit != *negated
            }
        }
    }
}

/// The field's values on the instance: `None` for a name-only attribute, empty when absent.
fn field_values(field: &Field, facts: &InstanceFacts<'_>) -> Vec<Option<String>> {
    match field {
        Field::Attribute(name) => facts
            .attributes
            .iter()
            .filter(|a| &a.name == name)
            .map(|a| a.value.clone())
            .collect(),
        Field::Ec2InstanceId => vec![Some(facts.ec2_instance_id.to_string())],
        Field::AgentConnected => vec![Some(facts.agent_connected.to_string())],
        Field::AgentVersion => facts
            .agent_version
            .map(|v| vec![Some(v.to_string())])
            .unwrap_or_default(),
        Field::RegisteredAt => vec![Some(format!("{}", facts.registered_at as i64))],
        Field::RunningTasksCount => vec![Some(facts.running_tasks_count.to_string())],
        Field::TaskGroup => facts.task_groups.keys().cloned().map(Some).collect(),
    }
}

fn compare(actual: Option<&str>, op: Op, values: &[String]) -> bool {
    if op == Op::Exists {
        return true;
    }
    let Some(actual) = actual else {
        return false;
    };
    let first = values.first().map(String::as_str).unwrap_or_default();
    let ordered = |want: fn(std::cmp::Ordering) -> bool| match (
        actual.parse::<f64>(),
        first.parse::<f64>(),
    ) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b).is_some_and(want),
        _ => want(actual.cmp(first)),
    };
    match op {
        Op::Eq => actual == first,
        Op::In => values.iter().any(|v| v == actual),
        Op::Matches => wildcard(first, actual),
        Op::Gt => ordered(std::cmp::Ordering::is_gt),
        Op::Ge => ordered(std::cmp::Ordering::is_ge),
        Op::Lt => ordered(std::cmp::Ordering::is_lt),
        Op::Le => ordered(std::cmp::Ordering::is_le),
        Op::Exists => true,
    }
}

/// `*` matches any run of characters; everything else literally.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return pattern == text;
    };
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Parses a cluster query language expression.
pub fn parse_expression(expression: &str) -> Result<Expr, Error> {
    let err = |reason: String| Error::Expression {
        expression: expression.to_string(),
        reason,
    };
    if expression.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(err(format!(
            "longer than {MAX_EXPRESSION_CHARS} characters"
        )));
    }
    let tokens = tokenize(expression);
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let e = p.or().map_err(err)?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(err(format!("unexpected '{t}' at token {}", p.at + 1))),
    }
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ',') {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
    /// Current nesting of parentheses and `not`.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += usize::from(t.is_some());
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while matches!(self.peek(), Some("or" | "||")) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while matches!(self.peek(), Some("and" | "&&")) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.depth >= MAX_NESTING {
            return Err(format!("nested deeper than {MAX_NESTING} levels"));
        }
        self.depth += 1;
        let e = self.unary_inner();
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some("not" | "!") => {
                self.at += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.at += 1;
                let e = self.or()?;
                match self.next().as_deref() {
                    Some(")") => Ok(e),
                    Some(t) => Err(format!("expected ')' but found '{t}'")),
                    None => Err("missing ')'".into()),
                }
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let name = self
            .next()
            .ok_or_else(|| "expected a field at the end".to_string())?;
        let field = match name.as_str() {
            "ec2InstanceId" => Field::Ec2InstanceId,
            "agentConnected" => Field::AgentConnected,
            "agentVersion" => Field::AgentVersion,
            "registeredAt" => Field::RegisteredAt,
            "runningTasksCount" => Field::RunningTasksCount,
            "task:group" => Field::TaskGroup,
            other => match other.strip_prefix("attribute:") {
                Some(a) if !a.is_empty() => Field::Attribute(a.to_string()),
                _ => return Err(format!("unknown field '{other}'")),
            },
        };
        let op_token = self
            .next()
            .ok_or_else(|| format!("expected an operator after '{name}'"))?;
        let (op, negated) = match op_token.as_str() {
            "==" | "equals" => (Op::Eq, false),
            "!=" | "not_equals" => (Op::Eq, true),
            ">" | "greater_than" => (Op::Gt, false),
            ">=" | "greater_than_equal" => (Op::Ge, false),
            "<" | "less_than" => (Op::Lt, false),
            "<=" | "less_than_equal" => (Op::Le, false),
            "exists" => (Op::Exists, false),
            "!exists" | "not_exists" => (Op::Exists, true),
            "in" => (Op::In, false),
            "!in" | "not_in" => (Op::In, true),
            "=~" | "matches" => (Op::Matches, false),
            "!~" | "not_matches" => (Op::Matches, true),
            other => return Err(format!("unknown operator '{other}' after '{name}'")),
        };
        let values = match op {
            Op::Exists => Vec::new(),
            Op::In => self.list(&name)?,
            _ => match self.next() {
                Some(v) if !matches!(v.as_str(), "(" | ")" | "[" | "]" | ",") => vec![v],
                Some(v) => {
                    return Err(format!(
                        "expected a value after '{name} {op_token}', found '{v}'"
                    ));
                }
                None => return Err(format!("expected a value after '{name} {op_token}'")),
            },
        };
        Ok(Expr::Compare {
            field,
            op,
            negated,
            values,
        })
    }

    fn list(&mut self, name: &str) -> Result<Vec<String>, String> {
        if self.next().as_deref() != Some("[") {
            return Err(format!("expected '[' after '{name} in'"));
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(t) if t == "]" && values.is_empty() => {
                    return Err(format!("empty list after '{name} in'"));
                }
                Some(t) if !matches!(t.as_str(), "(" | ")" | "[" | "]" | ",") => values.push(t),
                _ => return Err(format!("expected a value in the list after '{name} in'")),
            }
            match self.next().as_deref() {
                Some(",") => {}
                Some("]") => return Ok(values),
                _ => return Err(format!("expected ',' or ']' in the list after '{name} in'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(list: &[(&str, Option<&str>)]) -> Vec<Attribute> {
        list.iter()
            .map(|(n, v)| Attribute {
                name: (*n).into(),
                value: v.map(String::from),
                target_type: None,
                target_id: None,
            })
            .collect()
    }

    static WEB_GROUP: std::sync::LazyLock<BTreeMap<String, usize>> =
        std::sync::LazyLock::new(|| [("family:web".to_string(), 1)].into());

    fn facts(a: &[Attribute]) -> InstanceFacts<'_> {
        InstanceFacts {
            attributes: a,
            ec2_instance_id: "i-0abc",
            agent_connected: true,
            agent_version: Some("1.105.1"),
            registered_at: 1000.0,
            running_tasks_count: 2,
            task_groups: &WEB_GROUP,
        }
    }

    fn matches(expr: &str, a: &[Attribute]) -> bool {
        parse_expression(expr).unwrap().eval(&facts(a))
    }

    #[test]
    fn a_missing_required_attribute_is_named() {
        let have = attrs(&[
            (
                "com.amazonaws.ecs.capability.logging-driver.json-file",
                None,
            ),
            ("ecs.os-type", Some("linux")),
        ]);
        let need = [
            json!({"name": "com.amazonaws.ecs.capability.logging-driver.json-file"}),
            json!({"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}),
        ];
        assert_eq!(
            missing_attribute(&need, &have),
            Some("com.amazonaws.ecs.capability.logging-driver.awslogs")
        );
        assert_eq!(missing_attribute(&[], &have), None);
        // A required value must match.
        assert_eq!(
            missing_attribute(&[json!({"name": "ecs.os-type", "value": "windows"})], &have),
            Some("ecs.os-type")
        );
        assert_eq!(
            missing_attribute(&[json!({"name": "ecs.os-type", "value": "linux"})], &have),
            None
        );
    }

    #[test]
    fn equality_inequality_exists_and_in() {
        let a = attrs(&[("ecs.instance-type", Some("t2.micro")), ("gpu", None)]);
        assert!(matches("attribute:ecs.instance-type == t2.micro", &a));
        assert!(!matches("attribute:ecs.instance-type == t2.small", &a));
        assert!(matches("attribute:ecs.instance-type equals t2.micro", &a));
        assert!(matches("attribute:ecs.instance-type != t2.small", &a));
        assert!(!matches(
            "attribute:ecs.instance-type not_equals t2.micro",
            &a
        ));
        assert!(matches("attribute:gpu exists", &a));
        assert!(!matches("attribute:gpu !exists", &a));
        assert!(matches("attribute:other not_exists", &a));
        assert!(!matches("attribute:other exists", &a));
        assert!(matches(
            "attribute:ecs.instance-type in [t2.small, t2.micro]",
            &a
        ));
        assert!(matches("attribute:ecs.instance-type in [t2.micro]", &a));
        assert!(!matches(
            "attribute:ecs.instance-type in [t2.small,m5.large]",
            &a
        ));
        assert!(matches(
            "attribute:ecs.instance-type !in [t2.small, m5.large]",
            &a
        ));
        assert!(!matches(
            "attribute:ecs.instance-type not_in [t2.micro]",
            &a
        ));
        // An absent attribute equals nothing and differs from everything.
        assert!(!matches("attribute:zone == a", &a));
        assert!(matches("attribute:zone != a", &a));
        // A name-only attribute has no value to compare.
        assert!(!matches("attribute:gpu == true", &a));
    }

    #[test]
    fn wildcards_orderings_and_other_fields() {
        let a = attrs(&[
            ("ecs.instance-type", Some("t2.micro")),
            ("size", Some("10")),
        ]);
        assert!(matches("attribute:ecs.instance-type =~ t2.*", &a));
        assert!(matches("attribute:ecs.instance-type matches *micro", &a));
        assert!(matches("attribute:ecs.instance-type =~ t*.m*o", &a));
        assert!(!matches("attribute:ecs.instance-type =~ m5.*", &a));
        assert!(matches("attribute:ecs.instance-type !~ m5.*", &a));
        // Numbers compare as numbers, not as text.
        assert!(matches("attribute:size > 9", &a));
        assert!(matches("attribute:size >= 10", &a));
        assert!(!matches("attribute:size < 9", &a));
        assert!(matches("attribute:size less_than_equal 10", &a));
        assert!(matches("ec2InstanceId == i-0abc", &a));
        assert!(matches("agentConnected == true", &a));
        assert!(matches("runningTasksCount < 3", &a));
        assert!(matches("task:group == family:web", &a));
        assert!(!matches("task:group == family:db", &a));
        assert!(matches("agentVersion >= 1.100.0", &a));
    }

    #[test]
    fn boolean_operators_nest_with_and_binding_tighter() {
        let a = attrs(&[("ecs.instance-type", Some("t2.micro")), ("zone", Some("a"))]);
        assert!(matches(
            "attribute:ecs.instance-type == t2.micro and attribute:zone == a",
            &a
        ));
        assert!(!matches(
            "attribute:ecs.instance-type == t2.micro && attribute:zone == b",
            &a
        ));
        assert!(matches(
            "attribute:zone == b || attribute:ecs.instance-type =~ t2.*",
            &a
        ));
        // or(false, and(true, false)) = false; a left-to-right reading would say true.
        assert!(!matches(
            "attribute:zone == b or attribute:zone == a and attribute:zone == c",
            &a
        ));
        assert!(matches(
            "(attribute:zone == b or attribute:zone == a) and not(attribute:zone == c)",
            &a
        ));
        assert!(!matches("! (attribute:zone == a)", &a));
    }

    #[test]
    fn bad_expressions_say_what_and_where() {
        for (expr, want) in [
            (
                "attribute:zone",
                "expected an operator after 'attribute:zone'",
            ),
            ("attribute:zone ~= a", "unknown operator '~='"),
            ("zone == a", "unknown field 'zone'"),
            (
                "attribute:zone == ",
                "expected a value after 'attribute:zone =='",
            ),
            (
                "attribute:zone in a",
                "expected '[' after 'attribute:zone in'",
            ),
            ("attribute:zone in [a b]", "expected ',' or ']'"),
            ("attribute:zone in []", "empty list"),
            ("(attribute:zone == a", "missing ')'"),
            (
                "attribute:zone == a attribute:x exists",
                "unexpected 'attribute:x'",
            ),
            ("", "expected a field"),
        ] {
            let e = parse_expression(expr).unwrap_err().to_string();
            assert!(e.contains(want), "{expr}: {e}");
            assert!(e.contains(&format!("'{expr}'")), "{expr}: {e}");
        }
        let long = format!("attribute:x == {}", "a".repeat(2000));
        assert!(parse_expression(&long).is_err());
        let deep = format!("{}attribute:x exists{}", "(".repeat(500), ")".repeat(500));
        let e = parse_expression(&deep).unwrap_err().to_string();
        assert!(e.contains("nested deeper than 32 levels"), "{e}");
        assert!(parse_expression(&"not ".repeat(999)).is_err());
        let fine = format!("{}attribute:x exists{}", "(".repeat(20), ")".repeat(20));
        assert!(parse_expression(&fine).is_ok());
    }

    #[test]
    fn constraints_parse_from_the_task_definition_and_run_task() {
        let def = [json!({"type": "memberOf", "expression": "attribute:zone == a"})];
        let run = [json!({"type": "distinctInstance"})];
        let c = parse_constraints(&def, &run).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1], Constraint::DistinctInstance);
        assert_eq!(parse_constraints(&[], &[]).unwrap(), vec![]);

        assert_eq!(
            parse_constraint(&json!({"type": "memberOf"})),
            Err(Error::MissingExpression)
        );
        assert_eq!(
            parse_constraint(&json!({"type": "distinctInstance", "expression": "x"})),
            Err(Error::ExpressionWithDistinct)
        );
        assert_eq!(
            parse_constraint(&json!({"type": "distinctInstance", "expression": ""})),
            Err(Error::ExpressionWithDistinct)
        );
        assert_eq!(
            parse_constraint(&json!({"type": "spread"})),
            Err(Error::UnknownType("spread".into()))
        );
        assert!(matches!(
            parse_constraint(&json!({"expression": "x"})),
            Err(Error::Malformed(_))
        ));
        assert_eq!(
            parse_constraints(&[json!({"type": "distinctInstance"})], &[]),
            Err(Error::DistinctInTaskDefinition)
        );
        let many: Vec<Value> = (0..11)
            .map(|_| json!({"type": "distinctInstance"}))
            .collect();
        assert_eq!(parse_constraints(&[], &many), Err(Error::TooMany(11)));
    }

    proptest::proptest! {
        /// Any text, and any mix of the language's own words, parses or is refused without a
        /// panic, and whatever parses evaluates.
        #[test]
        fn expressions_never_panic(
            text in "\\PC{0,80}",
            words in proptest::collection::vec(proptest::sample::select(vec![
                "attribute:a", "attribute:b", "task:group", "runningTasksCount", "==", "!=",
                "exists", "!exists", "in", "!in", "=~", "!~", ">", "<=", "and", "or", "not",
                "!", "&&", "||", "(", ")", "[", "]", ",", "x", "1", "*", "x*y", "",
            ]), 0..16),
        ) {
            let a = attrs(&[("a", Some("x")), ("b", None)]);
            for candidate in [text, words.join(" ")] {
                if let Ok(e) = parse_expression(&candidate) {
                    let _ = e.eval(&facts(&a));
                }
            }
        }
    }

    #[test]
    fn unsatisfied_constraints_give_the_ecs_reasons() {
        let a = attrs(&[("zone", Some("a"))]);
        let f = facts(&a);
        let member =
            parse_constraint(&json!({"type": "memberOf", "expression": "attribute:zone == b"}))
                .unwrap();
        assert_eq!(
            member.unsatisfied(&f, "family:web"),
            Some(MEMBER_OF_UNSATISFIED)
        );
        let ok =
            parse_constraint(&json!({"type": "memberOf", "expression": "attribute:zone == a"}))
                .unwrap();
        assert_eq!(ok.unsatisfied(&f, "family:web"), None);
        assert_eq!(
            Constraint::DistinctInstance.unsatisfied(&f, "family:web"),
            Some(DISTINCT_INSTANCE_UNSATISFIED)
        );
        assert_eq!(
            Constraint::DistinctInstance.unsatisfied(&f, "family:db"),
            None
        );
    }
}
