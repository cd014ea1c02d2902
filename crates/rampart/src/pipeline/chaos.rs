//! Fault injection as a stage: decide the attempt's fault once, wait out an injected
//! latency on the call's timer, then fail or let the attempt run.
//!
//! A fault injection stage listed last (innermost) is not a node of its own: the leaf
//! runs it just before calling the operation, so a switched-off injector costs the
//! pipeline one relaxed load, not a stage. Listed anywhere else, it is a node.

use tokio::time::Instant;

use super::node::Flow;
use super::stage::Env;
use crate::chaos::FaultInjector;
use crate::deadline::add;
use crate::error::Error;
use std::task::Poll;

/// An attempt under fault injection: whether its fault is decided, whether it fails,
/// and the end of an injected latency being waited out.
pub(crate) struct ChaosRun {
    decided: bool,
    fail: bool,
    wake_at: Option<Instant>,
}

impl ChaosRun {
    #[inline]
    pub(crate) const fn new() -> Self {
        ChaosRun {
            decided: false,
            fail: false,
            wake_at: None,
        }
    }
}

/// Before the attempt runs: `Again` to run it, or the stage's answer (waiting, or an
/// injected failure in `env.out`). A switched-off injector costs one relaxed load here.
#[inline(always)]
pub(crate) fn chaos_before<F, C, T, E>(
    run: &mut ChaosRun,
    injector: &FaultInjector,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow {
    if !run.decided {
        run.decided = true;
        if !injector.is_enabled() {
            return Flow::Again;
        }
        return decide(run, injector, env);
    }
    if run.wake_at.is_none() && !run.fail {
        return Flow::Again;
    }
    act(run, injector, env)
}

/// Draws the attempt's fault and starts acting on it.
#[inline(never)]
fn decide<F, C, T, E>(
    run: &mut ChaosRun,
    injector: &FaultInjector,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow {
    let fault = injector.decide();
    run.fail = fault.is_fail();
    run.wake_at = fault.latency.map(|d| add(Instant::now(), d));
    act(run, injector, env)
}

/// Waits out the injected latency, then fails the attempt or lets it run.
#[inline(never)]
fn act<F, C, T, E>(
    run: &mut ChaosRun,
    injector: &FaultInjector,
    env: &mut Env<'_, '_, F, C, T, E>,
) -> Flow {
    if let Some(wake) = run.wake_at {
        if !env.timers.passed(wake) {
            env.timers.register(wake);
            return Flow::Return(Poll::Pending);
        }
        run.wake_at = None;
    }
    if run.fail {
        run.fail = false;
        *env.out = Some(Err(Error::Rejected(injector.rejection())));
        return Flow::Return(Poll::Ready(()));
    }
    Flow::Again
}
