//! Named runtime switches with defaults, flipped while the service runs: the kill switch
//! that turns a non-critical feature off during an incident.
//!
//! The seeds turn personalised recommendations and user reviews off when their backends
//! struggle, without a deployment. A [`Flags`] registry [defines](Flags::define) each
//! flag with a default, hands out [`Flag`] handles that request paths check with one
//! atomic load, and [flips](Flags::set) them at run time; every handle sees a flip at
//! once. Values live in a [`FlagStore`]: [`InMemoryFlagStore`] by default, a shared
//! store (Redis, later) behind the same trait. Each flip is reported to an optional
//! [`Listener`] as [`EventKind::FlagChanged`], and
//! [`Flags::snapshot`] lists every flag as JSON for the health report.
//!
//! Unknown names are a [`FlagError`], never a panic. Names are 1 to [`MAX_NAME_LEN`]
//! ASCII letters, digits, `_`, `-`, `.` or `:` (safe as store keys and metric labels).
//!
//! ```
//! use rampart::flags::Flags;
//!
//! let flags = Flags::new();
//! let recommendations = flags.define("recommendations", true)?;
//! flags.define("reviews", true)?;
//!
//! // On the request path: one atomic load.
//! let mut page = vec!["product"];
//! if recommendations.is_enabled() {
//!     page.push("recommendations");
//! }
//! assert_eq!(page, ["product", "recommendations"]);
//!
//! // During the incident: the kill switch.
//! flags.disable("recommendations")?;
//! assert!(!recommendations.is_enabled());
//! assert_eq!(flags.is_enabled("reviews"), Ok(true));
//! assert!(flags.set("no_such_flag", true).is_err());
//! # Ok::<(), rampart::flags::FlagError>(())
//! ```
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | store | [`InMemoryFlagStore`] (this process only) |
//! | a flag's value | the default given to [`define`](Flags::define), unless the store holds one |
//! | listener | none (no event is built) |
//! | the events' `pipeline` field | `"flags"` |

mod error;
mod flag;
mod snapshot;
mod store;

pub use self::error::FlagError;
pub use self::flag::Flag;
pub use self::snapshot::{FlagState, FlagsSnapshot};
pub use self::store::{FlagStore, InMemoryFlagStore};

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use self::flag::Cell;
use crate::event::{Event, EventKind, Listener};

/// The longest flag name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// The `pipeline` field of the events a flag registry reports.
pub const EVENT_SOURCE: &str = "flags";

/// A registry of named flags over a [`FlagStore`].
///
/// Cloning is cheap and clones share the flags. See the [module docs](self) for an
/// example.
#[derive(Clone)]
pub struct Flags {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn FlagStore>,
    flags: RwLock<BTreeMap<Box<str>, Arc<Cell>>>,
    /// Serialises writes, so that the store and the cells agree on the last value.
    writes: Mutex<()>,
    listener: OnceLock<Arc<dyn Listener>>,
}

impl Flags {
    /// An empty registry over an [`InMemoryFlagStore`].
    pub fn new() -> Self {
        Self::with_store(Arc::new(InMemoryFlagStore::new()))
    }

    /// An empty registry over `store`.
    pub fn with_store(store: Arc<dyn FlagStore>) -> Self {
        Flags {
            inner: Arc::new(Inner {
                store,
                flags: RwLock::new(BTreeMap::new()),
                writes: Mutex::new(()),
                listener: OnceLock::new(),
            }),
        }
    }

