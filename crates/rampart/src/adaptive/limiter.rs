//! The handle: lock-free admission against the published limit, and a short mutex
//! around the algorithm when a call reports its outcome.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::config::AdaptiveConfig;
use super::core::{Core, Sample};
use super::permit::{AdaptivePermit, Holder};
use crate::clock::{default_clock, Clock};
use crate::config::ConfigError;
use crate::error::{Rejection, RejectionKind};
use crate::event::{Event, EventKind, Listener};
use crate::sync::{self, AtomicU64, Mutex, Ordering};

/// A bulkhead whose size follows the measured latency. See the [module docs](super).
///
/// Cheap to clone; clones share the state. `Send + Sync`.
#[derive(Clone)]
pub struct AdaptiveLimiter {
    inner: Arc<Inner>,
}

/// The state shared by a limiter's clones and its permits.
pub(crate) struct Inner {
    name: Arc<str>,
    config: AdaptiveConfig,
    clock: Arc<dyn Clock>,
    /// The limit admission enforces, published by the algorithm.
    limit: AtomicU64,
    in_flight: AtomicU64,
    rejected: AtomicU64,
    core: Mutex<Core>,
    listener: OnceLock<Arc<dyn Listener>>,
}

/// An adaptive limiter's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdaptiveSnapshot {
    /// The limit enforced now.
    pub limit: u32,
    /// Calls holding a permit now.
    pub in_flight: u64,
    /// Calls refused so far.
    pub rejected: u64,
    /// The configured lower bound.
    pub min_limit: u32,
    /// The configured upper bound.
    pub max_limit: u32,
    /// The gradient algorithm's no-load latency, once measured.
    pub no_load_rtt: Option<Duration>,
    /// True while the gradient algorithm measures the no-load latency at the minimum
    /// limit.
    pub measuring_no_load: bool,
}

impl AdaptiveLimiter {
    /// A limiter named `name` (the pipeline's name, used in rejections and events) that
    /// takes its time from the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`AdaptiveConfig::validate`].
    pub fn new(name: &str, config: AdaptiveConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, default_clock())
    }

    /// A limiter that takes its time from `clock` (a
    /// [`ManualClock`](crate::clock::ManualClock) in tests).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`AdaptiveConfig::validate`].
    pub fn with_clock(
        name: &str,
        config: AdaptiveConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let core = Core::new(&config, clock.now_nanos());
        Ok(AdaptiveLimiter {
            inner: Arc::new(Inner {
                name: name.into(),
                config,
                clock,
                limit: AtomicU64::new(u64::from(core.limit())),
                in_flight: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                core: Mutex::new(core),
                listener: OnceLock::new(),
            }),
        })
    }

    /// Reports limit changes to `listener`.
    ///
    /// Call it right after construction; it takes effect only if no listener was set
    /// before.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        let _ = self.inner.listener.set(listener);
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Asks to make a call now; never waits.
    ///
    /// Admitted while fewer calls than the limit are in flight (a compare-and-swap on
    /// the in-flight count); the permit reads the clock once to time the call. Report
    /// the outcome with [`AdaptivePermit::success`] or [`AdaptivePermit::dropped`].
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`RejectionKind::BulkheadFull`] by policy
    /// `"adaptive_concurrency"`.
    #[inline]
    pub fn try_acquire(&self) -> Result<AdaptivePermit<'_>, Rejection> {
        let (start, in_flight) = self.inner.take_slot()?;
        Ok(AdaptivePermit::new(
            Holder::Borrowed(&self.inner),
            start,
            in_flight,
        ))
    }

    /// Like [`try_acquire`](Self::try_acquire), with a permit that holds a reference to
    /// the limiter and can move to another task.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(&self) -> Result<AdaptivePermit<'static>, Rejection> {
        let (start, in_flight) = self.inner.take_slot()?;
        Ok(AdaptivePermit::new(
            Holder::Owned(Arc::clone(&self.inner)),
            start,
            in_flight,
        ))
    }

    /// The limit enforced now.
    pub fn limit(&self) -> u32 {
        u32::try_from(self.inner.limit.load(Ordering::Acquire)).unwrap_or(u32::MAX)
    }

    /// Calls holding a permit now.
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// The limiter's figures now; changes nothing.
    pub fn snapshot(&self) -> AdaptiveSnapshot {
        let inner = &*self.inner;
        let (no_load, measuring) = {
            let core = sync::lock(&inner.core);
            (core.no_load_rtt(), core.measuring())
        };
        AdaptiveSnapshot {
            limit: self.limit(),
            in_flight: self.in_flight(),
            rejected: inner.rejected.load(Ordering::Relaxed),
            min_limit: inner.config.min_limit,
            max_limit: inner.config.max_limit,
            no_load_rtt: no_load.map(Duration::from_nanos),
            measuring_no_load: measuring,
        }
    }
}

impl Inner {
    /// Counts a call in flight if there is room under the limit; returns its start time
    /// and the in-flight count it makes.
    #[inline]
    fn take_slot(&self) -> Result<(u64, u64), Rejection> {
        let mut n = self.in_flight.load(Ordering::Acquire);
        loop {
            if n >= self.limit.load(Ordering::Acquire) {
                return Err(self.reject());
            }
            match self.in_flight.compare_exchange_weak(
                n,
                n + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok((self.clock.now_nanos(), n + 1)),
                Err(now) => n = now,
            }
        }
    }

    #[cold]
    fn reject(&self) -> Rejection {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        Rejection::new(
            Arc::clone(&self.name),
            "adaptive_concurrency",
            RejectionKind::BulkheadFull,
        )
    }

    /// Gives a permit's slot back and, with an outcome, feeds the algorithm.
    pub(super) fn finish(&self, start: u64, in_flight: u64, dropped: Option<bool>) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let Some(dropped) = dropped else { return };
        let sample = Sample {
            start,
            end: self.clock.now_nanos(),
            in_flight,
            dropped,
        };
        let (from, to) = {
            let mut core = sync::lock(&self.core);
            let from = core.limit();
            core.on_sample(sample);
            let to = core.limit();
            if to != from {
                // Published under the lock, so racing updates cannot publish out of order.
                self.limit.store(u64::from(to), Ordering::Release);
            }
            (from, to)
        };
        if from != to {
            if let Some(l) = self.listener.get() {
                l.on_event(&Event {
                    pipeline: &self.name,
                    kind: EventKind::ConcurrencyLimitChanged { from, to },
                });
            }
        }
    }
}

impl fmt::Debug for AdaptiveLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("name", &self.inner.name)
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}
