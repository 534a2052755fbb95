//! Checks of the mediators that split a message and join the pieces again: `clone`,
//! `iterate`, `aggregate`, `foreach`, `scatterGather`.

use std::time::Duration;

use super::{Mediator, Step, check_list, json_path_steps};
use crate::check::cx::Cx;
use crate::check::endpoint::{self, EndpointRef};
use crate::expr::{Expression, XPathExpression};
use crate::mediator::{
    AggregateSpec, CloneSpec, ContentKind, ForeachSpec, IterateSpec, ScatterGatherSpec,
    Target as TargetSpec,
};

/// Where a copy made by `clone` or `iterate` goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// Mediators run on the copy first (may be empty).
    pub sequence: Vec<Mediator>,
    /// The endpoint the copy is then sent to, as by `send`.
    pub endpoint: Option<EndpointRef>,
    /// The copy's SOAP action (its `SOAPAction`), set before the sequence runs.
    pub soap_action: Option<String>,
}

/// A checked `clone`.
#[derive(Debug, Clone)]
pub struct Clone {
    /// The id an `aggregate` names to collect these copies.
    pub id: Option<String>,
    /// Copies run one after the other.
    pub sequential: bool,
    /// The original message goes on too.
    pub continue_parent: bool,
    /// One copy each.
    pub targets: Vec<Target>,
}

/// A target needs a sequence, an endpoint, or a `to` address (Synapse's implicit address
/// endpoint: the copy is sent there as to an address endpoint of that URI).
pub(super) fn target(cx: &mut Cx<'_>, field: &str, spec: &TargetSpec) -> Option<Target> {
    let mut ok = true;
    if let Some(action) = &spec.soap_action
        && (action.is_empty() || action.chars().any(|c| c.is_control() || !c.is_ascii()))
    {
        cx.error(
            &format!("{field}.soapAction"),
            "must be a non-empty action URI (printable ASCII: it goes in the SOAPAction header)",
        );
        ok = false;
    }
    if spec.sequence.is_empty() && spec.endpoint.is_none() && spec.to.is_none() {
        cx.error(
            field,
            "a target needs a sequence, an endpoint (or a to address), or both",
        );
        ok = false;
    }
    let sequence = check_list(cx, &format!("{field}.sequence"), &spec.sequence);
    let endpoint = match (&spec.endpoint, &spec.to) {
        (Some(_), Some(_)) => {
            cx.error(
                &format!("{field}.to"),
                "set endpoint or to (an address endpoint of that URI), not both",
            );
            None
        }
        (Some(reference), None) => {
            endpoint::check_ref(cx, &format!("{field}.endpoint"), reference).map(Some)
        }
        (None, Some(to)) => {
            match serde_json::from_value::<crate::resources::EndpointRef>(
                serde_json::json!({"address": {"uri": to}}),
            ) {
                Ok(reference) => {
                    endpoint::check_ref(cx, &format!("{field}.to"), &reference).map(Some)
                }
                Err(e) => {
                    cx.error(&format!("{field}.to"), format!("not an address: {e}"));
                    None
                }
            }
        }
        (None, None) => Some(None),
    };
    ok.then_some(())?;
    Some(Target {
        sequence: sequence?,
        endpoint: endpoint?,
        soap_action: spec.soap_action.clone(),
    })
}

/// An `id`, when set, must not be empty: an aggregate names it.
fn split_id(cx: &mut Cx<'_>, field: &str, id: &Option<String>) -> Option<Option<String>> {
    match id {
        Some(id) if id.trim().is_empty() => {
            cx.error(&format!("{field}.id"), "must not be empty when set");
            None
        }
        other => Some(other.clone()),
    }
}

pub(super) fn clone(cx: &mut Cx<'_>, field: &str, spec: &CloneSpec) -> Option<Clone> {
    let id = split_id(cx, field, &spec.id);
    if spec.targets.is_empty() {
        cx.error(
            &format!("{field}.targets"),
            "at least one target is required",
        );
    }
    let mut targets = Vec::with_capacity(spec.targets.len());
    let mut ok = !spec.targets.is_empty();
    for (i, t) in spec.targets.iter().enumerate() {
        match target(cx, &format!("{field}.targets[{i}]"), t) {
            Some(t) => targets.push(t),
            None => ok = false,
        }
    }
    ok.then_some(())?;
    Some(Clone {
        id: id?,
        sequential: spec.sequential,
        continue_parent: spec.continue_parent,
        targets,
    })
}

