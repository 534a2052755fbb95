//! Timeouts that are almost always cancelled, kept off tokio's timer wheel.
//!
//! Every request carries a few timeouts: the next request head on its keep-alive
//! connection, its body and its whole answer, the endpoint's call. Nearly all of them end
//! cancelled, not fired. Tokio's timer enters each one in its wheel under the time driver's
//! lock when first polled, takes it out again on drop, and its driver revisits the wheel at
//! every park: about 2,500 instructions per timer and request (callgrind, 1 KiB
//! passthrough, `make bench-instructions`).
//!
//! A [`Timeout`] here is an entry in a slab, entered when first polled and taken out on
//! drop (a lock that is almost never contended, a slab slot, a waker clone). One thread
//! watches them all: it sleeps until the earliest deadline it knows of, wakes the tasks
//! whose deadline has passed, and sleeps again. It is woken early only by an entry due
//! before the time it sleeps to, which new entries of a timeout already waiting never are;
//! under load it looks through the slab about once per timeout period. A timeout fires when
//! that thread wakes up, so as precisely as tokio's (a millisecond), and from that thread:
//! the task it wakes is scheduled on its own runtime as for any other wake-up.
//!
//! Without the thread (the system refused to start it), a timeout is tokio's sleep.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

/// Slabs, each behind its lock; a thread enters its timeouts in one of them, so the
/// workers of a multi-threaded runtime rarely meet on a lock.
const SHARDS: usize = 8;

/// A future that is ready once its deadline has passed. Dropping it cancels it. `Unpin`,
/// and small enough to sit in the future that waits on it.
#[derive(Debug)]
pub struct Timeout {
    due: Instant,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Not entered yet: nothing to undo.
    Idle,
    /// Entered in the watcher's slab `shard` under `key`, with the waker of the task that
    /// polled it last (its identity) and the shard's count of fired entries then: while
    /// neither changes, a poll answers pending without taking the lock.
    Watched {
        shard: usize,
        key: usize,
        waker: WakerId,
        fired_then: u64,
    },
    /// The deadline passed and this was answered ready.
    Fired,
    /// The watcher's thread could not be started.
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl Timeout {
    /// Ready at `due`.
    pub fn at(due: Instant) -> Self {
        Self {
            due,
            state: State::Idle,
        }
    }

    /// Ready `after` from now. A duration too large for the clock never ends.
    pub fn after(after: Duration) -> Self {
        let now = Instant::now();
        Self::at(now.checked_add(after).unwrap_or_else(|| far_future(now)))
    }

    /// When it is ready.
    pub fn deadline(&self) -> Instant {
        self.due
    }

    /// Moves the deadline to `due`, whether or not the old one had passed.
    pub fn reset(&mut self, due: Instant) {
        self.due = due;
        match &mut self.state {
            State::Idle => {}
            State::Fired => self.state = State::Idle,
            State::Tokio(sleep) => sleep.as_mut().reset(due.into()),
            State::Watched { shard, key, .. } => {
                let Some(watcher) = watcher() else { return };
                let mut slab = watcher.slab(*shard);
                match slab.get_mut(*key) {
                    Some(entry) if entry.waker.is_some() => {
                        entry.due = due;
                        drop(slab);
                        watcher.announce(due);
                    }
                    // Fired meanwhile: entered again, with the next poll's waker.
                    _ => {
                        slab.try_remove(*key);
                        self.state = State::Idle;
                    }
                }
            }
        }
    }
}

impl Future for Timeout {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match &mut this.state {
            State::Fired => Poll::Ready(()),
            State::Tokio(sleep) => sleep.as_mut().poll(cx),
            State::Idle => {
                let Some(watcher) = watcher() else {
                    let mut sleep = Box::pin(tokio::time::sleep_until(this.due.into()));
                    let poll = sleep.as_mut().poll(cx);
                    this.state = State::Tokio(sleep);
                    return poll;
                };
                let shard = own_shard();
                let mut slab = watcher.slab(shard);
                let key = slab.insert(Entry {
                    due: this.due,
                    waker: Some(cx.waker().clone()),
                });
                this.state = State::Watched {
                    shard,
                    key,
                    waker: WakerId::of(cx.waker()),
                    fired_then: watcher.shards[shard].fired.load(Ordering::Acquire),
                };
                drop(slab);
                // A deadline already passed is the watcher's to see too: it is woken for it.
                watcher.announce(this.due);
                Poll::Pending
            }
            State::Watched {
                shard,
                key,
                waker: polled_by,
                fired_then,
            } => {
                let Some(watcher) = watcher() else {
                    return Poll::Pending;
                };
                let fired_now = &watcher.shards[*shard].fired;
                // The watcher counts a fired entry under the slab's lock, before it wakes
                // the entry's task: an unchanged count means this one has not fired.
                if fired_now.load(Ordering::Acquire) == *fired_then
                    && *polled_by == WakerId::of(cx.waker())
                {
                    return Poll::Pending;
                }
                let mut slab = watcher.slab(*shard);
                let fired = match slab.get_mut(*key) {
                    Some(Entry {
                        waker: Some(waker), ..
                    }) => {
                        if !waker.will_wake(cx.waker()) {
                            waker.clone_from(cx.waker());
                        }
                        false
                    }
                    _ => true,
                };
                if !fired {
                    *polled_by = WakerId::of(cx.waker());
                    *fired_then = fired_now.load(Ordering::Acquire);
                    return Poll::Pending;
                }
                slab.try_remove(*key);
                drop(slab);
                this.state = State::Fired;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let State::Watched { shard, key, .. } = self.state
            && let Some(watcher) = watcher()
        {
            watcher.slab(shard).try_remove(key);
        }
    }
}

/// The deadline passed before the future was ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// `future`'s output, or [`Elapsed`] if `due` passes first (tokio's `timeout_at` on a
/// [`Timeout`]).
pub async fn timeout_at<F: Future>(due: Instant, future: F) -> Result<F::Output, Elapsed> {
    let mut timeout = Timeout::at(due);
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(&mut timeout).poll(cx).map(|()| Err(Elapsed))
    })
    .await
}

