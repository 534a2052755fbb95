//! `validate`: checks the payload (or what `source` selects), as JSON, against JSON
//! Schemas compiled when the configuration loaded. When it does not conform, `onFail`
//! runs with the first error in `ERROR_MESSAGE` (and `ERROR_DETAIL`), as Synapse's JSON
//! validation sets them; when `onFail` neither responds nor drops, the flow goes on after
//! the mediator, as in Synapse.

use ferry_api::check::mediator::{self as checked, CompiledSchema};
use ferry_api::expr::Expression;
use serde_json::Value;

use super::{BuildCx, Mediator};
use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::fault::Fault;
use crate::message::Message;
use crate::message::properties::{ERROR_DETAIL, ERROR_MESSAGE};
use crate::sequence::{self, Env, Flow};

/// A `validate` mediator.
pub struct Validate {
    source: Option<Expression>,
    schemas: Vec<CompiledSchema>,
    on_fail: Vec<Mediator>,
}

impl Validate {
    /// Builds the mediator and its `onFail` list (the schemas are compiled already).
    pub fn build(c: &checked::Validate, cx: &mut BuildCx<'_>) -> Self {
        Validate {
            source: c.source.clone(),
            schemas: c.schemas.clone(),
            on_fail: super::build_list(&c.on_fail, cx),
        }
    }

    /// The `onFail` list, for load-time analysis.
    pub fn on_fail(&self) -> &[Mediator] {
        &self.on_fail
    }

    /// Validates; on failure runs `onFail`.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let problem = match self.problem(msg)? {
            None => return Ok(Flow::Continue),
            Some(problem) => problem,
        };
        tracing::debug!(error = %problem.0, "validate: the message does not conform; running onFail");
        msg.set_property(
            PropertyScope::Default,
            ERROR_MESSAGE,
            Value::String(problem.0),
        );
        msg.set_property(
            PropertyScope::Default,
            ERROR_DETAIL,
            Value::String(problem.1),
        );
        sequence::run(&self.on_fail, msg, env).await
    }

    /// `None` when the message conforms, else `(ERROR_MESSAGE, ERROR_DETAIL)`.
    fn problem(&self, msg: &Message) -> Result<Option<(String, String)>, Fault> {
        let selected;
        let instance = match &self.source {
            Some(source) => {
                selected = eval(source, msg)?;
                if selected.is_null() {
                    let message = format!(
                        "Error occurred while accessing source element: {}",
                        source.source()
                    );
                    return Ok(Some((message.clone(), message)));
                }
                &selected
            }
            // An empty body is validated as `{}`, as Synapse does.
            None => match msg.payload_json().map_err(Fault::unreadable_payload)? {
                Some(json) => json,
                None => {
                    selected = Value::Object(Default::default());
                    &selected
                }
            },
        };
        for schema in &self.schemas {
            if let Some(error) = schema.validator.iter_errors(instance).next() {
                let path = error.instance_path().to_string();
                let message = if path.is_empty() {
                    error.to_string()
                } else {
                    format!("{path}: {error}")
                };
                let detail = format!(
                    "Error while validating Json message against {}: {message}",
                    schema.name
                );
                return Ok(Some((message, detail)));
            }
        }
        Ok(None)
    }
}
