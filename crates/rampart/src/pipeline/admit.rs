//! Stages that admit a call before it runs and hear when it ends: a circuit breaker
//! hands out a permit and records the outcome on it; a bulkhead, a load shedder and an
//! adaptive concurrency limit hand out a slot and take it back (the adaptive limit
//! with the call's latency); a rate limiter only admits. What a stage holds lives in
//! its [`Held`] slot, so dropping a call at any point gives everything back.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::decide::{record_outcome, Outcome};
use super::node::Flow;
use super::stage::Env;
use super::Policy;
use crate::adaptive::AdaptivePermit;
use crate::bulkhead::{Bulkhead, BulkheadPermit, BulkheadPermitRef};
use crate::circuit::{BreakerPermit, CircuitBreaker};
use crate::classify::{Classify, OutcomeClass};
use crate::error::{Error, Rejection, RejectionKind};
use crate::shed::{current_priority, Priority, ShedPermit};

/// A bulkhead's queue, waited in: boxed, so that only calls that wait pay for it.
type Queued = Pin<Box<dyn Future<Output = Result<BulkheadPermit, Rejection>> + Send>>;

/// What an admitting stage holds while its call runs, borrowing from the pipeline
/// for `'s` where it can.
// A plain tag, for the same reason as `Policy`'s (10 instructions per call).
#[repr(u8)]
pub(crate) enum Held<'s> {
    /// A breaker's permit, to record the outcome on. Dropped unrecorded (cancellation),
    /// a half-open probe gives its slot back.
    Breaker(BreakerPermit),
    /// A bulkhead slot, given back when dropped. It borrows the bulkhead rather than
    /// holding a reference count: a call that succeeds at once then does two atomic
    /// operations fewer (the count's increment and decrement).
    Bulkhead { _slot: BulkheadPermitRef<'s> },
    /// A bulkhead slot granted after waiting in its queue, given back when dropped.
    Waited { _slot: BulkheadPermit },
    /// A place in a bulkhead's queue; dropping it leaves the queue.
    Queued(Queued),
    /// A request counted in flight by a load shedder until dropped.
    Shed { _slot: ShedPermit<'static> },
    /// A slot of an adaptive limit, to report the call's latency on.
    Adaptive(AdaptivePermit<'static>),
}

/// An admitting stage's slot for what it holds.
///
/// Its drop looks inline whether anything is still held, and calls out to drop it
/// only then: a call that ran to the end gave everything back already, so its chain
/// drops with one compare per admitting stage instead of one call each (about 20
/// instructions fewer per call of the default pipeline).
pub(crate) struct Slot<'s>(ManuallyDrop<Option<Held<'s>>>);

impl<'s> Slot<'s> {
    /// A slot that holds nothing.
    #[inline(always)]
    pub(crate) const fn empty() -> Self {
        Slot(ManuallyDrop::new(None))
    }

    /// What the slot holds.
    #[inline(always)]
    pub(crate) fn get(&mut self) -> &mut Option<Held<'s>> {
        &mut self.0
    }
}

impl Drop for Slot<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.0.is_some() {
            drop_held(self.0.take());
        }
    }
}

/// Gives back what a slot held (a call dropped before it ended).
#[inline(never)]
fn drop_held(held: Option<Held<'_>>) {
    drop(held);
}

