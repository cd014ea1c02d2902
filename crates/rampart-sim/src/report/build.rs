//! Turns what a run counted into its report.

use std::time::Duration;

use super::time::ms;
use super::timeline::compress;
use super::{
    BacklogReport, BreakerReport, Counts, DependencyReport, KindReport, PoolReport, RunReport,
    SeriesReport,
};
use crate::engine::{Happening, RunResult, Stamped, Stats, TICK};
use crate::scenario::{FallbackKind, Scenario};

/// The report of run `run` of `scenario`.
pub(crate) fn run_report(scenario: &Scenario, run: usize, result: RunResult) -> RunReport {
    let RunResult {
        mut stats,
        mut log,
        backlogs,
        ended,
    } = result;
    log.extend(surges(scenario, &stats, ended));
    log.sort_by_key(|e| e.at);
    let kinds: Vec<KindReport> = scenario
        .kinds
        .iter()
        .zip(stats.kinds.iter_mut())
        .map(|(spec, k)| {
            k.latencies.sort_unstable();
            k.baseline.sort_unstable();
            k.incident_latencies.sort_unstable();
            let [served, degraded, shed, failed] = k.incident;
            KindReport {
                name: spec.name.clone(),
                calls: spec
                    .calls
                    .iter()
                    .map(|&d| scenario.dependencies[d].name.clone())
                    .collect(),
                counts: Counts {
                    arrived: k.arrived,
                    served: k.served,
                    degraded: k.degraded,
                    shed: k.shed,
                    failed: k.failed,
                    user_retries: k.user_retries,
                },
                reasons: k
                    .reasons
                    .iter()
                    .map(|(r, n)| ((*r).to_owned(), *n))
                    .collect(),
                p50_us: percentile(&k.latencies, 50),
                p99_us: percentile(&k.latencies, 99),
                baseline_p99_us: percentile(&k.baseline, 99),
                incident: Counts {
                    arrived: served + degraded + shed + failed,
                    served,
                    degraded,
                    shed,
                    failed,
                    user_retries: 0,
                },
                incident_p99_us: percentile(&k.incident_latencies, 99),
            }
        })
        .collect();
    let totals = kinds.iter().fold(Counts::default(), |t, k| Counts {
        arrived: t.arrived + k.counts.arrived,
        served: t.served + k.counts.served,
        degraded: t.degraded + k.counts.degraded,
        shed: t.shed + k.counts.shed,
        failed: t.failed + k.counts.failed,
        user_retries: t.user_retries + k.counts.user_retries,
    });
    let dependencies = scenario
        .dependencies
        .iter()
        .zip(&stats.dependencies)
        .map(|(spec, d)| DependencyReport {
            name: spec.name.clone(),
            calls: d.calls,
            retries: d.retries,
            failures: d.failures,
            peak_per_100ms: d.per_tick.iter().copied().max().unwrap_or(0),
            peak_retries_per_100ms: d.retries_per_tick.iter().copied().max().unwrap_or(0),
        })
        .collect();
    let workers = scenario.service.workers;
    let p = &stats.pool;
    let pool = PoolReport {
        workers,
        peak_busy: p.peak_busy,
        peak_waiting: p.peak_waiting,
        mean_utilisation_permille: permille(p.busy_sum, p.samples * u64::from(workers)),
        saturated_ms: p.saturated_samples * ms(TICK),
    };
    let backlogs = backlogs
        .iter()
        .enumerate()
        .filter_map(|(dep, b)| {
            let (queued, processed, pending) = (*b)?;
            let (_, spec) = scenario.runs[run]
                .fallbacks
                .iter()
                .find(|(d, _)| *d == dep)?;
            matches!(spec.kind, FallbackKind::Queue { .. }).then(|| BacklogReport {
                dependency: scenario.dependencies[dep].name.clone(),
                label: spec.label.clone(),
                queued,
                processed,
                pending,
                drained_at_ms: drained_at(&log, &scenario.dependencies[dep].name),
            })
        })
        .collect();
    let s = &stats.series;
    let seconds = (ended.as_secs() as usize).max(s.served.len());
    let at = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
    let series = SeriesReport {
        served: (0..seconds).map(|i| at(&s.served, i)).collect(),
        degraded: (0..seconds).map(|i| at(&s.degraded, i)).collect(),
        failed: (0..seconds)
            .map(|i| at(&s.failed, i) + at(&s.shed, i))
            .collect(),
        utilisation_permille: (0..seconds)
            .map(|i| {
                let n = u64::from(at(&s.samples, i)) * u64::from(workers);
                permille(s.busy_sum.get(i).copied().unwrap_or(0), n)
            })
            .collect(),
    };
    RunReport {
        name: scenario.runs[run].name.clone(),
        totals,
        kinds,
        dependencies,
        pool,
        breakers: breakers(&log, ended),
        backlogs,
        timeline: compress(&log, scenario.start_of_day, scenario.timeline_window),
        series,
        ended_ms: ms(ended),
    }
}

