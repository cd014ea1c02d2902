//! Configuration errors that name the field at fault, and shared validation helpers.
//!
//! Every policy has a plain serde config struct (durations in humantime form, "2s",
//! "500ms") whose validation runs when a pipeline is built. A bad value is a
//! [`ConfigError`] naming the field, e.g. `retry.max_attempts: must be at least 1`,
//! never a panic later.

use std::fmt;
use std::time::Duration;

/// A configuration value that cannot work, with the dotted path of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: String,
    message: String,
    policy: Option<usize>,
}

impl ConfigError {
    /// An error for `field` (a dotted path such as "retry.backoff.factor").
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
            policy: None,
        }
    }

    /// The dotted path of the field at fault.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The position of the policy at fault in its pipeline (outermost first), when the
    /// error comes from building a pipeline; configuration files use it to point at the
    /// line.
    pub fn policy(&self) -> Option<usize> {
        self.policy
    }

    /// The same error, located at the policy in position `index` of a pipeline.
    pub fn at_policy(mut self, index: usize) -> Self {
        self.policy = Some(index);
        self
    }

    /// Prefixes the field path with `prefix` (e.g. the policy's place in a pipeline).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Fails unless `d` is greater than zero.
pub(crate) fn positive(field: &str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::new(field, "must be greater than zero"));
    }
    Ok(())
}

/// Fails unless `x` is a finite number in `[lo, hi]`.
pub(crate) fn in_range(field: &str, x: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if !x.is_finite() || x < lo || x > hi {
        return Err(ConfigError::new(
            field,
            format!("must be between {lo} and {hi}, got {x}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field() {
        let e = positive("delay", Duration::ZERO)
            .unwrap_err()
            .within("retry");
        assert_eq!(e.field(), "retry.delay");
        assert_eq!(e.to_string(), "retry.delay: must be greater than zero");
        assert!(in_range("jitter", f64::NAN, 0.0, 1.0).is_err());
        assert!(in_range("jitter", 0.5, 0.0, 1.0).is_ok());
    }
}
