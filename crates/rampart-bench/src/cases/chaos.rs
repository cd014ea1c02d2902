//! rampart: the fault injector's decision per call, switched off and on, and a
//! standalone call through a switched-off injector.
//!
//! Off, a decision is one relaxed load and a branch, so `rampart_chaos_decide_off`
//! should cost no more than the baseline's one atomic increment. On, at a failure rate
//! of 0.1, it numbers the call (one atomic increment) and draws once (a splitmix64
//! mix); a tenth of the calls also count an injected fault. No listener is installed.

use crate::harness::{async_loop, sync_loop, Case};
use rampart::chaos::{ChaosConfig, FaultInjector};
use rampart::retry::RetryConfig;
use std::future::ready;
use std::time::Duration;

/// The fault-injection cases.
pub const CASES: &[Case] = &[
    Case::new("rampart_chaos_decide_off", decide_off),
    Case::new("rampart_chaos_decide_on_rate_0_1", decide_on_rate_0_1),
    Case::new("rampart_chaos_injector_call_off_ok", injector_call_off_ok),
    Case::new("rampart_chaos_off_call_ok", pipeline_chaos_off_call_ok),
];

/// `rampart_pipeline_retry_timeout_ok`'s pipeline with a switched-off fault injection
/// stage inside the per-attempt timeout: what having chaos configured but off costs.
fn pipeline_chaos_off_call_ok(iterations: u64) -> Duration {
    let pipeline = rampart::Pipeline::builder("bench")
        .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3))
        .timeout(Duration::from_secs(1))
        .chaos(ChaosConfig::disabled().with_failure_rate(1.0))
        .build()
        .expect("the bench pipeline is valid");
    let pipeline = &pipeline;
    async_loop(iterations, move |x| {
        pipeline.call(move || ready(Ok::<u64, std::convert::Infallible>(x)))
    })
}

fn injector(config: ChaosConfig) -> FaultInjector {
    FaultInjector::new("bench", &config).expect("the bench injector is valid")
}

/// `decide()` on an injector whose config would fail every call, switched off.
fn decide_off(iterations: u64) -> Duration {
    let chaos = injector(ChaosConfig::disabled().with_failure_rate(1.0));
    sync_loop(iterations, |_| chaos.decide())
}

/// `decide()` on an injector that fails a tenth of the calls, from a fixed seed.
fn decide_on_rate_0_1(iterations: u64) -> Duration {
    let chaos = injector(ChaosConfig::enabled().with_failure_rate(0.1).with_seed(1));
    sync_loop(iterations, |_| chaos.decide())
}

/// `call` of a ready operation through a switched-off injector.
fn injector_call_off_ok(iterations: u64) -> Duration {
    let chaos = injector(ChaosConfig::disabled());
    let chaos = &chaos;
    async_loop(iterations, move |x| async move {
        chaos.call(|| ready(Ok::<u64, ()>(x))).await
    })
}
