//! `log`: writes a line about the message at a category (level), with what `level` asks for:
//! `simple` (method, path, message id), `headers` (plus transport headers), `full` (plus the
//! payload), `custom` (only the message template and properties).

use ferry_api::expr::Template;
use ferry_api::mediator::{LogCategory, LogLevel, LogSpec};

use super::value::{ValueSource, to_text};
use crate::compile::CompileCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A compiled `log` mediator.
pub struct Log {
    level: LogLevel,
    category: LogCategory,
    message: Option<Template>,
    separator: String,
    properties: Vec<(String, ValueSource)>,
}

impl Log {
    /// Compiles the spec; a `message` without a `level` means `custom`, as in MI 4.4.
    pub fn compile(spec: &LogSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let message = match &spec.message {
            Some(m) => Some(cx.template(&format!("{field}.message"), m)?),
            None => None,
        };
        let level = spec.level.unwrap_or(if message.is_some() {
            LogLevel::Custom
        } else {
            LogLevel::Simple
        });
        let mut properties = Vec::with_capacity(spec.properties.len());
        for (i, p) in spec.properties.iter().enumerate() {
            let f = format!("{field}.properties[{i}]");
            let source = ValueSource::compile(cx, &f, p.value.as_deref(), p.expression.as_deref())?;
            properties.push((p.name.clone(), source));
        }
        Some(Log {
            level,
            category: spec.category,
            message,
            separator: spec.separator.clone(),
            properties,
        })
    }

    /// The line this mediator writes for `msg`.
    pub fn line(&self, msg: &Message) -> Result<String, Fault> {
        let mut parts: Vec<String> = Vec::new();
        if self.level != LogLevel::Custom {
            parts.push(format!("MessageID: {}", msg.id()));
            parts.push(format!("Method: {}", msg.method));
            parts.push(format!("URI: {}", msg.uri));
        }
        if matches!(self.level, LogLevel::Headers | LogLevel::Full) {
            for (name, value) in msg.headers.iter() {
                parts.push(format!("{name}: {}", value.to_str().unwrap_or("<binary>")));
            }
        }
        if let Some(template) = &self.message {
            parts.push(super::value::render(template, msg)?);
        }
        for (name, source) in &self.properties {
            let value = source.eval(msg)?;
            parts.push(format!("{name} = {}", to_text(&value)));
        }
        if self.level == LogLevel::Full {
            let payload = match msg.body_bytes() {
                Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => format!("<unreadable: {e}>"),
            };
            parts.push(format!("Payload: {payload}"));
        }
        Ok(parts.join(&self.separator))
    }

    /// Logs and continues.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let line = self.line(msg)?;
        match self.category {
            LogCategory::Trace => tracing::trace!(target: "ferry::log", "{line}"),
            LogCategory::Debug => tracing::debug!(target: "ferry::log", "{line}"),
            LogCategory::Info => tracing::info!(target: "ferry::log", "{line}"),
            LogCategory::Warn => tracing::warn!(target: "ferry::log", "{line}"),
            LogCategory::Error | LogCategory::Fatal => {
                tracing::error!(target: "ferry::log", "{line}")
            }
        }
        Ok(Flow::Continue)
    }
}
