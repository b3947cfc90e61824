//! The `stats` command: rows grouped by their `by` values, each group's aggregates.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use super::ast::{Agg, AggFn, Named};
use super::expr::{Row, Val, eval};

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
            AggFn::Sum => (n > 0.0).then(|| self.values.iter().sum()).and_then(num),
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
pub(super) fn stats(rows: Vec<Row>, aggs: &[Agg], items: &[Named], by: &[Named]) -> Vec<Row> {
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
