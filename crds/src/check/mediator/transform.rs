//! Checks of the mediators that reshape the payload: `payloadFactory`, `enrich`.
//!
//! A payload template is split once here. For JSON we also note, for every insertion,
//! whether it sits inside a string literal, so the runtime can insert a value escaped there
//! and as JSON elsewhere.

use serde_json::Value;

use crate::check::cx::Cx;
use crate::check::local_entry::Content;
use crate::check::value::ValueSource;
use crate::expr::{Expression, Part, Template};
use crate::mediator::{
    EnrichAction, EnrichSourceType, EnrichSpec, EnrichTargetType, Evaluator, MediaType,
    PayloadArg as PayloadArgSpec, PayloadFactorySpec, TemplateType,
};

/// A checked `payloadFactory`.
#[derive(Debug, Clone)]
pub struct PayloadFactory {
    /// JSON, XML or text.
    pub media_type: MediaType,
    /// The template, split.
    pub pieces: Vec<Piece>,
    /// The `$n` arguments.
    pub args: Vec<PayloadArg>,
}

/// One piece of a payload template.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Copied as is.
    Text(String),
    /// `$n` (0-based index into the arguments, which is always in range).
    Arg {
        /// Which argument.
        index: usize,
        /// Inside a JSON string literal.
        in_string: bool,
    },
    /// `${...}`.
    Expr {
        /// The expression.
        expr: Expression,
        /// Inside a JSON string literal.
        in_string: bool,
    },
}

/// A checked argument.
#[derive(Debug, Clone)]
pub struct PayloadArg {
    /// Its value.
    pub source: ValueSource,
    /// Insert the text as is (no escaping, no JSON quoting).
    pub literal: bool,
}

