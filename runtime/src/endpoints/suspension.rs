//! Suspension of a failing leaf endpoint, as Synapse's endpoint states: an error listed in
//! `suspendOnFailure` suspends the endpoint at once; one listed in `markForSuspension`
//! counts towards suspension and suspends only after `retriesBeforeSuspension` more.
//! Each suspension in a row lasts `progressionFactor` times longer than the previous one,
//! up to `maximumDuration`; a success makes the endpoint fully active again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// When and for how long an endpoint is suspended.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspendPolicy {
    /// Codes that count towards suspension.
    pub mark_codes: Vec<u32>,
    /// Codes that suspend at once; `None`: every code not in `mark_codes`.
    pub suspend_codes: Option<Vec<u32>>,
    /// Marked failures tolerated before suspending.
    pub retries_before_suspension: u32,
    /// The first suspension's length.
    pub initial: Duration,
    /// Growth of each next suspension in a row.
    pub progression_factor: f64,
    /// The longest suspension.
    pub maximum: Option<Duration>,
}

#[derive(Debug, Default)]
struct State {
    /// Marked failures since the last success.
    marked: u32,
    /// Suspensions in a row since the last success.
    suspensions: u32,
    /// Suspended until then.
    until: Option<Instant>,
}

/// A leaf endpoint's suspension state, shared by all calls through it.
#[derive(Debug)]
pub struct Suspension {
    policy: SuspendPolicy,
    state: Mutex<State>,
}

impl Suspension {
    /// An active endpoint with this policy.
    pub fn new(policy: SuspendPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::default()),
        }
    }

    /// How long the endpoint stays suspended from `now`; `None` when it may be called.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        let state = self.lock();
        state.until.filter(|u| *u > now).map(|u| u - now)
    }

    /// A call succeeded: the endpoint is active again.
    pub fn on_success(&self) {
        let mut state = self.lock();
        *state = State::default();
    }

    /// A call failed with `code` at `now`.
    pub fn on_failure(&self, code: u32, now: Instant) {
        let p = &self.policy;
        let marked = p.mark_codes.contains(&code);
        let suspends = match &p.suspend_codes {
            Some(codes) => codes.contains(&code),
            None => !marked,
        };
        let mut state = self.lock();
        if marked && !suspends {
            state.marked += 1;
            if state.marked <= p.retries_before_suspension {
                return;
            }
        } else if !suspends {
            return;
        }
        let factor = p
            .progression_factor
            .powi(i32::try_from(state.suspensions).unwrap_or(i32::MAX));
        let mut length = p.initial.mul_f64(factor.min(1e9));
        if let Some(max) = p.maximum {
            length = length.min(max);
        }
        state.suspensions = state.suspensions.saturating_add(1);
        state.marked = 0;
        state.until = Some(now + length);
    }

    /// Times suspended since the last success (for the management API).
    pub fn suspensions(&self) -> u32 {
        self.lock().suspensions
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters inconsistent in a way
        // that matters more than losing suspension, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SuspendPolicy {
        SuspendPolicy {
            mark_codes: vec![101504, 101505],
            suspend_codes: None,
            retries_before_suspension: 2,
            initial: Duration::from_millis(1000),
            progression_factor: 2.0,
            maximum: Some(Duration::from_millis(3000)),
        }
    }

    #[test]
    fn an_unmarked_error_suspends_at_once_for_the_initial_duration() {
        let s = Suspension::new(policy());
        let now = Instant::now();
        assert_eq!(s.remaining(now), None);
        s.on_failure(101503, now);
        assert_eq!(s.remaining(now), Some(Duration::from_millis(1000)));
        assert_eq!(s.remaining(now + Duration::from_millis(1000)), None);
    }

    #[test]
    fn marked_errors_suspend_only_after_the_tolerated_retries() {
        let s = Suspension::new(policy());
        let now = Instant::now();
        s.on_failure(101504, now);
        s.on_failure(101505, now);
        assert_eq!(s.remaining(now), None, "two marked failures are tolerated");
        s.on_failure(101504, now);
        assert!(s.remaining(now).is_some());
    }

    #[test]
    fn suspensions_in_a_row_grow_by_the_factor_up_to_the_maximum() {
        let s = Suspension::new(policy());
        let mut now = Instant::now();
        let mut lengths = Vec::new();
        for _ in 0..3 {
            s.on_failure(101503, now);
            let left = s.remaining(now).unwrap_or_default();
            lengths.push(left.as_millis());
            now += left;
        }
        assert_eq!(lengths, [1000, 2000, 3000]);
    }

    #[test]
    fn a_success_resets_everything() {
        let s = Suspension::new(policy());
        let now = Instant::now();
        s.on_failure(101503, now);
        s.on_success();
        assert_eq!(s.remaining(now), None);
        s.on_failure(101503, now);
        assert_eq!(s.remaining(now), Some(Duration::from_millis(1000)));
    }

    #[test]
    fn with_explicit_suspend_codes_other_errors_are_ignored() {
        let s = Suspension::new(SuspendPolicy {
            suspend_codes: Some(vec![101503]),
            ..policy()
        });
        let now = Instant::now();
        s.on_failure(101506, now);
        assert_eq!(s.remaining(now), None);
        s.on_failure(101503, now);
        assert!(s.remaining(now).is_some());
    }
}
