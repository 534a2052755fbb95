//! Log lines per case: a `tracing` layer that keeps the events written inside a case's
//! span (the `log` mediator's lines at every category, and any warning or error) for the
//! case's `expect.logs` and for the report of a failed case.
//!
//! A case's flow runs inside its span: the request's handler is wrapped in it, and so is a
//! sequence case. Work the flow hands to other tasks (a message processor delivering later)
//! runs outside it, so its lines are not the case's.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The field of a case's span that carries its number.
pub const CASE_FIELD: &str = "ferry_test_case";

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// The message, then the other fields as `name=value`.
    pub text: String,
}

static LINES: LazyLock<Mutex<HashMap<u64, Vec<LogLine>>>> = LazyLock::new(Default::default);

/// Takes the lines captured for case `id`.
pub fn take(id: u64) -> Vec<LogLine> {
    LINES
        .lock()
        .ok()
        .and_then(|mut lines| lines.remove(&id))
        .unwrap_or_default()
}

/// The span extension naming the case.
struct CaseId(u64);

/// The capturing layer.
pub struct Capture;

/// The filter that goes with it: every `log` mediator line, and warnings and errors of
/// the rest. The case spans are ERROR spans so the filter never hides them.
pub fn filter() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_target("ferry::log", Level::TRACE)
        .with_default(Level::WARN)
}

#[derive(Default)]
struct CaseVisitor(Option<u64>);

impl Visit for CaseVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == CASE_FIELD {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut visitor = CaseVisitor::default();
        attrs.record(&mut visitor);
        if let (Some(case), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(CaseId(case));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(case) = scope
            .into_iter()
            .find_map(|span| span.extensions().get::<CaseId>().map(|c| c.0))
        else {
            return;
        };
        let mut visitor = LineVisitor::default();
        event.record(&mut visitor);
        let line = LogLine {
            level: *event.metadata().level(),
            text: format!("{}{}", visitor.message, visitor.fields),
        };
        if let Ok(mut lines) = LINES.lock() {
            lines.entry(case).or_default().push(line);
        }
    }
}

/// Installs the capturing subscriber for this process (once; later calls do nothing).
pub fn install() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry().with(Capture.with_filter(filter()));
    let _ = tracing::subscriber::set_global_default(subscriber);
}
