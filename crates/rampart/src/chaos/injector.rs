//! The injector handle: switches and rates in atomics, a call counter, and the fixed
//! plans of the schedules, shared by its clones.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::config::ChaosConfig;
use super::draw::{draw, random_seed, rate, threshold, Stream};
use super::fault::{Fault, FaultAction};
use super::schedule::{imposed, needs_clock, Plan};
use crate::clock::{default_clock, duration_to_nanos, Clock};
use crate::config::{in_range, positive, ConfigError};
use crate::error::{Error, Rejection, RejectionKind};
use crate::event::{EventKind, Events, Listener};

/// A side effect run before some calls (Polly's behavior strategy): kill a connection,
/// fill a disk, flip a flag.
pub type Behavior = Arc<dyn Fn() + Send + Sync>;

struct Inner {
    /// The master switch, read first by every decision.
    enabled: AtomicBool,
    /// Calls decided while enabled since the origin.
    calls: AtomicU64,
    /// Calls that got a fault.
    injected: AtomicU64,
    /// Thresholds of the random draws (see `draw::threshold`).
    fail: AtomicU64,
    latency_rate: AtomicU64,
    substitute: AtomicU64,
    behavior: AtomicU64,
    /// The random latency in nanoseconds; 0 for none.
    latency_nanos: AtomicU64,
    /// The clock reading schedules' time is measured from.
    origin: AtomicU64,
    seed: u64,
    plans: Box<[Plan]>,
    needs_clock: bool,
    clock: Arc<dyn Clock>,
    name: Arc<str>,
    events: OnceLock<Events>,
    behavior_fn: OnceLock<Behavior>,
}

/// Injects errors, latency, substitute outcomes and behaviors into calls, at random
/// rates and on deterministic schedules; switchable at run time.
///
/// Cheap to clone; clones share the switches, the rates and the call counter.
/// `Send + Sync`. See the [module docs](super) for the rules and an example.
#[derive(Clone)]
pub struct FaultInjector {
    inner: Arc<Inner>,
}