pub(super) fn payload_factory(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &PayloadFactorySpec,
) -> Option<PayloadFactory> {
    if spec.template_type == TemplateType::Freemarker {
        cx.error(
            &format!("{field}.templateType"),
            "FreeMarker templates are not supported yet; use the default template type",
        );
        return None;
    }
    // A format kept in a LocalEntry is read here, when the configuration loads, and
    // checked exactly like an inline one; its errors are located at `formatKey`.
    let from_entry;
    let (format, ff) = match (&spec.format, &spec.format_key) {
        (Some(_), Some(_)) => {
            cx.error(field, "set either format or formatKey, not both");
            return None;
        }
        (Some(format), None) => (format, format!("{field}.format")),
        (None, Some(key)) => {
            let ff = format!("{field}.formatKey");
            match cx.local_entry(&ff, key)? {
                Content::Text(text) => {
                    from_entry = text;
                    (&from_entry, ff)
                }
                other => {
                    cx.error(
                        &ff,
                        format!(
                            "local entry \"{key}\" holds {}, but a payload format is text: \
                             write it as `text:` (or a file with format text)",
                            other.format().name()
                        ),
                    );
                    return None;
                }
            }
        }
        (None, None) => {
            cx.error(
                &format!("{field}.format"),
                "format or formatKey is required",
            );
            return None;
        }
    };
    let template = match Template::parse_payload_format(format, cx.namespaces()) {
        Ok(t) => t,
        Err(e) => {
            cx.error(&ff, format!("invalid template: {e}"));
            return None;
        }
    };
    if !cx.template_config_set(&ff, &template) {
        return None;
    }
    let mut pieces = pieces_of(template);
    if spec.media_type == MediaType::Json {
        mark_json_strings(&mut pieces);
    }
    let mut args = Vec::with_capacity(spec.args.len());
    let mut ok = true;
    for (i, a) in spec.args.iter().enumerate() {
        match payload_arg(cx, &format!("{field}.args[{i}]"), a) {
            Some(arg) => args.push(arg),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    for piece in &pieces {
        if let Piece::Arg { index, .. } = piece
            && *index >= args.len()
        {
            cx.error(
                &ff,
                format!(
                    "${} is used but only {} args are given",
                    index + 1,
                    args.len()
                ),
            );
            return None;
        }
    }
    Some(PayloadFactory {
        media_type: spec.media_type,
        pieces,
        args,
    })
}

fn payload_arg(cx: &mut Cx<'_>, field: &str, a: &PayloadArgSpec) -> Option<PayloadArg> {
    // MI writes a JSON path argument as `expression="$.a.b" evaluator="json"`: the path
    // alone, which means `json-eval($.a.b)`.
    let bare_path = a.expression.as_deref().filter(|e| {
        a.evaluator == Some(Evaluator::Json)
            && (e.starts_with("$.") || e.starts_with("$[") || *e == "$")
    });
    let wrapped = bare_path.map(|p| format!("json-eval({p})"));
    let expression = wrapped.as_deref().or(a.expression.as_deref());
    let source = cx.value_source(field, a.value.as_deref(), expression)?;
    // The evaluator only tells Synapse how to read a legacy path; our expressions say so
    // themselves (`json-eval(...)` vs XPath), so a mismatch is worth an error.
    if let (Some(Evaluator::Json), Some(e)) = (a.evaluator, &a.expression)
        && !e.starts_with("json-eval(")
        && !e.starts_with("${")
        && !e.starts_with("$.")
    {
        cx.error(
            &format!("{field}.evaluator"),
            "evaluator json needs a json-eval(...) or ${...} expression",
        );
        return None;
    }
    Some(PayloadArg {
        source,
        literal: a.literal,
    })
}

/// The template's parts as pieces (`$n` becomes a 0-based argument index).
fn pieces_of(template: Template) -> Vec<Piece> {
    template
        .parts
        .into_iter()
        .map(|part| match part {
            Part::Literal(text) => Piece::Text(text),
            Part::Expr(expr) => Piece::Expr {
                expr,
                in_string: false,
            },
            Part::Arg(n) => Piece::Arg {
                index: n.saturating_sub(1),
                in_string: false,
            },
        })
        .collect()
}

/// Notes for each insertion whether it sits inside a JSON string literal.
fn mark_json_strings(pieces: &mut [Piece]) {
    let mut in_string = false;
    let mut escaped = false;
    for piece in pieces {
        match piece {
            Piece::Text(t) => {
                for c in t.chars() {
                    if escaped {
                        escaped = false;
                    } else if in_string && c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        in_string = !in_string;
                    }
                }
            }
            Piece::Arg { in_string: s, .. } | Piece::Expr { in_string: s, .. } => *s = in_string,
        }
    }
}

/// A checked `enrich`: a copy into place, or (`action: remove`) a removal.
#[derive(Debug, Clone)]
pub enum Enrich {
    /// Copies (or moves) a value into place.
    Copy(EnrichCopy),
    /// Removes what the source selects from the body, a property or a variable.
    Remove(EnrichRemove),
}

/// `enrich` with `replace`, `child` or `sibling`.
#[derive(Debug, Clone)]
pub struct EnrichCopy {
    /// Where the value comes from.
    pub source: EnrichSource,
    /// `clone: false` moves: the source property/variable is removed afterwards.
    pub clone: bool,
    /// Where it goes.
    pub target: EnrichTarget,
    /// Replace, or add as a child or sibling.
    pub action: EnrichAction,
}

/// `enrich` with `action: remove`.
#[derive(Debug, Clone)]
pub struct EnrichRemove {
    /// What to remove.
    pub selection: Removal,
    /// Where from: the body, a property or a variable (never a path).
    pub from: EnrichTarget,
}

/// What an `enrich` removes.
#[derive(Debug, Clone)]
pub enum Removal {
    /// JSON paths, applied one after the other (so a later path sees the earlier removals,
    /// as MI applies them); `[*]` / `.*` remove every member or element at that step.
    Json(Vec<Vec<RemoveStep>>),
    /// An XPath whose node-set (elements, attributes, text, comments) leaves the XML body.
    XPath(Expression),
}

/// One step of a JSON path that removes.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoveStep {
    /// A member or element.
    One(Step),
    /// Every member or element (`[*]`, `.*`).
    All,
}

/// Where an enriched value comes from.
pub type EnrichSource = super::MessagePart;

/// Where an enriched value goes.
#[derive(Debug, Clone)]
pub enum EnrichTarget {
    /// The body.
    Body,
    /// A path in a JSON body.
    Path(Vec<Step>),
    /// A property.
    Property(String),
    /// A variable.
    Variable(String),
}

/// One step of a JSON path into the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

