//! How much a request matters when the service must turn some away.

use std::fmt;

/// The importance of a request to a [`LoadShedder`](super::LoadShedder) or a
/// [`WorkQueue`](super::WorkQueue): the lower the priority, the sooner it is shed.
///
/// Ordered from least to most important, so `Priority::Low < Priority::Critical`. In a
/// configuration file it is written in lower case: `"critical"`, `"high"`, `"normal"`,
/// `"low"`.
///
/// | priority | seeds' examples | shed |
/// |---|---|---|
/// | `Critical` | login, payments | never |
/// | `High` | core API, checkout | from 95 % load |
/// | `Normal` | regular requests | from 85 % load |
/// | `Low` | analytics, background jobs | from 70 % load (first) |
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Shed first: analytics, background jobs.
    Low,
    /// Regular requests.
    Normal,
    /// Core API calls, shed only when nearly full.
    High,
    /// Never shed: login, payments.
    Critical,
}

impl Priority {
    /// Every priority, most important first.
    pub const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// A short lowercase name, stable for logs and metric labels ("critical", "high",
    /// "normal", "low").
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    /// Its place in [`Priority::ALL`]: 0 for `Critical` up to 3 for `Low`.
    pub const fn rank(self) -> usize {
        match self {
            Priority::Critical => 0,
            Priority::High => 1,
            Priority::Normal => 2,
            Priority::Low => 3,
        }
    }
}

impl Default for Priority {
    /// `Normal`, the seeds' priority for a request that is not classified.
    fn default() -> Self {
        Priority::Normal
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_rank_and_names() {
        assert!(Priority::Low < Priority::Normal);
        assert!(Priority::High < Priority::Critical);
        for (i, p) in Priority::ALL.iter().enumerate() {
            assert_eq!(p.rank(), i);
        }
        assert_eq!(Priority::default(), Priority::Normal);
        assert_eq!(Priority::High.to_string(), "high");
    }
}