/// A checked `iterate`.
#[derive(Debug, Clone)]
pub struct Iterate {
    /// The id an `aggregate` names to collect these fragments.
    pub id: Option<String>,
    /// Selects the fragments: a JSON array, or XML elements (XPath).
    pub expression: Expression,
    /// The steps of `expression` when it is a simple JSON path into the payload: the array
    /// is then taken out of the payload rather than copied.
    pub path: Option<Vec<Step>>,
    /// Fragments run one after the other.
    pub sequential: bool,
    /// The original message goes on too.
    pub continue_parent: bool,
    /// `preservePayload`: each fragment is put into the original payload (without what was
    /// split off) instead of becoming the whole payload.
    pub attach: Option<Attach>,
    /// What each fragment goes through.
    pub target: Target,
}

/// Where `preservePayload` puts each fragment.
#[derive(Debug, Clone, PartialEq)]
pub enum Attach {
    /// At these steps of the JSON payload, whose split array is emptied.
    Json(Vec<Step>),
    /// As the last child of the first element this XPath selects once the split elements
    /// are out of the XML payload.
    Xml(XPathExpression),
}

pub(super) fn iterate(cx: &mut Cx<'_>, field: &str, spec: &IterateSpec) -> Option<Iterate> {
    let id = split_id(cx, field, &spec.id);
    let ef = format!("{field}.expression");
    let expression = cx.expression(&ef, &spec.expression);
    let xml = matches!(expression, Some(Expression::XPath(_)));
    let path = if xml {
        None
    } else {
        json_path_steps(&spec.expression)
    };
    let attach = match (spec.preserve_payload, &spec.attach_path) {
        (false, None) => Some(None),
        (false, Some(_)) => {
            cx.error(
                &format!("{field}.attachPath"),
                "attachPath needs preservePayload: true (without it the fragment is the whole payload)",
            );
            None
        }
        (true, Some(attach)) if xml => {
            let af = format!("{field}.attachPath");
            match cx.expression(&af, attach) {
                Some(Expression::XPath(x)) => Some(Some(Attach::Xml(x))),
                Some(_) => {
                    cx.error(
                        &af,
                        "with an XPath expression the attachPath is an XPath too: the element each fragment is appended to",
                    );
                    None
                }
                None => None,
            }
        }
        (true, None) => {
            cx.error(
                &format!("{field}.attachPath"),
                "preservePayload needs attachPath: where each fragment goes in the payload",
            );
            None
        }
        (true, Some(attach)) => {
            let af = format!("{field}.attachPath");
            let steps = match json_path_steps(attach) {
                Some(steps) => Some(steps),
                None => {
                    cx.error(
                        &af,
                        format!(
                            "{attach:?} is not a simple JSON path into the payload (${{payload.a.b}}, json-eval($.a.b))"
                        ),
                    );
                    None
                }
            };
            if path.is_none() && expression.is_some() {
                cx.error(
                    &ef,
                    "with preservePayload the expression must be a simple JSON path into the payload (${payload.a.b}, json-eval($.a.b))",
                );
                None
            } else {
                steps.map(|s| Some(Attach::Json(s)))
            }
        }
    };
    let target = target(cx, &format!("{field}.target"), &spec.target);
    Some(Iterate {
        id: id?,
        expression: expression?,
        path,
        sequential: spec.sequential,
        continue_parent: spec.continue_parent,
        attach: attach?,
        target: target?,
    })
}

/// A checked `aggregate`.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// The `id` of the split whose copies this collects (`None`: a split without one).
    pub id: Option<String>,
    /// Completes with what arrived this long after the first message.
    pub timeout: Option<Duration>,
    /// Completes once this many arrived (`None`: -1, every copy of the split).
    pub min: Option<usize>,
    /// Completes once this many arrived (`None`: -1, every copy of the split).
    pub max: Option<usize>,
    /// What each message contributes: JSON (an array of the values) or XPath.
    pub expression: Expression,
    /// `correlateOn`: messages of any flow are grouped by this value instead of by split.
    pub correlate_on: Option<Expression>,
    /// The property holding the XML element the fragments are enclosed in (JSON: its local
    /// name becomes the member holding the array).
    pub enclosing_element_property: Option<String>,
    /// Runs on the aggregated message, which then goes on after the aggregate.
    pub on_complete: Vec<Mediator>,
}

