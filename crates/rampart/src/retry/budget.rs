//! Limits retries to a share of recent calls, so that retrying cannot multiply the load
//! on a dependency that is already failing.
//!
//! A [`RetryBudget`] is shared by every call to one dependency (clone it: clones share
//! the same budget). Each original call [deposits](RetryBudget::deposit); each retry or
//! hedged attempt must [withdraw](RetryBudget::try_withdraw) first. Over a sliding
//! window (10 s by default) retries may reach `ratio` of the calls (20 %) plus a reserve
//! of `min_per_second` per second of window (10/s), the defaults Linkerd uses. With a
//! dependency that fails every request, three attempts per call then make about 1.2
//! times the original load, not 3 times.
//!
//! The window is split into ten buckets. Deposits only bump one atomic counter; a
//! withdrawal reads the clock, rotates the buckets under a mutex and decides. Because
//! calls are assigned to buckets only when a withdrawal looks, calls made since the
//! previous withdrawal are counted in the oldest bucket they could belong to: they
//! leave the window early rather than late, so the budget never allows more than its
//! rule. A long quiet spell without withdrawals therefore forgets the calls made in it,
//! and the per-second reserve carries the first retries after it.
//!
//! # Examples
//!
//! ```
//! use rampart::clock::ManualClock;
//! use rampart::retry::budget::{RetryBudget, RetryBudgetConfig};
//! use std::sync::Arc;
//!
//! let config = RetryBudgetConfig::new().with_ratio(0.5).with_min_per_second(0);
//! let budget = RetryBudget::new(config, Arc::new(ManualClock::new()))?;
//! for _ in 0..4 {
//!     budget.deposit();
//! }
//! assert!(budget.try_withdraw());
//! assert!(budget.try_withdraw());
//! assert!(!budget.try_withdraw());
//! # Ok::<(), rampart::ConfigError>(())
//! ```

use std::fmt;
use std::time::Duration;

use crate::clock::{duration_to_nanos, Clock};
use crate::config::{in_range, positive, ConfigError};
// loom's under `cfg(rampart_loom)`; the clock stays a `std::sync::Arc` in either case, as
// the public API and the other policies hand it round.
use crate::sync::{self, Arc, AtomicU64, Mutex, MutexGuard, Ordering};

/// How many buckets the window is split into.
const BUCKETS: usize = 10;

/// The ratio is applied in millionths so that the decision is integer arithmetic.
const MICROS_PER_UNIT: u128 = 1_000_000;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The limits of a [`RetryBudget`].
///
/// # Defaults
///
/// | field | default | valid |
/// |---|---|---|
/// | `ratio` | 0.2 (retries may be 20 % of calls) | finite, 0 to 1000 |
/// | `min_per_second` | 10 | any |
/// | `window` | 10 s | above zero |
///
/// In configuration files every field is optional, e.g. `ratio = 0.1` and
/// `window = "30s"`.
///
/// # Examples
///
/// ```
/// use rampart::retry::budget::RetryBudgetConfig;
/// use std::time::Duration;
///
/// let config = RetryBudgetConfig::new().with_ratio(0.1).with_window(Duration::from_secs(30));
/// assert!(config.validate().is_ok());
/// assert_eq!(config.min_per_second, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryBudgetConfig {
    /// Retries allowed per call made in the window (0.2 = 20 %).
    pub ratio: f64,
    /// Retries allowed per second of window even without calls.
    pub min_per_second: u32,
    /// How far back calls and retries count.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl RetryBudgetConfig {
    /// The defaults: 20 % of calls plus 10 per second, over 10 s.
    pub const fn new() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
        }
    }

    /// Sets the retries allowed per call in the window.
    pub const fn with_ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Sets the retries allowed per second of window regardless of calls.
    pub const fn with_min_per_second(mut self, min_per_second: u32) -> Self {
        self.min_per_second = min_per_second;
        self
    }

    /// Sets how far back calls and retries count.
    pub const fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Checks the limits.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `budget.ratio` when it is not a finite number in
    /// `[0, 1000]`, or for `budget.window` when it is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("budget.ratio", self.ratio, 0.0, 1000.0)?;
        positive("budget.window", self.window)
    }
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A retry budget shared by all calls to one dependency.
///
/// Cheap to clone; clones share the budget. `Send + Sync`.
#[derive(Clone)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

