//! A named dependency check, and the slot that runs it once for concurrent probes and
//! caches its result.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{duration_to_nanos, Clock};
use crate::config::{positive, ConfigError};

/// The boxed future a check returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// A named asynchronous check of one dependency, for readiness or startup.
///
/// The closure makes a new future for each run; `Ok(())` means healthy, an error's text
/// is shown in the report. It runs under its own timeout, and its result is cached, so
/// it should be one cheap round trip (`SELECT 1`, a ping) and must not go through a
/// circuit breaker: an open breaker would then fail readiness and take the instance out
/// of the load balancer, the seeds' trap.
///
/// # Examples
///
/// ```
/// use rampart::health::Check;
/// use std::time::Duration;
///
/// let database = Check::new("database", || async { Ok::<(), String>(()) })
///     .with_timeout(Duration::from_secs(1));
/// let recommendations = Check::new("recommendations", || async { Err("503") }).optional();
/// assert!(database.is_critical());
/// assert!(!recommendations.is_critical());
/// ```
#[must_use]
pub struct Check {
    name: String,
    run: CheckFn,
    timeout: Option<Duration>,
    cache_ttl: Option<Duration>,
    critical: bool,
}

impl Check {
    /// A critical check named `name` that runs `check`, with the registry's timeout and
    /// cache interval.
    pub fn new<F, Fut, E>(name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let run: CheckFn = Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) }) as CheckFuture
        });
        Check {
            name: name.into(),
            run,
            timeout: None,
            cache_ttl: None,
            critical: true,
        }
    }

    /// Its own timeout instead of the registry's `check_timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Its own cache interval instead of the registry's `cache_ttl`.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Makes it non-critical: when it fails, readiness is degraded (still 200), not down.
    pub fn optional(self) -> Self {
        self.with_critical(false)
    }

    /// Sets whether a failure takes readiness down (true, the default) or only degrades
    /// it.
    pub fn with_critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a failure takes readiness down.
    pub fn is_critical(&self) -> bool {
        self.critical
    }

    /// The slot that runs it, with the registry's settings filled in.
    pub(super) fn into_slot(
        self,
        probe: &str,
        default_timeout: Duration,
        default_ttl: Duration,
        latch: bool,
    ) -> Result<Slot, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new(
                format!("health.{probe}"),
                "a check needs a name",
            ));
        }
        let field = format!("health.{probe}.{}", self.name);
        let timeout = self.timeout.unwrap_or(default_timeout);
        positive("timeout", timeout).map_err(|e| e.within(&field))?;
        Ok(Slot {
            name: self.name.into(),
            critical: self.critical,
            timeout,
            ttl_ns: duration_to_nanos(self.cache_ttl.unwrap_or(default_ttl)),
            latch,
            run: self.run,
            state: Mutex::new(SlotState::default()),
        })
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("critical", &self.critical)
            .finish_non_exhaustive()
    }
}

/// What one run of a check found.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub(super) result: Result<(), String>,
    /// When the run ended, on the registry's clock.
    pub(super) finished_at: u64,
    pub(super) took: Duration,
}

/// What a probe does next.
enum Step {
    Done(Outcome),
    Lead(watch::Sender<Option<Outcome>>),
    Wait(watch::Receiver<Option<Outcome>>),
}

#[derive(Default)]
struct SlotState {
    last: Option<Outcome>,
    /// Present while a run is under way: probes that arrive meanwhile wait for it.
    running: Option<watch::Receiver<Option<Outcome>>>,
}

/// A registered check: runs it at most once at a time and caches what it found.
pub(super) struct Slot {
    pub(super) name: Box<str>,
    pub(super) critical: bool,
    timeout: Duration,
    ttl_ns: u64,
    /// For startup checks: a success is kept for good.
    latch: bool,
    run: CheckFn,
    state: Mutex<SlotState>,
}

impl Slot {
    /// The last outcome if it is still fresh, else the outcome of a run: the one under
    /// way if there is one, else a new one this call leads.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future of the probe that leads a run drops the run; probes waiting
    /// for it then start another.
    pub(super) async fn probe(&self, clock: &dyn Clock) -> Outcome {
        loop {
            let step = {
                let mut state = self.lock();
                match (&state.last, &state.running) {
                    (Some(last), _) if self.is_fresh(last, clock.now_nanos()) => {
                        Step::Done(last.clone())
                    }
                    (_, Some(rx)) => Step::Wait(rx.clone()),
                    (_, None) => {
                        let (tx, rx) = watch::channel(None);
                        state.running = Some(rx);
                        Step::Lead(tx)
                    }
                }
            };
            let mut waiting = match step {
                Step::Done(outcome) => return outcome,
                Step::Lead(tx) => return self.lead(tx, clock).await,
                Step::Wait(rx) => rx,
            };
            let found = waiting
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|o| o.clone());
            if let Some(outcome) = found {
                return outcome;
            }
            // The leading probe was dropped before the run ended: look again.
        }
    }

    /// The last outcome, without running anything.
    pub(super) fn last(&self) -> Option<Outcome> {
        self.lock().last.clone()
    }

    fn is_fresh(&self, outcome: &Outcome, now: u64) -> bool {
        (self.latch && outcome.result.is_ok())
            || now.saturating_sub(outcome.finished_at) < self.ttl_ns
    }

    async fn lead(&self, tx: watch::Sender<Option<Outcome>>, clock: &dyn Clock) -> Outcome {
        let lead = Lead {
            slot: self,
            tx: Some(tx),
        };
        let start = clock.now_nanos();
        let result = match tokio::time::timeout(self.timeout, (self.run)()).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {:?}", self.timeout)),
        };
        let finished_at = clock.now_nanos();
        let outcome = Outcome {
            result,
            finished_at,
            took: Duration::from_nanos(finished_at.saturating_sub(start)),
        };
        lead.finish(outcome.clone());
        outcome
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The probe leading a run. Dropped without [`finish`](Self::finish) (the probe was
/// cancelled), it clears the run so that the next probe starts one; its sender goes
/// with it, which wakes the waiting probes.
struct Lead<'a> {
    slot: &'a Slot,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl Lead<'_> {
    fn finish(mut self, outcome: Outcome) {
        {
            let mut state = self.slot.lock();
            state.last = Some(outcome.clone());
            state.running = None;
        }
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.slot.lock().running = None;
        }
    }
}
