//! `script`: runs a JavaScript function on the message with Synapse's `mc` API
//! (`getPayloadJSON`, `setPayloadJSON`, `getPayloadXML`, `setPayloadXML`, `getProperty`,
//! `setProperty`, `removeProperty`, `getVariable`, `setVariable`).
//!
//! Engine: QuickJS (rquickjs). Each worker thread keeps one engine (runtime + context) and
//! each script's function compiled in it on first use, so a message costs a call, not a
//! setup. A call has a time limit (an interrupt handler checks a deadline) and the
//! engine a memory limit; a script that throws, runs past the limit or runs out of memory
//! is a fault for the fault sequence, and after a limit is hit the thread's engine is
//! dropped and made anew, so nothing of it lingers. Scripts have no `require`, file system
//! or network: QuickJS' bare context has none.
//!
//! The message is lent to the engine for the call through a thread-local slot, so `mc`'s
//! functions (made once per engine) reach the current message without borrowing it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use ferry_api::check::mediator as checked;
use ferry_api::script::Program;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Persistent, Value as JsValue};
use serde_json::Value;

use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::{Message, soap};
use crate::sequence::Flow;
use crate::xml::Element;

/// Default time a script call may run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default memory of a worker thread's script engine.
pub const DEFAULT_MEMORY: usize = 16 << 20;

/// The limits, from `FERRY_SCRIPT_TIMEOUT_MS` and `FERRY_SCRIPT_MEMORY_MIB` (read once).
static LIMITS: LazyLock<(Duration, usize)> = LazyLock::new(|| {
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let timeout = number("FERRY_SCRIPT_TIMEOUT_MS")
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    let memory = number("FERRY_SCRIPT_MEMORY_MIB")
        .filter(|mib| *mib > 0)
        .map_or(DEFAULT_MEMORY, |mib| (mib as usize) << 20);
    (timeout, memory)
});

/// A `script` mediator.
#[derive(Debug)]
pub struct Script(pub Arc<Program>);

impl Script {
    /// Builds the mediator from its checked form.
    pub fn build(c: &checked::Script) -> Self {
        Script(c.program.clone())
    }

    /// Calls the script with `mc` on the message.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let lent = std::mem::replace(msg, Message::new_empty());
        CURRENT.with(|c| *c.borrow_mut() = Some(lent));
        let outcome = ENGINE.with(|e| {
            let mut slot = e.borrow_mut();
            let engine = match slot.as_mut() {
                Some(engine) => engine,
                None => slot.insert(Engine::new()?),
            };
            let outcome = engine.call(&self.0);
            if matches!(outcome, Err(Failure::Limit(_))) {
                // A call stopped by a limit may leave the engine half-way: start afresh.
                *slot = None;
            }
            outcome
        });
        if let Some(back) = CURRENT.with(|c| c.borrow_mut().take()) {
            *msg = back;
        }
        outcome.map(|()| Flow::Continue).map_err(|f| {
            let detail = match f {
                Failure::Thrown(s) | Failure::Limit(s) | Failure::Engine(s) => s,
            };
            Fault::internal(
                codes::CUSTOM,
                format!("Error while executing the script {}", self.0.name),
            )
            .with_detail(detail)
        })
    }
}

// === the engine of one worker thread ===

enum Failure {
    /// The script threw (or `mc` refused a call).
    Thrown(String),
    /// The time or memory limit stopped it.
    Limit(String),
    /// The engine could not be made.
    Engine(String),
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The message of the call under way.
    static CURRENT: RefCell<Option<Message>> = const { RefCell::new(None) };
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

// Fields drop in order: what lives in the engine before the engine itself.
struct Engine {
    functions: HashMap<u64, (Weak<Program>, Persistent<Function<'static>>)>,
    mc: Persistent<Object<'static>>,
    context: rquickjs::Context,
    _runtime: rquickjs::Runtime,
}

impl Engine {
    fn new() -> Result<Engine, Failure> {
        let engine_err = |e: rquickjs::Error| Failure::Engine(e.to_string());
        let runtime = rquickjs::Runtime::new().map_err(engine_err)?;
        runtime.set_memory_limit(LIMITS.1);
        runtime.set_max_stack_size(256 << 10);
        runtime.set_interrupt_handler(Some(Box::new(|| {
            DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t))
        })));
        let context = rquickjs::Context::full(&runtime).map_err(engine_err)?;
        let mc = context
            .with(|cx| mc_object(&cx).map(|o| Persistent::save(&cx, o)))
            .map_err(engine_err)?;
        Ok(Engine {
            functions: HashMap::new(),
            mc,
            context,
            _runtime: runtime,
        })
    }

