//! The priority of the request being served, carried in a thread-local while a scoped
//! future polls, so a pipeline's shedder deep inside the call can read it without a
//! parameter on every call: [`with_priority`] for async code, [`scope`] for blocking.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Priority;

thread_local! {
    static CURRENT: Cell<Option<Priority>> = const { Cell::new(None) };
}

/// The priority set by the innermost enclosing [`with_priority`] or [`scope`] on this
/// thread, if any. A pipeline's shedder takes [`Priority::Normal`] without one.
pub fn current_priority() -> Option<Priority> {
    CURRENT.with(Cell::get)
}

/// Restores the previous priority when dropped, also when the scoped code panics.
struct Restore(Option<Priority>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

fn enter(priority: Priority) -> Restore {
    Restore(CURRENT.with(|c| c.replace(Some(priority))))
}

/// Runs blocking `f` with `priority` as the current priority.
pub fn scope<R>(priority: Priority, f: impl FnOnce() -> R) -> R {
    let _restore = enter(priority);
    f()
}

/// Runs `fut` with `priority` as the current priority of every pipeline called while it
/// polls: the priority follows the request through nested calls, but not into tasks it
/// spawns (give those their own scope).
///
/// # Examples
///
/// ```
/// use rampart::shed::{with_priority, current_priority, Priority};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = with_priority(Priority::High, async { current_priority() }).await;
/// assert_eq!(seen, Some(Priority::High));
/// assert_eq!(current_priority(), None);
/// # }
/// ```
pub fn with_priority<F: Future>(priority: Priority, fut: F) -> WithPriority<F> {
    WithPriority { fut, priority }
}

pin_project_lite::pin_project! {
    /// The future of [`with_priority`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct WithPriority<F> {
        #[pin]
        fut: F,
        priority: Priority,
    }
}

impl<F: Future> Future for WithPriority<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _restore = enter(*this.priority);
        this.fut.poll(cx)
    }
}
