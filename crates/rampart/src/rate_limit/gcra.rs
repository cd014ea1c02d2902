//! The token bucket as GCRA arithmetic: a pure function of the bucket's state (its
//! theoretical arrival time, TAT), the quota and "now", all in integer ticks of the
//! limiter's clock (nanoseconds, or the time-stamp counter's raw ticks).
//!
//! A bucket of `burst` tokens refilled at one token per `t` ticks is kept as one
//! number: the TAT, the instant at which the bucket is full again. Taking `n` tokens at
//! `now` moves the TAT to `max(TAT, now) + n * t`, and is allowed when the new TAT is at
//! most `burst * t` (the bucket's `window`) ahead of `now`. So a bucket idle for any
//! length of time (TAT in the past) admits exactly `burst` tokens at one instant, and
//! a refused call can be told exactly when it would pass.

/// The largest TAT stored: arithmetic that would go past it stops there.
pub(crate) const MAX_TAT: u64 = u64::MAX - 1;

/// A quota in GCRA form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// The emission interval: ticks per token (at least 1).
    pub(crate) t: u64,
    /// `burst * t`: how far the TAT may run ahead of now.
    pub(crate) window: u64,
}

/// What taking tokens at some instant gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admitted: store this TAT.
    Admit(u64),
    /// Refused: the same call would be admitted this many ticks later (if nothing
    /// else takes tokens meanwhile).
    Wait(u64),
    /// Refused for good: more tokens than the burst.
    Never,
}

impl Gcra {
    /// A quota of `burst` tokens refilled one per `t` ticks (`t` at least 1,
    /// `burst` at least 1; the window saturates).
    pub(crate) const fn new(t: u64, burst: u32) -> Self {
        let t = if t == 0 { 1 } else { t };
        Gcra {
            t,
            window: t.saturating_mul(burst as u64),
        }
    }

    /// Takes `n` tokens from the bucket whose TAT is `tat`, at `now`.
    ///
    /// A `tat` in the future of `now` (a clock that went backwards, or a bucket in debt)
    /// is kept as it is, so an earlier `now` only ever refuses more.
    #[inline]
    pub(crate) fn decide(self, tat: u64, now: u64, n: u32) -> Verdict {
        let weight = self.t.saturating_mul(u64::from(n));
        if weight > self.window {
            return Verdict::Never;
        }
        let next = tat.max(now).saturating_add(weight).min(MAX_TAT);
        let allowed_at = next.saturating_sub(self.window);
        if allowed_at <= now {
            Verdict::Admit(next)
        } else {
            Verdict::Wait(allowed_at - now)
        }
    }

    /// The TAT that keeps a bucket's debt (the tokens it owes, at most a full bucket's
    /// worth under `to`) when the quota changes from `self` to `to` at `now`: owed
    /// tokens come back at the new rate. A bucket that owes nothing is left as it is.
    pub(crate) fn rescale(self, tat: u64, now: u64, to: Gcra) -> u64 {
        let debt = tat.saturating_sub(now);
        if debt == 0 {
            return tat;
        }
        // Rounded up, so that a fraction of a token owed stays owed.
        let scaled = (u128::from(debt) * u128::from(to.t)).div_ceil(u128::from(self.t));
        let debt = u64::try_from(scaled).unwrap_or(u64::MAX).min(to.window);
        now.saturating_add(debt).min(MAX_TAT)
    }

    /// Whole tokens the bucket holds at `now` (0 to the burst).
    pub(crate) fn available(self, tat: u64, now: u64) -> u64 {
        let debt = tat.saturating_sub(now);
        self.window.saturating_sub(debt) / self.t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_admits_exactly_the_burst_at_one_instant() {
        let g = Gcra::new(10, 3);
        let mut tat = 0;
        for _ in 0..3 {
            match g.decide(tat, 1_000, 1) {
                Verdict::Admit(next) => tat = next,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(g.decide(tat, 1_000, 1), Verdict::Wait(10));
        assert_eq!(g.available(tat, 1_000), 0);
        assert_eq!(g.available(tat, 1_010), 1);
        assert!(matches!(g.decide(tat, 1_010, 1), Verdict::Admit(_)));
    }

    #[test]
    fn weighted_calls_and_calls_above_the_burst() {
        let g = Gcra::new(10, 3);
        assert_eq!(g.decide(0, 100, 3), Verdict::Admit(130));
        assert_eq!(g.decide(130, 100, 2), Verdict::Wait(20));
        assert_eq!(g.decide(0, 100, 4), Verdict::Never);
        assert_eq!(g.available(0, 100), 3);
    }

    #[test]
    fn a_quota_change_keeps_the_tokens_owed_up_to_an_empty_bucket() {
        let (slow, fast) = (Gcra::new(100, 10), Gcra::new(1, 10));
        // Empty at 100 per token: 1000 ns of debt is 10 tokens, 10 ns at 1 per token.
        assert_eq!(slow.rescale(1_000 + 5_000, 5_000, fast), 5_010);
        assert_eq!(fast.rescale(5_003, 5_000, slow), 5_300);
        // A smaller burst caps the debt at an empty bucket.
        assert_eq!(slow.rescale(6_000, 5_000, Gcra::new(100, 2)), 5_200);
        // Nothing owed: unchanged, even in the past.
        assert_eq!(slow.rescale(4_000, 5_000, fast), 4_000);
        // A fraction of a token owed stays owed.
        assert_eq!(slow.rescale(5_001, 5_000, Gcra::new(3, 10)), 5_001);
    }

    #[test]
    fn extreme_values_saturate() {
        assert_eq!(Gcra::new(u64::MAX, u32::MAX).window, u64::MAX);
        // The largest quotas a valid configuration gives.
        let g = Gcra::new(u64::MAX / 2, 1);
        assert_eq!(g.decide(0, 0, 1), Verdict::Admit(u64::MAX / 2));
        assert_eq!(g.decide(u64::MAX / 2, 0, 1), Verdict::Wait(u64::MAX / 2));
        assert_eq!(
            g.decide(u64::MAX / 2, u64::MAX / 2, 1),
            Verdict::Admit(MAX_TAT)
        );
        assert_eq!(Gcra::new(0, 1).t, 1);
        assert!(matches!(
            Gcra::new(1, 1).decide(0, u64::MAX, 1),
            Verdict::Admit(MAX_TAT)
        ));
    }
}
