//! The limits of a [`Keyed`](super::Keyed) map.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{positive, ConfigError};

/// The most shards a map may have: more only costs memory, as a shard is a lock and an
/// empty table.
pub const MAX_SHARDS: usize = 1024;

/// How many keys a [`Keyed`](super::Keyed) map keeps and for how long.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `max_keys` | 10,000 | at least 1 |
/// | `idle_timeout` | 10 min | above zero |
/// | `shards` | 16 | 1 to [`MAX_SHARDS`] |
///
/// In configuration files every field is optional, e.g. `max_keys = 50000` and
/// `idle_timeout = "30m"`.
///
/// # Examples
///
/// ```
/// use rampart::keyed::KeyedConfig;
/// use std::time::Duration;
///
/// let config = KeyedConfig::new()
///     .with_max_keys(1_000)
///     .with_idle_timeout(Duration::from_secs(60));
/// assert!(config.validate().is_ok());
/// assert_eq!(config.shards, 16);
///
/// let bad = KeyedConfig::new().with_max_keys(0);
/// assert_eq!(bad.validate().unwrap_err().field(), "keyed.max_keys");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KeyedConfig {
    /// The most keys alive at once, over all shards.
    pub max_keys: usize,
    /// A key not used for longer than this is gone: it is swept away, and the next
    /// [`get`](super::Keyed::get) creates a fresh value.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How many independently locked parts the map is split into (fewer if `max_keys`
    /// is smaller, so that every shard can hold a key).
    pub shards: usize,
}

impl KeyedConfig {
    /// The defaults: 10,000 keys, 10 minutes idle, 16 shards.
    pub const fn new() -> Self {
        KeyedConfig {
            max_keys: 10_000,
            idle_timeout: Duration::from_secs(600),
            shards: 16,
        }
    }

    /// Sets the most keys alive at once.
    pub const fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Sets how long an unused key lives.
    pub const fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets how many independently locked shards the map has.
    pub const fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Checks the limits.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `keyed.max_keys` when it is 0, `keyed.idle_timeout` when
    /// it is zero, or `keyed.shards` when it is 0 or above [`MAX_SHARDS`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new("keyed.max_keys", "must be at least 1"));
        }
        positive("keyed.idle_timeout", self.idle_timeout)?;
        if self.shards == 0 || self.shards > MAX_SHARDS {
            return Err(ConfigError::new(
                "keyed.shards",
                format!("must be between 1 and {MAX_SHARDS}, got {}", self.shards),
            ));
        }
        Ok(())
    }
}

impl Default for KeyedConfig {
    fn default() -> Self {
        Self::new()
    }
}
