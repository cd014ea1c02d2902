//! The tower contract of the layers: refusals come from the response future, never from
//! `poll_ready`; what a request holds its response future holds, and gives back when it
//! completes, fails, panics or is dropped; clones share the policy; the pipeline layer
//! resends a clone of the request on every attempt and keeps the error typed.

use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rampart::bulkhead::{Bulkhead, BulkheadConfig};
use rampart::circuit::{BreakerConfig, BreakerState, CircuitBreaker};
use rampart::classify::Classifier;
use rampart::hedge::HedgeConfig;
use rampart::rate_limit::{RateLimitConfig, RateLimiter};
use rampart::retry::{Jitter, RetryConfig};
use rampart::shed::{LoadShedder, Priority, ShedConfig};
use rampart::timeout::TimeoutConfig;
use rampart::tower::{
    BulkheadLayer, CircuitBreakerLayer, LoadShedLayer, PipelineLayer, RampartServiceBuilderExt,
    TimeoutLayer,
};
use rampart::{Error, Pipeline, RejectionKind};
use tokio_test::task;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_test::mock;

type Mock = mock::Mock<&'static str, &'static str>;
type Handle = mock::Handle<&'static str, &'static str>;

fn bulkhead(max: u32, queue: u32) -> Bulkhead {
    let config = BulkheadConfig::new()
        .with_max_concurrent(max)
        .with_max_queue(queue);
    Bulkhead::new("svc", config).unwrap()
}

fn kind<T, E>(r: &Result<T, Error<E>>) -> Option<RejectionKind> {
    match r {
        Err(Error::Rejected(r)) => Some(r.kind()),
        _ => None,
    }
}

/// Asserts that the service is ready at once, as every service here always is.
fn assert_ready<S: Service<R>, R>(svc: &mut S) {
    let mut ready = task::spawn(std::future::poll_fn(|cx| svc.poll_ready(cx)));
    assert!(
        matches!(ready.poll(), Poll::Ready(Ok(()))),
        "poll_ready must be Ready(Ok)"
    );
}

/// The next request the mock received, if one is waiting.
fn try_next(handle: &mut Handle) -> Option<(&'static str, mock::SendResponse<&'static str>)> {
    let mut next = task::spawn(handle.next_request());
    match next.poll() {
        Poll::Ready(r) => r,
        Poll::Pending => None,
    }
}

fn retrying_pipeline() -> Pipeline {
    let retry = RetryConfig::exponential(Duration::from_millis(100))
        .with_max_attempts(3)
        .with_jitter(Jitter::None);
    Pipeline::builder("payment")
        .retry(retry)
        .without_retry_budget()
        .build()
        .unwrap()
}

// ----- pipeline layer -----

#[tokio::test(start_paused = true)]
async fn pipeline_retries_resend_a_clone_of_the_request() {
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let svc = PipelineLayer::new(retrying_pipeline()).layer(mock);
    let call = tokio::spawn(svc.oneshot("charge 42"));

    for attempt in 1..=3 {
        let (req, send) = handle.next_request().await.expect("an attempt");
        assert_eq!(req, "charge 42", "attempt {attempt} carries the request");
        if attempt < 3 {
            send.send_error("503");
        } else {
            send.send_response("paid");
        }
    }
    assert_eq!(call.await.unwrap().unwrap(), "paid");
}

#[tokio::test(start_paused = true)]
async fn pipeline_keeps_the_error_typed() {
    #[derive(Debug, Clone, PartialEq)]
    struct Declined(u32);

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let inner = service_fn(move |amount: u32| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Err::<u32, _>(Declined(amount)) }
    });
    let svc = PipelineLayer::new(retrying_pipeline()).layer(inner);
    let out: Result<u32, Error<Declined>> = svc.oneshot(7).await;
    assert_eq!(out, Err(Error::Operation(Declined(7))));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn pipeline_classifier_decides_what_is_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let inner = service_fn(move |_: ()| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<u16, &str>(if n == 0 { 503 } else { 404 }) }
    });
    let classifier: Classifier<u16, &str> = Classifier::new().failure_ok_if(|s| *s >= 500);
    let svc = PipelineLayer::new(retrying_pipeline())
        .with_classifier(classifier)
        .layer(inner);
    assert_eq!(svc.oneshot(()).await, Ok(404));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn pipeline_refuses_from_call_not_poll_ready() {
    let pipeline = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(1))
        .build()
        .unwrap();
    let breaker = pipeline.circuit_breakers().next().unwrap().clone();
    breaker.force_open();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = PipelineLayer::new(pipeline).layer(mock);

    assert_ready(&mut svc);
    let out = svc.call("charge").await;
    assert_eq!(kind(&out), Some(RejectionKind::CircuitOpen));
    assert!(
        try_next(&mut handle).is_none(),
        "a refused request never reaches the service"
    );
}

