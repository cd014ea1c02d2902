//! The dependencies as one run sees them: the pipelines of its configuration (a
//! dependency it does not configure gets a pipeline without policies, so that every
//! call reports to the same listener) and its fallbacks.

use std::sync::Arc;

use rampart::fallback::FallbackChain;
use rampart::registry::Registry;
use rampart::Pipeline;

use super::listener::Log;
use super::world::{Backlog, Link};
use super::StartError;
use crate::scenario::{FallbackKind, Scenario};

/// The pipelines and fallbacks of run `run`, one per dependency, all reporting to `log`.
pub(super) fn links(scenario: &Scenario, run: usize, log: &Log) -> Result<Vec<Link>, StartError> {
    let spec = &scenario.runs[run];
    let registry = Registry::builder()
        .listener(log.clone())
        .build_from(spec.config.clone())
        .map_err(|e| StartError(format!("run `{}`: {e}", spec.name)))?;
    scenario
        .dependencies
        .iter()
        .enumerate()
        .map(|(index, dep)| {
            let pipeline = match registry.pipeline(&dep.name) {
                Ok(p) => p.clone(),
                Err(_) => Pipeline::builder(&dep.name)
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
