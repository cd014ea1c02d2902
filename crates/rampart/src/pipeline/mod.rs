//! The pipeline: policies composed outermost first, built once, called many times.
//!
//! A [`Pipeline`] holds one dependency's policies (timeouts, retries, hedging, circuit
//! breakers, bulkheads, rate limiters, load shedders, adaptive concurrency limits) in
//! the order they were added, outermost first. Any
//! order is allowed; the documented default for a dependency is bulkhead -> circuit
//! breaker -> retry -> timeout (per attempt), with a fallback outside all of them
//! ([`Pipeline::call_with_fallback`]), so that a breaker counts one failure per request
//! rather than one per attempt.
//!
//! It is cheap to clone (one `Arc`) and every clone shares the policies' state (the retry
//! budget, the hedging latencies, the breakers, the bulkheads). A call never boxes a future per policy:
//! the call future is one state machine made of one stage per policy, each interpreting
//! the policy at its depth, and the operation is handed down by reference at each poll,
//! which is what lets retries and hedges call it again. With up to four policies the
//! stages live inside the call future and a successful call allocates nothing; a
//! pipeline of five to [`MAX_POLICIES`] policies allocates one block for its stages per
//! call, which keeps every call future small and cheap to move. A hedge allocates its
//! state only once its first attempt has to wait. A pipeline built from a configuration
//! file is the same value as one built in code, and just as fast.
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

mod admit;
mod blocking;
mod builder;
mod call;
mod chaos;
mod config;
mod decide;
mod hedging;
mod node;
mod policies;
mod stage;
mod typed;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use self::builder::PipelineBuilder;
pub use self::call::Call;
pub use self::config::{PipelineConfig, PolicyConfig};
use crate::adaptive::AdaptiveLimiter;
use crate::bulkhead::Bulkhead;
use crate::chaos::FaultInjector;
use crate::circuit::CircuitBreaker;
use crate::classify::{Classify, DefaultClassifier};
use crate::clock::Clock;
use crate::config::ConfigError;
use crate::error::Error;
use crate::event::Events;
use crate::fallback::{Degraded, FallbackChain};
use crate::flags::Flag;
use crate::hedge::HedgePolicy;
use crate::rate_limit::{RateLimiter, SlidingWindowLimiter};
use crate::retry::{RetryBudget, RetryPolicy};
use crate::shed::LoadShedder;
use crate::timeout::Span;
use policies::Policies;

/// The most policies one pipeline can hold (more than four cost one allocation per call).
pub const MAX_POLICIES: usize = 8;

/// A validated policy with its shared state.
#[derive(Debug)]
// A plain one-byte tag rather than a niche in a variant's fields: every stage of
// every call matches on its policy, and decoding a niche cost the default pipeline
// about 35 instructions per call.
#[repr(u8)]
pub(crate) enum Policy {
    Timeout(Span),
    Retry(RetryPolicy),
    Hedge(HedgePolicy),
    Breaker(CircuitBreaker),
    Bulkhead(Bulkhead),
    RateLimit(RateLimiter),
    SlidingWindow(SlidingWindowLimiter),
    Shed(LoadShedder),
    Adaptive(AdaptiveLimiter),
    Chaos(FaultInjector),
}

/// How deep a call's nest of stages is, and whether it can hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    One,
    Two,
    Four,
    /// Up to four policies, some holding what a breaker, bulkhead, shedder or
    /// concurrency limit handed out, none hedging.
    HoldingFour,
    /// Up to four policies, one of them hedging.
    FullFour,
    /// Five to eight policies: the stages are boxed, once per call.
    Eight,
    /// Up to two admitting policies, a retry and a timeout, in this order (the
    /// documented default), any of them left out: stages whose kinds are fixed by their
    /// types.
    Standard,
}

impl Depth {
    /// The nest of stages `policies` need, and their places in it.
    fn layout(policies: Vec<Policy>) -> (Depth, Policies) {
        if let Some(places) = typed::standard_places(&policies) {
            return (Depth::Standard, Policies::placed(policies, &places));
        }
        let hedges = policies.iter().any(|p| matches!(p, Policy::Hedge(_)));
        // Every policy but these holds something per call (listed by what does not, so
        // a new kind of policy is never given a chain that cannot hold its slot).
        let holds = policies.iter().any(|p| {
            !matches!(
                p,
                Policy::Timeout(_)
                    | Policy::Retry(_)
                    | Policy::RateLimit(_)
                    | Policy::SlidingWindow(_)
                    | Policy::Chaos(_)
            )
        });
        let depth = match (policies.len(), hedges, holds) {
            (0..=4, true, _) => Depth::FullFour,
            (0..=4, false, true) => Depth::HoldingFour,
            (0 | 1, ..) => Depth::One,
            (2, ..) => Depth::Two,
            (3 | 4, ..) => Depth::Four,
            _ => Depth::Eight,
        };
        (depth, Policies::new(policies))
    }
}

