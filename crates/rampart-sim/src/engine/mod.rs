//! Runs one configuration of a scenario in virtual time.
//!
//! The run lives on a current-thread tokio runtime started with its clock paused: every
//! modelled delay (a dependency's answer, the service's own work, a user's patience) is
//! a tokio sleep, and when every task waits the runtime jumps its clock to the next
//! timer. The pipelines are rampart's own, built from the run's configuration; they take
//! their time from tokio, so their timeouts, backoffs and breakers live in the same
//! virtual time. Ten minutes of traffic take seconds.

mod background;
mod links;
mod listener;
mod request;
mod stats;
mod world;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use self::background::{drain, sample_pool, watch_backlog};
use self::listener::Log;
pub(crate) use self::listener::{Happening, Stamped};
pub(crate) use self::stats::{Stats, TICK};
use self::world::World;
use crate::random;
use crate::scenario::{Arrivals, FallbackKind, Scenario};

/// What one run leaves behind, for the report.
pub(crate) struct RunResult {
    pub(crate) stats: Stats,
    pub(crate) log: Vec<Stamped>,
    /// Per dependency: (queued, processed, not processed) of its queue fallback.
    pub(crate) backlogs: Vec<Option<(u64, u64, u64)>>,
    /// How long the run went on in virtual time.
    pub(crate) ended: Duration,
}

/// A run that could not start.
#[derive(Debug)]
pub(crate) struct StartError(pub(crate) String);

/// Runs configuration `run` of `scenario`; `progress` is told the virtual seconds done.
pub(crate) fn run(
    scenario: &Scenario,
    run: usize,
    progress: &dyn Fn(u64),
) -> Result<RunResult, StartError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| StartError(format!("cannot start the simulation's runtime: {e}")))?;
    let local = tokio::task::LocalSet::new();
    runtime.block_on(local.run_until(simulate(scenario.clone(), run, progress)))
}

/// Builds the world and drives it to the end.
async fn simulate(
    scenario: Scenario,
    run: usize,
    progress: &dyn Fn(u64),
) -> Result<RunResult, StartError> {
    let log = Log::new();
    let links = links::links(&scenario, run, &log)?;
    let world = Rc::new(World {
        workers: Semaphore::new(scenario.service.workers as usize),
        stats: RefCell::new(Stats::new(
            scenario.kinds.len(),
            scenario.dependencies.len(),
        )),
        in_flight: Cell::new(0),
        waiting: Cell::new(0),
        stopped: Cell::new(false),
        incident: scenario
            .incident()
            .unwrap_or((scenario.duration, scenario.duration)),
        links,
        log,
        scenario,
    });
    log_changes(&world);
    for (dep, link) in world.links.iter().enumerate() {
        if let (Some(backlog), Some((_, spec))) = (
            &link.backlog,
            world.scenario.runs[run]
                .fallbacks
                .iter()
                .find(|(d, _)| *d == dep),
        ) {
            if let FallbackKind::Queue { workers, pause } = spec.kind {
                for _ in 0..workers {
                    tokio::task::spawn_local(drain(
                        Rc::clone(&world),
                        dep,
                        Arc::clone(backlog),
                        pause,
                    ));
                }
                tokio::task::spawn_local(watch_backlog(
                    Rc::clone(&world),
                    dep,
                    Arc::clone(backlog),
                ));
            }
        }
    }
    tokio::task::spawn_local(sample_pool(Rc::clone(&world)));
    arrivals(&world, progress).await;
    // Traffic has stopped: let work in flight and the queues finish, within the grace.
    let end = world.scenario.duration + world.scenario.grace;
    loop {
        let idle = world.in_flight.get() == 0
            && world
                .links
                .iter()
                .all(|l| l.backlog.as_ref().is_none_or(|b| b.unfinished() == 0));
        if idle || world.now() >= end {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(world.now().as_secs());
    }
    world.stopped.set(true);
    let ended = world.now();
    let backlogs = world
        .links
        .iter()
        .map(|l| {
            l.backlog.as_ref().map(|b| {
                use std::sync::atomic::Ordering::Relaxed;
                (
                    b.queued.load(Relaxed),
                    b.processed.load(Relaxed),
                    b.unfinished(),
                )
            })
        })
        .collect();
    let log = world.log.take();
    let stats = std::mem::take(&mut *world.stats.borrow_mut());
    Ok(RunResult {
        stats,
        log,
        backlogs,
        ended,
    })
}

/// Puts the scenario's changes of behaviour on the timeline.
fn log_changes(world: &World) {
    for dep in &world.scenario.dependencies {
        for pair in dep.phases.windows(2) {
            let summary = crate::report::describe_change(&pair[0], &pair[1]);
            world
                .log
                .push_at(pair[1].from, &dep.name, Happening::Change { summary });
        }
    }
}

/// Sends the traffic: the burst at once, then arrivals at the rate until the end.
async fn arrivals(world: &Rc<World>, progress: &dyn Fn(u64)) {
    let scenario = &world.scenario;
    let mut rng = random::stream(scenario.seed, &[0]);
    let mut id = 0u64;
    let pick = |rng: &mut rand::rngs::SmallRng| {
        let draw: f64 = rand::Rng::random(rng);
        let mut acc = 0.0;
        for (i, k) in scenario.kinds.iter().enumerate() {
            acc += k.share;
            if draw < acc {
                return i;
            }
        }
        scenario.kinds.len() - 1
    };
    for _ in 0..scenario.traffic.burst {
        let kind = pick(&mut rng);
        spawn_request(world, kind, id);
        id += 1;
    }
    let start = tokio::time::Instant::now();
    let gap = Duration::from_secs_f64(1.0 / scenario.traffic.rate);
    let mut next = Duration::ZERO;
    let mut reported = 0;
    loop {
        next += match scenario.traffic.arrivals {
            Arrivals::Uniform => gap,
            Arrivals::Poisson => random::exponential_gap(scenario.traffic.rate, &mut rng),
        };
        if next >= scenario.duration {
            break;
        }
        tokio::time::sleep_until(start + next).await;
        let kind = pick(&mut rng);
        spawn_request(world, kind, id);
        id += 1;
        if next.as_secs() > reported {
            reported = next.as_secs();
            progress(reported);
        }
    }
    tokio::time::sleep_until(start + scenario.duration).await;
}

fn spawn_request(world: &Rc<World>, kind: usize, id: u64) {
    world.in_flight.set(world.in_flight.get() + 1);
    tokio::task::spawn_local(request::request(Rc::clone(world), kind, id, 0));
}
