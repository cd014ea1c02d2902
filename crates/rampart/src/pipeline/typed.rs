//! Stages whose policy kind is fixed by their type, for the shape most pipelines have:
//! two admitting policies (a bulkhead and a breaker, say), a retry and a per-attempt
//! timeout, outermost first, which is the documented default order.
//!
//! A [`Node`](super::node::Node) learns at run time which policy it interprets, and
//! pays for it on every call: it starts its run state from the policy's tag and matches
//! on that state before and after each poll. A stage here knows its kind from its type,
//! so it holds only its own state, set up when the call is made, and polls its inner
//! stage without dispatching. The work of each policy is the code the nodes run.
//!
//! The two admitting stages expect a bulkhead and a breaker, in the default order, and
//! run those without dispatching either; any other admitting policy in their place
//! (a rate limiter, a shedder, ...) goes through the nodes' dispatch.
//!
//! Any of the four may be left out: the policies sit in the places of their stages
//! ([`standard_places`]) and a stage whose place is empty passes the call through, so
//! a retry around a timeout, or a lone bulkhead, runs here too.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::admit::{
    admit, admit_breaker, admit_bulkhead, release, release_breaker, release_bulkhead,
};
use super::admit::{Held, Slot};
use super::node::{retry_after, retry_before, timeout_after, Flow, RetryRun};
use super::stage::{Env, Leaf, Step};
use super::Policy;
use crate::classify::Classify;
use crate::timeout::Limit;

/// The stages of a pipeline of [`Depth::Standard`](super::Depth::Standard) shape.
pub(crate) type Standard<'s, Fut> =
    Admitting<'s, AsBulkhead, Admitting<'s, AsBreaker, Retrying<Timing<Leaf<Fut>>>>>;

/// What an [`Admitting`] stage expects its policy to be: a marker type whose constant
/// the stage's steps match on, which the compiler folds away.
pub(crate) trait Admission {
    /// The policy the stage runs without dispatching.
    const EXPECTS: Expected;
}

/// The admitting policies a typed stage can expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    Bulkhead,
    Breaker,
}

/// Expects a bulkhead.
pub(crate) enum AsBulkhead {}

impl Admission for AsBulkhead {
    const EXPECTS: Expected = Expected::Bulkhead;
}

/// Expects a circuit breaker.
pub(crate) enum AsBreaker {}

impl Admission for AsBreaker {
    const EXPECTS: Expected = Expected::Breaker;
}

/// Admits the call (see [`admit`]): directly when `policy` is the one `A` expects,
/// through the dispatch otherwise.
#[inline(always)]
fn admit_as<'s, A: Admission, F, C, T, E>(
    policy: &'s Policy,
    slot: &mut Option<Held<'s>>,
    cx: &mut Context<'_>,
    env: &mut Env<'s, '_, F, C, T, E>,
) -> Flow {
    match (A::EXPECTS, policy) {
        (Expected::Bulkhead, Policy::Bulkhead(b)) => admit_bulkhead(b, slot, cx, env),
        (Expected::Breaker, Policy::Breaker(b)) => admit_breaker(b, slot, env),
        (_, other) => admit(other, Some(slot), cx, env),
    }
}

/// Gives back what the call held (see [`release`]), as [`admit_as`] admitted it.
#[inline(always)]
fn release_as<A: Admission, F, C, T, E>(
    policy: &Policy,
    slot: &mut Option<Held<'_>>,
    env: &Env<'_, '_, F, C, T, E>,
) where
    C: Classify<T, E>,
    E: fmt::Debug,
{
    match (A::EXPECTS, policy) {
        (Expected::Bulkhead, Policy::Bulkhead(_)) => release_bulkhead(slot),
        (Expected::Breaker, Policy::Breaker(b)) => release_breaker(b, slot, env),
        (_, other) => release(other, Some(slot), env),
    }
}

