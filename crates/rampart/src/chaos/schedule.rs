//! Deterministic fault schedules: which calls, or which stretch of time, get a fault
//! regardless of the random rates ("fail the first 3 calls", "add 2 s between t = 30 s
//! and t = 60 s"), as plain serde data, and the integer plan the injector runs on.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::duration_to_nanos;
use crate::config::{positive, ConfigError};

/// What a [`Schedule`] does to the calls it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScheduleKind {
    /// The call fails with an injected rejection.
    Error,
    /// The call waits for the schedule's `latency` before it runs.
    Latency,
    /// The call's outcome is replaced by the caller's substitute.
    Substitute,
}

/// A fault that covers given calls or a given stretch of time, whatever the rates.
///
/// Calls are numbered from 1 in the order they are decided while injection is on;
/// time is measured from when the injector was built (or last
/// [restarted](super::FaultInjector::restart)) on its clock. A schedule has exactly one
/// window:
///
/// | window | fields | covers |
/// |---|---|---|
/// | the first calls | `first_calls = N` | calls 1 to N |
/// | a range of calls | `from_call = N`, optional `to_call = M` | calls N to M, both included (no `to_call`: every call from N) |
/// | a stretch of time | `from = "A"` and/or `until = "B"` | calls decided at `A <= t < B` (no `from`: from the start; no `until`: forever) |
///
/// `latency` is required for kind `latency` (above zero) and not allowed otherwise.
/// In a configuration file, one table per schedule:
///
/// ```toml
/// schedule = [
///     { kind = "error", first_calls = 3 },
///     { kind = "error", from_call = 10, to_call = 12 },
///     { kind = "latency", latency = "2s", from = "30s", until = "60s" },
///     { kind = "error", from = "2m", until = "3m" },
/// ]
/// ```
///
/// # Examples
///
/// ```
/// use rampart::chaos::Schedule;
/// use std::time::Duration;
///
/// let s = Schedule::latency_between(Duration::from_secs(2), Duration::from_secs(30), Duration::from_secs(60));
/// assert!(s.validate().is_ok());
/// assert!(Schedule::fail_calls(5, 4).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Schedule {
    /// What the schedule does.
    pub kind: ScheduleKind,
    /// The latency added (kind `latency` only).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    /// Covers calls 1 to this (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_calls: Option<u64>,
    /// Covers calls from this one (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_call: Option<u64>,
    /// Covers calls up to this one, included (at least `from_call`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_call: Option<u64>,
    /// Covers calls decided from this time on.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<Duration>,
    /// Covers calls decided before this time (after `from`).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<Duration>,
}

impl Schedule {
    const fn empty(kind: ScheduleKind) -> Self {
        Schedule {
            kind,
            latency: None,
            first_calls: None,
            from_call: None,
            to_call: None,
            from: None,
            until: None,
        }
    }

    /// The first `n` calls fail.
    pub const fn fail_first(n: u64) -> Self {
        let mut s = Self::empty(ScheduleKind::Error);
        s.first_calls = Some(n);
        s
    }

    /// Calls `from` to `to` (numbered from 1, both included) fail.
    pub const fn fail_calls(from: u64, to: u64) -> Self {
        let mut s = Self::empty(ScheduleKind::Error);
        s.from_call = Some(from);
        s.to_call = Some(to);
        s
    }

    /// Every call decided at `from <= t < until` fails.
    pub const fn fail_between(from: Duration, until: Duration) -> Self {
        let mut s = Self::empty(ScheduleKind::Error);
        s.from = Some(from);
        s.until = Some(until);
        s
    }

    /// Every call decided at `from <= t < until` waits `latency` first.
    pub const fn latency_between(latency: Duration, from: Duration, until: Duration) -> Self {
        let mut s = Self::empty(ScheduleKind::Latency);
        s.latency = Some(latency);
        s.from = Some(from);
        s.until = Some(until);
        s
    }

    /// The first `n` calls wait `latency` first.
    pub const fn latency_first(latency: Duration, n: u64) -> Self {
        let mut s = Self::empty(ScheduleKind::Latency);
        s.latency = Some(latency);
        s.first_calls = Some(n);
        s
    }

    /// The first `n` calls get the substitute outcome.
    pub const fn substitute_first(n: u64) -> Self {
        let mut s = Self::empty(ScheduleKind::Substitute);
        s.first_calls = Some(n);
        s
    }

    /// Checks the schedule; field names in errors are relative (`latency`, `to_call`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: a missing or zero latency on a latency
    /// schedule, a latency on another kind, no window or two kinds of window, a call
    /// number of 0, `to_call` before `from_call`, or `until` not after `from`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.plan().map(|_| ())
    }

    /// The integer plan, or why there is none.
    pub(super) fn plan(&self) -> Result<Plan, ConfigError> {
        let effect = match (self.kind, self.latency) {
            (ScheduleKind::Latency, Some(d)) => {
                positive("latency", d)?;
                Effect::Latency(duration_to_nanos(d))
            }
            (ScheduleKind::Latency, None) => {
                return Err(ConfigError::new(
                    "latency",
                    "required for a latency schedule",
                ))
            }
            (_, Some(_)) => {
                return Err(ConfigError::new(
                    "latency",
                    "only a latency schedule takes a latency",
                ))
            }
            (ScheduleKind::Error, None) => Effect::Fail,
            (ScheduleKind::Substitute, None) => Effect::Substitute,
        };
        let by_first = self.first_calls.is_some();
        let by_calls = self.from_call.is_some() || self.to_call.is_some();
        let by_time = self.from.is_some() || self.until.is_some();
        let window = match (by_first, by_calls, by_time) {
            (true, false, false) => {
                let n = self.first_calls.unwrap_or(0);
                at_least_one("first_calls", n)?;
                Window::Calls { first: 1, last: n }
            }
            (false, true, false) => {
                let Some(first) = self.from_call else {
                    return Err(ConfigError::new("from_call", "required with to_call"));
                };
                at_least_one("from_call", first)?;
                let last = self.to_call.unwrap_or(u64::MAX);
                if last < first {
                    return Err(ConfigError::new(
                        "to_call",
                        format!("must be at least from_call ({first}), got {last}"),
                    ));
                }
                Window::Calls { first, last }
            }
            (false, false, true) => {
                let from = self.from.map_or(0, duration_to_nanos);
                let until = self.until.map_or(u64::MAX, duration_to_nanos);
                if until <= from {
                    return Err(ConfigError::new("until", "must be after from"));
                }
                Window::Time { from, until }
            }
            (false, false, false) => {
                return Err(ConfigError::new(
                    "",
                    "needs a window: first_calls, from_call/to_call or from/until",
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    "",
                    "takes one window only: first_calls, from_call/to_call or from/until",
                ))
            }
        };
        Ok(Plan { effect, window })
    }
}

