//! `property` (and the entries of `propertyGroup`): sets or removes a property in a scope.
//! `transport` properties are headers; axis2 ones such as `HTTP_SC` and `messageType` change
//! the answer (see `message::properties`).

use ferry_api::check::mediator::{self as checked, PropertyAction};
use ferry_api::mediator::PropertyScope as SpecScope;
use serde_json::Value;

use crate::expr::context::PropertyScope;
use crate::expr::value::{Evaluate, convert, to_text};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A `property` mediator (or one entry of a `propertyGroup`), built from its checked form.
pub struct Property {
    name: String,
    scope: PropertyScope,
    action: PropertyAction,
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
    /// Builds the mediator.
    pub fn build(c: &checked::Property) -> Self {
        Property {
            name: c.name.clone(),
            scope: scope(c.scope),
            action: c.action.clone(),
        }
    }

    /// Sets or removes the property.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.action {
            PropertyAction::Remove => {
                msg.remove_property(self.scope, &self.name);
            }
            PropertyAction::Set {
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
