//! A stage that interprets the policy at its depth: timeout, retry, or hedge.
//!
//! A [`Node`] looks up the policy at its depth when first polled and behaves as that
//! policy, or passes straight through when the pipeline has fewer policies. Its poll is
//! always inlined and polls the inner stage from exactly one place, so a call's stages
//! compile into one function whose size is linear in their number.
//!
//! Pipelines in the default order (any of its stages left out) run on the typed stages
//! of [`typed`](super::typed) instead, which share this module's policy steps.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::admit::{admit, release, Held, Slot};
use super::chaos::{chaos_before, ChaosRun};
use super::decide::{conclude, decide, judge, retry_succeeded, Conclusion, Times};
use super::hedging::{hedge_after, hedge_rest, HedgeRun};
use super::stage::{Env, Step};
use super::Policy;
use crate::classify::{Classify, OutcomeClass};
use crate::deadline::{add, current_instant, Saved};
use crate::error::{Error, Rejection};
use crate::event::EventKind;
use crate::retry::RetryPolicy;
use crate::timeout::{Limit, Span};

/// The per-call state of the policy a node interprets. In a [`Plain`] chain nothing
/// here needs dropping; in a [`Holding`] chain the admission variant holds what does
/// (a breaker's permit, a bulkhead slot), and in a [`Full`] chain the hedge variant
/// too (hedged attempts). One variant at a time,
/// so a stage is as small in either mode.
// A plain tag, for the same reason as `Policy`'s (5 instructions per call).
#[repr(u8)]
enum Run<'s, M: Mode, I, T, E> {
    Idle,
    Timeout(Limit),
    Retry(RetryRun),
    Hedge(M::Hedge<I, T, E>),
    /// Fault injection: what was decided for this attempt, once decided.
    Chaos(ChaosRun),
    /// A breaker, bulkhead, rate limiter, shedder or adaptive limit: `admitted` once
    /// it let this call through; what it handed out is held until the call ends.
    Admit {
        admitted: bool,
        held: M::Held<'s>,
    },
}

/// Whether a chain of stages can hold state that needs dropping. Chains of pipelines
/// without a hedge, a breaker or a bulkhead use [`Plain`], whose stages hold nothing of
/// the kind, so dropping a call costs nothing.
pub(crate) trait Mode {
    /// Where a hedging stage keeps its attempts.
    type Hedge<I, T, E>;
    /// Where an admitting stage keeps what it holds, borrowed from the pipeline for
    /// `'s`.
    type Held<'s>;
    /// An empty hedge slot.
    fn no_hedge<I, T, E>() -> Self::Hedge<I, T, E>;
    /// An empty admission slot.
    fn no_held<'s>() -> Self::Held<'s>;
    /// The hedge state, if this mode has one.
    fn hedge<I, T, E>(slot: &mut Self::Hedge<I, T, E>) -> Option<&mut HedgeSlot<I, T, E>>;
    /// The admission slot, if this mode has one.
    fn held<'a, 's>(slot: &'a mut Self::Held<'s>) -> Option<&'a mut Option<Held<'s>>>;
}

/// A hedge's state: `None` until the first attempt needs company.
pub(crate) type HedgeSlot<I, T, E> = Option<Box<HedgeRun<I, T, E>>>;

/// Stages that hold nothing that needs dropping.
pub(crate) enum Plain {}

/// Stages that hold what a breaker, bulkhead, shedder or concurrency limit handed out,
/// and never hedge: their drop glue is only the admission slot's.
pub(crate) enum Holding {}

impl Mode for Holding {
    type Hedge<I, T, E> = ();
    type Held<'s> = Slot<'s>;
    #[inline(always)]
    fn no_hedge<I, T, E>() {}
    #[inline(always)]
    fn no_held<'s>() -> Self::Held<'s> {
        Slot::empty()
    }
    #[inline(always)]
    fn hedge<I, T, E>(_: &mut ()) -> Option<&mut HedgeSlot<I, T, E>> {
        None
    }
    #[inline(always)]
    fn held<'a, 's>(slot: &'a mut Self::Held<'s>) -> Option<&'a mut Option<Held<'s>>> {
        Some(slot.get())
    }
}

