//! Health probes for Kubernetes and load balancers, and a report of every policy's
//! state for dashboards.
//!
//! A [`HealthRegistry`] answers the three probes the seeds describe, each as a
//! [`ProbeReport`] with a [`Status`], an HTTP status (200 or 503) and JSON:
//!
//! - **Liveness** ([`liveness`](HealthRegistry::liveness)): is the process alive? It is
//!   synchronous and looks at the process only: uptime and the cheap in-process checks
//!   registered with [`add_liveness_check`](HealthRegistry::add_liveness_check). It never
//!   runs a dependency check nor reads a policy, so an open circuit breaker cannot fail
//!   it: the seeds' trap where `/health` pings the payment service through its open
//!   breaker, the load balancer marks every instance unhealthy, and search and catalog go
//!   down with payment.
//! - **Readiness** ([`readiness`](HealthRegistry::readiness)): can it take traffic? It
//!   runs the named dependency [`Check`]s concurrently, each under its own timeout (a
//!   slow one fails with "timed out after 2s"), and caches each result for a short
//!   interval, so that probes from many load balancers cannot stampede a dependency;
//!   probes that arrive while a check runs wait for that run instead of starting
//!   another. A failing critical check makes it down (503); a failing
//!   [optional](Check::optional) one makes it degraded (still 200).
//! - **Startup** ([`startup`](HealthRegistry::startup)): has it finished starting? Down
//!   until every startup check has passed once (and, with `wait_for_start`, until
//!   [`mark_started`](HealthRegistry::mark_started)); readiness is down until then too.
//!
//! The [`dependencies`](HealthRegistry::dependencies) report lists every registered
//! policy's figures (breakers' state, failure rate and time until half-open;
//! bulkheads', limiters' and shedders' utilisation) and every feature flag, read from
//! the policies' snapshots without disturbing them. It is for dashboards, not for a load
//! balancer: its HTTP status is always 200. Routes come with the HTTP integration; a
//! probe handler is `(report.http_status(), report.to_json())`.
//!
//! ```
//! use rampart::circuit::{BreakerConfig, CircuitBreaker};
//! use rampart::health::{Check, HealthRegistry, Status};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let health = HealthRegistry::new();
//! health.add_readiness_check(Check::new("database", || async { Ok::<(), String>(()) }))?;
//! health.add_readiness_check(Check::new("recommendations", || async { Err("503") }).optional())?;
//!
//! let payment = CircuitBreaker::new("payment", BreakerConfig::default())?;
//! health.add_policy("payment", payment.clone());
//! payment.force_open();
//!
//! let live = health.liveness();
//! assert_eq!((live.status, live.http_status()), (Status::Up, 200));
//!
//! let ready = health.readiness().await;
//! assert_eq!((ready.status, ready.http_status()), (Status::Degraded, 200));
//!
//! let deps = health.dependencies();
//! assert_eq!(deps.policy("payment").map(|p| p.status), Some(Status::Down));
//! assert!(deps.to_json().contains(r#""state":"forced_open""#));
//! # Ok(())
//! # }
//! ```
//!
//! # JSON
//!
//! Readiness with a failing optional check (`uptime_ms` and `duration_ms` vary; `error`
//! is left out when there is none; `age_ms` is how old a cached result is):
//!
//! ```json
//! {"probe":"readiness","status":"degraded","started":true,"uptime_ms":120000,
//!  "checks":[
//!   {"name":"database","status":"up","critical":true,"duration_ms":3,"age_ms":1200},
//!   {"name":"recommendations","status":"down","critical":false,
//!    "error":"timed out after 2s","duration_ms":2000,"age_ms":0}]}
//! ```
//!
//! Liveness is `{"probe":"liveness","status":"up","started":true,"uptime_ms":120000}`.
//! The dependencies report, one entry per policy with its `kind`:
//!
//! ```json
//! {"status":"degraded","uptime_ms":120000,
//!  "policies":[
//!   {"name":"payment","status":"down","kind":"circuit_breaker","state":"open",
//!    "failure_rate":0.0,"slow_call_rate":0.0,"calls_in_window":0,"failures_in_window":0,
//!    "slow_calls_in_window":0,"time_until_half_open_ms":25000,"consecutive_opens":1},
//!   {"name":"payment","status":"up","kind":"bulkhead","max_concurrent":10,"active":3,
//!    "queued":0,"max_queue":0,"rejected":12,"closed":false,"utilisation":0.3}],
//!  "flags":[{"name":"recommendations","enabled":false,"default":true}]}
//! ```
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | a check's timeout ([`HealthConfig::check_timeout`]) | 2 s |
//! | how long a check's result is reused ([`HealthConfig::cache_ttl`]) | 5 s |
//! | a check is | critical (fails readiness) |
//! | startup | complete once every startup check passed (at once without any) |
//! | clock | [`default_clock`]: the time-stamp counter, or tokio's clock where time is paused |

