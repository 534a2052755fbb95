use std::time::{Duration, Instant};

use super::*;

/// Entries of live timeouts in all slabs (other tests' too: compare before and after).
fn entered() -> usize {
    let watcher = watcher().expect("the timeout thread runs");
    (0..SHARDS).map(|i| watcher.slab(i).len()).sum()
}

#[tokio::test]
async fn fires_at_its_deadline_not_before() {
    let started = Instant::now();
    Timeout::after(Duration::from_millis(120)).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(120), "fired early: {took:?}");
    assert!(took < Duration::from_millis(600), "fired late: {took:?}");
}

#[tokio::test]
async fn a_deadline_already_passed_is_ready_at_once() {
    let started = Instant::now();
    Timeout::at(Instant::now() - Duration::from_millis(5)).await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn an_earlier_deadline_wakes_the_watcher_that_sleeps_to_a_later_one() {
    // The watcher now sleeps towards the hour...
    let mut hour = Timeout::after(Duration::from_secs(3600));
    assert!(futures::poll!(&mut hour).is_pending());
    // ...and must wake for this one well before.
    let started = Instant::now();
    Timeout::after(Duration::from_millis(80)).await;
    assert!(started.elapsed() < Duration::from_millis(600));
    assert!(futures::poll!(&mut hour).is_pending());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_cancels_and_leaves_no_entry() {
    let before = entered();
    let mut many: Vec<Timeout> = (0..1000)
        .map(|_| Timeout::after(Duration::from_secs(600)))
        .collect();
    for timeout in &mut many {
        assert!(futures::poll!(timeout).is_pending());
    }
    assert!(entered() >= before + 1000);
    drop(many);
    // Other tests run beside this one: theirs come and go, ours are gone.
    assert!(entered() < before + 1000);
}

#[tokio::test]
async fn a_fired_timeout_leaves_its_entry_when_polled() {
    let mut timeout = Timeout::after(Duration::from_millis(20));
    (&mut timeout).await;
    assert!(matches!(timeout.state, State::Fired));
    // Ready again, as a finished sleep is.
    assert!(futures::poll!(&mut timeout).is_ready());
}

#[tokio::test]
async fn reset_moves_the_deadline_both_ways() {
    let mut timeout = Timeout::after(Duration::from_secs(3600));
    assert!(futures::poll!(&mut timeout).is_pending());
    let started = Instant::now();
    timeout.reset(Instant::now() + Duration::from_millis(60));
    (&mut timeout).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(60) && took < Duration::from_millis(600),
        "{took:?}"
    );

    // Fired, then reset: waits for the new deadline.
    timeout.reset(Instant::now() + Duration::from_millis(200));
    assert!(futures::poll!(&mut timeout).is_pending());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(futures::poll!(&mut timeout).is_pending());
    (&mut timeout).await;
}

#[tokio::test]
async fn a_wake_reaches_the_latest_waker() {
    // Polled from one task, then awaited from another: the second is woken.
    let mut timeout = Timeout::after(Duration::from_millis(50));
    assert!(futures::poll!(&mut timeout).is_pending());
    let started = Instant::now();
    tokio::spawn(timeout).await.expect("the task ends");
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_each_get_their_own_deadline() {
    let started = Instant::now();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            tokio::spawn(async move {
                let due = Instant::now() + Duration::from_millis(10 + i % 50);
                Timeout::at(due).await;
                Instant::now() >= due
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("the task ends"), "a timeout fired early");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_duration_past_the_clock_never_ends_instead_of_panicking() {
    let timeout = Timeout::after(Duration::MAX);
    assert!(timeout.deadline() > Instant::now() + Duration::from_secs(86_400 * 365));
}
