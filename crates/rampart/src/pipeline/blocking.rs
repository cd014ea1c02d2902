//! Running a blocking operation through the same policies, on the caller's thread.
//!
//! Time comes from the pipeline's [`Clock`](crate::clock::Clock): sleeps are
//! `Clock::sleep_blocking`, so a manual clock makes them instant in tests. The deadline
//! for nested blocking calls is a thread-local in that clock's nanoseconds.

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use super::admit::sample;
use super::decide::{
    conclude, decide, finished, judge, record_outcome, retry_succeeded, Conclusion, Outcome, Times,
};
use super::{Policy, Shared};
use crate::chaos::FaultInjector;
use crate::circuit::CircuitBreaker;
use crate::classify::Classify;
use crate::clock::duration_to_nanos;
use crate::error::{Error, Rejection, RejectionKind};
use crate::event::EventKind;
use crate::hedge::HedgePolicy;
use crate::retry::RetryPolicy;
use crate::shed::{current_priority, Priority};

thread_local! {
    /// The deadline of the enclosing blocking timeout, in clock nanoseconds.
    static DEADLINE: Cell<Option<u64>> = const { Cell::new(None) };
}

pub(crate) fn run<F, C, T, E>(shared: &Shared, mut op: F, classifier: &C) -> Result<T, Error<E>>
where
    F: FnMut() -> Result<T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    if let Some(refused) = shared.gate_closed() {
        return Err(Error::Rejected(refused));
    }
    if let Some(b) = &shared.budget {
        b.deposit();
    }
    if !shared.events.is_on() {
        return step(shared, 0, &mut op, classifier);
    }
    let start = shared.clock.now_nanos();
    let out = step(shared, 0, &mut op, classifier);
    let took = Duration::from_nanos(shared.clock.now_nanos().saturating_sub(start));
    finished(shared, classifier, &out, took);
    out
}

fn step<F, C, T, E>(shared: &Shared, depth: usize, op: &mut F, c: &C) -> Outcome<T, E>
where
    F: FnMut() -> Result<T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    // The next policy, skipping the places a pipeline of typed stages leaves empty.
    let next = shared.policies.next_from(depth);
    let depth = next.map_or(depth, |(at, _)| at);
    match next.map(|(_, policy)| policy) {
        None => match &shared.innermost_chaos {
            Some(injector) => chaos(shared, injector, || op().map_err(Error::Operation)),
            None => op().map_err(Error::Operation),
        },
        Some(Policy::Timeout(d)) => timeout(shared, depth, d.duration(), op, c),
        Some(Policy::Retry(p)) => retry(shared, depth, p, op, c),
        Some(Policy::Hedge(h)) => hedge(shared, depth, h, op, c),
        Some(Policy::Breaker(b)) => breaker(shared, depth, b, op, c),
        // A blocking call never waits in a bulkhead's queue: it takes a free slot or is
        // refused.
        Some(Policy::Bulkhead(b)) => {
            holding(b.try_acquire_ref(), || step(shared, depth + 1, op, c))
        }
        Some(Policy::RateLimit(l)) => holding(l.check(), || step(shared, depth + 1, op, c)),
        Some(Policy::SlidingWindow(l)) => holding(l.check(), || step(shared, depth + 1, op, c)),
        Some(Policy::Shed(s)) => holding(
            s.try_acquire(current_priority().unwrap_or(Priority::Normal)),
            || step(shared, depth + 1, op, c),
        ),
        Some(Policy::Chaos(injector)) => chaos(shared, injector, || step(shared, depth + 1, op, c)),
        Some(Policy::Adaptive(a)) => match a.try_acquire() {
            Ok(permit) => {
                let out = step(shared, depth + 1, op, c);
                sample(permit, c, Some(&out));
                out
            }
            Err(r) => Err(Error::Rejected(r)),
        },
    }
}

/// Waits out the attempt's injected latency, then fails it or runs `then`.
fn chaos<T, E>(
    shared: &Shared,
    injector: &FaultInjector,
    then: impl FnOnce() -> Outcome<T, E>,
) -> Outcome<T, E> {
    let fault = injector.decide();
    if let Some(d) = fault.latency {
        shared.clock.sleep_blocking(d);
    }
    if fault.is_fail() {
        return Err(Error::Rejected(injector.rejection()));
    }
    then()
}

