//! The handle: one atomic state word read per call, lock-free outcome recording, and a
//! mutex only for transitions (in `transition`).

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use super::config::BreakerConfig;
use super::logic::{open_step, OpenStep, Word};
use super::permit::BreakerPermit;
use super::plan::Plan;
use super::state::{BreakerSnapshot, BreakerState};
use super::window::{Line, Tracker};
use crate::clock::{default_clock, Clock, InlineClock};
use crate::config::ConfigError;
use crate::error::{Rejection, RejectionKind};
use crate::event::{EventKind, Listener};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering::SeqCst};

/// A circuit breaker: stops calling a dependency that keeps failing, then probes it.
///
/// Cheap to clone; clones share the state. `Send + Sync`. See the [module
/// docs](super) for the states and an example.
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(super) inner: Arc<Inner>,
}

/// The state shared by a breaker's clones and its probe permits.
pub(crate) struct Inner {
    pub(super) name: std::sync::Arc<str>,
    pub(super) plan: Plan,
    pub(super) clock: InlineClock,
    pub(super) listener: OnceLock<std::sync::Arc<dyn Listener>>,
    /// The state word (see [`Word`]): read by every call, written by transitions and
    /// probes only, so it gets lines of its own.
    pub(super) word: Line<AtomicU64>,
    /// Open: when a probe may go. Half-open: when it gives up (`u64::MAX`: never).
    pub(super) deadline: AtomicU64,
    /// Opens since the last close (written under `lock`).
    pub(super) opens: AtomicU64,
    pub(super) tracker: Tracker,
    /// Serialises transitions: every change of epoch happens under it.
    pub(super) lock: Mutex<()>,
}

