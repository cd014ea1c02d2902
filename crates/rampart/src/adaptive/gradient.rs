//! The gradient algorithm: the limit scaled by how much slower calls are than at no
//! load, plus room to grow, with the no-load latency measured again now and then at a
//! low limit.

use super::config::GradientConfig;
use super::core::{Bounds, Sample};
use crate::clock::duration_to_nanos;

/// The gradient state: the limit, the no-load latency, and the window being sampled or
/// the no-load measurement under way.
#[derive(Debug, Clone)]
pub(crate) struct Gradient {
    limit: f64,
    bounds: Bounds,
    window_ns: u64,
    min_window_samples: u32,
    tolerance: f64,
    smoothing: f64,
    backoff: f64,
    min_rtt_every: u64,
    min_rtt_samples: u32,
    no_load: Option<u64>,
    phase: Phase,
    next_measure: u64,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Measuring the no-load latency at the minimum limit, since `since`; the limit
    /// goes back to `saved` afterwards.
    Measuring {
        since: u64,
        saved: f64,
        rtt_sum: u128,
        count: u32,
    },
    /// Adjusting the limit from windows of samples.
    Tracking(Window),
}

/// The calls issued since `start` and completed so far.
#[derive(Debug, Clone, Default)]
struct Window {
    start: u64,
    rtt_sum: u128,
    count: u32,
    drops: u32,
    max_in_flight: u64,
}

impl Gradient {
    /// Starts by measuring the no-load latency.
    pub(crate) fn new(config: &GradientConfig, bounds: Bounds, initial: f64, now: u64) -> Self {
        Gradient {
            limit: bounds.clamp(initial),
            bounds,
            window_ns: duration_to_nanos(config.window),
            min_window_samples: config.min_window_samples,
            tolerance: config.tolerance,
            smoothing: config.smoothing,
            backoff: config.backoff_ratio,
            min_rtt_every: duration_to_nanos(config.min_rtt_every),
            min_rtt_samples: config.min_rtt_samples,
            no_load: None,
            phase: Phase::Measuring {
                since: now,
                saved: bounds.clamp(initial),
                rtt_sum: 0,
                count: 0,
            },
            next_measure: 0,
        }
    }

    pub(crate) fn on_sample(&mut self, s: Sample) {
        match &mut self.phase {
            Phase::Measuring {
                since,
                saved,
                rtt_sum,
                count,
            } => {
                // Only calls issued at the minimum limit saw no load.
                if s.dropped || s.start < *since {
                    return;
                }
                *rtt_sum += u128::from(s.rtt());
                *count += 1;
                if *count >= self.min_rtt_samples {
                    let mean = *rtt_sum / u128::from(*count);
                    self.no_load = Some(u64::try_from(mean).unwrap_or(u64::MAX));
                    self.limit = *saved;
                    self.next_measure = s.end.saturating_add(self.min_rtt_every);
                    self.phase = Phase::Tracking(Window {
                        start: s.end,
                        ..Window::default()
                    });
                }
            }
            Phase::Tracking(w) => {
                // Issued before the window: it reports on an older limit.
                if s.start < w.start {
                    return;
                }
                if s.dropped {
                    w.drops += 1;
                } else {
                    w.rtt_sum += u128::from(s.rtt());
                    w.count += 1;
                }
                w.max_in_flight = w.max_in_flight.max(s.in_flight);
                let long_enough = s.end.saturating_sub(w.start) >= self.window_ns;
                if long_enough && w.count + w.drops >= self.min_window_samples {
                    let w = std::mem::take(w);
                    self.close_window(&w, s.end);
                }
            }
        }
    }

