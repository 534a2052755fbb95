//! The command line: one binary for people and pipelines.
//!
//! `ferry run PATH...` serves a bundle, `ferry validate PATH...` checks one and exits non-zero
//! with located errors, `ferry test PATH...` runs the TestSuites beside a configuration,
//! `ferry import PATH...` converts Micro Integrator projects, `ferry crds` prints the
//! CustomResourceDefinitions.

mod crds;
mod ctl;
mod hash;
mod import;
mod logging;
mod run;
mod test;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use run::RunArgs;
pub use test::TestArgs;

/// Ferry: a lean integration runtime.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr: `auto` writes text on a terminal and JSON lines elsewhere (a
    /// container's log, a file, a pipe).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto, env = "FERRY_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Which logs to write: a level (`debug`), or a default level and per-target ones
    /// (`warn,ferry::log=info`: only the `log` mediator's lines and warnings). An empty one
    /// means the default; an invalid one is reported and the default used.
    #[arg(
        long,
        global = true,
        value_name = "FILTER",
        default_value = logging::DEFAULT_FILTER,
        env = "FERRY_LOG"
    )]
    pub log_filter: String,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the integrations in PATH... (files or folders of YAML resources).
    // Boxed: its many flags would make every `Command` as large as the biggest variant.
    Run(Box<RunArgs>),
    /// Check the resources in PATH... and report every error with file, line and field.
    Validate(ValidateArgs),
    /// Run the TestSuites in PATH... against the resources there, with mocked endpoints.
    Test(Box<TestArgs>),
    /// Convert WSO2 Micro Integrator / Synapse XML artifacts (files, project folders, .car
    /// archives) into Ferry resources, with a report of what was mapped, adjusted or left out.
    Import(ImportArgs),
    /// Print the CustomResourceDefinitions (or write them, and the editor JSON schema, to --out).
    Crds(CrdsArgs),
    /// Talk to a running runtime's management API: list, describe, activate, deactivate,
    /// trigger, change log levels.
    Ctl(ctl::CtlArgs),
    /// Hash a password (bcrypt) or an API key (SHA-256) read from standard input, for the
    /// users and key lists of an API's authentication.
    HashPassword(hash::HashArgs),
}

/// Arguments of `ferry validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or folders of YAML resources.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Configuration properties (`${config.KEY}`) the resources expect, as KEY=VALUE.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Arguments of `ferry import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Synapse XML files, MI project folders, or carbon applications (.car).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Folder to write one YAML file per artifact into (`apis/`, `sequences/`, ...), or `-`
    /// for one YAML stream on standard output.
    #[arg(long, default_value = "-")]
    pub out: PathBuf,
    /// `metadata.namespace` of every resource written.
    #[arg(long)]
    pub namespace: Option<String>,
    /// The runtime group (`spec.runtime`) of every resource written.
    #[arg(long)]
    pub runtime: Option<String>,
    /// Exit with status 1 when anything could not be imported.
    #[arg(long)]
    pub strict: bool,
    /// List the mapped artifacts too, not only adjustments and what was left out.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Arguments of `ferry crds`.
#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write one file per CRD and `ferry.schema.json` into this folder instead of printing.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs a parsed command line; the exit code says how it went.
pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            logging::init(cli.log_format, &cli.log_filter)?;
            crate::panics::install_hook();
            run::main(*args)
        }
        Command::Validate(args) => validate::main(&args),
        Command::Test(args) => test::main(*args),
        Command::Import(args) => import::main(&args),
        Command::Crds(args) => crds::main(&args),
        Command::HashPassword(args) => hash::main(&args),
        Command::Ctl(args) => ctl::main(args),
    }
}

/// Writes `text` to stdout. A reader that went away (`ferry crds | head -1`) is no error:
/// it read what it wanted, so the rest is dropped quietly instead of the panic `print!`
/// makes of a closed pipe.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to stdout"),
    }
}

/// Parses `KEY=VALUE` configuration properties.
pub fn parse_properties(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| anyhow::anyhow!("--set {pair:?}: expected KEY=VALUE"))
        })
        .collect()
}
