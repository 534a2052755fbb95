//! The election against a real cluster: runs only when `KUBECONFIG` is set (it says why it
//! skips otherwise), in the kubeconfig's namespace or `FERRY_TEST_NAMESPACE`, with a Lease
//! of its own that it deletes afterwards.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::DeleteParams;

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

    let mut holders = vec![
        spawn(client.clone(), settings(&name, &namespace, "a")),
        spawn(client.clone(), settings(&name, &namespace, "b")),
    ];
    let leader = if one_leader(&holders[0].0, &holders[1].0).await {
        0
    } else {
        1
    };
    // For a few renewals, the lead stays where it is and is never shared.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let leads = [*holders[0].0.borrow(), *holders[1].0.borrow()];
        assert_eq!(leads, [leader == 0, leader == 1]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The leader leaves (releasing the Lease): the other takes over.
    let (_, stop, task) = holders.remove(leader);
    let _ = stop.send(());
    assert!(task.await.is_ok());
    let (follower, stop, task) = holders.remove(0);
    let start = Instant::now();
    while !*follower.borrow() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the other holder did not take over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    assert!(task.await.is_ok());
    let _ = Api::<Lease>::namespaced(client, &namespace)
        .delete(&name, &DeleteParams::default())
        .await;
}
