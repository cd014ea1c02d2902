//! The handle: lock-free admission by in-flight count and an adaptive probability, with
//! pressure sampled off the hot path.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use super::config::{ShedConfig, ShedLevel};
use super::permit::{Holder, ShedPermit};
use super::pressure::{
    probability_to_threshold, splitmix64, threshold_to_probability, Pressure, PressureSource,
    SPLITMIX_GAMMA,
};
use super::priority::Priority;
use super::system::SystemUsage;
use crate::clock::duration_to_nanos;
use crate::config::ConfigError;
use crate::error::{Rejection, RejectionKind};
use crate::event::{Event, EventKind, Listener};
use crate::sync::{AtomicU64, Ordering};

/// A load shedder: admits requests by priority while the service has room, and turns
/// the least important away first as it fills up. See the [module docs](super).
///
/// Cheap to clone; clones share the state. `Send + Sync`.
#[derive(Clone)]
pub struct LoadShedder {
    pub(super) inner: Arc<Inner>,
}

/// The state shared by a shedder's clones and its permits.
pub(crate) struct Inner {
    name: Arc<str>,
    config: ShedConfig,
    /// Per priority (by rank), the in-flight count below which it is admitted.
    admit_below: [u64; 4],
    pub(super) in_flight: AtomicU64,
    shed: [AtomicU64; 4],
    /// The adaptive shed probability as a threshold on 32 random bits (0: never).
    shed_threshold: AtomicU64,
    /// The state of the SplitMix64 generator the adaptive draws come from.
    rng: AtomicU64,
    /// The latest p95 latency recorded, in nanoseconds.
    latency_p95: AtomicU64,
    listener: OnceLock<Arc<dyn Listener>>,
    sampler: Mutex<Sampler>,
}

struct Sampler {
    source: Option<Box<dyn PressureSource>>,
    pressure: Pressure,
}

/// A shedder's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ShedSnapshot {
    /// Requests holding a permit now.
    pub in_flight: u64,
    /// The in-flight count that is 100 % load.
    pub capacity: u32,
    /// In-flight divided by capacity (above 1 when critical requests overfill it).
    pub load: f64,
    /// The level of the table at this load.
    pub level: ShedLevel,
    /// Requests shed so far, per priority in [`Priority::ALL`] order (critical: always 0).
    pub shed: [u64; 4],
    /// The adaptive shed probability now (0 when adaptive mode is off).
    pub shed_probability: f64,
    /// The pressures of the last sample.
    pub pressure: Pressure,
}

impl ShedSnapshot {
    /// Requests of `priority` shed so far.
    pub fn shed_count(&self, priority: Priority) -> u64 {
        self.shed[priority.rank()]
    }
}

impl LoadShedder {
    /// A shedder named `name` (the pipeline's name, used in rejections and events).
    ///
    /// With adaptive mode on, CPU and memory are read from the operating system
    /// ([`SystemUsage`]) whenever it [samples](Self::sample); the first random draws are
    /// seeded from the thread's generator.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ShedConfig::validate`].
    pub fn new(name: &str, config: ShedConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let source: Option<Box<dyn PressureSource>> = match config.adaptive {
            Some(_) => Some(Box::new(SystemUsage::new())),
            None => None,
        };
        Ok(LoadShedder {
            inner: Arc::new(Inner {
                name: name.into(),
                admit_below: config.admit_below(),
                config,
                in_flight: AtomicU64::new(0),
                shed: [0; 4].map(AtomicU64::new),
                shed_threshold: AtomicU64::new(0),
                rng: AtomicU64::new(rand::random()),
                latency_p95: AtomicU64::new(0),
                listener: OnceLock::new(),
                sampler: Mutex::new(Sampler {
                    source,
                    pressure: Pressure::default(),
                }),
            }),
        })
    }

    /// Reads CPU and memory from `source` instead of the operating system (tests inject
    /// figures this way).
    pub fn with_pressure_source(self, source: impl PressureSource) -> Self {
        self.inner.lock_sampler().source = Some(Box::new(source));
        self
    }

    /// Seeds the generator of the adaptive draws, so that which requests are shed is
    /// reproducible. Shared by all clones.
    pub fn with_seed(self, seed: u64) -> Self {
        self.inner.rng.store(seed, Ordering::Relaxed);
        self
    }

    /// Reports sheds to `listener`.
    ///
    /// Call it right after construction. On a shedder that already has clones it still
    /// takes effect for all of them, but only if no listener was set before.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        let _ = self.inner.listener.set(listener);
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The settings it was built with.
    pub fn config(&self) -> &ShedConfig {
        &self.inner.config
    }

