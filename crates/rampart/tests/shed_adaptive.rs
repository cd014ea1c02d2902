//! Adaptive shedding: the shed probability from injected CPU, memory and latency
//! pressure (the seeds' formula), seeded draws, CRITICAL never shed, and the sampler.

mod support;

use std::time::Duration;

use rampart::shed::{AdaptiveShedConfig, LoadShedder, ManualUsage, Priority, ShedConfig};
use support::{ms, secs};

fn adaptive(usage: &ManualUsage) -> LoadShedder {
    let config = ShedConfig::new(1000).with_adaptive(AdaptiveShedConfig::new());
    LoadShedder::new("api", config)
        .unwrap()
        .with_pressure_source(usage.clone())
        .with_seed(7)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn probability_from_injected_pressures() {
    let usage = ManualUsage::new();
    let s = adaptive(&usage);
    assert_eq!(s.shed_probability(), 0.0);

    // (cpu, memory, p95) -> probability, by the seeds' formula.
    let cases = [
        (0.5, 0.5, ms(500), 0.0),
        (0.8, 0.85, secs(1), 0.0),
        (0.9, 0.5, ms(0), 0.5),      // (0.9 - 0.8) / 0.2
        (1.0, 0.5, ms(0), 1.0),      // CPU saturated
        (0.5, 0.925, ms(0), 0.5),    // (0.925 - 0.85) / 0.15
        (0.5, 0.5, ms(1500), 0.5),   // (1.5 - 1) / 1
        (0.5, 0.5, secs(5), 1.0),    // capped at 1
        (0.84, 0.88, ms(1100), 0.2), // the worst of 0.2, 0.2, 0.1
    ];
    for (cpu, memory, p95, expect) in cases {
        usage.set(cpu, memory);
        s.record_latency_p95(p95);
        let pressure = s.sample();
        assert!(
            close(pressure.probability(), expect),
            "{cpu} {memory} {p95:?}: {pressure:?}"
        );
        assert!(
            close(s.shed_probability(), expect),
            "{cpu} {memory} {p95:?}"
        );
        assert_eq!(s.snapshot().pressure, pressure);
    }
}

#[test]
fn draws_shed_at_the_probability_and_repeat_with_the_seed() {
    let usage = ManualUsage::new();
    usage.set(0.9, 0.0); // probability 0.5
    let run = || {
        let s = adaptive(&usage);
        s.sample();
        (0..10_000)
            .map(|_| s.try_acquire(Priority::Normal).is_err())
            .collect::<Vec<bool>>()
    };
    let first = run();
    let shed = first.iter().filter(|&&x| x).count();
    assert!(
        (4_700..=5_300).contains(&shed),
        "{shed} of 10000 shed at p = 0.5"
    );
    assert_eq!(first, run(), "the same seed sheds the same requests");
}

#[test]
fn critical_is_never_shed_even_at_probability_one() {
    let usage = ManualUsage::new();
    usage.set(1.0, 1.0);
    let s = adaptive(&usage);
    s.sample();
    assert_eq!(s.shed_probability(), 1.0);
    for _ in 0..1000 {
        assert!(s.try_acquire(Priority::Critical).is_ok());
        assert!(s.admit(Priority::Critical, 0.0).is_ok());
        assert!(s.try_acquire(Priority::High).is_err());
        assert!(s.admit(Priority::Low, 0.0).is_err());
    }
    assert_eq!(s.snapshot().shed_count(Priority::Critical), 0);
    assert_eq!(s.snapshot().shed_count(Priority::High), 1000);
}

#[test]
fn without_adaptive_mode_sampling_does_nothing() {
    let usage = ManualUsage::new();
    usage.set(1.0, 1.0);
    let s = LoadShedder::new("api", ShedConfig::new(10))
        .unwrap()
        .with_pressure_source(usage);
    assert_eq!(s.sample().probability(), 0.0);
    assert!(s.try_acquire(Priority::Low).is_ok());
}

#[test]
fn the_operating_system_source_reads_a_probability() {
    let config = ShedConfig::new(10).with_adaptive(AdaptiveShedConfig::new());
    let s = LoadShedder::new("api", config).unwrap();
    let p = s.sample().probability();
    assert!((0.0..=1.0).contains(&p));
}

#[tokio::test(start_paused = true)]
async fn the_sampler_follows_the_pressure_until_the_shedder_is_gone() {
    let usage = ManualUsage::new();
    let config = ShedConfig::new(10)
        .with_adaptive(AdaptiveShedConfig::new().with_sample_every(Duration::from_secs(2)));
    let s = LoadShedder::new("api", config)
        .unwrap()
        .with_pressure_source(usage.clone());
    let sampler = s.spawn_sampler();
    tokio::time::sleep(ms(1)).await;
    assert_eq!(s.shed_probability(), 0.0);

    usage.set(0.9, 0.0);
    tokio::time::sleep(ms(1500)).await;
    assert_eq!(s.shed_probability(), 0.0, "not sampled yet");
    tokio::time::sleep(ms(600)).await;
    assert!(close(s.shed_probability(), 0.5));

    usage.set(0.0, 0.0);
    s.record_latency_p95(secs(3));
    tokio::time::sleep(secs(2)).await;
    assert_eq!(s.shed_probability(), 1.0);

    drop(s);
    tokio::time::sleep(secs(2)).await;
    assert!(sampler.is_finished());
}
