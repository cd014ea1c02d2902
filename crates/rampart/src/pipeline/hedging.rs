//! The hedging stage: extra attempts when the first is slow, first success wins.
//!
//! Only chains of pipelines that have a hedging policy carry hedge state (see
//! [`Mode`](super::node::Mode)); the extra attempts are boxed stages, allocated only
//! when a hedge actually starts.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::decide::{judge, Outcome};
use super::node::Flow;
use super::stage::{missing, Env, Step};
use super::Shared;
use crate::classify::Classify;
use crate::deadline::add;
use crate::error::RejectionKind;
use crate::event::EventKind;
use crate::hedge::HedgePolicy;

/// A hedge's attempts beyond the first, and what the failed ones left.
pub(crate) struct HedgeRun<I, T, E> {
    launched: u32,
    pub(crate) primary_live: bool,
    start: Instant,
    next_at: Option<Instant>,
    extra: Vec<Pin<Box<I>>>,
    last: Option<Outcome<T, E>>,
}

/// After polling the first attempt under a hedge.
#[inline(never)]
pub(crate) fn hedge_after<'s, F, C, T, E, I>(
    mut inner: Pin<&mut I>,
    slot: &mut Option<Box<HedgeRun<I, T, E>>>,
    policy: &HedgePolicy,
    res: Poll<()>,
    cx: &mut Context<'_>,
    env: &mut Env<'s, '_, F, C, T, E>,
    depth: usize,
) -> Flow
where
    I: Step<'s, F, C, T, E>,
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
pub(crate) fn hedge_rest<'s, F, C, T, E, I>(
    inner: Pin<&mut I>,
    run: &mut HedgeRun<I, T, E>,
    policy: &HedgePolicy,
    cx: &mut Context<'_>,
    env: &mut Env<'s, '_, F, C, T, E>,
    depth: usize,
) -> Poll<()>
where
    I: Step<'s, F, C, T, E>,
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
fn poll_boxed<'s, F, C, T, E, I>(
    b: Pin<&mut I>,
    cx: &mut Context<'_>,
    env: &mut Env<'s, '_, F, C, T, E>,
    depth: usize,
) -> Poll<()>
where
    I: Step<'s, F, C, T, E>,
{
    b.poll_step(cx, env, depth)
}

/// Looks at a finished hedged attempt's outcome in `env.out`: true when it ends the
/// call (left in `env.out`); otherwise it is moved to `last`.
fn settle<F, C, T, E>(
    policy: &HedgePolicy,
    start: Option<Instant>,
    last: &mut Option<Outcome<T, E>>,
    env: &mut Env<'_, '_, F, C, T, E>,
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
fn finish<'s, F, C, T, E, I>(mut inner: Pin<&mut I>, run: &mut HedgeRun<I, T, E>)
where
    I: Step<'s, F, C, T, E>,
{
    inner.set(I::fresh());
    run.primary_live = false;
    run.extra.clear();
    run.last = None;
    run.next_at = None;
}

/// Starts another hedged attempt if attempts and the budget allow, and schedules the
/// one after it.
fn launch<'s, F, C, T, E, I>(
    run: &mut HedgeRun<I, T, E>,
    policy: &HedgePolicy,
    shared: &Shared,
) -> bool
where
    I: Step<'s, F, C, T, E>,
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
