//! rampart: the load shedder's admission at low load, and the adaptive concurrency
//! limiter's permit round trip.
//!
//! Both are synchronous: a call takes a permit and gives it back, so these cases use
//! the sync loop.

use crate::harness::{sync_loop, Case};
use rampart::adaptive::{AdaptiveConfig, AdaptiveLimiter, AimdConfig};
use rampart::shed::{LoadShedder, Priority, ShedConfig};
use std::time::Duration;

/// The shedder and adaptive-limiter cases.
pub const CASES: &[Case] = &[
    Case::new("rampart_shed_check", shed_check),
    Case::new("rampart_adaptive_call_ok", adaptive_call_ok),
];

/// `try_acquire(Normal)` and drop of the permit, on a shedder of capacity 1000 with
/// nothing else in flight: the level check and the in-flight count.
fn shed_check(iterations: u64) -> Duration {
    let shedder =
        LoadShedder::new("bench", ShedConfig::new(1000)).expect("the bench shedder is valid");
    sync_loop(iterations, |x| {
        let permit = shedder
            .try_acquire(Priority::Normal)
            .expect("an empty shedder admits");
        drop(permit);
        x
    })
}

/// `try_acquire` and `success` on an AIMD limiter whose threshold no call reaches: two
/// clock reads and the algorithm's short lock per call.
fn adaptive_call_ok(iterations: u64) -> Duration {
    let config =
        AdaptiveConfig::aimd(AimdConfig::new().with_latency_threshold(Duration::from_secs(60)))
            .with_initial_limit(100);
    let limiter = AdaptiveLimiter::new("bench", config).expect("the bench limiter is valid");
    sync_loop(iterations, |x| {
        limiter
            .try_acquire()
            .expect("a single caller stays under the limit")
            .success();
        x
    })
}
