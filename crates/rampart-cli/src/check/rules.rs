//! The traps `rampart check` looks for, one function each, with the arithmetic that
//! shows the trap.

use rampart::circuit::Window;
use rampart::registry::{DependencyConfig, RegistryConfig};

use super::shape::{human, Shape};
use super::{Finding, Rule};

/// Every finding for dependency `name`.
pub(crate) fn dependency(
    config: &RegistryConfig,
    name: &str,
    dep: &DependencyConfig,
) -> Vec<Finding> {
    let shape = Shape::of(&dep.pipeline);
    let mut found = Vec::new();
    found.extend(retry_budget(name, dep, &shape));
    found.extend(nested_timeouts(name, &shape));
    found.extend(cascade(config, name, &shape));
    found.extend(breaker_counts_attempts(name, &shape));
    found.extend(pool_smaller_than_bulkhead(name, dep, &shape));
    found.extend(retry_without_jitter(name, &shape));
    found.extend(non_idempotent_retry(name, dep, &shape));
    found
}

/// Findings about what the health probes call.
pub(crate) fn health(config: &RegistryConfig) -> Vec<Finding> {
    let mut found = Vec::new();
    for name in &config.health.liveness {
        found.push(Finding::new(
            Rule::LivenessCallsDependency,
            name,
            None,
            "the liveness probe calls this dependency",
            vec![
                "when it is down, every instance fails liveness together and is restarted; \
                 the outage becomes yours"
                    .to_owned(),
            ],
            "let liveness check the process only; dependencies belong to readiness and \
             the circuit breaker",
        ));
    }
    for name in &config.health.readiness {
        let Some(dep) = config.dependencies.get(name) else {
            continue;
        };
        let shape = Shape::of(&dep.pipeline);
        if let Some((at, _)) = shape.breakers.first() {
            found.push(Finding::new(
                Rule::ReadinessBehindBreaker,
                name,
                Some(*at),
                "the readiness probe calls a dependency behind a circuit breaker",
                vec![
                    "when the breaker opens, readiness fails on every instance at once and \
                     the load balancer takes the whole fleet out"
                        .to_owned(),
                ],
                "remove it from [health] readiness: the breaker already sheds calls to it",
            ));
        }
    }
    found
}

/// The worst case of the attempts, backoff included, over the SLA.
fn retry_budget(name: &str, dep: &DependencyConfig, shape: &Shape) -> Option<Finding> {
    let sla = dep.sla?;
    let (at, retry) = shape.retry.as_ref()?;
    if retry.max_attempts < 2 {
        return None;
    }
    let Some(worst) = shape.worst_case() else {
        return Some(Finding::new(
            Rule::RetryBudget,
            name,
            Some(*at),
            "retries with no timeout on an attempt can outlast the SLA",
            vec![format!(
                "{} attempts, each unbounded: the worst case has no limit, SLA {}",
                retry.max_attempts,
                human(sla)
            )],
            "add a per-attempt timeout after the retry, and one around it no longer than the SLA",
        ));
    };
    if worst.total <= sla {
        return None;
    }
    let mut lines = vec![format!("{} > SLA {}", worst.sum(), human(sla))];
    let fit = attempts_within(shape, sla);
    lines.push(match fit {
        0 => format!("not even one attempt of {} fits", human(worst.timeout)),
        1 => "only 1 attempt fits: no retry".to_owned(),
        2 => "at most 2 attempts fit (1 retry)".to_owned(),
        n => format!("at most {n} attempts fit ({} retries)", n - 1),
    });
    Some(Finding::new(
        Rule::RetryBudget,
        name,
        Some(*at),
        "retries can outlast the SLA",
        lines,
        "lower max_attempts, shorten the per-attempt timeout or the backoff, or put a \
         timeout of at most the SLA around the retry",
    ))
}

/// The most attempts whose worst case, backoff included, stays within `sla`.
fn attempts_within(shape: &Shape, sla: std::time::Duration) -> u32 {
    let (Some((_, retry)), Some(timeout)) = (&shape.retry, shape.per_attempt) else {
        return 0;
    };
    let mut spent = std::time::Duration::ZERO;
    for n in 0..retry.max_attempts {
        if n > 0 {
            spent = spent.saturating_add(super::shape::longest_backoff(retry, n - 1));
        }
        spent = spent.saturating_add(timeout);
        if spent > sla {
            return n;
        }
    }
    retry.max_attempts
}

/// A timeout inside another that is not shorter: the inner one never fires.
fn nested_timeouts(name: &str, shape: &Shape) -> Option<Finding> {
    let mut tightest: Option<(usize, std::time::Duration)> = None;
    for &(at, d) in &shape.timeouts {
        if let Some((outer_at, outer)) = tightest {
            if d >= outer {
                return Some(Finding::new(
                    Rule::TimeoutCascade,
                    name,
                    Some(at),
                    "a timeout is not shorter than the timeout around it",
                    vec![format!(
                        "policy {at}: {} inside policy {outer_at}: {}; {} >= {}",
                        human(d),
                        human(outer),
                        human(d),
                        human(outer)
                    )],
                    "each inner timeout must be shorter than the one around it",
                ));
            }
        }
        if tightest.is_none_or(|(_, t)| d < t) {
            tightest = Some((at, d));
        }
    }
    None
}

