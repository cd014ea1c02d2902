//! [`CircuitBreakerLayer`]: refuses requests while the breaker is open and records each
//! response as the classifier says.

use std::fmt;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::admit::{response_future, take_inner, Admitted, Guard};
use crate::circuit::{BreakerPermit, CircuitBreaker};
use crate::classify::{Classify, DefaultClassifier};
use crate::error::Error;

/// A breaker permit with what it takes to record the outcome.
pub(crate) struct Recorder<C> {
    breaker: CircuitBreaker,
    permit: BreakerPermit,
    classifier: C,
}

impl<T, E: fmt::Debug, C: Classify<T, E>> Guard<T, E> for Recorder<C> {
    fn finish(self, outcome: Result<&T, &E>) {
        let class = self.classifier.classify(outcome).class;
        match outcome {
            Err(e) => self.breaker.record_with_error(self.permit, class, e),
            Ok(_) => self.breaker.record(self.permit, class),
        }
    }
}

/// Wraps a service in a [`CircuitBreaker`]; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer whose services share `breaker`; every `Err` of the inner service is a
    /// failure, every response a success ([`DefaultClassifier`]).
    pub fn new(breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Decides what each response and error counts as with `classifier` (e.g. a
    /// [`Classifier`](crate::classify::Classifier) for which a 503 response is a
    /// failure and a 404 counts for nothing).
    pub fn with_classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A service that asks a [`CircuitBreaker`] for a permit in `call`, refuses with a
/// [`CircuitOpen`](crate::RejectionKind::CircuitOpen) rejection while it is open, and
/// records the inner service's outcome through the classifier.
///
/// `poll_ready` is always ready. A response future dropped before the inner service
/// answered records nothing (a half-open probe's slot is given back). Clones share the
/// breaker: one opened through any clone refuses on all of them.
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, C = DefaultClassifier> {
    inner: S,
    breaker: CircuitBreaker,
    classifier: C,
}

impl<S> CircuitBreakerService<S> {
    /// Wraps `inner` in `breaker`, with the [`DefaultClassifier`].
    pub fn new(inner: S, breaker: CircuitBreaker) -> Self {
        CircuitBreakerService {
            inner,
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    /// The breaker, for its state and snapshot.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

response_future! {
    /// The response future of [`CircuitBreakerService`]: it records the outcome.
    CircuitBreakerFuture, Recorder<C>, C;
    S::Error: fmt::Debug,
    C: Classify<S::Response, S::Error>,
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req> + Clone,
    S::Error: fmt::Debug,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = CircuitBreakerFuture<S, Req, C>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let inner = match self.breaker.try_acquire() {
            Ok(permit) => {
                let recorder = Recorder {
                    breaker: self.breaker.clone(),
                    permit,
                    classifier: self.classifier.clone(),
                };
                Admitted::holding(recorder, take_inner(&mut self.inner), req)
            }
            Err(r) => Admitted::refused(r),
        };
        CircuitBreakerFuture { inner }
    }
}