fn message_count(cx: &mut Cx<'_>, field: &str, value: Option<i64>) -> Option<Option<usize>> {
    match value {
        None | Some(-1) => Some(None),
        Some(n) if n > 0 => match usize::try_from(n) {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                cx.error(field, "too large");
                None
            }
        },
        Some(_) => {
            cx.error(
                field,
                "must be -1 (every copy of the split) or a positive count",
            );
            None
        }
    }
}

pub(super) fn aggregate(cx: &mut Cx<'_>, field: &str, spec: &AggregateSpec) -> Option<Aggregate> {
    let id = split_id(cx, field, &spec.id);
    let mut ok = true;
    let correlate_on = match &spec.correlate_on {
        Some(c) => {
            let f = format!("{field}.correlateOn");
            let e = cx.expression(&f, c);
            if e.is_none() {
                ok = false;
            }
            if spec.id.is_some() {
                cx.error(
                    &format!("{field}.id"),
                    "an aggregate joins either the copies of the split with this id or the messages correlateOn groups, not both",
                );
                ok = false;
            }
            let count = spec
                .complete_condition
                .message_count
                .clone()
                .unwrap_or_default();
            let counted = |n: Option<i64>| n.is_some_and(|n| n > 0);
            if spec.complete_condition.timeout.is_none()
                && !counted(count.min)
                && !counted(count.max)
            {
                cx.error(
                    &f,
                    "a correlated aggregation needs a completeCondition: a timeout, or a message count (min or max): there is no split whose copies it could count, so it would never complete",
                );
                ok = false;
            }
            e
        }
        None => None,
    };
    let cf = format!("{field}.completeCondition");
    let timeout = match spec.complete_condition.timeout {
        Some(0) => {
            cx.error(&format!("{cf}.timeout"), "must be positive (milliseconds)");
            None
        }
        t => Some(t.map(Duration::from_millis)),
    };
    let count = spec
        .complete_condition
        .message_count
        .clone()
        .unwrap_or_default();
    let min = message_count(cx, &format!("{cf}.messageCount.min"), count.min);
    let max = message_count(cx, &format!("{cf}.messageCount.max"), count.max);
    if let (Some(Some(min)), Some(Some(max))) = (min, max)
        && min > max
    {
        cx.error(
            &format!("{cf}.messageCount"),
            format!("min ({min}) is greater than max ({max})"),
        );
        ok = false;
    }
    let of = format!("{field}.onComplete");
    let expression = cx.expression(&format!("{of}.expression"), &spec.on_complete.expression);
    if matches!(expression, Some(Expression::XPath(_)))
        && spec.on_complete.enclosing_element_property.is_none()
    {
        cx.error(
            &format!("{of}.enclosingElementProperty"),
            "an XPath aggregation needs enclosingElementProperty: the XML element the fragments are enclosed in (Ferry has no SOAP body to merge them into)",
        );
        ok = false;
    }
    if let Some(name) = &spec.on_complete.enclosing_element_property
        && name.is_empty()
    {
        cx.error(
            &format!("{of}.enclosingElementProperty"),
            "must name a property",
        );
        ok = false;
    }
    // `aggregateElementType` is an Integration Studio attribute: MI's runtime does not read
    // it, so both values aggregate alike (docs/mediators.md).
    let on_complete = check_list(cx, &format!("{of}.sequence"), &spec.on_complete.sequence);
    ok.then_some(())?;
    Some(Aggregate {
        id: id?,
        timeout: timeout?,
        min: min?,
        max: max?,
        expression: expression?,
        correlate_on,
        enclosing_element_property: spec.on_complete.enclosing_element_property.clone(),
        on_complete: on_complete?,
    })
}

/// Where a `foreach` collection lives, when its results are written back in place.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectionPlace {
    /// At these steps of the payload.
    Payload(Vec<Step>),
    /// At these steps of a variable.
    Variable(String, Vec<Step>),
    /// The XML elements the collection's XPath selects, each replaced by its iteration's
    /// result (the legacy form's XPath).
    Elements,
}