    fn call(&mut self, program: &Arc<Program>) -> Result<(), Failure> {
        let timeout = LIMITS.0;
        DEADLINE.with(|d| d.set(Some(Instant::now() + timeout)));
        let known = self.functions.get(&program.id).map(|(_, f)| f.clone());
        let outcome = self.context.with(
            |cx| -> Result<Option<Persistent<Function<'static>>>, Failure> {
                let (function, fresh) = match known {
                    Some(f) => (
                        f.restore(&cx).map_err(|e| Failure::Engine(e.to_string()))?,
                        false,
                    ),
                    None => {
                        let outer: Function = cx
                            .eval(program.code.as_str())
                            .map_err(|e| failure(&cx, e, timeout))?;
                        let inner: JsValue =
                            outer.call(()).map_err(|e| failure(&cx, e, timeout))?;
                        let Some(inner) = inner.into_function() else {
                            return Err(Failure::Thrown(format!(
                                "{}: the function to call is not defined",
                                program.name
                            )));
                        };
                        (inner, true)
                    }
                };
                let mc = self
                    .mc
                    .clone()
                    .restore(&cx)
                    .map_err(|e| Failure::Engine(e.to_string()))?;
                let _: JsValue = function.call((mc,)).map_err(|e| failure(&cx, e, timeout))?;
                Ok(fresh.then(|| Persistent::save(&cx, function)))
            },
        );
        DEADLINE.with(|d| d.set(None));
        if let Some(saved) = outcome? {
            self.functions
                .retain(|_, (program, _)| program.strong_count() > 0);
            self.functions
                .insert(program.id, (Arc::downgrade(program), saved));
        }
        Ok(())
    }
}

/// What a failed call means: a limit, or what the script threw.
fn failure(cx: &Ctx<'_>, e: rquickjs::Error, timeout: Duration) -> Failure {
    let past_deadline = DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t));
    if past_deadline {
        // Take the uncatchable interrupt off the context.
        let _ = cx.catch();
        return Failure::Limit(format!(
            "the script ran longer than {} ms",
            timeout.as_millis()
        ));
    }
    match e {
        rquickjs::Error::Exception => {
            let thrown = cx.catch();
            let text = match thrown.as_exception() {
                Some(ex) => ex.message().unwrap_or_else(|| format!("{ex:?}")),
                None => cx
                    .json_stringify(thrown.clone())
                    .ok()
                    .flatten()
                    .and_then(|s| s.to_string().ok())
                    .unwrap_or_else(|| format!("{thrown:?}")),
            };
            if text.contains("out of memory") {
                Failure::Limit(format!("the script ran out of memory: {text}"))
            } else {
                Failure::Thrown(text)
            }
        }
        rquickjs::Error::Allocation => Failure::Limit("the script ran out of memory".into()),
        other => Failure::Thrown(other.to_string()),
    }
}

// === mc ===

fn with_message<R>(
    cx: &Ctx<'_>,
    f: impl FnOnce(&mut Message) -> Result<R, String>,
) -> rquickjs::Result<R> {
    let outcome = CURRENT.with(|c| match c.borrow_mut().as_mut() {
        Some(msg) => f(msg),
        None => Err("mc is only usable while its script runs".into()),
    });
    outcome.map_err(|e| Exception::throw_message(cx, &e))
}

fn to_js<'js>(cx: &Ctx<'js>, value: Option<&Value>) -> rquickjs::Result<JsValue<'js>> {
    match value {
        None => Ok(JsValue::new_undefined(cx.clone())),
        Some(v) => cx.json_parse(v.to_string()),
    }
}

fn from_js<'js>(cx: &Ctx<'js>, value: JsValue<'js>) -> rquickjs::Result<Value> {
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    let text = cx
        .json_stringify(value)?
        .map(|s| s.to_string())
        .transpose()?
        .unwrap_or_else(|| "null".into());
    serde_json::from_str(&text).map_err(|e| Exception::throw_message(cx, &e.to_string()))
}

