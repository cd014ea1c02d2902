//! The modelled service during one run: its worker pool, the pipelines and fallbacks
//! of the run's configuration, and what it counts.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::fallback::FallbackChain;
use rampart::Pipeline;
use tokio::sync::Semaphore;

use super::listener::Log;
use super::stats::Stats;
use crate::scenario::Scenario;

/// The error a modelled dependency answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DependencyFailed;

/// Work queued by a `queue` fallback, drained in the background.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    /// Items waiting.
    pub(crate) pending: AtomicU64,
    /// Items ever queued.
    pub(crate) queued: AtomicU64,
    /// Items processed.
    pub(crate) processed: AtomicU64,
}

impl Backlog {
    /// Queues one item.
    pub(crate) fn push(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one item, if there is one.
    pub(crate) fn take(&self) -> bool {
        self.pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Puts back an item whose processing failed.
    pub(crate) fn put_back(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an item processed.
    pub(crate) fn done(&self) {
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    /// Items queued and not processed yet: waiting, or being processed now.
    pub(crate) fn unfinished(&self) -> u64 {
        let queued = self.queued.load(Ordering::Relaxed);
        queued.saturating_sub(self.processed.load(Ordering::Relaxed))
    }

    /// Items waiting now.
    pub(crate) fn waiting(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
}

/// A dependency as the service sees it in one run.
pub(crate) struct Link {
    /// The pipeline around calls to it (without policies when the run names none).
    pub(crate) pipeline: Pipeline,
    /// The fallback, if the run has one for it.
    pub(crate) fallback: Option<FallbackChain<(), DependencyFailed>>,
    /// The queue its fallback fills, if it queues.
    pub(crate) backlog: Option<Arc<Backlog>>,
}

/// Everything a run's tasks share (one thread: plain cells suffice).
pub(crate) struct World {
    pub(crate) scenario: Scenario,
    pub(crate) log: Log,
    pub(crate) workers: Semaphore,
    pub(crate) links: Vec<Link>,
    pub(crate) stats: RefCell<Stats>,
    /// Requests (and user retries waiting to be sent) not finished yet.
    pub(crate) in_flight: Cell<u64>,
    /// Requests waiting for a worker.
    pub(crate) waiting: Cell<u32>,
    /// Set when the run is over: background tasks stop.
    pub(crate) stopped: Cell<bool>,
    /// The incident: from the first change of a dependency to the last one.
    pub(crate) incident: (Duration, Duration),
}

impl World {
    /// Virtual time since the start.
    pub(crate) fn now(&self) -> Duration {
        self.log.elapsed()
    }

    /// When a request arriving at `at` arrived, relative to the incident.
    pub(crate) fn period(&self, at: Duration) -> super::stats::Period {
        use super::stats::Period;
        let (from, to) = self.incident;
        if at < from {
            Period::Baseline
        } else if at < to {
            Period::Incident
        } else {
            Period::After
        }
    }

    /// Workers busy now.
    pub(crate) fn busy(&self) -> u32 {
        let free = u32::try_from(self.workers.available_permits()).unwrap_or(u32::MAX);
        self.scenario.service.workers.saturating_sub(free)
    }
}
