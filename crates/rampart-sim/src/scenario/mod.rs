//! What a simulation replays: the service, its traffic, its dependencies and how they
//! change over time, and the configurations (runs) to compare.
//!
//! A scenario is a TOML file (see the built-ins in `crates/rampart-sim/scenarios/` for
//! every key, commented); [`Scenario::parse`] reads and checks it, and every mistake is
//! a [`ScenarioError`] naming the file, the line and the key. The values here are
//! already checked: shares add up, rates are positive, every dependency named exists;
//! they are `#[non_exhaustive]` so that only a parsed file makes them.

mod builtin;
mod error;
mod file;
mod raw;
mod runs;

use std::time::Duration;

use rampart::registry::RegistryConfig;

pub use self::builtin::{builtin, builtin_names, DEFAULT_SCENARIO};
pub use self::error::ScenarioError;

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Scenario {
    /// Its name (`checkout-outage`).
    pub name: String,
    /// One line on what it shows.
    pub summary: String,
    /// The file it was read from (or the built-in's name).
    pub origin: String,
    /// The wall-clock time of the start, in seconds since midnight, for labels.
    pub start_of_day: u32,
    /// How long traffic arrives.
    pub duration: Duration,
    /// How long after the traffic stops the run goes on, for work in flight and the
    /// backlog to finish.
    pub grace: Duration,
    /// The seed of every random choice.
    pub seed: u64,
    /// Repeats of one event within this span are counted on one timeline line.
    pub timeline_window: Duration,
    /// The service under test.
    pub service: Service,
    /// The traffic it receives.
    pub traffic: Traffic,
    /// The request kinds, in name order.
    pub kinds: Vec<RequestKind>,
    /// The dependencies, in name order.
    pub dependencies: Vec<Dependency>,
    /// The configurations compared, in file order.
    pub runs: Vec<RunSpec>,
}

/// The modelled service: a shared pool of workers.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Service {
    /// Workers (threads) shared by every request kind.
    pub workers: u32,
    /// How long a request waits for a free worker before it fails.
    pub accept_timeout: Duration,
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Traffic {
    /// Requests per second.
    pub rate: f64,
    /// How arrivals are spaced.
    pub arrivals: Arrivals,
    /// Requests that all arrive at the start, on top of the rate (a queue of work
    /// waiting when the run begins).
    pub burst: u32,
}

/// How arrivals are spaced in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arrivals {
    /// Exactly `1 / rate` apart.
    Uniform,
    /// A Poisson process: exponential gaps of mean `1 / rate`, drawn from the seed.
    Poisson,
}

/// One kind of request (a page, an API call) and what serving it takes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RequestKind {
    /// Its name (`checkout`).
    pub name: String,
    /// Its share of the traffic, 0 to 1 (shares add up to 1).
    pub share: f64,
    /// The service's own work per request, on a worker.
    pub work: Duration,
    /// The dependencies it calls, in order (indices into [`Scenario::dependencies`]).
    pub calls: Vec<usize>,
    /// How long the user waits for an answer before giving up.
    pub patience: Duration,
    /// How many times a user who gave up or got an error tries again.
    pub user_retries: u32,
    /// How long a user waits before trying again.
    pub think: Duration,
}

/// A modelled dependency whose behaviour changes on a schedule.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Dependency {
    /// Its name (`payment`), the same as its pipeline's in a run's configuration.
    pub name: String,
    /// Its behaviour from time 0, then each change in time order.
    pub phases: Vec<Phase>,
}

impl Dependency {
    /// The behaviour in force at `at` since the start.
    pub fn phase_at(&self, at: Duration) -> &Phase {
        let index = self.phases.partition_point(|p| p.from <= at);
        &self.phases[index.saturating_sub(1)]
    }
}

/// A dependency's behaviour from a point in time on.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Phase {
    /// When it starts, since the start of the run.
    pub from: Duration,
    /// How long a call takes.
    pub latency: Latency,
    /// The share of calls that fail, 0 to 1.
    pub error_rate: f64,
}

/// A distribution of call durations.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Log-normal, given by its median and 99th percentile.
    LogNormal {
        /// Half the calls are faster.
        median: Duration,
        /// 99 % of the calls are faster.
        p99: Duration,
    },
    /// Uniform between two bounds.
    Uniform {
        /// The fastest call.
        min: Duration,
        /// The slowest call.
        max: Duration,
    },
}

