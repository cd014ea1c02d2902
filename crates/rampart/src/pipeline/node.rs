//! The stages of a call future: each interprets the policy at its depth.
//!
//! A call future is a fixed nest of [`Node`]s around a [`Leaf`] that runs the
//! operation. A node looks up the policy at its depth when first polled and behaves as
//! that policy (timeout, retry, hedge) or passes straight through when the pipeline has
//! fewer policies. The operation, the classifier and the shared state travel down by
//! reference in an [`Env`] at every poll, so no stage stores a borrow: that is what lets
//! a retry re-create its inner stage and a hedge run several at once, with no box on
//! the success path.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::time::{Instant, Sleep};

use super::decide::{conclude, decide, judge, Outcome, Times};
use super::{Policy, Shared};
use crate::classify::Classify;
use crate::deadline::{add, current_instant};
use crate::error::{Error, Rejection, RejectionKind};
use crate::event::EventKind;
use crate::hedge::HedgePolicy;
use crate::retry::{DelaySequence, RetryPolicy};
use crate::timeout::Limit;

/// What every stage is handed at each poll.
pub(crate) struct Env<'a, F, C> {
    pub(crate) op: &'a mut F,
    pub(crate) classifier: &'a C,
    pub(crate) shared: &'a Shared,
}

/// One stage of a call future.
pub(crate) trait Step<F, C, T, E>: Sized {
    /// A stage that has not started.
    fn fresh() -> Self;

    /// Drives the stage; `depth` is the index of the policy it interprets.
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'_, F, C>,
        depth: usize,
    ) -> Poll<Outcome<T, E>>;
}

pin_project_lite::pin_project! {
    /// The innermost stage: one call of the operation.
    pub(crate) struct Leaf<Fut> {
        #[pin]
        fut: Option<Fut>,
    }
}

impl<F, C, T, E, Fut> Step<F, C, T, E> for Leaf<Fut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    #[inline]
    fn fresh() -> Self {
        Leaf { fut: None }
    }

    #[inline]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'_, F, C>,
        _depth: usize,
    ) -> Poll<Outcome<T, E>> {
        let mut this = self.project();
        if this.fut.is_none() {
            this.fut.set(Some((env.op)()));
        }
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let out = ready!(fut.poll(cx));
        this.fut.set(None);
        Poll::Ready(out.map_err(Error::Operation))
    }
}

/// The per-call state of the policy a node interprets.
enum Run {
    Idle,
    Pass,
    Timeout(Limit),
    Retry(RetryRun),
    Hedge(HedgeRun),
}

struct RetryRun {
    attempts: u32,
    seq: DelaySequence,
    first_start: Option<Instant>,
    sleeping: bool,
}

struct HedgeRun {
    launched: u32,
    primary_live: bool,
    start: Option<Instant>,
    stop_hedging: bool,
}

pin_project_lite::pin_project! {
    /// A stage that behaves as the policy at its depth.
    pub(crate) struct Node<I, T, E> {
        #[pin]
        inner: I,
        #[pin]
        sleep: Option<Sleep>,
        extra: Vec<Pin<Box<I>>>,
        run: Run,
        last: Option<Outcome<T, E>>,
    }
}

