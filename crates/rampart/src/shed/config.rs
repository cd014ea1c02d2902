//! The shedder's settings as plain serde data, their validation, and the seeds' level
//! table as a pure function of the load.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::priority::Priority;
use crate::config::{in_range, positive, ConfigError};

/// Thresholds are applied in millionths, so that admission by in-flight count is
/// integer arithmetic.
const PPM: u128 = 1_000_000;

/// How much of the load a shedder is turning away, from the level table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShedLevel {
    /// Below `shed_low_at` (70 %): every request is admitted.
    AcceptAll,
    /// From `shed_low_at` to `shed_normal_at` (70-85 %): `Low` is shed.
    ShedLow,
    /// From `shed_normal_at` to `shed_high_at` (85-95 %): `Low` and `Normal` are shed.
    ShedNormal,
    /// From `shed_high_at` (95 %): all but `Critical` are shed.
    CriticalOnly,
}

impl ShedLevel {
    /// True when a request of `priority` is admitted at this level.
    pub const fn admits(self, priority: Priority) -> bool {
        match self {
            ShedLevel::AcceptAll => true,
            ShedLevel::ShedLow => !matches!(priority, Priority::Low),
            ShedLevel::ShedNormal => matches!(priority, Priority::High | Priority::Critical),
            ShedLevel::CriticalOnly => matches!(priority, Priority::Critical),
        }
    }

    /// A short lowercase name ("accept_all", "shed_low", "shed_normal", "critical_only").
    pub const fn as_str(self) -> &'static str {
        match self {
            ShedLevel::AcceptAll => "accept_all",
            ShedLevel::ShedLow => "shed_low",
            ShedLevel::ShedNormal => "shed_normal",
            ShedLevel::CriticalOnly => "critical_only",
        }
    }
}

/// Settings of a [`LoadShedder`](super::LoadShedder).
///
/// The load is in-flight requests divided by `capacity`, measured before the request
/// being decided is counted (as the seeds do). A request of priority `p` is admitted
/// while the load is below `p`'s threshold; `Critical` has none and is never shed, so
/// in-flight may exceed `capacity` by the critical requests.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `capacity` | 1000 (the seeds' `max_concurrent_requests`) | at least 1 |
/// | `shed_low_at` | 0.70: `Low` shed from 70 % | 0 to 1 |
/// | `shed_normal_at` | 0.85: `Normal` shed from 85 % | `shed_low_at` to 1 |
/// | `shed_high_at` | 0.95: `High` shed from 95 % | `shed_normal_at` to 1 |
/// | `retry_after` | 5 s (the seeds' hint), or none | any |
/// | `adaptive` | none: shed by load levels only | see [`AdaptiveShedConfig`] |
///
/// Thresholds are used to six decimal places. In a configuration file every field is
/// optional, e.g. `capacity = 200`, `shed_low_at = 0.6`, `retry_after = "2s"`,
/// `adaptive = { cpu_threshold = 0.9 }`.
///
/// # Examples
///
/// ```
/// use rampart::shed::{Priority, ShedConfig, ShedLevel};
///
/// let config = ShedConfig::new(100);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.level(0.69), ShedLevel::AcceptAll);
/// assert!(!config.admits(Priority::Low, 0.70));
/// assert!(config.admits(Priority::Critical, 1.0));
///
/// let bad = ShedConfig::new(100).with_thresholds(0.9, 0.8, 0.95);
/// assert_eq!(bad.validate().unwrap_err().field(), "load_shedder.shed_normal_at");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ShedConfig {
    /// The number of requests in flight that is 100 % load.
    pub capacity: u32,
    /// The load from which `Low` is shed.
    pub shed_low_at: f64,
    /// The load from which `Normal` is shed.
    pub shed_normal_at: f64,
    /// The load from which `High` is shed.
    pub shed_high_at: f64,
    /// The hint a rejection carries for when to come back.
    #[serde(with = "humantime_serde")]
    pub retry_after: Option<Duration>,
    /// Shedding by CPU, memory and latency pressure, if any.
    pub adaptive: Option<AdaptiveShedConfig>,
}

impl Default for ShedConfig {
    fn default() -> Self {
        Self::new(1000)
    }
}

