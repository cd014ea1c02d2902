//! Hedging: when an attempt is slow, start another one and take the first success.
//!
//! Hedging trades a little extra load for a shorter tail: after a delay (fixed, or a
//! percentile of recent latencies, so only the slowest few percent of calls are hedged)
//! a second attempt starts while the first is still running; the first success wins and
//! every other attempt is dropped at once. A failed attempt starts the next one without
//! waiting. Attempts are bounded, and each hedge draws on the pipeline's retry budget,
//! so hedging cannot double the load on a dependency that is already struggling. Only
//! hedge operations that are safe to run twice (reads, or writes with an idempotency
//! key).
//!
//! # Examples
//!
//! ```
//! use rampart::hedge::{HedgeConfig, HedgeDelay};
//! use std::time::Duration;
//!
//! let fixed = HedgeConfig::fixed(Duration::from_millis(50)).with_max_attempts(3);
//! let adaptive = HedgeConfig::new(HedgeDelay::percentile(95.0, Duration::from_millis(100)));
//! assert!(fixed.validate().is_ok() && adaptive.validate().is_ok());
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::duration_to_nanos;
use crate::config::{in_range, positive, ConfigError};

/// When the next hedged attempt starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum HedgeDelay {
    /// A fixed delay after the previous attempt started.
    Fixed(#[serde(with = "humantime_serde")] Duration),
    /// A percentile of the latencies of recent successful calls, never below `min`.
    Percentile {
        /// The percentile, in (0, 100].
        percentile: f64,
        /// The delay used until enough latencies are known.
        #[serde(with = "humantime_serde")]
        initial: Duration,
        /// The smallest delay, whatever the latencies say.
        #[serde(with = "humantime_serde")]
        min: Duration,
    },
}

impl HedgeDelay {
    /// The `p`th percentile of recent latencies, `initial` until known, at least 1 ms.
    pub const fn percentile(p: f64, initial: Duration) -> Self {
        HedgeDelay::Percentile {
            percentile: p,
            initial,
            min: Duration::from_millis(1),
        }
    }
}

/// Settings of a hedging policy.
///
/// # Defaults
///
/// | field | default |
/// |---|---|
/// | `delay` | required |
/// | `max_attempts` | 2 (the first attempt and one hedge) |
/// | `use_budget` | true (hedges draw on the pipeline's retry budget) |
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HedgeConfig {
    /// When the next attempt starts.
    pub delay: HedgeDelay,
    /// Attempts in all, the first included. At least 2 for hedging to do anything.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Whether hedges draw on the pipeline's retry budget.
    #[serde(default = "default_true")]
    pub use_budget: bool,
}

fn default_attempts() -> u32 {
    2
}

fn default_true() -> bool {
    true
}

impl HedgeConfig {
    /// Hedging with `delay` and the defaults.
    pub const fn new(delay: HedgeDelay) -> Self {
        HedgeConfig {
            delay,
            max_attempts: 2,
            use_budget: true,
        }
    }

    /// Hedging after a fixed delay.
    pub const fn fixed(delay: Duration) -> Self {
        Self::new(HedgeDelay::Fixed(delay))
    }

    /// Sets the number of attempts in all.
    pub const fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Whether hedges draw on the pipeline's retry budget.
    pub const fn with_budget(mut self, use_budget: bool) -> Self {
        self.use_budget = use_budget;
        self
    }

    /// Checks the values; errors name `hedge.max_attempts`, `hedge.delay`, ...
    pub fn validate(&self) -> Result<(), ConfigError> {
        let inner = || -> Result<(), ConfigError> {
            if self.max_attempts < 2 {
                return Err(ConfigError::new("max_attempts", "must be at least 2"));
            }
            match self.delay {
                HedgeDelay::Fixed(d) => positive("delay", d),
                HedgeDelay::Percentile {
                    percentile,
                    initial,
                    min,
                } => {
                    if percentile <= 0.0 {
                        return Err(ConfigError::new(
                            "delay.percentile",
                            "must be above 0 and at most 100",
                        ));
                    }
                    in_range("delay.percentile", percentile, 0.0, 100.0)?;
                    positive("delay.initial", initial)?;
                    positive("delay.min", min)
                }
            }
        };
        inner().map_err(|e| e.within("hedge"))
    }
}

