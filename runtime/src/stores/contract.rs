//! The contract test suite every [`MessageStore`] passes (see the contract in `mod.rs`).
//! Each backend's tests call these checks with a way to build (or reopen) the store, so
//! RabbitMQ and PostgreSQL reuse them as they are.

use bytes::Bytes;

use super::{MessageStore, StoredMessage};

/// A message with id `id` and a body naming it.
pub(crate) fn message(id: &str) -> StoredMessage {
    StoredMessage {
        id: id.to_string(),
        method: "POST".into(),
        uri: "/pay".into(),
        headers: vec![("x-id".into(), id.into())],
        properties: serde_json::Map::new(),
        content_type: Some("application/json".into()),
        body: Bytes::from(format!("{{\"id\":\"{id}\"}}")),
        stored_at_ms: 1,
    }
}

/// Runs every check that needs only fresh, empty stores.
pub(crate) async fn check_all<S: MessageStore, F: Fn() -> S>(fresh: F) {
    store_next_ack_keeps_order(&fresh()).await;
    release_keeps_order(&fresh()).await;
    count_includes_leased(&fresh()).await;
    an_empty_store_has_no_next(&fresh()).await;
}

/// Messages come out in the order they went in, and leave only when acked.
pub(crate) async fn store_next_ack_keeps_order(s: &dyn MessageStore) {
    for id in ["1", "2", "3"] {
        s.store(message(id)).await.expect("store");
    }
    let mut seen = Vec::new();
    while let Some(lease) = s.next().await.expect("next") {
        assert_eq!(lease.previous_deliveries, 0);
        seen.push(lease.message.id.clone());
        s.ack(&lease).await.expect("ack");
    }
    assert_eq!(seen, ["1", "2", "3"]);
    assert_eq!(s.count().await.expect("count"), 0);
}

/// A released message is handed out again before the ones behind it, counted as redelivered.
pub(crate) async fn release_keeps_order(s: &dyn MessageStore) {
    for id in ["1", "2"] {
        s.store(message(id)).await.expect("store");
    }
    let first = s.next().await.expect("next").expect("a message");
    assert_eq!(first.message, message("1"));
    s.release(&first).await.expect("release");
    let again = s.next().await.expect("next").expect("a message");
    assert_eq!(again.message.id, "1");
    assert_eq!(again.previous_deliveries, 1);
    s.ack(&again).await.expect("ack");
    let second = s.next().await.expect("next").expect("a message");
    assert_eq!(second.message.id, "2");
}

/// `count` counts leased messages too; a leased message is not handed out twice.
pub(crate) async fn count_includes_leased(s: &dyn MessageStore) {
    s.store(message("1")).await.expect("store");
    s.store(message("2")).await.expect("store");
    let a = s.next().await.expect("next").expect("a message");
    let b = s.next().await.expect("next").expect("a message");
    assert_ne!(a.message.id, b.message.id);
    assert!(s.next().await.expect("next").is_none());
    assert_eq!(s.count().await.expect("count"), 2);
}

/// Nothing stored, nothing handed out.
pub(crate) async fn an_empty_store_has_no_next(s: &dyn MessageStore) {
    assert!(s.next().await.expect("next").is_none());
    assert_eq!(s.count().await.expect("count"), 0);
}

/// A lease neither acked nor released (the process died) comes back after reopening, and
/// acked messages do not. `open` opens the same durable store again.
pub(crate) async fn unacked_lease_comes_back_after_reopen<S, F>(open: F)
where
    S: MessageStore,
    F: Fn() -> S,
{
    {
        let s = open();
        for id in ["1", "2", "3"] {
            s.store(message(id)).await.expect("store");
        }
        let one = s.next().await.expect("next").expect("a message");
        s.ack(&one).await.expect("ack");
        let _two = s.next().await.expect("next").expect("a message");
        // Dropped without ack or release: as if the process died here.
    }
    let s = open();
    assert_eq!(s.count().await.expect("count"), 2);
    let two = s.next().await.expect("next").expect("a message");
    assert_eq!(two.message, message("2"));
    assert!(two.previous_deliveries >= 1, "the redelivery is counted");
    s.ack(&two).await.expect("ack");
    let three = s.next().await.expect("next").expect("a message");
    assert_eq!(three.message.id, "3");
}
