//! Each trap, built from the seeds' numbers, found with its arithmetic; the same
//! configurations done right, and the shipped example, give no finding.

use super::*;

/// The findings in `text`, which must build.
fn findings(text: &str) -> Vec<Finding> {
    let file = ConfigFile::parse(text, "t.toml").expect("the file parses");
    Registry::builder().build(&file).expect("the file builds");
    lint(&file)
}

/// The only finding of `rule`, with its printed form.
fn only(found: &[Finding], rule: Rule) -> (Finding, String) {
    let of_rule: Vec<_> = found.iter().filter(|f| f.rule == rule).collect();
    assert_eq!(of_rule.len(), 1, "{found:#?}");
    (of_rule[0].clone(), of_rule[0].to_string())
}

fn rules(found: &[Finding]) -> Vec<Rule> {
    found.iter().map(|f| f.rule).collect()
}

/// A payment dependency: `policies` after a bulkhead, with `extra` keys.
fn payment(extra: &str, policies: &str) -> String {
    format!("[dependencies.payment]\n{extra}\n{policies}")
}

const RETRY_3: &str = "[[dependencies.payment.policies]]\npolicy = \"retry\"\n\
    max_attempts = 3\nbackoff = { kind = \"exponential\", initial = \"1s\", factor = 2.0, max = \"2s\" }\n\
    jitter = \"full\"\n";

fn timeout(d: &str) -> String {
    format!("[[dependencies.payment.policies]]\npolicy = \"timeout\"\nduration = \"{d}\"\n")
}

#[test]
fn the_seeds_retry_budget_trap_5s_sla_3_attempts_of_2s() {
    let found = findings(&payment(
        "sla = \"5s\"",
        &(RETRY_3.to_owned() + &timeout("2s")),
    ));
    let (finding, shown) = only(&found, Rule::RetryBudget);
    assert_eq!(finding.dependency, "payment");
    assert_eq!(finding.line, Some(3), "the retry's table");
    assert!(
        shown.contains("3 attempts x 2s + backoff 1s + 2s = 9s > SLA 5s"),
        "{shown}"
    );
    assert!(
        shown.contains("at most 2 attempts fit (1 retry)"),
        "{shown}"
    );
    assert_eq!(rules(&found), [Rule::RetryBudget]);
}

#[test]
fn the_retry_budget_done_right_is_clean() {
    // 2 attempts: 2s + 1s + 2s = 5s, within the 5s SLA.
    let retry = RETRY_3.replace("max_attempts = 3", "max_attempts = 2");
    assert_eq!(
        findings(&payment("sla = \"5s\"", &(retry + &timeout("2s")))),
        []
    );
    // 3 attempts, but the whole call is cut at 5s.
    let policies = timeout("5s") + RETRY_3 + &timeout("2s");
    assert_eq!(findings(&payment("sla = \"5s\"", &policies)), []);
}

#[test]
fn retries_with_no_timeout_on_an_attempt_outlast_any_sla() {
    let found = findings(&payment("sla = \"5s\"", RETRY_3));
    let (_, shown) = only(&found, Rule::RetryBudget);
    assert!(shown.contains("the worst case has no limit"), "{shown}");
}

/// The seeds' cascade: user 5s -> service A 4s -> service B 3s -> service C 2s.
fn cascade(b: &str) -> String {
    let dep = |name: &str, within: Option<&str>, d: &str| {
        let within = within.map_or(String::new(), |w| format!("within = \"{w}\"\n"));
        format!(
            "[dependencies.{name}]\n{within}[[dependencies.{name}.policies]]\n\
             policy = \"timeout\"\nduration = \"{d}\"\n\n"
        )
    };
    dep("gateway", None, "5s")
        + &dep("service-a", Some("gateway"), "4s")
        + &dep("service-b", Some("service-a"), b)
        + &dep("service-c", Some("service-b"), "2s")
}

#[test]
fn the_seeds_timeout_cascade_done_right_is_clean() {
    assert_eq!(findings(&cascade("3s")), []);
}

#[test]
fn the_seeds_timeout_cascade_done_wrong_is_found() {
    let found = findings(&cascade("4s"));
    let (finding, shown) = only(&found, Rule::TimeoutCascade);
    assert_eq!(finding.dependency, "service-b");
    assert!(
        shown.contains("called within service-a, whose attempt gives up after 4s"),
        "{shown}"
    );
    assert!(shown.contains("timeout 4s, not below 4s"), "{shown}");
}

#[test]
fn retries_of_a_child_count_against_its_callers_attempt() {
    // service-b: 2 attempts of 2s with 1s between: 5s, over service-a's 4s.
    let text = cascade("3s").replace(
        "[dependencies.service-b]\nwithin = \"service-a\"\n",
        "[dependencies.service-b]\nwithin = \"service-a\"\n[[dependencies.service-b.policies]]\n\
         policy = \"retry\"\nmax_attempts = 2\nbackoff = { kind = \"constant\", delay = \"1s\" }\n",
    );
    let text = text
        .replace("duration = \"2s\"", "duration = \"1s\"") // service-c
        .replace("duration = \"3s\"", "duration = \"2s\""); // service-b
    let found = findings(&text);
    let (_, shown) = only(&found, Rule::TimeoutCascade);
    assert!(
        shown.contains("2 attempts x 2s + backoff 1s = 5s"),
        "{shown}"
    );
}

