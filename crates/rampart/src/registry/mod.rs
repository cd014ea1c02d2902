//! Named pipelines from a configuration file: one table per dependency.
//!
//! The seeds configure each dependency on its own (`PAYMENT_CONFIG`,
//! `INVENTORY_CONFIG`, `NOTIFICATION_CONFIG`): a generous timeout and few retries for an
//! external payment API, a tight timeout for an internal service, more retries for
//! notifications nobody waits for. A [`Registry`] builds those pipelines from one TOML
//! file and hands them out by name; a pipeline built from the file is the same as one
//! built in code. `rampart check FILE` lints the same file for the seeds' traps, using
//! the keys that only it reads (`sla`, `idempotent`, `within`, `client`, `[health]`).
//!
//! Every mistake is an error naming the file, the line and the key
//! (`shop.toml:14:1: dependencies.payment.policies[1].max_concurrent: must be at least
//! 1`): TOML syntax, unknown keys, wrong types, negative durations, out-of-range values,
//! and names of dependencies that do not exist.
//!
//! # The file
//!
//! ```toml
//! [dependencies.payment]
//! sla = "15s"            # what the caller waits at most, retries included
//! idempotent = false     # charging twice is not harmless...
//! idempotency_key = true # ...but every request carries a key
//! client = { pool_size = 20, connect = "1s", pool = "500ms" }
//!
//! [[dependencies.payment.policies]]
//! policy = "bulkhead"
//! max_concurrent = 20
//!
//! [[dependencies.payment.policies]]
//! policy = "circuit_breaker"
//! window = { kind = "consecutive", failures = 5 }
//! open_for = "30s"
//!
//! [[dependencies.payment.policies]]
//! policy = "retry"
//! max_attempts = 3
//! backoff = { kind = "exponential", initial = "1s", factor = 2.0, max = "2s" }
//! jitter = "full"
//!
//! [[dependencies.payment.policies]]
//! policy = "timeout"
//! duration = "5s"
//!
//! [health]
//! readiness = []         # dependencies the readiness probe calls: none, as the seeds advise
//! ```
//!
//! Policies are listed outermost first, with the keys of their config structs
//! ([`PolicyConfig`](crate::pipeline::PolicyConfig)); the other keys of a dependency are
//! described on [`DependencyConfig`], with their defaults. The repository ships a full
//! example, `config/shop.toml`.
//!
//! ```
//! use rampart::registry::Registry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::from_toml(
//!     r#"
//!     [dependencies.inventory]
//!     policies = [{ policy = "timeout", duration = "2s" }]
//!     "#,
//!     "inline.toml",
//! )?;
//! let inventory = registry.pipeline("inventory")?;
//! let stock: Result<u32, rampart::Error<()>> = inventory.call(|| async { Ok(7) }).await;
//! assert_eq!(stock, Ok(7));
//!
//! let err = Registry::from_toml("[dependencies.x]\nsla = \"-2s\"\n", "bad.toml").unwrap_err();
//! assert_eq!(err.line(), Some(2));
//! assert_eq!(err.key_path(), Some("dependencies.x.sla"));
//! # Ok(())
//! # }
//! ```

mod error;
mod file;
pub mod locate;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use self::error::FileError;
pub use self::file::ConfigFile;
pub use self::schema::{ClientConfig, DependencyConfig, HealthConfig, RegistryConfig};
use crate::clock::Clock;
use crate::config::ConfigError;
use crate::event::Listener;
use crate::flags::Flags;
use crate::pipeline::{Pipeline, PipelineBuilder};

/// Pipelines by name, built from a [`RegistryConfig`] (usually a file).
///
/// Cloning a pipeline out of it is cheap (one `Arc`), and every clone shares the
/// pipeline's state (breakers, bulkheads, budgets).
#[derive(Debug, Clone)]
pub struct Registry {
    config: RegistryConfig,
    pipelines: BTreeMap<String, Pipeline>,
    flags: Flags,
}

