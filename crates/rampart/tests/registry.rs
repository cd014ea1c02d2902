//! The configuration registry: the shipped example builds the pipelines it describes;
//! every mistake in a file is an error naming the file, the line and the key.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use rampart::event::Recorder;
use rampart::registry::{ConfigFile, FileError, Registry, RegistryConfig};
use rampart::Error;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/shop.toml")
}

/// The error `text` is refused with.
fn refused(text: &str) -> FileError {
    Registry::from_toml(text, "test.toml").expect_err("the file should be refused")
}

/// The error is at `line` and names `key`, and its message says `says`.
fn assert_at(err: &FileError, line: usize, key: &str, says: &str) {
    assert_eq!(err.origin(), "test.toml", "{err}");
    assert_eq!(err.line(), Some(line), "{err}");
    assert_eq!(err.key_path(), Some(key), "{err}");
    assert!(err.message().contains(says), "{err}");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("test.toml:{line}:")) && shown.contains(key),
        "{shown}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_shipped_example_builds_the_seeds_pipelines() {
    let registry = Registry::from_file(example()).expect("the example is valid");
    let names: Vec<_> = registry.pipelines().map(|(n, _)| n).collect();
    assert_eq!(names, ["inventory", "notification", "payment"]);

    let payment = registry.pipeline("payment").unwrap();
    assert_eq!(payment.name(), "payment");
    assert_eq!(
        payment.bulkheads().next().unwrap().config().max_concurrent,
        20
    );
    assert_eq!(payment.circuit_breakers().count(), 1);
    let ok: Result<u32, Error<()>> = payment.call(|| async { Ok(1) }).await;
    assert_eq!(ok, Ok(1));

    let dep = &registry.config().dependencies["payment"];
    assert_eq!(dep.sla, Some(Duration::from_secs(15)));
    assert!(!dep.idempotent && dep.idempotency_key);
    assert_eq!(dep.client.pool_size, Some(20));
    assert_eq!(dep.client.pool, Some(Duration::from_millis(500)));
    assert!(registry.config().dependencies["inventory"].idempotent);
}

#[test]
fn a_missing_dependency_is_an_error_listing_the_names_there_are() {
    let registry = Registry::from_file(example()).unwrap();
    let err = registry.pipeline("paymnet").unwrap_err();
    assert_eq!(err.name(), "paymnet");
    assert_eq!(
        err.to_string(),
        "no dependency named `paymnet` (there are: inventory, notification, payment)"
    );
}

#[test]
fn lines_and_policies_can_be_found_for_reports() {
    let text = std::fs::read_to_string(example()).unwrap();
    let file = ConfigFile::parse(&text, "shop.toml").unwrap();
    let line = file.dependency_line("payment").unwrap();
    assert_eq!(text.lines().nth(line - 1), Some("[dependencies.payment]"));
    let line = file.policy_line("payment", 1).unwrap();
    assert_eq!(
        text.lines().nth(line - 1),
        Some("[[dependencies.payment.policies]]")
    );
    assert_eq!(file.policy_line("payment", 9), None);
}

#[test]
fn malformed_toml_names_the_line() {
    let err = refused("[dependencies.payment]\nsla = \"5s\n");
    assert_eq!(err.line(), Some(2), "{err}");
    assert!(err.to_string().starts_with("test.toml:2:"), "{err}");
}

#[test]
fn an_unknown_key_of_a_dependency_names_it() {
    let err = refused("[dependencies.payment]\nsla = \"5s\"\nretries = 3\n");
    assert_at(
        &err,
        3,
        "dependencies.payment.retries",
        "unknown field `retries`",
    );
}

