//! Task placement strategies (`binpack`, `spread`, `random`): parsing a RunTask's or a service's
//! `placementStrategy` and ranking the instances that can take a task.
//!
//! Pure: the State actor (`ecs/placement/mod.rs`) gathers each instance's remaining resources, attributes and
//! the number of the group's tasks on it, and places the task on the first instance of
//! [`rank`]'s order. Nothing here touches state or decides whether a task fits (that is
//! `misfit` and `attrs`, which run first: ECS applies constraints before strategies).
//!
//! Strategies apply in order, each breaking the ties of the ones before it; what is still tied
//! after them goes to the instance with the most remaining memory, then to the smallest ARN, so
//! that placement without a strategy (RunTask's default here) stays what it always was and every
//! answer is reproducible.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::ecs::model::Attribute;

/// At most this many strategies per RunTask or service (ECS's limit, in its API reference).
pub const MAX_STRATEGIES: usize = 5;

/// Errors in `placementStrategy` (answered as `InvalidParameterException`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A type other than `random`, `spread` or `binpack`.
    #[error("Invalid placement strategy type '{0}'; valid types are random, spread and binpack.")]
    UnknownType(String),
    /// `binpack` without `cpu` or `memory`.
    #[error(
        "Invalid field '{0}' for the binpack placement strategy; valid fields are cpu and memory."
    )]
    BinpackField(String),
    /// `spread` without `instanceId`, `host` or `attribute:<name>`.
    #[error(
        "Invalid field '{0}' for the spread placement strategy; valid fields are instanceId, host and attribute:<name>."
    )]
    SpreadField(String),
    /// `random` with a field.
    #[error("The random placement strategy takes no field; got '{0}'.")]
    RandomField(String),
    /// Over [`MAX_STRATEGIES`].
    #[error("Too many placement strategies: {0}; at most {MAX_STRATEGIES} are allowed.")]
    TooMany(usize),
    /// Not an object with a string type.
    #[error("Invalid placement strategy: {0}")]
    Malformed(String),
}

/// A resource that `binpack` packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `cpu`: CPU units.
    Cpu,
    /// `memory`: MiB.
    Memory,
}

/// What `spread` balances across.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpreadField {
    /// `instanceId` or `host`: each instance is its own value.
    Instance,
    /// `attribute:<name>`: the instances' values of that attribute.
    Attribute(String),
}

/// One parsed strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// The least remaining amount of the resource first.
    Binpack(Resource),
    /// The value of the field holding the fewest tasks of the group first.
    Spread(SpreadField),
    /// A random order.
    Random,
}

impl Strategy {
    /// ECS's default for a service: spread across Availability Zones, then across the instances
    /// of a zone (ECS developer guide, "Update Amazon ECS service parameters").
    pub fn service_default() -> Vec<Self> {
        vec![
            Self::Spread(SpreadField::Attribute("ecs.availability-zone".into())),
            Self::Spread(SpreadField::Instance),
        ]
    }
}

/// Parses a `placementStrategy` list as RunTask, CreateService and UpdateService take it.
pub fn parse_strategies(given: &[Value]) -> Result<Vec<Strategy>, Error> {
    if given.len() > MAX_STRATEGIES {
        return Err(Error::TooMany(given.len()));
    }
    given.iter().map(parse_strategy).collect()
}

/// Parses one `{type, field}`.
pub fn parse_strategy(s: &Value) -> Result<Strategy, Error> {
    let kind = s
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Malformed(format!("{s}: type must be a string")))?;
    let field = match s.get("field") {
        None | Some(Value::Null) => "",
        Some(Value::String(f)) => f.as_str(),
        Some(other) => {
            return Err(Error::Malformed(format!(
                "{s}: field must be a string, not {other}"
            )));
        }
    };
    match kind {
        "binpack" => match field.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Strategy::Binpack(Resource::Cpu)),
            "memory" => Ok(Strategy::Binpack(Resource::Memory)),
            _ => Err(Error::BinpackField(field.to_string())),
        },
        "spread" => match field {
            "instanceId" | "host" => Ok(Strategy::Spread(SpreadField::Instance)),
            _ => match field.strip_prefix("attribute:") {
                Some(name) if !name.is_empty() => {
                    Ok(Strategy::Spread(SpreadField::Attribute(name.to_string())))
                }
                _ => Err(Error::SpreadField(field.to_string())),
            },
        },
        "random" if field.is_empty() => Ok(Strategy::Random),
        "random" => Err(Error::RandomField(field.to_string())),
        other => Err(Error::UnknownType(other.to_string())),
    }
}

/// One instance of the cluster as the strategies see it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// Container instance ARN.
    pub arn: &'a str,
    /// Remaining CPU units.
    pub remaining_cpu: i64,
    /// Remaining memory, MiB.
    pub remaining_memory: i64,
    /// Registered and custom attributes.
    pub attributes: &'a [Attribute],
    /// Tasks of the group (RunTask's group, or the service) on it that are not STOPPED.
    pub group_tasks: usize,
    /// Whether the task can go there (resources, agent, attributes, constraints). Instances
    /// that cannot still count for `spread` by attribute: a zone's tasks are the zone's tasks.
    pub fits: bool,
}

