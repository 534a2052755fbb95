//! SMTP endpoint checks: the connection can work (a host, a password only with a user, a
//! CA from a secret), and every message field is a template that parses, with the literal
//! parts of addresses, content types and header names valid. Reading the password and
//! connecting are the runtime's.

use http::{HeaderName, HeaderValue};

use super::cx::Cx;
use crate::expr::Template;
use crate::resources::endpoint::{SmtpEndpoint, SmtpSecurity};

/// A checked SMTP endpoint.
#[derive(Debug, Clone)]
pub struct SmtpTarget {
    /// The server's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Transport security.
    pub security: SmtpSecurity,
    /// The environment variable holding extra CA certificates (PEM).
    pub ca_env: Option<String>,
    /// The user and the environment variable holding the password, for AUTH.
    pub credentials: Option<(String, Option<String>)>,
    /// The sender.
    pub from: Template,
    /// The recipients, copy and blind copy recipients, reply address (comma-separated
    /// lists once rendered).
    pub to: Option<Template>,
    /// Copy recipients.
    pub cc: Option<Template>,
    /// Blind copy recipients.
    pub bcc: Option<Template>,
    /// Where replies go.
    pub reply_to: Option<Template>,
    /// The subject.
    pub subject: Option<Template>,
    /// The body; `None`: the payload.
    pub content: Option<Template>,
    /// The body's content type; `None`: `text/plain` for `content`, the message's for the
    /// payload.
    pub content_type: Option<String>,
    /// Attachments: file name, content (`None`: the payload), content type.
    pub attachments: Vec<Attachment>,
    /// Extra headers.
    pub headers: Vec<(HeaderName, Template)>,
    /// How long sending may take (`timeout.duration`).
    pub timeout: std::time::Duration,
}

/// A checked attachment.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The file name.
    pub file_name: Template,
    /// The content; `None`: the payload.
    pub content: Option<Template>,
    /// The content type; `None`: `application/octet-stream` (the payload's own for the
    /// payload).
    pub content_type: Option<String>,
}

/// Headers the email builder writes itself: set through their own fields.
const OWN_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "content-type",
    "content-transfer-encoding",
    "mime-version",
];

