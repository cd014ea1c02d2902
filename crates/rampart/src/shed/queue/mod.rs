//! A bounded priority work queue served by a pool of async workers, with the seeds'
//! overflow policies: when it is full, some work is given up, and the submitter of that
//! work is always told.
//!
//! Workers (tokio tasks) take the highest priority first and, within a priority, the
//! job that came first. A job is any `Future + Send + 'static`; [`WorkQueue::submit`]
//! returns a [`TaskHandle`] that resolves to the job's output, or to a [`Dropped`]
//! error saying why it produced none: refused on arrival, evicted by the overflow
//! policy, expired, closed, or panicked. Dropping the handle cancels the job and frees
//! its place. The queue takes a mutex to queue and to take work; it is for work that is
//! worth a few hundred nanoseconds of bookkeeping (a request, a batch), not for the
//! admission path of every call, which is the [`LoadShedder`](super::LoadShedder)'s.
//!
//! # Examples
//!
//! ```
//! use rampart::shed::{DropReason, Overflow, Priority, WorkQueue, WorkQueueConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let config = WorkQueueConfig::new().with_capacity(1).with_workers(1);
//! let queue = WorkQueue::new("emails", config.with_overflow(Overflow::DropLowestPriority))?;
//!
//! // The one worker has not started yet, so the first job waits in the queue...
//! let low = queue.submit(Priority::Low, async { "newsletter" }).expect("queued");
//! // ...and a more important one takes its place.
//! let high = queue.submit(Priority::High, async { "password reset" }).expect("queued");
//! assert_eq!(low.await.unwrap_err().reason(), DropReason::LowestPriority);
//! assert_eq!(high.await, Ok("password reset"));
//! # Ok(())
//! # }
//! ```

mod config;
mod store;
mod task;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use self::store::{Entry, Push, Store};
use self::task::{Job, Task};
use super::Priority;
use crate::clock::{default_clock, duration_to_nanos, Clock};
use crate::config::ConfigError;
use crate::event::{Event, EventKind, Listener};

pub use self::config::{Overflow, WorkQueueConfig, MAX_WORKERS};
pub use self::task::{DropReason, Dropped, TaskHandle};

type BoxJob = Pin<Box<dyn Job>>;

/// A bounded priority queue of async jobs and the workers that run them. See the
/// [module docs](self).
///
/// Cheap to clone; clones share the queue. When the last clone is dropped the queue
/// [closes](Self::close).
#[derive(Clone)]
pub struct WorkQueue {
    owner: Arc<Owner>,
}

/// Closes the queue when the last [`WorkQueue`] clone goes (workers and handles hold
/// the shared state, not this).
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The state shared by the queue's clones, its workers and its handles.
pub(crate) struct Shared {
    name: Arc<str>,
    config: WorkQueueConfig,
    max_age: Option<u64>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    notify: Notify,
    running: AtomicU64,
    dropped: [AtomicU64; 7],
    listener: OnceLock<Arc<dyn Listener>>,
}

struct State {
    store: Store<BoxJob>,
    closed: bool,
}

/// A work queue's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkQueueSnapshot {
    /// Jobs waiting, per priority in [`Priority::ALL`] order.
    pub queued: [usize; 4],
    /// Jobs running on a worker now.
    pub running: u64,
    /// Jobs that may wait.
    pub capacity: u32,
    /// Workers.
    pub workers: u32,
    /// Jobs given up so far, per reason in [`DropReason::ALL`] order.
    pub dropped: [u64; 7],
    /// True once the queue is closed.
    pub closed: bool,
}

impl WorkQueueSnapshot {
    /// Jobs waiting, all priorities together.
    pub fn queued_total(&self) -> usize {
        self.queued.iter().sum()
    }

    /// Jobs given up so far for `reason`.
    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }
}

