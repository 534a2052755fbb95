//! JSON-path walking for Synapse expressions and `json-eval`, with Jayway's result shape:
//! a *definite* path (only names and fixed indices) yields one value and fails when a step
//! is missing; an *indefinite* one (wildcard, slice, union, filter, `..`) yields an array of
//! whatever matched, possibly empty.

use serde_json::Value;

use ferry_api::expr::ast::{BinaryOp, PathFunction, Segment};

use super::EvalError;
use super::eval::{Evaluator, describe};
use super::number::{self, Num};

/// Applies `segments` to `root`; `current` is the enclosing filter's `@`, for expressions
/// inside indices and filters.
pub(crate) fn apply(
    ev: &Evaluator<'_>,
    root: &Value,
    segments: &[Segment],
    current: Option<&Value>,
) -> Result<Value, EvalError> {
    let mut items: Vec<&Value> = vec![root];
    let mut definite = true;
    for (i, segment) in segments.iter().enumerate() {
        if let Segment::Function(f) = segment {
            let input = collect(&items, definite);
            let value = path_function(*f, &input)?;
            // The function's value is new; the rest of the path walks it.
            return apply(ev, &value, &segments[i + 1..], current);
        }
        if !matches!(
            segment,
            Segment::Child(_) | Segment::Index(_) | Segment::Dynamic(_)
        ) {
            definite = false;
        }
        let mut next = Vec::new();
        for item in items {
            step(ev, item, segment, definite, current, &mut next)?;
        }
        items = next;
    }
    Ok(collect(&items, definite))
}

/// The value a path of names and fixed indices selects in `root`, borrowed (`None` when a
/// step is missing a value it does not fail on); `apply` copies it out, a caller that only
/// inspects the value need not.
pub(crate) fn select<'v>(
    ev: &Evaluator<'_>,
    root: &'v Value,
    segments: &[Segment],
    current: Option<&Value>,
) -> Result<Option<&'v Value>, EvalError> {
    let mut items: Vec<&'v Value> = vec![root];
    for segment in segments {
        debug_assert!(matches!(segment, Segment::Child(_) | Segment::Index(_)));
        let mut next = Vec::new();
        for item in items {
            step(ev, item, segment, true, current, &mut next)?;
        }
        items = next;
    }
    Ok(items.first().copied())
}

fn collect(items: &[&Value], definite: bool) -> Value {
    if definite {
        items.first().map(|v| (*v).clone()).unwrap_or(Value::Null)
    } else {
        Value::Array(items.iter().map(|v| (*v).clone()).collect())
    }
}

/// Applies one segment to one item, pushing what it selects.
fn step<'v>(
    ev: &Evaluator<'_>,
    item: &'v Value,
    segment: &Segment,
    definite: bool,
    current: Option<&Value>,
    out: &mut Vec<&'v Value>,
) -> Result<(), EvalError> {
    match segment {
        Segment::Child(name) => key(item, name, definite, out),
        Segment::Index(i) => index(item, *i, definite, out),
        Segment::Dynamic(node) => {
            let at = ev.node(node, current)?;
            select_by(item, &at, definite, out)
        }
        Segment::Union(nodes) => {
            for node in nodes {
                let at = ev.node(node, current)?;
                select_by(item, &at, false, out)?;
            }
            Ok(())
        }
        Segment::Wildcard => {
            match item {
                Value::Array(a) => out.extend(a.iter()),
                Value::Object(o) => out.extend(o.values()),
                _ => {}
            }
            Ok(())
        }
        Segment::Slice { start, end, step } => {
            let Value::Array(a) = item else { return Ok(()) };
            let bound = |n: &Option<Box<ferry_api::expr::Node>>| -> Result<Option<i64>, EvalError> {
                match n {
                    None => Ok(None),
                    Some(n) => match Num::of(&ev.node(n, current)?) {
                        Some(Num::Int(i)) => Ok(Some(i)),
                        _ => Err(EvalError::Type("slice bounds must be integers".into())),
                    },
                }
            };
            let (start, end, step) = (bound(start)?, bound(end)?, bound(step)?.unwrap_or(1));
            slice(a, start, end, step, out)
        }
        Segment::Filter(cond) => {
            let candidates: Vec<&Value> = match item {
                Value::Array(a) => a.iter().collect(),
                Value::Object(_) => vec![item],
                _ => Vec::new(),
            };
            for candidate in candidates {
                // A condition that fails for an item (a missing member, a type mismatch)
                // just leaves the item out, as Jayway does.
                let keep = match ev.node(cond, Some(candidate)) {
                    Ok(Value::Bool(b)) => b,
                    Ok(Value::Null) | Err(_) => false,
                    Ok(_) => true,
                };
                if keep {
                    out.push(candidate);
                }
            }
            Ok(())
        }
        Segment::Descendants => {
            descendants(item, out);
            Ok(())
        }
        Segment::Function(_) => Ok(()),
    }
}

fn key<'v>(
    item: &'v Value,
    name: &str,
    definite: bool,
    out: &mut Vec<&'v Value>,
) -> Result<(), EvalError> {
    match item.as_object().and_then(|o| o.get(name)) {
        Some(v) => {
            out.push(v);
            Ok(())
        }
        None if definite => Err(EvalError::NotFound(match item {
            Value::Object(_) => format!("no member '{name}'"),
            other => format!("no member '{name}' in {}", describe(other)),
        })),
        None => Ok(()),
    }
}