struct Shared {
    config: RetryBudgetConfig,
    clock: std::sync::Arc<dyn Clock>,
    /// Every call ever deposited (wrapping).
    calls: AtomicU64,
    state: Mutex<Window>,
}

impl RetryBudget {
    /// A budget with `config`, taking time from `clock`.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RetryBudgetConfig::validate`].
    pub fn new(
        config: RetryBudgetConfig,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let window = Window::new(&config, clock.now_nanos());
        Ok(RetryBudget {
            shared: Arc::new(Shared {
                config,
                clock,
                calls: AtomicU64::new(0),
                state: Mutex::new(window),
            }),
        })
    }

    /// Records that an original call started (not a retry).
    ///
    /// One relaxed atomic increment: no clock read, no lock.
    pub fn deposit(&self) {
        self.shared.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Asks to start a retry (or hedged attempt): `true`, and counted, if the budget
    /// allows it now.
    pub fn try_withdraw(&self) -> bool {
        let now = self.shared.clock.now_nanos();
        let mut window = self.lock();
        let calls = self.shared.calls.load(Ordering::Relaxed);
        window.try_withdraw(now, calls)
    }

    /// How many retries would be allowed now.
    pub fn available(&self) -> u64 {
        let now = self.shared.clock.now_nanos();
        let mut window = self.lock();
        let calls = self.shared.calls.load(Ordering::Relaxed);
        window.rotate(now, calls);
        window.available(calls)
    }

    /// The limits this budget was built with.
    pub fn config(&self) -> &RetryBudgetConfig {
        &self.shared.config
    }

    /// The window state; a panic elsewhere while it was held cannot leave it
    /// inconsistent (every update is a plain store), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Window> {
        sync::lock(&self.shared.state)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("config", &self.shared.config)
            .field("calls", &self.shared.calls.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// One tenth of the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    /// The total call count when this bucket began.
    calls_at_start: u64,
    /// Retries withdrawn while this bucket was current.
    retries: u64,
}

/// The pure core: buckets over time, driven by "now" and the call total as numbers.
#[derive(Debug)]
struct Window {
    buckets: [Bucket; BUCKETS],
    /// Index of the current bucket; the oldest is the next one round the ring.
    head: usize,
    /// The current bucket covers `[epoch * width, (epoch + 1) * width)`.
    epoch: u64,
    /// Bucket width in nanoseconds (at least 1).
    width: u64,
    ratio_micros: u128,
    /// `min_per_second` times the window in seconds.
    reserve: u64,
}

impl Window {
    fn new(config: &RetryBudgetConfig, now: u64) -> Self {
        let window_ns = duration_to_nanos(config.window);
        let width = (window_ns / BUCKETS as u64).max(1);
        // `as` maps NaN and negatives to 0; validation keeps the ratio in [0, 1000].
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ratio_micros = (config.ratio * 1e6).round() as u128;
        let reserve = u128::from(config.min_per_second) * u128::from(window_ns) / NANOS_PER_SEC;
        Window {
            buckets: [Bucket::default(); BUCKETS],
            head: 0,
            epoch: now / width,
            width,
            ratio_micros,
            reserve: u64::try_from(reserve).unwrap_or(u64::MAX),
        }
    }

    /// Moves the ring forward to `now`; buckets that begin now start at `calls`, so calls
    /// made since the last look stay in the older bucket that leaves the window first.
    fn rotate(&mut self, now: u64, calls: u64) {
        let epoch = now / self.width;
        // A clock that went backwards leaves the ring as it is.
        let steps = epoch.saturating_sub(self.epoch);
        if steps == 0 {
            return;
        }
        let fresh = Bucket {
            calls_at_start: calls,
            retries: 0,
        };
        if steps >= BUCKETS as u64 {
            self.buckets = [fresh; BUCKETS];
        } else {
            for _ in 0..steps {
                self.head = (self.head + 1) % BUCKETS;
                self.buckets[self.head] = fresh;
            }
        }
        self.epoch = epoch;
    }

    /// Calls made in the window, given the call total now.
    fn calls_in_window(&self, calls: u64) -> u64 {
        let oldest = self.buckets[(self.head + 1) % BUCKETS];
        calls.wrapping_sub(oldest.calls_at_start)
    }

    fn retries_in_window(&self) -> u64 {
        self.buckets
            .iter()
            .fold(0u64, |sum, b| sum.saturating_add(b.retries))
    }

    /// Retries the rule allows in the window: `ratio * calls + reserve`, rounded down.
    fn allowance(&self, calls: u64) -> u64 {
        let share = u128::from(self.calls_in_window(calls)) * self.ratio_micros / MICROS_PER_UNIT;
        u64::try_from(share)
            .unwrap_or(u64::MAX)
            .saturating_add(self.reserve)
    }

    fn available(&self, calls: u64) -> u64 {
        self.allowance(calls)
            .saturating_sub(self.retries_in_window())
    }

    fn try_withdraw(&mut self, now: u64, calls: u64) -> bool {
        self.rotate(now, calls);
        if self.available(calls) == 0 {
            return false;
        }
        let current = &mut self.buckets[self.head];
        current.retries = current.retries.saturating_add(1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    // The clock's `Arc`, also under `cfg(rampart_loom)` where `super::Arc` is loom's.
    use std::sync::Arc;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    fn budget(config: RetryBudgetConfig) -> (RetryBudget, ManualClock) {
        let clock = ManualClock::new();
        let b = RetryBudget::new(config, Arc::new(clock.clone())).unwrap();
        (b, clock)
    }

    #[test]
    fn is_send_sync_and_clones_share() {
        fn send_sync<T: Send + Sync + Clone + fmt::Debug>() {}
        send_sync::<RetryBudget>();
        let (b, _clock) = budget(RetryBudgetConfig::new().with_min_per_second(0));
        let c = b.clone();
        for _ in 0..10 {
            c.deposit();
        }
        assert_eq!(b.available(), 2);
        assert!(b.try_withdraw());
        assert_eq!(c.available(), 1);
        assert!(format!("{b:?}").contains("calls: 10"));
    }

    /// The seeds' scenario: 1,000 calls/s for 60 s against a dependency that always
    /// fails, each call wanting 2 retries (3 attempts).
    #[test]
    fn bounds_amplification_without_starving() {
        let (b, clock) = budget(RetryBudgetConfig::new());
        let calls: u64 = 60_000;
        let mut retries: u64 = 0;
        for _ in 0..calls {
            b.deposit();
            for _ in 0..2 {
                if !b.try_withdraw() {
                    break;
                }
                retries += 1;
            }
            clock.advance(Duration::from_millis(1));
        }
        let attempts = calls + retries;
        assert!(
            attempts as f64 <= calls as f64 * 1.2 + 10.0 * 60.0,
            "{attempts} attempts for {calls} calls"
        );
        assert!(
            retries as f64 > calls as f64 * 0.15,
            "starved: {retries} retries"
        );
    }

    #[test]
    fn reserve_allows_retries_without_calls() {
        let (b, clock) = budget(RetryBudgetConfig::new().with_min_per_second(3));
        assert_eq!(b.available(), 30);
        for _ in 0..30 {
            assert!(b.try_withdraw());
        }
        assert!(!b.try_withdraw());
        assert_eq!(b.available(), 0);
        // Once the window has passed, the reserve is back.
        clock.advance(Duration::from_secs(11));
        assert_eq!(b.available(), 30);

        let (none, _) = budget(RetryBudgetConfig::new().with_min_per_second(0));
        assert!(!none.try_withdraw());
    }

    #[test]
    fn window_slides_and_ratio_part_resets() {
        let (b, clock) = budget(
            RetryBudgetConfig::new()
                .with_ratio(0.5)
                .with_min_per_second(0),
        );
        for _ in 0..100 {
            b.deposit();
        }
        assert_eq!(b.available(), 50);
        for _ in 0..20 {
            assert!(b.try_withdraw());
        }
        assert_eq!(b.available(), 30);
        // Still inside the window: nothing expires.
        clock.advance(Duration::from_secs(8));
        assert_eq!(b.available(), 30);
        // More than a window without calls: calls and retries are both forgotten.
        clock.advance(Duration::from_secs(3));
        assert_eq!(b.available(), 0);
        assert!(!b.try_withdraw());
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.available(), 5);
    }

    #[test]
    fn old_buckets_leave_one_by_one() {
        // 1 s buckets; 10 calls in each of the first 3 seconds, looked at every second.
        let (b, clock) = budget(
            RetryBudgetConfig::new()
                .with_ratio(1.0)
                .with_min_per_second(0),
        );
        for _ in 0..3 {
            // Looking at the budget at the start of each second starts its bucket.
            b.available();
            for _ in 0..10 {
                b.deposit();
            }
            assert!(b.try_withdraw());
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(b.available(), 30 - 3);
        clock.advance(Duration::from_secs(7)); // t = 10 s: the first second is gone.
        assert_eq!(b.available(), 20 - 2);
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.available(), 10 - 1);
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.available(), 0);
    }

    #[test]
    fn unseen_calls_are_attributed_to_the_oldest_possible_bucket() {
        let mut w = Window::new(
            &RetryBudgetConfig::new()
                .with_ratio(1.0)
                .with_min_per_second(0),
            0,
        );
        assert!(!w.try_withdraw(0, 0));
        // 50 calls happened somewhere in [0, 5 s]; the next look is at 5 s.
        assert_eq!(w.available(50), 50);
        w.rotate(5 * SEC, 50);
        assert_eq!(w.available(50), 50);
        // They may all have been made at 0 s, so at 10 s they are gone.
        w.rotate(10 * SEC, 50);
        assert_eq!(w.available(50), 0);
    }

    #[test]
    fn core_handles_odd_inputs() {
        // A window shorter than ten nanoseconds still has 1 ns buckets.
        let config = RetryBudgetConfig::new().with_window(Duration::from_nanos(3));
        let mut w = Window::new(&config, 7);
        assert_eq!(w.width, 1);
        assert_eq!(w.reserve, 0);
        assert!(w.try_withdraw(8, 10));
        // Time going backwards and a huge jump neither panic nor misbehave.
        assert!(w.try_withdraw(0, 10));
        assert!(!w.try_withdraw(u64::MAX, 10));
        // The largest ratio with an enormous call count saturates.
        let big = RetryBudgetConfig::new()
            .with_ratio(1000.0)
            .with_min_per_second(u32::MAX)
            .with_window(Duration::MAX);
        let mut w = Window::new(&big, 0);
        assert_eq!(w.available(u64::MAX), u64::MAX);
        assert!(w.try_withdraw(5 * MS, u64::MAX));
    }

    #[test]
    fn validation_names_the_field() {
        let field = |c: RetryBudgetConfig| c.validate().map_err(|e| e.field().to_owned());
        assert_eq!(field(RetryBudgetConfig::new()), Ok(()));
        for ratio in [-0.1, 1000.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                field(RetryBudgetConfig::new().with_ratio(ratio)),
                Err("budget.ratio".into()),
                "{ratio}"
            );
        }
        assert_eq!(field(RetryBudgetConfig::new().with_ratio(0.0)), Ok(()));
        assert_eq!(field(RetryBudgetConfig::new().with_ratio(1000.0)), Ok(()));
        assert_eq!(
            field(RetryBudgetConfig::new().with_window(Duration::ZERO)),
            Err("budget.window".into())
        );
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let err =
            RetryBudget::new(RetryBudgetConfig::new().with_ratio(f64::NAN), clock).unwrap_err();
        assert_eq!(err.field(), "budget.ratio");
    }

    #[test]
    fn config_from_toml_with_defaults() {
        let c: RetryBudgetConfig = toml::from_str("ratio = 0.1\nwindow = \"30s\"\n").unwrap();
        assert_eq!(
            c,
            RetryBudgetConfig::new()
                .with_ratio(0.1)
                .with_window(Duration::from_secs(30))
        );
        assert_eq!(
            toml::from_str::<RetryBudgetConfig>("").unwrap(),
            RetryBudgetConfig::default()
        );
        assert!(toml::from_str::<RetryBudgetConfig>("ratios = 0.1").is_err());
        let written = toml::to_string(&c).unwrap();
        assert!(written.contains("\"30s\""), "{written}");
        assert_eq!(toml::from_str::<RetryBudgetConfig>(&written).unwrap(), c);
    }

    #[test]
    fn concurrent_use_stays_consistent() {
        let (b, clock) = budget(
            RetryBudgetConfig::new()
                .with_ratio(0.25)
                .with_min_per_second(1),
        );
        let per_thread: u64 = 20_000;
        let granted: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    s.spawn(move || {
                        let mut granted = 0;
                        for _ in 0..per_thread {
                            b.deposit();
                            if b.try_withdraw() {
                                granted += 1;
                            }
                            if b.try_withdraw() {
                                granted += 1;
                            }
                        }
                        granted
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("worker panicked"))
                .collect()
        });
        let granted: u64 = granted.iter().sum();
        let calls = 2 * per_thread;
        // The clock never moved, so everything is in one window.
        let allowance = calls / 4 + 10;
        assert!(granted <= allowance, "{granted} > {allowance}");
        assert_eq!(b.available(), allowance - granted);
        assert!(
            granted >= allowance - 2,
            "starved: {granted} of {allowance}"
        );
        assert_eq!(clock.now_nanos(), 0);
    }
}