/// How many recent latencies the percentile is taken over.
const WINDOW: usize = 128;
/// The percentile is recomputed after this many new samples.
const RECOMPUTE_EVERY: u32 = 16;

/// Recent latencies of successful calls, and the hedge delay derived from them.
#[derive(Debug)]
pub(crate) struct LatencyTracker {
    percentile: f64,
    min: u64,
    delay_nanos: AtomicU64,
    ring: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    samples: Vec<u64>,
    next: usize,
    since_recompute: u32,
}

impl LatencyTracker {
    fn new(percentile: f64, initial: Duration, min: Duration) -> Self {
        LatencyTracker {
            percentile,
            min: duration_to_nanos(min),
            delay_nanos: AtomicU64::new(duration_to_nanos(initial.max(min))),
            ring: Mutex::new(Ring {
                samples: Vec::with_capacity(WINDOW),
                next: 0,
                since_recompute: 0,
            }),
        }
    }

    /// Records one successful call's latency.
    pub(crate) fn record(&self, latency: Duration) {
        let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let n = duration_to_nanos(latency);
        if r.samples.len() < WINDOW {
            r.samples.push(n);
        } else {
            let i = r.next;
            r.samples[i] = n;
        }
        r.next = (r.next + 1) % WINDOW;
        r.since_recompute += 1;
        if r.since_recompute >= RECOMPUTE_EVERY {
            r.since_recompute = 0;
            let mut sorted = r.samples.clone();
            drop(r);
            sorted.sort_unstable();
            let rank = ((self.percentile / 100.0) * sorted.len() as f64).ceil() as usize;
            let v = sorted[rank.clamp(1, sorted.len()) - 1];
            self.delay_nanos.store(v.max(self.min), Ordering::Relaxed);
        }
    }

    fn delay(&self) -> Duration {
        Duration::from_nanos(self.delay_nanos.load(Ordering::Relaxed))
    }
}

/// A validated hedging policy, shared by every call of a pipeline.
#[derive(Debug)]
pub(crate) struct HedgePolicy {
    pub(crate) config: HedgeConfig,
    pub(crate) tracker: Option<LatencyTracker>,
}

impl HedgePolicy {
    pub(crate) fn new(config: HedgeConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let tracker = match config.delay {
            HedgeDelay::Fixed(_) => None,
            HedgeDelay::Percentile {
                percentile,
                initial,
                min,
            } => Some(LatencyTracker::new(percentile, initial, min)),
        };
        Ok(HedgePolicy { config, tracker })
    }

    /// How long to wait before the next hedged attempt.
    pub(crate) fn delay(&self) -> Duration {
        match (&self.tracker, self.config.delay) {
            (Some(t), _) => t.delay(),
            (None, HedgeDelay::Fixed(d)) => d,
            (None, HedgeDelay::Percentile { initial, .. }) => initial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_follows_latencies() {
        let p = HedgePolicy::new(HedgeConfig::new(HedgeDelay::percentile(
            90.0,
            Duration::from_millis(500),
        )))
        .unwrap();
        assert_eq!(p.delay(), Duration::from_millis(500));
        let t = p.tracker.as_ref().unwrap();
        for i in 1..=100u64 {
            t.record(Duration::from_millis(i));
        }
        // 96 samples processed at the last recompute: p90 of 1..=96 ms is 87 ms.
        assert_eq!(p.delay(), Duration::from_millis(87));
    }

    #[test]
    fn validation_names_fields() {
        let e = HedgeConfig::fixed(Duration::ZERO).validate().unwrap_err();
        assert_eq!(e.field(), "hedge.delay");
        let e = HedgeConfig::fixed(Duration::from_secs(1))
            .with_max_attempts(1)
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), "hedge.max_attempts");
        let e = HedgeConfig::new(HedgeDelay::percentile(0.0, Duration::from_secs(1)))
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), "hedge.delay.percentile");
    }
}