/// The fitting candidates' indices, best first. `random` draws one number per candidate and
/// random strategy from `draw`.
pub fn rank(
    strategies: &[Strategy],
    candidates: &[Candidate<'_>],
    draw: &mut dyn FnMut() -> u32,
) -> Vec<usize> {
    let mut keyed = keys(strategies, candidates, draw);
    keyed.sort();
    keyed.into_iter().map(|(.., i)| i).collect()
}

/// The index of the fitting candidate [`rank`] puts first, without ordering the rest (placement
/// wants only the best of every instance, on every task it places).
pub fn best(
    strategies: &[Strategy],
    candidates: &[Candidate<'_>],
    draw: &mut dyn FnMut() -> u32,
) -> Option<usize> {
    keys(strategies, candidates, draw)
        .into_iter()
        .min()
        .map(|(.., i)| i)
}

/// The fitting candidates with their sort keys: the strategies' values in order, then the most
/// remaining memory, then the ARN (so the order is total and the same on every run).
type Keyed<'a> = (Vec<i64>, Reverse<i64>, &'a str, usize);

fn keys<'a>(
    strategies: &[Strategy],
    candidates: &[Candidate<'a>],
    draw: &mut dyn FnMut() -> u32,
) -> Vec<Keyed<'a>> {
    // The group's tasks per value of each attribute spread on, over the whole cluster.
    let mut per_value: BTreeMap<(&str, Option<&str>), usize> = BTreeMap::new();
    for s in strategies {
        if let Strategy::Spread(SpreadField::Attribute(name)) = s {
            for c in candidates {
                *per_value
                    .entry((name.as_str(), attribute(c, name)))
                    .or_default() += c.group_tasks;
            }
        }
    }
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.fits)
        .map(|(i, c)| {
            let key = strategies
                .iter()
                .map(|s| match s {
                    Strategy::Binpack(Resource::Cpu) => c.remaining_cpu,
                    Strategy::Binpack(Resource::Memory) => c.remaining_memory,
                    Strategy::Spread(SpreadField::Instance) => count(c.group_tasks),
                    Strategy::Spread(SpreadField::Attribute(name)) => count(
                        per_value
                            .get(&(name.as_str(), attribute(c, name)))
                            .copied()
                            .unwrap_or(0),
                    ),
                    Strategy::Random => i64::from(draw()),
                })
                .collect();
            (key, Reverse(c.remaining_memory), c.arn, i)
        })
        .collect()
}

