//! The `ferry` binary: parses the command line and hands over to [`ferry::cli`].

use std::process::ExitCode;

use clap::Parser;
use ferry::cli::Cli;

/// mimalloc instead of the C library's allocator: a request allocates and frees a few dozen
/// small blocks, and glibc's malloc spent about 13 % of a passthrough's instructions on
/// them (its fastbin consolidation runs on every allocation of a kilobyte or more).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match ferry::cli::main(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferry: {e:#}");
            ExitCode::FAILURE
        }
    }
}
