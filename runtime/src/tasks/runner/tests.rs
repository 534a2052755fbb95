//! The task supervisor follows leadership: an interval task fires only while this process
//! leads, and a reload keeps to the leadership of the moment.

use std::time::Duration;

use arc_swap::ArcSwap;

use tokio::sync::watch;

use super::*;
use crate::admin::metrics::Metrics;
use crate::compile::{CompileEnv, compile, compile_test_yaml};
use crate::endpoints::client::EndpointClient;
use crate::leadership::Leadership;
use crate::stores::factory::StoreRegistry;

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

/// A task storing into `ticks` every 50 ms, five times in all, and a sequence no task uses
/// logging `note`.
fn counted(payload: &str, note: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {{name: ticks}}
spec: {{type: memory}}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {{name: tick}}
spec:
  mediators:
    - store: {{messageStore: ticks}}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {{name: unused}}
spec:
  mediators:
    - log: {{message: {note}}}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata: {{name: five-times}}
spec:
  trigger: {{interval: 50, count: 5}}
  message: {{payload: '{payload}'}}
  inject: {{sequence: tick}}
"
    )
}

/// Compiles with one store registry throughout, as reloads do: `ticks` stays one store.
fn compile_in(env: &CompileEnv, yaml: &str) -> Arc<Compiled> {
    let (bundle, diagnostics) = ferry_api::bundle::load(&[ferry_api::bundle::Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }]);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    match compile(&bundle, env) {
        Ok(c) => Arc::new(c),
        Err(d) => panic!("does not compile: {d:?}"),
    }
}

#[tokio::test]
async fn an_unrelated_reload_leaves_a_task_counting_its_runs_and_a_changed_one_starts_over() {
    let data = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let env = CompileEnv {
        config: Arc::default(),
        client: EndpointClient::default(),
        metrics: metrics.clone(),
        stores: StoreRegistry::new(data.path().to_path_buf()),
    };
    let first = compile_in(&env, &counted("a", "one"));
    let current = Arc::new(ArcSwap::new(first.clone()));
    let dispatcher = Arc::new(Dispatcher::new(current, metrics, 1024));
    let (_lead, rx) = watch::channel(true);
    let tasks = Tasks::new(dispatcher, Leadership::from_receiver(rx));
    let ticks = first.stores["ticks"].clone();
    let count = || async { ticks.count().await.unwrap() };

    tasks.install(first.clone()).await;
    while count().await < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Only a sequence the task does not reach changed: it runs on, and stops at five.
    let changes = tasks.install(compile_in(&env, &counted("a", "two"))).await;
    assert_eq!(changes.kept, ["five-times"]);
    assert!(count().await < 5, "the task finished before the reload");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count().await, 5, "the reload started the count over");

    // Its message changed: it starts over, five runs more.
    let changes = tasks.install(compile_in(&env, &counted("b", "two"))).await;
    assert_eq!(changes.restarted, ["five-times"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count().await, 10);
    tasks.stop().await;
}
