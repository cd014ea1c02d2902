//! Fault injection as a pipeline stage: injected failures are retried and counted by a
//! breaker like the dependency's own, injected latency is cut by a per-attempt timeout,
//! the stage can be switched at run time and read from a configuration file, and a
//! disabled stage changes nothing. Time is tokio's paused clock.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use rampart::bulkhead::BulkheadConfig;
use rampart::chaos::{ChaosConfig, Schedule};
use rampart::circuit::{BreakerConfig, BreakerState};
use rampart::clock::{Clock, ManualClock};
use rampart::pipeline::PipelineConfig;
use rampart::retry::{Jitter, RetryConfig};
use rampart::{Error, Pipeline, RejectionKind};
use tokio::time::Instant;

fn kind<T>(r: &Result<T, Error<&'static str>>) -> Option<RejectionKind> {
    match r {
        Err(Error::Rejected(x)) => Some(x.kind()),
        _ => None,
    }
}

fn retry(attempts: u32) -> RetryConfig {
    RetryConfig::constant(Duration::from_millis(100))
        .with_max_attempts(attempts)
        .with_jitter(Jitter::None)
}

#[tokio::test(start_paused = true)]
async fn injected_failures_are_retried_per_attempt() {
    let p = Pipeline::builder("payment")
        .without_retry_budget()
        .retry(retry(3))
        .chaos(ChaosConfig::enabled().with_schedule(Schedule::fail_first(2)))
        .build()
        .unwrap();
    let runs = Cell::new(0);
    let out: Result<u32, Error<&str>> = p
        .call(|| {
            runs.set(runs.get() + 1);
            async { Ok(7) }
        })
        .await;
    assert_eq!(out, Ok(7));
    assert_eq!(
        runs.get(),
        1,
        "the two injected attempts never ran the operation"
    );
    let injector = p.fault_injectors().next().unwrap();
    assert_eq!((injector.calls(), injector.injected()), (3, 2));
}

#[tokio::test(start_paused = true)]
async fn an_injected_failure_is_a_rejection_of_kind_injected() {
    let p = Pipeline::builder("payment")
        .chaos(ChaosConfig::enabled().with_failure_rate(1.0))
        .build()
        .unwrap();
    let out = p.call(|| async { Ok::<_, &str>(1) }).await;
    assert_eq!(kind(&out), Some(RejectionKind::Injected));
    let Err(Error::Rejected(r)) = out else {
        unreachable!()
    };
    assert_eq!((r.name(), r.policy()), ("payment", "chaos"));
}

#[tokio::test(start_paused = true)]
async fn injected_latency_is_cut_by_the_per_attempt_timeout() {
    let p = Pipeline::builder("payment")
        .timeout(Duration::from_secs(1))
        .chaos(ChaosConfig::enabled().with_latency(Duration::from_secs(2), 1.0))
        .build()
        .unwrap();
    let ran = Cell::new(false);
    let start = Instant::now();
    let out = p
        .call(|| {
            ran.set(true);
            async { Ok::<_, &str>(1) }
        })
        .await;
    assert_eq!(kind(&out), Some(RejectionKind::Timeout));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(
        !ran.get(),
        "the operation waits behind the latency, and was cut first"
    );
}

