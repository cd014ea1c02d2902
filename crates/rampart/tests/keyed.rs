//! Keyed maps: values on demand, idle expiry, the cap, LRU order, fresh values after
//! eviction and concurrent creation (resident memory is measured in `memory.rs`). Time
//! comes from a `ManualClock`; nothing sleeps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use rampart::clock::{Clock, ManualClock};
use rampart::keyed::{Keyed, KeyedConfig};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A value with the generation of its key (1 for the first value made for it) and a
/// failure counter standing in for a breaker's state.
#[derive(Debug)]
struct Handle {
    generation: u32,
    failures: AtomicU32,
}

/// Counts the factory's calls per key.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<HashMap<String, u32>>>);

impl Calls {
    fn make(&self, key: &str) -> Arc<Handle> {
        let mut calls = self.0.lock().expect("calls lock");
        let n = calls.entry(key.to_owned()).or_insert(0);
        *n += 1;
        Arc::new(Handle {
            generation: *n,
            failures: AtomicU32::new(0),
        })
    }

    fn of(&self, key: &str) -> u32 {
        self.0
            .lock()
            .expect("calls lock")
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    fn total(&self) -> u32 {
        self.0.lock().expect("calls lock").values().sum()
    }
}

fn map(config: KeyedConfig) -> (Keyed<String, Arc<Handle>>, Calls, ManualClock) {
    let calls = Calls::default();
    let clock = ManualClock::new();
    let factory = {
        let calls = calls.clone();
        move |k: &String| calls.make(k)
    };
    let keyed = Keyed::with_clock(config, factory, Arc::new(clock.clone())).expect("valid");
    (keyed, calls, clock)
}

fn key(s: &str) -> String {
    s.to_owned()
}

#[test]
fn creates_on_demand_and_returns_the_same_value_for_the_same_key() {
    let (keyed, calls, clock) = map(KeyedConfig::new());
    assert!(keyed.is_empty());
    let a1 = keyed.get(&key("a"));
    clock.advance(secs(1));
    let a2 = keyed.get(&key("a"));
    let b = keyed.get(&key("b"));
    assert!(Arc::ptr_eq(&a1, &a2));
    assert!(!Arc::ptr_eq(&a1, &b));
    assert_eq!((calls.of("a"), calls.of("b")), (1, 1));
    assert_eq!(keyed.len(), 2);
    assert!(keyed.contains_key("a"));
    assert!(!keyed.contains_key("c"));
    assert_eq!(calls.total(), 2, "contains_key creates nothing");

    // Clones share the map.
    let clone = keyed.clone();
    assert!(Arc::ptr_eq(&clone.get(&key("a")), &a1));
    assert_eq!(clone.with(&key("b"), |h| h.generation), 1);
    assert_eq!(calls.total(), 2);

    let removed = keyed.remove("a").expect("a was live");
    assert!(Arc::ptr_eq(&removed, &a1));
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed.evicted(), 0, "removal is not eviction");
    assert_eq!(keyed.get(&key("a")).generation, 2);
}

#[test]
fn idle_keys_are_evicted_after_idle_timeout() {
    let config = KeyedConfig::new().with_idle_timeout(secs(60));
    let (keyed, calls, clock) = map(config);
    keyed.get(&key("idle"));
    keyed.get(&key("busy"));
    keyed.get(&key("other"));
    for _ in 0..4 {
        clock.advance(secs(20));
        keyed.get(&key("busy"));
    }
    // 80 s since "idle" and "other" were used; "busy" was used just now.
    assert!(!keyed.contains_key("idle"));
    assert!(keyed.contains_key("busy"));
    assert_eq!(keyed.len(), 3, "not swept yet");
    let mut seen = Vec::new();
    keyed.for_each(|k, _| seen.push(k.clone()));
    assert_eq!(seen, vec![key("busy")], "reads skip idle keys");

    assert_eq!(keyed.evict_idle(), 2, "\"idle\" and \"other\"");
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed.evicted(), 2);
    assert_eq!(keyed.get(&key("idle")).generation, 2);
    assert_eq!(calls.of("idle"), 2);

    // An idle key is gone even before a sweep removes it: the next get makes a fresh
    // value, and remove reports nothing live.
    clock.advance(secs(61));
    assert_eq!(keyed.get(&key("idle")).generation, 3);
    assert!(keyed.remove("busy").is_none());
    assert_eq!(keyed.evicted(), 4);
    assert_eq!(keyed.len(), 1);
}

