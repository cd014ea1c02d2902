//! Configuration: bad values are a `ConfigError` naming the field (from code and from
//! TOML), never a panic; a valid TOML file builds a pipeline that does what it says;
//! unknown keys are refused when the file is read.

mod support;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rampart::clock::ManualClock;
use rampart::hedge::HedgeConfig;
use rampart::pipeline::{PipelineConfig, PolicyConfig, MAX_POLICIES};
use rampart::retry::{Backoff, Jitter, RetryBudgetConfig, RetryConfig};
use rampart::timeout::TimeoutConfig;
use rampart::{ConfigError, Error, Pipeline, PipelineBuilder, RejectionKind};
use support::{kind, ms, secs};
use tokio::time::Instant;

/// The error `builder` is refused with.
fn refused(builder: PipelineBuilder) -> ConfigError {
    builder
        .build()
        .expect_err("the configuration should be refused")
}

/// The error a TOML pipeline (well-formed, but with a bad value) is refused with.
fn refused_toml(src: &str) -> ConfigError {
    let config: PipelineConfig = toml::from_str(src).expect("the TOML itself is well-formed");
    Pipeline::from_config("from-toml", &config).expect_err("the configuration should be refused")
}

/// The error names exactly `field`, and so does its message.
fn assert_names(err: &ConfigError, field: &str) {
    assert_eq!(err.field(), field, "{err}");
    assert!(err.to_string().contains(field), "{err}");
}

/// A retry that cannot be refused for anything but what a test changes.
fn retry() -> RetryConfig {
    RetryConfig::constant(ms(100)).with_jitter(Jitter::None)
}

// ---------------------------------------------------------------------------------------
// From code: `Pipeline::builder(..).build()`
// ---------------------------------------------------------------------------------------

#[test]
fn zero_timeout_names_timeout_duration() {
    let err = refused(Pipeline::builder("p").timeout(Duration::ZERO));
    assert_names(&err, "timeout.duration");
}

#[test]
fn zero_constant_backoff_delay_names_retry_backoff_delay() {
    let err = refused(Pipeline::builder("p").retry(RetryConfig::constant(Duration::ZERO)));
    assert_names(&err, "retry.backoff.delay");
}

#[test]
fn zero_exponential_initial_delay_names_retry_backoff_initial() {
    let err = refused(Pipeline::builder("p").retry(RetryConfig::exponential(Duration::ZERO)));
    assert_names(&err, "retry.backoff.initial");
}

#[test]
fn exponential_factor_below_one_names_retry_backoff_factor() {
    let cfg = RetryConfig::exponential(ms(100)).with_factor(0.5);
    let err = refused(Pipeline::builder("p").retry(cfg));
    assert_names(&err, "retry.backoff.factor");
}

#[test]
fn exponential_factor_nan_names_retry_backoff_factor() {
    let cfg = RetryConfig::exponential(ms(100)).with_factor(f64::NAN);
    let err = refused(Pipeline::builder("p").retry(cfg));
    assert_names(&err, "retry.backoff.factor");
}

#[test]
fn exponential_factor_infinite_names_retry_backoff_factor() {
    let cfg = RetryConfig::exponential(ms(100)).with_factor(f64::INFINITY);
    let err = refused(Pipeline::builder("p").retry(cfg));
    assert_names(&err, "retry.backoff.factor");
}

#[test]
fn backoff_cap_below_initial_names_retry_backoff_max() {
    let cfg = RetryConfig::exponential(secs(2)).with_max_delay(secs(1));
    let err = refused(Pipeline::builder("p").retry(cfg));
    assert_names(&err, "retry.backoff.max");
}

#[test]
fn jitter_ratio_outside_zero_one_names_retry_jitter() {
    for ratio in [1.5, -0.1, f64::NAN, f64::INFINITY] {
        let cfg = retry().with_jitter(Jitter::Proportional(ratio));
        let err = refused(Pipeline::builder("p").retry(cfg));
        assert_names(&err, "retry.jitter");
    }
}

#[test]
fn jitter_ratio_at_the_bounds_is_accepted() {
    for ratio in [0.0, 1.0] {
        let cfg = retry().with_jitter(Jitter::Proportional(ratio));
        assert!(Pipeline::builder("p").retry(cfg).build().is_ok(), "{ratio}");
    }
}

