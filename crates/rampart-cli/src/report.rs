//! Renders a [`Plan`] for people (step by step) or for programs (one JSON object).

use crate::budget::{human, Plan};
use std::fmt::Write as _;

/// The plan as the lines `rampart budget` prints, each step with its arithmetic.
///
/// ```
/// use rampart_cli::{budget::plan, report::text};
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let lines = text(&plan(ms(5_000), ms(500), ms(2_000), ms(1_000))?);
/// assert_eq!(lines[3], "answer: 2 attempts (1 original + 1 retry)");
/// # Ok::<(), rampart_cli::budget::BudgetError>(())
/// ```
pub fn text(plan: &Plan) -> Vec<String> {
    let (sla, overhead, timeout, backoff) = (
        human(plan.sla),
        human(plan.overhead),
        human(plan.timeout),
        human(plan.backoff),
    );
    let available = human(plan.available);
    let n = plan.worst_case_attempts();
    let mut lines = vec![
        format!("available = SLA - overhead = {sla} - {overhead} = {available}"),
        format!("per-attempt cost = timeout = {timeout}"),
        format!(
            "attempts that fit = floor({available} / {timeout}) = {}",
            plan.attempts
        ),
    ];
    lines.push(if plan.attempts == 0 {
        format!("answer: no attempt fits: the timeout {timeout} is longer than the {available} available")
    } else {
        format!("answer: {}", attempts_phrase(plan.attempts))
    });
    lines.push(format!(
        "worst case with backoff = {n} x {timeout} + {} x {backoff} = {} (+ overhead {overhead} = {})",
        n - 1,
        human(plan.worst_case),
        human(plan.worst_case_total),
    ));
    let total = human(plan.worst_case_total);
    lines.push(match plan.over_sla_by() {
        Some(over) => format!(
            "warning: worst case {total} is over the SLA by {}",
            human(over)
        ),
        None => format!(
            "ok: worst case {total} is within the SLA ({} to spare)",
            human(plan.sla.saturating_sub(plan.worst_case_total))
        ),
    });
    let within = plan.attempts_within_sla;
    let mut last = format!(
        "attempts within the SLA = largest n with n x {timeout} + (n - 1) x {backoff} <= {available} = {within}"
    );
    if within > 0 {
        // Writing to a String cannot fail.
        let _ = write!(last, " ({})", split_phrase(within));
    }
    lines.push(last);
    lines
}

/// The plan as one JSON object; durations are integer nanoseconds (`*_ns`).
///
/// `over_sla_by_ns` is zero when `within_sla` is true. The keys are stable.
pub fn json(plan: &Plan) -> String {
    let fields: [(&str, String); 14] = [
        ("sla_ns", plan.sla.as_nanos().to_string()),
        ("overhead_ns", plan.overhead.as_nanos().to_string()),
        ("timeout_ns", plan.timeout.as_nanos().to_string()),
        ("backoff_ns", plan.backoff.as_nanos().to_string()),
        ("available_ns", plan.available.as_nanos().to_string()),
        ("attempts", plan.attempts.to_string()),
        ("retries", plan.attempts.saturating_sub(1).to_string()),
        (
            "worst_case_attempts",
            plan.worst_case_attempts().to_string(),
        ),
        ("worst_case_ns", plan.worst_case.as_nanos().to_string()),
        (
            "worst_case_total_ns",
            plan.worst_case_total.as_nanos().to_string(),
        ),
        ("within_sla", plan.over_sla_by().is_none().to_string()),
        (
            "over_sla_by_ns",
            plan.over_sla_by()
                .unwrap_or_default()
                .as_nanos()
                .to_string(),
        ),
        ("attempts_within_sla", plan.attempts_within_sla.to_string()),
        (
            "retries_within_sla",
            plan.attempts_within_sla.saturating_sub(1).to_string(),
        ),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("  \"{key}\": {value}"))
        .collect();
    format!("{{\n{}\n}}", body.join(",\n"))
}

/// "2 attempts (1 original + 1 retry)"
fn attempts_phrase(n: u64) -> String {
    let noun = if n == 1 { "attempt" } else { "attempts" };
    format!("{n} {noun} ({})", split_phrase(n))
}

/// "1 original + 1 retry" for `n >= 1` attempts.
fn split_phrase(n: u64) -> String {
    let retries = n - 1;
    let noun = if retries == 1 { "retry" } else { "retries" };
    format!("1 original + {retries} {noun}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::plan;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn seed_example_lines() {
        let lines = text(&plan(ms(5_000), ms(500), ms(2_000), ms(1_000)).unwrap());
        assert_eq!(
            lines,
            [
                "available = SLA - overhead = 5s - 500ms = 4.5s",
                "per-attempt cost = timeout = 2s",
                "attempts that fit = floor(4.5s / 2s) = 2",
                "answer: 2 attempts (1 original + 1 retry)",
                "worst case with backoff = 2 x 2s + 1 x 1s = 5s (+ overhead 500ms = 5.5s)",
                "warning: worst case 5.5s is over the SLA by 500ms",
                "attempts within the SLA = largest n with n x 2s + (n - 1) x 1s <= 4.5s = 1 (1 original + 0 retries)",
            ]
        );
    }

    #[test]
    fn fitting_plan_says_ok() {
        let lines = text(&plan(ms(10_000), ms(0), ms(2_000), ms(500)).unwrap());
        assert_eq!(lines[3], "answer: 5 attempts (1 original + 4 retries)");
        assert_eq!(lines[5], "warning: worst case 12s is over the SLA by 2s",);
        let lines = text(&plan(ms(5_000), ms(500), ms(2_000), ms(0)).unwrap());
        assert_eq!(
            lines[5],
            "ok: worst case 4.5s is within the SLA (500ms to spare)"
        );
    }

    #[test]
    fn nothing_fits() {
        let lines = text(&plan(ms(1_000), ms(0), ms(2_000), ms(0)).unwrap());
        assert_eq!(
            lines[3],
            "answer: no attempt fits: the timeout 2s is longer than the 1s available"
        );
        assert!(lines[6].ends_with("<= 1s = 0"), "{}", lines[6]);
    }

    #[test]
    fn json_object() {
        let out = json(&plan(ms(5_000), ms(500), ms(2_000), ms(1_000)).unwrap());
        assert!(out.starts_with("{\n  \"sla_ns\": 5000000000,\n"), "{out}");
        assert!(out.contains("\"attempts\": 2,"), "{out}");
        assert!(out.contains("\"within_sla\": false,"), "{out}");
        assert!(out.contains("\"over_sla_by_ns\": 500000000,"), "{out}");
        assert!(out.ends_with("\"retries_within_sla\": 0\n}"), "{out}");
    }
}
