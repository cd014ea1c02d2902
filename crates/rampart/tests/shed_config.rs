//! Shedder and work-queue configuration: every bad value is a `ConfigError` naming its
//! field, and configuration files round-trip.

mod support;

use rampart::shed::{
    AdaptiveShedConfig, LoadShedder, Overflow, Priority, ShedConfig, WorkQueue, WorkQueueConfig,
    MAX_WORKERS,
};
use support::{ms, secs};

fn field(c: ShedConfig) -> Result<(), String> {
    c.validate().map_err(|e| e.field().to_owned())
}

fn ls(f: &str) -> Result<(), String> {
    Err(format!("load_shedder.{f}"))
}

#[test]
fn bad_shedder_configuration_names_the_field() {
    let c = ShedConfig::new(100);
    assert_eq!(field(c), Ok(()));
    assert_eq!(field(ShedConfig::default()), Ok(()));
    assert_eq!(field(c.with_capacity(0)), ls("capacity"));
    for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
        assert_eq!(field(c.with_thresholds(bad, 0.85, 0.95)), ls("shed_low_at"));
        assert_eq!(
            field(c.with_thresholds(0.7, bad, 0.95)),
            ls("shed_normal_at")
        );
        assert_eq!(field(c.with_thresholds(0.7, 0.85, bad)), ls("shed_high_at"));
    }
    // Out of order.
    assert_eq!(
        field(c.with_thresholds(0.9, 0.8, 0.95)),
        ls("shed_normal_at")
    );
    assert_eq!(field(c.with_thresholds(0.7, 0.9, 0.8)), ls("shed_high_at"));
    // Equal thresholds are in order: two levels start together.
    assert_eq!(field(c.with_thresholds(0.8, 0.8, 1.0)), Ok(()));
    assert_eq!(field(c.with_thresholds(0.0, 0.0, 0.0)), Ok(()));

    let a = AdaptiveShedConfig::new();
    let adaptive = |a: AdaptiveShedConfig| field(c.with_adaptive(a));
    assert_eq!(adaptive(a), Ok(()));
    for bad in [-0.1, 1.5, f64::NAN] {
        assert_eq!(
            adaptive(a.with_cpu_threshold(bad)),
            ls("adaptive.cpu_threshold")
        );
        assert_eq!(
            adaptive(a.with_memory_threshold(bad)),
            ls("adaptive.memory_threshold")
        );
    }
    assert_eq!(adaptive(a.with_cpu_threshold(1.0)), Ok(()));
    assert_eq!(
        adaptive(a.with_latency_p95_threshold(ms(0))),
        ls("adaptive.latency_p95_threshold")
    );
    assert_eq!(
        adaptive(a.with_sample_every(ms(0))),
        ls("adaptive.sample_every")
    );

    let err = LoadShedder::new("api", c.with_capacity(0)).unwrap_err();
    assert_eq!(err.to_string(), "load_shedder.capacity: must be at least 1");
}

#[test]
fn shedder_configuration_files_round_trip() {
    let text = r#"
        capacity = 200
        shed_low_at = 0.6
        shed_normal_at = 0.8
        shed_high_at = 0.9
        retry_after = "2s"
        adaptive = { cpu_threshold = 0.9, latency_p95_threshold = "500ms" }
    "#;
    let c: ShedConfig = toml::from_str(text).unwrap();
    assert_eq!(c.capacity, 200);
    assert_eq!(c.retry_after, Some(secs(2)));
    let a = c.adaptive.unwrap();
    assert_eq!(a.cpu_threshold, 0.9);
    assert_eq!(a.memory_threshold, 0.85);
    assert_eq!(a.latency_p95_threshold, ms(500));
    assert_eq!(
        toml::from_str::<ShedConfig>(&toml::to_string(&c).unwrap()).unwrap(),
        c
    );
    assert_eq!(
        toml::from_str::<ShedConfig>("").unwrap(),
        ShedConfig::default()
    );
    assert!(toml::from_str::<ShedConfig>("capacty = 3").is_err());
    assert!(toml::from_str::<ShedConfig>("adaptive = { cpu = 3 }").is_err());

    #[derive(serde::Deserialize)]
    struct Route {
        priority: Priority,
    }
    for (name, p) in [
        ("critical", Priority::Critical),
        ("high", Priority::High),
        ("normal", Priority::Normal),
        ("low", Priority::Low),
    ] {
        let r: Route = toml::from_str(&format!("priority = \"{name}\"")).unwrap();
        assert_eq!(r.priority, p);
    }
}

fn queue_field(c: WorkQueueConfig) -> Result<(), String> {
    c.validate().map_err(|e| e.field().to_owned())
}

#[test]
fn bad_queue_configuration_names_the_field() {
    let c = WorkQueueConfig::new();
    let wq = |f: &str| Err(format!("work_queue.{f}"));
    assert_eq!(queue_field(c), Ok(()));
    assert_eq!(queue_field(c.with_capacity(0)), wq("capacity"));
    assert_eq!(queue_field(c.with_workers(0)), wq("workers"));
    assert_eq!(queue_field(c.with_workers(MAX_WORKERS + 1)), wq("workers"));
    assert_eq!(queue_field(c.with_max_age(Some(ms(0)))), wq("max_age"));
    assert_eq!(queue_field(c.with_max_age(None)), Ok(()));
    assert_eq!(
        queue_field(c.with_overflow(Overflow::DropExpired).with_max_age(None)),
        wq("max_age")
    );
}

#[test]
fn a_queue_needs_a_runtime() {
    let err = WorkQueue::new("jobs", WorkQueueConfig::new()).unwrap_err();
    assert_eq!(err.field(), "work_queue.workers");
}

#[test]
fn queue_configuration_files_round_trip() {
    let c: WorkQueueConfig =
        toml::from_str("capacity = 500\noverflow = \"drop_lowest_priority\"\nmax_age = \"10s\"")
            .unwrap();
    assert_eq!(c.capacity, 500);
    assert_eq!(c.workers, 4);
    assert_eq!(c.overflow, Overflow::DropLowestPriority);
    assert_eq!(c.max_age, Some(secs(10)));
    assert_eq!(
        toml::from_str::<WorkQueueConfig>(&toml::to_string(&c).unwrap()).unwrap(),
        c
    );
    for o in [
        Overflow::RejectNew,
        Overflow::DropOldest,
        Overflow::DropNewest,
        Overflow::DropLowestPriority,
        Overflow::DropExpired,
    ] {
        let c: WorkQueueConfig = toml::from_str(&format!("overflow = \"{}\"", o.as_str())).unwrap();
        assert_eq!(c.overflow, o);
    }
    assert!(toml::from_str::<WorkQueueConfig>("overflow = \"drop_random\"").is_err());
}
