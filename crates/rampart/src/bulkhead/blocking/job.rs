//! The result of a job run on a blocking bulkhead's thread: a handle that is a future
//! and can also be joined from a thread, and the error a panicking job becomes.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use super::lock;

/// Where a job leaves its result for its handle.
pub(super) struct Completion<T> {
    slot: Mutex<Slot<T>>,
    done: Condvar,
}

struct Slot<T> {
    result: Option<Result<T, JobPanicked>>,
    waker: Option<Waker>,
    finished: bool,
}

impl<T> Completion<T> {
    pub(super) fn new() -> Self {
        Completion {
            slot: Mutex::new(Slot {
                result: None,
                waker: None,
                finished: false,
            }),
            done: Condvar::new(),
        }
    }

    /// Stores the job's result and wakes whoever waits for it.
    pub(super) fn finish(&self, result: Result<T, JobPanicked>) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.result = Some(result);
            slot.finished = true;
            slot.waker.take()
        };
        self.done.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A job as the pool runs it, in two steps: `run` the caller's closure (catching its
/// panic), then, once the pool counts the thread as free again, `publish` the result,
/// so a caller who saw the result can count on that thread for its next job.
pub(super) trait Task: Send {
    /// Runs the closure and keeps its outcome.
    fn run(&mut self);
    /// Hands the outcome to the job's handle.
    fn publish(self: Box<Self>);
}

/// The [`Task`] of a closure `F` returning `T`.
pub(super) struct Closure<F, T> {
    job: Option<F>,
    outcome: Option<Result<T, JobPanicked>>,
    completion: Arc<Completion<T>>,
}

impl<F, T> Closure<F, T> {
    pub(super) fn new(job: F, completion: Arc<Completion<T>>) -> Self {
        Closure {
            job: Some(job),
            outcome: None,
            completion,
        }
    }
}

impl<F, T> Task for Closure<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&mut self) {
        if let Some(job) = self.job.take() {
            self.outcome = Some(catch_unwind(AssertUnwindSafe(job)).map_err(JobPanicked::new));
        }
    }

    fn publish(self: Box<Self>) {
        if let Some(outcome) = self.outcome {
            self.completion.finish(outcome);
        }
    }
}

/// The result of a job handed to a [`BlockingBulkhead`](super::BlockingBulkhead): await
/// it, or [`join`](Self::join) it from a thread.
///
/// Dropping the handle does not stop the job: it runs to its end on its pool's thread
/// and its result is dropped.
#[must_use = "the job runs anyway; the handle is the only way to its result"]
pub struct JobHandle<T> {
    completion: Arc<Completion<T>>,
}

impl<T> JobHandle<T> {
    pub(super) fn new(completion: Arc<Completion<T>>) -> Self {
        JobHandle { completion }
    }

    /// Blocks the current thread until the job has run and returns its result. Do not
    /// call it on an async runtime's thread: await the handle instead.
    ///
    /// # Errors
    ///
    /// [`JobPanicked`] when the job panicked.
    pub fn join(self) -> Result<T, JobPanicked> {
        let mut slot = lock(&self.completion.slot);
        loop {
            if let Some(result) = slot.result.take() {
                return result;
            }
            slot = self
                .completion
                .done
                .wait(slot)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// True once the job has run (returned or panicked).
    pub fn is_finished(&self) -> bool {
        lock(&self.completion.slot).finished
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobPanicked>;

    /// Ready once the job has run. Polled again after that, it stays pending.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.completion.slot);
        if let Some(result) = slot.result.take() {
            return Poll::Ready(result);
        }
        if !slot.finished {
            match &mut slot.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A job panicked on its pool's thread. The pool lives on; the panic's payload is kept
/// for the caller to inspect or to resume.
pub struct JobPanicked {
    // A mutex makes the error `Sync` (as `anyhow` and `Box<dyn Error + Send + Sync>`
    // need) although the payload is only `Send`.
    payload: Mutex<Option<Box<dyn Any + Send + 'static>>>,
    message: Option<String>,
}

impl JobPanicked {
    pub(super) fn new(payload: Box<dyn Any + Send + 'static>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        JobPanicked {
            payload: Mutex::new(Some(payload)),
            message,
        }
    }

    /// The panic's message, when it was a string.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The panic's payload, e.g. to go on unwinding with
    /// [`std::panic::resume_unwind`].
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.payload
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unwrap_or_else(|| Box::new("job panicked"))
    }
}

impl fmt::Debug for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobPanicked")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "job panicked: {m}"),
            None => f.write_str("job panicked"),
        }
    }
}

impl std::error::Error for JobPanicked {}
