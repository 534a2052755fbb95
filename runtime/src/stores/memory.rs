//! The `memory` store: messages wait in process memory. Fast, bounded by `capacity`, and
//! lost when the process stops — for tests and for flows that can afford that.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::{Lease, MessageStore, StoreError, StoredMessage};

/// A message store in process memory.
pub struct MemoryStore {
    name: String,
    capacity: Option<u64>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Messages by arrival number: iteration order is store order.
    entries: BTreeMap<u64, Entry>,
    next_seq: u64,
}

struct Entry {
    message: StoredMessage,
    leased: bool,
    deliveries: u32,
}

impl MemoryStore {
    /// An empty store holding at most `capacity` messages (unbounded when `None`).
    pub fn new(name: &str, capacity: Option<u64>) -> Self {
        Self {
            name: name.to_string(),
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        // A poisoned lock means a panic mid-update; the map itself is still consistent
        // (every update is a single insert/remove/flag), so keep serving.
        Ok(self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl MessageStore for MemoryStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_local(&self) -> bool {
        true
    }

    fn store(&self, message: StoredMessage) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.lock()?;
            if let Some(cap) = self.capacity
                && state.entries.len() as u64 >= cap
            {
                return Err(StoreError::transient(
                    &self.name,
                    format!("the store is full ({cap} messages, its capacity)"),
                ));
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            state.entries.insert(
                seq,
                Entry {
                    message,
                    leased: false,
                    deliveries: 0,
                },
            );
            Ok(())
        })
    }

    fn next(&self) -> BoxFuture<'_, Result<Option<Lease>, StoreError>> {
        Box::pin(async move {
            let mut state = self.lock()?;
            let Some((seq, entry)) = state.entries.iter_mut().find(|(_, e)| !e.leased) else {
                return Ok(None);
            };
            entry.leased = true;
            let previous_deliveries = entry.deliveries;
            entry.deliveries += 1;
            Ok(Some(Lease {
                message: entry.message.clone(),
                previous_deliveries,
                token: *seq,
            }))
        })
    }

    fn ack(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        let token = lease.token;
        Box::pin(async move {
            self.lock()?.entries.remove(&token);
            Ok(())
        })
    }

    fn release(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        let token = lease.token;
        Box::pin(async move {
            // Entries keep their arrival number, so a released message is again the
            // oldest one available: it keeps its place.
            if let Some(e) = self.lock()?.entries.get_mut(&token) {
                e.leased = false;
            }
            Ok(())
        })
    }

    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(self.lock()?.entries.len() as u64) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::contract;

    #[tokio::test]
    async fn the_memory_store_keeps_the_store_contract() {
        contract::check_all(|| MemoryStore::new("m", None)).await;
    }

    #[tokio::test]
    async fn a_full_memory_store_says_so() {
        let s = MemoryStore::new("m", Some(1));
        s.store(contract::message("a")).await.unwrap();
        let err = s.store(contract::message("b")).await.unwrap_err();
        assert!(err.message.contains("full"), "{err}");
        assert!(err.retryable);
        assert_eq!(s.count().await.unwrap(), 1);
    }
}