mod check;
mod config;
mod join;
mod policy;
mod policy_state;
mod report;
mod status;

pub use self::check::{Check, CheckFuture};
pub use self::config::HealthConfig;
pub use self::policy::{DependenciesReport, PolicyReport, PolicySource};
pub use self::policy_state::{
    AdaptiveReport, BlockingBulkheadReport, BreakerReport, BulkheadReport, KeyedBreakerReport,
    KeyedBreakersReport, KeyedRateLimiterReport, LoadShedderReport, PolicyState, RateLimiterReport,
    ShedCounts, SlidingWindowReport, WorkQueueReport,
};
pub use self::report::{CheckReport, ProbeReport};
pub use self::status::{Probe, Status};

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use self::check::Slot;
use self::report::millis;
use crate::clock::{default_clock, Clock};
use crate::config::ConfigError;
use crate::flags::Flags;
use crate::pipeline::Pipeline;
use crate::registry::Registry;

type LivenessFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The health probes and the dependencies report of one service.
///
/// Cloning is cheap and clones share everything: register checks and policies at
/// start-up, hand clones to the HTTP handlers. See the [module docs](self).
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    config: HealthConfig,
    clock: Arc<dyn Clock>,
    born: u64,
    /// Latched once startup is complete.
    started: AtomicBool,
    /// Set by `mark_started`.
    marked: AtomicBool,
    liveness: RwLock<Vec<(String, LivenessFn)>>,
    readiness: RwLock<Vec<Arc<Slot>>>,
    startup: RwLock<Vec<Arc<Slot>>>,
    policies: RwLock<Vec<(String, Arc<dyn PolicySource>)>>,
    flags: RwLock<Option<Flags>>,
}

impl HealthRegistry {
    /// A registry with the default [`HealthConfig`], on the [default clock](crate::clock::default_clock).
    pub fn new() -> Self {
        Self::build(HealthConfig::new(), default_clock())
    }

