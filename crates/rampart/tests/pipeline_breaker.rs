//! A circuit breaker inside a pipeline: where it sits decides what it counts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::circuit::BreakerConfig;
use rampart::fallback::{Fallback, FallbackChain};
use rampart::pipeline::PipelineConfig;
use rampart::retry::{Jitter, RetryConfig};
use rampart::{Error, Pipeline, RejectionKind};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn retry3() -> RetryConfig {
    RetryConfig::constant(ms(10))
        .with_max_attempts(3)
        .with_jitter(Jitter::None)
}

/// Makes one failing request; returns how many times the operation ran.
async fn failing_request(p: &Pipeline) -> (u32, Result<(), Error<&'static str>>) {
    let mut n = 0;
    let r = p
        .call(|| {
            n += 1;
            async { Err("503") }
        })
        .await;
    (n, r)
}

fn is_open(r: &Result<(), Error<&'static str>>) -> bool {
    matches!(r, Err(Error::Rejected(x)) if x.kind() == RejectionKind::CircuitOpen)
}

#[tokio::test(start_paused = true)]
async fn breaker_inside_retry_counts_attempts_and_trips_in_two_requests() {
    // The seeds' trap: retry (3 attempts) around the breaker; two user requests make
    // six attempts, and a threshold of 5 trips during the second.
    let p = Pipeline::builder("payment")
        .without_retry_budget()
        .retry(retry3())
        .circuit_breaker(BreakerConfig::consecutive(5))
        .build()
        .unwrap();
    let (n1, r1) = failing_request(&p).await;
    assert_eq!((n1, r1), (3, Err(Error::Operation("503"))));
    let (n2, r2) = failing_request(&p).await;
    assert_eq!(n2, 2, "the sixth attempt is refused by the open breaker");
    assert!(is_open(&r2), "{r2:?}");
    let (n3, r3) = failing_request(&p).await;
    assert_eq!(n3, 0);
    assert!(is_open(&r3));
}

#[tokio::test(start_paused = true)]
async fn breaker_outside_retry_counts_requests() {
    // The documented order: the breaker sees one outcome per request.
    let p = Pipeline::builder("payment")
        .without_retry_budget()
        .circuit_breaker(BreakerConfig::consecutive(5))
        .retry(retry3())
        .build()
        .unwrap();
    for _ in 0..4 {
        let (n, r) = failing_request(&p).await;
        assert_eq!((n, r), (3, Err(Error::Operation("503"))));
    }
    // The fifth request is still let through (4 failures so far), and trips it.
    let (n5, _) = failing_request(&p).await;
    assert_eq!(n5, 3);
    let (n6, r6) = failing_request(&p).await;
    assert_eq!(n6, 0);
    assert!(is_open(&r6));
}

#[tokio::test(start_paused = true)]
async fn open_breaker_says_when_to_come_back_and_half_opens() {
    let p = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(1).with_open_for(Duration::from_secs(30)))
        .build()
        .unwrap();
    let _ = failing_request(&p).await;
    tokio::time::advance(Duration::from_secs(10)).await;
    let (_, r) = failing_request(&p).await;
    match r {
        Err(Error::Rejected(x)) => {
            assert_eq!(x.kind(), RejectionKind::CircuitOpen);
            assert_eq!(x.retry_after(), Some(Duration::from_secs(20)));
        }
        other => panic!("expected an open breaker, got {other:?}"),
    }
    tokio::time::advance(Duration::from_secs(20)).await;
    let r: Result<u8, Error<&str>> = p.call(|| async { Ok(1) }).await;
    assert_eq!(r, Ok(1), "the probe goes through and closes the breaker");
    let r: Result<u8, Error<&str>> = p.call(|| async { Ok(2) }).await;
    assert_eq!(r, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_gives_its_slot_back() {
    let p = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(1).with_open_for(Duration::from_secs(1)))
        .build()
        .unwrap();
    let _ = failing_request(&p).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    // The probe hangs and its caller gives up: the probe slot must come back.
    let hung =
        tokio::time::timeout(ms(100), p.call(std::future::pending::<Result<(), &str>>)).await;
    assert!(hung.is_err());
    let calls = AtomicU32::new(0);
    let r: Result<(), Error<&str>> = p
        .call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        })
        .await;
    assert_eq!(r, Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn timeouts_inside_the_breaker_count_as_failures() {
    let p = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(2))
        .timeout(ms(100))
        .build()
        .unwrap();
    for _ in 0..2 {
        let r = p.call(std::future::pending::<Result<(), &str>>).await;
        assert!(matches!(r, Err(Error::Rejected(ref x)) if x.is_timeout()));
    }
    let (n, r) = failing_request(&p).await;
    assert_eq!(n, 0);
    assert!(is_open(&r));
}

