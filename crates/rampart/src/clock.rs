//! Time as the policies see it: monotonic nanoseconds from a [`Clock`] that tests drive.
//!
//! Synchronous logic (a breaker's windows, a limiter's bucket, the retry budget) takes
//! its time from a `Clock` as integer nanoseconds, never `f32` seconds, and never panics
//! when time appears to go backwards.
//!
//! # The default clock
//!
//! A policy made without a clock takes [`default_clock`], chosen once, when the policy
//! is made:
//!
//! - where tokio's clock is paused (inside `#[tokio::test(start_paused = true)]`, or
//!   after `tokio::time::pause()`), [`TokioClock`], so that paused time drives the
//!   policy together with async sleeps;
//! - everywhere else, [`TscClock`]: nanoseconds from the CPU's time-stamp counter, about
//!   half the cost of the operating system's clock. A breaker with a time window and a
//!   rate limiter read the clock on every call, so this is most of their cost.
//!
//! A test that pauses time *after* making its policies, or makes them outside the
//! runtime (in a `static`), passes [`TokioClock`] to the policy's `with_clock` (or to
//! [`PipelineBuilder::clock`](crate::pipeline::PipelineBuilder::clock)). Synchronous
//! tests use [`ManualClock`], advanced by hand, which also makes blocking sleeps instant.
//! [`CoarseClock`] is the cheapest to read, at millisecond resolution.
//!
//! | clock | resolution | cost of a read | follows tokio's paused time |
//! |---|---|---|---|
//! | [`TscClock`] (default) | nanoseconds (counter ticks, scaled) | one `rdtsc` and a multiply (5-15 ns) | no |
//! | [`TokioClock`] (default under paused time) | nanoseconds | one `clock_gettime` (20-40 ns in VMs) | yes |
//! | [`CoarseClock`] | the kernel tick (1-4 ms on Linux) | 5-10 ns | no |
//! | [`ManualClock`] | nanoseconds | one atomic load | moves only when advanced |
//!
//! The rate limiters read a [`TscClock`] without its multiply: their buckets keep time
//! in the counter's raw ticks, and their quota is turned into ticks once, when it is
//! set. The durations they give back are nanoseconds, as from every other policy.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A monotonic source of time in nanoseconds since the clock's own origin.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since this clock's origin. Never decreases.
    fn now_nanos(&self) -> u64;

    /// Blocks the current thread for `duration` (used by blocking calls only).
    fn sleep_blocking(&self, duration: Duration);

    /// The [`TscClock`] this clock is, if it is one, so that a policy can read it
    /// without a virtual call. Only `TscClock` overrides it.
    #[doc(hidden)]
    fn as_tsc(&self) -> Option<&TscClock> {
        None
    }
}

/// A policy's clock as it reads it on every call: the time-stamp counter inlined when
/// the clock is a [`TscClock`] (the default outside paused time), else a virtual call.
/// A rate limiter's check costs a few nanoseconds, and the call was a tenth of them.
#[derive(Debug, Clone)]
pub(crate) enum InlineClock {
    Tsc(TscClock),
    Dyn(Arc<dyn Clock>),
}

impl InlineClock {
    /// Reads `clock` inline when it is the time-stamp counter.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        match clock.as_tsc() {
            Some(tsc) => InlineClock::Tsc(tsc.clone()),
            None => InlineClock::Dyn(clock),
        }
    }

    /// Nanoseconds since the clock's origin.
    #[inline]
    pub(crate) fn now_nanos(&self) -> u64 {
        match self {
            InlineClock::Tsc(tsc) => tsc.now_nanos(),
            InlineClock::Dyn(clock) => clock.now_nanos(),
        }
    }
}

/// A policy's clock read in the clock's own ticks, for a policy that only compares its
/// readings with each other and with durations turned into ticks once (a rate
/// limiter's buckets): the time-stamp counter's raw count, with no scaling on each
/// read, or the nanoseconds of any other clock.
///
/// Scaling a counter reading to nanoseconds is a multiply and two shifts on the path
/// from the read to the decision; on a rate limiter's check that was a tenth of its
/// cost. Ticks go back to nanoseconds only where a duration leaves the policy (a
/// `retry_after`, a snapshot), rounded up there.
#[derive(Debug, Clone)]
pub(crate) struct TickClock {
    source: InlineClock,
    /// Nanoseconds in [`SCALE_TICKS`] ticks: exactly that for a clock that ticks in
    /// nanoseconds.
    nanos_per_scale: u64,
}

/// The number of ticks [`TickClock`] measures its rate over: large enough that the
/// rate of a counter of a few GHz is known to about one part in 10^11.
const SCALE_TICKS: u64 = 1 << 40;

