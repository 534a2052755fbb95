//! The task supervisor follows leadership: an interval task fires only while this process
//! leads, and a reload keeps to the leadership of the moment.

use std::time::Duration;

use arc_swap::ArcSwap;

use super::*;
use crate::admin::metrics::Metrics;
use crate::compile::compile_test_yaml;
use crate::leadership::Leadership;

/// A task that stores a message into `ticks` every 10 ms.
const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: ticks}
spec: {type: memory}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: tick}
spec:
  mediators:
    - store: {messageStore: ticks}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata: {name: every-10ms}
spec:
  trigger: {interval: 10}
  message: {payload: '{\"tick\":true}'}
  inject: {sequence: tick}
";

struct Fixture {
    tasks: Arc<Tasks>,
    compiled: Arc<Compiled>,
    lead: watch::Sender<bool>,
}

impl Fixture {
    fn new(leader: bool) -> Self {
        let metrics = Arc::new(Metrics::new());
        let compiled = Arc::new(compile_test_yaml(CONFIG, metrics.clone()));
        let current = Arc::new(ArcSwap::new(compiled.clone()));
        let dispatcher = Arc::new(Dispatcher::new(current, metrics, 1024));
        let (lead, rx) = watch::channel(leader);
        Self {
            tasks: Tasks::new(dispatcher, Leadership::from_receiver(rx)),
            compiled,
            lead,
        }
    }

    async fn ticks(&self) -> u64 {
        self.compiled.stores["ticks"].count().await.unwrap()
    }

    /// Waits up to 5 s for at least `n` ticks.
    async fn until_ticks(&self, n: u64) {
        for _ in 0..500 {
            if self.ticks().await >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} ticks after 5 s");
    }
}

#[tokio::test]
async fn an_interval_task_fires_only_while_this_process_leads() {
    let f = Fixture::new(false);
    f.tasks.install(f.compiled.clone()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.ticks().await, 0, "a task on standby fired");

    f.lead.send_replace(true);
    f.until_ticks(3).await;

    f.lead.send_replace(false);
    // Let the follower stop the task (a run in progress finishes), then nothing more.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopped_at = f.ticks().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        f.ticks().await,
        stopped_at,
        "a task fired after the lead was lost"
    );

    f.lead.send_replace(true);
    f.until_ticks(stopped_at + 2).await;
}

#[tokio::test]
async fn a_reload_keeps_to_the_current_leadership() {
    let f = Fixture::new(false);
    f.tasks.install(f.compiled.clone()).await;
    f.tasks.install(f.compiled.clone()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.ticks().await, 0, "a reload on standby started a task");

    f.lead.send_replace(true);
    f.until_ticks(1).await;
    f.tasks.install(f.compiled.clone()).await;
    let n = f.ticks().await;
    f.until_ticks(n + 2).await;

    f.tasks.stop().await;
    f.lead.send_replace(false);
    f.lead.send_replace(true);
    let n = f.ticks().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.ticks().await, n, "a task fired after shutdown");
}
