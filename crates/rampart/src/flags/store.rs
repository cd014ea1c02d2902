//! Where flag values live: a trait, and the in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// The backing store of a [`Flags`](super::Flags) registry.
///
/// The registry keeps each flag's value in an atomic that handles read, and goes to the
/// store only when a flag is defined (to pick up a value set elsewhere), set, or
/// [refreshed](super::Flags::refresh). Both methods are synchronous, so a networked store
/// (Redis, later) answers from a local cache it keeps up to date and writes through.
///
/// A store is shared by threads and must not block for long: `set` runs on the caller's
/// thread.
pub trait FlagStore: Send + Sync + 'static {
    /// The stored value of `name`, or `None` when the store has none (the flag then has
    /// its default).
    fn get(&self, name: &str) -> Option<bool>;

    /// Stores `enabled` for `name`.
    ///
    /// # Errors
    ///
    /// A message saying why the value could not be stored; the flag then keeps its old
    /// value.
    fn set(&self, name: &str, enabled: bool) -> Result<(), String>;
}

/// A store that keeps values in this process only: the default.
///
/// ```
/// use rampart::flags::{FlagStore, InMemoryFlagStore};
///
/// let store = InMemoryFlagStore::new();
/// assert_eq!(store.get("reviews"), None);
/// store.set("reviews", false).unwrap();
/// assert_eq!(store.get("reviews"), Some(false));
/// ```
#[derive(Default)]
pub struct InMemoryFlagStore {
    values: Mutex<HashMap<String, bool>>,
}

impl InMemoryFlagStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn values(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl FlagStore for InMemoryFlagStore {
    fn get(&self, name: &str) -> Option<bool> {
        self.values().get(name).copied()
    }

    fn set(&self, name: &str, enabled: bool) -> Result<(), String> {
        self.values().insert(name.to_owned(), enabled);
        Ok(())
    }
}

impl fmt::Debug for InMemoryFlagStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryFlagStore")
            .field("values", &*self.values())
            .finish()
    }
}