    /// Reports every flip to `listener` as
    /// [`EventKind::FlagChanged`].
    ///
    /// Call it right after construction; a registry keeps the first listener it is
    /// given. The listener runs on the thread that flipped the flag, after the flip.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        let _ = self.inner.listener.set(listener);
        self
    }

    /// Defines the flag `name` with `default` and returns its handle.
    ///
    /// The flag starts with the store's value for `name` when it has one (set by another
    /// process, or before a restart), else with `default`. Defining a name again returns
    /// the existing flag unchanged (its first default stands).
    ///
    /// # Errors
    ///
    /// [`FlagError::InvalidName`] when `name` is not a valid flag name.
    pub fn define(&self, name: &str, default: bool) -> Result<Flag, FlagError> {
        validate_name(name)?;
        if let Some(flag) = self.lookup(name) {
            return Ok(flag);
        }
        let mut flags = self
            .inner
            .flags
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let cell = flags.entry(name.into()).or_insert_with(|| {
            let enabled = self.inner.store.get(name).unwrap_or(default);
            Arc::new(Cell::new(name, default, enabled))
        });
        Ok(Flag {
            cell: Arc::clone(cell),
        })
    }

    /// The handle of the flag `name`.
    ///
    /// # Errors
    ///
    /// [`FlagError::Unknown`] when no such flag was defined.
    pub fn flag(&self, name: &str) -> Result<Flag, FlagError> {
        self.lookup(name).ok_or_else(|| unknown(name))
    }

    /// Whether the flag `name` is on now. Looks the name up under a read lock: a hot
    /// path keeps a [`Flag`] instead.
    ///
    /// # Errors
    ///
    /// [`FlagError::Unknown`] when no such flag was defined.
    pub fn is_enabled(&self, name: &str) -> Result<bool, FlagError> {
        self.flag(name).map(|f| f.is_enabled())
    }

    /// Turns the flag `name` on or off, in the store and for every handle; returns true
    /// when that changed its value (and then reports a
    /// [`FlagChanged`](crate::event::EventKind::FlagChanged) event).
    ///
    /// # Errors
    ///
    /// [`FlagError::Unknown`] when no such flag was defined; [`FlagError::Store`] when
    /// the store refused the value (the flag then keeps its old value).
    pub fn set(&self, name: &str, enabled: bool) -> Result<bool, FlagError> {
        let flag = self.flag(name)?;
        let changed = {
            let _writes = self.lock_writes();
            self.inner
                .store
                .set(name, enabled)
                .map_err(|message| FlagError::Store {
                    name: name.to_owned(),
                    message,
                })?;
            flag.cell.store(enabled)
        };
        if changed {
            self.emit(name, enabled);
        }
        Ok(changed)
    }

    /// Turns the flag `name` on; see [`set`](Self::set).
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set).
    pub fn enable(&self, name: &str) -> Result<bool, FlagError> {
        self.set(name, true)
    }

    /// Turns the flag `name` off (the kill switch); see [`set`](Self::set).
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set).
    pub fn disable(&self, name: &str) -> Result<bool, FlagError> {
        self.set(name, false)
    }

    /// Reads every defined flag from the store again and applies the values that
    /// changed there (set by another process through a shared store); returns how many
    /// changed. Flags the store has no value for keep theirs. For a periodic task.
    pub fn refresh(&self) -> usize {
        let cells: Vec<Arc<Cell>> = self.read_flags().values().cloned().collect();
        let changed: Vec<(Arc<Cell>, bool)> = {
            let _writes = self.lock_writes();
            cells
                .into_iter()
                .filter_map(|cell| {
                    let value = self.inner.store.get(&cell.name)?;
                    cell.store(value).then_some((cell, value))
                })
                .collect()
        };
        for (cell, value) in &changed {
            self.emit(&cell.name, *value);
        }
        changed.len()
    }

    /// The names of every defined flag, in order.
    pub fn names(&self) -> Vec<String> {
        self.read_flags().keys().map(|k| k.to_string()).collect()
    }

    /// Every flag with its value and default, in name order, for the health report.
    pub fn snapshot(&self) -> FlagsSnapshot {
        FlagsSnapshot {
            flags: self
                .read_flags()
                .values()
                .map(|cell| FlagState {
                    name: cell.name.to_string(),
                    enabled: cell.enabled.load(std::sync::atomic::Ordering::Relaxed),
                    default: cell.default,
                })
                .collect(),
        }
    }

    fn lookup(&self, name: &str) -> Option<Flag> {
        self.read_flags().get(name).map(|cell| Flag {
            cell: Arc::clone(cell),
        })
    }

    fn read_flags(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Box<str>, Arc<Cell>>> {
        self.inner
            .flags
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, flag: &str, enabled: bool) {
        if let Some(listener) = self.inner.listener.get() {
            listener.on_event(&Event {
                pipeline: EVENT_SOURCE,
                kind: EventKind::FlagChanged { flag, enabled },
            });
        }
    }
}

impl Default for Flags {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flags")
            .field("flags", &self.snapshot().flags)
            .finish_non_exhaustive()
    }
}

fn unknown(name: &str) -> FlagError {
    FlagError::Unknown {
        name: name.to_owned(),
    }
}

fn validate_name(name: &str) -> Result<(), FlagError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(FlagError::InvalidName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("recommendations").is_ok());
        assert!(validate_name("chaos.payment:latency-2").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name("ünïcode").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_LEN)).is_ok());
        assert!(validate_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
