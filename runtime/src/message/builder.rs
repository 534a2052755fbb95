//! A builder for messages: fixtures in tests and messages injected by tasks.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};
use serde_json::Value;

use super::{Message, MessageError};
use crate::expr::context::PropertyScope;

/// Builds a `Message` step by step; `build` fails on invalid headers, URIs or properties.
#[derive(Debug, Default)]
pub struct MessageBuilder {
    method: Option<Method>,
    uri: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<(Bytes, String)>,
    properties: Vec<(PropertyScope, String, Value)>,
    variables: Vec<(String, Value)>,
    uri_params: Vec<(String, String)>,
    function_params: Vec<(String, Value)>,
    config: HashMap<String, String>,
}

impl MessageBuilder {
    /// The HTTP method (default `GET`).
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// The request URI, path and query (default `/`).
    pub fn uri(mut self, uri: &str) -> Self {
        self.uri = Some(uri.to_owned());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A body with its content type (also set as the `Content-Type` header).
    pub fn body(mut self, body: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = Some((body.into(), content_type.to_owned()));
        self
    }

    /// A JSON body, as received bytes.
    pub fn json(self, value: &Value) -> Self {
        self.body(value.to_string(), "application/json")
    }

    /// An XML body, as received bytes.
    pub fn xml(self, xml: &str) -> Self {
        self.body(xml.to_owned(), "application/xml")
    }

    /// Sets a property.
    pub fn property(mut self, scope: PropertyScope, name: &str, value: Value) -> Self {
        self.properties.push((scope, name.to_owned(), value));
        self
    }

    /// Sets a variable.
    pub fn variable(mut self, name: &str, value: Value) -> Self {
        self.variables.push((name.to_owned(), value));
        self
    }

    /// Adds a URI template parameter.
    pub fn uri_param(mut self, name: &str, value: &str) -> Self {
        self.uri_params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a sequence-template parameter.
    pub fn function_param(mut self, name: &str, value: Value) -> Self {
        self.function_params.push((name.to_owned(), value));
        self
    }

    /// Adds a runtime configuration property.
    pub fn config(mut self, name: &str, value: &str) -> Self {
        self.config.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Builds the message.
    pub fn build(self) -> Result<Message, MessageError> {
        let invalid = |name: &str, reason: String| MessageError::InvalidHeader {
            name: name.to_owned(),
            reason,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(name, e.to_string()))?;
            let value = HeaderValue::from_str(value).map_err(|e| invalid(name, e.to_string()))?;
            headers.append(header, value);
        }
        let body = match self.body {
            Some((bytes, content_type)) => {
                let value = HeaderValue::from_str(&content_type)
                    .map_err(|e| invalid("content-type", e.to_string()))?;
                headers.insert(CONTENT_TYPE, value);
                bytes
            }
            None => Bytes::new(),
        };
        let uri_text = self.uri.unwrap_or_else(|| "/".to_owned());
        let uri: Uri =
            uri_text
                .parse()
                .map_err(|e: http::uri::InvalidUri| MessageError::InvalidProperty {
                    name: "uri",
                    reason: e.to_string(),
                })?;
        let mut message =
            Message::from_request(self.method.unwrap_or(Method::GET), uri, headers, body);
        for (scope, name, value) in self.properties {
            message.try_set_property(scope, &name, value)?;
        }
        for (name, value) in self.variables {
            message.set_variable(name, value);
        }
        message.uri_params = self.uri_params;
        message.function_params = self.function_params;
        if !self.config.is_empty() {
            message.set_config(Arc::new(self.config));
        }
        Ok(message)
    }
}
