//! Loom models of the shedder's in-flight accounting. Run with
//! `RUSTFLAGS="--cfg rampart_loom" cargo test -p rampart --lib --release loom_`.

use loom::thread;

use super::{LoadShedder, Priority, ShedConfig};

use crate::sync::check_model as check;

/// One slot for non-critical requests: every threshold at 100 % of a capacity of 1.
fn one_slot() -> LoadShedder {
    let config = ShedConfig::new(1).with_thresholds(1.0, 1.0, 1.0);
    LoadShedder::new("loom", config).expect("valid")
}

#[test]
fn loom_racing_acquires_never_overfill_and_give_every_slot_back() {
    check(|| {
        let shedder = one_slot();
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let s = shedder.clone();
                thread::spawn(move || {
                    let permit = s.try_acquire(Priority::Normal).ok();
                    if permit.is_some() {
                        assert!(s.in_flight() <= 1);
                    }
                    permit.is_some()
                })
            })
            .collect();
        let admitted = racers
            .into_iter()
            .map(|r| r.join().expect("no panic"))
            .filter(|&a| a)
            .count();
        assert!(admitted >= 1);
        assert_eq!(shedder.in_flight(), 0);
    });
}

#[test]
fn loom_held_slot_sheds_the_racer_but_not_critical() {
    check(|| {
        let shedder = one_slot();
        let held = shedder.try_acquire_owned(Priority::Low).expect("empty");
        let s = shedder.clone();
        let racer = thread::spawn(move || {
            let normal = s.try_acquire(Priority::Normal).is_ok();
            let critical = s.try_acquire(Priority::Critical).is_ok();
            (normal, critical)
        });
        drop(held);
        let (_, critical) = racer.join().expect("no panic");
        assert!(critical);
        assert_eq!(shedder.in_flight(), 0);
    });
}