pub(super) fn enrich(cx: &mut Cx<'_>, field: &str, spec: &EnrichSpec) -> Option<Enrich> {
    if spec.target.action == EnrichAction::Remove {
        return enrich_remove(cx, field, spec);
    }
    let sf = format!("{field}.source");
    let s = &spec.source;
    let source = match s.type_ {
        EnrichSourceType::Body | EnrichSourceType::Envelope => Some(EnrichSource::Body),
        EnrichSourceType::Custom => match &s.expression {
            Some(e) => cx
                .expression(&format!("{sf}.expression"), e)
                .map(EnrichSource::Expr),
            None => missing(cx, &sf, "expression"),
        },
        EnrichSourceType::Property => {
            named(cx, &sf, "property", &s.property).map(EnrichSource::Property)
        }
        EnrichSourceType::Variable => {
            named(cx, &sf, "variable", &s.variable).map(EnrichSource::Variable)
        }
        EnrichSourceType::Inline => match &s.inline {
            Some(Value::String(text)) => Some(EnrichSource::Inline(parse_inline(text))),
            Some(v) => Some(EnrichSource::Inline(v.clone())),
            None => missing(cx, &sf, "inline"),
        },
        EnrichSourceType::Key => {
            cx.error(&format!("{sf}.type"), "registry keys are not supported yet");
            None
        }
    };
    let tf = format!("{field}.target");
    let t = &spec.target;
    let target = match t.type_ {
        EnrichTargetType::Body | EnrichTargetType::Envelope => Some(EnrichTarget::Body),
        EnrichTargetType::Custom => match &t.expression {
            Some(e) => match json_path_steps(e) {
                Some(steps) => Some(EnrichTarget::Path(steps)),
                None => {
                    cx.error(
                        &format!("{tf}.expression"),
                        format!(
                            "{e:?}: a custom target must be a simple JSON path such as \
                             ${{payload.order.items}} or json-eval($.order.items) \
                             (XPath targets are not supported yet)"
                        ),
                    );
                    None
                }
            },
            None => missing(cx, &tf, "expression"),
        },
        EnrichTargetType::Property => {
            named(cx, &tf, "property", &t.property).map(EnrichTarget::Property)
        }
        EnrichTargetType::Variable => {
            named(cx, &tf, "variable", &t.variable).map(EnrichTarget::Variable)
        }
        EnrichTargetType::Key => {
            cx.error(&format!("{tf}.type"), "registry keys are not supported yet");
            None
        }
    };
    let (source, target) = (source?, target?);
    if t.action != EnrichAction::Replace
        && matches!(
            target,
            EnrichTarget::Property(_) | EnrichTarget::Variable(_)
        )
    {
        cx.error(
            &format!("{tf}.action"),
            "child and sibling need a body or path target",
        );
        return None;
    }
    Some(Enrich::Copy(EnrichCopy {
        source,
        clone: s.clone,
        target,
        action: t.action,
    }))
}

/// `action: remove`: the source's expression says what, the target where from.
fn enrich_remove(cx: &mut Cx<'_>, field: &str, spec: &EnrichSpec) -> Option<Enrich> {
    let (sf, tf) = (format!("{field}.source"), format!("{field}.target"));
    let from = match spec.target.type_ {
        EnrichTargetType::Body | EnrichTargetType::Envelope => EnrichTarget::Body,
        EnrichTargetType::Property => {
            named(cx, &tf, "property", &spec.target.property).map(EnrichTarget::Property)?
        }
        EnrichTargetType::Variable => {
            named(cx, &tf, "variable", &spec.target.variable).map(EnrichTarget::Variable)?
        }
        EnrichTargetType::Custom | EnrichTargetType::Key => {
            cx.error(
                &format!("{tf}.type"),
                "remove takes from body, property or variable; the source's expression \
                 selects what goes",
            );
            return None;
        }
    };
    if spec.target.expression.is_some() {
        cx.error(
            &format!("{tf}.expression"),
            "remove selects with the source's expression; the target takes none",
        );
        return None;
    }
    if spec.source.type_ != EnrichSourceType::Custom {
        cx.error(
            &format!("{sf}.type"),
            "remove needs a custom source whose expression selects what to remove",
        );
        return None;
    }
    let Some(src) = &spec.source.expression else {
        return missing(cx, &sf, "expression");
    };
    let ef = format!("{sf}.expression");
    if let Some(paths) = remove_paths(src) {
        return Some(Enrich::Remove(EnrichRemove {
            selection: Removal::Json(paths),
            from,
        }));
    }
    let looks_json = src.trim_start().starts_with("json-eval(")
        || src.trim_start().starts_with("${")
        || src.trim_start().starts_with('$');
    if looks_json {
        cx.error(
            &ef,
            format!(
                "{src:?}: remove takes JSON paths of names, indices and [*] \
                 (json-eval($.a[*].b,$.c) or ${{payload.a.b}}); filters, slices and \
                 recursive descent are not supported"
            ),
        );
        return None;
    }
    let expr = cx.expression(&ef, src)?;
    if !matches!(expr, Expression::XPath(_)) {
        cx.error(&ef, format!("{src:?}: remove takes JSON paths or an XPath"));
        return None;
    }
    if !matches!(from, EnrichTarget::Body) {
        cx.error(
            &ef,
            "an XPath removes nodes of the XML body only; use JSON paths for a property or \
             variable",
        );
        return None;
    }
    Some(Enrich::Remove(EnrichRemove {
        selection: Removal::XPath(expr),
        from,
    }))
}

