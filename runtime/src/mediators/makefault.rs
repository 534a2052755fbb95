//! `makefault`: replaces the message with a SOAP 1.1, SOAP 1.2 or POX fault, as Synapse's
//! fault mediator does: the code, reason, node, role and detail from literals or
//! expressions, the original message's SOAP headers kept, a 500 status and the fault's
//! content type set; with `response: true` the flow ends and the client gets the fault.
//!
//! The fault is written as text and parsed once: every value goes through the escaping
//! below, so no value can change the document's structure.

use ferry_api::check::mediator::{self as checked, FaultCode, SOAP11_ENV, SOAP12_ENV};
use ferry_api::expr::Expression;
use ferry_api::mediator::FaultVersion;
use serde_json::Value;

use crate::expr::XPathValue;
use crate::expr::context::PropertyScope;
use crate::expr::value::{Evaluate, ValueSource, to_text};
use crate::fault::{Fault, codes};
use crate::message::{Message, properties};
use crate::sequence::Flow;
use crate::xml::{Element, Node};

/// A `makefault` mediator, built from its checked form.
#[derive(Debug)]
pub struct Makefault(pub checked::Makefault);

impl Makefault {
    /// Replaces the payload with the fault; ends the flow when it is the response.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let m = &self.0;
        let reason = m.reason.eval_string(msg)?;
        let detail = match &m.detail {
            Some(d) => Some(detail_markup(d, msg)?),
            None => None,
        };
        let (text, content_type) = match m.version {
            FaultVersion::Pox => {
                // Synapse: the detail when there is one, else the reason.
                let mut out = String::from("<Exception>");
                match &detail {
                    Some(d) => out.push_str(d),
                    None => escape(&reason, &mut out),
                }
                out.push_str("</Exception>");
                (out, "application/xml")
            }
            version => {
                let code = self.code(msg)?;
                let headers = soap_headers(msg);
                let out = soap_fault(version, &code, &reason, m, detail.as_deref(), &headers);
                let content_type = if version == FaultVersion::Soap12 {
                    "application/soap+xml"
                } else {
                    "text/xml"
                };
                (out, content_type)
            }
        };
        let element = Element::parse(text.as_bytes()).map_err(|e| {
            Fault::internal(codes::CUSTOM, format!("makefault built invalid XML: {e}"))
                .with_detail(text.clone())
                .with_cause(e)
        })?;
        msg.set_xml(element);
        for name in [properties::MESSAGE_TYPE, properties::CONTENT_TYPE] {
            msg.set_property(PropertyScope::Axis2, name, Value::from(content_type));
        }
        // A fault goes back as 500, as MI sends it; HTTP_SC set after this mediator wins.
        msg.set_property(PropertyScope::Axis2, properties::HTTP_SC, Value::from(500));
        Ok(if m.response {
            Flow::Respond
        } else {
            Flow::Continue
        })
    }

    /// The code as `prefix:Local` with the declaration it needs (if any).
    fn code(&self, msg: &Message) -> Result<(String, Option<(String, String)>), Fault> {
        Ok(match &self.0.code {
            FaultCode::Name {
                prefix: Some(p),
                namespace,
                local,
            } => (format!("{p}:{local}"), Some((p.clone(), namespace.clone()))),
            FaultCode::Name { local, .. } => (format!("soapenv:{local}"), None),
            // Synapse reads a computed code as a local name in the envelope's namespace.
            FaultCode::Expr(e) => {
                let text = ValueSource::Expr(e.clone()).eval_string(msg)?;
                let local = text
                    .rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                (format!("soapenv:{local}"), None)
            }
        })
    }
}

/// The detail as XML content: an XPath's nodes as they are, anything else escaped.
fn detail_markup(source: &ValueSource, msg: &Message) -> Result<String, Fault> {
    if let ValueSource::Expr(expr @ Expression::XPath(_)) = source
        && let Ok(XPathValue::Nodes { nodes, .. }) = crate::expr::evaluate_xml(expr, msg)
        && nodes.iter().any(|n| matches!(n, Node::Element(_)))
    {
        let mut out = String::new();
        for node in &nodes {
            match node {
                Node::Element(e) => out.push_str(&e.to_xml_string()),
                Node::Text(t) | Node::CData(t) => escape(t, &mut out),
                _ => {}
            }
        }
        return Ok(out);
    }
    let mut out = String::new();
    escape(&to_text(&source.eval(msg)?), &mut out);
    Ok(out)
}

/// The SOAP header blocks of the message when it is a SOAP envelope, serialised.
fn soap_headers(msg: &Message) -> String {
    let Ok(Some(root)) = msg.payload_xml() else {
        return String::new();
    };
    let soap = matches!(
        root.name.namespace.as_deref(),
        Some(SOAP11_ENV) | Some(SOAP12_ENV)
    );
    if root.name.local != "Envelope" || !soap {
        return String::new();
    }
    let mut out = String::new();
    for child in &root.children {
        if let Node::Element(h) = child
            && h.name.local == "Header"
        {
            for block in &h.children {
                if let Node::Element(b) = block {
                    out.push_str(&b.to_xml_string());
                }
            }
        }
    }
    out
}

fn soap_fault(
    version: FaultVersion,
    (code, code_ns): &(String, Option<(String, String)>),
    reason: &str,
    m: &checked::Makefault,
    detail: Option<&str>,
    headers: &str,
) -> String {
    let env = if version == FaultVersion::Soap12 {
        SOAP12_ENV
    } else {
        SOAP11_ENV
    };
    let mut out = format!("<soapenv:Envelope xmlns:soapenv=\"{env}\">");
    if !headers.is_empty() {
        out.push_str("<soapenv:Header>");
        out.push_str(headers);
        out.push_str("</soapenv:Header>");
    }
    out.push_str("<soapenv:Body><soapenv:Fault>");
    let declare = |out: &mut String| {
        if let Some((prefix, uri)) = code_ns {
            out.push_str(&format!(" xmlns:{prefix}=\""));
            escape(uri, out);
            out.push('"');
        }
    };
    let optional = |out: &mut String, tag: &str, value: &Option<String>| {
        if let Some(v) = value {
            out.push_str(&format!("<{tag}>"));
            escape(v, out);
            out.push_str(&format!("</{}>", tag.split(' ').next().unwrap_or(tag)));
        }
    };
    if version == FaultVersion::Soap12 {
        out.push_str("<soapenv:Code><soapenv:Value");
        declare(&mut out);
        out.push('>');
        out.push_str(code);
        out.push_str("</soapenv:Value></soapenv:Code>");
        out.push_str("<soapenv:Reason><soapenv:Text xml:lang=\"en\">");
        escape(reason, &mut out);
        out.push_str("</soapenv:Text></soapenv:Reason>");
        optional(&mut out, "soapenv:Node", &m.node);
        optional(&mut out, "soapenv:Role", &m.role);
        if let Some(d) = detail {
            out.push_str("<soapenv:Detail>");
            out.push_str(d);
            out.push_str("</soapenv:Detail>");
        }
    } else {
        out.push_str("<faultcode");
        declare(&mut out);
        out.push('>');
        out.push_str(code);
        out.push_str("</faultcode><faultstring>");
        escape(reason, &mut out);
        out.push_str("</faultstring>");
        optional(&mut out, "faultactor", &m.role);
        if let Some(d) = detail {
            out.push_str("<detail>");
            out.push_str(d);
            out.push_str("</detail>");
        }
    }
    out.push_str("</soapenv:Fault></soapenv:Body></soapenv:Envelope>");
    out
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}
