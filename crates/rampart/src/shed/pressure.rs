//! Adaptive shedding: CPU, memory and latency pressure turned into a shed probability
//! (the formula is on [`Pressure`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::config::AdaptiveShedConfig;
use crate::clock::duration_to_nanos;

/// CPU and memory in use, each a fraction of what is available (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// The share of CPU time in use.
    pub cpu: f64,
    /// The share of memory in use.
    pub memory: f64,
}

impl Usage {
    /// Usage of `cpu` and `memory`.
    pub const fn new(cpu: f64, memory: f64) -> Self {
        Usage { cpu, memory }
    }

    /// The same usage with each figure clamped to 0 to 1; a figure that is not a number
    /// becomes 0.
    pub fn clamped(self) -> Self {
        let clamp = |x: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
        Usage {
            cpu: clamp(self.cpu),
            memory: clamp(self.memory),
        }
    }
}

/// Where a shedder reads CPU and memory usage from.
///
/// It is read by [`LoadShedder::sample`](super::LoadShedder::sample) (directly or from
/// the background sampler), never on the admission path. Tests implement it (or use
/// [`ManualUsage`]) to inject figures.
pub trait PressureSource: Send + 'static {
    /// The usage now. A source that cannot read a figure reports 0 for it.
    fn read(&mut self) -> Usage;
}

/// A [`PressureSource`] whose figures are set by hand; clones share them.
///
/// # Examples
///
/// ```
/// use rampart::shed::{ManualUsage, PressureSource, Usage};
///
/// let usage = ManualUsage::new();
/// let mut source = usage.clone();
/// usage.set(0.9, 0.5);
/// assert_eq!(source.read(), Usage::new(0.9, 0.5));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualUsage {
    usage: Arc<Mutex<Usage>>,
}

impl ManualUsage {
    /// A source reporting no usage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the figures the next read reports.
    pub fn set(&self, cpu: f64, memory: f64) {
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner) = Usage::new(cpu, memory);
    }
}

impl PressureSource for ManualUsage {
    fn read(&mut self) -> Usage {
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How far each figure is past its threshold; 0 means no pressure.
///
/// The formula is the seeds': each figure's pressure is how far it is past its
/// threshold, as a share of the room left above the threshold (for latency, as a share
/// of the threshold itself), and the shed probability is the worst pressure, capped at 1:
///
/// ```text
/// cpu      = max(0, (cpu_usage    - cpu_threshold)    / (1 - cpu_threshold))
/// memory   = max(0, (memory_usage - memory_threshold) / (1 - memory_threshold))
/// latency  = max(0, (latency_p95  - latency_p95_threshold) / latency_p95_threshold)
/// probability = min(1, max(cpu, memory, latency))
/// ```
///
/// A threshold of 1 never puts its figure under pressure (usage is at most 1). CPU and
/// memory come from a [`PressureSource`]; latency p95 is recorded by the caller
/// ([`LoadShedder::record_latency_p95`](super::LoadShedder::record_latency_p95)).
///
/// # Examples
///
/// ```
/// use rampart::shed::{AdaptiveShedConfig, Pressure, Usage};
/// use std::time::Duration;
///
/// let p = Pressure::compute(&AdaptiveShedConfig::new(), Usage::new(0.9, 0.5), Duration::from_millis(1200));
/// assert!((p.cpu - 0.5).abs() < 1e-9);
/// assert!((p.latency - 0.2).abs() < 1e-9);
/// assert!((p.probability() - 0.5).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pressure {
    /// CPU pressure, 0 to 1.
    pub cpu: f64,
    /// Memory pressure, 0 to 1.
    pub memory: f64,
    /// Latency pressure, from 0 (1 when p95 is twice its threshold, and more above).
    pub latency: f64,
}

impl Pressure {
    /// The pressures of `usage` and `latency_p95` under `config`'s thresholds.
    pub fn compute(config: &AdaptiveShedConfig, usage: Usage, latency_p95: Duration) -> Self {
        let usage = usage.clamped();
        let over = |x: f64, t: f64| if x <= t { 0.0 } else { (x - t) / (1.0 - t) };
        let limit = duration_to_nanos(config.latency_p95_threshold);
        let p95 = duration_to_nanos(latency_p95);
        let latency = if p95 <= limit || limit == 0 {
            0.0
        } else {
            (p95 - limit) as f64 / limit as f64
        };
        Pressure {
            cpu: over(usage.cpu, config.cpu_threshold),
            memory: over(usage.memory, config.memory_threshold),
            latency,
        }
    }

    /// The shed probability: the worst pressure, capped at 1.
    pub fn probability(&self) -> f64 {
        self.cpu.max(self.memory).max(self.latency).min(1.0)
    }
}

/// The probability `p` (0 to 1) as a threshold on 32 random bits: a draw sheds when it
/// is below. 1 is `2^32`, above every draw; 0 is never above one.
pub(crate) fn probability_to_threshold(p: f64) -> u64 {
    const SCALE: f64 = (1u64 << 32) as f64;
    if p.is_nan() || p <= 0.0 {
        0
    } else if p >= 1.0 {
        1 << 32
    } else {
        (p * SCALE).round() as u64
    }
}

/// The inverse of [`probability_to_threshold`].
pub(crate) fn threshold_to_probability(t: u64) -> f64 {
    t as f64 / (1u64 << 32) as f64
}

/// One step of SplitMix64 from `state`: a well-mixed 64-bit value per distinct state, so
/// a shared atomic counter is a lock-free, seedable generator.
pub(crate) fn splitmix64(state: u64) -> u64 {
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What SplitMix64 adds to its state per draw.
pub(crate) const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_seeds_formula() {
        let c = AdaptiveShedConfig::new();
        let p = Pressure::compute(&c, Usage::new(0.9, 0.5), ms(500));
        assert!((p.cpu - 0.5).abs() < 1e-12);
        assert_eq!(p.memory, 0.0);
        assert_eq!(p.latency, 0.0);
        assert!((p.probability() - 0.5).abs() < 1e-12);
        let p = Pressure::compute(&c, Usage::new(0.0, 0.0), ms(1500));
        assert!((p.latency - 0.5).abs() < 1e-12);
        let p = Pressure::compute(&c, Usage::new(0.0, 0.0), ms(5000));
        assert_eq!(p.probability(), 1.0);
        let p = Pressure::compute(&c, Usage::new(f64::NAN, 7.0), ms(0));
        assert_eq!(p.cpu, 0.0);
        assert_eq!(p.memory, 1.0);
    }

    #[test]
    fn a_threshold_of_one_is_never_under_pressure() {
        let c = AdaptiveShedConfig::new().with_cpu_threshold(1.0);
        assert_eq!(Pressure::compute(&c, Usage::new(1.0, 0.0), ms(0)).cpu, 0.0);
    }

    #[test]
    fn thresholds_round_trip() {
        assert_eq!(probability_to_threshold(0.0), 0);
        assert_eq!(probability_to_threshold(1.0), 1 << 32);
        assert_eq!(probability_to_threshold(f64::NAN), 0);
        assert_eq!(
            threshold_to_probability(probability_to_threshold(0.25)),
            0.25
        );
    }
}
