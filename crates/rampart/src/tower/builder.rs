//! [`RampartServiceBuilderExt`]: the layers as `ServiceBuilder` methods.

use tower::layer::util::Stack;
use tower::ServiceBuilder;

use super::{
    BulkheadLayer, CircuitBreakerLayer, LoadShedLayer, PipelineLayer, RateLimitLayer, TimeoutLayer,
};
use crate::bulkhead::Bulkhead;
use crate::circuit::CircuitBreaker;
use crate::pipeline::Pipeline;
use crate::rate_limit::RateLimiter;
use crate::shed::LoadShedder;

/// Adds rampart's layers to a [`ServiceBuilder`]; see the [module docs](super).
///
/// Each method adds the layer below the ones already added (outermost first, as
/// `ServiceBuilder` does). The names differ from tower's own `rate_limit`, `load_shed`
/// and `timeout` methods (inherent methods of `ServiceBuilder` behind tower's features,
/// which would win over a trait method of the same name as soon as any crate in the
/// build turns those features on).
pub trait RampartServiceBuilderExt<L>: sealed::Sealed {
    /// Adds a [`PipelineLayer`] running each request through `pipeline`.
    fn pipeline(self, pipeline: Pipeline) -> ServiceBuilder<Stack<PipelineLayer, L>>;
    /// Adds a [`BulkheadLayer`].
    fn bulkhead(self, bulkhead: Bulkhead) -> ServiceBuilder<Stack<BulkheadLayer, L>>;
    /// Adds a [`RateLimitLayer`].
    fn rate_limiter(self, limiter: RateLimiter) -> ServiceBuilder<Stack<RateLimitLayer, L>>;
    /// Adds a [`CircuitBreakerLayer`] with the default classifier (every `Err` is a
    /// failure); use `.layer(CircuitBreakerLayer::new(b).with_classifier(c))` for
    /// another.
    fn circuit_breaker(
        self,
        breaker: CircuitBreaker,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>>;
    /// Adds a [`LoadShedLayer`] reading priorities from the task's scope.
    fn load_shedder(self, shedder: LoadShedder) -> ServiceBuilder<Stack<LoadShedLayer, L>>;
    /// Adds a [`TimeoutLayer`] (built with [`TimeoutLayer::new`], which validates the
    /// duration).
    fn time_limit(self, timeout: TimeoutLayer) -> ServiceBuilder<Stack<TimeoutLayer, L>>;
}

impl<L> RampartServiceBuilderExt<L> for ServiceBuilder<L> {
    fn pipeline(self, pipeline: Pipeline) -> ServiceBuilder<Stack<PipelineLayer, L>> {
        self.layer(PipelineLayer::new(pipeline))
    }

    fn bulkhead(self, bulkhead: Bulkhead) -> ServiceBuilder<Stack<BulkheadLayer, L>> {
        self.layer(BulkheadLayer::new(bulkhead))
    }

    fn rate_limiter(self, limiter: RateLimiter) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(RateLimitLayer::new(limiter))
    }

    fn circuit_breaker(
        self,
        breaker: CircuitBreaker,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>> {
        self.layer(CircuitBreakerLayer::new(breaker))
    }

    fn load_shedder(self, shedder: LoadShedder) -> ServiceBuilder<Stack<LoadShedLayer, L>> {
        self.layer(LoadShedLayer::new(shedder))
    }

    fn time_limit(self, timeout: TimeoutLayer) -> ServiceBuilder<Stack<TimeoutLayer, L>> {
        self.layer(timeout)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}
