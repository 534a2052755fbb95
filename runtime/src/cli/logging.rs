//! Log setup: `tracing` to stderr, filtered by `--log-filter` / `FERRY_LOG` (default `info`,
//! changeable at run time through the management API), as JSON lines unless stderr is a
//! terminal (`--log-format auto`, the default).
//! The AMQP client's own lines are left out unless the filter names it: it logs an expected
//! reconnect or a clean shutdown as ERRORs (`io_loop: Connection error`, `invalid channel`),
//! while Ferry reports broker trouble itself, once, in its own words.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use super::LogFormat;

/// The filter when none is given.
pub const DEFAULT_FILTER: &str = "info";

/// Added to a filter that does not mention the AMQP client.
const QUIET_AMQP: &str = "lapin=off";

/// Installs the global subscriber, its filter replaceable at run time
/// ([`crate::telemetry::log_level`]).
pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    // An empty `FERRY_LOG=` (a blank chart value) means "not set", not "errors only".
    let filter = if filter.trim().is_empty() {
        DEFAULT_FILTER
    } else {
        filter
    };
    let (env_filter, invalid) = match EnvFilter::try_new(without_secrets(&with_quiet_amqp(filter)))
    {
        Ok(f) => (f, None),
        Err(e) => (
            EnvFilter::new(without_secrets(&with_quiet_amqp(DEFAULT_FILTER))),
            Some(e),
        ),
    };
    let terminal = std::io::stderr().is_terminal();
    let ansi = use_ansi(terminal, std::env::var_os("NO_COLOR").as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // The filter's reload handle is typed by the format, hence one branch each.
    let (result, apply): (_, crate::telemetry::log_level::Apply) = match resolve(format, terminal) {
        LogFormat::Json => {
            let builder = builder.json().flatten_event(true).with_filter_reloading();
            let handle = builder.reload_handle();
            (
                builder.try_init(),
                Box::new(move |wanted: &str| {
                    handle.reload(parse(wanted)?).map_err(|e| e.to_string())
                }),
            )
        }
        _ => {
            let builder = builder.with_target(false).with_filter_reloading();
            let handle = builder.reload_handle();
            (
                builder.try_init(),
                Box::new(move |wanted: &str| {
                    handle.reload(parse(wanted)?).map_err(|e| e.to_string())
                }),
            )
        }
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))?;
    let active = if invalid.is_some() {
        DEFAULT_FILTER
    } else {
        filter
    };
    crate::telemetry::log_level::register(active, apply);
    if let Some(e) = invalid {
        // Logged, not fatal: a typo in a pod's FERRY_LOG must not stop it serving.
        tracing::warn!(error = %e, default = DEFAULT_FILTER, "invalid log filter; using the default");
    }
    Ok(())
}

/// A filter asked for at run time, with the AMQP client kept quiet as at start.
fn parse(filter: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(without_secrets(&with_quiet_amqp(filter))).map_err(|e| e.to_string())
}

/// `auto`: JSON lines where no person reads them (a container's or a service's log, a
/// file, a pipe), text on a terminal.
fn resolve(format: LogFormat, stderr_is_terminal: bool) -> LogFormat {
    match format {
        LogFormat::Auto if stderr_is_terminal => LogFormat::Text,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    }
}

/// `filter` with the AMQP client left out, unless it says otherwise about it.
fn with_quiet_amqp(filter: &str) -> String {
    if filter.contains("lapin") {
        filter.to_string()
    } else {
        format!("{filter},{QUIET_AMQP}")
    }
}

/// `filter` with the FTP client's protocol trace cut off whatever it says: suppaftp traces
/// every command it sends, `PASS` and the password included, so it is held at `debug`.
fn without_secrets(filter: &str) -> String {
    let mut kept: Vec<&str> = filter
        .split(',')
        .filter(|d| !d.trim_start().starts_with("suppaftp"))
        .collect();
    kept.push("suppaftp=debug");
    kept.join(",")
}

/// Colour codes only for a person at a terminal: in a file, a pipe or a log collector they
/// are noise that breaks `grep`. Decided on stderr, where the logs go. `NO_COLOR`
/// (<https://no-color.org>) turns them off anywhere; `with_ansi` would override it.
fn use_ansi(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn the_ftp_client_never_traces_its_commands_and_so_never_a_password() {
        assert_eq!(without_secrets("info"), "info,suppaftp=debug");
        assert_eq!(
            without_secrets("trace,suppaftp=trace,lapin=off"),
            "trace,lapin=off,suppaftp=debug"
        );
    }

    #[test]
    fn the_amqp_client_is_quiet_unless_the_filter_names_it() {
        assert_eq!(with_quiet_amqp("info"), "info,lapin=off");
        assert_eq!(
            with_quiet_amqp("debug,ferry::log=info"),
            "debug,ferry::log=info,lapin=off"
        );
        assert_eq!(with_quiet_amqp("info,lapin=debug"), "info,lapin=debug");
    }

    #[test]
    fn auto_writes_json_unless_a_person_reads_the_terminal() {
        assert_eq!(resolve(LogFormat::Auto, true), LogFormat::Text);
        assert_eq!(resolve(LogFormat::Auto, false), LogFormat::Json);
        assert_eq!(resolve(LogFormat::Text, false), LogFormat::Text);
        assert_eq!(resolve(LogFormat::Json, true), LogFormat::Json);
    }

    #[test]
    fn colours_are_only_for_a_terminal_without_no_color() {
        assert!(use_ansi(true, None));
        assert!(
            use_ansi(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!use_ansi(true, Some(OsStr::new("1"))));
        assert!(
            !use_ansi(false, None),
            "a file or a pipe gets no colour codes"
        );
    }
}
