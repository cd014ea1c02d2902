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
        let saved = enter_at(this.deadline.at);
        let res = this.future.poll(cx);
        restore(&saved);
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
    STATE.with(|s| {
        if s.lazy.get() != NO_BUDGET {
            pin(s, Instant::now());
        }
        s.at.get()
    })
}

/// "No relative budget" in [`State::lazy`].
const NO_BUDGET: u64 = u64::MAX;

/// The deadline visible to the code being polled now, one field per cell so that the
/// success path of a timeout touches only one word.
struct State {
    /// The absolute deadline, if one is known.
    at: Cell<Option<Instant>>,
    /// A budget in nanoseconds from a start that nobody has read the clock for yet.
    lazy: Cell<u64>,
    /// Counts the times a relative budget was pinned to the clock.
    pins: Cell<u64>,
    /// The instant of the latest pin.
    pinned_at: Cell<Option<Instant>>,
}

thread_local! {
    static STATE: State = const {
        State {
            at: Cell::new(None),
            lazy: Cell::new(NO_BUDGET),
            pins: Cell::new(0),
            pinned_at: Cell::new(None),
        }
    };
}

/// Pins the relative budget in force to `now`.
fn pin(s: &State, now: Instant) {
    let lazy = s.lazy.replace(NO_BUDGET);
    if lazy != NO_BUDGET {
        let t = add(now, Duration::from_nanos(lazy));
        s.at.set(Some(s.at.get().map_or(t, |a| a.min(t))));
    }
    s.pins.set(s.pins.get().wrapping_add(1));
    s.pinned_at.set(Some(now));
}

/// What a scope replaced, to put back after the poll.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Saved {
    at: Option<Instant>,
    lazy: u64,
    pins: u64,
}

impl Saved {
    /// The deadline the enclosing scopes had, pinned to `now` if they were relative.
    pub(crate) fn outer_at(&self, now: Instant) -> Option<Instant> {
        if self.lazy == NO_BUDGET {
            return self.at;
        }
        let t = add(now, Duration::from_nanos(self.lazy));
        Some(self.at.map_or(t, |a| a.min(t)))
    }
}

/// Narrows the deadline to `at` for the poll that follows.
#[inline(always)]
pub(crate) fn enter_at(at: Instant) -> Saved {
    STATE.with(|s| {
        let saved = Saved {
            at: s.at.get(),
            lazy: s.lazy.get(),
            pins: s.pins.get(),
        };
        s.at.set(Some(saved.at.map_or(at, |a| a.min(at))));
        saved
    })
}

/// A relative budget of `budget` as [`enter_lazy`] takes it, worked out once per limit
/// rather than at every poll.
#[inline]
pub(crate) fn budget_nanos(budget: Duration) -> u64 {
    crate::clock::duration_to_nanos(budget).min(NO_BUDGET - 1)
}

/// Narrows the relative budget to `b` nanoseconds (from [`budget_nanos`]) for the poll
/// that follows.
#[inline(always)]
pub(crate) fn enter_lazy(b: u64) -> Saved {
    STATE.with(|s| {
        let lazy = s.lazy.get();
        let saved = Saved {
            at: s.at.get(),
            lazy,
            pins: s.pins.get(),
        };
        s.lazy.set(lazy.min(b));
        saved
    })
}

/// The instant a relative budget was pinned at since `saved`, if one was.
#[inline(always)]
#[cfg(test)]
pub(crate) fn pinned_since(saved: &Saved) -> Option<Instant> {
    STATE.with(|s| pinned_since_in(s, saved))
}

/// Puts back what [`enter_at`] replaced, keeping any pin made meanwhile.
#[inline(always)]
pub(crate) fn restore(saved: &Saved) {
    STATE.with(|s| match pinned_since_in(s, saved) {
        Some(now) => {
            s.at.set(saved.outer_at(now));
            s.lazy.set(NO_BUDGET);
        }
        None => {
            s.at.set(saved.at);
            s.lazy.set(saved.lazy);
        }
    })
}

/// How a relative scope ends: see [`leave_lazy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leave {
    /// Nothing was pinned and the work is done: the budget is put back.
    Restored,
    /// A nested reader pinned the budget at this instant.
    PinnedAt(Instant),
    /// Nothing was pinned but the work goes on: the caller must pin it.
    NeedsPin,
}

/// Ends a relative scope entered with [`enter_lazy`] in one thread-local access.
#[inline(always)]
pub(crate) fn leave_lazy(saved: &Saved, pending: bool) -> Leave {
    STATE.with(|s| match pinned_since_in(s, saved) {
        Some(now) => Leave::PinnedAt(now),
        None if pending => Leave::NeedsPin,
        None => {
            s.lazy.set(saved.lazy);
            Leave::Restored
        }
    })
}

/// Leaves a relative scope whose limit was pinned at `now`: the enclosing scopes become
/// absolute, at the deadline they had (`outer`), and the pin is announced to them.
pub(crate) fn leave_pinned(outer: Option<Instant>, now: Instant) {
    STATE.with(|s| {
        s.at.set(outer);
        s.lazy.set(NO_BUDGET);
        s.pins.set(s.pins.get().wrapping_add(1));
        s.pinned_at.set(Some(now));
    })
}

#[inline(always)]
fn pinned_since_in(s: &State, saved: &Saved) -> Option<Instant> {
    if s.pins.get() == saved.pins {
        None
    } else {
        s.pinned_at.get()
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
        let outer = enter_lazy(budget_nanos(Duration::from_secs(4)));
        let inner = enter_lazy(budget_nanos(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_secs(1)).await;
        let now = Instant::now();
        assert_eq!(current_instant(), Some(now + Duration::from_secs(2)));
        assert_eq!(pinned_since(&inner), Some(now));
        // The enclosing budget is pinned at the same instant.
        assert_eq!(inner.outer_at(now), Some(now + Duration::from_secs(4)));
        restore(&inner);
        assert_eq!(current_instant(), Some(now + Duration::from_secs(4)));
        restore(&outer);
        assert_eq!(current_instant(), None);
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