#[test]
fn zero_max_attempts_names_retry_max_attempts() {
    let err = refused(Pipeline::builder("p").retry(retry().with_max_attempts(0)));
    assert_names(&err, "retry.max_attempts");
}

#[test]
fn zero_max_elapsed_names_retry_max_elapsed() {
    let err = refused(Pipeline::builder("p").retry(retry().with_max_elapsed(Duration::ZERO)));
    assert_names(&err, "retry.max_elapsed");
}

#[test]
fn zero_max_retry_after_names_retry_max_retry_after() {
    let cfg = retry().with_max_retry_after(Duration::ZERO);
    let err = refused(Pipeline::builder("p").retry(cfg));
    assert_names(&err, "retry.max_retry_after");
}

#[test]
fn hedge_with_fewer_than_two_attempts_names_hedge_max_attempts() {
    for n in [0, 1] {
        let cfg = HedgeConfig::fixed(ms(50)).with_max_attempts(n);
        let err = refused(Pipeline::builder("p").hedge(cfg));
        assert_names(&err, "hedge.max_attempts");
    }
}

#[test]
fn zero_hedge_delay_names_hedge_delay() {
    let err = refused(Pipeline::builder("p").hedge(HedgeConfig::fixed(Duration::ZERO)));
    assert_names(&err, "hedge.delay");
}

#[test]
fn more_than_max_policies_names_policies() {
    let mut b = Pipeline::builder("p");
    for _ in 0..=MAX_POLICIES {
        b = b.timeout(secs(1));
    }
    let err = refused(b);
    assert_names(&err, "policies");
}

#[test]
fn exactly_max_policies_is_accepted() {
    let mut b = Pipeline::builder("p");
    for _ in 0..MAX_POLICIES {
        b = b.timeout(secs(1));
    }
    assert!(b.build().is_ok());
}

#[test]
fn bad_budget_ratio_names_budget_ratio() {
    for ratio in [-0.5, f64::NAN, f64::INFINITY, 1000.5] {
        let b = Pipeline::builder("p")
            .retry(retry())
            .retry_budget(RetryBudgetConfig::new().with_ratio(ratio));
        let err = refused(b);
        assert_names(&err, "retry_budget.ratio");
    }
}

#[test]
fn zero_budget_window_names_budget_window() {
    let b = Pipeline::builder("p")
        .retry(retry())
        .retry_budget(RetryBudgetConfig::new().with_window(Duration::ZERO));
    let err = refused(b);
    assert_names(&err, "retry_budget.window");
}

/// DESIGN: bad configuration is an error at build time. A budget that no policy draws
/// on yet is still part of the configuration (and a shared or later-edited pipeline
/// would use it), so a NaN ratio must not be accepted silently.
#[test]
fn bad_budget_ratio_is_refused_even_when_no_policy_uses_the_budget() {
    let b = Pipeline::builder("p")
        .timeout(secs(1))
        .retry_budget(RetryBudgetConfig::new().with_ratio(f64::NAN));
    let err = refused(b);
    assert_names(&err, "retry_budget.ratio");
}

#[test]
fn the_first_bad_policy_is_the_one_named() {
    let b = Pipeline::builder("p")
        .timeout(secs(1))
        .retry(retry().with_max_attempts(0))
        .timeout(Duration::ZERO);
    let err = refused(b);
    assert_names(&err, "retry.max_attempts");
}