#[test]
fn an_inner_timeout_not_shorter_than_the_outer_is_found() {
    let policies = timeout("2s") + RETRY_3 + &timeout("3s");
    let found = findings(&payment("", &policies));
    let (finding, shown) = only(&found, Rule::TimeoutCascade);
    assert_eq!(finding.policy, Some(2));
    assert!(shown.contains("3s inside policy 0: 2s"), "{shown}");
}

#[test]
fn the_seeds_bulkhead_10_with_a_pool_of_5() {
    let policies =
        "[[dependencies.payment.policies]]\npolicy = \"bulkhead\"\nmax_concurrent = 10\n";
    let found = findings(&payment("client = { pool_size = 5 }", policies));
    let (finding, shown) = only(&found, Rule::PoolSmallerThanBulkhead);
    assert_eq!(finding.line, Some(3));
    assert!(
        shown.contains("the bulkhead lets 10 calls through, the pool has 5 connections"),
        "{shown}"
    );
    assert_eq!(
        findings(&payment("client = { pool_size = 10 }", policies)),
        []
    );
}

#[test]
fn the_seeds_threshold_5_with_3_attempts_per_request() {
    let breaker = "[[dependencies.payment.policies]]\npolicy = \"circuit_breaker\"\n\
        window = { kind = \"consecutive\", failures = 5 }\n";
    let inside = RETRY_3.to_owned() + breaker;
    let found = findings(&payment("", &inside));
    let (finding, shown) = only(&found, Rule::BreakerCountsAttempts);
    assert_eq!(finding.policy, Some(1));
    assert!(
        shown.contains(
            "threshold 5 failures / 3 attempts per request: opens after 2 failing requests, not 5"
        ),
        "{shown}"
    );

    let outside = breaker.to_owned() + RETRY_3;
    assert_eq!(findings(&payment("", &outside)), []);
}

#[test]
fn a_rate_window_inside_the_retry_is_found_too() {
    let breaker = "[[dependencies.payment.policies]]\npolicy = \"circuit_breaker\"\n\
        window = { kind = \"count\", size = 10 }\nfailure_rate = 0.5\n";
    let found = findings(&payment("", &(RETRY_3.to_owned() + breaker)));
    let (_, shown) = only(&found, Rule::BreakerCountsAttempts);
    assert!(shown.contains("the 50% failure rate is reached by 3x fewer requests, and the 10 minimum calls by 4 requests"), "{shown}");
}

#[test]
fn retries_without_jitter_are_found() {
    let retry = RETRY_3.replace("jitter = \"full\"", "jitter = \"none\"");
    let found = findings(&payment("", &retry));
    let (_, shown) = only(&found, Rule::RetryWithoutJitter);
    assert!(
        shown.contains("retries together after 1s, then 2s"),
        "{shown}"
    );
}

#[test]
fn a_non_idempotent_retry_needs_a_key() {
    let found = findings(&payment("idempotent = false", RETRY_3));
    let (_, shown) = only(&found, Rule::NonIdempotentRetry);
    assert!(shown.contains("up to 3 runs per request"), "{shown}");
    let with_key = payment("idempotent = false\nidempotency_key = true", RETRY_3);
    assert_eq!(findings(&with_key), []);
    // Not retried at all: nothing to say.
    assert_eq!(findings(&payment("idempotent = false", &timeout("2s"))), []);
}

#[test]
fn probes_that_call_dependencies_are_found() {
    let breaker = "[[dependencies.payment.policies]]\npolicy = \"circuit_breaker\"\n";
    let text = payment("", breaker)
        + "[dependencies.inventory]\n\n[health]\nliveness = [\"inventory\"]\nreadiness = [\"payment\", \"inventory\"]\n";
    let found = findings(&text);
    let (live, _) = only(&found, Rule::LivenessCallsDependency);
    assert_eq!(
        (live.dependency.as_str(), live.line),
        ("inventory", Some(7))
    );
    let (ready, shown) = only(&found, Rule::ReadinessBehindBreaker);
    assert_eq!(ready.dependency, "payment");
    assert!(shown.contains("takes the whole fleet out"), "{shown}");
}

#[test]
fn the_shipped_example_is_clean() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/shop.toml");
    match check(&path) {
        Checked::Findings(found) => assert_eq!(found, []),
        Checked::Unusable(e) => panic!("{e}"),
    }
}

#[test]
fn a_file_that_does_not_build_is_unusable() {
    let dir = std::env::temp_dir().join(format!("rampart-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[dependencies.a.policies]]\npolicy = \"bulkhead\"\nmax_concurrent = 0\n",
    )
    .unwrap();
    match check(&path) {
        Checked::Unusable(e) => assert_eq!(e.line(), Some(3), "{e}"),
        Checked::Findings(f) => panic!("built: {f:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
