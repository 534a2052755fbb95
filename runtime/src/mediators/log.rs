//! `log`: writes a line about the message at a category (level), with what `level` asks for:
//! `simple` (method, path, message id), `headers` (plus transport headers), `full` (plus the
//! payload), `custom` (only the message template and properties).

use ferry_api::check::mediator as checked;
use ferry_api::mediator::{LogCategory, LogLevel};

use crate::expr::value::{Evaluate, to_text};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A `log` mediator, built from its checked form.
pub struct Log(pub checked::Log);

impl Log {
    /// The line this mediator writes for `msg`.
    pub fn line(&self, msg: &Message) -> Result<String, Fault> {
        let mut parts: Vec<String> = Vec::new();
        if self.0.level != LogLevel::Custom {
            parts.push(format!("MessageID: {}", msg.id()));
            parts.push(format!("Method: {}", msg.method));
            parts.push(format!("URI: {}", msg.uri));
        }
        if matches!(self.0.level, LogLevel::Headers | LogLevel::Full) {
            for (name, value) in msg.headers.iter() {
                parts.push(format!("{name}: {}", value.to_str().unwrap_or("<binary>")));
            }
        }
        if let Some(template) = &self.0.message {
            parts.push(crate::expr::value::render(template, msg)?);
        }
        for (name, source) in &self.0.properties {
            let value = source.eval(msg)?;
            parts.push(format!("{name} = {}", to_text(&value)));
        }
        if self.0.level == LogLevel::Full {
            let payload = match msg.body_bytes() {
                Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => format!("<unreadable: {e}>"),
            };
            parts.push(format!("Payload: {payload}"));
        }
        Ok(parts.join(&self.0.separator))
    }

    /// Logs and continues.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let line = self.line(msg)?;
        let correlation_id = msg.correlation_id();
        match self.0.category {
            LogCategory::Trace => tracing::trace!(target: "ferry::log", correlation_id, "{line}"),
            LogCategory::Debug => tracing::debug!(target: "ferry::log", correlation_id, "{line}"),
            LogCategory::Info => tracing::info!(target: "ferry::log", correlation_id, "{line}"),
            LogCategory::Warn => tracing::warn!(target: "ferry::log", correlation_id, "{line}"),
            LogCategory::Error | LogCategory::Fatal => {
                tracing::error!(target: "ferry::log", correlation_id, "{line}")
            }
        }
        Ok(Flow::Continue)
    }
}
