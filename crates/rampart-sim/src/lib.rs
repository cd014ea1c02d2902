//! Replays an outage against a rampart configuration in virtual time, in seconds.
//!
//! A [`Scenario`] describes a service (a shared pool of workers), its traffic (a rate
//! and a mix of request kinds, users who give up and try again), its dependencies
//! (latency and error rate changing on a schedule: a payment API going from 200 ms to
//! 5 s for 72 s) and the configurations to compare (runs: one without defenses, one with
//! the seeds' timeout, retries, breaker, bulkhead and fallback). [`simulate`] runs each
//! configuration through rampart's real pipelines, built by
//! [`Registry`](rampart::registry::Registry) from the same TOML that production reads,
//! on a tokio runtime whose clock is paused: tokio jumps from one timer to the next, so
//! ten minutes of traffic at 1,000 requests per second take seconds, and one seed makes
//! every run reproducible to the byte.
//!
//! The [`Report`] holds, per run, the timeline of what fired (timeouts, retries,
//! breaker changes, refusals, fallbacks) in the seeds' style, requests served,
//! degraded, shed and failed, latency per request kind, the worker pool's saturation,
//! the breaker's open time, the queued work and whether all of it was processed.
//!
//! Built-in scenarios ([`builtin`]): `checkout-outage` (the default), `retry-storm`,
//! `slow-not-down`; their files in `scenarios/` document every number. A service's own
//! configuration file can be tried against a scenario's outage as one more run
//! ([`Scenario::with_config_file`]). [`chart::write_chart`] draws each run's requests
//! per second and worker pool as SVG and PNG; [`report::timeline_text`] and
//! [`report::summary_table`] render the report as `rampart simulate` prints it.
//!
//! # Examples
//!
//! ```
//! use rampart_sim::{builtin, simulate};
//! use std::time::Duration;
//!
//! let scenario = builtin("retry-storm").unwrap().with_duration(Duration::from_secs(5));
//! let report = simulate(&scenario).unwrap();
//! assert_eq!(report.runs.len(), 2);
//! ```

pub mod chart;
mod engine;
mod random;
pub mod report;
pub mod scenario;

use std::fmt;

pub use self::report::Report;
pub use self::scenario::{builtin, builtin_names, Scenario, ScenarioError, DEFAULT_SCENARIO};

/// A simulation that could not run (its configuration could not be built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationError {
    message: String,
}

impl fmt::Display for SimulationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SimulationError {}

/// Runs every configuration of `scenario`, one after the other.
///
/// # Errors
///
/// A [`SimulationError`] when a run's runtime or pipelines cannot be built.
pub fn simulate(scenario: &Scenario) -> Result<Report, SimulationError> {
    simulate_with_progress(scenario, &|_, _| {})
}

/// Like [`simulate`], telling `progress` the run's index and the virtual seconds it has
/// done, about once a virtual second (for a progress bar).
///
/// # Errors
///
/// As [`simulate`].
pub fn simulate_with_progress(
    scenario: &Scenario,
    progress: &dyn Fn(usize, u64),
) -> Result<Report, SimulationError> {
    let mut runs = Vec::with_capacity(scenario.runs.len());
    for index in 0..scenario.runs.len() {
        let result = engine::run(scenario, index, &|secs| progress(index, secs))
            .map_err(|e| SimulationError { message: e.0 })?;
        runs.push(report::run_report(scenario, index, result));
    }
    Ok(Report {
        scenario: scenario.name.clone(),
        summary: scenario.summary.clone(),
        seed: scenario.seed,
        start: report::clock_label(scenario.start_of_day, std::time::Duration::ZERO),
        duration_s: scenario.duration.as_secs(),
        incident_ms: scenario
            .incident()
            .map(|(from, to)| (millis(from), millis(to))),
        runs,
    })
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Report {
    /// The report as JSON, fields in a fixed order: the same scenario and seed give
    /// the same bytes.
    pub fn to_json(&self) -> String {
        // Plain structs, vectors and numbers cannot fail to serialize.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