impl Registry {
    /// Reads the file at `path` and builds every dependency's pipeline.
    ///
    /// # Errors
    ///
    /// A [`FileError`] naming the file, line and key of the first mistake.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Registry, FileError> {
        Registry::builder().build(&ConfigFile::read(path)?)
    }

    /// Parses `text` (named `origin` in errors) and builds every dependency's pipeline.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file).
    pub fn from_toml(text: &str, origin: &str) -> Result<Registry, FileError> {
        Registry::builder().build(&ConfigFile::parse(text, origin)?)
    }

    /// Starts building a registry with a listener or a clock for every pipeline.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The pipeline of dependency `name`.
    ///
    /// # Errors
    ///
    /// [`UnknownDependency`], listing the names there are.
    pub fn pipeline(&self, name: &str) -> Result<&Pipeline, UnknownDependency> {
        self.pipelines.get(name).ok_or_else(|| UnknownDependency {
            name: name.to_owned(),
            known: self.pipelines.keys().cloned().collect(),
        })
    }

    /// Every pipeline with its name, in name order.
    pub fn pipelines(&self) -> impl Iterator<Item = (&str, &Pipeline)> {
        self.pipelines.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// The feature flags the pipelines' `flag` keys name: flip one to switch a
    /// dependency off and on at run time.
    pub fn flags(&self) -> &Flags {
        &self.flags
    }

    /// The configuration the pipelines were built from.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }
}

/// Builds a [`Registry`], optionally with a listener and a clock shared by every
/// pipeline.
#[derive(Default)]
#[must_use = "a builder does nothing until built"]
pub struct RegistryBuilder {
    listener: Option<Arc<dyn Listener>>,
    clock: Option<Arc<dyn Clock>>,
    flags: Option<Flags>,
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("listener", &self.listener.is_some())
            .field("clock", &self.clock.is_some())
            .field("flags", &self.flags.is_some())
            .finish()
    }
}

impl RegistryBuilder {
    /// Sends every pipeline's events to `listener`.
    pub fn listener(mut self, listener: impl Listener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Gives every pipeline `clock` (default: [`default_clock`](crate::clock::default_clock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Takes the pipelines' feature flags from `flags` (default: a new in-memory set);
    /// a flag a dependency names that `flags` does not define is defined on.
    pub fn flags(mut self, flags: Flags) -> Self {
        self.flags = Some(flags);
        self
    }

    /// Builds every dependency's pipeline from a file.
    ///
    /// # Errors
    ///
    /// A [`FileError`] at the line and key of the first value that cannot work.
    pub fn build(self, file: &ConfigFile) -> Result<Registry, FileError> {
        self.build_config(file.config().clone())
            .map_err(|(name, e)| file.locate(&name, &e))
    }

    /// Builds every dependency's pipeline from configuration made in code.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`], its field prefixed with `dependencies.NAME.`.
    pub fn build_from(self, config: RegistryConfig) -> Result<Registry, ConfigError> {
        self.build_config(config)
            .map_err(|(name, e)| e.within(&format!("dependencies.{name}")))
    }

    fn build_config(self, config: RegistryConfig) -> Result<Registry, (String, ConfigError)> {
        let flags = self.flags.unwrap_or_default();
        let mut pipelines = BTreeMap::new();
        for (name, dep) in &config.dependencies {
            let mut builder = PipelineBuilder::from_config(name, dep.pipeline.clone());
            if let Some(flag) = &dep.flag {
                let flag = flags
                    .flag(flag)
                    .or_else(|_| flags.define(flag, true))
                    .map_err(|e| (name.clone(), ConfigError::new("flag", e.to_string())))?;
                builder = builder.when_enabled(flag);
            }
            if let Some(l) = &self.listener {
                builder = builder.shared_listener(Arc::clone(l));
            }
            if let Some(c) = &self.clock {
                builder = builder.clock(Arc::clone(c));
            }
            let pipeline = builder.build().map_err(|e| (name.clone(), e))?;
            pipelines.insert(name.clone(), pipeline);
        }
        Ok(Registry {
            config,
            pipelines,
            flags,
        })
    }
}

/// A name asked of a [`Registry`] that holds no such dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDependency {
    name: String,
    known: Vec<String>,
}

impl UnknownDependency {
    /// The name asked for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownDependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no dependency named `{}`", self.name)?;
        if self.known.is_empty() {
            write!(f, " (the registry is empty)")
        } else {
            write!(f, " (there are: {})", self.known.join(", "))
        }
    }
}

impl std::error::Error for UnknownDependency {}
