//! `makefault`: the checked form of a SOAP 1.1, SOAP 1.2 or POX fault. The code's prefix
//! resolves here, against the namespaces in scope, so the runtime writes a fault whose
//! code is a well-formed QName; a SOAP 1.2 code must be one SOAP 1.2 defines.

use crate::check::cx::Cx;
use crate::check::value::ValueSource;
use crate::mediator::{FaultVersion, MakefaultSpec, ValueOrExpression};

/// The SOAP 1.1 envelope namespace.
pub const SOAP11_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace.
pub const SOAP12_ENV: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The fault codes SOAP 1.2 defines (its `Code/Value` must be one of them).
const SOAP12_CODES: [&str; 5] = [
    "VersionMismatch",
    "MustUnderstand",
    "DataEncodingUnknown",
    "Sender",
    "Receiver",
];

/// A checked `makefault`.
#[derive(Debug, Clone)]
pub struct Makefault {
    /// SOAP 1.1, SOAP 1.2 or POX.
    pub version: FaultVersion,
    /// The fault code (unused for POX).
    pub code: FaultCode,
    /// The reason (`faultstring` / `Reason/Text`; the POX fault's text without a detail).
    pub reason: ValueSource,
    /// SOAP 1.2 `Node`: the URI of the node that failed.
    pub node: Option<String>,
    /// `faultactor` (SOAP 1.1) / `Role` (SOAP 1.2).
    pub role: Option<String>,
    /// The detail: text, or for an XPath the nodes it selects.
    pub detail: Option<ValueSource>,
    /// End the flow and answer the client with the fault.
    pub response: bool,
}

/// A fault code.
#[derive(Debug, Clone)]
pub enum FaultCode {
    /// A QName written in the configuration.
    Name {
        /// Its namespace: the envelope's for the SOAP codes.
        namespace: String,
        /// The prefix it was written with (`None`: the envelope's).
        prefix: Option<String>,
        /// The local name (`Client`, `Server`, `Sender`, ...).
        local: String,
    },
    /// Computed per message: a local name in the envelope's namespace, as Synapse reads it.
    Expr(crate::expr::Expression),
}

pub(super) fn makefault(cx: &mut Cx<'_>, field: &str, spec: &MakefaultSpec) -> Option<Makefault> {
    let envelope_ns = match spec.version {
        FaultVersion::Soap11 => SOAP11_ENV,
        FaultVersion::Soap12 => SOAP12_ENV,
        FaultVersion::Pox => "",
    };
    let code = match (&spec.code, spec.version) {
        // A POX fault has no code; one written anyway would be ignored, so it is refused.
        (Some(_), FaultVersion::Pox) => {
            cx.error(
                &format!("{field}.code"),
                "a pox fault has no code (only its text: the detail, else the reason)",
            );
            return None;
        }
        (None, FaultVersion::Pox) => FaultCode::Name {
            namespace: String::new(),
            prefix: None,
            local: String::new(),
        },
        (None, _) => {
            cx.error(&format!("{field}.code"), "a SOAP fault needs a code");
            return None;
        }
        (Some(c), version) => code(cx, &format!("{field}.code"), c, version, envelope_ns)?,
    };
    let reason = match &spec.reason {
        Some(r) => value(cx, &format!("{field}.reason"), r)?,
        None => {
            cx.error(&format!("{field}.reason"), "a fault needs a reason");
            return None;
        }
    };
    if spec.node.is_some() && spec.version != FaultVersion::Soap12 {
        cx.error(&format!("{field}.node"), "only a SOAP 1.2 fault has a node");
        return None;
    }
    if spec.role.is_some() && spec.version == FaultVersion::Pox {
        cx.error(&format!("{field}.role"), "a pox fault has no role");
        return None;
    }
    let detail = match &spec.detail {
        Some(d) => Some(value(cx, &format!("{field}.detail"), d)?),
        None => None,
    };
    Some(Makefault {
        version: spec.version,
        code,
        reason,
        node: spec.node.clone(),
        role: spec.role.clone(),
        detail,
        response: spec.response,
    })
}

fn value(cx: &mut Cx<'_>, field: &str, v: &ValueOrExpression) -> Option<ValueSource> {
    cx.value_source(field, v.value.as_deref(), v.expression.as_deref())
}

/// A literal code `prefix:Local` (the prefix bound by `namespaces`, or the envelope's when
/// absent) or an expression.
fn code(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &ValueOrExpression,
    version: FaultVersion,
    envelope_ns: &str,
) -> Option<FaultCode> {
    let Some(literal) = &spec.value else {
        return match value(cx, field, spec)? {
            ValueSource::Expr(e) => Some(FaultCode::Expr(e)),
            ValueSource::Literal(_) => None,
        };
    };
    if spec.expression.is_some() {
        cx.error(field, "set either value or expression, not both");
        return None;
    }
    let (prefix, local) = match literal.split_once(':') {
        Some((p, l)) => (Some(p.trim()), l.trim()),
        None => (None, literal.trim()),
    };
    let is_name = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !is_name(local) || prefix.is_some_and(|p| !is_name(p)) {
        cx.error(
            &format!("{field}.value"),
            format!("{literal:?} is not a fault code: write prefix:Name or Name"),
        );
        return None;
    }
    let namespace = match prefix {
        None => envelope_ns.to_string(),
        Some(p) => match cx.namespaces().iter().rev().find(|(q, _)| q == p) {
            Some((_, uri)) => uri.clone(),
            None => {
                cx.error(
                    &format!("{field}.value"),
                    format!(
                        "the prefix '{p}' of fault code {literal:?} is not declared \
                         (declare it in namespaces, e.g. {p}: \"{envelope_ns}\")"
                    ),
                );
                return None;
            }
        },
    };
    if version == FaultVersion::Soap12
        && (namespace != SOAP12_ENV || !SOAP12_CODES.contains(&local))
    {
        cx.error(
            &format!("{field}.value"),
            format!(
                "{literal:?} is not a SOAP 1.2 fault code: one of {} in the SOAP 1.2 \
                 envelope namespace",
                SOAP12_CODES.join(", ")
            ),
        );
        return None;
    }
    Some(FaultCode::Name {
        prefix: prefix
            .filter(|_| namespace != envelope_ns)
            .map(str::to_string),
        namespace,
        local: local.to_string(),
    })
}