impl ShedConfig {
    /// The seeds' levels for `capacity` requests in flight.
    pub const fn new(capacity: u32) -> Self {
        ShedConfig {
            capacity,
            shed_low_at: 0.70,
            shed_normal_at: 0.85,
            shed_high_at: 0.95,
            retry_after: Some(Duration::from_secs(5)),
            adaptive: None,
        }
    }

    /// Sets the number of in-flight requests that is 100 % load.
    pub const fn with_capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets the loads (fractions of capacity) from which `Low`, `Normal` and `High` are
    /// shed.
    pub const fn with_thresholds(mut self, low: f64, normal: f64, high: f64) -> Self {
        self.shed_low_at = low;
        self.shed_normal_at = normal;
        self.shed_high_at = high;
        self
    }

    /// Sets the hint a rejection carries; `None` for no hint.
    pub const fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// Turns on adaptive shedding by CPU, memory and latency pressure.
    pub const fn with_adaptive(mut self, adaptive: AdaptiveShedConfig) -> Self {
        self.adaptive = Some(adaptive);
        self
    }

    /// The level of the table at `load` (in-flight / capacity, a fraction: 0.7 is 70 %).
    /// A load that is not a number counts as full.
    pub fn level(&self, load: f64) -> ShedLevel {
        if load < self.shed_low_at {
            ShedLevel::AcceptAll
        } else if load < self.shed_normal_at {
            ShedLevel::ShedLow
        } else if load < self.shed_high_at {
            ShedLevel::ShedNormal
        } else {
            ShedLevel::CriticalOnly
        }
    }

    /// True when the level table admits a request of `priority` at `load`: the pure
    /// decision, without adaptive shedding or counters.
    pub fn admits(&self, priority: Priority, load: f64) -> bool {
        self.level(load).admits(priority)
    }

    /// The threshold of `priority`, if it has one (`Critical` has none).
    pub const fn threshold(&self, priority: Priority) -> Option<f64> {
        match priority {
            Priority::Critical => None,
            Priority::High => Some(self.shed_high_at),
            Priority::Normal => Some(self.shed_normal_at),
            Priority::Low => Some(self.shed_low_at),
        }
    }

    /// For each priority (in [`Priority::ALL`] order), the in-flight count below which it
    /// is admitted: `ceil(threshold * capacity)`, exact for thresholds of up to six
    /// decimals. Call after [`validate`](Self::validate).
    pub(crate) fn admit_below(&self) -> [u64; 4] {
        Priority::ALL.map(|p| match self.threshold(p) {
            None => u64::MAX,
            Some(t) => {
                // Validated to lie in [0, 1], so the rounded value fits.
                let ppm = (t * PPM as f64).round() as u128;
                let n = (ppm * u128::from(self.capacity)).div_ceil(PPM);
                u64::try_from(n).unwrap_or(u64::MAX)
            }
        })
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field under `load_shedder.`: `capacity`,
    /// `shed_low_at`, `shed_normal_at`, `shed_high_at` (each 0 to 1 and in order), or an
    /// `adaptive.` field (see [`AdaptiveShedConfig::validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|e| e.within("load_shedder"))
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::new("capacity", "must be at least 1"));
        }
        in_range("shed_low_at", self.shed_low_at, 0.0, 1.0)?;
        in_range("shed_normal_at", self.shed_normal_at, 0.0, 1.0)?;
        in_range("shed_high_at", self.shed_high_at, 0.0, 1.0)?;
        if self.shed_normal_at < self.shed_low_at {
            return Err(ConfigError::new(
                "shed_normal_at",
                "must be at least shed_low_at",
            ));
        }
        if self.shed_high_at < self.shed_normal_at {
            return Err(ConfigError::new(
                "shed_high_at",
                "must be at least shed_normal_at",
            ));
        }
        if let Some(a) = &self.adaptive {
            a.check().map_err(|e| e.within("adaptive"))?;
        }
        Ok(())
    }
}