/// Stages that may hedge or hold what a breaker or bulkhead handed out.
pub(crate) enum Full {}

impl Mode for Plain {
    type Hedge<I, T, E> = ();
    type Held<'s> = ();
    #[inline(always)]
    fn no_hedge<I, T, E>() {}
    #[inline(always)]
    fn no_held<'s>() -> Self::Held<'s> {}
    #[inline(always)]
    fn hedge<I, T, E>(_: &mut ()) -> Option<&mut HedgeSlot<I, T, E>> {
        None
    }
    #[inline(always)]
    fn held<'a, 's>(_: &'a mut Self::Held<'s>) -> Option<&'a mut Option<Held<'s>>> {
        None
    }
}

impl Mode for Full {
    type Hedge<I, T, E> = HedgeSlot<I, T, E>;
    type Held<'s> = Slot<'s>;
    #[inline(always)]
    fn no_hedge<I, T, E>() -> HedgeSlot<I, T, E> {
        None
    }
    #[inline(always)]
    fn no_held<'s>() -> Self::Held<'s> {
        Slot::empty()
    }
    #[inline(always)]
    fn hedge<I, T, E>(slot: &mut HedgeSlot<I, T, E>) -> Option<&mut HedgeSlot<I, T, E>> {
        Some(slot)
    }
    #[inline(always)]
    fn held<'a, 's>(slot: &'a mut Self::Held<'s>) -> Option<&'a mut Option<Held<'s>>> {
        Some(slot.get())
    }
}

/// A retry's state in one call.
pub(super) struct RetryRun {
    attempts: u32,
    previous: Option<Duration>,
    first_start: Option<Instant>,
    wake_at: Option<Instant>,
}

impl RetryRun {
    /// Before the first attempt.
    #[inline(always)]
    pub(super) const fn new() -> Self {
        RetryRun {
            attempts: 1,
            previous: None,
            first_start: None,
            wake_at: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// A stage that behaves as the policy at its depth.
    pub(crate) struct Node<'s, I, T, E, M: Mode> {
        #[pin]
        inner: I,
        run: Run<'s, M, I, T, E>,
    }
}

/// What a node does after its policy looked at the state before or after a poll.
pub(crate) enum Flow {
    /// Poll the inner stage (again).
    Again,
    /// The node's answer for this poll.
    Return(Poll<()>),
}

impl<'s, F, C, T, E, I, M> Step<'s, F, C, T, E> for Node<'s, I, T, E, M>
where
    I: Step<'s, F, C, T, E>,
    M: Mode,
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

