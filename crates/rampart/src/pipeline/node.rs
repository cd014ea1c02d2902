//! The stages of a call future: each interprets the policy at its depth.
//!
//! A call future is a nest of [`Node`]s around a [`Leaf`] that runs the operation. A
//! node looks up the policy at its depth when first polled and behaves as that policy
//! (timeout, retry, hedge) or passes straight through when the pipeline has fewer
//! policies. The operation, the classifier, the shared state, the call's one timer and
//! the slot for the outcome travel down by reference in an [`Env`] at every poll, so no
//! stage stores a borrow: that is what lets a retry re-create its inner stage and a
//! hedge run several at once, with no box on the success path.
//!
//! Stages report only *that* they finished (`Poll<()>`); the outcome itself is written
//! once into [`Env::out`] and looked at there by reference, so it is never copied up
//! through the stages. Stages hold no timer of their own: each registers the instant it
//! waits for in [`Timers`], and the call arms one tokio `Sleep` at the earliest. When it
//! fires, the call polls the stages again with [`Timers::fired`] set, and every stage
//! whose instant has passed acts.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::decide::{conclude, decide, judge, Conclusion, Outcome, Times};
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
pub(crate) struct Env<'a, F, C, T, E> {
    pub(crate) op: &'a mut F,
    pub(crate) classifier: &'a C,
    pub(crate) shared: &'a Shared,
    pub(crate) timers: Timers,
    /// Where the finished attempt's outcome is; a stage that returns `Ready` leaves the
    /// outcome of its part of the call here.
    pub(crate) out: &'a mut Option<Outcome<T, E>>,
}

