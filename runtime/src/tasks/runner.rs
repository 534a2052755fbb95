//! The task supervisor: runs the tasks of the installed configuration while this process
//! leads its group, and stops them when the configuration is replaced, the lead is lost, or
//! Ferry shuts down (a run in progress finishes first).
//!
//! A task starts afresh each time the lead comes (here or on another replica): an interval
//! fires at once, `count` and `once` count from there, as on a restart.

use std::sync::Arc;

use http::{Request, Uri};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::{CompiledTask, Injection, Schedule};
use crate::compiled::Compiled;
use crate::dispatch::Dispatcher;
use crate::leadership::Leadership;
use crate::message::Message;
use crate::sequence::{self, Env};
use crate::transports::http::body;
use ferry_api::schedule::CronSchedule;

/// Runs the scheduled tasks of the installed configuration while this process leads.
pub struct Tasks {
    dispatcher: Arc<Dispatcher>,
    leadership: Leadership,
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    /// The installed configuration: what runs while leading.
    compiled: Option<Arc<Compiled>>,
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    /// Stopped for good (shutdown): a regained lead starts nothing.
    closed: bool,
}

impl Tasks {
    /// No tasks installed yet; they run while `leadership` says so, and API injections go
    /// through `dispatcher`. Follows the leadership from a task of its own, so it must be
    /// called within a Tokio runtime.
    pub fn new(dispatcher: Arc<Dispatcher>, leadership: Leadership) -> Arc<Self> {
        let this = Arc::new(Self {
            dispatcher,
            leadership,
            running: Mutex::new(Running::default()),
        });
        this.leadership.follow(&this, |this| async move {
            let mut running = this.running.lock().await;
            this.follow_leadership(&mut running).await;
        });
        this
    }

    /// Stops the running tasks, then installs those of `compiled`, starting them if this
    /// process leads.
    pub async fn install(&self, compiled: Arc<Compiled>) {
        let mut running = self.running.lock().await;
        stop_running(&mut running).await;
        running.compiled = Some(compiled);
        self.follow_leadership(&mut running).await;
    }

    /// Starts or stops the installed tasks to match the current leadership.
    async fn follow_leadership(&self, running: &mut Running) {
        let lead = self.leadership.is_leader() && !running.closed;
        match (lead, running.stop.is_some()) {
            (true, false) => self.start(running),
            (false, true) => {
                tracing::info!("standing by: stopping the scheduled tasks");
                stop_running(running).await;
            }
            _ => {}
        }
    }

    fn start(&self, running: &mut Running) {
        let Some(compiled) = running.compiled.clone() else {
            return;
        };
        let (tx, rx) = watch::channel(false);
        for (i, task) in compiled.tasks.iter().enumerate() {
            let (compiled, dispatcher, rx) =
                (compiled.clone(), self.dispatcher.clone(), rx.clone());
            let task = task.clone();
            running.tasks.push(tokio::spawn(async move {
                run(task, i, compiled, dispatcher, rx).await;
            }));
        }
        running.stop = Some(tx);
    }

    /// Stops every task; a regained lead does not start them again.
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        running.closed = true;
        stop_running(&mut running).await;
    }
}

async fn stop_running(running: &mut Running) {
    if let Some(tx) = running.stop.take() {
        let _ = tx.send(true);
    }
    for t in running.tasks.drain(..) {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "a scheduled task failed");
        }
    }
}

async fn run(
    task: Arc<CompiledTask>,
    _index: usize,
    compiled: Arc<Compiled>,
    dispatcher: Arc<Dispatcher>,
    mut stop: watch::Receiver<bool>,
) {
    let (every, count) = match &task.schedule {
        Schedule::Once => (None, Some(1)),
        Schedule::Interval { every, count } => (Some(*every), *count),
        Schedule::Cron(cron) => {
            run_cron(&task, cron, &compiled, &dispatcher, stop).await;
            return;
        }
    };
    let mut ticker = every.map(|e| {
        let mut t = tokio::time::interval(e);
        // A slow run delays the next one rather than bunching runs up afterwards.
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut runs = 0u64;
    while count.is_none_or(|c| runs < c) {
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        if *stop.borrow() {
            return;
        }
        fire(&task, &compiled, &dispatcher).await;
        runs += 1;
    }
}

/// Fires at each time of the cron schedule until stopped. A run that overlaps the next
/// fire time makes that one late rather than running twice at once.
async fn run_cron(
    task: &CompiledTask,
    cron: &CronSchedule,
    compiled: &Compiled,
    dispatcher: &Dispatcher,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let Some(wait) = cron.until_next() else {
            tracing::info!(task = %task.name, cron = cron.source(), "the cron schedule has no more fire times");
            return;
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if *stop.borrow() {
            return;
        }
        fire(task, compiled, dispatcher).await;
    }
}

async fn fire(task: &CompiledTask, compiled: &Compiled, dispatcher: &Dispatcher) {
    match &task.inject {
        Injection::Sequence(id) => {
            let mut msg = Message::from_request(
                http::Method::POST,
                Uri::from_static("/"),
                task.headers.clone(),
                task.payload.clone(),
            );
            msg.set_config(compiled.config.clone());
            let env = Env {
                compiled,
                out_sequence: None,
                depth: 0,
            };
            if let Err(fault) = sequence::run_named(*id, &mut msg, env).await {
                tracing::warn!(task = %task.name, error = %fault.chain(), "the task's sequence failed");
            }
        }
        Injection::Api { method, path } => {
            let mut req = Request::new(body::full(task.payload.clone()));
            *req.method_mut() = method.clone();
            match path.parse::<Uri>() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(e) => {
                    tracing::warn!(task = %task.name, error = %e, "the task's path is not a URI");
                    return;
                }
            }
            *req.headers_mut() = task.headers.clone();
            let resp = dispatcher.dispatch(req).await;
            if !resp.status().is_success() {
                tracing::warn!(task = %task.name, status = resp.status().as_u16(), "the API answered the task with an error");
            }
        }
    }
}

#[cfg(test)]
mod tests;