impl FaultInjector {
    /// An injector named `name` (the pipeline's name, used in rejections and events)
    /// with `config`, on the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ChaosConfig::validate`].
    pub fn new(name: &str, config: &ChaosConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, default_clock())
    }

    /// An injector whose schedules take their time from `clock` (a
    /// [`ManualClock`](crate::clock::ManualClock) in synchronous tests).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ChaosConfig::validate`].
    pub fn with_clock(
        name: &str,
        config: &ChaosConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let plans = config.plans()?;
        Ok(FaultInjector {
            inner: Arc::new(Inner {
                enabled: AtomicBool::new(config.enabled),
                calls: AtomicU64::new(0),
                injected: AtomicU64::new(0),
                fail: AtomicU64::new(threshold(config.failure_rate)),
                latency_rate: AtomicU64::new(threshold(config.latency_rate)),
                substitute: AtomicU64::new(threshold(config.substitute_rate)),
                behavior: AtomicU64::new(threshold(config.behavior_rate)),
                latency_nanos: AtomicU64::new(config.latency.map_or(0, duration_to_nanos)),
                origin: AtomicU64::new(clock.now_nanos()),
                seed: config.seed.unwrap_or_else(random_seed),
                needs_clock: needs_clock(&plans),
                plans: plans.into_boxed_slice(),
                clock,
                name: name.into(),
                events: OnceLock::new(),
                behavior_fn: OnceLock::new(),
            }),
        })
    }

    /// Reports every injected fault to `listener` as
    /// [`EventKind::FaultInjected`].
    ///
    /// Call it right after construction. On an injector that already has clones it
    /// still takes effect for all of them, but only if no listener was set before.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        let _ = self.inner.events.set(Events::new(Some(listener)));
        self
    }

    /// Runs `behavior` before the calls that `behavior_rate` picks.
    ///
    /// Like [`with_listener`](Self::with_listener), it takes effect only if no behavior
    /// was set before.
    pub fn with_behavior(self, behavior: impl Fn() + Send + Sync + 'static) -> Self {
        let _ = self.inner.behavior_fn.set(Arc::new(behavior));
        self
    }

    /// Decides the faults of one call (one attempt, in a pipeline that retries).
    ///
    /// When injection is off, this is one relaxed atomic load and a branch: no clock
    /// read, no counter, no draw. When on, it numbers the call, reads the clock if a
    /// schedule has a time window, draws for each kind of fault with a non-zero rate,
    /// runs the behavior if one was drawn, and reports a fault that is not
    /// [`Fault::NONE`] to the listener. Lock-free; allocates nothing.
    #[inline]
    pub fn decide(&self) -> Fault {
        if !self.inner.enabled.load(Relaxed) {
            return Fault::NONE;
        }
        self.decide_enabled()
    }

    #[inline(never)]
    fn decide_enabled(&self) -> Fault {
        let inner = &*self.inner;
        let call = inner.calls.fetch_add(1, Relaxed).wrapping_add(1);
        let elapsed = inner.needs_clock.then(|| {
            inner
                .clock
                .now_nanos()
                .saturating_sub(inner.origin.load(Relaxed))
        });
        let forced = imposed(&inner.plans, call, elapsed);
        let hits = |threshold: &AtomicU64, stream: Stream| {
            let t = threshold.load(Relaxed);
            t != 0 && draw(inner.seed, call, stream) < t
        };
        let mut latency = forced.latency;
        let random_latency = inner.latency_nanos.load(Relaxed);
        if random_latency != 0 && hits(&inner.latency_rate, Stream::Latency) {
            latency = latency.saturating_add(random_latency);
        }
        let action = if forced.fail || hits(&inner.fail, Stream::Fail) {
            FaultAction::Fail
        } else if forced.substitute || hits(&inner.substitute, Stream::Substitute) {
            FaultAction::Substitute
        } else {
            FaultAction::Run
        };
        let behavior = hits(&inner.behavior, Stream::Behavior)
            && inner.behavior_fn.get().map(|f| f()).is_some();
        let fault = Fault {
            latency: (latency != 0).then(|| Duration::from_nanos(latency)),
            action,
            behavior,
        };
        if !fault.is_none() {
            inner.injected.fetch_add(1, Relaxed);
            if let Some(events) = inner.events.get() {
                events.emit(&inner.name, || EventKind::FaultInjected { call, fault });
            }
        }
        fault
    }

    /// The rejection an injected failure returns: kind
    /// [`Injected`](RejectionKind::Injected), policy `"chaos"`.
    pub fn rejection(&self) -> Rejection {
        Rejection::new(self.inner.name.clone(), "chaos", RejectionKind::Injected)
    }

    /// Runs `op` through the injector: waits the injected latency on tokio's timer,
    /// then fails with [`rejection`](Self::rejection) or runs `op`. A substitute
    /// outcome, having no value here, runs `op`; see
    /// [`call_with_substitute`](Self::call_with_substitute) and [`Chaos`](super::Chaos).
    ///
    /// # Errors
    ///
    /// `Error::Rejected` for an injected failure, `Error::Operation` for `op`'s error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the wait or `op`; nothing is held.
    pub async fn call<T, E, F, Fut>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with_substitute(op, None::<fn() -> Result<T, E>>)
            .await
    }

    /// As [`call`](Self::call), returning `substitute()` instead of running `op` when a
    /// substitute outcome is injected (if `substitute` is `Some`).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); a substitute's `Err` is `Error::Operation`.
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub async fn call_with_substitute<T, E, F, Fut, S>(
        &self,
        op: F,
        substitute: Option<S>,
    ) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        S: FnOnce() -> Result<T, E>,
    {
        let fault = self.decide();
        if let Some(d) = fault.latency {
            tokio::time::sleep(d).await;
        }
        match (fault.action, substitute) {
            (FaultAction::Fail, _) => Err(Error::Rejected(self.rejection())),
            (FaultAction::Substitute, Some(s)) => s().map_err(Error::Operation),
            _ => op().await.map_err(Error::Operation),
        }
    }

    /// The blocking form of [`call`](Self::call): the latency is a blocking sleep on
    /// the injector's clock (instant on a [`ManualClock`](crate::clock::ManualClock),
    /// which it advances).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_blocking<T, E>(&self, op: impl FnOnce() -> Result<T, E>) -> Result<T, Error<E>> {
        self.call_blocking_with(op, None::<fn() -> Result<T, E>>)
    }

    /// The blocking form of [`call_with_substitute`](Self::call_with_substitute).
    pub(super) fn call_blocking_with<T, E>(
        &self,
        op: impl FnOnce() -> Result<T, E>,
        substitute: Option<impl FnOnce() -> Result<T, E>>,
    ) -> Result<T, Error<E>> {
        let fault = self.decide();
        if let Some(d) = fault.latency {
            self.inner.clock.sleep_blocking(d);
        }
        match (fault.action, substitute) {
            (FaultAction::Fail, _) => Err(Error::Rejected(self.rejection())),
            (FaultAction::Substitute, Some(s)) => s().map_err(Error::Operation),
            _ => op().map_err(Error::Operation),
        }
    }

    /// Switches injection on or off, for this injector and its clones.
    pub fn set_enabled(&self, enabled: bool) {
        self.inner.enabled.store(enabled, Relaxed);
    }

    /// Sets the share of calls that fail.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `chaos.failure_rate` outside 0 to 1; the rate is then
    /// unchanged.
    pub fn set_failure_rate(&self, rate: f64) -> Result<(), ConfigError> {
        set_rate(&self.inner.fail, "failure_rate", rate)
    }

    /// Sets the random latency; `None` for none.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `chaos.latency` when it is zero; the latency is then
    /// unchanged.
    pub fn set_latency(&self, latency: Option<Duration>) -> Result<(), ConfigError> {
        if let Some(d) = latency {
            positive("latency", d).map_err(|e| e.within("chaos"))?;
        }
        let nanos = latency.map_or(0, duration_to_nanos);
        self.inner.latency_nanos.store(nanos, Relaxed);
        Ok(())
    }

    /// Sets the share of calls that get the random latency.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `chaos.latency_rate` outside 0 to 1.
    pub fn set_latency_rate(&self, rate: f64) -> Result<(), ConfigError> {
        set_rate(&self.inner.latency_rate, "latency_rate", rate)
    }

    /// Sets the share of calls whose outcome is substituted.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `chaos.substitute_rate` outside 0 to 1.
    pub fn set_substitute_rate(&self, rate: f64) -> Result<(), ConfigError> {
        set_rate(&self.inner.substitute, "substitute_rate", rate)
    }

    /// Sets the share of calls before which the behavior runs.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `chaos.behavior_rate` outside 0 to 1.
    pub fn set_behavior_rate(&self, rate: f64) -> Result<(), ConfigError> {
        set_rate(&self.inner.behavior, "behavior_rate", rate)
    }

    /// Starts the call numbers and the schedules' time afresh from now (a new game
    /// day on a long-lived injector). Calls deciding at the same moment may be numbered
    /// from either side of the restart.
    pub fn restart(&self) {
        self.inner.calls.store(0, Relaxed);
        self.inner
            .origin
            .store(self.inner.clock.now_nanos(), Relaxed);
    }

    /// True when injection is on.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Relaxed)
    }

    /// The share of calls that fail (within 2^-53 of the rate set).
    pub fn failure_rate(&self) -> f64 {
        rate(self.inner.fail.load(Relaxed))
    }

    /// The random latency, if any.
    pub fn latency(&self) -> Option<Duration> {
        let n = self.inner.latency_nanos.load(Relaxed);
        (n != 0).then(|| Duration::from_nanos(n))
    }

    /// The share of calls that get the random latency.
    pub fn latency_rate(&self) -> f64 {
        rate(self.inner.latency_rate.load(Relaxed))
    }

    /// The share of calls whose outcome is substituted.
    pub fn substitute_rate(&self) -> f64 {
        rate(self.inner.substitute.load(Relaxed))
    }

    /// The share of calls before which the behavior runs.
    pub fn behavior_rate(&self) -> f64 {
        rate(self.inner.behavior.load(Relaxed))
    }

    /// The seed of the random draws: log it to replay a run with
    /// [`ChaosConfig::with_seed`].
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// Calls decided while injection was on, since construction or the last
    /// [`restart`](Self::restart).
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Relaxed)
    }

    /// Calls that got a fault since construction.
    pub fn injected(&self) -> u64 {
        self.inner.injected.load(Relaxed)
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

fn set_rate(slot: &AtomicU64, field: &str, rate: f64) -> Result<(), ConfigError> {
    in_range(field, rate, 0.0, 1.0).map_err(|e| e.within("chaos"))?;
    slot.store(threshold(rate), Relaxed);
    Ok(())
}

impl fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjector")
            .field("name", &self.name())
            .field("enabled", &self.is_enabled())
            .field("failure_rate", &self.failure_rate())
            .field("latency", &self.latency())
            .field("latency_rate", &self.latency_rate())
            .field("substitute_rate", &self.substitute_rate())
            .field("behavior_rate", &self.behavior_rate())
            .field("seed", &self.seed())
            .field("schedules", &self.inner.plans.len())
            .field("calls", &self.calls())
            .field("injected", &self.injected())
            .finish()
    }
}
