//! `sampling`: every poll, takes up to `concurrency` messages and runs each through the
//! processor's sequence, side by side. Synapse gives sampling no delivery guarantee; Ferry
//! removes a message once its sequence has run (whether it ended well or in a fault, which
//! is logged), so a crash mid-sequence runs it again rather than losing it, and a message
//! that always fails does not block the store.

use futures::future::join_all;

use super::Target;
use super::forwarding::run_sequence;
use super::runner::RunCx;
use crate::cause::Chain;
use crate::stores::{Lease, convert};

/// The processor loop: until stopped.
pub(crate) async fn run(mut cx: RunCx) {
    let Target::Sequence(id) = cx.processor.target else {
        return;
    };
    let p = cx.processor.clone();
    while !cx.stop.is_stopped() {
        // The first message waits out the poll interval; the rest of a batch is taken
        // only if already there.
        let Some(first) = cx.next_lease().await else {
            continue;
        };
        let mut batch: Vec<Lease> = vec![first];
        while batch.len() < p.concurrency as usize {
            match p.store.next().await {
                Ok(Some(lease)) => batch.push(lease),
                _ => break,
            }
        }
        let cx_ref = &cx;
        let p = &p;
        join_all(batch.iter().map(|lease| async move {
            let mut msg = convert::from_stored(&lease.message);
            run_sequence(cx_ref, id, &mut msg, None).await;
            match p.store.ack(lease).await {
                Ok(()) => cx_ref.state.record_delivered(),
                Err(e) => tracing::error!(processor = %p.name, id = %lease.message.id, error = %Chain(&e), "sampled, but cannot remove the message from the store; it will be sampled again"),
            }
        }))
        .await;
        if let Some(pace) = p.throttle {
            cx.stop.sleep(pace).await;
        }
    }
}
