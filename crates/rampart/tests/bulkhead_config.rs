//! Bulkhead settings from configuration files, and bad values refused with the field's
//! name when the bulkhead is built.

use std::time::Duration;

use rampart::bulkhead::{BlockingBulkhead, BlockingBulkheadConfig, Bulkhead, BulkheadConfig};

#[test]
fn an_async_bulkhead_reads_from_toml_with_humantime_durations() {
    let c: BulkheadConfig =
        toml::from_str("max_concurrent = 20\nmax_queue = 10\nmax_wait = \"500ms\"").unwrap();
    assert_eq!(
        c,
        BulkheadConfig::new()
            .with_max_concurrent(20)
            .with_max_queue(10)
            .with_max_wait(Duration::from_millis(500))
    );
    let empty: BulkheadConfig = toml::from_str("").unwrap();
    assert_eq!(empty, BulkheadConfig::default());
    assert!(
        toml::from_str::<BulkheadConfig>("max_concurent = 3").is_err(),
        "unknown fields"
    );
    let round: BulkheadConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(round, c);
}

#[test]
fn a_blocking_bulkhead_reads_from_toml() {
    let c: BlockingBulkheadConfig = toml::from_str(
        "max_threads = 10\ncore_threads = 5\nqueue_capacity = 20\nkeep_alive = \"30s\"",
    )
    .unwrap();
    assert_eq!(
        c,
        BlockingBulkheadConfig::new()
            .with_max_threads(10)
            .with_core_threads(5)
            .with_queue_capacity(20)
            .with_keep_alive(Duration::from_secs(30))
    );
    assert!(toml::from_str::<BlockingBulkheadConfig>("threads = 3").is_err());
}

#[test]
fn building_with_bad_values_names_the_field() {
    let err = |c: BulkheadConfig| Bulkhead::new("p", c).unwrap_err();
    let e = err(BulkheadConfig::new().with_max_concurrent(0));
    assert_eq!(e.field(), "bulkhead.max_concurrent");
    assert_eq!(
        e.to_string(),
        "bulkhead.max_concurrent: must be between 1 and 1073741824, got 0"
    );
    let e = err(BulkheadConfig::new().with_max_wait(Duration::from_secs(1)));
    assert_eq!(
        e.to_string(),
        "bulkhead.max_wait: needs a queue (max_queue above zero)"
    );
    let e = err(BulkheadConfig::new()
        .with_max_queue(5)
        .with_max_wait(Duration::ZERO));
    assert_eq!(
        e.to_string(),
        "bulkhead.max_wait: must be greater than zero"
    );

    let err = |c: BlockingBulkheadConfig| BlockingBulkhead::new("p", c).unwrap_err();
    let e = err(BlockingBulkheadConfig::new().with_max_threads(0));
    assert_eq!(e.field(), "blocking_bulkhead.max_threads");
    let e = err(BlockingBulkheadConfig::new()
        .with_max_threads(4)
        .with_core_threads(8));
    assert_eq!(
        e.to_string(),
        "blocking_bulkhead.core_threads: must be at most max_threads (4), got 8"
    );
}
