//! SMTP endpoints: a `call` or `send` to an endpoint with an `smtp` block sends the message
//! as an email, the counterpart of Micro Integrator's email connector (`email.init` is the
//! endpoint's connection, `email.send` its message fields).
//!
//! - The connection settings (host, port, STARTTLS or implicit TLS, AUTH, the password and
//!   CA read from the environment) are prepared once, when the endpoint is built; each
//!   email is one SMTP session (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT).
//!   lettre's connection pool is left out: its pool spawns a task when it is created and
//!   when it is dropped, which fails outside a Tokio runtime (`ferry validate`, a
//!   configuration dropped at exit).
//! - Each call renders the fields (`from`, `to`, `subject`, `content`, attachments, ...)
//!   from the message and sends; the call returns once the server accepted the email
//!   (its reply to the end of DATA), and the message goes on unchanged.
//! - A refusal is a fault 101500 whose message carries the server's code and text
//!   (`550 5.1.1 ...`); a server that cannot be reached or a TLS failure 101503, no answer
//!   within the endpoint's timeout 101504; a field that renders to a bad address is a
//!   fault 101500 naming it.

use std::time::Duration;

use bytes::Bytes;
use ferry_api::check::smtp::SmtpTarget;
use ferry_api::resources::SmtpSecurity;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::endpoint::Delivery;
use crate::expr::value::render;
use crate::fault::{Fault, codes};
use crate::message::Message;
use ferry_api::expr::Template;

/// An SMTP endpoint.
pub struct SmtpEndpoint {
    target: SmtpTarget,
    /// The transport, or why it could not be made (a password variable that is not set,
    /// an unreadable CA): then each call fails with the reason.
    transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
}

impl SmtpEndpoint {
    /// The endpoint sending as `target` says; the password and CA are read now.
    pub fn new(target: &SmtpTarget) -> Self {
        Self {
            target: target.clone(),
            transport: transport(target),
        }
    }

    /// Sends `msg` as an email.
    pub async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let transport = self.transport.as_ref().map_err(|e| {
            Fault::upstream(
                codes::CONNECTION_FAILED,
                format!("endpoint {name}: {e}"),
                false,
            )
        })?;
        let email = self.email(name, msg)?;
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout, transport.send(email)).await {
            Ok(Ok(_)) => Ok(Delivery::Answered),
            Ok(Err(e)) => Err(fault(name, &e)),
            Err(_) => Err(Fault::upstream(
                codes::TIMEOUT,
                format!(
                    "endpoint {name}: the SMTP server did not accept the email within {} ms",
                    timeout.as_millis()
                ),
                true,
            )),
        }
    }

    /// The email the message becomes.
    fn email(&self, name: &str, msg: &Message) -> Result<lettre::Message, Fault> {
        let t = &self.target;
        let bad = |what: &str, why: String| {
            Fault::upstream(
                codes::SENDING_FAILED,
                format!("endpoint {name}: {what}: {why}"),
                false,
            )
        };
        let text = |tpl: &Template| render(tpl, msg);
        let list = |what: &str, tpl: &Option<Template>| -> Result<Vec<Mailbox>, Fault> {
            let Some(tpl) = tpl else {
                return Ok(Vec::new());
            };
            let rendered = text(tpl)?;
            if rendered.trim().is_empty() {
                return Ok(Vec::new());
            }
            rendered
                .parse::<Mailboxes>()
                .map(|m| m.into_iter().collect())
                .map_err(|e| {
                    bad(
                        what,
                        format!("{rendered:?} is not a list of addresses ({e})"),
                    )
                })
        };
        let from_text = text(&t.from)?;
        let from: Mailbox = from_text
            .trim()
            .parse()
            .map_err(|e| bad("from", format!("{from_text:?} is not an address ({e})")))?;
        let to = list("to", &t.to)?;
        let cc = list("cc", &t.cc)?;
        let bcc = list("bcc", &t.bcc)?;
        let reply_to = list("replyTo", &t.reply_to)?;
        if to.is_empty() && cc.is_empty() && bcc.is_empty() {
            return Err(bad(
                "to",
                "the recipients rendered empty: nobody to send to".into(),
            ));
        }
        let mut b = lettre::Message::builder().from(from);
        for m in to {
            b = b.to(m);
        }
        for m in cc {
            b = b.cc(m);
        }
        for m in bcc {
            b = b.bcc(m);
        }
        for m in reply_to {
            b = b.reply_to(m);
        }
        if let Some(s) = &t.subject {
            b = b.subject(text(s)?);
        }
        for (hname, value) in &t.headers {
            let hn = HeaderName::new_from_ascii(hname.as_str().to_string())
                .map_err(|e| bad("headers", e.to_string()))?;
            b = b.raw_header(HeaderValue::new(hn, text(value)?));
        }
        let (payload, payload_type) = msg.body_bytes().map_err(Fault::unreadable_payload)?;
        let payload_type = if payload_type.is_empty() {
            "application/octet-stream".to_string()
        } else {
            payload_type
        };
        let content_type = |ct: &str| {
            ContentType::parse(ct).map_err(|e| bad("contentType", format!("{ct:?}: {e}")))
        };
        let (body, body_type) = match &t.content {
            Some(c) => (
                Bytes::from(text(c)?),
                t.content_type
                    .clone()
                    .unwrap_or_else(|| "text/plain; charset=utf-8".into()),
            ),
            None => (
                payload.clone(),
                t.content_type
                    .clone()
                    .unwrap_or_else(|| payload_type.clone()),
            ),
        };
        let main = SinglePart::builder()
            .header(content_type(&body_type)?)
            .body(Body::new(body.to_vec()));
        let email = if t.attachments.is_empty() {
            b.singlepart(main)
        } else {
            let mut parts = MultiPart::mixed().singlepart(main);
            for a in &t.attachments {
                let file_name = text(&a.file_name)?;
                let (content, ct) = match &a.content {
                    Some(c) => (
                        text(c)?.into_bytes(),
                        a.content_type
                            .clone()
                            .unwrap_or_else(|| "application/octet-stream".into()),
                    ),
                    None => (
                        payload.to_vec(),
                        a.content_type
                            .clone()
                            .unwrap_or_else(|| payload_type.clone()),
                    ),
                };
                parts =
                    parts.singlepart(Attachment::new(file_name).body(content, content_type(&ct)?));
            }
            b.multipart(parts)
        };
        email.map_err(|e| bad("the email", e.to_string()))
    }
}

