//! The handle a hot path checks: one atomic load.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag's shared cell: its name, its default and its value now.
pub(super) struct Cell {
    pub(super) name: Box<str>,
    pub(super) default: bool,
    pub(super) enabled: AtomicBool,
}

impl Cell {
    pub(super) fn new(name: &str, default: bool, enabled: bool) -> Self {
        Cell {
            name: name.into(),
            default,
            enabled: AtomicBool::new(enabled),
        }
    }

    /// Stores `enabled`; true when that changed the value.
    pub(super) fn store(&self, enabled: bool) -> bool {
        self.enabled.swap(enabled, Ordering::Relaxed) != enabled
    }
}

/// A handle on one flag, for code that checks it on every request.
///
/// Cloning is cheap (one reference count) and every clone sees every flip made through
/// the [`Flags`](super::Flags) registry, from any thread or task.
/// [`is_enabled`](Self::is_enabled) is a single relaxed atomic load: a flag publishes no
/// other data, so it needs no stronger ordering, and a flip is seen by the next load on
/// every thread as soon as the store reaches it (in practice at once).
///
/// ```
/// use rampart::flags::Flags;
///
/// let flags = Flags::new();
/// let reviews = flags.define("reviews", true)?;
/// assert!(reviews.is_enabled());
/// flags.set("reviews", false)?;
/// assert!(!reviews.is_enabled());
/// # Ok::<(), rampart::flags::FlagError>(())
/// ```
#[derive(Clone)]
pub struct Flag {
    pub(super) cell: Arc<Cell>,
}

impl Flag {
    /// Whether the flag is on now (one relaxed atomic load).
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.cell.enabled.load(Ordering::Relaxed)
    }

    /// The flag's name.
    pub fn name(&self) -> &str {
        &self.cell.name
    }

    /// The value it had when defined, unless the store held another.
    pub fn default_value(&self) -> bool {
        self.cell.default
    }
}

impl fmt::Debug for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flag")
            .field("name", &self.name())
            .field("enabled", &self.is_enabled())
            .field("default", &self.default_value())
            .finish()
    }
}
