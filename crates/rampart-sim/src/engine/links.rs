//! The dependencies as one run sees them: the pipelines of its configuration (a
//! dependency it does not configure gets a pipeline without policies, so that every
//! call reports to the same listener) and its fallbacks.

use std::sync::Arc;

use rampart::clock::{Clock, TokioClock};
use rampart::fallback::FallbackChain;
use rampart::pipeline::PolicyConfig;
use rampart::registry::{Registry, RegistryConfig};
use rampart::Pipeline;

use super::listener::Log;
use super::world::{Backlog, Link};
use super::StartError;
use crate::random;
use crate::scenario::{FallbackKind, Scenario};

/// The pipelines and fallbacks of run `run`, one per dependency, all reporting to `log`.
pub(super) fn links(scenario: &Scenario, run: usize, log: &Log) -> Result<Vec<Link>, StartError> {
    let spec = &scenario.runs[run];
    // Virtual time drives every policy: the runtime's clock is paused.
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
    let registry = Registry::builder()
        .clock(Arc::clone(&clock))
        .listener(log.clone())
        .build_from(seeded(&spec.config, scenario.seed, run))
        .map_err(|e| StartError(format!("run `{}`: {e}", spec.name)))?;
    scenario
        .dependencies
        .iter()
        .enumerate()
        .map(|(index, dep)| {
            let pipeline = match registry.pipeline(&dep.name) {
                Ok(p) => p.clone(),
                Err(_) => Pipeline::builder(&dep.name)
                    .clock(Arc::clone(&clock))
                    .without_retry_budget()
                    .listener(log.clone())
                    .build()
                    .map_err(|e| StartError(format!("run `{}`: {e}", spec.name)))?,
            };
            let fallback = spec
                .fallbacks
                .iter()
                .find(|(d, _)| *d == index)
                .map(|(_, f)| f);
            let (fallback, backlog) = match fallback {
                None => (None, None),
                Some(f) => match f.kind {
                    FallbackKind::Value => (
                        Some(FallbackChain::new().with(f.label.clone(), || async { Ok(()) })),
                        None,
                    ),
                    FallbackKind::Queue { .. } => {
                        let backlog = Arc::new(Backlog::default());
                        let queue = Arc::clone(&backlog);
                        let chain = FallbackChain::new().with(f.label.clone(), move || {
                            queue.push();
                            async { Ok(()) }
                        });
                        (Some(chain), Some(backlog))
                    }
                },
            };
            Ok(Link {
                pipeline,
                fallback,
                backlog,
            })
        })
        .collect()
}

/// `config` with a seed, drawn from the scenario's, for every retry policy that has
/// none, so that jitter is reproducible and follows the scenario's seed.
fn seeded(config: &RegistryConfig, seed: u64, run: usize) -> RegistryConfig {
    let mut config = config.clone();
    for (d, dep) in config.dependencies.values_mut().enumerate() {
        for (p, policy) in dep.pipeline.policies.iter_mut().enumerate() {
            if let PolicyConfig::Retry(retry) = policy {
                if retry.seed.is_none() {
                    retry.seed = Some(random::mix(seed, &[run as u64, d as u64, p as u64]));
                }
            }
        }
    }
    config
}
