//! Spreads a retry's base delay at random so that clients that failed together do not retry together.
//!
//! A [`Jitter`] turns the base delay that a [`Backoff`] computes for one retry into the
//! delay actually waited: as is, uniformly below it, in its upper half, around it by a
//! ratio, or decorrelated from the previous delay. The result never exceeds the
//! backoff's cap, and the random source is a parameter.

use std::time::Duration;

use rand::Rng;

use super::backoff::{nanos_to_duration, Backoff, NANOS_PER_SEC};
use crate::config::{in_range, ConfigError};

/// Random spread applied to the base delay.
///
/// In configuration files: `"none"`, `"full"`, `"equal"`, `"decorrelated"`, or
/// `{ proportional = 0.5 }`.
///
/// # Defaults
///
/// [`Jitter::None`].
///
/// # Examples
///
/// ```
/// use rampart::retry::backoff::{Backoff, Jitter};
/// use rand::{rngs::StdRng, SeedableRng};
/// use std::time::Duration;
///
/// let backoff = Backoff::constant(Duration::from_secs(1));
/// let mut rng = StdRng::seed_from_u64(1);
/// let d = Jitter::Equal.apply(backoff.base_delay(0), backoff.initial_delay(), &backoff, &mut rng);
/// assert!(d >= Duration::from_millis(500) && d <= Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Jitter {
    /// The base delay as is.
    #[default]
    None,
    /// Uniform in `[0, d]` for a base delay `d`.
    Full,
    /// Uniform in `[d / 2, d]` for a base delay `d`.
    Equal,
    /// Uniform in `[initial, 3 * previous]`, capped at the backoff's maximum, where
    /// `previous` is the delay used last (the initial delay at first). The base delay is
    /// not used: the previous delay drives the growth ("decorrelated jitter").
    Decorrelated,
    /// With ratio `r` in `[0, 1]`: uniform in `[d * (1 - r), d * (1 + r)]`, capped at the
    /// backoff's maximum (0.5 gives 50-150 %).
    Proportional(f64),
}

impl Jitter {
    /// Checks the proportional ratio.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for field `jitter` when the proportional ratio is not a finite
    /// number in `[0, 1]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Jitter::Proportional(ratio) => in_range("jitter", ratio, 0.0, 1.0),
            _ => Ok(()),
        }
    }

    /// Spreads `base` (the backoff's base delay for this retry) randomly.
    ///
    /// `previous` is the delay used before the previous retry (or the initial delay
    /// before the first); only [`Jitter::Decorrelated`] reads it. The result is never
    /// above `backoff.max_delay()`. Never panics, even for an invalid ratio (which is
    /// clamped into `[0, 1]`).
    pub fn apply<R: Rng + ?Sized>(
        &self,
        base: Duration,
        previous: Duration,
        backoff: &Backoff,
        rng: &mut R,
    ) -> Duration {
        let max = backoff.max_delay();
        let d = base.min(max);
        let (lo, hi) = match *self {
            Jitter::None => return d,
            Jitter::Full => (Duration::ZERO, d),
            Jitter::Equal => (d / 2, d),
            Jitter::Decorrelated => {
                let lo = backoff.initial_delay().min(max);
                (lo, previous.saturating_mul(3).min(max))
            }
            Jitter::Proportional(ratio) => {
                let spread = proportion(d, ratio);
                (d.saturating_sub(spread), d.saturating_add(spread).min(max))
            }
        };
        uniform(lo, hi, rng)
    }
}

/// `d * ratio`, with the ratio rounded to a billionth and clamped into `[0, 1]`.
fn proportion(d: Duration, ratio: f64) -> Duration {
    // `as` maps NaN and negatives to 0 and saturates large values.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let billionths = ((ratio * 1e9).round() as u128).min(NANOS_PER_SEC);
    // At most about 1.8e28 ns times 1e9: far below u128::MAX.
    nanos_to_duration(d.as_nanos() * billionths / NANOS_PER_SEC)
}