/// Where a `foreach` puts its results.
#[derive(Debug, Clone)]
pub enum ForeachResult {
    /// In place of the collection (`updateOriginal`, and the legacy form).
    InPlace(CollectionPlace),
    /// Into this variable, as a JSON array.
    Variable(String),
    /// Into this variable, as XML: an element of the variable's name holding each
    /// iteration's result element in order (`resultType: XML`).
    XmlVariable(String),
    /// Nowhere (`continueWithoutAggregation`).
    Discarded,
}

/// A checked `foreach` (both forms).
#[derive(Debug, Clone)]
pub struct Foreach {
    /// Selects the collection: a JSON array, or XML elements (the legacy form's XPath).
    pub collection: Expression,
    /// Iterations run concurrently.
    pub parallel: bool,
    /// Where the results go.
    pub result: ForeachResult,
    /// A variable set to each iteration's index (4.4 form, sequential only).
    pub counter_variable: Option<String>,
    /// The property set to each iteration's index (legacy form: `FOREACH_COUNTER`, or
    /// `<id>_FOREACH_COUNTER`).
    pub counter_property: Option<String>,
    /// Runs on each item.
    pub sequence: Vec<Mediator>,
    /// `continueWithoutAggregation`: the iterations run on their own and the flow goes on
    /// at once with the message unchanged.
    pub detached: bool,
}

/// A simple path into the payload or a variable (`${payload.a.b}`, `json-eval($.a)`,
/// `${var.v.a}`), which results can be written back to.
fn collection_place(src: &str) -> Option<CollectionPlace> {
    let trimmed = src.trim();
    if let Some(inner) = trimmed.strip_prefix("${").and_then(|s| s.strip_suffix('}'))
        && let Some(rest) = inner.trim().strip_prefix("var.")
    {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, path) = rest.split_at(end);
        if name.is_empty() {
            return None;
        }
        let steps = json_path_steps(&format!("${path}"))?;
        return Some(CollectionPlace::Variable(name.to_string(), steps));
    }
    json_path_steps(src).map(CollectionPlace::Payload)
}

pub(super) fn foreach(cx: &mut Cx<'_>, field: &str, spec: &ForeachSpec) -> Option<Foreach> {
    let sequence = check_list(cx, &format!("{field}.sequence"), &spec.sequence);
    let checked = match (&spec.expression, &spec.collection) {
        (Some(e), None) => legacy_foreach(cx, field, spec, e),
        (None, Some(c)) => foreach_v2(cx, field, spec, c),
        _ => {
            cx.error(
                field,
                "set either collection (the MI 4.4 form) or expression (the legacy form)",
            );
            None
        }
    };
    let (collection, parallel, result, counter_variable, counter_property) = checked?;
    Some(Foreach {
        collection,
        parallel,
        result,
        counter_variable,
        counter_property,
        sequence: sequence?,
        detached: spec.continue_without_aggregation,
    })
}

type ForeachParts = (
    Expression,
    bool,
    ForeachResult,
    Option<String>,
    Option<String>,
);

/// The legacy form: a JSON path or an XPath, iterations one after the other, results in place,
/// `FOREACH_COUNTER`; the 4.4 attributes belong to the other form.
fn legacy_foreach(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &ForeachSpec,
    src: &str,
) -> Option<ForeachParts> {
    let mut ok = true;
    for (name, set) in [
        ("parallelExecution", spec.parallel_execution.is_some()),
        ("updateOriginal", spec.update_original.is_some()),
        ("resultTarget", spec.result_target.is_some()),
        ("resultType", spec.result_type.is_some()),
        ("counterVariable", spec.counter_variable.is_some()),
        (
            "continueWithoutAggregation",
            spec.continue_without_aggregation,
        ),
    ] {
        if set {
            cx.error(
                &format!("{field}.{name}"),
                format!("{name} belongs to the collection form (MI 4.4); the legacy expression form does not take it"),
            );
            ok = false;
        }
    }
    let ef = format!("{field}.expression");
    let expression = cx.expression(&ef, src)?;
    let place = match &expression {
        Expression::XPath(_) => Some(CollectionPlace::Elements),
        _ => match collection_place(src) {
            Some(place @ CollectionPlace::Payload(_)) => Some(place),
            _ => {
                cx.error(
                    &ef,
                    "the legacy form needs a simple JSON path into the payload (json-eval($.a.b)), whose items it replaces",
                );
                None
            }
        },
    };
    let counter = match &spec.id {
        Some(id) if id.is_empty() => {
            cx.error(&format!("{field}.id"), "must not be empty when set");
            None
        }
        Some(id) => Some(format!("{id}_FOREACH_COUNTER")),
        None => Some("FOREACH_COUNTER".to_string()),
    };
    ok.then_some(())?;
    Some((
        expression,
        false,
        ForeachResult::InPlace(place?),
        None,
        Some(counter?),
    ))
}

