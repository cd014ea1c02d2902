//! What a simulation found, as plain data: per run, the requests served, degraded,
//! shed and failed, latencies per request kind, the worker pool, the breakers, the
//! queues of deferred work, arrivals at each dependency, and the timeline.
//!
//! Everything here is ordered (vectors in scenario order, no hash maps) and serialized
//! with fields in declaration order, so one scenario and seed give byte-identical JSON.

mod build;
mod text;
mod time;
mod timeline;

use serde::Serialize;

pub(crate) use self::build::run_report;
pub use self::text::{summary_table, timeline_text};
pub use self::time::clock_label;
pub(crate) use self::timeline::describe_change;

/// The result of simulating a scenario: one report per run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// What it shows.
    pub summary: String,
    /// The seed every random choice came from.
    pub seed: u64,
    /// The wall-clock label of the start (`2:47:00`).
    pub start: String,
    /// How long traffic arrived, in seconds.
    pub duration_s: u64,
    /// The incident, from the first change of a dependency's behaviour to the last, in
    /// milliseconds since the start (`[from, to]`).
    pub incident_ms: Option<(u64, u64)>,
    /// One report per run, in the scenario's order.
    pub runs: Vec<RunReport>,
}

/// What one run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run's name (`with defenses`).
    pub name: String,
    /// Counts over every request kind.
    pub totals: Counts,
    /// Per request kind, in name order.
    pub kinds: Vec<KindReport>,
    /// Per dependency, in name order.
    pub dependencies: Vec<DependencyReport>,
    /// The shared worker pool.
    pub pool: PoolReport,
    /// The circuit breakers that changed state, by pipeline name.
    pub breakers: Vec<BreakerReport>,
    /// The queues filled by `queue` fallbacks.
    pub backlogs: Vec<BacklogReport>,
    /// What fired, in time order (by the second; within one, events before the counts
    /// of their repeats), repeats counted.
    pub timeline: Vec<TimelineEntry>,
    /// Per-second figures for the chart.
    pub series: SeriesReport,
    /// How long the run went on in virtual time (traffic plus the time to finish), in
    /// milliseconds.
    pub ended_ms: u64,
}

/// Requests by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests received, users' new tries included.
    pub arrived: u64,
    /// Answered in full.
    pub served: u64,
    /// Answered by a fallback (`order pending`).
    pub degraded: u64,
    /// Refused at once by a policy, without a fallback.
    pub shed: u64,
    /// Failed: errors, timeouts, no worker in time, users who gave up.
    pub failed: u64,
    /// Of the arrivals, users trying again.
    pub user_retries: u64,
}

impl Counts {
    /// Served or degraded, per arrival (0 to 1); 1 when nothing arrived.
    pub fn answered_ratio(&self) -> f64 {
        if self.arrived == 0 {
            1.0
        } else {
            (self.served + self.degraded) as f64 / self.arrived as f64
        }
    }
}

/// One request kind's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindReport {
    /// The kind's name.
    pub name: String,
    /// The dependencies it calls.
    pub calls: Vec<String>,
    /// How its requests ended.
    pub counts: Counts,
    /// Why requests failed or were shed, with counts, by reason.
    pub reasons: Vec<(String, u64)>,
    /// Latency of answered requests: median, in microseconds.
    pub p50_us: u64,
    /// Latency of answered requests: 99th percentile, in microseconds.
    pub p99_us: u64,
    /// The 99th percentile of requests that arrived before anything changed: the
    /// normal latency to compare with.
    pub baseline_p99_us: u64,
    /// How requests that arrived during the incident ended (`user_retries` is 0 here).
    pub incident: Counts,
    /// The 99th percentile of answered requests that arrived during the incident.
    pub incident_p99_us: u64,
}

/// One dependency's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DependencyReport {
    /// Its name.
    pub name: String,
    /// Calls that reached it (every attempt).
    pub calls: u64,
    /// Of which retries.
    pub retries: u64,
    /// Of which failed (its own errors; timeouts are the caller's).
    pub failures: u64,
    /// The most calls that reached it in one 100 ms.
    pub peak_per_100ms: u32,
    /// The most retries that reached it in one 100 ms.
    pub peak_retries_per_100ms: u32,
}

/// The shared worker pool's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolReport {
    /// Workers in the pool.
    pub workers: u32,
    /// The most busy at once.
    pub peak_busy: u32,
    /// The most requests waiting for a worker at once.
    pub peak_waiting: u32,
    /// Mean share of busy workers, in per mille.
    pub mean_utilisation_permille: u32,
    /// Time with every worker busy, in milliseconds (sampled every 100 ms).
    pub saturated_ms: u64,
}

/// One circuit breaker's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerReport {
    /// The pipeline it belongs to.
    pub pipeline: String,
    /// Times it opened (from closed or half-open).
    pub opened: u32,
    /// Time spent open, in milliseconds.
    pub open_ms: u64,
    /// Time spent half-open, in milliseconds.
    pub half_open_ms: u64,
}

/// A queue of deferred work (`order pending`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacklogReport {
    /// The dependency the work is for.
    pub dependency: String,
    /// What users were told.
    pub label: String,
    /// Items queued.
    pub queued: u64,
    /// Items processed after all.
    pub processed: u64,
    /// Items still waiting when the run ended (lost, if the process stopped then).
    pub pending: u64,
    /// When the queue was empty again after processing, in milliseconds since the start.
    pub drained_at_ms: Option<u64>,
}

/// One line of the timeline: an event, or a count of its repeats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// When, in milliseconds since the start.
    pub at_ms: u64,
    /// The wall-clock label (`2:48:02`).
    pub clock: String,
    /// The pipeline (or `service`) it came from.
    pub source: String,
    /// What fired: `timeout`, `retry`, `gave_up`, `circuit`, `circuit_rejected`,
    /// `bulkhead_rejected`, `fallback`, `change`, `surge`, `request_failed`, `pool_saturated`,
    /// `pool_recovered`, `backlog_started`, `backlog_drained`.
    pub kind: String,
    /// The retry's attempt number (the attempt that failed, from 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The retry's backoff or the timeout's limit, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// A breaker's state after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The line as printed.
    pub text: String,
    /// How many events the line stands for (1, or the repeats counted).
    pub count: u64,
    /// For a count of repeats: the span they fell in, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_ms: Option<u64>,
}

/// Per-second figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesReport {
    /// Requests answered in full, per second.
    pub served: Vec<u32>,
    /// Requests answered by a fallback, per second.
    pub degraded: Vec<u32>,
    /// Requests failed or shed, per second.
    pub failed: Vec<u32>,
    /// Mean busy workers per second, in per mille of the pool.
    pub utilisation_permille: Vec<u32>,
}