#[tokio::test(start_paused = true)]
async fn pipeline_bulkhead_permit_is_released_when_the_response_future_is_dropped() {
    let pipeline = Pipeline::builder("payment")
        .bulkhead(BulkheadConfig::new().with_max_concurrent(1))
        .build()
        .unwrap();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = PipelineLayer::new(pipeline.clone()).layer(mock);
    let active = || pipeline.bulkheads().next().unwrap().snapshot().active;

    // Ready services hold nothing.
    let mut other = svc.clone();
    assert_ready(&mut svc);
    assert_ready(&mut other);
    assert_eq!(active(), 0);

    let mut first = task::spawn(svc.call("a"));
    assert!(first.poll().is_pending());
    assert_eq!(active(), 1);
    let _in_flight = handle.next_request().await.unwrap();

    let second = other.call("b").await;
    assert_eq!(kind(&second), Some(RejectionKind::BulkheadFull));

    drop(first);
    assert_eq!(active(), 0);
    let mut third = task::spawn(other.call("c"));
    assert!(third.poll().is_pending());
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, "c");
    send.send_response("ok");
    assert!(matches!(third.await, Ok("ok")));
    assert_eq!(active(), 0);
}

#[tokio::test(start_paused = true)]
async fn pipeline_service_builder_extension_composes() {
    let svc = ServiceBuilder::new()
        .pipeline(retrying_pipeline())
        .service(service_fn(|x: u32| async move { Ok::<_, &str>(x + 1) }));
    assert_eq!(svc.oneshot(1).await, Ok(2));
}

// ----- bulkhead layer -----

