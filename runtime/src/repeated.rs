//! A warning that would be written once per message — a failover store taking every message
//! while its primary is down, hundreds a minute — is written once, then at most once per
//! period with the count of those left out, so the log keeps showing what else happens.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One repeating warning's pace.
#[derive(Debug)]
pub struct Repeated {
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    left_out: u64,
}

impl Repeated {
    /// A warning written at most once per `every`.
    pub fn every(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether to write the warning now; `Some(n)` says yes, with `n` occurrences left out
    /// since the last line. Otherwise the occurrence is counted.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match s.last {
            Some(last) if now.duration_since(last) < self.every => {
                s.left_out += 1;
                None
            }
            _ => {
                s.last = Some(now);
                Some(std::mem::take(&mut s.left_out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_occurrence_is_written_then_one_summary_per_period() {
        let r = Repeated::every(Duration::from_secs(30));
        let t0 = Instant::now();
        assert_eq!(r.admit_at(t0), Some(0));
        for i in 1..=599 {
            assert_eq!(r.admit_at(t0 + Duration::from_millis(i * 10)), None);
        }
        assert_eq!(r.admit_at(t0 + Duration::from_secs(31)), Some(599));
        assert_eq!(r.admit_at(t0 + Duration::from_secs(32)), None);
        assert_eq!(r.admit_at(t0 + Duration::from_secs(62)), Some(1));
    }
}
