//! One listener that hands every event to several.

use std::fmt;
use std::sync::Arc;

use crate::event::{Event, Listener};

/// A [`Listener`] that passes every event to each of its listeners in turn, so one
/// pipeline or policy (which takes a single listener) can feed both the `tracing` and
/// the `metrics` adapters, or an adapter and a test [`Recorder`](crate::event::Recorder).
///
/// Cloning is cheap: the listeners are shared.
///
/// # Examples
///
/// ```
/// use rampart::event::Recorder;
/// use rampart::telemetry::Fanout;
/// use rampart::Pipeline;
///
/// let (a, b) = (Recorder::new(), Recorder::new());
/// let listener = Fanout::new().with(a.clone()).with(b.clone());
/// assert_eq!(listener.len(), 2);
/// let pipeline = Pipeline::builder("payment").listener(listener).build().unwrap();
/// # drop(pipeline);
/// ```
#[derive(Clone, Default)]
pub struct Fanout {
    listeners: Vec<Arc<dyn Listener>>,
}

impl Fanout {
    /// A fan-out with no listener yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `listener`; events reach the listeners in the order they were added.
    #[must_use]
    pub fn with(self, listener: impl Listener) -> Self {
        self.with_shared(Arc::new(listener))
    }

    /// Adds a listener that is shared with something else (another pipeline, a policy).
    #[must_use]
    pub fn with_shared(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// How many listeners it feeds.
    pub fn len(&self) -> usize {
        self.listeners.len()
    }

    /// True when it feeds no listener.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }
}

impl Listener for Fanout {
    fn on_event(&self, event: &Event<'_>) {
        for listener in &self.listeners {
            listener.on_event(event);
        }
    }
}

impl fmt::Debug for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fanout")
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, Recorder};

    #[test]
    fn every_listener_hears_every_event_in_order() {
        let (a, b) = (Recorder::new(), Recorder::new());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let o1 = Arc::clone(&order);
        let o2 = Arc::clone(&order);
        let fanout = Fanout::new()
            .with(a.clone())
            .with(move |_: &Event<'_>| o1.lock().unwrap().push(1))
            .with(move |_: &Event<'_>| o2.lock().unwrap().push(2))
            .with(b.clone());
        let event = Event {
            pipeline: "payment",
            kind: EventKind::RateLimited { retry_after: None },
        };
        fanout.on_event(&event);
        fanout.clone().on_event(&event);
        assert_eq!(a.count("RateLimited"), 2);
        assert_eq!(b.count("payment"), 2);
        assert_eq!(*order.lock().unwrap(), [1, 2, 1, 2]);
        assert!(Fanout::new().is_empty());
        assert_eq!(format!("{fanout:?}"), "Fanout { listeners: 4 }");
    }
}
