//! Mistakes in a scenario file are errors that name the file, the line and the key;
//! none of them panics.

use rampart_sim::{builtin, builtin_names, Scenario, ScenarioError};

/// A small valid scenario; each test breaks one line of it.
const BASE: &str = r#"[scenario]
name = "small"
duration = "30s"

[service]
workers = 10
accept_timeout = "1s"

[traffic]
rate = 20

[kinds.checkout]
share = 1.0
calls = ["payment"]
patience = "5s"

[dependencies.payment]
latency = "200ms"

[[dependencies.payment.changes]]
at = "10s"
latency = "5s"

[[runs]]
name = "plain"

[[runs]]
name = "defended"
config = '''
[[dependencies.payment.policies]]
policy = "timeout"
duration = "2s"
'''

[runs.fallbacks.payment]
kind = "queue"
label = "order pending"
"#;

fn parse_with(from: &str, to: &str) -> ScenarioError {
    assert!(BASE.contains(from), "the base has no `{from}`");
    Scenario::parse(&BASE.replacen(from, to, 1), "shop.toml").expect_err("the mistake is found")
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle");
    text[..at].matches('\n').count() + 1
}

#[test]
fn the_base_is_valid() {
    let scenario = Scenario::parse(BASE, "shop.toml").expect("valid");
    assert_eq!(scenario.runs.len(), 2);
    assert_eq!(
        scenario.incident(),
        Some((
            std::time::Duration::from_secs(10),
            std::time::Duration::from_secs(30)
        ))
    );
}

#[test]
fn an_unknown_key_names_its_line_and_path() {
    let e = parse_with("rate = 20", "rate = 20\nburst_size = 3");
    assert_eq!(e.origin(), "shop.toml");
    assert_eq!(e.line(), Some(line_of(BASE, "rate = 20") + 1), "{e}");
    assert_eq!(e.key_path(), Some("traffic.burst_size"), "{e}");
    assert!(e.message().contains("unknown field `burst_size`"), "{e}");
}

#[test]
fn an_unknown_key_in_an_array_of_tables_has_its_index() {
    let e = parse_with("at = \"10s\"", "at = \"10s\"\nlatncy = \"5s\"");
    assert_eq!(
        e.key_path(),
        Some("dependencies.payment.changes[0].latncy"),
        "{e}"
    );
    assert_eq!(e.line(), Some(line_of(BASE, "at = \"10s\"") + 1), "{e}");
}

#[test]
fn a_negative_rate_is_refused_at_its_line() {
    let e = parse_with("rate = 20", "rate = -5");
    assert_eq!(e.line(), Some(line_of(BASE, "rate = 20")), "{e}");
    assert_eq!(e.key_path(), Some("traffic.rate"), "{e}");
    assert!(e.message().contains("positive"), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("shop.toml:{}:", line_of(BASE, "rate = 20"))),
        "{e}"
    );
}

#[test]
fn a_negative_duration_is_refused_at_its_line() {
    let e = parse_with("patience = \"5s\"", "patience = \"-5s\"");
    assert_eq!(e.line(), Some(line_of(BASE, "patience")), "{e}");
    assert_eq!(e.key_path(), Some("kinds.checkout.patience"), "{e}");
}

#[test]
fn a_call_to_a_dependency_that_does_not_exist() {
    let e = parse_with("calls = [\"payment\"]", "calls = [\"paymnet\"]");
    assert_eq!(e.line(), Some(line_of(BASE, "calls")), "{e}");
    assert_eq!(e.key_path(), Some("kinds.checkout.calls[0]"), "{e}");
    assert!(
        e.message().contains("no dependency named `paymnet`") && e.message().contains("payment"),
        "{e}"
    );
}

#[test]
fn a_configuration_naming_a_dependency_that_does_not_exist() {
    let e = parse_with(
        "[[dependencies.payment.policies]]",
        "[[dependencies.paymnet.policies]]",
    );
    // The line in the scenario file, inside the inline configuration.
    assert_eq!(
        e.line(),
        Some(line_of(BASE, "[[dependencies.payment.policies]]")),
        "{e}"
    );
    assert_eq!(
        e.key_path(),
        Some("runs[1].config: dependencies.paymnet"),
        "{e}"
    );
}