impl<F, C, T, E, I> Step<F, C, T, E> for Node<I, T, E>
where
    I: Step<F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    #[inline]
    fn fresh() -> Self {
        Node {
            inner: I::fresh(),
            sleep: None,
            extra: Vec::new(),
            run: Run::Idle,
            last: None,
        }
    }

    #[inline]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'_, F, C>,
        depth: usize,
    ) -> Poll<Outcome<T, E>> {
        let shared = env.shared;
        let mut this = self.project();
        if let Run::Idle = this.run {
            *this.run = match shared.policies.get(depth) {
                None => Run::Pass,
                Some(Policy::Timeout(d)) => Run::Timeout(Limit::new(*d)),
                Some(Policy::Retry(p)) => Run::Retry(RetryRun {
                    attempts: 1,
                    seq: p.sequence(),
                    first_start: None,
                    sleeping: false,
                }),
                Some(Policy::Hedge(_)) => Run::Hedge(HedgeRun {
                    launched: 1,
                    primary_live: true,
                    start: None,
                    stop_hedging: false,
                }),
            };
        }
        match (this.run, shared.policies.get(depth)) {
            (Run::Timeout(limit), _) => {
                let parent = limit.enter();
                let res = this.inner.as_mut().poll_step(cx, env, depth + 1);
                limit.exit(parent, res.is_pending());
                if res.is_ready() {
                    return res;
                }
                let elapsed = ready!(limit.poll_timer(this.sleep, cx));
                this.inner.set(I::fresh());
                shared
                    .events
                    .emit(&shared.name, || EventKind::TimeoutElapsed {
                        after: elapsed.after(),
                        kind: elapsed.kind(),
                    });
                Poll::Ready(Err(Error::Rejected(
                    Rejection::new(shared.name.clone(), "timeout", elapsed.kind())
                        .with_elapsed(elapsed.after()),
                )))
            }
            (Run::Retry(run), Some(Policy::Retry(policy))) => {
                poll_retry(this.inner, this.sleep, run, policy, cx, env, depth)
            }
            (Run::Hedge(run), Some(Policy::Hedge(policy))) => {
                let parts = HedgeParts {
                    inner: this.inner,
                    sleep: this.sleep,
                    extra: this.extra,
                    last: this.last,
                };
                poll_hedge(parts, run, policy, cx, env, depth)
            }
            _ => this.inner.poll_step(cx, env, depth + 1),
        }
    }
}

fn poll_retry<F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    mut sleep: Pin<&mut Option<Sleep>>,
    run: &mut RetryRun,
    policy: &RetryPolicy,
    cx: &mut Context<'_>,
    env: &mut Env<'_, F, C>,
    depth: usize,
) -> Poll<Outcome<T, E>>
where
    I: Step<F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let shared = env.shared;
    loop {
        if run.sleeping {
            if let Some(s) = sleep.as_mut().as_pin_mut() {
                ready!(s.poll(cx));
            }
            run.sleeping = false;
            run.attempts += 1;
        }
        let out = match inner.as_mut().poll_step(cx, env, depth + 1) {
            Poll::Ready(out) => out,
            Poll::Pending => {
                if run.first_start.is_none() && policy.config.max_elapsed.is_some() {
                    run.first_start = Some(Instant::now());
                }
                return Poll::Pending;
            }
        };
        let judged = judge(env.classifier, |k| policy.retries(k), out);
        let mut now = None;
        let next = decide(shared, policy, run.attempts, &mut run.seq, &judged, || {
            let n = Instant::now();
            now = Some(n);
            let start = *run.first_start.get_or_insert(n);
            Times {
                elapsed: n.saturating_duration_since(start),
                remaining: current_instant().map(|at| at.saturating_duration_since(n)),
            }
        });
        let delay = match conclude(shared, policy, run.attempts, next, judged.outcome) {
            Ok(delay) => delay,
            Err(outcome) => return Poll::Ready(outcome),
        };
        inner.set(I::fresh());
        if delay.is_zero() {
            run.attempts += 1;
            continue;
        }
        let wake = add(now.unwrap_or_else(Instant::now), delay);
        match sleep.as_mut().as_pin_mut() {
            Some(s) => s.reset(wake),
            None => sleep.set(Some(tokio::time::sleep_until(wake))),
        }
        run.sleeping = true;
    }
}

struct HedgeParts<'p, I, T, E> {
    inner: Pin<&'p mut I>,
    sleep: Pin<&'p mut Option<Sleep>>,
    extra: &'p mut Vec<Pin<Box<I>>>,
    last: &'p mut Option<Outcome<T, E>>,
}

