//! Computes how long to wait before each retry: a growing base delay plus random jitter.
//!
//! A [`Backoff`] says how the base delay grows with each retry (constant, linear or
//! exponential, always capped), a [`Jitter`] spreads it randomly so that many clients
//! that failed together do not retry together, and a [`DelaySequence`] combines the two
//! for one call, remembering the previous delay that decorrelated jitter needs.
//!
//! All arithmetic is done on [`Duration`]s and integer nanoseconds (the exponential
//! growth factor is the only float, and its result is checked before use), so no retry
//! count, however large, overflows or panics. The random source is a parameter: pass a
//! seeded RNG to get a reproducible sequence in tests.
//!
//! # Examples
//!
//! ```
//! use rampart::retry::backoff::{Backoff, DelaySequence, Jitter};
//! use rand::{rngs::StdRng, SeedableRng};
//! use std::time::Duration;
//!
//! let backoff = Backoff::exponential(Duration::from_millis(500)).with_max(Duration::from_secs(60));
//! assert_eq!(backoff.base_delay(0), Duration::from_millis(500));
//! assert_eq!(backoff.base_delay(2), Duration::from_secs(2));
//! assert_eq!(backoff.base_delay(u32::MAX), Duration::from_secs(60));
//!
//! let mut delays = DelaySequence::new(backoff, Jitter::Full);
//! let mut rng = StdRng::seed_from_u64(7);
//! assert!(delays.next_delay(&mut rng) <= Duration::from_millis(500));
//! ```

use std::time::Duration;

use rand::Rng;

pub use super::jitter::Jitter;
use crate::config::{positive, ConfigError};

/// The cap that [`Backoff::linear`] and [`Backoff::exponential`] start with.
const DEFAULT_MAX: Duration = Duration::from_secs(60);

/// The growth factor that [`Backoff::exponential`] starts with.
const DEFAULT_FACTOR: f64 = 2.0;

pub(super) const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How the base delay grows with each retry.
///
/// In configuration files it is a table tagged by `kind`, with durations in humantime
/// form:
///
/// ```toml
/// kind = "exponential"
/// initial = "500ms"
/// factor = 2.0
/// max = "30s"
/// ```
///
/// # Defaults
///
/// | constructor | factor | max |
/// |---|---|---|
/// | [`Backoff::constant`] | - | the delay itself |
/// | [`Backoff::linear`] | - | 60 s |
/// | [`Backoff::exponential`] | 2.0 | 60 s |
///
/// # Examples
///
/// ```
/// use rampart::retry::backoff::Backoff;
/// use std::time::Duration;
///
/// let b = Backoff::exponential(Duration::from_secs(1)).with_factor(3.0).with_max(Duration::from_secs(20));
/// assert!(b.validate().is_ok());
/// assert_eq!(b.base_delay(2), Duration::from_secs(9));
/// assert_eq!(b.base_delay(3), Duration::from_secs(20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Constant {
        /// The delay.
        #[serde(with = "humantime_serde")]
        delay: Duration,
    },
    /// `initial + step * retry`, capped at `max`.
    Linear {
        /// The delay before the first retry.
        #[serde(with = "humantime_serde")]
        initial: Duration,
        /// What each further retry adds.
        #[serde(with = "humantime_serde")]
        step: Duration,
        /// The largest delay.
        #[serde(with = "humantime_serde")]
        max: Duration,
    },
    /// `initial * factor ^ retry`, capped at `max`.
    Exponential {
        /// The delay before the first retry.
        #[serde(with = "humantime_serde")]
        initial: Duration,
        /// What each further retry multiplies the delay by (finite, at least 1).
        factor: f64,
        /// The largest delay.
        #[serde(with = "humantime_serde")]
        max: Duration,
    },
}

impl Backoff {
    /// The same `delay` before every retry.
    pub const fn constant(delay: Duration) -> Self {
        Backoff::Constant { delay }
    }

