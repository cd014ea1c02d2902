//! The priority work queue: highest priority first and FIFO within one, each overflow
//! policy drops the right job and tells its submitter, expiry, panics, closing, and
//! dropping a submitter at every await point gives the capacity back.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rampart::event::Recorder;
use rampart::shed::{DropReason, Overflow, Priority, TaskHandle, WorkQueue, WorkQueueConfig};
use support::{secs, LiveCounter};
use tokio::sync::oneshot;

use Priority::{Critical, High, Low, Normal};

/// Lets the spawned workers run until they wait again.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

fn queue(config: WorkQueueConfig) -> (WorkQueue, Recorder) {
    let recorder = Recorder::new();
    let q = WorkQueue::new("jobs", config)
        .expect("valid")
        .with_listener(Arc::new(recorder.clone()));
    (q, recorder)
}

/// Occupies the queue's only worker until the returned sender is used or dropped.
async fn block_worker(q: &WorkQueue) -> (oneshot::Sender<()>, TaskHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let h = q
        .submit(Critical, async move {
            let _ = rx.await;
        })
        .expect("an empty queue takes it");
    settle().await;
    assert_eq!(q.snapshot().running, 1);
    (tx, h)
}

type Log = Arc<Mutex<Vec<&'static str>>>;

/// A job that logs its name when it runs and returns it.
fn job(log: &Log, name: &'static str) -> impl std::future::Future<Output = &'static str> + Send {
    let log = Arc::clone(log);
    async move {
        log.lock().unwrap().push(name);
        name
    }
}

#[tokio::test(start_paused = true)]
async fn highest_priority_first_fifo_within_a_priority() {
    let (q, _) = queue(WorkQueueConfig::new().with_workers(1));
    let (release, blocker) = block_worker(&q).await;
    let log = Log::default();
    let jobs = [
        (Low, "l1"),
        (High, "h1"),
        (Critical, "c1"),
        (Low, "l2"),
        (High, "h2"),
        (Normal, "n1"),
    ];
    let handles: Vec<_> = jobs
        .iter()
        .map(|&(p, name)| q.submit(p, job(&log, name)).unwrap())
        .collect();
    assert_eq!(q.snapshot().queued, [1, 2, 1, 2]);
    release.send(()).unwrap();
    for (h, (_, name)) in handles.into_iter().zip(jobs) {
        assert_eq!(h.await, Ok(name));
    }
    blocker.await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["c1", "h1", "h2", "n1", "l1", "l2"]);
}

/// A queue of 3 behind a blocked worker, holding n-old, l, n-new (in that order).
struct Full {
    q: WorkQueue,
    recorder: Recorder,
    release: oneshot::Sender<()>,
    handles: Vec<TaskHandle<&'static str>>,
    /// Dropping it would cancel the blocking job.
    _blocker: TaskHandle<()>,
}

async fn full(overflow: Overflow, log: &Log) -> Full {
    let config = WorkQueueConfig::new()
        .with_workers(1)
        .with_capacity(3)
        .with_overflow(overflow)
        .with_max_age(Some(secs(10)));
    let (q, recorder) = queue(config);
    let (release, blocker) = block_worker(&q).await;
    let mut handles = vec![q.submit(Normal, job(log, "n-old")).unwrap()];
    tokio::time::advance(secs(5)).await;
    handles.push(q.submit(Low, job(log, "l")).unwrap());
    handles.push(q.submit(Normal, job(log, "n-new")).unwrap());
    Full {
        q,
        recorder,
        release,
        handles,
        _blocker: blocker,
    }
}

