//! A load shedder turns requests away by priority when the service nears its capacity,
//! so that it keeps serving the requests that matter instead of falling over under all
//! of them.
//!
//! # When to use it
//!
//! On the server side, in front of the work a service does for its callers: when more
//! arrives than it can serve, answer the least important with a fast 503 and a
//! `Retry-After` (a [`Rejection`](crate::Rejection) of kind
//! [`Shed`](crate::RejectionKind::Shed) carrying the hint) and keep the capacity for
//! logins and payments.
//!
//! # How it works
//!
//! Every request has a [`Priority`]. The [`LoadShedder`] counts requests in flight
//! (a [`ShedPermit`] each, given back when dropped) and compares the load, in-flight /
//! capacity, with the seeds' level table:
//!
//! | load | shed |
//! |---|---|
//! | under 70 % | nothing |
//! | 70 % to under 85 % | `Low` |
//! | 85 % to under 95 % | `Low` and `Normal` |
//! | 95 % and above | all but `Critical` |
//!
//! `Critical` is never shed, by the table or otherwise. The thresholds are configurable
//! ([`ShedConfig`]); [`LoadShedder::check`] is the table as a pure function of an
//! external load figure. Admission is lock-free: a compare-and-swap on the in-flight
//! count, no clock read.
//!
//! In adaptive mode ([`AdaptiveShedConfig`]) the shedder also sheds non-critical
//! requests at random with a probability computed from CPU, memory and p95 latency
//! pressure (the seeds' formula, in [`Pressure`]). CPU and memory come from a
//! [`PressureSource`] ([`SystemUsage`] reads Linux's `/proc` and cgroup files; anywhere
//! it cannot read them the pressure is 0), sampled by [`LoadShedder::sample`] or a
//! background task ([`LoadShedder::spawn_sampler`]), never on the admission path. The
//! draws come from a seedable generator ([`LoadShedder::with_seed`]).
//!
//! For work that can wait, a [`WorkQueue`] queues jobs by priority for a pool of async
//! workers, and its [`Overflow`] policy says which job is given up when it is full.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | capacity | 1000 in flight |
//! | levels | `Low` from 70 %, `Normal` from 85 %, `High` from 95 % |
//! | retry-after hint | 5 s |
//! | adaptive thresholds | CPU 0.8, memory 0.85, p95 latency 1 s, sampled every 1 s |
//! | work queue | 100 waiting, 4 workers, reject new, 30 s maximum age |
//!
//! # Examples
//!
//! ```
//! use rampart::shed::{LoadShedder, Priority, ShedConfig};
//!
//! let shedder = LoadShedder::new("api", ShedConfig::new(10))?;
//! let held: Vec<_> = (0..7).map(|_| shedder.try_acquire(Priority::Critical).unwrap()).collect();
//!
//! // 70 % load: LOW is shed, with a hint for when to come back.
//! let rejection = shedder.try_acquire(Priority::Low).unwrap_err();
//! assert_eq!(rejection.retry_after(), Some(std::time::Duration::from_secs(5)));
//! assert!(shedder.try_acquire(Priority::Normal).is_ok());
//!
//! drop(held);
//! assert_eq!(shedder.in_flight(), 0);
//! # Ok::<(), rampart::ConfigError>(())
//! ```

mod config;
mod permit;
mod pressure;
mod priority;
pub mod queue;
mod scope;
mod shedder;
mod system;

#[cfg(all(test, rampart_loom))]
mod loom_tests;

pub use self::config::{AdaptiveShedConfig, ShedConfig, ShedLevel};
pub use self::permit::ShedPermit;
pub use self::pressure::{ManualUsage, Pressure, PressureSource, Usage};
pub use self::priority::Priority;
pub use self::queue::{
    DropReason, Dropped, Overflow, TaskHandle, WorkQueue, WorkQueueConfig, WorkQueueSnapshot,
    MAX_WORKERS,
};
pub use self::scope::{current_priority, scope, with_priority, WithPriority};
pub use self::shedder::{LoadShedder, ShedSnapshot};
pub use self::system::SystemUsage;