/// Loom models of deposits (one relaxed increment) racing withdrawals (clock, mutex,
/// relaxed load). Run with
/// `RUSTFLAGS="--cfg rampart_loom" cargo test -p rampart --lib --release loom_`.
#[cfg(all(test, rampart_loom))]
mod loom_tests {
    use super::*;
    use crate::clock::ManualClock;
    use loom::thread;

    use crate::sync::check_model as check;

    /// A budget on a clock that never moves, so its window never rotates.
    fn budget(ratio: f64, min_per_second: u32, window: Duration) -> RetryBudget {
        let config = RetryBudgetConfig::new()
            .with_ratio(ratio)
            .with_min_per_second(min_per_second)
            .with_window(window);
        RetryBudget::new(config, std::sync::Arc::new(ManualClock::new())).unwrap()
    }

    fn calls(b: &RetryBudget) -> u64 {
        b.shared.calls.load(Ordering::Relaxed)
    }

    #[test]
    fn loom_deposit_then_withdraw_never_exceeds_the_ratio() {
        check(|| {
            // A window of one bucket's width (1 ns buckets are the narrowest); the clock
            // stays at 0, so this single epoch never rotates.
            let b = budget(0.5, 0, Duration::from_nanos(10));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || {
                        b.deposit();
                        b.try_withdraw()
                    })
                })
                .collect();
            let granted = workers
                .into_iter()
                .map(|w| u64::from(w.join().unwrap()))
                .sum::<u64>();
            let deposits = calls(&b);
            assert_eq!(deposits, 2);
            // floor(0.5 * deposits), whatever each withdrawal happened to see.
            let allowed = deposits / 2;
            assert!(granted <= allowed, "{granted} > {allowed}");
            assert_eq!(b.available(), allowed - granted);
        });
    }

    #[test]
    fn loom_withdraw_racing_deposits_loses_none() {
        check(|| {
            let b = budget(1.0, 0, Duration::from_secs(10));
            let depositor = {
                let b = b.clone();
                thread::spawn(move || {
                    b.deposit();
                    b.deposit();
                })
            };
            let granted = u64::from(b.try_withdraw());
            depositor.join().unwrap();
            assert_eq!(calls(&b), 2);
            // Recounted sequentially: ratio 1 of 2 calls, less what was granted.
            assert_eq!(b.available(), 2 - granted);
            let mut w = Window::new(b.config(), 0);
            if granted == 1 {
                assert!(w.try_withdraw(0, 2));
            }
            assert_eq!(b.available(), w.available(2));
        });
    }

    #[test]
    fn loom_single_retry_goes_to_exactly_one() {
        check(|| {
            let b = budget(0.0, 1, Duration::from_secs(1));
            assert_eq!(b.available(), 1);
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || b.try_withdraw())
                })
                .collect();
            let granted = racers
                .into_iter()
                .filter_map(|r| r.join().unwrap().then_some(()))
                .count();
            assert_eq!(granted, 1);
            assert_eq!(b.available(), 0);
        });
    }
}