#[test]
fn inserting_sweeps_idle_keys_so_memory_falls_after_churn() {
    let config = KeyedConfig::new()
        .with_shards(1)
        .with_max_keys(1_000)
        .with_idle_timeout(secs(60));
    let (keyed, _, clock) = map(config);
    for i in 0..500 {
        keyed.get(&format!("burst-{i}"));
    }
    assert_eq!(keyed.len(), 500);
    clock.advance(secs(30));
    keyed.get(&key("kept"));
    assert_eq!(keyed.len(), 501, "nothing idle yet");
    clock.advance(secs(31));
    keyed.get(&key("new"));
    assert_eq!(keyed.len(), 2, "the burst is swept on insert");
    assert_eq!(keyed.evicted(), 500);
    assert!(keyed.contains_key("kept"));
}

#[test]
fn the_cap_holds_under_100_000_distinct_keys() {
    for (max_keys, shards) in [(1_000, 16), (10, 16), (7, 3), (1, 1)] {
        let config = KeyedConfig::new()
            .with_max_keys(max_keys)
            .with_shards(shards);
        let (keyed, calls, clock) = map(config);
        for i in 0..100_000u32 {
            if i % 1_000 == 0 {
                clock.advance(Duration::from_millis(10));
            }
            keyed.get(&i.to_string());
            assert!(keyed.len() <= max_keys, "{} keys > {max_keys}", keyed.len());
        }
        // Every shard filled up, so the cap is reached exactly, not undershot.
        assert_eq!(keyed.len(), max_keys);
        assert_eq!(keyed.snapshot().len(), max_keys);
        assert_eq!(
            u64::from(calls.total()),
            keyed.evicted() + max_keys as u64,
            "every value made is live or was evicted"
        );
    }
}

#[test]
fn the_least_recently_used_key_goes_first() {
    let config = KeyedConfig::new().with_shards(1).with_max_keys(3);
    let (keyed, _, clock) = map(config);
    for k in ["a", "b", "c"] {
        keyed.get(&key(k));
        clock.advance(secs(1));
    }
    keyed.get(&key("a")); // "b" is now the oldest
    clock.advance(secs(1));
    keyed.get(&key("d"));
    assert!(!keyed.contains_key("b"));
    for k in ["a", "c", "d"] {
        assert!(keyed.contains_key(k), "{k}");
    }
    clock.advance(secs(1));
    keyed.get(&key("c")); // "a" is now the oldest
    clock.advance(secs(1));
    keyed.get(&key("e"));
    assert!(!keyed.contains_key("a"));
    for k in ["c", "d", "e"] {
        assert!(keyed.contains_key(k), "{k}");
    }
    assert_eq!(keyed.evicted(), 2);
    assert_eq!(keyed.len(), 3);
}

