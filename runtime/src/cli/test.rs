//! `ferry test PATH...`: runs the TestSuite documents under PATH... against the
//! configuration under the same paths (see [`crate::testing`]), prints a line per case and
//! a diff for each failure, optionally writes JUnit XML and a coverage table; exit status
//! 0 when every case passed, 1 when one failed, 2 when the configuration or a suite is
//! invalid (nothing ran).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;

use crate::testing::{self, Options, capture, report};

/// Arguments of `ferry test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Files or folders of YAML resources and their TestSuite documents (as `ferry run`
    /// reads them: folders recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Configuration properties (`${config.KEY}`) as KEY=VALUE, under each suite's own.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write the results as JUnit XML to this file (for CI systems).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Call the real backends instead of the suites' mocks (assertions on mock calls are
    /// skipped).
    #[arg(long)]
    pub no_mocks: bool,
    /// Report which API resources, sequences, switch and filter branches and fault
    /// sequences the cases exercised.
    #[arg(long)]
    pub coverage: bool,
    /// Cases run at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Run only the cases whose `suite/case` name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
}

/// Runs the suites; the exit code says how they went.
pub fn main(args: TestArgs) -> anyhow::Result<ExitCode> {
    if args.coverage {
        crate::coverage::enable();
    }
    capture::install();
    let options = Options {
        set: super::parse_properties(&args.set)?,
        mocks: !args.no_mocks,
        jobs: usize::from(args.jobs),
        filter: args.filter.clone(),
    };
    let plan = match testing::prepare(&args.paths, &options) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            let listing: String = diagnostics.iter().map(|d| format!("{d}\n")).collect();
            super::write_stdout(&listing)?;
            eprintln!(
                "ferry test: {} error(s) in the configuration or its test suites; no case ran",
                diagnostics.iter().filter(|d| d.is_error()).count()
            );
            return Ok(ExitCode::from(2));
        }
    };
    for warning in &plan.warnings {
        eprintln!("{warning}");
    }
    if plan.suites.is_empty() {
        eprintln!(
            "ferry test: no TestSuite documents under {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let started = Instant::now();
    let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let results = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(testing::run(&plan, &options));
    let mut out = report::text(&results, started.elapsed());
    if args.coverage {
        out.push_str(&report::coverage());
    }
    super::write_stdout(&out)?;
    if let Some(file) = &args.junit {
        std::fs::write(file, report::junit(&results, &timestamp))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    if results.is_empty() {
        eprintln!("ferry test: no case matches --filter");
        return Ok(ExitCode::from(2));
    }
    if results.iter().all(testing::CaseResult::passed) {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