#[test]
fn policy_config_is_validated_the_same_way_as_builder_methods() {
    let err = refused(
        Pipeline::builder("p").policy(PolicyConfig::Timeout(TimeoutConfig::new(Duration::ZERO))),
    );
    assert_names(&err, "timeout.duration");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the numbers, building never panics, and a pipeline that was accepted
    /// never panics when called either: it makes at most `max_attempts` attempts.
    #[test]
    fn any_retry_settings_build_or_refuse_without_panicking(
        initial in prop_oneof![Just(Duration::ZERO), Just(Duration::MAX), (0u64..20_000_000_000).prop_map(Duration::from_nanos)],
        max in prop_oneof![Just(Duration::ZERO), Just(Duration::MAX), (0u64..200_000_000_000).prop_map(Duration::from_nanos)],
        factor in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::MAX), Just(-1.0), -2.0f64..1e6],
        ratio in prop_oneof![Just(f64::NAN), -1.0f64..2.0],
        jitter in 0usize..5,
        max_attempts in 0u32..8,
        max_elapsed in prop_oneof![Just(None), Just(Some(Duration::ZERO)), Just(Some(Duration::MAX)), (1u64..100_000_000_000).prop_map(|n| Some(Duration::from_nanos(n)))],
    ) {
        let jitter = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated, Jitter::Proportional(ratio)][jitter];
        let mut cfg = RetryConfig::exponential(initial)
            .with_factor(factor)
            .with_max_delay(max)
            .with_jitter(jitter)
            .with_max_attempts(max_attempts)
            .with_seed(7);
        if let Some(e) = max_elapsed {
            cfg = cfg.with_max_elapsed(e);
        }
        let clock = ManualClock::new();
        let built = Pipeline::builder("p").clock(Arc::new(clock.clone())).retry(cfg).timeout(secs(3600)).build();
        match built {
            Err(err) => {
                prop_assert!(err.field().starts_with("retry."), "{}", err);
                prop_assert!(err.to_string().contains(err.field()));
            }
            Ok(p) => {
                let mut calls = 0u32;
                let res: Result<(), Error<&str>> = p.call_blocking(|| {
                    calls += 1;
                    Err("down")
                });
                prop_assert!(res.is_err());
                prop_assert!(calls >= 1 && calls <= max_attempts, "{} calls", calls);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// From TOML: `Pipeline::from_config`
// ---------------------------------------------------------------------------------------

#[test]
fn toml_zero_timeout_names_timeout_duration() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "timeout"
        duration = "0s"
        "#,
    );
    assert_names(&err, "timeout.duration");
}

#[test]
fn toml_zero_backoff_delay_names_retry_backoff_delay() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "retry"
        backoff = { kind = "constant", delay = "0ms" }
        "#,
    );
    assert_names(&err, "retry.backoff.delay");
}

#[test]
fn toml_factor_below_one_names_retry_backoff_factor() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "retry"
        backoff = { kind = "exponential", initial = "100ms", factor = 0.5, max = "10s" }
        "#,
    );
    assert_names(&err, "retry.backoff.factor");
}

#[test]
fn toml_nan_factor_names_retry_backoff_factor() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "retry"
        backoff = { kind = "exponential", initial = "100ms", factor = nan, max = "10s" }
        "#,
    );
    assert_names(&err, "retry.backoff.factor");
}

#[test]
fn toml_jitter_ratio_above_one_names_retry_jitter() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "retry"
        jitter = { proportional = 1.5 }
        "#,
    );
    assert_names(&err, "retry.jitter");
}

#[test]
fn toml_zero_max_attempts_names_retry_max_attempts() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "retry"
        max_attempts = 0
        "#,
    );
    assert_names(&err, "retry.max_attempts");
}

#[test]
fn toml_zero_max_elapsed_names_retry_max_elapsed() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "retry"
        max_elapsed = "0s"
        "#,
    );
    assert_names(&err, "retry.max_elapsed");
}

#[test]
fn toml_hedge_with_one_attempt_names_hedge_max_attempts() {
    let err = refused_toml(
        r#"
        [[policies]]
        policy = "hedge"
        delay = { fixed = "50ms" }
        max_attempts = 1
        "#,
    );
    assert_names(&err, "hedge.max_attempts");
}

#[test]
fn toml_too_many_policies_names_policies() {
    let one = "[[policies]]\npolicy = \"timeout\"\nduration = \"1s\"\n";
    let err = refused_toml(&one.repeat(MAX_POLICIES + 1));
    assert_names(&err, "policies");
}

#[test]
fn toml_bad_budget_ratio_names_budget_ratio() {
    let err = refused_toml(
        r#"
        [retry_budget]
        ratio = -0.5

        [[policies]]
        policy = "retry"
        "#,
    );
    assert_names(&err, "retry_budget.ratio");
}

const VALID: &str = r#"
# The seed's payment dependency: 5 s for the whole call, 3 tries, 2 s each.
[retry_budget]
ratio = 0.5
window = "30s"

[[policies]]
policy = "timeout"
duration = "5s"

[[policies]]
policy = "retry"
max_attempts = 3
jitter = "none"
backoff = { kind = "constant", delay = "500ms" }

[[policies]]
policy = "timeout"
duration = "2s"
"#;

fn valid() -> Pipeline {
    let config: PipelineConfig = toml::from_str(VALID).expect("valid TOML");
    Pipeline::from_config("payment", &config).expect("valid configuration")
}

