//! The stages of a call future: each interprets the policy at its depth.
//!
//! A call future is a fixed nest of [`Node`]s around a [`Leaf`] that runs the
//! operation. A node looks up the policy at its depth when first polled and behaves as
//! that policy (timeout, retry, hedge) or passes straight through when the pipeline has
//! fewer policies. The operation, the classifier, the shared state and the call's one
//! timer travel down by reference in an [`Env`] at every poll, so no stage stores a
//! borrow: that is what lets a retry re-create its inner stage and a hedge run several
//! at once, with no box on the success path.
//!
//! Stages hold no timer of their own: each registers the instant it waits for in
//! [`Timers`], and the call arms one tokio `Sleep` at the earliest. When it fires, the
//! call polls the stages again with [`Timers::fired`] set, and every stage whose instant
//! has passed acts. This keeps a node to a few words, so the call future stays small
//! and cheap to move.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::decide::{conclude, decide, judge, Outcome, Times};
use super::{Policy, Shared};
use crate::classify::Classify;
use crate::deadline::{add, current_instant};
use crate::error::{Error, Rejection, RejectionKind};
use crate::event::EventKind;
use crate::hedge::HedgePolicy;
use crate::retry::RetryPolicy;
use crate::timeout::Limit;

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
    fn passed(&self, at: Instant) -> bool {
        self.fired.is_some_and(|f| at <= f)
    }

    /// Asks to be polled again at `at`.
    #[inline]
    fn register(&mut self, at: Instant) {
        self.earliest = Some(self.earliest.map_or(at, |e| e.min(at)));
    }
}

/// What every stage is handed at each poll.
pub(crate) struct Env<'a, F, C> {
    pub(crate) op: &'a mut F,
    pub(crate) classifier: &'a C,
    pub(crate) shared: &'a Shared,
    pub(crate) timers: Timers,
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
enum Run<I, T, E> {
    Idle,
    Timeout(Limit),
    Retry(RetryRun),
    /// `None` until the first attempt needs company.
    Hedge(Option<Box<HedgeRun<I, T, E>>>),
}

struct RetryRun {
    attempts: u32,
    previous: Option<Duration>,
    first_start: Option<Instant>,
    wake_at: Option<Instant>,
}

struct HedgeRun<I, T, E> {
    launched: u32,
    primary_live: bool,
    start: Instant,
    next_at: Option<Instant>,
    extra: Vec<Pin<Box<I>>>,
    last: Option<Outcome<T, E>>,
}

pin_project_lite::pin_project! {
    /// A stage that behaves as the policy at its depth.
    pub(crate) struct Node<I, T, E> {
        #[pin]
        inner: I,
        run: Run<I, T, E>,
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
            run: Run::Idle,
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
        let Some(policy) = shared.policies.get(depth) else {
            // Deeper than the pipeline: pass straight through.
            return this.inner.poll_step(cx, env, depth + 1);
        };
        if let Run::Idle = this.run {
            *this.run = match policy {
                Policy::Timeout(_) => Run::Timeout(Limit::new()),
                Policy::Retry(_) => Run::Retry(RetryRun {
                    attempts: 1,
                    previous: None,
                    first_start: None,
                    wake_at: None,
                }),
                Policy::Hedge(_) => Run::Hedge(None),
            };
        }
        match (this.run, policy) {
            (Run::Timeout(limit), Policy::Timeout(d)) => {
                let parent = limit.enter(*d);
                let res = this.inner.as_mut().poll_step(cx, env, depth + 1);
                limit.exit(*d, parent, res.is_pending());
                if res.is_ready() {
                    return res;
                }
                let Some(at) = limit.at() else {
                    return Poll::Pending;
                };
                if !env.timers.passed(at) {
                    env.timers.register(at);
                    return Poll::Pending;
                }
                this.inner.set(I::fresh());
                let elapsed = limit.elapsed(*d);
                shared.events.emit(&shared.name, || EventKind::TimeoutElapsed {
                    after: elapsed.after(),
                    kind: elapsed.kind(),
                });
                Poll::Ready(Err(Error::Rejected(
                    Rejection::new(shared.name.clone(), "timeout", elapsed.kind())
                        .with_elapsed(elapsed.after()),
                )))
            }
            (Run::Retry(run), Policy::Retry(p)) => {
                poll_retry(this.inner, run, p, cx, env, depth)
            }
            (Run::Hedge(run), Policy::Hedge(p)) => {
                poll_hedge(this.inner, run, p, cx, env, depth)
            }
            _ => this.inner.poll_step(cx, env, depth + 1),
        }
    }
}

