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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arc_swap::ArcSwap;
    use http::{Method, Request, StatusCode};
    use serde_json::{Value, json};

    use crate::admin::metrics::Metrics;
    use crate::compile::compile_test_yaml;
    use crate::dispatch::Dispatcher;
    use crate::transports::http::body::{self, read_body_limited};

    const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: Template
metadata: {name: outer}
spec:
  parameters: [{name: name}]
  mediators:
    - sequence: {key: guarded}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: guarded}
spec:
  onError: handler
  mediators:
    - callTemplate: {target: inner, withParams: [{name: p, value: inner-value}]}
---
apiVersion: ferry.dev/v1alpha1
kind: Template
metadata: {name: inner}
spec:
  parameters: [{name: p}]
  mediators:
    - throwError: {errorMessage: 'failed with ${params.functionParams.p}'}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: handler}
spec:
  mediators:
    - payloadFactory:
        mediaType: json
        format: '{\"p\": \"${params.functionParams.p}\", \"name\": \"${params.functionParams.name}\", \"error\": \"${props.synapse.ERROR_MESSAGE}\"}'
    - property: {name: HTTP_SC, scope: axis2, value: '200'}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: t}
spec:
  context: /t
  resources:
    - methods: [GET]
      uriTemplate: /run
      inSequence:
        - callTemplate: {target: outer, withParams: [{name: name, value: outer-value}]}
        - respond: {}
";

    #[tokio::test]
    async fn the_callers_parameters_come_back_when_a_template_fails() {
        let metrics = Arc::new(Metrics::new());
        let compiled = compile_test_yaml(CONFIG, metrics.clone());
        let dispatcher =
            Dispatcher::new(Arc::new(ArcSwap::from_pointee(compiled)), metrics, 1 << 20);
        let req = Request::builder()
            .method(Method::GET)
            .uri("/t/run")
            .body(body::full(""))
            .unwrap();
        let resp = dispatcher.dispatch(req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = read_body_limited(resp.into_body(), 1 << 20).await.unwrap();
        let got: Value = serde_json::from_slice(&bytes).unwrap();
        // The handler runs in the outer template's sequence: the inner template's `p` is
        // gone, the outer's `name` is back.
        assert_eq!(
            got,
            json!({"p": "", "name": "outer-value", "error": "failed with inner-value"})
        );
    }
}