impl TickClock {
    /// Reads `clock` in ticks: the counter's raw ticks when it is a [`TscClock`],
    /// nanoseconds otherwise.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        let source = InlineClock::new(clock);
        let nanos_per_scale = match &source {
            InlineClock::Tsc(tsc) => tsc.counter.delta_as_nanos(0, SCALE_TICKS).max(1),
            InlineClock::Dyn(_) => SCALE_TICKS,
        };
        TickClock {
            source,
            nanos_per_scale,
        }
    }

    /// A clock whose readings of `clock` are ticks of which `SCALE_TICKS` make
    /// `nanos_per_scale` nanoseconds: a counter that does not tick in nanoseconds, for
    /// tests.
    #[cfg(test)]
    pub(crate) fn scaled(clock: Arc<dyn Clock>, nanos_per_scale: u64) -> Self {
        TickClock {
            source: InlineClock::Dyn(clock),
            nanos_per_scale: nanos_per_scale.max(1),
        }
    }

    /// Ticks since the clock's origin (any origin: only differences mean anything).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.source {
            InlineClock::Tsc(tsc) => tsc.counter.raw(),
            InlineClock::Dyn(clock) => clock.now_nanos(),
        }
    }

    /// The ticks in `nanos` nanoseconds, rounded up (at least `nanos` rounded up to a
    /// whole tick), saturating.
    pub(crate) fn ticks(&self, nanos: u64) -> u64 {
        let ticks = (u128::from(nanos) * u128::from(SCALE_TICKS))
            .div_ceil(u128::from(self.nanos_per_scale));
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// The nanoseconds in `ticks` ticks, rounded up, saturating.
    pub(crate) fn nanos(&self, ticks: u64) -> u64 {
        let nanos = (u128::from(ticks) * u128::from(self.nanos_per_scale))
            .div_ceil(u128::from(SCALE_TICKS));
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }
}

/// A shared clock is a clock, so one clock can serve several policies.
impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }

    fn sleep_blocking(&self, duration: Duration) {
        (**self).sleep_blocking(duration);
    }

    fn as_tsc(&self) -> Option<&TscClock> {
        (**self).as_tsc()
    }
}

/// Converts a duration to nanoseconds, saturating at `u64::MAX` (about 584 years).
pub fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Polls a lazily made tokio sleep that must end at `at`: makes it on first use and
/// moves it when `at` changed, so one timer serves a future however often its target
/// instant moves.
#[inline]
pub(crate) fn poll_sleep_until(
    mut sleep: std::pin::Pin<&mut Option<tokio::time::Sleep>>,
    at: tokio::time::Instant,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<()> {
    use std::future::Future;
    match sleep.as_mut().as_pin_mut() {
        Some(s) if s.deadline() == at => {}
        Some(s) => s.reset(at),
        None => sleep.set(Some(tokio::time::sleep_until(at))),
    }
    match sleep.as_pin_mut() {
        Some(s) => s.poll(cx),
        None => std::task::Poll::Pending,
    }
}

/// The clock a policy made without one takes: [`TokioClock`] where tokio's clock is
/// paused (see [`tokio_time_paused`]), else [`TscClock`]. See the [module docs](self).
///
/// # Examples
///
/// ```
/// use rampart::clock::{default_clock, Clock};
/// use std::time::Duration;
///
/// #[tokio::main(flavor = "current_thread", start_paused = true)]
/// async fn main() {
///     // Made where time is paused: paused time drives it.
///     let clock = default_clock();
///     let before = clock.now_nanos();
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     assert_eq!(clock.now_nanos() - before, 60_000_000_000);
/// }
/// ```
pub fn default_clock() -> Arc<dyn Clock> {
    if tokio_time_paused() {
        Arc::new(TokioClock::new())
    } else {
        Arc::new(TscClock::new())
    }
}

/// Whether tokio's clock is paused where this is called: on the thread of a runtime
/// started paused or paused with `tokio::time::pause()` (which needs tokio's
/// `test-util` feature). Outside a runtime, `false`.
///
/// Tokio does not say so itself, so this watches its clock: a paused clock stands still
/// while the system clock moves, which takes well under a microsecond to see.
pub fn tokio_time_paused() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    let tokio_before = tokio::time::Instant::now();
    let real_before = std::time::Instant::now();
    // A running tokio clock reads the system clock, so once the system clock has moved
    // past `real_before` (at or after `tokio_before`), a running tokio clock has too.
    // Bounded for a system clock that does not move; then time is not paused.
    for _ in 0..1_000_000 {
        if std::time::Instant::now() > real_before {
            return tokio::time::Instant::now() == tokio_before;
        }
        std::hint::spin_loop();
    }
    false
}

