//! A store with a failover store (Synapse `store.failover.message.store.name`): `store`
//! goes to the primary, and when the primary refuses, to the failover store. Reads, acks
//! and counts are the primary's; a `failoverForwarding` processor moves what landed in the
//! failover store back once the primary works again.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{Lease, MessageStore, StoreError, StoredMessage};
use crate::cause::Chain;
use crate::repeated::Repeated;

/// A primary store backed by a failover store for writes.
pub struct FailoverStore {
    primary: Arc<dyn MessageStore>,
    failover: Arc<dyn MessageStore>,
    /// One warning per spilled message would flood the log during an outage.
    spills: Repeated,
}

/// How often a continuing spill is summed up in the log.
const SPILL_SUMMARY: Duration = Duration::from_secs(30);

impl FailoverStore {
    /// Wraps `primary`, writing to `failover` when it fails.
    pub fn new(primary: Arc<dyn MessageStore>, failover: Arc<dyn MessageStore>) -> Self {
        Self {
            primary,
            failover,
            spills: Repeated::every(SPILL_SUMMARY),
        }
    }
}

impl MessageStore for FailoverStore {
    fn name(&self) -> &str {
        self.primary.name()
    }

    fn primary_only(&self) -> Option<Arc<dyn MessageStore>> {
        Some(Arc::clone(&self.primary))
    }

    fn is_local(&self) -> bool {
        // Processors read the primary; what lands in the failover store is moved back by
        // a processor of its own, which answers for that store.
        self.primary.is_local()
    }

    fn store(&self, message: StoredMessage) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            match self.primary.store(message.clone()).await {
                Ok(()) => Ok(()),
                Err(primary) => {
                    if let Some(left_out) = self.spills.admit() {
                        tracing::warn!(
                            store = self.primary.name(),
                            failover = self.failover.name(),
                            error = %Chain(&primary),
                            also_spilled_since_last_line = left_out,
                            "the primary store refused a message; storing it in the failover store (one line per 30 s while it goes on)"
                        );
                    }
                    self.failover.store(message).await.map_err(|e| {
                        StoreError::transient(
                            self.primary.name(),
                            format!("{}; and the failover store too: {e}", primary.message),
                        )
                        .with_cause(e)
                    })
                }
            }
        })
    }

    fn next(&self) -> BoxFuture<'_, Result<Option<Lease>, StoreError>> {
        self.primary.next()
    }

    fn ack(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        self.primary.ack(lease)
    }

    fn release(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        self.primary.release(lease)
    }

    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.primary.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::contract;
    use crate::stores::memory::MemoryStore;

    #[tokio::test]
    async fn a_failover_store_keeps_the_store_contract() {
        contract::check_all(|| {
            FailoverStore::new(
                Arc::new(MemoryStore::new("p", None)),
                Arc::new(MemoryStore::new("f", None)),
            )
        })
        .await;
    }

    #[tokio::test]
    async fn when_the_primary_is_full_messages_go_to_the_failover_store() {
        let primary = Arc::new(MemoryStore::new("p", Some(1)));
        let failover = Arc::new(MemoryStore::new("f", None));
        let s = FailoverStore::new(primary.clone(), failover.clone());
        s.store(contract::message("1")).await.unwrap();
        s.store(contract::message("2")).await.unwrap();
        assert_eq!(primary.count().await.unwrap(), 1);
        assert_eq!(failover.count().await.unwrap(), 1);
        let lease = failover.next().await.unwrap().unwrap();
        assert_eq!(lease.message.id, "2");
    }

    #[tokio::test]
    async fn when_both_refuse_the_store_fails() {
        let s = FailoverStore::new(
            Arc::new(MemoryStore::new("p", Some(0))),
            Arc::new(MemoryStore::new("f", Some(0))),
        );
        let err = s.store(contract::message("1")).await.unwrap_err();
        assert!(err.message.contains("failover store too"), "{err}");
    }
}
