//! Retry through the pipeline: timings, limits, predicates, deadlines, budget, cancel.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::classify::Classifier;
use rampart::event::Recorder;
use rampart::retry::{Jitter, RetryBudgetConfig, RetryConfig};
use rampart::{Error, Pipeline, RejectionKind};
use tokio::time::Instant;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Runs `pipeline` against an operation that fails `fail` times, recording when each
/// attempt started (relative to the start).
async fn attempt_times(
    pipeline: &Pipeline,
    fail: u32,
) -> (Result<u32, Error<&'static str>>, Vec<Duration>) {
    let start = Instant::now();
    let mut times = Vec::new();
    let mut n = 0;
    let res = pipeline
        .call(|| {
            times.push(start.elapsed());
            n += 1;
            let k = n;
            async move {
                if k <= fail {
                    Err("unavailable")
                } else {
                    Ok(k)
                }
            }
        })
        .await;
    (res, times)
}

fn gaps(times: &[Duration]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn seed_timings_half_second_base() {
    let p = Pipeline::builder("inventory")
        .retry(
            RetryConfig::exponential(secs(0.5))
                .with_max_attempts(4)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let (res, times) = attempt_times(&p, 3).await;
    assert_eq!(res, Ok(4));
    assert_eq!(gaps(&times), vec![secs(0.5), secs(1.0), secs(2.0)]);
}

#[tokio::test(start_paused = true)]
async fn seed_timings_one_second_base_capped() {
    let p = Pipeline::builder("payment")
        .without_retry_budget()
        .retry(
            RetryConfig::exponential(secs(1.0))
                .with_max_delay(secs(60.0))
                .with_max_attempts(12)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let (res, times) = attempt_times(&p, 11).await;
    assert_eq!(res, Ok(12));
    let g = gaps(&times);
    // Waits before retry 0, 1, 2, 5 and 10.
    assert_eq!(
        [g[0], g[1], g[2], g[5], g[10]],
        [secs(1.0), secs(2.0), secs(4.0), secs(32.0), secs(60.0)]
    );
}

#[tokio::test(start_paused = true)]
async fn final_error_is_the_last_attempts() {
    let p = Pipeline::builder("x")
        .retry(
            RetryConfig::constant(secs(0.1))
                .with_max_attempts(3)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let mut n = 0;
    let res: Result<(), _> = p
        .call(|| {
            n += 1;
            let k = n;
            async move { Err(format!("failure {k}")) }
        })
        .await;
    assert_eq!(res, Err(Error::Operation("failure 3".to_string())));
    assert_eq!(n, 3);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_errors_are_not_retried() {
    let p = Pipeline::builder("x")
        .retry(RetryConfig::constant(secs(0.1)).with_max_attempts(5))
        .build()
        .unwrap();
    let classifier: Classifier<(), u16> = Classifier::new().retry_err_if(|code| *code >= 500);
    let mut n = 0;
    let res = p
        .call_classified(classifier.clone(), || {
            n += 1;
            async { Err(400u16) }
        })
        .await;
    assert_eq!(res, Err(Error::Operation(400)));
    assert_eq!(n, 1);
    let mut m = 0;
    let res = p
        .call_classified(classifier, || {
            m += 1;
            async { Err(503u16) }
        })
        .await;
    assert_eq!(res, Err(Error::Operation(503)));
    assert_eq!(m, 5);
}

#[tokio::test(start_paused = true)]
async fn retries_on_result_predicate_and_returns_last_result() {
    let p = Pipeline::builder("x")
        .retry(
            RetryConfig::constant(secs(0.1))
                .with_max_attempts(3)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let classifier: Classifier<u16, ()> = Classifier::new().failure_ok_if(|s| *s == 503);
    let mut statuses = vec![200u16, 503, 503].into_iter().rev().collect::<Vec<_>>();
    let res = p
        .call_classified(classifier.clone(), || {
            let s = statuses.pop().unwrap_or(0);
            async move { Ok(s) }
        })
        .await;
    assert_eq!(res, Ok(200));
    let res = p.call_classified(classifier, || async { Ok(503) }).await;
    assert_eq!(
        res,
        Ok(503),
        "after the last attempt the caller sees the last result"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_hint_wins_and_is_clamped() {
    let p = Pipeline::builder("x")
        .retry(
            RetryConfig::constant(secs(1.0))
                .with_max_attempts(3)
                .with_jitter(Jitter::None)
                .with_max_retry_after(secs(10.0)),
        )
        .build()
        .unwrap();
    let classifier: Classifier<(), u64> =
        Classifier::new().retry_after_err(|s| Some(Duration::from_secs(*s)));
    let start = Instant::now();
    let mut times = Vec::new();
    let mut hints = vec![30u64, 4];
    let _ = p
        .call_classified(classifier, || {
            times.push(start.elapsed());
            let h = hints.pop().unwrap_or(0);
            async move { Err(h) }
        })
        .await;
    assert_eq!(gaps(&times), vec![secs(4.0), secs(10.0)]);
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_stops_retrying() {
    let p = Pipeline::builder("x")
        .retry(
            RetryConfig::constant(secs(1.0))
                .with_max_attempts(100)
                .with_jitter(Jitter::None)
                .with_max_elapsed(secs(3.5)),
        )
        .build()
        .unwrap();
    let (res, times) = attempt_times(&p, 100).await;
    assert_eq!(res, Err(Error::Operation("unavailable")));
    // Attempts at 0, 1, 2, 3; a fifth at 4 would pass 3.5 s.
    assert_eq!(times.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn seeds_budget_trap_answers_by_the_sla() {
    // SLA 5 s, per-attempt timeout 2 s, backoff 1 s (then 2 s): two attempts run and the
    // third is refused at once, by 5 s rather than 9 s.
    let rec = Recorder::new();
    let p = Pipeline::builder("payment")
        .listener(rec.clone())
        .timeout(secs(5.0))
        .retry(
            RetryConfig::exponential(secs(1.0))
                .with_max_attempts(3)
                .with_jitter(Jitter::None),
        )
        .timeout(secs(2.0))
        .build()
        .unwrap();
    let start = Instant::now();
    let attempts = AtomicU32::new(0);
    let res: Result<(), Error<()>> = p
        .call(|| {
            attempts.fetch_add(1, Ordering::SeqCst);
            std::future::pending()
        })
        .await;
    let r = res.unwrap_err();
    let r = r.rejection().expect("a rejection");
    assert_eq!(r.kind(), RejectionKind::DeadlineExceeded);
    assert_eq!(start.elapsed(), secs(5.0));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(rec.count("RetryScheduled"), 1);
    assert_eq!(rec.count("reason: Deadline"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_from_the_caller_is_honoured() {
    let p = Pipeline::builder("x")
        .retry(
            RetryConfig::constant(secs(1.0))
                .with_max_attempts(10)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let start = Instant::now();
    let mut n = 0;
    let res: Result<(), Error<&str>> = rampart::deadline::Deadline::after(secs(2.5))
        .scope(p.call(|| {
            n += 1;
            async { Err("down") }
        }))
        .await;
    assert!(matches!(res, Err(Error::Rejected(ref r)) if r.is_deadline_exceeded()));
    // Attempts at 0, 1, 2; a sleep to 3 would end after 2.5.
    assert_eq!(n, 3);
    assert_eq!(start.elapsed(), secs(2.0));
}

#[tokio::test(start_paused = true)]
async fn inner_rejections_are_not_retried_unless_asked() {
    // The inner pipeline times out; a total timeout rejection of an inner pipeline is a
    // `Timeout`, which is retried by default, while `DeadlineExceeded` is not.
    let inner = Pipeline::builder("inner")
        .timeout(secs(1.0))
        .build()
        .unwrap();
    let outer = Pipeline::builder("outer")
        .retry(
            RetryConfig::constant(secs(0.5))
                .with_max_attempts(3)
                .with_jitter(Jitter::None)
                .with_retry_on(&[]),
        )
        .build()
        .unwrap();
    let mut n = 0;
    let res: Result<(), Error<Error<()>>> = outer
        .call(|| {
            n += 1;
            inner.call(std::future::pending::<Result<(), ()>>)
        })
        .await;
    // The inner rejection is the outer operation's error here; the classifier decides.
    assert!(res.is_err());
    assert_eq!(n, 3);
    // A per-attempt timeout inside the same pipeline is a rejection: retried by default
    // (`retry_on = [timeout]`), not when told otherwise.
    let p = Pipeline::builder("x")
        .retry(
            RetryConfig::constant(secs(0.5))
                .with_max_attempts(3)
                .with_jitter(Jitter::None)
                .with_retry_on(&[]),
        )
        .timeout(secs(1.0))
        .build()
        .unwrap();
    let mut m = 0;
    let res: Result<(), Error<()>> = p
        .call(|| {
            m += 1;
            std::future::pending()
        })
        .await;
    assert!(matches!(res, Err(Error::Rejected(ref r)) if r.is_timeout()));
    assert_eq!(m, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_caller_starts_no_further_attempt() {
    let p = Pipeline::builder("x")
        .retry(
            RetryConfig::constant(secs(1.0))
                .with_max_attempts(10)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let started = Arc::new(AtomicU32::new(0));
    // Dropped during the backoff sleep after the first attempt.
    let s = started.clone();
    let call = p.call(move || {
        s.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    });
    let _ = tokio::time::timeout(secs(0.5), call).await;
    tokio::time::sleep(secs(30.0)).await;
    assert_eq!(started.load(Ordering::SeqCst), 1);

    // Dropped during the second attempt.
    let started = Arc::new(AtomicU32::new(0));
    let s = started.clone();
    let call = p.call(move || {
        let k = s.fetch_add(1, Ordering::SeqCst);
        async move {
            if k == 0 {
                Err::<(), _>("down")
            } else {
                std::future::pending().await
            }
        }
    });
    let _ = tokio::time::timeout(secs(1.5), call).await;
    tokio::time::sleep(secs(30.0)).await;
    assert_eq!(started.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_budget_bounds_amplification() {
    // A dependency failing 100 % for 60 s at 1,000 calls/s: attempts stay within
    // calls x 1.2 + 10/s x 60 s. Calls arrive every millisecond and each retries after
    // 1 ms and 2 ms; the last calls start just early enough for every attempt to fall
    // inside the 60 s.
    let p = Pipeline::builder("payment")
        .retry_budget(RetryBudgetConfig::default())
        .retry(
            RetryConfig::constant(Duration::from_millis(1))
                .with_max_attempts(3)
                .with_jitter(Jitter::None),
        )
        .build()
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    let calls = 59_998u32;
    for _ in 0..calls {
        let p = p.clone();
        let a = attempts.clone();
        tasks.push(tokio::spawn(async move {
            let _ = p
                .call(|| {
                    a.fetch_add(1, Ordering::Relaxed);
                    async { Err::<(), _>("down") }
                })
                .await;
        }));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(Instant::now().duration_since(start) <= secs(60.0));
    let total = attempts.load(Ordering::Relaxed) as f64;
    let bound = calls as f64 * 1.2 + 10.0 * 60.0;
    assert!(total <= bound, "{total} attempts > {bound}");
    assert!(total >= calls as f64 * 1.15, "retries starved: {total}");
}
