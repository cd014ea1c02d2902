//! Retry-budget arithmetic: how many attempts fit in a user-facing SLA.
//!
//! This is the seeds' "Retry Budget" calculation as a pure function. Given the SLA the
//! user sees, the processing overhead outside the dependency call, the per-attempt
//! timeout and the backoff between attempts, [`plan`] works out:
//!
//! 1. the time available for attempts: `SLA - overhead`;
//! 2. how many attempts fit if each costs a full timeout: `floor(available / timeout)`;
//! 3. the worst case of that many attempts with backoff between them:
//!    `n x timeout + (n - 1) x backoff`, and by how much it overshoots the SLA;
//! 4. the stricter count that keeps the worst case, backoff included, within the
//!    time available: the largest `n` with `n x timeout + (n - 1) x backoff <= available`.
//!
//! All arithmetic is on integer nanoseconds; nothing is rounded through floats.
//!
//! ```
//! use rampart_cli::budget::plan;
//! use std::time::Duration;
//!
//! let ms = Duration::from_millis;
//! let p = plan(ms(5_000), ms(500), ms(2_000), ms(1_000))?;
//! assert_eq!(p.available, ms(4_500));
//! assert_eq!(p.attempts, 2);
//! assert_eq!(p.worst_case_total, ms(5_500));
//! assert_eq!(p.over_sla_by(), Some(ms(500)));
//! assert_eq!(p.attempts_within_sla, 1);
//! # Ok::<(), rampart_cli::budget::BudgetError>(())
//! ```

use std::fmt;
use std::time::Duration;

/// The retry budget worked out by [`plan`], with its inputs.
///
/// Durations that can exceed [`Duration::MAX`] (a huge attempt count times a long
/// backoff) saturate at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The user-facing SLA: the whole request must finish within it.
    pub sla: Duration,
    /// Processing time spent outside the dependency call.
    pub overhead: Duration,
    /// The per-attempt timeout: the most one attempt can cost.
    pub timeout: Duration,
    /// The wait between two attempts.
    pub backoff: Duration,
    /// Time left for attempts: `sla - overhead`.
    pub available: Duration,
    /// Attempts that fit when each costs a full timeout, ignoring backoff:
    /// `floor(available / timeout)`. Zero when even one timeout is longer than
    /// [`available`](Self::available).
    pub attempts: u64,
    /// The worst case of the dependency calls: `n x timeout + (n - 1) x backoff` with
    /// `n = max(attempts, 1)` (a call always makes at least one attempt).
    pub worst_case: Duration,
    /// [`worst_case`](Self::worst_case) plus the overhead: what the user waits.
    pub worst_case_total: Duration,
    /// The largest `n` with `n x timeout + (n - 1) x backoff <= available`: the attempt
    /// count whose worst case, backoff included, stays within the SLA.
    pub attempts_within_sla: u64,
}

impl Plan {
    /// The attempt count used for the worst case: [`attempts`](Self::attempts), or one
    /// when no attempt fits.
    pub fn worst_case_attempts(&self) -> u64 {
        self.attempts.max(1)
    }

    /// How far the worst case overshoots the SLA, or `None` when it fits.
    pub fn over_sla_by(&self) -> Option<Duration> {
        self.worst_case_total
            .checked_sub(self.sla)
            .filter(|over| !over.is_zero())
    }
}

/// Inputs that make the budget meaningless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetError {
    /// The per-attempt timeout is zero, so "attempts that fit" has no answer.
    ZeroTimeout,
    /// The overhead alone uses the whole SLA, leaving no time for any attempt.
    OverheadNotBelowSla {
        /// The overhead given.
        overhead: Duration,
        /// The SLA given.
        sla: Duration,
    },
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroTimeout => f.write_str("--timeout must be greater than zero"),
            Self::OverheadNotBelowSla { overhead, sla } => write!(
                f,
                "--overhead ({}) must be shorter than --sla ({})",
                human(*overhead),
                human(*sla)
            ),
        }
    }
}

impl std::error::Error for BudgetError {}

/// Works out the retry budget for an SLA, overhead, per-attempt timeout and backoff.
///
/// See the [module docs](self) for the steps.
///
/// # Errors
///
/// [`BudgetError::ZeroTimeout`] when `timeout` is zero, and
/// [`BudgetError::OverheadNotBelowSla`] when `overhead >= sla`.
pub fn plan(
    sla: Duration,
    overhead: Duration,
    timeout: Duration,
    backoff: Duration,
) -> Result<Plan, BudgetError> {
    if timeout.is_zero() {
        return Err(BudgetError::ZeroTimeout);
    }
    let available = match sla.checked_sub(overhead) {
        Some(available) if !available.is_zero() => available,
        _ => return Err(BudgetError::OverheadNotBelowSla { overhead, sla }),
    };
    let (a, t, b) = (available.as_nanos(), timeout.as_nanos(), backoff.as_nanos());

    let attempts = saturate_u64(a / t);
    let n = u128::from(attempts.max(1));
    let worst_nanos = n
        .saturating_mul(t)
        .saturating_add((n - 1).saturating_mul(b));
    let worst_case = from_nanos(worst_nanos);
    let worst_case_total = from_nanos(worst_nanos.saturating_add(overhead.as_nanos()));
    // n * t + (n - 1) * b <= a  <=>  n * (t + b) <= a + b; durations are below 2^95 ns,
    // so these sums cannot overflow.
    let attempts_within_sla = saturate_u64((a + b) / (t + b));

    Ok(Plan {
        sla,
        overhead,
        timeout,
        backoff,
        available,
        attempts,
        worst_case,
        worst_case_total,
        attempts_within_sla,
    })
}

