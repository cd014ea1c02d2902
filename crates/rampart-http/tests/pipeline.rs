//! The classifier inside a real pipeline: Retry-After replaces the backoff, method rules
//! hold, and client errors never open the breaker. Time is paused; nothing sleeps.

use http::{Method, Request, Response};
use rampart::circuit::{BreakerConfig, BreakerState};
use rampart::retry::RetryConfig;
use rampart::Pipeline;
use rampart_http::classify::{HttpClassifier, IDEMPOTENCY_KEY};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

fn pipeline() -> Pipeline {
    Pipeline::builder("payment")
        .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3))
        .circuit_breaker(BreakerConfig::consecutive(3))
        .build()
        .unwrap()
}

fn parts(method: Method, key: Option<&str>) -> http::request::Parts {
    let mut builder = Request::builder().method(method).uri("/charge");
    if let Some(k) = key {
        builder = builder.header(IDEMPOTENCY_KEY, k);
    }
    builder.body(()).unwrap().into_parts().0
}

/// Answers `first` once, then 200.
async fn once(
    calls: &AtomicU32,
    first: u16,
    retry_after: Option<&str>,
) -> io::Result<Response<()>> {
    let mut builder = Response::builder();
    if calls.fetch_add(1, Ordering::Relaxed) == 0 {
        builder = builder.status(first);
        if let Some(v) = retry_after {
            builder = builder.header("retry-after", v);
        }
    }
    Ok(builder.body(()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn retry_after_two_seconds_waits_two_seconds_not_the_backoff() {
    let p = pipeline();
    let c = HttpClassifier::<io::Error>::default().for_request(&parts(Method::GET, None));
    let calls = AtomicU32::new(0);
    let started = Instant::now();
    let r = p
        .call_classified(c, || once(&calls, 503, Some("2")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn post_without_key_is_not_retried_and_with_key_is() {
    let p = pipeline();
    let classifier = HttpClassifier::<io::Error>::default();
    let calls = AtomicU32::new(0);
    let r = p
        .call_classified(classifier.for_request(&parts(Method::POST, None)), || {
            once(&calls, 503, None)
        })
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), calls.load(Ordering::Relaxed)),
        (503, 1)
    );

    let calls = AtomicU32::new(0);
    let keyed = parts(Method::POST, Some("order-7"));
    let r = p
        .call_classified(classifier.for_request(&keyed), || once(&calls, 503, None))
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), calls.load(Ordering::Relaxed)),
        (200, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried_and_do_not_open_the_breaker() {
    let p = pipeline();
    let c = HttpClassifier::<io::Error>::default();
    for _ in 0..10 {
        let calls = AtomicU32::new(0);
        let r = p
            .call_classified(c.clone(), || once(&calls, 404, None))
            .await
            .unwrap();
        assert_eq!(
            (r.status().as_u16(), calls.load(Ordering::Relaxed)),
            (404, 1)
        );
    }
    let breaker = p.circuit_breakers().next().unwrap();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn server_errors_open_the_breaker() {
    let p = pipeline();
    let c = HttpClassifier::<io::Error>::default();
    // 501 is a failure that is not retried: three calls, three failures.
    for _ in 0..3 {
        let calls = AtomicU32::new(0);
        let _ = p
            .call_classified(c.clone(), || once(&calls, 501, None))
            .await;
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
    assert_eq!(
        p.circuit_breakers().next().unwrap().state(),
        BreakerState::Open
    );
}

#[tokio::test(start_paused = true)]
async fn refused_connections_retry_even_a_post() {
    let p = pipeline();
    let c = HttpClassifier::<io::Error>::default().for_request(&parts(Method::POST, None));
    let calls = AtomicU32::new(0);
    let r = p
        .call_classified(c, || async {
            if calls.fetch_add(1, Ordering::Relaxed) == 0 {
                Err(io::Error::from(io::ErrorKind::ConnectionRefused))
            } else {
                Ok(Response::new(()))
            }
        })
        .await;
    assert_eq!(r.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}