/// The MI 4.4 form.
fn foreach_v2(cx: &mut Cx<'_>, field: &str, spec: &ForeachSpec, src: &str) -> Option<ForeachParts> {
    let mut ok = true;
    let cf = format!("{field}.collection");
    let collection = cx.expression(&cf, src);
    if collection.as_ref().is_some_and(|c| !c.is_synapse()) {
        cx.error(&cf, "the collection is a ${...} expression (MI 4.4)");
        ok = false;
    }
    if spec.id.is_some() {
        cx.error(
            &format!("{field}.id"),
            "id belongs to the legacy expression form; the collection form has none",
        );
        ok = false;
    }
    if spec.continue_without_aggregation
        && (spec.result_target.is_some()
            || spec.result_type.is_some()
            || spec.update_original == Some(true))
    {
        cx.error(
            &format!("{field}.continueWithoutAggregation"),
            "continueWithoutAggregation gathers no results: it takes no resultTarget, resultType or updateOriginal: true",
        );
        ok = false;
    }
    let parallel = spec.parallel_execution.unwrap_or(true);
    let counter_variable = match &spec.counter_variable {
        Some(v) if v.is_empty() => {
            cx.error(&format!("{field}.counterVariable"), "must name a variable");
            None
        }
        Some(_) if parallel => {
            cx.error(
                &format!("{field}.counterVariable"),
                "counterVariable needs parallelExecution: false (MI counts sequential loops only)",
            );
            None
        }
        other => Some(other.clone()),
    };
    let update_original = spec
        .update_original
        .unwrap_or(!spec.continue_without_aggregation);
    let result = match (update_original, &spec.result_target) {
        // The results are not gathered: nothing is written anywhere.
        (false, None) if spec.continue_without_aggregation => Some(ForeachResult::Discarded),
        (true, None) => match collection_place(src) {
            Some(place) => Some(ForeachResult::InPlace(place)),
            None => {
                cx.error(
                    &cf,
                    "updateOriginal needs a collection that is a simple path into the payload or a variable (${payload.a.b}, ${var.v.a}); or set updateOriginal: false and resultTarget",
                );
                None
            }
        },
        (true, Some(_)) => {
            cx.error(
                &format!("{field}.resultTarget"),
                "resultTarget needs updateOriginal: false (the results replace the collection otherwise)",
            );
            None
        }
        (false, Some(v)) if !v.is_empty() => Some(match spec.result_type {
            Some(ContentKind::Xml) => ForeachResult::XmlVariable(v.clone()),
            _ => ForeachResult::Variable(v.clone()),
        }),
        (false, _) => {
            cx.error(
                &format!("{field}.resultTarget"),
                "updateOriginal: false needs resultTarget, the variable that receives the results",
            );
            None
        }
    };
    if spec.result_type.is_some()
        && !spec.continue_without_aggregation
        && !matches!(
            result,
            Some(ForeachResult::Variable(_) | ForeachResult::XmlVariable(_))
        )
    {
        cx.error(
            &format!("{field}.resultType"),
            "resultType applies to the result variable only (updateOriginal: false)",
        );
        ok = false;
    }
    ok.then_some(())?;
    Some((collection?, parallel, result?, counter_variable?, None))
}

/// Where a `scatterGather` puts its result.
#[derive(Debug, Clone)]
pub enum GatherTarget {
    /// Replaces the payload.
    Body,
    /// Into this variable.
    Variable(String),
}

