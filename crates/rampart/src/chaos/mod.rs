//! Fault injection: errors, latency, substitute outcomes and behaviors injected into
//! calls at random rates and on deterministic schedules, to prove that the other
//! defenses work before an outage does it (Polly's chaos strategies).
//!
//! # When to use it
//!
//! In staging and on game days, on one non-critical dependency first (the seeds'
//! advice): "if recommendations fail 10 % of the time, does the product page still load
//! in under 2 s?" A [`FaultInjector`] is built from a [`ChaosConfig`] (a file, code, or
//! the `CHAOS_ENABLED`, `CHAOS_FAILURE_RATE` and `CHAOS_LATENCY_MS` environment
//! variables through [`ChaosConfig::from_env`]), and switched and tuned at run time
//! through its clones ([`set_enabled`](FaultInjector::set_enabled),
//! [`set_failure_rate`](FaultInjector::set_failure_rate), ...).
//!
//! # The faults
//!
//! Each call (each attempt, in a pipeline that retries) gets a [`Fault`]: a latency to
//! wait first, then [`FaultAction::Run`], [`Fail`](FaultAction::Fail) (an injected
//! [`Rejection`](crate::Rejection) of kind [`Injected`](crate::RejectionKind::Injected)
//! by policy `"chaos"`) or [`Substitute`](FaultAction::Substitute) (the caller's
//! substitute outcome, see [`Chaos`]); and an optional side effect, the
//! [behavior](FaultInjector::with_behavior). Random faults are drawn independently per
//! kind; [`Schedule`]s force faults on given calls ("fail the first 3 calls", "fail
//! calls 10 to 12") or over a stretch of time ("add 2 s between t = 30 s and t = 60 s",
//! "fail every call for a minute"). Latencies from several sources add up; failing wins
//! over substituting.
//!
//! # In a pipeline
//!
//! [`PipelineBuilder::chaos`](crate::PipelineBuilder::chaos) adds a stage that decides
//! per attempt inside a retry (listed last, it runs just before the operation and costs
//! one relaxed load while off). An injected failure is a rejection of kind `Injected`,
//! which retries retry and breakers count as a failure of the dependency; an injected
//! latency waits on the call's timer, so a timeout around it cuts it short. Substitute
//! outcomes are typed, so they are injected at the operation: wrap it in a [`Chaos`]
//! inside the pipeline, `pipeline.call(|| chaos.call(|| op()))`; in the untyped stage a
//! drawn substitute runs the operation.
//!
//! # Determinism and cost
//!
//! Calls are numbered from 1 while injection is on. The random draws of call `n` are a
//! pure function of the seed and `n` (splitmix64), so a seed replays the same faults for
//! the same call numbers, on any number of threads, without a lock. Schedules' time is
//! read from the injector's [`Clock`](crate::clock::Clock), tokio's by default, so
//! `#[tokio::test(start_paused = true)]` drives it. Off, [`decide`](FaultInjector::decide)
//! is one relaxed atomic load and a branch; on, a counter increment, a clock read only
//! if a schedule has a time window, and a few multiplications.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | [`ChaosConfig::enabled`] | false: nothing is injected |
//! | [`ChaosConfig::failure_rate`], [`substitute_rate`](ChaosConfig::substitute_rate), [`behavior_rate`](ChaosConfig::behavior_rate) | 0 |
//! | [`ChaosConfig::latency`] | none |
//! | [`ChaosConfig::latency_rate`] | 1 (every call, when a latency is set) |
//! | [`ChaosConfig::seed`] | random per injector |
//! | clock | [`default_clock`](crate::clock::default_clock): the time-stamp counter, or tokio's clock where time is paused |
//!
//! # Examples
//!
//! ```
//! use rampart::chaos::{ChaosConfig, FaultInjector, Schedule};
//! use rampart::RejectionKind;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let config = ChaosConfig::enabled()
//!     .with_seed(7)
//!     .with_schedule(Schedule::fail_first(3))
//!     .with_schedule(Schedule::latency_between(
//!         Duration::from_secs(2),
//!         Duration::from_secs(30),
//!         Duration::from_secs(60),
//!     ));
//! let chaos = FaultInjector::new("recommendations", &config)?;
//! for _ in 0..3 {
//!     let r = chaos.call(|| async { Ok::<_, ()>("popular") }).await;
//!     assert_eq!(r.unwrap_err().rejection().map(|r| r.kind()), Some(RejectionKind::Injected));
//! }
//! assert_eq!(chaos.call(|| async { Ok::<_, ()>("popular") }).await, Ok("popular"));
//!
//! chaos.set_enabled(false);
//! assert!(chaos.decide().is_none());
//! # Ok(())
//! # }
//! ```

mod config;
mod draw;
mod fault;
mod injector;
mod schedule;
mod typed;

pub use config::ChaosConfig;
pub use fault::{Fault, FaultAction};
pub use injector::{Behavior, FaultInjector};
pub use schedule::{Schedule, ScheduleKind};
pub use typed::Chaos;