/// Awaits every handle: the name of each job that ran, or why it did not.
async fn outcomes(handles: Vec<TaskHandle<&'static str>>) -> Vec<Result<&'static str, DropReason>> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.map_err(|d| d.reason()));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn reject_new_refuses_the_newcomer() {
    let log = Log::default();
    let Full {
        q,
        recorder,
        release,
        handles,
        _blocker,
    } = full(Overflow::RejectNew, &log).await;
    let refused = q.submit(Critical, job(&log, "x")).unwrap_err();
    assert_eq!(refused.reason(), DropReason::QueueFull);
    assert_eq!(refused.priority(), Critical);
    release.send(()).unwrap();
    assert_eq!(outcomes(handles).await, [Ok("n-old"), Ok("l"), Ok("n-new")]);
    assert_eq!(
        recorder.lines(),
        ["jobs: WorkDropped { priority: Critical, reason: QueueFull }"]
    );
    assert_eq!(q.snapshot().dropped_count(DropReason::QueueFull), 1);
    assert!(!log.lock().unwrap().contains(&"x"));
}

#[tokio::test(start_paused = true)]
async fn drop_oldest_evicts_the_longest_waiting() {
    let log = Log::default();
    let Full {
        q,
        recorder,
        release,
        mut handles,
        _blocker,
    } = full(Overflow::DropOldest, &log).await;
    handles.push(q.submit(Low, job(&log, "x")).unwrap());
    release.send(()).unwrap();
    let out = outcomes(handles).await;
    assert_eq!(
        out,
        [Err(DropReason::Oldest), Ok("l"), Ok("n-new"), Ok("x")]
    );
    assert_eq!(recorder.count("reason: Oldest"), 1);
    assert_eq!(q.snapshot().dropped_count(DropReason::Oldest), 1);
}

#[tokio::test(start_paused = true)]
async fn drop_newest_evicts_the_last_queued() {
    let log = Log::default();
    let Full {
        q,
        recorder,
        release,
        mut handles,
        _blocker,
    } = full(Overflow::DropNewest, &log).await;
    handles.push(q.submit(Low, job(&log, "x")).unwrap());
    release.send(()).unwrap();
    let out = outcomes(handles).await;
    assert_eq!(
        out,
        [Ok("n-old"), Ok("l"), Err(DropReason::Newest), Ok("x")]
    );
    assert_eq!(recorder.count("reason: Newest"), 1);
}

