//! The log filter, changed at run time through the management API (`/management/logging`,
//! `ferry ctl log-level`): `ferry run`'s logging setup registers how to replace its filter
//! here; nothing else depends on how logging is set up.

use std::sync::{Mutex, OnceLock};

/// Replaces the active filter; `Err` with the reason when the filter does not parse.
pub type Apply = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

struct Control {
    apply: Apply,
    current: Mutex<String>,
}

static CONTROL: OnceLock<Control> = OnceLock::new();

/// Registers the running filter (`current`) and how to replace it. Once per process.
pub fn register(current: &str, apply: Apply) {
    let _ = CONTROL.set(Control {
        apply,
        current: Mutex::new(current.to_string()),
    });
}

/// The filter in force, when logging registered one.
pub fn current() -> Option<String> {
    let control = CONTROL.get()?;
    Some(
        control
            .current
            .lock()
            .map_or_else(|e| e.into_inner().clone(), |c| c.clone()),
    )
}

/// Why a filter cannot be changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogLevelError {
    /// Logging was set up without a reloadable filter (tests, embedding).
    #[error("the log filter cannot be changed in this process")]
    Unavailable,
    /// The filter does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    Invalid {
        /// What was asked for.
        filter: String,
        /// The parser's words.
        reason: String,
    },
}

/// Sets the whole filter (`info,ferry::log=debug`).
pub fn set(filter: &str) -> Result<(), LogLevelError> {
    let control = CONTROL.get().ok_or(LogLevelError::Unavailable)?;
    (control.apply)(filter).map_err(|reason| LogLevelError::Invalid {
        filter: filter.to_string(),
        reason,
    })?;
    match control.current.lock() {
        Ok(mut c) => *c = filter.to_string(),
        Err(e) => *e.into_inner() = filter.to_string(),
    }
    Ok(())
}

/// Sets one logger's level (`ferry::log` to `debug`; `root` or `""` for the default level),
/// keeping the others: MI's "change a logger's level".
pub fn set_logger(logger: &str, level: &str) -> Result<String, LogLevelError> {
    let level = level.trim().to_ascii_lowercase();
    if !matches!(
        level.as_str(),
        "off" | "error" | "warn" | "info" | "debug" | "trace"
    ) {
        return Err(LogLevelError::Invalid {
            filter: level.clone(),
            reason: "a level is off, error, warn, info, debug or trace".into(),
        });
    }
    let current = current().ok_or(LogLevelError::Unavailable)?;
    let filter = with_logger(&current, logger, &level);
    set(&filter)?;
    Ok(filter)
}

/// `filter` with `logger` at `level`: its directive replaced or added; the root level is
/// the directive without a target.
pub fn with_logger(filter: &str, logger: &str, level: &str) -> String {
    let root = logger.is_empty() || logger == "root";
    let mut directives: Vec<String> = Vec::new();
    let mut replaced = false;
    for d in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let target = d.split_once('=').map(|(t, _)| t);
        let is_root = target.is_none() && !d.contains(['[', '{']);
        if (root && is_root) || (!root && target == Some(logger)) {
            if !replaced {
                directives.push(if root {
                    level.to_string()
                } else {
                    format!("{logger}={level}")
                });
                replaced = true;
            }
        } else {
            directives.push(d.to_string());
        }
    }
    if !replaced {
        let added = if root {
            level.to_string()
        } else {
            format!("{logger}={level}")
        };
        if root {
            directives.insert(0, added);
        } else {
            directives.push(added);
        }
    }
    directives.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loggers_level_replaces_its_directive_or_is_added() {
        assert_eq!(
            with_logger("info", "ferry::log", "debug"),
            "info,ferry::log=debug"
        );
        assert_eq!(
            with_logger("info,ferry::log=warn,lapin=off", "ferry::log", "debug"),
            "info,ferry::log=debug,lapin=off"
        );
        assert_eq!(
            with_logger("info,lapin=off", "root", "warn"),
            "warn,lapin=off"
        );
        assert_eq!(with_logger("lapin=off", "", "debug"), "debug,lapin=off");
    }
}
