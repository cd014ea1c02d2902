//! The blocking bulkhead: a hung dependency occupies only its own pool, a full pool and
//! queue reject, panics become errors, threads carry the bulkhead's name, idle threads
//! above the core retire, async callers await results without blocking, and a caller
//! dropped at its await leaves its job to finish and the next queued job to start.
//!
//! Jobs that must stay busy block on a channel the test controls and report that they
//! started on another, so every figure checked is reached by construction, not by
//! timing; no test sleeps.

mod support;

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart::bulkhead::{BlockingBulkhead, BlockingBulkheadConfig};
use rampart::event::Recorder;
use rampart::{Error, RejectionKind};

fn pool(name: &str, config: BlockingBulkheadConfig) -> BlockingBulkhead {
    BlockingBulkhead::new(name, config).unwrap()
}

fn fixed(name: &str, threads: u32) -> BlockingBulkhead {
    pool(
        name,
        BlockingBulkheadConfig::new().with_max_threads(threads),
    )
}

/// A job that says it started, then blocks until its gate opens (is sent to or
/// dropped), like a call to a dependency that hangs.
fn hung(started: &Sender<()>) -> (Sender<()>, impl FnOnce() -> &'static str + Send + 'static) {
    let (open, gate): (Sender<()>, Receiver<()>) = channel();
    let started = started.clone();
    let job = move || {
        started.send(()).unwrap();
        let _ = gate.recv();
        "released"
    };
    (open, job)
}

/// Waits, without sleeping, for a condition that the pool reaches by construction;
/// fails instead of hanging if it does not within a generous bound.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        std::thread::yield_now();
    }
}

#[test]
fn a_hung_dependency_occupies_only_its_own_pool() {
    let email = fixed("email", 2);
    let search = fixed("search", 2);
    let (started_tx, started) = channel();
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..2 {
        let (gate, job) = hung(&started_tx);
        gates.push(gate);
        handles.push(email.spawn(job).unwrap());
    }
    started.recv().unwrap();
    started.recv().unwrap();
    let r = email.spawn(|| "more").unwrap_err();
    assert_eq!(
        (r.kind(), r.name(), r.policy()),
        (RejectionKind::BulkheadFull, "email", "bulkhead")
    );
    let s = email.snapshot();
    assert_eq!((s.threads, s.busy, s.queued, s.rejected), (2, 2, 0, 1));

    // Search keeps serving, from its own threads, while email's are all stuck.
    for i in 0..20u32 {
        assert_eq!(search.spawn(move || i * 2).unwrap().join().unwrap(), i * 2);
    }
    assert_eq!(search.snapshot().rejected, 0);

    drop(gates);
    for h in handles {
        assert_eq!(h.join().unwrap(), "released");
    }
    assert_eq!(email.spawn(|| "back").unwrap().join().unwrap(), "back");
}

#[test]
fn a_full_queue_rejects_and_queued_jobs_run_in_order() {
    let rec = Recorder::new();
    let config = BlockingBulkheadConfig::new()
        .with_max_threads(1)
        .with_queue_capacity(2);
    let b = pool("payment", config).with_listener(Arc::new(rec.clone()));
    let (started_tx, started) = channel();
    let (gate, job) = hung(&started_tx);
    let first = b.spawn(job).unwrap();
    started.recv().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let queued: Vec<_> = (1..=2)
        .map(|i| {
            let order = Arc::clone(&order);
            b.spawn(move || order.lock().unwrap().push(i)).unwrap()
        })
        .collect();
    let s = b.snapshot();
    assert_eq!((s.threads, s.busy, s.queued), (1, 1, 2));
    assert!(b.spawn(|| ()).is_err());
    assert_eq!(b.snapshot().rejected, 1);
    assert!(
        rec.lines()[0]
            .contains("BulkheadRejected { max_concurrent: 1, active: 1, queued: 2, waited: None }"),
        "{:?}",
        rec.lines()
    );

    drop(gate);
    assert_eq!(first.join().unwrap(), "released");
    for h in queued {
        h.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [1, 2]);
    assert_eq!(b.snapshot().queued, 0);
}

