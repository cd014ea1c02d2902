//! Timeouts that drop slow work and honour the request-wide deadline.
//!
//! A timeout limits the work it wraps to a duration; placed inside a retry it limits
//! each attempt, placed outside it limits the whole call. It also publishes its limit as
//! the [`Deadline`](crate::deadline::Deadline) for everything it polls, and clamps
//! itself to a deadline already in force (the seeds' cascading budget: 5 s at the edge,
//! 4 s, 3 s, 2 s further in). When time is up the inner future is dropped, which frees
//! whatever it held, and the caller gets [`RejectionKind::Timeout`] (its own limit) or
//! [`RejectionKind::DeadlineExceeded`] (the outer deadline was tighter) with the time it
//! ran.
//!
//! A future that is ready on its first poll costs two thread-local accesses and no clock
//! read: the clock is read only when the inner future first returns `Pending`, so the
//! limit is measured from that first poll.
//!
//! # Examples
//!
//! ```
//! use rampart::timeout::timeout;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let slow = tokio::time::sleep(Duration::from_secs(10));
//! let err = timeout(Duration::from_secs(2), slow).await.unwrap_err();
//! assert_eq!(err.after(), Duration::from_secs(2));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{Instant, Sleep};

use crate::clock::poll_sleep_until;
use crate::config::{positive, ConfigError};
use crate::deadline::{
    add, budget_nanos, enter_at, enter_lazy, leave_lazy, leave_pinned, restore, Leave, Saved,
};
use crate::error::RejectionKind;

/// Settings of a timeout.
///
/// # Defaults
///
/// | field | default |
/// |---|---|
/// | `duration` | none: required |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TimeoutConfig {
    /// How long the wrapped work may run.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
}

impl TimeoutConfig {
    /// A timeout of `duration`.
    pub const fn new(duration: Duration) -> Self {
        TimeoutConfig { duration }
    }

    /// Checks the values; a zero duration is an error naming `timeout.duration`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("duration", self.duration).map_err(|e| e.within("timeout"))
    }
}

/// The error of a standalone [`timeout`]: the time was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    after: Duration,
    kind: RejectionKind,
}

impl Elapsed {
    /// How long the work ran before it was dropped.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// [`RejectionKind::Timeout`] for the timeout's own limit,
    /// [`RejectionKind::DeadlineExceeded`] when an outer deadline was tighter.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} after {}",
            self.kind,
            humantime_serde::re::humantime::format_duration(self.after)
        )
    }
}

impl std::error::Error for Elapsed {}

/// A timeout's length, with the form the deadline scope takes it in worked out once
/// (a multiplication and two comparisons fewer at every poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    duration: Duration,
    nanos: u64,
}

impl Span {
    /// A limit of `duration`.
    #[inline]
    pub(crate) fn new(duration: Duration) -> Self {
        Span {
            duration,
            nanos: budget_nanos(duration),
        }
    }

    /// The length.
    #[inline(always)]
    pub(crate) const fn duration(self) -> Duration {
        self.duration
    }
}

/// The time limit of one run of a timeout: relative until it must be pinned to a clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    start: Option<Instant>,
    at: Option<Instant>,
    kind: RejectionKind,
}

impl Limit {
    pub(crate) const fn new() -> Self {
        Limit {
            start: None,
            at: None,
            kind: RejectionKind::Timeout,
        }
    }

    /// Publishes this limit for the poll that follows; returns what to restore.
    #[inline(always)]
    pub(crate) fn enter(&self, span: Span) -> Saved {
        match self.at {
            Some(at) => enter_at(at),
            None => enter_lazy(span.nanos),
        }
    }

    /// Restores the enclosing deadline after a poll; pins the limit to the clock if the
    /// inner future is pending or a nested reader already pinned it.
    #[inline(always)]
    pub(crate) fn exit(&mut self, duration: Duration, saved: Saved, pending: bool) {
        if self.at.is_some() {
            restore(&saved);
            return;
        }
        let now = match leave_lazy(&saved, pending) {
            Leave::Restored => return,
            Leave::PinnedAt(now) => now,
            Leave::NeedsPin => Instant::now(),
        };
        let outer = saved.outer_at(now);
        let own = add(now, duration);
        let (at, kind) = match outer {
            Some(p) if p < own => (p, RejectionKind::DeadlineExceeded),
            _ => (own, RejectionKind::Timeout),
        };
        self.start = Some(now);
        self.at = Some(at);
        self.kind = kind;
        leave_pinned(outer, now);
    }

