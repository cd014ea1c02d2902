//! The work queue's settings as plain serde data and their validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{positive, ConfigError};

/// The most workers a queue may run.
pub const MAX_WORKERS: u32 = 10_000;

/// What a full [`WorkQueue`](super::WorkQueue) does with one more job (the seeds' five
/// queue overflow policies). Written in snake case in a configuration file:
/// `overflow = "drop_oldest"`.
///
/// Whatever the policy, when `max_age` is set a full queue first drops the jobs older
/// than it. A job that is given up is always reported: its submitter gets a
/// [`Dropped`](super::Dropped) error (at once when refused on arrival, through its
/// handle when evicted later) and a listener gets a
/// [`WorkDropped`](crate::event::EventKind::WorkDropped) event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Overflow {
    /// Refuse the newcomer; the queued jobs keep their places (the seeds' default).
    #[default]
    RejectNew,
    /// Drop the job that has waited longest, whatever its priority; queue the newcomer.
    DropOldest,
    /// Drop the job queued most recently, whatever its priority; queue the newcomer. The
    /// older jobs keep their places, as with `RejectNew`, but the newest work is not
    /// refused outright while older work in the queue came later than it.
    DropNewest,
    /// Drop the job that would be served last (the newest of the lowest priority) to
    /// queue a newcomer of higher priority; a newcomer that would itself be served last
    /// is refused.
    DropLowestPriority,
    /// Drop only jobs older than `max_age`; when none is, refuse the newcomer. Needs
    /// `max_age`.
    DropExpired,
}

impl Overflow {
    /// A short lowercase name, as in configuration files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Overflow::RejectNew => "reject_new",
            Overflow::DropOldest => "drop_oldest",
            Overflow::DropNewest => "drop_newest",
            Overflow::DropLowestPriority => "drop_lowest_priority",
            Overflow::DropExpired => "drop_expired",
        }
    }
}

/// Settings of a [`WorkQueue`](super::WorkQueue).
///
/// # Defaults
///
/// | field | default (the seeds') | valid |
/// |---|---|---|
/// | `capacity` | 100 jobs waiting | at least 1 |
/// | `workers` | 4 | 1 to [`MAX_WORKERS`] |
/// | `overflow` | [`Overflow::RejectNew`] | see [`Overflow`] |
/// | `max_age` | 30 s: older jobs are dropped, not run | above zero, or none; required by `drop_expired` |
///
/// In a configuration file every field is optional, e.g. `capacity = 500`,
/// `overflow = "drop_lowest_priority"`, `max_age = "10s"`.
///
/// # Examples
///
/// ```
/// use rampart::shed::{Overflow, WorkQueueConfig};
///
/// let config = WorkQueueConfig::new().with_capacity(500).with_overflow(Overflow::DropOldest);
/// assert!(config.validate().is_ok());
/// let bad = WorkQueueConfig::new().with_overflow(Overflow::DropExpired).with_max_age(None);
/// assert_eq!(bad.validate().unwrap_err().field(), "work_queue.max_age");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkQueueConfig {
    /// Jobs that may wait for a worker.
    pub capacity: u32,
    /// Jobs that run at once.
    pub workers: u32,
    /// What a full queue does with one more job.
    pub overflow: Overflow,
    /// Jobs that waited longer than this are dropped instead of run.
    #[serde(with = "humantime_serde")]
    pub max_age: Option<Duration>,
}

impl Default for WorkQueueConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkQueueConfig {
    /// The seeds' queue: 100 waiting, 4 workers, reject new, 30 s maximum age.
    pub const fn new() -> Self {
        WorkQueueConfig {
            capacity: 100,
            workers: 4,
            overflow: Overflow::RejectNew,
            max_age: Some(Duration::from_secs(30)),
        }
    }

    /// Sets how many jobs may wait.
    pub const fn with_capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets how many jobs run at once.
    pub const fn with_workers(mut self, workers: u32) -> Self {
        self.workers = workers;
        self
    }

    /// Sets what a full queue does.
    pub const fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Sets the age after which a waiting job is dropped; `None` keeps jobs however long
    /// they wait.
    pub const fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `work_queue.capacity`, `work_queue.workers` or
    /// `work_queue.max_age`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|e| e.within("work_queue"))
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::new("capacity", "must be at least 1"));
        }
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(ConfigError::new(
                "workers",
                format!("must be between 1 and {MAX_WORKERS}, got {}", self.workers),
            ));
        }
        match self.max_age {
            Some(d) => positive("max_age", d)?,
            None if self.overflow == Overflow::DropExpired => {
                return Err(ConfigError::new(
                    "max_age",
                    "is required by the drop_expired overflow policy",
                ))
            }
            None => {}
        }
        Ok(())
    }
}
