//! The adaptive limiter's settings as plain serde data and their validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{in_range, positive, ConfigError};

/// The highest limit a limiter may be configured with.
pub const MAX_LIMIT: u32 = 1_000_000;

/// Settings of the [AIMD](super#aimd) algorithm.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `latency_threshold` | 1 s (the seeds' p95 threshold) | above zero |
/// | `backoff_ratio` | 0.9 | above 0, below 1 |
/// | `increase` | 1 (per limit's worth of successes) | above 0, finite |
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AimdConfig {
    /// A call slower than this is a sign of overload, like a drop.
    #[serde(with = "humantime_serde")]
    pub latency_threshold: Duration,
    /// What a decrease multiplies the limit by.
    pub backoff_ratio: f64,
    /// How much the limit grows per limit's worth of successful calls.
    pub increase: f64,
}

impl Default for AimdConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl AimdConfig {
    /// The defaults: 1 s threshold, back off to 90 %, grow by 1 per round of calls.
    pub const fn new() -> Self {
        AimdConfig {
            latency_threshold: Duration::from_secs(1),
            backoff_ratio: 0.9,
            increase: 1.0,
        }
    }

    /// Sets the latency above which a call counts as a sign of overload.
    pub const fn with_latency_threshold(mut self, d: Duration) -> Self {
        self.latency_threshold = d;
        self
    }

    /// Sets what a decrease multiplies the limit by.
    pub const fn with_backoff_ratio(mut self, ratio: f64) -> Self {
        self.backoff_ratio = ratio;
        self
    }

    /// Sets how much the limit grows per limit's worth of successes.
    pub const fn with_increase(mut self, increase: f64) -> Self {
        self.increase = increase;
        self
    }

    fn check(&self) -> Result<(), ConfigError> {
        positive("latency_threshold", self.latency_threshold)?;
        open_unit("backoff_ratio", self.backoff_ratio)?;
        if !self.increase.is_finite() || self.increase <= 0.0 {
            return Err(ConfigError::new(
                "increase",
                format!("must be a finite number above 0, got {}", self.increase),
            ));
        }
        Ok(())
    }
}

/// Settings of the [gradient](super#gradient) algorithm.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `window` | 100 ms | above zero |
/// | `min_window_samples` | 10 | at least 1 |
/// | `tolerance` | 1.0 | 1 to 10 |
/// | `smoothing` | 0.2 | above 0, up to 1 |
/// | `backoff_ratio` | 0.9, for a window with a drop | above 0, below 1 |
/// | `min_rtt_every` | 60 s | above zero |
/// | `min_rtt_samples` | 25 | at least 1 |
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct GradientConfig {
    /// The shortest sampling window; it closes at the first call completed after it.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Calls a window needs before it closes.
    pub min_window_samples: u32,
    /// How much slower than the no-load latency a window may be before the limit shrinks.
    pub tolerance: f64,
    /// How far each window moves the limit toward its new target (1: all the way).
    pub smoothing: f64,
    /// What a window with a dropped call multiplies the limit by.
    pub backoff_ratio: f64,
    /// How often the no-load latency is measured again.
    #[serde(with = "humantime_serde")]
    pub min_rtt_every: Duration,
    /// Calls a no-load measurement averages.
    pub min_rtt_samples: u32,
}

impl Default for GradientConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl GradientConfig {
    /// The defaults (see the table).
    pub const fn new() -> Self {
        GradientConfig {
            window: Duration::from_millis(100),
            min_window_samples: 10,
            tolerance: 1.0,
            smoothing: 0.2,
            backoff_ratio: 0.9,
            min_rtt_every: Duration::from_secs(60),
            min_rtt_samples: 25,
        }
    }

    /// Sets the shortest sampling window.
    pub const fn with_window(mut self, d: Duration) -> Self {
        self.window = d;
        self
    }

    /// Sets how many calls a window needs.
    pub const fn with_min_window_samples(mut self, n: u32) -> Self {
        self.min_window_samples = n;
        self
    }

    /// Sets how much slower than no-load a window may be before the limit shrinks.
    pub const fn with_tolerance(mut self, t: f64) -> Self {
        self.tolerance = t;
        self
    }

    /// Sets how far each window moves the limit toward its target.
    pub const fn with_smoothing(mut self, s: f64) -> Self {
        self.smoothing = s;
        self
    }

    /// Sets what a window with a dropped call multiplies the limit by.
    pub const fn with_backoff_ratio(mut self, ratio: f64) -> Self {
        self.backoff_ratio = ratio;
        self
    }

    /// Sets how often the no-load latency is measured and with how many calls.
    pub const fn with_min_rtt(mut self, every: Duration, samples: u32) -> Self {
        self.min_rtt_every = every;
        self.min_rtt_samples = samples;
        self
    }

