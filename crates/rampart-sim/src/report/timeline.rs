//! The timeline of what fired, in the seeds' style (`2:48:02 RETRY #1 (after 1 s
//! backoff)`), with repeats counted rather than listed.
//!
//! State changes (a breaker opening, a dependency slowing down, the pool saturating)
//! and surges (a 100 ms in which a dependency received at least ten times its mean and
//! at least 100 calls) are always shown. An event that repeats (timeouts, retries, refusals, fallbacks,
//! failed requests) is shown the first time, then its repeats are counted on one line
//! (`... TIMEOUT x 37 more in the next 10 s`) for as long as they keep coming less than
//! the scenario's `timeline_window` apart and no state changes; then it is shown again.

use std::time::Duration;

use super::time::{clock_label, ms, short, thousands};
use super::TimelineEntry;
use crate::engine::{Happening, Stamped};
use crate::scenario::{Latency, Phase};

/// What the scenario changes from `before` to `after`, in a few words.
pub(crate) fn describe_change(before: &Phase, after: &Phase) -> String {
    let (was, now) = (typical(&before.latency), typical(&after.latency));
    let verb = if after.error_rate >= 1.0 && before.error_rate < 1.0 {
        "GOES DOWN"
    } else if after.error_rate < before.error_rate {
        "RECOVERS"
    } else if after.error_rate > before.error_rate {
        "STARTS FAILING"
    } else if now > was {
        "SLOWS DOWN"
    } else if now < was {
        "RECOVERS"
    } else {
        "CHANGES"
    };
    let mut parts = Vec::new();
    if after.latency != before.latency {
        parts.push(format!(
            "{} -> {}",
            latency(&before.latency),
            latency(&after.latency)
        ));
    }
    if after.error_rate != before.error_rate {
        parts.push(format!(
            "errors {} % -> {} %",
            percent(before.error_rate),
            percent(after.error_rate)
        ));
    }
    format!("{verb}: {}", parts.join(", "))
}

fn typical(latency: &Latency) -> Duration {
    match *latency {
        Latency::Fixed(d) | Latency::LogNormal { median: d, .. } => d,
        Latency::Uniform { min, max } => (min + max) / 2,
    }
}

fn latency(latency: &Latency) -> String {
    match *latency {
        Latency::Fixed(d) | Latency::LogNormal { median: d, .. } => short(d),
        Latency::Uniform { min, max } => format!("{}-{}", short(min), short(max)),
    }
}

fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// What groups repeats: the source, the kind, and what tells two of a kind apart.
fn repeat_key(e: &Stamped) -> Option<String> {
    let detail = match &e.what {
        Happening::Timeout { .. } => "timeout".to_owned(),
        Happening::Retry { attempt, .. } => format!("retry{attempt}"),
        Happening::GaveUp { reason, .. } => format!("gave_up {reason}"),
        Happening::CircuitRejected => "circuit_rejected".to_owned(),
        Happening::BulkheadRejected { .. } => "bulkhead_rejected".to_owned(),
        Happening::Fallback { label } => format!("fallback {label}"),
        Happening::RequestFailed { reason } => format!("failed {reason}"),
        _ => return None,
    };
    Some(format!("{} {detail}", e.source))
}

/// The line for one event.
fn entry(e: &Stamped, start_of_day: u32) -> TimelineEntry {
    let (kind, text, attempt, delay, state) = match &e.what {
        Happening::Timeout { after } => (
            "timeout",
            format!("TIMEOUT after {}", short(*after)),
            None,
            Some(*after),
            None,
        ),
        Happening::Retry { attempt, delay } => (
            "retry",
            format!("RETRY #{attempt} (after {} backoff)", short(*delay)),
            Some(*attempt),
            Some(*delay),
            None,
        ),
        Happening::GaveUp { attempts, reason } => (
            "gave_up",
            format!("GIVES UP after {attempts} attempts ({reason})"),
            Some(*attempts),
            None,
            None,
        ),
        Happening::Circuit { from, to } => {
            let text = match (*from, *to) {
                ("half_open", "open") => "probe failed: CIRCUIT RE-OPENS".to_owned(),
                (_, "open") => "CIRCUIT OPENS".to_owned(),
                (_, "half_open") => "HALF-OPEN: a probe request goes through".to_owned(),
                (_, "closed") => "CIRCUIT CLOSES".to_owned(),
                (from, to) => format!("circuit {from} -> {to}"),
            };
            ("circuit", text, None, None, Some((*to).to_owned()))
        }
        Happening::CircuitRejected => (
            "circuit_rejected",
            "circuit open: call fails fast".to_owned(),
            None,
            None,
            None,
        ),
        Happening::BulkheadRejected { max } => (
            "bulkhead_rejected",
            format!("BULKHEAD full ({max} calls): call refused"),
            None,
            None,
            None,
        ),
        Happening::Fallback { label } => {
            ("fallback", format!("FALLBACK: {label}"), None, None, None)
        }
        Happening::Change { summary } => ("change", summary.clone(), None, None, None),
        Happening::Surge { calls, retries } => (
            "surge",
            format!("SURGE: {calls} calls in 100 ms ({retries} of them retries)"),
            None,
            None,
            None,
        ),
        Happening::RequestFailed { reason } => (
            "request_failed",
            format!("request FAILED: {reason}"),
            None,
            None,
            None,
        ),
        Happening::PoolSaturated { waiting } => (
            "pool_saturated",
            format!("WORKER POOL SATURATED: every worker busy, {waiting} requests waiting"),
            None,
            None,
            None,
        ),
        Happening::PoolRecovered => (
            "pool_recovered",
            "worker pool has free workers again".to_owned(),
            None,
            None,
            None,
        ),
        Happening::BacklogStarted { pending } => (
            "backlog_started",
            format!("queued work starts processing ({pending} waiting)"),
            None,
            None,
            None,
        ),
        Happening::BacklogDrained { processed } => (
            "backlog_drained",
            format!("all queued work processed ({processed} in all)"),
            None,
            None,
            None,
        ),
    };
    TimelineEntry {
        at_ms: ms(e.at),
        clock: clock_label(start_of_day, e.at),
        source: e.source.clone(),
        kind: kind.to_owned(),
        attempt,
        delay_ms: delay.map(ms),
        state,
        text,
        count: 1,
        span_ms: None,
    }
}