    /// Asks to admit a request of `priority` now; never waits.
    ///
    /// Admitted while the load before it (in-flight / capacity) is below its priority's
    /// threshold and, in adaptive mode, a random draw does not fall under the shed
    /// probability; `Critical` is always admitted. The permit counts the request in
    /// flight until it is dropped. Lock-free: a few atomic operations, no clock read.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`RejectionKind::Shed`] by policy `"shed"`, with the
    /// configured `retry_after` hint.
    #[inline]
    pub fn try_acquire(&self, priority: Priority) -> Result<ShedPermit<'_>, Rejection> {
        self.inner.take_slot(priority)?;
        Ok(ShedPermit {
            holder: Holder::Borrowed(&self.inner),
        })
    }

    /// Like [`try_acquire`](Self::try_acquire), with a permit that holds a reference to
    /// the shedder and can move to another task.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(&self, priority: Priority) -> Result<ShedPermit<'static>, Rejection> {
        self.inner.take_slot(priority)?;
        Ok(ShedPermit {
            holder: Holder::Owned(Arc::clone(&self.inner)),
        })
    }

    /// The level table's decision for `priority` at an external `load` figure (a
    /// fraction: 0.7 is 70 %): pure, with no adaptive draw and no counting.
    pub fn check(&self, priority: Priority, load: f64) -> bool {
        self.inner.config.admits(priority, load)
    }

    /// Decides on a request of `priority` at an external `load` figure, when the caller
    /// tracks the load itself: the level table, then the adaptive draw. Counts and
    /// reports a shed; tracks nothing in flight.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn admit(&self, priority: Priority, load: f64) -> Result<(), Rejection> {
        let inner = &*self.inner;
        if !inner.config.admits(priority, load) || inner.draw_sheds(priority) {
            return Err(inner.shed(priority, load));
        }
        Ok(())
    }

    /// Records the latest p95 latency, for the next [`sample`](Self::sample).
    pub fn record_latency_p95(&self, p95: Duration) {
        self.inner
            .latency_p95
            .store(duration_to_nanos(p95), Ordering::Relaxed);
    }

    /// Reads CPU and memory from the pressure source, combines them with the last
    /// recorded p95 latency, and sets the shed probability from them. Returns the
    /// pressures. Does nothing (and returns no pressure) when adaptive mode is off.
    ///
    /// Call it on an interval of your choosing, or let
    /// [`spawn_sampler`](Self::spawn_sampler) do it; admission never samples.
    pub fn sample(&self) -> Pressure {
        let inner = &*self.inner;
        let Some(adaptive) = inner.config.adaptive else {
            return Pressure::default();
        };
        let mut sampler = inner.lock_sampler();
        let usage = sampler
            .source
            .as_mut()
            .map(|s| s.read())
            .unwrap_or_default();
        let p95 = Duration::from_nanos(inner.latency_p95.load(Ordering::Relaxed));
        let pressure = Pressure::compute(&adaptive, usage, p95);
        sampler.pressure = pressure;
        inner.shed_threshold.store(
            probability_to_threshold(pressure.probability()),
            Ordering::Relaxed,
        );
        pressure
    }

    /// Spawns a tokio task that [samples](Self::sample) every
    /// [`sample_every`](super::AdaptiveShedConfig::sample_every) (1 s by default),
    /// starting at once, until every clone of this shedder is dropped or the returned
    /// handle is aborted. Under paused tokio time it follows the virtual clock.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn_sampler(&self) -> tokio::task::JoinHandle<()> {
        let every = self
            .inner
            .config
            .adaptive
            .map_or(Duration::from_secs(1), |a| a.sample_every);
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match weak.upgrade() {
                    Some(inner) => {
                        LoadShedder { inner }.sample();
                    }
                    None => break,
                }
            }
        })
    }

    /// The shed probability now: 0 to 1, 0 when adaptive mode is off.
    pub fn shed_probability(&self) -> f64 {
        threshold_to_probability(self.inner.shed_threshold.load(Ordering::Relaxed))
    }

    /// Requests holding a permit now.
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// The shedder's figures now; changes nothing.
    pub fn snapshot(&self) -> ShedSnapshot {
        let inner = &*self.inner;
        let in_flight = inner.in_flight.load(Ordering::Acquire);
        let load = inner.load_of(in_flight);
        ShedSnapshot {
            in_flight,
            capacity: inner.config.capacity,
            load,
            level: inner.config.level(load),
            shed: [0, 1, 2, 3].map(|i| inner.shed[i].load(Ordering::Relaxed)),
            shed_probability: self.shed_probability(),
            pressure: inner.lock_sampler().pressure,
        }
    }
}

impl Inner {
    /// Counts a request of `priority` in flight if it is admitted.
    #[inline]
    fn take_slot(&self, priority: Priority) -> Result<(), Rejection> {
        let below = self.admit_below[priority.rank()];
        let mut n = self.in_flight.load(Ordering::Acquire);
        if n >= below || self.draw_sheds(priority) {
            return Err(self.shed(priority, self.load_of(n)));
        }
        loop {
            match self.in_flight.compare_exchange_weak(
                n,
                n + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(now) if now >= below => return Err(self.shed(priority, self.load_of(now))),
                Err(now) => n = now,
            }
        }
    }

    /// In adaptive mode, true when a random draw falls under the shed probability.
    #[inline]
    fn draw_sheds(&self, priority: Priority) -> bool {
        let threshold = self.shed_threshold.load(Ordering::Relaxed);
        if threshold == 0 || priority == Priority::Critical {
            return false;
        }
        let state = self.rng.fetch_add(SPLITMIX_GAMMA, Ordering::Relaxed);
        (splitmix64(state.wrapping_add(SPLITMIX_GAMMA)) >> 32) < threshold
    }

    fn load_of(&self, in_flight: u64) -> f64 {
        in_flight as f64 / f64::from(self.config.capacity)
    }

    #[cold]
    fn shed(&self, priority: Priority, load: f64) -> Rejection {
        self.shed[priority.rank()].fetch_add(1, Ordering::Relaxed);
        if let Some(l) = self.listener.get() {
            l.on_event(&Event {
                pipeline: &self.name,
                kind: EventKind::LoadShed { priority, load },
            });
        }
        let r = Rejection::new(Arc::clone(&self.name), "shed", RejectionKind::Shed);
        match self.config.retry_after {
            Some(d) => r.with_retry_after(d),
            None => r,
        }
    }

    fn lock_sampler(&self) -> std::sync::MutexGuard<'_, Sampler> {
        self.sampler.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for LoadShedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedder")
            .field("name", &self.inner.name)
            .field("in_flight", &self.in_flight())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
