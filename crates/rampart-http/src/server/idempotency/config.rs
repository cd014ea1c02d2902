//! [`IdempotencyConfig`]: how long keys live and how much the service buffers.

use std::time::Duration;

use rampart::ConfigError;
use serde::{Deserialize, Serialize};

/// The numbers of the idempotency middleware, as plain serde data (durations in
/// humantime form: "24h").
///
/// # Defaults
///
/// | field | default | meaning |
/// |---|---|---|
/// | `ttl` | 24 h | how long a completed key replays its response (counted from completion) and how long an in-progress key may stay claimed |
/// | `max_request_bytes` | 1 MiB | a larger request body on a route that needs a key gets 413 |
/// | `max_response_bytes` | 1 MiB | a larger response is passed through and not stored; its key is released |
///
/// # Examples
///
/// ```
/// use rampart_http::server::idempotency::IdempotencyConfig;
/// use std::time::Duration;
///
/// let config: IdempotencyConfig = toml::from_str(r#"ttl = "1h""#).unwrap();
/// assert_eq!(config, IdempotencyConfig::new().with_ttl(Duration::from_secs(3600)));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IdempotencyConfig {
    /// How long a key is kept.
    #[serde(default = "day", with = "humantime_serde")]
    pub ttl: Duration,
    /// The largest request body buffered to fingerprint it.
    #[serde(default = "mebibyte")]
    pub max_request_bytes: usize,
    /// The largest response body buffered to store it.
    #[serde(default = "mebibyte")]
    pub max_response_bytes: usize,
}

fn day() -> Duration {
    Duration::from_secs(24 * 60 * 60)
}

fn mebibyte() -> usize {
    1 << 20
}

impl IdempotencyConfig {
    /// The defaults: 24 h, 1 MiB, 1 MiB.
    pub const fn new() -> Self {
        IdempotencyConfig {
            ttl: Duration::from_secs(24 * 60 * 60),
            max_request_bytes: 1 << 20,
            max_response_bytes: 1 << 20,
        }
    }

    /// The same with keys kept for `ttl`.
    pub const fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The same buffering request bodies up to `bytes`.
    pub const fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// The same storing response bodies up to `bytes`.
    pub const fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Checks that the time to live is positive.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `ttl`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ttl.is_zero() {
            return Err(ConfigError::new("ttl", "must be greater than zero"));
        }
        Ok(())
    }
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_is_the_defaults() {
        let config: IdempotencyConfig = toml::from_str("").unwrap();
        assert_eq!(config, IdempotencyConfig::default());
        assert_eq!(config.ttl, Duration::from_secs(86_400));
        assert_eq!(config.max_request_bytes, 1_048_576);
    }

    #[test]
    fn a_zero_ttl_names_the_field() {
        let error = IdempotencyConfig::new()
            .with_ttl(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert_eq!(error.field(), "ttl");
        assert!(toml::from_str::<IdempotencyConfig>("tll = \"1h\"").is_err());
    }
}
