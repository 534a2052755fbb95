//! `property` (and the entries of `propertyGroup`): sets or removes a property in a scope.
//! `transport` properties are headers; axis2 ones such as `HTTP_SC` and `messageType` change
//! the answer (see `message::properties`).

use ferry_api::mediator::{PropertyScope as SpecScope, PropertySpec, PropertyType};
use ferry_api::resources::common::SetOrRemove;
use regex::Regex;
use serde_json::Value;

use super::value::{ValueSource, convert, to_text};
use crate::compile::CompileCx;
use crate::expr::context::PropertyScope;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A compiled `property` mediator.
pub struct Property {
    name: String,
    scope: PropertyScope,
    action: Action,
}

enum Action {
    Set {
        source: ValueSource,
        ty: Option<PropertyType>,
        /// `pattern` and `group`: keep only that group of the value's first match.
        extract: Option<(Regex, usize)>,
    },
    Remove,
}

/// The runtime scope of a spec scope.
pub fn scope(s: SpecScope) -> PropertyScope {
    match s {
        SpecScope::Default => PropertyScope::Default,
        SpecScope::Transport => PropertyScope::Transport,
        SpecScope::Axis2 => PropertyScope::Axis2,
        SpecScope::Axis2Client => PropertyScope::Axis2Client,
        SpecScope::Operation => PropertyScope::Operation,
    }
}

impl Property {
    /// Compiles the spec.
    pub fn compile(spec: &PropertySpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        if spec.name.is_empty() {
            cx.error(&format!("{field}.name"), "name must not be empty");
            return None;
        }
        let action = match spec.action {
            SetOrRemove::Remove => {
                if spec.value.is_some() || spec.expression.is_some() {
                    cx.error(field, "action remove takes no value or expression");
                    return None;
                }
                Action::Remove
            }
            SetOrRemove::Set => {
                let source = ValueSource::compile(
                    cx,
                    field,
                    spec.value.as_deref(),
                    spec.expression.as_deref(),
                )?;
                let extract = match (&spec.pattern, spec.group) {
                    (Some(p), group) => Some((
                        cx.regex(&format!("{field}.pattern"), p)?,
                        group.unwrap_or(0) as usize,
                    )),
                    (None, Some(_)) => {
                        cx.error(&format!("{field}.group"), "group needs a pattern");
                        return None;
                    }
                    (None, None) => None,
                };
                if let Some((re, group)) = &extract
                    && *group >= re.captures_len()
                {
                    cx.error(
                        &format!("{field}.group"),
                        format!("the pattern has no group {group}"),
                    );
                    return None;
                }
                if let (Some(ty), ValueSource::Literal(v)) = (spec.type_, &source)
                    && let Err(e) = convert(Value::String(v.clone()), ty, &spec.name)
                {
                    cx.error(&format!("{field}.value"), e.message);
                    return None;
                }
                Action::Set {
                    source,
                    ty: spec.type_,
                    extract,
                }
            }
        };
        Some(Property {
            name: spec.name.clone(),
            scope: scope(spec.scope),
            action,
        })
    }

    /// Sets or removes the property.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.action {
            Action::Remove => {
                msg.remove_property(self.scope, &self.name);
            }
            Action::Set {
                source,
                ty,
                extract,
            } => {
                let mut value = source.eval(msg)?;
                if let Some((re, group)) = extract {
                    let text = to_text(&value);
                    value = Value::String(
                        re.captures(&text)
                            .and_then(|c| c.get(*group))
                            .map(|m| m.as_str().to_string())
                            .unwrap_or_default(),
                    );
                }
                if let Some(ty) = ty {
                    value = convert(value, *ty, &self.name)?;
                }
                msg.set_property(self.scope, &self.name, value);
            }
        }
        Ok(Flow::Continue)
    }
}
