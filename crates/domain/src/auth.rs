//! Sign-in rules: account lockout and session lifetimes, as pure arithmetic on times.
//!
//! The store keeps the counters and the sessions; these types decide.

use chrono::{DateTime, Duration, Utc};

/// How many failures lock an account, within what window, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that lock the account.
    pub threshold: u32,
    /// The window the failures must fall in.
    pub window: Duration,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 10,
            window: Duration::minutes(15),
            lock_for: Duration::minutes(15),
        }
    }
}

impl LockoutPolicy {
    /// The strictest of several policies (a person in several practices is protected
    /// by the strictest of their practices' settings).
    pub fn strictest(policies: impl IntoIterator<Item = LockoutPolicy>) -> LockoutPolicy {
        policies
            .into_iter()
            .reduce(|a, b| LockoutPolicy {
                threshold: a.threshold.min(b.threshold),
                window: a.window.max(b.window),
                lock_for: a.lock_for.max(b.lock_for),
            })
            .unwrap_or_default()
    }
}

/// The failure record of one account (or one unknown email).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureRecord {
    /// Failures counted in the current window.
    pub failures: u32,
    /// When the current window began.
    pub window_start: Option<DateTime<Utc>>,
    /// Locked until then, if locked.
    pub locked_until: Option<DateTime<Utc>>,
}

impl FailureRecord {
    /// When the lock ends, if the account is locked at `now`.
    pub fn locked_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.locked_until.filter(|until| *until > now)
    }

    /// The record after one more failure at `now`.
    pub fn after_failure(self, policy: &LockoutPolicy, now: DateTime<Utc>) -> FailureRecord {
        let in_window = self
            .window_start
            .is_some_and(|start| now - start < policy.window);
        let (failures, window_start) = if in_window {
            (self.failures.saturating_add(1), self.window_start)
        } else {
            (1, Some(now))
        };
        let locked_until = if failures >= policy.threshold {
            Some(now + policy.lock_for)
        } else {
            self.locked_at(now)
        };
        // A new lock starts a fresh window, so the next failures count from zero.
        if locked_until.is_some() && failures >= policy.threshold {
            return FailureRecord {
                failures: 0,
                window_start: None,
                locked_until,
            };
        }
        FailureRecord {
            failures,
            window_start,
            locked_until,
        }
    }
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after sign-in, whatever happens.
    pub absolute: Duration,
    /// The absolute limit of a temporary (shared front-desk computer) session.
    pub temporary_absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
            temporary_absolute: Duration::hours(1),
        }
    }
}

impl SessionPolicy {
    /// When a session started at `now` must end at the latest.
    pub fn expires_at(&self, now: DateTime<Utc>, temporary: bool) -> DateTime<Utc> {
        let limit = if temporary {
            self.temporary_absolute.min(self.absolute)
        } else {
            self.absolute
        };
        now + limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn the_tenth_failure_within_the_window_locks_for_the_lock_duration() {
        let policy = LockoutPolicy::default();
        let mut record = FailureRecord::default();
        for i in 0..9 {
            record = record.after_failure(&policy, t(i));
            assert_eq!(record.locked_at(t(i)), None, "failure {}", i + 1);
        }
        record = record.after_failure(&policy, t(9));
        assert_eq!(record.locked_at(t(9)), Some(t(24)));
        assert_eq!(record.locked_at(t(23)), Some(t(24)));
        assert_eq!(
            record.locked_at(t(24)),
            None,
            "unlocked when the duration has passed"
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_never_lock() {
        let policy = LockoutPolicy::default();
        let mut record = FailureRecord::default();
        for i in 0..30 {
            record = record.after_failure(&policy, t(i * 2));
            assert_eq!(record.locked_at(t(i * 2)), None, "failure {}", i + 1);
        }
    }

    #[test]
    fn the_strictest_policy_wins() {
        let lenient = LockoutPolicy {
            threshold: 20,
            window: Duration::minutes(5),
            lock_for: Duration::minutes(5),
        };
        let strict = LockoutPolicy {
            threshold: 5,
            window: Duration::minutes(30),
            lock_for: Duration::minutes(60),
        };
        assert_eq!(LockoutPolicy::strictest([lenient, strict]), strict);
        assert_eq!(LockoutPolicy::strictest([]), LockoutPolicy::default());
    }

    #[test]
    fn temporary_sessions_get_the_short_absolute_limit() {
        let policy = SessionPolicy::default();
        assert_eq!(policy.expires_at(t(0), false), t(12 * 60));
        assert_eq!(policy.expires_at(t(0), true), t(60));
    }
}
