//! The blocking bulkhead: a thread pool of its own per dependency, so that blocking
//! calls to a hung dependency take that pool's threads and nothing else.

mod config;
mod job;
mod pool;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use self::config::{BlockingBulkheadConfig, MAX_THREADS};
pub use self::job::{JobHandle, JobPanicked};

use self::job::{Closure, Completion};
use self::pool::Pool;
use super::snapshot::BlockingSnapshot;
use crate::config::ConfigError;
use crate::error::{Error, Rejection};
use crate::event::Listener;

/// Locks a standard mutex, taking the guard even when a panic elsewhere poisoned it:
/// every update of the pool's state leaves it consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking jobs on a thread pool of its own: the seeds' thread-pool bulkhead.
///
/// A job is accepted if a thread is idle, a thread can be started (up to
/// [`max_threads`](BlockingBulkheadConfig::max_threads)), or the queue has room;
/// otherwise [`spawn`](Self::spawn) rejects it at once. Threads are named after the
/// bulkhead (`payment-1`, `payment-2`, ...), start on demand, and those above the core
/// size exit after the keep-alive without work. A panic in a job becomes a
/// [`JobPanicked`] error for its caller; the thread and the pool live on.
///
/// Cheap to clone; clones share the pool. When the last clone is dropped the threads
/// finish the jobs already accepted, then exit; nothing waits for them (a hung job
/// keeps only its own thread).
///
/// # Examples
///
/// ```
/// use rampart::bulkhead::{BlockingBulkhead, BlockingBulkheadConfig};
///
/// let email = BlockingBulkhead::new("email", BlockingBulkheadConfig::new().with_max_threads(2))?;
/// let sent = email.spawn(|| "sent").expect("a thread is free");
/// assert_eq!(sent.join().ok(), Some("sent"));
///
/// let panicked = email.spawn(|| -> u32 { panic!("smtp down") }).expect("a thread is free");
/// assert_eq!(panicked.join().unwrap_err().message(), Some("smtp down"));
/// assert_eq!(email.spawn(|| 1).expect("the pool lives on").join().ok(), Some(1));
/// # Ok::<(), rampart::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BlockingBulkhead {
    owner: Arc<Owner>,
}

/// Held by the handles only (the threads hold the pool): its drop shuts the pool down.
struct Owner {
    pool: Arc<Pool>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.pool.shut_down();
    }
}

impl BlockingBulkhead {
    /// A pool named `name` (the pipeline's name, used for its threads, rejections and
    /// events). No thread starts before the first job.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`BlockingBulkheadConfig::validate`].
    pub fn new(name: &str, config: BlockingBulkheadConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(BlockingBulkhead {
            owner: Arc::new(Owner {
                pool: Arc::new(Pool::new(name, config)),
            }),
        })
    }

    /// Reports rejections to `listener` as
    /// [`EventKind::BulkheadRejected`](crate::event::EventKind::BulkheadRejected), with
    /// the pool's maximum threads, busy threads and queued jobs. Call it right after
    /// construction; only the first listener set is kept.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        let _ = self.owner.pool.listener.set(listener);
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.owner.pool.name
    }

    /// The settings it was built with.
    pub fn config(&self) -> &BlockingBulkheadConfig {
        &self.owner.pool.config
    }

    /// Hands `job` to the pool without waiting; the handle gives its result.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`BulkheadFull`](crate::RejectionKind::BulkheadFull) by
    /// policy `"bulkhead"` when every thread is busy, no thread can start and the queue
    /// is full; `job` is dropped without running.
    pub fn spawn<F, T>(&self, job: F) -> Result<JobHandle<T>, Rejection>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let completion = Arc::new(Completion::new());
        let task = Closure::new(job, Arc::clone(&completion));
        self.owner.pool.submit(Box::new(task))?;
        Ok(JobHandle::new(completion))
    }

    /// Runs `op` on the pool and waits for its result without blocking the caller's
    /// task. A panic in `op` goes on unwinding in the caller, as it would have had `op`
    /// run there; the pool's thread lives on.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] as [`spawn`](Self::spawn); [`Error::Operation`] with the
    /// operation's own error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not stop `op`: a blocking call cannot be interrupted.
    /// It runs to its end on its thread, which stays busy meanwhile, and its result is
    /// dropped.
    pub async fn call<F, T, E>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        match self.spawn(op)?.await {
            Ok(out) => out.map_err(Error::Operation),
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }

    /// The pool's figures now (read under its lock); changes nothing.
    pub fn snapshot(&self) -> BlockingSnapshot {
        self.owner.pool.snapshot()
    }
}

impl fmt::Debug for BlockingBulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingBulkhead")
            .field("name", &self.name())
            .field("config", self.config())
            .field("snapshot", &self.snapshot())
            .finish()
    }
}
