//! The seeds' checkout outage in miniature, in virtual time.
//!
//! A simulated payment API answers in 200 ms; calls that start between 4 s and 10 s
//! stall for 5 s more (two in three) or fail at once with a 503 (the third). Thirty
//! orders, one every 500 ms, pay through a "payment" pipeline: a 5 s timeout on the
//! whole call (the checkout SLA), a retry (3 attempts, exponential from 1 s, full jitter,
//! seeded so every run prints the same), and a 2 s timeout per attempt. A fallback chain
//! around it accepts the order as "pending" when the API is the problem; a declined card
//! is neither retried nor hidden: that order fails. The same orders then run against
//! the same API with no pipeline, for comparison. Tokio's clock is paused: the 20 s of
//! virtual time take milliseconds. Run it with
//! `cargo run -p rampart-examples --example checkout`.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::classify::Classifier;
use rampart::event::{Event, EventKind};
use rampart::fallback::{Fallback, FallbackChain};
use rampart::retry::{Jitter, RetryConfig};
use rampart::{ConfigError, Error, Pipeline};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, Instant};

/// Orders in a run, and the time between two arrivals.
const ORDERS: u32 = 30;
const ARRIVAL_EVERY: Duration = Duration::from_millis(500);
/// The time a customer waits for checkout before giving up.
const SLA: Duration = Duration::from_secs(5);
/// Calls that start in this window (from the start of the run) meet the outage.
const OUTAGE: Range<Duration> = Duration::from_secs(4)..Duration::from_secs(10);
/// Orders paid with a card that the API declines.
const DECLINED: [u32; 2] = [6, 25];

tokio::task_local! {
    /// The order a task is paying for, so that the event listener can name it.
    static ORDER: u32;
}

/// What the payment step tells the customer: the card was charged, or the order is
/// accepted and the card will be charged once the API is back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Payment {
    Paid,
    Pending,
}

/// The payment API's errors: a 503 is worth retrying and worth queueing the order for
/// later; a declined card (402) is the customer's problem, which neither would solve.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PayError {
    Unavailable,
    Declined,
}

impl fmt::Display for PayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayError::Unavailable => "503 unavailable",
            PayError::Declined => "402 card declined",
        })
    }
}

/// The simulated payment API.
struct PaymentApi {
    start: Instant,
    calls: AtomicU32,
}

impl PaymentApi {
    fn new(start: Instant) -> Arc<Self> {
        Arc::new(PaymentApi {
            start,
            calls: AtomicU32::new(0),
        })
    }

    /// Charges the card for `order`.
    async fn charge(&self, order: u32) -> Result<Payment, PayError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        if OUTAGE.contains(&self.start.elapsed()) {
            if call % 3 == 2 {
                sleep(Duration::from_millis(50)).await;
                return Err(PayError::Unavailable);
            }
            sleep(Duration::from_secs(5)).await;
        }
        sleep(Duration::from_millis(200)).await;
        if DECLINED.contains(&order) {
            return Err(PayError::Declined);
        }
        Ok(Payment::Paid)
    }
}

/// How one order ended, and how long the customer waited.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Confirmed,
    Degraded,
    Failed,
}

/// Formats a duration as seconds with at most two decimals: `2s`, `1.2s`, `0.37s`.
fn secs(d: Duration) -> String {
    let s = format!("{:.2}", d.as_secs_f64());
    format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
}

/// Prints one timeline line: virtual time since `start`, the order, what happened.
fn line(start: Instant, order: u32, what: &str) {
    println!(
        "{:>7.2}s  order {order:>2}  {what}",
        start.elapsed().as_secs_f64()
    );
}

/// The pipeline's listener: prints retries, timeouts and give-ups as they happen.
fn listener(start: Instant) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
    move |event: &Event<'_>| {
        let what = match event.kind {
            EventKind::RetryScheduled {
                attempt,
                delay,
                error,
                ..
            } => format!("RETRY #{attempt} after {} ({error:?})", secs(delay)),
            EventKind::TimeoutElapsed { after, kind } => {
                format!("{} after {}", kind.as_str().to_uppercase(), secs(after))
            }
            EventKind::RetryGaveUp {
                attempts, reason, ..
            } => format!("GAVE UP after attempt {attempts} ({reason:?})"),
            _ => return,
        };
        line(start, ORDER.try_with(|o| *o).unwrap_or(0), &what);
    }
}