    // Always inlined, so a call's stages become one function. The inner stage is polled
    // from exactly one place, which keeps the inlined code linear in the stages.
    #[inline(always)]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'s, '_, F, C, T, E>,
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
            // Both matches look at the run state first (the policy started it) and at
            // the policy only where an arm needs it: 12 instructions per call of the
            // default pipeline fewer than matching the pair at once.
            match &mut *this.run {
                Run::Timeout(limit) => {
                    if let Some(Policy::Timeout(d)) = policy {
                        saved = Some(limit.enter(*d));
                    }
                }
                Run::Retry(run) => {
                    if let Flow::Return(p) = retry_before(run, env) {
                        return p;
                    }
                }
                Run::Chaos(run) => {
                    if let Some(Policy::Chaos(injector)) = policy {
                        if let Flow::Return(p) = chaos_before(run, injector, env) {
                            return p;
                        }
                    }
                }
                Run::Admit { admitted, held } if !*admitted => {
                    if let Some(p) = policy {
                        if let Flow::Return(p) = admit(p, M::held(held), cx, env) {
                            return p;
                        }
                        *admitted = true;
                    }
                }
                Run::Hedge(slot) => {
                    if let (Some(Some(run)), Some(Policy::Hedge(p))) = (M::hedge(slot), policy) {
                        if !run.primary_live {
                            return hedge_rest(this.inner.as_mut(), run, p, cx, env, depth);
                        }
                    }
                }
                _ => {}
            }
            let res = this.inner.as_mut().poll_step(cx, env, depth + 1);
            let flow = match &mut *this.run {
                // Matched in two steps, the policy and then its saved scope: as one
                // tuple, or with the span carried beside the scope, the optimiser
                // spends over an hour on a release build of the benchmark crate.
                Run::Timeout(limit) => match policy {
                    Some(Policy::Timeout(span)) => match saved {
                        Some(saved) => {
                            let inner = this.inner.as_mut();
                            Flow::Return(timeout_after(inner, limit, *span, saved, res, env))
                        }
                        None => Flow::Return(res),
                    },
                    _ => Flow::Return(res),
                },
                Run::Retry(run) => match policy {
                    Some(Policy::Retry(p)) => retry_after(this.inner.as_mut(), run, p, res, env),
                    _ => Flow::Return(res),
                },
                Run::Admit { held, .. } => {
                    if let (true, Some(p)) = (res.is_ready(), policy) {
                        release(p, M::held(held), env);
                    }
                    Flow::Return(res)
                }
                Run::Hedge(slot) => match (M::hedge(slot), policy) {
                    (Some(slot), Some(Policy::Hedge(p))) => {
                        hedge_after(this.inner.as_mut(), slot, p, res, cx, env, depth)
                    }
                    _ => Flow::Return(res),
                },
                _ => Flow::Return(res),
            };
            if let Flow::Return(p) = flow {
                return p;
            }
        }
    }
}

impl<M: Mode, I, T, E> Run<'_, M, I, T, E> {
    fn start(policy: &Policy) -> Self {
        match policy {
            Policy::Timeout(_) => Run::Timeout(Limit::new()),
            Policy::Retry(_) => Run::Retry(RetryRun::new()),
            Policy::Hedge(_) => Run::Hedge(M::no_hedge()),
            Policy::Chaos(_) => Run::Chaos(ChaosRun::new()),
            Policy::Breaker(_)
            | Policy::Bulkhead(_)
            | Policy::RateLimit(_)
            | Policy::SlidingWindow(_)
            | Policy::Shed(_)
            | Policy::Adaptive(_) => Run::Admit {
                admitted: false,
                held: M::no_held(),
            },
        }
    }
}

/// After polling under a timeout entered with `saved`: leaves its deadline scope, and
/// gives the result, or the rejection once time is up.
#[inline(always)]
pub(super) fn timeout_after<'s, F, C, T, E, I>(
    inner: Pin<&mut I>,
    limit: &mut Limit,
    span: Span,
    saved: Saved,
    res: Poll<()>,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Poll<()>
where
    I: Step<'s, F, C, T, E>,
{
    let d = span.duration();
    limit.exit(d, saved, res.is_pending());
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
    timed_out(inner, limit, d, env);
    Poll::Ready(())
}

#[inline(never)]
fn timed_out<'s, F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    limit: &Limit,
    d: Duration,
    env: &mut Env<'_, '_, F, C, T, E>,
) where
    I: Step<'s, F, C, T, E>,
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
pub(super) fn retry_before<F, C, T, E>(
    run: &mut RetryRun,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow {
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
pub(super) fn retry_after<'s, F, C, T, E, I>(
    inner: Pin<&mut I>,
    run: &mut RetryRun,
    policy: &RetryPolicy,
    res: Poll<()>,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow
where
    I: Step<'s, F, C, T, E>,
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
        Some(Ok(t)) => env.classifier.classify(Ok(t)).class == OutcomeClass::Success,
        _ => false,
    };
    if success {
        if run.attempts > 1 {
            retry_succeeded(env.shared, policy, run.attempts);
        }
        return Flow::Return(Poll::Ready(()));
    }
    retry_failed(inner, run, policy, env)
}

#[inline(never)]
fn retry_failed<'s, F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    run: &mut RetryRun,
    policy: &RetryPolicy,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow
where
    I: Step<'s, F, C, T, E>,
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