/// Checks the `smtp` block at `field` (`spec.smtp`).
pub fn check(
    cx: &mut Cx<'_>,
    field: &str,
    s: &SmtpEndpoint,
    timeout: std::time::Duration,
) -> Option<SmtpTarget> {
    let before = cx.error_count();
    if s.host.trim().is_empty() {
        cx.error(&format!("{field}.host"), "host is required");
    }
    if s.port == Some(0) {
        cx.error(&format!("{field}.port"), "must be a port number");
    }
    let credentials = match (&s.username, &s.password_from) {
        (None, Some(_)) => {
            cx.error(
                &format!("{field}.passwordFrom"),
                "a password goes with a username: set username",
            );
            None
        }
        (Some(user), from) => {
            let env = match from {
                Some(f) => match f.env_var() {
                    Some(v) => Some(v),
                    None => {
                        cx.error(&format!("{field}.passwordFrom"), "set env or secretKeyRef");
                        None
                    }
                },
                None => None,
            };
            Some((user.clone(), env))
        }
        (None, None) => None,
    };
    let ca_env = match &s.ca_from {
        Some(f) => {
            if s.security == SmtpSecurity::None {
                cx.error(
                    &format!("{field}.caFrom"),
                    "caFrom goes with security starttls or tls",
                );
            }
            match f.env_var() {
                Some(v) => Some(v),
                None => {
                    cx.error(&format!("{field}.caFrom"), "set env or secretKeyRef");
                    None
                }
            }
        }
        None => None,
    };
    if s.to.is_none() && s.cc.is_none() && s.bcc.is_none() {
        cx.error(
            field,
            "an email needs recipients: set to, cc or bcc (templates, comma-separated addresses)",
        );
    }
    let template = |cx: &mut Cx<'_>, at: &str, src: &Option<String>| match src {
        Some(t) => cx.template(&format!("{field}.{at}"), t).map(Some),
        None => Some(None),
    };
    let from = template(cx, "from", &Some(s.from.clone())).flatten();
    if s.from.trim().is_empty() {
        cx.error(&format!("{field}.from"), "from is required");
    }
    let to = template(cx, "to", &s.to);
    let cc = template(cx, "cc", &s.cc);
    let bcc = template(cx, "bcc", &s.bcc);
    let reply_to = template(cx, "replyTo", &s.reply_to);
    let subject = template(cx, "subject", &s.subject);
    let content = template(cx, "content", &s.content);
    for (at, address) in [
        ("from", Some(&s.from)),
        ("to", s.to.as_ref()),
        ("cc", s.cc.as_ref()),
        ("bcc", s.bcc.as_ref()),
        ("replyTo", s.reply_to.as_ref()),
    ] {
        // A literal list is checked now; one with expressions when it is rendered.
        if let Some(a) = address
            && !a.contains("${")
            && let Err(e) = addresses(a)
        {
            cx.error(&format!("{field}.{at}"), e);
        }
    }
    let content_type = |cx: &mut Cx<'_>, at: &str, ct: &Option<String>| {
        if let Some(ct) = ct
            && (HeaderValue::from_str(ct).is_err() || !ct.contains('/'))
        {
            cx.error(&format!("{field}.{at}"), "not a valid content type");
        }
    };
    content_type(cx, "contentType", &s.content_type);
    let mut attachments = Vec::with_capacity(s.attachments.len());
    for (i, a) in s.attachments.iter().enumerate() {
        let at = format!("attachments[{i}]");
        content_type(cx, &format!("{at}.contentType"), &a.content_type);
        if a.file_name.trim().is_empty() {
            cx.error(&format!("{field}.{at}.fileName"), "fileName is required");
        }
        let file_name = template(cx, &format!("{at}.fileName"), &Some(a.file_name.clone()));
        let content = template(cx, &format!("{at}.content"), &a.content);
        if let (Some(Some(file_name)), Some(content)) = (file_name, content) {
            attachments.push(Attachment {
                file_name,
                content,
                content_type: a.content_type.clone(),
            });
        }
    }
    let mut headers = Vec::with_capacity(s.headers.len());
    for (name, value) in &s.headers {
        let at = format!("{field}.headers.{name}");
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) if OWN_HEADERS.contains(&n.as_str()) => cx.error(
                &at,
                format!(
                    "{name} is written from its own field (from, to, subject, contentType, ...)"
                ),
            ),
            Ok(n) => {
                if let Some(t) = cx.template(&at, value) {
                    headers.push((n, t));
                }
            }
            Err(_) => cx.error(&at, "not a valid header name"),
        }
    }
    if cx.error_count() > before {
        return None;
    }
    Some(SmtpTarget {
        host: s.host.trim().to_string(),
        port: s.port.unwrap_or(match s.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }),
        security: s.security,
        ca_env,
        credentials,
        from: from?,
        to: to?,
        cc: cc?,
        bcc: bcc?,
        reply_to: reply_to?,
        subject: subject?,
        content: content?,
        content_type: s.content_type.clone(),
        attachments,
        headers,
        timeout,
    })
}

/// Splits a comma-separated list of addresses (`a@x.org, Name <b@y.org>`) and checks each
/// has the shape `local@domain`; `Err` names the first that does not.
pub fn addresses(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let address = match (part.rfind('<'), part.ends_with('>')) {
            (Some(i), true) => &part[i + 1..part.len() - 1],
            _ => part,
        };
        let valid = address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.contains(char::is_whitespace)
        });
        if !valid {
            return Err(format!("{part:?} is not an email address"));
        }
        out.push(part.to_string());
    }
    if out.is_empty() {
        return Err("no address given".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::addresses;

    #[test]
    fn address_lists_split_and_each_is_checked() {
        assert_eq!(
            addresses("a@x.org, Bea <b@y.org>").expect("valid"),
            vec!["a@x.org", "Bea <b@y.org>"]
        );
        assert!(addresses("a@x.org, nobody").is_err());
        assert!(addresses(" , ").is_err());
    }
}
