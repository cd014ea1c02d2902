//! Keyed breakers: isolation between keys, shared state for one key, idle eviction
//! bringing a key back closed, and the cap (resident memory under 1,000,000 distinct
//! keys is measured in `memory.rs`). Time comes from a `ManualClock`; nothing sleeps.

use std::sync::Arc;
use std::time::Duration;

use rampart::circuit::keyed::KeyedBreakers;
use rampart::circuit::{BreakerConfig, BreakerState};
use rampart::classify::OutcomeClass;
use rampart::clock::ManualClock;
use rampart::event::Recorder;
use rampart::keyed::KeyedConfig;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn host(s: &str) -> String {
    s.to_owned()
}

/// Breakers that trip after 3 failures in a row and stay open for 300 s.
fn breakers(keyed: KeyedConfig) -> (KeyedBreakers<String>, ManualClock) {
    let clock = ManualClock::new();
    let config = BreakerConfig::consecutive(3).with_open_for(secs(300));
    let b =
        KeyedBreakers::with_clock("hosts", config, keyed, Arc::new(clock.clone())).expect("valid");
    (b, clock)
}

/// Records `n` failures for `key`, each through the map.
fn fail(b: &KeyedBreakers<String>, key: &str, n: usize) {
    for _ in 0..n {
        let (breaker, permit) = b.try_acquire(&host(key)).expect("admitted");
        breaker.record(permit, OutcomeClass::Failure);
    }
}

#[test]
fn tripping_one_key_leaves_the_others_closed() {
    let (b, _) = breakers(KeyedConfig::new());
    fail(&b, "a", 3);
    assert_eq!(b.get(&host("a")).state(), BreakerState::Open);
    assert_eq!(b.get(&host("b")).state(), BreakerState::Closed);
    let rejection = b.try_acquire(&host("a")).expect_err("a is open");
    assert!(rejection.is_circuit_open());
    assert_eq!(rejection.retry_after(), Some(secs(300)));
    assert!(b.try_acquire(&host("b")).is_ok());

    // Two failures on b do not trip it, and a's failures did not count towards it.
    fail(&b, "b", 2);
    assert_eq!(b.get(&host("b")).state(), BreakerState::Closed);
    assert_eq!(b.get(&host("a")).name(), "hosts/a");
    assert_eq!(b.get(&host("b")).name(), "hosts/b");

    let mut snap = b.snapshot();
    snap.sort_by(|x, y| x.0.cmp(&y.0));
    let states: Vec<_> = snap.iter().map(|(k, s)| (k.as_str(), s.state)).collect();
    assert_eq!(
        states,
        vec![("a", BreakerState::Open), ("b", BreakerState::Closed)]
    );
    assert_eq!(snap[1].1.failures_in_window, 2);
}

#[test]
fn a_listener_hears_every_key_by_name() {
    let (b, _) = breakers(KeyedConfig::new());
    fail(&b, "early.internal", 1); // live before the listener is set
    let recorder = Recorder::new();
    let b = b.with_listener(Arc::new(recorder.clone()));
    fail(&b, "early.internal", 2);
    fail(&b, "late.internal", 3);
    assert!(b.try_acquire(&host("late.internal")).is_err());
    let lines = recorder.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("hosts/early.internal: CircuitStateChanged"));
    assert!(lines[1].starts_with("hosts/late.internal: CircuitStateChanged"));
    assert!(lines[2].starts_with("hosts/late.internal: CircuitRejected"));
    // A second listener does not replace the first.
    let other = Recorder::new();
    let b = b.with_listener(Arc::new(other.clone()));
    fail(&b, "third.internal", 3);
    assert!(other.lines().is_empty());
    assert_eq!(recorder.count("hosts/third.internal"), 1);
}

#[test]
fn the_same_key_and_clones_share_one_breaker() {
    let (b, clock) = breakers(KeyedConfig::new());
    let first = b.get(&host("a"));
    let clone = b.clone();
    fail(&clone, "a", 2);
    clock.advance(secs(1));
    // The handle taken first sees failures recorded through later gets and a clone.
    let permit = first.try_acquire().expect("closed");
    first.record(permit, OutcomeClass::Failure);
    assert_eq!(first.state(), BreakerState::Open);
    assert_eq!(b.get(&host("a")).state(), BreakerState::Open);
    assert_eq!(clone.len(), 1);

    // Resetting through one handle resets it for every handle.
    b.get(&host("a")).reset();
    assert_eq!(first.state(), BreakerState::Closed);
}