    /// Moves the limit by one window (see the module docs of `adaptive` for the
    /// formula), then starts the next window, or a no-load measurement when one is due.
    fn close_window(&mut self, w: &Window, now: u64) {
        if w.drops > 0 {
            self.limit = self.bounds.clamp(self.limit * self.backoff);
        } else if w.count > 0 {
            let rtt = u64::try_from(w.rtt_sum / u128::from(w.count)).unwrap_or(u64::MAX);
            let no_load = self.no_load.map_or(rtt, |n| n.min(rtt));
            self.no_load = Some(no_load);
            let gradient = (self.tolerance * no_load as f64 / rtt.max(1) as f64).clamp(0.5, 1.0);
            let mut target = self.limit * gradient + self.limit.sqrt();
            // An under-used limit says nothing about room above it.
            if (w.max_in_flight as f64) * 2.0 < self.limit {
                target = target.min(self.limit);
            }
            self.limit = self
                .bounds
                .clamp(self.limit + self.smoothing * (target - self.limit));
        }
        self.phase = if now >= self.next_measure {
            Phase::Measuring {
                since: now,
                saved: self.limit,
                rtt_sum: 0,
                count: 0,
            }
        } else {
            Phase::Tracking(Window {
                start: now,
                ..Window::default()
            })
        };
    }

    /// The limit to enforce: the minimum while measuring the no-load latency.
    pub(crate) fn limit(&self) -> u32 {
        match self.phase {
            Phase::Measuring { .. } => self.bounds.whole(self.bounds.min),
            Phase::Tracking(_) => self.bounds.whole(self.limit),
        }
    }

    pub(crate) fn no_load_rtt(&self) -> Option<u64> {
        self.no_load
    }

    pub(crate) fn measuring(&self) -> bool {
        matches!(self.phase, Phase::Measuring { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: u64 = 1_000_000;

    fn gradient() -> Gradient {
        let config = GradientConfig::new()
            .with_window(Duration::from_millis(10))
            .with_min_window_samples(1)
            .with_smoothing(1.0)
            .with_min_rtt(Duration::from_secs(1), 2);
        Gradient::new(
            &config,
            Bounds {
                min: 2.0,
                max: 100.0,
            },
            16.0,
            0,
        )
    }

    fn call(start: u64, rtt: u64, in_flight: u64) -> Sample {
        Sample {
            start,
            end: start + rtt,
            in_flight,
            dropped: false,
        }
    }

    #[test]
    fn measures_no_load_first_at_the_minimum() {
        let mut g = gradient();
        assert!(g.measuring());
        assert_eq!(g.limit(), 2);
        g.on_sample(call(0, 4 * MS, 1));
        g.on_sample(call(0, 6 * MS, 2));
        assert!(!g.measuring());
        assert_eq!(g.no_load_rtt(), Some(5 * MS));
        assert_eq!(g.limit(), 16);
    }

    #[test]
    fn scales_by_the_gradient_plus_headroom() {
        let mut g = gradient();
        g.on_sample(call(0, 5 * MS, 1));
        g.on_sample(call(0, 5 * MS, 1));
        // Twice the no-load latency: 16 * 0.5 + 4 = 12.
        g.on_sample(call(6 * MS, 10 * MS, 16));
        assert_eq!(g.limit(), 12);
        // No slower than no load, fully used: 12 + sqrt(12) = 15.46.
        g.on_sample(call(21 * MS, 5 * MS, 12));
        assert_eq!(g.limit(), 15);
        // Under-used: no growth.
        g.on_sample(call(40 * MS, 5 * MS, 3));
        assert_eq!(g.limit(), 15);
        // A drop: backs off by 0.9.
        g.on_sample(Sample {
            start: 60 * MS,
            end: 61 * MS,
            in_flight: 15,
            dropped: true,
        });
        assert_eq!(g.limit(), 13);
    }

    #[test]
    fn measures_again_when_due() {
        let mut g = gradient();
        g.on_sample(call(0, 5 * MS, 1));
        g.on_sample(call(0, 5 * MS, 1));
        g.on_sample(call(2_000 * MS, 20 * MS, 16));
        assert!(g.measuring());
        assert_eq!(g.limit(), 2);
        // Issued before the measurement began: not a no-load sample.
        g.on_sample(call(1_000 * MS, 2_000 * MS, 16));
        g.on_sample(call(2_100 * MS, 20 * MS, 1));
        g.on_sample(call(2_100 * MS, 20 * MS, 2));
        assert_eq!(g.no_load_rtt(), Some(20 * MS));
        assert!(!g.measuring());
    }
}