fn poll_retry<F, C, T, E, I>(
    mut inner: Pin<&mut I>,
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
        if let Some(wake) = run.wake_at {
            if !env.timers.passed(wake) {
                env.timers.register(wake);
                return Poll::Pending;
            }
            run.wake_at = None;
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
        if judged.success {
            return Poll::Ready(judged.outcome);
        }
        let mut now = None;
        let next = decide(shared, policy, run.attempts, &mut run.previous, &judged, || {
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
        run.wake_at = Some(add(now.unwrap_or_else(Instant::now), delay));
    }
}

#[inline(never)]
fn poll_hedge<F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    slot: &mut Option<Box<HedgeRun<I, T, E>>>,
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
    // The common case: the first attempt answers before anyone needs a hedge.
    if slot.is_none() {
        let mut last = None;
        let primary_live = match inner.as_mut().poll_step(cx, env, depth + 1) {
            Poll::Ready(out) => {
                inner.set(I::fresh());
                if let Some(done) = settle(env.classifier, policy, None, &mut last, out) {
                    return Poll::Ready(done);
                }
                false
            }
            Poll::Pending => true,
        };
        let now = Instant::now();
        let mut run = Box::new(HedgeRun {
            launched: 1,
            primary_live,
            start: now,
            next_at: Some(add(now, policy.delay())),
            extra: Vec::new(),
            last,
        });
        if !primary_live {
            launch(&mut run, policy, shared);
        }
        *slot = Some(run);
    }
    let Some(run) = slot.as_mut() else {
        return Poll::Pending;
    };
    loop {
        let mut failed = false;
        if run.primary_live {
            if let Poll::Ready(out) = inner.as_mut().poll_step(cx, env, depth + 1) {
                run.primary_live = false;
                inner.set(I::fresh());
                let start = Some(run.start);
                match settle(env.classifier, policy, start, &mut run.last, out) {
                    Some(done) => return Poll::Ready(finish(inner, run, done)),
                    None => failed = true,
                }
            }
        }
        let mut i = 0;
        while i < run.extra.len() {
            match run.extra[i].as_mut().poll_step(cx, env, depth + 1) {
                Poll::Ready(out) => {
                    drop(run.extra.swap_remove(i));
                    let start = Some(run.start);
                    match settle(env.classifier, policy, start, &mut run.last, out) {
                        Some(done) => return Poll::Ready(finish(inner, run, done)),
                        None => failed = true,
                    }
                }
                Poll::Pending => i += 1,
            }
        }
        if failed && launch(run, policy, shared) {
            continue;
        }
        if !run.primary_live && run.extra.is_empty() {
            if let Some(out) = run.last.take() {
                return Poll::Ready(out);
            }
            // Every attempt ends in `last` or returns; this is not reached.
            return Poll::Ready(Err(Error::Rejected(Rejection::new(
                shared.name.clone(),
                "hedge",
                RejectionKind::Timeout,
            ))));
        }
        let Some(at) = run.next_at else {
            return Poll::Pending;
        };
        if !env.timers.passed(at) {
            env.timers.register(at);
            return Poll::Pending;
        }
        if !launch(run, policy, shared) {
            run.next_at = None;
            return Poll::Pending;
        }
    }
}

/// Records a finished hedged attempt: `Some` when it ends the call.
fn settle<C, T, E>(
    classifier: &C,
    policy: &HedgePolicy,
    start: Option<Instant>,
    last: &mut Option<Outcome<T, E>>,
    out: Outcome<T, E>,
) -> Option<Outcome<T, E>>
where
    C: Classify<T, E>,
{
    let judged = judge(classifier, |k| k == RejectionKind::Timeout, out);
    if judged.success {
        if let Some(t) = &policy.tracker {
            t.record(start.map(|s| s.elapsed()).unwrap_or_default());
        }
    }
    if !judged.retryable {
        return Some(judged.outcome);
    }
    *last = Some(judged.outcome);
    None
}

/// Drops every attempt still running and returns the winner.
fn finish<F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    run: &mut HedgeRun<I, T, E>,
    done: Outcome<T, E>,
) -> Outcome<T, E>
where
    I: Step<F, C, T, E>,
{
    inner.set(I::fresh());
    run.primary_live = false;
    run.extra.clear();
    run.last = None;
    run.next_at = None;
    done
}

/// Starts another hedged attempt if attempts and the budget allow, and schedules the
/// one after it.
fn launch<F, C, T, E, I>(run: &mut HedgeRun<I, T, E>, policy: &HedgePolicy, shared: &Shared) -> bool
where
    I: Step<F, C, T, E>,
{
    if run.launched >= policy.config.max_attempts {
        run.next_at = None;
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
    let now = Instant::now();
    let after = now.saturating_duration_since(run.start);
    shared.events.emit(&shared.name, || EventKind::HedgeStarted {
        attempt: run.launched,
        after,
    });
    run.extra.push(Box::pin(I::fresh()));
    run.next_at = (run.launched < policy.config.max_attempts).then(|| add(now, policy.delay()));
    true
}