#[tokio::test(start_paused = true)]
async fn bulkhead_refuses_from_call_and_releases_on_drop() {
    let b = bulkhead(1, 0);
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = BulkheadLayer::new(b.clone()).layer(mock);
    let mut other = svc.clone();

    let mut first = task::spawn(svc.call("a"));
    assert!(first.poll().is_pending());
    assert_eq!(b.snapshot().active, 1);
    assert!(handle.next_request().await.is_some());

    // Full: still ready, and the refusal comes from the response future.
    assert_ready(&mut other);
    let refused = other.call("b").await;
    assert_eq!(kind(&refused), Some(RejectionKind::BulkheadFull));
    assert!(try_next(&mut handle).is_none());

    drop(first);
    assert_eq!(b.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_ready_services_hold_no_permit() {
    let b = bulkhead(1, 0);
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let svc = BulkheadLayer::new(b.clone()).layer(mock);

    // Many connections made ready, none sending: nothing is taken.
    let mut idle: Vec<_> = (0..4).map(|_| svc.clone()).collect();
    for s in &mut idle {
        assert_ready(s);
    }
    assert_eq!(b.snapshot().active, 0);

    // A service dropped while its response future runs: the future keeps the permit
    // until it completes, then gives it back.
    let mut caller = svc.clone();
    let call = tokio::spawn(caller.call("a"));
    drop(caller);
    drop(idle);
    drop(svc);
    let (_, send) = handle.next_request().await.unwrap();
    assert_eq!(b.snapshot().active, 1);
    send.send_response("done");
    assert!(matches!(call.await.unwrap(), Ok("done")));
    assert_eq!(b.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_wakes_exactly_one_waiter() {
    let b = bulkhead(1, 2);
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = BulkheadLayer::new(b.clone()).layer(mock);

    let mut first = task::spawn(svc.call("a"));
    let mut second = task::spawn(svc.call("b"));
    let mut third = task::spawn(svc.call("c"));
    assert!(first.poll().is_pending());
    assert!(second.poll().is_pending());
    assert!(third.poll().is_pending());
    let snap = b.snapshot();
    assert_eq!((snap.active, snap.queued), (1, 2));
    assert_eq!(handle.next_request().await.unwrap().0, "a");

    drop(first);
    assert!(second.is_woken(), "the first waiter is woken");
    assert!(!third.is_woken(), "only one waiter is woken");
    assert!(second.poll().is_pending());
    assert!(third.poll().is_pending());
    let snap = b.snapshot();
    assert_eq!((snap.active, snap.queued), (1, 1));
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, "b");
    assert!(try_next(&mut handle).is_none());

    send.send_response("ok");
    assert!(matches!(second.poll(), Poll::Ready(Ok("ok"))));
    assert!(third.is_woken());
    assert!(third.poll().is_pending());
    assert_eq!(handle.next_request().await.unwrap().0, "c");
}

#[tokio::test(start_paused = true)]
async fn bulkhead_dropped_waiter_passes_the_permit_on() {
    let b = bulkhead(1, 2);
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = BulkheadLayer::new(b.clone()).layer(mock);

    let mut first = task::spawn(svc.call("a"));
    let mut second = task::spawn(svc.call("b"));
    let mut third = task::spawn(svc.call("c"));
    assert!(first.poll().is_pending());
    assert!(second.poll().is_pending());
    assert!(third.poll().is_pending());
    drop(second);
    assert_eq!(b.snapshot().queued, 1);
    drop(first);
    assert!(third.is_woken());
    assert!(third.poll().is_pending());
    assert_eq!(handle.next_request().await.unwrap().0, "a");
    assert_eq!(handle.next_request().await.unwrap().0, "c");
    drop(third);
    let snap = b.snapshot();
    assert_eq!((snap.active, snap.queued), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn bulkhead_capacity_returns_after_errors_and_panics() {
    let b = bulkhead(1, 0);
    let inner = service_fn(|x: u32| async move {
        match x {
            0 => Err("failed"),
            1 => panic!("the handler panicked"),
            _ => Ok(x),
        }
    });
    let svc = BulkheadLayer::new(b.clone()).layer(inner);

    assert_eq!(
        svc.clone().oneshot(0).await,
        Err(Error::Operation("failed"))
    );
    assert_eq!(b.snapshot().active, 0);

    let panicked = tokio::spawn(svc.clone().oneshot(1)).await;
    assert!(panicked.unwrap_err().is_panic());
    assert_eq!(b.snapshot().active, 0);

    assert_eq!(svc.oneshot(2).await, Ok(2));
    assert_eq!(b.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_inner_readiness_error_releases_the_permit() {
    let b = bulkhead(1, 0);
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let svc = BulkheadLayer::new(b.clone()).layer(mock);
    handle.send_error("not ready");
    let out = svc.oneshot("a").await;
    assert!(matches!(out, Err(Error::Operation(_))));
    assert_eq!(b.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_inner_backpressure_is_driven_in_the_response_future() {
    let b = bulkhead(2, 0);
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = BulkheadLayer::new(b.clone()).layer(mock);
    handle.allow(0);

    // The layer is ready even though the inner service is not.
    assert_ready(&mut svc);
    let mut call = task::spawn(svc.call("a"));
    assert!(call.poll().is_pending());
    assert_eq!(b.snapshot().active, 1);
    handle.allow(1);
    assert!(call.is_woken());
    assert!(call.poll().is_pending());
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, "a");
    send.send_response("ok");
    assert!(matches!(call.poll(), Poll::Ready(Ok("ok"))));
    assert_eq!(b.snapshot().active, 0);
}

// ----- circuit breaker layer -----

#[tokio::test(start_paused = true)]
async fn breaker_opened_through_one_clone_refuses_on_another() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let inner = service_fn(move |_: ()| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    });
    let breaker = CircuitBreaker::new("svc", BreakerConfig::consecutive(2)).unwrap();
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(inner);
    let mut one = svc.clone();
    let mut two = svc;

    for _ in 0..2 {
        assert_eq!(
            one.ready().await.unwrap().call(()).await,
            Err(Error::Operation("down"))
        );
    }
    assert_eq!(breaker.state(), BreakerState::Open);

    assert_ready(&mut two);
    let refused = two.call(()).await;
    assert_eq!(kind(&refused), Some(RejectionKind::CircuitOpen));
    assert!(refused
        .unwrap_err()
        .rejection()
        .unwrap()
        .retry_after()
        .is_some());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "refused requests never reach the service"
    );
}

#[tokio::test(start_paused = true)]
async fn breaker_classifier_counts_responses() {
    let inner = service_fn(|status: u16| async move { Ok::<_, &str>(status) });
    let breaker = CircuitBreaker::new("svc", BreakerConfig::consecutive(2)).unwrap();
    let classifier: Classifier<u16, &str> = Classifier::new().failure_ok_if(|s| *s >= 500);
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()).with_classifier(classifier))
        .service(inner);

    assert_eq!(svc.clone().oneshot(200).await, Ok(200));
    assert_eq!(svc.clone().oneshot(503).await, Ok(503));
    assert_eq!(svc.clone().oneshot(200).await, Ok(200));
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(svc.clone().oneshot(502).await, Ok(502));
    assert_eq!(svc.clone().oneshot(500).await, Ok(500));
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(
        kind(&svc.oneshot(200).await),
        Some(RejectionKind::CircuitOpen)
    );
}

#[tokio::test(start_paused = true)]
async fn breaker_probe_slot_returns_when_the_response_future_is_dropped() {
    let config = BreakerConfig::consecutive(1)
        .with_open_for(Duration::from_secs(1))
        .with_permitted_probes(1);
    let breaker = CircuitBreaker::new("svc", config).unwrap();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = ServiceBuilder::new()
        .circuit_breaker(breaker.clone())
        .service(mock);

    let mut failing = task::spawn(svc.call("a"));
    assert!(failing.poll().is_pending());
    handle.next_request().await.unwrap().1.send_error("down");
    assert!(matches!(
        failing.poll(),
        Poll::Ready(Err(Error::Operation(_)))
    ));
    assert_eq!(breaker.state(), BreakerState::Open);

    tokio::time::advance(Duration::from_secs(1)).await;
    let mut probe = task::spawn(svc.call("probe"));
    assert!(probe.poll().is_pending());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // The only probe slot is taken.
    assert_eq!(kind(&svc.call("b").await), Some(RejectionKind::CircuitOpen));
    drop(probe);
    // Given back: the next request is the probe.
    let mut again = task::spawn(svc.call("probe again"));
    assert!(again.poll().is_pending());
    let _ = handle.next_request().await.unwrap();
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, "probe again");
    send.send_response("ok");
    assert!(matches!(again.poll(), Poll::Ready(Ok("ok"))));
    assert_eq!(breaker.state(), BreakerState::Closed);
}

// ----- rate limit layer -----

#[tokio::test(start_paused = true)]
async fn rate_limit_refuses_from_call_with_retry_after() {
    let limiter = RateLimiter::new("svc", RateLimitConfig::per_second(2)).unwrap();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = ServiceBuilder::new().rate_limiter(limiter).service(mock);

    let mut admitted = Vec::new();
    for req in ["a", "b"] {
        assert_ready(&mut svc);
        let mut f = task::spawn(svc.call(req));
        assert!(f.poll().is_pending());
        admitted.push(f);
    }
    assert_ready(&mut svc);
    let refused = svc.call("c").await;
    assert_eq!(kind(&refused), Some(RejectionKind::RateLimited));
    let after = refused
        .unwrap_err()
        .rejection()
        .unwrap()
        .retry_after()
        .unwrap();
    assert_eq!(after, Duration::from_millis(500));

    tokio::time::advance(after).await;
    let mut later = task::spawn(svc.call("d"));
    assert!(later.poll().is_pending());
    let got: Vec<_> = [
        handle.next_request().await,
        handle.next_request().await,
        handle.next_request().await,
    ]
    .into_iter()
    .map(|r| r.unwrap().0)
    .collect();
    assert_eq!(got, ["a", "b", "d"]);
}

// ----- load shed layer -----

#[tokio::test(start_paused = true)]
async fn load_shed_counts_in_flight_until_the_response_future_ends() {
    let shedder = LoadShedder::new("svc", ShedConfig::new(2)).unwrap();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = LoadShedLayer::new(shedder.clone()).layer(mock);

    let mut first = task::spawn(svc.call("a"));
    let mut second = task::spawn(svc.call("b"));
    assert!(first.poll().is_pending());
    assert!(second.poll().is_pending());
    assert_eq!(shedder.in_flight(), 2);

    // Load 100 %: a Normal request is shed, from the response future.
    assert_ready(&mut svc);
    assert_eq!(kind(&svc.call("c").await), Some(RejectionKind::Shed));

    // Critical passes whatever the load (priority from the task's scope).
    let critical = rampart::shed::scope(Priority::Critical, || svc.call("auth"));
    let mut critical = task::spawn(critical);
    assert!(critical.poll().is_pending());
    assert_eq!(shedder.in_flight(), 3);

    drop(first);
    drop(critical);
    let _ = handle.next_request().await;
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error("failed");
    assert!(matches!(
        second.poll(),
        Poll::Ready(Err(Error::Operation(_)))
    ));
    assert_eq!(shedder.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn load_shed_priority_from_the_request() {
    let shedder = LoadShedder::new("svc", ShedConfig::new(1)).unwrap();
    let inner = service_fn(|_: &'static str| std::future::pending::<Result<(), ()>>());
    let layer = LoadShedLayer::new(shedder.clone()).with_priority(|path: &&'static str| {
        if path.starts_with("/auth") {
            Priority::Critical
        } else {
            Priority::Low
        }
    });
    let mut svc = layer.layer(inner);
    let mut busy = task::spawn(svc.call("/checkout"));
    assert!(busy.poll().is_pending());
    assert_eq!(
        kind(&svc.call("/analytics").await),
        Some(RejectionKind::Shed)
    );
    let mut auth = task::spawn(svc.call("/auth/login"));
    assert!(auth.poll().is_pending());
    assert_eq!(shedder.in_flight(), 2);
}

#[tokio::test(start_paused = true)]
async fn service_builder_stacks_every_layer() {
    let svc = ServiceBuilder::new()
        .load_shedder(LoadShedder::new("svc", ShedConfig::new(10)).unwrap())
        .rate_limiter(RateLimiter::new("svc", RateLimitConfig::per_second(10)).unwrap())
        .bulkhead(bulkhead(4, 0))
        .circuit_breaker(CircuitBreaker::new("svc", BreakerConfig::consecutive(5)).unwrap())
        .service(service_fn(|x: u32| async move { Ok::<_, &str>(x * 2) }));
    let out = svc.oneshot(21).await;
    assert!(matches!(out, Ok(42)));
}

#[tokio::test(start_paused = true)]
async fn pipeline_response_future_dropped_during_backoff_starts_no_attempt() {
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let mut svc = PipelineLayer::new(retrying_pipeline()).layer(mock);
    let mut call = task::spawn(svc.call("a"));
    assert!(call.poll().is_pending());
    handle.next_request().await.unwrap().1.send_error("503");
    assert!(call.poll().is_pending(), "waiting out the backoff");
    drop(call);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(try_next(&mut handle).is_none());
}

#[tokio::test(start_paused = true)]
async fn stacked_layers_flatten_to_one_error_level() {
    let b = bulkhead(1, 0);
    let pipeline = retrying_pipeline();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let svc = ServiceBuilder::new()
        .map_err(Error::flatten)
        .bulkhead(b.clone())
        .pipeline(pipeline)
        .service(mock);

    let first = tokio::spawn(svc.clone().oneshot("a"));
    let (_, send) = handle.next_request().await.unwrap();
    let refused: Result<_, Error<_>> = svc.clone().oneshot("b").await;
    assert_eq!(kind(&refused), Some(RejectionKind::BulkheadFull));
    send.send_response("ok");
    assert!(matches!(first.await.unwrap(), Ok("ok")));
    assert_eq!(b.snapshot().active, 0);
}

#[test]
fn services_and_futures_are_send_for_servers() {
    fn send<T: Send + 'static>(_: &T) {}
    fn service_and_future<S, R>(svc: S, req: R)
    where
        S: Service<R> + Clone + Send + 'static,
        S::Future: Send + 'static,
        R: 'static,
    {
        let mut svc = svc;
        send(&svc.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let fut = svc.call(req);
        send(&fut);
    }
    let inner = service_fn(|x: u32| async move { Ok::<_, &str>(x) });
    service_and_future(PipelineLayer::new(retrying_pipeline()).layer(inner), 1);
    service_and_future(BulkheadLayer::new(bulkhead(1, 1)).layer(inner), 1);
    let breaker = CircuitBreaker::new("svc", BreakerConfig::consecutive(1)).unwrap();
    service_and_future(CircuitBreakerLayer::new(breaker).layer(inner), 1);
    let shedder = LoadShedder::new("svc", ShedConfig::new(1)).unwrap();
    service_and_future(LoadShedLayer::new(shedder).layer(inner), 1);
    let limit = TimeoutLayer::new("svc", TimeoutConfig::new(Duration::from_secs(1))).unwrap();
    service_and_future(limit.layer(inner), 1);
}

// ----- timeout layer -----

#[tokio::test(start_paused = true)]
async fn timeout_drops_the_request_and_refuses_with_the_time_it_ran() {
    let layer = TimeoutLayer::new("svc", TimeoutConfig::new(Duration::from_secs(2))).unwrap();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let b = bulkhead(1, 0);
    let svc = ServiceBuilder::new()
        .map_err(Error::flatten)
        .time_limit(layer)
        .bulkhead(b.clone())
        .service(mock);

    let call = tokio::spawn(svc.clone().oneshot("slow"));
    let (_, _send) = handle.next_request().await.unwrap();
    let out = call.await.unwrap();
    assert_eq!(kind(&out), Some(RejectionKind::Timeout));
    let rejection = out.unwrap_err();
    let rejection = rejection.rejection().unwrap();
    assert_eq!(rejection.elapsed(), Some(Duration::from_secs(2)));
    assert_eq!(rejection.name(), "svc");
    assert_eq!(
        b.snapshot().active,
        0,
        "the inner future and its permit are dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_covers_waiting_for_the_inner_service_to_be_ready() {
    let layer = TimeoutLayer::new("svc", TimeoutConfig::new(Duration::from_secs(1))).unwrap();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    handle.allow(0);
    let mut svc = layer.layer(mock);
    assert_ready(&mut svc);
    let out = svc.call("never ready").await;
    assert_eq!(kind(&out), Some(RejectionKind::Timeout));
    assert!(TimeoutLayer::new("svc", TimeoutConfig::new(Duration::ZERO)).is_err());
}

#[tokio::test(start_paused = true)]
async fn pipeline_hedges_send_their_own_clone_and_the_loser_is_dropped() {
    let pipeline = Pipeline::builder("search")
        .hedge(HedgeConfig::fixed(Duration::from_millis(100)).with_max_attempts(2))
        .without_retry_budget()
        .build()
        .unwrap();
    let (mock, mut handle): (Mock, Handle) = mock::pair();
    let call = tokio::spawn(PipelineLayer::new(pipeline).layer(mock).oneshot("q"));

    let (first, slow) = handle.next_request().await.unwrap();
    let (second, fast) = handle.next_request().await.unwrap();
    assert_eq!((first, second), ("q", "q"));
    fast.send_response("hedge");
    assert!(matches!(call.await.unwrap(), Ok("hedge")));
    slow.send_response("late");
}

/// One step of a random schedule against a queued bulkhead layer.
#[derive(Debug, Clone)]
enum Step {
    /// A new request.
    Call,
    /// Drop the request at this index (modulo the live ones).
    Drop(usize),
    /// Answer the oldest request the inner service holds, if any.
    Answer,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Call),
        (0usize..8).prop_map(Step::Drop),
        Just(Step::Answer)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the order of calls, answers and drops, never more than `max` requests
    /// are inside the inner service, no more than `queue` wait, and once every response
    /// future is gone every permit and queue place is back.
    #[test]
    fn bulkhead_layer_never_leaks_nor_overfills(
        max in 1u32..4,
        queue in 0u32..3,
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let _guard = rt.enter();
        let b = bulkhead(max, queue);
        let (mock, mut handle): (Mock, Handle) = mock::pair();
        let mut svc = BulkheadLayer::new(b.clone()).layer(mock);
        let mut live = Vec::new();
        let mut inside = std::collections::VecDeque::new();
        for s in steps {
            match s {
                Step::Call => live.push(task::spawn(svc.call("r"))),
                Step::Drop(i) if !live.is_empty() => {
                    let i = i % live.len();
                    drop(live.remove(i));
                }
                Step::Drop(_) => {}
                Step::Answer => {
                    if let Some(send) = inside.pop_front() {
                        let send: mock::SendResponse<&'static str> = send;
                        send.send_response("ok");
                    }
                }
            }
            live.retain_mut(|f| f.poll().is_pending());
            while let Some((_, send)) = try_next(&mut handle) {
                inside.push_back(send);
            }
            let snap = b.snapshot();
            prop_assert!(snap.active <= max);
            prop_assert!(snap.queued <= queue);
            prop_assert!(snap.active as usize <= live.len());
        }
        drop(live);
        let snap = b.snapshot();
        prop_assert_eq!((snap.active, snap.queued), (0, 0));
    }
}