#[test]
fn an_evicted_key_comes_back_fresh() {
    let config = KeyedConfig::new().with_shards(1).with_max_keys(1);
    let (keyed, calls, clock) = map(config);
    let tripped = keyed.get(&key("host-a"));
    for _ in 0..5 {
        tripped.failures.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(
        keyed.get(&key("host-a")).failures.load(Ordering::Relaxed),
        5
    );
    clock.advance(secs(1));
    keyed.get(&key("host-b")); // evicts host-a
    assert_eq!(keyed.evicted(), 1);

    let back = keyed.get(&key("host-a"));
    assert!(!Arc::ptr_eq(&back, &tripped));
    assert_eq!(back.generation, 2);
    assert_eq!(back.failures.load(Ordering::Relaxed), 0, "a fresh value");
    assert_eq!(calls.of("host-a"), 2);
    // The old handle still works for whoever holds it.
    assert_eq!(tripped.failures.load(Ordering::Relaxed), 5);
}

/// Guarantee under test: while a key stays live, every `get` returns the one value
/// made for it; threads racing on a new key call the factory once.
#[test]
fn concurrent_gets_never_make_two_values_for_one_live_key() {
    const THREADS: usize = 4;
    const KEYS: u64 = 2_000;
    let made = Arc::new(AtomicU64::new(0));
    let factory = {
        let made = Arc::clone(&made);
        move |_: &u64| made.fetch_add(1, Ordering::SeqCst)
    };
    let keyed: Keyed<u64, u64> = Keyed::with_clock(
        KeyedConfig::new().with_max_keys(10_000),
        factory,
        Arc::new(ManualClock::new()),
    )
    .expect("valid");
    let barrier = Arc::new(Barrier::new(THREADS));
    let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let (keyed, barrier) = (keyed.clone(), Arc::clone(&barrier));
                s.spawn(move || {
                    barrier.wait();
                    // Each thread walks all keys from its own starting point, twice.
                    let mut ids = vec![u64::MAX; KEYS as usize];
                    for round in 0..2 {
                        for i in 0..KEYS {
                            let k = (i + t * KEYS / THREADS as u64) % KEYS;
                            let id = keyed.get(&k);
                            let slot = &mut ids[k as usize];
                            assert!(round == 0 || *slot == id, "key {k} changed value");
                            *slot = id;
                        }
                    }
                    ids
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(made.load(Ordering::SeqCst), KEYS, "one value per key");
    for ids in &seen[1..] {
        assert_eq!(ids, &seen[0], "all threads saw the same values");
    }
    assert_eq!(keyed.len(), KEYS as usize);
}

#[test]
fn concurrent_churn_keeps_the_cap_and_the_books() {
    const THREADS: u64 = 4;
    let made = Arc::new(AtomicUsize::new(0));
    let factory = {
        let made = Arc::clone(&made);
        move |k: &u64| {
            made.fetch_add(1, Ordering::SeqCst);
            *k
        }
    };
    let max_keys = 100;
    let keyed: Keyed<u64, u64> = Keyed::with_clock(
        KeyedConfig::new().with_max_keys(max_keys).with_shards(4),
        factory,
        Arc::new(ManualClock::new()),
    )
    .expect("valid");
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let keyed = keyed.clone();
            s.spawn(move || {
                for i in 0..20_000u64 {
                    // Overlapping keys: a hot set of 50 plus a stream unique per thread.
                    let k = if i % 2 == 0 {
                        i % 50
                    } else {
                        1_000_000 * (t + 1) + i
                    };
                    assert_eq!(keyed.get(&k), k);
                    assert!(keyed.len() <= max_keys);
                }
            });
        }
    });
    assert!(keyed.len() <= max_keys);
    assert_eq!(
        made.load(Ordering::SeqCst) as u64,
        keyed.evicted() + keyed.len() as u64
    );
}

#[derive(Debug, Default)]
struct CountingClock {
    inner: ManualClock,
    reads: AtomicU64,
}

impl Clock for CountingClock {
    fn now_nanos(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.now_nanos()
    }
    fn sleep_blocking(&self, duration: Duration) {
        self.inner.sleep_blocking(duration);
    }
}

#[test]
fn a_hit_reads_the_clock_once_and_allocates_nothing() {
    let clock = Arc::new(CountingClock::default());
    let keyed: Keyed<String, Arc<Handle>> = Keyed::with_clock(
        KeyedConfig::new(),
        |_: &String| {
            Arc::new(Handle {
                generation: 1,
                failures: AtomicU32::new(0),
            })
        },
        clock.clone(),
    )
    .expect("valid");
    let tenant = key("tenant-42");
    keyed.get(&tenant);
    let before = clock.reads.load(Ordering::Relaxed);
    let info = allocation_counter::measure(|| {
        for _ in 0..1_000 {
            let h = keyed.get(&tenant);
            assert_eq!(h.generation, 1);
        }
        keyed.with(&tenant, |h| assert_eq!(h.generation, 1));
    });
    assert_eq!(info.count_total, 0, "allocations on hits: {info:?}");
    assert_eq!(clock.reads.load(Ordering::Relaxed) - before, 1_001);
}

#[test]
fn a_panicking_factory_poisons_nothing() {
    let keyed: Keyed<u32, u32> = Keyed::with_clock(
        KeyedConfig::new().with_shards(1),
        |k: &u32| if *k == 13 { panic!("unlucky") } else { *k },
        Arc::new(ManualClock::new()),
    )
    .expect("valid");
    assert_eq!(keyed.get(&1), 1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| keyed.get(&13)));
    assert!(caught.is_err());
    assert_eq!(keyed.get(&1), 1);
    assert_eq!(keyed.get(&2), 2);
    assert_eq!(keyed.len(), 2);
    assert!(!keyed.contains_key(&13));
}

