//! The future of one call through a pipeline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::decide::{finished, Outcome};
use super::node::{Full, Holding, Node, Plain};
use super::stage::{missing, Env, Leaf, Step, Timers};
use super::typed::Standard;
use super::Depth;
use super::Shared;
use crate::classify::Classify;
use crate::clock::poll_sleep_until;
use crate::error::Error;

type N<'s, I, T, E, M> = Node<'s, I, T, E, M>;
type Chain1<'s, Fut, T, E, M> = N<'s, Leaf<Fut>, T, E, M>;
type Chain2<'s, Fut, T, E, M> = N<'s, Chain1<'s, Fut, T, E, M>, T, E, M>;
type Chain4<'s, Fut, T, E, M> = N<'s, N<'s, Chain2<'s, Fut, T, E, M>, T, E, M>, T, E, M>;
type Chain8<'s, Fut, T, E, M> =
    N<'s, N<'s, N<'s, N<'s, Chain4<'s, Fut, T, E, M>, T, E, M>, T, E, M>, T, E, M>, T, E, M>;

pin_project_lite::pin_project! {
    /// The nest of stages, as deep as the pipeline needs: a shallow pipeline pays for
    /// few stages. Up to four policies the stages live in the call future itself; a
    /// pipeline with more (up to [`MAX_POLICIES`](super::MAX_POLICIES)) boxes them, once
    /// per call, so that every call future stays small and cheap to move. A pipeline
    /// in the default order, with any of its stages left out, gets [`Standard`] stages,
    /// whose kinds are fixed by their types (a quarter fewer instructions per call than
    /// the generic nodes).
    #[project = ChainProj]
    enum Chain<'s, Fut, T, E> {
        One { #[pin] c: Chain1<'s, Fut, T, E, Plain> },
        Two { #[pin] c: Chain2<'s, Fut, T, E, Plain> },
        Four { #[pin] c: Chain4<'s, Fut, T, E, Plain> },
        HoldingFour { #[pin] c: Chain4<'s, Fut, T, E, Holding> },
        FullFour { #[pin] c: Chain4<'s, Fut, T, E, Full> },
        Eight { c: Pin<Box<Chain8<'s, Fut, T, E, Full>>> },
        Standard { #[pin] c: Standard<'s, Fut> },
    }
}

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
        #[pin]
        chain: Chain<'a, Fut, T, E>,
        // The one timer of the call, armed at the earliest instant a stage waits for.
        #[pin]
        sleep: Option<Sleep>,
        // When the call started on the pipeline's clock, plus one (zero: not timed): read
        // only when a listener will hear how long the call took.
        started: u64,
        // Whether the call was polled: the first poll checks the feature flag and counts
        // the call in the retry budget.
        begun: bool,
    }
}

impl<'a, F, Fut, C, T, E> Call<'a, F, Fut, C, T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    #[inline(always)]
    pub(crate) fn new(shared: &'a Shared, op: F, classifier: C) -> Self {
        Call {
            shared,
            op,
            classifier,
            // Built here, in place, rather than at the first poll: replacing a
            // placeholder would drop it first, and build the chain aside and copy it in.
            chain: Chain::for_pipeline::<F, C>(shared),
            sleep: None,
            started: 0,
            begun: false,
        }
    }
}

impl<'s, Fut, T, E> Chain<'s, Fut, T, E> {
    /// A chain as deep as the pipeline needs; one that can hedge if it has a hedge.
    #[inline(always)]
    fn for_pipeline<F, C>(shared: &'s Shared) -> Self
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
        E: fmt::Debug,
    {
        fn fresh<'s, S: Step<'s, F, C, T, E>, F, C, T, E>() -> S {
            S::fresh()
        }
        match shared.depth {
            Depth::One => Chain::One {
                c: fresh::<_, F, C, T, E>(),
            },
            Depth::Two => Chain::Two {
                c: fresh::<_, F, C, T, E>(),
            },
            Depth::Four => Chain::Four {
                c: fresh::<_, F, C, T, E>(),
            },
            Depth::HoldingFour => Chain::HoldingFour {
                c: fresh::<_, F, C, T, E>(),
            },
            Depth::FullFour => Chain::FullFour {
                c: fresh::<_, F, C, T, E>(),
            },
            Depth::Eight => Chain::Eight {
                c: Box::pin(fresh::<_, F, C, T, E>()),
            },
            Depth::Standard => Chain::Standard {
                c: fresh::<_, F, C, T, E>(),
            },
        }
    }
}

impl<F, Fut, C, T, E> fmt::Debug for Call<'_, F, Fut, C, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("pipeline", &self.shared.name)
            .field("started", &self.begun)
            .finish_non_exhaustive()
    }
}

impl<'a, F, Fut, C, T, E> Future for Call<'a, F, Fut, C, T, E>
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
        let shared: &'a Shared = this.shared;
        if !*this.begun {
            *this.begun = true;
            if let Some(refused) = shared.gate_closed() {
                return Poll::Ready(Err(Error::Rejected(refused)));
            }
            if let Some(b) = &shared.budget {
                b.deposit();
            }
            if shared.events.is_on() {
                *this.started = shared.clock.now_nanos().saturating_add(1);
            }
        }
        let mut fired = None;
        let mut out: Option<Outcome<T, E>> = None;
        loop {
            let mut env = Env {
                op: &mut *this.op,
                classifier: &*this.classifier,
                shared,
                timers: Timers {
                    fired,
                    earliest: None,
                },
                out: &mut out,
            };
            let polled = match this.chain.as_mut().project() {
                ChainProj::One { c } => poll_chain(c, cx, &mut env),
                ChainProj::Two { c } => poll_chain(c, cx, &mut env),
                ChainProj::Four { c } => poll_chain(c, cx, &mut env),
                ChainProj::HoldingFour { c } => poll_chain(c, cx, &mut env),
                ChainProj::FullFour { c } => poll_chain(c, cx, &mut env),
                ChainProj::Eight { c } => poll_chain(c.as_mut(), cx, &mut env),
                ChainProj::Standard { c } => poll_chain(c, cx, &mut env),
            };
            if polled.is_ready() {
                if *this.started != 0 {
                    timed(shared, &*this.classifier, out.as_ref(), *this.started);
                }
                return Poll::Ready(out.take().unwrap_or_else(|| missing(shared)));
            }
            let Some(at) = env.timers.earliest else {
                return Poll::Pending;
            };
            if poll_sleep_until(this.sleep.as_mut(), at, cx).is_pending() {
                return Poll::Pending;
            }
            // Everything due by now acts on the next pass.
            fired = Some(Instant::now().max(at));
        }
    }
}

/// Reports how long a call that started at `started` (plus one) took.
#[cold]
#[inline(never)]
fn timed<C, T, E>(shared: &Shared, classifier: &C, out: Option<&Outcome<T, E>>, started: u64)
where
    C: Classify<T, E>,
{
    let now = shared.clock.now_nanos().saturating_add(1);
    let took = Duration::from_nanos(now.saturating_sub(started));
    if let Some(out) = out {
        finished(shared, classifier, out, took);
    }
}

/// Polls one nest of stages: its stages are inlined into this function, one per depth,
/// and kept apart from the other depths so each stays small.
#[inline(never)]
fn poll_chain<'s, S, F, C, T, E>(
    chain: Pin<&mut S>,
    cx: &mut Context<'_>,
    env: &mut Env<'s, '_, F, C, T, E>,
) -> Poll<()>
where
    S: Step<'s, F, C, T, E>,
{
    chain.poll_step(cx, env, 0)
}
