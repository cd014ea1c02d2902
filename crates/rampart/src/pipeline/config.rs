//! A pipeline as plain data: what a configuration file holds for one dependency.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::Policy;
use crate::adaptive::{AdaptiveConfig, AdaptiveLimiter};
use crate::bulkhead::{Bulkhead, BulkheadConfig};
use crate::chaos::{ChaosConfig, FaultInjector};
use crate::circuit::{BreakerConfig, CircuitBreaker};
use crate::clock::Clock;
use crate::config::ConfigError;
use crate::event::Listener;
use crate::hedge::{HedgeConfig, HedgePolicy};
use crate::rate_limit::{RateLimitConfig, RateLimiter, SlidingWindowConfig, SlidingWindowLimiter};
use crate::retry::{RetryBudgetConfig, RetryConfig, RetryPolicy};
use crate::shed::{LoadShedder, ShedConfig};
use crate::timeout::Span;
use crate::timeout::TimeoutConfig;

/// One policy of a pipeline, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyConfig {
    /// A timeout: per attempt inside a retry, for the whole call outside it.
    Timeout(TimeoutConfig),
    /// A retry policy.
    Retry(RetryConfig),
    /// A hedging policy.
    Hedge(HedgeConfig),
    /// A circuit breaker: outside a retry it counts one outcome per request, inside it
    /// one per attempt.
    CircuitBreaker(BreakerConfig),
    /// A bulkhead: outermost, so that a request holds one slot across its attempts.
    Bulkhead(BulkheadConfig),
    /// A rate limiter (token bucket): refuses calls over the quota with a retry-after.
    RateLimit(RateLimitConfig),
    /// A rate limiter counting calls in a sliding window: refuses calls over the limit
    /// with a retry-after.
    SlidingWindow(SlidingWindowConfig),
    /// A load shedder: refuses calls by priority (see [`with_priority`](crate::shed::with_priority))
    /// as the calls in flight near its capacity.
    LoadShed(ShedConfig),
    /// A bulkhead whose size follows measured latency.
    AdaptiveConcurrency(AdaptiveConfig),
    /// Fault injection (off unless `enabled`): errors and latency at a rate or on a
    /// schedule, per attempt when inside a retry.
    Chaos(ChaosConfig),
}

impl PolicyConfig {
    /// Builds the policy; `name` and `clock` are the pipeline's (a breaker keeps both).
    pub(super) fn build(
        &self,
        name: &str,
        clock: &Arc<dyn Clock>,
        listener: Option<&Arc<dyn Listener>>,
    ) -> Result<Policy, ConfigError> {
        Ok(match self {
            PolicyConfig::Timeout(t) => {
                t.validate()?;
                Policy::Timeout(Span::new(t.duration))
            }
            PolicyConfig::Retry(r) => Policy::Retry(RetryPolicy::new(r.clone())?),
            PolicyConfig::Hedge(h) => Policy::Hedge(HedgePolicy::new(*h)?),
            PolicyConfig::CircuitBreaker(b) => {
                let breaker = CircuitBreaker::with_clock(name, b.clone(), clock.clone())?;
                Policy::Breaker(listen(breaker, listener, CircuitBreaker::with_listener))
            }
            PolicyConfig::Bulkhead(b) => Policy::Bulkhead(listen(
                Bulkhead::new(name, *b)?,
                listener,
                Bulkhead::with_listener,
            )),
            PolicyConfig::RateLimit(r) => Policy::RateLimit(listen(
                RateLimiter::with_clock(name, *r, clock.clone())?,
                listener,
                RateLimiter::with_listener,
            )),
            PolicyConfig::SlidingWindow(w) => Policy::SlidingWindow(listen(
                SlidingWindowLimiter::with_clock(name, *w, clock.clone())?,
                listener,
                SlidingWindowLimiter::with_listener,
            )),
            PolicyConfig::LoadShed(s) => Policy::Shed(listen(
                LoadShedder::new(name, *s)?,
                listener,
                LoadShedder::with_listener,
            )),
            PolicyConfig::AdaptiveConcurrency(a) => Policy::Adaptive(listen(
                AdaptiveLimiter::with_clock(name, *a, clock.clone())?,
                listener,
                AdaptiveLimiter::with_listener,
            )),
            PolicyConfig::Chaos(c) => Policy::Chaos(listen(
                FaultInjector::with_clock(name, c, clock.clone())?,
                listener,
                FaultInjector::with_listener,
            )),
        })
    }

    pub(super) fn draws_on_budget(&self) -> bool {
        match self {
            PolicyConfig::Retry(r) => r.use_budget,
            PolicyConfig::Hedge(h) => h.use_budget,
            _ => false,
        }
    }
}

/// `policy` reporting to `listener`, if there is one.
fn listen<P>(
    policy: P,
    listener: Option<&Arc<dyn Listener>>,
    with: fn(P, Arc<dyn Listener>) -> P,
) -> P {
    match listener {
        Some(l) => with(policy, Arc::clone(l)),
        None => policy,
    }
}

/// A whole pipeline as plain data (what a configuration file holds for one dependency).
///
/// # Defaults
///
/// | field | default |
/// |---|---|
/// | `policies` | none (a pipeline that just runs the operation) |
/// | `retry_budget` | 20 % of calls plus 10 retries per second, over 10 s |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// The policies, outermost first.
    pub policies: Vec<PolicyConfig>,
    /// The budget shared by this pipeline's retries and hedges; `None` for no budget.
    pub retry_budget: Option<RetryBudgetConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            policies: Vec::new(),
            retry_budget: Some(RetryBudgetConfig::default()),
        }
    }
}