    fn check(&self) -> Result<(), ConfigError> {
        positive("window", self.window)?;
        at_least_one("min_window_samples", self.min_window_samples)?;
        in_range("tolerance", self.tolerance, 1.0, 10.0)?;
        in_range("smoothing", self.smoothing, 0.0, 1.0)?;
        if self.smoothing == 0.0 {
            return Err(ConfigError::new("smoothing", "must be above 0"));
        }
        open_unit("backoff_ratio", self.backoff_ratio)?;
        positive("min_rtt_every", self.min_rtt_every)?;
        at_least_one("min_rtt_samples", self.min_rtt_samples)
    }
}

/// How the limit follows the measured latency. In a configuration file:
/// `algorithm = { kind = "aimd", latency_threshold = "250ms" }` or
/// `algorithm = { kind = "gradient" }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Algorithm {
    /// Additive increase, multiplicative decrease on drops and slow calls.
    Aimd(AimdConfig),
    /// The limit scaled by no-load latency over sampled latency, plus headroom.
    Gradient(GradientConfig),
}

/// Settings of an [`AdaptiveLimiter`](super::AdaptiveLimiter).
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `algorithm` | gradient, [`GradientConfig`]'s defaults | see [`Algorithm`] |
/// | `initial_limit` | 20 | `min_limit` to `max_limit` |
/// | `min_limit` | 3 | at least 1 |
/// | `max_limit` | 1000 | `min_limit` to [`MAX_LIMIT`] |
///
/// # Examples
///
/// ```
/// use rampart::adaptive::{AdaptiveConfig, AimdConfig};
/// use std::time::Duration;
///
/// let config = AdaptiveConfig::aimd(AimdConfig::new().with_latency_threshold(Duration::from_millis(250)))
///     .with_limits(5, 200)
///     .with_initial_limit(10);
/// assert!(config.validate().is_ok());
/// let bad = AdaptiveConfig::gradient_default().with_limits(10, 5);
/// assert_eq!(bad.validate().unwrap_err().field(), "adaptive_concurrency.max_limit");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdaptiveConfig {
    /// How the limit follows latency.
    pub algorithm: Algorithm,
    /// The limit before any call has been measured.
    pub initial_limit: u32,
    /// The limit never goes below this.
    pub min_limit: u32,
    /// The limit never goes above this.
    pub max_limit: u32,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self::gradient_default()
    }
}

impl AdaptiveConfig {
    /// `algorithm` with the default limits.
    pub const fn new(algorithm: Algorithm) -> Self {
        AdaptiveConfig {
            algorithm,
            initial_limit: 20,
            min_limit: 3,
            max_limit: 1000,
        }
    }

    /// The AIMD algorithm with `config`, and the default limits.
    pub const fn aimd(config: AimdConfig) -> Self {
        Self::new(Algorithm::Aimd(config))
    }

    /// The gradient algorithm with `config`, and the default limits.
    pub const fn gradient(config: GradientConfig) -> Self {
        Self::new(Algorithm::Gradient(config))
    }

    /// The gradient algorithm with its defaults.
    pub const fn gradient_default() -> Self {
        Self::gradient(GradientConfig::new())
    }

    /// Sets how the limit follows latency.
    pub const fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sets the limit before any call has been measured.
    pub const fn with_initial_limit(mut self, n: u32) -> Self {
        self.initial_limit = n;
        self
    }

    /// Sets the bounds the limit stays within.
    pub const fn with_limits(mut self, min: u32, max: u32) -> Self {
        self.min_limit = min;
        self.max_limit = max;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field under `adaptive_concurrency.`: `min_limit`,
    /// `max_limit`, `initial_limit`, or an `algorithm.` field (`latency_threshold`,
    /// `backoff_ratio`, `increase`, `window`, `min_window_samples`, `tolerance`,
    /// `smoothing`, `min_rtt_every`, `min_rtt_samples`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|e| e.within("adaptive_concurrency"))
    }

    fn check(&self) -> Result<(), ConfigError> {
        at_least_one("min_limit", self.min_limit)?;
        if self.max_limit < self.min_limit || self.max_limit > MAX_LIMIT {
            return Err(ConfigError::new(
                "max_limit",
                format!(
                    "must be between min_limit ({}) and {MAX_LIMIT}, got {}",
                    self.min_limit, self.max_limit
                ),
            ));
        }
        if self.initial_limit < self.min_limit || self.initial_limit > self.max_limit {
            return Err(ConfigError::new(
                "initial_limit",
                format!(
                    "must be between min_limit ({}) and max_limit ({}), got {}",
                    self.min_limit, self.max_limit, self.initial_limit
                ),
            ));
        }
        match &self.algorithm {
            Algorithm::Aimd(a) => a.check(),
            Algorithm::Gradient(g) => g.check(),
        }
        .map_err(|e| e.within("algorithm"))
    }
}

fn at_least_one(field: &str, n: u32) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError::new(field, "must be at least 1"));
    }
    Ok(())
}

/// Fails unless `x` lies strictly between 0 and 1.
fn open_unit(field: &str, x: f64) -> Result<(), ConfigError> {
    if !(x > 0.0 && x < 1.0) {
        return Err(ConfigError::new(
            field,
            format!("must be above 0 and below 1, got {x}"),
        ));
    }
    Ok(())
}