/// Where [`Standard`] stages want `policies`, if they run them: the place of each
/// policy, or `None` when the list is not the default order with some stages left out.
///
/// The default order is up to two admitting policies, then a retry, then a timeout,
/// each of them optional (at least one present). Its stages live in places 0 to 3; a
/// lone admitting policy takes the place of the stage that runs it without
/// dispatching (a breaker the inner one, anything else the outer), and an empty place
/// passes the call through.
pub(crate) fn standard_places(policies: &[Policy]) -> Option<Vec<usize>> {
    let admitting = policies.iter().take_while(|p| admits(p)).count();
    let (front, rest) = policies.split_at(admitting);
    let tail = match rest {
        [] => &[][..],
        [Policy::Retry(_)] => &[2][..],
        [Policy::Timeout(_)] => &[3][..],
        [Policy::Retry(_), Policy::Timeout(_)] => &[2, 3][..],
        _ => return None,
    };
    let head = match front {
        [] if policies.is_empty() => return None,
        [] => &[][..],
        [Policy::Breaker(_)] => &[1][..],
        [_] => &[0][..],
        [_, _] => &[0, 1][..],
        _ => return None,
    };
    Some([head, tail].concat())
}

/// Whether `policy` admits a call before it runs (and may hold something while it
/// does): the policies an [`Admitting`] stage runs.
fn admits(policy: &Policy) -> bool {
    matches!(
        policy,
        Policy::Breaker(_)
            | Policy::Bulkhead(_)
            | Policy::RateLimit(_)
            | Policy::SlidingWindow(_)
            | Policy::Shed(_)
            | Policy::Adaptive(_)
    )
}

pin_project_lite::pin_project! {
    /// A breaker, bulkhead, rate limiter, shedder or adaptive limit; fastest when it is
    /// the one `A` expects.
    pub(crate) struct Admitting<'s, A, I> {
        #[pin]
        inner: I,
        admitted: bool,
        held: Slot<'s>,
        expects: PhantomData<A>,
    }
}

pin_project_lite::pin_project! {
    /// A retry.
    pub(crate) struct Retrying<I> {
        #[pin]
        inner: I,
        run: RetryRun,
    }
}

pin_project_lite::pin_project! {
    /// A timeout per attempt.
    pub(crate) struct Timing<I> {
        #[pin]
        inner: I,
        limit: Limit,
    }
}

impl<'s, F, C, T, E, A, I> Step<'s, F, C, T, E> for Admitting<'s, A, I>
where
    A: Admission,
    I: Step<'s, F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    #[inline]
    fn fresh() -> Self {
        Admitting {
            inner: I::fresh(),
            admitted: false,
            held: Slot::empty(),
            expects: PhantomData,
        }
    }

    #[inline(always)]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'s, '_, F, C, T, E>,
        depth: usize,
    ) -> Poll<()> {
        let this = self.project();
        let Some(policy) = env.shared.policies.get(depth) else {
            return this.inner.poll_step(cx, env, depth + 1);
        };
        if !*this.admitted {
            if let Flow::Return(p) = admit_as::<A, _, _, _, _>(policy, this.held.get(), cx, env) {
                return p;
            }
            *this.admitted = true;
        }
        let res = this.inner.poll_step(cx, env, depth + 1);
        if res.is_ready() {
            release_as::<A, _, _, _, _>(policy, this.held.get(), env);
        }
        res
    }
}

impl<'s, F, C, T, E, I> Step<'s, F, C, T, E> for Retrying<I>
where
    I: Step<'s, F, C, T, E>,
    C: Classify<T, E>,
    E: fmt::Debug,
{
    #[inline]
    fn fresh() -> Self {
        Retrying {
            inner: I::fresh(),
            run: RetryRun::new(),
        }
    }

    #[inline(always)]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'s, '_, F, C, T, E>,
        depth: usize,
    ) -> Poll<()> {
        let mut this = self.project();
        let Some(Policy::Retry(policy)) = env.shared.policies.get(depth) else {
            return this.inner.poll_step(cx, env, depth + 1);
        };
        loop {
            if let Flow::Return(p) = retry_before(this.run, env) {
                return p;
            }
            let res = this.inner.as_mut().poll_step(cx, env, depth + 1);
            if let Flow::Return(p) = retry_after(this.inner.as_mut(), this.run, policy, res, env) {
                return p;
            }
        }
    }
}

impl<'s, F, C, T, E, I> Step<'s, F, C, T, E> for Timing<I>
where
    I: Step<'s, F, C, T, E>,
{
    #[inline]
    fn fresh() -> Self {
        Timing {
            inner: I::fresh(),
            limit: Limit::new(),
        }
    }

    #[inline(always)]
    fn poll_step(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        env: &mut Env<'s, '_, F, C, T, E>,
        depth: usize,
    ) -> Poll<()> {
        let mut this = self.project();
        let Some(Policy::Timeout(d)) = env.shared.policies.get(depth) else {
            return this.inner.poll_step(cx, env, depth + 1);
        };
        let saved = this.limit.enter(*d);
        let res = this.inner.as_mut().poll_step(cx, env, depth + 1);
        timeout_after(this.inner, this.limit, *d, saved, res, env)
    }
}

