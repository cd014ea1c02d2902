//! Telemetry: every policy's [events](crate::event) as `tracing` events and as metrics.
//!
//! The defenses fire when something is already wrong, so they must be seen: a breaker
//! that opens, retries that stop helping, a bulkhead that turns requests away. Policies
//! report what they do to one [`Listener`](crate::event::Listener); this module holds the
//! adapters that make those events logs and metrics, each behind a cargo feature:
//!
//! | type | feature | what it does |
//! |---|---|---|
//! | `TracingListener` | `tracing` | one structured `tracing` event per event, target `rampart` |
//! | `MetricsListener` | `metrics` | counters, gauges and a histogram through the `metrics` facade |
//! | `Prometheus` | `prometheus` | a recorder with the buckets below, rendered as Prometheus text |
//! | [`Fanout`] | none | hands each event to several listeners (a policy takes one) |
//!
//! Nothing is paid when no adapter is installed: a pipeline without a listener builds no
//! event at all, and without the features none of this code is compiled.
//!
//! # Metrics
//!
//! Names follow the seeds' Prometheus conventions (constants in [`names`]); label
//! `service` is the event's pipeline (or policy) name.
//!
//! | metric | type | labels | from |
//! |---|---|---|---|
//! | `http_client_request_duration_seconds` | histogram (.1 .25 .5 1 2 5 10) | `service`, `outcome` | `CallFinished` |
//! | `http_client_timeouts_total` | counter | `service`, `kind` | `TimeoutElapsed` |
//! | `http_client_retries_total` | counter | `service`, `attempt`, `result` | `RetryScheduled`, `RetryGaveUp` (`result="failure"`), `RetrySucceeded` (`"success"`) |
//! | `http_client_hedges_total` | counter | `service` | `HedgeStarted` |
//! | `circuit_breaker_state` | gauge (0 closed, 1 open, 2 half-open) | `service` | `CircuitStateChanged`; `observe` |
//! | `circuit_breaker_trips_total` | counter | `service` | `CircuitStateChanged` to `open` |
//! | `circuit_breaker_rejected_total` | counter | `service` | `CircuitRejected` |
//! | `bulkhead_active_count` | gauge | `service` | `observe` (snapshots); `BulkheadRejected` (its `active`) |
//! | `bulkhead_rejected_total` | counter | `service` | `BulkheadRejected` |
//! | `fallback_invocations_total` | counter | `service`, `fallback_type` | `FallbackUsed` |
//! | `rate_limit_rejected_total` | counter | `service` | `RateLimited` |
//! | `load_shed_rejected_total` | counter | `service`, `priority` | `LoadShed` |
//! | `work_queue_dropped_total` | counter | `service`, `priority`, `reason` | `WorkDropped` |
//! | `concurrency_limit` | gauge | `service` | `ConcurrencyLimitChanged`; `observe` |
//! | `chaos_faults_injected_total` | counter | `service`, `action` (`fail`, `substitute`, `run` for latency alone) | `FaultInjected` |
//! | `feature_flag_enabled` | gauge | `service` (the flag registry), `flag` | `FlagChanged` |
//!
//! Label values: `outcome` is `success`, `failure`, `ignored` (as the classifier
//! decided) or the rejection's kind in snake case (`timeout`, `deadline_exceeded`,
//! `circuit_open`, `bulkhead_full`, `rate_limited`, `shed`, `retry_budget_exhausted`,
//! `injected`); `kind` is `timeout` or `deadline_exceeded`; `attempt` counts from 2
//! (the first attempt is not a retry) and `result` is `success` or `failure`, so the
//! seeds' "retry success rate" is `result="success"` over all; `priority` is
//! `critical`, `high`, `normal` or `low`.
//!
//! Gauges want the value now, which events do not carry between changes:
//! `MetricsListener::observe(&pipeline)` sets `circuit_breaker_state`,
//! `bulkhead_active_count` and `concurrency_limit` from the pipeline's policies, and is
//! meant to run just before each scrape.
//!
//! # Tracing fields
//!
//! Every event has `service` (the pipeline's name) and `event` (its name below), and a
//! lowercase message in the seeds' style ("attempt 1/3 failed, retrying in 1.2s",
//! "circuit opened (closed -> open) after 5 failures in 5 calls", "bulkhead full,
//! rejecting request: pool_size=10 active=10 queued=0"). Durations are `f64`
//! milliseconds in fields ending in `_ms`; optional fields are absent when unknown. A
//! span the caller opened around the call (say with an `endpoint` field) is the
//! events' parent.
//!
//! | `event` | level | fields |
//! |---|---|---|
//! | `retry_scheduled` | INFO | `attempt`, `max_attempts`, `delay_ms`, `error` |
//! | `retry_succeeded` | INFO | `attempt`, `max_attempts` |
//! | `retry_gave_up` | WARN | `attempts`, `reason` (`max_attempts`, `max_elapsed`, `deadline`, `budget_exhausted`, `not_retryable`), `error` |
//! | `timeout` | WARN | `timeout_ms`, `kind` (`timeout`, `deadline_exceeded`) |
//! | `hedge_started` | DEBUG | `attempt`, `after_ms` |
//! | `fallback_used` | WARN | `fallback_type`, `reason`, `cache_age_ms` (a cache's value) |
//! | `circuit_state_changed` | WARN to `open`/`forced_open`, else INFO | `from`, `state`, `failures`, `calls`, `failure_rate`, `slow_call_rate`, `threshold`, `error` |
//! | `circuit_rejected` | DEBUG | `retry_after_ms` |
//! | `bulkhead_rejected` | WARN | `pool_size`, `active`, `queued`, `waited_ms` |
//! | `rate_limited` | INFO | `retry_after_ms` |
//! | `load_shed` | INFO | `priority`, `load` |
//! | `work_dropped` | INFO | `priority`, `reason` |
//! | `concurrency_limit_changed` | DEBUG | `previous_limit`, `limit` |
//! | `call_finished` | TRACE on success, else DEBUG | `duration_ms`, `outcome` |
//! | `fault_injected` | INFO | `call`, `action`, `latency_ms`, `behavior` |
//! | `flag_changed` | WARN | `flag`, `enabled` |
//!
//! A state change is rare and tells an operator that a dependency is down, hence
//! WARN; a rejection by an open breaker repeats for every call while it is open, hence
//! DEBUG.
//!
//! # Examples
//!
//! Both adapters on one pipeline, and the Prometheus text (features `tracing` and
//! `prometheus`):
//!
//! ```
//! # #[cfg(all(feature = "tracing", feature = "prometheus"))]
//! # {
//! use rampart::telemetry::{Fanout, Prometheus, TracingListener};
//! use rampart::{Error, Pipeline};
//!
//! // `Prometheus::install()` and `MetricsListener::new()` do the same process-wide.
//! let (prometheus, metrics) = Prometheus::listener();
//! let payment = Pipeline::builder("payment")
//!     .listener(Fanout::new().with(TracingListener::new()).with(metrics.clone()))
//!     .timeout(std::time::Duration::from_secs(2))
//!     .build()
//!     .unwrap();
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let charged: Result<u32, Error<&str>> = payment.call(|| async { Ok(42) }).await;
//! # assert_eq!(charged, Ok(42));
//! # });
//! metrics.observe(&payment);
//! let text = prometheus.render();
//! # let _ = text;
//! # }
//! ```

mod fanout;
pub mod names;

#[cfg(feature = "metrics")]
mod metrics_listener;
#[cfg(feature = "prometheus")]
mod prometheus;
#[cfg(feature = "tracing")]
mod tracing_listener;

pub use self::fanout::Fanout;
#[cfg(feature = "metrics")]
pub use self::metrics_listener::MetricsListener;
#[cfg(feature = "prometheus")]
pub use self::prometheus::{InstallError, Prometheus};
#[cfg(feature = "tracing")]
pub use self::tracing_listener::TracingListener;
