//! The injector's settings as plain serde data, their validation, and their reading
//! from `CHAOS_*` environment variables.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::schedule::{Plan, Schedule};
use crate::config::{in_range, positive, ConfigError};

/// Settings of a [`FaultInjector`](super::FaultInjector).
///
/// Random faults hit each call independently at their rate; [`Schedule`]s hit the calls
/// or the stretch of time they name. Nothing is injected unless `enabled` is true.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `enabled` | false: nothing is injected | |
/// | `failure_rate` | 0 | 0 to 1 |
/// | `latency` | none | above zero |
/// | `latency_rate` | 1: every call gets `latency` | 0 to 1 |
/// | `substitute_rate` | 0 | 0 to 1 |
/// | `behavior_rate` | 0 | 0 to 1 |
/// | `seed` | none: a random seed per injector, readable with [`seed`](super::FaultInjector::seed) | any `u64` |
/// | `schedule` | none | see [`Schedule`] |
///
/// In a configuration file every field is optional:
///
/// ```toml
/// enabled = true
/// failure_rate = 0.1
/// latency = "3s"
/// latency_rate = 0.5
/// seed = 42
/// schedule = [{ kind = "error", first_calls = 3 }]
/// ```
///
/// # Examples
///
/// ```
/// use rampart::chaos::{ChaosConfig, Schedule};
/// use std::time::Duration;
///
/// let config = ChaosConfig::enabled()
///     .with_failure_rate(0.1)
///     .with_latency(Duration::from_secs(3), 0.5)
///     .with_seed(42)
///     .with_schedule(Schedule::fail_first(3));
/// assert!(config.validate().is_ok());
/// let bad = ChaosConfig::enabled().with_failure_rate(1.5);
/// assert_eq!(bad.validate().unwrap_err().field(), "chaos.failure_rate");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ChaosConfig {
    /// The master switch: when false, nothing is injected, schedules included.
    pub enabled: bool,
    /// The share of calls that fail with an injected rejection.
    pub failure_rate: f64,
    /// The latency added to a call hit by `latency_rate`, if any.
    #[serde(with = "humantime_serde")]
    pub latency: Option<Duration>,
    /// The share of calls that get `latency`.
    pub latency_rate: f64,
    /// The share of calls whose outcome is replaced by the caller's substitute.
    pub substitute_rate: f64,
    /// The share of calls before which the injector's behavior runs.
    pub behavior_rate: f64,
    /// The seed of the random draws; `None` for a random one.
    pub seed: Option<u64>,
    /// Deterministic faults by call number or time.
    pub schedule: Vec<Schedule>,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            enabled: false,
            failure_rate: 0.0,
            latency: None,
            latency_rate: 1.0,
            substitute_rate: 0.0,
            behavior_rate: 0.0,
            seed: None,
            schedule: Vec::new(),
        }
    }
}

impl ChaosConfig {
    /// Injection switched off (the default).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Injection switched on, with no fault yet.
    pub fn enabled() -> Self {
        Self::default().with_enabled(true)
    }