/// A run of repeats being counted.
struct Open {
    key: String,
    template: TimelineEntry,
    first: Duration,
    last: Duration,
    first_repeat: Option<Duration>,
    count: u64,
}

impl Open {
    /// The line counting the repeats, if there were any.
    fn close(self, start_of_day: u32) -> Option<TimelineEntry> {
        let first = self.first_repeat?;
        // Whole seconds, rounded up, from the first event shown to the last repeat.
        let span = Duration::from_secs((self.last - self.first).as_millis().div_ceil(1000) as u64);
        let mut line = self.template;
        line.at_ms = ms(first);
        line.clock = clock_label(start_of_day, first);
        line.text = format!(
            "... {} x {} more in the next {}",
            line.text,
            thousands(self.count),
            short(span.max(Duration::from_secs(1)))
        );
        line.count = self.count;
        line.span_ms = Some(ms(self.last - first));
        line.delay_ms = None;
        Some(line)
    }
}

/// The timeline of `events` (in time order), repeats less than `window` apart counted.
pub(crate) fn compress(
    events: &[Stamped],
    start_of_day: u32,
    window: Duration,
) -> Vec<TimelineEntry> {
    let mut out: Vec<TimelineEntry> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    for e in events {
        let Some(key) = repeat_key(e) else {
            // A change of state closes every count, so the timeline reads in phases; a
            // surge is shown on its own without closing them.
            if !matches!(e.what, Happening::Surge { .. }) {
                out.extend(open.drain(..).filter_map(|o| o.close(start_of_day)));
            }
            out.push(entry(e, start_of_day));
            continue;
        };
        if let Some(i) = open.iter().position(|o| o.key == key) {
            let o = &mut open[i];
            if e.at < o.last + window {
                o.count += 1;
                o.last = e.at;
                o.first_repeat.get_or_insert(e.at);
                continue;
            }
            out.extend(open.swap_remove(i).close(start_of_day));
        }
        let line = entry(e, start_of_day);
        open.push(Open {
            key,
            template: TimelineEntry {
                text: repeat_text(&line),
                ..line.clone()
            },
            first: e.at,
            last: e.at,
            first_repeat: None,
            count: 0,
        });
        out.push(line);
    }
    out.extend(open.into_iter().filter_map(|o| o.close(start_of_day)));
    // In time order by the second shown; within a second, the events themselves before
    // the counts of their repeats (stable: otherwise the order they happened in).
    out.sort_by_key(|l| (l.at_ms / 1000, l.span_ms.is_some(), l.at_ms));
    out
}

/// The words a count of repeats uses (without the first one's own figures).
fn repeat_text(line: &TimelineEntry) -> String {
    match (line.kind.as_str(), line.attempt) {
        ("retry", Some(n)) => format!("RETRY #{n}"),
        ("timeout", _) => "TIMEOUT".to_owned(),
        _ => line.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64, what: Happening) -> Stamped {
        Stamped {
            at: Duration::from_secs_f64(secs),
            source: "payment".to_owned(),
            what,
        }
    }

    #[test]
    fn repeats_are_counted_and_state_changes_kept() {
        let timeout = || Happening::Timeout {
            after: Duration::from_secs(2),
        };
        let events = vec![
            at(62.0, timeout()),
            at(62.5, timeout()),
            at(63.0, timeout()),
            at(
                65.0,
                Happening::Circuit {
                    from: "closed",
                    to: "open",
                },
            ),
            at(73.0, timeout()),
        ];
        let lines = compress(&events, 2 * 3600 + 47 * 60, Duration::from_secs(10));
        let texts: Vec<_> = lines
            .iter()
            .map(|l| format!("{} {}", l.clock, l.text))
            .collect();
        assert_eq!(
            texts,
            [
                "2:48:02 TIMEOUT after 2 s",
                "2:48:02 ... TIMEOUT x 2 more in the next 1 s",
                "2:48:05 CIRCUIT OPENS",
                "2:48:13 TIMEOUT after 2 s",
            ]
        );
        assert_eq!(lines[1].count, 2);
    }
}
