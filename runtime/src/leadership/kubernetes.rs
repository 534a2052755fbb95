//! The Kubernetes election (feature `kubernetes`): the replicas of a group compete for one
//! `coordination.k8s.io` Lease (`FERRY_LEASE_NAME`, set by the operator to `ferry-<group>`)
//! through kube-lease-manager, and the holder leads.
//!
//! The loop drives `LeaseManager::changed()` itself rather than `LeaseManager::watch()`:
//! `watch()` logs an API error and keeps the last state, so a leader cut off from the API
//! server would go on running while its Lease expires and another replica takes over. Here
//! an error steps down at once (the runners stop), and a fresh manager re-reads the Lease
//! after a backoff. API calls are bounded by half the grace each, so a renewal that hangs
//! fails before the Lease can expire.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{LeadershipError, LeaseSettings};

/// Longest pause between two attempts to reach the Lease after errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Configures a client (in-cluster, else the kubeconfig) and starts holding the Lease in
/// the background. Returns the leadership channel, the stop signal and the holder task.
pub(super) async fn start(
    settings: LeaseSettings,
) -> Result<(watch::Receiver<bool>, oneshot::Sender<()>, JoinHandle<()>), LeadershipError> {
    let mut config = kube::Config::infer()
        .await
        .map_err(|e| LeadershipError::Client(e.to_string()))?;
    let budget = settings.grace / 2;
    config.connect_timeout = Some(budget);
    config.read_timeout = Some(budget);
    config.write_timeout = Some(budget);
    let client = Client::try_from(config).map_err(|e| LeadershipError::Client(e.to_string()))?;
    Ok(spawn(client, settings))
}

/// Holds the Lease with `client` until stopped: the seam the tests use with a mocked or
/// real API server.
pub fn spawn(
    client: Client,
    settings: LeaseSettings,
) -> (watch::Receiver<bool>, oneshot::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(hold(client, settings, tx, stop_rx));
    (rx, stop_tx, task)
}

async fn hold(
    client: Client,
    settings: LeaseSettings,
    tx: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let namespace = settings
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let lease = settings.name.as_str();
    let identity = settings.identity.as_str();
    tracing::info!(
        lease,
        namespace,
        identity,
        "standing for the lead of the group"
    );
    let mut backoff = Duration::from_secs(1);
    loop {
        let built = tokio::select! {
            built = build(&client, &settings, &namespace) => built,
            _ = &mut stop => return,
        };
        match built {
            Err(e) => {
                tracing::warn!(lease, namespace, error = %e, "cannot reach the Lease; standing by");
            }
            Ok(manager) => {
                loop {
                    tokio::select! {
                        changed = manager.changed() => match changed {
                            Ok(leader) => {
                                backoff = Duration::from_secs(1);
                                publish(&tx, leader, lease, identity);
                            }
                            Err(e) => {
                                tracing::warn!(lease, namespace, error = %e, "cannot renew or read the Lease");
                                publish(&tx, false, lease, identity);
                                break;
                            }
                        },
                        _ = &mut stop => {
                            publish(&tx, false, lease, identity);
                            // Bounded: an unreachable API server must not hold up the exit;
                            // the Lease then simply expires.
                            match tokio::time::timeout(settings.grace, manager.release()).await {
                                Ok(Ok(())) => tracing::info!(lease, "released the Lease"),
                                Ok(Err(e)) => tracing::warn!(lease, error = %e, "cannot release the Lease; it expires by itself"),
                                Err(_) => tracing::warn!(lease, "releasing the Lease timed out; it expires by itself"),
                            }
                            return;
                        }
                    }
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = &mut stop => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn build(
    client: &Client,
    settings: &LeaseSettings,
    namespace: &str,
) -> Result<LeaseManager, kube_lease_manager::LeaseManagerError> {
    LeaseManagerBuilder::new(client.clone(), &settings.name)
        .with_namespace(namespace)
        .with_identity(&settings.identity)
        .with_duration(settings.duration.as_secs())
        .with_grace(settings.grace.as_secs())
        .build()
        .await
}

fn publish(tx: &watch::Sender<bool>, leader: bool, lease: &str, identity: &str) {
    let was = tx.send_replace(leader);
    if was != leader {
        if leader {
            tracing::info!(
                lease,
                identity,
                "took the lead: running scheduled tasks and message processors"
            );
        } else {
            tracing::info!(
                lease,
                identity,
                "lost the lead: scheduled tasks and message processors stop here"
            );
        }
    }
}

#[cfg(test)]
mod fake_api;
#[cfg(test)]
mod tests;
