//! [`Chaos`]: an injector with a typed substitute outcome (Polly's outcome strategy).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::injector::FaultInjector;
use crate::error::Error;

/// A [`FaultInjector`] that also knows what to answer when a substitute outcome is
/// injected: a stale cache entry, an empty list, an `Err` that looks like the
/// dependency's own (`Ok(response)` with status 503, a connection reset).
///
/// Cheap to clone; clones share the injector and the substitute.
///
/// # Examples
///
/// ```
/// use rampart::chaos::{Chaos, ChaosConfig, FaultInjector};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rampart::ConfigError> {
/// let injector = FaultInjector::new("reviews", &ChaosConfig::enabled().with_substitute_rate(1.0))?;
/// let chaos: Chaos<Vec<&str>, &str> = Chaos::new(injector, || Ok(Vec::new()));
/// let reviews = chaos.call(|| async { Ok(vec!["great"]) }).await;
/// assert_eq!(reviews, Ok(Vec::new()));
/// # Ok(())
/// # }
/// ```
pub struct Chaos<T, E> {
    injector: FaultInjector,
    substitute: Arc<dyn Fn() -> Result<T, E> + Send + Sync>,
}

impl<T, E> Chaos<T, E> {
    /// `injector`, answering `substitute()` for calls that get a substitute outcome.
    pub fn new(
        injector: FaultInjector,
        substitute: impl Fn() -> Result<T, E> + Send + Sync + 'static,
    ) -> Self {
        Chaos {
            injector,
            substitute: Arc::new(substitute),
        }
    }

    /// The injector, to switch it or change its rates.
    pub fn injector(&self) -> &FaultInjector {
        &self.injector
    }

    /// Runs `op` through the injector: waits the injected latency on tokio's timer,
    /// then fails, answers the substitute, or runs `op`.
    ///
    /// # Errors
    ///
    /// `Error::Rejected` for an injected failure, `Error::Operation` for the error of
    /// `op` or of the substitute.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the wait or `op`; nothing is held.
    pub async fn call<F, Fut>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.injector
            .call_with_substitute(op, Some(|| (self.substitute)()))
            .await
    }

    /// The blocking form of [`call`](Self::call); the latency is a blocking sleep on
    /// the injector's clock.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_blocking(&self, op: impl FnOnce() -> Result<T, E>) -> Result<T, Error<E>> {
        let substitute = || (self.substitute)();
        self.injector.call_blocking_with(op, Some(substitute))
    }
}

impl<T, E> Clone for Chaos<T, E> {
    fn clone(&self) -> Self {
        Chaos {
            injector: self.injector.clone(),
            substitute: self.substitute.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Chaos<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("injector", &self.injector)
            .finish_non_exhaustive()
    }
}
