//! Bulkheads, rate limiters, load shedders and adaptive limits inside a pipeline: what
//! they refuse, what they hold across attempts, and that a dropped call gives back
//! what it held (to exactly one queued call, where calls queue). Time is tokio's paused clock; nothing sleeps in real time.

use std::future::{pending, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

mod bulkhead_support;

use bulkhead_support::Caller;
use rampart::adaptive::{AdaptiveConfig, AimdConfig};
use rampart::bulkhead::BulkheadConfig;
use rampart::circuit::{BreakerConfig, BreakerState};
use rampart::pipeline::PipelineConfig;
use rampart::rate_limit::{RateLimitConfig, SlidingWindowConfig};
use rampart::retry::{Jitter, RetryConfig};
use rampart::shed::{scope, with_priority, Priority, ShedConfig};
use rampart::{Error, Pipeline, RejectionKind};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn kind<T>(r: &Result<T, Error<&'static str>>) -> Option<RejectionKind> {
    match r {
        Err(Error::Rejected(x)) => Some(x.kind()),
        _ => None,
    }
}

/// Polls `f` once (it may stay pending and hold what it took).
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

async fn stuck(p: &Pipeline) -> Result<(), Error<&'static str>> {
    p.call(pending::<Result<(), &'static str>>).await
}

async fn ok(p: &Pipeline) -> Result<u32, Error<&'static str>> {
    p.call(|| async { Ok(1) }).await
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_refuses_at_once_and_a_dropped_call_frees_its_slot() {
    let p = Pipeline::builder("payment")
        .bulkhead(BulkheadConfig::new().with_max_concurrent(2))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut a = Box::pin(stuck(&p));
    let mut b = pin!(stuck(&p));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    let bulkhead = p.bulkheads().next().unwrap();
    assert_eq!(bulkhead.snapshot().active, 2);
    assert_eq!(kind(&ok(&p).await), Some(RejectionKind::BulkheadFull));
    // Dropping a call that holds a slot gives it back.
    drop(a);
    assert_eq!(bulkhead.snapshot().active, 1);
    assert_eq!(ok(&p).await, Ok(1));
    // A call cut by its timeout gives its slot back too.
    assert_eq!(kind(&b.await), Some(RejectionKind::Timeout));
    assert_eq!(bulkhead.snapshot().active, 0);
    assert_eq!(bulkhead.snapshot().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn outside_a_retry_a_request_holds_one_slot_across_its_attempts() {
    let p = Pipeline::builder("payment")
        .without_retry_budget()
        .bulkhead(BulkheadConfig::new().with_max_concurrent(1))
        .retry(
            RetryConfig::constant(ms(100))
                .with_max_attempts(3)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let mut calls = 0;
    let mut request = pin!(p.call(|| {
        calls += 1;
        async { Err::<(), _>("503") }
    }));
    assert!(
        poll_once(request.as_mut()).is_pending(),
        "in its first backoff"
    );
    let bulkhead = p.bulkheads().next().unwrap();
    assert_eq!(bulkhead.snapshot().active, 1);
    // Another request is refused while the first one waits to retry.
    assert_eq!(kind(&ok(&p).await), Some(RejectionKind::BulkheadFull));
    assert_eq!(request.await, Err(Error::Operation("503")));
    assert_eq!(calls, 3);
    assert_eq!(bulkhead.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn with_a_queue_calls_wait_in_order_and_give_up_after_the_maximum_wait() {
    let p = Pipeline::builder("search")
        .bulkhead(
            BulkheadConfig::new()
                .with_max_concurrent(1)
                .with_max_queue(1)
                .with_max_wait(ms(500)),
        )
        .build()
        .unwrap();
    let bulkhead = p.bulkheads().next().unwrap().clone();
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let mut wait = Some(wait);
    let mut holder = pin!(p.call(|| {
        let wait = wait.take();
        async move {
            if let Some(w) = wait {
                let _ = w.await;
            }
            Ok::<u32, &'static str>(1)
        }
    }));
    assert!(poll_once(holder.as_mut()).is_pending());
    let mut queued = pin!(ok(&p));
    assert!(poll_once(queued.as_mut()).is_pending());
    assert_eq!(bulkhead.snapshot().queued, 1);
    // The queue is full: a third call is refused at once.
    assert_eq!(kind(&ok(&p).await), Some(RejectionKind::BulkheadFull));
    // The holder finishes: the queued call gets its slot.
    release.send(()).unwrap();
    assert_eq!(holder.await, Ok(1));
    assert_eq!(queued.await, Ok(1));
    assert_eq!(bulkhead.snapshot().active, 0);

    // A queued call gives up after 500 ms; dropping a queued call leaves the queue.
    let mut holder = Box::pin(stuck(&p));
    assert!(poll_once(holder.as_mut()).is_pending());
    let start = tokio::time::Instant::now();
    assert_eq!(kind(&ok(&p).await), Some(RejectionKind::BulkheadFull));
    assert_eq!(start.elapsed(), ms(500));
    let mut leaver = Box::pin(ok(&p));
    assert!(poll_once(leaver.as_mut()).is_pending());
    assert_eq!(bulkhead.snapshot().queued, 1);
    drop(leaver);
    assert_eq!(bulkhead.snapshot().queued, 0);
    drop(holder);
    assert_eq!(ok(&p).await, Ok(1));
    assert_eq!(bulkhead.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_at_any_await_hands_its_slot_to_exactly_one_queued_call() {
    // A call holding the bulkhead's only slot is dropped in its attempt or in its retry
    // backoff, on the general stages (bulkhead and retry) and on the default-order ones
    // (bulkhead, breaker, retry, timeout). Two calls wait in the bulkhead's queue: the
    // first of them is woken once and gets the slot; the second is not woken until the
    // first is done.
    let retry = || {
        RetryConfig::constant(ms(100))
            .with_max_attempts(3)
            .with_jitter(Jitter::None)
    };
    let bulkhead = || {
        BulkheadConfig::new()
            .with_max_concurrent(1)
            .with_max_queue(2)
    };
    for default_order in [false, true] {
        for in_backoff in [false, true] {
            let builder = Pipeline::builder("ledger").bulkhead(bulkhead());
            let p = if default_order {
                builder
                    .circuit_breaker(BreakerConfig::consecutive(10))
                    .retry(retry())
                    .timeout(Duration::from_secs(5))
            } else {
                builder.retry(retry())
            }
            .build()
            .unwrap();
            let at = format!("default order {default_order}, in backoff {in_backoff}");
            let mut holder = Caller::new(p.call(move || async move {
                if in_backoff {
                    Err::<u32, _>("503")
                } else {
                    pending().await
                }
            }));
            holder.pending();
            let (mut first, mut second) = (Caller::new(ok(&p)), Caller::new(ok(&p)));
            first.pending();
            second.pending();
            let slots = p.bulkheads().next().unwrap().clone();
            assert_eq!(
                (slots.snapshot().active, slots.snapshot().queued),
                (1, 2),
                "{at}"
            );

            drop(holder);
            assert_eq!((first.wakes(), second.wakes()), (1, 0), "{at}");
            assert_eq!(first.ready(), Ok(1), "{at}");
            assert_eq!(second.wakes(), 1, "{at}");
            assert_eq!(second.ready(), Ok(1), "{at}");
            let s = slots.snapshot();
            assert_eq!((s.active, s.queued), (0, 0), "{at}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_refuses_over_its_quota_and_says_when_to_come_back() {
    let p = Pipeline::builder("sms")
        .rate_limit(RateLimitConfig::per_second(10).with_burst(2))
        .build()
        .unwrap();
    assert_eq!(ok(&p).await, Ok(1));
    assert_eq!(ok(&p).await, Ok(1));
    let refused = ok(&p).await;
    assert_eq!(kind(&refused), Some(RejectionKind::RateLimited));
    let after = refused
        .unwrap_err()
        .rejection()
        .and_then(|r| r.retry_after());
    assert_eq!(after, Some(ms(100)));
    tokio::time::advance(ms(100)).await;
    assert_eq!(ok(&p).await, Ok(1));
    // The quota changes at run time.
    let limiter = p.rate_limiters().next().unwrap();
    limiter
        .set_quota(RateLimitConfig::per_second(1000).with_burst(1000))
        .unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    for _ in 0..1000 {
        assert_eq!(ok(&p).await, Ok(1));
    }
}

#[tokio::test(start_paused = true)]
async fn a_sliding_window_refuses_over_its_limit() {
    let p = Pipeline::builder("email")
        .sliding_window(SlidingWindowConfig::new(3, Duration::from_secs(1)))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(ok(&p).await, Ok(1));
    }
    let refused = ok(&p).await;
    assert_eq!(kind(&refused), Some(RejectionKind::RateLimited));
    assert!(refused
        .unwrap_err()
        .rejection()
        .and_then(|r| r.retry_after())
        .is_some());
    assert_eq!(
        kind(&p.call_blocking(|| Ok::<u32, &str>(1))),
        Some(RejectionKind::RateLimited)
    );
    // Two windows later the earlier calls no longer count.
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(ok(&p).await, Ok(1));
    assert_eq!(p.sliding_window_limiters().count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_shedder_refuses_by_the_priority_around_the_call() {
    let p = Pipeline::builder("api")
        .load_shed(ShedConfig::new(10))
        .build()
        .unwrap();
    // Seven critical requests in flight: 70 % load.
    let mut held = Vec::new();
    for _ in 0..7 {
        let mut call = Box::pin(with_priority(Priority::Critical, stuck(&p)));
        assert!(poll_once(call.as_mut()).is_pending());
        held.push(call);
    }
    let shedder = p.load_shedders().next().unwrap();
    assert_eq!(shedder.in_flight(), 7);
    let low = with_priority(Priority::Low, ok(&p)).await;
    assert_eq!(kind(&low), Some(RejectionKind::Shed));
    assert_eq!(ok(&p).await, Ok(1), "without a priority a call is Normal");
    // Blocking calls take the priority of their scope.
    let blocking = scope(Priority::Low, || p.call_blocking(|| Ok::<u32, &str>(1)));
    assert_eq!(kind(&blocking), Some(RejectionKind::Shed));
    assert_eq!(p.call_blocking(|| Ok::<u32, &str>(1)), Ok(1));
    drop(held);
    assert_eq!(shedder.in_flight(), 0);
    assert_eq!(with_priority(Priority::Low, ok(&p)).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_frees_its_slot_and_backs_off_on_timeouts() {
    let config = AdaptiveConfig::aimd(AimdConfig::new().with_latency_threshold(ms(100)))
        .with_initial_limit(10)
        .with_limits(2, 100);
    let p = Pipeline::builder("inventory")
        .adaptive_concurrency(config)
        .timeout(ms(200))
        .build()
        .unwrap();
    let limiter = p.concurrency_limiters().next().unwrap();
    assert_eq!(ok(&p).await, Ok(1));
    assert_eq!(limiter.in_flight(), 0);
    assert_eq!(kind(&stuck(&p).await), Some(RejectionKind::Timeout));
    assert_eq!(limiter.in_flight(), 0);
    assert!(
        limiter.limit() < 10,
        "a timeout is a drop: {}",
        limiter.limit()
    );
    // A call dropped while it holds its slot gives the slot back and says nothing of
    // the latency: the limit does not move.
    let limit = limiter.limit();
    let mut dropped = Box::pin(stuck(&p));
    assert!(poll_once(dropped.as_mut()).is_pending());
    assert_eq!(limiter.in_flight(), 1);
    tokio::time::advance(ms(150)).await;
    drop(dropped);
    assert_eq!(limiter.in_flight(), 0);
    assert_eq!(limiter.limit(), limit);
}

#[tokio::test(start_paused = true)]
async fn rejections_of_policies_inside_a_breaker_are_not_failures() {
    let p = Pipeline::builder("payment")
        .circuit_breaker(BreakerConfig::consecutive(2))
        .rate_limit(RateLimitConfig::per_second(1).with_burst(1))
        .build()
        .unwrap();
    assert_eq!(ok(&p).await, Ok(1));
    for _ in 0..5 {
        assert_eq!(kind(&ok(&p).await), Some(RejectionKind::RateLimited));
    }
    let breaker = p.circuit_breakers().next().unwrap();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn blocking_calls_pass_through_bulkheads_and_limits() {
    let p = Pipeline::builder("files")
        .bulkhead(BulkheadConfig::new().with_max_concurrent(1))
        .rate_limit(RateLimitConfig::per_minute(2))
        .adaptive_concurrency(AdaptiveConfig::aimd(AimdConfig::new()))
        .build()
        .unwrap();
    assert_eq!(p.call_blocking(|| Ok::<u32, &str>(1)), Ok(1));
    // The bulkhead's one slot is held during the call, and free after it.
    let inner = p.call_blocking(|| {
        let bulkhead = p.bulkheads().next().unwrap();
        Ok::<u32, &str>(bulkhead.snapshot().active)
    });
    assert_eq!(inner, Ok(1));
    let refused = p.call_blocking(|| Ok::<u32, &str>(1));
    assert_eq!(kind(&refused), Some(RejectionKind::RateLimited));
    assert_eq!(p.bulkheads().next().unwrap().snapshot().active, 0);
    assert_eq!(p.concurrency_limiters().next().unwrap().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn every_limit_reads_from_a_configuration_file() {
    let text = r#"
        [[policies]]
        policy = "load_shed"
        capacity = 100

        [[policies]]
        policy = "rate_limit"
        rate = 50
        period = "1s"
        burst = 5

        [[policies]]
        policy = "sliding_window"
        limit = 100
        window = "1m"

        [[policies]]
        policy = "bulkhead"
        max_concurrent = 20
        max_queue = 10
        max_wait = "500ms"

        [[policies]]
        policy = "adaptive_concurrency"
        initial_limit = 20
    "#;
    let config: PipelineConfig = toml::from_str(text).unwrap();
    let p = Pipeline::from_config("search", &config).unwrap();
    assert_eq!(ok(&p).await, Ok(1));
    assert_eq!(p.bulkheads().next().unwrap().config().max_concurrent, 20);
    assert_eq!(p.rate_limiters().next().unwrap().config().burst, Some(5));
    assert_eq!(p.load_shedders().next().unwrap().config().capacity, 100);
    let window = p.sliding_window_limiters().next().unwrap().config();
    assert_eq!(
        (window.limit, window.window),
        (100, Duration::from_secs(60))
    );

    let bad = r#"
        [[policies]]
        policy = "bulkhead"
        max_concurrent = 0
    "#;
    let config: PipelineConfig = toml::from_str(bad).unwrap();
    let err = Pipeline::from_config("search", &config).unwrap_err();
    assert_eq!(err.field(), "bulkhead.max_concurrent", "{err}");
}

#[tokio::test(start_paused = true)]
async fn outside_a_hedge_a_request_holds_one_slot_for_all_its_attempts() {
    let p = Pipeline::builder("search")
        .without_retry_budget()
        .bulkhead(BulkheadConfig::new().with_max_concurrent(1))
        .hedge(rampart::hedge::HedgeConfig::fixed(ms(100)).with_budget(false))
        .build()
        .unwrap();
    let mut attempts = 0;
    let mut request = Box::pin(p.call(|| {
        attempts += 1;
        let n = attempts;
        async move {
            // The first attempt is slow; the hedge after 100 ms answers at 150 ms.
            tokio::time::sleep(if n == 1 { ms(1000) } else { ms(50) }).await;
            Ok::<u32, &'static str>(n)
        }
    }));
    assert!(poll_once(request.as_mut()).is_pending());
    tokio::time::advance(ms(120)).await;
    assert!(
        poll_once(request.as_mut()).is_pending(),
        "both attempts run"
    );
    let bulkhead = p.bulkheads().next().unwrap();
    assert_eq!(bulkhead.snapshot().active, 1);
    assert_eq!(kind(&ok(&p).await), Some(RejectionKind::BulkheadFull));
    assert_eq!(request.as_mut().await, Ok(2));
    assert_eq!(bulkhead.snapshot().active, 0);
    // Dropping a hedged request mid-way gives its slot back too.
    let mut dropped = Box::pin(p.call(|| async {
        tokio::time::sleep(ms(1000)).await;
        Ok::<u32, &'static str>(0)
    }));
    assert!(poll_once(dropped.as_mut()).is_pending());
    tokio::time::advance(ms(120)).await;
    assert!(poll_once(dropped.as_mut()).is_pending());
    drop(dropped);
    assert_eq!(bulkhead.snapshot().active, 0);
}