fn scope(name: Option<String>) -> Result<PropertyScope, String> {
    Ok(match name.as_deref().unwrap_or("default") {
        "default" | "synapse" => PropertyScope::Default,
        "transport" => PropertyScope::Transport,
        "axis2" => PropertyScope::Axis2,
        "axis2-client" => PropertyScope::Axis2Client,
        "operation" => PropertyScope::Operation,
        other => return Err(format!("unknown property scope {other:?}")),
    })
}

fn mc_object<'js>(cx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let mc = Object::new(cx.clone())?;
    mc.set(
        "getPayloadJSON",
        Function::new(cx.clone(), |cx: Ctx<'js>| {
            let json = with_message(&cx, |m| {
                m.payload_json()
                    .map(|v| v.cloned())
                    .map_err(|e| e.to_string())
            })?;
            to_js(&cx, json.as_ref())
        })?,
    )?;
    mc.set(
        "setPayloadJSON",
        Function::new(cx.clone(), |cx: Ctx<'js>, value: JsValue<'js>| {
            // A string is JSON text, as MI reads it.
            let json = match value.as_string() {
                Some(s) => serde_json::from_str(&s.to_string()?)
                    .map_err(|e| Exception::throw_message(&cx, &format!("not JSON: {e}")))?,
                None => from_js(&cx, value)?,
            };
            with_message(&cx, |m| {
                m.set_json(json);
                m.set_property(
                    PropertyScope::Axis2,
                    "messageType",
                    Value::from("application/json"),
                );
                m.set_property(
                    PropertyScope::Axis2,
                    "ContentType",
                    Value::from("application/json"),
                );
                Ok(())
            })
        })?,
    )?;
    mc.set(
        "getPayloadXML",
        Function::new(cx.clone(), |cx: Ctx<'js>| {
            with_message(&cx, |m| {
                let payload = m.payload_xml().map_err(|e| e.to_string())?;
                Ok(payload.and_then(|p| {
                    if soap::envelope_version(p).is_some() {
                        soap::body_content(p).map(Element::to_xml_string)
                    } else {
                        Some(p.to_xml_string())
                    }
                }))
            })
        })?,
    )?;
    mc.set(
        "setPayloadXML",
        Function::new(cx.clone(), |cx: Ctx<'js>, xml: String| {
            with_message(&cx, |m| {
                let element =
                    Element::parse(xml.as_bytes()).map_err(|e| format!("not XML: {e}"))?;
                let envelope = m
                    .payload_xml()
                    .ok()
                    .flatten()
                    .filter(|p| soap::envelope_version(p).is_some())
                    .map(|p| soap::with_body_content(p, element.clone()));
                let is_soap = envelope.is_some();
                m.set_xml(envelope.unwrap_or(element));
                if !is_soap {
                    m.set_property(
                        PropertyScope::Axis2,
                        "messageType",
                        Value::from("application/xml"),
                    );
                    m.set_property(
                        PropertyScope::Axis2,
                        "ContentType",
                        Value::from("application/xml"),
                    );
                }
                Ok(())
            })
        })?,
    )?;
    mc.set(
        "getProperty",
        Function::new(cx.clone(), |cx: Ctx<'js>, name: String, s: Opt<String>| {
            let value = with_message(&cx, |m| Ok(m.property(scope(s.0)?, &name)))?;
            to_js(&cx, value.as_ref())
        })?,
    )?;
    mc.set(
        "setProperty",
        Function::new(
            cx.clone(),
            |cx: Ctx<'js>, name: String, value: JsValue<'js>, s: Opt<String>| {
                let value = from_js(&cx, value)?;
                with_message(&cx, |m| {
                    m.try_set_property(scope(s.0)?, &name, value)
                        .map_err(|e| e.to_string())
                })
            },
        )?,
    )?;
    mc.set(
        "removeProperty",
        Function::new(cx.clone(), |cx: Ctx<'js>, name: String, s: Opt<String>| {
            with_message(&cx, |m| {
                m.remove_property(scope(s.0)?, &name);
                Ok(())
            })
        })?,
    )?;
    mc.set(
        "getVariable",
        Function::new(cx.clone(), |cx: Ctx<'js>, name: String| {
            let value = with_message(&cx, |m| Ok(m.variable(&name).cloned()))?;
            to_js(&cx, value.as_ref())
        })?,
    )?;
    mc.set(
        "setVariable",
        Function::new(
            cx.clone(),
            |cx: Ctx<'js>, name: String, value: JsValue<'js>| {
                let value = from_js(&cx, value)?;
                with_message(&cx, |m| {
                    m.set_variable(name, value);
                    Ok(())
                })
            },
        )?,
    )?;
    Ok(mc)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn inline(source: &str) -> Script {
        Script(Arc::new(Program::inline(source, &[]).expect("parses")))
    }

    fn message(body: &Value) -> Message {
        Message::builder().json(body).build().expect("message")
    }

    fn detail(fault: &Fault) -> String {
        fault.detail.clone().unwrap_or_default()
    }

    #[test]
    fn mc_reads_and_writes_the_payload_properties_and_variables() {
        let script = inline(
            "var p = mc.getPayloadJSON(); mc.setProperty('who', p.name);\
             mc.setVariable('n', p.n * 2); mc.setPayloadJSON({seen: mc.getProperty('who')});",
        );
        let mut msg = message(&json!({"name": "Ada", "n": 21}));
        script.mediate(&mut msg).expect("runs");
        assert_eq!(
            msg.payload_json().expect("json"),
            Some(&json!({"seen": "Ada"}))
        );
        assert_eq!(msg.variable("n"), Some(&json!(42)));
        assert_eq!(
            msg.property(PropertyScope::Default, "who"),
            Some(json!("Ada"))
        );
    }

    #[test]
    fn a_throw_is_a_fault_and_the_message_is_given_back() {
        let script = inline("mc.setProperty('before', 1); throw new Error('no stock');");
        let mut msg = message(&json!({"keep": true}));
        let fault = script.mediate(&mut msg).expect_err("throws");
        assert!(detail(&fault).contains("no stock"), "{}", detail(&fault));
        assert_eq!(
            msg.payload_json().expect("json"),
            Some(&json!({"keep": true}))
        );
        assert_eq!(
            msg.property(PropertyScope::Default, "before"),
            Some(json!(1))
        );
    }

    #[test]
    fn an_endless_loop_is_stopped_and_the_next_call_runs() {
        let looping = inline("for (;;) {}");
        let started = Instant::now();
        let fault = looping
            .mediate(&mut message(&json!({})))
            .expect_err("stopped");
        assert!(started.elapsed() < DEFAULT_TIMEOUT * 3);
        assert!(
            detail(&fault).contains("ran longer than"),
            "{}",
            detail(&fault)
        );
        let ok = inline("mc.setVariable('ok', true);");
        let mut msg = message(&json!({}));
        ok.mediate(&mut msg).expect("runs after a stopped one");
        assert_eq!(msg.variable("ok"), Some(&json!(true)));
    }

    #[test]
    fn running_out_of_memory_is_a_fault() {
        let hungry = inline("var a = []; for (;;) { a.push(new Array(100000).fill(1)); }");
        let fault = hungry
            .mediate(&mut message(&json!({})))
            .expect_err("out of memory");
        assert!(
            detail(&fault).contains("memory") || detail(&fault).contains("longer"),
            "{}",
            detail(&fault)
        );
        inline("1;")
            .mediate(&mut message(&json!({})))
            .expect("runs after");
    }

    #[test]
    fn scripts_have_no_require_or_file_access() {
        for source in [
            "require('fs')",
            "std.open('/etc/passwd')",
            "os.exec(['ls'])",
        ] {
            let fault = inline(source)
                .mediate(&mut message(&json!({})))
                .expect_err(source);
            assert!(detail(&fault).contains("not defined"), "{}", detail(&fault));
        }
    }

    #[test]
    fn keyed_functions_keep_their_own_scope() {
        let a = Script(Arc::new(
            Program::keyed(
                "a",
                "var X = 'a'; function f(mc) { mc.setVariable('x', X); }",
                "f",
                &[],
            )
            .expect("parses"),
        ));
        let b = Script(Arc::new(
            Program::keyed(
                "b",
                "var X = 'b'; function f(mc) { mc.setVariable('x', X); }",
                "f",
                &[],
            )
            .expect("parses"),
        ));
        for (script, want) in [(&a, "a"), (&b, "b"), (&a, "a")] {
            let mut msg = message(&json!({}));
            script.mediate(&mut msg).expect("runs");
            assert_eq!(msg.variable("x"), Some(&json!(want)));
        }
        let missing = Script(Arc::new(
            Program::keyed("m", "function g() {}", "mediate", &[]).expect("parses"),
        ));
        let fault = missing
            .mediate(&mut message(&json!({})))
            .expect_err("no function");
        assert!(detail(&fault).contains("not defined"), "{}", detail(&fault));
    }
}