    /// `initial`, then `step` more with each retry, capped at 60 s (see [`Backoff::with_max`]).
    pub const fn linear(initial: Duration, step: Duration) -> Self {
        Backoff::Linear {
            initial,
            step,
            max: DEFAULT_MAX,
        }
    }

    /// `initial`, doubling with each retry, capped at 60 s (see [`Backoff::with_factor`]
    /// and [`Backoff::with_max`]).
    pub const fn exponential(initial: Duration) -> Self {
        Backoff::Exponential {
            initial,
            factor: DEFAULT_FACTOR,
            max: DEFAULT_MAX,
        }
    }

    /// Sets the growth factor of an exponential backoff; other kinds are returned unchanged.
    pub const fn with_factor(self, factor: f64) -> Self {
        match self {
            Backoff::Exponential { initial, max, .. } => Backoff::Exponential {
                initial,
                factor,
                max,
            },
            other => other,
        }
    }

    /// Sets the largest delay of a linear or exponential backoff; a constant backoff is
    /// returned unchanged.
    pub const fn with_max(self, max: Duration) -> Self {
        match self {
            Backoff::Linear { initial, step, .. } => Backoff::Linear { initial, step, max },
            Backoff::Exponential {
                initial, factor, ..
            } => Backoff::Exponential {
                initial,
                factor,
                max,
            },
            other => other,
        }
    }

    /// Checks that the backoff can produce delays.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `backoff.delay`, `backoff.initial`,
    /// `backoff.step` or `backoff.max` when zero, `backoff.max` when below the initial
    /// delay, `backoff.factor` when not a finite number of at least 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Backoff::Constant { delay } => positive("backoff.delay", delay),
            Backoff::Linear { initial, step, max } => {
                positive("backoff.initial", initial)?;
                positive("backoff.step", step)?;
                validate_max(initial, max)
            }
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                positive("backoff.initial", initial)?;
                if !factor.is_finite() || factor < 1.0 {
                    return Err(ConfigError::new(
                        "backoff.factor",
                        format!("must be a finite number of at least 1, got {factor}"),
                    ));
                }
                validate_max(initial, max)
            }
        }
    }

    /// The delay before retry number `retry` (0 is the wait before the first retry),
    /// before jitter.
    ///
    /// Never panics or overflows, whatever `retry` is. For a valid configuration the
    /// result is never zero, never below the initial delay and never above
    /// [`Backoff::max_delay`].
    pub fn base_delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::Constant { delay } => delay,
            Backoff::Linear { initial, step, max } => step
                .checked_mul(retry)
                .and_then(|grown| initial.checked_add(grown))
                .map_or(max, |d| d.min(max)),
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => exponential_delay(initial, factor, max, retry),
        }
    }

    /// The cap on every delay (for a constant backoff, its delay).
    pub fn max_delay(&self) -> Duration {
        match *self {
            Backoff::Constant { delay } => delay,
            Backoff::Linear { max, .. } | Backoff::Exponential { max, .. } => max,
        }
    }

    /// The delay before the first retry.
    pub fn initial_delay(&self) -> Duration {
        match *self {
            Backoff::Constant { delay } => delay,
            Backoff::Linear { initial, .. } | Backoff::Exponential { initial, .. } => initial,
        }
    }
}

/// Fails unless `max` is positive and at least `initial`.
fn validate_max(initial: Duration, max: Duration) -> Result<(), ConfigError> {
    positive("backoff.max", max)?;
    if max < initial {
        return Err(ConfigError::new(
            "backoff.max",
            format!("must be at least the initial delay ({initial:?}), got {max:?}"),
        ));
    }
    Ok(())
}

