//! A submitted job: the future and the channel its result (or the reason it was given
//! up) goes back through, and the handle its submitter awaits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::sync::oneshot;

use super::Shared;
use crate::error::{Rejection, RejectionKind};
use crate::shed::Priority;

/// Why a job submitted to a [`WorkQueue`](super::WorkQueue) produced no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Refused on arrival: the queue was full (reject new, or max age with nothing
    /// expired).
    QueueFull,
    /// Evicted by [`Overflow::DropOldest`](super::Overflow::DropOldest).
    Oldest,
    /// Evicted by [`Overflow::DropNewest`](super::Overflow::DropNewest).
    Newest,
    /// Evicted, or refused on arrival, by
    /// [`Overflow::DropLowestPriority`](super::Overflow::DropLowestPriority).
    LowestPriority,
    /// It waited longer than the queue's `max_age`.
    Expired,
    /// The queue was closed (or its runtime shut down) before the job ran.
    Closed,
    /// The job panicked while it ran; the worker carried on.
    Panicked,
}

impl DropReason {
    /// A short lowercase name, stable for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Oldest => "oldest",
            DropReason::Newest => "newest",
            DropReason::LowestPriority => "lowest_priority",
            DropReason::Expired => "expired",
            DropReason::Closed => "closed",
            DropReason::Panicked => "panicked",
        }
    }

    /// Every reason, in the order of a snapshot's counts.
    pub const ALL: [DropReason; 7] = [
        DropReason::QueueFull,
        DropReason::Oldest,
        DropReason::Newest,
        DropReason::LowestPriority,
        DropReason::Expired,
        DropReason::Closed,
        DropReason::Panicked,
    ];

    pub(super) const fn index(self) -> usize {
        match self {
            DropReason::QueueFull => 0,
            DropReason::Oldest => 1,
            DropReason::Newest => 2,
            DropReason::LowestPriority => 3,
            DropReason::Expired => 4,
            DropReason::Closed => 5,
            DropReason::Panicked => 6,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job that produced no result: why, its priority, and how long it waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    reason: DropReason,
    priority: Priority,
    waited: Duration,
}

impl Dropped {
    pub(super) fn new(reason: DropReason, priority: Priority, waited: Duration) -> Self {
        Dropped {
            reason,
            priority,
            waited,
        }
    }

    /// Why the job produced no result.
    pub fn reason(&self) -> DropReason {
        self.reason
    }

    /// The priority it was submitted with.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// How long it waited in the queue before it was given up (zero when refused on
    /// arrival or when the queue's runtime went away).
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The same as a [`Rejection`] of kind [`Shed`](RejectionKind::Shed) by policy
    /// `"work_queue"` of the pipeline `name`, to return through a pipeline's error.
    pub fn into_rejection(self, name: Arc<str>) -> Rejection {
        Rejection::new(name, "work_queue", RejectionKind::Shed)
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} work dropped: {}", self.priority, self.reason)
    }
}

impl std::error::Error for Dropped {}

/// A queued job, type-erased: a future to run, and a way to report it given up.
pub(super) trait Job: Future<Output = ()> + Send {
    /// Sends `err` to the submitter in place of a result.
    fn fail(self: Pin<&mut Self>, err: Dropped);
}

/// The result channel of a job whose output is `T`.
type Reply<T> = oneshot::Sender<Result<T, Dropped>>;

pin_project! {
    /// The future a worker runs: the submitted work, cut short when its submitter drops
    /// the handle.
    pub(super) struct Task<F: Future> {
        #[pin]
        work: F,
        reply: Option<Reply<F::Output>>,
    }
}

impl<F: Future> Task<F> {
    pub(super) fn new(work: F, reply: Reply<F::Output>) -> Self {
        Task {
            work,
            reply: Some(reply),
        }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let Some(reply) = this.reply.as_mut() else {
            return Poll::Ready(());
        };
        // Nobody waits for the result any more: stop, and let the worker drop the work.
        if reply.poll_closed(cx).is_ready() {
            *this.reply = None;
            return Poll::Ready(());
        }
        match this.work.poll(cx) {
            Poll::Ready(out) => {
                if let Some(reply) = this.reply.take() {
                    let _ = reply.send(Ok(out));
                }
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> Job for Task<F>
where
    F: Future + Send,
    F::Output: Send,
{
    fn fail(self: Pin<&mut Self>, err: Dropped) {
        if let Some(reply) = self.project().reply.take() {
            let _ = reply.send(Err(err));
        }
    }
}

/// The submitter's side of a job: await it for the job's output, or the reason it
/// produced none.
///
/// Dropping the handle cancels the job: a queued job leaves the queue at once (its
/// place is free for another), a running one is dropped at its next await and its
/// worker moves on.
///
/// # Cancel safety
///
/// Awaiting the handle is cancel-safe in that dropping the `await` drops the handle,
/// which cancels the job as above.
#[must_use = "dropping the handle cancels the job"]
pub struct TaskHandle<T> {
    pub(super) reply: oneshot::Receiver<Result<T, Dropped>>,
    pub(super) shared: Arc<Shared>,
    pub(super) priority: Priority,
    pub(super) seq: u64,
    pub(super) done: bool,
}

impl<T> TaskHandle<T> {
    /// The priority the job was submitted with.
    pub fn priority(&self) -> Priority {
        self.priority
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, Dropped>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match Pin::new(&mut self.reply).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(out)) => out,
            // The job went away without a word: the queue and its workers are gone.
            Poll::Ready(Err(_)) => Err(Dropped::new(
                DropReason::Closed,
                self.priority,
                Duration::ZERO,
            )),
        };
        self.done = true;
        Poll::Ready(out)
    }
}

impl<T> Drop for TaskHandle<T> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.cancel(self.priority, self.seq);
        }
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("priority", &self.priority)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