/// The 100 ms in which a dependency received at least ten times its mean calls per
/// 100 ms over the run, and at least 100: the spikes retries in step make.
fn surges(scenario: &Scenario, stats: &Stats, ended: Duration) -> Vec<Stamped> {
    let ticks = (ended.as_millis() / TICK.as_millis()).max(1) as u64;
    let mut out = Vec::new();
    for (spec, d) in scenario.dependencies.iter().zip(&stats.dependencies) {
        let threshold = (d.calls * 10 / ticks).max(100);
        for (tick, &calls) in d.per_tick.iter().enumerate() {
            if u64::from(calls) >= threshold {
                out.push(Stamped {
                    at: TICK * tick as u32,
                    source: spec.name.clone(),
                    what: Happening::Surge {
                        calls,
                        retries: d.retries_per_tick.get(tick).copied().unwrap_or(0),
                    },
                });
            }
        }
    }
    out
}

/// The `q`-th percentile (nearest rank) of sorted microseconds; 0 when empty.
fn percentile(sorted: &[u32], q: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * q).div_ceil(100).clamp(1, sorted.len());
    u64::from(sorted[rank - 1])
}

fn permille(part: u64, whole: u64) -> u32 {
    (part * 1000)
        .checked_div(whole)
        .map_or(0, |p| u32::try_from(p).unwrap_or(u32::MAX))
}

/// When dependency `name`'s queue was last found empty after processing.
fn drained_at(log: &[Stamped], name: &str) -> Option<u64> {
    log.iter()
        .rev()
        .find(|e| e.source == name && matches!(e.what, Happening::BacklogDrained { .. }))
        .map(|e| ms(e.at))
}

/// Each breaker's time open and half-open, from its state changes.
fn breakers(log: &[Stamped], ended: Duration) -> Vec<BreakerReport> {
    let mut out: Vec<(BreakerReport, &'static str, Duration)> = Vec::new();
    for e in log {
        let Happening::Circuit { to, .. } = e.what else {
            continue;
        };
        let i = match out.iter().position(|(b, ..)| b.pipeline == e.source) {
            Some(i) => i,
            None => {
                let report = BreakerReport {
                    pipeline: e.source.clone(),
                    opened: 0,
                    open_ms: 0,
                    half_open_ms: 0,
                };
                out.push((report, "closed", e.at));
                out.len() - 1
            }
        };
        let (report, state, since) = &mut out[i];
        add_time(report, state, e.at - *since);
        if to == "open" {
            report.opened += 1;
        }
        *state = to;
        *since = e.at;
    }
    out.into_iter()
        .map(|(mut report, state, since)| {
            add_time(&mut report, state, ended.saturating_sub(since));
            report
        })
        .collect()
}

fn add_time(report: &mut BreakerReport, state: &str, spent: Duration) {
    match state {
        "open" | "forced_open" => report.open_ms += ms(spent),
        "half_open" => report.half_open_ms += ms(spent),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn open_time_adds_up_between_changes() {
        let change = |secs, from, to| Stamped {
            at: Duration::from_secs(secs),
            source: "payment".to_owned(),
            what: Happening::Circuit { from, to },
        };
        let log = [
            change(10, "closed", "open"),
            change(40, "open", "half_open"),
            change(45, "half_open", "open"),
            change(75, "open", "half_open"),
            change(76, "half_open", "closed"),
        ];
        let b = &breakers(&log, Duration::from_secs(100))[0];
        assert_eq!((b.opened, b.open_ms, b.half_open_ms), (2, 60_000, 6_000));
    }
}
