//! What one run counts while it goes: outcomes per request kind, latencies, arrivals at
//! each dependency, the worker pool's occupation, and the series behind the chart.

use std::collections::BTreeMap;
use std::time::Duration;

/// How a request ended, as the user saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered in full.
    Served,
    /// Answered by a fallback.
    Degraded,
    /// Refused at once by a policy (bulkhead full, circuit open, rate limited, shed).
    Shed(&'static str),
    /// Failed: an error, a timeout, no worker free in time, or a user who gave up.
    Failed(&'static str),
}

/// Counts of one request kind.
#[derive(Debug, Default)]
pub(crate) struct KindCounts {
    pub(crate) arrived: u64,
    pub(crate) served: u64,
    pub(crate) degraded: u64,
    pub(crate) failed: u64,
    pub(crate) shed: u64,
    pub(crate) user_retries: u64,
    pub(crate) reasons: BTreeMap<&'static str, u64>,
    /// Latencies of answered requests (served or degraded), in microseconds.
    pub(crate) latencies: Vec<u32>,
    /// The same, for requests that arrived before the first change of any dependency.
    pub(crate) baseline: Vec<u32>,
    /// The same, for requests that arrived during the incident.
    pub(crate) incident_latencies: Vec<u32>,
    /// Requests that arrived during the incident, by how they ended: served, degraded,
    /// shed, failed.
    pub(crate) incident: [u64; 4],
}

/// When a request arrived, relative to the scenario's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    /// Before anything changed.
    Baseline,
    /// Between the first change and the last.
    Incident,
    /// After the last change.
    After,
}

/// Counts of one dependency.
#[derive(Debug, Default)]
pub(crate) struct DependencyCounts {
    pub(crate) calls: u64,
    pub(crate) retries: u64,
    pub(crate) failures: u64,
    /// Calls arriving in each 100 ms since the start.
    pub(crate) per_tick: Vec<u32>,
    /// Of which retries (second and later attempts of one request).
    pub(crate) retries_per_tick: Vec<u32>,
}

/// Per-second series for the chart.
#[derive(Debug, Default)]
pub(crate) struct Series {
    pub(crate) served: Vec<u32>,
    pub(crate) degraded: Vec<u32>,
    pub(crate) failed: Vec<u32>,
    pub(crate) shed: Vec<u32>,
    /// Sum of busy workers over the samples of each second.
    pub(crate) busy_sum: Vec<u64>,
    pub(crate) samples: Vec<u32>,
}

/// The worker pool's occupation: sampled every 100 ms for the mean and the time
/// saturated; its peaks are exact.
#[derive(Debug, Default)]
pub(crate) struct PoolCounts {
    pub(crate) samples: u64,
    pub(crate) saturated_samples: u64,
    pub(crate) busy_sum: u64,
    pub(crate) peak_busy: u32,
    pub(crate) peak_waiting: u32,
}

/// Everything a run counts.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) kinds: Vec<KindCounts>,
    pub(crate) dependencies: Vec<DependencyCounts>,
    pub(crate) series: Series,
    pub(crate) pool: PoolCounts,
}

/// The length of one bucket of dependency arrivals.
pub(crate) const TICK: Duration = Duration::from_millis(100);

fn bump(v: &mut Vec<u32>, index: usize) {
    if v.len() <= index {
        v.resize(index + 1, 0);
    }
    v[index] += 1;
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Stats {
    pub(crate) fn new(kinds: usize, dependencies: usize) -> Stats {
        Stats {
            kinds: (0..kinds).map(|_| KindCounts::default()).collect(),
            dependencies: (0..dependencies)
                .map(|_| DependencyCounts::default())
                .collect(),
            ..Stats::default()
        }
    }

    /// A call (attempt number `attempt`, from 1) reaches dependency `dep` at `at`.
    pub(crate) fn dependency_call(&mut self, dep: usize, attempt: u32, at: Duration) {
        let tick = (at.as_millis() / TICK.as_millis()) as usize;
        let d = &mut self.dependencies[dep];
        d.calls += 1;
        bump(&mut d.per_tick, tick);
        if attempt > 1 {
            d.retries += 1;
            bump(&mut d.retries_per_tick, tick);
        }
    }

    /// A call to dependency `dep` failed.
    pub(crate) fn dependency_failure(&mut self, dep: usize) {
        self.dependencies[dep].failures += 1;
    }

    /// A request of kind `kind` arrived; `retry` when a user is trying again.
    pub(crate) fn arrival(&mut self, kind: usize, retry: bool) {
        let k = &mut self.kinds[kind];
        k.arrived += 1;
        if retry {
            k.user_retries += 1;
        }
    }

    /// A request of kind `kind` that took `took` ended at `ended` with `outcome`; `period`
    /// says when it arrived.
    pub(crate) fn outcome(
        &mut self,
        kind: usize,
        outcome: Outcome,
        took: Duration,
        ended: Duration,
        period: Period,
    ) {
        let k = &mut self.kinds[kind];
        if period == Period::Incident {
            let slot = match outcome {
                Outcome::Served => 0,
                Outcome::Degraded => 1,
                Outcome::Shed(_) => 2,
                Outcome::Failed(_) => 3,
            };
            k.incident[slot] += 1;
            if slot < 2 {
                k.incident_latencies.push(micros(took));
            }
        }
        let second = ended.as_secs() as usize;
        let s = &mut self.series;
        match outcome {
            Outcome::Served | Outcome::Degraded => {
                if outcome == Outcome::Served {
                    k.served += 1;
                    bump(&mut s.served, second);
                } else {
                    k.degraded += 1;
                    bump(&mut s.degraded, second);
                }
                k.latencies.push(micros(took));
                if period == Period::Baseline {
                    k.baseline.push(micros(took));
                }
            }
            Outcome::Shed(why) => {
                k.shed += 1;
                *k.reasons.entry(why).or_default() += 1;
                bump(&mut s.shed, second);
            }
            Outcome::Failed(why) => {
                k.failed += 1;
                *k.reasons.entry(why).or_default() += 1;
                bump(&mut s.failed, second);
            }
        }
    }

    /// A worker was just taken: `busy` are busy now.
    pub(crate) fn busy(&mut self, busy: u32) {
        self.pool.peak_busy = self.pool.peak_busy.max(busy);
    }

    /// A request just started waiting: `waiting` wait now.
    pub(crate) fn waiting(&mut self, waiting: u32) {
        self.pool.peak_waiting = self.pool.peak_waiting.max(waiting);
    }

    /// A sample of the pool at `at`: `busy` workers of `workers`, `waiting` requests.
    pub(crate) fn pool_sample(&mut self, at: Duration, busy: u32, workers: u32, waiting: u32) {
        let p = &mut self.pool;
        p.samples += 1;
        p.busy_sum += u64::from(busy);
        if busy >= workers {
            p.saturated_samples += 1;
        }
        p.peak_busy = p.peak_busy.max(busy);
        p.peak_waiting = p.peak_waiting.max(waiting);
        let second = at.as_secs() as usize;
        let s = &mut self.series;
        if s.busy_sum.len() <= second {
            s.busy_sum.resize(second + 1, 0);
            s.samples.resize(second + 1, 0);
        }
        s.busy_sum[second] += u64::from(busy);
        s.samples[second] += 1;
    }
}
