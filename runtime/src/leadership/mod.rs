//! Leadership: whether this process may run the group's scheduled tasks and message
//! processors. Requests are served by every replica; tasks and processors by one only, so
//! that two replicas never fire the same task and a forwarding processor keeps its store's
//! order.
//!
//! A standalone `ferry run` is always the leader. Under Kubernetes (the `kubernetes`
//! feature and `FERRY_LEASE_NAME`), the replicas of a group compete for one Lease and the
//! holder leads ([`kubernetes`]). The [supervisor](crate::supervisor) of tasks and
//! processors follows a [`Leadership`]: it starts them when it turns true and stops them,
//! exactly as on shutdown, when it turns false.

#[cfg(feature = "kubernetes")]
pub mod kubernetes;

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Default Lease duration: how long a replica that stops renewing keeps the lead.
pub const DEFAULT_LEASE_DURATION_SECS: u32 = 15;
/// Default grace: the holder renews this long before its Lease would expire.
pub const DEFAULT_LEASE_GRACE_SECS: u32 = 5;

/// "This process may run tasks and processors", as it changes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
}

impl Leadership {
    /// Always the leader: a standalone process is the one runner of its configuration.
    pub fn standalone() -> Self {
        // The sender is dropped at once: the value never changes, and followers see the
        // closed channel as "no more changes".
        let (_, rx) = watch::channel(true);
        Self { rx }
    }

    /// Follows `rx` (an election's channel, or a test's).
    pub fn from_receiver(rx: watch::Receiver<bool>) -> Self {
        Self { rx }
    }

    /// Whether this process leads now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// A receiver of the changes, for a follower loop.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Runs `on_change(owner)` after every change of the lead, from a task of its own,
    /// until the election ends or `owner` is dropped (the task holds it weakly, so it never
    /// keeps its owner alive). Must be called within a Tokio runtime.
    pub fn follow<T, F, Fut>(&self, owner: &std::sync::Arc<T>, on_change: F)
    where
        T: Send + Sync + 'static,
        F: Fn(std::sync::Arc<T>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let weak = std::sync::Arc::downgrade(owner);
        let mut changes = self.subscribe();
        tokio::spawn(async move {
            // Ends when the election ends (or at once standalone, where nothing changes).
            while changes.changed().await.is_ok() {
                let Some(owner) = weak.upgrade() else { return };
                on_change(owner).await;
            }
        });
    }
}

/// Where and as whom to hold the group's Lease (from `ferry run`'s flags and environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The Lease's name, shared by every replica of the group (`ferry-<group>`).
    pub name: String,
    /// Its namespace; `None` takes the client's default (the pod's own namespace).
    pub namespace: Option<String>,
    /// This replica's identity in the Lease: the pod name.
    pub identity: String,
    /// How long the Lease lasts without renewal.
    pub duration: Duration,
    /// How long before expiry the holder renews it.
    pub grace: Duration,
}

/// Why leadership could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LeadershipError {
    /// `FERRY_LEASE_NAME` is set, but this binary has no Kubernetes client.
    #[error(
        "FERRY_LEASE_NAME (--lease-name) is set to {0:?}, but this ferry was built without \
         Kubernetes support: build it with `cargo build --features kubernetes` (the container \
         image has it), or unset FERRY_LEASE_NAME to run every task and processor here"
    )]
    FeatureMissing(String),
    /// The settings cannot work.
    #[error("invalid lease settings: {0}")]
    Settings(String),
    /// No Kubernetes client could be configured (no in-cluster config, no kubeconfig).
    #[error("cannot configure a Kubernetes client for the Lease: {0}")]
    Client(String),
}