/// `initial * factor ^ retry` in nanoseconds, kept within `[initial, max]`.
fn exponential_delay(initial: Duration, factor: f64, max: Duration, retry: u32) -> Duration {
    let initial_ns = initial.as_nanos();
    let max_ns = max.as_nanos();
    if initial_ns >= max_ns {
        return max;
    }
    // `factor > 1.0` is false for NaN and for factors that do not grow.
    let grown_ns = if factor > 1.0 {
        // Float conversions of nanosecond counts are exact up to 2^53 ns (104 days);
        // the result is only used when finite and below the cap.
        #[allow(clippy::cast_precision_loss)]
        let grown = initial_ns as f64 * factor.powf(f64::from(retry));
        #[allow(clippy::cast_precision_loss)]
        let below_cap = grown.is_finite() && grown < max_ns as f64;
        if below_cap {
            // `as` saturates, and the value is finite and non-negative here.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = grown.round() as u128;
            n
        } else {
            max_ns
        }
    } else {
        initial_ns
    };
    nanos_to_duration(grown_ns.max(initial_ns).min(max_ns))
}

/// A duration of `nanos` nanoseconds, saturating at [`Duration::MAX`].
pub(super) fn nanos_to_duration(nanos: u128) -> Duration {
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below one billion, so it fits and does not carry.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

/// The delay sequence of one call: the base delay grows per retry, jitter spreads it,
/// and the previous delay is remembered for [`Jitter::Decorrelated`].
///
/// # Examples
///
/// ```
/// use rampart::retry::backoff::{Backoff, DelaySequence, Jitter};
/// use std::time::Duration;
///
/// let mut delays = DelaySequence::new(Backoff::exponential(Duration::from_millis(500)), Jitter::None);
/// let mut rng = rand::rng();
/// assert_eq!(delays.next_delay(&mut rng), Duration::from_millis(500));
/// assert_eq!(delays.next_delay(&mut rng), Duration::from_secs(1));
/// assert_eq!(delays.next_delay(&mut rng), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct DelaySequence {
    backoff: Backoff,
    jitter: Jitter,
    retry: u32,
    previous: Duration,
}

impl DelaySequence {
    /// A sequence at its first retry.
    pub fn new(backoff: Backoff, jitter: Jitter) -> Self {
        DelaySequence {
            backoff,
            jitter,
            retry: 0,
            previous: backoff.initial_delay(),
        }
    }

    /// The delay before the next retry; advances the sequence.
    pub fn next_delay<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let delay = delay_at(&self.backoff, self.jitter, self.retry, self.previous, rng);
        self.retry = self.retry.saturating_add(1);
        self.previous = delay;
        delay
    }
}

/// The delay before retry number `retry` (0 for the first), spread by `jitter`;
/// `previous` is the delay before the previous retry (the initial delay before the
/// first), which decorrelated jitter grows from.
pub(crate) fn delay_at<R: Rng + ?Sized>(
    backoff: &Backoff,
    jitter: Jitter,
    retry: u32,
    previous: Duration,
    rng: &mut R,
) -> Duration {
    jitter.apply(backoff.base_delay(retry), previous, backoff, rng)
}

#[cfg(test)]
mod tests {
    use super::strategies::{any_retry, valid_backoff};
    use super::*;
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
    fn seed_timings_exponential_half_second() {
        let b = Backoff::exponential(ms(500));
        assert_eq!(
            [b.base_delay(0), b.base_delay(1), b.base_delay(2)],
            [ms(500), secs(1), secs(2)]
        );
        let mut seq = DelaySequence::new(b, Jitter::None);
        let mut rng = StdRng::seed_from_u64(0);
        let got: Vec<_> = (0..3).map(|_| seq.next_delay(&mut rng)).collect();
        assert_eq!(got, [ms(500), secs(1), secs(2)]);
    }

    #[test]
    fn seed_timings_exponential_capped_at_a_minute() {
        let b = Backoff::exponential(secs(1)).with_max(secs(60));
        let got: Vec<_> = [0, 1, 2, 5, 10].iter().map(|&r| b.base_delay(r)).collect();
        assert_eq!(got, [secs(1), secs(2), secs(4), secs(32), secs(60)]);
        assert_eq!(b.base_delay(u32::MAX), secs(60));
    }

