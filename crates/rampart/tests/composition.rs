//! Composition: the orders that matter (timeout around or inside a retry, hedging inside
//! or around a retry, a fallback around everything), an empty pipeline, and the events
//! of a call that was retried and then succeeded.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart::event::Recorder;
use rampart::fallback::{DegradedReason, Fallback, FallbackChain};
use rampart::hedge::HedgeConfig;
use rampart::retry::{Jitter, RetryConfig};
use rampart::{Error, Pipeline, RejectionKind};
use support::{kind, ms, secs};
use tokio::time::Instant;

fn constant(delay: Duration, attempts: u32) -> RetryConfig {
    RetryConfig::constant(delay)
        .with_max_attempts(attempts)
        .with_jitter(Jitter::None)
}

/// What a call did: its outcome, the operation's calls, and how long it took.
struct Run<T> {
    res: Result<T, Error<&'static str>>,
    calls: u32,
    took: Duration,
}

/// Calls `p` with an operation that always takes `each` and then fails.
async fn slow_failures(p: &Pipeline, each: Duration) -> Run<()> {
    let start = Instant::now();
    let mut calls = 0;
    let res = p
        .call(|| {
            calls += 1;
            async move {
                tokio::time::sleep(each).await;
                Err("unavailable")
            }
        })
        .await;
    Run {
        res,
        calls,
        took: start.elapsed(),
    }
}