#[test]
fn an_idle_key_is_evicted_and_comes_back_closed() {
    let keyed = KeyedConfig::new().with_idle_timeout(secs(60));
    let (b, clock) = breakers(keyed);
    fail(&b, "a", 3);
    let old = b.get(&host("a"));
    assert_eq!(old.state(), BreakerState::Open);

    clock.advance(secs(59));
    assert_eq!(
        b.get(&host("a")).state(),
        BreakerState::Open,
        "used 59 s ago: still live"
    );
    assert_eq!(b.evicted(), 0);

    // Idle for longer than idle_timeout, and still inside its 300 s open period.
    clock.advance(secs(61));
    assert_eq!(b.evict_idle(), 1);
    assert_eq!(b.evicted(), 1);
    assert!(b.is_empty());
    assert!(b.snapshot().is_empty());
    let back = b.get(&host("a"));
    assert_eq!(back.state(), BreakerState::Closed, "a fresh breaker");
    assert!(b.try_acquire(&host("a")).is_ok());
    // The old handle is a different breaker, still open, for whoever holds it.
    assert_eq!(old.state(), BreakerState::Open);

    // Without a sweep, an expired key is replaced on its next use as well.
    fail(&b, "a", 3);
    clock.advance(secs(61));
    assert_eq!(b.get(&host("a")).state(), BreakerState::Closed);
    assert_eq!(b.evicted(), 2);
}

#[test]
fn a_key_evicted_by_the_cap_comes_back_closed() {
    let (b, clock) = breakers(KeyedConfig::new().with_shards(1).with_max_keys(2));
    fail(&b, "a", 3);
    clock.advance(secs(1));
    b.get(&host("b"));
    clock.advance(secs(1));
    b.get(&host("c")); // evicts "a", the least recently used
    assert_eq!(b.len(), 2);
    assert_eq!(b.evicted(), 1);
    assert_eq!(b.get(&host("a")).state(), BreakerState::Closed);
}

#[test]
fn the_cap_holds() {
    for (max_keys, shards) in [(100, 16), (7, 3), (1, 1)] {
        let (b, clock) = breakers(
            KeyedConfig::new()
                .with_max_keys(max_keys)
                .with_shards(shards),
        );
        for i in 0..10_000u32 {
            if i % 100 == 0 {
                clock.advance(Duration::from_millis(10));
            }
            let key = format!("host-{i}");
            // Trip a few so open breakers get evicted too.
            if i % 10 == 0 {
                fail(&b, &key, 3);
            } else {
                b.get(&key);
            }
            assert!(b.len() <= max_keys, "{} keys > {max_keys}", b.len());
        }
        assert_eq!(b.len(), max_keys, "every shard filled up");
        assert_eq!(b.snapshot().len(), max_keys);
        assert_eq!(b.evicted(), 10_000 - max_keys as u64);
    }
}

#[test]
fn bad_configuration_is_refused_up_front() {
    let clock = || -> Arc<ManualClock> { Arc::new(ManualClock::new()) };
    let err = KeyedBreakers::<u32>::with_clock(
        "x",
        BreakerConfig::count_window(100, 1.5),
        KeyedConfig::new(),
        clock(),
    )
    .expect_err("bad rate");
    assert_eq!(err.field(), "circuit_breaker.failure_rate");
    let err = KeyedBreakers::<u32>::with_clock(
        "x",
        BreakerConfig::default(),
        KeyedConfig::new().with_max_keys(0),
        clock(),
    )
    .expect_err("no keys");
    assert_eq!(err.field(), "keyed.max_keys");
    let err = KeyedBreakers::<u32>::new(
        "x",
        BreakerConfig::default().with_permitted_probes(0),
        KeyedConfig::new(),
    )
    .expect_err("no probes");
    assert_eq!(err.field(), "circuit_breaker.permitted_probes");
}