/// A checked `scatterGather`.
#[derive(Debug, Clone)]
pub struct ScatterGather {
    /// The sequences run concurrently.
    pub parallel: bool,
    /// Where the result goes.
    pub target: GatherTarget,
    /// `Some(root element name)` for an XML result, `None` for a JSON array.
    pub xml_root: Option<String>,
    /// What each result contributes.
    pub expression: Expression,
    /// Only results for which this holds are kept.
    pub condition: Option<Expression>,
    /// Gathering stops with what it has this long after it started.
    pub timeout: Option<Duration>,
    /// Gathering completes once this many results are kept.
    pub min: Option<usize>,
    /// Gathering completes once this many results are kept.
    pub max: Option<usize>,
    /// One copy each.
    pub sequences: Vec<Vec<Mediator>>,
}

pub(super) fn scatter_gather(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &ScatterGatherSpec,
) -> Option<ScatterGather> {
    let mut ok = true;
    let target = match (
        spec.result_target.to_ascii_lowercase().as_str(),
        &spec.target_variable,
    ) {
        ("body", None) => Some(GatherTarget::Body),
        ("body", Some(_)) => {
            cx.error(
                &format!("{field}.targetVariable"),
                "targetVariable needs resultTarget: variable",
            );
            None
        }
        ("variable", Some(v)) if !v.is_empty() => Some(GatherTarget::Variable(v.clone())),
        ("variable", _) => {
            cx.error(
                &format!("{field}.targetVariable"),
                "resultTarget: variable needs targetVariable, the variable that receives the result",
            );
            None
        }
        (other, _) => {
            cx.error(
                &format!("{field}.resultTarget"),
                format!(
                    "{other:?} is neither body nor variable (name the variable in targetVariable)"
                ),
            );
            None
        }
    };
    let xml_root = match (spec.content_type, &spec.root_element) {
        (ContentKind::Json, None) => Some(None),
        (ContentKind::Json, Some(_)) => {
            cx.error(
                &format!("{field}.rootElement"),
                "rootElement applies to contentType: XML only",
            );
            None
        }
        (ContentKind::Xml, Some(root)) if is_xml_name(root) => Some(Some(root.clone())),
        (ContentKind::Xml, Some(root)) => {
            cx.error(
                &format!("{field}.rootElement"),
                format!("{root:?} is not an XML element name"),
            );
            None
        }
        (ContentKind::Xml, None) => {
            cx.error(
                &format!("{field}.rootElement"),
                "contentType: XML needs rootElement, the element that holds the results",
            );
            None
        }
    };
    let af = format!("{field}.aggregation");
    let a = &spec.aggregation;
    let expression = cx.expression(&format!("{af}.expression"), &a.expression);
    let condition = match &a.condition {
        Some(c) => cx.expression(&format!("{af}.condition"), c).map(Some),
        None => Some(None),
    };
    let timeout = match a.timeout {
        Some(0) => {
            cx.error(&format!("{af}.timeout"), "must be positive (milliseconds)");
            None
        }
        t => Some(t.map(Duration::from_millis)),
    };
    let min = message_count(cx, &format!("{af}.minMessages"), a.min_messages);
    let max = message_count(cx, &format!("{af}.maxMessages"), a.max_messages);
    let n = spec.sequences.len();
    if let (Some(Some(min)), Some(Some(max))) = (min, max)
        && min > max
    {
        cx.error(
            &af,
            format!("minMessages ({min}) is greater than maxMessages ({max})"),
        );
        ok = false;
    }
    for (name, count) in [("minMessages", min), ("maxMessages", max)] {
        if let Some(Some(count)) = count
            && count > n
        {
            cx.error(
                &format!("{af}.{name}"),
                format!("{count} is more than the {n} sequences can bring"),
            );
            ok = false;
        }
    }
    if spec.sequences.is_empty() {
        cx.error(
            &format!("{field}.sequences"),
            "at least one sequence is required",
        );
        ok = false;
    }
    let mut sequences = Vec::with_capacity(n);
    for (i, seq) in spec.sequences.iter().enumerate() {
        match check_list(cx, &format!("{field}.sequences[{i}]"), seq) {
            Some(s) => sequences.push(s),
            None => ok = false,
        }
    }
    ok.then_some(())?;
    Some(ScatterGather {
        parallel: spec.parallel_execution,
        target: target?,
        xml_root: xml_root?,
        expression: expression?,
        condition: condition?,
        timeout: timeout?,
        min: min?,
        max: max?,
        sequences,
    })
}

/// A plain XML element name (no prefix): a letter or `_`, then letters, digits, `_-.`.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