#[cfg(test)]
mod tests {
    //! The typed stages must behave exactly as the generic ones: random scripts of
    //! calls (slow, failing, concurrent) go through each standard stack twice, once as
    //! built and once made to run on the generic stages, and must give the same
    //! outcomes, attempts, timings and events.

    use std::sync::Arc;
    use std::time::Duration;

    use proptest::prelude::*;
    use tokio::time::Instant;

    use crate::bulkhead::BulkheadConfig;
    use crate::circuit::BreakerConfig;
    use crate::event::Recorder;
    use crate::pipeline::{Depth, Pipeline, PipelineBuilder};
    use crate::rate_limit::RateLimitConfig;
    use crate::retry::{Jitter, RetryConfig};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One attempt of the operation: how long it takes and whether it succeeds.
    #[derive(Debug, Clone, Copy)]
    struct Attempt {
        ok: bool,
        delay_ms: u64,
    }

    /// Calls started together, then a pause.
    #[derive(Debug, Clone)]
    struct Round {
        /// Per call, its attempts in order (the last one repeats).
        calls: Vec<Vec<Attempt>>,
        pause_ms: u64,
    }

    /// The stacks the stages are checked on. 0 to 3: two admitting policies in front of
    /// the retry and the timeout, a bulkhead and a breaker (the stages' fast paths) or a
    /// rate limiter in the place of either (their dispatch). 4 to 7: the default order
    /// with stages left out, whose places stay empty: a lone breaker (the inner place)
    /// before the retry and timeout, the retry and timeout alone, a lone bulkhead (the
    /// outer place) before the timeout, and a rate limiter before the retry.
    const STACKS: u8 = 8;

    fn stack(which: u8) -> PipelineBuilder {
        let limiter = RateLimitConfig::per_second(20).with_burst(3);
        let breaker = || {
            BreakerConfig::count_window(4, 0.5)
                .with_min_calls(4)
                .with_open_for(ms(300))
        };
        let retry = || {
            RetryConfig::constant(ms(10))
                .with_max_attempts(3)
                .with_jitter(Jitter::None)
        };
        let builder = Pipeline::builder("p");
        match which {
            4 => {
                return builder
                    .circuit_breaker(breaker())
                    .retry(retry())
                    .timeout(ms(50))
            }
            5 => return builder.retry(retry()).timeout(ms(50)),
            6 => {
                return builder
                    .bulkhead(BulkheadConfig::new().with_max_concurrent(2))
                    .timeout(ms(50))
            }
            7 => return builder.rate_limit(limiter).retry(retry()),
            _ => {}
        }
        let builder = match which {
            0 | 3 => builder.bulkhead(BulkheadConfig::new().with_max_concurrent(2)),
            1 => builder.bulkhead(
                BulkheadConfig::new()
                    .with_max_concurrent(1)
                    .with_max_queue(1)
                    .with_max_wait(ms(40)),
            ),
            _ => builder.rate_limit(limiter),
        };
        let builder = match which {
            0 => builder.circuit_breaker(BreakerConfig::consecutive(3).with_open_for(ms(300))),
            3 => builder.rate_limit(limiter),
            _ => builder.circuit_breaker(breaker()),
        };
        builder.retry(retry()).timeout(ms(50))
    }

