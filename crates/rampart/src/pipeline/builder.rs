//! Building a [`Pipeline`] in code, policy by policy, outermost first.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::config::{PipelineConfig, PolicyConfig};
use super::{Depth, Pipeline, Policy, Shared, MAX_POLICIES};
use crate::adaptive::AdaptiveConfig;
use crate::bulkhead::BulkheadConfig;
use crate::chaos::ChaosConfig;
use crate::circuit::BreakerConfig;
use crate::clock::{default_clock, Clock};
use crate::config::ConfigError;
use crate::event::{Events, Listener};
use crate::flags::Flag;
use crate::hedge::HedgeConfig;
use crate::rate_limit::{RateLimitConfig, SlidingWindowConfig};
use crate::retry::{RetryBudget, RetryBudgetConfig, RetryConfig};
use crate::shed::ShedConfig;
use crate::timeout::TimeoutConfig;

/// Builds a [`Pipeline`]; policies are added outermost first.
#[must_use = "a builder does nothing until built"]
pub struct PipelineBuilder {
    name: Arc<str>,
    config: PipelineConfig,
    listener: Option<Arc<dyn Listener>>,
    shared_budget: Option<RetryBudget>,
    clock: Option<Arc<dyn Clock>>,
    gate: Option<Flag>,
}

impl fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// Starts from plain configuration (a [`PipelineConfig`] read from a file, say), so
    /// that a listener, a clock or a shared budget can still be added before building.
    pub fn from_config(name: &str, config: PipelineConfig) -> Self {
        PipelineBuilder {
            name: name.into(),
            config,
            listener: None,
            shared_budget: None,
            clock: None,
            gate: None,
        }
    }

    /// Adds a policy given as configuration.
    pub fn policy(mut self, policy: PolicyConfig) -> Self {
        self.config.policies.push(policy);
        self
    }

    /// Adds a timeout: per attempt when added after a retry, for the whole call before.
    pub fn timeout(self, duration: Duration) -> Self {
        self.policy(PolicyConfig::Timeout(TimeoutConfig::new(duration)))
    }

    /// Adds a retry policy.
    pub fn retry(self, config: RetryConfig) -> Self {
        self.policy(PolicyConfig::Retry(config))
    }

    /// Adds a circuit breaker. Outside a retry (the documented default order) it counts
    /// one outcome per request; inside a retry it counts every attempt, and opens after
    /// fewer requests than its threshold says.
    pub fn circuit_breaker(self, config: BreakerConfig) -> Self {
        self.policy(PolicyConfig::CircuitBreaker(config))
    }

    /// Adds a bulkhead. Put it first (outermost), as the documented default order does,
    /// so that a request holds one slot across all its attempts and a refused request
    /// costs nothing further.
    pub fn bulkhead(self, config: BulkheadConfig) -> Self {
        self.policy(PolicyConfig::Bulkhead(config))
    }

    /// Adds a rate limiter: calls over its quota are refused with a retry-after.
    pub fn rate_limit(self, config: RateLimitConfig) -> Self {
        self.policy(PolicyConfig::RateLimit(config))
    }

    /// Adds a sliding-window rate limiter: calls over its limit are refused with a
    /// retry-after.
    pub fn sliding_window(self, config: SlidingWindowConfig) -> Self {
        self.policy(PolicyConfig::SlidingWindow(config))
    }

    /// Adds a load shedder: calls are refused by priority as the calls in flight
    /// through it near its capacity. A call's priority is the one set by
    /// [`with_priority`](crate::shed::with_priority) around it, else `Normal`.
    pub fn load_shed(self, config: ShedConfig) -> Self {
        self.policy(PolicyConfig::LoadShed(config))
    }

    /// Adds a bulkhead whose size follows measured latency.
    pub fn adaptive_concurrency(self, config: AdaptiveConfig) -> Self {
        self.policy(PolicyConfig::AdaptiveConcurrency(config))
    }

    /// Adds fault injection (see [`chaos`](crate::chaos)): inside a retry it decides per
    /// attempt, and a per-attempt timeout around it cuts an injected latency short.
    /// Switch it at run time through [`Pipeline::fault_injectors`].
    pub fn chaos(self, config: ChaosConfig) -> Self {
        self.policy(PolicyConfig::Chaos(config))
    }

    /// Adds a hedging policy.
    pub fn hedge(self, config: HedgeConfig) -> Self {
        self.policy(PolicyConfig::Hedge(config))
    }

    /// Sets the retry budget of this pipeline (default: 20 % plus 10/s over 10 s).
    pub fn retry_budget(mut self, config: RetryBudgetConfig) -> Self {
        self.config.retry_budget = Some(config);
        self
    }

    /// Turns the retry budget off: retries are limited only by their own settings.
    pub fn without_retry_budget(mut self) -> Self {
        self.config.retry_budget = None;
        self
    }

    /// Shares an existing budget (e.g. one per dependency across several pipelines).
    pub fn shared_retry_budget(mut self, budget: RetryBudget) -> Self {
        self.shared_budget = Some(budget);
        self
    }

    /// Sends every event to `listener`.
    pub fn listener(mut self, listener: impl Listener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Sends every event to `listener`, shared with other pipelines.
    pub fn shared_listener(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The clock for the retry budget and blocking sleeps (default: [`default_clock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Runs calls only while `flag` is on: while it is off every call is refused at once
    /// with [`RejectionKind::FeatureDisabled`](crate::RejectionKind::FeatureDisabled)
    /// (policy `"feature_flag"`) and the operation never runs, so a fallback on that
    /// kind serves the degraded answer. The seeds' incident kill switch for
    /// non-critical features.
    pub fn when_enabled(mut self, flag: Flag) -> Self {
        self.gate = Some(flag);
        self
    }

    /// Validates the configuration and builds the pipeline.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field that cannot work, e.g.
    /// `retry.max_attempts: must be at least 1`.
    pub fn build(self) -> Result<Pipeline, ConfigError> {
        let cfg = &self.config;
        if cfg.policies.len() > MAX_POLICIES {
            return Err(ConfigError::new(
                "policies",
                format!(
                    "at most {MAX_POLICIES} policies in one pipeline, got {}",
                    cfg.policies.len()
                ),
            ));
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(default_clock);
        let policies = cfg
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.build(&self.name, &clock, self.listener.as_ref())
                    .map_err(|e| e.at_policy(i))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut policies = policies;
        let innermost_chaos = match policies.last() {
            Some(Policy::Chaos(_)) => match policies.pop() {
                Some(Policy::Chaos(injector)) => Some(injector),
                _ => None,
            },
            _ => None,
        };
        if let Some(b) = &cfg.retry_budget {
            // Named after the key in `PipelineConfig` (and configuration files).
            b.validate().map_err(|e| {
                let field = e.field().replacen("budget", "retry_budget", 1);
                ConfigError::new(field, e.message())
            })?;
        }
        let wants_budget = cfg.policies.iter().any(PolicyConfig::draws_on_budget);
        let budget = match (self.shared_budget, cfg.retry_budget) {
            (Some(b), _) => Some(b),
            (None, Some(c)) if wants_budget => Some(RetryBudget::new(c, clock.clone())?),
            _ => None,
        };
        let (depth, policies) = Depth::layout(policies);
        Ok(Pipeline {
            shared: Arc::new(Shared {
                name: self.name,
                depth,
                policies,
                innermost_chaos,
                gate: self.gate,
                events: Events::new(self.listener),
                budget,
                clock,
            }),
        })
    }
}