fn index<'v>(
    item: &'v Value,
    i: i64,
    definite: bool,
    out: &mut Vec<&'v Value>,
) -> Result<(), EvalError> {
    let found = item.as_array().and_then(|a| {
        let len = i64::try_from(a.len()).ok()?;
        let at = if i < 0 { len + i } else { i };
        usize::try_from(at).ok().and_then(|at| a.get(at))
    });
    match found {
        Some(v) => {
            out.push(v);
            Ok(())
        }
        None if definite => Err(EvalError::NotFound(match item {
            Value::Array(a) => format!("index {i} is out of bounds (length {})", a.len()),
            other => format!("cannot index {} with [{i}]", describe(other)),
        })),
        None => Ok(()),
    }
}

/// `[expr]`: a number indexes, a string names a member.
fn select_by<'v>(
    item: &'v Value,
    at: &Value,
    definite: bool,
    out: &mut Vec<&'v Value>,
) -> Result<(), EvalError> {
    match (at, Num::of(at)) {
        (_, Some(Num::Int(i))) => index(item, i, definite, out),
        (Value::String(name), _) => key(item, name, definite, out),
        (other, _) => Err(EvalError::Type(format!(
            "an index must be an integer or a string, found {}",
            describe(other)
        ))),
    }
}

fn slice<'v>(
    a: &'v [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    out: &mut Vec<&'v Value>,
) -> Result<(), EvalError> {
    if step == 0 {
        return Err(EvalError::Invalid("slice step cannot be 0".into()));
    }
    let len = i64::try_from(a.len()).unwrap_or(i64::MAX);
    let norm = |i: i64| {
        if i < 0 {
            (len + i).max(if step > 0 { 0 } else { -1 })
        } else {
            i
        }
    };
    let get = |i: i64| usize::try_from(i).ok().and_then(|i| a.get(i));
    if step > 0 {
        let (mut i, stop) = (
            norm(start.unwrap_or(0)).min(len),
            norm(end.unwrap_or(len)).min(len),
        );
        while i < stop {
            out.extend(get(i));
            i += step;
        }
    } else {
        let mut i = start.map(norm).unwrap_or(len - 1).min(len - 1);
        let stop = end.map(norm).unwrap_or(-1);
        while i > stop {
            out.extend(get(i));
            i += step;
        }
    }
    Ok(())
}

/// The item and everything below it, in document order.
fn descendants<'v>(item: &'v Value, out: &mut Vec<&'v Value>) {
    out.push(item);
    match item {
        Value::Array(a) => a.iter().for_each(|v| descendants(v, out)),
        Value::Object(o) => o.values().for_each(|v| descendants(v, out)),
        _ => {}
    }
}

/// Jayway's path functions (`.length()`, `.sum()`, ...).
fn path_function(f: PathFunction, input: &Value) -> Result<Value, EvalError> {
    let numbers = || -> Result<Vec<f64>, EvalError> {
        let Value::Array(a) = input else {
            return Err(EvalError::Type(format!(
                "{f:?}() needs an array of numbers"
            )));
        };
        a.iter()
            .map(|v| {
                Num::of(v).map(Num::as_f64).ok_or_else(|| {
                    EvalError::Type(format!("{f:?}() found a non-number {}", describe(v)))
                })
            })
            .collect()
    };
    let float = |f: f64| Num::Float(f).into_value();
    let empty = || EvalError::Invalid(format!("{f:?}() of an empty array"));
    match f {
        PathFunction::Length | PathFunction::Size => match input {
            Value::Array(a) => Ok(Value::from(a.len())),
            Value::Object(o) => Ok(Value::from(o.len())),
            Value::String(s) => Ok(Value::from(s.chars().count())),
            other => Err(EvalError::Type(format!("length() of {}", describe(other)))),
        },
        PathFunction::Sum => {
            numbers()?;
            let Value::Array(a) = input else {
                return Ok(Value::from(0));
            };
            // Summed like `+`: integers stay integral, decimals exact on their short form.
            let total = a
                .iter()
                .filter_map(Num::of)
                .try_fold(Num::Int(0), |acc, n| {
                    number::arithmetic(BinaryOp::Add, acc, n)
                })?;
            total.into_value()
        }
        PathFunction::Min => float(numbers()?.into_iter().reduce(f64::min).ok_or_else(empty)?),
        PathFunction::Max => float(numbers()?.into_iter().reduce(f64::max).ok_or_else(empty)?),
        PathFunction::Avg => {
            let n = numbers()?;
            if n.is_empty() {
                return Err(empty());
            }
            float(n.iter().sum::<f64>() / n.len() as f64)
        }
        PathFunction::StdDev => {
            let n = numbers()?;
            if n.is_empty() {
                return Err(empty());
            }
            let mean = n.iter().sum::<f64>() / n.len() as f64;
            float((n.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n.len() as f64).sqrt())
        }
        PathFunction::Keys => match input {
            Value::Object(o) => Ok(Value::Array(o.keys().cloned().map(Value::String).collect())),
            other => Err(EvalError::Type(format!("keys() of {}", describe(other)))),
        },
        PathFunction::First | PathFunction::Last => match input {
            Value::Array(a) => {
                let item = if f == PathFunction::First {
                    a.first()
                } else {
                    a.last()
                };
                item.cloned().ok_or_else(empty)
            }
            other => Err(EvalError::Type(format!("{f:?}() of {}", describe(other)))),
        },
    }
}
