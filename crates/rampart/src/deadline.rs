//! A request-wide deadline that travels with the task, so nested calls see the budget.
//!
//! The seeds' timeout budget (gateway 5 s, service A 4 s, service B 3 s) only works if
//! inner timeouts know what is left of the outer one. While a rampart timeout or a
//! [`Deadline::scope`] is being polled, the deadline is visible to everything it polls:
//! an inner timeout is clamped to it, and a retry does not start an attempt or a backoff
//! sleep that cannot finish before it.
//!
//! The scope is set around each poll in a thread-local, which is how tokio's task-locals
//! work too, but without their `RefCell`. A timeout whose future is ready on its first
//! poll never reads the clock: the deadline starts out relative ("2 s from the start")
//! and is pinned to an instant only when someone needs it, which keeps the success path
//! to a few nanoseconds.
//!
//! # Examples
//!
//! ```
//! use rampart::deadline::Deadline;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let deadline = Deadline::after(Duration::from_secs(5));
//! let left = deadline
//!     .scope(async { Deadline::current().map(|d| d.remaining()) })
//!     .await;
//! assert_eq!(left, Some(Duration::from_secs(5)));
//! # }
//! ```

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

/// An instant by which a request must be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline at `at`.
    pub fn at(at: Instant) -> Self {
        Deadline { at }
    }

    /// A deadline `budget` from now (saturating far in the future).
    pub fn after(budget: Duration) -> Self {
        Deadline {
            at: add(Instant::now(), budget),
        }
    }

    /// The instant itself.
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Time left until the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// True once the deadline has passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The deadline that applies to the code being polled now, if any.
    ///
    /// Reads the clock only if an enclosing timeout has not pinned its start yet.
    pub fn current() -> Option<Deadline> {
        current_instant().map(Deadline::at)
    }

    /// Runs `future` with this deadline visible to everything it polls (clamped to any
    /// deadline already in force around it). The deadline is not enforced by the scope
    /// itself: wrap the work in a timeout for that.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops `future`; nothing is left behind.
    pub fn scope<F: Future>(self, future: F) -> DeadlineScope<F> {
        DeadlineScope {
            deadline: self,
            future,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future that runs its inner future under a [`Deadline`]; see [`Deadline::scope`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct DeadlineScope<F> {
        deadline: Deadline,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for DeadlineScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = Scope::get();
        outer.with_at(this.deadline.at).set();
        let res = this.future.poll(cx);
        let after = Scope::get();
        outer.after_child(after).set();
        res
    }
}

/// Adds without panicking: far-future deadlines saturate at about 30 years from now.
pub(crate) fn add(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(Duration::from_secs(30 * 365 * 86_400)))
        .unwrap_or(at)
}

/// The deadline in force where the caller is being polled, pinning a relative one.
pub(crate) fn current_instant() -> Option<Instant> {
    let s = Scope::get();
    if s.lazy.is_none() {
        return s.at;
    }
    let now = Instant::now();
    let pinned = s.pin(now);
    pinned.set();
    pinned.at
}

/// What the thread-local holds while a deadline-aware future is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope {
    /// The absolute deadline, if one is known.
    pub(crate) at: Option<Instant>,
    /// A budget measured from a start that nobody has read the clock for yet.
    pub(crate) lazy: Option<Duration>,
    /// Set when a lazy budget was pinned during the current poll, to that "now".
    pub(crate) pinned_at: Option<Instant>,
}

thread_local! {
    static SCOPE: Cell<Scope> = const { Cell::new(Scope::NONE) };
}

impl Scope {
    pub(crate) const NONE: Scope = Scope {
        at: None,
        lazy: None,
        pinned_at: None,
    };

    #[inline]
    pub(crate) fn get() -> Scope {
        SCOPE.with(Cell::get)
    }

    #[inline]
    pub(crate) fn set(self) {
        SCOPE.with(|s| s.set(self));
    }

    /// This scope narrowed by an absolute deadline.
    #[inline]
    pub(crate) fn with_at(self, at: Instant) -> Scope {
        Scope {
            at: Some(self.at.map_or(at, |a| a.min(at))),
            lazy: self.lazy,
            pinned_at: None,
        }
    }

    /// This scope narrowed by a budget from a start not yet read.
    #[inline]
    pub(crate) fn with_lazy(self, budget: Duration) -> Scope {
        Scope {
            at: self.at,
            lazy: Some(self.lazy.map_or(budget, |l| l.min(budget))),
            pinned_at: None,
        }
    }

    /// Pins the lazy budget to `now`.
    #[inline]
    pub(crate) fn pin(self, now: Instant) -> Scope {
        match self.lazy {
            None => self,
            Some(l) => {
                let t = add(now, l);
                Scope {
                    at: Some(self.at.map_or(t, |a| a.min(t))),
                    lazy: None,
                    pinned_at: Some(now),
                }
            }
        }
    }

    /// The scope to restore after polling a child whose scope ended as `child`: if the
    /// child pinned the clock, this scope's lazy budget is pinned to the same instant.
    #[inline]
    pub(crate) fn after_child(self, child: Scope) -> Scope {
        match child.pinned_at {
            Some(now) if self.lazy.is_some() => self.pin(now),
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn nested_scopes_take_the_tighter_deadline() {
        let outer = Deadline::after(Duration::from_secs(5));
        let inner = Deadline::after(Duration::from_secs(7));
        let seen = outer
            .scope(inner.scope(async { Deadline::current() }))
            .await;
        assert_eq!(seen, Some(outer));
        assert_eq!(Deadline::current(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn lazy_budget_pins_to_first_reader() {
        let s = Scope::NONE.with_lazy(Duration::from_secs(2));
        s.set();
        tokio::time::advance(Duration::from_secs(1)).await;
        let now = Instant::now();
        let at = current_instant();
        assert_eq!(at, Some(now + Duration::from_secs(2)));
        let after = Scope::get();
        assert_eq!(after.pinned_at, Some(now));
        // A lazy parent adopts the child's pin.
        let parent = Scope::NONE.with_lazy(Duration::from_secs(4));
        let restored = parent.after_child(after);
        assert_eq!(restored.at, Some(now + Duration::from_secs(4)));
        Scope::NONE.set();
    }

    #[test]
    fn add_saturates() {
        let now = Instant::now();
        assert!(add(now, Duration::MAX) > now);
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_and_expiry() {
        let d = Deadline::after(Duration::from_secs(1));
        assert!(!d.is_expired());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(d.is_expired());
        assert_eq!(d.remaining(), Duration::ZERO);
    }
}