fn saturate_u64(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A duration from integer nanoseconds, saturating at [`Duration::MAX`].
fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below one billion, so it fits in a u32.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

/// Formats a duration the way the seeds write it: `4.5s`, `500ms`, `250us`, `0s`.
///
/// Durations of a second or more are shown in seconds with as many decimals as they
/// need; shorter ones in the largest unit that keeps them at one or more. The result
/// parses back with `humantime::parse_duration`.
///
/// ```
/// use rampart_cli::budget::human;
/// use std::time::Duration;
///
/// assert_eq!(human(Duration::from_millis(4_500)), "4.5s");
/// assert_eq!(human(Duration::from_millis(500)), "500ms");
/// assert_eq!(human(Duration::from_micros(1_500)), "1.5ms");
/// ```
pub fn human(d: Duration) -> String {
    let nanos = d.as_nanos();
    let (unit, scale) = match nanos {
        0 => return "0s".to_owned(),
        n if n >= 1_000_000_000 => ("s", 1_000_000_000),
        n if n >= 1_000_000 => ("ms", 1_000_000),
        n if n >= 1_000 => ("us", 1_000),
        _ => ("ns", 1),
    };
    let (whole, frac) = (nanos / scale, nanos % scale);
    if frac == 0 {
        return format!("{whole}{unit}");
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn seed_example() {
        let p = plan(ms(5_000), ms(500), ms(2_000), ms(1_000)).unwrap();
        assert_eq!(p.available, ms(4_500));
        assert_eq!(p.attempts, 2);
        assert_eq!(p.worst_case_attempts(), 2);
        assert_eq!(p.worst_case, ms(5_000));
        assert_eq!(p.worst_case_total, ms(5_500));
        assert_eq!(p.over_sla_by(), Some(ms(500)));
        assert_eq!(p.attempts_within_sla, 1);
    }

    #[test]
    fn without_backoff_the_worst_case_fits() {
        let p = plan(ms(5_000), ms(500), ms(2_000), Duration::ZERO).unwrap();
        assert_eq!(p.attempts, 2);
        assert_eq!(p.worst_case_total, ms(4_500));
        assert_eq!(p.over_sla_by(), None);
        assert_eq!(p.attempts_within_sla, 2);
    }

    #[test]
    fn exact_fit_is_within_the_sla() {
        // 2 x 2s + 1 x 1s = 5s = SLA - overhead exactly
        let p = plan(ms(5_500), ms(500), ms(2_000), ms(1_000)).unwrap();
        assert_eq!(p.worst_case_total, ms(5_500));
        assert_eq!(p.over_sla_by(), None);
        assert_eq!(p.attempts_within_sla, 2);
    }

    #[test]
    fn timeout_longer_than_available_fits_nothing() {
        let p = plan(ms(1_000), ms(0), ms(2_000), ms(1_000)).unwrap();
        assert_eq!(p.attempts, 0);
        assert_eq!(p.worst_case_attempts(), 1);
        assert_eq!(p.worst_case, ms(2_000));
        assert_eq!(p.over_sla_by(), Some(ms(1_000)));
        assert_eq!(p.attempts_within_sla, 0);
    }

    #[test]
    fn within_sla_is_the_largest_n_that_fits() {
        for (sla, timeout, backoff) in [(10_000, 2_000, 1_000), (9_999, 1_000, 333), (7, 3, 0)] {
            let p = plan(ms(sla), ms(0), ms(timeout), ms(backoff)).unwrap();
            let cost = |n: u64| n * timeout + n.saturating_sub(1) * backoff;
            let n = p.attempts_within_sla;
            assert!(n == 0 || cost(n) <= sla, "{n} does not fit in {sla}");
            assert!(cost(n + 1) > sla, "{} would also fit in {sla}", n + 1);
            assert!(n <= p.attempts);
        }
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let p = plan(Duration::MAX, ms(0), Duration::from_nanos(1), Duration::MAX).unwrap();
        assert_eq!(p.attempts, u64::MAX);
        assert_eq!(p.worst_case, Duration::MAX);
        assert_eq!(p.worst_case_total, Duration::MAX);
        assert_eq!(p.attempts_within_sla, 1);
    }

    #[test]
    fn rejects_zero_timeout() {
        assert_eq!(
            plan(ms(5_000), ms(500), Duration::ZERO, ms(1_000)),
            Err(BudgetError::ZeroTimeout)
        );
    }

    #[test]
    fn rejects_overhead_not_below_sla() {
        for overhead in [5_000, 6_000] {
            let err = plan(ms(5_000), ms(overhead), ms(2_000), ms(0)).unwrap_err();
            assert_eq!(
                err,
                BudgetError::OverheadNotBelowSla {
                    overhead: ms(overhead),
                    sla: ms(5_000)
                }
            );
        }
        let err = plan(ms(5_000), ms(5_000), ms(2_000), ms(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--overhead (5s) must be shorter than --sla (5s)"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(ms(5_000)), "5s");
        assert_eq!(human(ms(4_500)), "4.5s");
        assert_eq!(human(ms(2_250)), "2.25s");
        assert_eq!(human(ms(500)), "500ms");
        assert_eq!(human(Duration::from_nanos(1_000_000_001)), "1.000000001s");
        assert_eq!(human(Duration::from_micros(250)), "250us");
        assert_eq!(human(Duration::from_nanos(7)), "7ns");
        for d in [
            ms(4_500),
            Duration::from_micros(1_500),
            Duration::from_nanos(1_000_000_001),
        ] {
            assert_eq!(humantime::parse_duration(&human(d)).unwrap(), d);
        }
    }
}
