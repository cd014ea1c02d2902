//! The policies a dependencies report reads, and the report itself.

use std::fmt::Display;
use std::hash::{BuildHasher, Hash};

use serde::{Deserialize, Serialize};

use super::policy_state::KeyedBreakersReport;
use super::{PolicyState, Status};
use crate::adaptive::AdaptiveLimiter;
use crate::bulkhead::{BlockingBulkhead, Bulkhead};
use crate::circuit::keyed::KeyedBreakers;
use crate::circuit::CircuitBreaker;
use crate::flags::FlagState;
use crate::rate_limit::{KeyedRateLimiter, RateLimiter, SlidingWindowLimiter};
use crate::shed::{LoadShedder, WorkQueue};

/// A policy whose figures a [`HealthRegistry`](super::HealthRegistry) can report.
///
/// Implemented for every policy of the crate by reading its `snapshot()`, which changes
/// nothing: no transition, no window rotation, no permit taken. A registry keeps a clone
/// of the handle, which shares the policy's state.
pub trait PolicySource: Send + Sync + 'static {
    /// The policy's figures now. Must not change the policy.
    fn policy_state(&self) -> PolicyState;
}

impl PolicySource for CircuitBreaker {
    fn policy_state(&self) -> PolicyState {
        PolicyState::CircuitBreaker(self.snapshot().into())
    }
}

impl<K> PolicySource for KeyedBreakers<K>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    fn policy_state(&self) -> PolicyState {
        let breakers = self
            .snapshot()
            .into_iter()
            .map(|(k, s)| (k.to_string(), s))
            .collect();
        PolicyState::KeyedCircuitBreakers(KeyedBreakersReport::new(breakers, self.evicted()))
    }
}

impl PolicySource for Bulkhead {
    fn policy_state(&self) -> PolicyState {
        PolicyState::Bulkhead(self.snapshot().into())
    }
}

impl PolicySource for BlockingBulkhead {
    fn policy_state(&self) -> PolicyState {
        PolicyState::BlockingBulkhead(self.snapshot().into())
    }
}

impl PolicySource for RateLimiter {
    fn policy_state(&self) -> PolicyState {
        PolicyState::RateLimiter(self.snapshot().into())
    }
}

impl<K, S> PolicySource for KeyedRateLimiter<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    fn policy_state(&self) -> PolicyState {
        PolicyState::KeyedRateLimiter(self.snapshot().into())
    }
}

impl PolicySource for SlidingWindowLimiter {
    fn policy_state(&self) -> PolicyState {
        PolicyState::SlidingWindowLimiter(self.snapshot().into())
    }
}

impl PolicySource for LoadShedder {
    fn policy_state(&self) -> PolicyState {
        PolicyState::LoadShedder(self.snapshot().into())
    }
}

impl PolicySource for WorkQueue {
    fn policy_state(&self) -> PolicyState {
        PolicyState::WorkQueue(self.snapshot().into())
    }
}

impl PolicySource for AdaptiveLimiter {
    fn policy_state(&self) -> PolicyState {
        PolicyState::AdaptiveLimiter(self.snapshot().into())
    }
}

/// One registered policy in a [`DependenciesReport`]: its name, its status and its
/// figures (flattened, with their `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PolicyReport {
    /// The name it was registered under (e.g. "payment").
    pub name: String,
    /// How it stands ([`PolicyState::status`]).
    pub status: Status,
    /// Its figures.
    #[serde(flatten)]
    pub state: PolicyState,
}

/// Every registered policy's figures and every flag, for dashboards: the seeds'
/// `/health/dependencies`.
///
/// Its status is up, or degraded when any policy is not up; never down, so its HTTP
/// status is always 200: it is not a probe, and a load balancer pointed at it by mistake
/// cannot take the fleet out because a dependency is down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DependenciesReport {
    /// Up, or degraded when any policy is not up.
    pub status: Status,
    /// Time since the registry was made, in milliseconds.
    pub uptime_ms: u64,
    /// Each policy, in registration order.
    pub policies: Vec<PolicyReport>,
    /// Each feature flag, in name order (empty without a flag registry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<FlagState>,
}

impl DependenciesReport {
    /// Always 200 (see the type's docs).
    pub fn http_status(&self) -> u16 {
        200
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        super::json(self)
    }

    /// The first policy registered under `name`, if any.
    pub fn policy(&self, name: &str) -> Option<&PolicyReport> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The flag `name`'s value, if it is in the report.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.flags
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.enabled)
    }
}
