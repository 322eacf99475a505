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

/// How many sources' worth of failures lock an account for everyone: one source is
/// locked out at the policy's threshold, the whole account only at this multiple of
/// it, so a flood from one address cannot lock the owner out from another.
pub const ACCOUNT_WIDE_FACTOR: u32 = 5;

impl LockoutPolicy {
    /// The rule for an account as a whole (every source together): the same window
    /// and lock, at [`ACCOUNT_WIDE_FACTOR`] times the threshold.
    pub fn account_wide(&self) -> LockoutPolicy {
        LockoutPolicy {
            threshold: self.threshold.saturating_mul(ACCOUNT_WIDE_FACTOR),
            ..*self
        }
    }

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

/// The failure record of one account (or one unknown email): the times of its recent
/// failures (a sliding window, so failures that straddle any window boundary still
/// count together) and the end of the current lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailureRecord {
    /// Times of the failures still inside the window, oldest first.
    pub recent: Vec<DateTime<Utc>>,
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
        let mut recent: Vec<DateTime<Utc>> = self
            .recent
            .into_iter()
            .filter(|at| now - *at < policy.window && *at <= now)
            .collect();
        recent.push(now);
        let threshold = usize::try_from(policy.threshold.max(1)).unwrap_or(usize::MAX);
        if recent.len() >= threshold {
            // A new lock starts a fresh count.
            return FailureRecord {
                recent: Vec::new(),
                locked_until: Some(now + policy.lock_for),
            };
        }
        // Only the last threshold-1 failures can ever matter.
        let keep_from = recent.len().saturating_sub(threshold - 1);
        FailureRecord {
            recent: recent.split_off(keep_from),
            locked_until: self.locked_until.filter(|until| *until > now),
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
    fn ten_failures_within_the_window_lock_even_across_an_earlier_failures_window() {
        let policy = LockoutPolicy::default();
        let mut record = FailureRecord::default().after_failure(&policy, t(0));
        for _ in 0..8 {
            record = record.after_failure(&policy, t(14));
        }
        record = record.after_failure(&policy, t(16));
        assert_eq!(
            record.locked_at(t(16)),
            None,
            "9 failures within the last 15 minutes"
        );
        record = record.after_failure(&policy, t(16));
        assert_eq!(record.locked_at(t(16)), Some(t(31)));
    }

    #[test]
    fn the_record_never_grows_beyond_the_threshold() {
        let policy = LockoutPolicy {
            threshold: 3,
            ..LockoutPolicy::default()
        };
        let mut record = FailureRecord::default();
        for i in 0..2 {
            record = record.after_failure(&policy, t(i * 20));
            assert!(record.recent.len() <= 2);
        }
        assert_eq!(
            record.recent,
            vec![t(20)],
            "failures outside the window are forgotten"
        );
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
    fn the_account_wide_rule_locks_only_at_a_multiple_of_the_threshold() {
        let policy = LockoutPolicy::default();
        let wide = policy.account_wide();
        assert_eq!(wide.threshold, 50);
        assert_eq!(
            (wide.window, wide.lock_for),
            (policy.window, policy.lock_for)
        );
        let mut record = FailureRecord::default();
        for i in 0..49 {
            record = record.after_failure(&wide, t(0) + Duration::seconds(i));
        }
        assert_eq!(record.locked_at(t(1)), None);
        let record = record.after_failure(&wide, t(1));
        assert!(record.locked_at(t(1)).is_some());
    }

    #[test]
    fn temporary_sessions_get_the_short_absolute_limit() {
        let policy = SessionPolicy::default();
        assert_eq!(policy.expires_at(t(0), false), t(12 * 60));
        assert_eq!(policy.expires_at(t(0), true), t(60));
    }
}
