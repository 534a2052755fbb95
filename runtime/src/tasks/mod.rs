//! Scheduled tasks: inject a message (payload, headers, content type) into a sequence or
//! an API resource on an interval (optionally `count` times), on a cron schedule, or once
//! at start. A standalone `ferry run` is the one runner of its tasks.
//!
//! Tasks are compiled with the configuration ([`CompiledTask`]) and started by the
//! [`runner::Tasks`] supervisor when it is installed. A reload leaves a task whose
//! definition is unchanged running on its schedule; a changed one starts over.

pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_api::check::task as checked;
use http::{HeaderMap, Method};

use crate::endpoints::BuildCx;
use crate::sequence::SeqId;
use crate::supervisor::fingerprint::Fingerprint;
use ferry_api::schedule::CronSchedule;

/// When a task fires.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every `every`, the first at start, `count` times in all (no limit when `None`).
    Interval {
        /// The period.
        every: Duration,
        /// How many runs in total.
        count: Option<u64>,
    },
    /// At the times of a cron expression (UTC).
    Cron(Arc<CronSchedule>),
    /// Once, at start.
    Once,
}

/// Where the message goes.
pub enum Injection {
    /// Into a named sequence.
    Sequence(SeqId),
    /// As a request to an API: method and full path (context included).
    Api {
        /// The request method.
        method: Method,
        /// The path and query, context included.
        path: String,
    },
}

/// A task, ready to run.
pub struct CompiledTask {
    /// Its name.
    pub name: Arc<str>,
    /// When it fires.
    pub schedule: Schedule,
    /// The payload.
    pub payload: Bytes,
    /// The transport headers, Content-Type included.
    pub headers: HeaderMap,
    /// Where the message goes.
    pub inject: Injection,
    /// What it was built from: a reload keeps it running while this stays equal.
    pub fingerprint: Fingerprint,
}

impl CompiledTask {
    /// Builds a task from its checked form: a sequence it injects into resolves now.
    /// `fingerprint` is what it was built from.
    pub fn build(
        name: &str,
        c: &checked::Task,
        fingerprint: Fingerprint,
        cx: &mut BuildCx<'_>,
    ) -> Option<Self> {
        let schedule = match &c.schedule {
            checked::Schedule::Interval { every, count } => Schedule::Interval {
                every: *every,
                count: *count,
            },
            checked::Schedule::Cron(cron) => Schedule::Cron(Arc::new((**cron).clone())),
            checked::Schedule::Once => Schedule::Once,
        };
        let inject = match &c.inject {
            checked::Injection::Sequence(s) => Injection::Sequence(cx.sequence_id(s)?),
            checked::Injection::Api { method, path } => Injection::Api {
                method: method.clone(),
                path: path.clone(),
            },
        };
        Some(Self {
            name: Arc::from(name),
            schedule,
            payload: Bytes::from(c.payload.clone()),
            headers: c.headers.clone(),
            inject,
            fingerprint,
        })
    }
}