/// Runs every order through the pipeline and the fallback chain, printing the timeline.
async fn with_rampart() -> Result<Vec<(End, Duration)>, ConfigError> {
    let start = Instant::now();
    let api = PaymentApi::new(start);
    let payment = Pipeline::builder("payment")
        .timeout(SLA)
        .retry(
            RetryConfig::exponential(Duration::from_secs(1))
                .with_max_attempts(3)
                .with_jitter(Jitter::Full)
                .with_seed(7),
        )
        .timeout(Duration::from_secs(2))
        .listener(listener(start))
        .build()?;
    // Retry a 503 (and, by default, a per-attempt timeout); never a declined card.
    let classifier: Classifier<Payment, PayError> =
        Classifier::new().retry_err_if(|e| *e == PayError::Unavailable);
    // Accept the order as pending whenever the API, not the card, is the problem.
    let pending: FallbackChain<Payment, PayError> = FallbackChain::new().fallback(
        Fallback::value("pending", Payment::Pending)
            .when(|e: &Error<PayError>| e.operation() != Some(&PayError::Declined)),
    );

    let order = |id| {
        let (api, payment) = (Arc::clone(&api), payment.clone());
        let (classifier, pending) = (classifier.clone(), pending.clone());
        ORDER.scope(id, async move {
            let arrived = Instant::now();
            let call = payment.call_classified(&classifier, || api.charge(id));
            let result = pending.call(payment.name(), call).await;
            let waited = arrived.elapsed();
            let (end, what) = match result.as_ref().map(|p| p.degradation()) {
                Ok(None) => (End::Confirmed, format!("confirmed in {}", secs(waited))),
                Ok(Some(d)) => (
                    End::Degraded,
                    format!("degraded \"pending\" in {} ({})", secs(waited), d.reason()),
                ),
                Err(e) => (End::Failed, format!("FAILED in {}: {e}", secs(waited))),
            };
            line(start, id, &what);
            (end, waited)
        })
    };
    Ok(arrive(start, order).await)
}

/// Runs the same orders against the same API with no pipeline: just `await`.
async fn without_rampart() -> Vec<(End, Duration)> {
    let start = Instant::now();
    let api = PaymentApi::new(start);
    let order = |id| {
        let api = Arc::clone(&api);
        async move {
            let arrived = Instant::now();
            let ok = api.charge(id).await.is_ok();
            let end = if ok { End::Confirmed } else { End::Failed };
            (end, arrived.elapsed())
        }
    };
    arrive(start, order).await
}

/// Starts orders 1 to [`ORDERS`], one every [`ARRIVAL_EVERY`] from `start`, each as a
/// task made by `order`, and collects how each ended and how long it waited.
async fn arrive<F, Fut>(start: Instant, order: F) -> Vec<(End, Duration)>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = (End, Duration)> + Send + 'static,
{
    let mut orders = JoinSet::new();
    for id in 1..=ORDERS {
        sleep_until(start + ARRIVAL_EVERY * (id - 1)).await;
        orders.spawn(order(id));
    }
    orders.join_all().await
}

/// Prints one summary row: orders confirmed within the SLA, confirmed after it (the
/// customer has given up by then), pending, failed, and the longest wait. Returns how
/// many orders waited past the SLA, and the longest wait.
fn summary(label: &str, run: &[(End, Duration)]) -> (usize, Duration) {
    let count = |f: &dyn Fn(End, Duration) -> bool| run.iter().filter(|(e, w)| f(*e, *w)).count();
    let max = run.iter().map(|(_, w)| *w).max().unwrap_or_default();
    println!(
        "  {label:<16} {:>9} {:>9} {:>9} {:>9} {:>9}",
        count(&|e, w| e == End::Confirmed && w <= SLA),
        count(&|e, w| e == End::Confirmed && w > SLA),
        count(&|e, _| e == End::Degraded),
        count(&|e, _| e == End::Failed),
        secs(max),
    );
    (count(&|_, w| w > SLA), max)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), ConfigError> {
    let (from, to) = (secs(OUTAGE.start), secs(OUTAGE.end));
    println!("checkout: payment API slow and failing from {from} to {to} (virtual time)\n");
    let protected = with_rampart().await?;
    let bare = without_rampart().await;

    println!("\nsummary (SLA {})", secs(SLA));
    println!(
        "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "confirmed", "too late", "pending", "failed", "max wait"
    );
    let (_, with) = summary("with rampart", &protected);
    let (late, without) = summary("without rampart", &bare);
    println!(
        "\nwithout rampart {late} orders held their caller past the SLA, up to {} each; \
         with it no order waited more than {}",
        secs(without),
        secs(with),
    );
    Ok(())
}