    #[test]
    fn linear_and_constant() {
        let b = Backoff::linear(ms(100), ms(50)).with_max(ms(300));
        let got: Vec<_> = (0..6).map(|r| b.base_delay(r)).collect();
        assert_eq!(got, [ms(100), ms(150), ms(200), ms(250), ms(300), ms(300)]);
        assert_eq!(b.base_delay(u32::MAX), ms(300));
        let huge = Backoff::linear(Duration::MAX, Duration::MAX).with_max(Duration::MAX);
        assert_eq!(huge.base_delay(u32::MAX), Duration::MAX);

        let c = Backoff::constant(ms(250))
            .with_max(secs(1))
            .with_factor(3.0);
        assert_eq!(c, Backoff::constant(ms(250)));
        assert_eq!(c.base_delay(0), ms(250));
        assert_eq!(c.base_delay(u32::MAX), ms(250));
        assert_eq!(c.max_delay(), ms(250));
        assert_eq!(c.initial_delay(), ms(250));
    }

    #[test]
    fn factor_one_stays_at_initial_and_fractions_grow() {
        let flat = Backoff::exponential(ms(300)).with_factor(1.0);
        assert_eq!(flat.base_delay(u32::MAX), ms(300));
        let slow = Backoff::exponential(ms(1000)).with_factor(1.5);
        assert_eq!(slow.base_delay(2), ms(2250));
    }

    #[test]
    fn invalid_configs_do_not_panic() {
        let bad = [
            Backoff::exponential(secs(10)).with_max(secs(1)),
            Backoff::exponential(Duration::ZERO).with_max(Duration::ZERO),
            Backoff::exponential(secs(1)).with_factor(f64::NAN),
            Backoff::exponential(secs(1)).with_factor(f64::INFINITY),
            Backoff::exponential(secs(1)).with_factor(-3.0),
            Backoff::linear(secs(10), secs(1)).with_max(secs(1)),
        ];
        let mut rng = StdRng::seed_from_u64(3);
        for b in bad {
            for r in [0, 1, 63, 64, 1000, u32::MAX] {
                assert!(b.base_delay(r) <= b.max_delay(), "{b:?} at {r}");
            }
            for j in [
                Jitter::Full,
                Jitter::Equal,
                Jitter::Decorrelated,
                Jitter::Proportional(f64::NAN),
                Jitter::Proportional(-1.0),
                Jitter::Proportional(7.0),
            ] {
                let mut seq = DelaySequence::new(b, j);
                for _ in 0..5 {
                    assert!(seq.next_delay(&mut rng) <= b.max_delay(), "{b:?} {j:?}");
                }
            }
        }
    }

