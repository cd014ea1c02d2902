//! How healthy something is, and the HTTP status a probe answers with.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How healthy a probe, a check or a policy is. Serialises as `"up"`, `"degraded"`,
/// `"down"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything it covers works.
    Up,
    /// It serves, with something optional missing (a non-critical check failing, a
    /// breaker open).
    Degraded,
    /// It cannot serve.
    Down,
}

impl Status {
    /// The HTTP status a probe answers with: 200 for up and degraded (keep sending
    /// traffic), 503 for down.
    pub const fn http_status(self) -> u16 {
        match self {
            Status::Up | Status::Degraded => 200,
            Status::Down => 503,
        }
    }

    /// "up", "degraded" or "down".
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }

    /// The worse of the two.
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which probe a [`ProbeReport`](super::ProbeReport) answers. Serialises as
/// `"liveness"`, `"readiness"`, `"startup"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// Is the process alive? Failing it restarts the container.
    Liveness,
    /// Can it take traffic? Failing it takes the instance out of the load balancer.
    Readiness,
    /// Has it finished starting? Until it passes, the other probes wait.
    Startup,
}

impl Probe {
    /// "liveness", "readiness" or "startup".
    pub const fn as_str(self) -> &'static str {
        match self {
            Probe::Liveness => "liveness",
            Probe::Readiness => "readiness",
            Probe::Startup => "startup",
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