/// One configuration to run the scenario with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunSpec {
    /// Its name in the report (`with defenses`).
    pub name: String,
    /// The pipelines, as a rampart configuration file holds them; a dependency it does
    /// not name is called without any policy.
    pub config: RegistryConfig,
    /// Fallbacks by dependency index, in index order.
    pub fallbacks: Vec<(usize, FallbackSpec)>,
}

/// What answers when a dependency's pipeline fails.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FallbackSpec {
    /// What the user is told (`order pending`); the fallback's label in events.
    pub label: String,
    /// What the fallback does.
    pub kind: FallbackKind,
}

/// What a fallback does with the failed call.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FallbackKind {
    /// Answers a default value; the work is not done.
    Value,
    /// Queues the work: background workers call the dependency again (through the same
    /// pipeline) until each queued item succeeds.
    Queue {
        /// Background workers draining the queue.
        workers: u32,
        /// How long a worker waits after a failed attempt (or the breaker's retry-after,
        /// when it gives one).
        pause: Duration,
    },
}

impl Scenario {
    /// Parses and checks a scenario; `origin` names the text in errors.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] naming the line and key of the first mistake.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        file::parse(text, origin, None)
    }

    /// Reads, parses and checks the scenario file at `path`; a run's `config_file` is
    /// read relative to it.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse), and when a file cannot be read.
    pub fn read(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::new(&origin, format!("cannot read the file: {e}")))?;
        file::parse(&text, &origin, path.parent())
    }

    /// The index of dependency `name`.
    pub fn dependency_index(&self, name: &str) -> Option<usize> {
        self.dependencies.iter().position(|d| d.name == name)
    }

    /// The instant of the first change of any dependency's behaviour, if there is one:
    /// what comes before it is the baseline.
    pub fn first_change(&self) -> Option<Duration> {
        self.dependencies
            .iter()
            .filter_map(|d| d.phases.get(1).map(|p| p.from))
            .min()
    }

    /// The incident: from the first change of any dependency's behaviour to the last
    /// change (or the end of the traffic, when there is only one), if anything changes.
    pub fn incident(&self) -> Option<(Duration, Duration)> {
        let first = self.first_change()?;
        let last = self
            .dependencies
            .iter()
            .filter(|d| d.phases.len() > 1)
            .filter_map(|d| d.phases.last().map(|p| p.from))
            .max()
            .filter(|&last| last > first)
            .unwrap_or(self.duration);
        Some((first, last))
    }

    /// Adds a run with the rampart configuration file at `path` (the file a service
    /// loads), named `with PATH`, with the fallbacks of the scenario's last run: an
    /// operator's candidate configuration against the scenario's outage.
    ///
    /// Dependencies the file configures but the scenario does not model are left out;
    /// their names come back with the scenario.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] at the file's line and key when it cannot be read or built.
    pub fn with_config_file(
        mut self,
        path: &std::path::Path,
    ) -> Result<(Scenario, Vec<String>), ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::new(&origin, format!("cannot read the file: {e}")))?;
        let file = rampart::registry::ConfigFile::parse(&text, &origin)?;
        rampart::registry::Registry::builder().build(&file)?;
        let mut config = file.config().clone();
        let ignored: Vec<String> = config
            .dependencies
            .keys()
            .filter(|name| self.dependency_index(name).is_none())
            .cloned()
            .collect();
        config
            .dependencies
            .retain(|name, _| !ignored.contains(name));
        let fallbacks = self
            .runs
            .last()
            .map(|r| r.fallbacks.clone())
            .unwrap_or_default();
        self.runs.push(RunSpec {
            name: format!("with {origin}"),
            config,
            fallbacks,
        });
        Ok((self, ignored))
    }

    /// Overrides the run length (a shorter run for a quick look).
    pub fn with_duration(mut self, duration: Duration) -> Scenario {
        self.duration = duration;
        self
    }

    /// Overrides the seed.
    pub fn with_seed(mut self, seed: u64) -> Scenario {
        self.seed = seed;
        self
    }
}