/// Runs `then` while holding what a policy admitted the call with, or refuses.
fn holding<P, T, E>(
    admitted: Result<P, Rejection>,
    then: impl FnOnce() -> Outcome<T, E>,
) -> Outcome<T, E> {
    match admitted {
        Ok(_held) => then(),
        Err(r) => Err(Error::Rejected(r)),
    }
}

fn rejection<T, E>(shared: &Shared, policy: &'static str, kind: RejectionKind) -> Outcome<T, E> {
    Err(Error::Rejected(Rejection::new(
        shared.name.clone(),
        policy,
        kind,
    )))
}

fn timeout<F, C, T, E>(
    shared: &Shared,
    depth: usize,
    d: Duration,
    op: &mut F,
    c: &C,
) -> Outcome<T, E>
where
    F: FnMut() -> Result<T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let start = shared.clock.now_nanos();
    let outer = DEADLINE.with(Cell::get);
    if outer.is_some_and(|o| start >= o) {
        return rejection(shared, "timeout", RejectionKind::DeadlineExceeded);
    }
    let own = start.saturating_add(duration_to_nanos(d));
    let (at, kind) = match outer {
        Some(o) if o < own => (o, RejectionKind::DeadlineExceeded),
        _ => (own, RejectionKind::Timeout),
    };
    DEADLINE.with(|c| c.set(Some(at)));
    let out = step(shared, depth + 1, op, c);
    DEADLINE.with(|c| c.set(outer));
    let end = shared.clock.now_nanos();
    // An inner timeout that already cut the work speaks first, as in an async call.
    let cut = matches!(&out, Err(Error::Rejected(r))
        if matches!(r.kind(), RejectionKind::Timeout | RejectionKind::DeadlineExceeded));
    if end <= at || cut {
        return out;
    }
    let after = Duration::from_nanos(end.saturating_sub(start));
    shared
        .events
        .emit(&shared.name, || EventKind::TimeoutElapsed { after, kind });
    Err(Error::Rejected(
        Rejection::new(shared.name.clone(), "timeout", kind).with_elapsed(after),
    ))
}

fn retry<F, C, T, E>(
    shared: &Shared,
    depth: usize,
    p: &RetryPolicy,
    op: &mut F,
    c: &C,
) -> Outcome<T, E>
where
    F: FnMut() -> Result<T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let start = shared.clock.now_nanos();
    let mut previous = None;
    let mut attempts = 1;
    loop {
        let out = step(shared, depth + 1, op, c);
        let judged = judge(c, |k| p.retries(k), &out);
        if judged.success {
            if attempts > 1 {
                retry_succeeded(shared, p, attempts);
            }
            return out;
        }
        let next = decide(shared, p, attempts, &mut previous, judged, || {
            let now = shared.clock.now_nanos();
            Times {
                elapsed: Duration::from_nanos(now.saturating_sub(start)),
                remaining: DEADLINE
                    .with(Cell::get)
                    .map(|at| Duration::from_nanos(at.saturating_sub(now))),
            }
        });
        match conclude(shared, p, attempts, next, &out) {
            Conclusion::Retry(delay) => {
                drop(out);
                if !delay.is_zero() {
                    shared.clock.sleep_blocking(delay);
                }
                attempts += 1;
            }
            Conclusion::Keep => return out,
            Conclusion::Replace(other) => return other,
        }
    }
}

fn hedge<F, C, T, E>(
    shared: &Shared,
    depth: usize,
    h: &HedgePolicy,
    op: &mut F,
    c: &C,
) -> Outcome<T, E>
where
    F: FnMut() -> Result<T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let mut launched = 1;
    loop {
        let out = step(shared, depth + 1, op, c);
        let judged = judge(c, |k| k == RejectionKind::Timeout, &out);
        if !judged.retryable || launched >= h.config.max_attempts {
            return out;
        }
        let budget_ok =
            !h.config.use_budget || shared.budget.as_ref().is_none_or(|b| b.try_withdraw());
        if !budget_ok {
            return out;
        }
        launched += 1;
        shared
            .events
            .emit(&shared.name, || EventKind::HedgeStarted {
                attempt: launched,
                after: Duration::ZERO,
            });
    }
}

fn breaker<F, C, T, E>(
    shared: &Shared,
    depth: usize,
    b: &CircuitBreaker,
    op: &mut F,
    c: &C,
) -> Outcome<T, E>
where
    F: FnMut() -> Result<T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let permit = match b.try_acquire() {
        Ok(p) => p,
        Err(r) => return Err(Error::Rejected(r)),
    };
    let out = step(shared, depth + 1, op, c);
    record_outcome(b, permit, c, &out);
    out
}
