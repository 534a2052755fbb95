//! Where a leaf endpoint sends: an `http` URI template filled from the message, or an
//! `address` with Synapse's REST postfix; the URL parsed once at load time when it does not
//! depend on the message.

use std::collections::HashMap;

use ferry_api::check::endpoint::{self as checked, Envelope, UriPart, VarSource};
use ferry_api::expr::Expression;
use ferry_api::resources::endpoint::HttpMethod;
use http::{Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::expr::context::PropertyScope;
use crate::expr::value::{eval, to_text};
use crate::fault::{Fault, codes};
use crate::message::{Message, properties};

/// Where a leaf sends.
pub(super) enum Target {
    Http {
        uri: Vec<UriPart>,
        method: Option<Method>,
        message_type: Option<&'static str>,
        envelope: Envelope,
    },
    Address {
        uri: String,
        append_postfix: bool,
        method: Option<Method>,
        message_type: Option<&'static str>,
        envelope: Envelope,
    },
    /// The message's `To` address.
    To,
}

/// Characters percent-encoded in a path variable: everything but RFC 3986 unreserved ones.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Target {
    /// What the endpoint's format does to a SOAP envelope (`http` endpoints: nothing).
    pub(super) fn envelope(&self) -> Envelope {
        match self {
            Target::Address { envelope, .. } | Target::Http { envelope, .. } => *envelope,
            Target::To => Envelope::AsIs,
        }
    }

    /// The content type the endpoint's format writes in, when it fixes one.
    pub(super) fn message_type(&self) -> Option<&'static str> {
        match self {
            Target::Address { message_type, .. } | Target::Http { message_type, .. } => {
                *message_type
            }
            Target::To => None,
        }
    }

    /// The runtime target of a checked one; `${config.x}` is fixed for the life of a
    /// configuration, so it is folded into the URL here, not read per request.
    pub(super) fn build(c: &checked::Target, config: &HashMap<String, String>) -> Target {
        match c {
            checked::Target::Http {
                uri,
                method,
                message_type,
                envelope,
            } => Target::Http {
                uri: uri
                    .iter()
                    .map(|part| match part {
                        UriPart::Expr(e) => match config_value(e, config) {
                            Some(value) => UriPart::Literal(value.to_string()),
                            None => part.clone(),
                        },
                        other => other.clone(),
                    })
                    .collect(),
                method: method.map(method_of),
                message_type: *message_type,
                envelope: *envelope,
            },
            checked::Target::Address {
                uri,
                append_postfix,
                method,
                message_type,
                envelope,
            } => Target::Address {
                uri: with_config(uri, config),
                append_postfix: *append_postfix,
                method: method.map(method_of),
                message_type: *message_type,
                envelope: *envelope,
            },
            checked::Target::To => Target::To,
        }
    }

    /// The method and URL of the request for `msg`.
    pub(super) fn resolve(&self, msg: &Message) -> Result<(Method, String), Fault> {
        match self {
            Target::Http { uri, method, .. } => {
                let mut url = String::new();
                for part in uri {
                    match part {
                        UriPart::Literal(s) => url.push_str(s),
                        UriPart::Var { source, raw } => {
                            let value = var_value(source, msg);
                            if *raw {
                                url.push_str(&value);
                            } else {
                                url.extend(utf8_percent_encode(&value, PATH_VALUE));
                            }
                        }
                        UriPart::Expr(e) => url.push_str(&to_text(&eval(e, msg)?)),
                    }
                }
                Ok((method.clone().unwrap_or_else(|| msg.method.clone()), url))
            }
            Target::Address {
                uri,
                append_postfix,
                method,
                ..
            } => {
                let mut url = uri.clone();
                if *append_postfix {
                    push_postfix(&mut url, msg);
                }
                Ok((method.clone().unwrap_or_else(|| msg.method.clone()), url))
            }
            Target::To => {
                let to = msg
                    .property(PropertyScope::Default, properties::TO)
                    .map(|v| to_text(&v))
                    .unwrap_or_default();
                let scheme = to.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
                if !matches!(scheme.as_deref(), Some("http" | "https")) {
                    return Err(Fault::upstream(
                        codes::SENDING_FAILED,
                        format!(
                            "no endpoint and no To address to send to (To is {to:?}): name an \
                             endpoint, or set To with the header mediator"
                        ),
                        false,
                    ));
                }
                let mut url = to.trim_end_matches('/').to_string();
                push_postfix(&mut url, msg);
                Ok((msg.method.clone(), url))
            }
        }
    }
}

/// Appends Synapse's REST postfix (the request's path after the API context), when the
/// message has one, to an address.
fn push_postfix(url: &mut String, msg: &Message) {
    if let Some(postfix) = msg.property(PropertyScope::Axis2, properties::REST_URL_POSTFIX) {
        let postfix = to_text(&postfix);
        if !postfix.is_empty() && !postfix.starts_with(['/', '?']) {
            url.push('/');
        }
        url.push_str(&postfix);
    }
}

impl Target {
    /// The URL when it does not depend on the message (literal parts only, `${config.x}`
    /// already folded in; an address without the REST postfix), parsed once at load time.
    pub(super) fn fixed_uri(&self) -> Option<Uri> {
        let url = match self {
            Target::Http { uri, .. } => {
                let mut url = String::new();
                for part in uri {
                    let UriPart::Literal(text) = part else {
                        return None;
                    };
                    url.push_str(text);
                }
                url
            }
            Target::Address {
                uri,
                append_postfix: false,
                ..
            } => uri.clone(),
            Target::Address { .. } | Target::To => return None,
        };
        url.parse().ok()
    }

    pub(super) fn method(&self) -> Option<&Method> {
        match self {
            Target::Http { method, .. } | Target::Address { method, .. } => method.as_ref(),
            Target::To => None,
        }
    }
}

/// The value a URI template variable reads from the message.
fn var_value(source: &VarSource, msg: &Message) -> String {
    match source {
        VarSource::UriVar(name) => msg
            .property(PropertyScope::Default, &format!("uri.var.{name}"))
            .map(|v| to_text(&v))
            .or_else(|| msg.uri_param(name).map(str::to_owned))
            .unwrap_or_default(),
        VarSource::QueryParam(name) => msg
            .property(PropertyScope::Default, &format!("query.param.{name}"))
            .map(|v| to_text(&v))
            .or_else(|| msg.query_param(name).map(str::to_owned))
            .unwrap_or_default(),
        VarSource::Property(name) => msg
            .property(PropertyScope::Default, name)
            .map(|v| to_text(&v))
            .unwrap_or_default(),
    }
}

/// The value of an expression that is exactly `${config.key}` with the key set.
/// An address with its `${config.KEY}` parts replaced by their values (the checker let
/// nothing else in, and refused unset keys).
fn with_config(uri: &str, config: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(start) = rest.find("${config.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${config.".len()..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        match config.get(after[..end].trim()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + "${config.".len() + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn config_value<'a>(e: &Expression, config: &'a HashMap<String, String>) -> Option<&'a str> {
    let Expression::Synapse(e) = e else {
        return None;
    };
    let ferry_api::expr::Node::Path {
        root: ferry_api::expr::Root::Config(key),
        segments,
    } = &e.root
    else {
        return None;
    };
    if !segments.is_empty() {
        return None;
    }
    config.get(key).map(String::as_str)
}

fn method_of(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
    }
}