/// A uniform duration in `[lo, hi]`; `lo` when the range is empty.
fn uniform<R: Rng + ?Sized>(lo: Duration, hi: Duration, rng: &mut R) -> Duration {
    if hi <= lo {
        return lo;
    }
    nanos_to_duration(rng.random_range(lo.as_nanos()..=hi.as_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::backoff::strategies::{any_retry, valid_backoff};
    use crate::retry::backoff::DelaySequence;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn jitter_caps_an_oversized_base() {
        let b = Backoff::exponential(ms(100)).with_max(secs(1));
        let mut rng = StdRng::seed_from_u64(9);
        assert_eq!(Jitter::None.apply(secs(10), ms(100), &b, &mut rng), secs(1));
        for j in [Jitter::Full, Jitter::Equal, Jitter::Proportional(1.0)] {
            for _ in 0..100 {
                assert!(j.apply(secs(10), ms(100), &b, &mut rng) <= secs(1), "{j:?}");
            }
        }
    }

    #[test]
    fn validation_names_the_field() {
        for ratio in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            let e = Jitter::Proportional(ratio).validate().unwrap_err();
            assert_eq!(e.field(), "jitter", "{ratio}");
        }
        for ok in [0.0, 0.5, 1.0] {
            assert!(Jitter::Proportional(ok).validate().is_ok());
        }
        assert!(Jitter::Decorrelated.validate().is_ok());
    }

    /// A backoff, a base delay it produces, and the RNG seed.
    fn case() -> impl Strategy<Value = (Backoff, Duration, u64)> {
        (valid_backoff(), any_retry(), any::<u64>())
            .prop_map(|(b, r, seed)| (b, b.base_delay(r), seed))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn full_jitter_within_zero_and_base((b, d, seed) in case()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let x = Jitter::Full.apply(d, b.initial_delay(), &b, &mut rng);
            prop_assert!(x <= d);
        }

        #[test]
        fn equal_jitter_within_half_and_base((b, d, seed) in case()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let x = Jitter::Equal.apply(d, b.initial_delay(), &b, &mut rng);
            prop_assert!(x >= d / 2 && x <= d, "{x:?} outside [{:?}, {d:?}]", d / 2);
        }

        #[test]
        fn proportional_jitter_within_ratio_and_cap((b, d, seed) in case(), r in 0.0f64..=1.0) {
            let mut rng = StdRng::seed_from_u64(seed);
            let x = Jitter::Proportional(r).apply(d, b.initial_delay(), &b, &mut rng);
            let (x_ns, d_ns) = (x.as_nanos() as f64, d.as_nanos() as f64);
            // The ratio is applied in billionths; allow that rounding and one nanosecond.
            let slack = d_ns * 1e-9 + 1.0;
            prop_assert!(x_ns >= d_ns * (1.0 - r) - slack, "{x:?} below {d:?} * (1 - {r})");
            prop_assert!(x_ns <= d_ns * (1.0 + r) + slack, "{x:?} above {d:?} * (1 + {r})");
            prop_assert!(x <= b.max_delay());
        }

        #[test]
        fn decorrelated_jitter_within_initial_and_three_previous(
            b in valid_backoff(),
            seed in any::<u64>(),
            steps in 1usize..20,
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut seq = DelaySequence::new(b, Jitter::Decorrelated);
            let mut previous = b.initial_delay();
            for _ in 0..steps {
                let x = seq.next_delay(&mut rng);
                prop_assert!(x >= b.initial_delay(), "{x:?} below initial");
                let hi = previous.saturating_mul(3).min(b.max_delay());
                prop_assert!(x <= hi, "{x:?} above 3 * {previous:?} or the cap");
                prop_assert!(x <= b.max_delay());
                previous = x;
            }
        }

        #[test]
        fn decorrelated_jitter_with_any_previous((b, _d, seed) in case(), prev_ns in any::<u64>()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let previous = Duration::from_nanos(prev_ns);
            let x = Jitter::Decorrelated.apply(b.initial_delay(), previous, &b, &mut rng);
            prop_assert!(x >= b.initial_delay() && x <= b.max_delay());
            if previous.saturating_mul(3) >= b.initial_delay() {
                prop_assert!(x <= previous.saturating_mul(3));
            }
        }
    }
}
