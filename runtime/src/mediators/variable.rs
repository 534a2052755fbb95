//! `variable`: sets or removes a typed flow variable, read back as `${var.name}`.

use ferry_api::mediator::{PropertyType, VariableSpec, VariableType};
use ferry_api::resources::common::SetOrRemove;
use serde_json::Value;

use super::value::{ValueSource, convert};
use crate::compile::CompileCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A compiled `variable` mediator.
pub struct Variable {
    name: String,
    /// `None` removes the variable.
    set: Option<(ValueSource, Option<PropertyType>)>,
}

fn as_property_type(t: VariableType) -> PropertyType {
    match t {
        VariableType::String => PropertyType::String,
        VariableType::Integer => PropertyType::Integer,
        VariableType::Boolean => PropertyType::Boolean,
        VariableType::Double => PropertyType::Double,
        VariableType::Long => PropertyType::Long,
        VariableType::Xml => PropertyType::Om,
        VariableType::Json => PropertyType::Json,
    }
}

impl Variable {
    /// Compiles the spec.
    pub fn compile(spec: &VariableSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        if spec.name.is_empty() {
            cx.error(&format!("{field}.name"), "name must not be empty");
            return None;
        }
        let set = match spec.action {
            SetOrRemove::Remove => None,
            SetOrRemove::Set => {
                let source = ValueSource::compile(
                    cx,
                    field,
                    spec.value.as_deref(),
                    spec.expression.as_deref(),
                )?;
                let ty = spec.type_.map(as_property_type);
                if let (Some(ty), ValueSource::Literal(v)) = (ty, &source)
                    && let Err(e) = convert(Value::String(v.clone()), ty, &spec.name)
                {
                    cx.error(&format!("{field}.value"), e.message);
                    return None;
                }
                Some((source, ty))
            }
        };
        Some(Variable {
            name: spec.name.clone(),
            set,
        })
    }

    /// Sets or removes the variable.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.set {
            None => {
                msg.remove_variable(&self.name);
            }
            Some((source, ty)) => {
                let mut value = source.eval(msg)?;
                if let Some(ty) = ty {
                    value = convert(value, *ty, &self.name)?;
                }
                msg.set_variable(&self.name, value);
            }
        }
        Ok(Flow::Continue)
    }
}
