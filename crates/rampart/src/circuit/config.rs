//! The breaker's settings as plain serde data, their validation, and the integer plan
//! the breaker runs on.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::duration_to_nanos;
use crate::config::{in_range, positive, ConfigError};

/// The largest count window, in calls (a failure costs a scan of `size / 64` words).
pub const MAX_WINDOW_SIZE: u32 = 10_000;
/// The most buckets a time window may have.
pub const MAX_BUCKETS: u32 = 1_000;
/// The most probes half-open may admit at once.
pub const MAX_PROBES: u32 = 10_000;

/// Which recent calls decide whether the breaker trips.
///
/// In a configuration file: `window = { kind = "consecutive", failures = 5 }`,
/// `{ kind = "count", size = 100 }` or `{ kind = "time", length = "60s", buckets = 10 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Window {
    /// Trip after this many failures in a row; a success starts the count again.
    Consecutive {
        /// Failures in a row that trip the breaker (at least 1).
        failures: u32,
    },
    /// The failure rate over the last `size` calls.
    Count {
        /// Calls in the window (1 to [`MAX_WINDOW_SIZE`]).
        size: u32,
    },
    /// The failure rate over the last `length` of time, kept in `buckets` slices: a call
    /// counts until `buckets` slice-widths after the start of its slice.
    Time {
        /// How far back calls count (above zero).
        #[serde(with = "humantime_serde")]
        length: Duration,
        /// Slices the window moves by (1 to [`MAX_BUCKETS`]).
        buckets: u32,
    },
}

/// Calls slower than a duration count as slow; too many slow calls trip the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlowCalls {
    /// A call that takes longer than this is slow (above zero).
    #[serde(with = "humantime_serde")]
    pub slower_than: Duration,
    /// The share of slow calls in the window that trips the breaker, 0 to 1.
    pub rate: f64,
}

/// Open periods that grow with each consecutive re-open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenBackoff {
    /// What each re-open multiplies the open period by (finite, at least 1).
    pub factor: f64,
    /// The longest open period (at least `open_for`).
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

/// Settings of a [`CircuitBreaker`](super::CircuitBreaker).
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `window` | 5 consecutive failures (the seeds') | see [`Window`] |
/// | `failure_rate` | 0.5 (rate windows only) | 0 to 1; 0 trips on any failure |
/// | `min_calls` | count window: its size; time window: 10; consecutive: none | 1 to the count window's size; windows only |
/// | `slow_calls` | none | windows only |
/// | `open_for` | 30 s (the seeds') | above zero |
/// | `open_backoff` | none: every open period is `open_for` | factor at least 1, max at least `open_for` |
/// | `permitted_probes` | 1 (the seeds' advice) | 1 to [`MAX_PROBES`] |
/// | `success_threshold` | the permitted probes | 1 to the permitted probes |
/// | `max_half_open` | none | above zero |
///
/// In a configuration file every field is optional, e.g.
/// `window = { kind = "count", size = 10 }`, `failure_rate = 0.5`, `open_for = "30s"`.
///
/// # Examples
///
/// ```
/// use rampart::circuit::BreakerConfig;
/// use std::time::Duration;
///
/// let config = BreakerConfig::count_window(100, 0.5)
///     .with_min_calls(20)
///     .with_slow_calls(Duration::from_secs(2), 0.8)
///     .with_open_for(Duration::from_secs(10))
///     .with_open_backoff(2.0, Duration::from_secs(300))
///     .with_permitted_probes(3);
/// assert!(config.validate().is_ok());
/// let bad = BreakerConfig::count_window(100, 1.5);
/// assert_eq!(bad.validate().unwrap_err().field(), "circuit_breaker.failure_rate");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Which recent calls decide whether to trip.
    pub window: Window,
    /// The share of failures in a rate window that trips the breaker.
    pub failure_rate: f64,
    /// Calls a rate window needs before its rates count; `None` for the default.
    pub min_calls: Option<u32>,
    /// Slow-call tracking, if any.
    pub slow_calls: Option<SlowCalls>,
    /// How long the breaker stays open before it lets probes through.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
    /// Longer open periods after consecutive re-opens, if any.
    pub open_backoff: Option<OpenBackoff>,
    /// Probes admitted at once while half-open.
    pub permitted_probes: u32,
    /// Successful probes that close the breaker; `None` for all permitted probes.
    pub success_threshold: Option<u32>,
    /// Half-open longer than this (measured when a call asks) re-opens the breaker.
    #[serde(with = "humantime_serde")]
    pub max_half_open: Option<Duration>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::consecutive(5)
    }
}

const fn base(window: Window, failure_rate: f64) -> BreakerConfig {
    BreakerConfig {
        window,
        failure_rate,
        min_calls: None,
        slow_calls: None,
        open_for: Duration::from_secs(30),
        open_backoff: None,
        permitted_probes: 1,
        success_threshold: None,
        max_half_open: None,
    }
}

impl BreakerConfig {
    /// Trips after `failures` consecutive failures (the seeds use 5).
    pub const fn consecutive(failures: u32) -> Self {
        base(Window::Consecutive { failures }, 0.5)
    }

