//! Blocking calls: retries with backoff in virtual time (a `ManualClock` whose sleeps
//! advance it), limits, classification, the retry budget, blocking timeouts and the
//! deadline that nested blocking pipelines share.

mod support;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use rampart::classify::Classifier;
use rampart::clock::ManualClock;
use rampart::event::Recorder;
use rampart::retry::{Jitter, RetryBudgetConfig, RetryConfig};
use rampart::{Error, Pipeline, PipelineBuilder, RejectionKind};
use support::{kind, ms, rejection, secs};

/// A builder whose time is `clock`.
fn builder(name: &str, clock: &ManualClock) -> PipelineBuilder {
    Pipeline::builder(name).clock(Arc::new(clock.clone()))
}

fn constant(delay: Duration, attempts: u32) -> RetryConfig {
    RetryConfig::constant(delay)
        .with_max_attempts(attempts)
        .with_jitter(Jitter::None)
}

#[test]
fn retries_with_backoff_and_the_clock_moves_by_the_sum_of_the_delays() {
    let clock = ManualClock::new();
    let p = builder("inventory", &clock)
        .without_retry_budget()
        .retry(
            RetryConfig::exponential(ms(100))
                .with_max_attempts(4)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let mut starts = Vec::new();
    let res: Result<u32, Error<&str>> = p.call_blocking(|| {
        starts.push(clock.elapsed());
        if starts.len() < 4 {
            Err("unavailable")
        } else {
            Ok(4)
        }
    });
    assert_eq!(res, Ok(4));
    assert_eq!(starts, [ms(0), ms(100), ms(300), ms(700)]);
    assert_eq!(clock.elapsed(), ms(100 + 200 + 400));
}

#[test]
fn stops_at_max_attempts_and_returns_the_last_error() {
    let clock = ManualClock::new();
    let p = builder("x", &clock)
        .without_retry_budget()
        .retry(constant(ms(250), 3))
        .build()
        .unwrap();
    let mut n = 0;
    let res: Result<(), _> = p.call_blocking(|| {
        n += 1;
        Err(format!("failure {n}"))
    });
    assert_eq!(res, Err(Error::Operation("failure 3".to_string())));
    assert_eq!(n, 3);
    // No wait after the last attempt.
    assert_eq!(clock.elapsed(), ms(500));
}

#[test]
fn non_retryable_errors_are_not_retried() {
    let clock = ManualClock::new();
    let p = builder("x", &clock)
        .retry(constant(ms(100), 5))
        .build()
        .unwrap();
    let classifier: Classifier<(), u16> = Classifier::new().retry_err_if(|code| *code >= 500);
    let mut n = 0;
    let res = p.call_blocking_classified(classifier, || {
        n += 1;
        Err(400u16)
    });
    assert_eq!(res, Err(Error::Operation(400)));
    assert_eq!(n, 1);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

#[test]
fn retryable_errors_are_retried_under_the_same_classifier() {
    let clock = ManualClock::new();
    let p = builder("x", &clock)
        .retry(constant(ms(100), 5))
        .build()
        .unwrap();
    let classifier: Classifier<(), u16> = Classifier::new().retry_err_if(|code| *code >= 500);
    let mut n = 0;
    let res = p.call_blocking_classified(classifier, || {
        n += 1;
        Err(503u16)
    });
    assert_eq!(res, Err(Error::Operation(503)));
    assert_eq!(n, 5);
}

#[test]
fn failing_results_are_retried_and_the_last_is_returned() {
    let clock = ManualClock::new();
    let p = builder("x", &clock)
        .retry(constant(ms(100), 3))
        .build()
        .unwrap();
    let classifier: Classifier<u16, ()> = Classifier::new().failure_ok_if(|status| *status >= 500);
    let mut statuses = [503u16, 502, 504].into_iter();
    let res = p.call_blocking_classified(classifier, || Ok(statuses.next().unwrap_or(200)));
    assert_eq!(res, Ok(504));
    assert_eq!(statuses.next(), None);
}

#[test]
fn the_retry_budget_stops_retries_once_spent() {
    // No share of calls, only the reserve: 1 retry per second over 10 s = 10 retries.
    let clock = ManualClock::new();
    let p = builder("x", &clock)
        .retry_budget(
            RetryBudgetConfig::new()
                .with_ratio(0.0)
                .with_min_per_second(1)
                .with_window(secs(10)),
        )
        .retry(constant(ms(1), 3))
        .build()
        .unwrap();
    let per_call: Vec<u32> = (0..6)
        .map(|_| {
            let mut n = 0;
            let _: Result<(), Error<()>> = p.call_blocking(|| {
                n += 1;
                Err(())
            });
            n
        })
        .collect();
    assert_eq!(per_call, [3, 3, 3, 3, 3, 1]);
    assert_eq!(p.retry_budget().map(|b| b.available()), Some(0));
}

#[test]
fn an_empty_budget_allows_no_retry_and_says_why() {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let p = builder("x", &clock)
        .listener(rec.clone())
        .retry_budget(
            RetryBudgetConfig::new()
                .with_ratio(0.0)
                .with_min_per_second(0),
        )
        .retry(constant(ms(1), 5))
        .build()
        .unwrap();
    let mut n = 0;
    let res: Result<(), Error<&str>> = p.call_blocking(|| {
        n += 1;
        Err("down")
    });
    assert_eq!(res, Err(Error::Operation("down")));
    assert_eq!(n, 1);
    assert_eq!(rec.count("BudgetExhausted"), 1, "{:?}", rec.lines());
}

#[test]
fn a_retry_that_opts_out_of_the_budget_ignores_it() {
    let clock = ManualClock::new();
    let p = builder("x", &clock)
        .retry_budget(
            RetryBudgetConfig::new()
                .with_ratio(0.0)
                .with_min_per_second(0),
        )
        .retry(constant(ms(1), 4).with_budget(false))
        .build()
        .unwrap();
    let mut n = 0;
    let _: Result<(), Error<()>> = p.call_blocking(|| {
        n += 1;
        Err(())
    });
    assert_eq!(n, 4);
}

#[test]
fn an_attempt_that_overran_its_timeout_is_a_timeout_rejection() {
    let clock = ManualClock::new();
    let p = builder("payment", &clock).timeout(secs(1)).build().unwrap();
    let res: Result<u32, Error<()>> = p.call_blocking(|| {
        clock.advance(secs(2));
        Ok(7)
    });
    let r = rejection(&res).expect("a rejection");
    assert_eq!(r.kind(), RejectionKind::Timeout);
    assert_eq!(r.name(), "payment");
    assert_eq!(r.elapsed(), Some(secs(2)));
}

#[test]
fn an_attempt_within_its_timeout_passes() {
    let clock = ManualClock::new();
    let p = builder("payment", &clock).timeout(secs(1)).build().unwrap();
    let res: Result<u32, Error<()>> = p.call_blocking(|| {
        clock.advance(ms(1000));
        Ok(7)
    });
    assert_eq!(res, Ok(7));
}

#[test]
fn an_overrun_attempt_is_retried_under_a_per_attempt_timeout() {
    let clock = ManualClock::new();
    let p = builder("payment", &clock)
        .without_retry_budget()
        .retry(constant(ms(100), 3))
        .timeout(secs(1))
        .build()
        .unwrap();
    let mut n = 0;
    let res: Result<u32, Error<()>> = p.call_blocking(|| {
        n += 1;
        clock.advance(if n == 1 { secs(3) } else { ms(10) });
        Ok(n)
    });
    assert_eq!(res, Ok(2));
    assert_eq!(clock.elapsed(), ms(3000 + 100 + 10));
}

#[test]
fn an_outer_timeout_makes_an_inner_one_report_deadline_exceeded() {
    let clock = ManualClock::new();
    let outer = builder("gateway", &clock).timeout(secs(1)).build().unwrap();
    let inner = builder("service", &clock).timeout(secs(5)).build().unwrap();
    let seen = RefCell::new(None);
    let res: Result<(), Error<()>> = outer.call_blocking(|| {
        let r: Result<(), Error<()>> = inner.call_blocking(|| {
            clock.advance(secs(2));
            Ok(())
        });
        *seen.borrow_mut() = Some(r);
        Ok(())
    });
    let inner_res = seen.into_inner().expect("the inner call ran");
    let r = rejection(&inner_res).expect("the inner call was cut");
    assert_eq!(r.kind(), RejectionKind::DeadlineExceeded);
    assert_eq!(r.elapsed(), Some(secs(2)));
    // The outer one overran its own limit.
    assert_eq!(kind(&res), Some(RejectionKind::Timeout));
}

/// In one pipeline, `timeout(1 s)` around `timeout(5 s)` is cut by the inner one at the
/// outer deadline; a blocking call must report the same kind as the async call does.
#[tokio::test(start_paused = true)]
async fn nested_timeouts_in_one_pipeline_report_like_the_async_call() {
    let clock = ManualClock::new();
    let blocking = builder("p", &clock)
        .timeout(secs(1))
        .timeout(secs(5))
        .build()
        .unwrap();
    let res: Result<(), Error<()>> = blocking.call_blocking(|| {
        clock.advance(secs(2));
        Ok(())
    });
    let asynchronous = Pipeline::builder("p")
        .timeout(secs(1))
        .timeout(secs(5))
        .build()
        .unwrap();
    let expected: Result<(), Error<()>> = asynchronous
        .call(|| async {
            tokio::time::sleep(secs(2)).await;
            Ok(())
        })
        .await;
    assert!(kind(&expected).is_some(), "{expected:?}");
    assert_eq!(kind(&res), kind(&expected));
}

#[test]
fn nested_pipelines_start_no_attempt_after_the_outer_deadline() {
    let clock = ManualClock::new();
    let outer = builder("gateway", &clock).timeout(secs(1)).build().unwrap();
    let inner = builder("service", &clock)
        .without_retry_budget()
        .retry(constant(ms(300), 10))
        .build()
        .unwrap();
    let mut starts = Vec::new();
    let res: Result<(), Error<Error<&str>>> = outer.call_blocking(|| {
        inner.call_blocking(|| {
            starts.push(clock.elapsed());
            clock.advance(ms(100));
            Err("unavailable")
        })
    });
    // Attempts at 0, 0.4 and 0.8 s; a fourth would start at 1.2 s, past the deadline.
    assert_eq!(starts, [ms(0), ms(400), ms(800)]);
    assert!(starts.iter().all(|s| *s < secs(1)));
    // The inner retry gave up at once with `DeadlineExceeded` rather than sleeping.
    assert_eq!(clock.elapsed(), ms(900));
    let inner_err = match &res {
        Err(Error::Operation(e)) => e,
        other => panic!("expected the inner call's error, got {other:?}"),
    };
    assert_eq!(
        inner_err.rejection().map(|r| r.kind()),
        Some(RejectionKind::DeadlineExceeded)
    );
}

#[test]
fn a_nested_timeout_does_not_start_work_after_the_outer_deadline() {
    let clock = ManualClock::new();
    let outer = builder("gateway", &clock).timeout(secs(1)).build().unwrap();
    let inner = builder("service", &clock).timeout(secs(5)).build().unwrap();
    let mut ran = false;
    let seen = RefCell::new(None);
    let _: Result<(), Error<()>> = outer.call_blocking(|| {
        clock.advance(ms(1500));
        let r: Result<(), Error<()>> = inner.call_blocking(|| {
            ran = true;
            Ok(())
        });
        *seen.borrow_mut() = Some(r);
        Ok(())
    });
    assert!(!ran, "the inner operation started after the deadline");
    let inner_res = seen.into_inner().expect("the inner call was made");
    assert_eq!(kind(&inner_res), Some(RejectionKind::DeadlineExceeded));
}

#[test]
fn the_deadline_does_not_leak_out_of_a_blocking_call() {
    let clock = ManualClock::new();
    let outer = builder("gateway", &clock).timeout(secs(1)).build().unwrap();
    let inner = builder("service", &clock).timeout(secs(5)).build().unwrap();
    let _: Result<(), Error<()>> = outer.call_blocking(|| Ok(()));
    // After the outer call returned, its deadline is gone: 2 s of work fits in 5 s.
    let res: Result<(), Error<()>> = inner.call_blocking(|| {
        clock.advance(secs(2));
        Ok(())
    });
    assert_eq!(res, Ok(()));
}

#[test]
fn retry_events_carry_the_delays() {
    let clock = ManualClock::new();
    let rec = Recorder::new();
    let p = builder("x", &clock)
        .listener(rec.clone())
        .without_retry_budget()
        .retry(constant(ms(250), 3))
        .build()
        .unwrap();
    let _: Result<(), Error<&str>> = p.call_blocking(|| Err("down"));
    let lines = rec.lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[3].contains("CallFinished { duration: 500ms, outcome: Failure }"),
        "the call's end, after two 250 ms backoffs: {lines:?}"
    );
    assert!(lines[0].contains("RetryScheduled") && lines[0].contains("attempt: 1"));
    assert!(lines[1].contains("RetryScheduled") && lines[1].contains("attempt: 2"));
    assert!(lines[0].contains("delay: 250ms"), "{lines:?}");
    assert!(
        lines[2].contains("RetryGaveUp") && lines[2].contains("MaxAttempts"),
        "{lines:?}"
    );
}