fn poll_hedge<F, C, T, E, I>(
    mut p: HedgeParts<'_, I, T, E>,
    run: &mut HedgeRun,
    policy: &HedgePolicy,
    cx: &mut Context<'_>,
    env: &mut Env<'_, F, C>,
    depth: usize,
) -> Poll<Outcome<T, E>>
where
    I: Step<F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let shared = env.shared;
    loop {
        let mut failed = false;
        if run.primary_live {
            if let Poll::Ready(out) = p.inner.as_mut().poll_step(cx, env, depth + 1) {
                run.primary_live = false;
                p.inner.set(I::fresh());
                match settle(env.classifier, policy, run, p.last, out) {
                    Some(done) => return Poll::Ready(finish::<I, T, E, F, C>(&mut p, done)),
                    None => failed = true,
                }
            }
        }
        let mut i = 0;
        while i < p.extra.len() {
            match p.extra[i].as_mut().poll_step(cx, env, depth + 1) {
                Poll::Ready(out) => {
                    drop(p.extra.swap_remove(i));
                    match settle(env.classifier, policy, run, p.last, out) {
                        Some(done) => return Poll::Ready(finish::<I, T, E, F, C>(&mut p, done)),
                        None => failed = true,
                    }
                }
                Poll::Pending => i += 1,
            }
        }
        if failed && launch(&mut p, run, policy, shared) {
            continue;
        }
        let live = usize::from(run.primary_live) + p.extra.len();
        if live == 0 {
            if let Some(out) = p.last.take() {
                return Poll::Ready(out);
            }
            // Every attempt ends in `last` or returns; this is not reached.
            return Poll::Ready(Err(Error::Rejected(Rejection::new(
                shared.name.clone(),
                "hedge",
                RejectionKind::Timeout,
            ))));
        }
        if run.launched >= policy.config.max_attempts || run.stop_hedging {
            return Poll::Pending;
        }
        let now_or_start = |run: &mut HedgeRun| *run.start.get_or_insert_with(Instant::now);
        if p.sleep.is_none() {
            let start = now_or_start(run);
            p.sleep
                .set(Some(tokio::time::sleep_until(add(start, policy.delay()))));
        }
        if let Some(s) = p.sleep.as_mut().as_pin_mut() {
            ready!(s.poll(cx));
        }
        if !launch(&mut p, run, policy, shared) {
            run.stop_hedging = true;
            return Poll::Pending;
        }
        let next = add(Instant::now(), policy.delay());
        if let Some(s) = p.sleep.as_mut().as_pin_mut() {
            s.reset(next);
        }
    }
}

/// Records a finished hedged attempt: `Some` when it ends the call.
fn settle<C, T, E>(
    classifier: &C,
    policy: &HedgePolicy,
    run: &HedgeRun,
    last: &mut Option<Outcome<T, E>>,
    out: Outcome<T, E>,
) -> Option<Outcome<T, E>>
where
    C: Classify<T, E>,
{
    let judged = judge(classifier, |k| k == RejectionKind::Timeout, out);
    if judged.success {
        if let Some(t) = &policy.tracker {
            let latency = run.start.map(|s| s.elapsed()).unwrap_or_default();
            t.record(latency);
        }
    }
    if !judged.retryable {
        return Some(judged.outcome);
    }
    *last = Some(judged.outcome);
    None
}

/// Drops every attempt still running and returns the winner.
fn finish<I, T, E, F, C>(p: &mut HedgeParts<'_, I, T, E>, done: Outcome<T, E>) -> Outcome<T, E>
where
    I: Step<F, C, T, E>,
{
    p.inner.set(I::fresh());
    p.extra.clear();
    *p.last = None;
    done
}

/// Starts another hedged attempt if attempts and the budget allow.
fn launch<I, T, E, F, C>(
    p: &mut HedgeParts<'_, I, T, E>,
    run: &mut HedgeRun,
    policy: &HedgePolicy,
    shared: &Shared,
) -> bool
where
    I: Step<F, C, T, E>,
{
    if run.launched >= policy.config.max_attempts {
        return false;
    }
    if policy.config.use_budget {
        if let Some(b) = &shared.budget {
            if !b.try_withdraw() {
                return false;
            }
        }
    }
    run.launched += 1;
    let after = run.start.map(|s| s.elapsed()).unwrap_or_default();
    shared
        .events
        .emit(&shared.name, || EventKind::HedgeStarted {
            attempt: run.launched,
            after,
        });
    p.extra.push(Box::pin(I::fresh()));
    true
}
