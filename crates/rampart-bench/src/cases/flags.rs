//! Feature flags and health probes: what a request path pays to check a kill switch,
//! and what a probe costs when its checks' results are cached.

use crate::harness::{async_loop, sync_loop, Case};
use rampart::flags::Flags;
use rampart::health::{Check, HealthRegistry};
use std::time::Duration;

/// The flag and health cases.
pub const CASES: &[Case] = &[
    Case::new("rampart_flag_is_enabled", flag_is_enabled),
    Case::new("rampart_flags_is_enabled_by_name", flags_is_enabled_by_name),
    Case::new("rampart_health_liveness", health_liveness),
    Case::new("rampart_health_readiness_cached_2_checks", readiness_cached),
];

/// `Flag::is_enabled` on a handle: one relaxed load.
fn flag_is_enabled(iterations: u64) -> Duration {
    let flags = Flags::new();
    let flag = flags.define("recommendations", true).expect("a valid name");
    sync_loop(iterations, |_| flag.is_enabled())
}

/// `Flags::is_enabled("name")`: a lookup under a read lock, for cold paths.
fn flags_is_enabled_by_name(iterations: u64) -> Duration {
    let flags = Flags::new();
    for name in ["a", "b", "recommendations", "reviews", "z"] {
        flags.define(name, true).expect("a valid name");
    }
    sync_loop(iterations, |_| flags.is_enabled("reviews"))
}

/// The liveness probe with no checks: uptime and a report.
fn health_liveness(iterations: u64) -> Duration {
    let health = HealthRegistry::new();
    sync_loop(iterations, |_| health.liveness().status)
}

/// A readiness probe whose two checks' results are in the cache.
fn readiness_cached(iterations: u64) -> Duration {
    let health = HealthRegistry::new();
    for name in ["database", "cache"] {
        health
            .add_readiness_check(Check::new(name, || async { Ok::<(), String>(()) }))
            .expect("a valid check");
    }
    async_loop(iterations, |_| {
        let health = health.clone();
        async move { health.readiness().await.status }
    })
}