impl WorkQueue {
    /// A queue named `name` (used in events) whose workers start now on the current
    /// tokio runtime, taking time from the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`WorkQueueConfig::validate`], or one naming
    /// `work_queue.workers` when called outside a tokio runtime.
    pub fn new(name: &str, config: WorkQueueConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, default_clock())
    }

    /// A queue that measures the age of its jobs with `clock`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_clock(
        name: &str,
        config: WorkQueueConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ConfigError::new(
                "work_queue.workers",
                "need a tokio runtime: create the queue inside one",
            )
        })?;
        let shared = Arc::new(Shared {
            name: name.into(),
            config,
            max_age: config.max_age.map(duration_to_nanos),
            clock,
            state: Mutex::new(State {
                store: Store::new(config.capacity as usize),
                closed: false,
            }),
            notify: Notify::new(),
            running: AtomicU64::new(0),
            dropped: [0; 7].map(AtomicU64::new),
            listener: OnceLock::new(),
        });
        for _ in 0..config.workers {
            runtime.spawn(work(Arc::clone(&shared)));
        }
        Ok(WorkQueue {
            owner: Arc::new(Owner { shared }),
        })
    }

    /// Reports given-up jobs to `listener`.
    ///
    /// Call it right after construction; it takes effect only if no listener was set
    /// before.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        let _ = self.owner.shared.listener.set(listener);
        self
    }

    /// Queues `work` at `priority` for a worker to run, applying the overflow policy if
    /// the queue is full. The returned handle resolves to the work's output, or to why
    /// it produced none.
    ///
    /// # Errors
    ///
    /// [`Dropped`] at once when the work is refused on arrival: the queue is full and
    /// the policy keeps what it has ([`DropReason::QueueFull`] or
    /// [`DropReason::LowestPriority`]), or the queue is closed ([`DropReason::Closed`]).
    pub fn submit<F>(&self, priority: Priority, work: F) -> Result<TaskHandle<F::Output>, Dropped>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.owner.shared;
        let (tx, rx) = oneshot::channel();
        let job: BoxJob = Box::pin(Task::new(work, tx));
        let now = shared.clock.now_nanos();
        let mut evicted = Vec::new();
        let pushed = {
            let mut state = shared.lock();
            if state.closed {
                Push::Refused(job, DropReason::Closed)
            } else {
                state.store.push(
                    priority,
                    job,
                    now,
                    shared.config.overflow,
                    shared.max_age,
                    &mut evicted,
                )
            }
        };
        for (p, entry, reason) in evicted {
            shared.give_up(p, entry, reason, now);
        }
        match pushed {
            Push::Queued(seq) => {
                shared.notify.notify_one();
                Ok(TaskHandle {
                    reply: rx,
                    shared: Arc::clone(shared),
                    priority,
                    seq,
                    done: false,
                })
            }
            Push::Refused(job, reason) => {
                drop(job);
                shared.report(priority, reason);
                Err(Dropped::new(reason, priority, Duration::ZERO))
            }
        }
    }

    /// Stops taking work: every waiting job is given up with [`DropReason::Closed`],
    /// running jobs finish, then the workers end. Dropping the last clone does the same.
    pub fn close(&self) {
        self.owner.shared.close();
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.owner.shared.name
    }

    /// The queue's figures now; changes nothing.
    pub fn snapshot(&self) -> WorkQueueSnapshot {
        let shared = &*self.owner.shared;
        let (queued, closed) = {
            let state = shared.lock();
            (state.store.lens(), state.closed)
        };
        WorkQueueSnapshot {
            queued,
            running: shared.running.load(Ordering::Acquire),
            capacity: shared.config.capacity,
            workers: shared.config.workers,
            dropped: [0, 1, 2, 3, 4, 5, 6].map(|i| shared.dropped[i].load(Ordering::Relaxed)),
            closed,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the submitter of `entry` that it was given up, and counts it.
    fn give_up(&self, priority: Priority, mut entry: Entry<BoxJob>, reason: DropReason, now: u64) {
        let waited = Duration::from_nanos(now.saturating_sub(entry.at));
        entry
            .job
            .as_mut()
            .fail(Dropped::new(reason, priority, waited));
        self.report(priority, reason);
    }

    fn report(&self, priority: Priority, reason: DropReason) {
        self.dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(l) = self.listener.get() {
            l.on_event(&Event {
                pipeline: &self.name,
                kind: EventKind::WorkDropped { priority, reason },
            });
        }
    }

    /// Takes a job whose handle was dropped out of the queue, if it is still there.
    pub(super) fn cancel(&self, priority: Priority, seq: u64) {
        let entry = self.lock().store.remove(priority, seq);
        // The job's future is dropped here, outside the lock.
        drop(entry);
    }

    fn close(&self) {
        let drained = {
            let mut state = self.lock();
            state.closed = true;
            state.store.drain()
        };
        self.notify.notify_waiters();
        let now = self.clock.now_nanos();
        for (priority, entry) in drained {
            self.give_up(priority, entry, DropReason::Closed, now);
        }
    }
}

/// Counts a job as running until dropped, even if the worker is aborted mid-job.
struct Running<'a>(&'a AtomicU64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// One worker: takes the next job (highest priority, then oldest), drops it if it is
/// too old, runs it otherwise; waits when there is none; ends when the queue closes.
async fn work(shared: Arc<Shared>) {
    loop {
        let mut notified = std::pin::pin!(shared.notify.notified());
        // Registered before looking, so a job queued after the look wakes this worker.
        notified.as_mut().enable();
        let next = {
            let mut state = shared.lock();
            match state.store.pop() {
                Some(next) => Some(next),
                None if state.closed => return,
                None => None,
            }
        };
        let Some((priority, entry)) = next else {
            notified.await;
            continue;
        };
        let now = shared.clock.now_nanos();
        let waited = now.saturating_sub(entry.at);
        if shared.max_age.is_some_and(|max| waited > max) {
            shared.give_up(priority, entry, DropReason::Expired, now);
            continue;
        }
        shared.running.fetch_add(1, Ordering::AcqRel);
        let _running = Running(&shared.running);
        let mut job = entry.job;
        let finished = std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(AssertUnwindSafe(|| job.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(())) => Poll::Ready(true),
                Err(_) => Poll::Ready(false),
            }
        })
        .await;
        if !finished {
            let waited = Duration::from_nanos(waited);
            job.as_mut()
                .fail(Dropped::new(DropReason::Panicked, priority, waited));
            shared.report(priority, DropReason::Panicked);
        }
    }
}

impl fmt::Debug for WorkQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue")
            .field("name", &self.owner.shared.name)
            .field("config", &self.owner.shared.config)
            .finish_non_exhaustive()
    }
}
