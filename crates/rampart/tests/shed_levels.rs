//! The seeds' level table, case by case: every priority at loads 0, 69, 70, 84, 85, 94,
//! 95, 96 and 100 %, decided on an external load figure and on the shedder's own
//! in-flight count; permits given back on drop; rejections and events.

mod support;

use std::sync::Arc;

use rampart::event::Recorder;
use rampart::shed::{LoadShedder, Priority, ShedConfig, ShedLevel, ShedPermit};
use rampart::RejectionKind;
use support::secs;

use Priority::{Critical, High, Low, Normal};

/// (load %, level, admitted priorities) from the seeds' `should_accept`.
const TABLE: [(u32, ShedLevel, &[Priority]); 9] = [
    (0, ShedLevel::AcceptAll, &[Critical, High, Normal, Low]),
    (69, ShedLevel::AcceptAll, &[Critical, High, Normal, Low]),
    (70, ShedLevel::ShedLow, &[Critical, High, Normal]),
    (84, ShedLevel::ShedLow, &[Critical, High, Normal]),
    (85, ShedLevel::ShedNormal, &[Critical, High]),
    (94, ShedLevel::ShedNormal, &[Critical, High]),
    (95, ShedLevel::CriticalOnly, &[Critical]),
    (96, ShedLevel::CriticalOnly, &[Critical]),
    (100, ShedLevel::CriticalOnly, &[Critical]),
];

fn shedder(capacity: u32) -> LoadShedder {
    LoadShedder::new("api", ShedConfig::new(capacity)).expect("valid")
}

/// `n` critical permits, which are never refused.
fn hold(s: &LoadShedder, n: u32) -> Vec<ShedPermit<'_>> {
    (0..n)
        .map(|_| s.try_acquire(Critical).expect("critical is never shed"))
        .collect()
}

#[test]
fn the_table_on_an_external_load() {
    let s = shedder(100);
    for (load, level, admitted) in TABLE {
        let load = f64::from(load) / 100.0;
        assert_eq!(s.config().level(load), level, "{load}");
        for p in Priority::ALL {
            let expect = admitted.contains(&p);
            assert_eq!(s.check(p, load), expect, "check {p} at {load}");
            assert_eq!(s.admit(p, load).is_ok(), expect, "admit {p} at {load}");
        }
    }
    // `check` counts nothing; `admit` counted each refusal.
    let snap = s.snapshot();
    assert_eq!(snap.shed_count(Critical), 0);
    assert_eq!(snap.shed_count(High), 3);
    assert_eq!(snap.shed_count(Normal), 5);
    assert_eq!(snap.shed_count(Low), 7);
    assert_eq!(snap.in_flight, 0);
}

#[test]
fn the_table_on_the_in_flight_count() {
    for capacity in [100, 1000] {
        for (load, level, admitted) in TABLE {
            let s = shedder(capacity);
            let held = hold(&s, load * capacity / 100);
            let snap = s.snapshot();
            assert_eq!(snap.level, level, "{load} % of {capacity}");
            assert_eq!(snap.load, f64::from(load) / 100.0);
            for p in Priority::ALL {
                let got = s.try_acquire(p);
                assert_eq!(
                    got.is_ok(),
                    admitted.contains(&p),
                    "{p} at {load} % of {capacity}"
                );
            }
            drop(held);
            assert_eq!(s.in_flight(), 0);
        }
    }
}

#[test]
fn one_below_each_threshold_is_still_admitted() {
    let s = shedder(1000);
    let mut held = hold(&s, 699);
    assert!(s.try_acquire(Low).is_ok());
    held.extend(hold(&s, 1));
    assert!(s.try_acquire(Low).is_err());
    held.extend(hold(&s, 149)); // 849
    assert!(s.try_acquire(Normal).is_ok());
    held.extend(hold(&s, 1));
    assert!(s.try_acquire(Normal).is_err());
    held.extend(hold(&s, 99)); // 949
    assert!(s.try_acquire(High).is_ok());
    held.extend(hold(&s, 1));
    assert!(s.try_acquire(High).is_err());
}

#[test]
fn critical_is_admitted_at_full_load_and_beyond() {
    let s = shedder(10);
    let held = hold(&s, 25);
    assert_eq!(s.snapshot().load, 2.5);
    assert!(s.try_acquire(Critical).is_ok());
    assert!(s.admit(Critical, 100.0).is_ok());
    assert!(s.admit(Critical, f64::NAN).is_ok());
    assert!(s.admit(High, f64::NAN).is_err());
    drop(held);
}

#[test]
fn admitted_requests_fill_the_shedder_until_their_threshold() {
    let s = shedder(100);
    let lows: Vec<_> = std::iter::from_fn(|| s.try_acquire(Low).ok()).collect();
    assert_eq!(lows.len(), 70);
    let normals: Vec<_> = std::iter::from_fn(|| s.try_acquire(Normal).ok()).collect();
    assert_eq!(normals.len(), 15);
    let highs: Vec<_> = std::iter::from_fn(|| s.try_acquire_owned(High).ok()).collect();
    assert_eq!(highs.len(), 10);
    assert_eq!(s.in_flight(), 95);
    drop((lows, normals, highs));
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn permits_come_back_on_panic_and_from_other_threads() {
    let s = shedder(10);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _p = s.try_acquire(Normal).unwrap();
        panic!("the operation panicked");
    }));
    assert!(caught.is_err());
    assert_eq!(s.in_flight(), 0);
    let owned = s.try_acquire_owned(Low).unwrap();
    std::thread::spawn(move || drop(owned)).join().unwrap();
    assert_eq!(s.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_gives_its_permit_back() {
    let s = shedder(10);
    let s2 = s.clone();
    let task = tokio::spawn(async move {
        let _p = s2.try_acquire_owned(Normal).unwrap();
        tokio::time::sleep(secs(60)).await;
    });
    tokio::task::yield_now().await;
    assert_eq!(s.in_flight(), 1);
    task.abort();
    let _ = task.await;
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn a_rejection_says_shed_and_when_to_come_back() {
    let recorder = Recorder::new();
    let s = LoadShedder::new("api", ShedConfig::new(10))
        .unwrap()
        .with_listener(Arc::new(recorder.clone()));
    let _held = hold(&s, 9);
    let r = s.try_acquire(Normal).unwrap_err();
    assert_eq!(r.kind(), RejectionKind::Shed);
    assert_eq!(r.policy(), "shed");
    assert_eq!(r.name(), "api");
    assert_eq!(r.retry_after(), Some(secs(5)));
    assert_eq!(
        recorder.lines(),
        ["api: LoadShed { priority: Normal, load: 0.9 }"]
    );

    let quiet = LoadShedder::new("api", ShedConfig::new(1).with_retry_after(None)).unwrap();
    let _p = quiet.try_acquire(Critical).unwrap();
    assert_eq!(quiet.try_acquire(Low).unwrap_err().retry_after(), None);
}

#[test]
fn racing_threads_never_pass_the_threshold_and_give_every_slot_back() {
    let s = shedder(10);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..20_000 {
                    if let Ok(p) = s.try_acquire(Low) {
                        // LOW is admitted below 70 % of 10, so at most 7 are in flight.
                        assert!(s.in_flight() <= 7);
                        drop(p);
                    }
                }
            });
        }
    });
    assert_eq!(s.in_flight(), 0);
}