    /// Runs `rounds` on a fresh paused runtime through stack `which`, on the typed
    /// stages or made to run on the generic ones; says what every call and listener saw.
    fn run(which: u8, generic: bool, rounds: &[Round]) -> Vec<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let recorder = Recorder::new();
            let mut p = stack(which).listener(recorder.clone()).build().unwrap();
            assert_eq!(p.shared.depth, Depth::Standard);
            if generic {
                Arc::get_mut(&mut p.shared).unwrap().depth = Depth::HoldingFour;
            }
            let start = Instant::now();
            let mut seen = Vec::new();
            for (r, round) in rounds.iter().enumerate() {
                let mut calls = tokio::task::JoinSet::new();
                for (c, attempts) in round.calls.iter().enumerate() {
                    let (p, attempts) = (p.clone(), attempts.clone());
                    calls.spawn(async move {
                        let mut n = 0;
                        let res = p
                            .call(|| {
                                let a = attempts[n.min(attempts.len() - 1)];
                                n += 1;
                                async move {
                                    tokio::time::sleep(ms(a.delay_ms)).await;
                                    if a.ok {
                                        Ok(a.delay_ms)
                                    } else {
                                        Err("down")
                                    }
                                }
                            })
                            .await;
                        (
                            c,
                            format!("{res:?} after {n} attempts at {:?}", start.elapsed()),
                        )
                    });
                }
                let mut done = calls.join_all().await;
                done.sort_by_key(|(c, _)| *c);
                seen.extend(
                    done.into_iter()
                        .map(|(c, s)| format!("round {r} call {c}: {s}")),
                );
                tokio::time::sleep(ms(round.pause_ms)).await;
            }
            seen.extend(recorder.lines());
            seen
        })
    }

    fn attempt() -> impl Strategy<Value = Attempt> {
        (any::<bool>(), prop::sample::select(vec![0u64, 5, 30, 80]))
            .prop_map(|(ok, delay_ms)| Attempt { ok, delay_ms })
    }

    fn round() -> impl Strategy<Value = Round> {
        (
            prop::collection::vec(prop::collection::vec(attempt(), 1..4), 1..4),
            prop::sample::select(vec![0u64, 20, 100, 400]),
        )
            .prop_map(|(calls, pause_ms)| Round { calls, pause_ms })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn typed_stages_behave_as_the_generic_ones(
            which in 0..STACKS,
            rounds in prop::collection::vec(round(), 1..8),
        ) {
            let typed = run(which, false, &rounds);
            let generic = run(which, true, &rounds);
            prop_assert_eq!(typed, generic);
        }
    }

    #[test]
    fn the_default_order_gets_typed_stages_with_any_stage_left_out() {
        let layout = |b: PipelineBuilder| {
            let p = b.build().unwrap();
            let places: Vec<bool> = (0..4).map(|d| p.shared.policies.get(d).is_some()).collect();
            (p.shared.depth == Depth::Standard).then_some(places)
        };
        let bulkhead = BulkheadConfig::new;
        let breaker = || BreakerConfig::consecutive(5);
        let retry = RetryConfig::default;
        let p = || Pipeline::builder("p");
        let full = p()
            .bulkhead(bulkhead())
            .circuit_breaker(breaker())
            .retry(retry())
            .timeout(ms(1));
        assert_eq!(layout(full), Some(vec![true, true, true, true]));
        let limited = p()
            .rate_limit(RateLimitConfig::per_second(1))
            .bulkhead(bulkhead())
            .retry(retry())
            .timeout(ms(1));
        assert_eq!(layout(limited), Some(vec![true, true, true, true]));
        // A lone breaker takes the inner admitting place; any other lone admitting
        // policy the outer one.
        let lone_breaker = p().circuit_breaker(breaker()).retry(retry()).timeout(ms(1));
        assert_eq!(layout(lone_breaker), Some(vec![false, true, true, true]));
        let lone_bulkhead = p().bulkhead(bulkhead()).timeout(ms(1));
        assert_eq!(layout(lone_bulkhead), Some(vec![true, false, false, true]));
        let retry_timeout = p().retry(retry()).timeout(ms(1));
        assert_eq!(layout(retry_timeout), Some(vec![false, false, true, true]));
        assert_eq!(
            layout(p().timeout(ms(1))),
            Some(vec![false, false, false, true])
        );
        assert_eq!(
            layout(p().retry(retry())),
            Some(vec![false, false, true, false])
        );
        let admitting = p().bulkhead(bulkhead()).circuit_breaker(breaker());
        assert_eq!(layout(admitting), Some(vec![true, true, false, false]));
        // Not the default order: no policy, the retry and timeout the other way round,
        // an admitting policy after the retry, three admitting policies, one timeout too
        // many.
        assert_eq!(layout(p()), None);
        assert_eq!(layout(p().timeout(ms(1)).retry(retry())), None);
        assert_eq!(layout(p().retry(retry()).bulkhead(bulkhead())), None);
        let three = p()
            .bulkhead(bulkhead())
            .circuit_breaker(breaker())
            .rate_limit(RateLimitConfig::per_second(1));
        assert_eq!(layout(three), None);
        assert_eq!(layout(p().timeout(ms(1)).timeout(ms(2))), None);
    }
}
