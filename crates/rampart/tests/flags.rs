//! Feature flags: defaults, flips seen by every handle on every thread, unknown names,
//! stores and events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rampart::event::{EventKind, Recorder};
use rampart::flags::{FlagError, FlagStore, Flags, InMemoryFlagStore};

#[test]
fn flags_start_at_their_defaults() {
    let flags = Flags::new();
    let recs = flags.define("recommendations", true).unwrap();
    let beta = flags.define("beta_checkout", false).unwrap();
    assert!(recs.is_enabled());
    assert!(!beta.is_enabled());
    assert_eq!(recs.name(), "recommendations");
    assert!(recs.default_value());
    assert_eq!(flags.is_enabled("beta_checkout"), Ok(false));
    assert_eq!(flags.names(), ["beta_checkout", "recommendations"]);
}

#[test]
fn defining_again_returns_the_same_flag() {
    let flags = Flags::new();
    let first = flags.define("reviews", true).unwrap();
    flags.disable("reviews").unwrap();
    let again = flags.define("reviews", true).unwrap();
    assert!(!again.is_enabled(), "the flag keeps its value");
    flags.enable("reviews").unwrap();
    assert!(first.is_enabled() && again.is_enabled());
    assert_eq!(flags.names().len(), 1);
}

#[test]
fn a_flip_is_seen_by_every_existing_handle() {
    let flags = Flags::new();
    let a = flags.define("reviews", true).unwrap();
    let b = flags.flag("reviews").unwrap();
    let c = a.clone();
    assert_eq!(flags.set("reviews", false), Ok(true));
    assert!(!a.is_enabled() && !b.is_enabled() && !c.is_enabled());
    assert_eq!(flags.set("reviews", false), Ok(false), "no change");
    assert_eq!(flags.is_enabled("reviews"), Ok(false));
    // A clone of the registry shares the flags.
    flags.clone().enable("reviews").unwrap();
    assert!(a.is_enabled());
}

#[test]
fn a_flip_is_seen_on_other_threads() {
    let flags = Flags::new();
    let kill = flags.define("recommendations", true).unwrap();
    let seen_off = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let kill = kill.clone();
            let seen = Arc::clone(&seen_off);
            std::thread::spawn(move || {
                while kill.is_enabled() {
                    std::hint::spin_loop();
                }
                seen.store(true, Ordering::SeqCst);
            })
        })
        .collect();
    flags.disable("recommendations").unwrap();
    for w in workers {
        w.join().unwrap();
    }
    assert!(seen_off.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flip_is_seen_by_tasks() {
    let flags = Flags::new();
    let reviews = flags.define("reviews", true).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let before = reviews.is_enabled();
        ready_tx.send(()).unwrap();
        rx.await.unwrap();
        (before, reviews.is_enabled())
    });
    ready_rx.await.unwrap();
    flags.disable("reviews").unwrap();
    tx.send(()).unwrap();
    assert_eq!(task.await.unwrap(), (true, false));
}

#[test]
fn unknown_and_invalid_names_are_errors() {
    let flags = Flags::new();
    let unknown = FlagError::Unknown {
        name: "nope".to_owned(),
    };
    assert_eq!(flags.set("nope", true), Err(unknown.clone()));
    assert_eq!(flags.is_enabled("nope"), Err(unknown.clone()));
    assert_eq!(flags.flag("nope").unwrap_err(), unknown);
    assert_eq!(unknown.to_string(), "unknown flag \"nope\"");
    assert!(
        flags.names().is_empty(),
        "setting an unknown flag does not define it"
    );
    for bad in ["", "has space", "semi;colon", "é"] {
        let e = flags.define(bad, true).unwrap_err();
        assert!(matches!(e, FlagError::InvalidName { .. }), "{bad:?}: {e:?}");
        assert_eq!(e.name(), bad);
    }
}

#[test]
fn flips_are_reported_as_events() {
    let recorder = Recorder::new();
    let flags = Flags::new().with_listener(Arc::new(recorder.clone()));
    flags.define("recommendations", true).unwrap();
    flags.define("reviews", true).unwrap();
    assert!(recorder.lines().is_empty(), "defining is not a flip");
    flags.disable("recommendations").unwrap();
    flags.disable("recommendations").unwrap();
    flags.enable("reviews").unwrap();
    flags.enable("recommendations").unwrap();
    assert_eq!(
        recorder.lines(),
        [
            "flags: FlagChanged { flag: \"recommendations\", enabled: false }",
            "flags: FlagChanged { flag: \"recommendations\", enabled: true }",
        ]
    );

    // A closure listener sees the typed fields.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let flags = Flags::new().with_listener(Arc::new(move |e: &rampart::event::Event<'_>| {
        if let EventKind::FlagChanged { flag, enabled } = e.kind {
            sink.lock()
                .unwrap()
                .push((e.pipeline.to_owned(), flag.to_owned(), enabled));
        }
    }));
    flags.define("reviews", true).unwrap();
    flags.disable("reviews").unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [("flags".to_owned(), "reviews".to_owned(), false)]
    );
}

#[test]
fn the_store_is_read_at_definition_and_on_refresh() {
    let store = Arc::new(InMemoryFlagStore::new());
    store.set("reviews", false).unwrap();
    let recorder = Recorder::new();
    let flags = Flags::with_store(store.clone()).with_listener(Arc::new(recorder.clone()));
    let reviews = flags.define("reviews", true).unwrap();
    let recs = flags.define("recommendations", true).unwrap();
    assert!(
        !reviews.is_enabled(),
        "the store's value wins over the default"
    );
    assert!(recs.is_enabled());

    flags.disable("recommendations").unwrap();
    assert_eq!(
        store.get("recommendations"),
        Some(false),
        "set writes through"
    );

    // Another process changes the shared store; refresh applies it.
    store.set("reviews", true).unwrap();
    store.set("recommendations", false).unwrap();
    assert_eq!(flags.refresh(), 1);
    assert!(reviews.is_enabled());
    assert_eq!(recorder.count("enabled: true"), 1);
    assert_eq!(flags.refresh(), 0);
}

struct ReadOnlyStore;

impl FlagStore for ReadOnlyStore {
    fn get(&self, _: &str) -> Option<bool> {
        None
    }

    fn set(&self, _: &str, _: bool) -> Result<(), String> {
        Err("store is read-only".to_owned())
    }
}

#[test]
fn a_store_that_refuses_a_write_leaves_the_flag_as_it_was() {
    let flags = Flags::with_store(Arc::new(ReadOnlyStore));
    let reviews = flags.define("reviews", true).unwrap();
    let e = flags.disable("reviews").unwrap_err();
    assert_eq!(
        e,
        FlagError::Store {
            name: "reviews".to_owned(),
            message: "store is read-only".to_owned(),
        }
    );
    assert!(reviews.is_enabled());
}

#[test]
fn the_snapshot_lists_every_flag_as_json() {
    let flags = Flags::new();
    flags.define("reviews", true).unwrap();
    flags.define("recommendations", true).unwrap();
    flags.disable("recommendations").unwrap();
    let snap = flags.snapshot();
    assert_eq!(snap.get("recommendations").map(|f| f.enabled), Some(false));
    let json = snap.to_json();
    assert_eq!(
        json,
        r#"{"flags":[{"name":"recommendations","enabled":false,"default":true},{"name":"reviews","enabled":true,"default":true}]}"#
    );
    let back: rampart::flags::FlagsSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
}
