//! The async bulkhead's settings as plain serde data, and their validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{positive, ConfigError};

/// The most calls a bulkhead may admit at once (2^30).
pub const MAX_CONCURRENT: u32 = 1 << 30;

/// Settings of a [`Bulkhead`](super::Bulkhead).
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `max_concurrent` | 10 (the seeds' pool size) | 1 to [`MAX_CONCURRENT`] |
/// | `max_queue` | 0: a full bulkhead rejects at once (the seeds: "reject, don't queue") | any |
/// | `max_wait` | none: a queued call waits until a permit frees or it is dropped | above zero, and only with a queue |
///
/// In a configuration file every field is optional, e.g. `max_concurrent = 20`,
/// `max_queue = 10`, `max_wait = "500ms"`.
///
/// # Examples
///
/// ```
/// use rampart::bulkhead::BulkheadConfig;
/// use std::time::Duration;
///
/// let config = BulkheadConfig::new()
///     .with_max_concurrent(20)
///     .with_max_queue(10)
///     .with_max_wait(Duration::from_millis(500));
/// assert!(config.validate().is_ok());
///
/// let bad = BulkheadConfig::new().with_max_concurrent(0);
/// assert_eq!(bad.validate().unwrap_err().field(), "bulkhead.max_concurrent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkheadConfig {
    /// Calls admitted at once.
    pub max_concurrent: u32,
    /// Calls that may wait, in arrival order, for a permit when all are taken; 0 rejects
    /// at once.
    pub max_queue: u32,
    /// How long a queued call waits for a permit before it is rejected; `None` waits
    /// until a permit frees (or the caller drops the call, e.g. on its own timeout).
    #[serde(with = "humantime_serde")]
    pub max_wait: Option<Duration>,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl BulkheadConfig {
    /// The defaults: 10 calls at once, no queue.
    pub const fn new() -> Self {
        BulkheadConfig {
            max_concurrent: 10,
            max_queue: 0,
            max_wait: None,
        }
    }

    /// Sets how many calls run at once.
    pub const fn with_max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = n;
        self
    }

    /// Lets up to `n` calls wait in a first-in, first-out queue when the bulkhead is
    /// full, instead of being rejected at once.
    pub const fn with_max_queue(mut self, n: u32) -> Self {
        self.max_queue = n;
        self
    }

    /// Rejects a queued call that has waited `d` without getting a permit.
    pub const fn with_max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field under `bulkhead.`: `max_concurrent` (0 or above
    /// [`MAX_CONCURRENT`]) or `max_wait` (zero, or set without a queue).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|e| e.within("bulkhead"))
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 || self.max_concurrent > MAX_CONCURRENT {
            return Err(ConfigError::new(
                "max_concurrent",
                format!(
                    "must be between 1 and {MAX_CONCURRENT}, got {}",
                    self.max_concurrent
                ),
            ));
        }
        if let Some(d) = self.max_wait {
            positive("max_wait", d)?;
            if self.max_queue == 0 {
                return Err(ConfigError::new(
                    "max_wait",
                    "needs a queue (max_queue above zero)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_reject_at_once() {
        let c = BulkheadConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.max_concurrent, c.max_queue, c.max_wait), (10, 0, None));
    }

    #[test]
    fn bad_values_name_their_field() {
        let field = |c: BulkheadConfig| c.validate().unwrap_err().field().to_owned();
        let c = BulkheadConfig::new();
        assert_eq!(field(c.with_max_concurrent(0)), "bulkhead.max_concurrent");
        assert_eq!(
            field(c.with_max_concurrent(MAX_CONCURRENT + 1)),
            "bulkhead.max_concurrent"
        );
        let queued = c.with_max_queue(1);
        assert_eq!(
            field(queued.with_max_wait(Duration::ZERO)),
            "bulkhead.max_wait"
        );
        assert_eq!(
            field(c.with_max_wait(Duration::from_secs(1))),
            "bulkhead.max_wait"
        );
        assert!(queued
            .with_max_wait(Duration::from_secs(1))
            .validate()
            .is_ok());
        assert!(c.with_max_concurrent(MAX_CONCURRENT).validate().is_ok());
    }
}