#[test]
fn a_panicking_job_becomes_an_error_and_the_pool_lives_on() {
    let b = fixed("email", 1);
    let err = b
        .spawn(|| -> u32 { panic!("smtp down") })
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(err.message(), Some("smtp down"));
    assert_eq!(err.to_string(), "job panicked: smtp down");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"smtp down"));
    let s = b.snapshot();
    assert_eq!((s.threads, s.busy), (1, 0));
    let name = b.spawn(|| std::thread::current().name().map(str::to_owned));
    assert_eq!(
        name.unwrap().join().unwrap().as_deref(),
        Some("email-1"),
        "the same thread"
    );
}

#[test]
fn a_caller_who_got_a_result_is_never_refused_its_thread() {
    // One thread, no queue: each job is accepted only if the thread that ran the one
    // before is already free, which it is before its result is published.
    let b = fixed("inventory", 1);
    for i in 0..200u32 {
        assert_eq!(b.spawn(move || i).unwrap().join().unwrap(), i);
    }
    assert_eq!(b.snapshot().rejected, 0);
    assert_eq!(b.snapshot().threads, 1);
}

#[test]
fn threads_are_named_after_the_bulkhead() {
    let b = fixed("payment", 2);
    let (started_tx, started) = channel();
    let (gate, job) = hung(&started_tx);
    let first = b.spawn(job).unwrap();
    started.recv().unwrap();
    let second = b.spawn(|| std::thread::current().name().map(str::to_owned));
    assert_eq!(
        second.unwrap().join().unwrap().as_deref(),
        Some("payment-2")
    );
    drop(gate);
    first.join().unwrap();
}