impl<F, C, T, E> Env<'_, F, C, T, E> {
    /// Takes the outcome a stage left (a fallback value if a stage broke that promise).
    fn take_out(&mut self) -> Outcome<T, E> {
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

/// One stage of a call future.
pub(crate) trait Step<F, C, T, E>: Sized {
    /// A stage that has not started.
    fn fresh() -> Self;

    /// Drives the stage; `depth` is the index of the policy it interprets. `Ready`
    /// means the outcome is in `env.out`.
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'_, F, C, T, E>,
        depth: usize,
    ) -> Poll<()>;
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

    #[inline(always)]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'_, F, C, T, E>,
        _depth: usize,
    ) -> Poll<()> {
        let mut this = self.project();
        if this.fut.is_none() {
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

/// The per-call state of the policy a node interprets. Nothing here needs dropping;
/// a hedge keeps its state in the node's [`Mode`] slot.
enum Run {
    Idle,
    Timeout(Limit),
    Retry(RetryRun),
    Hedge,
}

/// Whether a chain of stages can hedge. Chains of pipelines without a hedging policy
/// use [`Plain`], whose stages hold nothing that needs dropping, so dropping a call
/// costs nothing.
pub(crate) trait Mode {
    /// Where a hedging stage keeps its attempts.
    type Slot<I, T, E>;
    /// An empty slot.
    fn empty<I, T, E>() -> Self::Slot<I, T, E>;
    /// The hedge state in a slot, if this mode can hedge.
    fn hedge<I, T, E>(slot: &mut Self::Slot<I, T, E>) -> Option<&mut HedgeSlot<I, T, E>>;
}

/// A hedge's state: `None` until the first attempt needs company.
pub(crate) type HedgeSlot<I, T, E> = Option<Box<HedgeRun<I, T, E>>>;

/// Stages that cannot hedge.
pub(crate) enum Plain {}

/// Stages that can hedge.
pub(crate) enum Hedging {}

impl Mode for Plain {
    type Slot<I, T, E> = ();
    #[inline(always)]
    fn empty<I, T, E>() {}
    #[inline(always)]
    fn hedge<I, T, E>(_: &mut ()) -> Option<&mut HedgeSlot<I, T, E>> {
        None
    }
}

impl Mode for Hedging {
    type Slot<I, T, E> = HedgeSlot<I, T, E>;
    #[inline(always)]
    fn empty<I, T, E>() -> HedgeSlot<I, T, E> {
        None
    }
    #[inline(always)]
    fn hedge<I, T, E>(slot: &mut HedgeSlot<I, T, E>) -> Option<&mut HedgeSlot<I, T, E>> {
        Some(slot)
    }
}

struct RetryRun {
    attempts: u32,
    previous: Option<Duration>,
    first_start: Option<Instant>,
    wake_at: Option<Instant>,
}

pub(crate) struct HedgeRun<I, T, E> {
    launched: u32,
    primary_live: bool,
    start: Instant,
    next_at: Option<Instant>,
    extra: Vec<Pin<Box<I>>>,
    last: Option<Outcome<T, E>>,
}

pin_project_lite::pin_project! {
    /// A stage that behaves as the policy at its depth.
    pub(crate) struct Node<I, T, E, M: Mode> {
        #[pin]
        inner: I,
        run: Run,
        hedge: M::Slot<I, T, E>,
    }
}

/// What a node does after its policy looked at the state before or after a poll.
enum Flow {
    /// Poll the inner stage (again).
    Again,
    /// The node's answer for this poll.
    Return(Poll<()>),
}

impl<F, C, T, E, I, M> Step<F, C, T, E> for Node<I, T, E, M>
where
    I: Step<F, C, T, E>,
    M: Mode,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    #[inline]
    fn fresh() -> Self {
        Node {
            inner: I::fresh(),
            run: Run::Idle,
            hedge: M::empty(),
        }
    }

    // Always inlined, so a call's stages become one function. The inner stage is polled
    // from exactly one place, which keeps the inlined code linear in the stages.
    #[inline(always)]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'_, F, C, T, E>,
        depth: usize,
    ) -> Poll<()> {
        let shared = env.shared;
        let mut this = self.project();
        let policy = shared.policies.get(depth);
        if let (Run::Idle, Some(p)) = (&*this.run, policy) {
            *this.run = Run::start(p);
        }
        loop {
            let mut saved = None;
            match (&mut *this.run, policy) {
                (Run::Timeout(limit), Some(Policy::Timeout(d))) => saved = Some(limit.enter(*d)),
                (Run::Retry(run), Some(Policy::Retry(_))) => {
                    if let Flow::Return(p) = retry_before(run, env) {
                        return p;
                    }
                }
                (Run::Hedge, Some(Policy::Hedge(p))) => {
                    if let Some(Some(run)) = M::hedge(this.hedge) {
                        if !run.primary_live {
                            return hedge_rest(this.inner.as_mut(), run, p, cx, env, depth);
                        }
                    }
                }
                _ => {}
            }
            let res = this.inner.as_mut().poll_step(cx, env, depth + 1);
            let flow = match (&mut *this.run, policy) {
                (Run::Timeout(limit), Some(Policy::Timeout(d))) => {
                    if let Some(saved) = saved {
                        limit.exit(*d, saved, res.is_pending());
                    }
                    timeout_after(this.inner.as_mut(), limit, *d, res, env)
                }
                (Run::Retry(run), Some(Policy::Retry(p))) => {
                    retry_after(this.inner.as_mut(), run, p, res, env)
                }
                (Run::Hedge, Some(Policy::Hedge(p))) => match M::hedge(this.hedge) {
                    Some(slot) => hedge_after(this.inner.as_mut(), slot, p, res, cx, env, depth),
                    None => Flow::Return(res),
                },
                _ => Flow::Return(res),
            };
            if let Flow::Return(p) = flow {
                return p;
            }
        }
    }
}

impl Run {
    fn start(policy: &Policy) -> Self {
        match policy {
            Policy::Timeout(_) => Run::Timeout(Limit::new()),
            Policy::Retry(_) => Run::Retry(RetryRun {
                attempts: 1,
                previous: None,
                first_start: None,
                wake_at: None,
            }),
            Policy::Hedge(_) => Run::Hedge,
        }
    }
}

