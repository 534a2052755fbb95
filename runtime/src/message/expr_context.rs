//! How expressions read a message: `ExprContext` for `Message`.
//!
//! The expression engine (`crate::expr`) evaluates against this trait only; this impl maps
//! each root (`payload`, `var`, `props`, `headers`, `params`, `config`) onto the message.

use serde_json::Value;

use super::Message;
use crate::expr::context::{ExprContext, PayloadError, PayloadView, PropertyScope};
use crate::xml::Element;

impl ExprContext for Message {
    fn payload(&self) -> Result<PayloadView<'_>, PayloadError> {
        self.payload.view()
    }

    fn payload_json(&self) -> Result<Option<&Value>, PayloadError> {
        self.payload.json()
    }

    fn payload_json_member(&self, key: &str) -> Option<Option<Value>> {
        self.payload.json_member(key)
    }

    fn payload_xml(&self) -> Result<Option<&Element>, PayloadError> {
        self.payload.xml()
    }

    fn variable(&self, name: &str) -> Option<&Value> {
        self.variables.get(name)
    }

    fn property(&self, scope: PropertyScope, name: &str) -> Option<Value> {
        Message::property(self, scope, name)
    }

    fn header(&self, name: &str) -> Option<&str> {
        Message::header(self, name)
    }

    fn uri_param(&self, name: &str) -> Option<&str> {
        self.uri_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.query_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn function_param(&self, name: &str) -> Option<&Value> {
        self.function_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn config(&self, name: &str) -> Option<&str> {
        self.config_value(name)
    }

    fn local_entry(&self, key: &str) -> Option<&str> {
        Message::local_entry(self, key)
    }
}
