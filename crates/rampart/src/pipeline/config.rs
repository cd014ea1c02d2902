//! A pipeline as plain data: what a configuration file holds for one dependency.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::Policy;
use crate::bulkhead::{Bulkhead, BulkheadConfig};
use crate::circuit::{BreakerConfig, CircuitBreaker};
use crate::clock::Clock;
use crate::config::ConfigError;
use crate::event::Listener;
use crate::hedge::{HedgeConfig, HedgePolicy};
use crate::retry::{RetryBudgetConfig, RetryConfig, RetryPolicy};
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
                Policy::Timeout(t.duration)
            }
            PolicyConfig::Retry(r) => Policy::Retry(RetryPolicy::new(r.clone())?),
            PolicyConfig::Hedge(h) => Policy::Hedge(HedgePolicy::new(*h)?),
            PolicyConfig::CircuitBreaker(b) => {
                let breaker = CircuitBreaker::with_clock(name, b.clone(), clock.clone())?;
                Policy::Breaker(match listener {
                    Some(l) => breaker.with_listener(l.clone()),
                    None => breaker,
                })
            }
            PolicyConfig::Bulkhead(b) => {
                let bulkhead = Bulkhead::new(name, b.clone())?;
                Policy::Bulkhead(match listener {
                    Some(l) => bulkhead.with_listener(l.clone()),
                    None => bulkhead,
                })
            }
        })
    }

    pub(super) fn draws_on_budget(&self) -> bool {
        match self {
            PolicyConfig::Timeout(_)
            | PolicyConfig::CircuitBreaker(_)
            | PolicyConfig::Bulkhead(_) => false,
            PolicyConfig::Retry(r) => r.use_budget,
            PolicyConfig::Hedge(h) => h.use_budget,
        }
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
