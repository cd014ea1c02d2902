//! Additive increase, multiplicative decrease, as TCP's congestion avoidance does it.

use super::config::AimdConfig;
use super::core::{Bounds, Sample};
use crate::clock::duration_to_nanos;

/// The AIMD state: a fractional limit and the time of the last decrease.
#[derive(Debug, Clone)]
pub(crate) struct Aimd {
    limit: f64,
    bounds: Bounds,
    threshold: u64,
    backoff: f64,
    increase: f64,
    /// When the limit last went down: calls issued before then reported on the old
    /// limit, which has been dealt with.
    last_decrease: Option<u64>,
}

impl Aimd {
    pub(crate) fn new(config: &AimdConfig, bounds: Bounds, initial: f64) -> Self {
        Aimd {
            limit: bounds.clamp(initial),
            bounds,
            threshold: duration_to_nanos(config.latency_threshold),
            backoff: config.backoff_ratio,
            increase: config.increase,
            last_decrease: None,
        }
    }

    /// A drop, or a call slower than the threshold, multiplies the limit by the backoff
    /// ratio, once per round: calls issued before the last decrease are not counted
    /// again. A call within the threshold, when the limit is at least half used, adds
    /// `increase / limit`: `increase` per limit's worth of calls.
    pub(crate) fn on_sample(&mut self, s: Sample) {
        let overloaded = s.dropped || s.rtt() > self.threshold;
        if overloaded {
            if self.last_decrease.is_some_and(|t| s.start < t) {
                return;
            }
            self.limit = self.bounds.clamp(self.limit * self.backoff);
            self.last_decrease = Some(s.end);
        } else if s.in_flight as f64 * 2.0 >= self.limit {
            self.limit = self.bounds.clamp(self.limit + self.increase / self.limit);
        }
    }

    pub(crate) fn limit(&self) -> u32 {
        self.bounds.whole(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: u64 = 1_000_000;

    fn aimd(initial: f64) -> Aimd {
        let config = AimdConfig::new().with_latency_threshold(Duration::from_millis(100));
        Aimd::new(
            &config,
            Bounds {
                min: 2.0,
                max: 12.0,
            },
            initial,
        )
    }

    fn ok(start: u64, rtt: u64, in_flight: u64) -> Sample {
        Sample {
            start,
            end: start + rtt,
            in_flight,
            dropped: false,
        }
    }

    #[test]
    fn grows_by_one_per_round_of_successes() {
        let mut a = aimd(10.0);
        for i in 0..10 {
            a.on_sample(ok(i, 10 * MS, 10));
        }
        assert_eq!(a.limit(), 10);
        a.on_sample(ok(11, 10 * MS, 10));
        assert_eq!(a.limit(), 11);
    }

    #[test]
    fn does_not_grow_when_under_used() {
        let mut a = aimd(10.0);
        for i in 0..100 {
            a.on_sample(ok(i, MS, 4));
        }
        assert_eq!(a.limit(), 10);
    }

    #[test]
    fn backs_off_once_per_round_and_stays_in_bounds() {
        let mut a = aimd(10.0);
        a.on_sample(Sample {
            start: 0,
            end: 5 * MS,
            in_flight: 10,
            dropped: true,
        });
        assert_eq!(a.limit(), 9);
        // Issued before that decrease: already dealt with.
        a.on_sample(ok(MS, 200 * MS, 10));
        assert_eq!(a.limit(), 9);
        for i in 0..100 {
            a.on_sample(ok(6 * MS + i * 300 * MS, 200 * MS, 10));
        }
        assert_eq!(a.limit(), 2);
        for i in 0..10_000 {
            a.on_sample(ok(i, MS, 12));
        }
        assert_eq!(a.limit(), 12);
    }
}