#[test]
fn a_mistake_inside_an_inline_configuration_is_placed_on_the_scenarios_lines() {
    let e = parse_with("duration = \"2s\"", "duration = \"0s\"");
    assert_eq!(e.line(), Some(line_of(BASE, "duration = \"2s\"")), "{e}");
    assert!(
        e.key_path()
            .is_some_and(|k| k.starts_with("runs[1].config: dependencies.payment.policies[0]")),
        "{e}"
    );
}

#[test]
fn a_fallback_for_a_dependency_that_does_not_exist() {
    let e = parse_with("[runs.fallbacks.payment]", "[runs.fallbacks.paymnet]");
    assert_eq!(e.key_path(), Some("runs[1].fallbacks.paymnet"), "{e}");
    assert!(e.line().is_some(), "{e}");
}

#[test]
fn shares_must_add_up_and_stay_within_0_and_1() {
    let e = parse_with("share = 1.0", "share = 0.5");
    assert_eq!(e.key_path(), Some("kinds"), "{e}");
    let e = parse_with("share = 1.0", "share = 1.5");
    assert_eq!(e.key_path(), Some("kinds.checkout.share"), "{e}");
    assert_eq!(e.line(), Some(line_of(BASE, "share")), "{e}");
}

#[test]
fn other_values_that_cannot_work() {
    let cases = [
        ("workers = 10", "workers = 0", "service.workers"),
        (
            "latency = \"5s\"",
            "latency = \"5s\"\nerror_rate = 2.0",
            "dependencies.payment.changes[0].error_rate",
        ),
        (
            "at = \"10s\"",
            "at = \"ten\"",
            "dependencies.payment.changes[0].at",
        ),
        (
            "kind = \"queue\"",
            "kind = \"queued\"",
            "runs[1].fallbacks.payment.kind",
        ),
        (
            "latency = \"200ms\"",
            "latency = \"200ms\"\np99 = \"100ms\"",
            "dependencies.payment.p99",
        ),
        (
            "latency = \"200ms\"",
            "latency = \"0s\"\np99 = \"100ms\"",
            "dependencies.payment.latency",
        ),
        ("rate = 20", "rate = 1e9", "traffic.rate"),
        ("rate = 20", "rate = 1e-300", "traffic.rate"),
        ("rate = 20", "rate = 20\nburst = 2000000", "traffic.burst"),
        (
            "duration = \"30s\"",
            "duration = \"400days\"",
            "scenario.duration",
        ),
    ];
    for (from, to, key) in cases {
        let e = parse_with(from, to);
        assert_eq!(e.key_path(), Some(key), "{from} -> {to}: {e}");
        assert!(e.line().is_some(), "{e}");
    }
}

#[test]
fn a_missing_key_is_named() {
    let e = parse_with("patience = \"5s\"\n", "");
    assert_eq!(e.key_path(), Some("kinds.checkout.patience"), "{e}");
}

#[test]
fn not_toml_at_all() {
    let e = Scenario::parse("[scenario\nname = 1", "broken.toml").expect_err("not TOML");
    assert_eq!(e.line(), Some(1), "{e}");
}

#[test]
fn files_that_cannot_be_read_and_unknown_built_ins() {
    let e = Scenario::read(std::path::Path::new("no/such/scenario.toml")).expect_err("missing");
    assert!(
        e.to_string()
            .starts_with("no/such/scenario.toml: cannot read the file"),
        "{e}"
    );
    let e = builtin("checkout").expect_err("no such built-in");
    assert!(e.message().contains("checkout-outage"), "{e}");
}

#[test]
fn every_built_in_is_valid() {
    for name in builtin_names() {
        let scenario = builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(scenario.name, name);
        assert!(scenario.runs.len() >= 2, "{name} compares runs");
    }
}

#[test]
fn a_configuration_file_beside_the_scenario() {
    let dir = std::env::temp_dir().join(format!("rampart-sim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    std::fs::write(
        dir.join("defenses.toml"),
        "[[dependencies.payment.policies]]\npolicy = \"bulkhead\"\nmax_concurrent = 0\n",
    )
    .expect("written");
    let text = BASE.replace(
        "config = '''\n[[dependencies.payment.policies]]\npolicy = \"timeout\"\nduration = \"2s\"\n'''",
        "config_file = \"defenses.toml\"",
    );
    std::fs::write(dir.join("scenario.toml"), text).expect("written");
    let e = Scenario::read(&dir.join("scenario.toml")).expect_err("max_concurrent = 0");
    assert!(e.origin().ends_with("defenses.toml"), "{e}");
    assert_eq!(e.line(), Some(3), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
