//! One request's life: waiting for a worker, the service's own work, the calls to its
//! dependencies through the run's pipelines, and a user who gives up and tries again.

use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use rampart::{Error, RejectionKind};
use rand::rngs::SmallRng;

use super::listener::Happening;
use super::stats::Outcome;
use super::world::{DependencyFailed, World};
use crate::random;

/// Runs one request of kind `kind` (a user's `try_number`-th try, from 0), then the
/// user's next try if this one failed and the user has tries left.
pub(crate) async fn request(world: Rc<World>, kind: usize, id: u64, try_number: u32) {
    let mut rng = random::stream(world.scenario.seed, &[1, id, u64::from(try_number)]);
    let spec = &world.scenario.kinds[kind];
    let arrived = world.now();
    world.stats.borrow_mut().arrival(kind, try_number > 0);
    let period = world.period(arrived);
    let mut serving = pin!(serve(&world, kind, &mut rng));
    let outcome = match tokio::time::timeout(spec.patience, &mut serving).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Failed("user gave up"),
    };
    let ended = world.now();
    world
        .stats
        .borrow_mut()
        .outcome(kind, outcome, ended - arrived, ended, period);
    if let Outcome::Failed(reason) | Outcome::Shed(reason) = outcome {
        world
            .log
            .push(&spec.name, Happening::RequestFailed { reason });
    }
    let again =
        matches!(outcome, Outcome::Failed(_) | Outcome::Shed(_)) && try_number < spec.user_retries;
    if again {
        // The user's next try counts as in flight from now, so the run waits for it.
        world.in_flight.set(world.in_flight.get() + 1);
        let next = Rc::clone(&world);
        let think = spec.think;
        tokio::task::spawn_local(async move {
            tokio::time::sleep(think).await;
            request(next, kind, id, try_number + 1).await;
        });
    }
    // The server does not know the user left: the work goes on, holding its worker.
    if outcome == Outcome::Failed("user gave up") {
        serving.await;
    }
    world.in_flight.set(world.in_flight.get() - 1);
}

/// What the service does for one request; the answer it would give.
async fn serve(world: &World, kind: usize, rng: &mut SmallRng) -> Outcome {
    let spec = &world.scenario.kinds[kind];
    let _worker = match world.workers.try_acquire() {
        Ok(permit) => permit,
        Err(_) => {
            world.waiting.set(world.waiting.get() + 1);
            world.stats.borrow_mut().waiting(world.waiting.get());
            let waited = tokio::time::timeout(
                world.scenario.service.accept_timeout,
                world.workers.acquire(),
            )
            .await;
            world.waiting.set(world.waiting.get() - 1);
            match waited {
                Ok(Ok(permit)) => permit,
                _ => return Outcome::Failed("no worker free"),
            }
        }
    };
    world.stats.borrow_mut().busy(world.busy());
    if !spec.work.is_zero() {
        tokio::time::sleep(spec.work).await;
    }
    let mut degraded = false;
    for &dep in &spec.calls {
        match call(world, dep, rng).await {
            Ok(fresh) => degraded |= !fresh,
            Err(outcome) => return outcome,
        }
    }
    if degraded {
        Outcome::Degraded
    } else {
        Outcome::Served
    }
}

/// Calls dependency `dep` through its pipeline (and fallback): `Ok(true)` for a fresh
/// answer, `Ok(false)` for a fallback's, or the outcome that ends the request.
async fn call(world: &World, dep: usize, rng: &mut SmallRng) -> Result<bool, Outcome> {
    let link = &world.links[dep];
    let mut attempt = 0;
    let op = || {
        attempt += 1;
        attempt_call(world, dep, attempt, rng)
    };
    let result = match &link.fallback {
        Some(chain) => link
            .pipeline
            .call_with_fallback(op, chain)
            .await
            .map(|d| !d.is_degraded()),
        None => link.pipeline.call(op).await.map(|()| true),
    };
    result.map_err(|e| match e {
        Error::Rejected(r) => match r.kind() {
            RejectionKind::BulkheadFull => Outcome::Shed("bulkhead full"),
            RejectionKind::CircuitOpen => Outcome::Shed("circuit open"),
            RejectionKind::RateLimited => Outcome::Shed("rate limited"),
            RejectionKind::Shed => Outcome::Shed("shed"),
            RejectionKind::Timeout | RejectionKind::DeadlineExceeded => Outcome::Failed("timeout"),
            RejectionKind::RetryBudgetExhausted => Outcome::Failed("retry budget spent"),
            _ => Outcome::Failed("rejected"),
        },
        Error::Operation(_) => Outcome::Failed("dependency error"),
    })
}

/// One attempt at dependency `dep`: its duration and whether it fails are drawn now,
/// from the behaviour in force now.
pub(crate) fn attempt_call(
    world: &World,
    dep: usize,
    attempt: u32,
    rng: &mut SmallRng,
) -> impl std::future::Future<Output = Result<(), DependencyFailed>> + 'static {
    let now = world.now();
    let phase = world.scenario.dependencies[dep].phase_at(now);
    let latency = random::draw_latency(&phase.latency, rng);
    let fails = random::chance(phase.error_rate, rng);
    world.stats.borrow_mut().dependency_call(dep, attempt, now);
    if fails {
        world.stats.borrow_mut().dependency_failure(dep);
    }
    async move {
        if latency > Duration::ZERO {
            tokio::time::sleep(latency).await;
        }
        if fails {
            Err(DependencyFailed)
        } else {
            Ok(())
        }
    }
}