    #[test]
    fn seeded_sequences_are_reproducible() {
        let b = Backoff::exponential(ms(100)).with_max(secs(10));
        for j in [
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
            Jitter::Proportional(0.5),
        ] {
            let run = |seed| {
                let mut seq = DelaySequence::new(b, j);
                let mut rng = StdRng::seed_from_u64(seed);
                (0..20)
                    .map(|_| seq.next_delay(&mut rng))
                    .collect::<Vec<_>>()
            };
            assert_eq!(run(42), run(42), "{j:?}");
            assert_ne!(run(42), run(43), "{j:?} ignores the RNG");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let field = |b: Backoff| b.validate().map_err(|e| e.field().to_owned());
        assert_eq!(
            field(Backoff::constant(Duration::ZERO)),
            Err("backoff.delay".into())
        );
        assert_eq!(
            field(Backoff::linear(Duration::ZERO, ms(1))),
            Err("backoff.initial".into())
        );
        assert_eq!(
            field(Backoff::linear(ms(1), Duration::ZERO)),
            Err("backoff.step".into())
        );
        assert_eq!(
            field(Backoff::exponential(Duration::ZERO)),
            Err("backoff.initial".into())
        );
        assert_eq!(
            field(Backoff::exponential(ms(1)).with_max(Duration::ZERO)),
            Err("backoff.max".into())
        );
        assert_eq!(
            field(Backoff::exponential(secs(2)).with_max(secs(1))),
            Err("backoff.max".into())
        );
        for factor in [0.5, 0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                field(Backoff::exponential(ms(1)).with_factor(factor)),
                Err("backoff.factor".into()),
                "{factor}"
            );
        }
        assert_eq!(field(Backoff::exponential(ms(1)).with_factor(1.0)), Ok(()));
        assert_eq!(field(Backoff::linear(ms(1), ms(1))), Ok(()));
        assert_eq!(field(Backoff::constant(ms(1))), Ok(()));
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Settings {
        backoff: Backoff,
        jitter: Jitter,
    }

    #[test]
    fn serde_round_trip_through_toml() {
        let text = r#"
            jitter = { proportional = 0.5 }

            [backoff]
            kind = "exponential"
            initial = "500ms"
            factor = 2.0
            max = "30s"
        "#;
        let parsed: Settings = toml::from_str(text).unwrap();
        let expected = Settings {
            backoff: Backoff::exponential(ms(500)).with_max(secs(30)),
            jitter: Jitter::Proportional(0.5),
        };
        assert_eq!(parsed, expected);

        let written = toml::to_string(&parsed).unwrap();
        assert!(written.contains("\"500ms\""), "{written}");
        assert_eq!(toml::from_str::<Settings>(&written).unwrap(), expected);

        let other: Settings = toml::from_str(
            "jitter = \"full\"\n[backoff]\nkind = \"linear\"\ninitial = \"1s\"\nstep = \"250ms\"\nmax = \"5s\"\n",
        )
        .unwrap();
        assert_eq!(
            other.backoff,
            Backoff::linear(secs(1), ms(250)).with_max(secs(5))
        );
        assert_eq!(other.jitter, Jitter::Full);

        let unknown =
            "jitter = \"none\"\n[backoff]\nkind = \"constant\"\ndelay = \"1s\"\nfactor = 2.0\n";
        assert!(toml::from_str::<Settings>(unknown).is_err());
        let bad_kind = "jitter = \"none\"\n[backoff]\nkind = \"fibonacci\"\ndelay = \"1s\"\n";
        assert!(toml::from_str::<Settings>(bad_kind).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn base_delay_never_panics_zero_or_above_max(b in valid_backoff(), retry in any_retry()) {
            prop_assert!(b.validate().is_ok());
            let d = b.base_delay(retry);
            prop_assert!(!d.is_zero());
            prop_assert!(d >= b.initial_delay());
            prop_assert!(d <= b.max_delay());
            prop_assert!(b.base_delay(retry.saturating_add(1)) >= d, "not monotonic");
        }
    }
}

/// Property-test strategies for backoffs, shared with the jitter tests.
#[cfg(test)]
pub(super) mod strategies {
    use super::*;
    use proptest::prelude::*;

    /// A valid exponential, linear or constant backoff with initial in 1 ns..=1 h.
    pub(crate) fn valid_backoff() -> impl Strategy<Value = Backoff> {
        let initial = 1u64..=3_600_000_000_000;
        let extra = prop_oneof![Just(0u64), 0u64..=1_000_000_000, 0u64..=100_000_000_000_000];
        let exponential = (initial.clone(), 1.0f64..=10.0, extra.clone()).prop_map(|(i, f, e)| {
            Backoff::exponential(Duration::from_nanos(i))
                .with_factor(f)
                .with_max(Duration::from_nanos(i + e))
        });
        let linear = (initial.clone(), 1u64..=3_600_000_000_000, extra).prop_map(|(i, s, e)| {
            Backoff::linear(Duration::from_nanos(i), Duration::from_nanos(s))
                .with_max(Duration::from_nanos(i + e))
        });
        let constant = initial.prop_map(|i| Backoff::constant(Duration::from_nanos(i)));
        prop_oneof![4 => exponential, 2 => linear, 1 => constant]
    }

    pub(crate) fn any_retry() -> impl Strategy<Value = u32> {
        prop_oneof![0u32..64, Just(u32::MAX), any::<u32>()]
    }
}
