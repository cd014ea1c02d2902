//! Stages that admit a call before it runs and hear when it ends: a circuit breaker
//! hands out a permit and records the outcome on it; a bulkhead hands out a slot and
//! takes it back. What a stage holds lives in its [`Held`] slot, so dropping a call at
//! any point gives everything back.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::decide::record_outcome;
use super::node::Flow;
use super::stage::Env;
use super::Policy;
use crate::bulkhead::{Bulkhead, BulkheadPermit};
use crate::circuit::{BreakerPermit, CircuitBreaker};
use crate::classify::{Classify, OutcomeClass};
use crate::error::{Error, Rejection};

/// A bulkhead's queue, waited in: boxed, so that only calls that wait pay for it.
type Queued = Pin<Box<dyn Future<Output = Result<BulkheadPermit, Rejection>> + Send>>;

/// What an admitting stage holds while its call runs.
pub(crate) enum Held {
    /// A breaker's permit, to record the outcome on. Dropped unrecorded (cancellation),
    /// a half-open probe gives its slot back.
    Breaker(BreakerPermit),
    /// A bulkhead slot, given back when dropped.
    Bulkhead { _slot: BulkheadPermit },
    /// A place in a bulkhead's queue; dropping it leaves the queue.
    Queued(Queued),
}

/// Before the inner stage first runs: [`Flow::Again`] once the call is admitted. With
/// no slot to hold a permit in (a chain that holds nothing), the call passes.
#[inline]
pub(super) fn admit<F, C, T, E>(
    policy: &Policy,
    slot: Option<&mut Option<Held>>,
    cx: &mut Context<'_>,
    env: &mut Env<'_, F, C, T, E>,
) -> Flow {
    let Some(slot) = slot else {
        return Flow::Again;
    };
    let admitted = match policy {
        Policy::Breaker(b) => b.try_acquire().map(Held::Breaker),
        Policy::Bulkhead(b) => match slot.take() {
            Some(Held::Queued(q)) => return wait_in_queue(q, slot, cx, env),
            _ => match b.try_take_permit() {
                Some(p) => Ok(Held::Bulkhead { _slot: p }),
                None if b.queues() => return wait_in_queue(enqueue(b), slot, cx, env),
                None => Err(b.rejection()),
            },
        },
        _ => return Flow::Again,
    };
    match admitted {
        Ok(held) => {
            *slot = Some(held);
            Flow::Again
        }
        Err(rejection) => reject(rejection, env),
    }
}

/// The call has finished: the breaker hears how it went; a bulkhead slot is freed.
#[inline]
pub(super) fn release<F, C, T, E>(
    policy: &Policy,
    slot: Option<&mut Option<Held>>,
    env: &mut Env<'_, F, C, T, E>,
) where
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let held = slot.and_then(Option::take);
    if let (Policy::Breaker(b), Some(Held::Breaker(permit))) = (policy, held) {
        record(b, permit, env);
    }
}

fn record<F, C, T, E>(breaker: &CircuitBreaker, permit: BreakerPermit, env: &Env<'_, F, C, T, E>)
where
    C: Classify<T, E>,
    E: fmt::Debug,
{
    match &*env.out {
        Some(out) => record_outcome(breaker, permit, env.classifier, out),
        None => breaker.record(permit, OutcomeClass::Ignored),
    }
}

#[cold]
fn enqueue(bulkhead: &Bulkhead) -> Queued {
    let bulkhead = bulkhead.clone();
    Box::pin(async move { bulkhead.acquire().await })
}

fn wait_in_queue<F, C, T, E>(
    mut queued: Queued,
    slot: &mut Option<Held>,
    cx: &mut Context<'_>,
    env: &mut Env<'_, F, C, T, E>,
) -> Flow {
    match queued.as_mut().poll(cx) {
        Poll::Ready(Ok(permit)) => {
            *slot = Some(Held::Bulkhead { _slot: permit });
            Flow::Again
        }
        Poll::Ready(Err(rejection)) => reject(rejection, env),
        Poll::Pending => {
            *slot = Some(Held::Queued(queued));
            Flow::Return(Poll::Pending)
        }
    }
}

fn reject<F, C, T, E>(rejection: Rejection, env: &mut Env<'_, F, C, T, E>) -> Flow {
    *env.out = Some(Err(Error::Rejected(rejection)));
    Flow::Return(Poll::Ready(()))
}
