//! The election against a fake API server (always) and a real cluster (only when
//! `KUBECONFIG` is set; it says why it skips otherwise, and uses the kubeconfig's namespace
//! or `FERRY_TEST_NAMESPACE`, with a Lease of its own that it deletes afterwards).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::DeleteParams;

use super::fake_api::FakeApi;
use super::*;

fn settings(name: &str, namespace: &str, identity: &str) -> LeaseSettings {
    match LeaseSettings::new(name, Some(namespace.into()), Some(identity.into()), 3, 1) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// Waits until exactly one of `a` and `b` leads, checking that never both do.
async fn one_leader(a: &watch::Receiver<bool>, b: &watch::Receiver<bool>) -> bool {
    let start = Instant::now();
    loop {
        let (la, lb) = (*a.borrow(), *b.borrow());
        assert!(!(la && lb), "two leaders at once");
        if la || lb {
            return la;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nobody took the lead in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `secs` for `rx` to read `leader`; returns how long it took.
async fn until(rx: &watch::Receiver<bool>, leader: bool, secs: u64) -> Duration {
    let start = Instant::now();
    while *rx.borrow() != leader {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "not {leader} after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

type Holder = (watch::Receiver<bool>, oneshot::Sender<()>, JoinHandle<()>);

/// Two holders of one Lease: exactly one leads, never both, the lead stays put for
/// `steady`, and when the leader leaves (releasing the Lease) the other takes over well
/// before the Lease would have expired. `check` runs with the first leader's index after
/// `steady` and with the second's after the handover. Both have left at the end.
async fn one_at_a_time(mut holders: Vec<Holder>, steady: Duration, check: impl Fn(usize)) {
    let leader = if one_leader(&holders[0].0, &holders[1].0).await {
        0
    } else {
        1
    };
    let until_time = Instant::now() + steady;
    while Instant::now() < until_time {
        let leads = [*holders[0].0.borrow(), *holders[1].0.borrow()];
        assert_eq!(leads, [leader == 0, leader == 1]);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check(leader);

    let (_, stop, task) = holders.remove(leader);
    let _ = stop.send(());
    assert!(task.await.is_ok());
    let (follower, stop, task) = holders.remove(0);
    until(&follower, true, 5).await;
    check(1 - leader);
    let _ = stop.send(());
    assert!(task.await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_fake_api_one_holder_leads_and_the_other_takes_over_when_it_leaves() {
    let api = FakeApi::default();
    let ids = ["a", "b"];
    let holders = ids
        .iter()
        .map(|id| spawn(api.client(), settings("ferry-g", "default", id)))
        .collect();
    // Past a renewal (at 2 s of 3).
    one_at_a_time(holders, Duration::from_millis(2500), |leader| {
        assert_eq!(api.holder("ferry-g").as_deref(), Some(ids[leader]));
    })
    .await;
    assert_eq!(api.holder("ferry-g"), None, "released at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_steps_down_before_its_lease_expires() {
    let api = FakeApi::default();
    let (a, stop, task) = spawn(api.client(), settings("ferry-g", "default", "a"));
    until(&a, true, 5).await;
    api.set_down(true);
    // The Lease lasts 3 s from the last renewal: stepping down must come sooner.
    let took = until(&a, false, 5).await;
    assert!(took < Duration::from_secs(3), "stepped down after {took:?}");
    // Back: the holder finds its Lease again and leads.
    api.set_down(false);
    until(&a, true, 10).await;
    let _ = stop.send(());
    assert!(task.await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_holders_of_one_lease_lead_one_at_a_time() {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("skipped: set KUBECONFIG to run the Lease election against a cluster");
        return;
    }
    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => panic!("KUBECONFIG is set but no client: {e}"),
    };
    let namespace = std::env::var("FERRY_TEST_NAMESPACE")
        .unwrap_or_else(|_| client.default_namespace().to_string());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("ferry-test-{nanos}");

    let holders = ["a", "b"]
        .iter()
        .map(|id| spawn(client.clone(), settings(&name, &namespace, id)))
        .collect();
    // For a few renewals (every 2 s).
    one_at_a_time(holders, Duration::from_secs(5), |_| {}).await;
    let _ = Api::<Lease>::namespaced(client, &namespace)
        .delete(&name, &DeleteParams::default())
        .await;
}