#[tokio::test(start_paused = true)]
async fn every_policy_first_drops_work_older_than_the_maximum_age() {
    // n-old has waited 11 s of its 10 when the newcomer finds the queue full: under
    // every policy it goes as expired, and nothing else is dropped or refused.
    for overflow in [
        Overflow::RejectNew,
        Overflow::DropOldest,
        Overflow::DropNewest,
        Overflow::DropLowestPriority,
        Overflow::DropExpired,
    ] {
        let log = Log::default();
        let Full {
            q,
            recorder,
            release,
            mut handles,
            _blocker,
        } = full(overflow, &log).await;
        tokio::time::advance(secs(6)).await;
        handles.push(q.submit(Normal, job(&log, "x")).unwrap());
        release.send(()).unwrap();
        assert_eq!(
            outcomes(handles).await,
            [Err(DropReason::Expired), Ok("l"), Ok("n-new"), Ok("x")],
            "{overflow:?}"
        );
        assert_eq!(recorder.count("WorkDropped"), 1, "{overflow:?}");
        assert_eq!(recorder.count("reason: Expired"), 1, "{overflow:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn oldest_and_newest_go_by_arrival_not_by_the_serving_order() {
    // Queued in an order that differs from the serving order, so that "oldest" and
    // "newest" cannot be mistaken for "served next" or "served last".
    for (overflow, queued, dropped) in [
        // The Low job arrived first; the High one would be served first.
        (Overflow::DropOldest, [(Low, "first"), (High, "second")], 0),
        // The Low job arrived last; the High one would be served first.
        (Overflow::DropNewest, [(High, "first"), (Low, "second")], 1),
    ] {
        let log = Log::default();
        let (q, recorder) = queue(
            WorkQueueConfig::new()
                .with_workers(1)
                .with_capacity(2)
                .with_overflow(overflow),
        );
        let (release, blocker) = block_worker(&q).await;
        let mut handles = Vec::new();
        for (priority, name) in queued {
            handles.push(q.submit(priority, job(&log, name)).unwrap());
            tokio::time::advance(secs(1)).await;
        }
        handles.push(q.submit(Normal, job(&log, "newcomer")).unwrap());
        release.send(()).unwrap();
        let out = outcomes(handles).await;
        let reason = match overflow {
            Overflow::DropOldest => DropReason::Oldest,
            _ => DropReason::Newest,
        };
        assert_eq!(out[dropped], Err(reason), "{overflow:?}: {out:?}");
        assert_eq!(
            out.iter().filter(|o| o.is_ok()).count(),
            2,
            "{overflow:?}: {out:?}"
        );
        assert_eq!(recorder.count("WorkDropped"), 1, "{overflow:?}");
        blocker.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn drop_lowest_priority_keeps_the_important_work() {
    let log = Log::default();
    let Full {
        q,
        recorder,
        release,
        mut handles,
        _blocker,
    } = full(Overflow::DropLowestPriority, &log).await;
    handles.push(q.submit(High, job(&log, "x")).unwrap());
    // Now the lowest queued is Normal: another Normal would be served last, so it goes.
    let refused = q.submit(Normal, job(&log, "y")).unwrap_err();
    assert_eq!(refused.reason(), DropReason::LowestPriority);
    release.send(()).unwrap();
    let out = outcomes(handles).await;
    assert_eq!(
        out,
        [
            Ok("n-old"),
            Err(DropReason::LowestPriority),
            Ok("n-new"),
            Ok("x")
        ]
    );
    assert_eq!(recorder.count("reason: LowestPriority"), 2);
    assert_eq!(*log.lock().unwrap(), ["x", "n-old", "n-new"]);
}

#[tokio::test(start_paused = true)]
async fn drop_expired_evicts_only_stale_work() {
    let log = Log::default();
    let Full {
        q,
        recorder,
        release,
        mut handles,
        _blocker,
    } = full(Overflow::DropExpired, &log).await;
    // n-old has waited 5 s of its 10: nothing is stale, the newcomer is refused.
    let refused = q.submit(High, job(&log, "x")).unwrap_err();
    assert_eq!(refused.reason(), DropReason::QueueFull);
    tokio::time::advance(secs(6)).await;
    handles.push(q.submit(High, job(&log, "y")).unwrap());
    release.send(()).unwrap();
    let out = outcomes(handles).await;
    assert_eq!(
        out,
        [Err(DropReason::Expired), Ok("l"), Ok("n-new"), Ok("y")]
    );
    assert_eq!(recorder.count("reason: Expired"), 1);
    assert_eq!(recorder.count("reason: QueueFull"), 1);
}

#[tokio::test(start_paused = true)]
async fn work_that_waited_too_long_is_dropped_not_run() {
    let config = WorkQueueConfig::new()
        .with_workers(1)
        .with_max_age(Some(secs(10)));
    let (q, recorder) = queue(config);
    let (release, _blocker) = block_worker(&q).await;
    let log = Log::default();
    let h = q.submit(Normal, job(&log, "stale")).unwrap();
    tokio::time::advance(secs(11)).await;
    release.send(()).unwrap();
    let dropped = h.await.unwrap_err();
    assert_eq!(dropped.reason(), DropReason::Expired);
    assert_eq!(dropped.waited(), secs(11));
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(recorder.count("Expired"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_job_is_reported_and_the_worker_carries_on() {
    let (q, recorder) = queue(WorkQueueConfig::new().with_workers(1));
    let bad = q
        .submit(High, async {
            if true {
                panic!("the job failed");
            }
        })
        .unwrap();
    let good = q.submit(Low, async { 7 }).unwrap();
    assert_eq!(bad.await.unwrap_err().reason(), DropReason::Panicked);
    assert_eq!(good.await, Ok(7));
    assert_eq!(recorder.count("Panicked"), 1);
    assert_eq!(q.snapshot().running, 0);
}

#[tokio::test(start_paused = true)]
async fn closing_reports_the_waiting_work_and_refuses_more() {
    let (q, recorder) = queue(WorkQueueConfig::new().with_workers(1));
    let (release, blocker) = block_worker(&q).await;
    let waiting = q.submit(Normal, async { 1 }).unwrap();
    let clone = q.clone();
    drop(clone); // not the last clone: nothing happens
    assert!(!q.snapshot().closed);
    q.close();
    assert_eq!(waiting.await.unwrap_err().reason(), DropReason::Closed);
    assert_eq!(
        q.submit(Critical, async { 2 }).unwrap_err().reason(),
        DropReason::Closed
    );
    // The running job finishes.
    release.send(()).unwrap();
    assert_eq!(blocker.await, Ok(()));
    assert!(q.snapshot().closed);
    assert_eq!(recorder.count("Closed"), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_clone_closes_the_queue() {
    let (q, _) = queue(WorkQueueConfig::new().with_workers(1));
    let (_release, _blocker) = block_worker(&q).await;
    let waiting = q.submit(Normal, async { 1 }).unwrap();
    drop(q);
    assert_eq!(waiting.await.unwrap_err().reason(), DropReason::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_queued_handle_frees_its_place() {
    let config = WorkQueueConfig::new().with_workers(1).with_capacity(1);
    let (q, _) = queue(config);
    let (release, _blocker) = block_worker(&q).await;
    let live = LiveCounter::new();
    let guard = live.guard();
    let queued = q
        .submit(Normal, async move {
            let _g = guard;
        })
        .unwrap();
    assert_eq!(
        q.submit(Normal, async {}).unwrap_err().reason(),
        DropReason::QueueFull
    );
    drop(queued);
    assert_eq!(q.snapshot().queued_total(), 0);
    assert_eq!(live.live(), 0, "the job's future is dropped with it");
    let next = q.submit(Normal, async { 3 }).unwrap();
    release.send(()).unwrap();
    assert_eq!(next.await, Ok(3));
}

/// The submitter is cancelled after `k` seconds of a job that awaits 5 sleeps of 1 s:
/// at each of the job's await points (the queued case is the test above).
#[tokio::test(start_paused = true)]
async fn dropping_the_submitter_at_every_await_frees_the_worker_for_the_queued_job_once() {
    for k in 0..=5u64 {
        let config = WorkQueueConfig::new().with_workers(1).with_capacity(1);
        let (q, _) = queue(config);
        let live = LiveCounter::new();
        let steps = Arc::new(AtomicU32::new(0));
        let spawn_submitter = |q: &WorkQueue| {
            let (q, guard, steps) = (q.clone(), live.guard(), Arc::clone(&steps));
            tokio::spawn(async move {
                let h = q.submit(Normal, async move {
                    let _g = guard;
                    for _ in 0..5 {
                        tokio::time::sleep(secs(1)).await;
                        steps.fetch_add(1, Ordering::SeqCst);
                    }
                });
                h.unwrap().await
            })
        };
        let first = spawn_submitter(&q);
        settle().await;
        // A job queued behind it: the freed worker must start it, and only it, once.
        let started = Arc::new(AtomicU32::new(0));
        let second = {
            let started = Arc::clone(&started);
            q.submit(Low, async move {
                started.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap()
        };
        tokio::time::advance(secs(k)).await;
        settle().await;
        first.abort();
        let _ = first.await;
        settle().await;
        assert_eq!(started.load(Ordering::SeqCst), 1, "cancelled after {k} s");
        assert_eq!(second.await, Ok(()));
        let snap = q.snapshot();
        assert_eq!(
            (snap.running, snap.queued_total()),
            (0, 0),
            "cancelled after {k} s"
        );
        assert_eq!(live.live(), 0, "cancelled after {k} s: the job was dropped");
        assert!(steps.load(Ordering::SeqCst) <= k as u32);
        // The worker and the queue are free again.
        assert_eq!(q.submit(High, async move { k }).unwrap().await, Ok(k));
    }
}

#[tokio::test(start_paused = true)]
async fn never_more_jobs_run_than_workers() {
    let (q, _) = queue(WorkQueueConfig::new().with_workers(4).with_capacity(100));
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = (0..100u32)
        .map(|i| {
            let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
            q.submit(Priority::ALL[(i % 4) as usize], async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(secs(1)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })
            .unwrap()
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await, Ok(i as u32));
    }
    assert_eq!(peak.load(Ordering::SeqCst), 4);
}
