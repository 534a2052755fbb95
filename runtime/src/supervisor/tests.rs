//! The supervisor with a stand-in kind of unit: an install diffs by name (unchanged units
//! keep their task and state), stops come before starts, and units run only while leading.

use std::collections::HashSet;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::*;

/// A unit that ticks every few ms while it runs, holding `store` the whole time (as a
/// processor holds its store) and taking a moment to finish once stopped.
struct Unit {
    name: &'static str,
    version: u32,
    store: &'static str,
}

#[derive(Default)]
struct State {
    version: u32,
    starts: AtomicU32,
    ticks: AtomicU64,
    running: AtomicBool,
}

#[derive(Default)]
struct Shared {
    held: StdMutex<HashSet<&'static str>>,
    /// Set when a unit found its store held by another.
    overlap: AtomicBool,
}

struct Ticker(Arc<Shared>);

impl Kind for Ticker {
    type Unit = Unit;
    type State = State;
    const WHAT: &'static str = "tickers";

    fn name(unit: &Unit) -> &str {
        unit.name
    }

    fn unchanged(old: &Unit, new: &Unit) -> bool {
        (old.version, old.store) == (new.version, new.store)
    }

    fn new_state(&self, unit: &Unit) -> State {
        State {
            version: unit.version,
            ..State::default()
        }
    }

    fn set_running(&self, state: &State, running: bool) {
        state.running.store(running, Ordering::SeqCst);
    }

    fn run(
        &self,
        unit: Arc<Unit>,
        state: Arc<State>,
        mut stop: Stop,
    ) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.0.clone();
        async move {
            state.starts.fetch_add(1, Ordering::SeqCst);
            if !shared.held.lock().unwrap().insert(unit.store) {
                shared.overlap.store(true, Ordering::SeqCst);
            }
            while stop.sleep(Duration::from_millis(2)).await {
                state.ticks.fetch_add(1, Ordering::SeqCst);
            }
            // The delivery in flight finishes.
            tokio::time::sleep(Duration::from_millis(20)).await;
            shared.held.lock().unwrap().remove(unit.store);
        }
    }
}

fn unit(name: &'static str, version: u32, store: &'static str) -> Arc<Unit> {
    Arc::new(Unit {
        name,
        version,
        store,
    })
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

struct Fixture {
    supervisor: Arc<Supervisor<Ticker>>,
    shared: Arc<Shared>,
    lead: watch::Sender<bool>,
}

impl Fixture {
    fn new(leader: bool) -> Self {
        let shared = Arc::new(Shared::default());
        let (lead, rx) = watch::channel(leader);
        Self {
            supervisor: Supervisor::new(Ticker(shared.clone()), Leadership::from_receiver(rx)),
            shared,
            lead,
        }
    }

    fn state(&self, name: &str) -> Arc<State> {
        self.supervisor.state(name).unwrap()
    }

    /// Waits up to 5 s for `cond`.
    async fn until(&self, what: &str, cond: impl Fn(&Self) -> bool) {
        for _ in 0..500 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }
}

fn ticks(state: &State) -> u64 {
    state.ticks.load(Ordering::SeqCst)
}

#[tokio::test]
async fn an_install_keeps_unchanged_units_and_restarts_stops_and_starts_the_others() {
    let f = Fixture::new(true);
    let changes = f
        .supervisor
        .install(vec![
            unit("same", 1, "s1"),
            unit("edited", 1, "s2"),
            unit("gone", 1, "s3"),
        ])
        .await;
    assert_eq!(changes.started, names(&["same", "edited", "gone"]));
    f.until("every unit ticks", |f| {
        f.supervisor.states().iter().all(|s| ticks(s) > 2)
    })
    .await;
    let same = f.state("same");
    let edited = f.state("edited");

    let changes = f
        .supervisor
        .install(vec![
            unit("same", 1, "s1"),
            unit("edited", 2, "s2"),
            unit("new", 1, "s4"),
        ])
        .await;
    assert_eq!(
        changes,
        Changes {
            kept: names(&["same"]),
            restarted: names(&["edited"]),
            stopped: names(&["gone"]),
            started: names(&["new"]),
        }
    );
    // Untouched: the same task, the same state, still ticking.
    assert!(Arc::ptr_eq(&same, &f.state("same")));
    assert_eq!(same.starts.load(Ordering::SeqCst), 1);
    let before = ticks(&same);
    f.until("the kept unit ticks on", |_| ticks(&same) > before)
        .await;
    // Restarted from the new definition, with a new state; the old one stopped.
    let restarted = f.state("edited");
    assert!(!Arc::ptr_eq(&edited, &restarted));
    assert_eq!(restarted.version, 2);
    assert!(!edited.running.load(Ordering::SeqCst));
    f.until("the restarted and the new unit tick", |f| {
        ticks(&f.state("edited")) > 0 && ticks(&f.state("new")) > 0
    })
    .await;
    assert_eq!(f.supervisor.states().len(), 3);
}

#[tokio::test]
async fn a_unit_stops_before_its_successor_on_the_same_store_starts() {
    let f = Fixture::new(true);
    f.supervisor
        .install(vec![unit("a", 1, "store"), unit("b", 1, "other")])
        .await;
    f.until("a runs", |f| ticks(&f.state("a")) > 0).await;
    // `a` changes and `c` appears on the store `b` leaves: both wait for the old to finish.
    f.supervisor
        .install(vec![unit("a", 2, "store"), unit("c", 1, "other")])
        .await;
    f.until("the new units run", |f| {
        ticks(&f.state("a")) > 0 && ticks(&f.state("c")) > 0
    })
    .await;
    assert!(
        !f.shared.overlap.load(Ordering::SeqCst),
        "two units held one store at once"
    );
}

#[tokio::test]
async fn units_run_only_while_leading_and_keep_their_state_across_a_lost_lead() {
    let f = Fixture::new(false);
    f.supervisor.install(vec![unit("a", 1, "s")]).await;
    // A reload on standby installs, and starts nothing.
    let changes = f.supervisor.install(vec![unit("a", 1, "s")]).await;
    assert_eq!(changes.kept, names(&["a"]));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let state = f.state("a");
    assert_eq!(state.starts.load(Ordering::SeqCst), 0);
    assert!(!state.running.load(Ordering::SeqCst));

    f.lead.send_replace(true);
    f.until("a runs", |_| ticks(&state) > 0).await;
    assert!(state.running.load(Ordering::SeqCst));

    f.lead.send_replace(false);
    f.until("a stands by", |_| !state.running.load(Ordering::SeqCst))
        .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let stopped_at = ticks(&state);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ticks(&state), stopped_at, "a ran on standby");

    // The lead regained: the same state, started again.
    f.lead.send_replace(true);
    f.until("a runs again", |_| ticks(&state) > stopped_at)
        .await;
    assert!(Arc::ptr_eq(&state, &f.state("a")));
    assert_eq!(state.starts.load(Ordering::SeqCst), 2);

    // Shut down: a regained lead starts nothing.
    f.supervisor.stop().await;
    f.lead.send_replace(false);
    f.lead.send_replace(true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(state.starts.load(Ordering::SeqCst), 2);
    assert!(!state.running.load(Ordering::SeqCst));
}
