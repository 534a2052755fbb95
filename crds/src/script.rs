//! JavaScript programs of the `script` mediator, as the checker builds them: the source
//! wrapped so that each script has its own scope, and a syntax check (QuickJS) that makes
//! a script that does not parse a located error at load. The runtime runs them
//! (`runtime/src/mediators/script.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

/// A checked script, ready for the runtime's engine.
#[derive(Debug)]
pub struct Program {
    /// Unique per compile, so each worker thread's engine keeps its compiled function once.
    pub id: u64,
    /// Where it came from (`inline` or the LocalEntry key), for messages.
    pub name: String,
    /// A JavaScript expression whose value is a function of no arguments that returns the
    /// function to call with `mc`.
    pub code: String,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Program {
    /// An inline script: its statements run with `mc` in scope.
    pub fn inline(source: &str, includes: &[String]) -> Result<Program, String> {
        // The source starts on the wrapper's first line, so QuickJS's line numbers are the
        // script's own.
        let code = format!(
            "(function(){{{}return function(mc){{{source}\n}};}})",
            includes.concat()
        );
        Program::checked("inline".into(), code)
    }

    /// A script from a LocalEntry: its top level runs once per engine, then `function` is
    /// called with `mc` for each message.
    pub fn keyed(
        key: &str,
        source: &str,
        function: &str,
        includes: &[String],
    ) -> Result<Program, String> {
        if !is_identifier(function) {
            return Err(format!("{function:?} is not a JavaScript function name"));
        }
        let code = format!(
            "(function(){{{}{source}\n;return typeof {function} === 'function' ? {function} \
             : undefined;}})",
            includes.concat()
        );
        Program::checked(key.to_string(), code)
    }

    fn checked(name: String, code: String) -> Result<Program, String> {
        syntax_check(&code)?;
        Ok(Program {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name,
            code,
        })
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Parses `code` (evaluating the wrapper expression only creates a function: nothing of
/// the script runs here).
fn syntax_check(code: &str) -> Result<(), String> {
    let rt = rquickjs::Runtime::new().map_err(|e| e.to_string())?;
    rt.set_memory_limit(16 << 20);
    let cx = rquickjs::Context::full(&rt).map_err(|e| e.to_string())?;
    cx.with(|cx| match cx.eval::<rquickjs::Value, _>(code) {
        Ok(_) => Ok(()),
        Err(rquickjs::Error::Exception) => {
            let thrown = cx.catch();
            let text = thrown
                .as_exception()
                .map(|e| {
                    let message = e.message().unwrap_or_default();
                    let line = e
                        .stack()
                        .and_then(|s| s.split(':').nth(1).map(|l| l.trim().to_string()));
                    match line {
                        Some(l) if !l.is_empty() => format!("{message} (line {l})"),
                        _ => message,
                    }
                })
                .unwrap_or_else(|| format!("{thrown:?}"));
            Err(format!("syntax error: {text}"))
        }
        Err(e) => Err(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_that_parse_are_accepted() {
        assert!(Program::inline("mc.setProperty('a', 1);", &[]).is_ok());
        assert!(Program::keyed("k", "function mediate(mc) { return 1; }", "mediate", &[]).is_ok());
    }

    #[test]
    fn syntax_errors_are_refused_with_their_line() {
        let err = Program::inline("var a = 1;\nvar = ;", &[]).expect_err("syntax");
        assert!(err.contains("syntax error"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn function_names_must_be_identifiers() {
        let err = Program::keyed("k", "", "a-b", &[]).expect_err("name");
        assert!(err.contains("function name"), "{err}");
    }

    #[test]
    fn the_script_does_not_run_when_checked() {
        assert!(Program::inline("while (true) {}", &[]).is_ok());
        assert!(Program::keyed("k", "while (true) {}", "mediate", &[]).is_ok());
    }
}
