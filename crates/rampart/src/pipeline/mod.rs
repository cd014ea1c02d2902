//! The pipeline: policies composed outermost first, built once, called many times.
//!
//! A [`Pipeline`] holds one dependency's policies (timeouts, retries, hedging; later
//! breakers, bulkheads, limiters) in the order they were added, outermost first. Any
//! order is allowed; the documented default for a dependency is bulkhead -> circuit
//! breaker -> retry -> timeout (per attempt), with a fallback outside all of them
//! ([`Pipeline::call_with_fallback`]), so that a breaker counts one failure per request
//! rather than one per attempt.
//!
//! It is cheap to clone (one `Arc`) and every clone shares the policies' state (the retry
//! budget, the hedging latencies). A call neither allocates nor boxes a future per
//! policy: the call future is one state machine with a fixed number of stages
//! ([`MAX_POLICIES`]), each interpreting the policy at its depth, and the operation is
//! handed down by reference at each poll, which is what lets retries and hedges call it
//! again. A pipeline built from a configuration file is the same value as one built in
//! code, and just as fast.
//!
//! # Examples
//!
//! ```
//! use rampart::{Error, Pipeline, RejectionKind};
//! use rampart::retry::{Jitter, RetryConfig};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let inventory = Pipeline::builder("inventory")
//!     .timeout(Duration::from_secs(5)) // the whole call
//!     .retry(RetryConfig::exponential(Duration::from_millis(200)).with_max_attempts(10).with_jitter(Jitter::None))
//!     .timeout(Duration::from_secs(1)) // each attempt
//!     .build()?;
//!
//! let mut calls = 0;
//! let stock = inventory
//!     .call(|| {
//!         calls += 1;
//!         let n = calls;
//!         async move { if n < 3 { Err("503") } else { Ok(12) } }
//!     })
//!     .await;
//! assert_eq!(stock, Ok(12));
//!
//! // Attempts at 0, 1.2, 2.6 and 4.4 s; the last is cut at the 5 s deadline.
//! let stuck = inventory.call(|| std::future::pending::<Result<u32, &str>>()).await;
//! assert!(matches!(stuck, Err(Error::Rejected(r)) if r.kind() == RejectionKind::DeadlineExceeded));
//! # Ok(())
//! # }
//! ```

mod blocking;
mod call;
mod decide;
mod node;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::call::Call;
use crate::classify::{Classify, DefaultClassifier};
use crate::clock::{Clock, TokioClock};
use crate::config::ConfigError;
use crate::error::Error;
use crate::event::{Events, Listener};
use crate::fallback::{Degraded, FallbackChain};
use crate::hedge::{HedgeConfig, HedgePolicy};
use crate::retry::{RetryBudget, RetryBudgetConfig, RetryConfig, RetryPolicy};
use crate::timeout::TimeoutConfig;

/// The most policies one pipeline can hold.
pub const MAX_POLICIES: usize = 8;

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
}

impl PolicyConfig {
    fn build(&self) -> Result<Policy, ConfigError> {
        Ok(match self {
            PolicyConfig::Timeout(t) => {
                t.validate()?;
                Policy::Timeout(t.duration)
            }
            PolicyConfig::Retry(r) => Policy::Retry(RetryPolicy::new(r.clone())?),
            PolicyConfig::Hedge(h) => Policy::Hedge(HedgePolicy::new(*h)?),
        })
    }

    fn draws_on_budget(&self) -> bool {
        match self {
            PolicyConfig::Timeout(_) => false,
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

/// A validated policy with its shared state.
#[derive(Debug)]
pub(crate) enum Policy {
    Timeout(Duration),
    Retry(RetryPolicy),
    Hedge(HedgePolicy),
}

/// How deep a call's nest of stages is, and whether it can hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    One,
    Two,
    Four,
    Eight,
    Hedged,
}

impl Depth {
    fn of(policies: &[Policy]) -> Depth {
        if policies.iter().any(|p| matches!(p, Policy::Hedge(_))) {
            return Depth::Hedged;
        }
        match policies.len() {
            0 | 1 => Depth::One,
            2 => Depth::Two,
            3 | 4 => Depth::Four,
            _ => Depth::Eight,
        }
    }
}

/// What every call of a pipeline (and its clones) shares.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) policies: Vec<Policy>,
    /// Which nest of stages a call needs, decided once.
    pub(crate) depth: Depth,
    pub(crate) events: Events,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Policies around calls to one dependency; see the [module docs](self).
#[derive(Clone)]
pub struct Pipeline {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.shared.name)
            .field("policies", &self.shared.policies)
            .field("budget", &self.shared.budget.is_some())
            .finish()
    }
}

