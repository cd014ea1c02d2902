//! Seeded randomness: one seed for a whole simulation, split into independent streams
//! (one per request, one per arrival process) so that a change in the order tasks run
//! in cannot change what any of them draws.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::scenario::Latency;

/// Mixes `seed` with `parts` into a new, well-spread seed (SplitMix64 steps).
pub(crate) fn mix(seed: u64, parts: &[u64]) -> u64 {
    let mut x = seed;
    for &p in parts {
        x = splitmix(x ^ splitmix(p.wrapping_add(0x9E37_79B9_7F4A_7C15)));
    }
    splitmix(x)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random stream for one purpose, derived from the simulation's seed.
pub(crate) fn stream(seed: u64, parts: &[u64]) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed, parts))
}

/// The 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// Draws one call duration from `latency`.
pub(crate) fn draw_latency(latency: &Latency, rng: &mut SmallRng) -> Duration {
    match *latency {
        Latency::Fixed(d) => d,
        Latency::Uniform { min, max } => {
            let (lo, hi) = (nanos(min.min(max)), nanos(max.max(min)));
            Duration::from_nanos(rng.random_range(lo..=hi))
        }
        Latency::LogNormal { median, p99 } => {
            let m = median.as_secs_f64();
            let sigma = (p99.as_secs_f64() / m).ln() / Z99;
            let secs = m * (sigma * standard_normal(rng)).exp();
            if !secs.is_finite() {
                // A zero median (never from a file, which refuses it) has no spread.
                return median;
            }
            // Capped at a day: a draw far in the tail must not overflow a timer.
            Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
        }
    }
}

/// Whether an event of probability `p` happens.
pub(crate) fn chance(p: f64, rng: &mut SmallRng) -> bool {
    p >= 1.0 || (p > 0.0 && rng.random::<f64>() < p)
}

/// An exponential gap of mean `1 / rate` seconds.
pub(crate) fn exponential_gap(rate: f64, rng: &mut SmallRng) -> Duration {
    // 1 - u is in (0, 1], so the logarithm is finite.
    let u: f64 = rng.random();
    Duration::from_secs_f64((-(1.0 - u).ln() / rate).min(86_400.0))
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream(7, &[1]).random();
        assert_eq!(a, stream(7, &[1]).random::<u64>());
        assert_ne!(a, stream(7, &[2]).random::<u64>());
        assert_ne!(a, stream(8, &[1]).random::<u64>());
    }

    #[test]
    fn log_normal_has_the_median_and_p99_asked_for() {
        let latency = Latency::LogNormal {
            median: Duration::from_millis(200),
            p99: Duration::from_millis(400),
        };
        let mut rng = stream(1, &[]);
        let mut draws: Vec<Duration> = (0..20_000)
            .map(|_| draw_latency(&latency, &mut rng))
            .collect();
        draws.sort();
        let median = draws[10_000].as_secs_f64();
        let p99 = draws[19_800].as_secs_f64();
        assert!((median - 0.2).abs() < 0.01, "{median}");
        assert!((p99 - 0.4).abs() < 0.03, "{p99}");
    }

    #[test]
    fn uniform_stays_within_bounds() {
        let latency = Latency::Uniform {
            min: Duration::from_secs(10),
            max: Duration::from_secs(30),
        };
        let mut rng = stream(3, &[]);
        for _ in 0..1000 {
            let d = draw_latency(&latency, &mut rng);
            assert!(d >= Duration::from_secs(10) && d <= Duration::from_secs(30));
        }
    }
}
