//! The run's background tasks: the pool sampler, and the workers that drain the queues
//! of `queue` fallbacks.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::listener::Happening;
use super::request;
use super::stats::TICK;
use super::world::{Backlog, World};
use crate::random;

/// Samples the worker pool every 100 ms, and logs when it saturates and recovers.
pub(super) async fn sample_pool(world: Rc<World>) {
    let workers = world.scenario.service.workers;
    let mut saturated = false;
    let mut interval = tokio::time::interval(TICK);
    while !world.stopped.get() {
        interval.tick().await;
        let (busy, waiting) = (world.busy(), world.waiting.get());
        world
            .stats
            .borrow_mut()
            .pool_sample(world.now(), busy, workers, waiting);
        let now_saturated = busy >= workers && waiting > 0;
        if now_saturated != saturated {
            saturated = now_saturated;
            let what = if saturated {
                Happening::PoolSaturated { waiting }
            } else {
                Happening::PoolRecovered
            };
            world.log.push("service", what);
        }
    }
}

/// A background worker of a queue fallback: takes queued items and calls the
/// dependency again through the same pipeline until each succeeds.
pub(super) async fn drain(world: Rc<World>, dep: usize, backlog: Arc<Backlog>, pause: Duration) {
    let mut rng = random::stream(world.scenario.seed, &[2, dep as u64]);
    while !world.stopped.get() {
        if !backlog.take() {
            tokio::time::sleep(pause).await;
            continue;
        }
        let mut attempt = 0;
        let result = world.links[dep]
            .pipeline
            .call(|| {
                attempt += 1;
                request::attempt_call(&world, dep, attempt, &mut rng)
            })
            .await;
        match result {
            Ok(()) => backlog.done(),
            Err(e) => {
                backlog.put_back();
                let wait = e
                    .rejection()
                    .and_then(rampart::Rejection::retry_after)
                    .unwrap_or(pause);
                tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
            }
        }
    }
}

/// Logs when a queue starts being processed and when it is empty again.
pub(super) async fn watch_backlog(world: Rc<World>, dep: usize, backlog: Arc<Backlog>) {
    use std::sync::atomic::Ordering::Relaxed;
    let name = world.scenario.dependencies[dep].name.clone();
    let mut draining = false;
    let mut interval = tokio::time::interval(TICK);
    while !world.stopped.get() {
        interval.tick().await;
        let processed = backlog.processed.load(Relaxed);
        let waiting = backlog.waiting();
        if !draining && processed > 0 && waiting > 0 {
            draining = true;
            world
                .log
                .push(&name, Happening::BacklogStarted { pending: waiting });
        } else if draining && backlog.unfinished() == 0 {
            draining = false;
            world
                .log
                .push(&name, Happening::BacklogDrained { processed });
        }
    }
}