/// An instance's value of an attribute; an instance without it is a value of its own (`None`).
fn attribute<'a>(c: &Candidate<'a>, name: &str) -> Option<&'a str> {
    c.attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.as_deref().unwrap_or_default())
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attr(name: &str, value: &str) -> Attribute {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
            target_type: None,
            target_id: None,
        }
    }

    fn parse(v: Value) -> Result<Vec<Strategy>, Error> {
        parse_strategies(v.as_array().unwrap())
    }

    /// Instance `arn` with (cpu, memory) left and `tasks` of the group.
    fn cand<'a>(
        arn: &'a str,
        cpu: i64,
        mem: i64,
        tasks: usize,
        attrs: &'a [Attribute],
    ) -> Candidate<'a> {
        Candidate {
            arn,
            remaining_cpu: cpu,
            remaining_memory: mem,
            attributes: attrs,
            group_tasks: tasks,
            fits: true,
        }
    }

    /// The ARNs in [`rank`]'s order; also checks that [`best`], given the same draws, picks
    /// [`rank`]'s first.
    fn order(strategies: &[Strategy], cands: &[Candidate<'_>]) -> Vec<String> {
        let draws = || {
            let mut n = 0u32;
            move || {
                n += 1;
                n
            }
        };
        let ranked = rank(strategies, cands, &mut draws());
        assert_eq!(
            best(strategies, cands, &mut draws()),
            ranked.first().copied()
        );
        ranked
            .into_iter()
            .map(|i| cands[i].arn.to_string())
            .collect()
    }

    #[test]
    fn parses_the_documented_examples() {
        let got = parse(json!([
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "spread", "field": "instanceId"},
            {"type": "spread", "field": "host"},
            {"type": "binpack", "field": "memory"},
            {"type": "random"},
        ]))
        .unwrap();
        assert_eq!(
            got,
            vec![
                Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".into())),
                Strategy::Spread(SpreadField::Instance),
                Strategy::Spread(SpreadField::Instance),
                Strategy::Binpack(Resource::Memory),
                Strategy::Random,
            ]
        );
        assert_eq!(
            parse(json!([{"type": "binpack", "field": "CPU"}])).unwrap(),
            vec![Strategy::Binpack(Resource::Cpu)]
        );
        assert_eq!(
            parse(json!([{"type": "random", "field": ""}])).unwrap(),
            vec![Strategy::Random]
        );
        assert_eq!(parse(json!([])).unwrap(), vec![]);
    }

    #[test]
    fn refuses_what_ecs_refuses() {
        let err = |v: Value| parse(v).unwrap_err();
        assert_eq!(
            err(json!([{"type": "pack", "field": "cpu"}])),
            Error::UnknownType("pack".into())
        );
        assert_eq!(
            err(json!([{"type": "binpack", "field": "instanceId"}])),
            Error::BinpackField("instanceId".into())
        );
        assert_eq!(
            err(json!([{"type": "binpack"}])),
            Error::BinpackField(String::new())
        );
        assert_eq!(
            err(json!([{"type": "spread", "field": "memory"}])),
            Error::SpreadField("memory".into())
        );
        assert_eq!(
            err(json!([{"type": "spread", "field": "attribute:"}])),
            Error::SpreadField("attribute:".into())
        );
        assert_eq!(
            err(json!([{"type": "spread"}])),
            Error::SpreadField(String::new())
        );
        assert_eq!(
            err(json!([{"type": "random", "field": "cpu"}])),
            Error::RandomField("cpu".into())
        );
        assert!(matches!(
            err(json!([{"field": "cpu"}])),
            Error::Malformed(_)
        ));
        assert!(matches!(
            err(json!([{"type": "spread", "field": 3}])),
            Error::Malformed(_)
        ));
        let random = |n: usize| Value::Array(vec![json!({"type": "random"}); n]);
        assert_eq!(err(random(6)), Error::TooMany(6));
        assert_eq!(parse(random(5)).unwrap().len(), 5);
    }

    #[test]
    fn no_strategy_is_the_emptiest_by_memory_then_the_smallest_arn() {
        let c = [
            cand("a", 1024, 1000, 0, &[]),
            cand("b", 1024, 3000, 0, &[]),
            cand("c", 1024, 3000, 0, &[]),
        ];
        assert_eq!(order(&[], &c), ["b", "c", "a"]);
    }

    #[test]
    fn binpack_puts_the_fullest_first() {
        let c = [
            cand("a", 100, 3000, 0, &[]),
            cand("b", 900, 1000, 0, &[]),
            cand("c", 500, 2000, 0, &[]),
        ];
        assert_eq!(
            order(&[Strategy::Binpack(Resource::Memory)], &c),
            ["b", "c", "a"]
        );
        assert_eq!(
            order(&[Strategy::Binpack(Resource::Cpu)], &c),
            ["a", "c", "b"]
        );
    }

    #[test]
    fn spread_by_instance_prefers_the_fewest_tasks_of_the_group() {
        let c = [
            cand("a", 0, 4000, 2, &[]),
            cand("b", 0, 1000, 1, &[]),
            cand("c", 0, 2000, 1, &[]),
        ];
        let s = [Strategy::Spread(SpreadField::Instance)];
        // b and c tie on one task each; c has more memory left.
        assert_eq!(order(&s, &c), ["c", "b", "a"]);
    }

    #[test]
    fn spread_by_attribute_counts_every_instance_with_the_value() {
        let a = [attr("zone", "a")];
        let b = [attr("zone", "b")];
        let mut c = vec![
            cand("a1", 0, 1000, 1, &a),
            cand("a2", 0, 1000, 0, &a),
            cand("b1", 0, 1000, 0, &b),
            cand("none", 0, 1000, 0, &[]),
        ];
        let zone = Strategy::Spread(SpreadField::Attribute("zone".into()));
        // Zone a holds one task already (on a1): both its instances wait behind b1 and the
        // attribute-less one, and tie with each other (then the smallest ARN).
        assert_eq!(
            order(std::slice::from_ref(&zone), &c),
            ["b1", "none", "a1", "a2"]
        );
        // An instance that cannot take the task is not ranked, but its tasks count for its zone.
        c[0].fits = false;
        c[2].group_tasks = 1;
        assert_eq!(order(std::slice::from_ref(&zone), &c), ["none", "a2", "b1"]);
        // Zone first, then binpack within it.
        c[0].fits = true;
        c[2].group_tasks = 0;
        c[1].remaining_memory = 500;
        assert_eq!(
            order(&[zone, Strategy::Binpack(Resource::Memory)], &c),
            ["b1", "none", "a2", "a1"]
        );
    }

    #[test]
    fn later_strategies_break_the_ties_of_earlier_ones() {
        let a = [attr("zone", "a")];
        let b = [attr("zone", "b")];
        let c = [
            cand("a1", 0, 1000, 1, &a),
            cand("a2", 0, 1000, 0, &a),
            cand("b1", 0, 1000, 1, &b),
            cand("b2", 0, 1000, 1, &b),
        ];
        // Zone a holds one task, zone b two: a first, and within it the instance with fewer.
        assert_eq!(
            order(&Strategy::service_default(), &c),
            ["a2", "a1", "b1", "b2"]
        );
    }

    #[test]
    fn random_follows_the_draws() {
        let c = [
            cand("a", 0, 1000, 0, &[]),
            cand("b", 0, 1000, 0, &[]),
            cand("c", 0, 1000, 0, &[]),
        ];
        let mut draws = [7u32, 3, 5].into_iter();
        let mut draw = || draws.next().unwrap();
        let got = rank(&[Strategy::Random], &c, &mut draw);
        assert_eq!(got, [1, 2, 0]);
    }
}
