//! `rampart check CONFIG.toml`: the seeds' pattern traps, found in a configuration file
//! before an outage finds them.
//!
//! The file is first read and built exactly as a [`Registry`] would (so a file that
//! passes can be loaded), then each dependency is judged:
//!
//! | rule | trap |
//! |---|---|
//! | `retry-budget` | attempts x timeout + backoff over the SLA (`sla`) |
//! | `timeout-cascade` | an inner timeout not shorter than the one around it, or than the attempt of the dependency it is called `within` |
//! | `breaker-counts-attempts` | a circuit breaker inside the retry opens in fewer requests than its threshold |
//! | `pool-smaller-than-bulkhead` | `client.pool_size` below what the bulkhead lets through |
//! | `retry-without-jitter` | retries with `jitter = "none"` |
//! | `non-idempotent-retry` | `idempotent = false`, retried or hedged without `idempotency_key` |
//! | `liveness-calls-dependency` | `[health] liveness` lists a dependency |
//! | `readiness-behind-breaker` | `[health] readiness` lists a dependency behind a breaker |
//!
//! Each finding prints the arithmetic behind it and a fix. Exit code 0 when clean, 1
//! with findings, 2 when the file cannot be read, parsed or built.

mod rules;
mod shape;

use std::fmt;
use std::path::Path;

use rampart::registry::{ConfigFile, FileError, Registry};

/// Which trap a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Attempts, timeouts and backoff add up to more than the SLA.
    RetryBudget,
    /// A timeout not shorter than the one around it or its caller's.
    TimeoutCascade,
    /// A breaker inside the retry counts attempts.
    BreakerCountsAttempts,
    /// Fewer pooled connections than bulkhead slots.
    PoolSmallerThanBulkhead,
    /// Retries without jitter.
    RetryWithoutJitter,
    /// A non-idempotent operation retried without an idempotency key.
    NonIdempotentRetry,
    /// The liveness probe calls a dependency.
    LivenessCallsDependency,
    /// The readiness probe calls a dependency behind a breaker.
    ReadinessBehindBreaker,
}

impl Rule {
    /// The rule's name as printed: `retry-budget`, ...
    pub fn name(self) -> &'static str {
        match self {
            Rule::RetryBudget => "retry-budget",
            Rule::TimeoutCascade => "timeout-cascade",
            Rule::BreakerCountsAttempts => "breaker-counts-attempts",
            Rule::PoolSmallerThanBulkhead => "pool-smaller-than-bulkhead",
            Rule::RetryWithoutJitter => "retry-without-jitter",
            Rule::NonIdempotentRetry => "non-idempotent-retry",
            Rule::LivenessCallsDependency => "liveness-calls-dependency",
            Rule::ReadinessBehindBreaker => "readiness-behind-breaker",
        }
    }
}

/// One trap found in one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The trap.
    pub rule: Rule,
    /// The dependency it is in.
    pub dependency: String,
    /// The policy it is about (position, outermost first), if one.
    pub policy: Option<usize>,
    /// The line of that policy (or of the dependency) in the file, once located.
    pub line: Option<usize>,
    /// What is wrong, in a few words.
    pub summary: String,
    /// The arithmetic that shows it.
    pub details: Vec<String>,
    /// What to change.
    pub fix: String,
}

impl Finding {
    fn new(
        rule: Rule,
        dependency: &str,
        policy: Option<usize>,
        summary: &str,
        details: Vec<String>,
        fix: &str,
    ) -> Finding {
        Finding {
            rule,
            dependency: dependency.to_owned(),
            policy,
            line: None,
            summary: summary.to_owned(),
            details,
            fix: fix.to_owned(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dependency)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        writeln!(f, ": {}: {}", self.rule.name(), self.summary)?;
        for line in &self.details {
            writeln!(f, "    {line}")?;
        }
        write!(f, "    fix: {}", self.fix)
    }
}

/// Every trap in `file`, dependency by dependency (in name order), then the health
/// probes'.
pub fn lint(file: &ConfigFile) -> Vec<Finding> {
    let config = file.config();
    let mut found: Vec<Finding> = config
        .dependencies
        .iter()
        .flat_map(|(name, dep)| rules::dependency(config, name, dep))
        .collect();
    found.extend(rules::health(config));
    for finding in &mut found {
        let about_health = matches!(
            finding.rule,
            Rule::LivenessCallsDependency | Rule::ReadinessBehindBreaker
        );
        finding.line = if about_health {
            file.health_line()
        } else {
            finding
                .policy
                .and_then(|i| file.policy_line(&finding.dependency, i))
                .or_else(|| file.dependency_line(&finding.dependency))
        };
    }
    found
}

/// The outcome of checking a file.
#[derive(Debug)]
pub enum Checked {
    /// The file builds; these are its findings (none when clean).
    Findings(Vec<Finding>),
    /// The file cannot be read, parsed or built.
    Unusable(FileError),
}

/// Reads, builds and lints the file at `path`.
pub fn check(path: &Path) -> Checked {
    let file = match ConfigFile::read(path) {
        Ok(file) => file,
        Err(e) => return Checked::Unusable(e),
    };
    if let Err(e) = Registry::builder().build(&file) {
        return Checked::Unusable(e);
    }
    Checked::Findings(lint(&file))
}

#[cfg(test)]
mod tests;
