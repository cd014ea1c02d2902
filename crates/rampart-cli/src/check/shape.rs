//! What a pipeline's policy list means for time and attempts: the figures the lints
//! compare.

use std::time::Duration;

use rampart::circuit::BreakerConfig;
use rampart::pipeline::{PipelineConfig, PolicyConfig};
use rampart::retry::{Jitter, RetryConfig};

/// A pipeline's policies read for their timing: which timeouts bound the whole call and
/// which bound one attempt, the retry, the breaker and where they sit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    /// The first retry and its position (outermost first).
    pub(crate) retry: Option<(usize, RetryConfig)>,
    /// The tightest timeout outside the retry (the whole call); with no retry, the
    /// tightest timeout of all.
    pub(crate) total: Option<Duration>,
    /// The tightest timeout inside the retry (each attempt).
    pub(crate) per_attempt: Option<Duration>,
    /// Every timeout, outermost first, with its position.
    pub(crate) timeouts: Vec<(usize, Duration)>,
    /// Circuit breakers with their positions.
    pub(crate) breakers: Vec<(usize, BreakerConfig)>,
    /// The largest number of calls a bulkhead (or an adaptive limiter at its maximum)
    /// lets through at once, with its position.
    pub(crate) concurrency: Option<(usize, u32)>,
    /// Whether a hedge sends more than one attempt.
    pub(crate) hedges: bool,
}

impl Shape {
    pub(crate) fn of(pipeline: &PipelineConfig) -> Shape {
        let mut shape = Shape::default();
        for (i, policy) in pipeline.policies.iter().enumerate() {
            match policy {
                PolicyConfig::Retry(r) if shape.retry.is_none() => {
                    shape.retry = Some((i, r.clone()));
                }
                PolicyConfig::Timeout(t) => {
                    shape.timeouts.push((i, t.duration));
                    let slot = if shape.retry.is_some() {
                        &mut shape.per_attempt
                    } else {
                        &mut shape.total
                    };
                    *slot = Some(slot.map_or(t.duration, |d| d.min(t.duration)));
                }
                PolicyConfig::CircuitBreaker(b) => shape.breakers.push((i, b.clone())),
                PolicyConfig::Bulkhead(b) => shape.limit_concurrency(i, b.max_concurrent),
                PolicyConfig::AdaptiveConcurrency(a) => shape.limit_concurrency(i, a.max_limit),
                PolicyConfig::Hedge(h) => shape.hedges |= h.max_attempts > 1,
                _ => {}
            }
        }
        shape
    }

    fn limit_concurrency(&mut self, at: usize, limit: u32) {
        if self.concurrency.is_none_or(|(_, c)| limit > c) {
            self.concurrency = Some((at, limit));
        }
    }

    /// Attempts per request: the retry's maximum, or one.
    pub(crate) fn attempts(&self) -> u32 {
        self.retry
            .as_ref()
            .map_or(1, |(_, r)| r.max_attempts.max(1))
    }

    /// Whether a request can run the operation more than once.
    pub(crate) fn repeats(&self) -> bool {
        self.attempts() > 1 || self.hedges
    }

    /// The longest a call can take, and how it adds up; `None` when nothing bounds it.
    pub(crate) fn worst_case(&self) -> Option<WorstCase> {
        let by_attempts = match (&self.retry, self.per_attempt) {
            (Some((_, r)), Some(t)) => Some(WorstCase::of_attempts(r, t)),
            (None, _) | (Some(_), None) => None,
        };
        match (by_attempts, self.total) {
            (Some(w), Some(total)) if total < w.total => Some(WorstCase::capped(w, total)),
            (Some(w), _) => Some(w),
            (None, Some(total)) => Some(WorstCase {
                attempts: 1,
                timeout: total,
                backoffs: Vec::new(),
                total,
                capped_by: Some(total),
            }),
            (None, None) => None,
        }
    }
}

/// The worst case of a call: every attempt runs to its timeout and every backoff is as
/// long as its jitter allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorstCase {
    pub(crate) attempts: u32,
    pub(crate) timeout: Duration,
    pub(crate) backoffs: Vec<Duration>,
    pub(crate) total: Duration,
    /// The timeout outside the retry that cuts the call short, if it does.
    pub(crate) capped_by: Option<Duration>,
}

impl WorstCase {
    fn of_attempts(retry: &RetryConfig, timeout: Duration) -> WorstCase {
        let attempts = retry.max_attempts.max(1);
        let backoffs: Vec<Duration> = (0..attempts - 1)
            .map(|i| longest_backoff(retry, i))
            .collect();
        let total = backoffs
            .iter()
            .fold(timeout.saturating_mul(attempts), |sum, b| {
                sum.saturating_add(*b)
            });
        WorstCase {
            attempts,
            timeout,
            backoffs,
            total,
            capped_by: None,
        }
    }

    fn capped(mut self, total: Duration) -> WorstCase {
        self.total = total;
        self.capped_by = Some(total);
        self
    }

    /// `3 attempts x 2s + backoff 1s + 2s = 9s`.
    pub(crate) fn sum(&self) -> String {
        let mut s = format!(
            "{} attempt{} x {}",
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            human(self.timeout)
        );
        if !self.backoffs.is_empty() {
            let parts: Vec<String> = self.backoffs.iter().map(|b| human(*b)).collect();
            s.push_str(&format!(" + backoff {}", parts.join(" + ")));
        }
        let uncapped = self
            .backoffs
            .iter()
            .fold(self.timeout.saturating_mul(self.attempts), |a, b| {
                a.saturating_add(*b)
            });
        s.push_str(&format!(" = {}", human(uncapped)));
        if let Some(cap) = self.capped_by.filter(|c| *c < uncapped) {
            s.push_str(&format!(
                ", cut at the {} timeout around the retry",
                human(cap)
            ));
        }
        s
    }
}

/// The longest wait before retry `n` (from 0) that the backoff and jitter allow.
pub(crate) fn longest_backoff(retry: &RetryConfig, n: u32) -> Duration {
    let base = retry.backoff.base_delay(n);
    let max = retry.backoff.max_delay();
    match retry.jitter {
        Jitter::Decorrelated => max,
        Jitter::Proportional(r) => {
            let spread = Duration::try_from_secs_f64(base.as_secs_f64() * r.clamp(0.0, 1.0))
                .unwrap_or(Duration::MAX);
            base.saturating_add(spread).min(max)
        }
        _ => base,
    }
}

/// A duration as the configuration file would write it.
pub(crate) fn human(d: Duration) -> String {
    crate::budget::human(d)
}