    /// Sets the master switch.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets the share of calls that fail.
    pub fn with_failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = rate;
        self
    }

    /// Adds `latency` to the share `rate` of calls.
    pub fn with_latency(mut self, latency: Duration, rate: f64) -> Self {
        self.latency = Some(latency);
        self.latency_rate = rate;
        self
    }

    /// Sets the share of calls whose outcome is substituted.
    pub fn with_substitute_rate(mut self, rate: f64) -> Self {
        self.substitute_rate = rate;
        self
    }

    /// Sets the share of calls before which the behavior runs.
    pub fn with_behavior_rate(mut self, rate: f64) -> Self {
        self.behavior_rate = rate;
        self
    }

    /// Fixes the seed, so a run replays the same faults for the same call numbers.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Adds a deterministic schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule.push(schedule);
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field (`chaos.failure_rate`,
    /// `chaos.schedule[1].to_call`, ...): a rate outside 0 to 1 or not a number, a zero
    /// latency, or a schedule that [`Schedule::validate`] refuses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.plans().map(|_| ())
    }

    /// The schedules' plans, after every field is checked.
    pub(super) fn plans(&self) -> Result<Vec<Plan>, ConfigError> {
        for (field, rate) in [
            ("failure_rate", self.failure_rate),
            ("latency_rate", self.latency_rate),
            ("substitute_rate", self.substitute_rate),
            ("behavior_rate", self.behavior_rate),
        ] {
            in_range(field, rate, 0.0, 1.0).map_err(|e| e.within("chaos"))?;
        }
        if let Some(d) = self.latency {
            positive("latency", d).map_err(|e| e.within("chaos"))?;
        }
        self.schedule
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.plan()
                    .map_err(|e| e.within(&format!("chaos.schedule[{i}]")))
            })
            .collect()
    }

    /// A configuration from the `CHAOS_*` environment variables; see
    /// [`from_lookup`](Self::from_lookup).
    ///
    /// # Errors
    ///
    /// As [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::default().apply_env()
    }

    /// A configuration from variables that `lookup` returns by name: the default
    /// with [`apply_lookup`](Self::apply_lookup), so off when none is set.
    ///
    /// # Errors
    ///
    /// As [`apply_lookup`](Self::apply_lookup).
    ///
    /// # Examples
    ///
    /// ```
    /// use rampart::chaos::ChaosConfig;
    /// use std::time::Duration;
    ///
    /// let vars = [("CHAOS_ENABLED", "true"), ("CHAOS_FAILURE_RATE", "0.1"), ("CHAOS_LATENCY_MS", "3000")];
    /// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    /// let config = ChaosConfig::from_lookup(lookup)?;
    /// assert!(config.enabled);
    /// assert_eq!(config.failure_rate, 0.1);
    /// assert_eq!(config.latency, Some(Duration::from_secs(3)));
    /// assert_eq!(config.latency_rate, 1.0);
    ///
    /// let err = ChaosConfig::from_lookup(|name| (name == "CHAOS_FAILURE_RATE").then(|| "ten".to_string()));
    /// assert_eq!(err.unwrap_err().field(), "CHAOS_FAILURE_RATE");
    /// # Ok::<(), rampart::ConfigError>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::default().apply_lookup(lookup)
    }

    /// This configuration with the `CHAOS_*` variables that `lookup` returns laid over
    /// it (a file's settings, overridden from the environment of one deployment).
    ///
    /// | variable | values | sets |
    /// |---|---|---|
    /// | `CHAOS_ENABLED` | `true`, `false`, `1`, `0` (any case) | `enabled` |
    /// | `CHAOS_FAILURE_RATE` | a number from 0 to 1 | `failure_rate` |
    /// | `CHAOS_LATENCY_MS` | whole milliseconds; 0 for none | `latency`, and `latency_rate` to 1 (every call, as the seeds' injector) |
    ///
    /// A variable that is unset or empty leaves its field as it is; surrounding spaces
    /// are ignored.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose field is the variable's name for a value that does not
    /// parse or is out of range. Never panics.
    pub fn apply_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get("CHAOS_ENABLED") {
            self.enabled = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ConfigError::new(
                        "CHAOS_ENABLED",
                        format!("must be true, false, 1 or 0, got {v:?}"),
                    ))
                }
            };
        }
        if let Some(v) = get("CHAOS_FAILURE_RATE") {
            let rate: f64 = v.parse().map_err(|_| {
                ConfigError::new(
                    "CHAOS_FAILURE_RATE",
                    format!("must be a number from 0 to 1, got {v:?}"),
                )
            })?;
            in_range("CHAOS_FAILURE_RATE", rate, 0.0, 1.0)?;
            self.failure_rate = rate;
        }
        if let Some(v) = get("CHAOS_LATENCY_MS") {
            let ms: u64 = v.parse().map_err(|_| {
                ConfigError::new(
                    "CHAOS_LATENCY_MS",
                    format!("must be whole milliseconds, got {v:?}"),
                )
            })?;
            self.latency = (ms > 0).then(|| Duration::from_millis(ms));
            self.latency_rate = 1.0;
        }
        Ok(self)
    }

    /// This configuration with the `CHAOS_*` environment variables laid over it; see
    /// [`apply_lookup`](Self::apply_lookup).
    ///
    /// # Errors
    ///
    /// As [`apply_lookup`](Self::apply_lookup).
    pub fn apply_env(self) -> Result<Self, ConfigError> {
        // A value that is not Unicode is passed on lossily, so it fails to parse.
        self.apply_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }
}