/// Tokio's clock: its `Instant`, which follows paused time in tests.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now_nanos(&self) -> u64 {
        duration_to_nanos(tokio::time::Instant::now().saturating_duration_since(self.origin))
    }

    fn sleep_blocking(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The cheapest clock to read, at millisecond resolution; opt in with a policy's
/// `with_clock` constructor.
///
/// On Linux it reads `CLOCK_MONOTONIC_COARSE`, which the kernel updates once per tick
/// (every 1 to 4 ms), without touching any shared cache line, so two threads reading it
/// never contend. That resolution is ample for a breaker's time buckets (a second or
/// more each) and slow-call thresholds (seconds); it is too coarse to time sub-tick
/// latencies. It does not follow tokio's paused time.
///
/// # Examples
///
/// ```
/// use rampart::circuit::{BreakerConfig, CircuitBreaker};
/// use rampart::clock::CoarseClock;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let config = BreakerConfig::time_window(Duration::from_secs(10), 10, 0.5);
/// let breaker = CircuitBreaker::with_clock("payment", config, Arc::new(CoarseClock::new()))?;
/// # Ok::<(), rampart::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CoarseClock {
    origin: coarsetime::Instant,
}

impl CoarseClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        CoarseClock {
            origin: coarsetime::Instant::now_without_cache_update(),
        }
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // The subtraction saturates, and the crate's own cache is left alone so readers
        // on different threads share no written memory.
        coarsetime::Instant::now_without_cache_update()
            .duration_since(self.origin)
            .as_nanos()
    }

    fn sleep_blocking(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A precise clock that reads the CPU's time-stamp counter: the [default](default_clock)
/// outside paused time, because policies that read the clock on every call (a rate
/// limiter's check, a breaker's time window) then cost about half as much.
///
/// It reads the counter through the `quanta` crate (as governor does by default) and
/// scales the ticks to nanoseconds with a calibration made once per process, the first
/// time a `TscClock` is made (under 1 ms of busy waiting here; quanta gives it up to
/// 200 ms when the counter is noisy). On an x86-64 CPU without an invariant
/// time-stamp counter, quanta uses the operating system's monotonic clock instead, which
/// costs what [`TokioClock`] costs. Counters of different cores may disagree by a few
/// nanoseconds, so two threads can see time step back that much; the policies never
/// panic on that and only ever refuse more. It does not follow tokio's paused time.
///
/// # Examples
///
/// ```
/// use rampart::clock::TscClock;
/// use rampart::rate_limit::{RateLimitConfig, RateLimiter};
/// use std::sync::Arc;
///
/// let limiter = RateLimiter::with_clock(
///     "search",
///     RateLimitConfig::per_second(1_000),
///     Arc::new(TscClock::new()),
/// )?;
/// assert!(limiter.check().is_ok());
/// # Ok::<(), rampart::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TscClock {
    counter: quanta::Clock,
    /// The counter's raw reading at the origin.
    origin: u64,
}

impl TscClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        let counter = quanta::Clock::new();
        let origin = counter.raw();
        TscClock { counter, origin }
    }
}

