//! Retries with backoff, jitter, a shared budget and respect for the deadline.
//!
//! Use a retry for failures that fix themselves (a network blip, a deploy); pair it with
//! a per-attempt timeout inside it and a circuit breaker outside it, so the breaker
//! counts one failure per request rather than one per attempt. What is retryable comes
//! from the [`Classifier`](crate::classify::Classifier); rejections from inner policies
//! are retried only for the kinds in [`RetryConfig::retry_on`] (by default a
//! per-attempt `Timeout` and an `Injected` fault, which stands for a failure of the
//! dependency).
//!
//! Before each retry the policy checks, in order: the attempt limit, the elapsed-time
//! limit, the request-wide deadline (a backoff sleep that would end at or after it is not
//! started: the caller gets `DeadlineExceeded` at once), and the pipeline's
//! [`RetryBudget`] (20 % of calls plus 10 per second by default, so
//! retries cannot multiply an outage). A retry-after hint from the outcome wins over the
//! computed backoff, clamped to [`RetryConfig::max_retry_after`].
//!
//! # Examples
//!
//! ```
//! use rampart::retry::{Backoff, Jitter, RetryConfig};
//! use std::time::Duration;
//!
//! let cfg = RetryConfig::exponential(Duration::from_millis(500))
//!     .with_max_attempts(3)
//!     .with_jitter(Jitter::Full)
//!     .with_max_elapsed(Duration::from_secs(10));
//! assert!(cfg.validate().is_ok());
//! assert!(RetryConfig::constant(Duration::ZERO).validate().is_err());
//! ```

pub mod backoff;
pub mod budget;
pub mod jitter;

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

pub use self::backoff::{Backoff, DelaySequence, Jitter};
pub use self::budget::{RetryBudget, RetryBudgetConfig};
use crate::config::{positive, ConfigError};
use crate::error::RejectionKind;

/// Settings of a retry policy.
///
/// # Defaults
///
/// | field | default |
/// |---|---|
/// | `max_attempts` | 3 (1 try + 2 retries) |
/// | `backoff` | exponential from 500 ms, factor 2, capped at 60 s |
/// | `jitter` | full |
/// | `max_elapsed` | none |
/// | `max_retry_after` | the backoff's cap |
/// | `retry_on` | `[timeout, injected]` |
/// | `use_budget` | true (the pipeline's retry budget) |
/// | `seed` | none (thread-local randomness) |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Total tries, the first one included. At least 1.
    pub max_attempts: u32,
    /// How the delay grows between tries.
    pub backoff: Backoff,
    /// How the delay is spread at random.
    pub jitter: Jitter,
    /// No retry is started that would end after this much time since the first try.
    #[serde(with = "humantime_serde")]
    pub max_elapsed: Option<Duration>,
    /// The largest delay a retry-after hint may ask for.
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Option<Duration>,
    /// Rejections by inner policies that are retried.
    pub retry_on: Vec<RejectionKind>,
    /// Whether retries draw on the pipeline's retry budget.
    pub use_budget: bool,
    /// Seeds the jitter so that delays are reproducible.
    pub seed: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig::exponential(Duration::from_millis(500))
    }
}

impl RetryConfig {
    /// Retries with `backoff` and the other defaults.
    pub fn new(backoff: Backoff) -> Self {
        RetryConfig {
            max_attempts: 3,
            backoff,
            jitter: Jitter::Full,
            max_elapsed: None,
            max_retry_after: None,
            retry_on: vec![RejectionKind::Timeout, RejectionKind::Injected],
            use_budget: true,
            seed: None,
        }
    }

    /// Exponential backoff from `initial`, factor 2, capped at 60 s.
    pub fn exponential(initial: Duration) -> Self {
        Self::new(Backoff::exponential(initial))
    }

    /// The same delay between every try.
    pub fn constant(delay: Duration) -> Self {
        Self::new(Backoff::constant(delay))
    }

    /// A delay growing by `step` each retry from `initial`, capped at 60 s.
    pub fn linear(initial: Duration, step: Duration) -> Self {
        Self::new(Backoff::linear(initial, step))
    }

    /// Sets the total number of tries.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Sets the number of retries after the first try.
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_attempts = n.saturating_add(1);
        self
    }

    /// Sets the backoff.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the growth factor of an exponential backoff.
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.backoff = self.backoff.with_factor(factor);
        self
    }

    /// Caps the computed delay.
    pub fn with_max_delay(mut self, max: Duration) -> Self {
        self.backoff = self.backoff.with_max(max);
        self
    }

    /// Sets the jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Limits the time from the first try after which no retry starts.
    pub fn with_max_elapsed(mut self, max: Duration) -> Self {
        self.max_elapsed = Some(max);
        self
    }

    /// Caps the delay a retry-after hint can ask for.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = Some(max);
        self
    }

    /// Sets which rejections by inner policies are retried.
    pub fn with_retry_on(mut self, kinds: &[RejectionKind]) -> Self {
        self.retry_on = kinds.to_vec();
        self
    }

    /// Whether retries draw on the pipeline's retry budget.
    pub fn with_budget(mut self, use_budget: bool) -> Self {
        self.use_budget = use_budget;
        self
    }

    /// Seeds the jitter for reproducible delays.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks every value; the error names the field (`retry.max_attempts`, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let inner = || -> Result<(), ConfigError> {
            if self.max_attempts == 0 {
                return Err(ConfigError::new("max_attempts", "must be at least 1"));
            }
            self.backoff.validate()?;
            self.jitter.validate()?;
            if let Some(d) = self.max_elapsed {
                positive("max_elapsed", d)?;
            }
            if let Some(d) = self.max_retry_after {
                positive("max_retry_after", d)?;
            }
            Ok(())
        };
        inner().map_err(|e| e.within("retry"))
    }
}

/// A validated retry policy, shared by every call of a pipeline.
#[derive(Debug)]
pub(crate) struct RetryPolicy {
    pub(crate) config: RetryConfig,
    rng: Option<Mutex<SmallRng>>,
}

impl RetryPolicy {
    pub(crate) fn new(config: RetryConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let rng = config.seed.map(|s| Mutex::new(SmallRng::seed_from_u64(s)));
        Ok(RetryPolicy { config, rng })
    }

    /// The delay before retry number `retry` (0 for the first), given the delay before
    /// the previous one (`None` before the first).
    pub(crate) fn delay_for(&self, retry: u32, previous: Option<Duration>) -> Duration {
        let c = &self.config;
        let prev = previous.unwrap_or_else(|| c.backoff.initial_delay());
        match &self.rng {
            Some(m) => {
                let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
                backoff::delay_at(&c.backoff, c.jitter, retry, prev, &mut *g)
            }
            None => backoff::delay_at(&c.backoff, c.jitter, retry, prev, &mut rand::rng()),
        }
    }

    /// Whether a rejection of `kind` by an inner policy is retried.
    pub(crate) fn retries(&self, kind: RejectionKind) -> bool {
        self.config.retry_on.contains(&kind)
    }

    /// The delay before the next try: the hint if there is one (clamped), else backoff.
    /// `previous` carries the last computed delay between calls (for decorrelated
    /// jitter).
    pub(crate) fn next_delay(
        &self,
        retry: u32,
        previous: &mut Option<Duration>,
        hint: Option<Duration>,
    ) -> Duration {
        let computed = self.delay_for(retry, *previous);
        *previous = Some(computed);
        match hint {
            Some(h) => h.min(
                self.config
                    .max_retry_after
                    .unwrap_or_else(|| self.config.backoff.max_delay()),
            ),
            None => computed,
        }
    }
}
