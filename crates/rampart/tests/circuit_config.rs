//! Circuit-breaker configuration: every bad value is a `ConfigError` naming its field,
//! and configuration files round-trip.

mod support;

use std::time::Duration;

use rampart::circuit::{BreakerConfig, CircuitBreaker};
use support::secs;

#[test]
fn bad_configuration_names_the_field() {
    let field = |c: BreakerConfig| c.validate().map_err(|e| e.field().to_owned());
    let cb = |f: &str| Err(format!("circuit_breaker.{f}"));
    assert_eq!(field(BreakerConfig::default()), Ok(()));
    for rate in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
        assert_eq!(
            field(BreakerConfig::count_window(10, rate)),
            cb("failure_rate")
        );
        assert_eq!(
            field(BreakerConfig::count_window(10, 0.5).with_slow_calls(secs(1), rate)),
            cb("slow_calls.rate")
        );
    }
    assert_eq!(field(BreakerConfig::count_window(10, 0.0)), Ok(()));
    assert_eq!(field(BreakerConfig::count_window(10, 1.0)), Ok(()));
    assert_eq!(field(BreakerConfig::consecutive(0)), cb("window.failures"));
    assert_eq!(
        field(BreakerConfig::count_window(0, 0.5)),
        cb("window.size")
    );
    assert_eq!(
        field(BreakerConfig::count_window(10_001, 0.5)),
        cb("window.size")
    );
    assert_eq!(
        field(BreakerConfig::time_window(Duration::ZERO, 10, 0.5)),
        cb("window.length")
    );
    assert_eq!(
        field(BreakerConfig::time_window(Duration::from_nanos(5), 10, 0.5)),
        cb("window.length")
    );
    assert_eq!(
        field(BreakerConfig::time_window(secs(10), 0, 0.5)),
        cb("window.buckets")
    );
    assert_eq!(
        field(BreakerConfig::time_window(secs(10), 1_001, 0.5)),
        cb("window.buckets")
    );
    assert_eq!(
        field(BreakerConfig::count_window(10, 0.5).with_min_calls(0)),
        cb("min_calls")
    );
    assert_eq!(
        field(BreakerConfig::count_window(10, 0.5).with_min_calls(11)),
        cb("min_calls")
    );
    assert_eq!(
        field(BreakerConfig::time_window(secs(1), 1, 0.5).with_min_calls(1_000_000)),
        Ok(())
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_min_calls(3)),
        cb("min_calls")
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_slow_calls(secs(1), 0.5)),
        cb("slow_calls")
    );
    assert_eq!(
        field(BreakerConfig::count_window(10, 0.5).with_slow_calls(Duration::ZERO, 0.5)),
        cb("slow_calls.slower_than")
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_open_for(Duration::ZERO)),
        cb("open_for")
    );
    for factor in [0.5, f64::NAN, f64::INFINITY] {
        assert_eq!(
            field(BreakerConfig::consecutive(5).with_open_backoff(factor, secs(60))),
            cb("open_backoff.factor")
        );
    }
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_open_backoff(2.0, secs(29))),
        cb("open_backoff.max")
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_open_backoff(2.0, Duration::ZERO)),
        cb("open_backoff.max")
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_permitted_probes(0)),
        cb("permitted_probes")
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_permitted_probes(10_001)),
        cb("permitted_probes")
    );
    assert_eq!(
        field(
            BreakerConfig::consecutive(5)
                .with_permitted_probes(3)
                .with_success_threshold(4)
        ),
        cb("success_threshold")
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_success_threshold(0)),
        cb("success_threshold")
    );
    assert_eq!(
        field(BreakerConfig::consecutive(5).with_max_half_open(Duration::ZERO)),
        cb("max_half_open")
    );
    let err = CircuitBreaker::new("x", BreakerConfig::consecutive(5).with_permitted_probes(0))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "circuit_breaker.permitted_probes: must be between 1 and 10000, got 0"
    );
}

#[test]
fn config_from_toml() {
    let c: BreakerConfig = toml::from_str(
        r#"
        window = { kind = "count", size = 10 }
        failure_rate = 0.5
        min_calls = 9
        slow_calls = { slower_than = "2s", rate = 0.8 }
        open_for = "30s"
        open_backoff = { factor = 2.0, max = "5m" }
        permitted_probes = 3
        success_threshold = 2
        max_half_open = "1m"
        "#,
    )
    .unwrap();
    assert_eq!(
        c,
        BreakerConfig::count_window(10, 0.5)
            .with_min_calls(9)
            .with_slow_calls(secs(2), 0.8)
            .with_open_for(secs(30))
            .with_open_backoff(2.0, secs(300))
            .with_permitted_probes(3)
            .with_success_threshold(2)
            .with_max_half_open(secs(60))
    );
    let written = toml::to_string(&c).unwrap();
    assert_eq!(toml::from_str::<BreakerConfig>(&written).unwrap(), c);
    assert_eq!(
        toml::from_str::<BreakerConfig>("").unwrap(),
        BreakerConfig::consecutive(5)
    );
    let t: BreakerConfig =
        toml::from_str("window = { kind = \"time\", length = \"60s\", buckets = 6 }").unwrap();
    assert_eq!(t, BreakerConfig::time_window(secs(60), 6, 0.5));
    assert!(toml::from_str::<BreakerConfig>("failure_rates = 0.5").is_err());
    assert!(toml::from_str::<BreakerConfig>("window = { kind = \"count\", sise = 3 }").is_err());
}