/// What every call of a pipeline (and its clones) shares.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) policies: Policies,
    /// A fault injection stage listed last, run by the leaf rather than a node of its
    /// own (it is not in `policies`).
    pub(crate) innermost_chaos: Option<FaultInjector>,
    /// A feature flag that must be on for calls to run (a kill switch).
    pub(crate) gate: Option<Flag>,
    /// Which nest of stages a call needs, decided once.
    pub(crate) depth: Depth,
    pub(crate) events: Events,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Writes one accessor per kind of policy: the pipeline's policies of that kind,
/// outermost first.
macro_rules! policy_accessors {
    ($($(#[$doc:meta])* $name:ident: $variant:ident($ty:ty);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> impl Iterator<Item = &$ty> {
                self.shared.policies.iter().filter_map(|p| match p {
                    Policy::$variant(x) => Some(x),
                    _ => None,
                })
            }
        )*
    };
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
            .field("innermost_chaos", &self.shared.innermost_chaos)
            .field("gate", &self.shared.gate.as_ref().map(Flag::name))
            .field("budget", &self.shared.budget.is_some())
            .finish()
    }
}

impl Pipeline {
    /// Starts building a pipeline named `name` (used in rejections, events and metrics).
    pub fn builder(name: &str) -> PipelineBuilder {
        PipelineBuilder::from_config(name, PipelineConfig::default())
    }

    /// Builds a pipeline from plain configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field that cannot work.
    pub fn from_config(name: &str, config: &PipelineConfig) -> Result<Pipeline, ConfigError> {
        PipelineBuilder::from_config(name, config.clone()).build()
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    policy_accessors! {
        /// The pipeline's circuit breakers, outermost first: their state and snapshot
        /// are what health checks and dashboards read, and operators force or reset
        /// them here.
        circuit_breakers: Breaker(CircuitBreaker);
        /// The pipeline's bulkheads, outermost first, for their snapshots (active,
        /// queued, rejected).
        bulkheads: Bulkhead(Bulkhead);
        /// The pipeline's rate limiters, outermost first: their snapshots, and
        /// [`set_quota`](RateLimiter::set_quota) to change a quota at run time.
        rate_limiters: RateLimit(RateLimiter);
        /// The pipeline's sliding-window limiters, outermost first.
        sliding_window_limiters: SlidingWindow(SlidingWindowLimiter);
        /// The pipeline's load shedders, outermost first (for their snapshots and the
        /// adaptive mode's [`sample`](LoadShedder::sample)).
        load_shedders: Shed(LoadShedder);
        /// The pipeline's adaptive concurrency limiters, outermost first.
        concurrency_limiters: Adaptive(AdaptiveLimiter);
    }

    /// The pipeline's fault injectors, outermost first: switch them on and off and tune
    /// their rates at run time here.
    pub fn fault_injectors(&self) -> impl Iterator<Item = &FaultInjector> {
        let listed = self.shared.policies.iter().filter_map(|p| match p {
            Policy::Chaos(x) => Some(x),
            _ => None,
        });
        listed.chain(self.shared.innermost_chaos.as_ref())
    }

    /// The feature flag calls depend on, if any (see
    /// [`PipelineBuilder::when_enabled`]).
    pub fn flag(&self) -> Option<&Flag> {
        self.shared.gate.as_ref()
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
    #[inline(always)]
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
    #[inline(always)]
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
        // The call is awaited here rather than handed to the chain, so its future is
        // built in place once instead of moved into a second state machine.
        match self.call(op).await {
            Ok(value) => Ok(fallbacks.fresh(value)),
            Err(error) => self.rescue(fallbacks, error).await,
        }
    }

    async fn rescue<T, E>(
        &self,
        fallbacks: &FallbackChain<T, E>,
        error: Error<E>,
    ) -> Result<Degraded<T>, Error<E>> {
        fallbacks
            .rescue(&self.shared.events, &self.shared.name, error)
            .await
    }

    /// [`call_with_fallback`](Self::call_with_fallback) with a classifier that decides
    /// what is a failure and what is retried.
    ///
    /// # Errors
    ///
    /// The primary's error when no fallback applied or all of them failed.
    pub async fn call_with_fallback_classified<F, Fut, C, T, E>(
        &self,
        classifier: C,
        op: F,
        fallbacks: &FallbackChain<T, E>,
    ) -> Result<Degraded<T>, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
        E: fmt::Debug,
    {
        match self.call_classified(classifier, op).await {
            Ok(value) => Ok(fallbacks.fresh(value)),
            Err(error) => self.rescue(fallbacks, error).await,
        }
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

impl Shared {
    /// The rejection of a call made while the pipeline's flag is off, if it is.
    #[inline]
    pub(crate) fn gate_closed(&self) -> Option<crate::error::Rejection> {
        match &self.gate {
            Some(flag) if !flag.is_enabled() => Some(crate::error::Rejection::new(
                self.name.clone(),
                "feature_flag",
                crate::error::RejectionKind::FeatureDisabled,
            )),
            _ => None,
        }
    }
}
