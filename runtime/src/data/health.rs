//! The readiness check of data sources with `readinessCheck: true`: every few seconds each
//! is asked `SELECT 1`; while one does not answer, `/readyz` says so (503), and the pod
//! leaves its Service's endpoints until the database is back. Data sources without it
//! never affect readiness: their requests answer 503 on their own.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::admin::server::AdminState;
use crate::compiled::Compiled;

/// How often the databases are asked.
const EVERY: Duration = Duration::from_secs(5);

/// Checks the current configuration's gating data sources until `stop` resolves.
pub async fn watch(
    current: Arc<ArcSwap<Compiled>>,
    admin: Arc<AdminState>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let compiled = current.load_full();
        let mut down = false;
        // A source is listed under both its names; one check each is enough.
        let mut seen: Vec<&str> = Vec::new();
        for source in compiled.data_sources.values() {
            if !source.readiness_check || seen.contains(&source.name.as_str()) {
                continue;
            }
            seen.push(&source.name);
            if !source.healthy().await {
                tracing::warn!(data_source = %source.name, "the database does not answer: not ready");
                down = true;
            }
        }
        admin.set_data_down(down);
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
