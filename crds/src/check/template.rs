//! Checks of the Template kind (sequence templates) and of the `callTemplate` mediator
//! that runs one: parameters are declared once, every call passes the mandatory ones and
//! only declared ones, so a call can never reach a template with a parameter it lacks.

use std::collections::HashSet;

use super::cx::Cx;
use super::mediator::{Mediator, check_list};
use super::value::ValueSource;
use crate::mediator::CallTemplateSpec;
use crate::resources::TemplateSpec;

/// A checked Template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The declared parameters, in order, each with its default value.
    pub parameters: Vec<(String, Option<String>)>,
    /// Its mediators.
    pub mediators: Vec<Mediator>,
}

/// A checked `callTemplate`.
#[derive(Debug, Clone)]
pub struct CallTemplate {
    /// The Template's name (or Synapse name).
    pub target: String,
    /// The values passed, by parameter name, in the order written; evaluated at call time
    /// in the caller's context.
    pub params: Vec<(String, ValueSource)>,
}

/// Checks a Template: parameter names are set and unique; the mediators are checked as a
/// sequence's are.
pub fn check(cx: &mut Cx<'_>, spec: &TemplateSpec) -> Option<Template> {
    let mut seen = HashSet::new();
    let mut parameters = Vec::with_capacity(spec.parameters.len());
    for (i, p) in spec.parameters.iter().enumerate() {
        let field = format!("spec.parameters[{i}].name");
        if p.name.trim().is_empty() {
            cx.error(&field, "a parameter needs a name");
        } else if !seen.insert(p.name.as_str()) {
            cx.error(
                &field,
                format!("parameter \"{}\" is declared twice", p.name),
            );
        }
        if p.is_mandatory && p.default_value.is_some() {
            cx.error(
                &format!("spec.parameters[{i}].defaultValue"),
                "a mandatory parameter is always passed: its default value would never be used",
            );
        }
        parameters.push((p.name.clone(), p.default_value.clone()));
    }
    let mediators = cx.with_namespaces("spec", &spec.namespaces, |cx| {
        check_list(cx, "spec.mediators", &spec.mediators)
    })?;
    Some(Template {
        parameters,
        mediators,
    })
}

/// Checks a `callTemplate`: the target exists in the runtime group; each value names a
/// declared parameter once and is a literal or a valid expression; every mandatory
/// parameter is passed.
pub fn call_template(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &CallTemplateSpec,
) -> Option<CallTemplate> {
    let target = cx.template_spec(&format!("{field}.target"), &spec.target);
    let mut params = Vec::with_capacity(spec.with_params.len());
    let mut seen = HashSet::new();
    let mut ok = true;
    for (i, p) in spec.with_params.iter().enumerate() {
        let pf = format!("{field}.withParams[{i}]");
        if !seen.insert(p.name.as_str()) {
            cx.error(
                &format!("{pf}.name"),
                format!("parameter \"{}\" is passed twice", p.name),
            );
            ok = false;
        }
        if let Some(t) = target
            && !t.parameters.iter().any(|d| d.name == p.name)
        {
            let declared: Vec<&str> = t.parameters.iter().map(|d| d.name.as_str()).collect();
            let declared = if declared.is_empty() {
                "it declares none".to_string()
            } else {
                format!("it declares {}", declared.join(", "))
            };
            cx.error(
                &format!("{pf}.name"),
                format!(
                    "template \"{}\" has no parameter \"{}\" ({declared})",
                    spec.target, p.name
                ),
            );
            ok = false;
        }
        match cx.value_source(&pf, p.value.as_deref(), p.expression.as_deref()) {
            Some(v) => params.push((p.name.clone(), v)),
            None => ok = false,
        }
    }
    let target_spec = target?;
    for d in target_spec.parameters.iter().filter(|d| d.is_mandatory) {
        if !seen.contains(d.name.as_str()) {
            cx.error(
                &format!("{field}.withParams"),
                format!(
                    "template \"{}\" requires parameter \"{}\" (isMandatory), and it is not passed",
                    spec.target, d.name
                ),
            );
            ok = false;
        }
    }
    ok.then(|| CallTemplate {
        target: spec.target.clone(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use crate::bundle::{Source, load};

    fn check(yaml: &str) -> Vec<String> {
        let (bundle, mut diagnostics) = load(&[Source {
            name: "t.yaml".into(),
            text: yaml.into(),
        }]);
        diagnostics.extend(crate::validate::validate(&bundle));
        diagnostics.iter().map(ToString::to_string).collect()
    }

    const TEMPLATE: &str = "apiVersion: ferry.dev/v1alpha1
kind: Template
metadata: {name: greet, annotations: {ferry.dev/synapse-name: Greet}}
spec:
  parameters:
    - {name: who, isMandatory: true}
    - {name: greeting, defaultValue: Hello}
  mediators:
    - log: {message: '${params.functionParams.greeting} ${params.functionParams.who}'}
---
";

    fn caller(call: &str) -> String {
        format!(
            "{TEMPLATE}apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {{name: s}}
spec:
  mediators:
    - callTemplate: {call}
"
        )
    }

    #[test]
    fn a_call_passing_declared_parameters_by_either_name_is_valid() {
        let ok = caller("{target: Greet, withParams: [{name: who, expression: '${payload.n}'}]}");
        assert_eq!(check(&ok), Vec::<String>::new());
    }

    #[test]
    fn unknown_targets_unknown_and_missing_parameters_are_located_errors() {
        let cases = [
            (
                "{target: nope}",
                "t.yaml:16: Sequence/s spec.mediators[0].callTemplate.target: template \"nope\" is not defined",
            ),
            (
                "{target: greet}",
                "spec.mediators[0].callTemplate.withParams: template \"greet\" requires parameter \"who\" (isMandatory), and it is not passed",
            ),
            (
                "{target: greet, withParams: [{name: who, value: a}, {name: whom, value: b}]}",
                "spec.mediators[0].callTemplate.withParams[1].name: template \"greet\" has no parameter \"whom\" (it declares who, greeting)",
            ),
            (
                "{target: greet, withParams: [{name: who, value: a}, {name: who, value: b}]}",
                "withParams[1].name: parameter \"who\" is passed twice",
            ),
            (
                "{target: greet, withParams: [{name: who, expression: '${'}]}",
                "withParams[0].expression: invalid expression",
            ),
        ];
        for (call, expected) in cases {
            let d = check(&caller(call));
            assert_eq!(d.len(), 1, "{call}: {d:?}");
            assert!(d[0].contains(expected), "{call}: {d:?}");
        }
    }

    #[test]
    fn a_template_declares_each_parameter_once_and_a_mandatory_one_without_default() {
        let yaml = "apiVersion: ferry.dev/v1alpha1
kind: Template
metadata: {name: t}
spec:
  parameters:
    - {name: a}
    - {name: a}
    - {name: b, isMandatory: true, defaultValue: x}
  mediators: [{xquery: {key: q}}]
";
        let d = check(yaml);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("spec.parameters[1].name: parameter \"a\" is declared twice"));
        assert!(d[1].contains("spec.parameters[2].defaultValue: a mandatory parameter"));
        assert!(d[2].contains("spec.mediators[0].xquery: the xquery mediator is not supported"));
    }
}