#[test]
fn valid_toml_reads_as_the_same_config_built_in_code() {
    let config: PipelineConfig = toml::from_str(VALID).expect("valid TOML");
    let mut expected = PipelineConfig::default();
    expected.retry_budget = Some(
        RetryBudgetConfig::new()
            .with_ratio(0.5)
            .with_window(secs(30)),
    );
    expected.policies = vec![
        PolicyConfig::Timeout(TimeoutConfig::new(secs(5))),
        PolicyConfig::Retry(
            RetryConfig::new(Backoff::constant(ms(500)))
                .with_max_attempts(3)
                .with_jitter(Jitter::None),
        ),
        PolicyConfig::Timeout(TimeoutConfig::new(secs(2))),
    ];
    assert_eq!(config, expected);
}

#[tokio::test(start_paused = true)]
async fn valid_toml_retries_the_configured_number_of_times() {
    let p = valid();
    let start = Instant::now();
    let mut calls = 0;
    let res: Result<(), Error<&str>> = p
        .call(|| {
            calls += 1;
            async { Err("declined") }
        })
        .await;
    assert_eq!(res, Err(Error::Operation("declined")));
    assert_eq!(calls, 3);
    // Two waits of "500ms".
    assert_eq!(start.elapsed(), ms(1000));
}

#[tokio::test(start_paused = true)]
async fn valid_toml_durations_are_the_ones_written() {
    let p = valid();
    let start = Instant::now();
    let mut starts = Vec::new();
    let res: Result<(), Error<&str>> = p
        .call(|| {
            starts.push(start.elapsed());
            std::future::pending()
        })
        .await;
    // Attempts cut at "2s", a "500ms" wait between them; a third wait would end at the
    // "5s" deadline, so the call gives up at 4.5 s.
    assert_eq!(starts, [ms(0), ms(2500)]);
    assert_eq!(kind(&res), Some(RejectionKind::DeadlineExceeded));
    assert_eq!(start.elapsed(), ms(4500));
}

#[test]
fn empty_toml_is_an_empty_pipeline() {
    let config: PipelineConfig = toml::from_str("").expect("valid TOML");
    assert_eq!(config, PipelineConfig::default());
    let p = Pipeline::from_config("empty", &config).expect("valid configuration");
    assert_eq!(p.call_blocking(|| Ok::<_, ()>(5)), Ok(5));
}

// ---------------------------------------------------------------------------------------
// Unknown keys are refused by deserialization
// ---------------------------------------------------------------------------------------

/// The deserialization error for `src`, which must mention `key`.
fn unknown_key(src: &str, key: &str) {
    let err = toml::from_str::<PipelineConfig>(src).expect_err("unknown key accepted");
    assert!(err.to_string().contains(key), "{err}");
}

#[test]
fn unknown_top_level_key_is_refused() {
    unknown_key("retries = 3\n", "retries");
}

#[test]
fn unknown_key_in_a_retry_policy_is_refused() {
    unknown_key(
        "[[policies]]\npolicy = \"retry\"\nmax_attempt = 3\n",
        "max_attempt",
    );
}

#[test]
fn unknown_key_in_a_timeout_policy_is_refused() {
    unknown_key(
        "[[policies]]\npolicy = \"timeout\"\nduration = \"1s\"\nper_attempt = true\n",
        "per_attempt",
    );
}

#[test]
fn unknown_key_in_a_hedge_policy_is_refused() {
    unknown_key(
        "[[policies]]\npolicy = \"hedge\"\ndelay = { fixed = \"50ms\" }\nattempts = 3\n",
        "attempts",
    );
}

#[test]
fn unknown_key_in_a_backoff_is_refused() {
    unknown_key(
        "[[policies]]\npolicy = \"retry\"\nbackoff = { kind = \"constant\", delay = \"1s\", max = \"2s\" }\n",
        "max",
    );
}

#[test]
fn unknown_key_in_the_retry_budget_is_refused() {
    unknown_key("[retry_budget]\nratios = 0.1\n", "ratios");
}

#[test]
fn unknown_policy_kind_is_refused() {
    unknown_key(
        "[[policies]]\npolicy = \"retyr\"\nmax_attempts = 3\n",
        "retyr",
    );
}

#[test]
fn a_duration_that_is_not_humantime_is_refused() {
    let src = "[[policies]]\npolicy = \"timeout\"\nduration = \"2 fortnights\"\n";
    assert!(toml::from_str::<PipelineConfig>(src).is_err());
}