#[tokio::test(start_paused = true)]
async fn a_fallback_answers_for_an_open_breaker() {
    let p = Pipeline::builder("recommendations")
        .circuit_breaker(BreakerConfig::consecutive(1))
        .build()
        .unwrap();
    let _ = failing_request(&p).await;
    let chain: FallbackChain<&str, &str> = FallbackChain::new().fallback(
        Fallback::value("popular", "popular items").on_rejection(&[RejectionKind::CircuitOpen]),
    );
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let answer = p
        .call_with_fallback(
            move || {
                c.fetch_add(1, Ordering::SeqCst);
                async { Ok("personal") }
            },
            &chain,
        )
        .await
        .unwrap();
    assert!(answer.is_degraded());
    assert_eq!(*answer.value(), "popular items");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn blocking_calls_go_through_the_breaker() {
    let p = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(2))
        .build()
        .unwrap();
    for _ in 0..2 {
        let r: Result<(), Error<&str>> = p.call_blocking(|| Err("503"));
        assert_eq!(r, Err(Error::Operation("503")));
    }
    let mut ran = false;
    let r: Result<(), Error<&str>> = p.call_blocking(|| {
        ran = true;
        Ok(())
    });
    assert!(!ran);
    assert!(matches!(r, Err(Error::Rejected(ref x)) if x.is_circuit_open()));
}

#[tokio::test(start_paused = true)]
async fn a_breaker_from_a_configuration_file() {
    let cfg: PipelineConfig = toml::from_str(
        r#"
        [[policies]]
        policy = "circuit_breaker"
        window = { kind = "count", size = 10 }
        failure_rate = 0.5
        open_for = "30s"

        [[policies]]
        policy = "timeout"
        duration = "2s"
        "#,
    )
    .unwrap();
    let p = Pipeline::from_config("inventory", &cfg).unwrap();
    // The seeds' sequence: 4 failures, 1 success, 4 failures trips a count window of 10
    // at 50 % once the window is full.
    let outcomes = [false, false, false, false, true, false, false, false, false];
    for ok in outcomes {
        let r: Result<(), Error<&str>> = p
            .call(move || async move {
                if ok {
                    Ok(())
                } else {
                    Err("503")
                }
            })
            .await;
        assert!(!matches!(r, Err(Error::Rejected(_))), "not open yet: {r:?}");
    }
    let _ = failing_request(&p).await; // the tenth call: 9 failures in 10
    let (n, r) = failing_request(&p).await;
    assert_eq!(n, 0);
    assert!(is_open(&r));
    let bad: Result<PipelineConfig, _> = toml::from_str(
        r#"
        [[policies]]
        policy = "circuit_breaker"
        failure_rate = 1.5
        "#,
    );
    let err = Pipeline::from_config("x", &bad.unwrap()).unwrap_err();
    assert_eq!(err.field(), "circuit_breaker.failure_rate");
}

#[tokio::test(start_paused = true)]
async fn operators_reach_the_breaker_through_the_pipeline() {
    use rampart::circuit::BreakerState;
    let p = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(5))
        .build()
        .unwrap();
    let breaker = p.circuit_breakers().next().expect("one breaker");
    assert_eq!(breaker.state(), BreakerState::Closed);
    breaker.force_open();
    let (n, r) = failing_request(&p).await;
    assert_eq!(n, 0);
    assert!(is_open(&r));
    breaker.reset();
    let (n, _) = failing_request(&p).await;
    assert_eq!(n, 1);
    assert_eq!(p.circuit_breakers().count(), 1);
}
