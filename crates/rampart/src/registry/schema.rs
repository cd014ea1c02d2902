//! What a configuration file holds, as plain data.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::pipeline::PipelineConfig;

/// A whole configuration file: named dependencies and what the health probes call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// One entry per dependency, by name (the pipeline's name).
    pub dependencies: BTreeMap<String, DependencyConfig>,
    /// The dependencies each health probe calls (`rampart check` reads it).
    pub health: HealthConfig,
}

/// One dependency: its pipeline, and what `rampart check` needs to judge it.
///
/// # Defaults
///
/// | key | default |
/// |---|---|
/// | `policies` | none |
/// | `retry_budget` | 20 % of calls plus 10 retries per second, over 10 s |
/// | `sla` | none: the outermost timeout, if any, stands for it |
/// | `idempotent` | `true` |
/// | `idempotency_key` | `false` |
/// | `within` | none |
/// | `flag` | none: calls always run |
/// | `client` | every field unset |
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DependencyConfig {
    /// The policies and the retry budget.
    pub pipeline: PipelineConfig,
    /// The time the caller waits at most for this call, retries included (the
    /// user-facing SLA, or the share of it this call gets).
    pub sla: Option<Duration>,
    /// Whether running the operation twice is harmless (a read, a PUT). A payment
    /// charge is not: say `idempotent = false`, and retries need an idempotency key.
    pub idempotent: bool,
    /// Whether every request carries an idempotency key that the callee honours, so
    /// that retrying a non-idempotent operation is safe.
    pub idempotency_key: bool,
    /// The dependency whose attempt makes this call (service A calls service B), so its
    /// timeouts must be shorter than that attempt's: the timeout cascade.
    pub within: Option<String>,
    /// A feature flag that must be on for calls to run (the kill switch of a
    /// non-critical feature); defined on in the registry's flags if it is new.
    pub flag: Option<String>,
    /// The HTTP client's settings for this dependency.
    pub client: ClientConfig,
}

impl Default for DependencyConfig {
    fn default() -> Self {
        DependencyConfig {
            pipeline: PipelineConfig::default(),
            sla: None,
            idempotent: true,
            idempotency_key: false,
            within: None,
            flag: None,
            client: ClientConfig::default(),
        }
    }
}

/// The client's connection pool and timeouts for one dependency (the seeds' list:
/// connect, read, write, waiting for a pooled connection, total).
///
/// Every field is optional; an unset one keeps the client's own default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Connections the client keeps to the dependency (at least the bulkhead's size).
    pub pool_size: Option<u32>,
    /// Time to establish a connection.
    #[serde(with = "humantime_serde")]
    pub connect: Option<Duration>,
    /// Time to wait for the response's bytes.
    #[serde(with = "humantime_serde")]
    pub read: Option<Duration>,
    /// Time to send the request's bytes.
    #[serde(with = "humantime_serde")]
    pub write: Option<Duration>,
    /// Time to wait for a free pooled connection.
    #[serde(with = "humantime_serde")]
    pub pool: Option<Duration>,
    /// Time for the whole exchange.
    #[serde(with = "humantime_serde")]
    pub total: Option<Duration>,
}

/// The dependencies each health probe calls, by name.
///
/// Liveness should call none (the process only), and readiness none that sits behind a
/// circuit breaker: `rampart check` reports both traps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HealthConfig {
    /// Dependencies the liveness probe calls.
    pub liveness: Vec<String>,
    /// Dependencies the readiness probe calls.
    pub readiness: Vec<String>,
    /// Dependencies the startup probe calls.
    pub startup: Vec<String>,
}
