//! `ferry hash-password`: the hashed form of a password (bcrypt, for `basic` users) or of an
//! API key (SHA-256 hex, for `apiKey` key lists), read from standard input so the secret
//! stays out of the shell history and the process list.

use std::io::Read;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `ferry hash-password`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// Hash an API key (SHA-256, hex) instead of a password (bcrypt).
    #[arg(long)]
    pub api_key: bool,
    /// The bcrypt cost (4 to 31).
    #[arg(long, default_value_t = 10)]
    pub cost: u32,
    /// Prefix the hash with `NAME:`, giving a whole line of the list.
    #[arg(long)]
    pub name: Option<String>,
}

/// Reads one secret from standard input (a trailing newline is not part of it) and prints
/// its hash.
pub fn main(args: &HashArgs) -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let secret = input
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&input);
    if secret.is_empty() {
        anyhow::bail!("give the password or key on standard input");
    }
    let hash = if args.api_key {
        crate::security::credentials::api_key_hash(secret)
    } else {
        bcrypt::hash(secret, args.cost)?
    };
    let line = match &args.name {
        Some(name) => format!("{name}:{hash}\n"),
        None => format!("{hash}\n"),
    };
    super::write_stdout(&line)?;
    Ok(ExitCode::SUCCESS)
}