/// Settings of adaptive shedding: the usage levels from which CPU, memory and latency
/// count as pressure (see [`Pressure`](super::Pressure) for the formula).
///
/// # Defaults
///
/// | field | default (the seeds') | valid |
/// |---|---|---|
/// | `cpu_threshold` | 0.8 (80 % CPU) | 0 to 1 |
/// | `memory_threshold` | 0.85 (85 % memory) | 0 to 1 |
/// | `latency_p95_threshold` | 1 s | above zero |
/// | `sample_every` | 1 s, for [`spawn_sampler`](super::LoadShedder::spawn_sampler) | above zero |
///
/// # Examples
///
/// ```
/// use rampart::shed::AdaptiveShedConfig;
/// use std::time::Duration;
///
/// let config = AdaptiveShedConfig::new().with_latency_p95_threshold(Duration::from_millis(500));
/// assert!(config.validate().is_ok());
/// assert_eq!(AdaptiveShedConfig::new().with_cpu_threshold(1.5).validate().unwrap_err().field(), "cpu_threshold");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdaptiveShedConfig {
    /// CPU usage (0 to 1) above which CPU is under pressure.
    pub cpu_threshold: f64,
    /// Memory usage (0 to 1) above which memory is under pressure.
    pub memory_threshold: f64,
    /// The p95 latency above which latency is under pressure.
    #[serde(with = "humantime_serde")]
    pub latency_p95_threshold: Duration,
    /// How often a background sampler reads the pressure.
    #[serde(with = "humantime_serde")]
    pub sample_every: Duration,
}

impl Default for AdaptiveShedConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl AdaptiveShedConfig {
    /// The seeds' thresholds: 80 % CPU, 85 % memory, 1 s p95 latency.
    pub const fn new() -> Self {
        AdaptiveShedConfig {
            cpu_threshold: 0.8,
            memory_threshold: 0.85,
            latency_p95_threshold: Duration::from_secs(1),
            sample_every: Duration::from_secs(1),
        }
    }

    /// Sets the CPU usage above which CPU is under pressure.
    pub const fn with_cpu_threshold(mut self, t: f64) -> Self {
        self.cpu_threshold = t;
        self
    }

    /// Sets the memory usage above which memory is under pressure.
    pub const fn with_memory_threshold(mut self, t: f64) -> Self {
        self.memory_threshold = t;
        self
    }

    /// Sets the p95 latency above which latency is under pressure.
    pub const fn with_latency_p95_threshold(mut self, d: Duration) -> Self {
        self.latency_p95_threshold = d;
        self
    }

    /// Sets how often a background sampler reads the pressure.
    pub const fn with_sample_every(mut self, d: Duration) -> Self {
        self.sample_every = d;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `cpu_threshold`, `memory_threshold`,
    /// `latency_p95_threshold` or `sample_every` (prefixed with `load_shedder.adaptive.`
    /// when checked as part of a [`ShedConfig`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check()
    }

    fn check(&self) -> Result<(), ConfigError> {
        in_range("cpu_threshold", self.cpu_threshold, 0.0, 1.0)?;
        in_range("memory_threshold", self.memory_threshold, 0.0, 1.0)?;
        positive("latency_p95_threshold", self.latency_p95_threshold)?;
        positive("sample_every", self.sample_every)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_below_is_the_ceiling_of_the_threshold() {
        let c = ShedConfig::new(100);
        assert_eq!(c.admit_below(), [u64::MAX, 95, 85, 70]);
        let c = ShedConfig::new(7);
        // 0.7 * 7 = 4.9, 0.85 * 7 = 5.95, 0.95 * 7 = 6.65
        assert_eq!(c.admit_below(), [u64::MAX, 7, 6, 5]);
        let c = ShedConfig::new(u32::MAX).with_thresholds(1.0, 1.0, 1.0);
        assert_eq!(c.admit_below()[1], u64::from(u32::MAX));
    }

    #[test]
    fn integer_and_fractional_decisions_agree() {
        for capacity in [1u32, 3, 7, 10, 100, 1000, 999] {
            let c = ShedConfig::new(capacity);
            let below = c.admit_below();
            for n in 0..=u64::from(capacity) + 2 {
                let load = n as f64 / f64::from(capacity);
                for p in Priority::ALL {
                    assert_eq!(n < below[p.rank()], c.admits(p, load), "{capacity} {n} {p}");
                }
            }
        }
    }

    #[test]
    fn not_a_number_counts_as_full() {
        assert_eq!(ShedConfig::new(10).level(f64::NAN), ShedLevel::CriticalOnly);
    }
}
