//! What a probe answers: a status, the HTTP code for it, and each check's result.

use serde::{Deserialize, Serialize};

use super::check::{Outcome, Slot};
use super::{Probe, Status};

/// A probe's answer, for a Kubernetes probe or a dashboard.
///
/// Serialise it with [`to_json`](Self::to_json) and answer with
/// [`http_status`](Self::http_status). The [module docs](super) show the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProbeReport {
    /// Which probe this is.
    pub probe: Probe,
    /// Up, degraded or down.
    pub status: Status,
    /// Whether startup has completed.
    pub started: bool,
    /// Time since the registry was made, in milliseconds.
    pub uptime_ms: u64,
    /// Each check that decided the status, in registration order (startup checks
    /// first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckReport>,
}

impl ProbeReport {
    /// 200 unless the status is down, then 503.
    pub fn http_status(&self) -> u16 {
        self.status.http_status()
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        super::json(self)
    }

    /// The check named `name`, if it is in the report.
    pub fn check(&self, name: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// One check's result in a [`ProbeReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// Up when it passed, down when it failed.
    pub status: Status,
    /// Whether its failure takes the probe down (else only degrades it).
    pub critical: bool,
    /// Why it failed ("timed out after 2s", or the check's own error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long its last run took, in milliseconds.
    pub duration_ms: u64,
    /// How long ago that run ended, in milliseconds (0 for a run this probe made or
    /// waited for; more when the cached result was reused).
    pub age_ms: u64,
}

impl CheckReport {
    pub(super) fn of(slot: &Slot, outcome: &Outcome, now: u64) -> Self {
        CheckReport {
            name: slot.name.to_string(),
            status: if outcome.result.is_ok() {
                Status::Up
            } else {
                Status::Down
            },
            critical: slot.critical,
            error: outcome.result.clone().err(),
            duration_ms: millis(outcome.took.as_nanos()),
            age_ms: millis(u128::from(now.saturating_sub(outcome.finished_at))),
        }
    }

    pub(super) fn sync(name: &str, result: Result<(), String>) -> Self {
        CheckReport {
            name: name.to_owned(),
            status: if result.is_ok() {
                Status::Up
            } else {
                Status::Down
            },
            critical: true,
            error: result.err(),
            duration_ms: 0,
            age_ms: 0,
        }
    }

    /// What this check does to its probe: nothing when up, down when critical, else
    /// degraded.
    pub fn effect(&self) -> Status {
        match (self.status, self.critical) {
            (Status::Up, _) => Status::Up,
            (_, true) => Status::Down,
            (_, false) => Status::Degraded,
        }
    }
}

/// Nanoseconds to whole milliseconds, saturating.
pub(super) fn millis(nanos: u128) -> u64 {
    u64::try_from(nanos / 1_000_000).unwrap_or(u64::MAX)
}
