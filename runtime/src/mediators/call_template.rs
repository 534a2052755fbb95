//! `callTemplate`: runs a Template (a Synapse sequence template) with values for its
//! parameters, then continues after the call unless the template ended the flow.
//!
//! The values are computed when the call runs, in the caller's context (so a template
//! calling another can pass its own parameters on). While the template runs they are the
//! message's function parameters (`${params.functionParams.x}`, `$func:x`); the caller's
//! come back afterwards, whether the template finished or failed. A parameter not passed
//! takes its default value, or stays unset (read as empty).

use ferry_api::check::template as checked;
use ferry_api::check::value::ValueSource;
use serde_json::Value;

use super::{BuildCx, Mediator};
use crate::compile::cx::TemplateId;
use crate::expr::value::eval;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow, MAX_DEPTH};

/// A compiled Template.
pub struct Template {
    /// Its name (logs).
    pub name: std::sync::Arc<str>,
    /// The declared parameters, in order, with their default values.
    parameters: Vec<(String, Option<Value>)>,
    /// Its mediators.
    pub mediators: Vec<Mediator>,
}

impl Template {
    /// Builds a checked Template.
    pub fn build(name: &str, c: &checked::Template, cx: &mut BuildCx<'_>) -> Self {
        Template {
            name: std::sync::Arc::from(name),
            parameters: c
                .parameters
                .iter()
                .map(|(n, d)| (n.clone(), d.clone().map(Value::String)))
                .collect(),
            mediators: super::build_list(&c.mediators, cx),
        }
    }
}

/// A `callTemplate` mediator.
pub struct CallTemplate {
    target: TemplateId,
    params: Vec<(String, ValueSource)>,
}

impl CallTemplate {
    /// Builds the mediator: the target resolves to its id now.
    pub fn build(c: &checked::CallTemplate, cx: &mut BuildCx<'_>) -> Option<Self> {
        Some(CallTemplate {
            target: cx.template_id(&c.target)?,
            params: c.params.clone(),
        })
    }

    /// Runs the template with this call's values.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        if env.depth >= MAX_DEPTH {
            return Err(Fault::internal(
                codes::CUSTOM,
                format!("sequences and templates nested deeper than {MAX_DEPTH}: is there a loop?"),
            ));
        }
        let template = env.compiled.template(self.target);
        let params = self.values(template, msg)?;
        let callers = std::mem::replace(&mut msg.function_params, params);
        let inner = Env {
            depth: env.depth + 1,
            ..env
        };
        let result = sequence::run(&template.mediators, msg, inner).await;
        msg.function_params = callers;
        result
    }

    /// The template's parameters for this call: the value passed, else the default; one
    /// neither passes nor defaults stays unset.
    fn values(&self, template: &Template, msg: &Message) -> Result<Vec<(String, Value)>, Fault> {
        let mut out = Vec::with_capacity(template.parameters.len());
        for (name, default) in &template.parameters {
            let passed = self.params.iter().find(|(n, _)| n == name);
            let value = match passed {
                Some((_, ValueSource::Literal(text))) => Value::String(text.clone()),
                Some((_, ValueSource::Expr(e))) => eval(e, msg)?,
                None => match default {
                    Some(v) => v.clone(),
                    None => continue,
                },
            };
            out.push((name.clone(), value));
        }
        Ok(out)
    }
}