/// After polling under a timeout: the result, or the rejection once time is up.
#[inline]
fn timeout_after<F, C, T, E, I>(
    inner: Pin<&mut I>,
    limit: &Limit,
    d: Duration,
    res: Poll<()>,
    env: &mut Env<'_, F, C, T, E>,
) -> Flow
where
    I: Step<F, C, T, E>,
{
    if res.is_ready() {
        return Flow::Return(res);
    }
    let Some(at) = limit.at() else {
        return Flow::Return(Poll::Pending);
    };
    if !env.timers.passed(at) {
        env.timers.register(at);
        return Flow::Return(Poll::Pending);
    }
    timed_out(inner, limit, d, env);
    Flow::Return(Poll::Ready(()))
}

#[inline(never)]
fn timed_out<F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    limit: &Limit,
    d: Duration,
    env: &mut Env<'_, F, C, T, E>,
) where
    I: Step<F, C, T, E>,
{
    inner.set(I::fresh());
    let shared = env.shared;
    let elapsed = limit.elapsed(d);
    shared
        .events
        .emit(&shared.name, || EventKind::TimeoutElapsed {
            after: elapsed.after(),
            kind: elapsed.kind(),
        });
    *env.out = Some(Err(Error::Rejected(
        Rejection::new(shared.name.clone(), "timeout", elapsed.kind())
            .with_elapsed(elapsed.after()),
    )));
}

/// Before polling under a retry: wait out a backoff sleep.
#[inline]
fn retry_before<F, C, T, E>(run: &mut RetryRun, env: &mut Env<'_, F, C, T, E>) -> Flow {
    if let Some(wake) = run.wake_at {
        if !env.timers.passed(wake) {
            env.timers.register(wake);
            return Flow::Return(Poll::Pending);
        }
        run.wake_at = None;
        run.attempts += 1;
    }
    Flow::Again
}

/// After polling under a retry: return the outcome or schedule the next attempt.
#[inline]
fn retry_after<F, C, T, E, I>(
    inner: Pin<&mut I>,
    run: &mut RetryRun,
    policy: &RetryPolicy,
    res: Poll<()>,
    env: &mut Env<'_, F, C, T, E>,
) -> Flow
where
    I: Step<F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    if res.is_pending() {
        if run.first_start.is_none() && policy.config.max_elapsed.is_some() {
            run.first_start = Some(Instant::now());
        }
        return Flow::Return(Poll::Pending);
    }
    let success = match &*env.out {
        Some(Ok(t)) => {
            env.classifier.classify(Ok(t)).class == crate::classify::OutcomeClass::Success
        }
        _ => false,
    };
    if success {
        return Flow::Return(Poll::Ready(()));
    }
    retry_failed(inner, run, policy, env)
}

#[inline(never)]
fn retry_failed<F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    run: &mut RetryRun,
    policy: &RetryPolicy,
    env: &mut Env<'_, F, C, T, E>,
) -> Flow
where
    I: Step<F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let shared = env.shared;
    let Some(out) = env.out.as_ref() else {
        return Flow::Return(Poll::Ready(()));
    };
    let judged = judge(env.classifier, |k| policy.retries(k), out);
    let mut now = None;
    let next = decide(
        shared,
        policy,
        run.attempts,
        &mut run.previous,
        judged,
        || {
            let n = Instant::now();
            now = Some(n);
            let start = *run.first_start.get_or_insert(n);
            Times {
                elapsed: n.saturating_duration_since(start),
                remaining: current_instant().map(|at| at.saturating_duration_since(n)),
            }
        },
    );
    let delay = match conclude(shared, policy, run.attempts, next, out) {
        Conclusion::Retry(delay) => delay,
        Conclusion::Keep => return Flow::Return(Poll::Ready(())),
        Conclusion::Replace(other) => {
            *env.out = Some(other);
            return Flow::Return(Poll::Ready(()));
        }
    };
    *env.out = None;
    inner.set(I::fresh());
    if delay.is_zero() {
        run.attempts += 1;
    } else {
        run.wake_at = Some(add(now.unwrap_or_else(Instant::now), delay));
    }
    Flow::Again
}

