//! ProxyService checks. A proxy is served as an API would be: one resource at
//! `/services/<name>` taking every method, whose in-flow is the target's in-sequence, then
//! (with a target endpoint) a `send` to it, and which answers `GET ?wsdl` with the
//! published WSDL. Its checked form is an [`Api`], so the route table and the runtime serve
//! it with what serves APIs.

use super::cx::Cx;
use super::local_entry::Content;
use super::mediator::{Filter, FilterCondition, Mediator, PayloadFactory, Piece, Send, check_list};
use super::tls::Listeners;
use super::{Api, ApiResource};
use crate::expr::Expression;
use crate::mediator::MediaType;
use crate::resources::proxy_service::{ProxyServiceSpec, ProxyTransport};

/// The path prefix proxies are served under, as in Micro Integrator.
pub const SERVICES_PREFIX: &str = "/services/";

/// The context a proxy named `name` is served at (`/services/StockQuoteProxy`), or why the
/// name cannot be one.
pub fn context(name: &str) -> Result<String, String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '{' | '}' | '*' | '%'))
    {
        return Err(format!(
            "{name:?} cannot be a path segment of /services/<name> (no spaces, /, ?, #, {{}}, * or %)"
        ));
    }
    Ok(format!("{SERVICES_PREFIX}{name}"))
}

pub(super) fn check(cx: &mut Cx<'_>, name: &str, spec: &ProxyServiceSpec) -> Option<Api> {
    if let Err(e) = context(name) {
        cx.error("metadata.name", e);
    }
    if spec.transports.is_empty() {
        cx.error("spec.transports", "a proxy needs a transport (http)");
    }
    if spec.statistics {
        cx.error(
            "spec.statistics",
            "per-proxy statistics are not supported yet",
        );
    }
    let t = &spec.target;
    if t.in_sequence.is_empty() && t.endpoint.is_none() {
        cx.error(
            "spec.target",
            "a proxy's target needs an inSequence, an endpoint, or both",
        );
        return None;
    }
    let wsdl = wsdl(cx, spec);
    let mut in_sequence = check_list(cx, "spec.target.inSequence", &t.in_sequence)?;
    if let Some(ep) = &t.endpoint {
        // Synapse sends to the target endpoint when the in-sequence is done with the
        // message; one that answered or sent it already never gets here.
        let endpoint = super::endpoint::check_ref(cx, "spec.target.endpoint", ep)?;
        in_sequence.push(Mediator::Send(Send {
            endpoint,
            implicit: false,
            receive: None,
        }));
    }
    let out_sequence = optional(cx, "spec.target.outSequence", &t.out_sequence)?;
    let fault_sequence = optional(cx, "spec.target.faultSequence", &t.fault_sequence)?;
    let wsdl = wsdl?;
    if let Some(document) = wsdl {
        in_sequence.insert(0, wsdl_answer(cx, document)?);
    }
    Some(Api {
        resources: vec![ApiResource {
            label: "/*".to_string(),
            in_sequence,
            out_sequence,
            fault_sequence,
            authentication: Default::default(),
            listeners: Listeners {
                http: spec.transports.contains(&ProxyTransport::Http),
                https: spec.transports.contains(&ProxyTransport::Https),
            },
        }],
        fault_sequence: None,
        authentication: None,
        cors: None,
        client_certificate: false,
        trace: spec.trace,
    })
}

fn optional(
    cx: &mut Cx<'_>,
    field: &str,
    list: &[crate::mediator::Mediator],
) -> Option<Option<Vec<Mediator>>> {
    if list.is_empty() {
        return Some(None);
    }
    check_list(cx, field, list).map(Some)
}

/// The published WSDL, checked to be well-formed XML; `Some(None)` without one.
fn wsdl(cx: &mut Cx<'_>, spec: &ProxyServiceSpec) -> Option<Option<String>> {
    let Some(w) = &spec.wsdl else {
        return Some(None);
    };
    match (&w.inline, &w.key) {
        (Some(doc), None) => {
            if let Err(e) = sxd_document::parser::parse(doc) {
                cx.error("spec.wsdl.inline", format!("not well-formed XML: {e}"));
                return None;
            }
            Some(Some(doc.clone()))
        }
        (None, Some(key)) => match cx.local_entry("spec.wsdl.key", key)? {
            // A WSDL is XML; a text entry holding one is checked like an inline WSDL.
            Content::Xml(doc) | Content::Text(doc) => {
                if let Err(e) = sxd_document::parser::parse(&doc) {
                    cx.error(
                        "spec.wsdl.key",
                        format!("local entry \"{key}\" is not well-formed XML: {e}"),
                    );
                    return None;
                }
                Some(Some(doc))
            }
            Content::Json(_) => {
                cx.error(
                    "spec.wsdl.key",
                    format!("local entry \"{key}\" holds JSON, but a WSDL is XML"),
                );
                None
            }
        },
        _ => {
            cx.error("spec.wsdl", "set exactly one of inline and key");
            None
        }
    }
}

/// `GET /services/<name>?wsdl` answers with the WSDL, as written; anything else goes on.
fn wsdl_answer(cx: &mut Cx<'_>, document: String) -> Option<Mediator> {
    const ASKS_FOR_WSDL: &str =
        "${exists(params.queryParams.wsdl) && properties.axis2.HTTP_METHOD == 'GET'}";
    let condition = match Expression::parse(ASKS_FOR_WSDL) {
        Ok(e) => e,
        Err(e) => {
            cx.error("spec.wsdl", format!("internal error: {e}"));
            return None;
        }
    };
    Some(Mediator::Filter(Filter {
        condition: FilterCondition::Holds(condition),
        then: vec![
            Mediator::PayloadFactory(PayloadFactory {
                media_type: MediaType::Xml,
                pieces: vec![Piece::Text(document)],
                args: Vec::new(),
            }),
            Mediator::Respond,
        ],
        otherwise: Vec::new(),
    }))
}