    /// A registry with `config`, on the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`HealthConfig::validate`].
    pub fn with_config(config: HealthConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, default_clock())
    }

    /// A registry with `config` that takes its time (cache ages, uptime) from `clock`.
    /// Check timeouts are tokio timers either way.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`HealthConfig::validate`].
    pub fn with_clock(config: HealthConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::build(config, clock))
    }

    fn build(config: HealthConfig, clock: Arc<dyn Clock>) -> Self {
        HealthRegistry {
            inner: Arc::new(Inner {
                config,
                born: clock.now_nanos(),
                clock,
                started: AtomicBool::new(false),
                marked: AtomicBool::new(false),
                liveness: RwLock::default(),
                readiness: RwLock::default(),
                startup: RwLock::default(),
                policies: RwLock::default(),
                flags: RwLock::default(),
            }),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &HealthConfig {
        &self.inner.config
    }

    /// Adds an in-process liveness check ("event loop responsive", "no deadlock"): it is
    /// synchronous and must be cheap, and must not look at a dependency.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `name` is empty or already used by a liveness check.
    pub fn add_liveness_check<F, E>(&self, name: &str, check: F) -> Result<(), ConfigError>
    where
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        let mut list = write(&self.inner.liveness);
        if name.is_empty() || list.iter().any(|(n, _)| n == name) {
            return Err(duplicate("liveness", name));
        }
        list.push((
            name.to_owned(),
            Arc::new(move || check().map_err(|e| e.to_string())),
        ));
        Ok(())
    }

    /// Adds a dependency check to readiness.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when its name is empty or already used by a readiness check,
    /// or its timeout is zero.
    pub fn add_readiness_check(&self, check: Check) -> Result<(), ConfigError> {
        self.add_to(&self.inner.readiness, check, false)
    }

    /// Adds a check that must pass once before the service counts as started; after
    /// its first success it never runs again. Register startup checks before serving.
    ///
    /// # Errors
    ///
    /// As [`add_readiness_check`](Self::add_readiness_check), among startup checks.
    pub fn add_startup_check(&self, check: Check) -> Result<(), ConfigError> {
        self.add_to(&self.inner.startup, check, true)
    }

    fn add_to(
        &self,
        list: &RwLock<Vec<Arc<Slot>>>,
        check: Check,
        latch: bool,
    ) -> Result<(), ConfigError> {
        let config = &self.inner.config;
        let probe = if latch { "startup" } else { "readiness" };
        let slot = check.into_slot(probe, config.check_timeout, config.cache_ttl, latch)?;
        let mut list = write(list);
        if list.iter().any(|s| s.name == slot.name) {
            return Err(duplicate(probe, &slot.name));
        }
        list.push(Arc::new(slot));
        Ok(())
    }

    /// Lists `policy` in the dependencies report under `name`. The registry keeps a
    /// clone of the handle; the same name may be used for several policies of one
    /// dependency (its breaker and its bulkhead).
    pub fn add_policy(&self, name: &str, policy: impl PolicySource) {
        write(&self.inner.policies).push((name.to_owned(), Arc::new(policy)));
    }

    /// Lists every breaker, bulkhead, limiter, shedder and adaptive limit of `pipeline`
    /// in the dependencies report, under the pipeline's name.
    pub fn add_pipeline(&self, pipeline: &Pipeline) {
        let name = pipeline.name();
        pipeline
            .circuit_breakers()
            .for_each(|p| self.add_policy(name, p.clone()));
        pipeline
            .bulkheads()
            .for_each(|p| self.add_policy(name, p.clone()));
        pipeline
            .rate_limiters()
            .for_each(|p| self.add_policy(name, p.clone()));
        pipeline
            .sliding_window_limiters()
            .for_each(|p| self.add_policy(name, p.clone()));
        pipeline
            .load_shedders()
            .for_each(|p| self.add_policy(name, p.clone()));
        pipeline
            .concurrency_limiters()
            .for_each(|p| self.add_policy(name, p.clone()));
    }

    /// Lists every pipeline of `registry` (see [`add_pipeline`](Self::add_pipeline))
    /// and its feature flags in the dependencies report.
    pub fn add_registry(&self, registry: &Registry) {
        registry.pipelines().for_each(|(_, p)| self.add_pipeline(p));
        self.set_flags(registry.flags().clone());
    }

    /// Lists `flags` in the dependencies report.
    pub fn set_flags(&self, flags: Flags) {
        *write(&self.inner.flags) = Some(flags);
    }

    /// Says start-up work is done (with `wait_for_start`; without it, a no-op).
    pub fn mark_started(&self) {
        self.inner.marked.store(true, Ordering::Release);
    }

    /// Whether startup is complete, without running any check.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
            || (self.gate_open() && read(&self.inner.startup).is_empty() && self.latch())
    }

    /// The liveness probe: the process only. Runs the liveness checks (synchronous,
    /// in-process) and nothing else: no dependency check, no policy.
    pub fn liveness(&self) -> ProbeReport {
        // Cloned out of the lock, so that a check may use the registry.
        let list = read(&self.inner.liveness).clone();
        let checks: Vec<CheckReport> = list
            .iter()
            .map(|(name, check)| CheckReport::sync(name, check()))
            .collect();
        self.report(Probe::Liveness, self.is_started(), checks)
    }

    /// The readiness probe: down until startup is complete; then the dependency checks,
    /// run concurrently, each under its timeout, results reused within the cache
    /// interval.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the check runs it leads; later probes start them anew.
    pub async fn readiness(&self) -> ProbeReport {
        let (started, mut checks) = self.run_startup().await;
        if started {
            let slots = read(&self.inner.readiness).clone();
            checks.extend(self.run(&slots).await);
        }
        self.report(Probe::Readiness, started, checks)
    }

    /// The startup probe: up once every startup check has passed once (and
    /// [`mark_started`](Self::mark_started) was called, with `wait_for_start`).
    ///
    /// # Cancel safety
    ///
    /// As [`readiness`](Self::readiness).
    pub async fn startup(&self) -> ProbeReport {
        let (started, checks) = self.run_startup().await;
        self.report(Probe::Startup, started, checks)
    }

    /// Every registered policy's figures and every flag; runs no check.
    pub fn dependencies(&self) -> DependenciesReport {
        let sources = read(&self.inner.policies).clone();
        let policies: Vec<PolicyReport> = sources
            .iter()
            .map(|(name, source)| {
                let state = source.policy_state();
                PolicyReport {
                    name: name.clone(),
                    status: state.status(),
                    state,
                }
            })
            .collect();
        let status = policies
            .iter()
            .map(|p| p.status.min(Status::Degraded))
            .max()
            .unwrap_or(Status::Up);
        let flags = read(&self.inner.flags)
            .as_ref()
            .map(|f| f.snapshot().flags)
            .unwrap_or_default();
        DependenciesReport {
            status,
            uptime_ms: self.uptime_ms(),
            policies,
            flags,
        }
    }

    /// Runs the startup checks not yet passed; returns whether startup is complete and
    /// the checks' reports.
    async fn run_startup(&self) -> (bool, Vec<CheckReport>) {
        let slots = read(&self.inner.startup).clone();
        if self.inner.started.load(Ordering::Acquire) {
            let now = self.inner.clock.now_nanos();
            let latched = slots
                .iter()
                .filter_map(|s| s.last().map(|o| CheckReport::of(s, &o, now)))
                .collect();
            return (true, latched);
        }
        let checks = self.run(&slots).await;
        let passed = checks.iter().all(|c| c.status == Status::Up);
        let started = passed && self.gate_open() && self.latch();
        (started, checks)
    }

    async fn run(&self, slots: &[Arc<Slot>]) -> Vec<CheckReport> {
        let clock = &*self.inner.clock;
        let outcomes = join::join_all(slots.iter().map(|s| s.probe(clock)).collect()).await;
        let now = clock.now_nanos();
        slots
            .iter()
            .zip(outcomes)
            .map(|(slot, outcome)| CheckReport::of(slot, &outcome, now))
            .collect()
    }

    fn gate_open(&self) -> bool {
        !self.inner.config.wait_for_start || self.inner.marked.load(Ordering::Acquire)
    }

    fn latch(&self) -> bool {
        self.inner.started.store(true, Ordering::Release);
        true
    }

    fn report(&self, probe: Probe, started: bool, checks: Vec<CheckReport>) -> ProbeReport {
        let status = if started || probe == Probe::Liveness {
            checks
                .iter()
                .map(CheckReport::effect)
                .max()
                .unwrap_or(Status::Up)
        } else {
            Status::Down
        };
        ProbeReport {
            probe,
            status,
            started,
            uptime_ms: self.uptime_ms(),
            checks,
        }
    }

    fn uptime_ms(&self) -> u64 {
        let now = self.inner.clock.now_nanos();
        millis(u128::from(now.saturating_sub(self.inner.born)))
    }
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |list: &RwLock<Vec<Arc<Slot>>>| -> Vec<String> {
            read(list).iter().map(|s| s.name.to_string()).collect()
        };
        f.debug_struct("HealthRegistry")
            .field("config", &self.inner.config)
            .field("started", &self.is_started())
            .field("readiness", &names(&self.inner.readiness))
            .field("startup", &names(&self.inner.startup))
            .field("policies", &read(&self.inner.policies).len())
            .finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn duplicate(probe: &str, name: &str) -> ConfigError {
    let field = format!("health.{probe}.{name}");
    if name.is_empty() {
        ConfigError::new(format!("health.{probe}"), "a check needs a name")
    } else {
        ConfigError::new(field, "a check of this name is already registered")
    }
}

/// Serialises a report. The report types hold only strings, numbers and lists, so this
/// cannot fail; should it ever, the answer is still JSON, saying so.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({ "status": "down", "error": e.to_string() }).to_string()
    })
}
