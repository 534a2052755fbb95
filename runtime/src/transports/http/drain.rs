//! Telling open connections to finish: the listener's graceful shutdown.
//!
//! When shutdown starts, every connection finishes the request in flight, then closes
//! (HTTP/2: hyper's `graceful_shutdown`). hyper-util's `GracefulShutdown` does this through
//! a watch channel that each connection polls whenever it is woken — a few times per
//! request, about 600 instructions each time on the request path. Here a connection
//! registers its task's waker once, when it first runs, and otherwise only reads an atomic
//! flag; starting the drain sets the flag and wakes the registered tasks.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

/// The drain signal shared by a listener and its connections.
#[derive(Default)]
pub(crate) struct Drain {
    started: AtomicBool,
    next_id: AtomicU64,
    /// The tasks of the connections still open, to wake when the drain starts.
    tasks: Mutex<HashMap<u64, Waker, foldhash::fast::RandomState>>,
}

impl Drain {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Tells every connection, open now or accepted later, to finish.
    pub(crate) fn start(&self) {
        self.started.store(true, Ordering::SeqCst);
        let tasks = std::mem::take(&mut *self.lock());
        for waker in tasks.into_values() {
            waker.wake();
        }
    }

    /// Whether the drain has started: a connection finishes its request in flight, and
    /// one waiting for a request closes.
    pub(crate) fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Drives `conn` to its end, polling it again when the drain starts (it reads
    /// [`Drain::is_started`] itself).
    ///
    /// Meant to be a spawned task's whole future: the waker registered on the first poll is
    /// the task's, which stays the same for every later poll.
    pub(crate) async fn guard<C: Future>(self: Arc<Self>, conn: C) -> C::Output {
        let mut conn = std::pin::pin!(conn);
        let mut registration: Option<Registration> = None;
        poll_fn(|cx| {
            // Registered before `conn` reads the flag: a drain that starts in between then
            // either finds the waker or is seen there.
            if registration.is_none() {
                registration = Some(Registration::new(&self, cx.waker()));
            }
            conn.as_mut().poll(cx)
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waker, foldhash::fast::RandomState>> {
        // A map of wakers stays consistent whatever panicked while holding it.
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's entry in [`Drain::tasks`], removed when the connection ends (or its task
/// is aborted), so the map only holds open connections.
struct Registration {
    drain: Arc<Drain>,
    id: u64,
}

impl Registration {
    fn new(drain: &Arc<Drain>, waker: &Waker) -> Self {
        let id = drain.next_id.fetch_add(1, Ordering::Relaxed);
        drain.lock().insert(id, waker.clone());
        Self {
            drain: Arc::clone(drain),
            id,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.drain.lock().remove(&self.id);
    }
}