/// Thirty years on: later than any deadline a timeout means.
fn far_future(now: Instant) -> Instant {
    let years = Duration::from_secs(86_400 * 365 * 30);
    now.checked_add(years).unwrap_or(now)
}

/// Which waker a task polled with, compared as `Waker::will_wake` does, without a clone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WakerId {
    data: usize,
    vtable: usize,
}

impl WakerId {
    fn of(waker: &Waker) -> Self {
        Self {
            data: waker.data() as usize,
            vtable: std::ptr::from_ref(waker.vtable()) as usize,
        }
    }
}

struct Entry {
    due: Instant,
    /// Taken (and woken) by the watcher once `due` has passed; the entry stays until its
    /// timeout is polled or dropped, so no other timeout gets its slot meanwhile.
    waker: Option<Waker>,
}

/// One slab of timeouts.
struct Shard {
    slab: Mutex<Slab<Entry>>,
    /// Entries the watcher fired in this slab so far.
    fired: AtomicU64,
}

/// The slabs and what their thread knows of them.
struct Watcher {
    shards: [Shard; SHARDS],
    /// When the thread looks next, in nanoseconds after `epoch`: `u64::MAX` while it looks
    /// or has nothing to wait for, so an entry made then always wakes it.
    next_look: AtomicU64,
    epoch: Instant,
    /// Held by the thread except while it waits, so a wake-up cannot fall between its
    /// look and its wait.
    looking: Mutex<()>,
    wake: Condvar,
}

impl Watcher {
    fn slab(&self, index: usize) -> MutexGuard<'_, Slab<Entry>> {
        // A panic while a slab is held leaves it consistent (no half-made entry).
        self.shards[index]
            .slab
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Wakes the thread if it sleeps past `due`.
    fn announce(&self, due: Instant) {
        if self.nanos(due) < self.next_look.load(Ordering::SeqCst) {
            let _looking = self.looking.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_one();
        }
    }

    /// The thread: wakes what is due, then sleeps until the earliest deadline left.
    fn watch(&self) {
        let mut looking = self.looking.lock().unwrap_or_else(PoisonError::into_inner);
        let mut due = Vec::new();
        loop {
            self.next_look.store(u64::MAX, Ordering::SeqCst);
            let now = Instant::now();
            let mut earliest: Option<Instant> = None;
            for index in 0..SHARDS {
                let mut slab = self.slab(index);
                let woken = due.len();
                for (_, entry) in slab.iter_mut() {
                    if entry.waker.is_none() {
                        continue;
                    }
                    if entry.due <= now {
                        due.extend(entry.waker.take());
                    } else if earliest.is_none_or(|at| entry.due < at) {
                        earliest = Some(entry.due);
                    }
                }
                if due.len() > woken {
                    self.shards[index].fired.fetch_add(1, Ordering::Release);
                }
            }
            // Outside the slabs' locks: a woken task may run at once on another thread.
            for waker in due.drain(..) {
                waker.wake();
            }
            looking = match earliest {
                None => self
                    .wake
                    .wait(looking)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    self.next_look.store(self.nanos(at), Ordering::SeqCst);
                    let wait = at.saturating_duration_since(Instant::now());
                    self.wake
                        .wait_timeout(looking, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// The watcher, its thread started on first use; `None` if the thread could not start.
fn watcher() -> Option<&'static Watcher> {
    static WATCHER: OnceLock<Option<&'static Watcher>> = OnceLock::new();
    *WATCHER.get_or_init(|| {
        let watcher: &'static Watcher = Box::leak(Box::new(Watcher {
            shards: std::array::from_fn(|_| Shard {
                slab: Mutex::new(Slab::new()),
                fired: AtomicU64::new(0),
            }),
            next_look: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            looking: Mutex::new(()),
            wake: Condvar::new(),
        }));
        match std::thread::Builder::new()
            .name("ferry-timeouts".into())
            .stack_size(64 * 1024)
            .spawn(move || watcher.watch())
        {
            Ok(_) => Some(watcher),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the timeout thread; timeouts use tokio's timer");
                None
            }
        }
    })
}

/// The slab this thread enters its timeouts in.
fn own_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

#[cfg(test)]
mod tests;
