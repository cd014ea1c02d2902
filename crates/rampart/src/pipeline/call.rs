//! The future of one call through a pipeline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use super::node::{Env, Leaf, Node, Step, Timers};
use super::Shared;
use crate::classify::Classify;
use crate::error::Error;

/// The nest of stages, one per possible policy (see [`MAX_POLICIES`](super::MAX_POLICIES)).
type Chain<Fut, T, E> = Node<
    Node<Node<Node<Node<Node<Node<Node<Leaf<Fut>, T, E>, T, E>, T, E>, T, E>, T, E>, T, E>, T, E>,
    T,
    E,
>;

pin_project_lite::pin_project! {
    /// The future returned by [`Pipeline::call`](super::Pipeline::call).
    ///
    /// It owns the operation and runs every attempt in place: polling it drives the
    /// policies; dropping it drops every attempt in flight and starts no other.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F, Fut, C, T, E> {
        shared: &'a Shared,
        op: F,
        classifier: C,
        started: bool,
        #[pin]
        chain: Chain<Fut, T, E>,
        // The one timer of the call, armed at the earliest instant a stage waits for.
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<'a, F, Fut, C, T, E> Call<'a, F, Fut, C, T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    #[inline]
    pub(crate) fn new(shared: &'a Shared, op: F, classifier: C) -> Self {
        Call {
            shared,
            op,
            classifier,
            started: false,
            chain: <Chain<Fut, T, E> as Step<F, C, T, E>>::fresh(),
            sleep: None,
        }
    }
}

impl<F, Fut, C, T, E> fmt::Debug for Call<'_, F, Fut, C, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("pipeline", &self.shared.name)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl<F, Fut, C, T, E> Future for Call<'_, F, Fut, C, T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let shared: &Shared = this.shared;
        if !*this.started {
            *this.started = true;
            if let Some(b) = &shared.budget {
                b.deposit();
            }
        }
        let mut fired = None;
        loop {
            let mut env = Env {
                op: &mut *this.op,
                classifier: &*this.classifier,
                shared,
                timers: Timers {
                    fired,
                    earliest: None,
                },
            };
            if let Poll::Ready(out) = this.chain.as_mut().poll_step(cx, &mut env, 0) {
                return Poll::Ready(out);
            }
            let Some(at) = env.timers.earliest else {
                return Poll::Pending;
            };
            match this.sleep.as_mut().as_pin_mut() {
                Some(s) if s.deadline() == at => {}
                Some(s) => s.reset(at),
                None => this.sleep.set(Some(tokio::time::sleep_until(at))),
            }
            let Some(sleep) = this.sleep.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if sleep.poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Everything due by now acts on the next pass.
            fired = Some(Instant::now().max(at));
        }
    }
}