// ---------------------------------------------------------------------------------------
// Timeout outside versus inside a retry
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_timeout_outside_the_retry_ends_the_call_at_its_limit() {
    let p = Pipeline::builder("p")
        .without_retry_budget()
        .timeout(secs(2))
        .retry(constant(ms(100), 3))
        .build()
        .unwrap();
    let run = slow_failures(&p, secs(3)).await;
    assert_eq!(run.calls, 1);
    assert_eq!(run.took, secs(2));
    assert_eq!(kind(&run.res), Some(RejectionKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_inside_the_retry_limits_each_attempt_and_is_retried() {
    let p = Pipeline::builder("p")
        .without_retry_budget()
        .retry(constant(ms(100), 3))
        .timeout(secs(2))
        .build()
        .unwrap();
    let run = slow_failures(&p, secs(3)).await;
    assert_eq!(run.calls, 3);
    assert_eq!(run.took, secs(6) + ms(200));
    assert_eq!(kind(&run.res), Some(RejectionKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_inside_the_retry_lets_attempts_that_fit_run_to_their_error() {
    let p = Pipeline::builder("p")
        .without_retry_budget()
        .retry(constant(ms(100), 3))
        .timeout(secs(2))
        .build()
        .unwrap();
    let run = slow_failures(&p, ms(1500)).await;
    assert_eq!(run.calls, 3);
    assert_eq!(run.res, Err(Error::Operation("unavailable")));
    assert_eq!(run.took, ms(3 * 1500 + 200));
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_is_not_retried_when_the_retry_is_told_not_to() {
    let p = Pipeline::builder("p")
        .without_retry_budget()
        .retry(constant(ms(100), 3).with_retry_on(&[]))
        .timeout(secs(2))
        .build()
        .unwrap();
    let run = slow_failures(&p, secs(3)).await;
    assert_eq!(run.calls, 1);
    assert_eq!(kind(&run.res), Some(RejectionKind::Timeout));
}

// ---------------------------------------------------------------------------------------
// Hedging inside versus around a retry
// ---------------------------------------------------------------------------------------

/// Calls `p` with an operation that fails at once; returns the calls and the time taken.
async fn instant_failures(p: &Pipeline) -> Run<()> {
    let start = Instant::now();
    let mut calls = 0;
    let res = p
        .call(|| {
            calls += 1;
            async { Err("unavailable") }
        })
        .await;
    Run {
        res,
        calls,
        took: start.elapsed(),
    }
}

#[tokio::test(start_paused = true)]
async fn hedging_inside_a_retry_hedges_every_attempt() {
    let rec = Recorder::new();
    let p = Pipeline::builder("p")
        .listener(rec.clone())
        .without_retry_budget()
        .retry(constant(ms(100), 3))
        .hedge(HedgeConfig::fixed(ms(50)).with_max_attempts(2))
        .build()
        .unwrap();
    let run = instant_failures(&p).await;
    assert_eq!(run.res, Err(Error::Operation("unavailable")));
    // Each of the 3 tries is a hedged pair (a failed attempt starts its hedge at once).
    assert_eq!(run.calls, 6);
    assert_eq!(rec.count("HedgeStarted"), 3, "{:?}", rec.lines());
    assert_eq!(rec.count("RetryScheduled"), 2, "{:?}", rec.lines());
    assert_eq!(run.took, ms(200));
}

#[tokio::test(start_paused = true)]
async fn a_retry_inside_hedging_is_hedged_as_a_whole() {
    let rec = Recorder::new();
    let p = Pipeline::builder("p")
        .listener(rec.clone())
        .without_retry_budget()
        .hedge(HedgeConfig::fixed(ms(50)).with_max_attempts(2))
        .retry(constant(ms(100), 3))
        .build()
        .unwrap();
    let run = instant_failures(&p).await;
    assert_eq!(run.res, Err(Error::Operation("unavailable")));
    // The first retry loop (0, 0.1, 0.2 s) is still in its backoff at 50 ms, so one
    // hedge starts a second whole loop (0.05, 0.15, 0.25 s).
    assert_eq!(run.calls, 6);
    assert_eq!(rec.count("HedgeStarted"), 1, "{:?}", rec.lines());
    assert_eq!(rec.count("RetryScheduled"), 4, "{:?}", rec.lines());
    assert_eq!(run.took, ms(250));
}

#[tokio::test(start_paused = true)]
async fn a_hedge_around_a_retry_wins_while_the_first_loop_is_backing_off() {
    let p = Pipeline::builder("p")
        .without_retry_budget()
        .hedge(HedgeConfig::fixed(ms(50)).with_max_attempts(2))
        .retry(constant(secs(1), 3))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut calls = 0;
    let res: Result<u32, Error<&str>> = p
        .call(|| {
            calls += 1;
            let n = calls;
            async move {
                if n == 1 {
                    Err("unavailable")
                } else {
                    Ok(n)
                }
            }
        })
        .await;
    assert_eq!(res, Ok(2));
    // The hedge answered at 50 ms; the first loop's retry at 1 s never ran.
    assert_eq!(start.elapsed(), ms(50));
    assert_eq!(calls, 2);
}

// ---------------------------------------------------------------------------------------
// A fallback around everything
// ---------------------------------------------------------------------------------------

type Chain = FallbackChain<&'static str, &'static str>;

/// A chain whose one fallback answers `value` for any error and records what it saw.
fn recording_chain(seen: &Arc<Mutex<Vec<Option<RejectionKind>>>>) -> Chain {
    let seen = Arc::clone(seen);
    FallbackChain::new().fallback(Fallback::handle("static", move |e: &Error<&str>| {
        seen.lock().unwrap().push(e.rejection().map(|r| r.kind()));
        async { Ok("popular items") }
    }))
}

fn default_order() -> Pipeline {
    // The documented default: retry, then a timeout per attempt; the fallback goes
    // around both.
    Pipeline::builder("recs")
        .without_retry_budget()
        .retry(constant(ms(100), 2))
        .timeout(secs(1))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_fresh_answer_is_not_degraded_and_calls_no_fallback() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = default_order()
        .call_with_fallback(|| async { Ok("for you") }, &recording_chain(&seen))
        .await
        .expect("the primary answered");
    assert!(!out.is_degraded());
    assert_eq!(out.value(), &"for you");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_fallback_sees_the_timeout_after_the_last_attempt_and_says_so() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut calls = 0;
    let out = default_order()
        .call_with_fallback(
            || {
                calls += 1;
                std::future::pending()
            },
            &recording_chain(&seen),
        )
        .await
        .expect("the fallback answered");
    assert_eq!(calls, 2, "the fallback waits for the retries");
    assert_eq!(start.elapsed(), ms(2100));
    assert_eq!(*seen.lock().unwrap(), [Some(RejectionKind::Timeout)]);
    assert!(out.is_degraded());
    assert_eq!(out.value(), &"popular items");
    let d = out.degradation().expect("degraded");
    assert_eq!(d.fallback(), "static");
    assert_eq!(d.reason(), DegradedReason::Rejected(RejectionKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn the_fallback_sees_the_operation_error_after_the_last_attempt() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut calls = 0;
    let out = default_order()
        .call_with_fallback(
            || {
                calls += 1;
                async { Err("ml down") }
            },
            &recording_chain(&seen),
        )
        .await
        .expect("the fallback answered");
    assert_eq!(calls, 2);
    assert_eq!(*seen.lock().unwrap(), [None]);
    assert_eq!(
        out.degradation().map(|d| d.reason()),
        Some(DegradedReason::Failed)
    );
}

#[tokio::test(start_paused = true)]
async fn the_fallback_of_a_nested_pipeline_sees_deadline_exceeded() {
    let gateway = Pipeline::builder("gateway")
        .timeout(secs(1))
        .build()
        .unwrap();
    let recs = Pipeline::builder("recs").timeout(secs(10)).build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let chain = recording_chain(&seen);
    let res = gateway
        .call(|| recs.call_with_fallback(std::future::pending, &chain))
        .await;
    let out: rampart::fallback::Degraded<&str> = res.expect("the fallback answered in time");
    assert_eq!(
        *seen.lock().unwrap(),
        [Some(RejectionKind::DeadlineExceeded)]
    );
    assert_eq!(
        out.degradation().map(|d| d.reason()),
        Some(DegradedReason::Rejected(RejectionKind::DeadlineExceeded))
    );
}

#[tokio::test(start_paused = true)]
async fn a_fallback_for_other_rejections_leaves_the_timeout_to_the_caller() {
    let chain: Chain = FallbackChain::new()
        .fallback(Fallback::value("queued", "later").on_rejection(&[RejectionKind::CircuitOpen]));
    let res = default_order()
        .call_with_fallback(std::future::pending, &chain)
        .await;
    assert_eq!(kind(&res), Some(RejectionKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn a_fallback_chosen_by_rejection_kind_answers_only_its_kind() {
    let chain: Chain = FallbackChain::new()
        .fallback(
            Fallback::value("on-deadline", "deadline")
                .on_rejection(&[RejectionKind::DeadlineExceeded]),
        )
        .fallback(Fallback::value("on-timeout", "timeout").on_rejection(&[RejectionKind::Timeout]));
    let out = default_order()
        .call_with_fallback(std::future::pending, &chain)
        .await
        .expect("the timeout fallback answered");
    assert_eq!(out.value(), &"timeout");
    assert_eq!(out.degradation().map(|d| d.fallback()), Some("on-timeout"));
}

// ---------------------------------------------------------------------------------------
// An empty pipeline, and the events of a retried call
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_empty_pipeline_just_runs_the_operation() {
    let rec = Recorder::new();
    let p = Pipeline::builder("plain")
        .listener(rec.clone())
        .build()
        .unwrap();
    let start = Instant::now();
    let ok: Result<u32, Error<&str>> = p
        .call(|| async {
            tokio::time::sleep(secs(30)).await;
            Ok(7)
        })
        .await;
    assert_eq!(ok, Ok(7));
    assert_eq!(start.elapsed(), secs(30), "no timeout cut it");
    let run = instant_failures(&p).await;
    assert_eq!(run.res, Err(Error::Operation("unavailable")));
    assert_eq!(run.calls, 1, "no retry");
    // No policy to report anything: only each call's end.
    let lines = rec.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("CallFinished { duration: 30s, outcome: Success }"));
    assert!(lines[1].contains("CallFinished { duration: 0ns, outcome: Failure }"));
    assert!(p.retry_budget().is_none());
    assert_eq!(p.call_blocking(|| Ok::<_, ()>(3)), Ok(3));
}

#[tokio::test(start_paused = true)]
async fn a_retried_then_successful_call_reports_only_its_retries() {
    let rec = Recorder::new();
    let p = Pipeline::builder("inventory")
        .listener(rec.clone())
        .retry(constant(ms(100), 4))
        .timeout(secs(1))
        .build()
        .unwrap();
    let mut calls = 0;
    let res: Result<u32, Error<&str>> = p
        .call(|| {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err("unavailable")
                } else {
                    Ok(n)
                }
            }
        })
        .await;
    assert_eq!(res, Ok(3));
    let lines = rec.lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[2].contains("RetrySucceeded { attempt: 3, max_attempts: 4 }"));
    assert!(lines[3].contains("CallFinished { duration: 200ms, outcome: Success }"));
    for (i, line) in lines[..2].iter().enumerate() {
        assert!(line.starts_with("inventory: RetryScheduled"), "{lines:?}");
        assert!(line.contains(&format!("attempt: {}", i + 1)), "{lines:?}");
        assert!(line.contains("delay: 100ms"), "{lines:?}");
        assert!(line.contains("\"unavailable\""), "{lines:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cut_by_the_deadline_gives_up_for_the_deadline() {
    // 5 s in all; attempts of 2 s, 100 ms apart: the third is cut at the deadline.
    let rec = Recorder::new();
    let p = Pipeline::builder("p")
        .timeout(secs(5))
        .retry(constant(ms(100), 3))
        .timeout(secs(2))
        .listener(rec.clone())
        .build()
        .unwrap();
    let r = p
        .call(|| async {
            tokio::time::sleep(secs(10)).await;
            Ok::<(), &str>(())
        })
        .await;
    assert_eq!(kind(&r), Some(RejectionKind::DeadlineExceeded));
    let gave_up: Vec<String> = rec
        .lines()
        .into_iter()
        .filter(|l| l.contains("RetryGaveUp"))
        .collect();
    assert_eq!(gave_up.len(), 1, "{:?}", rec.lines());
    assert!(gave_up[0].contains("Deadline"), "{gave_up:?}");
}
