//! The health registry's settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{positive, ConfigError};

/// Settings of a [`HealthRegistry`](super::HealthRegistry).
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `cache_ttl` | 5 s | any (zero: no caching, but concurrent probes still share a run) |
/// | `check_timeout` | 2 s | above zero |
/// | `wait_for_start` | `false` | |
///
/// In a configuration file: `cache_ttl = "5s"`, `check_timeout = "2s"`.
///
/// # Examples
///
/// ```
/// use rampart::health::HealthConfig;
/// use std::time::Duration;
///
/// let config = HealthConfig::new().with_cache_ttl(Duration::from_secs(10));
/// assert!(config.validate().is_ok());
/// let bad = HealthConfig::new().with_check_timeout(Duration::ZERO);
/// assert_eq!(bad.validate().unwrap_err().field(), "health.check_timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct HealthConfig {
    /// How long a dependency check's result is reused before the check runs again, so
    /// that frequent probes from many load balancers cannot stampede a dependency.
    /// Counted from the end of the run. A check may set its own.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// How long a dependency check may run before it counts as failed ("timed out after
    /// 2s"). A check may set its own.
    #[serde(with = "humantime_serde")]
    pub check_timeout: Duration,
    /// When true, the startup probe (and so readiness) stays down until
    /// [`mark_started`](super::HealthRegistry::mark_started) is called, as well as until
    /// the startup checks pass.
    pub wait_for_start: bool,
}

impl HealthConfig {
    /// The defaults.
    pub const fn new() -> Self {
        HealthConfig {
            cache_ttl: Duration::from_secs(5),
            check_timeout: Duration::from_secs(2),
            wait_for_start: false,
        }
    }

    /// Sets `cache_ttl`.
    pub const fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Sets `check_timeout`.
    pub const fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// Sets `wait_for_start`.
    pub const fn with_wait_for_start(mut self, wait: bool) -> Self {
        self.wait_for_start = wait;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `health.check_timeout` when it is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("check_timeout", self.check_timeout).map_err(|e| e.within("health"))
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self::new()
    }
}