fn at_least_one(field: &str, n: u64) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError::new(
            field,
            "must be at least 1 (calls are numbered from 1)",
        ));
    }
    Ok(())
}

/// What a plan does to a covered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Fail,
    Substitute,
    /// Nanoseconds of latency.
    Latency(u64),
}

/// Which calls a plan covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
    /// Call numbers `first..=last`.
    Calls { first: u64, last: u64 },
    /// Nanoseconds since the origin, `from..until`.
    Time { from: u64, until: u64 },
}

/// A validated schedule in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) effect: Effect,
    pub(super) window: Window,
}

/// What the schedules impose on one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Imposed {
    pub(super) fail: bool,
    pub(super) substitute: bool,
    /// Nanoseconds of latency, summed over the covering schedules.
    pub(super) latency: u64,
}

/// The faults `plans` impose on call number `call` decided at `elapsed` nanoseconds
/// since the origin (`None` when no plan needs the time).
pub(super) fn imposed(plans: &[Plan], call: u64, elapsed: Option<u64>) -> Imposed {
    let mut out = Imposed::default();
    for plan in plans {
        let covered = match plan.window {
            Window::Calls { first, last } => first <= call && call <= last,
            Window::Time { from, until } => elapsed.is_some_and(|t| from <= t && t < until),
        };
        if covered {
            match plan.effect {
                Effect::Fail => out.fail = true,
                Effect::Substitute => out.substitute = true,
                Effect::Latency(ns) => out.latency = out.latency.saturating_add(ns),
            }
        }
    }
    out
}

/// True when some plan has a time window, so deciding must read the clock.
pub(super) fn needs_clock(plans: &[Plan]) -> bool {
    plans
        .iter()
        .any(|p| matches!(p.window, Window::Time { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn windows_cover_what_they_say() {
        let plans = [
            Schedule::fail_first(3).plan().unwrap(),
            Schedule::latency_between(
                Duration::from_secs(2),
                Duration::from_secs(30),
                Duration::from_secs(60),
            )
            .plan()
            .unwrap(),
        ];
        assert!(imposed(&plans, 3, Some(0)).fail);
        assert!(!imposed(&plans, 4, Some(0)).fail);
        assert_eq!(imposed(&plans, 4, Some(30 * S - 1)).latency, 0);
        assert_eq!(imposed(&plans, 4, Some(30 * S)).latency, 2 * S);
        assert_eq!(imposed(&plans, 4, Some(60 * S - 1)).latency, 2 * S);
        assert_eq!(imposed(&plans, 4, Some(60 * S)).latency, 0);
        assert!(needs_clock(&plans));
        assert!(!needs_clock(&plans[..1]));
    }

    #[test]
    fn open_ended_windows() {
        let mut s = Schedule::fail_calls(5, 5);
        s.to_call = None;
        let p = s.plan().unwrap();
        assert!(!imposed(&[p], 4, None).fail);
        assert!(imposed(&[p], u64::MAX, None).fail);
        let mut t = Schedule::fail_between(Duration::ZERO, Duration::ZERO);
        t.from = None;
        t.until = Some(Duration::from_secs(1));
        let p = t.plan().unwrap();
        assert!(imposed(&[p], 1, Some(0)).fail);
        assert!(!imposed(&[p], 1, Some(S)).fail);
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let field = |s: Schedule| s.validate().unwrap_err().field().to_owned();
        assert_eq!(field(Schedule::fail_first(0)), "first_calls");
        assert_eq!(field(Schedule::fail_calls(0, 3)), "from_call");
        assert_eq!(field(Schedule::fail_calls(4, 3)), "to_call");
        let s = Duration::from_secs(1);
        assert_eq!(field(Schedule::fail_between(s, s)), "until");
        assert_eq!(
            field(Schedule::latency_between(Duration::ZERO, Duration::ZERO, s)),
            "latency"
        );
        let mut no_latency = Schedule::latency_first(s, 1);
        no_latency.latency = None;
        assert_eq!(field(no_latency), "latency");
        let mut stray = Schedule::fail_first(1);
        stray.latency = Some(s);
        assert_eq!(field(stray), "latency");
        let mut two = Schedule::fail_first(1);
        two.from = Some(s);
        assert!(two.validate().unwrap_err().message().contains("one window"));
        let mut none = Schedule::fail_first(1);
        none.first_calls = None;
        assert!(none
            .validate()
            .unwrap_err()
            .message()
            .contains("needs a window"));
        let mut to_only = Schedule::fail_calls(1, 2);
        to_only.from_call = None;
        assert_eq!(field(to_only), "from_call");
    }
}