/// Before the inner stage first runs: [`Flow::Again`] once the call is admitted. With
/// no slot to hold a permit in (a chain that holds nothing), the call passes.
#[inline(always)]
pub(super) fn admit<'s, F, C, T, E>(
    policy: &'s Policy,
    slot: Option<&mut Option<Held<'s>>>,
    cx: &mut Context<'_>,
    env: &mut Env<'s, '_, F, C, T, E>,
) -> Flow {
    let checked = match policy {
        Policy::RateLimit(l) => Some(l.check()),
        Policy::SlidingWindow(l) => Some(l.check()),
        _ => None,
    };
    if let Some(checked) = checked {
        return match checked {
            Ok(()) => Flow::Again,
            Err(rejection) => reject(rejection, env),
        };
    }
    let Some(slot) = slot else {
        return Flow::Again;
    };
    let admitted = match policy {
        Policy::Breaker(b) => return admit_breaker(b, slot, env),
        Policy::Bulkhead(b) => return admit_bulkhead(b, slot, cx, env),
        Policy::Shed(s) => s
            .try_acquire_owned(current_priority().unwrap_or(Priority::Normal))
            .map(|p| Held::Shed { _slot: p }),
        Policy::Adaptive(a) => a.try_acquire_owned().map(Held::Adaptive),
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

/// [`admit`] for a breaker: its permit goes into `slot`.
#[inline(always)]
pub(super) fn admit_breaker<F, C, T, E>(
    breaker: &CircuitBreaker,
    slot: &mut Option<Held<'_>>,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow {
    // A closed breaker's permit is written straight into the slot; moved through the
    // `Result`, which is large for a `Rejection`, it was copied twice on the way.
    if let Some(permit) = breaker.try_acquire_closed() {
        *slot = Some(Held::Breaker(permit));
        return Flow::Again;
    }
    match breaker.try_acquire().map(Held::Breaker) {
        Ok(held) => {
            *slot = Some(held);
            Flow::Again
        }
        Err(rejection) => reject(rejection, env),
    }
}

/// [`admit`] for a bulkhead: a free slot goes into `slot`, or a place in its queue
/// while the call waits there.
#[inline(always)]
pub(super) fn admit_bulkhead<'s, F, C, T, E>(
    bulkhead: &'s Bulkhead,
    slot: &mut Option<Held<'s>>,
    cx: &mut Context<'_>,
    env: &mut Env<'s, '_, F, C, T, E>,
) -> Flow {
    // The slot is looked at rather than taken, and a free slot written straight into
    // it: moving it out and back, and the slot through a `Result`, cost a call that
    // does not queue about 20 instructions.
    if matches!(slot, Some(Held::Queued(_))) {
        return wait_in_queue(slot, cx, env);
    }
    match bulkhead.try_take_ref() {
        Some(p) => {
            *slot = Some(Held::Bulkhead { _slot: p });
            Flow::Again
        }
        None if bulkhead.queues() => {
            *slot = Some(Held::Queued(enqueue(bulkhead)));
            wait_in_queue(slot, cx, env)
        }
        None => reject(bulkhead.rejection(), env),
    }
}

/// The call has finished: the breaker hears how it went, an adaptive limit how long it
/// took; other slots are freed.
#[inline(always)]
pub(super) fn release<F, C, T, E>(
    policy: &Policy,
    slot: Option<&mut Option<Held<'_>>>,
    env: &Env<'_, '_, F, C, T, E>,
) where
    C: Classify<T, E>,
    E: fmt::Debug,
{
    let Some(slot) = slot else {
        return;
    };
    match policy {
        Policy::Breaker(b) => release_breaker(b, slot, env),
        Policy::Bulkhead(_) => release_bulkhead(slot),
        _ => match slot.take() {
            Some(Held::Adaptive(permit)) => sample(permit, env.classifier, env.out.as_ref()),
            held => drop(held),
        },
    }
}

/// [`release`] for a breaker: it hears how the call went.
#[inline(always)]
pub(super) fn release_breaker<F, C, T, E>(
    breaker: &CircuitBreaker,
    slot: &mut Option<Held<'_>>,
    env: &Env<'_, '_, F, C, T, E>,
) where
    C: Classify<T, E>,
    E: fmt::Debug,
{
    // The steady state, looked at where it lies: a closed breaker's permit and a
    // success. Such a permit gives nothing back when dropped, so the slot is emptied
    // without moving the permit out (moved, it was copied three times on its way to
    // the breaker: 30 instructions per call).
    if let (Some(Held::Breaker(permit)), Some(Ok(t))) = (&*slot, &*env.out) {
        if let Some(counted) = permit.counted() {
            let class = env.classifier.classify(Ok(t)).class;
            std::mem::forget(slot.take());
            breaker.record_counted(counted, class, None);
            return;
        }
    }
    match slot.take() {
        Some(Held::Breaker(permit)) => record(breaker, permit, env),
        held => drop(held),
    }
}

/// [`release`] for a bulkhead: its slot is given back.
#[inline(always)]
pub(super) fn release_bulkhead(slot: &mut Option<Held<'_>>) {
    // A slot taken at once is given back where it lies: the permit is forgotten and its
    // slot released through the bulkhead it borrows. Moved out of the slot to be
    // dropped, it was copied on the way (16 instructions per call).
    if let Some(Held::Bulkhead { _slot: permit }) = &*slot {
        let giver = permit.giver();
        std::mem::forget(slot.take());
        giver.give_back();
        return;
    }
    // A slot granted after a wait in the queue, or a place still in it.
    drop(slot.take());
}

/// Tells an adaptive limit how the call went: a success is a latency sample; a timeout
/// means the dependency is overloaded; an operation's failure or another policy's
/// rejection says nothing about its latency and is ignored.
pub(super) fn sample<C, T, E>(
    permit: AdaptivePermit<'_>,
    classifier: &C,
    out: Option<&Outcome<T, E>>,
) where
    C: Classify<T, E>,
{
    match out {
        Some(Ok(t)) if classifier.classify(Ok(t)).class == OutcomeClass::Success => {
            permit.success()
        }
        Some(Err(Error::Rejected(r)))
            if matches!(
                r.kind(),
                RejectionKind::Timeout | RejectionKind::DeadlineExceeded
            ) =>
        {
            permit.dropped()
        }
        _ => permit.ignore(),
    }
}

/// Inlined with [`record_outcome`] into the stage's release: out of line, the two
/// calls and the permit's copies cost a recorded success 26 instructions more.
#[inline(always)]
fn record<F, C, T, E>(
    breaker: &CircuitBreaker,
    permit: BreakerPermit,
    env: &Env<'_, '_, F, C, T, E>,
) where
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

/// Polls the place in a bulkhead's queue that `slot` holds (its only callers put one
/// there); the slot holds the granted permit once it is, and nothing once the queue
/// turned the call away.
#[cold]
fn wait_in_queue<F, C, T, E>(
    slot: &mut Option<Held<'_>>,
    cx: &mut Context<'_>,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow {
    let Some(Held::Queued(queued)) = slot else {
        return Flow::Again;
    };
    match queued.as_mut().poll(cx) {
        Poll::Ready(Ok(permit)) => {
            *slot = Some(Held::Waited { _slot: permit });
            Flow::Again
        }
        Poll::Ready(Err(rejection)) => {
            *slot = None;
            reject(rejection, env)
        }
        Poll::Pending => Flow::Return(Poll::Pending),
    }
}

#[cold]
fn reject<F, C, T, E>(rejection: Rejection, env: &mut Env<'_, '_, F, C, T, E>) -> Flow {
    *env.out = Some(Err(Error::Rejected(rejection)));
    Flow::Return(Poll::Ready(()))
}
