//! The scheduled tasks as units of the [supervisor](crate::supervisor): they run while this
//! process leads its group, and stop when the lead is lost or Ferry shuts down (a run in
//! progress finishes first). A reload that leaves a task's definition unchanged leaves it
//! running on its schedule: its count of runs goes on.
//!
//! A task starts afresh each time the lead comes (here or on another replica): an interval
//! fires at once, `count` and `once` count from there, as on a restart.

use std::future::Future;
use std::sync::Arc;

use http::{Request, Uri};

use super::{CompiledTask, Injection, Schedule};
use crate::compiled::Compiled;
use crate::dispatch::Dispatcher;
use crate::leadership::Leadership;
use crate::message::Message;
use crate::sequence::{self, Env};
use crate::supervisor::{Changes, Kind, Stop, Supervisor};
use crate::transports::http::body;
use ferry_api::schedule::CronSchedule;

/// Runs the scheduled tasks of the installed configuration while this process leads.
pub struct Tasks {
    supervisor: Arc<Supervisor<TaskKind>>,
    dispatcher: Arc<Dispatcher>,
}

impl Tasks {
    /// No tasks installed yet; they run while `leadership` says so, and API injections go
    /// through `dispatcher`. Follows the leadership from a task of its own, so it must be
    /// called within a Tokio runtime.
    pub fn new(dispatcher: Arc<Dispatcher>, leadership: Leadership) -> Arc<Self> {
        Arc::new(Self {
            supervisor: Supervisor::new(
                TaskKind {
                    dispatcher: dispatcher.clone(),
                },
                leadership,
            ),
            dispatcher,
        })
    }

    /// Installs the tasks of `compiled`: those whose definition is unchanged keep running,
    /// changed and removed ones stop (a run in progress finishes), and changed and new ones
    /// start if this process leads.
    pub async fn install(&self, compiled: Arc<Compiled>) -> Changes {
        let units = compiled
            .tasks
            .iter()
            .map(|t| {
                Arc::new(TaskUnit {
                    task: t.clone(),
                    compiled: compiled.clone(),
                })
            })
            .collect();
        self.supervisor.install(units).await
    }

    /// Runs the task `name` of `compiled` once now, on this replica, beside its schedule
    /// (the management API's trigger); false when there is no such task.
    pub fn trigger(&self, compiled: Arc<Compiled>, name: &str) -> bool {
        let Some(task) = compiled.tasks.iter().find(|t| &*t.name == name).cloned() else {
            return false;
        };
        let dispatcher = self.dispatcher.clone();
        tokio::spawn(async move {
            tracing::info!(task = %task.name, "task triggered through the management API");
            fire(&task, &compiled, &dispatcher).await;
        });
        true
    }

    /// Stops every task; a regained lead does not start them again.
    pub async fn stop(&self) {
        self.supervisor.stop().await;
    }
}

/// A task and the configuration it was compiled in (its sequence id indexes that
/// configuration's sequences).
pub struct TaskUnit {
    task: Arc<CompiledTask>,
    compiled: Arc<Compiled>,
}

/// Scheduled tasks, as units of the supervisor. A task keeps nothing between runs: taking
/// the lead starts it afresh.
pub struct TaskKind {
    dispatcher: Arc<Dispatcher>,
}

impl Kind for TaskKind {
    type Unit = TaskUnit;
    type State = ();

    const WHAT: &'static str = "scheduled tasks";

    fn name(unit: &TaskUnit) -> &str {
        &unit.task.name
    }

    fn unchanged(old: &TaskUnit, new: &TaskUnit) -> bool {
        old.task.fingerprint == new.task.fingerprint
    }

    fn new_state(&self, _unit: &TaskUnit) {}

    fn run(
        &self,
        unit: Arc<TaskUnit>,
        _state: Arc<()>,
        stop: Stop,
    ) -> impl Future<Output = ()> + Send + 'static {
        let dispatcher = self.dispatcher.clone();
        async move { run(&unit.task, &unit.compiled, &dispatcher, stop).await }
    }
}

async fn run(
    task: &CompiledTask,
    compiled: &Arc<Compiled>,
    dispatcher: &Dispatcher,
    mut stop: Stop,
) {
    let (every, count) = match &task.schedule {
        Schedule::Once => (None, Some(1)),
        Schedule::Interval { every, count } => (Some(*every), *count),
        Schedule::Cron(cron) => {
            run_cron(task, cron, compiled, dispatcher, stop).await;
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
                () = stop.stopped() => return,
            }
        }
        if stop.is_stopped() {
            return;
        }
        fire(task, compiled, dispatcher).await;
        runs += 1;
    }
}

/// Fires at each time of the cron schedule until stopped. A run that overlaps the next
/// fire time makes that one late rather than running twice at once.
async fn run_cron(
    task: &CompiledTask,
    cron: &CronSchedule,
    compiled: &Arc<Compiled>,
    dispatcher: &Dispatcher,
    mut stop: Stop,
) {
    loop {
        let Some(wait) = cron.until_next() else {
            tracing::info!(task = %task.name, cron = cron.source(), "the cron schedule has no more fire times");
            return;
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.stopped() => return,
        }
        if stop.is_stopped() {
            return;
        }
        fire(task, compiled, dispatcher).await;
    }
}

async fn fire(task: &CompiledTask, compiled: &Arc<Compiled>, dispatcher: &Dispatcher) {
    match &task.inject {
        Injection::Sequence(id) => {
            let mut msg = Message::from_request(
                http::Method::POST,
                Uri::from_static("/"),
                task.headers.clone(),
                task.payload.clone(),
            );
            msg.set_config(compiled.config.clone());
            msg.set_local_entries(compiled.local_entries.clone());
            let env = Env::new(compiled);
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
