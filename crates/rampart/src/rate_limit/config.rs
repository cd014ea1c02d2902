//! The limiters' settings as plain serde data, and their validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::gcra::Gcra;
use crate::clock::duration_to_nanos;
use crate::config::{positive, ConfigError};

const fn one_second() -> Duration {
    Duration::from_secs(1)
}

/// The quota of a token-bucket [`RateLimiter`](super::RateLimiter): `rate` calls per
/// `period`, with bursts of up to `burst` calls.
///
/// The bucket holds `burst` tokens and gains one every `period / rate` (rounded down to
/// whole nanoseconds, at least 1 ns, so at most 10^9 per second); a call takes one.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `rate` | none: required | at least 1 |
/// | `period` | 1 s | above zero |
/// | `burst` | `rate` (a full period's worth) | at least 1; `burst x period / rate` under 584 years (about 190 on the default clock, which counts in CPU ticks; checked when a limiter is made) |
///
/// In a configuration file: `rate = 1000`, `period = "1m"`, `burst = 50`.
///
/// # Examples
///
/// ```
/// use rampart::rate_limit::RateLimitConfig;
/// use std::time::Duration;
///
/// let config = RateLimitConfig::per_second(100).with_burst(20);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.emission_interval(), Duration::from_millis(10));
///
/// // The seeds' "tenant-a: 1000 requests/minute".
/// let tenant = RateLimitConfig::per_minute(1000);
/// assert_eq!(tenant.effective_burst(), 1000);
///
/// let bad = RateLimitConfig::per_second(0);
/// assert_eq!(bad.validate().unwrap_err().field(), "rate_limit.rate");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Calls allowed per `period`, on average.
    pub rate: u32,
    /// The period `rate` is counted over.
    #[serde(default = "one_second", with = "humantime_serde")]
    pub period: Duration,
    /// The most calls admitted at one instant after an idle spell; `None` for `rate`.
    #[serde(default)]
    pub burst: Option<u32>,
}

impl RateLimitConfig {
    /// `rate` calls per `period`, bursts of up to `rate`.
    pub const fn new(rate: u32, period: Duration) -> Self {
        RateLimitConfig {
            rate,
            period,
            burst: None,
        }
    }

    /// `rate` calls per second.
    pub const fn per_second(rate: u32) -> Self {
        Self::new(rate, Duration::from_secs(1))
    }

    /// `rate` calls per minute.
    pub const fn per_minute(rate: u32) -> Self {
        Self::new(rate, Duration::from_secs(60))
    }

    /// Sets the calls allowed per period.
    pub const fn with_rate(mut self, rate: u32) -> Self {
        self.rate = rate;
        self
    }

    /// Sets the period the rate is counted over.
    pub const fn with_period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Sets the most calls admitted at one instant.
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The burst in force: `burst`, or `rate` when it is not set.
    pub const fn effective_burst(&self) -> u32 {
        match self.burst {
            Some(b) => b,
            None => self.rate,
        }
    }

    /// The time one token takes to come back: `period / rate`, in whole nanoseconds
    /// (at least 1 ns; zero for a zero rate).
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos())
    }

    fn interval_nanos(&self) -> u64 {
        match self.rate {
            0 => 0,
            r => (duration_to_nanos(self.period) / u64::from(r)).max(1),
        }
    }

    /// Checks the quota.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `rate_limit.rate` when it is 0, `rate_limit.period` when it
    /// is zero, or `rate_limit.burst` when it is 0 or so large that a full bucket takes
    /// longer than `u64` nanoseconds (584 years) to refill.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rate == 0 {
            return Err(ConfigError::new("rate_limit.rate", "must be at least 1"));
        }
        positive("rate_limit.period", self.period)?;
        let burst = self.effective_burst();
        if burst == 0 {
            return Err(ConfigError::new("rate_limit.burst", "must be at least 1"));
        }
        if self
            .interval_nanos()
            .checked_mul(u64::from(burst))
            .is_none()
        {
            return Err(ConfigError::new(
                "rate_limit.burst",
                "a full bucket would take longer than 584 years to refill",
            ));
        }
        Ok(())
    }

    /// The validated quota in GCRA form, in the ticks of a clock that `ticks` turns
    /// nanoseconds into (rounded up, saturating): the emission interval rounded up to
    /// a whole tick, so that the rate never goes above the quota, and the burst exact.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`validate`](Self::validate), or one for
    /// `rate_limit.burst` when a full bucket is more ticks than the clock can count.
    pub(crate) fn gcra(&self, ticks: impl Fn(u64) -> u64) -> Result<Gcra, ConfigError> {
        self.validate()?;
        let (t, burst) = (ticks(self.interval_nanos()), self.effective_burst());
        if t == u64::MAX || t.checked_mul(u64::from(burst)).is_none() {
            return Err(ConfigError::new(
                "rate_limit.burst",
                "a full bucket would take longer to refill than the limiter's clock can \
                 count (about 190 years on the default clock)",
            ));
        }
        Ok(Gcra::new(t, burst))
    }
}

/// The limit of a [`SlidingWindowLimiter`](super::SlidingWindowLimiter): at most `limit`
/// calls per `window`, estimated over a sliding window.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `limit` | none: required | at least 1 |
/// | `window` | 1 s | above zero |
///
/// In a configuration file: `limit = 1000`, `window = "1m"`.
///
/// # Examples
///
/// ```
/// use rampart::rate_limit::SlidingWindowConfig;
/// use std::time::Duration;
///
/// let config = SlidingWindowConfig::per_minute(1000);
/// assert_eq!(config.window, Duration::from_secs(60));
/// assert!(config.validate().is_ok());
///
/// let bad = SlidingWindowConfig::new(10, Duration::ZERO);
/// assert_eq!(bad.validate().unwrap_err().field(), "sliding_window.window");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlidingWindowConfig {
    /// Calls allowed per window.
    pub limit: u32,
    /// The window's length.
    #[serde(default = "one_second", with = "humantime_serde")]
    pub window: Duration,
}

impl SlidingWindowConfig {
    /// At most `limit` calls per `window`.
    pub const fn new(limit: u32, window: Duration) -> Self {
        SlidingWindowConfig { limit, window }
    }

    /// At most `limit` calls per second.
    pub const fn per_second(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// At most `limit` calls per minute.
    pub const fn per_minute(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// Sets the calls allowed per window.
    pub const fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the window's length.
    pub const fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Checks the limit.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `sliding_window.limit` when it is 0 or
    /// `sliding_window.window` when it is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.limit == 0 {
            return Err(ConfigError::new(
                "sliding_window.limit",
                "must be at least 1",
            ));
        }
        positive("sliding_window.window", self.window)
    }
}
