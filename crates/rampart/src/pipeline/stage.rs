//! The protocol every stage of a call follows, and the innermost stage.
//!
//! A call future is a nest of stages around a [`Leaf`] that runs the operation. The
//! operation, the classifier, the shared state, the call's one timer and the slot for
//! the outcome travel down by reference in an [`Env`] at every poll, so no stage stores
//! a borrow: that is what lets a retry re-create its inner stage and a hedge run
//! several at once, with no box on the success path.
//!
//! Stages report only *that* they finished (`Poll<()>`); the outcome itself is written
//! once into [`Env::out`] and looked at there by reference, so it is never copied up
//! through the stages. Stages hold no timer of their own: each registers the instant it
//! waits for in [`Timers`], and the call arms one tokio `Sleep` at the earliest. When it
//! fires, the call polls the stages again with [`Timers::fired`] set, and every stage
//! whose instant has passed acts.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::time::Instant;

use super::chaos::{chaos_before, ChaosRun};
use super::decide::Outcome;
use super::node::Flow;
use super::Shared;
use crate::error::{Error, Rejection, RejectionKind};

/// The instants the stages of one call wait for.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Timers {
    /// Set when the call's timer fired: every instant at or before it has passed.
    pub(crate) fired: Option<Instant>,
    /// The earliest instant a stage registered during this poll.
    pub(crate) earliest: Option<Instant>,
}

impl Timers {
    /// True when `at` has passed according to a fired timer.
    #[inline]
    pub(crate) fn passed(&self, at: Instant) -> bool {
        self.fired.is_some_and(|f| at <= f)
    }

    /// Asks to be polled again at `at`.
    #[inline]
    pub(crate) fn register(&mut self, at: Instant) {
        self.earliest = Some(self.earliest.map_or(at, |e| e.min(at)));
    }
}

/// What every stage is handed at each poll.
pub(crate) struct Env<'s, 'a, F, C, T, E> {
    pub(crate) op: &'a mut F,
    pub(crate) classifier: &'a C,
    /// Borrowed for as long as the call, so stages can hold what borrows from it.
    pub(crate) shared: &'s Shared,
    pub(crate) timers: Timers,
    /// Where the finished attempt's outcome is; a stage that returns `Ready` leaves the
    /// outcome of its part of the call here.
    pub(crate) out: &'a mut Option<Outcome<T, E>>,
}

impl<F, C, T, E> Env<'_, '_, F, C, T, E> {
    /// Takes the outcome a stage left (a fallback value if a stage broke that promise).
    pub(crate) fn take_out(&mut self) -> Outcome<T, E> {
        self.out.take().unwrap_or_else(|| missing(self.shared))
    }
}

/// The outcome of a stage that finished without leaving one (not expected to happen).
pub(crate) fn missing<T, E>(shared: &Shared) -> Outcome<T, E> {
    Err(Error::Rejected(Rejection::new(
        shared.name.clone(),
        "pipeline",
        RejectionKind::Timeout,
    )))
}

/// One stage of a call future, of a call that borrows its pipeline for `'s`.
pub(crate) trait Step<'s, F, C, T, E>: Sized {
    /// A stage that has not started.
    fn fresh() -> Self;

    /// Drives the stage; `depth` is the index of the policy it interprets. `Ready`
    /// means the outcome is in `env.out`.
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'s, '_, F, C, T, E>,
        depth: usize,
    ) -> Poll<()>;
}

pin_project_lite::pin_project! {
    /// The innermost stage: one call of the operation.
    pub(crate) struct Leaf<Fut> {
        #[pin]
        fut: Option<Fut>,
        // The innermost fault injection stage's state, when the pipeline has one.
        chaos: ChaosRun,
    }
}

impl<'s, F, C, T, E, Fut> Step<'s, F, C, T, E> for Leaf<Fut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    #[inline]
    fn fresh() -> Self {
        Leaf {
            fut: None,
            chaos: ChaosRun::new(),
        }
    }

    #[inline(always)]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'s, '_, F, C, T, E>,
        _depth: usize,
    ) -> Poll<()> {
        let mut this = self.project();
        if this.fut.is_none() {
            if let Some(injector) = &env.shared.innermost_chaos {
                if let Flow::Return(p) = chaos_before(this.chaos, injector, env) {
                    return p;
                }
            }
            this.fut.set(Some((env.op)()));
        }
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let out = ready!(fut.poll(cx));
        this.fut.set(None);
        *env.out = Some(out.map_err(Error::Operation));
        Poll::Ready(())
    }
}