impl Pipeline {
    /// Starts building a pipeline named `name` (used in rejections, events and metrics).
    pub fn builder(name: &str) -> PipelineBuilder {
        PipelineBuilder {
            name: name.into(),
            config: PipelineConfig::default(),
            listener: None,
            shared_budget: None,
            clock: None,
        }
    }

    /// Builds a pipeline from plain configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field that cannot work.
    pub fn from_config(name: &str, config: &PipelineConfig) -> Result<Pipeline, ConfigError> {
        PipelineBuilder {
            name: name.into(),
            config: config.clone(),
            listener: None,
            shared_budget: None,
            clock: None,
        }
        .build()
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The retry budget shared by this pipeline's retries and hedges, if any.
    pub fn retry_budget(&self) -> Option<&RetryBudget> {
        self.shared.budget.as_ref()
    }

    /// Runs `op` through the policies, with the [`DefaultClassifier`] (every `Err` is a
    /// retryable failure).
    ///
    /// `op` is called once per attempt; each call returns a new future.
    ///
    /// # Errors
    ///
    /// [`Error::Operation`] with the last attempt's error, or [`Error::Rejected`] when a
    /// policy refused or cut the call.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops every attempt in flight and starts no other.
    pub fn call<F, Fut, T, E>(&self, op: F) -> Call<'_, F, Fut, DefaultClassifier, T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        Call::new(&self.shared, op, DefaultClassifier)
    }

    /// Like [`call`](Self::call), with a classifier that decides what is a failure and
    /// what is retried.
    pub fn call_classified<F, Fut, C, T, E>(
        &self,
        classifier: C,
        op: F,
    ) -> Call<'_, F, Fut, C, T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
        E: fmt::Debug,
    {
        Call::new(&self.shared, op, classifier)
    }

    /// Runs `op` through the policies and, if it still fails, through `fallbacks`; the
    /// result says whether a fallback answered.
    ///
    /// # Errors
    ///
    /// The primary's error when no fallback applied or all of them failed.
    pub async fn call_with_fallback<F, Fut, T, E>(
        &self,
        op: F,
        fallbacks: &FallbackChain<T, E>,
    ) -> Result<Degraded<T>, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        fallbacks
            .run(&self.shared.events, &self.shared.name, self.call(op))
            .await
    }

    /// Runs a blocking `op` through the policies on the current thread.
    ///
    /// Retries and their backoff sleeps work as in [`call`](Self::call) (sleeps go
    /// through the pipeline's [`Clock`], so a manual clock makes them instant in tests).
    /// A blocking call cannot be interrupted: a timeout refuses to start work after its
    /// deadline and turns an attempt that overran it into a `Timeout` rejection, and
    /// hedging runs the attempts one after the other.
    ///
    /// # Errors
    ///
    /// As for [`call`](Self::call).
    pub fn call_blocking<F, T, E>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug,
    {
        blocking::run(&self.shared, op, &DefaultClassifier)
    }

    /// [`call_blocking`](Self::call_blocking) with a classifier.
    pub fn call_blocking_classified<F, C, T, E>(&self, classifier: C, op: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        C: Classify<T, E>,
        E: fmt::Debug,
    {
        blocking::run(&self.shared, op, &classifier)
    }
}

/// Builds a [`Pipeline`]; policies are added outermost first.
#[must_use = "a builder does nothing until built"]
pub struct PipelineBuilder {
    name: Arc<str>,
    config: PipelineConfig,
    listener: Option<Arc<dyn Listener>>,
    shared_budget: Option<RetryBudget>,
    clock: Option<Arc<dyn Clock>>,
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

    /// The clock for the retry budget and blocking sleeps (default: tokio's clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
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
        let policies = cfg
            .policies
            .iter()
            .map(PolicyConfig::build)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(b) = &cfg.retry_budget {
            // Named after the key in `PipelineConfig` (and configuration files).
            b.validate().map_err(|e| {
                let field = e.field().replacen("budget", "retry_budget", 1);
                ConfigError::new(field, e.message())
            })?;
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(TokioClock::new()));
        let wants_budget = cfg.policies.iter().any(PolicyConfig::draws_on_budget);
        let budget = match (self.shared_budget, cfg.retry_budget) {
            (Some(b), _) => Some(b),
            (None, Some(c)) if wants_budget => Some(RetryBudget::new(c, clock.clone())?),
            _ => None,
        };
        Ok(Pipeline {
            shared: Arc::new(Shared {
                name: self.name,
                depth: Depth::of(&policies),
                policies,
                events: Events::new(self.listener),
                budget,
                clock,
            }),
        })
    }
}
