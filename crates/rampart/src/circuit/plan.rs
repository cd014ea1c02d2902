//! The configuration compiled to integers (nanoseconds, millionths, counts): what the
//! breaker runs on.

use super::config::{BreakerConfig, Window};
use super::logic::{ppm, Rule};
use crate::clock::duration_to_nanos;
use crate::config::ConfigError;

impl BreakerConfig {
    /// The settings as integers, after validation.
    pub(super) fn plan(&self) -> Result<Plan, ConfigError> {
        self.validate()?;
        let (mode, default_min) = match self.window {
            Window::Consecutive { failures } => (Mode::Consecutive { failures }, 1),
            Window::Count { size } => (Mode::Count { size }, size),
            Window::Time { length, buckets } => {
                let width = (duration_to_nanos(length) / u64::from(buckets)).max(1);
                (Mode::Time { width, buckets }, 10)
            }
        };
        Ok(Plan {
            mode,
            rule: Rule {
                failure_ppm: ppm(self.failure_rate),
                slow_ppm: self.slow_calls.map(|s| ppm(s.rate)),
                min_calls: u64::from(self.min_calls.unwrap_or(default_min)),
            },
            slow_ns: self.slow_calls.map(|s| duration_to_nanos(s.slower_than)),
            open_ns: duration_to_nanos(self.open_for),
            backoff: self
                .open_backoff
                .map(|b| (b.factor, duration_to_nanos(b.max))),
            probes: self.permitted_probes,
            successes: self.success_threshold.unwrap_or(self.permitted_probes),
            max_half_open_ns: self.max_half_open.map(duration_to_nanos),
        })
    }
}

/// How outcomes are kept, in integers.
impl Plan {
    /// What trips the breaker, as events report it: failures in a row, or a rate.
    pub(super) fn failure_threshold(&self) -> f64 {
        match self.mode {
            Mode::Consecutive { failures } => f64::from(failures),
            _ => self.rule.failure_ppm as f64 / 1e6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Mode {
    Consecutive { failures: u32 },
    Count { size: u32 },
    Time { width: u64, buckets: u32 },
}

/// A validated configuration in integer nanoseconds, millionths and counts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub(super) mode: Mode,
    pub(super) rule: Rule,
    pub(super) slow_ns: Option<u64>,
    pub(super) open_ns: u64,
    pub(super) backoff: Option<(f64, u64)>,
    pub(super) probes: u32,
    pub(super) successes: u32,
    pub(super) max_half_open_ns: Option<u64>,
}
