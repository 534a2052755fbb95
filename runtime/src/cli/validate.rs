//! `ferry validate PATH...`: every check `ferry run` and the operator apply, all errors at
//! once, each located; exit status 1 when any is an error (for CI and GitOps pipelines).

use std::process::ExitCode;

use ferry_api::diagnostic;

use super::ValidateArgs;
use crate::compile;

/// Validates and prints the diagnostics.
pub fn main(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let properties = super::parse_properties(&args.set)?;
    let (mut diagnostics, count) = compile::check_paths(&args.paths, properties);
    diagnostic::sort(&mut diagnostics);
    // One write, so a reader that stops early (`| head`) ends the printing, not the run:
    // the exit status still says whether there were errors.
    let listing: String = diagnostics.iter().map(|d| format!("{d}\n")).collect();
    super::write_stdout(&listing)?;
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        eprintln!(
            "{errors} error{} in {count} resource{}",
            if errors == 1 { "" } else { "s" },
            if count == 1 { "" } else { "s" }
        );
        Ok(ExitCode::from(1))
    } else {
        eprintln!(
            "{count} resource{} valid",
            if count == 1 { "" } else { "s" }
        );
        Ok(ExitCode::SUCCESS)
    }
}
