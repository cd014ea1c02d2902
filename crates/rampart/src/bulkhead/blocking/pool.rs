//! The thread pool behind a blocking bulkhead: jobs, threads and their counts under one
//! mutex, idle threads waiting on a condition variable.
//!
//! A job goes to a free thread if there is one (more threads not running a job than
//! jobs waiting), else to a new thread while the pool is below its maximum, else into
//! the queue while it has room, else it is rejected. A thread runs jobs until the queue
//! is empty, then waits: forever if the pool is at or below its core size, else for the
//! keep-alive, after which it exits if there is still nothing to do. Every decision is
//! taken under the one lock, after looking at the queue, so no job is left behind.
//!
//! A thread counts as free again before its job's result is published: a caller who
//! got a result and submits again is never refused for want of the thread it just used.
//! Jobs catch their own panics, so a thread never dies of one and the counts stay exact.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use super::config::BlockingBulkheadConfig;
use super::job::Task;
use super::lock;
use crate::bulkhead::snapshot::BlockingSnapshot;
use crate::error::{Rejection, RejectionKind};
use crate::event::{Event, EventKind, Listener};

/// A job as the pool holds it.
pub(super) type Job = Box<dyn Task + 'static>;

pub(super) struct Pool {
    pub(super) name: Arc<str>,
    pub(super) config: BlockingBulkheadConfig,
    core: u32,
    state: Mutex<State>,
    work: Condvar,
    rejected: AtomicU64,
    pub(super) listener: OnceLock<Arc<dyn Listener>>,
}

struct State {
    jobs: VecDeque<Job>,
    threads: u32,
    /// Threads running a job.
    busy: u32,
    shutdown: bool,
    /// Threads started so far, to number their names.
    started: u64,
}

impl Pool {
    pub(super) fn new(name: &str, config: BlockingBulkheadConfig) -> Self {
        Pool {
            name: name.into(),
            config,
            core: config.core(),
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                threads: 0,
                busy: 0,
                shutdown: false,
                started: 0,
            }),
            work: Condvar::new(),
            rejected: AtomicU64::new(0),
            listener: OnceLock::new(),
        }
    }

    /// Accepts `job` for a thread, or rejects it without running it.
    pub(super) fn submit(self: &Arc<Self>, job: Job) -> Result<(), Rejection> {
        let mut st = lock(&self.state);
        let pending = st.jobs.len();
        let free = (st.threads - st.busy) as usize;
        if !st.shutdown {
            if pending < free {
                st.jobs.push_back(job);
                drop(st);
                self.work.notify_one();
                return Ok(());
            }
            if st.threads < self.config.max_threads && self.start_thread(&mut st) {
                st.jobs.push_back(job);
                return Ok(());
            }
            if st.threads > 0 && pending < free + self.config.queue_capacity as usize {
                st.jobs.push_back(job);
                return Ok(());
            }
        }
        let figures = self.figures(&st);
        drop(st);
        drop(job);
        Err(self.reject(figures))
    }

    /// Starts one more thread; false if the operating system refused.
    fn start_thread(self: &Arc<Self>, st: &mut MutexGuard<'_, State>) -> bool {
        st.started += 1;
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("{}-{}", self.name, st.started))
            .spawn(move || pool.run_worker());
        if spawned.is_ok() {
            st.threads += 1;
        }
        spawned.is_ok()
    }

    /// A worker's life: run jobs while there are any, wait for more, exit when retired
    /// or when the pool shuts down with nothing left to run.
    fn run_worker(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some(mut job) = st.jobs.pop_front() {
                st.busy += 1;
                drop(st);
                job.run();
                lock(&self.state).busy -= 1;
                job.publish();
                st = lock(&self.state);
                continue;
            }
            if st.shutdown {
                break;
            }
            if st.threads > self.core {
                let (guard, wait) = self
                    .work
                    .wait_timeout(st, self.config.keep_alive)
                    .unwrap_or_else(PoisonError::into_inner);
                st = guard;
                if wait.timed_out() && st.jobs.is_empty() && st.threads > self.core {
                    break;
                }
            } else {
                st = self.work.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        }
        st.threads -= 1;
    }

    /// Lets the threads exit once the queue is empty; jobs already accepted still run.
    pub(super) fn shut_down(&self) {
        lock(&self.state).shutdown = true;
        self.work.notify_all();
    }

    pub(super) fn snapshot(&self) -> BlockingSnapshot {
        let st = lock(&self.state);
        self.figures(&st)
    }

    fn figures(&self, st: &State) -> BlockingSnapshot {
        BlockingSnapshot {
            threads: st.threads,
            busy: st.busy,
            queued: u32::try_from(st.jobs.len()).unwrap_or(u32::MAX),
            rejected: self.rejected.load(Ordering::Relaxed),
            max_threads: self.config.max_threads,
            core_threads: self.core,
            queue_capacity: self.config.queue_capacity,
        }
    }

    /// Counts and reports a rejection (outside the lock) and builds it.
    #[cold]
    fn reject(&self, figures: BlockingSnapshot) -> Rejection {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        if let Some(l) = self.listener.get() {
            l.on_event(&Event {
                pipeline: &self.name,
                kind: EventKind::BulkheadRejected {
                    max_concurrent: figures.max_threads,
                    active: figures.busy,
                    queued: figures.queued,
                    waited: None,
                },
            });
        }
        Rejection::new(
            Arc::clone(&self.name),
            "bulkhead",
            RejectionKind::BulkheadFull,
        )
    }
}
