//! `ferry import PATH...`: Micro Integrator / Synapse XML artifacts (files, project
//! folders, `.car` archives) to Ferry resources, one YAML file per artifact, with a report
//! of what was mapped, adjusted or left out. The conversion is [`crate::import`].

use std::process::ExitCode;

use anyhow::Context as _;

use super::ImportArgs;
use crate::import::{self, Options, Status};

/// Imports, writes the resources and prints the report (on stderr).
pub fn main(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        namespace: args.namespace.clone(),
        runtime: args.runtime.clone(),
    };
    let imported = import::import_paths(&args.paths, &options);
    let to_stdout = args.out.as_os_str() == "-";
    if to_stdout {
        super::write_stdout(&import::stream(&imported.outputs))?;
    } else {
        for output in &imported.outputs {
            let path = args.out.join(&output.path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&path, &output.yaml)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    // Lines of the self-check name a written file by its path under --out; show where it is.
    let written: std::collections::HashSet<&str> =
        imported.outputs.iter().map(|o| o.path.as_str()).collect();
    let mut listing = String::new();
    for entry in &imported.report.entries {
        if entry.status == Status::Mapped && !args.verbose {
            continue;
        }
        if !to_stdout && written.contains(entry.file.as_str()) {
            let mut located = entry.clone();
            located.file = args.out.join(&entry.file).display().to_string();
            listing.push_str(&format!("{located}\n"));
        } else {
            listing.push_str(&format!("{entry}\n"));
        }
    }
    let (mapped, adjusted, not_imported) = imported.report.counts();
    listing.push_str(&format!(
        "{mapped} artifact{} imported{}; {adjusted} adjustment{}; {not_imported} item{} not imported\n",
        if mapped == 1 { "" } else { "s" },
        if to_stdout {
            String::new()
        } else {
            format!(" into {}", args.out.display())
        },
        if adjusted == 1 { "" } else { "s" },
        if not_imported == 1 { "" } else { "s" },
    ));
    eprint!("{listing}");
    if args.strict && imported.report.has_unmapped() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