#[tokio::test(start_paused = true)]
async fn injected_latency_delays_the_attempt_exactly() {
    let p = Pipeline::builder("payment")
        .chaos(ChaosConfig::enabled().with_latency(Duration::from_millis(300), 1.0))
        .build()
        .unwrap();
    let start = Instant::now();
    assert_eq!(p.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn a_breaker_counts_injected_failures_as_the_dependency_s() {
    let p = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(3))
        .chaos(ChaosConfig::enabled().with_failure_rate(1.0))
        .build()
        .unwrap();
    for _ in 0..3 {
        let out = p.call(|| async { Ok::<_, &str>(1) }).await;
        assert_eq!(kind(&out), Some(RejectionKind::Injected));
    }
    assert_eq!(
        p.circuit_breakers().next().unwrap().state(),
        BreakerState::Open
    );
    let out = p.call(|| async { Ok::<_, &str>(1) }).await;
    assert_eq!(kind(&out), Some(RejectionKind::CircuitOpen));
}

#[tokio::test(start_paused = true)]
async fn the_stage_is_switched_at_run_time() {
    let p = Pipeline::builder("recommendations")
        .chaos(ChaosConfig::disabled().with_failure_rate(1.0))
        .build()
        .unwrap();
    assert_eq!(p.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    let injector = p.fault_injectors().next().unwrap();
    assert_eq!(injector.calls(), 0, "off: not even counted");
    injector.set_enabled(true);
    let out = p.call(|| async { Ok::<_, &str>(1) }).await;
    assert_eq!(kind(&out), Some(RejectionKind::Injected));
    injector.set_enabled(false);
    assert_eq!(p.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn a_schedule_in_a_configuration_file_fires_when_stated() {
    let config: PipelineConfig = toml::from_str(
        r#"
        [[policies]]
        policy = "timeout"
        duration = "1s"

        [[policies]]
        policy = "chaos"
        enabled = true
        schedule = [{ kind = "latency", latency = "2s", from = "30s", until = "60s" }]
        "#,
    )
    .unwrap();
    let p = Pipeline::from_config("search", &config).unwrap();
    assert_eq!(p.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    tokio::time::advance(Duration::from_secs(30)).await;
    let out = p.call(|| async { Ok::<_, &str>(1) }).await;
    assert_eq!(
        kind(&out),
        Some(RejectionKind::Timeout),
        "latency from t = 30 s"
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(p.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_during_injected_latency_gives_back_its_bulkhead_slot() {
    let p = Pipeline::builder("payment")
        .bulkhead(BulkheadConfig::new().with_max_concurrent(1))
        .chaos(ChaosConfig::enabled().with_latency(Duration::from_secs(5), 1.0))
        .build()
        .unwrap();
    let mut call = Box::pin(p.call(|| async { Ok::<_, &str>(1) }));
    assert!(futures_poll_once(call.as_mut()).is_pending());
    assert_eq!(p.bulkheads().next().unwrap().snapshot().active, 1);
    drop(call);
    assert_eq!(p.bulkheads().next().unwrap().snapshot().active, 0);
}

fn futures_poll_once<F: std::future::Future>(
    f: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn blocking_calls_get_the_same_faults() {
    let clock = ManualClock::new();
    let p = Pipeline::builder("payment")
        .clock(Arc::new(clock.clone()))
        .chaos(
            ChaosConfig::enabled()
                .with_latency(Duration::from_millis(250), 1.0)
                .with_schedule(Schedule::fail_first(1)),
        )
        .build()
        .unwrap();
    let first: Result<u32, Error<&str>> = p.call_blocking(|| Ok(1));
    assert_eq!(kind(&first), Some(RejectionKind::Injected));
    assert_eq!(p.call_blocking(|| Ok::<_, &str>(2)), Ok(2));
    assert_eq!(
        clock.now_nanos(),
        500_000_000,
        "each call slept 250 ms first"
    );
}

#[test]
fn a_bad_rate_names_the_field() {
    let err = Pipeline::builder("p")
        .chaos(ChaosConfig::enabled().with_failure_rate(1.5))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "chaos.failure_rate", "{err}");
}

/// Substitute outcomes are typed, so they are injected at the operation: a `Chaos`
/// wrapper around it, inside the pipeline, swaps the dependency's answer per attempt.
#[tokio::test(start_paused = true)]
async fn substitute_outcomes_are_injected_at_the_operation() {
    use rampart::chaos::{Chaos, FaultInjector};
    let injector = FaultInjector::new(
        "search",
        &ChaosConfig::enabled().with_schedule(Schedule::substitute_first(1)),
    )
    .unwrap();
    let chaos = Chaos::new(injector, || Ok::<_, &str>(vec!["stale result"]));
    let p = Pipeline::builder("search")
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let first = p
        .call(|| chaos.call(|| async { Ok(vec!["fresh result"]) }))
        .await;
    assert_eq!(first, Ok(vec!["stale result"]));
    let second = p
        .call(|| chaos.call(|| async { Ok(vec!["fresh result"]) }))
        .await;
    assert_eq!(second, Ok(vec!["fresh result"]));
}