impl LeaseSettings {
    /// Checks the settings: a name and an identity, and `0 < grace < duration` in whole
    /// seconds (what the Lease API and kube-lease-manager accept).
    pub fn new(
        name: &str,
        namespace: Option<String>,
        identity: Option<String>,
        duration_secs: u32,
        grace_secs: u32,
    ) -> Result<Self, LeadershipError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(LeadershipError::Settings("the lease name is empty".into()));
        }
        if grace_secs == 0 || grace_secs >= duration_secs {
            return Err(LeadershipError::Settings(format!(
                "the grace ({grace_secs} s) must be at least 1 s and less than the duration \
                 ({duration_secs} s)"
            )));
        }
        let identity = identity
            .filter(|s| !s.trim().is_empty())
            .or_else(hostname)
            .ok_or_else(|| {
                LeadershipError::Settings(
                    "no identity: set POD_NAME (the downward API's metadata.name)".into(),
                )
            })?;
        Ok(Self {
            name: name.to_string(),
            namespace: namespace.filter(|s| !s.trim().is_empty()),
            identity,
            duration: Duration::from_secs(u64::from(duration_secs)),
            grace: Duration::from_secs(u64::from(grace_secs)),
        })
    }
}

/// The host name (in a pod, the pod's name).
pub(crate) fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A running election (or none, standalone): the [`Leadership`] it publishes, and how to
/// leave it at shutdown.
pub struct Election {
    leadership: Leadership,
    stop: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Election {
    /// No election: this process always leads.
    pub fn standalone() -> Self {
        Self {
            leadership: Leadership::standalone(),
            stop: None,
        }
    }

    /// Joins the election `settings` describe, or stands alone without settings. Fails
    /// when a Lease is asked for but this binary cannot hold one, or no Kubernetes client
    /// can be configured; a cluster that is only unreachable is retried in the background
    /// (on standby meanwhile).
    pub async fn start(settings: Option<LeaseSettings>) -> Result<Self, LeadershipError> {
        match settings {
            None => Ok(Self::standalone()),
            Some(settings) => Self::start_lease(settings).await,
        }
    }

    #[cfg(feature = "kubernetes")]
    async fn start_lease(settings: LeaseSettings) -> Result<Self, LeadershipError> {
        let (rx, stop, task) = kubernetes::start(settings).await?;
        Ok(Self {
            leadership: Leadership::from_receiver(rx),
            stop: Some((stop, task)),
        })
    }

    #[cfg(not(feature = "kubernetes"))]
    async fn start_lease(settings: LeaseSettings) -> Result<Self, LeadershipError> {
        Err(LeadershipError::FeatureMissing(settings.name))
    }

    /// Whether this process competes with other replicas (a Lease), rather than standing
    /// alone.
    pub fn is_elected(&self) -> bool {
        self.stop.is_some()
    }

    /// Whether this process leads, as it changes.
    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// Leaves the election, releasing the Lease if held so another replica takes over at
    /// once rather than after it expires. Call after the runners stopped.
    pub async fn leave(self) {
        if let Some((stop, task)) = self.stop {
            let _ = stop.send(());
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "the lease holder failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standalone_process_always_leads() {
        let l = Leadership::standalone();
        assert!(l.is_leader());
        assert!(l.subscribe().has_changed().is_err(), "no changes ever come");
    }

    #[test]
    fn lease_settings_need_a_grace_shorter_than_the_duration() {
        let ok = LeaseSettings::new("ferry-a", None, Some("pod-0".into()), 15, 5);
        assert!(ok.is_ok(), "{ok:?}");
        for (d, g) in [(15, 0), (5, 5), (5, 10)] {
            let e = LeaseSettings::new("ferry-a", None, Some("pod-0".into()), d, g);
            assert!(
                matches!(e, Err(LeadershipError::Settings(_))),
                "{d}/{g}: {e:?}"
            );
        }
        let e = LeaseSettings::new(" ", None, Some("pod-0".into()), 15, 5);
        assert!(matches!(e, Err(LeadershipError::Settings(_))), "{e:?}");
    }

    #[test]
    fn an_empty_namespace_means_the_clients_default() {
        let s = LeaseSettings::new("ferry-a", Some(String::new()), Some("p".into()), 15, 5);
        assert_eq!(s.ok().and_then(|s| s.namespace), None);
    }

    #[cfg(not(feature = "kubernetes"))]
    #[tokio::test]
    async fn a_lease_without_the_kubernetes_feature_is_a_clear_error() {
        let settings = LeaseSettings::new("ferry-a", None, Some("p".into()), 15, 5);
        let e = Election::start(settings.ok()).await.err();
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("--features kubernetes"), "{text}");
    }
}