#[test]
fn an_unknown_top_level_table_names_it() {
    let err = refused("[dependency.payment]\nsla = \"5s\"\n");
    assert_eq!(err.line(), Some(1), "{err}");
    assert!(
        err.message().contains("unknown field `dependency`"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_in_a_policy_names_the_policy_and_the_key() {
    let err = refused(
        "[dependencies.payment]\n\n[[dependencies.payment.policies]]\npolicy = \"timeout\"\n\
         duration = \"2s\"\n\n[[dependencies.payment.policies]]\npolicy = \"bulkhead\"\n\
         max_concurent = 20\n",
    );
    assert_at(
        &err,
        9,
        "dependencies.payment.policies[1].max_concurent",
        "unknown field `max_concurent`",
    );
}

#[test]
fn an_unknown_policy_names_the_policy_key() {
    let err = refused("[[dependencies.payment.policies]]\npolicy = \"bulkhed\"\n");
    assert_at(
        &err,
        2,
        "dependencies.payment.policies[0].policy",
        "unknown variant `bulkhed`",
    );
}

#[test]
fn a_wrong_type_in_a_policy_names_the_key() {
    let err = refused(
        "[[dependencies.payment.policies]]\npolicy = \"bulkhead\"\nmax_concurrent = \"twenty\"\n",
    );
    assert_at(
        &err,
        3,
        "dependencies.payment.policies[0].max_concurrent",
        "invalid type",
    );
}

#[test]
fn negative_durations_are_refused_where_they_are_written() {
    let err = refused("[dependencies.payment]\nidempotent = true\nsla = \"-2s\"\n");
    assert_at(&err, 3, "dependencies.payment.sla", "");

    let err = refused(
        "[dependencies.payment]\n[[dependencies.payment.policies]]\npolicy = \"timeout\"\n\
         duration = \"-2s\"\n",
    );
    assert_eq!(err.line(), Some(4), "{err}");
    assert_eq!(
        err.key_path(),
        Some("dependencies.payment.policies[0].duration"),
        "{err}"
    );

    let err = refused("[dependencies.payment]\nclient = { connect = \"-1s\" }\n");
    assert_eq!(err.line(), Some(2), "{err}");
}

#[test]
fn out_of_range_values_name_the_line_and_key() {
    let err = refused(
        "[dependencies.payment]\nsla = \"5s\"\n\n[[dependencies.payment.policies]]\n\
         policy = \"retry\"\n\n[[dependencies.payment.policies]]\npolicy = \"circuit_breaker\"\n\
         window = { kind = \"count\", size = 10 }\nfailure_rate = 1.5\n",
    );
    assert_at(
        &err,
        10,
        "dependencies.payment.policies[1].failure_rate",
        "between 0 and 1",
    );

    let err = refused(
        "[dependencies.inventory]\npolicies = [\n  { policy = \"timeout\", duration = \"1s\" },\n  \
         { policy = \"bulkhead\", max_concurrent = 0 },\n]\n",
    );
    assert_at(
        &err,
        4,
        "dependencies.inventory.policies[1].max_concurrent",
        "",
    );
}

#[test]
fn within_and_health_must_name_dependencies_of_the_file() {
    let err = refused("[dependencies.a]\nwithin = \"gateway\"\n");
    assert_at(
        &err,
        2,
        "dependencies.a.within",
        "no dependency named `gateway`",
    );

    let err = refused("[dependencies.a]\nwithin = \"b\"\n[dependencies.b]\nwithin = \"a\"\n");
    assert!(err.message().contains("circle"), "{err}");

    let err = refused("[dependencies.a]\n\n[health]\nreadiness = [\"a\", \"b\"]\n");
    assert_at(&err, 4, "health.readiness", "no dependency named `b`");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let err = Registry::from_file("/nonexistent/rampart.toml").unwrap_err();
    assert!(err.message().starts_with("cannot read the file"), "{err}");
    assert_eq!(err.line(), None);
}

#[tokio::test(start_paused = true)]
async fn a_registry_built_with_a_listener_reports_every_pipelines_events() {
    let recorder = Recorder::default();
    let file = ConfigFile::parse(
        "[[dependencies.a.policies]]\npolicy = \"timeout\"\nduration = \"1s\"\n",
        "t.toml",
    )
    .unwrap();
    let registry = Registry::builder()
        .listener(recorder.clone())
        .build(&file)
        .unwrap();
    let slow: Result<(), Error<()>> = registry
        .pipeline("a")
        .unwrap()
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
    assert!(matches!(slow, Err(Error::Rejected(r)) if r.is_timeout()));
    assert!(!recorder.lines().is_empty());
}

#[test]
fn configuration_made_in_code_names_the_dependency_in_errors() {
    let text = "[[dependencies.a.policies]]\npolicy = \"bulkhead\"\nmax_concurrent = 0\n";
    let config: RegistryConfig = ConfigFile::parse(text, "t.toml").unwrap().config().clone();
    let err = Registry::builder().build_from(config).unwrap_err();
    assert_eq!(err.field(), "dependencies.a.bulkhead.max_concurrent");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the text, reading it returns (an error or a registry); it never panics.
    #[test]
    fn any_text_is_refused_or_read_never_a_panic(text in "\\PC{0,200}") {
        let _ = Registry::from_toml(&text, "fuzz.toml");
    }

    /// Lines of plausible keys and values, in any order: still no panic.
    #[test]
    fn plausible_files_never_panic(lines in proptest::collection::vec(
        prop_oneof![
            Just("[dependencies.a]".to_owned()),
            Just("[[dependencies.a.policies]]".to_owned()),
            Just("[health]".to_owned()),
            Just("policy = \"bulkhead\"".to_owned()),
            Just("policy = \"timeout\"".to_owned()),
            Just("duration = \"-1s\"".to_owned()),
            Just("max_concurrent = 0".to_owned()),
            Just("within = \"a\"".to_owned()),
            Just("readiness = [\"a\"]".to_owned()),
            "[a-z_]{1,8} = [0-9\"-]{0,4}",
        ],
        0..12,
    )) {
        let _ = Registry::from_toml(&lines.join("\n"), "fuzz.toml");
    }
}
