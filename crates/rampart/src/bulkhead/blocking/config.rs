//! The blocking bulkhead's settings as plain serde data, and their validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The most threads one blocking bulkhead may run.
pub const MAX_THREADS: u32 = 4096;

/// Settings of a [`BlockingBulkhead`](super::BlockingBulkhead): a thread pool of its own.
///
/// A job goes to an idle thread if there is one, else to a new thread while there are
/// fewer than `max_threads`, else into the queue while it holds fewer than
/// `queue_capacity` jobs, else it is rejected. Threads start on demand; threads above
/// `core_threads` retire after `keep_alive` without work.
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `max_threads` | 10 | 1 to [`MAX_THREADS`] |
/// | `core_threads` | `max_threads`: a fixed pool | at most `max_threads` |
/// | `queue_capacity` | 0: reject when every thread is busy (the seeds: "reject, don't queue") | any |
/// | `keep_alive` | 60 s | any; zero retires a thread above the core as soon as it finds no work |
///
/// In a configuration file every field is optional, e.g. `max_threads = 10`,
/// `core_threads = 5`, `queue_capacity = 20`, `keep_alive = "30s"`.
///
/// # Examples
///
/// ```
/// use rampart::bulkhead::BlockingBulkheadConfig;
/// use std::time::Duration;
///
/// // The seeds' thread-pool bulkhead for payment: 5 core threads, 10 at most, 20 queued.
/// let config = BlockingBulkheadConfig::new()
///     .with_max_threads(10)
///     .with_core_threads(5)
///     .with_queue_capacity(20)
///     .with_keep_alive(Duration::from_secs(30));
/// assert!(config.validate().is_ok());
///
/// let bad = config.with_core_threads(11);
/// assert_eq!(bad.validate().unwrap_err().field(), "blocking_bulkhead.core_threads");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BlockingBulkheadConfig {
    /// The most threads the pool runs, hence the most jobs running at once.
    pub max_threads: u32,
    /// Threads kept alive when idle; `None` for `max_threads`.
    pub core_threads: Option<u32>,
    /// Jobs that may wait for a thread when every thread is busy.
    pub queue_capacity: u32,
    /// How long a thread above the core waits for work before it exits.
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
}

impl Default for BlockingBulkheadConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockingBulkheadConfig {
    /// The defaults: a fixed pool of 10 threads, started on demand, without a queue.
    pub const fn new() -> Self {
        BlockingBulkheadConfig {
            max_threads: 10,
            core_threads: None,
            queue_capacity: 0,
            keep_alive: Duration::from_secs(60),
        }
    }

    /// Sets the most threads the pool runs.
    pub const fn with_max_threads(mut self, n: u32) -> Self {
        self.max_threads = n;
        self
    }

    /// Sets how many threads stay alive when idle.
    pub const fn with_core_threads(mut self, n: u32) -> Self {
        self.core_threads = Some(n);
        self
    }

    /// Lets up to `n` jobs wait for a thread when every thread is busy.
    pub const fn with_queue_capacity(mut self, n: u32) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Sets how long a thread above the core waits for work before it exits.
    pub const fn with_keep_alive(mut self, d: Duration) -> Self {
        self.keep_alive = d;
        self
    }

    /// The core size this configuration means.
    pub const fn core(&self) -> u32 {
        match self.core_threads {
            Some(n) => n,
            None => self.max_threads,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field under `blocking_bulkhead.`: `max_threads` (0 or
    /// above [`MAX_THREADS`]) or `core_threads` (above `max_threads`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|e| e.within("blocking_bulkhead"))
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.max_threads == 0 || self.max_threads > MAX_THREADS {
            return Err(ConfigError::new(
                "max_threads",
                format!(
                    "must be between 1 and {MAX_THREADS}, got {}",
                    self.max_threads
                ),
            ));
        }
        if self.core() > self.max_threads {
            return Err(ConfigError::new(
                "core_threads",
                format!(
                    "must be at most max_threads ({}), got {}",
                    self.max_threads,
                    self.core()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_fixed_pool_without_queue() {
        let c = BlockingBulkheadConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.max_threads, c.core(), c.queue_capacity), (10, 10, 0));
        assert_eq!(c.with_max_threads(3).core(), 3);
    }

    #[test]
    fn bad_values_name_their_field() {
        let field = |c: BlockingBulkheadConfig| c.validate().unwrap_err().field().to_owned();
        let c = BlockingBulkheadConfig::new();
        assert_eq!(
            field(c.with_max_threads(0)),
            "blocking_bulkhead.max_threads"
        );
        assert_eq!(
            field(c.with_max_threads(MAX_THREADS + 1)),
            "blocking_bulkhead.max_threads"
        );
        assert_eq!(
            field(c.with_max_threads(4).with_core_threads(5)),
            "blocking_bulkhead.core_threads"
        );
        assert!(c
            .with_core_threads(0)
            .with_keep_alive(Duration::ZERO)
            .validate()
            .is_ok());
    }
}