impl Default for TscClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TscClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // Zero for a reading at or before the origin (another core's counter behind).
        self.counter.delta_as_nanos(self.origin, self.counter.raw())
    }

    fn as_tsc(&self) -> Option<&TscClock> {
        Some(self)
    }

    fn sleep_blocking(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock that only moves when told to; blocking sleeps advance it instantly.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use rampart::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now_nanos(), 1_500_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `d` (saturating).
    pub fn advance(&self, d: Duration) {
        let add = duration_to_nanos(d);
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(add))
            });
    }

    /// The time since the origin.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }

    fn sleep_blocking(&self, duration: Duration) {
        self.advance(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_saturates() {
        let c = ManualClock::new();
        c.advance(Duration::MAX);
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now_nanos(), u64::MAX);
    }

    #[test]
    fn manual_sleep_advances() {
        let c = ManualClock::new();
        c.sleep_blocking(Duration::from_secs(2));
        assert_eq!(c.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn coarse_clock_never_goes_backwards() {
        let c = CoarseClock::new();
        let mut last = c.now_nanos();
        for _ in 0..10_000 {
            let now = c.now_nanos();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
    }

    #[test]
    fn tsc_clock_counts_nanoseconds_and_never_goes_backwards() {
        let c = TscClock::new();
        let mut last = c.now_nanos();
        for _ in 0..10_000 {
            let now = c.now_nanos();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
        // Against the standard clock, read on both sides of each reading so that a
        // preempted thread cannot break the bounds: the counter is scaled to
        // nanoseconds, not left in ticks (a 3 GHz counter would read three times too
        // much). A busy wait of 2 ms, not a sleep.
        let outer = std::time::Instant::now();
        let start = c.now_nanos();
        let inner = std::time::Instant::now();
        while inner.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let counted = c.now_nanos() - start;
        let most = duration_to_nanos(outer.elapsed());
        // 10 % for the calibration's error.
        assert!(counted >= 1_800_000, "{counted} ns counted in 2 ms or more");
        assert!(
            counted <= most + most / 10,
            "{counted} ns counted in {most} ns"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn under_paused_time_the_default_clock_is_tokios() {
        assert!(tokio_time_paused());
        let c = default_clock();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(c.now_nanos(), 3_000_000_000);
        tokio::time::resume();
        assert!(!tokio_time_paused());
    }

    #[tokio::test]
    async fn on_a_running_clock_the_default_clock_is_the_counter() {
        assert!(!tokio_time_paused());
        let c = default_clock();
        assert!(c.as_tsc().is_some(), "{c:?}");
        tokio::time::pause();
        assert!(tokio_time_paused());
    }

    #[test]
    fn a_policy_reads_the_counter_inline_and_any_other_clock_through_it() {
        let tsc: Arc<dyn Clock> = Arc::new(TscClock::new());
        assert!(matches!(InlineClock::new(tsc), InlineClock::Tsc(_)));
        let shared: Arc<dyn Clock> = Arc::new(Arc::new(TscClock::new()));
        assert!(matches!(InlineClock::new(shared), InlineClock::Tsc(_)));
        let manual = ManualClock::new();
        let inline = InlineClock::new(Arc::new(manual.clone()));
        assert!(matches!(inline, InlineClock::Dyn(_)));
        manual.advance(Duration::from_nanos(7));
        assert_eq!(inline.now_nanos(), 7);
    }

    #[test]
    fn a_tick_clock_reads_other_clocks_in_nanoseconds() {
        let manual = ManualClock::new();
        let ticks = TickClock::new(Arc::new(manual.clone()));
        manual.advance(Duration::from_nanos(7));
        assert_eq!(ticks.now(), 7);
        for n in [0, 1, 7, 1_000_000_007, u64::MAX] {
            assert_eq!(ticks.ticks(n), n);
            assert_eq!(ticks.nanos(n), n);
        }
    }

    #[test]
    fn a_tick_clock_converts_counter_ticks_rounding_up() {
        // 8 ticks in 5 nanoseconds.
        let c = TickClock::scaled(Arc::new(ManualClock::new()), SCALE_TICKS / 8 * 5);
        assert_eq!(c.ticks(5), 8);
        assert_eq!(c.ticks(1), 2, "1.6 ticks round up");
        assert_eq!(c.nanos(8), 5);
        assert_eq!(c.nanos(9), 6, "5.625 ns round up");
        assert_eq!(c.nanos(0), 0);
        for n in [1, 3, 999, 1_000_000_000] {
            assert!(c.nanos(c.ticks(n)) >= n);
        }
        assert_eq!(c.ticks(u64::MAX), u64::MAX);
        // A slow counter: 1 tick per 3 ns.
        let slow = TickClock::scaled(Arc::new(ManualClock::new()), SCALE_TICKS * 3);
        assert_eq!(slow.ticks(3), 1);
        assert_eq!(slow.ticks(4), 2);
        assert_eq!(slow.nanos(2), 6);
        assert_eq!(slow.nanos(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_tick_clock_on_the_counter_reads_its_raw_ticks_at_its_rate() {
        let tsc = TscClock::new();
        let ticks = TickClock::new(Arc::new(tsc.clone()));
        let (t0, n0) = (ticks.now(), tsc.now_nanos());
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let (t1, n1) = (ticks.now(), tsc.now_nanos());
        assert!(t1 > t0);
        // The ticks counted, turned into nanoseconds, are the nanoseconds the scaled
        // clock counted, to within the reads' own time and the rounding.
        let (counted, scaled) = (ticks.nanos(t1 - t0), n1 - n0);
        assert!(
            counted.abs_diff(scaled) <= scaled / 100 + 1_000,
            "{counted} vs {scaled}"
        );
    }

    #[test]
    fn outside_a_runtime_time_is_not_paused() {
        assert!(!tokio_time_paused());
        assert!(default_clock().as_tsc().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let c = TokioClock::new();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(c.now_nanos(), 3_000_000_000);
    }
}