/// The paths of a removal: `json-eval(p1, p2, ...)` (MI's comma-separated list), one
/// `${payload...}`, or one `$...`; each of names, indices and wildcards.
pub fn remove_paths(src: &str) -> Option<Vec<Vec<RemoveStep>>> {
    let src = src.trim();
    if let Some(inner) = src
        .strip_prefix("json-eval(")
        .and_then(|s| s.strip_suffix(')'))
    {
        return split_outside_brackets(inner)
            .into_iter()
            .map(|p| remove_steps(p.trim().strip_prefix('$')?))
            .collect();
    }
    let path = if let Some(inner) = src.strip_prefix("${").and_then(|s| s.strip_suffix('}')) {
        let inner = inner.trim();
        inner
            .strip_prefix("payload")
            .or_else(|| inner.strip_prefix('$'))?
    } else {
        src.strip_prefix('$')?
    };
    Some(vec![remove_steps(path)?])
}

/// Splits at commas that are not inside `[...]` or quotes (`$.a['x,y'],$.b`).
fn split_outside_brackets(src: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut quote, mut start) = (Vec::new(), 0usize, None, 0);
    for (i, c) in src.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                parts.push(&src[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&src[start..]);
    parts
}

/// The steps of one removal path (after its `$` / `payload`): at least one.
fn remove_steps(path: &str) -> Option<Vec<RemoveStep>> {
    // Wildcards are the only addition to a simple path: mark them, parse the rest as one.
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let (wild, after) = if let Some(r) = rest.strip_prefix("[*]") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix(".*") {
            (true, r)
        } else {
            (false, rest)
        };
        if wild {
            steps.push(RemoveStep::All);
            rest = after;
            continue;
        }
        // One simple step: up to the next `.` or `[` after the first character.
        let end = rest[1..].find(['.', '[']).map_or(rest.len(), |i| i + 1);
        let one = json_path_steps(&format!("${}", &rest[..end]))?;
        steps.extend(one.into_iter().map(RemoveStep::One));
        rest = &rest[end..];
    }
    (!steps.is_empty()).then_some(steps)
}

fn missing<T>(cx: &mut Cx<'_>, field: &str, what: &str) -> Option<T> {
    cx.error(field, format!("{what} is required for this type"));
    None
}

/// A property or variable name the type needs: present and not empty.
fn named(cx: &mut Cx<'_>, field: &str, what: &str, name: &Option<String>) -> Option<String> {
    match name {
        Some(n) if !n.is_empty() => Some(n.clone()),
        Some(_) => {
            cx.error(&format!("{field}.{what}"), "must not be empty");
            None
        }
        None => missing(cx, field, what),
    }
}

/// Inline text that is JSON becomes JSON; anything else stays text.
fn parse_inline(text: &str) -> Value {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(v) = serde_json::from_str(text)
    {
        return v;
    }
    Value::String(text.to_string())
}

/// The steps of a simple JSON path (`${payload.a.b[0]}`, `json-eval($.a.b[0])`, `$.a`), or
/// `None` when it is not one (filters, wildcards, XPath).
pub fn json_path_steps(src: &str) -> Option<Vec<Step>> {
    let src = src.trim();
    let path = if let Some(inner) = src.strip_prefix("${").and_then(|s| s.strip_suffix('}')) {
        let inner = inner.trim();
        inner
            .strip_prefix("payload")
            .or_else(|| inner.strip_prefix('$'))?
    } else if let Some(inner) = src
        .strip_prefix("json-eval(")
        .and_then(|s| s.strip_suffix(')'))
    {
        inner.trim().strip_prefix('$')?
    } else {
        src.strip_prefix('$')?
    };
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name.contains(|c: char| c == '*' || c.is_whitespace()) {
                return None;
            }
            steps.push(Step::Key(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            match quoted {
                Some(name) => steps.push(Step::Key(name.to_string())),
                None => steps.push(Step::Index(inner.parse().ok()?)),
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_paths_parse_into_steps() {
        let want = vec![
            Step::Key("a".into()),
            Step::Key("b c".into()),
            Step::Index(2),
        ];
        assert_eq!(
            json_path_steps("${payload.a[\"b c\"][2]}"),
            Some(want.clone())
        );
        assert_eq!(
            json_path_steps("json-eval($.a['b c'][2])"),
            Some(want.clone())
        );
        assert_eq!(json_path_steps("$.a['b c'][2]"), Some(want));
        assert_eq!(json_path_steps("${payload}"), Some(vec![]));
    }

    #[test]
    fn paths_that_are_not_simple_are_refused() {
        assert_eq!(json_path_steps("//order/id"), None);
        assert_eq!(json_path_steps("${payload.items[*]}"), None);
        assert_eq!(json_path_steps("${var.x}"), None);
    }

    #[test]
    fn inline_json_text_becomes_json() {
        assert_eq!(parse_inline("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(parse_inline("hello"), json!("hello"));
    }
}