fn transport(t: &SmtpTarget) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(t.host.as_str())
        .port(t.port)
        // lettre's own limit per SMTP command; the call's timeout bounds the whole send.
        .timeout(Some(t.timeout.min(Duration::from_secs(60))));
    let tls = || -> Result<TlsParameters, String> {
        let mut params = TlsParameters::builder(t.host.clone());
        if let Some(var) = &t.ca_env {
            let pem = std::env::var(var).map_err(|_| {
                format!(
                    "caFrom: the environment variable {var} holding the CA certificates is not set"
                )
            })?;
            let cert = Certificate::from_pem(pem.as_bytes())
                .map_err(|e| format!("caFrom ({var}): not a usable CA certificate: {e}"))?;
            params = params.add_root_certificate(cert);
        }
        params
            .build_rustls()
            .map_err(|e| format!("TLS settings: {e}"))
    };
    b = match t.security {
        SmtpSecurity::Starttls => b.tls(Tls::Required(tls()?)),
        SmtpSecurity::Tls => b.tls(Tls::Wrapper(tls()?)),
        SmtpSecurity::None => b.tls(Tls::None),
    };
    if let Some((user, env)) = &t.credentials {
        let password = match env {
            Some(var) => std::env::var(var)
                .map_err(|_| format!("passwordFrom: the environment variable {var} is not set"))?,
            None => String::new(),
        };
        b = b.credentials(Credentials::new(user.clone(), password));
    }
    Ok(b.build())
}

/// The fault of a failed send: the server's refusal (its code and text), or the
/// connection's failure.
fn fault(name: &str, e: &lettre::transport::smtp::Error) -> Fault {
    if let Some(code) = e.status() {
        return Fault::upstream(
            codes::SENDING_FAILED,
            format!("endpoint {name}: the SMTP server refused the email ({code}): {e}"),
            e.is_transient(),
        );
    }
    if e.is_timeout() {
        return Fault::upstream(
            codes::TIMEOUT,
            format!("endpoint {name}: the SMTP server did not answer in time: {e}"),
            true,
        );
    }
    Fault::upstream(
        codes::CONNECTION_FAILED,
        format!("endpoint {name}: cannot send through the SMTP server: {e}"),
        true,
    )
}