#[test]
fn idle_threads_above_the_core_retire_and_the_core_stays() {
    // A keep-alive of zero retires a thread above the core as soon as it finds no work,
    // so the pool reaches its core size by construction.
    let config = BlockingBulkheadConfig::new()
        .with_max_threads(3)
        .with_core_threads(1)
        .with_keep_alive(Duration::ZERO);
    let b = pool("search", config);
    let (started_tx, started) = channel();
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..3 {
        let (gate, job) = hung(&started_tx);
        gates.push(gate);
        handles.push(b.spawn(job).unwrap());
    }
    for _ in 0..3 {
        started.recv().unwrap();
    }
    assert_eq!(b.snapshot().threads, 3);
    drop(gates);
    for h in handles {
        h.join().unwrap();
    }
    eventually("the pool shrinks to its core", || b.snapshot().threads == 1);
    // The core thread is still there and serves: the job runs on one of the three
    // threads started above, not on a fourth (which a pool that had let its core go
    // too would have to start).
    let name = b
        .spawn(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .join()
        .unwrap();
    assert!(
        matches!(name.as_deref(), Some("search-1" | "search-2" | "search-3")),
        "{name:?}"
    );
    assert_eq!(b.snapshot().threads, 1);
}

#[test]
fn a_thread_within_its_keep_alive_serves_the_next_job() {
    let config = BlockingBulkheadConfig::new()
        .with_max_threads(1)
        .with_core_threads(0)
        .with_keep_alive(Duration::from_secs(3600));
    let b = pool("cache", config);
    let name = || std::thread::current().name().map(str::to_owned);
    assert_eq!(
        b.spawn(name).unwrap().join().unwrap().as_deref(),
        Some("cache-1")
    );
    assert_eq!(b.snapshot().threads, 1);
    assert_eq!(
        b.spawn(name).unwrap().join().unwrap().as_deref(),
        Some("cache-1")
    );
}

#[test]
fn dropping_the_last_handle_still_runs_the_accepted_jobs() {
    let config = BlockingBulkheadConfig::new()
        .with_max_threads(1)
        .with_queue_capacity(1);
    let b = pool("audit", config);
    let clone = b.clone();
    let (started_tx, started) = channel();
    let (gate, job) = hung(&started_tx);
    let first = b.spawn(job).unwrap();
    started.recv().unwrap();
    let queued = clone.spawn(|| "queued ran").unwrap();
    drop(b);
    drop(clone);
    drop(gate);
    assert_eq!(first.join().unwrap(), "released");
    assert_eq!(queued.join().unwrap(), "queued ran");
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_caller_awaits_the_result_without_blocking_its_runtime() {
    let b = fixed("payment", 1);
    let (open, gate) = channel::<()>();
    let inner = b.clone();
    let call = tokio::spawn(async move {
        inner
            .call(move || {
                gate.recv().unwrap();
                Ok::<u32, &str>(42)
            })
            .await
    });
    // The one runtime thread is free while the job blocks on its pool thread.
    tokio::task::yield_now().await;
    assert_eq!(b.snapshot().threads, 1);
    open.send(()).unwrap();
    assert_eq!(call.await.unwrap(), Ok(42));

    let res: Result<u32, Error<&str>> = b.call(|| Err("declined")).await;
    assert_eq!(res, Err(Error::Operation("declined")));

    let handle = b.spawn(|| 7).unwrap();
    assert_eq!(handle.await.unwrap(), 7);
}

#[tokio::test(flavor = "current_thread")]
async fn call_rejects_when_full_and_resumes_a_panic_in_the_caller() {
    let b = fixed("payment", 1);
    let (started_tx, started) = channel();
    let (gate, job) = hung(&started_tx);
    let first = b.spawn(job).unwrap();
    started.recv().unwrap();
    let res: Result<(), Error<()>> = b.call(|| Ok(())).await;
    assert_eq!(support::kind(&res), Some(RejectionKind::BulkheadFull));
    drop(gate);
    first.await.unwrap();

    let inner = b.clone();
    let task =
        tokio::spawn(async move { inner.call(|| -> Result<(), ()> { panic!("boom") }).await });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(
        b.spawn(|| 1).unwrap().await.unwrap(),
        1,
        "the pool lives on"
    );
}

/// Polls a future once with a waker that does nothing.
fn poll_once<F: std::future::Future>(fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn dropping_a_caller_at_its_await_frees_the_thread_when_the_job_ends_and_starts_the_next_job_once()
{
    // `call` has one await: the job's result. Dropped there while its job is queued and
    // while it runs, a caller leaves the job to run to its end (a blocking call cannot
    // be stopped); its thread then serves the next queued job, each exactly once, and
    // every figure is back to rest.
    let b = pool(
        "ledger",
        BlockingBulkheadConfig::new()
            .with_max_threads(1)
            .with_queue_capacity(2),
    );
    let (started_tx, started) = channel();
    let (gate, job) = hung(&started_tx);
    let holder = b.spawn(job).unwrap();
    started.recv().unwrap();

    let runs = Arc::new(Mutex::new(Vec::new()));
    let run = |name: &'static str| {
        let runs = Arc::clone(&runs);
        move || {
            runs.lock().unwrap().push(name);
            Ok::<_, ()>(name)
        }
    };
    // Dropped while its job waits in the queue.
    {
        let mut queued = std::pin::pin!(b.call(run("dropped while queued")));
        assert!(poll_once(queued.as_mut()).is_pending());
        assert_eq!(b.snapshot().queued, 1);
    }
    let next = b.spawn(run("queued behind it")).unwrap();
    assert_eq!(b.snapshot().queued, 2);
    drop(gate);
    assert_eq!(holder.join().unwrap(), "released");
    assert_eq!(next.join().unwrap(), Ok("queued behind it"));
    assert_eq!(
        *runs.lock().unwrap(),
        ["dropped while queued", "queued behind it"]
    );

    // Dropped while its job runs: the thread stays busy until the job ends, then is free.
    let (gate, job) = hung(&started_tx);
    {
        let mut running = std::pin::pin!(b.call(move || Ok::<_, ()>(job())));
        assert!(poll_once(running.as_mut()).is_pending());
        started.recv().unwrap();
    }
    assert_eq!(b.snapshot().busy, 1, "a blocking call cannot be stopped");
    let after = b.spawn(run("after the running one")).unwrap();
    drop(gate);
    assert_eq!(after.join().unwrap(), Ok("after the running one"));
    eventually("the thread is idle", || b.snapshot().busy == 0);
    let s = b.snapshot();
    assert_eq!((s.busy, s.queued, s.rejected), (0, 0, 0));
    assert_eq!(runs.lock().unwrap().len(), 3, "every job ran exactly once");
}

#[test]
fn handles_report_whether_the_job_ran() {
    let b = fixed("jobs", 1);
    let (open, gate) = channel::<()>();
    let h = b.spawn(move || gate.recv().is_ok()).unwrap();
    assert!(!h.is_finished());
    assert!(format!("{h:?}").contains("finished: false"));
    open.send(()).unwrap();
    eventually("the job finishes", || h.is_finished());
    assert!(h.join().unwrap());
    assert!(format!("{b:?}").contains("jobs"));
}
