//! What a direct limiter and every key of a keyed limiter share: the quota, the clock,
//! the name, the listener and the rejection count, and the lock-free step that takes
//! tokens from one bucket.
//!
//! Buckets keep time in the clock's ticks ([`TickClock`]): the time-stamp counter's raw
//! count on the default clock, nanoseconds on any other. The quota is turned into ticks
//! when it is set, and a wait back into nanoseconds when it leaves the limiter, so a
//! check never scales a reading.

use std::sync::{Arc, OnceLock, PoisonError};
use std::time::Duration;

use super::config::RateLimitConfig;
use super::gcra::Verdict;
use super::quota::QuotaCell;
use crate::clock::TickClock;
use crate::config::ConfigError;
use crate::error::{Rejection, RejectionKind};
use crate::event::{Event, EventKind, Listener};
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// Why tokens were not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Come back after this many ticks of the limiter's clock.
    Wait(u64),
    /// More tokens than the burst: never.
    Never,
}

/// One bucket's state at one instant.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    /// Whole tokens in it.
    pub(super) available: u32,
    /// Time until it is full again.
    pub(super) full_in: Duration,
}

/// The quota, clock and bookkeeping of one limiter (direct or keyed).
pub(super) struct Shared {
    pub(super) name: Arc<str>,
    pub(super) quota: QuotaCell,
    /// The configuration in force, for snapshots (written with the quota).
    config: std::sync::Mutex<RateLimitConfig>,
    pub(super) rejected: AtomicU64,
    pub(super) clock: TickClock,
    listener: OnceLock<Arc<dyn Listener>>,
}

impl Shared {
    /// Validates `config` and shares it, on `clock`'s ticks.
    pub(super) fn new(
        name: &str,
        config: RateLimitConfig,
        clock: TickClock,
    ) -> Result<Self, ConfigError> {
        Ok(Shared {
            name: name.into(),
            quota: QuotaCell::new(config.gcra(|nanos| clock.ticks(nanos))?),
            config: std::sync::Mutex::new(config),
            rejected: AtomicU64::new(0),
            clock,
            listener: OnceLock::new(),
        })
    }

    /// Takes `n` tokens at `now` (in ticks) from the bucket whose TAT is in `cell`: one CAS when
    /// nobody races, retried with the fresh TAT when somebody did.
    ///
    /// The quota is read once: a call racing with a quota change is decided by one of
    /// the two quotas throughout.
    #[inline]
    pub(super) fn take(&self, cell: &AtomicU64, n: u32, now: u64) -> Result<(), Refusal> {
        let quota = self.quota.load();
        let mut tat = cell.load(Relaxed);
        loop {
            match quota.decide(tat, now, n) {
                Verdict::Admit(next) => {
                    match cell.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                        Ok(_) => return Ok(()),
                        Err(actual) => tat = actual,
                    }
                }
                Verdict::Wait(ns) => return Err(Refusal::Wait(ns)),
                Verdict::Never => return Err(Refusal::Never),
            }
        }
    }

    /// The bucket whose TAT is `tat`, now.
    pub(super) fn bucket(&self, tat: u64) -> Bucket {
        let now = self.clock.now();
        let tokens = self.quota.load().available(tat, now);
        Bucket {
            available: u32::try_from(tokens).unwrap_or(u32::MAX),
            full_in: Duration::from_nanos(self.clock.nanos(tat.saturating_sub(now))),
        }
    }

    /// Counts a refusal, reports it, and says it as a rejection.
    #[cold]
    #[inline(never)]
    pub(super) fn refuse(&self, refusal: Refusal) -> Rejection {
        self.rejected.fetch_add(1, Relaxed);
        let retry_after = match refusal {
            Refusal::Wait(ticks) => Some(Duration::from_nanos(self.clock.nanos(ticks))),
            Refusal::Never => None,
        };
        if let Some(l) = self.listener.get() {
            l.on_event(&Event {
                pipeline: &self.name,
                kind: EventKind::RateLimited { retry_after },
            });
        }
        let r = Rejection::new(
            Arc::clone(&self.name),
            "rate_limit",
            RejectionKind::RateLimited,
        );
        match retry_after {
            Some(d) => r.with_retry_after(d),
            None => r,
        }
    }

    /// Replaces the quota, then calls `each` with a function that moves one bucket's
    /// TAT over to it (see [`Gcra::rescale`](super::gcra::Gcra::rescale)); `each` applies it to every bucket.
    pub(super) fn set_quota(
        &self,
        config: RateLimitConfig,
        each: impl FnOnce(&dyn Fn(&AtomicU64)),
    ) -> Result<(), ConfigError> {
        let to = config.gcra(|nanos| self.clock.ticks(nanos))?;
        // Held throughout, so that quota changes apply one after the other.
        let mut current = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let from = self.quota.load();
        self.quota.store(to);
        *current = config;
        let now = self.clock.now();
        each(&|cell: &AtomicU64| {
            let _ = cell.fetch_update(Relaxed, Relaxed, |tat| Some(from.rescale(tat, now, to)));
        });
        Ok(())
    }

    /// The configuration in force.
    pub(super) fn config(&self) -> RateLimitConfig {
        *self.config.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the listener, if none was set before.
    pub(super) fn set_listener(&self, listener: Arc<dyn Listener>) {
        let _ = self.listener.set(listener);
    }

    /// Sleeps `ticks` of the limiter's clock on tokio's timer (which rounds up to whole
    /// milliseconds).
    pub(super) async fn wait(&self, ticks: u64) {
        tokio::time::sleep(Duration::from_nanos(self.clock.nanos(ticks))).await;
    }
}
