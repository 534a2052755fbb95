//! Log setup: `tracing` to stderr, filtered by `FERRY_LOG` (default `info`, with the AMQP
//! client's internal chatter at `error`: Ferry reports broker trouble itself, once, in its
//! own words).

use tracing_subscriber::EnvFilter;

use super::LogFormat;

/// Installs the global subscriber.
pub fn init(format: LogFormat) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| EnvFilter::new("info,lapin=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
