//! Timeouts in a pipeline (async, paused time): per attempt versus the whole call, the
//! inner future dropped when time is up, how long the call ran, deadlines clamped across
//! nested pipelines, events, and pipelines that are `Clone` and `Send`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart::event::Recorder;
use rampart::retry::{Jitter, RetryBudgetConfig, RetryConfig};
use rampart::{Error, Pipeline, RejectionKind};
use support::{kind, ms, rejection, secs, LiveCounter};
use tokio::time::Instant;

/// A pipeline with only a timeout.
fn timed(name: &str, limit: Duration) -> Pipeline {
    Pipeline::builder(name).timeout(limit).build().unwrap()
}

fn constant(delay: Duration, attempts: u32) -> RetryConfig {
    RetryConfig::constant(delay)
        .with_max_attempts(attempts)
        .with_jitter(Jitter::None)
}

// ---------------------------------------------------------------------------------------
// Placement: the whole call versus each attempt
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_total_timeout_cuts_the_whole_retry_loop() {
    let p = Pipeline::builder("inventory")
        .without_retry_budget()
        .timeout(secs(2))
        .retry(constant(ms(500), 10))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut starts = Vec::new();
    let res: Result<(), Error<&str>> = p
        .call(|| {
            starts.push(start.elapsed());
            async {
                tokio::time::sleep(ms(400)).await;
                Err("unavailable")
            }
        })
        .await;
    // Attempts at 0, 0.9 and 1.8 s; the third is cut at 2 s.
    assert_eq!(starts, [ms(0), ms(900), ms(1800)]);
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(kind(&res), Some(RejectionKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_cuts_each_attempt_and_the_retry_goes_on() {
    let p = Pipeline::builder("inventory")
        .without_retry_budget()
        .retry(constant(ms(100), 3))
        .timeout(secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut starts = Vec::new();
    let res: Result<usize, Error<&str>> = p
        .call(|| {
            starts.push(start.elapsed());
            let n = starts.len();
            async move {
                if n < 3 {
                    tokio::time::sleep(secs(60)).await;
                }
                Ok(n)
            }
        })
        .await;
    assert_eq!(res, Ok(3));
    assert_eq!(starts, [ms(0), ms(1100), ms(2200)]);
    assert_eq!(start.elapsed(), ms(2200));
}

#[tokio::test(start_paused = true)]
async fn when_every_attempt_times_out_the_last_timeout_is_returned() {
    let p = Pipeline::builder("inventory")
        .without_retry_budget()
        .retry(constant(ms(100), 3))
        .timeout(secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut n = 0;
    let res: Result<(), Error<&str>> = p
        .call(|| {
            n += 1;
            std::future::pending()
        })
        .await;
    assert_eq!(n, 3);
    let r = rejection(&res).expect("a rejection");
    assert_eq!(r.kind(), RejectionKind::Timeout);
    // The attempt's own limit, not the time the whole call took.
    assert_eq!(r.elapsed(), Some(secs(1)));
    assert_eq!(start.elapsed(), ms(3200));
}

// ---------------------------------------------------------------------------------------
// Cancellation and what the rejection says
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_inner_future_is_dropped_when_time_is_up() {
    let p = timed("p", secs(1));
    let live = LiveCounter::new();
    let dropped_at = Arc::new(Mutex::new(None));
    let start = Instant::now();

    struct StampOnDrop(Arc<Mutex<Option<Duration>>>, Instant);
    impl Drop for StampOnDrop {
        fn drop(&mut self) {
            if let Ok(mut d) = self.0.lock() {
                *d = Some(self.1.elapsed());
            }
        }
    }

    let call = p.call(|| {
        let guard = live.guard();
        let stamp = StampOnDrop(Arc::clone(&dropped_at), start);
        async move {
            let _held = (guard, stamp);
            tokio::time::sleep(secs(3600)).await;
            Ok(())
        }
    });
    tokio::pin!(call);
    let res: Result<(), Error<()>> = (&mut call).await;
    // The call future itself is still alive here: the attempt must already be gone.
    assert_eq!(kind(&res), Some(RejectionKind::Timeout));
    assert_eq!(live.live(), 0, "the attempt's future is still alive");
    assert_eq!(*dropped_at.lock().unwrap(), Some(secs(1)));
}

#[tokio::test(start_paused = true)]
async fn each_timed_out_attempt_is_dropped_before_the_next_starts() {
    let p = Pipeline::builder("p")
        .without_retry_budget()
        .retry(constant(ms(100), 3))
        .timeout(secs(1))
        .build()
        .unwrap();
    let live = LiveCounter::new();
    let mut live_at_start = Vec::new();
    let _: Result<(), Error<()>> = p
        .call(|| {
            live_at_start.push(live.live());
            let guard = live.guard();
            async move {
                let _g = guard;
                std::future::pending::<()>().await;
                Ok(())
            }
        })
        .await;
    assert_eq!(live_at_start, [0, 0, 0]);
    assert_eq!(live.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_drops_the_attempt() {
    let p = timed("p", secs(10));
    let live = LiveCounter::new();
    let call = p.call(|| {
        let guard = live.guard();
        async move {
            let _g = guard;
            std::future::pending::<Result<(), ()>>().await
        }
    });
    let cut = tokio::time::timeout(secs(1), call).await;
    assert!(cut.is_err(), "the outer tokio timeout fired first");
    assert_eq!(live.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_rejection_says_after_how_long_and_by_whom() {
    let p = timed("payment", secs(3));
    let res: Result<(), Error<()>> = p.call(std::future::pending).await;
    let r = rejection(&res).expect("a rejection");
    assert_eq!(r.kind(), RejectionKind::Timeout);
    assert!(r.is_timeout());
    assert_eq!(r.elapsed(), Some(secs(3)));
    assert_eq!(r.name(), "payment");
    assert_eq!(r.policy(), "timeout");
    assert!(r.to_string().contains("3s"), "{r}");
}

// ---------------------------------------------------------------------------------------
// Deadlines across nested pipelines (the seeds' 5 s / 4 s / 3 s budget)
// ---------------------------------------------------------------------------------------

/// Gateway 5 s, service A 4 s, service B 10 s: B is cut at A's 4 s deadline.
#[tokio::test(start_paused = true)]
async fn a_grandchild_timeout_is_clamped_to_the_nearest_deadline() {
    let gateway = timed("gateway", secs(5));
    let service_a = timed("service-a", secs(4));
    let service_b = timed("service-b", secs(10));
    let start = Instant::now();
    let seen = Arc::new(Mutex::new(None));
    let _: Result<(), Error<()>> = gateway
        .call(|| {
            let seen = Arc::clone(&seen);
            let (a, b) = (&service_a, &service_b);
            async move {
                let _: Result<(), Error<()>> = a
                    .call(|| {
                        let seen = Arc::clone(&seen);
                        async move {
                            let r: Result<(), Error<()>> = b.call(std::future::pending).await;
                            *seen.lock().unwrap() = Some((r, start.elapsed()));
                            Ok(())
                        }
                    })
                    .await;
                Ok(())
            }
        })
        .await;
    let (b_res, at) = seen.lock().unwrap().take().expect("service B answered");
    assert_eq!(at, secs(4));
    let r = rejection(&b_res).expect("service B was cut");
    assert_eq!(r.kind(), RejectionKind::DeadlineExceeded);
    assert_eq!(r.name(), "service-b");
    assert_eq!(r.elapsed(), Some(secs(4)));
}

/// Gateway 5 s, service A 4 s, service B 3 s: every budget fits, so B's own 3 s fires.
#[tokio::test(start_paused = true)]
async fn a_grandchild_timeout_shorter_than_its_parents_is_its_own() {
    let gateway = timed("gateway", secs(5));
    let service_a = timed("service-a", secs(4));
    let service_b = timed("service-b", secs(3));
    let start = Instant::now();
    let res: Result<(), Error<Error<Error<()>>>> = gateway
        .call(|| {
            let (a, b) = (&service_a, &service_b);
            async move {
                a.call(|| async move { b.call(std::future::pending).await })
                    .await
            }
        })
        .await;
    assert_eq!(start.elapsed(), secs(3));
    let b_err = match &res {
        Err(Error::Operation(Error::Operation(e))) => e,
        other => panic!("expected service B's error through A and the gateway: {other:?}"),
    };
    let r = b_err.rejection().expect("service B was cut");
    assert_eq!(r.kind(), RejectionKind::Timeout);
    assert_eq!(r.name(), "service-b");
    assert_eq!(r.elapsed(), Some(secs(3)));
}

/// A child that starts 1.5 s into a 4 s budget gets what is left: 2.5 s, not its 10 s.
#[tokio::test(start_paused = true)]
async fn a_late_child_gets_only_the_remaining_budget() {
    let parent = timed("parent", secs(4));
    let child = timed("child", secs(10));
    let start = Instant::now();
    let res: Result<(), Error<Error<()>>> = parent
        .call(|| async {
            tokio::time::sleep(ms(1500)).await;
            child.call(std::future::pending).await
        })
        .await;
    assert_eq!(start.elapsed(), secs(4));
    let child_err = match &res {
        Err(Error::Operation(e)) => e,
        other => panic!("expected the child's error: {other:?}"),
    };
    let r = child_err.rejection().expect("the child was cut");
    assert_eq!(r.kind(), RejectionKind::DeadlineExceeded);
    assert_eq!(r.elapsed(), Some(ms(2500)));
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn timeout_elapsed_reaches_the_listener() {
    let rec = Recorder::new();
    let p = Pipeline::builder("payment")
        .listener(rec.clone())
        .timeout(secs(2))
        .build()
        .unwrap();
    let _: Result<(), Error<()>> = p.call(std::future::pending).await;
    let lines = rec.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("CallFinished { duration: 2s, outcome: Rejected(Timeout) }"));
    assert!(lines[0].starts_with("payment: TimeoutElapsed"), "{lines:?}");
    assert!(lines[0].contains("after: 2s"), "{lines:?}");
    assert!(lines[0].contains("kind: Timeout"), "{lines:?}");
}

#[tokio::test(start_paused = true)]
async fn a_call_that_finishes_in_time_reports_only_its_end() {
    let rec = Recorder::new();
    let p = Pipeline::builder("payment")
        .listener(rec.clone())
        .timeout(secs(2))
        .build()
        .unwrap();
    let res: Result<u8, Error<()>> = p
        .call(|| async {
            tokio::time::sleep(ms(1999)).await;
            Ok(1)
        })
        .await;
    assert_eq!(res, Ok(1));
    assert_eq!(
        rec.lines(),
        ["payment: CallFinished { duration: 1.999s, outcome: Success }"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_clamped_timeout_reports_deadline_exceeded() {
    let rec = Recorder::new();
    let parent = timed("parent", secs(1));
    let child = Pipeline::builder("child")
        .listener(rec.clone())
        .timeout(secs(10))
        .build()
        .unwrap();
    let _: Result<(), Error<Error<()>>> = parent.call(|| child.call(std::future::pending)).await;
    let lines = rec.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("CallFinished { duration: 1s, outcome: Rejected(DeadlineExceeded) }"));
    assert!(lines[0].starts_with("child: TimeoutElapsed"), "{lines:?}");
    assert!(lines[0].contains("kind: DeadlineExceeded"), "{lines:?}");
}

// ---------------------------------------------------------------------------------------
// Clone and Send
// ---------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn clones_share_the_retry_budget() {
    // Only the reserve: 1 retry per second over 10 s = 10 retries for everyone.
    let p = Pipeline::builder("p")
        .retry_budget(
            RetryBudgetConfig::new()
                .with_ratio(0.0)
                .with_min_per_second(1),
        )
        .retry(constant(ms(1), 3))
        .build()
        .unwrap();
    let q = p.clone();
    assert_eq!(p.retry_budget().map(|b| b.available()), Some(10));
    let _: Result<(), Error<()>> = q.call(|| async { Err(()) }).await;
    assert_eq!(p.retry_budget().map(|b| b.available()), Some(8));
}

#[tokio::test(start_paused = true)]
async fn a_budget_spent_through_a_clone_stops_the_original_retrying() {
    let p = Pipeline::builder("p")
        .retry_budget(
            RetryBudgetConfig::new()
                .with_ratio(0.0)
                .with_min_per_second(1),
        )
        .retry(constant(ms(1), 3))
        .build()
        .unwrap();
    let q = p.clone();
    for _ in 0..5 {
        let _: Result<(), Error<()>> = q.call(|| async { Err(()) }).await;
    }
    let mut n = 0;
    let _: Result<(), Error<()>> = p
        .call(|| {
            n += 1;
            async { Err(()) }
        })
        .await;
    assert_eq!(n, 1);
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test(start_paused = true)]
async fn the_call_future_is_send() {
    let p = Pipeline::builder("p")
        .timeout(secs(5))
        .retry(constant(ms(100), 3))
        .timeout(secs(1))
        .build()
        .unwrap();
    let fut = p.call(|| async {
        tokio::time::sleep(ms(10)).await;
        Ok::<u32, String>(1)
    });
    assert_send(&fut);
    drop(fut);

    let q = p.clone();
    let handle = tokio::spawn(async move {
        q.call(|| async {
            tokio::time::sleep(ms(10)).await;
            Ok::<u32, String>(1)
        })
        .await
    });
    assert_eq!(handle.await.expect("the task ran"), Ok(1));
}

#[test]
fn a_pipeline_is_send_sync_clone_and_static() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Pipeline>();
}
