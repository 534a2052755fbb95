//! `xslt`: transforms the body (a SOAP body's content) or the element `source` selects
//! with a stylesheet compiled when the configuration loaded, and puts the result in its
//! place, as Synapse's XSLT mediator does. Parameters are evaluated per message. A JSON
//! body is transformed as its XML view (docs/expressions.md); a stylesheet whose output
//! method is `text` replaces the body with text.

use ferry_api::check::mediator as checked;
use ferry_api::check::value::ValueSource;
use ferry_api::xslt::Output;

use crate::expr::{self, XPathValue};
use crate::fault::{Fault, codes};
use crate::message::{Message, soap};
use crate::sequence::Flow;
use crate::xml::{Element, Node};

/// An `xslt` mediator.
#[derive(Debug)]
pub struct Xslt(pub checked::Xslt);

impl Xslt {
    /// Transforms the message.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let sheet = &self.0.stylesheet;
        let fail = |what: String| {
            Fault::internal(
                codes::CUSTOM,
                format!("Unable to perform XSLT transformation using: {}", sheet.key),
            )
            .with_detail(what)
        };
        let mut params = Vec::with_capacity(self.0.params.len());
        for (name, value) in &self.0.params {
            let value = match value {
                ValueSource::Literal(v) => v.clone(),
                ValueSource::Expr(e) => expr::evaluate_string(e, msg)
                    .map_err(|e| fail(format!("parameter {name}: {e}")))?,
            };
            params.push((name.clone(), value));
        }
        let input = self.input(msg).map_err(fail)?;
        let output = sheet.transform(&input, &params).map_err(fail)?;
        match output {
            Output::Text(text) => msg.set_text(text),
            Output::Xml(xml) => {
                let result = Element::parse(xml.as_bytes())
                    .map_err(|e| fail(format!("the result is not one XML element: {e}")))?;
                let payload = match &self.0.source {
                    Some(source) => expr::replace_selected(source, msg, &result)
                        .map_err(|e| fail(e.to_string()))?,
                    None => match msg
                        .payload_xml()
                        .ok()
                        .flatten()
                        .filter(|p| soap::envelope_version(p).is_some())
                    {
                        Some(envelope) => soap::with_body_content(envelope, result),
                        None => result,
                    },
                };
                msg.set_xml(payload);
            }
        }
        Ok(Flow::Continue)
    }

    /// The XML text transformed: what `source` selects, else the body's element (a SOAP
    /// body's content).
    fn input(&self, msg: &Message) -> Result<String, String> {
        if let Some(source) = &self.0.source {
            return match expr::evaluate_xml(source, msg).map_err(|e| e.to_string())? {
                XPathValue::Nodes { nodes, .. } => nodes
                    .iter()
                    .find_map(|n| match n {
                        Node::Element(e) => Some(e.to_xml_string()),
                        _ => None,
                    })
                    .ok_or_else(|| format!("source {} selects no element", source.source())),
                _ => Err(format!("source {} selects no element", source.source())),
            };
        }
        let payload = msg
            .payload_xml()
            .map_err(|e| format!("the payload cannot be read as XML: {e}"))?
            .ok_or("the message has no payload to transform")?;
        let element = if soap::envelope_version(payload).is_some() {
            soap::body_content(payload).ok_or("the SOAP body is empty")?
        } else {
            payload
        };
        Ok(element.to_xml_string())
    }
}