/// A dependency called from within another's attempt that can take as long as that
/// attempt: the caller gives up while the callee still works.
fn cascade(config: &RegistryConfig, name: &str, shape: &Shape) -> Option<Finding> {
    let parent_name = config.dependencies.get(name)?.within.as_deref()?;
    let parent = Shape::of(&config.dependencies.get(parent_name)?.pipeline);
    let parent_limit = parent.per_attempt.or(parent.total)?;
    let (what, child) = match shape.worst_case() {
        Some(w) if w.attempts > 1 => (w.sum(), w.total),
        Some(w) => (format!("timeout {}", human(w.total)), w.total),
        None => ("no timeout at all".to_owned(), std::time::Duration::MAX),
    };
    if child < parent_limit {
        return None;
    }
    let at = shape.timeouts.first().map(|(at, _)| *at);
    Some(Finding::new(
        Rule::TimeoutCascade,
        name,
        at,
        "the timeout is not shorter than its caller's",
        vec![format!(
            "{name} is called within {parent_name}, whose attempt gives up after {}; \
             {name}: {what}, not below {}",
            human(parent_limit),
            human(parent_limit)
        )],
        "downstream timeouts must be shorter than upstream ones (5s -> 4s -> 3s -> 2s)",
    ))
}

/// A breaker inside the retry counts every attempt, so it opens in fewer requests than
/// its threshold says.
fn breaker_counts_attempts(name: &str, shape: &Shape) -> Option<Finding> {
    let (retry_at, retry) = shape.retry.as_ref()?;
    let attempts = retry.max_attempts;
    if attempts < 2 {
        return None;
    }
    let (at, breaker) = shape.breakers.iter().find(|(at, _)| at > retry_at)?;
    let line = match breaker.window {
        Window::Consecutive { failures } => format!(
            "threshold {failures} failures / {attempts} attempts per request: opens after \
             {} failing requests, not {failures}",
            failures.div_ceil(attempts)
        ),
        _ => {
            let min_calls = breaker.min_calls.unwrap_or(match breaker.window {
                Window::Count { size } => size,
                _ => 0,
            });
            format!(
                "each failing request adds {attempts} failures to the window: the {} failure \
                 rate is reached by {attempts}x fewer requests{}",
                percent(breaker.failure_rate),
                if min_calls > 0 {
                    format!(
                        ", and the {min_calls} minimum calls by {} requests",
                        min_calls.div_ceil(attempts)
                    )
                } else {
                    String::new()
                }
            )
        }
    };
    Some(Finding::new(
        Rule::BreakerCountsAttempts,
        name,
        Some(*at),
        "the circuit breaker sits inside the retry, so it counts attempts, not requests",
        vec![line],
        "place the circuit breaker before the retry (outside it): one outcome per request, \
         and an open circuit skips the retries",
    ))
}

/// A bulkhead that lets more calls through than the pool has connections.
fn pool_smaller_than_bulkhead(
    name: &str,
    dep: &DependencyConfig,
    shape: &Shape,
) -> Option<Finding> {
    let pool = dep.client.pool_size?;
    let (at, limit) = shape.concurrency?;
    if pool >= limit {
        return None;
    }
    Some(Finding::new(
        Rule::PoolSmallerThanBulkhead,
        name,
        Some(at),
        "the connection pool is smaller than the bulkhead",
        vec![format!(
            "the bulkhead lets {limit} calls through, the pool has {pool} connections: \
             {} calls wait inside the bulkhead for a connection",
            limit - pool
        )],
        "size the pool (client.pool_size) to at least the bulkhead, and keep client.pool \
         shorter than the bulkhead's wait",
    ))
}

/// Retries at the same moments as every other caller that failed together.
fn retry_without_jitter(name: &str, shape: &Shape) -> Option<Finding> {
    let (at, retry) = shape.retry.as_ref()?;
    if retry.max_attempts < 2 || !matches!(retry.jitter, rampart::retry::Jitter::None) {
        return None;
    }
    let waits: Vec<String> = (0..retry.max_attempts - 1)
        .map(|n| human(retry.backoff.base_delay(n)))
        .collect();
    Some(Finding::new(
        Rule::RetryWithoutJitter,
        name,
        Some(*at),
        "retries without jitter",
        vec![format!(
            "every caller that failed at the same moment retries together after {}: a \
             synchronised storm at each step",
            waits.join(", then ")
        )],
        "set jitter = \"full\" (or \"equal\", \"decorrelated\")",
    ))
}

/// Runs a non-idempotent operation more than once without an idempotency key.
fn non_idempotent_retry(name: &str, dep: &DependencyConfig, shape: &Shape) -> Option<Finding> {
    if dep.idempotent || dep.idempotency_key || !shape.repeats() {
        return None;
    }
    let at = shape.retry.as_ref().map(|(at, _)| *at);
    Some(Finding::new(
        Rule::NonIdempotentRetry,
        name,
        at,
        "a non-idempotent operation is retried without an idempotency key",
        vec![format!(
            "up to {} runs per request: a timeout after the callee acted runs it again \
             (a second charge)",
            shape.attempts().max(2)
        )],
        "send an idempotency key the callee honours (idempotency_key = true), or do not retry",
    ))
}

fn percent(rate: f64) -> String {
    format!("{}%", (rate * 100.0).round())
}