    /// Trips when at least `failure_rate` (0 to 1) of the last `size` calls failed, once
    /// `size` calls have been seen (see [`with_min_calls`](Self::with_min_calls)).
    pub const fn count_window(size: u32, failure_rate: f64) -> Self {
        base(Window::Count { size }, failure_rate)
    }

    /// Trips when at least `failure_rate` of the calls in the last `window`, kept in
    /// `buckets` slices, failed, once 10 calls are in it.
    pub const fn time_window(window: Duration, buckets: u32, failure_rate: f64) -> Self {
        base(
            Window::Time {
                length: window,
                buckets,
            },
            failure_rate,
        )
    }

    /// Sets how many calls a rate window needs before its rates can trip it.
    pub const fn with_min_calls(mut self, n: u32) -> Self {
        self.min_calls = Some(n);
        self
    }

    /// Counts calls slower than `slower_than` as slow, tripping when at least `rate` of
    /// the window is slow. Slow calls are measured from permit to record; a slow probe
    /// counts as a failed probe.
    pub const fn with_slow_calls(mut self, slower_than: Duration, rate: f64) -> Self {
        self.slow_calls = Some(SlowCalls { slower_than, rate });
        self
    }

    /// Sets how long the breaker stays open before the first probe.
    pub const fn with_open_for(mut self, d: Duration) -> Self {
        self.open_for = d;
        self
    }

    /// Multiplies the open period by `factor` with each consecutive re-open (a failed
    /// half-open), up to `max`; closing starts again from `open_for`.
    pub const fn with_open_backoff(mut self, factor: f64, max: Duration) -> Self {
        self.open_backoff = Some(OpenBackoff { factor, max });
        self
    }

    /// Sets how many probes half-open admits at once.
    pub const fn with_permitted_probes(mut self, n: u32) -> Self {
        self.permitted_probes = n;
        self
    }

    /// Sets how many probes must succeed to close the breaker.
    pub const fn with_success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = Some(n);
        self
    }

    /// Re-opens the breaker when it has been half-open longer than `d` (for probes that
    /// never finish), checked when a call asks for a permit.
    pub const fn with_max_half_open(mut self, d: Duration) -> Self {
        self.max_half_open = Some(d);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field under `circuit_breaker.`: `window.failures`,
    /// `window.size`, `window.length`, `window.buckets`, `failure_rate`, `min_calls`,
    /// `slow_calls`, `slow_calls.slower_than`, `slow_calls.rate`, `open_for`,
    /// `open_backoff.factor`, `open_backoff.max`, `permitted_probes`,
    /// `success_threshold` or `max_half_open`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|e| e.within("circuit_breaker"))
    }

    fn check(&self) -> Result<(), ConfigError> {
        let at_least = |field: &str, n: u32, lo: u32, hi: u32| {
            if n < lo || n > hi {
                return Err(ConfigError::new(
                    field,
                    format!("must be between {lo} and {hi}, got {n}"),
                ));
            }
            Ok(())
        };
        let rate_window = match self.window {
            Window::Consecutive { failures } => {
                at_least("window.failures", failures, 1, u32::MAX)?;
                None
            }
            Window::Count { size } => {
                at_least("window.size", size, 1, MAX_WINDOW_SIZE)?;
                Some(size)
            }
            Window::Time { length, buckets } => {
                positive("window.length", length)?;
                at_least("window.buckets", buckets, 1, MAX_BUCKETS)?;
                if duration_to_nanos(length) < u64::from(buckets) {
                    return Err(ConfigError::new(
                        "window.length",
                        "must be at least one nanosecond per bucket",
                    ));
                }
                Some(u32::MAX)
            }
        };
        in_range("failure_rate", self.failure_rate, 0.0, 1.0)?;
        match (rate_window, self.min_calls) {
            (None, Some(_)) => return Err(ConfigError::new("min_calls", "needs a rate window")),
            (Some(max), Some(n)) => at_least("min_calls", n, 1, max)?,
            _ => {}
        }
        if let Some(slow) = self.slow_calls {
            if rate_window.is_none() {
                return Err(ConfigError::new("slow_calls", "needs a rate window"));
            }
            positive("slow_calls.slower_than", slow.slower_than)?;
            in_range("slow_calls.rate", slow.rate, 0.0, 1.0)?;
        }
        positive("open_for", self.open_for)?;
        if let Some(b) = self.open_backoff {
            if !b.factor.is_finite() || b.factor < 1.0 {
                return Err(ConfigError::new(
                    "open_backoff.factor",
                    format!("must be a finite number of at least 1, got {}", b.factor),
                ));
            }
            if b.max < self.open_for {
                return Err(ConfigError::new(
                    "open_backoff.max",
                    "must be at least open_for",
                ));
            }
        }
        at_least("permitted_probes", self.permitted_probes, 1, MAX_PROBES)?;
        if let Some(s) = self.success_threshold {
            at_least("success_threshold", s, 1, self.permitted_probes)?;
        }
        if let Some(d) = self.max_half_open {
            positive("max_half_open", d)?;
        }
        Ok(())
    }
}
