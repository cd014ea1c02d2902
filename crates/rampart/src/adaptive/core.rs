//! The pure core shared by the algorithms: what a completed call reports, and the
//! dispatch to the configured algorithm. Time is plain nanoseconds from the caller.

use super::aimd::Aimd;
use super::config::{AdaptiveConfig, Algorithm};
use super::gradient::Gradient;

/// A completed call as the algorithms see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// When its permit was issued.
    pub(crate) start: u64,
    /// When it completed.
    pub(crate) end: u64,
    /// Calls in flight when its permit was issued, itself included.
    pub(crate) in_flight: u64,
    /// True for a drop or timeout, false for a success.
    pub(crate) dropped: bool,
}

impl Sample {
    /// Its latency in nanoseconds.
    pub(crate) fn rtt(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// The limit's bounds, as floats for the algorithms' arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Bounds {
    pub(crate) fn clamp(self, x: f64) -> f64 {
        if x.is_nan() {
            self.min
        } else {
            x.clamp(self.min, self.max)
        }
    }

    /// The whole limit a fractional one publishes: rounded down, within bounds.
    pub(crate) fn whole(self, x: f64) -> u32 {
        // Within [min, max], both u32, so the cast cannot truncate.
        self.clamp(x.floor()) as u32
    }
}

/// The configured algorithm's state.
#[derive(Debug, Clone)]
pub(crate) enum Core {
    Aimd(Aimd),
    Gradient(Gradient),
}

impl Core {
    /// The algorithm of a validated `config`, starting at time `now`.
    pub(crate) fn new(config: &AdaptiveConfig, now: u64) -> Self {
        let bounds = Bounds {
            min: f64::from(config.min_limit),
            max: f64::from(config.max_limit),
        };
        let initial = f64::from(config.initial_limit);
        match config.algorithm {
            Algorithm::Aimd(a) => Core::Aimd(Aimd::new(&a, bounds, initial)),
            Algorithm::Gradient(g) => Core::Gradient(Gradient::new(&g, bounds, initial, now)),
        }
    }

    /// Takes in one completed call.
    pub(crate) fn on_sample(&mut self, s: Sample) {
        match self {
            Core::Aimd(a) => a.on_sample(s),
            Core::Gradient(g) => g.on_sample(s),
        }
    }

    /// The limit to enforce now.
    pub(crate) fn limit(&self) -> u32 {
        match self {
            Core::Aimd(a) => a.limit(),
            Core::Gradient(g) => g.limit(),
        }
    }

    /// The no-load latency the gradient algorithm compares with, in nanoseconds.
    pub(crate) fn no_load_rtt(&self) -> Option<u64> {
        match self {
            Core::Aimd(_) => None,
            Core::Gradient(g) => g.no_load_rtt(),
        }
    }

    /// True while the gradient algorithm measures the no-load latency.
    pub(crate) fn measuring(&self) -> bool {
        match self {
            Core::Aimd(_) => false,
            Core::Gradient(g) => g.measuring(),
        }
    }
}