#[test]
fn bad_configuration_names_the_field() {
    let cases = [
        (KeyedConfig::new().with_max_keys(0), "keyed.max_keys"),
        (
            KeyedConfig::new().with_idle_timeout(Duration::ZERO),
            "keyed.idle_timeout",
        ),
        (KeyedConfig::new().with_shards(0), "keyed.shards"),
        (KeyedConfig::new().with_shards(usize::MAX), "keyed.shards"),
    ];
    for (config, field) in cases {
        let err = Keyed::<u8, u8>::new(config, |k: &u8| *k).expect_err(field);
        assert_eq!(err.field(), field);
    }
    // Extremes that are valid must not panic.
    let huge = KeyedConfig::new()
        .with_max_keys(usize::MAX)
        .with_idle_timeout(Duration::MAX)
        .with_shards(rampart::keyed::MAX_SHARDS);
    let keyed = Keyed::<u8, u8>::new(huge, |k: &u8| *k).expect("valid");
    assert_eq!(keyed.get(&3), 3);
}

#[test]
fn configuration_reads_from_toml() {
    let config: KeyedConfig =
        toml::from_str("max_keys = 500\nidle_timeout = \"30s\"").expect("parses");
    assert_eq!(
        config,
        KeyedConfig::new()
            .with_max_keys(500)
            .with_idle_timeout(secs(30))
    );
    assert_eq!(
        toml::from_str::<KeyedConfig>("").expect("defaults"),
        KeyedConfig::new()
    );
    assert!(
        toml::from_str::<KeyedConfig>("max_key = 5").is_err(),
        "unknown field"
    );
}

mod model {
    //! One shard against a reference model: the live keys, each with the value made
    //! for it and its time of last use; a miss makes a new value and, when the shard
    //! holds its cap of live keys, first evicts the one used longest ago.

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const IDLE_MS: u64 = 100;

    #[derive(Debug, Clone)]
    enum Op {
        Get(u8),
        Contains(u8),
        Remove(u8),
        Advance(u64),
        EvictIdle,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..8).prop_map(Op::Get),
            1 => (0u8..8).prop_map(Op::Contains),
            1 => (0u8..8).prop_map(Op::Remove),
            2 => (0u64..150).prop_map(Op::Advance),
            1 => Just(Op::EvictIdle),
        ]
    }

    proptest! {
        #[test]
        fn one_shard_keeps_exactly_the_most_recently_used_live_keys(
            cap in 1usize..5,
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let clock = ManualClock::new();
            let made = Arc::new(AtomicU64::new(0));
            let factory = {
                let made = Arc::clone(&made);
                move |_: &u8| made.fetch_add(1, Ordering::Relaxed)
            };
            let config = KeyedConfig::new()
                .with_max_keys(cap)
                .with_shards(1)
                .with_idle_timeout(Duration::from_millis(IDLE_MS));
            let keyed = Keyed::with_clock(config, factory, Arc::new(clock.clone()))
                .expect("valid");
            // key -> (value, last use in ms)
            let mut live: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
            let mut next = 0u64;
            for op in ops {
                // Every step moves time on by 2 ms, past the map's 1 ms granularity of
                // use, so no two uses tie.
                clock.advance(Duration::from_millis(2));
                let now = clock.elapsed().as_millis() as u64;
                live.retain(|_, (_, used)| now - *used <= IDLE_MS);
                match op {
                    Op::Get(k) => {
                        let expected = match live.get_mut(&k) {
                            Some((v, used)) => {
                                *used = now;
                                *v
                            }
                            None => {
                                if live.len() >= cap {
                                    let oldest = live
                                        .iter()
                                        .min_by_key(|(_, (_, used))| *used)
                                        .map(|(k, _)| *k)
                                        .expect("full");
                                    live.remove(&oldest);
                                }
                                live.insert(k, (next, now));
                                next += 1;
                                next - 1
                            }
                        };
                        prop_assert_eq!(keyed.get(&k), expected, "get {}", k);
                    }
                    Op::Contains(k) => {
                        prop_assert_eq!(keyed.contains_key(&k), live.contains_key(&k));
                    }
                    Op::Remove(k) => {
                        let expected = live.remove(&k).map(|(v, _)| v);
                        prop_assert_eq!(keyed.remove(&k), expected, "remove {}", k);
                    }
                    Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                    Op::EvictIdle => {
                        keyed.evict_idle();
                        prop_assert_eq!(keyed.len(), live.len());
                    }
                }
                prop_assert!(keyed.len() >= live.len() && keyed.len() <= cap);
                prop_assert_eq!(made.load(Ordering::Relaxed), next);
            }
            let now = clock.elapsed().as_millis() as u64;
            live.retain(|_, (_, used)| now - *used <= IDLE_MS);
            let mut seen = BTreeMap::new();
            keyed.for_each(|k, v| {
                seen.insert(*k, *v);
            });
            let expected: BTreeMap<u8, u64> = live.iter().map(|(k, (v, _))| (*k, *v)).collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