    /// What the rejection says when the limit fires.
    pub(crate) fn elapsed(&self, duration: Duration) -> Elapsed {
        let after = match (self.start, self.at) {
            (Some(s), Some(a)) => a.saturating_duration_since(s),
            _ => duration,
        };
        Elapsed {
            after,
            kind: self.kind,
        }
    }

    /// The instant at which the limit fires, once pinned.
    pub(crate) fn at(&self) -> Option<Instant> {
        self.at
    }

    /// Polls the timer for this limit, arming it at the pinned instant if needed.
    fn poll_timer(
        &self,
        duration: Duration,
        sleep: Pin<&mut Option<Sleep>>,
        cx: &mut Context<'_>,
    ) -> Poll<Elapsed> {
        let Some(at) = self.at else {
            return Poll::Pending;
        };
        poll_sleep_until(sleep, at, cx).map(|()| self.elapsed(duration))
    }
}

pin_project_lite::pin_project! {
    /// A future limited in time; see [`timeout`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        duration: Duration,
        limit: Limit,
        #[pin]
        future: F,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Runs `future` for at most `duration` (and no longer than the deadline in force).
///
/// Like `tokio::time::timeout`, but the limit is visible to nested rampart timeouts and
/// retries as their deadline, it is clamped to an outer deadline, and a future that is
/// ready at once never touches the clock or the timer.
///
/// # Cancel safety
///
/// Dropping the returned future drops `future`.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        duration,
        limit: Limit::new(),
        future,
        sleep: None,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let d = *this.duration;
        let parent = this.limit.enter(Span::new(d));
        let res = this.future.poll(cx);
        this.limit.exit(d, parent, res.is_pending());
        if let Poll::Ready(v) = res {
            return Poll::Ready(Ok(v));
        }
        this.limit.poll_timer(d, this.sleep, cx).map(Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::Deadline;

    #[tokio::test(start_paused = true)]
    async fn ready_future_passes() {
        assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_future_is_cut_at_the_limit() {
        let start = Instant::now();
        let err = timeout(
            Duration::from_secs(2),
            tokio::time::sleep(Duration::from_secs(9)),
        )
        .await
        .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(err.after(), Duration::from_secs(2));
        assert_eq!(err.kind(), RejectionKind::Timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn inner_timeout_is_clamped_by_outer() {
        let start = Instant::now();
        let res = timeout(
            Duration::from_secs(3),
            timeout(
                Duration::from_secs(10),
                tokio::time::sleep(Duration::from_secs(60)),
            ),
        )
        .await;
        // The inner one fires first, at the outer deadline, and says so.
        let inner = res.expect("inner fires at the same instant and is polled first");
        let e = inner.unwrap_err();
        assert_eq!(e.kind(), RejectionKind::DeadlineExceeded);
        assert_eq!(e.after(), Duration::from_secs(3));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn nested_reader_sees_remaining_budget() {
        let seen = timeout(Duration::from_secs(4), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Deadline::current().map(|d| d.remaining())
        })
        .await
        .unwrap();
        assert_eq!(seen, Some(Duration::from_secs(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn reader_on_first_poll_pins_the_outer_start() {
        let start = Instant::now();
        let seen = timeout(Duration::from_secs(5), async {
            let d = Deadline::current();
            tokio::time::sleep(Duration::from_secs(1)).await;
            d
        })
        .await
        .unwrap();
        assert_eq!(
            seen.map(|d| d.instant()),
            Some(start + Duration::from_secs(5))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn outer_scope_clamps() {
        let start = Instant::now();
        let err = Deadline::after(Duration::from_secs(1))
            .scope(timeout(
                Duration::from_secs(5),
                std::future::pending::<()>(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::DeadlineExceeded);
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn config_validation_names_the_field() {
        let e = TimeoutConfig::new(Duration::ZERO).validate().unwrap_err();
        assert_eq!(e.field(), "timeout.duration");
    }
}
