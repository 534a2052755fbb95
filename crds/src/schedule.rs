//! Cron schedules for scheduled tasks and message processors, parsed once at load time.
//!
//! Synapse configurations use Quartz expressions with a seconds field (`0 0/5 * * * ?`,
//! optionally a year); people coming from crontab write five fields (`*/5 * * * *`). Both
//! are accepted; five fields fire at second 0. Times are UTC.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    schedule: cron::Schedule,
    source: String,
}

impl CronSchedule {
    /// Parses a 5-, 6- or 7-field expression; the error says what is wrong.
    pub fn parse(src: &str) -> Result<Self, String> {
        let fields = src.split_whitespace().count();
        let normalized = match fields {
            5 => format!("0 {}", src.trim()),
            6 | 7 => src.trim().to_string(),
            n => {
                return Err(format!(
                    "a cron expression has 5 (crontab), 6 or 7 (Quartz, with seconds and an optional year) fields, not {n}"
                ));
            }
        };
        let schedule = cron::Schedule::from_str(&normalized)
            .map_err(|e| format!("invalid cron expression {src:?}: {e}"))?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(format!("the cron expression {src:?} never fires again"));
        }
        Ok(Self {
            schedule,
            source: src.to_string(),
        })
    }

    /// The next fire time strictly after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&now).next()
    }

    /// How long from now until the next fire time; `None` when it never fires again.
    pub fn until_next(&self) -> Option<Duration> {
        let now = Utc::now();
        let next = self.next_after(now)?;
        Some((next - now).to_std().unwrap_or_default())
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
    }

    #[test]
    fn quartz_expressions_with_seconds_and_question_marks_fire_when_they_say() {
        let every_5_min = CronSchedule::parse("0 0/5 * * * ?").unwrap();
        assert_eq!(every_5_min.next_after(at(10, 2, 30)), Some(at(10, 5, 0)));
        let with_year = CronSchedule::parse("30 15 10 * * ? 2026").unwrap();
        assert_eq!(with_year.next_after(at(9, 0, 0)), Some(at(10, 15, 30)));
    }

    #[test]
    fn crontab_expressions_fire_at_second_zero() {
        let s = CronSchedule::parse("*/10 * * * *").unwrap();
        assert_eq!(s.next_after(at(10, 2, 30)), Some(at(10, 10, 0)));
        assert_eq!(s.source(), "*/10 * * * *");
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        assert!(CronSchedule::parse("* * *").unwrap_err().contains("not 3"));
        assert!(
            CronSchedule::parse("0 61 * * * ?")
                .unwrap_err()
                .contains("invalid cron expression")
        );
        assert!(
            CronSchedule::parse("0 0 0 1 1 ? 2001")
                .unwrap_err()
                .contains("never fires again")
        );
    }

    #[test]
    fn the_wait_until_the_next_fire_is_within_the_period() {
        let every_second = CronSchedule::parse("* * * * * ?").unwrap();
        let wait = every_second.until_next().unwrap();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
    }
}