impl CircuitBreaker {
    /// A breaker named `name` (the pipeline's name, used in rejections and events) that
    /// takes its time from the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`BreakerConfig::validate`].
    pub fn new(name: &str, config: BreakerConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, default_clock())
    }

    /// A breaker that takes its time from `clock` (a
    /// [`ManualClock`](crate::clock::ManualClock) in tests).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`BreakerConfig::validate`].
    pub fn with_clock(
        name: &str,
        config: BreakerConfig,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let plan = config.plan()?;
        let tracker = Tracker::new(&plan, 0);
        Ok(CircuitBreaker {
            inner: Arc::new(Inner {
                name: name.into(),
                plan,
                clock: InlineClock::new(clock),
                listener: OnceLock::new(),
                word: Line(AtomicU64::new(Word::new(BreakerState::Closed, 0).0)),
                deadline: AtomicU64::new(0),
                opens: AtomicU64::new(0),
                tracker,
                lock: Mutex::new(()),
            }),
        })
    }

    /// Reports state changes and rejections to `listener`.
    ///
    /// Call it right after construction. On a breaker that already has clones it still
    /// takes effect for all of them, but only if no listener was set before.
    pub fn with_listener(self, listener: std::sync::Arc<dyn Listener>) -> Self {
        let _ = self.inner.listener.set(listener);
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Asks to make a call now; never waits.
    ///
    /// Closed (and forced closed, disabled, metrics-only): a permit, after one atomic
    /// load. Open: a rejection whose `retry_after` is the time until a probe may go, or,
    /// once the open period is over, the breaker goes half-open. Half-open: a probe
    /// permit while fewer than the permitted probes are out (reserved by CAS, so
    /// concurrent callers never exceed it), else a rejection without `retry_after`.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`RejectionKind::CircuitOpen`] by policy
    /// `"circuit_breaker"`.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<BreakerPermit, Rejection> {
        match self.try_acquire_closed() {
            Some(permit) => Ok(permit),
            None => self.acquire_slow(Word(self.inner.word.load(SeqCst))),
        }
    }

    /// [`try_acquire`](Self::try_acquire)'s answer when the breaker is closed, after one
    /// atomic load; `None` in any other state. A caller that stores the permit avoids
    /// moving it through the larger `Result`.
    #[inline(always)]
    pub(crate) fn try_acquire_closed(&self) -> Option<BreakerPermit> {
        let w = Word(self.inner.word.load(SeqCst));
        match w.state() {
            BreakerState::Closed => Some(self.inner.pass(w)),
            _ => None,
        }
    }

    #[cold]
    fn acquire_slow(&self, mut w: Word) -> Result<BreakerPermit, Rejection> {
        let inner = &*self.inner;
        let mut now = None;
        let mut now = || *now.get_or_insert_with(|| inner.clock.now_nanos());
        loop {
            match w.state() {
                BreakerState::Closed
                | BreakerState::MetricsOnly
                | BreakerState::ForcedClosed
                | BreakerState::Disabled => return Ok(inner.pass(w)),
                BreakerState::ForcedOpen => return Err(inner.reject(None)),
                BreakerState::Open => {
                    let t = now();
                    match open_step(inner.deadline.load(SeqCst), t) {
                        // The deadline read belongs to this open period only if the word
                        // has not moved on meanwhile; otherwise look again.
                        OpenStep::Wait(left) if inner.word.load(SeqCst) == w.0 => {
                            return Err(inner.reject(Some(left)))
                        }
                        OpenStep::Wait(_) => {}
                        OpenStep::HalfOpen => inner.to_half_open(w, t),
                    }
                }
                BreakerState::HalfOpen => {
                    let give_up = inner.deadline.load(SeqCst);
                    if give_up != u64::MAX && now() >= give_up {
                        inner.expire_half_open(w, now());
                    } else if let Some(next) = w.reserve(inner.plan.probes) {
                        if inner
                            .word
                            .compare_exchange(w.0, next.0, SeqCst, SeqCst)
                            .is_ok()
                        {
                            let start = match inner.plan.slow_ns {
                                Some(_) => now(),
                                None => 0,
                            };
                            return Ok(BreakerPermit {
                                word: w,
                                start,
                                probe: Some(Arc::clone(&self.inner)),
                            });
                        }
                    } else {
                        return Err(inner.reject(None));
                    }
                }
            }
            w = Word(inner.word.load(SeqCst));
        }
    }

    /// The state now (one atomic load).
    pub fn state(&self) -> BreakerState {
        Word(self.inner.word.load(SeqCst)).state()
    }

    /// The breaker's figures now; changes nothing.
    pub fn snapshot(&self) -> BreakerSnapshot {
        let inner = &*self.inner;
        let state = Word(inner.word.load(SeqCst)).state();
        let now = inner.clock.now_nanos();
        let counts = inner.tracker.counts(now);
        let time_until_half_open = (state == BreakerState::Open)
            .then(|| Duration::from_nanos(inner.deadline.load(SeqCst).saturating_sub(now)));
        BreakerSnapshot {
            state,
            failure_rate: counts.failure_rate(),
            slow_call_rate: counts.slow_rate(),
            calls_in_window: counts.calls,
            failures_in_window: counts.failures,
            slow_calls_in_window: counts.slow,
            time_until_half_open,
            consecutive_opens: u32::try_from(inner.opens.load(SeqCst)).unwrap_or(u32::MAX),
        }
    }
}

impl Inner {
    /// A permit for a state that admits everything; it reads the clock only to time
    /// a call that counts, with slow-call tracking on.
    #[inline(always)]
    fn pass(&self, w: Word) -> BreakerPermit {
        let counts = matches!(w.state(), BreakerState::Closed | BreakerState::MetricsOnly);
        let start = match self.plan.slow_ns {
            Some(_) if counts => self.clock.now_nanos(),
            _ => 0,
        };
        BreakerPermit {
            word: w,
            start,
            probe: None,
        }
    }

    #[cold]
    fn reject(&self, retry_after_ns: Option<u64>) -> Rejection {
        let retry_after = retry_after_ns.map(Duration::from_nanos);
        self.emit(|| EventKind::CircuitRejected { retry_after });
        let r = Rejection::new(
            std::sync::Arc::clone(&self.name),
            "circuit_breaker",
            RejectionKind::CircuitOpen,
        );
        match retry_after {
            Some(d) => r.with_retry_after(d),
            None => r,
        }
    }

    /// Reports an event built by `make`, which only runs when a listener is present.
    #[inline]
    pub(super) fn emit<'a>(&'a self, make: impl FnOnce() -> EventKind<'a>) {
        if let Some(l) = self.listener.get() {
            l.on_event(&crate::event::Event {
                pipeline: &self.name,
                kind: make(),
            });
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .field("config", &self.inner.plan.mode)
            .finish_non_exhaustive()
    }
}