/// After polling the first attempt under a hedge.
#[inline(never)]
fn hedge_after<F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    slot: &mut Option<Box<HedgeRun<I, T, E>>>,
    policy: &HedgePolicy,
    res: Poll<()>,
    cx: &mut Context<'_>,
    env: &mut Env<'_, F, C, T, E>,
    depth: usize,
) -> Flow
where
    I: Step<F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let run = match slot {
        Some(run) => {
            if res.is_ready() {
                run.primary_live = false;
                inner.set(I::fresh());
                if settle(policy, Some(run.start), &mut run.last, env) {
                    finish(inner, run);
                    return Flow::Return(Poll::Ready(()));
                }
                launch(run, policy, env.shared);
            }
            run
        }
        None => {
            // The common case: the first attempt answers before a hedge is needed.
            let mut last = None;
            let primary_live = res.is_pending();
            if !primary_live {
                inner.set(I::fresh());
                if settle(policy, None, &mut last, env) {
                    return Flow::Return(Poll::Ready(()));
                }
            }
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
                launch(&mut run, policy, env.shared);
            }
            slot.insert(run)
        }
    };
    Flow::Return(hedge_rest(inner, run, policy, cx, env, depth))
}

/// Drives the hedged attempts (and the timer for the next one); the first attempt, if
/// still running, was polled by the caller.
#[inline(never)]
fn hedge_rest<F, C, T, E, I>(
    inner: Pin<&mut I>,
    run: &mut HedgeRun<I, T, E>,
    policy: &HedgePolicy,
    cx: &mut Context<'_>,
    env: &mut Env<'_, F, C, T, E>,
    depth: usize,
) -> Poll<()>
where
    I: Step<F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let shared = env.shared;
    loop {
        let mut failed = false;
        let mut i = 0;
        while i < run.extra.len() {
            match poll_boxed(run.extra[i].as_mut(), cx, env, depth + 1) {
                Poll::Ready(()) => {
                    drop(run.extra.swap_remove(i));
                    if settle(policy, Some(run.start), &mut run.last, env) {
                        finish(inner, run);
                        return Poll::Ready(());
                    }
                    failed = true;
                }
                Poll::Pending => i += 1,
            }
        }
        if failed && launch(run, policy, shared) {
            continue;
        }
        if !run.primary_live && run.extra.is_empty() {
            *env.out = Some(run.last.take().unwrap_or_else(|| missing(shared)));
            return Poll::Ready(());
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

/// Polls a hedged attempt; out of line so the stages below are inlined once per type.
#[inline(never)]
fn poll_boxed<F, C, T, E, I>(
    b: Pin<&mut I>,
    cx: &mut Context<'_>,
    env: &mut Env<'_, F, C, T, E>,
    depth: usize,
) -> Poll<()>
where
    I: Step<F, C, T, E>,
{
    b.poll_step(cx, env, depth)
}

/// Looks at a finished hedged attempt's outcome in `env.out`: true when it ends the
/// call (left in `env.out`); otherwise it is moved to `last`.
fn settle<F, C, T, E>(
    policy: &HedgePolicy,
    start: Option<Instant>,
    last: &mut Option<Outcome<T, E>>,
    env: &mut Env<'_, F, C, T, E>,
) -> bool
where
    C: Classify<T, E>,
{
    let out = env.take_out();
    let judged = judge(env.classifier, |k| k == RejectionKind::Timeout, &out);
    if judged.success {
        if let Some(t) = &policy.tracker {
            t.record(start.map(|s| s.elapsed()).unwrap_or_default());
        }
    }
    if !judged.retryable {
        *env.out = Some(out);
        return true;
    }
    *last = Some(out);
    false
}

/// Drops every attempt still running.
fn finish<F, C, T, E, I>(mut inner: Pin<&mut I>, run: &mut HedgeRun<I, T, E>)
where
    I: Step<F, C, T, E>,
{
    inner.set(I::fresh());
    run.primary_live = false;
    run.extra.clear();
    run.last = None;
    run.next_at = None;
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
    shared
        .events
        .emit(&shared.name, || EventKind::HedgeStarted {
            attempt: run.launched,
            after,
        });
    run.extra.push(Box::pin(I::fresh()));
    run.next_at = (run.launched < policy.config.max_attempts).then(|| add(now, policy.delay()));
    true
}
